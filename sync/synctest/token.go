package synctest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
)

// Token issues a token signed with secret for tenant and subject, limited
// to streams (none: every stream), valid for an hour.
func Token(t testing.TB, secret []byte, tenant, subject string, streams ...string) string {
	t.Helper()
	tok, err := hub.IssueToken(secret, hub.Claims{Tenant: tenant, Subject: subject, Streams: streams, Expiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	return tok
}
