"""WebSocket through the proxy: a real RFC 6455 handshake and masked client frames, tunnelled
both ways; text, binary (16- and 64-bit lengths), ping/pong and close."""
import base64
import hashlib
import os
import socket
import struct

from proxyutil import backends, proxy, read_response, two_group_conf  # noqa: F401

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def send_frame(s, op, payload, fin=True):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | op])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    masked = (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big") if n else b""
    s.sendall(head + mask + masked)


def recv_exact(f, n):
    data = f.read(n)
    assert len(data) == n, f"connection closed after {len(data)} of {n} bytes"
    return data


def recv_frame(f):
    b0, b1 = recv_exact(f, 2)
    assert not b1 & 0x80, "server frames must not be masked"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(f, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(f, 8))[0]
    return b0 & 0x0F, bool(b0 & 0x80), recv_exact(f, n)


def handshake(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    f = s.makefile("rb")
    r = read_response(f)
    return s, f, r, base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def test_websocket_echo_through_the_proxy(backends, proxy):  # noqa: F811
    (blue,) = backends("blue")
    p = proxy(two_group_conf([blue], []))
    p.wait_states("blue", {blue.addr: "healthy"})
    s, f, r, accept = handshake(p.port())
    with s:
        assert r.status == 101, r
        assert (r.header("upgrade") or "").lower() == "websocket"
        assert r.header("sec-websocket-accept") == accept

        send_frame(s, 0x1, "héllo, proxy".encode())
        assert recv_frame(f) == (0x1, True, "héllo, proxy".encode())

        for size in (125, 126, 65535, 65536, 300000):
            payload = os.urandom(size)
            send_frame(s, 0x2, payload)
            assert recv_frame(f) == (0x2, True, payload), size

        send_frame(s, 0x9, b"are you there")
        assert recv_frame(f) == (0xA, True, b"are you there")

        # Many small frames in flight at once: order and boundaries survive the tunnel.
        for i in range(200):
            send_frame(s, 0x1, b"msg %d" % i)
        for i in range(200):
            assert recv_frame(f) == (0x1, True, b"msg %d" % i)

        send_frame(s, 0x8, struct.pack("!H", 1000))
        op, _, payload = recv_frame(f)
        assert op == 0x8 and payload == struct.pack("!H", 1000)
        assert f.read(1) == b"", "the tunnel should close once the target closed"
    assert blue.state()["ws_sessions"] == 1


def test_plain_requests_still_work_next_to_a_tunnel(backends, proxy):  # noqa: F811
    (blue,) = backends("blue")
    p = proxy(two_group_conf([blue], []))
    p.wait_states("blue", {blue.addr: "healthy"})
    s, f, r, _ = handshake(p.port())
    with s:
        assert r.status == 101
        with socket.create_connection(("127.0.0.1", p.port()), timeout=5) as s2:
            s2.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_response(s2.makefile("rb")).body == b"blue\n"
        send_frame(s, 0x1, b"still here")
        assert recv_frame(f) == (0x1, True, b"still here")
