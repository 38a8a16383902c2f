package synctest_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/synctest"
)

// Environment of the catch-up child (bench_catchup_test.go).
const (
	envURL   = "FERRY_SYNCTEST_URL"
	envToken = "FERRY_SYNCTEST_TOKEN"
	envDB    = "FERRY_SYNCTEST_DB"
)

// pullChild returns the command that re-executes the test binary as a pull
// child (see synctest.PullChild).
func pullChild() *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=pull")
	return cmd
}

// storedPrefix opens the client's file after a crash and checks it: the
// events stored are exactly the hub's ledger up to the persisted cursor,
// in hub order, each once. It returns the cursor.
func storedPrefix(t *testing.T, db string) int64 {
	t.Helper()
	cursor, events := synctest.StoredPrefix(t, db)
	require.NoError(t, synctest.CheckHubOrder(events))
	return cursor
}

// A client process pulling a backlog from a real syncd is killed with
// SIGKILL at random points; each restart resumes from the persisted cursor
// (it pulls only what it lacks) and the final store holds the hub's ledger
// exactly, in hub order.
func TestClientKilledDuringPull(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes")
	}
	total := map[bool]int{false: 10_000, true: 4_000}[raceEnabled]
	p := startSyncd(t, nil, "--data-dir", t.TempDir())

	writer := openClientStore(t, "writer")
	appendNotes(t, writer, "note", total, 200)
	syncOnce(t, replicator(t, writer, p.URL(), token(t, "acme", "writer")))

	db := t.TempDir() + "/puller.db"
	tok := token(t, "acme", "puller")
	var cursor int64
	kills := 0
	for round := 0; round < 3; round++ {
		killAt := cursor + 1 + rand.Int64N(max(1, (int64(total)-cursor)/3))
		killed, _ := synctest.RunPullChild(t, pullChild(), p.URL(), tok, db, killAt)
		require.True(t, killed, "the kill landed before the pull ended")
		kills++
		after := storedPrefix(t, db)
		require.GreaterOrEqual(t, after, cursor, "the cursor never goes back")
		t.Logf("round %d: killed at cursor >= %d, stored cursor %d", round, killAt, after)
		cursor = after
	}
	killed, pulled := synctest.RunPullChild(t, pullChild(), p.URL(), tok, db, 0)
	require.False(t, killed)
	assert.Equal(t, total-int(cursor), pulled, "resumed from the cursor, no full resync")
	assert.Less(t, pulled, total)
	assert.Equal(t, int64(total), storedPrefix(t, db))

	s, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, sortedIDs(ledger(t, writer)), sortedIDs(ledger(t, s)), "exactly the writer's events")
	assert.Equal(t, 3, kills)
}
