#!/usr/bin/env bash
# cutover server + agents: how long a deployment takes and what the server costs.
#
#  1. create-deployment → Succeeded on 2 hosts (IN_PLACE, AllAtOnce, one proxy target group with
#     1 s health checks and healthy_threshold 2, no-op hooks for all six scriptable in-place
#     events, each host's target served by a static backend), RUNS times (default 5): median
#     total, and the split: agent span (first lifecycle event start → last event end, as the
#     agents reported them, longest host), health wait (host registered again, state initial →
#     healthy in the proxy, longest host; 0 when the host is re-registered while still draining,
#     which keeps it healthy), and the server's own overhead = total − agent span − health wait.
#  2. 100 agents (separate roots) in one group, WITHOUT_TRAFFIC_CONTROL, AllAtOnce, no-op hooks:
#     time from create-deployment to Succeeded, server CPU seconds and peak RSS (VmHWM) during it.
#
# The peer, AWS CodeDeploy, is a hosted service and cannot run here, so there is no side-by-side
# ratio: its own documentation puts an in-place deployment's fixed overhead in minutes (agent poll
# interval, instance health evaluation), which is the number to compare the totals with.
# Usage: bench/deploy.sh [RUNS] [AGENTS]   CUTOVER_BIN defaults to build/cutover (make build);
# BENCH_HEARTBEAT (default 5s) sets the agents' heartbeat interval; BENCH_KEEP=1 keeps the logs.
# a release build gives the representative numbers (ASan builds are several times slower).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CUTOVER_BIN:-build/cutover}
RUNS=${1:-5}
AGENTS=${2:-100}
[ -x "$BIN" ] || { echo "bench/deploy.sh: $BIN not built (make build)" >&2; exit 2; }
BIN=$(realpath "$BIN")
work=$(mktemp -d "${BENCH_DIR:-/tmp}/cutover-bench-deploy.XXXXXX")
[ -n "${BENCH_KEEP:-}" ] && echo "work directory (kept): $work" || trap 'rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || true

/usr/bin/python3 - "$BIN" "$work" "$RUNS" "$AGENTS" <<'PY'
import json, os, pathlib, statistics, subprocess, sys, threading, time
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "e2e"))
from conftest import Procs, free_port, wait_for  # noqa: E402
from deployutil import Agent, Server, fleet_proxy, wait_agents_online  # noqa: E402
from proxyutil import Backend  # noqa: E402

bin_, work, runs, nagents = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
EVENTS = ["ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart",
          "ValidateService"]


def noop_bundle(path):
    (path / "scripts").mkdir(parents=True)
    (path / "scripts" / "noop.sh").write_text("#!/bin/sh\nexit 0\n")
    (path / "scripts" / "noop.sh").chmod(0o755)
    lines = ["version: 0.0", "os: linux", "hooks:"]
    for e in EVENTS:
        lines += [f"  {e}:", "    - location: scripts/noop.sh"]
    (path / "appspec.yml").write_text("\n".join(lines) + "\n")
    return path


def ms(t):
    from datetime import datetime
    return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def group(app, name, tag, proxy=None):
    g = {"applicationName": app, "deploymentGroupName": name,
         "deploymentConfigName": "CodeDeployDefault.AllAtOnce",
         "deploymentStyle": {"deploymentType": "IN_PLACE",
                             "deploymentOption": "WITH_TRAFFIC_CONTROL" if proxy else
                             "WITHOUT_TRAFFIC_CONTROL"},
         "onPremisesInstanceTagFilters": [{"Key": "fleet", "Value": tag,
                                           "Type": "KEY_AND_VALUE"}],
         "autoRollbackConfiguration": {"enabled": False}}
    if proxy:
        g["loadBalancerInfo"] = {"proxyAdmin": f"http://127.0.0.1:{proxy.admin_port}",
                                 "targetGroup": "app"}
    path = work / f"group-{name}.json"
    path.write_text(json.dumps(g))
    return path


