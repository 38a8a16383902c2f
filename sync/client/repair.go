package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Ledger digests and repair (protocol version 3).
//
// The replicator keeps the digest (eventstore.Digest) of the events the hub
// sent it, up to its cursor, in the store (KeyDigest), written in the
// transaction that stores them. At the end of every catch-up the hub sends
// its digest of the client's scope up to the same position
// (protocol.CaughtUp.Digest): a mismatch means the two copies differ, and a
// Welcome whose head is below the cursor means the hub lost events the
// client holds (it was restored from a backup), and a Welcome whose
// generation is not the one the store last synced with means the ledger
// was replaced by another one. Either way the replicator
// records that a repair is due (KeyRepair) and, on its next connection
// (SyncOnce runs one at once), repairs before it syncs:
//
//  1. Events the store holds at hub positions past the hub's head lose
//     their hub positions: its own become pending and are pushed again;
//     other devices' are relayed: pushed back to the hub by the next
//     session, within the token's scope (see relay.go).
//  2. It reads the store once and compares its digests of parts of the
//     range up to min(cursor, head) with the hub's (range reads with
//     Hello.Parts), narrowing down to the parts that differ, each at most
//     repairLeaf positions wide.
//  3. It re-pulls only those parts (range reads with Hello.Until) and makes
//     its copy equal to the hub's: events the hub holds elsewhere or not at
//     all lose their hub positions, copies whose content differs take the
//     hub's (read models that had them are reset and replayed, as for a
//     rejection), and events it lacked are inserted.
//  4. The cursor moves to min(cursor, head), the digest to the store's own.
//
// Config.VerifyEvery also has the replicator recompute the digest from the
// stored events now and then, which finds copies changed behind its back
// (disk corruption, a hand edit): a mismatch with the kept digest starts a
// repair the same way.

// repairLeaf is the widest range, in hub positions, that a repair re-pulls
// without narrowing it down further.
const repairLeaf = 512

// repairParts is how many parts a range is split into per round.
const repairParts = 64

// errDiverged ends a session whose catch-up digest differs from the hub's:
// the next connection repairs.
var errDiverged = errors.New("client: the store's copy of the ledger differs from the hub's; repairing")

// held is one event the store holds at a hub position, as the repair sees
// it.
type held struct {
	hub  int64
	id   string
	hash eventstore.Digest // the event's own digest
	in   bool              // in the client's scope
}

// scopeOf returns whether a stream is in the client's scope: allowed by
// the token's prefixes (Welcome.Streams) and pulled (the subscriptions).
func scopeOf(token, pull []string) func(string) bool {
	match := func(ps []string, s string) bool {
		return len(ps) == 0 || slices.ContainsFunc(ps, func(p string) bool { return strings.HasPrefix(s, p) })
	}
	return func(s string) bool { return match(token, s) && match(pull, s) }
}

// heldEvents reads the store's events that have hub positions, sorted by
// hub position, with the digest of those in scope up to upTo.
func (r *Replicator) heldEvents(ctx context.Context, inScope func(string) bool, upTo int64) ([]held, eventstore.Digest, error) {
	var out []held
	var total eventstore.Digest
	for e, err := range r.store.ReadAll(ctx, 0, 0) {
		if err != nil {
			return nil, total, fmt.Errorf("client: read the store: %w", err)
		}
		if e.HubPosition <= 0 || e.Rejected {
			continue
		}
		h := held{hub: e.HubPosition, id: e.ID, in: inScope(e.Stream)}
		h.hash.Add(e, e.HubPosition)
		if h.in && h.hub <= upTo {
			total.Merge(h.hash)
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b held) int { return cmp.Compare(a.hub, b.hub) })
	return out, total, nil
}

// heldIn returns the events of held (sorted by hub position) at hub
// positions after from and up to to.
func heldIn(events []held, from, to int64) []held {
	after := func(h held, pos int64) int { // finds the first event past pos
		if h.hub <= pos {
			return -1
		}
		return 1
	}
	i, _ := slices.BinarySearchFunc(events, from, after)
	j, _ := slices.BinarySearchFunc(events, to, after)
	return events[i:max(i, j)]
}

