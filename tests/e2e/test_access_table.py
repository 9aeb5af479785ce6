"""The access model of S3 + KMS, end to end with boto3: who may read an object depends on
the S3 permissions *and*, for SSE-KMS, on the key's policy — the table every reader of the
AWS documentation expects to hold.

One account; users manager (s3:*), dev1 and dev2 (read), dev3 (no S3 permission); a
customer key that makes manager its administrator (no Decrypt) and dev1 and dev3 its users.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import SealgateServer
from kms_helpers import users_config
from helpers import ACCESS_KEY, REGION, SECRET_KEY

ACCOUNT = "444455556666"
READ = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]}
USERS = {
    "manager": ("AKIAMANAGER000000001", "manager-secret-0123456789abcdefghijklmn",
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
    "dev1": ("AKIADEV1000000000001", "dev1-secret-0123456789abcdefghijklmnopq", READ),
    "dev2": ("AKIADEV2000000000001", "dev2-secret-0123456789abcdefghijklmnopq", READ),
    "dev3": ("AKIADEV3000000000001", "dev3-secret-0123456789abcdefghijklmnopq", None),
    # Not part of the table: a writer whose key lets it generate data keys but not decrypt.
    "uploader": ("AKIAUPLOADER00000001", "uploader-secret-0123456789abcdefghijklm",
                 {"Version": "2012-10-17", "Statement": [
                     {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "*"}]}),
}


def arn(user: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{user}"


KEY_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow access for Key Administrators", "Effect": "Allow", "Principal": {"AWS": [arn("manager")]},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"],
     "Resource": "*"},
    {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": [arn("dev1"), arn("dev3")]},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
     "Resource": "*"},
]}


def config() -> str:
    return users_config(ACCOUNT, USERS)


def client(srv, service: str, user: str | None):
    ak, sk = (ACCESS_KEY, SECRET_KEY) if user is None else USERS[user][:2]
    return boto3.session.Session().client(
        service, endpoint_url=srv.endpoint, region_name=REGION, aws_access_key_id=ak, aws_secret_access_key=sk,
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "total_max_attempts": 1}))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    srv = SealgateServer(tmp_path_factory.mktemp("access-table"), name="access-table", config=config()).start()
    root_s3, root_kms = client(srv, "s3", None), client(srv, "kms", None)
    key = root_kms.create_key(Policy=json.dumps(KEY_POLICY), Description="team key")["KeyMetadata"]
    root_s3.create_bucket(Bucket="team")
    manager = client(srv, "s3", "manager")
    manager.put_object(Bucket="team", Key="s3-object", Body=b"sse-s3 data", ServerSideEncryption="AES256")
    root_s3.put_object(Bucket="team", Key="kms-object", Body=b"sse-kms data", ServerSideEncryption="aws:kms",
                       SSEKMSKeyId=key["Arn"])
    yield srv, key
    srv.stop()


def can_read(srv, user: str, key: str) -> bool | str:
    try:
        client(srv, "s3", user).get_object(Bucket="team", Key=key)["Body"].read()
        return True
    except ClientError as e:
        return e.response["Error"]["Code"]


@pytest.mark.parametrize("user,expected", [("manager", True), ("dev1", True), ("dev2", True),
                                           ("dev3", "AccessDenied")])
def test_sse_s3_object_is_readable_by_every_user_with_s3_read(world, user, expected):
    srv, _ = world
    assert can_read(srv, user, "s3-object") == expected


@pytest.mark.parametrize("user", ["manager", "dev1", "dev2", "dev3"])
def test_sse_kms_object_is_readable_by_dev1_only(world, user):
    srv, key = world
    result = can_read(srv, user, "kms-object")
    if user == "dev1":
        assert result is True
        return
    assert result == "AccessDenied"
    with pytest.raises(ClientError) as e:
        client(srv, "s3", user).get_object(Bucket="team", Key="kms-object")
    message = e.value.response["Error"]["Message"]
    if user in ("manager", "dev2"):
        # S3 allowed the read; the key said no, and the error names the action and the key.
        assert "kms:Decrypt" in message and key["Arn"] in message, message
    else:
        assert "s3:GetObject" in message, message


def test_disabling_the_key_stops_dev1_and_enabling_restores(world):
    srv, key = world
    manager_kms = client(srv, "kms", "manager")
    manager_kms.disable_key(KeyId=key["KeyId"])
    try:
        assert can_read(srv, "dev1", "kms-object") == "KMS.DisabledException"
        assert can_read(srv, "dev1", "s3-object") is True
    finally:
        manager_kms.enable_key(KeyId=key["KeyId"])
    assert can_read(srv, "dev1", "kms-object") is True


def test_manager_administers_the_key_but_cannot_use_it(world):
    srv, key = world
    manager_kms = client(srv, "kms", "manager")
    manager_kms.describe_key(KeyId=key["KeyId"])
    manager_kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "team", "TagValue": "a"}])
    with pytest.raises(ClientError) as e:
        manager_kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    # Nor write through S3 under it: S3 asks the KMS as manager.
    with pytest.raises(ClientError) as e:
        client(srv, "s3", "manager").put_object(Bucket="team", Key="m", Body=b"x", ServerSideEncryption="aws:kms",
                                                SSEKMSKeyId=key["Arn"])
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert "kms:GenerateDataKey" in e.value.response["Error"]["Message"]


def test_a_bucket_policy_demanding_the_key_refuses_other_keys_and_none(world):
    srv, key = world
    root_s3, root_kms = client(srv, "s3", None), client(srv, "kms", None)
    root_s3.create_bucket(Bucket="team-strict")
    other = root_kms.create_key()["KeyMetadata"]
    root_kms.create_alias(AliasName="alias/team", TargetKeyId=key["KeyId"])
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyOtherKeys", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::team-strict/*",
         "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key["Arn"]}}}]}
    root_s3.put_bucket_policy(Bucket="team-strict", Policy=json.dumps(policy))
    for args in [{}, {"ServerSideEncryption": "AES256"},
                 {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": other["Arn"]}]:
        with pytest.raises(ClientError) as e:
            root_s3.put_object(Bucket="team-strict", Key="x", Body=b"x", **args)
        assert e.value.response["Error"]["Code"] == "AccessDenied", args
    # The demanded key, named by ARN, id or alias (compared after alias resolution).
    for ref in [key["Arn"], key["KeyId"], "alias/team"]:
        put = root_s3.put_object(Bucket="team-strict", Key="ok", Body=b"ok", ServerSideEncryption="aws:kms",
                                 SSEKMSKeyId=ref)
        assert put["SSEKMSKeyId"] == key["Arn"]
    # dev1 may use the key but has no s3:PutObject: S3 refuses before the KMS is asked.
    with pytest.raises(ClientError) as e:
        client(srv, "s3", "dev1").put_object(Bucket="team-strict", Key="d", Body=b"x",
                                             ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_multipart_uploads_need_kms_decrypt_as_on_aws(world):
    srv, _ = world
    root_kms = client(srv, "kms", None)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": arn("uploader")}, "Action": "kms:GenerateDataKey",
         "Resource": "*"}]}
    key = root_kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]
    up = client(srv, "s3", "uploader")
    args = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key["Arn"]}
    up.put_object(Bucket="team", Key="single", Body=b"one shot", **args)
    mpu = up.create_multipart_upload(Bucket="team", Key="multi", **args)
    with pytest.raises(ClientError) as e:
        up.upload_part(Bucket="team", Key="multi", UploadId=mpu["UploadId"], PartNumber=1, Body=b"part")
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDenied"
    assert "kms:Decrypt" in err["Message"] and key["Arn"] in err["Message"], err["Message"]
    # Reading the single-part object needs kms:Decrypt as well.
    assert can_read(srv, "uploader", "single") == "AccessDenied"


def test_the_aws_managed_key_works_only_through_s3(world):
    """alias/aws/s3's policy lets any principal of the account use it via S3
    (kms:ViaService), so S3 read permission suffices for its objects; the same principals
    cannot use it directly."""
    srv, _ = world
    manager = client(srv, "s3", "manager")
    put = manager.put_object(Bucket="team", Key="managed-key", Body=b"aws/s3", ServerSideEncryption="aws:kms")
    managed = client(srv, "kms", None).describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert put["SSEKMSKeyId"] == managed["Arn"]
    assert can_read(srv, "dev2", "managed-key") is True
    assert can_read(srv, "dev3", "managed-key") == "AccessDenied"
    with pytest.raises(ClientError) as e:
        client(srv, "kms", "manager").generate_data_key(KeyId="alias/aws/s3", KeySpec="AES_256")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
