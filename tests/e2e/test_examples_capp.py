"""examples/capp, the minimal C app: built with its own Makefile, then
1. alone (PORT): routes, HEAD without a body, pipelined requests answered in order, and the drain
   contract (new connects refused after SIGTERM, an open keep-alive connection still answered
   with `Connection: close`, exit 0 once no connection is left);
2. under `cutover supervise` in listen: mode (LISTEN_FDS / fd 3, ready: {notify: true}, 4
   workers): two `cutover apps reload` under a bounded keep-alive wrk load on the shared socket
   (32 connections, ≤ 60 s, ≤ 2M requests) with zero failed requests, every worker replaced.
"""
import os
import signal
import socket
import subprocess
import time

from conftest import REPO, free_port, port_open, wait_for
from proxyutil import Wrk
from supervise_util import Supervisor
from webapp_util import http_get

CAPP_DIR = os.path.join(REPO, "examples", "capp")


def build(tmp_path):
    r = subprocess.run(["make", "-C", CAPP_DIR, f"BUILD={tmp_path}"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return str(tmp_path / "capp")


def exchange(port, data, want_responses, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while out.count(b"HTTP/1.1 ") < want_responses and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


def test_capp_alone_routes_pipelining_and_drain(procs, tmp_path):
    capp = build(tmp_path)
    port = free_port()
    p = procs.start([capp], name="capp", env={"PORT": str(port), "APP_VERSION": "1.2.3"})
    wait_for(lambda: port_open(port) or p.poll() is not None, 10, what="capp listening")
    assert http_get(port, "/health") == (200, "ok\n")
    assert http_get(port, "/") == (200, "hello from capp 1.2.3\n")
    assert http_get(port, "/nope")[0] == 404
    st, body = http_get(port, "/version")
    assert st == 200 and '"version":"1.2.3"' in body

    out = exchange(port, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n", 3)
    parts = out.split(b"HTTP/1.1 ")[1:]
    assert len(parts) == 3, out
    assert parts[0].startswith(b"200") and parts[0].endswith(b"\r\n\r\n"), out   # HEAD: no body
    assert parts[1].endswith(b"ok\n") and b'"version":"1.2.3"' in parts[2], out

    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"Connection: keep-alive" in s.recv(4096)
    os.kill(p.pid, signal.SIGTERM)
    wait_for(lambda: not port_open(port), 5, what="listening socket closed")
    s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" in answer, answer
    assert s.recv(4096) == b"", "the connection stays open after Connection: close"
    s.close()
    assert p.wait(timeout=5) == 0
    assert "drained, exiting" in procs.output(p)


def test_capp_reloads_under_load_on_the_supervisor_socket(cutover, procs, tmp_path):
    capp = build(tmp_path)
    sv = Supervisor(cutover, procs, tmp_path)
    port = free_port()
    sv.write_conf(instances=4, listen=f"127.0.0.1:{port}", ready="{notify: true}")
    text = open(sv.conf).read()
    start = text.index("    command:")
    end = text.index("\n", start)
    with open(sv.conf, "w") as f:
        f.write(text[:start] + f'    command: ["{capp}"]' + text[end:])
    try:
        sv.start()
        before = set(sv.ready_pids())
        assert len(before) == 4
        load = Wrk(f"http://127.0.0.1:{port}/", connections=32, threads=2, duration=60,
                   budget=2_000_000)
        try:
            time.sleep(0.5)   # warm-up only
            for _ in range(2):
                r = sv.apps("reload", "web", "--output", "table")
                assert r.returncode == 0, r.stdout + r.stderr
            assert load.running(), "the load ended before the reloads did"
            load.proc.send_signal(signal.SIGINT)
            res = load.result()
        finally:
            load.kill()
        print(f"capp: 2 reloads under load: {res}")
        res.assert_clean(min_requests=1000)
        after = set(sv.ready_pids())
        assert len(after) == 4 and not before & after, (before, after)
        logs = sv.apps("logs", "web", "--lines", "50", "--output", "table").stdout
        assert "listening on fd 3" in logs and "drained, exiting" in logs, logs
        assert sv.stop() == 0
    finally:
        sv.cleanup()
