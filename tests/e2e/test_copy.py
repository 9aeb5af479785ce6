"""CopyObject: metadata directives, copy onto itself, across buckets, preconditions, errors."""

from helpers import CHUNK, body_of, client_error, md5_hex, patterned, quoted, unique_bucket


def test_copy_keeps_content_and_metadata(s3, bucket):
    data = patterned(3 * CHUNK + 5)
    s3.put_object(Bucket=bucket, Key="src", Body=data, ContentType="image/png", Metadata={"Origin": "Camera-X"})
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == quoted(md5_hex(data))
    assert r["ServerSideEncryption"] == "AES256"
    g = s3.get_object(Bucket=bucket, Key="dst")
    assert body_of(g) == data
    assert g["ContentType"] == "image/png"
    assert g["Metadata"] == {"origin": "Camera-X"}
    assert g["ServerSideEncryption"] == "AES256"
    # The source is untouched.
    assert body_of(s3.get_object(Bucket=bucket, Key="src")) == data


def test_copy_directive_copy_ignores_new_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="COPY", Metadata={"b": "2"})
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"a": "1"}


def test_copy_directive_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", ContentType="text/plain", Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"B": "Two"}, ContentType="application/json")
    h = s3.head_object(Bucket=bucket, Key="dst")
    assert h["Metadata"] == {"b": "Two"}
    assert h["ContentType"] == "application/json"
    assert body_of(s3.get_object(Bucket=bucket, Key="dst")) == b"data"


def test_copy_onto_itself_with_replace(s3, bucket):
    data = patterned(CHUNK + 100)
    s3.put_object(Bucket=bucket, Key="self", Body=data, Metadata={"v": "old"})
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"v": "new"})
    g = s3.get_object(Bucket=bucket, Key="self")
    assert g["Metadata"] == {"v": "new"}
    assert body_of(g) == data, "rewriting an object onto itself keeps its bytes"


def test_copy_onto_itself_without_changes_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"data", Metadata={"v": "1"})
    with client_error(400, "InvalidRequest"):
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    g = s3.get_object(Bucket=bucket, Key="self")
    assert body_of(g) == b"data"
    assert g["Metadata"] == {"v": "1"}


def test_copy_across_buckets(s3, bucket):
    other = unique_bucket("copy-dst")
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=bucket, Key="k", Body=b"across")
    s3.copy_object(Bucket=other, Key="k2", CopySource={"Bucket": bucket, "Key": "k"})
    assert body_of(s3.get_object(Bucket=other, Key="k2")) == b"across"


def test_copy_key_with_special_characters(s3, bucket):
    src = "dir with space/ünï+plus?.txt"
    s3.put_object(Bucket=bucket, Key=src, Body=b"odd")
    s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": src})
    assert body_of(s3.get_object(Bucket=bucket, Key="plain")) == b"odd"


def test_copy_missing_source(s3, bucket):
    with client_error(404, "NoSuchKey"):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "missing"})
    with client_error(404, "NoSuchBucket"):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": unique_bucket("nobucket"), "Key": "k"})
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="dst")


def test_copy_source_preconditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"v1")
    etag = s3.head_object(Bucket=bucket, Key="src")["ETag"]
    with client_error(412, "PreconditionFailed"):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                       CopySourceIfMatch='"00000000000000000000000000000000"')
    with client_error(412, "PreconditionFailed"):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                       CopySourceIfNoneMatch=etag)
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="dst")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfMatch=etag)
    assert body_of(s3.get_object(Bucket=bucket, Key="dst")) == b"v1"


def test_copy_is_independent_of_source(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"original")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    s3.put_object(Bucket=bucket, Key="src", Body=b"changed")
    s3.delete_object(Bucket=bucket, Key="src")
    assert body_of(s3.get_object(Bucket=bucket, Key="dst")) == b"original"
