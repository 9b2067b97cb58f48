"""cutover proxy in front of hosts that live in their own network namespaces (tests/e2e/netns.py):
`cutover proxy` in the root namespace, one backend (tests/backend/backend.py) per namespace host,
"blue-1" and "green-1", each on its own address of a private 10.77.N.0/24 subnet. Nothing else
receives traffic. Skipped, with the reason, when not root or `ip netns` does not work here.

1. The harness itself: each host is reachable at its address, a cut makes it unreachable (a
   connect times out: packets are dropped, nothing is reset), a restore brings it back, and
   teardown leaves no namespace, link or bridge of the run behind; a run killed with SIGKILL
   is removed by the next one.
2. blue → green switch under a bounded keep-alive wrk load (32 connections, ≤ 20 s, ≤ 2M
   requests): zero socket errors, every response 2xx, both hosts answered during the run, only
   green-1 after.
3. Partition: one serving target group holding green-1 and blue-1, a bounded load from 16
   keep-alive client connections (≤ 60 s, ≤ 200k requests), green-1's link cut mid-load.
   Asserted, and why:
   - green-1 becomes `unhealthy` within unhealthy_threshold × (interval + timeout) + 0.5 s of
     the cut (probes run every interval and each failing one takes at most timeout; 0.5 s
     covers the admin polling and scheduling);
   - every failed request was routed to green-1 (access log) and started before green-1 was
     marked unhealthy: those are the requests in flight to the cut host (sent, or sent on a
     pooled upstream connection, with no answer possible); new connects to green-1 time out
     and an idempotent request is retried on blue-1, so they do not fail;
   - at most one failure per client connection (16): a stuck request holds its connection for
     response_timeout (3 s), longer than the time to mark green-1 unhealthy;
   - zero failures among requests started after green-1 went unhealthy, and none of them
     reached green-1 until the link was restored;
   - after the restore green-1 is healthy again within healthy_threshold × (interval +
     timeout) + 0.5 s and serves again.
"""
import http.client
import json
import os
import re
import signal
import threading
import time

import pytest

import netns
from conftest import free_port, wait_for
from proxyutil import PYTHON, BACKEND, Wrk, proxy  # noqa: F401  (proxy is a fixture)

pytestmark = pytest.mark.skipif(netns.unavailable() is not None,
                                reason=netns.unavailable() or "")

BACKEND_PORT = 8080
HC = {"path": "/health", "interval": "1s", "timeout": "500ms", "healthy_threshold": 2,
      "unhealthy_threshold": 2, "matcher": "200"}
INTERVAL, TIMEOUT, HEALTHY_N, UNHEALTHY_N = 1.0, 0.5, 2, 2


@pytest.fixture
def net():
    n = netns.Network()
    yield n
    n.close()


def connect_ok(ip, port, timeout):
    import socket
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_backend(net, procs, host):
    p = net.start(procs, host, [PYTHON, BACKEND, "--host", host.ip, "--port", str(BACKEND_PORT),
                                "--name", host.name], name=f"backend-{host.name}")
    wait_for(lambda: connect_ok(host.ip, BACKEND_PORT, 0.2) or p.poll() is not None, 10,
             what=f"backend {host.name} on {host.ip}")
    assert p.poll() is None, procs.output(p)
    return f"{host.ip}:{BACKEND_PORT}"


