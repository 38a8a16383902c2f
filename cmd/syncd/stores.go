package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/postgres"
	"github.com/ferrysync/ferry/eventstore/sqlite"
)

// tenantStores opens each tenant's store on first use and keeps it open
// until close; it is the hub's Config.Stores.
type tenantStores struct {
	open func(ctx context.Context, tenant string) (eventstore.Store, error)

	mu     sync.Mutex
	stores map[string]eventstore.Store
	closed bool
}

func newTenantStores(open func(ctx context.Context, tenant string) (eventstore.Store, error)) *tenantStores {
	return &tenantStores{open: open, stores: make(map[string]eventstore.Store)}
}

// get returns tenant's store, opening it if needed.
func (t *tenantStores) get(ctx context.Context, tenant string) (eventstore.Store, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, eventstore.ErrClosed
	}
	if s, ok := t.stores[tenant]; ok {
		return s, nil
	}
	s, err := t.open(ctx, tenant)
	if err != nil {
		return nil, err
	}
	t.stores[tenant] = s
	return s, nil
}

// close closes every store opened.
func (t *tenantStores) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	var errs []error
	for _, s := range t.stores {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// tenantCacheBytes is the writer page cache of each tenant's SQLite file:
// the hub writes pushes, small transactions, and keeps every tenant it has
// served open, so it does not take an edge client's default
// (sqlite.DefaultCacheBytes) per tenant.
const tenantCacheBytes = 4 << 20

// sqliteStores keeps one SQLite file per tenant in dir/tenants.
func sqliteStores(dataDir string, log *slog.Logger) (*tenantStores, error) {
	dir := filepath.Join(dataDir, "tenants")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return newTenantStores(func(ctx context.Context, tenant string) (eventstore.Store, error) {
		path := filepath.Join(dir, tenantFile(tenant))
		s, err := sqlite.Open(ctx, path, sqlite.Options{Config: eventstore.Config{
			Origin: "hub",
			Logger: log.With(slog.String("tenant", tenant)),
		}, CacheBytes: tenantCacheBytes})
		if err != nil {
			return nil, err
		}
		log.Info("opened tenant ledger", slog.String("tenant", tenant), slog.String("path", path))
		return s, nil
	}), nil
}

// tenantFile returns the file name of tenant's SQLite ledger: a readable,
// sanitised prefix of the name plus a hash of it, so distinct tenants never
// share a file and no name escapes the directory.
func tenantFile(tenant string) string {
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

// postgresStores hands out tenant stores of one PostgreSQL database.
func postgresStores(db *postgres.DB) *tenantStores {
	return newTenantStores(func(_ context.Context, tenant string) (eventstore.Store, error) {
		return db.Store(tenant, eventstore.Config{})
	})
}
