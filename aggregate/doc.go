// Package aggregate is the write side of an application embedding Ferry:
// aggregate roots whose state is folded from their stream by a reducer,
// commands that raise new events, and a Repository that loads, saves with
// optimistic concurrency control, retries on conflict and keeps snapshots.
//
// # Aggregates
//
// An aggregate is a struct that embeds [Root], used through a pointer; its
// reducer folds events into that pointer in place:
//
//	type Task struct {
//		aggregate.Root
//		Title string
//		Done  bool
//	}
//
//	tasks := reducer.New("task", func() *Task { return &Task{} })
//	reducer.On(tasks, "task:renamed", func(t *Task, _ eventstore.Event, d TaskRenamed) *Task {
//		t.Title = d.Title
//		return t
//	})
//
// Root tracks the stream id, the version (events folded, including raised
// ones) and the events raised but not yet saved. [Root.Raise] records a new
// event and folds it at once, so a command that raises several events sees
// the effect of each.
//
// # Commands
//
// A [Command] is a typed function of the current state and an input; it
// checks the input against the state and raises events, or returns an
// error. Three kinds of error stay apart:
//
//   - invalid input: the input's Validate method (if it has one) fails, or the
//     command returns [Invalid]; errors.Is(err, [ErrInvalidCommand]). Checked
//     before loading, never retried.
//   - business rules: the command returns [Reject] (errors.Is(err,
//     [ErrRejected])) or its own error, which is returned unchanged. Never
//     retried.
//   - concurrency: another writer changed the stream between load and save;
//     the command is retried on fresh state, and when the retries are used up
//     the *eventstore.ConflictError is returned (errors.Is(err,
//     eventstore.ErrConcurrency)).
//
// # Repository or package functions
//
// The Repository binds what every load and save of one aggregate type
// needs: the store, the reducer, the retry budget and the snapshot policy.
// Holding them in one value keeps call sites short (repo.Load(ctx, id)) and
// makes the policy a decision made once, where the repository is built,
// rather than at every call. Commands with a typed input go through the
// package function [Execute], because Go methods cannot take type
// parameters; [Repository.Update] takes a closure instead. [Save] is a
// package function too: it saves aggregates of different types atomically.
//
// # Saving and snapshots
//
// A save appends each aggregate's raised events with
// eventstore.Exact(version as loaded), all aggregates in one Append (one
// transaction), ordered by stream id so that concurrent multi-aggregate
// saves take their locks in the same order. A conflict on any aggregate
// saves none.
//
// After a successful save that crosses a multiple of the snapshot interval
// (WithSnapshotEvery, default 100 events), the repository folds the stream
// again from its previous snapshot plus the tail and saves that as the new
// snapshot, so a snapshot always equals what a full fold from the store
// gives (handlers may read Created or Position, which the store assigns).
// Snapshot failures are logged and otherwise ignored: snapshots are an
// optimisation only, and deleting all of them never changes any state.
package aggregate
