"""examples/webapp end to end: the Node app on its own, under the supervisor's socket, and its
bundle deployed with `cutover local` onto a temporary host (real supervisor, real nginx with its
own prefix on loopback high ports).

1. The app alone (PORT): /health, /version, /health/deep with a file and an upstream URL
   dependency (the upstream stopped → 503 naming it), and the drain contract: after SIGTERM a
   new connect is refused, a request on an open keep-alive connection is answered with
   `Connection: close`, and the process exits 0 once no connection is left.
2. The app on the supervisor's socket (listen: mode, LISTEN_FDS / fd 3): 2 workers share it.
3. The bundle: v1 deployed (supervisor started by ApplicationStart, nginx server block
   installed by AfterInstall); /version through nginx and on each of the 4 worker ports.
   v2 (same files, VERSION changed) under a bounded keep-alive wrk load through nginx: the
   reload goes through `cutover apps reload`, zero failed requests, both versions answered,
   every worker on v2 after. v3 (its /health/deep dependency missing): ValidateService fails,
   `cutover local` exits 1 naming it, and v2 serves everywhere, again with zero failed requests.
   The same without nginx (the hooks' NGINX="" path): only the nginx parts are left out, and
   the load with them (zero loss needs nginx in front of ports: mode workers; a worker port
   refuses connects while its worker is replaced). `make deps` installs nginx.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import free_port, port_open, wait_for
from proxyutil import Backend, Wrk
from supervise_util import Supervisor
from webapp_util import WEBAPP, Host, http_get

SERVER_JS = os.path.join(WEBAPP, "app", "server.js")
HAVE_NGINX = shutil.which("nginx") is not None


def start_app(procs, tmp_path, env):
    port = free_port()
    p = procs.start(["node", SERVER_JS], name="webapp", env=dict(env, PORT=str(port)))
    wait_for(lambda: port_open(port) or p.poll() is not None, 10, what="webapp listening")
    assert p.poll() is None, procs.output(p)
    return p, port


def test_app_health_deep_version_and_drain(procs, tmp_path):
    upstream = Backend(procs, "upstream")
    p, port = start_app(procs, tmp_path, {"UPSTREAM_URL": f"http://127.0.0.1:{upstream.port}/health",
                                          "DEEP_CHECK_TIMEOUT_MS": "1000"})
    assert http_get(port, "/health") == (200, "ok\n")
    st, body = http_get(port, "/version")
    assert st == 200 and json.loads(body)["version"] == "1.0.0", body
    st, body = http_get(port, "/health/deep")
    doc = json.loads(body)
    assert st == 200 and doc["status"] == "ok", body
    assert doc["checks"]["catalog"]["ok"] and doc["checks"]["upstream"]["ok"], body
    assert http_get(port, "/nope")[0] == 404

    # The dependency goes away: deep health fails and names it; liveness stays up.
    upstream.control(health="fail")
    st, body = http_get(port, "/health/deep")
    doc = json.loads(body)
    assert st == 503 and not doc["checks"]["upstream"]["ok"] and doc["checks"]["catalog"]["ok"], body
    assert http_get(port, "/health")[0] == 200

    # Drain contract.
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/version")
    r = conn.getresponse()
    r.read()
    assert r.getheader("Connection", "").lower() != "close"
    os.kill(p.pid, signal.SIGTERM)
    wait_for(lambda: not port_open(port), 5, what="listening socket closed after SIGTERM")
    conn.request("GET", "/version")   # the open keep-alive connection is still served...
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("Connection", "").lower() == "close", r.getheaders()
    r.read()
    conn.close()                       # ...and once it is closed, the app exits 0
    assert p.wait(timeout=5) == 0, procs.output(p)
    assert "drained, exiting" in procs.output(p)


def test_app_serves_the_supervisor_socket(cutover, procs, tmp_path):
    sv = Supervisor(cutover, procs, tmp_path)
    port = free_port()
    sv.write_conf(instances=2, listen=f"127.0.0.1:{port}", ready="{tcp: true}")
    # Swap the test app for the webapp (same supervisor settings otherwise).
    text = open(sv.conf).read()
    start = text.index("    command:")
    end = text.index("\n", start)
    text = text[:start] + f'    command: ["node", "{SERVER_JS}"]' + text[end:]
    with open(sv.conf, "w") as f:
        f.write(text)
    try:
        sv.start()
        pids = set(sv.ready_pids())
        seen = set()
        deadline = time.monotonic() + 10
        while seen != pids and time.monotonic() < deadline:   # bounded: 10 s
            st, body = http_get(port, "/version")
            assert st == 200, body
            seen.add(json.loads(body)["pid"])
        assert seen == pids, f"workers answering {seen}, supervised {pids}"
        logs = sv.apps("logs", "web", "--lines", "5", "--output", "table").stdout
        assert "listening on fd 3" in logs, logs
        assert sv.stop() == 0
    finally:
        sv.cleanup()


def break_dependency(bundle):
    os.unlink(os.path.join(bundle, "app", "data", "catalog.json"))


@pytest.fixture(params=["nginx", "no-nginx"])
def host(request, cutover, procs, tmp_path):
    """The host with nginx in front (when nginx is installed), and without nginx (the hooks'
    NGINX="" path: only the nginx steps are left out)."""
    if request.param == "nginx" and not HAVE_NGINX:
        pytest.skip("nginx is not installed (make deps): only the nginx part is skipped")
    h = Host(cutover, procs, tmp_path, with_nginx=request.param == "nginx")
    yield h
    h.cleanup()


def deploy_under_load(host, bundle):
    """Deploys <bundle> while wrk keeps 32 keep-alive connections busy through nginx (bounded:
    120 s or 2M requests, stopped right after the deployment). Returns (result, doc, load)."""
    if not host.front:
        return host.deploy(bundle) + (None,)
    load = Wrk(f"http://127.0.0.1:{host.front}/", connections=32, threads=2, duration=120,
               budget=2_000_000)
    try:
        time.sleep(0.5)   # warm-up only: the assertions below do not depend on it
        r, doc = host.deploy(bundle)
        assert load.running(), "the load ended before the deployment did: not under load"
        load.proc.send_signal(signal.SIGINT)   # wrk prints its summary on SIGINT
        res = load.result()
    finally:
        load.kill()
    return r, doc, res


def test_bundle_v1_v2_under_load_broken_v3_rolls_back(host, tmp_path):
    v1 = host.render("bundle-v1", "1.0.0")
    v2 = host.render("bundle-v2", "2.0.0")
    v3 = host.render("bundle-v3", "3.0.0", mutate=break_dependency)

    r, doc = host.deploy(v1)
    assert r.returncode == 0 and doc["status"] == "Succeeded", r.stdout + r.stderr
    skipped = {e["event"] for e in doc["events"] if e["status"] == "Skipped"}
    assert "ApplicationStop" in skipped, doc["events"]   # first deployment: nothing installed
    assert host.versions_direct() == ["1.0.0"] * 4
    site = os.path.join(host.ngx_prefix, "conf.d", "webapp.conf")
    if host.front:
        assert host.version_nginx() == "1.0.0"
        assert f"127.0.0.1:{host.base} max_fails=0" in open(site).read()
    else:
        assert not os.path.exists(site), "an nginx block was installed with NGINX empty"
    status = json.loads(host.apps("status", "webapp", "--output", "json").stdout)
    assert [w["state"] for w in status] == ["ready"] * 4, status
    v1_pids = sorted(w["pid"] for w in status)

    # v2: same files, VERSION changed; the reload goes through `cutover apps reload`.
    r, doc, res = deploy_under_load(host, v2)
    assert r.returncode == 0 and doc["status"] == "Succeeded", r.stdout + r.stderr
    stop = next(e for e in doc["events"] if e["event"] == "ApplicationStop")
    assert stop["status"] == "Succeeded" and stop["revision"] == "last-successful", stop
    log = open(doc["scriptsLog"]).read()
    assert "reloading webapp" in log and "nginx: " in log or not host.front, log
    if host.front:
        assert "unchanged, no reload" in log, log    # same server block: nginx not reloaded
    assert host.versions_direct() == ["2.0.0"] * 4
    status = json.loads(host.apps("status", "webapp", "--output", "json").stdout)
    assert not set(v1_pids) & {w["pid"] for w in status}, "a v1 worker survived the reload"
    if res is not None:
        print(f"v1→v2 under load: {res}")
        res.assert_clean(min_requests=1000)
        assert res.bodies.get("hello_from_webapp_1.0.0", 0) > 0, res.bodies
        assert res.bodies.get("hello_from_webapp_2.0.0", 0) > 0, res.bodies
        assert host.version_nginx() == "2.0.0"

    # v3: boots, but its dependency is missing: ValidateService fails and rolls back to v2.
    r, doc, res = deploy_under_load(host, v3)
    assert r.returncode == 1 and doc["status"] == "Failed", r.stdout + r.stderr
    assert doc["error"]["event"] == "ValidateService", doc["error"]
    assert "health/deep failed" in doc["error"]["logTail"], doc["error"]
    assert host.versions_direct() == ["2.0.0"] * 4
    assert host.current_version() == "2.0.0"
    if res is not None:
        print(f"v3 (rolled back) under load: {res}")
        res.assert_clean(min_requests=1000)
        assert res.bodies.get("hello_from_webapp_2.0.0", 0) > 0, res.bodies
        assert host.version_nginx() == "2.0.0"
