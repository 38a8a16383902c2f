package protocol

import "github.com/ferrysync/ferry/internal/wirejson"

// Code names why a connection ended or why the hub rejected one pushed event.
// On the wire it is a short snake_case string; over WebSocket it also maps to
// a close code (see CloseCode). Codes this package does not know (sent by a
// newer peer) are carried through unchanged.
type Code string

// Codes. The client's reaction depends on the code: input and auth problems
// are not fixed by retrying the same data or token; the load and shutdown
// codes (Resume reports true) mean "reconnect, after any retry hint, and
// resume from your cursor".
const (
	// CodeProtocolViolation means a malformed frame, an unknown message type, a
	// missing field, or a message out of turn.
	CodeProtocolViolation Code = "protocol_violation"
	// CodeUnsupportedVersion means the envelope's version, or every version a
	// Hello offers, is unknown to the receiver.
	CodeUnsupportedVersion Code = "unsupported_version"
	// CodeFrameTooLarge means the frame exceeds Limits.MaxFrameBytes.
	CodeFrameTooLarge Code = "frame_too_large"
	// CodeTooManyEvents means a batch exceeds Limits.MaxEventsPerBatch.
	CodeTooManyEvents Code = "too_many_events"
	// CodeEventTooLarge means an event's data and meta exceed
	// Limits.MaxEventBytes. Also a per-event rejection reason.
	CodeEventTooLarge Code = "event_too_large"
	// CodeInvalidEvent means an event envelope is invalid (id, stream, type,
	// created, origin, data or meta), or the hub's registry refuses its
	// payload. Also a per-event rejection reason.
	CodeInvalidEvent Code = "invalid_event"
	// CodeUnknownType means the hub refuses the event's type. A per-event
	// rejection reason.
	CodeUnknownType Code = "unknown_type"
	// CodeClockDrift means the event's Created is too far ahead of the hub's
	// clock. A per-event rejection reason.
	CodeClockDrift Code = "clock_drift"
	// CodeUnauthorized means the token is missing, forged, expired or for
	// another tenant. Reconnecting needs a new token.
	CodeUnauthorized Code = "unauthorized"
	// CodeForbiddenStream means the stream is outside the token's scope. Also a
	// per-event rejection reason.
	CodeForbiddenStream Code = "forbidden_stream"
	// CodeOverloaded means the hub is at capacity; retry after the hint and
	// resume from the cursor.
	CodeOverloaded Code = "overloaded"
	// CodeSlowConsumer means the client did not read fast enough and its send
	// queue overflowed; reconnect and resume from the cursor.
	CodeSlowConsumer Code = "slow_consumer"
	// CodeGoingAway means the hub node is shutting down; reconnect (to any node)
	// and resume from the cursor.
	CodeGoingAway Code = "going_away"
	// CodeInternal means the hub failed; retry after the hint and resume.
	CodeInternal Code = "internal"
	// CodeDeferred is a per-event answer, never a close reason: the hub did
	// not store the event yet because its Created is too far ahead of the
	// hub's clock, and asks for it again after AckResult.RetryAfterMS. The
	// client keeps it pending. Hubs send it on connections of protocol
	// version 2 and later; older clients get CodeClockDrift instead.
	CodeDeferred Code = wirejson.CodeDeferred
)

// WebSocket close codes for each Code: 4000-4999 is the range RFC 6455
// leaves to applications. The tens digit groups them: 400x bad input (do not
// resend as is), 401x authorisation, 402x load (resume), 403x hub side
// (resume).
const (
	// CloseProtocolViolation is the close code of CodeProtocolViolation.
	CloseProtocolViolation = 4000
	// CloseUnsupportedVersion is the close code of CodeUnsupportedVersion.
	CloseUnsupportedVersion = 4001
	// CloseFrameTooLarge is the close code of CodeFrameTooLarge.
	CloseFrameTooLarge = 4002
	// CloseTooManyEvents is the close code of CodeTooManyEvents.
	CloseTooManyEvents = 4003
	// CloseEventTooLarge is the close code of CodeEventTooLarge.
	CloseEventTooLarge = 4004
	// CloseInvalidEvent is the close code of CodeInvalidEvent.
	CloseInvalidEvent = 4005
	// CloseUnknownType is the close code of CodeUnknownType.
	CloseUnknownType = 4006
	// CloseClockDrift is the close code of CodeClockDrift.
	CloseClockDrift = 4007
	// CloseUnauthorized is the close code of CodeUnauthorized.
	CloseUnauthorized = 4010
	// CloseForbiddenStream is the close code of CodeForbiddenStream.
	CloseForbiddenStream = 4011
	// CloseOverloaded is the close code of CodeOverloaded.
	CloseOverloaded = 4020
	// CloseSlowConsumer is the close code of CodeSlowConsumer.
	CloseSlowConsumer = 4021
	// CloseGoingAway is the close code of CodeGoingAway.
	CloseGoingAway = 4030
	// CloseInternal is the close code of CodeInternal.
	CloseInternal = 4031
)

