package hub

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the JWKSOptions fields left zero.
const (
	// DefaultJWKSRefresh is how often a JWKS URL is fetched again.
	DefaultJWKSRefresh = 5 * time.Minute
	// DefaultJWKSMinRefetch is the least time between two fetches: a
	// token naming an unknown kid triggers a fetch at most this often.
	DefaultJWKSMinRefetch = 30 * time.Second
	// DefaultJWKSTimeout bounds one fetch.
	DefaultJWKSTimeout = 10 * time.Second
	// DefaultJWKSMaxBytes bounds a JWKS document: 1 MiB.
	DefaultJWKSMaxBytes = 1 << 20
)

// maxJWKSKeys bounds the keys of one JWKS document.
const maxJWKSKeys = 100

// jwk is one JSON Web Key (RFC 7517) of the kinds the hub accepts.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS returns the signing keys of a JWKS document ({"keys": [...]}):
// RSA keys (RS256), EC keys on P-256 (ES256) and OKP Ed25519 keys (EdDSA).
// Keys for encryption ("use": "enc"), for other algorithms or curves are
// skipped; a document that is not JSON, holds more than 100 keys, a
// malformed key of a supported kind, or no usable key is an error.
func ParseJWKS(data []byte) (*KeySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if len(doc.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("jwks: %d keys, limit %d", len(doc.Keys), maxJWKSKeys)
	}
	set := &KeySet{}
	var skipped []string
	for i, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
		if k.Use != "" && k.Use != "sig" {
			skipped = append(skipped, fmt.Sprintf("%q: use %q", k.Kid, k.Use))
			continue
		}
		key, err := k.key()
		if errors.Is(err, errUnsupportedJWK) {
			skipped = append(skipped, fmt.Sprintf("%q: %v", k.Kid, err))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("jwks: key %d (kid %q): %w", i, k.Kid, err)
		}
		set.keys = append(set.keys, key)
	}
	if len(set.keys) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("jwks: no usable signing key (skipped %s)", strings.Join(skipped, "; "))
		}
		return nil, errors.New("jwks: no keys")
	}
	return set, nil
}

// errUnsupportedJWK marks a well-formed key of a kind the hub skips.
var errUnsupportedJWK = errors.New("unsupported key")

// key returns k as a Key, errUnsupportedJWK for a kind the hub does not
// accept, or another error for a malformed key.
func (k jwk) key() (Key, error) {
	want := ""
	var pub any
	switch {
	case k.Kty == "RSA":
		want = AlgRS256
		n, err := b64Int(k.N, "n")
		if err != nil {
			return Key{}, err
		}
		e, err := b64Int(k.E, "e")
		if err != nil {
			return Key{}, err
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return Key{}, errors.New("e: want an odd exponent of at least 3")
		}
		pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case k.Kty == "EC" && k.Crv == "P-256":
		want = AlgES256
		x, err1 := b64Fixed(k.X, "x", 32)
		y, err2 := b64Fixed(k.Y, "y", 32)
		if err := errors.Join(err1, err2); err != nil {
			return Key{}, err
		}
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return Key{}, fmt.Errorf("point: %w", err)
		}
		pub = p
	case k.Kty == "OKP" && k.Crv == "Ed25519":
		want = AlgEdDSA
		x, err := b64Fixed(k.X, "x", ed25519.PublicKeySize)
		if err != nil {
			return Key{}, err
		}
		pub = ed25519.PublicKey(x)
	default:
		return Key{}, fmt.Errorf("%w: kty %q crv %q", errUnsupportedJWK, k.Kty, k.Crv)
	}
	if k.Alg != "" && k.Alg != want {
		return Key{}, fmt.Errorf("%w: alg %q", errUnsupportedJWK, k.Alg)
	}
	key := Key{ID: k.Kid, Alg: k.Alg, Public: pub}
	if err := key.check(); err != nil {
		return Key{}, err
	}
	return key, nil
}

// b64Int decodes a base64url big-endian unsigned integer.
func b64Int(s, name string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s: want base64url without padding", name)
	}
	return new(big.Int).SetBytes(b), nil
}

// b64Fixed decodes a base64url value of exactly size bytes.
func b64Fixed(s, name string, size int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("%s: want %d bytes of base64url without padding", name, size)
	}
	return b, nil
}

// JWKSOptions configures a JWKSFetcher; zero fields take the defaults.
type JWKSOptions struct {
	// Refresh is how often Run fetches the document again (default
	// DefaultJWKSRefresh).
	Refresh time.Duration
	// MinRefetch is the least time between two fetches, the rate limit of
	// the fetches that a token naming an unknown kid triggers (default
	// DefaultJWKSMinRefetch).
	MinRefetch time.Duration
	// Timeout bounds one fetch (default DefaultJWKSTimeout).
	Timeout time.Duration
	// MaxBytes bounds the document (default DefaultJWKSMaxBytes).
	MaxBytes int64
	// Client makes the requests (default: an http.Client without cookies
	// or redirects to other schemes than http and https).
	Client *http.Client
	// Now is the clock of the MinRefetch rate limit (default time.Now).
	Now func() time.Time
	// Logger receives a line per fetch that changed the keys or failed.
	// Nil discards them.
	Logger *slog.Logger
}

