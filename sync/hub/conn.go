package hub

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// pushQueue is the number of decoded pushes that may wait for the pusher.
const pushQueue = 2

// maxKeptReadBuffer is the largest read buffer a connection keeps between
// frames; a larger frame's buffer is dropped once decoded, so an idle
// connection does not pin MaxFrameBytes.
const maxKeptReadBuffer = 256 << 10

// closeGrace is how long the hub waits, after sending its close frame, for
// the client's close frame before dropping the TCP connection.
const closeGrace = 2 * time.Second

// errConnClosed is returned by enqueue when the connection is ending.
var errConnClosed = errors.New("hub: connection closed")

// conn is one client connection. Up to four goroutines share it: the
// reader (started by ServeHTTP, which returns: handshake, decoding
// frames), the pusher (started by the first Push; storing pushes in order,
// so that decoding the next frame overlaps storing the previous one), the
// puller (catch-up and live events; parked, with no goroutine, while live
// and idle) and the writer, the only one writing data frames to the socket. They hand frames to the
// writer through a bounded queue; no lock is held while the socket is
// written.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	store  Ledger
	claims Claims
	scope  scope
	log    *slog.Logger

	generation string // the ledger's (Welcome.Generation), from version 3

	queue    chan outFrame       // frames for the writer
	closeCh  chan closeReq       // the one close request (buffered 1)
	closeOne sync.Once           // guards closeCh and closing
	closing  chan struct{}       // closed when a close is requested
	done     chan struct{}       // closed when the writer has returned
	pullDone chan struct{}       // closed when the puller has returned
	pushes   chan *protocol.Push // decoded pushes for the pusher
	pushDone chan struct{}       // closed when the pusher has returned
	pushing  bool                // the reader's: the pusher was started (on the first Push)
	parkedAt int64               // the puller's cursor while it is parked (see follow)
	ctx      context.Context     // the puller's context
	cancel   context.CancelFunc

	pushMu   sync.Mutex // held while a push is processed
	draining bool       // under pushMu: shutting down, pushes are dropped

	graceMu sync.Mutex
	grace   *time.Timer // drops the TCP connection after closeGrace

	recent *recentLog // the tenant's recent events on this node; may be nil

	remote  string      // the peer's address
	version int         // the negotiated protocol version, set by handshake
	info    *ClientInfo // what the client said in Hello; under s.mu

	// For the Observer.
	inBytes   int           // the bytes of the frame read last, the reader's
	lag       int64         // the events beyond the client's cursor at Hello
	helloAt   time.Time     // when Hello was read
	committed int64         // the puller's: unix nanoseconds the head it drains to was known committed
	closeCode protocol.Code // the code the writer closed with; read once done is closed

	// live is set by the puller once CaughtUp is queued: from then on a
	// full send queue counts against SlowConsumerTimeout (see enqueue).
	live atomic.Bool

	out     atomic.Int64  // the outbound bytes charged to this connection
	room    chan struct{} // signalled (buffered 1) when out falls
	writing atomic.Int64  // unix nanoseconds since the writer writes a frame; 0 when it does not
	dropped atomic.Bool   // dropSlow ran
	stats   connStats     // for Inspect (inspectstats.go)

	rbuf bytes.Buffer     // the reader's frame buffer, reused (Decode keeps none of it)
	pbuf []protocol.Event // the puller's batch buffer, reused

	// Ledger digests (protocol version 3; see digest.go), the puller's.
	digests *prefixDigests    // the cached prefix digests of the tenant and scope
	digest  eventstore.Digest // up to the cursor the catch-up has reached
	folding bool              // digest is kept (until: a range read's end)
	until   int64             // a range read's last position (Hello.Until); 0 otherwise
	scoped  *scopedRead       // a scoped catch-up in progress (scoped.go), the puller's

	helloHead int64    // the ledger's head read at Hello (Welcome.Head)
	names     []string // the streams of a narrow scope, once listed (scopeNames)
	namesOK   bool     // names holds them (not too many)
	listed    bool     // scopeNames has run
}

