"""Slow and abusive clients are cut while the others are served ([limits]): request heads that
never finish, bodies that stall, kept-alive connections left idle, and more connections than
one address, or everyone together, may hold. The gateways here run with timeouts of seconds."""

import select
import socket
import ssl
import threading
import time
import urllib.parse

import requests

from helpers import KiB, body_of, client_error, unique_bucket

HEADER, BODY, IDLE = 2, 2, 5
# How late a cut may come on a busy test machine.
SLACK = 1.5


def limits(header=HEADER, body=BODY, idle=IDLE, total=200, per_ip=100) -> str:
    return (f"[limits]\nheader_read_timeout_secs = {header}\nbody_read_timeout_secs = {body}\n"
            f"idle_timeout_secs = {idle}\nmax_connections = {total}\nmax_connections_per_ip = {per_ip}\n")


def connect(srv, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=10, source_address=(source, 0))


def request_line(srv, method: str = "GET", target: str = "/", extra: str = "") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n{extra}\r\n".encode()


def read_response(sock: socket.socket, timeout: float = 10) -> tuple[int, bytes]:
    """The status and body of one HTTP/1.1 answer (with a Content-Length) read off `sock`."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"connection closed after {data!r}"
        data += piece
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    length = next(int(v) for k, v in (ln.split(":", 1) for ln in lines[1:]) if k.lower() == "content-length")
    while len(body) < length:
        piece = sock.recv(65536)
        assert piece, "connection closed mid-body"
        body += piece
    return int(lines[0].split()[1]), body


def served(sock: socket.socket, srv) -> bool:
    """Whether a request on `sock` gets an HTTP answer (whatever its status)."""
    try:
        sock.sendall(request_line(srv))
        read_response(sock, timeout=5)
        return True
    except (OSError, AssertionError):
        return False


def seconds_until_closed(sock: socket.socket, within: float) -> float | None:
    """How long until the gateway closes `sock` (EOF or reset), discarding what it sends;
    None if it is still open after `within` seconds."""
    start = time.monotonic()
    while (left := within - (time.monotonic() - start)) > 0:
        if select.select([sock], [], [], left)[0]:
            try:
                if not sock.recv(65536):
                    return time.monotonic() - start
            except OSError:
                return time.monotonic() - start
    return None


def metric(srv, name: str, **labels) -> float:
    text = requests.get(f"{srv.admin_endpoint}/metrics", timeout=10).text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] == name and ",".join(sorted(series[len(name) + 1:-1].split(","))) == want:
            return float(value)
    return 0.0


def test_slowloris_connections_are_cut_within_the_header_timeout_while_others_are_served(server_factory):
    srv = server_factory("slowloris", config=limits())
    s3 = srv.client()
    bucket = unique_bucket("slowloris")
    s3.create_bucket(Bucket=bucket)
    head = request_line(srv, "GET", f"/{bucket}/k", "X-Padding: " + "a" * 200 + "\r\n")
    slow = [connect(srv) for _ in range(40)]
    opened = time.monotonic()
    cut_after: dict[int, float] = {}

    def trickle():
        # One byte a second to each connection still open, noting when each is cut.
        for second in range(HEADER + 5):
            for i, sock in enumerate(slow):
                if i not in cut_after:
                    try:
                        sock.send(head[second:second + 1])
                    except OSError:
                        cut_after[i] = time.monotonic() - opened
            until = opened + second + 1
            while (left := until - time.monotonic()) > 0 and len(cut_after) < len(slow):
                open_ = [s for i, s in enumerate(slow) if i not in cut_after]
                for sock in select.select(open_, [], [], left)[0]:
                    try:
                        closed = not sock.recv(1)
                    except OSError:
                        closed = True
                    if closed:
                        cut_after[slow.index(sock)] = time.monotonic() - opened

    attack = threading.Thread(target=trickle)
    attack.start()
    latencies = []
    while attack.is_alive():
        start = time.monotonic()
        s3.put_object(Bucket=bucket, Key="k", Body=b"served during the attack")
        assert body_of(s3.get_object(Bucket=bucket, Key="k")) == b"served during the attack"
        latencies.append(time.monotonic() - start)
        time.sleep(0.05)
    attack.join()
    for sock in slow:
        sock.close()

    assert len(cut_after) == 40, f"still open: {40 - len(cut_after)}"
    assert HEADER - 0.2 <= min(cut_after.values()) and max(cut_after.values()) <= HEADER + SLACK, cut_after
    assert max(latencies) < 1.0, f"{len(latencies)} requests served during the attack, slowest {max(latencies):.2f}s"
    assert metric(srv, "sealgate_client_timeouts_total", listener="api", timeout="header_read") >= 40


def test_a_silent_tls_connection_is_cut_within_the_header_timeout(server_factory):
    srv = server_factory("tls-silent", config=limits(), tls=True)
    silent = connect(srv)  # never begins the TLS handshake
    waited = seconds_until_closed(silent, HEADER + SLACK + 1)
    assert waited is not None and HEADER - 0.2 <= waited <= HEADER + SLACK, waited
    # A client that does shake hands is served.
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with ctx.wrap_socket(connect(srv)) as tls:
        assert served(tls, srv)


def test_the_admin_listener_cuts_silent_connections_too(server_factory):
    srv = server_factory("admin-silent", config=limits())
    silent = socket.create_connection(("127.0.0.1", srv.admin_port), timeout=10)
    waited = seconds_until_closed(silent, HEADER + SLACK + 1)
    assert waited is not None and HEADER - 0.2 <= waited <= HEADER + SLACK, waited
    assert metric(srv, "sealgate_client_timeouts_total", listener="admin", timeout="header_read") == 1


def test_a_stalled_upload_gets_request_timeout_and_stores_nothing(server_factory):
    srv = server_factory("stalled", config=limits())
    s3 = srv.client()
    bucket = unique_bucket("stalled")
    s3.create_bucket(Bucket=bucket)
    blobs_before = srv.stored_blobs()
    url = urllib.parse.urlsplit(s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "stalled"}, ExpiresIn=300))
    sock = connect(srv)
    sock.sendall(request_line(srv, "PUT", f"{url.path}?{url.query}", f"Content-Length: {1 << 20}\r\n")
                 + b"x" * (64 * KiB))
    start = time.monotonic()
    status, body = read_response(sock, timeout=BODY + SLACK + 5)
    waited = time.monotonic() - start
    assert status == 400 and b"<Code>RequestTimeout</Code>" in body, body
    assert BODY - 0.2 <= waited <= BODY + SLACK, waited
    # The rest of the body will never come: the connection is not kept.
    assert seconds_until_closed(sock, 2) is not None
    with client_error(404):
        s3.head_object(Bucket=bucket, Key="stalled")
    assert srv.stored_blobs().keys() == blobs_before.keys()
    assert metric(srv, "sealgate_client_timeouts_total", listener="api", timeout="body_read") == 1
    assert metric(srv, "sealgate_requests_total", api="s3", operation="PutObject", status="400") == 1


def test_an_upload_that_keeps_sending_is_never_cut(server_factory):
    srv = server_factory("steady", config=limits())
    s3 = srv.client()
    bucket = unique_bucket("steady")
    s3.create_bucket(Bucket=bucket)
    url = urllib.parse.urlsplit(s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "steady"}, ExpiresIn=300))
    pieces = [bytes([i]) * (256 * KiB) for i in range(4)]
    sock = connect(srv)
    sock.sendall(request_line(srv, "PUT", f"{url.path}?{url.query}",
                              f"Content-Length: {sum(map(len, pieces))}\r\n"))
    start = time.monotonic()
    for piece in pieces:
        # Each gap is shorter than the body timeout; all of them together are longer than
        # the header and body timeouts.
        time.sleep(BODY * 0.7)
        sock.sendall(piece)
    status, body = read_response(sock)
    assert status == 200, body
    assert time.monotonic() - start > HEADER + BODY
    assert body_of(s3.get_object(Bucket=bucket, Key="steady")) == b"".join(pieces)


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(server_factory):
    srv = server_factory("idle", config=limits())
    sock = connect(srv)
    assert served(sock, srv)
    # Idle for longer than the header timeout: still open, and still serves.
    time.sleep(HEADER + 1)
    assert served(sock, srv)
    waited = seconds_until_closed(sock, IDLE + SLACK + 1)
    assert waited is not None and IDLE - 0.2 <= waited <= IDLE + SLACK, waited
    assert metric(srv, "sealgate_client_timeouts_total", listener="api", timeout="idle") >= 1


def test_a_head_begun_on_a_kept_alive_connection_must_finish_within_the_header_timeout(server_factory):
    srv = server_factory("next-head", config=limits())
    sock = connect(srv)
    assert served(sock, srv)
    time.sleep(0.5)
    sock.sendall(b"GET / HT")
    waited = seconds_until_closed(sock, IDLE + SLACK)
    assert waited is not None and HEADER - 0.2 <= waited <= HEADER + SLACK, waited


def test_one_address_gets_no_more_than_its_share_of_connections(server_factory):
    srv = server_factory("per-ip", config=limits(header=30, per_ip=3))
    held = [connect(srv) for _ in range(3)]
    assert all(served(sock, srv) for sock in held)
    extra = connect(srv)
    waited = seconds_until_closed(extra, 2)
    assert waited is not None and waited < 0.5, waited
    # Another address is served meanwhile, and a place freed is taken again.
    with connect(srv, source="127.0.0.2") as other:
        assert served(other, srv)
    held.pop().close()
    time.sleep(0.2)
    with connect(srv) as again:
        assert served(again, srv)
    assert metric(srv, "sealgate_connections_refused_total", listener="api", limit="max_connections_per_ip") == 1


def test_the_connection_limit_refuses_the_next_connection_and_spares_the_admin_listener(server_factory):
    srv = server_factory("total", config=limits(header=30, total=4, per_ip=0))
    held = [connect(srv, source=f"127.0.0.{i + 1}") for i in range(4)]
    assert all(served(sock, srv) for sock in held)
    extra = connect(srv, source="127.0.0.9")
    waited = seconds_until_closed(extra, 2)
    assert waited is not None and waited < 0.5, waited
    # Health checks and scrapes have their own count.
    assert requests.get(f"{srv.admin_endpoint}/health/live", timeout=5).status_code == 200
    held.pop().close()
    time.sleep(0.2)
    with connect(srv, source="127.0.0.9") as again:
        assert served(again, srv)
    assert metric(srv, "sealgate_connections_refused_total", listener="api", limit="max_connections") == 1
    assert "refusing connections" in srv.log_text()
