"""The declarative admin API (docs/man/cutover-proxy.md, ADMIN API): target groups and listeners
created, replaced and deleted on a running proxy, all or nothing, and what SIGHUP and a binary
upgrade do with them. Real proxy, real backends, real sockets on loopback."""
import http.client
import os
import re
import signal
import socket
import threading

from conftest import free_port, port_open, wait_for
from proxyutil import (Wrk, backends, pid_alive, proxy, request, session_pids,  # noqa: F401
                       to_yaml, two_group_conf)


def fast_hc(**kw):
    hc = {"path": "/health", "interval_ms": 500, "timeout_ms": 200, "healthy_threshold": 2,
          "unhealthy_threshold": 2, "matcher": "200"}
    hc.update(kw)
    return hc


def documents(p):
    st1, ls = p.admin("GET", "/listeners")
    st2, gs = p.admin("GET", "/target-groups")
    assert st1 == 200 and st2 == 200, (ls, gs)
    return ls, gs


def refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def started(backends, proxy, *names):  # noqa: F811
    """A proxy with the two-group shape (blue serving web) and extra backends <names>."""
    blue, green, *extra = backends("blue", "green", *names)
    p = proxy(two_group_conf([blue], [green]))
    p.wait_states("blue", {blue.addr: "healthy"})
    return p, blue, green, extra


def test_create_group_and_listener_at_runtime_and_serve(backends, proxy):  # noqa: F811
    p, blue, green, (red,) = started(backends, proxy, "red")

    st, doc = p.admin("PUT", "/target-groups/red",
                      {"algorithm": "least_outstanding_requests", "deregistration_delay_ms": 2000,
                       "health_check": fast_hc(), "targets": [red.addr]})
    assert st == 201, doc
    assert doc == {"name": "red", "algorithm": "least_outstanding_requests",
                   "deregistration_delay_ms": 2000, "health_check": {**fast_hc(), "port": 0},
                   "targets": [red.addr]}
    # Replacing with the same body answers 200 and changes nothing.
    st, again = p.admin("PUT", "/target-groups/red",
                        {"algorithm": "least_outstanding_requests",
                         "deregistration_delay_ms": 2000, "health_check": fast_hc(),
                         "targets": [red.addr]})
    assert (st, again) == (200, doc)

    port = free_port()
    st, ldoc = p.admin("PUT", "/listeners/api",
                       {"bind": f"127.0.0.1:{port}",
                        "forward": [{"target_group": "red", "weight": 100}]})
    assert st == 201, ldoc
    assert ldoc == {"name": "api", "bind": f"127.0.0.1:{port}",
                    "forward": [{"target_group": "red", "weight": 100}]}
    p.wait_states("red", {red.addr: "healthy"})
    for i in range(20):  # every worker accepts on it (one socket per worker)
        r = request(port, f"/?i={i}")
        assert (r.status, r.body) == (200, b"red\n"), r
    assert request(p.port(), "/").body == b"blue\n"
    ls, gs = documents(p)
    assert [x["name"] for x in ls["listeners"]] == ["web", "api"]
    assert [g["name"] for g in gs["target_groups"]] == ["blue", "green", "red"]
    assert re.search(r'listener="api"', p.metrics())

    # Omitted settings take proxy.yaml's defaults; omitted targets keep the group's.
    st, doc = p.admin("PUT", "/target-groups/red", {})
    assert st == 200, doc
    assert doc["algorithm"] == "round_robin" and doc["deregistration_delay_ms"] == 300000
    assert doc["health_check"] == {"path": "/", "port": 0, "interval_ms": 30000,
                                   "timeout_ms": 5000, "healthy_threshold": 5,
                                   "unhealthy_threshold": 2, "matcher": "200"}
    assert doc["targets"] == [red.addr]
    # The health state of an unchanged target is kept.
    assert p.states("red") == {red.addr: "healthy"}