// outFrame is a frame queued for the writer with the outbound bytes
// charged for it (see charge), given back once it is written or dropped.
type outFrame struct {
	frame     []byte
	charge    int64
	committed int64 // a Live frame's: unix nanoseconds its events were known committed (Observer.LiveDelay)
}

// closeReq asks the writer to end the connection.
type closeReq struct {
	err   *protocol.Error // sent as a message first, when non-nil
	code  int             // close frame code; 0 sends no close frame
	drain bool            // write the queued frames first
}

func newConn(s *Server, ws *websocket.Conn, store Ledger, claims Claims, remote string) *conn {
	ctx, cancel := context.WithCancel(s.baseCtx)
	return &conn{
		s:      s,
		ws:     ws,
		store:  store,
		claims: claims,
		remote: remote,
		scope:  scope{token: claims.Streams},
		log: s.log.With(slog.String(logTenant, claims.Tenant), slog.String(logSubject, claims.Subject),
			slog.String(logRemote, remote)),
		queue:    make(chan outFrame, s.cfg.SendQueue),
		closeCh:  make(chan closeReq, 1),
		closing:  make(chan struct{}),
		room:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		pullDone: make(chan struct{}),
		pushes:   make(chan *protocol.Push, pushQueue),
		pushDone: make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
		recent:   s.acquireRecent(claims.Tenant, store),
	}
}

// serve runs the connection until it ends.
func (c *conn) serve() {
	c.ws.SetReadLimit(int64(c.s.limits.MaxFrameBytes))
	go c.writeLoop(c.log)
	// A token is checked at connect; its expiry also ends the connection,
	// so a lapsed (or deliberately short-lived) token stops reading and
	// writing. The client reconnects with a fresh token.
	// The timer runs on its own goroutine: it must not touch c.log, which
	// serve replaces after Hello, so it logs through a copy taken now.
	log := c.log
	expiry := time.AfterFunc(time.Until(c.claims.Expiry)+c.s.tokenLeeway(), func() {
		perr := protocol.NewError(protocol.CodeUnauthorized, "token expired")
		log.Info("token expired: closing", slog.String(logCode, string(perr.Code)))
		c.requestClose(closeReq{err: perr, code: perr.Code.CloseCode(), drain: true})
	})
	defer expiry.Stop()
	hello := c.handshake()
	if hello != nil {
		c.log = c.log.With(slog.String(logClient, hello.Client))
		c.log.Info("connected", slog.Int64(logCursor, hello.Cursor), slog.String(logAgent, hello.Agent),
			slog.String(logApp, hello.App), slog.Int(logVersion, c.version))
		c.scope.pull = pullSet(hello.Streams)
		if hello.Until > 0 {
			c.serveRange(hello) // then closes
		} else {
			go c.pull(hello.Cursor)
			c.readLoop()
			close(c.pushes)
			if c.pushing {
				<-c.pushDone
			}
		}
	} else {
		close(c.pullDone)
	}
	c.requestClose(closeReq{}) // no-op when a close was requested already
	<-c.done
	c.cancel()
	<-c.pullDone
	c.graceMu.Lock()
	if c.grace != nil {
		c.grace.Stop()
	}
	c.graceMu.Unlock()
	c.lingerClose()
	c.discardQueued()
	c.s.releaseRecent(c.claims.Tenant, c.recent)
	c.log.Info("disconnected")
}

