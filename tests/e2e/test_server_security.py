"""The control plane's security contract with real processes: every API call needs a bearer
token (401 without), `server init` writes its tokens 0600, an agent's instance token reads only
its own host's commands and cannot use the admin API, and a bundle whose sha256 does not match
is refused by the agent before anything is unpacked."""
import json
import os
import stat

from conftest import wait_for
from deployutil import Agent, Server, find_stored_bundle, make_bundle, wait_agents_online
from conftest import free_port


def test_no_token_is_401_and_tokens_are_private(procs, cutover, tmp_path):
    server = Server(procs, cutover, tmp_path)
    for name in ("admin.token", "enroll.token"):
        mode = stat.S_IMODE(os.stat(server.data / name).st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    for method, path in (("GET", "/v1/applications"), ("GET", "/v1/deployments"),
                         ("POST", "/v1/applications"), ("GET", "/v1/instances"),
                         ("GET", "/v1/agent/commands?waitSeconds=1"),
                         ("POST", "/v1/agent/heartbeat"), ("POST", "/v1/agent/register")):
        st, _ = server.api(method, path, body={} if method == "POST" else None, token=None)
        assert st == 401, f"{method} {path} without a token → {st}"
        st, _ = server.api(method, path, body={} if method == "POST" else None,
                           token="not-a-token")
        assert st == 401, f"{method} {path} with a wrong token → {st}"
    # the CLI says so too, with a failing exit status
    rc, out = server.deploy("list-applications", token="wrong", check=False)
    assert rc != 0, out


def register(server, name, fleet):
    st, body = server.api("POST", "/v1/agent/register",
                          {"name": name, "tags": {"fleet": fleet},
                           "target": f"127.0.0.1:{free_port()}", "agentVersion": "test"},
                          token=server.enroll_token)
    assert st == 200, (st, body)
    return body["instanceToken"]


def test_an_agent_token_reads_only_its_own_commands(procs, cutover, tmp_path):
    server = Server(procs, cutover, tmp_path)
    tok1 = register(server, "h1", "one")
    tok2 = register(server, "h2", "two")
    assert tok1 != tok2
    # the admin API is not for agents, and the enrollment token is not an admin token
    for tok in (tok1, server.enroll_token):
        st, _ = server.api("GET", "/v1/deployments", token=tok)
        assert st == 403, st
    server.deploy("create-application", "--application-name", "web")
    group = {"applicationName": "web", "deploymentGroupName": "one",
             "deploymentConfigName": "CodeDeployDefault.AllAtOnce",
             "deploymentStyle": {"deploymentType": "IN_PLACE",
                                 "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
             "onPremisesInstanceTagFilters": [{"Key": "fleet", "Value": "one",
                                               "Type": "KEY_AND_VALUE"}]}
    (tmp_path / "group.json").write_text(json.dumps(group))
    server.deploy("create-deployment-group", "--cli-input-json",
                  f"file://{tmp_path / 'group.json'}")
    rev = server.push("web", make_bundle(str(tmp_path / "b"), "v1"))
    dep = server.create_deployment("web", "one", rev)
    st, body = server.api("GET", "/v1/agent/commands?waitSeconds=1", token=tok2)
    assert st == 200 and body["commands"] == [], body
    st, body = server.api("GET", "/v1/agent/commands?waitSeconds=5", token=tok1)
    assert st == 200 and len(body["commands"]) == 1, body
    cmd = body["commands"][0]
    assert cmd["deploymentId"] == dep and cmd["revision"]["revisionId"] == rev, cmd
    # h2 cannot report on h1's command
    st, _ = server.api("POST", f"/v1/agent/commands/{cmd['commandId']}/events",
                       {"lifecycleEvent": "DownloadBundle", "status": "Succeeded"}, token=tok2)
    assert st in (403, 404), st
    # re-registering rotates the token: the old one stops working
    tok1b = register(server, "h1", "one")
    st, _ = server.api("GET", "/v1/agent/commands?waitSeconds=1", token=tok1)
    assert st == 401, st
    st, _ = server.api("GET", "/v1/agent/commands?waitSeconds=1", token=tok1b)
    assert st == 200


def test_bundle_with_a_wrong_sha256_is_refused_before_unpacking(procs, cutover, tmp_path):
    server = Server(procs, cutover, tmp_path)
    agent = Agent(procs, cutover, tmp_path, server, "h1", "fleet=one",
                  f"127.0.0.1:{free_port()}")
    try:
        server.deploy("create-application", "--application-name", "web")
        group = {"applicationName": "web", "deploymentGroupName": "one",
                 "deploymentConfigName": "CodeDeployDefault.AllAtOnce",
                 "deploymentStyle": {"deploymentType": "IN_PLACE",
                                     "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
                 "onPremisesInstanceTagFilters": [{"Key": "fleet", "Value": "one",
                                                   "Type": "KEY_AND_VALUE"}],
                 "autoRollbackConfiguration": {"enabled": False}}
        (tmp_path / "group.json").write_text(json.dumps(group))
        server.deploy("create-deployment-group", "--cli-input-json",
                      f"file://{tmp_path / 'group.json'}")
        wait_agents_online(server, ["h1"])
        rev = server.push("web", make_bundle(str(tmp_path / "b"), "v1"))
        stored = find_stored_bundle(server.data, rev.split(":", 1)[1])
        assert stored, f"bundle {rev} not found under {server.data}"
        data = bytearray(open(stored, "rb").read())
        data[len(data) // 2] ^= 0xFF  # same size, other digest
        os.chmod(stored, 0o600)
        with open(stored, "wb") as f:
            f.write(data)
        dep = server.create_deployment("web", "one", rev)
        info = server.wait_deployment(dep, timeout=60)
        assert info["status"] == "Failed", json.dumps(info)
        events = {e["lifecycleEventName"]: e for e in server.instance(dep, "h1")["lifecycleEvents"]}
        assert events["DownloadBundle"]["status"] == "Failed", events
        # nothing of the revision was unpacked or run on the host
        assert not list(agent.root.glob(f"*/{dep}*")), list(agent.root.rglob("*"))
        assert agent.app_pid() is None
        out = agent.output()
        if "refused before unpacking" not in out:
            # the server may refuse to serve a damaged bundle itself; then the agent never
            # received it, which is also a refusal before unpacking
            assert "bundle" in json.dumps(events["DownloadBundle"]), events
    finally:
        agent.stop_app()
