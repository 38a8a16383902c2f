package hub_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// rsaKeys are RSA keys generated once per test binary (generating them
// is slow under the race detector).
var rsaKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
})

// idpKey is a private key of a test identity provider.
type idpKey struct {
	kid    string
	alg    string
	priv   crypto.Signer
	method jwt.SigningMethod
}

// newIDPKey returns a key for alg (RS256, ES256, EdDSA) named kid; RSA
// keys come from rsaKeys by n.
func newIDPKey(t testing.TB, alg, kid string, n int) idpKey {
	t.Helper()
	k := idpKey{kid: kid, alg: alg}
	switch alg {
	case "RS256":
		keys, err := rsaKeys()
		require.NoError(t, err)
		k.priv, k.method = keys[n%len(keys)], jwt.SigningMethodRS256
	case "ES256":
		p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		k.priv, k.method = p, jwt.SigningMethodES256
	case "EdDSA":
		_, p, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		k.priv, k.method = p, jwt.SigningMethodEdDSA
	default:
		t.Fatalf("alg %s", alg)
	}
	return k
}

// sign returns a token with claims signed by k, naming k's kid.
func (k idpKey) sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	s, err := tok.SignedString(k.priv)
	require.NoError(t, err)
	return s
}

// pem returns k's public key as a PKIX PEM block.
func (k idpKey) pem(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// jwk returns k's public key as a JWK.
func (k idpKey) jwk(t testing.TB) map[string]any {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"kid": k.kid, "use": "sig", "alg": k.alg}
	switch pub := k.priv.Public().(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		b, err := pub.Bytes()
		require.NoError(t, err)
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64(b[1:33]), b64(b[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(pub)
	}
	return m
}

// jwksDoc returns a JWKS document of keys.
func jwksDoc(t testing.TB, keys ...idpKey) []byte {
	t.Helper()
	var list []map[string]any
	for _, k := range keys {
		list = append(list, k.jwk(t))
	}
	b, err := json.Marshal(map[string]any{"keys": list})
	require.NoError(t, err)
	return b
}

// idpClaims returns valid claims for tenant, expiring in an hour.
func idpClaims(tenant string) jwt.MapClaims {
	return jwt.MapClaims{"tenant": tenant, "sub": "device-1", "exp": time.Now().Add(time.Hour).Unix()}
}

// jwksServer is an identity provider's JWKS endpoint on loopback.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	doc  []byte
	code int
	hits atomic.Int64
}

func newJWKSServer(t testing.TB, keys ...idpKey) *jwksServer {
	t.Helper()
	s := &jwksServer{code: http.StatusOK}
	s.set(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		doc, code := s.doc, s.code
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(code)
		_, _ = w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

// set publishes keys.
func (s *jwksServer) set(t testing.TB, keys ...idpKey) {
	doc := jwksDoc(t, keys...)
	s.mu.Lock()
	s.doc = doc
	s.mu.Unlock()
}

// setRaw publishes doc with status code.
func (s *jwksServer) setRaw(code int, doc []byte) {
	s.mu.Lock()
	s.doc, s.code = doc, code
	s.mu.Unlock()
}

// mustJSON returns v as JSON.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
