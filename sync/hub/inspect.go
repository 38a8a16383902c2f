package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ferrysync/ferry/eventstore"
)

// Inspect and InspectTenant are a read-only view of what this hub node
// holds, for operators and for the inspector page (sync/hub/inspector).
// They only read: the per-connection counters (atomics), the rejection
// rings, and for one tenant its head, its latest events and its digest.

// ErrUnknownTenant is returned by InspectTenant for a tenant this node
// neither serves a connection of nor holds open.
var ErrUnknownTenant = errors.New("hub: unknown tenant")

// Bounds of the inspection.
const (
	// MaxInspectEvents bounds the events InspectTenant returns.
	MaxInspectEvents = 1000
	// DefaultInspectEvents is the events InspectTenant returns when asked
	// for none.
	DefaultInspectEvents = 50
	// maxInspectTenants bounds the tenants Inspect lists.
	maxInspectTenants = 1000
	// maxInspectDevices bounds the devices InspectTenant lists.
	maxInspectDevices = 1000
)

// TenantLister is the optional capability of a Ledgers that holds tenants'
// stores open: Inspect lists the tenants it names besides those with
// connections. *tenants.Pool implements it.
type TenantLister interface {
	// Tenants returns the tenants whose stores are open now.
	Tenants() []string
}

// GenerationLedger is the optional capability of a Ledger that knows its
// generation: an id created with the ledger and kept by its backups, so a
// ledger replaced by a new one (a deleted file, a new database) has
// another (see docs/design-notes.md). The hub sends it to clients in
// Welcome (protocol version 3), and InspectTenant reports it. The memory,
// SQLite and PostgreSQL stores have one.
type GenerationLedger interface {
	// Generation returns the ledger's generation id.
	Generation(ctx context.Context) (string, error)
}

// generationOf returns l's generation, "" when it keeps none.
func generationOf(ctx context.Context, l Ledger) (string, error) {
	if g, ok := l.(GenerationLedger); ok {
		return g.Generation(ctx)
	}
	return "", nil
}

// Snapshot is this node as Inspect sees it.
type Snapshot struct {
	// Node is the node's id (Config.NodeID).
	Node string `json:"node"`
	// Time is when the snapshot was taken, by the hub's clock.
	Time time.Time `json:"time"`
	// Connections counts the connections that have said Hello.
	Connections int `json:"connections"`
	// OutboundBytes is the outbound bytes the node holds, of SendBytes
	// (Config.SendBytes).
	OutboundBytes int64 `json:"outbound_bytes"`
	SendBytes     int64 `json:"send_bytes"`
	// Tenants are the tenants with connections or open stores, by name.
	Tenants []TenantSummary `json:"tenants"`
	// Truncated is true when there were more than Tenants lists.
	Truncated bool `json:"truncated,omitempty"`
}

// TenantSummary is one tenant in a Snapshot.
type TenantSummary struct {
	Tenant string `json:"tenant"`
	// Open is true when the Ledgers report the tenant's store open
	// (TenantLister); false for Ledgers that do not say.
	Open bool `json:"open"`
	// Connections counts the tenant's connections on this node.
	Connections int `json:"connections"`
	// Head is the ledger's highest position; HeadError says why it is
	// missing. It is read only for a tenant with connections: an idle
	// tenant (Idle) is left alone, so that listing tenants does not touch
	// the pool's order of eviction.
	Head      int64  `json:"head"`
	HeadError string `json:"head_error,omitempty"`
	Idle      bool   `json:"idle,omitempty"`
	// MaxLag is the largest lag of the tenant's connections.
	MaxLag int64 `json:"max_lag"`
	// Rejections counts the rejections this node recorded for the tenant.
	Rejections int64 `json:"rejections"`
}

// TenantSnapshot is one tenant as InspectTenant sees it.
type TenantSnapshot struct {
	Tenant string    `json:"tenant"`
	Node   string    `json:"node"`
	Time   time.Time `json:"time"`
	// Head is the ledger's highest position.
	Head int64 `json:"head"`
	// Generation is the ledger's generation id; empty when the ledger
	// does not report one (see GenerationLedger).
	Generation string `json:"generation,omitempty"`
	// Digest is the digest (eventstore.Digest.String) of the whole ledger
	// up to Head, as a client reading every stream is told in CaughtUp.
	Digest string `json:"digest"`
	// Devices are the tenant's connections on this node, by client: the
	// first 1,000 of DevicesTotal.
	Devices      []Device `json:"devices"`
	DevicesTotal int      `json:"devices_total"`
	// Events are the ledger's latest events, the latest first.
	Events []EventInfo `json:"events"`
	// Rejections are the latest rejections, the latest first, of
	// RejectionsTotal recorded on this node.
	Rejections      []Rejection `json:"rejections"`
	RejectionsTotal int64       `json:"rejections_total"`
}

