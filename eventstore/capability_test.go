package eventstore_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
)

// TestStoreStaysSmall guards the core contract: what only some callers
// need belongs in a capability interface, not in Store.
func TestStoreStaysSmall(t *testing.T) {
	assert.LessOrEqual(t, reflect.TypeFor[eventstore.Store]().NumMethod(), 12)
	assert.LessOrEqual(t, reflect.TypeFor[eventstore.Tx]().NumMethod(), 4)
}

// noCapabilities is a store with the core only.
type noCapabilities struct{ eventstore.Store }

func TestAsNamesWhatIsMissing(t *testing.T) {
	s := memory.New(eventstore.Config{})
	defer s.Close()
	ob, err := eventstore.As[eventstore.Outbox](s)
	require.NoError(t, err)
	assert.NotNil(t, ob)

	bare := noCapabilities{s}
	_, err = eventstore.As[eventstore.Outbox](bare)
	require.ErrorIs(t, err, eventstore.ErrUnsupported)
	var ue *eventstore.UnsupportedError
	require.True(t, errors.As(err, &ue))
	assert.Equal(t, "eventstore.Outbox", ue.Capability)
	assert.Equal(t, "eventstore_test.noCapabilities", ue.Have)

	_, err = eventstore.KeyValuesOf(bare).State(t.Context(), "k")
	assert.ErrorIs(t, err, eventstore.ErrUnsupported)
	assert.ErrorIs(t, eventstore.CheckpointsOf(bare).SetCheckpoint(t.Context(), "p", 1), eventstore.ErrUnsupported)
	_, err = eventstore.KeyValuesOf(s).State(t.Context(), "k")
	assert.ErrorIs(t, err, eventstore.ErrNotFound, "the store's own state")
}
