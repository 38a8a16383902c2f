package storetest_test

import (
	"fmt"

	"github.com/ferrysync/ferry/eventstore/storetest"
)

// A backend's conformance test is one call:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, cfg eventstore.Config) eventstore.Store {
//			s, err := mybackend.Open(t.Context(), t.TempDir(), cfg)
//			require.NoError(t, err)
//			t.Cleanup(func() { s.Close() })
//			return s
//		}, storetest.WithLargeN(100_000))
//	}
//
// The cfg passed to open carries the suite's Registry and Origin:
func ExampleConfig() {
	cfg := storetest.Config()
	fmt.Println(cfg.Origin)
	fmt.Println(cfg.Registry.Types())
	// Output:
	// storetest-node
	// [test:counted test:created test:note test:renamed]
}
