package eventstore

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ferrysync/ferry/internal/wirejson"
)

func checkName(field, v string, maxLen int) error {
	switch {
	case v == "":
		return &ValidationError{Field: field, Reason: "must not be empty"}
	case len(v) > maxLen:
		return &ValidationError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", maxLen)}
	case !utf8.ValidString(v):
		return &ValidationError{Field: field, Reason: "not valid UTF-8"}
	case strings.IndexByte(v, 0) >= 0:
		// Valid UTF-8, but no text column of PostgreSQL can hold it: one
		// definition for every backend, so no replica stores what the hub
		// must refuse.
		return &ValidationError{Field: field, Reason: "contains a NUL byte"}
	}
	return nil
}

// ValidateEnvelope checks the fields every event must have whatever its type:
// a non-empty stream, type and origin within the length limits, valid
// UTF-8 without NUL bytes, a ULID id,
// a set Created, and Data and Meta that are valid UTF-8 JSON within
// MaxEventBytes.
// Backends call it for both local and remote events, after filling in
// defaults.
func ValidateEnvelope(e Event) error {
	err := func() error {
		if !ValidID(e.ID) {
			return &ValidationError{Field: "id", Reason: fmt.Sprintf("%q is not a ULID", e.ID)}
		}
		if err := checkName("stream", e.Stream, MaxStreamLen); err != nil {
			return err
		}
		if err := checkName("type", e.Type, MaxTypeLen); err != nil {
			return err
		}
		if err := checkName("origin", e.Origin, MaxOriginLen); err != nil {
			return err
		}
		if e.Created == 0 {
			return &ValidationError{Field: "created", Reason: "must be set"}
		}
		if e.Schema < 1 {
			return &ValidationError{Field: "schema", Reason: "must be at least 1"}
		}
		if len(e.Data)+len(e.Meta) > MaxEventBytes {
			return &ValidationError{Field: "data", Reason: fmt.Sprintf("data and meta exceed %d bytes", MaxEventBytes)}
		}
		if !wirejson.Valid(e.Data) || !utf8.Valid(e.Data) {
			return &ValidationError{Field: "data", Reason: "not valid UTF-8 JSON"}
		}
		if !wirejson.Valid(e.Meta) || !utf8.Valid(e.Meta) {
			return &ValidationError{Field: "meta", Reason: "not valid UTF-8 JSON"}
		}
		return nil
	}()
	if err != nil {
		return annotate(err, e)
	}
	return nil
}
