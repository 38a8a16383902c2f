package protocol

import (
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/internal/wirejson"
)

// Type names a message on the wire (the envelope's "type").
type Type string

// Message types.
const (
	// TypeHello is the client's opening message (*Hello).
	TypeHello Type = wirejson.TypeHello
	// TypeWelcome is the hub's answer to Hello (*Welcome).
	TypeWelcome Type = wirejson.TypeWelcome
	// TypePush is a batch of client events (*Push).
	TypePush Type = wirejson.TypePush
	// TypeAck is the hub's answer to a Push (*Ack).
	TypeAck Type = wirejson.TypeAck
	// TypeEvents is a batch of catch-up events (*Events).
	TypeEvents Type = wirejson.TypeEvents
	// TypeCaughtUp is the end-of-backlog marker (*CaughtUp).
	TypeCaughtUp Type = wirejson.TypeCaughtUp
	// TypeLive is events committed after catch-up (*Live).
	TypeLive Type = wirejson.TypeLive
	// TypeError is an error before closing (*Error).
	TypeError Type = wirejson.TypeError
	// TypePing is a liveness check (*Ping).
	TypePing Type = wirejson.TypePing
	// TypePong is the answer to Ping (*Pong).
	TypePong Type = wirejson.TypePong
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
	Versions []int
	// Client is the device id: the Origin of the client's store.
	Client string
	// Cursor is the highest hub position the client has applied (0 for a
	// fresh client). The hub sends the events after it.
	Cursor int64
	// Streams optionally narrows what the client pulls to streams with
	// these prefixes (within the token's scope); empty pulls everything
	// the token may read.
	Streams []string
	// Agent optionally names the client software, for the hub's logs.
	Agent string
	// App optionally names the version of the app embedding the client
	// (or a digest of its event registry, eventstore.Registry.Digest):
	// the hub logs it per connection, so an operator sees which versions
	// are out there.
	App string
	// Digest is the client's digest (eventstore.Digest.String) of the
	// events it holds in its scope at hub positions up to Cursor, from
	// protocol version 3, for the hub's logs.
	Digest string
	// Until, from protocol version 3, makes the connection a range read:
	// the hub sends the events of the client's scope after Cursor and up
	// to Until (Events messages, then CaughtUp with Head Until), or with
	// Parts the digests of that range (Welcome.Digests), and then closes
	// the connection. A range read takes no pushes and streams nothing
	// live. Clients use it to locate and re-pull a range where their copy
	// of the ledger differs from the hub's (repair).
	Until int64
	// Parts, with Until, asks for the digests of the range split into
	// Parts equal sub-ranges (1 to MaxDigestParts) instead of its events.
	Parts int
}

// Welcome is the hub's answer to Hello: the connection is established.
type Welcome struct {
	// Version is the protocol version chosen for the rest of the
	// connection (see Negotiate).
	Version int
	// Tenant is the tenant named by the client's token.
	Tenant string
	// Node is the id of the hub node serving the connection.
	Node string
	// Head is the hub's highest position when the client connected.
	Head int64
	// Limits are the limits the hub enforces on this connection.
	Limits Limits
	// Streams lists the stream prefixes the token may read and write;
	// empty means all streams of the tenant. A client may reject events
	// outside them locally instead of pushing them.
	Streams []string
	// Time is the hub's wall clock when it sent the Welcome, in Unix
	// milliseconds (0 from hubs before protocol version 2). A client
	// measures its clock's offset from it and corrects the physical part
	// of its HLC (eventstore.Clock.SetOffset).
	Time int64
	// Digests answers a range read with Hello.Parts: the digest of each
	// part of (Hello.Cursor, Hello.Until], in order. Part i covers hub
	// positions after Cursor+i*w up to Cursor+(i+1)*w (the last one up to
	// Until), where w is (Until-Cursor)/Parts rounded up.
	Digests []string
	// Generation identifies the tenant's ledger on the hub: an id created
	// with it, kept by its backups. A client that synced with a ledger of
	// another generation knows it is talking to a replaced ledger (a new
	// database, a deleted file) and repairs its copy. Empty from hubs
	// before protocol version 3 and from ledgers that keep none.
	Generation string
}

