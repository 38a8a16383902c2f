package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ferrysync/ferry/sync/hub"
)

// runToken prints a token signed with the configured secret, and nothing
// else, on stdout.
func runToken(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("syncd token", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	tenant := fs.String("tenant", "", "tenant the token gives access to (required)")
	subject := fs.String("subject", "", "device or user the token is for")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token stays valid")
	var streams stringList
	fs.Var(&streams, "streams", "restrict the token to streams with this prefix (repeatable, or comma-separated)")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, `Usage: syncd token --tenant T [--subject S] [--ttl D] [--streams PREFIX]

Prints a sync token signed with the hub's secret (the same --data-dir or
secret flags as the server) on stdout, and nothing else. Clients send it as
"Authorization: Bearer <token>" when they connect to /sync.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("token: unexpected argument %q", fs.Arg(0))
	case *tenant == "":
		return errors.New("token: --tenant is required")
	case *ttl <= 0:
		return errors.New("token: --ttl must be positive")
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	secret, err := c.secret(log)
	if err != nil {
		return err
	}
	tok, err := hub.IssueToken(secret, hub.Claims{Tenant: *tenant, Subject: *subject, Streams: streams, Expiry: time.Now().Add(*ttl)})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
