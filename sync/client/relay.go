package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Relay. A hub restored from a backup, or whose ledger was replaced, may
// have lost events that other devices wrote and this store holds. A repair
// clears their hub positions (repair.go) and records that a relay is due
// (KeyRelay); the next session pushes them back to the hub after its own
// outbox, in local Position order, within the token's scope: the hub
// stores each once, by ID and content (a copy another device relayed
// first is a duplicate), and the pull brings them back at their new hub
// positions like any event. An event the hub refuses is logged and left
// as it is. When every relayed push is answered, the relay is done.
//
// Only events other devices wrote are relayed this way (they are hydrated:
// not in the outbox); the store's own become pending again and are pushed
// as usual.

// relay is a session's state of the relay.
type relay struct {
	due      bool               // KeyRelay was present when the session began
	loaded   bool               // queue was read from the store
	queue    []eventstore.Event // left to push, in Position order
	flights  int                // relay pushes waiting for their ack
	refused  int                // events the hub refused
	deferred int                // events the hub deferred: relayed again by a later session
}

// loadRelayDue reads whether a relay is due.
func (s *session) loadRelayDue(ctx context.Context) error {
	_, err := s.r.store.State(ctx, KeyRelay)
	switch {
	case err == nil:
		s.relay.due = true
	case !errors.Is(err, eventstore.ErrNotFound):
		return fmt.Errorf("client: read relay state: %w", err)
	}
	return nil
}

// nextRelay returns the next push of events to relay (none when no relay
// is due or all are sent), with their local positions.
func (s *session) nextRelay(ctx context.Context) ([]protocol.Event, []int64, error) {
	rl := &s.relay
	if !rl.due {
		return nil, nil, nil
	}
	if !rl.loaded {
		inScope := scopeOf(s.scope, nil)
		for e, err := range s.r.store.ReadAll(ctx, 0, 0) {
			if err != nil {
				return nil, nil, fmt.Errorf("client: read events to relay: %w", err)
			}
			if e.Hydrated && e.HubPosition == 0 && !e.Rejected && inScope(e.Stream) {
				rl.queue = append(rl.queue, e)
			}
		}
		rl.loaded = true
	}
	var (
		batch     []protocol.Event
		positions []int64
		sizer     = protocol.BatchSizer{Limits: s.send}
	)
	for len(rl.queue) > 0 && len(batch) < s.maxBatch {
		e := rl.queue[0]
		w := protocol.FromStored(e)
		w.HubPosition = 0
		if err := s.send.CheckEvent(w); err != nil { // the hub's limits shrank since it stored it
			rl.refused++
			s.r.log.Warn("not relaying an event the hub's limits refuse", slog.String("id", e.ID), slog.String("err", err.Error()))
			rl.queue = rl.queue[1:]
			continue
		}
		if !sizer.Add(w) {
			break
		}
		batch = append(batch, w)
		positions = append(positions, e.Position)
		rl.queue = rl.queue[1:]
	}
	if len(batch) == 0 && rl.flights == 0 {
		return nil, nil, s.finishRelay(ctx)
	}
	return batch, positions, nil
}

// relayAnswered records the ack of a relay push; when it was the last
// one, the relay is done.
func (s *session) relayAnswered(ctx context.Context) error {
	s.relay.flights--
	if len(s.relay.queue) == 0 && s.relay.flights == 0 {
		return s.finishRelay(ctx)
	}
	return nil
}

// relayRefused logs an event of a relay push the hub refused or deferred.
// A deferred one keeps the relay due, so that a later session pushes it
// again.
func (s *session) relayRefused(res protocol.AckResult) {
	if res.Deferred() {
		s.relay.deferred++
		s.r.log.Info("the hub deferred a relayed event; relaying it again later", slog.String("id", res.ID),
			slog.String("reason", res.Reason))
		return
	}
	s.relay.refused++
	s.r.log.Warn("the hub refused a relayed event", slog.String("id", res.ID),
		slog.String("code", string(res.Code)), slog.String("reason", res.Reason))
}

// finishRelay records that the relay is done, unless the hub deferred some
// of it.
func (s *session) finishRelay(ctx context.Context) error {
	if s.relay.deferred > 0 {
		s.relay.due = false // for this session
		return nil
	}
	err := s.r.store.Update(ctx, func(tx eventstore.Tx) error {
		return eventstore.KeyValuesOf(tx).DeleteState(ctx, KeyRelay)
	})
	if err != nil {
		return fmt.Errorf("client: record relay: %w", err)
	}
	s.relay.due = false
	if s.stats.Relayed > 0 || s.relay.refused > 0 {
		s.r.log.Warn("relayed events of other devices the hub had lost", slog.Int("relayed", s.stats.Relayed),
			slog.Int("refused", s.relay.refused))
	}
	return nil
}
