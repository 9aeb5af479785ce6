"""Versioning: enable/suspend, version ids, delete markers, access by VersionId, null versions."""

import pytest

from helpers import body_of, client_error, md5_hex, quoted


@pytest.fixture
def vbucket(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def _versions(s3, bucket, prefix=""):
    r = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    return r.get("Versions", []), r.get("DeleteMarkers", [])


def test_versioning_status(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_versioning_status_invalid(s3, bucket):
    with client_error(400, ("MalformedXML", "IllegalVersioningConfigurationException")):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Disabled"})


def test_each_put_gets_a_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two")["VersionId"]
    assert v1 and v2 and v1 != v2 and "null" not in (v1, v2)

    g = s3.get_object(Bucket=vbucket, Key="k")
    assert body_of(g) == b"two"
    assert g["VersionId"] == v2
    assert body_of(s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)) == b"one"
    h = s3.head_object(Bucket=vbucket, Key="k", VersionId=v1)
    assert h["VersionId"] == v1
    assert h["ETag"] == quoted(md5_hex(b"one"))
    assert h["ServerSideEncryption"] == "AES256"

    versions, markers = _versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == [(v2, True, 3), (v1, False, 3)]
    assert markers == []


def test_delete_creates_marker_and_old_versions_stay(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"kept")["VersionId"]
    d = s3.delete_object(Bucket=vbucket, Key="k")
    assert d["DeleteMarker"] is True
    marker = d["VersionId"]
    assert marker and marker != v1

    with client_error(404, "NoSuchKey") as info:
        s3.get_object(Bucket=vbucket, Key="k")
    assert info.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
    assert "Contents" not in s3.list_objects_v2(Bucket=vbucket)
    assert body_of(s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)) == b"kept"

    versions, markers = _versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v1, False)]
    assert [(m["VersionId"], m["IsLatest"], m["Key"]) for m in markers] == [(marker, True, "k")]

    # A delete marker is not an object: GET by its id is 405.
    with client_error(405, "MethodNotAllowed"):
        s3.get_object(Bucket=vbucket, Key="k", VersionId=marker)

    # Removing the marker brings the object back.
    d = s3.delete_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert d["DeleteMarker"] is True
    assert d["VersionId"] == marker
    assert body_of(s3.get_object(Bucket=vbucket, Key="k")) == b"kept"


def test_delete_specific_version_is_permanent(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two")["VersionId"]
    d = s3.delete_object(Bucket=vbucket, Key="k", VersionId=v2)
    assert d["VersionId"] == v2
    assert not d.get("DeleteMarker")
    # The previous version becomes current; nothing else changed.
    g = s3.get_object(Bucket=vbucket, Key="k")
    assert body_of(g) == b"one"
    assert g["VersionId"] == v1
    with client_error(404, "NoSuchVersion"):
        s3.get_object(Bucket=vbucket, Key="k", VersionId=v2)
    versions, markers = _versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v1, True)]
    assert markers == []


