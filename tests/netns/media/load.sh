#!/bin/bash
# load.sh: sipnat relaying N concurrent calls between the project's load
# generator (sipnat-load) as phone on the LAN and as far end on the WAN, in
# the namespaces of ../topo.sh, by hand (tests/netns_media.rs automates the
# same). Prints both reports' totals, sipnat's CPU time and its SIGUSR1 status.
# Everything it started is stopped and the namespaces removed on exit, also on
# failure or Ctrl-C.
#
# usage: load.sh [options] [SIPNAT [SIPNAT_LOAD]]
#   SIPNAT        sipnat binary (default target/debug/sipnat)
#   SIPNAT_LOAD   load tool (default: examples/sipnat-load next to SIPNAT)
#   --calls N     concurrent calls (default 300)
#   --rate CPS    call setup rate (default 100)
#   --duration S  seconds of RTP per call (default 5)
#   --pps N       RTP packets per second each way per call (default 50)
#   --hold X,Y    hold at X s, resume at Y s of each call
#   --early       far end sends 183 with SDP and early media for --ring-ms 500
#   --nat         far end behind a second NAT (nat.sh), private SDP address
#   --debug MASK  sipnat -d MASK
#   --keep        keep the work dir (reports, sipnat.log)
# exit status: 0 both reports OK, 1 a failure, 2 usage, 77 environment unusable
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CALLS=300 RATE=100 DURATION=5 PPS=50 HOLD="" EARLY=0 NAT=0 DEBUG="" KEEP=0
SIPNAT="" LOADGEN=""
while [ $# -gt 0 ]; do
    case $1 in
        --calls) CALLS=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --pps) PPS=$2; shift ;;
        --hold) HOLD=$2; shift ;;
        --early) EARLY=1 ;;
        --nat) NAT=1 ;;
        --debug) DEBUG=$2; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "load.sh: unknown option $1" >&2; exit 2 ;;
        *) if [ -z "$SIPNAT" ]; then SIPNAT=$1; elif [ -z "$LOADGEN" ]; then LOADGEN=$1;
           else echo "load.sh: too many arguments" >&2; exit 2; fi ;;
    esac
    shift
done
[ "$(id -u)" = 0 ] || { echo "load.sh: must run as root" >&2; exit 77; }
for t in ip ss iptables; do command -v $t >/dev/null || { echo "load.sh: $t missing" >&2; exit 77; }; done
SIPNAT=${SIPNAT:-$ROOT/target/debug/sipnat}
LOADGEN=${LOADGEN:-$(dirname "$SIPNAT")/examples/sipnat-load}
[ -x "$SIPNAT" ] || { echo "load.sh: no sipnat at $SIPNAT (cargo build)" >&2; exit 2; }
[ -x "$LOADGEN" ] || { echo "load.sh: no load tool at $LOADGEN (cargo build --example sipnat-load)" >&2; exit 2; }

ID=$(printf 'l%x%04x' $$ $((RANDOM)))
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sipnat-load.XXXXXX")
PIDS=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ ${#PIDS[@]} -gt 0 ] && kill "${PIDS[@]}" 2>/dev/null && wait "${PIDS[@]}" 2>/dev/null
    [ $NAT = 1 ] && "$HERE/nat.sh" down "$ID"
    "$HERE/../topo.sh" down "$ID"
    if [ $rc = 0 ] && [ $KEEP = 0 ]; then rm -rf "$WORK"; else echo "work dir kept: $WORK"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_udp() { # NS PORT
    local _
    for _ in $(seq 50); do
        ip netns exec "$1" ss -Hlun "sport = :$2" | grep -q . && return 0
        sleep 0.1
    done
    echo "load.sh: nothing listens on UDP $2 in $1" >&2
    return 1
}

"$HERE/../topo.sh" up "$ID" || exit 1
FAR_NS=snw-$ID FAR_IP=198.51.100.2 UAS_EXTRA=()
if [ $NAT = 1 ]; then
    "$HERE/nat.sh" up "$ID" || exit 1
    FAR_NS=snf-$ID FAR_IP=192.168.50.2 UAS_EXTRA=(--contact 198.51.100.2:5060)
fi
cat >"$WORK/sipnat.conf" <<CONF
if_inbound = rlan
if_outbound = rwan
sip_listen_port = 5060
rtp_proxy_enable = 1
rtp_port_low = 20000
rtp_port_high = $((20000 + 4 * CALLS + 99))
registration_file = $WORK/registrations
CONF
ip netns exec "snr-$ID" "$SIPNAT" -f -c "$WORK/sipnat.conf" ${DEBUG:+-d "$DEBUG"} >"$WORK/sipnat.log" 2>&1 &
SIPNAT_PID=$!
PIDS+=("$SIPNAT_PID")
wait_udp "snr-$ID" 5060 || exit 1

[ $EARLY = 1 ] && UAS_EXTRA+=(--early-media --ring-ms 500)
ip netns exec "$FAR_NS" "$LOADGEN" uas --sip $FAR_IP:5060 --media-ip $FAR_IP --calls "$CALLS" \
    --pps "$PPS" --duration-s $((CALLS / RATE + DURATION + 60)) --expect-source 198.51.100.1 \
    --max-loss-pct 0.1 --report "$WORK/uas.json" "${UAS_EXTRA[@]}" >"$WORK/uas.out" 2>&1 &
UAS_PID=$!
PIDS+=("$UAS_PID")
wait_udp "$FAR_NS" 5060 || exit 1

UAC_EXTRA=()
[ -n "$HOLD" ] && UAC_EXTRA=(--hold-at-s "${HOLD%,*}" --resume-at-s "${HOLD#*,}")
echo "load.sh: $CALLS calls at $RATE/s, $DURATION s of RTP at $PPS pps each way (work dir $WORK)"
ip netns exec "snl-$ID" "$LOADGEN" uac --proxy 10.77.1.1:5060 --local 10.77.1.2 \
    --target sip:bob@198.51.100.2 --user 100 --register-to sip:198.51.100.2 \
    --calls "$CALLS" --rate "$RATE" --duration-s "$DURATION" --pps "$PPS" \
    --expect-source 10.77.1.1 --max-loss-pct 0.1 --report "$WORK/uac.json" "${UAC_EXTRA[@]}" \
    >"$WORK/uac.out" 2>&1
UAC_RC=$?
wait $UAS_PID
UAS_RC=$?

read -r -a ST </proc/$SIPNAT_PID/stat
HZ=$(getconf CLK_TCK)
# utime and stime are fields 14 and 15 (the command name has no spaces here)
echo "sipnat CPU: $(( (ST[13] + ST[14]) * 1000 / HZ )) ms (user $(( ST[13] * 1000 / HZ )), system $(( ST[14] * 1000 / HZ )))"
kill -USR1 $SIPNAT_PID
sleep 0.3
for r in uac uas; do
    echo "---- $r (exit status $(eval echo \$${r^^}_RC))"
    sed -n '/"problems"/p; /"calls"/p; /"rtp"/p; /"rtcp"/p' "$WORK/$r.json"
    grep PROBLEM "$WORK/$r.out" | head -5
done
echo "---- sipnat"
grep -A40 'status: ' "$WORK/sipnat.log" | grep -v '^$' | head -40
[ $UAC_RC = 0 ] && [ $UAS_RC = 0 ]
