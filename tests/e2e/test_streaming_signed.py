"""Signed aws-chunked uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), as the Java, Go and Rust
SDKs send them. boto3 and the aws CLI v1 never do, so the request is signed here by hand,
following the SigV4 streaming specification: a seed signature over the headers, then one
chained signature per chunk."""

import datetime
import hashlib
import hmac

import requests

from helpers import ACCESS_KEY, REGION, SECRET_KEY, md5_hex, patterned, unique_bucket

EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _signing_key(date: str) -> bytes:
    k = _hmac(("AWS4" + SECRET_KEY).encode(), date)
    for part in (REGION, "s3", "aws4_request"):
        k = _hmac(k, part)
    return k


def signed_chunked_put(endpoint: str, bucket: str, key: str, data: bytes, chunk: int = 64 * 1024,
                       tamper_chunk: int | None = None) -> requests.Response:
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = endpoint.split("://", 1)[1]
    scope = f"{date}/{REGION}/s3/aws4_request"
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]

    def framed_len(n: int) -> int:
        return len(f"{n:x};chunk-signature=") + 64 + 2 + n + 2

    headers = {
        "host": host,
        "content-encoding": "aws-chunked",
        "content-length": str(sum(framed_len(len(p)) for p in pieces)),
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "x-amz-date": amz_date,
        "x-amz-decoded-content-length": str(len(data)),
    }
    signed = sorted(headers)
    canonical = "\n".join([
        "PUT", f"/{bucket}/{key}", "",
        *(f"{h}:{headers[h]}" for h in signed), "",
        ";".join(signed), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    ])
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    skey = _signing_key(date)
    seed = hmac.new(skey, string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={seed}")

    body, prev = bytearray(), seed
    for i, p in enumerate(pieces):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY_SHA, hashlib.sha256(p).hexdigest()])
        sig = hmac.new(skey, sts.encode(), hashlib.sha256).hexdigest()
        prev = sig
        if i == tamper_chunk and p:
            p = bytes([p[0] ^ 1]) + p[1:]
        body += f"{len(p):x};chunk-signature={sig}\r\n".encode() + p + b"\r\n"
    del headers["host"]
    return requests.put(f"{endpoint}/{bucket}/{key}", data=bytes(body), headers=headers, timeout=60)


def test_signed_streaming_upload_round_trips(server, s3):
    b = unique_bucket("signed-chunked")
    s3.create_bucket(Bucket=b)
    data = patterned(200 * 1024 + 17)
    r = signed_chunked_put(server.endpoint, b, "streamed", data)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == f'"{md5_hex(data)}"'
    got = s3.get_object(Bucket=b, Key="streamed")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert "ContentEncoding" not in got, "aws-chunked is the request's framing, not the object's encoding"


def test_signed_streaming_upload_with_a_tampered_chunk_is_refused(server, s3):
    b = unique_bucket("signed-chunked-bad")
    s3.create_bucket(Bucket=b)
    r = signed_chunked_put(server.endpoint, b, "streamed", patterned(150 * 1024), tamper_chunk=1)
    assert r.status_code == 403, r.text
    assert "SignatureDoesNotMatch" in r.text
    assert s3.list_objects_v2(Bucket=b).get("KeyCount") == 0, "nothing of a refused upload is visible"
