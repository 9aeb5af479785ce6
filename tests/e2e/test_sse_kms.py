"""SSE-KMS end to end: objects encrypted under KMS keys of the built-in KMS, the key's state
deciding whether they can be written and read, bucket default encryption, S3 Bucket Keys,
and copies that change encryption in every direction."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

from conftest import AwsCli, SealgateServer, make_client
from helpers import body_of, code_of, patterned, put_multipart, ssec, copy_source_ssec, status_of, files_containing, files_under
from kms_helpers import clock_mover, clocked_server, kms_client


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = SealgateServer(tmp_path_factory.mktemp("ssekms"), name="ssekms").start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def s3(srv):
    return make_client(srv.endpoint)


@pytest.fixture(scope="module")
def kms(srv):
    return kms_client(srv.endpoint)


@pytest.fixture
def key(kms):
    return kms.create_key(Description="sse-kms test")["KeyMetadata"]


def records(srv) -> list[dict]:
    out = []
    for path in sorted((srv.data_dir / "audit").glob("audit-*.log")):
        out += [json.loads(line) for line in path.read_text().splitlines()]
    return out


def kms_error(fn, code: str, status: int = 400) -> ClientError:
    with pytest.raises(ClientError) as e:
        fn()
    assert code_of(e.value) == code, e.value.response
    assert status_of(e.value) == status
    return e.value


def test_put_and_get_under_a_customer_key_by_every_kind_of_reference(s3, kms, key, make_bucket):
    bucket = make_bucket(s3)
    kms.create_alias(AliasName="alias/sse-refs", TargetKeyId=key["KeyId"])
    alias_arn = key["Arn"].replace(f"key/{key['KeyId']}", "alias/sse-refs")
    for i, ref in enumerate([key["KeyId"], key["Arn"], "alias/sse-refs", alias_arn]):
        data = patterned(100_000 + i, seed=i)
        put = s3.put_object(Bucket=bucket, Key=f"k{i}", Body=data, ServerSideEncryption="aws:kms",
                            SSEKMSKeyId=ref)
        assert put["ServerSideEncryption"] == "aws:kms"
        assert put["SSEKMSKeyId"] == key["Arn"], "responses name the key by its ARN"
        got = s3.get_object(Bucket=bucket, Key=f"k{i}")
        assert body_of(got) == data
        assert got["ServerSideEncryption"] == "aws:kms" and got["SSEKMSKeyId"] == key["Arn"]
        head = s3.head_object(Bucket=bucket, Key=f"k{i}")
        assert head["SSEKMSKeyId"] == key["Arn"]
    ranged = s3.get_object(Bucket=bucket, Key="k0", Range="bytes=70000-70009")
    assert body_of(ranged) == patterned(100_000, seed=0)[70000:70010]


def test_without_a_key_id_the_aws_managed_key_is_created_and_used(s3, kms, make_bucket):
    bucket = make_bucket(s3)
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"managed", ServerSideEncryption="aws:kms")
    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert put["SSEKMSKeyId"] == managed["Arn"]
    assert body_of(s3.get_object(Bucket=bucket, Key="k")) == b"managed"


def test_every_version_gets_its_own_data_key_bound_to_the_object(srv, s3, key, make_bucket):
    bucket = make_bucket(s3)
    before = len(records(srv))
    s3.put_object(Bucket=bucket, Key="a", Body=b"1", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    s3.put_object(Bucket=bucket, Key="a", Body=b"2", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    s3.get_object(Bucket=bucket, Key="a")["Body"].read()
    new = [r for r in records(srv)[before:] if r["key_arn"] == key["Arn"]]
    assert [r["operation"] for r in new] == ["GenerateDataKey", "GenerateDataKey", "Decrypt"]
    assert all(r["service"] == "s3" and r["result"] == "Success" for r in new)
    assert all(r["encryption_context"] == {"aws:s3:arn": f"arn:aws:s3:::{bucket}/a"} for r in new)


def test_the_callers_encryption_context_is_merged_and_reported(srv, s3, key, make_bucket):
    bucket = make_bucket(s3)
    ctx = base64.b64encode(json.dumps({"project": "apollo"}).encode()).decode()
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"ctx", ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=key["KeyId"], SSEKMSEncryptionContext=ctx)
    reported = json.loads(base64.b64decode(put["SSEKMSEncryptionContext"]))
    assert reported == {"project": "apollo", "aws:s3:arn": f"arn:aws:s3:::{bucket}/c"}
    assert body_of(s3.get_object(Bucket=bucket, Key="c")) == b"ctx"
    decrypts = [r for r in records(srv) if r["operation"] == "Decrypt" and r["key_arn"] == key["Arn"]]
    assert decrypts[-1]["encryption_context"] == reported
    bad = base64.b64encode(b'{"aws:s3:arn": "arn:aws:s3:::other/x"}').decode()
    kms_error(lambda: s3.put_object(Bucket=bucket, Key="d", Body=b"x", ServerSideEncryption="aws:kms",
                                    SSEKMSEncryptionContext=bad), "InvalidArgument")
    kms_error(lambda: s3.put_object(Bucket=bucket, Key="d", Body=b"x", ServerSideEncryption="aws:kms",
                                    SSEKMSEncryptionContext="not-base64-json"), "InvalidArgument")


def test_a_disabled_key_stops_reads_and_writes_until_enabled(s3, kms, key, make_bucket):
    bucket = make_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])
    kms.disable_key(KeyId=key["KeyId"])
    err = kms_error(lambda: s3.get_object(Bucket=bucket, Key="k"), "KMS.DisabledException")
    assert key["Arn"] in err.response["Error"]["Message"]
    kms_error(lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ServerSideEncryption="aws:kms",
                                    SSEKMSKeyId=key["KeyId"]), "KMS.DisabledException")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1, "the refused write stored nothing"
    # HEAD decrypts nothing, so it still answers, as on S3.
    assert s3.head_object(Bucket=bucket, Key="k")["SSEKMSKeyId"] == key["Arn"]
    kms.enable_key(KeyId=key["KeyId"])
    assert body_of(s3.get_object(Bucket=bucket, Key="k")) == b"data"


def test_a_key_pending_deletion_is_an_invalid_state_and_cancelling_restores_it(s3, kms, key, make_bucket):
    bucket = make_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    kms_error(lambda: s3.get_object(Bucket=bucket, Key="k"), "KMS.KMSInvalidStateException")
    kms_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                                    SSEKMSKeyId=key["KeyId"]), "KMS.KMSInvalidStateException")
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    kms.enable_key(KeyId=key["KeyId"])
    assert body_of(s3.get_object(Bucket=bucket, Key="k")) == b"data"


def test_an_unknown_key_is_refused_before_any_byte_is_stored(srv, s3, make_bucket):
    bucket = make_bucket(s3)
    blobs_before = len(files_under(srv.blob_dir))
    for ref in ["11111111-2222-3333-4444-555555555555", "alias/no-such-alias"]:
        kms_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 1000, ServerSideEncryption="aws:kms",
                                        SSEKMSKeyId=ref), "KMS.NotFoundException")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert len(files_under(srv.blob_dir)) == blobs_before


def test_dual_layer_is_refused_clearly(s3, make_bucket):
    bucket = make_bucket(s3)
    err = kms_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms:dsse"),
                    "NotImplemented", status=501)
    assert "dual-layer" in err.response["Error"]["Message"]


def test_multipart_uploads_under_a_kms_key(s3, key, make_bucket):
    bucket = make_bucket(s3)
    parts = [patterned(5 * 1024 * 1024, seed=1), patterned(1234, seed=2)]
    put_multipart(s3, bucket, "mp", parts,
                  create_args={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key["KeyId"]})
    head = s3.head_object(Bucket=bucket, Key="mp")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key["Arn"]
    assert body_of(s3.get_object(Bucket=bucket, Key="mp")) == b"".join(parts)
    assert body_of(s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)) == parts[1]


def test_bucket_default_encryption_with_a_kms_key(s3, kms, key, make_bucket):
    bucket = make_bucket(s3)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["KeyId"]},
    }]})
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["KeyId"]}
    put = s3.put_object(Bucket=bucket, Key="d", Body=b"default")
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == key["Arn"]
    # Headers still win over the default.
    assert s3.put_object(Bucket=bucket, Key="s", Body=b"s3", ServerSideEncryption="AES256")[
        "ServerSideEncryption"] == "AES256"
    s3.delete_bucket_encryption(Bucket=bucket)
    assert s3.put_object(Bucket=bucket, Key="e", Body=b"x")["ServerSideEncryption"] == "AES256"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse"}}]})
    assert code_of(e.value) == "NotImplemented"


def test_bucket_keys_cut_kms_calls_and_still_answer_to_the_key(srv, s3, kms, key, make_bucket):
    bucket = make_bucket(s3)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]},
        "BucketKeyEnabled": True,
    }]})
    before = len(records(srv))
    for i in range(20):
        put = s3.put_object(Bucket=bucket, Key=f"o{i}", Body=f"object {i}".encode())
        assert put["BucketKeyEnabled"] is True and put["SSEKMSKeyId"] == key["Arn"]
    for i in range(20):
        got = s3.get_object(Bucket=bucket, Key=f"o{i}")
        assert body_of(got) == f"object {i}".encode() and got["BucketKeyEnabled"] is True
    calls = [r for r in records(srv)[before:] if r["key_arn"] == key["Arn"]]
    assert [r["operation"] for r in calls] == ["GenerateDataKey"], "one bucket key serves 20 writes and reads"
    assert calls[0]["encryption_context"] == {"aws:s3:arn": f"arn:aws:s3:::{bucket}"}
    kms.disable_key(KeyId=key["KeyId"])
    kms_error(lambda: s3.get_object(Bucket=bucket, Key="o1"), "KMS.DisabledException")
    kms_error(lambda: s3.put_object(Bucket=bucket, Key="o99", Body=b"x"), "KMS.DisabledException")
    kms.enable_key(KeyId=key["KeyId"])
    assert body_of(s3.get_object(Bucket=bucket, Key="o1")) == b"object 1"
    # A per-request header can turn the bucket key off for one object.
    put = s3.put_object(Bucket=bucket, Key="own", Body=b"own", BucketKeyEnabled=False)
    assert not put.get("BucketKeyEnabled")


def test_a_rotated_key_gets_a_fresh_bucket_key_and_old_objects_stay_readable(srv, s3, kms, key, make_bucket):
    bucket = make_bucket(s3)
    args = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key["Arn"], "BucketKeyEnabled": True}
    s3.put_object(Bucket=bucket, Key="before", Body=b"before", **args)
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    before = len(records(srv))
    s3.put_object(Bucket=bucket, Key="after", Body=b"after", **args)
    assert [r["operation"] for r in records(srv)[before:]] == ["GenerateDataKey"]
    assert body_of(s3.get_object(Bucket=bucket, Key="before")) == b"before"
    assert body_of(s3.get_object(Bucket=bucket, Key="after")) == b"after"


COPY_MODES = {
    "sse-s3": ({"ServerSideEncryption": "AES256"}, "AES256"),
    "sse-kms": ({"ServerSideEncryption": "aws:kms"}, "aws:kms"),
    "sse-c": ("ssec", None),
}
KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


@pytest.fixture(scope="module")
def tls_srv(tmp_path_factory):
    s = SealgateServer(tmp_path_factory.mktemp("ssekms-tls"), name="ssekms-tls", tls=True).start()
    yield s
    s.stop()


@pytest.mark.parametrize("src", list(COPY_MODES))
@pytest.mark.parametrize("dst", list(COPY_MODES))
def test_copy_changes_encryption_in_every_direction(tls_srv, src, dst):
    s3 = make_client(tls_srv.endpoint, verify=False)
    kms = kms_client(tls_srv.endpoint, verify=False)
    key = kms.create_key()["KeyMetadata"]
    bucket = f"copy-{src}-{dst}".replace("sse-", "")
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError:
        pass

    def write_args(mode, customer_key):
        args, _ = COPY_MODES[mode]
        if args == "ssec":
            return ssec(customer_key)
        out = dict(args)
        if mode == "sse-kms":
            out["SSEKMSKeyId"] = key["KeyId"]
        return out

    data = patterned(300_000, seed=7)
    s3.put_object(Bucket=bucket, Key="src", Body=data, **write_args(src, KEY_A))
    copy_args = write_args(dst, KEY_B)
    if src == "sse-c":
        copy_args.update(copy_source_ssec(KEY_A))
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, **copy_args)
    read_args = ssec(KEY_B) if dst == "sse-c" else {}
    got = s3.get_object(Bucket=bucket, Key="dst", **read_args)
    assert body_of(got) == data
    if dst == "sse-kms":
        assert out["SSEKMSKeyId"] == key["Arn"] and got["SSEKMSKeyId"] == key["Arn"]
    elif dst == "sse-s3":
        assert got["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in got
    else:
        assert got["SSECustomerAlgorithm"] == "AES256" and "ServerSideEncryption" not in got


def test_self_copy_under_the_same_kms_key_re_encrypts_with_a_fresh_data_key(srv, s3, key, make_bucket):
    bucket = make_bucket(s3)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    args = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key["KeyId"]}
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"same key", **args)["VersionId"]
    before = len(records(srv))
    v2 = s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"}, **args)["VersionId"]
    assert v1 != v2
    ops = [r["operation"] for r in records(srv)[before:]]
    assert ops == ["Decrypt", "GenerateDataKey"], "the copy opened the old data key and made a new one"
    assert body_of(s3.get_object(Bucket=bucket, Key="k", VersionId=v1)) == b"same key"
    assert body_of(s3.get_object(Bucket=bucket, Key="k", VersionId=v2)) == b"same key"


def test_upload_part_copy_from_a_kms_object_into_an_sse_s3_upload(s3, key, make_bucket):
    bucket = make_bucket(s3)
    data = patterned(6 * 1024 * 1024, seed=3)
    s3.put_object(Bucket=bucket, Key="src", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"})
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}]})
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["ServerSideEncryption"] == "AES256" and body_of(got) == data


def test_the_aws_cli_writes_and_reads_sse_kms(srv, kms, key, make_bucket, s3, tmp_path):
    bucket = make_bucket(s3)
    kms.create_alias(AliasName="alias/cli-sse", TargetKeyId=key["KeyId"])
    src = tmp_path / "in.bin"
    src.write_bytes(patterned(200_000, seed=9))
    aws = AwsCli(srv)
    aws("s3", "cp", src, f"s3://{bucket}/cli.bin", "--sse", "aws:kms", "--sse-kms-key-id", "alias/cli-sse")
    head = aws.json("s3api", "head-object", "--bucket", bucket, "--key", "cli.bin")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key["Arn"]
    aws("s3", "cp", f"s3://{bucket}/cli.bin", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()


def test_after_the_deletion_window_objects_are_unreadable_for_good(tmp_path):
    srv = clocked_server(tmp_path, "shred")
    try:
        s3 = make_client(srv.endpoint)
        kms = kms_client(srv.endpoint)
        key = kms.create_key()["KeyMetadata"]
        s3.create_bucket(Bucket="shred")
        s3.put_object(Bucket="shred", Key="k", Body=b"secret", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=key["KeyId"])
        s3.put_object(Bucket="shred", Key="bk", Body=b"secret", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=key["KeyId"], BucketKeyEnabled=True)
        assert body_of(s3.get_object(Bucket="shred", Key="bk")) == b"secret"
        kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
        with clock_mover(srv) as move:
            move(7.1)
            for k in ["k", "bk"]:
                kms_error(lambda: s3.get_object(Bucket="shred", Key=k), "KMS.NotFoundException")
            srv.restart()
            s3 = make_client(srv.endpoint)
            for k in ["k", "bk"]:
                kms_error(lambda: s3.get_object(Bucket="shred", Key=k), "KMS.NotFoundException")
    finally:
        srv.stop()


def test_no_plaintext_or_data_key_reaches_the_data_directory(srv, s3, key, make_bucket):
    bucket = make_bucket(s3)
    marker = b"KMS-PLAINTEXT-MARKER-" * 100
    s3.put_object(Bucket=bucket, Key="m", Body=marker, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])
    s3.put_object(Bucket=bucket, Key="mb", Body=marker, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"],
                  BucketKeyEnabled=True)
    assert files_containing(srv.data_dir, b"KMS-PLAINTEXT-MARKER") == []
