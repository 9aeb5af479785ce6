"""Object and bucket tagging as S3 has it: Put/Get/DeleteObjectTagging (also on a version),
`x-amz-tagging` on PUT, multipart and copy (with its directive), `x-amz-tagging-count` on
GET and HEAD, bucket tags, S3's limits and errors, who may tag, and tags that survive a
restart without ever resting in the clear."""

from __future__ import annotations

import json
import subprocess
import uuid
from urllib.parse import urlencode

import pytest

from conftest import SealgateServer, make_client
from helpers import ACCESS_KEY, MIN_PART, SECRET_KEY, error_of, put_multipart, unique_bucket
from kms_helpers import users_config


def tag_set(**tags) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tags_of(client, bucket, key, **kw) -> dict:
    return {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]}


def test_object_tags_are_put_read_counted_and_deleted(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    got = s3.get_object_tagging(Bucket=bucket, Key="k")
    assert got["TagSet"] == [] and "VersionId" not in got
    assert "x-amz-tagging-count" not in s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]

    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(team="ops", project="blue sky")})
    # Answered in key order, as S3 answers them.
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == tag_set(project="blue sky", team="ops")
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2
    head = s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]
    assert head["x-amz-tagging-count"] == "2"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data", "the object is untouched"

    # A put replaces the whole set; an empty one removes it.
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(only="one")})
    assert tags_of(s3, bucket, "k") == {"only": "one"}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": []})
    assert tags_of(s3, bucket, "k") == {}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(a="1")})
    assert s3.delete_object_tagging(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, bucket, "k") == {}
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")

    # An overwrite is a new object: it has only the tags it was written with.
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(a="1")})
    s3.put_object(Bucket=bucket, Key="k", Body=b"new")
    assert tags_of(s3, bucket, "k") == {}


def test_limits_and_errors_are_s3s(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")

    def put(tags):
        return error_of(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tags}))

    ten = [{"Key": f"{i:03d}" + "k" * 125, "Value": "v" * 256} for i in range(10)]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": ten})
    assert len(tags_of(s3, bucket, "k")) == 10
    eleven = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    assert put(eleven) == (400, "BadRequest", "Object tags cannot be greater than 10")
    assert put(tag_set(**{"k" * 129: "v"})) == (400, "InvalidTag", "The TagKey you have provided is too long, max 128")
    assert put(tag_set(k="v" * 257)) == (400, "InvalidTag", "The TagValue you have provided is too long, max 256")
    assert put([{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]) == (
        400, "InvalidTag", "Cannot provide multiple Tags with the same key")
    assert put(tag_set(**{"a{b}": "v"})) == (400, "InvalidTag", "The TagKey you have provided is invalid")
    assert put(tag_set(**{"aws:owner": "v"})) == (400, "InvalidTag", "Your TagKey cannot be prefixed with aws:")
    # Unicode letters count: 128 of them are a valid key.
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(**{"é" * 128: "wert ä"})})
    assert tags_of(s3, bucket, "k") == {"é" * 128: "wert ä"}

    assert error_of(lambda: s3.get_object_tagging(Bucket=bucket, Key="missing"))[:2] == (404, "NoSuchKey")
    assert error_of(lambda: s3.put_object_tagging(Bucket=bucket, Key="missing", Tagging={"TagSet": []}))[:2] == (
        404, "NoSuchKey")
    assert error_of(lambda: s3.get_object_tagging(Bucket=unique_bucket("none"), Key="k"))[:2] == (
        404, "NoSuchBucket")


def test_malformed_tagging_xml_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    client = make_client(s3.meta.endpoint_url)
    body = b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"

    def swap_body(request, **_):
        request.data = body
        for h in ("Content-MD5", "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm", "Content-Length"):
            if h in request.headers:
                del request.headers[h]
        request.headers["Content-Length"] = str(len(body))

    client.meta.events.register("before-sign.s3.PutObjectTagging", swap_body)
    status, code, _ = error_of(
        lambda: client.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(k="v")}))
    assert (status, code) == (400, "MalformedXML")


