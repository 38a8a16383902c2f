package synctest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/client"
	"github.com/ferrysync/ferry/sync/protocol"
	"github.com/ferrysync/ferry/sync/synctest"
)

// jwtToken signs claims with secret, bypassing hub.IssueToken's checks, to
// make tokens a correct issuer never would.
func jwtToken(t testing.TB, secret []byte, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	require.NoError(t, err)
	return tok
}

// refusal dials url with header and returns the HTTP status and the
// protocol error of a refused upgrade.
func refusal(t testing.TB, url string, header http.Header) (int, protocol.Code) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	ws, resp, err := d.Dial(url, header)
	if ws != nil {
		_ = ws.Close()
	}
	require.Error(t, err, "the upgrade is refused")
	require.NotNil(t, resp)
	defer resp.Body.Close()
	var perr protocol.Error
	_ = json.NewDecoder(resp.Body).Decode(&perr)
	return resp.StatusCode, perr.Code
}

// pullAll returns the ledger a fresh client of tenant pulls through url.
func pullAll(t testing.TB, url, tenant string) []eventstore.Event {
	t.Helper()
	s := openClientStore(t, "reader-"+tenant+"-"+eventstore.NewID()[20:])
	syncOnce(t, replicator(t, s, url, token(t, tenant, "reader")))
	return ledger(t, s)
}

