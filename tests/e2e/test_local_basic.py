"""cutover local: a first deployment end to end: layout, pointers, environment, logs, report,
exit codes, --check, --events."""
import json
import os
import re
import subprocess

from localbundle import event, group_dir, pointer, run_local, script, write_bundle

APPSPEC = """version: 0.0
os: linux
files:
  - source: app
    destination: {dest}
  - source: /single.txt
    destination: {dest}/extra/
hooks:
  ApplicationStop:
    - location: scripts/env.sh
  BeforeInstall:
    - location: scripts/env.sh
  AfterInstall:
    - location: /scripts/env.sh
      timeout: 30
  ApplicationStart:
    - location: scripts/env.sh
  ValidateService:
    - location: scripts/env.sh
"""

ENV_SCRIPT = script(
    'echo "$LIFECYCLE_EVENT $DEPLOYMENT_ID $APPLICATION_NAME $DEPLOYMENT_GROUP_NAME '
    '$DEPLOYMENT_GROUP_ID" >> "$OUT"\n'
    'echo "stdout line for $LIFECYCLE_EVENT"\necho "stderr line" >&2\n'
    'read x && echo "stdin was open" >> "$OUT"\nexit 0')


def bundle(tmp_path, dest):
    return write_bundle(tmp_path / "bundle", APPSPEC.format(dest=dest), {
        "app/index.html": "hello\n", "app/sub/deep.txt": "deep\n", "single.txt": "one\n",
        "scripts/env.sh": ENV_SCRIPT})


def test_first_deployment_layout_environment_and_logs(cutover, tmp_path):
    dest, root, out = tmp_path / "dest", tmp_path / "root", tmp_path / "env.out"
    b = bundle(tmp_path, dest)
    p = run_local(cutover, root, "-l", b, env={"OUT": str(out)})
    assert p.returncode == 0, p.stdout + p.stderr
    rep = p.report
    dep_id = rep["deploymentId"]
    assert re.fullmatch(r"d-[A-Z0-9]{9}-local", dep_id)
    assert rep["status"] == "Succeeded"
    # first deployment: ApplicationStop has no previous revision and is skipped
    assert event(rep, "ApplicationStop")["status"] == "Skipped"
    assert [e["event"] for e in rep["events"]] == [
        "BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop", "DownloadBundle",
        "BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService",
        "BeforeAllowTraffic", "AfterAllowTraffic"]
    # files
    assert (dest / "index.html").read_text() == "hello\n"
    assert (dest / "sub" / "deep.txt").read_text() == "deep\n"
    assert (dest / "extra" / "single.txt").read_text() == "one\n"
    # environment, in order, stdin closed
    lines = out.read_text().splitlines()
    assert lines == [f"{ev} {dep_id} {b} LocalFleet default-local-deployment-group"
                     for ev in ["BeforeInstall", "AfterInstall", "ApplicationStart",
                                "ValidateService"]]
    # layout and pointers
    ddir = group_dir(root) / dep_id
    assert (ddir / "deployment-archive" / "appspec.yml").is_file()
    assert pointer(root, "last_successful_install") == str(ddir)
    assert pointer(root, "most_recent_install") == str(ddir)
    cleanup = (root / "deployment-instructions" /
               "default-local-deployment-group-cleanup").read_text().splitlines()
    assert str(dest / "index.html") in cleanup and str(dest / "sub") in cleanup
    assert cleanup.index(str(dest / "sub")) < cleanup.index(str(dest / "sub" / "deep.txt"))
    instr = json.loads((root / "deployment-instructions" /
                        "default-local-deployment-group-install.json").read_text())
    assert {"type": "copy", "source": str(ddir / "deployment-archive" / "single.txt"),
            "destination": str(dest / "extra" / "single.txt")} in instr["instructions"]
    # scripts.log and the deployments log in the reference's formats
    slog = (ddir / "logs" / "scripts.log").read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(stamp + r" LifecycleEvent - BeforeInstall", slog[0])
    assert re.fullmatch(stamp + r" Script - scripts/env.sh", slog[1])
    assert re.fullmatch(stamp + r" \[stdout\]stdout line for BeforeInstall", slog[2])
    assert re.fullmatch(stamp + r" \[stderr\]stderr line", slog[3])
    dlog = (root / "deployment-logs" / "cutover-deployments.log").read_text().splitlines()
    assert re.fullmatch(r"\[" + stamp + r"\.\d{3}\] \[" + dep_id +
                        r"\]LifecycleEvent - BeforeInstall", dlog[0])


