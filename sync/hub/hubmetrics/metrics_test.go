package hubmetrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/hub"
	"github.com/ferrysync/ferry/sync/hub/hubmetrics"
	"github.com/ferrysync/ferry/sync/protocol"
)

// fixedStats is a StatsSource with fixed Stats.
type fixedStats hub.Stats

func (f fixedStats) Stats() hub.Stats { return hub.Stats(f) }

// sample returns the value of the sample of family name whose labels
// include labels (name=value pairs), or -1 when there is none.
func sample(t *testing.T, families []*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

func TestMetricsCount(t *testing.T) {
	m := hubmetrics.New()
	reg, err := hubmetrics.NewRegistry(m, fixedStats{Conns: 3, Clients: map[int]int{2: 1, 3: 2}, Tenants: 2,
		OutboundBytes: 1500, SendBytes: 64 << 20, MaxConns: 2048})
	require.NoError(t, err)

	m.ConnOpened()
	m.ConnOpened()
	m.ConnClosed("")
	m.ConnClosed(protocol.CodeSlowConsumer)
	m.ConnRefused(hub.RefusedMaxSubject)
	m.Pushed(3, 900)
	m.Pulled(false, 10, 4000)
	m.Pulled(true, 1, 300)
	m.Pulled(true, 2, 500)
	m.Rejected(protocol.CodeForbiddenStream)
	m.CaughtUp(10, 20*time.Millisecond)
	m.LiveDelay(2 * time.Millisecond)
	m.StoreDone(hub.StoreInsert, time.Millisecond, false)
	m.StoreDone(hub.StoreInsert, time.Millisecond, true)
	m.StoreDone(hub.StoreOp("unknown"), time.Millisecond, true) // ignored

	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ferry_hub_connections_opened_total", nil, 2},
		{"ferry_hub_connections_closed_total", []string{"code", "none"}, 1},
		{"ferry_hub_connections_closed_total", []string{"code", "slow_consumer"}, 1},
		{"ferry_hub_connections_refused_total", []string{"reason", "max_subject"}, 1},
		{"ferry_hub_connections_refused_total", []string{"reason", "unauthorized"}, 0},
		{"ferry_hub_push_messages_total", nil, 1},
		{"ferry_hub_push_events_total", nil, 3},
		{"ferry_hub_push_bytes_total", nil, 900},
		{"ferry_hub_pull_events_total", []string{"mode", "catchup"}, 10},
		{"ferry_hub_pull_events_total", []string{"mode", "live"}, 3},
		{"ferry_hub_pull_messages_total", []string{"mode", "live"}, 2},
		{"ferry_hub_pull_bytes_total", []string{"mode", "live"}, 800},
		{"ferry_hub_rejected_events_total", []string{"code", "forbidden_stream"}, 1},
		{"ferry_hub_catchup_lag_events", nil, 1},
		{"ferry_hub_catchup_duration_seconds", nil, 1},
		{"ferry_hub_live_delay_seconds", nil, 1},
		{"ferry_hub_store_duration_seconds", []string{"op", "insert"}, 2},
		{"ferry_hub_store_duration_seconds", []string{"op", "head"}, 0},
		{"ferry_hub_store_errors_total", []string{"op", "insert"}, 1},
		{"ferry_hub_connections_open", nil, 3},
		{"ferry_hub_clients", []string{"protocol", "3"}, 2},
		{"ferry_hub_tenants_connected", nil, 2},
		{"ferry_hub_outbound_bytes", nil, 1500},
		{"ferry_hub_outbound_budget_bytes", nil, 64 << 20},
		{"ferry_hub_max_connections", nil, 2048},
		{"ferry_hub_shutting_down", nil, 0},
	} {
		assert.Equal(t, c.want, sample(t, fams, c.name, c.labels...), "%s %v", c.name, c.labels)
	}
	assert.Positive(t, sample(t, fams, "go_goroutines"))
}

func TestHandlerServesExposition(t *testing.T) {
	m := hubmetrics.New()
	reg, err := hubmetrics.NewRegistry(m, fixedStats{})
	require.NoError(t, err)
	m.Pushed(1, 100)
	ts := httptest.NewServer(hubmetrics.Handler(reg))
	defer ts.Close()
	resp, err := http.Get(ts.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "\nferry_hub_push_events_total 1\n")
	assert.Contains(t, string(body), "# TYPE ferry_hub_live_delay_seconds histogram")
	assert.True(t, strings.Contains(string(body), "process_"), "process collector")
}

func TestRegistriesArePrivate(t *testing.T) {
	// Two registries side by side (two hubs in one process): no clash,
	// unlike registering on the global default twice.
	for range 2 {
		_, err := hubmetrics.NewRegistry(hubmetrics.New(), fixedStats{})
		require.NoError(t, err)
	}
}
