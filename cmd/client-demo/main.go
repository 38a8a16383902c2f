// Command client-demo is a small offline-first task list built on Ferry's
// public API: a good place to start reading, and to copy from.
//
// Every device keeps its own SQLite file (--db). Commands write events
// locally and never need the network; `client-demo sync` pushes them to a
// syncd hub and pulls what the other devices wrote:
//
//	go run ./cmd/syncd &                 # the hub, on 127.0.0.1:8080
//	export FERRY_TOKEN=$(go run ./cmd/syncd token --tenant demo --subject me)
//	client-demo --db laptop.db add "buy milk"
//	client-demo --db laptop.db sync
//	client-demo --db phone.db sync && client-demo --db phone.db list
//
// It is wired by package ferry (openApp, in this file): typed event definitions and a task
// aggregate (task.go), a SQL read model (readmodel.go), a side effect that
// runs once, on the device that completed a task (effects.go), and sync with
// the hub (sync.go).
// Run `client-demo help` for the commands.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// Exit codes.
const (
	exitOK    = 0 // success
	exitUser  = 1 // bad input, unknown id, a rule refused the command, or a local failure
	exitUsage = 2 // unknown command, bad flags, wrong number of arguments
	exitSync  = 3 // sync failed: hub unreachable, token refused
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (without the program name) and returns
// the exit code. Results go to stdout; errors, one line each, to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintln(stderr, "client-demo: "+oneLine(message(err)))
	if ee, ok := errors.AsType[*exitError](err); ok {
		return ee.code
	}
	return exitUser
}

// exitError carries an exit code other than exitUser.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError returns a usage error (exit 2).
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format+" (see client-demo help)", args...)}
}

// syncError returns a sync failure (exit 3).
func syncError(err error) error { return &exitError{code: exitSync, err: err} }

// message turns library errors into what a user wants to read.
func message(err error) string {
	if ve, ok := errors.AsType[*aggregate.ValidationError](err); ok {
		return "invalid " + cmp.Or(ve.Field, "input") + ": " + ve.Reason
	}
	if ve, ok := errors.AsType[*eventstore.ValidationError](err); ok {
		return "invalid " + strings.TrimPrefix(ve.Field, "data.") + ": " + ve.Reason
	}
	if errors.Is(err, aggregate.ErrRejected) {
		return strings.TrimPrefix(err.Error(), aggregate.ErrRejected.Error()+": ")
	}
	if errors.Is(err, eventstore.ErrConcurrency) {
		return "the task changed while the command ran; try again"
	}
	return err.Error()
}

// oneLine folds a multi-line message into one line.
func oneLine(msg string) string {
	return strings.Join(strings.Fields(msg), " ")
}

// app is what a command works with: the device's ferry.App (store, read
// model, side-effect outbox, replicator), the flags and the output.
type app struct {
	*ferry.App
	g              globals
	stdout, stderr io.Writer
	bar            *bar                  // draws the pull or replay a command waits for (withBar)
	onSync         func(client.Progress) // draws the pull on bar; sync --watch reports the connection instead
}

// openApp opens the device's database with the device name it was first
// used with: --device the first time (or a generated id), the same name
// ever after. The store keeps the name; another --device is refused.
func openApp(ctx context.Context, g globals, stdout, stderr io.Writer) (*app, error) {
	a := &app{g: g, stdout: stdout, stderr: stderr, bar: &bar{}}
	a.onSync = func(p client.Progress) {
		if p.Online && !p.CaughtUp {
			a.bar.set(p.Cursor-p.Since, p.Head-p.Since)
		}
	}
	fa, err := ferry.Open(ctx, g.db, ferry.Options{
		Device:      g.device,
		Projections: []ferry.Projection{tasksProjection},
		Effects:     []ferry.Handler{effectHandler(g.effects)},
		Progress: func(p projector.Progress) {
			if p.Rebuild {
				a.bar.set(p.Done, p.Total)
			}
		},
		Sync: ferry.SyncOptions{URL: g.server, Token: g.token, Tune: func(c *client.Config) {
			c.OnProgress = func(p client.Progress) { a.onSync(p) }
		}},
	})
	if oe, ok := errors.AsType[*eventstore.OriginError](err); ok {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s belongs to device %q, not %q (a database keeps the device name of its first use)", g.db, oe.Stored, oe.Configured)}
	}
	if err != nil {
		return nil, err
	}
	a.App = fa
	return a, nil
}

// withBar runs fn with a progress bar labelled label on stderr.
func (a *app) withBar(label string, fn func() error) error {
	a.bar = newBar(a.stderr, label)
	defer a.bar.finish()
	return fn()
}

// print writes v to stdout as indented JSON with --json, else the text
// that format makes of args.
func (a *app) print(v any, format string, args ...any) error {
	if a.g.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := fmt.Fprintf(a.stdout, format, args...)
	return err
}

// printList is print for a list v: text has a line per item, none is for none.
func (a *app) printList(v any, text, none string) error {
	return a.print(v, "%s", cmp.Or(text, none+"\n"))
}
