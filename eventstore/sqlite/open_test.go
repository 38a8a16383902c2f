package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// open opens a store at path and closes it at the end of the test.
func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawExec runs statements on path with a plain connection.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for _, q := range stmts {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
}

// pragma reads an integer PRAGMA inside a store transaction.
func pragma(t *testing.T, s *Store, name string) string {
	t.Helper()
	var v string
	err := s.Update(context.Background(), func(tx eventstore.Tx) error {
		return tx.(eventstore.SQLTx).SQL().QueryRow("PRAGMA " + name).Scan(&v)
	})
	require.NoError(t, err)
	return v
}

func appendN(t *testing.T, s *Store, stream string, n int) []eventstore.Event {
	t.Helper()
	evs := make([]eventstore.Event, n)
	for i := range evs {
		evs[i] = eventstore.Event{Type: "thing:happened", Data: []byte(`{"n":1}`)}
	}
	out, err := s.Append(context.Background(), eventstore.Write{Stream: stream, Events: evs})
	require.NoError(t, err)
	return out
}

func TestOpenSetsPragmas(t *testing.T) {
	for _, tc := range []struct{ opt, want string }{{"", "1"}, {"NORMAL", "1"}, {"normal", "1"}, {"FULL", "2"}} {
		t.Run("sync="+tc.opt, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{Synchronous: tc.opt})
			assert.Equal(t, "wal", pragma(t, s, "journal_mode"))
			assert.Equal(t, tc.want, pragma(t, s, "synchronous"))
			assert.Equal(t, "5000", pragma(t, s, "busy_timeout"))
			assert.Equal(t, strconv.Itoa(SchemaVersion()), pragma(t, s, "user_version"))
			assert.Equal(t, strconv.Itoa(ApplicationID), pragma(t, s, "application_id"))
		})
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, sync := range []string{"OFF", "EXTRA", "fast"} {
		_, err := Open(context.Background(), filepath.Join(dir, "f.db"), Options{Synchronous: sync})
		assert.Error(t, err, sync)
	}
	_, err := Open(context.Background(), "", Options{})
	assert.Error(t, err)
	_, err = Open(context.Background(), ":memory:", Options{})
	assert.Error(t, err)
	_, err = Open(context.Background(), dir, Options{}) // a directory
	assert.Error(t, err)
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	random := make([]byte, 16<<10)
	_, _ = rand.Read(random)
	header := append([]byte("SQLite format 3\x00"), random[:4080]...)

	cases := []struct {
		name         string
		prepare      func(t *testing.T, path string)
		incompatible bool // the error must be ErrIncompatibleSchema
	}{
		{"random bytes", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, random, 0o600)) }, false},
		{"sqlite header then garbage", func(t *testing.T, p string) { require.NoError(t, os.WriteFile(p, header, 0o600)) }, false},
		{"text file", func(t *testing.T, p string) {
			require.NoError(t, os.WriteFile(p, []byte("hello, I am not a database\n"), 0o600))
		}, false},
		{"other application's tables", func(t *testing.T, p string) {
			rawExec(t, p, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
		}, true},
		{"other application_id", func(t *testing.T, p string) { rawExec(t, p, "PRAGMA application_id = 1234") }, true},
		{"newer schema", func(t *testing.T, p string) {
			s, err := Open(context.Background(), p, Options{})
			require.NoError(t, err)
			require.NoError(t, s.Close())
			rawExec(t, p, "PRAGMA user_version = 99")
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.db")
			tc.prepare(t, path)
			s, err := Open(context.Background(), path, Options{})
			if s != nil {
				_ = s.Close()
			}
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Equal(t, tc.incompatible, errors.Is(err, eventstore.ErrIncompatibleSchema), err)
			t.Log(err)
		})
	}
}

func TestOpenNewerSchemaMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(context.Background(), path, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	rawExec(t, path, "PRAGMA user_version = 7")
	_, err = Open(context.Background(), path, Options{})
	require.ErrorIs(t, err, eventstore.ErrIncompatibleSchema)
	assert.Contains(t, err.Error(), "schema version 7 was written by a newer Ferry")
}

func TestOpenTruncatedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(context.Background(), path, Options{})
	require.NoError(t, err)
	for range 20 {
		appendN(t, s, "big", 100)
	}
	require.NoError(t, s.Close())
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Greater(t, info.Size(), int64(64<<10), "the WAL must be checkpointed into the file on close")

	for _, size := range []int64{info.Size() / 2, 4096, 50} {
		require.NoError(t, os.Truncate(path, size))
		s, err := Open(context.Background(), path, Options{})
		if s != nil {
			_ = s.Close()
		}
		require.Error(t, err, "truncated to %d bytes", size)
		t.Log(err)
	}
}

func TestOpenOddFileName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dir with space")
	require.NoError(t, os.Mkdir(dir, 0o700))
	path := filepath.Join(dir, "a?b#c%20d&_pragma=x.db")
	s := open(t, path, Options{})
	appendN(t, s, "a", 1)
	_, err := os.Stat(path)
	require.NoError(t, err, "the file is created under its exact name")
}

func TestOpenEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	s := open(t, path, Options{})
	appendN(t, s, "a", 1)
}

func TestOpenUpgradesOlderSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(context.Background(), path, Options{})
	require.NoError(t, err)
	appendN(t, s, "a", 3)
	require.NoError(t, s.Close())

	old := migrations
	t.Cleanup(func() { migrations = old })
	migrations = append(append([]string(nil), old...),
		"CREATE TABLE upgraded (x INTEGER); INSERT INTO upgraded VALUES (42);")

	s = open(t, path, Options{})
	assert.Equal(t, strconv.Itoa(len(old)+1), pragma(t, s, "user_version"))
	assert.Equal(t, len(old)+1, SchemaVersion())
	var x int
	require.NoError(t, s.Update(context.Background(), func(tx eventstore.Tx) error {
		return tx.(*Tx).SQL().QueryRow("SELECT x FROM upgraded").Scan(&x)
	}))
	assert.Equal(t, 42, x)
	v, err := s.StreamVersion(context.Background(), "a")
	require.NoError(t, err)
	assert.Equal(t, int64(3), v, "data survives the upgrade")
}

func TestOpenFailedMigrationChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(context.Background(), path, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	old := migrations
	t.Cleanup(func() { migrations = old })
	migrations = append(append([]string(nil), old...), "CREATE TABLE half (x); THIS IS NOT SQL;")
	_, err = Open(context.Background(), path, Options{})
	require.Error(t, err)

	migrations = old
	s = open(t, path, Options{})
	assert.Equal(t, strconv.Itoa(SchemaVersion()), pragma(t, s, "user_version"))
}

// TestOpenUpgradesVersion1 builds a file as the first schema version left
// it (no rejected column, the old outbox index and trigger) and opens it:
// the events survive, read as not rejected, and can be rejected.
func TestOpenUpgradesVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	rawExec(t, path,
		"PRAGMA application_id = "+strconv.Itoa(ApplicationID),
		migrations[0],
		"PRAGMA user_version = 1",
		`INSERT INTO meta (key, value) VALUES ('origin', 'old-node')`,
		`INSERT INTO events (id, stream, type, schema, data, meta, created, origin, hub_position, hydrated, outdated) VALUES
			('01J00000000000000000000001', 's', 't', 1, '{}', '{}', 10, 'old-node', 0, 0, 0),
			('01J00000000000000000000002', 's', 't', 1, '{}', '{}', 20, 'old-node', 0, 0, 0)`,
		`INSERT INTO stream_types (stream, type, count, created, id) VALUES ('s', 't', 2, 20, '01J00000000000000000000002')`,
	)
	s := open(t, path, Options{})
	assert.Equal(t, strconv.Itoa(SchemaVersion()), pragma(t, s, "user_version"))
	assert.Equal(t, "old-node", s.Origin())
	var got []eventstore.Event
	for e, err := range s.ReadStream(ctx, "s", eventstore.ReadOptions{}) {
		require.NoError(t, err)
		got = append(got, e)
	}
	require.Len(t, got, 2)
	assert.False(t, got[0].Rejected)
	assert.False(t, got[1].Rejected)

	require.NoError(t, s.Reject(ctx, got[1].ID))
	v, err := s.StreamVersion(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	st, err := s.Status(ctx, got[0])
	require.NoError(t, err)
	assert.Equal(t, eventstore.EventStatus{Exists: true}, st, "the rejected event no longer outdates the first")
	var pending []string
	for e, err := range s.ReadPending(ctx, 0, 0) {
		require.NoError(t, err)
		pending = append(pending, e.ID)
	}
	assert.Equal(t, []string{got[0].ID}, pending)
	var all []eventstore.Event
	for e, err := range s.ReadAll(ctx, 0, 0) {
		require.NoError(t, err)
		all = append(all, e)
	}
	require.Len(t, all, 2)
	assert.True(t, all[1].Rejected)
}