// Device is one connection of a TenantSnapshot.
type Device struct {
	// Client is the device id (Hello.Client, the Origin of its events);
	// Subject its token's subject.
	Client  string `json:"client"`
	Subject string `json:"subject"`
	// Agent and App are what the device said in Hello; Version the
	// negotiated protocol version.
	Agent   string `json:"agent,omitempty"`
	App     string `json:"app,omitempty"`
	Version int    `json:"version"`
	// Remote is the peer's address.
	Remote string `json:"remote"`
	// Since is when the device said Hello.
	Since time.Time `json:"since"`
	// Node is the node serving the connection.
	Node string `json:"node"`
	// Cursor is the hub position the hub has sent the device up to (its
	// Hello cursor before anything is sent); Lag is Head minus Cursor.
	Cursor int64 `json:"cursor"`
	Lag    int64 `json:"lag"`
	// Live is true once the device has caught up and receives live events.
	Live bool `json:"live"`
	// LastSeen is when the device was last heard from (a frame or a pong).
	LastSeen time.Time `json:"last_seen"`
	// Pushed counts the events the device pushed on this connection;
	// Rejected and Deferred those of them refused or deferred. (How many
	// events the device still holds unpushed does not travel in the
	// protocol; the device's own status API reports it.)
	Pushed   int64 `json:"pushed"`
	Rejected int64 `json:"rejected"`
	Deferred int64 `json:"deferred"`
	// OutboundBytes is what the hub holds for the device, being written or
	// queued.
	OutboundBytes int64 `json:"outbound_bytes"`
}

// EventInfo is an event of the ledger, without its payload.
type EventInfo struct {
	Position int64     `json:"position"`
	ID       string    `json:"id"`
	Stream   string    `json:"stream"`
	Type     string    `json:"type"`
	Schema   int       `json:"schema"`
	Origin   string    `json:"origin"`
	Created  time.Time `json:"created"`
	// Bytes is the size of the payload and metadata.
	Bytes int `json:"bytes"`
	// Outdated and Unknown are the ledger's flags (see eventstore.Event);
	// Revived its revival number.
	Outdated bool  `json:"outdated,omitempty"`
	Unknown  bool  `json:"unknown,omitempty"`
	Revived  int64 `json:"revived,omitempty"`
}

// connection is a connection's state as Inspect reads it.
type connection struct {
	info ClientInfo
	c    *conn
}

// connected returns the connections that have said Hello, of tenant
// (all tenants when tenant is empty).
func (s *Server) connected(tenant string) []connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []connection
	for c := range s.conns {
		if c.info != nil && (tenant == "" || c.info.Tenant == tenant) {
			out = append(out, connection{info: *c.info, c: c})
		}
	}
	return out
}

// device returns the Device of a connection to a ledger whose head is
// head (0: unknown, no lag).
func (s *Server) device(x connection, head int64) Device {
	st := &x.c.stats
	d := Device{Client: x.info.Client, Subject: x.info.Subject, Agent: x.info.Agent, App: x.info.App,
		Version: x.info.Version, Remote: x.info.Remote, Since: x.info.Since, Node: s.cfg.NodeID, Cursor: st.cursor.Load(), Live: x.c.live.Load(),
		Pushed: st.pushed.Load(), Rejected: st.rejected.Load(), Deferred: st.deferred.Load(),
		OutboundBytes: x.c.out.Load()}
	if head > d.Cursor {
		d.Lag = head - d.Cursor
	}
	if ns := st.seen.Load(); ns != 0 {
		d.LastSeen = time.Unix(0, ns)
	} else {
		d.LastSeen = x.info.Since
	}
	return d
}

// Inspect returns a snapshot of this node: its tenants with their heads,
// connections and rejections. It reads each listed tenant's head.
func (s *Server) Inspect(ctx context.Context) Snapshot {
	conns := s.connected("")
	byTenant := map[string][]connection{}
	for _, x := range conns {
		byTenant[x.info.Tenant] = append(byTenant[x.info.Tenant], x)
	}
	open := map[string]bool{}
	if tl, ok := s.cfg.Ledgers.(TenantLister); ok {
		for _, t := range tl.Tenants() {
			open[t] = true
		}
	}
	names := make([]string, 0, len(byTenant)+len(open))
	for t := range byTenant {
		names = append(names, t)
	}
	for t := range open {
		if byTenant[t] == nil {
			names = append(names, t)
		}
	}
	slices.Sort(names)
	snap := Snapshot{Node: s.cfg.NodeID, Time: s.cfg.Now(), Connections: len(conns),
		OutboundBytes: s.out.load(), SendBytes: int64(s.cfg.SendBytes), Tenants: []TenantSummary{}}
	if len(names) > maxInspectTenants {
		names, snap.Truncated = names[:maxInspectTenants], true
	}
	totals := s.insp.rejectionTotals()
	for _, t := range names {
		sum := TenantSummary{Tenant: t, Open: open[t], Connections: len(byTenant[t]), Rejections: totals[t]}
		if sum.Connections == 0 {
			sum.Idle = true
			snap.Tenants = append(snap.Tenants, sum)
			continue
		}
		head, err := s.inspectHead(ctx, t)
		if err != nil {
			sum.HeadError = err.Error()
		}
		sum.Head = head
		for _, x := range byTenant[t] {
			sum.MaxLag = max(sum.MaxLag, s.device(x, head).Lag)
		}
		snap.Tenants = append(snap.Tenants, sum)
	}
	return snap
}

