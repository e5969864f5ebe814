#!/bin/sh
# scripts/bench.sh — `make bench`: prints figures and ratios, asserts nothing.
#   1. codec: ns and allocations per decode/encode, ours vs Kannel's libgw
#   2. storage: durable outbox enqueues/s, claim latency, restart time
#   3. dialog store: GET+SET steps per second, memory and Redis
#   4. through kyzmatd, driven by kyzmat-smsc's load mode: MO deliver_sm ->
#      deliver_sm_resp, and USSD steps (deliver_sm in -> answer submit_sm out)
#      with dialogs in memory and in Redis; closed loop (W in flight) and
#      open loop at RATE/s (latency counted from the intended send time, so
#      queueing is not hidden); kyzmatd's CPU per step and resident memory;
#      the open-loop run again with GET /metrics every second (issue 11),
#      in SCRAPE_PAIRS alternating pairs (default 2); the MO and the
#      in-memory USSD runs again with the link over TLS (issue 13)
#   5. Kannel 1.4.5 (bearerbox + smsbox + get-url) against the same simulator,
#      as shipped and with TCP_NODELAY forced (scripts/bench-kannel.sh)
#   6. the SMS path (scripts/bench-sms.sh): durable accepts/s over the HTTP
#      API (synchronous normal and full), submits/s at the simulator and the
#      restart to the first submit_sm with 1,000,000 queued, next to Kannel
#      1.4.5's sendsms with its store-file (same client, same simulator),
#      and the normal load unscraped and scraped every second, in pairs
# Environment: N (messages, default 200000), W (in flight, default 100),
# RATE (open-loop rate, default 10000).
set -eu
B=${B:-build}
N=${N:-200000}
W=${W:-100}
RATE=${RATE:-10000}

. "$(dirname "$0")/bench-lib.sh"

echo "== 1. SMPP codec (ours vs Kannel libgw 1.4.5, same PDUs, one process)"
"$B/bench/bench_pdu"

echo
echo "== 2. Storage (SQLite WAL): durable enqueues/s per commit size, restart with ROWS queued"
ROWS=${ROWS:-1000000} "$B/bench/bench_store"

echo
echo "== 2b. HTTP API: durable accepts/s (202 only after commit), 8/64/256 keep-alive clients"
"$B/bench/bench_api" 5 8 64 256 || true

echo
echo "== 3. Dialog store: GET+SET steps/s (memory and a private redis-server)"
"$B/bench/bench_dialogs" 2 200 || true

