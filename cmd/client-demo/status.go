package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// statusJSON is what `status --json` prints.
type statusJSON struct {
	Device         string    `json:"device"`
	Server         string    `json:"server"`
	Online         bool      `json:"online"`
	LastAttempt    time.Time `json:"last_attempt,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
	Pending        int       `json:"pending"`
	Rejected       int       `json:"rejected"`
	Cursor         int64     `json:"cursor"`
	EventsSeen     int64     `json:"events_seen"`
	LastSync       time.Time `json:"last_sync,omitzero"`
	EffectsPending int       `json:"effects_pending"`
	EffectsFailed  int       `json:"effects_failed"`
}

// cmdStatus prints the device's sync state. It works offline: it reads what
// the replicator recorded in the store.
func cmdStatus(ctx context.Context, a *app, _ []string) error {
	st, err := a.Replicator().Status(ctx)
	if err != nil {
		return err
	}
	seen, err := eventsSeen(ctx, a)
	if err != nil {
		return err
	}
	recs, err := a.Effects(ctx)
	if err != nil {
		return err
	}
	s := statusJSON{Device: st.Device, Server: a.g.server, Online: st.Online, LastAttempt: st.LastAttempt, LastError: st.LastError,
		Pending: st.Pending, Rejected: st.Rejected, Cursor: st.Cursor, EventsSeen: seen, LastSync: st.LastSync}
	for _, r := range recs {
		if r.Status == projector.EffectFailed {
			s.EffectsFailed++
		} else {
			s.EffectsPending++
		}
	}
	if a.g.json {
		return writeJSON(a.stdout, s)
	}
	online, lastSync := "never tried", "never"
	if !s.LastAttempt.IsZero() {
		online = fmt.Sprintf("%s at last attempt (%s)", map[bool]string{true: "online", false: "offline"}[s.Online],
			s.LastAttempt.Local().Format(timeLayout))
	}
	if !s.LastSync.IsZero() {
		lastSync = s.LastSync.Local().Format(timeLayout)
	}
	lines := [][2]string{{"device", s.Device}, {"server", s.Server}, {"online", online},
		{"last error", oneLine(after(s.LastError, client.ErrUnreachable))},
		{"pending", plural(s.Pending, "event") + " not yet pushed"}, {"rejected", plural(s.Rejected, "event") + " refused by the hub"},
		{"cursor", fmt.Sprint(s.Cursor)}, {"events seen", fmt.Sprint(s.EventsSeen)}, {"last sync", lastSync},
		{"side effects", fmt.Sprintf("%d pending, %d failed", s.EffectsPending, s.EffectsFailed)}}
	for _, l := range lines {
		if l[1] != "" && (l[0] != "rejected" || s.Rejected > 0) {
			fmt.Fprintf(a.stdout, "%-14s%s\n", l[0], l[1])
		}
	}
	return nil
}

// plural returns "1 event", "2 events".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
