"""`cutover apply -f stack.yaml` against a real `cutover server` (init + run) and a real
`cutover proxy`: the shipped examples/stack.yaml (ports rewritten) creates what it names, a
second run reports "no changes" and writes nothing, --dry-run changes nothing, and broken stack
files exit 2 with FILE:LINE:COL and leave the proxy and the server as they were.
"""
import json
import os
import re
import subprocess

import pytest

from conftest import REPO, free_port
from deployutil import Server
from proxyutil import Proxy, backends, request  # noqa: F401 (backends: a fixture)

EXAMPLE = os.path.join(REPO, "examples", "stack.yaml")


class Env:
    """A server, a proxy whose proxy.yaml matches the example's proxy part, and the example
    stack rewritten to their ports."""

    def __init__(self, procs, binary, tmp_path):
        self.binary = binary
        self.tmp_path = tmp_path
        self.server = Server(procs, binary, tmp_path)
        self.admin_port, self.web_port, self.test_port = free_port(), free_port(), free_port()
        hc = ("{path: /health, interval: 1s, timeout: 500ms, healthy_threshold: 2, "
              "unhealthy_threshold: 2, matcher: \"200-399\"}")
        group = f"    algorithm: round_robin\n    deregistration_delay: 5s\n    health_check: {hc}\n"
        conf = (f"admin: 127.0.0.1:{self.admin_port}\nworkers: 2\nlisteners:\n"
                f"  web:\n    bind: 127.0.0.1:{self.web_port}\n"
                "    forward: [{target_group: blue, weight: 100}, {target_group: green, weight: 0}]\n"
                f"  test:\n    bind: 127.0.0.1:{self.test_port}\n"
                "    forward: [{target_group: green, weight: 1}]\n"
                f"target_groups:\n  blue:\n{group}  green:\n{group}")
        self.proxy = Proxy(procs, binary, tmp_path, conf)
        with open(EXAMPLE) as f:
            text = f.read()
        for old, new in (("127.0.0.1:9900", f"127.0.0.1:{self.server.port}"),
                         ("127.0.0.1:9901", f"127.0.0.1:{self.admin_port}"),
                         ("127.0.0.1:8080", f"127.0.0.1:{self.web_port}"),
                         ("127.0.0.1:8081", f"127.0.0.1:{self.test_port}")):
            assert old in text, old
            text = text.replace(old, new)
        self.stack_text = text

    def write(self, text, name="stack.yaml"):
        path = self.tmp_path / name
        path.write_text(text)
        return path

    def apply(self, text=None, *args, env=None, timeout=60):
        path = self.write(self.stack_text if text is None else text)
        argv = [self.binary, "apply", "-f", str(path), *args]
        full_env = dict(os.environ, CUTOVER_TOKEN=self.server.admin_token)
        full_env.pop("CUTOVER_SERVER", None)
        full_env.pop("CUTOVER_PROXY_ADMIN", None)
        full_env.update(env or {})
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=full_env)

    def generation(self):
        m = re.search(r"^cutover_config_generation (\d+)$", self.proxy.metrics(), re.M)
        assert m, self.proxy.metrics()
        return int(m.group(1))

    def snapshot(self):
        """Everything apply could change, as the proxy and the server report it."""
        snap = {"generation": self.generation()}
        for path in ("/listeners", "/target-groups"):
            st, body = self.proxy.admin("GET", path)
            assert st == 200, (path, st, body)
            snap[path] = body
        for path in ("/v1/applications", "/v1/deployment-configs/TwoAtATime",
                     "/v1/applications/web/deployment-groups/prod",
                     "/v1/applications/web/deployment-groups/staging"):
            snap[path] = self.server.api("GET", path)
        return snap


@pytest.fixture
def env(procs, cutover, tmp_path):
    return Env(procs, cutover, tmp_path)


def plan_lines(out):
    return [line for line in out.splitlines() if line[:2] in ("+ ", "~ ", "= ")]