def test_versions_are_tagged_one_by_one(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="gen=one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2")["VersionId"]
    got = s3.get_object_tagging(Bucket=bucket, Key="k")
    assert got["TagSet"] == [] and got["VersionId"] == v2
    assert tags_of(s3, bucket, "k", VersionId=v1) == {"gen": "one"}

    put = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1, Tagging={"TagSet": tag_set(gen="first")})
    assert put["VersionId"] == v1
    assert put["ResponseMetadata"]["HTTPHeaders"]["x-amz-version-id"] == v1
    assert tags_of(s3, bucket, "k", VersionId=v1) == {"gen": "first"}
    assert tags_of(s3, bucket, "k") == {}, "the latest version keeps its own"
    assert s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(gen="second")})["VersionId"] == v2
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["TagCount"] == 1
    assert s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=v1)["VersionId"] == v1
    assert tags_of(s3, bucket, "k", VersionId=v1) == {}
    assert tags_of(s3, bucket, "k") == {"gen": "second"}

    missing = "0" * 32
    assert error_of(lambda: s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=missing))[:2] == (
        404, "NoSuchVersion")
    # A delete marker has no tags: 405 when named, 404 as the latest, as reads are answered.
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    assert error_of(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=marker,
                                                  Tagging={"TagSet": []}))[:2] == (405, "MethodNotAllowed")
    assert error_of(lambda: s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=marker))[:2] == (
        405, "MethodNotAllowed")
    assert error_of(lambda: s3.delete_object_tagging(Bucket=bucket, Key="k"))[:2] == (404, "NoSuchKey")
    assert tags_of(s3, bucket, "k", VersionId=v2) == {"gen": "second"}


def test_tagging_header_on_put_multipart_and_copy(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging=urlencode({"project": "blue sky", "empty": ""}))
    assert tags_of(s3, bucket, "src") == {"project": "blue sky", "empty": ""}
    # A name without '=' holds the empty value; '+' is a space, as in a form.
    s3.put_object(Bucket=bucket, Key="plus", Body=b"x", Tagging="a+b=c+d&flag")
    assert tags_of(s3, bucket, "plus") == {"a b": "c d", "flag": ""}

    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="stage=upload")
    assert error_of(lambda: s3.get_object_tagging(Bucket=bucket, Key="mp"))[:2] == (404, "NoSuchKey")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * MIN_PART)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert tags_of(s3, bucket, "mp") == {"stage": "upload"}

    # COPY (the default) keeps the source's tags, whatever the header says; REPLACE takes the header's.
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "src"}, Tagging="ignored=1")
    assert tags_of(s3, bucket, "copied") == {"project": "blue sky", "empty": ""}
    s3.copy_object(Bucket=bucket, Key="copied2", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="COPY")
    assert tags_of(s3, bucket, "copied2") == {"project": "blue sky", "empty": ""}
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="fresh=yes")
    assert tags_of(s3, bucket, "replaced") == {"fresh": "yes"}
    s3.copy_object(Bucket=bucket, Key="untagged", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE")
    assert tags_of(s3, bucket, "untagged") == {}
    # The metadata directive does not decide tags.
    s3.copy_object(Bucket=bucket, Key="meta", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"m": "1"})
    assert tags_of(s3, bucket, "meta") == {"project": "blue sky", "empty": ""}

    status, code, _ = error_of(lambda: s3.copy_object(
        Bucket=bucket, Key="bad", CopySource={"Bucket": bucket, "Key": "src"}, TaggingDirective="MERGE"))
    assert (status, code) == (400, "InvalidArgument")
    eleven = "&".join(f"k{i}=v" for i in range(11))
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", Tagging=eleven))[:2] == (
        400, "BadRequest")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", Tagging="a=1&a=2"))[:2] == (
        400, "InvalidArgument")
    assert error_of(lambda: s3.create_multipart_upload(Bucket=bucket, Key="bad", Tagging="aws:x=1"))[:2] == (
        400, "InvalidTag")
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="bad"))[0] == 404


def test_bucket_tags(s3, bucket):
    assert error_of(lambda: s3.get_bucket_tagging(Bucket=bucket)) == (404, "NoSuchTagSet", "The TagSet does not exist")
    tags = [{"Key": f"k{i:02d}", "Value": f"v{i}"} for i in range(50)]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set(env="prod")})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set(env="prod")
    too_many = tags + [{"Key": "one-more", "Value": ""}]
    assert error_of(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": too_many}))[:2] == (
        400, "InvalidTag")
    assert error_of(lambda: s3.put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}))[:2] == (
        400, "InvalidTag")
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set(env="prod"), "a refused put changes nothing"
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error_of(lambda: s3.get_bucket_tagging(Bucket=bucket))[:2] == (404, "NoSuchTagSet")
    assert error_of(lambda: s3.get_bucket_tagging(Bucket=unique_bucket("none")))[:2] == (404, "NoSuchBucket")


