package sqlite

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// A page cache of SQLite's own connections, one per connection, sharing no
// lock (UseLocalPageCache).
//
// modernc.org/sqlite builds SQLite with SQLITE_ENABLE_MEMORY_MANAGEMENT,
// which makes every connection's page cache (pcache1) part of one group
// guarded by one process-wide mutex, taken on every page a statement
// fetches. Independent databases, such as a hub's tenants, then serialise
// on it: it was half of syncd's mutex delay when many tenants ingest at
// once. This cache, registered with sqlite3_config(SQLITE_CONFIG_PCACHE2),
// keeps each connection's pages to itself. A connection is used by one
// goroutine at a time (database/sql), so a cache's lock is not contended;
// the registry of caches is read without one. The lock is still needed:
// with shared cache (cache=shared in a "file:" DSN) several connections
// share one pager, so one cache, and call it from their own goroutines.
// SQLite serialises them with its own mutex, whose sync.Mutex lives in C
// memory where the race detector cannot see it: without a lock of the
// cache's own, -race reports every such use as a data race.
//
// Pages live in C memory (modernc's allocator): each is a
// sqlite3_pcache_page header (pBuf, pExtra) followed by the page and its
// extra bytes. A cache keeps at most the size SQLite asks for (cache_size)
// of pages that are not pinned, recycling the least recently unpinned one;
// SQLite only unpins clean pages.

// pcacheOn records that UseLocalPageCache succeeded.
var pcacheOn atomic.Bool

// pcacheOnce makes UseLocalPageCache configure SQLite at most once.
var pcacheOnce sync.Once

// pcacheErr is the outcome of the configuration.
var pcacheErr error

// ErrSQLiteStarted is returned by UseLocalPageCache once SQLite has been
// initialised in this process (a database was opened): its page cache
// can no longer be replaced.
var ErrSQLiteStarted = errors.New("sqlite: the page cache can only be chosen before the first database is opened")

// UseLocalPageCache gives every SQLite connection of the process a page
// cache of its own, without the process-wide mutex SQLite's default cache
// takes on every page (see the comment at the top of pcache.go), and
// makes SQLite allocate its memory from allocators sharded by connection
// instead of libc's one (malloc.go). It must
// be called before the process opens its first SQLite database (through
// this package or modernc.org/sqlite directly), else it returns
// ErrSQLiteStarted; calling it again is a no-op. syncd calls it for its
// tenant stores (--sqlite-page-cache).
func UseLocalPageCache() error {
	pcacheOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		va := libc.Xmalloc(tls, libc.Tsize_t(unsafe.Sizeof(uintptr(0))))
		if va == 0 {
			pcacheErr = errors.New("sqlite: page cache: out of memory")
			return
		}
		defer libc.Xfree(tls, va)
		// SQLite's own cache (pcache1) still allocates scratch memory for
		// others and guards that with a mutex its init creates: keep its
		// entry points to init and shut it down with this one.
		if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_GETPCACHE2, libc.VaList(va, uintptr(unsafe.Pointer(&pcacheDefault)))); rc != sqlite3.SQLITE_OK {
			pcacheErr = ErrSQLiteStarted
			if rc != sqlite3.SQLITE_MISUSE {
				pcacheErr = fmt.Errorf("sqlite: page cache: sqlite3_config: code %d", rc)
			}
			return
		}
		if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_MALLOC, libc.VaList(va, uintptr(unsafe.Pointer(&memMethods)))); rc != sqlite3.SQLITE_OK {
			pcacheErr = fmt.Errorf("sqlite: memory allocator: sqlite3_config: code %d", rc)
			return
		}
		switch rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_PCACHE2, libc.VaList(va, uintptr(unsafe.Pointer(&pcacheMethods)))); rc {
		case sqlite3.SQLITE_OK:
			pcacheOn.Store(true)
		case sqlite3.SQLITE_MISUSE:
			pcacheErr = ErrSQLiteStarted
		default:
			pcacheErr = fmt.Errorf("sqlite: page cache: sqlite3_config: code %d", rc)
		}
	})
	return pcacheErr
}

// LocalPageCache reports whether UseLocalPageCache is in effect.
func LocalPageCache() bool { return pcacheOn.Load() }

