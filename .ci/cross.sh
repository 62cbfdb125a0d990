#!/usr/bin/env bash
# Cross-compiles rocketlite for small machines (CGO_ENABLED=0, stripped) and checks that the
# binaries stay within 15 MB: the Pi builds (arm, riscv64 and the "-pi" amd64 one) leave
# PostgreSQL out with -tags nopostgres (pgx and its Unicode tables weigh about 4 MB, and a
# Pi keeps its data in one bbolt file); the server builds (amd64, arm64) have both backends.
# DIST=dir keeps the binaries there.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
out=${DIST:-$(mktemp -d)}
[ -n "${DIST:-}" ] || trap 'rm -rf "$out"' EXIT
mkdir -p "$out"

limit=$((15 * 1000 * 1000))
build() { # name tags goarch [goarm]
	CGO_ENABLED=0 GOOS=linux GOARCH=$3 GOARM=${4:-} \
		go build -trimpath -tags "$2" -ldflags "-s -w" -o "$out/rocketlite-$1" .
	size=$(stat -c %s "$out/rocketlite-$1")
	printf '%-26s %9d bytes  %s\n' "rocketlite-$1" "$size" "${2:-bbolt + PostgreSQL}"
	if [ "$size" -gt "$limit" ]; then
		echo "stripped rocketlite-$1 is $size bytes, over the 15 MB budget" >&2
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
echo "cross builds ok; every binary <= $limit bytes"
