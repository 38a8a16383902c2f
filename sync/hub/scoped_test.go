package hub_test

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// countingLedger counts the rows the hub reads from a store.
type countingLedger struct {
	eventstore.Store
	rows *atomic.Int64
}

func (l countingLedger) count(seq iter.Seq2[eventstore.Event, error]) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		for e, err := range seq {
			l.rows.Add(1)
			if !yield(e, err) {
				return
			}
		}
	}
}

func (l countingLedger) ReadAll(ctx context.Context, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	return l.count(l.Store.ReadAll(ctx, after, limit))
}

func (l countingLedger) ReadStreamAfter(ctx context.Context, stream string, after int64, limit int) iter.Seq2[eventstore.Event, error] {
	sr := l.Store.(interface {
		ReadStreamAfter(context.Context, string, int64, int) iter.Seq2[eventstore.Event, error]
	})
	return l.count(sr.ReadStreamAfter(ctx, stream, after, limit))
}

func (l countingLedger) ListStreams(ctx context.Context, opts eventstore.ListOptions) ([]eventstore.StreamInfo, error) {
	return l.Store.(eventstore.StreamLister).ListStreams(ctx, opts)
}

// TestScopedCatchUpReadsItsStreams: on every backend, a client that pulls
// 2 streams of 40 (and one prefix) is caught up with the events of its
// scope, the hub's digest of them, and about one row read per event sent;
// a range read (a backfill) too. Without a scope the hub reads the ledger.
func TestScopedCatchUpReadsItsStreams(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			stores := b.open(t)
			var rows atomic.Int64
			h := newHarness(t, stores, func(c *hub.Config) {
				inner := c.Ledgers
				c.Ledgers = hub.LedgerFunc(func(ctx context.Context, tenant string) (hub.Ledger, error) {
					l, release, err := inner.Acquire(ctx, tenant)
					if err != nil {
						return nil, err
					}
					release() // the harness's pool keeps it open
					return countingLedger{Store: l.(eventstore.Store), rows: &rows}, nil
				})
			})
			store := stores.must(t, "acme")
			var events []eventstore.Event
			for range 50 {
				for s := range 40 {
					events = append(events, newEvents(1, fmt.Sprintf("doc/%02d/x", s))...)
				}
			}
			seed(t, store, events)
			var all []eventstore.Event
			for e, err := range store.ReadAll(t.Context(), 0, 0) {
				require.NoError(t, err)
				all = append(all, e)
			}
			head := all[len(all)-1].Position
			tok := token(t, "acme")

			for _, tc := range []struct {
				name    string
				streams []string
				prefix  func(string) bool
			}{
				{"two streams", []string{"doc/03/x", "doc/17/x"}, func(s string) bool { return s == "doc/03/x" || s == "doc/17/x" }},
				{"a prefix", []string{"doc/2"}, func(s string) bool { return strings.HasPrefix(s, "doc/2") }},
			} {
				rows.Store(0)
				c := connect(t, h, tok, 0, tc.streams...)
				var got []protocol.Event
				var d eventstore.Digest
				for {
					m, err := c.recv()
					require.NoError(t, err)
					if ev, ok := m.(*protocol.Events); ok {
						got = append(got, ev.Events...)
						continue
					}
					if cu, ok := m.(*protocol.CaughtUp); ok {
						assert.Equal(t, head, cu.Head)
						for _, e := range all {
							if tc.prefix(e.Stream) {
								d.Add(e, e.Position)
							}
						}
						assert.Equal(t, d.String(), cu.Digest, "%s: the digest of the scope", tc.name)
						break
					}
				}
				want := 0
				for i, e := range all {
					if tc.prefix(e.Stream) {
						require.Less(t, want, len(got), tc.name)
						assert.Equal(t, e.ID, got[want].ID, "%s: event %d in position order", tc.name, i)
						want++
					}
				}
				assert.Len(t, got, want, tc.name)
				assert.LessOrEqual(t, float64(rows.Load()), 1.1*float64(want), "%s: rows read per event sent", tc.name)
			}

			// A new scope of streams read whole above, at the head: its digest
			// comes from the per-stream digests kept, with no row read.
			rows.Store(0)
			c0 := connect(t, h, tok, head, "doc/03/x", "doc/2")
			m := c0.until(func(m protocol.Message) bool { _, ok := m.(*protocol.CaughtUp); return ok }).(*protocol.CaughtUp)
			var want eventstore.Digest
			for _, e := range all {
				if e.Stream == "doc/03/x" || strings.HasPrefix(e.Stream, "doc/2") {
					want.Add(e, e.Position)
				}
			}
			assert.Equal(t, want.String(), m.Digest)
			assert.Zero(t, rows.Load(), "the streams' digests were kept")

			// A range read of one stream (a backfill) reads its stream only.
			rows.Store(0)
			c := connectWith(t, h, tok, &protocol.Hello{Versions: protocol.Versions(), Client: "probe", Cursor: 0, Until: head / 2, Streams: []string{"doc/05/x"}})
			n := 0
			for {
				m, err := c.recv()
				require.NoError(t, err)
				if ev, ok := m.(*protocol.Events); ok {
					n += len(ev.Events)
					continue
				}
				if _, ok := m.(*protocol.CaughtUp); ok {
					break
				}
			}
			assert.Equal(t, 25, n, "doc/05/x's events in the first half")
			assert.LessOrEqual(t, rows.Load(), int64(30))

			// Without a scope: the whole ledger, read in order.
			rows.Store(0)
			full := connect(t, h, tok, 0)
			full.catchUp()
			assert.GreaterOrEqual(t, rows.Load(), int64(len(all)))
		})
	}
}
