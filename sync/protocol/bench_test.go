package protocol_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/testutil"
	"github.com/ferrysync/ferry/sync/protocol"
)

// benchPush returns a push of n events like the hub benchmark's.
func benchPush(n int) *protocol.Push {
	events := make([]protocol.Event, n)
	for i, e := range testutil.BenchEvents(eventstore.NewClock(), n) {
		events[i] = protocol.FromStored(e)
	}
	return &protocol.Push{Batch: "b-1", Events: events}
}

// rawPush is the shape a plain json.Unmarshal of a push frame fills: the
// baseline, with no validation, normalisation or limits.
type rawPush struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	Body struct {
		Batch  string           `json:"batch"`
		Events []protocol.Event `json:"events"`
	} `json:"body"`
}

// BenchmarkDecodePush500 decodes (and validates) a 500-event push frame and,
// in the same loop, json.Unmarshals it into plain structs. It reports the
// time of each per frame and x_json, how many times faster Decode is than
// the bare json.Unmarshal (ns/op is the sum of both).
func BenchmarkDecodePush500(b *testing.B) {
	frame, err := protocol.Encode(benchPush(500))
	require.NoError(b, err)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	var dec, raw time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		m, err := protocol.Decode(frame, protocol.Limits{})
		t1 := time.Now()
		var r rawPush
		rerr := json.Unmarshal(frame, &r)
		t2 := time.Now()
		if err != nil || rerr != nil || len(m.(*protocol.Push).Events) != 500 || len(r.Body.Events) != 500 {
			b.Fatal(err, rerr)
		}
		dec += t1.Sub(t0)
		raw += t2.Sub(t1)
		n++
	}
	b.ReportMetric(float64(dec.Nanoseconds())/float64(n), "ns/decode")
	b.ReportMetric(float64(raw.Nanoseconds())/float64(n), "ns/json")
	b.ReportMetric(raw.Seconds()/dec.Seconds(), "x_json")
}

// BenchmarkEncodePush500 encodes a 500-event push frame and, in the same
// loop, json.Marshals the same envelope. It reports the time of each per
// frame and x_json, how many times faster Encode is than json.Marshal (ns/op
// is the sum of both).
func BenchmarkEncodePush500(b *testing.B) {
	push := benchPush(500)
	var r rawPush
	r.V, r.Type, r.Body.Batch, r.Body.Events = protocol.Version, string(protocol.TypePush), push.Batch, push.Events
	frame, err := protocol.Encode(push)
	require.NoError(b, err)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	var enc, raw time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		f, err := protocol.Encode(push)
		t1 := time.Now()
		rf, rerr := json.Marshal(&r)
		t2 := time.Now()
		if err != nil || rerr != nil || len(f) == 0 || len(rf) == 0 {
			b.Fatal(err, rerr)
		}
		enc += t1.Sub(t0)
		raw += t2.Sub(t1)
		n++
	}
	b.ReportMetric(float64(enc.Nanoseconds())/float64(n), "ns/encode")
	b.ReportMetric(float64(raw.Nanoseconds())/float64(n), "ns/json")
	b.ReportMetric(raw.Seconds()/enc.Seconds(), "x_json")
}
