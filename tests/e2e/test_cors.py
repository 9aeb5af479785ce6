"""CORS as S3 has it: Put/Get/DeleteBucketCors through boto3 and the aws CLI, the OPTIONS
preflight and the Access-Control-* headers exactly as S3 sends them (403 when no rule
matches), and a real page in headless Chromium doing fetch() PUT and GET with presigned URLs."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from helpers import error_of, unique_bucket
from test_console import browser  # noqa: F401 (the fixture)

APP = "https://app.example.com"
RULES = [
    {"ID": "app", "AllowedOrigins": [APP, "https://*.example.org"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["Content-*", "x-amz-*"], "ExposeHeaders": ["ETag", "x-amz-version-id"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
]


def test_the_configuration_is_kept_shown_and_deleted(s3, bucket):
    assert error_of(lambda: s3.get_bucket_cors(Bucket=bucket))[:2] == (404, "NoSuchCORSConfiguration")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    s3.delete_bucket_cors(Bucket=bucket)
    assert error_of(lambda: s3.get_bucket_cors(Bucket=bucket))[:2] == (404, "NoSuchCORSConfiguration")
    assert error_of(lambda: s3.get_bucket_cors(Bucket=unique_bucket("none")))[:2] == (404, "NoSuchBucket")


def test_bad_configurations_get_s3s_errors(s3, bucket):
    def put(rule):
        return error_of(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]}))
    assert put({"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}) == (
        400, "InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported method is PATCH")
    assert put({"AllowedOrigins": ["https://*.*.example"], "AllowedMethods": ["GET"]}) == (
        400, "InvalidRequest", 'AllowedOrigin "https://*.*.example" can not have more than one wildcard.')
    too_many = [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101
    assert error_of(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": too_many}))[:2] == (
        400, "MalformedXML")
    assert error_of(lambda: s3.get_bucket_cors(Bucket=bucket))[:2] == (404, "NoSuchCORSConfiguration")


def test_the_aws_cli_puts_and_gets_the_configuration(aws, bucket, tmp_path):
    path = tmp_path / "cors.json"
    path.write_text(json.dumps({"CORSRules": RULES}))
    aws("s3api", "put-bucket-cors", "--bucket", bucket, "--cors-configuration", f"file://{path}")
    shown = json.loads(aws("s3api", "get-bucket-cors", "--bucket", bucket).stdout_text)
    assert shown["CORSRules"] == RULES
    aws("s3api", "delete-bucket-cors", "--bucket", bucket)
    missing = aws("s3api", "get-bucket-cors", "--bucket", bucket, check=False)
    assert missing.returncode != 0 and "NoSuchCORSConfiguration" in missing.stderr_text


def preflight(server, path, origin=APP, method="PUT", headers=None):
    h = {}
    if origin:
        h["Origin"] = origin
    if method:
        h["Access-Control-Request-Method"] = method
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return requests.options(f"{server.endpoint}{path}", headers=h, timeout=10)


def test_preflights_are_answered_as_s3_answers_them(server, s3, bucket):
    r = preflight(server, f"/{bucket}/k")
    assert r.status_code == 403
    assert "<Code>AccessForbidden</Code>" in r.text
    assert "CORSResponse: CORS is not enabled for this bucket." in r.text
    assert "<Method>PUT</Method><ResourceType>OBJECT</ResourceType>" in r.text

    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    r = preflight(server, f"/{bucket}/k", headers="content-type, x-amz-meta-a")
    assert r.status_code == 200, r.text
    h = r.headers
    assert h["Access-Control-Allow-Origin"] == APP
    assert h["Access-Control-Allow-Methods"] == "GET, PUT"
    assert h["Access-Control-Allow-Headers"] == "content-type, x-amz-meta-a"
    assert h["Access-Control-Expose-Headers"] == "ETag, x-amz-version-id"
    assert (h["Access-Control-Max-Age"], h["Access-Control-Allow-Credentials"]) == ("600", "true")
    assert "Origin" in h["Vary"]
    assert r.headers["x-amz-request-id"]
    # The wildcard origin, and the any-origin rule that allows no credentials.
    assert preflight(server, f"/{bucket}/k", origin="https://a.example.org", method="GET").status_code == 200
    r = preflight(server, f"/{bucket}", origin="https://elsewhere.test", method="HEAD")
    assert (r.status_code, r.headers["Access-Control-Allow-Origin"]) == (200, "*")
    assert "Access-Control-Allow-Credentials" not in r.headers

    for refused in (dict(origin="https://evil.test"), dict(method="DELETE"), dict(headers="authorization")):
        r = preflight(server, f"/{bucket}/k", **refused)
        assert r.status_code == 403, refused
        assert "CORSResponse: This CORS request is not allowed." in r.text
        assert "Access-Control-Allow-Origin" not in r.headers
    r = preflight(server, f"/{bucket}/k", origin=None)
    assert (r.status_code, "<Code>BadRequest</Code>" in r.text) == (400, True)
    assert "Origin request header needed" in r.text
    r = preflight(server, f"/{bucket}/k", method="PATCH")
    assert (r.status_code, "Invalid Access-Control-Request-Method: PATCH" in r.text) == (400, True)
    assert preflight(server, f"/{unique_bucket('none')}/k").status_code == 404


def test_answers_to_allowed_origins_carry_the_headers_errors_included(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    r = requests.get(url, headers={"Origin": APP}, timeout=10)
    assert (r.status_code, r.content) == (200, b"x")
    assert r.headers["Access-Control-Allow-Origin"] == APP
    assert r.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-version-id"
    missing = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "missing"})
    r = requests.get(missing, headers={"Origin": APP}, timeout=10)
    assert (r.status_code, r.headers.get("Access-Control-Allow-Origin")) == (404, APP)
    # Another origin, or a method no rule allows for it: no CORS headers, the answer unchanged.
    r = requests.get(url, headers={"Origin": "https://evil.test"}, timeout=10)
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
    r = requests.get(url, timeout=10)
    assert "Access-Control-Allow-Origin" not in r.headers


PAGE = b"""<!doctype html><html><head><title>app</title></head><body><script>
async function roundTrip(putUrl, getUrl) {
  try {
    const put = await fetch(putUrl, {method: "PUT", body: "written by a browser",
                                     headers: {"Content-Type": "text/plain"}});
    const got = await fetch(getUrl);
    return {put: put.status, etag: put.headers.get("ETag"), get: got.status, body: await got.text()};
  } catch (e) {
    return {blocked: String(e)};
  }
}
</script></body></html>"""


class Page(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture
def app_origin():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_browser_page_puts_and_gets_with_presigned_urls(browser, app_origin, s3, bucket):  # noqa: F811
    def round_trip(key):
        put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key, "ContentType": "text/plain"})
        get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
        browser.set_script_timeout(30)
        return browser.execute_async_script(
            "roundTrip(arguments[0], arguments[1]).then(arguments[arguments.length - 1]);", put, get)

    browser.get(app_origin)
    # Without a rule the browser refuses to let the page see anything.
    assert "blocked" in round_trip("refused.txt")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [app_origin], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["content-type"],
         "ExposeHeaders": ["ETag"]}]})
    result = round_trip("from-browser.txt")
    assert result["put"] == 200 and result["get"] == 200, result
    assert result["body"] == "written by a browser"
    assert result["etag"] == s3.head_object(Bucket=bucket, Key="from-browser.txt")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="from-browser.txt")["ContentType"] == "text/plain"
