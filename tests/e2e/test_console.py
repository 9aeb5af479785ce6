"""The web console on the admin listener, driven by headless Chromium (Debian's `chromium`
and `chromium-driver`, through selenium) and, where a browser hides what is checked (status
codes, forged forms), by plain HTTP requests: sign-in, keys, the audit trail, refusals as
the APIs refuse, CSRF and session expiry."""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import SealgateServer
from helpers import ACCESS_KEY, SECRET_KEY, unique_bucket
from test_iam import allow, client, new_user

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


def require_browser():
    if CHROMIUM and CHROMEDRIVER:
        return
    why = "the console tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
    if os.environ.get("SEALGATE_REQUIRE_BROWSER") == "1":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = SealgateServer(tmp_path_factory.mktemp("console"), name="console").start()
    yield s
    s.stop()


@pytest.fixture
def browser():
    require_browser()
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.ID, element_id)


def submit(driver, button: str):
    """Clicks a form's button and waits for the page it leads to."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    page = driver.find_element(By.TAG_NAME, "html")
    by_id(driver, button).click()

    def replaced(_):
        try:
            page.is_enabled()
            return False
        # Stale, or (a chromedriver race) "node does not belong to the document": gone either way.
        except WebDriverException:
            return True

    WebDriverWait(driver, 15).until(replaced)


def sign_in(driver, srv, ak: str = ACCESS_KEY, sk: str = SECRET_KEY):
    driver.get(f"{srv.admin_endpoint}/")
    assert driver.current_url.endswith("/console/sign-in")
    by_id(driver, "access_key").send_keys(ak)
    by_id(driver, "secret_key").send_keys(sk)
    submit(driver, "sign-in")


def confirm_and_click(driver, confirm: str, button: str):
    by_id(driver, confirm).click()
    submit(driver, button)


def audit_rows(driver, srv, key_id: str) -> list[tuple[str, str, str]]:
    """(service, operation, result) of the audit page's records of a key, filtered by the page."""
    from selenium.webdriver.common.by import By
    driver.get(f"{srv.admin_endpoint}/console/audit")
    by_id(driver, "filter-key").send_keys(key_id)
    submit(driver, "filter")
    rows = driver.find_elements(By.CSS_SELECTOR, "#records tr.record")
    return [tuple(r.find_element(By.CLASS_NAME, c).text for c in ("service", "operation", "result")) for r in rows]


def http_session(srv, ak: str = ACCESS_KEY, sk: str = SECRET_KEY) -> requests.Session:
    """A signed-in console session over plain HTTP, as a browser on the console's own page."""
    s = requests.Session()
    s.headers["Origin"] = srv.admin_endpoint
    r = s.post(f"{srv.admin_endpoint}/console/sign-in", data={"access_key": ak, "secret_key": sk},
               allow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "/console/keys"
    return s


def csrf_of(s: requests.Session, srv) -> str:
    page = s.get(f"{srv.admin_endpoint}/console/keys")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)


def test_root_creates_and_disables_a_key_and_sees_the_refused_get_in_the_audit_trail(srv, browser):
    sign_in(browser, srv)
    assert browser.current_url.endswith("/console/keys")
    assert by_id(browser, "principal").text.endswith(":root")
    cookie = browser.get_cookie("sealgate_console")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert len(cookie["value"]) == 64

    by_id(browser, "new-key-description").send_keys("made in the console")
    submit(browser, "create-key")
    key_id = by_id(browser, "key-id").text
    assert by_id(browser, "done").text == "CreateKey succeeded."
    assert by_id(browser, "key-state").text == "Enabled"
    assert '"kms:*"' in by_id(browser, "key-policy").text

    s3 = srv.client()
    bucket = unique_bucket("console")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"under the console's key",
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"under the console's key"

    confirm_and_click(browser, "disable-confirm", "disable")
    assert by_id(browser, "done").text == "DisableKey succeeded."
    assert by_id(browser, "key-state").text == "Disabled"
    assert client(srv, "kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"

    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=bucket, Key="secret.txt")
    assert refused.value.response["Error"]["Code"] == "KMS.DisabledException"

    rows = audit_rows(browser, srv, key_id)
    assert ("kms", "DisableKey", "Success") in rows
    assert ("s3", "Decrypt", "DisabledException") in rows
    assert ("kms", "CreateKey", "Success") in rows
    assert by_id(browser, "chain-state").text.startswith("Chain intact")
    # Newest first: the refused GET came after the DisableKey.
    assert rows.index(("s3", "Decrypt", "DisabledException")) < rows.index(("kms", "DisableKey", "Success"))

    # The buckets pages show the bucket as S3 would.
    browser.get(f"{srv.admin_endpoint}/console/buckets")
    assert bucket in browser.page_source
    browser.get(f"{srv.admin_endpoint}/console/buckets/{bucket}")
    assert "SSE-S3" in browser.page_source and "never enabled" in browser.page_source
    assert "No replication configuration." in browser.page_source


