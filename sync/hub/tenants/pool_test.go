package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/tenants"
)

// fakeStore is a memory store that records its Close.
type fakeStore struct {
	*memory.Store
	tenant string
	closed atomic.Bool
}

func (s *fakeStore) Close() error {
	if s.closed.Swap(true) {
		return errors.New("closed twice")
	}
	return s.Store.Close()
}

// opener opens fakeStores and records them.
type opener struct {
	mu     sync.Mutex
	opened []*fakeStore
	delay  time.Duration
	fail   func(tenant string) error // may be nil
}

func (o *opener) open(_ context.Context, tenant string) (tenants.Store, error) {
	time.Sleep(o.delay)
	if o.fail != nil {
		if err := o.fail(tenant); err != nil {
			return nil, err
		}
	}
	s := &fakeStore{Store: memory.New(eventstore.Config{Origin: "hub"}), tenant: tenant}
	o.mu.Lock()
	o.opened = append(o.opened, s)
	o.mu.Unlock()
	return s, nil
}

// closed returns the tenants whose stores were closed, in opening order.
func (o *opener) closed() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, s := range o.opened {
		if s.closed.Load() {
			out = append(out, s.tenant)
		}
	}
	return out
}

func (o *opener) opens() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.opened)
}

func newPool(t *testing.T, o *opener, maxOpen int) *tenants.Pool {
	p := tenants.New(o.open, tenants.Options{MaxOpen: maxOpen})
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

func acquire(t *testing.T, p *tenants.Pool, tenant string) (hub.Ledger, func()) {
	t.Helper()
	l, release, err := p.Acquire(context.Background(), tenant)
	require.NoError(t, err)
	return l, release
}

// Idle stores beyond the bound are closed, least recently used first.
func TestPoolBound(t *testing.T) {
	o := &opener{}
	p := newPool(t, o, 3)
	for i := range 10 {
		_, release := acquire(t, p, fmt.Sprint("t", i))
		release()
		assert.LessOrEqual(t, p.Open(), 3)
	}
	assert.Equal(t, []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6"}, o.closed())

	// Using t7 makes t8 the least recently used.
	_, release := acquire(t, p, "t7")
	release()
	_, release = acquire(t, p, "t10")
	release()
	assert.Equal(t, []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t8"}, o.closed())
	assert.Equal(t, 11, o.opens(), "t7 was not reopened")
}

// A store in use is never closed, however far the pool is over its bound;
// the surplus is closed as it is released.
func TestPoolNeverClosesInUse(t *testing.T) {
	o := &opener{}
	p := newPool(t, o, 2)
	var releases []func()
	for _, tenant := range []string{"a", "b", "c", "d"} {
		_, release := acquire(t, p, tenant)
		releases = append(releases, release)
	}
	assert.Equal(t, 4, p.Open())
	assert.Empty(t, o.closed())

	releases[0]() // a: over the bound and idle
	assert.Equal(t, []string{"a"}, o.closed())
	releases[0]() // a second call does nothing
	releases[2]() // c
	assert.Equal(t, []string{"a", "c"}, o.closed())
	releases[1]()
	releases[3]()
	assert.Equal(t, []string{"a", "c"}, o.closed(), "within the bound, idle stores stay open")
	assert.Equal(t, 2, p.Open())

	// Two users of one tenant: it stays open until both have released.
	l1, r1 := acquire(t, p, "e")
	l2, r2 := acquire(t, p, "e")
	assert.Same(t, l1, l2)
	_, r3 := acquire(t, p, "f")
	r1()
	r3()
	assert.False(t, l1.(*fakeStore).closed.Load())
	r2()
	assert.Equal(t, 2, p.Open())
}

// Concurrent Acquires of a tenant that is not open open it once and share
// the store.
func TestPoolConcurrentAcquireOpensOnce(t *testing.T) {
	o := &opener{delay: 20 * time.Millisecond}
	p := newPool(t, o, 4)
	const n = 32
	got := make([]hub.Ledger, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, release, err := p.Acquire(context.Background(), "acme")
			if assert.NoError(t, err) {
				got[i] = l
				release()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, o.opens())
	for _, l := range got {
		assert.Same(t, got[0], l)
	}
}

// A failed open fails the Acquires waiting for it, and only them: the next
// Acquire opens again.
func TestPoolOpenErrorDoesNotPoison(t *testing.T) {
	var fails atomic.Int32
	fails.Store(1)
	o := &opener{delay: 10 * time.Millisecond, fail: func(string) error {
		if fails.Add(-1) >= 0 {
			return errors.New("disk full")
		}
		return nil
	}}
	p := newPool(t, o, 4)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, release, err := p.Acquire(context.Background(), "acme")
			if err == nil {
				release()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	assert.ErrorContains(t, errors.Join(errs...), "disk full")
	assert.Zero(t, p.Open()-o.opens(), "no failed entry is left behind")

	l, release := acquire(t, p, "acme")
	defer release()
	assert.NotNil(t, l)
	assert.Equal(t, 1, p.Open())
}

// An Acquire whose context ends while the store opens returns the
// context's error; the store it was opening is pooled as idle, closable.
func TestPoolAcquireCancelled(t *testing.T) {
	o := &opener{delay: 50 * time.Millisecond}
	p := newPool(t, o, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, _, err := p.Acquire(ctx, "slow")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Eventually(t, func() bool { return o.opens() == 1 }, 5*time.Second, time.Millisecond)

	_, release := acquire(t, p, "other")
	release()
	require.Eventually(t, func() bool { return len(o.closed()) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"slow"}, o.closed())
	assert.Equal(t, 1, p.Open())
}

// Close closes every store, in use or idle; Acquire fails after it and a
// late release is harmless.
func TestPoolClose(t *testing.T) {
	o := &opener{}
	p := tenants.New(o.open, tenants.Options{MaxOpen: 8})
	_, inUse := acquire(t, p, "a")
	_, release := acquire(t, p, "b")
	release()
	require.NoError(t, p.Close())
	assert.ElementsMatch(t, []string{"a", "b"}, o.closed())
	inUse()
	_, _, err := p.Acquire(context.Background(), "a")
	assert.ErrorIs(t, err, eventstore.ErrClosed)
	assert.Equal(t, 2, o.opens())
}

// A tenant's SQLite ledger closed as idle is reopened from its file with
// everything it held.
func TestSQLiteReopen(t *testing.T) {
	dir := t.TempDir()
	p, err := tenants.SQLite(dir, tenants.Options{MaxOpen: 1})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	ctx := context.Background()

	l, release := acquire(t, p, "acme")
	e := eventstore.Event{ID: eventstore.NewID(), Stream: "task/1", Type: "task:added",
		Data: []byte(`{}`), Created: eventstore.TimestampOf(time.Now()), Origin: "dev-1"}
	_, err = l.Insert(ctx, e)
	require.NoError(t, err)
	release()
	_, release = acquire(t, p, "globex") // closes acme's
	release()
	assert.FileExists(t, filepath.Join(dir, tenants.File("acme")))

	l, release = acquire(t, p, "acme")
	defer release()
	h, err := l.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), h)
	var ids []string
	for got, err := range l.ReadAll(ctx, 0, 0) {
		require.NoError(t, err)
		ids = append(ids, got.ID)
	}
	assert.Equal(t, []string{e.ID}, ids)
}

// Under concurrent Acquires and releases of more tenants than the bound, a
// store is never closed while held, and the pool ends within its bound.
func TestPoolConcurrentChurn(t *testing.T) {
	o := &opener{}
	p := newPool(t, o, 3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				l, release, err := p.Acquire(context.Background(), fmt.Sprint("t", (g*7+i)%10))
				if !assert.NoError(t, err) {
					return
				}
				s := l.(*fakeStore)
				assert.False(t, s.closed.Load(), "handed out closed")
				_, err = l.Head(context.Background())
				assert.NoError(t, err)
				assert.False(t, s.closed.Load(), "closed while held")
				release()
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, p.Open(), 3)
	assert.Equal(t, o.opens()-len(o.closed()), p.Open(), "every store not pooled was closed")
}
