"""Client-side encryption: the official AWS S3 Encryption Client for Python and `sealgate cse`
share objects, both taking their data keys from sealgate's KMS.

Each side encrypts before upload (format v3: AES-256-GCM with key commitment, a data key
per object wrapped by a KMS key), so the gateway only ever holds ciphertext; what one
writes the other reads.

    pip install boto3 amazon-s3-encryption-client-python==4.0.0
    SEALGATE_ENDPOINT=http://127.0.0.1:8014 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
        AWS_DEFAULT_REGION=us-east-1 SEALGATE_BIN=target/release/sealgate \
        python3 examples/s3ec_official_client.py

SEALGATE_BIN defaults to `sealgate` on the PATH. Exits non-zero if anything is not as described.
"""

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import boto3
from botocore.config import Config
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials.kms_keyring import KmsKeyring

endpoint = os.environ.get("SEALGATE_ENDPOINT", "http://127.0.0.1:8014")
sealgate = os.environ.get("SEALGATE_BIN", "sealgate")


def s3_client():
    return boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))


def check(ok: bool, what: str) -> None:
    if not ok:
        sys.exit(f"FAILED: {what}")


def cse(*args) -> None:
    """`sealgate cse`, which takes credentials and region from the environment as the aws CLI does."""
    proc = subprocess.run([sealgate, "cse", *args, "--endpoint-url", endpoint], capture_output=True, text=True)
    check(proc.returncode == 0, f"sealgate cse {args[0]}: {proc.stderr.strip()}")


# The KMS is sealgate's, on the same endpoint as S3.
kms = boto3.client("kms", endpoint_url=endpoint)
key_arn = kms.create_key(Description="sealgate example: client-side encryption")["KeyMetadata"]["Arn"]
# The official client hooks into the boto3 client it wraps: give it one of its own.
official = S3EncryptionClient(
    wrapped_s3_client=s3_client(),
    config=S3EncryptionClientConfig(keyring=KmsKeyring(kms_client=kms, kms_key_id=key_arn)))
plain = s3_client()

bucket = f"example-cse-{uuid.uuid4().hex[:12]}"
plain.create_bucket(Bucket=bucket)
# The encryption context is bound to the data key: a reader must state the same one.
context = {"dept": "finance"}
ledger = b"date,amount\n2026-01-02,-42.00\n2026-01-03,1337.00\n"

with tempfile.TemporaryDirectory() as tmp:
    # The official client writes; `sealgate cse get` reads.
    official.put_object(Bucket=bucket, Key="from-s3ec.csv", Body=ledger, EncryptionContext=context)
    stored = plain.get_object(Bucket=bucket, Key="from-s3ec.csv")["Body"].read()
    check(ledger not in stored and len(stored) == len(ledger) + 16, "the gateway holds something else than ciphertext")
    print("the official client put from-s3ec.csv; a plain GET returns ciphertext")
    out = Path(tmp) / "from-s3ec.csv"
    cse("get", f"s3://{bucket}/from-s3ec.csv", str(out), "--context", "dept=finance")
    check(out.read_bytes() == ledger, "sealgate cse get decrypted other bytes")
    print("sealgate cse get: the same bytes")

    # `sealgate cse put` writes; the official client reads.
    src = Path(tmp) / "ledger.csv"
    src.write_bytes(ledger)
    cse("put", str(src), f"s3://{bucket}/from-cse.csv", "--kms-key-id", key_arn, "--context", "dept=finance")
    got = official.get_object(Bucket=bucket, Key="from-cse.csv", EncryptionContext=context)["Body"].read()
    check(got == ledger, "the official client decrypted other bytes")
    print("sealgate cse put from-cse.csv; the official client reads the same bytes")
