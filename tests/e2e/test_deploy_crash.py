"""Crashes in the middle of a deployment, with real processes: an agent killed -9 in the middle of
a hook (the server fails the host with AGENT_ISSUE within the heartbeat timeout; the restarted
agent reports the interrupted event, code 7), the server killed -9 during a canary (restarted, the
deployment completes or rolls back, clients see zero failures, no record is lost), and the server
down while an agent runs hooks (the agent keeps its reports and delivers them after the restart).
"""
import json
import os
import signal
import time

from conftest import wait_for
from deployutil import BlueGreen, Load, wait_serving

HEARTBEAT_TIMEOUT_S = 3  # server.yaml heartbeat_timeout, with 1 s heartbeats


def kill_session(sid):
    """SIGKILLs every process of session <sid> (a killed agent's orphaned hook scripts)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            pass


def event_status(server, dep, host, name):
    for e in server.instance(dep, host).get("lifecycleEvents", []):
        if e["lifecycleEventName"] == name:
            return e["status"]
    return None


def test_agent_killed_mid_hook_is_an_agent_issue_and_reports_code_7(procs, cutover, tmp_path):
    bg = BlueGreen(procs, cutover, tmp_path,
                   server_settings={"heartbeat_timeout": f"{HEARTBEAT_TIMEOUT_S}s"})
    try:
        bg.deploy_and_wait("v1")
        dep = bg.deploy("v2", START_SLEEP="60")
        agent = bg.agents["blue-1"]  # the replacement of the second release
        wait_for(lambda: event_status(bg.server, dep, "blue-1", "ApplicationStart")
                 == "InProgress", 30, interval=0.1, what="ApplicationStart running")
        sid = agent.proc.pid
        agent.kill9()
        t_kill = time.monotonic()
        kill_session(sid)
        info = bg.server.wait_deployment(dep, timeout=HEARTBEAT_TIMEOUT_S + 30)
        took = time.monotonic() - t_kill
        assert info["status"] == "Failed", json.dumps(info)
        assert info["errorInformation"]["code"] == "AGENT_ISSUE", json.dumps(info)
        print(f"AGENT_ISSUE {took:.1f} s after the kill (heartbeat timeout "
              f"{HEARTBEAT_TIMEOUT_S} s)")
        assert took <= HEARTBEAT_TIMEOUT_S + 5, f"AGENT_ISSUE after {took:.1f} s"
        # restarted, the agent reports the interrupted event and loses nothing it queued
        agent.start()
        wait_for(lambda: "interrupted by an agent restart" in agent.output(), 15,
                 what="the restarted agent reporting the interrupted event")
        rb = info.get("rollbackInfo", {}).get("rollbackDeploymentId")
        if rb:  # the automatic rollback may run on the restarted agent too: let it end
            assert bg.server.wait_deployment(rb, timeout=60)["status"] == "Succeeded"
        outbox = agent.root / "agent-state" / "outbox"
        wait_for(lambda: not [f for f in os.listdir(outbox) if not f.endswith(".tmp")], 15,
                 what="the outbox delivered")
        wait_for(lambda: not (agent.root / "agent-state" / "running").exists(), 15,
                 what="no command running")
        assert "level=error" not in agent.output().split("interrupted by an agent restart")[1]
    finally:
        bg.close()


def test_late_reports_of_a_paused_agent_do_not_rewrite_agent_issue(procs, cutover, tmp_path):
    """An agent that goes silent (here: SIGSTOP, as a partition or a stalled VM would) is failed
    with AGENT_ISSUE; when it comes back, its hook has finished and it delivers reports the
    server no longer expects. They must not turn the failed host's record into a success."""
    bg = BlueGreen(procs, cutover, tmp_path,
                   server_settings={"heartbeat_timeout": f"{HEARTBEAT_TIMEOUT_S}s"})
    try:
        bg.deploy_and_wait("v1")
        dep = bg.deploy("v2", START_SLEEP=str(HEARTBEAT_TIMEOUT_S + 3))
        agent = bg.agents["blue-1"]  # the replacement of the second release
        wait_for(lambda: event_status(bg.server, dep, "blue-1", "ApplicationStart")
                 == "InProgress", 30, interval=0.1, what="ApplicationStart running")
        os.kill(agent.proc.pid, signal.SIGSTOP)  # the hook runs on, in its own process group
        try:
            info = bg.server.wait_deployment(dep, timeout=HEARTBEAT_TIMEOUT_S + 30)
        finally:
            os.kill(agent.proc.pid, signal.SIGCONT)
        assert info["status"] == "Failed", json.dumps(info)
        assert info["errorInformation"]["code"] == "AGENT_ISSUE", json.dumps(info)
        assert event_status(bg.server, dep, "blue-1", "ApplicationStart") == "Failed"
        # resumed, the agent sees its hook succeed and reports it, late
        wait_for(lambda: f"deployment {dep}: ApplicationStart Succeeded" in agent.output(), 30,
                 what="the resumed agent reporting ApplicationStart")
        outbox = agent.root / "agent-state" / "outbox"
        wait_for(lambda: not [f for f in os.listdir(outbox) if not f.endswith(".tmp")], 30,
                 what="the late reports delivered")
        assert event_status(bg.server, dep, "blue-1", "ApplicationStart") == "Failed"
        again = bg.server.wait_deployment(dep)
        assert again["status"] == "Failed", json.dumps(again)
        assert again["errorInformation"]["code"] == "AGENT_ISSUE", json.dumps(again)
    finally:
        bg.close()


