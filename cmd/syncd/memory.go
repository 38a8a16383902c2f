package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"
)

// How returnMemory watches the hub's outbound bytes.
const (
	memoryPoll  = time.Second
	memoryCalm  = 5 * time.Second // outbound bytes at 0 this long end a burst
	memoryEvery = time.Minute     // at most one FreeOSMemory per interval
)

// returnMemory hands the heap a burst of outbound data took back to the OS
// once the burst is over: when outbound (the hub's outbound bytes) went
// over half of limit and has been 0 for memoryCalm. An idle hub allocates
// nothing, so without it no GC runs and the freed heap stays resident until
// the runtime's forced GC minutes later. It returns when ctx ends.
func returnMemory(ctx context.Context, outbound func() int64, limit int64, log *slog.Logger) {
	t := time.NewTicker(memoryPoll)
	defer t.Stop()
	var burst bool
	var calm, last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			switch n := outbound(); {
			case 2*n > limit:
				burst, calm = true, time.Time{}
			case n > 0:
				calm = time.Time{}
			case burst && calm.IsZero():
				calm = now
			case burst && now.Sub(calm) >= memoryCalm && now.Sub(last) >= memoryEvery:
				debug.FreeOSMemory()
				burst, last = false, now
				log.Info("returned memory after a burst of outbound data")
			}
		}
	}
}
