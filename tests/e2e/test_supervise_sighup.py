"""cutover supervise, SIGHUP: apps.yaml is read again; a changed app is reloaded (surge then
drain, under load, nothing lost), an unchanged one is left alone, and a broken file changes
nothing."""
import json
import os
import signal
import sys
import time
import urllib.request

import pytest

from conftest import free_port, wait_for
from supervise_util import APP, Supervisor, Wrk, free_port_block


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


def hup(sv):
    sv.proc.send_signal(signal.SIGHUP)


def by_index(sv, app="web"):
    return {w["index"]: w for w in sv.status() if w.get("app", "web") == app
            and w["state"] == "ready"}


def log_lines(sv, needle):
    return [l for l in sv.procs.output(sv.proc).splitlines() if needle in l]


def test_sighup_scales_up_then_drains_the_highest_indexes(sv):
    port = free_port()
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}")
    sv.start()
    first = by_index(sv)
    load = Wrk(f"http://127.0.0.1:{port}/", connections=32, duration=10)
    time.sleep(0.5)
    # up: two more workers start and become ready; the running two are left alone
    sv.write_conf(instances=4, listen=f"127.0.0.1:{port}")
    hup(sv)
    wait_for(lambda: len(by_index(sv)) == 4, timeout=20, what="4 ready workers")
    now = by_index(sv)
    assert {i: now[i]["pid"] for i in (0, 1)} == {i: first[i]["pid"] for i in (0, 1)}
    assert all(w["generation"] == first[0]["generation"] for w in now.values())
    # down: indexes 3, 2 and 1 drain; index 0 is the same process throughout
    sv.write_conf(instances=1, listen=f"127.0.0.1:{port}")
    hup(sv)
    wait_for(lambda: [w["index"] for w in sv.status()] == [0], timeout=20,
             what="only worker 0 left")
    assert by_index(sv)[0]["pid"] == first[0]["pid"]
    res = load.finish()
    assert res["total"] > 0
    assert res["errors"] == 0 and res["non2xx"] == 0, res["raw"]
    assert log_lines(sv, "instances 2 -> 4") and log_lines(sv, "instances 4 -> 1")
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_sighup_env_and_cwd_changes_reload_the_app(sv, tmp_path):
    port = free_port()
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}")
    sv.start()
    before = sv.ready_pids()
    assert "tag=v1" in body(port)
    load = Wrk(f"http://127.0.0.1:{port}/", connections=32, duration=10)
    time.sleep(0.5)
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}", extra=f"    cwd: {tmp_path}\n")
    text = open(sv.conf).read().replace("env: {CUTOVER_TEST_ID:", "env: {APP_TAG: v3, CUTOVER_TEST_ID:")
    with open(sv.conf, "w") as f:
        f.write(text)
    hup(sv)

    def replaced():
        pids = sv.ready_pids()
        return len(pids) == 2 and not set(pids) & set(before) and len(sv.status()) == 2

    wait_for(replaced, timeout=20, what="reload after an env change")
    assert "tag=v3" in body(port)
    for pid in sv.ready_pids():
        assert os.readlink(f"/proc/{pid}/cwd") == str(tmp_path)
    res = load.finish()
    assert res["errors"] == 0 and res["non2xx"] == 0, res["raw"]
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_sighup_moves_the_logs_without_touching_the_workers(sv, tmp_path):
    port = free_port()
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}")
    sv.start()
    before = sv.ready_pids()
    old_dir = sv.log_dir
    new_dir = str(tmp_path / "newlogs")
    text = open(sv.conf).read().replace(f"dir: {old_dir}, max_size: 1M, keep: 3",
                                        f"dir: {new_dir}, max_size: 64K, keep: 2")
    with open(sv.conf, "w") as f:
        f.write(text)
    hup(sv)
    wait_for(lambda: os.path.exists(f"{new_dir}/web-1.err.log"), timeout=10,
             what="log files in the new directory")
    assert sv.ready_pids() == before
    # what the running workers write from now on lands in the new files
    assert sv.stop() == 0
    new_out = open(f"{new_dir}/web-0.out.log").read()
    assert "drained" in new_out, new_out
    assert "drained" not in open(f"{old_dir}/web-0.out.log").read()
    assert "exited" in open(f"{new_dir}/web-0.err.log").read()
    assert sv.leftover() == []


