package ferry_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/eventstore"
)

// Adjusted is the payload of item:adjusted.
type Adjusted struct {
	By int `json:"by"`
}

// Validate runs on every append: a zero adjustment is refused.
func (a Adjusted) Validate() error {
	if a.By == 0 {
		return eventstore.FieldError("by", "must not be 0")
	}
	return nil
}

// ItemAdjusted is additive: every adjustment counts on every device.
var ItemAdjusted = ferry.Event[Adjusted]("item:adjusted", ferry.Commutative())

// An app with a SQL read model and a side effect, used offline.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "ferry-example-")
	defer os.RemoveAll(dir)

	stock := ferry.Projection{
		Name:   "stock",
		Schema: `CREATE TABLE IF NOT EXISTS stock (item TEXT PRIMARY KEY, qty INTEGER NOT NULL)`,
		Reset:  `DELETE FROM stock`,
		Handlers: []ferry.Handler{
			ferry.On(ItemAdjusted, func(ctx context.Context, tx *sql.Tx, e ferry.Stored[Adjusted]) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO stock (item, qty) VALUES (?, ?)
					ON CONFLICT (item) DO UPDATE SET qty = qty + excluded.qty`, e.Stream, e.Data.By)
				return err
			}),
		},
	}
	lowStock := ferry.Once(ItemAdjusted, "low-stock", func(ctx context.Context, e ferry.Stored[Adjusted]) error {
		if e.Data.By < 0 {
			fmt.Println("alert: stock of", e.Stream, "went down by", -e.Data.By)
		}
		return nil
	})
	app, err := ferry.Open(ctx, filepath.Join(dir, "app.db"), ferry.Options{
		Device:      "warehouse-a",
		Projections: []ferry.Projection{stock},
		Effects:     []ferry.Handler{lowStock},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer app.Close()

	_, _ = app.Append(ctx, "item/nuts", ItemAdjusted.New(Adjusted{By: 10}))
	_, _ = app.Append(ctx, "item/nuts", ItemAdjusted.New(Adjusted{By: -3}))
	_, err = app.Append(ctx, "item/nuts", ItemAdjusted.New(Adjusted{By: 0}))
	fmt.Println("invalid:", errors.Is(err, eventstore.ErrInvalidEvent))
	if err := app.CatchUp(ctx); err != nil { // a one-shot command settles before it exits
		fmt.Println(err)
	}

	var qty int
	err = app.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT qty FROM stock WHERE item = 'item/nuts'`).Scan(&qty)
	})
	fmt.Println("nuts:", qty, err)
	// Output:
	// invalid: true
	// alert: stock of item/nuts went down by 3
	// nuts: 7 <nil>
}
