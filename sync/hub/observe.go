package hub

import (
	"net/http"
	"time"

	"github.com/ferrysync/ferry/sync/protocol"
)

// Observer receives what the hub does, for metrics (sync/hub/hubmetrics
// exports them to Prometheus). The hub calls it on its hot paths, from
// many goroutines at once: an implementation must be safe for concurrent
// use, cheap (an atomic add) and must never block. Its arguments carry no
// tenant, device or stream, so that what it records stays bounded.
// Config.Observer nil means NopObserver.
type Observer interface {
	// ConnOpened is called when a connection is upgraded and admitted.
	ConnOpened()
	// ConnClosed is called when an opened connection has ended; code is
	// the protocol error the hub closed it with ("" when none: the
	// client left, or the socket failed).
	ConnClosed(code protocol.Code)
	// ConnRefused is called when a request for /sync is refused before
	// the upgrade.
	ConnRefused(reason RefuseReason)
	// Pushed is called for each Push message read: its events and the
	// bytes of its frame.
	Pushed(events, bytes int)
	// Pulled is called for each Events (catch-up) or Live message queued
	// for a client: its events and the bytes of its frame.
	Pulled(live bool, events, bytes int)
	// Rejected is called for each pushed event the hub did not store,
	// with the code of its AckResult (protocol.CodeDeferred included).
	Rejected(code protocol.Code)
	// CaughtUp is called when a connection has sent its backlog: lag is
	// the events the ledger held beyond the client's cursor at Hello
	// (before scope filtering), took the time from Hello to CaughtUp.
	CaughtUp(lag int64, took time.Duration)
	// LiveDelay is called when a Live frame has been written to the
	// socket: the time since its events were known committed on this
	// node (their push's insert returned, or the node saw the ledger's
	// head pass them).
	LiveDelay(d time.Duration)
	// StoreDone is called after a call to a tenant's Ledger (Head,
	// Insert, a page of ReadAll) with its duration; failed reports an
	// error other than a rejected event.
	StoreDone(op StoreOp, took time.Duration, failed bool)
}

// RefuseReason says why a request for /sync was refused before the
// upgrade.
type RefuseReason string

// The reasons a request is refused.
const (
	RefusedUnauthorized RefuseReason = "unauthorized" // token missing, forged or expired (401)
	RefusedForbidden    RefuseReason = "forbidden"    // tenant parameter differs from the token's (403)
	RefusedNotWebSocket RefuseReason = "not_websocket"
	RefusedShutdown     RefuseReason = "shutdown"    // the node is shutting down (503)
	RefusedMaxConns     RefuseReason = "max_conns"   // Config.MaxConns reached (503)
	RefusedMaxSubject   RefuseReason = "max_subject" // Config.MaxConnsPerSubject reached (429)
	RefusedStore        RefuseReason = "store"       // the tenant's ledger could not be acquired (503)
	RefusedUpgrade      RefuseReason = "upgrade"     // the WebSocket upgrade failed
)

// StoreOp names a Ledger call for Observer.StoreDone.
type StoreOp string

// The Ledger calls the hub times.
const (
	StoreHead    StoreOp = "head"
	StoreInsert  StoreOp = "insert"
	StoreReadAll StoreOp = "read_all" // one page
)

// NopObserver is an Observer that records nothing: the default.
type NopObserver struct{}

var _ Observer = NopObserver{}

// ConnOpened implements Observer.
func (NopObserver) ConnOpened() {}

// ConnClosed implements Observer.
func (NopObserver) ConnClosed(protocol.Code) {}

// ConnRefused implements Observer.
func (NopObserver) ConnRefused(RefuseReason) {}

// Pushed implements Observer.
func (NopObserver) Pushed(int, int) {}

// Pulled implements Observer.
func (NopObserver) Pulled(bool, int, int) {}

// Rejected implements Observer.
func (NopObserver) Rejected(protocol.Code) {}

// CaughtUp implements Observer.
func (NopObserver) CaughtUp(int64, time.Duration) {}

// LiveDelay implements Observer.
func (NopObserver) LiveDelay(time.Duration) {}

// StoreDone implements Observer.
func (NopObserver) StoreDone(StoreOp, time.Duration, bool) {}

// Stats is a snapshot of a Server's state, for gauges: see Server.Stats.
type Stats struct {
	// Conns is the connections open now (upgraded, not yet ended).
	Conns int
	// Clients is the connections that have said Hello, by negotiated
	// protocol version.
	Clients map[int]int
	// Tenants is the tenants with at least one connection on this node.
	Tenants int
	// OutboundBytes is the bytes of outbound frames held now, against
	// SendBytes (Config.SendBytes): the hub's memory budget.
	OutboundBytes int64
	SendBytes     int64
	// RecentBytes is the memory the tenants' recent logs hold (bounded
	// at 64 MiB, give or take one log).
	RecentBytes int64
	// MaxConns is Config.MaxConns (negative: no bound).
	MaxConns int
	// ShuttingDown reports that Shutdown has begun.
	ShuttingDown bool
}

// Stats returns a snapshot of the server's state. It takes the server's
// lock once and walks its connections: call it when scraping, not per
// event.
func (s *Server) Stats() Stats {
	st := Stats{
		Clients:       make(map[int]int),
		OutboundBytes: s.out.load(),
		SendBytes:     s.out.max,
		RecentBytes:   s.recentTotal.Load(),
		MaxConns:      s.cfg.MaxConns,
	}
	tenants := make(map[string]struct{})
	s.mu.Lock()
	st.Conns = len(s.conns)
	st.ShuttingDown = s.closing
	for c := range s.conns {
		tenants[c.claims.Tenant] = struct{}{}
		if c.info != nil {
			st.Clients[c.info.Version]++
		}
	}
	s.mu.Unlock()
	st.Tenants = len(tenants)
	return st
}

// refusedBusy returns the reason for a connection admit refused with
// status.
func refusedBusy(status int) RefuseReason {
	if status == http.StatusTooManyRequests {
		return RefusedMaxSubject
	}
	return RefusedMaxConns
}
