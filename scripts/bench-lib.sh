# scripts/bench-lib.sh — what scripts/bench-kannel.sh and scripts/bench-sms.sh
# share; sourced (`. scripts/bench-lib.sh`) after they set B, root, tmp and
# pids="".  Defines: stop_pid, forget_pid, stop_forget, the EXIT/INT/TERM
# traps (every pid in $pids stopped, $tmp removed unless KEEP=1),
# need_bins NAME (kyzmatd, kyzmat-smsc and Kannel present, else exit 0
# with a note), copies of kyzmatd and kyzmat-smsc in $tmp/bin ($gwd, $sim)
# so a rebuild in the shared tree cannot pull them away mid-run,
# build_responder / build_shim (bench/responder.c, scripts/nodelay.c into
# $resp_bin / $shim when missing or older than their source), free_ports
# N, port_of KIND FILE, ticks PID... (user+system CPU ticks), $hz.
# Every process is stopped by its pid, never by name.

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
ticks() { # CPU ticks (user+system) of the pids given; 0 for gone ones
    t=0
    for p in "$@"; do
        v=$(awk '{print $14+$15}' /proc/"$p"/stat 2>/dev/null || echo 0)
        t=$((t + v))
    done
    echo $t
}
hz=$(getconf CLK_TCK)
