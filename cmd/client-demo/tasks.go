package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferrysync/ferry/aggregate"
	"github.com/ferrysync/ferry/eventstore"
)

// The write commands. Each runs a command on the task aggregate (validated
// input, business rules, optimistic concurrency with retries), which appends
// its events to the local store: no network involved. Before exiting it
// brings the read model up to date and runs the side effects that are due.

func cmdAdd(ctx context.Context, a *app, args []string) error {
	in := TitleData{Title: strings.Join(args, " ")}
	id := newTaskID()
	if _, err := execute(ctx, a, id, createTask, in); err != nil {
		return err
	}
	if a.g.json {
		return writeJSON(a.stdout, map[string]string{"id": id, "title": strings.TrimSpace(in.Title)})
	}
	fmt.Fprintln(a.stdout, id)
	return nil
}

func cmdRename(ctx context.Context, a *app, args []string) error {
	return change(ctx, a, args[0], "renamed", func(ctx context.Context, id string) ([]eventstore.Event, error) {
		return execute(ctx, a, id, renameTask, TitleData{Title: strings.Join(args[1:], " ")})
	})
}

func cmdComplete(ctx context.Context, a *app, args []string) error {
	return change(ctx, a, args[0], "completed", func(ctx context.Context, id string) ([]eventstore.Event, error) {
		return execute(ctx, a, id, completeTask, none{})
	})
}

func cmdReopen(ctx context.Context, a *app, args []string) error {
	return change(ctx, a, args[0], "reopened", func(ctx context.Context, id string) ([]eventstore.Event, error) {
		return execute(ctx, a, id, reopenTask, none{})
	})
}

func cmdDelete(ctx context.Context, a *app, args []string) error {
	return change(ctx, a, args[0], "deleted", func(ctx context.Context, id string) ([]eventstore.Event, error) {
		return execute(ctx, a, id, deleteTask, none{})
	})
}

// change resolves the task id (or unique prefix) ref, runs do on it and
// reports what it did.
func change(ctx context.Context, a *app, ref, verb string, do func(context.Context, string) ([]eventstore.Event, error)) error {
	if _, err := a.proj.CatchUp(ctx); err != nil { // ids resolve against the read model
		return err
	}
	id, err := resolveID(ctx, a.store, ref)
	if err != nil {
		return err
	}
	events, err := do(ctx, id)
	if err != nil {
		return err
	}
	if a.g.json {
		ids := make([]string, len(events))
		for i, e := range events {
			ids[i] = e.ID
		}
		return writeJSON(a.stdout, map[string]any{"id": id, "action": verb, "events": ids})
	}
	fmt.Fprintf(a.stdout, "%s %s\n", verb, id)
	return nil
}

// execute runs cmd with input in on task id through aggregate.Execute
// (input validated first, then load, run, save; retried on a concurrency
// conflict), then settles the app. It returns the events saved.
func execute[I any](ctx context.Context, a *app, id string, cmd aggregate.Command[*Task, I], in I) ([]eventstore.Event, error) {
	var raised []eventstore.Event
	record := func(t *Task, in I) error {
		if err := cmd(t, in); err != nil {
			return err
		}
		raised = t.Pending() // the events about to be saved, ids included
		return nil
	}
	if _, err := aggregate.Execute(ctx, a.tasks, streamOf(id), record, in); err != nil {
		return nil, err
	}
	if err := a.settle(ctx); err != nil {
		return raised, err
	}
	a.warnEffects(ctx, raised)
	return raised, nil
}