def two_hosts(procs):
    tmp = work / "two"
    tmp.mkdir()
    server = Server(procs, bin_, tmp)
    backends = [Backend(procs, f"h{i}") for i in (1, 2)]
    targets = [b.addr for b in backends]
    proxy = fleet_proxy(procs, bin_, tmp, {"app": targets}, [("app", 100)])
    proxy.wait_states("app", {t: "healthy" for t in targets}, timeout=20)
    agents = [Agent(procs, bin_, tmp, server, f"h{i + 1}", "fleet=two", t)
              for i, t in enumerate(targets)]
    server.deploy("create-application", "--application-name", "bench")
    server.deploy("create-deployment-group", "--cli-input-json",
                  f"file://{group('bench', 'two', 'two', proxy)}")
    wait_agents_online(server, [a.name for a in agents])
    rev = server.push("bench", noop_bundle(tmp / "bundle"))
    rows = []
    for i in range(runs):
        seen = {}  # target → [registered again (state initial), healthy after that]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                now = time.time()
                for t, s in proxy.states("app").items():
                    if s == "initial" and t not in seen:
                        seen[t] = [now, None]
                    elif s == "healthy" and t in seen and seen[t][1] is None:
                        seen[t][1] = now
                time.sleep(0.01)

        w = threading.Thread(target=watch, daemon=True)
        w.start()
        t0 = time.time()
        dep = server.create_deployment("bench", "two", rev)
        info = server.wait_deployment(dep, timeout=120)
        total = time.time() - t0
        stop.set()
        w.join()
        assert info["status"] == "Succeeded", info
        span = 0.0
        for a in agents:
            evs = [e for e in server.instance(dep, a.name)["lifecycleEvents"]
                   if e.get("startTime") and e.get("endTime")]
            span = max(span, ms(max(e["endTime"] for e in evs)) - ms(min(e["startTime"] for e in evs)))
        health = max((h - d for d, h in seen.values() if h is not None), default=0.0)
        rows.append((total, span, health, total - span - health))
        print(f"  run {i + 1}: total {total:.3f} s  agent span {span:.3f} s  "
              f"health wait {health:.3f} s  server overhead {total - span - health:.3f} s",
              flush=True)
    med = [statistics.median(r[k] for r in rows) for k in range(4)]
    print(f"2 hosts, median of {runs}: total {med[0]:.3f} s, agent span {med[1]:.3f} s, "
          f"health wait {med[2]:.3f} s, server overhead {med[3]:.3f} s")


def many_agents(procs):
    tmp = work / "many"
    tmp.mkdir()
    # the production heartbeat by default (5 s; the e2e tests use 1 s); BENCH_HEARTBEAT=1s
    # is the stress case: 100 heartbeats/s beside the deployment's reports
    hb = os.environ.get("BENCH_HEARTBEAT", "5s")
    server = Server(procs, bin_, tmp, settings={"heartbeat_interval": hb,
                                                "heartbeat_timeout": "15s"})
    agents = []
    for i in range(nagents):
        agents.append(Agent(procs, bin_, tmp, server, f"a{i:03d}", "fleet=many",
                            f"127.0.0.1:{20000 + i}"))
    server.deploy("create-application", "--application-name", "many")
    server.deploy("create-deployment-group", "--cli-input-json",
                  f"file://{group('many', 'many', 'many')}")
    wait_agents_online(server, [a.name for a in agents], timeout=120)
    rev = server.push("many", noop_bundle(tmp / "bundle"))
    pid = server.proc.pid
    cpu0, rss0 = proc_cpu_s(pid), proc_kib(pid, "VmRSS")
    t0 = time.time()
    dep = server.create_deployment("many", "many", rev)
    info = server.wait_deployment(dep, timeout=600)
    took = time.time() - t0
    cpu = proc_cpu_s(pid) - cpu0
    assert info["status"] == "Succeeded", info
    print(f"{nagents} agents (heartbeat {hb}), AllAtOnce: Succeeded in {took:.2f} s; server CPU {cpu:.2f} s "
          f"({100 * cpu / took:.0f}% of one core), RSS {rss0 / 1024:.1f} MiB before, "
          f"{proc_kib(pid, 'VmRSS') / 1024:.1f} MiB after, peak {proc_kib(pid, 'VmHWM') / 1024:.1f} MiB")


procs = Procs(work)
try:
    print(f"binary: {bin_}\nmachine: {os.cpu_count()} CPUs, "
          f"{open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
    two_hosts(procs)
    procs.stop_all()
    procs = Procs(work)
    many_agents(procs)
finally:
    procs.stop_all()
PY
