"""Signals: SIGHUP re-reads the file (a broken file changes nothing and the log says
FILE:LINE:COL why); SIGUSR2 upgrades the binary under load without failing a request;
SIGTERM stops accepting and lets in-flight requests finish."""
import os
import re
import signal
import socket
import threading
import time

from conftest import port_open, wait_for
from proxyutil import (Wrk, backends, pid_alive, proxy, request, session_pids,  # noqa: F401
                       to_yaml, two_group_conf)


def test_sighup_with_broken_file_keeps_serving_then_good_file_applies(backends, proxy):  # noqa: F811,E501
    blue, green = backends("blue", "green")
    conf = two_group_conf([blue], [green])
    p = proxy(conf)
    p.wait_states("blue", {blue.addr: "healthy"})
    good_text = p.path.read_text()

    broken = good_text.replace("algorithm: round_robin", "algorithm: fastest", 1)
    pos = broken.index("fastest")
    line = broken.count("\n", 0, pos) + 1
    col_value = pos - broken.rfind("\n", 0, pos)
    col_key = col_value - len("algorithm: ")
    p.path.write_text(broken)
    os.kill(p.pid, signal.SIGHUP)
    where = re.compile(re.escape(str(p.path)) + rf":{line}:({col_value}|{col_key}): ")
    wait_for(lambda: where.search(p.output()), 10, what=f"log line naming {p.path}:{line}:COL")
    for _ in range(20):
        r = request(p.port(), "/")
        assert r.status == 200 and r.body == b"blue\n", r
    assert p.proc.poll() is None

    # A valid file is applied by the next SIGHUP: all traffic to green.
    conf["listeners"]["web"]["forward"] = [{"target_group": "blue", "weight": 0},
                                           {"target_group": "green", "weight": 100}]
    p.path.write_text(to_yaml(conf) + "\n")
    os.kill(p.pid, signal.SIGHUP)
    wait_for(lambda: request(p.port(), "/").body == b"green\n", 10, what="reload to apply")
    for _ in range(20):
        assert request(p.port(), "/").body == b"green\n"


def test_binary_upgrade_under_load_fails_no_request(backends, proxy):  # noqa: F811
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green], weights=(("blue", 50), ("green", 50))))
    p.wait_states("blue", {blue.addr: "healthy"})
    p.wait_states("green", {green.addr: "healthy"})
    old = p.pid
    load = Wrk(f"http://127.0.0.1:{p.port()}/", connections=64, threads=2, duration=12,
               budget=2_000_000)
    try:
        wait_for(lambda: blue.state()["requests"] > 500, 10, what="load to start")
        os.kill(old, signal.SIGUSR2)
        new = wait_for(lambda: [q for q in session_pids(old) if q != old], 15,
                       what="the new proxy process")[0]
        wait_for(lambda: not pid_alive(old), 40, what="the old proxy to retire")
        assert pid_alive(new)
        served_before = blue.state()["requests"] + green.state()["requests"]
        wait_for(lambda: blue.state()["requests"] + green.state()["requests"] > served_before + 500,
                 10, what="the new process to carry the load")
        assert load.running(), "the load ended before the upgrade finished"
    finally:
        res = load.result()
    print(res)
    res.assert_clean(min_requests=3000)
    # The new process owns the listeners and the admin API.
    assert request(p.port(), "/").status == 200
    assert p.admin("GET", "/healthz")[0] == 200
    assert p.admin("GET", "/target-groups/blue/health")[0] == 200


def test_sigterm_finishes_in_flight_requests_and_stops_accepting(backends, proxy):  # noqa: F811
    (blue,) = backends("blue")
    p = proxy(two_group_conf([blue], []))
    p.wait_states("blue", {blue.addr: "healthy"})
    results = []

    def slow():
        results.append(request(p.port(), "/?delay=2", timeout=20))
    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: blue.state()["inflight"] == 1, 10, what="slow request in flight")
    os.kill(p.pid, signal.SIGTERM)
    wait_for(lambda: not port_open(p.port()), 5, what="the listener to stop accepting")
    t.join(15)
    assert results and results[0].status == 200 and results[0].body == b"blue\n", results
    p.proc.wait(35)
    assert p.proc.returncode == 0, p.output()


def test_sigterm_closes_idle_keep_alive_connections(backends, proxy):  # noqa: F811
    (blue,) = backends("blue")
    p = proxy(two_group_conf([blue], [], top={"shutdown_timeout": "3s"}))
    p.wait_states("blue", {blue.addr: "healthy"})
    s = socket.create_connection(("127.0.0.1", p.port()), timeout=40)
    s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGTERM)
    p.proc.wait(10)
    assert p.proc.returncode == 0, p.output()
    assert s.recv(1) == b""
    s.close()
    assert time.monotonic() - t0 < 5, "idle connections should close within shutdown_timeout"


def test_sighup_file_dropping_and_adding_targets(backends, proxy):  # noqa: F811
    a, b, c = backends("a", "b", "c")
    conf = two_group_conf([a, b], [], group_opts={"deregistration_delay": "20s"})
    p = proxy(conf)
    p.wait_states("blue", {a.addr: "healthy", b.addr: "healthy"})
    results = []
    t = threading.Thread(target=lambda: results.append(request(p.port(), "/?delay=3", timeout=20)))
    t.start()
    wait_for(lambda: a.state()["inflight"] + b.state()["inflight"] == 1, 10,
             what="slow request in flight")
    busy, idle_one = (a, b) if a.state()["inflight"] else (b, a)

    conf["target_groups"]["blue"]["targets"] = [idle_one.addr, c.addr]
    p.path.write_text(to_yaml(conf) + "\n")
    os.kill(p.pid, signal.SIGHUP)
    wait_for(lambda: p.states("blue").get(busy.addr) == "draining", 10,
             what="the dropped target to drain")
    p.wait_states("blue", {c.addr: "healthy", idle_one.addr: "healthy"})
    names = {request(p.port(), f"/?i={i}").body.decode().strip() for i in range(30)}
    assert names == {idle_one.name, "c"}, names
    t.join(15)
    assert results and results[0].status == 200 and results[0].body.decode().strip() == busy.name


def test_binary_upgrade_lets_the_old_process_finish_in_flight_requests(backends, proxy):  # noqa: F811,E501
    (blue,) = backends("blue")
    p = proxy(two_group_conf([blue], []))
    p.wait_states("blue", {blue.addr: "healthy"})
    old = p.pid
    results = []
    t = threading.Thread(target=lambda: results.append(request(p.port(), "/?delay=3", timeout=20)))
    t.start()
    wait_for(lambda: blue.state()["inflight"] == 1, 10, what="slow request in flight")
    os.kill(old, signal.SIGUSR2)
    new = wait_for(lambda: [q for q in session_pids(old) if q != old], 15,
                   what="the new proxy process")[0]
    # New connections are served (by the new process) while the old one still has work.
    for _ in range(10):
        assert request(p.port(), "/").status == 200
    t.join(15)
    assert results and results[0].status == 200 and results[0].body == b"blue\n", results
    wait_for(lambda: not pid_alive(old), 40, what="the old proxy to retire")
    assert pid_alive(new)
