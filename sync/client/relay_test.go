package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/hub"
)

// hubFile keeps a tenant's hub ledger in an SQLite file, so that a test
// can back it up and restore it as an operator would: stop the hub, copy
// the file.
type hubFile struct {
	t    *testing.T
	h    *testHub
	path string
}

func newHubFile(t *testing.T, h *testHub, tenant string) *hubFile {
	f := &hubFile{t: t, h: h, path: filepath.Join(t.TempDir(), "hub.db")}
	f.open(tenant)
	return f
}

func (f *hubFile) open(tenant string) {
	s, err := sqlite.Open(context.Background(), f.path, sqlite.Options{Config: eventstore.Config{Origin: "hub"}})
	require.NoError(f.t, err)
	f.h.mu.Lock()
	f.h.stores[tenant] = s
	f.h.mu.Unlock()
}

// offline stops the hub and closes the tenant's file; fn runs on it; then
// the file is opened again and the hub restarts.
func (f *hubFile) offline(tenant string, fn func()) {
	f.h.stop()
	require.NoError(f.t, f.h.tenant(tenant).Close())
	fn()
	f.open(tenant)
	f.h.restart()
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
	for _, suffix := range []string{"-wal", "-shm"} { // closed cleanly: none left, but be sure
		require.NoError(t, os.RemoveAll(to+suffix))
	}
}

func generation(t *testing.T, s eventstore.Store) string {
	g, ok := s.(interface {
		Generation(context.Context) (string, error)
	})
	require.True(t, ok, "%T keeps a generation", s)
	gen, err := g.Generation(context.Background())
	require.NoError(t, err)
	return gen
}

// TestRelayAfterRestore: the hub's ledger is restored from a backup that
// lacks events only another device still holds (their author is gone). That
// device repairs, relays them, and a new device receives them: no event
// that exists on some device is lost.
func TestRelayAfterRestore(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			hf := newHubFile(t, h, "t1")
			a, b := be.open(t, "a"), be.open(t, "b")
			ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1")
			writeSpread(t, a, "a", 20)
			syncOnce(t, ra)
			gen := generation(t, h.tenant("t1"))
			backup := filepath.Join(t.TempDir(), "backup.db")
			hf.offline("t1", func() { copyFile(t, hf.path, backup) })

			writeSpread(t, a, "a", 30) // hub positions 21..50: not in the backup
			syncOnce(t, ra)
			writeSpread(t, b, "b", 5) // 51..55: b's own, not in the backup either
			syncOnce(t, rb)
			require.Len(t, ledgerOf(t, b), 55)
			// a is lost with its phone; the hub is restored.
			hf.offline("t1", func() { copyFile(t, backup, hf.path) })
			assert.Equal(t, gen, generation(t, h.tenant("t1")), "a backup keeps its generation")

			st := syncOnce(t, rb)
			require.NotNil(t, st.Repair, "b must notice the hub lost events")
			assert.Empty(t, st.Repair.Generation, "same ledger, restored")
			assert.Equal(t, 35, st.Repair.Unacknowledged)
			assert.Equal(t, 30, st.Relayed, "a's events, which only b still holds")
			assert.Equal(t, 5, st.Pushed, "b's own, pushed again")
			status, err := rb.Status(ctx)
			require.NoError(t, err)
			assert.False(t, status.RelayDue)
			assert.False(t, status.RepairDue)
			assert.Zero(t, status.Pending)
			assert.Equal(t, gen, status.Generation)

			hubStore := h.tenant("t1")
			require.Len(t, ledgerOf(t, hubStore), 55, "every event some device held is back at the hub")
			c := be.open(t, "c")
			syncOnce(t, replicator(t, h, c, "t1"))
			for _, s := range []eventstore.Store{b, c} {
				requireSameAsHub(t, hubStore, s)
			}
			assert.Nil(t, syncOnce(t, rb).Repair, "nothing more to repair")
		})
	}
}

