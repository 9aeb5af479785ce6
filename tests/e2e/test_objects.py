"""Objects: put/get/head/delete, metadata and content headers, conditional requests, batch delete."""

import base64
import email.header
import gzip
from datetime import timedelta

import pytest

from helpers import CHUNK, KiB, body_of, client_error, md5_hex, patterned, quoted


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_put_get_round_trip(s3, bucket, size):
    data = patterned(size, seed=size)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=data)
    assert put["ETag"] == quoted(md5_hex(data))
    assert put["ServerSideEncryption"] == "AES256"

    got = s3.get_object(Bucket=bucket, Key="obj")
    assert body_of(got) == data
    assert got["ContentLength"] == size
    assert got["ETag"] == quoted(md5_hex(data))
    assert got["ServerSideEncryption"] == "AES256"


def test_head_reports_what_was_stored(s3, bucket):
    data = b"hello sealgate\n"
    s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=data, ContentType="text/plain; charset=utf-8")
    h = s3.head_object(Bucket=bucket, Key="dir/hello.txt")
    assert h["ContentLength"] == len(data)
    assert h["ContentType"] == "text/plain; charset=utf-8"
    assert h["ETag"] == quoted(md5_hex(data))
    assert h["ServerSideEncryption"] == "AES256"
    assert h["LastModified"] is not None
    assert h.get("AcceptRanges") == "bytes"


def test_overwrite_replaces_content(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version", Metadata={"gen": "1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"second", Metadata={"gen": "2"})
    got = s3.get_object(Bucket=bucket, Key="k")
    assert body_of(got) == b"second"
    assert got["Metadata"] == {"gen": "2"}


def test_keys_with_unusual_characters(s3, bucket):
    keys = ["with space.txt", "plus+sign", "percent%20literal", "ünïcødé/名前.bin", "tilde~!$&'()*,;=@",
            "trailing/"]
    for i, k in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=k, Body=str(i).encode())
    for i, k in enumerate(keys):
        assert body_of(s3.get_object(Bucket=bucket, Key=k)) == str(i).encode(), k
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(keys)


def test_user_metadata_byte_exact(s3, bucket):
    meta = {
        "Mixed-Case-Key": "MiXeD CaSe Value",
        "inner": "inner  double  spaces",
        "punct": "a=b; c,d \"quoted\" <x> {y} [z] ~!@#$%^&*()_+`|\\/?",
        "digits": "0123456789",
    }
    s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata=meta)
    # S3 stores metadata names in lower case; values come back byte for byte.
    expected = {k.lower(): v for k, v in meta.items()}
    assert s3.head_object(Bucket=bucket, Key="m")["Metadata"] == expected
    assert s3.get_object(Bucket=bucket, Key="m")["Metadata"] == expected


def test_user_metadata_utf8_values(s3, bucket):
    # boto3 sends only ASCII headers; UTF-8 text travels RFC 2047-encoded, as AWS documents.
    text = "grüße, 日本語 ✓"
    encoded = email.header.Header(text, "utf-8").encode()
    assert encoded.isascii()
    s3.put_object(Bucket=bucket, Key="u", Body=b"x", Metadata={"title": encoded})
    back = s3.head_object(Bucket=bucket, Key="u")["Metadata"]["title"]
    decoded = "".join(
        part.decode(charset or "ascii") if isinstance(part, bytes) else part
        for part, charset in email.header.decode_header(back)
    )
    assert decoded == text


def test_metadata_too_large(s3, bucket):
    # AWS limits user metadata to 2 KB.
    with client_error(400, "MetadataTooLarge"):
        s3.put_object(Bucket=bucket, Key="big-meta", Body=b"x", Metadata={"m": "v" * 2100})
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="big-meta")


