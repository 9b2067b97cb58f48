"""A real deployment onto hosts that live in their own network namespaces (tests/e2e/netns.py):
`cutover server` and `cutover proxy` in the root namespace, and per host one namespace with its
own address on a private 10.77.N.0/24 bridge, running `cutover agent` (--target on its own
address, port 80), nginx, and the examples/webapp bundle whose hooks start `cutover supervise`
with 4 Node workers. Only the run's own addresses and loopback receive traffic; every namespace,
link and process is removed at the end, failure included (netns.Network.close). Skipped, with the
reason, when not root, `ip netns` does not work here, or nginx/node are missing.

Every host sees the same paths: the bundle is rendered once, with every absolute path of the
example moved under one directory P (the way a CI job templates a bundle for an environment),
and each host's processes run in a private mount namespace in which P is that host's own
directory (bind mount). The worker ports (3001-3004) and nginx's :80 are the example's own:
each namespace has its own loopback, so they never collide. The server listens on the bridge
address, which the agents reach through their default route.

1. Blue/green, two hosts (blue-1, green-1). The listener starts on green, so v1 goes to blue-1
   and v2 (TimeBasedCanary 20 % for 4 s) to green-1, under a bounded keep-alive load through the
   proxy (8 connections, <= 80 s, <= 200k requests). Asserted: zero failed or non-2xx requests;
   v2 answered about 20 % of the requests during the canary interval, then all of them;
   `get-deployment` says Succeeded; /version answers 2.0.0 through the proxy from green-1 only
   (access log); blue-1 is deregistered but keeps running v1 (KEEP_ALIVE).
2. Partition, in place, three hosts (web-1..3) in one target group, HalfAtATime (minimum
   healthy: 50 % of 3 rounded up = 2, so one host at a time), under the same kind of load.
   The link of the host being deployed to (already deregistered and drained by BlockTraffic) is
   cut while its install events run. docs/orchestration.md: "an agent silent for
   heartbeat_timeout while it has a command" fails the deployment with AGENT_ISSUE, and "a
   failed host stops new starts". Asserted: the deployment is Failed with AGENT_ISSUE within
   [heartbeat_timeout - heartbeat_interval, heartbeat_timeout + 1.5 s] of the cut, the cut
   host's event is Failed with errorCode AgentIssue, no other host starts after the cut, the
   proxy never had fewer than 2 healthy targets, zero client requests failed and none reached
   the cut host after the cut. After the link comes back, the agent's late reports do not
   change the outcome. (Auto-rollback is off in this group, so the assertions are about this
   one deployment.)
3. Partition of a serving host, same fleet: web-3 (still on v1, its turn not come) is cut
   while web-1 installs v2. Asserted: web-3 is unhealthy in the proxy within
   UNHEALTHY_N × (INTERVAL + TIMEOUT) + 0.5 s; the only failed requests are those in flight to
   web-3 at the cut (502/504 from the proxy, at most one per client connection, access log);
   every request started after web-3 was marked unhealthy succeeds and none reaches it. Then
   the minimum healthy rule (docs/orchestration.md): with web-3 unhealthy, web-1 and web-2 are
   the 2 that must keep serving, so web-2 is not taken out; web-3 (serving nothing) is started
   and its turn fails with AGENT_ISSUE one heartbeat_timeout after its first command was queued.
   Once web-1 is back the proxy never has fewer than 2 healthy targets; web-2 still serves v1.
"""
import http.client
import json
import os
import re
import shutil
import tempfile
import threading
import time

import pytest

import netns
from conftest import free_port, wait_for
from deployutil import Server, group_json, wait_agents_online
from proxyutil import Proxy, proxy_config
from webapp_util import TEXT_FILES, WEBAPP, nginx_base_conf

HAVE_TOOLS = all(shutil.which(t) for t in ("nginx", "node", "curl", "unshare", "mount"))
pytestmark = [
    pytest.mark.skipif(netns.unavailable() is not None, reason=netns.unavailable() or ""),
    pytest.mark.skipif(not HAVE_TOOLS, reason="nginx, node, curl and unshare are needed "
                                              "(make deps installs them)"),
]

