package hub_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ferrysync/ferry/sync/hub"
)

// A hub that takes its identity provider's EdDSA tokens: the provider's
// public key (here in a KeySet; a JWKSFetcher or KeyFiles in production)
// verifies them, the tenant comes from the "org" claim, and an audience is
// required.
func ExampleNewVerifier() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	keys, _ := hub.NewKeySet(hub.Key{ID: "2026-12", Public: pub})
	v, err := hub.NewVerifier(hub.VerifierConfig{Keys: []hub.KeySource{keys}, TenantClaim: "org", Audience: "ferry"})
	if err != nil {
		fmt.Println(err)
		return
	}
	sign := func(aud string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"org": "acme", "sub": "user-7", "aud": aud, "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = "2026-12"
		s, _ := tok.SignedString(priv)
		return s
	}
	c, err := v.VerifyToken(context.Background(), sign("ferry"))
	fmt.Println(c.Tenant, c.Subject, err)
	_, err = v.VerifyToken(context.Background(), sign("billing"))
	fmt.Println(errors.Is(err, hub.ErrTokenAudience), err)
	// Output:
	// acme user-7 <nil>
	// true hub: unauthorized: token audience not accepted
}
