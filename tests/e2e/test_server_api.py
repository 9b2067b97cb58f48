"""The server's REST API and the deploy CLI against a real `cutover server` process: init layout
and config checks, every resource through the CLI (table and JSON), the agent long-poll (parked,
woken by a queued command, bounded wait), event reports stored with their log tails, one active
deployment per group (409 with the running id), TLS, exit 75 when unreachable, and records that
survive a restart. Fake agents here are plain HTTP clients speaking the wire contract."""
import hashlib
import json
import os
import subprocess
import threading
import time

from conftest import free_port, wait_for
from deployutil import Server


def cli(server, *args, check=True, token="admin", env=None):
    argv = [server.binary, "deploy", *args, "--server", server.url]
    if token is not None:
        argv += ["--token", server.admin_token if token == "admin" else token]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                       env={**os.environ, **(env or {})})
    if check:
        assert r.returncode == 0, f"{args}: rc={r.returncode}\n{r.stdout}{r.stderr}"
    return r


def in_place_group(name="prod", fleet="blue", config="CodeDeployDefault.AllAtOnce"):
    return {"applicationName": "web", "deploymentGroupName": name,
            "deploymentConfigName": config,
            "deploymentStyle": {"deploymentType": "IN_PLACE",
                                "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
            "onPremisesInstanceTagFilters": [{"Key": "fleet", "Value": fleet,
                                              "Type": "KEY_AND_VALUE"}]}


def make_source(tmp_path):
    src = tmp_path / "src"
    (src / "scripts").mkdir(parents=True)
    (src / "appspec.yml").write_text("version: 0.0\nos: linux\nfiles:\n"
                                     "  - source: /index.html\n    destination: /tmp/x\n")
    (src / "index.html").write_text("v1\n")
    return src


def test_init_writes_its_layout_and_check_validates(procs, cutover, tmp_path):
    server = Server(procs, cutover, tmp_path)
    for name in ("server.yaml", "cutover.db", "admin.token", "enroll.token"):
        assert str(server.data / name) in server.init_output, server.init_output
    r = subprocess.run([cutover, "server", "-c", str(server.conf), "--check"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
    # a second init refuses and changes nothing
    before = (server.data / "admin.token").read_text()
    r = subprocess.run([cutover, "server", "init", "--data", str(server.data)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "already initialised" in r.stderr, r.stderr
    assert (server.data / "admin.token").read_text() == before
    # a typo is reported at its position with a suggestion, exit 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: 127.0.0.1:1\nheartbeat_intervall: 5s\n")
    r = subprocess.run([cutover, "server", "-c", str(bad), "--check"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{bad}:2:1:" in r.stderr and "heartbeat_interval" in r.stderr, r.stderr
    # --check also loads the TLS certificate and key
    tls = server.data / "tls.yaml"
    tls.write_text(server.conf.read_text() + "\ntls: {cert: /nonexistent/c.pem, key: k.pem}\n")
    r = subprocess.run([cutover, "server", "-c", str(tls), "--check"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "/nonexistent/c.pem" in r.stderr, r.stdout + r.stderr


def test_resources_through_the_cli(procs, cutover, tmp_path):
    server = Server(procs, cutover, tmp_path)
    cli(server, "create-application", "--application-name", "web")
    r = cli(server, "create-application", "--application-name", "web", check=False)
    assert r.returncode == 1 and "already exists" in r.stderr, r.stderr
    assert cli(server, "list-applications").stdout.split() == ["web"]
    out = json.loads(cli(server, "list-applications", "--output", "json").stdout)
    assert out == {"applications": ["web"]}

    # group.json errors: JSON syntax at FILE:LINE:COL, unknown keys by path; exit 2
    broken = tmp_path / "broken.json"
    broken.write_text('{"applicationName": "web",\n  "deploymentGroupName": }\n')
    r = cli(server, "create-deployment-group", "--cli-input-json", f"file://{broken}",
            check=False)
    assert r.returncode == 2 and f"{broken}:2:" in r.stderr, r.stderr
    typo = dict(in_place_group(), deploymentStyl={})
    (tmp_path / "typo.json").write_text(json.dumps(typo))
    r = cli(server, "create-deployment-group", "--cli-input-json",
            f"file://{tmp_path / 'typo.json'}", check=False)
    assert r.returncode == 2 and "deploymentStyle" in r.stderr, r.stderr

    cli(server, "create-deployment-config", "--deployment-config-name", "Two",
        "--minimum-healthy-hosts", "type=HOST_COUNT,value=2")
    (tmp_path / "group.json").write_text(json.dumps(in_place_group()))
    cli(server, "create-deployment-group", "--cli-input-json", f"file://{tmp_path / 'group.json'}")
    got = json.loads(cli(server, "get-deployment-group", "--application-name", "web",
                         "--deployment-group-name", "prod", "--output", "json").stdout)
    info = got["deploymentGroupInfo"]
    assert info["deploymentGroupName"] == "prod" and len(info["deploymentGroupId"]) == 36
    (tmp_path / "group.json").write_text(json.dumps(in_place_group(config="Two")))
    cli(server, "update-deployment-group", "--cli-input-json", f"file://{tmp_path / 'group.json'}")
    again = json.loads(cli(server, "get-deployment-group", "--application-name", "web",
                           "--deployment-group-name", "prod", "--output", "json").stdout)
    assert again["deploymentGroupInfo"]["deploymentConfigName"] == "Two"
    assert again["deploymentGroupInfo"]["deploymentGroupId"] == info["deploymentGroupId"]
    # an unknown config is refused by the server
    (tmp_path / "g2.json").write_text(json.dumps(in_place_group("qa", config="Nope")))
    r = cli(server, "create-deployment-group", "--cli-input-json",
            f"file://{tmp_path / 'g2.json'}", check=False)
    assert r.returncode == 1 and "Nope" in r.stderr, r.stderr

    cli(server, "register-on-premises-instance", "--instance-name", "blue-1", "--tags",
        "Key=fleet,Value=blue", "--target", "127.0.0.1:8001")
    table = cli(server, "list-on-premises-instances").stdout
    assert "blue-1" in table and "Registered" in table and "fleet=blue" in table, table

    # push: the revision id is the sha256 of the bundle the server stores and serves
    rev = cli(server, "push", "--application-name", "web", "--source",
              str(make_source(tmp_path))).stdout.strip()
    assert rev.startswith("sha256:") and len(rev) == 71, rev
    st, bundle = server.api("GET", f"/v1/revisions/{rev}/bundle")
    assert st == 200 and hashlib.sha256(bundle).hexdigest() == rev[7:]


def register(server, name, fleet):
    st, body = server.api("POST", "/v1/agent/register",
                          {"name": name, "tags": {"fleet": fleet},
                           "target": f"127.0.0.1:{free_port()}", "agentVersion": "test"},
                          token=server.enroll_token)
    assert st == 200, (st, body)
    return body["instanceToken"]


class Poll(threading.Thread):
    """One long-poll on its own thread, timed."""

    def __init__(self, server, token, wait):
        super().__init__(daemon=True)
        self.server, self.token, self.wait = server, token, wait
        self.result = None
        self.elapsed = None

    def run(self):
        t0 = time.monotonic()
        self.result = self.server.api("GET", f"/v1/agent/commands?waitSeconds={self.wait}",
                                      token=self.token, timeout=self.wait + 10)
        self.elapsed = time.monotonic() - t0


def test_long_poll_is_parked_then_woken_by_a_command(procs, cutover, tmp_path):
    server = Server(procs, cutover, tmp_path)
    tok = register(server, "blue-1", "blue")
    other = register(server, "green-1", "green")
    # nothing queued: the wait is honoured (no busy loop answering at once), bounded
    p = Poll(server, tok, 1)
    p.start()
    p.join(15)
    assert p.result == (200, {"commands": []}) and 0.9 <= p.elapsed < 5, (p.result, p.elapsed)
    st, _ = server.api("GET", "/v1/agent/commands?waitSeconds=999", token=tok)
    assert st == 400

    cli(server, "create-application", "--application-name", "web")
    (tmp_path / "group.json").write_text(json.dumps(in_place_group()))
    cli(server, "create-deployment-group", "--cli-input-json", f"file://{tmp_path / 'group.json'}")
    rev = cli(server, "push", "--application-name", "web", "--source",
              str(make_source(tmp_path))).stdout.strip()

    parked = Poll(server, tok, 30)
    parked.start()
    time.sleep(0.3)  # let it park; the assertion below is on when it returns, not on this
    t0 = time.monotonic()
    dep = cli(server, "create-deployment", "--application-name", "web",
              "--deployment-group-name", "prod", "--revision", rev).stdout.strip()
    assert dep.startswith("d-") and len(dep) == 11, dep
    parked.join(30)
    st, body = parked.result
    assert st == 200 and len(body["commands"]) >= 1, body
    assert time.monotonic() - t0 < 10, "the parked poll was not woken by the queued command"
    cmd = body["commands"][0]
    assert cmd["deploymentId"] == dep and cmd["revision"]["revisionId"] == rev
    assert cmd["revision"]["sha256"] == rev[7:] and cmd["applicationName"] == "web"
    assert cmd["revision"]["url"] == f"/v1/revisions/{rev}/bundle" and cmd["events"]

    # one active deployment per group: refused with the running id
    r = cli(server, "create-deployment", "--application-name", "web",
            "--deployment-group-name", "prod", "--revision", rev, check=False)
    assert r.returncode == 1 and dep in r.stderr, r.stderr
    st, body409 = server.api("POST", "/v1/deployments",
                             {"applicationName": "web", "deploymentGroupName": "prod",
                              "revision": {"revisionId": rev}})
    assert st == 409 and body409["deploymentId"] == dep, body409

    # another host's token cannot report on this command
    ev0 = cmd["events"][0]
    st, _ = server.api("POST", f"/v1/agent/commands/{cmd['commandId']}/events",
                       {"lifecycleEvent": ev0, "status": "Succeeded"}, token=other)
    assert st == 403
    # report every event; the last one fails with a log tail, twice (agents retry)
    now = "2026-11-22T00:00:00.000Z"
    for ev in cmd["events"][:-1]:
        for status in ("InProgress", "Succeeded"):
            st, _ = server.api("POST", f"/v1/agent/commands/{cmd['commandId']}/events",
                               {"lifecycleEvent": ev, "status": status, "startTime": now,
                                "endTime": now}, token=tok)
            assert st == 200
    last = {"lifecycleEvent": cmd["events"][-1], "status": "Failed", "startTime": now,
            "endTime": now, "diagnostics": {"errorCode": "ScriptFailed",
                                            "scriptName": "scripts/validate.sh",
                                            "message": "exit 4", "logTail": "line1\nboom\n",
                                            "exitCode": 4}}
    for _ in range(2):
        st, _ = server.api("POST", f"/v1/agent/commands/{cmd['commandId']}/events", last,
                           token=tok)
        assert st == 200
    detail = json.loads(cli(server, "get-deployment-instance", "--deployment-id", dep,
                            "--instance-id", "blue-1", "--output", "json").stdout)
    events = {e["lifecycleEventName"]: e for e in detail["instanceSummary"]["lifecycleEvents"]}
    failed = events[cmd["events"][-1]]
    assert failed["status"] == "Failed" and failed["diagnostics"]["logTail"] == "line1\nboom\n"
    table = cli(server, "get-deployment-instance", "--deployment-id", dep, "--instance-id",
                "blue-1").stdout
    assert "boom" in table and "ScriptFailed" in table, table

    # the orchestrator fails the deployment on the failed script
    def ended():
        st, d = server.api("GET", f"/v1/deployments/{dep}")
        return d["deploymentInfo"] if d["deploymentInfo"]["status"] in (
            "Failed", "Stopped", "Succeeded") else None
    info = wait_for(ended, 30, 0.2, "deployment to end")
    assert info["status"] == "Failed", info
    assert info["errorInformation"]["code"] == "SCRIPT_FAILED", info
    r = cli(server, "get-deployment", "--deployment-id", dep)
    assert "Failed" in r.stdout and "SCRIPT_FAILED" in r.stdout, r.stdout
    assert dep in cli(server, "list-deployments", "--application-name", "web").stdout.split()
    # continue is only for a Ready deployment
    r = cli(server, "continue-deployment", "--deployment-id", dep, check=False)
    assert r.returncode == 1, r.stderr


def test_cli_exit_75_when_the_server_is_unreachable(cutover):
    r = subprocess.run([cutover, "deploy", "list-applications", "--server",
                        f"http://127.0.0.1:{free_port()}", "--token", "x"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 75, r.stdout + r.stderr
    r = subprocess.run([cutover, "deploy", "list-applications", "--bogus"],
                       capture_output=True, text=True, timeout=60, env={**os.environ,
                                                                        "CUTOVER_TOKEN": "x"})
    assert r.returncode == 2, r.stderr


def test_tls_when_a_certificate_is_configured(procs, cutover, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True, timeout=60)
    server = Server.__new__(Server)
    server.procs, server.binary, server.name = procs, cutover, "server"
    server.data = tmp_path / "server"
    r = subprocess.run([cutover, "server", "init", "--data", str(server.data), "--listen",
                        f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    conf = server.data / "server.yaml"
    text = conf.read_text().replace("# tls:", f"tls: {{cert: {cert}, key: {key}}}\n#")
    conf.write_text(text)
    port = int(text.split("listen: 127.0.0.1:")[1].split()[0])
    proc = procs.start([cutover, "server", "-c", str(conf)], name="server")
    token = (server.data / "admin.token").read_text().strip()
    base = ["--token", token, "--ca-bundle", str(cert)]

    def ok():
        assert proc.poll() is None, procs.output(proc)
        return subprocess.run([cutover, "deploy", "create-application", "--application-name",
                               "web", "--server", f"https://127.0.0.1:{port}", *base],
                              capture_output=True, text=True, timeout=30).returncode == 0
    wait_for(ok, 20, 0.1, "https server")
    r = subprocess.run([cutover, "deploy", "list-applications", "--server",
                        f"https://127.0.0.1:{port}", *base], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout.split() == ["web"], r.stdout + r.stderr
    # plain HTTP to the TLS port gets no answer
    r = subprocess.run([cutover, "deploy", "list-applications", "--server",
                        f"http://127.0.0.1:{port}", "--token", token], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0


def test_records_survive_a_restart(procs, cutover, tmp_path):
    server = Server(procs, cutover, tmp_path)
    register(server, "blue-1", "blue")
    cli(server, "create-application", "--application-name", "web")
    (tmp_path / "group.json").write_text(json.dumps(in_place_group()))
    cli(server, "create-deployment-group", "--cli-input-json", f"file://{tmp_path / 'group.json'}")
    rev = cli(server, "push", "--application-name", "web", "--source",
              str(make_source(tmp_path))).stdout.strip()
    dep = cli(server, "create-deployment", "--application-name", "web",
              "--deployment-group-name", "prod", "--revision", rev).stdout.strip()
    st, before = server.api("GET", f"/v1/deployments/{dep}")
    assert st == 200
    server.proc.terminate()
    assert server.proc.wait(timeout=15) == 0, server.output()
    server.start()
    st, after = server.api("GET", f"/v1/deployments/{dep}")
    assert st == 200
    for key in ("deploymentId", "applicationName", "deploymentGroupName", "revision",
                "createTime", "creator"):
        assert after["deploymentInfo"][key] == before["deploymentInfo"][key], key
    assert cli(server, "list-applications").stdout.split() == ["web"]
    st, bundle = server.api("GET", f"/v1/revisions/{rev}/bundle")
    assert st == 200 and hashlib.sha256(bundle).hexdigest() == rev[7:]


class FakeAgent(threading.Thread):
    """Speaks the wire contract: long-polls, reports every event of every command (one may
    fail), heartbeats. Runs no hooks: this file tests the server and the CLI."""

    def __init__(self, server, token, fail_event=None):
        super().__init__(daemon=True)
        self.server, self.token, self.fail_event = server, token, fail_event
        self.stopped = threading.Event()

    def report(self, cmd, ev, status):
        now = "2026-11-22T00:00:00.000Z"
        st, _ = self.server.api("POST", f"/v1/agent/commands/{cmd['commandId']}/events",
                                {"lifecycleEvent": ev, "status": status, "startTime": now,
                                 "endTime": now}, token=self.token)
        assert st == 200

    def run(self):
        while not self.stopped.is_set():
            self.server.api("POST", "/v1/agent/heartbeat", {"runningCommandId": None},
                            token=self.token)
            st, body = self.server.api("GET", "/v1/agent/commands?waitSeconds=1",
                                       token=self.token)
            for cmd in body.get("commands", []) if st == 200 else []:
                for ev in cmd["events"]:
                    self.report(cmd, ev, "InProgress")
                    failed = ev == self.fail_event
                    self.report(cmd, ev, "Failed" if failed else "Succeeded")
                    if failed:
                        break


def wait_world(procs, cutover, tmp_path, fail_event=None):
    server = Server(procs, cutover, tmp_path)
    agent = FakeAgent(server, register(server, "blue-1", "blue"), fail_event)
    agent.start()
    cli(server, "create-application", "--application-name", "web")
    (tmp_path / "group.json").write_text(json.dumps(in_place_group()))
    cli(server, "create-deployment-group", "--cli-input-json", f"file://{tmp_path / 'group.json'}")
    rev = cli(server, "push", "--application-name", "web", "--source",
              str(make_source(tmp_path))).stdout.strip()
    return server, agent, rev


def test_wait_prints_progress_lines_and_exits_by_outcome(procs, cutover, tmp_path):
    server, agent, rev = wait_world(procs, cutover, tmp_path)
    try:
        r = cli(server, "create-deployment", "--application-name", "web",
                "--deployment-group-name", "prod", "--revision", rev, "--wait",
                "--wait-timeout", "60s")
    finally:
        agent.stopped.set()
        agent.join(10)
    lines = r.stdout.splitlines()
    dep = lines[0]
    assert dep.startswith("d-"), r.stdout
    assert lines[-1] == f"{dep} Succeeded", r.stdout
    # one timestamped line per change, not a redraw per poll
    assert any(" blue-1 ValidateService Succeeded" in ln for ln in lines), r.stdout
    assert len([ln for ln in lines if ln.endswith("blue-1 ValidateService Succeeded")]) == 1
    assert "\x1b[" not in r.stdout


def test_wait_on_a_terminal_redraws_and_fails_with_the_code(procs, cutover, tmp_path):
    server, agent, rev = wait_world(procs, cutover, tmp_path, fail_event="ValidateService")
    argv = [cutover, "deploy", "create-deployment", "--application-name", "web",
            "--deployment-group-name", "prod", "--revision", rev, "--wait", "--server",
            server.url, "--token", server.admin_token]
    try:
        # script(1) gives the CLI a pseudo-terminal; -e passes its exit status through
        r = subprocess.run(["script", "-qefc", " ".join(argv), "/dev/null"],
                           capture_output=True, text=True, timeout=90)
    finally:
        agent.stopped.set()
        agent.join(10)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "\x1b[" in r.stdout, "no redraw on a terminal"
    assert "Failed: SCRIPT_FAILED" in r.stdout, r.stdout
    assert "ValidX" in r.stdout, r.stdout  # the board: ValidateService failed


def test_uploads_cut_short_or_too_big_leave_nothing(procs, cutover, tmp_path):
    import socket
    server = Server(procs, cutover, tmp_path, settings={"max_bundle_size": "64K"})
    cli(server, "create-application", "--application-name", "web")
    revisions = server.data / "revisions"
    # a client that goes away mid-body: the temporary file is removed
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /v1/applications/web/revisions?bundleType=tgz HTTP/1.1\r\n"
                  b"Host: t\r\nAuthorization: Bearer " + server.admin_token.encode() +
                  b"\r\nContent-Length: 60000\r\n\r\n" + b"x" * 20000)
        wait_for(lambda: any(p.name.startswith(".upload-") for p in revisions.iterdir()), 10,
                 what="the upload's temporary file")
    wait_for(lambda: not any(revisions.iterdir()), 10, what="the temporary file removed")
    # over max_bundle_size: 413, nothing stored
    big = tmp_path / "big.tgz"
    big.write_bytes(os.urandom(100 * 1024))
    r = cli(server, "push", "--application-name", "web", "--source", str(big), check=False)
    assert r.returncode == 1 and "max_bundle_size" in r.stderr, r.stderr
    wait_for(lambda: not any(revisions.iterdir()), 10, what="nothing left in the store")
    # a bundle within the limit is stored under its digest
    small = tmp_path / "small.tgz"
    small.write_bytes(os.urandom(10 * 1024))
    rev = cli(server, "push", "--application-name", "web", "--source", str(small)).stdout.strip()
    assert rev == "sha256:" + hashlib.sha256(small.read_bytes()).hexdigest()
    assert [p.name for p in revisions.iterdir()] == [rev[7:] + ".tgz"]
