"""Integrity on upload: boto3's default aws-chunked uploads with trailing checksums (over TLS),
checksum headers (over HTTP), Content-MD5, and that a PUT with a bad digest stores nothing."""

import base64
import hashlib
import re
import zlib

import pytest

from helpers import KiB, MiB, body_of, client_error, md5_b64, md5_hex, patterned, quoted, refused_put, unique_bucket


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class SentHeaders:
    """Records the headers of the last request of one operation, as they went on the wire."""

    def __init__(self, client, operation):
        self.headers = {}
        client.meta.events.register(f"before-send.s3.{operation}", self._record)

    def _record(self, request, **_):
        self.headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}


@pytest.fixture(params=["tls", "http"])
def target(request):
    """(client, bucket, transport). Over TLS boto3 streams aws-chunked bodies with trailers;
    over HTTP it sends the checksum as a header."""
    srv = request.getfixturevalue("tls_server" if request.param == "tls" else "server")
    c = srv.client()
    b = unique_bucket("cksum-" + request.param)
    c.create_bucket(Bucket=b)
    return c, b, request.param


@pytest.fixture
def tls_target(tls_server):
    c = tls_server.client()
    b = unique_bucket("cksum-tls")
    c.create_bucket(Bucket=b)
    return c, b


@pytest.mark.parametrize("size", [0, 1, 100 * KiB, 2 * MiB + 17])
def test_default_put_uses_crc32(target, size):
    c, b, transport = target
    sent = SentHeaders(c, "PutObject")
    data = patterned(size, seed=size)
    r = c.put_object(Bucket=b, Key="k", Body=data)
    if transport == "tls":
        assert "aws-chunked" in sent.headers.get("content-encoding", "")
        assert sent.headers.get("x-amz-trailer") == "x-amz-checksum-crc32"
        assert sent.headers.get("x-amz-decoded-content-length") == str(size)
    else:
        assert sent.headers.get("x-amz-checksum-crc32") == crc32_b64(data)
    assert r["ETag"] == quoted(md5_hex(data))
    g = c.get_object(Bucket=b, Key="k")
    assert body_of(g) == data
    assert g["ContentLength"] == size
    assert "ContentEncoding" not in g or "aws-chunked" not in g["ContentEncoding"], \
        "aws-chunked is a transfer detail, not the object's Content-Encoding"


def test_put_with_sha256_checksum(target):
    c, b, transport = target
    sent = SentHeaders(c, "PutObject")
    data = patterned(3 * MiB + 5, seed=3)
    r = c.put_object(Bucket=b, Key="k", Body=data, ChecksumAlgorithm="SHA256")
    if transport == "tls":
        assert sent.headers.get("x-amz-trailer") == "x-amz-checksum-sha256"
    assert r["ETag"] == quoted(md5_hex(data))
    assert body_of(c.get_object(Bucket=b, Key="k")) == data


def test_put_response_returns_checksum(target):
    c, b, _ = target
    data = b"checksummed body"
    r = c.put_object(Bucket=b, Key="k", Body=data, ChecksumAlgorithm="SHA256")
    assert r.get("ChecksumSHA256") == sha256_b64(data)
    r = c.put_object(Bucket=b, Key="k2", Body=data)
    assert r.get("ChecksumCRC32") == crc32_b64(data)


def test_get_with_checksum_mode_validates(target):
    c, b, _ = target
    data = patterned(200 * KiB, seed=9)
    c.put_object(Bucket=b, Key="k", Body=data, ChecksumAlgorithm="SHA256")
    g = c.get_object(Bucket=b, Key="k", ChecksumMode="ENABLED")
    # botocore checks the returned checksum while reading, so a wrong one raises here.
    assert body_of(g) == data
    assert g.get("ChecksumSHA256") == sha256_b64(data)


def test_file_like_body_streams(tls_target, tmp_path):
    c, b = tls_target
    path = tmp_path / "f.bin"
    data = patterned(5 * MiB + 3, seed=5)
    path.write_bytes(data)
    with open(path, "rb") as f:
        c.put_object(Bucket=b, Key="file", Body=f)
    assert hashlib.sha256(body_of(c.get_object(Bucket=b, Key="file"))).digest() == hashlib.sha256(data).digest()


# ---------------------------------------------------------------- bad digests


def test_content_md5_mismatch(target):
    c, b, _ = target
    refused_put(c, b, "bad-md5", 400, "BadDigest", Body=b"the real body", ContentMD5=md5_b64(b"another body"))


def test_content_md5_malformed(target):
    c, b, _ = target
    refused_put(c, b, "bad-md5", 400, "InvalidDigest", Body=b"body", ContentMD5="not-base64-md5")


def test_wrong_crc32_header(target):
    c, b, _ = target
    data = b"payload with a wrong checksum"
    wrong = crc32_b64(b"something else")
    refused_put(c, b, "bad-crc", 400, "BadDigest", Body=data, ChecksumCRC32=wrong)


def test_failed_put_keeps_previous_object(target):
    c, b, _ = target
    c.put_object(Bucket=b, Key="stable", Body=b"good old content")
    with client_error(400, "BadDigest"):
        c.put_object(Bucket=b, Key="stable", Body=b"evil new content", ContentMD5=md5_b64(b"x"))
    with client_error(400, "BadDigest"):
        c.put_object(Bucket=b, Key="stable", Body=b"evil new content", ChecksumCRC32=crc32_b64(b"x"))
    g = c.get_object(Bucket=b, Key="stable")
    assert body_of(g) == b"good old content"
    assert g["ETag"] == quoted(md5_hex(b"good old content"))


def _corrupt_trailer(client, name):
    """Rewrites the trailing checksum of aws-chunked PutObject bodies to a wrong value of the
    same length, after signing, as a corrupted upload would arrive."""
    pattern = re.compile(rb"(" + re.escape(name.encode()) + rb":)([A-Za-z0-9+/=]+)")

    def handler(request, **_):
        body = request.body
        raw = body.read() if hasattr(body, "read") else bytes(body)
        m = pattern.search(raw)
        assert m, "no trailing checksum in the request body"
        digest = bytearray(base64.b64decode(m.group(2)))
        digest[0] ^= 0xFF
        wrong = base64.b64encode(bytes(digest))
        assert len(wrong) == len(m.group(2))
        request.body = raw[: m.start(2)] + wrong + raw[m.end(2):]

    client.meta.events.register("before-send.s3.PutObject", handler)


@pytest.mark.parametrize("algorithm,trailer", [(None, "x-amz-checksum-crc32"), ("SHA256", "x-amz-checksum-sha256")])
def test_wrong_trailing_checksum(tls_server, tls_target, algorithm, trailer):
    c, b = tls_target
    c.put_object(Bucket=b, Key="victim", Body=b"previous content")
    corrupting = tls_server.client()
    _corrupt_trailer(corrupting, trailer)
    extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    data = patterned(1 * MiB + 100, seed=8)
    with client_error(400, "BadDigest"):
        corrupting.put_object(Bucket=b, Key="victim", Body=data, **extra)
    with client_error(400, "BadDigest"):
        corrupting.put_object(Bucket=b, Key="new-key", Body=data, **extra)
    # Nothing was written by the refused uploads.
    assert body_of(c.get_object(Bucket=b, Key="victim")) == b"previous content"
    with client_error(404):
        c.head_object(Bucket=b, Key="new-key")
