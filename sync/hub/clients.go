package hub

import (
	"cmp"
	"slices"
	"time"

	"github.com/ferrysync/ferry/sync/protocol"
)

// ClientInfo describes a client connected to this hub node, as its token
// and its Hello name it: which app versions are out there, and which
// protocol versions they speak.
type ClientInfo struct {
	// Tenant and Subject are the token's.
	Tenant  string
	Subject string
	// Client is the device id (Hello.Client).
	Client string
	// Agent names the client software (Hello.Agent).
	Agent string
	// App is the app's version or registry digest (Hello.App); empty
	// when the client did not say.
	App string
	// Version is the negotiated protocol version.
	Version int
	// Remote is the peer's address.
	Remote string
	// Since is when the client said Hello, by the hub's clock.
	Since time.Time
}

// hello records what c's client said; Clients lists it until c ends.
func (s *Server) hello(c *conn, h *protocol.Hello, version int) {
	info := &ClientInfo{Tenant: c.claims.Tenant, Subject: c.claims.Subject, Client: h.Client, Agent: h.Agent,
		App: h.App, Version: version, Remote: c.remote, Since: s.cfg.Now()}
	s.mu.Lock()
	c.info = info
	s.mu.Unlock()
	c.stats.cursor.Store(h.Cursor)
	c.stats.heard()
}

// Clients returns the clients connected to this node that have said Hello,
// ordered by tenant, client and time, for operators (which app versions are
// still in use) and for the metrics and inspector endpoints.
func (s *Server) Clients() []ClientInfo {
	s.mu.Lock()
	out := make([]ClientInfo, 0, len(s.conns))
	for c := range s.conns {
		if c.info != nil {
			out = append(out, *c.info)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b ClientInfo) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Client, b.Client), a.Since.Compare(b.Since))
	})
	return out
}