def test_table_output_shows_progress_and_log_paths(cutover, tmp_path):
    root = tmp_path / "root"
    b = bundle(tmp_path, tmp_path / "dest")
    p = run_local(cutover, root, "-l", b, json_output=False, env={"OUT": "/dev/null"})
    assert p.returncode == 0, p.stderr
    assert re.search(r"BeforeInstall\s+scripts/env.sh\s+\d+ ms\s+Succeeded", p.stdout)
    assert re.search(r"^Install\s+\d+ ms\s+Succeeded", p.stdout, re.M)
    assert "succeeded" in p.stdout and "scripts.log" in p.stdout


def test_events_flag_adds_download_and_install(cutover, tmp_path):
    root, out = tmp_path / "root", tmp_path / "env.out"
    b = bundle(tmp_path, tmp_path / "dest")
    p = run_local(cutover, root, "-l", b, "-e", "ValidateService,BeforeInstall",
                  env={"OUT": str(out)})
    assert p.returncode == 0, p.stderr
    assert [e["event"] for e in p.report["events"]] == [
        "DownloadBundle", "Install", "ValidateService", "BeforeInstall"]
    assert [ln.split()[0] for ln in out.read_text().splitlines()] == [
        "ValidateService", "BeforeInstall"]
    bad = run_local(cutover, root, "-l", b, "-e", "ValidateServise")
    assert bad.returncode == 2
    assert "did you mean ValidateService?" in bad.stderr


def test_invalid_appspec_exits_2_and_applies_nothing(cutover, tmp_path):
    root, dest = tmp_path / "root", tmp_path / "dest"
    b = write_bundle(tmp_path / "b", "version: 0.0\nos: linux\nfiles:\n  - source: /\n"
                     f"    destination: {dest}\nhooks:\n  BeforeInstal:\n"
                     "    - location: x.sh\n")
    p = run_local(cutover, root, "-l", b)
    assert p.returncode == 2
    assert "appspec.yml:7:3: unknown lifecycle event 'BeforeInstal' (did you mean BeforeInstall?)" \
        in p.stderr
    assert not dest.exists()
    assert list(group_dir(root).iterdir()) == []
    chk = run_local(cutover, root, "-l", b, "--check", json_output=False)
    assert chk.returncode == 2 and "7:3: unknown lifecycle event" in chk.stderr


def test_usage_errors_exit_2(cutover, tmp_path):
    assert run_local(cutover, tmp_path, "-l", tmp_path / "missing").returncode == 2
    assert run_local(cutover, tmp_path, "-l", tmp_path, "-t", "rar").returncode == 2
    assert run_local(cutover, tmp_path, "-l", tmp_path, "-b", "KEEP").returncode == 2
    assert run_local(cutover, tmp_path, "--bogus").returncode == 2
    h = subprocess.run([cutover, "local", "--help"], capture_output=True, text=True, timeout=10)
    assert h.returncode == 0 and "--bundle-location" in h.stdout


def test_check_accepts_a_good_bundle(cutover, tmp_path):
    b = bundle(tmp_path, tmp_path / "dest")
    p = run_local(cutover, tmp_path / "root", "-l", b, "--check", json_output=False)
    assert p.returncode == 0 and p.stdout.strip() == "ok"
    assert not (tmp_path / "root").exists()


def test_a_closed_stdout_does_not_abort_the_deployment(cutover, tmp_path):
    dest, root, out = tmp_path / "dest", tmp_path / "root", tmp_path / "env.out"
    b = bundle(tmp_path, dest)
    env = dict(os.environ, OUT=str(out))
    p = subprocess.Popen([cutover, "local", "--root", str(root), "-l", str(b)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    p.stdout.readline()
    p.stdout.close()  # like `| head -1`
    assert p.wait(timeout=60) == 0
    assert (dest / "index.html").exists()
    assert out.read_text().splitlines()[-1].startswith("ValidateService ")
