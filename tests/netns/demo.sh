#!/bin/bash
# demo.sh: watch sipnat do its job with real SIP peers, on this machine.
#
# Installs what it needs when something is missing (tests/setup-deps.sh),
# builds sipnat (cargo build --release), sets up a
# LAN / router / WAN topology in network namespaces, starts sipnat in the
# router, and lets sipp play a phone on the LAN (10.77.1.2) and a provider on
# the WAN (198.51.100.2): the phone registers with the provider, calls bob on
# the WAN, and takes a call from the WAN. Then it shows what the phone sent
# next to what the WAN saw, and tears everything down.
#
# usage (as root): tests/netns/demo.sh [--keep] [SIPNAT]
#   SIPNAT  the binary to run (default: target/release/sipnat, built first)
#   --keep  keep the logs, sipp traces and pcaps (their directory is printed)
# Needs root (and Rust to build sipnat).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KEEP=0 SIPNAT=""
for a in "$@"; do
    case $a in
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) SIPNAT=$a ;;
    esac
done
for tool in ip ss sipp tcpdump timeout; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "'$tool' is missing: running tests/setup-deps.sh ..."
        bash "$ROOT/tests/setup-deps.sh" || exit 1
        break
    fi
done
if [ -z "$SIPNAT" ]; then
    SIPNAT=$ROOT/target/release/sipnat
    # Always (re)build: cargo does nothing when the binary is up to date,
    # and an old binary must never be demonstrated.
    echo "building sipnat (cargo build --release) ..."
    (cd "$ROOT" && cargo build --release) || exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sipnat-demo.XXXXXX")
[ $KEEP = 1 ] || trap 'rm -rf "$WORK"' EXIT

echo "running the demo (topology up, sipnat, sipp phone and provider, capture, topology down) ..."
"$HERE/run.sh" --keep --workdir "$WORK" demo "$SIPNAT" >"$WORK/run.txt" 2>&1
RC=$?
[ $RC = 77 ] && { cat "$WORK/run.txt"; exit 77; }

B="" N=""
if [ -t 1 ]; then B=$(tput bold 2>/dev/null) N=$(tput sgr0 2>/dev/null); fi

# block FILE sent|received N: the headers of the Nth message sipp sent or
# received, as traced in FILE (-trace_msg), plus its SDP o=, c= and m= lines.
block() {
    awk -v want="$2" -v n="$3" '
        /^UDP message sent/     { k = (want == "sent")     ? k + 1 : k; on = (want == "sent" && k == n); skip = 1; next }
        /^UDP message received/ { k = (want == "received") ? k + 1 : k; on = (want == "received" && k == n); skip = 1; next }
        /^-{20,}/ { on = 0; next }
        on && skip && /^\r?$/ { skip = 0; next }
        on { sub(/\r$/, ""); if ($0 == "") body = 1; if (!body || $0 ~ /^[ocm]=/) print "    " $0 }
        /^-{20,}/ { body = 0 }
    ' "$WORK/$1.msg" 2>/dev/null | awk 'NF || !blank { print } { blank = !NF }'
}

show() { # TITLE FILE DIR N
    echo "${B}$1${N}"
    block "$2" "$3" "$4"
    echo
}

echo
echo "${B}======== 1. The phone registers with its provider through sipnat${N}"
echo
show "The phone (10.77.1.2) sent this REGISTER to its outbound proxy, sipnat at 10.77.1.1:5060:" p_reg sent 1
show "The provider's registrar (198.51.100.2) received it from the router (198.51.100.1):" w_reg received 1
show "And the phone got the registrar's answer back, with its own Contact and Via restored:" p_reg received 1

echo "${B}======== 2. The phone calls bob@198.51.100.2${N}"
echo
show "The phone sent:" p_call sent 1
show "bob's side of the WAN received:" w_call received 1

echo "${B}======== 3. bob calls the phone at the contact the provider knows (sip:alice@198.51.100.1:5060)${N}"
echo
show "The WAN caller sent to the router:" w_caller sent 1
show "sipnat delivered it to the phone's real address:" p_answer received 1

echo "${B}======== What crossed the router's WAN interface (tcpdump on it)${N}"
if [ -s "$WORK/wan.pcap" ]; then
    total=$(tcpdump -nn -r "$WORK/wan.pcap" 2>/dev/null | wc -l)
    sip=$(tcpdump -nn -r "$WORK/wan.pcap" 'udp port 5060' 2>/dev/null | wc -l)
    echo "$total packets, $sip of them SIP. Lines holding the LAN prefix 10.77.1.:"
    tcpdump -nn -r "$WORK/wan.pcap" -A 2>/dev/null | grep '10\.77\.1\.' | sed 's/^/    /' | head -20
    tcpdump -nn -r "$WORK/wan.pcap" -A 2>/dev/null | grep -q '10\.77\.1\.' || echo "    none: no LAN address left the router."
else
    echo "    (no capture)"
fi
echo
echo "${B}======== Verdict${N}"
grep -E "^\[.*\] (ok |FAIL|WARNING|PASS)" "$WORK/run.txt" | sed 's/^\[[^]]*\] /    /'
if [ $RC != 0 ]; then
    echo
    sed -n '/^======== FAIL/,/^$/p' "$WORK/run.txt" | sed 's/^/    /'
    [ $KEEP = 1 ] || echo "    (run again with --keep for the sipnat log, sipp traces and the capture)"
fi
[ $KEEP = 1 ] && echo "kept: $WORK (run.txt, sipnat.log, *.msg sipp traces, wan.pcap)"
exit $RC
