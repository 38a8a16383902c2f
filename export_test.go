package ferry

// IsRunning reports whether Run is active (for tests).
func (a *App) IsRunning() bool { return a.running.Load() }
