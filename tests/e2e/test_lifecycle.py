"""Lifecycle rules as S3 has them: Put/Get/DeleteBucketLifecycleConfiguration through boto3
and the aws CLI, S3's errors for malformed rules, `x-amz-expiration` on writes and reads, and
the worker applying the rules on the gateway's clock (SEALGATE_CLOCK_OFFSET_FILE moves it
days ahead): current versions expire (deleted, or behind a delete marker when versioned),
lone delete markers go, noncurrent versions go after their days (counted from when they
became noncurrent) keeping the newer ones, old multipart uploads are aborted; filters and
rule status hold; a restart keeps the rules and the work; every action is audited."""

from __future__ import annotations

import email.utils
import json
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import SEALGATE_BIN, AwsCli, SealgateServer
from helpers import error_of, unique_bucket

DAY = 86400
# The worker passes every second here.
LIFECYCLE_CONFIG = "[lifecycle]\ninterval_secs = 1\n[storage]\ngc_interval_secs = 1\n"


def clocked(root: Path, name: str, config: str = LIFECYCLE_CONFIG, **kw) -> SealgateServer:
    root.mkdir(parents=True, exist_ok=True)
    offset = root / "clock-offset"
    offset.write_text("0")
    srv = SealgateServer(root, name=name, config=config, env={"SEALGATE_CLOCK_OFFSET_FILE": str(offset)}, **kw)
    srv.clock_file = offset
    return srv


@pytest.fixture(scope="module")
def lc_server(tmp_path_factory):
    srv = clocked(tmp_path_factory.mktemp("lifecycle"), "lifecycle").start()
    yield srv
    srv.kill()


@pytest.fixture
def s3(lc_server):
    return lc_server.client()


@pytest.fixture
def advance(lc_server):
    """advance(days) moves the gateway's clock forward; put back after the test."""
    total = [0.0]

    def move(days: float):
        total[0] += days * DAY
        lc_server.clock_file.write_text(str(total[0]))

    yield move
    lc_server.clock_file.write_text("0")


# `bucket` (conftest) creates a fresh bucket through this module's `s3`.


@pytest.fixture
def versioned(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def eventually(check, timeout: float = 20.0, what: str = "condition"):
    """Polls `check` until it returns a truthy value; fails with its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout}s (last: {got!r})")
        time.sleep(0.2)


def keys(s3, bucket, prefix="") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def versions(s3, bucket, key=None):
    r = s3.list_object_versions(Bucket=bucket, Prefix=key or "")
    vs = [v for v in r.get("Versions", []) if key is None or v["Key"] == key]
    ms = [m for m in r.get("DeleteMarkers", []) if key is None or m["Key"] == key]
    return vs, ms


def put_rules(s3, bucket, *rules):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


def expire_rule(rule_id="expire", days=1, prefix="", status="Enabled", **extra):
    return {"ID": rule_id, "Status": status, "Filter": {"Prefix": prefix}, "Expiration": {"Days": days}, **extra}


def audit_records(srv) -> list[dict]:
    out = []
    for path in sorted((srv.data_dir / "audit").glob("audit-*.log")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def lifecycle_records(srv, bucket: str) -> list[dict]:
    return [r for r in audit_records(srv)
            if r["operation"].startswith("Lifecycle") and (r["key_arn"] or "").startswith(f"arn:aws:s3:::{bucket}/")]


def audit_verify(srv) -> subprocess.CompletedProcess:
    args = [str(SEALGATE_BIN), "audit", "verify", "--data-dir", str(srv.data_dir)]
    if srv.config_path:
        args += ["--config", str(srv.config_path)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def expected_expiry(last_modified: datetime, days: int) -> str:
    """S3's expiry: last modified + days, rounded up to the next midnight UTC, as an HTTP date."""
    t = last_modified.astimezone(timezone.utc) + timedelta(days=days)
    midnight = datetime(t.year, t.month, t.day, tzinfo=timezone.utc) + timedelta(days=1)
    return email.utils.format_datetime(midnight, usegmt=True)


# ---------------------------------------------------------------- the configuration


def test_put_get_and_delete_a_configuration_with_boto3(s3, bucket):
    status, code, _ = error_of(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket))
    assert (status, code) == (404, "NoSuchLifecycleConfiguration")
    rules = [
        expire_rule("logs", days=30, prefix="logs/"),
        {"ID": "old-versions", "Status": "Disabled", "Filter": {"And": {"Prefix": "data/", "Tags": [
            {"Key": "team", "Value": "a"}], "ObjectSizeGreaterThan": 10}},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}},
        {"ID": "uploads", "Status": "Enabled", "Filter": {}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
        {"ID": "markers", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
         "Expiration": {"Date": datetime(2030, 1, 1, tzinfo=timezone.utc)}},
        {"ID": "legacy", "Status": "Enabled", "Prefix": "tmp/", "Expiration": {"ExpiredObjectDeleteMarker": True}},
    ]
    put_rules(s3, bucket, *rules)
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "old-versions", "uploads", "markers", "legacy"]
    assert got[0]["Filter"] == {"Prefix": "logs/"} and got[0]["Expiration"] == {"Days": 30}
    assert got[1]["Status"] == "Disabled"
    assert got[1]["Filter"]["And"] == rules[1]["Filter"]["And"]
    assert got[1]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}
    assert got[2]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    assert got[3]["Expiration"]["Date"] == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert got[4]["Prefix"] == "tmp/" and "Filter" not in got[4]
    # A new configuration replaces the old one whole.
    put_rules(s3, bucket, expire_rule("only", days=1))
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["only"]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    status, code, _ = error_of(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket))
    assert (status, code) == (404, "NoSuchLifecycleConfiguration")
    # A rule without an ID gets one.
    put_rules(s3, bucket, {"Status": "Enabled", "Filter": {}, "Expiration": {"Days": 5}})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["ID"]


