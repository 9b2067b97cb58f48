"""Balancing: weighted forward across target groups (the observed split over 10,000 requests is
within ±2 points of the weights), round_robin and least_outstanding_requests inside a group."""
import threading

from conftest import wait_for

from proxyutil import backends, proxy, request, two_group_conf, wrk  # noqa: F401

N = 10000


def split(p, weights):
    p.set_forward("web", weights)
    # Bounded: 10,000 requests (the budget) or 60 s, whichever comes first.
    r = wrk(f"http://127.0.0.1:{p.port()}/", connections=16, threads=2, duration=60, budget=N)
    r.assert_clean(min_requests=N)
    total = r.bodies.get("blue", 0) + r.bodies.get("green", 0)
    assert total == r.answered, f"answers from elsewhere: {r.bodies}"
    return 100.0 * r.bodies.get("blue", 0) / total, total


def test_weighted_split_within_two_points(backends, proxy):  # noqa: F811
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green]))
    p.wait_states("blue", {blue.addr: "healthy"})
    p.wait_states("green", {green.addr: "healthy"})
    for wb, wg in ((90, 10), (50, 50), (70, 30), (1, 3), (100, 0), (0, 100)):
        got, total = split(p, [("blue", wb), ("green", wg)])
        want = 100.0 * wb / (wb + wg)
        print(f"weights {wb}/{wg}: blue {got:.2f}% of {total}")
        assert abs(got - want) <= 2.0, f"weights {wb}/{wg}: blue got {got:.2f}% over {total}"
        if wb == 0 or wg == 0:
            assert got == want, "a group with weight 0 must get nothing"


def test_round_robin_spreads_evenly_inside_a_group(backends, proxy):  # noqa: F811
    bs = backends("a", "b", "c")
    p = proxy(two_group_conf(bs, []))
    p.wait_states("blue", {b.addr: "healthy" for b in bs})
    r = wrk(f"http://127.0.0.1:{p.port()}/", connections=8, threads=2, duration=60, budget=3000)
    r.assert_clean(min_requests=3000)
    counts = [r.bodies.get(n, 0) for n in ("a", "b", "c")]
    for c in counts:
        assert abs(c / sum(counts) - 1 / 3) < 0.02, counts


def test_least_outstanding_requests_avoids_the_busy_target(backends, proxy):  # noqa: F811
    slow, fast = backends("slow", "fast")
    p = proxy(two_group_conf([slow, fast], [], group_opts={"algorithm": "least_outstanding_requests"}))
    p.wait_states("blue", {slow.addr: "healthy", fast.addr: "healthy"})
    slow.control(delay=2)
    results = []

    def call():
        results.append(request(p.port(), "/", timeout=15))
    # Requests start one at a time (each is either answered or known to be stuck on "slow"
    # before the next starts), so every pick sees the previous one's outstanding count.
    # Round robin would put every other request on "slow"; least outstanding only the first.
    threads = []
    for i in range(6):
        stuck = slow.state()["inflight"]
        t = threading.Thread(target=call)
        t.start()
        threads.append(t)
        wait_for(lambda: not t.is_alive() or slow.state()["inflight"] > stuck, 10,
                 what="request answered or outstanding on slow")
    for t in threads:
        t.join(20)
    slow.control(delay=0)
    names = [r.body.decode().strip() for r in results]
    assert len(results) == 6 and all(r.status == 200 for r in results), results
    assert names.count("slow") <= 1, names


def test_test_listener_reaches_green_before_it_gets_real_traffic(backends, proxy):  # noqa: F811
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green], test_listener=True))
    p.wait_states("blue", {blue.addr: "healthy"})
    p.wait_states("green", {green.addr: "healthy"})
    for i in range(20):
        assert request(p.port("web"), f"/?i={i}").body == b"blue\n"
        assert request(p.port("test"), f"/?i={i}").body == b"green\n"
    # Changing one listener's action leaves the other alone.
    p.set_forward("web", [("blue", 0), ("green", 100)])
    assert request(p.port("web"), "/").body == b"green\n"
    p.set_forward("test", [("blue", 1)])
    assert request(p.port("test"), "/").body == b"blue\n"
    assert request(p.port("web"), "/").body == b"green\n"
