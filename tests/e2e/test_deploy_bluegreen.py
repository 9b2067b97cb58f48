"""Blue/green deployments through real processes: `cutover server`, `cutover proxy`, one
`cutover agent` per host (separate roots) and the sample app of examples/deploy/bundle started
by the bundle's hooks on each agent's --target port. Clients go through the proxy the whole
time; the release that answered each request is in its body.
"""
import json
import signal
import time

import pytest

from conftest import wait_for
from deployutil import BlueGreen, Load, wait_serving
from proxyutil import Wrk


@pytest.fixture
def bluegreen(procs, cutover, tmp_path):
    made = []

    def make(**kw):
        bg = BlueGreen(procs, cutover, tmp_path, **kw)
        made.append(bg)
        return bg

    yield make
    for bg in made:
        bg.close()


def replacement_of(server, dep_id, names):
    """The host names the deployment deployed the revision to (instanceType Green)."""
    return sorted(n for n in names if server.instance(dep_id, n).get("instanceType") == "Green")


def test_all_at_once_switches_fleets_with_zero_failed_requests(bluegreen):
    bg = bluegreen()
    dep1, _ = bg.deploy_and_wait("v1")
    wait_serving(bg.port, "v1")
    load = Wrk(f"http://127.0.0.1:{bg.port}/", connections=16, threads=2, duration=60,
               budget=400000)
    time.sleep(0.5)  # some v1 traffic before the switch (the assertion below needs it)
    dep2, info = bg.deploy_and_wait("v2")
    wait_serving(bg.port, "v2", timeout=5)
    load.proc.send_signal(signal.SIGINT)
    res = load.result()
    res.assert_clean(min_requests=500)
    assert res.bodies.get("v1", 0) > 0 and res.bodies.get("v2", 0) > 0, res
    # the fleet not serving is the replacement, and the roles swap each release
    names = list(bg.agents)
    assert replacement_of(bg.server, dep1, names) == ["green-1"]
    assert replacement_of(bg.server, dep2, names) == ["blue-1"]
    assert info["creator"] == "user" and "errorInformation" not in info, info
    # after the switch every answer comes from the new release
    late = Load(bg.port, threads=2, max_requests=200, max_seconds=10).wait()
    assert late.versions() == {"v2": 200}, late.summary()


def test_time_based_canary_holds_ten_percent_then_shifts_all(bluegreen):
    bg = bluegreen(trafficRoutingConfig={"type": "TimeBasedCanary",
                                         "timeBasedCanary": {"canaryPercentage": 10,
                                                             "canaryInterval": "4s"}})
    bg.deploy_and_wait("v1")
    wait_serving(bg.port, "v1")
    load = Load(bg.port, threads=4, max_requests=300000, max_seconds=90)
    wait_for(lambda: len(load.snapshot()) > 200, 10, what="load running")
    dep, info = bg.deploy_and_wait("v2")
    wait_serving(bg.port, "v2", timeout=5)
    time.sleep(0.3)
    load.stop()
    assert load.failures() == [], load.summary()
    t_canary = load.first("v2")
    assert t_canary is not None, load.summary()
    # inside the canary interval (trimmed by 0.5 s at both ends for the switch itself)
    during = load.versions(t_canary + 0.5, t_canary + 3.5)
    total = during.get("v1", 0) + during.get("v2", 0)
    assert total >= 100, during
    share = during.get("v2", 0) / total
    assert 0.08 <= share <= 0.12, f"canary share {share:.3f} ({during})"
    # then 100%: the last v1 answer comes before the end of the run, and v2 is all after it
    t_all = load.last("v1")
    after = load.versions(t_all + 0.2)
    assert after.get("v1", 0) == 0 and after.get("v2", 0) > 0, after
    assert t_all - t_canary >= 3.5, f"full shift after {t_all - t_canary:.2f} s, before 4 s"


def test_validate_service_failure_never_moves_traffic_and_rolls_back(bluegreen):
    bg = bluegreen()
    bg.deploy_and_wait("v1")
    wait_serving(bg.port, "v1")
    load = Load(bg.port, threads=2, max_requests=200000, max_seconds=90)
    rev = bg.release("v2", VALIDATE_EXIT="3")
    rc, out = bg.server.deploy("create-deployment", "--application-name", "web",
                               "--deployment-group-name", "prod", "--revision", rev, "--wait",
                               check=False)
    assert rc == 1, (rc, out)
    deps = bg.server.api("GET", "/v1/deployments?applicationName=web&deploymentGroupName=prod")
    assert deps[0] == 200, deps
    dep = [d for d in deps[1]["deployments"]
           if bg.server.deployment(d)["revision"]["revisionId"] == rev
           and bg.server.deployment(d)["creator"] == "user"][0]
    info = bg.server.wait_deployment(dep)
    assert info["status"] == "Failed", info
    assert info["errorInformation"]["code"] == "SCRIPT_FAILED", info
    rb = info.get("rollbackInfo", {}).get("rollbackDeploymentId")
    assert rb, f"no rollback recorded: {json.dumps(info)}"
    rbinfo = bg.server.wait_deployment(rb)
    assert rbinfo["creator"] == "rollback", rbinfo
    assert rbinfo["rollbackInfo"]["rollbackTriggeringDeploymentId"] == dep, rbinfo
    assert rbinfo["status"] == "Succeeded", rbinfo
    # the replacement host says which script failed, with its output
    green = bg.server.instance(dep, "blue-1")
    events = {e["lifecycleEventName"]: e for e in green["lifecycleEvents"]}
    vs = events["ValidateService"]
    assert vs["status"] == "Failed", green
    assert vs["diagnostics"]["errorCode"] == "ScriptFailed", vs
    assert vs["diagnostics"]["scriptName"] == "scripts/validate.sh", vs
    assert "failed on purpose" in vs["diagnostics"]["logTail"], vs
    wait_serving(bg.port, "v1", timeout=5)
    time.sleep(0.5)
    load.stop()
    assert load.failures() == [], load.summary()
    assert load.versions().get("v2", 0) == 0, "traffic reached the release that failed"
    assert load.versions().get("v1", 0) > 100, load.summary()


