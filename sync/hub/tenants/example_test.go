package tenants_test

import (
	"context"
	"fmt"
	"os"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/tenants"
)

// A hub over one SQLite file per tenant, at most 64 of them open at once.
func Example() {
	dir, _ := os.MkdirTemp("", "tenants-example-")
	defer os.RemoveAll(dir)
	pool, err := tenants.SQLite(dir, tenants.Options{MaxOpen: 64})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close() // after the hub's Shutdown
	srv, err := hub.New(hub.Config{Ledgers: pool, Secret: []byte("a secret of at least 16 bytes")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())

	// What the hub does for each connection.
	ledger, release, err := pool.Acquire(context.Background(), "acme")
	if err != nil {
		fmt.Println(err)
		return
	}
	head, _ := ledger.Head(context.Background())
	release()
	fmt.Println("acme head", head, "open", pool.Open(), "file", tenants.File("acme"))
	// Output: acme head 0 open 1 file acme-822b33ad87c148a0.db
}
