"""Object Ownership and ACLs as S3 creates buckets today (BucketOwnerEnforced): ACLs are
disabled, the owner holds FULL_CONTROL, an ACL restating that is accepted and any other is
400 AccessControlListNotSupported; through boto3, the aws CLI, s3cmd and rclone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from helpers import ACCESS_KEY, SECRET_KEY, error_of, unique_bucket

NOT_SUPPORTED = (400, "AccessControlListNotSupported", "The bucket does not allow ACLs")


def test_the_owner_holds_full_control_of_buckets_and_objects(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        owner = acl["Owner"]
        assert len(owner["ID"]) == 64
        assert acl["Grants"] == [{"Grantee": {"ID": owner["ID"], "DisplayName": owner["DisplayName"],
                                              "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]
    assert s3.list_buckets()["Owner"]["ID"] == owner["ID"]
    assert error_of(lambda: s3.get_object_acl(Bucket=bucket, Key="missing"))[:2] == (404, "NoSuchKey")
    assert error_of(lambda: s3.get_bucket_acl(Bucket=unique_bucket("none")))[:2] == (404, "NoSuchBucket")
    controls = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert controls == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_acls_that_restate_the_owner_are_accepted_and_others_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="bucket-owner-full-control")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object(Bucket=bucket, Key="owned", Body=b"v", ACL="bucket-owner-full-control")
    policy = {"Owner": owner, "Grants": [{"Grantee": {"ID": owner["ID"], "Type": "CanonicalUser"},
                                          "Permission": "FULL_CONTROL"}]}
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=policy)
    for call in (
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read"),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write"),
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"'),
        lambda: s3.put_object(Bucket=bucket, Key="public", Body=b"v", ACL="public-read"),
        lambda: s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"}, ACL="authenticated-read"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="mp", GrantFullControl='id="' + "d" * 64 + '"'),
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy={
            "Owner": owner, "Grants": [{"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers",
                                                    "Type": "Group"}, "Permission": "READ"}]}),
    ):
        assert error_of(call) == NOT_SUPPORTED
    # Nothing was written by the refused writes.
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="public"))[0] == 404
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="copy"))[0] == 404
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_ownership_controls_stay_bucket_owner_enforced(s3, bucket):
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    for ownership in ("ObjectWriter", "BucketOwnerPreferred"):
        status, code, message = error_of(lambda: s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": ownership}]}))
        assert (status, code) == (501, "NotImplemented") and ownership in message
    assert error_of(lambda: s3.delete_bucket_ownership_controls(Bucket=bucket))[:2] == (501, "NotImplemented")
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]


def test_the_aws_cli_reads_and_sets_acls(aws, bucket, tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("cli")
    aws("s3", "cp", str(f), f"s3://{bucket}/f.txt", "--acl", "bucket-owner-full-control")
    acl = json.loads(aws("s3api", "get-object-acl", "--bucket", bucket, "--key", "f.txt").stdout_text)
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"
    refused = aws("s3", "cp", str(f), f"s3://{bucket}/g.txt", "--acl", "public-read", check=False)
    assert refused.returncode != 0 and "AccessControlListNotSupported" in refused.stderr_text


def tool(name):
    path = shutil.which(name)
    if path is None:
        why = f"{name} is not installed (apt-get install {name})"
        if os.environ.get("SEALGATE_REQUIRE_CLIENTS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return path


def test_s3cmd_info_and_setacl(server, s3, bucket, tmp_path):
    s3cmd = tool("s3cmd")
    cfg = tmp_path / "s3cfg"
    host = f"127.0.0.1:{server.port}"
    cfg.write_text(f"[default]\naccess_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\nhost_base = {host}\n"
                   f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n")
    f = tmp_path / "f.txt"
    f.write_text("from s3cmd")

    def run(*args, check=True):
        p = subprocess.run([s3cmd, "-c", str(cfg), *args], capture_output=True, text=True, timeout=60)
        if check:
            assert p.returncode == 0, p.stdout + p.stderr
        return p
    run("put", str(f), f"s3://{bucket}/f.txt")
    info = run("info", f"s3://{bucket}/f.txt").stdout
    owner_id = s3.get_bucket_acl(Bucket=bucket)["Owner"]["DisplayName"]
    assert "ACL:" in info and "FULL_CONTROL" in info and owner_id in info, info
    run("setacl", "--acl-private", f"s3://{bucket}/f.txt")
    public = run("setacl", "--acl-public", f"s3://{bucket}/f.txt", check=False)
    assert public.returncode != 0 and "AccessControlListNotSupported" in public.stdout + public.stderr
    assert run("get", f"s3://{bucket}/f.txt", "-").stdout == "from s3cmd"


def test_rclone_copies_with_its_default_acl_and_a_public_one_is_refused(server, s3, bucket, tmp_path):
    rclone = tool("rclone")
    cfg = tmp_path / "rclone.conf"
    cfg.write_text(f"[gw]\ntype = s3\nprovider = Other\naccess_key_id = {ACCESS_KEY}\n"
                   f"secret_access_key = {SECRET_KEY}\nendpoint = {server.endpoint}\nregion = us-east-1\n"
                   "force_path_style = true\n")
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")

    def run(*args):
        return subprocess.run([rclone, "--config", str(cfg), *args], capture_output=True, text=True, timeout=120)
    copied = run("copy", str(src), f"gw:{bucket}/tree")
    assert copied.returncode == 0, copied.stderr
    assert sorted(run("lsf", "-R", f"gw:{bucket}/tree").stdout.split()) == ["a.txt", "sub/", "sub/b.txt"]
    assert run("cat", f"gw:{bucket}/tree/sub/b.txt").stdout == "b"
    refused = run("copyto", str(src / "a.txt"), f"gw:{bucket}/public.txt", "--s3-acl", "public-read",
                  "--retries", "1", "--low-level-retries", "1")
    assert refused.returncode != 0 and "AccessControlListNotSupported" in refused.stderr
