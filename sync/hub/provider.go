package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Why a token is refused: a *TokenError unwraps to ErrUnauthorized and to
// one of these.
var (
	ErrNoToken          = errors.New("hub: no token")
	ErrTokenMalformed   = errors.New("hub: token malformed")
	ErrTokenAlgorithm   = errors.New("hub: token algorithm not accepted")
	ErrUnknownKey       = errors.New("hub: token signed with an unknown key")
	ErrTokenSignature   = errors.New("hub: token signature invalid")
	ErrTokenExpired     = errors.New("hub: token expired")
	ErrTokenNotValidYet = errors.New("hub: token not valid yet")
	ErrTokenAudience    = errors.New("hub: token audience not accepted")
	ErrTokenIssuer      = errors.New("hub: token issuer not accepted")
	ErrTokenClaims      = errors.New("hub: token claims invalid")
)

// TokenError is why a token was refused. It unwraps to ErrUnauthorized and
// to Reason.
type TokenError struct {
	// Reason is one of the ErrNoToken ... ErrTokenClaims sentinels.
	Reason error
	// Alg and Kid are the token header's, when it could be read.
	Alg, Kid string
	// Detail says more, for the log and the client (no key material and
	// nothing about the hub's own configuration beyond the claim names).
	Detail string
}

// Error returns "hub: unauthorized: <reason>[: <detail>]".
func (e *TokenError) Error() string {
	msg := ErrUnauthorized.Error() + ": " + strings.TrimPrefix(e.Reason.Error(), "hub: ")
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns ErrUnauthorized and Reason.
func (e *TokenError) Unwrap() []error { return []error{ErrUnauthorized, e.Reason} }

// TokenVerifier verifies the token of a connection request and returns
// what it asserts; Config.Verifier takes one. Its errors unwrap to
// ErrUnauthorized (a *TokenError says why). A Verifier is one.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, token string) (Claims, error)
}

// leewayer is the optional capability of a TokenVerifier that allows
// clock skew: the Server ends a connection Leeway after its token expires.
type leewayer interface {
	Leeway() time.Duration
}

// Default claim names.
const (
	DefaultTenantClaim = "tenant"
	DefaultScopeClaim  = "streams"
)

// maxTokenBytes bounds a token's length.
const maxTokenBytes = 16 << 10

