"""cutover local hooks as processes: timeout with SIGTERM then SIGKILL of the whole group,
background children holding stdout, missing and non-executable scripts, runas, interruption,
and the per-group lock."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import wait_for
from localbundle import event, run_local, script, write_bundle


def hook_spec(body, event_name="BeforeInstall"):
    return f"version: 0.0\nos: linux\nhooks:\n  {event_name}:\n{body}"


def gone(pid):
    """True when <pid> no longer exists or is a zombie waiting for a reaper."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_timeout_kills_the_whole_group_including_a_grandchild_ignoring_sigterm(cutover,
                                                                               tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    body = (f"sh -c 'trap \"\" TERM; echo $$ > {pidfile}; while :; do sleep 0.1; done' &\n"
            "echo started\nsleep 300\n")
    b = write_bundle(tmp_path / "b", hook_spec("    - location: slow.sh\n      timeout: 1\n"),
                     {"slow.sh": script(body)})
    t0 = time.monotonic()
    r = run_local(cutover, tmp_path / "root", "-l", b, timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 1
    err = r.report["error"]
    assert err["code"] == 3
    assert err["message"] == "Script at specified location: slow.sh failed to complete in 1 seconds"
    assert "[stdout]started" in err["logTail"]
    assert 5.5 < took < 20, took  # SIGTERM at 1 s, SIGKILL 5 s later
    pid = int(pidfile.read_text())
    wait_for(lambda: gone(pid), timeout=5, what="grandchild gone")


def test_background_child_holding_stdout_does_not_hang(cutover, tmp_path):
    pidfile = tmp_path / "bg.pid"
    body = f"sleep 120 &\necho $! > {pidfile}\necho launched\nexit 0\n"
    b = write_bundle(tmp_path / "b", hook_spec("    - location: bg.sh\n      timeout: 60\n"),
                     {"bg.sh": script(body)})
    try:
        t0 = time.monotonic()
        r = run_local(cutover, tmp_path / "root", "-l", b, timeout=60)
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stdout + r.stderr
        assert took < 10, took  # the reference waits for the 60 s timeout and fails (code 6)
        pid = int(pidfile.read_text())
        assert f"{pid} sleep" in r.stderr  # the warning names the process
        log = (tmp_path / "root" / "default-local-deployment-group" /
               r.report["deploymentId"] / "logs" / "scripts.log").read_text()
        assert "[stdout]launched" in log and "still holding its output" in log
    finally:
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_missing_script_is_code_1(cutover, tmp_path):
    b = write_bundle(tmp_path / "b", hook_spec("    - location: scripts/nope.sh\n"))
    r = run_local(cutover, tmp_path / "root", "-l", b)
    assert r.returncode == 1
    ddir = tmp_path / "root" / "default-local-deployment-group" / r.report["deploymentId"]
    assert r.report["error"]["code"] == 1
    assert r.report["error"]["message"] == (
        "Script does not exist at specified location: "
        f"{ddir}/deployment-archive/scripts/nope.sh")


def test_not_executable_script_is_made_executable(cutover, tmp_path):
    b = write_bundle(tmp_path / "b", hook_spec("    - location: plain.sh\n"),
                     {"plain.sh": script("echo ran")}, executable=False)
    r = run_local(cutover, tmp_path / "root", "-l", b)
    assert r.returncode == 0, r.stderr
    assert "not executable" in r.stderr


def test_script_killed_by_signal_names_it(cutover, tmp_path):
    b = write_bundle(tmp_path / "b", hook_spec("    - location: die.sh\n"),
                     {"die.sh": script("kill -SEGV $$")})
    r = run_local(cutover, tmp_path / "root", "-l", b)
    assert r.returncode == 1
    assert r.report["error"]["message"] == (
        "Script at specified location: die.sh failed with exit code (signal 11, SIGSEGV)")


def test_runas_drops_privileges(cutover):
    if os.geteuid() != 0:
        pytest.skip("runas needs root")
    # world-traversable: the unprivileged user must reach the script and the output dir
    base = tempfile.mkdtemp(prefix="cutover-runas-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        out = os.path.join(base, "out")
        os.mkdir(out)
        os.chmod(out, 0o777)
        body = (f'id -u > {out}/uid; id -G > {out}/groups; echo "$HOME $USER" > {out}/env\n'
                f"touch /root/cutover-runas-probe 2>/dev/null && echo yes > {out}/root-write\n"
                "exit 0")
        b = write_bundle(os.path.join(base, "b dir"),  # a path with a space works
                         hook_spec("    - location: who.sh\n      runas: nobody\n"),
                         {"who.sh": script(body)})
        r = run_local(cutover, os.path.join(base, "root"), "-l", b)
        assert r.returncode == 0, r.stdout + r.stderr
        import pwd
        pw = pwd.getpwnam("nobody")
        assert open(f"{out}/uid").read().strip() == str(pw.pw_uid)
        assert "0" not in open(f"{out}/groups").read().split()  # root's groups are gone
        assert open(f"{out}/env").read().split() == [pw.pw_dir, "nobody"]
        assert not os.path.exists(f"{out}/root-write")
        fail = write_bundle(os.path.join(base, "b2"),
                            hook_spec("    - location: f.sh\n      runas: nobody\n"),
                            {"f.sh": script("exit 5")})
        r = run_local(cutover, os.path.join(base, "root2"), "-l", fail)
        assert r.report["error"]["message"] == (
            "Script at specified location: f.sh run as user nobody failed with exit code 5")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def deploy_in_background(cutover, root, bundle, procs, name):
    return procs.start([cutover, "local", "--root", str(root), "-l", str(bundle),
                        "--output", "json"], name=name)


def test_second_deployment_to_the_group_is_refused_and_lock_dies_with_holder(cutover, tmp_path,
                                                                             procs):
    root, gate, inside = tmp_path / "root", tmp_path / "gate", tmp_path / "inside"
    body = (f"touch {inside}\ni=0\nwhile [ ! -e {gate} ] && [ $i -lt 600 ]; do "
            "sleep 0.05; i=$((i+1)); done\nexit 0")
    b = write_bundle(tmp_path / "b", hook_spec("    - location: wait.sh\n"),
                     {"wait.sh": script(body)})
    quick = write_bundle(tmp_path / "q", hook_spec("    - location: q.sh\n"),
                         {"q.sh": script("exit 0")})
    first = deploy_in_background(cutover, root, b, procs, "first")
    wait_for(inside.exists, timeout=20, what="first deployment inside its hook")
    second = run_local(cutover, root, "-l", quick)
    assert second.returncode == 1
    assert "deployment group default-local-deployment-group is busy" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    # another group is independent
    other = run_local(cutover, root, "-l", quick, "-g", "other-group")
    assert other.returncode == 0, other.stderr
    gate.touch()
    assert first.wait(timeout=30) == 0
    # a holder killed outright releases the lock
    inside.unlink()
    gate.unlink()
    victim = deploy_in_background(cutover, root, b, procs, "victim")
    wait_for(inside.exists, timeout=20, what="victim inside its hook")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    after = run_local(cutover, root, "-l", quick)
    assert after.returncode == 0, after.stderr


def test_sigterm_interrupts_the_hook_with_code_7(cutover, tmp_path, procs):
    inside = tmp_path / "inside"
    b = write_bundle(tmp_path / "b", hook_spec("    - location: long.sh\n"),
                     {"long.sh": script(f"touch {inside}\nsleep 300")})
    p = deploy_in_background(cutover, tmp_path / "root", b, procs, "interrupted")
    wait_for(inside.exists, timeout=20, what="hook running")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=20) == 1
    import json
    line = next(ln for ln in procs.output(p).splitlines() if ln.startswith("{"))
    rep = json.loads(line)
    assert rep["error"]["code"] == 7
    assert event(rep, "BeforeInstall")["status"] == "Failed"


def test_failure_report_survives_binary_output_and_huge_lines(cutover, tmp_path):
    body = ("printf '\\377bad\\n'\n"
            "head -c 100000 /dev/zero | tr '\\0' x; echo\n"
            "echo last; exit 2")
    b = write_bundle(tmp_path / "b", hook_spec("    - location: noisy.sh\n"),
                     {"noisy.sh": script(body)})
    r = run_local(cutover, tmp_path / "root", "-l", b)
    assert r.returncode == 1
    tail = r.report["error"]["logTail"].splitlines()
    assert tail[0] == "[stdout]\ufffdbad"
    assert tail[1].endswith("... (83616 more bytes in scripts.log)")
    assert tail[2] == "[stdout]last"
    log = (tmp_path / "root" / "default-local-deployment-group" / r.report["deploymentId"] /
           "logs" / "scripts.log").read_bytes()
    assert b"[stdout]" + b"x" * 100000 + b"\n" in log  # never cut in the log
