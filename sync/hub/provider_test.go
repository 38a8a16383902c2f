package hub_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
)

var idpAlgs = []string{"RS256", "ES256", "EdDSA"}

// newIDPVerifier returns a verifier of keys (published as a JWKS
// document) with cfg's other settings.
func newIDPVerifier(t testing.TB, cfg hub.VerifierConfig, keys ...idpKey) *hub.Verifier {
	t.Helper()
	set, err := hub.ParseJWKS(jwksDoc(t, keys...))
	require.NoError(t, err)
	cfg.Keys = append(cfg.Keys, set)
	v, err := hub.NewVerifier(cfg)
	require.NoError(t, err)
	return v
}

func TestVerifierAcceptsEachAlgorithm(t *testing.T) {
	for i, alg := range idpAlgs {
		t.Run(alg, func(t *testing.T) {
			k := newIDPKey(t, alg, "k-"+alg, i)
			v := newIDPVerifier(t, hub.VerifierConfig{}, k)
			claims := idpClaims("acme")
			claims["streams"] = []string{"task/", "note/"}
			c, err := v.VerifyToken(context.Background(), k.sign(t, claims))
			require.NoError(t, err)
			assert.Equal(t, "acme", c.Tenant)
			assert.Equal(t, "device-1", c.Subject)
			assert.Equal(t, []string{"task/", "note/"}, c.Streams)
			assert.False(t, c.Expiry.IsZero())

			// The same key from a PEM file: it has no kid, so it verifies
			// tokens naming any kid, or none.
			dir := t.TempDir()
			path := filepath.Join(dir, "idp.pem")
			require.NoError(t, os.WriteFile(path, k.pem(t), 0o600))
			files, err := hub.NewKeyFiles([]string{path}, nil)
			require.NoError(t, err)
			pv, err := hub.NewVerifier(hub.VerifierConfig{Keys: []hub.KeySource{files}})
			require.NoError(t, err)
			anon := k
			anon.kid = ""
			for _, tok := range []string{k.sign(t, idpClaims("acme")), anon.sign(t, idpClaims("acme"))} {
				c, err := pv.VerifyToken(context.Background(), tok)
				require.NoError(t, err)
				assert.Equal(t, "acme", c.Tenant)
			}
		})
	}
}

func TestVerifierHS256DefaultAndOff(t *testing.T) {
	rs := newIDPKey(t, "RS256", "rs", 0)
	tok := token(t, "acme")
	on := newIDPVerifier(t, hub.VerifierConfig{Secret: testSecret}, rs)
	c, err := on.VerifyToken(context.Background(), tok)
	require.NoError(t, err)
	assert.Equal(t, "acme", c.Tenant)
	_, err = on.VerifyToken(context.Background(), rs.sign(t, idpClaims("acme")))
	require.NoError(t, err, "both kinds with a secret and keys")

	off := newIDPVerifier(t, hub.VerifierConfig{}, rs)
	_, err = off.VerifyToken(context.Background(), tok)
	require.ErrorIs(t, err, hub.ErrTokenAlgorithm)
	require.ErrorIs(t, err, hub.ErrUnauthorized)

	_, err = hub.NewVerifier(hub.VerifierConfig{})
	require.Error(t, err, "neither secret nor keys")
	_, err = hub.NewVerifier(hub.VerifierConfig{Secret: []byte("short")})
	require.Error(t, err)
	_, err = hub.NewVerifier(hub.VerifierConfig{Secret: testSecret, TenantClaim: "x", ScopeClaim: "x"})
	require.Error(t, err)
}