def test_the_aws_cli_tags_objects_and_buckets(aws, bucket, tmp_path):
    src = tmp_path / "f.txt"
    src.write_bytes(b"hello")
    aws("s3api", "put-object", "--bucket", bucket, "--key", "k", "--body", str(src), "--tagging", "a=1&b=two")
    assert aws.json("s3api", "get-object-tagging", "--bucket", bucket, "--key", "k")["TagSet"] == tag_set(a="1", b="two")
    aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", "k",
        "--tagging", json.dumps({"TagSet": tag_set(c="3")}))
    assert aws.json("s3api", "get-object-tagging", "--bucket", bucket, "--key", "k")["TagSet"] == tag_set(c="3")
    aws("s3api", "delete-object-tagging", "--bucket", bucket, "--key", "k")
    assert aws.json("s3api", "get-object-tagging", "--bucket", bucket, "--key", "k")["TagSet"] == []
    too_many = aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", "k", "--tagging",
                   json.dumps({"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}), check=False)
    assert too_many.returncode != 0 and "Object tags cannot be greater than 10" in too_many.stderr_text

    aws("s3api", "put-bucket-tagging", "--bucket", bucket, "--tagging", json.dumps({"TagSet": tag_set(env="dev")}))
    assert aws.json("s3api", "get-bucket-tagging", "--bucket", bucket)["TagSet"] == tag_set(env="dev")
    aws("s3api", "delete-bucket-tagging", "--bucket", bucket)
    missing = aws("s3api", "get-bucket-tagging", "--bucket", bucket, check=False)
    assert missing.returncode != 0 and "NoSuchTagSet" in missing.stderr_text

    # `aws s3 cp` copies an object with its tags (CopyObject's default directive).
    aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", "k", "--tagging",
        json.dumps({"TagSet": tag_set(kept="yes")}))
    aws("s3", "cp", f"s3://{bucket}/k", f"s3://{bucket}/k2")
    assert aws.json("s3api", "get-object-tagging", "--bucket", bucket, "--key", "k2")["TagSet"] == tag_set(kept="yes")


def test_rclone_and_s3cmd_copies_keep_tags(server, s3, bucket, tmp_path):
    """Server-side copies by other clients go through CopyObject's default directive."""
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="who=rclone")
    conf = tmp_path / "rclone.conf"
    conf.write_text(
        "[sg]\ntype = s3\nprovider = Other\n"
        f"access_key_id = {ACCESS_KEY}\nsecret_access_key = {SECRET_KEY}\n"
        f"endpoint = {server.endpoint}\nregion = us-east-1\n")
    subprocess.run(["rclone", "--config", str(conf), "copyto", f"sg:{bucket}/src", f"sg:{bucket}/by-rclone"],
                   check=True, capture_output=True, timeout=120)
    assert tags_of(s3, bucket, "by-rclone") == {"who": "rclone"}

    cfg = tmp_path / "s3cfg"
    host = server.endpoint.removeprefix("http://")
    cfg.write_text(
        f"[default]\naccess_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\nhost_base = {host}\n"
        f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n")
    subprocess.run(["s3cmd", "-c", str(cfg), "cp", f"s3://{bucket}/src", f"s3://{bucket}/by-s3cmd"],
                   check=True, capture_output=True, timeout=120)
    assert tags_of(s3, bucket, "by-s3cmd") == {"who": "rclone"}


ACCOUNT = "111122223333"
WRITER = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "*"}]}
TAGGER = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:PutObjectTagging", "s3:GetObjectTagging",
                                   "s3:DeleteObjectTagging", "s3:GetBucketTagging"], "Resource": "*"}]}
# May write and tag only with classification=public, and never with a key named "secret".
CLASSIFIED = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "*",
     "Condition": {"StringEquals": {"s3:RequestObjectTag/classification": "public"}}},
    {"Effect": "Deny", "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "*",
     "Condition": {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": "secret"}}}]}
# May read (and retag) only objects already tagged project=apollo.
APOLLO = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging",
                                   "s3:PutObjectTagging"], "Resource": "*",
     "Condition": {"StringEquals": {"s3:ExistingObjectTag/project": "apollo"}}}]}
