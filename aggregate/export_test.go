package aggregate

// LoadInfo exposes, to tests, how many events the load of a read and
// whether it started from a snapshot.
func LoadInfo(a Aggregate) (eventsRead int64, fromSnapshot bool) {
	r := a.aggregateRoot()
	return r.eventsRead, r.fromSnapshot
}
