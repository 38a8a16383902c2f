package protocol

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

const (
	fastID1 = "01J9ZQ3W5E8Y7X6V5T4S3R2Q1P"
	fastID2 = "01J9ZQ3W5E8Y7X6V5T4S3R2Q1Q"
)

// slowDecode is Decode without the fast path.
func slowDecode(frame []byte, l Limits) (Message, *Error) {
	l = l.WithDefaults()
	if len(frame) > l.MaxFrameBytes {
		return nil, errorf(CodeFrameTooLarge, "too large")
	}
	m, err := parseJSON(frame, l)
	if err != nil {
		return nil, err
	}
	if err := m.check(l); err != nil {
		return nil, err
	}
	return m, nil
}

// checkSameDecode asserts that Decode and the encoding/json path agree on
// frame, and that the fast decoder, when it accepts frame, parses exactly
// what encoding/json parses. It returns whether the fast decoder took it.
func checkSameDecode(t testing.TB, frame []byte, l Limits) bool {
	t.Helper()
	l = l.WithDefaults()
	want, werr := slowDecode(frame, l)
	got, gerr := decode(frame, l)
	if werr != nil {
		require.NotNil(t, gerr, "frame %q: want error %v", frame, werr)
		require.Equal(t, werr, gerr, "frame %q", frame)
	} else {
		require.Nil(t, gerr, "frame %q", frame)
		require.Equal(t, want, got, "frame %q", frame)
	}
	fast, ok := decodeFast(frame, l)
	if ok {
		parsed, err := parseJSON(frame, l)
		require.Nil(t, err, "fast decoder accepted a frame encoding/json refuses: %q", frame)
		require.Equal(t, parsed, fast, "frame %q", frame)
	}
	return ok
}

func fastEvent(id string, hub int64) string {
	return `{"id":"` + id + `","stream":"task/42","type":"task:created","schema":1,"data":{"title":"x","n":[1,2.5e3,-0]},` +
		`"meta":{"actor":"ada"},"created":"0191dd9dec000003","origin":"laptop-1"` +
		map[bool]string{true: fmt.Sprintf(`,"hub_position":%d`, hub), false: ""}[hub != 0] + `}`
}

func TestFastCodecKnowsEvent(t *testing.T) {
	assert.Equal(t, eventSignature, signature(reflect.TypeFor[eventstore.Event]()),
		"eventstore.Event changed: update the fast codec (jsondecode.go, jsonencode.go) and eventSignature")
	assert.True(t, fastEvents)
}