// handshake reads Hello and answers Welcome; it returns nil (after asking
// for the close) when the client fails it.
func (c *conn) handshake() *protocol.Hello {
	_ = c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.HandshakeTimeout))
	msg, ok := c.read()
	if !ok {
		return nil
	}
	hello, isHello := msg.(*protocol.Hello)
	if !isHello {
		c.fail(protocol.NewError(protocol.CodeProtocolViolation, "want hello, got %s", msg.Type()))
		return nil
	}
	version, ok := protocol.Negotiate(hello.Versions)
	if !ok {
		c.fail(protocol.NewError(protocol.CodeUnsupportedVersion, "hub speaks versions %v", protocol.Versions()))
		return nil
	}
	c.helloAt = time.Now()
	head, err := c.store.Head(c.ctx)
	c.s.obs.StoreDone(StoreHead, time.Since(c.helloAt), err != nil)
	if err != nil {
		c.internal("head", err)
		return nil
	}
	c.lag, c.helloHead = max(head-hello.Cursor, 0), head
	if hello.Cursor > head {
		c.log.Warn("client cursor is ahead of the hub's head", slog.Int64(logCursor, hello.Cursor), slog.Int64("head", head))
	}
	if version >= 3 {
		if c.generation, err = generationOf(c.ctx, c.store); err != nil {
			c.internal("generation", err)
			return nil
		}
	}
	c.version = version
	c.s.hello(c, hello, version)
	welcome := &protocol.Welcome{
		Version:    version,
		Tenant:     c.claims.Tenant,
		Node:       c.s.cfg.NodeID,
		Head:       head,
		Limits:     c.s.limits,
		Streams:    c.claims.Streams,
		Generation: c.generation,
	}
	if version >= 2 {
		welcome.Time = c.s.cfg.Now().UnixMilli()
	}
	if version < 3 {
		hello.Until, hello.Parts, hello.Digest = 0, 0, "" // fields a version 3 client sends
	}
	c.scope.pull = pullSet(hello.Streams)
	if hello.Parts > 0 {
		if welcome.Digests, err = c.rangeDigests(hello, head); err != nil {
			return nil
		}
	}
	if c.send(c.ctx, welcome) != nil {
		return nil
	}
	return hello
}

// readLoop reads client messages until the connection ends.
func (c *conn) readLoop() {
	wait := 2 * c.s.cfg.PingInterval
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	// Once the hub has closed the connection (c.done), nothing the client
	// sends may keep it open: pongs stop extending the deadline and the
	// next message ends the loop.
	closing := func() bool {
		select {
		case <-c.done:
			return true
		default:
			return false
		}
	}
	c.ws.SetPongHandler(func(string) error {
		if closing() {
			return nil
		}
		c.stats.heard()
		return c.ws.SetReadDeadline(time.Now().Add(wait))
	})
	for {
		msg, ok := c.read()
		if !ok || closing() {
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(wait))
		c.stats.heard()
		switch m := msg.(type) {
		case *protocol.Push:
			c.s.obs.Pushed(len(m.Events), c.inBytes)
			if !c.pushing { // most connections push rarely or never: no goroutine until they do
				c.pushing = true
				go c.pushLoop()
			}
			select { // the pusher stores it while the next frame is decoded
			case c.pushes <- m:
			case <-c.done:
				return
			}
		case *protocol.Ping:
			if c.send(c.s.baseCtx, &protocol.Pong{Nonce: m.Nonce}) != nil {
				return
			}
		case *protocol.Pong:
		case *protocol.Error:
			c.log.Info("client error", slog.String(logCode, string(m.Code)), slog.String(logErr, m.Message))
			c.requestClose(closeReq{code: websocket.CloseNormalClosure, drain: true})
			return
		default:
			c.fail(protocol.NewError(protocol.CodeProtocolViolation, "unexpected %s from a client", msg.Type()))
			return
		}
	}
}

