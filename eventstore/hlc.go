package eventstore

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: physical Unix milliseconds in
// the high 48 bits and a logical counter in the low 16 bits. Comparing two
// Timestamps as integers compares them in time; String gives a fixed-width
// encoding whose byte order is the same order. The zero value means "unset".
type Timestamp uint64

const logicalBits = 16

// MakeTimestamp builds a Timestamp from Unix milliseconds and a logical
// counter.
func MakeTimestamp(millis int64, logical uint16) Timestamp {
	return Timestamp(uint64(millis)<<logicalBits | uint64(logical))
}

// TimestampOf returns the first Timestamp of the millisecond containing t.
// It is handy for time-travel reads ("as of" a wall-clock time).
func TimestampOf(t time.Time) Timestamp { return MakeTimestamp(t.UnixMilli(), 0) }

// Millis returns the physical part, in Unix milliseconds.
func (t Timestamp) Millis() int64 { return int64(t >> logicalBits) }

// Logical returns the logical counter.
func (t Timestamp) Logical() uint16 { return uint16(t) }

// Time returns the physical part as a time.Time.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Millis()) }

// String returns the fixed-width, 16-digit lower-case hex encoding; byte
// order of encodings equals time order.
func (t Timestamp) String() string {
	const hex = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hex[t&0xf]
		t >>= 4
	}
	return string(b[:])
}

// ParseTimestamp parses the encoding produced by String.
func ParseTimestamp(s string) (Timestamp, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("eventstore: timestamp %q: want 16 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("eventstore: timestamp %q: %w", s, err)
	}
	return Timestamp(v), nil
}

// MarshalText implements encoding.TextMarshaler (JSON encodes a string).
func (t Timestamp) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Timestamp) UnmarshalText(b []byte) error {
	v, err := ParseTimestamp(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// DefaultMaxDrift is how far ahead of the local physical clock a remote
// timestamp may be before Observe rejects it.
const DefaultMaxDrift = 10 * time.Minute

// Clock is a hybrid logical clock. It is safe for concurrent use. Every
// local event takes Now; every received event passes through Observe, so an
// event written after seeing another always sorts after it, whatever the
// wall clocks say.
type Clock struct {
	mu       sync.Mutex
	last     Timestamp
	wall     func() time.Time
	offset   time.Duration
	maxDrift time.Duration
}

// ClockOption configures a Clock.
type ClockOption func(*Clock)

// WithMaxDrift sets how far ahead of local physical time a remote timestamp
// may be. Zero or negative disables the check.
func WithMaxDrift(d time.Duration) ClockOption { return func(c *Clock) { c.maxDrift = d } }

// WithWallClock replaces time.Now as the physical time source (for tests).
func WithWallClock(now func() time.Time) ClockOption { return func(c *Clock) { c.wall = now } }

// NewClock returns a Clock using time.Now and DefaultMaxDrift.
func NewClock(opts ...ClockOption) *Clock {
	c := &Clock{wall: time.Now, maxDrift: DefaultMaxDrift}
	for _, o := range opts {
		o(c)
	}
	return c
}

// physical is the corrected physical time; c.mu is held.
func (c *Clock) physical() Timestamp { return TimestampOf(c.wall().Add(c.offset)) }

// Wall returns the physical time source's reading, without the offset: what
// a client compares with the hub's time to measure the offset.
func (c *Clock) Wall() time.Time { return c.wall() }

// SetOffset corrects the physical part of the clock by d from now on, for
// Now and for Observe's drift check: a device whose wall clock is known to
// be off by -d (measured against the hub's) stamps new events with the
// corrected time. Timestamps stay monotonic: a clock corrected backwards
// keeps counting from the last timestamp it issued or observed until the
// corrected physical time passes it.
func (c *Clock) SetOffset(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = d
}

// Offset returns the correction set by SetOffset.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// Now returns a timestamp greater than every timestamp this clock has issued
// or observed.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pt := c.physical(); pt > c.last {
		c.last = pt
	} else {
		c.last++ // a full logical counter carries into the next millisecond
	}
	return c.last
}

// Observe merges a remote timestamp into the clock: the clock moves to
// max(local, remote)+1 (or to physical time if that is later) and returns the
// new reading. A remote timestamp more than the maximum drift ahead of local
// physical time is rejected with a *ClockDriftError and leaves the clock
// unchanged.
func (c *Clock) Observe(remote Timestamp) (Timestamp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.physical()
	if c.maxDrift > 0 && remote.Millis()-pt.Millis() > c.maxDrift.Milliseconds() {
		return 0, &ClockDriftError{Remote: remote, Local: max(pt, c.last), MaxDrift: c.maxDrift.Milliseconds(), Physical: pt}
	}
	m := max(c.last, remote)
	if pt > m {
		c.last = pt
	} else {
		c.last = m + 1
	}
	return c.last, nil
}

// Resume moves the clock to at least held, a timestamp the caller already
// holds (the greatest Created in a store being opened), so every later Now
// sorts after it even though this process never observed it. Unlike Observe
// it has no drift check: the event is stored already, and refusing it would
// only let new events sort before it. It never moves the clock backwards.
func (c *Clock) Resume(held Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last, held)
}

// Last returns the latest timestamp issued or observed, without advancing.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