func TestFastDecodeMatchesJSON(t *testing.T) {
	push := func(events ...string) string {
		return `{"v":1,"type":"push","body":{"batch":"b","events":[` + strings.Join(events, ",") + `]}}`
	}
	e1 := fastEvent(fastID1, 0)
	withField := func(field string) string { return strings.Replace(e1, `{"id"`, `{`+field+`,"id"`, 1) }
	tests := []struct {
		name  string
		frame string
		fast  bool // the fast decoder takes it
	}{
		{"push", push(e1, fastEvent(fastID2, 0)), true},
		{"ack", `{"v":1,"type":"ack","body":{"batch":"b","results":[{"id":"` + fastID1 + `","hub_position":7,"duplicate":true},` +
			`{"id":"` + fastID2 + `","code":"forbidden_stream","reason":"nope"}]}}`, true},
		{"events", `{"v":1,"type":"events","body":{"events":[` + fastEvent(fastID1, 3) + `],"cursor":4}}`, true},
		{"live", `{"v":1,"type":"live","body":{"events":[` + fastEvent(fastID1, 3) + `],"cursor":3}}`, true},
		{"live empty list", `{"v":1,"type":"live","body":{"events":[],"cursor":3}}`, true},
		{"live without events", `{"v":1,"type":"live","body":{"cursor":3}}`, true},
		{"whitespace everywhere", " \n{ \"v\" : 1 ,\t\"type\" : \"push\" , \"body\" : { \"batch\" : \"b\" , \"events\" : [ " +
			strings.ReplaceAll(strings.ReplaceAll(e1, ":", " : "), ",", " ,\r\n ") + " ] } } \n", true},
		{"local facts dropped", push(withField(`"position":9,"hydrated":true,"outdated":false,"rejected":true`)), true},
		{"defaults filled", push(`{"id":"` + fastID1 + `","stream":"s","type":"t","origin":"o","created":"0000000000000001"}`), true},
		{"null data", push(strings.Replace(e1, `"data":{"title":"x","n":[1,2.5e3,-0]}`, `"data":null`, 1)), true},
		{"upper-case hex created", push(strings.Replace(e1, "0191dd9dec000003", "0191DD9DEC000003", 1)), true},
		{"unknown fields skipped", `{"v":1,"x":{"a":[1,{"b":null}]},"type":"push","y":"z","body":{"batch":"b","more":[true,false],"events":[` +
			withField(`"future":{"k":"v\u00e9\n"}`) + `]}}`, true},
		{"utf-8 strings", push(strings.Replace(e1, `"task/42"`, `"tâche/42 ✓"`, 1)), true},
		{"escapes in data", push(strings.Replace(e1, `"title":"x"`, `"title":"a\"b\\c\u0041\n"`, 1)), true},
		{"hub position on push is refused by validation", push(fastEvent(fastID1, 5)), true},
		{"invalid event is refused by validation", push(strings.Replace(e1, `"origin":"laptop-1"`, `"origin":""`, 1)), true},
		{"invalid utf-8 in data", push(strings.Replace(e1, `"title":"x"`, "\"title\":\"\xff\"", 1)), true},

		// Left to encoding/json.
		{"escaped string", push(strings.Replace(e1, `"task/42"`, `"task\/42"`, 1)), false},
		{"escaped key", push(strings.Replace(e1, `"stream"`, `"str\u0065am"`, 1)), false},
		{"upper-case key", push(strings.Replace(e1, `"stream"`, `"Stream"`, 1)), false},
		{"unicode-folded key", push(strings.Replace(e1, `"stream"`, `"ſtream"`, 1)), false},
		{"upper-case envelope key", strings.Replace(push(e1), `"v":1`, `"V":1`, 1), false},
		{"duplicate key", push(strings.Replace(e1, `"stream":"task/42"`, `"stream":"a","stream":"b"`, 1)), false},
		{"duplicate envelope key", strings.Replace(push(e1), `"v":1`, `"v":1,"v":1`, 1), false},
		{"body before type", `{"v":1,"body":{"batch":"b","events":[` + e1 + `]},"type":"push"}`, false},
		{"null string", push(strings.Replace(e1, `"stream":"task/42"`, `"stream":null`, 1)), false},
		{"null events", `{"v":1,"type":"push","body":{"batch":"b","events":null}}`, false},
		{"float schema", push(strings.Replace(e1, `"schema":1`, `"schema":1.0`, 1)), false},
		{"exponent schema", push(strings.Replace(e1, `"schema":1`, `"schema":1e0`, 1)), false},
		{"leading zero", push(strings.Replace(e1, `"schema":1`, `"schema":01`, 1)), false},
		{"overflow", push(strings.Replace(e1, `"schema":1`, `"schema":9223372036854775808`, 1)), false},
		{"min int", `{"v":1,"type":"live","body":{"events":[],"cursor":-9223372036854775808}}`, true},
		{"string schema", push(strings.Replace(e1, `"schema":1`, `"schema":"1"`, 1)), false},
		{"invalid utf-8 in stream", push(strings.Replace(e1, `"task/42"`, "\"task\xff\"", 1)), false},
		{"control character", push(strings.Replace(e1, `"task/42"`, "\"task\x01\"", 1)), false},
		{"created too short", push(strings.Replace(e1, "0191dd9dec000003", "0191dd9dec0003", 1)), false},
		{"created not hex", push(strings.Replace(e1, "0191dd9dec000003", "0191dd9dec00000g", 1)), false},
		{"trailing garbage", push(e1) + "x", false},
		{"two values", push(e1) + "{}", false},
		{"truncated", push(e1)[:200], false},
		{"bad literal in data", push(strings.Replace(e1, `"n":[1,2.5e3,-0]`, `"n":tru`, 1)), false},
		{"bad number in data", push(strings.Replace(e1, `"n":[1,2.5e3,-0]`, `"n":1.`, 1)), false},
		{"bad escape in data", push(strings.Replace(e1, `"title":"x"`, `"title":"\x"`, 1)), false},
		{"short unicode escape", push(strings.Replace(e1, `"title":"x"`, `"title":"\u12"`, 1)), false},
		{"trailing comma", push(e1 + ","), false},
		{"missing version", `{"type":"push","body":{"batch":"b","events":[` + e1 + `]}}`, false},
		{"version 2", `{"v":2,"type":"push","body":{"batch":"b","events":[` + e1 + `]}}`, false},
		{"other type", `{"v":1,"type":"ping","body":{"nonce":"n"}}`, false},
		{"list body", `{"v":1,"type":"push","body":[]}`, false},
		{"deep data", push(strings.Replace(e1, `"meta":{"actor":"ada"}`,
			`"meta":`+strings.Repeat("[", maxFastDepth+1)+strings.Repeat("]", maxFastDepth+1), 1)), false},
		{"too many events", push(e1, e1, e1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := Limits{}
			if tc.name == "too many events" {
				l.MaxEventsPerBatch = 2
			}
			assert.Equal(t, tc.fast, checkSameDecode(t, []byte(tc.frame), l))
		})
	}
}