def test_the_aws_cli_puts_gets_and_deletes_a_configuration(lc_server, s3, bucket, tmp_path):
    aws = AwsCli(lc_server)
    doc = {"Rules": [{"ID": "cli-rule", "Status": "Enabled", "Filter": {"Prefix": "cli/"},
                      "Expiration": {"Days": 2}, "NoncurrentVersionExpiration": {"NoncurrentDays": 3}}]}
    path = tmp_path / "lifecycle.json"
    path.write_text(json.dumps(doc))
    aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket,
        "--lifecycle-configuration", f"file://{path}")
    got = aws.json("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket)
    assert got["Rules"] == [{"ID": "cli-rule", "Status": "Enabled", "Filter": {"Prefix": "cli/"},
                             "Expiration": {"Days": 2}, "NoncurrentVersionExpiration": {"NoncurrentDays": 3}}]
    # The header through the CLI too.
    body = tmp_path / "body"
    body.write_bytes(b"cli")
    put = aws.json("s3api", "put-object", "--bucket", bucket, "--key", "cli/a", "--body", str(body))
    assert 'rule-id="cli-rule"' in put["Expiration"]
    head = aws.json("s3api", "head-object", "--bucket", bucket, "--key", "cli/a")
    assert head["Expiration"] == put["Expiration"]
    aws("s3api", "delete-bucket-lifecycle", "--bucket", bucket)
    gone = aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket, check=False)
    assert gone.returncode != 0 and "NoSuchLifecycleConfiguration" in gone.stderr_text
    # A refused configuration: the CLI shows S3's code and message.
    path.write_text(json.dumps({"Rules": [{"ID": "t", "Status": "Enabled", "Filter": {},
                                           "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}]}))
    refused = aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket,
                  "--lifecycle-configuration", f"file://{path}", check=False)
    assert refused.returncode != 0
    assert "InvalidRequest" in refused.stderr_text and "one storage class" in refused.stderr_text


MIDNIGHT = datetime(2031, 5, 1, tzinfo=timezone.utc)

MALFORMED = [
    ("days-zero", [expire_rule(days=0)],
     (400, "InvalidArgument", "'Days' for Expiration action must be a positive integer")),
    ("date-not-midnight", [{"ID": "d", "Status": "Enabled", "Filter": {},
                            "Expiration": {"Date": MIDNIGHT + timedelta(hours=5)}}],
     (400, "InvalidArgument", "'Date' must be at midnight GMT")),
    ("marker-with-days", [{"ID": "m", "Status": "Enabled", "Filter": {},
                           "Expiration": {"Days": 3, "ExpiredObjectDeleteMarker": True}}],
     (400, "InvalidArgument",
      "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy.")),
    ("duplicate-ids", [expire_rule("same"), expire_rule("same", prefix="x/")],
     (400, "InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule")),
    ("no-action", [{"ID": "n", "Status": "Enabled", "Filter": {}}],
     (400, "InvalidRequest", "At least one action needs to be specified in a rule")),
    ("tag-with-abort", [{"ID": "t", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
                         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}],
     (400, "InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags.")),
    ("noncurrent-days-zero", [{"ID": "nc", "Status": "Enabled", "Filter": {},
                               "NoncurrentVersionExpiration": {"NoncurrentDays": 0}}],
     (400, "InvalidArgument",
      "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer")),
    ("abort-days-zero", [{"ID": "a", "Status": "Enabled", "Filter": {},
                          "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 0}}],
     (400, "InvalidArgument",
      "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer")),
    ("bad-status", [expire_rule(status="On")], (400, "MalformedXML", None)),
    ("prefix-and-filter", [{**expire_rule(), "Prefix": "x/"}], (400, "MalformedXML", None)),
    ("no-filter", [{"ID": "f", "Status": "Enabled", "Expiration": {"Days": 1}}], (400, "MalformedXML", None)),
    ("too-many-rules", [expire_rule(f"r{i}") for i in range(1001)], (400, "MalformedXML", None)),
    ("id-too-long", [expire_rule("x" * 256)],
     (400, "InvalidArgument", "ID length should not exceed allowed limit of 255")),
    ("noncurrent-transition", [{"ID": "t", "Status": "Enabled", "Filter": {},
                                "NoncurrentVersionTransitions": [{"NoncurrentDays": 30, "StorageClass": "GLACIER"}]}],
     (400, "InvalidRequest",
      "sealgate has one storage class (STANDARD): Transition and NoncurrentVersionTransition actions are not supported")),
]


@pytest.mark.parametrize("rules,expected", [(r, e) for _, r, e in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_configurations_get_s3s_errors(s3, bucket, rules, expected):
    status, code, message = error_of(lambda: put_rules(s3, bucket, *rules))
    assert (status, code) == expected[:2], message
    if expected[2] is not None:
        assert message == expected[2]
    # Nothing of a refused configuration is kept.
    assert error_of(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket))[1] == "NoSuchLifecycleConfiguration"


# ---------------------------------------------------------------- x-amz-expiration


def test_x_amz_expiration_on_put_get_head_copy_and_complete(s3, bucket):
    put_rules(s3, bucket, expire_rule("short", days=3, prefix="tmp/"), expire_rule("long", days=30),
              expire_rule("off", days=1, prefix="tmp/", status="Disabled"))
    put = s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"a")
    head = s3.head_object(Bucket=bucket, Key="tmp/a")
    expected = f'expiry-date="{expected_expiry(head["LastModified"], 3)}", rule-id="short"'
    assert put["Expiration"] == expected
    assert head["Expiration"] == expected
    assert s3.get_object(Bucket=bucket, Key="tmp/a")["Expiration"] == expected
    # Another key: the rule that matches it.
    s3.put_object(Bucket=bucket, Key="keep/b", Body=b"b")
    head_b = s3.head_object(Bucket=bucket, Key="keep/b")
    assert head_b["Expiration"] == f'expiry-date="{expected_expiry(head_b["LastModified"], 30)}", rule-id="long"'
    copy = s3.copy_object(Bucket=bucket, Key="tmp/copy", CopySource={"Bucket": bucket, "Key": "keep/b"})
    head_c = s3.head_object(Bucket=bucket, Key="tmp/copy")
    assert copy["Expiration"] == f'expiry-date="{expected_expiry(head_c["LastModified"], 3)}", rule-id="short"'
    up = s3.create_multipart_upload(Bucket=bucket, Key="tmp/mpu")
    part = s3.upload_part(Bucket=bucket, Key="tmp/mpu", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="tmp/mpu", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    head_m = s3.head_object(Bucket=bucket, Key="tmp/mpu")
    assert done["Expiration"] == f'expiry-date="{expected_expiry(head_m["LastModified"], 3)}", rule-id="short"'
    # No rule, no header.
    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"a")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="tmp/a")


def test_x_amz_expiration_follows_tag_and_size_filters_and_dates(s3, bucket):
    put_rules(s3, bucket,
              {"ID": "tagged", "Status": "Enabled", "Filter": {"Tag": {"Key": "class", "Value": "scratch"}},
               "Expiration": {"Days": 1}},
              {"ID": "dated", "Status": "Enabled", "Filter": {"ObjectSizeGreaterThan": 100},
               "Expiration": {"Date": MIDNIGHT}})
    tagged = s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="class=scratch")
    assert 'rule-id="tagged"' in tagged["Expiration"]
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="u", Body=b"x", Tagging="class=keep")
    big = s3.put_object(Bucket=bucket, Key="big", Body=b"x" * 101)
    assert big["Expiration"] == 'expiry-date="Thu, 01 May 2031 00:00:00 GMT", rule-id="dated"'
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="small", Body=b"x" * 100)
    # Tags changed later change the answer.
    s3.put_object_tagging(Bucket=bucket, Key="u", Tagging={"TagSet": [{"Key": "class", "Value": "scratch"}]})
    assert 'rule-id="tagged"' in s3.head_object(Bucket=bucket, Key="u")["Expiration"]


# ---------------------------------------------------------------- the worker


def test_current_versions_expire_in_an_unversioned_bucket(lc_server, s3, bucket, advance):
    for k in ["tmp/a", "tmp/b", "keep/c"]:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    put_rules(s3, bucket, expire_rule("tmp", days=2, prefix="tmp/"))
    advance(1)
    time.sleep(2.5)
    assert keys(s3, bucket) == ["keep/c", "tmp/a", "tmp/b"], "not due before its days"
    advance(2)
    eventually(lambda: keys(s3, bucket) == ["keep/c"], what="expiration of tmp/")
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="tmp/a"))[0] == 404
    _, markers = versions(s3, bucket)
    assert markers == [], "an unversioned bucket gets no delete markers"
    records = lifecycle_records(lc_server, bucket)
    assert sorted(r["key_arn"] for r in records) == [f"arn:aws:s3:::{bucket}/tmp/a", f"arn:aws:s3:::{bucket}/tmp/b"]
    for r in records:
        assert r["operation"] == "LifecycleExpiration" and r["service"] == "s3"
        assert r["principal"] == "sealgate:lifecycle" and r["result"] == "Success"
        assert r["encryption_context"] == {"rule-id": "tmp"} and r["key_version"] == "null"
    proc = audit_verify(lc_server)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = urllib.request.urlopen(f"{lc_server.admin_endpoint}/metrics", timeout=10).read().decode()
    done = [line for line in metrics.splitlines() if line.startswith(
        'sealgate_lifecycle_actions_total{action="LifecycleExpiration",outcome="done"}')]
    assert done and float(done[0].split()[-1]) >= 2, done


