"""S3 authorization as AWS decides it: identity policies of IAM users, bucket policies
(explicit deny wins, anonymous access only through a public policy), the condition keys S3
fills from a request, sealgate's effective-encryption keys, and the bucket policy API."""

from __future__ import annotations

import json

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from conftest import AwsCli, make_client
from kms_helpers import users_config
from helpers import unique_bucket

ACCOUNT = "111122223333"

READ_WRITE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:ListAllMyBuckets",
                                   "s3:DeleteObject"], "Resource": "*"},
    {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::*/keep/*"},
]}
PREFIX_LISTER = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*",
     "Condition": {"StringEquals": {"s3:prefix": "public/"}}},
]}
USERS = {
    "alice": ("AKIAALICEEXAMPLE0001", "alice/secret/0123456789abcdefghijklmn", READ_WRITE),
    "bob": ("AKIABOBEXAMPLE000001", "bob/secret/0123456789abcdefghijklmnop", None),
    "lister": ("AKIALISTEREXAMPLE001", "lister/secret/0123456789abcdefghijkl", PREFIX_LISTER),
}


def arn(user: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{user}"


def config() -> str:
    return users_config(ACCOUNT, USERS)


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    from conftest import SealgateServer

    s = SealgateServer(tmp_path_factory.mktemp("access"), name="access", config=config()).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def root(gw):
    return gw.client()


def user(gw, name):
    ak, sk, _ = USERS[name]
    return make_client(gw.endpoint, access_key=ak, secret_key=sk)


@pytest.fixture
def bkt(root, request):
    name = unique_bucket(request.node.name)
    root.create_bucket(Bucket=name)
    return name


def put_policy(client, bucket, *statements):
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def denied(fn, message: str | None = None, status: int = 403, code: str = "AccessDenied"):
    with pytest.raises(ClientError) as e:
        fn()
    err = e.value.response["Error"]
    assert err["Code"] == code, e.value.response
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    if message is not None:
        assert err["Message"] == message, err["Message"]
    return err


def test_identity_policies_decide_for_users(gw, root, bkt):
    alice, bob = user(gw, "alice"), user(gw, "bob")
    alice.put_object(Bucket=bkt, Key="a.txt", Body=b"hi")
    assert alice.get_object(Bucket=bkt, Key="a.txt")["Body"].read() == b"hi"
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=bkt)["Contents"]] == ["a.txt"]
    alice.put_object(Bucket=bkt, Key="keep/x", Body=b"x")
    denied(lambda: alice.delete_object(Bucket=bkt, Key="keep/x"),
           f'User: {arn("alice")} is not authorized to perform: s3:DeleteObject on resource: '
           f'"arn:aws:s3:::{bkt}/keep/x" with an explicit deny in an identity-based policy')
    alice.delete_object(Bucket=bkt, Key="a.txt")
    # Not granted at all: versioning configuration.
    denied(lambda: alice.get_bucket_versioning(Bucket=bkt))
    denied(lambda: bob.get_object(Bucket=bkt, Key="keep/x"),
           f'User: {arn("bob")} is not authorized to perform: s3:GetObject on resource: '
           f'"arn:aws:s3:::{bkt}/keep/x" because no identity-based policy allows the s3:GetObject action')
    denied(lambda: bob.list_buckets())
    # HEAD errors carry no body, but the status is S3's.
    with pytest.raises(ClientError) as e:
        bob.head_object(Bucket=bkt, Key="keep/x")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_delete_objects_reports_denied_keys_one_by_one(gw, root, bkt):
    alice = user(gw, "alice")
    for k in ("free", "keep/1"):
        root.put_object(Bucket=bkt, Key=k, Body=b"x")
    r = alice.delete_objects(Bucket=bkt, Delete={"Objects": [{"Key": "free"}, {"Key": "keep/1"}]})
    assert [d["Key"] for d in r.get("Deleted", [])] == ["free"]
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("keep/1", "AccessDenied")]
    assert [o["Key"] for o in root.list_objects_v2(Bucket=bkt)["Contents"]] == ["keep/1"]


def test_copy_needs_read_on_the_source_and_write_on_the_destination(gw, root, bkt):
    lister = user(gw, "lister")
    root.put_object(Bucket=bkt, Key="src", Body=b"data")
    put_policy(root, bkt, {"Effect": "Allow", "Principal": {"AWS": arn("lister")}, "Action": "s3:PutObject",
                           "Resource": f"arn:aws:s3:::{bkt}/*"})
    err = denied(lambda: lister.copy_object(Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"}))
    assert "s3:GetObject" in err["Message"] and f"arn:aws:s3:::{bkt}/src" in err["Message"]
    put_policy(root, bkt, {"Effect": "Allow", "Principal": {"AWS": arn("lister")},
                           "Action": ["s3:PutObject", "s3:GetObject"], "Resource": f"arn:aws:s3:::{bkt}/*"})
    lister.copy_object(Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"})
    assert root.get_object(Bucket=bkt, Key="dst")["Body"].read() == b"data"


def test_bucket_policy_grants_a_user_without_identity_policy(gw, root, bkt):
    bob = user(gw, "bob")
    root.put_object(Bucket=bkt, Key="doc", Body=b"shared")
    denied(lambda: bob.get_object(Bucket=bkt, Key="doc"))
    put_policy(root, bkt, {"Effect": "Allow", "Principal": {"AWS": arn("bob")}, "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{bkt}/*"})
    assert bob.get_object(Bucket=bkt, Key="doc")["Body"].read() == b"shared"
    denied(lambda: bob.put_object(Bucket=bkt, Key="doc", Body=b"no"))


def test_explicit_deny_in_bucket_policy_beats_root_but_root_keeps_the_policy(gw, root, bkt):
    root.put_object(Bucket=bkt, Key="k", Body=b"x")
    put_policy(root, bkt, {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                           "Resource": [f"arn:aws:s3:::{bkt}", f"arn:aws:s3:::{bkt}/*"]})
    denied(lambda: root.get_object(Bucket=bkt, Key="k"),
           f'User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: s3:GetObject on resource: '
           f'"arn:aws:s3:::{bkt}/k" with an explicit deny in a resource-based policy')
    denied(lambda: root.list_objects_v2(Bucket=bkt))
    # The account's root user can always read, replace and delete its bucket's policy.
    assert "Deny" in root.get_bucket_policy(Bucket=bkt)["Policy"]
    root.delete_bucket_policy(Bucket=bkt)
    assert root.get_object(Bucket=bkt, Key="k")["Body"].read() == b"x"


def test_anonymous_reads_only_through_a_public_policy(gw, root, bkt):
    anon = make_client(gw.endpoint, signature_version=UNSIGNED)
    root.put_object(Bucket=bkt, Key="pub/index.html", Body=b"<h1>hi</h1>")
    denied(lambda: anon.get_object(Bucket=bkt, Key="pub/index.html"), "Access Denied")
    # New buckets block public policies, as on S3; the owner lifts that first.
    root.delete_public_access_block(Bucket=bkt)
    put_policy(root, bkt, {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{bkt}/pub/*"})
    assert root.get_bucket_policy_status(Bucket=bkt)["PolicyStatus"]["IsPublic"] is True
    assert anon.get_object(Bucket=bkt, Key="pub/index.html")["Body"].read() == b"<h1>hi</h1>"
    denied(lambda: anon.list_objects_v2(Bucket=bkt), "Access Denied")
    denied(lambda: anon.put_object(Bucket=bkt, Key="pub/evil", Body=b"x"), "Access Denied")
    # An unsigned request names no region, so no client region is wrong for it.
    wrong = make_client(gw.endpoint, signature_version=UNSIGNED, region="eu-west-1")
    assert wrong.get_object(Bucket=bkt, Key="pub/index.html")["Body"].read()


def test_secure_transport_deny_refuses_plain_http(gw, root, bkt):
    put_policy(root, bkt, {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                           "Resource": [f"arn:aws:s3:::{bkt}", f"arn:aws:s3:::{bkt}/*"],
                           "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    denied(lambda: root.put_object(Bucket=bkt, Key="k", Body=b"x"))
    root.delete_bucket_policy(Bucket=bkt)


def test_secure_transport_deny_lets_tls_through(server_factory):
    srv = server_factory("tls-access", tls=True, config=config())
    root = srv.client()
    name = unique_bucket("tls")
    root.create_bucket(Bucket=name)
    put_policy(root, name, {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                            "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    root.put_object(Bucket=name, Key="k", Body=b"x")


def test_source_ip_conditions(gw, root, bkt):
    bob = user(gw, "bob")
    root.put_object(Bucket=bkt, Key="k", Body=b"x")
    put_policy(root, bkt, {"Effect": "Allow", "Principal": {"AWS": arn("bob")}, "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{bkt}/*",
                           "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})
    denied(lambda: bob.get_object(Bucket=bkt, Key="k"))
    assert root.get_bucket_policy_status(Bucket=bkt)["PolicyStatus"]["IsPublic"] is False
    put_policy(root, bkt, {"Effect": "Allow", "Principal": {"AWS": arn("bob")}, "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{bkt}/*",
                           "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}})
    assert bob.get_object(Bucket=bkt, Key="k")["Body"].read() == b"x"
    put_policy(root, bkt, {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{bkt}/*",
                           "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}})
    denied(lambda: root.get_object(Bucket=bkt, Key="k"))


def test_prefix_condition_on_list_objects(gw, root, bkt):
    lister = user(gw, "lister")
    root.put_object(Bucket=bkt, Key="public/a", Body=b"x")
    root.put_object(Bucket=bkt, Key="private/b", Body=b"x")
    r = lister.list_objects_v2(Bucket=bkt, Prefix="public/")
    assert [o["Key"] for o in r["Contents"]] == ["public/a"]
    denied(lambda: lister.list_objects_v2(Bucket=bkt))
    denied(lambda: lister.list_objects_v2(Bucket=bkt, Prefix="private/"))


DENY_UNENCRYPTED = [
    {"Sid": "DenyWrongEncryption", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
     "Resource": "BUCKET/*", "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}},
    {"Sid": "DenyNoEncryptionHeader", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
     "Resource": "BUCKET/*", "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}},
]


def statements_for(bucket, statements):
    return [json.loads(json.dumps(s).replace("BUCKET", f"arn:aws:s3:::{bucket}")) for s in statements]


def test_deny_uploads_without_the_sse_header(gw, root, bkt):
    put_policy(root, bkt, *statements_for(bkt, DENY_UNENCRYPTED))
    err = denied(lambda: root.put_object(Bucket=bkt, Key="plain", Body=b"x"))
    assert "explicit deny in a resource-based policy" in err["Message"]
    root.put_object(Bucket=bkt, Key="enc", Body=b"x", ServerSideEncryption="AES256")
    # The header-only keys refuse every UploadPart: parts carry no SSE header.
    up = root.create_multipart_upload(Bucket=bkt, Key="mp", ServerSideEncryption="AES256")
    denied(lambda: root.upload_part(Bucket=bkt, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"x"))
    root.abort_multipart_upload(Bucket=bkt, Key="mp", UploadId=up["UploadId"])


EFFECTIVE_AES256 = [
    {"Sid": "RequireSseS3", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "BUCKET/*",
     "Condition": {"StringNotEquals": {"sealgate:EffectiveServerSideEncryption": "AES256"}}},
]


def test_effective_encryption_allows_default_encrypted_puts_and_parts(gw, root, bkt):
    put_policy(root, bkt, *statements_for(bkt, EFFECTIVE_AES256))
    root.put_object(Bucket=bkt, Key="default", Body=b"x")
    root.put_object(Bucket=bkt, Key="explicit", Body=b"x", ServerSideEncryption="AES256")
    up = root.create_multipart_upload(Bucket=bkt, Key="mp")
    part = root.upload_part(Bucket=bkt, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"x" * 1024)
    root.complete_multipart_upload(Bucket=bkt, Key="mp", UploadId=up["UploadId"],
                                   MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    root.copy_object(Bucket=bkt, Key="copy", CopySource={"Bucket": bkt, "Key": "default"})
    assert root.head_object(Bucket=bkt, Key="mp")["ServerSideEncryption"] == "AES256"


def test_effective_encryption_refuses_sse_c(server_factory):
    srv = server_factory("ssec-access", tls=True, config=config())
    root = srv.client()
    name = unique_bucket("ssec")
    root.create_bucket(Bucket=name)
    put_policy(root, name, *statements_for(name, EFFECTIVE_AES256))
    key = b"k" * 32
    denied(lambda: root.put_object(Bucket=name, Key="c", Body=b"x", SSECustomerAlgorithm="AES256",
                                   SSECustomerKey=key))
    root.put_object(Bucket=name, Key="s3", Body=b"x")


def test_bucket_policy_api(gw, root, bkt):
    denied(lambda: root.get_bucket_policy(Bucket=bkt), "The bucket policy does not exist", 404, "NoSuchBucketPolicy")
    denied(lambda: root.get_bucket_policy_status(Bucket=bkt), None, 404, "NoSuchBucketPolicy")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": arn("bob")}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bkt}/*"}]}, indent=2)
    root.put_bucket_policy(Bucket=bkt, Policy=doc)
    assert root.get_bucket_policy(Bucket=bkt)["Policy"] == doc
    assert root.get_bucket_policy_status(Bucket=bkt)["PolicyStatus"]["IsPublic"] is False
    root.delete_bucket_policy(Bucket=bkt)
    denied(lambda: root.get_bucket_policy(Bucket=bkt), None, 404, "NoSuchBucketPolicy")

    def malformed(policy, message):
        denied(lambda: root.put_bucket_policy(Bucket=bkt, Policy=policy), message, 400, "MalformedPolicy")

    malformed("not json", "Policies must be valid JSON and the first byte must be '{'")
    stmt = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bkt}/*"}
    malformed(json.dumps({"Statement": [{**stmt, "Resource": "arn:aws:s3:::other-bucket/*"}]}),
              "Policy has invalid resource")
    malformed(json.dumps({"Statement": [{**stmt, "Action": "kms:Decrypt"}]}), "Policy has invalid action")
    no_principal = {k: v for k, v in stmt.items() if k != "Principal"}
    malformed(json.dumps({"Statement": [no_principal]}), None)
    malformed(json.dumps({"Statement": [{**stmt, "Condition": {"StringEqualz": {"aws:username": "x"}}}]}), None)
    malformed(json.dumps({"Statement": [{**stmt, "Sid": "x" * 21000}]}), "Policies cannot exceed 20 KiB")
    denied(lambda: root.get_bucket_policy(Bucket=bkt), None, 404, "NoSuchBucketPolicy")
    denied(lambda: root.put_bucket_policy(Bucket=unique_bucket("gone"), Policy=json.dumps({"Statement": [stmt]})),
           None, 404, "NoSuchBucket")


def test_users_need_policy_permissions_for_the_policy_api(gw, root, bkt):
    alice = user(gw, "alice")
    denied(lambda: alice.get_bucket_policy(Bucket=bkt))
    stmt = {"Effect": "Allow", "Principal": {"AWS": arn("alice")},
            "Action": ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:GetBucketPolicyStatus"],
            "Resource": f"arn:aws:s3:::{bkt}"}
    put_policy(root, bkt, stmt)
    assert "GetBucketPolicy" in alice.get_bucket_policy(Bucket=bkt)["Policy"]
    assert alice.get_bucket_policy_status(Bucket=bkt)["PolicyStatus"]["IsPublic"] is False
    denied(lambda: alice.delete_bucket_policy(Bucket=bkt))


def test_aws_cli_put_and_get_bucket_policy(gw, root, bkt, tmp_path):
    cli = AwsCli(gw)
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadForBob", "Effect": "Allow", "Principal": {"AWS": arn("bob")}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bkt}/*"}]}
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    cli("s3api", "put-bucket-policy", "--bucket", bkt, "--policy", f"file://{path}")
    got = cli.json("s3api", "get-bucket-policy", "--bucket", bkt)
    assert json.loads(got["Policy"]) == doc
    status = cli.json("s3api", "get-bucket-policy-status", "--bucket", bkt)
    assert status["PolicyStatus"]["IsPublic"] is False
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**doc, "Statement": [{**doc["Statement"][0], "Resource": "arn:aws:s3:::x/*"}]}))
    r = cli("s3api", "put-bucket-policy", "--bucket", bkt, "--policy", f"file://{bad}", check=False)
    assert r.returncode != 0 and "MalformedPolicy" in r.stderr_text


def test_listings_show_the_owning_account(gw, root, bkt):
    owner = root.list_buckets()["Owner"]
    assert owner["ID"] and len(owner["ID"]) == 64
    root.put_object(Bucket=bkt, Key="k", Body=b"x")
    listed = root.list_objects_v2(Bucket=bkt, FetchOwner=True)["Contents"][0]["Owner"]
    assert listed["ID"] == owner["ID"]
    assert bkt in [b["Name"] for b in user(gw, "alice").list_buckets()["Buckets"]]
