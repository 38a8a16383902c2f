package client

// SetBackfillHook sets testHookBackfilled (nil: none).
func SetBackfillHook(fn func(to int64) error) { testHookBackfilled = fn }
