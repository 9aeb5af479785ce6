"""Multipart uploads: the whole lifecycle, part copies, listing, errors, GET by part number and
GetObjectAttributes."""

import hashlib

import pytest

from helpers import (
    KiB,
    MIN_PART,
    body_of,
    client_error,
    md5_hex,
    multipart_etag,
    patterned,
    put_multipart,
    quoted,
    unique_bucket,
)

P1 = patterned(MIN_PART, seed=11)
P2 = patterned(MIN_PART + 3, seed=12)
P3 = patterned(1000, seed=13)


@pytest.fixture(scope="module")
def mp_bucket(s3):
    b = unique_bucket("multipart")
    s3.create_bucket(Bucket=b)
    return b


@pytest.fixture(scope="module")
def three_parts(s3, mp_bucket):
    """A completed 3-part object shared by the read-only tests."""
    r = put_multipart(s3, mp_bucket, "three", [P1, P2, P3],
                      create_args={"ContentType": "application/x-test", "Metadata": {"Kind": "Multi"}})
    return mp_bucket, "three", r


def test_complete_round_trip(s3, three_parts):
    bucket, key, done = three_parts
    assert done["ETag"] == multipart_etag([P1, P2, P3])
    assert done["Key"] == key
    assert done["Bucket"] == bucket
    assert done.get("ServerSideEncryption") == "AES256"
    g = s3.get_object(Bucket=bucket, Key=key)
    assert g["ETag"] == multipart_etag([P1, P2, P3])
    assert g["ContentLength"] == len(P1) + len(P2) + len(P3)
    assert g["ContentType"] == "application/x-test"
    assert g["Metadata"] == {"kind": "Multi"}
    assert g["ServerSideEncryption"] == "AES256"
    assert hashlib.sha256(body_of(g)).digest() == hashlib.sha256(P1 + P2 + P3).digest()


def test_create_reports_sse(s3, mp_bucket):
    up = s3.create_multipart_upload(Bucket=mp_bucket, Key="sse")
    assert up.get("ServerSideEncryption") == "AES256"
    part = s3.upload_part(Bucket=mp_bucket, Key="sse", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
    assert part.get("ServerSideEncryption") == "AES256"
    assert part["ETag"] == quoted(md5_hex(b"p"))
    s3.abort_multipart_upload(Bucket=mp_bucket, Key="sse", UploadId=up["UploadId"])


def test_single_small_part(s3, mp_bucket):
    r = put_multipart(s3, mp_bucket, "single", [b"only part"])
    assert r["ETag"] == multipart_etag([b"only part"])
    assert body_of(s3.get_object(Bucket=mp_bucket, Key="single")) == b"only part"


def test_upload_invisible_until_complete(s3, mp_bucket):
    key = "pending"
    up = s3.create_multipart_upload(Bucket=mp_bucket, Key=key)
    s3.upload_part(Bucket=mp_bucket, Key=key, UploadId=up["UploadId"], PartNumber=1, Body=b"x" * KiB)
    with client_error(404):
        s3.head_object(Bucket=mp_bucket, Key=key)
    assert key not in [o["Key"] for o in s3.list_objects_v2(Bucket=mp_bucket).get("Contents", [])]
    s3.abort_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=up["UploadId"])


def test_list_parts(s3, mp_bucket):
    key = "listparts"
    up = s3.create_multipart_upload(Bucket=mp_bucket, Key=key)
    uid = up["UploadId"]
    etags = {}
    for n, size in [(1, 100), (3, 300), (7, 700)]:
        etags[n] = s3.upload_part(Bucket=mp_bucket, Key=key, UploadId=uid, PartNumber=n, Body=b"p" * size)["ETag"]
    r = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=uid)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in r["Parts"]] == [
        (1, 100, etags[1]), (3, 300, etags[3]), (7, 700, etags[7])]
    assert r["IsTruncated"] is False
    assert r["UploadId"] == uid

    page = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 3]
    assert page["IsTruncated"] is True
    assert page["NextPartNumberMarker"] == 3
    rest = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=uid, PartNumberMarker=3)
    assert [p["PartNumber"] for p in rest["Parts"]] == [7]
    s3.abort_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid)


