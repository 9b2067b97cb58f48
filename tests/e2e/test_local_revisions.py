"""cutover local across revisions of one group: which revision's scripts run, "last successful"
recorded at the end of Install, cleanup replay, file_exists_behavior, all-or-nothing Install,
permissions, pruning."""
import os
import pwd
import stat
import subprocess

import pytest

from localbundle import event, group_dir, pointer, run_local, script, write_bundle


def spec(dest, hooks="", extra="", source="app"):
    return (f"version: 0.0\nos: linux\n{extra}files:\n  - source: {source}\n"
            f"    destination: {dest}\nhooks:\n{hooks}")


STOP_HOOK = "  ApplicationStop:\n    - location: scripts/stop.sh\n"


def test_stop_runs_previous_revision_with_current_environment(cutover, tmp_path):
    root, dest, out = tmp_path / "root", tmp_path / "dest", tmp_path / "stop.out"
    stop = 'echo "{rev} $DEPLOYMENT_ID $LIFECYCLE_EVENT" >> "$OUT"'
    b1 = write_bundle(tmp_path / "b1", spec(dest, STOP_HOOK), {
        "app/v": "1", "scripts/stop.sh": script(stop.format(rev="rev1-script"))})
    b2 = write_bundle(tmp_path / "b2", spec(dest, STOP_HOOK), {
        "app/v": "2", "scripts/stop.sh": script(stop.format(rev="rev2-script"))})
    env = {"OUT": str(out)}
    r1 = run_local(cutover, root, "-l", b1, env=env)
    assert r1.returncode == 0, r1.stderr
    assert not out.exists()  # first deployment: no previous revision, ApplicationStop skipped
    r2 = run_local(cutover, root, "-l", b2, env=env)
    assert r2.returncode == 0, r2.stderr
    d2 = r2.report["deploymentId"]
    assert out.read_text().splitlines() == [f"rev1-script {d2} ApplicationStop"]
    assert event(r2.report, "ApplicationStop")["revision"] == "last-successful"
    assert (dest / "v").read_text() == "2"


def test_failure_after_install_still_becomes_last_successful(cutover, tmp_path):
    root, dest = tmp_path / "root", tmp_path / "dest"
    hooks = STOP_HOOK + "  AfterInstall:\n    - location: scripts/after.sh\n"
    good = write_bundle(tmp_path / "good", spec(dest, hooks), {
        "app/v": "1", "scripts/stop.sh": script("exit 0"), "scripts/after.sh": script("exit 0")})
    bad = write_bundle(tmp_path / "bad", spec(dest, hooks), {
        "app/v": "2", "scripts/stop.sh": script("echo broken stop; exit 9"),
        "scripts/after.sh": script("echo about to fail; echo oops >&2; exit 3")})
    assert run_local(cutover, root, "-l", good).returncode == 0
    r = run_local(cutover, root, "-l", bad)
    assert r.returncode == 1
    err = r.report["error"]
    assert err["event"] == "AfterInstall" and err["script"] == "scripts/after.sh"
    assert err["code"] == 4
    assert err["message"] == ("Script at specified location: scripts/after.sh failed with exit "
                              "code 3")
    assert "[stdout]about to fail" in err["logTail"] and "[stderr]oops" in err["logTail"]
    bad_dir = group_dir(root) / r.report["deploymentId"]
    # as the reference: "last successful" is recorded at the end of Install
    assert pointer(root, "last_successful_install") == str(bad_dir)
    assert event(r.report, "ApplicationStart")["status"] == "NotRun"
    # so the next deployment runs the broken stop script and fails ...
    r3 = run_local(cutover, root, "-l", good)
    assert r3.returncode == 1
    assert r3.report["error"]["event"] == "ApplicationStop"
    assert r3.report["error"]["message"].endswith("failed with exit code 9")
    # ... unless told to ignore it
    r4 = run_local(cutover, root, "-l", good, "--ignore-application-stop-failures")
    assert r4.returncode == 0, r4.stdout
    assert event(r4.report, "ApplicationStop")["status"] == "FailedIgnored"
    # table output names event, script, code, message and the last log lines
    t = run_local(cutover, root, "-l", bad, json_output=False)
    assert t.returncode == 1
    assert "event:   AfterInstall" in t.stdout and "script:  scripts/after.sh" in t.stdout
    assert "code:    4" in t.stdout and "failed with exit code 3" in t.stdout
    assert "[stdout]about to fail" in t.stdout


