package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/ferrysync/ferry/eventstore"
)

// Eviction (Config.Evict). When reconcileScope finds prefixes removed
// from the scope, it records them as due (KeyEvict) in the transaction
// that records the new scope. evict then, at the start of every session,
// once the session has checked the hub's copy of the ledger (checkHeld or
// the repair it led to: an acknowledged event a restored hub lost must be
// pushed again, not evicted), and after a session's pushes are all acked
// while some are due:
//   - lists the streams of those prefixes that no subscription covers
//     (the subscriptions read again: one added back keeps its streams);
//   - evicts them in one transaction (eventstore.Evicter), all but those
//     the store refuses for holding local events not yet acknowledged,
//     which stay whole;
//   - in that transaction, has the EvictProjectors and Config.OnEvict
//     drop what the read models hold of them;
//   - deletes KeyEvict when nothing was kept, or keeps it (and sets
//     evictHeld, so the session retries once its pushes are acked).
//
// The kept digest covers the scope only, and the evicted streams are out
// of it, so it holds as it is. A stream subscribed again comes back
// through the backfill of the new subscription.

// removedPrefixes returns the prefixes of have (empty: every stream) that
// want does not cover.
func removedPrefixes(have, want []string) []string {
	if len(have) == 0 {
		return []string{""}
	}
	var out []string
	for _, p := range have {
		if !coveredBy(want, p) {
			out = append(out, p)
		}
	}
	return out
}

// recordEviction adds prefixes to those due for eviction (KeyEvict).
func recordEviction(ctx context.Context, kv eventstore.KeyValues, prefixes []string) error {
	due, _, err := readList[string](ctx, kv, KeyEvict)
	if err != nil {
		return err
	}
	for _, p := range prefixes {
		if !slices.Contains(due, p) {
			due = append(due, p)
		}
	}
	slices.Sort(due)
	return writeList(ctx, kv, KeyEvict, due)
}

// evict evicts the streams due for eviction (see the comment at the top
// of this file), adding the events removed to st.Evicted.
func (r *Replicator) evict(ctx context.Context, st *Stats) error {
	if !r.cfg.Evict {
		return nil
	}
	due, ok, err := readList[string](ctx, r.store, KeyEvict)
	if err != nil || !ok {
		r.evictHeld.Store(false)
		return err
	}
	lister, err := eventstore.As[eventstore.StreamLister](r.store)
	if err != nil {
		return fmt.Errorf("client: evict: %w", err)
	}
	subs, err := r.pullStreams(ctx)
	if err != nil {
		return err
	}
	var streams []string
	for _, p := range due {
		for after := ""; ; {
			page, err := lister.ListStreams(ctx, eventstore.ListOptions{Prefix: p, After: after, Limit: 1000})
			if err != nil {
				return fmt.Errorf("client: evict: list streams: %w", err)
			}
			for _, s := range page {
				if !matchAny(subs, s.Name) {
					streams = append(streams, s.Name)
				}
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].Name
		}
	}
	streams = slices.Compact(slices.Sorted(slices.Values(streams)))

	var (
		committed []func()
		gone      eventstore.Evicted
		evicted   []string
		held      []string
	)
	err = r.store.Update(ctx, func(tx eventstore.Tx) error {
		committed, gone, held = committed[:0], eventstore.Evicted{}, nil
		ev, err := eventstore.As[eventstore.Evicter](tx)
		if err != nil {
			return err
		}
		kv := eventstore.KeyValuesOf(tx)
		subs, err := r.pullStreamsIn(ctx, kv) // as they are now: one added back keeps its streams
		if err != nil {
			return err
		}
		evicted = slices.DeleteFunc(slices.Clone(streams), func(s string) bool { return matchAny(subs, s) })
		for range 2 {
			gone, err = ev.Evict(ctx, evicted...)
			var unpushed *eventstore.UnpushedError
			if !errors.As(err, &unpushed) {
				break
			}
			held = append(held, unpushed.Streams...)
			evicted = slices.DeleteFunc(evicted, func(s string) bool { return slices.Contains(unpushed.Streams, s) })
		}
		if err != nil {
			return err
		}
		if len(evicted) > 0 {
			if committed, err = r.projectEvicted(ctx, tx, gone.First, evicted); err != nil {
				return err
			}
		}
		if len(held) > 0 {
			return nil // due still: evicted once their events are pushed
		}
		return kv.DeleteState(ctx, KeyEvict)
	})
	if err != nil {
		return fmt.Errorf("client: evict: %w", err)
	}
	for _, f := range committed {
		f()
	}
	r.evictHeld.Store(len(held) > 0)
	st.Evicted += gone.Events
	if len(evicted) > 0 || len(held) > 0 {
		r.log.Info("evicted streams that left the scope", slog.Int("streams", len(evicted)), slog.Int("events", gone.Events),
			slog.Any("kept_for_unpushed_events", held))
	}
	return nil
}

// projectEvicted has the read models drop the evicted streams inside tx:
// the EvictProjectors from first (when events were removed), then
// Config.OnEvict. It returns the projectors' post-commit functions.
func (r *Replicator) projectEvicted(ctx context.Context, tx eventstore.Tx, first int64, streams []string) ([]func(), error) {
	var committed []func()
	if first > 0 {
		for _, p := range r.cfg.Projectors {
			ep, ok := p.(EvictProjector)
			if !ok {
				continue
			}
			f, err := ep.ProjectEvicted(ctx, tx, first)
			if err != nil {
				return nil, err
			}
			if f != nil {
				committed = append(committed, f)
			}
		}
	}
	if r.cfg.OnEvict != nil {
		if err := r.cfg.OnEvict(ctx, tx, streams); err != nil {
			return nil, fmt.Errorf("OnEvict: %w", err)
		}
	}
	return committed, nil
}
