#!/usr/bin/env bash
# The black-box check of issue 9: the load tool's attack scenario (go run ./bench -attack)
# against the built binary on loopback, one bounded probe per item 1–10, under a minute in
# all. It prints figures and asserts none of them: it fails only if the server answers 500,
# stops answering, or exits.
#
#   bash .ci/attack.sh                 # OLD=/path/to/binary bash .ci/attack.sh to probe another build
source "$(dirname "$0")/lib.sh"

bin=${OLD:-}
if [ -z "$bin" ]; then
	bin=$work/rocketlite
	go build -o "$bin" .
fi
go build -o "$work/bench" ./bench
"$work/bench" -fill-db "$work/db" -n 100000 -users 4 -password attack-admin-pass

# The defaults of every limit, as a fresh install has them; registration open so that item 8
# can be probed; a cheap bcrypt so that the logins of items 2 and 7 measure the server.
"$bin" serve -addr 127.0.0.1:0 -db "$work/db" -bcrypt-cost 4 -open-registration \
	-log-format json 2>"$work/server.log" &
srv=$!
wait_listening attack 200

status=0
timeout 120 "$work/bench" -attack -addr "http://$addr" -password attack-admin-pass -server-pid "$srv" || status=$?
if ! kill -0 "$srv" 2>/dev/null; then
	echo "attack: the server exited" >&2
	cat "$work/server.log"
	exit 1
fi
if [ "$status" -ne 0 ]; then
	echo "attack: failed ($status); server log:" >&2
	grep -v '"message":"request"' "$work/server.log" | tail -n 30
	exit 1
fi
echo "attack ok"
