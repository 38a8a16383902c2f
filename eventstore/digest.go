package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Digest is a fingerprint of a set of events as a ledger holds them: each
// event's content (ID, Stream, Type, Schema, Data, Meta, Created, Origin,
// with the store defaults applied) and its hub position are hashed with
// SHA-256, and the digest adds the hashes up (two 64-bit lanes, modulo
// 2^64) and counts them. The sum does not depend on the order events are
// added in, so two replicas that hold the same events at the same hub
// positions have equal digests however they received them; it can be kept
// incrementally (Add) and split into ranges (Minus). One event that
// differs, is missing, is extra or sits at another position makes the
// digests differ, except with negligible probability.
//
// The zero Digest is the digest of no events.
type Digest struct {
	// Count is the number of events added.
	Count uint64
	// Sum is the sum of their hashes' first 16 bytes, as two lanes.
	Sum [2]uint64
}

// hashBufs holds the buffers Add serialises events into.
var hashBufs = sync.Pool{New: func() any { return new([]byte) }}

// Add adds e, held at hub position hub, to d.
func (d *Digest) Add(e Event, hub int64) {
	bp := hashBufs.Get().(*[]byte)
	e = e.WithDefaults()
	b := (*bp)[:0]
	for _, s := range [...]string{e.ID, e.Stream, e.Type, e.Origin} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(e.Schema))
	b = binary.AppendUvarint(b, uint64(e.Created))
	b = binary.AppendVarint(b, hub)
	b = binary.AppendUvarint(b, uint64(len(e.Data)))
	b = append(b, e.Data...)
	b = append(b, e.Meta...) // last: its length is implied
	h := sha256.Sum256(b)
	*bp = b
	hashBufs.Put(bp)
	d.Count++
	d.Sum[0] += binary.LittleEndian.Uint64(h[0:8])
	d.Sum[1] += binary.LittleEndian.Uint64(h[8:16])
}

// Merge adds the events of o to d (o must share none of d's).
func (d *Digest) Merge(o Digest) {
	d.Count += o.Count
	d.Sum[0] += o.Sum[0]
	d.Sum[1] += o.Sum[1]
}

// Minus returns the digest of d's events that are not o's, where o's
// events are a subset of d's (a prefix digest minus a shorter prefix's is
// the digest of the range between them).
func (d Digest) Minus(o Digest) Digest {
	return Digest{Count: d.Count - o.Count, Sum: [2]uint64{d.Sum[0] - o.Sum[0], d.Sum[1] - o.Sum[1]}}
}

// String returns d as "COUNT-HEX": the count in decimal, then the two
// lanes as 32 hex digits. ParseDigest reads it back.
func (d Digest) String() string {
	return fmt.Sprintf("%d-%016x%016x", d.Count, d.Sum[0], d.Sum[1])
}

// ParseDigest parses a Digest written by Digest.String.
func ParseDigest(s string) (Digest, error) {
	count, sum, ok := strings.Cut(s, "-")
	var d Digest
	var err error
	if ok && len(sum) == 32 {
		if d.Count, err = strconv.ParseUint(count, 10, 64); err == nil {
			if d.Sum[0], err = strconv.ParseUint(sum[:16], 16, 64); err == nil {
				d.Sum[1], err = strconv.ParseUint(sum[16:], 16, 64)
			}
		}
	}
	if !ok || len(sum) != 32 || err != nil {
		return Digest{}, fmt.Errorf("eventstore: digest %q: want COUNT-HEX32", truncate(s, 64))
	}
	return d, nil
}

// truncate returns s cut to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
