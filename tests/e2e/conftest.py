"""Fixtures: the real sealgate binary on a loopback port it picks, boto3 clients and the aws CLI.

The binary is $SEALGATE_BIN (default: <repo>/target/release/sealgate). Every server gets its
own data directory; session-scoped servers are shared by the fast tests, function-scoped ones
(server_factory) serve the tests that kill, restart or inspect a data directory.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from helpers import ACCESS_KEY, REGION, SECRET_KEY, SSE_C_OVER_HTTP_CONFIG, unique_bucket

REPO = Path(__file__).resolve().parents[2]
SEALGATE_BIN = Path(os.environ.get("SEALGATE_BIN") or REPO / "target" / "release" / "sealgate")
START_TIMEOUT = 20.0

# Every server started in this session, so a failing test's report can show their logs.
ALL_SERVERS: list["SealgateServer"] = []

# SEALGATE_E2E_BACKEND=s3: every gateway keeps its blobs in one S3 bucket (a moto server
# this session starts), each under a prefix of its own, instead of on local disk.
E2E_BACKEND = os.environ.get("SEALGATE_E2E_BACKEND", "local")
_S3_BACKEND = None


def s3_backend():
    """The session's S3 server for SEALGATE_E2E_BACKEND=s3 (started on first use)."""
    global _S3_BACKEND
    if _S3_BACKEND is None:
        sys.path.insert(0, str(REPO / "tests"))
        import backends  # noqa: E402  (tests/backends.py, shared with the Rust tests)
        import atexit
        _S3_BACKEND = backends.start_moto()
        atexit.register(_S3_BACKEND.stop)
    return _S3_BACKEND


# SEALGATE_E2E_CATALOG=postgres: every gateway keeps its catalog in a PostgreSQL database of
# its own, on one server this session starts (scripts/pg-scratch.sh), instead of SQLite.
E2E_CATALOG = os.environ.get("SEALGATE_E2E_CATALOG", "sqlite")
_POSTGRES_URL = None
_POSTGRES_DIR = None


def _psql() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))
    return str(found[-1]) if found else "psql"


def postgres_server() -> str:
    """The session's PostgreSQL server (started on first use): its superuser URL."""
    global _POSTGRES_URL, _POSTGRES_DIR
    if _POSTGRES_URL is None:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cluster = tempfile.mkdtemp(prefix="sealgate-e2e-pg-")
        out = subprocess.run([str(REPO / "scripts" / "pg-scratch.sh"), cluster, str(port), str(os.getpid())],
                             capture_output=True, text=True)
        if out.returncode != 0:
            if os.environ.get("SEALGATE_REQUIRE_POSTGRES") == "1":
                pytest.fail(f"cannot start PostgreSQL: {out.stderr}")
            pytest.skip(f"PostgreSQL is not available: {out.stderr.strip()}")
        _POSTGRES_URL, _POSTGRES_DIR = out.stdout.strip(), Path(cluster)
    return _POSTGRES_URL


