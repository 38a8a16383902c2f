// Package protocol defines what Ferry's hub (syncd) and its edge clients say
// to each other over a WebSocket: the messages, their encoding, the
// protocol version, the limits both sides enforce and the error and close
// codes. It does no I/O; sync/hub and sync/client own the connections and
// call Encode and Decode on every frame.
//
// # Frames
//
// Each message is one WebSocket text frame holding a JSON envelope:
//
//	{"v":1,"type":"push","body":{"batch":"b-7","events":[...]}}
//
// v is the protocol version, type names the message and body holds it.
// Events travel as Event, the wire event, which is not the stored record
// (eventstore.Event) and has no field for a store's own facts:
//
//	{"id":"01J9ZQ3W5E8Y7X6V5T4S3R2Q1P","stream":"task/42","type":"task:created","schema":1,
//	 "data":{...},"meta":{...},"created":"0191dd9dec000003","origin":"laptop-1",
//	 "hub_position":1042}
//
// id, stream, type, schema, data, meta, created (the HLC timestamp as 16
// hex digits) and origin are shared by every copy of the event;
// hub_position is the event's place in the hub's ledger, absent in a push
// and set in events and live. A store's Position, Hydrated, Outdated and
// Rejected never travel. FromStored and ToStored convert between the two at
// the edges (sync/hub and sync/client). The golden frames in testdata/ show
// every message. A Codec turns messages into frames;
// JSONCodec is the only one today, and a binary codec can be added beside it
// (binary frames, chosen by WebSocket subprotocol in the upgrade request)
// without touching the messages.
//
// # The conversation
//
//	client                                            hub
//	  HTTP upgrade, Authorization: Bearer <token>  ->     (refused with 401/403 before the socket opens)
//	  hello {versions, client, cursor, streams}    ->
//	                                               <-  welcome {version, tenant, node, head, limits, streams}
//	  push {batch, events}                         ->     (any time after welcome; several may be in flight)
//	                                               <-  ack {batch, results}         (one per push, in push order)
//	                                               <-  events {events, cursor}      (catch-up, repeated)
//	                                               <-  caught_up {head}             (once)
//	                                               <-  live {events, cursor}        (as events commit)
//	                                               <-  error {code, ...}, then close with the code
//
// Hello opens the conversation: the versions the client speaks, its device
// id (its store's Origin) and its pull cursor, the highest hub position it
// has applied. The hub picks a version with Negotiate and answers Welcome,
// naming the tenant from the token, its node id, its head and the Limits it
// enforces, or answers an Error with CodeUnsupportedVersion. Hello, Welcome
// and Error keep their version-1 shape in every future version, and Hello
// is always sent with v 1, so that peers of any version can negotiate or
// refuse; every later frame carries the chosen version.
//
// Push sends the client's outbox (local events the hub has not acknowledged)
// in the client's Position order, in batches sized with BatchSizer. The hub
// inserts idempotently by event id and answers one Ack with one AckResult
// per event, in order: the event's hub position, marked Duplicate when the
// hub already held it (so a batch re-sent after a lost ack is harmless), or
// a rejection Code (CodeForbiddenStream, CodeInvalidEvent, CodeUnknownType,
// CodeClockDrift, ...). A rejection is final for that event only: the
// client records it and goes on with the events behind it. A client checks
// each event with Limits.CheckEvent before pushing, and treats one that
// fails like a rejection, because the hub refuses a frame that breaks the
// limits as a whole.
//
// Pulling needs no request: after Welcome the hub streams every event after
// the Hello cursor, in hub order, as Events messages. Each carries the
// cursor it advances to; the client inserts the events (hydrated, deduped
// by id), runs its projectors and only then persists the cursor, so a crash
// re-pulls rather than loses. When the backlog is drained the hub sends
// CaughtUp, then Live messages as new events commit; the client applies
// them the same way. Acks and pulled events interleave freely.
//
// # Errors, close codes and resuming
//
// A peer that must end the conversation sends an Error message and closes
// the WebSocket with Code.CloseCode (4000-4999). Decode's errors are *Error
// values ready to be sent. Standard close codes sent by libraries and
// proxies (1001 going away, 1009 message too big, ...) map back to a Code
// with FromCloseCode.
//
//	code                 close  client reaction
//	protocol_violation   4000   bug: do not resend the same frame
//	unsupported_version  4001   upgrade
//	frame_too_large      4002   bug: batch within Welcome's limits (1009 too)
//	too_many_events      4003   bug: batch within Welcome's limits
//	event_too_large      4004   mark the event rejected
//	invalid_event        4005   mark the event rejected
//	unknown_type         4006   (per-event rejection)
//	clock_drift          4007   (per-event rejection)
//	unauthorized         4010   get a new token
//	forbidden_stream     4011   mark the event rejected
//	overloaded           4020   resume after retry_after_ms (1013 too)
//	slow_consumer        4021   resume
//	going_away           4030   resume, on any node (1001 too)
//	internal             4031   resume after retry_after_ms (1011 too)
//
// Resuming means reconnecting (after Error.RetryAfter, with backoff and
// jitter) and sending Hello with the persisted cursor: the hub continues
// from there, on any node, with no full resync. Code.Resume reports which
// codes ask for it.
//
// # Limits and validation
//
// Decode checks the frame size before parsing, then the version, the type,
// every required field and bound, the number of events per batch, each
// event's size and envelope (eventstore.ValidateEnvelope), and the hub
// order of pulled events. It never panics, and it counts every list in the
// raw bytes before allocating it, so a hostile frame costs at most a few
// times its own size. FuzzDecode holds it to that.
package protocol
