#!/usr/bin/env bash
# Parser cost per request head (bench/http1_parse.c), built with -O2 against this tree's
# sources. --instructions: run 20,000 iterations under callgrind and print instructions per
# request, a number that does not move with the machine's load (valgrind from Debian).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O2 -std=c17 -D_GNU_SOURCE -I"$root/src" -I/usr/share/include/llhttp \
    "$root/bench/http1_parse.c" "$root"/src/common/{http1,http1_scan,arena,buf,mem,err,str,log}.c \
    /usr/share/llhttp/{api,http,llhttp}.c -lm -o "$out/http1_parse"
if [ "${1:-}" = --instructions ]; then
    n=20000
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$out/http1_parse" $n 2>"$out/log" >/dev/null
    total=$(awk '/Collected/ {print $4}' "$out/log")
    echo "http1_parse: $((total / n)) instructions/request (callgrind, $n requests, incl. setup)"
else
    for round in 1 2 3; do "$out/http1_parse"; done
fi
