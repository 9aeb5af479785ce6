"""Bucket replication between two gateways on loopback, each serving its own region with its
own KMS keys: objects written in us-east-1 arrive in eu-west-1 re-encrypted under the
destination's replica key, through outages, restarts and kill -9 of the source."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import threading
import time
import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import SEALGATE_BIN, SealgateServer, make_client
from helpers import (
    ACCESS_KEY,
    MIN_PART,
    SECRET_KEY,
    TcpRelay,
    body_of,
    files_containing,
    md5_b64,
    put_multipart,
    set_headers_before_sign,
    ssec,
    unique_bucket,
)
from kms_helpers import kms_client

SRC_REGION = "us-east-1"
DST_REGION = "eu-west-1"
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/replication"

# The destination's users: the one replication signs as, and one that may write but not
# replicate (so it cannot make its writes look like replicas).
REPLICATOR = ("AKIAREPLICATOR000001", "replicator/secret/0123456789abcdefghijk")
WRITER = ("AKIAWRITEREXAMPLE001", "writer/secret/0123456789abcdefghijklmno")
REPLICATOR_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
    "s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:PutObject", "s3:GetObject", "s3:DeleteObject",
    "s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags", "kms:GenerateDataKey",
    # Large versions go in parts: an SSE-KMS multipart upload also needs kms:Decrypt, as on S3.
    "s3:AbortMultipartUpload", "kms:Decrypt"]}]}
WRITER_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
    "s3:PutObject", "s3:DeleteObject", "kms:GenerateDataKey"]}]}

REPLICATION_SETTINGS = "[replication]\nworkers = 4\nretry_base_ms = 200\nretry_max_secs = 1\npoll_interval_ms = 100\n"


def dest_config() -> str:
    lines = [f'account_id = "{ACCOUNT}"']
    for name, (ak, sk), policy in (("replicator", REPLICATOR, REPLICATOR_POLICY), ("writer", WRITER, WRITER_POLICY)):
        lines += ["[[users]]", f'name = "{name}"', f'access_key_id = "{ak}"', f'secret_access_key = "{sk}"',
                  f"policies = [{json.dumps(json.dumps(policy))}]"]
    return "\n".join(lines) + "\n"


def source_config(dest_endpoint: str) -> str:
    return (f'account_id = "{ACCOUNT}"\n[s3]\nallow_sse_c_over_http = true\n' + REPLICATION_SETTINGS
            + f'[replication.remotes.{DST_REGION}]\nendpoint = "{dest_endpoint}"\n'
            + f'access_key_id = "{REPLICATOR[0]}"\nsecret_access_key = "{REPLICATOR[1]}"\n')


class Regions:
    def __init__(self, root):
        self.dst = SealgateServer(root / "eu", name="eu-west-1", config=dest_config(), region=DST_REGION).start()
        self.src = SealgateServer(root / "us", name="us-east-1", config=source_config(self.dst.endpoint),
                                  region=SRC_REGION).start()
        self.src_kms_key = kms_client(self.src.endpoint, region=SRC_REGION).create_key()["KeyMetadata"]["Arn"]
        meta = kms_client(self.dst.endpoint, region=DST_REGION).create_key(Description="replica")["KeyMetadata"]
        self.replica_key = meta["Arn"]
        assert self.replica_key.startswith(f"arn:aws:kms:{DST_REGION}:{ACCOUNT}:key/")

    def s3(self):
        return make_client(self.src.endpoint, region=SRC_REGION)

    def d3(self, keys=None):
        ak, sk = keys or (ACCESS_KEY, SECRET_KEY)
        return make_client(self.dst.endpoint, region=DST_REGION, access_key=ak, secret_key=sk)

    def restart_dst(self):
        """The destination comes back on its port, where the source expects it."""
        self.dst.start()

    def pair(self, *, prefix="", delete_markers=True, kms=True):
        """A versioned source bucket with a rule to a fresh versioned destination bucket."""
        return make_pair(self.s3(), self.d3(), configuration_of=lambda dst: configuration(
            dst, prefix=prefix, delete_markers=delete_markers, replica_key=self.replica_key if kms else None))


def make_pair(s3, d3, configuration_of=None):
    """Versioned buckets in both regions; replication set up when `configuration_of(dst)` is given."""
    src, dst = unique_bucket("src"), unique_bucket("dst")
    s3.create_bucket(Bucket=src)
    s3.put_bucket_versioning(Bucket=src, VersioningConfiguration={"Status": "Enabled"})
    d3.create_bucket(Bucket=dst, CreateBucketConfiguration={"LocationConstraint": DST_REGION})
    d3.put_bucket_versioning(Bucket=dst, VersioningConfiguration={"Status": "Enabled"})
    if configuration_of:
        s3.put_bucket_replication(Bucket=src, ReplicationConfiguration=configuration_of(dst))
    return src, dst


def configuration(dst: str, *, prefix="", delete_markers=True, replica_key=None, rule_id="rule-1", priority=1):
    rule = {
        "ID": rule_id,
        "Priority": priority,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "DeleteMarkerReplication": {"Status": "Enabled" if delete_markers else "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{dst}"},
    }
    if replica_key:
        rule["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
        rule["Destination"]["EncryptionConfiguration"] = {"ReplicaKmsKeyID": replica_key}
    return {"Role": ROLE, "Rules": [rule]}


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    r = Regions(tmp_path_factory.mktemp("replication"))
    yield r
    r.src.stop()
    r.dst.stop()


def replication_status(client, bucket, key, version_id=None, **extra):
    args = {"Bucket": bucket, "Key": key, **extra}
    if version_id:
        args["VersionId"] = version_id
    return client.head_object(**args).get("ReplicationStatus")


def wait_status(client, bucket, key, version_id=None, timeout=30.0, **extra):
    """The source's replication status once it leaves PENDING (or PENDING after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        status = replication_status(client, bucket, key, version_id, **extra)
        if status != "PENDING" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def replicate_cli(srv: SealgateServer, *args, timeout=60):
    cmd = [str(SEALGATE_BIN), "replicate", "--config", str(srv.config_path), "--data-dir", str(srv.data_dir),
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------------------------


def test_kms_objects_arrive_under_the_replica_key_with_metadata_and_equal_bodies(regions):
    src, dst = regions.pair()
    s3, d3 = regions.s3(), regions.d3()
    body = os.urandom(300 * 1024)
    put = s3.put_object(Bucket=src, Key="doc.bin", Body=body, ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=regions.src_kms_key, ContentType="application/x-test",
                        CacheControl="no-cache", Metadata={"owner": "alice", "Mixed-Case": "v"})
    assert wait_status(s3, src, "doc.bin") == "COMPLETED"
    assert replication_status(s3, src, "doc.bin", put["VersionId"]) == "COMPLETED"

    head = d3.head_object(Bucket=dst, Key="doc.bin")
    assert head["ReplicationStatus"] == "REPLICA"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == regions.replica_key
    assert head["ContentType"] == "application/x-test"
    assert head["CacheControl"] == "no-cache"
    assert head["Metadata"] == {"owner": "alice", "mixed-case": "v"}
    assert body_of(d3.get_object(Bucket=dst, Key="doc.bin")) == body
    # The source keeps its own key; nothing of region A's KMS is named in region B.
    src_head = s3.head_object(Bucket=src, Key="doc.bin")
    assert src_head["SSEKMSKeyId"] == regions.src_kms_key


def test_sse_s3_multipart_and_copied_objects_replicate(regions):
    src, dst = regions.pair(kms=False)
    s3, d3 = regions.s3(), regions.d3()
    small = b"hello, eu"
    # Its SHA-256, verified at the source on write, is what the destination verifies.
    sent = s3.put_object(Bucket=src, Key="small.txt", Body=small, ChecksumAlgorithm="SHA256")
    parts = [os.urandom(MIN_PART), os.urandom(1024)]
    put_multipart(s3, src, "big.bin", parts)
    s3.copy_object(Bucket=src, Key="copied.txt", CopySource={"Bucket": src, "Key": "small.txt"})
    assert wait_status(s3, src, "small.txt") == "COMPLETED"
    assert wait_status(s3, src, "big.bin") == "COMPLETED"
    assert wait_status(s3, src, "copied.txt") == "COMPLETED"
    assert body_of(d3.get_object(Bucket=dst, Key="copied.txt")) == small
    head = d3.head_object(Bucket=dst, Key="small.txt", ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256" and head["ReplicationStatus"] == "REPLICA"
    assert head["ChecksumSHA256"] == sent["ChecksumSHA256"]
    # A version uploaded in parts replicates in the same parts, each part's SHA-256 verified
    # by the destination: the replica has S3's composite checksum of them and the same ETag.
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    big = d3.head_object(Bucket=dst, Key="big.bin", ChecksumMode="ENABLED")
    assert big["ChecksumSHA256"] == f"{base64.b64encode(composite).decode()}-2"
    assert big["ETag"] == s3.head_object(Bucket=src, Key="big.bin")["ETag"]
    assert body_of(d3.get_object(Bucket=dst, Key="small.txt")) == small
    assert body_of(d3.get_object(Bucket=dst, Key="big.bin")) == b"".join(parts)


def test_kms_objects_without_the_rule_opting_in_stay_home(regions):
    # As on S3: SSE-KMS objects replicate only under SseKmsEncryptedObjects Enabled.
    src, dst = regions.pair(kms=False)
    s3, d3 = regions.s3(), regions.d3()
    s3.put_object(Bucket=src, Key="kms", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=regions.src_kms_key)
    s3.put_object(Bucket=src, Key="plain", Body=b"y")
    assert wait_status(s3, src, "plain") == "COMPLETED"
    assert replication_status(s3, src, "kms") is None
    with pytest.raises(ClientError) as e:
        d3.head_object(Bucket=dst, Key="kms")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_prefix_filter_replicates_only_its_prefix(regions):
    src, dst = regions.pair(prefix="logs/")
    s3, d3 = regions.s3(), regions.d3()
    s3.put_object(Bucket=src, Key="data/a", Body=b"not replicated")
    s3.put_object(Bucket=src, Key="logs/a", Body=b"replicated")
    assert wait_status(s3, src, "logs/a") == "COMPLETED"
    assert replication_status(s3, src, "data/a") is None
    keys = [o["Key"] for o in d3.list_objects_v2(Bucket=dst).get("Contents", [])]
    assert keys == ["logs/a"]


def test_tag_filters_select_what_replicates_and_tags_go_with_it(regions):
    s3, d3 = regions.s3(), regions.d3()

    def tagged_rule(dst):
        cfg = configuration(dst, delete_markers=False)
        cfg["Rules"][0]["Filter"] = {"And": {"Prefix": "docs/", "Tags": [
            {"Key": "replicate", "Value": "yes"}, {"Key": "team", "Value": "ledger"}]}}
        return cfg

    src, dst = make_pair(s3, d3, tagged_rule)
    s3.put_object(Bucket=src, Key="docs/both", Body=b"1", Tagging="replicate=yes&team=ledger&extra=a%20b")
    s3.put_object(Bucket=src, Key="docs/one", Body=b"2", Tagging="replicate=yes")
    s3.put_object(Bucket=src, Key="docs/wrong", Body=b"3", Tagging="replicate=no&team=ledger")
    s3.put_object(Bucket=src, Key="other/both", Body=b"4", Tagging="replicate=yes&team=ledger")
    assert wait_status(s3, src, "docs/both") == "COMPLETED"
    for key in ("docs/one", "docs/wrong", "other/both"):
        assert replication_status(s3, src, key) is None
    keys = [o["Key"] for o in d3.list_objects_v2(Bucket=dst).get("Contents", [])]
    assert keys == ["docs/both"]
    tags = {t["Key"]: t["Value"] for t in d3.get_object_tagging(Bucket=dst, Key="docs/both")["TagSet"]}
    assert tags == {"replicate": "yes", "team": "ledger", "extra": "a b"}
    # Tagged afterwards: `sealgate replicate` finds it by its tags now.
    s3.put_object_tagging(Bucket=src, Key="docs/one", Tagging={"TagSet": [
        {"Key": "replicate", "Value": "yes"}, {"Key": "team", "Value": "ledger"}]})
    out = replicate_cli(regions.src, "--bucket", src, "--wait")
    assert out.returncode == 0, out.stderr
    assert f"queued 1 versions of {src}" in out.stdout, out.stdout
    assert d3.get_object_tagging(Bucket=dst, Key="docs/one")["TagSet"]


def wait_tags(client, bucket, key, version_id, expected, timeout=30.0):
    """The version's tags once they are `expected` (or as they are after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        tags = client.get_object_tagging(Bucket=bucket, Key=key, VersionId=version_id)["TagSet"]
        tags = {t["Key"]: t["Value"] for t in tags}
        if tags == expected or time.monotonic() > deadline:
            return tags
        time.sleep(0.1)


def test_tag_changes_follow_a_replicated_version_to_its_replica(regions):
    src, dst = regions.pair(kms=False)
    s3, d3 = regions.s3(), regions.d3()
    old = s3.put_object(Bucket=src, Key="report", Body=b"v1", Tagging="stage=draft")["VersionId"]
    assert wait_status(s3, src, "report", old) == "COMPLETED"
    replica = d3.head_object(Bucket=dst, Key="report")["VersionId"]
    new = s3.put_object(Bucket=src, Key="report", Body=b"v2", Tagging="stage=new")["VersionId"]
    assert wait_status(s3, src, "report", new) == "COMPLETED"
    latest_replica = d3.head_object(Bucket=dst, Key="report")["VersionId"]

    # The older version's tags change: its replica's follow; the newer replica keeps its own.
    s3.put_object_tagging(Bucket=src, Key="report", VersionId=old, Tagging={"TagSet": [
        {"Key": "stage", "Value": "final"}, {"Key": "owner", "Value": "ops team"}]})
    assert wait_status(s3, src, "report", old) == "COMPLETED"
    assert d3.get_object_tagging(Bucket=dst, Key="report", VersionId=replica)["TagSet"] == [
        {"Key": "owner", "Value": "ops team"}, {"Key": "stage", "Value": "final"}]
    assert wait_tags(d3, dst, "report", latest_replica, {"stage": "new"}) == {"stage": "new"}
    # The latest version, tagged without a version id, and then its tags deleted.
    s3.put_object_tagging(Bucket=src, Key="report", Tagging={"TagSet": [{"Key": "stage", "Value": "shipped"}]})
    assert wait_tags(d3, dst, "report", latest_replica, {"stage": "shipped"}) == {"stage": "shipped"}
    s3.delete_object_tagging(Bucket=src, Key="report", VersionId=old)
    assert wait_tags(d3, dst, "report", replica, {}) == {}
    assert wait_status(s3, src, "report", old) == "COMPLETED"
    # Only tags travelled: the destination has the same two versions, with their bodies.
    versions = d3.list_object_versions(Bucket=dst, Prefix="report")["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted([replica, latest_replica])
    assert body_of(d3.get_object(Bucket=dst, Key="report", VersionId=replica)) == b"v1"
    assert d3.head_object(Bucket=dst, Key="report", VersionId=replica)["ReplicationStatus"] == "REPLICA"


def test_a_locked_version_replicates_with_its_lock_or_not_at_all(regions):
    s3, d3 = regions.s3(), regions.d3()
    src, dst, unlocked = unique_bucket("src"), unique_bucket("dst"), unique_bucket("dst")
    s3.create_bucket(Bucket=src, ObjectLockEnabledForBucket=True)
    for name, lock in ((dst, True), (unlocked, False)):
        d3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": DST_REGION},
                         ObjectLockEnabledForBucket=lock)
        d3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    cfg = configuration(dst, delete_markers=False, prefix="kept/")
    second = configuration(unlocked, delete_markers=False, prefix="lost/", rule_id="rule-2", priority=2)
    cfg["Rules"] += second["Rules"]
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration=cfg)
    until = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)).replace(microsecond=0)
    body = b"record"
    for key in ("kept/r", "lost/r"):
        s3.put_object(Bucket=src, Key=key, Body=body, ContentMD5=md5_b64(body), ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    assert wait_status(s3, src, "kept/r") == "COMPLETED"
    head = d3.head_object(Bucket=dst, Key="kept/r")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"], head["ObjectLockLegalHoldStatus"]) == (
        "COMPLIANCE", until, "ON")
    with pytest.raises(ClientError):
        d3.delete_object(Bucket=dst, Key="kept/r", VersionId=head["VersionId"])
    # A destination without Object Lock would hold an unlocked copy: the task fails instead.
    assert wait_status(s3, src, "lost/r") == "FAILED"
    assert d3.list_objects_v2(Bucket=unlocked).get("KeyCount", 0) == 0


@pytest.mark.parametrize("delete_markers", [True, False])
def test_delete_markers_follow_the_rule(regions, delete_markers):
    src, dst = regions.pair(delete_markers=delete_markers)
    s3, d3 = regions.s3(), regions.d3()
    s3.put_object(Bucket=src, Key="k", Body=b"v1")
    assert wait_status(s3, src, "k") == "COMPLETED"
    marker = s3.delete_object(Bucket=src, Key="k")
    assert marker["DeleteMarker"]
    if delete_markers:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            markers = d3.list_object_versions(Bucket=dst).get("DeleteMarkers", [])
            if markers:
                break
            time.sleep(0.1)
        assert len(markers) == 1 and markers[0]["IsLatest"]
        with pytest.raises(ClientError) as e:
            d3.head_object(Bucket=dst, Key="k")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    else:
        time.sleep(1.5)
        assert body_of(d3.get_object(Bucket=dst, Key="k")) == b"v1"
        assert "DeleteMarkers" not in d3.list_object_versions(Bucket=dst)


def test_ssec_objects_fail_loudly_with_a_reason(regions):
    src, dst = regions.pair(kms=False)
    s3 = regions.s3()
    key = os.urandom(32)
    s3.put_object(Bucket=src, Key="secret", Body=b"customer keyed", **ssec(key))
    assert wait_status(s3, src, "secret", **ssec(key)) == "FAILED"
    out = replicate_cli(regions.src, "--bucket", src, "--status")
    assert out.returncode == 0, out.stderr
    assert "secret" in out.stdout and "SSE-C" in out.stdout, out.stdout
    assert "failed: 1" in out.stdout, out.stdout
    prom = replicate_cli(regions.src, "--bucket", src, "--status", "--prometheus")
    assert f'sealgate_replication_failed_versions_total{{bucket="{src}"}} 1\n' in prom.stdout, prom.stdout


def test_a_source_kms_will_not_decrypt_fails_with_its_reason_and_replicates_once_enabled(regions):
    s3, d3 = regions.s3(), regions.d3()
    kms = kms_client(regions.src.endpoint, region=SRC_REGION)
    key = kms.create_key(Description="source, to be disabled")["KeyMetadata"]["KeyId"]
    src, dst = make_pair(s3, d3)
    s3.put_object(Bucket=src, Key="locked", Body=b"under a key", ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    kms.disable_key(KeyId=key)
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration=configuration(dst, replica_key=regions.replica_key))

    # Batch replication ends: the version is FAILED with KMS's reason, not retried forever.
    out = replicate_cli(regions.src, "--bucket", src, "--wait")
    assert out.returncode == 0, out.stderr
    assert replication_status(s3, src, "locked") == "FAILED"
    status = replicate_cli(regions.src, "--bucket", src, "--status")
    assert "locked" in status.stdout and "DisabledException" in status.stdout, status.stdout
    assert "failed: 1" in status.stdout, status.stdout
    assert "Versions" not in d3.list_object_versions(Bucket=dst)

    # Once the key is enabled, batch replication queues the FAILED version again.
    kms.enable_key(KeyId=key)
    out = replicate_cli(regions.src, "--bucket", src, "--wait")
    assert out.returncode == 0, out.stderr
    assert replication_status(s3, src, "locked") == "COMPLETED"
    replica = d3.get_object(Bucket=dst, Key="locked")
    assert body_of(replica) == b"under a key"
    assert replica["SSEKMSKeyId"] == regions.replica_key


def test_replica_header_is_trusted_only_from_principals_allowed_to_replicate(regions):
    _, dst = regions.pair()
    writer = regions.d3(WRITER)
    set_headers_before_sign(writer, "PutObject", {"x-sealgate-replica": "true"})
    with pytest.raises(ClientError) as e:
        writer.put_object(Bucket=dst, Key="forged", Body=b"x")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    set_headers_before_sign(writer, "PutObjectTagging", {"x-sealgate-replica": "true"})
    with pytest.raises(ClientError) as e:
        writer.put_object_tagging(Bucket=dst, Key="forged", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    plain = regions.d3(WRITER)
    plain.put_object(Bucket=dst, Key="own", Body=b"x")
    assert replication_status(regions.d3(), dst, "own") is None
    # A browser form upload is not a PutObject: the header is not honoured there at all.
    post = plain.generate_presigned_post(Bucket=dst, Key="form")
    resp = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"x")},
                         headers={"x-sealgate-replica": "true"}, timeout=30)
    assert resp.status_code == 204, resp.text
    assert replication_status(regions.d3(), dst, "form") is None


def test_bad_configurations_get_s3s_errors(regions):
    s3, d3 = regions.s3(), regions.d3()
    unversioned = unique_bucket("unversioned")
    s3.create_bucket(Bucket=unversioned)

    def error(bucket, cfg):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=cfg)
        return (e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"],
                e.value.response["Error"]["Message"])

    src, dst = regions.pair()
    assert error(unversioned, configuration(dst)) == (
        400, "InvalidRequest", "Versioning must be 'Enabled' on the bucket to apply a replication configuration")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_replication(Bucket=unversioned)
    assert e.value.response["Error"]["Code"] == "ReplicationConfigurationNotFoundError"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    bad_status = configuration(dst)
    bad_status["Rules"][0]["Status"] = "Sometimes"
    assert error(src, bad_status)[:2] == (400, "MalformedXML")
    assert error(src, configuration(src))[1:] == (
        "InvalidRequest", "Destination bucket cannot be the same as the source bucket.")
    two = configuration(dst)
    two["Rules"].append(dict(two["Rules"][0], ID="rule-2"))
    assert error(src, two)[1:] == ("InvalidRequest", "Found two rules with same priority")
    kms_without_key = configuration(dst)
    kms_without_key["Rules"][0]["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    assert error(src, kms_without_key)[1] == "InvalidRequest"
    assert error(src, configuration(unique_bucket("nowhere")))[1:] == (
        "InvalidRequest", "Destination bucket must exist.")
    unversioned_dst = unique_bucket("dst-unversioned")
    d3.create_bucket(Bucket=unversioned_dst, CreateBucketConfiguration={"LocationConstraint": DST_REGION})
    assert error(src, configuration(unversioned_dst))[1:] == (
        "InvalidRequest", "Destination bucket must have versioning enabled.")

    # The configuration in place is unchanged by the refused ones, and reads back as put.
    got = s3.get_bucket_replication(Bucket=src)["ReplicationConfiguration"]
    assert got["Role"] == ROLE
    rule = got["Rules"][0]
    assert rule["ID"] == "rule-1" and rule["Priority"] == 1 and rule["Status"] == "Enabled"
    assert rule["Destination"]["Bucket"] == f"arn:aws:s3:::{dst}"
    assert rule["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"] == regions.replica_key
    assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=src, VersioningConfiguration={"Status": "Suspended"})
    assert e.value.response["Error"]["Code"] == "InvalidBucketState"
    s3.delete_bucket_replication(Bucket=src)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_replication(Bucket=src)
    assert e.value.response["Error"]["Code"] == "ReplicationConfigurationNotFoundError"


def test_writes_while_the_destination_is_down_replicate_when_it_returns(regions):
    src, dst = regions.pair()
    s3 = regions.s3()
    regions.dst.stop()
    try:
        versions = [s3.put_object(Bucket=src, Key=f"outage/{i}", Body=f"body {i}".encode())["VersionId"]
                    for i in range(5)]
        time.sleep(1.5)
        assert {replication_status(s3, src, f"outage/{i}") for i in range(5)} == {"PENDING"}
        status = replicate_cli(regions.src, "--bucket", src, "--status")
        assert status.returncode == 0, status.stderr
        assert "pending: 5" in status.stdout, status.stdout
    finally:
        regions.restart_dst()
    for i in range(5):
        assert wait_status(s3, src, f"outage/{i}", versions[i]) == "COMPLETED"
    d3 = regions.d3()
    for i in range(5):
        assert body_of(d3.get_object(Bucket=dst, Key=f"outage/{i}")) == f"body {i}".encode()


def test_kill_9_of_the_source_with_a_backlog_loses_nothing_and_duplicates_nothing(regions):
    src, dst = regions.pair()
    regions.dst.stop()
    s3 = regions.s3()
    written = {}
    try:
        for i in range(20):
            key = f"crash/{i % 7}"
            written.setdefault(key, []).append(
                (s3.put_object(Bucket=src, Key=key, Body=f"{key} #{i}".encode())["VersionId"], f"{key} #{i}".encode()))
        regions.src.kill()
        regions.src.start()
    finally:
        regions.restart_dst()
    s3 = regions.s3()
    for key, versions in written.items():
        for vid, _ in versions:
            assert wait_status(s3, src, key, vid, timeout=60) == "COMPLETED"
    d3 = regions.d3()
    listed = d3.list_object_versions(Bucket=dst)["Versions"]
    for key, versions in written.items():
        on_dst = [v for v in listed if v["Key"] == key]
        assert len(on_dst) == len(versions), f"{key}: {len(on_dst)} replicas of {len(versions)} versions"
        # In the order they were written: the latest replica is the latest source version.
        assert body_of(d3.get_object(Bucket=dst, Key=key)) == versions[-1][1]


def test_destination_data_dir_holds_no_plaintext(regions):
    src, dst = regions.pair()
    s3 = regions.s3()
    marker = f"SEALGATE-REPLICA-MARKER-{uuid.uuid4().hex}|".encode()
    body = marker * (200 * 1024 // len(marker))
    s3.put_object(Bucket=src, Key="kms", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=regions.src_kms_key)
    s3.put_object(Bucket=src, Key="s3", Body=body)
    assert wait_status(s3, src, "kms") == "COMPLETED"
    assert wait_status(s3, src, "s3") == "COMPLETED"
    assert body_of(regions.d3().get_object(Bucket=dst, Key="kms")) == body
    assert files_containing(regions.dst.data_dir, marker) == []
    assert files_containing(regions.src.data_dir, marker) == []


def test_batch_replication_copies_what_existed_before_the_rule(regions):
    s3, d3 = regions.s3(), regions.d3()
    src, dst = make_pair(s3, d3)
    for i in range(12):
        s3.put_object(Bucket=src, Key=f"old/{i:02}", Body=f"old {i}".encode())
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration=configuration(dst))
    s3.put_object(Bucket=src, Key="new", Body=b"new")
    assert wait_status(s3, src, "new") == "COMPLETED"
    assert replication_status(s3, src, "old/00") is None

    out = replicate_cli(regions.src, "--bucket", src, "--wait")
    assert out.returncode == 0, out.stderr
    assert f"queued 12 versions of {src}" in out.stdout, out.stdout
    assert "pending 0" in out.stdout, out.stdout
    for i in range(12):
        assert replication_status(s3, src, f"old/{i:02}") == "COMPLETED"
        assert body_of(d3.get_object(Bucket=dst, Key=f"old/{i:02}")) == f"old {i}".encode()
    # A second run finds nothing left to copy: nothing is replicated twice.
    again = replicate_cli(regions.src, "--bucket", src)
    assert f"queued 0 versions of {src}" in again.stdout, again.stdout
    assert len(d3.list_object_versions(Bucket=dst)["Versions"]) == 13

    missing = replicate_cli(regions.src, "--bucket", unique_bucket("none"))
    assert missing.returncode != 0


class AnswerDroppingProxy(TcpRelay):
    """A TCP proxy to the destination that, for the first `drops` PUTs, forwards the request
    and lets the destination act on it but never relays the answer: an attempt whose outcome
    the source cannot know."""

    def __init__(self, target_port: int, drops: int):
        self.drops = drops
        self.dropped = 0
        self.lock = threading.Lock()
        super().__init__(target_port)

    def forward(self, data, upward, state, dst) -> bool:
        if upward and "drop" not in state:
            with self.lock:
                state["drop"] = data.startswith(b"PUT ") and self.dropped < self.drops
                self.dropped += state["drop"]
        if not upward and state.get("drop"):
            # The destination has answered, so the replica exists; the source never hears.
            return False
        dst.sendall(data)
        return True


def test_an_attempt_with_an_unknown_outcome_is_not_repeated_on_the_destination(regions, server_factory):
    proxy = AnswerDroppingProxy(regions.dst.port, drops=1)
    try:
        src_srv = server_factory("us-via-proxy", config=source_config(f"http://127.0.0.1:{proxy.port}"),
                                 region=SRC_REGION)
        s3 = make_client(src_srv.endpoint, region=SRC_REGION)
        d3 = regions.d3()
        src, dst = make_pair(s3, d3, configuration)
        s3.put_object(Bucket=src, Key="once", Body=b"exactly one replica")
        assert wait_status(s3, src, "once") == "COMPLETED"
        assert proxy.dropped == 1, "the answer to the first PUT was not dropped"
        versions = d3.list_object_versions(Bucket=dst)["Versions"]
        assert len(versions) == 1, versions
        assert body_of(d3.get_object(Bucket=dst, Key="once")) == b"exactly one replica"
        # A later version of the same key with the same body is a new replica, not "already there".
        s3.put_object(Bucket=src, Key="once", Body=b"exactly one replica")
        assert wait_status(s3, src, "once") == "COMPLETED"
        assert len(d3.list_object_versions(Bucket=dst)["Versions"]) == 2
    finally:
        proxy.close()


def test_https_destinations_are_reached_over_tls(server_factory):
    dst_srv = server_factory("eu-tls", config=dest_config(), region=DST_REGION, tls=True)
    config = source_config(dst_srv.endpoint) + "insecure_skip_verify = true\n"
    assert dst_srv.endpoint.startswith("https://")
    src_srv = server_factory("us-to-tls", config=config, region=SRC_REGION)
    s3 = make_client(src_srv.endpoint, region=SRC_REGION)
    d3 = make_client(dst_srv.endpoint, region=DST_REGION, verify=False)
    src, dst = make_pair(s3, d3, configuration)
    s3.put_object(Bucket=src, Key="k", Body=b"over tls")
    assert wait_status(s3, src, "k") == "COMPLETED"
    assert body_of(d3.get_object(Bucket=dst, Key="k")) == b"over tls"
