package hub

import (
	"context"
	"errors"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// maxScanPages bounds the ledger pages one pulled message may scan past
// events outside the client's scope before it is sent (possibly empty, to
// advance the client's cursor).
const maxScanPages = 8

// pull streams the ledger after cursor to the client: the backlog as
// Events messages, then CaughtUp, then Live messages as events commit. It
// returns when the connection ends.
//
// The ledger is read with Store.ReadAll in pages of MaxEventsPerBatch, one
// message at a time and only while the connection holds fewer than
// ConnSendBytes outbound bytes, so a connection holds at most that plus
// one message however large the backlog. Hub positions come from the store's ledger,
// which every backend assigns in commit order, so following it with
// "position > cursor" never skips an event.
//
// Live, a connection with a recent log parks between commits: no goroutine
// of its own waits for the next one (see follow).
func (c *conn) pull(cursor int64) {
	parked := false
	defer func() {
		if !parked {
			close(c.pullDone)
		}
	}()
	ctx := c.ctx
	if err := c.startDigest(ctx, cursor); err != nil {
		c.pullFailed(err)
		return
	}
	if err := c.startScoped(ctx, cursor); err != nil {
		c.pullFailed(err)
		return
	}
	cursor, err := c.drain(ctx, cursor, 0)
	if err != nil {
		c.pullFailed(err)
		return
	}
	if err := c.send(ctx, c.caughtUp(cursor)); err != nil {
		return
	}
	c.s.obs.CaughtUp(c.lag, time.Since(c.helloAt))
	c.live.Store(true)
	if c.recent != nil {
		// A parked puller is ended here: nothing else runs for it.
		c.recent.follow(c)
		context.AfterFunc(ctx, func() {
			c.recent.forget(c)
			if c.recent.unpark(c) {
				close(c.pullDone)
			}
		})
	}
	parked = c.follow(cursor)
}

// follow sends Live messages as events commit after cursor, until the
// connection ends (false) or it parks (true). With a recent log it parks
// when nothing is left to send: it registers with the log and returns, and
// the log's next commit runs resume on a new goroutine. An idle connection
// so costs no goroutine (and no stack) for its pulls: thousands of devices
// that keep their app open are mostly that. Without a recent log it waits
// in Store.Wait.
func (c *conn) follow(cursor int64) bool {
	ctx := c.ctx
	for {
		var head int64
		if c.recent != nil {
			h, err, ok := c.recent.park(c, cursor)
			if err != nil {
				c.pullFailed(err)
				return false
			}
			if !ok {
				return true // resume goes on
			}
			head = h
		} else {
			h, err := c.store.Wait(ctx, cursor)
			if err != nil {
				c.pullFailed(err)
				return false
			}
			head = h
		}
		c.committed = c.headSince()
		if c.recent != nil {
			c.recent.await(ctx, cursor)
		}
		var err error
		if cursor, err = c.drain(ctx, cursor, head); err != nil {
			c.pullFailed(err)
			return false
		}
	}
}

// resume goes on following after a commit woke a parked connection; it
// runs on a goroutine of its own.
func (c *conn) resume() {
	if !c.follow(c.parkedAt) {
		close(c.pullDone)
	}
}

// headSince returns, in unix nanoseconds, since when the head follow
// learned last has been known committed: when the recent log learned it
// (a push's insert returned, or its watcher saw the head pass), else now.
func (c *conn) headSince() int64 {
	if c.recent != nil {
		if at := c.recent.headAt.Load(); at != 0 {
			return at
		}
	}
	return time.Now().UnixNano()
}

// pullFailed ends the connection after a failed read, unless the failure
// is the connection ending.
func (c *conn) pullFailed(err error) {
	if c.ctx.Err() != nil || errors.Is(err, errConnClosed) || errors.Is(err, protocol.ErrSlowConsumer) {
		return
	}
	c.internal("pull", err)
}

// drain sends every event after cursor, up to the head, as Events messages
// (catch-up, head 0) or Live messages (head is the head Store.Wait
// reported), and returns the cursor reached. Each batch is read only once
// its frame's outbound bytes are charged (see charge), so the ledger is
// read as fast as the client drains its socket, and no faster.
func (c *conn) drain(ctx context.Context, cursor, head int64) (int64, error) {
	live := head > 0
	for {
		n, err := c.charge(ctx, int64(c.s.limits.MaxFrameBytes))
		if err != nil {
			return cursor, err
		}
		events, next, more, fromLog, err := c.readBatch(ctx, cursor)
		if err != nil {
			c.uncharge(n)
			return cursor, err
		}
		if c.folding && !live {
			for _, e := range events {
				c.digest.Add(protocol.ToStored(e), e.HubPosition)
			}
		}
		if next <= cursor {
			c.uncharge(n)
		} else {
			frame, err := c.encodeBatch(events, cursor, next, live, fromLog)
			c.keepBatchBuffer(events)
			if err != nil {
				c.uncharge(n)
				c.internal("encode", err)
				return cursor, err
			}
			f := outFrame{frame: frame, charge: n}
			if live {
				f.committed = c.committed
			}
			c.s.obs.Pulled(live, len(events), len(frame))
			if err := c.enqueueFrame(ctx, f); err != nil {
				return cursor, err
			}
			cursor = next
			c.stats.cursor.Store(next)
		}
		if !more || live && cursor >= head {
			return cursor, nil
		}
	}
}

// encodeBatch encodes the events after..next as an Events message, or a
// Live one when live: from the tenant's recent log (fromLog) for a
// connection that reads every stream, the same bytes for every such
// connection of the tenant.
func (c *conn) encodeBatch(events []protocol.Event, after, next int64, live, fromLog bool) ([]byte, error) {
	list := events
	if len(list) == 0 {
		list = nil // sent as null, as always
	}
	var m protocol.Message = &protocol.Events{Events: list, Cursor: next}
	if !live {
		return protocol.Encode(m)
	}
	m = &protocol.Live{Events: list, Cursor: next}
	if fromLog && c.scope.all() {
		return c.recent.frame(after, next, func() ([]byte, error) { return protocol.Encode(m) })
	}
	return protocol.Encode(m)
}

// maxKeptBatch is the capacity up to which the puller keeps its batch
// buffer between batches.
const maxKeptBatch = 1024

// keepBatchBuffer keeps events' array for the next batch, without the
// payloads it refers to.
func (c *conn) keepBatchBuffer(events []protocol.Event) {
	clear(events)
	if cap(events) <= maxKeptBatch {
		c.pbuf = events[:0]
	} else {
		c.pbuf = nil
	}
}

// readBatch reads the events after cursor that fit one message (under the
// limits, sized with protocol.BatchSizer) and are in the client's scope,
// from the tenant's recent log when it holds cursor+1, else from the
// store. It returns them with their hub positions set, the cursor they
// advance to (past skipped out-of-scope events too), whether the ledger may
// hold more after it, and whether they came from the recent log.
func (c *conn) readBatch(ctx context.Context, cursor int64) (events []protocol.Event, next int64, more, fromLog bool, err error) {
	page := c.s.limits.MaxEventsPerBatch
	sizer := protocol.BatchSizer{Limits: c.s.limits}
	if c.scoped != nil && cursor < c.scoped.head { // scoped.go
		events, next, err = c.scopedBatch(ctx, cursor, page, &sizer)
		if err != nil {
			return nil, cursor, false, false, err
		}
		return events, next, true, false, nil
	}
	c.scoped = nil
	next = cursor
	events = c.pbuf[:0]
	if c.recent != nil {
		n, ended := 0, false
		held := c.recent.each(cursor, func(e eventstore.Event) bool {
			if ended = c.until > 0 && e.Position > c.until; ended || n == page {
				return false
			}
			n++
			if !c.scope.readable(e.Stream) {
				next = e.Position
				return true
			}
			w := protocol.FromStored(e)
			w.HubPosition = e.Position
			if !sizer.Add(w) {
				return false // re-read by the next batch
			}
			events = append(events, w)
			next = e.Position
			return true
		})
		if held {
			return events, next, !ended, true, nil
		}
	}
	for range maxScanPages {
		n, full := 0, false
		start := time.Now()
		for e, err := range c.store.ReadAll(ctx, next, page) {
			if err != nil {
				c.s.obs.StoreDone(StoreReadAll, time.Since(start), true)
				return nil, cursor, false, false, err
			}
			n++
			if c.until > 0 && e.Position > c.until {
				c.s.obs.StoreDone(StoreReadAll, time.Since(start), false)
				return events, next, false, false, nil
			}
			if !c.scope.readable(e.Stream) {
				next = e.Position
				continue
			}
			w := protocol.FromStored(e)
			w.HubPosition = e.Position
			if !sizer.Add(w) {
				full = true // re-read by the next batch
				break
			}
			events = append(events, w)
			next = e.Position
		}
		c.s.obs.StoreDone(StoreReadAll, time.Since(start), false)
		if full {
			return events, next, true, false, nil
		}
		if n < page {
			return events, next, false, false, nil
		}
	}
	return events, next, true, false, nil
}
