"""examples/pipeline.sh, the stages that need no cutover server: build → test → package produce a
bundle that `cutover local --check` accepts, the app passed its smoke test, and the values the
later stages need are handed on in pipeline.env; the production gate refuses to run unattended
without --yes (before any server is contacted). The deploy → switch → validate stages run
against a real `cutover server` and a real `cutover agent` on a temporary host (the webapp
bundle rendered for it, as webapp_util does): a good release passes all six stages, a release
that fails on the host stops the pipeline at switch and the server rolls the host back.
"""
import hashlib
import json
import os
import subprocess

from conftest import REPO, free_port
from deployutil import Server, wait_agents_online
from webapp_util import Host

PIPELINE = os.path.join(REPO, "examples", "pipeline.sh")


def run(cutover, work, *args, extra_env=None, timeout=120):
    env = dict(os.environ, CUTOVER=cutover, WORK=str(work), TEST_PORT=str(free_port()),
               VERSION="9.9.9-test")
    env.update(extra_env or {})
    return subprocess.run([PIPELINE, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)


def test_build_test_package(cutover, tmp_path):
    work = tmp_path / "work"
    r = run(cutover, work, "build", "test", "package")
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(line.split("=", 1) for line in (work / "pipeline.env").read_text().splitlines())
    assert env["VERSION"] == "9.9.9-test"
    pkg = env["PACKAGE"]
    assert os.path.basename(pkg) == "webapp-9.9.9-test.tgz"
    digest = hashlib.sha256(open(pkg, "rb").read()).hexdigest()
    assert open(pkg + ".sha256").read().split()[0] == digest
    c = subprocess.run([cutover, "local", "--check", "-l", pkg, "--sha256", digest],
                       capture_output=True, text=True, timeout=60)
    assert c.returncode == 0 and c.stdout.strip() == "ok", c.stdout + c.stderr
    assert (work / "bundle" / "app" / "VERSION").read_text() == "9.9.9-test\n"
    assert "/version 9.9.9-test" in r.stdout


def test_failing_smoke_test_stops_the_pipeline(cutover, tmp_path):
    work = tmp_path / "work"
    assert run(cutover, work, "build").returncode == 0
    os.unlink(work / "bundle" / "app" / "data" / "catalog.json")   # /health/deep now fails
    r = run(cutover, work, "test", "package")
    assert r.returncode == 1 and "/health/deep failed" in r.stderr, r.stdout + r.stderr
    assert not list(work.glob("*.tgz")), "package ran after a failed test stage"


def test_production_gate_needs_yes_when_unattended(cutover, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "pipeline.env").write_text("VERSION=1\nREVISION_ID=sha256:" + "0" * 64 + "\n")
    r = run(cutover, work, "switch", extra_env={"CUTOVER_SERVER": "http://127.0.0.1:9",
                                                "CUTOVER_TOKEN": "t"})
    assert r.returncode == 2 and "--yes" in r.stderr, r.stdout + r.stderr
    r = run(cutover, work, "bogus")
    assert r.returncode == 2 and "unknown argument" in r.stderr


def _prod_host(cutover, procs, tmp_path):
    """A server, one webapp host with its agent, and an in-place group "prod" holding it."""
    host = Host(cutover, procs, tmp_path, with_nginx=False)
    server = Server(procs, cutover, tmp_path)
    procs.start([cutover, "agent", "--server", server.url, "--token", server.enroll_token,
                 "--name", "web-1", "--tags", "fleet=prod", "--target",
                 f"127.0.0.1:{host.ports[0]}", "--root", host.deploy_root, "--poll-wait", "5"],
                name="agent", env=host.env())
    wait_agents_online(server, ["web-1"])
    server.deploy("create-application", "--application-name", "webapp")
    group = tmp_path / "group.json"
    group.write_text(json.dumps({
        "applicationName": "webapp", "deploymentGroupName": "prod",
        "deploymentConfigName": "CodeDeployDefault.AllAtOnce",
        "deploymentStyle": {"deploymentType": "IN_PLACE",
                            "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
        "onPremisesInstanceTagFilters": [{"Key": "fleet", "Value": "prod",
                                          "Type": "KEY_AND_VALUE"}],
        "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}}))
    server.deploy("create-deployment-group", "--cli-input-json", f"file://{group}")
    return host, server


def _pipeline_env(server, host, source, version):
    return {"CUTOVER_SERVER": server.url, "CUTOVER_TOKEN": server.admin_token,
            "SOURCE": source, "STAGING_GROUP": "", "PROD_GROUP": "prod",
            "PROD_URL": f"http://127.0.0.1:{host.ports[0]}", "VERSION": version,
            "WAIT_TIMEOUT": "150s"}


def test_deploy_switch_validate_against_a_server(cutover, procs, tmp_path):
    host, server = _prod_host(cutover, procs, tmp_path)
    try:
        src = host.render("src-v1", "0.0.0")    # the pipeline stamps its own VERSION
        work = tmp_path / "work"
        r = run(cutover, work, "--yes", timeout=240,
                extra_env=_pipeline_env(server, host, src, "1.0.0"))
        assert r.returncode == 0, r.stdout + r.stderr
        env = dict(line.split("=", 1) for line in (work / "pipeline.env").read_text().splitlines())
        assert env["REVISION_ID"].startswith("sha256:") and env["DEPLOYMENT_ID"].startswith("d-")
        info = server.deployment(env["DEPLOYMENT_ID"])
        assert info["status"] == "Succeeded" and "rollbackInfo" not in info, info
        assert info["revision"]["revisionId"] == env["REVISION_ID"]
        assert host.versions_direct() == ["1.0.0"] * 4
        assert f"serves 1.0.0 ({env['DEPLOYMENT_ID']})" in r.stdout

        # A release that passes the pipeline's own smoke test but fails on the host.
        def break_validate(d):
            path = os.path.join(d, "scripts", "validate_service.sh")
            text = open(path).read().split("\n", 1)
            open(path, "w").write(text[0] + "\necho broken on purpose >&2; exit 1\n" + text[1])

        bad = host.render("src-v2", "0.0.0", mutate=break_validate)
        work2 = tmp_path / "work2"
        r = run(cutover, work2, "--yes", timeout=240,
                extra_env=_pipeline_env(server, host, bad, "2.0.0"))
        assert r.returncode == 1, r.stdout + r.stderr
        assert "== switch: FAILED: the production deployment failed (d-" in r.stderr, r.stderr
        assert "== validate" not in r.stdout + r.stderr, "validate ran after a failed switch"
        env2 = dict(line.split("=", 1)
                    for line in (work2 / "pipeline.env").read_text().splitlines())
        failed = server.deployment(env2["DEPLOYMENT_ID"])
        assert failed["status"] == "Failed", failed
        assert failed["errorInformation"]["code"] == "SCRIPT_FAILED", failed
        rollback = failed["rollbackInfo"]["rollbackDeploymentId"]
        assert server.wait_deployment(rollback, timeout=120)["status"] == "Succeeded"
        assert host.versions_direct() == ["1.0.0"] * 4
    finally:
        host.cleanup()