def test_invalid_bodies_name_the_field_and_change_nothing(backends, proxy):  # noqa: F811
    p, blue, green, _ = started(backends, proxy)
    before = documents(p)
    port = free_port()
    cases = [
        ("PUT", "/target-groups/red", {"health_check": {"interval_ms": 50}},
         "health_check.interval_ms: 50 is out of range"),
        ("PUT", "/target-groups/red", {"health_check": {"interval_ms": 1000, "timeout_ms": 1000}},
         "health_check.timeout_ms"),
        ("PUT", "/target-groups/red", {"health_check": {"matcher": "600"}},
         "health_check.matcher: invalid matcher '600'"),
        ("PUT", "/target-groups/red", {"algorithm": "fastest"}, "algorithm: unknown algorithm"),
        ("PUT", "/target-groups/red", {"targets": ["nowhere"]}, "targets[0]: invalid address"),
        ("PUT", "/target-groups/red", {"deregistration_delay_ms": 3600001},
         "deregistration_delay_ms"),
        ("PUT", "/target-groups/red", {"helth_check": {}}, "unknown field 'helth_check'"),
        ("PUT", "/target-groups/bad%20name", {}, "invalid target group name"),
        ("PUT", "/listeners/api", {"bind": f"127.0.0.1:{port}"}, "forward"),
        ("PUT", "/listeners/api", {"forward": [{"target_group": "blue", "weight": 1}]}, "bind"),
        ("PUT", "/listeners/api", {"bind": "unix:/tmp/x", "forward": [
            {"target_group": "blue", "weight": 1}]}, "bind: invalid address"),
        ("PUT", "/listeners/api", {"bind": f"127.0.0.1:{port}", "forward": [
            {"target_group": "nope", "weight": 1}]}, "unknown target group 'nope'"),
        ("PUT", "/listeners/api", {"bind": f"127.0.0.1:{port}", "forward": [
            {"target_group": "blue", "weight": 1000}]}, "forward[0].weight"),
        ("PUT", "/listeners/web", {"forward": []}, "forward: expected a non-empty array"),
    ]
    for method, path, body, want in cases:
        st, doc = p.admin(method, path, body)
        assert st == 400, (path, body, st, doc)
        assert want in doc["error"], (body, doc)
    assert documents(p) == before
    assert refused(port)


def test_replaced_health_check_interval_is_observed(backends, proxy):  # noqa: F811
    p, blue, green, (red,) = started(backends, proxy, "red")
    st, doc = p.admin("PUT", "/target-groups/red",
                      {"health_check": fast_hc(interval_ms=20000, healthy_threshold=1),
                       "targets": [red.addr]})
    assert st == 201, doc
    st, doc = p.admin("PUT", "/listeners/api", {"bind": f"127.0.0.1:{free_port()}",
                                                "forward": [{"target_group": "red",
                                                             "weight": 1}]})
    assert st == 201, doc
    p.wait_states("red", {red.addr: "healthy"})  # the first check runs at once
    base = red.state()["health_ok"]
    # With a 20 s interval nothing more would come for 20 s: a 200 ms one gives 5 in ~1 s.
    st, doc = p.admin("PUT", "/target-groups/red",
                      {"health_check": fast_hc(interval_ms=200, timeout_ms=100,
                                               healthy_threshold=1)})
    assert st == 200 and doc["health_check"]["interval_ms"] == 200, doc
    assert doc["targets"] == [red.addr]
    wait_for(lambda: red.state()["health_ok"] >= base + 5, 4,
             what="health checks at the new 200 ms interval")
    assert p.states("red") == {red.addr: "healthy"}


def test_bind_conflict_is_409_and_nothing_changes(backends, proxy):  # noqa: F811
    p, blue, green, (red,) = started(backends, proxy, "red")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        before = documents(p)
        st, doc = p.admin("PUT", "/listeners/api", {"bind": f"127.0.0.1:{port}", "forward": [
            {"target_group": "blue", "weight": 1}]})
        assert st == 409, doc
        assert doc["error"] == f"listener api: bind 127.0.0.1:{port}: Address already in use"
        # Re-binding an existing listener onto it: 409, and web still serves where it was.
        st, doc = p.admin("PUT", "/listeners/web", {"bind": f"127.0.0.1:{port}"})
        assert st == 409 and "Address already in use" in doc["error"], doc
        # A batch whose listener cannot bind creates none of its groups either.
        st, doc = p.admin("POST", "/changes", {
            "target_groups": {"red": {"targets": [red.addr]}},
            "listeners": {"api": {"bind": f"127.0.0.1:{port}",
                                  "forward": [{"target_group": "red", "weight": 1}]}}})
        assert st == 409, doc
        # Two listeners on one address inside the proxy: 409 as well.
        st, doc = p.admin("PUT", "/listeners/api", {"bind": f"127.0.0.1:{p.port()}",
                                                    "forward": [{"target_group": "blue",
                                                                 "weight": 1}]})
        assert st == 409 and "Address already in use" in doc["error"], doc
        assert documents(p) == before
        st, _ = p.admin("GET", "/target-groups/red/health")
        assert st == 404
        assert request(p.port(), "/").body == b"blue\n"
    finally:
        taken.close()


