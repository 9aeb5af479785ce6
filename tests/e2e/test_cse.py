"""Client-side encryption: `sealgate cse put|get` against the gateway and its KMS, in both
directions with the official AWS S3 Encryption Client for Python (amazon-s3-encryption-client-python
4.0.0 from PyPI). The gateway sees only ciphertext and stores it under its own SSE on top."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.exceptions import S3EncryptionClientError
from s3_encryption.materials.kms_keyring import KmsKeyring
from s3_encryption.materials.materials import AlgorithmSuite, CommitmentPolicy

from conftest import SEALGATE_BIN, SealgateServer
from helpers import ACCESS_KEY, MiB, REGION, SECRET_KEY, files_containing, patterned, random_file, sha256_file
from kms_helpers import kms_client

V3_KEYS = {"x-amz-3", "x-amz-c", "x-amz-d", "x-amz-i", "x-amz-t", "x-amz-w"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = SealgateServer(tmp_path_factory.mktemp("cse"), name="cse").start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def s3(srv):
    return srv.client()


@pytest.fixture(scope="module")
def kms(srv):
    return kms_client(srv.endpoint)


@pytest.fixture(scope="module")
def key(kms):
    return kms.create_key(Description="client-side encryption")["KeyMetadata"]


@pytest.fixture
def bucket(s3, make_bucket):
    return make_bucket(s3)


def official(srv, key_id: str, *, v2: bool = False, legacy: bool = False) -> S3EncryptionClient:
    """The official client; v2=True writes the V2 format, legacy=True reads the legacy modes.
    It hooks into the boto3 client it wraps, so each one wraps fresh clients of its own."""
    config = {}
    if v2:
        config = dict(encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
                      commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    if legacy:
        config = dict(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT,
                      enable_legacy_unauthenticated_modes=True)
    keyring = KmsKeyring(kms_client=kms_client(srv.endpoint), kms_key_id=key_id,
                         enable_legacy_wrapping_algorithms=legacy)
    return S3EncryptionClient(wrapped_s3_client=srv.client(), config=S3EncryptionClientConfig(keyring=keyring, **config))


def cse(srv, *args, env: dict | None = None, endpoint: bool = True) -> subprocess.CompletedProcess:
    """Runs `sealgate cse ...` with the root user's keys in the environment, as the aws CLI takes them."""
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run_env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION=REGION)
    run_env.update(env or {})
    cmd = [str(SEALGATE_BIN), "cse", *map(str, args)]
    if endpoint:
        cmd += ["--endpoint-url", srv.endpoint]
    return subprocess.run(cmd, capture_output=True, text=True, env=run_env, timeout=300)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr
    return proc


def refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode != 0, proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr
    return proc.stderr


def context_args(context: dict) -> list[str]:
    return [a for k, v in context.items() for a in ("--context", f"{k}={v}")]


def raw_object(s3, bucket: str, key: str) -> tuple[bytes, dict]:
    o = s3.get_object(Bucket=bucket, Key=key)
    return o["Body"].read(), o["Metadata"]


# ------------------------------------------------------------------ both directions


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1 * MiB + 3])
def test_official_client_writes_what_sealgate_cse_reads(srv, s3, kms, key, bucket, tmp_path, size):
    data = patterned(size, seed=size)
    context = {"tenant": "t1", "purpose": "interop"}
    official(srv, key["KeyId"]).put_object(Bucket=bucket, Key="from-official", Body=data,
                                               EncryptionContext=context)
    out = tmp_path / "plain"
    proc = ok(cse(srv, "get", f"s3://{bucket}/from-official", out, *context_args(context)))
    assert out.read_bytes() == data
    assert "v3" in proc.stderr


