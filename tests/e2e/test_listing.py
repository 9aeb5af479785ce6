"""ListObjects v1 and v2: prefixes, delimiters, pagination (MaxKeys, tokens, StartAfter, Marker)."""

import pytest

from helpers import client_error, md5_hex, quoted

KEYS = [
    "a/1.txt",
    "a/2.txt",
    "a/b/3.txt",
    "b/4.txt",
    "c.txt",
    "d/e/f/5.txt",
    "e.txt",
    "z/6.txt",
]


@pytest.fixture
def filled(s3, bucket):
    for k in KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    return bucket


def test_v2_lists_everything_in_order_with_sizes(s3, filled):
    r = s3.list_objects_v2(Bucket=filled)
    assert [o["Key"] for o in r["Contents"]] == sorted(KEYS)
    assert r["KeyCount"] == len(KEYS)
    assert r["IsTruncated"] is False
    for o in r["Contents"]:
        assert o["Size"] == len(o["Key"])
        assert o["ETag"] == quoted(md5_hex(o["Key"].encode()))
        assert o["LastModified"] is not None
        assert o.get("StorageClass", "STANDARD") == "STANDARD"


def test_empty_bucket(s3, bucket):
    r = s3.list_objects_v2(Bucket=bucket)
    assert r["KeyCount"] == 0
    assert "Contents" not in r
    assert r["IsTruncated"] is False
    assert "Contents" not in s3.list_objects(Bucket=bucket)


def test_v2_prefix(s3, filled):
    r = s3.list_objects_v2(Bucket=filled, Prefix="a/")
    assert [o["Key"] for o in r["Contents"]] == ["a/1.txt", "a/2.txt", "a/b/3.txt"]
    assert r["Prefix"] == "a/"
    r = s3.list_objects_v2(Bucket=filled, Prefix="nothing-here/")
    assert r["KeyCount"] == 0


