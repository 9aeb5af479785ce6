"""Large objects through boto3's managed transfers: multipart upload, parallel ranged download."""

from boto3.s3.transfer import TransferConfig

from helpers import MiB, random_file, sha256_file


def test_transfer_manager_round_trip(s3, bucket, tmp_path):
    src = tmp_path / "large.bin"
    digest = random_file(src, 40 * MiB + 12345)
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "large.bin", Config=cfg, ExtraArgs={"Metadata": {"sha256": digest}})

    h = s3.head_object(Bucket=bucket, Key="large.bin")
    assert h["ContentLength"] == src.stat().st_size
    assert h["ETag"].endswith('-6"')
    assert h["Metadata"]["sha256"] == digest
    assert h["ServerSideEncryption"] == "AES256"

    dst = tmp_path / "large.out"
    s3.download_file(bucket, "large.bin", str(dst), Config=cfg)
    assert sha256_file(dst) == digest


def test_single_put_of_large_body(s3, bucket, tmp_path):
    src = tmp_path / "single.bin"
    digest = random_file(src, 24 * MiB + 1)
    with open(src, "rb") as f:
        r = s3.put_object(Bucket=bucket, Key="single.bin", Body=f)
    assert "-" not in r["ETag"]
    dst = tmp_path / "single.out"
    s3.download_file(bucket, "single.bin", str(dst),
                     Config=TransferConfig(multipart_threshold=4 * MiB, multipart_chunksize=4 * MiB))
    assert sha256_file(dst) == digest
