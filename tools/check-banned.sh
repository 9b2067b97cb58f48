#!/usr/bin/env bash
# Fails on calls to functions the house style bans (STYLE.md §10).
set -euo pipefail
cd "$(dirname "$0")/.."
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|system|popen)[[:space:]]*\('
if hits=$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'fuzz/*.c' 'bench/*.c' | xargs -r grep -nE "$banned" | grep -vE '^\S+:[0-9]+:\s*(/\*|\*)'); then
    echo "banned functions used (use snprintf, str_copy, str_to_u32, uv_spawn):" >&2
    echo "$hits" >&2
    exit 1
fi
echo "check-banned: ok"
