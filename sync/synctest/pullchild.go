package synctest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/client"
)

// Environment of a pull child (see PullChild), set by RunPullChild.
const (
	EnvPullURL   = "FERRY_PULL_CHILD_URL"
	EnvPullToken = "FERRY_PULL_CHILD_TOKEN"
	EnvPullDB    = "FERRY_PULL_CHILD_DB"
)

// PullChild is the child side of the pull crash tests, run in a re-executed
// test binary: it syncs the SQLite file EnvPullDB with the hub at
// EnvPullURL (token EnvPullToken), one pulled frame per transaction so that
// it commits many times and a kill lands between commits. It prints
// "cursor N" after every applied batch and "done pulled=N" at the end.
func PullChild(ctx context.Context) error {
	s, err := sqlite.Open(ctx, os.Getenv(EnvPullDB), sqlite.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := client.New(s, client.Config{
		URL:       os.Getenv(EnvPullURL),
		Token:     os.Getenv(EnvPullToken),
		PullBatch: 1,
		OnProgress: func(p client.Progress) {
			fmt.Printf("cursor %d\n", p.Cursor)
		},
	})
	if err != nil {
		return err
	}
	st, err := r.SyncOnce(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("done pulled=%d\n", st.Pulled)
	return nil
}

// RunPullChild runs cmd, a test binary that will call PullChild, on the
// file db against the hub at url with token tok; when killAt > 0 it kills
// the child (SIGKILL) once it reports a cursor >= killAt. A line "error ..."
// from the child fails t. It returns whether the kill landed and the
// child's pulled count (-1 when it did not finish).
func RunPullChild(t testing.TB, cmd *exec.Cmd, url, tok, db string, killAt int64) (killed bool, pulled int) {
	t.Helper()
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, EnvPullURL+"="+url, EnvPullToken+"="+tok, EnvPullDB+"="+db)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	pulled = -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "cursor "):
			n, err := strconv.ParseInt(strings.TrimPrefix(line, "cursor "), 10, 64)
			require.NoError(t, err)
			if killAt > 0 && !killed && n >= killAt {
				require.NoError(t, cmd.Process.Kill())
				killed = true
			}
		case strings.HasPrefix(line, "done pulled="):
			pulled, err = strconv.Atoi(strings.TrimPrefix(line, "done pulled="))
			require.NoError(t, err)
		case strings.HasPrefix(line, "error"):
			t.Errorf("child: %s", line)
		}
	}
	err = cmd.Wait()
	if killed {
		require.Error(t, err, "the child was killed")
	} else {
		require.NoError(t, err)
	}
	return killed, pulled
}

// StoredPrefix opens the SQLite file of a stopped pull child and requires
// that it stores exactly as many events as its persisted cursor counts:
// nothing lost, nothing ahead. It returns the cursor and the stored ledger,
// for the caller to compare with the hub's.
func StoredPrefix(t testing.TB, db string) (cursor int64, events []eventstore.Event) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, db, sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()
	r, err := client.New(s, client.Config{URL: "ws://127.0.0.1:1/sync"})
	require.NoError(t, err)
	st, err := r.Status(ctx)
	require.NoError(t, err)
	events, err = ReadLedger(ctx, s)
	require.NoError(t, err)
	require.Len(t, events, int(st.Cursor), "events stored == cursor: nothing lost, nothing ahead")
	return st.Cursor, events
}
