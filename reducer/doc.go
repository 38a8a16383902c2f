// Package reducer folds events into typed state: (state, event) -> state.
//
// A [Reducer] is built once, at program start, from a name, an initial-state
// function and typed handlers, one per event type:
//
//	tasks := reducer.New("task", func() Task { return Task{} })
//	reducer.On(tasks, "task:renamed", func(t Task, _ eventstore.Event, d TaskRenamed) Task {
//		t.Title = d.Title
//		return t
//	})
//
// [On] decodes the event's JSON payload into the handler's data type (here
// TaskRenamed), so handlers never cast. [Reducer.OnRaw] registers a handler
// that gets the raw event, and [Reducer.Default] a catch-all for types that
// have no handler. An event of a type with neither is rejected with an
// [*UnhandledError] naming the type, or skipped, as chosen with
// [WithUnknown]; it is never mis-decoded.
//
// # Folding
//
// [Reducer.Fold] consumes an iter.Seq2[eventstore.Event, error] such as
// eventstore.Store.ReadStream yields, holding one event at a time.
// [ReduceStream] folds a stream from its latest snapshot plus the events
// after the snapshot's cursor, and can stop at a version or a timestamp
// (time travel). [ReduceStreams] and [ReduceRelated] fold several streams
// merged in (Created, ID) order, e.g. every stream related to a key.
//
// # Snapshots
//
// A snapshot is an optimisation only: the result of a fold from a snapshot
// equals the full fold. Snapshots are stored under [Reducer.SnapshotName],
// the reducer's name plus its version (see [WithVersion]): bump the version
// whenever handlers or the state's shape change, and old snapshots are
// ignored. State is encoded with JSON unless [WithCodec] says otherwise, so S
// must round-trip through the codec (exported fields, for JSON). The store
// deletes a snapshot when an event arrives that sorts at or before its
// cursor, and [SaveSnapshot] only writes a fold that covers the whole stream
// as it stands in the writing transaction.
//
// # Event schema versions
//
// Every event records the schema version of its payload (eventstore.Event's
// Schema). The upcaster registry lives in this package, [Upcasters]: register
// a function per (type, from-version) that lifts a payload one version up.
// A reducer configured [WithUpcasters] upcasts every event to the current
// version of its type before any handler sees it; projectors and other
// readers use [Upcasters.Upcast] or [Decode] with the same registry. A stored
// version with no path to the current one is a [*SchemaError] naming the
// type and version.
package reducer
