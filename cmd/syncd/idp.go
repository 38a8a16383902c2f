package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ferrysync/ferry/sync/hub"
)

// Environment variables of the identity provider flags.
const (
	envJWKSURL     = "FERRY_TOKEN_JWKS_URL"
	envJWKSFile    = "FERRY_TOKEN_JWKS_FILE"
	envPEM         = "FERRY_TOKEN_PEM"
	envAudience    = "FERRY_TOKEN_AUDIENCE"
	envIssuer      = "FERRY_TOKEN_ISSUER"
	envTenantClaim = "FERRY_TOKEN_TENANT_CLAIM"
	envScopeClaim  = "FERRY_TOKEN_SCOPE_CLAIM"
	envHS256       = "FERRY_TOKEN_HS256"
	envRefresh     = "FERRY_TOKEN_REFRESH"
	envLeeway      = "FERRY_TOKEN_LEEWAY"
)

// idpFlags configure the tokens syncd accepts beyond its own HS256 ones:
// those of the app's identity provider.
type idpFlags struct {
	jwksURL     string
	jwksFiles   stringList
	pems        stringList
	audience    string
	issuer      string
	tenantClaim string
	scopeClaim  string
	hs256       bool
	refresh     time.Duration
	leeway      time.Duration
}

// register adds the flags to fs and returns the error of an environment
// variable that does not parse.
func (f *idpFlags) register(fs *flag.FlagSet, getenv func(string) string) error {
	fs.StringVar(&f.jwksURL, "token-jwks-url", getenv(envJWKSURL),
		"https (or http) URL of the identity provider's JWKS, refreshed in the background (env "+envJWKSURL+")")
	_ = f.jwksFiles.Set(getenv(envJWKSFile))
	fs.Var(&f.jwksFiles, "token-jwks-file", "JWKS `file` of token keys, reloaded on SIGHUP and every --token-refresh (repeatable or comma-separated; env "+envJWKSFile+")")
	_ = f.pems.Set(getenv(envPEM))
	fs.Var(&f.pems, "token-pem", "PEM `file` of token public keys, reloaded like --token-jwks-file (repeatable or comma-separated; env "+envPEM+")")
	fs.StringVar(&f.audience, "token-audience", getenv(envAudience), "audience a token's aud must name (env "+envAudience+"; default: not checked)")
	fs.StringVar(&f.issuer, "token-issuer", getenv(envIssuer), "issuer a token's iss must be (env "+envIssuer+"; default: not checked)")
	fs.StringVar(&f.tenantClaim, "token-tenant-claim", envOr(getenv, envTenantClaim, hub.DefaultTenantClaim),
		"claim naming the tenant (env "+envTenantClaim+")")
	fs.StringVar(&f.scopeClaim, "token-scope-claim", envOr(getenv, envScopeClaim, hub.DefaultScopeClaim),
		"claim listing the stream prefixes a token may use: an array, or space-separated (env "+envScopeClaim+")")
	hs256, err1 := envBool(getenv, envHS256, true)
	fs.BoolVar(&f.hs256, "token-hs256", hs256,
		"accept HS256 tokens signed with the hub's secret (syncd token); false needs an identity provider's keys (env "+envHS256+")")
	refresh, err2 := envDuration(getenv, envRefresh)
	if refresh == 0 {
		refresh = hub.DefaultJWKSRefresh
	}
	fs.DurationVar(&f.refresh, "token-refresh", refresh, "how often token keys are fetched or reloaded (env "+envRefresh+")")
	leeway, err3 := envDuration(getenv, envLeeway)
	if leeway == 0 {
		leeway = 5 * time.Second
	}
	fs.DurationVar(&f.leeway, "token-leeway", leeway, "clock skew allowed in checking a token's times (env "+envLeeway+")")
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return err
		}
	}
	return nil
}

// envBool returns getenv(key) as a bool, def when it is empty.
func envBool(getenv func(string) string, key string, def bool) (bool, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, usageError("%s=%q: want true or false", key, v)
	}
	return b, nil
}

// configured reports whether an identity provider's keys are given.
func (f *idpFlags) configured() bool {
	return f.jwksURL != "" || len(f.jwksFiles) > 0 || len(f.pems) > 0
}

