"""SSE-C: customer-provided keys over TLS and (with the config switch) HTTP, every error AWS
gives, multipart, copies in every direction, ranges, and BlockedEncryptionTypes."""

import base64
import hashlib
import os

import pytest

from helpers import (
    CHUNK,
    MIN_PART,
    body_of,
    client_error,
    copy_source_ssec,
    md5_b64,
    md5_hex,
    patterned,
    quoted,
    refused_put,
    ssec,
    unique_bucket,
)


def new_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def env(ssec_target, request):
    """(client, bucket, key) on a server where SSE-C is allowed (TLS, or HTTP + switch)."""
    srv, c = ssec_target
    b = unique_bucket(request.node.name)
    c.create_bucket(Bucket=b)
    return c, b, new_key()


def test_put_get_head(env):
    c, b, key = env
    data = patterned(3 * CHUNK + 11, seed=1)
    put = c.put_object(Bucket=b, Key="secret", Body=data, **ssec(key))
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["SSECustomerKeyMD5"] == md5_b64(key)
    assert put.get("ServerSideEncryption") is None, "SSE-C objects do not report SSE-S3"
    assert put["ETag"] != quoted(md5_hex(data)), "as on AWS, an SSE-C ETag is not the MD5 of the plaintext"

    g = c.get_object(Bucket=b, Key="secret", **ssec(key))
    assert body_of(g) == data
    assert g["SSECustomerAlgorithm"] == "AES256"
    assert g["SSECustomerKeyMD5"] == md5_b64(key)
    assert g["ETag"] == put["ETag"]

    h = c.head_object(Bucket=b, Key="secret", **ssec(key))
    assert h["ContentLength"] == len(data)
    assert h["SSECustomerAlgorithm"] == "AES256"
    assert h["SSECustomerKeyMD5"] == md5_b64(key)
    assert h["ETag"] == put["ETag"]


def test_empty_object(env):
    c, b, key = env
    c.put_object(Bucket=b, Key="empty", Body=b"", **ssec(key))
    assert body_of(c.get_object(Bucket=b, Key="empty", **ssec(key))) == b""
    with client_error(403):
        c.head_object(Bucket=b, Key="empty", **ssec(new_key()))


def test_wrong_key(env):
    c, b, key = env
    c.put_object(Bucket=b, Key="secret", Body=b"top secret", **ssec(key))
    with client_error(403, "AccessDenied") as info:
        c.get_object(Bucket=b, Key="secret", **ssec(new_key()))
    assert b"top secret" not in str(info.value.response).encode()
    with client_error(403):
        c.head_object(Bucket=b, Key="secret", **ssec(new_key()))


def test_missing_key(env):
    c, b, key = env
    c.put_object(Bucket=b, Key="secret", Body=b"top secret", **ssec(key))
    with client_error(400, "InvalidRequest"):
        c.get_object(Bucket=b, Key="secret")
    with client_error(400):
        c.head_object(Bucket=b, Key="secret")


def test_bad_key_md5(env):
    c, b, key = env
    b64 = base64.b64encode(key).decode()
    bad_md5 = md5_b64(b"not the key")
    with client_error(400, "InvalidArgument"):
        c.put_object(Bucket=b, Key="k", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey=b64,
                     SSECustomerKeyMD5=bad_md5)
    with client_error(404):
        c.head_object(Bucket=b, Key="k")
    c.put_object(Bucket=b, Key="k", Body=b"x", **ssec(key))
    with client_error(400, "InvalidArgument"):
        c.get_object(Bucket=b, Key="k", SSECustomerAlgorithm="AES256", SSECustomerKey=b64, SSECustomerKeyMD5=bad_md5)


def test_key_without_algorithm(env):
    c, b, key = env
    refused_put(c, b, "k", 400, "InvalidArgument", Body=b"x", SSECustomerKey=key)


def test_algorithm_without_key(env):
    c, b, _ = env
    refused_put(c, b, "k", 400, "InvalidArgument", Body=b"x", SSECustomerAlgorithm="AES256")


def test_key_of_wrong_length(env):
    c, b, _ = env
    refused_put(c, b, "k", 400, "InvalidArgument", Body=b"x", **ssec(os.urandom(16)))


