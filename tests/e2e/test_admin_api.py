"""The proxy admin API as a server (P2's admin_api.c): a unix socket that only its owner can
use, the CLI over it, pipelined and malformed admin requests, concurrent changes, and the CLI's
exit statuses (0 ok, 1 refused, 2 usage, 75 unreachable)."""
import json
import os
import socket
import stat
import subprocess
import threading

from conftest import free_port, wait_for
from proxyutil import Backend, Proxy, proxy_config, to_yaml


def unix_conf(sock_path, blue, green):
    conf = proxy_config(
        {"web": {"bind": free_port(), "forward": [("blue", 100), ("green", 0)]}},
        {"blue": {"health_check": {"interval": "500ms", "timeout": "300ms"},
                  "targets": [blue.addr]},
         "green": {"targets": [green.addr]}},
        workers=2)
    conf["admin"] = f"unix:{sock_path}"
    return conf


def unix_exchange(path, data, timeout=5.0):
    """Sends raw bytes over the unix socket, returns everything until close or timeout."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(str(path))
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


def tcp_exchange(port, data, timeout=5.0):
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
        out += b"<still open>"
    s.close()
    return out


def body_of(raw):
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def cli(cutover, admin, *args, env=None):
    return subprocess.run([cutover, "proxy", *args, "--admin", admin], capture_output=True,
                          text=True, timeout=30, env=env)


def test_unix_admin_socket_is_private_and_serves_the_cli(procs, cutover, tmp_path):
    blue, green = Backend(procs, "blue"), Backend(procs, "green")
    sock = tmp_path / "admin.sock"
    # a stale socket file from a crashed proxy is replaced
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()
    p = Proxy(procs, cutover, tmp_path, to_yaml(unix_conf(sock, blue, green)) + "\n", wait=False)
    def serving():
        if p.proc.poll() is not None:
            return True
        try:
            return b"200 OK" in unix_exchange(sock, b"GET /healthz HTTP/1.1\r\nHost: a\r\n"
                                                    b"Connection: close\r\n\r\n", 1)
        except OSError:  # not there yet, or still the stale file
            return False
    wait_for(serving, 15, what="admin unix socket")
    assert p.proc.poll() is None, p.output()
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)

    admin = f"unix:{sock}"
    wait_for(lambda: '"healthy"' in cli(cutover, admin, "describe-target-health",
                                        "--target-group", "blue", "--output", "json").stdout,
             10, what="blue healthy through the CLI")
    r = cli(cutover, admin, "modify-listener", "--listener", "web", "--forward",
            "blue=30,green=70", "--output", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["forward"] == [{"target_group": "blue", "weight": 30},
                                              {"target_group": "green", "weight": 70}]
    r = cli(cutover, admin, "describe-listeners", "--output", "table")
    assert r.returncode == 0 and "green" in r.stdout and "70" in r.stdout, r
    r = cli(cutover, admin, "describe-target-groups", "--output", "json")
    assert r.returncode == 0, r.stderr
    groups = {g["name"]: g for g in json.loads(r.stdout)["target_groups"]}
    assert groups["blue"]["health_check"]["interval_ms"] == 500, groups
    assert groups["green"]["targets"] == [green.addr], groups


def test_pipelined_malformed_and_oversized_admin_requests(procs, cutover, tmp_path):
    blue, green = Backend(procs, "blue"), Backend(procs, "green")
    conf = unix_conf(tmp_path / "unused.sock", blue, green)
    admin_port = free_port()
    conf["admin"] = f"127.0.0.1:{admin_port}"
    Proxy(procs, cutover, tmp_path, conf)

    # two pipelined requests: two answers, in order, on one connection
    raw = tcp_exchange(admin_port, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                                   b"GET /listeners HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert raw.count(b"HTTP/1.1 200 OK") == 2, raw
    assert raw.index(b'{"status":"ok"}') < raw.index(b'"listeners"'), raw

    # a request the parser refuses: 400 with a JSON reason, and the connection closes
    raw = tcp_exchange(admin_port, b"GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 ") and b"<still open>" not in raw, raw
    assert "header name" in body_of(raw)["error"]

    raw = tcp_exchange(admin_port, b"PUT /listeners/web/action HTTP/1.1\r\nHost: a\r\n"
                                   b"Content-Length: 5000000\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 413 ") and b"<still open>" not in raw, raw

    raw = tcp_exchange(admin_port, b"PATCH /listeners/web/action HTTP/1.1\r\nHost: a\r\n"
                                   b"Connection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 405 "), raw
    raw = tcp_exchange(admin_port, b"GET /nowhere HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 404 ") and "no route" in body_of(raw)["error"], raw

    # a chunked body with a bad weight: 400 naming the field, nothing changed
    body = b'{"forward":[{"target_group":"blue","weight":1000}]}'
    raw = tcp_exchange(admin_port, b"PUT /listeners/web/action HTTP/1.1\r\nHost: a\r\n"
                       b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                       + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 "), raw
    assert "forward[0].weight" in body_of(raw)["error"], raw
    raw = tcp_exchange(admin_port, b"GET /listeners/web HTTP/1.1\r\nHost: a\r\n"
                                   b"Connection: close\r\n\r\n")
    assert body_of(raw)["forward"][0] == {"target_group": "blue", "weight": 100}, raw


def test_concurrent_changes_each_answer_with_what_they_set(procs, cutover, tmp_path):
    blue, green = Backend(procs, "blue"), Backend(procs, "green")
    conf = unix_conf(tmp_path / "unused.sock", blue, green)
    admin_port = free_port()
    conf["admin"] = f"127.0.0.1:{admin_port}"
    Proxy(procs, cutover, tmp_path, conf)
    results = []
    lock = threading.Lock()

    def worker(k):
        for i in range(10):
            w = k * 10 + i
            body = json.dumps({"forward": [{"target_group": "blue", "weight": w},
                                           {"target_group": "green", "weight": 100 - w}]})
            raw = tcp_exchange(admin_port, b"PUT /listeners/web/action HTTP/1.1\r\nHost: a\r\n"
                               b"Content-Type: application/json\r\nConnection: close\r\n"
                               + b"Content-Length: %d\r\n\r\n" % len(body) + body.encode(), 10)
            with lock:
                results.append((w, raw))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 40
    for w, raw in results:
        assert raw.startswith(b"HTTP/1.1 200 "), raw
        # each answer shows the generation its own change published
        assert body_of(raw)["forward"][0] == {"target_group": "blue", "weight": w}, raw
    raw = tcp_exchange(admin_port, b"GET /listeners/web HTTP/1.1\r\nHost: a\r\n"
                                   b"Connection: close\r\n\r\n")
    final = body_of(raw)["forward"]
    assert final[0]["weight"] + final[1]["weight"] == 100, final
    assert final[0]["weight"] in {w for w, _ in results}, final


def test_cli_exit_statuses(procs, cutover, tmp_path):
    blue, green = Backend(procs, "blue"), Backend(procs, "green")
    conf = unix_conf(tmp_path / "unused.sock", blue, green)
    admin_port = free_port()
    conf["admin"] = f"127.0.0.1:{admin_port}"
    Proxy(procs, cutover, tmp_path, conf)
    admin = f"127.0.0.1:{admin_port}"

    r = cli(cutover, admin, "describe-target-health", "--target-group", "blue")
    assert r.returncode == 0, r
    r = cli(cutover, admin, "register-targets", "--target-group", "nope", "--targets",
            "127.0.0.1:1")
    assert r.returncode == 1 and "nope" in r.stderr and "404" in r.stderr, r
    r = cli(cutover, admin, "modify-listener", "--listener", "web", "--forward", "blue=1000")
    assert r.returncode == 2 and "0..999" in r.stderr, r
    r = cli(cutover, admin, "modify-listener", "--listener", "web")
    assert r.returncode == 2 and "--forward" in r.stderr, r
    r = cli(cutover, admin, "describe-target-health", "--target-group", "blue", "--bogus", "1")
    assert r.returncode == 2, r
    r = cli(cutover, f"127.0.0.1:{free_port()}", "describe-target-health", "--target-group",
            "blue")
    assert r.returncode == 75 and "cannot reach" in r.stderr, r
    # $CUTOVER_PROXY_ADMIN is the default --admin
    env = dict(os.environ, CUTOVER_PROXY_ADMIN=admin)
    r = subprocess.run([cutover, "proxy", "describe-listeners", "--output", "json"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["listeners"][0]["name"] == "web", r
