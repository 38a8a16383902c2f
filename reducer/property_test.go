package reducer_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

// chain is an order-sensitive state: any reordering, loss or duplication of
// events changes H.
type chain struct {
	H    uint64 `json:"h"`
	N    int    `json:"n"`
	Last string `json:"last"`
}

type addData struct {
	V uint64 `json:"v"`
}

func newChain() *reducer.Reducer[chain] {
	r := reducer.New("chain", func() chain { return chain{H: 17} })
	reducer.On(r, "add", func(c chain, e eventstore.Event, d addData) chain {
		c.H = c.H*31 + d.V
		c.N++
		c.Last = e.ID
		return c
	})
	r.OnRaw("mark", func(c chain, e eventstore.Event) chain {
		c.H = c.H*131 + uint64(len(e.ID))
		c.Last = e.ID
		return c
	})
	return r
}

// seed returns FERRY_SEED when set (to replay a failure), else a fresh one;
// it is logged either way.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("FERRY_SEED"); v != "" {
		var err error
		s, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (replay with FERRY_SEED=%d)", s, s)
	return s
}

// TestSnapshotPlusTailEqualsFullFold inserts random events at random times
// (so many arrive late, before events already stored and before saved
// snapshots), saves snapshots at random points, and checks after every step
// that folding from the snapshot equals the full fold, and that both equal
// folding the sorted events in memory, including at random time-travel
// bounds.
func TestSnapshotPlusTailEqualsFullFold(t *testing.T) {
	ctx := context.Background()
	sd := seed(t)
	rng := rand.New(rand.NewPCG(sd, sd^0x9e3779b97f4a7c15))
	r := newChain()

	rounds, steps := 60, 40
	if testing.Short() {
		rounds = 15
	}
	var fromSnapshot, invalidated int
	for round := range rounds {
		s := newStore(t)
		var stored []eventstore.Event
		snapCursor := eventstore.Cursor{}
		for step := range steps {
			switch k := rng.IntN(10); {
			case k < 5: // a batch of events at random times
				batch := make([]eventstore.Event, 1+rng.IntN(4))
				for i := range batch {
					if rng.IntN(3) == 0 {
						batch[i] = ev("mark", nil)
					} else {
						batch[i] = ev("add", addData{V: rng.Uint64N(1000)})
					}
					batch[i] = created(batch[i], rng.IntN(500))
				}
				insert(t, s, "s", batch...)
				stored = append(stored, batch...)
				for _, e := range batch {
					if !snapCursor.IsZero() && eventstore.CursorOf(e).Compare(snapCursor) < 0 {
						invalidated++
						snapCursor = eventstore.Cursor{}
						_, err := s.LoadSnapshot(ctx, r.SnapshotName(), "s")
						require.ErrorIs(t, err, eventstore.ErrNotFound, "a late event must invalidate the snapshot")
					}
				}
			case k < 8: // a snapshot at a random point of the stream
				if len(stored) == 0 {
					continue
				}
				v := 1 + rng.Int64N(int64(len(stored)))
				res, err := reducer.ReduceStream(ctx, s, r, "s", reducer.ReadOptions{AsOfVersion: v, IgnoreSnapshot: true})
				require.NoError(t, err)
				snap, err := r.Snapshot("s", res)
				require.NoError(t, err)
				require.NoError(t, s.SaveSnapshot(ctx, snap))
				snapCursor = snap.Cursor
			default: // a snapshot of the head, through SaveSnapshot
				res, err := reducer.ReduceStream(ctx, s, r, "s", reducer.ReadOptions{})
				require.NoError(t, err)
				saved, err := reducer.SaveSnapshot(ctx, s, r, "s", res)
				require.NoError(t, err)
				if saved {
					snapCursor = res.Cursor
				}
			}

			sorted := slices.Clone(stored)
			slices.SortFunc(sorted, func(a, b eventstore.Event) int {
				return eventstore.CursorOf(a).Compare(eventstore.CursorOf(b))
			})
			want, err := r.Reduce(seq(sorted...))
			require.NoError(t, err)

			got, err := reducer.ReduceStream(ctx, s, r, "s", reducer.ReadOptions{})
			require.NoError(t, err)
			require.Equal(t, want, got.State, "round %d step %d: snapshot+tail != full fold", round, step)
			require.Equal(t, int64(len(stored)), got.Version)
			if got.FromSnapshot {
				fromSnapshot++
			}
			full, err := reducer.ReduceStream(ctx, s, r, "s", reducer.ReadOptions{IgnoreSnapshot: true})
			require.NoError(t, err)
			require.Equal(t, want, full.State)

			if len(sorted) == 0 {
				continue
			}
			// time travel, by version and by time, with snapshots allowed
			v := rng.IntN(len(sorted) + 1)
			wantV, err := r.Reduce(seq(sorted[:v]...))
			require.NoError(t, err)
			gotV, err := reducer.ReduceStream(ctx, s, r, "s", reducer.ReadOptions{AsOfVersion: int64(max(v, 1))})
			require.NoError(t, err)
			if v > 0 {
				require.Equal(t, wantV, gotV.State, "round %d step %d: as of version %d", round, step, v)
			}
			until := at(rng.IntN(520))
			n := 0
			for n < len(sorted) && sorted[n].Created <= until {
				n++
			}
			wantT, err := r.Reduce(seq(sorted[:n]...))
			require.NoError(t, err)
			gotT, err := reducer.ReduceStream(ctx, s, r, "s", reducer.ReadOptions{Until: until})
			require.NoError(t, err)
			require.Equal(t, wantT, gotT.State, "round %d step %d: as of %s", round, step, until)
			require.Equal(t, int64(n), gotT.Version)
		}
	}
	t.Logf("%d folds started from a snapshot, %d snapshots invalidated by late events", fromSnapshot, invalidated)
	require.Positive(t, fromSnapshot, "the property never exercised snapshots")
	require.Positive(t, invalidated, "the property never exercised late events")
}
