"""cutover supervise, `ready: {http: /health}` (ports: mode, so each probe reaches the new worker
itself): the supervisor's own non-blocking probe (no libcurl).

1. A new version whose /health answers 503 is never ready: the reload fails after ready_timeout,
   naming the worker, and the old workers on the other ports keep serving.
2. A new version that accepts the probe's connection and reads the request but never answers
   is not ready either: each probe times out and closes its connection (the app sees the
   client give up), and the reload fails the same way.
3. Once fixed, a reload succeeds (a 200 is ready). No process is left behind."""
import urllib.request

import pytest

from supervise_util import Supervisor, free_port_block


@pytest.fixture
def sv(cutover, procs, tmp_path):
    s = Supervisor(cutover, procs, tmp_path)
    yield s
    s.cleanup()


def get(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return r.status, r.read().decode()


def failed_reload_keeps_old_workers(sv, base, mode, worker_says):
    before = {w["index"]: w["pid"] for w in sv.status() if w["state"] == "ready"}
    assert len(before) == 4, sv.status()
    sv.set_mode(mode)
    r = sv.apps("reload", "web", "--output", "table", timeout=60)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "web[0]" in r.stderr, r.stderr
    assert "not ready within 3000ms" in r.stderr, r.stderr
    # the worker's last log lines prove the probe reached it and what it got
    assert worker_says in r.stderr, r.stderr
    after = {w["index"]: w["pid"] for w in sv.status() if w["state"] == "ready"}
    # web[0] was drained to free its port; the other three old workers keep serving
    assert after == {i: before[i] for i in (1, 2, 3)}, (before, after)
    for i in (1, 2, 3):
        status, body = get(base + i)
        assert status == 200 and f"pid={before[i]}" in body, body
    return r


def start_four(sv):
    base = free_port_block(4)
    sv.write_conf(instances=4, ports=base, ready="{http: /health}", ready_timeout="3s")
    sv.start()
    return base


def fixed_version_reloads(sv, base):
    sv.set_mode("")  # fixed version: /health answers 200, the reload succeeds
    r = sv.apps("reload", "web", "--output", "table", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sv.count("ready") == 4
    for i in range(4):
        assert get(base + i)[0] == 200
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_http_ready_503_is_never_ready(sv):
    base = start_four(sv)
    failed_reload_keeps_old_workers(sv, base, "--never-ready", "health: answering 503")
    fixed_version_reloads(sv, base)


def test_http_ready_silent_health_times_out(sv):
    base = start_four(sv)
    r = failed_reload_keeps_old_workers(sv, base, "--silent-health",
                                        "health: holding the request, never answering")
    # the probe (1 s timeout) closed its connection: the app saw the client give up
    assert "health: the client gave up" in r.stderr, r.stderr
    fixed_version_reloads(sv, base)
