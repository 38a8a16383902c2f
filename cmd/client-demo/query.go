package main

import (
	"context"
	"encoding/json"
	"fmt"
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
