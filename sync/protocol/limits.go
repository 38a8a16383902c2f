package protocol

import (
	"fmt"
	"unicode/utf8"

	"github.com/ferrysync/ferry/eventstore"
)

// Default limits. A hub announces the limits it enforces in Welcome; a
// client keeps its frames within them.
const (
	// DefaultMaxFrameBytes bounds one WebSocket frame: 4 MiB.
	DefaultMaxFrameBytes = 4 << 20
	// DefaultMaxEventsPerBatch bounds the events of one Push, Events or
	// Live message and the results of one Ack.
	DefaultMaxEventsPerBatch = 500
	// DefaultMaxEventBytes bounds len(Data)+len(Meta) of one event: the
	// event store's own limit.
	DefaultMaxEventBytes = eventstore.MaxEventBytes
)

// Hard bounds on Limits (see Limits.Validate).
const (
	// HardMaxFrameBytes is the largest MaxFrameBytes Validate accepts.
	HardMaxFrameBytes = 64 << 20
	// HardMaxEventsPerBatch is the largest MaxEventsPerBatch Validate
	// accepts.
	HardMaxEventsPerBatch = 10_000
)

// Bounds on the small fields of messages. They are fixed by the protocol
// version, not negotiated.
const (
	// MaxNameBytes bounds client, node and tenant ids, batch ids, ping
	// nonces and the agent string.
	MaxNameBytes = 128
	// MaxMessageBytes bounds Error.Message.
	MaxMessageBytes = 1024
	// MaxReasonBytes bounds AckResult.Reason.
	MaxReasonBytes = 256
	// MaxVersions bounds Hello.Versions.
	MaxVersions = 16
	// MaxDigestParts bounds Hello.Parts and Welcome.Digests.
	MaxDigestParts = 256
	// MaxScopePrefixes bounds Welcome.Streams (a token's prefixes).
	MaxScopePrefixes = 64
	// MaxPullPrefixes bounds Hello.Streams: the streams and prefixes a
	// device subscribes to. Hubs before subscriptions accept 64.
	MaxPullPrefixes = 10_000
	// MaxRetryAfterMS bounds Error.RetryAfterMS: one day.
	MaxRetryAfterMS = 24 * 60 * 60 * 1000

	maxCodeBytes = 64
)

// Encoded-size bounds used to fit batches into frames (see BatchSizer). JSON
// escaping can turn one byte of a string into six ("\u0000"), so string
// fields count six-fold; Data and Meta are sent compacted, never larger
// than stored.
const (
	// EventOverheadBytes covers an encoded event's keys, punctuation, schema,
	// created and hub_position, beyond its strings, Data and Meta.
	EventOverheadBytes = 256
	// MaxEventOverheadBytes bounds the encoded size of an event beyond
	// len(Data)+len(Meta), for events within the envelope limits.
	MaxEventOverheadBytes = EventOverheadBytes + 6*(26+eventstore.MaxStreamLen+eventstore.MaxTypeLen+eventstore.MaxOriginLen)
	// BatchOverheadBytes covers the envelope and the fields of a Push,
	// Events, Live or Ack message around its list.
	BatchOverheadBytes = 1024
	// MaxAckResultBytes bounds the encoded size of one AckResult.
	MaxAckResultBytes = 128 + 6*maxCodeBytes + 6*MaxReasonBytes
)

// Limits bounds what one frame may carry. The zero value of a field means
// its default (see WithDefaults).
type Limits struct {
	// MaxFrameBytes bounds the size of one frame, checked before parsing.
	MaxFrameBytes int `json:"max_frame_bytes"`
	// MaxEventsPerBatch bounds the events (or ack results) of one message.
	MaxEventsPerBatch int `json:"max_events_per_batch"`
	// MaxEventBytes bounds len(Data)+len(Meta) of one event. It cannot
	// exceed eventstore.MaxEventBytes.
	MaxEventBytes int `json:"max_event_bytes"`
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxFrameBytes:     DefaultMaxFrameBytes,
		MaxEventsPerBatch: DefaultMaxEventsPerBatch,
		MaxEventBytes:     DefaultMaxEventBytes,
	}
}

// WithDefaults returns l with every zero or negative field set to its
// default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = d.MaxFrameBytes
	}
	if l.MaxEventsPerBatch <= 0 {
		l.MaxEventsPerBatch = d.MaxEventsPerBatch
	}
	if l.MaxEventBytes <= 0 {
		l.MaxEventBytes = d.MaxEventBytes
	}
	return l
}

