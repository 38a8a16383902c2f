package client

import (
	"context"
	"time"

	"github.com/ferrysync/ferry/sync/protocol"
)

// settle records the acks of the pushes still in flight when the session
// is about to end for a reason of its own (a pulled batch it could not
// apply), so that an event the hub stored is never left pending because
// the same connection failed for something else: the hub answers every
// push in order, so the acks are queued behind the frames already read, or
// on their way. It reads until every push in flight is answered, the
// connection ends, or a bound (Config.DialTimeout) passes; it sends
// nothing new and ignores pulled events (the cursor stays where it was, so
// they are pulled again). Failures to record are dropped: the session's
// own error is what the caller returns, and unrecorded acks are redone by
// the next session's re-push (the hub answers a duplicate with its
// position).
func (s *session) settle(ctx context.Context, pending *inbound) {
	if len(s.inflight) == 0 {
		return
	}
	s.settling = true
	// A frame read ahead of the failed apply (applyQueued stops at the
	// first frame that is not Events) may be the very Ack awaited.
	if pending != nil && !s.settleOne(ctx, *pending) {
		return
	}
	t := time.NewTimer(s.r.cfg.DialTimeout)
	defer t.Stop()
	for len(s.inflight) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case in := <-s.c.in:
			s.c.took(in)
			if !s.settleOne(ctx, in) {
				return
			}
		}
	}
}

// settleOne handles one frame while settling: it records an Ack and
// answers a Ping. It reports false when settling should end (a broken
// frame, an error from the hub, an Ack that does not match).
func (s *session) settleOne(ctx context.Context, in inbound) bool {
	if in.err != nil {
		return false
	}
	switch m := in.msg.(type) {
	case *protocol.Ack:
		return s.ack(ctx, m) == nil
	case *protocol.Ping:
		_ = s.c.send(&protocol.Pong{Nonce: m.Nonce})
	case *protocol.Error:
		return false
	}
	return true
}
