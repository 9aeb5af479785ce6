"""The aws CLI (v1) against the real server: `aws s3` high-level commands and `aws s3api`."""

import json
import os
import time

import requests

from helpers import MiB, client_error, md5_hex, quoted, random_file, sha256_file, unique_bucket


def test_mb_ls_rb(aws, s3):
    name = unique_bucket("cli-mb")
    out = aws("s3", "mb", f"s3://{name}").stdout_text
    assert f"make_bucket: {name}" in out
    assert name in aws("s3", "ls").stdout_text
    s3.head_bucket(Bucket=name)
    out = aws("s3", "rb", f"s3://{name}").stdout_text
    assert f"remove_bucket: {name}" in out
    assert name not in aws("s3", "ls").stdout_text


def test_cp_round_trip_and_ls(aws, s3, bucket, tmp_path):
    src = tmp_path / "file.txt"
    src.write_bytes(b"hello from the aws cli\n" * 100)
    out = aws("s3", "cp", src, f"s3://{bucket}/dir/file.txt").stdout_text
    assert "upload:" in out

    listing = aws("s3", "ls", f"s3://{bucket}/dir/").stdout_text
    line = next(ln for ln in listing.splitlines() if ln.endswith("file.txt"))
    assert line.split()[2] == str(src.stat().st_size)
    assert "PRE dir/" in aws("s3", "ls", f"s3://{bucket}/").stdout_text

    dst = tmp_path / "back.txt"
    aws("s3", "cp", f"s3://{bucket}/dir/file.txt", dst)
    assert dst.read_bytes() == src.read_bytes()
    assert s3.head_object(Bucket=bucket, Key="dir/file.txt")["ServerSideEncryption"] == "AES256"


def test_cp_stdin_and_stdout(aws, bucket):
    data = os.urandom(300 * 1024)
    aws("s3", "cp", "-", f"s3://{bucket}/from-stdin", input=data)
    out = aws("s3", "cp", f"s3://{bucket}/from-stdin", "-")
    assert out.stdout == data


def test_cp_missing_object_fails(aws, bucket, tmp_path):
    r = aws("s3", "cp", f"s3://{bucket}/nope", tmp_path / "x", check=False)
    assert r.returncode != 0
    assert "404" in r.stderr_text or "Not Found" in r.stderr_text
    assert not (tmp_path / "x").exists()


def _tree(root, files):
    # Files dated a minute back: sync compares local mtimes with second-granular LastModified.
    past = time.time() - 60
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
        os.utime(p, (past, past))


def _read_tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_sync_and_rm(aws, s3, bucket, tmp_path):
    up = tmp_path / "up"
    files = {"a.txt": b"a" * 10, "sub/b.bin": os.urandom(5000), "sub/deeper/c.txt": b"c", "space name.txt": b"s"}
    _tree(up, files)
    out = aws("s3", "sync", up, f"s3://{bucket}/site/").stdout_text
    assert out.count("upload:") == len(files)
    listing = aws("s3", "ls", "--recursive", f"s3://{bucket}/site/").stdout_text
    for rel in files:
        assert f"site/{rel}" in listing

    # Nothing changed: nothing to do.
    assert aws("s3", "sync", up, f"s3://{bucket}/site/").stdout_text.strip() == ""

    down = tmp_path / "down"
    aws("s3", "sync", f"s3://{bucket}/site/", down)
    assert _read_tree(down) == files

    # Only the changed file is sent again; a deleted one is removed with --delete.
    _tree(up, {"a.txt": b"changed, and longer than before"})
    (up / "sub/deeper/c.txt").unlink()
    out = aws("s3", "sync", "--delete", up, f"s3://{bucket}/site/").stdout_text
    assert out.count("upload:") == 1 and "a.txt" in out
    assert out.count("delete:") == 1 and "c.txt" in out
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="site/")["Contents"])
    assert keys == ["site/a.txt", "site/space name.txt", "site/sub/b.bin"]
    assert s3.get_object(Bucket=bucket, Key="site/a.txt")["Body"].read() == b"changed, and longer than before"

    aws("s3", "rm", f"s3://{bucket}/site/a.txt")
    out = aws("s3", "rm", "--recursive", f"s3://{bucket}/site/").stdout_text
    assert out.count("delete:") == 2
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_rb_non_empty_needs_force(aws, s3):
    name = unique_bucket("cli-rb")
    aws("s3", "mb", f"s3://{name}")
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    r = aws("s3", "rb", f"s3://{name}", check=False)
    assert r.returncode != 0
    assert "BucketNotEmpty" in r.stdout_text + r.stderr_text
    aws("s3", "rb", "--force", f"s3://{name}")
    with client_error(404):
        s3.head_bucket(Bucket=name)


def test_s3api_put_head_get(aws, bucket, tmp_path):
    body = tmp_path / "body.json"
    body.write_bytes(b'{"hello": "world"}')
    put = aws.json("s3api", "put-object", "--bucket", bucket, "--key", "doc.json", "--body", body,
                   "--content-type", "application/json", "--metadata", "Owner=Team-A,stage=Prod")
    assert put["ETag"] == quoted(md5_hex(body.read_bytes()))
    assert put["ServerSideEncryption"] == "AES256"

    head = aws.json("s3api", "head-object", "--bucket", bucket, "--key", "doc.json")
    assert head["ContentLength"] == body.stat().st_size
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"owner": "Team-A", "stage": "Prod"}
    assert head["ServerSideEncryption"] == "AES256"

    out = tmp_path / "out.json"
    got = aws.json("s3api", "get-object", "--bucket", bucket, "--key", "doc.json", out)
    assert got["ETag"] == put["ETag"]
    assert out.read_bytes() == body.read_bytes()

    rng = tmp_path / "range.json"
    got = aws.json("s3api", "get-object", "--bucket", bucket, "--key", "doc.json", "--range", "bytes=2-6", rng)
    assert got["ContentRange"] == f"bytes 2-6/{body.stat().st_size}"
    assert rng.read_bytes() == b"hello"