// Push carries a batch of the client's local events to the hub, in the
// client's Position order. The hub answers with one Ack.
type Push struct {
	// Batch is a client-chosen id the Ack echoes.
	Batch string
	// Events are 1 to MaxEventsPerBatch events with HubPosition 0.
	Events []Event
}

// Ack answers one Push, with one result per pushed event, in push order.
type Ack struct {
	// Batch is the Push's batch id.
	Batch string
	// Results has one entry per event of the Push, in the same order.
	Results []AckResult
}

// AckResult is the hub's verdict on one pushed event: accepted with a hub
// position, rejected with a Code (CodeForbiddenStream, CodeEventTooLarge,
// CodeInvalidEvent, CodeUnknownType, CodeClockDrift, or a code of a newer
// hub), or deferred (CodeDeferred, on connections of protocol version 2 and
// later) with RetryAfterMS. Reason explains a rejection or a deferral, at
// most MaxReasonBytes. Rejected reports whether the hub rejected the event
// for good; Deferred whether it asks for it again later.
type AckResult = wirejson.AckResult[Code]

// Events is one batch of catch-up events, in hub order (ascending
// HubPosition). After applying them the client may persist Cursor.
type Events struct {
	// Events are 0 to MaxEventsPerBatch events, each with a HubPosition.
	Events []Event
	// Cursor is the hub position the batch advances the client to: at
	// least the last event's HubPosition, higher when the hub skipped
	// events outside the client's scope.
	Cursor int64
}

// CaughtUp tells the client it has been sent every event up to Head; Live
// messages follow. It is sent once per connection.
type CaughtUp struct {
	// Head is the hub position the client is caught up to.
	Head int64
	// Digest is the hub's digest (eventstore.Digest.String) of the events
	// in the client's scope at hub positions up to Head (protocol version
	// 3; empty before, and for a range read). A client whose own digest
	// differs holds a copy of the ledger that differs from the hub's, and
	// repairs it (see Hello.Until).
	Digest string
}

// Live carries events committed after the client caught up, in hub order.
// The client applies them exactly like Events.
type Live struct {
	// Events are 0 to MaxEventsPerBatch events, each with a HubPosition.
	Events []Event
	// Cursor is the hub position the message advances the client to.
	Cursor int64
}

// Event is an event as it travels: ID, Stream, Type, Schema, Data, Meta,
// Created (an eventstore.Timestamp's bits) and Origin, which every copy of
// the event shares, and HubPosition, the event's position in the hub's
// ledger (0 in a Push; set in Events and Live). A store's own facts about
// its copy (Position, Hydrated, Outdated, Rejected) do not travel.
// FromStored and ToStored convert at the edges.
type Event = wirejson.Event

// Timestamp is the type of Event.Created: an eventstore.Timestamp's bits,
// written as its 16 hex digits. Convert with Timestamp(ts) and
// eventstore.Timestamp(e.Created).
type Timestamp = wirejson.Timestamp

// FromStored returns e as it travels, with e.HubPosition.
func FromStored(e eventstore.Event) Event {
	return Event{ID: e.ID, Stream: e.Stream, Type: e.Type, Schema: e.Schema, Data: e.Data, Meta: e.Meta,
		Created: wirejson.Timestamp(e.Created), Origin: e.Origin, HubPosition: e.HubPosition}
}

// ToStored returns e as a store takes it in (Insert): the traveling fields
// and the hub position; the store sets its own facts.
func ToStored(e Event) eventstore.Event {
	return eventstore.Event{ID: e.ID, Stream: e.Stream, Type: e.Type, Schema: e.Schema, Data: e.Data, Meta: e.Meta,
		Created: eventstore.Timestamp(e.Created), Origin: e.Origin, HubPosition: e.HubPosition}
}

// Ping asks the peer for a Pong (an application-level liveness check for
// clients that cannot send WebSocket pings).
type Ping struct {
	// Nonce is echoed in the Pong.
	Nonce string
}

// Pong answers a Ping.
type Pong struct {
	// Nonce is the Ping's nonce.
	Nonce string
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
