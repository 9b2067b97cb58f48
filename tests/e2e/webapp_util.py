"""Helpers for the examples/webapp e2e tests: render the bundle for a temporary host (every
absolute path of the example moved under a temp root, every port a free one), run nginx with its
own prefix, deploy with `cutover local`, and clean up every process the deployments started.

The example's files are used as shipped; only their host-specific strings are rewritten, the way
a CI job templates a bundle for an environment.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

from conftest import REPO, free_port, port_open, wait_for
from supervise_util import free_port_block, pids_with_marker

WEBAPP = os.path.join(REPO, "examples", "webapp")
TEXT_FILES = ("appspec.yml", "deploy.env", "config/apps.yaml", "config/nginx/webapp.conf")


def http_get(port, path, timeout=5.0):
    """(status, body text) of GET http://127.0.0.1:PORT/PATH on a fresh connection."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def nginx_base_conf(prefix):
    """The host's nginx.conf: its own prefix, pid and temp paths, and conf.d/*.conf included
    (where the bundle's AfterInstall installs the webapp server block)."""
    return f"""daemon off;
master_process on;
worker_processes 2;
user root root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/conf.d/*.conf;
}}
"""


class Host:
    """One temporary host for the webapp bundle: paths under <root>, workers on 4 free ports,
    nginx (when installed) on a free loopback port."""

    def __init__(self, cutover, procs, tmp_path, with_nginx):
        self.cutover = cutover
        self.procs = procs
        self.tmp = tmp_path
        # Short: the control socket path (+ ".notify") must fit in sun_path.
        self.root = tempfile.mkdtemp(prefix="wa-")
        self.marker = uuid.uuid4().hex
        self.base = free_port_block(4)
        self.ports = [self.base + i for i in range(4)]
        self.front = free_port() if with_nginx else None
        self.ngx_prefix = os.path.join(self.root, "nginx")
        self.nginx = None
        self.deploy_root = os.path.join(self.root, "deployment-root")
        self.home = os.path.join(self.root, "opt", "webapp")
        os.makedirs(os.path.join(self.ngx_prefix, "conf.d"))
        if with_nginx:
            conf = os.path.join(self.ngx_prefix, "nginx.conf")
            with open(conf, "w") as f:
                f.write(nginx_base_conf(self.ngx_prefix))
            self.nginx = procs.start(["nginx", "-p", self.ngx_prefix, "-c", conf], name="nginx")
            wait_for(lambda: os.path.exists(os.path.join(self.ngx_prefix, "nginx.pid"))
                     or self.nginx.poll() is not None, 10, what="nginx pid file")
            assert self.nginx.poll() is None, procs.output(self.nginx)

    def render(self, name, version, mutate=None):
        """A copy of examples/webapp for this host, app/VERSION = <version>; <mutate>(dir) may
        then break it. Returns the bundle directory."""
        dst = os.path.join(self.tmp, name)
        shutil.copytree(WEBAPP, dst)
        for rel in TEXT_FILES:
            path = os.path.join(dst, rel)
            with open(path) as f:
                text = f.read()
            text = self.rewrite(text)
            with open(path, "w") as f:
                f.write(text)
        with open(os.path.join(dst, "app", "VERSION"), "w") as f:
            f.write(version + "\n")
        if mutate:
            mutate(dst)
        return dst

    def rewrite(self, text):
        r = self.root
        for old, new in (("/opt/webapp", f"{r}/opt/webapp"), ("/etc/cutover", f"{r}/etc/cutover"),
                         ("/run/cutover", f"{r}/run"), ("/var/log/cutover", f"{r}/log"),
                         ("/etc/nginx/conf.d", f"{self.ngx_prefix}/conf.d")):
            text = text.replace(old, new)
        text = re.sub(r"\b300([1-4])\b", lambda m: str(self.base + int(m.group(1)) - 1), text)
        if self.front:
            text = text.replace("listen 80;", f"listen 127.0.0.1:{self.front};")
            text = text.replace("http://127.0.0.1:80", f"http://127.0.0.1:{self.front}")
        # Every process the deployments start carries the marker, so teardown finds them all.
        text = text.replace("env: {NODE_ENV: production,",
                            f"env: {{CUTOVER_TEST_ID: {self.marker}, NODE_ENV: production,")
        return text

    def env(self):
        return {
            "CUTOVER": self.cutover,
            "SUPERVISE_UNIT": "",
            "NGINX": "nginx" if self.front else "",
            "NGINX_ARGS": f"-p {self.ngx_prefix} -c {self.ngx_prefix}/nginx.conf",
            "VALIDATE_TIMEOUT": "3",
            "CUTOVER_TEST_ID": self.marker,
        }

    def deploy(self, bundle, timeout=180):
        """`cutover local` of <bundle> into this host; returns (CompletedProcess, json or None)."""
        argv = [self.cutover, "local", "-l", bundle, "--root", self.deploy_root,
                "-g", "webapp-prod", "-d", "prod", "-a", "webapp", "--output", "json"]
        env = dict(os.environ)
        env.update(self.env())
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            doc = None
        return r, doc

    def versions_direct(self):
        out = []
        for p in self.ports:
            st, body = http_get(p, "/version")
            assert st == 200, (p, st, body)
            out.append(json.loads(body)["version"])
        return out

    def version_nginx(self):
        st, body = http_get(self.front, "/version")
        assert st == 200, (st, body)
        return json.loads(body)["version"]

    def current_version(self):
        with open(os.path.join(self.home, "current", "VERSION")) as f:
            return f.read().strip()

    def apps(self, *args):
        return subprocess.run([self.cutover, "apps", *args, "-c",
                               os.path.join(self.root, "etc", "cutover", "apps.yaml")],
                              capture_output=True, text=True, timeout=60)

    def cleanup(self):
        pidfile = os.path.join(self.home, "run", "supervise.pid")
        if os.path.exists(pidfile):
            with open(pidfile) as f:
                pid = int(f.read().strip() or 0)
            # The supervisor the hooks started: SIGTERM drains and stops its workers.
            if pid and self.marker.encode() in _environ(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                    wait_for(lambda: not _alive(pid), 20, what="supervisor exit")
                except (ProcessLookupError, AssertionError):
                    pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pids = pids_with_marker("CUTOVER_TEST_ID=" + self.marker)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def _environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
