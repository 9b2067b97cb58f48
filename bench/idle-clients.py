#!/usr/bin/python3
"""idle-clients.py PORT N: opens N keep-alive connections to 127.0.0.1:PORT, sends one
`GET /` on each and reads its answer (so every connection went through a full request), prints
"ready N" and keeps them all open and idle until stdin closes or SIGTERM. Bounded: gives up
(exit 1) if the N connections are not all answered within 120 s."""
import selectors
import signal
import socket
import sys
import time

port, n = int(sys.argv[1]), int(sys.argv[2])
REQ = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
sel = selectors.DefaultSelector()
socks, pending = [], {}
deadline = time.monotonic() + 120
opened = 0
while (opened < n or pending) and time.monotonic() < deadline:
    # open in batches of 256 so the listen backlog never overflows
    while opened < n and len(pending) < 256:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE)
        pending[s] = b""
        socks.append(s)
        opened += 1
    for key, ev in sel.select(timeout=1):
        s = key.fileobj
        if ev & selectors.EVENT_WRITE:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                sys.exit(f"connect failed: {err}")
            s.send(REQ)
            sel.modify(s, selectors.EVENT_READ)
            continue
        data = s.recv(4096)
        if not data:
            sys.exit("closed by the server before answering")
        pending[s] += data
        head, sep, body = pending[s].partition(b"\r\n\r\n")
        if sep and len(body) >= 2:
            if not head.startswith(b"HTTP/1.1 200"):
                sys.exit(f"bad answer {head[:40]!r}")
            sel.unregister(s)
            del pending[s]
if pending or opened < n:
    sys.exit(f"timed out: {opened - len(pending)} of {n} answered")
print(f"ready {len(socks)}", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.stdin.read()
