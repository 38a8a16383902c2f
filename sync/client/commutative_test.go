package client_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// stockDevice is a device whose read model sums stock adjustments with an
// On handler.
type stockDevice struct {
	store deviceStore
	proj  *projector.Projector
	sync  *client.Replicator
}

// stock returns the device's read-model total for item.
func (d stockDevice) stock(t *testing.T, item string) int {
	t.Helper()
	v, err := d.store.State(context.Background(), "stock/"+item)
	require.NoError(t, err)
	n, err := strconv.Atoi(string(v))
	require.NoError(t, err)
	return n
}

func newStockDevice(t *testing.T, h *testHub, name string, commutative bool) stockDevice {
	t.Helper()
	reg := eventstore.NewRegistry(eventstore.EventType{Name: "stock:adjusted", Commutative: commutative})
	store := openSQLiteWith(t, filepath.Join(t.TempDir(), name+".db"), eventstore.Config{Origin: name, Registry: reg})
	hs := projector.NewHandlers()
	projector.On(hs, "stock:adjusted", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d struct{ By int }) error {
		kv := eventstore.KeyValuesOf(tx)
		key := "stock/" + e.Stream
		n := 0
		if v, err := kv.State(ctx, key); err == nil {
			n, _ = strconv.Atoi(string(v))
		}
		return kv.SetState(ctx, key, []byte(strconv.Itoa(n+d.By)))
	})
	p, err := projector.New("stock", store, projector.Options{Handlers: hs})
	require.NoError(t, err)
	r := replicator(t, h, store, "acme", func(c *client.Config) { c.Projectors = []client.Projector{p} })
	return stockDevice{store: store, proj: p, sync: r}
}

// adjust appends an adjustment of item stamped at ms milliseconds past
// base, offline, and projects it.
func (d stockDevice) adjust(t *testing.T, item string, by int, base eventstore.Timestamp, ms int64) {
	t.Helper()
	ctx := context.Background()
	e := eventstore.Event{Type: "stock:adjusted", Data: []byte(fmt.Sprintf(`{"By":%d}`, by)),
		Created: eventstore.MakeTimestamp(base.Millis()+ms, 0)}
	_, err := d.store.Append(ctx, eventstore.Write{Stream: item, Events: []eventstore.Event{e}})
	require.NoError(t, err)
	_, err = d.proj.CatchUp(ctx)
	require.NoError(t, err)
}

// TestCommutativeConverges: two warehouses adjust one item's stock offline,
// interleaved in time, then sync. With the type declared Commutative every
// adjustment reaches the On handler on both devices and they agree on the
// total; without it, last-writer-wins makes the late arrivals Outdated and
// the totals silently differ (the second case documents that).
func TestCommutativeConverges(t *testing.T) {
	for _, commutative := range []bool{true, false} {
		t.Run(fmt.Sprintf("commutative=%v", commutative), func(t *testing.T) {
			h := newTestHub(t)
			a := newStockDevice(t, h, "warehouse-a", commutative)
			b := newStockDevice(t, h, "warehouse-b", commutative)
			base := eventstore.TimestampOf(time.Now().Add(-time.Minute))
			a.adjust(t, "nuts", +5, base, 1)
			b.adjust(t, "nuts", -2, base, 2)
			a.adjust(t, "nuts", +3, base, 3)
			b.adjust(t, "nuts", +4, base, 4)
			syncOnce(t, a.sync)
			syncOnce(t, b.sync)
			syncOnce(t, a.sync)
			if commutative {
				assert.Equal(t, 10, a.stock(t, "nuts"))
				assert.Equal(t, 10, b.stock(t, "nuts"))
				return
			}
			assert.NotEqual(t, a.stock(t, "nuts"), b.stock(t, "nuts"), "last-writer-wins loses adjustments on one side")
		})
	}
}