def test_reuploaded_part_replaces_the_first(s3, mp_bucket):
    key = "reupload"
    uid = s3.create_multipart_upload(Bucket=mp_bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=mp_bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"first attempt")
    e2 = s3.upload_part(Bucket=mp_bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"second")["ETag"]
    parts = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [(1, e2, 6)]
    s3.complete_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e2}]})
    assert body_of(s3.get_object(Bucket=mp_bucket, Key=key)) == b"second"


def test_list_multipart_uploads(s3):
    b = unique_bucket("list-uploads")
    s3.create_bucket(Bucket=b)
    a = s3.create_multipart_upload(Bucket=b, Key="up/a")["UploadId"]
    bb = s3.create_multipart_upload(Bucket=b, Key="up/b")["UploadId"]
    o = s3.create_multipart_upload(Bucket=b, Key="other")["UploadId"]
    r = s3.list_multipart_uploads(Bucket=b)
    assert sorted((u["Key"], u["UploadId"]) for u in r["Uploads"]) == sorted(
        [("up/a", a), ("up/b", bb), ("other", o)])
    assert all(u.get("Initiated") for u in r["Uploads"])
    r = s3.list_multipart_uploads(Bucket=b, Prefix="up/")
    assert sorted(u["Key"] for u in r["Uploads"]) == ["up/a", "up/b"]
    r = s3.list_multipart_uploads(Bucket=b, Delimiter="/")
    assert [u["Key"] for u in r.get("Uploads", [])] == ["other"]
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["up/"]

    s3.abort_multipart_upload(Bucket=b, Key="up/a", UploadId=a)
    s3.upload_part(Bucket=b, Key="up/b", UploadId=bb, PartNumber=1, Body=b"b")
    e = s3.list_parts(Bucket=b, Key="up/b", UploadId=bb)["Parts"][0]["ETag"]
    s3.complete_multipart_upload(Bucket=b, Key="up/b", UploadId=bb,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    r = s3.list_multipart_uploads(Bucket=b)
    assert [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])] == [("other", o)]


def test_abort(s3, mp_bucket):
    key = "aborted"
    uid = s3.create_multipart_upload(Bucket=mp_bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=mp_bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"x" * KiB)
    r = s3.abort_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with client_error(404, "NoSuchUpload"):
        s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=uid)
    with client_error(404, "NoSuchUpload"):
        s3.upload_part(Bucket=mp_bucket, Key=key, UploadId=uid, PartNumber=2, Body=b"late")
    with client_error(404):
        s3.head_object(Bucket=mp_bucket, Key=key)


def test_no_such_upload(s3, mp_bucket):
    bogus = "bm90LWEtcmVhbC11cGxvYWQtaWQ"
    with client_error(404, "NoSuchUpload"):
        s3.upload_part(Bucket=mp_bucket, Key="k", UploadId=bogus, PartNumber=1, Body=b"x")
    with client_error(404, "NoSuchUpload"):
        s3.list_parts(Bucket=mp_bucket, Key="k", UploadId=bogus)
    with client_error(404, "NoSuchUpload"):
        s3.complete_multipart_upload(Bucket=mp_bucket, Key="k", UploadId=bogus,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": quoted(md5_hex(b"x"))}]})
    with client_error(404, "NoSuchUpload"):
        s3.abort_multipart_upload(Bucket=mp_bucket, Key="k", UploadId=bogus)


def test_upload_id_is_bound_to_its_key(s3, mp_bucket):
    uid = s3.create_multipart_upload(Bucket=mp_bucket, Key="bound")["UploadId"]
    with client_error(404, "NoSuchUpload"):
        s3.upload_part(Bucket=mp_bucket, Key="another-key", UploadId=uid, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=mp_bucket, Key="bound", UploadId=uid)


@pytest.mark.parametrize("part_number", [0, 10001])
def test_part_number_out_of_range(s3, mp_bucket, part_number):
    uid = s3.create_multipart_upload(Bucket=mp_bucket, Key="pn")["UploadId"]
    with client_error(400, "InvalidArgument"):
        s3.upload_part(Bucket=mp_bucket, Key="pn", UploadId=uid, PartNumber=part_number, Body=b"x")
    s3.abort_multipart_upload(Bucket=mp_bucket, Key="pn", UploadId=uid)


def _upload_parts(s3, bucket, key, parts):
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for n, data in enumerate(parts, start=1):
        e = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=data)["ETag"]
        done.append({"PartNumber": n, "ETag": e})
    return uid, done


