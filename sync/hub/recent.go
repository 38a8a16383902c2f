package hub

import (
	"context"
	"reflect"
	"slices"
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

	store Ledger // the store whose positions these are
	users int    // under Server.recentMu: connections using it

	head     int64              // the highest position known committed
	headAt   atomic.Int64       // unix nanoseconds head was learned (set under mu)
	headErr  error              // the watcher's last Store.Wait failure
	parked   map[*conn]struct{} // live connections waiting for the head to change (park)
	ackWait  map[*conn]int64    // connections whose client waits for the head to reach a position they acked (acked)
	readers  readerIndex        // the live connections by what they read (wakeFor)
	flushing bool               // a wake of the parked connections a commit skipped is scheduled (wakeFor)
	watchCtx context.Context    // the watcher's context
	stop     context.CancelFunc // stops the watcher
	watching bool               // the watcher was started
	watched  chan struct{}      // closed when the started watcher returned

	frameMu sync.Mutex
	frames  [liveFrames]liveFrame // Live frames encoded lately, by range
	frameAt int                   // the slot the next frame takes
}

// liveFrames is the number of encoded Live frames a recent log keeps for
// the tenant's other connections.
const liveFrames = 4

// liveFrame is an encoded Live message of the events after..next of the
// log, sent to connections that may read every stream.
type liveFrame struct {
	after, next int64
	frame       []byte
}

// awaitPending bounds how long a reader waits for an insert in progress
// (see await).
const awaitPending = 100 * time.Millisecond

// watchRetry is how long the watcher waits after a failed Store.Wait.
const watchRetry = time.Second

// watch follows the store's head for every connection of the tenant on
// this node, so that a commit wakes one Store.Wait (and one head query)
// rather than one per connection. It returns when ctx ends (the last
// connection released the log, or the server stopped).
func (r *recentLog) watch(ctx context.Context) {
	var after int64
	for {
		h, err := r.store.Wait(ctx, after)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			r.settle(ctx, h)
		}
		var learned []eventstore.Event
		if err == nil && after > 0 && h > after && h-after <= watchReadMax && r.quiet(after) {
			learned = r.readCommitted(ctx, after, h)
		}
		r.mu.Lock()
		if ctx.Err() != nil {
			// Stopped while reading (checked under r.mu): the last
			// release may have emptied the log and given its bytes back;
			// adding to it now would count them in the Server's total
			// for ever.
			r.mu.Unlock()
			return
		}
		changed := err != nil || r.headErr != nil // an error to report, or one to clear
		if err != nil {
			r.headErr = err
		} else {
			r.headErr = nil
			if h > r.head { // commits of other nodes or processes (this node's came through end)
				old := r.head
				r.head = h
				r.headAt.Store(time.Now().UnixNano())
				if old == after && learned != nil { // no commit of this node came in between
					r.add(learned)
					r.wakeFor(old, learned, nil)
				} else {
					changed = true
				}
			}
			after = r.head
		}
		if changed {
			r.wake()
		}
		r.mu.Unlock()
		if err != nil {
			select {
			case <-time.After(watchRetry):
			case <-ctx.Done():
				return
			}
		}
	}
}

// settle lets an insert of this node that is in progress end when the
// head h the watcher read is past the log's: h may be that insert's
// commit, which the store reported before the insert returned, and which
// its end announces to the connections it concerns; the watcher would
// otherwise take it for other nodes' commits and resume every parked
// connection. It waits for one insert to end, at most awaitPending (as
// await does for a reader).
func (r *recentLog) settle(ctx context.Context, h int64) {
	r.awaitInsert(ctx, func() bool { return r.head >= h })
}