// TestRelayToReplacedLedger: the hub's ledger is replaced by a new one (a
// new database) that others fill past b's cursor before b connects. The
// head is not below b's cursor, but the generation differs: b repairs at
// once, keeps nothing at the old ledger's positions, and relays what it
// holds.
func TestRelayToReplacedLedger(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHub(t)
			a, b, c := be.open(t, "a"), be.open(t, "b"), be.open(t, "c")
			ra, rb, rc := replicator(t, h, a, "t1"), replicator(t, h, b, "t1"), replicator(t, h, c, "t1")
			writeSpread(t, a, "a", 40)
			syncOnce(t, ra)
			syncOnce(t, rb)
			old := generation(t, h.tenant("t1"))

			fresh := memory.New(eventstore.Config{Origin: "hub"})
			h.mu.Lock()
			prev := h.stores["t1"]
			h.stores["t1"] = fresh
			h.mu.Unlock()
			h.restart()
			require.NoError(t, prev.Close())
			writeSpread(t, c, "c", 60) // positions 1..60 of the new ledger
			syncOnce(t, rc)

			st := syncOnce(t, rb)
			require.NotNil(t, st.Repair, "b must notice the ledger was replaced")
			assert.Equal(t, generation(t, fresh), st.Repair.Generation)
			assert.NotEqual(t, old, st.Repair.Generation)
			assert.Equal(t, 40, st.Relayed)
			syncOnce(t, rc)
			require.Len(t, ledgerOf(t, fresh), 100)
			for _, s := range []eventstore.Store{b, c} {
				requireSameAsHub(t, fresh, s)
			}
			status, err := rb.Status(ctx)
			require.NoError(t, err)
			assert.Equal(t, generation(t, fresh), status.Generation)
			assert.False(t, status.RelayDue)
		})
	}
}

// TestRelayLeavesOutOfScope: a device relays only within its token's
// scope; events it holds outside it (pulled under a wider token) stay with
// it and the hub refuses nothing.
func TestRelayLeavesOutOfScope(t *testing.T) {
	h := newTestHub(t)
	hf := newHubFile(t, h, "t1")
	a := openSQLite(t, filepath.Join(t.TempDir(), "a.db"), "a")
	b := openSQLite(t, filepath.Join(t.TempDir(), "b.db"), "b")
	backup := filepath.Join(t.TempDir(), "backup.db")
	hf.offline("t1", func() { copyFile(t, hf.path, backup) }) // empty
	writeSpread(t, a, "team-a", 10)
	writeSpread(t, a, "team-b", 10)
	syncOnce(t, replicator(t, h, a, "t1"))
	syncOnce(t, replicator(t, h, b, "t1"))
	hf.offline("t1", func() { copyFile(t, backup, hf.path) })

	rb := replicator(t, h, b, "t1", func(c *client.Config) { c.Token = token(t, "t1", "b", "team-a/") })
	st := syncOnce(t, rb)
	require.NotNil(t, st.Repair)
	assert.Equal(t, 10, st.Relayed)
	assert.Empty(t, st.Rejections)
	hubEvents := ledgerOf(t, h.tenant("t1"))
	require.Len(t, hubEvents, 10)
	for _, e := range hubEvents {
		assert.Contains(t, e.Stream, "team-a/", "only the token's scope is relayed")
	}
}

// TestRelayAfterRepairCutShort: the repair that clears the hub
// positions of events the restored hub lost does so (reconcile) before it
// re-pulls its ranges, and records KeyRelay only at its very end, counting
// only what that run unacknowledged. When the run is cut short after the
// clear (here: its range read is refused), the next run finds those events
// already without hub positions, unacknowledges nothing, records no relay:
// other devices' events that only b holds are never pushed back.
func TestRelayAfterRepairCutShort(t *testing.T) {
	t.Run("control", func(t *testing.T) { relayCutShort(t, false) })
	t.Run("cut", func(t *testing.T) { relayCutShort(t, true) })
}

