package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// envLocalPageCache=1 runs this package's tests with UseLocalPageCache
// (scripts/test.sh runs them both ways).
const envLocalPageCache = "FERRY_SQLITE_LOCAL_PAGE_CACHE"

func TestMain(m *testing.M) {
	if os.Getenv(envLocalPageCache) == "1" {
		if err := UseLocalPageCache(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// TestPageCacheUnderLoad writes and reads several stores at once with a
// cache far smaller than the data (so pages are recycled, spilled and
// truncated), then checks every store's ledger and SQLite's own integrity
// check. With FERRY_SQLITE_LOCAL_PAGE_CACHE=1 it exercises the local page
// cache; without, SQLite's, and it must report that.
func TestPageCacheUnderLoad(t *testing.T) {
	ctx := context.Background()
	assert.Equal(t, os.Getenv(envLocalPageCache) == "1", LocalPageCache())
	const stores, rounds, per = 4, 40, 50
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range stores {
		s := open(t, filepath.Join(dir, fmt.Sprintf("s%d.db", i)), Options{})
		_, err := s.write.ExecContext(ctx, "PRAGMA cache_size = 10")
		require.NoError(t, err)
		wg.Go(func() {
			for r := range rounds {
				events := make([]eventstore.Event, per)
				for j := range events {
					events[j] = eventstore.Event{Type: "t", Data: []byte(fmt.Sprintf(`{"r":%d,"j":%d,"pad":"%0512d"}`, r, j, j))}
				}
				_, err := s.Append(ctx, eventstore.Write{Stream: fmt.Sprintf("s/%d", r%7), Events: events})
				assert.NoError(t, err)
				n := 0
				for _, err := range s.ReadAll(ctx, 0, 0) {
					assert.NoError(t, err)
					n++
				}
				assert.Equal(t, (r+1)*per, n)
			}
			var check string
			assert.NoError(t, s.write.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check))
			assert.Equal(t, "ok", check)
		})
	}
	wg.Wait()
}

// UseLocalPageCache after SQLite has started is refused, or a no-op when
// it was in effect from the start.
func TestUseLocalPageCacheLate(t *testing.T) {
	open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	err := UseLocalPageCache()
	if LocalPageCache() {
		assert.NoError(t, err)
	} else {
		assert.ErrorIs(t, err, ErrSQLiteStarted)
	}
}
