package inspector_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/inspector"
)

// Example mounts the inspector of a hub at /inspector/ on an admin mux,
// with an admin token, and reads its snapshot endpoint.
func Example() {
	store := memory.New(eventstore.Config{Origin: "hub"})
	defer store.Close()
	srv, err := hub.New(hub.Config{
		Ledgers: hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return store, nil }),
		Secret:  []byte("an example secret of 32+ bytes!!"),
		NodeID:  "node-1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())

	admin := http.NewServeMux()
	admin.Handle("/inspector/", http.StripPrefix("/inspector", inspector.Handler(srv, inspector.WithToken("admin-token"))))
	web := httptest.NewServer(admin)
	defer web.Close()

	for _, path := range []string{"/inspector/api/snapshot", "/inspector/api/snapshot?token=admin-token"} {
		res, err := http.Get(web.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		fmt.Println(res.StatusCode, len(b) > 0)
	}
	// Output:
	// 401 true
	// 200 true
}