@pytest.mark.parametrize("size", [0, 1, 16, 1 * MiB + 3])
def test_sealgate_cse_writes_what_the_official_client_reads(srv, s3, kms, key, bucket, tmp_path, size):
    data = patterned(size, seed=100 + size)
    src = tmp_path / "in"
    src.write_bytes(data)
    context = {"tenant": "t2"}
    ok(cse(srv, "put", src, f"s3://{bucket}/from-cse", "--kms-key-id", key["Arn"], *context_args(context)))
    got = official(srv, key["Arn"]).get_object(Bucket=bucket, Key="from-cse", EncryptionContext=context)
    assert got["Body"].read() == data

    # The server holds the V3 envelope byte-exact and a body of ciphertext + tag.
    body, meta = raw_object(s3, bucket, "from-cse")
    assert set(meta) == V3_KEYS
    assert meta["x-amz-c"] == "115" and meta["x-amz-w"] == "12"
    assert json.loads(meta["x-amz-t"]) == {**context, "aws:x-amz-cek-alg": "115"}
    assert len(base64.b64decode(meta["x-amz-i"])) == 28 and len(base64.b64decode(meta["x-amz-d"])) == 28
    assert len(body) == size + 16
    if size >= 16:
        assert data[:16] not in body


def test_every_key_reference_works_and_each_object_has_its_own_data_key(srv, s3, kms, key, bucket, tmp_path):
    kms.create_alias(AliasName="alias/cse-refs", TargetKeyId=key["KeyId"])
    alias_arn = key["Arn"].replace(f"key/{key['KeyId']}", "alias/cse-refs")
    src = tmp_path / "in"
    src.write_bytes(b"same plaintext every time")
    blobs = set()
    for i, ref in enumerate([key["KeyId"], key["Arn"], "alias/cse-refs", alias_arn]):
        ok(cse(srv, "put", src, f"s3://{bucket}/ref-{i}", "--kms-key-id", ref))
        body, meta = raw_object(s3, bucket, f"ref-{i}")
        blobs.add((body, meta["x-amz-3"], meta["x-amz-i"]))
        out = tmp_path / f"out-{i}"
        ok(cse(srv, "get", f"s3://{bucket}/ref-{i}", out, "--kms-key-id", ref))
        assert out.read_bytes() == src.read_bytes()
    assert len(blobs) == 4


def test_v2_objects_of_the_official_client_are_read(srv, s3, kms, key, bucket, tmp_path):
    data = patterned(70_000, seed=2)
    official(srv, key["KeyId"], v2=True).put_object(Bucket=bucket, Key="v2", Body=data,
                                                        EncryptionContext={"team": "blue"})
    _, meta = raw_object(s3, bucket, "v2")
    assert meta["x-amz-cek-alg"] == "AES/GCM/NoPadding" and meta["x-amz-wrap-alg"] == "kms+context"
    out = tmp_path / "v2"
    proc = ok(cse(srv, "get", f"s3://{bucket}/v2", out, "--context", "team=blue"))
    assert out.read_bytes() == data and "v2" in proc.stderr
    refused(cse(srv, "get", f"s3://{bucket}/v2", tmp_path / "x", "--context", "team=red"), "encryption context")


# ------------------------------------------------------------------ refusals


def test_a_wrong_or_missing_encryption_context_is_refused_and_leaves_no_file(srv, s3, kms, key, bucket, tmp_path):
    src = tmp_path / "in"
    src.write_bytes(b"contextual")
    ok(cse(srv, "put", src, f"s3://{bucket}/ctx", "--kms-key-id", key["KeyId"], "--context", "a=1"))
    for args in ([], ["--context", "a=2"], ["--context", "a=1", "--context", "b=2"]):
        out = tmp_path / "out"
        refused(cse(srv, "get", f"s3://{bucket}/ctx", out, *args), "encryption context")
        assert not out.exists()
    refused(cse(srv, "get", f"s3://{bucket}/ctx", tmp_path / "out", "--context", "aws:x-amz-cek-alg=115"),
            "reserved")
    refused(cse(srv, "put", src, f"s3://{bucket}/ctx2", "--kms-key-id", key["KeyId"],
                "--context", "aws:x-amz-cek-alg=115"), "reserved")
    with pytest.raises(S3EncryptionClientError):
        official(srv, key["KeyId"]).get_object(Bucket=bucket, Key="ctx", EncryptionContext={"a": "2"})
    assert not [p for p in tmp_path.iterdir() if "sealgate-part" in p.name]


