"""Block Public Access as S3 has it: every new bucket blocks public access; the owner reads,
changes and deletes the four settings; BlockPublicPolicy refuses a public bucket policy,
RestrictPublicBuckets keeps one from reaching anyone outside the owner's account (and the
policy status says so). Through boto3 and the aws CLI, with anonymous and cross-account
callers."""

from __future__ import annotations

import json

import pytest
from botocore import UNSIGNED

from conftest import AwsCli, SealgateServer, make_client
from helpers import error_of, gateway_config, unique_bucket

ACCOUNT = "121212121212"
OTHER = "343434343434"
OTHER_ROOT = ("AKIAPABOTHERROOT0001", "pab-other-root-secret-0123456789abcdef")
CAROL = ("AKIAPABCAROL00000001", "pab-carol-secret-0123456789abcdefghijk")
SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
ALL_BLOCKED = dict.fromkeys(SETTINGS, True)


def config() -> str:
    # carol may read objects, and nothing about public access.
    carol = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]}
    return gateway_config(ACCOUNT, accounts={OTHER: OTHER_ROOT}, users={"carol": (*CAROL, carol)})


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    s = SealgateServer(tmp_path_factory.mktemp("pab"), name="pab", config=config()).start()
    yield s
    s.stop()


@pytest.fixture
def owner(gw):
    return gw.client()


@pytest.fixture
def bkt(owner, request):
    name = unique_bucket(request.node.name)
    owner.create_bucket(Bucket=name)
    owner.put_object(Bucket=name, Key="pub/page.html", Body=b"<p>hello</p>")
    return name


