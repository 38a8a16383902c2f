package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/protocol"
)

// idpSign returns a token for tenant signed by priv (ES256 or EdDSA),
// naming kid when it is not empty.
func idpSign(t *testing.T, priv crypto.Signer, kid, tenant string) string {
	t.Helper()
	method := jwt.SigningMethod(jwt.SigningMethodEdDSA)
	if _, ok := priv.(*ecdsa.PrivateKey); ok {
		method = jwt.SigningMethodES256
	}
	tok := jwt.NewWithClaims(method, jwt.MapClaims{"org": tenant, "sub": "laptop", "aud": "ferry",
		"exp": time.Now().Add(time.Hour).Unix()})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(priv)
	require.NoError(t, err)
	return s
}

// writePEM writes priv's public key to path.
func writePEM(t *testing.T, path string, priv crypto.Signer) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600))
}

// dialStatus dials syncd with tok and returns the HTTP status: 101 when
// upgraded.
func dialStatus(t *testing.T, addr, tok string) int {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/sync", http.Header{"Authorization": {"Bearer " + tok}})
	if ws != nil {
		_ = ws.Close()
	}
	require.NotNil(t, resp, "%v", err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// syncd takes tokens from the app's identity provider: keys from a PEM
// file (reloaded on SIGHUP) and a JWKS URL on loopback, custom claim
// names and an audience, with its own HS256 tokens turned off.
func TestSyncdIdentityProviderTokens(t *testing.T) {
	dir := t.TempDir()
	_, edOld, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, edNew, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	es, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	pemPath := filepath.Join(dir, "idp.pem")
	writePEM(t, pemPath, edOld)

	point, err := es.PublicKey.Bytes()
	require.NoError(t, err)
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, err := json.Marshal(map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "kid": "es-1",
		"alg": "ES256", "x": b64(point[1:33]), "y": b64(point[33:])}}})
	require.NoError(t, err)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	t.Cleanup(idp.Close)

	p := startSyncd(t, nil, "--data-dir", dir, "--token-pem", pemPath, "--token-jwks-url", idp.URL,
		"--token-tenant-claim", "org", "--token-audience", "ferry", "--token-hs256=false")
	_, err = os.Stat(filepath.Join(dir, "secret"))
	assert.ErrorIs(t, err, os.ErrNotExist, "no secret generated with HS256 off")

	c := dialSyncd(t, p.Addr, idpSign(t, es, "es-1", "acme"), 0)
	require.IsType(t, &protocol.CaughtUp{}, c.recv())
	dialSyncd(t, p.Addr, idpSign(t, edOld, "", "acme"), 0)
	hs := getToken(t, []string{"FERRY_SECRET=some-secret-0123456789"}, "--tenant", "acme")
	assert.Equal(t, http.StatusUnauthorized, dialStatus(t, p.Addr, hs), "HS256 is off")
	assert.Equal(t, http.StatusUnauthorized, dialStatus(t, p.Addr, idpSign(t, edNew, "", "acme")))
	// The refusal is logged after the 401 is written: wait for the line.
	assert.Eventually(t, func() bool { return strings.Contains(p.Stderr(), "token signature invalid") },
		10*time.Second, 10*time.Millisecond, "the log says why: %s", p.Stderr())

	// Rotate the PEM key: SIGHUP reloads it without a restart.
	writePEM(t, pemPath, edNew)
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(p.Stderr(), "token keys reloaded") },
		10*time.Second, 10*time.Millisecond)
	assert.Equal(t, http.StatusSwitchingProtocols, dialStatus(t, p.Addr, idpSign(t, edNew, "", "acme")))
	assert.Equal(t, http.StatusUnauthorized, dialStatus(t, p.Addr, idpSign(t, edOld, "", "acme")))
	require.NoError(t, p.Stop(), p.Stderr())
}

