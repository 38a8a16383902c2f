package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// pushLoop stores the pushes the reader decoded, in order, until the
// reader closes c.pushes. Pushes already waiting when the pusher turns to
// the queue are stored together, in one Insert (one transaction): a client
// keeping several pushes in flight pays for one commit per group rather
// than per push. After a failure it discards the rest: the connection is
// closing.
func (c *conn) pushLoop() {
	defer close(c.pushDone)
	ok := true
	group := make([]*protocol.Push, 0, pushQueue+1)
	for m := range c.pushes {
		group = append(group[:0], m)
	take:
		for len(group) <= pushQueue {
			select {
			case m, open := <-c.pushes:
				if !open {
					break take
				}
				group = append(group, m)
			default:
				break take
			}
		}
		if ok {
			ok = c.push(group)
		}
		clear(group)
	}
}

// push stores a group of pushes (batches of client events) and queues
// their Acks, in order. It reports false when the connection must end.
//
// Events outside the token's scope are rejected one by one; the others are
// inserted idempotently by ID in one call, so a re-sent batch is acked with
// the positions the events were first stored at (an ID repeated within the
// group is acked as a duplicate of its first occurrence, as it would be in
// separate calls). When the store refuses the call because of one event
// (its type, payload or clock), the events are inserted one at a time so
// that only the culprits are rejected.
func (c *conn) push(group []*protocol.Push) bool {
	c.pushMu.Lock()
	defer c.pushMu.Unlock()
	if c.draining {
		return true // shutting down: not stored, not acked; the client re-sends
	}
	// Pushes finish even when the connection is closing; only a hard stop
	// of the server cancels them.
	ctx := c.s.baseCtx
	n := 0
	for _, m := range group {
		n += len(m.Events)
	}
	all := make([]protocol.AckResult, n) // the results of every push, in order
	events := make([]eventstore.Event, 0, n)
	index := make([]int, 0, n)           // events[j] is the event of all[index[j]]
	bounds := make([]int, 0, len(group)) // the events of push i end at bounds[i]
	k := 0
	now := c.s.cfg.Now()
	for _, m := range group {
		for _, e := range m.Events {
			all[k].ID = e.ID
			if !c.scope.writable(e.Stream) {
				all[k].Code = protocol.CodeForbiddenStream
				all[k].Reason = "stream outside the token's scope"
			} else if ahead := c.ahead(e, now); ahead > 0 {
				c.tooEarly(&all[k], ahead)
			} else {
				events = append(events, protocol.ToStored(e))
				index = append(index, k)
			}
			k++
		}
		bounds = append(bounds, len(events))
	}
	if len(events) > 0 {
		c.recent.begin()
		ok := c.insert(ctx, events, index, bounds, all) && c.checkDuplicates(ctx, events, index, all)
		c.recent.end(c.stored(events, index, all), c)
		if !ok {
			return false
		}
		var acked int64
		for i := range all {
			if all[i].Code == "" {
				acked = max(acked, all[i].HubPosition)
			}
		}
		c.recent.acked(c, acked)
	}
	for i := range all {
		if all[i].Code != "" {
			c.s.obs.Rejected(all[i].Code)
		}
	}
	c.noteResults(group, all)
	k = 0
	for _, m := range group {
		results := all[k : k+len(m.Events) : k+len(m.Events)]
		k += len(m.Events)
		c.log.Debug("push", slog.String("batch", m.Batch), slog.Int("events", len(m.Events)))
		if c.send(ctx, &protocol.Ack{Batch: m.Batch, Results: results}) != nil {
			return false
		}
	}
	return true
}

// insert stores events and records the outcome of events[j] in
// results[index[j]]. When the store refuses the call because of an event,
// the pushes (whose events end at bounds) are inserted one by one, and the
// events of a refused push one at a time. It reports false (after asking
// for the close) on a storage failure.
func (c *conn) insert(ctx context.Context, events []eventstore.Event, index, bounds []int, results []protocol.AckResult) bool {
	res, err := c.storeInsert(ctx, events...)
	switch {
	case err == nil:
		for j, r := range res {
			results[index[j]] = accepted(r)
		}
		return true
	case rejection(err) == "":
		c.internal("insert", err)
		return false
	}
	if len(bounds) > 1 {
		start := 0
		for _, end := range bounds {
			if end > start && !c.insert(ctx, events[start:end], index[start:end], []int{end - start}, results) {
				return false
			}
			start = end
		}
		return true
	}
	for j, e := range events {
		res, err := c.storeInsert(ctx, e)
		if err != nil {
			code := rejection(err)
			if code == "" {
				c.internal("insert", err)
				return false
			}
			var de *eventstore.ClockDriftError
			if errors.As(err, &de) {
				c.tooEarly(&results[index[j]], retryIn(de.RetryAfter().Milliseconds()))
				continue
			}
			results[index[j]].Code = code
			results[index[j]].Reason = reason(err)
			continue
		}
		results[index[j]] = accepted(res[0])
	}
	return true
}

// storeInsert calls the ledger's Insert, timed for the Observer.
func (c *conn) storeInsert(ctx context.Context, events ...eventstore.Event) ([]eventstore.InsertResult, error) {
	start := time.Now()
	res, err := c.store.Insert(ctx, events...)
	c.s.obs.StoreDone(StoreInsert, time.Since(start), err != nil && rejection(err) == "")
	return res, err
}

