// Command syncd is Ferry's sync hub: the WebSocket server that edge
// clients push their events to and pull everyone else's from.
//
// With no database flag it stores each tenant's ledger in an embedded
// SQLite file under --data-dir, so one command starts a working hub:
//
//	syncd
//	syncd token --tenant acme --subject laptop-1
//
// With --postgres (or FERRY_POSTGRES_URL) every tenant lives in one
// PostgreSQL database, and any number of syncd processes can share it.
// Run `syncd --help` and `syncd token --help` for the flags; each takes
// its default from an environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "syncd:", oneLine(err.Error()))
		os.Exit(exitCode(err))
	}
}

// Exit codes.
const (
	exitFailure = 1 // the server could not start or failed, or token could not sign
	exitUsage   = 2 // bad flags, arguments or environment variables
)

// usageErr is a usage error: syncd exits 2 on it.
type usageErr struct{ error }

// usageError returns a usage error.
func usageError(format string, args ...any) error {
	return usageErr{fmt.Errorf(format, args...)}
}

// exitCode returns the exit code for err.
func exitCode(err error) int {
	if _, ok := errors.AsType[usageErr](err); ok {
		return exitUsage
	}
	return exitFailure
}

// run runs the syncd command line args (without the program name): the
// server, or a subcommand. It returns when ctx is cancelled (after a
// graceful shutdown) or the command is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return runToken(ctx, args[1:], getenv, stdout)
		case "serve":
			args = args[1:]
		}
	}
	return runServe(ctx, args, getenv, stdout)
}

// oneLine folds a multi-line error message (pgx reports one line per
// attempt) into one line, each distinct line once: "a:" + "b" + "b"
// becomes "a: b".
func oneLine(msg string) string {
	var out strings.Builder
	seen := map[string]bool{}
	for l := range strings.SplitSeq(msg, "\n") {
		if l = strings.TrimSpace(l); l == "" || seen[l] {
			continue
		}
		seen[l] = true
		switch s := out.String(); {
		case s == "":
		case strings.HasSuffix(s, ":"):
			out.WriteString(" ")
		default:
			out.WriteString("; ")
		}
		out.WriteString(l)
	}
	return out.String()
}
