"""A full disk: the data directory on a small tmpfs, filled by another process or through
the API. Reads (SSE-KMS included, whose audit records must still be written), deletes and
start-up keep working; new object data is refused with 503 SlowDown naming the cause;
nothing stored is damaged; space freed by deletes comes back without a restart."""

import concurrent.futures
import os
import shutil
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import SEALGATE_BIN
from kms_helpers import kms_client
from helpers import MiB, body_of, client_error, code_of, patterned, status_of, unique_bucket

FS_SIZE = 64 * MiB
RESERVE_MIB = 4
CONFIG = f"[storage]\nreserve_mib = {RESERVE_MIB}\ngc_interval_secs = 1\nread_grace_secs = 0\n"


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MiB tmpfs, unmounted after the test (and after its servers stopped)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE}", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def gateway(small_disk, server_factory):
    return server_factory("full", data_dir=small_disk / "data", config=CONFIG)


def free_bytes(path) -> int:
    return shutil.disk_usage(path).free


def fill(disk, leave: int = 0) -> "os.PathLike":
    """Fills the filesystem from outside the gateway, leaving about `leave` bytes."""
    filler = disk / f"filler-{time.monotonic_ns()}"
    with open(filler, "wb") as f:
        chunk = b"\0" * MiB
        try:
            while free_bytes(disk) > leave + len(chunk):
                f.write(chunk)
                f.flush()
            rest = free_bytes(disk) - leave
            if rest > 0:
                f.write(b"\0" * rest)
                f.flush()
        except OSError:
            pass
    return filler


def eventually(check, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result is not False:
                return result
        except (ClientError, AssertionError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s")
        time.sleep(0.2)


def assert_refused_as_full(call):
    with client_error(503, "SlowDown") as info:
        call()
    assert "storage is full" in info.value.response["Error"]["Message"]


def stored(s3, kms):
    """A bucket with an SSE-S3 object, an SSE-KMS object and a few 2 MiB objects."""
    bucket = unique_bucket("full")
    s3.create_bucket(Bucket=bucket)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    objects = {"sse-s3": patterned(300_000, 1), "sse-kms": patterned(300_000, 2)}
    s3.put_object(Bucket=bucket, Key="sse-s3", Body=objects["sse-s3"])
    s3.put_object(Bucket=bucket, Key="sse-kms", Body=objects["sse-kms"], ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=key_id)
    for i in range(4):
        objects[f"big-{i}"] = patterned(2 * MiB, 10 + i)
        s3.put_object(Bucket=bucket, Key=f"big-{i}", Body=objects[f"big-{i}"])
    return bucket, objects


def assert_intact(s3, bucket, objects):
    for key, data in objects.items():
        assert body_of(s3.get_object(Bucket=bucket, Key=key)) == data, key


def audit_verifies(srv):
    out = subprocess.run([str(SEALGATE_BIN), "audit", "verify", "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_full_disk_serves_reads_and_deletes_and_refuses_writes(gateway, small_disk):
    s3, kms = gateway.client(), kms_client(gateway.endpoint)
    bucket, objects = stored(s3, kms)
    filler = fill(small_disk)
    # The gateway notices within a second and gives up its reserve.
    eventually(lambda: free_bytes(small_disk) >= RESERVE_MIB * MiB // 2, what="reserve released")

    assert_intact(s3, bucket, objects)  # SSE-KMS reads write audit records
    assert s3.head_object(Bucket=bucket, Key="sse-s3")["ContentLength"] == 300_000
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == len(objects)

    assert_refused_as_full(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"x" * 10))
    assert_refused_as_full(lambda: s3.put_object(Bucket=bucket, Key="new", Body=patterned(3 * MiB)))
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    assert_refused_as_full(lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1,
                                                  Body=b"p" * 1000))
    assert_refused_as_full(lambda: s3.copy_object(Bucket=bucket, Key="copy",
                                                  CopySource={"Bucket": bucket, "Key": "sse-s3"}))
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)

    s3.delete_object(Bucket=bucket, Key="big-0")
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "big-1"}]})
    assert deleted.get("Errors", []) == [] and [d["Key"] for d in deleted["Deleted"]] == ["big-1"]
    del objects["big-0"], objects["big-1"]
    with client_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="big-0")

    # Space comes back: the operator removes the filler; the reserve is put back and
    # writes are accepted again, without a restart.
    os.remove(filler)
    eventually(lambda: s3.put_object(Bucket=bucket, Key="after", Body=b"back"), what="writes accepted again")
    assert body_of(s3.get_object(Bucket=bucket, Key="after")) == b"back"
    assert_intact(s3, bucket, objects)
    audit_verifies(gateway)
    assert "panicked" not in gateway.log_text()


def test_space_freed_by_deletes_comes_back_without_a_restart(gateway, small_disk):
    s3 = gateway.client()
    bucket = unique_bucket("fill")
    s3.create_bucket(Bucket=bucket)
    written = {}
    # Fill the disk through the API until the gateway refuses.
    for i in range(64):
        data = patterned(2 * MiB, i)
        try:
            s3.put_object(Bucket=bucket, Key=f"o{i}", Body=data)
        except ClientError as e:
            assert (status_of(e), code_of(e)) == (503, "SlowDown"), e
            break
        written[f"o{i}"] = data
    else:
        pytest.fail("the disk never filled")
    assert len(written) >= 8
    keys = sorted(written)
    for key in keys[: len(keys) // 2]:
        s3.delete_object(Bucket=bucket, Key=key)
        del written[key]
    # The collector frees the deleted versions' blobs within seconds, since no read holds
    # them: a 2 MiB write fits again.
    eventually(lambda: s3.put_object(Bucket=bucket, Key="fits-again", Body=patterned(2 * MiB, 99)),
               timeout=30, what="a write after deletes")
    assert_intact(s3, bucket, written)


def test_concurrent_writes_racing_for_the_last_space_never_fail_with_500(gateway, small_disk):
    s3 = gateway.client()
    bucket = unique_bucket("race")
    s3.create_bucket(Bucket=bucket)
    fill(small_disk, leave=(RESERVE_MIB + 6) * MiB)  # the reserve plus ~6 MiB

    def put(i):
        data = patterned(2 * MiB, i)
        try:
            s3.put_object(Bucket=bucket, Key=f"r{i}", Body=data)
            return f"r{i}", data
        except ClientError as e:
            return (status_of(e), code_of(e)), None

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(put, range(8)))
    refused = [r for r, data in results if data is None]
    assert refused and all(r == (503, "SlowDown") for r in refused), results
    stored_now = {k: d for k, d in results if d is not None}
    assert_intact(s3, bucket, stored_now)
    # Refused writes left no blobs behind once the collector passed.
    blobs = gateway.data_dir / "blobs"
    eventually(lambda: len([p for p in blobs.rglob("*") if p.is_file()]) == len(stored_now),
               what="only stored objects' blobs remain")


@pytest.mark.parametrize("kill", [False, True], ids=["stop", "kill-9"])
def test_the_gateway_starts_on_a_full_disk(gateway, small_disk, kill):
    s3, kms = gateway.client(), kms_client(gateway.endpoint)
    bucket, objects = stored(s3, kms)
    fill(small_disk)
    gateway.restart(kill=kill)
    s3 = gateway.client()
    assert_intact(s3, bucket, objects)
    assert_refused_as_full(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"x"))
    s3.delete_object(Bucket=bucket, Key="big-3")
    assert "panicked" not in gateway.log_text()
