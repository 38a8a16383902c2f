package hub

import (
	"context"
	"sync"
	"time"
)

// budget is a number of bytes shared by takers that wait for room: the
// hub's outbound bytes in total (see Config.SendBytes). Bytes are taken
// before the data they stand for is built and given back once it is
// written or dropped, so the bytes taken never exceed the bound.
type budget struct {
	mu    sync.Mutex
	max   int64
	used  int64
	freed chan struct{} // closed (and replaced) when bytes are given back
}

func newBudget(max int64) *budget { return &budget{max: max} }

// take takes n bytes (at most the bound), waiting for room until done or
// ctx is closed. While it waits it calls stalled every interval, to drop
// the connections that hold bytes without draining them. It returns the
// bytes taken, or 0 and a reason.
func (b *budget) take(ctx context.Context, done <-chan struct{}, n int64, interval time.Duration, stalled func()) (int64, error) {
	n = min(n, b.max)
	var tick <-chan time.Time
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return n, nil
		}
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		freed := b.freed
		b.mu.Unlock()
		if tick == nil {
			t := time.NewTicker(interval)
			defer t.Stop()
			tick = t.C
		}
		select {
		case <-freed:
		case <-tick:
			stalled()
		case <-done:
			return 0, errConnClosed
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// give gives back n bytes taken.
func (b *budget) give(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.freed != nil {
		close(b.freed)
		b.freed = nil
	}
	b.mu.Unlock()
}

// pressed reports whether more than half the bytes are taken.
func (b *budget) pressed() bool { return 2*b.load() > b.max }

// load returns the bytes taken.
func (b *budget) load() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