def test_apply_creates_then_second_apply_changes_nothing(env):
    before = env.snapshot()
    assert before["/v1/applications"] == (200, {"applications": []})
    r = env.apply()
    assert r.returncode == 0, r.stdout + r.stderr
    lines = plan_lines(r.stdout)
    assert "+ deployment_config TwoAtATime" in lines, r.stdout
    assert "+ application web" in lines, r.stdout
    assert "+ deployment_group web/prod" in lines and "+ deployment_group web/staging" in lines
    # the proxy already matches: its listeners belong to deployments, its groups keep targets
    assert "= listener web (traffic owned by deployments)" in lines, r.stdout
    assert "= target_group blue (targets owned by deployments)" in lines, r.stdout
    assert "applied: 4 created, 0 updated" in r.stdout, r.stdout

    # the objects exist, as the deploy CLI shows them
    rc, got = env.server.deploy("get-deployment-group", "--application-name", "web",
                                "--deployment-group-name", "prod")
    info = got["deploymentGroupInfo"]
    assert info["deploymentConfigName"] == "CodeDeployDefault.AllAtOnce"
    assert info["blueGreenFleets"][1] == {"tag": {"Key": "fleet", "Value": "green"},
                                          "targetGroup": "green"}
    assert info["loadBalancerInfo"]["proxyAdmin"] == f"http://127.0.0.1:{env.admin_port}"
    assert info["alarmConfiguration"]["alarms"][0]["threshold"] == 0.01
    assert info["autoRollbackConfiguration"]["enabled"] is True
    rc, got = env.server.deploy("get-deployment-group", "--application-name", "web",
                                "--deployment-group-name", "staging")
    assert got["deploymentGroupInfo"]["deploymentConfigName"] == "TwoAtATime"
    st, cfg = env.server.api("GET", "/v1/deployment-configs/TwoAtATime")
    assert st == 200 and cfg["deploymentConfigInfo"]["minimumHealthyHosts"] == {
        "type": "HOST_COUNT", "value": 2}, cfg

    # a second run: only "=", "no changes", and nothing written anywhere
    after_first = env.snapshot()
    r = env.apply()
    assert r.returncode == 0, r.stdout + r.stderr
    lines = plan_lines(r.stdout)
    assert lines and all(line.startswith("= ") for line in lines), r.stdout
    assert r.stdout.strip().endswith("no changes"), r.stdout
    assert env.snapshot() == after_first

    # the same in JSON
    r = env.apply(None, "--output", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["changes"] == 0 and doc["dry_run"] is False, doc
    assert {(i["kind"], i["name"], i["action"]) for i in doc["plan"]} >= {
        ("deployment_group", "web/prod", "unchanged"), ("application", "web", "unchanged")}
    assert env.snapshot() == after_first


def test_dry_run_prints_the_plan_and_changes_nothing(env):
    assert env.apply().returncode == 0
    before = env.snapshot()
    changed = (env.stack_text
               .replace("canaryPercentage: 10", "canaryPercentage: 20")
               .replace("  TwoAtATime:", "  ThreeAtATime: {minimum_healthy_hosts: "
                        "{type: FLEET_PERCENT, value: 60}}\n  TwoAtATime:"))
    r = env.apply(changed, "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = plan_lines(r.stdout)
    assert "~ deployment_group web/prod (trafficRoutingConfig)" in lines, r.stdout
    assert "+ deployment_config ThreeAtATime" in lines, r.stdout
    assert "= deployment_group web/staging" in lines, r.stdout
    assert "dry run: 1 to create, 1 to update (nothing changed)" in r.stdout, r.stdout
    assert env.snapshot() == before
    st, _ = env.server.api("GET", "/v1/deployment-configs/ThreeAtATime")
    assert st == 404
    r = env.apply(changed, "--dry-run", "--output", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["dry_run"] is True and doc["applied"] is False and doc["changes"] == 2, doc
    prod = [i for i in doc["plan"] if i["name"] == "web/prod"][0]
    assert prod == {"kind": "deployment_group", "name": "web/prod", "action": "update",
                    "differs": "trafficRoutingConfig", "applied": False}, prod
    assert env.snapshot() == before
    # without --dry-run the same file updates the group in place
    r = env.apply(changed)
    assert r.returncode == 0, r.stdout + r.stderr
    rc, got = env.server.deploy("get-deployment-group", "--application-name", "web",
                                "--deployment-group-name", "prod")
    assert got["deploymentGroupInfo"]["trafficRoutingConfig"]["timeBasedCanary"][
        "canaryPercentage"] == 20
    assert env.snapshot()["generation"] == before["generation"]


def position(text, line_has, token):
    """1-based (line, col) of <token> on the first line containing <line_has>."""
    for i, line in enumerate(text.splitlines(), 1):
        if line_has in line:
            return i, line.index(token) + 1
    raise AssertionError(f"{line_has!r} not in the stack")


# (what, old, new, line marker, token at the error, message fragment)
BROKEN = [
    ("unknown key", "  listeners:", "  listenrs:", "listenrs:", "listenrs",
     "unknown key 'listenrs' (did you mean 'listeners'?)"),
    ("bad duration", "deregistration_delay: 5s", "deregistration_delay: 5parsecs",
     "5parsecs", "5parsecs", "is not a duration"),
    ("group.json error deep in a group", "threshold: 0.01", "threshhold: 0.01",
     "threshhold", "threshhold",
     "deployment group web/prod: alarmConfiguration.alarms[0]: unknown key 'threshhold'"),
    ("group.json value out of range", "canaryPercentage: 10", "canaryPercentage: 150",
     "canaryPercentage: 150", "150",
     "trafficRoutingConfig.timeBasedCanary.canaryPercentage: 150 out of range"),
    ("dangling forward target_group", "[{target_group: green, weight: 1}]",
     "[{target_group: grene, weight: 1}]", "grene", "grene",
     "listener test: unknown target group 'grene'"),
    ("dangling fleet target group", "targetGroup: green}", "targetGroup: teal}",
     "teal", "teal", "blueGreenFleets[1].targetGroup: unknown target group 'teal'"),
    ("dangling listener", "listener: web", "listener: www", "listener: www", "www",
     "loadBalancerInfo.listener: unknown listener 'www'"),
    ("unknown deployment config", "deploymentConfigName: TwoAtATime",
     "deploymentConfigName: SixAtATime", "SixAtATime", "SixAtATime",
     "unknown deploymentConfigName 'SixAtATime'"),
]


def test_broken_stack_files_exit_2_at_file_line_col_and_change_nothing(env):
    before = env.snapshot()
    for what, old, new, line_has, token, fragment in BROKEN:
        assert old in env.stack_text, what
        text = env.stack_text.replace(old, new, 1)
        r = env.apply(text)
        line, col = position(text, line_has, token)
        path = env.tmp_path / "stack.yaml"
        assert r.returncode == 2, f"{what}: exit {r.returncode}\n{r.stdout}{r.stderr}"
        assert r.stderr.startswith(f"{path}:{line}:{col}: "), f"{what}: {r.stderr}"
        assert fragment in r.stderr, f"{what}: {r.stderr}"
        assert plan_lines(r.stdout) == [], f"{what}: {r.stdout}"
        assert env.snapshot() == before, what

    # YAML syntax: libyaml's message at the character it stopped on
    text = env.stack_text.replace("algorithm: round_robin", "algorithm: round: robin", 1)
    r = env.apply(text)
    line, col = position(text, "round: robin", ": robin")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(f"{env.tmp_path / 'stack.yaml'}:{line}:{col}: mapping values"), \
        r.stderr
    assert env.snapshot() == before

    # a config that exists with other settings is refused before anything changes
    assert env.apply().returncode == 0
    before = env.snapshot()
    text = env.stack_text.replace("type: HOST_COUNT, value: 2", "type: HOST_COUNT, value: 3")
    r = env.apply(text)
    assert r.returncode == 2, r.stdout + r.stderr
    line, col = position(text, "TwoAtATime: {", "{")
    assert r.stderr.startswith(f"{env.tmp_path / 'stack.yaml'}:{line}:{col}: deployment config "
                               "TwoAtATime exists on the server as HOST_COUNT 2"), r.stderr
    assert env.snapshot() == before


def test_unreachable_server_exits_75_and_usage_errors_exit_2(env):
    text = env.stack_text.replace(f"127.0.0.1:{env.server.port}", f"127.0.0.1:{free_port()}")
    before = env.snapshot()
    r = env.apply(text)
    assert r.returncode == 75, r.stdout + r.stderr
    assert "cannot reach the server" in r.stderr, r.stderr
    assert env.snapshot() == before
    r = subprocess.run([env.binary, "apply"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "-f stack.yaml is required" in r.stderr, r.stderr
    r = subprocess.run([env.binary, "apply", "-f", str(env.tmp_path / "none.yaml")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "none.yaml" in r.stderr, r.stderr



def test_without_a_proxy_part_groups_are_checked_against_their_proxy_admin(env):
    """No proxy: section: the groups' loadBalancerInfo.proxyAdmin is the proxy their listener
    and target group names are checked against; the proxy is not written to."""
    text = env.stack_text
    text = text[:text.index("proxy:")] + text[text.index("deployment_configs:"):]
    gen = env.generation()
    r = env.apply(text.replace("listener: web", "listener: www"))
    assert r.returncode == 2 and "unknown listener 'www'" in r.stderr, r.stdout + r.stderr
    r = env.apply(text)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "listener" not in r.stdout and "target_group" not in r.stdout, r.stdout
    assert "+ deployment_group web/prod" in plan_lines(r.stdout), r.stdout
    assert env.generation() == gen


def test_proxy_objects_are_created_and_updated_in_one_generation(env, backends):
    """New listener + new target group (with targets) in one POST /changes; a changed
    setting is an update; a second run writes nothing."""
    assert env.apply().returncode == 0
    app = backends("canary")[0]
    port = free_port()
    text = env.stack_text.replace(
        "  target_groups:\n",
        "  target_groups:\n"
        "    canary:\n"
        "      deregistration_delay: 1s\n"
        "      health_check: {path: /health, interval: 200ms, timeout: 100ms, "
        "healthy_threshold: 1}\n"
        f"      targets: [{app.addr}]\n", 1).replace(
        "  listeners:\n",
        "  listeners:\n"
        f"    canary: {{bind: 127.0.0.1:{port}, forward: [{{target_group: canary, weight: 1}}]}}\n",
        1)
    gen = env.generation()
    r = env.apply(text)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = plan_lines(r.stdout)
    assert "+ target_group canary" in lines and "+ listener canary" in lines, r.stdout
    assert "applied: 2 created, 0 updated" in r.stdout, r.stdout
    assert env.generation() == gen + 1  # one generation for both
    st, groups = env.proxy.admin("GET", "/target-groups")
    canary = [g for g in groups["target_groups"] if g["name"] == "canary"][0]
    assert canary["targets"] == [app.addr] and canary["deregistration_delay_ms"] == 1000, canary
    assert canary["health_check"]["interval_ms"] == 200, canary
    st, ls = env.proxy.admin("GET", "/listeners/canary")
    assert st == 200 and ls["bind"] == f"127.0.0.1:{port}", ls
    env.proxy.wait_states("canary", {app.addr: "healthy"}, timeout=10)
    r2 = request(port, "/")
    assert r2.status == 200, r2

    snap = env.snapshot()
    r = env.apply(text)
    assert r.returncode == 0 and r.stdout.strip().endswith("no changes"), r.stdout + r.stderr
    assert env.snapshot() == snap

    # a changed setting: "~" naming it; the live weights stay with deployments
    env.proxy.set_forward("web", [("blue", 0), ("green", 100)])
    changed = text.replace("deregistration_delay: 5s", "deregistration_delay: 7s", 1)
    r = env.apply(changed)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "~ target_group blue (deregistration_delay; targets owned by deployments)" in plan_lines(r.stdout), r.stdout
    st, ls = env.proxy.admin("GET", "/listeners/web")
    assert [f["weight"] for f in ls["forward"]] == [0, 100], ls
    # --reset-traffic takes the file's forward back
    r = env.apply(changed, "--reset-traffic")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "~ listener web (forward)" in plan_lines(r.stdout), r.stdout
    st, ls = env.proxy.admin("GET", "/listeners/web")
    assert [(f["target_group"], f["weight"]) for f in ls["forward"]] == [
        ("blue", 100), ("green", 0)], ls


def test_a_refused_proxy_change_applies_nothing_and_exits_1(env):
    """A new listener on a port in use: the proxy refuses the batch (409), nothing is written
    to the proxy or the server, and apply says so."""
    import socket
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        text = env.stack_text.replace(
            "  listeners:\n",
            f"  listeners:\n    extra: {{bind: 127.0.0.1:{busy.getsockname()[1]}, "
            "forward: [{target_group: blue, weight: 1}]}\n", 1)
        before = env.snapshot()
        r = env.apply(text)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "proxy: POST /changes" in r.stderr and "HTTP 409" in r.stderr, r.stderr
        assert "applied: nothing" in r.stderr, r.stderr
        assert "not applied: listener extra, deployment_config TwoAtATime" in r.stderr, r.stderr
        assert env.snapshot() == before
    finally:
        busy.close()