def test_unsupported_algorithm(env):
    c, b, key = env
    with client_error(400):
        c.put_object(Bucket=b, Key="k", Body=b"x", SSECustomerAlgorithm="AES128", SSECustomerKey=key)


def test_ssec_combined_with_sse_header(env):
    c, b, key = env
    refused_put(c, b, "k", 400, "InvalidArgument", Body=b"x", ServerSideEncryption="AES256", **ssec(key))


def test_ssec_headers_on_sse_s3_object(env):
    c, b, key = env
    c.put_object(Bucket=b, Key="plain", Body=b"sse-s3")
    with client_error(400, "InvalidRequest"):
        c.get_object(Bucket=b, Key="plain", **ssec(key))


@pytest.mark.parametrize(
    "start,end",
    [(0, 0), (CHUNK - 3, CHUNK + 3), (CHUNK, 2 * CHUNK - 1), (5, 3 * CHUNK + 5), (3 * CHUNK, 3 * CHUNK + 10)],
)
def test_ranges(env, start, end):
    c, b, key = env
    data = patterned(3 * CHUNK + 11, seed=2)
    c.put_object(Bucket=b, Key="r", Body=data, **ssec(key))
    g = c.get_object(Bucket=b, Key="r", Range=f"bytes={start}-{end}", **ssec(key))
    assert g["ContentRange"] == f"bytes {start}-{end}/{len(data)}"
    assert body_of(g) == data[start : end + 1]


def test_range_with_wrong_key(env):
    c, b, key = env
    c.put_object(Bucket=b, Key="r", Body=patterned(2 * CHUNK), **ssec(key))
    with client_error(403, "AccessDenied"):
        c.get_object(Bucket=b, Key="r", Range="bytes=0-9", **ssec(new_key()))


# ---------------------------------------------------------------- refusals over plain HTTP


def test_refused_over_http_without_switch(s3, bucket):
    key = new_key()
    with client_error(400, "InvalidRequest"):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", **ssec(key))
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="k")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    with client_error(400, "InvalidRequest"):
        s3.get_object(Bucket=bucket, Key="plain", **ssec(key))
    with client_error(400, "InvalidRequest"):
        s3.create_multipart_upload(Bucket=bucket, Key="mp", **ssec(key))
    with client_error(400, "InvalidRequest"):
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "plain"}, **ssec(key))


# ---------------------------------------------------------------- multipart


def test_multipart(env):
    c, b, key = env
    p1, p2 = patterned(MIN_PART, seed=3), patterned(CHUNK + 7, seed=4)
    up = c.create_multipart_upload(Bucket=b, Key="mp", **ssec(key))
    assert up["SSECustomerAlgorithm"] == "AES256"
    assert up["SSECustomerKeyMD5"] == md5_b64(key)
    uid = up["UploadId"]
    r1 = c.upload_part(Bucket=b, Key="mp", UploadId=uid, PartNumber=1, Body=p1, **ssec(key))
    assert r1["SSECustomerKeyMD5"] == md5_b64(key)
    r2 = c.upload_part(Bucket=b, Key="mp", UploadId=uid, PartNumber=2, Body=p2, **ssec(key))
    done = c.complete_multipart_upload(Bucket=b, Key="mp", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["ETag"]}, {"PartNumber": 2, "ETag": r2["ETag"]}]}, **ssec(key))
    assert done["ETag"].endswith('-2"')

    g = c.get_object(Bucket=b, Key="mp", **ssec(key))
    assert hashlib.sha256(body_of(g)).digest() == hashlib.sha256(p1 + p2).digest()
    assert g["SSECustomerKeyMD5"] == md5_b64(key)
    rng = c.get_object(Bucket=b, Key="mp", Range=f"bytes={MIN_PART - 5}-{MIN_PART + 4}", **ssec(key))
    assert body_of(rng) == (p1 + p2)[MIN_PART - 5 : MIN_PART + 5]
    part2 = c.get_object(Bucket=b, Key="mp", PartNumber=2, **ssec(key))
    assert body_of(part2) == p2
    with client_error(400, "InvalidRequest"):
        c.get_object(Bucket=b, Key="mp")
    with client_error(403, "AccessDenied"):
        c.get_object(Bucket=b, Key="mp", **ssec(new_key()))


