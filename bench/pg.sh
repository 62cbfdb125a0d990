#!/usr/bin/env bash
# Issue 14's table on this machine: rocketlite on PostgreSQL (synchronous commit on). Starts
# a throwaway PostgreSQL cluster on loopback (.ci/pg.sh), fills a 1,000,000-message room
# (bench -fill-db into a bbolt file, then rocketlite migrate into PostgreSQL), then measures
# with the bench tool: send and newest-50 history on one node, the same on two nodes at
# once, and cross-node delivery (posts on node A, DDP subscribers on node B). Every server
# listens on 127.0.0.1 and every load is bounded in time. Needs wrk (apt-get install wrk).
#
#   bash bench/pg.sh                 # about 8 minutes, most of it the fill
#   MSGS=100000 DUR=5s bash bench/pg.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10s}
CONNS=${CONNS:-64}
MSGS=${MSGS:-1000000}
PGPORT=${PGPORT:-$((25600 + RANDOM % 300))}
P1=${P1:-$((27000 + RANDOM % 1000))}
P2=${P2:-$((P1 + 1))}
WORK=$(mktemp -d /tmp/rocketlite-pgbench-XXXXXX)
PGDIR=$WORK/pg
PASS=measure-admin-pass
SRVS=()
cleanup() {
	for p in "${SRVS[@]}"; do kill "$p" 2>/dev/null || true; done
	bash .ci/pg.sh "$PGDIR" "$PGPORT" stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
chmod 755 "$WORK"

echo "== machine"
echo "nproc=$(nproc) $(go version | cut -d' ' -f3-4) load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== build"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$WORK/rocketlite" .
go build -o "$WORK/bench" ./bench

echo "== PostgreSQL on 127.0.0.1:$PGPORT (throwaway, fsync and synchronous_commit on)"
DSN=$(bash .ci/pg.sh "$PGDIR" "$PGPORT")
psql_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql
"$psql_bin" "$DSN" -Atc "SHOW synchronous_commit; SHOW fsync; SELECT version()"

echo "== fill $MSGS messages (bbolt), then rocketlite migrate into PostgreSQL"
"$WORK/bench" -fill-db "$WORK/fill.db" -n "$MSGS" -users "$CONNS" -password "$PASS"
t0=$(date +%s%N)
"$WORK/rocketlite" migrate --from "$WORK/fill.db" --to "$DSN"
echo "migrate took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
"$psql_bin" "$DSN" -Atc "VACUUM ANALYZE" >/dev/null
# As after any bulk load: write the copied pages out now, so that the first checkpoint does not
# fall into the first measurement (it took p99 from about 20 to 40-70 ms there).
"$psql_bin" "$DSN" -Atc "CHECKPOINT" >/dev/null

serve() { # port [flags...]
	local port=$1; shift
	"$WORK/rocketlite" serve --addr "127.0.0.1:$port" --db "$DSN" --send-rate 0 --write-rate 0 --scan-rate 0 \
		--max-conns 4096 --max-conns-per-addr 4096 --max-sockets 20000 --max-sockets-per-user 0 "$@" \
		>>"$WORK/server-$port.log" 2>&1 &
	SRVS+=($!)
	for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && return; sleep 0.05; done
	echo "server on $port did not start"; tail -20 "$WORK/server-$port.log"; exit 1
}
bench() { "$WORK/bench" -password "$PASS" -users "$CONNS" -timeout 30s "$@"; }

wrk_run() { # script port [label]
	wrk -t2 -c"$3" -d"$DUR" --latency -s "bench/wrk/$1.lua" "http://127.0.0.1:$2" 2>&1 |
		awk -v s="$1" -v p="$2" -v c="$3" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
			'/Requests\/sec/{r=$2} / 50%/{p50=$2} / 99%/{p99=$2} /Non-2xx/{e=$5}
			 END{printf "wrk %-8s port=%s c=%s req/s=%-9s p50=%-8s p99=%-8s non2xx=%d load=%s\n", s, p, c, r, p50, p99, e, load}'
}

echo "== one node (wrk, $CONNS connections, $DUR each; the bench tool's own client costs more CPU than wrk's)"
serve "$P1"
eval "$("$WORK/bench" -addr "http://127.0.0.1:$P1" -password "$PASS" -wrk-env)"
export RL_UID RL_TOKEN RL_ROOM
wrk -t2 -c"$CONNS" -d3s -s bench/wrk/history.lua "http://127.0.0.1:$P1" >/dev/null 2>&1 || true # warm-up
wrk_run send "$P1" "$CONNS"
wrk_run history "$P1" "$CONNS"
echo "-- history with the page cache off (every read goes to PostgreSQL)"
kill "${SRVS[0]}"; wait "${SRVS[0]}" 2>/dev/null || true; SRVS=()
serve "$P1" --page-cache 0
wrk_run history "$P1" "$CONNS"
kill "${SRVS[0]}"; wait "${SRVS[0]}" 2>/dev/null || true; SRVS=()

echo "== two nodes on the same PostgreSQL, $((CONNS / 2)) connections each, at the same time (page cache on)"
serve "$P1"
serve "$P2"
echo "-- one node alone first, $CONNS connections"
wrk_run send "$P1" "$CONNS"
echo "-- one node alone, $((CONNS / 2)) connections to the room and $((CONNS / 2)) to GENERAL (the baseline of the two-room case)"
wrk_run send "$P1" "$((CONNS / 2))" >"$WORK/a.out" &
a=$!
RL_ROOM=GENERAL wrk_run send "$P1" "$((CONNS / 2))"
wait "$a"; cat "$WORK/a.out"
for w in send history; do
	echo "-- $w, both nodes, the same room"
	wrk_run "$w" "$P1" "$((CONNS / 2))" >"$WORK/a.out" &
	a=$!
	wrk_run "$w" "$P2" "$((CONNS / 2))"
	wait "$a"; cat "$WORK/a.out"
done
echo "-- send, both nodes, node B to another room (GENERAL): no lock shared on the room row"
wrk_run send "$P1" "$((CONNS / 2))" >"$WORK/a.out" &
a=$!
RL_ROOM=GENERAL wrk_run send "$P2" "$((CONNS / 2))"
wait "$a"; cat "$WORK/a.out"

echo "== cross-node delivery: 100 DDP subscribers on node B, 100 messages/s posted on node A"
bench -addr "http://127.0.0.1:$P1" -sub-addr "http://127.0.0.1:$P2" -workload realtime -subscribers 100 -rate 100 -d "$DUR" -warmup 2s -users 8

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
