package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferrysync/ferry/eventstore"
)

// List returns the effects with the given status, ordered by event ID
// (which is creation order) and handler name.
func (fx *Effects) List(ctx context.Context, status EffectStatus) ([]EffectRecord, error) {
	store, err := fx.attached()
	if err != nil {
		return nil, err
	}
	return fx.list(ctx, store, status)
}

func (fx *Effects) list(ctx context.Context, store Store, status EffectStatus) ([]EffectRecord, error) {
	switch status {
	case EffectPending, EffectFailed, EffectDone:
	default:
		return nil, fmt.Errorf("projector: unknown effect status %q", status)
	}
	prefix := effectPrefix + string(status) + "/"
	kvs, err := store.ListState(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("effects: list %s: %w", status, err)
	}
	out := make([]EffectRecord, 0, len(kvs))
	for _, kv := range kvs {
		rec, err := decodeRecord(status, strings.TrimPrefix(kv.Key, prefix), kv.Value)
		if err != nil {
			fx.log.Error("skipping unreadable effect record", "key", kv.Key, "error", err)
			continue
		}
		out = append(out, rec)
	}
	return out, nil
}

func decodeRecord(status EffectStatus, rest string, val []byte) (EffectRecord, error) {
	var rec EffectRecord
	id, handler, ok := parseEffectKey(rest)
	if !ok {
		return rec, fmt.Errorf("malformed effect key %q", rest)
	}
	if err := json.Unmarshal(val, &rec); err != nil {
		return rec, err
	}
	if rec.Event.ID != id || rec.Handler != handler {
		return rec, fmt.Errorf("effect record %q names %s/%s", rest, rec.Event.ID, rec.Handler)
	}
	rec.Status = status
	return rec, nil
}

// Get returns the record of one effect, whatever its status, or an error
// wrapping eventstore.ErrNotFound.
func (fx *Effects) Get(ctx context.Context, eventID, handler string) (EffectRecord, error) {
	store, err := fx.attached()
	if err != nil {
		return EffectRecord{}, err
	}
	for _, st := range []EffectStatus{EffectPending, EffectFailed, EffectDone} {
		val, err := store.State(ctx, effectKey(st, eventID, handler))
		if errors.Is(err, eventstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return EffectRecord{}, fmt.Errorf("effects: get %s of %s: %w", handler, eventID, err)
		}
		return decodeRecord(st, eventID+"/"+handler, val)
	}
	return EffectRecord{}, fmt.Errorf("effects: %s of %s: %w", handler, eventID, eventstore.ErrNotFound)
}

// Retry moves a failed effect back to pending with its attempts reset, and
// wakes Run. It returns an error wrapping eventstore.ErrNotFound when no
// such failed effect exists.
func (fx *Effects) Retry(ctx context.Context, eventID, handler string) error {
	store, err := fx.attached()
	if err != nil {
		return err
	}
	failed := effectKey(EffectFailed, eventID, handler)
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		val, err := eventstore.KeyValuesOf(tx).State(ctx, failed)
		if err != nil {
			return err
		}
		rec, err := decodeRecord(EffectFailed, eventID+"/"+handler, val)
		if err != nil {
			return err
		}
		rec.Attempts, rec.Finished, rec.NextAttempt = 0, time.Time{}, time.Time{}
		if val, err = json.Marshal(rec); err != nil {
			return err
		}
		if err := eventstore.KeyValuesOf(tx).DeleteState(ctx, failed); err != nil {
			return err
		}
		return eventstore.KeyValuesOf(tx).SetState(ctx, effectKey(EffectPending, eventID, handler), val)
	})
	if err != nil {
		return fmt.Errorf("effects: retry %s of %s: %w", handler, eventID, err)
	}
	fx.poke()
	return nil
}

// Discard deletes a pending or failed effect without running it. It
// returns an error wrapping eventstore.ErrNotFound when there is none.
func (fx *Effects) Discard(ctx context.Context, eventID, handler string) error {
	store, err := fx.attached()
	if err != nil {
		return err
	}
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		found := false
		for _, st := range []EffectStatus{EffectPending, EffectFailed} {
			key := effectKey(st, eventID, handler)
			if _, err := eventstore.KeyValuesOf(tx).State(ctx, key); errors.Is(err, eventstore.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			found = true
			if err := eventstore.KeyValuesOf(tx).DeleteState(ctx, key); err != nil {
				return err
			}
		}
		if !found {
			return eventstore.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("effects: discard %s of %s: %w", handler, eventID, err)
	}
	return nil
}

// PurgeDone deletes the records of effects that finished before before,
// and returns how many it deleted. Done records only serve inspection;
// EffectOptions.DropDone avoids keeping them at all.
func (fx *Effects) PurgeDone(ctx context.Context, before time.Time) (int, error) {
	recs, err := fx.List(ctx, EffectDone)
	if err != nil {
		return 0, err
	}
	n := 0
	store, _ := fx.attached()
	err = store.Update(ctx, func(tx eventstore.Tx) error {
		n = 0
		for _, r := range recs {
			if !r.Finished.Before(before) {
				continue
			}
			if err := eventstore.KeyValuesOf(tx).DeleteState(ctx, effectKey(EffectDone, r.Event.ID, r.Handler)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("effects: purge done: %w", err)
	}
	return n, nil
}
