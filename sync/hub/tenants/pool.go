package tenants

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/hub"
)

// DefaultMaxOpen is the bound on open stores when Options.MaxOpen is not
// set. An open SQLite tenant store takes about 1.1 MB and 5 files (its
// connections, page caches and prepared statements), so the embedded hub
// stays near 160 MB and 700 files however many tenants it serves.
const DefaultMaxOpen = 128

// Store is a tenant's store as the pool holds it: the hub's ledger, and
// Close. Every eventstore.Store is one.
type Store interface {
	hub.Ledger
	Close() error
}

var _ Store = eventstore.Store(nil)

// OpenFunc opens tenant's store.
type OpenFunc func(ctx context.Context, tenant string) (Store, error)

// Options configure a Pool.
type Options struct {
	// MaxOpen bounds the stores the pool keeps open (default
	// DefaultMaxOpen). Stores in use are never closed: when more than
	// MaxOpen tenants are in use at once the pool holds them all, and
	// closes the surplus as they are released.
	MaxOpen int
	// Logger receives open and close logs. Nil discards them.
	Logger *slog.Logger
	// Now, when set, is the wall clock of the stores' HLCs (see
	// eventstore.WithWallClock): give it the hub's hub.Config.Now, so the
	// ledgers check clock drift against the same time the hub does.
	Now func() time.Time
}

// config returns the eventstore configuration of a tenant store: cfg with
// a clock on o.Now when it is set.
func (o Options) config(cfg eventstore.Config) eventstore.Config {
	if o.Now != nil {
		cfg.Clock = eventstore.NewClock(eventstore.WithWallClock(o.Now))
	}
	return cfg
}

// Pool hands out tenants' stores: it opens a tenant's store on its first
// Acquire, shares it among the tenant's users, and closes the least
// recently used idle stores beyond MaxOpen. It implements hub.Ledgers and
// is safe for concurrent use.
type Pool struct {
	open OpenFunc
	max  int
	log  *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry        // open or opening, by tenant
	idle    list.List                // of *entry with no users, most recent first
	closing map[string]chan struct{} // closed when the tenant's evicted store is closed
	closed  bool
	opening sync.WaitGroup // opens in progress
}

// entry is one tenant's store.
type entry struct {
	tenant string
	users  int           // Acquires not yet released
	ready  chan struct{} // closed when the open has ended
	store  Store         // set before ready is closed, nil when it failed
	err    error         // the open's error
	elem   *list.Element // in Pool.idle while users == 0
}

var _ hub.Ledgers = (*Pool)(nil)

