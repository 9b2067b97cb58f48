"""`cutover demo`: the whole reference architecture on this machine (server, proxy, two hosts on
127.0.0.2 and 127.0.0.3, each with an agent, nginx and 4 webapp workers under the supervisor
that the bundle's hooks start), v1, v2 blue/green with a canary under the built-in load, and a
bad v3 that its alarm rolls back. Real processes throughout; this test only reads what the demo
prints and what is left on the machine afterwards.

1. `cutover demo --output json`: the objects set up by `cutover apply` (its plan in the live
   view); exit 0, a JSON report whose v1→v2 phase served requests with
   no failure, whose v3 ended ALARM_ACTIVE with a rollback deployment that succeeded and traffic
   back on the last good fleet within 5 s of the alarm, in under 3 minutes; then no process of
   the demo is left (none carries its CUTOVER_DEMO_ID, none mentions its directory) and the
   directory is gone.
2. SIGINT while v2 is being deployed under load: the demo stops everything, exits 1 with a
   report naming the interruption, and leaves nothing behind either.
"""
import json
import os
import re
import signal
import subprocess
import threading
import time

from conftest import wait_for

SITE_RE = re.compile(r"site (/tmp/cutover-demo\.\w+):")


def demo_processes(pid, site):
    """Live processes started for demo <pid>, as `ps` lists them with their environment: its
    marker (CUTOVER_DEMO_ID=demo-<pid>-…) in the environment, or its directory on the command
    line. Zombies (state Z) do not count."""
    out = subprocess.run(["ps", "-eww", "-o", "pid=,stat=,args=", "e"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    marker = f"CUTOVER_DEMO_ID=demo-{pid}-"
    found = []
    for line in out.splitlines():
        fields = line.split(None, 2)
        if len(fields) < 3 or int(fields[0]) == os.getpid() or fields[1].startswith("Z"):
            continue
        if marker in fields[2] or (site and site in fields[2]):
            found.append((int(fields[0]), fields[2][:300]))
    return found


class Demo:
    """`cutover demo` as a child in its own session; stderr (the live view) and stdout (the
    report) each read by a thread of their own as they come."""

    def __init__(self, cutover, *args):
        self.proc = subprocess.Popen([cutover, "demo", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.lines = []
        self.out = []
        self.readers = [threading.Thread(target=self._read_err, daemon=True),
                        threading.Thread(target=self._read_out, daemon=True)]
        for t in self.readers:
            t.start()

    def _read_err(self):
        for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def _read_out(self):
        self.out.append(self.proc.stdout.read())

    def text(self):
        return "\n".join(self.lines)

    def site(self):
        m = SITE_RE.search(self.text())
        return m.group(1) if m else None

    def finish(self, timeout):
        """Waits (bounded) for the exit; returns stdout."""
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for t in self.readers:
            t.join(timeout=10)
        return b"".join(self.out).decode(errors="replace")


def assert_nothing_left(pid, site):
    wait_for(lambda: not demo_processes(pid, site), 10, interval=0.2,
             what=f"no process of demo {pid} left: {demo_processes(pid, site)}")
    assert site is None or not os.path.exists(site), f"{site} was not removed"


def test_demo_runs_the_scenario_and_leaves_nothing(cutover):
    t0 = time.monotonic()
    demo = Demo(cutover, "--output", "json", "--connections", "8")
    out = demo.finish(timeout=240)
    elapsed = time.monotonic() - t0
    live = demo.text()
    assert demo.proc.returncode == 0, f"exit {demo.proc.returncode}\n{out}\n{live[-6000:]}"
    report = json.loads(out)
    assert report["ok"] is True and report["failed"] == [], report
    assert report["seconds"] < 180 and elapsed < 200, (report["seconds"], elapsed)

    phases = {p["name"]: p for p in report["phases"]}
    assert list(phases) == ["v1", "v1->v2", "v2", "v3 (bad)", "rolled back"], list(phases)
    switch = phases["v1->v2"]
    assert switch["requests"] > 100 and switch["failures"] == 0, switch
    assert switch["ok"] == switch["requests"] and switch["p99Ms"] > 0, switch
    for name in ("v1", "v2", "rolled back"):
        assert phases[name]["failures"] == 0 and phases[name]["requests"] > 0, phases[name]
    # the bad release answered some 500s before its alarm took its traffic away
    assert phases["v3 (bad)"]["non2xx"] > 0, phases["v3 (bad)"]

    deps = {d["release"]: d for d in report["deployments"]}
    assert deps["v1"]["status"] == "Succeeded" and deps["v2"]["status"] == "Succeeded", deps
    assert deps["v3"]["status"] == "Failed" and deps["rollback"]["status"] == "Succeeded", deps

    rb = report["rollback"]
    assert rb["deploymentId"] == deps["v3"]["deploymentId"], rb
    assert rb["errorInformation"]["code"] == "ALARM_ACTIVE", rb
    assert "target_5xx_ratio" in rb["errorInformation"]["message"], rb
    assert rb["rollbackInfo"]["rollbackDeploymentId"] == deps["rollback"]["deploymentId"], rb
    assert rb["alarm"] == "errors" and rb["rollbackDeploymentStatus"] == "Succeeded", rb
    assert rb["alarmAt"] and rb["trafficBackAt"] and rb["lastBadAnswerAt"], rb
    assert 0 <= rb["secondsToTrafficBack"] <= 5, rb

    # the objects came from one stack.yaml through `cutover apply`, which printed its plan
    assert "apply: + listener web" in live and "apply: + target_group blue" in live, live
    assert "apply: + application webapp" in live, live
    assert "apply: + deployment_group webapp/prod" in live, live
    # the live view: one line per second with the traffic split read from the proxy
    assert re.search(r"v1->v2 +blue +\d+% green +\d+% +\d+ req/s +failures 0 ", live), live
    assert "blue  10% green  90%" in live or "blue  90% green  10%" in live, live
    assert_nothing_left(demo.proc.pid, demo.site())


def test_demo_interrupted_stops_everything(cutover):
    demo = Demo(cutover, "--output", "json")
    try:
        wait_for(lambda: "v1->v2" in demo.text() or demo.proc.poll() is not None, 150,
                 interval=0.2, what="the demo deploying v2 under load")
        assert demo.proc.poll() is None, demo.text()[-4000:]
        site = demo.site()
        assert site and os.path.isdir(site), demo.text()
        os.kill(demo.proc.pid, signal.SIGINT)
        out = demo.finish(timeout=60)
    finally:
        if demo.proc.poll() is None:
            os.killpg(demo.proc.pid, signal.SIGKILL)
    assert demo.proc.returncode == 1, (demo.proc.returncode, out)
    report = json.loads(out)
    assert report["ok"] is False and report["failed"] == ["interrupted"], report
    assert_nothing_left(demo.proc.pid, site)
