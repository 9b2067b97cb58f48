"""Request parsers are pooled per worker and reused by the next connection; whatever a client
left in one (half an empty line, half a head, a refused request) must not reach the next
client. One worker, so the next connection gets the same parser."""
import socket
import time

from conftest import free_port
from proxyutil import backends, proxy, proxy_config, status_of  # noqa: F401


def exchange(port, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    s.close()
    return out


def abandon(port, data):
    """Sends <data> and goes away without waiting for an answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    time.sleep(0.2)
    s.close()
    time.sleep(0.2)


GOOD = b"GET /echo HTTP/1.1\r\nHost: reuse.test\r\nConnection: close\r\n\r\n"


def test_next_client_gets_a_clean_parser(backends, proxy):  # noqa: F811
    (blue,) = backends("blue")
    port = free_port()
    p = proxy(proxy_config({"web": {"bind": port, "forward": [("blue", 1)]}},
                           {"blue": {"targets": [blue.addr]}}, workers=1))
    for leftover in (b"\r", b"\r\n\r", b"GET / HTTP/1.1\r\nHost: a\r\nX: half"):
        abandon(p.port(), leftover)
        raw = exchange(p.port(), GOOD)
        assert status_of(raw) == 200, (leftover, raw[:200])
    raw = exchange(p.port(), b"GET / HTTP/1.1\nHost: a\r\n\r\n")  # refused: 400
    assert status_of(raw) == 400, raw[:200]
    assert status_of(exchange(p.port(), GOOD)) == 200
