package synctest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/client"
)

// Environment of the backfill child.
const (
	envSubscribe = "FERRY_SYNCTEST_SUBSCRIBE" // the prefix it subscribes to
)

func init() { children["backfill"] = childBackfill }

// childBackfill subscribes the store at envDB to envSubscribe and syncs
// once with the hub at envURL, printing "subscribed" before it syncs,
// "progress" once the backfill has stored a batch, and "done backfilled=N"
// after.
func childBackfill() error {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, os.Getenv(envDB), sqlite.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := client.New(s, client.Config{URL: os.Getenv(envURL), Token: os.Getenv(envToken)})
	if err != nil {
		return err
	}
	if err := r.Subscribe(ctx, os.Getenv(envSubscribe)); err != nil {
		return err
	}
	fmt.Println("subscribed")
	before, _ := s.State(ctx, client.KeyBackfill) // a resumed backfill's progress so far
	// Say when this run's backfill has stored a batch, for the kill to land mid-way.
	go func() {
		for {
			v, err := s.State(ctx, client.KeyBackfill)
			if err == nil && string(v) != string(before) && !strings.Contains(string(v), `"from":0,`) {
				fmt.Println("progress")
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	st, err := r.SyncOnce(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("done backfilled=%d\n", st.Backfilled)
	return nil
}

// runBackfillChild runs the backfill child; once it says its backfill
// made progress, kill (when set) is called after a random 0-20 ms (a kill
// timed from the start missed the backfill on a loaded machine). It returns the
// child's backfilled count (-1 when it did not finish) and its error line.
func runBackfillChild(t *testing.T, url, tok, db string, kill func(*exec.Cmd)) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=backfill", envURL+"="+url, envToken+"="+tok, envDB+"="+db,
		envSubscribe+"=keep/")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	backfilled, errLine := -1, ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "progress" && kill != nil:
			time.AfterFunc(time.Duration(rand.IntN(20))*time.Millisecond, func() { kill(cmd) })
		case strings.HasPrefix(line, "done backfilled="):
			_, err := fmt.Sscanf(line, "done backfilled=%d", &backfilled)
			require.NoError(t, err)
		case strings.HasPrefix(line, "error"):
			errLine = line
		}
	}
	_ = cmd.Wait()
	return backfilled, errLine
}

// backfillLeft returns the pending backfills' progress in db ("" when none).
func backfillLeft(t *testing.T, db string) string {
	t.Helper()
	s, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()
	v, err := s.State(context.Background(), client.KeyBackfill)
	if errors.Is(err, eventstore.ErrNotFound) {
		return ""
	}
	require.NoError(t, err)
	return string(v)
}

// A device subscribes to a prefix whose history is 30,000 events; its
// process is killed with SIGKILL mid-backfill, and once the hub is killed
// under it; each run resumes, and the store ends holding exactly the hub's
// events of its subscriptions, each once, with a digest the hub agrees
// with.
func TestBackfillSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes")
	}
	p := startSyncd(t, nil, "--data-dir", t.TempDir())
	writer := openClientStore(t, "writer")
	appendNotes(t, writer, "first", 50, 20)
	for range 30 {
		appendNotes(t, writer, "keep", 1000, 20)
		appendNotes(t, writer, "skip", 1000, 20)
	}
	syncOnce(t, replicator(t, writer, p.URL(), token(t, "acme", "writer")))

	db := t.TempDir() + "/device.db"
	tok := token(t, "acme", "device")
	dev := openClientStoreAt(t, db, "device")
	rd := replicator(t, dev, p.URL(), tok)
	require.NoError(t, rd.Subscribe(context.Background(), "first/"))
	syncOnce(t, rd)
	require.NoError(t, dev.Close())

	killChild := func(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
	killHub := func(*exec.Cmd) { _ = p.Kill() }
	midway := 0
	for round := range 4 {
		kill := killChild
		if round == 1 {
			kill = killHub
		}
		n, errLine := runBackfillChild(t, p.URL(), tok, db, kill)
		if round == 1 {
			restart(t, p)
		}
		left := backfillLeft(t, db)
		t.Logf("round %d: backfilled %d, error %q, left %s", round, n, errLine, left)
		if n < 0 && left != "" && !strings.Contains(left, `"from":0,`) {
			midway++
		}
	}
	require.Positive(t, midway, "a kill landed mid-backfill")
	n, errLine := runBackfillChild(t, p.URL(), tok, db, nil)
	require.Empty(t, errLine)
	require.GreaterOrEqual(t, n, 0, "the last run finishes")
	assert.Empty(t, backfillLeft(t, db))

	dev = openClientStoreAt(t, db, "device")
	rd = replicator(t, dev, p.URL(), tok)
	st := syncOnce(t, rd)
	assert.Nil(t, st.Repair, "the digest holds for the new scope")
	var want []string
	var d eventstore.Digest
	for _, e := range ledger(t, writer) {
		if strings.HasPrefix(e.Stream, "keep/") || strings.HasPrefix(e.Stream, "first/") {
			want = append(want, e.ID)
			d.Add(e, e.HubPosition)
		}
	}
	held := ledger(t, dev)
	assert.Equal(t, len(want), len(held), "each event once")
	assert.ElementsMatch(t, want, sortedIDs(held))
	status, err := rd.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, d.String(), status.Digest)
}

