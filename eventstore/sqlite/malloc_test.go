package sqlite

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// TestMemMethods checks the sharded allocator's entry points directly:
// sizes, alignment, realloc keeping the bytes, and a block allocated on
// one TLS freed and resized on another (another shard).
func TestMemMethods(t *testing.T) {
	a, b := libc.NewTLS(), libc.NewTLS()
	defer a.Close()
	for uintptr(uint32(a.ID))%memShardCount == uintptr(uint32(b.ID))%memShardCount { // IDs are handed out process-wide
		b.Close()
		b = libc.NewTLS()
	}
	defer b.Close()

	assert.Zero(t, memMalloc(a, 0))
	assert.Zero(t, memMalloc(a, -1))
	memFree(a, 0) // a no-op, as free(NULL)

	p := memMalloc(a, 100)
	require.NotZero(t, p)
	assert.Zero(t, p%16, "16-byte aligned")
	assert.Equal(t, int32(100), memSize(a, p))
	want := bytes.Repeat([]byte("ferry"), 20)
	copy(unsafe.Slice((*byte)(cmem(p)), 100), want)

	q := memRealloc(b, p, 1000) // grows into b's shard, frees p in a's
	require.NotZero(t, q)
	assert.Equal(t, int32(1000), memSize(b, q))
	assert.Equal(t, want, unsafe.Slice((*byte)(cmem(q)), 100))
	r := memRealloc(a, q, 10) // shrinks
	assert.Equal(t, want[:10], unsafe.Slice((*byte)(cmem(r)), 10))
	memFree(b, r)

	assert.Equal(t, int32(8), memRoundup(a, 1))
	assert.Equal(t, int32(16), memRoundup(a, 16))

	// Many goroutines, each on a TLS of its own, allocating and freeing
	// across shards: the race detector watches the locks.
	var wg sync.WaitGroup
	blocks := make(chan uintptr, 64)
	for g := range 8 {
		wg.Go(func() {
			tls := libc.NewTLS()
			defer tls.Close()
			for i := range 2000 {
				n := int32(1 + (i*7+g)%3000)
				p := memMalloc(tls, n)
				if p == 0 || memSize(tls, p) != n {
					t.Errorf("block of %d: %d bytes", n, memSize(tls, p))
					return
				}
				select {
				case blocks <- p:
				case q := <-blocks:
					memFree(tls, q)
					memFree(tls, p)
				}
			}
		})
	}
	wg.Wait()
	close(blocks)
	for p := range blocks {
		memFree(a, p)
	}
}

// TestSQLiteUsesMemMethods checks that with the local page cache SQLite
// allocates through the sharded allocator: a block from sqlite3_malloc
// carries its header.
func TestSQLiteUsesMemMethods(t *testing.T) {
	// Without it (FERRY_SQLITE_LOCAL_PAGE_CACHE unset) SQLite's allocator
	// is libc's, and only sqlite3_msize is checked.
	require.Equal(t, os.Getenv(envLocalPageCache) == "1", LocalPageCache())
	s, err := Open(context.Background(), t.TempDir()+"/m.db", Options{}) // SQLite is initialised
	require.NoError(t, err)
	defer s.Close()
	tls := libc.NewTLS()
	defer tls.Close()
	p := sqlite3.Xsqlite3_malloc(tls, 40)
	require.NotZero(t, p)
	defer sqlite3.Xsqlite3_free(tls, p)
	assert.Equal(t, uint64(40), sqlite3.Xsqlite3_msize(tls, p))
	if LocalPageCache() {
		hdr := (*[2]uintptr)(cmem(p - memHeader))
		assert.Equal(t, uintptr(40), hdr[0], "size in the sharded allocator's header")
		assert.Equal(t, uintptr(uint32(tls.ID))%memShardCount, hdr[1], "the shard of the calling TLS")
	}
}
