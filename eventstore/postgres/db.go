package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/internal/backend"
)

// DefaultSchema is the schema Open uses when Options.Schema is empty.
const DefaultSchema = "ferry"

// DefaultPollInterval is how often Wait re-reads the head when no
// notification arrives, when Options.PollInterval is zero.
const DefaultPollInterval = time.Second

// MaxTenantLen is the longest tenant name, in bytes.
const MaxTenantLen = 256

// Options configures Open.
type Options struct {
	// MaxConns caps the connection pool (0: the pgxpool default, the
	// larger of 4 and the number of CPUs). The listener uses one more
	// connection of its own, outside the pool.
	MaxConns int32
	// Schema holds every table (default DefaultSchema). Distinct schemas in
	// one database are independent stores.
	Schema string
	// Logger receives diagnostics (listener reconnects). Nil discards them.
	Logger *slog.Logger
	// PollInterval is Wait's fallback poll (default DefaultPollInterval);
	// notifications normally wake it long before.
	PollInterval time.Duration
	// RecordHubPositions makes the stores keep HubPosition as the
	// eventstore contract describes it for a replica: 0 on Append, as
	// given on Insert, then set by SetHubPositions or an echoing Insert.
	// By default (false) the stores are the hub's, and every stored event
	// has HubPosition = Position. The conformance suite runs with it set,
	// since it checks replica (outbox) semantics.
	RecordHubPositions bool
	// StreamPositionIndex adds an index of the events by (tenant, stream,
	// position), created by Open when missing, so that
	// Store.ReadStreamAfter seeks: a hub serving subscriptions reads only
	// their streams. It costs every insert an index entry (bulk inserts
	// about 18% in BenchmarkInsert1000); syncd turns it on. Creating it on
	// a large table takes a while and blocks writes meanwhile.
	StreamPositionIndex bool
}

// DB is a connection pool to one PostgreSQL database and schema, shared by
// the tenant stores it hands out. It is safe for concurrent use.
type DB struct {
	pool   *pgxpool.Pool
	schema string
	quoted string // schema as a quoted identifier
	logger *slog.Logger
	poll   time.Duration
	hub    bool // HubPosition = Position (not Options.RecordHubPositions)

	mu     sync.Mutex
	stores map[string]map[*Store]struct{}
	closed bool

	stopListen context.CancelFunc
	listenDone chan struct{}
	// listenPID is the backend pid of the listener connection (0 while it
	// is disconnected); tests use it to kill that connection.
	listenPID atomic.Uint32
}

// Open connects to the database at url (a PostgreSQL URL or keyword/value
// string), creates or migrates the schema, and starts listening for commits
// made by other processes. A schema written by a newer version of Ferry is
// refused with an error wrapping eventstore.ErrIncompatibleSchema.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Schema == "" {
		opts.Schema = DefaultSchema
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db := &DB{
		pool:   pool,
		schema: opts.Schema,
		quoted: quoteIdent(opts.Schema),
		logger: opts.Logger,
		poll:   opts.PollInterval,
		hub:    !opts.RecordHubPositions,
		stores: make(map[string]map[*Store]struct{}),
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, pool, db.schema, db.q); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.StreamPositionIndex {
		if _, err := pool.Exec(ctx, db.q(`CREATE INDEX IF NOT EXISTS events_stream_position_idx ON {s}.events (tenant, stream, position)`)); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: stream position index: %w", err)
		}
	}
	conn, err := db.connectListener(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: listen: %w", err)
	}
	db.listenPID.Store(conn.PgConn().PID())
	lctx, cancel := context.WithCancel(context.Background())
	db.stopListen, db.listenDone = cancel, make(chan struct{})
	go db.listen(lctx, conn)
	return db, nil
}

// Pool returns the underlying pool, for hub-side read models that live in
// the same database.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Schema returns the schema holding the store's tables.
func (db *DB) Schema() string { return db.schema }

// Close stops the listener and closes the pool. Stores handed out by db
// return eventstore.ErrClosed afterwards. Iterators must be finished first.
func (db *DB) Close() {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return
	}
	db.closed = true
	var all []*Store
	for _, set := range db.stores {
		for s := range set {
			all = append(all, s)
		}
	}
	db.mu.Unlock()
	db.stopListen()
	<-db.listenDone
	for _, s := range all {
		s.core.Notifier.Broadcast() // waiters see ErrClosed
	}
	db.pool.Close()
}

// Store returns the store of tenant. Every query it runs is restricted to
// that tenant's rows. cfg.Origin defaults to "hub"; cfg.Logger defaults to
// the DB's logger. Closing the Store releases only its own resources; the
// DB owns the pool.
func (db *DB) Store(tenant string, cfg eventstore.Config) (*Store, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = db.logger.With(slog.String("tenant", tenant))
	}
	s := &Store{db: db, tenant: tenant, core: backend.NewCore(cfg, "hub")}
	s.AutoCommit = backend.AutoCommit{Update: s.Update}

	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, fmt.Errorf("postgres: store %q: %w", tenant, eventstore.ErrClosed)
	}
	set := db.stores[tenant]
	if set == nil {
		set = make(map[*Store]struct{})
		db.stores[tenant] = set
	}
	set[s] = struct{}{}
	return s, nil
}

func checkTenant(tenant string) error {
	switch {
	case tenant == "":
		return errors.New("postgres: tenant must not be empty")
	case len(tenant) > MaxTenantLen:
		return fmt.Errorf("postgres: tenant longer than %d bytes", MaxTenantLen)
	case !utf8.ValidString(tenant) || strings.IndexByte(tenant, 0) >= 0:
		return errors.New("postgres: tenant must be valid UTF-8 without NUL bytes")
	}
	return nil
}

// unregister forgets s (Store.Close).
func (db *DB) unregister(s *Store) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if set := db.stores[s.tenant]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(db.stores, s.tenant)
		}
	}
}

// broadcast wakes the waiters of every store of tenant on this DB.
func (db *DB) broadcast(tenant string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	for s := range db.stores[tenant] {
		s.core.Notifier.Broadcast()
	}
}

// broadcastAll wakes every waiter (after a listener reconnect, when
// notifications may have been missed).
func (db *DB) broadcastAll() {
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, set := range db.stores {
		for s := range set {
			s.core.Notifier.Broadcast()
		}
	}
}

func (db *DB) isClosed() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.closed
}

// q puts the quoted schema name in place of "{s}" in a query template.
func (db *DB) q(sql string) string { return strings.ReplaceAll(sql, "{s}", db.quoted) }

// wrapErr adds op to err and names the retryable PostgreSQL conditions.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001":
			return fmt.Errorf("%s: serialization failure, retry the transaction: %w", op, err)
		case "40P01":
			return fmt.Errorf("%s: deadlock detected, retry the transaction: %w", op, err)
		case "22021", "22P05":
			// A byte sequence the database cannot store in text. The
			// envelope rules refuse these first; should one slip past
			// them it is still the event's fault, never a retryable one.
			return fmt.Errorf("%s: %w: %w", op, &eventstore.ValidationError{Field: "envelope", Reason: "text the database cannot store: " + pgErr.Message}, err)
		}
		if isDuplicateID(err) {
			return fmt.Errorf("%s: %w: %w", op, backend.DuplicateIDError(eventstore.Event{}), err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isDuplicateID reports whether err is a unique violation of an event ID.
func isDuplicateID(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_tenant_id_key"
}

// isNoRows reports whether err is pgx.ErrNoRows.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
