"""Hostile input, as one suite: malformed and oversized XML and JSON, bit-flipped ciphertext
blobs, bad signatures, stale dates, expired presigned URLs, lying Content-Length, invalid
ranges and keys, header floods. Every answer is a 4xx with the code S3, KMS or IAM gives;
the gateway stays up and its log shows no panic."""

import base64
import datetime
import hashlib
import http.client
import socket
import time
from email.utils import formatdate
from unittest import mock

import pytest
import requests
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers import ACCESS_KEY, MiB, REGION, SECRET_KEY, client_error, unique_bucket
from kms_helpers import kms_client

# Over the 20 MiB sealgate reads whole for an XML body.
OVERSIZED = 20 * MiB + 1


@pytest.fixture(scope="module")
def target(servers_root):
    from conftest import SealgateServer
    srv = SealgateServer(servers_root / "hostile", name="hostile").start()
    s3 = srv.client()
    bucket = unique_bucket("hostile")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="ten", Body=b"0123456789")
    yield srv, bucket
    # Whatever was thrown at it, the gateway still serves and never panicked.
    assert s3.get_object(Bucket=bucket, Key="ten")["Body"].read() == b"0123456789"
    assert "panicked" not in srv.log_text(), srv.log_tail()
    srv.stop()


def signed_headers(method, url, body=b"", headers=None, *, secret=SECRET_KEY, unsigned_payload=False,
                   service="s3", at: datetime.datetime | None = None):
    headers = dict(headers or {})
    if unsigned_payload:
        headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    auth = S3SigV4Auth if service == "s3" else SigV4Auth
    with mock.patch("botocore.auth.get_current_datetime", return_value=at or datetime.datetime.now(
            datetime.timezone.utc).replace(tzinfo=None)):
        auth(Credentials(ACCESS_KEY, secret), service, REGION).add_auth(req)
    return dict(req.headers)


def s3_call(method, url, body=b"", headers=None, **kw):
    h = signed_headers(method, url, body, headers, **kw)
    return requests.request(method, url, data=body, headers=h, timeout=30)


def error_code(resp) -> str:
    text = resp.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""


