package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/pgtest"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/protocol"
)

const (
	benchEvents = 10_000 // per iteration
	benchBatch  = 500    // events per push
	benchWindow = 8      // pushes in flight
)

// BenchmarkPushPostgres measures one client pushing 10,000 events to a
// PostgreSQL hub, end to end (every event acked, and pulled back live by
// the pusher, as a real client does), against the raw baseline measured in
// the same run: pgx batches of the same rows into a plain table, one
// transaction per 500. It reports events/s, raw rows/s and their ratio
// x_raw.
func BenchmarkPushPostgres(b *testing.B) {
	ctx := context.Background()
	db := openPostgres(b, testSchema(b))
	stores := newTenantStores(b, func(tenant string) (eventstore.Store, error) { return db.Store(tenant, eventstore.Config{}) })
	h := newHarness(b, stores, nil)
	rawTable := pgtest.NewRawTable(b, db.Pool(), db.Schema())

	ws, resp, err := websocket.DefaultDialer.Dial(h.url(), http.Header{"Authorization": {"Bearer " + token(b, "acme")}})
	require.NoError(b, err)
	_ = resp.Body.Close()
	defer ws.Close()
	c := &client{t: b, ws: ws}
	c.send(&protocol.Hello{Versions: []int{1}, Client: "bench"})
	_, err = c.recv()
	require.NoError(b, err)

	// One reader goroutine counts acks and pulled events.
	acks := make(chan int, 1024)
	pulled := make(chan int, 1024)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, frame, err := ws.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			m, err := protocol.Decode(frame, protocol.Limits{})
			if err != nil {
				readErr <- err
				return
			}
			switch m := m.(type) {
			case *protocol.Ack:
				acks <- len(m.Results)
			case *protocol.Live:
				pulled <- len(m.Events)
			case *protocol.Events:
				pulled <- len(m.Events)
			}
		}
	}()

	clock := eventstore.NewClock()
	var hubTime, raw time.Duration
	iterations := 0
	for b.Loop() {
		stored := testutil.BenchEvents(clock, benchEvents)
		events := make([]protocol.Event, benchEvents)
		for i, e := range stored {
			events[i] = protocol.FromStored(e)
		}

		start := time.Now()
		for i := 0; i < len(stored); i += benchBatch {
			require.NoError(b, rawTable.Insert(ctx, stored[i:i+benchBatch]))
		}
		raw += time.Since(start)

		start = time.Now()
		inFlight, acked, back := 0, 0, 0
		for i := 0; i < len(events); i += benchBatch {
			for inFlight >= benchWindow {
				acked += waitCount(b, acks, readErr)
				inFlight--
			}
			frame, err := protocol.Encode(&protocol.Push{Batch: fmt.Sprint("b", i), Events: events[i : i+benchBatch]})
			require.NoError(b, err)
			require.NoError(b, ws.WriteMessage(websocket.TextMessage, frame))
			inFlight++
		}
		for acked < len(events) {
			acked += waitCount(b, acks, readErr)
		}
		for back < len(events) {
			back += waitCount(b, pulled, readErr)
		}
		hubTime += time.Since(start)
		iterations++
	}
	n := float64(iterations * benchEvents)
	hubRate, rawRate := n/hubTime.Seconds(), n/raw.Seconds()
	b.ReportMetric(hubRate, "events/s")
	b.ReportMetric(rawRate, "raw_rows/s")
	b.ReportMetric(hubRate/rawRate, "x_raw")
}

func waitCount(b *testing.B, ch <-chan int, errc <-chan error) int {
	select {
	case n := <-ch:
		return n
	case err := <-errc:
		b.Fatal(err)
	case <-time.After(time.Minute):
		b.Fatal("timed out")
	}
	return 0
}
