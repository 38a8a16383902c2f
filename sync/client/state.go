package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferrysync/ferry/eventstore"
)

// Keys of the replicator's records in the store's key/value state.
const (
	// StatePrefix is the prefix of every key the replicator writes.
	StatePrefix = "ferry/sync/"
	// KeyCursor holds the pull cursor: the highest hub position applied,
	// in decimal. It is written in the same transaction as the events it
	// covers.
	KeyCursor = StatePrefix + "cursor"
	// KeyLastSync holds the time (RFC 3339) the replicator last caught up
	// with the hub, or last applied live events.
	KeyLastSync = StatePrefix + "last_sync"
	// KeyLastAttempt holds the time (RFC 3339) of the last connection
	// attempt.
	KeyLastAttempt = StatePrefix + "last_attempt"
	// KeyOnline holds "1" when the last connection attempt reached the hub
	// and its connection has not ended in error, "0" otherwise.
	KeyOnline = StatePrefix + "online"
	// KeyLastError holds the error that ended the last connection or
	// attempt; absent when the last attempt succeeded.
	KeyLastError = StatePrefix + "last_error"
	// RejectedPrefix prefixes one key per rejected event ID; the value is
	// a JSON Rejection.
	RejectedPrefix = StatePrefix + "rejected/"
	// KeyDigest holds the digest (eventstore.Digest.String) of the events
	// the hub sent, in the client's scope, up to the cursor; written with
	// the cursor.
	KeyDigest = StatePrefix + "digest"
	// KeyRepair is present when a repair is due: the hub's digest
	// differed from KeyDigest at the end of a catch-up.
	KeyRepair = StatePrefix + "repair"
	// KeyVerified holds the time (RFC 3339) the stored events were last
	// checked against KeyDigest (Config.VerifyEvery).
	KeyVerified = StatePrefix + "verified"
	// KeyLastRepair holds the last repair's JSON Repair.
	KeyLastRepair = StatePrefix + "last_repair"
	// KeyGeneration holds the generation of the hub's ledger the store
	// last synced with (Welcome.Generation).
	KeyGeneration = StatePrefix + "generation"
	// KeyRelay is present while a repair's relay is due: events of other
	// devices the hub lost, which this store holds, are pushed back to it
	// (see relay.go).
	KeyRelay = StatePrefix + "relay"
	// KeySubscriptions holds the JSON list of the stream prefixes the
	// store pulls (Replicator.Subscribe); absent: Config.Streams.
	KeySubscriptions = StatePrefix + "subscriptions"
	// KeyScope holds the JSON list of the prefixes the kept digest (and the
	// last session) covered; see subscribe.go.
	KeyScope = StatePrefix + "scope"
	// KeyBackfill holds the JSON list of pending backfills of added
	// subscriptions, with their progress.
	KeyBackfill = StatePrefix + "backfill"
	// KeyEvict holds the JSON list of the prefixes whose streams are to be
	// evicted (Config.Evict): they left the scope, and some may still hold
	// local events waiting for the hub (see evict.go).
	KeyEvict = StatePrefix + "evict"
)

// Status is the replication state of a store, for status commands and UIs.
type Status struct {
	// Device is the client id.
	Device string
	// Online reports whether the hub was reachable at the last attempt:
	// the connection was established and did not end in error (a finished
	// SyncOnce leaves it true). While Run runs in this process it is the
	// live state of Run's connection.
	Online bool
	// Pending counts local events not yet acknowledged by the hub,
	// rejected ones excluded.
	Pending int
	// Rejected counts events the hub (or the client, for breaking the
	// hub's limits) refused (see Rejections).
	Rejected int
	// Cursor is the highest hub position applied.
	Cursor int64
	// Head is the hub's head as last known by this Replicator (Welcome,
	// CaughtUp, each batch applied); 0 before its first connection in
	// this process.
	Head int64
	// Lag is how far Cursor is behind Head: the events the hub held that
	// the store had not applied yet, when last known (counting events
	// outside the pull's Streams, which are skipped rather than applied).
	Lag int64
	// LastSync is when the store was last known to be in sync with the
	// hub: it caught up, or applied live events (zero: never).
	LastSync time.Time
	// LastAttempt is when the last connection was attempted (zero: never).
	LastAttempt time.Time
	// LastError is what ended the last connection or attempt ("" if
	// nothing went wrong).
	LastError string
	// Digest is the digest of the events the hub sent, up to Cursor
	// (eventstore.Digest.String; "" before the first sync with a hub of
	// protocol version 3).
	Digest string
	// RepairDue reports that the last catch-up found the store's copy of
	// the ledger differs from the hub's: the next sync repairs it.
	RepairDue bool
	// LastRepair describes the last repair (nil: none ever).
	LastRepair *Repair
	// Generation is the generation of the hub's ledger the store last
	// synced with ("" before the first sync with a hub of protocol
	// version 3): a hub whose ledger was replaced has another one.
	Generation string
	// RelayDue reports that the store holds events of other devices the
	// hub lost, which the next sync pushes back to it.
	RelayDue bool
	// BackfillDue reports that subscriptions were added whose history the
	// next sync backfills (or finishes backfilling).
	BackfillDue bool
	// EvictDue reports that streams left the scope whose events a sync
	// evicts (Config.Evict): at the next sync, or once their local events
	// are pushed.
	EvictDue bool
}

