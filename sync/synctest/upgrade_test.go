package synctest_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/sync/client"
)

// The notes app by version. Version 1 knows note:added; version 2 adds
// note:tagged, a set addition (commutative).
func notesRegistry(version int) *eventstore.Registry {
	r := eventstore.NewRegistry(eventstore.EventType{Name: "note:added", Data: eventstore.Required("text")})
	if version >= 2 {
		require := eventstore.Required("tag")
		_ = r.Register(eventstore.EventType{Name: "note:tagged", Data: require, Commutative: true})
	}
	return r
}

const notesDDL = `CREATE TABLE IF NOT EXISTS rm_notes (stream TEXT PRIMARY KEY, text TEXT NOT NULL DEFAULT '', events INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS rm_note_tags (stream TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (stream, tag))`

type noteData struct {
	Text string `json:"text,omitempty"`
	Tag  string `json:"tag,omitempty"`
}

// notesHandlers returns the handlers of an app version: text by On,
// tags by On (version 2), an event count by All, and Once effects.
func notesHandlers(version int, device string, sink *effectSink) *projector.Handlers {
	h := projector.NewHandlers()
	exec := func(ctx context.Context, tx eventstore.Tx, q string, args ...any) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, q, args...)
		return err
	}
	projector.On(h, "note:added", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d noteData) error {
		return exec(ctx, tx, `INSERT INTO rm_notes (stream, text) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET text = excluded.text`, e.Stream, d.Text)
	})
	count := func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, _ noteData) error {
		return exec(ctx, tx, `INSERT INTO rm_notes (stream, events) VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET events = events + 1`, e.Stream)
	}
	effect := func(_ context.Context, eff projector.Effect, _ noteData) error {
		sink.record(eff.Event.ID, device)
		return nil
	}
	projector.All(h, "note:added", count)
	projector.Once(h, "note:added", "notify", effect)
	if version >= 2 {
		projector.On(h, "note:tagged", func(ctx context.Context, tx eventstore.Tx, e eventstore.Event, d noteData) error {
			return exec(ctx, tx, `INSERT INTO rm_note_tags (stream, tag) VALUES (?, ?) ON CONFLICT DO NOTHING`, e.Stream, d.Tag)
		})
		projector.All(h, "note:tagged", count)
		projector.Once(h, "note:tagged", "notify", effect)
	}
	return h
}

// notesApp is one device running one version of the notes app: a
// noteDevice with the version's projector and effects outbox.
type notesApp struct {
	*noteDevice
	fx   *projector.Effects
	proj *projector.Projector
}

// openNotesApp opens the app's store at path as version (an upgrade when
// the store was written by an older one).
func openNotesApp(t testing.TB, path, name string, version int, url string, sink *effectSink) *notesApp {
	t.Helper()
	ctx := context.Background()
	h := notesHandlers(version, name, sink)
	fx, err := projector.NewEffects(h, projector.EffectOptions{})
	require.NoError(t, err)
	d := openNoteDevice(t, path, name, version, url, nil, fx.Hook)
	fx.Attach(d.store)
	require.NoError(t, d.store.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.(eventstore.SQLTx).SQL().ExecContext(ctx, notesDDL)
		return err
	}))
	p, err := projector.New("notes", d.store, projector.Options{Handlers: h})
	require.NoError(t, err)
	return &notesApp{noteDevice: d, fx: fx, proj: p}
}

// sync syncs, projects and runs due effects.
func (a *notesApp) sync() client.Stats {
	a.t.Helper()
	st := a.syncOnce()
	assert.Zero(a.t, st.Rejected, a.name)
	_, err := a.proj.CatchUp(context.Background())
	require.NoError(a.t, err, a.name)
	_, err = a.fx.RunDue(context.Background())
	require.NoError(a.t, err, a.name)
	return st
}

