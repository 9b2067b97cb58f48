"""HTTP/1 behaviour through the proxy, as a client sees it: forwarding headers, hop-by-hop
removal, Host preserved, pipelining in order, HTTP/1.0 clients, chunked bodies both ways, no body
on HEAD/204/304, the head-size limit (431) and the client idle timeout."""
import hashlib
import http.client
import json
import os
import socket
import time

from proxyutil import (backends, proxy, raw_exchange, read_response, request, status_of,  # noqa: F401
                       two_group_conf)


def start(backends, proxy, **kw):  # noqa: F811
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green], **kw))
    p.wait_states("blue", {blue.addr: "healthy"})
    return p, blue, green


def echoed(resp):
    assert resp.status == 200, resp
    return resp.json()


def header_values(echo, name):
    return [v for k, v in echo["headers"] if k.lower() == name.lower()]


def test_forwarded_headers_added_and_host_preserved(backends, proxy):  # noqa: F811
    p, blue, _ = start(backends, proxy)
    e = echoed(request(p.port(), "/echo?x=1", headers={"Host": "app.example:8080",
                                                       "X-Forwarded-For": "203.0.113.7"}))
    assert e["name"] == "blue"
    assert e["target"] == "/echo?x=1", "request-target must be forwarded as sent"
    assert header_values(e, "Host") == ["app.example:8080"], e["headers"]
    assert header_values(e, "X-Forwarded-For") == ["203.0.113.7, 127.0.0.1"], e["headers"]
    assert header_values(e, "X-Forwarded-Proto") == ["http"], e["headers"]
    assert header_values(e, "X-Forwarded-Port") == [str(p.port())], e["headers"]

    # Without a client X-Forwarded-For the proxy starts one.
    e = echoed(request(p.port(), "/echo"))
    assert header_values(e, "X-Forwarded-For") == ["127.0.0.1"], e["headers"]


