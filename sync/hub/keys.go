package hub

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
)

// The token algorithms the hub accepts. Each asymmetric one is tied to a
// key type: a token's "alg" selects the keys it may be verified with, and a
// key of another type is never tried.
const (
	AlgHS256 = "HS256" // HMAC SHA-256 with the hub's secret
	AlgRS256 = "RS256" // RSA PKCS#1 v1.5 SHA-256, *rsa.PublicKey of 2048 bits or more
	AlgES256 = "ES256" // ECDSA P-256 SHA-256, *ecdsa.PublicKey on P-256
	AlgEdDSA = "EdDSA" // Ed25519, ed25519.PublicKey
)

// MinRSABits is the smallest RSA modulus accepted for RS256 keys.
const MinRSABits = 2048

// Key is a public key tokens may be signed with.
type Key struct {
	// ID is the key id ("kid") tokens name it by; empty for a key from a
	// PEM file, which any token of its algorithm may be tried against.
	ID string
	// Alg restricts the key to one algorithm when its JWK names one;
	// empty: the algorithm of its type.
	Alg string
	// Public is an *rsa.PublicKey, an *ecdsa.PublicKey on P-256 or an
	// ed25519.PublicKey.
	Public crypto.PublicKey
}

// keyAlg returns the algorithm public is for, or an error for a key type
// the hub does not accept.
func keyAlg(public crypto.PublicKey) (string, error) {
	switch k := public.(type) {
	case *rsa.PublicKey:
		if k.N == nil || k.N.BitLen() < MinRSABits {
			return "", fmt.Errorf("RSA key shorter than %d bits", MinRSABits)
		}
		return AlgRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA key on %s: want P-256", k.Curve.Params().Name)
		}
		return AlgES256, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("Ed25519 key of the wrong size")
		}
		return AlgEdDSA, nil
	default:
		return "", fmt.Errorf("unsupported key type %T", public)
	}
}

// check validates k: a supported key type whose algorithm matches Alg.
func (k Key) check() error {
	alg, err := keyAlg(k.Public)
	if err != nil {
		return err
	}
	if k.Alg != "" && k.Alg != alg {
		return fmt.Errorf("key %q: alg %s does not fit a key for %s", k.ID, k.Alg, alg)
	}
	return nil
}

// KeySource hands the verifier the public keys a token may be verified
// with. A KeySet is one; a JWKS fetcher, PEM and JWKS files reloaded on
// demand are others. It is safe for concurrent use.
type KeySource interface {
	// Keys returns the keys that may have signed a token whose header
	// names kid (possibly empty) and alg (RS256, ES256 or EdDSA): none
	// with a nil error when no such key is known.
	Keys(ctx context.Context, kid, alg string) ([]Key, error)
}

// KeySet is an immutable set of public keys; the zero value and nil are
// empty sets.
type KeySet struct {
	keys []Key
}

var _ KeySource = (*KeySet)(nil)

// NewKeySet returns a set of keys, each checked: a supported type and,
// when it names one, the algorithm of its type.
func NewKeySet(keys ...Key) (*KeySet, error) {
	for _, k := range keys {
		if err := k.check(); err != nil {
			return nil, fmt.Errorf("hub: key set: %w", err)
		}
	}
	return &KeySet{keys: slices.Clone(keys)}, nil
}