// VerifierConfig configures a Verifier. At least one of Secret and Keys is
// required.
type VerifierConfig struct {
	// Secret verifies HS256 tokens (at least MinSecretBytes); nil refuses
	// HS256.
	Secret []byte
	// Keys verify RS256, ES256 and EdDSA tokens: the keys of all sources
	// that fit a token's kid and alg are tried. None refuses them.
	Keys []KeySource
	// TenantClaim names the claim holding the tenant (default
	// DefaultTenantClaim): a string.
	TenantClaim string
	// ScopeClaim names the claim holding the stream prefixes the bearer
	// may read and write (default DefaultScopeClaim): an array of strings
	// or one string of space-separated prefixes; absent allows every
	// stream.
	ScopeClaim string
	// Audience, when set, must be one of the token's "aud".
	Audience string
	// Issuer, when set, must be the token's "iss".
	Issuer string
	// Leeway is the clock skew allowed in checking exp, nbf and iat
	// (default 5s; negative: none).
	Leeway time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verifier verifies tokens signed with the hub's secret (HS256) or an
// identity provider's keys (RS256, ES256, EdDSA). The token's alg selects
// the key: HS256 only the secret, each asymmetric alg only keys of its type
// (an RSA key is never an HMAC secret), and any other alg, "none" included,
// is refused. It is safe for concurrent use.
type Verifier struct {
	cfg    VerifierConfig
	parser *jwt.Parser
}

var _ TokenVerifier = (*Verifier)(nil)

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	switch {
	case cfg.Secret == nil && len(cfg.Keys) == 0:
		return nil, errors.New("hub: verifier: no secret and no keys")
	case cfg.Secret != nil && len(cfg.Secret) < MinSecretBytes:
		return nil, fmt.Errorf("hub: verifier: secret shorter than %d bytes", MinSecretBytes)
	}
	if cfg.TenantClaim == "" {
		cfg.TenantClaim = DefaultTenantClaim
	}
	if cfg.ScopeClaim == "" {
		cfg.ScopeClaim = DefaultScopeClaim
	}
	if cfg.TenantClaim == cfg.ScopeClaim {
		return nil, fmt.Errorf("hub: verifier: tenant and scope claims are both %q", cfg.TenantClaim)
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = tokenLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	opts := []jwt.ParserOption{jwt.WithExpirationRequired(), jwt.WithLeeway(cfg.Leeway)}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	return &Verifier{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// Leeway returns the clock skew allowed.
func (v *Verifier) Leeway() time.Duration { return v.cfg.Leeway }

// VerifyToken verifies token's signature, its algorithm against its key,
// its expiry (required), audience and issuer (when configured), and its
// claims, and returns them. Errors are *TokenError.
func (v *Verifier) VerifyToken(ctx context.Context, token string) (Claims, error) {
	switch {
	case token == "":
		return Claims{}, &TokenError{Reason: ErrNoToken}
	case len(token) > maxTokenBytes:
		return Claims{}, &TokenError{Reason: ErrTokenMalformed, Detail: fmt.Sprintf("longer than %d bytes", maxTokenBytes)}
	}
	mc := jwt.MapClaims{}
	var alg, kid string
	_, err := v.parser.ParseWithClaims(token, mc, func(t *jwt.Token) (any, error) {
		alg, _ = t.Header["alg"].(string)
		kid, _ = t.Header["kid"].(string)
		return v.key(ctx, alg, kid)
	})
	if err != nil {
		te := v.refusal(err, mc)
		te.Alg, te.Kid = alg, kid
		return Claims{}, te
	}
	c, err := v.claims(mc)
	if err != nil {
		return Claims{}, &TokenError{Reason: ErrTokenClaims, Alg: alg, Kid: kid, Detail: err.Error()}
	}
	return c, nil
}

// key returns what verifies a token of alg naming kid.
func (v *Verifier) key(ctx context.Context, alg, kid string) (any, error) {
	switch alg {
	case AlgHS256:
		if v.cfg.Secret == nil {
			return nil, &TokenError{Reason: ErrTokenAlgorithm, Detail: "HS256 is turned off"}
		}
		return v.cfg.Secret, nil
	case AlgRS256, AlgES256, AlgEdDSA:
	default:
		return nil, &TokenError{Reason: ErrTokenAlgorithm, Detail: fmt.Sprintf("alg %q", alg)}
	}
	if len(v.cfg.Keys) == 0 {
		return nil, &TokenError{Reason: ErrTokenAlgorithm, Detail: alg + " needs identity provider keys, none configured"}
	}
	var set jwt.VerificationKeySet
	for _, src := range v.cfg.Keys {
		keys, err := src.Keys(ctx, kid, alg)
		if err != nil {
			return nil, &TokenError{Reason: ErrUnknownKey, Detail: err.Error()}
		}
		for _, k := range keys {
			set.Keys = append(set.Keys, k.Public)
		}
	}
	if len(set.Keys) == 0 {
		return nil, &TokenError{Reason: ErrUnknownKey, Detail: fmt.Sprintf("no %s key with kid %q", alg, kid)}
	}
	return set, nil
}

// refusal maps an error of the jwt parser to a *TokenError.
func (v *Verifier) refusal(err error, mc jwt.MapClaims) *TokenError {
	if te, ok := errors.AsType[*TokenError](err); ok {
		return te
	}
	detail := err.Error()
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &TokenError{Reason: ErrTokenMalformed, Detail: detail}
	case errors.Is(err, jwt.ErrTokenUnverifiable): // an alg the library lacks
		return &TokenError{Reason: ErrTokenAlgorithm, Detail: detail}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return &TokenError{Reason: ErrTokenSignature}
	case errors.Is(err, jwt.ErrTokenInvalidAudience) || (v.cfg.Audience != "" && absent(mc, "aud")):
		return &TokenError{Reason: ErrTokenAudience}
	case errors.Is(err, jwt.ErrTokenInvalidIssuer) || (v.cfg.Issuer != "" && absent(mc, "iss")):
		return &TokenError{Reason: ErrTokenIssuer}
	case errors.Is(err, jwt.ErrTokenExpired):
		return &TokenError{Reason: ErrTokenExpired}
	case errors.Is(err, jwt.ErrTokenNotValidYet) || errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return &TokenError{Reason: ErrTokenNotValidYet}
	default:
		return &TokenError{Reason: ErrTokenClaims, Detail: detail}
	}
}

// absent reports whether claim name is missing or empty.
func absent(mc jwt.MapClaims, name string) bool {
	switch v := mc[name].(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	}
	return false
}

// claims returns the Claims of a verified token.
func (v *Verifier) claims(mc jwt.MapClaims) (Claims, error) {
	var c Claims
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return Claims{}, errors.New("no exp")
	}
	c.Expiry = exp.Time
	if c.Subject, err = mc.GetSubject(); err != nil {
		return Claims{}, err
	}
	switch t := mc[v.cfg.TenantClaim].(type) {
	case nil:
		return Claims{}, fmt.Errorf("no tenant (claim %q)", v.cfg.TenantClaim)
	case string:
		c.Tenant = t
	default:
		return Claims{}, fmt.Errorf("claim %q: want a string", v.cfg.TenantClaim)
	}
	switch s := mc[v.cfg.ScopeClaim].(type) {
	case nil:
	case string:
		c.Streams = strings.Fields(s)
	case []any:
		for _, p := range s {
			ps, ok := p.(string)
			if !ok {
				return Claims{}, fmt.Errorf("claim %q: want strings", v.cfg.ScopeClaim)
			}
			c.Streams = append(c.Streams, ps)
		}
	default:
		return Claims{}, fmt.Errorf("claim %q: want an array of strings or a string", v.cfg.ScopeClaim)
	}
	if err := c.check(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// verifier returns the TokenVerifier of cfg: Verifier, else one over
// Secret.
func (cfg *Config) verifier() (TokenVerifier, error) {
	if cfg.Verifier != nil {
		return cfg.Verifier, nil
	}
	if len(cfg.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("hub: config: Secret must be at least %d bytes (or give a Verifier)", MinSecretBytes)
	}
	return NewVerifier(VerifierConfig{Secret: cfg.Secret})
}

// tokenLeeway returns the clock skew the Server's verifier allows.
func (s *Server) tokenLeeway() time.Duration {
	if l, ok := s.cfg.Verifier.(leewayer); ok {
		return l.Leeway()
	}
	return tokenLeeway
}
