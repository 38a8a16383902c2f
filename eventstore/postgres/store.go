package postgres

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/internal/backend"
)

// Store is the event store of one tenant, handed out by DB.Store. Every
// query it runs is restricted to its tenant. It is safe for concurrent use.
type Store struct {
	backend.AutoCommit
	db     *DB
	tenant string
	core   *backend.Core
	closed atomic.Bool
	gen    atomic.Pointer[string] // the tenant's generation, once read
	// resumed is set once the clock was moved past the tenant's greatest
	// Created (resumeClock, before the first Append).
	resumed atomic.Bool
}

var _ backend.ServerStore = (*Store)(nil)

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Tenant returns the tenant the store is scoped to.
func (s *Store) Tenant() string { return s.tenant }

// Close releases the store's own resources (its registration for commit
// notifications); the DB keeps the pool. Pending Waits return ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.db.unregister(s)
	s.core.Notifier.Broadcast()
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() || s.db.isClosed() {
		return eventstore.ErrClosed
	}
	return nil
}

// Update runs fn in one transaction (read committed) and commits when fn
// returns nil. The Tx passed to fn is a *Tx; its Pgx method exposes the
// underlying pgx.Tx so read models in the same database commit atomically
// with events and checkpoints.
func (s *Store) Update(ctx context.Context, fn func(tx eventstore.Tx) error) error {
	if err := s.check(); err != nil {
		return err
	}
	ptx, err := s.db.pool.Begin(ctx)
	if err != nil {
		return wrapErr("postgres: begin", err)
	}
	tx := &Tx{s: s, tx: ptx}
	committed := false
	defer func() {
		tx.done = true
		if !committed {
			_ = ptx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	tx.done = true
	if err := ptx.Commit(ctx); err != nil {
		return wrapErr("postgres: commit", err)
	}
	committed = true
	if tx.wrote {
		s.db.broadcast(s.tenant)
	}
	return nil
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var head int64
	err := s.db.pool.QueryRow(ctx, s.db.q(`SELECT head FROM {s}.tenants WHERE tenant = $1`), s.tenant).Scan(&head)
	if err != nil && !isNoRows(err) {
		return 0, wrapErr("head", err)
	}
	return head, nil
}

// Generation returns the id created with the tenant's ledger: its row in
// the tenants table, created by the first append or by this call. A hub
// tells clients the generation in Welcome: a tenant whose ledger was
// replaced (a new database, a dropped schema) has another one, so clients
// that synced with the old one know to repair. A restored backup keeps
// it. The id is read once per Store.
func (s *Store) Generation(ctx context.Context) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	if g := s.gen.Load(); g != nil {
		return *g, nil
	}
	var gen string
	err := s.db.pool.QueryRow(ctx, s.db.q(`WITH ins AS (
	INSERT INTO {s}.tenants (tenant, head) VALUES ($1, 0) ON CONFLICT (tenant) DO NOTHING RETURNING generation)
SELECT generation FROM ins UNION ALL SELECT generation FROM {s}.tenants WHERE tenant = $1 LIMIT 1`), s.tenant).Scan(&gen)
	if isNoRows(err) {
		// Another transaction created the row while this statement ran:
		// its insert waited and did nothing, and its snapshot, taken
		// before, does not see the row. A new statement does.
		err = s.db.pool.QueryRow(ctx, s.db.q(`SELECT generation FROM {s}.tenants WHERE tenant = $1`), s.tenant).Scan(&gen)
	}
	if err != nil {
		return "", wrapErr("generation", err)
	}
	s.gen.Store(&gen)
	return gen, nil
}

// resumeClock moves the store's clock past the greatest Created the
// tenant holds, once, before the store's first Append stamps an event (as
// the SQLite store does on Open; this one opens without I/O). Without it a
// server-side app restarted on a host whose clock is behind the one that
// wrote last, or after inserting events stamped ahead of it, would stamp
// events before those: they would sort first in their streams and arrive
// Outdated. stream_types keeps the greatest Created of each stream and
// type, so this reads one row per pair, once per Store.
func (s *Store) resumeClock(ctx context.Context, q querier) error {
	if s.resumed.Load() {
		return nil
	}
	var held int64
	if err := q.QueryRow(ctx, s.db.q(`SELECT coalesce(max(created), 0) FROM {s}.stream_types WHERE tenant = $1`),
		s.tenant).Scan(&held); err != nil {
		return wrapErr("resume the clock", err)
	}
	s.core.Clock.Resume(eventstore.Timestamp(held))
	s.resumed.Store(true)
	return nil
}

// Wait implements eventstore.Store. It wakes on commits of this tenant made
// through any DB on the same database and schema (LISTEN/NOTIFY), and polls
// the head every Options.PollInterval as a fallback.
func (s *Store) Wait(ctx context.Context, after int64) (int64, error) {
	return s.core.Wait(ctx, after, s.Head, s.db.poll)
}

// Status implements eventstore.StatusReader.
func (s *Store) Status(ctx context.Context, e eventstore.Event) (eventstore.EventStatus, error) {
	if err := s.check(); err != nil {
		return eventstore.EventStatus{}, err
	}
	var st eventstore.EventStatus
	err := s.db.pool.QueryRow(ctx, s.db.q(`SELECT
	EXISTS (SELECT 1 FROM {s}.events WHERE tenant = $1 AND id = $2),
	EXISTS (SELECT 1 FROM {s}.stream_types WHERE tenant = $1 AND stream = $3 AND type = $4 AND (created, id) > ($5, $2::text))`),
		s.tenant, e.ID, e.Stream, e.Type, pgTime(e.Created)).Scan(&st.Exists, &st.Outdated)
	if err != nil {
		return st, wrapErr("status "+e.ID, err)
	}
	st.Outdated = st.Outdated && !s.core.Commutative(e.Type)
	return st, nil
}

// StreamVersion implements eventstore.Store.
func (s *Store) StreamVersion(ctx context.Context, stream string) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	return streamVersion(ctx, s.db, s.db.pool, s.tenant, stream)
}