def test_server_killed_during_canary_resumes_with_zero_failures(procs, cutover, tmp_path):
    bg = BlueGreen(procs, cutover, tmp_path,
                   trafficRoutingConfig={"type": "TimeBasedCanary",
                                         "timeBasedCanary": {"canaryPercentage": 10,
                                                             "canaryInterval": "6s"}})
    try:
        dep1, info1 = bg.deploy_and_wait("v1", timeout=90)
        wait_serving(bg.port, "v1")
        load = Load(bg.port, threads=4, max_requests=300000, max_seconds=120)
        dep2 = bg.deploy("v2")
        wait_for(lambda: any(v == "v2" for _, _, v in load.snapshot()), 30, interval=0.05,
                 what="canary traffic")
        bg.server.kill9()
        time.sleep(0.5)
        bg.server.start()
        info = bg.server.wait_deployment(dep2, timeout=90)
        if info["status"] == "Succeeded":
            final = "v2"
        else:
            assert info.get("rollbackInfo", {}).get("rollbackDeploymentId"), json.dumps(info)
            rb = bg.server.wait_deployment(info["rollbackInfo"]["rollbackDeploymentId"])
            assert rb["status"] == "Succeeded", rb
            final = "v1"
        wait_serving(bg.port, final, timeout=10)
        load.stop()
        assert load.failures() == [], load.summary()
        # every record is intact
        st, body = bg.server.api("GET",
                                 "/v1/deployments?applicationName=web&deploymentGroupName=prod")
        assert st == 200 and dep1 in body["deployments"] and dep2 in body["deployments"], body
        assert bg.server.deployment(dep1)["status"] == "Succeeded"
        assert bg.server.deployment(dep1)["revision"] == info1["revision"]
        for host in ("blue-1",):
            events = bg.server.instance(dep2, host)["lifecycleEvents"]
            assert {e["lifecycleEventName"] for e in events} >= {"Install", "ValidateService"}
            assert all(e["status"] == "Succeeded" for e in events
                       if e["lifecycleEventName"] in ("Install", "ApplicationStart",
                                                      "ValidateService")), events
    finally:
        bg.close()


def test_server_down_while_hooks_run_loses_no_report(procs, cutover, tmp_path):
    # the server is away for several seconds: a heartbeat timeout longer than that
    bg = BlueGreen(procs, cutover, tmp_path, server_settings={"heartbeat_timeout": "30s"})
    try:
        bg.deploy_and_wait("v1")
        dep = bg.deploy("v2", START_SLEEP="3")
        wait_for(lambda: event_status(bg.server, dep, "blue-1", "ApplicationStart")
                 == "InProgress", 30, interval=0.1, what="ApplicationStart running")
        bg.server.kill9()
        agent = bg.agents["blue-1"]
        outbox = agent.root / "agent-state" / "outbox"
        # ApplicationStart ends, ValidateService runs and ends while the server is away: their
        # reports wait in the outbox
        wait_for(lambda: len([f for f in os.listdir(outbox) if not f.endswith(".tmp")]) >= 3,
                 30, what="reports queued while the server is down")
        bg.server.start()
        info = bg.server.wait_deployment(dep, timeout=60)
        assert info["status"] == "Succeeded", json.dumps(info)
        events = {e["lifecycleEventName"]: e["status"]
                  for e in bg.server.instance(dep, "blue-1")["lifecycleEvents"]}
        assert events["ApplicationStart"] == "Succeeded" and \
            events["ValidateService"] == "Succeeded", events
        wait_serving(bg.port, "v2")
    finally:
        bg.close()
