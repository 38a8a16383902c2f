package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferrysync/ferry/sync/protocol"
)

// inbound is one frame read from the hub: a decoded message or the error
// that ended reading.
type inbound struct {
	msg protocol.Message
	err error
	// bad is set when the frame arrived but could not be decoded (err is
	// then a *protocol.Error to send back).
	bad *protocol.Error
	// size is the frame's length, counted in conn.queued until taken.
	size int64
}

// Bounds of what the reader decodes ahead of the session: frames, and bytes
// of frames. A catch-up applies the frames waiting in one transaction
// (session.applyQueued).
const (
	maxQueuedFrames = 64
	maxQueuedBytes  = 16 << 20
)

// conn is one WebSocket connection to the hub. Only the session goroutine
// writes data frames; a reader goroutine decodes incoming frames into in.
type conn struct {
	ws        *websocket.Conn
	codec     protocol.Codec
	keepAlive time.Duration
	in        chan inbound
	queued    atomic.Int64  // bytes of the frames in in
	room      chan struct{} // signalled when the session takes a frame
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// dial opens a WebSocket to the hub and starts reading from it.
func (r *Replicator) dial(ctx context.Context) (*conn, error) {
	tok, err := r.token(ctx)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: r.cfg.DialTimeout,
	}
	dctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
	defer cancel()
	ws, resp, err := d.DialContext(dctx, r.url, h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if resp != nil {
			herr := &httpError{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After")), cause: ErrUnreachable}
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				herr.cause = ErrUnauthorized
			}
			return nil, fmt.Errorf("%w: %s: %w", herr.cause, r.url, herr)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, r.url, err)
	}
	c := &conn{
		ws:        ws,
		codec:     protocol.JSONCodec{},
		keepAlive: r.cfg.KeepAlive,
		in:        make(chan inbound, maxQueuedFrames),
		room:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	ws.SetReadLimit(int64(protocol.DefaultMaxFrameBytes))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(2 * c.keepAlive))
	})
	c.wg.Add(1)
	go c.readLoop()
	return c, nil
}

// parseRetryAfter reads an HTTP Retry-After header given in seconds.
func parseRetryAfter(v string) time.Duration {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(min(n, protocol.MaxRetryAfterMS/1000)) * time.Second
	}
	return 0
}

// readLoop reads and decodes frames until the connection fails. Frames are
// decoded under the default limits until Welcome, then under the limits
// the hub announced.
func (c *conn) readLoop() {
	defer c.wg.Done()
	limits := protocol.DefaultLimits()
	var buf bytes.Buffer // reused: decoded messages do not alias the frame
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(2 * c.keepAlive))
		if buf.Cap() > protocol.DefaultMaxFrameBytes {
			buf = bytes.Buffer{} // do not keep a rare large frame's buffer
		}
		typ, frame, err := c.readFrame(&buf)
		var in inbound
		switch {
		case err != nil:
			in.err = readError(err)
		case (typ == websocket.BinaryMessage) != c.codec.Binary():
			in.bad = protocol.NewError(protocol.CodeProtocolViolation, "unexpected frame type %d", typ)
			in.err = in.bad
		default:
			in.msg, in.err = c.codec.Decode(frame, limits)
			if in.err != nil {
				if !errors.As(in.err, &in.bad) {
					in.bad = protocol.NewError(protocol.CodeProtocolViolation, "%v", in.err)
				}
			}
			if w, ok := in.msg.(*protocol.Welcome); ok {
				limits = w.Limits.WithDefaults()
				c.ws.SetReadLimit(int64(limits.MaxFrameBytes))
			}
		}
		for c.queued.Load() >= maxQueuedBytes {
			select {
			case <-c.room:
			case <-c.done:
				return
			}
		}
		in.size = int64(len(frame))
		c.queued.Add(in.size)
		select {
		case c.in <- in:
		case <-c.done:
			return
		}
		if in.err != nil {
			return
		}
	}
}

// readFrame reads the next frame into buf (ws.ReadMessage allocates a
// new one per frame).
func (c *conn) readFrame(buf *bytes.Buffer) (int, []byte, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return typ, nil, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return typ, nil, err
	}
	return typ, buf.Bytes(), nil
}

// took records that the session has taken in from c.in, making room for
// the reader.
func (c *conn) took(in inbound) {
	if in.size > 0 {
		c.queued.Add(-in.size)
		select {
		case c.room <- struct{}{}:
		default:
		}
	}
}

// readError turns a read failure into the client's error vocabulary: a
// close frame with a protocol code becomes a *protocol.Error, anything
// else ErrDisconnected.
func readError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if code, ok := protocol.FromCloseCode(ce.Code); ok {
			perr := &protocol.Error{Code: code, Message: ce.Text, Resume: code.Resume()}
			if code == protocol.CodeUnauthorized {
				return fmt.Errorf("%w: %w", ErrUnauthorized, perr)
			}
			return perr
		}
		return fmt.Errorf("%w: hub closed the connection (%d %s)", ErrDisconnected, ce.Code, ce.Text)
	}
	return fmt.Errorf("%w: %v", ErrDisconnected, err)
}

// send encodes and writes m.
func (c *conn) send(m protocol.Message) error {
	frame, err := c.codec.Encode(m)
	if err != nil {
		return err
	}
	typ := websocket.TextMessage
	if c.codec.Binary() {
		typ = websocket.BinaryMessage
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(DefaultWriteTimeout))
	if err := c.ws.WriteMessage(typ, frame); err != nil {
		return fmt.Errorf("%w: send %s: %v", ErrDisconnected, m.Type(), err)
	}
	return nil
}

// ping sends a WebSocket ping.
func (c *conn) ping() error {
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(DefaultWriteTimeout)); err != nil {
		return fmt.Errorf("%w: ping: %v", ErrDisconnected, err)
	}
	return nil
}

// close ends the connection with a close frame carrying code, and waits
// for the reader to stop. It is safe to call more than once.
func (c *conn) close(code int, text string) {
	c.closeOnce.Do(func() {
		close(c.done)
		if code != 0 {
			msg := websocket.FormatCloseMessage(code, text)
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		}
		_ = c.ws.Close()
		c.wg.Wait()
	})
}

// fail tells the hub why the client ends the conversation, then closes.
func (c *conn) fail(perr *protocol.Error) {
	_ = c.send(perr)
	c.close(perr.Code.CloseCode(), "")
}
