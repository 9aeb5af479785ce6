"""What an operator gets: Prometheus metrics and health checks on the admin listener, a
request id on every answer (headers and error bodies) that the access log carries too, one
access-log line per request with the fields an investigation needs and no secrets, client
errors that are not logged as errors, JSON logs, and a start-up that says what it does."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import SealgateServer
from helpers import SECRET_KEY, unique_bucket
from test_iam import client

# Every metric the README's monitoring section lists.
METRICS = [
    "sealgate_requests_total", "sealgate_request_duration_seconds_bucket", "sealgate_bytes_received_total",
    "sealgate_bytes_sent_total", "sealgate_kms_operations_total", "sealgate_bucket_key_cache_hits_total",
    "sealgate_catalog_commit_batch_size_bucket", "sealgate_catalog_commit_duration_seconds_bucket",
    "sealgate_gc_pending_blobs", "sealgate_replication_backlog_versions", "sealgate_replication_failures_total",
    "sealgate_replication_lag_seconds", "sealgate_audit_append_duration_seconds_bucket",
    "sealgate_open_connections", "sealgate_build_info",
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = SealgateServer(tmp_path_factory.mktemp("operate"), name="operate",
                       config="[s3]\nallow_sse_c_over_http = true\n").start()
    yield s
    s.stop()


def scrape(srv) -> dict[str, float]:
    r = requests.get(f"{srv.admin_endpoint}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")
    samples = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def sample(samples: dict[str, float], name: str, **labels) -> float:
    """The value of the series `name` whose labels include `labels`; 0 when there is none."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    found = [v for k, v in samples.items()
             if k.split("{")[0] == name and all(w in k for w in want)]
    return sum(found)


def access_lines(srv) -> list[str]:
    return [line for line in srv.log_text().splitlines() if "sealgate::access" in line]


