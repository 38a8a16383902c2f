package projectortest_test

import (
	"testing"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/eventstore/memory"
	"github.com/ferrysync/ferry/projector"
	"github.com/ferrysync/ferry/projector/projectortest"
)

func TestMemory(t *testing.T) {
	projectortest.Run(t, func(t *testing.T, cfg eventstore.Config) projector.Store {
		s := memory.New(cfg)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
