package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	syncclient "github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// logBuffer is a log destination safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// idpHub is a hub taking tokens from an identity provider whose JWKS is
// served on loopback, refreshed in the background, and HS256 tokens.
type idpHub struct {
	*harness
	idp     *jwksServer
	fetcher *hub.JWKSFetcher
	log     *logBuffer
}

func newIDPHub(t *testing.T, opts hub.JWKSOptions, cfg hub.VerifierConfig, keys ...idpKey) *idpHub {
	t.Helper()
	idp := newJWKSServer(t, keys...)
	f, err := hub.NewJWKSFetcher(idp.URL+"/.well-known/jwks.json", opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	cfg.Keys = append(cfg.Keys, f)
	v, err := hub.NewVerifier(cfg)
	require.NoError(t, err)
	logs := &logBuffer{}
	h := memHarness(t, func(c *hub.Config) {
		c.Secret = nil
		c.Verifier = v
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	return &idpHub{harness: h, idp: idp, fetcher: f, log: logs}
}

// refusedStatus dials h with tok and returns the HTTP status of the
// refusal, failing when the connection is upgraded.
func refusedStatus(t *testing.T, h *harness, tok string) int {
	t.Helper()
	ws, resp, err := dialURL(h, "", bearer(tok))
	if ws != nil {
		_ = ws.Close()
	}
	require.Error(t, err, "upgraded")
	require.NotNil(t, resp)
	defer func() { _ = resp.Body.Close() }()
	var perr protocol.Error
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&perr))
	assert.Equal(t, protocol.CodeUnauthorized, perr.Code)
	return resp.StatusCode
}

func TestIDPTokensRefusedBeforeUpgrade(t *testing.T) {
	rs, es := newIDPKey(t, "RS256", "rs-1", 0), newIDPKey(t, "ES256", "es-1", 0)
	h := newIDPHub(t, hub.JWKSOptions{}, hub.VerifierConfig{Audience: "ferry", Issuer: "https://idp.test"}, rs, es)
	good := func() jwt.MapClaims {
		c := idpClaims("acme")
		c["aud"], c["iss"] = []string{"ferry", "other"}, "https://idp.test"
		return c
	}
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	c := connect(t, h.harness, es.sign(t, good()), 0)
	assert.Equal(t, "acme", c.welcome.Tenant)
	c.catchUp()

	cases := []struct {
		name, token, log string
	}{
		{"forged", newIDPKey(t, "RS256", "rs-1", 1).sign(t, good()), "token signature invalid"},
		{"expired", rs.sign(t, with("exp", time.Now().Add(-time.Minute).Unix())), "token expired"},
		{"wrong audience", rs.sign(t, with("aud", "billing")), "token audience not accepted"},
		{"wrong issuer", es.sign(t, with("iss", "https://evil.test")), "token issuer not accepted"},
		{"unknown key", newIDPKey(t, "EdDSA", "ed-9", 0).sign(t, good()), "token signed with an unknown key"},
		{"alg confusion", signed(t, jwt.SigningMethodHS256, rs.pem(t), good()), "token algorithm not accepted"},
		{"alg none", signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good()), "token algorithm not accepted"},
		{"hub secret turned off", token(t, "acme"), "HS256 is turned off"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, http.StatusUnauthorized, refusedStatus(t, h.harness, tc.token))
			assert.Contains(t, h.log.String(), tc.log, "the log says why")
		})
	}
	assert.Equal(t, 1, h.stores.Open(), "nothing opened for the refused")
}