def test_batch_is_all_or_nothing(backends, proxy):  # noqa: F811
    p, blue, green, (red, amber) = started(backends, proxy, "red", "amber")
    before = documents(p)
    port = free_port()
    good_red = {"health_check": fast_hc(), "targets": [red.addr]}
    listener = {"bind": f"127.0.0.1:{port}", "forward": [{"target_group": "red", "weight": 50},
                                                        {"target_group": "amber", "weight": 50}]}
    bad = [
        ({"target_groups": {"red": good_red,
                            "amber": {"health_check": fast_hc(matcher="200-700"),
                                      "targets": [amber.addr]}},
          "listeners": {"api": listener}},
         "target_groups.amber.health_check.matcher"),
        ({"target_groups": {"red": good_red}, "listeners": {"api": listener}},
         "unknown target group 'amber'"),
        ({"target_groups": {"red": good_red, "amber": {"targets": [amber.addr]}},
          "listeners": {"api": listener}, "delete_target_groups": ["nope"]},
         "no target group named 'nope'"),
        ({"target_groups": {"red": good_red, "amber": {"targets": [amber.addr]}},
          "listeners": {"api": listener}, "delete_listeners": ["api"]},
         "both changed and deleted"),
        ({"target_group": {"red": good_red}}, "unknown field 'target_group'"),
        ({"target_groups": {"red": {"targets": [red.addr, red.addr]}}}, "appears twice"),
    ]
    for body, want in bad:
        st, doc = p.admin("POST", "/changes", body)
        assert st == 400, (body, doc)
        assert want in doc["error"], (want, doc)
    assert documents(p) == before
    assert refused(port)
    assert red.state()["health_ok"] == 0, "a refused batch must not start probing"

    st, doc = p.admin("POST", "/changes", {
        "target_groups": {"red": good_red, "amber": {"health_check": fast_hc(),
                                                     "targets": [amber.addr]}},
        "listeners": {"api": listener}})
    assert st == 200, doc
    assert set(doc) == {"listeners", "target_groups"}
    assert doc == {"listeners": documents(p)[0]["listeners"],
                   "target_groups": documents(p)[1]["target_groups"]}
    p.wait_states("red", {red.addr: "healthy"})
    p.wait_states("amber", {amber.addr: "healthy"})
    names = {request(port, f"/?i={i}").body for i in range(40)}
    assert names == {b"red\n", b"amber\n"}

    # One generation: the listener moves to amber alone and red goes away together.
    st, doc = p.admin("POST", "/changes", {
        "listeners": {"api": {"forward": [{"target_group": "amber", "weight": 1}]}},
        "delete_target_groups": ["red"]})
    assert st == 200, doc
    assert [g["name"] for g in doc["target_groups"]] == ["blue", "green", "amber"]
    assert {request(port, f"/?i={i}").body for i in range(20)} == {b"amber\n"}


def test_rebind_under_keepalive_load_fails_no_request(backends, proxy):  # noqa: F811
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green]))
    p.wait_states("blue", {blue.addr: "healthy"})
    old_port, new_port = p.port(), free_port()
    load = Wrk(f"http://127.0.0.1:{old_port}/", connections=16, threads=2, duration=8,
               budget=400_000)
    try:
        wait_for(lambda: blue.state()["requests"] > 500, 10, what="load to start")
        st, doc = p.admin("PUT", "/listeners/web", {"bind": f"127.0.0.1:{new_port}"})
        assert st == 200, doc
        assert doc["bind"] == f"127.0.0.1:{new_port}"
        assert doc["forward"][0] == {"target_group": "blue", "weight": 100}
        # New connections: the new address serves, the old one is closed.
        assert request(new_port, "/").body == b"blue\n"
        assert refused(old_port)
        # The keep-alive connections accepted before keep being served.
        served = blue.state()["requests"]
        wait_for(lambda: blue.state()["requests"] > served + 500, 10,
                 what="the load to go on over the connections accepted before")
        assert load.running(), "the load ended before the check"
    finally:
        res = load.result()
    print(res)
    res.assert_clean(min_requests=1000)