def get(port, path="/", timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("X-Backend"), r.read()
    finally:
        c.close()


def test_harness_hosts_cut_restore_cleanup(procs):
    with netns.Network() as n:
        blue, green = n.add_host("blue-1"), n.add_host("green-1")
        assert blue.ip != green.ip and blue.ip.startswith("10.77.") and green.ip.startswith("10.77.")
        assert n.run(blue, ["ip", "-4", "-o", "addr", "show", "eth0"]).stdout.count(blue.ip) == 1
        start_backend(n, procs, blue)
        start_backend(n, procs, green)
        n.cut(green)
        assert not connect_ok(green.ip, BACKEND_PORT, 0.5), "a cut host still accepted"
        assert connect_ok(blue.ip, BACKEND_PORT, 0.5), "cutting green-1 cut blue-1"
        n.restore(green)
        wait_for(lambda: connect_ok(green.ip, BACKEND_PORT, 0.3), 10, what="green-1 back")
        names = [h.ns for h in (blue, green)]
        run_id = n.run_id
    listed = netns._ip("netns", "list").stdout
    assert not any(ns in listed for ns in names), listed
    assert run_id not in netns._ip("-o", "link", "show").stdout
    assert not os.path.exists(os.path.join(netns.STATE_DIR, run_id))


def test_a_killed_run_is_swept_by_the_next_one():
    """A run killed before its teardown (SIGKILL: no atexit, no finally) leaves its namespace;
    the next Network removes it because the owner pid is dead."""
    import subprocess
    import sys
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); import netns; "
            "n = netns.Network(); n.add_host('orphan'); print(n.run_id, flush=True); "
            "time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code, os.path.dirname(netns.__file__)],
                         stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        run_id = p.stdout.readline().strip()
        assert run_id, "the child did not create its network"
        assert f"cutover-{run_id}-orphan" in netns._ip("netns", "list").stdout
    finally:
        p.kill()
        p.wait(timeout=10)
    assert f"cutover-{run_id}-orphan" in netns._ip("netns", "list").stdout
    with netns.Network():
        pass
    assert f"cutover-{run_id}-orphan" not in netns._ip("netns", "list").stdout
    assert run_id not in netns._ip("-o", "link", "show").stdout


def proxy_conf(groups, forward, admin_port):
    lines = [f"admin: 127.0.0.1:{admin_port}", "workers: 2", "listeners:", "  web:",
             f"    bind: 127.0.0.1:{free_port()}", "    forward:"]
    lines += [f"      - {{target_group: {g}, weight: {w}}}" for g, w in forward]
    lines.append("target_groups:")
    for name, targets in groups.items():
        lines += [f"  {name}:", "    algorithm: round_robin", "    deregistration_delay: 5s",
                  "    response_timeout: 3s", f"    health_check: {json.dumps(HC)}",
                  f"    targets: {json.dumps(targets)}"]
    return "\n".join(lines) + "\n"


def test_switch_blue_to_green_under_load(net, procs, proxy):
    blue, green = net.add_host("blue-1"), net.add_host("green-1")
    b, g = start_backend(net, procs, blue), start_backend(net, procs, green)
    px = proxy(proxy_conf({"blue": [b], "green": [g]}, [("blue", 100), ("green", 0)],
                          free_port()))
    px.wait_states("blue", {b: "healthy"})
    px.wait_states("green", {g: "healthy"})
    port = px.port("web")
    assert get(port)[1] == "blue-1"

    load = Wrk(f"http://127.0.0.1:{port}/", connections=32, threads=2, duration=20,
               budget=2_000_000)
    try:
        wait_for(lambda: _served(px, "blue") > 2000, 15,
                 what="load reaching blue-1")
        px.set_forward("web", [("blue", 0), ("green", 100)])
        wait_for(lambda: _served(px, "green") > 2000, 15, what="load reaching green-1")
        assert load.running(), "the load ended before the switch was exercised"
        load.proc.send_signal(signal.SIGINT)
        res = load.result()
    finally:
        load.kill()
    print(f"blue→green under load: {res}")
    res.assert_clean(min_requests=4000)
    assert res.bodies.get("blue-1", 0) > 0 and res.bodies.get("green-1", 0) > 0, res.bodies
    assert {get(port)[1] for _ in range(20)} == {"green-1"}


def _served(px, group):
    """Requests the proxy forwarded to <group>, from /metrics (sum over status classes)."""
    total = 0
    for line in px.metrics().splitlines():
        if line.startswith("#") or f'target_group="{group}"' not in line:
            continue
        if re.match(r"\w*requests_total\{", line):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Load:
    """<conns> threads, each one keep-alive connection sending GET /?id=T-N&delay=0.02 in a loop;
    bounded by <max_requests> in total and <max_seconds>. Records every request as
    (start, end, status or "exc: …", X-Backend, id)."""

    def __init__(self, port, conns=16, max_requests=200_000, max_seconds=60):
        self.port, self.conns = port, conns
        self.left = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.records = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(conns)]
        for t in self.threads:
            t.start()

    def take(self):
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True

    def run(self, tid):
        conn = None
        n = 0
        while not self.stop_flag.is_set() and time.monotonic() < self.deadline and self.take():
            n += 1
            rid = f"{tid}-{n}"
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            t0 = time.monotonic()
            try:
                conn.request("GET", f"/?id={rid}&delay=0.02")
                r = conn.getresponse()
                r.read()
                rec = (t0, time.monotonic(), r.status, r.getheader("X-Backend"), rid)
                if r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:   # a failure of the system under test, recorded
                rec = (t0, time.monotonic(), f"exc: {e!r}", None, rid)
                conn.close()
                conn = None
            with self.lock:
                self.records.append(rec)
        if conn is not None:
            conn.close()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads), "load threads did not stop"
        return list(self.records)


