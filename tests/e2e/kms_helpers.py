"""Shared set-up of the KMS end-to-end tests: a gateway with IAM users, boto3 KMS clients."""

from __future__ import annotations

import contextlib

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from helpers import ACCESS_KEY, REGION, SECRET_KEY, gateway_config

ACCOUNT = "111122223333"

USERS = {
    "admin": ("AKIAADMINEXAMPLE0001", "admin/secret/0123456789abcdefghijklmn",
              {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}),
    "reader": ("AKIAREADEREXAMPLE001", "reader/secret/0123456789abcdefghijklm",
               {"Version": "2012-10-17", "Statement": [
                   {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"}]}),
    "nobody": ("AKIANOBODYEXAMPLE001", "nobody/secret/0123456789abcdefghijklm", None),
}


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def users_config(account: str, users: dict, extra: str = "") -> str:
    """A config of one account with `users` = {name: (access key, secret, policy or None)}."""
    return gateway_config(account, users=users, extra=extra)


def kms_config(extra: str = "") -> str:
    return users_config(ACCOUNT, USERS, extra)


def kms_client(endpoint: str, user: str | None = None, *, verify: bool = True, region: str = REGION,
               validate: bool = True):
    """A boto3 KMS client; validate=False lets out-of-range values reach the server."""
    ak, sk = (ACCESS_KEY, SECRET_KEY) if user is None else USERS[user][:2]
    return boto3.session.Session().client(
        "kms", endpoint_url=endpoint, region_name=region, aws_access_key_id=ak,
        aws_secret_access_key=sk, verify=verify,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, parameter_validation=validate))


def error_code(excinfo: pytest.ExceptionInfo) -> str:
    assert isinstance(excinfo.value, ClientError)
    return excinfo.value.response["Error"]["Code"]


def assert_error(fn, code: str, *, status: int = 400, message: str | None = None):
    with pytest.raises(ClientError) as e:
        fn()
    err = e.value.response["Error"]
    assert err["Code"] == code, e.value.response
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    if message is not None:
        assert message in err["Message"], err["Message"]
    return err


def clocked_server(root, name: str, extra_config: str = ""):
    """A started gateway whose clock the test can move (SEALGATE_CLOCK_OFFSET_FILE)."""
    from conftest import SealgateServer
    offset = root / "clock-offset"
    offset.write_text("0")
    srv = SealgateServer(root, name=name, config=kms_config(extra_config),
                         env={"SEALGATE_CLOCK_OFFSET_FILE": str(offset)})
    srv.clock_file = offset
    return srv.start()


@contextlib.contextmanager
def clock_mover(srv):
    """Yields move(days), which shifts the gateway's clock forward; reset afterwards."""
    total = [0.0]

    def move(days: float):
        total[0] += days * 86400
        srv.clock_file.write_text(str(total[0]))

    try:
        yield move
    finally:
        srv.clock_file.write_text("0")


def clocked_kms_fixtures(name: str):
    """The fixtures of a module that tests the KMS on its own clocked gateway: `kms_server`
    (module-scoped), `kms` (a boto3 client) and `advance` (moves the clock, reset after)."""
    import pytest

    @pytest.fixture(scope="module")
    def kms_server(tmp_path_factory):
        srv = clocked_server(tmp_path_factory.mktemp(name), name)
        yield srv
        srv.kill()

    @pytest.fixture
    def kms(kms_server):
        return kms_client(kms_server.endpoint)

    @pytest.fixture
    def advance(kms_server):
        with clock_mover(kms_server) as move:
            yield move

    return kms_server, kms, advance
