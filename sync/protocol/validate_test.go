package protocol_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type decodeCase struct {
	name   string
	frame  string
	limits protocol.Limits
	want   protocol.Code // "" means the frame is valid
}

// encodeMut encodes the golden message of type typ after mutating it. Encode
// does not validate, so invalid messages can be built this way.
func encodeMut[M protocol.Message](t *testing.T, typ string, mut func(m M)) string {
	t.Helper()
	m := golden()[typ].(M)
	mut(m)
	frame, err := protocol.Encode(m)
	require.NoError(t, err)
	return string(frame)
}

func events(n int, hub func(i int) int64) []protocol.Event {
	out := make([]protocol.Event, n)
	for i := range out {
		out[i] = wireEvent(fmt.Sprintf("01J9ZQ3W5E8Y7X6V5T4S3R%04d", i), hub(i))
	}
	return out
}

func pushEvent(t *testing.T, mut func(e *protocol.Event)) string {
	t.Helper()
	return encodeMut(t, "push", func(m *protocol.Push) { mut(&m.Events[1]) })
}

func decodeCases(t *testing.T) []decodeCase {
	const (
		pv   = protocol.CodeProtocolViolation
		inv  = protocol.CodeInvalidEvent
		many = protocol.CodeTooManyEvents
	)
	long := strings.Repeat("x", protocol.MaxNameBytes+1)
	body := func(typ, body string) string { return `{"v":1,"type":"` + typ + `","body":` + body + `}` }
	small := protocol.Limits{MaxEventsPerBatch: 2}
	zero := func(int) int64 { return 0 }
	asc := func(i int) int64 { return int64(i + 1) }
	return []decodeCase{
		// Framing.
		{"frame too large", `{"v":1,"type":"ping","body":{}}`, protocol.Limits{MaxFrameBytes: 10}, protocol.CodeFrameTooLarge},
		{"frame too large checked before parsing", strings.Repeat("{", 65), protocol.Limits{MaxFrameBytes: 64}, protocol.CodeFrameTooLarge},
		{"frame at the limit", `{"v":1,"type":"ping","body":{}}`, protocol.Limits{MaxFrameBytes: 31}, ""},
		{"empty frame", ``, protocol.Limits{}, pv},
		{"not json", `hello`, protocol.Limits{}, pv},
		{"truncated json", `{"v":1,"type":"ping","body":{}`, protocol.Limits{}, pv},
		{"top-level list", `[1]`, protocol.Limits{}, pv},
		{"top-level null", `null`, protocol.Limits{}, pv},
		{"missing version", `{"type":"ping","body":{}}`, protocol.Limits{}, pv},
		{"version as string", `{"v":"1","type":"ping","body":{}}`, protocol.Limits{}, pv},
		{"unsupported version", `{"v":4,"type":"ping","body":{}}`, protocol.Limits{}, protocol.CodeUnsupportedVersion},
		{"negative version", `{"v":-1,"type":"ping","body":{}}`, protocol.Limits{}, protocol.CodeUnsupportedVersion},
		{"missing type", `{"v":1,"body":{}}`, protocol.Limits{}, pv},
		{"unknown type", body("subscribe", `{}`), protocol.Limits{}, pv},
		{"missing body", `{"v":1,"type":"ping"}`, protocol.Limits{}, pv},
		{"null body", body("ping", `null`), protocol.Limits{}, pv},
		{"list body", body("ping", `[]`), protocol.Limits{}, pv},
		{"string body", body("ping", `"x"`), protocol.Limits{}, pv},
		{"unknown fields ignored", `{"v":1,"type":"ping","extra":[1,2],"body":{"nonce":"a","future":{"x":[]}}}`, protocol.Limits{}, ""},

		// Hello.
		{"hello until not after cursor", encodeMut(t, "hello", func(m *protocol.Hello) { m.Cursor, m.Until = 10, 10 }), protocol.Limits{}, pv},
		{"hello negative until", encodeMut(t, "hello", func(m *protocol.Hello) { m.Until = -1 }), protocol.Limits{}, pv},
		{"hello parts without until", encodeMut(t, "hello", func(m *protocol.Hello) { m.Parts = 4 }), protocol.Limits{}, pv},
		{"hello too many parts", encodeMut(t, "hello", func(m *protocol.Hello) { m.Until, m.Parts = 9, protocol.MaxDigestParts+1 }), protocol.Limits{}, pv},
		{"hello range read", encodeMut(t, "hello", func(m *protocol.Hello) { m.Cursor, m.Until, m.Parts = 3, 9, 2 }), protocol.Limits{}, ""},
		{"hello malformed digest", encodeMut(t, "hello", func(m *protocol.Hello) { m.Digest = "12-xyz" }), protocol.Limits{}, pv},
		{"hello digest", encodeMut(t, "hello", func(m *protocol.Hello) { m.Digest = "3-0123456789abcdef0123456789abcdef" }), protocol.Limits{}, ""},
		{"welcome malformed digests", encodeMut(t, "welcome", func(m *protocol.Welcome) { m.Digests = []string{"0-00000000000000000000000000000000", "x"} }), protocol.Limits{}, pv},
		{"welcome too many digests", encodeMut(t, "welcome", func(m *protocol.Welcome) {
			m.Digests = make([]string, protocol.MaxDigestParts+1)
		}), protocol.Limits{}, pv},
		{"caught_up malformed digest", encodeMut(t, "caught_up", func(m *protocol.CaughtUp) { m.Digest = "1-" }), protocol.Limits{}, pv},
		{"hello no versions", encodeMut(t, "hello", func(m *protocol.Hello) { m.Versions = nil }), protocol.Limits{}, pv},
		{"hello too many versions", encodeMut(t, "hello", func(m *protocol.Hello) { m.Versions = make([]int, protocol.MaxVersions+1) }), protocol.Limits{}, pv},
		{"hello zero version", encodeMut(t, "hello", func(m *protocol.Hello) { m.Versions = []int{1, 0} }), protocol.Limits{}, pv},
		{"hello versions not a list", body("hello", `{"versions":1,"client":"c"}`), protocol.Limits{}, pv},
		{"hello only unknown versions", encodeMut(t, "hello", func(m *protocol.Hello) { m.Versions = []int{7} }), protocol.Limits{}, ""},
		{"hello missing client", encodeMut(t, "hello", func(m *protocol.Hello) { m.Client = "" }), protocol.Limits{}, pv},
		{"hello client too long", encodeMut(t, "hello", func(m *protocol.Hello) { m.Client = long }), protocol.Limits{}, pv},
		{"hello negative cursor", encodeMut(t, "hello", func(m *protocol.Hello) { m.Cursor = -1 }), protocol.Limits{}, pv},
		{"hello too many prefixes", encodeMut(t, "hello", func(m *protocol.Hello) {
			m.Streams = make([]string, protocol.MaxPullPrefixes+1)
			for i := range m.Streams {
				m.Streams[i] = "p"
			}
		}), protocol.Limits{}, pv},
		{"hello empty prefix", encodeMut(t, "hello", func(m *protocol.Hello) { m.Streams = []string{""} }), protocol.Limits{}, pv},
		{"hello prefix too long", encodeMut(t, "hello", func(m *protocol.Hello) { m.Streams = []string{strings.Repeat("s", eventstore.MaxStreamLen+1)} }), protocol.Limits{}, pv},
		{"hello agent too long", encodeMut(t, "hello", func(m *protocol.Hello) { m.Agent = long }), protocol.Limits{}, pv},

		// Welcome.
		{"welcome unsupported version", encodeMut(t, "welcome", func(m *protocol.Welcome) { m.Version = 4 }), protocol.Limits{}, protocol.CodeUnsupportedVersion},
		{"welcome missing tenant", encodeMut(t, "welcome", func(m *protocol.Welcome) { m.Tenant = "" }), protocol.Limits{}, pv},
		{"welcome missing node", encodeMut(t, "welcome", func(m *protocol.Welcome) { m.Node = "" }), protocol.Limits{}, pv},
		{"welcome negative head", encodeMut(t, "welcome", func(m *protocol.Welcome) { m.Head = -5 }), protocol.Limits{}, pv},
		{"welcome missing limits", encodeMut(t, "welcome", func(m *protocol.Welcome) { m.Limits = protocol.Limits{} }), protocol.Limits{}, pv},
		{"welcome limits too small", encodeMut(t, "welcome", func(m *protocol.Welcome) { m.Limits.MaxFrameBytes = 1000 }), protocol.Limits{}, pv},
		{"welcome empty prefix", encodeMut(t, "welcome", func(m *protocol.Welcome) { m.Streams = []string{"a", ""} }), protocol.Limits{}, pv},

		// Push.
		{"push missing batch", encodeMut(t, "push", func(m *protocol.Push) { m.Batch = "" }), protocol.Limits{}, pv},
		{"push batch too long", encodeMut(t, "push", func(m *protocol.Push) { m.Batch = long }), protocol.Limits{}, pv},
		{"push no events", encodeMut(t, "push", func(m *protocol.Push) { m.Events = nil }), protocol.Limits{}, pv},
		{"push empty events", body("push", `{"batch":"b","events":[]}`), protocol.Limits{}, pv},
		{"push events not a list", body("push", `{"batch":"b","events":{}}`), protocol.Limits{}, pv},
		{"push too many events", encodeMut(t, "push", func(m *protocol.Push) { m.Events = events(3, zero) }), small, many},
		{"push too many empty objects", body("push", `{"batch":"b","events":[{},{},{}]}`), small, many},
		{"push at the event limit", encodeMut(t, "push", func(m *protocol.Push) { m.Events = events(2, zero) }), small, ""},
		{"push event too large", pushEvent(t, func(e *protocol.Event) { e.Data = json.RawMessage(`"` + strings.Repeat("a", 60) + `"`) }),
			protocol.Limits{MaxEventBytes: 64}, protocol.CodeEventTooLarge},
		{"push event with hub position", pushEvent(t, func(e *protocol.Event) { e.HubPosition = 3 }), protocol.Limits{}, inv},
		{"push event bad id", pushEvent(t, func(e *protocol.Event) { e.ID = "nope" }), protocol.Limits{}, inv},
		{"push event missing id", pushEvent(t, func(e *protocol.Event) { e.ID = "" }), protocol.Limits{}, inv},
		{"push event missing stream", pushEvent(t, func(e *protocol.Event) { e.Stream = "" }), protocol.Limits{}, inv},
		{"push event stream too long", pushEvent(t, func(e *protocol.Event) { e.Stream = strings.Repeat("s", eventstore.MaxStreamLen+1) }), protocol.Limits{}, inv},
		{"push event missing type", pushEvent(t, func(e *protocol.Event) { e.Type = "" }), protocol.Limits{}, inv},
		{"push event missing origin", pushEvent(t, func(e *protocol.Event) { e.Origin = "" }), protocol.Limits{}, inv},
		{"push event missing created", pushEvent(t, func(e *protocol.Event) { e.Created = 0 }), protocol.Limits{}, inv},
		{"push event negative schema", pushEvent(t, func(e *protocol.Event) { e.Schema = -1 }), protocol.Limits{}, inv},
		{"push event malformed created", body("push", `{"batch":"b","events":[{"id":"`+id1+`","stream":"s","type":"t","origin":"o","created":"zz"}]}`), protocol.Limits{}, pv},
		{"push event data not utf-8", body("push", `{"batch":"b","events":[{"id":"`+id1+`","stream":"s","type":"t","origin":"o","created":"0000000000000001","data":"`+"\xff"+`"}]}`), protocol.Limits{}, inv},
		{"push minimal event", body("push", `{"batch":"b","events":[{"id":"`+id1+`","stream":"s","type":"t","origin":"o","created":"0000000000000001"}]}`), protocol.Limits{}, ""},

		// Ack.
		{"ack missing batch", encodeMut(t, "ack", func(m *protocol.Ack) { m.Batch = "" }), protocol.Limits{}, pv},
		{"ack no results", encodeMut(t, "ack", func(m *protocol.Ack) { m.Results = nil }), protocol.Limits{}, pv},
		{"ack too many results", encodeMut(t, "ack", func(m *protocol.Ack) {}), small, many},
		{"ack bad id", encodeMut(t, "ack", func(m *protocol.Ack) { m.Results[0].ID = "x" }), protocol.Limits{}, pv},
		{"ack negative position", encodeMut(t, "ack", func(m *protocol.Ack) { m.Results[0].HubPosition = -1 }), protocol.Limits{}, pv},
		{"ack neither position nor code", encodeMut(t, "ack", func(m *protocol.Ack) { m.Results[0].HubPosition = 0 }), protocol.Limits{}, pv},
		{"ack rejected with position", encodeMut(t, "ack", func(m *protocol.Ack) { m.Results[2].HubPosition = 9 }), protocol.Limits{}, pv},
		{"ack rejected duplicate", encodeMut(t, "ack", func(m *protocol.Ack) { m.Results[2].Duplicate = true }), protocol.Limits{}, pv},
		{"ack malformed code", encodeMut(t, "ack", func(m *protocol.Ack) { m.Results[2].Code = "Not Allowed" }), protocol.Limits{}, pv},
		{"ack unknown code accepted", encodeMut(t, "ack", func(m *protocol.Ack) { m.Results[2].Code = "quota_exceeded" }), protocol.Limits{}, ""},
		{"ack reason without code", encodeMut(t, "ack", func(m *protocol.Ack) { m.Results[0].Reason = "ok" }), protocol.Limits{}, pv},
		{"ack reason too long", encodeMut(t, "ack", func(m *protocol.Ack) { m.Results[2].Reason = strings.Repeat("r", protocol.MaxReasonBytes+1) }), protocol.Limits{}, pv},

		// Events and Live.
		{"events empty with cursor", encodeMut(t, "events", func(m *protocol.Events) { m.Events = nil }), protocol.Limits{}, ""},
		{"events too many", encodeMut(t, "events", func(m *protocol.Events) { m.Events = events(3, asc) }), small, many},
		{"events negative cursor", encodeMut(t, "events", func(m *protocol.Events) { m.Events, m.Cursor = nil, -1 }), protocol.Limits{}, pv},
		{"events missing hub position", encodeMut(t, "events", func(m *protocol.Events) { m.Events[0].HubPosition = 0 }), protocol.Limits{}, pv},
		{"events out of hub order", encodeMut(t, "events", func(m *protocol.Events) { m.Events[1].HubPosition = m.Events[0].HubPosition }), protocol.Limits{}, pv},
		{"events cursor behind", encodeMut(t, "events", func(m *protocol.Events) { m.Cursor = 1043 }), protocol.Limits{}, pv},
		{"events invalid event", encodeMut(t, "events", func(m *protocol.Events) { m.Events[0].Origin = "" }), protocol.Limits{}, inv},
		{"events event too large", encodeMut(t, "events", func(m *protocol.Events) {}), protocol.Limits{MaxEventBytes: 10}, protocol.CodeEventTooLarge},
		{"live too many", encodeMut(t, "live", func(m *protocol.Live) { m.Events, m.Cursor = events(3, asc), 3 }), small, many},
		{"live out of order", encodeMut(t, "live", func(m *protocol.Live) {
			m.Events = events(2, func(i int) int64 { return int64(10 - i) })
		}), protocol.Limits{}, pv},
		{"live cursor behind", encodeMut(t, "live", func(m *protocol.Live) { m.Cursor = 1 }), protocol.Limits{}, pv},

		// CaughtUp, Error, Ping, Pong.
		{"caught_up negative head", encodeMut(t, "caught_up", func(m *protocol.CaughtUp) { m.Head = -1 }), protocol.Limits{}, pv},
		{"error missing code", encodeMut(t, "error", func(m *protocol.Error) { m.Code = "" }), protocol.Limits{}, pv},
		{"error malformed code", encodeMut(t, "error", func(m *protocol.Error) { m.Code = "BAD-code" }), protocol.Limits{}, pv},
		{"error code too long", encodeMut(t, "error", func(m *protocol.Error) { m.Code = protocol.Code(strings.Repeat("c", 65)) }), protocol.Limits{}, pv},
		{"error message too long", encodeMut(t, "error", func(m *protocol.Error) { m.Message = strings.Repeat("m", protocol.MaxMessageBytes+1) }), protocol.Limits{}, pv},
		{"error bad event id", encodeMut(t, "error", func(m *protocol.Error) { m.EventID = "x" }), protocol.Limits{}, pv},
		{"error negative retry", encodeMut(t, "error", func(m *protocol.Error) { m.RetryAfterMS = -1 }), protocol.Limits{}, pv},
		{"error retry too long", encodeMut(t, "error", func(m *protocol.Error) { m.RetryAfterMS = protocol.MaxRetryAfterMS + 1 }), protocol.Limits{}, pv},
		{"ping nonce too long", encodeMut(t, "ping", func(m *protocol.Ping) { m.Nonce = long }), protocol.Limits{}, pv},
		{"pong nonce too long", encodeMut(t, "pong", func(m *protocol.Pong) { m.Nonce = long }), protocol.Limits{}, pv},
	}
}