// Repair describes a repair of the store's copy of the hub's ledger (see
// Status.LastRepair): what differed from the hub's, and what was done.
type Repair struct {
	// At is when the repair ran.
	At time.Time `json:"at"`
	// Ranges counts the ranges of hub positions re-pulled.
	Ranges int `json:"ranges"`
	// Changed counts events whose stored content was replaced by the
	// hub's copy.
	Changed int `json:"changed"`
	// Inserted counts events the store lacked.
	Inserted int `json:"inserted"`
	// Unacknowledged counts events whose hub position the hub does not
	// hold them at (local ones are pushed again).
	Unacknowledged int `json:"unacknowledged"`
	// Unrepaired lists events whose copy differs from the hub's in
	// stream, type or timestamp, which a repair does not rewrite.
	Unrepaired []string `json:"unrepaired,omitempty"`
	// Generation is set when the hub's ledger was another one than the
	// store last synced with: the new generation.
	Generation string `json:"generation,omitempty"`
}

func (r Repair) value() []byte {
	b, _ := json.Marshal(r) // plain fields: cannot fail
	return b
}

// Status reads the replication state from the store. It works offline and
// while Run is running.
func (r *Replicator) Status(ctx context.Context) (Status, error) {
	st := Status{Device: r.cfg.Device}
	var err error
	if st.Cursor, err = readCursor(ctx, r.store); err != nil {
		return st, err
	}
	for _, err := range r.store.ReadPending(ctx, 0, 0) { // rejected events are not pending
		if err != nil {
			return st, fmt.Errorf("client: status: %w", err)
		}
		st.Pending++
	}
	kv, err := r.store.ListState(ctx, StatePrefix)
	if err != nil {
		return st, fmt.Errorf("client: status: %w", err)
	}
	for _, e := range kv {
		switch e.Key {
		case KeyLastSync:
			st.LastSync, _ = time.Parse(time.RFC3339Nano, string(e.Value))
		case KeyLastAttempt:
			st.LastAttempt, _ = time.Parse(time.RFC3339Nano, string(e.Value))
		case KeyOnline:
			st.Online = string(e.Value) == "1"
		case KeyLastError:
			st.LastError = string(e.Value)
		case KeyDigest:
			st.Digest = string(e.Value)
		case KeyRepair:
			st.RepairDue = true
		case KeyGeneration:
			st.Generation = string(e.Value)
		case KeyRelay:
			st.RelayDue = true
		case KeyBackfill:
			st.BackfillDue = true
		case KeyEvict:
			st.EvictDue = true
		case KeyLastRepair:
			var rep Repair
			if json.Unmarshal(e.Value, &rep) == nil {
				st.LastRepair = &rep
			}
		default:
			if strings.HasPrefix(e.Key, RejectedPrefix) {
				st.Rejected++
			}
		}
	}
	if r.active.Load() {
		st.Online = r.online.Load()
	}
	st.Head = r.head.Load()
	st.Lag = max(st.Head-st.Cursor, 0)
	return st, nil
}

// Rejections lists the events the hub (or the client) rejected, by ID,
// with the code, reason and time. The events stay in the store's ledger
// marked rejected (eventstore.Event.Rejected, seen through ReadAll), are
// left out of stream reads, folds and the outbox, are never pushed again,
// and are not counted as pending.
func (r *Replicator) Rejections(ctx context.Context) ([]Rejection, error) {
	kv, err := r.store.ListState(ctx, RejectedPrefix)
	if err != nil {
		return nil, fmt.Errorf("client: rejections: %w", err)
	}
	out := make([]Rejection, 0, len(kv))
	for _, e := range kv {
		var rej Rejection
		if err := json.Unmarshal(e.Value, &rej); err != nil || rej.ID == "" {
			rej = Rejection{ID: strings.TrimPrefix(e.Key, RejectedPrefix), Reason: string(e.Value)}
		}
		out = append(out, rej)
	}
	return out, nil
}

// readCursor returns the persisted pull cursor (0 when none).
func readCursor(ctx context.Context, s interface {
	State(context.Context, string) ([]byte, error)
}) (int64, error) {
	v, err := s.State(ctx, KeyCursor)
	if errors.Is(err, eventstore.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("client: read cursor: %w", err)
	}
	c, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || c < 0 {
		return 0, fmt.Errorf("client: corrupt cursor %q under %s", v, KeyCursor)
	}
	return c, nil
}

// markOnline records the outcome of a connection attempt.
func (r *Replicator) markOnline(ctx context.Context, online bool, cause error) error {
	r.online.Store(online)
	return r.store.Update(ctx, func(tx eventstore.Tx) error {
		flag := "0"
		if online {
			flag = "1"
		}
		if err := eventstore.KeyValuesOf(tx).SetState(ctx, KeyOnline, []byte(flag)); err != nil {
			return err
		}
		if online {
			if err := eventstore.KeyValuesOf(tx).SetState(ctx, KeyLastAttempt, timeValue(time.Now())); err != nil {
				return err
			}
		}
		if cause == nil {
			return eventstore.KeyValuesOf(tx).DeleteState(ctx, KeyLastError)
		}
		return eventstore.KeyValuesOf(tx).SetState(ctx, KeyLastError, []byte(cause.Error()))
	})
}

// markAttempt records a failed connection attempt.
func (r *Replicator) markAttempt(ctx context.Context, cause error) error {
	r.online.Store(false)
	return r.store.Update(ctx, func(tx eventstore.Tx) error {
		if err := eventstore.KeyValuesOf(tx).SetState(ctx, KeyOnline, []byte("0")); err != nil {
			return err
		}
		if err := eventstore.KeyValuesOf(tx).SetState(ctx, KeyLastAttempt, timeValue(time.Now())); err != nil {
			return err
		}
		return eventstore.KeyValuesOf(tx).SetState(ctx, KeyLastError, []byte(cause.Error()))
	})
}

func timeValue(t time.Time) []byte { return []byte(t.UTC().Format(time.RFC3339Nano)) }
