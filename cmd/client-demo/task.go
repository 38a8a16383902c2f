package main

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/reducer"
)

// Event types of the task aggregate.
const (
	evCreated   = "task:created"
	evRenamed   = "task:renamed"
	evCompleted = "task:completed"
	evReopened  = "task:reopened"
	evDeleted   = "task:deleted"
)

// eventTypes lists every event type the app writes and reads.
var eventTypes = []string{evCreated, evRenamed, evCompleted, evReopened, evDeleted}

// maxTitle is the longest title, in characters.
const maxTitle = 200

// streamPrefix prefixes every task's stream: a task id "01j..." lives in
// the stream "task/01j...". A token can be scoped to it (syncd token
// --streams task/).
const streamPrefix = "task/"

// Task is the aggregate: its state is the fold of its stream in HLC order,
// so two devices holding the same events agree on it. Every field is a
// last-writer-wins register (the later event in HLC order wins), which is
// also how the read model resolves them (see readmodel.go).
type Task struct {
	aggregate.Root
	Title   string `json:"title"`
	Done    bool   `json:"done"`
	Deleted bool   `json:"deleted"`
}

// TitleData is the payload of task:created and task:renamed, and of
// task:completed, which records the title the task had when it was
// completed (the side effect prints it).
type TitleData struct {
	Title string `json:"title"`
}

// Validate implements aggregate.Validator: Execute calls it before loading
// anything, so bad input never touches the store.
func (d TitleData) Validate() error {
	if reason := checkTitle(d.Title); reason != "" {
		return aggregate.Invalid("title", "%s", reason)
	}
	return nil
}

// checkTitle returns why title is not acceptable, or "".
func checkTitle(title string) string {
	switch {
	case !utf8.ValidString(title):
		return "not valid UTF-8"
	case strings.TrimSpace(title) == "":
		return "must not be empty"
	case utf8.RuneCountInString(title) > maxTitle:
		return fmt.Sprintf("longer than %d characters", maxTitle)
	case strings.IndexFunc(title, unicode.IsControl) >= 0:
		return "must be one line without control characters"
	}
	return ""
}

// registry validates every event the store takes in, local or pulled.
func registry() *eventstore.Registry {
	titled := eventstore.JSON(func(d TitleData) error {
		if reason := checkTitle(d.Title); reason != "" {
			return eventstore.FieldError("title", "%s", reason)
		}
		return nil
	})
	object := eventstore.JSON[map[string]any](nil)
	return eventstore.NewRegistry(
		eventstore.EventType{Name: evCreated, Data: titled},
		eventstore.EventType{Name: evRenamed, Data: titled},
		eventstore.EventType{Name: evCompleted, Data: object},
		eventstore.EventType{Name: evReopened, Data: object},
		eventstore.EventType{Name: evDeleted, Data: object},
	)
}

// taskReducer folds a task's stream. Handlers do not check business rules:
// those belong to commands. A fold must accept whatever the devices wrote
// concurrently (a rename of a task another device deleted while offline).
func taskReducer() *reducer.Reducer[*Task] {
	r := reducer.New("task", func() *Task { return &Task{} })
	reducer.On(r, evCreated, func(t *Task, _ eventstore.Event, d TitleData) *Task { t.Title = d.Title; return t })
	reducer.On(r, evRenamed, func(t *Task, _ eventstore.Event, d TitleData) *Task { t.Title = d.Title; return t })
	r.OnRaw(evCompleted, func(t *Task, _ eventstore.Event) *Task { t.Done = true; return t })
	r.OnRaw(evReopened, func(t *Task, _ eventstore.Event) *Task { t.Done = false; return t })
	r.OnRaw(evDeleted, func(t *Task, _ eventstore.Event) *Task { t.Deleted = true; return t })
	return r
}

// errUnknownTask reports an id that names no task.
var errUnknownTask = errors.New("unknown task")

// none is the input of commands that take none.
type none struct{}

// Commands. Each checks the input against the state and raises events, or
// returns an error; it may run again on fresh state after a concurrency
// conflict, so it has no other side effect.

func createTask(t *Task, in TitleData) error {
	if t.Exists() {
		return aggregate.Reject("task %s already exists", taskID(t))
	}
	return t.Raise(evCreated, TitleData{Title: strings.TrimSpace(in.Title)})
}

func renameTask(t *Task, in TitleData) error {
	if err := live(t); err != nil {
		return err
	}
	title := strings.TrimSpace(in.Title)
	if title == t.Title {
		return aggregate.Reject("task %s is already called %q", taskID(t), title)
	}
	return t.Raise(evRenamed, TitleData{Title: title})
}

func completeTask(t *Task, _ none) error {
	if err := live(t); err != nil {
		return err
	}
	if t.Done {
		return aggregate.Reject("task %s is already completed", taskID(t))
	}
	return t.Raise(evCompleted, TitleData{Title: t.Title})
}

func reopenTask(t *Task, _ none) error {
	if err := live(t); err != nil {
		return err
	}
	if !t.Done {
		return aggregate.Reject("task %s is not completed", taskID(t))
	}
	return t.Raise(evReopened, nil)
}

func deleteTask(t *Task, _ none) error {
	if err := live(t); err != nil {
		return err
	}
	return t.Raise(evDeleted, nil)
}

// live returns an error unless t exists and is not deleted.
func live(t *Task) error {
	switch {
	case !t.Exists():
		return fmt.Errorf("%w %s", errUnknownTask, taskID(t))
	case t.Deleted:
		return aggregate.Reject("task %s is deleted", taskID(t))
	}
	return nil
}

// newTaskID returns a new task id: a lower-case ULID, unique across
// devices without coordination.
func newTaskID() string { return strings.ToLower(eventstore.NewID()) }

// taskID returns the task id of an aggregate (its stream minus the prefix).
func taskID(t *Task) string { return strings.TrimPrefix(t.ID(), streamPrefix) }

// streamOf returns the stream of task id.
func streamOf(id string) string { return streamPrefix + id }
