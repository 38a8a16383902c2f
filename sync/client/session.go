package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Stats summarises one SyncOnce.
type Stats struct {
	// Pushed counts local events the hub accepted (including events it
	// already held from an earlier, unacknowledged push).
	Pushed int
	// Rejected counts local events rejected, by the hub or locally.
	Rejected int
	// Rejections lists them, in the order they were rejected. A rejection
	// does not make the sync fail.
	Rejections []Rejection
	// Pulled counts events received from the hub and applied, including
	// this store's own events coming back and events it already held.
	Pulled int
	// Inserted counts pulled events that were new to the store.
	Inserted int
	// Deferred counts local events the hub deferred because their
	// timestamps are too far ahead of its clock: they stay pending and
	// are pushed again once the hub can take them (by Run when it is due,
	// and by every later sync).
	Deferred int
	// RetryAfter is the hub's hint for the first deferred event: when a
	// sync could push it (0 when none was deferred).
	RetryAfter time.Duration
	// Cursor is the pull cursor at the end.
	Cursor int64
	// Head is the hub's head as last known.
	Head int64
	// Repair describes the repair this sync made of the store's copy of
	// the hub's ledger, if it made one (see Status.LastRepair).
	Repair *Repair
	// Relayed counts events of other devices that the hub had lost
	// (restored from a backup) and this store pushed back to it.
	Relayed int
	// Backfilled counts events a backfill of new subscriptions stored.
	Backfilled int
	// Evicted counts events evicted from the store because their streams
	// left the scope (Config.Evict).
	Evicted int
}

// flight is a push waiting for its ack.
type flight struct {
	batch     string
	ids       []string
	positions []int64          // the events' local positions, by index
	events    []protocol.Event // the events pushed, for those the hub defers
	relayed   bool             // other devices' events (relay.go)
}

// session is one connection's conversation: handshake, push, pull, live.
type session struct {
	r    *Replicator
	c    *conn
	live bool

	send     protocol.Limits // limits for what we push
	maxBatch int

	online              bool
	since, cursor, head int64
	caughtUp            bool

	version  int               // the protocol version negotiated
	scope    []string          // the token's stream prefixes (Welcome.Streams)
	pull     []string          // the subscriptions pulled (Hello.Streams; empty: all)
	gen      string            // the hub ledger's generation (Welcome.Generation)
	replaced bool              // gen is not the generation the store last synced with
	digest   eventstore.Digest // of the events the hub sent, up to cursor (see repair.go)
	noDigest bool              // the store kept none yet (synced before digests)

	pushedThrough int64 // outbox read up to this Position
	ackedThrough  int64 // highest hub position acked in this session
	inflight      []flight
	drained       bool  // the last outbox read found nothing more
	relay         relay // other devices' events the hub lost, pushed back (relay.go)
	settling      bool  // ending: record acks, push nothing more (settle)

	stats      Stats
	rejections []Rejection
	deferred   []deferral  // events the hub deferred, by due time
	retry      *time.Timer // fires when the first deferred event is due (live)

	coalesced []protocol.Event   // applyQueued's buffer, reused
	pulled    []eventstore.Event // apply's stored form of the pulled events, reused
	staged    []eventstore.Event // project's buffer, reused
}

// connect dials the hub, says hello and waits for welcome. The returned
// session is online. When the store's copy of the ledger needs a repair
// (see checkHeld), connect repairs it first and connects again.
func (r *Replicator) connect(ctx context.Context, live bool) (*session, error) {
	var rep *Repair
	var pre Stats // what reconciling the subscriptions did
	if err := r.reconcileScope(ctx); err != nil {
		return nil, err
	}
	if err := r.runBackfills(ctx, &pre); err != nil {
		return nil, err
	}
	for {
		s, err := r.open(ctx, live)
		if err != nil {
			return nil, err
		}
		s.stats.Repair = rep
		s.stats.Backfilled = pre.Backfilled
		if rep != nil || s.version < 3 {
			return s, s.evictChecked(ctx)
		}
		need, err := s.checkHeld(ctx)
		if err == nil && !need {
			return s, s.evictChecked(ctx)
		}
		if err != nil {
			s.c.close(websocket.CloseNormalClosure, "")
			return s, err
		}
		s.c.close(websocket.CloseNormalClosure, "")
		done, err := s.repair(ctx)
		if err != nil {
			return nil, err
		}
		rep = &done
	}
}

