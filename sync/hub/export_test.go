package hub

import "time"

// SetSkipFlush sets skipFlush until restore is called.
func SetSkipFlush(d time.Duration) (restore func()) {
	old := skipFlush
	skipFlush = d
	return func() { skipFlush = old }
}
