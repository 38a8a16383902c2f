package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstartTellsTheStory(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	got := out.String()
	assert.Equal(t, 1, strings.Count(got, `side effect: announce "buy milk"`), got)
	assert.Contains(t, got, "invalid rename refused: true")
	assert.Contains(t, got, "inserted=true outdated=true")
	assert.Contains(t, got, `aggregate: title="buy oat milk" done=true version=4`)
	assert.Contains(t, got, `tasks row: title="buy oat milk" done=true`)
}
