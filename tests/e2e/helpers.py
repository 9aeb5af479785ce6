"""Constants and small helpers shared by the end-to-end tests (fixtures live in conftest.py)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

KiB = 1024
MiB = 1024 * KiB
# Plaintext bytes per sealed chunk (DESIGN.md: 64 KiB AES-256-GCM chunks).
CHUNK = 64 * KiB
# S3's minimum size of every part but the last.
MIN_PART = 5 * MiB

ACCESS_KEY = "SGE2ETESTACCESSKEY01"
SECRET_KEY = "sg/e2e+Secret/Key/0123456789abcdefghijklmn"
REGION = "us-east-1"

# Lets SSE-C work over plain HTTP (refused otherwise, as AWS does).
SSE_C_OVER_HTTP_CONFIG = "[s3]\nallow_sse_c_over_http = true\n"


def unique_bucket(hint: str = "b") -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:28].strip("-") or "b"
    return f"e2e-{slug}-{uuid.uuid4().hex[:12]}"


def unique_key(hint: str = "obj") -> str:
    return f"{hint}-{uuid.uuid4().hex[:10]}"


def gateway_config(account: str, *, users: dict | None = None, accounts: dict | None = None,
                   extra: str = "") -> str:
    """A gateway config for `account`: `extra` (sections of its own) first, then the other
    `accounts` = {id: (root access key, root secret)} and the config's `users` = {name:
    (access key, secret, identity policy as a dict or JSON text, or None)}."""
    lines = [f'account_id = "{account}"', extra]
    for account_id, (ak, sk) in (accounts or {}).items():
        lines += ["[[accounts]]", f'id = "{account_id}"', f'root_access_key_id = "{ak}"',
                  f'root_secret_access_key = "{sk}"']
    for name, (ak, sk, policy) in (users or {}).items():
        lines += ["[[users]]", f'name = "{name}"', f'access_key_id = "{ak}"', f'secret_access_key = "{sk}"']
        if policy is not None:
            text = policy if isinstance(policy, str) else json.dumps(policy)
            lines.append(f"policies = [{json.dumps(text)}]")
    return "\n".join(lines) + "\n"


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def quoted(s: str) -> str:
    return f'"{s}"'


def multipart_etag(parts: list[bytes]) -> str:
    """The ETag S3 gives a completed multipart object: md5 of the parts' md5s, dash, count."""
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def random_file(path: Path, size: int) -> str:
    """Writes `size` random bytes to `path`; returns their SHA-256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            h.update(block)
            f.write(block)
            left -= len(block)
    return h.hexdigest()


def patterned(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes where every offset is recognisable, so a shifted range shows."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:size])


def ssec(key: bytes) -> dict:
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def copy_source_ssec(key: bytes) -> dict:
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


def status_of(err: ClientError) -> int:
    return err.response["ResponseMetadata"]["HTTPStatusCode"]


def code_of(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "")


@contextlib.contextmanager
def client_error(status: int | tuple[int, ...], code: str | tuple[str, ...] | None = None):
    """Expects the block to raise a ClientError with this HTTP status (and S3 error code).

    HEAD responses carry no body, so pass code=None for them.
    """
    statuses = status if isinstance(status, tuple) else (status,)
    codes = code if isinstance(code, tuple) or code is None else (code,)
    with pytest.raises(ClientError) as info:
        yield info
    err = info.value
    got_status, got_code = status_of(err), code_of(err)
    msg = err.response.get("Error", {}).get("Message", "")
    assert got_status in statuses, f"expected HTTP {statuses} {codes or ''}, got {got_status} {got_code}: {msg}"
    if codes is not None:
        assert got_code in codes, f"expected error code {codes}, got {got_code} (HTTP {got_status}): {msg}"


def make_cert(dirpath: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, as PEM files in `dirpath`."""
    cert, key = dirpath / "cert.pem", dirpath / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=sealgate-e2e",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


def body_of(resp) -> bytes:
    return resp["Body"].read()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def files_containing(root: Path, needle: bytes) -> list[Path]:
    """Files under `root` whose bytes contain `needle`. A running server renames its
    temporary files (the audit log's HEAD.tmp, for one) at any moment, so a file that
    vanishes between listing and reading is skipped: its content lives on under its new name."""
    hits = []
    for p in files_under(root):
        try:
            if needle in p.read_bytes():
                hits.append(p)
        except FileNotFoundError:
            continue
    return hits


def count_files(root: Path) -> int:
    return len(files_under(root))


def set_headers_before_sign(client, operation: str, set_headers: dict | None = None, drop: tuple = ()):
    """Makes every `operation` call of this client send these headers (signed like any other)."""

    def handler(request, **_):
        for name in drop:
            if name in request.headers:
                del request.headers[name]
        for name, value in (set_headers or {}).items():
            if name in request.headers:
                del request.headers[name]
            request.headers[name] = value

    client.meta.events.register(f"before-sign.s3.{operation}", handler)
    return handler


def put_multipart(client, bucket: str, key: str, parts: list[bytes], create_args=None, part_args=None,
                  complete_args=None):
    """Uploads `parts` as one multipart upload and completes it; returns the complete response."""
    up = client.create_multipart_upload(Bucket=bucket, Key=key, **(create_args or {}))
    done = []
    for n, data in enumerate(parts, start=1):
        r = client.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=data,
                               **(part_args or {}))
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    return client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                            MultipartUpload={"Parts": done}, **(complete_args or {}))


def refused_put(c, bucket: str, key: str, status: int, code: str, **kw) -> None:
    """A PUT the gateway must refuse with `status` and `code`, leaving nothing stored."""
    with client_error(status, code):
        c.put_object(Bucket=bucket, Key=key, **kw)
    with client_error(404):
        c.head_object(Bucket=bucket, Key=key)


def slow_put(url: str, total: int, fast_bytes: int, started, result: dict, pause: float = 0.5) -> None:
    """PUTs `total` random bytes to a presigned URL: `fast_bytes` at full speed, then a
    MiB every `pause` seconds. Sets `started` once the fast part is sent; leaves the status
    (or the error) in `result`. For tests that kill a server mid-upload."""
    import http.client
    import time
    import urllib.parse

    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    block = os.urandom(MiB)
    try:
        conn.putrequest("PUT", f"{u.path}?{u.query}", skip_accept_encoding=True)
        conn.putheader("Content-Length", str(total))
        conn.putheader("Content-Type", "application/octet-stream")
        conn.endheaders()
        sent = 0
        while sent < total:
            conn.send(block)
            sent += len(block)
            if sent >= fast_bytes:
                started.set()
                time.sleep(pause)
        result["status"] = conn.getresponse().status
    except (OSError, http.client.HTTPException) as e:
        result["error"] = e
    finally:
        started.set()
        conn.close()


class TcpRelay:
    """A TCP relay on a port of its own to `host:port`, one thread per direction; subclasses
    shape what passes by overriding `forward`. A connection the target refuses is closed."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def forward(self, data: bytes, upward: bool, state: dict, dst: socket.socket) -> bool:
        """Passes `data` on (upward: towards the target); False ends the connection."""
        dst.sendall(data)
        return True

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            state: dict = {}
            for src, dst, upward in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, upward, state), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upward: bool, state: dict):
        try:
            while data := src.recv(65536):
                if not self.forward(data, upward, state, dst):
                    break
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()


def error_of(call) -> tuple[int, str, str]:
    """The status, code and message of the S3 error `call` raises (failing if it succeeds)."""
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")
