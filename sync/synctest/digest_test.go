package synctest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/sync/client"
)

// hubDigest computes, from the hub's store, the digest of the events of the
// streams under prefixes (all when none) up to position upTo.
func hubDigest(t testing.TB, hubStore eventstore.Store, upTo int64, prefixes ...string) eventstore.Digest {
	t.Helper()
	var d eventstore.Digest
	for e, err := range hubStore.ReadAll(context.Background(), 0, 0) {
		require.NoError(t, err)
		if e.Position > upTo {
			break
		}
		in := len(prefixes) == 0
		for _, p := range prefixes {
			in = in || strings.HasPrefix(e.Stream, p)
		}
		if in {
			d.Add(e, e.Position)
		}
	}
	return d
}

// Issue 14, item 5, on both hub backends: every replica's kept digest
// equals the hub's for its scope (whole tenant, token-scoped, narrowed by
// Config.Streams), and an event changed by hand in a narrowed replica is
// detected and repaired by re-pulling one range.
func TestReplicaDigestsAgreeWithHub(t *testing.T) {
	for _, b := range hubBackends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			hubStore := b.open(t)
			url := serveHub(t, hubStore, nil)
			device := func(name string, tok string, streams ...string) (*sqlite.Store, *client.Replicator) {
				s := openClientStoreAt(t, filepath.Join(t.TempDir(), name+".db"), name)
				r, err := client.New(s, client.Config{URL: url, Token: tok, Streams: streams, VerifyEvery: time.Nanosecond,
					Backoff: client.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}})
				require.NoError(t, err)
				return s, r
			}
			writer, rw := device("writer", token(t, "acme", "writer"))
			for i := range 3 {
				appendNotes(t, writer, fmt.Sprintf("list%d/n", i), 700, 20)
			}
			syncOnce(t, rw)
			_, rAll := device("all", token(t, "acme", "all"))
			_, rScoped := device("scoped", token(t, "acme", "scoped", "list1/"))
			narrow, rNarrow := device("narrow", token(t, "acme", "narrow"), "list2/")
			cases := []struct {
				r        *client.Replicator
				prefixes []string
			}{{rw, nil}, {rAll, nil}, {rScoped, []string{"list1/"}}, {rNarrow, []string{"list2/"}}}
			for _, c := range cases {
				st := syncOnce(t, c.r)
				assert.Nil(t, st.Repair)
				status, err := c.r.Status(ctx)
				require.NoError(t, err)
				assert.Equal(t, hubDigest(t, hubStore, status.Cursor, c.prefixes...).String(), status.Digest, "scope %v", c.prefixes)
			}

			// Change one event of the narrowed replica by hand.
			var victim eventstore.Event
			for e, err := range narrow.ReadAll(ctx, 400, 1) {
				require.NoError(t, err)
				victim = e
			}
			require.NoError(t, narrow.Update(ctx, func(tx eventstore.Tx) error {
				_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, `UPDATE events SET meta = '{"tampered":true}' WHERE id = ?`, victim.ID)
				return err
			}))
			st := syncOnce(t, rNarrow)
			require.NotNil(t, st.Repair, "detected")
			assert.Equal(t, 1, st.Repair.Changed)
			assert.Equal(t, 1, st.Repair.Ranges)
			var got eventstore.Event
			for e, err := range narrow.ReadAll(ctx, victim.Position-1, 1) {
				require.NoError(t, err)
				got = e
			}
			assert.JSONEq(t, `{}`, string(got.Meta), "repaired from the hub's copy")
			status, err := rNarrow.Status(ctx)
			require.NoError(t, err)
			assert.Equal(t, hubDigest(t, hubStore, status.Cursor, "list2/").String(), status.Digest)
		})
	}
}
