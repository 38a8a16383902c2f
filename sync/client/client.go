package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Agent is the client software name sent in Hello.
const Agent = "ferry-client/1"

// Defaults for the zero fields of Config.
const (
	// DefaultBackoffInitial is the first reconnection delay bound.
	DefaultBackoffInitial = 500 * time.Millisecond
	// DefaultBackoffMax caps the reconnection delay bound.
	DefaultBackoffMax = 30 * time.Second
	// MaxBackoff is the largest Backoff.Max (and Initial) New accepts;
	// larger values are lowered to it.
	MaxBackoff = 24 * time.Hour
	// DefaultKeepAlive is how often an idle connection is pinged.
	DefaultKeepAlive = 25 * time.Second
	// DefaultDialTimeout bounds the TCP, TLS and WebSocket handshakes.
	DefaultDialTimeout = 15 * time.Second
	// DefaultWriteTimeout bounds one frame write.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultPipeline is the number of pushes in flight before the client
	// waits for an ack.
	DefaultPipeline = 4
	// DefaultVerifyEvery is Config.VerifyEvery's default.
	DefaultVerifyEvery = 24 * time.Hour
	// DefaultPullBatch is the most pulled events applied in one
	// transaction.
	DefaultPullBatch = 25_000
)

// Backoff bounds the delay between reconnection attempts. Attempt n waits a
// random duration in [0, min(Max, Initial·2ⁿ)] ("full jitter"), or the hub's
// retry hint when that is longer. Zero fields mean DefaultBackoffInitial and
// DefaultBackoffMax.
type Backoff struct {
	// Initial is the delay bound after the first failure.
	Initial time.Duration
	// Max caps the delay bound.
	Max time.Duration
}

// Config configures a Replicator.
type Config struct {
	// URL is the hub's WebSocket endpoint, e.g. "wss://hub.example/sync".
	// http and https URLs are accepted and mean ws and wss.
	URL string
	// Token is the bearer token sent in the upgrade request's
	// Authorization header. TokenFunc, when set, takes precedence and is
	// called before every connection (to refresh expiring tokens).
	Token string
	// TokenFunc returns the token for the next connection.
	TokenFunc func(ctx context.Context) (string, error)
	// Device is the client id sent in Hello. Empty means the store's
	// Origin, when the store has an Origin() string method (the memory and
	// SQLite stores do).
	Device string
	// Streams optionally narrows what is pulled to streams with these
	// prefixes (within the token's scope), for a store that has no
	// subscriptions recorded (Replicator.Subscribe); a store that has them
	// pulls those. Prefixes added to it on a store that has synced are
	// backfilled, as subscriptions are.
	Streams []string
	// App optionally names the app's version, or a digest of its event
	// registry (eventstore.Registry.Digest), sent in Hello: the hub logs
	// it per connection, so an operator sees which versions are in use.
	App string
	// Limits caps what the client sends: the limits used for a push are
	// the smaller of these and those the hub announces in Welcome, field
	// by field; zero fields defer to the hub. Frames from the hub are
	// accepted within the hub's announced limits.
	Limits protocol.Limits
	// BatchSize caps the events of one push (<= 0: the limits decide).
	BatchSize int
	// Pipeline is the number of pushes sent before waiting for an ack
	// (<= 0: DefaultPipeline).
	Pipeline int
	// PullBatch caps the pulled events applied in one transaction: frames
	// that arrived while the previous transaction ran are applied together
	// up to this many events (a frame is never split). Larger transactions
	// make a long catch-up faster; smaller ones commit progress more often
	// and hold less memory (<= 0: DefaultPullBatch).
	PullBatch int
	// Backoff bounds Run's reconnection delays.
	Backoff Backoff
	// KeepAlive is the interval of WebSocket pings on an idle connection;
	// a connection that shows no sign of life for two intervals is
	// dropped (<= 0: DefaultKeepAlive).
	KeepAlive time.Duration
	// DialTimeout bounds connection set-up (<= 0: DefaultDialTimeout).
	DialTimeout time.Duration
	// VerifyEvery is how often the replicator, as it connects, re-reads
	// the stored events to check them against the digest of what the hub
	// sent (0: DefaultVerifyEvery; < 0: never). A mismatch (a copy changed
	// on disk or by hand) starts a repair. Reading costs a pass over the
	// store.
	VerifyEvery time.Duration
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
	// Projectors are read models the Replicator updates inside the
	// transaction that stores pulled events (see Projector), so that a read
	// model commits with the events it reflects and a large pull does not
	// wait for the projectors to catch up afterwards, and that drop local
	// events the hub rejects (see RejectProjector). Each must still run on
	// its own (projector.Projector.Run): for local events, and to catch up
	// whenever it is behind the ledger. *projector.Projector implements
	// Projector.
	Projectors []Projector
	// Evict, when set, has the store drop the streams that leave its scope
	// when subscriptions are removed (Replicator.Unsubscribe, or
	// Config.Streams narrowed on a store without subscriptions): before
	// the next session, every stream of a removed prefix that no remaining
	// subscription covers is evicted whole (eventstore.Evicter: its
	// events, version, snapshots and relations), so no aggregate folds
	// part of it. A stream that holds a local event the hub has not
	// acknowledged is kept whole until its events are pushed, and evicted
	// then (the eviction is recorded as due in the store, KeyEvict, and
	// survives a restart). Read models follow in the eviction's
	// transaction: projectors that are EvictProjectors (a
	// *projector.Projector with a Reset) are reset and replay the ledger,
	// and OnEvict runs. A stream subscribed again is backfilled as any new
	// subscription. The store's Tx must be an eventstore.Evicter and the
	// store an eventstore.StreamLister (the memory and SQLite stores are).
	// False (the default): the events stay in the store and its read
	// models, no longer pulled.
	Evict bool
	// OnEvict, when set (Evict must be too), runs inside each eviction's
	// transaction with the streams evicted, sorted, after the store
	// removed them: the app deletes what its read models (those that are
	// not EvictProjectors) hold of them, committing with the eviction. An
	// error rolls the eviction back and fails the sync; it is retried at
	// the next one.
	OnEvict func(ctx context.Context, tx eventstore.Tx, streams []string) error
	// OnProgress, when set, is called after every state change of a
	// connection: connected, events applied, pushes acked, caught up,
	// disconnected. It runs on the replicator's goroutine and must return
	// quickly.
	OnProgress func(Progress)
}

