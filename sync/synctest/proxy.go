package synctest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrProxyClosed is returned by Proxy methods called after Close.
var ErrProxyClosed = errors.New("synctest: proxy closed")

// dialTimeout bounds the proxy's connection to its target.
const dialTimeout = 5 * time.Second

// Proxy is a loopback TCP proxy between clients and a server, for fault
// injection: Cut drops every open connection at once (a reset, as when a
// route or NAT entry goes away), Pause stalls the bytes in both directions
// on every connection, open or new, until Resume (a network that silently
// stops delivering: only keep-alives notice). Connections accepted while
// nothing is wrong are relayed unchanged. A Proxy is safe for concurrent
// use.
type Proxy struct {
	ln     net.Listener
	target string
	dialer net.Dialer

	mu       sync.Mutex
	conns    map[*proxyConn]struct{}
	gate     chan struct{} // non-nil while paused; closed by Resume
	closed   bool
	accepted int
	cut      int
	wg       sync.WaitGroup
}

// proxyConn is one relayed connection: the client's side and the server's.
type proxyConn struct {
	client, server net.Conn
	done           chan struct{}
	once           sync.Once
}

// StartProxy listens on a free loopback port and relays every connection
// to target (host:port). The target need not be up: a connection made
// while it is down is closed at once, as a refused one would be.
func StartProxy(ctx context.Context, target string) (*Proxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, dialer: net.Dialer{Timeout: dialTimeout}, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address connections are relayed to.
func (p *Proxy) Target() string { return p.target }

// Cut closes every open connection, both sides, with a reset, and
// returns how many it closed. Connections made afterwards are relayed (or
// stalled, while paused).
func (p *Proxy) Cut() int {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.cut += len(conns)
	p.mu.Unlock()
	for _, c := range conns {
		c.close(true)
	}
	return len(conns)
}

// Pause stops relaying bytes, in both directions and on every connection,
// until Resume. Connections stay open and new ones are still accepted;
// what is sent meanwhile waits in the proxy and the kernel's buffers.
// Pausing a paused proxy does nothing.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate == nil && !p.closed {
		p.gate = make(chan struct{})
	}
}

// Resume relays again what Pause held back, and everything after it.
// Resuming a proxy that is not paused does nothing.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
}

// Paused reports whether the proxy is paused.
func (p *Proxy) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gate != nil
}

// ProxyStats counts a proxy's connections.
type ProxyStats struct {
	// Open is the number of connections being relayed now.
	Open int
	// Accepted counts the connections accepted so far.
	Accepted int
	// Cut counts the connections closed by Cut.
	Cut int
}

// Stats returns the proxy's connection counts.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ProxyStats{Open: len(p.conns), Accepted: p.accepted, Cut: p.cut}
}

// Close stops listening, closes every connection, releases what Pause
// held and waits for the proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrProxyClosed
	}
	p.closed = true
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		c.close(false)
	}
	p.wg.Wait()
	return err
}

// accept accepts connections until the listener closes.
func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

// serve connects one client to the target and relays between them.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := p.dialer.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	c := &proxyConn{client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.close(false)
		return
	}
	p.conns[c] = struct{}{}
	p.accepted++
	p.mu.Unlock()
	var relays sync.WaitGroup
	relays.Go(func() { p.relay(c, server, client) })
	relays.Go(func() { p.relay(c, client, server) })
	relays.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// relay copies src to dst, waiting at the pause gate before each write,
// and closes the connection when either side ends.
func (p *Proxy) relay(c *proxyConn, dst, src net.Conn) {
	defer c.close(false)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(c) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// wait blocks while the proxy is paused; it reports false when c closed
// meanwhile.
func (p *Proxy) wait(c *proxyConn) bool {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	if gate == nil {
		return true
	}
	select {
	case <-gate:
		return true
	case <-c.done:
		return false
	}
}

// close closes both sides once; reset makes the close a TCP reset.
func (c *proxyConn) close(reset bool) {
	c.once.Do(func() {
		if reset {
			for _, nc := range []net.Conn{c.client, c.server} {
				if tc, ok := nc.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
			}
		}
		_ = c.client.Close()
		_ = c.server.Close()
		close(c.done)
	})
}
