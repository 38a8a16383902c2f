// Command inventory is the smallest complete offline-first app on Ferry:
// warehouses keep stock offline and sync through a hub. Two event types
// (item:named, last-writer-wins; item:adjusted, commutative), a SQL read
// model, one side effect (a low-stock alert, on the device that made the
// withdrawal, once) and sync, through package ferry alone.
//
//	go run ./cmd/syncd &
//	export FERRY_TOKEN=$(go run ./cmd/syncd token --tenant demo --subject me)
//	go run ./examples/inventory --db a.db --device warehouse-a name nuts "Hazelnuts"
//	go run ./examples/inventory --db a.db add nuts 10
//	go run ./examples/inventory --db a.db take nuts 6    # alert: 4 left
//	go run ./examples/inventory --db a.db sync
//	go run ./examples/inventory --db b.db --device warehouse-b sync
//	go run ./examples/inventory --db b.db list
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "inventory:", err)
		os.Exit(1)
	}
}

const usage = "usage: inventory [flags] name ITEM NAME | add ITEM N | take ITEM N | list | sync | rebuild"

// run runs one command line.
func run(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("inventory", flag.ContinueOnError)
	var c config
	fs.StringVar(&c.db, "db", "inventory.db", "the device's database file")
	fs.StringVar(&c.device, "device", "", "device name, fixed at the database's first use")
	fs.StringVar(&c.alerts, "alerts", "", "low-stock alerts file (default: beside the database)")
	fs.StringVar(&c.hub, "hub", "ws://127.0.0.1:8080/sync", "the hub's WebSocket URL")
	fs.StringVar(&c.token, "token", os.Getenv("FERRY_TOKEN"), "sync token (env FERRY_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.alerts == "" {
		c.alerts = c.db + ".alerts"
	}
	args = fs.Args()
	if len(args) == 0 {
		return fmt.Errorf("%s", usage)
	}
	app, err := open(ctx, c)
	if err != nil {
		return err
	}
	defer app.Close()
	switch cmd := args[0]; {
	case cmd == "name" && len(args) == 3:
		err = name(ctx, app, args[1], args[2])
	case (cmd == "add" || cmd == "take") && len(args) == 3:
		n, perr := strconv.Atoi(args[2])
		if perr != nil || n <= 0 {
			return fmt.Errorf("%s %s: want a positive count, got %q", cmd, args[1], args[2])
		}
		if cmd == "take" {
			n = -n
		}
		err = adjust(ctx, app, args[1], n)
	case cmd == "list" && len(args) == 1:
		items, lerr := list(ctx, app)
		for _, it := range items {
			fmt.Fprintf(w, "%-12s %-20q %d\n", it.ID, it.Name, it.Qty)
		}
		return lerr
	case cmd == "sync" && len(args) == 1:
		res, serr := app.Sync(ctx)
		fmt.Fprintf(w, "pushed %d, pulled %d, rejected %d\n", res.Pushed, res.Pulled, len(res.Rejections))
		return serr
	case cmd == "rebuild" && len(args) == 1:
		return app.Rebuild(ctx)
	default:
		return fmt.Errorf("%s", usage)
	}
	if err != nil {
		return err
	}
	return app.CatchUp(ctx) // the read model and the alert, before exiting
}