// evictChecked runs the evictions due once the session has checked the
// hub's copy of the ledger (checkHeld, or the repair it led to): an
// acknowledged event a restored hub lost is then unacknowledged again (a
// local event to push), and Evict refuses its stream, where an eviction
// before the check would have removed its only copy. It closes the
// session when it fails.
func (s *session) evictChecked(ctx context.Context) error {
	if err := s.r.evict(ctx, &s.stats); err != nil {
		s.c.close(websocket.CloseNormalClosure, "")
		return err
	}
	return nil
}

// open dials the hub, says hello and waits for welcome.
func (r *Replicator) open(ctx context.Context, live bool) (*session, error) {
	cursor, err := readCursor(ctx, r.store)
	if err != nil {
		return nil, err
	}
	digest, err := r.store.State(ctx, KeyDigest)
	noDigest := errors.Is(err, eventstore.ErrNotFound) && cursor > 0 // a fresh store's digest is the zero one
	if err != nil && !errors.Is(err, eventstore.ErrNotFound) {
		return nil, fmt.Errorf("client: read digest: %w", err)
	}
	s := &session{r: r, live: live, since: cursor, cursor: cursor, noDigest: noDigest}
	if s.pull, err = r.pullStreams(ctx); err != nil {
		return nil, err
	}
	if len(digest) > 0 {
		if s.digest, err = eventstore.ParseDigest(string(digest)); err != nil {
			return nil, fmt.Errorf("client: corrupt digest under %s: %w", KeyDigest, err)
		}
	}
	if err := s.loadRelayDue(ctx); err != nil {
		return nil, err
	}
	if s.c, err = r.dial(ctx); err != nil {
		return nil, err
	}
	if err := s.handshake(ctx); err != nil {
		s.c.close(websocket.CloseNormalClosure, "")
		return nil, err
	}
	return s, nil
}