def test_current_versions_in_a_versioned_bucket_get_a_delete_marker(s3, versioned, advance):
    bucket = versioned
    v = s3.put_object(Bucket=bucket, Key="doc", Body=b"kept as noncurrent")["VersionId"]
    put_rules(s3, bucket, expire_rule("doc", days=1))
    advance(2)
    eventually(lambda: versions(s3, bucket, "doc")[1], what="a delete marker")
    vs, markers = versions(s3, bucket, "doc")
    assert len(markers) == 1 and markers[0]["IsLatest"]
    assert [x["VersionId"] for x in vs] == [v] and not vs[0]["IsLatest"]
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="doc"))[0] == 404
    # The data stays, as a noncurrent version.
    assert s3.get_object(Bucket=bucket, Key="doc", VersionId=v)["Body"].read() == b"kept as noncurrent"
    time.sleep(2.5)
    assert len(versions(s3, bucket, "doc")[1]) == 1, "a delete marker is never expired again"


def test_lone_delete_markers_are_removed(s3, versioned, advance):
    bucket = versioned
    v = s3.put_object(Bucket=bucket, Key="lone", Body=b"x")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="lone")
    s3.delete_object(Bucket=bucket, Key="lone", VersionId=v)
    s3.put_object(Bucket=bucket, Key="shadowed", Body=b"y")
    s3.delete_object(Bucket=bucket, Key="shadowed")
    assert len(versions(s3, bucket, "lone")[1]) == 1
    put_rules(s3, bucket, {"ID": "markers", "Status": "Enabled", "Filter": {},
                           "Expiration": {"ExpiredObjectDeleteMarker": True}})
    eventually(lambda: not versions(s3, bucket, "lone")[1], what="removal of the lone marker")
    time.sleep(2.5)
    vs, markers = versions(s3, bucket, "shadowed")
    assert len(vs) == 1 and len(markers) == 1, "a marker over a noncurrent version stays"


