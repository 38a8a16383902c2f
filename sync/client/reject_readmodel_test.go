package client_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// rejectStreams are the streams of TestRejectedLeavesReadModels; the
// token lets the device push to ok/ only.
var rejectStreams = []string{"ok/1", "secret/1"}

// countModel is a read model of counters in the store's key/value state:
// per stream (an On handler) and in total (an All handler).
func countModel(t *testing.T, s deviceStore, run bool) *projector.Projector {
	t.Helper()
	bump := func(ctx context.Context, tx eventstore.Tx, key string) error {
		kv := eventstore.KeyValuesOf(tx)
		n := 0
		if v, err := kv.State(ctx, key); err == nil {
			n, _ = strconv.Atoi(string(v))
		} else if !errors.Is(err, eventstore.ErrNotFound) {
			return err
		}
		return kv.SetState(ctx, key, []byte(strconv.Itoa(n+1)))
	}
	h := projector.NewHandlers()
	projector.On(h, "note:added", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, _ struct{}) error {
		return bump(ctx, tx, "rm/on/"+e.Stream)
	})
	projector.All(h, "note:added", func(ctx context.Context, tx eventstore.Tx, _ eventstore.Event, _ struct{}) error {
		return bump(ctx, tx, "rm/all")
	})
	reset := func(ctx context.Context, tx eventstore.Tx) error {
		kv := eventstore.KeyValuesOf(tx)
		for _, stream := range rejectStreams {
			if err := kv.DeleteState(ctx, "rm/on/"+stream); err != nil {
				return err
			}
		}
		return kv.DeleteState(ctx, "rm/all")
	}
	p, err := projector.New("counts", s, projector.Options{Handlers: h, Reset: reset})
	require.NoError(t, err)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	}
	return p
}

// counts reads the read model.
func counts(t *testing.T, s deviceStore) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, key := range []string{"rm/on/ok/1", "rm/on/secret/1", "rm/all"} {
		v, err := s.State(context.Background(), key)
		if errors.Is(err, eventstore.ErrNotFound) {
			continue
		}
		require.NoError(t, err)
		out[key] = string(v)
	}
	return out
}

// TestRejectedLeavesReadModels: a local event that a read model handled
// is then rejected by the hub. Afterwards the read model equals what a
// rebuild produces, and neither holds the rejected event, whether the
// projector runs (Run) or is caught up after the sync (CatchUp).
func TestRejectedLeavesReadModels(t *testing.T) {
	for _, b := range backends() {
		for _, run := range []bool{false, true} {
			name := b.name + "/catchup"
			if run {
				name = b.name + "/run"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				h := newTestHub(t)
				s := b.open(t, "dev-a")
				p := countModel(t, s, run)
				write(t, s, "ok/1", 2)
				bad := write(t, s, "secret/1", 1)[0]
				last := write(t, s, "ok/1", 1)[0]
				if run {
					require.NoError(t, waitPos(p, last.Position))
				} else {
					_, err := p.CatchUp(ctx)
					require.NoError(t, err)
				}
				require.Equal(t, map[string]string{"rm/on/ok/1": "3", "rm/on/secret/1": "1", "rm/all": "4"}, counts(t, s),
					"the read model handled the event before its rejection")

				r := replicator(t, h, s, "acme", func(c *client.Config) {
					c.Token = token(t, "acme", "device", "ok/")
					c.Projectors = []client.Projector{p}
				})
				st, err := r.SyncOnce(ctx)
				require.NoError(t, err)
				require.Len(t, st.Rejections, 1)
				require.Equal(t, bad.ID, st.Rejections[0].ID)
				if run {
					require.NoError(t, waitPos(p, last.Position))
				} else {
					_, err := p.CatchUp(ctx)
					require.NoError(t, err)
				}
				live := counts(t, s)

				_, err = p.Rebuild(ctx, nil)
				require.NoError(t, err)
				rebuilt := counts(t, s)
				assert.Equal(t, map[string]string{"rm/on/ok/1": "3", "rm/all": "3"}, rebuilt)
				assert.Equal(t, rebuilt, live, "after a live rejection the read model equals a rebuild")
			})
		}
	}
}

// waitPos waits, within waitTimeout, until a running p has committed pos.
func waitPos(p *projector.Projector, pos int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return p.WaitFor(ctx, pos)
}
