package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/sqlite"
)

// cacheBytes is the writer page cache of each tenant's SQLite file: the
// hub writes pushes, small transactions, and keeps up to MaxOpen tenants
// open, so it does not take an edge client's default
// (sqlite.DefaultCacheBytes) per tenant.
const cacheBytes = 4 << 20

// SQLite returns a pool of one SQLite file per tenant in dir (created when
// missing), named by File.
func SQLite(dir string, opts Options) (*Pool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tenants: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return New(func(ctx context.Context, tenant string) (Store, error) {
		path := filepath.Join(dir, File(tenant))
		s, err := sqlite.Open(ctx, path, sqlite.Options{Config: opts.config(eventstore.Config{
			Origin: "hub",
			Logger: log.With(slog.String(logTenant, tenant)),
		}), CacheBytes: cacheBytes, StreamPositionIndex: true}) // scoped catch-ups seek by stream
		if err != nil {
			return nil, err
		}
		log.Debug("opened tenant ledger", slog.String(logTenant, tenant), slog.String("path", path))
		return s, nil
	}, opts), nil
}

// File returns the file name of tenant's SQLite ledger: a readable,
// sanitised prefix of the name plus a hash of it, so distinct tenants never
// share a file and no name escapes the directory.
func File(tenant string) string {
	var b strings.Builder
	for _, r := range tenant {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(tenant))
	return b.String() + "-" + hex.EncodeToString(sum[:8]) + ".db"
}
