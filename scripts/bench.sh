#!/bin/sh
# scripts/bench.sh — `make bench`: prints figures and ratios, asserts nothing.
#   1. codec: ns and allocations per decode/encode, ours vs Kannel's libgw
#   2. storage: durable outbox enqueues/s, claim latency, restart time
#   3. link: MO deliver_sm -> deliver_sm_resp through kyzmatd, driven by
#      kyzmat-smsc's load mode (closed loop, W in flight; then open loop at
#      a fixed rate, latency counted from the intended send time)
# Environment: N (messages, default 200000), W (in flight, default 100),
# RATE (open-loop rate, default 10000).
set -eu
B=${B:-build}
N=${N:-200000}
W=${W:-100}
RATE=${RATE:-10000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

echo "== 1. SMPP codec (ours vs Kannel libgw 1.4.5, same PDUs, one process)"
"$B/bench/bench_pdu"

echo
echo "== 2. Storage (SQLite WAL): durable enqueues/s per commit size, restart with ROWS queued"
ROWS=${ROWS:-1000000} "$B/bench/bench_store"

echo
echo "== 3. MO throughput through kyzmatd (gateway + simulator on this machine)"
port_of() { sed -n "s/^listening $1 127.0.0.1:\([0-9]*\)/\1/p" "$2" | head -1; }
run_load() { # $1 = extra load args
    "$B/kyzmat-smsc" --listen 127.0.0.1:0 --control 127.0.0.1:0 $1 >"$tmp/smsc.out" 2>"$tmp/smsc.log" &
    sp=$!; pids="$pids $sp"
    i=0; while [ -z "$(port_of smpp "$tmp/smsc.out")" ]; do i=$((i+1)); [ $i -gt 200 ] && { echo "simulator did not start"; cat "$tmp/smsc.log"; exit 1; }; sleep 0.05; done
    port=$(port_of smpp "$tmp/smsc.out")
    printf 'log: {level: warn}\nsmsc:\n  - name: bench\n    host: 127.0.0.1\n    port: %s\n    system_id: kyzmat\n    password: secret\n    window: 100\n    tps: 0\n' "$port" >"$tmp/gw.yaml"
    "$B/kyzmatd" -c "$tmp/gw.yaml" 2>"$tmp/gw.log" &
    gp=$!; pids="$pids $gp"
    wait "$sp" || true
    grep -v '^listening' "$tmp/smsc.out" || true
    ps -o rss= -p "$gp" | awk '{printf "kyzmatd resident memory: %.1f MB\n", $1/1024}'
    kill "$gp" 2>/dev/null; wait "$gp" 2>/dev/null || true
}
echo "-- closed loop: N=$N, W=$W in flight"
run_load "--load $N --window $W"
echo "-- open loop: N=$N at $RATE/s"
run_load "--load $N --window 10000 --rate $RATE"
