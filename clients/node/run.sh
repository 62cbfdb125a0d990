#!/usr/bin/env bash
# Runs the published npm Rocket.Chat clients (package.json) against a freshly built rocketlite:
# build the binary, start it on a free 127.0.0.1 port with a temporary database and the
# testdata seed, npm ci, run the tests, stop the server. Exits non-zero on any failure; every
# step is time-bound, so it always ends on its own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== node clients: build"
(cd "$root" && timeout 300 go build -o "$work/rocketlite" .)

echo "== node clients: start rocketlite"
# Port 0: the kernel picks a free port, which the server logs; no race with another process.
"$work/rocketlite" serve --addr 127.0.0.1:0 --db "$work/test.db" \
  --seed "$root/testdata/rocketchat-test-seed.json" --bcrypt-cost 4 --log-format json \
  >"$work/server.log" 2>&1 &
pid=$!
addr=""
for _ in $(seq 1 150); do
  addr=$(sed -n 's/.*"addr":"\(127\.0\.0\.1:[0-9]*\)".*"message":"listening".*/\1/p' "$work/server.log" | head -n1)
  [ -n "$addr" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "rocketlite did not start:"; cat "$work/server.log"; exit 1
fi
echo "listening on $addr"

echo "== node clients: npm ci"
(cd "$here" && timeout 300 npm ci --no-audit --no-fund)

echo "== node clients: tests"
status=0
(cd "$here" && ROCKETLITE_URL="http://$addr" \
  ROCKETLITE_USER=rocketchat.internal.admin.test \
  ROCKETLITE_PASSWORD=rocketchat.internal.admin.test \
  timeout 180 npm test) || status=$?
if [ "$status" -ne 0 ]; then
  echo "node client tests failed ($status); server log:"; cat "$work/server.log"
fi
exit "$status"