def test_v2_delimiter(s3, filled):
    r = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["c.txt", "e.txt"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/", "d/", "z/"]
    assert r["KeyCount"] == 6, "KeyCount counts keys and common prefixes"

    r = s3.list_objects_v2(Bucket=filled, Delimiter="/", Prefix="a/")
    assert [o["Key"] for o in r["Contents"]] == ["a/1.txt", "a/2.txt"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"]

    r = s3.list_objects_v2(Bucket=filled, Delimiter="/", Prefix="d/")
    assert "Contents" not in r
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["d/e/"]


def test_v2_non_slash_delimiter(s3, filled):
    r = s3.list_objects_v2(Bucket=filled, Delimiter=".")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == sorted({k.split(".")[0] + "." for k in KEYS})
    assert "Contents" not in r


def _page_all_v2(s3, bucket, **kw):
    keys, prefixes, pages, token = [], [], 0, None
    while True:
        args = dict(kw)
        if token:
            args["ContinuationToken"] = token
        r = s3.list_objects_v2(Bucket=bucket, **args)
        pages += 1
        assert r["KeyCount"] <= kw.get("MaxKeys", 1000)
        keys += [o["Key"] for o in r.get("Contents", [])]
        prefixes += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            return keys, prefixes, pages
        token = r["NextContinuationToken"]
        assert token
        assert pages < 50, "pagination does not terminate"


def test_v2_pagination_max_keys(s3, filled):
    first = s3.list_objects_v2(Bucket=filled, MaxKeys=3)
    assert first["IsTruncated"] is True
    assert first["KeyCount"] == 3
    assert first["MaxKeys"] == 3
    keys, _, pages = _page_all_v2(s3, filled, MaxKeys=3)
    assert keys == sorted(KEYS)
    assert pages == 3


def test_v2_pagination_with_delimiter_counts_prefixes(s3, filled):
    keys, prefixes, pages = _page_all_v2(s3, filled, MaxKeys=1, Delimiter="/")
    assert keys == ["c.txt", "e.txt"]
    assert prefixes == ["a/", "b/", "d/", "z/"], "each common prefix appears exactly once across pages"
    assert pages in (6, 7)


def test_v2_start_after(s3, filled):
    r = s3.list_objects_v2(Bucket=filled, StartAfter="b/4.txt")
    assert [o["Key"] for o in r["Contents"]] == ["c.txt", "d/e/f/5.txt", "e.txt", "z/6.txt"]
    assert r["StartAfter"] == "b/4.txt"
    # A StartAfter that is not a key works too.
    r = s3.list_objects_v2(Bucket=filled, StartAfter="d")
    assert [o["Key"] for o in r["Contents"]] == ["d/e/f/5.txt", "e.txt", "z/6.txt"]
    keys, _, _ = _page_all_v2(s3, filled, StartAfter="a/2.txt", MaxKeys=2)
    assert keys == sorted(KEYS)[2:]


def test_v2_invalid_continuation_token(s3, filled):
    with client_error(400, "InvalidArgument"):
        s3.list_objects_v2(Bucket=filled, ContinuationToken="this-is-not-a-token")


def test_v1_marker_pagination(s3, filled):
    r = s3.list_objects(Bucket=filled, MaxKeys=3)
    assert [o["Key"] for o in r["Contents"]] == sorted(KEYS)[:3]
    assert r["IsTruncated"] is True
    # Without a delimiter, v1 clients continue from the last key returned.
    seen, marker = [], ""
    for _ in range(10):
        r = s3.list_objects(Bucket=filled, MaxKeys=3, Marker=marker)
        assert r.get("Marker", "") == marker
        page = [o["Key"] for o in r.get("Contents", [])]
        seen += page
        if not r["IsTruncated"]:
            break
        marker = page[-1]
    assert seen == sorted(KEYS)


def test_v1_delimiter_and_next_marker(s3, filled):
    r = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=3)
    assert r["IsTruncated"] is True
    assert r.get("NextMarker") == "c.txt", "v1 returns NextMarker when a delimiter is given"
    items = [o["Key"] for o in r.get("Contents", [])] + [p["Prefix"] for p in r.get("CommonPrefixes", [])]
    assert sorted(items) == ["a/", "b/", "c.txt"]
    r2 = s3.list_objects(Bucket=filled, Delimiter="/", Marker=r["NextMarker"])
    rest = [o["Key"] for o in r2.get("Contents", [])] + [p["Prefix"] for p in r2.get("CommonPrefixes", [])]
    assert sorted(rest) == ["d/", "e.txt", "z/"]
    assert r2["IsTruncated"] is False


def test_v1_prefix_and_marker(s3, filled):
    r = s3.list_objects(Bucket=filled, Prefix="a/", Marker="a/1.txt")
    assert [o["Key"] for o in r["Contents"]] == ["a/2.txt", "a/b/3.txt"]


def test_listing_url_encoded_keys(s3, bucket):
    # boto3 asks for EncodingType=url and decodes; odd characters must survive both ways.
    keys = ["sp ace/x", "plus+/y", "uni/ünï", "amp&/z", "lt<gt>"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"1")
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    got = [o["Key"] for o in r.get("Contents", [])] + [p["Prefix"] for p in r.get("CommonPrefixes", [])]
    assert sorted(got) == sorted(["sp ace/", "plus+/", "uni/", "amp&/", "lt<gt>"])
    r = s3.list_objects_v2(Bucket=bucket, Prefix="uni/")
    assert [o["Key"] for o in r["Contents"]] == ["uni/ünï"]


def test_deleted_objects_disappear_from_listing(s3, filled):
    s3.delete_object(Bucket=filled, Key="c.txt")
    r = s3.list_objects_v2(Bucket=filled)
    assert "c.txt" not in [o["Key"] for o in r["Contents"]]
    assert r["KeyCount"] == len(KEYS) - 1
