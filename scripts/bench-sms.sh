#!/bin/sh
# scripts/bench-sms.sh — the SMS path of kyzmat next to Kannel 1.4.5's
# sendsms with its store-file, on this machine in one run (section 6 of
# `make bench`; runs on its own too).  Prints figures and ratios, asserts
# nothing.
#
# Both systems send to the same simulator (kyzmat-smsc, server mode, its
# control port's `stats` counts submit_sm) and are driven by the same HTTP
# client (bench/bench_sms.c `load`) with the same number of keep-alive
# clients, one request in flight on each:
#   kyzmat  POST /v1/messages with a bearer token (kyzmatd --create-token);
#           202 only after the group commit; database.synchronous normal,
#           then full.
#   Kannel  GET /cgi-bin/sendsms?username=..&password=..&from=..&to=..&text=..
#           on smsbox, a sendsms-user; bearerbox with store-type = file and a
#           store-location, one smpp transceiver link (max-pending-submits =
#           W, the same window kyzmat gets), log-level 2, no access-log;
#           with TCP_NODELAY forced by scripts/nodelay.c unless
#           KANNEL_NODELAY=0 (Kannel never sets it; without it each
#           sendsms waits for Nagle + delayed ACK).
# What is measured:
#   (a) accepted messages/s over HTTP (answers 202);
#   (b) messages/s submitted to the simulator, from the start of the load
#       until the simulator has counted as many submit_sm as were accepted;
#   (c) restart: from exec of the process to the first submit_sm the
#       simulator sees, with RROWS messages queued (kyzmat: RROWS rows
#       written into the outbox through gateway/store.h; Kannel: KRROWS
#       messages posted to sendsms while the SMSC is down, then bearerbox
#       stopped and started again), and to the RCOUNT-th.
#
# Environment: B (build dir, default build), N (kyzmat messages per run,
# default 100000), KN (Kannel messages, default 50000), K (HTTP clients,
# default 64), BATCH (messages per request in the batch-API runs, 8 clients,
# default 100), W (SMPP window, default 100), RROWS (kyzmat restart rows,
# default 1000000), KRROWS (Kannel restart messages, default 100000),
# RCOUNT (restart: also time to this many submits, default 10000),
# RTIMEOUT (restart: give up after this many seconds, default 60),
# KANNEL_NODELAY (1 default: Kannel with the TCP_NODELAY shim; 0 as
# shipped), KANNEL_DLR (dlr-mask on every sendsms; default 0 = none, so
# Kannel does less than kyzmat, which asks for a receipt on every submit_sm
# and stores it; 3 = delivered or failed, with a dlr-url on a local
# responder (bench/responder.c), since smsbox logs two errors per receipt
# without one),
# PARTS (default "load restart scraped": (a)+(b), then (c), then (d): the
# normal load unscraped and with GET /metrics every second on the admin
# listener, SCRAPE_PAIRS alternating pairs, default 2; issue 11's goal is
# within 3%).  Needs: $B/kyzmatd, $B/kyzmat-smsc (make all), cc, pkg-config,
# curl, python3, /usr/sbin/bearerbox and /usr/sbin/smsbox (package kannel).
# Builds $B/bench/bench_sms (if make has not) and $B/nodelay.so itself.
#
# Every process it starts is stopped by its pid (TERM, then KILL after
# 15 s).  Temp files go to one mktemp directory removed at exit (KEEP=1
# keeps it and says where).
set -eu
B=${B:-build}
N=${N:-100000}
KN=${KN:-50000}
K=${K:-64}
W=${W:-100}
RROWS=${RROWS:-1000000}
KRROWS=${KRROWS:-100000}
RCOUNT=${RCOUNT:-10000}
RTIMEOUT=${RTIMEOUT:-60}
KANNEL_NODELAY=${KANNEL_NODELAY:-1}
BATCH=${BATCH:-100}
PARTS=${PARTS:-load restart scraped}
SCRAPE_PAIRS=${SCRAPE_PAIRS:-2}
KANNEL_DLR=${KANNEL_DLR:-0}