func TestSyncdIdentityProviderFlags(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not a key"), 0o600))
	unreadable := filepath.Join(dir, "missing.pem")
	cases := map[string]struct {
		env  []string
		args []string
		code int
		msg  string
	}{
		"hs256 off without keys": {nil, []string{"--token-hs256=false"}, 2, "--token-hs256=false needs"},
		"jwks url not http":      {nil, []string{"--token-jwks-url", "ftp://idp.example/jwks"}, 2, "want an https or http URL"},
		"refresh too short":      {nil, []string{"--token-pem", garbage, "--token-refresh", "10ms"}, 2, "--token-refresh"},
		"same claim names":       {nil, []string{"--token-tenant-claim", "streams"}, 2, "two different names"},
		"bad hs256 env":          {[]string{"FERRY_TOKEN_HS256=maybe"}, nil, 2, "FERRY_TOKEN_HS256"},
		"bad leeway":             {nil, []string{"--token-leeway", "-1s"}, 2, "--token-leeway"},
		"unreadable key file":    {nil, []string{"--token-pem", unreadable}, 1, unreadable},
		"not a key file":         {nil, []string{"--token-pem", garbage}, 1, "no PEM public key"},
		"unreadable jwks file":   {nil, []string{"--token-jwks-file", unreadable}, 1, unreadable},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out, errOut, err := runCmd(t, tc.env, append(tc.args, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")...)
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, errOut)
			assert.Equal(t, tc.code, exit.ExitCode(), errOut)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tc.msg)
		})
	}
}

// While its JWKS URL has never answered, syncd starts (its other keys
// work) but /readyz says it is not ready, so a load balancer sends
// devices to another node; once the identity provider answers, it is.
func TestSyncdNotReadyWithoutJWKS(t *testing.T) {
	es, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	point, err := es.PublicKey.Bytes()
	require.NoError(t, err)
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, err := json.Marshal(map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "kid": "es-1",
		"alg": "ES256", "x": b64(point[1:33]), "y": b64(point[33:])}}})
	require.NoError(t, err)
	var up atomic.Bool
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(idp.Close)

	p := startSyncd(t, []string{"FERRY_SECRET=some-secret-0123456789"}, "--data-dir", t.TempDir(),
		"--token-jwks-url", idp.URL, "--token-refresh", "1s", "--token-tenant-claim", "org", "--token-audience", "ferry")
	base := "http://" + p.Addr
	assert.Equal(t, http.StatusServiceUnavailable, testutil.HTTPStatus(t, base+"/readyz"))
	assert.Equal(t, http.StatusOK, testutil.HTTPStatus(t, base+"/healthz"), "alive, only not ready")
	// syncd token shapes its tokens by the same flags as the server.
	env := []string{"FERRY_SECRET=some-secret-0123456789"}
	hs := getToken(t, env, "--tenant", "acme", "--token-tenant-claim", "org", "--token-audience", "ferry")
	assert.Equal(t, http.StatusSwitchingProtocols, dialStatus(t, p.Addr, hs), "its own HS256 tokens still work")
	assert.Equal(t, http.StatusUnauthorized, dialStatus(t, p.Addr, getToken(t, env, "--tenant", "acme", "--token-tenant-claim", "org")),
		"without the audience")
	_, errOut, err := runCmd(t, env, "token", "--tenant", "acme", "--token-hs256=false", "--token-pem", "x.pem")
	require.Error(t, err)
	assert.Contains(t, errOut, "identity provider")

	up.Store(true)
	require.Eventually(t, func() bool { return testutil.HTTPStatus(t, base+"/readyz") == http.StatusOK },
		30*time.Second, 100*time.Millisecond, "ready once the keys are fetched: %s", p.Stderr())
	assert.Equal(t, http.StatusSwitchingProtocols, dialStatus(t, p.Addr, idpSign(t, es, "es-1", "acme")))
	require.NoError(t, p.Stop(), p.Stderr())
}
