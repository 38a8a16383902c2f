package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// fill sends pushes from the outbox until the pipeline is full or the
// outbox has nothing more.
func (s *session) fill(ctx context.Context) error {
	for len(s.inflight) < s.r.cfg.Pipeline && !s.settling {
		batch, positions, err := s.nextBatch(ctx)
		relayed := false
		if err == nil && len(batch) == 0 { // the outbox is drained: relay (relay.go)
			batch, positions, err = s.nextRelay(ctx)
			relayed = len(batch) > 0
		}
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			s.drained = true
			return nil
		}
		s.drained = false
		if err := s.sendPush(batch, positions); err != nil {
			return err
		}
		if relayed {
			s.inflight[len(s.inflight)-1].relayed = true
			s.relay.flights++
		}
	}
	return nil
}

// sendPush sends batch as a push and records it in flight, with the
// events' local positions.
func (s *session) sendPush(batch []protocol.Event, positions []int64) error {
	f := flight{batch: "b" + strconv.FormatUint(s.r.batch.Add(1), 10), ids: make([]string, len(batch)), events: batch, positions: positions}
	for i, e := range batch {
		f.ids[i] = e.ID
	}
	if err := s.c.send(&protocol.Push{Batch: f.batch, Events: batch}); err != nil {
		return err
	}
	s.inflight = append(s.inflight, f)
	return nil
}

// nextBatch reads the next push from the outbox, after the events already
// sent on this connection. Rejected events are not in the outbox
// (ReadPending leaves them out); events that break the hub's limits are
// rejected here instead of being sent, since the hub would refuse the whole
// frame. It returns the events' local positions too.
func (s *session) nextBatch(ctx context.Context) ([]protocol.Event, []int64, error) {
	head, err := s.r.store.Head(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("client: read outbox: %w", err)
	}
	var (
		batch     []protocol.Event
		positions []int64
		local     []Rejection
		full      bool
		sizer     = protocol.BatchSizer{Limits: s.send}
	)
	for e, err := range s.r.store.ReadPending(ctx, s.pushedThrough, 0) {
		if err != nil {
			return nil, nil, fmt.Errorf("client: read outbox: %w", err)
		}
		w := protocol.FromStored(e)
		if err := s.send.CheckEvent(w); err != nil {
			rej := Rejection{ID: e.ID, Code: protocol.CodeInvalidEvent, Reason: err.Error(), Local: true, position: e.Position}
			var perr *protocol.Error
			if errors.As(err, &perr) {
				rej.Code, rej.Reason = perr.Code, perr.Message
			}
			local = append(local, rej)
			s.pushedThrough = e.Position
			continue
		}
		if len(batch) >= s.maxBatch || !sizer.Add(w) {
			full = true
			break
		}
		batch = append(batch, w)
		positions = append(positions, e.Position)
		s.pushedThrough = e.Position
	}
	if !full {
		// Nothing pending up to head was left unread: later scans can
		// start there (positions are gap-free and assigned in order).
		s.pushedThrough = max(s.pushedThrough, head)
	}
	if len(local) > 0 {
		if err := s.reject(ctx, nil, local); err != nil {
			return nil, nil, err
		}
	}
	return batch, positions, nil
}

