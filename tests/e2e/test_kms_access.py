"""Who may use a key: key policies, IAM identity policies of the config's users, and grants
with encryption-context constraints, decided as AWS KMS decides them."""

from __future__ import annotations

import json

import pytest

from conftest import SealgateServer
from kms_helpers import ACCOUNT, assert_error, kms_client, kms_config, user_arn


@pytest.fixture(scope="module")
def kms_server(tmp_path_factory):
    srv = SealgateServer(tmp_path_factory.mktemp("kms-access"), name="kms-access", config=kms_config())
    srv.start()
    yield srv
    srv.kill()


@pytest.fixture
def clients(kms_server):
    return {u: kms_client(kms_server.endpoint, u) for u in ("admin", "reader", "nobody")} | {
        "root": kms_client(kms_server.endpoint)}


def test_default_key_policy_delegates_to_each_users_iam_policies(clients):
    root, admin, reader, nobody = (clients[u] for u in ("root", "admin", "reader", "nobody"))
    key = admin.create_key()["KeyMetadata"]["KeyId"]
    blob = admin.encrypt(KeyId=key, Plaintext=b"payroll")["CiphertextBlob"]
    assert reader.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payroll"
    err = assert_error(lambda: reader.encrypt(KeyId=key, Plaintext=b"x"), "AccessDeniedException")
    assert user_arn("reader") in err["Message"] and "kms:Encrypt" in err["Message"] and key in err["Message"]
    assert_error(lambda: nobody.decrypt(CiphertextBlob=blob), "AccessDeniedException")
    assert_error(lambda: nobody.describe_key(KeyId=key), "AccessDeniedException")
    assert_error(lambda: nobody.create_key(), "AccessDeniedException")
    assert_error(lambda: nobody.list_keys(), "AccessDeniedException")
    assert root.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payroll"


def test_a_key_policy_can_deny_and_can_allow_without_iam(clients):
    admin, reader, nobody = clients["admin"], clients["reader"], clients["nobody"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": user_arn("admin")}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Nobody may encrypt for tenant x", "Effect": "Allow", "Principal": {"AWS": user_arn("nobody")},
         "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "x"}}},
        {"Sid": "No decrypt for reader", "Effect": "Deny", "Principal": {"AWS": user_arn("reader")},
         "Action": "kms:Decrypt", "Resource": "*"},
    ]}
    key = admin.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    # Named directly in the key policy: allowed though nobody has no IAM policy at all.
    blob = nobody.encrypt(KeyId=key, Plaintext=b"t", EncryptionContext={"tenant": "x"})["CiphertextBlob"]
    assert_error(lambda: nobody.encrypt(KeyId=key, Plaintext=b"t", EncryptionContext={"tenant": "y"}),
                 "AccessDeniedException")
    err = assert_error(lambda: reader.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "x"}),
                       "AccessDeniedException")
    assert "explicit deny" in err["Message"]
    # The account is not in the policy: even root is out.
    assert_error(lambda: clients["root"].describe_key(KeyId=key), "AccessDeniedException")
    assert admin.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "x"})["Plaintext"] == b"t"


