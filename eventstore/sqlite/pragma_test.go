package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// The writer's page cache is DefaultCacheBytes unless CacheBytes says
// otherwise, and it checkpoints the WAL at walAutoCheckpoint pages.
func TestWriterPragmas(t *testing.T) {
	for _, c := range []struct {
		opt  int64
		want int64
	}{{0, -DefaultCacheBytes >> 10}, {8 << 20, -8192}, {100, -1}} {
		s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{CacheBytes: c.opt})
		var cache, ckpt int64
		require.NoError(t, s.Update(context.Background(), func(tx eventstore.Tx) error {
			q := tx.(eventstore.SQLTx).SQL()
			if err := q.QueryRowContext(context.Background(), `PRAGMA cache_size`).Scan(&cache); err != nil {
				return err
			}
			return q.QueryRowContext(context.Background(), `PRAGMA wal_autocheckpoint`).Scan(&ckpt)
		}))
		assert.Equal(t, c.want, cache, "CacheBytes %d", c.opt)
		assert.Equal(t, int64(walAutoCheckpoint), ckpt)
	}
}