// known reports whether this node serves a connection of tenant or holds
// its store open: only such a tenant is inspected, so that an inspection
// never creates a tenant's store.
func (s *Server) known(tenant string) bool {
	if len(s.connected(tenant)) > 0 {
		return true
	}
	if tl, ok := s.cfg.Ledgers.(TenantLister); ok {
		return slices.Contains(tl.Tenants(), tenant)
	}
	return false
}

// inspectHead returns tenant's head.
func (s *Server) inspectHead(ctx context.Context, tenant string) (int64, error) {
	l, release, err := s.cfg.Ledgers.Acquire(ctx, tenant)
	if err != nil {
		return 0, err
	}
	defer release()
	return l.Head(ctx)
}

// InspectTenant returns a snapshot of tenant on this node: its head,
// generation and digest, its connections, its limit latest events (1 to
// MaxInspectEvents; 0 means DefaultInspectEvents) and its latest
// rejections. It returns an error wrapping ErrUnknownTenant for a tenant
// this node neither serves a connection of nor holds open. The digest of
// a tenant's whole ledger is kept in the hub's digest cache, so the first
// inspection after a start reads the ledger once and later ones the events
// since.
func (s *Server) InspectTenant(ctx context.Context, tenant string, limit int) (TenantSnapshot, error) {
	switch {
	case limit == 0:
		limit = DefaultInspectEvents
	case limit < 0 || limit > MaxInspectEvents:
		return TenantSnapshot{}, fmt.Errorf("hub: inspect: limit %d outside 1..%d", limit, MaxInspectEvents)
	}
	if !s.known(tenant) {
		return TenantSnapshot{}, fmt.Errorf("%w %q on node %s", ErrUnknownTenant, tenant, s.cfg.NodeID)
	}
	l, release, err := s.cfg.Ledgers.Acquire(ctx, tenant)
	if err != nil {
		return TenantSnapshot{}, fmt.Errorf("hub: inspect %q: %w", tenant, err)
	}
	defer release()
	head, err := l.Head(ctx)
	if err != nil {
		return TenantSnapshot{}, fmt.Errorf("hub: inspect %q: head: %w", tenant, err)
	}
	snap := TenantSnapshot{Tenant: tenant, Node: s.cfg.NodeID, Time: s.cfg.Now(), Head: head,
		Devices: []Device{}, Events: []EventInfo{}}
	if snap.Generation, err = generationOf(ctx, l); err != nil {
		return TenantSnapshot{}, fmt.Errorf("hub: inspect %q: generation: %w", tenant, err)
	}
	all := scope{}
	d, err := s.digests.entry(tenant, snap.Generation, all).at(ctx, l, all, head, nil)
	if err != nil {
		return TenantSnapshot{}, fmt.Errorf("hub: inspect %q: digest: %w", tenant, err)
	}
	snap.Digest = d.String()
	for e, err := range l.ReadAll(ctx, max(0, head-int64(limit)), limit) {
		if err != nil {
			return TenantSnapshot{}, fmt.Errorf("hub: inspect %q: read: %w", tenant, err)
		}
		if e.Position > head {
			break
		}
		snap.Events = append(snap.Events, eventInfo(e))
	}
	slices.Reverse(snap.Events)
	for _, x := range s.connected(tenant) {
		snap.Devices = append(snap.Devices, s.device(x, head))
	}
	slices.SortFunc(snap.Devices, func(a, b Device) int {
		return cmp.Or(cmp.Compare(a.Client, b.Client), a.Since.Compare(b.Since))
	})
	snap.DevicesTotal = len(snap.Devices)
	if len(snap.Devices) > maxInspectDevices {
		snap.Devices = snap.Devices[:maxInspectDevices:maxInspectDevices]
	}
	snap.Rejections, snap.RejectionsTotal = s.insp.tenantRejections(tenant)
	if snap.Rejections == nil {
		snap.Rejections = []Rejection{}
	}
	return snap, nil
}

// eventInfo describes e without its payload.
func eventInfo(e eventstore.Event) EventInfo {
	return EventInfo{Position: e.Position, ID: e.ID, Stream: e.Stream, Type: e.Type, Schema: e.Schema, Origin: e.Origin,
		Created: e.Created.Time().UTC(), Bytes: len(e.Data) + len(e.Meta), Outdated: e.Outdated, Unknown: e.Unknown,
		Revived: e.Revived}
}
