package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/client"
)

// cmdSync pushes every pending event, pulls until caught up and exits; with
// --watch it stays connected. The device id sent to the hub is the store's
// (the device name).
func cmdSync(ctx context.Context, a *app, _ []string) error {
	if a.g.token == "" {
		return &exitError{code: exitUsage, err: fmt.Errorf("sync needs a token: pass --token or set FERRY_TOKEN (get one with: syncd token --tenant T --subject %s)", a.Device())}
	}
	if a.g.watch {
		return watch(ctx, a)
	}
	// What was pulled is stored, and the read model caught up, even when
	// the sync failed part-way; rejected events have left the read model.
	var res ferry.SyncResult
	err := a.withBar("pulling", func() (err error) {
		res, err = a.Sync(ctx)
		return err
	})
	for _, x := range res.Rejections {
		fmt.Fprintf(a.stderr, "client-demo: warning: the hub rejected event %s (%s): %s\n", x.ID, x.Code, oneLine(x.Reason))
	}
	if err != nil {
		return syncFailed(a, err)
	}
	backfilled := map[bool]string{true: fmt.Sprintf(", backfilled %d", res.Backfilled)}[res.Backfilled > 0] // new subscriptions' history
	return a.print(map[string]any{"pushed": res.Pushed, "pulled": res.Pulled, "new": res.Inserted, "backfilled": res.Backfilled,
		"rejected": len(res.Rejections), "cursor": res.Cursor, "head": res.Head},
		"pushed %d, pulled %d (%d new)%s, cursor %d\n", res.Pushed, res.Pulled, res.Inserted, backfilled, res.Cursor)
}

// subscriptions returns the command that runs edit (App.Subscribe or
// App.Unsubscribe; nil: neither) on its arguments, stream prefixes of whole
// names (a final slash is implied), then prints the subscriptions.
func subscriptions(edit func(*ferry.App, context.Context, ...string) error) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) (err error) {
		for i, p := range args {
			args[i] = strings.TrimSuffix(p, "/") + "/" // task/groceries/, not task/groceries2/
		}
		if edit != nil {
			err = edit(a.App, ctx, args...)
		}
		subs, err2 := a.Subscriptions(ctx)
		if errors.Is(err, client.ErrPullsEverything) {
			return errors.New("this device pulls every list already (it synced before subscribing): to pull only some, subscribe on a new --db before its first sync")
		} else if err = cmp.Or(err, err2); err != nil {
			return err
		}
		return a.printList(append([]string{}, subs...), strings.Join(append(subs, ""), "\n"), "none: this device pulls every stream its token allows")
	}
}

// syncFailed describes a failed sync in one line (exit 3).
func syncFailed(a *app, err error) error {
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		return syncError(fmt.Errorf("sync failed: the hub at %s refused the token (get a new one with syncd token)", a.g.server))
	case errors.Is(err, client.ErrUnreachable): // the client's message names the URL
		return syncError(fmt.Errorf("sync failed: hub unreachable at %s", after(err.Error(), client.ErrUnreachable)))
	}
	return syncError(fmt.Errorf("sync failed: %w", err))
}

// after returns what msg says after sentinel's message, or all of it.
func after(msg string, sentinel error) string {
	if i := strings.LastIndex(msg, sentinel.Error()+": "); i >= 0 {
		return msg[i+len(sentinel.Error())+2:]
	}
	return msg
}

