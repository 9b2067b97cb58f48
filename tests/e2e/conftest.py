"""Shared e2e fixtures: the built binary, free ports, processes that are always reaped.

Every wait is bounded; every process started through `procs` is killed (whole process group)
when its test ends, and its stderr is kept in the test's tmp_path for post-mortems.
"""
import os
import signal
import socket
import subprocess
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cutover_bin():
    path = os.environ.get("CUTOVER_BIN") or os.path.join(REPO, "build", "cutover")
    if not os.access(path, os.X_OK):
        pytest.fail(f"cutover binary not found at {path} (run `make` or set CUTOVER_BIN)")
    return path


def free_port(host="127.0.0.1"):
    """A port the kernel just handed out; bound with SO_REUSEADDR so it can be reused at once."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Procs:
    """Starts processes in their own process groups and reaps them all at teardown."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.procs = []

    def start(self, argv, name=None, env=None, **kw):
        name = name or os.path.basename(argv[0])
        log = open(self.tmp_path / f"{name}-{len(self.procs)}.log", "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full_env,
                             start_new_session=True, **kw)
        p.log_path = log.name
        p.log_file = log
        self.procs.append(p)
        return p

    def output(self, p):
        p.log_file.flush()
        with open(p.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            p.log_file.close()


@pytest.fixture
def procs(tmp_path):
    ps = Procs(tmp_path)
    yield ps
    ps.stop_all()


@pytest.fixture
def cutover():
    return cutover_bin()
