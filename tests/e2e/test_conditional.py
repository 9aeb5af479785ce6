"""Conditional writes, deletes and copies as S3 answers them: If-None-Match and If-Match on
PutObject and CompleteMultipartUpload (412, 404, and 409 when a concurrent request changed
the key meanwhile), If-Match on DeleteObject and per-object ETags in DeleteObjects, the
x-amz-copy-source-if-* conditions and those on a copy's destination, and a repeated
CompleteMultipartUpload."""

import http.client
import json
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from helpers import (
    MIN_PART,
    body_of,
    client_error,
    md5_hex,
    patterned,
    quoted,
    unique_bucket,
    unique_key,
)

PART = patterned(MIN_PART, seed=21)


@pytest.fixture(scope="module")
def vbucket(s3):
    b = unique_bucket("cond-ver")
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    return b


def test_put_if_none_match_creates_only(s3, bucket):
    key = unique_key("create")
    s3.put_object(Bucket=bucket, Key=key, Body=b"first", IfNoneMatch="*")
    with client_error(412, "PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"second", IfNoneMatch="*")
    assert body_of(s3.get_object(Bucket=bucket, Key=key)) == b"first"


def test_put_if_match(s3, bucket):
    key = unique_key("update")
    etag = s3.put_object(Bucket=bucket, Key=key, Body=b"v1")["ETag"]
    with client_error(412, "PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"v2", IfMatch=quoted(md5_hex(b"other")))
    s3.put_object(Bucket=bucket, Key=key, Body=b"v2", IfMatch=etag)
    assert body_of(s3.get_object(Bucket=bucket, Key=key)) == b"v2"
    # The old ETag no longer matches.
    with client_error(412, "PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"v3", IfMatch=etag)
    with client_error(404, "NoSuchKey"):
        s3.put_object(Bucket=bucket, Key=unique_key("absent"), Body=b"x", IfMatch=etag)


def test_a_delete_marker_counts_as_absent(s3, vbucket):
    key = unique_key("marker")
    etag = s3.put_object(Bucket=vbucket, Key=key, Body=b"v1")["ETag"]
    s3.delete_object(Bucket=vbucket, Key=key)
    with client_error(404, "NoSuchKey"):
        s3.put_object(Bucket=vbucket, Key=key, Body=b"v2", IfMatch=etag)
    s3.put_object(Bucket=vbucket, Key=key, Body=b"v2", IfNoneMatch="*")


def slow_conditional_put(url: str, headers: dict, body: bytes, sent_first_half: threading.Event,
                         go_on: threading.Event, result: dict) -> None:
    """PUTs `body` to a presigned URL: half, then waits for `go_on`, then the rest."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.putrequest("PUT", f"{u.path}?{u.query}", skip_accept_encoding=True)
        conn.putheader("Content-Length", str(len(body)))
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        half = len(body) // 2
        conn.send(body[:half])
        sent_first_half.set()
        go_on.wait(30)
        conn.send(body[half:])
        resp = conn.getresponse()
        result["status"] = resp.status
        result["body"] = resp.read().decode(errors="replace")
    except Exception as e:  # noqa: BLE001 - reported through result
        result["error"] = repr(e)
    finally:
        conn.close()


def race_a_put(s3, bucket, key, headers, params, meanwhile) -> dict:
    """Starts a conditional PUT of `key`, runs `meanwhile` while its body is half sent,
    then finishes it; returns its status and body."""
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key, **params})
    started, go_on, result = threading.Event(), threading.Event(), {}
    t = threading.Thread(target=slow_conditional_put,
                         args=(url, headers, b"r" * (256 * 1024), started, go_on, result))
    t.start()
    assert started.wait(10)
    # The gateway notes the key's state when the request arrives, before the body.
    time.sleep(1.0)
    meanwhile()
    go_on.set()
    t.join(60)
    assert "error" not in result, result
    return result


def test_a_conditional_put_that_races_a_delete_conflicts(s3, bucket):
    key = unique_key("race-delete")
    s3.put_object(Bucket=bucket, Key=key, Body=b"there")
    # When the PUT began the key existed; a delete lands before it commits: S3 answers 409.
    r = race_a_put(s3, bucket, key, {"If-None-Match": "*"}, {"IfNoneMatch": "*"},
                   lambda: s3.delete_object(Bucket=bucket, Key=key))
    assert r["status"] == 409, r
    assert "<Code>ConditionalRequestConflict</Code>" in r["body"]
    with client_error(404):
        s3.head_object(Bucket=bucket, Key=key)
    # A retry of the same request now succeeds.
    s3.put_object(Bucket=bucket, Key=key, Body=b"retried", IfNoneMatch="*")


def test_of_two_create_only_puts_the_first_to_finish_wins(s3, bucket):
    key = unique_key("race-create")
    r = race_a_put(s3, bucket, key, {"If-None-Match": "*"}, {"IfNoneMatch": "*"},
                   lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"fast", IfNoneMatch="*"))
    assert r["status"] == 412, r
    assert "<Code>PreconditionFailed</Code>" in r["body"]
    assert body_of(s3.get_object(Bucket=bucket, Key=key)) == b"fast"


def test_an_if_match_put_that_races_an_overwrite_fails(s3, bucket):
    key = unique_key("race-overwrite")
    etag = s3.put_object(Bucket=bucket, Key=key, Body=b"v1")["ETag"]
    r = race_a_put(s3, bucket, key, {"If-Match": etag}, {"IfMatch": etag},
                   lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"v2"))
    assert r["status"] == 412, r
    assert body_of(s3.get_object(Bucket=bucket, Key=key)) == b"v2"


def start_upload(s3, bucket, key):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=PART)["ETag"]
    return up, {"Parts": [{"PartNumber": 1, "ETag": etag}]}


def test_complete_if_none_match(s3, bucket):
    key = unique_key("mp-create")
    up, parts = start_upload(s3, bucket, key)
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload=parts, IfNoneMatch="*")
    # Another upload to the same key, created after the object exists.
    up2, parts2 = start_upload(s3, bucket, key)
    with client_error(412, "PreconditionFailed"):
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up2, MultipartUpload=parts2,
                                     IfNoneMatch="*")
    # The refused upload is still there: it can be aborted.
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=up2)


def test_complete_if_match(s3, bucket):
    key = unique_key("mp-update")
    etag = s3.put_object(Bucket=bucket, Key=key, Body=b"v1")["ETag"]
    up, parts = start_upload(s3, bucket, key)
    with client_error(412, "PreconditionFailed"):
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload=parts,
                                     IfMatch=quoted(md5_hex(b"other")))
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload=parts,
                                        IfMatch=etag)
    assert s3.head_object(Bucket=bucket, Key=key)["ETag"] == done["ETag"]
    absent = unique_key("mp-absent")
    up2, parts2 = start_upload(s3, bucket, absent)
    with client_error(404, "NoSuchKey"):
        s3.complete_multipart_upload(Bucket=bucket, Key=absent, UploadId=up2, MultipartUpload=parts2,
                                     IfMatch=etag)


def test_a_conditional_complete_after_the_key_changed_conflicts(s3, bucket):
    """S3 counts the whole upload as the write: the key existed when it began and was
    deleted before the completion, so If-None-Match would hold, but the upload raced the
    delete: 409, and the client starts a new upload."""
    key = unique_key("mp-race")
    s3.put_object(Bucket=bucket, Key=key, Body=b"there")
    up, parts = start_upload(s3, bucket, key)
    s3.delete_object(Bucket=bucket, Key=key)
    with client_error(409, "ConditionalRequestConflict"):
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload=parts,
                                     IfNoneMatch="*")
    with client_error(404):
        s3.head_object(Bucket=bucket, Key=key)
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=up)
    up2, parts2 = start_upload(s3, bucket, key)
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up2, MultipartUpload=parts2,
                                 IfNoneMatch="*")


def test_a_repeated_complete_answers_as_the_first(s3, vbucket):
    key = unique_key("mp-again")
    up, parts = start_upload(s3, vbucket, key)
    first = s3.complete_multipart_upload(Bucket=vbucket, Key=key, UploadId=up, MultipartUpload=parts)
    again = s3.complete_multipart_upload(Bucket=vbucket, Key=key, UploadId=up, MultipartUpload=parts)
    for field in ("ETag", "VersionId", "Bucket", "Key", "ServerSideEncryption"):
        assert again[field] == first[field], field
    # Later writes to the key do not change what the upload became.
    s3.put_object(Bucket=vbucket, Key=key, Body=b"newer")
    assert s3.complete_multipart_upload(Bucket=vbucket, Key=key, UploadId=up,
                                        MultipartUpload=parts)["VersionId"] == first["VersionId"]
    # Other requests no longer know the upload.
    with client_error(404, "NoSuchUpload"):
        s3.abort_multipart_upload(Bucket=vbucket, Key=key, UploadId=up)
    with client_error(404, "NoSuchUpload"):
        s3.upload_part(Bucket=vbucket, Key=key, UploadId=up, PartNumber=2, Body=b"x")
    with client_error(404, "NoSuchUpload"):
        s3.complete_multipart_upload(Bucket=vbucket, Key="other-key", UploadId=up, MultipartUpload=parts)
    # Once its version is gone, neither does a completion.
    s3.delete_object(Bucket=vbucket, Key=key, VersionId=first["VersionId"])
    with client_error(404, "NoSuchUpload"):
        s3.complete_multipart_upload(Bucket=vbucket, Key=key, UploadId=up, MultipartUpload=parts)


def test_delete_if_match(s3, bucket):
    key = unique_key("del")
    etag = s3.put_object(Bucket=bucket, Key=key, Body=b"keep me")["ETag"]
    with client_error(412, "PreconditionFailed"):
        s3.delete_object(Bucket=bucket, Key=key, IfMatch=quoted(md5_hex(b"other")))
    assert body_of(s3.get_object(Bucket=bucket, Key=key)) == b"keep me"
    r = s3.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with client_error(404):
        s3.head_object(Bucket=bucket, Key=key)
    with client_error(404, "NoSuchKey"):
        s3.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
    with client_error(404, "NoSuchKey"):
        s3.delete_object(Bucket=bucket, Key=key, IfMatch="*")


def test_directory_bucket_delete_conditions_are_refused_not_ignored(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with client_error(501, "NotImplemented"):
        s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=1)
    assert body_of(s3.get_object(Bucket=bucket, Key="k")) == b"x"


def test_delete_if_match_in_a_versioned_bucket(s3, vbucket):
    key = unique_key("del-ver")
    etag = s3.put_object(Bucket=vbucket, Key=key, Body=b"v1")["ETag"]
    r = s3.delete_object(Bucket=vbucket, Key=key, IfMatch="*")
    assert r["DeleteMarker"] is True
    # The latest is now a delete marker: the object does not exist for a condition.
    with client_error(404, "NoSuchKey"):
        s3.delete_object(Bucket=vbucket, Key=key, IfMatch=etag)
    assert s3.list_object_versions(Bucket=vbucket, Prefix=key)["Versions"][0]["ETag"] == etag


def test_delete_objects_with_etags(s3, bucket):
    a, b, c = unique_key("a"), unique_key("b"), unique_key("c")
    ea = s3.put_object(Bucket=bucket, Key=a, Body=b"a")["ETag"]
    s3.put_object(Bucket=bucket, Key=b, Body=b"b")
    s3.put_object(Bucket=bucket, Key=c, Body=b"c")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": a, "ETag": ea},
        {"Key": b, "ETag": quoted(md5_hex(b"not b"))},
        {"Key": c},
    ]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted([a, c])
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [(b, "PreconditionFailed")]
    assert body_of(s3.get_object(Bucket=bucket, Key=b)) == b"b"


def test_copy_source_conditions(s3, bucket):
    src = unique_key("src")
    etag = s3.put_object(Bucket=bucket, Key=src, Body=b"source")["ETag"]
    source = {"Bucket": bucket, "Key": src}
    past = datetime.now(timezone.utc) - timedelta(days=1)
    future = datetime.now(timezone.utc) + timedelta(days=1)
    dst = unique_key("dst")

    def copy(**cond):
        return s3.copy_object(Bucket=bucket, Key=dst, CopySource=source, **cond)

    copy(CopySourceIfMatch=etag)
    copy(CopySourceIfNoneMatch=quoted(md5_hex(b"other")))
    copy(CopySourceIfModifiedSince=past)
    copy(CopySourceIfUnmodifiedSince=future)
    for cond in ({"CopySourceIfMatch": quoted(md5_hex(b"other"))},
                 {"CopySourceIfNoneMatch": etag},
                 {"CopySourceIfModifiedSince": future},
                 {"CopySourceIfUnmodifiedSince": past}):
        with client_error(412, "PreconditionFailed"):
            copy(**cond)
    # S3's pairs: a true If-Match wins over a false If-Unmodified-Since; a false
    # If-None-Match fails even with a true If-Modified-Since.
    copy(CopySourceIfMatch=etag, CopySourceIfUnmodifiedSince=past)
    with client_error(412, "PreconditionFailed"):
        copy(CopySourceIfNoneMatch=etag, CopySourceIfModifiedSince=past)
    # UploadPartCopy takes the same conditions.
    up = s3.create_multipart_upload(Bucket=bucket, Key=dst)["UploadId"]
    with client_error(412, "PreconditionFailed"):
        s3.upload_part_copy(Bucket=bucket, Key=dst, UploadId=up, PartNumber=1, CopySource=source,
                            CopySourceIfNoneMatch=etag)
    s3.upload_part_copy(Bucket=bucket, Key=dst, UploadId=up, PartNumber=1, CopySource=source,
                        CopySourceIfMatch=etag)
    s3.abort_multipart_upload(Bucket=bucket, Key=dst, UploadId=up)


def test_copy_destination_conditions(s3, bucket):
    src = unique_key("src")
    s3.put_object(Bucket=bucket, Key=src, Body=b"source")
    source = {"Bucket": bucket, "Key": src}
    dst = unique_key("dst")
    s3.copy_object(Bucket=bucket, Key=dst, CopySource=source, IfNoneMatch="*")
    with client_error(412, "PreconditionFailed"):
        s3.copy_object(Bucket=bucket, Key=dst, CopySource=source, IfNoneMatch="*")
    with client_error(412, "PreconditionFailed"):
        s3.copy_object(Bucket=bucket, Key=dst, CopySource=source, IfMatch=quoted(md5_hex(b"other")))
    etag = s3.put_object(Bucket=bucket, Key=dst, Body=b"replaced")["ETag"]
    s3.copy_object(Bucket=bucket, Key=dst, CopySource=source, IfMatch=etag)
    assert body_of(s3.get_object(Bucket=bucket, Key=dst)) == b"source"
    with client_error(404, "NoSuchKey"):
        s3.copy_object(Bucket=bucket, Key=unique_key("absent"), CopySource=source, IfMatch=etag)


def cli_error(proc) -> str:
    assert proc.returncode != 0, proc.stdout_text
    return proc.stderr_text


def test_aws_cli_conditional_requests(aws, s3, bucket, tmp_path):
    key = unique_key("cli")
    f = tmp_path / "body"
    f.write_bytes(b"from the cli")
    put = ("s3api", "put-object", "--bucket", bucket, "--key", key, "--body", f)
    etag = aws.json(*put, "--if-none-match", "*")["ETag"]
    assert "PreconditionFailed" in cli_error(aws(*put, "--if-none-match", "*", check=False))
    assert "PreconditionFailed" in cli_error(aws(*put, "--if-match", quoted(md5_hex(b"x")), check=False))
    aws(*put, "--if-match", etag)

    copy = ("s3api", "copy-object", "--bucket", bucket, "--key", key + "-copy",
            "--copy-source", f"{bucket}/{key}")
    assert "PreconditionFailed" in cli_error(aws(*copy, "--copy-source-if-none-match", etag, check=False))
    aws(*copy, "--copy-source-if-match", etag)

    delete = ("s3api", "delete-object", "--bucket", bucket, "--key", key)
    assert "PreconditionFailed" in cli_error(aws(*delete, "--if-match", quoted(md5_hex(b"x")), check=False))
    aws(*delete, "--if-match", etag)
    assert "NoSuchKey" in cli_error(aws(*delete, "--if-match", etag, check=False))

    mp = key + "-mp"
    up = aws.json("s3api", "create-multipart-upload", "--bucket", bucket, "--key", mp)["UploadId"]
    part = tmp_path / "part"
    part.write_bytes(PART)
    petag = aws.json("s3api", "upload-part", "--bucket", bucket, "--key", mp, "--upload-id", up,
                     "--part-number", "1", "--body", part)["ETag"]
    parts = json.dumps({"Parts": [{"PartNumber": 1, "ETag": petag}]})
    complete = ("s3api", "complete-multipart-upload", "--bucket", bucket, "--key", mp, "--upload-id", up,
                "--multipart-upload", parts)
    s3.put_object(Bucket=bucket, Key=mp, Body=b"already")
    assert "PreconditionFailed" in cli_error(aws(*complete, "--if-none-match", "*", check=False))
    done = aws.json(*complete)
    assert aws.json(*complete)["ETag"] == done["ETag"]
