# scripts/bench-lib.sh — what scripts/bench.sh, scripts/bench-kannel.sh and
# scripts/bench-sms.sh share; sourced (`. "$(dirname "$0")/bench-lib.sh"`)
# after they set B and their own defaults.  Sets root (and cd's there), tmp
# (one mktemp directory) and pids="".  Defines: stop_pid, forget_pid,
# stop_forget, the EXIT/INT/TERM traps (every pid in $pids stopped, $tmp
# removed unless KEEP=1), wait_for TRIES PID COMMAND... (poll every 50 ms),
# has_port KIND FILE, need_bins NAME (kyzmatd, kyzmat-smsc and Kannel
# present, else exit 0 with a note), copies of kyzmatd and kyzmat-smsc in
# $tmp/bin ($gwd, $sim) so a rebuild in the shared tree cannot pull them
# away mid-run, gw_yaml (kyzmatd's config for one bench link),
# kannel_groups and kannel_box (Kannel's core/smsc/smsbox groups and its
# two boxes), build_responder / build_shim (bench/responder.c,
# scripts/nodelay.c into $resp_bin / $shim when missing or older than their
# source), free_ports N, port_of KIND FILE, ticks PID... (user+system CPU
# ticks), $hz.
# Every process is stopped by its pid, never by name.

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
pids=""

stop_pid() { # $1 = pid: TERM, poll up to 15 s, then KILL; reap it
    p=$1
    kill -TERM "$p" 2>/dev/null || return 0
    i=0
    while kill -0 "$p" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 300 ]; then kill -KILL "$p" 2>/dev/null || true; break; fi
        # a child we started and that has exited is a zombie until waited for
        [ "$(awk '{print $3}' /proc/"$p"/stat 2>/dev/null)" = Z ] && break
        sleep 0.05
    done
    wait "$p" 2>/dev/null || true
}
forget_pid() { # $1 = pid: no longer ours to stop at exit
    np=""
    for q in $pids; do [ "$q" = "$1" ] || np="$np $q"; done
    pids=$np
}
stop_forget() { for p in "$@"; do stop_pid "$p"; forget_pid "$p"; done; }
cleanup() {
    for p in $pids; do stop_pid "$p"; done
    if [ "${KEEP:-0}" = 1 ]; then echo "(files kept in $tmp)"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # $1 = tries (50 ms apart), $2 = a pid that must stay alive, then a
    # command: until the command succeeds; 1 when the tries run out or the pid is gone
    wf_n=$1; wf_pid=$2; shift 2
    wf_i=0
    until "$@"; do
        wf_i=$((wf_i + 1))
        if [ $wf_i -gt "$wf_n" ] || ! kill -0 "$wf_pid" 2>/dev/null; then return 1; fi
        sleep 0.05
    done
}

need_bins() { # $1 = the script's name, for the note
    for f in "$B/kyzmatd" "$B/kyzmat-smsc" /usr/sbin/bearerbox /usr/sbin/smsbox; do
        [ -x "$f" ] || { echo "$1: $f missing (make all; apt-get install kannel)"; exit 0; }
    done
    mkdir -p "$tmp/bin" "$B/bench"
    cp "$B/kyzmatd" "$B/kyzmat-smsc" "$tmp/bin/"
    gwd="$tmp/bin/kyzmatd"
    sim="$tmp/bin/kyzmat-smsc"
}

WARN="-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -D_GNU_SOURCE"
resp_bin="$B/bench/bench_responder"
shim="$root/$B/nodelay.so"
build_responder() {
    if [ ! -x "$resp_bin" ] || [ -n "$(find bench/responder.c -newer "$resp_bin")" ]; then
        # shellcheck disable=SC2046,SC2086
        ${CC:-cc} $WARN -O2 -g -o "$resp_bin" bench/responder.c $(pkg-config --cflags --libs libevent)
    fi
}
build_shim() {
    if [ ! -f "$shim" ] || [ -n "$(find scripts/nodelay.c -newer "$shim")" ]; then
        # shellcheck disable=SC2086
        ${CC:-cc} $WARN -O2 -shared -fPIC -o "$shim" scripts/nodelay.c -ldl
    fi
}

free_ports() { # $1 = how many distinct free loopback ports (held together while chosen)
    python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
port_of() { sed -n "s/^listening $1 127.0.0.1:\([0-9]*\)/\1/p" "$2" | head -1; }
has_port() { [ -n "$(port_of "$1" "$2")" ]; }

gw_yaml() { # $1 = SMSC port, $2 = window, $3 = HTTP port (0: any), $4 = the
    # inside of the database map: $tmp/gw.yaml, one link "bench", warnings only
    printf 'log: {level: warn}\nsmsc:\n  - name: bench\n    host: 127.0.0.1\n    port: %s\n    system_id: kyzmat\n    password: secret\n    window: %s\n    tps: 0\n' \
        "$1" "$2" >"$tmp/gw.yaml"
    printf 'http: {listen: "127.0.0.1:%s"}\ndatabase: {%s}\n' "$3" "$4" >>"$tmp/gw.yaml"
}

kannel_groups() { # $1 = dir, $2 = SMSC port, $3 = more lines for the core group:
    # Kannel's core, smsc (one smpp transceiver link, window $W) and smsbox
    # groups on stdout; sets adm, sbp, ssp (admin, smsbox, sendsms ports)
    kg_ports=$(free_ports 3)
    adm=$(echo "$kg_ports" | cut -d' ' -f1); sbp=$(echo "$kg_ports" | cut -d' ' -f2)
    ssp=$(echo "$kg_ports" | cut -d' ' -f3)
    cat <<EOF
group = core
admin-port = $adm
admin-password = bench
admin-allow-ip = "127.0.0.1"
smsbox-port = $sbp
box-allow-ip = "127.0.0.1"
log-file = "$1/bearerbox.log"
log-level = 2
$3
group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = $2
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
log-file = "$1/smsbox.log"
log-level = 2
EOF
}

kannel_box() { # $1 = bearerbox|smsbox, $2 = dir (kannel.conf; output appended
    # to bb.out or sb.out): in the background, LD_PRELOAD=$pre when $pre is set;
    # sets box
    kb_out="$2/sb.out"
    [ "$1" = bearerbox ] && kb_out="$2/bb.out"
    if [ -n "$pre" ]; then
        LD_PRELOAD=$pre "/usr/sbin/$1" -v 2 "$2/kannel.conf" >>"$kb_out" 2>&1 &
    else
        "/usr/sbin/$1" -v 2 "$2/kannel.conf" >>"$kb_out" 2>&1 &
    fi
    box=$!; pids="$pids $box"
}
ticks() { # CPU ticks (user+system) of the pids given; 0 for gone ones
    t=0
    for p in "$@"; do
        v=$(awk '{print $14+$15}' /proc/"$p"/stat 2>/dev/null || echo 0)
        t=$((t + v))
    done
    echo $t
}
hz=$(getconf CLK_TCK)
