"""KMS cryptographic operations through boto3: envelope encryption with encryption context,
data keys and key pairs, signatures, MACs, imported key material, and the wire protocol's
errors."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from helpers import ACCESS_KEY, REGION, SECRET_KEY
from kms_helpers import assert_error, clocked_kms_fixtures, kms_client, kms_config

CTX = {"aws:s3:arn": "arn:aws:s3:::bucket/key", "tenant": "t1"}


kms_server, kms, advance = clocked_kms_fixtures("kms-crypto")


@pytest.fixture(scope="module")
def key(kms_server):
    return kms_client(kms_server.endpoint).create_key()["KeyMetadata"]


def test_encrypt_decrypt_with_context_and_without_key_id(kms, key):
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"attack at dawn", EncryptionContext=CTX)
    assert out["KeyId"] == key["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = out["CiphertextBlob"]
    d = kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(CTX.items()))))
    assert (d["Plaintext"], d["KeyId"]) == (b"attack at dawn", key["Arn"])
    for ctx in ({}, {"tenant": "t1"}, {**CTX, "tenant": "t2"}, {**CTX, "extra": "x"}):
        assert_error(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx), "InvalidCiphertextException")
    tampered = bytearray(blob)
    tampered[-3] ^= 1
    assert_error(lambda: kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext=CTX), "InvalidCiphertextException")
    assert_error(lambda: kms.decrypt(CiphertextBlob=b"garbage" * 10), "InvalidCiphertextException")
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    assert_error(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=CTX, KeyId=other), "IncorrectKeyException")
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=CTX, KeyId=key["Arn"])["Plaintext"] == b"attack at dawn"


def test_data_keys_are_compact_fresh_and_decryptable(kms, key):
    dk = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=CTX)
    assert len(dk["Plaintext"]) == 32 and dk["KeyId"] == key["Arn"]
    # AWS's blob for a 32-byte key is ~184 bytes; client-side metadata must fit S3's 2 KB.
    assert len(dk["CiphertextBlob"]) <= 100
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=CTX)["Plaintext"] == dk["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_128")["Plaintext"]) == 16
    assert len(kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=64)["Plaintext"]) == 64
    keys = {kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")["Plaintext"] for _ in range(20)}
    assert len(keys) == 20
    wp = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=CTX)
    assert "Plaintext" not in wp
    assert len(kms.decrypt(CiphertextBlob=wp["CiphertextBlob"], EncryptionContext=CTX)["Plaintext"]) == 32
    assert_error(lambda: kms.generate_data_key(KeyId=key["KeyId"]), "ValidationException")
    assert_error(lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", NumberOfBytes=32), "ValidationException")


def test_re_encrypt_moves_a_ciphertext_to_another_key_and_context(kms, key):
    dest = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"move me", EncryptionContext=CTX)["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=CTX, DestinationKeyId=dest["KeyId"],
                         DestinationEncryptionContext={"new": "ctx"})
    assert (out["SourceKeyId"], out["KeyId"]) == (key["Arn"], dest["Arn"])
    d = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"new": "ctx"})
    assert (d["Plaintext"], d["KeyId"]) == (b"move me", dest["Arn"])


def test_data_key_pairs(kms, key):
    pair = kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec="ECC_NIST_P256", EncryptionContext=CTX)
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
    public = serialization.load_der_public_key(pair["PublicKey"])
    sig = private.sign(b"msg", ec.ECDSA(hashes.SHA256()))
    public.verify(sig, b"msg", ec.ECDSA(hashes.SHA256()))
    unwrapped = kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"], EncryptionContext=CTX)["Plaintext"]
    assert unwrapped == pair["PrivateKeyPlaintext"]
    np = kms.generate_data_key_pair_without_plaintext(KeyId=key["KeyId"], KeyPairSpec="RSA_2048")
    assert "PrivateKeyPlaintext" not in np
    serialization.load_der_private_key(kms.decrypt(CiphertextBlob=np["PrivateKeyCiphertextBlob"])["Plaintext"], None)


@pytest.mark.parametrize("spec,alg", [("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P384", "ECDSA_SHA_384"),
                                      ("RSA_2048", "RSASSA_PSS_SHA_256"), ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512")])
def test_sign_and_verify_interoperate_with_a_standard_library(kms, spec, alg):
    md = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert alg in md["SigningAlgorithms"]
    sig = kms.sign(KeyId=md["KeyId"], Message=b"release v1.2.3", SigningAlgorithm=alg)["Signature"]
    assert kms.verify(KeyId=md["KeyId"], Message=b"release v1.2.3", Signature=sig, SigningAlgorithm=alg)["SignatureValid"]
    assert_error(lambda: kms.verify(KeyId=md["KeyId"], Message=b"release v1.2.4", Signature=sig, SigningAlgorithm=alg),
                 "KMSInvalidSignatureException")
    pub = kms.get_public_key(KeyId=md["KeyId"])
    assert pub["KeyUsage"] == "SIGN_VERIFY" and pub["KeySpec"] == spec
    public = serialization.load_der_public_key(pub["PublicKey"])
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[-3:]]
    if spec.startswith("ECC"):
        public.verify(sig, b"release v1.2.3", ec.ECDSA(digest))
    elif "PSS" in alg:
        public.verify(sig, b"release v1.2.3", padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
    else:
        public.verify(sig, b"release v1.2.3", padding.PKCS1v15(), digest)
    # A digest message signs the same as the raw message.
    h = hashlib.new(digest.name, b"release v1.2.3").digest()
    sig2 = kms.sign(KeyId=md["KeyId"], Message=h, MessageType="DIGEST", SigningAlgorithm=alg)["Signature"]
    assert kms.verify(KeyId=md["KeyId"], Message=b"release v1.2.3", Signature=sig2, SigningAlgorithm=alg)["SignatureValid"]
    assert_error(lambda: kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x"), "InvalidKeyUsageException")


def test_rsa_encryption_keys(kms):
    md = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    pub = serialization.load_der_public_key(kms.get_public_key(KeyId=md["KeyId"])["PublicKey"])
    blob = pub.encrypt(b"for the key holder", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    d = kms.decrypt(CiphertextBlob=blob, KeyId=md["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert d["Plaintext"] == b"for the key holder"
    out = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], KeyId=md["KeyId"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"] == b"x"
    assert_error(lambda: kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x"), "InvalidKeyUsageException")


def test_hmac_keys(kms):
    md = kms.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    assert md["MacAlgorithms"] == ["HMAC_SHA_384"]
    mac = kms.generate_mac(KeyId=md["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_384")["Mac"]
    assert len(mac) == 48
    assert kms.verify_mac(KeyId=md["KeyId"], Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_384")["MacValid"]
    assert_error(lambda: kms.verify_mac(KeyId=md["KeyId"], Message=b"n", Mac=mac, MacAlgorithm="HMAC_SHA_384"),
                 "KMSInvalidMacException")
    assert_error(lambda: kms.generate_mac(KeyId=md["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256"),
                 "InvalidKeyUsageException")


def wrap_for_import(params: dict, material: bytes) -> bytes:
    public = serialization.load_der_public_key(params["PublicKey"])
    return public.encrypt(material, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))


def test_imported_material_expiry_and_reimport(kms, kms_server, advance):
    md = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert (md["KeyState"], md["Origin"], md["Enabled"]) == ("PendingImport", "EXTERNAL", False)
    assert_error(lambda: kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x"), "KMSInvalidStateException")
    material = bytes(range(32))
    params = kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    assert 23 * 3600 < params["ParametersValidTo"].timestamp() - time.time() < 25 * 3600
    valid_to = int(time.time()) + 10 * 86400
    out = kms.import_key_material(KeyId=md["KeyId"], ImportToken=params["ImportToken"],
                                  EncryptedKeyMaterial=wrap_for_import(params, material),
                                  ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    described = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert described["KeyState"] == "Enabled" and described["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs(described["ValidTo"].timestamp() - valid_to) < 2
    blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"byok", EncryptionContext=CTX)["CiphertextBlob"]
    # The token was used up.
    assert_error(lambda: kms.import_key_material(KeyId=md["KeyId"], ImportToken=params["ImportToken"],
                                                 EncryptedKeyMaterial=wrap_for_import(params, material),
                                                 ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"),
                 "InvalidImportTokenException")
    # Expiry: the material is deleted, the key waits for an import again.
    advance(11)
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    assert_error(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=CTX), "KMSInvalidStateException")
    # Other material is refused; the same material brings old ciphertexts back.
    p2 = kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                       WrappingKeySpec="RSA_3072")
    assert_error(lambda: kms.import_key_material(KeyId=md["KeyId"], ImportToken=p2["ImportToken"],
                                                 EncryptedKeyMaterial=wrap_for_import(p2, bytes(32)),
                                                 ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"),
                 "IncorrectKeyMaterialException")
    again = kms.import_key_material(KeyId=md["KeyId"], ImportToken=p2["ImportToken"],
                                    EncryptedKeyMaterial=wrap_for_import(p2, material),
                                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert again["KeyMaterialId"] == out["KeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=CTX)["Plaintext"] == b"byok"
    # An expired token is refused.
    p3 = kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_1",
                                       WrappingKeySpec="RSA_2048")
    advance(1.1)
    wrapped = serialization.load_der_public_key(p3["PublicKey"]).encrypt(
        material, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    assert_error(lambda: kms.import_key_material(KeyId=md["KeyId"], ImportToken=p3["ImportToken"],
                                                 EncryptedKeyMaterial=wrapped,
                                                 ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"),
                 "ExpiredImportTokenException")
    kms.delete_imported_key_material(KeyId=md["KeyId"])
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    assert_error(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=CTX), "KMSInvalidStateException")
    # The imported material never rests in the clear.
    for path in kms_server.data_dir.rglob("*"):
        if path.is_file():
            assert material not in path.read_bytes(), path
    plain = kms.create_key()["KeyMetadata"]["KeyId"]
    assert_error(lambda: kms.get_parameters_for_import(KeyId=plain, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                       WrappingKeySpec="RSA_2048"), "UnsupportedOperationException")


def test_keys_and_ciphertexts_survive_a_restart(kms_server, key):
    kms = kms_client(kms_server.endpoint)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"durable", EncryptionContext=CTX)["CiphertextBlob"]
    kms_server.restart(kill=True)
    kms = kms_client(kms_server.endpoint)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=CTX)["Plaintext"] == b"durable"
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def signed_post(endpoint: str, target: str | None, body: bytes, *, secret: str = SECRET_KEY,
                access: str = ACCESS_KEY, service: str = "kms", region: str = REGION) -> requests.Response:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        headers["X-Amz-Target"] = target
    req = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(access, secret), service, region).add_auth(req)
    return requests.post(endpoint + "/", data=body, headers=dict(req.headers), timeout=10)


def test_wire_protocol_errors(kms_server):
    ep = kms_server.endpoint
    ok = signed_post(ep, "TrentService.ListKeys", b"{}")
    assert ok.status_code == 200 and ok.headers["Content-Type"] == "application/x-amz-json-1.1"
    uuid.UUID(ok.headers["x-amzn-RequestId"])
    for (target, body, kw), code in [
        (("TrentService.Nope", b"{}", {}), "UnknownOperationException"),
        (("TrentService.ListKeys", b"{", {}), "SerializationException"),
        # Members of the wrong JSON type are refused, never taken for something else.
        (("TrentService.Encrypt", b'{"KeyId": "alias/x", "Plaintext": "aGk=", "GrantTokens": "x"}', {}),
         "SerializationException"),
        (("TrentService.DescribeKey", b'{"KeyId": 1234}', {}), "SerializationException"),
        (("TrentService.DescribeKey", b"[]", {}), "SerializationException"),
        (("TrentService.DescribeKey", b"{}", {}), "ValidationException"),
        (("TrentService.ListKeys", b"{}", {"secret": "wrong"}), "InvalidSignatureException"),
        (("TrentService.ListKeys", b"{}", {"access": "AKIAUNKNOWN000000000"}), "UnrecognizedClientException"),
        (("TrentService.ListKeys", b"{}", {"region": "eu-west-1"}), "InvalidSignatureException"),
    ]:
        r = signed_post(ep, target, body, **kw)
        assert r.status_code == 400, (target, r.text)
        assert r.json()["__type"] == code and r.headers["x-amzn-ErrorType"] == code, r.text
        assert r.json()["message"]
    unsigned = requests.post(ep + "/", data=b"{}", headers={"X-Amz-Target": "TrentService.ListKeys"}, timeout=10)
    assert unsigned.status_code == 400 and unsigned.json()["__type"] == "MissingAuthenticationTokenException"
    # The body is signed: changing it after signing is caught.
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.GenerateRandom"}
    req = AWSRequest(method="POST", url=ep + "/", data=b'{"NumberOfBytes": 8}', headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "kms", REGION).add_auth(req)
    r = requests.post(ep + "/", data=b'{"NumberOfBytes": 9}', headers=dict(req.headers), timeout=10)
    assert r.json()["__type"] == "InvalidSignatureException"


def test_debug_logs_carry_no_key_material(server_factory):
    srv = server_factory("kms-debug-log", config=kms_config(), env={"SEALGATE_LOG": "debug"})
    kms = kms_client(srv.endpoint)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    dk = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=CTX)
    kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=CTX)
    secret = kms.encrypt(KeyId=key_id, Plaintext=b"log-canary-plaintext")["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=secret)
    srv.stop()
    log = srv.log_text()
    assert "kms request" in log, "debug logging was on"
    for needle in (base64.b64encode(dk["Plaintext"]).decode(), dk["Plaintext"].hex(), "log-canary-plaintext",
                   base64.b64encode(b"log-canary-plaintext").decode()):
        assert needle not in log


def test_requests_beyond_the_quota_are_throttled(server_factory):
    srv = server_factory("kms-quota", config=kms_config("[kms]\ncrypto_requests_per_second = 5\n"))
    kms = kms_client(srv.endpoint)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    codes = []
    for _ in range(12):
        try:
            kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
            codes.append("ok")
        except Exception as e:  # noqa: BLE001 - the error code is what is checked
            codes.append(e.response["Error"]["Code"])
    assert codes[:5] == ["ok"] * 5 and "ThrottlingException" in codes
    kms.describe_key(KeyId=key_id)  # management requests have their own quota
