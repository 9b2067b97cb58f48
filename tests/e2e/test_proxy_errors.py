"""Answers the proxy makes itself: 503 when nothing is routable, 502 on connect failure or a
reset before any response byte (retried once on another target for idempotent requests), 504
when the target is too slow."""
import socket
import time

from conftest import free_port
from proxyutil import backends, proxy, read_response, request, two_group_conf  # noqa: F401


def test_503_when_every_weight_is_zero(backends, proxy):  # noqa: F811
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green], weights=(("blue", 0), ("green", 0))))
    for _ in range(5):
        r = request(p.port(), "/")
        assert r.status == 503, r
    assert blue.state()["requests"] == 0 and green.state()["requests"] == 0


def test_503_when_the_group_has_no_targets(backends, proxy):  # noqa: F811
    (green,) = backends("green")
    p = proxy(two_group_conf([], [green], weights=(("blue", 100), ("green", 0))))
    r = request(p.port(), "/")
    assert r.status == 503, r
    # Giving the traffic to a group with a target makes it routable again.
    p.set_forward("web", [("blue", 0), ("green", 100)])
    r = request(p.port(), "/")
    assert r.status == 200 and r.body == b"green\n"


def test_502_on_connect_refused(backends, proxy):  # noqa: F811
    dead = f"127.0.0.1:{free_port()}"          # nothing listens there
    p = proxy(two_group_conf([dead], []))
    t0 = time.monotonic()
    r = request(p.port(), "/")
    assert r.status == 502, r
    assert time.monotonic() - t0 < 5


def test_502_on_reset_before_any_response_byte(backends, proxy):  # noqa: F811
    (blue,) = backends("blue")
    p = proxy(two_group_conf([blue], []))
    p.wait_states("blue", {blue.addr: "healthy"})
    r = request(p.port(), "/?reset=1")
    assert r.status == 502, r
    # The client connection is fine afterwards and the target still serves.
    assert request(p.port(), "/").status == 200


def test_idempotent_request_retried_on_another_target_after_reset(backends, proxy):  # noqa: F811
    bad, good = backends("bad", "good")
    p = proxy(two_group_conf([bad, good], []))
    p.wait_states("blue", {bad.addr: "healthy", good.addr: "healthy"})
    bad.control(reset=True)                    # health checks still pass; requests get RST
    for i in range(20):
        r = request(p.port(), f"/?i={i}")
        assert r.status == 200 and r.body == b"good\n", r
    tried = bad.state()["requests"]
    assert tried > 0, "round robin should have sent some requests to the resetting target"

    # POST is not idempotent: a reset on it is a 502, never a silent replay.
    statuses = [request(p.port(), "/", "POST", b"x=1").status for _ in range(20)]
    assert 502 in statuses and set(statuses) <= {200, 502}, statuses
    assert bad.state()["requests"] > tried


def test_idempotent_request_retried_after_connect_refused(backends, proxy):  # noqa: F811
    gone, good = backends("gone", "good")
    # A high unhealthy threshold keeps the dead target "healthy" (routable) for the whole test.
    p = proxy(two_group_conf([gone, good], [], health={"interval": "2s",
                                                        "unhealthy_threshold": 10}))
    p.wait_states("blue", {gone.addr: "healthy", good.addr: "healthy"})
    gone.proc.kill()
    gone.proc.wait(5)
    for i in range(20):
        r = request(p.port(), f"/?i={i}")
        assert r.status == 200 and r.body == b"good\n", (i, r)
    # Not idempotent: connect refused on the dead one is a 502 (nothing was sent, but the
    # design retries only idempotent methods).
    statuses = [request(p.port(), "/", "POST", b"x").status for _ in range(10)]
    assert 502 in statuses and set(statuses) <= {200, 502}, statuses


def test_504_on_response_timeout(backends, proxy):  # noqa: F811
    (blue,) = backends("blue")
    p = proxy(two_group_conf([blue], [], group_opts={"response_timeout": "1s"}))
    p.wait_states("blue", {blue.addr: "healthy"})
    t0 = time.monotonic()
    r = request(p.port(), "/?delay=3")
    took = time.monotonic() - t0
    assert r.status == 504, r
    assert 0.9 <= took < 2.8, f"504 after {took:.2f}s, want about 1s"
    # Faster than the timeout is fine.
    assert request(p.port(), "/?delay=0.2").status == 200


def test_target_5xx_passed_through_unchanged(backends, proxy):  # noqa: F811
    (blue,) = backends("blue")
    p = proxy(two_group_conf([blue], []))
    p.wait_states("blue", {blue.addr: "healthy"})
    r = request(p.port(), "/?status=503")
    assert r.status == 503 and r.body == b"blue 503\n", r


def test_malformed_target_response_is_a_502_not_relayed(backends, proxy):  # noqa: F811
    (blue,) = backends("blue")
    p = proxy(two_group_conf([blue], []))
    p.wait_states("blue", {blue.addr: "healthy"})
    # A bad head: nothing reached the client yet, so the proxy answers 502 itself.
    for raw in ("cl_te", "double_cl", "garbage", "obs_fold"):
        r = request(p.port(), f"/?raw={raw}")
        assert r.status == 502, (raw, r)
    # A bad body after a good head (already relayed): the client must not be handed a
    # complete-looking response; a 502 (if the proxy had not relayed the head yet) or a
    # response cut short by a close are both right.
    for raw in ("bad_chunk", "short_body"):
        with socket.create_connection(("127.0.0.1", p.port()), timeout=10) as sock:
            sock.sendall(f"GET /?raw={raw} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            try:
                r = read_response(sock.makefile("rb"))
            except (ConnectionError, ValueError):
                continue                        # cut short: the chunked body never ended
            cl = r.header("content-length")
            cut_short = cl is not None and len(r.body) < int(cl)
            assert r.status == 502 or cut_short, (raw, r)
    assert request(p.port(), "/").status == 200
