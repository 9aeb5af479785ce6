"""The PKCS#11 root of trust against a real SoftHSM2 token: the root secret rests only
sealed by a key inside the HSM, data written before a restart reads back after it, and a
missing module, a wrong PIN or a tampered sealed file stop the gateway with a clear error."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from helpers import unique_bucket
from kms_helpers import kms_client

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "sg-pin-4821"


@pytest.fixture
def token(tmp_path):
    """A fresh SoftHSM2 token labelled 'sealgate'; yields the env the gateway needs."""
    if shutil.which("softhsm2-util") is None or not os.path.exists(MODULE):
        if os.environ.get("CI"):
            pytest.fail("SoftHSM2 is not installed (.ci/run installs the softhsm2 package)")
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2)")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "sealgate", "--pin", PIN,
                    "--so-pin", "5678"], check=True, capture_output=True, env={**os.environ, **env})
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    os.chmod(pin_file, 0o600)
    return {"env": env, "pin_file": pin_file}


def hsm_config(pin_file, module: str = MODULE) -> str:
    return (f'[root]\nkind = "pkcs11"\n[root.pkcs11]\nmodule = "{module}"\ntoken_label = "sealgate"\n'
            f'pin_file = "{pin_file}"\n')


def test_data_survives_restarts_with_the_root_sealed_in_the_hsm(server_factory, token):
    srv = server_factory("hsm", config=hsm_config(token["pin_file"]), env=token["env"])
    s3, kms = srv.client(), kms_client(srv.endpoint)
    b = unique_bucket("hsm")
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="k", Body=b"guarded by the HSM")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"also")["CiphertextBlob"]
    srv.restart()
    s3, kms = srv.client(), kms_client(srv.endpoint)
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"guarded by the HSM"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"also"
    assert not (srv.data_dir / "root.key").exists()
    sealed = (srv.data_dir / "root.key.sealed").read_bytes()
    assert len(sealed) == 65 and sealed[:4] == b"SGR1"
    assert oct((srv.data_dir / "root.key.sealed").stat().st_mode & 0o777) == "0o600"
    srv.stop()
    # The audit chain verifies with the root unsealed by the HSM.
    from conftest import SEALGATE_BIN
    cfg = srv.config_path
    out = subprocess.run([str(SEALGATE_BIN), "audit", "verify", "--config", str(cfg), "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, env={**os.environ, **token["env"]}, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("fault,message", [
    ("wrong-pin", "login to token 'sealgate' failed"),
    ("no-module", "cannot load the module"),
    ("tampered", "does not open with key 'sealgate-root'"),
    ("root-file-too", "refusing to guess"),
    ("open-pin-file", "readable by other users"),
])
def test_an_unusable_root_fails_closed(server_factory, token, fault, message):
    srv = server_factory("hsm-fault", config=hsm_config(token["pin_file"]), env=token["env"])
    srv.client().create_bucket(Bucket=unique_bucket("x"))
    srv.stop()
    env = dict(token["env"])
    if fault == "wrong-pin":
        env["SEALGATE_PKCS11_PIN"] = "0000"
    elif fault == "no-module":
        srv.config_path.write_text(hsm_config(token["pin_file"], module="/nonexistent/libpkcs11.so"))
    elif fault == "tampered":
        p = srv.data_dir / "root.key.sealed"
        raw = bytearray(p.read_bytes())
        raw[30] ^= 1
        p.write_bytes(bytes(raw))
    elif fault == "open-pin-file":
        os.chmod(token["pin_file"], 0o644)
    else:
        (srv.data_dir / "root.key").write_bytes(os.urandom(32))
        os.chmod(srv.data_dir / "root.key", 0o600)
    srv.extra_env = env
    with pytest.raises(RuntimeError) as e:
        srv.start()
    assert message in str(e.value), str(e.value)
    assert PIN not in srv.log_text()
