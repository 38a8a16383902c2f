package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Subscriptions. A device pulls the streams of its subscriptions: stream
// prefixes (a stream name is the prefix of itself and of the streams it
// begins), always within its token's scope. They are kept in the store
// (KeySubscriptions); a store that has none pulls Config.Streams, and none
// of those either means every stream.
//
// Subscribe and Unsubscribe only record what the store should pull. Before
// its next session the replicator (holding its session lock, so no session
// runs) compares that with the scope the kept digest describes (KeyScope)
// and reconciles them (reconcileScope):
//   - Prefixes added on a store that has pulled before are backfilled: a
//     range read (Hello.Until) of (0, cursor] narrowed to them, whose
//     frames are applied as they come, each transaction with the progress
//     (KeyBackfill), so a backfill cut short resumes where it stopped.
//     Backfilled events are stored like pulled ones (hydrated: On and All
//     handlers run, Once never; Outdated is computed against what the
//     store holds), and added to the kept digest unless the scope before
//     already covered them, so the next catch-up's digest comparison holds
//     for the new scope.
//   - When prefixes were removed, the events only they covered leave the
//     scope: the kept digest is dropped and recomputed from the store for
//     the new scope. By default the events stay in the store and its read
//     models. With Config.Evict the removed prefixes are recorded as due
//     for eviction (KeyEvict) and their streams that no subscription
//     covers are evicted whole before the session (see evict.go): their
//     events, versions, snapshots and relations, with the read models in
//     the same transaction (EvictProjectors reset and replay,
//     Config.OnEvict deletes rows). A stream holding a local event not yet
//     acknowledged is kept whole, and evicted once the session's pushes
//     are acked (or by a later sync: the due eviction survives restarts).
//     Evicted streams are outside the scope, so the digest holds.
// A running Run reconnects at once with the new subscriptions.

// ErrPullsEverything is returned by Subscribe on a store that has synced
// without subscriptions or Config.Streams: it pulls every stream already,
// and narrowing what it holds is not what subscribing does.
var ErrPullsEverything = errors.New("client: the store pulls every stream of the tenant already")

// backfill is a pending backfill of some subscriptions.
type backfill struct {
	Prefixes []string `json:"prefixes"`         // nil: every stream
	Before   []string `json:"before,omitempty"` // the scope before them, which the kept digest covered
	From     int64    `json:"from"`             // hub positions up to From are done
	Until    int64    `json:"until"`            // the cursor when it was decided
}

// stateReader reads the key/value state (a store or a Tx).
type stateReader interface {
	State(ctx context.Context, key string) ([]byte, error)
}

// readList returns the JSON list of strings under key; ok is false when the
// key is absent.
func readList[T any](ctx context.Context, kv stateReader, key string) (list []T, ok bool, err error) {
	v, err := kv.State(ctx, key)
	if errors.Is(err, eventstore.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("client: read %s: %w", key, err)
	}
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, false, fmt.Errorf("client: corrupt value under %s: %w", key, err)
	}
	return list, true, nil
}

func writeList[T any](ctx context.Context, kv eventstore.KeyValues, key string, list []T) error {
	v, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return kv.SetState(ctx, key, v)
}

// pullStreamsIn returns the prefixes the store pulls: its subscriptions, or
// Config.Streams when it has none recorded (empty: every stream).
func (r *Replicator) pullStreamsIn(ctx context.Context, kv stateReader) ([]string, error) {
	subs, ok, err := readList[string](ctx, kv, KeySubscriptions)
	if !ok && err == nil {
		return r.cfg.Streams, nil
	}
	return subs, err
}

// pullStreams is pullStreamsIn on the store.
func (r *Replicator) pullStreams(ctx context.Context) ([]string, error) {
	return r.pullStreamsIn(ctx, r.store)
}

// Subscriptions returns the prefixes the store pulls, sorted (empty: every
// stream of the tenant the token allows).
func (r *Replicator) Subscriptions(ctx context.Context) ([]string, error) {
	subs, err := r.pullStreams(ctx)
	return slices.Sorted(slices.Values(subs)), err
}

