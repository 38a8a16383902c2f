package aggregate

import "context"

// Command is a typed command on aggregates of type S with input I: it
// checks in against the current state s and raises events on s, or returns
// an error (Invalid for bad input, Reject or its own error for a business
// rule). It runs again on fresh state after a concurrency conflict, so it
// must have no other side effects.
type Command[S Aggregate, I any] func(s S, in I) error

// Validator is implemented by command inputs that can check themselves,
// independently of any aggregate's state. Execute calls Validate (declare
// it on the value receiver) before loading anything.
type Validator interface {
	Validate() error
}

// Execute runs cmd with input in on the aggregate id, through repo.Update
// (load or new, run, save with Exact(loaded version), retry on conflict).
// When in implements Validator and Validate fails, Execute returns that
// failure as a validation error (errors.Is(err, ErrInvalidCommand)) without
// touching the store.
func Execute[S Aggregate, I any](ctx context.Context, repo *Repository[S], id string, cmd Command[S, I], in I) (S, error) {
	if v, ok := any(in).(Validator); ok {
		if err := v.Validate(); err != nil {
			var zero S
			return zero, asValidation(err)
		}
	}
	return repo.Update(ctx, id, func(s S) error { return cmd(s, in) })
}
