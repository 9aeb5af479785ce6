"""Requests S3 refuses in its own way, answered as S3 answers them: encryption headers on a
read, a body sent chunked without any length, MFA Delete the gateway cannot enforce."""

from __future__ import annotations

import base64
import hashlib
import http.client

import pytest

from helpers import error_of, set_headers_before_sign


@pytest.mark.parametrize("header,value", [
    ("x-amz-server-side-encryption", "AES256"),
    ("x-amz-server-side-encryption", "aws:kms"),
    ("x-amz-server-side-encryption-aws-kms-key-id", "alias/anything"),
])
def test_encryption_headers_on_get_and_head_are_refused(server, s3, bucket, header, value):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    for op, method in (("GetObject", "get_object"), ("HeadObject", "head_object")):
        sending = server.client()
        set_headers_before_sign(sending, op, {header: value})
        status, code, message = error_of(lambda: getattr(sending, method)(Bucket=bucket, Key="k"))
        assert status == 400
        if op == "GetObject":  # HEAD answers carry no body, hence no code
            assert (code, message) == ("InvalidArgument", f"{header} header is not supported for this operation.")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_a_chunked_body_without_any_length_is_not_implemented(server, s3, bucket):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "chunked"})
    path = url.split(str(server.port), 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("PUT", path)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for piece in (b"hello ", b"world"):
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    body = resp.read().decode()
    assert resp.status == 501, body
    assert "<Code>NotImplemented</Code>" in body and "Transfer-Encoding" in body
    conn.close()
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="chunked"))[0] == 404


def test_mfa_delete_is_refused_rather_than_silently_left_off(s3, bucket):
    def enable(**extra):
        return error_of(lambda: s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}, **extra))
    status, code, message = enable()
    assert (status, code) == (400, "InvalidRequest") and "x-amz-mfa" in message
    status, code, message = enable(MFA="arn:aws:iam::000000000000:mfa/root 123456")
    assert (status, code) == (501, "NotImplemented") and "MFA" in message
    # Nothing changed; MFADelete=Disabled is what the gateway can keep.
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Disabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_an_empty_key_in_delete_objects_fails_that_key_only(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")

    def empty_key(request, **_):
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        body = body.replace(b"<Key>EMPTY</Key>", b"<Key></Key>")
        request.data = body
        for h in list(request.headers.keys()):
            if h.lower().startswith("x-amz-checksum") or h.lower() in ("content-md5", "x-amz-sdk-checksum-algorithm"):
                del request.headers[h]
        request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        request.headers["Content-Length"] = str(len(body))
    s3.meta.events.register("before-sign.s3.DeleteObjects", empty_key)
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "EMPTY"}, {"Key": "a"}]})
    assert r["Deleted"] == [{"Key": "a"}]
    assert r["Errors"] == [{"Key": "", "Code": "UserKeyMustBeSpecified",
                            "Message": "The key parameter must be specified"}]


def test_the_null_version_is_named_once_the_bucket_has_versioning(s3, bucket):
    s3.put_object(Bucket=bucket, Key="old", Body=b"before versioning")
    # A bucket that never had versioning names no version.
    assert "VersionId" not in s3.head_object(Bucket=bucket, Key="old")
    assert "VersionId" not in s3.get_object(Bucket=bucket, Key="old")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.head_object(Bucket=bucket, Key="old")["VersionId"] == "null"
    assert s3.get_object(Bucket=bucket, Key="old", VersionId="null")["VersionId"] == "null"
    new = s3.put_object(Bucket=bucket, Key="old", Body=b"versioned")["VersionId"]
    assert s3.head_object(Bucket=bucket, Key="old")["VersionId"] == new
    assert s3.get_object(Bucket=bucket, Key="old", VersionId="null")["Body"].read() == b"before versioning"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key="suspended", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="suspended")["VersionId"] == "null"


def test_a_bucket_without_object_lock_refuses_locks_never_silently_drops_them(s3, bucket):
    # Reads answer that there is no configuration, as on any S3 bucket without one.
    assert error_of(lambda: s3.get_object_lock_configuration(Bucket=bucket)) == (
        404, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    missing = (400, "InvalidRequest", "Bucket is missing Object Lock Configuration")
    retain = {"Mode": "COMPLIANCE", "RetainUntilDate": "2030-01-01T00:00:00Z"}
    for call in (
        lambda: s3.get_object_retention(Bucket=bucket, Key="k"),
        lambda: s3.put_object_retention(Bucket=bucket, Key="k", Retention=retain),
        lambda: s3.get_object_legal_hold(Bucket=bucket, Key="k"),
        lambda: s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"}),
        # Writes that ask for a lock are refused, not stored unlocked.
        lambda: s3.put_object(Bucket=bucket, Key="worm", Body=b"x", ObjectLockMode="GOVERNANCE",
                              ObjectLockRetainUntilDate="2030-01-01T00:00:00Z"),
        lambda: s3.put_object(Bucket=bucket, Key="worm", Body=b"x", ObjectLockLegalHoldStatus="ON"),
        lambda: s3.copy_object(Bucket=bucket, Key="worm", CopySource={"Bucket": bucket, "Key": "k"},
                               ObjectLockLegalHoldStatus="ON"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="worm", ObjectLockMode="COMPLIANCE",
                                           ObjectLockRetainUntilDate="2030-01-01T00:00:00Z"),
    ):
        assert error_of(call) == missing
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="worm"))[0] == 404
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_directory_bucket_delete_conditions_are_refused_not_ignored(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    head = s3.head_object(Bucket=bucket, Key="k")
    status, code, _ = error_of(lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=1))
    assert (status, code) == (501, "NotImplemented")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "k", "LastModifiedTime": head["LastModified"]}, {"Key": "k", "Size": 1}]})
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("k", "NotImplemented")] * 2
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
