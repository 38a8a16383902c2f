package sqlite

import (
	"sync"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/memory"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite's memory allocator, in shards (installed with the local page
// cache, UseLocalPageCache).
//
// SQLite allocates through sqlite3_config(SQLITE_CONFIG_MALLOC)'s methods,
// by default modernc's libc malloc: one allocator behind one process-wide
// mutex. After the page cache's mutex was gone it was all the contention
// left when many tenants ingest at once: 0.5 s of mutex delay per second
// of syncd at two cores. These methods spread allocations over
// memShardCount allocators, each with its own lock, chosen by the calling
// libc.TLS: modernc.org/sqlite gives each connection a TLS of its own, so
// a connection's allocations take a lock that other connections rarely
// want. A block records its size and shard in a header, so any thread may
// free or resize it. Large blocks (memLarge) come from libc's allocator,
// shared by all connections, so that one freed by a connection is reused
// by the next instead of staying resident in its shard.

// memShardCount is the number of allocators. Connections map onto them by
// their TLS's ID. Each allocator keeps up to 4 MB (plus its high-water
// mark) of freed regions for reuse, decommitting the cold ones.
const memShardCount = 16

// memHeader is the bytes before each block: its size and its shard. It
// keeps the 16-byte alignment modernc's allocator gives.
const memHeader = 16

// memLarge is the size (header included) from which a block comes from
// libc's allocator, the one SQLite uses by default, instead of a shard;
// its header then records shard memShardCount. An allocator keeps a freed
// region of this size committed for reuse (one at least per size class,
// whatever its size), and only its own allocations reuse it: from
// shards, a transient block as large as 24 MB left behind by connections
// on 16 shards kept 16 such regions resident (384 MB) where one allocator
// keeps one. Blocks this large are rare and costly to fill, so their lock
// is not contended; the ones SQLite allocates on every write (a
// sub-journal's 64 KiB chunks, lookaside) stay below it.
const memLarge = 256 << 10

// memShard is one allocator and its lock, padded to a cache line of its
// own.
type memShard struct {
	mu sync.Mutex
	a  memory.Allocator
	_  [64]byte
}

var memShards [memShardCount]memShard

// memMethods are the allocator's entry points (SQLite copies them).
var memMethods = sqlite3.Tsqlite3_mem_methods{
	FxMalloc: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, int32) uintptr
	}{memMalloc})),
	FxFree: *(*uintptr)(unsafe.Pointer(&struct{ f func(*libc.TLS, uintptr) }{memFree})),
	FxRealloc: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr, int32) uintptr
	}{memRealloc})),
	FxSize: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr) int32
	}{memSize})),
	FxRoundup: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, int32) int32
	}{memRoundup})),
	FxInit: *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr) int32
	}{memInit})),
	FxShutdown: *(*uintptr)(unsafe.Pointer(&struct{ f func(*libc.TLS, uintptr) }{memShutdown})),
}

// memMalloc returns n bytes from the shard of tls (from libc for a large
// block, see memLarge), or 0.
func memMalloc(tls *libc.TLS, n int32) uintptr {
	if n <= 0 {
		return 0
	}
	var p uintptr
	i := uintptr(memShardCount)
	if size := int(n) + memHeader; size >= memLarge {
		p = libc.Xmalloc(tls, libc.Tsize_t(size))
	} else {
		i = uintptr(uint32(tls.ID)) % memShardCount
		s := &memShards[i]
		s.mu.Lock()
		var err error
		p, err = s.a.UintptrMalloc(size)
		s.mu.Unlock()
		if err != nil {
			return 0
		}
	}
	if p == 0 {
		return 0
	}
	hdr := (*[2]uintptr)(cmem(p))
	hdr[0], hdr[1] = uintptr(n), i
	return p + memHeader
}

func memFree(tls *libc.TLS, p uintptr) {
	if p == 0 {
		return
	}
	h := p - memHeader
	i := (*[2]uintptr)(cmem(h))[1]
	if i == memShardCount {
		libc.Xfree(tls, h)
		return
	}
	s := &memShards[i]
	s.mu.Lock()
	_ = s.a.UintptrFree(h)
	s.mu.Unlock()
}

// memRealloc moves the block to a new one of n bytes, in the caller's
// shard. SQLite calls it with p != 0 and n > 0; on failure p is kept.
func memRealloc(tls *libc.TLS, p uintptr, n int32) uintptr {
	q := memMalloc(tls, n)
	if q == 0 {
		return 0
	}
	old := memSize(tls, p)
	copy(unsafe.Slice((*byte)(cmem(q)), min(old, n)), unsafe.Slice((*byte)(cmem(p)), min(old, n)))
	memFree(tls, p)
	return q
}

func memSize(_ *libc.TLS, p uintptr) int32 {
	if p == 0 {
		return 0
	}
	return int32((*[2]uintptr)(cmem(p - memHeader))[0])
}

// cmem is the address p of C memory (modernc's allocators: not the Go
// heap) as a pointer.
func cmem(p uintptr) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(nil), p) }

func memRoundup(_ *libc.TLS, n int32) int32 { return (n + 7) &^ 7 }

func memInit(*libc.TLS, uintptr) int32 { return sqlite3.SQLITE_OK }

func memShutdown(*libc.TLS, uintptr) {}
