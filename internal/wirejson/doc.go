// Package wirejson is Ferry's one home for hand-written JSON: a JSON lexer
// (RFC 8259 tokens), a validator (Valid, which the event store runs on every
// event's Data and Meta) and the sync protocol's fast frame codec, with the
// encoding/json path it falls back to.
//
// It knows the frames' JSON shapes (the structs in wire.go) and nothing of
// what they mean: sync/protocol declares the documented message types, whose
// fields are these shapes' fields, converts between the two without copying,
// and validates what Decode hands back. A frame's decode stays in this
// package from its first byte until the decoded value is returned.
//
// The package imports nothing of Ferry's, so eventstore (the validator) and
// sync/protocol (the codec) can both import it.
package wirejson
