#!/usr/bin/env bash
# cutover local: a bundle with 9 no-op hooks and 2,000 small files, deployed 10 times in a row
# to one group (each run replays the previous revision's cleanup list and runs its
# ApplicationStop). Prints the first and the median time per deployment and the peak RSS.
# The peer, the reference agent's codedeploy-local (Ruby), is not a Debian package and is not
# run here: its published figure (~0.9 s for a first deployment with 6 no-op hooks and no files,
# issue 4) is used for the ratios and printed as quoted. The same hooks without files are timed
# too, as the like-for-like case.
# Usage: bench/local.sh [RUNS]   CUTOVER_BIN defaults to build/cutover (make build); BENCH_DIR
# (default /tmp) holds the bundle, root and destination: /dev/shm separates our cost from the disk.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CUTOVER_BIN:-build/cutover}
RUNS=${1:-10}
[ -x "$BIN" ] || { echo "bench/local.sh: $BIN not built (make build)" >&2; exit 2; }
work=$(mktemp -d "${BENCH_DIR:-/tmp}/cutover-bench-local.XXXXXX")
trap 'rm -rf "$work"' EXIT

bundle=$work/bundle
mkdir -p "$bundle/scripts" "$bundle/app"
events="ApplicationStop BeforeInstall AfterInstall ApplicationStart ValidateService
        BeforeBlockTraffic AfterBlockTraffic BeforeAllowTraffic AfterAllowTraffic"
{
    printf 'version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: %s/dest\nhooks:\n' "$work"
    for e in $events; do printf '  %s:\n    - location: scripts/noop.sh\n' "$e"; done
} > "$bundle/appspec.yml"
printf '#!/bin/sh\nexit 0\n' > "$bundle/scripts/noop.sh"
chmod +x "$bundle/scripts/noop.sh"
for d in $(seq 0 19); do
    mkdir -p "$bundle/app/d$d"
    for f in $(seq 0 99); do echo "file $d/$f" > "$bundle/app/d$d/f$f.txt"; done
done

# the like-for-like case for the reference's figure: the same hooks, no files
hooks_only=$work/hooks-only
mkdir -p "$hooks_only/scripts"
cp "$bundle/scripts/noop.sh" "$hooks_only/scripts/"
grep -v -e '^files:' -e '  - source: app' -e '    destination:' "$bundle/appspec.yml" \
    > "$hooks_only/appspec.yml"

/usr/bin/python3 - "$BIN" "$work" "$RUNS" <<'PY'
import os, resource, statistics, subprocess, sys, time
bin_, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])


def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def deploy_n(bundle, root):
    """Wall time of each deployment, and the median CPU time (user + sys of cutover and its
    hooks), which a loaded machine disturbs less than wall time."""
    times, cpus = [], []
    for i in range(runs):
        c0, t0 = cpu(), time.perf_counter()
        p = subprocess.run([bin_, "local", "--root", root, "-l", bundle, "--output", "json"],
                           capture_output=True, text=True, timeout=300)
        times.append(time.perf_counter() - t0)
        cpus.append(cpu() - c0)
        if p.returncode != 0:
            sys.exit(f"deployment {i} of {bundle} failed: {p.stdout}{p.stderr}")
    return times, statistics.median(cpus)


times, files_cpu = deploy_n(f"{work}/bundle", f"{work}/root")
hooks_times, hooks_cpu = deploy_n(f"{work}/hooks-only", f"{work}/root-hooks")
files = sum(len(fs) for _, _, fs in os.walk(f"{work}/dest"))
assert files == 2000, files
t0 = time.perf_counter()
subprocess.run(["cp", "-a", f"{work}/bundle", f"{work}/cp-baseline"], check=True, timeout=300)
cp_ms = (time.perf_counter() - t0) * 1000
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
median = statistics.median(times)
ref = 0.9
print(f"cutover local: {runs} deployments, 9 no-op hooks, 2,000 files ({bin_})")
print(f"  first deployment : {times[0]*1000:8.1f} ms")
print(f"  median deployment: {median*1000:8.1f} ms   (min {min(times)*1000:.1f}, max {max(times)*1000:.1f})")
print(f"  median CPU time  : {files_cpu*1000:8.1f} ms   (user + sys, cutover and its hooks)")
print(f"  peak RSS         : {rss_kib/1024:8.1f} MiB")
print(f"  filesystem baseline, cp -a of the bundle: {cp_ms:.1f} ms (a deployment copies it twice)")
print(f"  load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
hooks_median = statistics.median(hooks_times)
print(f"cutover local: {runs} deployments, 9 no-op hooks, no files")
print(f"  first deployment : {hooks_times[0]*1000:8.1f} ms")
print(f"  median deployment: {hooks_median*1000:8.1f} ms")
print(f"  median CPU time  : {hooks_cpu*1000:8.1f} ms")
print(f"codedeploy-local (quoted, not run here: 6 no-op hooks, no files, first deployment): "
      f"{ref*1000:.0f} ms")
print(f"  ratio, no files, first deployment / reference : {hooks_times[0]/ref:.3f}  (target <= 0.100)")
print(f"  ratio, no files, median / reference           : {hooks_median/ref:.3f}")
print(f"  ratio, 2,000 files, median / reference        : {median/ref:.3f}")
PY