def test_tampered_objects_are_refused(srv, s3, kms, key, bucket, tmp_path):
    data = patterned(200_000, seed=3)
    src = tmp_path / "in"
    src.write_bytes(data)
    ok(cse(srv, "put", src, f"s3://{bucket}/orig", "--kms-key-id", key["KeyId"]))
    body, meta = raw_object(s3, bucket, "orig")
    ec = official(srv, key["KeyId"])

    def planted(name: str, body: bytes, meta: dict) -> str:
        s3.put_object(Bucket=bucket, Key=name, Body=body, Metadata=meta)
        return f"s3://{bucket}/{name}"

    flipped = bytearray(body)
    flipped[123_456] ^= 0x01
    url = planted("flipped", bytes(flipped), meta)
    out = tmp_path / "out"
    refused(cse(srv, "get", url, out), "authentication failed")
    assert not out.exists()
    with pytest.raises(S3EncryptionClientError):
        ec.get_object(Bucket=bucket, Key="flipped")["Body"].read()

    refused(cse(srv, "get", planted("truncated", body[:-1], meta), out), "authentication failed")
    assert not out.exists()

    # Another object's commitment: caught before any byte is decrypted.
    other = dict(meta, **{"x-amz-d": base64.b64encode(os.urandom(28)).decode()})
    refused(cse(srv, "get", planted("commitment", body, other), out), "key commitment")

    # A changed stored context no longer opens the data key in KMS.
    ctx = dict(meta, **{"x-amz-t": json.dumps({"aws:x-amz-cek-alg": "115", "x": "y"})})
    refused(cse(srv, "get", planted("context", body, ctx), out, "--context", "x=y"), "InvalidCiphertextException")

    # V2 content keys beside a V3 envelope would allow a downgrade.
    downgrade = dict(meta, **{"x-amz-cek-alg": "AES/GCM/NoPadding", "x-amz-key-v2": meta["x-amz-3"]})
    refused(cse(srv, "get", planted("downgrade", body, downgrade), out), "invalid envelope")
    assert not out.exists()


def test_a_plain_get_returns_ciphertext_and_the_disk_holds_no_plaintext(srv, s3, key, bucket, tmp_path):
    marker = b"PLAINTEXT-MARKER-" * 4096
    src = tmp_path / "in"
    src.write_bytes(marker)
    ok(cse(srv, "put", src, f"s3://{bucket}/secret", "--kms-key-id", key["KeyId"]))
    body, _ = raw_object(s3, bucket, "secret")
    assert b"PLAINTEXT-MARKER" not in body
    head = s3.head_object(Bucket=bucket, Key="secret")
    assert head["ContentLength"] == len(marker) + 16
    # The gateway's own encryption is on top of the client's.
    assert head["ServerSideEncryption"] == "AES256"
    assert files_containing(srv.data_dir, b"PLAINTEXT-MARKER") == []


