"""Network-namespace harness for e2e tests: private hosts, each in its own network namespace
with its own address, on a private bridge in the root namespace.

    net = Network()                      # bridge cvbXXXXXX, subnet 10.77.N.0/24, root = .1
    blue = net.add_host("blue-1")        # namespace cutover-XXXXXX-blue-1, eth0 = 10.77.N.2
    p = net.start(procs, blue, ["python3", "backend.py", "--host", blue.ip, ...])
    net.cut(blue); net.restore(blue)     # take the host's link down / up (a real partition:
                                         # packets are dropped, nothing is reset)
    net.close()                          # kills every process in the namespaces, deletes them

Names carry a run id (6 random hex digits), so parallel runs never collide; the subnet's third
octet is picked under a lock among those no interface of this machine uses. Each run records its
owner pid under STATE_DIR, and every new Network first removes what runs whose owner is dead
left behind (an aborted run never leaks namespaces for long). Only addresses of the run's own
subnet are ever used. Requires root and a working `ip netns`; `unavailable()` says why not,
`require()` skips the test with that reason.
"""
import atexit
import errno
import fcntl
import os
import re
import secrets
import shutil
import signal
import subprocess
import time

STATE_DIR = "/run/cutover-netns"
LOCK_PATH = "/run/cutover-netns.lock"
PREFIX = "10.77"


def _ip(*args, check=True, timeout=10):
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")
    return r


_REASON = None


def unavailable():
    """None when namespaces can be used here, else why not (cached)."""
    global _REASON
    if _REASON is not None:
        return _REASON or None
    if os.geteuid() != 0:
        _REASON = "network namespaces need root (run the e2e tests as root, as CI does)"
    elif shutil.which("ip") is None:
        _REASON = "`ip` (iproute2) is not installed (make deps)"
    else:
        probe = f"cutover-probe-{os.getpid()}-{secrets.token_hex(2)}"
        r = _ip("netns", "add", probe, check=False)
        if r.returncode != 0:
            _REASON = f"`ip netns add` fails here: {r.stderr.strip()}"
        else:
            _ip("netns", "del", probe, check=False)
            _REASON = ""
    return _REASON or None


def require():
    """Skips the calling test, with the reason, when namespaces are unavailable."""
    import pytest
    reason = unavailable()
    if reason:
        pytest.skip(reason)


class NsHost:
    def __init__(self, name, ns, ip, veth):
        self.name = name
        self.ns = ns          # namespace name
        self.ip = ip          # its address on the bridge
        self.veth = veth      # root-namespace end of its link (cut/restore act on it)

    def __repr__(self):
        return f"<NsHost {self.name} {self.ip} ns={self.ns}>"


class Network:
    def __init__(self):
        sweep_stale()
        self.run_id = secrets.token_hex(3)
        self.bridge = f"cvb{self.run_id}"
        self.hosts = {}
        self.closed = False
        os.makedirs(STATE_DIR, exist_ok=True)
        self.state = os.path.join(STATE_DIR, self.run_id)
        with open(self.state, "w") as f:
            f.write(f"{os.getpid()}\n")
        try:
            with _locked():
                self.octet = _free_octet()
                self.subnet = f"{PREFIX}.{self.octet}"
                _ip("link", "add", self.bridge, "type", "bridge")
                _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
                _ip("link", "set", self.bridge, "up")
        except BaseException:
            self.close()
            raise
        self.gateway = f"{self.subnet}.1"
        atexit.register(self.close)   # also when a test never reaches its teardown

    # ---- hosts -------------------------------------------------------------------------

    def add_host(self, name):
        """A namespace with eth0 on the bridge, the next free address, lo up."""
        assert re.fullmatch(r"[a-z0-9-]{1,20}", name), name
        idx = len(self.hosts) + 2
        assert idx < 255
        ns = f"cutover-{self.run_id}-{name}"
        veth, peer = f"cv{self.run_id}{idx}", f"cp{self.run_id}{idx}"
        host = NsHost(name, ns, f"{self.subnet}.{idx}", veth)
        self.hosts[name] = host       # registered first: close() removes whatever got created
        _ip("netns", "add", ns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", ns)
        _ip("-n", ns, "link", "set", peer, "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{host.ip}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "route", "add", "default", "via", self.gateway)
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        return host

    def argv(self, host, argv):
        """<argv> run inside <host>'s namespace."""
        return ["ip", "netns", "exec", host.ns, *argv]

    def start(self, procs, host, argv, name=None, env=None):
        """Starts <argv> in <host>'s namespace through the conftest `procs` fixture (own
        session, reaped at teardown; close() also kills whatever is left in the namespace)."""
        return procs.start(self.argv(host, argv), name=name or f"{host.name}", env=env)

    def run(self, host, argv, timeout=10):
        return subprocess.run(self.argv(host, argv), capture_output=True, text=True,
                              timeout=timeout)

    def cut(self, host):
        """Takes <host>'s link down: its packets are dropped from now on (no reset is sent)."""
        _ip("link", "set", host.veth, "down")

    def restore(self, host):
        _ip("link", "set", host.veth, "up")

    # ---- teardown ----------------------------------------------------------------------

    def close(self):
        """Kills every process in the run's namespaces and deletes them, their links and the
        bridge. Idempotent; never raises (teardown must reach the end)."""
        if self.closed:
            return
        self.closed = True
        _remove_run(self.run_id, [h.ns for h in self.hosts.values()])
        try:
            os.unlink(self.state)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _locked:
    def __enter__(self):
        self.fd = os.open(LOCK_PATH, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def _free_octet():
    """A third octet N such that no interface or route here uses PREFIX.N.0/24."""
    used = _ip("-4", "-o", "addr", "show").stdout + _ip("-4", "route", "show").stdout
    taken = {int(m) for m in re.findall(rf"\b{re.escape(PREFIX)}\.(\d+)\.", used)}
    free = [n for n in range(256) if n not in taken]
    if not free:
        raise RuntimeError(f"every {PREFIX}.N.0/24 subnet is in use")
    return secrets.choice(free)


def _kill_ns_procs(ns):
    for _ in range(50):   # bounded: 50 × 20 ms
        r = _ip("netns", "pids", ns, check=False)
        pids = [int(p) for p in r.stdout.split()] if r.returncode == 0 else []
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise
        time.sleep(0.02)


def _remove_run(run_id, namespaces=None):
    if namespaces is None:
        out = _ip("netns", "list", check=False).stdout
        namespaces = [line.split()[0] for line in out.splitlines()
                      if line.startswith(f"cutover-{run_id}-")]
    for ns in namespaces:
        try:
            _kill_ns_procs(ns)
        except Exception:
            pass
        _ip("netns", "del", ns, check=False)
    # Deleting a namespace deletes the veth pair, but a host half-made before its peer moved
    # leaves the root end: remove every link of the run, then the bridge.
    links = _ip("-o", "link", "show", check=False).stdout
    for name in re.findall(rf"^\d+: ((?:cv|cp){run_id}\d+)[@:]", links, re.M):
        _ip("link", "del", name, check=False)
    _ip("link", "del", f"cvb{run_id}", check=False)


def sweep_stale():
    """Removes what runs whose owner process is gone left behind."""
    try:
        runs = os.listdir(STATE_DIR)
    except FileNotFoundError:
        return
    for run_id in runs:
        path = os.path.join(STATE_DIR, run_id)
        try:
            with open(path) as f:
                owner = int(f.read().strip() or 0)
        except (OSError, ValueError):
            owner = 0
        if owner and _alive(owner):
            continue
        _remove_run(run_id)
        try:
            os.unlink(path)
        except OSError:
            pass


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
