package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// ErrUnauthorized is what VerifyToken's errors unwrap to: the token is
// missing, malformed, forged, signed with another algorithm, expired or
// names no tenant.
var ErrUnauthorized = errors.New("hub: unauthorized")

// MinSecretBytes is the shortest HS256 secret New, IssueToken and
// VerifyToken accept.
const MinSecretBytes = 16

// MaxTenantBytes is the longest tenant name a token may carry.
const MaxTenantBytes = protocol.MaxNameBytes

// Claims is what a sync token asserts about its bearer.
type Claims struct {
	// Tenant is the tenant whose ledger the bearer reads and writes
	// (required, at most MaxTenantBytes of UTF-8).
	Tenant string
	// Subject names the bearer: a device or a user (the JWT "sub").
	Subject string
	// Streams optionally restricts the streams the bearer may read and
	// write to those whose name starts with one of these prefixes; empty
	// allows every stream of the tenant.
	Streams []string
	// Expiry is when the token stops being accepted (the JWT "exp",
	// required).
	Expiry time.Time
}

// jwtClaims is the JWT form of Claims.
type jwtClaims struct {
	Tenant  string   `json:"tenant"`
	Streams []string `json:"streams,omitempty"`
	jwt.RegisteredClaims
}

// check validates the claims a token carries or is about to carry.
func (c Claims) check() error {
	switch {
	case c.Tenant == "":
		return errors.New("no tenant")
	case len(c.Tenant) > MaxTenantBytes || !utf8.ValidString(c.Tenant) || strings.IndexByte(c.Tenant, 0) >= 0:
		return fmt.Errorf("tenant: want 1..%d bytes of UTF-8 without NUL", MaxTenantBytes)
	case len(c.Subject) > protocol.MaxNameBytes || !utf8.ValidString(c.Subject):
		return fmt.Errorf("subject: want at most %d bytes of UTF-8", protocol.MaxNameBytes)
	case len(c.Streams) > protocol.MaxScopePrefixes:
		return fmt.Errorf("streams: %d prefixes, limit %d", len(c.Streams), protocol.MaxScopePrefixes)
	}
	for _, p := range c.Streams {
		if p == "" || len(p) > eventstore.MaxStreamLen || !utf8.ValidString(p) {
			return fmt.Errorf("streams: prefix %q: want 1..%d bytes of UTF-8", p, eventstore.MaxStreamLen)
		}
	}
	return nil
}

// IssueToken returns an HS256 JWT for c signed with secret. The tenant, a
// future expiry and a secret of at least MinSecretBytes are required.
func IssueToken(secret []byte, c Claims) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", fmt.Errorf("hub: issue token: secret shorter than %d bytes", MinSecretBytes)
	}
	if err := c.check(); err != nil {
		return "", fmt.Errorf("hub: issue token: %w", err)
	}
	if c.Expiry.IsZero() {
		return "", errors.New("hub: issue token: no expiry")
	}
	claims := jwtClaims{
		Tenant:  c.Tenant,
		Streams: c.Streams,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Subject,
			ExpiresAt: jwt.NewNumericDate(c.Expiry),
			IssuedAt:  jwt.NewNumericDate(time.Now()),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("hub: issue token: %w", err)
	}
	return s, nil
}

// VerifyToken checks token's HS256 signature against secret (any other
// algorithm, "none" included, is refused), its expiry (required) and its
// claims, and returns them. Errors unwrap to ErrUnauthorized; those about
// the token are *TokenError. NewVerifier makes a verifier that also takes
// tokens from an identity provider.
func VerifyToken(secret []byte, token string) (Claims, error) {
	if len(secret) < MinSecretBytes {
		return Claims{}, fmt.Errorf("%w: hub secret shorter than %d bytes", ErrUnauthorized, MinSecretBytes)
	}
	v, err := NewVerifier(VerifierConfig{Secret: secret})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	return v.VerifyToken(context.Background(), token)
}

// scope decides which streams a connection may read and write.
type scope struct {
	token []string // the token's prefixes; empty = all
	pull  []string // Hello.Streams; empty = all the token allows
}

// writable reports whether the token allows stream.
func (s scope) writable(stream string) bool { return matchPrefix(s.token, stream) }

// readable reports whether stream is sent to the client: allowed by the
// token and asked for in Hello.
func (s scope) readable(stream string) bool {
	return matchPrefix(s.token, stream) && matchSorted(s.pull, stream)
}

// pullSet returns Hello.Streams as the pull scope matchSorted reads: sorted,
// without duplicates, and without a prefix another one covers (a device
// may subscribe to thousands of streams).
func pullSet(prefixes []string) []string {
	if len(prefixes) == 0 {
		return nil
	}
	ps := slices.Sorted(slices.Values(prefixes))
	out := ps[:1]
	for _, p := range ps[1:] {
		if !strings.HasPrefix(p, out[len(out)-1]) { // sorted: a covering prefix comes just before
			out = append(out, p)
		}
	}
	return slices.Clip(out)
}

// matchSorted is matchPrefix for a pullSet, in O(log n): in a sorted set in
// which no prefix covers another, the only one that can be a prefix of
// stream is the greatest one not after it.
func matchSorted(set []string, stream string) bool {
	if len(set) == 0 {
		return true
	}
	i, found := slices.BinarySearch(set, stream)
	if found {
		return true
	}
	return i > 0 && strings.HasPrefix(stream, set[i-1])
}

// all reports whether every stream is readable.
func (s scope) all() bool { return len(s.token) == 0 && len(s.pull) == 0 }

// matchPrefix reports whether stream starts with one of prefixes, or
// prefixes is empty.
func matchPrefix(prefixes []string, stream string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(stream, p) {
			return true
		}
	}
	return false
}

// tokenLeeway is the clock skew allowed when checking a token's times, at
// connect and for ending a connection whose token has expired.
const tokenLeeway = 5 * time.Second
