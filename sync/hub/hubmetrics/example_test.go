package hubmetrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/hubmetrics"
)

// Example wires a hub's metrics: the Metrics observer in hub.Config, a
// private registry, and /metrics on an admin mux of its own.
func Example() {
	store := memory.New(eventstore.Config{Origin: "hub"})
	defer store.Close()
	m := hubmetrics.New()
	srv, err := hub.New(hub.Config{
		Ledgers:  hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return store, nil }),
		Secret:   []byte("0123456789abcdef0123456789abcdef"),
		Observer: m,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	reg, err := hubmetrics.NewRegistry(m, srv)
	if err != nil {
		fmt.Println(err)
		return
	}
	admin := http.NewServeMux() // not the public mux, not http.DefaultServeMux
	admin.Handle("/metrics", hubmetrics.Handler(reg))
	ts := httptest.NewServer(admin)
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for l := range strings.Lines(string(body)) {
		if strings.HasPrefix(l, "ferry_hub_connections_open ") || strings.HasPrefix(l, "ferry_hub_outbound_budget_bytes ") {
			fmt.Print(l)
		}
	}
	// Output:
	// ferry_hub_connections_open 0
	// ferry_hub_outbound_budget_bytes 6.7108864e+07
}
