package inspector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/inspector"
)

// fakeSource serves fixed snapshots and records the limits asked for.
type fakeSource struct {
	limits []int
	err    error
}

func (f *fakeSource) Inspect(context.Context) hub.Snapshot {
	return hub.Snapshot{Node: "n1", Tenants: []hub.TenantSummary{{Tenant: "acme", Head: 7}}}
}

func (f *fakeSource) InspectTenant(_ context.Context, tenant string, limit int) (hub.TenantSnapshot, error) {
	f.limits = append(f.limits, limit)
	if f.err != nil {
		return hub.TenantSnapshot{}, f.err
	}
	if tenant != "acme" {
		return hub.TenantSnapshot{}, fmt.Errorf("%w %q", hub.ErrUnknownTenant, tenant)
	}
	return hub.TenantSnapshot{Tenant: tenant, Head: 7, Digest: "7-00"}, nil
}

// get requests path from srv with header and returns the status and body.
func get(t *testing.T, srv *httptest.Server, path string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header, string(b)
}

func TestHandlerRoutes(t *testing.T) {
	src := &fakeSource{}
	srv := httptest.NewServer(http.StripPrefix("/inspector", inspector.Handler(src)))
	t.Cleanup(srv.Close)

	status, h, body := get(t, srv, "/inspector/", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, h.Get("Content-Type"), "text/html")
	assert.Contains(t, h.Get("Content-Security-Policy"), "script-src 'self'")
	assert.Contains(t, body, `<script src="inspector.js"`)
	assert.NotContains(t, body, "http://", "no external resources")
	assert.NotContains(t, body, "https://", "no external resources")

	for _, asset := range []string{"inspector.js", "inspector.css"} {
		status, _, body := get(t, srv, "/inspector/"+asset, nil)
		require.Equal(t, http.StatusOK, status, asset)
		assert.NotEmpty(t, body)
	}

	status, h, _ = get(t, srv, "/inspector?token=x", nil)
	require.Equal(t, http.StatusFound, status)
	assert.Equal(t, "/inspector/?token=x", h.Get("Location"))

	status, _, body = get(t, srv, "/inspector/api/snapshot", nil)
	require.Equal(t, http.StatusOK, status)
	var snap hub.Snapshot
	require.NoError(t, json.Unmarshal([]byte(body), &snap))
	assert.Equal(t, "n1", snap.Node)

	status, _, body = get(t, srv, "/inspector/api/tenant?tenant=acme&limit=5", nil)
	require.Equal(t, http.StatusOK, status)
	var ts hub.TenantSnapshot
	require.NoError(t, json.Unmarshal([]byte(body), &ts))
	assert.Equal(t, "7-00", ts.Digest)
	_, _, _ = get(t, srv, "/inspector/api/tenant?tenant=acme", nil)
	assert.Equal(t, []int{5, hub.DefaultInspectEvents}, src.limits)
}

func TestHandlerBadInput(t *testing.T) {
	src := &fakeSource{}
	srv := httptest.NewServer(inspector.Handler(src))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/api/tenant", http.StatusBadRequest, "tenant"},
		{"/api/tenant?tenant=acme&limit=zero", http.StatusBadRequest, "limit"},
		{"/api/tenant?tenant=acme&limit=0", http.StatusBadRequest, "limit"},
		{"/api/tenant?tenant=acme&limit=-3", http.StatusBadRequest, "limit"},
		{fmt.Sprint("/api/tenant?tenant=acme&limit=", hub.MaxInspectEvents+1), http.StatusBadRequest, "limit"},
		{"/api/tenant?tenant=nobody", http.StatusNotFound, "unknown tenant"},
		{"/api/nothing", http.StatusNotFound, "no such page"},
		{"/secret.txt", http.StatusNotFound, "no such page"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			status, h, body := get(t, srv, tc.path, nil)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, "application/json", h.Get("Content-Type"))
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal([]byte(body), &e))
			assert.Contains(t, e.Error, tc.msg)
		})
	}
	assert.Equal(t, []int{hub.DefaultInspectEvents}, src.limits, "only the unknown tenant reached the source")

	res, err := srv.Client().Post(srv.URL+"/api/snapshot", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)

	src.err = errors.New("disk on fire")
	status, _, body := get(t, srv, "/api/tenant?tenant=acme", nil)
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Contains(t, body, "disk on fire")
}

func TestHandlerToken(t *testing.T) {
	srv := httptest.NewServer(inspector.Handler(&fakeSource{}, inspector.WithToken("s3cret")))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"none", "/api/snapshot", nil, http.StatusUnauthorized},
		{"wrong bearer", "/api/snapshot", http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
		{"not bearer", "/api/snapshot", http.Header{"Authorization": {"Basic s3cret"}}, http.StatusUnauthorized},
		{"wrong query", "/api/tenant?tenant=acme&token=nope", nil, http.StatusUnauthorized},
		{"bearer", "/api/snapshot", http.Header{"Authorization": {"Bearer s3cret"}}, http.StatusOK},
		{"query", "/api/tenant?tenant=acme&token=s3cret", nil, http.StatusOK},
		{"page needs none", "/", nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, _ := get(t, srv, tc.path, tc.header)
			assert.Equal(t, tc.status, status)
			if status == http.StatusUnauthorized {
				assert.Contains(t, h.Get("WWW-Authenticate"), "Bearer")
			}
		})
	}
}
