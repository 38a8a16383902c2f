package hub

// readerIndex finds the live connections of a tenant's recent log that a
// stream concerns without looking at every connection: each is kept under
// the prefixes that narrow what it reads (its pull scope's, which is
// prefix-free, else its token's), or among those that read every stream.
// A stream's candidates are then the connections under one of its own
// prefixes (one map lookup per byte of its name) and those that read
// everything; each candidate's scope is checked in full, since a pull
// scope is also bounded by the token.
//
// A connection stays indexed from the moment it goes live until it ends,
// parked or not, so parking (once per delivery) costs no index update;
// wakeFor resumes only the candidates that are parked.
type readerIndex struct {
	byPrefix map[string]map[*conn]struct{}
	all      map[*conn]struct{}
}

// keys returns the prefixes c is indexed under, nil when it reads every
// stream.
func (x *readerIndex) keys(c *conn) []string {
	if len(c.scope.pull) > 0 {
		return c.scope.pull
	}
	return c.scope.token
}

func (x *readerIndex) add(c *conn) {
	keys := x.keys(c)
	if len(keys) == 0 {
		if x.all == nil {
			x.all = make(map[*conn]struct{})
		}
		x.all[c] = struct{}{}
		return
	}
	if x.byPrefix == nil {
		x.byPrefix = make(map[string]map[*conn]struct{})
	}
	for _, k := range keys {
		set := x.byPrefix[k]
		if set == nil {
			set = make(map[*conn]struct{})
			x.byPrefix[k] = set
		}
		set[c] = struct{}{}
	}
}

func (x *readerIndex) remove(c *conn) {
	keys := x.keys(c)
	if len(keys) == 0 {
		delete(x.all, c)
		return
	}
	for _, k := range keys {
		if set := x.byPrefix[k]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(x.byPrefix, k)
			}
		}
	}
}

// each calls yield with every indexed connection whose scope reads one
// of streams (a connection may come more than once).
func (x *readerIndex) each(streams []string, yield func(*conn)) {
	if len(streams) == 0 {
		return
	}
	for c := range x.all { // no prefix at all: it reads every stream
		yield(c)
	}
	for _, s := range streams {
		for i := 0; i <= len(s) && len(x.byPrefix) > 0; i++ {
			for c := range x.byPrefix[s[:i]] {
				if c.scope.readable(s) {
					yield(c)
				}
			}
		}
	}
}
