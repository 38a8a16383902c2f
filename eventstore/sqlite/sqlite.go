// Package sqlite is Ferry's SQLite event store, built on the pure-Go
// modernc.org/sqlite driver: the default store of edge apps and of an
// embedded hub.
//
// A Store keeps one database file in WAL mode. Writes go through a single
// writer connection whose transactions begin IMMEDIATE, so appends from
// goroutines of this process (and from other processes sharing the file,
// through busy_timeout) are serialised and positions stay gap-free (until
// an eviction removes streams: see Tx.Evict; positions are never reused,
// but another process that opened the file before an eviction of the
// ledger's last events learns of it only when it reopens). Reads go
// through a separate pool of query-only connections, so iterators never block
// writers.
//
// The schema is versioned: Open applies any missing migrations inside one
// transaction, refuses a file written by a newer Ferry or a SQLite file that
// is not a Ferry store (eventstore.ErrIncompatibleSchema), and returns an
// error for a corrupt or non-SQLite file.
//
// The Tx passed to Store.Update implements eventstore.SQLTx: read models kept
// in the same file write through Tx.SQL() and commit atomically with events
// and checkpoints.
//
// Cancellation: a statement prepared on the writer connection (Ferry's own,
// and those prepared through Tx.SQL().PrepareContext) checks its context
// when it starts and then runs to its end: the driver would otherwise start
// a goroutine per execution to watch the context, which costs as much as a
// one-row INSERT. One-off statements (Tx.SQL().ExecContext or QueryContext
// with a query string) and reads through the Store stay interruptible. A
// transaction whose context ends is rolled back and Update returns the
// context's error; waiting for another process's write lock ends with the
// context too.
//
// Several processes may open the same file: writes serialise on SQLite's
// write lock (waiting up to 5s, then failing with an error that says the
// database is busy), positions and stream versions stay exact, and Wait
// notices other processes' commits by polling the head every 200ms.
//
// Tenants are not supported: one file is one store.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/internal/backend"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Options configures Open.
type Options struct {
	eventstore.Config
	// Synchronous is the SQLite synchronous level: "NORMAL" (the default;
	// in WAL mode a power loss may lose the last commits but never corrupts
	// the file) or "FULL" (every commit is durable).
	Synchronous string
	// ReadConns is the size of the read pool; <= 0 means DefaultReadConns.
	// An iterator holds one connection until it finishes, so iterators
	// nested more deeply than ReadConns would wait for each other.
	ReadConns int
	// CacheBytes is the page cache of the writer connection; <= 0 means
	// DefaultCacheBytes. A large write transaction (a sync client applying
	// a pulled backlog, with its projectors) whose changed pages exceed
	// the cache spills them to the WAL early and writes some twice. The
	// cache fills only as pages are used; the read connections keep
	// SQLite's default (2 MiB each).
	CacheBytes int64
	// StreamPositionIndex adds an index of the events by (stream,
	// position), created at Open when missing, so that ReadStreamAfter
	// seeks: a hub serving subscriptions reads only their streams. It costs
	// every insert an index entry; devices do without it.
	StreamPositionIndex bool
}

// DefaultReadConns is the read pool size when Options.ReadConns is not set.
const DefaultReadConns = 4

// DefaultCacheBytes is the writer's page cache when Options.CacheBytes is
// not set. (SQLite's own default is 2 MiB.)
const DefaultCacheBytes = 32 << 20

// busyTimeout is how long a connection waits for another's lock.
const busyTimeout = 5000 * time.Millisecond

// pollInterval is how often Wait re-reads the head, to notice commits made
// by other processes sharing the file.
const pollInterval = 200 * time.Millisecond

// Store is an eventstore.Store backed by one SQLite file.
type Store struct {
	backend.OutboxCommit
	core   *backend.Core
	path   string
	write  *sql.DB
	read   *sql.DB
	ws     writeStmts
	rs     readStmts
	closed atomic.Bool
	gen    string // the ledger's generation (meta "generation"), read on Open
	// known is the highest position known committed, learned from this
	// Store's commits and Head queries (see Wait).
	known atomic.Int64
	// evictedHead is the head an eviction left above the greatest
	// position (see Evict), 0 when none: read on Open, set by Evict.
	evictedHead atomic.Int64
}

var _ backend.EdgeStore = (*Store)(nil)

