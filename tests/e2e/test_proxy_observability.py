"""What an operator reads: GET /metrics (Prometheus text: requests by listener, group, target
and status class; target response time histogram; healthy/unhealthy host counts; active
connections; bytes in/out), the access log (one line per request), and the admin API's
describe endpoints."""
import json
import re
import socket
import subprocess

from conftest import wait_for
from proxyutil import backends, proxy, request, two_group_conf  # noqa: F401

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([-+0-9.eEInfNa]+)(?: \d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] for every sample; asserts every line is well formed."""
    samples = []
    types = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            m = re.match(r"# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$", line)
            if m:
                types[m.group(1)] = m.group(2)
            else:
                assert re.match(r"# HELP \S+ ", line), f"bad comment line {line!r}"
            continue
        m = SAMPLE.match(line)
        assert m, f"bad sample line {line!r}"
        samples.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples, types


def label(lab, key):
    if key == "target_group":                  # either spelling is fine for the group label
        return lab.get("target_group", lab.get("group"))
    return lab.get(key)


def find(samples, name_re, **labels):
    return [(n, lab, v) for n, lab, v in samples
            if re.search(name_re, n) and all(label(lab, k) == v for k, v in labels.items())]


def test_metrics_count_requests_by_listener_group_target_and_class(backends, proxy):  # noqa: F811
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green]))
    p.wait_states("blue", {blue.addr: "healthy"})
    for _ in range(30):
        assert request(p.port(), "/").status == 200
    for _ in range(7):
        assert request(p.port(), "/?status=503").status == 503
    idle = socket.create_connection(("127.0.0.1", p.port()))   # an open client connection

    text = p.metrics()
    samples, types = parse_metrics(text)
    base = dict(listener="web", target_group="blue", target=blue.addr)

    req = [s for s in find(samples, r"requests", **base) if "bucket" not in s[0]]
    assert req, f"no request counter labelled {base}:\n{text}"
    by_class = {}
    for _, lab, v in req:
        cls = lab.get("status_class") or lab.get("code") or lab.get("class")
        if cls:
            by_class[cls] = by_class.get(cls, 0) + v
    assert by_class.get("2xx") == 30 and by_class.get("5xx") == 7, (by_class, text)

    hist = find(samples, r"_bucket$", target_group="blue", target=blue.addr)
    assert hist and all("le" in lab for _, lab, _ in hist), f"no response time histogram:\n{text}"
    inf = [v for _, lab, v in hist if lab["le"] == "+Inf"]
    assert inf and max(inf) >= 37, f"histogram +Inf bucket should count 37 responses:\n{text}"
    assert any(types.get(n[: -len("_bucket")]) == "histogram" for n, _, _ in hist), types

    healthy = find(samples, r"(?<!un)healthy", target_group="blue")
    unhealthy = find(samples, r"unhealthy", target_group="blue")
    assert healthy and healthy[0][2] == 1, f"blue healthy host count:\n{text}"
    assert unhealthy and unhealthy[0][2] == 0, f"blue unhealthy host count:\n{text}"

    conns = find(samples, r"connection", listener="web")
    assert conns and max(v for _, _, v in conns) >= 1, f"active connections:\n{text}"
    bytes_in = find(samples, r"bytes.*(in|received|rx)|(in|received|rx).*bytes")
    bytes_out = find(samples, r"bytes.*(out|sent|tx)|(out|sent|tx).*bytes")
    assert bytes_in and sum(v for _, _, v in bytes_in) > 0, f"bytes in:\n{text}"
    assert bytes_out and sum(v for _, _, v in bytes_out) >= 37 * len("blue\n"), f"bytes out:\n{text}"
    idle.close()


def test_access_log_has_one_line_per_request(backends, proxy):  # noqa: F811
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green]))
    p.wait_states("blue", {blue.addr: "healthy"})
    for i in range(5):
        assert request(p.port(), f"/echo?access={i}").status == 200
    p.set_forward("web", [("blue", 0), ("green", 0)])
    assert request(p.port(), "/nothing-routable").status == 503

    def lines():
        return [ln for ln in p.access_log.read_text().splitlines() if ln.strip()] \
            if p.access_log.exists() else []
    wait_for(lambda: len(lines()) >= 6, 5, what="6 access log lines")
    log = lines()
    assert len(log) == 6, log
    for i, ln in enumerate(log[:5]):
        for field in (f"/echo?access={i}", "web", "blue", blue.addr, "200", "127.0.0.1", "GET"):
            assert field in ln, f"{field!r} missing from access log line {ln!r}"
        # request time and target time are numbers
        assert len(re.findall(r"\d+(?:\.\d+)?", ln)) >= 6, ln
    assert "503" in log[5] and "/nothing-routable" in log[5], log[5]


def test_describe_endpoints(backends, proxy):  # noqa: F811
    blue, green = backends("blue", "green")
    p = proxy(two_group_conf([blue], [green], weights=(("blue", 90), ("green", 10))))
    st, listeners = p.admin("GET", "/listeners")
    assert st == 200 and "web" in str(listeners), listeners
    st, groups = p.admin("GET", "/target-groups")
    assert st == 200 and "blue" in str(groups) and "green" in str(groups), groups
    st, body = p.admin("PUT", "/listeners/web/action",
                       {"forward": [{"target_group": "blue", "weight": 20},
                                    {"target_group": "green", "weight": 80}]})
    assert st == 200, body
    fw = {f["target_group"]: f["weight"] for f in body["forward"]}
    assert fw == {"blue": 20, "green": 80}, body
    # Validation errors are 400 and change nothing; unknown names are 404.
    st, body = p.admin("PUT", "/listeners/web/action",
                       {"forward": [{"target_group": "purple", "weight": 1}]})
    assert st == 400, body
    st, body = p.admin("PUT", "/listeners/nope/action",
                       {"forward": [{"target_group": "blue", "weight": 1}]})
    assert st == 404, body
    st, body = p.admin("PUT", "/listeners/web/action", b"{not json")
    assert st == 400, body
    st, body = p.admin("GET", "/target-groups/nope/health")
    assert st == 404, body
    p.wait_states("green", {green.addr: "healthy"})
    names = [request(p.port(), "/").body for _ in range(200)]
    assert names.count(b"green\n") > names.count(b"blue\n"), "20/80 must still be in force"


def cli(cutover, p, *args):
    return subprocess.run([cutover, "proxy", *args, "--admin", f"127.0.0.1:{p.admin_port}"],
                          capture_output=True, text=True, timeout=20)


def test_cli_verbs(cutover, backends, proxy):  # noqa: F811
    blue, green, extra = backends("blue", "green", "extra")
    p = proxy(two_group_conf([blue], [green]))
    p.wait_states("blue", {blue.addr: "healthy"})

    r = cli(cutover, p, "describe-target-health", "--target-group", "blue", "--output", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert blue.addr in r.stdout and "healthy" in r.stdout, doc
    r = cli(cutover, p, "describe-target-health", "--target-group", "blue", "--output", "table")
    assert r.returncode == 0 and blue.addr in r.stdout and "healthy" in r.stdout, r.stdout

    r = cli(cutover, p, "modify-listener", "--listener", "web", "--forward", "blue=0,green=100",
            "--output", "json")
    assert r.returncode == 0, r.stderr
    assert request(p.port(), "/").body == b"green\n"

    r = cli(cutover, p, "register-targets", "--target-group", "green", "--targets", extra.addr)
    assert r.returncode == 0, r.stderr
    assert extra.addr in p.health("green")
    r = cli(cutover, p, "deregister-targets", "--target-group", "green", "--targets", extra.addr)
    assert r.returncode == 0, r.stderr
    assert p.health("green").get(extra.addr, {"state": "unused"})["state"] in ("draining", "unused")

    r = cli(cutover, p, "modify-listener", "--listener", "nope", "--forward", "blue=1")
    assert r.returncode != 0 and r.stderr.strip(), r
    r = cli(cutover, p, "describe-target-health", "--target-group", "nope")
    assert r.returncode != 0