// readModel returns the app's read model as text rows.
func (a *notesApp) readModel() []string {
	a.t.Helper()
	ctx := context.Background()
	var out []string
	require.NoError(a.t, a.store.Update(ctx, func(tx eventstore.Tx) error {
		rows, err := tx.(eventstore.SQLTx).SQL().QueryContext(ctx, `SELECT 'note ' || stream || ' ' || text || ' ' || events FROM rm_notes
			UNION ALL SELECT 'tag ' || stream || ' ' || tag FROM rm_note_tags`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	}))
	slices.Sort(out)
	return out
}

// upgrade closes the app and opens its store as version 2.
func (a *notesApp) upgrade(url string, sink *effectSink) *notesApp {
	a.t.Helper()
	require.NoError(a.t, a.store.Close())
	return openNotesApp(a.t, a.path, a.name, 2, url, sink)
}

// Two app versions on three devices: the new one writes a type the old ones
// do not know while they keep pulling and pushing; after their upgrade
// every read model equals that of a device that ran the new version from
// the start (without a rebuild), and every Once effect ran exactly once, on
// the device that wrote the event.
func TestMixedVersionsThenUpgrade(t *testing.T) {
	for _, b := range syncdBackends() {
		t.Run(b.Name, func(t *testing.T) {
			hub := startSyncd(t, nil, b.Args(t)...)
			url := hub.URL()
			sink := newEffectSink()
			app := func(name string, version int) *notesApp {
				return openNotesApp(t, filepath.Join(t.TempDir(), name+".db"), name, version, url, sink)
			}
			newer, old1, old2 := app("newer", 2), app("old1", 1), app("old2", 1)
			devs := []*notesApp{newer, old1, old2}
			round := func() {
				for _, d := range devs {
					d.sync()
				}
			}

			newer.write("n1", "note:added", noteData{Text: "groceries"})
			newer.write("n1", "note:tagged", noteData{Tag: "home"})
			old1.write("n2", "note:added", noteData{Text: "call mom"})
			round()
			old2.write("n2", "note:added", noteData{Text: "call mom today"})
			newer.write("n2", "note:tagged", noteData{Tag: "family"})
			newer.write("n2", "note:tagged", noteData{Tag: "urgent"})
			old1.write("n3", "note:added", noteData{Text: "taxes"})
			round()
			newer.write("n3", "note:tagged", noteData{Tag: "money"})
			old2.write("n1", "note:added", noteData{Text: "groceries and milk"})
			round()
			round()
			for _, d := range devs[1:] {
				assert.Empty(t, d.pending(), "%s: its pushes are acknowledged", d.name)
			}
			assert.NotContains(t, old1.readModel(), "tag n1 home", "the old version cannot show tags")

			// A device that ran the new version from the start.
			ref := app("ref", 2)
			ref.sync()
			want := ref.readModel()
			assert.Equal(t, want, newer.readModel())
			assert.Contains(t, want, "tag n2 urgent")

			// The upgrade: reopened as version 2, the stores revive the
			// kept events and the projectors replay them.
			old1 = old1.upgrade(url, sink)
			old2 = old2.upgrade(url, sink)
			devs = []*notesApp{newer, old1, old2, ref}
			for _, d := range devs[1:3] {
				_, err := d.proj.CatchUp(context.Background())
				require.NoError(t, err)
				assert.Equal(t, want, d.readModel(), "%s after the upgrade, before syncing", d.name)
			}
			old1.write("n3", "note:tagged", noteData{Tag: "april"})
			round()
			round()
			want = ref.readModel()
			assert.Contains(t, want, "tag n3 april")
			for _, d := range devs {
				assert.Equal(t, want, d.readModel(), d.name)
				_, err := d.fx.RunDue(context.Background())
				require.NoError(t, err)
			}

			// Effects: exactly once per event, on its origin device.
			ran := sink.snapshot()
			all := ledger(t, ref.store)
			for _, e := range all {
				assert.Equal(t, []string{e.Origin}, ran[e.ID], "effect of %s %s", e.Type, e.ID)
			}
			assert.Len(t, ran, len(all))
		})
	}
}
