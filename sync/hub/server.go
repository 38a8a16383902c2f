package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Defaults for the Config fields left zero.
const (
	// DefaultSendQueue is the number of frames a connection may have
	// waiting to be written before the hub considers the client slow.
	DefaultSendQueue = 64
	// DefaultSlowConsumerTimeout is how long the hub waits for room in a
	// live connection's full send queue before closing the connection with
	// protocol.CodeSlowConsumer.
	DefaultSlowConsumerTimeout = 5 * time.Second
	// DefaultPingInterval is how often the hub pings an idle client; a
	// client silent for twice as long is dropped.
	DefaultPingInterval = 30 * time.Second
	// DefaultHandshakeTimeout bounds the wait for the client's Hello.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds the write of one frame.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultRetryAfter is the retry hint sent with CodeInternal.
	DefaultRetryAfter = time.Second
	// DefaultSendBytes bounds the outbound bytes of the whole hub: 64 MiB.
	DefaultSendBytes = 64 << 20
	// DefaultConnSendBytes is the outbound bytes past which a connection
	// waits for its client before building another frame: 1 MiB.
	DefaultConnSendBytes = 1 << 20
	// DefaultMaxConns bounds the connections one node serves at once.
	DefaultMaxConns = 2048
	// DefaultMaxConnsPerSubject bounds the connections of one token
	// subject (of one tenant) on one node.
	DefaultMaxConnsPerSubject = 16
	// DefaultBusyRetryAfter is the retry hint sent with a connection
	// refused by MaxConns or MaxConnsPerSubject.
	DefaultBusyRetryAfter = 5 * time.Second
)

// Log attribute keys.
const (
	logTenant  = "tenant"
	logSubject = "subject"
	logClient  = "client"
	logRemote  = "remote"
	logCode    = "code"
	logErr     = "err"
	logCursor  = "cursor"
	logAgent   = "agent"
	logApp     = "app"
	logVersion = "version"
	logOffset  = "clock_offset_ms"
)

// Config configures a Server.
type Config struct {
	// Ledgers hands out the tenants' ledgers (required): one Acquire per
	// connection, with the tenant named by the verified token, released
	// when the connection has ended. The Server never closes a ledger;
	// sync/hub/tenants pools them, closing idle ones.
	Ledgers Ledgers
	// Secret is the HS256 key tokens are signed with (at least
	// MinSecretBytes; required without Verifier).
	Secret []byte
	// Verifier, when set, verifies tokens instead of Secret: a Verifier
	// (NewVerifier) takes tokens from an identity provider (RS256, ES256,
	// EdDSA) and, with its own Secret, HS256 ones.
	Verifier TokenVerifier
	// Limits are the limits the hub enforces and announces in Welcome;
	// zero fields mean protocol defaults.
	Limits protocol.Limits
	// SendQueue is the number of frames each connection may have queued
	// for writing (default DefaultSendQueue). A connection holds at most
	// about SendQueue+8 frames of Limits.MaxFrameBytes (queued, being
	// written, being built, being read, and decoded pushes being or waiting
	// to be stored), however large the backlog it pulls.
	SendQueue int
	// SendBytes bounds the bytes of outbound frames the whole hub holds:
	// frames being built, queued or written, each counted from before it
	// is read from the ledger (at Limits.MaxFrameBytes until it is
	// encoded) until it is written (default DefaultSendBytes; at least
	// Limits.MaxFrameBytes). A connection that needs more waits. While one
	// waits, or more than half the bytes are taken, connections whose
	// write has not progressed for SlowConsumerTimeout are closed with
	// protocol.CodeSlowConsumer (resume from the cursor).
	SendBytes int
	// ConnSendBytes is the outbound bytes one connection may hold before
	// it waits for its client to drain the socket: the puller reads the
	// next batch only below it, so a connection holds at most
	// ConnSendBytes plus one frame (default DefaultConnSendBytes).
	ConnSendBytes int
	// MaxConns bounds the connections this node serves at once (default
	// DefaultMaxConns; negative: no bound); more are refused before the
	// upgrade with HTTP 503, protocol.CodeOverloaded and Retry-After.
	MaxConns int
	// MaxConnsPerSubject bounds the connections of one token subject (of
	// one tenant) on this node (default DefaultMaxConnsPerSubject;
	// negative: no bound); more are refused before the upgrade with HTTP
	// 429, protocol.CodeOverloaded and Retry-After.
	MaxConnsPerSubject int
	// SlowConsumerTimeout is how long the send queue of a live connection
	// (past CaughtUp) may stay full before the connection is closed with
	// protocol.CodeSlowConsumer (default DefaultSlowConsumerTimeout).
	// During catch-up the hub waits for the client instead, unless the
	// hub is short of SendBytes and the connection's write has not
	// progressed for as long.
	SlowConsumerTimeout time.Duration
	// PingInterval is how often WebSocket pings are sent (default
	// DefaultPingInterval); a peer silent for two intervals is dropped.
	PingInterval time.Duration
	// HandshakeTimeout bounds the wait for Hello (default
	// DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// WriteTimeout bounds the write of one frame (default
	// DefaultWriteTimeout).
	WriteTimeout time.Duration
	// NodeID names this hub node in Welcome (default "hub").
	NodeID string
	// Ready, when set, is called by /readyz (e.g. a database ping).
	Ready func(ctx context.Context) error
	// Logger receives connection logs. Nil discards them.
	Logger *slog.Logger
	// Now is the hub's wall clock (default time.Now): the time Welcome
	// reports, from which clients correct their clocks, and the base of
	// the retry hint of a deferred event. Give the ledgers' clocks the
	// same source (tenants.Options.Now).
	Now func() time.Time
	// MaxClockDrift is how far ahead of Now a pushed event's Created may
	// be (default eventstore.DefaultMaxDrift). An event further ahead is
	// not stored yet: on connections of protocol version 2 it is deferred
	// (protocol.CodeDeferred, with a retry hint), on older ones rejected
	// (protocol.CodeClockDrift) as before. Negative disables the check
	// (the ledger's own clock may still refuse the event).
	MaxClockDrift time.Duration
	// Observer receives what the hub does, for metrics (see
	// sync/hub/hubmetrics). Nil means NopObserver.
	Observer Observer
}

