"""The test backend itself (tests/backend/backend.py), directly, without the proxy: the proxy
tests rely on each of these behaviours, so they are checked on their own first."""
import hashlib
import json
import os
import socket
import struct
import time

from proxyutil import (backends, numbered_blocks, raw_exchange, read_response, request,  # noqa: F401
                       status_of, wrk)
from test_proxy_websocket import handshake, recv_frame, send_frame


def test_name_echo_and_status(backends):  # noqa: F811
    (b,) = backends("blue")
    r = request(b.port, "/")
    assert r.status == 200 and r.body == b"blue\n" and r.header("x-backend") == "blue"
    e = request(b.port, "/echo?a=1", headers={"X-Test": "yes", "Host": "h.example"}).json()
    assert e["query"] == {"a": "1"} and ["X-Test", "yes"] in e["headers"]
    assert ["Host", "h.example"] in e["headers"]
    assert request(b.port, "/?status=503").status == 503
    t0 = time.monotonic()
    assert request(b.port, "/?delay=0.5").status == 200 and time.monotonic() - t0 >= 0.5


def test_health_control_and_counters(backends):  # noqa: F811
    (b,) = backends("blue")
    assert request(b.port, "/health").status == 200
    b.control(health="fail")
    assert request(b.port, "/health").status == 500
    st = b.control(health="ok", status=502)
    assert st["health_ok"] == 1 and st["health_fail"] == 1
    assert request(b.port, "/").status == 502
    b.control(status=None, reset=True)
    raw, closed = raw_exchange(b.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw == b"" and closed
    b.control(reset=False)
    assert b.state()["requests"] == 2         # "/" twice (502, reset); /health not counted


def test_reset_is_an_rst_before_any_byte(backends):  # noqa: F811
    (b,) = backends("blue")
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
        s.sendall(b"GET /?reset=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
            assert data == b"", data
            raise AssertionError("expected a reset, got an orderly close")
        except ConnectionResetError:
            pass


def test_chunked_both_ways_pipelining_and_http10(backends):  # noqa: F811
    (b,) = backends("blue")
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
        s.sendall(b"POST /sink?sha256=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\nGET /?chunked=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /echo?n=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        f = s.makefile("rb")
        r = read_response(f)
        assert json.loads(r.body) == {"name": "blue", "bytes": 5,
                                      "sha256": hashlib.sha256(b"hello").hexdigest()}
        r = read_response(f)
        assert r.header("transfer-encoding") == "chunked"
        assert r.body == b"chunk 0\nchunk 1\nchunk 2\n"
        assert json.loads(read_response(f).body)["query"] == {"n": "3"}
    raw, closed = raw_exchange(b.port, b"GET / HTTP/1.0\r\n\r\n")
    assert status_of(raw) == 200 and closed


def test_websocket_echo(backends):  # noqa: F811
    (b,) = backends("blue")
    s, f, r, accept = handshake(b.port)
    with s:
        assert r.status == 101 and r.header("sec-websocket-accept") == accept
        for payload in (b"x", os.urandom(200), os.urandom(70000)):
            send_frame(s, 0x2, payload)
            assert recv_frame(f) == (0x2, True, payload)
        send_frame(s, 0x8, struct.pack("!H", 1000))
        assert recv_frame(f)[0] == 0x8


def test_sink_counts_a_large_upload(backends):  # noqa: F811
    (b,) = backends("blue")
    total = 64 << 20
    h = hashlib.sha256()
    with socket.create_connection(("127.0.0.1", b.port), timeout=30) as s:
        s.sendall(b"POST /sink?sha256=1 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
        for block in numbered_blocks(total):
            h.update(block)
            s.sendall(block)
        out = read_response(s.makefile("rb")).json()
    assert out["bytes"] == total and out["sha256"] == h.hexdigest()


def test_keeps_up_with_64_connections(backends):  # noqa: F811
    (b,) = backends("blue")
    r = wrk(f"http://127.0.0.1:{b.port}/", connections=64, threads=2, duration=20, budget=20000)
    r.assert_clean(min_requests=20000)
    assert r.bodies == {"blue": r.answered}
