"""Bodies are streamed, never buffered whole: a 1 GiB upload (streamed from this test, one
1 MiB block in memory at a time) reaches the target intact while the proxy's peak RSS (VmHWM)
stays under 64 MiB; a slow reader of a large download does not make the proxy buffer it.
Measured on whatever build runs the tests (ASan included: its shadow memory and quarantine
count against the limit too)."""
import hashlib
import os
import socket
import time

from proxyutil import (backends, numbered_blocks, proc_status, proxy, read_response,  # noqa: F401
                       two_group_conf)

GIB = 1 << 30
RSS_LIMIT_KB = 64 * 1024


def start(backends, proxy):  # noqa: F811
    (blue,) = backends("blue")
    p = proxy(two_group_conf([blue], []))
    p.wait_states("blue", {blue.addr: "healthy"})
    return p


def upload(port, total, chunked):
    h = hashlib.sha256()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        if chunked:
            s.sendall(b"POST /sink?sha256=1 HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n")
        else:
            s.sendall(b"POST /sink?sha256=1 HTTP/1.1\r\nHost: up\r\nContent-Length: %d\r\n\r\n" % total)
        for block in numbered_blocks(total):
            h.update(block)
            if chunked:
                s.sendall(b"%x\r\n" % len(block))
                s.sendall(block)
                s.sendall(b"\r\n")
            else:
                s.sendall(block)
        if chunked:
            s.sendall(b"0\r\n\r\n")
        r = read_response(s.makefile("rb"))
    return r, h.hexdigest()


def test_1gib_upload_streams_in_constant_memory(backends, proxy):  # noqa: F811
    p = start(backends, proxy)
    t0 = time.monotonic()
    r, digest = upload(p.port(), GIB, chunked=False)
    took = time.monotonic() - t0
    assert r.status == 200, r
    out = r.json()
    assert out["bytes"] == GIB and out["sha256"] == digest
    hwm = proc_status(p.pid)["VmHWM"]
    print(f"1 GiB upload in {took:.1f}s, proxy VmHWM {hwm / 1024:.1f} MiB")
    assert hwm < RSS_LIMIT_KB, f"proxy peak RSS {hwm} kB >= 64 MiB"


def test_chunked_upload_streams_in_constant_memory(backends, proxy):  # noqa: F811
    p = start(backends, proxy)
    total = 256 << 20
    r, digest = upload(p.port(), total, chunked=True)
    assert r.status == 200, r
    out = r.json()
    assert out["bytes"] == total and out["sha256"] == digest
    assert proc_status(p.pid)["VmHWM"] < RSS_LIMIT_KB


def test_slow_reader_does_not_make_the_proxy_buffer_the_download(backends, proxy):  # noqa: F811
    p = start(backends, proxy)
    size = 512 << 20
    with socket.create_connection(("127.0.0.1", p.port()), timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(b"GET /?size=%d HTTP/1.1\r\nHost: d\r\n\r\n" % size)
        f = s.makefile("rb")
        assert f.readline().startswith(b"HTTP/1.1 200")
        while f.readline() not in (b"\r\n", b""):
            pass
        got = len(f.read(1 << 20))
        time.sleep(2)                # the reader stalls; the target keeps writing
        stalled = proc_status(p.pid)["VmRSS"]
        while got < size:
            chunk = f.read(min(1 << 20, size - got))
            assert chunk, f"closed after {got} bytes"
            got += len(chunk)
    assert stalled < RSS_LIMIT_KB, f"proxy RSS {stalled} kB while the client stalled"
    assert proc_status(p.pid)["VmHWM"] < RSS_LIMIT_KB
