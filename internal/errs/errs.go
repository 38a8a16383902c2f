// Package errs holds what Ferry's structured error types share: composing an
// Error() text from a head and optional parts, and the Unwrap list of a
// sentinel plus an optional cause. Each package keeps its own exported
// sentinels and types (their texts are part of its API); only the mechanics
// live here.
package errs

import "strings"

// Part is an optional piece of an error text: Before+Text+After, or nothing
// when Text is empty.
type Part struct {
	Before, Text, After string
}

// Opt returns the part before+text, left out when text is empty.
func Opt(before, text string) Part { return Part{Before: before, Text: text} }

// Event returns the part " (event id)", left out when id is empty.
func Event(id string) Part { return Part{Before: " (event ", Text: id, After: ")"} }

// Cause returns the part ": " + err.Error(), left out when err is nil.
func Cause(err error) Part {
	if err == nil {
		return Part{}
	}
	return Opt(": ", err.Error())
}

// Message returns head followed by the parts that are present.
func Message(head string, parts ...Part) string {
	var b strings.Builder
	b.WriteString(head)
	for _, p := range parts {
		if p.Text != "" {
			b.WriteString(p.Before)
			b.WriteString(p.Text)
			b.WriteString(p.After)
		}
	}
	return b.String()
}

// Unwrap returns the non-nil errors of errs, for an Unwrap() []error method
// of a type that unwraps to its sentinel and, when there is one, a cause.
func Unwrap(errs ...error) []error {
	out := make([]error, 0, len(errs))
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}
