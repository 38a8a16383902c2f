package hub_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
)

func TestParsePEM(t *testing.T) {
	rs := newIDPKey(t, "RS256", "", 0)
	es := newIDPKey(t, "ES256", "", 0)
	ed := newIDPKey(t, "EdDSA", "", 0)
	rsaPub := rs.priv.Public().(*rsa.PublicKey)

	// Several blocks, of every kind the hub takes.
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rsaPub)})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ed.priv.Public(), ed.priv)
	require.NoError(t, err)
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	all := append(append(append(rs.pem(t), es.pem(t)...), pkcs1...), cert...)
	keys, err := hub.ParsePEM(all)
	require.NoError(t, err)
	require.Len(t, keys, 4)
	assert.IsType(t, &rsa.PublicKey{}, keys[0].Public)
	assert.IsType(t, &ecdsa.PublicKey{}, keys[1].Public)
	assert.True(t, rsaPub.Equal(keys[2].Public))
	assert.IsType(t, ed25519.PublicKey{}, keys[3].Public)
	for _, k := range keys {
		assert.Empty(t, k.ID)
	}

	// Refused: private keys, other block types, weak or unsupported keys.
	privDER, err := x509.MarshalPKCS8PrivateKey(ed.priv)
	require.NoError(t, err)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	pkix := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	for name, data := range map[string][]byte{
		"empty":       nil,
		"not pem":     []byte("-----BEGIN nonsense"),
		"private key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}),
		"other block": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}}),
		"bad der":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}),
		"rsa 1024":    pkix(&weak.PublicKey),
		"p-384":       pkix(&p384.PublicKey),
		"good then bad": append(rs.pem(t),
			pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})...),
	} {
		_, err := hub.ParsePEM(data)
		assert.Error(t, err, name)
	}
}

func TestKeySetLookup(t *testing.T) {
	rs1, rs2 := newIDPKey(t, "RS256", "a", 0), newIDPKey(t, "RS256", "b", 1)
	pemKey := newIDPKey(t, "RS256", "", 2)
	ed := newIDPKey(t, "EdDSA", "c", 0)
	set, err := hub.ParseJWKS(jwksDoc(t, rs1, rs2, ed))
	require.NoError(t, err)
	pemKeys, err := hub.ParsePEM(pemKey.pem(t))
	require.NoError(t, err)
	withPEM, err := hub.NewKeySet(append(keysOf(t, set), pemKeys...)...)
	require.NoError(t, err)
	ctx := context.Background()
	ids := func(s *hub.KeySet, kid, alg string) []string {
		keys, err := s.Keys(ctx, kid, alg)
		require.NoError(t, err)
		var out []string
		for _, k := range keys {
			out = append(out, k.ID)
		}
		return out
	}
	assert.Equal(t, []string{"a"}, ids(set, "a", "RS256"))
	assert.Equal(t, []string{"a", "b"}, ids(set, "", "RS256"), "no kid: every key of the type")
	assert.Empty(t, ids(set, "a", "EdDSA"), "the kid's key is of another type")
	assert.Empty(t, ids(set, "z", "RS256"))
	assert.Equal(t, []string{""}, ids(withPEM, "z", "RS256"), "unknown kid: the PEM keys")
	assert.Equal(t, []string{"c"}, ids(withPEM, "c", "EdDSA"))

	_, err = hub.NewKeySet(hub.Key{ID: "x", Alg: "ES256", Public: rs1.priv.Public()})
	assert.Error(t, err, "alg does not fit the key")
	_, err = hub.NewKeySet(hub.Key{ID: "x", Public: []byte("secret")})
	assert.Error(t, err, "not a public key")
	var empty *hub.KeySet
	assert.Zero(t, empty.Len())
}

// keysOf returns the keys of s, looked up by type.
func keysOf(t *testing.T, s *hub.KeySet) []hub.Key {
	t.Helper()
	var out []hub.Key
	for _, alg := range idpAlgs {
		keys, err := s.Keys(context.Background(), "", alg)
		require.NoError(t, err)
		out = append(out, keys...)
	}
	return out
}