func relayCutShort(t *testing.T, cut bool) {
	var acquired, failAt atomic.Int64 // fail the failAt-th acquisition from now
	h := newTestHub(t, func(cfg *hub.Config) {
		inner := cfg.Ledgers
		cfg.Ledgers = hub.LedgerFunc(func(ctx context.Context, tenant string) (hub.Ledger, error) {
			if n := acquired.Add(1); n == failAt.Load() {
				return nil, errors.New("injected: store unavailable")
			}
			l, release, err := inner.Acquire(ctx, tenant)
			if release != nil {
				release()
			}
			return l, err
		})
	})
	hf := newHubFile(t, h, "t1")
	a := openSQLite(t, filepath.Join(t.TempDir(), "a.db"), "a")
	b := openSQLite(t, filepath.Join(t.TempDir(), "b.db"), "b")
	ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1")
	writeSpread(t, a, "a", 20)
	syncOnce(t, ra)
	backup := filepath.Join(t.TempDir(), "backup.db")
	hf.offline("t1", func() { copyFile(t, hf.path, backup) })
	writeSpread(t, a, "a", 30) // not in the backup; a is then lost
	syncOnce(t, ra)
	syncOnce(t, rb)
	require.Len(t, ledgerOf(t, b), 50)
	hf.offline("t1", func() { copyFile(t, backup, hf.path) })

	// b's next sync: the session (1st acquisition) sees the hub behind;
	// the repair clears the 30 lost positions, then its range read (2nd)
	// is refused.
	var stats client.Stats
	if cut {
		failAt.Store(acquired.Load() + 2)
		_, err := rb.SyncOnce(context.Background())
		require.Error(t, err, "the repair is cut short")
		st, err := rb.Status(context.Background())
		require.NoError(t, err)
		require.True(t, st.RepairDue)
		stats = syncOnce(t, rb) // the repair runs again, then syncs
	} else {
		stats = syncOnce(t, rb)
	}
	assert.Len(t, ledgerOf(t, h.tenant("t1")), 50, "every event b holds is back at the hub (relay)")
	assert.Equal(t, 30, stats.Relayed)
}

// TestRelayDeferredStaysDue: relayed events the hub defers (its clock is
// behind their timestamps) keep the relay due, and a later sync, once the
// hub can take them, relays them.
func TestRelayDeferredStaysDue(t *testing.T) {
	ctx := context.Background()
	h := newTestHub(t)
	hf := newHubFile(t, h, "t1")
	a := openSQLite(t, filepath.Join(t.TempDir(), "a.db"), "a")
	b := openSQLite(t, filepath.Join(t.TempDir(), "b.db"), "b")
	ra, rb := replicator(t, h, a, "t1"), replicator(t, h, b, "t1")
	backup := filepath.Join(t.TempDir(), "backup.db")
	hf.offline("t1", func() { copyFile(t, hf.path, backup) }) // empty
	writeSpread(t, a, "a", 10)
	syncOnce(t, ra)
	syncOnce(t, rb)

	behind := func(c *hub.Config) { c.Now = func() time.Time { return time.Now().Add(-time.Hour) } }
	h.mod = append(h.mod, behind)
	hf.offline("t1", func() { copyFile(t, backup, hf.path) })
	st := syncOnce(t, rb)
	require.NotNil(t, st.Repair)
	assert.Zero(t, st.Relayed, "the hub defers them: an hour ahead of its clock")
	status, err := rb.Status(ctx)
	require.NoError(t, err)
	assert.True(t, status.RelayDue, "the relay stays due")

	h.mod = h.mod[:len(h.mod)-1]
	h.restart()
	st = syncOnce(t, rb)
	assert.Equal(t, 10, st.Relayed)
	status, err = rb.Status(ctx)
	require.NoError(t, err)
	assert.False(t, status.RelayDue)
	require.Len(t, ledgerOf(t, h.tenant("t1")), 10)
}
