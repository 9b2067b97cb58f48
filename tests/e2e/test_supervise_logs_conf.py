"""cutover supervise: worker output lands in timestamped per-worker files that rotate at max_size
keeping `keep` old files; `cutover apps logs` shows the last lines; apps.yaml errors are
FILE:LINE:COL with exit 2 and --check validates without running anything."""
import os
import re
import subprocess
import time

import pytest

from conftest import free_port, wait_for
from supervise_util import Supervisor

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


@pytest.fixture
def sv(cutover, procs, tmp_path):
    s = Supervisor(cutover, procs, tmp_path)
    yield s
    s.cleanup()


def test_logs_are_timestamped_and_rotate(sv):
    port = free_port()
    # 3000 lines of ~100 bytes = ~300 KB into 64 KB files, keep 2
    sv.write_conf(instances=1, listen=f"127.0.0.1:{port}", extra_args=["--spam", "3000"],
                  log_max="64K", keep=2)
    sv.start()
    out = os.path.join(sv.log_dir, "web-0.out.log")
    wait_for(lambda: os.path.exists(out + ".2"), timeout=10, what="rotation")
    files = sorted(os.listdir(sv.log_dir))
    assert "web-0.out.log.1" in files and "web-0.out.log.2" in files
    assert "web-0.out.log.3" not in files, files  # keep: 2
    for name in files:
        size = os.path.getsize(os.path.join(sv.log_dir, name))
        assert size <= 64 * 1024, (name, size)
    with open(out + ".1") as f:
        lines = f.read().splitlines()
    assert lines and all(TS.match(line) for line in lines), lines[:3]
    with open(out) as f:
        tail = f.read().splitlines()
    assert any("spam line 2999" in line for line in tail)  # the newest line is in the live file
    r = sv.apps("logs", "web", "--lines", "3", "--output", "table")
    assert r.returncode == 0, r.stderr
    outl = [line for line in r.stdout.splitlines() if line.startswith("web[0] out | ")]
    assert len(outl) == 3, r.stdout
    assert "listening pid=" in outl[-1]
    r = sv.apps("logs", "web", "--lines", "1", "--output", "json")
    assert r.returncode == 0 and '"stream":"err"' in r.stdout, r.stdout
    assert sv.stop() == 0


def test_check_and_config_errors(cutover, tmp_path):
    good = tmp_path / "apps.yaml"
    good.write_text("control: /tmp/x.sock\napps:\n  web:\n    command: [true]\n    ports: 3001\n")
    r = subprocess.run([cutover, "supervise", "-c", str(good), "--check"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout
    assert not os.path.exists("/tmp/x.sock")  # --check runs nothing
    cases = [
        ("apps:\n  web:\n    command: node server.js\n", ":3:14: command must be a non-empty list"),
        ("apps:\n  web:\n    command: [x]\n    instances: many\n", ":4:16: 'many' is not an integer"),
        ("apps:\n  web:\n    command: [x]\n    ready: {http: /h}\n", ":4:12: an http or tcp check"),
        ("apps:\n  web:\n    command: [x]\n    restart: {min_uptim: 1s}\n", ":4:15: "),
    ]
    for text, want in cases:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        r = subprocess.run([cutover, "supervise", "-c", str(bad)], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 2, (text, r.stderr)
        assert r.stderr.startswith(f"{bad}{want}"), (want, r.stderr)
    r = subprocess.run([cutover, "supervise", "-c", str(tmp_path / "missing.yaml")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "missing.yaml" in r.stderr


def test_logs_follow_shows_new_lines(sv):
    import select
    port = free_port()
    sv.write_conf(instances=1, listen=f"127.0.0.1:{port}")
    sv.start()
    f = subprocess.Popen([sv.cutover, "apps", "logs", "web", "--follow", "--lines", "0",
                          "--socket", sv.control, "--output", "table"], stdout=subprocess.PIPE)
    try:
        time.sleep(0.5)
        r = sv.apps("reload", "web", "--output", "table")  # the new worker logs "listening"
        assert r.returncode == 0, r.stderr
        new_pid = sv.ready_pids()[0]
        seen = ""
        deadline = time.monotonic() + 10
        while f"listening pid={new_pid}" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([f.stdout], [], [], 0.5)
            if ready:  # raw reads: a buffered readline would hide data from select()
                seen += os.read(f.stdout.fileno(), 65536).decode(errors="replace")
        assert "web[0] out | " in seen and f"listening pid={new_pid}" in seen, seen
    finally:
        f.kill()
        f.wait(timeout=5)
    assert sv.stop() == 0
