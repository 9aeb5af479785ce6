"""HTTP connection behaviour a client notices: after an error answered before the request body
was read, the next request on the same keep-alive connection must still work (no spurious
connection resets, no body bytes taken as the start of the next request)."""

import pytest
from botocore.exceptions import ClientError

from helpers import KiB, body_of, code_of, md5_b64

ROUNDS = 150


@pytest.mark.parametrize("body_size", [1, 64 * KiB])
def test_requests_after_early_errors_on_same_connection(s3, bucket, body_size):
    s3.put_object(Bucket=bucket, Key="present", Body=b"still here")
    missing = bucket + "-missing"
    body = b"x" * body_size
    failures = {}
    for _ in range(ROUNDS):
        for name, call in (
            ("put to missing bucket", lambda: s3.put_object(Bucket=missing, Key="k", Body=body)),
            ("put with malformed Content-MD5", lambda: s3.put_object(Bucket=bucket, Key="k", Body=body,
                                                                     ContentMD5="bad")),
        ):
            try:
                call()
            except ClientError as e:
                if code_of(e) not in ("NoSuchBucket", "InvalidDigest"):
                    failures[f"{name}: {code_of(e)}"] = failures.get(f"{name}: {code_of(e)}", 0) + 1
            # The very next request rides the same pooled connection.
            try:
                assert body_of(s3.get_object(Bucket=bucket, Key="present")) == b"still here"
            except Exception as e:  # noqa: BLE001 - any failure here is what this test counts
                label = f"GET after {name}: {code_of(e) if isinstance(e, ClientError) else type(e).__name__}"
                failures[label] = failures.get(label, 0) + 1
    assert failures == {}, f"requests failed after early error responses ({2 * ROUNDS} rounds): {failures}"


def test_put_with_good_md5_after_errors(s3, bucket):
    # The same connection also carries a correct upload after an early error.
    data = b"z" * 1000
    for _ in range(20):
        with pytest.raises(ClientError):
            s3.put_object(Bucket=bucket + "-missing", Key="k", Body=data)
        s3.put_object(Bucket=bucket, Key="ok", Body=data, ContentMD5=md5_b64(data))
    assert body_of(s3.get_object(Bucket=bucket, Key="ok")) == data
