package sqlite

import (
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"modernc.org/libc"
)

// rssBytes is the process's resident set (VmRSS), or -1 where
// /proc/self/status is not available.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// trimShards returns the regions the shards keep for reuse to the OS, so
// that a test starts from the same state whatever ran before it (a shard
// whose pool is full unmaps what is freed instead of keeping it).
func trimShards(t *testing.T) {
	for i := range memShards {
		s := &memShards[i]
		s.mu.Lock()
		err := s.a.Trim()
		s.mu.Unlock()
		require.NoError(t, err)
	}
}

// settledRSS is rssBytes after the Go heap has given back what it can, so
// that what remains is mostly C memory.
func settledRSS(t *testing.T) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	r := rssBytes()
	if r < 0 {
		t.Skip("no /proc/self/status")
	}
	return r
}

// reviewTransient is the size of the transient blocks the first test
// below allocates on each of the 16 shards, reviewTransientSQL that of
// the values the second builds (another size class, so that neither
// reuses the other's regions), and reviewRetained the resident growth
// they tolerate once every block is freed: one allocator keeps one such
// region for reuse, 16 shards kept 16 (128 MB and 96 MB).
const (
	reviewTransient    = 8 << 20
	reviewTransientSQL = 6 << 20
	reviewRetained     = 48 << 20
)

// TestMemLargeTransientNotRetainedPerShard checks that a large block
// freed on one shard does not stay resident there: a connection on each
// of the 16 shards allocates, fills and frees a block of 8 MB in turn
// (SQLite does so for a large value, randomblob, a sorter's buffer, a
// deserialized database), and the process must not keep 16 of them.
// Each modernc.org/memory allocator keeps a freed region of a size class
// committed for reuse by its own allocations only; with every size on
// shards, the resident set grew by 16 × 8 MB.
func TestMemLargeTransientNotRetainedPerShard(t *testing.T) {
	var tlss [memShardCount]*libc.TLS
	for n := 0; n < memShardCount; {
		tls := libc.NewTLS()
		if i := uintptr(uint32(tls.ID)) % memShardCount; tlss[i] == nil {
			tlss[i] = tls
			n++
		} else {
			tls.Close()
		}
	}
	defer func() {
		for _, tls := range tlss {
			tls.Close()
		}
	}()
	trimShards(t)
	before := settledRSS(t)
	for _, tls := range tlss {
		p := memMalloc(tls, reviewTransient)
		require.NotZero(t, p)
		require.Zero(t, p%16, "16-byte aligned")
		require.Equal(t, int32(reviewTransient), memSize(tls, p))
		b := unsafe.Slice((*byte)(cmem(p)), reviewTransient)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		memFree(tls, p)
	}
	grew := settledRSS(t) - before
	t.Logf("resident set grew by %d MB", grew>>20)
	assert.Less(t, grew, int64(reviewRetained), "freed 8 MB blocks stay resident, one per shard")

	// A large block still moves, grows and shrinks across shards and
	// across the large/small boundary, keeping its bytes.
	a, b := tlss[0], tlss[1]
	p := memMalloc(a, 100)
	require.NotZero(t, p)
	copy(unsafe.Slice((*byte)(cmem(p)), 100), strings.Repeat("ferry", 20))
	q := memRealloc(b, p, 1<<20) // small on a's shard -> large (1 MB)
	require.NotZero(t, q)
	assert.Equal(t, int32(1<<20), memSize(b, q))
	assert.Equal(t, strings.Repeat("ferry", 20), string(unsafe.Slice((*byte)(cmem(q)), 100)))
	r := memRealloc(a, q, 50) // large -> small on a's shard
	require.NotZero(t, r)
	assert.Equal(t, strings.Repeat("ferry", 10), string(unsafe.Slice((*byte)(cmem(r)), 50)))
	memFree(b, r)
}

// TestSQLiteLargeTransientNotRetained is the same through SQLite: 16
// connections, one after the other, each build a 6 MB value and close.
// With the local page cache their connections sat on different shards,
// each of which kept the freed region resident after its
// connection was gone. (With SQLite's default allocator it holds too.)
func TestSQLiteLargeTransientNotRetained(t *testing.T) {
	path := filepath.Join(t.TempDir(), "large.db")
	trimShards(t)
	before := settledRSS(t)
	for range memShardCount {
		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		var n int64
		require.NoError(t, db.QueryRow("SELECT octet_length(zeroblob(?) || x'01')", reviewTransientSQL).Scan(&n))
		require.Equal(t, int64(reviewTransientSQL+1), n)
		require.NoError(t, db.Close())
	}
	grew := settledRSS(t) - before
	t.Logf("resident set grew by %d MB", grew>>20)
	assert.Less(t, grew, int64(reviewRetained), "freed 6 MB values stay resident, one per shard")
}