func TestVerifierRefuses(t *testing.T) {
	rs := newIDPKey(t, "RS256", "rs-1", 0)
	es := newIDPKey(t, "ES256", "es-1", 0)
	ed := newIDPKey(t, "EdDSA", "ed-1", 0)
	v := newIDPVerifier(t, hub.VerifierConfig{Secret: testSecret, Audience: "ferry", Issuer: "https://idp.example"}, rs, es, ed)
	good := func() jwt.MapClaims {
		c := idpClaims("acme")
		c["aud"], c["iss"] = "ferry", "https://idp.example"
		return c
	}
	with := func(k string, val any) jwt.MapClaims {
		c := good()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	_, err := v.VerifyToken(context.Background(), rs.sign(t, good()))
	require.NoError(t, err, "the good claims pass")

	rsPEM := rs.pem(t)
	forgerRS := newIDPKey(t, "RS256", "rs-1", 1) // another key, same kid
	forgerES := newIDPKey(t, "ES256", "es-1", 0)
	rsAsES := es
	rsAsES.kid = "rs-1" // an ES256 token naming the RSA key
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, good()).SignedString(testSecret)
	require.NoError(t, err)
	rs512 := rs
	rs512.method = jwt.SigningMethodRS512
	cases := []struct {
		name   string
		token  string
		reason error
	}{
		{"empty", "", hub.ErrNoToken},
		{"garbage", "not.a.jwt", hub.ErrTokenMalformed},
		{"huge", strings.Repeat("a", 20<<10), hub.ErrTokenMalformed},
		{"forged RS256", forgerRS.sign(t, good()), hub.ErrTokenSignature},
		{"forged ES256", forgerES.sign(t, good()), hub.ErrTokenSignature},
		{"forged HS256", signed(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789"), good()), hub.ErrTokenSignature},
		{"expired", rs.sign(t, with("exp", time.Now().Add(-time.Hour).Unix())), hub.ErrTokenExpired},
		{"not yet valid", ed.sign(t, with("nbf", time.Now().Add(time.Hour).Unix())), hub.ErrTokenNotValidYet},
		{"wrong audience", rs.sign(t, with("aud", "another-app")), hub.ErrTokenAudience},
		{"no audience", es.sign(t, with("aud", nil)), hub.ErrTokenAudience},
		{"wrong issuer", rs.sign(t, with("iss", "https://evil.example")), hub.ErrTokenIssuer},
		{"no issuer", ed.sign(t, with("iss", nil)), hub.ErrTokenIssuer},
		{"unknown kid", newIDPKey(t, "EdDSA", "ed-2", 0).sign(t, good()), hub.ErrUnknownKey},
		{"alg none", signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good()), hub.ErrTokenAlgorithm},
		{"alg HS512", hs512, hub.ErrTokenAlgorithm},
		{"alg RS512", rs512.sign(t, good()), hub.ErrTokenAlgorithm},
		// HS256 signed with the RSA public key as the HMAC secret: the
		// public key is never a secret, so it fails as a forged HS256.
		{"alg confusion", signed(t, jwt.SigningMethodHS256, rsPEM, good()), hub.ErrTokenSignature},
		{"alg key mismatch", rsAsES.sign(t, good()), hub.ErrUnknownKey},
		{"no exp", rs.sign(t, with("exp", nil)), hub.ErrTokenClaims},
		{"no tenant", rs.sign(t, with("tenant", nil)), hub.ErrTokenClaims},
		{"tenant not a string", rs.sign(t, with("tenant", 7)), hub.ErrTokenClaims},
		{"streams not strings", rs.sign(t, with("streams", []any{1})), hub.ErrTokenClaims},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.VerifyToken(context.Background(), tc.token)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.reason)
			assert.ErrorIs(t, err, hub.ErrUnauthorized)
			var te *hub.TokenError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tc.reason, te.Reason)
			assert.True(t, strings.HasPrefix(err.Error(), "hub: unauthorized: "), err.Error())
		})
	}

	// Without a secret, the confusion token is refused for its algorithm.
	keysOnly := newIDPVerifier(t, hub.VerifierConfig{}, rs)
	_, err = keysOnly.VerifyToken(context.Background(), signed(t, jwt.SigningMethodHS256, rsPEM, idpClaims("acme")))
	assert.ErrorIs(t, err, hub.ErrTokenAlgorithm)
	// Without keys, an RS256 token is refused for its algorithm too.
	_, err = hub.VerifyToken(testSecret, rs.sign(t, idpClaims("acme")))
	assert.ErrorIs(t, err, hub.ErrTokenAlgorithm)
}

