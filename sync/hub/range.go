package hub

import (
	"context"
	"log/slog"

	"github.com/gorilla/websocket"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// startDigest starts the catch-up's digest at cursor, for a connection of
// protocol version 3 or later whose cursor the ledger holds: from the
// tenant's cached prefix digests, reading the ledger where they end.
func (c *conn) startDigest(ctx context.Context, cursor int64) error {
	if c.version < 3 {
		return nil
	}
	if cursor > c.helloHead {
		return nil // a cursor past the head: the client sees it in Welcome.Head
	}
	c.digests = c.s.digests.entry(c.claims.Tenant, c.generation, c.scope)
	var err error
	if c.digest, err = c.digests.at(ctx, c.store, c.scope, cursor, c.scopeNames); err != nil {
		return err
	}
	c.folding = true
	return nil
}

// caughtUp returns the CaughtUp message for a catch-up that reached head,
// with the digest up to head when the connection keeps one, and records
// that digest for the next connections of the tenant and scope.
func (c *conn) caughtUp(head int64) *protocol.CaughtUp {
	m := &protocol.CaughtUp{Head: head}
	if c.folding {
		m.Digest = c.digest.String()
		c.digests.noteHead(head, c.digest)
		c.folding = false // live events are not folded
	}
	return m
}

// rangeDigests answers a range read with Parts (Hello.Parts): the digests
// of the parts of (Cursor, Until] in the client's scope. The range must be
// in the ledger.
func (c *conn) rangeDigests(h *protocol.Hello, head int64) ([]string, error) {
	if h.Until > head {
		perr := protocol.NewError(protocol.CodeProtocolViolation, "range read until %d is past the head %d", h.Until, head)
		c.fail(perr)
		return nil, perr
	}
	parts := make([]eventstore.Digest, h.Parts)
	width := (h.Until - h.Cursor + int64(h.Parts) - 1) / int64(h.Parts)
	err := digestRange(c.ctx, c.store, c.scope, h.Cursor, h.Until, func(e eventstore.Event) {
		parts[(e.Position-h.Cursor-1)/width].Add(e, e.Position)
	})
	if err != nil {
		c.internal("digest", err)
		return nil, err
	}
	out := make([]string, len(parts))
	for i, d := range parts {
		out[i] = d.String()
	}
	return out, nil
}

// serveRange serves a range read (Hello.Until): with Parts, Welcome
// carried the answer; without, it sends the events of the client's scope
// in (Cursor, Until] as Events messages and CaughtUp with Head Until (or
// the head, if the ledger ends before). Then it closes the connection.
func (c *conn) serveRange(h *protocol.Hello) {
	defer close(c.pullDone)
	defer c.requestClose(closeReq{code: websocket.CloseNormalClosure, drain: true})
	if h.Parts > 0 {
		return
	}
	c.until = h.Until
	if err := c.startScoped(c.ctx, h.Cursor); err != nil {
		c.pullFailed(err)
		return
	}
	cursor, err := c.drain(c.ctx, h.Cursor, 0)
	if err != nil {
		c.pullFailed(err)
		return
	}
	head, err := c.store.Head(c.ctx)
	if err != nil {
		c.pullFailed(err)
		return
	}
	end := max(cursor, min(h.Until, head))
	c.log.Debug("range read", slog.Int64(logCursor, h.Cursor), slog.Int64("until", h.Until), slog.Int64("end", end))
	_ = c.send(c.ctx, &protocol.CaughtUp{Head: end})
}