// awaitInsert waits for one insert of this node in progress to end (or
// awaitPending, or ctx), unless none is in progress or done reports, under
// r.mu, that there is nothing to wait for.
func (r *recentLog) awaitInsert(ctx context.Context, done func() bool) {
	r.mu.Lock()
	if r.pending == 0 || done() {
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

// watchReadMax bounds the commits of other nodes the watcher reads at once
// (see readCommitted); past it, every live connection is resumed and each
// reads what it wants.
const watchReadMax = 500

// quiet reports whether the log's head is still after and no insert of
// this node is in progress: then the commits the watcher saw after it are
// other nodes' (this node's own come through end).
func (r *recentLog) quiet(after int64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.head == after && r.pending == 0
}

// readCommitted returns the events at positions after+1..head, which other
// nodes committed, so that the watcher resumes only the connections they
// concern and those read them from the log rather than each from the
// store; nil when the read fails or does not return exactly those, or
// when they take more than the log keeps (recentBytes): the log would drop
// the first of them, which the connections then read from the store
// anyway.
func (r *recentLog) readCommitted(ctx context.Context, after, head int64) []eventstore.Event {
	events := make([]eventstore.Event, 0, head-after)
	size := 0
	for e, err := range r.store.ReadAll(ctx, after, int(head-after)) {
		if err != nil || e.Position != after+int64(len(events))+1 {
			return nil
		}
		if size += eventSize(&e); size > recentBytes {
			return nil
		}
		events = append(events, e)
	}
	if int64(len(events)) != head-after {
		return nil
	}
	return ownData(events)
}

// wake resumes the parked connections (r.mu held).
func (r *recentLog) wake() {
	r.resumeAcked()
	for c := range r.parked {
		go c.resume()
	}
	clear(r.parked)
}

// skipFlush is how long a live connection that a commit does not concern
// may stay parked before it is resumed anyway, to move its client's cursor
// past the commit (an empty Live message).
// A variable for tests.
var skipFlush = time.Second

// wakeFor is wake after this node stored events, which took the head from
// old to r.head, for connection by (r.mu held). When the events are every
// position after old, only the parked connections whose scope takes one of
// their streams, and by (its client waits for its cursor to pass what it
// pushed), are resumed at once; the others are resumed together within
// skipFlush (one flush for any number of commits), so a commit costs the
// connections it does not concern nothing rather than a goroutine, a
// frame and a write: the readers index finds those it concerns by the
// commit's streams, without looking at the others.
func (r *recentLog) wakeFor(old int64, stored []eventstore.Event, by *conn) {
	n := 0
	for i := range stored {
		if stored[i].Position > old {
			n++
		}
	}
	if int64(n) != r.head-old { // other nodes' commits may be among them: wake everyone
		r.wake()
		return
	}
	streams := make([]string, 0, 4)
	for i := range stored {
		if s := stored[i].Stream; stored[i].Position > old && !slices.Contains(streams, s) {
			streams = append(streams, s)
		}
	}
	r.resumeParked(by)
	r.resumeAcked()
	r.readers.each(streams, r.resumeParked)
	if len(r.parked) > 0 && !r.flushing {
		r.flushing = true
		time.AfterFunc(skipFlush, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.flushing = false
			r.wake()
		})
	}
}

// startWatch starts the watcher, once, for the first live reader (r.mu
// held).
func (r *recentLog) startWatch() {
	if !r.watching {
		r.watching, r.watched = true, make(chan struct{})
		go func() { defer close(r.watched); r.watch(r.watchCtx) }()
	}
}

// park returns the highest position known committed when it is after
// cursor (ok), or the watcher's failure. Otherwise it parks c: c.resume
// runs on a new goroutine at the next change of the head, unless unpark
// takes c out first.
func (r *recentLog) park(c *conn, cursor int64) (head int64, err error, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := c.ctx.Err(); err != nil {
		// Checked under r.mu: the connection's end (unpark, after its
		// context is done) either finds c parked or is seen here.
		return 0, err, false
	}
	r.startWatch()
	if r.head > cursor {
		return r.head, nil, true
	}
	if r.headErr != nil {
		return 0, r.headErr, false
	}
	c.parkedAt = cursor
	if r.parked == nil {
		r.parked = make(map[*conn]struct{})
	}
	r.parked[c] = struct{}{}
	return 0, nil, false
}

// resumeParked resumes c if it is parked (r.mu held).
func (r *recentLog) resumeParked(c *conn) {
	if _, ok := r.parked[c]; ok {
		delete(r.parked, c)
		go c.resume()
	}
}

// follow adds live connection c to the readers index, and forget takes it
// out when it ends.
func (r *recentLog) follow(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.readers.add(c)
}

func (r *recentLog) forget(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.readers.remove(c)
	delete(r.ackWait, c)
}

// acked is called once a push of by has been stored, pos being the
// highest position its ack holds (a duplicate's included). by's client
// waits for its cursor to pass pos, which a commit that did not concern
// by's scope may hold (another connection's, or another node's that this
// node has not learned yet): by is resumed now when it is parked before
// pos and the head is past pos, else by the commit that takes the head to
// pos. r may be nil.
func (r *recentLog) acked(by *conn, pos int64) {
	if r == nil || pos <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if pos > r.head {
		if r.ackWait == nil {
			r.ackWait = make(map[*conn]int64)
		}
		r.ackWait[by] = max(r.ackWait[by], pos)
		return
	}
	if _, ok := r.parked[by]; ok && by.parkedAt < pos {
		r.resumeParked(by)
	}
}

// resumeAcked resumes the parked connections of ackWait whose acked
// position the head has reached (r.mu held); a connection that is not
// parked sees the head when it parks next.
func (r *recentLog) resumeAcked() {
	for c, pos := range r.ackWait {
		if pos <= r.head {
			delete(r.ackWait, c)
			r.resumeParked(c)
		}
	}
}

// unpark takes c out of the parked connections, and reports whether it was
// there (then c.resume will not run).
func (r *recentLog) unpark(c *conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.parked[c]
	delete(r.parked, c)
	return ok
}

// frame returns the encoded Live message of the log's events after..next
// (for a connection that reads every stream), encoding it with build the
// first time: each live event is encoded once for all the tenant's
// connections on this node rather than once per connection.
func (r *recentLog) frame(after, next int64, build func() ([]byte, error)) ([]byte, error) {
	r.frameMu.Lock()
	defer r.frameMu.Unlock()
	for _, f := range r.frames {
		if f.frame != nil && f.after == after && f.next == next {
			return f.frame, nil
		}
	}
	b, err := build()
	if err != nil {
		return nil, err
	}
	r.frames[r.frameAt] = liveFrame{after: after, next: next, frame: b}
	r.frameAt = (r.frameAt + 1) % liveFrames
	return b, nil
}

// begin records an insert in progress; end must follow. r may be nil.
func (r *recentLog) begin() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.pending++
	r.mu.Unlock()
}