def access_line(srv, request_id: str) -> dict[str, str]:
    """The fields of the access-log line of `request_id` (text format: key=value). The line
    is written once the response has gone out, so a client may see the answer first."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in access_lines(srv) if f"request_id={request_id}" in line]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == 1, f"expected one access line for {request_id}, got {lines}"
    return dict(re.findall(r'(\w+)=("[^"]*"|\S+)', lines[0].split("request ", 1)[1]))


def audit_records(srv) -> list[dict]:
    return [json.loads(line) for f in sorted((srv.data_dir / "audit").glob("*.log"))
            for line in f.read_text().splitlines() if line.strip()]


def test_metrics_count_requests_bytes_and_kms_use(srv):
    s3 = srv.client()
    kms = client(srv, "kms")
    b = unique_bucket("metrics")
    s3.create_bucket(Bucket=b)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    before = scrape(srv)
    body = os.urandom(10_000)
    s3.put_object(Bucket=b, Key="k", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == body
    with pytest.raises(ClientError):
        s3.get_object(Bucket=b, Key="missing")
    kms.describe_key(KeyId=key_id)
    after = scrape(srv)
    for name in METRICS:
        assert any(k.split("{")[0] == name for k in after), f"{name} not exposed"

    def grew(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("sealgate_requests_total", api="s3", operation="PutObject", status="200") == 1
    assert grew("sealgate_requests_total", api="s3", operation="GetObject", status="200") == 1
    assert grew("sealgate_requests_total", api="s3", operation="GetObject", status="404") == 1
    assert grew("sealgate_requests_total", api="kms", operation="DescribeKey", status="200") == 1
    assert grew("sealgate_request_duration_seconds_count", api="s3", operation="PutObject") == 1
    assert grew("sealgate_bytes_received_total") >= len(body)
    assert grew("sealgate_bytes_sent_total") >= len(body)
    # The PUT asked KMS for a data key and the GET for its decryption, as the object service.
    assert grew("sealgate_kms_operations_total", operation="GenerateDataKey", caller_service="s3",
                result="Success") == 1
    assert grew("sealgate_kms_operations_total", operation="Decrypt", caller_service="s3", result="Success") == 1
    assert grew("sealgate_kms_operations_total", operation="DescribeKey", caller_service="kms") == 1
    assert grew("sealgate_catalog_commit_batch_size_count") >= 1
    assert grew("sealgate_audit_append_duration_seconds_count") >= 3
    assert sample(after, "sealgate_open_connections") >= 1
    assert sample(after, "sealgate_build_info") == 1


def test_health_live_and_ready(srv):
    live = requests.get(f"{srv.admin_endpoint}/health/live", timeout=10)
    ready = requests.get(f"{srv.admin_endpoint}/health/ready", timeout=10)
    assert (live.status_code, ready.status_code) == (200, 200), ready.text
    assert requests.get(f"{srv.admin_endpoint}/nothing", timeout=10).status_code == 404
    # The admin endpoints are not on the S3 port.
    assert requests.get(f"{srv.endpoint}/health/ready", timeout=10).status_code != 200


def test_not_ready_names_the_dependency_that_fails(tmp_path):
    srv = SealgateServer(tmp_path / "srv", config='[storage]\nbackend = "local"\n').start()
    try:
        assert requests.get(f"{srv.admin_endpoint}/health/ready", timeout=10).status_code == 200
        # The blob directory becomes unreadable: a file where the directory was.
        shutil.rmtree(srv.blob_dir)
        srv.blob_dir.write_bytes(b"not a directory")
        r = requests.get(f"{srv.admin_endpoint}/health/ready", timeout=10)
        assert r.status_code == 503 and "blob store" in r.text, r.text
        assert requests.get(f"{srv.admin_endpoint}/health/live", timeout=10).status_code == 200
        srv.blob_dir.unlink()
        srv.blob_dir.mkdir()
        assert requests.get(f"{srv.admin_endpoint}/health/ready", timeout=10).status_code == 200
    finally:
        srv.kill()


def test_every_answer_carries_a_request_id_also_in_error_bodies(srv):
    s3 = srv.client()
    ok = s3.list_buckets()["ResponseMetadata"]
    assert re.fullmatch(r"[0-9A-F]{16}", ok["RequestId"]) and ok["HostId"]
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=unique_bucket("absent"))
    r = requests.get(f"{srv.endpoint}/{unique_bucket('absent')}/k", timeout=10)
    assert r.status_code == 403
    assert f"<RequestId>{r.headers['x-amz-request-id']}</RequestId>" in r.text
    assert f"<HostId>{r.headers['x-amz-id-2']}</HostId>" in r.text
    assert e.value.response["ResponseMetadata"]["RequestId"]
    kms = client(srv, "kms")
    meta = kms.list_keys()["ResponseMetadata"]
    assert meta["RequestId"] == meta["HTTPHeaders"]["x-amz-request-id"]
    with pytest.raises(ClientError) as e:
        client(srv, "iam").get_user(UserName="nobody-here")
    meta = e.value.response["ResponseMetadata"]
    assert meta["RequestId"] == meta["HTTPHeaders"]["x-amz-request-id"]


def test_access_log_has_one_line_per_request_with_its_fields(srv):
    s3 = srv.client()
    kms = client(srv, "kms")
    key = kms.create_key()["KeyMetadata"]
    b = unique_bucket("access")
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    body = os.urandom(4321)
    put = s3.put_object(Bucket=b, Key="dir/obj", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    got = s3.get_object(Bucket=b, Key="dir/obj")
    assert got["Body"].read() == body
    line = access_line(srv, put["ResponseMetadata"]["RequestId"])
    assert line["principal"] == "arn:aws:iam::000000000000:root"
    assert line["source_ip"] == "127.0.0.1"
    assert (line["api"], line["operation"], line["method"]) == ("s3", "PutObject", "PUT")
    assert (line["bucket"], line["key"], line["version_id"]) == (b, "dir/obj", put["VersionId"])
    assert (line["status"], line["error"], line["bytes_in"]) == ("200", "-", str(len(body)))
    assert (line["sse"], line["kms_key"]) == ("SSE-KMS", key["Arn"])
    assert float(line["duration_ms"]) > 0
    line = access_line(srv, got["ResponseMetadata"]["RequestId"])
    assert (line["operation"], line["bytes_out"], line["complete"]) == ("GetObject", str(len(body)), "true")
    # The KMS uses the object service made for them are audited under the same ids.
    audited = {(r["request_id"], r["operation"]) for r in audit_records(srv)}
    assert (put["ResponseMetadata"]["RequestId"], "GenerateDataKey") in audited
    assert (got["ResponseMetadata"]["RequestId"], "Decrypt") in audited
    # An error names its code; a KMS call its key.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="missing")
    line = access_line(srv, e.value.response["ResponseMetadata"]["RequestId"])
    assert (line["status"], line["error"]) == ("404", "NoSuchKey")
    meta = kms.describe_key(KeyId=key["KeyId"])["ResponseMetadata"]
    line = access_line(srv, meta["RequestId"])
    assert (line["api"], line["operation"], line["kms_key"]) == ("kms", "DescribeKey", key["Arn"])


def test_no_key_or_secret_reaches_the_log(srv):
    s3 = srv.client()
    b = unique_bucket("secrets")
    s3.create_bucket(Bucket=b)
    customer_key = os.urandom(32)
    s3.put_object(Bucket=b, Key="c", Body=b"sse-c", SSECustomerAlgorithm="AES256", SSECustomerKey=customer_key)
    r = s3.get_object(Bucket=b, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=customer_key)
    assert access_line(srv, r["ResponseMetadata"]["RequestId"])["sse"] == "SSE-C"
    log = srv.log_text()
    for secret in (base64.b64encode(customer_key).decode(), customer_key.hex(), SECRET_KEY):
        assert secret not in log


def test_client_errors_are_not_logged_as_errors(srv):
    mark = len(srv.log_text())
    for path in ("/", "/no-such-bucket", "/no-such-bucket/key?versionId=x"):
        assert requests.get(f"{srv.endpoint}{path}", timeout=10).status_code in (400, 403)
    bad = srv.client(secret_key="wrong-secret")
    with pytest.raises(ClientError):
        bad.list_buckets()
    with pytest.raises(ClientError):
        srv.client().get_object(Bucket=unique_bucket("none"), Key="k")
    new = srv.log_text()[mark:]
    assert " ERROR " not in new and "ERROR" not in new, new
    assert len([line for line in new.splitlines() if "sealgate::access" in line]) >= 5


def test_json_logs_are_one_object_per_line(tmp_path):
    srv = SealgateServer(tmp_path / "srv", config='[log]\nformat = "json"\n').start()
    try:
        s3 = srv.client()
        b = unique_bucket("json")
        s3.create_bucket(Bucket=b)
        put = s3.put_object(Bucket=b, Key="k", Body=b"x")
    finally:
        srv.stop()
    records = []
    for line in srv.log_text().splitlines():
        if line.startswith("===") or not line.strip():
            continue
        records.append(json.loads(line))
    access = [r for r in records if r.get("target") == "sealgate::access"
              and r.get("request_id") == put["ResponseMetadata"]["RequestId"]]
    assert len(access) == 1
    assert access[0]["operation"] == "PutObject" and access[0]["status"] == 200
    assert any("sealgate listening on" in r.get("message", "") for r in records)


def test_start_up_says_what_it_is_doing(tmp_path):
    srv = SealgateServer(tmp_path / "srv").start()
    srv.stop()
    log = srv.log_text()
    # The log records only: the plain lines printed to stdout land among them in any order.
    records = [line for line in log.splitlines() if " INFO sealgate::" in line]
    steps = ["checking the storage backend", "opening the audit trail", "opening the key service",
             "marking blobs of writes interrupted", "sealgate admin endpoints on", "sealgate listening on"]
    positions = [next((i for i, r in enumerate(records) if step in r), -1) for step in steps]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), log


def test_access_log_can_be_turned_off(tmp_path):
    srv = SealgateServer(tmp_path / "srv", config="[log]\naccess = false\n").start()
    try:
        srv.client().list_buckets()
    finally:
        srv.stop()
    assert not access_lines(srv)


def test_admin_listener_can_be_disabled(tmp_path):
    srv = SealgateServer(tmp_path / "srv", config="[admin]\nenabled = false\n").start()
    try:
        assert srv.admin_port is None
        srv.client().list_buckets()
    finally:
        srv.stop()


def test_iam_principals_are_logged(srv):
    iam = client(srv, "iam")
    iam.create_user(UserName="logged-user")
    keys = iam.create_access_key(UserName="logged-user")["AccessKey"]
    user_s3 = srv.client(access_key=keys["AccessKeyId"], secret_key=keys["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        user_s3.list_buckets()
    line = access_line(srv, e.value.response["ResponseMetadata"]["RequestId"])
    assert line["principal"] == "arn:aws:iam::000000000000:user/logged-user"
    assert (line["status"], line["error"]) == ("403", "AccessDenied")
    assert keys["SecretAccessKey"] not in srv.log_text()
