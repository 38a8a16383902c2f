package projector_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/projector"
)

// TestEffectRecordStoredFormat decodes records as earlier versions of the
// outbox wrote them (when eventstore.Event carried JSON tags) and checks
// that they decode to the right record and encode back byte for byte.
func TestEffectRecordStoredFormat(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.UTC)
	for _, tc := range []struct {
		name string
		old  string
		want projector.EffectRecord
	}{
		{
			name: "Pending",
			old:  `{"handler":"mail","event":{"id":"01HXAMPLE0000000000000000A","stream":"task-1","type":"task:completed","schema":2,"data":{"title":"a \u003cb\u003e"},"meta":{},"created":"018f4cbb38230003","origin":"dev-1","position":7},"attempts":0,"created":"2024-05-06T07:08:09.123Z"}`,
			want: projector.EffectRecord{Handler: "mail", Event: eventstore.Event{
				ID: "01HXAMPLE0000000000000000A", Stream: "task-1", Type: "task:completed", Schema: 2,
				Data: json.RawMessage(`{"title":"a \u003cb\u003e"}`), Meta: json.RawMessage(`{}`),
				Created: eventstore.MakeTimestamp(at.UnixMilli(), 3), Origin: "dev-1", Position: 7,
			}, Created: at},
		},
		{
			name: "EveryField",
			old:  `{"handler":"mail","event":{"id":"01HXAMPLE0000000000000000B","stream":"task-2","type":"task:completed","schema":1,"data":{},"meta":{"actor":"u"},"created":"0000000000000001","origin":"dev-2","position":9,"hub_position":12,"hydrated":true,"outdated":true,"rejected":true},"attempts":3,"last_error":"smtp: 451","next_attempt":"2024-05-06T07:09:09.123Z","created":"2024-05-06T07:08:09.123Z","finished":"2024-05-06T08:08:09.123Z"}`,
			want: projector.EffectRecord{Handler: "mail", Event: eventstore.Event{
				ID: "01HXAMPLE0000000000000000B", Stream: "task-2", Type: "task:completed", Schema: 1,
				Data: json.RawMessage(`{}`), Meta: json.RawMessage(`{"actor":"u"}`), Created: 1, Origin: "dev-2",
				Position: 9, HubPosition: 12, Hydrated: true, Outdated: true, Rejected: true,
			}, Attempts: 3, LastError: "smtp: 451", NextAttempt: at.Add(time.Minute), Created: at, Finished: at.Add(time.Hour)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got projector.EffectRecord
			require.NoError(t, json.Unmarshal([]byte(tc.old), &got))
			require.Equal(t, tc.want, got)

			b, err := json.Marshal(got)
			require.NoError(t, err)
			require.Equal(t, tc.old, string(b))

			// Status is where the record is stored, not in it.
			tc.want.Status = projector.EffectFailed
			b, err = json.Marshal(tc.want)
			require.NoError(t, err)
			require.Equal(t, tc.old, string(b))
		})
	}
}
