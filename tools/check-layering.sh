#!/usr/bin/env bash
# Enforces main → component → protocol → common (STYLE.md §1): a component never includes
# another component's header, protocol includes only common, common includes neither.
set -euo pipefail
cd "$(dirname "$0")/.."
components="proxy supervisor agent server cli"
fail=0
check() { # dir, allowed include prefixes (space separated)
    local dir=$1; shift
    local allowed="$*"
    [ -d "src/$dir" ] || return 0
    while IFS=: read -r file line inc; do
        local target=${inc#*\"}; target=${target%%/*}
        case " $allowed " in *" $target "*) ;; *)
            echo "$file:$line: src/$dir may not include \"$target/...\" (allowed: $allowed)" >&2
            fail=1 ;;
        esac
    done < <(grep -rnE '^#include "[a-z_]+/' "src/$dir" --include='*.[ch]' || true)
}
check common common
check protocol protocol common
for c in $components; do check "$c" "$c" protocol common; done
# Module basenames are unique across src/ (their prefix is their name, STYLE.md §2).
dups=$(find src -name '*.c' -printf '%f\n' | sort | uniq -d)
if [ -n "$dups" ]; then
    echo "module names used in more than one src/ directory (prefix them with the component): $dups" >&2
    fail=1
fi
[ $fail = 0 ] && echo "check-layering: ok"
exit $fail
