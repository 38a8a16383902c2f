package aggregate_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/eventstore/sqlite"
	"github.com/ferrysync/ferry/reducer"
)

// Ticket is the aggregate the tests use.
type Ticket struct {
	aggregate.Root
	Title   string   `json:"title"`
	Done    bool     `json:"done"`
	Renames int      `json:"renames"`
	Notes   []string `json:"notes"`
}

// Event payloads.
type (
	TicketCreated struct {
		Title string `json:"title"`
	}
	TicketRenamed struct {
		Title string `json:"title"`
	}
	TicketNoted struct {
		Note string `json:"note"`
	}
)

// ErrTaskDone is a business-rule error of the application's own.
var ErrTaskDone = errors.New("task is done")

func newTaskReducer(opts ...reducer.Option) *reducer.Reducer[*Ticket] {
	r := reducer.New("task", func() *Ticket { return &Ticket{} }, opts...)
	reducer.On(r, "task:created", func(t *Ticket, _ eventstore.Event, d TicketCreated) *Ticket {
		t.Title = d.Title
		return t
	})
	reducer.On(r, "task:renamed", func(t *Ticket, _ eventstore.Event, d TicketRenamed) *Ticket {
		t.Title = d.Title
		t.Renames++
		return t
	})
	reducer.On(r, "task:noted", func(t *Ticket, _ eventstore.Event, d TicketNoted) *Ticket {
		t.Notes = append(t.Notes, d.Note)
		return t
	})
	r.OnRaw("task:completed", func(t *Ticket, _ eventstore.Event) *Ticket {
		t.Done = true
		return t
	})
	return r
}

// Command inputs.
type (
	CreateInput struct{ Title string }
	RenameInput struct{ Title string }
	NoteInput   struct{ Note string }
	Complete    struct{}
)

// Validate implements aggregate.Validator.
func (c CreateInput) Validate() error {
	if strings.TrimSpace(c.Title) == "" {
		return aggregate.Invalid("title", "must not be empty")
	}
	return nil
}

// Validate implements aggregate.Validator with a plain error.
func (c RenameInput) Validate() error {
	if len(c.Title) > 20 {
		return errors.New("title longer than 20 characters")
	}
	return nil
}

func create(t *Ticket, in CreateInput) error {
	if t.Exists() {
		return aggregate.Reject("task %s already exists", t.ID())
	}
	return t.Raise("task:created", TicketCreated(in))
}

func rename(t *Ticket, in RenameInput) error {
	switch {
	case !t.Exists():
		return aggregate.ErrAggregateNotFound
	case t.Done:
		return ErrTaskDone
	case t.Title == in.Title:
		return nil // nothing to do
	}
	return t.Raise("task:renamed", TicketRenamed(in))
}

func note(t *Ticket, in NoteInput) error {
	if !t.Exists() {
		return aggregate.ErrAggregateNotFound
	}
	return t.Raise("task:noted", TicketNoted(in))
}

func complete(t *Ticket, _ Complete) error {
	if !t.Exists() {
		return aggregate.ErrAggregateNotFound
	}
	if t.Done {
		return aggregate.Reject("task %s is already done", t.ID())
	}
	return t.Raise("task:completed", nil)
}

// backends opens a fresh store of each kind for a test.
var backends = []struct {
	name string
	open func(t testing.TB, cfg eventstore.Config) testStore
}{
	{"memory", func(t testing.TB, cfg eventstore.Config) testStore {
		s := memory.New(cfg)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"sqlite", func(t testing.TB, cfg eventstore.Config) testStore {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ferry.db"), sqlite.Options{Config: cfg})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

func newMemory(t testing.TB) testStore { return backends[0].open(t, eventstore.Config{}) }

// testStore is a store of these tests: the core and snapshots.
type testStore interface {
	eventstore.Store
	eventstore.Snapshots
}