def test_multipart_part_key_must_match(env):
    c, b, key = env
    uid = c.create_multipart_upload(Bucket=b, Key="mp", **ssec(key))["UploadId"]
    with client_error((400, 403)):
        c.upload_part(Bucket=b, Key="mp", UploadId=uid, PartNumber=1, Body=b"other key", **ssec(new_key()))
    with client_error(400):
        c.upload_part(Bucket=b, Key="mp", UploadId=uid, PartNumber=1, Body=b"no key")
    # Neither refused part was recorded.
    assert not c.list_parts(Bucket=b, Key="mp", UploadId=uid).get("Parts")
    r = c.upload_part(Bucket=b, Key="mp", UploadId=uid, PartNumber=1, Body=b"right key", **ssec(key))
    c.complete_multipart_upload(Bucket=b, Key="mp", UploadId=uid,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]}, **ssec(key))
    assert body_of(c.get_object(Bucket=b, Key="mp", **ssec(key))) == b"right key"


def test_sse_s3_upload_refuses_ssec_parts(env):
    c, b, key = env
    uid = c.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    with client_error(400):
        c.upload_part(Bucket=b, Key="mp", UploadId=uid, PartNumber=1, Body=b"x", **ssec(key))
    c.abort_multipart_upload(Bucket=b, Key="mp", UploadId=uid)


# ---------------------------------------------------------------- copies


def test_copy_sse_s3_to_ssec(env):
    c, b, key = env
    c.put_object(Bucket=b, Key="src", Body=b"was sse-s3", Metadata={"m": "1"})
    r = c.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"}, **ssec(key))
    assert r["SSECustomerAlgorithm"] == "AES256"
    assert r["SSECustomerKeyMD5"] == md5_b64(key)
    g = c.get_object(Bucket=b, Key="dst", **ssec(key))
    assert body_of(g) == b"was sse-s3"
    assert g["Metadata"] == {"m": "1"}
    with client_error(400, "InvalidRequest"):
        c.get_object(Bucket=b, Key="dst")


def test_copy_ssec_to_sse_s3(env):
    c, b, key = env
    c.put_object(Bucket=b, Key="src", Body=b"was sse-c", **ssec(key))
    r = c.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"}, **copy_source_ssec(key))
    assert r["ServerSideEncryption"] == "AES256"
    assert r["CopyObjectResult"]["ETag"] == quoted(md5_hex(b"was sse-c"))
    g = c.get_object(Bucket=b, Key="dst")
    assert body_of(g) == b"was sse-c"
    assert g["ServerSideEncryption"] == "AES256"
    assert "SSECustomerAlgorithm" not in g


def test_copy_ssec_to_ssec_other_key(env):
    c, b, key = env
    other = new_key()
    data = patterned(2 * CHUNK + 1, seed=5)
    c.put_object(Bucket=b, Key="src", Body=data, **ssec(key))
    r = c.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"}, **copy_source_ssec(key),
                      **ssec(other))
    assert r["SSECustomerKeyMD5"] == md5_b64(other)
    assert body_of(c.get_object(Bucket=b, Key="dst", **ssec(other))) == data
    with client_error(403, "AccessDenied"):
        c.get_object(Bucket=b, Key="dst", **ssec(key))
    assert body_of(c.get_object(Bucket=b, Key="src", **ssec(key))) == data


def test_key_rotation_by_self_copy(env):
    c, b, old = env
    new = new_key()
    data = patterned(CHUNK + 5, seed=6)
    c.put_object(Bucket=b, Key="rotate", Body=data, Metadata={"keep": "me"}, ContentType="text/x-rotated",
                 **ssec(old))
    r = c.copy_object(Bucket=b, Key="rotate", CopySource={"Bucket": b, "Key": "rotate"}, **copy_source_ssec(old),
                      **ssec(new))
    assert r["SSECustomerKeyMD5"] == md5_b64(new)
    g = c.get_object(Bucket=b, Key="rotate", **ssec(new))
    assert body_of(g) == data
    assert g["Metadata"] == {"keep": "me"}
    assert g["ContentType"] == "text/x-rotated"
    with client_error(403, "AccessDenied"):
        c.get_object(Bucket=b, Key="rotate", **ssec(old))


