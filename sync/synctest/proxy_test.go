package synctest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/synctest"
)

// echoServer serves on a loopback port, writing back what it reads, until
// the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// startProxy starts a proxy to target, closed when the test ends.
func startProxy(t *testing.T, target string) *synctest.Proxy {
	t.Helper()
	p, err := synctest.StartProxy(context.Background(), target)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// dialProxy connects to p.
func dialProxy(t *testing.T, p *synctest.Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), waitTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg to c and reads it back within waitTimeout.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_, err := c.Write([]byte(msg))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.Equal(t, msg, string(got))
}

// The proxy relays bytes both ways; Cut closes every open connection (the
// client sees it end) and later connections work again.
func TestProxyCut(t *testing.T) {
	p := startProxy(t, echoServer(t))
	a, b := dialProxy(t, p), dialProxy(t, p)
	roundTrip(t, a, "hello")
	roundTrip(t, b, "world")
	require.Equal(t, 2, p.Stats().Open)

	assert.Equal(t, 2, p.Cut())
	for _, c := range []net.Conn{a, b} {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
		_, err := c.Read(make([]byte, 1))
		require.Error(t, err, "a cut connection ends")
		assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "ended by the cut, not the deadline: %v", err)
	}

	c := dialProxy(t, p)
	roundTrip(t, c, "again")
	st := p.Stats()
	assert.Equal(t, 3, st.Accepted)
	assert.Equal(t, 2, st.Cut)
}

// Pause holds bytes back on open and new connections without closing them;
// Resume delivers them.
func TestProxyPause(t *testing.T) {
	p := startProxy(t, echoServer(t))
	open := dialProxy(t, p)
	roundTrip(t, open, "before")

	p.Pause()
	require.True(t, p.Paused())
	fresh := dialProxy(t, p)
	for _, c := range []net.Conn{open, fresh} {
		_, err := c.Write([]byte("held"))
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		_, err = c.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded, "nothing comes through while paused")
	}

	p.Resume()
	require.False(t, p.Paused())
	for _, c := range []net.Conn{open, fresh} {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
		got := make([]byte, 4)
		_, err := io.ReadFull(c, got)
		require.NoError(t, err)
		assert.Equal(t, "held", string(got), "held bytes delivered on resume")
		roundTrip(t, c, "after")
	}
}

// A cut reaches connections stalled by a pause; Close ends everything and
// stops accepting.
func TestProxyCutWhilePausedAndClose(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dialProxy(t, p)
	roundTrip(t, c, "x")
	p.Pause()
	_, err := c.Write([]byte("stalled"))
	require.NoError(t, err)
	assert.Equal(t, 1, p.Cut())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "ended by the cut: %v", err)

	d := dialProxy(t, p)
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Close(), synctest.ErrProxyClosed)
	require.NoError(t, d.SetReadDeadline(time.Now().Add(waitTimeout)))
	_, err = d.Read(make([]byte, 1))
	require.Error(t, err)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "closed by Close: %v", err)
	_, err = net.DialTimeout("tcp", p.Addr(), time.Second)
	assert.Error(t, err, "no longer listening")
}

// A connection made while the target is down is closed at once.
func TestProxyTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	p := startProxy(t, addr)
	c := dialProxy(t, p)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "closed, not left hanging: %v", err)
	assert.Zero(t, p.Stats().Accepted)
}