def psql(url: str, sql: str) -> str:
    out = subprocess.run([_psql(), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr}")
    return out.stdout.strip()


def new_database() -> str:
    """The URL of a new, empty database on the session's PostgreSQL server."""
    admin = postgres_server()
    name = f"e2e_{os.urandom(6).hex()}"
    psql(admin, f"CREATE DATABASE {name}")
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def catalog_config(url: str) -> str:
    return f'\n[catalog]\nurl = "{url}"\npool_size = 4\n'


def storage_config(backend, prefix: str) -> str:
    """The [storage] table that puts a gateway's blobs in `backend`'s bucket under `prefix`."""
    return (f'\n[storage]\nbackend = "s3"\nbucket = "{backend.bucket}"\nprefix = "{prefix}"\n'
            f'endpoint = "{backend.endpoint}"\nregion = "{backend.region}"\nallow_http = true\n'
            f'access_key_id = "{backend.access_key}"\nsecret_access_key = "{backend.secret_key}"\n')


def _isolate_aws_environment() -> Path:
    """Keeps the user's ~/.aws files and AWS_* variables out of boto3 and the CLI."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    home = Path(tempfile.mkdtemp(prefix="sealgate-e2e-aws-"))
    (home / "config").write_text(f"[default]\nregion = {REGION}\ns3 =\n    addressing_style = path\n")
    (home / "credentials").write_text("")
    os.environ["AWS_CONFIG_FILE"] = str(home / "config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "credentials")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    return home


AWS_HOME = _isolate_aws_environment()


# How the gateway announces where it listens (server::serve).
LISTENING = re.compile(rb"sealgate listening on https?://127\.0\.0\.1:(\d+)")
ADMIN_LISTENING = re.compile(rb"sealgate admin endpoints on http://127\.0\.0\.1:(\d+)")


def make_client(endpoint: str, *, verify: bool = True, region: str = REGION, access_key: str = ACCESS_KEY,
                secret_key: str = SECRET_KEY, **config):
    s3_cfg = {"addressing_style": "path", **config.pop("s3", {})}
    cfg = Config(
        signature_version=config.pop("signature_version", "s3v4"),
        s3=s3_cfg,
        # No retries: a 500 must show as a 500, not be papered over by a second attempt.
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=10,
        read_timeout=120,
        **config,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        verify=verify,
        config=cfg,
    )


class SealgateServer:
    """One sealgate process over a data directory; can be stopped, killed and started again."""

    def __init__(self, root: Path, *, name: str = "server", data_dir: Path | None = None,
                 config: str | None = None, tls: bool = False, region: str | None = None,
                 env: dict | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.data_dir = Path(data_dir) if data_dir else self.root / "data"
        self.tls = tls
        self.region = region
        self.extra_env = env or {}
        self.config_path = None
        self.backend = None
        if E2E_BACKEND == "s3" and "[storage]" not in (config or ""):
            self.backend = s3_backend()
            self.prefix = f"{name}-{os.urandom(4).hex()}"
            config = (config or "") + storage_config(self.backend, self.prefix)
        self.database_url = None
        if E2E_CATALOG == "postgres" and "[catalog]" not in (config or ""):
            self.database_url = new_database()
            config = (config or "") + catalog_config(self.database_url)
        if config is not None:
            self.config_path = self.root / "sealgate.toml"
            self.config_path.write_text(config)
        self.log_path = self.root / "server.log"
        self.log_path.touch()
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.admin_port: int | None = None
        ALL_SERVERS.append(self)

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def admin_endpoint(self) -> str:
        """The admin listener: /metrics, /health/*, the console."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def stored_blobs(self) -> dict[str, bytes]:
        """Every blob this gateway has stored, by name, read straight from where it rests:
        the local blob directory, or the S3 bucket (under this gateway's prefix)."""
        if self.backend is None:
            return {str(p.relative_to(self.blob_dir)): p.read_bytes()
                    for p in sorted(self.blob_dir.rglob("*")) if p.is_file()}
        import backends
        import xml.etree.ElementTree as ET
        ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        found, token = {}, None
        while True:
            query = {"list-type": "2", "prefix": f"{self.prefix}/"}
            if token:
                query["continuation-token"] = token
            status, body, _ = backends.s3_request(self.backend, "GET", f"/{self.backend.bucket}", query)
            assert status == 200, body[:300]
            root = ET.fromstring(body)
            for item in root.iter(f"{ns}Contents"):
                key = item.find(f"{ns}Key").text
                status, data, _ = backends.s3_request(self.backend, "GET", f"/{self.backend.bucket}/{key}")
                if status == 200:  # collected meanwhile otherwise
                    found[key[len(self.prefix) + 1:]] = data
            token_el = root.find(f"{ns}NextContinuationToken")
            if token_el is None:
                return found
            token = token_el.text

    def at_rest_files(self) -> list[Path]:
        """Every file holding what this gateway stored on this machine: its data directory
        and, with a PostgreSQL catalog, the database cluster's files (checkpointed first, so
        committed rows are in the table files and not only in the WAL)."""
        from helpers import files_under
        files = files_under(self.data_dir)
        if self.database_url:
            psql(self.database_url, "CHECKPOINT")
            files += files_under(_POSTGRES_DIR)
        return files

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def start(self) -> "SealgateServer":
        """Starts the gateway: the first time on a port it picks itself (port 0, read back from
        its announcement, so no other process can take it in between); after that on the same
        port, so clients made before a restart keep working."""
        if not SEALGATE_BIN.is_file():
            pytest.fail(f"sealgate binary not found at {SEALGATE_BIN} (build it or set SEALGATE_BIN)")
        assert not self.running(), "server already running"
        args = [str(SEALGATE_BIN), "serve", "--listen", f"127.0.0.1:{self.port or 0}", "--admin-listen",
                f"127.0.0.1:{self.admin_port or 0}", "--data-dir", str(self.data_dir)]
        if self.config_path:
            args += ["--config", str(self.config_path)]
        if self.region:
            args += ["--region", self.region]
        if self.tls:
            args.append("--tls-self-signed")
        env = dict(os.environ)
        env.update(SEALGATE_ROOT_ACCESS_KEY=ACCESS_KEY, SEALGATE_ROOT_SECRET_KEY=SECRET_KEY, NO_COLOR="1")
        env.update(self.extra_env)
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {' '.join(args)}\n".encode())
            log.flush()
            since = log.tell()
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, cwd=self.root)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with open(self.log_path, "rb") as log:
                log.seek(since)
                output = log.read()
            announced = LISTENING.search(output)
            if announced:
                self.port = int(announced.group(1))
                admin = ADMIN_LISTENING.search(output)
                self.admin_port = int(admin.group(1)) if admin else None
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"sealgate exited with {self.proc.returncode} before listening; log:\n"
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"sealgate did not announce a port within {START_TIMEOUT}s; log:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> int | None:
        """Graceful stop (SIGTERM), SIGKILL if it does not exit in time."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """kill -9: no chance to flush or clean up."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self, kill: bool = False) -> "SealgateServer":
        self.kill() if kill else self.stop()
        return self.start()

    def client(self, **kw):
        return make_client(self.endpoint, verify=not self.tls, **kw)


class AwsCli:
    """Runs the aws CLI (v1, from the same environment as pytest) against one server."""

    def __init__(self, server: SealgateServer):
        self.server = server
        exe = Path(sys.executable).parent / "aws"
        self.exe = str(exe) if exe.exists() else "aws"

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=str(AWS_HOME / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(AWS_HOME / "credentials"),
            AWS_PAGER="",
            PYTHONWARNINGS="ignore",
        )
        return env

    def __call__(self, *args, check: bool = True, input: bytes | None = None, timeout: float = 300,
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
        cmd = [self.exe, "--endpoint-url", self.server.endpoint]
        if self.server.tls:
            cmd.append("--no-verify-ssl")
        cmd += [str(a) for a in args]
        proc = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, env=self.env(), cwd=cwd)
        proc.stdout_text = proc.stdout.decode(errors="replace")
        proc.stderr_text = proc.stderr.decode(errors="replace")
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout_text}\n"
                                 f"stderr:\n{proc.stderr_text}")
        return proc

    def json(self, *args, **kw):
        out = self(*args, **kw).stdout_text
        return json.loads(out) if out.strip() else {}


# ---------------------------------------------------------------- session-wide servers


@pytest.fixture(scope="session")
def servers_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sealgate")


@pytest.fixture(scope="session")
def server(servers_root):
    """Plain HTTP, default settings: what a user gets from `sealgate serve`."""
    s = SealgateServer(servers_root / "plain", name="plain").start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def tls_server(servers_root):
    s = SealgateServer(servers_root / "tls", name="tls", tls=True).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def ssec_http_server(servers_root):
    """Plain HTTP with `allow_sse_c_over_http = true`."""
    s = SealgateServer(servers_root / "ssec-http", name="ssec-http", config=SSE_C_OVER_HTTP_CONFIG).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def s3(server):
    return server.client()


@pytest.fixture(scope="session")
def tls_s3(tls_server):
    return tls_server.client()


@pytest.fixture(scope="session")
def ssec_http_s3(ssec_http_server):
    return ssec_http_server.client()


@pytest.fixture(params=["tls", "http-allowed"])
def ssec_target(request):
    """(server, client) pairs on which SSE-C must work: TLS, and HTTP with the config switch."""
    if request.param == "tls":
        srv = request.getfixturevalue("tls_server")
    else:
        srv = request.getfixturevalue("ssec_http_server")
    return srv, srv.client()


# ---------------------------------------------------------------- per-test helpers


@pytest.fixture
def server_factory(tmp_path):
    """Starts servers on their own data directories; all are stopped after the test."""
    started: list[SealgateServer] = []

    def make(name: str = "srv", start: bool = True, **kw) -> SealgateServer:
        s = SealgateServer(tmp_path / f"{name}-{len(started)}", name=name, **kw)
        started.append(s)
        return s.start() if start else s

    yield make
    for s in started:
        s.kill()


@pytest.fixture
def bucket(s3, request):
    name = unique_bucket(request.node.name)
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def make_bucket(request):
    """make_bucket(client) creates a fresh bucket through that client."""

    def make(client, **kw) -> str:
        name = unique_bucket(request.node.name)
        client.create_bucket(Bucket=name, **kw)
        return name

    return make


@pytest.fixture
def aws(server):
    return AwsCli(server)


@pytest.fixture
def aws_for():
    return AwsCli


# ---------------------------------------------------------------- failure reports


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._sealgate_log_offsets = {id(s): s.log_path.stat().st_size for s in ALL_SERVERS if s.log_path.exists()}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    offsets = getattr(item, "_sealgate_log_offsets", {})
    for s in ALL_SERVERS:
        if not s.log_path.exists():
            continue
        with open(s.log_path, "rb") as f:
            f.seek(offsets.get(id(s), 0))
            text = f.read().decode(errors="replace")
        lines = text.splitlines()[-80:]
        if lines:
            report.sections.append((f"sealgate log ({s.name}, {s.log_path})", "\n".join(lines)))