def test_delete_listener_refuses_new_connections_and_finishes_in_flight(backends, proxy):  # noqa: F811,E501
    p, blue, green, _ = started(backends, proxy)
    port = free_port()
    st, doc = p.admin("PUT", "/listeners/api", {"bind": f"127.0.0.1:{port}", "forward": [
        {"target_group": "blue", "weight": 1}]})
    assert st == 201, doc
    assert request(port, "/").body == b"blue\n"

    result = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)

    def held():
        conn.request("GET", "/?hold=del1")
        r = conn.getresponse()
        result["resp"] = (r.status, r.read(), r.getheader("Connection"))

    t = threading.Thread(target=held)
    t.start()
    try:
        wait_for(lambda: "del1" in blue.state()["held"], 10, what="the request to be held")
        st, doc = p.admin("DELETE", "/listeners/api")
        assert st == 200, doc
        assert [x["name"] for x in doc["listeners"]] == ["web"]
        assert refused(port)
        st, doc = p.admin("GET", "/listeners/api")
        assert st == 404, doc
        assert t.is_alive(), "the in-flight request ended with the listener"
    finally:
        blue.control(release="del1")
        t.join(20)
    conn.close()
    assert result["resp"] == (200, b"blue\n", "close"), result
    st, doc = p.admin("DELETE", "/listeners/api")
    assert st == 404, doc
    assert request(p.port(), "/").body == b"blue\n"


def test_delete_group_in_use_is_409(backends, proxy):  # noqa: F811
    p, blue, green, (red,) = started(backends, proxy, "red")
    before = documents(p)
    st, doc = p.admin("DELETE", "/target-groups/blue")
    assert st == 409, doc
    assert doc["error"].startswith("target group 'blue' is used by listener 'web'"), doc
    assert documents(p) == before
    st, doc = p.admin("DELETE", "/target-groups/nope")
    assert st == 404, doc

    st, doc = p.admin("PUT", "/target-groups/red", {"deregistration_delay_ms": 60000,
                                                    "targets": [red.addr]})
    assert st == 201, doc
    st, doc = p.admin("DELETE", "/target-groups/red")
    assert st == 200, doc
    assert [g["name"] for g in doc["target_groups"]] == ["blue", "green"]
    st, doc = p.admin("GET", "/target-groups/red/health")
    assert st == 404, doc


