#!/usr/bin/env bash
# Runs Ferry's whole test suite: go test -race ./... with a PostgreSQL server
# for the Postgres suite (FERRY_TEST_POSTGRES_URL, or a throwaway cluster this
# script starts and removes). Extra arguments go to go test. Progress shows
# as packages finish (internal/cmd/testfmt, built from this repository: no
# tool to install); a failed test's output is shown in full, and any failure
# fails the run.
#
#   FERRY_TEST_POSTGRES_URL  use this server instead of starting one
#   FERRY_REQUIRE_POSTGRES=1 fail, rather than skip, when Postgres is missing
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg.sh
ferry_pg_start
go build -o bin/testfmt ./internal/cmd/testfmt
total=$(go list ./... | wc -l)
echo "test: building and testing $total packages (race detector on); each line is a package finished"
go test -json -race -count=1 -timeout 30m "$@" ./... | bin/testfmt -total "$total"
# syncd runs SQLite with its own page cache per connection by default
# (--sqlite-page-cache=local, sqlite.UseLocalPageCache): the store's suite
# runs again with it, in a process of its own since it is chosen once.
echo "test: eventstore/sqlite again with the local page cache"
FERRY_SQLITE_LOCAL_PAGE_CACHE=1 go test -json -race -count=1 -timeout 30m "$@" ./eventstore/sqlite/ | bin/testfmt -total 1
# The SQLite store's benchmarks, run once each (no timing is judged): a
# benchmark that no longer matches the schema fails here, not on the day
# someone measures with it.
echo "test: eventstore/sqlite benchmarks, once each"
go test -json -count=1 -run '^$' -bench . -benchtime 1x "$@" ./eventstore/sqlite/ | bin/testfmt -total 1
