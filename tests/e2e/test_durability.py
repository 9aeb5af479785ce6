"""Crash safety and integrity of what is on disk: kill -9 mid-upload, restarts, orphan
collection, and tampered or swapped blobs that must fail instead of returning wrong bytes."""

import os
import threading
import time

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from helpers import (
    CHUNK,
    KiB,
    MIN_PART,
    MiB,
    SSE_C_OVER_HTTP_CONFIG,
    body_of,
    client_error,
    count_files,
    files_under,
    patterned,
    put_multipart,
    slow_put,
    ssec,
    status_of,
    unique_bucket,
)


def _wait_for_blob_count(srv, expected, timeout=10.0):
    """The count of blob files once it settles at `expected` (or whatever it is after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        n = count_files(srv.blob_dir)
        if n == expected or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def test_kill_during_large_upload(server_factory):
    srv = server_factory("crash")
    c = srv.client()
    b = unique_bucket("crash")
    c.create_bucket(Bucket=b)

    acked = {f"acked-{i}": os.urandom(1000 + i * 70 * KiB) for i in range(4)}
    for k, v in acked.items():
        c.put_object(Bucket=b, Key=k, Body=v)
    c.put_object(Bucket=b, Key="overwritten", Body=b"old " * 1000)
    acked["overwritten"] = b"new content"
    c.put_object(Bucket=b, Key="overwritten", Body=acked["overwritten"])
    c.put_object(Bucket=b, Key="deleted", Body=b"short-lived")
    c.delete_object(Bucket=b, Key="deleted")
    uid = c.create_multipart_upload(Bucket=b, Key="in-progress")["UploadId"]
    part = os.urandom(100 * KiB)
    part_etag = c.upload_part(Bucket=b, Key="in-progress", UploadId=uid, PartNumber=1, Body=part)["ETag"]
    baseline = count_files(srv.blob_dir)

    url = c.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "half-written"}, ExpiresIn=600)
    started, result = threading.Event(), {}
    t = threading.Thread(target=slow_put, args=(url, 64 * MiB, 20 * MiB, started, result), daemon=True)
    t.start()
    assert started.wait(60), "the upload did not get going"
    # Let the server stage what it has received (a staged blob appears), then pull the plug.
    deadline = time.monotonic() + 5
    while count_files(srv.blob_dir) <= baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.kill()
    t.join(60)
    assert "status" not in result, f"the interrupted upload was answered: {result}"

    srv.start()
    c = srv.client()
    keys = sorted(o["Key"] for o in c.list_objects_v2(Bucket=b).get("Contents", []))
    assert keys == sorted(acked), "only acknowledged objects are visible"
    with client_error(404):
        c.head_object(Bucket=b, Key="half-written")
    for k, v in acked.items():
        assert body_of(c.get_object(Bucket=b, Key=k)) == v, k
    parts = c.list_parts(Bucket=b, Key="in-progress", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [(1, part_etag, len(part))]

    expected = len(acked) + 1  # one blob per object, plus the uploaded part
    got = _wait_for_blob_count(srv, expected)
    assert got == expected, (f"{got} blob files for {len(acked)} objects + 1 part (orphans not collected?): "
                             f"{[str(p.relative_to(srv.blob_dir)) for p in files_under(srv.blob_dir)]}")

    # The gateway still works normally on the recovered data dir.
    c.put_object(Bucket=b, Key="after", Body=b"after the crash")
    c.complete_multipart_upload(Bucket=b, Key="in-progress", UploadId=uid,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part_etag}]})
    assert body_of(c.get_object(Bucket=b, Key="in-progress")) == part


def test_acknowledged_writes_survive_immediate_kill(server_factory):
    srv = server_factory("ack")
    c = srv.client()
    b = unique_bucket("ack")
    c.create_bucket(Bucket=b)
    data = {f"k{i}": os.urandom(i * 33 * KiB + 1) for i in range(5)}
    for k, v in data.items():
        c.put_object(Bucket=b, Key=k, Body=v)
    mp = [patterned(MIN_PART, seed=1), b"tail"]
    put_multipart(c, b, "mp", mp)
    c.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "k3"})
    srv.kill()  # right after the last acknowledgement
    srv.start()
    c = srv.client()
    for k, v in data.items():
        assert body_of(c.get_object(Bucket=b, Key=k)) == v
    assert body_of(c.get_object(Bucket=b, Key="mp")) == b"".join(mp)
    assert body_of(c.get_object(Bucket=b, Key="copy")) == data["k3"]


@pytest.mark.parametrize("how", ["graceful", "kill"])
def test_everything_reads_back_after_restart(server_factory, how):
    srv = server_factory("restart", config=SSE_C_OVER_HTTP_CONFIG)
    c = srv.client()
    b = unique_bucket("restart")
    c.create_bucket(Bucket=b)
    key = os.urandom(32)
    plain = patterned(3 * CHUNK + 1, seed=1)
    c.put_object(Bucket=b, Key="plain", Body=plain, ContentType="text/x-test", Metadata={"Who": "Me"})
    c.put_object(Bucket=b, Key="ssec", Body=b"customer keyed", **ssec(key))
    parts = [patterned(MIN_PART, seed=2), patterned(1234, seed=3)]
    mp_etag = put_multipart(c, b, "multipart", parts)["ETag"]

    vb = unique_bucket("restart-v")
    c.create_bucket(Bucket=vb)
    c.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})
    v1 = c.put_object(Bucket=vb, Key="v", Body=b"one")["VersionId"]
    c.put_object(Bucket=vb, Key="v", Body=b"two")
    marker = c.delete_object(Bucket=vb, Key="v")["VersionId"]
    plain_etag = c.head_object(Bucket=b, Key="plain")["ETag"]

    srv.restart(kill=(how == "kill"))
    c = srv.client()

    assert {x["Name"] for x in c.list_buckets()["Buckets"]} >= {b, vb}
    g = c.get_object(Bucket=b, Key="plain")
    assert body_of(g) == plain
    assert g["ETag"] == plain_etag
    assert g["ContentType"] == "text/x-test"
    assert g["Metadata"] == {"who": "Me"}
    assert body_of(c.get_object(Bucket=b, Key="ssec", **ssec(key))) == b"customer keyed"
    with client_error(403):
        c.head_object(Bucket=b, Key="ssec", **ssec(os.urandom(32)))
    g = c.get_object(Bucket=b, Key="multipart")
    assert g["ETag"] == mp_etag
    assert body_of(g) == b"".join(parts)
    assert body_of(c.get_object(Bucket=b, Key="multipart", Range=f"bytes={MIN_PART - 2}-{MIN_PART + 1}")) == \
        b"".join(parts)[MIN_PART - 2 : MIN_PART + 2]

    assert c.get_bucket_versioning(Bucket=vb)["Status"] == "Enabled"
    with client_error(404):
        c.head_object(Bucket=vb, Key="v")
    assert body_of(c.get_object(Bucket=vb, Key="v", VersionId=v1)) == b"one"
    r = c.list_object_versions(Bucket=vb)
    assert len(r["Versions"]) == 2
    assert [m["VersionId"] for m in r["DeleteMarkers"]] == [marker]


def test_data_dir_layout(server_factory):
    srv = server_factory("layout")
    c = srv.client()
    b = unique_bucket("layout")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="users/alice/passport.pdf", Body=b"x" * 1000)
    assert srv.database_url or (srv.data_dir / "catalog.sqlite").is_file()
    root_key = srv.data_dir / "root.key"
    assert root_key.is_file()
    assert root_key.stat().st_size == 32
    assert root_key.stat().st_mode & 0o777 == 0o600
    blobs = files_under(srv.blob_dir)
    assert len(blobs) == 1
    # Blob names are opaque: nothing of the bucket or key shows in them.
    for p in blobs:
        rel = str(p.relative_to(srv.blob_dir))
        assert "passport" not in rel and "alice" not in rel and b not in rel


def test_deleted_objects_free_their_blobs_after_restart(server_factory):
    srv = server_factory("gc")
    c = srv.client()
    b = unique_bucket("gc")
    c.create_bucket(Bucket=b)
    for i in range(5):
        c.put_object(Bucket=b, Key=f"k{i}", Body=os.urandom(10 * KiB))
    for i in range(3):
        c.delete_object(Bucket=b, Key=f"k{i}")
    c.put_object(Bucket=b, Key="k4", Body=b"replacement")
    uid = c.create_multipart_upload(Bucket=b, Key="aborted")["UploadId"]
    c.upload_part(Bucket=b, Key="aborted", UploadId=uid, PartNumber=1, Body=os.urandom(10 * KiB))
    c.abort_multipart_upload(Bucket=b, Key="aborted", UploadId=uid)
    srv.restart()
    got = _wait_for_blob_count(srv, 2)
    assert got == 2, "blobs of deleted, overwritten and aborted data are collected"


# ---------------------------------------------------------------- tampering


def _put_and_find_blob(srv, c, bucket, key, data, **kw):
    before = set(files_under(srv.blob_dir))
    c.put_object(Bucket=bucket, Key=key, Body=data, **kw)
    new = sorted(set(files_under(srv.blob_dir)) - before)
    assert len(new) == 1, f"expected one new blob file for {key}, found {new}"
    return new[0]


def _assert_get_fails(c, original: bytes, **kw):
    """A GET of damaged data must fail: an error status or a cut body, never other bytes."""
    try:
        r = c.get_object(**kw)
    except ClientError as e:
        assert status_of(e) >= 400
        return
    except (BotoCoreError, Urllib3Error, OSError):
        return
    try:
        body = r["Body"].read()
    except (BotoCoreError, Urllib3Error, OSError):
        return
    pytest.fail(f"GET of a damaged blob succeeded with {len(body)} bytes "
                f"({'identical to' if body == original else 'different from'} the original)")


@pytest.fixture
def tamper_env(server_factory):
    srv = server_factory("tamper", config=SSE_C_OVER_HTTP_CONFIG)
    c = srv.client()
    b = unique_bucket("tamper")
    c.create_bucket(Bucket=b)
    return srv, c, b


@pytest.mark.parametrize("where", ["header", "middle", "last-byte"])
def test_flipped_byte_fails_get(tamper_env, where):
    srv, c, b = tamper_env
    data = patterned(3 * CHUNK + 500, seed=4)
    blob = _put_and_find_blob(srv, c, b, "victim", data)
    c.put_object(Bucket=b, Key="bystander", Body=b"unharmed")
    raw = bytearray(blob.read_bytes())
    offset = {"header": 8, "middle": len(raw) // 2, "last-byte": len(raw) - 1}[where]
    raw[offset] ^= 0x01
    blob.write_bytes(bytes(raw))

    _assert_get_fails(c, data, Bucket=b, Key="victim")
    # Other objects are unaffected and the server keeps serving.
    assert body_of(c.get_object(Bucket=b, Key="bystander")) == b"unharmed"


def test_flipped_byte_fails_ranged_get_of_that_chunk(tamper_env):
    srv, c, b = tamper_env
    data = patterned(4 * CHUNK, seed=5)
    blob = _put_and_find_blob(srv, c, b, "victim", data)
    raw = bytearray(blob.read_bytes())
    raw[len(raw) // 2] ^= 0x80  # somewhere in the middle chunks
    blob.write_bytes(bytes(raw))
    _assert_get_fails(c, data[CHUNK : 3 * CHUNK], Bucket=b, Key="victim", Range=f"bytes={CHUNK}-{3 * CHUNK - 1}")


def test_truncated_blob_fails_get(tamper_env):
    srv, c, b = tamper_env
    data = patterned(3 * CHUNK + 100, seed=6)
    blob = _put_and_find_blob(srv, c, b, "victim", data)
    raw = blob.read_bytes()
    # Cut off roughly the whole last chunk: a clean truncation at a chunk edge must still show.
    blob.write_bytes(raw[: len(raw) - (100 + 16)])
    _assert_get_fails(c, data, Bucket=b, Key="victim")
    blob.write_bytes(raw[: len(raw) - (CHUNK + 100 + 32)])
    _assert_get_fails(c, data, Bucket=b, Key="victim")


def test_swapped_blobs_fail_get(tamper_env):
    srv, c, b = tamper_env
    one, two = patterned(CHUNK + 10, seed=7), patterned(CHUNK + 10, seed=8)
    blob1 = _put_and_find_blob(srv, c, b, "one", one)
    blob2 = _put_and_find_blob(srv, c, b, "two", two)
    r1, r2 = blob1.read_bytes(), blob2.read_bytes()
    assert len(r1) == len(r2)
    blob1.write_bytes(r2)
    blob2.write_bytes(r1)
    _assert_get_fails(c, one, Bucket=b, Key="one")
    _assert_get_fails(c, two, Bucket=b, Key="two")


def test_tampered_ssec_blob_fails_get(tamper_env):
    srv, c, b = tamper_env
    key = os.urandom(32)
    data = patterned(2 * CHUNK + 1, seed=9)
    blob = _put_and_find_blob(srv, c, b, "victim", data, **ssec(key))
    raw = bytearray(blob.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    blob.write_bytes(bytes(raw))
    _assert_get_fails(c, data, Bucket=b, Key="victim", **ssec(key))


def test_missing_blob_fails_get(tamper_env):
    srv, c, b = tamper_env
    blob = _put_and_find_blob(srv, c, b, "victim", b"soon gone" * 100)
    blob.unlink()
    with client_error((500, 503)):
        c.get_object(Bucket=b, Key="victim")


def test_tampered_empty_object_fails_get(tamper_env):
    # An empty object still has one sealed (empty) chunk, and reading it checks that chunk.
    srv, c, b = tamper_env
    blob = _put_and_find_blob(srv, c, b, "empty", b"")
    assert body_of(c.get_object(Bucket=b, Key="empty")) == b""
    raw = bytearray(blob.read_bytes())
    raw[-1] ^= 0x01
    blob.write_bytes(bytes(raw))
    _assert_get_fails(c, b"", Bucket=b, Key="empty")
