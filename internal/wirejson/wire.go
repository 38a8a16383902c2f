package wirejson

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The frames' JSON shapes. sync/protocol's message types have the same
// fields (without tags), so a *Push converts to a *protocol.Push and back;
// the compiler keeps the two in step.

// Message type names (the envelope's "type").
const (
	TypeHello    = "hello"
	TypeWelcome  = "welcome"
	TypePush     = "push"
	TypeAck      = "ack"
	TypeEvents   = "events"
	TypeCaughtUp = "caught_up"
	TypeLive     = "live"
	TypeError    = "error"
	TypePing     = "ping"
	TypePong     = "pong"
)

// Event is an event as it travels: the fields every copy shares, plus the
// hub position where the hub has assigned one. It is sync/protocol.Event.
type Event struct {
	// ID is the event's ULID, the idempotency key.
	ID string `json:"id"`
	// Stream is the entity the event belongs to.
	Stream string `json:"stream"`
	// Type names the event, e.g. "task:created".
	Type string `json:"type"`
	// Schema is the version of Type's payload (1 when sent as 0).
	Schema int `json:"schema"`
	// Data is the JSON payload ({} when sent as nil).
	Data json.RawMessage `json:"data"`
	// Meta is the JSON metadata ({} when sent as nil).
	Meta json.RawMessage `json:"meta"`
	// Created is the event's HLC timestamp (an eventstore.Timestamp).
	Created Timestamp `json:"created"`
	// Origin is the id of the node that created the event.
	Origin string `json:"origin"`
	// HubPosition is the event's position in the hub's ledger: 0 in a
	// push, set in events and live messages.
	HubPosition int64 `json:"hub_position,omitempty"`
}

// Timestamp is an HLC timestamp on the wire: 16 hex digits, as
// eventstore.Timestamp writes and parses them.
type Timestamp uint64

// MarshalText writes t as 16 lower-case hex digits.
func (t Timestamp) MarshalText() ([]byte, error) { return appendTimestamp(nil, t), nil }

// UnmarshalText parses 16 hex digits.
func (t *Timestamp) UnmarshalText(b []byte) error {
	if len(b) != 16 {
		return fmt.Errorf("timestamp %q: want 16 hex digits", b)
	}
	v, err := strconv.ParseUint(string(b), 16, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", b, err)
	}
	*t = Timestamp(v)
	return nil
}

// Hello is the shape of a hello body.
type Hello struct {
	Versions []int    `json:"versions"`
	Client   string   `json:"client"`
	Cursor   int64    `json:"cursor"`
	Streams  []string `json:"streams,omitempty"`
	Agent    string   `json:"agent,omitempty"`
	App      string   `json:"app,omitempty"`
	Digest   string   `json:"digest,omitempty"`
	Until    int64    `json:"until,omitempty"`
	Parts    int      `json:"parts,omitempty"`
}

// Limits is the shape of the limits a Welcome announces.
type Limits struct {
	MaxFrameBytes     int `json:"max_frame_bytes"`
	MaxEventsPerBatch int `json:"max_events_per_batch"`
	MaxEventBytes     int `json:"max_event_bytes"`
}

// Welcome is the shape of a welcome body.
type Welcome struct {
	Version int      `json:"version"`
	Tenant  string   `json:"tenant"`
	Node    string   `json:"node"`
	Head    int64    `json:"head"`
	Limits  Limits   `json:"limits"`
	Streams []string `json:"streams,omitempty"`
	Time    int64    `json:"time,omitempty"`
	Digests []string `json:"digests,omitempty"`
	// Generation is the tenant ledger's generation (protocol version 3).
	Generation string `json:"generation,omitempty"`
}

// Push is the shape of a push body.
type Push struct {
	Batch  string  `json:"batch"`
	Events []Event `json:"events"`
}

// Ack is the shape of an ack body; C is the protocol's code type.
type Ack[C ~string] struct {
	Batch   string         `json:"batch"`
	Results []AckResult[C] `json:"results"`
}

// AckResult is the hub's verdict on one pushed event: accepted with a hub
// position, or rejected with a code. It is sync/protocol.AckResult.
type AckResult[C ~string] struct {
	// ID is the event's id.
	ID string `json:"id"`
	// HubPosition is the event's position in the hub's ledger; set when
	// the event is accepted, 0 when it is rejected.
	HubPosition int64 `json:"hub_position,omitempty"`
	// Duplicate is true when the hub already held the event (a re-sent
	// batch); HubPosition is then the position it was first stored at.
	Duplicate bool `json:"duplicate,omitempty"`
	// Code is the rejection reason; empty when the event was accepted. A
	// rejected event is final: the client marks it rejected and does not
	// push it again. CodeDeferred is not a rejection: the event is pushed
	// again after RetryAfterMS.
	Code C `json:"code,omitempty"`
	// Reason explains a rejection.
	Reason string `json:"reason,omitempty"`
	// RetryAfterMS is set with CodeDeferred: how many milliseconds the
	// client should wait before pushing the event again.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

// CodeDeferred is the code of an event the hub did not store yet and asks
// to be pushed again after RetryAfterMS (its clock is too far ahead of the
// hub's): it is not a rejection.
const CodeDeferred = "deferred"

// Rejected reports whether the hub rejected the event for good.
func (r AckResult[C]) Rejected() bool { return r.Code != "" && r.Code != CodeDeferred }

// Deferred reports whether the hub asks for the event again later.
func (r AckResult[C]) Deferred() bool { return r.Code == CodeDeferred }

// Events is the shape of an events body (catch-up).
type Events struct {
	Events []Event `json:"events"`
	Cursor int64   `json:"cursor"`
}

// Live is the shape of a live body.
type Live struct {
	Events []Event `json:"events"`
	Cursor int64   `json:"cursor"`
}

// CaughtUp is the shape of a caught_up body.
type CaughtUp struct {
	Head   int64  `json:"head"`
	Digest string `json:"digest,omitempty"`
}

// Error is the shape of an error body; C is the protocol's code type.
type Error[C ~string] struct {
	Code         C      `json:"code"`
	Message      string `json:"message,omitempty"`
	EventID      string `json:"event_id,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
	Resume       bool   `json:"resume,omitempty"`
}

// Ping is the shape of a ping body.
type Ping struct {
	Nonce string `json:"nonce,omitempty"`
}

// Pong is the shape of a pong body.
type Pong struct {
	Nonce string `json:"nonce,omitempty"`
}