USERS = {
    "apollo": ("AKIAAPOLLOEXAMPLE001", "apollo/secret/0123456789abcdefghijkl", APOLLO),
    "writer": ("AKIAWRITEREXAMPLE001", "writer/secret/0123456789abcdefghijkl", WRITER),
    "tagger": ("AKIATAGGEREXAMPLE001", "tagger/secret/0123456789abcdefghijkl", TAGGER),
    "classified": ("AKIACLASSIFIEDEXAM01", "classified/secret/0123456789abcdefgh", CLASSIFIED),
}


@pytest.fixture(scope="module")
def users_gw(tmp_path_factory):
    srv = SealgateServer(tmp_path_factory.mktemp("tag-users"), name="tag-users",
                         config=users_config(ACCOUNT, USERS)).start()
    yield srv
    srv.stop()


@pytest.fixture
def root(users_gw):
    return users_gw.client()


@pytest.fixture
def versioned(root, request):
    b = unique_bucket(request.node.name)
    root.create_bucket(Bucket=b)
    root.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    return b


def test_tagging_needs_its_own_permissions(users_gw, root, versioned):
    srv, b = users_gw, versioned
    v = root.put_object(Bucket=b, Key="k", Body=b"x", Tagging="a=1")["VersionId"]
    writer, tagger = (make_client(srv.endpoint, access_key=USERS[u][0], secret_key=USERS[u][1])
                      for u in ("writer", "tagger"))

    status, code, message = error_of(lambda: writer.get_object_tagging(Bucket=b, Key="k"))
    assert (status, code) == (403, "AccessDenied") and "s3:GetObjectTagging" in message
    assert error_of(lambda: writer.put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": []}))[:2] == (
        403, "AccessDenied")
    # Writing tags with an object takes s3:PutObjectTagging too; the object alone does not.
    writer.put_object(Bucket=b, Key="plain", Body=b"x")
    status, _, message = error_of(lambda: writer.put_object(Bucket=b, Key="t", Body=b"x", Tagging="a=1"))
    assert status == 403 and "s3:PutObjectTagging" in message
    assert writer.get_object(Bucket=b, Key="k")["TagCount"] == 1, "reading the object shows the count"

    assert tags_of(tagger, b, "k") == {"a": "1"}
    tagger.put_object(Bucket=b, Key="t", Body=b"x", Tagging="a=1")
    # A named version takes the ...VersionTagging actions, which this user lacks.
    status, _, message = error_of(lambda: tagger.get_object_tagging(Bucket=b, Key="k", VersionId=v))
    assert status == 403 and "s3:GetObjectVersionTagging" in message
    assert error_of(lambda: tagger.delete_object_tagging(Bucket=b, Key="k", VersionId=v))[0] == 403
    tagger.delete_object_tagging(Bucket=b, Key="k")
    # DeleteBucketTagging is s3:PutBucketTagging's, as on S3.
    root.put_bucket_tagging(Bucket=b, Tagging={"TagSet": tag_set(env="prod")})
    assert tagger.get_bucket_tagging(Bucket=b)["TagSet"] == tag_set(env="prod")
    status, _, message = error_of(lambda: tagger.delete_bucket_tagging(Bucket=b))
    assert status == 403 and "s3:PutBucketTagging" in message

    # The request's tags are condition keys: s3:RequestObjectTag/<key>, s3:RequestObjectTagKeys.
    classified = make_client(srv.endpoint, access_key=USERS["classified"][0],
                             secret_key=USERS["classified"][1])
    classified.put_object(Bucket=b, Key="c", Body=b"x", Tagging="classification=public&team=a")
    assert error_of(lambda: classified.put_object(Bucket=b, Key="c2", Body=b"x",
                                                  Tagging="classification=internal"))[0] == 403
    assert error_of(lambda: classified.put_object(Bucket=b, Key="c3", Body=b"x"))[0] == 403
    assert error_of(lambda: classified.put_object(Bucket=b, Key="c4", Body=b"x",
                                                  Tagging="classification=public&secret=1"))[0] == 403
    classified.put_object_tagging(Bucket=b, Key="c", Tagging={"TagSet": tag_set(classification="public")})
    assert error_of(lambda: classified.put_object_tagging(
        Bucket=b, Key="c", Tagging={"TagSet": tag_set(classification="internal")}))[0] == 403
    assert tags_of(root, b, "c") == {"classification": "public"}


