package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferrysync/ferry"
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
	return change(ctx, a, args[0], "renamed", renameTask, TitleData{Title: strings.Join(args[1:], " ")})
}

func cmdComplete(ctx context.Context, a *app, args []string) error {
	return change(ctx, a, args[0], "completed", markDone(true), struct{}{})
}

func cmdReopen(ctx context.Context, a *app, args []string) error {
	return change(ctx, a, args[0], "reopened", markDone(false), struct{}{})
}

func cmdDelete(ctx context.Context, a *app, args []string) error {
	return change(ctx, a, args[0], "deleted", deleteTask, struct{}{})
}

// change resolves the task id (or unique prefix) ref against the read
// model, runs cmd with input in on it and reports what it did.
func change[I any](ctx context.Context, a *app, ref, verb string, cmd func(*Task, I) error, in I) error {
	id, err := resolveID(ctx, a, ref)
	if err != nil {
		return err
	}
	ids, err := execute(ctx, a, id, cmd, in)
	if err != nil {
		return err
	}
	if a.g.json {
		return writeJSON(a.stdout, map[string]any{"id": id, "action": verb, "events": ids})
	}
	fmt.Fprintf(a.stdout, "%s %s\n", verb, id)
	return nil
}

// execute runs cmd with input in on task id through ferry.Execute (input
// validated first, then load, run, save; retried on a concurrency
// conflict), then settles the app. It returns the ids of the events saved.
func execute[I any](ctx context.Context, a *app, id string, cmd func(*Task, I) error, in I) ([]string, error) {
	var ids []string
	record := func(t *Task, in I) error {
		if err := cmd(t, in); err != nil {
			return err
		}
		ids = ids[:0]
		for _, e := range t.Pending() { // the events about to be saved
			ids = append(ids, e.ID)
		}
		return nil
	}
	if _, err := ferry.Execute(ctx, a.App, tasks, streamOf(id), record, in); err != nil {
		return nil, err
	}
	if err := a.CatchUp(ctx); err != nil {
		return ids, err
	}
	a.warnEffects(ctx, ids...)
	return ids, nil
}
