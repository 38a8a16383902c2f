package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/hub"
)

// Two devices write while offline, then each syncs once with a hub: both
// end up holding all the events.
func Example() {
	ctx := context.Background()
	secret := []byte("an example secret of 32+ bytes!!")
	hubStore := memory.New(eventstore.Config{Origin: "hub"})
	srv, _ := hub.New(hub.Config{
		Ledgers: hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return hubStore, nil }),
		Secret:  secret,
	})
	web := httptest.NewServer(srv.Handler())
	defer web.Close()
	defer srv.Shutdown(ctx)
	url := "ws" + strings.TrimPrefix(web.URL, "http") + "/sync"

	var devices []client.Store
	var replicators []*client.Replicator
	for _, name := range []string{"laptop", "phone"} {
		store := memory.New(eventstore.Config{Origin: name})
		defer store.Close()
		// Written offline: Append never touches the network.
		_, _ = store.Append(ctx, eventstore.Write{Stream: "list/groceries", Events: []eventstore.Event{
			{Type: "item:added", Data: []byte(`{"item":"milk from ` + name + `"}`)},
		}})
		token, _ := hub.IssueToken(secret, hub.Claims{Tenant: "family", Subject: name, Expiry: time.Now().Add(time.Hour)})
		r, err := client.New(store, client.Config{URL: url, Token: token})
		if err != nil {
			fmt.Println(err)
			return
		}
		devices = append(devices, store)
		replicators = append(replicators, r)
	}

	// laptop pushes; phone pushes and pulls laptop's; laptop pulls phone's.
	for _, r := range append(replicators, replicators[0]) {
		if _, err := r.SyncOnce(ctx); err != nil {
			fmt.Println(err)
			return
		}
	}
	for i, store := range devices {
		n := 0
		for range store.ReadStream(ctx, "list/groceries", eventstore.ReadOptions{}) {
			n++
		}
		st, _ := replicators[i].Status(ctx)
		fmt.Printf("%s: %d events, %d pending\n", st.Device, n, st.Pending)
	}
	// Output:
	// laptop: 2 events, 0 pending
	// phone: 2 events, 0 pending
}

// Status works offline, on a store that never synced: it is what a CLI's
// `status` command prints.
func ExampleReplicator_Status() {
	ctx := context.Background()
	store := memory.New(eventstore.Config{Origin: "laptop"})
	defer store.Close()
	_, _ = store.Append(ctx, eventstore.Write{Stream: "notes/1", Events: []eventstore.Event{{Type: "note:written"}}})

	r, err := client.New(store, client.Config{URL: "wss://hub.example/sync"})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := r.Status(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("device %s, online %v, %d pending, cursor %d, synced %v\n",
		st.Device, st.Online, st.Pending, st.Cursor, !st.LastSync.IsZero())
	// Output:
	// device laptop, online false, 1 pending, cursor 0, synced false
}

// Run keeps a store in sync in the background for as long as the app
// runs; OnProgress feeds a status indicator.
func ExampleReplicator_Run() {
	store := memory.New(eventstore.Config{Origin: "laptop"})
	defer store.Close()
	r, err := client.New(store, client.Config{
		URL: "wss://hub.example/sync",
		TokenFunc: func(ctx context.Context) (string, error) {
			return "a token from your login flow", nil
		},
		OnProgress: func(p client.Progress) {
			if p.Online && !p.CaughtUp && p.Head > p.Since {
				fmt.Printf("catching up: %d%%\n", 100*(p.Cursor-p.Since)/(p.Head-p.Since))
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // on app exit
	go func() { _ = r.Run(ctx) }()
}

// A read model listed in Config.Projectors takes pulled events inside the
// transaction that stores them: once SyncOnce returns, it is up to date
// without its own run having caught up.
func ExampleConfig_projectors() {
	ctx := context.Background()
	secret := []byte("an example secret of 32+ bytes!!")
	hubStore := memory.New(eventstore.Config{Origin: "hub"})
	for _, item := range []string{"milk", "bread", "eggs"} {
		_, _ = hubStore.Append(ctx, eventstore.Write{Stream: "list/groceries", Events: []eventstore.Event{
			{Type: "item:added", Data: []byte(`{"item":"` + item + `"}`)},
		}})
	}
	srv, _ := hub.New(hub.Config{
		Ledgers: hub.LedgerFunc(func(context.Context, string) (hub.Ledger, error) { return hubStore, nil }),
		Secret:  secret,
	})
	web := httptest.NewServer(srv.Handler())
	defer web.Close()
	defer srv.Shutdown(ctx)

	store := memory.New(eventstore.Config{Origin: "phone"})
	defer store.Close()
	h := projector.NewHandlers()
	projector.On(h, "item:added", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d struct{ Item string }) error {
		return eventstore.KeyValuesOf(tx).SetState(ctx, "items/"+d.Item, []byte("on the list")) // the read model, in tx
	})
	items, _ := projector.New("items", store, projector.Options{Handlers: h})
	// Apps also run the projector (go items.Run(ctx)) for their own events.

	token, _ := hub.IssueToken(secret, hub.Claims{Tenant: "family", Subject: "phone", Expiry: time.Now().Add(time.Hour)})
	r, _ := client.New(store, client.Config{
		URL:        "ws" + strings.TrimPrefix(web.URL, "http") + "/sync",
		Token:      token,
		Projectors: []client.Projector{items},
	})
	if _, err := r.SyncOnce(ctx); err != nil {
		fmt.Println(err)
		return
	}
	pos, _ := items.Position(ctx)
	kvs, _ := store.ListState(ctx, "items/")
	fmt.Printf("read model at position %d: %d items\n", pos, len(kvs))
	// Output:
	// read model at position 3: 3 items
}