// read reads and decodes one message. On failure it asks for the close
// (with a protocol error when the frame was bad) and reports false.
func (c *conn) read() (protocol.Message, bool) {
	typ, data, err := c.readFrame()
	if err != nil {
		switch {
		case errors.Is(err, websocket.ErrReadLimit):
			// gorilla/websocket has sent close 1009 (message too big),
			// which clients map to protocol.CodeFrameTooLarge.
			c.log.Info("frame too large", slog.String(logCode, string(protocol.CodeFrameTooLarge)))
		case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
		default:
			c.log.Debug("read", slog.String(logErr, err.Error()))
		}
		c.requestClose(closeReq{})
		return nil, false
	}
	if typ != websocket.TextMessage {
		c.fail(protocol.NewError(protocol.CodeProtocolViolation, "binary frames are not supported"))
		return nil, false
	}
	c.inBytes = len(data)
	msg, err := protocol.Decode(data, c.s.limits)
	if c.rbuf.Cap() > maxKeptReadBuffer {
		c.rbuf = bytes.Buffer{}
	}
	if err != nil {
		var perr *protocol.Error
		if !errors.As(err, &perr) {
			perr = protocol.NewError(protocol.CodeProtocolViolation, "%v", err)
		}
		c.fail(perr)
		return nil, false
	}
	return msg, true
}

// readFrame reads the next message into the connection's read buffer
// (rather than a new buffer grown from 512 bytes, as ReadMessage does). The
// bytes are valid until the next call.
func (c *conn) readFrame() (int, []byte, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	c.rbuf.Reset()
	if _, err := c.rbuf.ReadFrom(r); err != nil {
		return 0, nil, err
	}
	return typ, c.rbuf.Bytes(), nil
}

// fail sends perr and closes with its close code.
func (c *conn) fail(perr *protocol.Error) {
	c.log.Info("protocol error", slog.String(logCode, string(perr.Code)), slog.String(logErr, perr.Message))
	c.requestClose(closeReq{err: perr, code: perr.Code.CloseCode(), drain: true})
}

// internal closes the connection with protocol.CodeInternal after a store
// failure (the client resumes after the retry hint).
func (c *conn) internal(op string, err error) {
	if c.ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return // the connection is ending anyway
	}
	c.log.Error(op, slog.String(logErr, err.Error()))
	perr := protocol.NewError(protocol.CodeInternal, "hub storage error")
	perr.RetryAfterMS = DefaultRetryAfter.Milliseconds()
	c.requestClose(closeReq{err: perr, code: perr.Code.CloseCode(), drain: true})
}

// goAway ends the connection for a shutdown: the push in progress, if any,
// finishes and is acknowledged; then the queued frames, an error with
// protocol.CodeGoingAway and the close frame are written.
func (c *conn) goAway() {
	c.pushMu.Lock()
	c.draining = true
	c.pushMu.Unlock()
	c.cancel()
	perr := protocol.NewError(protocol.CodeGoingAway, "hub node shutting down")
	c.requestClose(closeReq{err: perr, code: perr.Code.CloseCode(), drain: true})
}

// kill drops the TCP connection at once.
func (c *conn) kill() { _ = c.ws.NetConn().Close() }

// requestClose asks the writer to end the connection; only the first
// request counts.
func (c *conn) requestClose(req closeReq) {
	c.closeOne.Do(func() {
		close(c.closing)
		c.closeCh <- req
	})
}

// send encodes m and queues it for the writer (see charge and enqueue).
func (c *conn) send(ctx context.Context, m protocol.Message) error {
	frame, err := protocol.Encode(m)
	if err != nil {
		c.internal("encode", err)
		return err
	}
	n, err := c.charge(ctx, int64(len(frame)))
	if err != nil {
		return err
	}
	return c.enqueue(ctx, frame, n)
}