. "$(dirname "$0")/bench-lib.sh"
need_bins bench-sms

drv="$B/bench/bench_sms"
if [ ! -x "$drv" ] || [ -n "$(find bench/bench_sms.c bench/httpc.h "$B/libkzgw.a" -newer "$drv")" ]; then
    PKGS="libevent libevent_openssl openssl hiredis sqlite3 libcurl libfyaml jansson libsodium"
    # shellcheck disable=SC2046,SC2086
    ${CC:-cc} $WARN -O2 -g -I. $(pkg-config --cflags $PKGS) -o "$drv" bench/bench_sms.c \
        "$B/libkzgw.a" "$B/libkzmenus.a" "$B/libkzsmpp.a" "$B/libkzbase.a" \
        $(pkg-config --libs $PKGS) -levent_pthreads -lm -pthread
fi
cp "$drv" "$tmp/bin/"
drv="$tmp/bin/bench_sms"
build_shim
pre=""
[ "$KANNEL_NODELAY" = 1 ] && pre=$shim
[ "$KANNEL_DLR" != 0 ] && build_responder

# ctl PORT COMMAND: one line to the simulator's control port, its answer out
ctl() {
    python3 -c 'import socket,sys
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),5)
s.sendall((sys.argv[2]+"\n").encode()); f=s.makefile()
print(f.readline().strip())' "$1" "$2" 2>/dev/null || true
}
# sim_start [--listen H:P]: simulator in server mode; sets sp, sport, cport
sim_start() {
    "$sim" --listen "${1:-127.0.0.1:0}" --control 127.0.0.1:0 -q >"$tmp/smsc.out" 2>"$tmp/smsc.log" &
    sp=$!; pids="$pids $sp"
    wait_for 200 "$sp" has_port control "$tmp/smsc.out" || {
        echo "  kyzmat-smsc did not start:"; tail -n 3 "$tmp/smsc.log"; return 1; }
    sport=$(port_of smpp "$tmp/smsc.out"); cport=$(port_of control "$tmp/smsc.out")
}
# wait_bound: until the simulator has a bound ESME (30 s)
wait_bound() {
    i=0
    until ctl "$cport" stats | grep -q '"bound":[1-9]'; do
        i=$((i + 1)); [ $i -gt 600 ] && return 1; sleep 0.05
    done
}
# cpu_us TICKS RESULT: the gateway's CPU per accepted message, microseconds
cpu_us() {
    echo "$2" | awk -v t="$1" -v hz="$hz" '{ if (match($0, / accepted=[0-9]+/)) n = substr($0, RSTART + 10, RLENGTH - 10)
        if (n > 0) printf "%.0f", t / hz * 1e6 / n; else printf "-" }'
}
rows="$tmp/rows"
: >"$rows"
row() { printf '%s|%s|%s\n' "$1" "$2" "$3" >>"$rows"; }

# kyzmat_cfg DB SYNC [scraped]: gw.yaml for the simulator on $sport; sets
# hport, and aport (the admin listener) when scraped
kyzmat_cfg() {
    hport=$(free_ports 1)
    gw_yaml "$sport" "$W" "$hport" "path: $1, synchronous: $2"
    aport=""
    if [ "${3:-}" = scraped ]; then
        aport=$(free_ports 1)
        printf 'admin: {listen: "127.0.0.1:%s"}\n' "$aport" >>"$tmp/gw.yaml"
    fi
}
# scrape_start: GET /metrics on $aport every second until scrape_stop
# (issue 11: what a Prometheus scrape costs); sets scr
scrape_start() {
    : >"$tmp/scrapes"
    (while :; do
        curl -s -m 2 -o /dev/null "http://127.0.0.1:$aport/metrics" && echo . >>"$tmp/scrapes"
        sleep 1
    done) &
    scr=$!
}
scrape_stop() { kill "$scr" 2>/dev/null; wait "$scr" 2>/dev/null || true; }