// Subscribe adds stream prefixes to what the store pulls; the next sync
// backfills their history (see the comment at the top of subscribe.go). A
// prefix a subscription covers already is ignored. It returns
// ErrPullsEverything on a store that has synced pulling every stream. A
// running Run reconnects with the new subscriptions.
func (r *Replicator) Subscribe(ctx context.Context, prefixes ...string) error {
	if err := checkSubscriptions(prefixes); err != nil {
		return err
	}
	return r.editSubscriptions(ctx, "subscribe", func(kv eventstore.KeyValues, subs []string) ([]string, error) {
		cursor, err := readCursor(ctx, kv)
		if err != nil {
			return nil, err
		}
		if len(subs) == 0 && cursor > 0 {
			return nil, ErrPullsEverything
		}
		var added []string
		for _, p := range prefixes {
			if !coveredBy(subs, p) && !coveredBy(added, p) {
				added = append(added, p)
			}
		}
		if len(added) == 0 {
			return nil, nil
		}
		subs = slices.Sorted(slices.Values(append(slices.Clone(subs), added...)))
		if len(subs) > protocol.MaxPullPrefixes {
			return nil, fmt.Errorf("%d subscriptions, limit %d", len(subs), protocol.MaxPullPrefixes)
		}
		return subs, nil
	})
}

// Unsubscribe removes subscriptions (exactly as subscribed): the streams
// they alone covered are no longer pulled. Events held stay in the store
// and its read models, unless Config.Evict is set: the next sync then
// evicts those streams (see the comment at the top of subscribe.go).
// Removing the last one is an error: a store without subscriptions pulls
// every stream.
func (r *Replicator) Unsubscribe(ctx context.Context, prefixes ...string) error {
	return r.editSubscriptions(ctx, "unsubscribe", func(_ eventstore.KeyValues, subs []string) ([]string, error) {
		kept := slices.DeleteFunc(slices.Clone(subs), func(s string) bool { return slices.Contains(prefixes, s) })
		switch {
		case len(kept) == len(subs):
			return nil, nil
		case len(kept) == 0:
			return nil, errors.New("cannot remove every subscription: a store without subscriptions pulls every stream")
		}
		return kept, nil
	})
}

// editSubscriptions replaces the subscriptions, in one transaction, with
// what edit returns from them (nil: no change), and has a running Run
// reconnect when they changed.
func (r *Replicator) editSubscriptions(ctx context.Context, op string, edit func(kv eventstore.KeyValues, subs []string) ([]string, error)) error {
	changed := false
	err := r.store.Update(ctx, func(tx eventstore.Tx) error {
		kv := eventstore.KeyValuesOf(tx)
		subs, err := r.pullStreamsIn(ctx, kv)
		if err != nil {
			return err
		}
		next, err := edit(kv, subs)
		if changed = next != nil; err != nil || !changed {
			return err
		}
		return writeList(ctx, kv, KeySubscriptions, next)
	})
	if err != nil {
		return fmt.Errorf("client: %s: %w", op, err)
	}
	if changed {
		r.rescoped()
	}
	return nil
}

// reconcileScope brings the scope the kept digest describes (KeyScope) to
// the subscriptions, before a session: prefixes added become backfills (on
// a store that has pulled), prefixes removed drop the digest, which the
// session then recomputes from the store (see checkHeld).
func (r *Replicator) reconcileScope(ctx context.Context) error {
	err := r.store.Update(ctx, func(tx eventstore.Tx) error {
		kv := eventstore.KeyValuesOf(tx)
		want, err := r.pullStreamsIn(ctx, kv)
		if err != nil {
			return err
		}
		have, recorded, err := readList[string](ctx, kv, KeyScope)
		if err != nil {
			return err
		}
		if !recorded {
			have = r.cfg.Streams // what every session pulled before scopes were recorded
		}
		if recorded && slices.Equal(slices.Sorted(slices.Values(have)), slices.Sorted(slices.Values(want))) {
			return nil
		}
		cursor, err := readCursor(ctx, kv)
		if err != nil {
			return err
		}
		if cursor > 0 {
			added, removed := scopeChange(have, want)
			if removed {
				if err := kv.DeleteState(ctx, KeyDigest); err != nil {
					return err
				}
				if r.cfg.Evict {
					if err := recordEviction(ctx, kv, removedPrefixes(have, want)); err != nil {
						return err
					}
				}
			}
			if added != nil {
				bs, _, err := readList[backfill](ctx, kv, KeyBackfill)
				if err != nil {
					return err
				}
				bs = append(bs, backfill{Prefixes: *added, Before: have, Until: cursor})
				if err := writeList(ctx, kv, KeyBackfill, bs); err != nil {
					return err
				}
			}
		}
		return writeList(ctx, kv, KeyScope, want)
	})
	if err != nil {
		return fmt.Errorf("client: record subscriptions: %w", err)
	}
	return nil
}

