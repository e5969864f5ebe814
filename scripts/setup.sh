#!/bin/sh
# scripts/setup.sh — install the Debian packages kyzmat needs, and only
# those that are missing.  Debian 12; runs apt-get as root (or via sudo).
#
#   scripts/setup.sh           build + run (kyzmatd, kyzmat-smsc)
#   scripts/setup.sh --test    also what the test suite needs
#   scripts/setup.sh --bench   also what `make bench` needs (Kannel, hyperfine)
#
# Also installs the pinned npm test peer (tests/peer, from its lock file:
# the smpp SMSC and puppeteer-core, which drives Debian's chromium)
# with --test.  Idempotent: a second run installs nothing.
set -eu

BUILD="build-essential pkg-config libevent-dev libhiredis-dev libsqlite3-dev \
libcurl4-openssl-dev libfyaml-dev libjansson-dev libssl-dev libsodium-dev \
openssl redis-server python3"
TEST="libcmocka-dev clang libclang-rt-14-dev kannel-dev valgrind nodejs npm prometheus \
redis-sentinel chromium"
BENCH="kannel hyperfine valgrind"

want="$BUILD"
peer=0
for arg in "$@"; do
    case "$arg" in
        --test)  want="$want $TEST"; peer=1 ;;
        --bench) want="$want $TEST $BENCH"; peer=1 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    # A tool that is already on PATH from elsewhere counts as present.
    case "$p" in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm)    command -v npm >/dev/null 2>&1 && continue ;;
        python3) command -v python3 >/dev/null 2>&1 && continue ;;
    esac
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done

if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing$missing"
    $SUDO apt-get update -qq
    # Keep Debian's service scripts from starting redis/kannel daemons:
    # kyzmat starts its own, on its own ports, and stops them by pid.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
else
    echo "setup: all packages present"
fi

if [ "$peer" = 1 ]; then
    cd "$(dirname "$0")/../tests/peer"
    if [ ! -d node_modules/smpp ] || [ ! -d node_modules/puppeteer-core ]; then
        echo "setup: installing the npm test peer (tests/peer, locked)"
        npm ci --no-audit --no-fund --silent
    fi
fi
