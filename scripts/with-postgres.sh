#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on a free loopback port:
#
#   scripts/with-postgres.sh ctest --test-dir build --output-on-failure
#
# Exports SMARTBY_TEST_POSTGRES_URL (a trust-authenticated superuser "smartby") and
# SMARTBY_TEST_REQUIRE_POSTGRES=1, so store tests fail rather than skip PostgreSQL. The cluster and
# its directory are always removed afterwards; the script exits with the command's exit code.
# Quiet on success; on a start-up failure it prints the server log.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

find_pg_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return; fi
  if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    pg_config --bindir; return
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$d/initdb" ]]; then echo "$d"; return; fi
  done
  echo "with-postgres.sh: no PostgreSQL server found (install postgresql, or set PG_BIN)" >&2
  exit 1
}
PG_BIN="$(find_pg_bin)"

# PostgreSQL refuses to run as root, so as root the server runs as the postgres user.
as_pg() {
  if [[ "$(id -u)" -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A port nothing answers on (bash only: a fresh Debian need not have Python). The start loop
# below retries should another process take it first.
free_port() {
  local port
  while :; do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
}

dir="$(mktemp -d "${TMPDIR:-/tmp}/smartby-pg.XXXXXX")"
chmod 755 "$dir"
if [[ "$(id -u)" -eq 0 ]]; then chown postgres "$dir"; fi
started=0

cleanup() {
  if [[ "$started" -eq 1 ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U smartby -E UTF8 --locale=C.UTF-8 \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }

# A port found free can be taken before the server binds it; try a few.
for attempt in 1 2 3 4 5; do
  port="$(free_port)"
  if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
      -o "-k $dir -h 127.0.0.1 -p $port -c fsync=off -c full_page_writes=off" start \
      >/dev/null 2>&1; then
    started=1
  fi
  # Wait (with a deadline) until it accepts connections, or until it has given up.
  deadline=$((SECONDS + 30))
  ready=0
  while (( SECONDS < deadline )); do
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U smartby -d postgres; then ready=1; break; fi
    if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  if [[ "$ready" -eq 1 ]]; then break; fi
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  started=0
  if [[ "$attempt" -eq 5 ]]; then
    echo "with-postgres.sh: PostgreSQL did not start; server log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
  fi
done

export SMARTBY_TEST_POSTGRES_URL="postgres://smartby@127.0.0.1:${port}/postgres"
export SMARTBY_TEST_REQUIRE_POSTGRES=1

set +e
"$@"
status=$?
set -e
exit "$status"