NGINX_PORT = 80
HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT = 1.0, 3.0
# The proxy's health checks through nginx: a cut host is unhealthy within
# UNHEALTHY_N × (INTERVAL + TIMEOUT) + 0.5 s (probes every interval, a failing one takes at
# most timeout, 0.5 s for the admin polling and scheduling).
INTERVAL, TIMEOUT, UNHEALTHY_N = 0.5, 0.3, 2
HEALTH = {"path": "/health", "interval": "500ms", "timeout": "300ms", "healthy_threshold": 2,
          "unhealthy_threshold": UNHEALTHY_N, "matcher": "200"}
SERVER_SETTINGS = {"heartbeat_interval": "1s", "heartbeat_timeout": "3s"}


# ---- hosts --------------------------------------------------------------------------------

class Fleet:
    """The run's network plus what every host shares: the directory P every host's processes
    see as their own, and the bundle rendered for P."""

    def __init__(self, procs, cutover, tmp_path):
        self.procs, self.cutover, self.tmp = procs, cutover, tmp_path
        # Short: the supervisor's control socket (+ ".notify") must fit in sun_path.
        self.base = tempfile.mkdtemp(prefix="nd-")
        self.mnt = os.path.join(self.base, "h")      # P: empty in the root namespace
        os.makedirs(self.mnt)
        self.net = netns.Network()
        self.hosts = {}

    def close(self):
        self.net.close()          # kills every process of every host, removes the namespaces
        shutil.rmtree(self.base, ignore_errors=True)

    def wrap(self, host, argv):
        """<argv> in <host>'s namespace and in a private mount namespace where P is the host's
        own directory."""
        own = os.path.join(self.base, "hosts", host.name)
        script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        return self.net.argv(host, ["unshare", "--mount", "--propagation", "private",
                                    "sh", "-c", script, "sh", own, self.mnt, *argv])

    def add_host(self, name, tags, server):
        h = self.net.add_host(name)
        own = os.path.join(self.base, "hosts", name)
        os.makedirs(os.path.join(own, "nginx", "conf.d"))
        ngx = os.path.join(self.mnt, "nginx")
        with open(os.path.join(own, "nginx", "nginx.conf"), "w") as f:
            f.write(nginx_base_conf(ngx))
        h.nginx = self.procs.start(self.wrap(h, ["nginx", "-p", ngx, "-c", f"{ngx}/nginx.conf"]),
                                   name=f"nginx-{name}")
        wait_for(lambda: os.path.exists(os.path.join(own, "nginx", "nginx.pid"))
                 or h.nginx.poll() is not None, 10, what=f"nginx of {name}")
        assert h.nginx.poll() is None, self.procs.output(h.nginx)
        h.target = f"{h.ip}:{NGINX_PORT}"
        env = {"CUTOVER": self.cutover, "SUPERVISE_UNIT": "", "NGINX": "nginx",
               "NGINX_ARGS": f"-p {ngx} -c {ngx}/nginx.conf", "VALIDATE_TIMEOUT": "20"}
        h.agent = self.procs.start(
            self.wrap(h, [self.cutover, "agent", "--server", server.url, "--token",
                          server.enroll_token, "--name", name, "--tags", tags, "--target",
                          h.target, "--root", os.path.join(self.mnt, "agent"),
                          "--poll-wait", "5"]),
            name=f"agent-{name}", env=env)
        self.hosts[name] = h
        return h

    def render(self, name, version):
        """examples/webapp with every absolute path under P and app/VERSION = <version>."""
        dst = os.path.join(str(self.tmp), name)
        shutil.copytree(WEBAPP, dst)
        p = self.mnt
        for rel in TEXT_FILES:
            path = os.path.join(dst, rel)
            with open(path) as f:
                text = f.read()
            for old, new in (("/opt/webapp", f"{p}/opt/webapp"),
                             ("/etc/cutover", f"{p}/etc/cutover"),
                             ("/run/cutover", f"{p}/run"), ("/var/log/cutover", f"{p}/log"),
                             ("/etc/nginx/conf.d", f"{p}/nginx/conf.d")):
                text = text.replace(old, new)
            with open(path, "w") as f:
                f.write(text)
        with open(os.path.join(dst, "app", "VERSION"), "w") as f:
            f.write(version + "\n")
        return dst


@pytest.fixture
def fleet(procs, cutover, tmp_path):
    f = Fleet(procs, cutover, tmp_path)
    try:
        yield f
    finally:
        f.close()


