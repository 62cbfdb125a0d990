#!/usr/bin/env bash
# Cross-compiles rocketlite for small machines (CGO_ENABLED=0, stripped) and checks that the
# stripped linux/amd64 binary stays within 15 MB. DIST=dir keeps the binaries there.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
out=${DIST:-$(mktemp -d)}
[ -n "${DIST:-}" ] || trap 'rm -rf "$out"' EXIT
mkdir -p "$out"

build() { # name goarch [goarm]
	CGO_ENABLED=0 GOOS=linux GOARCH=$2 GOARM=${3:-} \
		go build -trimpath -ldflags "-s -w" -o "$out/rocketlite-$1" .
	printf '%-22s %9d bytes\n' "rocketlite-$1" "$(stat -c %s "$out/rocketlite-$1")"
}
build linux-amd64 amd64
build linux-arm64 arm64
build linux-armv7 arm 7
build linux-armv6 arm 6
build linux-riscv64 riscv64

limit=$((15 * 1000 * 1000))
size=$(stat -c %s "$out/rocketlite-linux-amd64")
if [ "$size" -gt "$limit" ]; then
	echo "stripped linux/amd64 binary is $size bytes, over the 15 MB budget" >&2
	exit 1
fi
echo "cross builds ok; amd64 $size bytes <= $limit"
