"""Helpers for the proxy e2e tests: the test backend, the proxy process, its admin API, raw HTTP
and bounded wrk loads. Everything here talks to real processes over loopback; every wait and
every load is bounded in time (and loads also in request count).
"""
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from conftest import REPO, free_port, port_open, wait_for

BACKEND = os.path.join(REPO, "tests", "backend", "backend.py")
WRK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk_count.lua")
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


# ---- plain HTTP ---------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # list of (name, value) as received
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def __repr__(self):
        return f"<Response {self.status} {self.body[:80]!r}>"


def request(port, path="/", method="GET", body=None, headers=None, host="127.0.0.1",
            timeout=10.0, conn=None):
    """One request; returns a Response. Pass <conn> (http.client.HTTPConnection) to reuse it."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.getheaders(), data)
    finally:
        if own:
            conn.close()


def raw_exchange(port, data, timeout=5.0, host="127.0.0.1", until_close=True):
    """Sends <data> on a fresh connection and reads until the peer closes (or <timeout>).
    Returns (bytes received, closed_by_peer)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        out = bytearray()
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return bytes(out), False
            except ConnectionResetError:
                return bytes(out), True
            if not chunk:
                return bytes(out), True
            out += chunk
            if not until_close and b"\r\n\r\n" in out:
                return bytes(out), False
        return bytes(out), False


def status_of(raw):
    """The status code of the first response in <raw> bytes, or None."""
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw)
    return int(m.group(1)) if m else None


