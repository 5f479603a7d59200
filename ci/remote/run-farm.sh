#!/usr/bin/env bash
# A build farm on 127.0.0.1: PostgreSQL, BuildGrid (REAPI + Remote Workers API) and N `ppm worker`s.
#
#   ci/remote/run-farm.sh [--workers N] [--jobs J] [--toolchain NAME]... [--port P] [--dir DIR]
#
# DIR (default: a new /tmp/ppm-farm.*) must be reachable by the postgres user. --toolchain
# (repeatable) is passed to the workers: they offer only those toolchains (see docs/remote.md).
# Prints "ready: grpc://127.0.0.1:P" once every worker is connected, then serves until
# SIGTERM/SIGINT, when it stops the workers (they say BOT_TERMINATING), BuildGrid and
# PostgreSQL, in that order. Needs what .ci/needs-remote.sh installs (BuildGrid in
# $PPM_BUILDGRID_VENV, default /opt/ppm-buildgrid; Debian's PostgreSQL 15) and ppm on PATH
# (or PPM=/path/to/ppm). Runs as root or as a user that may `su postgres`.
set -euo pipefail

workers=2 jobs=1 port=50051 dir="" offer=()
while (($#)); do
  case "$1" in
    --workers) workers=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --toolchain) offer+=(--toolchain "$2"); shift 2 ;;
    --port) port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run-farm.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
venv=${PPM_BUILDGRID_VENV:-/opt/ppm-buildgrid}
pgbin=${PPM_PG_BIN:-/usr/lib/postgresql/15/bin}
ppm=${PPM:-ppm}
[ -x "$venv/bin/bgd" ] || { echo "run-farm.sh: BuildGrid not found in $venv (run .ci/needs-remote.sh)" >&2; exit 1; }
[ -x "$pgbin/initdb" ] || { echo "run-farm.sh: PostgreSQL not found in $pgbin (apt-get install postgresql)" >&2; exit 1; }
dir=${dir:-$(mktemp -d /tmp/ppm-farm.XXXXXX)}
mkdir -p "$dir"
chmod 755 "$dir"
pgport=$((port + 1))
pids=()

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi
}

stop() {
  trap - TERM INT EXIT
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  as_postgres "$pgbin/pg_ctl -D '$dir/pg' -m fast stop >/dev/null 2>&1" || true
  echo "stopped"
}
trap stop TERM INT EXIT

# PostgreSQL: BuildGrid's scheduler state (SQLite is refused for execution).
if [ ! -d "$dir/pg" ]; then
  mkdir -p "$dir/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir/pg"; fi
  as_postgres "$pgbin/initdb -D '$dir/pg' -A trust -U postgres >/dev/null"
fi
as_postgres "$pgbin/pg_ctl -D '$dir/pg' -l '$dir/pg/server.log' -w -o '-p $pgport -k /tmp -c listen_addresses=127.0.0.1' start >/dev/null"
as_postgres "$pgbin/createdb -h 127.0.0.1 -p $pgport -U postgres bgd 2>/dev/null" || true
sql="postgresql+psycopg2://postgres@127.0.0.1:$pgport/bgd"
"$venv/bin/bgd" migrate apply "$sql" >"$dir/migrate.log" 2>&1

# BuildGrid, from the deployment config with this farm's address, store and database.
sed -e "s|@LISTEN@|127.0.0.1:$port|" -e "s|@STORE@|$dir|" -e "s|@SQL@|$sql|" "$here/bgd-execution.yml" >"$dir/bgd.yml"
"$venv/bin/bgd" server start "$dir/bgd.yml" >"$dir/bgd.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { tail -20 "$dir/bgd.log" >&2; exit 1; }
  sleep 0.1
done

url="grpc://127.0.0.1:$port"
for ((i = 0; i < workers; i++)); do
  PPM_CACHE_DIR=${PPM_CACHE_DIR:-$dir/worker-cache} "$ppm" worker --server "$url" --jobs "$jobs" \
    ${offer[@]+"${offer[@]}"} --work-dir "$dir/worker$i" >"$dir/worker$i.log" 2>&1 &
  pids+=($!)
done
for ((i = 0; i < workers; i++)); do
  for _ in $(seq 600); do
    grep -q "connected to" "$dir/worker$i.log" 2>/dev/null && break
    sleep 0.1
  done
done
echo "ready: $url (state and logs in $dir)"
wait "${pids[0]}"
