#!/usr/bin/env bash
# Reproduces the table of BENCHMARKS.md on this machine: builds the server and the load
# tool, fills a 1,000,000-message room, then measures start-up, RSS, send and history with
# wrk (and the bench tool), and the stripped binary size. Everything runs on 127.0.0.1 and
# every load is bounded in time. Needs wrk (apt-get install wrk) and python3.
#
#   bash bench/measure.sh            # full run, about 6 minutes
#   RUNS=1 DUR=5s bash bench/measure.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}            # repetitions of each load run
DUR=${DUR:-10s}            # duration of each load run
CONNS=${CONNS:-64}
PORT=${PORT:-$((40000 + RANDOM % 20000))}
MSGS=${MSGS:-1000000}
SEND_RATE_FLAG=${SEND_RATE_FLAG:---send-rate 0}   # the issue measures without the per-user send limit
WORK=$(mktemp -d /tmp/rocketlite-measure-XXXXXX)
PASS=measure-admin-pass
ADDR=http://127.0.0.1:$PORT
trap 'kill $SRV 2>/dev/null || true; rm -rf "$WORK"' EXIT
SRV=

echo "== machine"
echo "nproc=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\" $(go version | cut -d' ' -f3-4) kernel=$(uname -r)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== build"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$WORK/rocketlite" .
go build -o "$WORK/bench" ./bench
echo "stripped linux/$(go env GOARCH) binary: $(stat -c %s "$WORK/rocketlite") bytes"

echo "== fill $MSGS messages"
"$WORK/bench" -fill-db "$WORK/db" -n "$MSGS" -users "$CONNS" -password "$PASS"
echo "file: $(stat -c %s "$WORK/db") bytes"

start_server() {
	python3 - "$WORK/rocketlite" "$WORK/db" "$PORT" "$WORK/server.log" $SEND_RATE_FLAG <<'PY' &
import subprocess, sys, time, urllib.request, os
b, db, port, log = sys.argv[1:5]
t0 = time.monotonic()
p = subprocess.Popen([b, "serve", "-addr", "127.0.0.1:" + port, "-db", db] + sys.argv[5:],
                     stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
while True:
    try:
        urllib.request.urlopen("http://127.0.0.1:%s/api/version" % port, timeout=1).read()
        break
    except Exception:
        if p.poll() is not None:
            sys.exit("server exited: " + open(log).read()[-500:])
        time.sleep(0.001)
print("start to first answer: %.1f ms" % ((time.monotonic() - t0) * 1000), flush=True)
open(os.environ.get("PIDFILE", "/dev/null"), "w").write(str(p.pid))
p.wait()
PY
	for _ in $(seq 100); do [ -s "$WORK/pid" ] && break; sleep 0.05; done
	SRV=$(cat "$WORK/pid")
	for _ in $(seq 100); do curl -s -o /dev/null "$ADDR/api/version" && break; sleep 0.05; done
}
rss() { grep -E '^(VmRSS|RssAnon|RssFile)' /proc/"$SRV"/status | tr -s ' \t' ' ' | tr '\n' ' '; echo; }
cpu_ticks() { awk '{print $14+$15}' /proc/"$SRV"/stat; }

echo "== start-up (3 times) and idle RSS"
for i in 1 2 3; do
	: > "$WORK/pid"
	PIDFILE="$WORK/pid" start_server
	sleep 1
	echo "idle after 1 s: $(rss)"
	kill "$SRV"; wait 2>/dev/null || true
done
: > "$WORK/pid"
PIDFILE="$WORK/pid" start_server

eval "$("$WORK/bench" -addr "$ADDR" -password "$PASS" -wrk-env)"
export RL_UID RL_TOKEN RL_ROOM
# The newest page's ETag, for the polling run (If-None-Match; every answer a 304).
RL_ETAG=$(curl -s -D - -o /dev/null -H "X-User-Id: $RL_UID" -H "X-Auth-Token: $RL_TOKEN" \
	"$ADDR/api/rooms/$RL_ROOM/messages?count=50" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
export RL_ETAG

wrk_run() { # script
	local t0 t1 out n
	t0=$(cpu_ticks)
	out=$(wrk -t2 -c"$CONNS" -d"$DUR" --latency -s "bench/wrk/$1.lua" "$ADDR" 2>&1)
	t1=$(cpu_ticks)
	n=$(echo "$out" | awk '/requests in/{print $1}')
	echo "$out" | awk -v s="$1" -v cpu="$(( (t1 - t0) * 10000000 / n / 1000 ))" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
		'/Requests\/sec/{r=$2} / 50%/{p50=$2} / 99%/{p99=$2} /Non-2xx/{e=$5} /Socket errors/{se=$0}
		 END{printf "wrk %-8s req/s=%-9s p50=%-8s p99=%-8s non2xx=%d server-cpu/req=%dus load=%s %s\n", s, r, p50, p99, e, cpu, load, se}'
}

# A short unmeasured run first: the first requests after a start fault the file's pages into
# the page cache, which is start-up cost, not the steady state the table reports.
echo "== warm-up (3 s of history and send, not reported)"
wrk -t2 -c"$CONNS" -d3s -s bench/wrk/history.lua "$ADDR" >/dev/null 2>&1 || true
wrk -t2 -c"$CONNS" -d3s -s bench/wrk/send.lua "$ADDR" >/dev/null 2>&1 || true

echo "== wrk, $CONNS connections, $DUR each, $RUNS runs (history: newest 50 of the $MSGS-message room)"
for i in $(seq "$RUNS"); do
	wrk_run history
	wrk_run history-etag
	wrk_run send
done

echo "== bench tool, $CONNS connections over $CONNS users, $DUR each"
for w in history send mixed; do
	"$WORK/bench" -addr "$ADDR" -password "$PASS" -users "$CONNS" -workload "$w" -c "$CONNS" -d "$DUR"
done
"$WORK/bench" -addr "$ADDR" -password "$PASS" -users "$CONNS" -workload login -c 4 -d 5s

echo "== RSS after the runs"
rss
kill "$SRV"; wait 2>/dev/null || true

[ -n "${SKIP_GOBENCH:-}" ] && exit 0
echo "== Go benchmarks (store and handlers)"
go test ./store ./handlers -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-1s}" 2>&1 | grep -E '^(Benchmark|ok|FAIL)|built'
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