// handshake sends Hello and waits for Welcome.
func (s *session) handshake(ctx context.Context) error {
	cfg := s.r.cfg
	hello := &protocol.Hello{Versions: protocol.Versions(), Client: cfg.Device, Cursor: s.cursor, Streams: s.pull, Agent: Agent, App: cfg.App}
	if !s.noDigest {
		hello.Digest = s.digest.String()
	}
	clk := s.r.clock()
	var sent time.Time
	if clk != nil {
		sent = clk.Wall()
	}
	if err := s.c.send(hello); err != nil {
		return err
	}
	t := time.NewTimer(cfg.DialTimeout)
	defer t.Stop()
	var in inbound
	select {
	case in = <-s.c.in:
		s.c.took(in)
	case <-t.C:
		return fmt.Errorf("%w: no welcome within %s", ErrDisconnected, cfg.DialTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	if in.err != nil {
		if in.bad != nil {
			s.c.fail(in.bad)
		}
		return s.hubError(in.err)
	}
	switch m := in.msg.(type) {
	case *protocol.Welcome:
		if clk != nil {
			if err := s.correctClock(ctx, clk, sent, clk.Wall(), m); err != nil {
				return err
			}
		}
		s.head, s.version, s.scope, s.gen = m.Head, m.Version, m.Streams, m.Generation
		s.send = minLimits(m.Limits, cfg.Limits)
		s.maxBatch = s.send.MaxEventsPerBatch
		if cfg.BatchSize > 0 && cfg.BatchSize < s.maxBatch {
			s.maxBatch = cfg.BatchSize
		}
		s.r.log.Debug("connected", "hub", s.r.url, "tenant", m.Tenant, "node", m.Node, "cursor", s.cursor, "head", m.Head)
		return nil
	case *protocol.Error:
		return s.hubError(m)
	default:
		perr := protocol.NewError(protocol.CodeProtocolViolation, "expected welcome, got %s", in.msg.Type())
		s.c.fail(perr)
		return perr
	}
}

// minLimits returns the hub's limits lowered, field by field, to the
// client's own where those are set and smaller.
func minLimits(hub, mine protocol.Limits) protocol.Limits {
	l := hub.WithDefaults()
	if mine.MaxFrameBytes > 0 && mine.MaxFrameBytes < l.MaxFrameBytes {
		l.MaxFrameBytes = mine.MaxFrameBytes
	}
	if mine.MaxEventsPerBatch > 0 && mine.MaxEventsPerBatch < l.MaxEventsPerBatch {
		l.MaxEventsPerBatch = mine.MaxEventsPerBatch
	}
	if mine.MaxEventBytes > 0 && mine.MaxEventBytes < l.MaxEventBytes {
		l.MaxEventBytes = mine.MaxEventBytes
	}
	return l
}

// hubError turns an error from the hub (an Error message or a close) into
// the error a session returns.
func (s *session) hubError(err error) error {
	var perr *protocol.Error
	if errors.As(err, &perr) && perr.Code == protocol.CodeUnauthorized && !errors.Is(err, ErrUnauthorized) {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return err
}

// run drives the session until it is done (SyncOnce: everything pushed and
// caught up), ctx ends, or the connection fails. It closes the connection.
func (s *session) run(ctx context.Context) (err error) {
	wctx, stop := context.WithCancel(ctx)
	wake := make(chan struct{}, 1)
	watching := make(chan struct{})
	defer func() {
		stop()
		if s.retry != nil {
			s.retry.Stop()
		}
		if s.live {
			<-watching
		}
		code := websocket.CloseNormalClosure
		if ctx.Err() != nil {
			code = websocket.CloseGoingAway // the app is leaving
		}
		s.c.close(code, "")
	}()
	if s.live {
		head, err := s.r.store.Head(ctx)
		if err != nil {
			close(watching)
			return fmt.Errorf("client: %w", err)
		}
		go s.watch(wctx, head, wake, watching)
	}
	s.progress(nil)
	if err := s.fill(ctx); err != nil {
		return err
	}
	ping := time.NewTicker(s.r.cfg.KeepAlive)
	defer ping.Stop()
	var rescope <-chan struct{} // Run's sessions end when the subscriptions change
	if s.live {
		rescope = s.r.rescope
	}
	for !s.finished() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-rescope:
			s.settle(ctx, nil)
			return errRescoped
		case in := <-s.c.in:
			s.c.took(in)
			for {
				if in.err != nil {
					if in.bad != nil { // a frame we could not decode: tell the hub
						s.c.fail(in.bad)
					}
					return s.hubError(in.err)
				}
				var next *inbound
				if ev, ok := in.msg.(*protocol.Events); ok {
					// Catching up: apply the Events frames already waiting in
					// one transaction, so a large backlog costs few commits.
					var err error
					if next, err = s.applyQueued(ctx, ev); err != nil {
						s.settle(ctx, next)
						return err
					}
				} else if err := s.handle(ctx, in.msg); err != nil {
					if isApplyError(err) {
						s.settle(ctx, nil)
					}
					return err
				}
				if next == nil {
					break
				}
				in = *next
			}
		case <-wake:
			if err := s.fill(ctx); err != nil {
				return err
			}
		case <-ping.C:
			if err := s.c.ping(); err != nil {
				return err
			}
		case <-s.retryC():
			if err := s.pushDue(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// finished reports whether a SyncOnce session has done its work: the
// outbox is pushed and acked, and the pull has reached both the hub's head
// at hello and every position the hub acked for our own pushes, so that the
// store ends in step with the hub as of the end of the push (the hub streams
// live events after catching up, so those positions do arrive).
func (s *session) finished() bool {
	return !s.live && s.caughtUp && s.drained && len(s.inflight) == 0 && s.cursor >= s.ackedThrough
}

// watch signals wake whenever the local ledger grows past head, so that new
// local events are pushed while live.
func (s *session) watch(ctx context.Context, head int64, wake chan<- struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		h, err := s.r.store.Wait(ctx, head)
		if err != nil {
			return
		}
		head = h
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// handle reacts to one message from the hub.
func (s *session) handle(ctx context.Context, m protocol.Message) error {
	switch m := m.(type) {
	case *protocol.Ack:
		return s.ack(ctx, m)
	case *protocol.Events:
		return s.apply(ctx, m.Events, m.Cursor)
	case *protocol.Live:
		return s.apply(ctx, m.Events, m.Cursor)
	case *protocol.CaughtUp:
		return s.caughtUpTo(ctx, m.Head, m.Digest)
	case *protocol.Ping:
		return s.c.send(&protocol.Pong{Nonce: m.Nonce})
	case *protocol.Pong:
		return nil
	case *protocol.Error:
		return s.hubError(m)
	}
	perr := protocol.NewError(protocol.CodeProtocolViolation, "unexpected %s from hub", m.Type())
	s.c.fail(perr)
	return perr
}

// maxCoalescedBytes bounds the bytes of Data and Meta applyQueued puts in
// one transaction (Config.PullBatch bounds the events).
const maxCoalescedBytes = 16 << 20

// payloadBytes is the size of the events' Data and Meta.
func payloadBytes(events []protocol.Event) int {
	n := 0
	for _, e := range events {
		n += len(e.Data) + len(e.Meta)
	}
	return n
}

// applyQueued applies first and the Events frames queued right behind it
// in one transaction (at most Config.PullBatch events). It returns the first
// queued message that is not an Events frame, for the caller to handle next.
func (s *session) applyQueued(ctx context.Context, first *protocol.Events) (*inbound, error) {
	events, cursor := first.Events, first.Cursor
	size := payloadBytes(events)
	var next *inbound
	for len(events) < s.r.cfg.PullBatch && size < maxCoalescedBytes && next == nil {
		select {
		case in := <-s.c.in:
			s.c.took(in)
			if ev, ok := in.msg.(*protocol.Events); ok && in.err == nil {
				if len(s.coalesced) == 0 { // the second frame: start from the reused buffer
					s.coalesced = append(s.coalesced[:0], events...)
				}
				s.coalesced = append(s.coalesced, ev.Events...)
				events = s.coalesced
				size += payloadBytes(ev.Events)
				cursor = max(cursor, ev.Cursor)
				continue
			}
			next = &in
		default:
		}
		if next == nil {
			break
		}
	}
	err := s.apply(ctx, events, cursor)
	clear(s.coalesced) // drop the references to this batch's strings
	s.coalesced = s.coalesced[:0]
	return next, err
}

// progress reports the session's state.
func (s *session) progress(err error) {
	s.r.progress(Progress{
		Online:   s.online,
		CaughtUp: s.caughtUp,
		Since:    s.since,
		Cursor:   s.cursor,
		Head:     s.head,
		Pushed:   int64(s.stats.Pushed),
		Rejected: int64(s.stats.Rejected),
		Pulled:   int64(s.stats.Pulled),
		Err:      err,
	})
}

// caughtUpTo records that the hub has sent everything up to head. Events
// after the cursor and up to head that were not sent are outside the
// client's scope, so the cursor moves to head. When the hub's digest up to
// head differs from the session's, it records that a repair is due and
// ends the session with errDiverged.
func (s *session) caughtUpTo(ctx context.Context, head int64, digest string) error {
	s.caughtUp = true
	s.head = max(s.head, head)
	diverged := digest != "" && !s.noDigest && digest != s.digest.String()
	err := s.r.store.Update(ctx, func(tx eventstore.Tx) error {
		kv := eventstore.KeyValuesOf(tx)
		if head > s.cursor {
			if err := kv.SetState(ctx, KeyCursor, []byte(strconv.FormatInt(head, 10))); err != nil {
				return err
			}
		}
		if diverged {
			if err := kv.SetState(ctx, KeyRepair, []byte(digest)); err != nil {
				return err
			}
		}
		return kv.SetState(ctx, KeyLastSync, timeValue(time.Now()))
	})
	if err != nil {
		return fmt.Errorf("client: record catch-up: %w", err)
	}
	s.cursor = max(s.cursor, head)
	s.progress(nil)
	if diverged {
		s.r.log.Warn("the hub's digest differs from this store's", slog.Int64("head", head),
			slog.String("hub", digest), slog.String("store", s.digest.String()))
		return errDiverged
	}
	return nil
}

// apply stores pulled events and advances the cursor in one transaction:
// a crash before commit leaves both unchanged, so the events are pulled
// again; Insert's dedup by ID makes re-applying harmless. The configured
// Projectors handle the new events in the same transaction; if one fails,
// the transaction is redone without them (they then catch up on their own).
func (s *session) apply(ctx context.Context, pulled []protocol.Event, cursor int64) error {
	next := max(s.cursor, cursor)
	if len(pulled) == 0 && next == s.cursor {
		return nil
	}
	events := s.pulled[:0]
	for _, e := range pulled {
		events = append(events, protocol.ToStored(e))
	}
	defer func() {
		clear(events) // drop the references to this batch's strings
		s.pulled = events[:0]
	}()
	results, committed, err := s.store(ctx, events, next, len(s.r.cfg.Projectors) > 0)
	var perr *projectError
	if errors.As(err, &perr) {
		s.r.log.Warn("projecting pulled events failed; the projectors will catch up from the ledger", "error", perr.err)
		results, committed, err = s.store(ctx, events, next, false)
	}
	clear(s.staged) // drop the references to this batch's strings
	s.staged = s.staged[:0]
	if err != nil {
		if errors.Is(err, eventstore.ErrInvalidEvent) || errors.Is(err, eventstore.ErrUnknownEventType) || errors.Is(err, eventstore.ErrClockDrift) {
			return fmt.Errorf("%w after cursor %d: %w", ErrApply, s.cursor, err)
		}
		return &applyError{fmt.Errorf("client: apply pulled events: %w", err)}
	}
	for _, f := range committed {
		f()
	}
	for _, res := range results {
		if res.Inserted {
			s.stats.Inserted++
		}
		if res.Conflict {
			// The hub holds another event under this local event's ID:
			// the local one keeps no hub position, stays pending, and the
			// hub rejects it (id_conflict) when it is pushed.
			s.r.log.Warn("pulled event has the id of a local event with other content",
				slog.String("id", res.Event.ID), slog.String("stream", res.Event.Stream))
		}
	}
	s.stats.Pulled += len(events)
	s.cursor = next
	s.head = max(s.head, next)
	s.progress(nil)
	return nil
}

// applyError is a failure to store pulled events for a reason of the
// store's own (not the events'): the session ends, after settling its acks.
type applyError struct{ err error }

func (e *applyError) Error() string { return e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

// isApplyError reports whether err is the session's failure to apply
// pulled events (ErrApply, or the store's own failure), rather than the
// connection's.
func isApplyError(err error) bool {
	var ae *applyError
	return errors.Is(err, ErrApply) || errors.As(err, &ae)
}

// projectError is a Projector's failure inside apply's transaction.
type projectError struct{ err error }

func (e *projectError) Error() string { return "client: project pulled events: " + e.err.Error() }
func (e *projectError) Unwrap() error { return e.err }

// store runs apply's transaction: it inserts events, has the Projectors
// handle the new ones when project is set, and moves the cursor to next. It
// returns the insert results and the projectors' post-commit functions.
func (s *session) store(ctx context.Context, events []eventstore.Event, next int64, project bool) ([]eventstore.InsertResult, []func(), error) {
	var results []eventstore.InsertResult
	var committed []func()
	var folded eventstore.Digest
	err := s.r.store.Update(ctx, func(tx eventstore.Tx) error {
		var err error
		committed = committed[:0]
		if len(events) > 0 {
			if results, err = tx.Insert(ctx, events...); err != nil {
				return err
			}
		}
		if project {
			if committed, err = s.project(ctx, tx, events, results); err != nil {
				return &projectError{err}
			}
		}
		if next != s.cursor {
			if err := eventstore.KeyValuesOf(tx).SetState(ctx, KeyCursor, []byte(strconv.FormatInt(next, 10))); err != nil {
				return err
			}
		}
		if !s.noDigest && len(events) > 0 {
			d := s.digest
			for _, e := range events {
				d.Add(e, e.HubPosition)
			}
			if err := eventstore.KeyValuesOf(tx).SetState(ctx, KeyDigest, []byte(d.String())); err != nil {
				return err
			}
			folded = d
		}
		if s.caughtUp { // live: the store is in sync as of now
			return eventstore.KeyValuesOf(tx).SetState(ctx, KeyLastSync, timeValue(time.Now()))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if !s.noDigest && len(events) > 0 {
		s.digest = folded
	}
	return results, committed, nil
}

// project hands the events tx has just inserted (results says which, and
// where) to the Projectors, and returns their post-commit functions.
func (s *session) project(ctx context.Context, tx eventstore.Tx, events []eventstore.Event, results []eventstore.InsertResult) ([]func(), error) {
	stored := s.staged[:0]
	for _, res := range results {
		if res.Inserted {
			stored = append(stored, res.Event)
		}
	}
	s.staged = stored
	if len(stored) == 0 {
		return nil, nil
	}
	var committed []func()
	for _, p := range s.r.cfg.Projectors {
		f, err := p.ProjectInserted(ctx, tx, stored)
		if err != nil {
			return nil, err
		}
		if f != nil {
			committed = append(committed, f)
		}
	}
	return committed, nil
}
