package sqlite

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
)

// queryPlan returns the details of EXPLAIN QUERY PLAN for query, one per
// line, as the read pool would run it.
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	require.NoError(t, err)
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		lines = append(lines, detail)
	}
	require.NoError(t, rows.Err())
	return strings.Join(lines, "\n")
}

// TestStreamReadPlans checks that a read of one stream walks events_stream
// in created order with no sorter at all (readStreams orders ties by ID
// itself), and that its fallback, which leaves ID order to SQLite, sorts
// one group of equal created values at a time ("LAST TERM"), never the
// whole stream: either way the first row does not wait for the whole
// stream to be read. A cursor bounds the walk.
func TestStreamReadPlans(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	appendN(t, s, "s", 3) // give the planner a table to look at
	c := eventstore.Cursor{Created: 10, ID: "01J00000000000000000000001"}
	for _, tc := range []struct {
		name  string
		opts  eventstore.ReadOptions
		bound string
	}{
		{"All", eventstore.ReadOptions{}, "stream=?"},
		{"Reverse", eventstore.ReadOptions{Reverse: true}, "stream=?"},
		{"After", eventstore.ReadOptions{After: c}, "stream=? AND created>?"},
		{"Before", eventstore.ReadOptions{Before: c, Reverse: true}, "stream=? AND created<?"},
		{"Between", eventstore.ReadOptions{After: c, Before: eventstore.Cursor{Created: 20, ID: c.ID}}, "stream=? AND created>? AND created<?"},
		{"Until", eventstore.ReadOptions{Until: 30}, "stream=? AND created<?"},
		{"Types", eventstore.ReadOptions{Types: []string{"a", "b"}, Limit: 5}, "stream=?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args, err := streamQuery([]string{"s"}, tc.opts, 0, false)
			require.NoError(t, err)
			plan := queryPlan(t, s, q, args...)
			assert.Contains(t, plan, "USING INDEX events_stream ("+tc.bound+")")
			assert.NotContains(t, plan, "TEMP B-TREE", "a sorter sees every row")

			q, args, err = streamQuery([]string{"s"}, tc.opts, 0, true)
			require.NoError(t, err)
			plan = queryPlan(t, s, q, args...)
			assert.Contains(t, plan, "USING INDEX events_stream ("+tc.bound+")")
			assert.NotContains(t, plan, "FOR ORDER BY", "the whole stream is sorted before the first row")
		})
	}
	// Several streams: SQLite sorts the merged rows whatever the query says,
	// so the query orders by ID and carries the limit, which lets the
	// sorter keep only that many rows rather than every row of the streams.
	q, args, sorted, err := firstStreamQuery([]string{"s", "t"}, eventstore.ReadOptions{Limit: 10})
	require.NoError(t, err)
	assert.True(t, sorted)
	assert.Contains(t, q, "ORDER BY created, id LIMIT ?")
	assert.Equal(t, 10, args[len(args)-1])
	_, _, sorted, err = firstStreamQuery([]string{"s"}, eventstore.ReadOptions{Limit: 10})
	require.NoError(t, err)
	assert.False(t, sorted)

	// The fallback's lower bound is a range on the index too.
	q, args, err = streamQuery([]string{"s"}, eventstore.ReadOptions{}, 10, true)
	require.NoError(t, err)
	assert.Contains(t, queryPlan(t, s, q, args...), "USING INDEX events_stream (stream=? AND created>?)")

	// Reject's fallback for a type's latest event reads one group.
	plan := queryPlan(t, s, writeSQL[wsLatestOfType], "s", "t")
	assert.Contains(t, plan, "USING INDEX events_stream (stream=?)")
	assert.NotContains(t, plan, "FOR ORDER BY")
}

// TestOpenUpgradesVersion2 opens a file as the second schema version left
// it, with its wider stream index: the index is rebuilt narrower and the
// stream still reads in (created, id) order, ties included.
func TestOpenUpgradesVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	rawExec(t, path,
		"PRAGMA application_id = "+strconv.Itoa(ApplicationID),
		migrations[0], migrations[1],
		"PRAGMA user_version = 2",
		`INSERT INTO meta (key, value) VALUES ('origin', 'old-node')`,
		`INSERT INTO events (id, stream, type, schema, data, meta, created, origin, hub_position, hydrated, outdated) VALUES
			('01J00000000000000000000003', 's', 't', 1, '{}', '{}', 20, 'old-node', 0, 0, 0),
			('01J00000000000000000000001', 's', 't', 1, '{}', '{}', 30, 'old-node', 0, 0, 0),
			('01J00000000000000000000002', 's', 't', 1, '{}', '{}', 20, 'old-node', 0, 0, 0)`,
		`INSERT INTO stream_types (stream, type, count, created, id) VALUES ('s', 't', 3, 30, '01J00000000000000000000001')`,
	)
	s := open(t, path, Options{})
	assert.Equal(t, strconv.Itoa(SchemaVersion()), pragma(t, s, "user_version"))
	var cols []string
	require.NoError(t, s.Update(ctx, func(tx eventstore.Tx) error {
		rows, err := tx.(eventstore.SQLTx).SQL().QueryContext(ctx, "SELECT name FROM pragma_index_info('events_stream') ORDER BY seqno")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				return err
			}
			cols = append(cols, c)
		}
		return rows.Err()
	}))
	assert.Equal(t, []string{"stream", "created"}, cols)
	var got []string
	for e, err := range s.ReadStream(ctx, "s", eventstore.ReadOptions{}) {
		require.NoError(t, err)
		got = append(got, e.ID)
	}
	assert.Equal(t, []string{"01J00000000000000000000002", "01J00000000000000000000003", "01J00000000000000000000001"}, got)
}
