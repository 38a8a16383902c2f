package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// A hub over in-memory tenant stores, a token, and one client exchange:
// hello, welcome, push, ack.
func Example() {
	secret := []byte("a secret of at least 16 bytes")
	acme := memory.New(eventstore.Config{Origin: "hub"})
	defer acme.Close()
	srv, err := hub.New(hub.Config{
		Secret: secret,
		NodeID: "node-1",
		Ledgers: hub.LedgerFunc(func(_ context.Context, tenant string) (hub.Ledger, error) {
			if tenant != "acme" {
				return nil, fmt.Errorf("unknown tenant %q", tenant)
			}
			return acme, nil
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Shutdown(context.Background())

	// The token names the tenant and the device, and may narrow the streams.
	tok, _ := hub.IssueToken(secret, hub.Claims{Tenant: "acme", Subject: "laptop-1",
		Streams: []string{"task/"}, Expiry: time.Now().Add(time.Hour)})
	claims, _ := hub.VerifyToken(secret, tok)
	fmt.Println("token for", claims.Tenant, claims.Subject, claims.Streams)

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/sync",
		http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ws.Close()
	send := func(m protocol.Message) {
		frame, _ := protocol.Encode(m)
		_ = ws.WriteMessage(websocket.TextMessage, frame)
	}
	recv := func() protocol.Message {
		_, frame, _ := ws.ReadMessage()
		m, _ := protocol.Decode(frame, protocol.Limits{})
		return m
	}

	send(&protocol.Hello{Versions: protocol.Versions(), Client: "laptop-1", Cursor: 0})
	w := recv().(*protocol.Welcome)
	fmt.Println("welcome from", w.Node, "tenant", w.Tenant, "head", w.Head)
	fmt.Println("caught up:", recv().Type() == protocol.TypeCaughtUp)

	now := protocol.Timestamp(eventstore.TimestampOf(time.Now()))
	send(&protocol.Push{Batch: "b1", Events: []protocol.Event{
		{ID: eventstore.NewID(), Stream: "task/1", Type: "task:created", Data: []byte(`{"title":"milk"}`),
			Created: now, Origin: "laptop-1"},
		{ID: eventstore.NewID(), Stream: "mail/1", Type: "mail:sent",
			Created: now, Origin: "laptop-1"},
	}})
	for {
		if ack, ok := recv().(*protocol.Ack); ok {
			for _, r := range ack.Results {
				if r.Rejected() {
					fmt.Println("rejected:", r.Code)
				} else {
					fmt.Println("hub position", r.HubPosition)
				}
			}
			break
		}
	}
	// Output:
	// token for acme laptop-1 [task/]
	// welcome from node-1 tenant acme head 0
	// caught up: true
	// hub position 1
	// rejected: forbidden_stream
}

// Issuing a token for a device, as `syncd token` does.
func ExampleIssueToken() {
	secret := []byte("a secret of at least 16 bytes")
	tok, err := hub.IssueToken(secret, hub.Claims{Tenant: "acme", Subject: "phone-7", Expiry: time.Now().Add(24 * time.Hour)})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("segments:", strings.Count(tok, ".")+1)

	// A token signed with another secret is refused.
	_, err = hub.VerifyToken([]byte("some other secret, 16+ bytes"), tok)
	fmt.Println(err != nil)
	// Output:
	// segments: 3
	// true
}
