package synctest

import (
	"context"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

// ReadLedger returns every event of s in Position order.
func ReadLedger(ctx context.Context, s eventstore.Store) ([]eventstore.Event, error) {
	var out []eventstore.Event
	for e, err := range s.ReadAll(ctx, 0, 0) {
		if err != nil {
			return nil, fmt.Errorf("read ledger: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// WaitForEvent blocks until s holds the event id (stored through s or, for
// backends that notice them, by other processes), or ctx ends. It wakes on
// commits (Store.Wait) rather than polling.
// s must report event status (eventstore.StatusReader), as every backend
// does.
func WaitForEvent(ctx context.Context, s eventstore.Store, id string) error {
	status, err := eventstore.As[eventstore.StatusReader](s)
	if err != nil {
		return fmt.Errorf("wait for %s: %w", id, err)
	}
	var head int64
	for {
		st, err := status.Status(ctx, eventstore.Event{ID: id})
		if err != nil {
			return fmt.Errorf("wait for %s: %w", id, err)
		}
		if st.Exists {
			return nil
		}
		if head, err = s.Wait(ctx, head); err != nil {
			return fmt.Errorf("event %s never arrived: %w", id, err)
		}
	}
}

// CheckLedger checks that events (a ledger in Position order) have the
// positions 1, 2, ... n without a gap and that no event ID occurs twice.
func CheckLedger(events []eventstore.Event) error {
	seen := make(map[string]int64, len(events))
	for i, e := range events {
		if want := int64(i + 1); e.Position != want {
			return fmt.Errorf("ledger: event %d (%s) has position %d, want %d", i, e.ID, e.Position, want)
		}
		if p, dup := seen[e.ID]; dup {
			return fmt.Errorf("ledger: event %s stored twice, at positions %d and %d", e.ID, p, e.Position)
		}
		seen[e.ID] = e.Position
	}
	return nil
}

// CheckHubOrder checks that events (a replica's copy of a hub ledger, in
// the replica's Position order) carry the hub positions 1, 2, ... n: the
// replica holds the whole hub ledger, in hub order, each event once.
func CheckHubOrder(events []eventstore.Event) error {
	if err := CheckLedger(events); err != nil {
		return err
	}
	for i, e := range events {
		if want := int64(i + 1); e.HubPosition != want {
			return fmt.Errorf("ledger: event %d (%s) has hub position %d, want %d", i, e.ID, e.HubPosition, want)
		}
	}
	return nil
}
