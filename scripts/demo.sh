#!/usr/bin/env bash
# demo.sh tells Ferry's story with real processes: a syncd hub and two
# devices ("laptop" and "phone", each its own SQLite database) running
# cmd/client-demo. The devices go offline, make conflicting edits, come
# back and converge. Run it with `make demo`; it needs only Go.
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
hub_pid=""

stop_hub() {
	if [[ -n $hub_pid ]]; then
		kill -TERM "$hub_pid" 2>/dev/null || true
		wait "$hub_pid" 2>/dev/null || true
		hub_pid=""
		exec 3<&- || true
	fi
}
cleanup() {
	stop_hub
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n==> %s\n' "$*"; }
indent() { sed 's/^/    /'; }

# start_hub ADDR starts syncd on ADDR and waits for its "listening on"
# line, which gives the address actually bound (ADDR may use port 0).
start_hub() {
	rm -f "$work/hub.out"
	mkfifo "$work/hub.out"
	"$work/bin/syncd" --listen "$1" --data-dir "$work/hub" >"$work/hub.out" 2>>"$work/hub.log" &
	hub_pid=$!
	exec 3<"$work/hub.out" # kept open while syncd runs: it owns the other end
	local line
	if ! IFS= read -r -t 30 -u 3 line || [[ $line != "listening on "* ]]; then
		echo "syncd did not start:" >&2
		cat "$work/hub.log" >&2
		exit 1
	fi
	addr=${line#listening on }
}

step "building syncd and client-demo"
mkdir -p "$work/bin"
go build -o "$work/bin/syncd" ./cmd/syncd
go build -o "$work/bin/client-demo" ./cmd/client-demo

step "starting syncd on a free loopback port (embedded SQLite in a temp dir, generated secret)"
FERRY_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
export FERRY_SECRET FERRY_LOG_LEVEL=warn
start_hub 127.0.0.1:0
url="ws://$addr/sync"
echo "    syncd is listening on $addr"

step "getting a token per device: syncd token --tenant demo --subject NAME"
laptop_token=$("$work/bin/syncd" token --tenant demo --subject laptop --data-dir "$work/hub")
phone_token=$("$work/bin/syncd" token --tenant demo --subject phone --data-dir "$work/hub")
echo "    laptop: ${laptop_token:0:24}..."
echo "    phone:  ${phone_token:0:24}..."

# laptop and phone run client-demo on their own database.
laptop() { "$work/bin/client-demo" --db "$work/laptop.db" --device laptop --server "$url" --token "$laptop_token" "$@"; }
phone() { "$work/bin/client-demo" --db "$work/phone.db" --device phone --server "$url" --token "$phone_token" "$@"; }

step "laptop: adding three tasks"
milk=$(laptop add "buy milk")
docs=$(laptop add "write docs")
call=$(laptop add "call mum")
laptop list | indent

step "laptop: sync"
laptop sync | indent
step "phone: sync, then list: the laptop's tasks are here"
phone sync | indent
phone list | indent

step "stopping syncd: both devices are offline from now on"
stop_hub

step "offline edits: both rename the same task, each completes another"
laptop rename "$milk" "buy oat milk" | indent
phone rename "$milk" "buy soy milk" | indent
phone complete "$docs" | indent
laptop complete "$call" | indent
echo "    laptop tries to sync while the hub is down:"
rc=0
laptop sync 2>&1 | indent || rc=${PIPESTATUS[0]}
echo "    (exit status $rc: sync failed; every write above worked offline)"
laptop status | indent

step "restarting syncd on the same address"
start_hub "$addr"
echo "    syncd is listening on $addr again"

step "syncing in turn: laptop, phone, laptop"
laptop sync | indent
phone sync | indent
laptop sync | indent

step "laptop: list"
laptop list | indent
step "phone: list"
phone list | indent

laptop list --all --json >"$work/laptop.json"
phone list --all --json >"$work/phone.json"
if diff -u "$work/laptop.json" "$work/phone.json"; then
	echo "    the two lists are identical (list --all --json): the devices converged"
else
	echo "    the lists differ: the devices did not converge" >&2
	exit 1
fi

step "phone: show $milk (the later rename wins; the laptop's older one arrived outdated)"
phone show "$milk" | indent

step "effects logs: each device logged only the task it completed itself, once"
echo "    laptop ($work/laptop.effects.log):"
indent <"$work/laptop.effects.log"
echo "    phone ($work/phone.effects.log):"
indent <"$work/phone.effects.log"

step "cleaning up: stopping syncd, removing $work"
