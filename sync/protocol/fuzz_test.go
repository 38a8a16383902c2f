package protocol_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ferrysync/ferry/sync/protocol"
	"github.com/stretchr/testify/require"
)

// fuzzLimits are the limits FuzzDecode decodes under: the defaults, and
// small ones that the fuzzer can reach.
var fuzzLimits = []protocol.Limits{
	{},
	{MaxFrameBytes: 2048, MaxEventsPerBatch: 3, MaxEventBytes: 100},
}

// FuzzDecode checks that Decode never panics, that every error it returns
// is an *Error that can itself be sent, and that a decoded message encodes
// and decodes back to an equal message and the same frame.
func FuzzDecode(f *testing.F) {
	for _, m := range golden() {
		frame, err := protocol.Encode(m)
		require.NoError(f, err)
		f.Add(frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, l := range fuzzLimits {
			m, err := protocol.Decode(frame, l)
			if err != nil {
				require.Nil(t, m)
				var perr *protocol.Error
				require.True(t, errors.As(err, &perr), "error %T is not a *protocol.Error", err)
				require.True(t, perr.Code.Known(), "unknown code %q", perr.Code)
				sent, err := protocol.Encode(perr)
				require.NoError(t, err)
				_, err = protocol.Decode(sent, protocol.Limits{})
				require.NoError(t, err, "decode error is not a valid error message: %s", sent)
				continue
			}
			require.NotNil(t, m)
			frame2, err := protocol.Encode(m)
			require.NoError(t, err)
			// Re-encoding may grow strings (invalid UTF-8 becomes \ufffd),
			// so the frame limit is lifted for the second decode.
			l2 := l
			l2.MaxFrameBytes = protocol.HardMaxFrameBytes
			m2, err := protocol.Decode(frame2, l2)
			require.NoError(t, err, "re-encoded frame: %s", frame2)
			require.Equal(t, m, m2)
			frame3, err := protocol.Encode(m2)
			require.NoError(t, err)
			require.Equal(t, string(frame2), string(frame3))
		}
	})
}

// TestWriteFuzzSeeds writes the golden frames and the validation table's
// frames to testdata/fuzz/FuzzDecode (with -update), so the committed seed
// corpus covers every message type and every rule.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	write := func(name, frame string) {
		name = "seed-" + strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(name), "-"), "-")
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", frame)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	for name, m := range golden() {
		frame, err := protocol.Encode(m)
		require.NoError(t, err)
		write("golden "+name, string(frame))
	}
	for _, tc := range decodeCases(t) {
		if len(tc.frame) > 4096 {
			continue
		}
		write(tc.name, tc.frame)
	}
}
