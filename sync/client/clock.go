package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// KeyClockOffset holds the correction, in milliseconds (decimal), last
// measured between the device's wall clock and the hub's (see
// eventstore.Clock.SetOffset). New restores it, so a device that starts
// offline stamps its events with the corrected time too.
const KeyClockOffset = StatePrefix + "clock_offset_ms"

// minOffset is the smallest measured offset worth correcting: below it
// the measurement is noise (half a round trip at most).
const minOffset = 500 * time.Millisecond

// clock returns the store's HLC, or nil when the store does not expose it.
func (r *Replicator) clock() *eventstore.Clock {
	if c, ok := r.store.(eventstore.Clocked); ok {
		return c.Clock()
	}
	return nil
}

// restoreOffset applies the persisted clock correction to the store's
// clock.
func (r *Replicator) restoreOffset(ctx context.Context) error {
	clk := r.clock()
	if clk == nil {
		return nil
	}
	v, err := r.store.State(ctx, KeyClockOffset)
	if errors.Is(err, eventstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("client: read clock offset: %w", err)
	}
	ms, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return fmt.Errorf("client: corrupt clock offset %q under %s", v, KeyClockOffset)
	}
	clk.SetOffset(time.Duration(ms) * time.Millisecond)
	return nil
}

// maxOffset is the largest correction taken from a hub's time: a device
// clock off by more than a week is rarer than a hub node whose clock is.
const maxOffset = 7 * 24 * time.Hour

// correctClock measures the store clock's offset from the hub's time in a
// Welcome (sent and received bracket the handshake, read from the clock's
// uncorrected wall time): the hub's time minus the midpoint. It corrects
// the clock and persists the offset when it changed by minOffset or more.
// A Welcome without a time (a hub of protocol version 1) changes nothing.
func (s *session) correctClock(ctx context.Context, clk *eventstore.Clock, sent, received time.Time, w *protocol.Welcome) error {
	if clk == nil || w.Time <= 0 {
		return nil
	}
	mid := sent.Add(received.Sub(sent) / 2)
	offset := time.UnixMilli(w.Time).Sub(mid).Round(time.Millisecond)
	if offset.Abs() < minOffset {
		offset = 0
	}
	if d := offset - clk.Offset(); d.Abs() < minOffset {
		return nil
	}
	if offset.Abs() > maxOffset {
		// A hub node whose own clock is wrong (a bad --clock-offset, a
		// time sync glitch) must not push every device's clock, which
		// never runs backwards, days into the future for good.
		s.r.log.Warn("hub's time ignored: too far from this device's clock", "offset", offset, "max", maxOffset)
		return nil
	}
	clk.SetOffset(offset)
	s.r.log.Info("clock corrected from the hub's time", "offset", offset)
	if err := s.r.store.SetState(ctx, KeyClockOffset, []byte(strconv.FormatInt(offset.Milliseconds(), 10))); err != nil {
		return fmt.Errorf("client: record clock offset: %w", err)
	}
	return nil
}
