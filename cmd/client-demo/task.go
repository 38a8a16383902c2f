package main

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
)

// The event definitions: each value registers its type, validates its
// payload (TitleData.Validate, for local and pulled events alike), folds
// it and raises it. Every type is last-writer-wins per task.
var (
	taskCreated   = ferry.Event[TitleData]("task:created")
	taskRenamed   = ferry.Event[TitleData]("task:renamed")
	taskCompleted = ferry.Event[TitleData]("task:completed") // the title it had: the side effect prints it
	taskReopened  = ferry.Event[struct{}]("task:reopened")
	taskDeleted   = ferry.Event[struct{}]("task:deleted")
)

// maxTitle is the longest title, in characters.
const maxTitle = 200

// streamPrefix prefixes every task's stream: a task id "01j..." lives in
// the stream "task/01j...", and one in list NAME (add --list), whose id is
// "NAME/01j...", in "task/NAME/01j...". A token can be scoped to them
// (syncd token --streams task/), a device subscribe to lists (task/NAME/).
const streamPrefix = "task/"

// Task is the aggregate: its state is the fold of its stream in HLC order,
// so two devices holding the same events agree on it. Every field is a
// last-writer-wins register (the later event in HLC order wins), which is
// also how the read model resolves them (see readmodel.go).
type Task struct {
	ferry.Root
	Title   string `json:"title"`
	Done    bool   `json:"done"`
	Deleted bool   `json:"deleted"`
}

// TitleData is the payload of task:created, task:renamed and
// task:completed.
type TitleData struct {
	Title string `json:"title"`
}

// Validate implements aggregate.Validator: Execute calls it before loading
// anything, so bad input never touches the store.
func (d TitleData) Validate() error {
	switch {
	case !utf8.ValidString(d.Title):
		return aggregate.Invalid("title", "not valid UTF-8")
	case strings.TrimSpace(d.Title) == "":
		return aggregate.Invalid("title", "must not be empty")
	case utf8.RuneCountInString(d.Title) > maxTitle:
		return aggregate.Invalid("title", "longer than %d characters", maxTitle)
	case strings.IndexFunc(d.Title, unicode.IsControl) >= 0:
		return aggregate.Invalid("title", "must be one line without control characters")
	}
	return nil
}

// tasks folds a task's stream. Folds do not check business rules: those
// belong to commands. A fold must accept whatever the devices wrote
// concurrently (a rename of a task another device deleted while offline).
var tasks = ferry.NewAggregate("task", func() *Task { return &Task{} })

func init() {
	setTitle := func(t *Task, e ferry.Stored[TitleData]) { t.Title = e.Data.Title }
	ferry.Fold(tasks, taskCreated, setTitle)
	ferry.Fold(tasks, taskRenamed, setTitle)
	ferry.Fold(tasks, taskCompleted, func(t *Task, _ ferry.Stored[TitleData]) { t.Done = true })
	ferry.Fold(tasks, taskReopened, func(t *Task, _ ferry.Stored[struct{}]) { t.Done = false })
	ferry.Fold(tasks, taskDeleted, func(t *Task, _ ferry.Stored[struct{}]) { t.Deleted = true })
}

// errUnknownTask reports an id that names no task.
var errUnknownTask = errors.New("unknown task")

// Commands. Each checks the input against the state and raises events, or
// returns an error; it may run again on fresh state after a concurrency
// conflict, so it has no other side effect.

func createTask(t *Task, in TitleData) error {
	if t.Exists() {
		return aggregate.Reject("task %s already exists", taskID(t))
	}
	return taskCreated.Raise(t, TitleData{Title: strings.TrimSpace(in.Title)})
}

func renameTask(t *Task, in TitleData) error {
	title := strings.TrimSpace(in.Title)
	if err := live(t); err != nil {
		return err
	}
	if title == t.Title {
		return aggregate.Reject("task %s is already called %q", taskID(t), title)
	}
	return taskRenamed.Raise(t, TitleData{Title: title})
}

// markDone returns the command that completes (done) or reopens a task.
func markDone(done bool) func(*Task, struct{}) error {
	return func(t *Task, _ struct{}) error {
		switch err := live(t); {
		case err != nil:
			return err
		case t.Done && done:
			return aggregate.Reject("task %s is already completed", taskID(t))
		case !t.Done && !done:
			return aggregate.Reject("task %s is not completed", taskID(t))
		case done:
			return taskCompleted.Raise(t, TitleData{Title: t.Title})
		}
		return taskReopened.Raise(t, struct{}{})
	}
}

func deleteTask(t *Task, _ struct{}) error {
	if err := live(t); err != nil {
		return err
	}
	return taskDeleted.Raise(t, struct{}{})
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
