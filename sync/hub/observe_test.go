package hub_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// recorder is a hub.Observer that records what it is told.
type recorder struct {
	mu                    sync.Mutex
	opened                int
	closed                map[protocol.Code]int
	refused               map[hub.RefuseReason]int
	pushes, pushedEvents  int
	pushedBytes           int
	pulled                map[bool]int // events, by live
	pulledBytes           int
	rejected              map[protocol.Code]int
	lags                  []int64
	liveDelays            []time.Duration
	storeOps              map[hub.StoreOp]int
	storeFailed, negative int
}

var _ hub.Observer = (*recorder)(nil)

func newRecorder() *recorder {
	return &recorder{closed: map[protocol.Code]int{}, refused: map[hub.RefuseReason]int{}, pulled: map[bool]int{},
		rejected: map[protocol.Code]int{}, storeOps: map[hub.StoreOp]int{}}
}

func (r *recorder) do(f func()) { r.mu.Lock(); defer r.mu.Unlock(); f() }

func (r *recorder) ConnOpened()                         { r.do(func() { r.opened++ }) }
func (r *recorder) ConnClosed(code protocol.Code)       { r.do(func() { r.closed[code]++ }) }
func (r *recorder) ConnRefused(reason hub.RefuseReason) { r.do(func() { r.refused[reason]++ }) }
func (r *recorder) Rejected(code protocol.Code)         { r.do(func() { r.rejected[code]++ }) }
func (r *recorder) CaughtUp(lag int64, _ time.Duration) {
	r.do(func() { r.lags = append(r.lags, lag) })
}
func (r *recorder) LiveDelay(d time.Duration) {
	r.do(func() { r.liveDelays = append(r.liveDelays, d) })
}
func (r *recorder) Pushed(events, bytes int) {
	r.do(func() { r.pushes++; r.pushedEvents += events; r.pushedBytes += bytes })
}
func (r *recorder) Pulled(live bool, events, bytes int) {
	r.do(func() { r.pulled[live] += events; r.pulledBytes += bytes })
}
func (r *recorder) StoreDone(op hub.StoreOp, d time.Duration, failed bool) {
	r.do(func() {
		r.storeOps[op]++
		if failed {
			r.storeFailed++
		}
		if d < 0 {
			r.negative++
		}
	})
}

// snapshot returns a copy of the counts under the lock.
func (r *recorder) liveCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.liveDelays)
}

// TestObserver drives a hub on every backend and checks what its Observer
// and Stats report: refusals, catch-up lag, pushes, rejections, live
// frames with their delay, store calls, and connections closed.
func TestObserver(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			rec := newRecorder()
			h := newHarness(t, b.open(t), func(c *hub.Config) { c.Observer = rec })
			seed(t, h.stores.must(t, "acme"), newEvents(5, "notes/seed"))

			_, resp, err := dialRaw(h, http.Header{"Authorization": {"Bearer forged"}})
			require.Error(t, err)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			_ = resp.Body.Close()

			a := connect(t, h, token(t, "acme", "notes/"), 0)
			a.catchUp()
			bc := connect(t, h, token(t, "acme"), 3)
			bc.catchUp()
			st := h.srv.Stats()
			assert.Equal(t, 2, st.Conns)
			assert.Equal(t, 1, st.Tenants)
			assert.Equal(t, 2, st.Clients[protocol.Version])
			assert.Positive(t, st.SendBytes)

			ack := a.push("b1", newEvent("notes/1"), newEvent("other/1")) // the second is out of a's scope
			require.Empty(t, ack.Results[0].Code)
			require.Equal(t, protocol.CodeForbiddenStream, ack.Results[1].Code)
			bc.waitPulled(2 + 1)
			// a's Live frame (its own event) and b's may be written in either
			// order: wait for both.
			require.Eventually(t, func() bool { return rec.liveCount() >= 2 }, ioTimeout, time.Millisecond)

			rec.do(func() {
				assert.Equal(t, 1, rec.refused[hub.RefusedUnauthorized])
				assert.Equal(t, 2, rec.opened)
				assert.ElementsMatch(t, []int64{5, 2}, rec.lags)
				assert.Equal(t, 1, rec.pushes)
				assert.Equal(t, 2, rec.pushedEvents)
				assert.Greater(t, rec.pushedBytes, 100)
				assert.Equal(t, map[protocol.Code]int{protocol.CodeForbiddenStream: 1}, rec.rejected)
				assert.Equal(t, 5+2, rec.pulled[false], "catch-up events: 5 to a, 2 to b")
				assert.GreaterOrEqual(t, rec.pulled[true], 2, "live: the stored event to a and b")
				assert.Positive(t, rec.pulledBytes)
				for _, d := range rec.liveDelays {
					assert.Positive(t, d)
					assert.Less(t, d, ioTimeout)
				}
				assert.GreaterOrEqual(t, rec.storeOps[hub.StoreHead], 2)
				assert.GreaterOrEqual(t, rec.storeOps[hub.StoreInsert], 1)
				assert.Zero(t, rec.storeFailed)
				assert.Zero(t, rec.negative)
			})

			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			require.NoError(t, h.srv.Shutdown(ctx))
			assert.Zero(t, h.srv.Stats().Conns)
			assert.True(t, h.srv.Stats().ShuttingDown)
			rec.do(func() { assert.Equal(t, map[protocol.Code]int{protocol.CodeGoingAway: 2}, rec.closed) })
			_, resp, err = dialRaw(h, http.Header{"Authorization": {"Bearer " + token(t, "acme")}})
			require.Error(t, err)
			_ = resp.Body.Close()
			rec.do(func() { assert.Equal(t, 1, rec.refused[hub.RefusedShutdown]) })
		})
	}
}

// TestObserverRefusedBusy checks the refusal reasons of the connection
// bounds.
func TestObserverRefusedBusy(t *testing.T) {
	rec := newRecorder()
	h := memHarness(t, func(c *hub.Config) { c.Observer = rec; c.MaxConnsPerSubject = 1; c.MaxConns = 2 })
	connect(t, h, token(t, "acme"), 0)
	_, resp, err := dialRaw(h, http.Header{"Authorization": {"Bearer " + token(t, "acme")}})
	require.Error(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	_ = resp.Body.Close()
	rec.do(func() { assert.Equal(t, map[hub.RefuseReason]int{hub.RefusedMaxSubject: 1}, rec.refused) })
}

// envBenchMetrics set to 1 makes the benchmarks' hubs count in
// hubmetrics (the Prometheus observer) instead of the no-op default.
const envBenchMetrics = "FERRY_BENCH_METRICS"