def read_response(sock_file, method="GET"):
    """Reads one response from a binary file object (socket.makefile('rb')). Handles
    Content-Length, chunked and no-body statuses. Returns Response."""
    line = sock_file.readline()
    if not line:
        raise ConnectionError("connection closed before a response")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", line)
    if not m:
        raise AssertionError(f"bad status line {line!r}")
    status = int(m.group(1))
    headers = []
    while True:
        h = sock_file.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    resp = Response(status, headers, b"")
    if method == "HEAD" or status < 200 or status in (204, 304):
        return resp
    te = (resp.header("transfer-encoding") or "").lower()
    if "chunked" in te:
        body = bytearray()
        while True:
            size = int(sock_file.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while sock_file.readline() not in (b"\r\n", b""):
                    pass
                break
            body += sock_file.read(size)
            sock_file.readline()
        resp.body = bytes(body)
    elif resp.header("content-length") is not None:
        resp.body = sock_file.read(int(resp.header("content-length")))
    else:
        resp.body = sock_file.read()
    return resp


# ---- the test backend ---------------------------------------------------------------------

class Backend:
    def __init__(self, procs, name, port=None):
        self.name = name
        self.port = port or free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc = procs.start([PYTHON, BACKEND, "--port", str(self.port), "--name", name],
                                name=f"backend-{name}")
        wait_for(lambda: port_open(self.port) or self.proc.poll() is not None, 10,
                 what=f"backend {name} on {self.port}")
        assert self.proc.poll() is None, procs.output(self.proc)

    def control(self, **kw):
        return request(self.port, "/_control", "POST", json.dumps(kw).encode(),
                       {"Content-Type": "application/json"}).json()

    def state(self):
        return request(self.port, "/_control").json()


# ---- YAML ---------------------------------------------------------------------------------

def to_yaml(obj, indent=0):
    """Block-style YAML for dicts/lists of scalars, enough for proxy.yaml."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out.append(to_yaml(v, indent + 1))
            else:
                out.append(f"{pad}{k}: {scalar(v)}")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict):
                inner = to_yaml(v, indent + 1).split("\n")
                out.append(f"{pad}- {inner[0].strip()}")
                out.extend(inner[1:])
            else:
                out.append(f"{pad}- {scalar(v)}")
    return "\n".join(out)


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, list):
        return "[]"
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, str) and (v == "" or re.fullmatch(r"[-+\d.]+|true|false|null|~", v)
                               or re.search(r"[:#\[\]{},&*!|>'\"%@`]", v)):
        return json.dumps(v)
    return str(v)


def proxy_config(listeners, groups, admin_port=None, workers=2, **extra):
    """listeners: {name: {"bind": port or "addr:port", "forward": [(group, weight), ...], ...}}
    groups: {name: {"targets": [...], other keys as in proxy.yaml}}. Returns a dict."""
    conf = {"admin": f"127.0.0.1:{admin_port or free_port()}", "workers": workers}
    conf.update(extra)
    conf["listeners"] = {}
    for name, l in listeners.items():
        entry = {k: v for k, v in l.items() if k not in ("bind", "forward")}
        bind = l["bind"]
        entry["bind"] = bind if isinstance(bind, str) else f"127.0.0.1:{bind}"
        entry["forward"] = [{"target_group": g, "weight": w} for g, w in l["forward"]]
        conf["listeners"][name] = entry
    conf["target_groups"] = groups
    return conf


# ---- the proxy ----------------------------------------------------------------------------

class Proxy:
    """A running `cutover proxy -c FILE`. <conf> is a dict (see proxy_config) or YAML text."""

    def __init__(self, procs, binary, tmp_path, conf, extra_args=(), env=None, wait=True,
                 name="proxy"):
        self.procs = procs
        self.binary = binary
        self.tmp_path = tmp_path
        self.path = tmp_path / f"{name}.yaml"
        self.write_conf(conf)
        self.access_log = tmp_path / f"{name}-access.log"
        self.argv = [binary, "proxy", "-c", str(self.path), "--access-log", str(self.access_log),
                     *extra_args]
        self.proc = procs.start(self.argv, name=name, env=env)
        self.pid = self.proc.pid
        if wait:
            self.wait_ready()

    def write_conf(self, conf):
        if isinstance(conf, dict):
            self.conf = conf
            text = to_yaml(conf) + "\n"
        else:
            self.conf = None
            text = conf
        self.path.write_text(text)
        self.text = text
        m = re.search(r"^admin:\s*\"?([\d.]+):(\d+)", text, re.M)
        self.admin_port = int(m.group(2)) if m else 9901
        self.ports = {}
        for lm in re.finditer(r"^  (\w[\w-]*):\n(?:    .*\n)*?    bind:\s*\"?[\d.]+:(\d+)", text,
                              re.M):
            self.ports[lm.group(1)] = int(lm.group(2))

    def output(self):
        return self.procs.output(self.proc)

    def wait_ready(self, timeout=15):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"proxy exited with {self.proc.returncode}:\n{self.output()}")
            if not port_open(self.admin_port):
                return False
            return all(port_open(p) for p in self.ports.values())
        wait_for(ready, timeout, what="proxy listeners and admin API")
        wait_for(lambda: self.admin("GET", "/healthz")[0] == 200, timeout, what="admin /healthz")

    def port(self, listener="web"):
        return self.ports[listener]

    # admin API
    def admin(self, method, path, body=None, timeout=10):
        data = None if body is None else (body if isinstance(body, (bytes, str))
                                          else json.dumps(body))
        r = request(self.admin_port, path, method, data,
                    {"Content-Type": "application/json"} if data is not None else {},
                    timeout=timeout)
        try:
            parsed = json.loads(r.body) if r.body else None
        except ValueError:
            parsed = r.text
        return r.status, parsed

    def set_forward(self, listener, weights):
        st, body = self.admin("PUT", f"/listeners/{listener}/action",
                              {"forward": [{"target_group": g, "weight": w}
                                           for g, w in weights]})
        assert st == 200, f"PUT /listeners/{listener}/action → {st} {body}"
        return body

    def health(self, group):
        st, body = self.admin("GET", f"/target-groups/{group}/health")
        assert st == 200, f"GET health {group} → {st} {body}"
        return {t["target"]: t for t in body["targets"]}

    def states(self, group):
        return {k: v["state"] for k, v in self.health(group).items()}

    def wait_states(self, group, want, timeout=15):
        """Waits until every target in <want> ({addr: state}) has that state."""
        wait_for(lambda: all(self.states(group).get(a) == s for a, s in want.items()), timeout,
                 what=f"{group} targets {want} (now {self.states(group)})")

    def register(self, group, targets):
        return self.admin("POST", f"/target-groups/{group}/targets", {"targets": targets})

    def deregister(self, group, targets):
        return self.admin("DELETE", f"/target-groups/{group}/targets", {"targets": targets})

    def metrics(self):
        r = request(self.admin_port, "/metrics")
        assert r.status == 200, r
        return r.text

    def stop(self, sig=signal.SIGTERM, timeout=35):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        return self.proc.returncode


def run_check(binary, path, timeout=20):
    """`cutover proxy -c PATH --check`: returns CompletedProcess (stdout+stderr as text)."""
    return subprocess.run([binary, "proxy", "-c", str(path), "--check"], capture_output=True,
                          text=True, timeout=timeout)


# ---- processes ----------------------------------------------------------------------------

def proc_status(pid):
    """{field: value} from /proc/PID/status (kB fields as ints, in kB)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            v = v.strip()
            if v.endswith(" kB"):
                v = int(v[:-3])
            out[k] = v
    return out


def session_pids(sid, comm="cutover"):
    """Pids of processes in session <sid> whose command name is <comm> (binary upgrades keep
    the session, so this finds the old and the new proxy)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        state, session = fields[0], int(fields[3])
        if session == sid and name == comm and state != "Z":
            pids.append(int(d))
    return sorted(pids)


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# ---- wrk ----------------------------------------------------------------------------------

class WrkResult:
    def __init__(self, text):
        self.text = text
        m = re.search(r"^WRK_SUMMARY (.*)$", text, re.M)
        if not m:
            raise AssertionError(f"wrk printed no summary:\n{text}")
        self.summary = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
        self.statuses = {int(a): int(b) for a, b in re.findall(r"^WRK_STATUS (\d+) (\d+)$", text,
                                                              re.M)}
        self.bodies = {a: int(b) for a, b in re.findall(r"^WRK_BODY (\S+) (\d+)$", text, re.M)}
        self.requests = self.summary["requests"]
        self.answered = sum(self.statuses.values())
        self.socket_errors = sum(self.summary[k] for k in ("connect", "read", "write", "timeout"))
        self.non2xx = sum(n for s, n in self.statuses.items() if not 200 <= s < 300)
        self.p99_ms = self.summary["p99_us"] / 1000.0

    def assert_clean(self, min_requests=1):
        """Zero socket errors, every response 2xx, and something was actually served."""
        assert self.socket_errors == 0, f"wrk socket errors: {self.summary}\n{self.text}"
        assert self.non2xx == 0, f"non-2xx responses: {self.statuses}\n{self.text}"
        assert self.answered >= min_requests, f"only {self.answered} answered:\n{self.text}"

    def __repr__(self):
        return f"<wrk {self.summary} {self.statuses} {self.bodies}>"


class Wrk:
    """A wrk run in the background: bounded by <duration> seconds and <budget> requests."""

    def __init__(self, url, connections=64, threads=2, duration=10, budget=0, timeout_s=5,
                 headers=()):
        self.duration = duration
        argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
                "--timeout", f"{timeout_s}s", "-s", WRK_SCRIPT]
        for h in headers:
            argv += ["-H", h]
        self.threads = threads
        self.done_file = None
        if budget:
            fd, self.done_file = tempfile.mkstemp(prefix="wrk-done-")
            os.close(fd)
        argv += [url, "--", str(budget), str(threads)] + ([self.done_file] if budget else [])
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.started = time.monotonic()

    def budget_spent(self):
        if not self.done_file:
            return False
        with open(self.done_file) as f:
            return f.read().count("done") >= self.threads

    def running(self):
        return self.proc.poll() is None and not self.budget_spent()

    def result(self):
        deadline = self.started + self.duration + 30
        while self.proc.poll() is None and time.monotonic() < deadline:
            if self.budget_spent():
                self.proc.send_signal(signal.SIGINT)   # wrk prints its summary on SIGINT
                break
            time.sleep(0.05)
        try:
            out, _ = self.proc.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            out, _ = self.proc.communicate()
            raise AssertionError(f"wrk did not finish in time:\n{out}")
        if self.done_file:
            os.unlink(self.done_file)
        assert self.proc.returncode == 0, f"wrk exited {self.proc.returncode}:\n{out}"
        return WrkResult(out)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()


def wrk(url, **kw):
    return Wrk(url, **kw).result()


# ---- bodies -------------------------------------------------------------------------------

def numbered_blocks(total, block=1 << 20):
    """Yields <total> bytes as distinct 1 MiB blocks (a counter in the first 8 bytes), so the
    sha256 at the far end proves every byte arrived once and in order. Holds one block."""
    buf = bytearray(os.urandom(block))
    i = 0
    while total > 0:
        buf[0:8] = i.to_bytes(8, "big")
        n = min(total, block)
        yield memoryview(buf)[:n]
        total -= n
        i += 1


# ---- fixtures (import them into a test module to use them) --------------------------------

import pytest  # noqa: E402


@pytest.fixture
def backends(procs):
    """backends("blue", "green") → [Backend, Backend], each on a free port."""
    def start(*names):
        return [Backend(procs, n) for n in names]
    return start


@pytest.fixture
def proxy(procs, cutover, tmp_path):
    """proxy(conf, ...) → a running Proxy; every proxy of the test is stopped at teardown,
    including processes a binary upgrade started in the same session."""
    started = []

    def start(conf, **kw):
        p = Proxy(procs, cutover, tmp_path, conf, name=f"proxy{len(started) or ''}", **kw)
        started.append(p)
        return p
    yield start
    for p in started:
        for pid in session_pids(p.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def two_group_conf(blue, green, weights=(("blue", 100), ("green", 0)), workers=2,
                   health=None, group_opts=None, listener_opts=None, test_listener=False,
                   top=None):
    """The DESIGN.md shape: listener "web" forwarding to groups "blue" and "green" (lists of
    Backend or "host:port"). Health checks hit /health every second unless <health> says
    otherwise."""
    hc = {"path": "/health", "interval": "1s", "timeout": "500ms", "healthy_threshold": 2,
          "unhealthy_threshold": 2, "matcher": "200"}
    hc.update(health or {})
    groups = {}
    for name, members in (("blue", blue), ("green", green)):
        g = {"algorithm": "round_robin", "deregistration_delay": "10s", "health_check": dict(hc)}
        g.update(group_opts or {})
        g["targets"] = [m if isinstance(m, str) else m.addr for m in members]
        groups[name] = g
    listeners = {"web": dict(listener_opts or {}, bind=free_port(), forward=list(weights))}
    if test_listener:
        listeners["test"] = {"bind": free_port(), "forward": [("green", 1)]}
    return proxy_config(listeners, groups, workers=workers, **(top or {}))
