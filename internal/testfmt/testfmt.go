// Package testfmt turns the event stream of `go test -json` into progress
// a person can follow: one line per package as it finishes, and the whole
// output of every failed test (or of a package that failed to build or
// crashed). scripts/test.sh pipes the test run through cmd/testfmt.
package testfmt

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// event is one line of `go test -json` (see go doc test2json).
type event struct {
	Action     string
	ImportPath string // build-output and build-fail
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	// FailedBuild is the ImportPath of the build that failed the package.
	FailedBuild string
}

// Summary is what a run did.
type Summary struct {
	// Passed, Failed and Skipped count packages.
	Passed, Failed, Skipped int
	// SkippedTests counts tests that skipped (t.Skip), in any package: a
	// package whose tests all skipped still "passes", so they are shown.
	SkippedTests int
}

// Format reads `go test -json` output from r and writes progress to w:
// "[n/total] ok  pkg 1.2s" as each package finishes (total 0: unknown),
// the output of failed tests and failed packages, and a last line that
// sums up. Lines of r that are not JSON (go vet, the go command's own
// errors) are copied through. The run failed when Summary.Failed > 0.
func Format(r io.Reader, w io.Writer, total int) (Summary, error) {
	var (
		sum    Summary
		output = map[string][]string{} // by package, and by package+"\x00"+test
		start  = time.Now()
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(w, sc.Text())
			continue
		}
		pkg := e.Package
		if pkg == "" {
			pkg = e.ImportPath
		}
		key := pkg
		if e.Test != "" {
			key += "\x00" + e.Test
		}
		switch e.Action {
		case "output", "build-output":
			output[key] = append(output[key], e.Output)
		case "fail":
			if e.Test != "" {
				fmt.Fprintf(w, "--- FAIL: %s (%s)\n%s", e.Test, pkg, strings.Join(output[key], ""))
				delete(output, key)
				continue
			}
			sum.Failed++
			fmt.Fprintf(w, "%s FAIL %s %.1fs\n%s%s", progress(sum, total), pkg, e.Elapsed,
				strings.Join(output[e.FailedBuild], ""), strings.Join(output[key], ""))
			delete(output, key)
		case "pass", "skip":
			if e.Test != "" {
				if e.Action == "skip" {
					sum.SkippedTests++
					fmt.Fprintf(w, "--- SKIP: %s (%s): %s\n", e.Test, pkg, skipReason(output[key]))
				}
				delete(output, key)
				continue
			}
			word := "ok  "
			if e.Action == "pass" {
				sum.Passed++
			} else {
				sum.Skipped++
				word = "skip"
			}
			fmt.Fprintf(w, "%s %s %s %.1fs\n", progress(sum, total), word, pkg, e.Elapsed)
			delete(output, key)
		}
	}
	if err := sc.Err(); err != nil {
		return sum, err
	}
	verdict := "PASS"
	if sum.Failed > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s: %d packages passed, %d failed, %d without tests, %d tests skipped, in %s\n", verdict,
		sum.Passed, sum.Failed, sum.Skipped, sum.SkippedTests, time.Since(start).Round(time.Second))
	return sum, nil
}

// progress returns "[n/total]", or "[n]" when total is unknown.
func progress(s Summary, total int) string {
	n := s.Passed + s.Failed + s.Skipped
	if total > 0 {
		return fmt.Sprintf("[%d/%d]", n, total)
	}
	return fmt.Sprintf("[%d]", n)
}

// skipReason returns the last line a skipped test wrote (its t.Skip
// message), trimmed.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "--- SKIP") && !strings.HasPrefix(l, "=== ") {
			return l
		}
	}
	return "no reason given"
}
