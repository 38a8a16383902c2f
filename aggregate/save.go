package aggregate

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ferrysync/ferry/eventstore"
)

// Save appends the events raised on aggs to store in one Append, that is in
// one transaction: every aggregate's events, with the expectation that its
// stream still holds the events it was loaded with (eventstore.Exact). The
// writes are ordered by stream id. A conflict on any aggregate saves none
// and returns the *eventstore.ConflictError (errors.Is(err,
// eventstore.ErrConcurrency)); the aggregates keep their pending events.
//
// After a successful save every aggregate's pending events are cleared and
// its repository's snapshot policy runs. Aggregates with nothing pending are
// left out; the same aggregate passed twice counts once; two different
// aggregates with one id are an error.
func Save(ctx context.Context, store eventstore.Store, aggs ...Aggregate) error {
	roots := make([]*Root, 0, len(aggs))
	for _, a := range aggs {
		root, ok := rootOf(a)
		if !ok {
			return fmt.Errorf("aggregate: save: nil aggregate")
		}
		if len(root.pending) > 0 && !slices.Contains(roots, root) {
			roots = append(roots, root)
		}
	}
	if len(roots) == 0 {
		return nil
	}
	slices.SortFunc(roots, func(a, b *Root) int { return cmp.Compare(a.id, b.id) })
	writes := make([]eventstore.Write, len(roots))
	ids := make([]string, len(roots))
	for i, root := range roots {
		if i > 0 && roots[i-1].id == root.id {
			return fmt.Errorf("aggregate: save: two aggregates with id %q", root.id)
		}
		writes[i] = eventstore.Write{Stream: root.id, Expect: eventstore.Exact(root.stored), Events: slices.Clone(root.pending)}
		ids[i] = root.id
	}
	if _, err := store.Append(ctx, writes...); err != nil {
		return fmt.Errorf("save %s: %w", strings.Join(ids, ", "), err)
	}
	for _, root := range roots {
		from := root.stored
		root.stored, root.pending = root.version, nil
		root.bound.afterSave(ctx, store, root.id, from, root.stored)
	}
	return nil
}
