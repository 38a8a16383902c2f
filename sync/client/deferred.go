package client

import (
	"context"
	"time"

	"github.com/ferrysync/ferry/sync/protocol"
)

// deferral is a local event the hub deferred, and when it asked for it
// again.
type deferral struct {
	event    protocol.Event
	position int64 // its local position
	due      time.Time
}

// minRetry is the shortest wait before a deferred event is pushed again,
// whatever the hub's hint (a hint of 0 would re-push in a tight loop).
const minRetry = time.Second

// deferEvent records e, which the hub deferred with res: it stays pending
// in the store (no hub position, not rejected). A live session pushes it
// again when it is due; every later session pushes it with the outbox.
func (s *session) deferEvent(e protocol.Event, position int64, res protocol.AckResult) {
	after := max(time.Duration(res.RetryAfterMS)*time.Millisecond, minRetry)
	d := deferral{event: e, position: position, due: time.Now().Add(after)}
	i := len(s.deferred)
	for i > 0 && s.deferred[i-1].due.After(d.due) {
		i--
	}
	s.deferred = append(s.deferred, deferral{})
	copy(s.deferred[i+1:], s.deferred[i:])
	s.deferred[i] = d
	if s.stats.Deferred == 0 || after < s.stats.RetryAfter {
		s.stats.RetryAfter = after
	}
	s.stats.Deferred++
	s.r.log.Info("event deferred by the hub", "id", e.ID, "retry_after", after, "reason", res.Reason)
	if s.live {
		s.armRetry()
	}
}

// armRetry sets the retry timer to the first deferred event's due time.
func (s *session) armRetry() {
	if len(s.deferred) == 0 {
		return
	}
	wait := max(time.Until(s.deferred[0].due), 0)
	if s.retry == nil {
		s.retry = time.NewTimer(wait)
		return
	}
	s.retry.Reset(wait)
}

// retryC is the retry timer's channel, nil (never ready) without one.
func (s *session) retryC() <-chan time.Time {
	if s.retry == nil {
		return nil
	}
	return s.retry.C
}

// pushDue pushes the deferred events that are due, in batches, and re-arms
// the timer for the rest.
func (s *session) pushDue(_ context.Context) error {
	now := time.Now()
	n := 0
	for n < len(s.deferred) && !s.deferred[n].due.After(now) {
		n++
	}
	due := make([]protocol.Event, n)
	positions := make([]int64, n)
	for i := range n {
		due[i], positions[i] = s.deferred[i].event, s.deferred[i].position
	}
	s.deferred = append(s.deferred[:0], s.deferred[n:]...)
	for len(due) > 0 {
		k := min(len(due), max(s.maxBatch, 1))
		if err := s.sendPush(due[:k:k], positions[:k:k]); err != nil {
			return err
		}
		due, positions = due[k:], positions[k:]
	}
	s.armRetry()
	return nil
}
