package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ferrysync/ferry/sync/hub"
)

// runToken prints a token signed with the configured secret, and nothing
// else, on stdout. It takes every flag of the server, so that a script can
// pass both the same flags; it uses those that locate the secret
// (--data-dir, --secret-file), those that shape a token the server accepts
// (--token-tenant-claim, --token-scope-claim, --token-audience,
// --token-issuer; --token-hs256=false is an error) and --log-level, and
// ignores the others.
func runToken(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, f, _ := serveFlagSet(getenv) // the server's environment is not token's concern
	fs.Init("syncd token", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant the token gives access to (required)")
	subject := fs.String("subject", "", "device or user the token is for")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token stays valid")
	var streams stringList
	fs.Var(&streams, "streams", "restrict the token to streams with this prefix (repeatable, or comma-separated)")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, `Usage: syncd token --tenant T [--subject S] [--ttl D] [--streams PREFIX]

Prints a sync token signed with the hub's secret (the same --data-dir or
secret flags as the server) on stdout, and nothing else. Clients send it as
"Authorization: Bearer <token>" when they connect to /sync. Every flag of
the server is accepted too, and ignored unless it locates the secret; a
secret missing from --data-dir is generated there.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case !f.idp.hs256:
		return usageError("token: --token-hs256=false: the server takes no token syncd signs; get one from the identity provider")
	case fs.NArg() > 0:
		return usageError("token: unexpected argument %q", fs.Arg(0))
	case *tenant == "":
		return usageError("token: --tenant is required")
	case *ttl <= 0:
		return usageError("token: --ttl must be positive")
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	secret, save, err := f.secret()
	if err == nil && save != nil {
		err = save(log)
	}
	if err != nil {
		return err
	}
	tok, err := f.idp.issue(secret, hub.Claims{Tenant: *tenant, Subject: *subject, Streams: streams, Expiry: time.Now().Add(*ttl)})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// issue returns an HS256 token for c that the server configured by f
// accepts: hub.IssueToken's, with f's claim names, audience and issuer.
func (f *idpFlags) issue(secret []byte, c hub.Claims) (string, error) {
	if f.tenantClaim == hub.DefaultTenantClaim && f.scopeClaim == hub.DefaultScopeClaim && f.audience == "" && f.issuer == "" {
		return hub.IssueToken(secret, c)
	}
	if len(secret) < hub.MinSecretBytes { // as IssueToken checks
		return "", fmt.Errorf("issue token: secret shorter than %d bytes", hub.MinSecretBytes)
	}
	claims := jwt.MapClaims{f.tenantClaim: c.Tenant, "exp": c.Expiry.Unix(), "iat": time.Now().Unix()}
	if c.Subject != "" {
		claims["sub"] = c.Subject
	}
	if len(c.Streams) > 0 {
		claims[f.scopeClaim] = c.Streams
	}
	if f.audience != "" {
		claims["aud"] = f.audience
	}
	if f.issuer != "" {
		claims["iss"] = f.issuer
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
