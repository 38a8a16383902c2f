package hub_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
)

func TestParseJWKS(t *testing.T) {
	rs, es, ed := newIDPKey(t, "RS256", "rs", 0), newIDPKey(t, "ES256", "es", 0), newIDPKey(t, "EdDSA", "ed", 0)
	set, err := hub.ParseJWKS(jwksDoc(t, rs, es, ed))
	require.NoError(t, err)
	assert.Equal(t, []string{"rs", "es", "ed"}, set.IDs())

	// Encryption keys and kinds the hub does not take are skipped.
	doc := `{"keys":[
		{"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},
		{"kty":"EC","kid":"p384","crv":"P-384","x":"AA","y":"AA"},
		{"kty":"oct","kid":"sym","k":"c2VjcmV0"},
		{"kty":"RSA","kid":"ps","alg":"PS256","n":"` + rs.jwk(t)["n"].(string) + `","e":"AQAB"},
		` + string(mustJSON(t, ed.jwk(t))) + `]}`
	set, err = hub.ParseJWKS([]byte(doc))
	require.NoError(t, err)
	assert.Equal(t, []string{"ed"}, set.IDs())

	edJWK := ed.jwk(t)
	bad := map[string]string{
		"not json":        `{"keys":[`,
		"no keys":         `{"keys":[]}`,
		"keys not a list": `{"keys":{}}`,
		"only skipped":    `{"keys":[{"kty":"oct","kid":"sym","k":"c2VjcmV0"}]}`,
		"rsa bad n":       `{"keys":[{"kty":"RSA","kid":"r","n":"!!","e":"AQAB"}]}`,
		"rsa small":       `{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`,
		"rsa even e":      `{"keys":[{"kty":"RSA","kid":"r","n":"` + rs.jwk(t)["n"].(string) + `","e":"Ag"}]}`,
		"rsa huge e":      `{"keys":[{"kty":"RSA","kid":"r","n":"` + rs.jwk(t)["n"].(string) + `","e":"AQAAAAAAAAAB"}]}`,
		"ec short x":      `{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"AQAB","y":"AQAB"}]}`,
		"ec off curve":    `{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("B", 43) + `"}]}`,
		"ed short":        `{"keys":[{"kty":"OKP","kid":"d","crv":"Ed25519","x":"AQAB"}]}`,
		"ed padded":       `{"keys":[{"kty":"OKP","kid":"d","crv":"Ed25519","x":"` + edJWK["x"].(string) + `="}]}`,
		"key not object":  `{"keys":[1]}`,
		"too many keys":   `{"keys":[` + strings.Repeat(string(mustJSON(t, edJWK))+",", 100) + string(mustJSON(t, edJWK)) + `]}`,
	}
	for name, doc := range bad {
		_, err := hub.ParseJWKS([]byte(doc))
		assert.Error(t, err, name)
	}
}

func TestJWKSFetcherRotationAndRateLimit(t *testing.T) {
	k1, k2 := newIDPKey(t, "RS256", "k1", 0), newIDPKey(t, "ES256", "k2", 0)
	idp := newJWKSServer(t, k1)
	var clock atomic.Int64 // seconds
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	f, err := hub.NewJWKSFetcher(idp.URL+"/jwks", hub.JWKSOptions{Refresh: time.Hour, MinRefetch: time.Minute, Now: now})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, f.Refresh(ctx))
	assert.Equal(t, []string{"k1"}, f.Set().IDs())

	// k2 appears: within a minute of the last fetch it is not seen...
	idp.set(t, k1, k2)
	keys, err := f.Keys(ctx, "k2", "ES256")
	require.NoError(t, err)
	require.Empty(t, keys)
	assert.Equal(t, int64(1), idp.hits.Load())
	// ...after it, the first token naming it triggers a fetch.
	clock.Add(61)
	keys, err = f.Keys(ctx, "k2", "ES256")
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Equal(t, int64(2), idp.hits.Load())

	// Unknown kids fetch at most once per MinRefetch, however many ask
	// at once.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			keys, err := f.Keys(ctx, "nope", "RS256")
			assert.NoError(t, err)
			assert.Empty(t, keys)
		})
	}
	wg.Wait()
	assert.Equal(t, int64(2), idp.hits.Load(), "within MinRefetch of the last fetch")
	assert.Equal(t, int64(2), f.Fetches())
	clock.Add(61)
	for range 20 {
		wg.Go(func() {
			_, err := f.Keys(ctx, "nope", "RS256")
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, int64(3), idp.hits.Load(), "one fetch for the window, shared by all")

	// A failing endpoint keeps the keys held.
	idp.setRaw(http.StatusInternalServerError, []byte("down"))
	require.ErrorContains(t, f.Refresh(ctx), "HTTP 500")
	assert.Equal(t, []string{"k1", "k2"}, f.Set().IDs())
	idp.setRaw(http.StatusOK, []byte(`{"keys":[]}`))
	require.Error(t, f.Refresh(ctx))
	assert.Equal(t, []string{"k1", "k2"}, f.Set().IDs())

	// k1 is removed: gone at the next refresh.
	idp.set(t, k2)
	require.NoError(t, f.Refresh(ctx))
	keys, err = f.Keys(ctx, "k1", "RS256")
	require.NoError(t, err)
	assert.Empty(t, keys)
}

func TestJWKSFetcherBounds(t *testing.T) {
	k := newIDPKey(t, "EdDSA", "k", 0)
	idp := newJWKSServer(t, k)
	ctx := context.Background()
	small, err := hub.NewJWKSFetcher(idp.URL, hub.JWKSOptions{MaxBytes: 64})
	require.NoError(t, err)
	require.ErrorContains(t, small.Refresh(ctx), "larger than 64 bytes")
	assert.Nil(t, small.Set())

	// A hung endpoint: the fetch ends at its timeout.
	hung := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hung }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(hung) }) // runs first
	f, err := hub.NewJWKSFetcher(slow.URL, hub.JWKSOptions{Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	require.ErrorContains(t, f.Refresh(ctx), "deadline")

	for _, u := range []string{"ftp://idp.example/jwks", "/jwks", "https://", "::"} {
		_, err := hub.NewJWKSFetcher(u, hub.JWKSOptions{})
		assert.Error(t, err, u)
	}
}

func TestJWKSFetcherRun(t *testing.T) {
	k1, k2 := newIDPKey(t, "EdDSA", "k1", 0), newIDPKey(t, "EdDSA", "k2", 0)
	idp := newJWKSServer(t, k1)
	f, err := hub.NewJWKSFetcher(idp.URL, hub.JWKSOptions{Refresh: 20 * time.Millisecond, MinRefetch: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	require.Eventually(t, func() bool { return f.Set().Len() == 1 }, 10*time.Second, 5*time.Millisecond)
	idp.set(t, k2)
	require.Eventually(t, func() bool { ids := f.Set().IDs(); return len(ids) == 1 && ids[0] == "k2" },
		10*time.Second, 5*time.Millisecond, "the background refresh rotates the keys")
	cancel()
	<-done
}
