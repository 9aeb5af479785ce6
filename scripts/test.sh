#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests, then the end-to-end suite (the real
# binary driven by boto3 and the aws CLI). Works from any directory on a fresh machine that
# has Rust and python3: the Python clients go into .venv on first use.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

venv="$repo/.venv"
requirements="$repo/tests/e2e/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi

cargo build --release
cargo test --all-targets

export SEALGATE_BIN="$repo/target/release/sealgate"
export PYTHONDONTWRITEBYTECODE=1
"$venv/bin/pytest" tests/e2e -q
