#!/usr/bin/env bash
# Issue 11's side-by-side: rocketlite's DDP subscribers against Gotify's websocket /stream,
# 1,000 clients each, the same post rate, then each server's own maximum (-rate 0, -c
# senders), alternated RUNS times. A measurement aid, not a CI step: it needs Gotify's
# source (GOTIFY_SRC, a clone of github.com/gotify/server; here the coordinator's mirror),
# builds it with a placeholder web UI (its embed needs ui/build, which Node would make), and
# runs everything on loopback, servers and clients on the same machine.
#
#   GOTIFY_SRC=/work/.mirror/gotify+server/repo bash bench/gotify.sh
#
# Figures go into BENCHMARKS.md ("Realtime (issue 11)"), with the machine's load beside them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
GOTIFY_SRC=${GOTIFY_SRC:-/work/.mirror/gotify+server/repo}
SUBS=${SUBS:-1000}
RATE=${RATE:-100}
DUR=${DUR:-10s}
MAXC=${MAXC:-16}
RUNS=${RUNS:-2}
RL_PORT=${RL_PORT:-29201}
G_PORT=${G_PORT:-29301}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== build rocketlite, the bench tool and Gotify ($GOTIFY_SRC)"
(cd "$root" && go build -o "$work/rocketlite" . && go build -o "$work/bench" ./bench)
git clone -q "$GOTIFY_SRC" "$work/gotify"
mkdir -p "$work/gotify/ui/build/static"
echo '<!doctype html><title>gotify</title>' >"$work/gotify/ui/build/index.html"
echo '{}' >"$work/gotify/ui/build/manifest.json"
echo '/* placeholder */' >"$work/gotify/ui/build/static/x.js"
(cd "$work/gotify" && go build -o "$work/gotify-server" .)
echo "gotify at $(git -C "$work/gotify" rev-parse --short HEAD)"

echo "== start both"
"$work/bench" -fill-db "$work/rt.db" -n 1000 -users 64 -password benchpass >/dev/null
"$work/rocketlite" serve --addr "127.0.0.1:$RL_PORT" --db "$work/rt.db" --send-rate 0 --write-rate 0 \
	--max-sockets 20000 --max-sockets-per-user 0 --max-conns 30000 --max-conns-per-addr 30000 \
	>"$work/rl.log" 2>&1 &
rl=$!
pids+=("$rl")
GOTIFY_SERVER_PORT=$G_PORT GOTIFY_SERVER_LISTENADDR=127.0.0.1 GOTIFY_DATABASE_DIALECT=sqlite3 \
	GOTIFY_DATABASE_CONNECTION="$work/g.db" GOTIFY_DEFAULTUSER_NAME=admin GOTIFY_DEFAULTUSER_PASS=admin \
	GIN_MODE=release "$work/gotify-server" >"$work/gotify.log" 2>&1 &
g=$!
pids+=("$g")
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$RL_PORT/healthz" >/dev/null && curl -sf "http://127.0.0.1:$G_PORT/health" >/dev/null && break
	sleep 0.1
done

rlrun() {
	echo "-- rocketlite $* (load $(cut -d' ' -f1-3 /proc/loadavg))"
	"$work/bench" -addr "http://127.0.0.1:$RL_PORT" -password benchpass -users 8 -timeout 60s \
		-workload realtime -subscribers "$SUBS" -d "$DUR" -warmup 2s -server-pid "$rl" "$@"
}
grun() {
	echo "-- gotify $* (load $(cut -d' ' -f1-3 /proc/loadavg))"
	"$work/bench" -addr "http://127.0.0.1:$G_PORT" -user admin -password admin -timeout 60s \
		-workload gotify -subscribers "$SUBS" -d "$DUR" -warmup 2s -server-pid "$g" "$@"
}
for i in $(seq 1 "$RUNS"); do
	echo "== round $i: $SUBS clients, $RATE messages/s"
	rlrun -rate "$RATE"
	grun -rate "$RATE"
	echo "== round $i: $SUBS clients, as fast as $MAXC senders go"
	rlrun -rate 0 -c "$MAXC"
	grun -rate 0 -c "$MAXC"
done
