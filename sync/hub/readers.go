package hub

// readerIndex finds the live connections of a tenant's recent log that a
// stream concerns without looking at every connection: each is kept under
// the prefixes that narrow what it reads (its pull scope's, which is
// prefix-free, else its token's), or among those that read every stream.
// A stream's candidates are then the connections under one of its own
// prefixes (one map lookup per length some indexed prefix has, at most
// one per byte of its name) and those that read
// everything; each candidate's scope is checked in full, since a pull
// scope is also bounded by the token.
//
// A connection stays indexed from the moment it goes live until it ends,
// parked or not, so parking (once per delivery) costs no index update;
// wakeFor resumes only the candidates that are parked.
type readerIndex struct {
	byPrefix map[string]readerSet
	all      map[*conn]struct{}
	// lens counts the prefixes of byPrefix by length: a stream is looked
	// up only under its prefixes of those lengths, not under every one
	// (up to 513 hashes of up to 512 bytes for a long name).
	lens []int32
}

// readerSet is the connections indexed under one prefix. Most prefixes
// (a device's own streams) have one: it is held without a map of its own,
// which would cost a wide pull scope (10,000 prefixes) megabytes per
// connection.
type readerSet struct {
	one  *conn              // a connection, or nil
	more map[*conn]struct{} // the others
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
		x.byPrefix = make(map[string]readerSet)
	}
	for _, k := range keys {
		set := x.byPrefix[k]
		switch {
		case set.one == nil:
			set.one = c
			for len(x.lens) <= len(k) {
				x.lens = append(x.lens, 0)
			}
			x.lens[len(k)]++
		case set.one != c:
			if set.more == nil {
				set.more = make(map[*conn]struct{})
			}
			set.more[c] = struct{}{}
		}
		x.byPrefix[k] = set
	}
}

func (x *readerIndex) remove(c *conn) {
	keys := x.keys(c)
	if len(keys) == 0 {
		delete(x.all, c)
		return
	}
	for _, k := range keys {
		set, ok := x.byPrefix[k]
		if !ok {
			continue
		}
		if set.one == c {
			set.one = nil
		} else {
			delete(set.more, c)
		}
		if set.one == nil {
			for o := range set.more { // keep one in one
				set.one = o
				delete(set.more, o)
				break
			}
		}
		if set.one == nil {
			delete(x.byPrefix, k)
			x.lens[len(k)]--
		} else {
			x.byPrefix[k] = set
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
		for i := 0; i <= len(s) && i < len(x.lens); i++ {
			if x.lens[i] == 0 {
				continue
			}
			set, ok := x.byPrefix[s[:i]]
			if !ok {
				continue
			}
			if set.one.scope.readable(s) {
				yield(set.one)
			}
			for c := range set.more {
				if c.scope.readable(s) {
					yield(c)
				}
			}
		}
	}
}