def test_a_user_without_disable_key_sees_the_key_and_is_refused_as_the_api_refuses(srv, browser):
    iam = client(srv, "iam")
    name, ak, sk = new_user(iam, allow("kms:Describe*", "kms:List*", "kms:Get*"))
    key_id = client(srv, "kms").create_key(Description="not theirs to disable")["KeyMetadata"]["KeyId"]

    sign_in(browser, srv, ak, sk)
    assert by_id(browser, "principal").text.endswith(f":user/{name}")
    assert key_id in browser.page_source
    browser.get(f"{srv.admin_endpoint}/console/keys/{key_id}")
    assert by_id(browser, "key-state").text == "Enabled"
    confirm_and_click(browser, "disable-confirm", "disable")
    assert by_id(browser, "error-code").text == "AccessDeniedException"
    message = by_id(browser, "error-message").text
    assert f"user/{name} is not authorized to perform: kms:DisableKey" in message, message
    assert by_id(browser, "sign-out").is_displayed()
    assert client(srv, "kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"

    # The same refusal has status 403, and the API refuses the same user the same way.
    s = http_session(srv, ak, sk)
    r = s.post(f"{srv.admin_endpoint}/console/keys/{key_id}/disable",
               data={"csrf": csrf_of(s, srv), "confirm": "yes"}, allow_redirects=False)
    assert r.status_code == 403 and "AccessDeniedException" in r.text and "kms:DisableKey" in r.text
    with pytest.raises(ClientError) as api:
        client(srv, "kms", ak, sk).disable_key(KeyId=key_id)
    assert api.value.response["Error"]["Code"] == "AccessDeniedException"
    # Nor may this user read the audit trail, list buckets or IAM users.
    for page in ("audit", "buckets", "iam"):
        r = s.get(f"{srv.admin_endpoint}/console/{page}")
        assert r.status_code == 403 and "AccessDenied" in r.text, page
    # Root sees the user and its access key on the IAM page.
    iam_page = http_session(srv).get(f"{srv.admin_endpoint}/console/iam")
    assert iam_page.status_code == 200 and name in iam_page.text and ak in iam_page.text


def test_wrong_secrets_and_unknown_keys_are_refused_alike(srv, browser):
    sign_in(browser, srv, ACCESS_KEY, SECRET_KEY + "x")
    assert by_id(browser, "sign-in-error").text == "The access key or the secret key is wrong."
    assert browser.get_cookie("sealgate_console") is None
    browser.get(f"{srv.admin_endpoint}/console/keys")
    assert browser.current_url.endswith("/console/sign-in")

    base = srv.admin_endpoint
    wrong = requests.post(f"{base}/console/sign-in", data={"access_key": ACCESS_KEY, "secret_key": "nope"})
    unknown = requests.post(f"{base}/console/sign-in", data={"access_key": "AKIANOSUCHKEY0000000", "secret_key": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.text == unknown.text
    assert "set-cookie" not in wrong.headers


def test_forms_without_the_sessions_token_or_from_elsewhere_are_refused(srv):
    s = http_session(srv)
    base = srv.admin_endpoint
    kms = client(srv, "kms")
    before = len(kms.list_keys()["Keys"])
    token = csrf_of(s, srv)
    missing = s.post(f"{base}/console/keys", data={"description": "forged"}, allow_redirects=False)
    assert missing.status_code == 403 and "InvalidCsrfToken" in missing.text
    wrong = s.post(f"{base}/console/keys", data={"description": "forged", "csrf": "0" * 64}, allow_redirects=False)
    assert wrong.status_code == 403
    elsewhere = s.post(f"{base}/console/keys", data={"description": "forged", "csrf": token},
                       headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert elsewhere.status_code == 403 and "CrossOriginRequest" in elsewhere.text
    cross_site = s.post(f"{base}/console/keys", data={"description": "forged", "csrf": token},
                        headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False)
    assert cross_site.status_code == 403
    assert len(kms.list_keys()["Keys"]) == before
    # Destructive actions need their confirmation, whatever the browser enforces.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    unconfirmed = s.post(f"{base}/console/keys/{key_id}/schedule-deletion", data={"csrf": token, "days": "7"},
                         allow_redirects=False)
    assert unconfirmed.status_code == 400 and "ConfirmationRequired" in unconfirmed.text
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    done = s.post(f"{base}/console/keys/{key_id}/schedule-deletion",
                  data={"csrf": token, "days": "7", "confirm": "yes"}, allow_redirects=False)
    assert done.status_code == 303
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    # With the token, the form works; signing out ends the session.
    created = s.post(f"{base}/console/keys", data={"description": "real", "csrf": token}, allow_redirects=False)
    assert created.status_code == 303 and created.headers["Location"].startswith("/console/keys/")
    assert s.post(f"{base}/console/sign-out", data={"csrf": token}, allow_redirects=False).status_code == 303
    assert s.get(f"{base}/console/keys", allow_redirects=False).headers["Location"] == "/console/sign-in"


def test_sessions_expire_when_idle_and_after_their_lifetime(server_factory, browser):
    srv = server_factory("console-expiry", config="[admin]\nsession_idle_secs = 3\nsession_max_secs = 6\n")
    sign_in(browser, srv)
    assert browser.current_url.endswith("/console/keys")
    time.sleep(3.5)
    browser.get(f"{srv.admin_endpoint}/console/keys")
    assert browser.current_url.endswith("/console/sign-in"), "idle for longer than session_idle_secs"

    # In use every second, never idle for long, yet ended once its lifetime is over.
    s = http_session(srv)
    started = time.monotonic()
    while time.monotonic() - started < 5.2:
        assert s.get(f"{srv.admin_endpoint}/console/keys", allow_redirects=False).status_code == 200
        time.sleep(1.0)
    time.sleep(max(0.0, 6.5 - (time.monotonic() - started)))
    r = s.get(f"{srv.admin_endpoint}/console/keys", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/console/sign-in", "past session_max_secs"
