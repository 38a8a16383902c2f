// Command testfmt shows the progress of `go test -json` (see package
// internal/testfmt) and exits 1 when a package failed:
//
//	go test -json ./... | go run ./internal/cmd/testfmt -total 30
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ferrysync/ferry/internal/testfmt"
)

func main() {
	total := flag.Int("total", 0, "number of packages, for [n/total] progress (0: unknown)")
	flag.Parse()
	sum, err := testfmt.Format(os.Stdin, os.Stdout, *total)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testfmt:", err)
		os.Exit(1)
	}
	if sum.Failed > 0 {
		os.Exit(1)
	}
}
