package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/hubmetrics"
	"github.com/ferrysync/ferry/sync/hub/inspector"
)

// Environment variables of the admin listener's flags.
const (
	envAdmin       = "FERRY_ADMIN"
	envAdminPublic = "FERRY_ADMIN_PUBLIC"
	envAdminToken  = "FERRY_ADMIN_TOKEN"
)

// adminFlags configure the admin listener: /metrics, /debug/pprof/ and
// the inspector under /inspector/, off by default, never on the public
// listener.
type adminFlags struct {
	addr   string // empty: no admin listener
	public bool   // allow a non-loopback addr
	token  string // required of every admin request but the inspector's page itself; empty: none
	// contention turns on the runtime's mutex and block profiles
	// (/debug/pprof/mutex, /debug/pprof/block), which cost a little on
	// every contended lock.
	contention bool
}

// register adds the admin flags to fs.
func (a *adminFlags) register(fs *flag.FlagSet, getenv func(string) string) error {
	fs.StringVar(&a.addr, "admin", getenv(envAdmin),
		"address of the admin listener serving /metrics (Prometheus) and /debug/pprof/, e.g. 127.0.0.1:9090; off when empty. Loopback only unless --admin-public (env "+envAdmin+")")
	public := false
	var err error
	if v := getenv(envAdminPublic); v != "" {
		if public, err = strconv.ParseBool(v); err != nil {
			err = usageError("%s=%q: want true or false", envAdminPublic, v)
		}
	}
	fs.BoolVar(&a.public, "admin-public", public,
		"let --admin listen on a non-loopback address: anyone who reaches it reads the metrics and profiles the process (env "+envAdminPublic+")")
	fs.StringVar(&a.token, "admin-token", getenv(envAdminToken),
		"require this token of admin requests (\"Authorization: Bearer TOKEN\" or ?token=TOKEN; open the inspector as /inspector/?token=TOKEN); none when empty (env "+envAdminToken+")")
	fs.BoolVar(&a.contention, "admin-contention", false,
		"record mutex and block profiles for /debug/pprof/mutex and /debug/pprof/block (a small cost on contended locks)")
	return err
}

// check refuses a non-loopback admin address without --admin-public.
func (a *adminFlags) check() error {
	if a.addr == "" || a.public {
		return nil
	}
	host, _, err := net.SplitHostPort(a.addr)
	if err != nil {
		return usageError("--admin %q: %v", a.addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return usageError("--admin %q is not a loopback address: the admin listener exposes metrics and profiling; add --admin-public to serve it there anyway", a.addr)
	}
	return nil
}

// metrics returns the hub's Observer: Prometheus metrics when the admin
// listener is on, nil (the hub's no-op default) when it is off.
func (a *adminFlags) metrics() *hubmetrics.Metrics {
	if a.addr == "" {
		return nil
	}
	return hubmetrics.New()
}

// observer returns m as a hub.Observer, nil when m is nil.
func observer(m *hubmetrics.Metrics) hub.Observer {
	if m == nil {
		return nil
	}
	return m
}

// adminMux returns the admin listener's mux: /metrics from reg, the
// net/http/pprof handlers under /debug/pprof/ and srv's inspector under
// /inspector/, all behind token when it is set. It is its own mux, never
// http.DefaultServeMux nor the public one.
func adminMux(srv *hub.Server, reg *prometheus.Registry, token string, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	guard := func(h http.Handler) http.Handler { return inspector.RequireToken(token, h) }
	mux.Handle("/metrics", guard(hubmetrics.Handler(reg)))
	mux.Handle("/debug/pprof/", guard(http.HandlerFunc(pprof.Index)))
	mux.Handle("/debug/pprof/cmdline", guard(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("/debug/pprof/profile", guard(http.HandlerFunc(pprof.Profile)))
	mux.Handle("/debug/pprof/symbol", guard(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("/debug/pprof/trace", guard(http.HandlerFunc(pprof.Trace)))
	// The inspector checks the token itself: its page carries no data and
	// passes on the token it was opened with to its JSON endpoints.
	insp := http.StripPrefix("/inspector", inspector.Handler(srv, inspector.WithToken(token), inspector.WithLogger(log)))
	mux.Handle("/inspector/", insp)
	mux.Handle("/inspector", insp) // redirects to /inspector/, keeping ?token=
	return mux
}

// adminServer is the running admin listener.
type adminServer struct {
	http *http.Server
	errc chan error
}

// startAdmin starts the admin listener on addr, serving mux, and prints
// "admin listening on ADDR" on stdout.
func startAdmin(addr string, mux *http.ServeMux, log *slog.Logger, stdout io.Writer) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	a := &adminServer{
		http: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		errc: make(chan error, 1),
	}
	go func() { a.errc <- a.http.Serve(ln) }()
	log.Info("admin listener started", slog.String("addr", ln.Addr().String()))
	if _, err := fmt.Fprintf(stdout, "admin listening on %s\n", ln.Addr()); err != nil {
		log.Warn("stdout", slog.String("err", err.Error()))
	}
	return a, nil
}

// shutdown stops the admin listener, waiting for its requests (a CPU
// profile included) until ctx ends. a may be nil.
func (a *adminServer) shutdown(ctx context.Context) error {
	if a == nil {
		return nil
	}
	err := a.http.Shutdown(ctx)
	if serveErr := <-a.errc; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// serveAdmin starts the admin listener of f for srv, its metrics m and the
// extra collectors (the PostgreSQL pool's); nil when f has none.
func serveAdmin(f *adminFlags, srv *hub.Server, m *hubmetrics.Metrics, log *slog.Logger, stdout io.Writer,
	extra ...prometheus.Collector) (*adminServer, error) {
	if f.addr == "" {
		return nil, nil
	}
	reg, err := hubmetrics.NewRegistry(m, srv, extra...)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if f.contention {
		runtime.SetMutexProfileFraction(10)  // one contention event in 10
		runtime.SetBlockProfileRate(100_000) // one blocking event per 100 µs blocked
	}
	return startAdmin(f.addr, adminMux(srv, reg, f.token, log), log, stdout)
}
