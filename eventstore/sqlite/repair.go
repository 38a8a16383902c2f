package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

var _ eventstore.Repairer = (*Tx)(nil)

// RepairEvent implements eventstore.Repairer.
func (tx *Tx) RepairEvent(ctx context.Context, e eventstore.Event) (int64, bool, error) {
	if tx.done {
		return 0, false, errTxDone
	}
	e = e.WithDefaults()
	created, err := createdValue(e.Created)
	if err != nil {
		return 0, false, err
	}
	var (
		pos, storedCreated  int64
		stream, typ, origin string
		schema              int
		data, meta          []byte
	)
	err = tx.tx.QueryRowContext(ctx, `SELECT position, stream, type, schema, data, meta, created, origin FROM events WHERE id = ?`, e.ID).
		Scan(&pos, &stream, &typ, &schema, &data, &meta, &storedCreated, &origin)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("repair %s: %w", e.ID, eventstore.ErrNotFound)
	}
	if err != nil {
		return 0, false, fmt.Errorf("repair %s: %w", e.ID, mapErr(err))
	}
	if stream != e.Stream || typ != e.Type || storedCreated != created {
		return pos, false, &eventstore.ValidationError{Field: "id",
			Reason: fmt.Sprintf("event %s is stored with another stream, type or timestamp than the hub's copy; not repaired", e.ID)}
	}
	changed := schema != e.Schema || !bytes.Equal(data, e.Data) || !bytes.Equal(meta, e.Meta) || origin != e.Origin
	_, err = tx.tx.ExecContext(ctx, `UPDATE events SET schema = ?, data = ?, meta = ?, origin = ?, hub_position = ? WHERE position = ?`,
		e.Schema, []byte(e.Data), []byte(e.Meta), e.Origin, e.HubPosition, pos)
	if err != nil {
		return 0, false, fmt.Errorf("repair %s: %w", e.ID, mapErr(err))
	}
	tx.writes++
	return pos, changed, nil
}

// Unacknowledge implements eventstore.Repairer.
func (tx *Tx) Unacknowledge(ctx context.Context, ids ...string) error {
	if tx.done {
		return errTxDone
	}
	for _, id := range ids {
		if _, err := tx.tx.ExecContext(ctx, `UPDATE events SET hub_position = 0 WHERE id = ?`, id); err != nil {
			return fmt.Errorf("unacknowledge %s: %w", id, mapErr(err))
		}
		tx.writes++
	}
	return nil
}
