#!/usr/bin/env bash
# Side-by-side comparison of two server binaries on the same database, alternated within one
# run so that the load of a shared machine falls on both alike: for each round and binary,
# start it, warm up, run wrk for history (newest 50), history with a matching If-None-Match
# (when the binary sends an ETag) and send, then stop it. Prints req/s, p50, p99, non-2xx,
# the server's CPU time per request and the load average next to each figure.
#
#   OLD=/tmp/old NEW=/tmp/new DB=/tmp/r.db PASS=ADMINPASS bash bench/compare.sh
#   (fill DB first: go run ./bench -fill-db /tmp/r.db -n 1000000 -users 64 -password ADMINPASS)
#
# Loopback only; every run is bounded (DUR, default 10s). WORKLOADS picks the wrk scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?path of the old binary}" "${NEW:?path of the new binary}" "${DB:?filled database}" "${PASS:?admin password}"
RUNS=${RUNS:-3}
DUR=${DUR:-10s}
CONNS=${CONNS:-64}
WORKLOADS=${WORKLOADS:-history history-etag history-v1 send}
PORT=${PORT:-$((40000 + RANDOM % 20000))}
ADDR=http://127.0.0.1:$PORT
BENCH=${BENCH:-$(mktemp -d)/bench}
[ -x "$BENCH" ] || go build -o "$BENCH" ./bench
SRV=
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; true' EXIT

cpu_ticks() { awk '{print $14+$15}' /proc/"$SRV"/stat; }

run_wrk() { # label script
	local t0 t1 out n
	t0=$(cpu_ticks)
	out=$(wrk -t2 -c"$CONNS" -d"$DUR" --latency -s "bench/wrk/$2.lua" "$ADDR" 2>&1)
	t1=$(cpu_ticks)
	n=$(echo "$out" | awk '/requests in/{print $1}')
	echo "$out" | awk -v s="$1 $2" -v cpu="$(((t1 - t0) * 10000000 / (n > 0 ? n : 1) / 1000))" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
		'/Requests\/sec/{r=$2} / 50%/{p50=$2} / 99%/{p99=$2} /Non-2xx/{e=$5}
		 END{printf "%-18s req/s=%-9s p50=%-8s p99=%-8s non2xx=%-7d server-cpu/req=%dus load=%s\n", s, r, p50, p99, e, cpu, load}'
}

for i in $(seq "$RUNS"); do
	for which in old new; do
		bin=$OLD
		[ "$which" = new ] && bin=$NEW
		"$bin" serve --addr "127.0.0.1:$PORT" --db "$DB" --send-rate 0 --log-format json 2>/dev/null &
		SRV=$!
		for _ in $(seq 200); do curl -s -o /dev/null "$ADDR/api/version" && break; sleep 0.05; done
		eval "$("$BENCH" -addr "$ADDR" -password "$PASS" -wrk-env)"
		export RL_UID RL_TOKEN RL_ROOM
		wrk -t2 -c"$CONNS" -d2s -s bench/wrk/history.lua "$ADDR" >/dev/null 2>&1 || true # fault the file in
		for w in $WORKLOADS; do
			if [ "$w" = history-etag ]; then
				RL_ETAG=$(curl -s -D - -o /dev/null -H "X-User-Id: $RL_UID" -H "X-Auth-Token: $RL_TOKEN" \
					"$ADDR/api/rooms/$RL_ROOM/messages?count=50" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
				[ -n "$RL_ETAG" ] || { echo "$which history-etag      (no ETag: skipped)"; continue; }
				export RL_ETAG
			fi
			run_wrk "$which" "$w"
		done
		echo "$which idle-after-runs $(grep -E '^(VmRSS|RssAnon)' /proc/"$SRV"/status | tr -s ' \t' ' ' | tr '\n' ' ')"
		kill "$SRV"
		wait "$SRV" 2>/dev/null || true
		SRV=
	done
done