def test_noncurrent_versions_expire_after_their_days_keeping_the_newer_ones(s3, versioned, advance):
    bucket = versioned
    ids = [s3.put_object(Bucket=bucket, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(4)]
    old = s3.put_object(Bucket=bucket, Key="late", Body=b"old")["VersionId"]
    put_rules(s3, bucket, {"ID": "nc", "Status": "Enabled", "Filter": {},
                           "NoncurrentVersionExpiration": {"NoncurrentDays": 2, "NewerNoncurrentVersions": 1}})
    advance(5)
    # Overwritten (twice: one noncurrent version is kept) five days after it was written:
    # noncurrent only from now.
    s3.put_object(Bucket=bucket, Key="late", Body=b"newer")
    s3.put_object(Bucket=bucket, Key="late", Body=b"new")
    eventually(lambda: [v["VersionId"] for v in versions(s3, bucket, "k")[0]] == [ids[3], ids[2]],
               what="expiry of the older noncurrent versions")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=ids[2])["Body"].read() == b"v2"
    time.sleep(2.5)
    assert old in [v["VersionId"] for v in versions(s3, bucket, "late")[0]], \
        "NoncurrentDays count from when the version became noncurrent"
    assert len(versions(s3, bucket, "k")[0]) == 2, "the newest noncurrent version is kept"
    advance(3)
    eventually(lambda: old not in [v["VersionId"] for v in versions(s3, bucket, "late")[0]],
               what="expiry of the late noncurrent version")
    assert s3.get_object(Bucket=bucket, Key="late")["Body"].read() == b"new"


