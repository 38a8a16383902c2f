package wirejson

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	fastID1 = "01J9ZQ3W5E8Y7X6V5T4S3R2Q1P"
	fastID2 = "01J9ZQ3W5E8Y7X6V5T4S3R2Q1Q"
)

// code is the code type the tests instantiate the codec with.
type code string

// testBounds are the protocol's bounds, with lists of at most max entries.
func testBounds(max int) Bounds {
	return Bounds{Supported: func(v int) bool { return v == 1 }, MaxEvents: max, MaxVersions: 16, MaxPrefixes: 64, MaxName: 128}
}

// checkSameDecode asserts that the fast decoder, when it accepts frame,
// parses exactly what encoding/json parses. It returns whether the fast
// decoder took it.
func checkSameDecode(t testing.TB, frame []byte, b Bounds) bool {
	t.Helper()
	fast, ok := decodeFast[code](frame, b)
	if ok {
		parsed, err := parseJSON[code](frame, b)
		require.Nil(t, err, "fast decoder accepted a frame encoding/json refuses: %q", frame)
		require.Equal(t, parsed, fast, "frame %q", frame)
	}
	got, _, err := Decode[code](frame, b)
	want, werr := parseJSON[code](frame, b)
	require.Equal(t, werr, err, "frame %q", frame)
	if err == nil {
		require.Equal(t, want, got, "frame %q", frame)
	}
	return ok
}

func fastEvent(id string, hub int64) string {
	return `{"id":"` + id + `","stream":"task/42","type":"task:created","schema":1,"data":{"title":"x","n":[1,2.5e3,-0]},` +
		`"meta":{"actor":"ada"},"created":"0191dd9dec000003","origin":"laptop-1"` +
		map[bool]string{true: fmt.Sprintf(`,"hub_position":%d`, hub), false: ""}[hub != 0] + `}`
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
		{"hub position on push (refused by validation)", push(fastEvent(fastID1, 5)), true},
		{"invalid event (refused by validation)", push(strings.Replace(e1, `"origin":"laptop-1"`, `"origin":""`, 1)), true},
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
			max := 500
			if tc.name == "too many events" {
				max = 2
			}
			assert.Equal(t, tc.fast, checkSameDecode(t, []byte(tc.frame), testBounds(max)))
		})
	}
}