// Server is the hub: an http.Handler for the sync WebSocket endpoint. It is
// safe for concurrent use.
type Server struct {
	cfg      Config
	limits   protocol.Limits
	log      *slog.Logger
	obs      Observer
	upgrader websocket.Upgrader

	recentMu    sync.Mutex
	recent      map[string]*recentLog // by tenant
	recentTotal atomic.Int64          // the bytes the recent logs hold

	digests   *digestCache // prefix digests by tenant and scope (digest.go)
	insp      inspectState // rejections for Inspect (inspectstats.go)
	out       *budget      // the outbound bytes of every connection (SendBytes)
	lastSweep atomic.Int64 // unix nanoseconds of the last dropStalled

	mu       sync.Mutex
	closing  bool
	conns    map[*conn]struct{}
	active   int            // connections admitted (MaxConns)
	subjects map[string]int // connections admitted by tenant and subject
	wg       sync.WaitGroup // ServeHTTP calls past the closing check
	baseCtx  context.Context
	stop     context.CancelFunc // cancels baseCtx: hard stop
}

// New returns a Server for cfg, with defaults applied and cfg validated.
func New(cfg Config) (*Server, error) {
	if cfg.Ledgers == nil {
		return nil, errors.New("hub: config: Ledgers is required")
	}
	var err error
	if cfg.Verifier, err = cfg.verifier(); err != nil {
		return nil, err
	}
	limits := cfg.Limits.WithDefaults()
	if err := limits.Validate(); err != nil {
		return nil, fmt.Errorf("hub: config: %w", err)
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.SlowConsumerTimeout <= 0 {
		cfg.SlowConsumerTimeout = DefaultSlowConsumerTimeout
	}
	cfg.SendBytes = orDefault(cfg.SendBytes, DefaultSendBytes)
	cfg.ConnSendBytes = orDefault(cfg.ConnSendBytes, DefaultConnSendBytes)
	cfg.MaxConns = orDefault(cfg.MaxConns, DefaultMaxConns)
	cfg.MaxConnsPerSubject = orDefault(cfg.MaxConnsPerSubject, DefaultMaxConnsPerSubject)
	if cfg.SendBytes < limits.MaxFrameBytes {
		return nil, fmt.Errorf("hub: config: SendBytes %d is below Limits.MaxFrameBytes %d", cfg.SendBytes, limits.MaxFrameBytes)
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "hub"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxClockDrift == 0 {
		cfg.MaxClockDrift = eventstore.DefaultMaxDrift
	}
	if len(cfg.NodeID) > protocol.MaxNameBytes {
		return nil, fmt.Errorf("hub: config: NodeID longer than %d bytes", protocol.MaxNameBytes)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		limits: limits,
		log:    log,
		obs:    cfg.Observer,
		upgrader: websocket.Upgrader{
			HandshakeTimeout: cfg.HandshakeTimeout,
			// Tokens travel in a header or the query, never in cookies,
			// so cross-origin pages gain nothing: browsers may connect.
			CheckOrigin: func(*http.Request) bool { return true },
			// Idle connections hold no write buffer, and a small read
			// buffer (gorilla would keep net/http's 4 KB one): frames
			// larger than it are read straight into the frame buffer.
			WriteBufferPool: &sync.Pool{},
			ReadBufferSize:  1024,
		},
		conns:    make(map[*conn]struct{}),
		subjects: make(map[string]int),
		out:      newBudget(int64(cfg.SendBytes)),
		digests:  newDigestCache(),
		recent:   make(map[string]*recentLog),
		baseCtx:  ctx,
		stop:     stop,
	}
	return s, nil
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Limits returns the limits the server enforces (defaults applied).
func (s *Server) Limits() protocol.Limits { return s.limits }

// OutboundBytes returns the bytes of outbound frames the hub holds now,
// for all its connections (bounded by Config.SendBytes).
func (s *Server) OutboundBytes() int64 { return s.out.load() }

// Handler returns a mux serving the sync endpoint at /sync, liveness at
// /healthz (200 while the process serves) and readiness at /readyz (200
// when Config.Ready succeeds and the server is not shutting down, 503
// otherwise).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/sync", s)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", s.serveReady)
	return mux
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.log.Warn("not ready", slog.String(logErr, err.Error()))
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// ServeHTTP serves the sync WebSocket endpoint. The token is taken from
// the Authorization header ("Bearer <jwt>") or, for browsers, the
// access_token query parameter, and verified before the upgrade: a missing,
// forged, expired or tenant-less token gets 401, a tenant query parameter
// that differs from the token's tenant gets 403, and nothing flows.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	claims, status, err := s.authenticate(r)
	if err != nil {
		s.log.Info("refused", slog.String(logRemote, r.RemoteAddr), slog.String(logErr, err.Error()))
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ferry"`)
			s.obs.ConnRefused(RefusedUnauthorized)
		} else {
			s.obs.ConnRefused(RefusedForbidden)
		}
		refuse(w, status, protocol.NewError(protocol.CodeUnauthorized, "%v", err))
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		s.obs.ConnRefused(RefusedNotWebSocket)
		refuse(w, http.StatusBadRequest, protocol.NewError(protocol.CodeProtocolViolation, "want a WebSocket upgrade"))
		return
	}
	if !s.enter() {
		s.obs.ConnRefused(RefusedShutdown)
		refuseGoingAway(w)
		return
	}
	// Once upgraded, the connection is served on its own goroutine, which
	// takes over these cleanups (see below).
	served := false
	defer func() {
		if !served {
			s.wg.Done()
		}
	}()
	leave, status := s.admit(claims)
	if status != 0 {
		s.obs.ConnRefused(refusedBusy(status))
		s.log.Warn("refused: too many connections", slog.String(logTenant, claims.Tenant),
			slog.String(logSubject, claims.Subject), slog.String(logRemote, r.RemoteAddr), slog.Int("status", status))
		w.Header().Set("Retry-After", strconv.Itoa(int(DefaultBusyRetryAfter/time.Second)))
		perr := protocol.NewError(protocol.CodeOverloaded, "too many connections: retry later")
		perr.RetryAfterMS = DefaultBusyRetryAfter.Milliseconds()
		refuse(w, status, perr)
		return
	}
	defer func() {
		if !served {
			leave()
		}
	}()

	store, release, err := s.cfg.Ledgers.Acquire(r.Context(), claims.Tenant)
	if err != nil {
		s.obs.ConnRefused(RefusedStore)
		s.log.Error("open tenant store", slog.String(logTenant, claims.Tenant), slog.String(logErr, err.Error()))
		perr := protocol.NewError(protocol.CodeInternal, "tenant store unavailable")
		perr.RetryAfterMS = DefaultRetryAfter.Milliseconds()
		w.Header().Set("Retry-After", "1")
		refuse(w, http.StatusServiceUnavailable, perr)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		release()
		s.obs.ConnRefused(RefusedUpgrade)
		return // the upgrader has answered
	}
	s.obs.ConnOpened()
	c := newConn(s, ws, store, claims, r.RemoteAddr)
	if !s.register(c) {
		c.goAway()
	}
	// The handler returns and the connection goes on on a goroutine of
	// its own: net/http then lets go of the request, the response and
	// their buffers, which a handler that stayed would hold for the whole
	// life of the connection (a few KB each of thousands of idle ones).
	served = true
	go func() {
		defer s.wg.Done()
		defer leave()
		defer release()
		c.serve()
		s.unregister(c)
		s.obs.ConnClosed(c.closeCode)
	}()
}

// authenticate verifies the request's token and returns its claims, or an
// HTTP status and the reason for refusing.
func (s *Server) authenticate(r *http.Request) (Claims, int, error) {
	token := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return Claims{}, http.StatusUnauthorized, fmt.Errorf("%w: want a Bearer token", ErrUnauthorized)
		}
		token = strings.TrimSpace(rest)
	} else {
		token = r.URL.Query().Get("access_token")
	}
	claims, err := s.cfg.Verifier.VerifyToken(r.Context(), token)
	if err != nil {
		return Claims{}, http.StatusUnauthorized, err
	}
	if t := r.URL.Query().Get("tenant"); t != "" && t != claims.Tenant {
		return Claims{}, http.StatusForbidden, fmt.Errorf("%w: token is for another tenant", ErrUnauthorized)
	}
	return claims, 0, nil
}

