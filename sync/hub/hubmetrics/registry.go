package hubmetrics

import (
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferrysync/ferry/sync/hub"
)

// StatsSource is what the gauges are read from at each scrape:
// *hub.Server.
type StatsSource interface {
	Stats() hub.Stats
}

// NewRegistry returns a new private registry holding m, the gauges of
// srv's Stats (read at each scrape), the Go runtime and process
// collectors, and extra (e.g. PgxPool).
func NewRegistry(m *Metrics, srv StatsSource, extra ...prometheus.Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	cs := append(m.collectors(), NewStatsCollector(srv),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range append(cs, extra...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// Handler serves reg's metrics in the Prometheus exposition format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// statsCollector turns a hub's Stats into gauges, read at each scrape.
type statsCollector struct {
	src StatsSource

	conns, clients, tenants, outbound, sendBytes, recent, maxConns, shutting *prometheus.Desc
}

// NewStatsCollector returns a collector of src's Stats as gauges:
// connections open (and by protocol version), tenants connected, and the
// outbound bytes held against the memory budget (Config.SendBytes).
func NewStatsCollector(src StatsSource) prometheus.Collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &statsCollector{
		src:      src,
		conns:    desc("connections_open", "Connections open now (upgraded, not yet ended)."),
		clients:  desc("clients", "Connections that have said Hello, by negotiated protocol version.", "protocol"),
		tenants:  desc("tenants_connected", "Tenants with at least one connection on this node."),
		outbound: desc("outbound_bytes", "Bytes of outbound frames held now (being built, queued or written), against outbound_budget_bytes."),
		sendBytes: desc("outbound_budget_bytes",
			"The hub's memory budget for outbound frames (--send-buffer, Config.SendBytes)."),
		recent:   desc("recent_log_bytes", "Memory the tenants' recent logs hold (live fan-out cache)."),
		maxConns: desc("max_connections", "Connections this node serves at once (--max-conns); negative: no bound."),
		shutting: desc("shutting_down", "1 once the hub's shutdown has begun."),
	}
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.clients, c.tenants, c.outbound, c.sendBytes, c.recent, c.maxConns, c.shutting} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.conns, float64(st.Conns))
	for v, n := range st.Clients {
		gauge(c.clients, float64(n), strconv.Itoa(v))
	}
	gauge(c.tenants, float64(st.Tenants))
	gauge(c.outbound, float64(st.OutboundBytes))
	gauge(c.sendBytes, float64(st.SendBytes))
	gauge(c.recent, float64(st.RecentBytes))
	gauge(c.maxConns, float64(st.MaxConns))
	shutting := 0.0
	if st.ShuttingDown {
		shutting = 1
	}
	gauge(c.shutting, shutting)
}

// pgxPoolCollector exports a pgxpool.Pool's Stat.
type pgxPoolCollector struct {
	stat func() *pgxpool.Stat

	acquired, idle, total, max, constructing                 *prometheus.Desc
	acquires, emptyAcquires, canceled, newConns, acquireWait *prometheus.Desc
	emptyAcquireWait, lifetimeDestroyed, idleDestroyed       *prometheus.Desc
}

// PgxPool returns a collector of the PostgreSQL pool's statistics, read
// from stat (pgxpool.Pool.Stat) at each scrape, as ferry_hub_pg_pool_*.
func PgxPool(stat func() *pgxpool.Stat) prometheus.Collector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "pg_pool", name), help, nil, nil)
	}
	return &pgxPoolCollector{
		stat:              stat,
		acquired:          desc("acquired_conns", "Connections acquired now."),
		idle:              desc("idle_conns", "Idle connections now."),
		total:             desc("conns", "Connections open now (acquired, idle and being constructed)."),
		max:               desc("max_conns", "The pool's maximum size."),
		constructing:      desc("constructing_conns", "Connections being established now."),
		acquires:          desc("acquires_total", "Successful acquires."),
		emptyAcquires:     desc("empty_acquires_total", "Acquires that waited for a connection because the pool was empty."),
		canceled:          desc("canceled_acquires_total", "Acquires cancelled by their context."),
		newConns:          desc("new_conns_total", "Connections opened."),
		acquireWait:       desc("acquire_seconds_total", "Total time spent in successful acquires."),
		emptyAcquireWait:  desc("empty_acquire_wait_seconds_total", "Total time acquires waited for a connection from an empty pool."),
		lifetimeDestroyed: desc("max_lifetime_destroys_total", "Connections closed for exceeding their maximum lifetime."),
		idleDestroyed:     desc("max_idle_destroys_total", "Connections closed for exceeding their maximum idle time."),
	}
}

// Describe implements prometheus.Collector.
func (c *pgxPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.max, c.constructing, c.acquires, c.emptyAcquires,
		c.canceled, c.newConns, c.acquireWait, c.emptyAcquireWait, c.lifetimeDestroyed, c.idleDestroyed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *pgxPoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	if s == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.acquired, float64(s.AcquiredConns()))
	gauge(c.idle, float64(s.IdleConns()))
	gauge(c.total, float64(s.TotalConns()))
	gauge(c.max, float64(s.MaxConns()))
	gauge(c.constructing, float64(s.ConstructingConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.canceled, float64(s.CanceledAcquireCount()))
	counter(c.newConns, float64(s.NewConnsCount()))
	counter(c.acquireWait, s.AcquireDuration().Seconds())
	counter(c.emptyAcquireWait, s.EmptyAcquireWaitTime().Seconds())
	counter(c.lifetimeDestroyed, float64(s.MaxLifetimeDestroyCount()))
	counter(c.idleDestroyed, float64(s.MaxIdleDestroyCount()))
}
