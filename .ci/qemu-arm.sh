#!/usr/bin/env bash
# Runs the Pi builds, not only compiles them: the stripped linux/arm64 and linux/arm (GOARM=7)
# binaries under Debian's qemu-user-static, each on a temporary database on 127.0.0.1: start,
# log in, send, read the message back (API 0.1 and v1), stop with SIGTERM and expect exit 0.
# Every step is bounded in time, so the script always ends on its own.
#
#   bash .ci/qemu-arm.sh            # installs qemu-user-static with apt-get when it is missing
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

apt_install() { # packages…: idempotent, retried while another apt holds the dpkg lock
	local sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	for i in $(seq 1 30); do
		if $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; then
			return 0
		fi
		echo "apt-get busy or failed (try $i), retrying in 5 s" >&2
		sleep 5
	done
	return 1
}
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v curl >/dev/null || need+=(curl)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "qemu-arm: $*" >&2; [ -f "$work/server.log" ] && tail -n 20 "$work/server.log" >&2; exit 1; }

# json FIELD < body: the string value of "FIELD" in a JSON answer (enough for ids and tokens).
json() { sed -n 's/.*"'"$1"'": *"\([^"]*\)".*/\1/p' | head -n1; }

run_one() { # name qemu goarch [goarm]
	local name=$1 qemu=$2 bin="$work/rocketlite-$1" addr= body uid tok rid mid
	CGO_ENABLED=0 GOOS=linux GOARCH=$3 GOARM=${4:-} timeout 600 \
		go build -trimpath -tags nopostgres -ldflags "-s -w" -o "$bin" .  # the Pi build (.ci/cross.sh)
	echo "== $name: $(stat -c %s "$bin") bytes, $(timeout 60 "$qemu" "$bin" version)"
	rm -f "$work/db" "$work/server.log"
	# Port 0: the kernel picks a free port and the server logs it. Emulation is slow: a
	# cheap bcrypt cost keeps the login quick.
	"$qemu" "$bin" serve --addr 127.0.0.1:0 --db "$work/db" --admin-user admin \
		--admin-password qemu-admin-pass --bcrypt-cost 4 --log-format json 2>"$work/server.log" &
	pid=$!
	for _ in $(seq 1 600); do # up to 60 s
		addr=$(sed -n 's/.*"addr":"\(127\.0\.0\.1:[0-9]*\)".*"message":"listening".*/\1/p' "$work/server.log" | head -n1)
		[ -n "$addr" ] && break
		kill -0 "$pid" 2>/dev/null || fail "$name: the server exited at start"
		sleep 0.1
	done
	[ -n "$addr" ] || fail "$name: the server did not listen within 60 s"

	local c=(curl -sS --max-time 30 -H 'Content-Type: application/json')
	body=$("${c[@]}" -d '{"user":"admin","password":"qemu-admin-pass"}' "http://$addr/api/login")
	uid=$(json userId <<<"$body")
	tok=$(json authToken <<<"$body")
	[ -n "$uid" ] && [ -n "$tok" ] || fail "$name: login answered $body"
	c+=(-H "X-User-Id: $uid" -H "X-Auth-Token: $tok")
	body=$("${c[@]}" -d '{"channel":"#general","text":"hello from '"$name"'"}' "http://$addr/api/v1/chat.postMessage")
	rid=$(json rid <<<"$body")
	mid=$(json _id <<<"$body")
	[ -n "$rid" ] && [ -n "$mid" ] || fail "$name: send answered $body"
	body=$("${c[@]}" "http://$addr/api/rooms/$rid/messages?count=5")
	grep -q "\"_id\": \"$mid\"" <<<"$body" && grep -q "hello from $name" <<<"$body" ||
		fail "$name: API 0.1 history does not show the message: $body"
	body=$("${c[@]}" "http://$addr/api/v1/channels.history?roomId=$rid&count=5")
	grep -q "\"_id\": \"$mid\"" <<<"$body" || fail "$name: channels.history does not show the message: $body"

	kill -TERM "$pid"
	local rc=0
	for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done # up to 30 s
	kill -0 "$pid" 2>/dev/null && fail "$name: still running 30 s after SIGTERM"
	wait "$pid" || rc=$?
	pid=
	[ "$rc" = 0 ] || fail "$name: exit status $rc after SIGTERM"
	echo "$name under $qemu: started, logged in, sent, read, stopped (exit 0)"
}

run_one linux-arm64 qemu-aarch64-static arm64
run_one linux-armv7 qemu-arm-static arm 7
echo "qemu arm runs ok"
