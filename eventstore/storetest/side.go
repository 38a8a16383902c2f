package storetest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

var sideChecks = []check{
	{"Relations", testRelations},
	{"ListStreams", testListStreams},
	{"CheckpointsAndState", testCheckpointsState},
	{"UpdateCommitsTogether", testUpdateCommit},
	{"UpdateRollsBackTogether", testUpdateRollback},
}

func testRelations(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	by := func(keys ...string) []string {
		t.Helper()
		got, err := s.StreamsByKeys(ctx, keys...)
		require.NoError(t, err)
		return got
	}
	assert.Empty(t, by("k1"))
	require.NoError(t, s.AddRelations(ctx, "k1", "s2", "s1"))
	require.NoError(t, s.AddRelations(ctx, "k1", "s1"), "idempotent")
	require.NoError(t, s.AddRelations(ctx, "k2", "s3", "s2"))
	assert.Equal(t, []string{"s1", "s2"}, by("k1"))
	assert.Equal(t, []string{"s1", "s2", "s3"}, by("k2", "k1"), "union, distinct, sorted")
	assert.Equal(t, []string{"s2", "s3"}, by("k2", "missing"))
	assert.Empty(t, by())

	require.NoError(t, s.RemoveRelations(ctx, "k1", "s1", "nope"))
	assert.Equal(t, []string{"s2"}, by("k1"))
	require.NoError(t, s.RemoveRelations(ctx, "k2"), "no streams: all of the key")
	assert.Empty(t, by("k2"))
	assert.Equal(t, []string{"s2"}, by("k1", "k2"))
	require.NoError(t, s.RemoveRelations(ctx, "missing"))

	// Relations are written in transactions like everything else.
	err := s.Update(ctx, func(tx eventstore.Tx) error {
		require.NoError(t, txAll(t, tx).AddRelations(ctx, "k3", "s9"))
		require.NoError(t, txAll(t, tx).RemoveRelations(ctx, "k1"))
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	assert.Empty(t, by("k3"))
	assert.Equal(t, []string{"s2"}, by("k1"))
}

var errRollback = errors.New("storetest: roll back")

func testListStreams(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	list := func(opts eventstore.ListOptions) []eventstore.StreamInfo {
		t.Helper()
		got, err := s.ListStreams(ctx, opts)
		require.NoError(t, err)
		return got
	}
	assert.Empty(t, list(eventstore.ListOptions{}))
	for i, name := range []string{"a/3", "b/1", "a/1", "a/5", "a/2", "a/4", "ab"} {
		evs := make([]eventstore.Event, i%3+1)
		for j := range evs {
			evs[j] = local(TypeNote, j)
		}
		appendTo(t, s, name, evs...)
	}
	insert(t, s, remote("c", TypeNote, base()))

	all := list(eventstore.ListOptions{})
	assert.Equal(t, []eventstore.StreamInfo{si("a/1", 3), si("a/2", 2), si("a/3", 1), si("a/4", 3), si("a/5", 1), si("ab", 1), si("b/1", 2), si("c", 1)}, all)

	// Page through the a/ prefix two at a time.
	var pages [][]string
	after := ""
	for {
		page := list(eventstore.ListOptions{Prefix: "a/", After: after, Limit: 2})
		if len(page) == 0 {
			break
		}
		var names []string
		for _, p := range page {
			names = append(names, p.Name)
		}
		pages = append(pages, names)
		after = page[len(page)-1].Name
		require.Less(t, len(pages), 10, "pagination does not end")
	}
	assert.Equal(t, [][]string{{"a/1", "a/2"}, {"a/3", "a/4"}, {"a/5"}}, pages)

	assert.Equal(t, all[5:7], list(eventstore.ListOptions{After: "a/5", Limit: 2}))
	assert.Equal(t, all[6:], list(eventstore.ListOptions{After: "ab"}))
	assert.Empty(t, list(eventstore.ListOptions{Prefix: "zz"}))
	assert.Equal(t, all[:5], list(eventstore.ListOptions{Prefix: "a/"}))

	// The default page size.
	for i := range eventstore.DefaultPageSize + 5 {
		appendTo(t, s, "d/"+string(rune('a'+i/26))+string(rune('a'+i%26)), local(TypeNote, i))
	}
	assert.Len(t, list(eventstore.ListOptions{Prefix: "d/"}), eventstore.DefaultPageSize)
	assert.Len(t, list(eventstore.ListOptions{Prefix: "d/", Limit: 1000}), eventstore.DefaultPageSize+5)
}

func testCheckpointsState(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	cp, err := s.Checkpoint(ctx, "p")
	require.NoError(t, err)
	assert.Zero(t, cp, "absent checkpoint is 0")
	require.NoError(t, s.SetCheckpoint(ctx, "p", 7))
	require.NoError(t, s.SetCheckpoint(ctx, "q", 1))
	require.NoError(t, s.SetCheckpoint(ctx, "p", 9))
	cp, err = s.Checkpoint(ctx, "p")
	require.NoError(t, err)
	assert.Equal(t, int64(9), cp)

	_, err = s.State(ctx, "x")
	require.ErrorIs(t, err, eventstore.ErrNotFound)
	require.NoError(t, s.SetState(ctx, "sync/cursor", []byte("12")))
	require.NoError(t, s.SetState(ctx, "sync/device", []byte("dev-1")))
	require.NoError(t, s.SetState(ctx, "sync/a", []byte("first")))
	require.NoError(t, s.SetState(ctx, "other", []byte("o")))
	require.NoError(t, s.SetState(ctx, "sync/cursor", []byte("13")))
	v, err := s.State(ctx, "sync/cursor")
	require.NoError(t, err)
	assert.Equal(t, []byte("13"), v)

	kvs, err := s.ListState(ctx, "sync/")
	require.NoError(t, err)
	assert.Equal(t, []eventstore.KeyValue{kv("sync/a", "first"), kv("sync/cursor", "13"), kv("sync/device", "dev-1")}, kvs)
	kvs, err = s.ListState(ctx, "")
	require.NoError(t, err)
	assert.Len(t, kvs, 4)
	kvs, err = s.ListState(ctx, "none/")
	require.NoError(t, err)
	assert.Empty(t, kvs)

	require.NoError(t, s.DeleteState(ctx, "sync/a"))
	require.NoError(t, s.DeleteState(ctx, "sync/a"), "absent key")
	_, err = s.State(ctx, "sync/a")
	assert.ErrorIs(t, err, eventstore.ErrNotFound)
}

func testUpdateCommit(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	err := s.Update(ctx, func(tx eventstore.Tx) error {
		out, err := tx.Append(ctx, eventstore.Write{Stream: "s", Expect: eventstore.NoStream, Events: []eventstore.Event{local(TypeNote, 1)}})
		if err != nil {
			return err
		}
		if err := txAll(t, tx).SetCheckpoint(ctx, "proj", out[0].Position); err != nil {
			return err
		}
		if err := txAll(t, tx).SetState(ctx, "k", []byte("v")); err != nil {
			return err
		}
		// Reads inside the transaction see its own writes.
		v, err := tx.StreamVersion(ctx, "s")
		require.NoError(t, err)
		assert.Equal(t, int64(1), v)
		cp, err := txAll(t, tx).Checkpoint(ctx, "proj")
		require.NoError(t, err)
		assert.Equal(t, out[0].Position, cp)
		val, err := txAll(t, tx).State(ctx, "k")
		require.NoError(t, err)
		assert.Equal(t, []byte("v"), val)
		_, err = txAll(t, tx).State(ctx, "absent")
		assert.ErrorIs(t, err, eventstore.ErrNotFound)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, int64(1), version(t, s, "s"))
	cp, err := s.Checkpoint(ctx, "proj")
	require.NoError(t, err)
	assert.Equal(t, int64(1), cp)
	v, err := s.State(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, []byte("v"), v)
}

func testUpdateRollback(t *testing.T, h *harness) {
	s := h.store(t)
	ctx := t.Context()
	appendTo(t, s, "s", local(TypeNote, 0))
	require.NoError(t, s.SetCheckpoint(ctx, "proj", 1))
	require.NoError(t, s.SetState(ctx, "keep", []byte("old")))
	require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Name: "r", Stream: "s", Cursor: eventstore.Cursor{Created: 1}, State: []byte(`1`)}))

	err := s.Update(ctx, func(tx eventstore.Tx) error {
		_, err := tx.Append(ctx, eventstore.Write{Stream: "s", Expect: eventstore.Exact(1), Events: []eventstore.Event{local(TypeNote, 1)}})
		require.NoError(t, err)
		_, err = tx.Insert(ctx, remote("t", TypeNote, base()))
		require.NoError(t, err)
		require.NoError(t, txAll(t, tx).SetCheckpoint(ctx, "proj", 2))
		require.NoError(t, txAll(t, tx).SetCheckpoint(ctx, "new", 2))
		require.NoError(t, txAll(t, tx).SetState(ctx, "keep", []byte("new")))
		require.NoError(t, txAll(t, tx).SetState(ctx, "added", []byte("x")))
		require.NoError(t, txAll(t, tx).DeleteSnapshot(ctx, "", "s"))
		// A conflict inside the transaction is reported to fn, which gives up.
		_, err = tx.Append(ctx, eventstore.Write{Stream: "s", Expect: eventstore.Exact(1), Events: []eventstore.Event{local(TypeNote, 2)}})
		require.ErrorIs(t, err, eventstore.ErrConcurrency)
		return errors.Join(errRollback, err)
	})
	require.ErrorIs(t, err, errRollback)

	assert.Equal(t, int64(1), head(t, s))
	assert.Equal(t, int64(1), version(t, s, "s"))
	assert.Zero(t, version(t, s, "t"))
	cp, err := s.Checkpoint(ctx, "proj")
	require.NoError(t, err)
	assert.Equal(t, int64(1), cp)
	cp, err = s.Checkpoint(ctx, "new")
	require.NoError(t, err)
	assert.Zero(t, cp)
	v, err := s.State(ctx, "keep")
	require.NoError(t, err)
	assert.Equal(t, []byte("old"), v)
	_, err = s.State(ctx, "added")
	assert.ErrorIs(t, err, eventstore.ErrNotFound)
	assert.True(t, snapshotExists(t, s, "r", "s"))

	// The positions of the rolled-back events are reused: no hole.
	out := appendTo(t, s, "s", local(TypeNote, 3))
	assert.Equal(t, int64(2), out[0].Position)
}