// pcacheMethods are the cache's entry points (SQLite copies them).
var pcacheMethods = sqlite3.Tsqlite3_pcache_methods2{
	FiVersion: 1,
	FxInit: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr) int32
	}{pcacheInit})),
	FxShutdown: *(*uintptr)(unsafe.Pointer(&struct{ f func(*libc.TLS, uintptr) }{pcacheShutdown})),
	FxCreate: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, int32, int32, int32) uintptr
	}{pcacheCreate})),
	FxCachesize: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr, int32)
	}{pcacheCachesize})),
	FxPagecount: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr) int32
	}{pcachePagecount})),
	FxFetch: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr, uint32, int32) uintptr
	}{pcacheFetch})),
	FxUnpin: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr, uintptr, int32)
	}{pcacheUnpin})),
	FxRekey: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr, uintptr, uint32, uint32)
	}{pcacheRekey})),
	FxTruncate: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr, uint32)
	}{pcacheTruncate})),
	FxDestroy: *(*uintptr)(unsafe.Pointer(&struct{ f func(*libc.TLS, uintptr) }{pcacheDestroy})),
	FxShrink:  *(*uintptr)(unsafe.Pointer(&struct{ f func(*libc.TLS, uintptr) }{pcacheShrink})),
}

// pcaches maps a cache's handle (what SQLite holds) to the cache. Loads of
// handles stored a while ago take no lock.
var pcaches sync.Map

// pcacheHandles numbers the caches; handle 0 would read as a failure.
var pcacheHandles atomic.Uintptr

// pcacheHeader is the size of a page's sqlite3_pcache_page header.
const pcacheHeader = 2 * unsafe.Sizeof(uintptr(0))

// pcache is one connection's page cache.
type pcache struct {
	mu          sync.Mutex // see the comment at the top: not contended
	page, extra uintptr    // the sizes SQLite asked for
	purgeable   bool       // false for temporary databases: never evict
	max         int        // pages to keep (cache_size)
	maxKey      uint32     // no page has a greater key (Truncate's shortcut)
	pages       map[uint32]*pcachePage
	byMem       map[uintptr]*pcachePage
	lru         pcachePage // sentinel of the unpinned pages, most recent first
	unpinned    int
}

// pcachePage is a page of a pcache: mem is its C memory, the address SQLite
// holds.
type pcachePage struct {
	mem        uintptr
	key        uint32
	pinned     bool
	prev, next *pcachePage
}

// pcacheDefault are SQLite's own cache's entry points (GETPCACHE2).
var pcacheDefault sqlite3.Tsqlite3_pcache_methods2

// pcacheInit and pcacheShutdown run pcache1's, which set up (and free) the
// mutex its scratch allocations take.
func pcacheInit(tls *libc.TLS, arg uintptr) int32 {
	if pcacheDefault.FxInit == 0 {
		return sqlite3.SQLITE_OK
	}
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{pcacheDefault.FxInit})))(tls, pcacheDefault.FpArg)
}

func pcacheShutdown(tls *libc.TLS, arg uintptr) {
	if pcacheDefault.FxShutdown != 0 {
		(*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&struct{ uintptr }{pcacheDefault.FxShutdown})))(tls, pcacheDefault.FpArg)
	}
}

func pcacheCreate(_ *libc.TLS, szPage, szExtra, purgeable int32) uintptr {
	c := &pcache{page: uintptr(szPage), extra: uintptr(szExtra), purgeable: purgeable != 0, max: 100,
		pages: make(map[uint32]*pcachePage), byMem: make(map[uintptr]*pcachePage)}
	c.lru.prev, c.lru.next = &c.lru, &c.lru
	h := pcacheHandles.Add(1)
	pcaches.Store(h, c)
	return h
}

// pcacheOf returns the cache of handle h, locked: the caller unlocks it.
func pcacheOf(h uintptr) *pcache {
	c, _ := pcaches.Load(h)
	p := c.(*pcache)
	p.mu.Lock()
	return p
}

func pcacheCachesize(tls *libc.TLS, h uintptr, n int32) {
	c := pcacheOf(h)
	defer c.mu.Unlock()
	c.max = max(int(n), 10)
	if c.purgeable {
		c.trim(tls, c.max)
	}
}

func pcachePagecount(_ *libc.TLS, h uintptr) int32 {
	c := pcacheOf(h)
	defer c.mu.Unlock()
	return int32(len(c.pages))
}

