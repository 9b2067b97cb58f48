"""Helpers for the `cutover local` e2e tests: bundles written file by file, runs with bounded
timeouts, JSON reports."""
import json
import os
import stat
import subprocess
from pathlib import Path


def write_bundle(path, appspec, files=None, executable=True):
    """Writes appspec.yml plus {relative path: text} into directory <path>; scripts (*.sh) are
    made executable unless told otherwise."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "appspec.yml").write_text(appspec)
    for rel, content in (files or {}).items():
        p = path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        if executable and rel.endswith(".sh"):
            p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def run_local(cutover, root, *args, timeout=120, json_output=True, env=None):
    argv = [cutover, "local", "--root", str(root)]
    if json_output:
        argv += ["--output", "json"]
    argv += [str(a) for a in args]
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env)
    p.report = None
    if json_output and p.stdout.strip().startswith("{"):
        p.report = json.loads(p.stdout)
    return p


def event(report, name):
    for ev in report["events"]:
        if ev["event"] == name:
            return ev
    raise AssertionError(f"no event {name} in report")


def group_dir(root, group="default-local-deployment-group"):
    return Path(root) / group


def pointer(root, which, group="default-local-deployment-group"):
    return (Path(root) / "deployment-instructions" / f"{group}_{which}").read_text()


def script(body):
    return "#!/bin/sh\n" + body + "\n"
