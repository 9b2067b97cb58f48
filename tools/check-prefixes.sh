#!/usr/bin/env bash
# Every exported symbol of src/<dir>/<module>.o starts with "<module>_" (STYLE.md §2).
# Usage: tools/check-prefixes.sh BUILD_DIR
set -euo pipefail
build=${1:-build-asan}
fail=0
while IFS= read -r obj; do
    module=$(basename "$obj" .c.o)
    [ "$module" = main ] && continue
    while read -r sym; do
        case "$sym" in "${module}_"*) ;; *)
            echo "$obj: exported symbol '$sym' lacks the prefix ${module}_" >&2; fail=1 ;;
        esac
    done < <(nm --defined-only -g "$obj" | awk '$2 ~ /[TDBR]/ {print $3}')
done < <(find "$build/src" -name '*.c.o' 2>/dev/null)
[ $fail = 0 ] && echo "check-prefixes: ok"
exit $fail
