"""In-place OneAtATime on three hosts behind one proxy target group: each host is deregistered
(drained), redeployed and registered again in turn, so serving capacity never drops below two
healthy targets and clients see zero failed requests. Real server, proxy, agents, sample app."""
import json
import threading
import time

from conftest import free_port
from deployutil import Agent, Load, Server, fleet_proxy, listener_port, make_bundle, \
    wait_agents_online, wait_serving


def test_one_at_a_time_keeps_capacity_and_drops_nothing(procs, cutover, tmp_path):
    server = Server(procs, cutover, tmp_path)
    ports = [free_port() for _ in range(3)]
    targets = [f"127.0.0.1:{p}" for p in ports]
    proxy = fleet_proxy(procs, cutover, tmp_path, {"app": targets}, [("app", 100)])
    port = listener_port(proxy)
    agents = [Agent(procs, cutover, tmp_path, server, f"web-{i + 1}", "fleet=web", t)
              for i, t in enumerate(targets)]
    try:
        server.deploy("create-application", "--application-name", "web")
        group = {"applicationName": "web", "deploymentGroupName": "prod",
                 "deploymentConfigName": "CodeDeployDefault.OneAtATime",
                 "deploymentStyle": {"deploymentType": "IN_PLACE",
                                     "deploymentOption": "WITH_TRAFFIC_CONTROL"},
                 "onPremisesInstanceTagFilters": [{"Key": "fleet", "Value": "web",
                                                   "Type": "KEY_AND_VALUE"}],
                 "loadBalancerInfo": {"proxyAdmin": f"http://127.0.0.1:{proxy.admin_port}",
                                      "targetGroup": "app"},
                 "autoRollbackConfiguration": {"enabled": True,
                                               "events": ["DEPLOYMENT_FAILURE"]},
                 "healthCheck": {"timeout": "30s"}}
        (tmp_path / "group.json").write_text(json.dumps(group))
        server.deploy("create-deployment-group", "--cli-input-json",
                      f"file://{tmp_path / 'group.json'}")
        wait_agents_online(server, [a.name for a in agents])
        rev1 = server.push("web", make_bundle(str(tmp_path / "b1"), "v1"))
        dep1 = server.create_deployment("web", "prod", rev1)
        assert server.wait_deployment(dep1, timeout=90)["status"] == "Succeeded"
        proxy.wait_states("app", {t: "healthy" for t in targets}, timeout=15)
        wait_serving(port, "v1")

        healthy_counts = []
        watching = threading.Event()

        def watch():
            while not watching.is_set():
                states = proxy.states("app")
                healthy_counts.append(sum(1 for s in states.values() if s == "healthy"))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        load = Load(port, threads=4, max_requests=300000, max_seconds=120)
        rev2 = server.push("web", make_bundle(str(tmp_path / "b2"), "v2"))
        dep2 = server.create_deployment("web", "prod", rev2)
        info = server.wait_deployment(dep2, timeout=90)
        assert info["status"] == "Succeeded", json.dumps(info)
        wait_serving(port, "v2")
        time.sleep(0.3)
        load.stop()
        watching.set()
        watcher.join(timeout=5)
        assert load.failures() == [], load.summary()
        assert load.versions().get("v1", 0) > 0 and load.versions().get("v2", 0) > 0
        assert len(healthy_counts) > 20
        assert min(healthy_counts) >= 2, f"healthy targets dropped to {min(healthy_counts)}"
        # one at a time: the three hosts' Install events never overlap
        spans = []
        for a in agents:
            ev = {e["lifecycleEventName"]: e for e in server.instance(dep2, a.name)["lifecycleEvents"]}
            spans.append((ev["ApplicationStop"]["startTime"], ev["ValidateService"]["endTime"]))
        spans.sort()
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            assert e1 <= s2, f"hosts overlapped: {spans}"
        for p in ports:
            wait_serving(p, "v2", timeout=2)
    finally:
        for a in agents:
            a.stop_app()