var sentinelOf = map[protocol.Code]error{
	protocol.CodeProtocolViolation:  protocol.ErrProtocolViolation,
	protocol.CodeUnsupportedVersion: protocol.ErrUnsupportedVersion,
	protocol.CodeFrameTooLarge:      protocol.ErrFrameTooLarge,
	protocol.CodeTooManyEvents:      protocol.ErrTooManyEvents,
	protocol.CodeEventTooLarge:      protocol.ErrEventTooLarge,
	protocol.CodeInvalidEvent:       protocol.ErrInvalidEvent,
}

func TestDecodeValidation(t *testing.T) {
	for _, tc := range decodeCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			m, err := protocol.Decode([]byte(tc.frame), tc.limits)
			if tc.want == "" {
				require.NoError(t, err)
				require.NotNil(t, m)
				return
			}
			require.Error(t, err)
			assert.Nil(t, m)
			var perr *protocol.Error
			require.True(t, errors.As(err, &perr), "want *protocol.Error, got %T", err)
			assert.Equal(t, tc.want, perr.Code, "error: %v", err)
			assert.ErrorIs(t, err, sentinelOf[tc.want])
			assert.False(t, perr.Resume, "a decode error is the sender's fault")

			// The error can be sent back as it is.
			frame, err := protocol.Encode(perr)
			require.NoError(t, err)
			back, err := protocol.Decode(frame, protocol.Limits{})
			require.NoError(t, err, "decode errors must be valid error messages")
			assert.Equal(t, perr.Code, back.(*protocol.Error).Code)
		})
	}
}

