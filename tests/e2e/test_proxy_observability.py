"""What an operator reads: GET /metrics (Prometheus text: requests by listener, group, target
and status class; target response time histogram; healthy/unhealthy host counts; active
connections; bytes in/out), the access log (one line per request), and the admin API's
describe endpoints."""
import http.client
import json
import re
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
    # An open keep-alive client connection (answered once, so it was surely accepted).
    idle = http.client.HTTPConnection("127.0.0.1", p.port(), timeout=10)
    assert request(p.port(), "/", conn=idle).status == 200

    text = p.metrics()
    samples, types = parse_metrics(text)
    base = dict(listener="web", target_group="blue", target=blue.addr)

    def one(name, **labels):
        got = find(samples, f"^{name}$", **labels)
        assert len(got) == 1, f"{name}{labels}: {got}\n{text}"
        return got[0][2]

    assert one("cutover_requests_total", status_class="2xx", **base) == 31
    assert one("cutover_requests_total", status_class="5xx", **base) == 7
    assert one("cutover_listener_requests_total", listener="web", status_class="2xx") == 31
    assert one("cutover_listener_requests_total", listener="web", status_class="5xx") == 7
    assert types.get("cutover_requests_total") == "counter"

    hist = find(samples, r"^cutover_target_response_time_seconds_bucket$", target_group="blue",
                target=blue.addr)
    assert len(hist) >= 5 and all("le" in lab for _, lab, _ in hist), text
    counts = [v for _, _, v in sorted(hist, key=lambda s: float(s[1]["le"]))]
    assert counts == sorted(counts), f"buckets must be cumulative: {counts}"
    assert [v for _, lab, v in hist if lab["le"] == "+Inf"] == [38], text
    assert one("cutover_target_response_time_seconds_count", target_group="blue",
               target=blue.addr) == 38
    assert types.get("cutover_target_response_time_seconds") == "histogram"

    assert one("cutover_target_group_healthy_hosts", target_group="blue") == 1
    assert one("cutover_target_group_unhealthy_hosts", target_group="blue") == 0
    assert one("cutover_listener_active_connections", listener="web") >= 1
    # Each request head is ~40 bytes; each response at least its 5-byte body.
    assert one("cutover_listener_bytes_received_total", listener="web") >= 38 * 30
    assert one("cutover_listener_bytes_sent_total", listener="web") >= 38 * 5
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
