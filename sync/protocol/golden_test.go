package protocol_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden frames in testdata/")

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

func TestEncodeStripsLocalFacts(t *testing.T) {
	local := golden()["events"].(*protocol.Events)
	withLocal := *local
	withLocal.Events = append(withLocal.Events[:0:0], local.Events...)
	for i := range withLocal.Events {
		e := &withLocal.Events[i]
		e.Position, e.Hydrated, e.Outdated, e.Rejected = int64(100+i), true, true, true
	}
	frame, err := protocol.Encode(&withLocal)
	require.NoError(t, err)
	want, err := protocol.Encode(local)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(frame))
	assert.NotContains(t, string(frame), `,"position"`)
	assert.NotContains(t, string(frame), "hydrated")
	assert.NotContains(t, string(frame), "outdated")
	assert.NotContains(t, string(frame), "rejected")
	assert.Equal(t, int64(100), withLocal.Events[0].Position, "Encode must not modify its argument")
}

func TestEncodeFillsDefaults(t *testing.T) {
	e := wireEvent(id1, 0)
	e.Schema, e.Data, e.Meta = 0, nil, nil
	frame, err := protocol.Encode(&protocol.Push{Batch: "b", Events: []eventstore.Event{e}})
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
	e := m.(*protocol.Live).Events[0]
	assert.Zero(t, e.Position)
	assert.False(t, e.Hydrated)
	assert.False(t, e.Outdated)
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
