package protocol

import "github.com/ferrysync/ferry/eventstore"

// Type names a message on the wire (the envelope's "type").
type Type string

// Message types.
const (
	// TypeHello is the client's opening message (*Hello).
	TypeHello Type = "hello"
	// TypeWelcome is the hub's answer to Hello (*Welcome).
	TypeWelcome Type = "welcome"
	// TypePush is a batch of client events (*Push).
	TypePush Type = "push"
	// TypeAck is the hub's answer to a Push (*Ack).
	TypeAck Type = "ack"
	// TypeEvents is a batch of catch-up events (*Events).
	TypeEvents Type = "events"
	// TypeCaughtUp is the end-of-backlog marker (*CaughtUp).
	TypeCaughtUp Type = "caught_up"
	// TypeLive is events committed after catch-up (*Live).
	TypeLive Type = "live"
	// TypeError is an error before closing (*Error).
	TypeError Type = "error"
	// TypePing is a liveness check (*Ping).
	TypePing Type = "ping"
	// TypePong is the answer to Ping (*Pong).
	TypePong Type = "pong"
)

// Message is one of the protocol's messages: *Hello, *Welcome, *Push, *Ack,
// *Events, *CaughtUp, *Live, *Error, *Ping or *Pong. The set is closed.
type Message interface {
	// Type returns the message's wire type.
	Type() Type
	// check validates the message under limits l (with defaults applied).
	check(l Limits) *Error
}

// Hello is the client's first message. The token that authenticates the
// client travels in the HTTP upgrade request, not here.
type Hello struct {
	// Versions lists the protocol versions the client speaks (1 to
	// MaxVersions entries).
	Versions []int `json:"versions"`
	// Client is the device id: the Origin of the client's store.
	Client string `json:"client"`
	// Cursor is the highest hub position the client has applied (0 for a
	// fresh client). The hub sends the events after it.
	Cursor int64 `json:"cursor"`
	// Streams optionally narrows what the client pulls to streams with
	// these prefixes (within the token's scope); empty pulls everything
	// the token may read.
	Streams []string `json:"streams,omitempty"`
	// Agent optionally names the client software, for the hub's logs.
	Agent string `json:"agent,omitempty"`
}

// Welcome is the hub's answer to Hello: the connection is established.
type Welcome struct {
	// Version is the protocol version chosen for the rest of the
	// connection (see Negotiate).
	Version int `json:"version"`
	// Tenant is the tenant named by the client's token.
	Tenant string `json:"tenant"`
	// Node is the id of the hub node serving the connection.
	Node string `json:"node"`
	// Head is the hub's highest position when the client connected.
	Head int64 `json:"head"`
	// Limits are the limits the hub enforces on this connection.
	Limits Limits `json:"limits"`
	// Streams lists the stream prefixes the token may read and write;
	// empty means all streams of the tenant. A client may reject events
	// outside them locally instead of pushing them.
	Streams []string `json:"streams,omitempty"`
}

// Push carries a batch of the client's local events to the hub, in the
// client's Position order. The hub answers with one Ack.
type Push struct {
	// Batch is a client-chosen id the Ack echoes.
	Batch string `json:"batch"`
	// Events are 1 to MaxEventsPerBatch events with HubPosition 0.
	Events []eventstore.Event `json:"events"`
}

// Ack answers one Push, with one result per pushed event, in push order.
type Ack struct {
	// Batch is the Push's batch id.
	Batch string `json:"batch"`
	// Results has one entry per event of the Push, in the same order.
	Results []AckResult `json:"results"`
}

// AckResult is the hub's verdict on one pushed event: accepted with a hub
// position, or rejected with a Code.
type AckResult struct {
	// ID is the event's id.
	ID string `json:"id"`
	// HubPosition is the event's position in the hub's ledger; set when
	// the event is accepted, 0 when it is rejected.
	HubPosition int64 `json:"hub_position,omitempty"`
	// Duplicate is true when the hub already held the event (a re-sent
	// batch); HubPosition is then the position it was first stored at.
	Duplicate bool `json:"duplicate,omitempty"`
	// Code is the rejection reason (CodeForbiddenStream, CodeEventTooLarge,
	// CodeInvalidEvent, CodeUnknownType, CodeClockDrift, or a code of a
	// newer hub); empty when the event was accepted. A rejected event is
	// final: the client marks it rejected and does not push it again.
	Code Code `json:"code,omitempty"`
	// Reason explains a rejection, at most MaxReasonBytes.
	Reason string `json:"reason,omitempty"`
}

// Rejected reports whether the hub rejected the event.
func (r AckResult) Rejected() bool { return r.Code != "" }

// Events is one batch of catch-up events, in hub order (ascending
// HubPosition). After applying them the client may persist Cursor.
type Events struct {
	// Events are 0 to MaxEventsPerBatch events, each with a HubPosition.
	Events []eventstore.Event `json:"events"`
	// Cursor is the hub position the batch advances the client to: at
	// least the last event's HubPosition, higher when the hub skipped
	// events outside the client's scope.
	Cursor int64 `json:"cursor"`
}

// CaughtUp tells the client it has been sent every event up to Head; Live
// messages follow. It is sent once per connection.
type CaughtUp struct {
	// Head is the hub position the client is caught up to.
	Head int64 `json:"head"`
}

// Live carries events committed after the client caught up, in hub order.
// The client applies them exactly like Events.
type Live struct {
	// Events are 0 to MaxEventsPerBatch events, each with a HubPosition.
	Events []eventstore.Event `json:"events"`
	// Cursor is the hub position the message advances the client to.
	Cursor int64 `json:"cursor"`
}

// Ping asks the peer for a Pong (an application-level liveness check for
// clients that cannot send WebSocket pings).
type Ping struct {
	// Nonce is echoed in the Pong.
	Nonce string `json:"nonce,omitempty"`
}

// Pong answers a Ping.
type Pong struct {
	// Nonce is the Ping's nonce.
	Nonce string `json:"nonce,omitempty"`
}

// Type returns TypeHello.
func (*Hello) Type() Type { return TypeHello }

// Type returns TypeWelcome.
func (*Welcome) Type() Type { return TypeWelcome }

// Type returns TypePush.
func (*Push) Type() Type { return TypePush }

// Type returns TypeAck.
func (*Ack) Type() Type { return TypeAck }

// Type returns TypeEvents.
func (*Events) Type() Type { return TypeEvents }

// Type returns TypeCaughtUp.
func (*CaughtUp) Type() Type { return TypeCaughtUp }

// Type returns TypeLive.
func (*Live) Type() Type { return TypeLive }

// Type returns TypePing.
func (*Ping) Type() Type { return TypePing }

// Type returns TypePong.
func (*Pong) Type() Type { return TypePong }