// New returns a pool that opens stores with open.
func New(open OpenFunc, opts Options) *Pool {
	if opts.MaxOpen <= 0 {
		opts.MaxOpen = DefaultMaxOpen
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{open: open, max: opts.MaxOpen, log: log,
		entries: make(map[string]*entry), closing: make(map[string]chan struct{})}
}

// Acquire implements hub.Ledgers: it returns tenant's store, opening it
// when it is not open, and a release function to call, once, when the
// caller no longer uses it. The store stays open until released. When the
// open fails, Acquire returns its error; the next Acquire opens again.
func (p *Pool) Acquire(ctx context.Context, tenant string) (hub.Ledger, func(), error) {
	s, release, err := p.acquire(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	return s, release, nil
}

// acquire is Acquire, returning the Store.
func (p *Pool) acquire(ctx context.Context, tenant string) (Store, func(), error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, nil, fmt.Errorf("tenants: acquire %q: %w", tenant, eventstore.ErrClosed)
	}
	e, ok := p.entries[tenant]
	var evicted []*entry
	if ok {
		e.users++
		if e.elem != nil {
			p.idle.Remove(e.elem)
			e.elem = nil
		}
	} else {
		e = &entry{tenant: tenant, users: 1, ready: make(chan struct{})}
		p.entries[tenant] = e
		evicted = p.evict()
		p.opening.Add(1)
	}
	closing := p.closing[tenant]
	p.mu.Unlock()
	p.closeAll(evicted)
	if !ok {
		// Not cancelled with ctx: other callers may wait for this open.
		go p.load(context.WithoutCancel(ctx), e, closing)
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		p.release(e)
		return nil, nil, ctx.Err()
	}
	if e.err != nil {
		p.release(e)
		return nil, nil, e.err
	}
	var once sync.Once
	return e.store, func() { once.Do(func() { p.release(e) }) }, nil
}

// load opens e's store, after the close of the tenant's previous store
// (closing, when not nil) has ended.
func (p *Pool) load(ctx context.Context, e *entry, closing chan struct{}) {
	defer p.opening.Done()
	if closing != nil {
		<-closing
	}
	s, err := p.open(ctx, e.tenant)
	var evicted []*entry
	p.mu.Lock()
	if err != nil {
		e.err = fmt.Errorf("tenants: open %q: %w", e.tenant, err)
		if p.entries[e.tenant] == e {
			delete(p.entries, e.tenant) // the next Acquire opens again
		}
	} else {
		e.store = s
		p.log.Debug("opened tenant store", slog.String(logTenant, e.tenant))
		if e.users == 0 && !p.closed { // its users gave up waiting
			e.elem = p.idle.PushFront(e)
			evicted = p.evict()
		}
	}
	close(e.ready)
	p.mu.Unlock()
	p.closeAll(evicted)
}

// release gives back one use of e; an idle store beyond the bound is
// closed. (Once the pool is closing, Close closes every store.)
func (p *Pool) release(e *entry) {
	p.mu.Lock()
	e.users--
	var evicted []*entry
	if e.users == 0 && e.store != nil && !p.closed && p.entries[e.tenant] == e {
		e.elem = p.idle.PushFront(e)
		evicted = p.evict()
	}
	p.mu.Unlock()
	p.closeAll(evicted)
}

// evict removes the least recently used idle entries while more than max
// stores are open or opening (p.mu held), records that they are closing,
// and returns them for closeAll.
func (p *Pool) evict() []*entry {
	var out []*entry
	for len(p.entries) > p.max && p.idle.Len() > 0 {
		e := p.idle.Remove(p.idle.Back()).(*entry)
		e.elem = nil
		delete(p.entries, e.tenant)
		p.closing[e.tenant] = make(chan struct{})
		out = append(out, e)
	}
	return out
}

// closeAll closes the stores of evicted entries (p.mu not held).
func (p *Pool) closeAll(evicted []*entry) {
	for _, e := range evicted {
		if err := e.store.Close(); err != nil {
			p.log.Warn("close tenant store", slog.String(logTenant, e.tenant), slog.String(logErr, err.Error()))
		} else {
			p.log.Debug("closed idle tenant store", slog.String(logTenant, e.tenant))
		}
		p.mu.Lock()
		if ch, ok := p.closing[e.tenant]; ok {
			delete(p.closing, e.tenant)
			close(ch)
		}
		p.mu.Unlock()
	}
}

// Open returns the number of stores open or opening.
func (p *Pool) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}

// Tenants returns the tenants whose stores are open, sorted. It
// implements hub.TenantLister, for the hub's inspection.
func (p *Pool) Tenants() []string {
	p.mu.Lock()
	out := make([]string, 0, len(p.entries))
	for t, e := range p.entries {
		if e.store != nil {
			out = append(out, t)
		}
	}
	p.mu.Unlock()
	slices.Sort(out)
	return out
}

var _ hub.TenantLister = (*Pool)(nil)

// Close closes every store, in use or not, once the opens in progress
// have ended; later Acquires fail with eventstore.ErrClosed. Call it after
// the hub using the pool has shut down.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.opening.Wait()
	p.mu.Lock()
	stores := make([]*entry, 0, len(p.entries))
	for _, e := range p.entries {
		if e.store != nil {
			stores = append(stores, e)
		}
	}
	clear(p.entries)
	p.idle.Init()
	closing := make([]chan struct{}, 0, len(p.closing))
	for _, ch := range p.closing {
		closing = append(closing, ch)
	}
	p.mu.Unlock()
	for _, ch := range closing { // evicted stores being closed
		<-ch
	}
	var errs []error
	for _, e := range stores {
		if err := e.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("tenants: close %q: %w", e.tenant, err))
		}
	}
	return errors.Join(errs...)
}

// Log attribute keys.
const (
	logTenant = "tenant"
	logErr    = "err"
)
