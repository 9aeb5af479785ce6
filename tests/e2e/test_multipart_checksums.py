"""Multipart checksums as S3 keeps them: FULL_OBJECT (CRC32, CRC32C, CRC64NVME: the CRC of
the whole object) and COMPOSITE (the checksum of the part checksums, "-N"), what GET, HEAD
and GetObjectAttributes show with checksum mode on, and the requests S3 refuses."""

import base64
import functools
import hashlib
import json
import zlib

import pytest

from helpers import MIN_PART, body_of, client_error, patterned, unique_bucket

P1 = patterned(MIN_PART, seed=31)
P2 = patterned(MIN_PART + 17, seed=32)
P3 = patterned(999, seed=33)
WHOLE = P1 + P2 + P3


def _reflected_table(poly: int) -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _reflected_table(0x82F63B78)
_CRC64NVME = _reflected_table(0x9A6C9329AC4BC9B5)


def _crc(table: list[int], mask: int, data: bytes) -> int:
    c = mask
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ mask


@functools.lru_cache(maxsize=32)
def crc_raw(alg: str, data: bytes) -> bytes:
    """The big-endian CRC S3 shows (base64) for `data`, computed over all of it."""
    if alg == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if alg == "CRC32C":
        return _crc(_CRC32C, 0xFFFFFFFF, data).to_bytes(4, "big")
    return _crc(_CRC64NVME, 0xFFFFFFFFFFFFFFFF, data).to_bytes(8, "big")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def digest(alg: str, data: bytes) -> bytes:
    if alg == "SHA1":
        return hashlib.sha1(data).digest()
    if alg == "SHA256":
        return hashlib.sha256(data).digest()
    return crc_raw(alg, data)


@pytest.fixture(scope="module")
def plain(server):
    """A client that sends no checksum of its own: the gateway computes each part's with
    the upload's algorithm (botocore has no CRC32C or CRC64NVME without awscrt)."""
    return server.client(request_checksum_calculation="when_required",
                         response_checksum_validation="when_required")


@pytest.fixture(scope="module")
def ck_bucket(s3):
    b = unique_bucket("mp-cksum")
    s3.create_bucket(Bucket=b)
    return b


def upload(client, bucket, key, alg, kind=None, parts=(P1, P2, P3)):
    args = {"ChecksumAlgorithm": alg}
    if kind:
        args["ChecksumType"] = kind
    up = client.create_multipart_upload(Bucket=bucket, Key=key, **args)
    done = []
    for n, data in enumerate(parts, start=1):
        r = client.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=data)
        assert r[f"Checksum{alg}"] == b64(digest(alg, data))
        done.append({"PartNumber": n, "ETag": r["ETag"], f"Checksum{alg}": r[f"Checksum{alg}"]})
    return up, done


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_checksum_is_the_crc_of_the_whole_object(plain, ck_bucket, alg):
    key = f"full-{alg}"
    whole = b64(crc_raw(alg, WHOLE))
    up, parts = upload(plain, ck_bucket, key, alg, "FULL_OBJECT")
    assert up["ChecksumType"] == "FULL_OBJECT"
    done = plain.complete_multipart_upload(Bucket=ck_bucket, Key=key, UploadId=up["UploadId"],
                                           MultipartUpload={"Parts": parts},
                                           ChecksumType="FULL_OBJECT", **{f"Checksum{alg}": whole})
    assert done[f"Checksum{alg}"] == whole
    assert done["ChecksumType"] == "FULL_OBJECT"
    for r in (plain.head_object(Bucket=ck_bucket, Key=key, ChecksumMode="ENABLED"),
              plain.get_object(Bucket=ck_bucket, Key=key, ChecksumMode="ENABLED")):
        assert r[f"Checksum{alg}"] == whole
        assert r["ChecksumType"] == "FULL_OBJECT"
    attrs = plain.get_object_attributes(Bucket=ck_bucket, Key=key, ObjectAttributes=["Checksum", "ObjectParts"])
    assert attrs["Checksum"] == {f"Checksum{alg}": whole, "ChecksumType": "FULL_OBJECT"}
    assert attrs["ObjectParts"]["TotalPartsCount"] == 3
    assert body_of(plain.get_object(Bucket=ck_bucket, Key=key)) == WHOLE