def test_incomplete_multipart_uploads_are_aborted(s3, bucket, advance):
    old = s3.create_multipart_upload(Bucket=bucket, Key="up/old")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="up/old", UploadId=old, PartNumber=1, Body=b"part")
    other = s3.create_multipart_upload(Bucket=bucket, Key="other/x")["UploadId"]
    put_rules(s3, bucket, {"ID": "abort", "Status": "Enabled", "Filter": {"Prefix": "up/"},
                           "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}})
    advance(2)
    fresh = s3.create_multipart_upload(Bucket=bucket, Key="up/fresh")["UploadId"]

    def uploads():
        return sorted(u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    eventually(lambda: old not in uploads(), what="abort of the old upload")
    assert uploads() == sorted([other, fresh])
    assert error_of(lambda: s3.list_parts(Bucket=bucket, Key="up/old", UploadId=old))[1] == "NoSuchUpload"


def test_filters_on_tags_and_sizes_choose_what_expires(s3, bucket, advance):
    objects = {
        "f/big-tagged": (b"x" * 50, "team=a"),
        "f/small-tagged": (b"x" * 5, "team=a"),
        "f/big-other": (b"x" * 50, "team=b"),
        "g/big-tagged": (b"x" * 50, "team=a"),
    }
    for k, (body, tags) in objects.items():
        s3.put_object(Bucket=bucket, Key=k, Body=body, Tagging=tags)
    put_rules(s3, bucket, {"ID": "and", "Status": "Enabled", "Filter": {"And": {
        "Prefix": "f/", "Tags": [{"Key": "team", "Value": "a"}], "ObjectSizeGreaterThan": 10}},
        "Expiration": {"Days": 1}})
    advance(2)
    eventually(lambda: "f/big-tagged" not in keys(s3, bucket), what="expiry of the matching object")
    time.sleep(2.5)
    assert keys(s3, bucket) == ["f/big-other", "f/small-tagged", "g/big-tagged"]


def test_a_disabled_rule_does_nothing(s3, bucket, advance):
    s3.put_object(Bucket=bucket, Key="stay", Body=b"x")
    put_rules(s3, bucket, expire_rule("off", days=1, status="Disabled"))
    advance(10)
    time.sleep(3)
    assert keys(s3, bucket) == ["stay"]
    # Enabled, the same rule acts.
    put_rules(s3, bucket, expire_rule("off", days=1))
    eventually(lambda: keys(s3, bucket) == [], what="expiry once enabled")


def test_a_restart_keeps_the_rules_and_a_killed_pass_is_finished_once(tmp_path):
    srv = clocked(tmp_path / "restart", "restart").start()
    try:
        s3 = srv.client()
        bucket = unique_bucket("restart")
        s3.create_bucket(Bucket=bucket)
        n = 600  # several pages of the worker
        for i in range(n):
            s3.put_object(Bucket=bucket, Key=f"k/{i:04d}", Body=b"x")
        put_rules(s3, bucket, expire_rule("all", days=1))
        srv.restart()
        assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["ID"] == "all"
        srv.clock_file.write_text(str(2 * DAY))
        # Killed as soon as the pass has begun.
        eventually(lambda: s3.list_objects_v2(Bucket=bucket).get("KeyCount", n) < n, timeout=20,
                   what="the first expirations")
        srv.kill()
        srv.start()
        s3 = srv.client()
        eventually(lambda: s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0, what="the rest of the pass")
        records = lifecycle_records(srv, bucket)
        arns = [r["key_arn"] for r in records]
        assert len(arns) == len(set(arns)), "no object was expired twice"
        assert len(arns) >= n - 1, "every action recorded (but one cut short by the kill)"
        proc = audit_verify(srv)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        srv.kill()


def test_a_fleet_runs_each_buckets_pass_on_one_node_at_a_time(tmp_path):
    """Two gateways on one PostgreSQL: every bucket's actions are done once, by one node."""
    from test_fleet import Fleet
    offset = tmp_path / "clock-offset"
    offset.write_text("0")
    env = {"SEALGATE_CLOCK_OFFSET_FILE": str(offset)}
    fleet = Fleet(tmp_path, extra_config="[lifecycle]\ninterval_secs = 1\n")
    try:
        nodes = {"a": fleet.node("a", env=env), "b": fleet.node("b", env=env)}
        s3a, s3b = nodes["a"].client(), nodes["b"].client()
        buckets = [unique_bucket(f"fleet-{i}") for i in range(4)]
        n = 30
        for bk in buckets:
            s3a.create_bucket(Bucket=bk)
            s3a.put_bucket_versioning(Bucket=bk, VersioningConfiguration={"Status": "Enabled"})
            for i in range(n):
                s3b.put_object(Bucket=bk, Key=f"k{i:02d}", Body=b"x")
            put_rules(s3a, bk, expire_rule("all", days=1))
        offset.write_text(str(2 * DAY))
        for bk in buckets:
            eventually(lambda: len(versions(s3a, bk)[1]) >= n, timeout=30, what=f"expiry in {bk}")
        time.sleep(3)  # more passes, on both nodes
        for bk in buckets:
            vs, markers = versions(s3b, bk)
            assert len(markers) == n and len(vs) == n, "one delete marker per key: nothing expired twice"
            by_node = {name: len(lifecycle_records(srv, bk)) for name, srv in nodes.items()}
            assert sorted(by_node.values()) == [0, n], f"{bk}: one node did the bucket's pass: {by_node}"
    finally:
        for srv in fleet.nodes.values():
            srv.stop()


def test_a_locked_noncurrent_version_survives_noncurrent_expiration(s3, advance):
    """Object Lock wins over lifecycle: the worker skips a version under retention each pass
    and deletes it once the retention has passed; unlocked ones go as usual."""
    import base64
    import hashlib

    def md5(body: bytes) -> str:
        return base64.b64encode(hashlib.md5(body).digest()).decode()

    bucket = unique_bucket("lifecycle-lock")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = (datetime.now(timezone.utc) + timedelta(days=10)).replace(microsecond=0)
    locked = s3.put_object(Bucket=bucket, Key="record", Body=b"v1", ContentMD5=md5(b"v1"),
                           ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)["VersionId"]
    s3.put_object(Bucket=bucket, Key="record", Body=b"v2", ContentMD5=md5(b"v2"))
    free = s3.put_object(Bucket=bucket, Key="free", Body=b"a")["VersionId"]
    s3.put_object(Bucket=bucket, Key="free", Body=b"b")
    put_rules(s3, bucket, {"ID": "nc", "Status": "Enabled", "Filter": {},
                           "NoncurrentVersionExpiration": {"NoncurrentDays": 1}})
    advance(3)
    eventually(lambda: free not in [v["VersionId"] for v in versions(s3, bucket, "free")[0]],
               what="expiry of the unlocked noncurrent version")
    time.sleep(2.5)  # more passes, each refused by the lock
    assert locked in [v["VersionId"] for v in versions(s3, bucket, "record")[0]]
    assert s3.get_object(Bucket=bucket, Key="record", VersionId=locked)["Body"].read() == b"v1"
    # The retention over, the next pass deletes it.
    advance(10)
    eventually(lambda: locked not in [v["VersionId"] for v in versions(s3, bucket, "record")[0]],
               what="expiry once the retention has passed")
    assert s3.get_object(Bucket=bucket, Key="record")["Body"].read() == b"v2"
