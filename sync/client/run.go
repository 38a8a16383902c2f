package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ferrysync/ferry/eventstore"
)

// SyncOnce connects to the hub, pushes every pending event, pulls until
// caught up, and disconnects. It returns what it did even when it fails
// part-way (everything counted is durably applied).
//
// The error is nil when everything was pushed and pulled, also when the hub
// refused some events: those are listed in Stats.Rejections, recorded as
// rejected and never pushed again. Otherwise it unwraps to ErrUnauthorized, ErrUnreachable, ErrDisconnected, ErrApply,
// a *protocol.Error sent by the hub, a store error, or ctx's error.
//
// When the catch-up shows the store's copy of the ledger differs from the
// hub's, SyncOnce repairs it and syncs again (Stats.Repair).
func (r *Replicator) SyncOnce(ctx context.Context) (Stats, error) {
	if err := r.lock(ctx); err != nil {
		return Stats{}, err
	}
	defer r.unlock()
	var st Stats
	for range 2 {
		s, err := r.session(ctx, false)
		if s != nil {
			st.Pushed += s.stats.Pushed
			st.Relayed += s.stats.Relayed
			st.Backfilled += s.stats.Backfilled
			st.Evicted += s.stats.Evicted
			st.Rejected += s.stats.Rejected
			st.Pulled += s.stats.Pulled
			st.Inserted += s.stats.Inserted
			st.Deferred += s.stats.Deferred
			st.RetryAfter = max(st.RetryAfter, s.stats.RetryAfter)
			st.Rejections = append(st.Rejections, s.rejections...)
			st.Repair = cmp.Or(s.stats.Repair, st.Repair)
			st.Cursor, st.Head = s.cursor, s.head
		}
		if !errors.Is(err, errDiverged) {
			return st, err
		}
	}
	return st, fmt.Errorf("%w: it still differs after a repair (see Status.LastRepair)", errDiverged)
}

// Run keeps the store in sync with the hub until ctx ends: it connects,
// pushes the outbox, pulls the backlog, then stays live, pushing local
// events as they are written and applying the hub's as they commit. When
// the connection fails or cannot be made, Run waits (exponential backoff
// with full jitter, at least as long as any retry hint from the hub) and
// reconnects, resuming from the persisted cursor. It keeps retrying
// whatever the error, unauthorized included (a TokenFunc may produce a
// better token); errors are logged, recorded in Status and reported to
// OnProgress. Run returns ctx's error once ctx is done, or a store error
// that retrying cannot fix (eventstore.ErrClosed).
//
// Writes to the store never wait for the network: Run only reads the
// outbox the store already committed.
func (r *Replicator) Run(ctx context.Context) error {
	if err := r.lock(ctx); err != nil {
		return err
	}
	defer r.unlock()
	r.active.Store(true)
	defer r.active.Store(false)
	attempt := 0
	for {
		s, err := r.session(ctx, true)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, eventstore.ErrClosed) {
			return err
		}
		if errors.Is(err, errRescoped) {
			attempt = 0
			continue // at once, with the new subscriptions
		}
		if s != nil && s.caughtUp {
			attempt = 0
		}
		delay := r.backoff(attempt, retryHint(err))
		attempt++
		r.log.Info("sync disconnected", "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// session connects and runs one session, recording its outcome in the
// store's state. s is nil when no connection was established.
func (r *Replicator) session(ctx context.Context, live bool) (*session, error) {
	bg := context.WithoutCancel(ctx)
	s, err := r.connect(ctx, live)
	if err != nil {
		if ctx.Err() == nil {
			_ = r.markAttempt(bg, err)
			r.progress(Progress{Err: err})
		}
		return nil, err
	}
	if err := r.markOnline(ctx, true, nil); err != nil {
		s.c.close(0, "")
		return s, err
	}
	s.online = true
	err = s.run(ctx)
	switch {
	case err != nil && ctx.Err() == nil && !errors.Is(err, errRescoped):
		_ = r.markOnline(bg, false, err)
	case r.active.Load():
		r.online.Store(false)
	}
	s.online = false
	s.progress(err)
	return s, err
}

// backoff returns the delay before reconnection attempt n (from 0): a
// random duration up to min(Max, Initial·2ⁿ), or hint when longer.
func (r *Replicator) backoff(n int, hint time.Duration) time.Duration {
	b := r.cfg.Backoff
	bound := b.Initial
	for i := 0; i < n && bound < b.Max; i++ {
		bound *= 2 // Max is far below overflow: it stops before
	}
	bound = min(bound, b.Max)
	d := rand.N(bound + 1)
	return max(d, hint)
}
