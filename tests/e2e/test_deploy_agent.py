"""`cutover agent` on its own edges: flags and --check, exit 75 when the server is unreachable
with --once, and a first registration that waits for a server that starts later."""
import subprocess
import time

from conftest import free_port, wait_for
from deployutil import Agent, Server


def run(argv, timeout=30):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def test_flags_check_and_usage_errors(cutover, tmp_path):
    base = [cutover, "agent", "--server", "http://127.0.0.1:1", "--token", "t",
            "--root", str(tmp_path / "root")]
    r = run(base + ["--name", "blue-1", "--tags", "fleet=blue", "--target", "127.0.0.1:8001",
                    "--check"])
    assert r.returncode == 0 and r.stdout.strip() == "ok", r
    for bad, msg in ((["--tags", "fleet"], "--tags: 'fleet'"),
                     (["--tags", "a=1,a=2"], "given twice"),
                     (["--target", "nowhere"], "--target"),
                     (["--poll-wait", "0"], "--poll-wait"),
                     (["--bogus"], "usage")):
        r = run(base + bad + ["--check"])
        assert r.returncode == 2, (bad, r)
        assert msg in r.stderr, (bad, r.stderr)
    r = run([cutover, "agent", "--server", "ftp://x", "--token", "t", "--check"])
    assert r.returncode == 2 and "--server" in r.stderr, r
    r = run([cutover, "agent", "--server", "http://127.0.0.1:1", "--check"])
    assert r.returncode == 2 and "--token" in r.stderr, r


def test_unreachable_server_with_once_exits_75(cutover, tmp_path):
    port = free_port()
    t0 = time.monotonic()
    r = run([cutover, "agent", "--server", f"http://127.0.0.1:{port}", "--token", "t",
             "--name", "h1", "--root", str(tmp_path / "root"), "--once"])
    assert r.returncode == 75, r
    assert time.monotonic() - t0 < 10
    assert "cannot register" in r.stderr, r.stderr


def test_agent_started_before_the_server_registers_when_it_comes(procs, cutover, tmp_path):
    server = Server(procs, cutover, tmp_path)
    server.kill9()
    agent = Agent(procs, cutover, tmp_path, server, "early", "fleet=blue",
                  f"127.0.0.1:{free_port()}")
    wait_for(lambda: "retrying" in agent.output(), 10, what="the agent retrying")
    assert agent.proc.poll() is None
    server.start()
    wait_for(lambda: "registered as early" in agent.output(), 40, what="registration")
    st, body = server.api("GET", "/v1/instances")
    assert st == 200 and "early" in [i["instanceName"] for i in body["instanceInfos"]], body


def test_appspec_after_other_top_level_entries_is_found(cutover, tmp_path):
    """Regression: `tar czf b.tgz -C DIR .` may list appspec.yml after other top-level names
    (./release.env, ./app/…); the bundle is still unwrapped correctly, not refused."""
    import tarfile
    src = tmp_path / "src"
    (src / "app").mkdir(parents=True)
    (src / "app" / "x.txt").write_text("x\n")
    (src / "release.env").write_text("VERSION=v1\n")
    (src / "appspec.yml").write_text("version: 0.0\nos: linux\n")
    bundle = tmp_path / "b.tgz"
    with tarfile.open(bundle, "w:gz") as t:
        for name in ("release.env", "app", "appspec.yml"):
            t.add(src / name, arcname=f"./{name}")
    r = run([cutover, "local", "-l", str(bundle), "--check"])
    assert r.returncode == 0 and r.stdout.strip() == "ok", r


def test_agent_over_https_verifies_the_server(procs, cutover, tmp_path):
    """TLS on the API: an agent given the server's CA (--cacert) registers, downloads and
    reports over HTTPS; without it the certificate is refused and --once exits 75."""
    import json
    from deployutil import make_bundle, self_signed_cert
    cert, key = self_signed_cert(tmp_path)
    server = Server(procs, cutover, tmp_path, tls=(cert, key))
    wait_for(lambda: server.api("GET", "/v1/applications")[0] == 200, 10, what="https API")
    base = [cutover, "agent", "--server", server.url, "--token", server.enroll_token,
            "--name", "tls-1", "--tags", "fleet=tls", "--root", str(tmp_path / "root"),
            "--poll-wait", "2", "--once"]
    r = run(base)
    assert r.returncode == 75, r
    assert "certificate" in r.stderr.lower() or "ssl" in r.stderr.lower(), r.stderr
    server.deploy("create-application", "--application-name", "web")
    group = {"applicationName": "web", "deploymentGroupName": "tls",
             "deploymentConfigName": "CodeDeployDefault.AllAtOnce",
             "deploymentStyle": {"deploymentType": "IN_PLACE",
                                 "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
             "onPremisesInstanceTagFilters": [{"Key": "fleet", "Value": "tls",
                                               "Type": "KEY_AND_VALUE"}]}
    (tmp_path / "group.json").write_text(json.dumps(group))
    server.deploy("create-deployment-group", "--cli-input-json",
                  f"file://{tmp_path / 'group.json'}")
    bundle = make_bundle(str(tmp_path / "b"), "v1")
    # hooks only: no app to start on this host
    with open(f"{bundle}/appspec.yml", "w") as f:
        f.write("version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n"
                "    - location: scripts/traffic.sh\n")
    rev = server.push("web", bundle)
    r = run(base + ["--cacert", str(cert)])  # registers the instance
    assert r.returncode == 0, r
    dep = server.create_deployment("web", "tls", rev)
    r = run(base + ["--cacert", str(cert)], timeout=60)
    assert r.returncode == 0, r
    info = server.wait_deployment(dep, timeout=30)
    assert info["status"] == "Succeeded", info
    ev = {e["lifecycleEventName"]: e for e in server.instance(dep, "tls-1")["lifecycleEvents"]}
    assert "AfterInstall on tls-1" in ev["AfterInstall"]["diagnostics"]["logTail"], ev
