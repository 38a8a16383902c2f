package synctest_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/synctest"
)

// envChild selects a child-process mode of the test binary (see children).
const envChild = "FERRY_SYNCTEST_CHILD"

// children are the helper modes of the test binary: a test re-executes
// itself with envChild set to run one of these in a process it can kill.
var children = map[string]func() error{
	"pull":      func() error { return synctest.PullChild(context.Background()) },
	"catchup":   childCatchUp,
	"rawfanout": childRawFanout,
}

// waitTimeout bounds every wait: a failure bound, not a timing assertion.
const waitTimeout = 60 * time.Second

// testSecret signs every token of these tests; syncd gets it as
// FERRY_SECRET.
var testSecret = []byte("e2e-secret-0123456789abcdef012345")

// bins builds syncd once per test binary run.
var bins = testutil.Binaries{Packages: []string{synctest.SyncdPackage}}

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		run, ok := children[mode]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
			os.Exit(2)
		}
		if err := run(); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	code := m.Run()
	bins.Remove()
	os.Exit(code)
}

// syncdBinary returns the built syncd.
func syncdBinary(t testing.TB) string { return bins.Path(t, "syncd") }

// startSyncd starts syncd with FERRY_SECRET set to testSecret, plus args
// and env; it is killed when the test ends.
func startSyncd(t testing.TB, env []string, args ...string) *synctest.Syncd {
	t.Helper()
	return synctest.StartSyncd(t, syncdBinary(t), testSecret, env, args...)
}

// restart starts p again after a kill or stop, on the same address.
func restart(t testing.TB, p *synctest.Syncd) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, p.Start(ctx), p.Stderr())
}

// token issues a token for tenant and subject, limited to streams.
func token(t testing.TB, tenant, subject string, streams ...string) string {
	t.Helper()
	return synctest.Token(t, testSecret, tenant, subject, streams...)
}

// syncdBackends are syncd's storage configurations.
func syncdBackends() []synctest.Backend { return synctest.Backends() }
