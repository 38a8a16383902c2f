package client

// SetBackfillChunk sets the width of a backfill's range reads until the
// test ends (restore with the returned function).
func SetBackfillChunk(n int64) (restore func()) {
	old := backfillChunk
	backfillChunk = n
	return func() { backfillChunk = old }
}

// SetBackfillHook sets testHookBackfilled (nil: none).
func SetBackfillHook(fn func(to int64) error) { testHookBackfilled = fn }
