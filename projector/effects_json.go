package projector

import (
	"encoding/json"
	"time"

	"github.com/ferrysync/ferry/eventstore"
)

// The outbox's stored JSON. Records written by earlier versions of Ferry
// must keep decoding, so these shapes are fixed: change them only in ways
// that old records still decode under.

// effectJSON is the stored form of an EffectRecord (its Status is where
// the record is stored, not in it).
type effectJSON struct {
	Handler     string    `json:"handler"`
	Event       eventJSON `json:"event"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Created     time.Time `json:"created"`
	Finished    time.Time `json:"finished,omitzero"`
}

// eventJSON is the stored form of an eventstore.Event: its fields in the
// same order, so that a conversion between the two keeps them in step.
// Created is written as eventstore.Timestamp's 16 hex digits.
type eventJSON struct {
	ID          string               `json:"id"`
	Stream      string               `json:"stream"`
	Type        string               `json:"type"`
	Schema      int                  `json:"schema"`
	Data        json.RawMessage      `json:"data"`
	Meta        json.RawMessage      `json:"meta"`
	Created     eventstore.Timestamp `json:"created"`
	Origin      string               `json:"origin"`
	Position    int64                `json:"position,omitempty"`
	HubPosition int64                `json:"hub_position,omitempty"`
	Hydrated    bool                 `json:"hydrated,omitempty"`
	Outdated    bool                 `json:"outdated,omitempty"`
	Rejected    bool                 `json:"rejected,omitempty"`
	Unknown     bool                 `json:"unknown,omitempty"`
	Revived     int64                `json:"revived,omitempty"`
}

// MarshalJSON returns the record as the outbox stores it:
//
//	{"handler":"h","event":{"id":"…","stream":"…",…},"attempts":0,"created":"…"}
//
// The event's keys are id, stream, type, schema, data, meta, created (16 hex
// digits) and origin, then position, hub_position, hydrated, outdated,
// rejected, unknown and revived when set. Status is not stored.
func (r EffectRecord) MarshalJSON() ([]byte, error) {
	return json.Marshal(effectJSON{
		Handler:     r.Handler,
		Event:       eventJSON(r.Event),
		Attempts:    r.Attempts,
		LastError:   r.LastError,
		NextAttempt: r.NextAttempt,
		Created:     r.Created,
		Finished:    r.Finished,
	})
}

// UnmarshalJSON decodes what MarshalJSON returns. It leaves Status as it
// was.
func (r *EffectRecord) UnmarshalJSON(b []byte) error {
	var j effectJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	r.Handler, r.Event, r.Attempts, r.LastError = j.Handler, eventstore.Event(j.Event), j.Attempts, j.LastError
	r.NextAttempt, r.Created, r.Finished = j.NextAttempt, j.Created, j.Finished
	return nil
}
