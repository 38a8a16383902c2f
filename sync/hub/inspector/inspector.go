// Package inspector serves the hub inspector: one self-contained HTML page
// (embedded, no external scripts or styles) showing what a hub node holds —
// its tenants, each tenant's connected devices with their cursor, lag,
// pushed counts and last seen, the tenant's latest events with their
// flags, its latest rejections with their reasons, and the ledger's
// generation and digest — refreshed every second from a JSON endpoint.
//
// The handler is meant for syncd's admin listener (loopback by default).
// On any other address give it a token (WithToken): the JSON endpoints
// then answer only requests carrying it, as "Authorization: Bearer
// <token>" or "?token=<token>"; the page passes on the token it was
// opened with. The page and its script and style carry no data and are
// served to anyone.
//
// Routes, relative to where the handler is mounted (strip the prefix,
// e.g. http.StripPrefix("/inspector", h) for /inspector/):
//
//	GET /                the page
//	GET /api/snapshot    hub.Snapshot: the node and its tenants
//	GET /api/tenant      hub.TenantSnapshot of ?tenant=NAME, with ?limit=N
//	                     latest events (1 to hub.MaxInspectEvents)
//
// Errors are JSON objects {"error": "..."} with status 400 (bad input),
// 401 (missing or wrong token), 404 (unknown tenant or path), 405 (not GET)
// or 500.
package inspector

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/ferrysync/ferry/sync/hub"
)

// Source is what the inspector shows: *hub.Server is one.
type Source interface {
	// Inspect returns a snapshot of the node.
	Inspect(ctx context.Context) hub.Snapshot
	// InspectTenant returns a snapshot of one tenant with its limit latest
	// events, or an error wrapping hub.ErrUnknownTenant.
	InspectTenant(ctx context.Context, tenant string, limit int) (hub.TenantSnapshot, error)
}

var _ Source = (*hub.Server)(nil)

// Option configures Handler.
type Option func(*handler)

// WithToken makes the JSON endpoints require token, sent as
// "Authorization: Bearer <token>" or the token query parameter. An empty
// token requires none (for a loopback-only listener).
func WithToken(token string) Option {
	return func(h *handler) { h.token = token }
}

// WithLogger sets the logger of the handler's failures (default: discard).
func WithLogger(log *slog.Logger) Option {
	return func(h *handler) {
		if log != nil {
			h.log = log
		}
	}
}

//go:embed static
var static embed.FS

// assets are the files of the page, by route.
var assets = map[string]struct{ file, typ string }{
	"/":              {"static/index.html", "text/html; charset=utf-8"},
	"/inspector.js":  {"static/inspector.js", "text/javascript; charset=utf-8"},
	"/inspector.css": {"static/inspector.css", "text/css; charset=utf-8"},
}

// csp lets the page load only its own script and style and talk only to
// its own origin.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type handler struct {
	src   Source
	token string
	log   *slog.Logger
}

// Handler returns the inspector's handler for src.
func Handler(src Source, opts ...Option) http.Handler {
	h := &handler{src: src, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(h)
	}
	return h
}

// ServeHTTP routes a request (see the package documentation).
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		return
	}
	path := r.URL.Path
	if path == "" { // mounted under a prefix without its slash: relative links need it
		p, q, _ := strings.Cut(r.RequestURI, "?")
		if q != "" {
			q = "?" + q
		}
		http.Redirect(w, r, p+"/"+q, http.StatusFound)
		return
	}
	if a, ok := assets[path]; ok {
		h.serveAsset(w, a.file, a.typ)
		return
	}
	switch path {
	case "/api/snapshot", "/api/tenant":
	default:
		h.fail(w, http.StatusNotFound, "no such page: "+path)
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ferry inspector"`)
		h.fail(w, http.StatusUnauthorized, "missing or wrong admin token")
		return
	}
	if path == "/api/snapshot" {
		h.json(w, h.src.Inspect(r.Context()))
		return
	}
	h.serveTenant(w, r)
}

// serveTenant answers /api/tenant.
func (h *handler) serveTenant(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tenant := q.Get("tenant")
	if tenant == "" {
		h.fail(w, http.StatusBadRequest, "want ?tenant=NAME")
		return
	}
	limit := hub.DefaultInspectEvents
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > hub.MaxInspectEvents {
			h.fail(w, http.StatusBadRequest, "limit must be a whole number from 1 to "+strconv.Itoa(hub.MaxInspectEvents))
			return
		}
		limit = n
	}
	snap, err := h.src.InspectTenant(r.Context(), tenant, limit)
	switch {
	case errors.Is(err, hub.ErrUnknownTenant):
		h.fail(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		h.log.Error("inspect tenant", slog.String("tenant", tenant), slog.String("err", err.Error()))
		h.fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	h.json(w, snap)
}

// authorized reports whether r carries the token, when one is required.
func (h *handler) authorized(r *http.Request) bool { return hasToken(r, h.token) }

// hasToken reports whether r carries token as "Authorization: Bearer
// <token>" or the token query parameter; an empty token is always there.
func hasToken(r *http.Request, token string) bool {
	if token == "" {
		return true
	}
	got := r.URL.Query().Get("token")
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, rest, ok := strings.Cut(a, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		got = strings.TrimSpace(rest)
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// RequireToken returns a handler that serves next only to requests
// carrying token the way the inspector's endpoints take it ("Authorization:
// Bearer <token>" or ?token=), and 401 to the others. An empty token
// requires none. syncd puts its other admin pages (/metrics, pprof) behind
// it with the inspector's token.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasToken(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ferry admin"`)
			http.Error(w, "missing or wrong admin token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *handler) serveAsset(w http.ResponseWriter, file, typ string) {
	b, err := static.ReadFile(file)
	if err != nil { // embedded: cannot happen
		h.fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

func (h *handler) json(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.log.Error("encode inspection", slog.String("err", err.Error()))
		h.fail(w, http.StatusInternalServerError, "encode: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(b, '\n'))
}

// fail answers with status and {"error": msg}.
func (h *handler) fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}