def test_errors_say_what_went_wrong(srv, s3, kms, key, bucket, tmp_path):
    src = tmp_path / "in"
    src.write_bytes(b"x")
    refused(cse(srv, "get", f"s3://{bucket}/missing", tmp_path / "o"), "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"not encrypted by a client")
    refused(cse(srv, "get", f"s3://{bucket}/plain", tmp_path / "o"), "not an S3 Encryption Client object")
    refused(cse(srv, "put", src, f"s3://{bucket}/k", "--kms-key-id", "alias/does-not-exist"), "NotFoundException")
    refused(cse(srv, "put", src, f"s3://no-such-bucket-cse/k", "--kms-key-id", key["KeyId"]), "NoSuchBucket")
    refused(cse(srv, "put", tmp_path / "absent", f"s3://{bucket}/k", "--kms-key-id", key["KeyId"]), "absent")
    refused(cse(srv, "put", src, f"{bucket}/k", "--kms-key-id", key["KeyId"]), "s3://BUCKET/KEY")
    other = kms.create_key()["KeyMetadata"]
    ok(cse(srv, "put", src, f"s3://{bucket}/k", "--kms-key-id", key["KeyId"]))
    refused(cse(srv, "get", f"s3://{bucket}/k", tmp_path / "o", "--kms-key-id", other["KeyId"]),
            "IncorrectKeyException")
    kms.disable_key(KeyId=key["KeyId"])
    try:
        refused(cse(srv, "get", f"s3://{bucket}/k", tmp_path / "o"), "DisabledException")
    finally:
        kms.enable_key(KeyId=key["KeyId"])
    refused(cse(srv, "get", f"s3://{bucket}/k", tmp_path / "o",
                env={"AWS_SECRET_ACCESS_KEY": "wrong-secret"}), "SignatureDoesNotMatch")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ metadata, instruction files, legacy


def test_non_ascii_context_travels_rfc2047_encoded(srv, s3, kms, key, bucket, tmp_path):
    src = tmp_path / "in"
    src.write_bytes(b"gr\xc3\xbc\xc3\x9fe")
    context = {"name": "Müller–Ωμέγα", "city": "東京"}
    ok(cse(srv, "put", src, f"s3://{bucket}/utf8", "--kms-key-id", key["KeyId"], *context_args(context)))
    # As S3 does, the gateway returns non-ASCII metadata as RFC 2047 encoded words.
    raw = s3.head_object(Bucket=bucket, Key="utf8")["ResponseMetadata"]["HTTPHeaders"]["x-amz-meta-x-amz-t"]
    assert raw.startswith("=?UTF-8?B?") and raw.isascii()
    out = tmp_path / "out"
    ok(cse(srv, "get", f"s3://{bucket}/utf8", out, *context_args(context)))
    assert out.read_bytes() == src.read_bytes()
    refused(cse(srv, "get", f"s3://{bucket}/utf8", out, "--context", "name=Muller", "--context", "city=東京"),
            "encryption context")


def test_instruction_files_are_read(srv, s3, kms, key, bucket, tmp_path):
    data = patterned(5000, seed=5)
    ec = official(srv, key["KeyId"])
    ec.put_object(Bucket=bucket, Key="split", Body=data, EncryptionContext={"t": "1"})
    body, meta = raw_object(s3, bucket, "split")
    # V3: the content keys stay with the object, the key-wrapping half moves out.
    in_object = {k: meta[k] for k in ("x-amz-c", "x-amz-d", "x-amz-i")}
    in_file = {k: meta[k] for k in ("x-amz-3", "x-amz-w", "x-amz-t")}
    s3.put_object(Bucket=bucket, Key="split", Body=body, Metadata=in_object)
    s3.put_object(Bucket=bucket, Key="split.instruction", Body=json.dumps(in_file).encode(),
                  Metadata={"x-amz-crypto-instr-file": ""})
    out = tmp_path / "v3"
    ok(cse(srv, "get", f"s3://{bucket}/split", out, "--context", "t=1"))
    assert out.read_bytes() == data
    assert ec.get_object(Bucket=bucket, Key="split", EncryptionContext={"t": "1"})["Body"].read() == data

    # V2: the whole envelope in the instruction file.
    official(srv, key["KeyId"], v2=True).put_object(Bucket=bucket, Key="v2split", Body=data)
    body, meta = raw_object(s3, bucket, "v2split")
    s3.put_object(Bucket=bucket, Key="v2split", Body=body)
    s3.put_object(Bucket=bucket, Key="v2split.instruction", Body=json.dumps(meta).encode())
    ok(cse(srv, "get", f"s3://{bucket}/v2split", out))
    assert out.read_bytes() == data

    # An instruction file may not override the object's V3 content keys.
    s3.put_object(Bucket=bucket, Key="split.instruction",
                  Body=json.dumps({**in_file, "x-amz-d": meta.get("x-amz-d", "AAAA")}).encode())
    refused(cse(srv, "get", f"s3://{bucket}/split", tmp_path / "bad", "--context", "t=1"), "instruction file")
    s3.delete_object(Bucket=bucket, Key="split.instruction")
    refused(cse(srv, "get", f"s3://{bucket}/split", tmp_path / "bad"), "not an S3 Encryption Client object")


def legacy_object(s3, kms, key, bucket: str, name: str, data: bytes, cbc: bool) -> None:
    """An object as S3 Encryption Client v1 wrote it with KMS (`kms` wrapping, context
    {"kms_cmk_id": key}), built independently with KMS and `cryptography`."""
    matdesc = {"kms_cmk_id": key["Arn"]}
    dk = kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext=matdesc)
    if cbc:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(dk["Plaintext"]), modes.CBC(iv)).encryptor()
        body = enc.update(padder.update(data) + padder.finalize()) + enc.finalize()
        alg = "AES/CBC/PKCS5Padding"
    else:
        iv = os.urandom(12)
        body = AESGCM(dk["Plaintext"]).encrypt(iv, data, None)
        alg = "AES/GCM/NoPadding"
    meta = {"x-amz-key-v2": base64.b64encode(dk["CiphertextBlob"]).decode(),
            "x-amz-iv": base64.b64encode(iv).decode(), "x-amz-cek-alg": alg, "x-amz-wrap-alg": "kms",
            "x-amz-matdesc": json.dumps(matdesc)}
    if not cbc:
        meta["x-amz-tag-len"] = "128"
    s3.put_object(Bucket=bucket, Key=name, Body=body, Metadata=meta)