def test_sighup_keeps_api_objects_and_the_file_wins_for_its_own(backends, proxy):  # noqa: F811
    blue, green, red = backends("blue", "green", "red")
    conf = two_group_conf([blue], [green])
    p = proxy(conf)
    p.wait_states("blue", {blue.addr: "healthy"})
    port = free_port()
    st, doc = p.admin("POST", "/changes", {
        "target_groups": {"red": {"health_check": fast_hc(), "targets": [red.addr]},
                          "green": {"health_check": fast_hc(interval_ms=700),
                                    "targets": [green.addr]}},
        "listeners": {"api": {"bind": f"127.0.0.1:{port}",
                              "forward": [{"target_group": "red", "weight": 1}]}}})
    assert st == 200, doc
    p.wait_states("red", {red.addr: "healthy"})
    seq_log = p.output().count("published")

    # The file moves web to green; it does not name red or api.
    conf["listeners"]["web"]["forward"] = [{"target_group": "blue", "weight": 0},
                                           {"target_group": "green", "weight": 100}]
    p.path.write_text(to_yaml(conf) + "\n")
    os.kill(p.pid, signal.SIGHUP)
    wait_for(lambda: request(p.port(), "/").body == b"green\n", 10, what="reload to apply")
    assert p.output().count("published") > seq_log
    assert request(port, "/").body == b"red\n"
    ls, gs = documents(p)
    assert [x["name"] for x in ls["listeners"]] == ["web", "api"]
    groups = {g["name"]: g for g in gs["target_groups"]}
    assert set(groups) == {"blue", "green", "red"}
    assert groups["green"]["health_check"]["interval_ms"] == 1000, "the file's settings win"
    assert groups["red"]["health_check"]["interval_ms"] == 500

    # A file that drops nothing but adds a listener on api's address is refused as a whole.
    broken = dict(conf)
    broken["listeners"] = dict(conf["listeners"])
    broken["listeners"]["clash"] = {"bind": f"127.0.0.1:{port}",
                                    "forward": [{"target_group": "blue", "weight": 1}]}
    p.path.write_text(to_yaml(broken) + "\n")
    os.kill(p.pid, signal.SIGHUP)
    wait_for(lambda: "Address already in use (by listener" in p.output(), 10,
             what="the refused reload in the log")
    assert documents(p) == (ls, gs)

    # Once the file names api, the file owns it: a later SIGHUP without it removes it.
    conf["listeners"]["api"] = {"bind": f"127.0.0.1:{port}",
                                "forward": [{"target_group": "green", "weight": 1}]}
    conf["target_groups"]["red"] = {"targets": [red.addr]}
    p.path.write_text(to_yaml(conf) + "\n")
    os.kill(p.pid, signal.SIGHUP)
    wait_for(lambda: request(port, "/").body == b"green\n", 10, what="the file's api")
    del conf["listeners"]["api"]
    p.path.write_text(to_yaml(conf) + "\n")
    os.kill(p.pid, signal.SIGHUP)
    wait_for(lambda: refused(port), 10, what="api to go with the file")
    assert request(p.port(), "/").body == b"green\n"


def test_binary_upgrade_keeps_api_listeners_and_groups(backends, proxy):  # noqa: F811
    blue, green, red = backends("blue", "green", "red")
    p = proxy(two_group_conf([blue], [green]))
    p.wait_states("blue", {blue.addr: "healthy"})
    port = free_port()
    st, doc = p.admin("POST", "/changes", {
        "target_groups": {"red": {"health_check": fast_hc(), "targets": [red.addr]}},
        "listeners": {"api": {"bind": f"127.0.0.1:{port}",
                              "forward": [{"target_group": "red", "weight": 1}]}}})
    assert st == 200, doc
    p.wait_states("red", {red.addr: "healthy"})
    before = documents(p)
    old = p.pid
    os.kill(old, signal.SIGUSR2)
    new = wait_for(lambda: [q for q in session_pids(old) if q != old], 15,
                   what="the new proxy process")[0]
    wait_for(lambda: not pid_alive(old), 40, what="the old proxy to retire")
    assert pid_alive(new)
    assert documents(p) == before
    p.wait_states("red", {red.addr: "healthy"})
    assert request(port, "/").body == b"red\n"
    assert "kept 1 target groups and 1 listeners" in p.output()
    os.kill(new, signal.SIGTERM)
    wait_for(lambda: not pid_alive(new), 40, what="the new proxy to stop")
    assert not port_open(port)


