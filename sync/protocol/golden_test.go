package protocol_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden frames in testdata/ and their FuzzFastCodec seeds")

func TestGoldenFrames(t *testing.T) {
	for name, msg := range golden() {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, name, string(msg.Type()), "golden files are named after the type")
			require.NoError(t, protocol.Validate(msg, protocol.Limits{}), "fixture must be valid")

			frame, err := protocol.Encode(msg)
			require.NoError(t, err)
			path := filepath.Join("testdata", name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, append(bytes.Clone(frame), '\n'), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create it")
			assert.Equal(t, string(bytes.TrimSuffix(want, []byte("\n"))), string(frame))

			got, err := protocol.Decode(want, protocol.Limits{})
			require.NoError(t, err)
			assert.Equal(t, msg, got)
		})
	}
}

func TestGoldenFilesHaveFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	fixtures := golden()
	assert.Len(t, files, len(fixtures))
	for _, f := range files {
		name := filepath.Base(f)
		assert.Contains(t, fixtures, name[:len(name)-len(".json")], "stale golden file %s", f)
	}
}

// TestGoldenFramesSeedFastCodecFuzz checks that every golden frame is in
// internal/wirejson's FuzzFastCodec corpus as it is here (-update writes
// them there).
func TestGoldenFramesSeedFastCodecFuzz(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	corpus := filepath.Join("..", "..", "internal", "wirejson", "testdata", "fuzz", "FuzzFastCodec")
	for _, f := range files {
		frame, err := os.ReadFile(f)
		require.NoError(t, err)
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		seed := filepath.Join(corpus, "seed-golden-"+name)
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(frame)) + ")\n"
		if *update {
			require.NoError(t, os.WriteFile(seed, []byte(want), 0o644))
		}
		got, err := os.ReadFile(seed)
		require.NoError(t, err, "golden frame %s has no FuzzFastCodec seed: run go test -update", f)
		assert.Equal(t, want, string(got), "seed of %s", f)
	}
}

// TestFromStoredStripsLocalFacts checks that a stored event's own facts
// (Position, Hydrated, Outdated, Rejected) do not travel: the frame of the
// stored events is the golden frame of the wire ones.
func TestFromStoredStripsLocalFacts(t *testing.T) {
	wire := golden()["events"].(*protocol.Events)
	stored := &protocol.Events{Cursor: wire.Cursor}
	for i, w := range wire.Events {
		e := protocol.ToStored(w)
		assert.Equal(t, w.HubPosition, e.HubPosition)
		e.Position, e.Hydrated, e.Outdated, e.Rejected = int64(100+i), true, true, true
		stored.Events = append(stored.Events, protocol.FromStored(e))
	}
	frame, err := protocol.Encode(stored)
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join("testdata", "events.json"))
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(frame))
	assert.Equal(t, wire, stored)
}

func TestEncodeFillsDefaults(t *testing.T) {
	e := wireEvent(id1, 0)
	e.Schema, e.Data, e.Meta = 0, nil, nil
	frame, err := protocol.Encode(&protocol.Push{Batch: "b", Events: []protocol.Event{e}})
	require.NoError(t, err)
	m, err := protocol.Decode(frame, protocol.Limits{})
	require.NoError(t, err)
	got := m.(*protocol.Push).Events[0]
	assert.Equal(t, 1, got.Schema)
	assert.JSONEq(t, `{}`, string(got.Data))
	assert.JSONEq(t, `{}`, string(got.Meta))
}

func TestDecodeNormalises(t *testing.T) {
	frame := `{"v":1,"type":"live","body":{"cursor":9,"events":[{"id":"` + id1 + `","stream":"s","type":"t",` +
		`"created":"0000000000000001","origin":"o","hub_position":9,"position":77,"hydrated":true,"outdated":true,` +
		`"data":{ "a" : [ 1, "x y" ] },"meta":null}]}}`
	m, err := protocol.Decode([]byte(frame), protocol.Limits{})
	require.NoError(t, err)
	// A store's own facts (position, hydrated, outdated) are not wire
	// fields: they are ignored.
	e := m.(*protocol.Live).Events[0]
	assert.Equal(t, protocol.ToStored(e), eventstore.Event{ID: id1, Stream: "s", Type: "t", Schema: 1,
		Data: json.RawMessage(`{"a":[1,"x y"]}`), Meta: json.RawMessage(`null`), Created: 1, Origin: "o", HubPosition: 9})
	assert.Equal(t, 1, e.Schema)
	assert.Equal(t, `{"a":[1,"x y"]}`, string(e.Data))
	assert.Equal(t, `null`, string(e.Meta))
}

func TestEncodeNil(t *testing.T) {
	_, err := protocol.Encode(nil)
	assert.Error(t, err)
	_, err = protocol.Encode((*protocol.Hello)(nil))
	assert.Error(t, err)
	assert.ErrorIs(t, protocol.Validate((*protocol.Push)(nil), protocol.Limits{}), protocol.ErrProtocolViolation)
}