// validate checks the flags.
func (f *idpFlags) validate() error {
	switch {
	case !f.hs256 && !f.configured():
		return usageError("--token-hs256=false needs --token-jwks-url, --token-jwks-file or --token-pem")
	case f.refresh < time.Second:
		return usageError("--token-refresh %v: want at least 1s", f.refresh)
	case f.leeway < 0 || f.leeway > time.Hour:
		return usageError("--token-leeway %v: want 0 to 1h", f.leeway)
	case f.tenantClaim == "" || f.scopeClaim == "" || f.tenantClaim == f.scopeClaim:
		return usageError("--token-tenant-claim and --token-scope-claim: want two different names")
	}
	if f.jwksURL != "" {
		u, err := url.Parse(f.jwksURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return usageError("--token-jwks-url %q: want an https or http URL", f.jwksURL)
		}
	}
	return nil
}

// verifier returns the hub's token verifier, with secret for HS256 (nil
// when turned off); start, which runs the key refreshes until ctx ends:
// the JWKS URL's, and the key files' on SIGHUP and every refresh; and
// ready, for /readyz: an error while the JWKS URL has never answered.
// Unreadable key files are an error; an unreachable JWKS URL is logged
// and retried (its tokens are refused until it answers, and the node
// reports itself not ready, so a load balancer sends its devices
// elsewhere).
func (f *idpFlags) verifier(ctx context.Context, secret []byte, log *slog.Logger) (v hub.TokenVerifier, start func(context.Context), ready func(context.Context) error, err error) {
	cfg := hub.VerifierConfig{Secret: secret, TenantClaim: f.tenantClaim, ScopeClaim: f.scopeClaim,
		Audience: f.audience, Issuer: f.issuer, Leeway: f.leeway}
	if f.leeway == 0 {
		cfg.Leeway = -1 // none
	}
	var runs []func(context.Context)
	if len(f.pems) > 0 || len(f.jwksFiles) > 0 {
		files, err := hub.NewKeyFiles(f.pems, f.jwksFiles)
		if err != nil {
			return nil, nil, nil, err
		}
		log.Info("token keys loaded", slog.Any("kids", files.Set().IDs()))
		cfg.Keys = append(cfg.Keys, files)
		runs = append(runs, func(ctx context.Context) {
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP) // before start returns: a SIGHUP from now on reloads
			go reloadKeyFiles(ctx, files, hup, f.refresh, log)
		})
	}
	if f.jwksURL != "" {
		fetcher, err := hub.NewJWKSFetcher(f.jwksURL, hub.JWKSOptions{Refresh: f.refresh, Logger: log})
		if err != nil {
			return nil, nil, nil, err
		}
		if u, _ := url.Parse(f.jwksURL); u.Scheme == "http" {
			log.Warn("token keys fetched over plain http; use https outside a trusted network", slog.String("url", u.Redacted()))
		}
		if err := fetcher.Refresh(ctx); err != nil {
			log.Warn("token keys unavailable; retrying in the background", slog.String("err", err.Error()))
		}
		cfg.Keys = append(cfg.Keys, fetcher)
		runs = append(runs, func(ctx context.Context) { go fetcher.Run(ctx) })
		ready = func(context.Context) error {
			if fetcher.Set() == nil {
				return errors.New("token keys not fetched yet from --token-jwks-url")
			}
			return nil
		}
	}
	if v, err = hub.NewVerifier(cfg); err != nil {
		return nil, nil, nil, err
	}
	return v, func(ctx context.Context) {
		for _, run := range runs {
			run(ctx)
		}
	}, ready, nil
}

// reloadKeyFiles reloads files on a signal on hup and every interval
// until ctx ends; a failed reload keeps the keys held.
func reloadKeyFiles(ctx context.Context, files *hub.KeyFiles, hup chan os.Signal, interval time.Duration, log *slog.Logger) {
	defer signal.Stop(hup)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		why := "timer"
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
		case <-t.C:
		}
		before := files.Set().IDs()
		set, err := files.Reload()
		switch {
		case err != nil:
			log.Warn("token keys not reloaded; keeping the keys held", slog.String("why", why), slog.String("err", err.Error()))
		case why == "SIGHUP" || len(before) != set.Len():
			log.Info("token keys reloaded", slog.String("why", why), slog.Int("keys", set.Len()), slog.Any("kids", set.IDs()))
		}
	}
}
