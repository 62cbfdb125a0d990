#!/usr/bin/env bash
# The before/after measurements of issue 9 items 1, 3 and 4 (BENCHMARKS.md). Loopback only,
# every load bounded in time (5–8 s). Needs curl and python3.
#
#   OLD=/path/to/old-rocketlite bash bench/issue9.sh [attachments|failing-writes|gc]...
#
# OLD is a stripped build of the commit to compare with (for example main before issue 9:
# git worktree add /tmp/old a71bb0e && (cd /tmp/old && go build -o /tmp/rl-old .)).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?set OLD to the binary to compare with}"
WORK=$(mktemp -d /tmp/rocketlite-issue9-XXXXXX)
trap 'kill $SRV 2>/dev/null || true; rm -rf "$WORK"' EXIT
SRV=
PASS=measure-admin-pass
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$WORK/new" .
go build -o "$WORK/bench" ./bench
cp "$OLD" "$WORK/old"
B=$WORK/bench

start() { # binary db [flags…] [env VAR=…]: sets SRV, A, UID_, TOK
	local bin=$1 db=$2; shift 2
	PORT=$((40000 + RANDOM % 20000))
	"$bin" serve -addr 127.0.0.1:$PORT -db "$db" --admin-password $PASS --send-rate 0 --log-level error "$@" 2>"$WORK/stderr" &
	SRV=$!
	for _ in $(seq 200); do curl -s -o /dev/null http://127.0.0.1:$PORT/api/version && break; sleep 0.05; done
	A=http://127.0.0.1:$PORT
	read -r UID_ TOK < <(curl -s "$A/api/login" -d "user=admin&password=$PASS" |
		python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(d["userId"], d["authToken"])')
}
stop() { kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=; }
peak() { grep -E '^VmHWM' /proc/"$SRV"/status | tr -s ' \t' ' '; }
load() { cut -d' ' -f1 /proc/loadavg; }

attachments() { # item 1: a database written by OLD, served by both
	python3 -c '
n=1400
print("{\"roomId\":\"GENERAL\",\"text\":\"nested\",\"attachments\":[" + "{\"a\":[" * n + "1" + "]}" * n + "]}")' >"$WORK/nested.json"
	start "$WORK/old" "$WORK/att.db"
	for i in $(seq 50); do
		python3 -c "import json; print(json.dumps({'roomId':'GENERAL','text':'big $i','attachments':[{'title':'t','text':'x'*900000}]}))" |
			curl -s -o /dev/null -H "X-User-Id: $UID_" -H "X-Auth-Token: $TOK" -H 'Content-Type: application/json' --data-binary @- "$A/api/v1/chat.postMessage"
	done
	curl -s -o /dev/null -H "X-User-Id: $UID_" -H "X-Auth-Token: $TOK" -H 'Content-Type: application/json' --data-binary @"$WORK/nested.json" "$A/api/v1/chat.postMessage"
	stop
	for bin in old new old new; do
		cp "$WORK/att.db" "$WORK/att-$bin.db"
		start "$WORK/$bin" "$WORK/att-$bin.db"
		local t0 t1
		t0=$(date +%s.%N); curl -s -o "$WORK/out" -H "X-User-Id: $UID_" -H "X-Auth-Token: $TOK" "$A/api/rooms/GENERAL/messages?count=1"; t1=$(date +%s.%N)
		echo "== $bin (load $(load)): the nested post: $(stat -c %s "$WORK/out") bytes in $(echo "$t1 - $t0" | bc) s, $(peak)"
		t0=$(date +%s.%N); curl -s -o "$WORK/out" -D "$WORK/hdr" -H "X-User-Id: $UID_" -H "X-Auth-Token: $TOK" "$A/api/rooms/GENERAL/messages"; t1=$(date +%s.%N)
		echo "   default page: $(stat -c %s "$WORK/out") bytes in $(echo "$t1 - $t0" | bc) s $(grep -i x-page-truncated "$WORK/hdr" | tr -d '\r'), $(peak)"
		"$B" -addr "$A" -password $PASS -room GENERAL -workload history -count 50 -c 4 -d 5s -warmup 0 -timeout 120s | grep -E '^(history|  error)' || true
		echo "   after 4 readers for 5 s: $(peak)"
		echo "   posting the nested post: $(curl -s -o /dev/null -w '%{http_code}' -H "X-User-Id: $UID_" -H "X-Auth-Token: $TOK" -H 'Content-Type: application/json' --data-binary @"$WORK/nested.json" "$A/api/v1/chat.postMessage")"
		stop
	done
}

failing_writes() { # item 3: sends, then sends with half the connections joining a missing room
	[ -f "$WORK/fw.db" ] || "$B" -fill-db "$WORK/fw.db" -n 20000 -users 8 -password $PASS >/dev/null
	for bin in old new old new; do
		cp "$WORK/fw.db" "$WORK/fw-$bin.db"
		start "$WORK/$bin" "$WORK/fw-$bin.db"
		echo "== $bin (load $(load))"
		"$B" -addr "$A" -password $PASS -users 8 -timeout 60s -workload send -c 32 -d 5s -warmup 0 | grep -E '^send'
		stop
		local t0 t1 out sends
		t0=$("$B" -txid "$WORK/fw-$bin.db" | cut -d= -f2)
		start "$WORK/$bin" "$WORK/fw-$bin.db"
		out=$("$B" -addr "$A" -password $PASS -users 8 -timeout 60s -workload badjoin -c 64 -d 5s -warmup 0)
		stop
		t1=$("$B" -txid "$WORK/fw-$bin.db" | cut -d= -f2)
		echo "$out" | grep -E '^(send|badjoin)'
		sends=$(echo "$out" | awk '/^send/{sub("ok=","",$2); print $2}')
		echo "   commits=$((t1 - t0)) writes/commit=$(python3 -c "print(round(($sends + 9) / max(1, $t1 - $t0), 1))") (the logins counted as writes)"
	done
}

gc() { # item 4: 8 readers of count=1000 pages and 8 of count=1 pages, GC cycles counted
	[ -f "$WORK/gc.db" ] || "$B" -fill-db "$WORK/gc.db" -n 50000 -users 16 -password $PASS -text-size 4000 >/dev/null
	one() { # label env…
		local label=$1; shift
		PORT=$((40000 + RANDOM % 20000))
		env GODEBUG=gctrace=1 "$@" serve -addr 127.0.0.1:$PORT -db "$WORK/gc.db" --send-rate 0 --log-level error 2>"$WORK/gc.log" &
		SRV=$!
		A=http://127.0.0.1:$PORT
		for _ in $(seq 200); do curl -s -o /dev/null "$A/api/version" && break; sleep 0.05; done
		sleep 0.5
		local idle g0
		idle=$(grep -E '^VmRSS' /proc/$SRV/status | tr -s ' \t' ' ')
		g0=$(grep -c '^gc ' "$WORK/gc.log" || true)
		"$B" -addr "$A" -password $PASS -users 8 -timeout 60s -workload history -count 1000 -c 8 -d 6s -warmup 1s >"$WORK/big.out" &
		local bp=$!
		"$B" -addr "$A" -password $PASS -users 8 -timeout 60s -workload history -count 1 -c 8 -d 6s -warmup 1s >"$WORK/small.out"
		wait $bp
		printf '%-40s load=%-5s count=1000 %s  count=1 %s %s  GC cycles=%s GC CPU=%s  idle %s  %s\n' "$label" "$(load)" \
			"$(awk '/^history/{print $3}' "$WORK/big.out")" "$(awk '/^history/{print $3}' "$WORK/small.out")" "$(awk '/^history/{print $4}' "$WORK/small.out")" \
			"$(( $(grep -c '^gc ' "$WORK/gc.log") - g0 ))" "$(grep '^gc ' "$WORK/gc.log" | tail -1 | awk '{print $4}')" "$idle" "$(peak)"
		stop
	}
	for _ in 1 2; do
		one "old, its default" "$WORK/old"
		one "old, GOMEMLIMIT=256MiB" GOMEMLIMIT=256MiB "$WORK/old"
		one "new, ROCKETLITE_MEMORY_LIMIT=32M" ROCKETLITE_MEMORY_LIMIT=32M "$WORK/new"
		one "new, ROCKETLITE_MEMORY_LIMIT=256M" ROCKETLITE_MEMORY_LIMIT=256M "$WORK/new"
		one "new, default (auto)" "$WORK/new"
	done
}

echo "nproc=$(nproc) load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for what in "${@:-attachments failing-writes gc}"; do
	for w in $what; do
		case $w in
		attachments) attachments ;;
		failing-writes) failing_writes ;;
		gc) gc ;;
		*) echo "unknown measurement $w" >&2; exit 2 ;;
		esac
	done
done