// ListStreams implements eventstore.StreamLister.
func (s *Store) ListStreams(ctx context.Context, opts eventstore.ListOptions) ([]eventstore.StreamInfo, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = eventstore.DefaultPageSize
	}
	rows, err := s.db.pool.Query(ctx, s.db.q(`SELECT stream, version FROM {s}.streams
WHERE tenant = $1 AND stream > $2 AND stream LIKE $3 ORDER BY stream LIMIT $4`),
		s.tenant, opts.After, likePrefix(opts.Prefix), limit)
	if err != nil {
		return nil, wrapErr("list streams", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventstore.StreamInfo, error) {
		var si eventstore.StreamInfo
		err := r.Scan(&si.Name, &si.Version)
		return si, err
	})
	if err != nil {
		return nil, wrapErr("list streams", err)
	}
	return out, nil
}

// StreamsByKeys implements eventstore.Relations.
func (s *Store) StreamsByKeys(ctx context.Context, keys ...string) ([]string, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := s.db.pool.Query(ctx, s.db.q(`SELECT DISTINCT stream FROM {s}.relations
WHERE tenant = $1 AND key = ANY($2) ORDER BY stream`), s.tenant, keys)
	if err != nil {
		return nil, wrapErr("streams by keys", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrapErr("streams by keys", err)
	}
	return out, nil
}

// LoadSnapshot implements eventstore.Snapshots.
func (s *Store) LoadSnapshot(ctx context.Context, name, stream string) (eventstore.Snapshot, error) {
	if err := s.check(); err != nil {
		return eventstore.Snapshot{}, err
	}
	snap := eventstore.Snapshot{Name: name, Stream: stream}
	var created int64
	err := s.db.pool.QueryRow(ctx, s.db.q(`SELECT cursor_created, cursor_id, version, state FROM {s}.snapshots
WHERE tenant = $1 AND stream = $2 AND name = $3`), s.tenant, stream, name).
		Scan(&created, &snap.Cursor.ID, &snap.Version, &snap.State)
	if isNoRows(err) {
		return eventstore.Snapshot{}, fmt.Errorf("load snapshot %s of %s: %w", name, stream, eventstore.ErrNotFound)
	}
	if err != nil {
		return eventstore.Snapshot{}, wrapErr("load snapshot "+name+" of "+stream, err)
	}
	snap.Cursor.Created = eventstore.Timestamp(created)
	return snap, nil
}

// Checkpoint implements eventstore.Checkpoints.
func (s *Store) Checkpoint(ctx context.Context, name string) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	return checkpoint(ctx, s.db, s.db.pool, s.tenant, name)
}

// State implements eventstore.KeyValues.
func (s *Store) State(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return state(ctx, s.db, s.db.pool, s.tenant, key)
}

// ListState implements eventstore.StateLister.
func (s *Store) ListState(ctx context.Context, prefix string) ([]eventstore.KeyValue, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.db.pool.Query(ctx, s.db.q(`SELECT key, value FROM {s}.state
WHERE tenant = $1 AND key LIKE $2 ORDER BY key`), s.tenant, likePrefix(prefix))
	if err != nil {
		return nil, wrapErr("list state", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventstore.KeyValue, error) {
		var kv eventstore.KeyValue
		err := r.Scan(&kv.Key, &kv.Value)
		return kv, err
	})
	if err != nil {
		return nil, wrapErr("list state", err)
	}
	return out, nil
}

func streamVersion(ctx context.Context, db *DB, q querier, tenant, stream string) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, db.q(`SELECT version FROM {s}.streams WHERE tenant = $1 AND stream = $2`), tenant, stream).Scan(&v)
	if err != nil && !isNoRows(err) {
		return 0, wrapErr("stream version "+stream, err)
	}
	return v, nil
}

func checkpoint(ctx context.Context, db *DB, q querier, tenant, name string) (int64, error) {
	var p int64
	err := q.QueryRow(ctx, db.q(`SELECT position FROM {s}.checkpoints WHERE tenant = $1 AND name = $2`), tenant, name).Scan(&p)
	if err != nil && !isNoRows(err) {
		return 0, wrapErr("checkpoint "+name, err)
	}
	return p, nil
}

func state(ctx context.Context, db *DB, q querier, tenant, key string) ([]byte, error) {
	var v []byte
	err := q.QueryRow(ctx, db.q(`SELECT value FROM {s}.state WHERE tenant = $1 AND key = $2`), tenant, key).Scan(&v)
	if isNoRows(err) {
		return nil, fmt.Errorf("state %s: %w", key, eventstore.ErrNotFound)
	}
	if err != nil {
		return nil, wrapErr("state "+key, err)
	}
	return v, nil
}

// likePrefix returns a LIKE pattern matching strings that start with prefix.
func likePrefix(prefix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(prefix) + "%"
}

// pgTime converts a Timestamp to the BIGINT stored in created columns.
// Stored timestamps never exceed math.MaxInt64 (Append and Insert reject
// them), so clamping a query bound there keeps comparisons correct.
func pgTime(t eventstore.Timestamp) int64 {
	if t > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(t)
}

// Clock returns the HLC the store stamps and observes events with.
func (s *Store) Clock() *eventstore.Clock { return s.core.Clock }