// refuse answers a request that is not upgraded with status and the
// protocol error as JSON.
func refuse(w http.ResponseWriter, status int, perr *protocol.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(perr)
}

func refuseGoingAway(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	refuse(w, http.StatusServiceUnavailable, protocol.NewError(protocol.CodeGoingAway, "hub node shutting down"))
}

// enter counts a request in, unless the server is shutting down.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

// admit counts a connection of claims' subject in, or returns the HTTP
// status refusing it: 503 when the node serves MaxConns connections, 429
// when the subject has MaxConnsPerSubject. leave counts it out.
func (s *Server) admit(claims Claims) (leave func(), status int) {
	key := claims.Tenant + "\x00" + claims.Subject
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.cfg.MaxConns > 0 && s.active >= s.cfg.MaxConns:
		return nil, http.StatusServiceUnavailable
	case s.cfg.MaxConnsPerSubject > 0 && s.subjects[key] >= s.cfg.MaxConnsPerSubject:
		return nil, http.StatusTooManyRequests
	}
	s.active++
	s.subjects[key]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.active--
		if s.subjects[key]--; s.subjects[key] == 0 {
			delete(s.subjects, key)
		}
	}, 0
}

// dropStalled closes, with protocol.CodeSlowConsumer, the connections
// whose write has not progressed for SlowConsumerTimeout. It runs while a
// connection waits for the hub's SendBytes, and when one takes some while
// more than half of them are taken, at most once per sweepInterval.
func (s *Server) dropStalled() {
	now := time.Now().UnixNano()
	if last := s.lastSweep.Load(); now-last < s.sweepInterval().Nanoseconds() || !s.lastSweep.CompareAndSwap(last, now) {
		return
	}
	limit := s.cfg.SlowConsumerTimeout.Nanoseconds()
	var slow []*conn
	s.mu.Lock()
	for c := range s.conns {
		if at := c.writing.Load(); at != 0 && now-at > limit {
			slow = append(slow, c)
		}
	}
	s.mu.Unlock()
	for _, c := range slow {
		c.dropSlow()
	}
}

// sweepInterval is how often a connection waiting for the hub's
// SendBytes looks for stalled connections.
func (s *Server) sweepInterval() time.Duration {
	return max(s.cfg.SlowConsumerTimeout/4, 10*time.Millisecond)
}

// register records an open connection; false when shutdown began.
func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	return !s.closing
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting connections, lets in-flight pushes finish and be
// acknowledged, then closes every connection with protocol.CodeGoingAway
// (clients resume on any node). It returns when every connection has ended,
// or ctx's error after forcing the remaining ones closed when ctx ends
// first. Shutdown does not stop the http.Server the hub is mounted on.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		go c.goAway()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.stop()
		return nil
	case <-ctx.Done():
		s.stop()
		s.mu.Lock()
		for c := range s.conns {
			c.kill()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
