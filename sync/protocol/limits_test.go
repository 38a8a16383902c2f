package protocol_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimitsDefaults(t *testing.T) {
	d := protocol.DefaultLimits()
	require.NoError(t, d.Validate())
	assert.Equal(t, 4<<20, d.MaxFrameBytes)
	assert.Equal(t, 500, d.MaxEventsPerBatch)
	assert.Equal(t, eventstore.MaxEventBytes, d.MaxEventBytes)
	assert.Equal(t, d, protocol.Limits{}.WithDefaults())
	assert.Equal(t, d, protocol.Limits{MaxFrameBytes: -1, MaxEventsPerBatch: -1, MaxEventBytes: -1}.WithDefaults())
	custom := protocol.Limits{MaxFrameBytes: 1 << 20, MaxEventsPerBatch: 100, MaxEventBytes: 64 << 10}
	assert.Equal(t, custom, custom.WithDefaults())
	assert.NoError(t, custom.Validate())
}

func TestLimitsValidate(t *testing.T) {
	d := protocol.DefaultLimits()
	with := func(f func(l *protocol.Limits)) protocol.Limits { l := d; f(&l); return l }
	tests := map[string]protocol.Limits{
		"zero frame":            with(func(l *protocol.Limits) { l.MaxFrameBytes = 0 }),
		"frame over hard max":   with(func(l *protocol.Limits) { l.MaxFrameBytes = protocol.HardMaxFrameBytes + 1 }),
		"zero events":           with(func(l *protocol.Limits) { l.MaxEventsPerBatch = 0 }),
		"events over hard max":  with(func(l *protocol.Limits) { l.MaxEventsPerBatch = protocol.HardMaxEventsPerBatch + 1 }),
		"zero event bytes":      with(func(l *protocol.Limits) { l.MaxEventBytes = 0 }),
		"event over store max":  with(func(l *protocol.Limits) { l.MaxEventBytes = eventstore.MaxEventBytes + 1 }),
		"frame below one event": with(func(l *protocol.Limits) { l.MaxFrameBytes = l.MaxEventBytes }),
		"frame below full ack":  {MaxFrameBytes: 1 << 20, MaxEventsPerBatch: 1000, MaxEventBytes: 1 << 10},
	}
	for name, l := range tests {
		assert.Error(t, l.Validate(), name)
	}
}

func TestCheckEvent(t *testing.T) {
	l := protocol.Limits{MaxEventBytes: 100}
	e := wireEvent(id1, 0)
	assert.NoError(t, l.CheckEvent(e))

	e.Schema, e.Data, e.Meta = 0, nil, nil
	assert.NoError(t, l.CheckEvent(e), "store defaults are applied")

	big := wireEvent(id1, 0)
	big.Data = json.RawMessage(`"` + strings.Repeat("a", 100) + `"`)
	err := l.CheckEvent(big)
	assert.ErrorIs(t, err, protocol.ErrEventTooLarge)
	var perr *protocol.Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, id1, perr.EventID)

	bad := wireEvent("not-an-id", 0)
	err = l.CheckEvent(bad)
	assert.ErrorIs(t, err, protocol.ErrInvalidEvent)
	assert.ErrorIs(t, err, eventstore.ErrInvalidEvent)
	require.ErrorAs(t, err, &perr)
	assert.Empty(t, perr.EventID, "an invalid id is not echoed")
}

// hostileEvent is an event whose strings all escape six-fold in JSON.
func hostileEvent(id string, dataBytes int) protocol.Event {
	e := wireEvent(id, 0)
	e.Stream = strings.Repeat("\x01", eventstore.MaxStreamLen)
	e.Type = strings.Repeat("\x02", eventstore.MaxTypeLen)
	e.Origin = strings.Repeat("\x03", eventstore.MaxOriginLen)
	e.Meta = json.RawMessage(`{}`)
	e.Data = json.RawMessage(`"` + strings.Repeat("<", dataBytes-2) + `"`)
	e.Schema = 1 << 40
	e.Created = ^protocol.Timestamp(0)
	return e
}