// Projector is a read model that takes pulled events inside the
// transaction that inserts them. The Replicator calls ProjectInserted with
// the events new to the store, as stored (Position, Hydrated and Outdated
// set), in Position order; the projector handles them if it is in step with
// the ledger just before the first, and returns a function the Replicator
// calls after the commit, or returns nil, nil and leaves them to its own
// run. If it returns an error, the Replicator rolls the transaction back,
// logs the error and stores the events again without projecting them
// inline: the projector's own run meets them from the ledger, where its
// error policy applies. events belongs to the Replicator: a Projector must
// not modify it or keep it past the call.
type Projector interface {
	ProjectInserted(ctx context.Context, tx eventstore.Tx, events []eventstore.Event) (committed func(), err error)
}

// RejectProjector is a Projector that keeps rejected events out of its
// read model. Inside the transaction that marks local events rejected, the
// Replicator calls ProjectRejected with the lowest local Position among
// them; the projector makes its read model end as if they had never been
// stored, and returns a function the Replicator calls after the commit (or
// nil). An error rolls the transaction back: the rejection is not recorded
// and the sync fails with it. *projector.Projector implements
// RejectProjector (it resets and replays; see its ProjectRejected).
type RejectProjector interface {
	Projector
	ProjectRejected(ctx context.Context, tx eventstore.Tx, first int64) (committed func(), err error)
}

// EvictProjector is a Projector whose read model follows evictions
// (Config.Evict). Inside the transaction that evicts streams, the
// Replicator calls ProjectEvicted with the lowest Position among the
// events removed; the projector makes its read model end as if they had
// never been stored, and returns a function the Replicator calls after the
// commit (or nil). An error rolls the eviction back and fails the sync.
// *projector.Projector implements EvictProjector (with a Reset it resets
// and replays; see its ProjectEvicted).
type EvictProjector interface {
	Projector
	ProjectEvicted(ctx context.Context, tx eventstore.Tx, first int64) (committed func(), err error)
}

// Progress describes one connection's state for progress bars and status
// indicators. Counts are for the current connection.
type Progress struct {
	// Online is true while the connection is established.
	Online bool
	// CaughtUp is true once the hub has sent the whole backlog; pulled
	// events then arrive live.
	CaughtUp bool
	// Since is the cursor the connection resumed from.
	Since int64
	// Cursor is the persisted pull cursor.
	Cursor int64
	// Head is the hub's head as last known (Welcome, CaughtUp, then each
	// applied batch). Catch-up progress is (Cursor-Since)/(Head-Since).
	Head int64
	// Pushed counts events the hub accepted (duplicates included).
	Pushed int64
	// Rejected counts events marked rejected (by the hub or locally).
	Rejected int64
	// Pulled counts events received from the hub and applied.
	Pulled int64
	// Err is the reason the connection ended, when it did.
	Err error
}

