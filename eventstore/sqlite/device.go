package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

// deviceKey is the meta key of the origin the file belongs to: the id
// stamped on its local events, which the hub knows the device by.
const deviceKey = "device"

// generationKey is the meta key of the ledger's generation.
const generationKey = "generation"

// claimGeneration returns the file's generation id, recording a new one
// when the file has none (it was just created, or predates generations).
func claimGeneration(ctx context.Context, tx *sql.Tx) (string, error) {
	var gen string
	err := tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", generationKey).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		gen = eventstore.NewID()
		_, err = tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?)", generationKey, gen)
	}
	if err != nil {
		return "", fmt.Errorf("load generation: %w", mapErr(err))
	}
	return gen, nil
}

// claimOrigin returns the origin the store stamps on local events: the one
// the file belongs to, recorded on first open. configured (Config.Origin)
// may name it again or be empty; naming another is an *OriginError, since
// a device that changed its id would look like a new device to the hub and
// its events would carry two names. A file written before the origin was
// recorded belongs to the origin of its latest local event, if it has one.
// generated is the origin of a file that has none of these.
func claimOrigin(ctx context.Context, tx *sql.Tx, configured, generated string) (string, error) {
	var stored string
	err := tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", deviceKey).Scan(&stored)
	recorded := err == nil
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, "SELECT origin FROM events WHERE hydrated = 0 ORDER BY position DESC LIMIT 1").Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("load device origin: %w", mapErr(err))
	}
	if stored != "" && configured != "" && stored != configured {
		return "", &eventstore.OriginError{Stored: stored, Configured: configured}
	}
	origin := cmp.Or(configured, stored, generated)
	if !recorded {
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?)", deviceKey, origin); err != nil {
			return "", fmt.Errorf("record device origin: %w", mapErr(err))
		}
	}
	return origin, nil
}