// Validate checks that l is usable: every field positive and within its
// hard bound, and the frame large enough for one event of MaxEventBytes and
// for an Ack of MaxEventsPerBatch results. A hub validates its limits at
// start-up; Decode validates the limits a Welcome announces.
func (l Limits) Validate() error {
	switch {
	case l.MaxFrameBytes <= 0 || l.MaxFrameBytes > HardMaxFrameBytes:
		return fmt.Errorf("protocol: max frame bytes %d: want 1..%d", l.MaxFrameBytes, HardMaxFrameBytes)
	case l.MaxEventsPerBatch <= 0 || l.MaxEventsPerBatch > HardMaxEventsPerBatch:
		return fmt.Errorf("protocol: max events per batch %d: want 1..%d", l.MaxEventsPerBatch, HardMaxEventsPerBatch)
	case l.MaxEventBytes <= 0 || l.MaxEventBytes > eventstore.MaxEventBytes:
		return fmt.Errorf("protocol: max event bytes %d: want 1..%d", l.MaxEventBytes, eventstore.MaxEventBytes)
	case l.MaxFrameBytes < BatchOverheadBytes+MaxEventOverheadBytes+l.MaxEventBytes:
		return fmt.Errorf("protocol: max frame bytes %d cannot hold an event of %d bytes (need %d)",
			l.MaxFrameBytes, l.MaxEventBytes, BatchOverheadBytes+MaxEventOverheadBytes+l.MaxEventBytes)
	case l.MaxFrameBytes < BatchOverheadBytes+l.MaxEventsPerBatch*MaxAckResultBytes:
		return fmt.Errorf("protocol: max frame bytes %d cannot hold an ack of %d results (need %d)",
			l.MaxFrameBytes, l.MaxEventsPerBatch, BatchOverheadBytes+l.MaxEventsPerBatch*MaxAckResultBytes)
	}
	return nil
}

// CheckEvent reports whether e may be sent under l (zero fields meaning
// defaults): its envelope must be valid (eventstore.ValidateEnvelope, after
// the defaults stores apply: schema 1, data and meta {}) and its data and
// meta within MaxEventBytes. The error is an *Error with CodeEventTooLarge
// or CodeInvalidEvent. A client checks each outbox event before pushing and
// records a failing one as rejected with the error's Code instead of sending
// it, since the hub would refuse the whole frame.
func (l Limits) CheckEvent(e Event) error {
	if err := checkEvent(e, l.WithDefaults()); err != nil {
		return err
	}
	return nil
}

// checkEvent checks e, with the store defaults applied to this copy, and
// returns a typed *Error or nil (callers returning error must not wrap a nil
// *Error in the interface).
func checkEvent(e Event, l Limits) *Error { return checkEventJSON(e, l, false) }

// emptyDoc stands in for Data and Meta already known to be valid JSON.
var emptyDoc = []byte("{}")

// checkEventJSON is checkEvent; validJSON tells that e's Data and Meta are
// known to be valid JSON (the fast decoder checked every byte of them), so
// eventstore.ValidateEnvelope is spared parsing them again. Every other
// rule, and the size rule of ValidateEnvelope, still applies.
func checkEventJSON(w Event, l Limits, validJSON bool) *Error {
	e := ToStored(w).WithDefaults()
	if n := len(e.Data) + len(e.Meta); n > l.MaxEventBytes {
		err := errorf(CodeEventTooLarge, "data and meta are %d bytes, limit %d", n, l.MaxEventBytes)
		err.EventID = eventID(e.ID)
		return err
	}
	if !utf8.Valid(e.Data) || !utf8.Valid(e.Meta) {
		err := errorf(CodeInvalidEvent, "data or meta is not valid UTF-8")
		err.EventID = eventID(e.ID)
		return err
	}
	env := e
	if validJSON && len(e.Data)+len(e.Meta) <= eventstore.MaxEventBytes {
		env.Data, env.Meta = emptyDoc, emptyDoc
	}
	if err := eventstore.ValidateEnvelope(env); err != nil {
		perr := errorf(CodeInvalidEvent, "%v", err)
		perr.EventID = eventID(e.ID)
		perr.cause = err
		return perr
	}
	return nil
}

// eventID returns id when it is a valid event id, so that an *Error naming
// it can itself be sent and decoded.
func eventID(id string) string {
	if eventstore.ValidID(id) {
		return id
	}
	return ""
}

// EventFrameBytes returns an upper bound on the bytes e takes in an encoded
// frame (in a Push, Events or Live list, including the separating comma).
func EventFrameBytes(e Event) int {
	data, meta := len(e.Data), len(e.Meta)
	if data == 0 {
		data = 4 // null
	}
	if meta == 0 {
		meta = 4
	}
	return EventOverheadBytes + 6*(len(e.ID)+len(e.Stream)+len(e.Type)+len(e.Origin)) + data + meta
}

// BatchSizer decides how many events go into one Push, Events or Live
// message so that it stays within Limits. The zero value is not usable; set
// Limits (zero fields meaning defaults).
//
//	b := protocol.BatchSizer{Limits: welcome.Limits}
//	for _, e := range pending {
//		if !b.Add(e) {
//			flush(); b.Reset(); b.Add(e)
//		}
//		batch = append(batch, e)
//	}
type BatchSizer struct {
	Limits Limits

	n, bytes int
}

// Add counts e into the batch and reports true, or reports false and counts
// nothing when e would take the batch over MaxEventsPerBatch or
// MaxFrameBytes. The first event of a batch is always accepted: one event
// that passes CheckEvent always fits in a frame under valid Limits.
func (b *BatchSizer) Add(e Event) bool {
	l := b.Limits.WithDefaults()
	size := EventFrameBytes(e)
	if b.n > 0 && (b.n >= l.MaxEventsPerBatch || BatchOverheadBytes+b.bytes+size > l.MaxFrameBytes) {
		return false
	}
	b.n++
	b.bytes += size
	return true
}

// Len returns the number of events counted since the last Reset.
func (b *BatchSizer) Len() int { return b.n }

// Reset starts a new batch.
func (b *BatchSizer) Reset() { b.n, b.bytes = 0, 0 }