echo
echo "== 4. Through kyzmatd (gateway, simulator and Redis on this machine)"
rport=$(free_ports 1)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
rp=$!; pids="$pids $rp"
wait_for 200 "$rp" redis-cli -p "$rport" ping >/dev/null 2>&1 || { echo "redis did not start"; exit 1; }
# A self-signed certificate for 127.0.0.1, for the runs over TLS (issue 13)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=bench -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$tmp/tls.key" -out "$tmp/tls.pem" >/dev/null 2>&1 || echo "(openssl failed: no TLS runs)"
run_load() { # $1 = label, $2 = extra load args, $3 = "redis" to keep dialogs
    # in Redis, $4 = "scraped": GET /metrics on the admin listener every
    # second meanwhile (issue 11: what a Prometheus scrape costs), $5 =
    # "tls": the link over TLS 1.3 (issue 13); sets cpu
    targs=""
    [ "${5:-}" = tls ] && targs="--tls-cert $tmp/tls.pem --tls-key $tmp/tls.key"
    "$B/kyzmat-smsc" --listen 127.0.0.1:0 --control 127.0.0.1:0 $targs $2 >"$tmp/smsc.out" 2>"$tmp/smsc.log" &
    sp=$!; pids="$pids $sp"
    wait_for 200 "$sp" has_port smpp "$tmp/smsc.out" || { echo "simulator did not start"; cat "$tmp/smsc.log"; exit 1; }
    port=$(port_of smpp "$tmp/smsc.out")
    gw_yaml "$port" 100 0 "path: $tmp/gw.db"
    [ "${5:-}" = tls ] && sed -i "s|^    tps: 0\$|    tps: 0\n    tls: {enabled: true, ca: \"$tmp/tls.pem\"}|" "$tmp/gw.yaml"
    [ "${3:-}" = redis ] && printf 'redis: {url: "redis://127.0.0.1:%s/0"}\n' "$rport" >>"$tmp/gw.yaml"
    aport=""
    if [ "${4:-}" = scraped ]; then
        aport=$(free_ports 1)
        printf 'admin: {listen: "127.0.0.1:%s"}\n' "$aport" >>"$tmp/gw.yaml"
    fi
    "$B/kyzmatd" -c "$tmp/gw.yaml" 2>"$tmp/gw.log" &
    gp=$!; pids="$pids $gp"
    scr=""
    if [ -n "$aport" ]; then
        : >"$tmp/scrapes"
        (while kill -0 "$sp" 2>/dev/null; do
            curl -s -m 2 -o /dev/null "http://127.0.0.1:$aport/metrics" && echo . >>"$tmp/scrapes"
            sleep 1
        done) &
        scr=$!
    fi
    t0=$(ticks "$gp")
    wait "$sp" || true
    t1=$(ticks "$gp")
    [ -n "$scr" ] && { wait "$scr" 2>/dev/null || true; echo "$(wc -l <"$tmp/scrapes") scrapes of /metrics meanwhile" >"$tmp/scrape.note"; }
    res=$(grep '^RESULT' "$tmp/smsc.out" || echo "RESULT (none: see $tmp/smsc.log)")
    n=$(echo "$res" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')
    rss=$(awk '/VmRSS/ {print $2}' /proc/$gp/status 2>/dev/null || echo 0)
    printf '%-34s %s\n' "$1" "$res"
    cpu=$(awk -v t="$((t1 - t0))" -v n="${n:-0}" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print 0 }')
    awk -v c="$cpu" -v rss="$rss" -v note="$([ -n "$scr" ] && cat "$tmp/scrape.note")" 'BEGIN {
        printf "%-34s kyzmatd CPU %.1f us per step, resident %.1f MB%s\n", "", c, rss / 1024, note ? "; " note : "" }'
    kill "$gp" 2>/dev/null; wait "$gp" 2>/dev/null || true
}
# scraped_vs LABEL ARGS [redis]: the same load unscraped, then with a
# scrape every second, SCRAPE_PAIRS alternating pairs (default 2, so drift
# on a shared machine shows as a spread between pairs); prints each pair's
# CPU ratio (goal: within 3%)
scraped_vs() {
    pair=1      # a name no helper it calls uses
    while [ $pair -le "${SCRAPE_PAIRS:-2}" ]; do
        run_load "$1 (pair $pair)" "$2" "${3:-}"
        c0=$cpu
        run_load "$1, scraped 1/s (pair $pair)" "$2" "${3:-}" scraped
        awk -v a="$c0" -v b="$cpu" 'BEGIN { if (a > 0) printf "%-34s CPU per step scraped / unscraped: %.3f\n", "", b / a }'
        pair=$((pair + 1))
    done
}
run_load "MO SMS, closed loop, W=$W"        "--load $N --window $W"
c_plain=$cpu
run_load "MO SMS, closed loop, W=$W, TLS"   "--load $N --window $W" "" "" tls
awk -v a="$c_plain" -v b="$cpu" 'BEGIN { if (a > 0) printf "%-34s CPU per MO over TLS / plain TCP: %.3f\n", "", b / a }'
run_load "USSD steps, memory, W=$W"         "--load $N --window $W --ussd --msisdns 1000"
c_plain=$cpu
run_load "USSD steps, memory, W=$W, TLS"    "--load $N --window $W --ussd --msisdns 1000" "" "" tls
awk -v a="$c_plain" -v b="$cpu" 'BEGIN { if (a > 0) printf "%-34s CPU per step over TLS / plain TCP: %.3f\n", "", b / a }'
run_load "USSD steps, Redis, W=$W"          "--load $N --window $W --ussd --msisdns 1000" redis
scraped_vs "USSD steps, Redis, open $RATE/s"  "--load $N --window 10000 --rate $RATE --ussd --msisdns 1000" redis

echo
echo "== 5. Kannel 1.4.5 baseline (bearerbox + smsbox + get-url) vs kyzmat, same simulator"
B="$B" N="$N" W="$W" scripts/bench-kannel.sh || true
echo; echo "== 6. SMS path: kyzmat POST /v1/messages vs Kannel sendsms + store-file (scripts/bench-sms.sh)"; B="$B" scripts/bench-sms.sh || true