def test_s3api_errors(aws, bucket, tmp_path):
    r = aws("s3api", "get-object", "--bucket", bucket, "--key", "absent", tmp_path / "o", check=False)
    assert r.returncode != 0
    assert "NoSuchKey" in r.stderr_text
    r = aws("s3api", "head-object", "--bucket", bucket, "--key", "absent", check=False)
    assert r.returncode != 0
    assert "404" in r.stderr_text
    r = aws("s3api", "list-objects-v2", "--bucket", unique_bucket("absent"), check=False)
    assert r.returncode != 0
    assert "NoSuchBucket" in r.stderr_text


def test_presign(aws, s3, bucket):
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"presigned by the cli")
    url = aws("s3", "presign", f"s3://{bucket}/p.txt", "--expires-in", "120").stdout_text.strip()
    r = requests.get(url, timeout=30)
    assert r.status_code == 200
    assert r.content == b"presigned by the cli"


def test_large_cp_round_trip(aws, s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    digest = random_file(src, 40 * MiB)
    aws("s3", "cp", src, f"s3://{bucket}/big.bin")
    h = s3.head_object(Bucket=bucket, Key="big.bin")
    assert h["ContentLength"] == 40 * MiB
    assert h["ETag"].endswith('-5"'), "the CLI uploads 40 MiB as five 8 MiB parts"
    assert h["ServerSideEncryption"] == "AES256"
    dst = tmp_path / "big.out"
    aws("s3", "cp", f"s3://{bucket}/big.bin", dst)
    assert sha256_file(dst) == digest


def test_sse_c_over_tls(aws_for, tls_server, tmp_path):
    aws = aws_for(tls_server)
    c = tls_server.client()
    bucket = unique_bucket("cli-ssec")
    aws("s3", "mb", f"s3://{bucket}")
    key1, key2 = tmp_path / "key1.bin", tmp_path / "key2.bin"
    key1.write_bytes(os.urandom(32))
    key2.write_bytes(os.urandom(32))
    src = tmp_path / "secret.bin"
    digest = random_file(src, 20 * MiB)  # multipart upload and parallel ranged download

    aws("s3", "cp", src, f"s3://{bucket}/secret.bin", "--sse-c", "AES256", "--sse-c-key", f"fileb://{key1}")
    head = aws.json("s3api", "head-object", "--bucket", bucket, "--key", "secret.bin",
                    "--sse-customer-algorithm", "AES256", "--sse-customer-key", f"fileb://{key1}")
    assert head["SSECustomerAlgorithm"] == "AES256"
    assert head["ContentLength"] == 20 * MiB

    dst = tmp_path / "secret.out"
    aws("s3", "cp", f"s3://{bucket}/secret.bin", dst, "--sse-c", "AES256", "--sse-c-key", f"fileb://{key1}")
    assert sha256_file(dst) == digest

    nokey = tmp_path / "nokey.out"
    r = aws("s3", "cp", f"s3://{bucket}/secret.bin", nokey, check=False)
    assert r.returncode != 0
    assert not nokey.exists() or sha256_file(nokey) != digest
    r = aws("s3", "cp", f"s3://{bucket}/secret.bin", tmp_path / "wrong.out", "--sse-c", "AES256",
            "--sse-c-key", f"fileb://{key2}", check=False)
    assert r.returncode != 0

    # Rotate to key2 with a server-side copy (multipart copy for an object this size).
    aws("s3", "cp", f"s3://{bucket}/secret.bin", f"s3://{bucket}/rotated.bin",
        "--sse-c-copy-source", "AES256", "--sse-c-copy-source-key", f"fileb://{key1}",
        "--sse-c", "AES256", "--sse-c-key", f"fileb://{key2}")
    rotated = tmp_path / "rotated.out"
    aws("s3", "cp", f"s3://{bucket}/rotated.bin", rotated, "--sse-c", "AES256", "--sse-c-key", f"fileb://{key2}")
    assert sha256_file(rotated) == digest
    with client_error(403):
        c.head_object(Bucket=bucket, Key="rotated.bin", SSECustomerAlgorithm="AES256",
                      SSECustomerKey=key1.read_bytes())


def test_cli_over_tls_plain(aws_for, tls_server, tmp_path):
    aws = aws_for(tls_server)
    bucket = unique_bucket("cli-tls")
    aws("s3", "mb", f"s3://{bucket}")
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(3 * MiB + 1))
    aws("s3", "cp", src, f"s3://{bucket}/f.bin")
    out = tmp_path / "o.bin"
    aws("s3", "cp", f"s3://{bucket}/f.bin", out)
    assert out.read_bytes() == src.read_bytes()
    listing = json.loads(aws("s3api", "list-objects-v2", "--bucket", bucket).stdout_text)
    assert [o["Key"] for o in listing["Contents"]] == ["f.bin"]
