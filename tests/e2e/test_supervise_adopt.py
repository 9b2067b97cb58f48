"""cutover supervise survives its own crash: after kill -9 of the supervisor the workers keep
serving (they own the accept queue); a new supervisor adopts the same workers (no duplicates)
from the state file, supervises them (a reload replaces them, a killed one is restarted), and
SIGTERM then leaves no process behind."""
import json
import os
import signal
import time

import pytest

from conftest import free_port, wait_for
from supervise_util import Supervisor, Wrk


def state_workers(sv):
    """The workers the supervisor's state file records, {index: (pid, state)} ({} if none)."""
    try:
        with open(sv.control + ".state") as f:
            return {w["index"]: (w["pid"], w["state"]) for w in json.load(f)["workers"]}
    except (OSError, ValueError):
        return {}


def wait_state_ready(sv, pids):
    """The state file is written on a timer: wait until it records <pids>, all ready."""
    wait_for(lambda: sorted(p for p, st in state_workers(sv).values() if st == "ready") == pids,
             timeout=5, what="the state file recording every worker ready")


@pytest.fixture
def sv(cutover, procs, tmp_path):
    s = Supervisor(cutover, procs, tmp_path)
    yield s
    s.cleanup()


def test_kill_9_supervisor_then_adopt(sv):
    port = free_port()
    sv.write_conf(instances=4, listen=f"127.0.0.1:{port}")
    first = sv.start()
    pids = sv.ready_pids()
    wait_state_ready(sv, pids)
    load = Wrk(f"http://127.0.0.1:{port}/", connections=64, duration=60)  # ended by finish()
    time.sleep(1)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=5)
    time.sleep(2)  # the workers serve alone for a while
    assert sorted(sv.leftover()) == pids  # all 4 still running, nothing else
    os.unlink(sv.control)  # as after a crash: a stale socket file would only confuse `wait`
    second = sv.start()
    assert second.pid != first.pid
    assert sv.ready_pids() == pids  # adopted, not restarted
    assert sorted(sv.leftover()) == pids  # and no duplicates were started
    # supervised from now on: a reload under the same load replaces the adopted workers
    r = sv.apps("reload", "web", "--output", "table")
    assert r.returncode == 0, r.stdout + r.stderr
    new = sv.ready_pids()
    assert len(new) == 4 and not set(new) & set(pids)
    assert load.p.poll() is None
    res = load.finish()
    assert res["total"] > 1000, res["raw"]
    assert res["errors"] == 0 and res["non2xx"] == 0, res["raw"]
    assert sv.stop() == 0
    assert sv.leftover() == []
    assert not os.path.exists(sv.control + ".state")


def test_adopted_worker_that_dies_is_restarted(sv):
    port = free_port()
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}")
    first = sv.start()
    pids = sv.ready_pids()
    wait_state_ready(sv, pids)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=5)
    os.kill(pids[0], signal.SIGKILL)  # dies while nobody supervises
    wait_for(lambda: pids[0] not in sv.leftover(), timeout=5, what="worker gone")
    os.unlink(sv.control)
    sv.start()  # adopts the survivor, starts a new worker in the empty slot
    now = sv.ready_pids()
    assert pids[1] in now and pids[0] not in now and len(now) == 2
    os.kill(pids[1], signal.SIGKILL)  # an adopted worker dies: seen through its pidfd

    def replaced():
        p = sv.ready_pids()
        return len(p) == 2 and pids[1] not in p

    wait_for(replaced, timeout=10, what="adopted worker replaced")
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_sigusr2_reexecutes_in_place_without_touching_workers(sv):
    port = free_port()
    sv.write_conf(instances=4, listen=f"127.0.0.1:{port}")
    proc = sv.start()
    pids = sv.ready_pids()
    load = Wrk(f"http://127.0.0.1:{port}/", connections=64, duration=30)  # ended by finish()
    time.sleep(1)
    proc.send_signal(signal.SIGUSR2)
    wait_for(lambda: "re-executing" in sv.procs.output(proc), timeout=5, what="re-exec")
    wait_for(lambda: "adopted 4 running worker" in sv.procs.output(proc), timeout=10,
             what="adoption after re-exec")
    assert proc.poll() is None  # same process, new image
    wait_for(lambda: sv.count("ready") == 4, timeout=10, what="status after re-exec")
    assert sv.ready_pids() == pids
    assert sorted(sv.leftover()) == pids
    assert load.p.poll() is None, "load ended before the re-exec was verified"
    res = load.finish()  # the load spans the re-exec; a kill -9 (below) would reset connections
    assert res["errors"] == 0 and res["non2xx"] == 0, res["raw"]
    # still our children: a killed one is reaped and replaced with its real exit status
    os.kill(pids[0], signal.SIGKILL)

    def replaced():
        ws = [w for w in sv.status() if w["state"] == "ready"]
        return len(ws) == 4 and pids[0] not in [w["pid"] for w in ws]

    wait_for(replaced, timeout=10, what="replacement after re-exec")
    assert [w for w in sv.status() if w["index"] == 0][0]["exit_signal"] == signal.SIGKILL
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_restart_takes_the_socket_back_from_a_worker_that_was_still_starting(sv):
    """The supervisor dies while its only surviving worker is still starting (never adopted:
    its readiness is unknown). The new supervisor must take the listening socket back from it
    rather than fail to bind, kill it, and start fresh workers."""
    port = free_port()
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}")
    first = sv.start()
    pids = sv.ready_pids()
    wait_state_ready(sv, pids)
    sv.set_mode("--never-ready")              # the next start of a worker never gets ready
    os.kill(pids[0], signal.SIGKILL)          # restarted by the supervisor: starting forever
    wait_for(lambda: any(st == "starting" and p > 0 and p not in pids
                         for p, st in state_workers(sv).values()),
             timeout=10, what="the state file recording the restarted worker as starting")
    starting = [p for p, st in state_workers(sv).values() if st == "starting" and p > 0][0]
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=5)
    os.kill(pids[1], signal.SIGKILL)          # now only the starting worker holds the socket
    wait_for(lambda: pids[1] not in sv.leftover(), timeout=5, what="worker gone")
    assert sv.leftover() == [starting]
    sv.set_mode("")
    os.unlink(sv.control)
    second = sv.start()                       # before the fix: EADDRINUSE, exit 1
    now = sv.ready_pids()
    assert len(now) == 2 and starting not in now and not set(now) & set(pids), now
    wait_for(lambda: starting not in sv.leftover(), timeout=5, what="the unready orphan killed")
    assert sorted(sv.leftover()) == now
    assert second.poll() is None
    assert sv.stop() == 0
    assert sv.leftover() == []