// Subscriptions on both hub backends: devices with overlapping
// subscriptions, one of them with a token scoped to list/, receive exactly
// the hub's events of token ∩ subscriptions (a subscription outside the
// token brings nothing), agree on every stream they share, and keep
// digests the hub agrees with, through a backfill and an unsubscribe.
func TestSubscriptionScopes(t *testing.T) {
	for _, be := range hubBackends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			hubStore := be.open(t)
			url := serveHub(t, hubStore, nil)
			writer := openClientStore(t, "writer")
			for _, prefix := range []string{"list/a", "list/b", "list/c", "admin/x"} {
				appendNotes(t, writer, prefix, 30, 10)
			}
			syncOnce(t, replicator(t, writer, url, token(t, "acme", "writer")))

			alice, bob := openClientStore(t, "alice"), openClientStore(t, "bob")
			ra := replicator(t, alice, url, token(t, "acme", "alice", "list/"))
			rb := replicator(t, bob, url, token(t, "acme", "bob"))
			require.NoError(t, ra.Subscribe(ctx, "list/a/", "admin/"))
			require.NoError(t, rb.Subscribe(ctx, "list/a/", "list/b/"))
			syncOnce(t, ra)
			syncOnce(t, rb)
			check := func(r *client.Replicator, s eventstore.Store, prefixes ...string) {
				t.Helper()
				var want []string
				var d eventstore.Digest
				for _, e := range ledger(t, hubStore) {
					for _, p := range prefixes {
						if strings.HasPrefix(e.Stream, p) {
							want = append(want, e.ID)
							d.Add(e, e.Position)
							break
						}
					}
				}
				held := ledger(t, s)
				assert.ElementsMatch(t, want, sortedIDs(held), "exactly the scope")
				st, err := r.Status(ctx)
				require.NoError(t, err)
				assert.Equal(t, d.String(), st.Digest, "the digest of the scope")
			}
			check(ra, alice, "list/a/") // admin/ is outside alice's token
			check(rb, bob, "list/a/", "list/b/")

			require.NoError(t, ra.Subscribe(ctx, "list/c/"))
			require.NoError(t, rb.Unsubscribe(ctx, "list/a/"))
			appendNotes(t, writer, "list/a", 5, 10)
			appendNotes(t, writer, "list/c", 5, 10)
			syncOnce(t, replicator(t, writer, url, token(t, "acme", "writer")))
			sa, sb := syncOnce(t, ra), syncOnce(t, rb)
			assert.Nil(t, sa.Repair)
			assert.Nil(t, sb.Repair)
			assert.Equal(t, 30, sa.Backfilled)
			check(ra, alice, "list/a/", "list/c/")
			// bob keeps list/a/'s first 30 but does not pull its 5 new ones.
			assert.Equal(t, 60, len(ledger(t, bob)))
		})
	}
}
