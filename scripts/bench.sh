#!/usr/bin/env bash
# Runs Ferry's benchmarks. Each one measures a raw baseline on the same
# backend in the same run and reports the ratio (x_raw). Extra arguments go
# to go test, e.g. scripts/bench.sh -benchtime 5x.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg.sh
FERRY_PG_FSYNC=${FERRY_PG_FSYNC:-on} ferry_pg_start
go test -run '^$' -bench . -benchmem -count=1 -timeout 60m "$@" ./...
