"""Every listing against a model of S3's rules, page by page, over keys laid out to make the
catalog step past common prefixes: directories larger than a read batch, one-key
directories, nested ones, non-ASCII keys, a multi-character delimiter. ListObjectsV2,
ListObjects, ListObjectVersions (with versions and delete markers) and ListMultipartUploads
must each return exactly the model's sequence, whatever the page size."""

import pytest

from helpers import unique_bucket

KEYS = (
    [f"big/{i:04}" for i in range(150)]            # larger than a read batch
    + [f"dir{i:02}/only" for i in range(40)]       # one key per directory
    + [f"n/{d}/{i}" for d in "abc" for i in range(5)]
    + ["n/plain", "top", "zz", "é/1", "é/2", "éé", "a--b--c", "a--d", "a-", "日本/語"]
)
VERSIONED = ["big/0003", "big/0149", "dir07/only", "é/1", "top"]
DELETED = ["big/0004", "dir08/only"]


def by_bytes(items):
    return sorted(items, key=lambda s: s.encode())


def model(keys, prefix, delimiter):
    """Keys and common prefixes in listing order, as ("key", k) / ("prefix", p)."""
    out = []
    for k in by_bytes(keys):
        if not k.startswith(prefix):
            continue
        i = k.find(delimiter, len(prefix)) if delimiter else -1
        if i >= 0:
            cp = k[: i + len(delimiter)]
            if out[-1:] != [("prefix", cp)]:
                out.append(("prefix", cp))
        else:
            out.append(("key", k))
    return out


def merged(page, entries, entry_key):
    """A page's entries and common prefixes in one list, in key order."""
    items = [("key", entry_key(e)) for e in page.get(entries, [])]
    items += [("prefix", p["Prefix"]) for p in page.get("CommonPrefixes", [])]
    return sorted(items, key=lambda it: it[1].encode())


CASES = [("", ""), ("", "/"), ("big/", "/"), ("n/", "/"), ("", "--"), ("a", "-"), ("é", "/")]


@pytest.fixture(scope="module")
def laid_out(s3):
    bucket = unique_bucket("listmodel")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    versions = {}
    for k in KEYS:
        versions[k] = [s3.put_object(Bucket=bucket, Key=k, Body=b"x")["VersionId"]]
    for k in VERSIONED:
        versions[k].insert(0, s3.put_object(Bucket=bucket, Key=k, Body=b"yy")["VersionId"])
    for k in DELETED:
        versions[k].insert(0, s3.delete_object(Bucket=bucket, Key=k)["VersionId"])
    uploads = {}
    for k in ["big/0001", "big/0001", "dir03/only", "n/a/1", "top", "é/2", "a--b--c"]:
        uploads.setdefault(k, []).append(
            s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"])
    yield bucket, versions, uploads
    for k, ids in uploads.items():
        for u in ids:
            s3.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=u)


@pytest.mark.parametrize("prefix,delimiter", CASES)
@pytest.mark.parametrize("page_size", [1, 7, 1000])
def test_list_objects_v2_and_v1_follow_the_model(s3, laid_out, prefix, delimiter, page_size):
    bucket, _, _ = laid_out
    live = [k for k in KEYS if k not in DELETED]
    want = model(live, prefix, delimiter)
    got, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter=delimiter,
                                  MaxKeys=page_size, **kw)
        items = merged(page, "Contents", lambda o: o["Key"])
        assert page["KeyCount"] == len(items) <= page_size
        got += items
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert got == want
    got, marker = [], ""
    while True:
        page = s3.list_objects(Bucket=bucket, Prefix=prefix, Delimiter=delimiter,
                               MaxKeys=page_size, Marker=marker)
        items = merged(page, "Contents", lambda o: o["Key"])
        got += items
        if not page["IsTruncated"]:
            break
        marker = page.get("NextMarker") or items[-1][1]
    assert got == want


@pytest.mark.parametrize("prefix,delimiter", CASES)
@pytest.mark.parametrize("page_size", [1, 7, 1000])
def test_list_object_versions_follows_the_model(s3, laid_out, prefix, delimiter, page_size):
    bucket, versions, _ = laid_out
    want = []
    for kind, name in model(KEYS, prefix, delimiter):
        want += [("prefix", name, None)] if kind == "prefix" else [
            ("key", name, v) for v in versions[name]]
    got, kw = [], {}
    while True:
        page = s3.list_object_versions(Bucket=bucket, Prefix=prefix, Delimiter=delimiter,
                                       MaxKeys=page_size, **kw)
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        # Versions and delete markers come in two lists: newest first within a key.
        entries.sort(key=lambda e: (e["Key"].encode(), -e["LastModified"].timestamp()))
        items = [("key", e["Key"], e["VersionId"]) for e in entries]
        items += [("prefix", p["Prefix"], None) for p in page.get("CommonPrefixes", [])]
        items.sort(key=lambda it: it[1].encode())
        assert len(items) <= page_size
        got += items
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"]}
        if page.get("NextVersionIdMarker"):
            kw["VersionIdMarker"] = page["NextVersionIdMarker"]
    # Within one key the order is newest first: compare the sets per key and the key order.
    assert [(k, n) for k, n, _ in got] == [(k, n) for k, n, _ in want]
    assert sorted(map(str, got)) == sorted(map(str, want))


@pytest.mark.parametrize("prefix,delimiter", CASES)
@pytest.mark.parametrize("page_size", [1, 3, 1000])
def test_list_multipart_uploads_follows_the_model(s3, laid_out, prefix, delimiter, page_size):
    bucket, _, uploads = laid_out
    want = []
    for kind, name in model(list(uploads), prefix, delimiter):
        want += [("prefix", name, None)] if kind == "prefix" else [
            ("key", name, u) for u in sorted(uploads[name])]
    got, kw = [], {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix, Delimiter=delimiter,
                                         MaxUploads=page_size, **kw)
        items = [("key", u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        items += [("prefix", p["Prefix"], None) for p in page.get("CommonPrefixes", [])]
        items.sort(key=lambda it: (it[1].encode(), it[2] or ""))
        assert len(items) <= page_size
        got += items
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"]}
        if page.get("NextUploadIdMarker"):
            kw["UploadIdMarker"] = page["NextUploadIdMarker"]
    assert got == want