// JWKSFetcher is a KeySource over a JWKS document at an http or https URL:
// the identity provider's published keys. Run refreshes it in the
// background; a token naming a kid it does not hold triggers a fetch, at
// most once per MinRefetch, so a key the provider has just rotated in is
// found without waiting for the next refresh. A failed fetch keeps the
// keys held. It is safe for concurrent use.
type JWKSFetcher struct {
	url  string
	opts JWKSOptions
	log  *slog.Logger
	set  atomic.Pointer[KeySet]

	mu       sync.Mutex
	last     time.Time     // start of the last fetch
	inflight chan struct{} // closed when the fetch under way ends
	lastErr  error         // the error of the last fetch
	fetches  atomic.Int64
}

var _ KeySource = (*JWKSFetcher)(nil)

// NewJWKSFetcher returns a fetcher of the JWKS document at rawURL (http or
// https). It holds no keys until its first fetch: call Refresh, or Run.
func NewJWKSFetcher(rawURL string, opts JWKSOptions) (*JWKSFetcher, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("hub: jwks url: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("hub: jwks url %q: want an http or https URL", rawURL)
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultJWKSRefresh
	}
	if opts.MinRefetch <= 0 {
		opts.MinRefetch = DefaultJWKSMinRefetch
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultJWKSTimeout
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultJWKSMaxBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Client == nil {
		opts.Client = &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || (req.URL.Scheme != "https" && req.URL.Scheme != "http") {
				return errors.New("jwks: too many or unexpected redirects")
			}
			return nil
		}}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &JWKSFetcher{url: u.String(), opts: opts, log: log.With(slog.String("jwks", u.Redacted()))}, nil
}

// Set returns the keys held (nil before the first successful fetch).
func (f *JWKSFetcher) Set() *KeySet { return f.set.Load() }

// Fetches returns the number of fetches begun.
func (f *JWKSFetcher) Fetches() int64 { return f.fetches.Load() }

// Keys returns the keys held for kid and alg. When it holds none, it
// fetches the document again, unless one was fetched less than MinRefetch
// ago, waiting for a fetch under way (or ctx).
func (f *JWKSFetcher) Keys(ctx context.Context, kid, alg string) ([]Key, error) {
	if keys := f.set.Load().lookup(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	f.fetch(ctx, false)
	return f.set.Load().lookup(kid, alg), nil
}

// Refresh fetches the document now, waiting for a fetch under way, and
// returns the fetch's error.
func (f *JWKSFetcher) Refresh(ctx context.Context) error {
	return f.fetch(ctx, true)
}

// Run refreshes the keys every Refresh until ctx ends, first at once when
// none are held yet. A failed fetch is retried after MinRefetch.
func (f *JWKSFetcher) Run(ctx context.Context) {
	wait := time.Duration(0)
	if f.set.Load() != nil {
		wait = f.opts.Refresh
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wait = f.opts.Refresh
		if err := f.fetch(ctx, true); err != nil {
			wait = min(f.opts.MinRefetch, f.opts.Refresh)
		}
		t.Reset(wait)
	}
}

// fetch fetches the document and swaps the keys in. Unless force, it does
// nothing when the last fetch began less than MinRefetch ago. A fetch
// under way is waited for instead of starting another.
func (f *JWKSFetcher) fetch(ctx context.Context, force bool) error {
	f.mu.Lock()
	if ch := f.inflight; ch != nil {
		f.mu.Unlock()
		select {
		case <-ch:
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.lastErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if !force && !f.last.IsZero() && f.opts.Now().Sub(f.last) < f.opts.MinRefetch {
		f.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	f.inflight, f.last = ch, f.opts.Now()
	f.mu.Unlock()
	var err error
	defer func() {
		f.mu.Lock()
		f.inflight, f.lastErr = nil, err
		f.mu.Unlock()
		close(ch)
	}()

	f.fetches.Add(1)
	// The fetch serves every waiter: the caller's cancellation does not
	// cut it short, its own timeout does.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.opts.Timeout)
	defer cancel()
	var set *KeySet
	if set, err = f.get(fctx); err != nil {
		f.log.Warn("jwks fetch failed; keeping the keys held", slog.String("err", err.Error()),
			slog.Int("keys", f.set.Load().Len()))
		return err
	}
	if old := f.set.Swap(set); !slices.Equal(old.IDs(), set.IDs()) {
		f.log.Info("jwks keys updated", slog.Any("kids", set.IDs()))
	}
	return nil
}

// get fetches and parses the document.
func (f *JWKSFetcher) get(ctx context.Context) (*KeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := f.opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("jwks: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: read: %w", err)
	}
	if int64(len(body)) > f.opts.MaxBytes {
		return nil, fmt.Errorf("jwks: document larger than %d bytes", f.opts.MaxBytes)
	}
	return ParseJWKS(body)
}