func pcacheFetch(tls *libc.TLS, h uintptr, key uint32, create int32) uintptr {
	c := pcacheOf(h)
	defer c.mu.Unlock()
	if p := c.pages[key]; p != nil {
		c.pin(p)
		return p.mem
	}
	if create == 0 {
		return 0
	}
	if c.purgeable {
		pinned := len(c.pages) - c.unpinned
		if create == 1 && pinned >= c.max*9/10 {
			return 0 // SQLite spills a dirty page and asks again
		}
		if len(c.pages) >= c.max && c.unpinned > 0 {
			p := c.lru.prev // the least recently unpinned
			c.pin(p)
			delete(c.pages, p.key)
			p.key = key
			c.pages[key] = p
			c.maxKey = max(c.maxKey, key)
			libc.Xmemset(tls, p.mem+pcacheHeader+c.page, 0, libc.Tsize_t(c.extra))
			return p.mem
		}
	}
	mem := libc.Xmalloc(tls, libc.Tsize_t(pcacheHeader+c.page+c.extra))
	if mem == 0 {
		return 0
	}
	hdr := (*[2]uintptr)(unsafe.Add(unsafe.Pointer(nil), mem)) // C memory: not the Go heap
	hdr[0], hdr[1] = mem+pcacheHeader, mem+pcacheHeader+c.page
	libc.Xmemset(tls, mem+pcacheHeader+c.page, 0, libc.Tsize_t(c.extra))
	p := &pcachePage{mem: mem, key: key, pinned: true}
	c.pages[key] = p
	c.byMem[mem] = p
	c.maxKey = max(c.maxKey, key)
	return mem
}

func pcacheUnpin(tls *libc.TLS, h, mem uintptr, discard int32) {
	c := pcacheOf(h)
	defer c.mu.Unlock()
	p := c.byMem[mem]
	if p == nil {
		return
	}
	if discard != 0 {
		c.drop(tls, p)
		return
	}
	if p.pinned {
		p.pinned = false
		p.next, p.prev = c.lru.next, &c.lru
		c.lru.next.prev = p
		c.lru.next = p
		c.unpinned++
	}
	if c.purgeable {
		c.trim(tls, c.max)
	}
}

func pcacheRekey(tls *libc.TLS, h, mem uintptr, oldKey, newKey uint32) {
	c := pcacheOf(h)
	defer c.mu.Unlock()
	p := c.byMem[mem]
	if p == nil {
		return
	}
	if q := c.pages[newKey]; q != nil && q != p {
		c.drop(tls, q) // unpinned, SQLite guarantees
	}
	if c.pages[oldKey] == p {
		delete(c.pages, oldKey)
	}
	p.key = newKey
	c.pages[newKey] = p
	c.maxKey = max(c.maxKey, newKey)
}

func pcacheTruncate(tls *libc.TLS, h uintptr, limit uint32) {
	c := pcacheOf(h)
	defer c.mu.Unlock()
	if limit > c.maxKey {
		return
	}
	for key, p := range c.pages {
		if key >= limit {
			c.drop(tls, p) // pinned ones too: they are unpinned implicitly
		}
	}
	if limit > 0 {
		c.maxKey = limit - 1
	}
}

func pcacheDestroy(tls *libc.TLS, h uintptr) {
	c := pcacheOf(h)
	defer c.mu.Unlock()
	for _, p := range c.pages {
		c.drop(tls, p)
	}
	pcaches.Delete(h)
}

func pcacheShrink(tls *libc.TLS, h uintptr) {
	c := pcacheOf(h)
	defer c.mu.Unlock()
	if c.purgeable { // a temporary database's pages are its only copy
		c.trim(tls, 0)
	}
}

// pin takes p out of the unpinned pages.
func (c *pcache) pin(p *pcachePage) {
	if p.pinned {
		return
	}
	p.prev.next, p.next.prev = p.next, p.prev
	p.prev, p.next = nil, nil
	p.pinned = true
	c.unpinned--
}

// trim frees the least recently unpinned pages until the cache holds at
// most keep pages, or has no unpinned page left.
func (c *pcache) trim(tls *libc.TLS, keep int) {
	for len(c.pages) > keep && c.unpinned > 0 {
		c.drop(tls, c.lru.prev)
	}
}

// drop removes p from the cache and frees its memory.
func (c *pcache) drop(tls *libc.TLS, p *pcachePage) {
	c.pin(p)
	if c.pages[p.key] == p {
		delete(c.pages, p.key)
	}
	delete(c.byMem, p.mem)
	libc.Xfree(tls, p.mem)
}
