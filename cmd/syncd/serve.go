package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ferrysync/ferry/eventstore/postgres"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/hubmetrics"
	"github.com/ferrysync/ferry/sync/hub/tenants"
)

// shutdownTimeout bounds the graceful shutdown after SIGINT or SIGTERM.
const shutdownTimeout = 15 * time.Second

// serveFlags are the server's flags.
type serveFlags struct {
	common
	listen   string
	postgres string
	schema   string
	tlsCert  string
	tlsKey   string
	nodeID   string
	maxOpen  int
	// pageCache is "local" (sqlite.UseLocalPageCache) or "shared".
	pageCache string
	offset    time.Duration
	// The hub's memory and connection bounds (hub.Config).
	sendBytes, connSendBytes byteSize
	maxConns, maxSubject     int
	idp                      idpFlags   // tokens from the app's identity provider (idp.go)
	admin                    adminFlags // admin.go
}

func parseServe(args []string, getenv func(string) string) (*serveFlags, error) {
	fs, f, envErr := serveFlagSet(getenv)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	switch {
	case envErr != nil:
		return nil, envErr
	case fs.NArg() > 0:
		return nil, usageError("unknown command %q (want token, or flags only)", fs.Arg(0))
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return nil, usageError("--tls-cert and --tls-key go together")
	case f.maxOpen < 1:
		return nil, usageError("--max-open-tenants %d: want at least 1", f.maxOpen)
	case f.pageCache != "local" && f.pageCache != "shared":
		return nil, usageError("--sqlite-page-cache %q: want local or shared", f.pageCache)
	case f.maxConns < 1 || f.maxSubject < 1:
		return nil, usageError("--max-conns and --max-conns-per-subject: want at least 1")
	}
	if err := f.idp.validate(); err != nil {
		return nil, err
	}
	if err := f.admin.check(); err != nil {
		return nil, err
	}
	if f.nodeID == "" {
		f.nodeID, _ = os.Hostname()
		if f.nodeID == "" || len(f.nodeID) > 64 {
			f.nodeID = "syncd"
		}
	}
	return f, nil
}

// serveFlagSet returns the server's flags, bound to f, and the error of an
// environment variable that does not parse. syncd token accepts them all.
func serveFlagSet(getenv func(string) string) (fs *flag.FlagSet, f *serveFlags, envErr error) {
	fs = flag.NewFlagSet("syncd", flag.ContinueOnError)
	f = &serveFlags{}
	f.register(fs, getenv)
	fs.StringVar(&f.listen, "listen", envOr(getenv, envListen, "127.0.0.1:8080"), "address to listen on (env "+envListen+")")
	fs.StringVar(&f.postgres, "postgres", getenv(envPostgres),
		"PostgreSQL URL; without it the hub uses embedded SQLite files in the data directory (env "+envPostgres+")")
	fs.StringVar(&f.schema, "postgres-schema", envOr(getenv, envSchema, postgres.DefaultSchema),
		"PostgreSQL schema holding the tables; hubs sharing a database share a schema (env "+envSchema+")")
	fs.StringVar(&f.tlsCert, "tls-cert", getenv(envTLSCert), "TLS certificate file; serves wss:// with --tls-key (env "+envTLSCert+")")
	fs.StringVar(&f.tlsKey, "tls-key", getenv(envTLSKey), "TLS private key file (env "+envTLSKey+")")
	maxOpen, envErr := envInt(getenv, envMaxOpen, tenants.DefaultMaxOpen)
	fs.IntVar(&f.maxOpen, "max-open-tenants", maxOpen,
		"tenant stores kept open; idle ones beyond it are closed, least recently used first (env "+envMaxOpen+")")
	fs.StringVar(&f.pageCache, "sqlite-page-cache", envOr(getenv, envPageCache, "local"),
		"local: each SQLite connection of the embedded hub keeps its own page cache and allocator shard, so tenants share no lock; shared: SQLite's defaults, a process-wide cache mutex and allocator (env "+envPageCache+")")
	offset, offErr := envDuration(getenv, envClockShift)
	fs.DurationVar(&f.offset, "clock-offset", offset,
		"correction added to the host's clock for the hub's time (Welcome, clock drift checks), for a host whose clock is known to be off; tests move the hub's time with it (env "+envClockShift+")")
	var err1, err2 error
	f.sendBytes, err1 = envSize(getenv, envSendBytes, hub.DefaultSendBytes)
	fs.Var(&f.sendBytes, "send-buffer",
		"outbound `bytes` the hub holds for all its connections, e.g. 64MiB (env "+envSendBytes+")")
	f.connSendBytes, err2 = envSize(getenv, envConnBytes, hub.DefaultConnSendBytes)
	fs.Var(&f.connSendBytes, "conn-send-buffer",
		"outbound `bytes` past which a connection waits for its client to read (env "+envConnBytes+")")
	maxConns, err3 := envInt(getenv, envMaxConns, hub.DefaultMaxConns)
	fs.IntVar(&f.maxConns, "max-conns", maxConns,
		"connections served at once; more get HTTP 503 and Retry-After (env "+envMaxConns+")")
	maxSubject, err4 := envInt(getenv, envMaxSubject, hub.DefaultMaxConnsPerSubject)
	fs.IntVar(&f.maxSubject, "max-conns-per-subject", maxSubject,
		"connections of one token subject; more get HTTP 429 and Retry-After (env "+envMaxSubject+")")
	err5 := f.idp.register(fs, getenv)
	envErr = errors.Join(envErr, err1, err2, err3, err4, err5, f.admin.register(fs, getenv))
	fs.StringVar(&f.nodeID, "node-id", getenv(envNodeID), "name of this node in Welcome messages and logs (env "+envNodeID+"; default: the host name)")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, `Usage: syncd [flags]
       syncd token --tenant T [--subject S] [--ttl D] [--streams PREFIX]

syncd is Ferry's sync hub. Clients connect to ws://ADDR/sync with a token
("Authorization: Bearer <token>"; get one with "syncd token"), push the
events they wrote and pull everyone else's. /healthz reports liveness and
/readyz readiness (it checks the database). --admin ADDR serves /metrics
(Prometheus), /debug/pprof/ and the inspector (/inspector/) on a separate
listener, loopback only unless --admin-public; --admin-token guards it.

With no --postgres, each tenant's ledger is an SQLite file in --data-dir:
one command starts a working hub. Up to --max-open-tenants of them stay
open; idle ones beyond it are closed and reopened when needed. With
--postgres, any number of syncd processes can share the database.

The token signing secret is FERRY_SECRET, else --secret-file, else the
file "secret" in --data-dir, generated on first start. Tokens from the
app's identity provider (RS256, ES256, EdDSA) are accepted with
--token-jwks-url, --token-jwks-file or --token-pem; --token-hs256=false
then turns the secret's tokens off.

Flags:
`)
		fs.PrintDefaults()
	}
	return fs, f, errors.Join(envErr, offErr)
}