def version_at(addr, timeout=3):
    """GET http://ADDR/version → its version (None when it does not answer 200)."""
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("GET", "/version")
        r = c.getresponse()
        body = r.read()
        return json.loads(body)["version"] if r.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        c.close()


# ---- load ---------------------------------------------------------------------------------

class Load:
    """<conns> threads, each one keep-alive connection through the proxy sending
    GET /version?id=T-N in a loop; bounded by <max_requests> in total and <max_seconds>.
    Records (start, end, status or "exc: …", version, id) per request."""

    def __init__(self, port, conns=8, max_requests=200_000, max_seconds=80):
        self.port, self.conns = port, conns
        self.left = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.records = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(conns)]
        for t in self.threads:
            t.start()

    def take(self):
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True

    def run(self, tid):
        conn, n = None, 0
        while not self.stop_flag.is_set() and time.monotonic() < self.deadline and self.take():
            n += 1
            rid = f"{tid}-{n}"
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            t0 = time.monotonic()
            try:
                conn.request("GET", f"/version?id={rid}")
                r = conn.getresponse()
                body = r.read()
                try:
                    version = json.loads(body)["version"]
                except (ValueError, KeyError, TypeError):
                    version = None
                rec = (t0, time.monotonic(), r.status, version, rid)
                if r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:   # a failure of the system under test, recorded
                rec = (t0, time.monotonic(), f"exc: {e!r}", None, rid)
                conn.close()
                conn = None
            with self.lock:
                self.records.append(rec)
        if conn is not None:
            conn.close()

    def count(self):
        with self.lock:
            return len(self.records)

    def running(self):
        return any(t.is_alive() for t in self.threads)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not self.running(), "load threads did not stop"
        return sorted(self.records)


def access_log_targets(path, records):
    """{request id: target} from the proxy's access log, once it holds every request of
    <records> that the proxy answered (bounded wait: the log is written after the response)."""
    want = {r[4] for r in records if isinstance(r[2], int)}
    out = {}

    def complete():
        out.clear()
        with open(path) as f:
            for line in f:
                m = re.match(r'\S+ \S+ \S+ \S+ (\S+) "[^"]*?[?&]id=([\w-]+)', line)
                if m:
                    out[m.group(2)] = m.group(1)
        return want <= out.keys()

    wait_for(complete, 10, interval=0.1, what="every answered request in the access log")
    return out


def web_proxy(procs, cutover, tmp_path, groups, forward):
    """The proxy in the root namespace: listener "web" on loopback forwarding <forward>, one
    target group per entry of <groups> ({name: [targets]}), health checks on /health through
    nginx (HEALTH), 1 s deregistration delay, and a 3 s response timeout (what bounds a request
    sent to a host whose link is then cut: no answer can come). Returns (proxy, port)."""
    tgs = {name: {"targets": targets, "health_check": dict(HEALTH), "deregistration_delay": "1s",
                  "response_timeout": "3s"} for name, targets in groups.items()}
    px = Proxy(procs, cutover, tmp_path,
               proxy_config({"web": {"bind": free_port(), "forward": forward}}, tgs))
    return px, px.port("web")


def create_group(server, tmp_path, group):
    server.deploy("create-application", "--application-name", "webapp")
    path = tmp_path / "group.json"
    path.write_text(json.dumps(group))
    server.deploy("create-deployment-group", "--cli-input-json", f"file://{path}")


def release(server, fleet, version):
    return server.push("webapp", fleet.render(f"bundle-{version}", version))


# ---- 1. blue/green with a canary ----------------------------------------------------------

