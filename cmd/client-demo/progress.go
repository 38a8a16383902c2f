package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Bars are drawn for at least barThreshold events (shorter work finishes
// before a bar is readable), barWidth characters wide.
const barThreshold, barWidth = 500, 30

// isTerminal reports whether w is a terminal. Progress bars are drawn only
// then, never into pipes or files. It is a variable for tests.
var isTerminal = defaultIsTerminal

func defaultIsTerminal(w io.Writer) bool {
	f, _ := w.(*os.File)
	fi, err := f.Stat() // a nil *os.File returns os.ErrInvalid
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// bar is a one-line progress bar redrawn in place on a terminal. Its zero
// value, and a bar on anything but a terminal, draws nothing.
type bar struct {
	w     io.Writer
	label string
	last  time.Time
	drawn bool
}

// newBar returns a bar drawing on w when w is a terminal.
func newBar(w io.Writer, label string) *bar {
	if !isTerminal(w) {
		return &bar{}
	}
	return &bar{w: w, label: label}
}

// set shows done of total, at most ten times a second.
func (b *bar) set(done, total int64) {
	if b.w == nil || total < barThreshold || done < 0 || (done < total && time.Since(b.last) < 100*time.Millisecond) {
		return
	}
	done, b.last, b.drawn = min(done, total), time.Now(), true
	fill := int(int64(barWidth) * done / total)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3d%% %d/%d events", b.label, strings.Repeat("#", fill), strings.Repeat(".", barWidth-fill),
		100*done/total, done, total)
}

// finish clears the bar's line.
func (b *bar) finish() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
		b.drawn = false
	}
}