// runServe runs the hub until ctx is cancelled, then shuts it down
// gracefully. Once listening it prints "listening on ADDR" on stdout.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	f, err := parseServe(args, getenv)
	if err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	var secret []byte
	var saveSecret func(*slog.Logger) error
	if f.idp.hs256 { // else no secret is read or generated
		if secret, saveSecret, err = f.secret(); err != nil {
			return err
		}
	}
	verifier, startKeys, keysReady, err := f.idp.verifier(ctx, secret, log)
	if err != nil {
		return err
	}

	var (
		pool    *tenants.Pool
		ready   func(context.Context) error
		backend string
		extra   []prometheus.Collector // metrics of the backend
	)
	now := time.Now
	if f.offset != 0 {
		now = func() time.Time { return time.Now().Add(f.offset) }
		log.Warn("hub clock corrected", slog.Duration("offset", f.offset))
	}
	popts := tenants.Options{MaxOpen: f.maxOpen, Logger: log, Now: now}
	if f.postgres != "" {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		db, err := postgres.Open(octx, f.postgres, postgres.Options{Schema: f.schema, Logger: log, StreamPositionIndex: true}) // subscriptions read their streams by index
		cancel()
		if err != nil {
			return err
		}
		defer db.Close()
		pool, ready, backend = tenants.Postgres(db, popts), db.Pool().Ping, "postgres"
		extra = append(extra, hubmetrics.PgxPool(db.Pool().Stat))
	} else {
		if f.pageCache == "local" {
			if err := sqlite.UseLocalPageCache(); err != nil {
				return err
			}
		}
		if pool, err = tenants.SQLite(filepath.Join(f.dataDir, "tenants"), popts); err != nil {
			return err
		}
		ready = func(context.Context) error { _, err := os.Stat(f.dataDir); return err }
		backend = "sqlite"
	}
	defer func() {
		if cerr := pool.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close stores: %w", cerr)
		}
	}()

	if backendReady := ready; keysReady != nil {
		ready = func(ctx context.Context) error { return errors.Join(keysReady(ctx), backendReady(ctx)) }
	}
	metrics := f.admin.metrics()
	srv, err := hub.New(hub.Config{Ledgers: pool, Verifier: verifier, NodeID: f.nodeID, Ready: ready, Logger: log, Now: now,
		SendBytes: int(f.sendBytes), ConnSendBytes: int(f.connSendBytes), MaxConns: f.maxConns, MaxConnsPerSubject: f.maxSubject,
		Observer: observer(metrics)})
	if err != nil {
		return err
	}
	admin, err := serveAdmin(&f.admin, srv, metrics, log, stdout, extra...)
	if err != nil {
		return err
	}
	defer func() { // after the hub's shutdown: metrics are served while it drains
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err = errors.Join(err, admin.shutdown(sctx))
	}()
	startKeys(ctx)
	go returnMemory(ctx, srv.OutboundBytes, int64(f.sendBytes), log)
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		httpSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	if saveSecret != nil { // listening: the server starts, its new secret is kept
		if err := saveSecret(log); err != nil {
			_ = ln.Close()
			return err
		}
	}
	errc := make(chan error, 1)
	tlsOn := httpSrv.TLSConfig != nil // read before Serve, which may set it
	go func() {
		if tlsOn {
			errc <- httpSrv.ServeTLS(ln, "", "")
		} else {
			errc <- httpSrv.Serve(ln)
		}
	}()
	log.Info("syncd started", slog.String("addr", ln.Addr().String()), slog.String("backend", backend),
		slog.String("node", f.nodeID), slog.Bool("tls", tlsOn))
	if _, err := fmt.Fprintf(stdout, "listening on %s\n", ln.Addr()); err != nil {
		log.Warn("stdout", slog.String("err", err.Error()))
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	httpDone := make(chan error, 1)
	go func() { httpDone <- httpSrv.Shutdown(sctx) }()
	hubErr := srv.Shutdown(sctx)
	httpErr := <-httpDone
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		httpErr = errors.Join(httpErr, serveErr)
	}
	if err := errors.Join(hubErr, httpErr); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
