"""cutover supervise, listen: mode: 4 workers share one socket; `cutover apps reload web` under a
64-connection keep-alive load loses nothing, also when the new version boots slowly; a new
version that never becomes ready leaves the old workers serving and the command fails, naming
the worker and showing its last log lines; SIGTERM leaves no process behind."""
import time

import pytest

from conftest import free_port, wait_for
from supervise_util import Supervisor, Wrk


@pytest.fixture
def sv(cutover, procs, tmp_path):
    s = Supervisor(cutover, procs, tmp_path)
    yield s
    s.cleanup()


def reload_under_load(sv, port, reloads, duration, parallel=None):
    # <duration> bounds the load; it is ended as soon as the reloads are done
    load = Wrk(f"http://127.0.0.1:{port}/", connections=64, duration=duration)
    time.sleep(1)  # let the load reach steady state before the first reload
    times = []
    for _ in range(reloads):
        args = ["reload", "web", "--output", "table"]
        if parallel:
            args += ["--parallel", str(parallel)]
        t0 = time.monotonic()
        r = sv.apps(*args)
        times.append(time.monotonic() - t0)
        assert r.returncode == 0, r.stdout + r.stderr
    assert load.p.poll() is None, "the load ended before the reloads did: not a test under load"
    time.sleep(0.5)
    return load.finish(), times


def test_four_workers_ready_and_three_reloads_lose_nothing(sv):
    port = free_port()
    sv.write_conf(instances=4, listen=f"127.0.0.1:{port}")
    sv.start()
    before = sv.ready_pids()
    assert len(before) == 4
    res, times = reload_under_load(sv, port, reloads=3, duration=90)
    assert res["total"] > 1000, res["raw"]
    assert res["errors"] == 0, res["raw"]
    assert res["non2xx"] == 0, res["raw"]
    after = sv.ready_pids()
    assert len(after) == 4 and not set(after) & set(before), (before, after)
    assert all(w["generation"] == 4 for w in sv.status())
    print(f"reload times: {[round(t, 2) for t in times]}")
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_slow_booting_new_version_loses_nothing(sv):
    port = free_port()
    sv.write_conf(instances=4, listen=f"127.0.0.1:{port}", ready_timeout="20s")
    sv.start()
    sv.set_mode("--boot-delay 5")  # every new worker needs 5 s to become ready
    res, times = reload_under_load(sv, port, reloads=3, duration=150, parallel=2)
    assert res["errors"] == 0 and res["non2xx"] == 0, res["raw"]
    assert all(t >= 10 for t in times), times  # 2 waves of 5 s each: the gate really waited
    assert sv.count("ready") == 4
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_broken_new_version_keeps_old_workers_serving(sv):
    port = free_port()
    sv.write_conf(instances=4, listen=f"127.0.0.1:{port}", ready_timeout="2s")
    sv.start()
    before = sv.ready_pids()
    sv.set_mode("--never-ready")
    load = Wrk(f"http://127.0.0.1:{port}/", connections=64, duration=8)
    time.sleep(0.5)
    t0 = time.monotonic()
    r = sv.apps("reload", "web", "--output", "table")
    took = time.monotonic() - t0
    assert r.returncode != 0
    assert "web[0]" in r.stderr, r.stderr
    assert "not ready within 2000ms" in r.stderr, r.stderr
    assert "last log lines" in r.stderr and "listening pid=" in r.stderr, r.stderr
    assert took < 6, took
    res = load.result()
    assert res["errors"] == 0 and res["non2xx"] == 0, res["raw"]
    assert sv.ready_pids() == before  # the very same old workers, all still serving
    assert len(sv.status()) == 4  # the failed new worker is gone, not lingering
    sv.set_mode("")  # fixed version: a reload now succeeds
    r = sv.apps("reload", "web", "--output", "table")
    assert r.returncode == 0, r.stderr
    assert not set(sv.ready_pids()) & set(before)
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_http_readiness_in_listen_mode_waits_for_the_new_worker(sv):
    # ready: {http: /health} through the shared socket would be answered by the old workers at
    # once; the gate must wait until the new worker itself accepts (3 s boot here).
    port = free_port()
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}", ready="{http: /health}",
                  ready_timeout="20s")
    sv.start()
    sv.set_mode("--boot-delay 3")
    load = Wrk(f"http://127.0.0.1:{port}/", connections=64, duration=15)
    time.sleep(0.5)
    t0 = time.monotonic()
    r = sv.apps("reload", "web", "--output", "table")
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert took >= 6, took  # two workers, one after the other, 3 s each
    res = load.result()
    assert res["errors"] == 0 and res["non2xx"] == 0, res["raw"]
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_new_version_that_crashes_at_start_fails_the_reload(sv):
    port = free_port()
    sv.write_conf(instances=3, listen=f"127.0.0.1:{port}")
    sv.start()
    before = sv.ready_pids()
    sv.set_mode("--exit-at-start 3")
    r = sv.apps("reload", "web", "--parallel", "2", "--output", "json")
    assert r.returncode == 1
    assert "exited before ready (code 3)" in r.stderr, r.stderr
    assert "exiting at start" in r.stderr, r.stderr  # the worker's own last words
    assert '"ok":false' in r.stdout
    assert sv.ready_pids() == before
    assert len(sv.status()) == 3
    assert sv.stop() == 0
    assert sv.leftover() == []
