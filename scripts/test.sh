#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests, then the end-to-end suite (the real
# binary driven by boto3 and the aws CLI), then its core again with every blob in an S3
# bucket, then all of it again on a PostgreSQL catalog. Works from any directory on a
# fresh machine that has Rust, python3 and npm: the Python clients and test servers (moto,
# fake-gcs-server) go into .venv and Azurite into .cache/npm on first use. PostgreSQL
# (Debian's postgresql package) is used where installed: the tests start throwaway
# servers of their own; without it the PostgreSQL runs are skipped, unless
# SEALGATE_REQUIRE_POSTGRES=1 (CI) makes that a failure. The console's browser tests need
# Debian's chromium and chromium-driver; likewise skipped without them unless
# SEALGATE_REQUIRE_BROWSER=1.
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

npm_dir="$repo/.cache/npm"
if [[ ! -x "$npm_dir/node_modules/.bin/azurite-blob" ]]; then
    mkdir -p "$npm_dir"
    npm install --prefix "$npm_dir" --no-audit --no-fund --silent azurite@3.37.0
fi
# The storage backends' conformance tests start these servers through tests/backends.py,
# and must not skip any.
export SEALGATE_TEST_PYTHON="$venv/bin/python" SEALGATE_REQUIRE_BACKENDS=1
export AZURITE_BLOB="$npm_dir/node_modules/.bin/azurite-blob"

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then
    export SEALGATE_REQUIRE_POSTGRES=1
fi
postgres="${SEALGATE_REQUIRE_POSTGRES:-0}"

# The examples too: tests/e2e/test_examples.py runs them.
cargo build --release --bins --examples
cargo test --all-targets

export SEALGATE_BIN="$repo/target/release/sealgate"
export PYTHONDONTWRITEBYTECODE=1
"$venv/bin/pytest" tests/e2e -q
# The core again, with every gateway's blobs in an S3 bucket (moto) instead of local disk.
SEALGATE_E2E_BACKEND=s3 "$venv/bin/pytest" -q \
    tests/e2e/test_objects.py tests/e2e/test_multipart.py tests/e2e/test_copy.py \
    tests/e2e/test_ranges.py tests/e2e/test_sse_kms.py tests/e2e/test_sse_c.py \
    tests/e2e/test_versioning.py tests/e2e/test_checksums.py tests/e2e/test_at_rest.py
if [[ "$postgres" == 1 ]]; then
    # Everything again with every gateway's catalog in PostgreSQL (the fleet tests already
    # ran: they make their own databases).
    # The console's browser tests already ran; its pages read the catalog through the
    # same services.
    SEALGATE_E2E_CATALOG=postgres "$venv/bin/pytest" tests/e2e -q --ignore=tests/e2e/test_fleet.py \
        --ignore=tests/e2e/test_fleet_changes.py --ignore=tests/e2e/test_console.py
else
    echo "PostgreSQL is not installed (apt-get install postgresql): skipped its tests" >&2
fi