def test_standard_content_headers_round_trip(s3, bucket):
    page = gzip.compress(b"<p>hi</p>" * 100)
    s3.put_object(
        Bucket=bucket,
        Key="doc.html",
        Body=page,
        ContentType="text/html",
        ContentDisposition='attachment; filename="doc.html"',
        CacheControl="max-age=60",
        ContentLanguage="en",
        ContentEncoding="gzip",
    )
    for r in (s3.head_object(Bucket=bucket, Key="doc.html"), s3.get_object(Bucket=bucket, Key="doc.html")):
        assert r["ContentType"] == "text/html"
        assert r["ContentDisposition"] == 'attachment; filename="doc.html"'
        assert r["CacheControl"] == "max-age=60"
        assert r["ContentLanguage"] == "en"
        assert r["ContentEncoding"] == "gzip"
        assert r["ContentLength"] == len(page)
    # Stored as given: the server neither decodes nor re-encodes a pre-compressed body.
    assert body_of(s3.get_object(Bucket=bucket, Key="doc.html")) == page


def test_response_header_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=b"x", ContentType="text/plain")
    g = s3.get_object(Bucket=bucket, Key="r", ResponseContentType="application/json",
                      ResponseContentDisposition="inline")
    assert g["ContentType"] == "application/json"
    assert g["ContentDisposition"] == "inline"


def test_no_such_key(s3, bucket):
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="nope")
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="nope")


def test_delete_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    r = s3.delete_object(Bucket=bucket, Key="gone")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="gone")
    # Deleting what is not there succeeds, as on AWS.
    assert s3.delete_object(Bucket=bucket, Key="gone")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects_verbose(s3, bucket):
    for k in ["a", "b", "c"]:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "never-existed"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["a", "b", "never-existed"]
    assert not r.get("Errors")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["c"]


def test_delete_objects_quiet(s3, bucket):
    for k in ["a", "b"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}], "Quiet": True})
    assert not r.get("Deleted"), "quiet mode reports only errors"
    assert not r.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# ---------------------------------------------------------------- conditional requests


@pytest.fixture
def stored(s3, bucket):
    data = b"conditional body"
    s3.put_object(Bucket=bucket, Key="c", Body=data)
    h = s3.head_object(Bucket=bucket, Key="c")
    return bucket, h["ETag"], h["LastModified"], data


def test_get_if_match(s3, stored):
    bucket, etag, _, data = stored
    assert body_of(s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)) == data
    with client_error(412, "PreconditionFailed"):
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0123456789abcdef0123456789abcdef"')
    with client_error(412):
        s3.head_object(Bucket=bucket, Key="c", IfMatch='"0123456789abcdef0123456789abcdef"')


def test_get_if_none_match(s3, stored):
    bucket, etag, _, data = stored
    with client_error(304):
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    with client_error(304):
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert body_of(s3.get_object(Bucket=bucket, Key="c", IfNoneMatch='"ffffffffffffffffffffffffffffffff"')) == data


def test_get_if_modified_since(s3, stored):
    bucket, _, last_modified, data = stored
    with client_error(304):
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=last_modified)
    got = s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=last_modified - timedelta(days=1))
    assert body_of(got) == data


def test_get_if_unmodified_since(s3, stored):
    bucket, _, last_modified, data = stored
    with client_error(412, "PreconditionFailed"):
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=last_modified - timedelta(days=1))
    got = s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=last_modified + timedelta(days=1))
    assert body_of(got) == data


def test_if_match_wins_over_if_unmodified_since(s3, stored):
    # RFC 7232 and AWS: a true If-Match makes a false If-Unmodified-Since irrelevant.
    bucket, etag, last_modified, data = stored
    got = s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=last_modified - timedelta(days=1))
    assert body_of(got) == data


def test_conditional_put_if_none_match(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with client_error(412, "PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert body_of(s3.get_object(Bucket=bucket, Key="once")) == b"first"


def test_content_md5_accepted_when_right(s3, bucket):
    data = b"x" * (10 * KiB)
    md5 = base64.b64encode(bytes.fromhex(md5_hex(data))).decode()
    r = s3.put_object(Bucket=bucket, Key="md5", Body=data, ContentMD5=md5)
    assert r["ETag"] == quoted(md5_hex(data))
