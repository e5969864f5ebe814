#!/bin/sh
# scripts/run.sh — `make run`: the gateway on its embedded defaults with the
# built-in SMSC simulator, and a phone in this terminal.
#
# Starts kyzmat-smsc (SMPP on 127.0.0.1:2775, control on 2776), the example
# menus' small back-end (menus/examples/backend.py on 127.0.0.1:8099, the
# address the example menu set calls) and kyzmatd (no -c: embedded
# defaults, binds to that simulator, runs menus/examples), waits until the
# bind is up, then runs the simulated handset in the foreground: type
# *100# and answer the prompts.  Ctrl-D stops everything (all three, by pid).
# Logs: var/log/kyzmat-smsc.log, var/log/backend.log, var/log/kyzmatd.log.
# Environment: PHONE (default 996555123456), CONFIG (a kyzmatd config file
# to use instead of the embedded defaults).
set -eu
B=${B:-build}
PHONE=${PHONE:-996555123456}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p var/log

smsc_pid=""
gw_pid=""
be_pid=""
stop() {
    [ -n "$gw_pid" ] && kill -TERM "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
    [ -n "$smsc_pid" ] && kill -TERM "$smsc_pid" 2>/dev/null && wait "$smsc_pid" 2>/dev/null || true
    [ -n "$be_pid" ] && kill -TERM "$be_pid" 2>/dev/null && wait "$be_pid" 2>/dev/null || true
}
trap stop EXIT INT TERM

"$B/kyzmat-smsc" --listen 127.0.0.1:2775 --control 127.0.0.1:2776 \
    >var/log/kyzmat-smsc.out 2>var/log/kyzmat-smsc.log &
smsc_pid=$!
python3 menus/examples/backend.py 8099 >var/log/backend.out 2>var/log/backend.log &
be_pid=$!
if [ -n "${CONFIG:-}" ]; then
    "$B/kyzmatd" -c "$CONFIG" 2>var/log/kyzmatd.log &
else
    "$B/kyzmatd" 2>var/log/kyzmatd.log &
fi
gw_pid=$!

# Wait (polling, at most 10 s) until the gateway says it is bound.
i=0
until grep -q ' bound' var/log/kyzmatd.log 2>/dev/null; do
    if ! kill -0 "$smsc_pid" 2>/dev/null; then
        echo "kyzmat-smsc did not start (is port 2775 or 2776 in use?):" >&2
        tail -5 var/log/kyzmat-smsc.log >&2; exit 1
    fi
    if ! kill -0 "$be_pid" 2>/dev/null; then
        echo "the example back-end did not start (is port 8099 in use?):" >&2
        tail -5 var/log/backend.log >&2; exit 1
    fi
    if ! kill -0 "$gw_pid" 2>/dev/null; then
        echo "kyzmatd did not start:" >&2; tail -20 var/log/kyzmatd.log >&2; exit 1
    fi
    i=$((i + 1))
    if [ "$i" -gt 200 ]; then
        echo "kyzmatd did not bind within 10 s; see var/log/kyzmatd.log" >&2; exit 1
    fi
    sleep 0.05
done

# A demo application owned by this phone, so "application status" has
# something to find: 12345 is ready (through the agencies' API, with a
# token made for the occasion).
cfgarg=""
[ -n "${CONFIG:-}" ] && cfgarg="-c $CONFIG"
if tok=$("$B/kyzmatd" $cfgarg --create-token demo 2>>var/log/kyzmatd.log); then
    port=$(sed -n 's/.*HTTP API on [0-9.]*:\([0-9]*\).*/\1/p' var/log/kyzmatd.log | tail -1)
    TOKEN="$tok" PORT="$port" PHONE="$PHONE" python3 - <<'PY' || echo "(could not create the demo application; see var/log/kyzmatd.log)"
import json, os, urllib.request
req = urllib.request.Request(
    "http://127.0.0.1:%s/v1/applications/12345/status" % os.environ["PORT"],
    data=json.dumps({"owner": "+" + os.environ["PHONE"], "status": "ready",
                     "language": "ky", "notify": False}).encode(),
    headers={"Authorization": "Bearer " + os.environ["TOKEN"],
             "Content-Type": "application/json"}, method="POST")
urllib.request.urlopen(req, timeout=5).read()
PY
fi

echo "kyzmatd is bound to the simulator (logs in var/log/)."
echo "Application 12345 belongs to this phone (status: ready); try *100# -> 1 -> 12345."
echo "You are the phone $PHONE. Dial *100# and answer the prompts; Ctrl-D to stop."
"$B/kyzmat-smsc" --phone "$PHONE" --control 127.0.0.1:2776