// charge waits until the connection holds fewer than ConnSendBytes
// outbound bytes, then takes n bytes of the hub's SendBytes (waiting for
// them) and charges them to the connection; enqueue or uncharge gives them
// back. During catch-up (before CaughtUp is queued) the hub waits for the
// client, so a client applying a large backlog slowly is never cut off
// (its liveness is still enforced by the write timeout, the ping/pong read
// deadline and, when the hub's SendBytes run short, dropStalled). Once live,
// a connection that stays at ConnSendBytes for SlowConsumerTimeout is
// closed (see slow). An error is also returned when the connection ends or
// ctx is done.
func (c *conn) charge(ctx context.Context, n int64) (int64, error) {
	if err := c.wait(ctx, func() bool { return c.out.Load() < int64(c.s.cfg.ConnSendBytes) }, c.room); err != nil {
		return 0, err
	}
	n, err := c.s.out.take(ctx, c.closing, n, c.s.sweepInterval(), c.s.dropStalled)
	if err != nil {
		return 0, err
	}
	c.out.Add(n)
	if c.s.out.pressed() {
		c.s.dropStalled()
	}
	return n, nil
}

// uncharge gives back n outbound bytes charged to the connection.
func (c *conn) uncharge(n int64) {
	if n <= 0 {
		return
	}
	c.out.Add(-n)
	c.s.out.give(n)
	select {
	case c.room <- struct{}{}:
	default:
	}
}

