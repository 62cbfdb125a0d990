#!/usr/bin/env bash
# Cross-compiles rocketlite (CGO_ENABLED=0, stripped) and checks the sizes. The Pi builds
# (arm, riscv64, and the "-pi" amd64 and arm64 ones) leave PostgreSQL out with -tags
# nopostgres: a Pi keeps its data in one bbolt file, and pgx with its Unicode tables weighs
# about 4.5 MB. They must stay within the 15 MB budget. The server builds (amd64, arm64) carry
# both backends; they are held to 20 MB, so that growth still shows. DIST=dir keeps the
# binaries there.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
out=${DIST:-$(mktemp -d)}
[ -n "${DIST:-}" ] || trap 'rm -rf "$out"' EXIT
mkdir -p "$out"

pi_limit=$((15 * 1000 * 1000))
server_limit=$((20 * 1000 * 1000))
build() { # name tags goarch [goarm]
	CGO_ENABLED=0 GOOS=linux GOARCH=$3 GOARM=${4:-} \
		go build -trimpath -tags "$2" -ldflags "-s -w" -o "$out/rocketlite-$1" .
	size=$(stat -c %s "$out/rocketlite-$1")
	limit=$server_limit
	[ "$2" = nopostgres ] && limit=$pi_limit
	printf '%-26s %9d bytes  %-20s (budget %d)\n' "rocketlite-$1" "$size" "${2:-bbolt + PostgreSQL}" "$limit"
	if [ "$size" -gt "$limit" ]; then
		echo "stripped rocketlite-$1 is $size bytes, over its budget of $limit" >&2
		exit 1
	fi
}
build linux-amd64 "" amd64
build linux-arm64 "" arm64
build linux-amd64-pi nopostgres amd64
build linux-arm64-pi nopostgres arm64
build linux-armv7 nopostgres arm 7
build linux-armv6 nopostgres arm 6
build linux-riscv64 nopostgres riscv64
echo "cross builds ok; Pi builds <= $pi_limit bytes, server builds <= $server_limit"
