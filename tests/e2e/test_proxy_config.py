"""proxy.yaml validation: every error is one `FILE:LINE:COL: what (expected)` line, exit status 2,
nothing started; `--check` validates without binding anything."""
import re
import subprocess

import pytest

from conftest import free_port, port_open
from proxyutil import run_check

GOOD = """\
admin: 127.0.0.1:{admin}
workers: 2
listeners:
  web:
    bind: 127.0.0.1:{web}
    forward:
      - {{target_group: blue, weight: 100}}
      - {{target_group: green, weight: 0}}
  test:
    bind: 127.0.0.1:{test}
    forward: [{{target_group: green, weight: 1}}]
target_groups:
  blue:
    algorithm: round_robin
    deregistration_delay: 30s
    health_check: {{path: /health, interval: 5s, timeout: 2s, healthy_threshold: 3,
                   unhealthy_threshold: 2, matcher: "200-399"}}
    targets: [127.0.0.1:9001, 127.0.0.1:9002]
  green:
    algorithm: least_outstanding_requests
    response_timeout: 500ms
    targets: []
"""


def good_text():
    return GOOD.format(admin=free_port(), web=free_port(), test=free_port())


def locate(text, needle, nth=0, offset=0):
    """1-based (line, col) of the nth occurrence of <needle> in <text>, plus <offset> columns."""
    pos = -1
    for _ in range(nth + 1):
        pos = text.index(needle, pos + 1)
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col + offset


def assert_error_at(result, path, line, cols, what=None):
    """One diagnostic naming path:line:col (col in <cols>), exit status 2."""
    out = result.stderr + result.stdout
    assert result.returncode == 2, f"exit {result.returncode}, want 2:\n{out}"
    m = re.search(re.escape(str(path)) + r":(\d+):(\d+): (.+)", out)
    assert m, f"no {path}:LINE:COL: message in:\n{out}"
    got = (int(m.group(1)), int(m.group(2)))
    assert got[0] == line and got[1] in cols, f"error at {got}, want line {line} col {cols}:\n{out}"
    if what:
        assert re.search(what, m.group(3), re.I), f"message {m.group(3)!r} should mention {what}"


def test_check_accepts_the_design_example_and_binds_nothing(cutover, tmp_path):
    text = good_text()
    path = tmp_path / "proxy.yaml"
    path.write_text(text)
    r = run_check(cutover, path)
    assert r.returncode == 0, r.stderr + r.stdout
    web = int(re.search(r"bind: 127.0.0.1:(\d+)", text).group(1))
    assert not port_open(web), "--check must not bind the listeners"


# (description, edit applied to the good text, needle locating the error, columns accepted
#  relative to the needle: the key or its value, message regex)
CASES = [
    ("unknown key in a target group",
     lambda t: t.replace("    algorithm: round_robin\n",
                         "    algorithm: round_robin\n    colour: blue\n"),
     "colour", (0,), r"colour|unknown"),
    ("unknown algorithm",
     lambda t: t.replace("algorithm: round_robin", "algorithm: fastest"),
     "algorithm: fastest", (0, len("algorithm: ")), r"algorithm|round_robin|fastest"),
    ("forward names an unknown target group",
     lambda t: t.replace("{target_group: green, weight: 0}", "{target_group: purple, weight: 0}"),
     "purple", (0, -len("target_group: "), -len("{target_group: ")), r"purple|group"),
    ("weight above 999",
     lambda t: t.replace("{target_group: blue, weight: 100}", "{target_group: blue, weight: 1000}"),
     "weight: 1000", (0, len("weight: ")), r"weight|999"),
    ("negative weight",
     lambda t: t.replace("{target_group: blue, weight: 100}", "{target_group: blue, weight: -5}"),
     "weight: -5", (0, len("weight: ")), r"weight|0"),
    ("bad duration",
     lambda t: t.replace("deregistration_delay: 30s", "deregistration_delay: 30 parsecs"),
     "deregistration_delay: 30 parsecs", (0, len("deregistration_delay: ")),
     r"duration|deregistration"),
    ("bad target address",
     lambda t: t.replace("127.0.0.1:9002", "127.0.0.1:99999"),
     "127.0.0.1:99999", (0,), r"port|address|target"),
    ("duplicate bind",
     lambda t: re.sub(r"(test:\n    bind: )127\.0\.0\.1:\d+",
                      lambda m: m.group(1) + re.search(r"web:\n    bind: (\S+)", t).group(1), t),
     "bind", (0, len("bind: ")), r"bind|duplicate|already", 1),
    ("bad matcher",
     lambda t: t.replace('matcher: "200-399"', 'matcher: "200-abc"'),
     '"200-abc"', (0, 1), r"matcher"),
    ("zero healthy threshold",
     lambda t: t.replace("healthy_threshold: 3", "healthy_threshold: 0"),
     "healthy_threshold: 0", (0, len("healthy_threshold: ")), r"threshold|range"),
    ("workers not a number",
     lambda t: t.replace("workers: 2", "workers: many"),
     "workers: many", (0, len("workers: ")), r"workers|auto"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_config_names_file_line_col_and_exits_2(cutover, tmp_path, case):
    desc, edit, needle, cols, what = case[:5]
    nth = case[5] if len(case) > 5 else 0
    text = edit(good_text())
    path = tmp_path / "proxy.yaml"
    path.write_text(text)
    line, col = locate(text, needle, nth)
    r = run_check(cutover, path)
    assert_error_at(r, path, line, {col + c for c in cols}, what)


def test_yaml_syntax_error_has_line_and_col(cutover, tmp_path):
    text = good_text().replace("targets: [127.0.0.1:9001, 127.0.0.1:9002]",
                               "targets: [127.0.0.1:9001, 127.0.0.1:9002")
    path = tmp_path / "proxy.yaml"
    path.write_text(text)
    r = run_check(cutover, path)
    out = r.stderr + r.stdout
    assert r.returncode == 2, out
    assert re.search(re.escape(str(path)) + r":\d+:\d+: ", out), out


def test_missing_file_is_an_error(cutover, tmp_path):
    r = run_check(cutover, tmp_path / "nope.yaml")
    assert r.returncode != 0
    assert "nope.yaml" in r.stderr + r.stdout


def test_bad_config_without_check_starts_nothing(cutover, tmp_path):
    text = good_text().replace("algorithm: round_robin", "algorithm: fastest")
    path = tmp_path / "proxy.yaml"
    path.write_text(text)
    web = int(re.search(r"bind: 127.0.0.1:(\d+)", text).group(1))
    admin = int(re.search(r"admin: 127.0.0.1:(\d+)", text).group(1))
    r = subprocess.run([cutover, "proxy", "-c", str(path)], capture_output=True, text=True,
                       timeout=20)
    line, col = locate(text, "algorithm: fastest")
    assert_error_at(r, path, line, {col, col + len("algorithm: ")}, r"algorithm|fastest")
    assert not port_open(web) and not port_open(admin)


def test_shipped_example_is_valid(cutover):
    from conftest import REPO
    r = run_check(cutover, f"{REPO}/examples/proxy/proxy.yaml")
    assert r.returncode == 0, r.stderr + r.stdout
