"""cutover supervise, SIGHUP: apps.yaml is read again; a changed app is reloaded (surge then
drain, under load, nothing lost), an unchanged one is left alone, and a broken file changes
nothing."""
import signal
import time
import urllib.request

import pytest

from conftest import free_port, wait_for
from supervise_util import Supervisor, Wrk


@pytest.fixture
def sv(cutover, procs, tmp_path):
    s = Supervisor(cutover, procs, tmp_path)
    yield s
    s.cleanup()


def body(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return r.read().decode()


def test_sighup_reloads_a_changed_app_and_ignores_a_broken_file(sv):
    port = free_port()
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}")
    proc = sv.start()
    before = sv.ready_pids()
    assert "tag=v1" in body(port)
    # unchanged file: nothing happens
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert sv.ready_pids() == before
    # broken file: nothing happens, the supervisor keeps running
    good = open(sv.conf).read()
    with open(sv.conf, "w") as f:
        f.write(good.replace("instances: 2", "instances: lots"))
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert proc.poll() is None
    assert sv.ready_pids() == before
    assert "instances: 'lots' is not an integer" in "".join(
        l for l in sv.procs.output(proc).splitlines() if "SIGHUP" in l) or \
        "'lots' is not an integer" in sv.procs.output(proc)
    # changed command line: a reload under load
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}", extra_args=["--tag", "v2"])
    load = Wrk(f"http://127.0.0.1:{port}/", connections=64, duration=8)
    time.sleep(0.5)
    proc.send_signal(signal.SIGHUP)

    def replaced():
        ws = sv.status()
        pids = [w["pid"] for w in ws if w["state"] == "ready"]
        return len(ws) == 2 and len(pids) == 2 and not set(pids) & set(before)

    wait_for(replaced, timeout=15, what="reload after SIGHUP")
    assert "tag=v2" in body(port)
    res = load.result()
    assert res["errors"] == 0 and res["non2xx"] == 0, res["raw"]
    assert sv.stop() == 0
    assert sv.leftover() == []
