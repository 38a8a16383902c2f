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
	rows, err := listTasks(ctx, a, a.g.all)
	if err != nil {
		return err
	}
	var text strings.Builder
	for _, r := range rows {
		box, title := map[bool]string{false: "[ ]", true: "[x]"}[r.Done], r.Title
		if r.Deleted {
			title += " (deleted)"
		}
		fmt.Fprintf(&text, "%s %s  %s  %s\n", box, r.ID, r.Changed.Local().Format(timeLayout), title)
	}
	return a.printList(append([]taskRow{}, rows...), text.String(), "no tasks") // [], not null, when empty
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
	var text strings.Builder
	for e, err := range a.Store().ReadStream(ctx, streamOf(id), eventstore.ReadOptions{}) {
		if err != nil {
			return err
		}
		history = append(history, historyEvent{ID: e.ID, Type: e.Type, Created: e.Created.Time().UTC(), CreatedHLC: e.Created.String(),
			Origin: e.Origin, Hydrated: e.Hydrated, Outdated: e.Outdated, Position: e.Position, HubPosition: e.HubPosition, Data: e.Data})
		pushed := map[bool]string{false: "pushed", true: "pending"}[e.HubPosition == 0 && !e.Hydrated]
		fmt.Fprintf(&text, "  %s.%03d+%d  %-14s  origin=%-8s  hydrated=%-5v  outdated=%-5v  %-7s %s\n",
			e.Created.Time().Local().Format(timeLayout), e.Created.Millis()%1000, e.Created.Logical(),
			e.Type, e.Origin, e.Hydrated, e.Outdated, pushed, titleSet(e))
	}
	yesNo := map[bool]string{true: "yes", false: "no"}
	return a.print(map[string]any{"id": id, "title": t.Title, "done": t.Done, "deleted": t.Deleted, "version": t.Version(), "history": history},
		"task     %s\ntitle    %s\ndone     %s\ndeleted  %s\nversion  %d events\n\nhistory, in HLC order:\n%s",
		id, t.Title, yesNo[t.Done], yesNo[t.Deleted], t.Version(), text.String())
}

// titleSet returns ` "title"` for the events that set a task's title
// (created, renamed), "" for the others.
func titleSet(e eventstore.Event) string {
	var d TitleData
	if (e.Type != taskCreated.Name() && e.Type != taskRenamed.Name()) || json.Unmarshal(e.Data, &d) != nil {
		return ""
	}
	return fmt.Sprintf(" %q", d.Title)
}

// The write commands run a command on the task aggregate (validated input,
// business rules, optimistic concurrency with retries) that appends events
// to the local store, offline, then settle the app (see execute).

func cmdAdd(ctx context.Context, a *app, args []string) error {
	if a.g.list != "" && !nameRE.MatchString(a.g.list) {
		return usageError("--list %q: want 1-64 letters, digits, '.', '_' or '-'", a.g.list)
	}
	in, id := title(args), strings.TrimPrefix(a.g.list+"/"+newTaskID(), "/") // NAME/ULID in list NAME
	if _, err := execute(ctx, a, id, createTask, in); err != nil {
		return err
	}
	return a.print(map[string]string{"id": id, "title": strings.TrimSpace(in.Title)}, "%s\n", id)
}

// change returns the command "ID [ARGS]" that resolves the task id (or
// unique prefix) against the read model, runs cmd on it with the input
// that in makes of the other arguments and reports it as verb.
func change[I any](verb string, cmd func(*Task, I) error, in func(args []string) I) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		id, err := resolveID(ctx, a, args[0])
		if err != nil {
			return err
		}
		ids, err := execute(ctx, a, id, cmd, in(args[1:]))
		if err != nil {
			return err
		}
		return a.print(map[string]any{"id": id, "action": verb, "events": ids}, "%s %s\n", verb, id)
	}
}

// title is the input of add and rename: their arguments, joined.
func title(args []string) TitleData { return TitleData{Title: strings.Join(args, " ")} }

// noInput is the input of the commands that take none.
func noInput([]string) struct{} { return struct{}{} }

// execute runs cmd with input in on task id through ferry.Execute (input
// validated first, then load, run, save; retried on a concurrency
// conflict), then settles the app. It returns the ids of the events saved.
func execute[I any](ctx context.Context, a *app, id string, cmd func(*Task, I) error, in I) ([]string, error) {
	var ids []string
	record := func(t *Task, in I) error {
		err := cmd(t, in)
		ids = ids[:0]
		for _, e := range t.Pending() { // the events about to be saved
			ids = append(ids, e.ID)
		}
		return err
	}
	if _, err := ferry.Execute(ctx, a.App, tasks, streamOf(id), record, in); err != nil {
		return nil, err
	}
	return ids, a.settle(ctx, ids...)
}
