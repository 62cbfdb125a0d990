#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on loopback for the tests and prints its address
# (export ROCKETLITE_TEST_PG="$(bash .ci/pg.sh DIR PORT)"). Idempotent: a cluster already
# running in DIR is reused. Needs Debian's postgresql (initdb, pg_ctl). As root it runs the
# server as the "postgres" user, which PostgreSQL requires.
set -euo pipefail
dir=${1:-/tmp/rocketlite-pg}
port=${2:-25432}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (apt-get install -y postgresql)" >&2; exit 1; }
as=()
if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
if [ "${3:-}" = stop ]; then
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop
  exit
fi
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
if ! "${as[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
  fi
  # Loopback only; the socket in the cluster's directory; enough connections for
  # several nodes and parallel test packages. "bash .ci/pg.sh DIR PORT stop" stops it.
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c fsync=on -c synchronous_commit=on" start >/dev/null
fi
# A cluster that was running already keeps the port it started with.
port=$(sed -n 4p "$dir/data/postmaster.pid")
"$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'rocketlite_test'" | grep -q 1 ||
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres rocketlite_test
"$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d rocketlite_test -Atqc "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_trgm" >/dev/null
echo "postgres://postgres@127.0.0.1:$port/rocketlite_test?sslmode=disable"