def test_the_stored_tags_are_condition_keys(users_gw, root, versioned):
    """s3:ExistingObjectTag/<key> is the tag of the version a request acts on, in identity
    and bucket policies alike."""
    srv, b = users_gw, versioned
    old = root.put_object(Bucket=b, Key="doc", Body=b"apollo v1", Tagging="project=apollo")["VersionId"]
    root.put_object(Bucket=b, Key="doc", Body=b"gemini v2", Tagging="project=gemini")
    root.put_object(Bucket=b, Key="plain", Body=b"untagged")
    apollo = make_client(srv.endpoint, access_key=USERS["apollo"][0], secret_key=USERS["apollo"][1])

    # The latest version is gemini's; the older one, named, is apollo's.
    assert error_of(lambda: apollo.get_object(Bucket=b, Key="doc"))[:2] == (403, "AccessDenied")
    assert apollo.get_object(Bucket=b, Key="doc", VersionId=old)["Body"].read() == b"apollo v1"
    assert error_of(lambda: apollo.get_object(Bucket=b, Key="plain"))[0] == 403
    assert error_of(lambda: apollo.get_object_tagging(Bucket=b, Key="doc"))[0] == 403
    # Retagging the latest version to apollo opens it; retagging away closes it again.
    root.put_object_tagging(Bucket=b, Key="doc", Tagging={"TagSet": tag_set(project="apollo")})
    assert apollo.get_object(Bucket=b, Key="doc")["Body"].read() == b"gemini v2"
    apollo.put_object_tagging(Bucket=b, Key="doc", Tagging={"TagSet": tag_set(project="apollo", v="2")})
    root.put_object_tagging(Bucket=b, Key="doc", Tagging={"TagSet": tag_set(project="mercury")})
    assert error_of(lambda: apollo.head_object(Bucket=b, Key="doc"))[0] == 403

    # A bucket policy can deny by the stored tag, for everyone including the root user.
    root.put_bucket_policy(Bucket=b, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "secret"}}}]}))
    root.put_object(Bucket=b, Key="secret", Body=b"x", Tagging="classification=secret")
    assert error_of(lambda: root.get_object(Bucket=b, Key="secret"))[:2] == (403, "AccessDenied")
    assert root.get_object(Bucket=b, Key="plain")["Body"].read() == b"untagged"
    # A key that is not there has no tags: NoSuchKey, as without the policy.
    assert error_of(lambda: root.get_object(Bucket=b, Key="missing"))[:2] == (404, "NoSuchKey")


def test_tags_survive_a_restart_and_never_rest_in_the_clear(server_factory):
    srv = server_factory("tag-at-rest")
    c = srv.client()
    b = unique_bucket("tag-at-rest")
    c.create_bucket(Bucket=b)
    secret = f"TAG-PLAINTEXT-{uuid.uuid4().hex}"
    key_secret = f"tagkey{uuid.uuid4().hex[:12]}"
    c.put_object(Bucket=b, Key="put", Body=b"x", Tagging=urlencode({key_secret: secret}))
    c.put_object(Bucket=b, Key="retagged", Body=b"x")
    c.put_object_tagging(Bucket=b, Key="retagged", Tagging={"TagSet": tag_set(label=secret)})
    put_multipart(c, b, "mp", [b"p" * MIN_PART], create_args={"Tagging": f"label={secret}"})
    c.create_multipart_upload(Bucket=b, Key="unfinished", Tagging=f"label={secret}")

    def clear_hits():
        hits = []
        for path in srv.at_rest_files():
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                continue
            for needle in (secret.encode(), key_secret.encode()):
                if needle in content:
                    hits.append(f"{needle!r} in {path}")
        return hits

    # The scan does read the catalog: the bucket name rests in the clear there.
    assert any(b.encode() in p.read_bytes() for p in srv.at_rest_files() if p.is_file())
    assert clear_hits() == [], "while running (catalog WAL included)"
    srv.kill()
    assert clear_hits() == [], "after kill -9"
    srv.start()
    c = srv.client()
    assert tags_of(c, b, "put") == {key_secret: secret}
    assert tags_of(c, b, "retagged") == {"label": secret}
    assert tags_of(c, b, "mp") == {"label": secret}
    srv.stop()
    assert clear_hits() == [], "after a clean stop"