// checkDuplicates makes sure that every pushed event the store reported as
// a duplicate (results[index[j]] for events[j]) is a copy of the stored one,
// as a re-sent push is: the same content (eventstore.SameContent). An ID already
// taken by another event is rejected with CodeIDConflict instead of acked,
// so that a pusher never learns the hub position of an event it did not
// write (one in another stream, possibly outside its token's scope), and a
// buggy or hostile peer cannot leave two replicas holding different events
// under one ID. The stored events
// are read in runs of consecutive positions (a re-sent batch is one run).
// It reports false (after asking for the close) on a storage failure.
func (c *conn) checkDuplicates(ctx context.Context, events []eventstore.Event, index []int, results []protocol.AckResult) bool {
	var dups []int // indexes into events
	for j := range events {
		if r := results[index[j]]; r.Duplicate && r.Code == "" {
			dups = append(dups, j)
		}
	}
	if len(dups) == 0 {
		return true
	}
	pos := func(j int) int64 { return results[index[j]].HubPosition }
	slices.SortFunc(dups, func(a, b int) int { return cmp.Compare(pos(a), pos(b)) })
	stored := make(map[int64]eventstore.Event, len(dups))
	for i := 0; i < len(dups); {
		first, last := pos(dups[i]), pos(dups[i])
		for i++; i < len(dups) && pos(dups[i]) <= last+1; i++ {
			last = pos(dups[i])
		}
		for e, err := range c.store.ReadAll(ctx, first-1, int(last-first+1)) {
			if err != nil {
				c.internal("check duplicates", err)
				return false
			}
			stored[e.Position] = e
		}
	}
	for _, j := range dups {
		e, r := events[j], &results[index[j]]
		s, ok := stored[r.HubPosition]
		if !ok || !eventstore.SameContent(s, e) {
			*r = protocol.AckResult{ID: e.ID, Code: protocol.CodeIDConflict, Reason: "the id is taken by an event with other content"}
		}
	}
	return true
}

// stored returns, for the recent log, copies of the events an insert
// stored (results[index[j]] tells the fate of events[j]) with their
// positions; nil when the connection has no recent log.
func (c *conn) stored(events []eventstore.Event, index []int, results []protocol.AckResult) []eventstore.Event {
	if c.recent == nil {
		return nil
	}
	var out []eventstore.Event
	for j, e := range events {
		if r := results[index[j]]; r.Code == "" && !r.Duplicate && r.HubPosition > 0 {
			if out == nil {
				out = make([]eventstore.Event, 0, len(events)-j)
			}
			e.Position = r.HubPosition
			out = append(out, e)
		}
	}
	if out == nil {
		return nil
	}
	return ownData(out)
}

// accepted returns the ack of a stored (or already stored) event.
func accepted(r eventstore.InsertResult) protocol.AckResult {
	return protocol.AckResult{ID: r.Event.ID, HubPosition: r.Event.Position, Duplicate: !r.Inserted}
}

// rejection returns the per-event rejection code for an Insert error, or ""
// when the error is not about an event (storage failure).
func rejection(err error) protocol.Code {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ""
	case errors.Is(err, eventstore.ErrClockDrift):
		return protocol.CodeClockDrift
	case errors.Is(err, eventstore.ErrUnknownEventType):
		return protocol.CodeUnknownType
	case errors.Is(err, eventstore.ErrInvalidEvent):
		return protocol.CodeInvalidEvent
	}
	return ""
}

// reason returns err's message cut to protocol.MaxReasonBytes.
func reason(err error) string {
	s := err.Error()
	if len(s) <= protocol.MaxReasonBytes {
		return s
	}
	i := protocol.MaxReasonBytes
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}

// deferMargin is added to a deferred event's retry hint, so that the
// event is acceptable when it comes back.
const deferMargin = time.Second

// ahead returns how far e's Created is beyond the hub's clock drift
// tolerance at now (0 or less: within it).
func (c *conn) ahead(e protocol.Event, now time.Time) time.Duration {
	if c.s.cfg.MaxClockDrift < 0 {
		return 0
	}
	limit := now.Add(c.s.cfg.MaxClockDrift).UnixMilli()
	return retryIn(eventstore.Timestamp(e.Created).Millis() - limit)
}

// retryIn returns ms milliseconds as a Duration, at most the longest retry
// hint the protocol carries (protocol.MaxRetryAfterMS), so an event stamped
// centuries ahead neither overflows the Duration nor asks for a hint the
// client must refuse: it is deferred a day at a time.
func retryIn(ms int64) time.Duration {
	return time.Duration(min(ms, protocol.MaxRetryAfterMS)) * time.Millisecond
}

// tooEarly answers an event stamped ahead beyond the tolerance: deferred
// with a retry hint on protocol version 2 (the client keeps it and pushes
// it again), rejected with CodeClockDrift on version 1 (what version-1
// clients understand).
func (c *conn) tooEarly(r *protocol.AckResult, ahead time.Duration) {
	if c.version < 2 {
		r.Code = protocol.CodeClockDrift
		r.Reason = reason(fmt.Errorf("created %s beyond the hub's clock drift tolerance of %s", ahead, c.s.cfg.MaxClockDrift))
		return
	}
	r.Code = protocol.CodeDeferred
	r.RetryAfterMS = min((ahead + deferMargin).Milliseconds(), protocol.MaxRetryAfterMS)
	r.Reason = reason(fmt.Errorf("created %s beyond the hub's clock drift tolerance of %s; push it again later", ahead, c.s.cfg.MaxClockDrift))
}
