package protocol_test

import (
	"encoding/json"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// Fixed ULIDs and timestamps, so encodings are stable.
const (
	id1 = "01J9ZQ3W5E8Y7X6V5T4S3R2Q1P"
	id2 = "01J9ZQ3W5E8Y7X6V5T4S3R2Q1Q"
	id3 = "01J9ZQ3W5E8Y7X6V5T4S3R2Q1R"
	id4 = "01J9ZQ3W5E8Y7X6V5T4S3R2Q1S"
)

var created = protocol.Timestamp(eventstore.MakeTimestamp(1_726_000_000_000, 3))

// wireEvent returns a valid event in wire form.
func wireEvent(id string, hubPos int64) protocol.Event {
	return protocol.Event{
		ID:          id,
		Stream:      "task/42",
		Type:        "task:created",
		Schema:      1,
		Data:        json.RawMessage(`{"title":"buy <milk> & eggs","tags":["home"]}`),
		Meta:        json.RawMessage(`{"actor":"ada","device":"laptop-1"}`),
		Created:     created,
		Origin:      "laptop-1",
		HubPosition: hubPos,
	}
}

// golden returns one valid message per type, keyed by golden file name.
func golden() map[string]protocol.Message {
	return map[string]protocol.Message{
		"hello": &protocol.Hello{Versions: []int{2, 1}, Client: "laptop-1", Cursor: 1041,
			Streams: []string{"task/"}, Agent: "ferry-demo/0.1", App: "notes/2.4.0"},
		"welcome": &protocol.Welcome{Version: 2, Tenant: "acme", Node: "syncd-a", Head: 2200,
			Limits: protocol.DefaultLimits(), Streams: []string{"task/", "project/"}, Time: 1_726_000_000_250},
		"push": &protocol.Push{Batch: "b-7",
			Events: []protocol.Event{wireEvent(id1, 0), wireEvent(id2, 0)}},
		"ack": &protocol.Ack{Batch: "b-7", Results: []protocol.AckResult{
			{ID: id1, HubPosition: 2201},
			{ID: id2, HubPosition: 1999, Duplicate: true},
			{ID: id3, Code: protocol.CodeForbiddenStream, Reason: `stream "admin/1" is outside the token's scope`},
			{ID: id4, Code: protocol.CodeDeferred, Reason: "created 2h0m0s ahead of the hub's clock", RetryAfterMS: 6_600_000},
		}},
		"events":    &protocol.Events{Events: []protocol.Event{wireEvent(id1, 1042), wireEvent(id2, 1044)}, Cursor: 1045},
		"caught_up": &protocol.CaughtUp{Head: 2200},
		"live":      &protocol.Live{Events: []protocol.Event{wireEvent(id3, 2202)}, Cursor: 2202},
		"error": &protocol.Error{Code: protocol.CodeSlowConsumer, Message: "send queue overflowed",
			RetryAfterMS: 250, Resume: true},
		"ping": &protocol.Ping{Nonce: "n-1"},
		"pong": &protocol.Pong{Nonce: "n-1"},
	}
}
