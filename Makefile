.PHONY: test bench lint fmt

# test runs the whole suite, race detector on, PostgreSQL included.
test:
	scripts/test.sh

# bench runs the benchmarks; each prints its ratio to a raw baseline.
bench:
	scripts/bench.sh

# lint fails on unformatted files or go vet findings.
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

fmt:
	gofmt -w .