def test_blue_green_canary_across_namespaces(fleet, procs, cutover, tmp_path):
    server = Server(procs, cutover, tmp_path, settings=SERVER_SETTINGS, host=fleet.net.gateway)
    blue = fleet.add_host("blue-1", "fleet=blue", server)
    green = fleet.add_host("green-1", "fleet=green", server)
    # The listener starts on green: the first deployment goes to the other fleet (blue), the
    # second one back to green.
    proxy, port = web_proxy(procs, cutover, tmp_path,
                            {"blue": [blue.target], "green": [green.target]},
                            [("blue", 0), ("green", 100)])
    create_group(server, tmp_path, group_json(
        app="webapp", group="prod", kind="BLUE_GREEN", proxy=proxy,
        trafficRoutingConfig={"type": "TimeBasedCanary",
                              "timeBasedCanary": {"canaryPercentage": 20,
                                                  "canaryInterval": "4s"}}))
    wait_agents_online(server, ["blue-1", "green-1"])

    dep1 = server.create_deployment("webapp", "prod", release(server, fleet, "1.0.0"))
    info1 = server.wait_deployment(dep1, timeout=60)
    assert info1["status"] == "Succeeded", json.dumps(info1)
    assert server.instance(dep1, "blue-1")["instanceType"] == "Green"
    wait_for(lambda: version_at(f"127.0.0.1:{port}") == "1.0.0", 10, what="v1 through the proxy")

    rev2 = release(server, fleet, "2.0.0")
    load = Load(port)
    try:
        wait_for(lambda: load.count() > 200, 15, what="load under way")
        t_create = time.monotonic()
        dep2 = server.create_deployment("webapp", "prod", rev2)
        info2 = server.wait_deployment(dep2, timeout=60)
        n_done = load.count()
        wait_for(lambda: load.count() > n_done + 200, 15, what="load after the deployment")
        assert load.running(), "the load ended before the deployment did: not under load"
    finally:
        records = load.stop()
    assert info2["status"] == "Succeeded", json.dumps(info2)
    assert server.instance(dep2, "green-1")["instanceType"] == "Green"
    assert server.instance(dep2, "blue-1")["instanceType"] == "Blue"

    bad = [r for r in records if r[2] != 200]
    counts = {}
    for r in records:
        counts[r[3]] = counts.get(r[3], 0) + 1
    print(f"v1→v2 blue/green across namespaces: {len(records)} requests, {len(bad)} failed, "
          f"versions {counts}")
    assert not bad, bad[:10]
    assert all(r[3] in ("1.0.0", "2.0.0") for r in records), counts
    assert all(r[3] == "1.0.0" for r in records if r[0] < t_create)

    # The canary: about 20 % of the requests inside the 4 s interval (0.5 s trimmed at both
    # ends for the switches themselves), then 100 %.
    first_v2 = next(r[0] for r in records if r[3] == "2.0.0")
    during = [r for r in records if first_v2 + 0.5 <= r[0] <= first_v2 + 3.5]
    share = sum(1 for r in during if r[3] == "2.0.0") / max(1, len(during))
    assert len(during) >= 100, f"{len(during)} requests in the canary interval"
    assert 0.12 <= share <= 0.28, f"canary share {share:.3f} of {len(during)}"
    last_v1 = max(r[0] for r in records if r[3] == "1.0.0")
    assert last_v1 - first_v2 >= 3.5, \
        f"all traffic moved {last_v1 - first_v2:.2f} s after the canary"
    after = [r for r in records if r[0] > last_v1 + 0.2]
    assert after and all(r[3] == "2.0.0" for r in after)

    # get-deployment (the CLI) says Succeeded.
    rc, out = server.deploy("get-deployment", "--deployment-id", dep2)
    assert rc == 0 and out["deploymentInfo"]["status"] == "Succeeded", out

    # From now on only green-1 answers, with v2; blue-1 is out of the proxy but still runs v1.
    targets = access_log_targets(proxy.access_log, records)
    wrong = [(r, targets.get(r[4])) for r in records
             if targets.get(r[4]) != {"2.0.0": green.target, "1.0.0": blue.target}[r[3]]]
    assert not wrong, wrong[:5]
    wait_for(lambda: blue.target not in proxy.states("blue"), 10,
             what=f"blue-1 deregistered (now {proxy.states('blue')})")
    assert proxy.states("green") == {green.target: "healthy"}
    assert {version_at(f"127.0.0.1:{port}") for _ in range(20)} == {"2.0.0"}
    assert version_at(green.target) == "2.0.0"
    assert version_at(blue.target) == "1.0.0", "blue-1 stopped serving (KEEP_ALIVE)"
    assert blue.agent.poll() is None and green.agent.poll() is None


# ---- 2. partition mid-deployment ----------------------------------------------------------

def events_of(server, dep, name):
    return {e["lifecycleEventName"]: e for e in server.instance(dep, name)["lifecycleEvents"]}