func TestVerifierClaimNames(t *testing.T) {
	k := newIDPKey(t, "ES256", "es", 0)
	v := newIDPVerifier(t, hub.VerifierConfig{TenantClaim: "https://app.example/org", ScopeClaim: "scp"}, k)
	exp := time.Now().Add(time.Hour).Unix()
	for name, scp := range map[string]any{"string": "task/ note/", "array": []string{"task/", "note/"}} {
		c, err := v.VerifyToken(context.Background(), k.sign(t, jwt.MapClaims{
			"https://app.example/org": "acme", "scp": scp, "sub": "u1", "exp": exp, "tenant": "ignored"}))
		require.NoError(t, err, name)
		assert.Equal(t, "acme", c.Tenant, name)
		assert.Equal(t, []string{"task/", "note/"}, c.Streams, name)
	}
	_, err := v.VerifyToken(context.Background(), k.sign(t, idpClaims("acme")))
	require.ErrorIs(t, err, hub.ErrTokenClaims, "the default claim name is not read")
}

func TestVerifierLeeway(t *testing.T) {
	k := newIDPKey(t, "EdDSA", "ed", 0)
	now := time.Now()
	tok := k.sign(t, jwt.MapClaims{"tenant": "acme", "exp": now.Add(-20 * time.Second).Unix()})
	clock := func() time.Time { return now }
	strict := newIDPVerifier(t, hub.VerifierConfig{Now: clock}, k)
	_, err := strict.VerifyToken(context.Background(), tok)
	require.ErrorIs(t, err, hub.ErrTokenExpired)
	assert.Equal(t, 5*time.Second, strict.Leeway())
	lax := newIDPVerifier(t, hub.VerifierConfig{Now: clock, Leeway: time.Minute}, k)
	_, err = lax.VerifyToken(context.Background(), tok)
	require.NoError(t, err)
}

func TestKeyFilesReload(t *testing.T) {
	dir := t.TempDir()
	pemPath, jwksPath := filepath.Join(dir, "idp.pem"), filepath.Join(dir, "jwks.json")
	old, next := newIDPKey(t, "RS256", "", 0), newIDPKey(t, "RS256", "", 1)
	byKid := newIDPKey(t, "ES256", "es-1", 0)
	require.NoError(t, os.WriteFile(pemPath, old.pem(t), 0o600))
	require.NoError(t, os.WriteFile(jwksPath, jwksDoc(t, byKid), 0o600))
	files, err := hub.NewKeyFiles([]string{pemPath}, []string{jwksPath})
	require.NoError(t, err)
	assert.Equal(t, 2, files.Set().Len())
	v, err := hub.NewVerifier(hub.VerifierConfig{Keys: []hub.KeySource{files}})
	require.NoError(t, err)
	verify := func(k idpKey) error {
		_, err := v.VerifyToken(context.Background(), k.sign(t, idpClaims("acme")))
		return err
	}
	require.NoError(t, verify(old))
	require.NoError(t, verify(byKid))
	require.ErrorIs(t, verify(next), hub.ErrTokenSignature)

	// Rotate: the new key in, the old one out.
	require.NoError(t, os.WriteFile(pemPath, next.pem(t), 0o600))
	_, err = files.Reload()
	require.NoError(t, err)
	require.NoError(t, verify(next))
	require.ErrorIs(t, verify(old), hub.ErrTokenSignature)

	// A broken file keeps the keys held.
	require.NoError(t, os.WriteFile(pemPath, []byte("not pem"), 0o600))
	set, err := files.Reload()
	require.Error(t, err)
	assert.Equal(t, 2, set.Len())
	require.NoError(t, verify(next))
	require.NoError(t, os.WriteFile(pemPath, next.pem(t), 0o600))
	require.NoError(t, os.Remove(jwksPath))
	_, err = files.Reload()
	require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)

	_, err = hub.NewKeyFiles([]string{filepath.Join(dir, "missing.pem")}, nil)
	require.ErrorIs(t, err, os.ErrNotExist)
}
