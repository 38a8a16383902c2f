package memory

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

var _ eventstore.Repairer = (*tx)(nil)

// RepairEvent implements eventstore.Repairer.
func (t *tx) RepairEvent(ctx context.Context, e eventstore.Event) (int64, bool, error) {
	if err := t.check(ctx); err != nil {
		return 0, false, fmt.Errorf("repair: %w", err)
	}
	pos, ok := t.s.byID[e.ID]
	if !ok {
		return 0, false, fmt.Errorf("repair %s: %w", e.ID, eventstore.ErrNotFound)
	}
	e = e.WithDefaults()
	ev := &t.s.events[pos-1]
	if ev.Stream != e.Stream || ev.Type != e.Type || ev.Created != e.Created {
		return pos, false, &eventstore.ValidationError{Field: "id",
			Reason: fmt.Sprintf("event %s is stored with another stream, type or timestamp than the hub's copy; not repaired", e.ID)}
	}
	old := *ev
	changed := ev.Schema != e.Schema || !bytes.Equal(ev.Data, e.Data) || !bytes.Equal(ev.Meta, e.Meta) || ev.Origin != e.Origin
	ev.Schema, ev.Data, ev.Meta, ev.Origin, ev.HubPosition = e.Schema, bytes.Clone(e.Data), bytes.Clone(e.Meta), e.Origin, e.HubPosition
	t.onUndo(func() { t.s.events[pos-1] = old })
	return pos, changed, nil
}

// Unacknowledge implements eventstore.Repairer.
func (t *tx) Unacknowledge(ctx context.Context, ids ...string) error {
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("unacknowledge: %w", err)
	}
	for _, id := range ids {
		if pos, ok := t.s.byID[id]; ok {
			t.setHub(pos, 0)
		}
	}
	return nil
}
