package synctest

import "testing"

// Backend is a syncd storage configuration, for tests that run on each.
type Backend struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Args returns the flags that select the backend, with fresh storage
	// (a temporary data directory; a throwaway PostgreSQL schema, or a
	// skip when no server is configured). Call it once per test.
	Args func(t testing.TB) []string
}

// Backends returns syncd's two storage configurations: the embedded SQLite
// default and PostgreSQL.
func Backends() []Backend {
	return []Backend{
		{"sqlite", func(t testing.TB) []string { return []string{"--data-dir", t.TempDir()} }},
		{"postgres", func(t testing.TB) []string {
			schema := FreshSchema(t)
			return []string{"--data-dir", t.TempDir(), "--postgres", PostgresURL(t), "--postgres-schema", schema}
		}},
	}
}

// StartSyncd starts the syncd binary bin for the test t with FERRY_SECRET
// set to secret and logging at warn, plus args and env, and kills it when
// t ends.
func StartSyncd(t testing.TB, bin string, secret []byte, env []string, args ...string) *Syncd {
	t.Helper()
	p := &Syncd{Bin: bin, Args: append([]string{"--log-level", "warn"}, args...),
		Env: append([]string{"FERRY_SECRET=" + string(secret)}, env...)}
	p.Run(t)
	return p
}
