"""Browser-style POST uploads (generate_presigned_post + a real multipart/form-data POST) and
presigned GET/PUT URLs."""

import time
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import SealgateServer
from helpers import body_of, client_error, md5_hex, quoted, unique_bucket

TIMEOUT = 30


def _post(url, fields, content, filename="hello.txt", **over):
    data = dict(fields)
    data.update(over)
    return requests.post(url, data=data, files={"file": (filename, content)}, timeout=TIMEOUT)


def _error_code(resp) -> str:
    try:
        return ET.fromstring(resp.content).findtext("Code") or ""
    except ET.ParseError:
        return ""


# ---------------------------------------------------------------- POST object


def test_post_object_form_upload(s3, bucket):
    post = s3.generate_presigned_post(
        Bucket=bucket,
        Key="forms/upload.txt",
        Fields={"Content-Type": "text/plain", "x-amz-meta-origin": "Browser-Form"},
        Conditions=[{"Content-Type": "text/plain"}, {"x-amz-meta-origin": "Browser-Form"},
                    ["content-length-range", 1, 1024]],
        ExpiresIn=600,
    )
    content = b"uploaded from a form\n"
    r = _post(post["url"], post["fields"], content)
    assert r.status_code == 204, r.text
    assert r.headers.get("ETag") == quoted(md5_hex(content))

    h = s3.head_object(Bucket=bucket, Key="forms/upload.txt")
    assert h["ContentType"] == "text/plain"
    assert h["Metadata"] == {"origin": "Browser-Form"}
    assert h["ServerSideEncryption"] == "AES256"
    assert body_of(s3.get_object(Bucket=bucket, Key="forms/upload.txt")) == content


def test_post_object_success_action_status_201(s3, bucket):
    post = s3.generate_presigned_post(Bucket=bucket, Key="created.bin", Fields={"success_action_status": "201"},
                                      Conditions=[{"success_action_status": "201"}])
    r = _post(post["url"], post["fields"], b"\x00\x01binary\xff")
    assert r.status_code == 201, r.text
    doc = ET.fromstring(r.content)
    ns = {"s3": doc.tag.split("}")[0].strip("{")} if doc.tag.startswith("{") else {}
    find = (lambda t: doc.findtext(f"s3:{t}", namespaces=ns)) if ns else doc.findtext
    assert find("Bucket") == bucket
    assert find("Key") == "created.bin"
    assert find("ETag") == quoted(md5_hex(b"\x00\x01binary\xff"))
    assert body_of(s3.get_object(Bucket=bucket, Key="created.bin")) == b"\x00\x01binary\xff"


def test_post_object_filename_substitution(s3, bucket):
    post = s3.generate_presigned_post(Bucket=bucket, Key="uploads/${filename}",
                                      Conditions=[["starts-with", "$key", "uploads/"]])
    r = _post(post["url"], post["fields"], b"photo bytes", filename="cat.jpg")
    assert r.status_code == 204, r.text
    assert body_of(s3.get_object(Bucket=bucket, Key="uploads/cat.jpg")) == b"photo bytes"


def test_post_object_filename_in_every_field_and_policy_sees_it_expanded(s3, bucket):
    # S3 expands ${filename} in every field before the policy is checked; a browser may send
    # a Windows path, of which only the name counts.
    post = s3.generate_presigned_post(
        Bucket=bucket, Key="photos/${filename}",
        Fields={"x-amz-meta-original": "was ${filename}"},
        Conditions=[{"key": "photos/cat.jpg"}, {"x-amz-meta-original": "was cat.jpg"}])
    r = _post(post["url"], post["fields"], b"meow", filename="C:\\Users\\me\\cat.jpg")
    assert r.status_code == 204, r.text
    h = s3.head_object(Bucket=bucket, Key="photos/cat.jpg")
    assert h["Metadata"] == {"original": "was cat.jpg"}

    r = _post(post["url"], post["fields"], b"woof", filename="dog.jpg")
    assert r.status_code == 403, r.text
    assert _error_code(r) == "AccessDenied"
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="photos/dog.jpg")


TAGGING = ("<Tagging><TagSet><Tag><Key>project</Key><Value>x</Value></Tag>"
           "<Tag><Key>source</Key><Value>form ${filename}</Value></Tag></TagSet></Tagging>")


def test_post_object_tagging_field(s3, bucket):
    post = s3.generate_presigned_post(Bucket=bucket, Key="tagged.txt", Fields={"tagging": TAGGING},
                                      Conditions=[["starts-with", "$tagging", "<Tagging>"]])
    r = _post(post["url"], post["fields"], b"tagged", filename="a.txt")
    assert r.status_code == 204, r.text
    tags = s3.get_object_tagging(Bucket=bucket, Key="tagged.txt")["TagSet"]
    assert tags == [{"Key": "project", "Value": "x"}, {"Key": "source", "Value": "form a.txt"}]
    assert s3.get_object(Bucket=bucket, Key="tagged.txt")["TagCount"] == 2


@pytest.mark.parametrize("doc, status, code", [
    ("<Tagging><TagSet><Tag><Key>k</Key>", 400, "MalformedXML"),
    ("k=v", 400, "MalformedXML"),
    ("<Tagging><TagSet><Tag><Key>aws:k</Key><Value>v</Value></Tag></TagSet></Tagging>", 400, "InvalidTag"),
    ("<Tagging><TagSet>" + "".join(f"<Tag><Key>k{i}</Key><Value>v</Value></Tag>" for i in range(11))
     + "</TagSet></Tagging>", 400, "BadRequest"),
])
def test_post_object_bad_tagging_field_stores_nothing(s3, bucket, doc, status, code):
    post = s3.generate_presigned_post(Bucket=bucket, Key="bad-tags", Fields={"tagging": doc},
                                      Conditions=[["starts-with", "$tagging", ""]])
    r = _post(post["url"], post["fields"], b"x")
    assert r.status_code == status, r.text
    assert _error_code(r) == code
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="bad-tags")