# (a) + (b) for kyzmat with database.synchronous $1 (and $2 messages per
# request through POST /v1/messages/batch when given; $3 = "scraped": GET
# /metrics every second meanwhile, row load-SYNC-scraped)
kyzmat_load() {
    sync=$1
    batch=${2:-1}
    sim_start || return 0
    db="$tmp/kz-$sync.db"; rm -f "$db" "$db-wal" "$db-shm"
    kyzmat_cfg "$db" "$sync" "${3:-}"
    tok=$("$gwd" -c "$tmp/gw.yaml" --create-token bench 2>"$tmp/tok.err") || {
        echo "  kyzmatd --create-token failed:"; cat "$tmp/tok.err"; stop_forget "$sp"; return 0; }
    "$gwd" -c "$tmp/gw.yaml" 2>"$tmp/gw.log" &
    gp=$!; pids="$pids $gp"
    wait_for 200 "$gp" curl -s -m 1 -o /dev/null "http://127.0.0.1:$hport/v1/health" || {
        echo "  kyzmatd did not start:"; tail -n 5 "$tmp/gw.log"; stop_forget "$gp" "$sp"; return 0; }
    wait_bound || { echo "  kyzmatd did not bind"; stop_forget "$gp" "$sp"; return 0; }
    [ -n "$aport" ] && scrape_start
    c0=$(ticks "$gp")
    r=$("$drv" load --port "$hport" --clients "$KC" --n "$N" --kyzmat "$tok" --batch "$batch" \
        --control "$cport" || true)
    r="$r cpu_us=$(cpu_us $(($(ticks "$gp") - c0)) "$r")"
    if [ -n "$aport" ]; then
        scrape_stop
        r="$r scrapes=$(wc -l <"$tmp/scrapes")"
        printf '  %-28s %s\n' "kyzmat, $sync, scraped 1/s" "$r"
        row kyzmat "load-$sync-scraped" "$r"
    elif [ "$batch" -gt 1 ]; then
        printf '  %-28s %s\n' "kyzmat, batch $batch, $sync" "$r"
        row kyzmat "batch-$sync" "$r"
    else
        printf '  %-28s %s\n' "kyzmat, synchronous=$sync" "$r"
        row kyzmat "${ROW:-load-$sync}" "$r"
    fi
    stop_forget "$gp" "$sp"
}

# kannel_conf DIR SMSCPORT: kannel.conf with a store-file; sets adm, sbp, ssp
kannel_conf() {
    {
        echo "# generated by scripts/bench-sms.sh: sendsms -> bearerbox (store-file) ->"
        echo "# one SMPP link to kyzmat-smsc"
        kannel_groups "$1" "$2" "store-type = file
store-location = \"$1/kannel.store\"
"
        cat <<EOF

group = sendsms-user
username = bench
password = bench
max-messages = 1
concatenation = false
EOF
    } >"$1/kannel.conf"
}
kstatus() { curl -s -m 2 "http://127.0.0.1:$adm/status.txt?password=bench" 2>/dev/null || true; }
# bb_start DIR: bearerbox; sets bb.  sb_start DIR: smsbox, until bearerbox
# lists it; sets sb.
bb_up() { kstatus | grep -q .; }
sb_up() { kstatus | grep -q 'smsbox:' && curl -s -m 1 -o /dev/null "http://127.0.0.1:$ssp/"; }
bb_start() {
    kannel_box bearerbox "$1"; bb=$box
    wait_for 600 "$bb" bb_up || {
        echo "  bearerbox did not start:"; tail -n 5 "$1/bb.out"; stop_forget "$bb"; return 1; }
}
sb_start() {
    kannel_box smsbox "$1"; sb=$box
    wait_for 600 "$sb" sb_up || {
        echo "  smsbox did not connect:"; tail -n 5 "$1/sb.out"; stop_forget "$sb"; return 1; }
}
store_size() { kstatus | sed -n 's/.*store size \(-*[0-9]*\).*/\1/p' | head -1; }