def test_cleanup_replay_removes_files_the_previous_revision_created(cutover, tmp_path):
    root, dest = tmp_path / "root", tmp_path / "dest"
    dest.mkdir()
    (dest / "mine.txt").write_text("not from any revision")
    b1 = write_bundle(tmp_path / "b1", spec(dest), {"app/a": "1", "app/old/x": "x",
                                                    "app/keep": "1"})
    b2 = write_bundle(tmp_path / "b2", spec(dest), {"app/a": "2", "app/new/y": "y"})
    assert run_local(cutover, root, "-l", b1).returncode == 0
    r = run_local(cutover, root, "-l", b2)  # DISALLOW: old files must not trip it
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(os.listdir(dest)) == ["a", "mine.txt", "new"]
    assert (dest / "a").read_text() == "2"
    assert (dest / "mine.txt").read_text() == "not from any revision"
    assert r.report["install"]["cleaned"] >= 3  # old/x, old, keep


def test_file_exists_behaviors(cutover, tmp_path):
    root, dest = tmp_path / "root", tmp_path / "dest"
    dest.mkdir()
    (dest / "a").write_text("user's")
    b = write_bundle(tmp_path / "b", spec(dest), {"app/a": "bundle's", "app/b": "b"})
    r = run_local(cutover, root, "-l", b)  # default DISALLOW
    assert r.returncode == 1
    assert r.report["error"]["event"] == "Install"
    assert r.report["error"]["message"] == (
        "The deployment failed because a specified file already exists at this location: "
        f"{dest / 'a'}")
    assert (dest / "a").read_text() == "user's" and not (dest / "b").exists()
    r = run_local(cutover, root / "r2", "-l", b, "-b", "RETAIN")
    assert r.returncode == 0 and (dest / "a").read_text() == "user's"
    assert (dest / "b").read_text() == "b"
    assert r.report["install"]["filesRetained"] == 1
    (dest / "b").unlink()
    r = run_local(cutover, root / "r3", "-l", b, "-b", "OVERWRITE")
    assert r.returncode == 0 and (dest / "a").read_text() == "bundle's"
    # the appspec's value overrides the command line
    (dest / "a").write_text("user's again")
    (dest / "b").unlink()
    b2 = write_bundle(tmp_path / "b2", spec(dest, extra="file_exists_behavior: RETAIN\n"),
                      {"app/a": "bundle's", "app/b": "b"})
    r = run_local(cutover, root / "r4", "-l", b2, "-b", "OVERWRITE")
    assert r.returncode == 0 and (dest / "a").read_text() == "user's again"


def test_failed_install_leaves_previous_revision_untouched(cutover, tmp_path):
    root, dest = tmp_path / "root", tmp_path / "dest"
    b1 = write_bundle(tmp_path / "b1", spec(dest), {"app/a": "1", "app/sub/b": "1"})
    assert run_local(cutover, root, "-l", b1).returncode == 0
    before = {p: (dest / p).read_text() for p in ["a", "sub/b"]}
    cleanup = (root / "deployment-instructions" / "default-local-deployment-group-cleanup")
    cleanup_before = cleanup.read_text()
    # rev 2 stages its first files, then cannot create a directory under /proc
    appspec = (f"version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: {dest}\n"
               "  - source: more\n    destination: /proc/cutover-cannot-exist\n")
    b2 = write_bundle(tmp_path / "b2", appspec, {"app/a": "2", "app/c": "new", "more/z": "z"})
    r = run_local(cutover, root, "-l", b2)
    assert r.returncode == 1 and r.report["error"]["event"] == "Install"
    assert "/proc/cutover-cannot-exist" in r.report["error"]["message"]
    assert {p: (dest / p).read_text() for p in ["a", "sub/b"]} == before
    assert sorted(os.listdir(dest)) == ["a", "sub"]  # no staged leftovers, no new file
    assert cleanup.read_text() == cleanup_before
    # an unknown owner is caught before anything moves as well
    perm = (f"version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: {dest}\n"
            f"permissions:\n  - object: {dest}\n    owner: no-such-user-cutover\n")
    b3 = write_bundle(tmp_path / "b3", perm, {"app/a": "3"})
    r = run_local(cutover, root, "-l", b3)
    assert r.returncode == 1 and "unknown owner 'no-such-user-cutover'" in \
        r.report["error"]["message"]
    assert (dest / "a").read_text() == "1"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_permissions_mode_owner_acl(cutover, tmp_path):
    root, dest = tmp_path / "root", tmp_path / "dest"
    dest.mkdir()
    os.chmod(dest, 0o751)
    appspec = (f"version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: {dest}\n"
               f"permissions:\n  - object: {dest}\n    pattern: \"**\"\n    except: [skip.txt]\n"
               "    mode: 0640\n    owner: nobody\n    type: [file]\n"
               "    acls: [\"u:nobody:rw\"]\n"
               f"  - object: {dest}\n    mode: 0711\n    type: [directory]\n"
               "    acls: [\"d:u:nobody:rx\"]\n")
    b = write_bundle(tmp_path / "b", appspec, {"app/f.txt": "f", "app/sub/g.txt": "g",
                                               "app/skip.txt": "s"})
    r = run_local(cutover, root, "-l", b)
    assert r.returncode == 0, r.stdout + r.stderr
    nobody = pwd.getpwnam("nobody").pw_uid
    for f in ["f.txt", "sub/g.txt"]:
        st = (dest / f).stat()
        assert stat.S_IMODE(st.st_mode) & 0o707 == 0o600  # group bits carry the ACL mask
        assert st.st_uid == nobody
        acl = subprocess.run(["getfacl", "-cp", str(dest / f)], capture_output=True,
                             text=True, timeout=10).stdout
        assert "user:nobody:rw-" in acl
    assert (dest / "skip.txt").stat().st_uid == 0
    assert stat.S_IMODE((dest / "sub").stat().st_mode) & 0o707 == 0o701
    dacl = subprocess.run(["getfacl", "-cp", str(dest / "sub")], capture_output=True, text=True,
                          timeout=10).stdout
    assert "default:user:nobody:r-x" in dacl
    assert stat.S_IMODE(dest.stat().st_mode) == 0o751  # never the object itself