// Standard WebSocket close codes (RFC 6455 section 7.4.1 and the IANA
// registry) that FromCloseCode understands.
const (
	// CloseNormal is a normal closure.
	CloseNormal = 1000
	// CloseStdGoingAway is "going away" (a server shutting down, a browser leaving the page).
	CloseStdGoingAway = 1001
	// CloseStdProtocol is a WebSocket protocol error.
	CloseStdProtocol = 1002
	// CloseUnsupportedData is "unsupported data" (e.g. a binary frame where text was expected).
	CloseUnsupportedData = 1003
	// CloseAbnormal reports a connection dropped without a close frame; it is never sent.
	CloseAbnormal = 1006
	// CloseInvalidPayload is "invalid frame payload data" (e.g. bad UTF-8 in a text frame).
	CloseInvalidPayload = 1007
	// ClosePolicyViolation is a generic policy violation.
	ClosePolicyViolation = 1008
	// CloseMessageTooBig is "message too big", sent by gorilla/websocket when a read limit is hit.
	CloseMessageTooBig = 1009
	// CloseInternalError is an unexpected server condition.
	CloseInternalError = 1011
	// CloseServiceRestart is "service restart".
	CloseServiceRestart = 1012
	// CloseTryAgainLater is "try again later".
	CloseTryAgainLater = 1013
)

var codeInfo = map[Code]struct {
	close, std int
	resume     bool
}{
	CodeProtocolViolation:  {CloseProtocolViolation, CloseStdProtocol, false},
	CodeUnsupportedVersion: {CloseUnsupportedVersion, 0, false},
	CodeFrameTooLarge:      {CloseFrameTooLarge, CloseMessageTooBig, false},
	CodeTooManyEvents:      {CloseTooManyEvents, 0, false},
	CodeEventTooLarge:      {CloseEventTooLarge, 0, false},
	CodeInvalidEvent:       {CloseInvalidEvent, 0, false},
	CodeUnknownType:        {CloseUnknownType, 0, false},
	CodeClockDrift:         {CloseClockDrift, 0, false},
	CodeUnauthorized:       {CloseUnauthorized, 0, false},
	CodeForbiddenStream:    {CloseForbiddenStream, 0, false},
	CodeOverloaded:         {CloseOverloaded, CloseTryAgainLater, true},
	CodeSlowConsumer:       {CloseSlowConsumer, 0, true},
	CodeGoingAway:          {CloseGoingAway, CloseStdGoingAway, true},
	CodeInternal:           {CloseInternal, CloseInternalError, true},
}

// Codes returns every Code this package defines.
func Codes() []Code {
	return []Code{
		CodeProtocolViolation, CodeUnsupportedVersion, CodeFrameTooLarge,
		CodeTooManyEvents, CodeEventTooLarge, CodeInvalidEvent, CodeUnknownType,
		CodeClockDrift, CodeUnauthorized, CodeForbiddenStream, CodeOverloaded,
		CodeSlowConsumer, CodeGoingAway, CodeInternal,
	}
}

// Known reports whether c is one of the Codes this package defines.
func (c Code) Known() bool { _, ok := codeInfo[c]; return ok || c == CodeDeferred }

// CloseCode returns the 4xxx WebSocket close code for c. A hub closes with
// this code after sending the Error message. An unknown code maps to
// CloseProtocolViolation.
func (c Code) CloseCode() int {
	if i, ok := codeInfo[c]; ok {
		return i.close
	}
	return CloseProtocolViolation
}

// StandardCloseCode returns the standard (1xxx) close code with the same
// meaning as c, or 0 when there is none. Libraries and proxies close with
// these (gorilla/websocket sends 1009 when a read limit is hit).
func (c Code) StandardCloseCode() int { return codeInfo[c].std }

// Resume reports whether a connection ended with c should be retried: the
// client reconnects (after Error.RetryAfter, with backoff) and resumes
// pulling from its persisted cursor. It is false for codes that mean the
// client sent something wrong or lacks the right to; unknown codes are false.
func (c Code) Resume() bool { return codeInfo[c].resume }

// FromCloseCode maps a WebSocket close code, ours (4xxx) or a standard one
// with an equivalent, to a Code. It reports false for a normal closure, an
// abnormal one (1006), and codes it does not know; a client treats those as
// a dropped connection and reconnects with backoff.
func FromCloseCode(close int) (Code, bool) {
	switch close {
	case CloseStdGoingAway, CloseServiceRestart:
		return CodeGoingAway, true
	case CloseStdProtocol, CloseUnsupportedData, CloseInvalidPayload, ClosePolicyViolation:
		return CodeProtocolViolation, true
	case CloseMessageTooBig:
		return CodeFrameTooLarge, true
	case CloseInternalError:
		return CodeInternal, true
	case CloseTryAgainLater:
		return CodeOverloaded, true
	}
	for c, i := range codeInfo {
		if i.close == close {
			return c, true
		}
	}
	return "", false
}

// validCode reports whether c is well formed: 1-64 bytes of [a-z0-9_].
func validCode(c Code) bool {
	if len(c) == 0 || len(c) > maxCodeBytes {
		return false
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if (b < 'a' || b > 'z') && (b < '0' || b > '9') && b != '_' {
			return false
		}
	}
	return true
}
