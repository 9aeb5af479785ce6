"""sealgate in front of an S3 bucket (a moto server each test starts): the start-up check,
what clients get while the backend is away, crash recovery of half-written multipart
uploads, and a lost data directory in front of a bucket that already holds sealed data."""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from conftest import REPO, SealgateServer, storage_config
from helpers import MiB, body_of, client_error, slow_put, unique_bucket

sys.path.insert(0, str(REPO / "tests"))
import backends  # noqa: E402  (tests/backends.py)

# Quick to give up: a test that stops the backend should not wait a minute per request.
QUICK = ("max_retries = 1\nretry_timeout_secs = 3\nretry_max_backoff_secs = 1\nconnect_timeout_secs = 2\n"
         "request_timeout_secs = 5\n")


@pytest.fixture
def moto():
    b = backends.start_moto()
    yield b
    b.stop()


def gateway(server_factory, moto, name="on-s3", prefix=None, extra="", **kw) -> SealgateServer:
    srv = server_factory(name, start=False, **kw)
    config = storage_config(moto, prefix or name) + QUICK + extra
    srv.config_path = srv.root / "sealgate.toml"
    srv.config_path.write_text(config)
    srv.backend, srv.prefix = moto, prefix or name
    return srv.start()


def uploads_in(moto) -> int:
    status, body = moto.list_multipart_uploads()
    assert status == 200, body[:300]
    return len(ET.fromstring(body).findall("{http://s3.amazonaws.com/doc/2006-03-01/}Upload"))


def test_blobs_go_to_the_bucket_under_the_prefix(server_factory, moto):
    srv = gateway(server_factory, moto, prefix="team-a/prod")
    c = srv.client()
    b = unique_bucket("backend")
    c.create_bucket(Bucket=b)
    data = os.urandom(12 * MiB + 5)  # more than one 8 MiB part
    c.put_object(Bucket=b, Key="big", Body=data)
    c.put_object(Bucket=b, Key="small", Body=b"tiny")
    got = c.get_object(Bucket=b, Key="big", Range="bytes=8388600-8388700")
    assert body_of(got) == data[8388600:8388701]
    assert body_of(c.get_object(Bucket=b, Key="big")) == data
    assert len(srv.stored_blobs()) == 2
    assert not (srv.data_dir / "blobs").exists(), "nothing lands on local disk"


def test_start_up_refuses_an_unusable_backend_with_one_line(server_factory, moto):
    srv = server_factory("no-bucket", start=False)
    moto_no_bucket = backends.Backend(**{**moto.__dict__, "bucket": "no-such-bucket"})
    srv.config_path = srv.root / "sealgate.toml"
    srv.config_path.write_text(storage_config(moto_no_bucket, "p") + QUICK)
    with pytest.raises(RuntimeError, match="exited"):
        srv.start()
    assert "storage backend s3 bucket no-such-bucket" in srv.log_text()
    assert "does not exist" in srv.log_text()

    srv = server_factory("unreachable", start=False)
    moto.stop()
    srv.config_path = srv.root / "sealgate.toml"
    srv.config_path.write_text(storage_config(moto, "p") + QUICK)
    with pytest.raises(RuntimeError, match="exited"):
        srv.start()
    assert "unreachable or not answering" in srv.log_text()


def test_plain_http_needs_allow_http(server_factory, moto):
    srv = server_factory("http-refused", start=False)
    srv.config_path = srv.root / "sealgate.toml"
    srv.config_path.write_text(storage_config(moto, "p").replace("allow_http = true\n", ""))
    with pytest.raises(RuntimeError, match="exited"):
        srv.start()
    assert "allow_http" in srv.log_text()


def test_while_the_backend_is_away_writes_are_refused_and_nothing_becomes_visible(server_factory, moto):
    srv = gateway(server_factory, moto)
    c = srv.client()
    b = unique_bucket("away")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="before", Body=b"stored before the outage")
    moto.pause()  # accepts connections, answers nothing
    try:
        with client_error(503, "SlowDown"):
            c.put_object(Bucket=b, Key="during", Body=os.urandom(2 * MiB))
        with client_error(503, "SlowDown"):
            c.get_object(Bucket=b, Key="before")
    finally:
        moto.resume()
    with client_error(404, "NoSuchKey"):
        c.get_object(Bucket=b, Key="during")
    assert body_of(c.get_object(Bucket=b, Key="before")) == b"stored before the outage"


def test_a_get_cut_by_the_backend_is_cut_not_wrong(server_factory, moto):
    srv = gateway(server_factory, moto)
    c = srv.client()
    b = unique_bucket("cut")
    c.create_bucket(Bucket=b)
    data = os.urandom(64 * MiB)
    c.put_object(Bucket=b, Key="big", Body=data)
    url = c.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "big"})
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("GET", f"{u.path}?{u.query}")
    resp = conn.getresponse()
    assert resp.status == 200
    got = resp.read(MiB)
    moto.kill()
    try:
        while chunk := resp.read(MiB):
            got += chunk
    except (http.client.IncompleteRead, ConnectionError) as e:
        got += getattr(e, "partial", b"")
    assert len(got) < len(data), "the backend died: the body cannot be whole"
    assert got == data[:len(got)], "what arrived is a prefix of the object, never other bytes"


def test_uploads_left_open_by_a_killed_gateway_are_aborted(server_factory, moto):
    # Every blob beyond a part as a multipart upload (as blobs beyond S3's 5 GiB PUT are).
    srv = gateway(server_factory, moto, extra="gc_interval_secs = 1\nsingle_put_max_mib = 0\n")
    c = srv.client()
    b = unique_bucket("crash")
    c.create_bucket(Bucket=b)
    url = c.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "half"}, ExpiresIn=600)
    started, result = threading.Event(), {}
    t = threading.Thread(target=slow_put, args=(url, 200 * MiB, 24 * MiB, started, result, 0.2), daemon=True)
    t.start()
    assert started.wait(60)
    deadline = time.monotonic() + 20
    while uploads_in(moto) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert uploads_in(moto) == 1, "the blob is being written as a multipart upload"
    srv.kill()
    t.join(60)
    assert "status" not in result, result
    srv.start()
    deadline = time.monotonic() + 30
    while uploads_in(moto) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert uploads_in(moto) == 0, "the dead write's upload was aborted"
    with client_error(404, "NoSuchKey"):
        srv.client().get_object(Bucket=b, Key="half")


def test_a_new_data_dir_in_front_of_sealed_blobs_gets_no_new_root_key(server_factory, moto, tmp_path):
    srv = gateway(server_factory, moto, prefix="shared")
    c = srv.client()
    b = unique_bucket("lost")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="k", Body=b"sealed under the first root key")
    srv.stop()
    fresh = server_factory("fresh", start=False, data_dir=tmp_path / "new-data")
    fresh.config_path = fresh.root / "sealgate.toml"
    fresh.config_path.write_text(storage_config(moto, "shared") + QUICK)
    with pytest.raises(RuntimeError, match="exited"):
        fresh.start()
    assert "sealed data exists in the storage backend" in fresh.log_text()
    assert not (tmp_path / "new-data" / "root.key").exists()
    # A prefix of its own is a new deployment.
    fresh.config_path.write_text(storage_config(moto, "other") + QUICK)
    fresh.start()
    digest = hashlib.sha256(b"x").hexdigest()
    fresh.client().create_bucket(Bucket=unique_bucket(digest[:8]))