// wait blocks until ready reports true, retrying whenever signal fires,
// subject to the live timeout (see charge).
func (c *conn) wait(ctx context.Context, ready func() bool, signal <-chan struct{}) error {
	var timeout <-chan time.Time
	for !ready() {
		if timeout == nil && c.live.Load() {
			t := time.NewTimer(c.s.cfg.SlowConsumerTimeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-signal:
		case <-c.closing:
			return errConnClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return c.slow()
		}
	}
	return nil
}

// slow closes a live connection whose client does not drain its frames
// with protocol.CodeSlowConsumer and returns protocol.ErrSlowConsumer.
func (c *conn) slow() error {
	c.log.Warn("slow consumer", slog.String(logCode, string(protocol.CodeSlowConsumer)))
	perr := protocol.NewError(protocol.CodeSlowConsumer, "send queue full for %s: reconnect and resume from your cursor",
		c.s.cfg.SlowConsumerTimeout)
	c.requestClose(closeReq{err: perr, code: perr.Code.CloseCode()})
	return protocol.ErrSlowConsumer
}

// dropSlow closes a connection whose write has stalled while the hub is
// short of outbound bytes (see dropStalled): its queued frames are dropped at once, the
// frame being written gets closeGrace to go out (then the TCP connection
// is dropped), and the client, once it reads again, finds
// protocol.CodeSlowConsumer: it reconnects and resumes from its cursor.
func (c *conn) dropSlow() {
	if c.dropped.Swap(true) {
		return
	}
	c.log.Warn("slow consumer: dropped to free outbound memory", slog.String(logCode, string(protocol.CodeSlowConsumer)),
		slog.Int64("bytes", c.out.Load()))
	perr := protocol.NewError(protocol.CodeSlowConsumer, "write stalled for %s while the hub is short of memory: reconnect and resume from your cursor",
		c.s.cfg.SlowConsumerTimeout)
	c.requestClose(closeReq{err: perr, code: perr.Code.CloseCode()})
	c.discardQueued()
	_ = c.ws.NetConn().SetWriteDeadline(time.Now().Add(closeGrace))
}

// discardQueued drops the frames queued for the writer, giving back their
// outbound bytes.
func (c *conn) discardQueued() {
	for {
		select {
		case f := <-c.queue:
			c.uncharge(f.charge)
		default:
			return
		}
	}
}

// enqueue queues frame, for which n outbound bytes were charged, for the
// writer; n beyond the frame's length is given back first, and all of it
// when enqueue fails. Waiting for room in the queue is subject to the live
// timeout (see charge).
func (c *conn) enqueue(ctx context.Context, frame []byte, n int64) error {
	return c.enqueueFrame(ctx, outFrame{frame: frame, charge: n})
}

// enqueueFrame is enqueue for a frame that may carry its commit time.
func (c *conn) enqueueFrame(ctx context.Context, f outFrame) error {
	frame, n := f.frame, f.charge
	if extra := n - int64(len(frame)); extra > 0 {
		c.uncharge(extra)
		n -= extra
	}
	f.charge = n
	select {
	case <-c.closing:
		c.uncharge(n)
		return errConnClosed
	case c.queue <- f:
		return nil
	default:
	}
	var timeout <-chan time.Time
	if c.live.Load() {
		t := time.NewTimer(c.s.cfg.SlowConsumerTimeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case c.queue <- f:
		return nil
	case <-c.closing:
		c.uncharge(n)
		return errConnClosed
	case <-ctx.Done():
		c.uncharge(n)
		return ctx.Err()
	case <-timeout:
		c.uncharge(n)
		return c.slow()
	}
}

// writeLoop is the connection's only writer of data frames: it drains the
// queue, pings, and performs the close. It logs to log (c.log changes once
// Hello names the client).
func (c *conn) writeLoop(log *slog.Logger) {
	defer close(c.done)
	ping := time.NewTicker(c.s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select { // a close request goes before queued frames
		case req := <-c.closeCh:
			c.writeClose(req)
			return
		default:
		}
		select {
		case req := <-c.closeCh:
			c.writeClose(req)
			return
		case f := <-c.queue:
			if err := c.writeOut(f); err != nil {
				log.Debug("write", slog.String(logErr, err.Error()))
				c.kill()
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
				c.kill()
				return
			}
		}
	}
}

// writeOut writes a queued frame, then gives back its outbound bytes.
// While it writes, c.writing tells dropStalled since when.
func (c *conn) writeOut(f outFrame) error {
	c.writing.Store(time.Now().UnixNano())
	err := c.write(f.frame)
	c.writing.Store(0)
	c.uncharge(f.charge)
	if f.committed != 0 && err == nil {
		c.s.obs.LiveDelay(time.Duration(time.Now().UnixNano() - f.committed))
	}
	return err
}

func (c *conn) write(frame []byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// writeClose writes what req asks for, then leaves the client closeGrace
// to answer before the TCP connection is dropped.
func (c *conn) writeClose(req closeReq) {
	if req.drain {
	drain:
		for {
			select {
			case f := <-c.queue:
				if err := c.writeOut(f); err != nil {
					c.kill()
					return
				}
			default:
				break drain
			}
		}
	}
	if req.err != nil {
		c.closeCode = req.err.Code
		frame, err := protocol.Encode(req.err)
		if err == nil {
			if err := c.write(frame); err != nil {
				c.kill()
				return
			}
		}
	}
	if req.code != 0 {
		reason := ""
		if req.err != nil {
			reason = string(req.err.Code)
		}
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(req.code, reason),
			time.Now().Add(c.s.cfg.WriteTimeout))
	}
	c.graceMu.Lock()
	c.grace = time.AfterFunc(closeGrace, c.linger)
	c.graceMu.Unlock()
}

// linger ends a connection whose client has not answered the close frame
// within closeGrace: it half-closes the TCP connection (the client still
// reads what was sent, close frame included, then EOF) and leaves the
// reader closeGrace more to take what the client sends, rather than
// closing a socket with unread data, which resets the connection and
// makes the client lose what it has not read yet.
func (c *conn) linger() {
	tcp, ok := c.ws.NetConn().(interface{ CloseWrite() error })
	if !ok {
		c.kill()
		return
	}
	_ = tcp.CloseWrite()
	if err := c.ws.NetConn().SetReadDeadline(time.Now().Add(closeGrace)); err != nil {
		c.kill()
	}
}

// lingerClose closes the socket after the connection ended; when the hub
// closed it, unread bytes the client sent meanwhile are discarded first
// (for at most closeGrace), so that the close does not reset the
// connection before the client has read the close frame.
func (c *conn) lingerClose() {
	nc := c.ws.NetConn()
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.CloseWrite()
		_ = tcp.SetReadDeadline(time.Now().Add(closeGrace))
		var buf [512]byte
		for {
			if _, err := tcp.Read(buf[:]); err != nil {
				break
			}
		}
	}
	_ = nc.Close()
}
