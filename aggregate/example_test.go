package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/reducer"
)

// Task is an aggregate: a to-do item. It embeds aggregate.Root and is used
// through a pointer.
type Task struct {
	aggregate.Root
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

// The events of a Task.
type (
	TaskCreated struct {
		Title string `json:"title"`
	}
	TaskRenamed struct {
		Title string `json:"title"`
	}
)

// NewTaskReducer folds a Task's events into it, in place.
func NewTaskReducer() *reducer.Reducer[*Task] {
	r := reducer.New("task", func() *Task { return &Task{} })
	reducer.On(r, "task:created", func(t *Task, _ eventstore.Event, d TaskCreated) *Task {
		t.Title = d.Title
		return t
	})
	reducer.On(r, "task:renamed", func(t *Task, _ eventstore.Event, d TaskRenamed) *Task {
		t.Title = d.Title
		return t
	})
	r.OnRaw("task:completed", func(t *Task, _ eventstore.Event) *Task {
		t.Done = true
		return t
	})
	return r
}

// TitleInput is the input of CreateTask and RenameTask. Its Validate method
// checks it before any state is loaded.
type TitleInput struct{ Title string }

// Validate implements aggregate.Validator.
func (in TitleInput) Validate() error {
	if strings.TrimSpace(in.Title) == "" {
		return aggregate.Invalid("title", "must not be empty")
	}
	return nil
}

// CreateTask creates a task.
func CreateTask(t *Task, in TitleInput) error {
	if t.Exists() {
		return aggregate.Reject("task %s already exists", t.ID())
	}
	return t.Raise("task:created", TaskCreated(in))
}

// RenameTask renames an open task.
func RenameTask(t *Task, in TitleInput) error {
	switch {
	case !t.Exists():
		return aggregate.ErrAggregateNotFound
	case t.Done:
		return aggregate.Reject("task %s is done", t.ID())
	}
	return t.Raise("task:renamed", TaskRenamed(in))
}

// CompleteTask marks a task done.
func CompleteTask(t *Task, _ struct{}) error {
	if !t.Exists() {
		return aggregate.ErrAggregateNotFound
	}
	if t.Done {
		return nil // already done: nothing to record
	}
	return t.Raise("task:completed", nil)
}

// Example runs commands on a Task aggregate: a successful create, rename
// and complete, then an invalid input and a refused command.
func Example() {
	ctx := context.Background()
	registry := eventstore.NewRegistry(
		eventstore.EventType{Name: "task:created", Data: eventstore.Required("title")},
		eventstore.EventType{Name: "task:renamed", Data: eventstore.Required("title")},
		eventstore.EventType{Name: "task:completed"},
	)
	store := memory.New(eventstore.Config{Registry: registry})
	defer store.Close()
	tasks := aggregate.NewRepository(store, NewTaskReducer())

	if _, err := aggregate.Execute(ctx, tasks, "task-1", CreateTask, TitleInput{Title: "buy milk"}); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := aggregate.Execute(ctx, tasks, "task-1", RenameTask, TitleInput{Title: "buy oat milk"}); err != nil {
		fmt.Println(err)
		return
	}
	task, err := aggregate.Execute(ctx, tasks, "task-1", CompleteTask, struct{}{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %q done=%v version=%d\n", task.ID(), task.Title, task.Done, task.Version())

	_, err = aggregate.Execute(ctx, tasks, "task-2", CreateTask, TitleInput{Title: " "})
	fmt.Println("invalid:", errors.Is(err, aggregate.ErrInvalidCommand), err)

	_, err = aggregate.Execute(ctx, tasks, "task-1", RenameTask, TitleInput{Title: "buy soy milk"})
	fmt.Println("rejected:", errors.Is(err, aggregate.ErrRejected), err)

	_, err = tasks.Load(ctx, "task-2")
	fmt.Println("not found:", errors.Is(err, aggregate.ErrAggregateNotFound))

	// Output:
	// task-1: "buy oat milk" done=true version=3
	// invalid: true aggregate: invalid command: field title: must not be empty
	// rejected: true aggregate: command rejected: task task-1 is done
	// not found: true
}

// ExampleSave saves two aggregates atomically: both commit, or, when either
// stream changed since it was loaded, neither does.
func ExampleSave() {
	ctx := context.Background()
	store := memory.New(eventstore.Config{})
	defer store.Close()
	tasks := aggregate.NewRepository(store, NewTaskReducer())

	a, _ := tasks.New("task-a")
	b, _ := tasks.New("task-b")
	_ = CreateTask(a, TitleInput{Title: "plan"})
	_ = CreateTask(b, TitleInput{Title: "do"})
	if err := aggregate.Save(ctx, store, b, a); err != nil { // saved in stream id order
		fmt.Println(err)
		return
	}

	// b changes behind our back, so saving a and b together fails.
	a, _ = tasks.Load(ctx, "task-a")
	b, _ = tasks.Load(ctx, "task-b")
	_, _ = aggregate.Execute(ctx, tasks, "task-b", RenameTask, TitleInput{Title: "do now"})
	_ = CompleteTask(a, struct{}{})
	_ = CompleteTask(b, struct{}{})
	err := aggregate.Save(ctx, store, a, b)
	fmt.Println("conflict:", errors.Is(err, eventstore.ErrConcurrency))

	a, _ = tasks.Load(ctx, "task-a")
	fmt.Println("task-a done:", a.Done)

	// Output:
	// conflict: true
	// task-a done: false
}
