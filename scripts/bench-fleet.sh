#!/usr/bin/env bash
# 4 KiB SSE-KMS PUT and GET, in one run, through
#   sqlite   one gateway on its embedded SQLite catalog (the default),
#   pg-1     one gateway on PostgreSQL,
#   pg-2     two gateways on that PostgreSQL, the clients split evenly between them.
# All three keep blobs in one s3s-fs (`cargo install s3s-fs --version 0.14.1 --features
# binary`; path in $S3S_FS), since a fleet needs a blob store its nodes share. PostgreSQL
# syncs its commits (PG_SCRATCH_DURABLE=1) as SQLite does. Clients, gateways, s3s-fs and
# PostgreSQL share the machine's cores. Figures go to BENCHMARKS.md.
#
#   scripts/bench-fleet.sh [SECONDS per run, default 10] [CLIENTS, default 32]
#
# Variations: OPS="put" (or "get"), SSE=none, POOL=N (the nodes' pool_size, default 16),
# PG_DURABLE=0 (a PostgreSQL that does not sync, to see what its commits cost).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-10}"
clients="${2:-32}"
s3s_fs="${S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}"
bin="$repo/target/release/sealgate"
source "$repo/scripts/bench-common.sh"
chmod 755 "$work" # PostgreSQL runs as its own user, in a directory under it
ak=AKIABENCHFLEET000001 sk=bench-fleet-secret
export SEALGATE_ROOT_ACCESS_KEY=$ak SEALGATE_ROOT_SECRET_KEY=$sk

mkdir -p "$work/s3/blobs" "$work/pg"
RUST_LOG=s3s_fs=info "$s3s_fs" --host 127.0.0.1 --port 0 --access-key "$ak" \
    --secret-key "$sk" "$work/s3" >"$work/s3s.log" 2>&1 &
pids+=($!)
s3_port="$(port_from "$work/s3s.log" 'running at http://127.0.0.1:[0-9]+')"

pg_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
pg_admin="$(PG_SCRATCH_DURABLE=${PG_DURABLE:-1} "$repo/scripts/pg-scratch.sh" "$work/pg" "$pg_port" $$)"
psql="$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1 || command -v psql)"
"$psql" -X -q "$pg_admin" -c "CREATE DATABASE fleet"
pg_url="${pg_admin%/postgres}/fleet"

# Starts a gateway named $1 with extra config $2 and prints its port.
gateway() {
    local name=$1 extra=$2
    mkdir -p "$work/$name"
    cat >"$work/$name.toml" <<TOML
$extra
[storage]
backend = "s3"
bucket = "blobs"
prefix = "$3"
endpoint = "http://127.0.0.1:$s3_port"
region = "us-east-1"
allow_http = true
access_key_id = "$ak"
secret_access_key = "$sk"
TOML
    "$bin" serve --config "$work/$name.toml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --data-dir "$work/$name" \
        >"$work/$name.log" 2>&1 &
    pids+=($!)
    port_from "$work/$name.log" 'listening on http://127.0.0.1:[0-9]+'
}

fleet_config() {
    printf '[catalog]\nurl = "%s"\nnode = "%s"\npool_size = %s\n' "$pg_url" "$1" "${POOL:-16}"
}

sqlite_port="$(gateway sqlite "" single)"
a_port="$(gateway a "$(fleet_config a)" fleet)"
cp "$work/a/root.key" "$work/b.root.key"
mkdir -p "$work/b" && mv "$work/b.root.key" "$work/b/root.key" && chmod 600 "$work/b/root.key"
b_port="$(gateway b "$(fleet_config b)" fleet)"

# Runs one bench against port $1 with $2 clients; prints its ops/s.
run() {
    "$bin" bench --endpoint "http://127.0.0.1:$1" --access-key "$ak" --secret-key "$sk" \
        --bucket "fleet-bench" --sse "${SSE:-sse-kms}" --op "$3" --size 4KiB --concurrency "$2" \
        --duration "${secs}s" 2>/dev/null | awk -v op="$3" '$1 == op { print $5 }'
}

printf '%-4s %10s %10s %10s %8s %8s\n' op sqlite pg-1 pg-2 pg-1/sq pg-2/pg-1
for op in ${OPS:-put get}; do
    sync
    single="$(run "$sqlite_port" "$clients" "$op")"
    sync
    one="$(run "$a_port" "$clients" "$op")"
    sync
    run "$a_port" $((clients / 2)) "$op" >"$work/two-a" &
    run "$b_port" $((clients / 2)) "$op" >"$work/two-b"
    wait $!
    two="$(awk '{ s += $1 } END { printf "%.1f", s }' "$work/two-a" "$work/two-b")"
    awk -v op="$op" -v s="$single" -v o="$one" -v t="$two" \
        'BEGIN { printf "%-4s %10s %10s %10s %7.2fx %8.2fx\n", op, s, o, t, o / s, t / o }'
done