def test_copy_ssec_source_without_or_with_wrong_key(env):
    c, b, key = env
    c.put_object(Bucket=b, Key="src", Body=b"locked", **ssec(key))
    with client_error(400, "InvalidRequest"):
        c.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"})
    with client_error(403, "AccessDenied"):
        c.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"}, **copy_source_ssec(new_key()))
    with client_error(404):
        c.head_object(Bucket=b, Key="dst")


def test_upload_part_copy_between_ssec_objects(env):
    c, b, key = env
    other = new_key()
    src = patterned(MIN_PART + 100, seed=7)
    c.put_object(Bucket=b, Key="src", Body=src, **ssec(key))
    uid = c.create_multipart_upload(Bucket=b, Key="dst", **ssec(other))["UploadId"]
    r1 = c.upload_part_copy(Bucket=b, Key="dst", UploadId=uid, PartNumber=1, CopySource={"Bucket": b, "Key": "src"},
                            CopySourceRange=f"bytes=0-{MIN_PART - 1}", **copy_source_ssec(key), **ssec(other))
    r2 = c.upload_part_copy(Bucket=b, Key="dst", UploadId=uid, PartNumber=2, CopySource={"Bucket": b, "Key": "src"},
                            CopySourceRange=f"bytes={MIN_PART}-{len(src) - 1}", **copy_source_ssec(key),
                            **ssec(other))
    c.complete_multipart_upload(Bucket=b, Key="dst", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]}, **ssec(other))
    assert body_of(c.get_object(Bucket=b, Key="dst", **ssec(other))) == src


# ---------------------------------------------------------------- BlockedEncryptionTypes


def _encryption(blocked: list[str] | None):
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    if blocked is not None:
        rule["BlockedEncryptionTypes"] = {"EncryptionType": blocked}
    return {"Rules": [rule]}


def test_blocked_encryption_types(env):
    c, b, key = env
    c.put_object(Bucket=b, Key="before", Body=b"written before the block", **ssec(key))
    c.put_object(Bucket=b, Key="plain", Body=b"sse-s3 source")

    c.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration=_encryption(["SSE-C"]))
    rule = c.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert rule.get("BlockedEncryptionTypes", {}).get("EncryptionType") == ["SSE-C"]

    with client_error(403, "AccessDenied"):
        c.put_object(Bucket=b, Key="after", Body=b"x", **ssec(key))
    with client_error(403, "AccessDenied"):
        c.create_multipart_upload(Bucket=b, Key="after-mp", **ssec(key))
    with client_error(403, "AccessDenied"):
        c.copy_object(Bucket=b, Key="after-copy", CopySource={"Bucket": b, "Key": "plain"}, **ssec(key))
    for k in ("after", "after-copy"):
        with client_error(404):
            c.head_object(Bucket=b, Key=k)

    # Reads of existing SSE-C objects still work, and so do SSE-S3 writes.
    assert body_of(c.get_object(Bucket=b, Key="before", **ssec(key))) == b"written before the block"
    assert c.put_object(Bucket=b, Key="sse-s3", Body=b"fine")["ServerSideEncryption"] == "AES256"
    # Copying an SSE-C object out to SSE-S3 is a read, not an SSE-C write.
    c.copy_object(Bucket=b, Key="decrypted", CopySource={"Bucket": b, "Key": "before"}, **copy_source_ssec(key))
    assert body_of(c.get_object(Bucket=b, Key="decrypted")) == b"written before the block"

    # Unblocking lets SSE-C writes in again.
    c.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration=_encryption(["NONE"]))
    c.put_object(Bucket=b, Key="after", Body=b"allowed again", **ssec(key))
    assert body_of(c.get_object(Bucket=b, Key="after", **ssec(key))) == b"allowed again"


def test_block_applies_per_bucket(env):
    c, b, key = env
    other = unique_bucket("unblocked")
    c.create_bucket(Bucket=other)
    c.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration=_encryption(["SSE-C"]))
    c.put_object(Bucket=other, Key="k", Body=b"still fine", **ssec(key))
    assert body_of(c.get_object(Bucket=other, Key="k", **ssec(key))) == b"still fine"
