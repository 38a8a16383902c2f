package reducer

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/ferrysync/ferry/eventstore"
)

// ReadOptions select what a store-backed fold covers. The zero value folds
// everything, starting from a snapshot when there is a usable one.
type ReadOptions struct {
	// AsOfVersion folds only the first AsOfVersion events in (Created, ID)
	// order: the state at that version (0: all events).
	AsOfVersion int64
	// Until folds only events whose Created is at most Until: the state as
	// of that time (0: no bound). eventstore.TimestampOf converts a
	// time.Time.
	Until eventstore.Timestamp
	// IgnoreSnapshot folds from the initial state even when a snapshot
	// exists.
	IgnoreSnapshot bool
}

// StreamReader is what ReduceStream needs of a store. When the store also
// loads snapshots (eventstore.Snapshots), ReduceStream starts from one.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error]
}

// StreamsReader is what ReduceStreams needs of a store.
type StreamsReader interface {
	ReadStreams(ctx context.Context, streams []string, opts eventstore.ReadOptions) iter.Seq2[eventstore.Event, error]
}

// RelatedReader is what ReduceRelated needs of a store.
type RelatedReader interface {
	StreamsReader
	StreamsByKeys(ctx context.Context, keys ...string) ([]string, error)
}

// snapshotLoader is the read half of eventstore.Snapshots.
type snapshotLoader interface {
	LoadSnapshot(ctx context.Context, name, stream string) (eventstore.Snapshot, error)
}

// ReduceStream folds stream. Unless opts.IgnoreSnapshot, it starts from the
// reducer's snapshot of the stream when that snapshot lies within the
// requested bounds (and the store keeps snapshots), and reads only the
// events after its cursor; the result equals the full fold. A snapshot that
// cannot be decoded is ignored.
func ReduceStream[S any](ctx context.Context, store StreamReader, r *Reducer[S], stream string, opts ReadOptions) (Result[S], error) {
	res := r.Start()
	ro := eventstore.ReadOptions{Until: opts.Until}
	if snaps, ok := store.(snapshotLoader); ok && !opts.IgnoreSnapshot {
		snap, err := snaps.LoadSnapshot(ctx, r.SnapshotName(), stream)
		switch {
		case errors.Is(err, eventstore.ErrNotFound):
		case err != nil:
			return res, fmt.Errorf("reduce %s: %w", stream, err)
		case usable(snap, opts):
			if from, err := r.Restore(snap); err == nil {
				res, ro.After = from, snap.Cursor
			}
		}
	}
	if opts.AsOfVersion > 0 {
		left := opts.AsOfVersion - res.Version
		if left <= 0 {
			return res, nil
		}
		ro.Limit = int(left)
	}
	res, err := r.Fold(res, store.ReadStream(ctx, stream, ro))
	if err != nil {
		return res, fmt.Errorf("reduce %s: %w", stream, err)
	}
	return res, nil
}

// usable reports whether a snapshot lies within the bounds of opts.
func usable(snap eventstore.Snapshot, opts ReadOptions) bool {
	if snap.Version <= 0 || snap.Cursor.IsZero() {
		return false
	}
	if opts.AsOfVersion > 0 && snap.Version > opts.AsOfVersion {
		return false
	}
	if opts.Until != 0 && snap.Cursor.Created > opts.Until {
		return false
	}
	return true
}

// ReduceStreams folds several streams merged in (Created, ID) order, with
// the bounds of opts (snapshots, which belong to one stream, are not used).
// The result's Version counts the events folded.
func ReduceStreams[S any](ctx context.Context, store StreamsReader, r *Reducer[S], streams []string, opts ReadOptions) (Result[S], error) {
	res := r.Start()
	if len(streams) == 0 {
		return res, nil
	}
	ro := eventstore.ReadOptions{Until: opts.Until}
	if opts.AsOfVersion > 0 {
		ro.Limit = int(opts.AsOfVersion)
	}
	res, err := r.Fold(res, store.ReadStreams(ctx, streams, ro))
	if err != nil {
		return res, fmt.Errorf("reduce %d streams: %w", len(streams), err)
	}
	return res, nil
}

// ReduceRelated folds every stream related to key (see
// eventstore.RelationWriter.AddRelations), merged in (Created, ID) order.
func ReduceRelated[S any](ctx context.Context, store RelatedReader, r *Reducer[S], key string, opts ReadOptions) (Result[S], error) {
	streams, err := store.StreamsByKeys(ctx, key)
	if err != nil {
		return r.Start(), fmt.Errorf("reduce relation %s: %w", key, err)
	}
	res, err := ReduceStreams(ctx, store, r, streams, opts)
	if err != nil {
		return res, fmt.Errorf("reduce relation %s: %w", key, err)
	}
	return res, nil
}

// SaveSnapshot stores res as the reducer's snapshot of stream, replacing the
// previous one, when res covers the whole stream as it stands inside the
// writing transaction (res.Version equals the stream's version); otherwise,
// for instance when an event arrived after res was folded, or res is a
// time-travel result, it writes nothing and reports false. A result of no
// events is not saved. The store's transactions must save snapshots
// (eventstore.SnapshotWriter), or SaveSnapshot fails with
// eventstore.ErrUnsupported.
func SaveSnapshot[S any](ctx context.Context, store eventstore.Store, r *Reducer[S], stream string, res Result[S]) (bool, error) {
	if res.Version <= 0 || res.Cursor.IsZero() {
		return false, nil
	}
	snap, err := r.Snapshot(stream, res)
	if err != nil {
		return false, err
	}
	saved := false
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		v, err := tx.StreamVersion(ctx, stream)
		if err != nil || v != res.Version {
			return err
		}
		w, err := eventstore.As[eventstore.SnapshotWriter](tx)
		if err != nil {
			return err
		}
		if err := w.SaveSnapshot(ctx, snap); err != nil {
			return err
		}
		saved = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("save snapshot %s of %s: %w", snap.Name, stream, err)
	}
	return saved, nil
}