INSTALL_EVENTS = ("ApplicationStop", "DownloadBundle", "BeforeInstall", "Install",
                  "AfterInstall", "ApplicationStart", "ValidateService")


def installing(server, dep, names):
    """The host whose install events have started (BlockTraffic done), or None."""
    for n in names:
        ev = events_of(server, dep, n)
        if ev.get("BlockTraffic", {}).get("status") != "Succeeded":
            continue
        if any(ev.get(e, {}).get("status") in ("InProgress", "Succeeded")
               for e in INSTALL_EVENTS):
            return n
    return None


def in_place_fleet(fleet, procs, cutover, tmp_path):
    """web-1..3 in one target group, IN_PLACE HalfAtATime (at most one host out at a time),
    auto-rollback off; v1 deployed and every target healthy. Returns (server, hosts, proxy,
    listener port)."""
    server = Server(procs, cutover, tmp_path, settings=SERVER_SETTINGS, host=fleet.net.gateway)
    names = ["web-1", "web-2", "web-3"]
    hosts = {n: fleet.add_host(n, "fleet=web", server) for n in names}
    targets = [h.target for h in hosts.values()]
    proxy, port = web_proxy(procs, cutover, tmp_path, {"app": targets}, [("app", 100)])
    create_group(server, tmp_path, {
        "applicationName": "webapp", "deploymentGroupName": "prod",
        "deploymentConfigName": "CodeDeployDefault.HalfAtATime",
        "deploymentStyle": {"deploymentType": "IN_PLACE",
                            "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "onPremisesInstanceTagFilters": [{"Key": "fleet", "Value": "web",
                                          "Type": "KEY_AND_VALUE"}],
        "loadBalancerInfo": {"proxyAdmin": f"http://127.0.0.1:{proxy.admin_port}",
                             "targetGroup": "app"},
        "autoRollbackConfiguration": {"enabled": False},
        "healthCheck": {"timeout": "30s"}})
    wait_agents_online(server, names)
    dep1 = server.create_deployment("webapp", "prod", release(server, fleet, "1.0.0"))
    info1 = server.wait_deployment(dep1, timeout=75)
    assert info1["status"] == "Succeeded", json.dumps(info1)
    proxy.wait_states("app", {t: "healthy" for t in targets}, timeout=15)
    return server, hosts, proxy, port


