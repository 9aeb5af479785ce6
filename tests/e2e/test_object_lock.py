"""Object Lock (WORM) as S3 has it: buckets created with the lock, default retention,
GOVERNANCE and COMPLIANCE retention, legal holds, the bypass and its permission, the
`s3:object-lock-*` condition keys, through boto3 and the aws CLI, across retention dates
on the gateway's movable clock, and across a restart."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conftest import AwsCli, SealgateServer
from helpers import error_of, md5_b64, unique_bucket
from kms_helpers import clock_mover, kms_client, users_config

ACCOUNT = "111122223333"
S3_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
S3_BUT_BYPASS = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {"Effect": "Deny", "Action": "s3:BypassGovernanceRetention", "Resource": "*"}]}
USERS = {
    "keeper": ("AKIAKEEPEREXAMPLE001", "keeper/secret/0123456789abcdefghijklm", S3_ALL),
    "clerk": ("AKIACLERKEXAMPLE0001", "clerk/secret/0123456789abcdefghijklmn", S3_BUT_BYPASS),
}
LOCKED = "Access Denied because object protected by object lock."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("object-lock")
    offset = root / "clock-offset"
    offset.write_text("0")
    guard = "[kms]\nkey_deletion_guard = true\n"
    srv = SealgateServer(root, name="object-lock", config=users_config(ACCOUNT, USERS, guard),
                         env={"SEALGATE_CLOCK_OFFSET_FILE": str(offset)})
    srv.clock_file = offset
    srv.start()
    yield srv
    srv.kill()


@pytest.fixture
def s3(server):
    return server.client()


@pytest.fixture
def advance(server):
    with clock_mover(server) as move:
        yield move


def user(server, name):
    ak, sk, _ = USERS[name]
    return server.client(access_key=ak, secret_key=sk)


def locked_bucket(s3, **config) -> str:
    name = unique_bucket("worm")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    if config:
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": config}})
    return name


def days_ahead(days: float) -> dt.datetime:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).replace(microsecond=0)


def put_locked(s3, bucket, key, mode, days, body=b"record"):
    return s3.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=md5_b64(body),
                         ObjectLockMode=mode, ObjectLockRetainUntilDate=days_ahead(days))["VersionId"]


def test_a_bucket_created_with_the_lock_is_versioned_for_good(s3):
    b = locked_bucket(s3)
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}
    assert error_of(lambda: s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})) == (
        409, "InvalidBucketState",
        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"


def test_the_lock_can_be_enabled_on_a_versioned_bucket_only(s3):
    b = unique_bucket("later")
    s3.create_bucket(Bucket=b)
    enable = {"ObjectLockEnabled": "Enabled"}
    assert error_of(lambda: s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration=enable)) == (
        409, "InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration=enable)
    assert s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"


@pytest.mark.parametrize("rule,expected", [
    ({"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}, (400, "MalformedXML")),
    ({"DefaultRetention": {"Mode": "GOVERNANCE"}}, (400, "MalformedXML")),
    ({"DefaultRetention": {"Days": 1}}, (400, "MalformedXML")),
    ({"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}, (400, "InvalidArgument")),
    ({"DefaultRetention": {"Mode": "GOVERNANCE", "Years": -1}}, (400, "InvalidArgument")),
    ({"DefaultRetention": {"Mode": "FOREVER", "Days": 1}}, (400, "InvalidArgument")),
])
def test_malformed_default_retentions_are_refused(server, s3, rule, expected):
    b = locked_bucket(s3)
    lenient = server.client(parameter_validation=False)
    status, code, _ = error_of(lambda: lenient.put_object_lock_configuration(
        Bucket=b, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule}))
    assert (status, code) == expected
    assert "Rule" not in s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]


def test_default_retention_locks_every_new_version(server, s3, advance):
    b = locked_bucket(s3, Mode="GOVERNANCE", Days=2)
    rule = s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}
    vid = s3.put_object(Bucket=b, Key="k", Body=b"kept")["VersionId"]
    head = s3.head_object(Bucket=b, Key="k")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert abs((until - days_ahead(2)).total_seconds()) < 120
    ret = s3.get_object_retention(Bucket=b, Key="k")["Retention"]
    assert ret["Mode"] == "GOVERNANCE" and ret["RetainUntilDate"] == until
    # The version stays; a delete without a version id only hides it behind a marker.
    assert error_of(lambda: s3.delete_object(Bucket=b, Key="k", VersionId=vid)) == (403, "AccessDenied", LOCKED)
    marker = s3.delete_object(Bucket=b, Key="k")
    assert marker["DeleteMarker"] is True
    assert s3.get_object(Bucket=b, Key="k", VersionId=vid)["Body"].read() == b"kept"
    s3.delete_object(Bucket=b, Key="k", VersionId=marker["VersionId"])
    # Past the date, the version may go.
    advance(3)
    s3.delete_object(Bucket=b, Key="k", VersionId=vid)
    assert error_of(lambda: s3.head_object(Bucket=b, Key="k"))[0] == 404


def test_governance_yields_only_to_the_bypass_with_its_permission(server, s3):
    b = locked_bucket(s3)
    vid = put_locked(s3, b, "g", "GOVERNANCE", 30)
    clerk, keeper = user(server, "clerk"), user(server, "keeper")
    # Without the header, nobody; with it, only who may bypass.
    for caller in (s3, keeper, clerk):
        assert error_of(lambda: caller.delete_object(Bucket=b, Key="g", VersionId=vid)) == (
            403, "AccessDenied", LOCKED)
    assert error_of(lambda: clerk.delete_object(Bucket=b, Key="g", VersionId=vid,
                                                BypassGovernanceRetention=True))[:2] == (403, "AccessDenied")
    # Shortening GOVERNANCE needs the bypass too; extending it does not.
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": days_ahead(10)}
    assert error_of(lambda: clerk.put_object_retention(Bucket=b, Key="g", Retention=shorter,
                                                       BypassGovernanceRetention=True)) == (403, "AccessDenied", LOCKED)
    clerk.put_object_retention(Bucket=b, Key="g", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": days_ahead(40)})
    keeper.put_object_retention(Bucket=b, Key="g", Retention=shorter, BypassGovernanceRetention=True)
    assert abs((s3.get_object_retention(Bucket=b, Key="g")["Retention"]["RetainUntilDate"]
                - days_ahead(10)).total_seconds()) < 120
    keeper.delete_object(Bucket=b, Key="g", VersionId=vid, BypassGovernanceRetention=True)
    assert error_of(lambda: s3.head_object(Bucket=b, Key="g", VersionId=vid))[0] == 404


def test_compliance_is_never_shortened_or_removed_by_anyone(server, s3, advance):
    b = locked_bucket(s3)
    vid = put_locked(s3, b, "c", "COMPLIANCE", 5)
    keeper = user(server, "keeper")
    for retention in ({"Mode": "COMPLIANCE", "RetainUntilDate": days_ahead(1)},
                      {"Mode": "GOVERNANCE", "RetainUntilDate": days_ahead(9)}, {}):
        for caller in (s3, keeper):
            assert error_of(lambda: caller.put_object_retention(
                Bucket=b, Key="c", VersionId=vid, Retention=retention, BypassGovernanceRetention=True)) == (
                403, "AccessDenied", LOCKED)
    assert error_of(lambda: keeper.delete_object(Bucket=b, Key="c", VersionId=vid,
                                                 BypassGovernanceRetention=True)) == (403, "AccessDenied", LOCKED)
    # Extended, it holds longer.
    s3.put_object_retention(Bucket=b, Key="c", VersionId=vid,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": days_ahead(8)})
    advance(6)
    assert error_of(lambda: s3.delete_object(Bucket=b, Key="c", VersionId=vid)) == (403, "AccessDenied", LOCKED)
    advance(3)
    s3.delete_object(Bucket=b, Key="c", VersionId=vid)


def test_a_legal_hold_outlives_any_retention_until_released(server, s3, advance):
    b = locked_bucket(s3)
    vid = put_locked(s3, b, "h", "GOVERNANCE", 1)
    assert error_of(lambda: s3.get_object_legal_hold(Bucket=b, Key="h")) == (
        404, "NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration")
    s3.put_object_legal_hold(Bucket=b, Key="h", LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=b, Key="h")["LegalHold"] == {"Status": "ON"}
    assert s3.head_object(Bucket=b, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    advance(2)
    assert error_of(lambda: s3.delete_object(Bucket=b, Key="h", VersionId=vid,
                                             BypassGovernanceRetention=True)) == (403, "AccessDenied", LOCKED)
    s3.put_object_legal_hold(Bucket=b, Key="h", VersionId=vid, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=b, Key="h", VersionId=vid)


def test_lock_headers_are_checked_as_s3_checks_them(server, s3):
    b = locked_bucket(s3)
    bare = server.client(request_checksum_calculation="when_required")
    cases = [
        (dict(ObjectLockMode="GOVERNANCE"), (400, "InvalidArgument",
         "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")),
        (dict(ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=days_ahead(-1)),
         (400, "InvalidArgument", "The retain until date must be in the future!")),
        (dict(ObjectLockMode="FOREVER", ObjectLockRetainUntilDate=days_ahead(1)),
         (400, "InvalidArgument", "Unknown wormMode directive.")),
    ]
    for headers, expected in cases:
        assert error_of(lambda: s3.put_object(Bucket=b, Key="x", Body=b"x", ContentMD5=md5_b64(b"x"), **headers)) == expected
    # A lock asks for a digest of the body.
    assert error_of(lambda: bare.put_object(Bucket=b, Key="x", Body=b"x", ObjectLockLegalHoldStatus="ON")) == (
        400, "InvalidRequest",
        "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")
    assert error_of(lambda: s3.head_object(Bucket=b, Key="x"))[0] == 404
    past = {"Mode": "GOVERNANCE", "RetainUntilDate": days_ahead(-1)}
    s3.put_object(Bucket=b, Key="x", Body=b"x")
    assert error_of(lambda: s3.put_object_retention(Bucket=b, Key="x", Retention=past)) == (
        400, "InvalidArgument", "The retain until date must be in the future!")
    # A delete marker has no lock to read or put.
    marker = s3.delete_object(Bucket=b, Key="x")["VersionId"]
    assert error_of(lambda: s3.get_object_retention(Bucket=b, Key="x", VersionId=marker))[:2] == (
        405, "MethodNotAllowed")


def test_multipart_and_copy_writes_carry_their_lock(server, s3):
    b = locked_bucket(s3)
    up = s3.create_multipart_upload(Bucket=b, Key="mp", ObjectLockMode="COMPLIANCE",
                                    ObjectLockRetainUntilDate=days_ahead(3), ObjectLockLegalHoldStatus="ON")
    part = s3.upload_part(Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * 1024)
    done = s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    head = s3.head_object(Bucket=b, Key="mp")
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("COMPLIANCE", "ON")
    assert error_of(lambda: s3.delete_object(Bucket=b, Key="mp", VersionId=done["VersionId"]))[:2] == (
        403, "AccessDenied")
    copied = s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "mp"},
                            ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=days_ahead(2))
    head = s3.head_object(Bucket=b, Key="copy")
    assert head["ObjectLockMode"] == "GOVERNANCE" and "ObjectLockLegalHoldStatus" not in head
    assert error_of(lambda: s3.delete_object(Bucket=b, Key="copy", VersionId=copied["VersionId"]))[:2] == (
        403, "AccessDenied")


def test_delete_objects_reports_each_locked_version(s3):
    b = locked_bucket(s3)
    kept = put_locked(s3, b, "kept", "COMPLIANCE", 3)
    free = s3.put_object(Bucket=b, Key="free", Body=b"f")["VersionId"]
    out = s3.delete_objects(Bucket=b, Delete={"Objects": [
        {"Key": "kept", "VersionId": kept}, {"Key": "free", "VersionId": free}]})
    assert [d["Key"] for d in out["Deleted"]] == ["free"]
    assert [(e["Key"], e["Code"], e["Message"]) for e in out["Errors"]] == [("kept", "AccessDenied", LOCKED)]
    assert s3.get_object(Bucket=b, Key="kept", VersionId=kept)["Body"].read() == b"record"


def test_condition_keys_bound_how_long_a_lock_may_be(server, s3):
    b = locked_bucket(s3)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObjectRetention",
        "Resource": f"arn:aws:s3:::{b}/*",
        "Condition": {"NumericGreaterThan": {"s3:object-lock-remaining-retention-days": "30"}}}]}
    s3.put_bucket_policy(Bucket=b, Policy=json.dumps(policy))
    s3.put_object(Bucket=b, Key="k", Body=b"v")
    too_long = {"Mode": "GOVERNANCE", "RetainUntilDate": days_ahead(60)}
    assert error_of(lambda: s3.put_object_retention(Bucket=b, Key="k", Retention=too_long))[:2] == (
        403, "AccessDenied")
    assert error_of(lambda: s3.put_object(Bucket=b, Key="long", Body=b"x", ContentMD5=md5_b64(b"x"),
                                          ObjectLockMode="GOVERNANCE",
                                          ObjectLockRetainUntilDate=days_ahead(60)))[:2] == (403, "AccessDenied")
    s3.put_object_retention(Bucket=b, Key="k", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": days_ahead(10)})
    assert s3.get_object_retention(Bucket=b, Key="k")["Retention"]["Mode"] == "GOVERNANCE"


def test_the_aws_cli_manages_locks(server, s3):
    cli = AwsCli(server)
    b = unique_bucket("cli-worm")
    cli("s3api", "create-bucket", "--bucket", b, "--object-lock-enabled-for-bucket")
    cli("s3api", "put-object-lock-configuration", "--bucket", b, "--object-lock-configuration",
        json.dumps({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}}))
    got = json.loads(cli("s3api", "get-object-lock-configuration", "--bucket", b).stdout)
    assert got["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 1}
    s3.put_object(Bucket=b, Key="k", Body=b"v")
    ret = json.loads(cli("s3api", "get-object-retention", "--bucket", b, "--key", "k").stdout)
    assert ret["Retention"]["Mode"] == "COMPLIANCE"
    cli("s3api", "put-object-legal-hold", "--bucket", b, "--key", "k", "--legal-hold", "Status=ON")
    hold = json.loads(cli("s3api", "get-object-legal-hold", "--bucket", b, "--key", "k").stdout)
    assert hold["LegalHold"]["Status"] == "ON"
    vid = s3.head_object(Bucket=b, Key="k")["VersionId"]
    failed = cli("s3api", "delete-object", "--bucket", b, "--key", "k", "--version-id", vid,
                 "--bypass-governance-retention", check=False)
    assert failed.returncode != 0 and b"AccessDenied" in failed.stderr


def test_locks_survive_a_restart_and_a_disabled_key_only_hides_the_data(server, s3):
    b = locked_bucket(s3)
    kms = kms_client(server.endpoint)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    body = b"evidence"
    vid = s3.put_object(Bucket=b, Key="e", Body=body, ContentMD5=md5_b64(body), ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=key, ObjectLockMode="COMPLIANCE",
                        ObjectLockRetainUntilDate=days_ahead(3))["VersionId"]
    server.restart(kill=True)
    s3 = server.client()
    assert s3.head_object(Bucket=b, Key="e")["ObjectLockMode"] == "COMPLIANCE"
    assert error_of(lambda: s3.delete_object(Bucket=b, Key="e", VersionId=vid))[:2] == (403, "AccessDenied")
    # A disabled key makes the version unreadable, never deletable; enabled again, it reads.
    kms.disable_key(KeyId=key)
    assert error_of(lambda: s3.get_object(Bucket=b, Key="e"))[0] == 400
    assert error_of(lambda: s3.delete_object(Bucket=b, Key="e", VersionId=vid))[:2] == (403, "AccessDenied")
    kms.enable_key(KeyId=key)
    assert s3.get_object(Bucket=b, Key="e")["Body"].read() == body


def put_kms_locked(s3, bucket, key, kms_key, mode, days):
    body = b"ledger"
    return s3.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=md5_b64(body), ServerSideEncryption="aws:kms",
                         SSEKMSKeyId=kms_key, ObjectLockMode=mode,
                         ObjectLockRetainUntilDate=days_ahead(days))["VersionId"]


def test_the_key_deletion_guard_keeps_keys_of_compliance_locked_versions(server, s3, advance):
    b = locked_bucket(s3)
    kms = kms_client(server.endpoint)
    held = kms.create_key()["KeyMetadata"]["Arn"]
    governed = kms.create_key()["KeyMetadata"]["Arn"]
    put_kms_locked(s3, b, "c", held, "COMPLIANCE", 3)
    put_kms_locked(s3, b, "g", governed, "GOVERNANCE", 3)
    with pytest.raises(Exception) as refused:
        kms.schedule_key_deletion(KeyId=held, PendingWindowInDays=7)
    err = refused.value.response["Error"]
    assert err["Code"] == "KMSInvalidStateException"
    assert b in err["Message"] and "COMPLIANCE" in err["Message"]
    assert days_ahead(3).strftime("%Y-%m-%d") in err["Message"]
    assert kms.describe_key(KeyId=held)["KeyMetadata"]["KeyState"] == "Enabled"
    # GOVERNANCE can be bypassed, so it holds no key; nor does a passed date.
    kms.schedule_key_deletion(KeyId=governed, PendingWindowInDays=7)
    advance(4)
    kms.schedule_key_deletion(KeyId=held, PendingWindowInDays=7)


def test_without_the_guard_a_deleted_key_leaves_locked_versions_unreadable(tmp_path):
    srv = SealgateServer(tmp_path, name="unguarded").start()
    try:
        s3 = srv.client()
        b = locked_bucket(s3)
        kms = kms_client(srv.endpoint)
        key = kms.create_key()["KeyMetadata"]["Arn"]
        vid = put_kms_locked(s3, b, "c", key, "COMPLIANCE", 30)
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
        # As on S3: the version stays and stays locked, but nothing can read it.
        status, code, _ = error_of(lambda: s3.get_object(Bucket=b, Key="c"))
        assert (status, code) == (400, "KMS.KMSInvalidStateException")
        assert error_of(lambda: s3.delete_object(Bucket=b, Key="c", VersionId=vid))[:2] == (403, "AccessDenied")
        assert s3.head_object(Bucket=b, Key="c", VersionId=vid)["ObjectLockMode"] == "COMPLIANCE"
    finally:
        srv.kill()


def test_a_form_upload_sets_its_lock_from_its_fields(s3):
    import requests
    b = locked_bucket(s3)
    until = days_ahead(2).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = {"x-amz-object-lock-mode": "COMPLIANCE", "x-amz-object-lock-retain-until-date": until,
              "x-amz-object-lock-legal-hold": "ON"}
    post = s3.generate_presigned_post(Bucket=b, Key="form", Fields=fields,
                                      Conditions=[{k: v} for k, v in fields.items()])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f.txt", b"form body")}, timeout=30)
    assert r.status_code == 204, r.text
    head = s3.head_object(Bucket=b, Key="form")
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("COMPLIANCE", "ON")
    assert error_of(lambda: s3.delete_object(Bucket=b, Key="form", VersionId=head["VersionId"]))[:2] == (
        403, "AccessDenied")
