package hub_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

func TestIssueAndVerifyToken(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok, err := hub.IssueToken(testSecret, hub.Claims{Tenant: "acme", Subject: "laptop", Streams: []string{"task/"}, Expiry: exp})
	require.NoError(t, err)
	c, err := hub.VerifyToken(testSecret, tok)
	require.NoError(t, err)
	assert.Equal(t, "acme", c.Tenant)
	assert.Equal(t, "laptop", c.Subject)
	assert.Equal(t, []string{"task/"}, c.Streams)
	assert.True(t, exp.Equal(c.Expiry))

	for name, claims := range map[string]hub.Claims{
		"no tenant":    {Subject: "x", Expiry: exp},
		"no expiry":    {Tenant: "acme"},
		"empty prefix": {Tenant: "acme", Expiry: exp, Streams: []string{""}},
	} {
		_, err := hub.IssueToken(testSecret, claims)
		assert.Error(t, err, name)
	}
	_, err = hub.IssueToken([]byte("short"), hub.Claims{Tenant: "acme", Expiry: exp})
	assert.Error(t, err, "short secret")
}

// signed returns a token with claims signed by method and key.
func signed(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return s
}

func TestAuthRefusedBeforeUpgrade(t *testing.T) {
	h := memHarness(t, nil)
	exp := time.Now().Add(time.Hour).Unix()
	good := jwt.MapClaims{"tenant": "acme", "sub": "d", "exp": exp}
	cases := []struct {
		name   string
		header http.Header
		query  string
		status int
	}{
		{"missing", nil, "", http.StatusUnauthorized},
		{"not bearer", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, "", http.StatusUnauthorized},
		{"garbage", http.Header{"Authorization": {"Bearer not.a.jwt"}}, "", http.StatusUnauthorized},
		{"forged", bearer(signed(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789"), good)), "", http.StatusUnauthorized},
		{"alg none", bearer(signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good)), "", http.StatusUnauthorized},
		{"alg HS512", bearer(signed(t, jwt.SigningMethodHS512, testSecret, good)), "", http.StatusUnauthorized},
		{"expired", bearer(signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"tenant": "acme", "exp": time.Now().Add(-time.Hour).Unix()})), "", http.StatusUnauthorized},
		{"no exp", bearer(signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"tenant": "acme"})), "", http.StatusUnauthorized},
		{"no tenant", bearer(signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "d", "exp": exp})), "", http.StatusUnauthorized},
		{"wrong tenant", bearer(token(t, "acme")), "?tenant=globex", http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws, resp, err := dialURL(h, tc.query, tc.header)
			if ws != nil {
				_ = ws.Close()
			}
			require.Error(t, err)
			require.NotNil(t, resp)
			defer func() { _ = resp.Body.Close() }()
			assert.Equal(t, tc.status, resp.StatusCode)
			var perr protocol.Error
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&perr))
			assert.Equal(t, protocol.CodeUnauthorized, perr.Code)
		})
	}
	// Nothing was opened for anyone.
	assert.Zero(t, h.stores.Open())
}

func TestAuthAccessTokenQuery(t *testing.T) {
	h := memHarness(t, nil)
	ws, resp, err := dialURL(h, "?access_token="+token(t, "acme")+"&tenant=acme", nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	_ = ws.Close()
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestTenantIsolation(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b.open(t), nil)
			a := connect(t, h, token(t, "acme"), 0)
			a.catchUp()
			ack := a.push("a1", newEvents(3, "task/1")...)
			for _, r := range ack.Results {
				require.False(t, r.Rejected())
			}

			// Another tenant sees none of it and its writes stay its own,
			// even on the same stream names and event ids.
			g := connect(t, h, token(t, "globex"), 0)
			assert.Equal(t, "globex", g.welcome.Tenant)
			assert.Zero(t, g.welcome.Head)
			g.catchUp()
			assert.Empty(t, g.pulled)
			mine := newEvent("task/1")
			gack := g.push("g1", mine)
			assert.Equal(t, int64(1), gack.Results[0].HubPosition)
			g.waitPulled(1)
			assert.Equal(t, mine.ID, g.pulled[0].ID)

			a.waitPulled(3)
			assert.Equal(t, int64(3), head(t, h.stores.must(t, "acme")))
			assert.Equal(t, int64(1), head(t, h.stores.must(t, "globex")))
			for _, e := range a.pulled {
				assert.NotEqual(t, mine.ID, e.ID)
			}
		})
	}
}
