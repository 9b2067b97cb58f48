"""Helpers for the `cutover supervise` e2e tests: write an apps.yaml, run the supervisor, talk to
it with `cutover apps`, run bounded wrk load, and make sure no worker outlives its test.

Workers run in their own sessions (so a supervisor crash does not take them down), which means
killing the supervisor's process group does not reach them: every test app carries a unique
CUTOVER_TEST_ID in its environment and teardown kills whatever still has it.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

from conftest import REPO, free_port, wait_for

APP = os.path.join(REPO, "examples", "apps", "drain_app.py")


def pids_with_marker(marker):
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(d))
        except OSError:
            pass
    return found


class Supervisor:
    def __init__(self, cutover, procs, tmp_path):
        self.cutover = cutover
        self.procs = procs
        self.tmp = tmp_path
        self.marker = "CUTOVER_TEST_ID=" + uuid.uuid4().hex
        self.control = str(tmp_path / "ctl.sock")
        self.conf = str(tmp_path / "apps.yaml")
        self.mode_file = str(tmp_path / "mode")
        self.log_dir = str(tmp_path / "logs")
        self.proc = None

    def write_conf(self, instances=4, listen=None, ports=None, ready="{notify: true}",
                   ready_timeout="10s", extra_args=(), extra="", log_max="1M", keep=3,
                   restart="{min_uptime: 1s, backoff_max: 2s, max_restarts: 5, window: 30s}"):
        argv = [sys.executable, APP, "--mode-file", self.mode_file, *extra_args]
        bind = f"    listen: {listen}\n" if listen else f"    ports: {ports}\n" if ports else ""
        text = (
            f"control: {self.control}\n"
            "apps:\n"
            "  web:\n"
            f"    command: {json.dumps(argv)}\n"
            f"    instances: {instances}\n"
            f"{bind}"
            f"    env: {{CUTOVER_TEST_ID: {self.marker.split('=')[1]}}}\n"
            f"    ready: {ready}\n"
            f"    ready_timeout: {ready_timeout}\n"
            "    kill_signal: SIGTERM\n"
            "    kill_timeout: 8s\n"
            f"    restart: {restart}\n"
            f"    logs: {{dir: {self.log_dir}, max_size: {log_max}, keep: {keep}}}\n"
            f"{extra}"
        )
        with open(self.conf, "w") as f:
            f.write(text)

    def set_mode(self, text):
        with open(self.mode_file, "w") as f:
            f.write(text)

    def start(self, wait_ready=True):
        self.proc = self.procs.start([self.cutover, "supervise", "-c", self.conf], name="supervise")
        wait_for(lambda: os.path.exists(self.control), timeout=10, what="control socket")
        if wait_ready:
            wait_for(lambda: self.count("ready") == self.instances(), timeout=30,
                     what="every worker ready")
        return self.proc

    def instances(self):
        with open(self.conf) as f:
            return int(re.search(r"instances: (\d+)", f.read()).group(1))

    def apps(self, *args, timeout=120):
        return subprocess.run([self.cutover, "apps", *args, "--socket", self.control],
                              capture_output=True, text=True, timeout=timeout)

    def status(self):
        r = self.apps("status", "--output", "json", timeout=10)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def count(self, state):
        try:
            return sum(1 for w in self.status() if w["state"] == state)
        except (AssertionError, ValueError):
            return -1

    def ready_pids(self):
        return sorted(w["pid"] for w in self.status() if w["state"] == "ready")

    def stop(self, timeout=20):
        """SIGTERM the supervisor; returns its exit status. Every worker must be gone after."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pids = pids_with_marker(self.marker)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def leftover(self):
        return pids_with_marker(self.marker)


def free_port_block(n, host="127.0.0.1"):
    """A base port below the ephemeral range with n consecutive bindable ports (ports: mode)."""
    import random
    import socket
    for _ in range(200):
        base = random.randrange(20000, 32000 - n)
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind((host, base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free port block")


class Wrk:
    """wrk with a fixed duration (bounded in time) and a connection count."""

    def __init__(self, url, connections=64, duration=10, threads=2, script=None):
        argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s"]
        if script:
            argv += ["-s", script]
        self.p = subprocess.Popen(argv + [url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        self.duration = duration

    def finish(self):
        """Ends the load now (wrk prints its summary on SIGINT) and returns the result."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        return self.result()

    def result(self):
        out, _ = self.p.communicate(timeout=self.duration + 30)
        total = int(re.search(r"(\d+) requests in", out).group(1))
        errors = 0
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if m:
            errors = sum(int(x) for x in m.groups())
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        non2xx = int(m.group(1)) if m else 0
        return {"total": total, "errors": errors, "non2xx": non2xx, "raw": out}
