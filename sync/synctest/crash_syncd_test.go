package synctest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/synctest"
)

// crashPushEvents is the size of the push that syncd dies in (smaller
// under the race detector).
var crashPushEvents = map[bool]int{false: 20_000, true: 5_000}[raceEnabled]

// openClientStore opens a fresh SQLite client store named device.
func openClientStore(t testing.TB, device string) *sqlite.Store {
	t.Helper()
	return openClientStoreAt(t, filepath.Join(t.TempDir(), device+".db"), device)
}

func openClientStoreAt(t testing.TB, path, device string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Config: eventstore.Config{Origin: device}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// appendNotes appends n note events to s, spread over streams, in
// transactions of up to 1,000 events.
func appendNotes(t testing.TB, s eventstore.Store, prefix string, n, pad int) {
	t.Helper()
	for done := 0; done < n; {
		size := min(1000, n-done)
		var writes []eventstore.Write
		for i := range 10 {
			w := noteWrites(fmt.Sprintf("%s/%d", prefix, i), (size+9-i)/10, pad)
			writes = append(writes, w...)
		}
		_, err := s.Append(context.Background(), writes...)
		require.NoError(t, err)
		done += size
	}
}

// syncOnce runs SyncOnce and requires success.
func syncOnce(t testing.TB, r *client.Replicator) client.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*waitTimeout)
	defer cancel()
	start := time.Now()
	st, err := r.SyncOnce(ctx)
	require.NoError(t, err)
	t.Logf("sync %s: %+v in %s", r.Device(), st, time.Since(start).Round(time.Millisecond))
	return st
}

// replicator returns a replicator of s on url with tok.
func replicator(t testing.TB, s client.Store, url, tok string, mod ...func(*client.Config)) *client.Replicator {
	t.Helper()
	cfg := client.Config{URL: url, Token: tok, Backoff: client.Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond}}
	for _, m := range mod {
		m(&cfg)
	}
	r, err := client.New(s, cfg)
	require.NoError(t, err)
	return r
}

// syncd is killed with SIGKILL while a client pushes a large batch, after
// some acks arrived; restarted on the same data, it takes the rest of the
// push: the ledger holds every event once, gap-free, the client has every
// event acknowledged, and a second client pulls exactly the same ledger.
func TestSyncdKilledDuringPush(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes")
	}
	for _, b := range syncdBackends() {
		t.Run(b.Name, func(t *testing.T) {
			p := startSyncd(t, nil, b.Args(t)...)
			src := openClientStore(t, "pusher")
			appendNotes(t, src, "note", crashPushEvents, 50)
			tok := token(t, "acme", "pusher")

			var killedAt atomic.Int64
			r := replicator(t, src, p.URL(), tok, func(c *client.Config) {
				c.BatchSize = 100
				c.OnProgress = func(pr client.Progress) {
					if pr.Pushed >= int64(crashPushEvents/10) && killedAt.Load() == 0 {
						killedAt.Store(pr.Pushed)
						// Killing from the progress callback stops the
						// client's own progress until syncd is gone.
						assert.NoError(t, p.Kill())
					}
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*waitTimeout)
			defer cancel()
			_, err := r.SyncOnce(ctx)
			require.Error(t, err, "the push was cut short")
			require.NotZero(t, killedAt.Load(), "syncd was killed after some acks")
			assert.Less(t, killedAt.Load(), int64(crashPushEvents), "killed in the middle of the push")
			st, err := r.Status(ctx)
			require.NoError(t, err)
			t.Logf("killed after %d acks; %d events pending", killedAt.Load(), st.Pending)
			assert.Positive(t, st.Pending, "part of the push was not acknowledged")

			restart(t, p)
			r = replicator(t, src, p.URL(), tok, func(c *client.Config) { c.BatchSize = 100 })
			syncOnce(t, r)

			// The pushing client: every event acknowledged, with a hub
			// position, and the pull brought nothing new.
			// SyncOnce may return before the last pushes come back (they
			// commit after CaughtUp): sync once more to pull them.
			st2 := syncOnce(t, r)
			assert.Zero(t, st2.Pushed, "nothing left to push")
			assert.Zero(t, st2.Inserted, "own events come back as duplicates")
			local := ledger(t, src)
			require.Len(t, local, crashPushEvents)
			st, err = r.Status(ctx)
			require.NoError(t, err)
			assert.Zero(t, st.Pending)
			assert.Equal(t, int64(crashPushEvents), st.Cursor)

			// A second client pulls the whole ledger: hub positions 1..n,
			// each event once, exactly the pushed set.
			reader := openClientStore(t, "reader")
			rr := replicator(t, reader, p.URL(), token(t, "acme", "reader"))
			rctx, rcancel := context.WithTimeout(context.Background(), 5*waitTimeout)
			defer rcancel()
			rst, err := rr.SyncOnce(rctx)
			require.NoError(t, err, "syncd stderr:\n%s", p.Stderr())
			assert.Equal(t, crashPushEvents, rst.Inserted)
			pulled := ledger(t, reader)
			require.NoError(t, synctest.CheckHubOrder(pulled), "hub ledger gap-free, no duplicates")
			assert.Equal(t, sortedIDs(local), sortedIDs(pulled), "every pushed event, once")
			hubPos := make(map[string]int64, len(pulled))
			for _, e := range pulled {
				hubPos[e.ID] = e.HubPosition
			}
			for _, e := range local {
				require.Positive(t, e.HubPosition, "event %s acknowledged", e.ID)
				require.Equal(t, hubPos[e.ID], e.HubPosition, "event %s acked with its hub position", e.ID)
			}

			if b.Name == "sqlite" {
				checkHubFiles(t, p, crashPushEvents)
			}
		})
	}
}

// checkHubFiles stops syncd and reads its tenant ledger file directly: one
// file, positions 1..n, no ID twice.
func checkHubFiles(t *testing.T, p *synctest.Syncd, n int) {
	t.Helper()
	require.NoError(t, p.Stop(), p.Stderr())
	var dataDir string
	for i, a := range p.Args {
		if a == "--data-dir" {
			dataDir = p.Args[i+1]
		}
	}
	files, err := filepath.Glob(filepath.Join(dataDir, "tenants", "*.db"))
	require.NoError(t, err)
	require.Len(t, files, 1, "one tenant ledger")
	s, err := sqlite.Open(context.Background(), files[0], sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()
	events := ledger(t, s)
	require.Len(t, events, n)
	require.NoError(t, synctest.CheckLedger(events))
}