def test_partition_of_green_1_loses_only_its_in_flight_requests(net, procs, proxy, tmp_path):
    blue, green = net.add_host("blue-1"), net.add_host("green-1")
    b, g = start_backend(net, procs, blue), start_backend(net, procs, green)
    px = proxy(proxy_conf({"serving": [g, b]}, [("serving", 100)], free_port()))
    px.wait_states("serving", {b: "healthy", g: "healthy"})
    port = px.port("web")

    load = Load(port, conns=16)
    try:
        wait_for(lambda: len(load.records) > 300, 15, what="load under way")
        t_cut = time.monotonic()
        net.cut(green)
        wait_for(lambda: px.states("serving")[g] == "unhealthy", 10, interval=0.02,
                 what="green-1 unhealthy")
        t_unhealthy = time.monotonic()
        n_at_unhealthy = len(load.records)
        wait_for(lambda: len(load.records) > n_at_unhealthy + 300, 15,
                 what="load served by blue-1 alone")
        t_restore = time.monotonic()
        net.restore(green)
        wait_for(lambda: px.states("serving")[g] == "healthy", 10, interval=0.02,
                 what="green-1 healthy again")
        t_healthy = time.monotonic()
        n_at_healthy = len(load.records)
        wait_for(lambda: sum(1 for r in load.records[n_at_healthy:] if r[3] == "green-1") > 50,
                 15, what="green-1 serving again")
    finally:
        records = load.stop()

    detect = t_unhealthy - t_cut
    recover = t_healthy - t_restore
    bound_down = UNHEALTHY_N * (INTERVAL + TIMEOUT) + 0.5
    bound_up = HEALTHY_N * (INTERVAL + TIMEOUT) + 0.5
    failed = [r for r in records if r[2] != 200]
    print(f"partition: {len(records)} requests, {len(failed)} failed, unhealthy after "
          f"{detect:.2f}s (bound {bound_down}s), healthy again after {recover:.2f}s "
          f"(bound {bound_up}s)")
    assert detect <= bound_down, f"green-1 marked unhealthy after {detect:.2f}s"
    assert recover <= bound_up, f"green-1 healthy again after {recover:.2f}s"

    # Every failure: an answer from the proxy (not a dropped client connection), for a request
    # routed to green-1 and started before green-1 was marked unhealthy.
    targets = access_log_targets(px.access_log)
    for r in failed:
        assert isinstance(r[2], int) and r[2] in (502, 504), f"client-side failure {r}"
        assert targets.get(r[4]) == g, f"failed request {r} went to {targets.get(r[4])}"
        # Unanswered at the cut (ended after it) and sent before green-1 was marked unhealthy
        # (0.2 s: the admin poll and the client's own timestamps lag the proxy's decision).
        assert r[1] >= t_cut and r[0] <= t_unhealthy + 0.2, f"failure outside the window: {r}"
    assert len(failed) <= load.conns, f"{len(failed)} failures for {load.conns} connections"

    after = [r for r in records if r[0] > t_unhealthy + 0.2 and r[0] < t_restore]
    assert after and all(r[2] == 200 and r[3] == "blue-1" for r in after), \
        [r for r in after if r[2] != 200 or r[3] != "blue-1"][:5]
    assert all(r[2] == 200 for r in records if r[0] > t_unhealthy + 0.2)
    assert any(r[3] == "blue-1" for r in records if r[0] < t_cut)
    assert any(r[3] == "green-1" for r in records if r[0] < t_cut)


def access_log_targets(path):
    """{request id: target} from the proxy's access log."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'\S+ \S+ \S+ \S+ (\S+) "[^"]*?[?&]id=([\w-]+)', line)
            if m:
                out[m.group(2)] = m.group(1)
    return out
