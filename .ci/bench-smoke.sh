#!/usr/bin/env bash
# Smoke run of the load tool against a freshly built server: a small filled database, every
# workload for a second at a few connections. Any numbers pass; errors or a crash fail.
source "$(dirname "$0")/lib.sh"

go build -o "$work/rocketlite" .
go build -o "$work/bench" ./bench
"$work/bench" -fill-db "$work/db" -n 2000 -users 4 -password smoke-admin-pass

# Port 0: the kernel picks a free port and the server logs it. No per-user send limit, as the
# performance issue measures.
"$work/rocketlite" serve -addr 127.0.0.1:0 -db "$work/db" -bcrypt-cost 4 -send-rate 0 \
	-log-format json 2>"$work/server.log" &
srv=$!
wait_listening bench-smoke 100

for w in send history mixed login; do
	"$work/bench" -addr "http://$addr" -password smoke-admin-pass -users 4 \
		-workload "$w" -c 4 -d 1s -warmup 200ms | tee "$work/out"
	grep -q 'errors=0 ' "$work/out" || { echo "bench-smoke: $w had errors" >&2; exit 1; }
	grep -q "^$w " "$work/out" || [ "$w" = mixed ] || { echo "bench-smoke: no $w results" >&2; exit 1; }
done
# The realtime workloads: DDP subscribers get every message posted over REST.
"$work/bench" -addr "http://$addr" -password smoke-admin-pass -users 4 \
	-workload realtime -subscribers 20 -rate 20 -d 1s -warmup 200ms | tee "$work/out"
grep -q ' missing=0 ' "$work/out" || { echo "bench-smoke: realtime deliveries missing" >&2; exit 1; }
"$work/bench" -addr "http://$addr" -password smoke-admin-pass -users 4 \
	-workload fanout -subscribers 20 -c 2 -d 1s -warmup 200ms | tee "$work/out"
grep -q ' missing=0 ' "$work/out" && grep -q ' ratio=' "$work/out" || { echo "bench-smoke: fanout failed" >&2; exit 1; }
"$work/bench" -addr "http://$addr" -password smoke-admin-pass -users 4 \
	-workload idle -subscribers 20 -d 1s -warmup 0 | tee "$work/out"
grep -q '^idle ' "$work/out" || { echo "bench-smoke: no idle result" >&2; exit 1; }
# The tool refuses anything but loopback.
if "$work/bench" -addr http://192.0.2.1:3000 -password x 2>/dev/null; then
	echo "bench-smoke: a non-loopback address was accepted" >&2
	exit 1
fi
echo "bench smoke ok"
