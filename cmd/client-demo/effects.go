package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/eventstore"
)

// effectName names the Once handler in the outbox; it must stay stable.
const effectName = "effects-log"

// effectHandler is the side effect of completing a task: one line
// "<event-id> completed <task-id> <title>" appended to the effects log.
//
// It is a Once handler, so it runs only for task:completed events appended
// on this device, through the effects outbox, after the append commits.
// Completions pulled from other devices and replays (rebuild) never run it.
// Runs are at-least-once (a crash between the write and the outbox's done
// record runs it again), so the handler uses the event id as its
// idempotency key: it skips a line the log already holds.
func effectHandler(path string) ferry.Handler {
	return ferry.Once(taskCompleted, effectName, func(ctx context.Context, e ferry.Stored[TitleData]) error {
		log, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if bytes.HasPrefix(log, []byte(e.ID+" ")) || bytes.Contains(log, []byte("\n"+e.ID+" ")) {
			return nil // done by an earlier run
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "%s completed %s %s\n", e.ID, strings.TrimPrefix(e.Stream, streamPrefix), e.Data.Title)
		return errors.Join(err, f.Sync(), f.Close())
	})
}

// settle brings the read model up to date and runs the side effects that
// are due, then reports on stderr the side effects of the events ids that
// did not run successfully (they stay in the outbox and are retried by
// later commands).
func (a *app) settle(ctx context.Context, ids ...string) error {
	if err := a.CatchUp(ctx); err != nil {
		return err
	}
	recs, _ := a.Effects(ctx) // on failure the command's work is still done; `effects` reports the outbox
	for _, rec := range recs {
		if slices.Contains(ids, rec.Event.ID) {
			fmt.Fprintf(a.stderr, "client-demo: warning: side effect %s of %s is %s: %s (see client-demo effects)\n",
				rec.Handler, rec.Event.ID, rec.Status, oneLine(rec.LastError))
		}
	}
	return nil
}

// effectJSON is one side effect as `effects --json` prints it.
type effectJSON struct {
	Status      string    `json:"status"`
	EventID     string    `json:"event_id"`
	Handler     string    `json:"handler"`
	Type        string    `json:"type"`
	Task        string    `json:"task"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// cmdEffects lists pending and failed side effects, or retries a failed one.
func cmdEffects(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 {
		if args[0] != "retry" || len(args) != 2 {
			return usageError("effects takes no arguments, or retry EVENT-ID")
		}
		id := strings.ToUpper(args[1])
		if err := a.RetryEffect(ctx, id, effectName); errors.Is(err, eventstore.ErrNotFound) {
			return fmt.Errorf("no failed side effect for event %s", args[1])
		} else if err != nil {
			return err
		}
		if err := a.settle(ctx, id); err != nil {
			return err
		}
		return a.print(map[string]string{"retried": id}, "retried %s\n", id)
	}
	recs, err := a.Effects(ctx)
	if err != nil {
		return err
	}
	out := []effectJSON{}
	var text strings.Builder
	for _, r := range recs {
		e := effectJSON{Status: string(r.Status), EventID: r.Event.ID, Handler: r.Handler, Type: r.Event.Type,
			Task: strings.TrimPrefix(r.Event.Stream, streamPrefix), Attempts: r.Attempts, LastError: r.LastError, NextAttempt: r.NextAttempt}
		out = append(out, e)
		fmt.Fprintf(&text, "%-7s %s %s task %s, %d attempts", e.Status, e.EventID, e.Handler, e.Task, e.Attempts)
		if e.LastError != "" {
			fmt.Fprintf(&text, ", last error: %s", oneLine(e.LastError))
		}
		text.WriteString("\n")
	}
	return a.printList(out, text.String(), "no pending or failed side effects")
}
