"""Virtual-hosted-style addressing (`[s3] domains`): boto3 with addressing_style="virtual"
names the bucket in the host, `BUCKET.s3.sealgate.test` resolved to 127.0.0.1 inside the
test; SigV4 headers and presigned URLs work in both styles, path style keeps working."""

from __future__ import annotations

import socket

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import SealgateServer, make_client
from helpers import ACCESS_KEY, MiB, SECRET_KEY, body_of, unique_bucket

DOMAIN = "s3.sealgate.test"


@pytest.fixture(scope="module")
def vhost(tmp_path_factory):
    srv = SealgateServer(tmp_path_factory.mktemp("vhost"), name="vhost",
                         config=f'[s3]\ndomains = ["{DOMAIN}"]\n').start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def resolve_the_domain_to_loopback(monkeypatch):
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and (host == DOMAIN or host.endswith("." + DOMAIN)):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def virtual(srv):
    import boto3
    return boto3.client("s3", endpoint_url=f"http://{DOMAIN}:{srv.port}", region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=Config(s3={"addressing_style": "virtual"}, signature_version="s3v4",
                                      retries={"max_attempts": 1}))


def test_buckets_and_objects_through_virtual_hosts(vhost):
    vs3, ps3 = virtual(vhost), make_client(vhost.endpoint)
    b = unique_bucket("vh")
    vs3.create_bucket(Bucket=b)
    vs3.put_object(Bucket=b, Key="dir/k.txt", Body=b"hello", Metadata={"m": "1"})
    got = vs3.get_object(Bucket=b, Key="dir/k.txt")
    assert (body_of(got), got["Metadata"]) == (b"hello", {"m": "1"})
    assert [o["Key"] for o in vs3.list_objects_v2(Bucket=b)["Contents"]] == ["dir/k.txt"]
    assert vs3.get_bucket_location(Bucket=b)["LocationConstraint"] in (None, "")
    vs3.copy_object(Bucket=b, Key="copy.txt", CopySource={"Bucket": b, "Key": "dir/k.txt"})
    # The same bucket, path style, on the same gateway.
    assert body_of(ps3.get_object(Bucket=b, Key="copy.txt")) == b"hello"
    deleted = vs3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "copy.txt"}, {"Key": "dir/k.txt"}]})
    assert len(deleted["Deleted"]) == 2
    vs3.delete_bucket(Bucket=b)
    with pytest.raises(ClientError) as e:
        ps3.head_bucket(Bucket=b)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_multipart_and_sse_kms_through_virtual_hosts(vhost, tmp_path):
    vs3 = virtual(vhost)
    b = unique_bucket("vhmp")
    vs3.create_bucket(Bucket=b)
    data = bytes(range(256)) * (40 * 1024 * 4)  # 40 MiB
    path = tmp_path / "big"
    path.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    vs3.upload_file(str(path), b, "big", Config=cfg, ExtraArgs={"ServerSideEncryption": "aws:kms"})
    head = vs3.head_object(Bucket=b, Key="big")
    assert (head["ContentLength"], head["ServerSideEncryption"]) == (len(data), "aws:kms")
    assert head["ETag"].endswith('-5"')
    assert body_of(vs3.get_object(Bucket=b, Key="big", Range="bytes=8388600-8388615")) == data[8388600:8388616]


def test_presigned_urls_in_both_styles(vhost):
    vs3, ps3 = virtual(vhost), make_client(vhost.endpoint)
    b = unique_bucket("vhps")
    vs3.create_bucket(Bucket=b)
    put = vs3.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "p.txt"})
    assert put.startswith(f"http://{b}.{DOMAIN}:{vhost.port}/p.txt?")
    assert requests.put(put, data=b"presigned", timeout=10).status_code == 200
    get = vs3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "p.txt"})
    r = requests.get(get, timeout=10)
    assert (r.status_code, r.content) == (200, b"presigned")
    path_get = ps3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "p.txt"})
    assert requests.get(path_get, timeout=10).content == b"presigned"
    # A URL signed for one bucket's host does not open another's object.
    other = unique_bucket("vhps")
    vs3.create_bucket(Bucket=other)
    vs3.put_object(Bucket=other, Key="p.txt", Body=b"other")
    forged = get.replace(f"http://{b}.", f"http://{other}.", 1)
    r = requests.get(forged, timeout=10)
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text
    # A presigned POST form to the bucket's host.
    form = vs3.generate_presigned_post(b, "form.txt")
    assert form["url"].startswith(f"http://{b}.{DOMAIN}:{vhost.port}")
    r = requests.post(form["url"], data=form["fields"], files={"file": ("f", b"by form")}, timeout=10)
    assert r.status_code == 204, r.text
    assert body_of(ps3.get_object(Bucket=b, Key="form.txt")) == b"by form"


def test_hosts_outside_the_domains_are_path_style(vhost):
    ps3 = make_client(vhost.endpoint)
    b = unique_bucket("vhpath")
    ps3.create_bucket(Bucket=b)
    ps3.put_object(Bucket=b, Key="k", Body=b"v")
    # The bare domain is path style too.
    bare = requests.get(f"http://{DOMAIN}:{vhost.port}/{b}/k", timeout=10)
    assert bare.status_code == 403  # unsigned: the bucket and key were found, access denied
    unsigned_missing = requests.get(f"http://{DOMAIN}:{vhost.port}/{unique_bucket('none')}/k", timeout=10)
    assert unsigned_missing.status_code in (403, 404)
    # CORS finds the bucket in the host as well.
    vs3 = virtual(vhost)
    vs3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"]}]})
    r = requests.options(f"http://{b}.{DOMAIN}:{vhost.port}/k",
                         headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
                         timeout=10)
    assert (r.status_code, r.headers["Access-Control-Allow-Origin"]) == (200, "https://app.example")