def test_bad_version_id(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    with client_error(400, "InvalidArgument"):
        s3.get_object(Bucket=vbucket, Key="k", VersionId="not-a-version-id")
    with client_error((400, 404)):
        s3.head_object(Bucket=vbucket, Key="k", VersionId="not-a-version-id")


def test_versioned_bucket_with_markers_is_not_empty(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=vbucket, Key="k")
    with client_error(409, "BucketNotEmpty"):
        s3.delete_bucket(Bucket=vbucket)


def test_list_object_versions_across_keys_and_pagination(s3, vbucket):
    ids = {}
    for key in ["a", "b"]:
        ids[key] = [s3.put_object(Bucket=vbucket, Key=key, Body=f"{key}{i}".encode())["VersionId"] for i in range(3)]
    versions, _ = _versions(s3, vbucket)
    # Keys in order; within a key, newest first.
    assert [(v["Key"], v["VersionId"]) for v in versions] == (
        [("a", i) for i in reversed(ids["a"])] + [("b", i) for i in reversed(ids["b"])])

    seen, key_marker, vid_marker = [], None, None
    for _ in range(10):
        args = {"Bucket": vbucket, "MaxKeys": 2}
        if key_marker:
            args.update(KeyMarker=key_marker, VersionIdMarker=vid_marker)
        r = s3.list_object_versions(**args)
        seen += [(v["Key"], v["VersionId"]) for v in r.get("Versions", [])]
        if not r["IsTruncated"]:
            break
        key_marker, vid_marker = r["NextKeyMarker"], r["NextVersionIdMarker"]
    assert seen == [(v["Key"], v["VersionId"]) for v in versions]


def test_suspended_versioning_writes_null_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    r = s3.put_object(Bucket=vbucket, Key="k", Body=b"null one")
    assert r.get("VersionId") in (None, "null")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"null two")  # replaces the null version

    versions, _ = _versions(s3, vbucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True), (v1, False)]
    assert body_of(s3.get_object(Bucket=vbucket, Key="k")) == b"null two"
    assert body_of(s3.get_object(Bucket=vbucket, Key="k", VersionId="null")) == b"null two"
    assert body_of(s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)) == b"versioned"

    # Deleting in a suspended bucket replaces the null version with a null delete marker.
    d = s3.delete_object(Bucket=vbucket, Key="k")
    assert d.get("DeleteMarker") is True
    versions, markers = _versions(s3, vbucket)
    assert [v["VersionId"] for v in versions] == [v1]
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [("null", True)]
    assert body_of(s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)) == b"versioned"


def test_unversioned_bucket_lists_null_versions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    versions, _ = _versions(s3, bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [("k", "null", True)]
    assert body_of(s3.get_object(Bucket=bucket, Key="k", VersionId="null")) == b"x"


def test_enabling_keeps_pre_existing_object_as_null_version(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"after")["VersionId"]
    versions, _ = _versions(s3, bucket)
    assert [(x["VersionId"], x["IsLatest"]) for x in versions] == [(v, True), ("null", False)]
    assert body_of(s3.get_object(Bucket=bucket, Key="k", VersionId="null")) == b"before"


def test_copy_from_specific_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="src", Body=b"old content")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="src", Body=b"new content")
    r = s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1})
    assert r.get("CopySourceVersionId") == v1
    assert r.get("VersionId")
    assert body_of(s3.get_object(Bucket=vbucket, Key="dst")) == b"old content"


def test_delete_objects_with_version_ids(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"2")["VersionId"]
    r = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [{"Key": "k", "VersionId": v1},
                                                              {"Key": "k", "VersionId": v2}]})
    assert sorted(d["VersionId"] for d in r["Deleted"]) == sorted([v1, v2])
    versions, markers = _versions(s3, vbucket)
    assert versions == [] and markers == []


def test_multipart_in_versioned_bucket(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"single")["VersionId"]
    uid = s3.create_multipart_upload(Bucket=vbucket, Key="k")["UploadId"]
    e = s3.upload_part(Bucket=vbucket, Key="k", UploadId=uid, PartNumber=1, Body=b"multi")["ETag"]
    done = s3.complete_multipart_upload(Bucket=vbucket, Key="k", UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    v2 = done["VersionId"]
    assert v2 and v2 != v1
    assert body_of(s3.get_object(Bucket=vbucket, Key="k")) == b"multi"
    assert body_of(s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)) == b"single"


def test_versions_listing_spans_internal_batches_without_losing_versions(s3, vbucket):
    # 990 keys roll up into one common prefix, so the versions of "k" straddle the
    # server's 1000-row internal batches while the page is still far from full.
    for i in range(990):
        s3.put_object(Bucket=vbucket, Key=f"d/{i:04}", Body=b"")
    ids = [s3.put_object(Bucket=vbucket, Key="k", Body=str(i).encode())["VersionId"] for i in range(30)]
    page = s3.list_object_versions(Bucket=vbucket, Delimiter="/", MaxKeys=1000)
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["d/"]
    assert [v["VersionId"] for v in page["Versions"]] == ids[::-1]
    assert not page["IsTruncated"]
