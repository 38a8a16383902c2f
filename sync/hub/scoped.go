package hub

import (
	"container/heap"
	"context"
	"iter"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Scoped catch-up. A client that pulls some streams only (subscriptions,
// Hello.Streams) is caught up from its streams alone when the ledger can
// read one stream in position order (streamReader: the memory, SQLite and
// PostgreSQL stores; SQLite hubs keep a (stream, position) index for it):
// the streams its prefixes cover are listed once, each is read after the
// cursor in pages, and the pages are merged by position. The hub then
// reads about one row per event it sends, where reading the tenant's
// ledger in position order and filtering would read every row. Up to the
// head at the start of the catch-up; what commits after it is read the
// usual way (a few events), and live events come from the recent log.

// streamReader is the optional capability of a Ledger that scoped
// catch-ups use.
type streamReader interface {
	// ReadStreamAfter yields stream's events at positions after after, in
	// position order, at most limit.
	ReadStreamAfter(ctx context.Context, stream string, after int64, limit int) iter.Seq2[eventstore.Event, error]
	// ListStreams lists stream names by prefix.
	ListStreams(ctx context.Context, opts eventstore.ListOptions) ([]eventstore.StreamInfo, error)
}

// maxScopedStreams bounds the streams a scoped catch-up merges; a scope
// covering more is read the usual way.
const maxScopedStreams = 20_000

// scopedPage is how many events of one stream a scoped catch-up reads at
// once.
const scopedPage = 256

// scopedRead is a connection's scoped catch-up in progress.
type scopedRead struct {
	head    int64         // reads positions up to head
	streams streamCursors // the streams with events left, by their next position
	rows    int64         // rows read from the ledger, for tests
	cache   *streamDigests
	ledger  string // the cache's key of the tenant and generation
}

// streamCursor is one stream of a scoped catch-up: its events read and
// not sent yet.
type streamCursor struct {
	stream string
	buf    []eventstore.Event
	after  int64             // read up to here
	done   bool              // nothing left up to head beyond buf
	whole  bool              // read from the stream's start: d is its digest up to after
	d      eventstore.Digest // with whole
}

// streamCursors is a min-heap of streams by their next event's position.
type streamCursors []*streamCursor

func (h streamCursors) Len() int           { return len(h) }
func (h streamCursors) Less(i, j int) bool { return h[i].buf[0].Position < h[j].buf[0].Position }
func (h streamCursors) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *streamCursors) Push(x any)        { *h = append(*h, x.(*streamCursor)) }
func (h *streamCursors) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// startScoped sets up a scoped catch-up from cursor, when the connection
// pulls some streams only and the ledger can read them one by one.
func (c *conn) startScoped(ctx context.Context, cursor int64) error {
	sr, ok := c.store.(streamReader)
	if !ok || len(c.scope.pull) == 0 {
		return nil
	}
	head := c.helloHead // the streams are listed after it was read: every one with events up to it
	if c.until > 0 {
		head = min(head, c.until)
	}
	if head <= cursor {
		return nil
	}
	names, ok, err := c.scopeNames(ctx)
	if err != nil || !ok {
		return err // too many streams: read the ledger the usual way
	}
	sc := &scopedRead{head: head, cache: &c.s.digests.streams, ledger: c.claims.Tenant + "\x00" + c.generation}
	for _, name := range names {
		cur := &streamCursor{stream: name, after: cursor, whole: cursor == 0}
		if err := sc.fill(ctx, sr, cur); err != nil {
			return err
		}
		if len(cur.buf) > 0 {
			sc.streams = append(sc.streams, cur)
		}
	}
	heap.Init(&sc.streams)
	c.scoped = sc
	return nil
}

// streamNames lists the streams of a narrow scope; ok is false when there
// are too many.
type streamNames func(ctx context.Context) (names []string, ok bool, err error)

// scopeNames lists the streams of c's scope once per connection, for its
// catch-up digest and its scoped catch-up alike.
func (c *conn) scopeNames(ctx context.Context) ([]string, bool, error) {
	if !c.listed {
		sr, ok := c.store.(streamReader)
		if !ok {
			return nil, false, nil
		}
		var err error
		if c.names, c.namesOK, err = scopeStreams(ctx, sr, c.scope); err != nil {
			return nil, false, err
		}
		c.listed = true
	}
	return c.names, c.namesOK, nil
}

// scopeStreams lists the streams of scope sc (which pulls some streams
// only); ok is false when there are more than maxScopedStreams.
func scopeStreams(ctx context.Context, sr streamReader, sc scope) (names []string, ok bool, err error) {
	if len(sc.pull) > maxListedPrefixes {
		return listAllStreams(ctx, sr, sc)
	}
	for _, p := range sc.pull {
		after := ""
		for {
			page, err := sr.ListStreams(ctx, eventstore.ListOptions{Prefix: p, After: after, Limit: 1000})
			if err != nil {
				return nil, false, err
			}
			for _, si := range page {
				if sc.readable(si.Name) {
					names = append(names, si.Name)
				}
			}
			if len(names) > maxScopedStreams {
				return nil, false, nil
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].Name
		}
	}
	return names, true, nil
}

// maxListedPrefixes is how many prefixes a scope's streams are listed by,
// one query each; a scope of more (a device subscribed to thousands of
// streams) is matched against one listing of the tenant's streams.
const maxListedPrefixes = 64

// maxListedStreams bounds that listing: a tenant with more streams is read
// the usual way for such a scope.
const maxListedStreams = 200_000

// listAllStreams is scopeStreams by one listing of every stream.
func listAllStreams(ctx context.Context, sr streamReader, sc scope) (names []string, ok bool, err error) {
	after, listed := "", 0
	for {
		page, err := sr.ListStreams(ctx, eventstore.ListOptions{After: after, Limit: 1000})
		if err != nil {
			return nil, false, err
		}
		for _, si := range page {
			if sc.readable(si.Name) {
				names = append(names, si.Name)
			}
		}
		if listed += len(page); len(names) > maxScopedStreams || listed > maxListedStreams {
			return nil, false, nil
		}
		if len(page) < 1000 {
			return names, true, nil
		}
		after = page[len(page)-1].Name
	}
}

// scopedDigest returns the digest of the events of the streams list gives
// up to pos, reading those streams only, from the digests kept in cache for
// ledger on; ok is false when the scope covers too many streams.
func scopedDigest(ctx context.Context, sr streamReader, list streamNames, pos int64, cache *streamDigests, ledger string) (d eventstore.Digest, ok bool, err error) {
	names, ok, err := list(ctx)
	if err != nil || !ok {
		return d, false, err
	}
	for _, name := range names {
		var sd streamDigest
		if kept, ok := cache.get(ledger, name); ok && kept.pos <= pos {
			sd = kept
		}
		after := sd.pos
		for more := true; more; {
			n := 0
			for e, err := range sr.ReadStreamAfter(ctx, name, after, 1000) {
				if err != nil {
					return d, false, err
				}
				if n++; e.Position > pos {
					more = false
					break
				}
				sd.d.Add(e, e.Position)
				after = e.Position
			}
			more = more && n == 1000
		}
		sd.pos = pos
		cache.put(ledger, name, sd)
		d.Merge(sd.d)
	}
	return d, true, nil
}

// fill reads cur's next page.
func (sc *scopedRead) fill(ctx context.Context, sr streamReader, cur *streamCursor) error {
	cur.buf = cur.buf[:0]
	n := 0
	for e, err := range sr.ReadStreamAfter(ctx, cur.stream, cur.after, scopedPage) {
		if err != nil {
			return err
		}
		n++
		sc.rows++
		if e.Position > sc.head {
			cur.done = true
			break
		}
		cur.buf = append(cur.buf, e)
		cur.after = e.Position
		if cur.whole {
			cur.d.Add(e, e.Position)
		}
	}
	if n < scopedPage {
		cur.done = true
	}
	if cur.done && cur.whole { // the stream's digest up to the head: kept for the next scope that has it
		sc.cache.put(sc.ledger, cur.stream, streamDigest{pos: sc.head, d: cur.d})
	}
	return nil
}

// scopedBatch returns the next batch of a scoped catch-up from cursor, as
// readBatch does. Once every stream is sent it ends the scoped catch-up
// and returns the batch with next at its head, so that what committed
// since is read the usual way.
func (c *conn) scopedBatch(ctx context.Context, cursor int64, page int, sizer *protocol.BatchSizer) ([]protocol.Event, int64, error) {
	sc, sr := c.scoped, c.store.(streamReader)
	events, next := c.pbuf[:0], cursor
	for len(events) < page {
		if len(sc.streams) == 0 {
			c.scoped = nil
			return events, max(next, sc.head), nil
		}
		cur := sc.streams[0]
		e := cur.buf[0]
		w := protocol.FromStored(e)
		w.HubPosition = e.Position
		if !sizer.Add(w) {
			break // sent by the next batch
		}
		events = append(events, w)
		next = e.Position
		if cur.buf = cur.buf[1:]; len(cur.buf) == 0 && !cur.done {
			if err := sc.fill(ctx, sr, cur); err != nil {
				return nil, cursor, err
			}
		}
		if len(cur.buf) == 0 {
			heap.Pop(&sc.streams)
		} else {
			heap.Fix(&sc.streams, 0)
		}
	}
	return events, next, nil
}