# the sendsms receipt options for bench_sms load (KANNEL_DLR)
kdlr=""
dlr_responder() {
    [ "$KANNEL_DLR" = 0 ] && return 0
    "$resp_bin" 127.0.0.1:0 >"$tmp/resp.out" 2>"$tmp/resp.log" &
    rp=$!; pids="$pids $rp"
    wait_for 200 "$rp" has_port http "$tmp/resp.out" || {
        echo "  responder did not start; Kannel asks for no receipts"; KANNEL_DLR=0; return 0; }
    kdlr="--dlr-mask $KANNEL_DLR --dlr-url http://127.0.0.1:$(port_of http "$tmp/resp.out")/dlr"
}

# (a) + (b) for Kannel
kannel_load() {
    d="$tmp/kannel"; rm -rf "$d"; mkdir -p "$d"
    sim_start || return 0
    kannel_conf "$d" "$sport"
    bb_start "$d" || { stop_forget "$sp"; return 0; }
    sb_start "$d" || { stop_forget "$bb" "$sp"; return 0; }
    wait_bound || { echo "  bearerbox did not bind"; stop_forget "$sb" "$bb" "$sp"; return 0; }
    c0=$(ticks "$bb" "$sb")
    r=$("$drv" load --port "$ssp" --clients "$K" --n "$KN" --kannel bench:bench $kdlr --control "$cport" || true)
    r="$r cpu_us=$(cpu_us $(($(ticks "$bb" "$sb") - c0)) "$r")"
    printf '  %-28s %s\n' "Kannel sendsms, store-file" "$r"
    row Kannel load "$r"
    stop_forget "$sb" "$bb" "$sp"
}

# (c) kyzmat: RROWS queued rows, then kyzmatd started with the simulator up
kyzmat_restart() {
    db="$tmp/kz-restart.db"; rm -f "$db" "$db-wal" "$db-shm"
    f=$("$drv" fill "$db" "$RROWS" || true)
    printf '  %-28s %s\n' "kyzmat fill (store_enqueue)" "$f"
    row kyzmat fill "$f"
    [ -n "$f" ] || return 0
    sim_start || return 0
    kyzmat_cfg "$db" normal
    r=$("$drv" restart --control "$cport" --count "$RCOUNT" --timeout "$RTIMEOUT" -- "$gwd" -c "$tmp/gw.yaml" 2>"$tmp/gw.log" || true)
    printf '  %-28s %s\n' "kyzmat restart, $RROWS queued" "$r"
    row kyzmat restart "$r rows=$RROWS"
    stop_forget "$sp"
}

# (c) Kannel: KRROWS posted with no SMSC, bearerbox stopped, the simulator
# started, then bearerbox started again
kannel_restart() {
    d="$tmp/kannel-r"; rm -rf "$d"; mkdir -p "$d"
    dead=$(free_ports 1)   # nothing listens there while filling
    kannel_conf "$d" "$dead"
    bb_start "$d" || return 0
    sb_start "$d" || { stop_forget "$bb"; return 0; }
    r=$("$drv" load --port "$ssp" --clients "$K" --n "$KRROWS" --kannel bench:bench $kdlr || true)
    printf '  %-28s %s\n' "Kannel fill (sendsms, no SMSC)" "$r"
    row Kannel fill "$r"
    sz=$(store_size)
    stop_forget "$sb"
    stop_forget "$bb"
    echo "  Kannel store size before the stop: ${sz:-?}; store file $(du -h "$d/kannel.store" 2>/dev/null | cut -f1)"
    sim_start "127.0.0.1:$dead" || return 0
    if [ -n "$pre" ]; then
        r=$(LD_PRELOAD=$pre "$drv" restart --control "$cport" --count "$RCOUNT" --timeout "$RTIMEOUT" -- /usr/sbin/bearerbox -v 2 "$d/kannel.conf" 2>>"$d/bb.out" || true)
    else
        r=$("$drv" restart --control "$cport" --count "$RCOUNT" --timeout "$RTIMEOUT" -- /usr/sbin/bearerbox -v 2 "$d/kannel.conf" 2>>"$d/bb.out" || true)
    fi
    printf '  %-28s %s\n' "Kannel restart, ${sz:-?} stored" "$r"
    row Kannel restart "$r rows=${sz:-$KRROWS}"
    stop_forget "$sp"
}