def md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def head_only(srv, method, path, headers):
    """Sends a request head announcing a body (Expect: 100-continue) and reads the answer
    without sending the body: a refusal from the headers must come before any of it."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, body


XML_BODY_OPS = [
    ("POST", "?delete"),
    ("PUT", "?versioning"),
    ("PUT", "?replication"),
    ("PUT", "?policy"),
    ("PUT", "?encryption"),
]


@pytest.mark.parametrize("method,query", XML_BODY_OPS, ids=[q for _, q in XML_BODY_OPS])
def test_malformed_xml_is_400(target, method, query):
    srv, bucket = target
    url = f"{srv.endpoint}/{bucket}{query}"
    for body in (b"<Delete", b"\x00\xff garbage", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"):
        r = s3_call(method, url, body, {"Content-MD5": md5(body)})
        assert 400 <= r.status_code < 500, (query, body, r.status_code, r.text)
        assert error_code(r) in ("MalformedXML", "MalformedPolicy", "InvalidArgument", "InvalidRequest"), r.text


@pytest.mark.parametrize("method,query", XML_BODY_OPS + [("POST", "/key?uploadId=x")],
                         ids=[q for _, q in XML_BODY_OPS] + ["complete"])
def test_oversized_xml_is_refused_from_its_headers(target, method, query):
    srv, bucket = target
    path = f"/{bucket}{query}" if query.startswith("?") else f"/{bucket}{query}"
    headers = signed_headers(method, f"{srv.endpoint}{path}", headers={"Content-Length": str(OVERSIZED)},
                             unsigned_payload=True)
    status, body = head_only(srv, method, path, headers)
    assert status == 400 and "<Code>MaxMessageLengthExceeded</Code>" in body, (status, body)


def test_whole_read_body_without_a_length_is_411(target):
    srv, bucket = target
    path = f"/{bucket}?delete"
    headers = signed_headers("POST", f"{srv.endpoint}{path}", headers={"Transfer-Encoding": "chunked"},
                             unsigned_payload=True)
    status, body = head_only(srv, "POST", path, headers)
    assert status == 411 and "<Code>MissingContentLength</Code>" in body, (status, body)


def test_bad_signatures_and_stale_dates(target):
    srv, bucket = target
    url = f"{srv.endpoint}/{bucket}/ten"
    r = s3_call("GET", url, secret="wrong-secret")
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch"), r.text
    h = signed_headers("GET", url)
    h["Authorization"] = h["Authorization"].replace(ACCESS_KEY, "AKIANOSUCHKEY0000000")
    r = requests.get(url, headers=h, timeout=10)
    assert (r.status_code, error_code(r)) == (403, "InvalidAccessKeyId"), r.text
    for mangled in ("AWS4-HMAC-SHA256 Credential=", "AWS4-HMAC-SHA256 garbage", "Bearer x" * 200):
        r = requests.get(url, headers={"Authorization": mangled, "X-Amz-Date": h["X-Amz-Date"]}, timeout=10)
        assert 400 <= r.status_code < 500 and error_code(r), (mangled[:40], r.status_code, r.text)
    stale = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=1)
    h = signed_headers("GET", url, at=stale)
    r = requests.get(url, headers=h, timeout=10)
    assert (r.status_code, error_code(r)) == (403, "RequestTimeTooSkewed"), r.text
    # A changed body after signing.
    h = signed_headers("PUT", f"{srv.endpoint}/{bucket}/k", b"signed")
    r = requests.put(f"{srv.endpoint}/{bucket}/k", data=b"sent!!", headers=h, timeout=10)
    assert 400 <= r.status_code < 500 and error_code(r) in ("XAmzContentSHA256Mismatch", "BadDigest",
                                                             "SignatureDoesNotMatch"), r.text


def test_expired_and_tampered_presigned_urls(target):
    srv, bucket = target
    s3 = srv.client()
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "ten"}, ExpiresIn=1)
    assert requests.get(url, timeout=10).content == b"0123456789"
    time.sleep(2)
    r = requests.get(url, timeout=10)
    assert (r.status_code, error_code(r)) == (403, "AccessDenied") and "expired" in r.text, r.text
    fresh = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "ten"}, ExpiresIn=60)
    for bad in (fresh.replace("X-Amz-Expires=60", "X-Amz-Expires=999999"),
                fresh.replace("X-Amz-Signature=", "X-Amz-Signature=00"),
                fresh.replace("X-Amz-Date=", "X-Amz-Date=garbage"),
                fresh.replace("/ten?", "/other?")):
        r = requests.get(bad, timeout=10)
        assert r.status_code in (400, 403) and error_code(r), (bad, r.status_code, r.text)


def raw(srv, data: bytes, *, shut: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        out = b""
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
            while chunk := s.recv(65536):
                out += chunk
        except OSError:  # the server may answer and close before all of it was sent
            pass
        return out


def test_lying_content_length(target):
    srv, bucket = target
    path = f"/{bucket}/liar"
    url = f"{srv.endpoint}{path}"
    headers = signed_headers("PUT", url, headers={"Content-Length": "100"}, unsigned_payload=True)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    out = raw(srv, f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n{head}\r\n".encode() + b"x" * 10)
    assert out.startswith(b"HTTP/1.1 400") and b"IncompleteBody" in out, out[:400]
    with client_error(404, "NoSuchKey"):
        srv.client().get_object(Bucket=bucket, Key="liar")


def test_invalid_ranges_and_keys(target):
    srv, bucket = target
    s3 = srv.client()
    with client_error(416, "InvalidRange"):
        s3.get_object(Bucket=bucket, Key="ten", Range="bytes=100-200")
    # A range that cannot be parsed: the whole object, or a 400.
    for bad in ("bytes=abc", "bytes=5-2", "items=0-1", "bytes=" + "9" * 40 + "-"):
        r = s3_call("GET", f"{srv.endpoint}/{bucket}/ten", headers={"Range": bad})
        assert (r.status_code, r.content) == (200, b"0123456789") or \
            (r.status_code == 400 and error_code(r) == "InvalidArgument"), (bad, r.status_code, r.text)
    with client_error(400, "KeyTooLongError"):
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    with client_error(400, ("InvalidArgument", "InvalidRequest")):
        s3.get_object(Bucket=bucket, Key="ten", VersionId="not-a-version" * 50)


def test_header_floods(target):
    srv, bucket = target
    flood = "".join(f"X-Flood-{i}: {'v' * 1000}\r\n" for i in range(200))
    out = raw(srv, f"GET /{bucket}/ten HTTP/1.1\r\nHost: x\r\n{flood}\r\n".encode())
    assert out.split(b" ", 2)[1] in (b"400", b"431"), out[:200]
    huge = f"GET /{bucket}/ten HTTP/1.1\r\nHost: x\r\nX-Huge: {'h' * 2 * MiB}\r\n\r\n".encode()
    out = raw(srv, huge)
    assert out == b"" or out.split(b" ", 2)[1] in (b"400", b"431"), out[:200]
    # Many metadata headers: S3's 2 KB user-metadata limit.
    meta = {f"m{i}": "v" * 100 for i in range(40)}
    with client_error(400, "MetadataTooLarge"):
        srv.client().put_object(Bucket=bucket, Key="meta", Body=b"x", Metadata=meta)


def kms_post(srv, target: str, body: bytes):
    url = srv.endpoint + "/"
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"}
    h = signed_headers("POST", url, body, headers, service="kms")
    return requests.post(url, data=body, headers=h, timeout=30)


def test_kms_refuses_hostile_json_and_flipped_ciphertexts(target):
    srv, _ = target
    for body, code in [
        (b"{", "SerializationException"),
        (b"\xff\xfe", "SerializationException"),
        (b'{"KeyId": {"nested": [1, 2, {"deep": null}]}}', "SerializationException"),
        (b'{"Limit": "ten"}', "SerializationException"),
        (b"[" * 10000 + b"]" * 10000, "SerializationException"),
        (b'{"KeyId": "' + b"a" * (300 * 1024) + b'"}', "ValidationException"),
    ]:
        r = kms_post(srv, "ListKeys" if b"Limit" in body else "DescribeKey", body)
        assert r.status_code == 400 and r.json()["__type"] == code, (body[:40], r.status_code, r.text[:300])
    kms = kms_client(srv.endpoint)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = bytearray(kms.encrypt(KeyId=key, Plaintext=b"secret")["CiphertextBlob"])
    for i in range(0, len(blob), max(1, len(blob) // 16)):
        flipped = bytes(blob[:i]) + bytes([blob[i] ^ 0x01]) + bytes(blob[i + 1:])
        body = b'{"CiphertextBlob": "' + base64.b64encode(flipped) + b'"}'
        r = kms_post(srv, "Decrypt", body)
        assert r.status_code == 400 and r.json()["__type"] in (
            "InvalidCiphertextException", "NotFoundException", "IncorrectKeyException"), (i, r.text)
    for junk in (b"", b"\x00", b"\x01" * 5000):
        r = kms_post(srv, "Decrypt", b'{"CiphertextBlob": "' + base64.b64encode(junk) + b'"}')
        assert r.status_code == 400 and r.json()["__type"] in (
            "InvalidCiphertextException", "ValidationException", "NotFoundException"), (junk[:8], r.text)


def iam_post(srv, form: dict):
    from urllib.parse import urlencode
    url = srv.endpoint + "/"
    body = urlencode(form).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    h = signed_headers("POST", url, body, headers, service="iam")
    return requests.post(url, data=body, headers=h, timeout=30)


def test_iam_refuses_hostile_policies_and_bodies(target):
    srv, _ = target
    for document in ('{"Version": "2012-10-17", "Statement": "x"}', "{", '{"Statement": [{"Effect": 1}]}',
                     '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": {"a": 1}, '
                     '"Resource": "*"}]}', "[" * 5000 + "]" * 5000):
        r = iam_post(srv, {"Action": "CreatePolicy", "Version": "2010-05-08", "PolicyName": "p",
                           "PolicyDocument": document})
        assert r.status_code == 400 and "<Code>MalformedPolicyDocument</Code>" in r.text, (document[:40], r.text)
    r = iam_post(srv, {"Action": "CreateUser", "Version": "2010-05-08", "UserName": "u" * 100 * 1024})
    assert r.status_code == 400 and "<Code>" in r.text, r.text[:300]
    r = iam_post(srv, {"Action": "NoSuchAction", "Version": "2010-05-08"})
    assert r.status_code == 400 and "<Code>InvalidAction</Code>" in r.text, r.text


def test_http_date_edge_cases_do_not_crash(target):
    srv, bucket = target
    s3 = srv.client()
    for value in (formatdate(usegmt=True), "not a date", "Mon, 99 Foo 99999 99:99:99 GMT"):
        r = s3_call("GET", f"{srv.endpoint}/{bucket}/ten", headers={"If-Modified-Since": value})
        assert r.status_code in (200, 304) or (r.status_code == 400 and error_code(r)), (value, r.status_code)
    s3.head_bucket(Bucket=bucket)
