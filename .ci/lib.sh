# Sourced by the .ci scripts that start the server: the common set-up and the wait for it.
# Defines $work (a temp dir removed on exit), $srv (the server's pid, killed on exit; the
# caller sets it) and wait_listening.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
work=$(mktemp -d)
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# wait_listening NAME TRIES: sets addr to the loopback address the server $srv logs (JSON
# logs in $work/server.log, port 0 chosen by the kernel), polling TRIES times 50 ms apart;
# exits with the log if the server stops or never listens.
wait_listening() {
	addr=
	for _ in $(seq "$2"); do
		addr=$(sed -n 's/.*"addr":"\(127\.0\.0\.1:[0-9]*\)".*"message":"listening".*/\1/p' "$work/server.log" | head -n1)
		[ -n "$addr" ] && return 0
		kill -0 "$srv" || { cat "$work/server.log"; exit 1; }
		sleep 0.05
	done
	echo "$1: server did not start" >&2
	cat "$work/server.log"
	exit 1
}
