"""SSE-C with boto3: objects sealed under a key only the client holds.

The gateway uses the customer key to wrap the object's data key and keeps only a salted,
keyed fingerprint of it, so every GET must bring the key again. As on AWS, SSE-C needs
TLS: point SEALGATE_ENDPOINT at an https endpoint (a gateway started with --tls-cert and
--tls-key) and AWS_CA_BUNDLE at the certificate if no system root vouches for it.

    SEALGATE_ENDPOINT=https://127.0.0.1:8014 AWS_CA_BUNDLE=cert.pem AWS_ACCESS_KEY_ID=... \
        AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=us-east-1 python3 examples/sse_c.py

Exits non-zero if anything is not as described.
"""

import os
import sys
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = os.environ.get("SEALGATE_ENDPOINT", "https://127.0.0.1:8014")
s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))


def check(ok: bool, what: str) -> None:
    if not ok:
        sys.exit(f"FAILED: {what}")


def refused(call, status: int, code: str, what: str) -> None:
    try:
        call()
    except ClientError as e:
        got = (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])
        check(got == (status, code), f"{what}: got {got}, expected {(status, code)}")
        print(f"{what}: {got[0]} {got[1]}")
        return
    sys.exit(f"FAILED: {what} succeeded")


# 32 random bytes; boto3 sends them base64-encoded with their MD5. Lose the key and the
# object is gone for good: the gateway cannot open it without it.
customer_key = os.urandom(32)
sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": customer_key}

bucket = f"example-ssec-{uuid.uuid4().hex[:12]}"
s3.create_bucket(Bucket=bucket)
body = b"the recipe: 2 parts secret, 1 part sauce\n"
put = s3.put_object(Bucket=bucket, Key="recipe.txt", Body=body, **sse_c)
check(put["SSECustomerAlgorithm"] == "AES256", f"PUT answered {put}")
print(f"PUT s3://{bucket}/recipe.txt under a customer key")

refused(lambda: s3.get_object(Bucket=bucket, Key="recipe.txt"), 400, "InvalidRequest", "GET without the key")
other = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": os.urandom(32)}
refused(lambda: s3.get_object(Bucket=bucket, Key="recipe.txt", **other), 403, "AccessDenied", "GET with another key")

got = s3.get_object(Bucket=bucket, Key="recipe.txt", **sse_c)
check(got["Body"].read() == body, "GET with the key returned other bytes")
print("GET with the key: the same bytes")
