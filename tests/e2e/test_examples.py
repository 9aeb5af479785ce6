"""The runnable examples in examples/, each run as a user would run it (a subprocess told
where the gateway is and whose keys to use by environment variables only) against gateways
started here. Each example checks its own results and exits non-zero when one is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SEALGATE_BIN
from helpers import ACCESS_KEY, REGION, SECRET_KEY, make_cert
from test_replication import DST_REGION, SRC_REGION, dest_config, source_config

EXAMPLES = REPO / "examples"
# `cargo build --release --examples` puts it beside the gateway's binary (scripts/test.sh).
SDK_EXAMPLE = SEALGATE_BIN.parent / "examples" / "sdk_put_get"


def run_example(cmd: list, endpoint: str, cwd: Path, **env) -> str:
    """Runs `cmd` with only the documented variables pointing it at the gateway: no AWS
    config file, so an example works only if it says everything it needs itself."""
    empty = cwd / "empty-aws-config"
    empty.write_text("")
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run_env.update(SEALGATE_ENDPOINT=endpoint, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                   AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty),
                   AWS_EC2_METADATA_DISABLED="true", SEALGATE_BIN=str(SEALGATE_BIN),
                   # The aws CLI of the test environment, for the shell examples.
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", **env)
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=run_env, cwd=cwd, timeout=120)
    assert proc.returncode == 0, (f"{cmd[-1]} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                                  f"stderr:\n{proc.stderr}")
    return proc.stdout


def test_sse_kms_with_a_bucket_policy_demanding_the_key(server, tmp_path):
    out = run_example([sys.executable, EXAMPLES / "sse_kms_bucket_policy.py"], server.endpoint, tmp_path)
    assert "PUT without the key: 403 AccessDenied" in out


def test_sse_c_over_verified_tls(server_factory, tmp_path):
    cert, key = make_cert(tmp_path)
    srv = server_factory("examples-tls", config=f'[tls]\ncert = "{cert}"\nkey = "{key}"\n')
    https = f"https://127.0.0.1:{srv.port}"
    out = run_example([sys.executable, EXAMPLES / "sse_c.py"], https, tmp_path, AWS_CA_BUNDLE=str(cert))
    assert "GET without the key: 400 InvalidRequest" in out


def test_the_official_s3_encryption_client_and_sealgate_cse(server, tmp_path):
    run_example([sys.executable, EXAMPLES / "s3ec_official_client.py"], server.endpoint, tmp_path)


def test_the_aws_sdk_for_rust(server, tmp_path):
    if not SDK_EXAMPLE.is_file():
        pytest.fail(f"{SDK_EXAMPLE} not found: cargo build --release --examples")
    run_example([SDK_EXAMPLE], server.endpoint, tmp_path)


def test_replication_between_two_regions(server_factory, tmp_path):
    dst = server_factory("examples-eu", config=dest_config(), region=DST_REGION)
    src = server_factory("examples-us", config=source_config(dst.endpoint), region=SRC_REGION)
    out = run_example(["bash", EXAMPLES / "replication.sh"], src.endpoint, tmp_path,
                      SEALGATE_REPLICA_ENDPOINT=dst.endpoint, SEALGATE_REPLICA_REGION=DST_REGION)
    assert "replica: REPLICA" in out
