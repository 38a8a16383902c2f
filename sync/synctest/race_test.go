//go:build race

package synctest_test

// raceEnabled reports whether the tests run under the race detector, which
// slows them about tenfold: the crash tests then use smaller sizes.
const raceEnabled = true