def test_crc64nvme_is_full_object_by_default(plain, ck_bucket):
    up, parts = upload(plain, ck_bucket, "nvme-default", "CRC64NVME", parts=(P1, P3))
    assert up["ChecksumType"] == "FULL_OBJECT"
    done = plain.complete_multipart_upload(Bucket=ck_bucket, Key="nvme-default", UploadId=up["UploadId"],
                                           MultipartUpload={"Parts": parts})
    assert done["ChecksumCRC64NVME"] == b64(crc_raw("CRC64NVME", P1 + P3))


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_composite_checksum_is_the_checksum_of_the_part_checksums(plain, ck_bucket, alg):
    key = f"composite-{alg}"
    up, parts = upload(plain, ck_bucket, key, alg)
    assert up["ChecksumType"] == "COMPOSITE"
    done = plain.complete_multipart_upload(Bucket=ck_bucket, Key=key, UploadId=up["UploadId"],
                                           MultipartUpload={"Parts": parts})
    expected = b64(digest(alg, b"".join(digest(alg, p) for p in (P1, P2, P3)))) + "-3"
    assert done[f"Checksum{alg}"] == expected
    assert done["ChecksumType"] == "COMPOSITE"
    head = plain.head_object(Bucket=ck_bucket, Key=key, ChecksumMode="ENABLED")
    assert (head[f"Checksum{alg}"], head["ChecksumType"]) == (expected, "COMPOSITE")
    assert f"Checksum{alg}" not in plain.head_object(Bucket=ck_bucket, Key=key)
    attrs = plain.get_object_attributes(Bucket=ck_bucket, Key=key, ObjectAttributes=["Checksum"])
    assert attrs["Checksum"] == {f"Checksum{alg}": expected, "ChecksumType": "COMPOSITE"}
    # A ranged read or one part has no whole-object checksum.
    part = plain.get_object(Bucket=ck_bucket, Key=key, PartNumber=1, ChecksumMode="ENABLED")
    assert f"Checksum{alg}" not in part