def test_post_object_tagging_field_outside_policy(s3, bucket):
    post = s3.generate_presigned_post(Bucket=bucket, Key="untagged")
    r = _post(post["url"], post["fields"], b"x", tagging=TAGGING)
    assert r.status_code == 403, r.text
    assert _error_code(r) == "AccessDenied"
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="untagged")


def test_post_object_fields_over_20kb(s3, bucket):
    post = s3.generate_presigned_post(Bucket=bucket, Key="big-form")
    r = _post(post["url"], post["fields"], b"x", **{"x-ignore-padding": "p" * 21 * 1024})
    assert r.status_code == 400, r.text
    assert _error_code(r) == "MaxPostPreDataLengthExceededError"
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="big-form")


def test_post_object_too_large_for_policy(s3, bucket):
    post = s3.generate_presigned_post(Bucket=bucket, Key="limited", Conditions=[["content-length-range", 1, 100]])
    r = _post(post["url"], post["fields"], b"x" * 2000)
    assert r.status_code == 400, r.text
    assert _error_code(r) == "EntityTooLarge"
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="limited")


def test_post_object_file_larger_than_the_gateway_holds(tmp_path):
    """A form's file is held in memory before authorization: [s3] max_post_size bounds it,
    whatever the form's own policy allows."""
    srv = SealgateServer(tmp_path, name="post-cap", config="[s3]\nmax_post_size = 1024\n").start()
    try:
        s3 = srv.client()
        name = unique_bucket("postcap")
        s3.create_bucket(Bucket=name)
        post = s3.generate_presigned_post(Bucket=name, Key="big", Conditions=[["content-length-range", 1, 1 << 20]])
        r = _post(post["url"], post["fields"], b"x" * 4096)
        assert r.status_code == 400, r.text
        assert _error_code(r) == "EntityTooLarge"
        with client_error(404):
            s3.head_object(Bucket=name, Key="big")
        assert _post(post["url"], post["fields"], b"x" * 1024).status_code == 204
    finally:
        srv.stop()


def test_post_object_field_violating_policy(s3, bucket):
    post = s3.generate_presigned_post(Bucket=bucket, Key="typed", Fields={"Content-Type": "text/plain"},
                                      Conditions=[{"Content-Type": "text/plain"}])
    r = _post(post["url"], post["fields"], b"<script>", **{"Content-Type": "text/html"})
    assert r.status_code == 403, r.text
    assert _error_code(r) == "AccessDenied"
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="typed")


def test_post_object_key_outside_policy(s3, bucket):
    post = s3.generate_presigned_post(Bucket=bucket, Key="allowed/x", Conditions=[["starts-with", "$key", "allowed/"]])
    r = _post(post["url"], post["fields"], b"x", key="elsewhere/x")
    assert r.status_code == 403, r.text
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="elsewhere/x")


def test_post_object_bad_signature(s3, bucket):
    post = s3.generate_presigned_post(Bucket=bucket, Key="forged")
    sig = post["fields"]["x-amz-signature"]
    forged = ("0" if sig[0] != "0" else "1") + sig[1:]
    r = _post(post["url"], post["fields"], b"x", **{"x-amz-signature": forged})
    assert r.status_code == 403, r.text
    assert _error_code(r) == "SignatureDoesNotMatch"
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="forged")


def test_post_object_expired_policy(s3, bucket):
    post = s3.generate_presigned_post(Bucket=bucket, Key="late", ExpiresIn=1)
    time.sleep(2.5)
    r = _post(post["url"], post["fields"], b"x")
    assert r.status_code == 403, r.text
    assert _error_code(r) == "AccessDenied"
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="late")


# ---------------------------------------------------------------- presigned URLs


def test_presigned_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"share me", ContentType="text/plain")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=300)
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == b"share me"
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["x-amz-server-side-encryption"] == "AES256"
    r = requests.get(url, headers={"Range": "bytes=2-4"}, timeout=TIMEOUT)
    assert r.status_code == 206
    assert r.content == b"are"


def test_presigned_get_with_response_override(s3, bucket):
    s3.put_object(Bucket=bucket, Key="report.csv", Body=b"a,b\n")
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "report.csv", "ResponseContentDisposition": 'attachment; filename="r.csv"'})
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == 'attachment; filename="r.csv"'


def test_presigned_get_missing_key(s3, bucket):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "absent"})
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 404
    assert _error_code(r) == "NoSuchKey"


def test_presigned_put(s3, bucket):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "via-url.bin"}, ExpiresIn=300)
    data = bytes(range(256)) * 100
    r = requests.put(url, data=data, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers.get("ETag") == quoted(md5_hex(data))
    g = s3.get_object(Bucket=bucket, Key="via-url.bin")
    assert body_of(g) == data
    assert g["ServerSideEncryption"] == "AES256"


def test_presigned_url_expired(s3, bucket):
    s3.put_object(Bucket=bucket, Key="brief", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "brief"}, ExpiresIn=1)
    time.sleep(2.5)
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 403
    assert _error_code(r) == "AccessDenied"
    assert b"x" != r.content


def test_presigned_url_tampered(s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"one")
    s3.put_object(Bucket=bucket, Key="two", Body=b"two")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "one"})
    r = requests.get(url.replace(f"/{bucket}/one?", f"/{bucket}/two?"), timeout=TIMEOUT)
    assert r.status_code == 403
    assert _error_code(r) == "SignatureDoesNotMatch"
    assert r.content != b"two"


def test_presigned_put_cannot_be_used_for_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"secret")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "secret"})
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 403
    assert r.content != b"secret"
