"""Independent implementation of the v1 sealed blob (docs/FORMAT.md) in Python, used to
produce tests/vectors/format-v1.json. The Rust test `crypto::tests::format_v1_test_vector`
must reproduce the same bytes, so the vector checks the spec, not just the code."""

import hashlib
import json
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TAG = 16
path = Path(__file__).with_name("format-v1.json")
v = json.loads(path.read_text())


def field(b: bytes) -> bytes:
    return struct.pack(">H", len(b)) + b


dk = bytes.fromhex(v["data_key"])
salt = bytes.fromhex(v["salt"])
chunk = v["chunk_size"]
n = v["plaintext_len"]
plaintext = bytes(i % 256 for i in range(n))

header = (b"SGB1" + bytes([1, 1]) + struct.pack(">IQ", chunk, n) + salt
          + bytes([1]) + field(v["master_key_id"].encode()) + field(bytes.fromhex(v["wrapped_key"])))

okm = HKDF(algorithm=hashes.SHA256(), length=39, salt=salt, info=b"sealgate/v1/content").derive(dk)
key, prefix = okm[:32], okm[32:]


def lp(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


aad = hashlib.sha256(b"sealgate/v1/aad" + lp(header) + lp(v["bucket"].encode()) + lp(v["key"].encode())
                     + lp(v["version"].encode()) + struct.pack(">I", v["part_number"])).digest()
count = max(1, -(-n // chunk))
blob = bytearray(header)
gcm = AESGCM(key)
for i in range(count):
    nonce = prefix + struct.pack(">I", i) + bytes([1 if i == count - 1 else 0])
    blob += gcm.encrypt(nonce, plaintext[i * chunk:(i + 1) * chunk], aad)

v["header"] = header.hex()
v["last_tag"] = bytes(blob[-TAG:]).hex()
v["blob_sha256"] = hashlib.sha256(blob).hexdigest()
if "--check" in sys.argv:
    stored = json.loads(path.read_text())
    sys.exit(0 if stored == v else "format-v1.json differs from this implementation")
path.write_text(json.dumps(v, indent=2) + "\n")
print(v["blob_sha256"])
