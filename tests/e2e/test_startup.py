"""What an operator meets when starting the gateway: TLS from certificate files, generated
credentials, a root key that must not go missing, and a config file checked strictly."""

import os
import stat

import pytest

from conftest import SealgateServer, make_client
from helpers import make_cert, unique_bucket


class CertServer(SealgateServer):
    """A server started with --tls-cert/--tls-key instead of --tls-self-signed."""

    def __init__(self, root, cert, key, **kw):
        super().__init__(root, tls=True, **kw)
        self.cert, self.key = cert, key

    def start(self):
        # The base class adds --tls-self-signed for tls=True; point it at the files instead.
        self.config_path = self.root / "tls.toml"
        self.config_path.write_text(f'[tls]\ncert = "{self.cert}"\nkey = "{self.key}"\n')
        self.tls = False
        try:
            return super().start()
        finally:
            self.tls = True


def test_tls_from_certificate_files_verifies_against_that_certificate(tmp_path):
    cert, key = make_cert(tmp_path)
    srv = CertServer(tmp_path / "srv", cert, key).start()
    try:
        c = make_client(srv.endpoint, verify=str(cert))
        b = unique_bucket("tls-files")
        c.create_bucket(Bucket=b)
        c.put_object(Bucket=b, Key="k", Body=b"over verified TLS")
        assert c.get_object(Bucket=b, Key="k")["Body"].read() == b"over verified TLS"
    finally:
        srv.kill()


def test_missing_tls_key_file_fails_closed(tmp_path):
    cert, key = make_cert(tmp_path)
    key.unlink()
    srv = CertServer(tmp_path / "srv", cert, key)
    with pytest.raises(RuntimeError, match="exited"):
        srv.start()
    assert "key.pem" in srv.log_text()


def test_credentials_are_generated_private_and_work(server_factory):
    srv = server_factory("gen-creds", env={"SEALGATE_ROOT_ACCESS_KEY": "", "SEALGATE_ROOT_SECRET_KEY": ""})
    path = srv.data_dir / "root-credentials.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in srv.log_text()
    fields = dict(line.split(" = ", 1) for line in path.read_text().splitlines() if " = " in line)
    ak, sk = fields["access_key"].strip('"'), fields["secret_key"].strip('"')
    c = make_client(srv.endpoint, access_key=ak, secret_key=sk)
    c.create_bucket(Bucket=unique_bucket("gen"))
    # The same credentials come back after a restart.
    srv.restart()
    assert len(make_client(srv.endpoint, access_key=ak, secret_key=sk).list_buckets()["Buckets"]) == 1


def test_only_one_of_the_credential_pair_is_refused(server_factory):
    srv = server_factory("half-creds", start=False, env={"SEALGATE_ROOT_SECRET_KEY": ""})
    with pytest.raises(RuntimeError, match="exited"):
        srv.start()
    assert "both" in srv.log_text()


def test_missing_root_key_next_to_sealed_data_refuses_to_start(server_factory):
    srv = server_factory("root-key")
    c = srv.client()
    b = unique_bucket("rk")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="k", Body=b"needs the root key")
    srv.stop()
    key_file = srv.data_dir / "root.key"
    saved = key_file.read_bytes()
    key_file.unlink()
    with pytest.raises(RuntimeError, match="exited"):
        srv.start()
    assert "missing" in srv.log_text()
    assert not key_file.exists(), "no new key may be generated next to sealed data"
    # Restored, everything reads back.
    key_file.write_bytes(saved)
    os.chmod(key_file, 0o600)
    srv.start()
    assert srv.client().get_object(Bucket=b, Key="k")["Body"].read() == b"needs the root key"


def test_world_readable_root_key_refuses_to_start(server_factory):
    srv = server_factory("rk-mode")
    srv.stop()
    os.chmod(srv.data_dir / "root.key", 0o644)
    with pytest.raises(RuntimeError, match="exited"):
        srv.start()
    assert "chmod 600" in srv.log_text()


def test_unknown_config_field_refuses_to_start(server_factory):
    srv = server_factory("bad-config", start=False, config="[s3]\nallow_sse_c_over_htp = true\n")
    with pytest.raises(RuntimeError, match="exited"):
        srv.start()
    assert "allow_sse_c_over_htp" in srv.log_text()