def test_stop_deployment_with_auto_rollback_shifts_traffic_back(bluegreen):
    bg = bluegreen(trafficRoutingConfig={"type": "TimeBasedCanary",
                                         "timeBasedCanary": {"canaryPercentage": 20,
                                                             "canaryInterval": "60s"}})
    # the first release waits out its own canary: keep it short by continuing the group with
    # AllAtOnce first, then switching the group to the long canary
    g = json.loads((bg.tmp / "group.json").read_text())
    g["trafficRoutingConfig"] = {"type": "AllAtOnce"}
    (bg.tmp / "group-fast.json").write_text(json.dumps(g))
    bg.server.deploy("update-deployment-group", "--cli-input-json",
                     f"file://{bg.tmp / 'group-fast.json'}")
    bg.deploy_and_wait("v1")
    bg.server.deploy("update-deployment-group", "--cli-input-json",
                     f"file://{bg.tmp / 'group.json'}")
    wait_serving(bg.port, "v1")
    load = Load(bg.port, threads=4, max_requests=300000, max_seconds=90)
    dep = bg.deploy("v2")
    wait_for(lambda: any(v == "v2" for _, _, v in load.snapshot()), 30,
             what="canary traffic on v2")
    bg.server.deploy("stop-deployment", "--deployment-id", dep, "--auto-rollback-enabled")
    t_stop = time.monotonic()
    info = bg.server.wait_deployment(dep, timeout=20)
    assert info["status"] == "Stopped", info
    assert info["errorInformation"]["code"] == "MANUAL_STOP", info
    rb = info.get("rollbackInfo", {}).get("rollbackDeploymentId")
    assert rb, info
    rbinfo = bg.server.wait_deployment(rb)
    assert rbinfo["creator"] == "rollback" and rbinfo["status"] == "Succeeded", rbinfo
    wait_serving(bg.port, "v1", timeout=5)
    time.sleep(0.5)
    load.stop()
    assert load.failures() == [], load.summary()
    t_back = load.last("v2")
    assert t_back - t_stop < 5, f"v2 still served {t_back - t_stop:.2f} s after the stop"


def test_stop_deployment_ready_option_waits_for_continue(bluegreen):
    bg = bluegreen(blueGreenDeploymentConfiguration={
        "deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 5},
        "terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE",
                                                      "terminationWaitTimeInMinutes": 0}})
    dep1 = bg.deploy("v1")
    bg.server.wait_deployment(dep1, statuses=("Ready",) + ("Failed", "Stopped"))
    bg.server.deploy("continue-deployment", "--deployment-id", dep1)
    assert bg.server.wait_deployment(dep1)["status"] == "Succeeded"
    wait_serving(bg.port, "v1")
    load = Load(bg.port, threads=2, max_requests=200000, max_seconds=90)
    dep2 = bg.deploy("v2")
    info = bg.server.wait_deployment(dep2, statuses=("Ready", "Failed", "Stopped"))
    assert info["status"] == "Ready", info
    t_ready = time.monotonic()
    time.sleep(2)  # ready and waiting: the replacement gets no traffic
    assert bg.server.deployment(dep2)["status"] == "Ready"
    assert all(v == "v1" for t, _, v in load.snapshot() if t >= t_ready - 0.1)
    # one active deployment per group: a second one is refused with the running one's id
    rev3 = bg.release("v3")
    st, body = bg.server.api("POST", "/v1/deployments",
                             {"applicationName": "web", "deploymentGroupName": "prod",
                              "revision": {"revisionId": rev3}})
    assert st == 409 and body.get("deploymentId") == dep2, (st, body)
    rc, out = bg.server.deploy("create-deployment", "--application-name", "web",
                               "--deployment-group-name", "prod", "--revision", rev3,
                               check=False)
    assert rc != 0 and dep2 in json.dumps(out), (rc, out)
    bg.server.deploy("continue-deployment", "--deployment-id", dep2)
    assert bg.server.wait_deployment(dep2)["status"] == "Succeeded"
    wait_serving(bg.port, "v2", timeout=5)
    load.stop()
    assert load.failures() == [], load.summary()
    assert load.first("v2") > t_ready + 2