// Len returns the number of keys in s.
func (s *KeySet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// IDs returns the key ids of s, "" for keys without one.
func (s *KeySet) IDs() []string {
	if s == nil {
		return nil
	}
	ids := make([]string, len(s.keys))
	for i, k := range s.keys {
		ids[i] = k.ID
	}
	return ids
}

// Keys returns lookup(kid, alg); it never fails.
func (s *KeySet) Keys(_ context.Context, kid, alg string) ([]Key, error) {
	return s.lookup(kid, alg), nil
}

// lookup returns the keys of alg's type a token naming kid may be tried
// against: the key with that id, else the keys without an id (PEM keys);
// for a token naming no kid, every key of the type.
func (s *KeySet) lookup(kid, alg string) []Key {
	if s == nil {
		return nil
	}
	var byID, anon []Key
	for _, k := range s.keys {
		if a, err := keyAlg(k.Public); err != nil || a != alg || (k.Alg != "" && k.Alg != alg) {
			continue
		}
		switch {
		case kid == "" || k.ID == "":
			anon = append(anon, k)
		case k.ID == kid:
			byID = append(byID, k)
		}
	}
	if len(byID) > 0 {
		return byID
	}
	return anon
}

// merge returns a set holding the keys of all sets.
func merge(sets ...*KeySet) *KeySet {
	out := &KeySet{}
	for _, s := range sets {
		if s != nil {
			out.keys = append(out.keys, s.keys...)
		}
	}
	return out
}

// ParsePEM returns the public keys of the PEM blocks in data: "PUBLIC KEY"
// (PKIX), "RSA PUBLIC KEY" (PKCS #1) and "CERTIFICATE" (its subject's key).
// Other blocks (private keys included) are an error, as is data holding no
// block; the keys carry no id.
func ParsePEM(data []byte) ([]Key, error) {
	var keys []Key
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var pub crypto.PublicKey
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			if strings.Contains(b.Type, "PRIVATE") {
				return nil, fmt.Errorf("pem block %d: %s: want a public key, not a private one", n, b.Type)
			}
			return nil, fmt.Errorf("pem block %d: unsupported type %q", n, b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("pem block %d: %w", n, err)
		}
		k := Key{Public: pub}
		if err := k.check(); err != nil {
			return nil, fmt.Errorf("pem block %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return keys, nil
}

// KeyFiles is a KeySource over PEM files and JWKS documents on disk,
// read by NewKeyFiles and again by each Reload: an operator rotates keys by
// replacing the files and asking for a reload (syncd does on SIGHUP and on
// a timer).
type KeyFiles struct {
	pem, jwks []string
	set       atomic.Pointer[KeySet]
}

var _ KeySource = (*KeyFiles)(nil)

// NewKeyFiles reads the PEM files and JWKS documents at the given paths;
// it fails when one cannot be read or holds no usable key.
func NewKeyFiles(pemPaths, jwksPaths []string) (*KeyFiles, error) {
	f := &KeyFiles{pem: slices.Clone(pemPaths), jwks: slices.Clone(jwksPaths)}
	set, err := f.read()
	if err != nil {
		return nil, err
	}
	f.set.Store(set)
	return f, nil
}

// Reload reads the files again and, when all of them hold usable keys,
// replaces the keys; otherwise it keeps the previous ones and returns the
// error. It returns the keys now in use.
func (f *KeyFiles) Reload() (*KeySet, error) {
	set, err := f.read()
	if err != nil {
		return f.set.Load(), err
	}
	f.set.Store(set)
	return set, nil
}

// Set returns the keys in use.
func (f *KeyFiles) Set() *KeySet { return f.set.Load() }

// Keys returns the keys in use for kid and alg.
func (f *KeyFiles) Keys(_ context.Context, kid, alg string) ([]Key, error) {
	return f.set.Load().lookup(kid, alg), nil
}

func (f *KeyFiles) read() (*KeySet, error) {
	set := &KeySet{}
	for _, p := range f.pem {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("hub: token keys: %w", err)
		}
		keys, err := ParsePEM(b)
		if err != nil {
			return nil, fmt.Errorf("hub: token keys: %s: %w", p, err)
		}
		set.keys = append(set.keys, keys...)
	}
	for _, p := range f.jwks {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("hub: token keys: %w", err)
		}
		s, err := ParseJWKS(b)
		if err != nil {
			return nil, fmt.Errorf("hub: token keys: %s: %w", p, err)
		}
		set = merge(set, s)
	}
	return set, nil
}
