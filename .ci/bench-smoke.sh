#!/usr/bin/env bash
# Smoke run of the load tool against a freshly built server: a small filled database, every
# workload for a second at a few connections. Any numbers pass; errors or a crash fail.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
work=$(mktemp -d)
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/rocketlite" .
go build -o "$work/bench" ./bench
"$work/bench" -fill-db "$work/db" -n 2000 -users 4 -password smoke-admin-pass

port=$((40000 + RANDOM % 20000))
"$work/rocketlite" serve -addr "127.0.0.1:$port" -db "$work/db" -bcrypt-cost 4 2>"$work/server.log" &
srv=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$srv" || { cat "$work/server.log"; exit 1; }
	sleep 0.05
done

for w in send history mixed login; do
	"$work/bench" -addr "http://127.0.0.1:$port" -password smoke-admin-pass -users 4 \
		-workload "$w" -c 4 -d 1s -warmup 200ms | tee "$work/out"
	grep -q 'errors=0 ' "$work/out" || { echo "bench-smoke: $w had errors" >&2; exit 1; }
	grep -q "^$w " "$work/out" || [ "$w" = mixed ] || { echo "bench-smoke: no $w results" >&2; exit 1; }
done
# The tool refuses anything but loopback.
if "$work/bench" -addr http://192.0.2.1:3000 -password x 2>/dev/null; then
	echo "bench-smoke: a non-loopback address was accepted" >&2
	exit 1
fi
echo "bench smoke ok"
