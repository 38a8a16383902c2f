package hub

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferrysync/ferry/sync/protocol"
)

// The bookkeeping behind Inspect (inspect.go): a few atomics per
// connection, updated on paths that already do far more work (a frame
// read, a batch sent, a push stored), and a small ring of rejections per
// tenant, touched only when a push has a rejected or deferred event. None
// of it allocates per event.

// Bounds of the rejection rings.
const (
	// rejectRing is the number of rejections kept per tenant: the latest.
	rejectRing = 32
	// maxRejectTenants bounds the tenants with a ring; a new one replaces
	// the ring written least recently.
	maxRejectTenants = 1024
)

// connStats is what a connection counts for Inspect.
type connStats struct {
	cursor   atomic.Int64 // the hub position the puller has sent the client up to (from Hello.Cursor)
	seen     atomic.Int64 // unix nanoseconds of the last frame or pong from the client
	pushed   atomic.Int64 // events pushed on this connection
	rejected atomic.Int64 // of them, rejected for good
	deferred atomic.Int64 // of them, deferred (pushed again later)
}

// heard records that the client was heard from now.
func (st *connStats) heard() { st.seen.Store(time.Now().UnixNano()) }

// Rejection is a pushed event the hub refused (or deferred), as Inspect
// reports it.
type Rejection struct {
	// At is when the hub answered the push, by the hub's clock.
	At time.Time `json:"at"`
	// Client and Subject name the pushing device and its token's subject.
	Client  string `json:"client"`
	Subject string `json:"subject"`
	// ID, Stream and Type are the event's.
	ID     string `json:"id"`
	Stream string `json:"stream"`
	Type   string `json:"type"`
	// Code and Reason are the AckResult's.
	Code   protocol.Code `json:"code"`
	Reason string        `json:"reason"`
	// Deferred is true for protocol.CodeDeferred: the device pushes the
	// event again later.
	Deferred bool `json:"deferred"`
}

// rejections is a tenant's ring of the latest rejections.
type rejections struct {
	ring  [rejectRing]Rejection
	next  int   // the slot the next rejection takes
	total int64 // rejections recorded since the ring was made
	at    int64 // unix nanoseconds of the last write, for eviction
}

// latest returns the ring's rejections, the latest first.
func (r *rejections) latest() []Rejection {
	n := min(int(r.total), rejectRing)
	out := make([]Rejection, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.ring[(r.next-i+rejectRing)%rejectRing])
	}
	return out
}

// inspectState is the Server's bookkeeping for Inspect; its zero value is
// ready.
type inspectState struct {
	mu      sync.Mutex
	rejects map[string]*rejections // by tenant
}

// noteResults counts a stored group of pushes (all holds the results of
// their events, in order) and records its rejections. It allocates only
// for a rejection, and takes a lock only then.
func (c *conn) noteResults(group []*protocol.Push, all []protocol.AckResult) {
	var rejected, deferred int64
	for i := range all {
		switch {
		case all[i].Deferred():
			deferred++
		case all[i].Rejected():
			rejected++
		}
	}
	c.stats.pushed.Add(int64(len(all)))
	if rejected+deferred == 0 {
		return
	}
	c.stats.rejected.Add(rejected)
	c.stats.deferred.Add(deferred)
	client := ""
	if c.info != nil { // set by the handshake, before the pusher started
		client = c.info.Client
	}
	now := c.s.cfg.Now()
	st := &c.s.insp
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.ring(c.claims.Tenant, now)
	k := 0
	for _, m := range group {
		for _, e := range m.Events {
			if res := &all[k]; res.Code != "" {
				r.ring[r.next] = Rejection{At: now, Client: client, Subject: c.claims.Subject, ID: e.ID, Stream: e.Stream,
					Type: e.Type, Code: res.Code, Reason: res.Reason, Deferred: res.Deferred()}
				r.next = (r.next + 1) % rejectRing
				r.total++
			}
			k++
		}
	}
}

// ring returns tenant's ring, making it (and evicting the ring written
// least recently when there are maxRejectTenants) when it has none
// (st.mu held).
func (st *inspectState) ring(tenant string, now time.Time) *rejections {
	if st.rejects == nil {
		st.rejects = make(map[string]*rejections)
	}
	r := st.rejects[tenant]
	if r == nil {
		if len(st.rejects) >= maxRejectTenants {
			oldest, at := "", int64(0)
			for t, x := range st.rejects {
				if oldest == "" || x.at < at {
					oldest, at = t, x.at
				}
			}
			delete(st.rejects, oldest)
		}
		r = &rejections{}
		st.rejects[tenant] = r
	}
	r.at = now.UnixNano()
	return r
}

// tenantRejections returns tenant's latest rejections, the latest first,
// and how many were recorded in all.
func (st *inspectState) tenantRejections(tenant string) ([]Rejection, int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.rejects[tenant]
	if r == nil {
		return nil, 0
	}
	return r.latest(), r.total
}

// rejectionTotals returns the rejections recorded, by tenant.
func (st *inspectState) rejectionTotals() map[string]int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]int64, len(st.rejects))
	for t, r := range st.rejects {
		out[t] = r.total
	}
	return out
}