// scopeChange compares two scopes (empty: every stream): added lists the
// prefixes of want that have is missing (a pointer to nil: every stream),
// nil when none; removed reports that have covers streams want does not.
func scopeChange(have, want []string) (added *[]string, removed bool) {
	switch {
	case len(want) == 0 && len(have) == 0:
		return nil, false
	case len(want) == 0:
		return new([]string), false
	case len(have) == 0:
		return nil, true
	}
	var a []string
	for _, p := range want {
		if !coveredBy(have, p) {
			a = append(a, p)
		}
	}
	for _, p := range have {
		if !coveredBy(want, p) {
			removed = true
		}
	}
	if a != nil {
		added = &a
	}
	return added, removed
}

// rescoped ends a running Run's session so that it reconnects with the new
// subscriptions.
func (r *Replicator) rescoped() {
	select {
	case r.rescope <- struct{}{}:
	default:
	}
}

// errRescoped ends a session whose subscriptions changed.
var errRescoped = errors.New("client: subscriptions changed; reconnecting")

func checkSubscriptions(prefixes []string) error {
	if len(prefixes) == 0 {
		return errors.New("client: subscribe: no prefix")
	}
	for _, p := range prefixes {
		if p == "" || len(p) > eventstore.MaxStreamLen || !utf8.ValidString(p) || strings.ContainsRune(p, 0) {
			return fmt.Errorf("client: subscribe: prefix %q: want 1..%d bytes of UTF-8 without NUL", p, eventstore.MaxStreamLen)
		}
	}
	return nil
}

// coveredBy reports whether one of prefixes is a prefix of p.
func coveredBy(prefixes []string, p string) bool {
	return slices.ContainsFunc(prefixes, func(q string) bool { return strings.HasPrefix(p, q) })
}

// matchAny reports whether stream starts with one of prefixes, or prefixes
// is empty (every stream).
func matchAny(prefixes []string, stream string) bool {
	return len(prefixes) == 0 || coveredBy(prefixes, stream)
}

// runBackfills runs the pending backfills, before a session: one range
// read of each one's history, whose Events frames are stored as they come,
// each in one transaction with the progress (their Cursor: the hub sends
// the range in position order), so a cut resumes after the last frame
// stored.
func (r *Replicator) runBackfills(ctx context.Context, st *Stats) error {
	for {
		bs, _, err := readList[backfill](ctx, r.store, KeyBackfill)
		if err != nil || len(bs) == 0 {
			return err
		}
		b := bs[0]
		if b.From < b.Until {
			if err := r.backfill(ctx, bs, st); err != nil {
				return fmt.Errorf("client: backfill %v: %w", b.Prefixes, err)
			}
			continue
		}
		if err := r.store.Update(ctx, func(tx eventstore.Tx) error {
			return writeOrDelete(ctx, eventstore.KeyValuesOf(tx), KeyBackfill, bs[1:])
		}); err != nil {
			return fmt.Errorf("client: record backfill: %w", err)
		}
		r.log.Info("backfilled subscriptions", slog.Any("prefixes", b.Prefixes), slog.Int64("until", b.Until))
	}
}

