"""The IAM API on the gateway's port, driven by boto3's `iam` client and `aws iam`: users,
access keys, inline and managed policies, groups, and a second account from the config —
each change taking effect at once for S3, the KMS and IAM itself, and surviving restarts."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import AwsCli, SealgateServer
from helpers import ACCESS_KEY, REGION, SECRET_KEY, gateway_config

ACCOUNT = "777788889999"
OTHER = "222233334444"
OTHER_ROOT = ("AKIAOTHERROOT0000001", "other-root-secret-0123456789abcdefghij")
CFG_USER = ("AKIACFGUSER000000001", "cfg-user-secret-0123456789abcdefghijkl")


def config() -> str:
    policy = allow("iam:GetUser", "iam:CreateAccessKey", "iam:ListUserPolicies",
                   resource=f"arn:aws:iam::{ACCOUNT}:user/cfguser")
    return gateway_config(ACCOUNT, accounts={OTHER: OTHER_ROOT}, users={"cfguser": (*CFG_USER, policy)})


def allow(*actions: str, resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]})


def client(srv, service: str, ak: str = ACCESS_KEY, sk: str = SECRET_KEY):
    return boto3.session.Session().client(
        service, endpoint_url=srv.endpoint, region_name=REGION, aws_access_key_id=ak, aws_secret_access_key=sk,
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "total_max_attempts": 1}))


def error(fn) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as e:
        fn()
    r = e.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message", "")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = SealgateServer(tmp_path_factory.mktemp("iam"), name="iam", config=config()).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def iam(srv):
    return client(srv, "iam")


def unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns() % 10**10}"


def new_user(iam, policy: str | None = None):
    name = unique("u")
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key["AccessKeyId"], key["SecretAccessKey"]


def test_a_new_users_key_works_at_once_for_the_kms_and_s3(srv, iam):
    name, ak, sk = new_user(iam, allow("kms:ListKeys", "s3:CreateBucket", "s3:PutObject", "s3:GetObject"))
    user = iam.get_user(UserName=name)["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}" and user["UserId"].startswith("AIDA")
    assert ak.startswith("AKIA") and len(ak) == 20 and len(sk) == 40
    client(srv, "kms", ak, sk).list_keys()
    s3 = client(srv, "s3", ak, sk)
    bucket = unique("iam-b")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"by an IAM user")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"by an IAM user"
    code, status, message = error(lambda: client(srv, "kms", ak, sk).create_key())
    assert (code, status) == ("AccessDeniedException", 400)
    # Deleting the policy takes effect at once.
    iam.delete_user_policy(UserName=name, PolicyName="p")
    assert error(lambda: client(srv, "kms", ak, sk).list_keys())[0] == "AccessDeniedException"


def test_inactive_and_deleted_keys_stop_authenticating(srv, iam):
    name, ak, sk = new_user(iam, allow("kms:ListKeys"))
    iam.update_access_key(UserName=name, AccessKeyId=ak, Status="Inactive")
    assert error(lambda: client(srv, "kms", ak, sk).list_keys())[0] == "UnrecognizedClientException"
    meta = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [(m["AccessKeyId"], m["Status"]) for m in meta] == [(ak, "Inactive")]
    iam.update_access_key(UserName=name, AccessKeyId=ak, Status="Active")
    client(srv, "kms", ak, sk).list_keys()
    iam.delete_access_key(UserName=name, AccessKeyId=ak)
    assert error(lambda: client(srv, "kms", ak, sk).list_keys())[0] == "UnrecognizedClientException"
    assert error(lambda: client(srv, "s3", ak, sk).list_buckets())[0] == "InvalidAccessKeyId"


def test_users_without_iam_permissions_are_denied_and_with_them_allowed(srv, iam):
    _, ak, sk = new_user(iam)
    code, status, message = error(lambda: client(srv, "iam", ak, sk).create_user(UserName="x"))
    assert (code, status) == ("AccessDenied", 403)
    assert "iam:CreateUser" in message and f"arn:aws:iam::{ACCOUNT}:user/x" in message
    admin, ak2, sk2 = new_user(iam, allow("iam:CreateUser", "iam:GetUser", "iam:DeleteUser"))
    admin_iam = client(srv, "iam", ak2, sk2)
    made = unique("made")
    admin_iam.create_user(UserName=made)
    assert admin_iam.get_user()["User"]["UserName"] == admin, "GetUser without a name is the caller"
    assert error(lambda: admin_iam.list_users())[0] == "AccessDenied"
    admin_iam.delete_user(UserName=made)


def test_managed_policies_and_groups_grant_permissions(srv, iam):
    name, ak, sk = new_user(iam)
    kms = client(srv, "kms", ak, sk)
    pol = iam.create_policy(PolicyName=unique("ListKeys"), PolicyDocument=allow("kms:ListKeys"),
                            Description="list keys")["Policy"]
    assert pol["Arn"] == f"arn:aws:iam::{ACCOUNT}:policy/{pol['PolicyName']}" and pol["DefaultVersionId"] == "v1"
    iam.attach_user_policy(UserName=name, PolicyArn=pol["Arn"])
    kms.list_keys()
    attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    assert attached == [{"PolicyName": pol["PolicyName"], "PolicyArn": pol["Arn"]}]
    assert iam.get_policy(PolicyArn=pol["Arn"])["Policy"]["AttachmentCount"] == 1
    doc = iam.get_policy_version(PolicyArn=pol["Arn"], VersionId="v1")["PolicyVersion"]["Document"]
    assert doc["Statement"][0]["Action"] == ["kms:ListKeys"]
    assert error(lambda: iam.delete_policy(PolicyArn=pol["Arn"]))[:2] == ("DeleteConflict", 409)
    iam.detach_user_policy(UserName=name, PolicyArn=pol["Arn"])
    assert error(lambda: kms.list_keys())[0] == "AccessDeniedException"

    group = unique("g")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=name)
    iam.put_group_policy(GroupName=group, PolicyName="gp", PolicyDocument=allow("kms:ListKeys"))
    kms.list_keys()
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]] == [group]
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [name]
    assert error(lambda: iam.delete_group(GroupName=group))[0] == "DeleteConflict"
    iam.remove_user_from_group(GroupName=group, UserName=name)
    assert error(lambda: kms.list_keys())[0] == "AccessDeniedException"
    iam.delete_group_policy(GroupName=group, PolicyName="gp")
    iam.delete_group(GroupName=group)
    iam.delete_policy(PolicyArn=pol["Arn"])


def test_a_user_with_a_path_is_the_principal_its_arn_names(srv, iam):
    name = unique("pathed")
    user = iam.create_user(UserName=name, Path="/team/a/")["User"]
    arn = f"arn:aws:iam::{ACCOUNT}:user/team/a/{name}"
    assert user["Arn"] == arn and user["Path"] == "/team/a/"
    key = iam.create_access_key(UserName=name)["AccessKey"]
    s3 = client(srv, "s3")
    bucket = unique("pathed-b")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"for the team")
    theirs = client(srv, "s3", key["AccessKeyId"], key["SecretAccessKey"])
    code, _, message = error(lambda: theirs.get_object(Bucket=bucket, Key="k"))
    assert code == "AccessDenied"
    # A bucket policy naming the user by the ARN IAM reported grants it.
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": arn}, "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    assert theirs.get_object(Bucket=bucket, Key="k")["Body"].read() == b"for the team"
    code, _, message = error(lambda: client(srv, "iam", key["AccessKeyId"], key["SecretAccessKey"]).list_users())
    assert code == "AccessDenied" and f"User: {arn} is not authorized" in message


def test_inline_policies_read_back_as_aws_returns_them(iam):
    name, _, _ = new_user(iam, allow("s3:GetObject", resource="arn:aws:s3:::b/*"))
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["p"]
    doc = iam.get_user_policy(UserName=name, PolicyName="p")["PolicyDocument"]
    assert doc["Statement"][0]["Resource"] == "arn:aws:s3:::b/*"
    assert any(u["UserName"] == name for u in iam.list_users()["Users"])


def test_unhappy_paths_answer_as_aws(iam):
    assert error(lambda: iam.get_user(UserName="nobody-here"))[:2] == ("NoSuchEntity", 404)
    name, ak, _ = new_user(iam)
    assert error(lambda: iam.create_user(UserName=name))[:2] == ("EntityAlreadyExists", 409)
    assert error(lambda: iam.create_user(UserName="cfguser"))[:2] == ("EntityAlreadyExists", 409)
    code, status, message = error(lambda: iam.put_user_policy(UserName=name, PolicyName="bad",
                                                               PolicyDocument='{"Statement": [{"Effect": "Maybe"}]}'))
    assert (code, status) == ("MalformedPolicyDocument", 400)
    iam.create_access_key(UserName=name)
    assert error(lambda: iam.create_access_key(UserName=name))[:2] == ("LimitExceeded", 409)
    assert error(lambda: iam.delete_user(UserName=name))[:2] == ("DeleteConflict", 409)
    assert error(lambda: iam.create_user(UserName="bad name!"))[:2] == ("ValidationError", 400)
    for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    iam.delete_user(UserName=name)
    assert error(lambda: iam.get_user(UserName=name))[0] == "NoSuchEntity"


def test_config_users_are_visible_but_managed_in_the_config(srv, iam):
    # A config user may ask who it is, as its config policies allow...
    cfg_iam = client(srv, "iam", *CFG_USER)
    me = cfg_iam.get_user()["User"]
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/cfguser" and me["UserId"].startswith("AIDA")
    assert iam.get_user(UserName="cfguser")["User"] == me
    assert iam.get_user(UserName="CFGUSER")["User"]["UserName"] == "cfguser", "names ignore case"
    assert "cfguser" in [u["UserName"] for u in iam.list_users()["Users"]]
    # ...but its key, policies and groups are the config's.
    for call in (lambda: iam.create_access_key(UserName="cfguser"),
                 lambda: cfg_iam.create_access_key(),
                 lambda: cfg_iam.list_user_policies(UserName="cfguser"),
                 lambda: iam.put_user_policy(UserName="cfguser", PolicyName="p", PolicyDocument=allow("kms:*")),
                 lambda: iam.list_user_policies(UserName="cfguser"),
                 lambda: iam.delete_user(UserName="cfguser")):
        code, status, message = error(call)
        assert (code, status) == ("UnmodifiableEntity", 400) and "config" in message
    assert error(lambda: iam.create_user(UserName="CfgUser"))[:2] == ("EntityAlreadyExists", 409)


def test_unknown_keys_and_bad_signatures_are_refused(srv):
    code, status, _ = error(lambda: client(srv, "iam", "AKIANOSUCHKEY0000000", SECRET_KEY).list_users())
    assert (code, status) == ("InvalidClientTokenId", 403)
    code, status, _ = error(lambda: client(srv, "iam", ACCESS_KEY, "not-the-secret").list_users())
    assert (code, status) == ("SignatureDoesNotMatch", 403)


def test_state_survives_a_restart_and_rests_sealed(tmp_path):
    srv = SealgateServer(tmp_path, name="iam-restart", config=config()).start()
    try:
        iam = client(srv, "iam")
        name, ak, sk = new_user(iam, allow("kms:ListKeys"))
        srv.restart(kill=True)
        iam = client(srv, "iam")
        assert iam.get_user(UserName=name)["User"]["UserName"] == name
        assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["p"]
        client(srv, "kms", ak, sk).list_keys()
        for path in srv.at_rest_files():
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # a temporary file renamed meanwhile; read under its new name
            assert sk.encode() not in data, path
            # The audit trail names who was changed; the IAM state itself rests sealed.
            if srv.data_dir / "audit" not in path.parents:
                assert name.encode() not in data, path
        if not srv.database_url:
            assert (srv.data_dir / "iam.sealed").stat().st_mode & 0o077 == 0
    finally:
        srv.stop()


def test_iam_changes_are_audited(srv, iam):
    name, _, _ = new_user(iam)
    lines = []
    for path in sorted((srv.data_dir / "audit").glob("audit-*.log")):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    ops = [r["operation"] for r in lines if r["service"] == "iam"]
    assert "iam:CreateUser" in ops and "iam:CreateAccessKey" in ops
    assert "iam:GetUser" not in ops, "reads change nothing and are not recorded"
    last = [r for r in lines if r["service"] == "iam"][-2:]
    assert [(r["operation"], r["principal"], r["result"]) for r in last] == [
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:root", "Success"),
        ("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:root", "Success")]


def test_a_second_account_from_the_config(srv, iam):
    other_iam = client(srv, "iam", *OTHER_ROOT)
    mine = {u["UserName"] for u in iam.list_users()["Users"]}
    assert mine and not {u["UserName"] for u in other_iam.list_users()["Users"]} & mine
    other_iam.create_user(UserName="theirs")
    assert other_iam.get_user(UserName="theirs")["User"]["Arn"] == f"arn:aws:iam::{OTHER}:user/theirs"
    assert error(lambda: iam.get_user(UserName="theirs"))[0] == "NoSuchEntity"

    # Cross-account S3: the other account reads a bucket of this one only when the bucket
    # policy grants it, and its own identity policies allow it too.
    s3 = client(srv, "s3")
    bucket = unique("shared")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"shared")
    other_s3 = client(srv, "s3", *OTHER_ROOT)
    assert error(lambda: other_s3.get_object(Bucket=bucket, Key="k"))[:2] == ("AccessDenied", 403)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}, "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    assert other_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"shared"
    # A user of the other account needs its own identity policy as well.
    other_iam.put_user_policy(UserName="theirs", PolicyName="none", PolicyDocument=allow("kms:ListKeys"))
    key = other_iam.create_access_key(UserName="theirs")["AccessKey"]
    theirs = client(srv, "s3", key["AccessKeyId"], key["SecretAccessKey"])
    assert error(lambda: theirs.get_object(Bucket=bucket, Key="k"))[0] == "AccessDenied"
    other_iam.put_user_policy(UserName="theirs", PolicyName="read", PolicyDocument=allow("s3:GetObject"))
    assert theirs.get_object(Bucket=bucket, Key="k")["Body"].read() == b"shared"
    # Buckets are listed per account.
    assert bucket not in [b["Name"] for b in other_s3.list_buckets()["Buckets"]]


def test_the_aws_cli_manages_users(srv):
    aws = AwsCli(srv)
    name = unique("cli")
    out = aws.json("iam", "create-user", "--user-name", name)
    assert out["User"]["UserName"] == name
    key = aws.json("iam", "create-access-key", "--user-name", name)["AccessKey"]
    listed = aws.json("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    aws("iam", "put-user-policy", "--user-name", name, "--policy-name", "p",
        "--policy-document", allow("kms:ListKeys"))
    client(srv, "kms", key["AccessKeyId"], key["SecretAccessKey"]).list_keys()
    assert name in aws("iam", "list-users").stdout_text
    aws("iam", "delete-user-policy", "--user-name", name, "--policy-name", "p")
    aws("iam", "delete-access-key", "--user-name", name, "--access-key-id", key["AccessKeyId"])
    aws("iam", "delete-user", "--user-name", name)
    proc = aws("iam", "get-user", "--user-name", name, check=False)
    assert proc.returncode != 0 and "NoSuchEntity" in proc.stderr_text
