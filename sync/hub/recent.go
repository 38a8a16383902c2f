package hub

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferrysync/ferry/eventstore"
)

// Bounds of the recent logs.
const (
	// recentEvents bounds the events one recent log holds.
	recentEvents = 4096
	// recentBytes bounds the memory one recent log holds (see eventSize).
	recentBytes = 4 << 20
	// recentTotalBytes bounds the memory of all the recent logs of a
	// Server, give or take one log: a log whose events take the total over
	// it is emptied (its readers read the store).
	recentTotalBytes = 64 << 20
)

// eventSize is what an event held in a recent log counts for.
func eventSize(e *eventstore.Event) int {
	return 192 + len(e.ID) + len(e.Stream) + len(e.Type) + len(e.Origin) + len(e.Data) + len(e.Meta)
}

// recentLog holds the events this node stored last for one tenant: a run
// of the ledger with consecutive positions, each event as the store holds
// it. The tenant's connections on this node take their live events from it
// instead of each reading them back from the store; whatever it does not
// hold (older events, and events stored through other nodes or by pushes
// whose run does not continue it) they read from the store as before.
//
// It only holds committed events (a push adds them after Insert returned),
// and a reader takes events from it only from exactly its cursor+1 on, so
// what a connection sends stays gap-free and in hub order.
type recentLog struct {
	mu     sync.RWMutex
	events []eventstore.Event // positions events[0].Position, +1, +2, ...
	bytes  int                // the eventSize of events
	total  *atomic.Int64      // the bytes of all the Server's logs; may be nil

	pending int           // inserts in progress on this node
	changed chan struct{} // closed (and replaced) when an insert ends

	store eventstore.Store // the store whose positions these are
	users int              // under Server.recentMu: connections using it
}

// awaitPending bounds how long a reader waits for an insert in progress
// (see await).
const awaitPending = 100 * time.Millisecond

// begin records an insert in progress; end must follow. r may be nil.
func (r *recentLog) begin() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.pending++
	r.mu.Unlock()
}

// end records the end of an insert, adding the events it stored (as add
// does), and wakes the readers waiting in await. r may be nil.
func (r *recentLog) end(stored []eventstore.Event) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending--
	r.add(stored)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// await is called by a reader woken by a commit after cursor that the log
// does not hold: the commit may be an insert of this node whose end has not
// come yet. When an insert is in progress, await waits for one insert to
// end (or awaitPending, or ctx), so that the reader can take the events
// from the log rather than from the store; when the events came from
// elsewhere, the reader reads them from the store a little later.
func (r *recentLog) await(ctx context.Context, cursor int64) {
	r.mu.Lock()
	if r.pending == 0 || r.holds(cursor+1) {
		r.mu.Unlock()
		return
	}
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	ch := r.changed
	r.mu.Unlock()
	t := time.NewTimer(awaitPending)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

// holds reports whether the log holds position p (r.mu held).
func (r *recentLog) holds(p int64) bool {
	return len(r.events) > 0 && p >= r.events[0].Position && p <= r.events[len(r.events)-1].Position
}

// add appends events (r.mu held), stored at the ascending positions in
// their Position fields; the caller gives up their Data and Meta, which
// must not alias any other memory. When an event does not continue the run
// held, the run restarts with it. The oldest events are dropped beyond
// recentEvents or recentBytes.
func (r *recentLog) add(events []eventstore.Event) {
	if len(events) == 0 {
		return
	}
	before := r.bytes
	for i := range events {
		e := &events[i]
		if n := len(r.events); n > 0 && r.events[n-1].Position+1 != e.Position {
			r.reset()
		}
		r.events = append(r.events, *e)
		r.bytes += eventSize(e)
	}
	drop, bytes := 0, r.bytes
	for drop < len(r.events) && (len(r.events)-drop > recentEvents || bytes > recentBytes) {
		bytes -= eventSize(&r.events[drop])
		drop++
	}
	if drop > 0 {
		n := copy(r.events, r.events[drop:])
		clear(r.events[n:])
		r.events, r.bytes = r.events[:n], bytes
	}
	if r.total != nil && r.total.Add(int64(r.bytes-before)) > recentTotalBytes {
		r.total.Add(-int64(r.bytes))
		r.reset()
	}
}

// reset empties the log (r.mu held), without accounting for r.total.
func (r *recentLog) reset() {
	clear(r.events)
	r.events, r.bytes = r.events[:0], 0
}

// each calls yield with the events from position after+1 on, in order,
// until yield returns false. It reports whether it held after+1 (false:
// read the store).
func (r *recentLog) each(after int64, yield func(e eventstore.Event) bool) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.holds(after + 1) {
		return false
	}
	for _, e := range r.events[after+1-r.events[0].Position:] {
		if !yield(e) {
			break
		}
	}
	return true
}

// ownData moves the Data and Meta of events into one new buffer (out of
// the decoded frames they came from, which a recent log would otherwise
// keep alive) and returns events.
func ownData(events []eventstore.Event) []eventstore.Event {
	n := 0
	for _, e := range events {
		n += len(e.Data) + len(e.Meta)
	}
	buf := make([]byte, 0, n)
	for i := range events {
		e := &events[i]
		start := len(buf)
		buf = append(buf, e.Data...)
		e.Data = buf[start:len(buf):len(buf)]
		start = len(buf)
		buf = append(buf, e.Meta...)
		e.Meta = buf[start:len(buf):len(buf)]
	}
	return events
}

// acquireRecent returns the recent log of tenant's store, or nil when the
// store cannot be told apart from another (not comparable) or the tenant's
// log belongs to another store that is still in use. Each non-nil result
// is released with releaseRecent.
func (s *Server) acquireRecent(tenant string, store eventstore.Store) *recentLog {
	if store == nil || !reflect.TypeOf(store).Comparable() {
		return nil
	}
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	r := s.recent[tenant]
	switch {
	case r == nil || r.users == 0 && r.store != store:
		r = &recentLog{store: store, total: &s.recentTotal}
		s.recent[tenant] = r
	case r.store != store:
		return nil
	}
	r.users++
	return r
}

// releaseRecent gives back a log from acquireRecent; the last user's
// release drops it.
func (s *Server) releaseRecent(tenant string, r *recentLog) {
	if r == nil {
		return
	}
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	r.users--
	if r.users == 0 && s.recent[tenant] == r {
		delete(s.recent, tenant)
		r.mu.Lock()
		s.recentTotal.Add(-int64(r.bytes))
		r.reset()
		r.mu.Unlock()
	}
}
