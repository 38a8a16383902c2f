package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ferrysync/ferry"
	"github.com/ferrysync/ferry/eventstore"
)

// timeLayout formats times in text output (local time).
const timeLayout = "2006-01-02 15:04:05"

func cmdList(ctx context.Context, a *app, _ []string) error {
	rows, err := listTasks(ctx, a, a.o.all)
	if err != nil {
		return err
	}
	if a.g.json {
		if rows == nil {
			rows = []taskRow{}
		}
		return writeJSON(a.stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(a.stdout, "no tasks")
		return nil
	}
	for _, r := range rows {
		box, title := "[ ]", r.Title
		if r.Done {
			box = "[x]"
		}
		if r.Deleted {
			title += " (deleted)"
		}
		fmt.Fprintf(a.stdout, "%s %s  %s  %s\n", box, r.ID, r.Changed.Local().Format(timeLayout), title)
	}
	return nil
}

// historyEvent is one event of `show --json`.
type historyEvent struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Created     time.Time       `json:"created"`
	CreatedHLC  string          `json:"created_hlc"`
	Origin      string          `json:"origin"`
	Hydrated    bool            `json:"hydrated"`
	Outdated    bool            `json:"outdated"`
	Position    int64           `json:"position"`
	HubPosition int64           `json:"hub_position"`
	Data        json.RawMessage `json:"data"`
}

// cmdShow prints a task's state, folded by the aggregate's reducer from its
// events in HLC order, and those events with their flags.
func cmdShow(ctx context.Context, a *app, args []string) error {
	id, err := resolveID(ctx, a, args[0])
	if err != nil {
		return err
	}
	t, err := ferry.Load(ctx, a.App, tasks, streamOf(id))
	if err != nil {
		return err
	}
	var history []historyEvent
	for e, err := range a.Store().ReadStream(ctx, streamOf(id), eventstore.ReadOptions{}) {
		if err != nil {
			return err
		}
		history = append(history, historyEvent{ID: e.ID, Type: e.Type, Created: e.Created.Time().UTC(), CreatedHLC: e.Created.String(),
			Origin: e.Origin, Hydrated: e.Hydrated, Outdated: e.Outdated, Position: e.Position, HubPosition: e.HubPosition, Data: e.Data})
	}
	if a.g.json {
		return writeJSON(a.stdout, map[string]any{"id": id, "title": t.Title, "done": t.Done, "deleted": t.Deleted,
			"version": t.Version(), "history": history})
	}
	w := a.stdout
	fmt.Fprintf(w, "task     %s\ntitle    %s\ndone     %s\ndeleted  %s\nversion  %d events\n\nhistory, in HLC order:\n",
		id, t.Title, yesNo(t.Done), yesNo(t.Deleted), t.Version())
	for _, e := range history {
		var d TitleData
		_ = json.Unmarshal(e.Data, &d)
		detail := ""
		if d.Title != "" && e.Type != evCompleted {
			detail = fmt.Sprintf("%q", d.Title)
		}
		pushed := "pushed"
		if e.HubPosition == 0 && !e.Hydrated {
			pushed = "pending"
		}
		fmt.Fprintf(w, "  %s.%03d+%d  %-14s  origin=%-8s  hydrated=%-5v  outdated=%-5v  %-7s  %s\n",
			e.Created.Local().Format(timeLayout), e.Created.Nanosecond()/1e6, mustTS(e.CreatedHLC).Logical(),
			e.Type, e.Origin, e.Hydrated, e.Outdated, pushed, detail)
	}
	return nil
}

func mustTS(s string) eventstore.Timestamp {
	ts, _ := eventstore.ParseTimestamp(s)
	return ts
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

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

// cmdChange returns the command ID that runs cmd on the task and reports
// it as verb: complete, reopen, delete.
func cmdChange(verb string, cmd func(*Task, struct{}) error) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		return change(ctx, a, args[0], verb, cmd, struct{}{})
	}
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