def test_cli_creates_and_deletes_groups_and_listeners(backends, proxy, cutover):  # noqa: F811
    import json
    import subprocess
    p, blue, green, (red,) = started(backends, proxy, "red")
    admin = f"127.0.0.1:{p.admin_port}"

    def cli(*args):
        return subprocess.run([cutover, "proxy", *args, "--admin", admin], capture_output=True,
                              text=True, timeout=30)

    r = cli("create-target-group", "--target-group", "red", "--targets", red.addr,
            "--health-check-path", "/health", "--health-check-interval-ms", "500",
            "--health-check-timeout-ms", "200", "--healthy-threshold", "2",
            "--deregistration-delay-ms", "1000", "--output", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["health_check"]["interval_ms"] == 500 and doc["deregistration_delay_ms"] == 1000
    port = free_port()
    r = cli("create-listener", "--listener", "api", "--bind", f"127.0.0.1:{port}",
            "--forward", "red=100", "--output", "table")
    assert r.returncode == 0, r.stderr
    assert "api" in r.stdout and f"127.0.0.1:{port}" in r.stdout
    p.wait_states("red", {red.addr: "healthy"})
    assert request(port, "/").body == b"red\n"
    # refused by the proxy: exit 1 with its message
    r = cli("delete-target-group", "--target-group", "red")
    assert r.returncode == 1 and "is used by listener 'api'" in r.stderr, r
    r = cli("create-target-group", "--target-group", "red", "--health-check-interval-ms", "5")
    assert r.returncode == 1 and "health_check.interval_ms" in r.stderr, r
    r = cli("create-listener", "--listener", "api")
    assert r.returncode == 2, r
    r = cli("delete-listener", "--listener", "api", "--output", "table")
    assert r.returncode == 0 and "deleted listener api" in r.stdout, r
    assert refused(port)
    r = cli("delete-target-group", "--target-group", "red", "--output", "json")
    assert r.returncode == 0, r.stderr
    assert [g["name"] for g in json.loads(r.stdout)["target_groups"]] == ["blue", "green"]


def test_sigterm_drains_a_runtime_listener_like_the_file_ones(backends, proxy):  # noqa: F811
    p, blue, green, _ = started(backends, proxy)
    port = free_port()
    st, doc = p.admin("PUT", "/listeners/api", {"bind": f"127.0.0.1:{port}", "forward": [
        {"target_group": "blue", "weight": 1}]})
    assert st == 201, doc
    result = {}

    def held():
        r = request(port, "/?hold=term1", timeout=20)
        result["resp"] = (r.status, r.body)

    t = threading.Thread(target=held)
    t.start()
    try:
        wait_for(lambda: "term1" in blue.state()["held"], 10, what="the request to be held")
        os.kill(p.pid, signal.SIGTERM)
        wait_for(lambda: refused(port) and refused(p.port()), 10,
                 what="both listeners to stop accepting")
        assert p.proc.poll() is None, "the proxy left with a request in flight"
    finally:
        blue.control(release="term1")
        t.join(20)
    assert result["resp"] == (200, b"blue\n"), result
    assert p.proc.wait(20) == 0


def test_sighup_adds_and_rebinds_file_listeners(backends, proxy):  # noqa: F811
    blue, green = backends("blue", "green")
    conf = two_group_conf([blue], [green])
    p = proxy(conf)
    p.wait_states("blue", {blue.addr: "healthy"})
    old_port, new_port, test_port = p.port(), free_port(), free_port()
    conf["listeners"]["web"]["bind"] = f"127.0.0.1:{new_port}"
    conf["listeners"]["test"] = {"bind": f"127.0.0.1:{test_port}",
                                 "forward": [{"target_group": "green", "weight": 1}]}
    p.path.write_text(to_yaml(conf) + "\n")
    os.kill(p.pid, signal.SIGHUP)
    wait_for(lambda: port_open(test_port), 10, what="the file's new listener")
    p.wait_states("green", {green.addr: "healthy"})
    assert request(test_port, "/").body == b"green\n"
    assert request(new_port, "/").body == b"blue\n"
    assert refused(old_port)
    ls, _ = documents(p)
    assert {x["name"]: x["bind"] for x in ls["listeners"]} == {
        "web": f"127.0.0.1:{new_port}", "test": f"127.0.0.1:{test_port}"}


def test_shipped_changes_example_is_accepted(backends, proxy):  # noqa: F811
    import json
    from conftest import REPO
    p, blue, green, _ = started(backends, proxy)
    with open(os.path.join(REPO, "examples", "proxy", "changes.json")) as f:
        body = json.load(f)
    port = free_port()  # the example's port may be taken on this machine
    body["listeners"]["canary"]["bind"] = f"127.0.0.1:{port}"
    st, doc = p.admin("POST", "/changes", body)
    assert st == 200, doc
    assert [x["name"] for x in doc["listeners"]] == ["web", "canary"]
    group = [g for g in doc["target_groups"] if g["name"] == "canary"][0]
    want = dict(body["target_groups"]["canary"], name="canary")
    want["health_check"] = dict(want["health_check"], port=0)
    assert group == want
    assert port_open(port)