// ack applies the hub's answer to the oldest push in flight: accepted
// events get their hub position, rejected ones are rejected in the store
// and recorded, in one transaction. Then the pipeline is refilled.
func (s *session) ack(ctx context.Context, a *protocol.Ack) error {
	if len(s.inflight) == 0 || a.Batch != s.inflight[0].batch || len(a.Results) != len(s.inflight[0].ids) {
		perr := protocol.NewError(protocol.CodeProtocolViolation, "ack %q does not answer the oldest push in flight", a.Batch)
		s.c.fail(perr)
		return perr
	}
	f := s.inflight[0]
	acks := make([]eventstore.HubAck, 0, len(a.Results))
	var rejected []Rejection
	for i, res := range a.Results {
		if res.ID != f.ids[i] {
			perr := protocol.NewError(protocol.CodeProtocolViolation, "ack %q: result %d is for %s, pushed %s", a.Batch, i, res.ID, f.ids[i])
			s.c.fail(perr)
			return perr
		}
		if f.relayed && (res.Deferred() || res.Rejected()) {
			s.relayRefused(res)
			continue
		}
		if res.Deferred() {
			s.deferEvent(f.events[i], f.positions[i], res)
			continue
		}
		if res.Rejected() {
			rejected = append(rejected, Rejection{ID: res.ID, Code: res.Code, Reason: res.Reason, position: f.positions[i]})
			continue
		}
		acks = append(acks, eventstore.HubAck{ID: res.ID, HubPosition: res.HubPosition})
		s.ackedThrough = max(s.ackedThrough, res.HubPosition)
	}
	if err := s.reject(ctx, acks, rejected); err != nil {
		return err
	}
	s.inflight = s.inflight[1:]
	if f.relayed {
		s.stats.Relayed += len(acks)
		if err := s.relayAnswered(ctx); err != nil {
			return err
		}
	} else {
		s.stats.Pushed += len(acks)
	}
	s.progress(nil)
	if err := s.fill(ctx); err != nil {
		return err
	}
	if s.drained && len(s.inflight) == 0 && s.r.evictHeld.Load() {
		// Streams kept for their local events: those are acked now.
		return s.r.evict(ctx, &s.stats)
	}
	return nil
}

// reject records hub positions and rejections in one transaction: each
// rejected event is marked rejected in the store (Tx.Reject: out of reads,
// folds and the outbox from then on), its Rejection (code, reason, time)
// is stored under RejectedPrefix for Status and Rejections, and the
// projectors that are RejectProjectors drop the events from their read
// models. The rejections are kept for this session's result.
func (s *session) reject(ctx context.Context, acks []eventstore.HubAck, rejected []Rejection) error {
	now := time.Now().UTC()
	var committed []func()
	err := s.r.store.Update(ctx, func(tx eventstore.Tx) error {
		committed = committed[:0]
		outbox, err := eventstore.As[eventstore.OutboxWriter](tx)
		if err != nil {
			return err
		}
		if len(acks) > 0 {
			if err := outbox.SetHubPositions(ctx, acks...); err != nil {
				return err
			}
		}
		if len(rejected) > 0 {
			ids := make([]string, len(rejected))
			for i, rej := range rejected {
				ids[i] = rej.ID
			}
			if err := outbox.Reject(ctx, ids...); err != nil {
				return err
			}
		}
		for i := range rejected {
			rejected[i].At = now
			v, err := json.Marshal(rejected[i])
			if err != nil {
				return err
			}
			if err := eventstore.KeyValuesOf(tx).SetState(ctx, RejectedPrefix+rejected[i].ID, v); err != nil {
				return err
			}
		}
		return s.projectRejected(ctx, tx, rejected, &committed)
	})
	if err != nil {
		return fmt.Errorf("client: record acks: %w", err)
	}
	for _, fn := range committed {
		fn()
	}
	for _, rej := range rejected {
		s.r.log.Warn("event rejected", "id", rej.ID, "code", string(rej.Code), "reason", rej.Reason, "local", rej.Local)
	}
	s.rejections = append(s.rejections, rejected...)
	s.stats.Rejected += len(rejected)
	return nil
}

// projectRejected hands the lowest position of rejected to every
// RejectProjector among the configured projectors, inside tx, collecting
// the functions to call after the commit.
func (s *session) projectRejected(ctx context.Context, tx eventstore.Tx, rejected []Rejection, committed *[]func()) error {
	if len(rejected) == 0 {
		return nil
	}
	first := rejected[0].position
	for _, rej := range rejected[1:] {
		first = min(first, rej.position)
	}
	for _, p := range s.r.cfg.Projectors {
		rp, ok := p.(RejectProjector)
		if !ok {
			continue
		}
		fn, err := rp.ProjectRejected(ctx, tx, first)
		if err != nil {
			return err
		}
		if fn != nil {
			*committed = append(*committed, fn)
		}
	}
	return nil
}