// backfill reads bs[0]'s range and stores it, frame by frame, recording
// its progress; it returns once the range is stored (From == Until).
func (r *Replicator) backfill(ctx context.Context, bs []backfill, st *Stats) error {
	b := bs[0]
	c, _, err := r.rangeConnOf(ctx, b.From, b.Until, 0, b.Prefixes)
	if err != nil {
		return err
	}
	defer c.close(websocket.CloseNormalClosure, "")
	var pending protocol.Message // a message read while coalescing frames
	for {
		m := pending
		if pending = nil; m == nil {
			if m, err = r.next(ctx, c, 2*r.cfg.KeepAlive); err != nil {
				return err
			}
		}
		switch m := m.(type) {
		case *protocol.Events:
			frames, cursor := []*protocol.Events{m}, m.Cursor
			for n := len(m.Events); n < r.cfg.PullBatch && pending == nil; { // the frames already here: one transaction
				select {
				case in := <-c.in:
					c.took(in)
					if in.err != nil {
						return in.err
					}
					if ev, ok := in.msg.(*protocol.Events); ok {
						frames, cursor, n = append(frames, ev), max(cursor, ev.Cursor), n+len(ev.Events)
						continue
					}
					pending = in.msg
				default:
					n = r.cfg.PullBatch // nothing waiting
				}
			}
			var events []eventstore.Event
			for _, f := range frames {
				for _, e := range f.Events {
					if e.HubPosition > b.From && e.HubPosition <= b.Until {
						events = append(events, protocol.ToStored(e))
					}
				}
			}
			b.From = max(b.From, min(cursor, b.Until))
			bs[0] = b
			n, err := r.applyBackfill(ctx, events, b.Before, bs)
			if err != nil {
				return err
			}
			st.Backfilled += n
			if testHookBackfilled != nil {
				if err := testHookBackfilled(b.From); err != nil {
					return err
				}
			}
		case *protocol.CaughtUp:
			if b.From < b.Until { // the hub's ledger ends before Until: nothing more
				b.From = b.Until
				bs[0] = b
				if _, err := r.applyBackfill(ctx, nil, b.Before, bs); err != nil {
					return err
				}
			}
			return nil
		case *protocol.Error:
			return m
		case *protocol.Ping:
			_ = c.send(&protocol.Pong{Nonce: m.Nonce})
		}
	}
}

// writeOrDelete writes list under key, or deletes the key when list is
// empty.
func writeOrDelete[T any](ctx context.Context, kv eventstore.KeyValues, key string, list []T) error {
	if len(list) == 0 {
		return kv.DeleteState(ctx, key)
	}
	return writeList(ctx, kv, key, list)
}

// testHookBackfilled, when set, is called after each backfill batch is
// recorded; an error it returns ends the backfill there.
var testHookBackfilled func(to int64) error

// applyBackfill stores events in one transaction, has the projectors
// handle the new ones, adds to the kept digest those the scope before did
// not cover, and records the backfills left (bs).
func (r *Replicator) applyBackfill(ctx context.Context, events []eventstore.Event, before []string, bs []backfill) (int, error) {
	s := &session{r: r}
	var committed []func()
	inserted := 0
	err := r.store.Update(ctx, func(tx eventstore.Tx) error {
		committed, inserted = committed[:0], 0
		kv := eventstore.KeyValuesOf(tx)
		if len(events) > 0 {
			results, err := tx.Insert(ctx, events...)
			if err != nil {
				return err
			}
			for _, res := range results {
				if res.Inserted {
					inserted++
				}
			}
			if len(r.cfg.Projectors) > 0 {
				if committed, err = s.project(ctx, tx, events, results); err != nil {
					return err
				}
			}
			v, err := kv.State(ctx, KeyDigest)
			if err != nil && !errors.Is(err, eventstore.ErrNotFound) {
				return err
			}
			if err == nil {
				d, err := eventstore.ParseDigest(string(v))
				if err != nil {
					return fmt.Errorf("corrupt digest under %s: %w", KeyDigest, err)
				}
				for _, e := range events {
					if !matchAny(before, e.Stream) {
						d.Add(e, e.HubPosition)
					}
				}
				if err := kv.SetState(ctx, KeyDigest, []byte(d.String())); err != nil {
					return err
				}
			}
		}
		return writeOrDelete(ctx, kv, KeyBackfill, bs)
	})
	if err != nil {
		return 0, fmt.Errorf("client: apply backfill: %w", err)
	}
	for _, f := range committed {
		f()
	}
	return inserted, nil
}
