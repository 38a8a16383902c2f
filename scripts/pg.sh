# shellcheck shell=bash
# Sourced by test.sh and bench.sh: makes sure FERRY_TEST_POSTGRES_URL points
# at a PostgreSQL server. When it is unset, starts a throwaway cluster on a
# free loopback port from the server binaries on this machine and stops it
# (and deletes it) when the calling script exits, fails or is interrupted.

ferry_pg_bin() {
	if [ -n "${FERRY_PG_BIN:-}" ]; then echo "$FERRY_PG_BIN"; return; fi
	local d best=""
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && best=$d
	done
	if [ -z "$best" ] && command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		best=$(dirname "$(command -v pg_ctl)")
	fi
	echo "$best"
}

ferry_pg_stop() {
	if [ -n "${FERRY_PG_DIR:-}" ] && [ -d "$FERRY_PG_DIR" ]; then
		$FERRY_PG_AS "$FERRY_PG_BINDIR/pg_ctl" -D "$FERRY_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
		rm -rf "$FERRY_PG_DIR"
	fi
}

ferry_pg_start() {
	if [ -n "${FERRY_TEST_POSTGRES_URL:-}" ]; then
		echo "postgres: using FERRY_TEST_POSTGRES_URL"
		return 0
	fi
	FERRY_PG_BINDIR=$(ferry_pg_bin)
	if [ -z "$FERRY_PG_BINDIR" ]; then
		if [ "${FERRY_REQUIRE_POSTGRES:-}" = 1 ]; then
			echo "postgres: FERRY_REQUIRE_POSTGRES=1 but no PostgreSQL server binaries were found (install the postgresql package or set FERRY_TEST_POSTGRES_URL)" >&2
			return 1
		fi
		echo "postgres: no server binaries found and FERRY_TEST_POSTGRES_URL unset: the Postgres tests will skip"
		return 0
	fi
	FERRY_PG_AS=""
	local owner=""
	if [ "$(id -u)" = 0 ]; then
		# PostgreSQL refuses to run as root: run the cluster as the postgres user.
		id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
		FERRY_PG_AS="runuser -u postgres --"
		owner=postgres
	fi
	FERRY_PG_DIR=$(mktemp -d /tmp/ferry-pg.XXXXXX)
	chmod 755 "$FERRY_PG_DIR"
	[ -n "$owner" ] && chown "$owner" "$FERRY_PG_DIR"
	trap ferry_pg_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	(cd /tmp && $FERRY_PG_AS "$FERRY_PG_BINDIR/initdb" -D "$FERRY_PG_DIR/data" -A trust -U postgres --no-sync >"$FERRY_PG_DIR/initdb.log" 2>&1) || {
		echo "postgres: initdb failed:" >&2; cat "$FERRY_PG_DIR/initdb.log" >&2; return 1
	}
	local port try fsync=${FERRY_PG_FSYNC:-off}
	for try in 1 2 3 4 5 6 7 8; do
		port=$(( (RANDOM << 15 | RANDOM) % 30000 + 20000 ))
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi # in use
		if (cd /tmp && $FERRY_PG_AS "$FERRY_PG_BINDIR/pg_ctl" -D "$FERRY_PG_DIR/data" -l "$FERRY_PG_DIR/server.log" -w -t 60 \
			-o "-p $port -k $FERRY_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=$fsync -c max_connections=200" start >/dev/null 2>&1); then
			export FERRY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			echo "postgres: throwaway cluster on 127.0.0.1:$port ($FERRY_PG_BINDIR)"
			return 0
		fi
	done
	echo "postgres: could not start a throwaway cluster; server log:" >&2
	cat "$FERRY_PG_DIR/server.log" >&2 || true
	return 1
}
