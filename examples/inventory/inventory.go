package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ferrysync/ferry"
)

// LowStock is the level under which a withdrawal raises an alert.
const LowStock = 5

// Named is the payload of item:named: an item's display name. Renames are
// last-writer-wins: the latest name is the name, on every device.
type Named struct {
	Name string `json:"name"`
}

// Validate refuses an empty name, on append and on arrival from the hub.
func (n Named) Validate() error {
	if strings.TrimSpace(n.Name) == "" {
		return errors.New("name must not be empty")
	}
	return nil
}

// Adjusted is the payload of item:adjusted: stock added (By > 0) or taken
// (By < 0). Left is the stock this device saw after a withdrawal.
type Adjusted struct {
	By   int `json:"by"`
	Left int `json:"left,omitempty"`
}

// Validate refuses a zero adjustment.
func (a Adjusted) Validate() error {
	if a.By == 0 {
		return errors.New("by must not be 0")
	}
	return nil
}

// The app's two event types. Adjustments are commutative: every one
// counts, in whatever order devices receive them.
var (
	ItemNamed    = ferry.Event[Named]("item:named")
	ItemAdjusted = ferry.Event[Adjusted]("item:adjusted", ferry.Commutative())
)

// stock is the SQL read model: one row per item.
var stock = ferry.Projection{
	Name:   "stock",
	Schema: `CREATE TABLE IF NOT EXISTS stock (item TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', qty INTEGER NOT NULL DEFAULT 0)`,
	Reset:  `DELETE FROM stock`,
	Handlers: []ferry.Handler{
		ferry.On(ItemNamed, func(ctx context.Context, tx *sql.Tx, e ferry.Stored[Named]) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO stock (item, name) VALUES (?, ?)
				ON CONFLICT (item) DO UPDATE SET name = excluded.name`, e.Stream, e.Data.Name)
			return err
		}),
		ferry.On(ItemAdjusted, func(ctx context.Context, tx *sql.Tx, e ferry.Stored[Adjusted]) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO stock (item, qty) VALUES (?, ?)
				ON CONFLICT (item) DO UPDATE SET qty = qty + excluded.qty`, e.Stream, e.Data.By)
			return err
		}),
	},
}

// lowStockAlert is the side effect: a withdrawal that left the stock under
// LowStock appends one line to the alerts file. It runs once, on the
// device that made the withdrawal; the event ID makes a rerun after a
// crash harmless.
func lowStockAlert(path string) ferry.Handler {
	return ferry.Once(ItemAdjusted, "low-stock", func(ctx context.Context, e ferry.Stored[Adjusted]) error {
		if e.Data.By >= 0 || e.Data.Left >= LowStock {
			return nil
		}
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if strings.Contains(string(old), e.ID) {
			return nil // already alerted
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "%s low stock: %s has %d left\n", e.ID, e.Stream, e.Data.Left)
		return errors.Join(err, f.Close())
	})
}

// config is what a device needs to open its inventory.
type config struct {
	db, device, alerts string
	hub, token         string
}

// open opens the device's inventory.
func open(ctx context.Context, c config) (*ferry.App, error) {
	opts := ferry.Options{
		Device:      c.device,
		Projections: []ferry.Projection{stock},
		Effects:     []ferry.Handler{lowStockAlert(c.alerts)},
	}
	opts.Sync.URL, opts.Sync.Token = c.hub, c.token
	return ferry.Open(ctx, c.db, opts)
}

// item is a row of the read model.
type item struct {
	ID, Name string
	Qty      int
}

// list reads the read model.
func list(ctx context.Context, app *ferry.App) ([]item, error) {
	var out []item
	err := app.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT item, name, qty FROM stock ORDER BY item`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.ID, &it.Name, &it.Qty); err != nil {
				return err
			}
			out = append(out, it)
		}
		return rows.Err()
	})
	return out, err
}

// name names an item.
func name(ctx context.Context, app *ferry.App, id, n string) error {
	_, err := app.Append(ctx, "item/"+id, ItemNamed.New(Named{Name: n}))
	return err
}

// adjust adds by to an item's stock (takes, when by < 0), recording what
// this device sees left after a withdrawal.
func adjust(ctx context.Context, app *ferry.App, id string, by int) error {
	left := 0
	if by < 0 {
		err := app.Read(ctx, func(tx *sql.Tx) error {
			err := tx.QueryRowContext(ctx, `SELECT qty FROM stock WHERE item = ?`, "item/"+id).Scan(&left)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		})
		if err != nil {
			return err
		}
		left += by
	}
	_, err := app.Append(ctx, "item/"+id, ItemAdjusted.New(Adjusted{By: by, Left: left}))
	return err
}