func TestEventFrameBytesIsAnUpperBound(t *testing.T) {
	for _, e := range []protocol.Event{
		wireEvent(id1, 1),
		hostileEvent(id1, 10),
		hostileEvent(id1, eventstore.MaxEventBytes-2),
		{ID: id1},
	} {
		e.HubPosition = 1 << 62
		one, err := protocol.Encode(&protocol.Live{Events: []protocol.Event{e}, Cursor: e.HubPosition})
		require.NoError(t, err)
		e2 := e
		e2.HubPosition++
		two, err := protocol.Encode(&protocol.Live{Events: []protocol.Event{e, e2}, Cursor: e2.HubPosition})
		require.NoError(t, err)
		assert.LessOrEqual(t, len(two)-len(one), protocol.EventFrameBytes(e))
		assert.LessOrEqual(t, protocol.EventFrameBytes(e), protocol.MaxEventOverheadBytes+len(e.Data)+len(e.Meta)+8)
	}
}

func TestBatchSizer(t *testing.T) {
	t.Run("event count", func(t *testing.T) {
		b := protocol.BatchSizer{Limits: protocol.Limits{MaxEventsPerBatch: 3}}
		e := wireEvent(id1, 0)
		for range 3 {
			assert.True(t, b.Add(e))
		}
		assert.False(t, b.Add(e))
		assert.Equal(t, 3, b.Len())
		b.Reset()
		assert.Zero(t, b.Len())
		assert.True(t, b.Add(e))
	})
	t.Run("first event always fits", func(t *testing.T) {
		b := protocol.BatchSizer{Limits: protocol.Limits{MaxFrameBytes: 10}}
		assert.True(t, b.Add(wireEvent(id1, 0)))
		assert.False(t, b.Add(wireEvent(id2, 0)))
	})
	t.Run("full frames stay under the limit", func(t *testing.T) {
		l := protocol.Limits{MaxFrameBytes: 256 << 10, MaxEventsPerBatch: 100, MaxEventBytes: 64 << 10}
		require.NoError(t, l.Validate())
		b := protocol.BatchSizer{Limits: l}
		var batch []protocol.Event
		for i := 0; ; i++ {
			e := hostileEvent(eventstore.NewID(), 1000+(i%7)*8000)
			require.NoError(t, l.CheckEvent(e))
			if !b.Add(e) {
				break
			}
			batch = append(batch, e)
		}
		require.Greater(t, len(batch), 1)
		frame, err := protocol.Encode(&protocol.Push{Batch: strings.Repeat("\x00", protocol.MaxNameBytes), Events: batch})
		require.NoError(t, err)
		assert.LessOrEqual(t, len(frame), l.MaxFrameBytes)
		_, err = protocol.Decode(frame, l)
		assert.NoError(t, err)
	})
	t.Run("largest event fits a default frame", func(t *testing.T) {
		e := hostileEvent(id1, eventstore.MaxEventBytes-2)
		require.NoError(t, protocol.DefaultLimits().CheckEvent(e))
		frame, err := protocol.Encode(&protocol.Push{Batch: strings.Repeat("\x00", protocol.MaxNameBytes), Events: []protocol.Event{e}})
		require.NoError(t, err)
		assert.LessOrEqual(t, len(frame), protocol.DefaultMaxFrameBytes)
		_, err = protocol.Decode(frame, protocol.Limits{})
		assert.NoError(t, err)
	})
}

func TestLargestAckFits(t *testing.T) {
	l := protocol.DefaultLimits()
	ack := &protocol.Ack{Batch: strings.Repeat("\x00", protocol.MaxNameBytes)}
	for range l.MaxEventsPerBatch {
		ack.Results = append(ack.Results, protocol.AckResult{
			ID:     eventstore.NewID(),
			Code:   protocol.Code(strings.Repeat("x", 64)),
			Reason: strings.Repeat("\x00", protocol.MaxReasonBytes),
		})
	}
	frame, err := protocol.Encode(ack)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(frame), protocol.BatchOverheadBytes+l.MaxEventsPerBatch*protocol.MaxAckResultBytes)
	_, err = protocol.Decode(frame, l)
	assert.NoError(t, err)
}
