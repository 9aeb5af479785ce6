"""SSE-KMS with boto3: a bucket whose policy demands one KMS key for every write.

The key comes from sealgate's own KMS (the AWS KMS API, on the same port as S3). The policy
refuses any PUT that does not name that key, so a PUT without it gets 403 AccessDenied and
one with it is stored sealed under a data key of that key.

    SEALGATE_ENDPOINT=http://127.0.0.1:8014 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
        AWS_DEFAULT_REGION=us-east-1 python3 examples/sse_kms_bucket_policy.py

Exits non-zero if anything is not as described.
"""

import json
import os
import sys
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = os.environ.get("SEALGATE_ENDPOINT", "http://127.0.0.1:8014")
# Path-style addressing (/BUCKET/KEY) works on any host name; virtual-hosted style needs
# the gateway's [s3] domains and DNS for them.
s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
kms = boto3.client("kms", endpoint_url=endpoint)


def check(ok: bool, what: str) -> None:
    if not ok:
        sys.exit(f"FAILED: {what}")


key_arn = kms.create_key(Description="sealgate example: the key the bucket demands")["KeyMetadata"]["Arn"]
bucket = f"example-kms-{uuid.uuid4().hex[:12]}"
s3.create_bucket(Bucket=bucket)

# StringNotEquals also matches when the header is absent, so this one statement refuses
# writes with no encryption header, with SSE-S3, and with any other KMS key. The condition
# key holds the key ARN whichever way the request names the key (id, ARN or alias).
policy = {
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "DenyWritesNotUnderTheKey",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}},
    }],
}
s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
print(f"bucket {bucket} demands {key_arn}")

try:
    s3.put_object(Bucket=bucket, Key="report.csv", Body=b"no key named")
    sys.exit("FAILED: a PUT without the demanded key was accepted")
except ClientError as e:
    status, code = e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    check((status, code) == (403, "AccessDenied"), f"a PUT without the key got {status} {code}")
    print(f"PUT without the key: {status} {code}")

body = b"quarter,revenue\nQ1,1200\n"
put = s3.put_object(Bucket=bucket, Key="report.csv", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
check(put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == key_arn, f"PUT answered {put}")
print("PUT with the key: stored under", put["SSEKMSKeyId"])

# Reading needs kms:Decrypt on the key as well as s3:GetObject; the account's root has both.
got = s3.get_object(Bucket=bucket, Key="report.csv")
check(got["Body"].read() == body, "GET returned other bytes")
check(got["SSEKMSKeyId"] == key_arn, f"GET reports key {got.get('SSEKMSKeyId')}")
print("GET: the same bytes, decrypted under", got["SSEKMSKeyId"])
