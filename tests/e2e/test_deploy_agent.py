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