@pytest.mark.parametrize("cbc", [False, True], ids=["gcm-kms-wrap", "cbc"])
def test_legacy_modes_are_read_only_when_asked_for(srv, s3, kms, key, bucket, tmp_path, cbc):
    data = patterned(40_001, seed=6)
    legacy_object(s3, kms, key, bucket, "legacy", data, cbc)
    # The official client, with its legacy switches on, reads the object built here.
    got = official(srv, key["Arn"], legacy=True).get_object(Bucket=bucket, Key="legacy")
    assert got["Body"].read() == data

    out = tmp_path / "out"
    refused(cse(srv, "get", f"s3://{bucket}/legacy", out), "--enable-legacy-wrapping")
    assert not out.exists()
    flags = ["--enable-legacy-wrapping"]
    if cbc:
        refused(cse(srv, "get", f"s3://{bucket}/legacy", out, *flags), "--enable-legacy-unauthenticated-modes")
        flags.append("--enable-legacy-unauthenticated-modes")
    ok(cse(srv, "get", f"s3://{bucket}/legacy", out, *flags))
    assert out.read_bytes() == data
    if cbc:
        # Nothing authenticates CBC; a broken final block still fails its padding check.
        body, meta = raw_object(s3, bucket, "legacy")
        s3.put_object(Bucket=bucket, Key="legacy", Body=body[:-16] + bytes(16), Metadata=meta)
        refused(cse(srv, "get", f"s3://{bucket}/legacy", tmp_path / "bad", *flags), "padding")


# ------------------------------------------------------------------ credentials, endpoints, size