def test_entity_too_small(s3, mp_bucket):
    key = "too-small"
    uid, done = _upload_parts(s3, mp_bucket, key, [b"a" * KiB, b"b" * KiB])
    with client_error(400, "EntityTooSmall"):
        s3.complete_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": done})
    with client_error(404):
        s3.head_object(Bucket=mp_bucket, Key=key)
    # The upload survives a refused completion, as on AWS.
    assert len(s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=uid)["Parts"]) == 2
    s3.abort_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid)


def test_invalid_part(s3, mp_bucket):
    key = "invalid-part"
    uid, done = _upload_parts(s3, mp_bucket, key, [b"one"])
    with client_error(400, "InvalidPart"):
        s3.complete_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]})
    with client_error(400, "InvalidPart"):
        s3.complete_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid, MultipartUpload={
            "Parts": done + [{"PartNumber": 2, "ETag": done[0]["ETag"]}]})
    with client_error(404):
        s3.head_object(Bucket=mp_bucket, Key=key)
    # The right list still completes.
    s3.complete_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": done})
    assert body_of(s3.get_object(Bucket=mp_bucket, Key=key)) == b"one"


def test_invalid_part_order(s3, mp_bucket):
    key = "order"
    # Both parts are big enough, so only the order is wrong.
    uid, done = _upload_parts(s3, mp_bucket, key, [P1, P2])
    with client_error(400, "InvalidPartOrder"):
        s3.complete_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": list(reversed(done))})
    with client_error(404):
        s3.head_object(Bucket=mp_bucket, Key=key)
    s3.abort_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid)


def test_complete_with_subset_of_parts(s3, mp_bucket):
    # Parts that were uploaded but not listed in Complete are not part of the object.
    key = "subset"
    uid, done = _upload_parts(s3, mp_bucket, key, [P1, b"middle", b"last"])
    s3.complete_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid,
                                 MultipartUpload={"Parts": [done[0], done[2]]})
    g = s3.get_object(Bucket=mp_bucket, Key=key)
    assert g["ETag"] == multipart_etag([P1, b"last"])
    assert body_of(g) == P1 + b"last"


def test_upload_part_copy_with_ranges(s3, mp_bucket):
    src = patterned(MIN_PART + MIN_PART // 2, seed=21)
    s3.put_object(Bucket=mp_bucket, Key="copy-src", Body=src)
    key = "copy-dst"
    uid = s3.create_multipart_upload(Bucket=mp_bucket, Key=key)["UploadId"]
    # A regular part, then two ranged copies of the source (the last one short).
    r1 = s3.upload_part(Bucket=mp_bucket, Key=key, UploadId=uid, PartNumber=1, Body=P1)
    r2 = s3.upload_part_copy(Bucket=mp_bucket, Key=key, UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": mp_bucket, "Key": "copy-src"},
                             CopySourceRange=f"bytes=0-{MIN_PART - 1}")
    assert r2["CopyPartResult"]["ETag"] == quoted(md5_hex(src[:MIN_PART]))
    assert r2.get("ServerSideEncryption") == "AES256"
    r3 = s3.upload_part_copy(Bucket=mp_bucket, Key=key, UploadId=uid, PartNumber=3,
                             CopySource={"Bucket": mp_bucket, "Key": "copy-src"},
                             CopySourceRange=f"bytes={MIN_PART}-{len(src) - 1}")
    assert r3["CopyPartResult"]["ETag"] == quoted(md5_hex(src[MIN_PART:]))
    parts = [{"PartNumber": 1, "ETag": r1["ETag"]},
             {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
             {"PartNumber": 3, "ETag": r3["CopyPartResult"]["ETag"]}]
    listed = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=uid)["Parts"]
    assert [p["Size"] for p in listed] == [len(P1), MIN_PART, len(src) - MIN_PART]
    done = s3.complete_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})
    assert done["ETag"] == multipart_etag([P1, src[:MIN_PART], src[MIN_PART:]])
    g = s3.get_object(Bucket=mp_bucket, Key=key)
    assert hashlib.sha256(body_of(g)).digest() == hashlib.sha256(P1 + src).digest()


