#!/bin/sh
# scripts/fuzz.sh — run every libFuzzer target ($B/fuzz/fuzz_*) for
# FUZZ_SECONDS (default 60) each, starting from and adding to a scratch copy
# of its corpus under $B/fuzz/corpus/; crashers are written to $B/fuzz/.
# New interesting inputs are not committed automatically: copy a crasher
# into tests/fuzz/corpus/NAME/ once fixed, so `make test` replays it.
set -eu
B=${B:-build}
secs=${FUZZ_SECONDS:-60}
rc=0
for f in "$B"/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=${f##*/fuzz_}
    work="$B/fuzz/corpus/$name"
    mkdir -p "$work"
    [ -d "tests/fuzz/corpus/$name" ] && cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
    echo "== fuzz $name for ${secs}s"
    "$f" -max_total_time="$secs" -timeout=10 -artifact_prefix="$B/fuzz/$name-" -print_final_stats=1 "$work" || rc=1
done
exit $rc