def test_credentials_and_region_from_profile_files(srv, s3, key, bucket, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text(f"[other]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n")
    config = tmp_path / "config"
    config.write_text(f"[profile other]\nregion = {REGION}\n")
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_REGION": "", "AWS_PROFILE": "other",
           "AWS_SHARED_CREDENTIALS_FILE": str(creds), "AWS_CONFIG_FILE": str(config),
           "AWS_ENDPOINT_URL": srv.endpoint}
    src = tmp_path / "in"
    src.write_bytes(b"profile")
    ok(cse(srv, "put", src, f"s3://{bucket}/p", "--kms-key-id", key["KeyId"], env=env, endpoint=False))
    ok(cse(srv, "get", f"s3://{bucket}/p", tmp_path / "out", env=env, endpoint=False))
    assert (tmp_path / "out").read_bytes() == b"profile"
    refused(cse(srv, "get", f"s3://{bucket}/p", tmp_path / "o", env={**env, "AWS_PROFILE": "nobody"},
                endpoint=False), "no credentials")


def test_kms_on_its_own_endpoint(srv, s3, kms, key, bucket, tmp_path):
    """--kms-endpoint-url splits KMS from S3: here KMS is a second gateway with its own keys."""
    kms_srv = SealgateServer(tmp_path / "kms-region", name="cse-kms").start()
    try:
        remote_key = kms_client(kms_srv.endpoint).create_key()["KeyMetadata"]
        src = tmp_path / "in"
        src.write_bytes(b"split endpoints")
        split = ["--kms-endpoint-url", kms_srv.endpoint]
        ok(cse(srv, "put", src, f"s3://{bucket}/split-kms", "--kms-key-id", remote_key["Arn"], *split))
        ok(cse(srv, "get", f"s3://{bucket}/split-kms", tmp_path / "out", *split))
        assert (tmp_path / "out").read_bytes() == b"split endpoints"
        # The S3 side's own KMS has no such key.
        refused(cse(srv, "get", f"s3://{bucket}/split-kms", tmp_path / "o"), "KMS Decrypt")
    finally:
        kms_srv.stop()


def test_a_large_file_streams_in_bounded_memory(srv, s3, kms, key, bucket, tmp_path):
    """256 MiB: past the 64 MiB part size, so it goes up as a multipart upload of one GCM stream."""
    size = 256 * MiB + 5
    src = tmp_path / "big"
    digest = random_file(src, size)
    # A fresh Python whose only child is the command reports that command's peak RSS.
    measure = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)")

    def peak_kib(*args) -> int:
        wrapped = subprocess.run([sys.executable, "-c", measure, str(SEALGATE_BIN), "cse", *map(str, args),
                                  "--endpoint-url", srv.endpoint], capture_output=True, text=True,
                                 env={**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                                      "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION}, timeout=300)
        assert wrapped.returncode == 0, wrapped.stderr
        return int(wrapped.stdout.split()[-1])

    put_kib = peak_kib("put", src, f"s3://{bucket}/big", "--kms-key-id", key["KeyId"])
    out = tmp_path / "big.out"
    get_kib = peak_kib("get", f"s3://{bucket}/big", out)
    assert sha256_file(out) == digest
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == size + 16
    assert put_kib < 64 * 1024 and get_kib < 64 * 1024, (put_kib, get_kib)
    assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 0
    got = official(srv, key["KeyId"]).get_object(Bucket=bucket, Key="big")["Body"].read()
    assert hashlib.sha256(got).hexdigest() == digest


def test_over_tls_to_a_self_signed_gateway(tls_server, make_bucket, tmp_path):
    s3 = tls_server.client()
    bucket = make_bucket(s3)
    key = kms_client(tls_server.endpoint, verify=False).create_key()["KeyMetadata"]
    src = tmp_path / "in"
    src.write_bytes(b"over tls")
    url = f"s3://{bucket}/tls"
    refused(cse(tls_server, "put", src, url, "--kms-key-id", key["KeyId"]), "--insecure")
    ok(cse(tls_server, "put", src, url, "--kms-key-id", key["KeyId"], "--insecure"))
    ok(cse(tls_server, "get", url, tmp_path / "out", "--insecure"))
    assert (tmp_path / "out").read_bytes() == b"over tls"
