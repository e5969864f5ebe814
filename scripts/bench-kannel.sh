#!/bin/sh
# scripts/bench-kannel.sh — the Kannel baseline for `make bench` (called
# from scripts/bench.sh; runs on its own too).  Prints figures and ratios,
# asserts nothing.
#
# What it measures, one system after the other, all driven by the same
# simulator (kyzmat-smsc --load) on 127.0.0.1:
#   kyzmat  MO "PING" in -> reply MT "PONG" out (kyzmatd's MO->MT path,
#           --load --reply: latency deliver_sm -> reply submit_sm), and
#           USSD steps with dialogs in memory (--load --ussd: USSD step in ->
#           USSD answer out), the figure that matters for USSD;
#   Kannel  1.4.5 the way a Kannel shop builds USSD today: bearerbox with an
#           smsc group type smpp (transceiver) + smsbox with a catch-all
#           sms-service whose get-url calls a minimal local HTTP responder
#           (bench/responder.c), whose body goes back to the sender as an
#           MT.  Kannel has no USSD handling, so "MO in -> reply MT out" is
#           the fair counterpart of a USSD step.  Run as shipped, and with
#           TCP_NODELAY forced by an LD_PRELOAD shim (scripts/nodelay.c),
#           since Kannel never sets it.  No message store (Kannel's default
#           when store-location is not set; the status page says "store
#           size -1"); log-level 2 (warnings) to files, no access-log;
#           max-pending-submits = W, Kannel's SMPP window (its default is
#           10); accept-x-kannel-headers so smsbox does not log a warning
#           per reply.
# Closed loop with W in flight, then an open loop at KRATE/s for OPEN_S s
# (latency counted from the intended send time, so queueing is not hidden).
#
# Environment: B (build dir, default build), N (kyzmat closed-loop steps,
# default 200000), W (in flight, default 100), KN (Kannel closed-loop
# messages, default 20000), KRATE (open-loop rate, default 1000), OPEN_S
# (open-loop seconds, default 10; 0 = skip the open loop).
# Needs: $B/kyzmatd, $B/kyzmat-smsc (make all), cc, pkg-config libevent,
# curl, python3, /usr/sbin/bearerbox and /usr/sbin/smsbox (package kannel).
# Builds $B/bench/bench_responder and $B/nodelay.so itself.
#
# Every process it starts is stopped by its pid (TERM, then KILL after
# 10 s); nothing of Kannel is started as a service.  Temp files go to one
# mktemp directory that is removed at exit (KEEP=1 keeps it and says where).
set -eu
B=${B:-build}
N=${N:-200000}
W=${W:-100}
KN=${KN:-20000}
KRATE=${KRATE:-1000}
OPEN_S=${OPEN_S:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
pids=""

. scripts/bench-lib.sh
need_bins bench-kannel
build_responder
build_shim

wait_line() { # $1 = kind, $2 = file, $3 = pid: until "listening KIND" appears
    i=0
    while [ -z "$(port_of "$1" "$2")" ]; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$3" 2>/dev/null; then return 1; fi
        sleep 0.05
    done
}
rows="$tmp/rows"
: >"$rows"

# record LABEL MODE RESULTFILE CPU_TICKS: one table row from a RESULT line
record() {
    res=$(grep '^RESULT' "$3" || true)
    if [ -z "$res" ]; then
        printf '%s|%s|-|-|-|-|-|no result\n' "$1" "$2" >>"$rows"
        return
    fi
    f() { echo "$res" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
    ok=$(f ok); err=$(f err)
    cpu=$(awk -v t="$4" -v n="$ok" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "-" }')
    printf '%s|%s|%s|%s|%s|%s|%s|ok %s err %s\n' "$1" "$2" "$(f tput)" "$(f p50_ms)" \
        "$(f p90_ms)" "$(f p99_ms)" "$cpu" "$ok" "$err" >>"$rows"
    printf '  %-8s %-28s %s\n' "$1" "$2" "$res"
}

# kyzmat LABEL MODE LOADARGS...: simulator (port 0) + kyzmatd on it
kyzmat() {
    label=$1; mode=$2; shift 2
    "$sim" --listen 127.0.0.1:0 --control 127.0.0.1:0 "$@" \
        >"$tmp/smsc.out" 2>"$tmp/smsc.log" &
    sp=$!; pids="$pids $sp"
    if ! wait_line smpp "$tmp/smsc.out" "$sp"; then
        echo "  kyzmat-smsc did not start:"; cat "$tmp/smsc.log"; stop_pid "$sp"; forget_pid "$sp"; return 0
    fi
    port=$(port_of smpp "$tmp/smsc.out")
    printf 'log: {level: warn}\nsmsc:\n  - name: bench\n    host: 127.0.0.1\n    port: %s\n    system_id: kyzmat\n    password: secret\n    window: %s\n    tps: 0\n' \
        "$port" "$W" >"$tmp/gw.yaml"
    printf 'http: {listen: "127.0.0.1:0"}\ndatabase: {path: %s/gw.db}\n' "$tmp" >>"$tmp/gw.yaml"
    "$gwd" -c "$tmp/gw.yaml" 2>"$tmp/gw.log" &
    gp=$!; pids="$pids $gp"
    t0=$(ticks "$gp")
    wait "$sp" || true
    forget_pid "$sp"
    t1=$(ticks "$gp")
    stop_pid "$gp"; forget_pid "$gp"
    record "$label" "$mode" "$tmp/smsc.out" $((t1 - t0))
}

# kannel LABEL MODE PRELOAD LOADARGS...: responder, bearerbox, smsbox, then
# the simulator on the port bearerbox is already trying to reach.
kannel() {
    label=$1; mode=$2; pre=$3; shift 3
    d="$tmp/kannel"; rm -rf "$d"; mkdir -p "$d"
    "$resp_bin" 127.0.0.1:0 >"$d/resp.out" 2>"$d/resp.log" &
    rp=$!; pids="$pids $rp"
    if ! wait_line http "$d/resp.out" "$rp"; then
        echo "  responder did not start:"; cat "$d/resp.log"; stop_pid "$rp"; forget_pid "$rp"; return 0
    fi
    hport=$(port_of http "$d/resp.out")
    ports=$(free_ports 4)
    adm=$(echo "$ports" | cut -d' ' -f1); sbp=$(echo "$ports" | cut -d' ' -f2)
    ssp=$(echo "$ports" | cut -d' ' -f3); sport=$(echo "$ports" | cut -d' ' -f4)
    cat >"$d/kannel.conf" <<EOF
# generated by scripts/bench-kannel.sh: one SMPP link to kyzmat-smsc, one
# catch-all sms-service whose get-url answer is sent back to the sender
group = core
admin-port = $adm
admin-password = bench
admin-allow-ip = "127.0.0.1"
smsbox-port = $sbp
box-allow-ip = "127.0.0.1"
log-file = "$d/bearerbox.log"
log-level = 2

group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = $sport
transceiver-mode = true
smsc-username = kyzmat
smsc-password = secret
system-type = ""
max-pending-submits = $W
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $sbp
sendsms-port = $ssp
log-file = "$d/smsbox.log"
log-level = 2

group = sms-service
keyword = default
catch-all = true
max-messages = 1
concatenation = false
# without it smsbox 1.4.5 logs "Tried to set Coding field, denied." for
# every reply (a warning per message); the responder sends no X-Kannel headers
accept-x-kannel-headers = true
get-url = "http://127.0.0.1:$hport/ussd?from=%p&to=%P&text=%a"
EOF
    if [ -n "$pre" ]; then
        LD_PRELOAD=$pre /usr/sbin/bearerbox -v 2 "$d/kannel.conf" >"$d/bb.out" 2>&1 &
    else
        /usr/sbin/bearerbox -v 2 "$d/kannel.conf" >"$d/bb.out" 2>&1 &
    fi
    bb=$!; pids="$pids $bb"
    st="http://127.0.0.1:$adm/status.txt?password=bench"
    i=0
    until curl -s -m 1 "$st" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$bb" 2>/dev/null; then
            echo "  bearerbox did not start:"; tail -n 5 "$d/bb.out"
            stop_pid "$bb"; stop_pid "$rp"; forget_pid "$bb"; forget_pid "$rp"; return 0
        fi
        sleep 0.05
    done
    if [ -n "$pre" ]; then
        LD_PRELOAD=$pre /usr/sbin/smsbox -v 2 "$d/kannel.conf" >"$d/sb.out" 2>&1 &
    else
        /usr/sbin/smsbox -v 2 "$d/kannel.conf" >"$d/sb.out" 2>&1 &
    fi
    sb=$!; pids="$pids $sb"
    i=0
    until curl -s -m 1 "$st" 2>/dev/null | grep -q 'smsbox:'; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$sb" 2>/dev/null; then
            echo "  smsbox did not connect:"; tail -n 5 "$d/sb.out"
            stop_pid "$sb"; stop_pid "$bb"; stop_pid "$rp"
            forget_pid "$sb"; forget_pid "$bb"; forget_pid "$rp"; return 0
        fi
        sleep 0.05
    done
    # bearerbox retries the SMPP link every second (reconnect-delay); the
    # simulator starts its load on the bind.
    "$sim" --listen "127.0.0.1:$sport" --control 127.0.0.1:0 "$@" \
        >"$tmp/smsc.out" 2>"$tmp/smsc.log" &
    sp=$!; pids="$pids $sp"
    t0=$(ticks "$bb" "$sb"); r0=$(ticks "$rp")
    wait "$sp" || true
    forget_pid "$sp"
    t1=$(ticks "$bb" "$sb"); r1=$(ticks "$rp")
    if ! grep -q '^listening smpp' "$tmp/smsc.out"; then
        echo "  kyzmat-smsc could not listen on $sport:"; tail -n 3 "$tmp/smsc.log"
    fi
    stop_pid "$sb"; stop_pid "$bb"; stop_pid "$rp"
    forget_pid "$sb"; forget_pid "$bb"; forget_pid "$rp"
    record "$label" "$mode" "$tmp/smsc.out" $((t1 - t0))
    awk -v t=$((r1 - r0)) -v hz="$hz" -v n="$(sed -n 's/^requests //p' "$d/resp.log")" 'BEGIN {
        if (n > 0) printf "  %-8s %-28s responder: %d requests, %.1f us CPU each\n", "", "", n, t / hz * 1e6 / n }'
}

echo "== Kannel 1.4.5 baseline vs kyzmat (same simulator; W=$W in flight)"
uname_cpu=$(nproc)
echo "   machine: $uname_cpu CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine moves every figure);"
echo "   Kannel: no store (default), log-level 2, max-pending-submits $W"
kyzmat kyzmat "PING->PONG MO->MT, W=$W" --load "$N" --window "$W" --msisdns 1000 --reply --text PING
kyzmat kyzmat "USSD steps, memory, W=$W" --load "$N" --window "$W" --msisdns 1000 --ussd
kannel Kannel "as shipped, MO->MT, W=$W" "" --load "$KN" --window "$W" --msisdns 1000 --reply --text balance
kannel Kannel "TCP_NODELAY, MO->MT, W=$W" "$shim" --load "$KN" --window "$W" --msisdns 1000 --reply --text balance
if [ "$OPEN_S" -gt 0 ]; then
    on=$((KRATE * OPEN_S))
    kyzmat kyzmat "PING->PONG open $KRATE/s" --load "$on" --window 10000 --msisdns 10000 --rate "$KRATE" --reply --text PING
    kannel Kannel "as shipped, open $KRATE/s" "" --load "$on" --window 10000 --msisdns 10000 --rate "$KRATE" --reply --text balance
    kannel Kannel "TCP_NODELAY, open $KRATE/s" "$shim" --load "$on" --window 10000 --msisdns 10000 --rate "$KRATE" --reply --text balance
fi

echo
printf '%-8s | %-28s | %12s | %8s | %8s | %8s | %10s | %s\n' system mode throughput/s "p50 ms" "p90 ms" "p99 ms" "CPU us/msg" "count"
printf '%s\n' "---------+------------------------------+--------------+----------+----------+----------+------------+------------------"
awk -F'|' '{ printf "%-8s | %-28s | %12s | %8s | %8s | %8s | %10s | %s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$rows"
echo "(CPU us/msg: the gateway's own processes only, kyzmatd or bearerbox+smsbox;"
echo " not the simulator or the HTTP responder)"
echo
awk -F'|' -v W="$W" '
    $3 == "-" { next }
    $1 == "kyzmat" && $2 ~ /^PING/ && $2 !~ /open/ { kt = $3; kp = $6 }
    $1 == "kyzmat" && $2 ~ /^USSD/ { ut = $3; up = $6 }
    $1 == "Kannel" && $2 !~ /open/ { if ($3 + 0 > bt + 0) { bt = $3; bm = $2 } if (bp == "" || $6 + 0 < bp + 0) { bp = $6; bpm = $2 } }
    $1 == "kyzmat" && $2 ~ /open/ { ko = $6 }
    $1 == "Kannel" && $2 ~ /as shipped, open/ { so = $6 }
    $1 == "Kannel" && $2 ~ /TCP_NODELAY, open/ { no = $6 }
    END {
        if (bt + 0 > 0 && kt + 0 > 0)
            printf "throughput: kyzmat PING->PONG %.0f/s vs best Kannel %.0f/s (%s): %.1fx\n", kt, bt, bm, kt / bt
        if (bt + 0 > 0 && ut + 0 > 0)
            printf "throughput: kyzmat USSD steps %.0f/s vs best Kannel MO->MT %.0f/s: %.1fx\n", ut, bt, ut / bt
        if (kp + 0 > 0 && bp + 0 > 0)
            printf "p99: best Kannel %.3f ms (%s) vs kyzmat PING->PONG %.3f ms: %.1fx lower\n", bp, bpm, kp, bp / kp
        if (up + 0 > 0 && bp + 0 > 0)
            printf "p99: best Kannel %.3f ms vs kyzmat USSD step %.3f ms: %.1fx lower\n", bp, up, bp / up
        if (ko + 0 > 0 && so + 0 > 0)
            printf "open loop p99: Kannel as shipped %.3f ms, with TCP_NODELAY %s ms, kyzmat %.3f ms\n", so, (no == "" ? "-" : no), ko
    }' "$rows"