// verifyDue reports whether the stored events should be checked against
// the kept digest now (Config.VerifyEvery).
func (r *Replicator) verifyDue(ctx context.Context) bool {
	if r.cfg.VerifyEvery < 0 {
		return false
	}
	v, err := r.store.State(ctx, KeyVerified)
	if err != nil {
		return true
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	return err != nil || time.Since(t) >= r.cfg.VerifyEvery
}

// checkHeld decides, after Welcome, whether the store needs a repair: one
// is recorded as due, the hub's ledger is of another generation than the
// one the store last synced with, the hub's head is below the cursor, or a
// due verification finds the stored events differ from the kept digest. A
// repair it decides on is recorded as due first, so that one cut short
// (a crash, a lost connection) runs again.
func (s *session) checkHeld(ctx context.Context) (bool, error) {
	r := s.r
	known, err := r.store.State(ctx, KeyGeneration)
	if err != nil && !errors.Is(err, eventstore.ErrNotFound) {
		return false, err
	}
	newGen := s.gen != "" && s.gen != string(known)
	replaced := newGen && len(known) > 0
	if _, err := r.store.State(ctx, KeyRepair); err == nil {
		// Due already (a digest mismatch, a repair cut short): it runs
		// now, and covers a ledger replaced meanwhile too.
		if newGen {
			if err := r.store.Update(ctx, func(tx eventstore.Tx) error {
				return eventstore.KeyValuesOf(tx).SetState(ctx, KeyGeneration, []byte(s.gen))
			}); err != nil {
				return false, fmt.Errorf("client: record generation: %w", err)
			}
		}
		s.replaced = replaced
		return true, nil
	} else if !errors.Is(err, eventstore.ErrNotFound) {
		return false, err
	}
	verify := s.noDigest || r.verifyDue(ctx)
	var mine eventstore.Digest
	if verify {
		var err error
		if _, mine, err = r.heldEvents(ctx, scopeOf(s.scope, s.pull), s.cursor); err != nil {
			return false, err
		}
		if s.noDigest { // synced before digests: start from what the store holds
			s.digest, s.noDigest = mine, false
		}
	}
	need := replaced || s.head < s.cursor || verify && mine != s.digest
	switch {
	case replaced:
		r.log.Warn("the hub's ledger is not the one this store synced with (recreated, or another database); repairing",
			slog.String("generation", s.gen), slog.String("was", string(known)), slog.Int64("cursor", s.cursor), slog.Int64("head", s.head))
	case s.head < s.cursor:
		r.log.Warn("the hub's ledger is behind this store (restored from a backup?); repairing",
			slog.Int64("cursor", s.cursor), slog.Int64("head", s.head))
	case need:
		r.log.Warn("stored events differ from the digest of what the hub sent; repairing",
			slog.String("stored", mine.String()), slog.String("kept", s.digest.String()))
	}
	if !verify && !need && !newGen {
		return false, nil
	}
	err = r.store.Update(ctx, func(tx eventstore.Tx) error {
		kv := eventstore.KeyValuesOf(tx)
		if verify {
			if err := kv.SetState(ctx, KeyVerified, timeValue(time.Now())); err != nil {
				return err
			}
			if err := kv.SetState(ctx, KeyDigest, []byte(s.digest.String())); err != nil {
				return err
			}
		}
		if newGen {
			if err := kv.SetState(ctx, KeyGeneration, []byte(s.gen)); err != nil {
				return err
			}
		}
		if need {
			return kv.SetState(ctx, KeyRepair, []byte("due"))
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("client: record verification: %w", err)
	}
	s.replaced = replaced
	return need, nil
}

// repair makes the store's copy of the hub's ledger, up to min(cursor,
// head), equal to the hub's (see the comment at the top of this file).
func (s *session) repair(ctx context.Context) (Repair, error) {
	r := s.r
	rep := Repair{At: time.Now()}
	if s.replaced {
		rep.Generation = s.gen
	}
	top := min(s.cursor, s.head)
	inScope := scopeOf(s.scope, s.pull)
	events, mine, err := r.heldEvents(ctx, inScope, top)
	if err != nil {
		return rep, err
	}
	// Locate the parts that differ.
	var leaves [][2]int64
	ranges := [][2]int64{{0, top}}
	for len(ranges) > 0 {
		var next [][2]int64
		for _, rg := range ranges {
			if rg[1]-rg[0] <= repairLeaf {
				leaves = append(leaves, rg)
				continue
			}
			parts := int(min(repairParts, (rg[1]-rg[0]+repairLeaf-1)/repairLeaf))
			theirs, err := r.rangeDigests(ctx, rg[0], rg[1], parts)
			if err != nil {
				return rep, err
			}
			width := (rg[1] - rg[0] + int64(parts) - 1) / int64(parts)
			ours := make([]eventstore.Digest, parts)
			for _, h := range heldIn(events, rg[0], rg[1]) {
				if h.in {
					ours[(h.hub-rg[0]-1)/width].Merge(h.hash)
				}
			}
			for i, d := range ours {
				if d.String() != theirs[i] {
					from := rg[0] + int64(i)*width
					next = append(next, [2]int64{from, min(from+width, rg[1])})
				}
			}
		}
		ranges = next
	}
	// Re-pull them, and clear what the hub does not hold.
	var lost []string
	for _, h := range heldIn(events, s.head, math.MaxInt64) {
		lost = append(lost, h.id)
	}
	if err := s.reconcile(ctx, nil, lost, &rep); err != nil {
		return rep, err
	}
	for _, lf := range leaves {
		theirs, err := r.rangeEvents(ctx, lf[0], lf[1])
		if err != nil {
			return rep, err
		}
		at := make(map[string]int64, len(theirs))
		for _, e := range theirs {
			at[e.ID] = e.HubPosition
		}
		var stale []string
		for _, h := range heldIn(events, lf[0], lf[1]) {
			if pos, ok := at[h.id]; h.in && (!ok || pos != h.hub) {
				stale = append(stale, h.id)
			}
		}
		rep.Ranges++
		if err := s.reconcile(ctx, theirs, stale, &rep); err != nil {
			return rep, err
		}
	}
	// The cursor and digest now describe the repaired store.
	_, mine, err = r.heldEvents(ctx, inScope, top)
	if err != nil {
		return rep, err
	}
	err = r.store.Update(ctx, func(tx eventstore.Tx) error {
		kv := eventstore.KeyValuesOf(tx)
		if err := kv.SetState(ctx, KeyCursor, []byte(fmt.Sprint(top))); err != nil {
			return err
		}
		if err := kv.SetState(ctx, KeyDigest, []byte(mine.String())); err != nil {
			return err
		}
		if err := kv.SetState(ctx, KeyLastRepair, rep.value()); err != nil {
			return err
		}
		return kv.DeleteState(ctx, KeyRepair)
	})
	if err != nil {
		return rep, fmt.Errorf("client: record repair: %w", err)
	}
	s.cursor, s.since, s.digest = top, top, mine
	r.log.Warn("repaired the store's copy of the hub's ledger", slog.Int("ranges", rep.Ranges),
		slog.Int("changed", rep.Changed), slog.Int("inserted", rep.Inserted), slog.Int("unacknowledged", rep.Unacknowledged),
		slog.Int("unrepaired", len(rep.Unrepaired)))
	return rep, nil
}

// reconcile, in one transaction, clears the hub positions of stale and
// makes the store hold theirs (the hub's events of a range), and resets
// the read models that held a copy whose content changed.
func (s *session) reconcile(ctx context.Context, theirs []eventstore.Event, stale []string, rep *Repair) error {
	if len(theirs) == 0 && len(stale) == 0 {
		return nil
	}
	var committed []func()
	err := s.r.store.Update(ctx, func(tx eventstore.Tx) error {
		committed = committed[:0]
		fix, ok := tx.(eventstore.Repairer)
		if !ok {
			return &eventstore.UnsupportedError{Capability: "eventstore.Repairer", Have: fmt.Sprintf("%T", tx)}
		}
		if err := fix.Unacknowledge(ctx, stale...); err != nil {
			return err
		}
		if len(stale) > 0 {
			// Recorded with the clearing: a repair cut short after it
			// would not find these events again (they hold no hub
			// position now), and other devices' among them must still be
			// relayed.
			if err := eventstore.KeyValuesOf(tx).SetState(ctx, KeyRelay, []byte("due")); err != nil {
				return err
			}
		}
		rep.Unacknowledged += len(stale)
		first := int64(0)
		for _, e := range theirs {
			pos, changed, err := fix.RepairEvent(ctx, e)
			switch {
			case errors.Is(err, eventstore.ErrNotFound):
				res, err := tx.Insert(ctx, e)
				if err != nil {
					return err
				}
				if res[0].Inserted {
					rep.Inserted++
				}
				continue
			case errors.Is(err, eventstore.ErrInvalidEvent):
				rep.Unrepaired = append(rep.Unrepaired, e.ID)
				continue
			case err != nil:
				return err
			case changed:
				rep.Changed++
				if first == 0 || pos < first {
					first = pos
				}
			}
		}
		if first == 0 {
			return nil
		}
		for _, p := range s.r.cfg.Projectors {
			if rp, ok := p.(RejectProjector); ok {
				f, err := rp.ProjectRejected(ctx, tx, first)
				if err != nil {
					return err
				}
				if f != nil {
					committed = append(committed, f)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("client: repair: %w", err)
	}
	for _, f := range committed {
		f()
	}
	return nil
}

// rangeConn opens a range read (Hello.Until) of (from, to] of the
// store's pull scope, with parts digests when parts > 0, and returns the
// connection and its Welcome.
func (r *Replicator) rangeConn(ctx context.Context, from, to int64, parts int) (*conn, *protocol.Welcome, error) {
	streams, err := r.pullStreams(ctx)
	if err != nil {
		return nil, nil, err
	}
	return r.rangeConnOf(ctx, from, to, parts, streams)
}

// rangeConnOf is rangeConn for streams with these prefixes (nil: all).
func (r *Replicator) rangeConnOf(ctx context.Context, from, to int64, parts int, streams []string) (*conn, *protocol.Welcome, error) {
	c, err := r.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	hello := &protocol.Hello{Versions: protocol.Versions(), Client: r.cfg.Device, Cursor: from, Until: to, Parts: parts,
		Streams: streams, Agent: Agent, App: r.cfg.App}
	if err := c.send(hello); err != nil {
		c.close(0, "")
		return nil, nil, err
	}
	m, err := r.next(ctx, c, 10*r.cfg.DialTimeout) // the hub reads the range before it answers
	if err != nil {
		c.close(0, "")
		return nil, nil, err
	}
	w, ok := m.(*protocol.Welcome)
	if !ok || w.Version < 3 {
		c.close(websocket.CloseNormalClosure, "")
		return nil, nil, fmt.Errorf("client: range read: the hub answered %s; hubs before protocol version 3 cannot repair", m.Type())
	}
	return c, w, nil
}

// next returns the next message on c, within wait.
func (r *Replicator) next(ctx context.Context, c *conn, wait time.Duration) (protocol.Message, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case in := <-c.in:
		c.took(in)
		if in.err != nil {
			return nil, in.err
		}
		if perr, ok := in.msg.(*protocol.Error); ok {
			return nil, perr
		}
		return in.msg, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: no answer within %s", ErrDisconnected, wait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// rangeDigests returns the hub's digests of parts of (from, to].
func (r *Replicator) rangeDigests(ctx context.Context, from, to int64, parts int) ([]string, error) {
	c, w, err := r.rangeConn(ctx, from, to, parts)
	if err != nil {
		return nil, err
	}
	c.close(websocket.CloseNormalClosure, "")
	if len(w.Digests) != parts {
		return nil, fmt.Errorf("client: range read: %d digests for %d parts", len(w.Digests), parts)
	}
	return w.Digests, nil
}

// rangeEvents returns the hub's events of the client's scope in (from, to].
func (r *Replicator) rangeEvents(ctx context.Context, from, to int64) ([]eventstore.Event, error) {
	c, _, err := r.rangeConn(ctx, from, to, 0)
	if err != nil {
		return nil, err
	}
	defer c.close(websocket.CloseNormalClosure, "")
	return r.readRange(ctx, c, from, to)
}

// readRange reads a range read's events of (from, to] until CaughtUp.
func (r *Replicator) readRange(ctx context.Context, c *conn, from, to int64) ([]eventstore.Event, error) {
	var out []eventstore.Event
	for {
		m, err := r.next(ctx, c, 2*r.cfg.KeepAlive)
		if err != nil {
			return nil, err
		}
		switch m := m.(type) {
		case *protocol.Events:
			for _, e := range m.Events {
				if e.HubPosition > from && e.HubPosition <= to {
					out = append(out, protocol.ToStored(e))
				}
			}
		case *protocol.CaughtUp:
			return out, nil
		case *protocol.Ping:
			_ = c.send(&protocol.Pong{Nonce: m.Nonce})
		}
	}
}
