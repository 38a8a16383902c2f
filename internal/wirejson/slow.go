package wirejson

import (
	"cmp"
	"encoding/json"
)

// The encoding/json path: every frame the fast decoder leaves alone, and
// the reference the fast decoder is held to.

type envelopeIn struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	Body json.RawMessage `json:"body"`
}

// parseJSON parses frame with encoding/json.
func parseJSON[C ~string](frame []byte, b Bounds) (any, *DecodeError) {
	var env envelopeIn
	if err := json.Unmarshal(frame, &env); err != nil {
		return nil, errorf(Malformed, "malformed frame: %v", err)
	}
	switch {
	case env.V == 0:
		return nil, errorf(Malformed, "missing version")
	case !b.Supported(env.V):
		return nil, errorf(Unsupported, "version %d is not supported", env.V)
	case env.Type == "":
		return nil, errorf(Malformed, "missing type")
	case len(env.Body) == 0 || string(env.Body) == "null":
		return nil, errorf(Malformed, "%s: missing body", Truncate(env.Type, b.MaxName))
	}
	return decodeBody[C](env.Type, env.Body, b)
}

func decodeBody[C ~string](t string, body []byte, b Bounds) (any, *DecodeError) {
	switch t {
	case TypeHello:
		m := new(Hello)
		w := struct {
			*Hello
			Versions json.RawMessage `json:"versions"`
			Streams  json.RawMessage `json:"streams"`
		}{Hello: m}
		err := unmarshalBody(t, body, &w)
		if err == nil {
			m.Versions, err = decodeList[int](w.Versions, b.MaxVersions, Malformed, "hello: versions")
		}
		if err == nil {
			m.Streams, err = decodeList[string](w.Streams, cmp.Or(b.MaxPullPrefixes, b.MaxPrefixes), Malformed, "hello: streams")
		}
		return m, err
	case TypeWelcome:
		m := new(Welcome)
		w := struct {
			*Welcome
			Streams json.RawMessage `json:"streams"`
		}{Welcome: m}
		err := unmarshalBody(t, body, &w)
		if err == nil {
			m.Streams, err = decodeList[string](w.Streams, b.MaxPrefixes, Malformed, "welcome: streams")
		}
		return m, err
	case TypePush:
		m := new(Push)
		w := struct {
			*Push
			Events json.RawMessage `json:"events"`
		}{Push: m}
		err := unmarshalBody(t, body, &w)
		if err == nil {
			m.Events, err = decodeEvents(w.Events, b, "push")
		}
		return m, err
	case TypeAck:
		m := new(Ack[C])
		w := struct {
			*Ack[C]
			Results json.RawMessage `json:"results"`
		}{Ack: m}
		err := unmarshalBody(t, body, &w)
		if err == nil {
			m.Results, err = decodeList[AckResult[C]](w.Results, b.MaxEvents, TooMany, "ack: results")
		}
		return m, err
	case TypeEvents:
		m := new(Events)
		return m, decodeEventsBody(t, body, &m.Events, &m.Cursor, b)
	case TypeLive:
		m := new(Live)
		return m, decodeEventsBody(t, body, &m.Events, &m.Cursor, b)
	case TypeCaughtUp:
		m := new(CaughtUp)
		return m, unmarshalBody(t, body, m)
	case TypeError:
		m := new(Error[C])
		return m, unmarshalBody(t, body, m)
	case TypePing:
		m := new(Ping)
		return m, unmarshalBody(t, body, m)
	case TypePong:
		m := new(Pong)
		return m, unmarshalBody(t, body, m)
	}
	return nil, errorf(Malformed, "unknown message type %q", Truncate(t, b.MaxName))
}

// decodeEventsBody decodes the body of an events or live message.
func decodeEventsBody(t string, body []byte, events *[]Event, cursor *int64, b Bounds) *DecodeError {
	var w struct {
		Events json.RawMessage `json:"events"`
		Cursor *int64          `json:"cursor"`
	}
	w.Cursor = cursor
	err := unmarshalBody(t, body, &w)
	if err == nil {
		*events, err = decodeEvents(w.Events, b, t)
	}
	return err
}

func unmarshalBody(t string, body []byte, v any) *DecodeError {
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(Malformed, "%s: malformed body: %v", t, err)
	}
	return nil
}

// decodeList decodes a JSON list (raw is valid JSON, or empty when the field
// was absent) after counting its entries: more than max is a problem p, and
// the slice is never allocated beyond max. An empty list decodes to nil.
func decodeList[T any](raw json.RawMessage, max int, p Problem, what string) ([]T, *DecodeError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	n, ok := countArray(raw, max)
	if !ok {
		return nil, errorf(Malformed, "%s: want a list", what)
	}
	if n > max {
		return nil, errorf(p, "%s: more than %d entries", what, max)
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]T, 0, n)
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, errorf(Malformed, "%s: %v", what, err)
	}
	return out, nil
}

// decodeEvents decodes a list of events, fills in the store defaults and
// compacts Data and Meta.
func decodeEvents(raw json.RawMessage, b Bounds, what string) ([]Event, *DecodeError) {
	events, err := decodeList[Event](raw, b.MaxEvents, TooMany, what+": events")
	for i := range events {
		e := &events[i]
		fillDefaults(e)
		e.Data = compactInPlace(e.Data)
		e.Meta = compactInPlace(e.Meta)
	}
	return events, err
}
