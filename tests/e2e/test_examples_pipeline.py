"""examples/pipeline.sh, the stages that need no cutover server: build → test → package produce a
bundle that `cutover local --check` accepts, the app passed its smoke test, and the values the
later stages need are handed on in pipeline.env; the production gate refuses to run unattended
without --yes (before any server is contacted). The deploy → switch → validate stages need
`cutover server` and are not exercised here.
"""
import hashlib
import os
import subprocess

from conftest import REPO, free_port

PIPELINE = os.path.join(REPO, "examples", "pipeline.sh")


def run(cutover, work, *args, extra_env=None):
    env = dict(os.environ, CUTOVER=cutover, WORK=str(work), TEST_PORT=str(free_port()),
               VERSION="9.9.9-test")
    env.update(extra_env or {})
    return subprocess.run([PIPELINE, *args], capture_output=True, text=True, timeout=120,
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