def test_sighup_rebinds_listen_onto_a_new_socket(sv):
    old_port, new_port = free_port(), free_port()
    sv.write_conf(instances=2, listen=f"127.0.0.1:{old_port}")
    sv.start()
    before = sv.ready_pids()
    assert "tag=v1" in body(old_port)
    sv.write_conf(instances=2, listen=f"127.0.0.1:{new_port}")
    hup(sv)

    def moved():
        pids = sv.ready_pids()
        return len(pids) == 2 and not set(pids) & set(before) and len(sv.status()) == 2

    wait_for(moved, timeout=20, what="workers on the new socket")
    assert "tag=v1" in body(new_port)
    # the old socket is gone with the old workers: nothing listens there any more
    with pytest.raises(OSError):
        body(old_port)
    assert log_lines(sv, "onto its new listen/ports binding")
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_sighup_refuses_a_listen_address_in_use_and_keeps_serving(sv):
    import socket
    port = free_port()
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}")
    sv.start()
    before = sv.ready_pids()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    taken = squatter.getsockname()[1]
    try:
        sv.write_conf(instances=2, listen=f"127.0.0.1:{taken}")
        hup(sv)
        wait_for(lambda: log_lines(sv, "keeps its running definition"), timeout=10,
                 what="the refusal in the log")
        assert "cannot listen on" in log_lines(sv, "keeps its running definition")[0]
        assert sv.ready_pids() == before
        assert "tag=v1" in body(port)
    finally:
        squatter.close()
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_sighup_moves_ports_and_refuses_an_overlapping_range(sv):
    base = free_port_block(4)
    sv.write_conf(instances=2, ports=base, ready="{http: /health}")
    sv.start()
    before = sv.ready_pids()
    assert "tag=v1" in body(base) and "tag=v1" in body(base + 1)
    # base+1 overlaps base..base+1: refused, nothing changes
    sv.write_conf(instances=2, ports=base + 1, ready="{http: /health}")
    hup(sv)
    wait_for(lambda: log_lines(sv, "overlap the running ones"), timeout=10,
             what="the overlap refusal")
    assert sv.ready_pids() == before
    # base+2 does not overlap: new workers on base+2 and base+3, then the old ones drain
    sv.write_conf(instances=2, ports=base + 2, ready="{http: /health}")
    hup(sv)

    def moved():
        pids = sv.ready_pids()
        return len(pids) == 2 and not set(pids) & set(before) and len(sv.status()) == 2

    wait_for(moved, timeout=20, what="workers on the new ports")
    assert "tag=v1" in body(base + 2) and "tag=v1" in body(base + 3)
    for p in (base, base + 1):
        with pytest.raises(OSError):
            body(p)
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_sighup_adds_and_removes_apps(sv):
    port_web, port_api, port_jobs = free_port(), free_port(), free_port()
    marker = sv.marker.split("=")[1]

    def conf(apps):
        text = f"control: {sv.control}\napps:\n"
        for name, port in apps:
            text += (f"  {name}:\n"
                     f"    command: {json.dumps([sys.executable, APP, '--tag', name])}\n"
                     f"    instances: 2\n"
                     f"    listen: 127.0.0.1:{port}\n"
                     f"    env: {{CUTOVER_TEST_ID: {marker}}}\n"
                     f"    ready: {{notify: true}}\n"
                     f"    kill_timeout: 8s\n")
        with open(sv.conf, "w") as f:
            f.write(text)

    conf([("web", port_web), ("api", port_api)])
    sv.start(wait_ready=False)
    wait_for(lambda: sv.count("ready") == 4, timeout=30, what="4 ready workers")
    web_before = sorted(w["pid"] for w in sv.status() if w["app"] == "web")
    conf([("web", port_web), ("jobs", port_jobs)])
    hup(sv)

    def swapped():
        ws = sv.status()
        apps = {w["app"] for w in ws}
        return apps == {"web", "jobs"} and sum(w["state"] == "ready" for w in ws) == 4

    wait_for(swapped, timeout=20, what="api gone, jobs ready")
    assert sorted(w["pid"] for w in sv.status() if w["app"] == "web") == web_before
    assert "tag=jobs" in body(port_jobs)
    with pytest.raises(OSError):
        body(port_api)
    r = sv.apps("status", "api", "--output", "json", timeout=10)
    assert r.returncode != 0
    assert sv.stop() == 0
    assert sv.leftover() == []


def test_sighup_user_change_reloads_and_an_unknown_user_is_refused(sv):
    import pwd
    import shutil
    import tempfile
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    nobody = pwd.getpwnam("nobody")
    # workers (as nobody) must reach the notify socket: not inside pytest's 0700 tmp dir
    shared = tempfile.mkdtemp(prefix="cutover-user-")
    os.chmod(shared, 0o755)
    try:
        sv.control = os.path.join(shared, "ctl.sock")
        sv.log_dir = os.path.join(shared, "logs")
        port = free_port()
        sv.write_conf(instances=2, listen=f"127.0.0.1:{port}")
        sv.start()
        before = sv.ready_pids()
        sv.write_conf(instances=2, listen=f"127.0.0.1:{port}",
                      extra="    user: no-such-user-cutover\n")
        hup(sv)
        wait_for(lambda: log_lines(sv, "no such user 'no-such-user-cutover'"), timeout=10,
                 what="the refusal in the log")
        assert sv.ready_pids() == before
        sv.write_conf(instances=2, listen=f"127.0.0.1:{port}", extra="    user: nobody\n")
        hup(sv)

        def as_nobody():
            pids = sv.ready_pids()
            if len(pids) != 2 or set(pids) & set(before) or len(sv.status()) != 2:
                return False
            for pid in pids:
                with open(f"/proc/{pid}/status") as f:
                    uid = [l for l in f.read().splitlines() if l.startswith("Uid:")][0]
                if set(map(int, uid.split()[1:])) != {nobody.pw_uid}:
                    return False
            return True

        wait_for(as_nobody, timeout=20, what="workers reloaded as nobody")
        assert os.stat(os.path.join(sv.log_dir, "web-0.out.log")).st_uid == nobody.pw_uid
        assert "tag=v1" in body(port)
        assert sv.stop() == 0
        assert sv.leftover() == []
    finally:
        shutil.rmtree(shared, ignore_errors=True)