echo "== SMS: kyzmat POST /v1/messages vs Kannel 1.4.5 sendsms + store-file (same simulator, same client)"
echo "   machine: $(nproc) CPUs, $(df -T "$tmp" | awk 'NR == 2 {print $2}') under $tmp, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine moves every figure)"
echo "   $K keep-alive HTTP clients, one request each in flight; SMPP window $W both; kyzmat N=$N, Kannel KN=$KN;"
dlr_responder
echo "   Kannel: store-type file, log-level 2, no access-log, TCP_NODELAY shim $( [ -n "$pre" ] && echo on || echo off), dlr-mask $KANNEL_DLR"
if [ "$KANNEL_DLR" = 0 ]; then
    echo "   (no receipts: less work than kyzmat, which asks for one on every submit_sm and stores it; KANNEL_DLR=3 asks);"
else
    echo "   (receipts, as kyzmat asks for on every submit_sm; smsbox calls a local responder with each: more work than kyzmat);"
fi
echo "   its store-file writes each message with fflush and never fsync (gw/bb_store_file.c), so it keeps"
echo "   what a process crash would lose, like kyzmat's synchronous=normal, not what a power cut would"
echo "(a)+(b) accepted/s over HTTP, then submitted/s at the simulator from the load's start:"
case " $PARTS " in *" load "*)
    KC=$K kyzmat_load normal
    KC=$K kyzmat_load full
    # the batch API: BATCH messages per request over 8 clients
    KC=8 kyzmat_load normal "$BATCH"
    KC=8 kyzmat_load full "$BATCH"
    kannel_load ;;
esac
case " $PARTS " in *" scraped "*)
    # issue 11: the same load with /metrics scraped every second, in
    # alternating pairs (unscraped, scraped) so drift on a shared machine
    # shows as a spread between pairs rather than as a cost
    echo "(d) the normal load unscraped and scraped 1/s, $SCRAPE_PAIRS alternating pairs:"
    pair=0      # not i: wait_bound counts with i
    while [ $pair -lt "$SCRAPE_PAIRS" ]; do
        ROW=pair-unscraped KC=$K kyzmat_load normal 1
        KC=$K kyzmat_load normal 1 scraped
        pair=$((pair + 1))
    done ;;
esac
case " $PARTS " in *" restart "*)
    echo "(c) restart: process start -> first submit_sm (and -> $RCOUNT submits):"
    kyzmat_restart
    kannel_restart ;;
esac