// end records the end of an insert by connection by (nil: none), adding
// the events it stored (as add does), and wakes the readers waiting in
// await and the live connections that want the events (see wakeFor). r
// may be nil.
func (r *recentLog) end(stored []eventstore.Event, by *conn) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending--
	r.add(stored)
	old, woke := r.head, false
	for i := range stored {
		// Committed: the readers need not wait for the watcher to learn
		// it from the store. Positions are assigned in commit order, so
		// every position up to it is committed too.
		if p := stored[i].Position; p > r.head {
			r.head, woke = p, true
		}
	}
	if woke {
		r.headAt.Store(time.Now().UnixNano())
		r.wakeFor(old, stored, by)
	}
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
	r.awaitInsert(ctx, func() bool { return r.holds(cursor + 1) })
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
func (s *Server) acquireRecent(tenant string, store Ledger) *recentLog {
	if store == nil || !reflect.TypeOf(store).Comparable() {
		return nil
	}
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	r := s.recent[tenant]
	switch {
	case r == nil || r.users == 0 && r.store != store:
		if r != nil && r.stop != nil {
			r.stop()
		}
		ctx, stop := context.WithCancel(s.baseCtx)
		r = &recentLog{store: store, total: &s.recentTotal, watchCtx: ctx, stop: stop}
		s.recent[tenant] = r
	case r.store != store:
		return nil
	}
	r.users++
	return r
}

// releaseRecent gives back a log from acquireRecent; the last user's
// release drops it and returns once its watcher has stopped using the
// store, so that the caller may release the store.
func (s *Server) releaseRecent(tenant string, r *recentLog) {
	if r == nil {
		return
	}
	s.recentMu.Lock()
	r.users--
	var watched chan struct{}
	if r.users == 0 && s.recent[tenant] == r {
		delete(s.recent, tenant)
		r.stop()
		r.mu.Lock()
		s.recentTotal.Add(-int64(r.bytes))
		r.reset()
		watched = r.watched
		r.mu.Unlock()
	}
	s.recentMu.Unlock()
	if watched != nil {
		<-watched
	}
}
