"""Object Ownership and ACLs. As S3 creates buckets today (BucketOwnerEnforced) ACLs are
disabled: the owner holds FULL_CONTROL, an ACL restating that is accepted and any other is
400 AccessControlListNotSupported. With ObjectWriter or BucketOwnerPreferred, ACLs are stored
and decide access together with policies, within what Block Public Access lets through.
Through boto3, the aws CLI, s3cmd and rclone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from botocore import UNSIGNED

from conftest import AwsCli, SealgateServer, make_client
from helpers import ACCESS_KEY, SECRET_KEY, error_of, gateway_config, unique_bucket

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


def s3cmd_for(server, tmp_path):
    """Runs s3cmd against `server` as its root user; fails on a non-zero exit unless told."""
    s3cmd = tool("s3cmd")
    cfg = tmp_path / "s3cfg"
    host = f"127.0.0.1:{server.port}"
    cfg.write_text(f"[default]\naccess_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\nhost_base = {host}\n"
                   f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n")

    def run(*args, check=True):
        p = subprocess.run([s3cmd, "-c", str(cfg), *args], capture_output=True, text=True, timeout=60)
        if check:
            assert p.returncode == 0, p.stdout + p.stderr
        return p
    return run


def test_s3cmd_info_and_setacl(server, s3, bucket, tmp_path):
    run = s3cmd_for(server, tmp_path)
    f = tmp_path / "f.txt"
    f.write_text("from s3cmd")
    run("put", str(f), f"s3://{bucket}/f.txt")
    info = run("info", f"s3://{bucket}/f.txt").stdout
    owner_id = s3.get_bucket_acl(Bucket=bucket)["Owner"]["DisplayName"]
    assert "ACL:" in info and "FULL_CONTROL" in info and owner_id in info, info
    run("setacl", "--acl-private", f"s3://{bucket}/f.txt")
    public = run("setacl", "--acl-public", f"s3://{bucket}/f.txt", check=False)
    assert public.returncode != 0 and "AccessControlListNotSupported" in public.stdout + public.stderr
    assert run("get", f"s3://{bucket}/f.txt", "-").stdout == "from s3cmd"


def rclone_for(server, tmp_path):
    """Runs rclone against `server` as remote `gw:`, as its root user."""
    rclone = tool("rclone")
    cfg = tmp_path / "rclone.conf"
    cfg.write_text(f"[gw]\ntype = s3\nprovider = Other\naccess_key_id = {ACCESS_KEY}\n"
                   f"secret_access_key = {SECRET_KEY}\nendpoint = {server.endpoint}\nregion = us-east-1\n"
                   "force_path_style = true\n")

    def run(*args):
        return subprocess.run([rclone, "--config", str(cfg), *args], capture_output=True, text=True, timeout=120)
    return run


def test_rclone_copies_with_its_default_acl_and_a_public_one_is_refused(server, s3, bucket, tmp_path):
    run = rclone_for(server, tmp_path)
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    copied = run("copy", str(src), f"gw:{bucket}/tree")
    assert copied.returncode == 0, copied.stderr
    assert sorted(run("lsf", "-R", f"gw:{bucket}/tree").stdout.split()) == ["a.txt", "sub/", "sub/b.txt"]
    assert run("cat", f"gw:{bucket}/tree/sub/b.txt").stdout == "b"
    refused = run("copyto", str(src / "a.txt"), f"gw:{bucket}/public.txt", "--s3-acl", "public-read",
                  "--retries", "1", "--low-level-retries", "1")
    assert refused.returncode != 0 and "AccessControlListNotSupported" in refused.stderr


# A gateway with a second account and a user of the owner's account without any policy.
OWNER_ACCOUNT = "111100002222"
OTHER = "333344445555"
OTHER_ROOT = ("AKIAACLOTHERROOT0001", "acl-other-root-secret-0123456789abcdefg")
NOBODY = ("AKIAACLNOBODY0000001", "acl-nobody-secret-0123456789abcdefghijk")
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    config = gateway_config(OWNER_ACCOUNT, accounts={OTHER: OTHER_ROOT}, users={"nobody": (*NOBODY, None)})
    s = SealgateServer(tmp_path_factory.mktemp("acls"), name="acls", config=config).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def clients(gw):
    return {"owner": gw.client(), "other": gw.client(access_key=OTHER_ROOT[0], secret_key=OTHER_ROOT[1]),
            "nobody": gw.client(access_key=NOBODY[0], secret_key=NOBODY[1]),
            "anonymous": make_client(gw.endpoint, signature_version=UNSIGNED)}


def acl_bucket(owner, ownership="ObjectWriter", public=False):
    name = unique_bucket("acl")
    owner.create_bucket(Bucket=name, ObjectOwnership=ownership)
    if public:
        owner.delete_public_access_block(Bucket=name)
    return name


def canonical(client):
    return client.list_buckets()["Owner"]["ID"]


def test_ownership_controls_are_put_got_and_deleted(clients):
    owner = clients["owner"]
    name = unique_bucket("own")
    owner.create_bucket(Bucket=name)
    assert owner.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    for ownership in ("ObjectWriter", "BucketOwnerPreferred", "BucketOwnerEnforced"):
        owner.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": ownership}]})
        assert owner.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": ownership}]
    owner.delete_bucket_ownership_controls(Bucket=name)
    assert error_of(lambda: owner.get_bucket_ownership_controls(Bucket=name))[:2] == (
        404, "OwnershipControlsNotFoundError")
    # Without controls ACLs are enabled (ObjectWriter): a grant to another account is kept.
    other_id = canonical(clients["other"])
    owner.put_bucket_acl(Bucket=name, GrantRead=f'id="{other_id}"')
    grants = owner.get_bucket_acl(Bucket=name)["Grants"]
    assert {"Grantee": {"ID": other_id, "Type": "CanonicalUser"}, "Permission": "READ"} in grants
    # ACLs that grant others keep the bucket from going back to BucketOwnerEnforced.
    assert error_of(lambda: owner.put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}))[:2] == (
        400, "InvalidBucketAclWithObjectOwnership")
    owner.put_bucket_acl(Bucket=name, ACL="private")
    owner.put_bucket_ownership_controls(Bucket=name, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert error_of(lambda: owner.put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "Nobody"}]}))[:2] == (400, "MalformedXML")


def test_create_bucket_with_ownership_and_acls(clients):
    owner = clients["owner"]
    enforced = unique_bucket("enf")
    assert error_of(lambda: owner.create_bucket(Bucket=enforced, ACL="public-read"))[:2] == (
        400, "InvalidBucketAclWithObjectOwnership")
    assert error_of(lambda: owner.create_bucket(Bucket=enforced, ACL="public-read", ObjectOwnership="ObjectWriter"))[:2] == (
        400, "InvalidBucketAclWithBlockPublicAccessError")
    assert error_of(lambda: owner.head_bucket(Bucket=enforced))[0] == 404
    owner.create_bucket(Bucket=enforced, ACL="private")
    writer = unique_bucket("ow")
    owner.create_bucket(Bucket=writer, ObjectOwnership="BucketOwnerPreferred",
                        GrantRead=f'id="{canonical(clients["other"])}"')
    assert owner.get_bucket_ownership_controls(Bucket=writer)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerPreferred"}]
    assert len(owner.get_bucket_acl(Bucket=writer)["Grants"]) == 1
    assert clients["other"].list_objects_v2(Bucket=writer)["KeyCount"] == 0


def test_public_read_objects_are_readable_anonymously_until_public_acls_are_ignored(clients):
    owner, anon = clients["owner"], clients["anonymous"]
    name = acl_bucket(owner, public=True)
    owner.put_object(Bucket=name, Key="public", Body=b"for all", ACL="public-read")
    owner.put_object(Bucket=name, Key="private", Body=b"mine")
    assert anon.get_object(Bucket=name, Key="public")["Body"].read() == b"for all"
    assert anon.head_object(Bucket=name, Key="public")["ContentLength"] == 7
    assert error_of(lambda: anon.get_object(Bucket=name, Key="private"))[:2] == (403, "AccessDenied")
    # READ on the object is not READ_ACP, nor a listing of the bucket, nor a write.
    assert error_of(lambda: anon.get_object_acl(Bucket=name, Key="public"))[:2] == (403, "AccessDenied")
    assert error_of(lambda: anon.list_objects_v2(Bucket=name))[:2] == (403, "AccessDenied")
    assert error_of(lambda: anon.put_object(Bucket=name, Key="x", Body=b"x"))[:2] == (403, "AccessDenied")
    grants = owner.get_object_acl(Bucket=name, Key="public")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"} in grants
    # PutObjectAcl makes an object public, and private again.
    owner.put_object_acl(Bucket=name, Key="private", ACL="public-read")
    assert anon.get_object(Bucket=name, Key="private")["Body"].read() == b"mine"
    owner.put_object_acl(Bucket=name, Key="private", ACL="private")
    assert error_of(lambda: anon.get_object(Bucket=name, Key="private"))[0] == 403
    # IgnorePublicAcls: the grant stays but counts for nothing.
    owner.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    assert error_of(lambda: anon.get_object(Bucket=name, Key="public"))[:2] == (403, "AccessDenied")
    assert {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"} in owner.get_object_acl(
        Bucket=name, Key="public")["Grants"]
    # BlockPublicAcls: a public ACL is refused, and nothing is written.
    owner.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    assert error_of(lambda: owner.put_object(Bucket=name, Key="new", Body=b"x", ACL="public-read"))[:2] == (
        403, "AccessDenied")
    assert error_of(lambda: owner.head_object(Bucket=name, Key="new"))[0] == 404
    assert error_of(lambda: owner.put_object_acl(Bucket=name, Key="private", GrantRead=f'uri="{AUTHENTICATED}"'))[:2] == (
        403, "AccessDenied")
    assert error_of(lambda: owner.put_bucket_acl(Bucket=name, ACL="public-read"))[:2] == (403, "AccessDenied")
    assert anon.get_object(Bucket=name, Key="public")["Body"].read() == b"for all"


def test_authenticated_read_reaches_signed_callers_of_any_account_only(clients):
    owner, other, anon = clients["owner"], clients["other"], clients["anonymous"]
    name = acl_bucket(owner, public=True)
    owner.put_object(Bucket=name, Key="k", Body=b"signed", ACL="authenticated-read")
    assert other.get_object(Bucket=name, Key="k")["Body"].read() == b"signed"
    assert error_of(lambda: anon.get_object(Bucket=name, Key="k"))[0] == 403
    # A user of the owner's account is reached by the grant as by a bucket policy's "*",
    # which its own account wrote; READ is not WRITE_ACP.
    assert clients["nobody"].get_object(Bucket=name, Key="k")["Body"].read() == b"signed"
    assert error_of(lambda: clients["nobody"].put_object_acl(Bucket=name, Key="k", ACL="private"))[:2] == (
        403, "AccessDenied")


def test_bucket_grants_let_another_account_list_and_write(clients):
    owner, other = clients["owner"], clients["other"]
    name = acl_bucket(owner)
    other_id = canonical(other)
    assert error_of(lambda: other.put_object(Bucket=name, Key="theirs", Body=b"x"))[:2] == (403, "AccessDenied")
    owner.put_bucket_acl(Bucket=name, GrantRead=f'id="{other_id}"', GrantWrite=f'id="{other_id}"',
                         GrantFullControl=f'id="{canonical(owner)}"')
    other.put_object(Bucket=name, Key="theirs", Body=b"written by other")
    assert [o["Key"] for o in other.list_objects_v2(Bucket=name)["Contents"]] == ["theirs"]
    # ObjectWriter: the writer owns it, and the bucket owner cannot read it without a grant.
    acl = other.get_object_acl(Bucket=name, Key="theirs")
    assert acl["Owner"]["ID"] == other_id
    listed = owner.list_objects_v2(Bucket=name, FetchOwner=True)["Contents"]
    assert [o["Owner"]["ID"] for o in listed] == [other_id]
    assert owner.list_objects(Bucket=name)["Contents"][0]["Owner"]["ID"] == other_id
    assert owner.list_object_versions(Bucket=name)["Versions"][0]["Owner"]["ID"] == other_id
    assert error_of(lambda: owner.get_object(Bucket=name, Key="theirs"))[:2] == (403, "AccessDenied")
    other.put_object_acl(Bucket=name, Key="theirs", ACL="bucket-owner-read")
    assert owner.get_object(Bucket=name, Key="theirs")["Body"].read() == b"written by other"
    assert error_of(lambda: owner.get_object_acl(Bucket=name, Key="theirs"))[:2] == (403, "AccessDenied")
    # The bucket owner may still delete what is in its bucket.
    owner.delete_object(Bucket=name, Key="theirs")


def test_bucket_owner_preferred_takes_objects_written_with_bucket_owner_full_control(clients):
    owner, other = clients["owner"], clients["other"]
    name = acl_bucket(owner, ownership="BucketOwnerPreferred")
    owner.put_bucket_acl(Bucket=name, GrantWrite=f'id="{canonical(other)}"',
                         GrantFullControl=f'id="{canonical(owner)}"')
    other.put_object(Bucket=name, Key="given", Body=b"g", ACL="bucket-owner-full-control")
    other.put_object(Bucket=name, Key="kept", Body=b"k")
    assert owner.get_object_acl(Bucket=name, Key="given")["Owner"]["ID"] == canonical(owner)
    assert owner.get_object(Bucket=name, Key="given")["Body"].read() == b"g"
    assert other.get_object_acl(Bucket=name, Key="kept")["Owner"]["ID"] == canonical(other)
    assert error_of(lambda: owner.get_object(Bucket=name, Key="kept"))[0] == 403
    # Multipart and copies get the ACL of their own request.
    up = other.create_multipart_upload(Bucket=name, Key="mp", ACL="bucket-owner-full-control")
    part = other.upload_part(Bucket=name, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"parts")
    other.complete_multipart_upload(Bucket=name, Key="mp", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    assert owner.get_object(Bucket=name, Key="mp")["Body"].read() == b"parts"
    owner.delete_public_access_block(Bucket=name)
    owner.put_object(Bucket=name, Key="src", Body=b"s", ACL="public-read")
    owner.copy_object(Bucket=name, Key="copy", CopySource={"Bucket": name, "Key": "src"})
    assert len(owner.get_object_acl(Bucket=name, Key="copy")["Grants"]) == 1


def test_bad_acls_get_s3s_errors(clients):
    owner = clients["owner"]
    name = acl_bucket(owner)
    owner.put_object(Bucket=name, Key="k", Body=b"v")
    cases = [
        (lambda: owner.put_object_acl(Bucket=name, Key="k", ACL="private", GrantRead=f'uri="{ALL_USERS}"'),
         (400, "InvalidRequest")),
        (lambda: owner.put_object_acl(Bucket=name, Key="k", GrantRead='emailAddress="a@example.com"'),
         (400, "UnresolvableGrantByEmailAddress")),
        (lambda: owner.put_object_acl(Bucket=name, Key="k", GrantRead='id="not-an-id"'), (400, "InvalidArgument")),
        (lambda: owner.put_object_acl(Bucket=name, Key="k", GrantRead='uri="http://example.com/group"'),
         (400, "InvalidArgument")),
        (lambda: owner.put_object(Bucket=name, Key="n", Body=b"v", ACL="log-delivery-write"), (400, "InvalidArgument")),
    ]
    for call, expected in cases:
        assert error_of(call)[:2] == expected
    assert len(owner.get_object_acl(Bucket=name, Key="k")["Grants"]) == 1
    assert error_of(lambda: owner.head_object(Bucket=name, Key="n"))[0] == 404


def test_acls_last_across_a_restart(tmp_path):
    config = gateway_config(OWNER_ACCOUNT)
    srv = SealgateServer(tmp_path, name="acl-restart", config=config).start()
    try:
        owner = srv.client()
        name = acl_bucket(owner, public=True)
        owner.put_object(Bucket=name, Key="k", Body=b"still public", ACL="public-read")
        srv.stop()
        srv.start()
        anon = make_client(srv.endpoint, signature_version=UNSIGNED)
        assert anon.get_object(Bucket=name, Key="k")["Body"].read() == b"still public"
    finally:
        srv.stop()


def test_s3cmd_and_the_aws_cli_set_public_acls_where_acls_are_enabled(gw, clients, tmp_path):
    owner, anon = clients["owner"], clients["anonymous"]
    name = acl_bucket(owner, public=True)
    run = s3cmd_for(gw, tmp_path)
    f = tmp_path / "f.txt"
    f.write_text("shared")
    run("put", str(f), f"s3://{name}/f.txt")
    run("setacl", "--acl-public", f"s3://{name}/f.txt")
    assert anon.get_object(Bucket=name, Key="f.txt")["Body"].read() == b"shared"
    info = run("info", f"s3://{name}/f.txt").stdout
    assert "AllUsers" in info or "anon" in info.lower(), info
    AwsCli(gw)("s3", "cp", str(f), f"s3://{name}/cli.txt", "--acl", "public-read")
    assert anon.get_object(Bucket=name, Key="cli.txt")["Body"].read() == b"shared"


def test_rclone_uploads_public_objects_where_acls_are_enabled(gw, clients, tmp_path):
    owner, anon = clients["owner"], clients["anonymous"]
    name = acl_bucket(owner, public=True)
    run = rclone_for(gw, tmp_path)
    f = tmp_path / "r.txt"
    f.write_text("from rclone")
    done = run("copyto", str(f), f"gw:{name}/r.txt", "--s3-acl", "public-read")
    assert done.returncode == 0, done.stderr
    assert anon.get_object(Bucket=name, Key="r.txt")["Body"].read() == b"from rclone"
    done = run("copyto", str(f), f"gw:{name}/p.txt")
    assert done.returncode == 0, done.stderr
    assert error_of(lambda: anon.get_object(Bucket=name, Key="p.txt"))[0] == 403