echo
awk -F'|' -v rc="$RCOUNT" -v rt="$RTIMEOUT" '
    function f(s, k) { if (match(s, " " k "=[0-9.]+")) return substr(s, RSTART + length(k) + 2, RLENGTH - length(k) - 2); return "" }
    function late(r, k,   v) { v = f(r, k); return v != "" ? v : (r ~ /RESULT/ ? "none in " rt " s" : "") }
    $2 == "load-normal" { ka = f($3, "accept_tput"); ks = f($3, "submit_tput"); kcpu = f($3, "cpu_us") }
    $2 == "load-full"   { fa = f($3, "accept_tput"); fs = f($3, "submit_tput"); fcpu = f($3, "cpu_us") }
    $2 == "batch-normal" { ba = f($3, "accept_tput"); bs = f($3, "submit_tput"); bcpu = f($3, "cpu_us") }
    $2 == "batch-full"   { bfa = f($3, "accept_tput"); bfs = f($3, "submit_tput") }
    $1 == "Kannel" && $2 == "load" { na = f($3, "accept_tput"); ns = f($3, "submit_tput"); ncpu = f($3, "cpu_us") }
    $1 == "kyzmat" && $2 == "fill" { kf = f($3, "rows_per_s") }
    $2 == "pair-unscraped" { np++; ua[np] = f($3, "accept_tput"); us[np] = f($3, "submit_tput"); uc[np] = f($3, "cpu_us") }
    $2 == "load-normal-scraped" { sa[np] = f($3, "accept_tput"); ss[np] = f($3, "submit_tput"); sc[np] = f($3, "cpu_us") }
    $1 == "Kannel" && $2 == "fill" { nf = f($3, "accept_tput") }
    $1 == "kyzmat" && $2 == "restart" { kr = late($3, "first_ms"); kc = late($3, "count_ms"); krows = f($3, "rows") }
    $1 == "Kannel" && $2 == "restart" { nr = late($3, "first_ms"); nc = late($3, "count_ms"); nrows = f($3, "rows"); ngot = f($3, "count") }
    function line(what, k, n, unit) {
        if (k == "" && n == "") return
        printf "%-44s %14s %14s", what, (k == "" ? "-" : k), (n == "" ? "-" : n)
        if (unit == "") ;
        else if (k ~ /^[0-9.]+$/ && n ~ /^[0-9.]+$/ && k + 0 > 0 && n + 0 > 0)
            printf "   %7.1fx", (unit == "ms" ? n / k : k / n)
        else if (unit == "ms" && k ~ /^[0-9.]+$/ && n ~ /^none/)
            printf "   >%6.0fx", rt * 1000 / k
        printf "\n"
    }
    END {
        printf "%-44s %14s %14s   %s\n", "SMS path", "kyzmat", "Kannel", "kyzmat vs Kannel"
        line("accepted/s over HTTP, synchronous=normal", ka, na, "/s")
        line("accepted/s over HTTP, synchronous=full", fa, na, "/s")
        line("accepted/s, batch API, normal", ba, na, "/s")
        line("accepted/s, batch API, full", bfa, na, "/s")
        line("submitted/s, load start -> all (normal)", ks, ns, "/s")
        line("submitted/s, batch API (normal)", bs, ns, "/s")
        line("submitted/s, load start -> all (full)", fs, ns, "/s")
        line("gateway CPU per message, us (normal)", kcpu, ncpu, "ms")
        line("gateway CPU per message, us (full)", fcpu, ncpu, "ms")
        line("gateway CPU per message, us (batch)", bcpu, ncpu, "ms")
        line("restart -> first submit_sm, ms", kr, nr, "ms")
        line("restart -> " rc " submit_sm, ms", kc, nc, "ms")
        line("filling the queue for (c), messages/s", kf, nf, "")
        for (i = 1; i <= np; i++) if (ua[i] > 0 && sa[i] > 0 && uc[i] > 0)
            printf "scraped 1/s vs unscraped, pair %d: accepted/s %s vs %s (%.3f), submitted/s %s vs %s (%.3f), CPU per message %s vs %s us (%.3f)\n",
                i, sa[i], ua[i], sa[i] / ua[i], ss[i], us[i], (us[i] > 0 ? ss[i] / us[i] : 0), sc[i], uc[i], sc[i] / uc[i]
        if (nc ~ /^none/ && ngot != "") printf "(Kannel submitted %s within %s s of its restart)\n", ngot, rt
        if (krows != "" || nrows != "") printf "(queued at restart: kyzmat %s, Kannel %s%s)\n", krows, nrows,
            (krows != nrows ? "; NOT the same count: Kannel can only be filled through sendsms (KRROWS)" : "")
        printf "(CPU per message: kyzmatd, or bearerbox + smsbox, from the load start until all were submitted; not\n"
        printf " the client or the simulator.  CPU and restart ratios are Kannel / kyzmat, throughput ratios kyzmat /\n"
        printf " Kannel.  The fill row has no ratio: kyzmat fills through store_enqueue, Kannel through sendsms with no\n"
        printf " SMSC.  Goals: >= 15,000 accepts/s normal, >= 10,000/s full,\n"
        printf " first submit <= 1 s after a restart with 1,000,000 queued, >= 10x Kannel sendsms.)\n"
    }' "$rows"
