"""cutover supervise: workers run as `user:` (uid, gid, log files owned by it); a worker whose
RSS passes max_memory is restarted gracefully."""
import os
import pwd
import shutil
import tempfile

import pytest

from conftest import free_port, wait_for
from supervise_util import Supervisor


@pytest.fixture
def sv(cutover, procs, tmp_path):
    s = Supervisor(cutover, procs, tmp_path)
    yield s
    s.cleanup()


def test_workers_run_as_the_configured_user(sv):
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
        sv.write_conf(instances=2, listen=f"127.0.0.1:{port}", extra="    user: nobody\n")
        sv.start()
        for w in sv.status():
            with open(f"/proc/{w['pid']}/status") as f:
                st = f.read()
            uid = [l for l in st.splitlines() if l.startswith("Uid:")][0].split()[1:]
            gid = [l for l in st.splitlines() if l.startswith("Gid:")][0].split()[1:]
            assert set(map(int, uid)) == {nobody.pw_uid}, uid
            assert set(map(int, gid)) == {nobody.pw_gid}, gid
        assert os.stat(os.path.join(sv.log_dir, "web-0.out.log")).st_uid == nobody.pw_uid
        assert sv.stop() == 0
        assert sv.leftover() == []
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_max_memory_restarts_the_worker(sv):
    port = free_port()
    sv.write_conf(instances=1, listen=f"127.0.0.1:{port}", extra_args=["--hog-mb", "120"],
                  extra="    max_memory: 80M\n")
    sv.start()
    first = sv.ready_pids()[0]

    def restarted():
        ws = sv.status()
        return ws[0]["restarts"] >= 1 and ws[0]["pid"] not in (0, first)

    wait_for(restarted, timeout=15, what="max_memory restart")
    with open(os.path.join(sv.log_dir, "web-0.err.log")) as f:
        assert "max_memory" in f.read()
    assert sv.stop() == 0
    assert sv.leftover() == []
