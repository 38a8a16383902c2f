package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/client"
)

// replicator returns the sync/client replicator of the device's store. The
// device id sent to the hub is the store's origin (the device name). The
// read model takes pulled events in the transaction that stores them.
func (a *app) replicator(onProgress func(client.Progress)) (*client.Replicator, error) {
	return client.New(a.store, client.Config{URL: a.g.server, Token: a.g.token, OnProgress: onProgress,
		Projectors: []client.Projector{a.proj}})
}

// needToken refuses to sync without a token.
func (a *app) needToken() error {
	if a.g.token == "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("sync needs a token: pass --token or set %s (get one with: syncd token --tenant T --subject %s)", envToken, a.device())}
	}
	return nil
}

// cmdSync pushes every pending event, pulls until caught up and exits; with
// --watch it stays connected.
func cmdSync(ctx context.Context, a *app, _ []string) error {
	if err := a.needToken(); err != nil {
		return err
	}
	if a.o.watch {
		return watch(ctx, a)
	}
	bar := newBar(a.stderr, "pulling")
	r, err := a.replicator(func(p client.Progress) {
		if p.Online && !p.CaughtUp {
			bar.set(p.Cursor-p.Since, p.Head-p.Since)
		}
	})
	if err != nil {
		return usageError("%v", err)
	}
	stats, err := r.SyncOnce(ctx)
	bar.finish()
	// What was pulled is stored even when the sync failed part-way: show it.
	if serr := a.settle(ctx); serr != nil && err == nil {
		return serr
	}
	for _, x := range stats.Rejections {
		fmt.Fprintf(a.stderr, "client-demo: warning: the hub rejected event %s (%s): %s\n", x.ID, x.Code, oneLine(x.Reason))
	}
	if len(stats.Rejections) > 0 {
		// The read model showed those events when they were written; the
		// fold now leaves them out. Replay so that both agree again.
		if _, err := a.proj.Rebuild(ctx, resetReadModel); err != nil {
			return fmt.Errorf("rebuild after rejections: %w", err)
		}
	}
	if err != nil {
		return syncFailed(a, err)
	}
	if a.g.json {
		return writeJSON(a.stdout, map[string]any{"pushed": stats.Pushed, "pulled": stats.Pulled, "new": stats.Inserted,
			"rejected": stats.Rejected, "cursor": stats.Cursor, "head": stats.Head})
	}
	fmt.Fprintf(a.stdout, "pushed %d, pulled %d (%d new), cursor %d\n", stats.Pushed, stats.Pulled, stats.Inserted, stats.Cursor)
	return nil
}

// syncFailed describes a failed sync in one line (exit 3).
func syncFailed(a *app, err error) error {
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		return syncError(fmt.Errorf("sync failed: the hub at %s refused the token (get a new one with syncd token)", a.g.server))
	case errors.Is(err, client.ErrUnreachable): // the client's message names the URL
		return syncError(fmt.Errorf("sync failed: hub unreachable at %s", after(err, client.ErrUnreachable)))
	}
	return syncError(fmt.Errorf("sync failed: %w", err))
}

// after returns what err's message says after sentinel's, or all of it.
func after(err, sentinel error) string { return afterMsg(err.Error(), sentinel) }

// afterMsg returns what msg says after sentinel's message, or all of it.
func afterMsg(msg string, sentinel error) string {
	if i := strings.LastIndex(msg, sentinel.Error()+": "); i >= 0 {
		return msg[i+len(sentinel.Error())+2:]
	}
	return msg
}

// watch runs the replicator until ctx ends, keeping the read model and the
// side effects current, and prints every event the store takes in.
func watch(ctx context.Context, a *app) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := &lockedWriter{w: a.stdout}
	errOut := &lockedWriter{w: a.stderr}

	var state string // the connection state last reported
	r, err := a.replicator(func(p client.Progress) {
		now := ""
		switch {
		case ctx.Err() != nil: // stopping (Ctrl-C): nothing to report
			return
		case p.Err != nil && errors.Is(p.Err, client.ErrUnauthorized):
			cancel(syncFailed(a, p.Err))
			return
		case p.Err != nil:
			now = "offline (" + oneLine(after(p.Err, client.ErrUnreachable)) + "); retrying"
		case p.Online && p.CaughtUp:
			now = "online, caught up with " + a.g.server + "; watching for changes (Ctrl-C to stop)"
		default:
			return
		}
		if now != state {
			state = now
			fmt.Fprintf(errOut, "client-demo: %s\n", now)
		}
	})
	if err != nil {
		return usageError("%v", err)
	}
	head, err := a.store.Head(ctx)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, run := range []func(context.Context) error{r.Run, a.proj.Run, a.fx.Run} {
		wg.Go(func() {
			if err := run(ctx); err != nil && ctx.Err() == nil {
				errs <- err
				cancel(err)
			}
		})
	}
	for pos := head; ; {
		if _, err := a.store.Wait(ctx, pos); err != nil {
			break
		}
		for e, err := range a.store.ReadAll(ctx, pos, 0) {
			if err != nil {
				break
			}
			pos = e.Position
			fmt.Fprintln(out, describe(e))
		}
	}
	cancel(nil)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	sctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()
	return a.settle(sctx)
}

// describe returns a one-line description of an event for sync --watch.
func describe(e eventstore.Event) string {
	verb := strings.TrimPrefix(e.Type, "task:")
	if e.Type == evCreated {
		verb = "added"
	}
	from := "local:"
	if e.Hydrated {
		from = "from " + e.Origin + ":"
	}
	line := fmt.Sprintf("%s %s %s", from, verb, strings.TrimPrefix(e.Stream, streamPrefix))
	if e.Type == evCreated || e.Type == evRenamed {
		var d TitleData
		if err := json.Unmarshal(e.Data, &d); err == nil {
			line += fmt.Sprintf(" %q", d.Title)
		}
	}
	return line
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
