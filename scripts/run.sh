#!/bin/sh
# scripts/run.sh — `make run`: the gateway on its embedded defaults with the
# built-in SMSC simulator, and a phone in this terminal.
#
# Starts kyzmat-smsc (SMPP on 127.0.0.1:2775, control on 2776) and kyzmatd
# (the embedded defaults plus the admin listener on 127.0.0.1:8081, written
# to var/run.yaml: binds to that simulator, runs menus/examples),
# waits until the bind is up, publishes demo data through the agencies'
# API (application 12345 of this phone; two service centres with free
# times for passports and ID cards over the next days), then runs the
# simulated handset in the foreground: type *100# and answer the prompts.
# It prints the operators' console's URL and a first login: an account
# "admin" with a random password, made when it does not exist yet (issue
# 10 console; kyzmatd --create-admin NAME makes others).
# Ctrl-D stops everything (both, by pid).
# Logs: var/log/kyzmat-smsc.log, var/log/kyzmatd.log.
# Environment: PHONE (default 996555123456), CONFIG (a kyzmatd config file
# to use instead of the embedded defaults), TLS=1 (the SMPP link over TLS:
# a self-signed certificate for 127.0.0.1 is made once in var/tls/, the
# simulator listens with it and kyzmatd verifies it; issue 13).
set -eu
B=${B:-build}
PHONE=${PHONE:-996555123456}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p var/log

smsc_pid=""
gw_pid=""
stop() {
    [ -n "$gw_pid" ] && kill -TERM "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
    [ -n "$smsc_pid" ] && kill -TERM "$smsc_pid" 2>/dev/null && wait "$smsc_pid" 2>/dev/null || true
}
trap stop EXIT INT TERM

tls_args=""
if [ "${TLS:-0}" = 1 ]; then
    if [ ! -f var/tls/smsc.pem ]; then
        mkdir -p var/tls
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -days 365 -subj /CN=kyzmat-smsc -addext subjectAltName=IP:127.0.0.1 \
            -keyout var/tls/smsc.key -out var/tls/smsc.pem 2>/dev/null ||
            { echo "openssl could not make var/tls/smsc.pem" >&2; exit 1; }
    fi
    tls_args="--tls-cert var/tls/smsc.pem --tls-key var/tls/smsc.key"
fi
"$B/kyzmat-smsc" --listen 127.0.0.1:2775 --control 127.0.0.1:2776 $tls_args \
    >var/log/kyzmat-smsc.out 2>var/log/kyzmat-smsc.log &
smsc_pid=$!
if [ -z "${CONFIG:-}" ]; then
    # the embedded defaults (an empty file gives them) and the console
    printf 'admin: {listen: "127.0.0.1:8081"}\n' >var/run.yaml
    if [ -n "$tls_args" ]; then
        # the embedded link "sim", over TLS, trusting the simulator's certificate
        printf 'smsc:\n  - {name: sim, tls: {enabled: true, ca: var/tls/smsc.pem}}\n' >>var/run.yaml
    fi
    CONFIG=var/run.yaml
fi
"$B/kyzmatd" -c "$CONFIG" 2>var/log/kyzmatd.log &
gw_pid=$!

# Wait (polling, at most 10 s) until the gateway says it is bound.
i=0
until grep -q ' bound' var/log/kyzmatd.log 2>/dev/null; do
    if ! kill -0 "$smsc_pid" 2>/dev/null; then
        echo "kyzmat-smsc did not start (is port 2775 or 2776 in use?):" >&2
        tail -5 var/log/kyzmat-smsc.log >&2; exit 1
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

# Demo data through the agencies' API, with a token made for the occasion:
# application 12345 of this phone is ready; two service centres offer
# passports and ID cards every half hour over the next five days.
cfgarg="-c $CONFIG"
if tok=$("$B/kyzmatd" $cfgarg --create-token demo 2>>var/log/kyzmatd.log); then
    port=$(sed -n 's/.*HTTP API on [0-9.]*:\([0-9]*\).*/\1/p' var/log/kyzmatd.log | tail -1)
    TOKEN="$tok" PORT="$port" PHONE="$PHONE" python3 - <<'PY' || echo "(could not publish the demo data; see var/log/kyzmatd.log)"
import datetime, json, os, urllib.request

def call(path, body):
    req = urllib.request.Request(
        "http://127.0.0.1:%s%s" % (os.environ["PORT"], path), data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + os.environ["TOKEN"],
                 "Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=5).read()

call("/v1/applications/12345/status", {"owner": "+" + os.environ["PHONE"], "status": "ready",
                                       "language": "ky", "notify": False})
call("/v1/offices", {"code": "bishkek-1",
                     "name": {"ky": "Бишкек, 1-борбор", "ru": "Бишкек, центр №1", "en": "Bishkek, centre 1"},
                     "address": {"ky": "Токтогул к. 125", "ru": "ул. Токтогула 125", "en": "125 Toktogul St"}})
call("/v1/offices", {"code": "osh-1",
                     "name": {"ky": "Ош, 1-борбор", "ru": "Ош, центр №1", "en": "Osh, centre 1"},
                     "address": {"ky": "Ленин к. 200", "ru": "ул. Ленина 200", "en": "200 Lenin St"}})
call("/v1/services", {"code": "passport", "name": {"ky": "Паспорт", "ru": "Паспорт", "en": "Passport"}})
call("/v1/services", {"code": "idcard", "name": {"ky": "ID-карта", "ru": "ID-карта", "en": "ID card"}})
today = datetime.date.today()
for d in range(1, 6):
    day = (today + datetime.timedelta(days=d)).isoformat()
    for office in ("bishkek-1", "osh-1"):
        for service in ("passport", "idcard"):
            for h in range(9, 17):
                for m in ("00", "30"):
                    call("/v1/slots", {"office": office, "service": service, "day": day,
                                       "time": "%02d:%s" % (h, m), "capacity": 2})
PY
fi

# The operators' console, when this config has the admin listener.
admin_port=$(sed -n 's/.*\[admin\] listening on [0-9.:a-f]* port \([0-9]*\).*/\1/p' \
    var/log/kyzmatd.log | tail -1)
if [ -n "$admin_port" ]; then
    echo "The operators' console: http://127.0.0.1:$admin_port/console/"
    if made=$("$B/kyzmatd" $cfgarg --create-admin admin --random-password 2>&1); then
        pw=$(printf '%s\n' "$made" | sed -n 's/.* with password \([^ ]*\)$/\1/p')
        echo "  first login: admin / $pw (shown once; change it under Accounts)"
    else
        echo "  log in with an existing account (\"admin\" exists already), or make"
        echo "  one: $B/kyzmatd $cfgarg --create-admin NAME"
    fi
fi

echo "kyzmatd is bound to the simulator (logs in var/log/)."
echo "Application 12345 belongs to this phone (status: ready); try *100# -> 1 -> 12345."
echo "Book a time with *100# -> 2; see, move or cancel it with *100# -> 3."
echo "You are the phone $PHONE. Dial *100# and answer the prompts; Ctrl-D to stop."
"$B/kyzmat-smsc" --phone "$PHONE" --control 127.0.0.1:2776
