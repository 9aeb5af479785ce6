"""Content-MD5 on the requests whose bodies the gateway reads whole (DeleteObjects, bucket
settings): a wrong one is 400 BadDigest and the request is not carried out, a malformed one
400 InvalidDigest, as on S3. (PutObject and UploadPart: test_checksums.py.)"""

import pytest

from helpers import body_of, client_error, md5_b64, set_headers_before_sign, unique_bucket


@pytest.fixture(scope="module")
def md5_bucket(s3):
    b = unique_bucket("md5")
    s3.create_bucket(Bucket=b)
    return b


def test_delete_objects_checks_content_md5(s3, md5_bucket):
    s3.put_object(Bucket=md5_bucket, Key="md5-victim", Body=b"x")
    handler = set_headers_before_sign(s3, "DeleteObjects", {"Content-MD5": md5_b64(b"not the body")})
    try:
        with client_error(400, "BadDigest"):
            s3.delete_objects(Bucket=md5_bucket, Delete={"Objects": [{"Key": "md5-victim"}]})
        assert body_of(s3.get_object(Bucket=md5_bucket, Key="md5-victim")) == b"x"
    finally:
        s3.meta.events.unregister("before-sign.s3.DeleteObjects", handler)
    bad = set_headers_before_sign(s3, "DeleteObjects", {"Content-MD5": "not-an-md5"})
    try:
        with client_error(400, "InvalidDigest"):
            s3.delete_objects(Bucket=md5_bucket, Delete={"Objects": [{"Key": "md5-victim"}]})
    finally:
        s3.meta.events.unregister("before-sign.s3.DeleteObjects", bad)
    r = s3.delete_objects(Bucket=md5_bucket, Delete={"Objects": [{"Key": "md5-victim"}]})
    assert [d["Key"] for d in r["Deleted"]] == ["md5-victim"]


def test_put_bucket_versioning_checks_content_md5(s3, aws):
    b = unique_bucket("md5-ver")
    s3.create_bucket(Bucket=b)
    handler = set_headers_before_sign(s3, "PutBucketVersioning", {"Content-MD5": md5_b64(b"other")})
    try:
        with client_error(400, "BadDigest"):
            s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    finally:
        s3.meta.events.unregister("before-sign.s3.PutBucketVersioning", handler)
    assert "Status" not in s3.get_bucket_versioning(Bucket=b)
    cfg = ("s3api", "put-bucket-versioning", "--bucket", b, "--versioning-configuration", "Status=Enabled")
    r = aws(*cfg, "--content-md5", md5_b64(b"other"), check=False)
    assert r.returncode != 0 and "BadDigest" in r.stderr_text
    r = aws(*cfg, "--content-md5", "bm90IGFuIG1kNQ==", check=False)
    assert r.returncode != 0 and "InvalidDigest" in r.stderr_text
    assert "Status" not in s3.get_bucket_versioning(Bucket=b)
    aws(*cfg)
    assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"


def test_a_matching_content_md5_is_accepted(s3, md5_bucket):
    s3.put_object(Bucket=md5_bucket, Key="gone", Body=b"x")

    def right_md5(request, **_):
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        if "Content-MD5" in request.headers:
            del request.headers["Content-MD5"]
        request.headers["Content-MD5"] = md5_b64(body)

    s3.meta.events.register("before-sign.s3.DeleteObjects", right_md5)
    try:
        r = s3.delete_objects(Bucket=md5_bucket, Delete={"Objects": [{"Key": "gone"}]})
    finally:
        s3.meta.events.unregister("before-sign.s3.DeleteObjects", right_md5)
    assert [d["Key"] for d in r["Deleted"]] == ["gone"]
