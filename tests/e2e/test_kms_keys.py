"""The KMS API through boto3 and the aws CLI: keys and their life, aliases, tags, policies,
and the errors AWS gives in each state."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from conftest import AwsCli
from helpers import REGION
from kms_helpers import ACCOUNT, assert_error, clocked_kms_fixtures, kms_client, user_arn


kms_server, kms, advance = clocked_kms_fixtures("kms-keys")


@pytest.fixture
def raw_kms(kms_server):
    """Skips boto3's own parameter checks, so the server's are what answers."""
    return kms_client(kms_server.endpoint, validate=False)


def new_key(kms, **kw) -> dict:
    return kms.create_key(**kw)["KeyMetadata"]


def test_create_describe_and_list_a_symmetric_key(kms):
    before = time.time()
    md = new_key(kms, Description="first key", Tags=[{"TagKey": "team", "TagValue": "storage"}])
    uuid.UUID(md["KeyId"])
    assert md["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{md['KeyId']}"
    assert md["AWSAccountId"] == ACCOUNT
    assert (md["KeyState"], md["Enabled"], md["KeyManager"], md["Origin"]) == ("Enabled", True, "CUSTOMER", "AWS_KMS")
    assert (md["KeySpec"], md["KeyUsage"], md["EncryptionAlgorithms"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["SYMMETRIC_DEFAULT"])
    assert before - 5 <= md["CreationDate"].timestamp() <= time.time() + 5
    assert len(md["CurrentKeyMaterialId"]) == 64
    for ref in (md["KeyId"], md["Arn"]):
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == md["KeyId"]
    listed = []
    for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1}):
        listed += page["Keys"]
    assert {"KeyId": md["KeyId"], "KeyArn": md["Arn"]} in listed
    assert kms.list_resource_tags(KeyId=md["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "storage"}]


def test_unknown_and_malformed_keys_get_awss_errors(kms):
    assert_error(lambda: kms.describe_key(KeyId=str(uuid.uuid4())), "NotFoundException")
    assert_error(lambda: kms.describe_key(KeyId="alias/does-not-exist"), "NotFoundException")
    assert_error(lambda: kms.describe_key(KeyId=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}"), "NotFoundException")
    assert_error(lambda: kms.create_key(KeySpec="HMAC_256"), "ValidationException")
    assert_error(lambda: kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="ENCRYPT_DECRYPT"), "ValidationException")
    assert_error(lambda: kms.create_key(Policy="{not json"), "MalformedPolicyDocumentException")


def test_disable_and_enable(kms):
    key = new_key(kms)["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"secret")["CiphertextBlob"]
    kms.disable_key(KeyId=key)
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"]) == ("Disabled", False)
    assert_error(lambda: kms.encrypt(KeyId=key, Plaintext=b"x"), "DisabledException")
    assert_error(lambda: kms.decrypt(CiphertextBlob=blob), "DisabledException")
    assert_error(lambda: kms.generate_data_key(KeyId=key, KeySpec="AES_256"), "DisabledException")
    kms.enable_key(KeyId=key)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_scheduled_deletion_and_cancel(kms, raw_kms):
    key = new_key(kms)["KeyId"]
    assert_error(lambda: raw_kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=6), "ValidationException")
    assert_error(lambda: raw_kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=31), "ValidationException")
    out = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert (out["KeyState"], out["PendingWindowInDays"]) == ("PendingDeletion", 7)
    assert out["KeyId"].endswith(key)
    assert 6.9 * 86400 < out["DeletionDate"].timestamp() - time.time() < 7.1 * 86400
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion" and md["PendingDeletionWindowInDays"] == 7
    assert_error(lambda: kms.encrypt(KeyId=key, Plaintext=b"x"), "KMSInvalidStateException")
    assert_error(lambda: kms.enable_key(KeyId=key), "KMSInvalidStateException")
    assert_error(lambda: kms.schedule_key_deletion(KeyId=key), "KMSInvalidStateException")
    kms.cancel_key_deletion(KeyId=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
    assert_error(lambda: kms.cancel_key_deletion(KeyId=key), "KMSInvalidStateException")


def test_crossing_the_deletion_window_destroys_the_key(kms, kms_server, advance):
    key = new_key(kms)["KeyId"]
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=key)
    blob = kms.encrypt(KeyId=key, Plaintext=b"soon unreadable", EncryptionContext={"k": "v"})["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    advance(6.9)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    advance(0.2)
    assert_error(lambda: kms.describe_key(KeyId=key), "NotFoundException")
    assert_error(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"}), "NotFoundException")
    assert all(k["KeyId"] != key for k in kms.list_keys(Limit=1000)["Keys"])
    assert all(a["AliasName"] != "alias/doomed" for a in kms.list_aliases()["Aliases"])
    # Gone for good: a restart does not bring it back.
    kms_server.restart()
    kms = kms_client(kms_server.endpoint)
    assert_error(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"}), "NotFoundException")


def test_rotation_on_demand_and_automatic_keep_old_ciphertexts(kms, raw_kms, advance):
    key = new_key(kms)["KeyId"]
    assert_error(lambda: raw_kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=89), "ValidationException")
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90
    assert 89 * 86400 < status["NextRotationDate"].timestamp() - time.time() < 91 * 86400
    def current_material():
        return kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]

    first = (kms.encrypt(KeyId=key, Plaintext=b"v1")["CiphertextBlob"], current_material())
    kms.rotate_key_on_demand(KeyId=key)
    second = (kms.encrypt(KeyId=key, Plaintext=b"v2")["CiphertextBlob"], current_material())
    assert first[1] != second[1]
    advance(91)
    third = (kms.encrypt(KeyId=key, Plaintext=b"v3")["CiphertextBlob"], current_material())
    assert third[1] not in (first[1], second[1])
    for (blob, material), plain in ((first, b"v1"), (second, b"v2"), (third, b"v3")):
        d = kms.decrypt(CiphertextBlob=blob)
        assert (d["Plaintext"], d["KeyMaterialId"]) == (plain, material)
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND", "AUTOMATIC"]
    assert rotations[-1]["KeyMaterialState"] == "CURRENT"
    kms.disable_key_rotation(KeyId=key)
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    rsa = new_key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyId"]
    assert_error(lambda: kms.enable_key_rotation(KeyId=rsa), "UnsupportedOperationException")
    assert_error(lambda: kms.rotate_key_on_demand(KeyId=rsa), "UnsupportedOperationException")


def test_aliases(kms):
    a, b = new_key(kms)["KeyId"], new_key(kms)["KeyId"]
    name = f"alias/app-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=name, TargetKeyId=a)
    assert_error(lambda: kms.create_alias(AliasName=name, TargetKeyId=b), "AlreadyExistsException")
    assert_error(lambda: kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=a), "InvalidAliasNameException")
    assert_error(lambda: kms.create_alias(AliasName="noprefix", TargetKeyId=a), "ValidationException")
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{name}"
    for ref in (name, alias_arn):
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == a
        blob = kms.encrypt(KeyId=ref, Plaintext=b"via alias")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob, KeyId=ref)["Plaintext"] == b"via alias"
    # Management operations take key ids and ARNs only, as in AWS.
    assert_error(lambda: kms.disable_key(KeyId=name), "NotFoundException")
    listed = kms.list_aliases(KeyId=a)["Aliases"]
    assert [x["AliasName"] for x in listed] == [name] and listed[0]["AliasArn"] == alias_arn
    kms.update_alias(AliasName=name, TargetKeyId=b)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == b
    hmac_key = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    assert_error(lambda: kms.update_alias(AliasName=name, TargetKeyId=hmac_key), "ValidationException")
    kms.delete_alias(AliasName=name)
    assert_error(lambda: kms.describe_key(KeyId=name), "NotFoundException")
    assert_error(lambda: kms.delete_alias(AliasName=name), "NotFoundException")


def test_aws_managed_s3_key_is_created_on_first_use_and_protected(kms):
    md = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert md["KeyManager"] == "AWS" and md["KeyState"] == "Enabled"
    assert kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"] == md["KeyId"]
    assert_error(lambda: kms.schedule_key_deletion(KeyId=md["KeyId"]), "AccessDeniedException")
    assert_error(lambda: kms.disable_key(KeyId=md["KeyId"]), "AccessDeniedException")
    # Direct use is for S3 only (kms:ViaService), as AWS's policy for its managed keys says.
    assert_error(lambda: kms.encrypt(KeyId="alias/aws/s3", Plaintext=b"x"), "AccessDeniedException")
    policy = json.loads(kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")["Policy"])
    assert any("kms:ViaService" in json.dumps(s) for s in policy["Statement"])


def test_description_tags_and_key_policies(kms):
    key = new_key(kms)["KeyId"]
    kms.update_key_description(KeyId=key, Description="new words")
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "new words"
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}])
    kms.untag_resource(KeyId=key, TagKeys=["a"])
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "b", "TagValue": "2"}]
    assert_error(lambda: kms.tag_resource(KeyId=key, Tags=[{"TagKey": "aws:x", "TagValue": "1"}]), "TagException")
    assert kms.list_key_policies(KeyId=key)["PolicyNames"] == ["default"]
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert_error(lambda: kms.get_key_policy(KeyId=key, PolicyName="other"), "NotFoundException")
    assert_error(lambda: kms.put_key_policy(KeyId=key, PolicyName="default", Policy='{"Statement": 5}'),
                 "MalformedPolicyDocumentException")
    lockout = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user_arn("reader")}, "Action": "kms:Decrypt", "Resource": "*"}]})
    assert_error(lambda: kms.put_key_policy(KeyId=key, PolicyName="default", Policy=lockout),
                 "MalformedPolicyDocumentException", message="will not allow you to update the key policy")


def test_generate_random_and_validation(kms, raw_kms):
    assert len(kms.generate_random(NumberOfBytes=1024)["Plaintext"]) == 1024
    assert_error(lambda: raw_kms.generate_random(NumberOfBytes=1025), "ValidationException")
    assert_error(lambda: raw_kms.generate_random(NumberOfBytes=0), "ValidationException")
    assert_error(lambda: raw_kms.generate_random(), "ValidationException", message="must not be null")


def test_the_aws_cli_drives_the_kms(kms_server, tmp_path):
    cli = AwsCli(kms_server)
    md = cli.json("kms", "create-key", "--description", "from the cli")["KeyMetadata"]
    (tmp_path / "plain").write_bytes(b"cli secret\n")
    enc = cli.json("kms", "encrypt", "--key-id", md["KeyId"], "--plaintext", f"fileb://{tmp_path / 'plain'}",
                   "--encryption-context", "purpose=test")
    (tmp_path / "blob").write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec = cli.json("kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}",
                   "--encryption-context", "purpose=test")
    assert base64.b64decode(dec["Plaintext"]) == b"cli secret\n"
    assert dec["KeyId"] == md["Arn"]
    bad = cli("kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}", check=False)
    assert bad.returncode != 0 and "InvalidCiphertextException" in bad.stderr_text
    alias = f"alias/cli-{uuid.uuid4().hex[:8]}"
    cli("kms", "create-alias", "--alias-name", alias, "--target-key-id", md["KeyId"])
    assert alias in [a["AliasName"] for a in cli.json("kms", "list-aliases")["Aliases"]]
    dk = cli.json("kms", "generate-data-key", "--key-id", alias, "--key-spec", "AES_256")
    assert len(base64.b64decode(dk["Plaintext"])) == 32 and dk["KeyId"] == md["Arn"]
    cli("kms", "enable-key-rotation", "--key-id", md["KeyId"], "--rotation-period-in-days", "180")
    assert cli.json("kms", "get-key-rotation-status", "--key-id", md["KeyId"])["RotationPeriodInDays"] == 180
    cli("kms", "tag-resource", "--key-id", md["KeyId"], "--tags", "TagKey=env,TagValue=test")
    assert cli.json("kms", "list-resource-tags", "--key-id", md["KeyId"])["Tags"] == [{"TagKey": "env", "TagValue": "test"}]
    grant = cli.json("kms", "create-grant", "--key-id", md["KeyId"], "--grantee-principal", user_arn("reader"),
                     "--operations", "Decrypt", "Encrypt")
    assert [g["GrantId"] for g in cli.json("kms", "list-grants", "--key-id", md["KeyId"])["Grants"]] == [grant["GrantId"]]
    sign_key = cli.json("kms", "create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY")["KeyMetadata"]
    sig = cli.json("kms", "sign", "--key-id", sign_key["KeyId"], "--message", f"fileb://{tmp_path / 'plain'}",
                   "--signing-algorithm", "ECDSA_SHA_256")["Signature"]
    (tmp_path / "sig").write_bytes(base64.b64decode(sig))
    ver = cli.json("kms", "verify", "--key-id", sign_key["KeyId"], "--message", f"fileb://{tmp_path / 'plain'}",
                   "--signature", f"fileb://{tmp_path / 'sig'}", "--signing-algorithm", "ECDSA_SHA_256")
    assert ver["SignatureValid"] is True
    out = cli.json("kms", "schedule-key-deletion", "--key-id", md["KeyId"], "--pending-window-in-days", "7")
    assert out["KeyState"] == "PendingDeletion"
    denied = cli("kms", "disable-key", "--key-id", md["KeyId"], check=False)
    assert denied.returncode != 0 and "KMSInvalidStateException" in denied.stderr_text