// TestOpenUpgradesVersion2 opens a file as the second schema version left
// it, with its wider stream index: the index is rebuilt narrower and the
// stream still reads in (created, id) order, ties included.
func TestOpenUpgradesVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	rawExec(t, path,
		"PRAGMA application_id = "+strconv.Itoa(ApplicationID),
		migrations[0], migrations[1],
		"PRAGMA user_version = 2",
		`INSERT INTO meta (key, value) VALUES ('origin', 'old-node')`,
		`INSERT INTO events (id, stream, type, schema, data, meta, created, origin, hub_position, hydrated, outdated) VALUES
			('01J00000000000000000000003', 's', 't', 1, '{}', '{}', 20, 'old-node', 0, 0, 0),
			('01J00000000000000000000001', 's', 't', 1, '{}', '{}', 30, 'old-node', 0, 0, 0),
			('01J00000000000000000000002', 's', 't', 1, '{}', '{}', 20, 'old-node', 0, 0, 0)`,
		`INSERT INTO stream_types (stream, type, count, created, id) VALUES ('s', 't', 3, 30, '01J00000000000000000000001')`,
	)
	s := open(t, path, Options{})
	assert.Equal(t, strconv.Itoa(SchemaVersion()), pragma(t, s, "user_version"))
	var cols string
	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		return tx.(eventstore.SQLTx).SQL().QueryRowContext(ctx,
			"SELECT group_concat(name, ',' ORDER BY seqno) FROM pragma_index_info('events_stream')").Scan(&cols)
	}))
	assert.Equal(t, "stream,created", cols)
	var got []string
	for e, err := range s.ReadStream(ctx, "s", eventstore.ReadOptions{}) {
		require.NoError(t, err)
		got = append(got, e.ID)
	}
	assert.Equal(t, []string{"01J00000000000000000000002", "01J00000000000000000000003", "01J00000000000000000000001"}, got)
}

func TestOriginIsGeneratedAndPersisted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(context.Background(), path, Options{})
	require.NoError(t, err)
	origin := s.Origin()
	assert.True(t, eventstore.ValidID(origin), origin)
	evs := appendN(t, s, "a", 1)
	assert.Equal(t, origin, evs[0].Origin)
	require.NoError(t, s.Close())

	s2, err := Open(context.Background(), path, Options{})
	require.NoError(t, err)
	assert.Equal(t, origin, s2.Origin())
	require.NoError(t, s2.Close())

	// The file belongs to its origin: another one is refused, nothing is
	// stamped with it, and the stored one still opens.
	_, err = Open(context.Background(), path, Options{Config: eventstore.Config{Origin: "device-7"}})
	var oe *eventstore.OriginError
	require.ErrorAs(t, err, &oe)
	assert.ErrorIs(t, err, eventstore.ErrOriginChanged)
	assert.Equal(t, eventstore.OriginError{Stored: origin, Configured: "device-7"}, *oe)
	s3 := open(t, path, Options{Config: eventstore.Config{Origin: origin}})
	assert.Equal(t, origin, appendN(t, s3, "a", 1)[0].Origin)

	other := open(t, filepath.Join(t.TempDir(), "g.db"), Options{})
	assert.NotEqual(t, origin, other.Origin())
}

func TestConfiguredOriginIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(context.Background(), path, Options{Config: eventstore.Config{Origin: "device-7"}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s2 := open(t, path, Options{}) // none: the stored one
	assert.Equal(t, "device-7", s2.Origin())
	assert.Equal(t, "device-7", appendN(t, s2, "a", 1)[0].Origin)
	require.NoError(t, s2.Close())
	_, err = Open(context.Background(), path, Options{Config: eventstore.Config{Origin: "device-8"}})
	assert.ErrorIs(t, err, eventstore.ErrOriginChanged)
}

// TestOriginOfOlderFile: a file from before the origin was recorded
// belongs to the origin of its latest local event.
func TestOriginOfOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s := open(t, path, Options{Config: eventstore.Config{Origin: "phone"}})
	appendN(t, s, "a", 2)
	require.NoError(t, s.Close())
	rawExec(t, path, `DELETE FROM meta WHERE key = 'device'`)

	_, err := Open(context.Background(), path, Options{Config: eventstore.Config{Origin: "laptop"}})
	assert.ErrorIs(t, err, eventstore.ErrOriginChanged)
	s2 := open(t, path, Options{})
	assert.Equal(t, "phone", s2.Origin())
}

func TestClosedStore(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	ctx := context.Background()

	_, err = s.Append(ctx, eventstore.Write{Stream: "a", Events: []eventstore.Event{{Type: "t"}}})
	assert.ErrorIs(t, err, eventstore.ErrClosed)
	_, err = s.Head(ctx)
	assert.ErrorIs(t, err, eventstore.ErrClosed)
	_, err = s.Wait(ctx, 0)
	assert.ErrorIs(t, err, eventstore.ErrClosed)
	assert.ErrorIs(t, s.SetState(ctx, "k", nil), eventstore.ErrClosed)
	for _, err := range s.ReadAll(ctx, 0, 0) {
		assert.ErrorIs(t, err, eventstore.ErrClosed)
	}
	_, err = s.ListStreams(ctx, eventstore.ListOptions{})
	assert.ErrorIs(t, err, eventstore.ErrClosed)
}

// TestOpenResumesClock: a device that pulled an event stamped ahead of its
// own wall clock and then restarted must still stamp its next local event
// after it. Before Open resumed the clock from the file, the new process's
// clock started from wall time, the new event sorted first in the stream
// and was Outdated on arrival (its Once and On handlers never ran).
func TestOpenResumesClock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	ahead := eventstore.TimestampOf(time.Now().Add(3 * time.Minute))

	s, err := Open(ctx, path, Options{Config: eventstore.Config{Origin: "dev-a"}})
	require.NoError(t, err)
	_, err = s.Insert(ctx, eventstore.Event{ID: eventstore.NewID(), Stream: "todo/1", Type: "todo:renamed",
		Data: []byte(`{}`), Created: ahead, Origin: "dev-b", HubPosition: 1})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s = open(t, path, Options{Config: eventstore.Config{Origin: "dev-a", Clock: eventstore.NewClock()}})
	assert.GreaterOrEqual(t, s.Clock().Last(), ahead, "the reopened store's clock is past what it holds")
	out, err := s.Append(ctx, eventstore.Write{Stream: "todo/1", Events: []eventstore.Event{{Type: "todo:renamed", Data: []byte(`{}`)}}})
	require.NoError(t, err)
	assert.Greater(t, out[0].Created, ahead, "a local event written after the restart sorts after the held one")
	assert.False(t, out[0].Outdated, "the new local event is the stream's latest of its type")
}
