"""Several gateways on one PostgreSQL catalog and one S3 bucket, as docs/DEPLOY.md lays them
out: writes through different nodes serialize as on one, no node collects a blob another is
writing, each replication task is worked once even when its node is killed, and every node
holds the fleet's root of trust or does not start."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import (
    SEALGATE_BIN,
    SealgateServer,
    catalog_config,
    make_client,
    new_database,
    psql,
    s3_backend,
    storage_config,
)
from helpers import body_of, unique_bucket
from kms_helpers import kms_client
from test_replication import DST_REGION, SRC_REGION, configuration, dest_config, source_config

# A node silent this long is dead to the others (fleet::NODE_TIMEOUT_MS), plus a heartbeat.
NODE_TIMEOUT = 15 + 2


class Fleet:
    """Gateways sharing one database and one bucket prefix, each with its own data dir and
    the fleet's root.key (copied from the first node, as an operator distributes it)."""

    def __init__(self, root: Path, extra_config: str = "", region: str | None = None):
        self.root = root
        self.database_url = new_database()
        backend = s3_backend()
        self.storage = (storage_config(backend, f"fleet-{uuid.uuid4().hex[:8]}")
                        + "gc_interval_secs = 1\nread_grace_secs = 0\n")
        self.extra_config = extra_config
        self.region = region
        self.nodes: dict[str, SealgateServer] = {}

    def config(self, node: str, database_url: str | None = None) -> str:
        return (self.extra_config + catalog_config(database_url or self.database_url)
                + f'node = "{node}"\n' + self.storage)

    def node(self, name: str, *, root_key_from: str | None = "first", env: dict | None = None,
             start: bool = True, database_url: str | None = None) -> SealgateServer:
        """A node; `database_url` reaches the fleet's database another way (a relay)."""
        srv = SealgateServer(self.root / name, name=name, config=self.config(name, database_url),
                             region=self.region, env=env)
        if root_key_from and self.nodes:
            source = next(iter(self.nodes.values())) if root_key_from == "first" else self.nodes[root_key_from]
            srv.data_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(source.data_dir / "root.key", srv.data_dir / "root.key")
            os.chmod(srv.data_dir / "root.key", 0o600)
        self.nodes[name] = srv
        return srv.start() if start else srv

    def sql(self, query: str) -> str:
        return psql(self.database_url, query)


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path)
    f.node("a")
    f.node("b")
    yield f
    for srv in f.nodes.values():
        srv.stop()


def test_writes_to_one_key_through_two_nodes_serialize_as_on_one(fleet):
    a, b = fleet.nodes["a"].client(), fleet.nodes["b"].client()
    bucket = unique_bucket("fleet")
    a.create_bucket(Bucket=bucket)
    b.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert a.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    # In turn: each node sees the other's writes, newest first.
    written = []
    for i in range(6):
        c = (a, b)[i % 2]
        written.append(c.put_object(Bucket=bucket, Key="k", Body=f"v{i}".encode())["VersionId"])
    for c in (a, b):
        listed = c.list_object_versions(Bucket=bucket, Prefix="k")["Versions"]
        assert [v["VersionId"] for v in listed] == written[::-1]
        assert [v["IsLatest"] for v in listed] == [True] + [False] * 5
        assert body_of(c.get_object(Bucket=bucket, Key="k")) == b"v5"

    # At once, from both nodes: every write lands, exactly one is latest, and it is the
    # version both nodes serve.
    def put(i):
        return (a, b)[i % 2].put_object(Bucket=bucket, Key="hot", Body=f"w{i}".encode())["VersionId"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(put, range(24)))
    listed = a.list_object_versions(Bucket=bucket, Prefix="hot")["Versions"]
    assert sorted(v["VersionId"] for v in listed) == sorted(ids)
    latest = [v for v in listed if v["IsLatest"]]
    assert len(latest) == 1 and latest[0] == listed[0]
    for c in (a, b):
        assert c.head_object(Bucket=bucket, Key="hot")["VersionId"] == latest[0]["VersionId"]

    # A delete marker through one node hides the key on both; removing it through the other
    # brings the newest version back.
    marker = b.delete_object(Bucket=bucket, Key="k")
    assert marker["DeleteMarker"] is True
    with pytest.raises(ClientError) as e:
        a.get_object(Bucket=bucket, Key="k")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    a.delete_object(Bucket=bucket, Key="k", VersionId=marker["VersionId"])
    assert body_of(b.get_object(Bucket=bucket, Key="k")) == b"v5"