// Against a real syncd: tenants cannot see or touch each other's ledgers;
// forged, expired, tenant-less and missing tokens are refused with HTTP
// 401 and code unauthorized before anything is stored; a token limited to
// some streams can neither write nor read the others.
func TestSecurityAgainstSyncd(t *testing.T) {
	for _, b := range syncdBackends() {
		t.Run(b.Name, func(t *testing.T) {
			p := startSyncd(t, nil, b.Args(t)...)
			url := p.URL()
			ctx := context.Background()

			// Tenant isolation: both tenants write the same stream name.
			a, bb := openClientStore(t, "dev-a"), openClientStore(t, "dev-b")
			aEvents, err := a.Append(ctx, noteWrites("task/1", 5, 10)...)
			require.NoError(t, err)
			bEvents, err := bb.Append(ctx, noteWrites("task/1", 3, 10)...)
			require.NoError(t, err)
			syncOnce(t, replicator(t, a, url, token(t, "acme", "dev-a")))
			syncOnce(t, replicator(t, bb, url, token(t, "globex", "dev-b")))
			syncOnce(t, replicator(t, a, url, token(t, "acme", "dev-a")))
			assert.Equal(t, sortedIDs(aEvents), sortedIDs(ledger(t, a)), "acme's device sees only acme")
			assert.Equal(t, sortedIDs(bEvents), sortedIDs(ledger(t, bb)), "globex's device sees only globex")
			assert.Equal(t, sortedIDs(aEvents), sortedIDs(pullAll(t, url, "acme")))
			assert.Equal(t, sortedIDs(bEvents), sortedIDs(pullAll(t, url, "globex")))

			// A tenant query parameter cannot switch tenants.
			status, code := refusal(t, url+"?tenant=globex", http.Header{"Authorization": {"Bearer " + token(t, "acme", "dev-a")}})
			assert.Equal(t, http.StatusForbidden, status)
			assert.Equal(t, protocol.CodeUnauthorized, code)

			// Bad tokens: refused before the upgrade, nothing stored.
			exp := time.Now().Add(time.Hour).Unix()
			bad := map[string]string{
				"forged":      jwtToken(t, []byte("not-the-secret-0123456789abcdef"), jwt.MapClaims{"tenant": "acme", "sub": "x", "exp": exp}),
				"expired":     jwtToken(t, testSecret, jwt.MapClaims{"tenant": "acme", "sub": "x", "exp": time.Now().Add(-time.Hour).Unix()}),
				"no expiry":   jwtToken(t, testSecret, jwt.MapClaims{"tenant": "acme", "sub": "x"}),
				"no tenant":   jwtToken(t, testSecret, jwt.MapClaims{"sub": "x", "exp": exp}),
				"alg none":    unsignedToken(t, jwt.MapClaims{"tenant": "acme", "sub": "x", "exp": exp}),
				"garbage":     "not.a.jwt",
				"missing":     "",
				"other realm": "", // Basic auth instead of Bearer
			}
			for name, tok := range bad {
				t.Run(name, func(t *testing.T) {
					header := http.Header{}
					switch {
					case name == "other realm":
						header.Set("Authorization", "Basic YWNtZTpzZWNyZXQ=")
					case tok != "":
						header.Set("Authorization", "Bearer "+tok)
					}
					status, code := refusal(t, url, header)
					assert.Equal(t, http.StatusUnauthorized, status)
					assert.Equal(t, protocol.CodeUnauthorized, code)

					s := openClientStore(t, "intruder")
					mine, err := s.Append(ctx, noteWrites("task/1", 2, 10)...)
					require.NoError(t, err)
					cfg := func(c *client.Config) {
						if name == "other realm" {
							c.Token = "" // the client only speaks Bearer
						}
					}
					_, err = replicator(t, s, url, tok, cfg).SyncOnce(ctx)
					assert.ErrorIs(t, err, client.ErrUnauthorized)
					assert.Len(t, ledger(t, s), len(mine), "nothing pulled")
					hubIDs := sortedIDs(pullAll(t, url, "acme"))
					for _, e := range mine {
						assert.NotContains(t, hubIDs, e.ID, "nothing stored")
					}
				})
			}
			assert.Equal(t, sortedIDs(aEvents), sortedIDs(pullAll(t, url, "acme")), "acme's ledger untouched")

			// Stream scope: a token for task/ cannot write or read secret/.
			secret, err := a.Append(ctx, noteWrites("secret/1", 1, 10)...)
			require.NoError(t, err)
			syncOnce(t, replicator(t, a, url, token(t, "acme", "dev-a")))
			scoped := openClientStore(t, "scoped")
			allowed, err := scoped.Append(ctx, noteWrites("task/2", 2, 10)...)
			require.NoError(t, err)
			forbidden, err := scoped.Append(ctx, noteWrites("secret/2", 2, 10)...)
			require.NoError(t, err)
			r := replicator(t, scoped, url, token(t, "acme", "scoped", "task/"))
			res, err := r.SyncOnce(ctx)
			require.NoError(t, err, "rejections are not an error")
			require.Len(t, res.Rejections, len(forbidden))
			for i, x := range res.Rejections {
				assert.Equal(t, forbidden[i].ID, x.ID)
				assert.Equal(t, protocol.CodeForbiddenStream, x.Code)
				assert.False(t, x.Local, "rejected by the hub")
			}
			st, err := r.Status(ctx)
			require.NoError(t, err)
			assert.Zero(t, st.Pending, "the rejected events do not block the outbox")
			assert.Equal(t, len(forbidden), st.Rejected)

			hub := pullAll(t, url, "acme")
			hubIDs := sortedIDs(hub)
			for _, e := range allowed {
				assert.Contains(t, hubIDs, e.ID, "in-scope event stored")
			}
			for _, e := range forbidden {
				assert.NotContains(t, hubIDs, e.ID, "out-of-scope event not stored")
			}
			for _, e := range ledger(t, scoped) {
				if e.Hydrated {
					assert.Contains(t, e.Stream, "task/", "the scoped client pulled only task/ streams")
				}
			}
			assert.NotContains(t, sortedIDs(ledger(t, scoped)), secret[0].ID, "secret/1 never reached the scoped client")
			require.NoError(t, synctest.CheckHubOrder(hub))
		})
	}
}

// unsignedToken returns a JWT with algorithm "none".
func unsignedToken(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	return tok
}