def public_read(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/pub/*"}]})


def settings_of(client, bucket: str) -> dict:
    return client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]


def test_a_new_bucket_blocks_all_public_access(owner, bkt, gw):
    assert settings_of(owner, bkt) == ALL_BLOCKED
    cli = AwsCli(gw)
    shown = json.loads(cli("s3api", "get-public-access-block", "--bucket", bkt).stdout)
    assert shown["PublicAccessBlockConfiguration"] == ALL_BLOCKED


def test_a_public_policy_is_refused_while_blocked(owner, bkt):
    status, code, message = error_of(lambda: owner.put_bucket_policy(Bucket=bkt, Policy=public_read(bkt)))
    assert (status, code) == (403, "AccessDenied")
    assert message == (
        f'User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: s3:PutBucketPolicy on resource: '
        f'"arn:aws:s3:::{bkt}" because public policies are prevented by the BlockPublicPolicy setting in '
        "S3 Block Public Access.")
    assert error_of(lambda: owner.get_bucket_policy(Bucket=bkt))[:2] == (404, "NoSuchBucketPolicy")
    # A policy naming who it grants is not public, and goes in.
    named = public_read(bkt).replace('"Principal": "*"', f'"Principal": {{"AWS": "arn:aws:iam::{OTHER}:root"}}')
    owner.put_bucket_policy(Bucket=bkt, Policy=named)
    assert owner.get_bucket_policy_status(Bucket=bkt)["PolicyStatus"]["IsPublic"] is False


def test_deleting_the_settings_lets_a_public_policy_reach_anyone(owner, bkt, gw):
    anon = make_client(gw.endpoint, signature_version=UNSIGNED)
    owner.delete_public_access_block(Bucket=bkt)
    assert error_of(lambda: owner.get_public_access_block(Bucket=bkt)) == (
        404, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
    owner.put_bucket_policy(Bucket=bkt, Policy=public_read(bkt))
    assert owner.get_bucket_policy_status(Bucket=bkt)["PolicyStatus"]["IsPublic"] is True
    assert anon.get_object(Bucket=bkt, Key="pub/page.html")["Body"].read() == b"<p>hello</p>"
    # Blocking public policies later keeps the one in place (S3 refuses only new ones).
    owner.put_public_access_block(Bucket=bkt, PublicAccessBlockConfiguration={"BlockPublicPolicy": True})
    assert settings_of(owner, bkt) == {**dict.fromkeys(SETTINGS, False), "BlockPublicPolicy": True}
    assert anon.get_object(Bucket=bkt, Key="pub/page.html")["Body"].read() == b"<p>hello</p>"
    assert error_of(lambda: owner.put_bucket_policy(Bucket=bkt, Policy=public_read(bkt)))[:2] == (403, "AccessDenied")


def test_restrict_public_buckets_keeps_a_public_policy_inside_the_account(owner, bkt, gw):
    anon = make_client(gw.endpoint, signature_version=UNSIGNED)
    other = make_client(gw.endpoint, access_key=OTHER_ROOT[0], secret_key=OTHER_ROOT[1])
    carol = make_client(gw.endpoint, access_key=CAROL[0], secret_key=CAROL[1])
    owner.delete_public_access_block(Bucket=bkt)
    owner.put_bucket_policy(Bucket=bkt, Policy=public_read(bkt))
    assert other.get_object(Bucket=bkt, Key="pub/page.html")["Body"].read() == b"<p>hello</p>"

    # Through the aws CLI, with the shorthand syntax its users type.
    AwsCli(gw)("s3api", "put-public-access-block", "--bucket", bkt, "--public-access-block-configuration",
                   "RestrictPublicBuckets=true")
    assert owner.get_bucket_policy_status(Bucket=bkt)["PolicyStatus"]["IsPublic"] is False
    assert error_of(lambda: anon.get_object(Bucket=bkt, Key="pub/page.html"))[:2] == (403, "AccessDenied")
    status, code, message = error_of(lambda: other.get_object(Bucket=bkt, Key="pub/page.html"))
    assert (status, code) == (403, "AccessDenied")
    assert "because no resource-based policy allows the s3:GetObject action" in message
    # The owner's account is not restricted: its root and its users keep their access.
    assert owner.get_object(Bucket=bkt, Key="pub/page.html")["Body"].read() == b"<p>hello</p>"
    assert carol.get_object(Bucket=bkt, Key="pub/page.html")["Body"].read() == b"<p>hello</p>"

    owner.put_public_access_block(Bucket=bkt, PublicAccessBlockConfiguration={"RestrictPublicBuckets": False})
    assert anon.get_object(Bucket=bkt, Key="pub/page.html")["Body"].read() == b"<p>hello</p>"


def test_the_settings_need_their_own_permissions(owner, bkt, gw):
    carol = make_client(gw.endpoint, access_key=CAROL[0], secret_key=CAROL[1])
    for call, action in [
        (lambda: carol.get_public_access_block(Bucket=bkt), "s3:GetBucketPublicAccessBlock"),
        (lambda: carol.delete_public_access_block(Bucket=bkt), "s3:PutBucketPublicAccessBlock"),
        (lambda: carol.put_public_access_block(
            Bucket=bkt, PublicAccessBlockConfiguration={"BlockPublicPolicy": False}), "s3:PutBucketPublicAccessBlock"),
    ]:
        status, code, message = error_of(call)
        assert (status, code) == (403, "AccessDenied")
        assert action in message
    assert settings_of(owner, bkt) == ALL_BLOCKED


def test_the_settings_of_a_missing_bucket(owner):
    missing = unique_bucket("no-such-pab")
    assert error_of(lambda: owner.get_public_access_block(Bucket=missing))[:2] == (404, "NoSuchBucket")
    assert error_of(lambda: owner.put_public_access_block(
        Bucket=missing, PublicAccessBlockConfiguration={"BlockPublicPolicy": True}))[:2] == (404, "NoSuchBucket")


def test_the_settings_survive_a_restart(tmp_path):
    srv = SealgateServer(tmp_path, name="pab-restart", config=config()).start()
    try:
        s3 = srv.client()
        name = unique_bucket("pab-restart")
        s3.create_bucket(Bucket=name)
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False})
        srv.stop()
        srv.start()
        assert settings_of(srv.client(), name) == {
            "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False}
    finally:
        srv.stop()