// The provider rotates its keys while the hub runs: a token with the new
// kid is accepted as soon as it is presented (the unknown kid triggers a
// fetch), and once the old key is withdrawn its tokens are refused,
// without a restart.
func TestIDPKeyRotationWhileHubRuns(t *testing.T) {
	old, next := newIDPKey(t, "RS256", "2026-11", 0), newIDPKey(t, "RS256", "2026-12", 1)
	h := newIDPHub(t, hub.JWKSOptions{Refresh: 50 * time.Millisecond, MinRefetch: time.Millisecond}, hub.VerifierConfig{}, old)
	require.Eventually(t, func() bool { return h.fetcher.Set().Len() == 1 }, 10*time.Second, 5*time.Millisecond)
	a := connect(t, h.harness, old.sign(t, idpClaims("acme")), 0)
	a.catchUp()
	assert.Equal(t, http.StatusUnauthorized, refusedStatus(t, h.harness, next.sign(t, idpClaims("acme"))))

	h.idp.set(t, old, next)
	b := connect(t, h.harness, next.sign(t, idpClaims("acme")), 0)
	b.catchUp()

	h.idp.set(t, next)
	oldTok := old.sign(t, idpClaims("acme"))
	require.Eventually(t, func() bool {
		ws, resp, err := dialURL(h.harness, "", bearer(oldTok))
		if ws != nil {
			_ = ws.Close()
		}
		if resp != nil {
			_ = resp.Body.Close()
		}
		return err != nil && resp != nil && resp.StatusCode == http.StatusUnauthorized
	}, 10*time.Second, 20*time.Millisecond, "the withdrawn key's tokens are refused")
	assert.Contains(t, h.log.String(), "token signed with an unknown key")

	// Connections made before the rotation go on until their tokens
	// expire; new ones with the current key are served.
	ack := a.push("a1", newEvent("task/1"))
	assert.False(t, ack.Results[0].Rejected())
	b.waitPulled(1)
	connect(t, h.harness, next.sign(t, idpClaims("acme")), 0).catchUp()
}

// Real clients (sync/client) sync through the hub with tokens of each
// algorithm: two devices end up with each other's events.
func TestIDPRealClientsSync(t *testing.T) {
	keys := []idpKey{newIDPKey(t, "RS256", "rs", 0), newIDPKey(t, "ES256", "es", 0), newIDPKey(t, "EdDSA", "ed", 0)}
	h := newIDPHub(t, hub.JWKSOptions{}, hub.VerifierConfig{TenantClaim: "org", ScopeClaim: "scp", Audience: "ferry"}, keys...)
	ctx := context.Background()
	for _, k := range keys {
		t.Run(k.alg, func(t *testing.T) {
			tenant := "org-" + strings.ToLower(k.alg)
			var stores []*memory.Store
			var reps []*syncclient.Replicator
			for _, device := range []string{"laptop", "phone"} {
				store := memory.New(eventstore.Config{Origin: device})
				t.Cleanup(func() { _ = store.Close() })
				_, err := store.Append(ctx, eventstore.Write{Stream: "list/" + device, Events: []eventstore.Event{
					{Type: "item:added", Data: []byte(`{"item":"milk"}`)}}})
				require.NoError(t, err)
				tok := k.sign(t, jwt.MapClaims{"org": tenant, "scp": "list/", "sub": device, "aud": "ferry",
					"exp": time.Now().Add(time.Hour).Unix()})
				r, err := syncclient.New(store, syncclient.Config{URL: h.url(), Token: tok})
				require.NoError(t, err)
				stores, reps = append(stores, store), append(reps, r)
			}
			for _, r := range []*syncclient.Replicator{reps[0], reps[1], reps[0]} {
				_, err := r.SyncOnce(ctx)
				require.NoError(t, err)
			}
			for i, store := range stores {
				st, err := reps[i].Status(ctx)
				require.NoError(t, err)
				assert.Zero(t, st.Pending)
				for _, stream := range []string{"list/laptop", "list/phone"} {
					n := 0
					for _, err := range store.ReadStream(ctx, stream, eventstore.ReadOptions{}) {
						require.NoError(t, err)
						n++
					}
					assert.Equal(t, 1, n, "device %d stream %s", i, stream)
				}
			}
			assert.Equal(t, int64(2), head(t, h.stores.must(t, tenant)))
		})
	}
}