def test_null_versions_through_either_node_replace_each_other(fleet):
    a, b = fleet.nodes["a"].client(), fleet.nodes["b"].client()
    bucket = unique_bucket("fleet-null")
    a.create_bucket(Bucket=bucket)
    a.put_object(Bucket=bucket, Key="k", Body=b"one")
    b.put_object(Bucket=bucket, Key="k", Body=b"two")
    versions = a.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True)]
    a.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = b.put_object(Bucket=bucket, Key="k", Body=b"three")["VersionId"]
    b.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    a.put_object(Bucket=bucket, Key="k", Body=b"four")
    b.put_object(Bucket=bucket, Key="k", Body=b"five")
    versions = a.list_object_versions(Bucket=bucket)["Versions"]
    assert [v["VersionId"] for v in versions] == ["null", v1]
    assert body_of(b.get_object(Bucket=bucket, Key="k", VersionId="null")) == b"five"


def test_of_concurrent_create_only_puts_through_two_nodes_exactly_one_wins(fleet):
    a, b = fleet.nodes["a"].client(), fleet.nodes["b"].client()
    bucket = unique_bucket("fleet-inm")
    a.create_bucket(Bucket=bucket)
    for round_ in range(12):
        key = f"once-{round_}"
        barrier = threading.Barrier(2)

        def put(client, body):
            barrier.wait()
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
                return body
            except ClientError as e:
                assert e.response["Error"]["Code"] == "PreconditionFailed", e.response
                return None

        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(put, (a, b), (b"from-a", b"from-b")))
        winners = [o for o in outcomes if o is not None]
        assert len(winners) == 1, outcomes
        assert body_of(b.get_object(Bucket=bucket, Key=key)) == winners[0]
        assert len(a.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 1


def _slow_put(srv: SealgateServer, bucket: str, key: str, body: bytes, pause: threading.Event, result: dict):
    """PUTs `body` through a presigned URL, stopping after the first MiB until `pause` is set."""
    url = srv.client().generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key})
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    conn.putrequest("PUT", f"{parts.path}?{parts.query}")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    try:
        conn.send(body[:1 << 20])
        pause.wait(60)
        conn.send(body[1 << 20:])
        resp = conn.getresponse()
        result["status"] = resp.status
        result["body"] = resp.read()
    except OSError as e:  # the node was killed
        result["error"] = e


def test_no_node_collects_a_blob_another_node_is_still_writing(fleet):
    a, b = fleet.nodes["a"], fleet.nodes["b"]
    bucket = unique_bucket("fleet-gc")
    a.client().create_bucket(Bucket=bucket)
    body = os.urandom(3 << 20)
    go_on, result = threading.Event(), {}
    writer = threading.Thread(target=_slow_put, args=(a, bucket, "slow", body, go_on, result))
    writer.start()
    deadline = time.monotonic() + 10
    while fleet.sql("SELECT count(*) FROM blob_gc WHERE node = 'a'") != "1":
        assert time.monotonic() < deadline, "the write never registered its blob"
        time.sleep(0.05)
    # Node b restarts (its start-up gives up its own writes in flight, not a's) and its
    # collector runs several rounds while a's write is still streaming.
    b.restart()
    time.sleep(3)
    assert fleet.sql("SELECT count(*) FROM blob_gc WHERE node = 'a'") == "1"
    go_on.set()
    writer.join(60)
    assert result.get("status") == 200, result
    time.sleep(2)
    assert body_of(b.client().get_object(Bucket=bucket, Key="slow")) == body


def test_the_writes_in_flight_of_a_killed_node_are_collected_once_it_is_silent(fleet):
    a, b = fleet.nodes["a"], fleet.nodes["b"]
    bucket = unique_bucket("fleet-dead")
    a.client().create_bucket(Bucket=bucket)
    go_on, result = threading.Event(), {}
    writer = threading.Thread(target=_slow_put, args=(a, bucket, "dies", os.urandom(3 << 20), go_on, result),
                              daemon=True)
    writer.start()
    deadline = time.monotonic() + 10
    while fleet.sql("SELECT count(*) FROM blob_gc WHERE node = 'a'") != "1":
        assert time.monotonic() < deadline, "the write never registered its blob"
        time.sleep(0.05)
    a.kill()
    go_on.set()
    # Within the node timeout nothing of a's is touched; after it, b's collector takes it.
    time.sleep(NODE_TIMEOUT - 8)
    assert fleet.sql("SELECT count(*) FROM blob_gc WHERE node = 'a'") == "1"
    deadline = time.monotonic() + 20
    while fleet.sql("SELECT count(*) FROM blob_gc") != "0":
        assert time.monotonic() < deadline, fleet.sql("SELECT blob, due_ms, node FROM blob_gc")
        time.sleep(0.5)
    assert b.running()


