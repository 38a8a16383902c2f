package hub

import (
	"fmt"
	"testing"
	"time"

	"github.com/ferrysync/ferry/sync/protocol"
)

// Counting a push for Inspect allocates nothing when every event is
// accepted, and only on the first rejection of a tenant afterwards (its
// ring); the ring keeps the latest rejectRing.
func TestNoteResultsAllocations(t *testing.T) {
	s := &Server{cfg: Config{Now: time.Now}}
	c := &conn{s: s, claims: Claims{Tenant: "acme", Subject: "u"}, info: &ClientInfo{Client: "phone"}}
	push := &protocol.Push{Batch: "b", Events: make([]protocol.Event, 100)}
	for i := range push.Events {
		push.Events[i] = protocol.Event{ID: fmt.Sprint("e", i), Stream: "task/1", Type: "t"}
	}
	group := []*protocol.Push{push}
	ok := make([]protocol.AckResult, 100)
	if n := testing.AllocsPerRun(100, func() { c.noteResults(group, ok) }); n != 0 {
		t.Fatalf("accepted push: %v allocations, want 0", n)
	}
	bad := make([]protocol.AckResult, 100)
	bad[7] = protocol.AckResult{ID: "e7", Code: protocol.CodeForbiddenStream, Reason: "no"}
	c.noteResults(group, bad) // makes the ring; AllocsPerRun runs its function once more than asked
	if n := testing.AllocsPerRun(100, func() { c.noteResults(group, bad) }); n != 0 {
		t.Fatalf("push with a rejection: %v allocations, want 0 once the ring exists", n)
	}
	got, total := s.insp.tenantRejections("acme")
	if len(got) != rejectRing || total != 102 || got[0].ID != "e7" || got[0].Client != "phone" {
		t.Fatalf("ring: %d kept, %d total, latest %+v", len(got), total, got[0])
	}
	if p := c.stats.pushed.Load(); p != 100*(101+1+101) {
		t.Fatalf("pushed %d", p)
	}
}