def test_grants_with_encryption_context_constraints(clients):
    admin, nobody = clients["admin"], clients["nobody"]
    key = admin.create_key()["KeyMetadata"]["KeyId"]
    ok_blob = admin.encrypt(KeyId=key, Plaintext=b"a", EncryptionContext={"dept": "a", "x": "1"})["CiphertextBlob"]
    other_blob = admin.encrypt(KeyId=key, Plaintext=b"b", EncryptionContext={"dept": "b"})["CiphertextBlob"]
    assert_error(lambda: nobody.decrypt(CiphertextBlob=ok_blob, EncryptionContext={"dept": "a", "x": "1"}),
                 "AccessDeniedException")
    grant = admin.create_grant(KeyId=key, GranteePrincipal=user_arn("nobody"), Operations=["Decrypt"],
                               RetiringPrincipal=user_arn("admin"), Name="dept-a",
                               Constraints={"EncryptionContextSubset": {"dept": "a"}})
    assert len(grant["GrantId"]) == 64 and grant["GrantToken"]
    assert nobody.decrypt(CiphertextBlob=ok_blob, EncryptionContext={"dept": "a", "x": "1"},
                          GrantTokens=[grant["GrantToken"]])["Plaintext"] == b"a"
    assert_error(lambda: nobody.decrypt(CiphertextBlob=other_blob, EncryptionContext={"dept": "b"}),
                 "AccessDeniedException")
    assert_error(lambda: nobody.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"dept": "a"}),
                 "AccessDeniedException")
    # Same name and contents: the same grant, a fresh token.
    again = admin.create_grant(KeyId=key, GranteePrincipal=user_arn("nobody"), Operations=["Decrypt"],
                               RetiringPrincipal=user_arn("admin"), Name="dept-a",
                               Constraints={"EncryptionContextSubset": {"dept": "a"}})
    assert again["GrantId"] == grant["GrantId"] and again["GrantToken"] != grant["GrantToken"]
    listed = admin.list_grants(KeyId=key)["Grants"]
    assert len(listed) == 1
    g = listed[0]
    assert (g["GranteePrincipal"], g["Operations"], g["Name"]) == (user_arn("nobody"), ["Decrypt"], "dept-a")
    assert g["Constraints"] == {"EncryptionContextSubset": {"dept": "a"}}
    assert g["IssuingAccount"] == f"arn:aws:iam::{ACCOUNT}:root"
    retirable = admin.list_retirable_grants(RetiringPrincipal=user_arn("admin"))["Grants"]
    assert [x["GrantId"] for x in retirable] == [grant["GrantId"]]
    # Retiring needs the retiring principal; an unknown token is refused.
    assert_error(lambda: nobody.retire_grant(GrantToken=grant["GrantToken"]), "AccessDeniedException")
    assert_error(lambda: admin.retire_grant(GrantToken="bm90IGEgdG9rZW4"), "InvalidGrantTokenException")
    admin.retire_grant(GrantToken=grant["GrantToken"])
    assert admin.list_grants(KeyId=key)["Grants"] == []
    assert_error(lambda: nobody.decrypt(CiphertextBlob=ok_blob, EncryptionContext={"dept": "a", "x": "1"}),
                 "AccessDeniedException")
    # Equals constraints match the whole context; revoking takes the grant away.
    g2 = admin.create_grant(KeyId=key, GranteePrincipal=user_arn("nobody"), Operations=["Decrypt", "Encrypt"],
                            Constraints={"EncryptionContextEquals": {"dept": "b"}})
    assert nobody.decrypt(CiphertextBlob=other_blob, EncryptionContext={"dept": "b"})["Plaintext"] == b"b"
    assert_error(lambda: nobody.decrypt(CiphertextBlob=ok_blob, EncryptionContext={"dept": "a", "x": "1"}),
                 "AccessDeniedException")
    admin.revoke_grant(KeyId=key, GrantId=g2["GrantId"])
    assert_error(lambda: nobody.decrypt(CiphertextBlob=other_blob, EncryptionContext={"dept": "b"}),
                 "AccessDeniedException")
    assert_error(lambda: admin.revoke_grant(KeyId=key, GrantId=g2["GrantId"]), "NotFoundException")
    assert_error(lambda: admin.create_grant(KeyId=key, GranteePrincipal=user_arn("nobody"), Operations=["Fly"]),
                 "ValidationException")


def test_users_without_permission_cannot_manage_keys(clients):
    admin, reader = clients["admin"], clients["reader"]
    key = admin.create_key()["KeyMetadata"]["KeyId"]
    for call in (lambda: reader.disable_key(KeyId=key),
                 lambda: reader.schedule_key_deletion(KeyId=key, PendingWindowInDays=7),
                 lambda: reader.put_key_policy(KeyId=key, PolicyName="default", Policy="{}"),
                 lambda: reader.create_grant(KeyId=key, GranteePrincipal=user_arn("reader"), Operations=["Encrypt"]),
                 lambda: reader.create_alias(AliasName="alias/stolen", TargetKeyId=key)):
        assert_error(call, "AccessDeniedException")
    assert reader.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
