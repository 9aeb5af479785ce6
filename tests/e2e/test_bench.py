"""`sealgate bench`, the load generator, run against the real gateway: every operation and
SSE mode completes without errors and reports sane figures; SSE-KMS, which the gateway
refuses with 501, is reported as errors and makes the command exit 1 after writing the
report; set-up failures (bad credentials, untrusted TLS) stop it with a clear message."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import SEALGATE_BIN
from helpers import ACCESS_KEY, KiB, SECRET_KEY, SSE_C_OVER_HTTP_CONFIG, unique_bucket
from kms_helpers import kms_client

COUNT = 200


def run_bench(endpoint: str, tmp_path, *args, secret_key: str = SECRET_KEY) -> tuple[subprocess.CompletedProcess, dict | None]:
    """Runs `sealgate bench` with --json; returns the process and the JSON report, if written."""
    out = tmp_path / f"report-{len(list(tmp_path.glob('report-*.json')))}.json"
    cmd = [str(SEALGATE_BIN), "bench", "--endpoint", endpoint, "--access-key", ACCESS_KEY,
           "--secret-key", secret_key, "--json", str(out), *[str(a) for a in args]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    report = json.loads(out.read_text()) if out.exists() else None
    return proc, report


def assert_clean(proc, report, *, op: str, count: int, size: int, sse: str):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert report is not None
    assert (report["op"], report["object_size"], report["sse"]) == (op, size, sse)
    total = report["total"]
    assert total["errors"] == 0, total["errors_by_status"]
    assert total["ops"] == count
    assert total["bytes"] == count * size
    assert total["ops_per_s"] > 0 and total["mib_per_s"] > 0
    lat = total["latency_ms"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat
    assert lat["max"] < 10_000, lat
    # The text report carries the same figures.
    assert f"{op if op != 'mixed' else 'total'} " in proc.stdout
    assert str(total["ops"]) in proc.stdout


@pytest.mark.parametrize("op", ["put", "get", "mixed"])
def test_ops_with_sse_s3(server_factory, tmp_path, op):
    srv = server_factory("bench")
    bucket = unique_bucket(f"bench-{op}")
    proc, report = run_bench(srv.endpoint, tmp_path, "--bucket", bucket, "--op", op, "--size", "16KiB",
                             "--concurrency", 4, "--count", COUNT, "--sse", "sse-s3", "--verify")
    assert_clean(proc, report, op=op, count=COUNT, size=16 * KiB, sse="sse-s3")
    by_op = report["by_op"]
    if op == "mixed":
        assert by_op["put"]["ops"] == COUNT // 2 and by_op["get"]["ops"] == COUNT // 2
    else:
        assert list(by_op) == [op]
    # The bucket was created by the run, and its objects removed after it.
    s3 = srv.client()
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_duration_bounds_the_run(server_factory, tmp_path):
    srv = server_factory("bench")
    proc, report = run_bench(srv.endpoint, tmp_path, "--op", "put", "--size", "4KiB", "--concurrency", 2,
                             "--duration", "1s")
    assert proc.returncode == 0, proc.stderr
    assert report["total"]["errors"] == 0
    assert report["total"]["ops"] > 0
    assert 1.0 <= report["elapsed_s"] < 5.0


def test_sse_c_over_http_where_allowed(server_factory, tmp_path):
    srv = server_factory("bench-ssec", config=SSE_C_OVER_HTTP_CONFIG)
    proc, report = run_bench(srv.endpoint, tmp_path, "--op", "mixed", "--size", "100KiB", "--concurrency", 4,
                             "--count", COUNT, "--sse", "sse-c", "--verify")
    assert_clean(proc, report, op="mixed", count=COUNT, size=100 * KiB, sse="sse-c")


def test_sse_c_over_tls_needs_trust(server_factory, tmp_path):
    srv = server_factory("bench-tls", tls=True)
    proc, report = run_bench(srv.endpoint, tmp_path, "--op", "get", "--count", 20, "--sse", "sse-c")
    assert proc.returncode != 0 and report is None
    assert "--insecure" in proc.stderr

    proc, report = run_bench(srv.endpoint, tmp_path, "--insecure", "--op", "mixed", "--size", "4KiB",
                             "--count", 100, "--sse", "sse-c", "--verify")
    assert_clean(proc, report, op="mixed", count=100, size=4 * KiB, sse="sse-c")


def test_sse_kms_failures_are_reported_and_fail_the_run(server_factory, tmp_path):
    srv = server_factory("bench")
    proc, report = run_bench(srv.endpoint, tmp_path, "--op", "put", "--size", "4KiB", "--concurrency", 2,
                             "--count", 50, "--sse", "sse-kms", "--kms-key-id", "alias/bench")
    assert proc.returncode == 1, proc.stderr
    assert report is not None, "the report is written even when operations failed"
    total = report["total"]
    assert total["ops"] == 0
    assert total["errors"] == 50
    assert total["errors_by_status"] == {"400": 50}
    assert total["error_samples"]["400"].startswith("KMS.NotFoundException")
    assert "400" in proc.stdout
    assert "50 of 50 operations failed" in proc.stderr

    # GET needs objects to read; when uploading them fails, the run stops before measuring.
    proc, report = run_bench(srv.endpoint, tmp_path, "--op", "get", "--count", 10, "--sse", "sse-kms",
                             "--kms-key-id", "alias/bench")
    assert proc.returncode == 1 and report is None
    assert "400" in proc.stderr and "KMS.NotFoundException" in proc.stderr

    # Under the account's AWS managed key the same runs succeed.
    for op in ["put", "get"]:
        proc, report = run_bench(srv.endpoint, tmp_path, "--op", op, "--size", "4KiB", "--concurrency", 2,
                                 "--count", 20, "--sse", "sse-kms")
        assert proc.returncode == 0, proc.stderr
        assert report["total"]["ops"] == 20 and report["total"]["errors"] == 0


def test_wrong_secret_key_stops_before_the_run(server_factory, tmp_path):
    srv = server_factory("bench")
    proc, report = run_bench(srv.endpoint, tmp_path, "--count", 10, secret_key="not-the-secret")
    assert proc.returncode == 1 and report is None
    assert "403" in proc.stderr


def test_populate_keeps_a_data_set_that_list_and_head_runs_use(server_factory, tmp_path):
    srv = server_factory("bench-scale")
    s3 = srv.client()
    bucket = unique_bucket("bench-scale")
    proc, report = run_bench(srv.endpoint, tmp_path, "--bucket", bucket, "--op", "populate",
                             "--count", 120, "--fanout", 12, "--prefix", "data/", "--size", 0,
                             "--concurrency", 4)
    assert proc.returncode == 0, proc.stderr
    assert (report["total"]["ops"], report["total"]["errors"]) == (120, 0)
    # Kept, spread over the directories.
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="data/", Delimiter="/")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == [f"data/d{i:05}/" for i in range(12)]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="data/d00003/")["KeyCount"] == 10
    # Pages of 1,000 with and without a delimiter, and of versions: every page is one op.
    for extra in ([], ["--delimiter", "/"]):
        for op in ("list", "list-versions"):
            proc, report = run_bench(srv.endpoint, tmp_path, "--bucket", bucket, "--op", op,
                                     "--prefix", "data/", "--count", 20, "--concurrency", 2, *extra)
            assert proc.returncode == 0, proc.stderr
            assert list(report["by_op"]) == ["list"]
            assert (report["total"]["ops"], report["total"]["errors"]) == (20, 0)
            assert report["total"]["bytes"] > 20 * 500
    proc, report = run_bench(srv.endpoint, tmp_path, "--bucket", bucket, "--op", "head",
                             "--prefix", "probe/", "--size", "1KiB", "--count", 50)
    assert proc.returncode == 0, proc.stderr
    assert list(report["by_op"]) == ["head"] and report["total"]["errors"] == 0
    # A head run deletes its own objects; the populated set stays.
    assert s3.list_objects_v2(Bucket=bucket, Prefix="probe/")["KeyCount"] == 0
    assert s3.list_objects_v2(Bucket=bucket, Prefix="data/")["KeyCount"] == 120
    proc, _ = run_bench(srv.endpoint, tmp_path, "--bucket", bucket, "--op", "populate")
    assert proc.returncode == 1 and "--count" in proc.stderr


def test_server_cpu_is_reported_per_op_and_per_gib(server_factory, tmp_path):
    srv = server_factory("bench-cpu")
    proc, report = run_bench(srv.endpoint, tmp_path, "--op", "put", "--size", "1MiB", "--count", 40,
                             "--server-pid", srv.proc.pid)
    assert proc.returncode == 0, proc.stderr
    cpu = report["server_cpu"]
    assert cpu["pid"] == srv.proc.pid
    # 40 MiB sealed and written cost some CPU time, and the figures agree with each other.
    assert cpu["user_s"] + cpu["system_s"] > 0
    assert cpu["us_per_op"] == pytest.approx((cpu["user_s"] + cpu["system_s"]) * 1e6 / 40)
    assert cpu["s_per_gib"] == pytest.approx((cpu["user_s"] + cpu["system_s"]) * 1024 / 40)
    assert cpu["user_us_per_op"] <= cpu["us_per_op"]
    assert f"server cpu (pid {srv.proc.pid})" in proc.stdout
    proc, report = run_bench(srv.endpoint, tmp_path, "--count", 1, "--server-pid", 999_999_999)
    assert proc.returncode == 1 and "/proc/999999999/stat" in proc.stderr


@pytest.mark.parametrize("op", ["kms-generate-data-key", "kms-decrypt"])
def test_kms_operations(server_factory, tmp_path, op):
    srv = server_factory("bench-kms")
    proc, report = run_bench(srv.endpoint, tmp_path, "--op", op, "--concurrency", 4, "--count", COUNT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    total = report["total"]
    assert (total["ops"], total["errors"]) == (COUNT, 0)
    assert list(report["by_op"]) == ["kms"]
    assert total["ops_per_s"] > 0
    # The run's own key is scheduled for deletion afterwards, not left behind enabled.
    kms = kms_client(srv.endpoint)
    states = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for k in kms.list_keys()["Keys"]]
    assert states == ["PendingDeletion"]


def test_progress_shows_on_a_terminal_and_not_when_piped(server_factory, tmp_path):
    import pty
    srv = server_factory("bench-progress")
    args = [str(SEALGATE_BIN), "bench", "--endpoint", srv.endpoint, "--access-key", ACCESS_KEY, "--secret-key",
            SECRET_KEY, "--bucket", unique_bucket("progress"), "--op", "put", "--size", "4KiB", "--concurrency", "2",
            "--duration", "1s"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    piped = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "\x1b[" not in piped.stderr, piped.stderr
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(args, stdin=secondary, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    assert proc.wait(timeout=60) == 0
    os.close(primary)
    # The progress line is drawn (and redrawn in place), then cleared before the report.
    assert b"put" in shown and b"/s" in shown and b"\x1b[" in shown, shown[-2000:]
    assert b"ops/s" in shown or b"total" in shown, shown[-2000:]
