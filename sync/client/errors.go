package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/ferrysync/ferry/sync/protocol"
)

// Sentinel errors. Errors returned by SyncOnce unwrap to one of these, to a
// *protocol.Error (the hub ended the conversation with a code), to a store
// error, or to ctx's error.
var (
	// ErrUnauthorized means the hub refused the token: HTTP 401 or 403 on
	// the upgrade, or an unauthorized error or close code later. Retrying
	// with the same token does not help.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrUnreachable means the hub could not be reached: the dial, TLS or
	// WebSocket handshake failed, or the URL answered with another HTTP
	// status than 101.
	ErrUnreachable = errors.New("client: hub unreachable")
	// ErrDisconnected means an established connection dropped before the
	// sync finished (no error message from the hub, or an abnormal close).
	ErrDisconnected = errors.New("client: disconnected")
	// ErrApply means pulled events could not be stored (an envelope the
	// store refuses, or a clock too far ahead; events the registry refuses
	// are kept Unknown instead). The cursor did not move past them: they
	// are pulled again on the next attempt, never skipped.
	ErrApply = errors.New("client: cannot apply pulled events")
)

// Rejection is one event the hub (or the client, before sending it)
// refused. Rejected events stay in the local store but are never pushed
// again.
type Rejection struct {
	// ID is the event's id.
	ID string `json:"id"`
	// Code is the reason code (protocol.CodeForbiddenStream,
	// protocol.CodeEventTooLarge, protocol.CodeInvalidEvent, ...).
	Code protocol.Code `json:"code"`
	// Reason is the hub's explanation.
	Reason string `json:"reason,omitempty"`
	// At is when the rejection was recorded.
	At time.Time `json:"at"`
	// Local is true when the client refused the event itself, because it
	// breaks the hub's limits.
	Local bool `json:"local,omitempty"`

	position int64 // the event's local position, for RejectProjectors
}

// httpError is an upgrade the hub answered with a status other than 101.
type httpError struct {
	status     int
	retryAfter time.Duration
	cause      error
}

func (e *httpError) Error() string {
	return fmt.Sprintf("hub answered HTTP %d", e.status)
}

func (e *httpError) Unwrap() error { return e.cause }

// retryHint returns how long the hub asked the client to wait before
// reconnecting, found in err (0 when none).
func retryHint(err error) time.Duration {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		return perr.RetryAfter()
	}
	var herr *httpError
	if errors.As(err, &herr) {
		return herr.retryAfter
	}
	return 0
}