def test_a_replication_task_of_a_killed_node_is_finished_by_another_exactly_once(tmp_path):
    dst = SealgateServer(tmp_path / "eu", name="eu-west-1", config=dest_config(), region=DST_REGION).start()
    fleet = Fleet(tmp_path / "us", extra_config=source_config(dst.endpoint), region=SRC_REGION)
    try:
        a, b = fleet.node("a"), fleet.node("b")
        s3 = make_client(a.endpoint, region=SRC_REGION)
        d3 = make_client(dst.endpoint, region=DST_REGION)
        src, dest = unique_bucket("src"), unique_bucket("dst")
        s3.create_bucket(Bucket=src)
        s3.put_bucket_versioning(Bucket=src, VersioningConfiguration={"Status": "Enabled"})
        d3.create_bucket(Bucket=dest, CreateBucketConfiguration={"LocationConstraint": DST_REGION})
        d3.put_bucket_versioning(Bucket=dest, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_replication(Bucket=src, ReplicationConfiguration=configuration(dest))

        # Many small versions through both nodes: each reaches the destination once.
        clients = (s3, make_client(b.endpoint, region=SRC_REGION))
        for i in range(20):
            clients[i % 2].put_object(Bucket=src, Key=f"small/{i}", Body=f"body {i}".encode())
        deadline = time.monotonic() + 60
        while len(d3.list_object_versions(Bucket=dest, Prefix="small/").get("Versions", [])) < 20:
            assert time.monotonic() < deadline, fleet.sql("SELECT key, status, leased_by FROM replication_tasks")
            time.sleep(0.2)
        time.sleep(1)
        assert len(d3.list_object_versions(Bucket=dest, Prefix="small/")["Versions"]) == 20
        held_by = fleet.sql("SELECT count(DISTINCT leased_by) FROM replication_tasks")
        assert held_by in ("0", "1", "2")

        # A large version: kill -9 the node working on it, mid-task.
        big = os.urandom(48 << 20)
        s3.put_object(Bucket=src, Key="big", Body=big)
        deadline = time.monotonic() + 20
        holder = ""
        while not holder:
            holder = fleet.sql("SELECT leased_by FROM replication_tasks WHERE key = 'big' AND status = 'PENDING' "
                               "AND leased_by IS NOT NULL")
            if fleet.sql("SELECT status FROM replication_tasks WHERE key = 'big'") == "COMPLETED":
                pytest.skip("replicated before it could be interrupted")
            assert time.monotonic() < deadline, "no node took the task"
            time.sleep(0.02)
        fleet.nodes[holder].kill()
        survivor = fleet.nodes["b" if holder == "a" else "a"]
        deadline = time.monotonic() + NODE_TIMEOUT + 40
        while fleet.sql("SELECT status FROM replication_tasks WHERE key = 'big'") != "COMPLETED":
            assert time.monotonic() < deadline, fleet.sql("SELECT status, leased_by, attempts, last_error "
                                                          "FROM replication_tasks WHERE key = 'big'")
            time.sleep(0.5)
        versions = d3.list_object_versions(Bucket=dest, Prefix="big")["Versions"]
        assert len(versions) == 1, "the destination got the version once"
        assert body_of(d3.get_object(Bucket=dest, Key="big")) == big
        head = make_client(survivor.endpoint, region=SRC_REGION).head_object(Bucket=src, Key="big")
        assert head["ReplicationStatus"] == "COMPLETED"
    finally:
        for srv in fleet.nodes.values():
            srv.stop()
        dst.stop()


def test_a_node_with_another_root_key_refuses_to_start(fleet, tmp_path):
    stranger = fleet.node("c", root_key_from=None, start=False)
    stranger.data_dir.mkdir(parents=True, exist_ok=True)
    (stranger.data_dir / "root.key").write_bytes(os.urandom(32))
    os.chmod(stranger.data_dir / "root.key", 0o600)
    with pytest.raises(RuntimeError) as e:
        stranger.start()
    assert "cannot open the database's canary" in str(e.value)


def test_a_node_without_the_root_key_is_refused_and_makes_none(fleet):
    newcomer = fleet.node("c", root_key_from=None, start=False)
    with pytest.raises(RuntimeError) as e:
        newcomer.start()
    assert "belongs to a fleet" in str(e.value)
    assert not (newcomer.data_dir / "root.key").exists()


def test_nodes_share_the_root_credentials_the_fleet_was_created_with(tmp_path):
    no_credentials = {"SEALGATE_ROOT_ACCESS_KEY": "", "SEALGATE_ROOT_SECRET_KEY": ""}
    fleet = Fleet(tmp_path)
    try:
        a = fleet.node("a", env=no_credentials)
        generated = (a.data_dir / "root-credentials.toml").read_text()
        ak = generated.split('access_key = "')[1].split('"')[0]
        sk = generated.split('secret_key = "')[1].split('"')[0]
        b = fleet.node("b", env=no_credentials)
        assert not (b.data_dir / "root-credentials.toml").exists()
        bucket = unique_bucket("creds")
        make_client(a.endpoint, access_key=ak, secret_key=sk).create_bucket(Bucket=bucket)
        listed = make_client(b.endpoint, access_key=ak, secret_key=sk).list_buckets()["Buckets"]
        assert bucket in [x["Name"] for x in listed]
    finally:
        for srv in fleet.nodes.values():
            srv.stop()


def test_an_older_binary_refuses_a_newer_schema(fleet):
    a = fleet.nodes["a"]
    check = subprocess.run([str(SEALGATE_BIN), "migrate", "--config", str(a.config_path), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    version = int(fleet.sql("SELECT max(version) FROM sealgate_schema"))
    fleet.sql(f"INSERT INTO sealgate_schema VALUES ({version + 1}, 0, '99.0.0')")
    a.stop()
    with pytest.raises(RuntimeError) as e:
        a.start()
    assert f"schema is version {version + 1}, newer than this binary's {version}" in str(e.value)
    check = subprocess.run([str(SEALGATE_BIN), "migrate", "--config", str(a.config_path), "--check"],
                           capture_output=True, text=True)
    assert check.returncode != 0
    migrate = subprocess.run([str(SEALGATE_BIN), "migrate", "--config", str(a.config_path)],
                             capture_output=True, text=True)
    assert migrate.returncode != 0 and "newer than this binary" in migrate.stderr


def _audit_verify(node: SealgateServer, *dirs: Path) -> subprocess.CompletedProcess:
    args = [str(SEALGATE_BIN), "audit", "verify", "--config", str(node.config_path), "--data-dir", str(node.data_dir)]
    for d in dirs:
        args += ["--dir", str(d)]
    return subprocess.run(args, capture_output=True, text=True)


def test_each_node_keeps_its_audit_chain_anchored_and_a_lost_log_is_detected(fleet):
    a, b = fleet.nodes["a"], fleet.nodes["b"]
    for node in (a, b):
        kms = kms_client(node.endpoint)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.encrypt(KeyId=key, Plaintext=b"audited")
    a.stop()
    b.stop()
    dirs = (a.data_dir / "audit", b.data_dir / "audit")
    ok = _audit_verify(a, *dirs)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert fleet.sql("SELECT string_agg(node, ',' ORDER BY node) FROM audit_anchors") == "a,b"

    # One node's log is gone: verification names it.
    shutil.rmtree(b.data_dir / "audit")
    lost = _audit_verify(a, a.data_dir / "audit")
    assert lost.returncode == 1, lost.stdout + lost.stderr
    assert "b" in lost.stdout and "missing" in lost.stdout.lower(), lost.stdout


def test_kms_quotas_hold_for_the_fleet_as_a_whole(tmp_path):
    # 20 cryptographic requests per second for the fleet: each of two nodes admits 10.
    fleet = Fleet(tmp_path, extra_config="[kms]\ncrypto_requests_per_second = 20\n")
    try:
        a, b = fleet.node("a"), fleet.node("b")
        time.sleep(3)  # a heartbeat: both nodes count two live nodes

        def admitted(node: SealgateServer) -> tuple[int, float]:
            """Encrypts admitted out of a burst of 40, and how long the burst took."""
            kms = kms_client(node.endpoint)
            key = kms.create_key()["KeyMetadata"]["KeyId"]
            time.sleep(1.5)  # the bucket refills after the CreateKey
            ok, started = 0, time.monotonic()
            for _ in range(40):
                try:
                    kms.encrypt(KeyId=key, Plaintext=b"x")
                    ok += 1
                except ClientError as e:
                    assert e.response["Error"]["Code"] == "ThrottlingException", e.response
            return ok, time.monotonic() - started

        with ThreadPoolExecutor(2) as pool:
            both = list(pool.map(admitted, (a, b)))
        for ok, took in both:
            # A node's share is 10/s: a full bucket of 10, plus what refills during the burst.
            assert 9 <= ok <= 10 + 10 * took + 1, both
        # One node leaves: the other now admits the whole rate.
        b.stop()
        time.sleep(3)
        ok, took = admitted(a)
        assert 19 <= ok <= 20 + 20 * took + 1, (ok, took)
    finally:
        for srv in fleet.nodes.values():
            srv.stop()
