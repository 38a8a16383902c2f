package projector

import (
	"context"
	"time"
)

// ErrorPolicy says what a Projector does when a handler fails on an event.
// The failed event's handler writes and checkpoint roll back together; the
// event itself stays in the ledger (it was committed before projection).
type ErrorPolicy uint8

const (
	// Stop makes Run return the handler's error; the checkpoint stays
	// before the failed event, so the next Run starts with it. It is the
	// zero value.
	Stop ErrorPolicy = iota
	// Retry retries the failed event with backoff (Options.Retry) and
	// stops as Stop does when the attempts run out.
	Retry
	// Skip records the failure (see Projector.Failures), advances the
	// checkpoint past the event and goes on.
	Skip
)

// String returns "stop", "retry" or "skip".
func (p ErrorPolicy) String() string {
	switch p {
	case Retry:
		return "retry"
	case Skip:
		return "skip"
	default:
		return "stop"
	}
}

// Backoff bounds retries: attempt n (from 1) waits Initial·2^(n-1), capped
// at Max, before attempt n+1; after Attempts attempts it gives up. Zero
// fields take the defaults of DefaultBackoff.
type Backoff struct {
	Attempts int
	Initial  time.Duration
	Max      time.Duration
}

// DefaultBackoff is used for zero Backoff fields: 5 attempts, 100ms
// doubling up to 30s.
var DefaultBackoff = Backoff{Attempts: 5, Initial: 100 * time.Millisecond, Max: 30 * time.Second}

func (b Backoff) withDefaults() Backoff {
	if b.Attempts <= 0 {
		b.Attempts = DefaultBackoff.Attempts
	}
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoff.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// Delay returns the wait after the given failed attempt (from 1).
func (b Backoff) Delay(attempt int) time.Duration {
	b = b.withDefaults()
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Failure is an event a projector skipped under the Skip policy.
type Failure struct {
	Projector string    `json:"projector"`
	Position  int64     `json:"position"`
	EventID   string    `json:"event_id"`
	Type      string    `json:"type"`
	Stream    string    `json:"stream"`
	Handler   string    `json:"handler"`
	Error     string    `json:"error"`
	At        time.Time `json:"at"`
}