// Store is what a Replicator needs of the local event store: the core
// ledger, the sync outbox, and key/value state (the pull cursor, sync
// status and rejections live there). The memory and SQLite stores have it;
// the Tx of its Update must offer eventstore.OutboxWriter and
// eventstore.KeyValues, as theirs do.
type Store interface {
	eventstore.Store
	eventstore.Outbox
	eventstore.KeyValues
	eventstore.StateLister
}

// Replicator synchronises one local event store with a hub: it pushes the
// store's outbox, pulls what others wrote and, in Run, stays live. Create
// it with New. Run and SyncOnce may be called from any goroutine, but only
// one session runs at a time: a second call waits for the first.
type Replicator struct {
	store  Store
	cfg    Config
	url    string
	log    *slog.Logger
	sem    chan struct{}
	online atomic.Bool
	active atomic.Bool
	batch  atomic.Uint64
	head   atomic.Int64 // the hub's head as last known in this process (Status.Head)
	// rescope is signalled (buffered 1) when the subscriptions change, so
	// that a running session ends and Run reconnects with them.
	rescope chan struct{}
	// evictHeld is set when an eviction kept streams for their local
	// events: a session evicts them once its pushes are acked.
	evictHeld atomic.Bool
}

// origin is implemented by stores that know their node id.
type origin interface{ Origin() string }

// New returns a Replicator for store. It checks cfg but does not connect.
func New(store Store, cfg Config) (*Replicator, error) {
	if store == nil {
		return nil, errors.New("client: nil store")
	}
	u, err := hubURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Device == "" {
		if o, ok := store.(origin); ok {
			cfg.Device = o.Origin()
		}
	}
	if cfg.Device == "" {
		return nil, errors.New("client: Config.Device is required when the store has no Origin")
	}
	if len(cfg.Device) > protocol.MaxNameBytes {
		return nil, fmt.Errorf("client: device id longer than %d bytes", protocol.MaxNameBytes)
	}
	if len(cfg.Streams) > protocol.MaxScopePrefixes {
		return nil, fmt.Errorf("client: more than %d stream prefixes", protocol.MaxScopePrefixes)
	}
	for i, p := range cfg.Projectors {
		if p == nil {
			return nil, fmt.Errorf("client: Config.Projectors[%d] is nil", i)
		}
	}
	cfg.Projectors = slices.Clone(cfg.Projectors)
	if cfg.OnEvict != nil && !cfg.Evict {
		return nil, errors.New("client: Config.OnEvict is set but Config.Evict is not")
	}
	if cfg.Backoff.Initial <= 0 {
		cfg.Backoff.Initial = DefaultBackoffInitial
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = DefaultBackoffMax
	}
	cfg.Backoff.Initial = min(cfg.Backoff.Initial, MaxBackoff)
	cfg.Backoff.Max = min(max(cfg.Backoff.Max, cfg.Backoff.Initial), MaxBackoff)
	if cfg.Pipeline <= 0 {
		cfg.Pipeline = DefaultPipeline
	}
	if cfg.PullBatch <= 0 {
		cfg.PullBatch = DefaultPullBatch
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.VerifyEvery == 0 {
		cfg.VerifyEvery = DefaultVerifyEvery
	}
	if len(cfg.App) > protocol.MaxNameBytes {
		return nil, fmt.Errorf("client: app version longer than %d bytes", protocol.MaxNameBytes)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Replicator{store: store, cfg: cfg, url: u, log: log, sem: make(chan struct{}, 1), rescope: make(chan struct{}, 1)}
	if err := r.restoreOffset(context.Background()); err != nil {
		return nil, err
	}
	return r, nil
}

// hubURL checks raw and turns http(s) into ws(s).
func hubURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("client: hub url: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("client: hub url %q: scheme must be ws, wss, http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("client: hub url %q: no host", raw)
	}
	return u.String(), nil
}

// Device returns the client id the replicator sends in Hello.
func (r *Replicator) Device() string { return r.cfg.Device }

// lock takes the session semaphore, or returns ctx's error.
func (r *Replicator) lock(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Replicator) unlock() { <-r.sem }

// token returns the bearer token for the next connection.
func (r *Replicator) token(ctx context.Context) (string, error) {
	if r.cfg.TokenFunc != nil {
		t, err := r.cfg.TokenFunc(ctx)
		if err != nil {
			return "", fmt.Errorf("client: token: %w", err)
		}
		return t, nil
	}
	return r.cfg.Token, nil
}

// progress reports p to OnProgress, if set.
func (r *Replicator) progress(p Progress) {
	if p.Head > r.head.Load() {
		r.head.Store(p.Head)
	}
	if r.cfg.OnProgress != nil {
		r.cfg.OnProgress(p)
	}
}
