"""Helpers for the control-plane e2e tests: a real `cutover server` (init + run), the deploy CLI
and the REST API, host agents with separate deployment roots, the sample bundle of
examples/deploy/bundle (hooks that start the sample app on the agent's --target port), a proxy
with one target group per fleet, and a time-stamped Python load that records which release
answered each request. Every wait is bounded; every load is bounded in requests and in time.
"""
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request

from conftest import REPO, free_port, port_open, wait_for
from proxyutil import Proxy, proxy_config

BUNDLE_SRC = os.path.join(REPO, "examples", "deploy", "bundle")
FINAL = ("Succeeded", "Failed", "Stopped")
ACTIVE = ("Created", "Queued", "InProgress", "Ready")


# ---- the server ---------------------------------------------------------------------------

class Server:
    """`cutover server init --data DIR` then `cutover server -c DIR/server.yaml` on a free port."""

    # short heartbeats so a silent agent is noticed quickly (server.yaml keys)
    DEFAULTS = {"heartbeat_interval": "1s", "heartbeat_timeout": "5s"}

    def __init__(self, procs, binary, tmp_path, name="server", settings=None, tls=None,
                 host="127.0.0.1"):
        """<host>: the address it listens on (loopback, or e.g. the bridge address of
        tests/e2e/netns.py so that agents in namespaces reach it)."""
        self.procs = procs
        self.host = host
        self.binary = binary
        self.data = tmp_path / name
        self.name = name
        self.port = free_port(host)
        r = subprocess.run([binary, "server", "init", "--data", str(self.data),
                            "--listen", f"{host}:{self.port}"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"server init failed ({r.returncode}):\n{r.stdout}{r.stderr}"
        self.init_output = r.stdout + r.stderr
        self.admin_token = (self.data / "admin.token").read_text().strip()
        self.enroll_token = (self.data / "enroll.token").read_text().strip()
        self.conf = self.data / "server.yaml"
        text = self.conf.read_text()
        assert f"{host}:{self.port}" in text, text
        for key, value in {**self.DEFAULTS, **(settings or {})}.items():
            text, n = re.subn(rf"^{key}:.*$", f"{key}: {value}", text, flags=re.M)
            if n == 0:
                text += f"\n{key}: {value}\n"
        self.cafile = None
        if tls is not None:  # (cert, key): HTTPS with a self-signed certificate
            text += f"\ntls: {{cert: {tls[0]}, key: {tls[1]}}}\n"
            self.cafile = str(tls[0])
        self.conf.write_text(text)
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.procs.start([self.binary, "server", "-c", str(self.conf)],
                                     name=self.name)
        wait_for(lambda: port_open(self.port, self.host) or self.proc.poll() is not None, 15,
                 what=f"server on {self.port}")
        assert self.proc.poll() is None, self.procs.output(self.proc)

    def kill9(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def output(self):
        return self.procs.output(self.proc)

    def api(self, method, path, body=None, token="admin", headers=None, timeout=15):
        """One REST call; returns (status, parsed JSON or raw bytes)."""
        hdrs = dict(headers or {})
        tok = self.admin_token if token == "admin" else token
        if tok:
            hdrs["Authorization"] = f"Bearer {tok}"
        if body is not None and not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if self.cafile:
            ctx = ssl.create_default_context(cafile=self.cafile)
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=ctx)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        try:
            return r.status, json.loads(data) if data else None
        except ValueError:
            return r.status, data

    def deploy(self, *args, check=True, timeout=120, token=None):
        """`cutover deploy ARGS --server URL --token T --output json`: (rc, JSON or text)."""
        argv = [self.binary, "deploy", *args, "--server", self.url,
                "--token", token or self.admin_token, "--output", "json"]
        if self.cafile:
            argv += ["--ca-bundle", self.cafile]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, f"{' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}"
        try:
            return r.returncode, json.loads(r.stdout)
        except ValueError:
            return r.returncode, r.stdout + r.stderr

    # -- deployments --

    def deployment(self, dep_id):
        st, body = self.api("GET", f"/v1/deployments/{dep_id}")
        assert st == 200, (st, body)
        return body["deploymentInfo"]

    def wait_deployment(self, dep_id, statuses=FINAL, timeout=60):
        box = {}

        def done():
            box["info"] = self.deployment(dep_id)
            return box["info"]["status"] in statuses

        try:
            wait_for(done, timeout, interval=0.2, what=f"deployment {dep_id} in {statuses}")
        except AssertionError:
            raise AssertionError(f"deployment {dep_id}: {json.dumps(box.get('info'))}\n"
                                 f"server log:\n{self.output()[-4000:]}")
        return box["info"]

    def instance(self, dep_id, name):
        st, body = self.api("GET", f"/v1/deployments/{dep_id}/instances/{name}")
        assert st == 200, (st, body)
        return body["instanceSummary"]

    def push(self, app, source):
        rc, out = self.deploy("push", "--application-name", app, "--source", str(source))
        rev = out["revisionId"] if isinstance(out, dict) else out.strip().split()[-1]
        assert rev.startswith("sha256:"), out
        return rev

    def create_deployment(self, app, group, revision, *extra):
        rc, out = self.deploy("create-deployment", "--application-name", app,
                              "--deployment-group-name", group, "--revision", revision, *extra)
        dep = out["deploymentId"] if isinstance(out, dict) else out.strip().split()[-1]
        assert dep.startswith("d-"), out
        return dep


# ---- agents -------------------------------------------------------------------------------

class Agent:
    """`cutover agent` with its own --root, and APP_STATE_DIR for the sample app's pidfile."""

    def __init__(self, procs, binary, tmp_path, server, name, tags, target, extra=()):
        self.procs = procs
        self.binary = binary
        self.server = server
        self.name = name
        self.target = target
        self.port = int(target.rsplit(":", 1)[1])
        self.root = tmp_path / f"agent-{name}"
        self.state = tmp_path / f"app-{name}"
        self.state.mkdir(exist_ok=True)
        self.argv = [binary, "agent", "--server", server.url, "--token", server.enroll_token,
                     "--name", name, "--tags", tags, "--target", target,
                     "--root", str(self.root), "--poll-wait", "5", *extra]
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.procs.start(self.argv, name=f"agent-{self.name}",
                                     env={"APP_STATE_DIR": str(self.state),
                                          "PYTHON": "/usr/bin/python3"})

    def kill9(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def output(self):
        return self.procs.output(self.proc)

    def app_pid(self):
        try:
            return int((self.state / f"app-{self.name}.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop_app(self):
        pid = self.app_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_agents_online(server, names, timeout=20):
    def online():
        st, body = server.api("GET", "/v1/instances")
        if st != 200:
            return False
        seen = {i["instanceName"]: i for i in body.get("instanceInfos", [])}
        return all(n in seen and seen[n].get("status", "Online") == "Online" for n in names)

    wait_for(online, timeout, interval=0.1, what=f"agents {names} online")


# ---- bundles ------------------------------------------------------------------------------

def self_signed_cert(tmp_path):
    """A P-256 certificate for 127.0.0.1 and its key: (cert path, key path)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def make_bundle(dst, version, **settings):
    """A copy of examples/deploy/bundle whose release.env sets VERSION and <settings>
    (ERROR_RATIO, VALIDATE_EXIT, START_SLEEP…). Returns the directory."""
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(BUNDLE_SRC, dst)
    env = {"VERSION": version, "MAX_LIFETIME": "600", **settings}
    with open(os.path.join(dst, "release.env"), "w") as f:
        for k, v in env.items():
            f.write(f"{k}={v}\n")
    return dst


def tgz_of(src_dir, path):
    with tarfile.open(path, "w:gz") as t:
        for entry in sorted(os.listdir(src_dir)):
            t.add(os.path.join(src_dir, entry), arcname=entry)
    return path


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def find_stored_bundle(data_dir, hexdigest):
    """The file under the server's data directory whose sha256 is <hexdigest>."""
    for path in glob.glob(os.path.join(str(data_dir), "**"), recursive=True):
        if os.path.isfile(path) and os.path.getsize(path) > 0 and not path.endswith(
                (".db", ".db-wal", ".db-shm", ".token", ".yaml")):
            if sha256_file(path) == hexdigest:
                return path
    return None


def kill_apps(agents):
    for a in agents:
        a.stop_app()


# ---- the proxy ----------------------------------------------------------------------------

HEALTH = {"path": "/health", "interval": "1s", "timeout": "500ms", "healthy_threshold": 2,
          "unhealthy_threshold": 2, "matcher": "200-399"}


def fleet_proxy(procs, binary, tmp_path, groups, forward, test_forward=None):
    """A proxy with listener "web" forwarding <forward> [(group, weight)] over target groups
    <groups> {name: [targets]} (1 s health checks, 1 s deregistration delay), and optionally a
    "test" listener."""
    listeners = {"web": {"bind": free_port(), "forward": forward}}
    if test_forward:
        listeners["test"] = {"bind": free_port(), "forward": test_forward}
    tgs = {name: {"targets": targets, "health_check": dict(HEALTH),
                  "deregistration_delay": "1s"} for name, targets in groups.items()}
    return Proxy(procs, binary, tmp_path, proxy_config(listeners, tgs))


def listener_port(proxy, name="web"):
    return int(proxy.conf["listeners"][name]["bind"].rsplit(":", 1)[1])


# ---- load ---------------------------------------------------------------------------------

class Load:
    """Python clients on keep-alive connections, recording (t, status, first body line) per
    request; status -1 is a connection-level failure. Bounded by <max_requests> and
    <max_seconds>; stop() ends it early."""

    def __init__(self, port, threads=4, max_requests=200000, max_seconds=120, path="/"):
        self.port = port
        self.path = path
        self.records = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.budget = max_requests
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()

    def take(self):
        with self.lock:
            if self.budget <= 0:
                return False
            self.budget -= 1
            return True

    def run(self):
        conn = None
        local = []
        while not self.stopping.is_set() and time.monotonic() < self.deadline and self.take():
            t = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", self.path)
                r = conn.getresponse()
                body = r.read()
                local.append((t, r.status, body.split(b"\n", 1)[0].split(b" ")[0].decode()))
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                local.append((t, -1, type(e).__name__))
                if conn is not None:
                    conn.close()
                conn = None
            if len(local) >= 32:
                with self.lock:
                    self.records.extend(local)
                local = []
        if conn is not None:
            conn.close()
        with self.lock:
            self.records.extend(local)

    def wait(self):
        """Waits for the budget or the time bound to end the load."""
        for t in self.threads:
            t.join(timeout=max(1, self.deadline - time.monotonic() + 20))
        self.records.sort()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=20)
        self.records.sort()
        return self

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def failures(self):
        return [r for r in self.records if r[1] < 0 or r[1] >= 500]

    def versions(self, t_from=None, t_to=None):
        counts = {}
        for t, st, v in self.records:
            if (t_from is None or t >= t_from) and (t_to is None or t < t_to) and st == 200:
                counts[v] = counts.get(v, 0) + 1
        return counts

    def first(self, version):
        for t, st, v in self.records:
            if v == version:
                return t
        return None

    def last(self, version):
        for t, st, v in reversed(self.records):
            if v == version:
                return t
        return None

    def summary(self):
        counts = {}
        for _, st, v in self.records:
            counts[(st, v)] = counts.get((st, v), 0) + 1
        return counts


def wait_serving(port, version, timeout=30):
    """Waits until GET / through the proxy answers <version>."""
    def ok():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/")
            r = c.getresponse()
            body = r.read()
            c.close()
            return r.status == 200 and body.split(b"\n")[0] == version.encode()
        except (OSError, http.client.HTTPException):
            return False

    wait_for(ok, timeout, interval=0.1, what=f"{version} served on {port}")


# ---- whole setups -------------------------------------------------------------------------

def group_json(app="web", group="prod", kind="BLUE_GREEN", config="CodeDeployDefault.AllAtOnce",
               proxy=None, **extra):
    g = {"applicationName": app, "deploymentGroupName": group, "deploymentConfigName": config,
         "deploymentStyle": {"deploymentType": kind,
                             "deploymentOption": "WITH_TRAFFIC_CONTROL" if proxy else
                             "WITHOUT_TRAFFIC_CONTROL"}}
    if kind == "BLUE_GREEN":
        g["blueGreenFleets"] = [{"tag": {"Key": "fleet", "Value": "blue"}, "targetGroup": "blue"},
                                {"tag": {"Key": "fleet", "Value": "green"},
                                 "targetGroup": "green"}]
        g["blueGreenDeploymentConfiguration"] = {
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE",
                                                          "terminationWaitTimeInMinutes": 0}}
    if proxy is not None:
        g["loadBalancerInfo"] = {"proxyAdmin": f"http://127.0.0.1:{proxy.admin_port}",
                                 "listener": "web"}
    g["trafficRoutingConfig"] = {"type": "AllAtOnce"}
    g["autoRollbackConfiguration"] = {"enabled": True, "events": ["DEPLOYMENT_FAILURE",
                                                                  "DEPLOYMENT_STOP_ON_ALARM",
                                                                  "DEPLOYMENT_STOP_ON_REQUEST"]}
    g["healthCheck"] = {"timeout": "30s"}
    for k, v in extra.items():
        g[k] = v
    return g


class BlueGreen:
    """Server, proxy (listener web: blue 100 / green 0), one agent per fleet host (blue-1…,
    green-1…), application "web" and group "prod" from group_json(**group)."""

    def __init__(self, procs, binary, tmp_path, hosts=1, server_settings=None, **group):
        self.tmp = tmp_path
        self.server = Server(procs, binary, tmp_path, settings=server_settings)
        ports = {f"{fleet}-{i + 1}": free_port() for fleet in ("blue", "green")
                 for i in range(hosts)}
        groups = {fleet: [f"127.0.0.1:{p}" for n, p in ports.items() if n.startswith(fleet)]
                  for fleet in ("blue", "green")}
        self.proxy = fleet_proxy(procs, binary, tmp_path, groups,
                                 [("blue", 100), ("green", 0)])
        self.port = listener_port(self.proxy)
        self.agents = {n: Agent(procs, binary, tmp_path, self.server, n,
                                f"fleet={n.split('-')[0]}", f"127.0.0.1:{p}")
                       for n, p in ports.items()}
        self.server.deploy("create-application", "--application-name", "web")
        gpath = tmp_path / "group.json"
        gpath.write_text(json.dumps(group_json(proxy=self.proxy, **group)))
        self.server.deploy("create-deployment-group", "--cli-input-json", f"file://{gpath}")
        wait_agents_online(self.server, list(self.agents))
        self.n = 0

    def release(self, version, **settings):
        self.n += 1
        src = make_bundle(str(self.tmp / f"bundle-{self.n}-{version}"), version, **settings)
        return self.server.push("web", src)

    def deploy(self, version, *extra, **settings):
        rev = self.release(version, **settings)
        return self.server.create_deployment("web", "prod", rev, *extra)

    def deploy_and_wait(self, version, want="Succeeded", timeout=60, **settings):
        dep = self.deploy(version, **settings)
        info = self.server.wait_deployment(dep, timeout=timeout)
        assert info["status"] == want, json.dumps(info)
        return dep, info

    def close(self):
        kill_apps(self.agents.values())