def test_boto3_transfer_with_a_full_object_crc32(s3, ck_bucket, tmp_path):
    """s3transfer sends a FULL_OBJECT upload when given the file's CRC32, and states it on
    completion; its default (CRC32 parts) is a COMPOSITE one."""
    from boto3.s3.transfer import TransferConfig

    f = tmp_path / "big"
    f.write_bytes(WHOLE)
    cfg = TransferConfig(multipart_threshold=MIN_PART, multipart_chunksize=MIN_PART)
    whole = b64(crc_raw("CRC32", WHOLE))
    s3.upload_file(str(f), ck_bucket, "transfer-full", Config=cfg, ExtraArgs={"ChecksumCRC32": whole})
    head = s3.head_object(Bucket=ck_bucket, Key="transfer-full", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (whole, "FULL_OBJECT")
    s3.upload_file(str(f), ck_bucket, "transfer-default", Config=cfg)
    head = s3.head_object(Bucket=ck_bucket, Key="transfer-default", ChecksumMode="ENABLED")
    assert head["ChecksumType"] == "COMPOSITE" and head["ChecksumCRC32"].endswith("-3")


@pytest.mark.parametrize("alg,kind", [("SHA256", "FULL_OBJECT"), ("SHA1", "FULL_OBJECT"),
                                      ("CRC64NVME", "COMPOSITE")])
def test_checksum_types_an_algorithm_lacks_are_refused(plain, ck_bucket, alg, kind):
    with client_error(400, "InvalidRequest"):
        plain.create_multipart_upload(Bucket=ck_bucket, Key="refused", ChecksumAlgorithm=alg, ChecksumType=kind)


def test_a_part_with_another_algorithm_is_refused(plain, s3, ck_bucket):
    up = plain.create_multipart_upload(Bucket=ck_bucket, Key="mismatch", ChecksumAlgorithm="SHA256")
    # boto3's default client states a CRC32 of the part.
    with client_error(400, "InvalidRequest"):
        s3.upload_part(Bucket=ck_bucket, Key="mismatch", UploadId=up["UploadId"], PartNumber=1, Body=P3)
    plain.abort_multipart_upload(Bucket=ck_bucket, Key="mismatch", UploadId=up["UploadId"])


def test_a_wrong_full_object_checksum_fails_the_completion(plain, ck_bucket):
    up, parts = upload(plain, ck_bucket, "wrong-full", "CRC32C", "FULL_OBJECT", parts=(P1, P3))
    args = {"Bucket": ck_bucket, "Key": "wrong-full", "UploadId": up["UploadId"],
            "MultipartUpload": {"Parts": parts}}
    with client_error(400, "BadDigest"):
        plain.complete_multipart_upload(ChecksumCRC32C=b64(crc_raw("CRC32C", P1)), **args)
    with client_error(400, "InvalidRequest"):
        plain.complete_multipart_upload(ChecksumType="COMPOSITE", **args)
    with client_error(404):
        plain.head_object(Bucket=ck_bucket, Key="wrong-full")
    # The upload is intact: the right checksum completes it.
    done = plain.complete_multipart_upload(ChecksumCRC32C=b64(crc_raw("CRC32C", P1 + P3)), **args)
    assert done["ChecksumCRC32C"] == b64(crc_raw("CRC32C", P1 + P3))


def test_a_stated_object_size_must_be_the_completed_size(plain, ck_bucket):
    up, parts = upload(plain, ck_bucket, "sized", "CRC32", parts=(P1, P3))
    args = {"Bucket": ck_bucket, "Key": "sized", "UploadId": up["UploadId"], "MultipartUpload": {"Parts": parts}}
    with client_error(400, "InvalidRequest"):
        plain.complete_multipart_upload(MpuObjectSize=len(P1) + len(P3) + 1, **args)
    with client_error(404):
        plain.head_object(Bucket=ck_bucket, Key="sized")
    plain.complete_multipart_upload(MpuObjectSize=len(P1) + len(P3), **args)
    assert plain.head_object(Bucket=ck_bucket, Key="sized")["ContentLength"] == len(P1) + len(P3)


def test_a_composite_completion_must_name_every_part_checksum(plain, ck_bucket):
    up, parts = upload(plain, ck_bucket, "no-part-sums", "CRC32", parts=(P1, P3))
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
    args = {"Bucket": ck_bucket, "Key": "no-part-sums", "UploadId": up["UploadId"]}
    with client_error(400, "InvalidRequest"):
        plain.complete_multipart_upload(MultipartUpload={"Parts": bare}, **args)
    wrong = [dict(parts[0], ChecksumCRC32=b64(crc_raw("CRC32", b"x"))), parts[1]]
    with client_error(400, "InvalidPart"):
        plain.complete_multipart_upload(MultipartUpload={"Parts": wrong}, **args)
    plain.complete_multipart_upload(MultipartUpload={"Parts": parts}, **args)


def test_aws_cli_full_object_upload(aws, ck_bucket, tmp_path):
    key = "cli-full"
    up = aws.json("s3api", "create-multipart-upload", "--bucket", ck_bucket, "--key", key,
                  "--checksum-algorithm", "CRC32", "--checksum-type", "FULL_OBJECT")
    assert up["ChecksumType"] == "FULL_OBJECT"
    parts = []
    for n, data in enumerate((P1, P3), start=1):
        f = tmp_path / f"p{n}"
        f.write_bytes(data)
        r = aws.json("s3api", "upload-part", "--bucket", ck_bucket, "--key", key, "--upload-id", up["UploadId"],
                     "--part-number", str(n), "--body", f, "--checksum-algorithm", "CRC32")
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    complete = ("s3api", "complete-multipart-upload", "--bucket", ck_bucket, "--key", key,
                "--upload-id", up["UploadId"], "--multipart-upload", json.dumps({"Parts": parts}),
                "--checksum-type", "FULL_OBJECT")
    wrong = aws(*complete, "--checksum-crc32", b64(crc_raw("CRC32", P3)), check=False)
    assert wrong.returncode != 0 and "BadDigest" in wrong.stderr_text
    whole = b64(crc_raw("CRC32", P1 + P3))
    assert aws.json(*complete, "--checksum-crc32", whole)["ChecksumCRC32"] == whole
    head = aws.json("s3api", "head-object", "--bucket", ck_bucket, "--key", key, "--checksum-mode", "ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (whole, "FULL_OBJECT")
    attrs = aws.json("s3api", "get-object-attributes", "--bucket", ck_bucket, "--key", key,
                     "--object-attributes", "Checksum")
    assert attrs["Checksum"]["ChecksumCRC32"] == whole
