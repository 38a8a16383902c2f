package protocol_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/sync/protocol"
)

// Frames of a version-1 peer (the golden frames before version 2) still
// decode: Hello without App, Welcome without Time (0: the client does not
// correct its clock). Version-2 frames keep envelope "v" 1, so a version-1
// peer decodes them too (it skips the fields it does not know).
func TestVersion1Frames(t *testing.T) {
	hello := `{"v":1,"type":"hello","body":{"versions":[1],"client":"laptop-1","cursor":1041,"streams":["task/"],"agent":"ferry-demo/0.1"}}`
	m, err := protocol.Decode([]byte(hello), protocol.Limits{})
	require.NoError(t, err)
	v, ok := protocol.Negotiate(m.(*protocol.Hello).Versions)
	require.True(t, ok)
	assert.Equal(t, 1, v, "a version-1 client gets version 1")
	assert.Empty(t, m.(*protocol.Hello).App)

	welcome := `{"v":1,"type":"welcome","body":{"version":1,"tenant":"acme","node":"syncd-a","head":2200,"limits":{"max_frame_bytes":4194304,"max_events_per_batch":500,"max_event_bytes":1048576}}}`
	m, err = protocol.Decode([]byte(welcome), protocol.Limits{})
	require.NoError(t, err)
	assert.Zero(t, m.(*protocol.Welcome).Time)

	frame, err := protocol.Encode(&protocol.Hello{Versions: protocol.Versions(), Client: "c", App: "notes/2"})
	require.NoError(t, err)
	assert.Contains(t, string(frame), `{"v":1,"type":"hello"`)
}

// A deferral carries its retry hint; a retry hint without it, or a
// negative one, is a protocol violation.
func TestDeferredAckValidation(t *testing.T) {
	ack := func(r protocol.AckResult) *protocol.Ack {
		r.ID = id1
		return &protocol.Ack{Batch: "b", Results: []protocol.AckResult{r}}
	}
	ok := ack(protocol.AckResult{Code: protocol.CodeDeferred, RetryAfterMS: 1000})
	require.NoError(t, protocol.Validate(ok, protocol.Limits{}))
	assert.True(t, ok.Results[0].Deferred())
	assert.False(t, ok.Results[0].Rejected())
	assert.True(t, protocol.CodeDeferred.Known())
	for name, bad := range map[string]*protocol.Ack{
		"negative":        ack(protocol.AckResult{Code: protocol.CodeDeferred, RetryAfterMS: -1}),
		"without code":    ack(protocol.AckResult{HubPosition: 3, RetryAfterMS: 5}),
		"other code":      ack(protocol.AckResult{Code: protocol.CodeClockDrift, RetryAfterMS: 5}),
		"with a position": ack(protocol.AckResult{Code: protocol.CodeDeferred, HubPosition: 3}),
	} {
		assert.Error(t, protocol.Validate(bad, protocol.Limits{}), name)
	}
}
