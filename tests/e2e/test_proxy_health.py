"""Health checks as ALB runs them: a target leaves `initial` after one passing check, turns
`unhealthy` after exactly unhealthy_threshold consecutive failures and `healthy` again after
exactly healthy_threshold passes; reason codes as ALB's; traffic only to healthy targets, and
fail-open to all of them when none is healthy."""
import time

from proxyutil import backends, proxy, request, two_group_conf  # noqa: F401

UNHEALTHY_T = 3
HEALTHY_T = 4


def health_conf(targets, **hc):
    h = {"interval": "500ms", "timeout": "300ms", "healthy_threshold": HEALTHY_T,
         "unhealthy_threshold": UNHEALTHY_T}
    h.update(hc)
    return two_group_conf(targets, [], health=h)


def served_by(p, n=40):
    names = set()
    for i in range(n):
        r = request(p.port(), f"/?i={i}")
        assert r.status == 200, r
        names.add(r.body.decode().strip())
    return names


def watch_transition(p, backend, change, counter, frm, to, threshold, timeout=20):
    """Tells <backend> <change> (its /_control keys) and polls the health API until it goes
    <frm> → <to>. Each poll reads the backend's count of checks (<counter>, since the change)
    before and after reading the state: while the state is still <frm>, at most <threshold>
    checks can have been answered; once it is <to>, at least <threshold> have. The base count
    comes from the change's own answer (the backend applies it and reports in one step): read
    in a second call, a check answered in between counted for the proxy but not for the test,
    and the transition looked early ("unhealthy→healthy after only 3 checks (threshold 4)" in
    a ctest -j2 run). Returns the target's health entry."""
    base = backend.control(**change)[counter]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = backend.state()[counter] - base
        entry = p.health("blue")[backend.addr]
        after = backend.state()[counter] - base
        if entry["state"] == to:
            assert after >= threshold, f"{frm}→{to} after only {after} checks (threshold {threshold})"
            return entry
        assert entry["state"] == frm, f"unexpected state {entry}"
        assert before <= threshold, f"still {frm} after {before} checks (threshold {threshold})"
        time.sleep(0.05)
    raise AssertionError(f"{backend.name} did not go {frm}→{to} in {timeout}s: {p.health('blue')}")


def test_states_follow_the_configured_thresholds(backends, proxy):  # noqa: F811
    a, b = backends("a", "b")
    p = proxy(health_conf([a, b]))
    first = p.states("blue")
    assert set(first.values()) <= {"initial", "healthy"}, first
    # One passing check is enough to leave `initial`.
    p.wait_states("blue", {a.addr: "healthy", b.addr: "healthy"}, timeout=5)
    assert served_by(p) == {"a", "b"}

    entry = watch_transition(p, a, {"health": "fail"}, "health_fail", "healthy", "unhealthy",
                             UNHEALTHY_T)
    assert entry["reason"] == "Target.ResponseCodeMismatch", entry
    assert served_by(p) == {"b"}, "an unhealthy target must get no traffic"

    entry = watch_transition(p, a, {"health": "ok"}, "health_ok", "unhealthy", "healthy",
                             HEALTHY_T)
    assert entry["reason"] is None, entry
    assert served_by(p) == {"a", "b"}


def test_timeout_reason_and_matcher_range(backends, proxy):  # noqa: F811
    (a,) = backends("a")
    p = proxy(health_conf([a], matcher="200-299", unhealthy_threshold=2))
    p.wait_states("blue", {a.addr: "healthy"}, timeout=5)
    a.control(health_delay=1.0)              # slower than the 300ms check timeout
    p.wait_states("blue", {a.addr: "unhealthy"}, timeout=10)
    assert p.health("blue")[a.addr]["reason"] == "Target.Timeout"
    a.control(health_delay=0)
    p.wait_states("blue", {a.addr: "healthy"}, timeout=10)


def test_all_unhealthy_fails_open(backends, proxy):  # noqa: F811
    a, b = backends("a", "b")
    p = proxy(health_conf([a, b], unhealthy_threshold=2))
    p.wait_states("blue", {a.addr: "healthy", b.addr: "healthy"}, timeout=5)
    a.control(health="fail")
    b.control(health="fail")
    p.wait_states("blue", {a.addr: "unhealthy", b.addr: "unhealthy"}, timeout=10)
    # As ALB: with no healthy target in the group, traffic goes to all of them.
    assert served_by(p) == {"a", "b"}


def test_health_check_port_and_path_are_configurable(backends, proxy):  # noqa: F811
    a, probe = backends("a", "probe")
    # Checks go to another port (the "probe" backend) and path; failing the probe makes the
    # target unhealthy even though the target itself is fine.
    p = proxy(health_conf([a], port=probe.port, unhealthy_threshold=2))
    p.wait_states("blue", {a.addr: "healthy"}, timeout=5)
    assert probe.state()["health_ok"] >= 1 and a.state()["health_ok"] == 0
    probe.control(health="fail")
    p.wait_states("blue", {a.addr: "unhealthy"}, timeout=10)


def test_new_target_registered_at_runtime_starts_initial(backends, proxy):  # noqa: F811
    a, b = backends("a", "b")
    p = proxy(health_conf([a], interval="2s", timeout="1s"))
    p.wait_states("blue", {a.addr: "healthy"}, timeout=6)
    st, body = p.register("blue", [b.addr])
    assert st == 200, body
    s = p.states("blue")
    assert s[b.addr] in ("initial", "healthy"), s
    p.wait_states("blue", {b.addr: "healthy"}, timeout=8)
    assert served_by(p) == {"a", "b"}