def test_partition_of_the_host_in_flight_fails_with_agent_issue(fleet, procs, cutover, tmp_path):
    server, hosts, proxy, port = in_place_fleet(fleet, procs, cutover, tmp_path)
    names = list(hosts)
    targets = [h.target for h in hosts.values()]

    healthy_counts, watching = [], threading.Event()

    def watch():
        while not watching.is_set():
            states = proxy.states("app")
            healthy_counts.append(sum(1 for s in states.values() if s == "healthy"))
            time.sleep(0.05)

    rev2 = release(server, fleet, "2.0.0")
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    load = Load(port)
    try:
        wait_for(lambda: load.count() > 200, 15, what="load under way")
        dep2 = server.create_deployment("webapp", "prod", rev2)
        victim = wait_for(lambda: installing(server, dep2, names), 30, interval=0.05,
                          what="a host installing v2")
        cut = hosts[victim]
        t_cut = time.monotonic()
        fleet.net.cut(cut)
        info = server.wait_deployment(dep2, timeout=HEARTBEAT_TIMEOUT + 10)
        t_end = time.monotonic()
        n_end = load.count()
        wait_for(lambda: load.count() > n_end + 300, 15, what="load after the failure")
        assert load.running(), "the load ended before the test did: not under load"
    finally:
        records = load.stop()
        watching.set()
        watcher.join(timeout=5)

    detect = t_end - t_cut
    bad = [r for r in records if r[2] != 200]
    print(f"partition of {victim}: {info['status']} {info.get('errorInformation')} "
          f"{detect:.2f} s after the cut; {len(records)} requests, {len(bad)} failed; "
          f"healthy targets min {min(healthy_counts)}")
    assert info["status"] == "Failed", json.dumps(info)
    assert info["errorInformation"]["code"] == "AGENT_ISSUE", json.dumps(info)
    assert victim in info["errorInformation"]["message"], info
    # The last sign of life before the cut is at most one heartbeat interval old; the
    # orchestrator looks every 250 ms.
    assert HEARTBEAT_TIMEOUT - HEARTBEAT_INTERVAL - 0.3 <= detect <= HEARTBEAT_TIMEOUT + 1.5, \
        f"AGENT_ISSUE {detect:.2f} s after the cut"

    ev = events_of(server, dep2, victim)
    failed = [e for e in ev.values() if e["status"] == "Failed"]
    assert len(failed) == 1 and failed[0]["diagnostics"]["errorCode"] == "AgentIssue", ev
    assert server.instance(dep2, victim)["status"] == "Failed"
    # A failed host stops new starts: the others either ran before the cut host (one at a
    # time) or never started.
    vstart = min(e["startTime"] for e in ev.values() if e.get("startTime"))
    for n in names:
        if n == victim:
            continue
        inst = server.instance(dep2, n)
        assert inst["status"] in ("Succeeded", "Skipped"), (n, inst)
        ends = [e["endTime"] for e in inst["lifecycleEvents"] if e.get("endTime")]
        if inst["status"] == "Succeeded":
            assert max(ends) <= vstart, f"{n} overlapped {victim}: {inst}"
        else:
            assert not any(e.get("startTime") for e in inst["lifecycleEvents"]), inst
    # Minimum healthy hosts: 2 of 3 were always serving.
    assert len(healthy_counts) > 20 and min(healthy_counts) >= 2, healthy_counts
    # Nothing lost: the cut host had been drained before its install, and nothing reached it
    # after the cut.
    assert not bad, bad[:10]
    routed = access_log_targets(proxy.access_log, records)
    late = [r for r in records if r[0] > t_cut and routed.get(r[4]) == cut.target]
    assert not late, late[:5]
    assert cut.target not in proxy.states("app") or \
        proxy.states("app")[cut.target] != "healthy", proxy.states("app")

    # The link comes back: the agent is heard from again and delivers its late reports; the
    # outcome stands.
    wait_for(lambda: instance_status(server, victim) == "Offline", 5, what=f"{victim} Offline")
    fleet.net.restore(cut)
    wait_for(lambda: instance_status(server, victim) == "Online", 20,
             what=f"{victim}'s agent heard from again")
    again = server.deployment(dep2)
    assert again["status"] == "Failed" and again["errorInformation"]["code"] == "AGENT_ISSUE"
    assert server.instance(dep2, victim)["status"] == "Failed"


def instance_status(server, name):
    st, body = server.api("GET", "/v1/instances")
    assert st == 200, body
    return {i["instanceName"]: i.get("status") for i in body.get("instanceInfos", [])}.get(name)


