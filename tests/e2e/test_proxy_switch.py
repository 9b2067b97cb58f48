"""Moving traffic: 20 blue↔green switches through the admin API under a 64-connection keep-alive
load lose nothing; a deregistered target finishes what it has in flight while new requests avoid
it, and whatever outlives the deregistration delay gets a 502."""
import http.client
import threading
import time

from conftest import wait_for
from proxyutil import Wrk, backends, proxy, request, two_group_conf, wrk  # noqa: F401


def held_request(p, path, results):
    try:
        results.append(request(p.port(), path, timeout=70))
    except Exception as e:  # noqa: BLE001 - reported by the test that joins
        results.append(e)


def start_held(p, key, members):
    """Starts GET /?hold=<key> in the background: the backend it lands on keeps it in flight
    until release(<key>) (see tests/backend/backend.py), so what the test does meanwhile can
    take as long as it takes. A fixed ?delay= raced with it: a loaded machine finished the
    delay before the test had looked (the flake this replaced). Returns (thread, results,
    the backend holding it)."""
    results = []
    t = threading.Thread(target=held_request, args=(p, f"/?hold={key}", results))
    t.start()
    hit = wait_for(lambda: next((b for b in members if key in b.state()["held"]), None), 10,
                   what="the held request to reach a target")
    return t, results, hit


def release(members, key):
    for b in members:
        b.control(release=key)


def test_20_switches_under_64_connection_load_lose_nothing(backends, proxy):  # noqa: F811
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green]))
    p.wait_states("blue", {blue.addr: "healthy"})
    p.wait_states("green", {green.addr: "healthy"})
    probe = http.client.HTTPConnection("127.0.0.1", p.port(), timeout=10)

    load = Wrk(f"http://127.0.0.1:{p.port()}/", connections=64, threads=2, duration=14,
               budget=2_000_000)
    try:
        wait_for(lambda: blue.state()["requests"] > 500, 10, what="load to start")
        for i in range(20):
            to = "green" if i % 2 == 0 else "blue"
            other = "blue" if to == "green" else "green"
            p.set_forward("web", [(to, 100), (other, 0)])
            # The PUT returned: the change is in force on every worker, for an existing
            # keep-alive connection too.
            r = request(p.port(), "/", conn=probe)
            assert r.status == 200 and r.body.decode().strip() == to, (i, r)
            time.sleep(0.3)                      # let the load run on this side for a while
        assert load.running(), "the load ended before the switches were done"
    finally:
        res = load.result()
    probe.close()
    print(res)
    res.assert_clean(min_requests=5000)
    assert res.bodies.get("blue", 0) > 0 and res.bodies.get("green", 0) > 0, res.bodies
    assert set(res.bodies) <= {"blue", "green"}, res.bodies


def test_in_flight_request_on_deregistered_target_completes(backends, proxy):  # noqa: F811
    a, b = backends("a", "b")
    p = proxy(two_group_conf([a, b], [], group_opts={"deregistration_delay": "20s"}))
    p.wait_states("blue", {a.addr: "healthy", b.addr: "healthy"})
    t, results, hit = start_held(p, "dereg", [a, b])
    other = b if hit is a else a
    # The requests below take 40 x 0.1 s: longer than the 3 s ?delay= this test used to rely
    # on, so it fails if the in-flight request is timed rather than held.
    other.control(delay=0.1)

    st, body = p.deregister("blue", [hit.addr])
    assert st == 200, body
    entry = p.health("blue").get(hit.addr)
    assert entry and entry["state"] == "draining", p.health("blue")
    assert entry["reason"] == "Target.DeregistrationInProgress", entry

    for i in range(40):                          # new requests avoid the draining target
        r = request(p.port(), f"/?i={i}")
        assert r.status == 200 and r.body.decode().strip() == other.name, (i, r)
    assert hit.state()["inflight"] == 1
    assert t.is_alive() and not results, results  # still in flight, through the proxy too

    release([hit], "dereg")
    t.join(15)
    r, = results
    assert not isinstance(r, Exception), r
    assert r.status == 200 and r.body.decode().strip() == hit.name, r


