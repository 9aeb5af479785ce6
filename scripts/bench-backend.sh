#!/usr/bin/env bash
# sealgate (SSE-KMS) in front of an S3 server, against the same load generator talking to
# that server directly, in one run: large and 4 KiB PUT and GET. The S3 server is s3s-fs
# (`cargo install s3s-fs --version 0.14.1 --features binary`; path in $S3S_FS), on local
# disk, so both sides pay the same disk. Figures go to BENCHMARKS.md.
#
#   scripts/bench-backend.sh [SECONDS per run, default 10]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-10}"
s3s_fs="${S3S_FS:-$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")}"
bin="$repo/target/release/sealgate"
source "$repo/scripts/bench-common.sh"
ak=AKIABENCHBACKEND0001 sk=bench-backend-secret

mkdir -p "$work/s3/blobs" "$work/s3/direct"
RUST_LOG=s3s_fs=info "$s3s_fs" --host 127.0.0.1 --port 0 --access-key "$ak" --secret-key "$sk" \
    "$work/s3" >"$work/s3s.log" 2>&1 &
pids+=($!)
s3_port="$(port_from "$work/s3s.log" 'running at http://127.0.0.1:[0-9]+')"

cat >"$work/sealgate.toml" <<TOML
[storage]
backend = "s3"
bucket = "blobs"
prefix = "bench"
endpoint = "http://127.0.0.1:$s3_port"
region = "us-east-1"
allow_http = true
access_key_id = "$ak"
secret_access_key = "$sk"
part_size_mib = ${PART_MIB:-8}
TOML
SEALGATE_ROOT_ACCESS_KEY=$ak SEALGATE_ROOT_SECRET_KEY=$sk "$bin" serve --config "$work/sealgate.toml" \
    --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --data-dir "$work/gw" >"$work/gw.log" 2>&1 &
pids+=($!)
gw_port="$(port_from "$work/gw.log" 'listening on http://127.0.0.1:[0-9]+')"

run() { # endpoint bucket sse op size concurrency
    "$bin" bench --endpoint "$1" --access-key "$ak" --secret-key "$sk" --bucket "$2" --sse "$3" \
        --op "$4" --size "$5" --concurrency "$6" --duration "${secs}s" 2>/dev/null |
        awk -v op="$4" '$1 == op { print $4, $5 }'
}

printf '%-10s %-6s %14s %14s %8s\n' op size "direct MiB/s" "sealgate MiB/s" ratio
for case in "put 64MiB 4" "get 64MiB 4" "put 4KiB 32" "get 4KiB 32"; do
    read -r op size conc <<<"$case"
    sync
    read -r d_mib d_ops <<<"$(run "http://127.0.0.1:$s3_port" direct none "$op" "$size" "$conc")"
    sync
    read -r g_mib g_ops <<<"$(run "http://127.0.0.1:$gw_port" sealgate-bench sse-kms "$op" "$size" "$conc")"
    ratio="$(awk -v g="$g_mib" -v d="$d_mib" 'BEGIN { printf "%.2f", g / d }')"
    printf '%-10s %-6s %8s (%6s ops/s) %8s (%6s ops/s) %6sx\n' "$op" "$size" "$d_mib" "$d_ops" "$g_mib" "$g_ops" "$ratio"
done
echo "gateway peak RSS: $(grep VmHWM /proc/"${pids[1]}"/status | awk '{ print $2 / 1024 " MiB" }')"