def test_pruning_keeps_max_revisions_and_last_successful(cutover, tmp_path):
    root, dest = tmp_path / "root", tmp_path / "dest"
    b = write_bundle(tmp_path / "b", spec(dest), {"app/a": "1"})
    ids = []
    for _ in range(4):
        r = run_local(cutover, root, "-l", b, "--max-revisions", "2")
        assert r.returncode == 0, r.stderr
        ids.append(r.report["deploymentId"])
    assert sorted(os.listdir(group_dir(root))) == sorted(ids[-2:])
    # a failing revision never pushes out the last successful one
    bad = write_bundle(tmp_path / "bad", spec(dest, extra="file_exists_behavior: RETAIN\n",
                                              hooks="  BeforeInstall:\n"
                                                    "    - location: scripts/f.sh\n"),
                       {"app/a": "x", "scripts/f.sh": script("exit 1")})
    for _ in range(3):
        assert run_local(cutover, root, "-l", bad, "--max-revisions", "2").returncode == 1
    names = os.listdir(group_dir(root))
    assert len(names) == 2 and ids[-1] in names


def test_destination_through_a_symlinked_directory(cutover, tmp_path):
    root, real = tmp_path / "root", tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    b = write_bundle(tmp_path / "b", spec(tmp_path / "alias" / "www"), {"app/a": "1"})
    r = run_local(cutover, root, "-l", b)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (real / "www" / "a").read_text() == "1"
    assert (tmp_path / "alias").is_symlink()
    # the link is not the revision's: a later revision's cleanup never removes it
    assert run_local(cutover, root, "-l", b).returncode == 0
    assert (tmp_path / "alias").is_symlink() and (real / "www" / "a").exists()


def test_two_sources_for_one_target_and_missing_source_fail_install(cutover, tmp_path):
    root, dest = tmp_path / "root", tmp_path / "dest"
    two = (f"version: 0.0\nos: linux\nfiles:\n  - source: a/x.txt\n    destination: {dest}\n"
           f"  - source: b/x.txt\n    destination: {dest}\n")
    b = write_bundle(tmp_path / "b", two, {"a/x.txt": "a", "b/x.txt": "b"})
    r = run_local(cutover, root, "-l", b)
    assert r.returncode == 1 and r.report["error"]["event"] == "Install"
    assert f"two sources install to {dest}/x.txt" in r.report["error"]["message"]
    assert not dest.exists()
    missing = f"version: 0.0\nos: linux\nfiles:\n  - source: nope\n    destination: {dest}\n"
    r = run_local(cutover, root, "-l", write_bundle(tmp_path / "m", missing))
    assert r.returncode == 1
    assert r.report["error"]["message"].endswith(":4: source 'nope' does not exist in the bundle")