// watch runs the app (replicator, read model, side effects) until ctx
// ends, and prints every event the store takes in.
func watch(ctx context.Context, a *app) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var state string // the connection state last reported
	a.onSync = func(p client.Progress) {
		var now string // "": nothing to report
		switch {
		case ctx.Err() != nil: // stopping (Ctrl-C)
		case errors.Is(p.Err, client.ErrUnauthorized):
			cancel(syncFailed(a, p.Err))
		case p.Err != nil:
			now = "offline (" + oneLine(after(p.Err.Error(), client.ErrUnreachable)) + "); retrying"
		case p.Online && p.CaughtUp:
			now = "online, caught up with " + a.g.server + "; watching for changes (Ctrl-C to stop)"
		}
		if now != "" && now != state {
			state = now
			fmt.Fprintf(a.stderr, "client-demo: %s\n", now) // on the replicator's goroutine only
		}
	}
	err := a.Follow(ctx, func(e eventstore.Event) error {
		_, err := fmt.Fprintln(a.stdout, describe(e))
		return err
	})
	if err := cmp.Or(err, context.Cause(ctx)); !errors.Is(err, context.Canceled) {
		return err
	}
	sctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()
	return a.CatchUp(sctx)
}

// describe returns a one-line description of an event for sync --watch.
func describe(e eventstore.Event) string {
	verb := strings.TrimPrefix(e.Type, "task:")
	if e.Type == taskCreated.Name() {
		verb = "added"
	}
	from := "local:"
	if e.Hydrated {
		from = "from " + e.Origin + ":"
	}
	return fmt.Sprintf("%s %s %s%s", from, verb, strings.TrimPrefix(e.Stream, streamPrefix), titleSet(e))
}

// statusJSON is what `status --json` prints.
type statusJSON struct {
	Device         string    `json:"device"`
	Server         string    `json:"server"`
	Online         bool      `json:"online"`
	LastAttempt    time.Time `json:"last_attempt,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
	Pending        int       `json:"pending"`
	Rejected       int       `json:"rejected"`
	Cursor         int64     `json:"cursor"`
	EventsSeen     int64     `json:"events_seen"`
	LastSync       time.Time `json:"last_sync,omitzero"`
	EffectsPending int       `json:"effects_pending"`
	EffectsFailed  int       `json:"effects_failed"`
}

// cmdStatus prints the device's sync state. It works offline: it reads what
// the replicator and the effects outbox recorded in the store.
func cmdStatus(ctx context.Context, a *app, _ []string) error {
	st, err := a.Status(ctx)
	seen, err2 := eventsSeen(ctx, a)
	if err := errors.Join(err, err2); err != nil {
		return err
	}
	s := statusJSON{Device: st.Device, Server: a.g.server, Online: st.Online, LastAttempt: st.LastAttempt, LastError: st.LastError,
		Pending: st.Pending, Rejected: st.Rejected, Cursor: st.Cursor, EventsSeen: seen, LastSync: st.LastSync,
		EffectsPending: st.EffectsPending, EffectsFailed: st.EffectsFailed}
	online, lastSync := "never tried", "never"
	if !s.LastAttempt.IsZero() {
		online = fmt.Sprintf("%s at last attempt (%s)", map[bool]string{true: "online", false: "offline"}[s.Online],
			s.LastAttempt.Local().Format(timeLayout))
	}
	if !s.LastSync.IsZero() {
		lastSync = s.LastSync.Local().Format(timeLayout)
	}
	lines := [][2]string{{"device", s.Device}, {"server", s.Server}, {"online", online},
		{"last error", oneLine(after(s.LastError, client.ErrUnreachable))},
		{"pending", plural(s.Pending, "event") + " not yet pushed"}, {"rejected", plural(s.Rejected, "event") + " refused by the hub"},
		{"cursor", fmt.Sprint(s.Cursor)}, {"events seen", fmt.Sprint(s.EventsSeen)}, {"last sync", lastSync},
		{"side effects", fmt.Sprintf("%d pending, %d failed", s.EffectsPending, s.EffectsFailed)}}
	var text strings.Builder
	for _, l := range lines {
		if l[1] != "" && (l[0] != "rejected" || s.Rejected > 0) {
			fmt.Fprintf(&text, "%-14s%s\n", l[0], l[1])
		}
	}
	return a.print(s, "%s", text.String())
}

// plural returns "1 event", "2 events".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
