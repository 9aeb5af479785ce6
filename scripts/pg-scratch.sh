#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for tests: a new cluster in DIR (which must exist and be
# empty) on 127.0.0.1:PORT, stopped and removed once process WATCH_PID has exited. Prints
# the URL of its `postgres` superuser. initdb refuses root, so as root the cluster runs as
# the `postgres` user (Debian's postgresql package creates it).
set -euo pipefail
dir=$1 port=$2 watch=$3

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    initdb=$(command -v initdb || true)
    [ -n "$initdb" ] || { echo "pg-scratch: initdb not found (apt-get install postgresql)" >&2; exit 3; }
    bin=$(dirname "$initdb")
fi
as_pg=()
if [ "$(id -u)" = 0 ]; then
    as_pg=(runuser -u postgres --)
    chown postgres "$dir"
fi
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
# Durability is not what the tests measure: fsync off keeps them fast. Benchmarks set
# PG_SCRATCH_DURABLE=1 for a server that syncs its commits, as a production one does.
options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400"
if [ "${PG_SCRATCH_DURABLE:-0}" != 1 ]; then
    options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$options" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
stop="${as_pg[*]} $bin/pg_ctl -D $dir/data -m immediate stop"
nohup sh -c "while [ -d /proc/$watch ]; do sleep 1; done; $stop; rm -rf $dir" >/dev/null 2>&1 &
echo "postgres://postgres@127.0.0.1:$port/postgres"
