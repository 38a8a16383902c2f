// Package hubmetrics exports a sync hub's metrics in the Prometheus format:
// a hub.Observer built on prometheus/client_golang, the gauges of
// hub.Server.Stats, the PostgreSQL pool's statistics and the Go runtime's,
// on a private registry (never the global default one).
//
// Labels are bounded: a refusal reason, a protocol error code, a store
// operation, catch-up or live. No label names a tenant, a device or a
// stream.
//
//	m := hubmetrics.New()
//	srv, err := hub.New(hub.Config{..., Observer: m})
//	reg, err := hubmetrics.NewRegistry(m, srv)
//	mux.Handle("/metrics", hubmetrics.Handler(reg))
package hubmetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/protocol"
)

// namespace prefixes every metric of the hub.
const namespace = "ferry_hub"

// Metrics is a hub.Observer that counts in Prometheus metrics. Its methods
// are safe for concurrent use and do not block. Register it with
// NewRegistry.
type Metrics struct {
	opened  prometheus.Counter
	closed  *prometheus.CounterVec // by code
	refused *prometheus.CounterVec // by reason

	pushMessages, pushEvents, pushBytes prometheus.Counter
	pullMessages, pullEvents, pullBytes [2]prometheus.Counter // catch-up, live
	pullVecs                            []*prometheus.CounterVec

	rejected *prometheus.CounterVec // by code

	catchUpLag  prometheus.Histogram
	catchUpTime prometheus.Histogram
	liveDelay   prometheus.Histogram

	storeTime   [3]prometheus.Observer // head, insert, read_all
	storeErrors [3]prometheus.Counter
	storeVecs   []prometheus.Collector
}

var _ hub.Observer = (*Metrics)(nil)

// Pull modes, the values of the mode label.
const (
	modeCatchUp = "catchup"
	modeLive    = "live"
)

// New returns Metrics with every counter at zero.
func New() *Metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	}
	m := &Metrics{
		opened: counter("connections_opened_total", "Connections upgraded and admitted."),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "connections_closed_total",
			Help: `Connections ended, by the protocol error code the hub closed them with ("none": the client left or the socket failed).`},
			[]string{"code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "connections_refused_total",
			Help: "Requests for /sync refused before the upgrade, by reason."}, []string{"reason"}),
		pushMessages: counter("push_messages_total", "Push messages read from clients."),
		pushEvents:   counter("push_events_total", "Events in the Push messages read from clients."),
		pushBytes:    counter("push_bytes_total", "Bytes of the Push frames read from clients."),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "rejected_events_total",
			Help: "Pushed events the hub did not store, by the code of their AckResult (deferred included)."}, []string{"code"}),
		catchUpLag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "catchup_lag_events",
			Help:    "Events the ledger held beyond a client's cursor when it said Hello.",
			Buckets: []float64{0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000}}),
		catchUpTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "catchup_duration_seconds",
			Help:    "Time from a client's Hello to its CaughtUp being queued.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}), // 1 ms .. 262 s
		liveDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "live_delay_seconds",
			Help:    "Live propagation: from events known committed on this node to their Live frame written to a client's socket.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14)}), // 0.25 ms .. 2 s
	}
	pull := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, []string{"mode"})
	}
	msgs := pull("pull_messages_total", "Events (catch-up) and Live messages queued for clients.")
	events := pull("pull_events_total", "Events in the messages queued for clients.")
	bytes := pull("pull_bytes_total", "Bytes of the Events and Live frames queued for clients.")
	m.pullVecs = []*prometheus.CounterVec{msgs, events, bytes}
	for i, mode := range []string{modeCatchUp, modeLive} {
		m.pullMessages[i] = msgs.WithLabelValues(mode)
		m.pullEvents[i] = events.WithLabelValues(mode)
		m.pullBytes[i] = bytes.WithLabelValues(mode)
	}
	storeTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "store_duration_seconds",
		Help:    "Duration of the calls to the tenants' ledgers (one ReadAll page each), by operation.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)}, // 0.1 ms .. 2.4 s
		[]string{"op"})
	storeErrors := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "store_errors_total",
		Help: "Calls to the tenants' ledgers that failed (a rejected event is not a failure), by operation."}, []string{"op"})
	m.storeVecs = []prometheus.Collector{storeTime, storeErrors}
	for i, op := range storeOps {
		m.storeTime[i] = storeTime.WithLabelValues(string(op))
		m.storeErrors[i] = storeErrors.WithLabelValues(string(op))
	}
	for _, r := range refuseReasons { // present at zero, so rates work from the first refusal
		m.refused.WithLabelValues(string(r))
	}
	return m
}

// storeOps are the operations of the op label, in the order of
// Metrics.storeTime.
var storeOps = [3]hub.StoreOp{hub.StoreHead, hub.StoreInsert, hub.StoreReadAll}

var refuseReasons = []hub.RefuseReason{hub.RefusedUnauthorized, hub.RefusedForbidden, hub.RefusedNotWebSocket,
	hub.RefusedShutdown, hub.RefusedMaxConns, hub.RefusedMaxSubject, hub.RefusedStore, hub.RefusedUpgrade}

// collectors returns the metrics to register.
func (m *Metrics) collectors() []prometheus.Collector {
	cs := []prometheus.Collector{m.opened, m.closed, m.refused, m.pushMessages, m.pushEvents, m.pushBytes,
		m.rejected, m.catchUpLag, m.catchUpTime, m.liveDelay}
	for _, v := range m.pullVecs {
		cs = append(cs, v)
	}
	return append(cs, m.storeVecs...)
}

// ConnOpened implements hub.Observer.
func (m *Metrics) ConnOpened() { m.opened.Inc() }

// ConnClosed implements hub.Observer.
func (m *Metrics) ConnClosed(code protocol.Code) {
	if code == "" {
		code = "none"
	}
	m.closed.WithLabelValues(string(code)).Inc()
}

// ConnRefused implements hub.Observer.
func (m *Metrics) ConnRefused(reason hub.RefuseReason) {
	m.refused.WithLabelValues(string(reason)).Inc()
}

// Pushed implements hub.Observer.
func (m *Metrics) Pushed(events, bytes int) {
	m.pushMessages.Inc()
	m.pushEvents.Add(float64(events))
	m.pushBytes.Add(float64(bytes))
}

// Pulled implements hub.Observer.
func (m *Metrics) Pulled(live bool, events, bytes int) {
	i := 0
	if live {
		i = 1
	}
	m.pullMessages[i].Inc()
	m.pullEvents[i].Add(float64(events))
	m.pullBytes[i].Add(float64(bytes))
}

// Rejected implements hub.Observer.
func (m *Metrics) Rejected(code protocol.Code) { m.rejected.WithLabelValues(string(code)).Inc() }

// CaughtUp implements hub.Observer.
func (m *Metrics) CaughtUp(lag int64, took time.Duration) {
	m.catchUpLag.Observe(float64(lag))
	m.catchUpTime.Observe(took.Seconds())
}

// LiveDelay implements hub.Observer.
func (m *Metrics) LiveDelay(d time.Duration) { m.liveDelay.Observe(d.Seconds()) }

// StoreDone implements hub.Observer.
func (m *Metrics) StoreDone(op hub.StoreOp, took time.Duration, failed bool) {
	for i, o := range storeOps {
		if o == op {
			m.storeTime[i].Observe(took.Seconds())
			if failed {
				m.storeErrors[i].Inc()
			}
			return
		}
	}
}