def test_hop_by_hop_headers_removed_end_to_end_kept(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    e = echoed(request(p.port(), "/echo", headers={
        "Connection": "keep-alive, X-Private",
        "X-Private": "secret",
        "Keep-Alive": "timeout=5",
        "Proxy-Connection": "keep-alive",
        "TE": "trailers",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-End-To-End": "kept",
        "Accept": "text/plain",
    }))
    names = {k.lower() for k, _ in e["headers"]}
    for gone in ("x-private", "keep-alive", "proxy-connection", "te", "proxy-authorization"):
        assert gone not in names, f"{gone} must not reach the target: {e['headers']}"
    assert header_values(e, "X-End-To-End") == ["kept"]
    assert header_values(e, "Accept") == ["text/plain"]
    for v in header_values(e, "Connection"):
        assert "x-private" not in v.lower()


def test_pipelined_requests_answered_in_order(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    reqs = b"".join(
        b"GET /echo?n=%d%s HTTP/1.1\r\nHost: pipe\r\n\r\n" % (i, b"&delay=0.3" if i == 1 else b"")
        for i in range(1, 6))
    with socket.create_connection(("127.0.0.1", p.port()), timeout=10) as s:
        s.sendall(reqs)                         # all five in one segment
        f = s.makefile("rb")
        order = [json.loads(read_response(f).body)["query"]["n"] for _ in range(5)]
    assert order == ["1", "2", "3", "4", "5"]


def test_http10_client_gets_answer_and_close(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    t0 = time.monotonic()
    raw, closed = raw_exchange(p.port(), b"GET /echo HTTP/1.0\r\n\r\n", timeout=5)
    assert status_of(raw) == 200, raw[:200]
    assert closed and time.monotonic() - t0 < 4, "HTTP/1.0 without keep-alive must be closed"
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["method"] == "GET"


def test_chunked_request_body_streamed_to_target(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    h = hashlib.sha256()
    total = 0

    def gen():
        nonlocal total
        for i in range(200):
            piece = os.urandom(1000 + i * 37)
            h.update(piece)
            total += len(piece)
            yield piece
    conn = http.client.HTTPConnection("127.0.0.1", p.port(), timeout=20)
    conn.request("POST", "/sink?sha256=1", body=gen(), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    r = conn.getresponse()
    out = json.loads(r.read())
    conn.close()
    assert r.status == 200
    assert out["bytes"] == total and out["sha256"] == h.hexdigest()


def test_chunked_response_relayed(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    r = request(p.port(), "/?chunked=500")
    assert r.status == 200
    assert r.body == b"".join(b"chunk %d\n" % i for i in range(500))
    # Keep-alive survives a chunked response: a second request on the same connection.
    conn = http.client.HTTPConnection("127.0.0.1", p.port(), timeout=10)
    for _ in range(3):
        r = request(p.port(), "/?chunked=3", conn=conn)
        assert r.status == 200 and r.body == b"chunk 0\nchunk 1\nchunk 2\n"
    conn.close()


def test_large_download_streamed(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    size = 64 << 20
    with socket.create_connection(("127.0.0.1", p.port()), timeout=20) as s:
        s.sendall(b"GET /?size=%d HTTP/1.1\r\nHost: d\r\n\r\n" % size)
        f = s.makefile("rb")
        r = read_response(f)
    assert r.status == 200 and len(r.body) == size
    assert r.body[:26] == b"abcdefghijklmnopqrstuvwxyz" and r.body[-1:] == bytes([97 + (size - 1) % 26])


def test_no_body_for_head_204_304_even_with_content_length(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    with socket.create_connection(("127.0.0.1", p.port()), timeout=5) as s:
        # The target sends "Content-Length: 5" and no body on 204/304, and a Content-Length
        # with no body on HEAD: the proxy must not wait for those bytes. Each answer is
        # followed by a request on the same connection, which must be answered at once.
        f = s.makefile("rb")
        for first, method in ((b"GET /?status=204&cl=5", "GET"),
                              (b"GET /?status=304&cl=5", "GET"),
                              (b"HEAD /?size=1000", "HEAD")):
            s.sendall(first + b" HTTP/1.1\r\nHost: h\r\n\r\nGET /echo?after=1 HTTP/1.1\r\nHost: h\r\n\r\n")
            r1 = read_response(f, method)
            assert r1.body == b""
            r2 = read_response(f)
            assert r2.status == 200 and json.loads(r2.body)["query"] == {"after": "1"}, r2
        assert r1.status == 200 and r1.header("content-length") == "1000"


def test_oversized_head_or_too_many_headers_get_431(backends, proxy):  # noqa: F811
    p, blue, _ = start(backends, proxy)
    before = blue.state()["requests"]
    big = b"X-Big: " + b"a" * (80 * 1024) + b"\r\n"
    raw, _ = raw_exchange(p.port(), b"GET / HTTP/1.1\r\nHost: h\r\n" + big + b"\r\n", timeout=5)
    assert status_of(raw) == 431, raw[:200]
    assert blue.state()["requests"] == before
    # Under the limit is fine.
    r = request(p.port(), "/", headers={"X-Big": "a" * 16000})
    assert r.status == 200
    # So is the header count: 200 small headers are over the default of 128.
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    raw, _ = raw_exchange(p.port(), b"GET / HTTP/1.1\r\nHost: h\r\n" + many + b"\r\n", timeout=5)
    assert status_of(raw) == 431, raw[:200]
    assert blue.state()["requests"] == before + 1


def test_idle_client_connection_closed_after_idle_timeout(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy, listener_opts={"idle_timeout": "1s"})
    with socket.create_connection(("127.0.0.1", p.port()), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        f = s.makefile("rb")
        assert read_response(f).status == 200
        t0 = time.monotonic()
        assert f.read(1) == b"", "the proxy should close an idle connection, not send bytes"
        idle = time.monotonic() - t0
    assert 0.8 <= idle <= 4.0, f"closed after {idle:.2f}s idle, want about 1s"


def test_keep_alive_reuses_one_client_connection(backends, proxy):  # noqa: F811
    p, blue, _ = start(backends, proxy)
    conn = http.client.HTTPConnection("127.0.0.1", p.port(), timeout=10)
    for i in range(50):
        r = request(p.port(), f"/echo?i={i}", conn=conn)
        assert r.status == 200
    conn.close()
    # The upstream pool: 50 sequential requests should not need 50 upstream connections.
    opened = blue.state()["connections_total"]     # includes the health checks' connections
    assert opened < 25, f"{opened} upstream connections for 50 sequential requests"


def test_expect_100_continue_is_relayed_before_the_body(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    with socket.create_connection(("127.0.0.1", p.port()), timeout=5) as s:
        s.sendall(b"POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        f = s.makefile("rb")
        interim = read_response(f)            # the client waits for this before sending
        assert interim.status == 100, interim
        s.sendall(b"hello")
        r = read_response(f)
        assert r.status == 200 and json.loads(r.body)["bytes"] == 5, r


def test_absolute_form_target_forwarded_in_origin_form(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    raw, _ = raw_exchange(p.port(), b"GET http://app.example/echo?x=1 HTTP/1.1\r\n"
                                    b"Host: app.example\r\nConnection: close\r\n\r\n")
    assert status_of(raw) == 200, raw[:200]
    e = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    # RFC 9112 §3.2.1: an origin server is sent the origin-form (path and query).
    assert e["target"] == "/echo?x=1", e["target"]
    assert header_values(e, "Host") == ["app.example"]


def test_http10_keep_alive_when_asked(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    with socket.create_connection(("127.0.0.1", p.port()), timeout=5) as s:
        f = s.makefile("rb")
        for i in range(3):
            s.sendall(b"GET /echo?n=%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % i)
            r = read_response(f)
            assert r.status == 200 and json.loads(r.body)["query"] == {"n": str(i)}, r


def test_connection_close_from_the_client_is_honoured(backends, proxy):  # noqa: F811
    p, _, _ = start(backends, proxy)
    t0 = time.monotonic()
    raw, closed = raw_exchange(p.port(), b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert status_of(raw) == 200 and raw.endswith(b"blue\n"), raw
    assert closed and time.monotonic() - t0 < 4