// TestFastDecodeDoesNotAlias checks that decoded events share no memory
// with the frame, and that an event's Data cannot grow into the next one's.
func TestFastDecodeDoesNotAlias(t *testing.T) {
	frame := []byte(`{"v":1,"type":"push","body":{"batch":"b","events":[` + fastEvent(fastID1, 0) + `,` + fastEvent(fastID2, 0) + `]}}`)
	m, fast, err := Decode[code](frame, testBounds(500))
	require.Nil(t, err)
	require.True(t, fast)
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

// testMessages returns message bodies for the encoder tests, including
// strings that need escaping and events without the store defaults.
func testMessages() []any {
	e := Event{ID: fastID1, Stream: "task/42", Type: "task:created", Schema: 1,
		Data: json.RawMessage(`{"title":"buy <milk> & eggs"}`), Meta: json.RawMessage(`{}`),
		Created: Timestamp(1_726_000_000_000<<16 | 3), Origin: "laptop-1"}
	odd := e
	odd.ID = fastID2
	odd.Stream = "q\"\\/\b\f\n\r\t\x00\x1f\x7f<>&\u2028\u2029é\xff\xfe end"
	odd.Type = "✓ \xed\xa0\x80"
	odd.Origin = ""
	odd.Schema, odd.Data, odd.Meta = 0, nil, json.RawMessage(" { \"a\" : [ 1 , \"x y\\\"\" ] } ")
	neg := e
	neg.Schema, neg.HubPosition, neg.Created = -5, -1, ^Timestamp(0)
	withHub := func(evs []Event, hub int64) []Event {
		out := append([]Event(nil), evs...)
		for i := range out {
			out[i].HubPosition = hub + int64(i)
		}
		return out
	}
	all := []Event{e, odd, neg}
	return []any{
		&Push{Batch: "b-1", Events: all},
		&Push{Batch: "\x00<&>\u2028", Events: nil},
		&Push{Batch: "", Events: []Event{}},
		&Events{Events: withHub(all, 10), Cursor: 99},
		&Events{},
		&Live{Events: withHub(all, 1<<62), Cursor: -3},
		&Live{Events: []Event{}},
		&Ack[code]{Batch: "b", Results: []AckResult[code]{
			{ID: fastID1, HubPosition: 3},
			{ID: fastID2, HubPosition: 4, Duplicate: true},
			{ID: "x\n", Code: "forbidden_stream", Reason: "stream \"a\" <out>"},
			{Duplicate: true, HubPosition: -1},
		}},
		&Ack[code]{},
	}
}

// typeOf returns the message type of body.
func typeOf(body any) string {
	switch body.(type) {
	case *Push:
		return TypePush
	case *Ack[code]:
		return TypeAck
	case *Events:
		return TypeEvents
	case *Live:
		return TypeLive
	}
	return "other"
}

func TestFastEncodeMatchesJSON(t *testing.T) {
	for _, m := range testMessages() {
		want, err := encodeJSON(1, typeOf(m), m)
		require.NoError(t, err)
		got, ok := encodeFast[code](1, m)
		require.True(t, ok, "%#v", m)
		assert.Equal(t, string(want), string(got))
	}
}

func TestFastEncodeInvalidData(t *testing.T) {
	for _, data := range []string{"", "{", `{"a":}`, "[1,]", "nul", `"x`, "1 2", "\x00"} {
		m := &Push{Batch: "b", Events: []Event{{ID: fastID1, Data: json.RawMessage(data)}}}
		_, ok := encodeFast[code](1, m)
		assert.False(t, ok, "%q", data)
		_, err := Encode[code](1, TypePush, m)
		assert.Error(t, err, "%q", data)
	}
}

// FuzzFastCodec checks the fast decoder and encoder against encoding/json:
// whatever the fast decoder accepts, encoding/json parses to the same
// message, Decode agrees with the encoding/json path on every frame, and
// the fast encoder writes what encoding/json writes. The corpus holds the
// protocol's golden frames (seed-golden-*).
func FuzzFastCodec(f *testing.F) {
	for _, m := range testMessages() {
		frame, err := encodeJSON(1, typeOf(m), m)
		require.NoError(f, err)
		f.Add(frame)
	}
	f.Add([]byte(`{"v":1,"type":"push","body":{"batch":"b","events":[` + fastEvent(fastID1, 0) + `]}}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, b := range []Bounds{testBounds(500), testBounds(2)} {
			checkSameDecode(t, frame, b)
			m, err := parseJSON[code](frame, b)
			if err != nil {
				continue
			}
			want, werr := encodeJSON(1, typeOf(m), m)
			got, ok := encodeFast[code](1, m)
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
	b := testBounds(500)
	encode := func(body any) []byte {
		frame, err := Encode[code](1, typeOf(body), body)
		require.NoError(t, err)
		return frame
	}
	live := encode(&Live{Events: []Event{{ID: fastID1, Stream: "task/42", Type: "task:created", Schema: 1,
		Data: []byte(`{"title":"buy milk"}`), Meta: []byte(`{"actor":"ada"}`), Created: 1 << 40, Origin: "laptop-1", HubPosition: 3}}, Cursor: 3})
	m, ok := decodeFast[code](live, b)
	require.True(t, ok)
	events := m.(*Live).Events
	require.Len(t, events, 1)
	assert.LessOrEqual(t, cap(events), 4)

	ack := encode(&Ack[code]{Batch: "b-1", Results: []AckResult[code]{{ID: fastID1, HubPosition: 7}}})
	m, ok = decodeFast[code](ack, b)
	require.True(t, ok)
	assert.LessOrEqual(t, cap(m.(*Ack[code]).Results), 2)

	// One large event gets no more room than before the hint (64).
	big := encode(&Live{Events: []Event{{ID: fastID1, Stream: "s", Type: "t", Schema: 1,
		Data: []byte(`"` + strings.Repeat("x", 8<<10) + `"`), Created: 1 << 40, HubPosition: 1}}, Cursor: 1})
	m, ok = decodeFast[code](big, b)
	require.True(t, ok)
	assert.LessOrEqual(t, cap(m.(*Live).Events), 64)

	for _, n := range []int{2, 37, 500} {
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = Event{ID: fmt.Sprintf("01J9ZQ3W5E8Y7X6V5T4S%06d", i), Stream: "s", Type: "t", Schema: 1,
				Data: []byte(`{}`), Created: 1 << 40, HubPosition: int64(i + 1)}
		}
		m, ok := decodeFast[code](encode(&Events{Events: evs, Cursor: int64(n)}), b)
		require.True(t, ok)
		got := m.(*Events).Events
		require.Len(t, got, n)
		assert.LessOrEqual(t, cap(got), 2*n, "%d events", n)
		// Events after the first share their repeated strings.
		assert.Same(t, unsafe.StringData(got[1].Stream), unsafe.StringData(got[n-1].Stream), "%d events", n)
	}
}
