#!/bin/sh
# scripts/check-deps.sh — the layout's nevers, checked on every #include.
#
#   base/       (the floor)        may include base/ only
#   smpp/       (the protocol)     base/, smpp/  — not smpp/sim/
#   smpp/sim/   (the simulator)    base/, smpp/, smpp/sim/
#   menus/      (the menu engine)  base/, menus/
#   gateway/    (the daemon)       base/, smpp/, menus/, gateway/ — not smpp/sim/
#
# A bare name ("pdu.h") is read as the including file's own folder; "../"
# is refused, so a never cannot hide behind a relative path.
# Prints one line per crossing (file:line: what, and what the folder may
# include) and exits 1; prints a one-line summary and exits 0 when clean.
set -eu
cd "$(dirname "$0")/.."

allowed() {   # folder of a source file -> allowed include prefixes
    case "$1" in
        base/*)      echo "base/" ;;
        smpp/sim/*)  echo "base/ smpp/ smpp/sim/" ;;
        smpp/*)      echo "base/ smpp/" ;;
        menus/*)     echo "base/ menus/" ;;
        gateway/*)   echo "base/ smpp/ menus/ gateway/" ;;
        *)           echo "" ;;
    esac
}

bad=0 files=0 incs=0
for f in $(find base smpp menus gateway -name '*.[ch]' 2>/dev/null | sort); do
    files=$((files + 1))
    ok=$(allowed "$f")
    # line number and quoted target of each #include "..."
    for hit in $(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
                 sed 's/^\([0-9]*\):.*"\(.*\)".*/\1:\2/'); do
        incs=$((incs + 1))
        line=${hit%%:*} target=${hit#*:}
        pass=0
        case "$target" in */*) ;; *) target="${f%/*}/$target" ;; esac
        case "$target" in
            ../*|*/../*|*/./*) ;;
            */*)
                for p in $ok; do
                    case "$target" in "$p"*) pass=1 ;; esac
                done
                # smpp/ may not reach into smpp/sim/ (only the simulator may)
                case "$f:$target" in
                    smpp/sim/*) ;;
                    *:smpp/sim/*) pass=0 ;;
                esac ;;
        esac
        if [ "$pass" = 0 ]; then
            never=""
            case "$f" in smpp/sim/*) ;; smpp/*|gateway/*) never=" (never smpp/sim/)" ;; esac
            echo "check-deps: $f:$line includes \"$target\": ${f%%/*}/ may include only: $ok$never" >&2
            bad=$((bad + 1))
        fi
    done
done

if [ "$bad" -gt 0 ]; then
    echo "check-deps: $bad include(s) cross a never (see the table in scripts/check-deps.sh)" >&2
    exit 1
fi
echo "check-deps: ok ($incs project includes in $files files; base/ < smpp/, menus/ < gateway/)"
