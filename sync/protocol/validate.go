package protocol

import (
	"unicode/utf8"

	"github.com/ferrysync/ferry/eventstore"
)

// Validate checks m as Decode does after parsing: required fields, bounds,
// list lengths and every event's envelope, under l (zero fields meaning
// defaults). It returns an *Error, or nil. Encode does not validate, so a
// sender that builds messages from untrusted input calls Validate first.
func Validate(m Message, l Limits) error {
	if isNil(m) {
		return errorf(CodeProtocolViolation, "nil message")
	}
	if err := m.check(l.WithDefaults()); err != nil {
		return err
	}
	return nil
}

func (m *Hello) check(l Limits) *Error {
	if len(m.Versions) == 0 || len(m.Versions) > MaxVersions {
		return errorf(CodeProtocolViolation, "hello: %d versions, want 1..%d", len(m.Versions), MaxVersions)
	}
	for _, v := range m.Versions {
		if v < 1 {
			return errorf(CodeProtocolViolation, "hello: version %d is not positive", v)
		}
	}
	if err := checkName("hello", "client", m.Client, true); err != nil {
		return err
	}
	if m.Cursor < 0 {
		return errorf(CodeProtocolViolation, "hello: negative cursor %d", m.Cursor)
	}
	if err := checkPrefixesN("hello", m.Streams, MaxPullPrefixes); err != nil {
		return err
	}
	if err := checkName("hello", "agent", m.Agent, false); err != nil {
		return err
	}
	switch {
	case m.Until < 0 || m.Until > 0 && m.Until <= m.Cursor:
		return errorf(CodeProtocolViolation, "hello: until %d, want 0 or more than the cursor %d", m.Until, m.Cursor)
	case m.Parts < 0 || m.Parts > MaxDigestParts || m.Parts > 0 && m.Until == 0:
		return errorf(CodeProtocolViolation, "hello: parts %d, want 0, or 1..%d with until", m.Parts, MaxDigestParts)
	}
	if err := checkDigest("hello", m.Digest); err != nil {
		return err
	}
	return checkName("hello", "app", m.App, false)
}

// checkDigest checks an optional digest field.
func checkDigest(what, d string) *Error {
	if d == "" {
		return nil
	}
	if _, err := eventstore.ParseDigest(d); err != nil {
		return errorf(CodeProtocolViolation, "%s: %v", what, err)
	}
	return nil
}

func (m *Welcome) check(l Limits) *Error {
	if !Supported(m.Version) {
		return errorf(CodeUnsupportedVersion, "welcome: version %d is not supported", m.Version)
	}
	if err := checkName("welcome", "tenant", m.Tenant, true); err != nil {
		return err
	}
	if err := checkName("welcome", "node", m.Node, true); err != nil {
		return err
	}
	if m.Head < 0 {
		return errorf(CodeProtocolViolation, "welcome: negative head %d", m.Head)
	}
	if m.Time < 0 {
		return errorf(CodeProtocolViolation, "welcome: negative time %d", m.Time)
	}
	if err := m.Limits.Validate(); err != nil {
		return errorf(CodeProtocolViolation, "welcome: %v", err)
	}
	if err := checkName("welcome", "generation", m.Generation, false); err != nil {
		return err
	}
	if len(m.Digests) > MaxDigestParts {
		return errorf(CodeProtocolViolation, "welcome: %d digests, want at most %d", len(m.Digests), MaxDigestParts)
	}
	for _, d := range m.Digests {
		if err := checkDigest("welcome", d); err != nil {
			return err
		}
	}
	return checkPrefixes("welcome", m.Streams)
}

func (m *Push) check(l Limits) *Error { return m.checkJSON(l, false) }

// checkJSON is check; validJSON tells that the events' Data and Meta are
// known to be valid JSON (see checkEventJSON).
func (m *Push) checkJSON(l Limits, validJSON bool) *Error {
	if err := checkName("push", "batch", m.Batch, true); err != nil {
		return err
	}
	if len(m.Events) == 0 {
		return errorf(CodeProtocolViolation, "push: no events")
	}
	if len(m.Events) > l.MaxEventsPerBatch {
		return errorf(CodeTooManyEvents, "push: %d events, limit %d", len(m.Events), l.MaxEventsPerBatch)
	}
	for i, e := range m.Events {
		if e.HubPosition != 0 {
			err := errorf(CodeInvalidEvent, "push: event %d has hub_position %d; the hub assigns it", i, e.HubPosition)
			err.EventID = eventID(e.ID)
			return err
		}
		if err := checkEventJSON(e, l, validJSON); err != nil {
			return err
		}
	}
	return nil
}

