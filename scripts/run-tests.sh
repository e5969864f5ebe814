#!/bin/sh
# scripts/run-tests.sh — run every test kyzmat has, in order of cost:
#   1. unit tests (cmocka binaries $B/tests/test_*)
#   2. fuzz-corpus replay ($B/tests/replay_NAME over tests/fuzz/corpus/NAME)
#   3. the differential test of our codec against Kannel's libgw
#   4. the alerting rules (promtool check rules, promtool test rules)
#   5. integration tests (tests/integration/test_*.py: real processes on
#      127.0.0.1 — kyzmatd, kyzmat-smsc, redis-server, the npm smpp peer)
# Called by `make test` (B=build) and `make SANITIZE=1 test` (B=build-san).
# VALGRIND=1 runs the unit tests, the replays, kyzmatd and kyzmat-smsc
# under valgrind (the differential test is skipped: libgw is not ours).
# ONLY=unit|replay|diff|alerts|integration runs one group; T=pattern filters
# integration tests by file name.
# Ends with one line "N passed, N failed" (cases, not files) and exits 1
# when anything failed.
set -u
B=${B:-build}
ONLY=${ONLY:-}
T=${T:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
passed=0
failed=0
skipped=0
failures=""

note_fail() { failed=$((failed + ${2:-1})); failures="$failures $1"; }

want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

vg=""
if [ "${VALGRIND:-0}" = 1 ]; then
    # --fair-sched=yes: threads take turns (kyzmatd's menu loader runs on a
    # worker thread; valgrind's default lock lets it starve the loop)
    vg="valgrind -q --fair-sched=yes --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99"
    # The integration harness runs kyzmatd and kyzmat-smsc under it too and
    # fails a case whose logs show a valgrind error or a definite leak.
    KYZMAT_WRAP="$vg"
    export KYZMAT_WRAP
fi

if want unit; then
    for t in "$B"/tests/test_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        out=$($vg "$t" 2>&1); rc=$?
        p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
        f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
        p=${p:-0}; f=${f:-0}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        passed=$((passed + p))
        if [ "$f" -gt 0 ]; then
            # what failed, wherever it is in the output, then the end of it
            printf '%s\n' "$out" | grep -E -B1 -A2 '^\[  (ERROR|FAILED)  *\]' | head -60
            printf '%s\n' "$out" | tail -20
            echo "FAIL unit $name ($f failed, exit $rc)"
            note_fail "$name" "$f"
        else
            echo "ok   unit $name ($p tests)"
        fi
    done
fi

if want replay; then
    for r in "$B"/tests/replay_*; do
        [ -x "$r" ] || continue
        name=${r##*/replay_}
        dir=tests/fuzz/corpus/$name
        if [ ! -d "$dir" ]; then
            echo "FAIL replay $name: no corpus at $dir"; note_fail "replay_$name"; continue
        fi
        out=$($vg "$r" "$dir" 2>&1); rc=$?
        if [ "$rc" -ne 0 ]; then
            printf '%s\n' "$out" | tail -30
            echo "FAIL replay $name (exit $rc)"; note_fail "replay_$name"
        else
            echo "ok   replay $name: $(printf '%s\n' "$out" | tail -1)"; passed=$((passed + 1))
        fi
    done
fi

if want diff && [ -x "$B/tests/diff_kannel" ] && [ "${VALGRIND:-0}" != 1 ]; then
    # libgw is not built with sanitizers and keeps global state it never
    # frees; its leaks are not ours.
    out=$(ASAN_OPTIONS=detect_leaks=0 "$B/tests/diff_kannel" tests/fuzz/corpus/pdu 2>&1); rc=$?
    last=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
    p=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); p=${p:-0}
    f=$(printf '%s' "$last" | sed -n 's/.* \([0-9]*\) failed.*/\1/p'); f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p))
    if [ "$f" -gt 0 ]; then
        printf '%s\n' "$out" | tail -30
        echo "FAIL diff_kannel ($f failed)"; note_fail diff_kannel "$f"
    else
        echo "ok   diff_kannel: $(printf '%s\n' "$out" | grep -v '^[0-9]* passed' | tail -1) ($p compared)"
    fi
fi

# The alerting rules (scripts/alerts.yml): promtool checks them and runs
# their unit tests (tests/alerts/alerts_test.yml).  Not under valgrind:
# promtool is not ours, and the rules do not change with the build.
if want alerts && [ "${VALGRIND:-0}" != 1 ]; then
    for step in "check rules scripts/alerts.yml" "test rules tests/alerts/alerts_test.yml"; do
        # shellcheck disable=SC2086
        if out=$(promtool $step 2>&1); then
            passed=$((passed + 1))
            echo "ok   alerts promtool $step"
        else
            printf '%s\n' "$out" | head -60
            echo "FAIL alerts promtool $step (package prometheus: scripts/setup.sh --test)"
            note_fail "promtool-$(echo "$step" | cut -d' ' -f1)"
        fi
    done
fi

if want integration; then
    for t in tests/integration/test_*.py; do
        [ -f "$t" ] || continue
        case "$t" in *"$T"*) ;; *) continue ;; esac
        out=$(B="$B" python3 "$t" 2>&1); rc=$?
        p=$(printf '%s\n' "$out" | grep -c '^ok ')
        f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
        k=$(printf '%s\n' "$out" | grep -c '^skip ')
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        passed=$((passed + p))
        skipped=$((skipped + k))
        printf '%s\n' "$out" | grep -E '^(ok|FAIL|skip) '
        if [ "$f" -gt 0 ]; then
            printf '%s\n' "$out" | grep -vE '^(ok|FAIL) ' | tail -60
            note_fail "$(basename "$t")" "$f"
        fi
    done
fi

[ -n "$failures" ] && echo "failed:$failures"
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed ($skipped native-only cases not run under valgrind)"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
