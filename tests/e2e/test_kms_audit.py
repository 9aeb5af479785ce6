"""The audit trail of the KMS: every operation leaves a record (who, what, which key and key
version, context, result; never key material), and `sealgate audit verify` proves the chain
and names the first broken record."""

from __future__ import annotations

import base64
import json
import subprocess

from conftest import SEALGATE_BIN
from helpers import REGION
from kms_helpers import ACCOUNT, assert_error, kms_client, kms_config, user_arn


def verify(srv) -> subprocess.CompletedProcess:
    return subprocess.run([str(SEALGATE_BIN), "audit", "verify", "--data-dir", str(srv.data_dir)],
                          capture_output=True, text=True, timeout=60)


def records(srv) -> list[dict]:
    out = []
    for path in sorted((srv.data_dir / "audit").glob("audit-*.log")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def test_every_operation_is_recorded_and_the_chain_verifies(server_factory):
    srv = server_factory("audit", config=kms_config("[audit]\nmax_file_bytes = 4096\n"))
    root, nobody = kms_client(srv.endpoint), kms_client(srv.endpoint, "nobody")
    md = root.create_key()["KeyMetadata"]
    dk = root.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256", EncryptionContext={"app": "billing"})
    root.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"app": "billing"})
    assert_error(lambda: nobody.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"app": "billing"}),
                 "AccessDeniedException")
    for _ in range(30):
        root.encrypt(KeyId=md["KeyId"], Plaintext=b"filler to rotate the log files")
    srv.stop()

    recs = records(srv)
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    logs = list((srv.data_dir / "audit").glob("audit-*.log"))
    assert len(logs) > 1, "rotated by size"
    assert all(p.stat().st_mode & 0o077 == 0 for p in logs), "audit files are private"
    ops = [(r["operation"], r["result"]) for r in recs]
    assert ops[:4] == [("CreateKey", "Success"), ("GenerateDataKey", "Success"), ("Decrypt", "Success"),
                       ("Decrypt", "AccessDeniedException")]
    gdk = recs[1]
    assert gdk["principal"] == f"arn:aws:iam::{ACCOUNT}:root" and gdk["key_arn"] == md["Arn"]
    assert gdk["key_version"] == md["CurrentKeyMaterialId"]
    assert gdk["encryption_context"] == {"app": "billing"} and gdk["service"] == "kms"
    assert gdk["source_ip"] == "127.0.0.1" and gdk["request_id"]
    assert recs[3]["principal"] == user_arn("nobody")
    # Never key material: neither the data key nor its ciphertext appear in the trail.
    text = b"".join(p.read_bytes() for p in (srv.data_dir / "audit").iterdir())
    for secret in (dk["Plaintext"], base64.b64encode(dk["Plaintext"])):
        assert secret not in text

    ok = verify(srv)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"ok: {len(recs)} records" in ok.stdout

    # One flipped byte in the middle of the first file is caught and located.
    first = sorted((srv.data_dir / "audit").glob("audit-*.log"))[0]
    raw = bytearray(first.read_bytes())
    lines = raw.split(b"\n")
    target = lines[2]
    pos = sum(len(x) + 1 for x in lines[:2]) + target.index(b'"operation":"') + len(b'"operation":"')
    raw[pos] ^= 0x01
    original = first.read_bytes()
    first.write_bytes(bytes(raw))
    bad = verify(srv)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "line 3, seq 3" in bad.stdout + bad.stderr
    first.write_bytes(original)
    # A gateway refuses to extend a chain whose newest record was altered.
    newest = sorted((srv.data_dir / "audit").glob("audit-*.log"))[-1]
    tail = bytearray(newest.read_bytes())
    tail[-20] ^= 0x01
    newest.write_bytes(bytes(tail))
    proc = subprocess.run([str(SEALGATE_BIN), "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                           "--data-dir", str(srv.data_dir)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "audit" in proc.stderr, proc.stderr


def test_a_restart_continues_the_chain(server_factory):
    srv = server_factory("audit-restart", config=kms_config())
    kms_client(srv.endpoint).create_key()
    srv.restart(kill=True)
    kms_client(srv.endpoint).list_keys()
    srv.stop()
    recs = records(srv)
    assert [r["operation"] for r in recs] == ["CreateKey", "ListKeys"]
    assert recs[1]["prev"] == recs[0]["mac"]
    assert verify(srv).returncode == 0
    assert REGION in recs[0]["key_arn"]