def test_upload_part_copy_range_across_source_parts(s3, three_parts):
    bucket, key, _ = three_parts
    dst = "copy-of-three"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=dst)["UploadId"]
    # A range straddling the source's part boundary.
    start, end = len(P1) - 100, len(P1) + 99
    r = s3.upload_part_copy(Bucket=bucket, Key=dst, UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": key}, CopySourceRange=f"bytes={start}-{end}")
    s3.complete_multipart_upload(Bucket=bucket, Key=dst, UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    assert body_of(s3.get_object(Bucket=bucket, Key=dst)) == (P1 + P2)[start : end + 1]


def test_upload_part_copy_errors(s3, mp_bucket):
    uid = s3.create_multipart_upload(Bucket=mp_bucket, Key="copy-err")["UploadId"]
    with client_error(404, "NoSuchKey"):
        s3.upload_part_copy(Bucket=mp_bucket, Key="copy-err", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": mp_bucket, "Key": "no-such-source"})
    s3.put_object(Bucket=mp_bucket, Key="small-src", Body=b"0123456789")
    with client_error((400, 416), ("InvalidArgument", "InvalidRange")):
        s3.upload_part_copy(Bucket=mp_bucket, Key="copy-err", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": mp_bucket, "Key": "small-src"}, CopySourceRange="bytes=5-100")
    s3.abort_multipart_upload(Bucket=mp_bucket, Key="copy-err", UploadId=uid)


# ---------------------------------------------------------------- GET by part number, attributes


@pytest.mark.parametrize("n,data", [(1, P1), (2, P2), (3, P3)])
def test_get_by_part_number(s3, three_parts, n, data):
    bucket, key, _ = three_parts
    total = len(P1) + len(P2) + len(P3)
    start = sum(len(p) for p in [P1, P2, P3][: n - 1])
    g = s3.get_object(Bucket=bucket, Key=key, PartNumber=n)
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert g["PartsCount"] == 3
    assert g["ContentLength"] == len(data)
    assert g["ContentRange"] == f"bytes {start}-{start + len(data) - 1}/{total}"
    assert body_of(g) == data
    h = s3.head_object(Bucket=bucket, Key=key, PartNumber=n)
    assert h["ContentLength"] == len(data)
    assert h["PartsCount"] == 3


def test_get_part_number_out_of_range(s3, three_parts):
    bucket, key, _ = three_parts
    with client_error(416, "InvalidPartNumber"):
        s3.get_object(Bucket=bucket, Key=key, PartNumber=4)


def test_get_part_number_one_of_single_part_object(s3, mp_bucket):
    s3.put_object(Bucket=mp_bucket, Key="plain", Body=b"plain object")
    g = s3.get_object(Bucket=mp_bucket, Key="plain", PartNumber=1)
    assert body_of(g) == b"plain object"


def test_object_attributes_single_part(s3, mp_bucket):
    data = b"attributes please"
    s3.put_object(Bucket=mp_bucket, Key="attrs", Body=data)
    a = s3.get_object_attributes(Bucket=mp_bucket, Key="attrs",
                                 ObjectAttributes=["ETag", "ObjectSize", "ObjectParts", "StorageClass"])
    # GetObjectAttributes returns the ETag without quotes.
    assert a["ETag"] == md5_hex(data)
    assert a["ObjectSize"] == len(data)
    assert a.get("StorageClass") == "STANDARD"
    assert "ObjectParts" not in a or not a["ObjectParts"].get("TotalPartsCount")


def test_object_attributes_multipart(s3, three_parts):
    bucket, key, _ = three_parts
    a = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["ETag", "ObjectSize", "ObjectParts"])
    assert a["ETag"] == multipart_etag([P1, P2, P3]).strip('"')
    assert a["ObjectSize"] == len(P1) + len(P2) + len(P3)
    assert a["ObjectParts"]["TotalPartsCount"] == 3
    assert "StorageClass" not in a, "only the requested attributes are returned"


def test_object_attributes_missing_key(s3, mp_bucket):
    with client_error(404, "NoSuchKey"):
        s3.get_object_attributes(Bucket=mp_bucket, Key="missing", ObjectAttributes=["ETag"])