// TestFastDecodeDoesNotAlias checks that decoded events share no memory
// with the frame, and that an event's Data cannot grow into the next one's.
func TestFastDecodeDoesNotAlias(t *testing.T) {
	frame := []byte(`{"v":1,"type":"push","body":{"batch":"b","events":[` + fastEvent(fastID1, 0) + `,` + fastEvent(fastID2, 0) + `]}}`)
	m, err := Decode(frame, Limits{})
	require.NoError(t, err)
	events := m.(*Push).Events
	want := string(events[1].Data)
	_ = append(events[0].Data, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
	_ = append(events[0].Meta, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
	assert.Equal(t, want, string(events[1].Data))
	for i := range frame {
		frame[i] = ' '
	}
	assert.Equal(t, fastID1, events[0].ID)
	assert.Equal(t, "task/42", events[0].Stream)
	assert.JSONEq(t, `{"actor":"ada"}`, string(events[0].Meta))
}

// testMessages returns messages for the encoder tests, including strings
// that need escaping and events not in wire form.
func testMessages() []Message {
	e := eventstore.Event{ID: fastID1, Stream: "task/42", Type: "task:created", Schema: 1,
		Data: json.RawMessage(`{"title":"buy <milk> & eggs"}`), Meta: json.RawMessage(`{}`),
		Created: eventstore.MakeTimestamp(1_726_000_000_000, 3), Origin: "laptop-1"}
	odd := e
	odd.ID = fastID2
	odd.Stream = "q\"\\/\b\f\n\r\t\x00\x1f\x7f<>&\u2028\u2029é\xff\xfe end"
	odd.Type = "✓ \xed\xa0\x80"
	odd.Origin = ""
	odd.Schema, odd.Data, odd.Meta = 0, nil, json.RawMessage(" { \"a\" : [ 1 , \"x y\\\"\" ] } ")
	odd.Position, odd.Hydrated, odd.Outdated, odd.Rejected = 7, true, true, true
	neg := e
	neg.Schema, neg.HubPosition, neg.Created = -5, -1, ^eventstore.Timestamp(0)
	withHub := func(evs []eventstore.Event, hub int64) []eventstore.Event {
		out := append([]eventstore.Event(nil), evs...)
		for i := range out {
			out[i].HubPosition = hub + int64(i)
		}
		return out
	}
	all := []eventstore.Event{e, odd, neg}
	return []Message{
		&Push{Batch: "b-1", Events: all},
		&Push{Batch: "\x00<&>\u2028", Events: nil},
		&Push{Batch: "", Events: []eventstore.Event{}},
		&Events{Events: withHub(all, 10), Cursor: 99},
		&Events{},
		&Live{Events: withHub(all, 1<<62), Cursor: -3},
		&Live{Events: []eventstore.Event{}},
		&Ack{Batch: "b", Results: []AckResult{
			{ID: fastID1, HubPosition: 3},
			{ID: fastID2, HubPosition: 4, Duplicate: true},
			{ID: "x\n", Code: CodeForbiddenStream, Reason: "stream \"a\" <out>"},
			{Duplicate: true, HubPosition: -1},
		}},
		&Ack{},
	}
}

func TestFastEncodeMatchesJSON(t *testing.T) {
	for _, m := range testMessages() {
		want, err := encodeJSON(m)
		require.NoError(t, err)
		got, ok := encodeFast(m)
		require.True(t, ok, "%#v", m)
		assert.Equal(t, string(want), string(got))
	}
}

func TestFastEncodeInvalidData(t *testing.T) {
	for _, data := range []string{"", "{", `{"a":}`, "[1,]", "nul", `"x`, "1 2", "\x00"} {
		m := &Push{Batch: "b", Events: []eventstore.Event{{ID: fastID1, Data: json.RawMessage(data)}}}
		_, ok := encodeFast(m)
		assert.False(t, ok, "%q", data)
		_, err := Encode(m)
		assert.Error(t, err, "%q", data)
	}
}

// FuzzFastCodec checks the fast decoder and encoder against encoding/json:
// whatever the fast decoder accepts, encoding/json parses to the same
// message, Decode agrees with the encoding/json path on every frame, and
// the fast encoder writes what encoding/json writes.
func FuzzFastCodec(f *testing.F) {
	golden, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(f, err)
	for _, path := range golden {
		b, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(b)
	}
	for _, m := range testMessages() {
		frame, err := encodeJSON(m)
		require.NoError(f, err)
		f.Add(frame)
	}
	f.Add([]byte(`{"v":1,"type":"push","body":{"batch":"b","events":[` + fastEvent(fastID1, 0) + `]}}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, l := range []Limits{{}, {MaxEventsPerBatch: 2}} {
			checkSameDecode(t, frame, l)
			m, err := parseJSON(frame, l.WithDefaults())
			if err != nil {
				continue
			}
			want, werr := encodeJSON(m)
			got, ok := encodeFast(m)
			if !ok {
				continue
			}
			require.NoError(t, werr)
			require.Equal(t, string(want), string(got))
		}
	})
}

// The fast decoder sizes a list by the bytes left in the frame, up to 64
// entries: a live frame of one event, or an ack of one result, does not get
// room for 64 (10 KiB per live event at 100 clients was most of the
// garbage of a process running them), and no frame gets more than before.
func TestFastDecodeListCapacity(t *testing.T) {
	live, err := os.ReadFile(filepath.Join("testdata", "live.json"))
	require.NoError(t, err)
	m, ok := decodeFast(live, DefaultLimits())
	require.True(t, ok)
	events := m.(*Live).Events
	require.Len(t, events, 1)
	assert.LessOrEqual(t, cap(events), 4)

	ack, err := Encode(&Ack{Batch: "b-1", Results: []AckResult{{ID: fastID1, HubPosition: 7}}})
	require.NoError(t, err)
	m, ok = decodeFast(ack, DefaultLimits())
	require.True(t, ok)
	assert.LessOrEqual(t, cap(m.(*Ack).Results), 2)

	// One large event gets no more room than before the hint (64).
	big, err := Encode(&Live{Events: []eventstore.Event{{ID: fastID1, Stream: "s", Type: "t", Schema: 1,
		Data: []byte(`"` + strings.Repeat("x", 8<<10) + `"`), Created: eventstore.Timestamp(1 << 40), HubPosition: 1}}, Cursor: 1})
	require.NoError(t, err)
	m, ok = decodeFast(big, DefaultLimits())
	require.True(t, ok)
	assert.LessOrEqual(t, cap(m.(*Live).Events), 64)

	for _, n := range []int{2, 37, 500} {
		evs := make([]eventstore.Event, n)
		for i := range evs {
			evs[i] = eventstore.Event{ID: eventstore.NewID(), Stream: "s", Type: "t", Schema: 1,
				Data: []byte(`{}`), Created: eventstore.Timestamp(1 << 40), HubPosition: int64(i + 1)}
		}
		frame, err := Encode(&Events{Events: evs, Cursor: int64(n)})
		require.NoError(t, err)
		m, ok := decodeFast(frame, DefaultLimits())
		require.True(t, ok)
		got := m.(*Events).Events
		require.Len(t, got, n)
		assert.LessOrEqual(t, cap(got), 2*n, "%d events", n)
		// Events after the first share their repeated strings.
		assert.Same(t, unsafe.StringData(got[1].Stream), unsafe.StringData(got[n-1].Stream), "%d events", n)
	}
}