func TestValidateMatchesDecode(t *testing.T) {
	for name, m := range golden() {
		assert.NoError(t, protocol.Validate(m, protocol.Limits{}), name)
	}
	push := golden()["push"].(*protocol.Push)
	push.Events[0].Stream = ""
	err := protocol.Validate(push, protocol.Limits{})
	assert.ErrorIs(t, err, protocol.ErrInvalidEvent)
	assert.ErrorIs(t, err, eventstore.ErrInvalidEvent, "the eventstore cause is kept")
	var ve *eventstore.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "stream", ve.Field)
	var perr *protocol.Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, id1, perr.EventID)
}

func TestDecodeUnknownTypeIsQuoted(t *testing.T) {
	_, err := protocol.Decode([]byte(`{"v":1,"type":"`+strings.Repeat("z", 500)+`","body":{}}`), protocol.Limits{})
	var perr *protocol.Error
	require.ErrorAs(t, err, &perr)
	assert.LessOrEqual(t, len(perr.Message), protocol.MaxMessageBytes)
	assert.Contains(t, perr.Message, "unknown message type")
}

func TestDecodeHostileLists(t *testing.T) {
	// A frame full of tiny list entries is counted and refused before the
	// slice is allocated: decoding 200,000 "{}" into events would take
	// about 40 MB; the bound is a few copies of the frame.
	for _, tc := range []struct{ typ, field, fill string }{
		{"push", "events", "{}"},
		{"events", "events", "{}"},
		{"live", "events", "{}"},
		{"ack", "results", "{}"},
		{"hello", "versions", "1"},
		{"hello", "streams", `"a"`},
		{"welcome", "streams", `"a"`},
	} {
		t.Run(tc.typ+"."+tc.field, func(t *testing.T) {
			list := "[" + strings.Repeat(tc.fill+",", 200_000) + tc.fill + "]"
			frame := []byte(fmt.Sprintf(`{"v":1,"type":%q,"body":{%q:%s}}`, tc.typ, tc.field, list))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := protocol.Decode(frame, protocol.Limits{})
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4*len(frame)), "bytes allocated")
		})
	}
}