func (m *Ack) check(l Limits) *Error {
	if err := checkName("ack", "batch", m.Batch, true); err != nil {
		return err
	}
	if len(m.Results) == 0 {
		return errorf(CodeProtocolViolation, "ack: no results")
	}
	if len(m.Results) > l.MaxEventsPerBatch {
		return errorf(CodeTooManyEvents, "ack: %d results, limit %d", len(m.Results), l.MaxEventsPerBatch)
	}
	for i, r := range m.Results {
		switch {
		case !eventstore.ValidID(r.ID):
			return errorf(CodeProtocolViolation, "ack: result %d: id %q is not a ULID", i, r.ID)
		case r.HubPosition < 0:
			return errorf(CodeProtocolViolation, "ack: result %d: negative hub_position", i)
		case r.Code == "" && r.HubPosition == 0:
			return errorf(CodeProtocolViolation, "ack: result %d: neither hub_position nor code", i)
		case r.Code == "" && r.Reason != "":
			return errorf(CodeProtocolViolation, "ack: result %d: reason without code", i)
		case r.Code != "" && !validCode(r.Code):
			return errorf(CodeProtocolViolation, "ack: result %d: malformed code %q", i, r.Code)
		case r.Code != "" && (r.HubPosition != 0 || r.Duplicate):
			return errorf(CodeProtocolViolation, "ack: result %d: rejected with hub_position or duplicate", i)
		case r.RetryAfterMS < 0:
			return errorf(CodeProtocolViolation, "ack: result %d: negative retry_after_ms", i)
		case r.RetryAfterMS != 0 && r.Code != CodeDeferred:
			return errorf(CodeProtocolViolation, "ack: result %d: retry_after_ms without code deferred", i)
		case len(r.Reason) > MaxReasonBytes:
			return errorf(CodeProtocolViolation, "ack: result %d: reason longer than %d bytes", i, MaxReasonBytes)
		}
	}
	return nil
}

func (m *Events) check(l Limits) *Error { return checkPulled("events", m.Events, m.Cursor, l, false) }

func (m *Live) check(l Limits) *Error { return checkPulled("live", m.Events, m.Cursor, l, false) }

// checkPulled validates events sent by the hub: in ascending hub order,
// none past the cursor. validJSON is as for checkEventJSON.
func checkPulled(what string, events []Event, cursor int64, l Limits, validJSON bool) *Error {
	if len(events) > l.MaxEventsPerBatch {
		return errorf(CodeTooManyEvents, "%s: %d events, limit %d", what, len(events), l.MaxEventsPerBatch)
	}
	if cursor < 0 {
		return errorf(CodeProtocolViolation, "%s: negative cursor %d", what, cursor)
	}
	var last int64
	for i, e := range events {
		if e.HubPosition <= last {
			err := errorf(CodeProtocolViolation, "%s: event %d: hub_position %d does not follow %d", what, i, e.HubPosition, last)
			err.EventID = eventID(e.ID)
			return err
		}
		last = e.HubPosition
		if err := checkEventJSON(e, l, validJSON); err != nil {
			return err
		}
	}
	if cursor < last {
		return errorf(CodeProtocolViolation, "%s: cursor %d is behind the last event's hub_position %d", what, cursor, last)
	}
	return nil
}

func (m *CaughtUp) check(Limits) *Error {
	if m.Head < 0 {
		return errorf(CodeProtocolViolation, "caught_up: negative head %d", m.Head)
	}
	return checkDigest("caught_up", m.Digest)
}

func (m *Error) check(Limits) *Error {
	switch {
	case !validCode(m.Code):
		return errorf(CodeProtocolViolation, "error: malformed code %q", m.Code)
	case len(m.Message) > MaxMessageBytes:
		return errorf(CodeProtocolViolation, "error: message longer than %d bytes", MaxMessageBytes)
	case m.EventID != "" && !eventstore.ValidID(m.EventID):
		return errorf(CodeProtocolViolation, "error: event_id %q is not a ULID", m.EventID)
	case m.RetryAfterMS < 0 || m.RetryAfterMS > MaxRetryAfterMS:
		return errorf(CodeProtocolViolation, "error: retry_after_ms %d, want 0..%d", m.RetryAfterMS, MaxRetryAfterMS)
	}
	return nil
}

func (m *Ping) check(Limits) *Error { return checkName("ping", "nonce", m.Nonce, false) }

func (m *Pong) check(Limits) *Error { return checkName("pong", "nonce", m.Nonce, false) }

func checkName(what, field, v string, required bool) *Error {
	switch {
	case v == "" && required:
		return errorf(CodeProtocolViolation, "%s: missing %s", what, field)
	case len(v) > MaxNameBytes:
		return errorf(CodeProtocolViolation, "%s: %s longer than %d bytes", what, field, MaxNameBytes)
	case !utf8.ValidString(v):
		return errorf(CodeProtocolViolation, "%s: %s is not valid UTF-8", what, field)
	}
	return nil
}

func checkPrefixes(what string, prefixes []string) *Error {
	return checkPrefixesN(what, prefixes, MaxScopePrefixes)
}

func checkPrefixesN(what string, prefixes []string, limit int) *Error {
	if len(prefixes) > limit {
		return errorf(CodeProtocolViolation, "%s: %d stream prefixes, limit %d", what, len(prefixes), limit)
	}
	for _, p := range prefixes {
		if p == "" || len(p) > eventstore.MaxStreamLen || !utf8.ValidString(p) {
			return errorf(CodeProtocolViolation, "%s: stream prefix %q: want 1..%d bytes of UTF-8", what, truncate(p, 64), eventstore.MaxStreamLen)
		}
	}
	return nil
}

// checkDecoded validates m, which Decode parsed; validJSON is as for
// checkEventJSON.
func checkDecoded(m Message, l Limits, validJSON bool) *Error {
	switch m := m.(type) {
	case *Push:
		return m.checkJSON(l, validJSON)
	case *Events:
		return checkPulled("events", m.Events, m.Cursor, l, validJSON)
	case *Live:
		return checkPulled("live", m.Events, m.Cursor, l, validJSON)
	}
	return m.check(l)
}
