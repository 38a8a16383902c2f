package hub

// ReviewReaders returns how many connections tenant's recent log indexes:
// those reading every stream, and the entries under prefixes (one per
// connection and prefix); ok is false when the tenant has no log.
func (s *Server) ReviewReaders(tenant string) (all, entries int, ok bool) {
	s.recentMu.Lock()
	r := s.recent[tenant]
	s.recentMu.Unlock()
	if r == nil {
		return 0, 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, set := range r.readers.byPrefix {
		if set.one != nil {
			entries++
		}
		entries += len(set.more)
	}
	return len(r.readers.all), entries, true
}
