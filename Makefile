.PHONY: test bench lint fmt demo

# test runs the whole suite, race detector on, PostgreSQL included, with a
# line per package as it finishes.
test:
	scripts/test.sh

# bench runs the benchmarks; each prints its ratio to a raw baseline.
bench:
	scripts/bench.sh

# demo runs the whole story with real processes: a hub, two devices, an
# offline phase with conflicting edits, convergence.
demo:
	scripts/demo.sh

# lint fails on unformatted files or go vet findings.
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

fmt:
	gofmt -w .