// Open opens (creating if needed) the store in the SQLite file at path,
// migrating its schema to the current version.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	sync, err := synchronous(opts.Synchronous)
	if err != nil {
		return nil, err
	}
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: open %q: need a file name (WAL mode needs a file)", path)
	}
	readConns := opts.ReadConns
	if readConns <= 0 {
		readConns = DefaultReadConns
	}

	cacheKiB := opts.CacheBytes >> 10
	if opts.CacheBytes <= 0 {
		cacheKiB = DefaultCacheBytes >> 10
	}
	wc, err := newWriterConnector(dsn(path, sync, writeConn, max(cacheKiB, 1)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w := sql.OpenDB(wc)
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{path: path, write: w}
	origin, err := s.init(ctx, opts.Config.Origin)
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	if err := s.ws.prepare(ctx, w); err != nil {
		_ = s.ws.close()
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, sync, readConn, 0))
	if err != nil {
		_ = s.ws.close()
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s.read = r
	if err := s.rs.prepare(ctx, r); err != nil {
		_ = s.rs.close()
		_ = r.Close()
		_ = s.ws.close()
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	cfg := opts.Config
	cfg.Origin = origin
	s.core = backend.NewCore(cfg, origin)
	s.core.KeepUnknown = true
	s.OutboxCommit = backend.OutboxCommit{AutoCommit: backend.AutoCommit{Update: s.Update}}
	if opts.StreamPositionIndex {
		if _, err := s.write.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS events_stream_position ON events (stream, position)`); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("sqlite: open %s: stream position index: %w", path, mapErr(err))
		}
	}
	if err := s.resumeClock(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if cfg.Registry != nil {
		if _, err := s.Revive(ctx); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	}
	return s, nil
}

func synchronous(v string) (string, error) {
	switch strings.ToUpper(v) {
	case "", "NORMAL":
		return "NORMAL", nil
	case "FULL":
		return "FULL", nil
	}
	return "", fmt.Errorf("sqlite: Synchronous %q: want \"NORMAL\" or \"FULL\"", v)
}

// connMode is what a connection of the Store is for.
type connMode int

const (
	writeConn connMode = iota
	readConn
)

// walAutoCheckpoint is the writer's wal_autocheckpoint: the WAL size, in
// pages (64 MiB of 4 KiB pages), past which a commit copies the WAL into the
// database file. SQLite's default (1,000 pages) has a large write
// transaction (a sync client applying a pulled backlog with its projectors)
// checkpoint after nearly every commit, copying the pages it keeps
// rewriting (the tails of the stream index) each time; a larger WAL copies
// each of them once per checkpoint. The WAL file keeps its largest size
// (about 64 MiB after a long catch-up) until the last connection closes,
// which checkpoints and removes it.
const walAutoCheckpoint = 16384

// dsn builds the modernc DSN for path with Ferry's PRAGMAs. The writer begins
// its transactions IMMEDIATE and has a page cache of cacheKiB; readers are
// query-only.
func dsn(path, sync string, mode connMode, cacheKiB int64) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	switch mode {
	case readConn:
		q.Add("_pragma", "query_only(1)")
	case writeConn:
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -cacheKiB))
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walAutoCheckpoint))
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	return u.String()
}

// Origin returns this store's node id, recorded on local events: the one
// the file was first opened with (Config.Origin, or an id generated then),
// kept in the file. Opening it later with another Config.Origin fails with
// an *eventstore.OriginError.
func (s *Store) Origin() string { return s.core.Origin }

// Generation returns the id created with the file's ledger and kept in it
// (recorded by the first Open of a file without one). A hub tells clients
// the generation of a tenant's ledger in Welcome: a ledger replaced by
// another one (a deleted file, a new database) has another generation, so
// clients that synced with the old one know to repair. A copy of the file
// (a backup) keeps it.
func (s *Store) Generation(context.Context) (string, error) { return s.gen, nil }

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes both connection pools. Iterators must be finished first.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := errors.Join(s.rs.close(), s.read.Close(), s.ws.close(), s.write.Close())
	if err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

// Wait implements eventstore.Store. It wakes on commits made through this
// Store and, by polling the head every 200ms, on commits of other processes.
// A commit made through this Store is known without a query (learnHead): a
// read transaction after a write makes SQLite clear the reading
// connection's page cache, under a mutex every SQLite file of the process
// shares, so one Head query per commit serialised a hub's independent
// tenants.
func (s *Store) Wait(ctx context.Context, after int64) (int64, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	return s.core.Wait(ctx, after, func(ctx context.Context) (int64, error) {
		if h := s.known.Load(); h > after {
			return h, nil
		}
		return s.Head(ctx)
	}, pollInterval)
}

// learnHead records that every position up to h is committed: writes are
// serialised (one writer here, the file lock across processes), so a
// commit at h implies the positions before it.
func (s *Store) learnHead(h int64) {
	for {
		k := s.known.Load()
		if h <= k || s.known.CompareAndSwap(k, h) {
			return
		}
	}
}

// Clock returns the HLC the store stamps and observes events with.
func (s *Store) Clock() *eventstore.Clock { return s.core.Clock }

// resumeClock moves the store's clock past the greatest Created the file
// holds. Without it a process restarted after pulling an event stamped ahead
// of its own wall clock would stamp its next local events before that one:
// they would sort first in their streams and be Outdated on arrival, so
// their Once and On handlers would never run. stream_types keeps the
// greatest Created of each stream and type, so this reads one small row per
// pair, not the events.
func (s *Store) resumeClock(ctx context.Context) error {
	var held int64
	if err := s.read.QueryRowContext(ctx, `SELECT coalesce(max(created), 0) FROM stream_types`).Scan(&held); err != nil {
		return fmt.Errorf("read the greatest created: %w", err)
	}
	s.core.Clock.Resume(eventstore.Timestamp(held))
	return nil
}
