"""Buckets: create, head, list, location, delete, bad names; and request authentication."""

import pytest
import requests
from botocore import UNSIGNED

from conftest import make_client
from helpers import client_error, unique_bucket


def test_create_head_list_delete(s3):
    name = unique_bucket("lifecycle")
    r = s3.create_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r.get("Location") in (f"/{name}", None)

    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    listed = {b["Name"]: b for b in s3.list_buckets()["Buckets"]}
    assert name in listed
    assert listed[name]["CreationDate"] is not None

    assert s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with client_error(404):
        s3.head_bucket(Bucket=name)
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_list_buckets_sorted_and_owner(s3):
    names = [unique_bucket("sorted-" + c) for c in "cab"]
    for n in names:
        s3.create_bucket(Bucket=n)
    r = s3.list_buckets()
    got = [b["Name"] for b in r["Buckets"]]
    assert got == sorted(got), "ListBuckets returns buckets in name order"
    assert set(names) <= set(got)
    assert r.get("Owner", {}).get("ID"), "ListBuckets names the owner"


def test_location_default_region(s3, bucket):
    # us-east-1 buckets report an empty LocationConstraint, as on AWS.
    assert not s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")


def test_location_and_region_of_other_region(server_factory):
    srv = server_factory("eu", region="eu-west-1")
    c = srv.client(region="eu-west-1")
    name = unique_bucket("eu")
    c.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert c.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    with client_error(409, "BucketAlreadyOwnedByYou"):
        c.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # too short
        "a" * 64,  # too long
        "UpperCase-bucket",
        "under_score",
        "-leading-hyphen",
        "trailing-hyphen-",
        "double..dot",
        "192.168.5.4",  # formatted like an IP address
    ],
)
def test_invalid_bucket_names(s3, name):
    with client_error(400, "InvalidBucketName"):
        s3.create_bucket(Bucket=name)


def test_delete_non_empty_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with client_error(409, "BucketNotEmpty"):
        s3.delete_bucket(Bucket=bucket)
    # Still there, object intact.
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


def test_no_such_bucket(s3):
    missing = unique_bucket("missing")
    with client_error(404):
        s3.head_bucket(Bucket=missing)
    with client_error(404, "NoSuchBucket"):
        s3.list_objects_v2(Bucket=missing)
    with client_error(404, "NoSuchBucket"):
        s3.put_object(Bucket=missing, Key="k", Body=b"x")
    with client_error(404, "NoSuchBucket"):
        s3.get_object(Bucket=missing, Key="k")
    with client_error(404, "NoSuchBucket"):
        s3.delete_bucket(Bucket=missing)
    with client_error(404, "NoSuchBucket"):
        s3.get_bucket_location(Bucket=missing)


def test_recreate_after_delete(s3):
    name = unique_bucket("again")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="old", Body=b"old")
    s3.delete_object(Bucket=name, Key="old")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0, "a recreated bucket starts empty"


# ---------------------------------------------------------------- authentication


def test_wrong_secret_is_refused(server, bucket):
    c = make_client(server.endpoint, secret_key="not-the-secret-key-000000000000000000000")
    with client_error(403, "SignatureDoesNotMatch"):
        c.list_objects_v2(Bucket=bucket)
    with client_error(403, "SignatureDoesNotMatch"):
        c.put_object(Bucket=bucket, Key="sneaky", Body=b"x")
    with client_error(404, "NoSuchKey"):
        server.client().get_object(Bucket=bucket, Key="sneaky")


def test_unknown_access_key_is_refused(server, bucket):
    c = make_client(server.endpoint, access_key="AKIANOTAREALKEY00000")
    with client_error(403, "InvalidAccessKeyId"):
        c.list_objects_v2(Bucket=bucket)


def test_anonymous_requests_are_refused(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    anon = make_client(server.endpoint, signature_version=UNSIGNED)
    with client_error(403, "AccessDenied"):
        anon.get_object(Bucket=bucket, Key="private")
    with client_error(403, "AccessDenied"):
        anon.put_object(Bucket=bucket, Key="anon", Body=b"x")
    r = requests.get(f"{server.endpoint}/{bucket}/private", timeout=10)
    assert r.status_code == 403
    assert b"secret" not in r.content


def test_signature_v4_with_other_region_scope_is_refused(server, bucket):
    c = make_client(server.endpoint, region="ap-south-1")
    with client_error((400, 403)):
        c.list_objects_v2(Bucket=bucket)
