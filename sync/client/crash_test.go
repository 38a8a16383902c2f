package client_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/synctest"
)

// envCrashChild makes the test binary a pull child (synctest.PullChild).
const envCrashChild = "FERRY_CLIENT_CRASH_CHILD"

// TestCrashChild is the child side of TestCrashDuringPull: it pulls into a
// SQLite file and prints its cursor after every applied batch. It is
// skipped unless run by that test.
func TestCrashChild(t *testing.T) {
	if os.Getenv(envCrashChild) != "1" {
		t.Skip("child process of TestCrashDuringPull")
	}
	if err := synctest.PullChild(context.Background()); err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// A client pulling a large backlog into SQLite is killed with SIGKILL at
// random points, several times; a final sync then leaves the store with
// exactly the hub's events, in hub order, with no duplicates and no gaps.
func TestCrashDuringPull(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	const backlog = 6000
	h := newTestHub(t, func(c *hub.Config) { c.Limits.MaxEventsPerBatch = 37 })
	hubStore := h.tenant("acme")
	for i := 0; i < backlog; i += 500 {
		writes := make([]eventstore.Write, 0, 500)
		for j := range 500 {
			writes = append(writes, eventstore.Write{Stream: fmt.Sprintf("s/%d", (i+j)%97), Events: []eventstore.Event{{
				Type: "note:added", Data: []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i+j, strings.Repeat("p", 100))),
			}}})
		}
		_, err := hubStore.Append(context.Background(), writes...)
		require.NoError(t, err)
	}
	db := filepath.Join(t.TempDir(), "client.db")
	tok := token(t, "acme", "crashy")

	cursor, kills := int64(0), 0
	for round := 0; round < 8 && cursor < backlog; round++ {
		threshold := cursor + 1 + rand.Int64N((backlog-cursor)/3+1)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envCrashChild+"=1")
		killed, _ := synctest.RunPullChild(t, cmd, h.URL(), tok, db, threshold)
		if killed {
			kills++
		}
		// The file is consistent after every kill: the cursor matches the
		// events stored, which are a gap-free prefix of the hub's ledger.
		cursor = checkPrefix(t, db, hubStore)
		t.Logf("round %d: killed=%v at threshold %d, cursor %d", round, killed, threshold, cursor)
	}
	assert.Positive(t, kills, "at least one kill landed")

	s := openSQLite(t, db, "")
	r, err := client.New(s, client.Config{URL: h.URL(), Token: tok})
	require.NoError(t, err)
	_, err = r.SyncOnce(context.Background())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, int64(backlog), checkPrefix(t, db, hubStore))
}

// checkPrefix opens the client's file and requires that its ledger is the
// hub's ledger up to the persisted cursor, in the same order, with local
// positions 1..n; it returns the cursor.
func checkPrefix(t *testing.T, path string, hubStore eventstore.Store) int64 {
	t.Helper()
	cursor, local := synctest.StoredPrefix(t, path)
	hubLedger := testutil.Ledger(t, hubStore)
	for i, e := range local {
		require.Equal(t, int64(i+1), e.Position, "gap-free")
		require.Equal(t, hubLedger[i].ID, e.ID, "hub order")
		require.Equal(t, hubLedger[i].Position, e.HubPosition)
		require.True(t, e.Hydrated)
	}
	return cursor
}
