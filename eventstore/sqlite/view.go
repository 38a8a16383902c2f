package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
)

// View runs fn in a read-only transaction on the store's read pool: a
// consistent snapshot of the file as of the transaction's first read, for
// reading read models kept in the same database without taking the writer.
// The connections are query-only, so a write through tx fails. fn's error
// is returned as it is. tx must not be used after fn returns, nor committed
// or rolled back by fn.
func (s *Store) View(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: view: %w", err)
	}
	defer func() {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) && err == nil {
			err = fmt.Errorf("sqlite: view: %w", rerr)
		}
	}()
	return fn(tx)
}
