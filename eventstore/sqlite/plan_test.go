package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
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

// TestInsertLookupPlans: Insert's lookup of the greatest stored ID reads
// the last entry of the id index, not the table, and its lookup of the
// (stream, type) pairs' cursors seeks each pair's row.
func TestInsertLookupPlans(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "f.db"), Options{})
	appendN(t, s, "s", 3)
	plan := queryPlan(t, s, writeSQL[wsGreatestID])
	assert.Contains(t, plan, "SEARCH events USING COVERING INDEX sqlite_autoindex_events_1")
	args := make([]any, 2*16)
	for i := range args {
		args[i] = fmt.Sprint(i)
	}
	plan = queryPlan(t, s, writeSQL[wsTypesOf16], args...)
	assert.Contains(t, plan, "SEARCH s USING PRIMARY KEY (stream=? AND type=?)")
	assert.NotContains(t, plan, "SCAN s")
}