def test_partition_of_a_serving_host_fails_at_its_turn(fleet, procs, cutover, tmp_path):
    """web-3, still serving v1 and not yet started, is cut while web-1 installs v2."""
    server, hosts, proxy, port = in_place_fleet(fleet, procs, cutover, tmp_path)
    names = list(hosts)
    cut = hosts["web-3"]   # hosts start in name order: web-3 comes last

    healthy_counts, watching = [], threading.Event()

    def watch():
        while not watching.is_set():
            states = proxy.states("app")
            healthy_counts.append((time.monotonic(),
                                   sum(1 for s in states.values() if s == "healthy")))
            time.sleep(0.05)

    rev2 = release(server, fleet, "2.0.0")
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    load = Load(port, conns=8)
    box = {}
    try:
        wait_for(lambda: load.count() > 200, 15, what="load under way")
        assert any(r[3] == "1.0.0" for r in load.records), "v1 not served before the cut"
        dep2 = server.create_deployment("webapp", "prod", rev2)
        assert wait_for(lambda: installing(server, dep2, names), 30, interval=0.05,
                        what="a host installing v2") == "web-1"
        assert server.instance(dep2, "web-3")["status"] == "Pending"
        t_cut = time.monotonic()
        fleet.net.cut(cut)
        wait_for(lambda: proxy.states("app")[cut.target] == "unhealthy", 10, interval=0.02,
                 what="web-3 unhealthy")
        t_unhealthy = time.monotonic()
        # the premise: web-3 is seen unhealthy before web-1 is back (web-1's install and its
        # AllowTraffic take longer than the detection)
        assert server.instance(dep2, "web-1")["status"] == "InProgress", \
            "web-1 finished before web-3 was marked unhealthy"

        def ended():
            # when web-3's turn comes (its first command is queued), then the end
            if "started" not in box and server.instance(dep2, "web-3")["status"] != "Pending":
                box["started"] = time.monotonic()
            box["info"] = server.deployment(dep2)
            return box["info"]["status"] in ("Succeeded", "Failed", "Stopped")

        wait_for(ended, 60, interval=0.05, what="the deployment to end")
        t_end = time.monotonic()
        n_end = load.count()
        wait_for(lambda: load.count() > n_end + 300, 15, what="load after the failure")
        assert load.running(), "the load ended before the test did: not under load"
    finally:
        records = load.stop()
        watching.set()
        watcher.join(timeout=5)

    info = box["info"]
    detect = t_unhealthy - t_cut
    turn = t_end - box["started"]
    bad = [r for r in records if r[2] != 200]
    print(f"partition of serving web-3: unhealthy after {detect:.2f} s; {info['status']} "
          f"{info.get('errorInformation')} {turn:.2f} s after its turn; {len(records)} "
          f"requests, {len(bad)} failed; healthy targets min "
          f"{min(n for _, n in healthy_counts)}")
    bound = UNHEALTHY_N * (INTERVAL + TIMEOUT) + 0.5
    assert detect <= bound, f"web-3 marked unhealthy after {detect:.2f} s"

    # The deployment: web-1 got v2. Then web-2 (healthy) could not be taken out: with web-3
    # unhealthy only web-1 and web-2 serve, the minimum of 2. web-3 (serving nothing) could,
    # and its turn failed with AGENT_ISSUE one heartbeat_timeout after its first command was
    # queued (BeforeBlockTraffic). web-2 was never touched and still serves v1.
    assert info["status"] == "Failed", json.dumps(info)
    assert info["errorInformation"]["code"] == "AGENT_ISSUE", json.dumps(info)
    assert "web-3" in info["errorInformation"]["message"], info
    assert HEARTBEAT_TIMEOUT - 0.3 <= turn <= HEARTBEAT_TIMEOUT + 1.5, \
        f"AGENT_ISSUE {turn:.2f} s after web-3's turn"
    assert [server.instance(dep2, n)["status"] for n in names] == \
        ["Succeeded", "Skipped", "Failed"]
    ev = events_of(server, dep2, "web-3")
    assert ev["BeforeBlockTraffic"]["status"] == "Failed", ev
    assert ev["BeforeBlockTraffic"]["diagnostics"]["errorCode"] == "AgentIssue", ev
    assert version_at(hosts["web-1"].target) == "2.0.0"
    assert version_at(hosts["web-2"].target) == "1.0.0"

    # The clients: the only failures are requests that were in flight to web-3 when its link
    # was cut (answered 504 by the proxy after response_timeout: no answer could come), at
    # most one per client connection; every request started after web-3 was marked unhealthy
    # succeeded, and none of them went to web-3.
    routed = access_log_targets(proxy.access_log, records)
    for r in bad:
        assert isinstance(r[2], int) and r[2] in (502, 504), f"client-side failure {r}"
        assert routed.get(r[4]) == cut.target, f"failed request {r} went to {routed.get(r[4])}"
        assert r[1] >= t_cut and r[0] <= t_unhealthy + 0.2, f"failure outside the window: {r}"
    assert len(bad) <= load.conns, f"{len(bad)} failures for {load.conns} connections"
    after = [r for r in records if r[0] > t_unhealthy + 0.2]
    assert after and all(r[2] == 200 for r in after), [r for r in after if r[2] != 200][:5]
    assert not [r for r in after if routed.get(r[4]) == cut.target]
    # Capacity: while web-1 installs and web-3 is cut, web-2 serves alone; once web-1 is back
    # the fleet never drops below the minimum (2) again.
    assert len(healthy_counts) > 20, healthy_counts
    later = [n for t, n in healthy_counts if t > t_unhealthy]
    back = next(i for i, n in enumerate(later) if n >= 2)
    assert min(later[back:]) >= 2, f"healthy targets after web-1 came back: {later[back:]}"
    assert min(n for _, n in healthy_counts) >= 1, healthy_counts
    versions = {r[3] for r in after}
    assert versions <= {"1.0.0", "2.0.0"} and "2.0.0" in versions, versions