def test_request_outliving_the_deregistration_delay_gets_502(backends, proxy):  # noqa: F811
    a, b = backends("a", "b")
    p = proxy(two_group_conf([a, b], [], group_opts={"deregistration_delay": "1s"}))
    p.wait_states("blue", {a.addr: "healthy", b.addr: "healthy"})
    t, results, hit = start_held(p, "cut", [a, b])
    t0 = time.monotonic()
    st, body = p.deregister("blue", [hit.addr])
    assert st == 200, body
    t.join(15)
    release([hit], "cut")                        # the backend's side of it, now orphaned
    r, = results
    assert not isinstance(r, Exception), r
    assert r.status == 502, r
    assert time.monotonic() - t0 < 5, "the 502 should come at the end of the 1s delay"
    # Once the delay is over the target is forgotten (or reported unused).
    wait_for(lambda: p.states("blue").get(hit.addr) in (None, "unused"), 10,
             what="the deregistered target to go away")


def test_weight_zero_lets_in_flight_finish_and_sends_new_requests_elsewhere(backends, proxy):  # noqa: F811,E501
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green]))
    p.wait_states("blue", {blue.addr: "healthy"})
    p.wait_states("green", {green.addr: "healthy"})
    t, results, hit = start_held(p, "w0", [blue])
    p.set_forward("web", [("blue", 0), ("green", 100)])
    for i in range(20):
        assert request(p.port(), f"/?i={i}").body == b"green\n"
    assert t.is_alive() and not results, results
    release([blue], "w0")
    t.join(10)
    r, = results
    assert not isinstance(r, Exception), r
    assert r.status == 200 and r.body == b"blue\n", r


def test_register_and_deregister_under_load_lose_nothing(backends, proxy):  # noqa: F811
    a, b, c = backends("a", "b", "c")
    p = proxy(two_group_conf([a, b], [], group_opts={"deregistration_delay": "2s"}))
    p.wait_states("blue", {a.addr: "healthy", b.addr: "healthy"})
    load = Wrk(f"http://127.0.0.1:{p.port()}/", connections=32, threads=2, duration=10,
               budget=1_000_000)
    try:
        wait_for(lambda: a.state()["requests"] > 200, 10, what="load to start")
        assert p.register("blue", [c.addr])[0] == 200
        p.wait_states("blue", {c.addr: "healthy"})
        wait_for(lambda: c.state()["requests"] > 100, 10, what="traffic on the new target")
        assert p.deregister("blue", [a.addr])[0] == 200
        # A request routed to <a> just before the change (on a new upstream connection its
        # bytes wait for the connect) can reach <a> after the DELETE returned: it is in flight,
        # not new. Count from when the proxy has none in flight to <a> (or forgot it).
        wait_for(lambda: p.health("blue").get(a.addr, {}).get("in_flight", 0) == 0, 10,
                 what="requests in flight to the deregistered target to finish")
        base = a.state()["requests"]
        time.sleep(0.5)
        assert a.state()["requests"] == base, "a deregistered target got new requests"
    finally:
        res = load.result()
    res.assert_clean(min_requests=2000)


def test_idle_deregistered_target_pooled_connections_close_at_once(backends, proxy):  # noqa: F811
    a, b = backends("a", "b")
    p = proxy(two_group_conf([a, b], [], group_opts={"deregistration_delay": "20s"}))
    p.wait_states("blue", {a.addr: "healthy", b.addr: "healthy"})
    res = wrk(f"http://127.0.0.1:{p.port()}/", connections=16, threads=2, duration=20, budget=2000)
    res.assert_clean(min_requests=2000)
    assert a.state()["connections"] > 1, "the proxy should keep pooled connections to a"
    assert p.deregister("blue", [a.addr])[0] == 200
    # Nothing in flight: the pooled keep-alive connections to a are closed (the only one left
    # is the one this query arrives on), and, as ALB does when nothing is in flight, the
    # deregistration completes without waiting for the 20 s delay.
    wait_for(lambda: a.state()["connections"] == 1, 5, what="pooled connections to a to close")
    wait_for(lambda: p.states("blue").get(a.addr) in (None, "unused"), 5,
             what="the deregistration to complete")
    for i in range(20):
        assert request(p.port(), f"/?i={i}").body == b"b\n"
