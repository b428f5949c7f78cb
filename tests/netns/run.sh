#!/bin/bash
# run.sh: run one sipnat scenario with real peers on real sockets.
#
# Builds a fresh LAN / router / WAN topology in network namespaces (topo.sh),
# starts sipnat in the router namespace, plays the scenario with sipp as phone
# (LAN), registrar and far-end peer (WAN), captures everything on the router's
# WAN interface and then checks that the capture holds SIP but no LAN address
# (10.77.1.x) anywhere: not in an IP header, not in a SIP header, not in a body.
# Everything is torn down on exit, also on failure or Ctrl-C.
#
# usage: run.sh [options] SCENARIO [SIPNAT]
#        run.sh --list | --check-xml
#   SCENARIO     one of --list (see SCENARIOS below)
#   SIPNAT       path of the sipnat binary (default: target/debug/sipnat)
#   --standin    validate the harness without sipnat: scratch topology where the
#                router forwards IP and the phone talks to the WAN peers directly.
#                sipnat-specific sipp checks are relaxed (check_it removed). The
#                run PASSES only if the SIP flows work AND the capture check finds
#                the LAN address (proves that the check bites).
#   --workdir D  put logs, captures and the sipnat config in D (created if
#                needed; default: a fresh mktemp dir)
#   --keep       keep the work dir (by default a mktemp work dir is removed
#                after a pass; a --workdir is always kept)
#   --check-xml  load every scenario file with sipp (well-formedness) and exit
#   --list       print the scenario names and exit
# environment:
#   SIPNAT_NETNS_ALLOW_SDP_LEAK=1  a LAN address found only in SDP lines (o=, c=)
#                is reported as a warning instead of a failure (for a sipnat
#                without the media relay, which is what rewrites SDP)
# exit status: 0 pass, 1 fail, 2 usage, 3 no stand-in for this scenario,
#              77 environment unusable (not root, tool missing, no netns)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SCENARIOS="register-provider register-sipnat call-out call-in call-in-phone-bye cancel reinvite reject restart media demo tcp-register tcp-phone-udp-provider udp-phone-tcp-provider tcp-calls-tn tcp-large-invite"
STANDIN_OK="register-provider call-out call-in call-in-phone-bye cancel reinvite demo"

STANDIN=0 KEEP=0 WORK="" MODE=run SCEN="" SIPNAT=""
while [ $# -gt 0 ]; do
    case $1 in
        --standin) STANDIN=1 ;;
        --keep) KEEP=1 ;;
        --workdir) WORK=${2:?--workdir needs a directory}; shift ;;
        --check-xml) MODE=check-xml ;;
        --list) echo "$SCENARIOS" | tr ' ' '\n'; exit 0 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
        *) if [ -z "$SCEN" ]; then SCEN=$1; elif [ -z "$SIPNAT" ]; then SIPNAT=$1;
           else echo "run.sh: too many arguments" >&2; exit 2; fi ;;
    esac
    shift
done

log() { echo "[$(date +%T.%3N)] $*"; }
FAILS=()
fail() { log "FAIL: $*"; FAILS+=("$*"); }
WARNS=()
warn() { log "WARNING: $*"; WARNS+=("$*"); }

# ---------------------------------------------------------------- preflight
env_unusable() { echo "run.sh: environment unusable for the netns tests: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || env_unusable "must run as root (network namespaces, tcpdump)"
for tool in ip ss sipp tcpdump timeout; do
    command -v $tool >/dev/null 2>&1 ||
        env_unusable "'$tool' not found (run tests/setup-deps.sh as root to install sip-tester iproute2 tcpdump)"
done

# Short unique run ID: PID + random, hex; namespace names carry it.
ID=$(printf '%x%04x' $$ $((RANDOM)))
ip netns add "snp-$ID" 2>/dev/null || env_unusable "'ip netns add' does not work here"
ip netns del "snp-$ID"

if [ "$MODE" = run ]; then
    [ -n "$SCEN" ] || { echo "usage: run.sh [--standin] [--workdir D] [--keep] SCENARIO [SIPNAT]" >&2; exit 2; }
    case " $SCENARIOS " in *" $SCEN "*) ;; *) echo "run.sh: unknown scenario '$SCEN' (try --list)" >&2; exit 2 ;; esac
    if [ $STANDIN = 1 ]; then
        case " $STANDIN_OK " in *" $SCEN "*) ;; *)
            echo "run.sh: '$SCEN' needs sipnat's own answers; it has no stand-in (its XML is checked by --check-xml)"
            exit 3 ;;
        esac
    else
        [ -n "$SIPNAT" ] || SIPNAT=$HERE/../../target/debug/sipnat
        [ -x "$SIPNAT" ] || { echo "run.sh: sipnat binary '$SIPNAT' not found or not executable" >&2; exit 2; }
        SIPNAT=$(cd "$(dirname "$SIPNAT")" && pwd)/$(basename "$SIPNAT")
    fi
fi

if [ -z "$WORK" ]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/sipnat-netns.XXXXXX")
else
    mkdir -p "$WORK" || exit 2
    WORK=$(cd "$WORK" && pwd)
    KEEP=1 # never delete a directory the caller named
fi

NS_L=snl-$ID NS_R=snr-$ID NS_W=snw-$ID
TOPO_UP=0
declare -A BG=()        # name -> pid of every background process we started
declare -A CAP_EXPECT=() # capture name -> sip | nosip
SIPNAT_PID=""
SIPNAT_UP=0

# ------------------------------------------------------------------ cleanup
# Stop what this run started (by PID), then delete its namespaces.
cleanup() {
    local rc=$? name pid
    trap - EXIT INT TERM
    local pids=() i
    for name in "${!BG[@]}"; do pids+=("${BG[$name]}"); done
    if [ ${#pids[@]} -gt 0 ]; then
        kill -TERM "${pids[@]}" 2>/dev/null
        for i in $(seq 20); do
            kill -0 "${pids[@]}" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "${pids[@]}" 2>/dev/null
        wait "${pids[@]}" 2>/dev/null
    fi
    [ $TOPO_UP = 1 ] && "$HERE/topo.sh" down "$ID"
    if [ $rc = 0 ] && [ $KEEP = 0 ]; then rm -rf "$WORK"; else echo "work dir kept: $WORK"; fi
    exit $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ------------------------------------------------------------------ helpers

# wait_udp NS PORT [IP [PID]]: until something listens on UDP PORT in NS (5 s);
# gives up early when process PID is gone.
wait_udp() {
    local i
    for i in $(seq 50); do
        ip netns exec "$1" ss -Hlun "sport = :$2" 2>/dev/null | grep -q "${3:-}" && return 0
        [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
        sleep 0.1
    done
    return 1
}

# wait_tcp NS PORT [IP [PID]]: the same for a TCP listener.
wait_tcp() {
    local i
    for i in $(seq 50); do
        ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q "${3:-}" && return 0
        [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
        sleep 0.1
    done
    return 1
}

# bg_wait NAME SECONDS: wait for background job NAME and return its exit
# status; one that overstays is stopped and gets 124 (as with timeout(1)).
bg_wait() {
    local name=$1 pid=${BG[$1]} i rc killed=0
    for i in $(seq $(($2 * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        killed=1
        log "$name still running after $2 s: stopping it"
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 10); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid"; rc=$?
    unset "BG[$name]"
    [ $killed = 1 ] && return 124
    return $rc
}

# Scenario files: the real ones, or relaxed copies in stand-in mode.
SCN=$HERE/scenarios
relax_scenarios() {
    mkdir -p "$WORK/scenarios"
    local f
    for f in "$HERE"/scenarios/*.xml; do
        sed -e 's/ check_it="true"//g; s/ check_it_inverse="true"//g' "$f" >"$WORK/scenarios/$(basename "$f")"
    done
    SCN=$WORK/scenarios
}

# ------------------------------------------------------------------ transports
# SIP over TCP (issue 10). Each side's sipp runs with `-t $T_LAN` / `-t $T_WAN`:
# u1 (UDP), t1 (one TCP connection, also the listening socket of a UAS) or tn
# (a TCP connection per call). The tcp-* scenarios call `transports` before
# each step; it points SCN at copies of the scenario files whose checks expect
# those transports (made once per combination in the work dir):
#   LAN side TCP: the phone's Via and sipnat's Via toward the phone say TCP,
#     and sipnat's Record-Route toward the phone says transport=tcp.
#   WAN side TCP: sipnat's Via on the WAN says TCP, its Record-Route and the
#     masqueraded Contact say transport=tcp; the far end's own Contact says
#     transport=tcp (what a TCP user agent writes, so in-dialog requests find it
#     over TCP), and the phone sees that Contact untouched.
#   uri-tcp: the phone names the WAN hop with ;transport=tcp (REGISTER and
#     INVITE Request-URI), and the far end sees that Request-URI untouched.
#   tn: sipp's own port in its Via and Contact is the call's connection's.
#   large: the phone's INVITE carries an X-Padding header (-key padding) that
#     makes it larger than 1,300 bytes (RFC 3261 section 18.1.1).
# Plain perl with \Q...\E: fixed strings, no regex escaping to get wrong.
T_LAN=u1 T_WAN=u1
declare -A SCN_MADE=() # the copies made by this run
subst() { # subst FILE FROM TO
    F=$2 T=$3 perl -pi -e 'BEGIN { $f = $ENV{F}; $t = $ENV{T} } s/\Q$f\E/$t/g' "$1"
}
# With a connection per call, sipp's [local_port] (its Via and Contact) is the
# call's ephemeral port, not 5060.
tn_ports() {
    subst "$1" ':5060;branch=' ':[0-9]+;branch='
    subst "$1" '[0-9]+:5060"' '[0-9]+:[0-9]+"'
}
transports() { # transports LAN WAN [uri-tcp] [large]
    T_LAN=$1 T_WAN=$2
    local uri=0 large=0 a f
    for a in "${@:3}"; do
        case $a in uri-tcp) uri=1 ;; large) large=1 ;; *) fail "transports: bad flag $a"; return 1 ;; esac
    done
    if [ "$T_LAN$T_WAN$uri$large" = u1u100 ]; then SCN=$HERE/scenarios; return 0; fi
    SCN=$WORK/scenarios-$T_LAN-$T_WAN-$uri$large
    [ -n "${SCN_MADE[$SCN]:-}" ] && return 0
    SCN_MADE[$SCN]=1
    rm -rf "$SCN" && mkdir -p "$SCN" && cp "$HERE"/scenarios/*.xml "$SCN"/ || return 1
    for f in "$SCN"/p_*.xml; do
        [ "$T_LAN" = tn ] && tn_ports "$f"
        if [ "$T_LAN" != u1 ]; then
            subst "$f" '0/UDP 10\.77' '0/TCP 10\.77'
            subst "$f" 'regexp="sip:" search_in="hdr" header="Record-Route:"' \
                'regexp="^ *&lt;sip:10\.77\.1\.1[^>]*;transport=tcp[;>]" search_in="hdr" header="Record-Route:"'
            subst "$f" 'regexp="10\.77\.1\.1" search_in="hdr" header="Record-Route:"' \
                'regexp="10\.77\.1\.1[^>]*;transport=tcp[;>]" search_in="hdr" header="Record-Route:"'
        fi
        if [ "$T_WAN" != u1 ]; then
            subst "$f" '&lt;sip:bob@198\.51\.100\.2:5060>' '&lt;sip:bob@198\.51\.100\.2:5060;transport=tcp>'
        fi
        if [ $uri = 1 ]; then
            subst "$f" 'INVITE sip:[service]@198.51.100.2:5060 SIP/2.0' 'INVITE sip:[service]@198.51.100.2:5060;transport=tcp SIP/2.0'
            subst "$f" 'REGISTER sip:[registrar] SIP/2.0' 'REGISTER sip:[registrar];transport=tcp SIP/2.0'
        fi
        if [ $large = 1 ]; then
            subst "$f" 'User-Agent: sipnat-netns-phone' "User-Agent: sipnat-netns-phone
      X-Padding: [padding]"
        fi
    done
    for f in "$SCN"/w_*.xml; do
        [ "$T_WAN" = tn ] && tn_ports "$f"
        if [ "$T_WAN" != u1 ]; then
            subst "$f" '0/UDP 198\.51' '0/TCP 198\.51'
            subst "$f" 'Contact: <sip:bob@[local_ip]:[local_port]>' 'Contact: <sip:bob@[local_ip]:[local_port];transport=tcp>'
            subst "$f" '@198\.51\.100\.1:5060[;>]' '@198\.51\.100\.1:5060;transport=tcp[;>]'
            subst "$f" 'regexp="198\.51\.100\.1" search_in="hdr" header="Record-Route:"' \
                'regexp="198\.51\.100\.1[^>]*;transport=tcp[;>]" search_in="hdr" header="Record-Route:"'
        fi
        if [ $uri = 1 ]; then
            subst "$f" '^INVITE sip:bob@198\.51\.100\.2:5060 SIP' '^INVITE sip:bob@198\.51\.100\.2:5060;transport=tcp SIP'
        fi
    done
}

# The sipp transport of namespace NS (see `transports`).
transport_of() { if [ "$1" = "$NS_L" ]; then echo "$T_LAN"; else echo "$T_WAN"; fi; }

# wait_listen NS IP: until a sipp UAS listens on IP:5060 in NS with the
# transport of that side.
wait_listen() {
    case $(transport_of "$1") in
        u1) wait_udp "$1" 5060 "$2" ;;
        *) wait_tcp "$1" 5060 "$2" ;;
    esac
}

# sipp_start NAME NS XML LOCAL_IP REMOTE [sipp args...]   (REMOTE "" for a UAS)
sipp_start() {
    local name=$1 ns=$2 xml=$3 ip=$4 remote=$5
    shift 5
    local t
    t=$(transport_of "$ns")
    local args=(-sf "$SCN/$xml" -i "$ip" -p 5060 -m 1 -nostdin -t "$t"
        -timeout 15s -timeout_error -recv_timeout 5000
        -trace_msg -message_file "$WORK/$name.msg"
        -trace_err -error_file "$WORK/$name.err"
        -trace_logs -log_file "$WORK/$name.log"
        "$@")
    # sipp -t tn refuses to start when its socket limit (50,000) passes the
    # open-file limit.
    [ "$t" = tn ] && args+=(-max_socket 64)
    [ -n "$remote" ] && args+=("$remote")
    echo "ip netns exec $ns sipp ${args[*]}" >"$WORK/$name.cmd"
    ip netns exec "$ns" sipp "${args[@]}" >"$WORK/$name.out" 2>&1 &
    BG[$name]=$!
}

SIPP_FAILED=()
UAS_ARGS=()
# sipp_done NAME SECONDS WHAT: wait for sipp NAME and report it.
sipp_done() {
    local rc
    bg_wait "$1" "$2"; rc=$?
    if [ $rc = 0 ]; then
        log "ok    $1: $3"
    else
        if [ $rc = 124 ]; then
            fail "$1: $3 (sipp did not finish within $2 s: stopped; see $1.err / $1.msg)"
        else
            fail "$1: $3 (sipp exit status $rc; see $1.err / $1.msg)"
        fi
        SIPP_FAILED+=("$1")
        return 1
    fi
}

# pair UAS_NAME UAS_NS UAS_XML UAS_IP UAS_WHAT  UAC_NAME UAC_NS UAC_XML UAC_IP UAC_REMOTE UAC_WHAT [UAC args...]
# (extra sipp arguments for the UAS: the array UAS_ARGS)
# Starts the sipp UAS, waits until it listens, runs the sipp UAC to the end,
# then waits for the UAS (a short grace only when the UAC already failed).
pair() {
    local sn=$1 sns=$2 sx=$3 sip=$4 swhat=$5 cn=$6 cns=$7 cx=$8 cip=$9 cremote=${10} cwhat=${11}
    shift 11
    sipp_start "$sn" "$sns" "$sx" "$sip" "" "${UAS_ARGS[@]}"
    if ! wait_listen "$sns" "$sip"; then
        fail "$sn: sipp UAS did not start listening on $sip:5060 ($(transport_of "$sns"))"
        return 1
    fi
    sipp_start "$cn" "$cns" "$cx" "$cip" "$cremote" "$@"
    local crc=0
    sipp_done "$cn" 20 "$cwhat" || crc=1
    if [ $crc = 0 ]; then sipp_done "$sn" 10 "$swhat"; else sipp_done "$sn" 1 "$swhat"; fi || return 1
    return $crc
}

# ------------------------------------------------------------------ sipnat
sipnat_start() {
    cat >"$WORK/sipnat.conf" <<EOF
# sipnat under test (siproxd.conf syntax), written by tests/netns/run.sh
if_inbound  = rlan
if_outbound = rwan
sip_listen_port = 5060
registration_file = $WORK/registrations
EOF
    echo "ip netns exec $NS_R $SIPNAT -f -c $WORK/sipnat.conf -d 255" >"$WORK/sipnat.cmd"
    echo "==== $(date +%T.%3N) starting: $(cat "$WORK/sipnat.cmd")" >>"$WORK/sipnat.log"
    ip netns exec "$NS_R" "$SIPNAT" -f -c "$WORK/sipnat.conf" -d 255 >>"$WORK/sipnat.log" 2>&1 &
    SIPNAT_PID=$!
    BG[sipnat]=$SIPNAT_PID
    SIPNAT_UP=0
    if ! wait_udp "$NS_R" 5060 "" "$SIPNAT_PID"; then
        if kill -0 "$SIPNAT_PID" 2>/dev/null; then
            fail "sipnat does not listen on UDP port 5060 in the router namespace after 5 s"
        else
            wait "$SIPNAT_PID"
            fail "sipnat exited at start with status $? (see sipnat.log)"
            unset "BG[sipnat]"
        fi
        return 1
    fi
    SIPNAT_UP=1
    log "sipnat runs in $NS_R (pid $SIPNAT_PID)"
}

# sipnat_stop: it must still be alive (a crash during the scenario is a failure).
sipnat_stop() {
    [ -n "$SIPNAT_PID" ] && [ -n "${BG[sipnat]:-}" ] || return 0
    if ! kill -0 "$SIPNAT_PID" 2>/dev/null; then
        wait "$SIPNAT_PID"
        fail "sipnat died during the scenario (exit status $?; see sipnat.log)"
        unset "BG[sipnat]"
        return 1
    fi
    # SIGUSR1 makes sipnat log its counters (drop reasons): useful in sipnat.log
    if [ "$SIPNAT_UP" = 1 ]; then
        kill -USR1 "$SIPNAT_PID"
        sleep 0.2
    fi
    kill -TERM "$SIPNAT_PID" 2>/dev/null
    local rc
    bg_wait sipnat 3; rc=$?
    if [ $rc = 124 ]; then
        fail "sipnat did not stop within 3 s of SIGTERM (killed)"
        return 1
    elif [ $rc != 0 ]; then
        fail "sipnat exited with status $rc on SIGTERM (a clean stop is 0; see sipnat.log)"
        return 1
    fi
    log "sipnat stopped cleanly"
}

# ------------------------------------------------------------------ captures
# cap_start NAME EXPECT [IFACE]: tcpdump on the router's WAN interface (or
# IFACE) into NAME.pcap. EXPECT is "sip" (SIP must have crossed) or "nosip"
# (nothing SIP may have crossed; a canary datagram proves the capture itself
# worked) or "lan" (the LAN side: no checks, the scenario reads it).
cap_start() {
    local name=$1 i
    CAP_EXPECT[$name]=$2
    ip netns exec "$NS_R" tcpdump -i "${3:-rwan}" -nn -U --immediate-mode -s 0 -Z root -w "$WORK/$name.pcap" \
        >"$WORK/$name.tcpdump.log" 2>&1 &
    BG[cap_$name]=$!
    for i in $(seq 50); do
        grep -q "listening on" "$WORK/$name.tcpdump.log" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "tcpdump did not start on the router's ${3:-rwan} interface (see $name.tcpdump.log)"
    return 1
}

cap_stop() {
    local pid=${BG[cap_$1]:-}
    [ -n "$pid" ] || return 0
    sleep 0.2 # let the last datagrams of the scenario reach the capture
    kill -INT "$pid" 2>/dev/null
    bg_wait "cap_$1" 3
}

# A datagram from the router itself to the discard port of the provider: it
# proves the capture works when no SIP is expected. It holds no LAN address.
canary() {
    ip netns exec "$NS_R" bash -c 'echo sipnat-netns-canary >/dev/udp/198.51.100.2/9' 2>/dev/null
}

# cap_check NAME: the capture is non-empty, has SIP (or none, as expected) and no
# packet holds the LAN prefix, in its IP header (tcpdump's summary line) or its
# payload (tcpdump -A). Returns 1 when a LAN address was found. Over TCP this
# looks at one segment at a time: an address split across two segments would
# escape it; tests/netns.rs reassembles every TCP stream and checks it whole.
LEAKED=0
cap_check() {
    local name=$1 pcap=$WORK/$1.pcap expect=${CAP_EXPECT[$1]} nall nsip leaks other
    if [ ! -s "$pcap" ]; then
        fail "capture $name.pcap is missing or empty"
        return 0
    fi
    nall=$(tcpdump -nn -r "$pcap" 2>/dev/null | wc -l)
    nsip=$(tcpdump -nn -r "$pcap" 'port 5060' 2>/dev/null | wc -l)
    tcpdump -nn -r "$pcap" -A >"$WORK/$name.txt" 2>/dev/null
    if [ ${#FAILS[@]} = 0 ]; then
        if [ "$expect" = sip ] && [ "$nsip" = 0 ]; then
            fail "capture $name: no SIP packet crossed the router's WAN interface ($nall packets in all)"
        elif [ "$expect" = nosip ] && [ "$nsip" != 0 ]; then
            fail "capture $name: $nsip SIP packets went out on the WAN where sipnat should have answered itself"
        elif [ "$nall" = 0 ]; then
            fail "capture $name holds no packet at all"
        fi
    fi
    leaks=$(grep -n '10\.77\.1\.' "$WORK/$name.txt")
    if [ -z "$leaks" ]; then
        log "      capture $name: $nall packets ($nsip SIP) on the WAN, no LAN address in any of them"
        return 0
    fi
    LEAKED=1
    # lines that are not SDP (v=, o=, c=, m=, a= ...) are header or IP leaks
    other=$(echo "$leaks" | grep -vE '^[0-9]+:[a-z]=')
    local msg="capture $name: the LAN prefix 10.77.1. left the router"
    if [ $STANDIN = 1 ]; then
        log "ok    capture $name: LAN address visible on the WAN, as expected without sipnat ($(echo "$leaks" | wc -l) lines)"
        return 1
    fi
    if [ -z "$other" ] && [ "${SIPNAT_NETNS_ALLOW_SDP_LEAK:-0}" = 1 ]; then
        warn "$msg in SDP lines only (allowed by SIPNAT_NETNS_ALLOW_SDP_LEAK=1):"
    elif [ -z "$other" ]; then
        fail "$msg in SDP lines only (o=/c=: the media relay rewrites those; SIPNAT_NETNS_ALLOW_SDP_LEAK=1 tolerates this):"
    else
        fail "$msg ($(echo "$other" | wc -l) non-SDP lines):"
    fi
    echo "$leaks" | head -20 | sed 's/^/    /'
    return 1
}

# ------------------------------------------------------------------ steps
if [ $STANDIN = 1 ]; then
    PHONE_PROXY=198.51.100.2:5060 # the phone talks to the WAN directly
    ROUTER_WAN=10.77.1.2:5060      # the WAN calls the phone directly
else
    PHONE_PROXY=10.77.1.1:5060     # sipnat is the phone's outbound proxy
    ROUTER_WAN=198.51.100.1:5060   # the masqueraded contact is at the router
fi

# register USER IP: the phone REGISTERs sip:198.51.100.2 through sipnat.
register() {
    pair w_reg "$NS_W" w_registrar.xml 198.51.100.2 "registrar got REGISTER (Contact masqueraded, LAN hidden), answered 200" \
        p_reg "$NS_L" p_register.xml "$2" "$PHONE_PROXY" \
        "phone $1@$2 REGISTER sip:198.51.100.2 via $PHONE_PROXY, 200 OK with its own Contact/Via" \
        -key user "$1" -key registrar 198.51.100.2
}

# 1 register-via-provider
sc_register-provider() {
    register alice 10.77.1.2
}

# 2 sipnat as registrar: nothing may go out on the WAN
sc_register-sipnat() {
    sipp_start p_reg "$NS_L" p_register.xml 10.77.1.2 10.77.1.1:5060 -key user alice -key registrar 10.77.1.1
    sipp_done p_reg 20 "phone alice@10.77.1.2 REGISTER sip:10.77.1.1, sipnat answered 200 with the phone's Contact" || return 1
    canary
}

# 3 outgoing call
sc_call-out() {
    register alice 10.77.1.2 || return 1
    pair w_call "$NS_W" w_answer.xml 198.51.100.2 "far end bob answered INVITE (LAN hidden), got ACK and BYE" \
        p_call "$NS_L" p_call_out.xml 10.77.1.2 "$PHONE_PROXY" \
        "phone called sip:bob@198.51.100.2:5060: 180/200, ACK, BYE/200" \
        -key user alice -key registrar 198.51.100.2 -s bob
}

# 4 incoming call, the WAN caller hangs up
sc_call-in() {
    register alice 10.77.1.2 || return 1
    pair p_answer "$NS_L" p_answer.xml 10.77.1.2 "phone got INVITE at its real contact, answered, got ACK and BYE" \
        w_call "$NS_W" w_call_in.xml 198.51.100.2 "$ROUTER_WAN" \
        "WAN called sip:alice@198.51.100.1:5060: 200 (Contact masqueraded), ACK, BYE/200" \
        -s alice
}

# 4b incoming call, the phone hangs up
sc_call-in-phone-bye() {
    register alice 10.77.1.2 || return 1
    pair p_answer "$NS_L" p_answer_hangup.xml 10.77.1.2 "phone answered INVITE, sent BYE along the route set, got 200" \
        w_call "$NS_W" w_call_in_wait_bye.xml 198.51.100.2 "$ROUTER_WAN" \
        "WAN called sip:alice@198.51.100.1:5060: 200, ACK, got the phone's BYE (LAN hidden)" \
        -s alice
}

# 5 CANCEL of a ringing outgoing call
sc_cancel() {
    register alice 10.77.1.2 || return 1
    pair w_cancel "$NS_W" w_cancel.xml 198.51.100.2 "far end rang, got CANCEL and ACK with the INVITE's branch" \
        p_cancel "$NS_L" p_cancel.xml 10.77.1.2 "$PHONE_PROXY" \
        "phone: INVITE, 180, CANCEL/200, 487, ACK" \
        -key user alice -key registrar 198.51.100.2 -s bob
}

# 6 re-INVITEs both ways inside an established call
sc_reinvite() {
    register alice 10.77.1.2 || return 1
    pair w_reinvite "$NS_W" w_reinvite.xml 198.51.100.2 "far end: answered, accepted re-INVITE, sent its own re-INVITE, got BYE" \
        p_reinvite "$NS_L" p_reinvite.xml 10.77.1.2 "$PHONE_PROXY" \
        "phone: call, re-INVITE out, re-INVITE in (restored To/R-URI), BYE" \
        -key user alice -key registrar 198.51.100.2 -s bob
}

# 8 restart: sipnat keeps the registration in registration_file; after a
# restart an incoming call still reaches the phone, which did not re-register.
sc_restart() {
    register alice 10.77.1.2 || return 1
    sipnat_stop || return 1
    if ! grep -q "alice" "$WORK/registrations" 2>/dev/null; then
        fail "sipnat did not save alice's registration in registration_file ($WORK/registrations)"
        return 1
    fi
    log "ok    registration_file holds alice's binding after the stop"
    sipnat_start || return 1
    pair p_answer "$NS_L" p_answer.xml 10.77.1.2 "phone got INVITE at its real contact, answered, got ACK and BYE" \
        w_call "$NS_W" w_call_in.xml 198.51.100.2 "$ROUTER_WAN" \
        "after the restart, WAN called sip:alice@198.51.100.1:5060: 200 (Contact masqueraded), ACK, BYE/200" \
        -s alice
}

# 9 media: an outgoing call whose RTP goes through sipnat's relay. The phone
# streams 1 s of PCMU (50 packets) to the address of the SDP answer it got; the
# far end echoes every packet (sipp -rtp_echo) to where it came from.
sc_media() {
    head -c 8000 /dev/zero | tr '\0' '\377' >"$WORK/silence.ulaw" # 1 s of u-law silence
    cap_start lan lan rlan || return 1
    register alice 10.77.1.2 || return 1
    UAS_ARGS=(-rtp_echo)
    pair w_call "$NS_W" w_answer.xml 198.51.100.2 "far end bob answered INVITE, echoed RTP, got BYE" \
        p_call "$NS_L" p_call_media.xml 10.77.1.2 "$PHONE_PROXY" \
        "phone called bob, streamed 1 s of RTP, hung up" \
        -key user alice -key registrar 198.51.100.2 -s bob
    local rc=$?
    UAS_ARGS=()
    POST_CHECK=media_check
    return $rc
}

# rtp_count NAME FILTER: UDP packets of capture NAME matching the pcap FILTER.
rtp_count() {
    tcpdump -nn -r "$WORK/$1.pcap" "udp and not port 5060 and ($2)" 2>/dev/null | wc -l
}

media_check() {
    local out back lan
    out=$(rtp_count wan "src host 198.51.100.1 and dst host 198.51.100.2 and dst port 6000")
    back=$(rtp_count wan "src host 198.51.100.2 and src port 6000 and dst host 198.51.100.1")
    lan=$(rtp_count lan "src host 10.77.1.1 and dst host 10.77.1.2 and dst port 6000")
    log "      RTP: $out packets router->far end, $back far end->router (echo), $lan router->phone"
    [ "$out" -ge 40 ] || fail "RTP: only $out of the phone's 50 packets left the router for the far end (198.51.100.2:6000)"
    [ "$back" -ge 40 ] || fail "RTP: only $back echoed packets from the far end reached the router"
    [ "$lan" -ge 40 ] || fail "RTP: only $lan of the echoed packets reached the phone (10.77.1.2:6000) from the router"
}

# demo (tests/netns/demo.sh): registration, an outgoing and an incoming call,
# all with one sipnat.
sc_demo() {
    register alice 10.77.1.2 || return 1
    pair w_call "$NS_W" w_answer.xml 198.51.100.2 "far end bob answered INVITE (LAN hidden), got ACK and BYE" \
        p_call "$NS_L" p_call_out.xml 10.77.1.2 "$PHONE_PROXY" \
        "phone called sip:bob@198.51.100.2:5060: 180/200, ACK, BYE/200" \
        -key user alice -key registrar 198.51.100.2 -s bob || return 1
    pair p_answer "$NS_L" p_answer.xml 10.77.1.2 "phone got INVITE at its real contact, answered, got ACK and BYE" \
        w_caller "$NS_W" w_call_in.xml 198.51.100.2 "$ROUTER_WAN" \
        "WAN called sip:alice@198.51.100.1:5060: 200 (Contact masqueraded), ACK, BYE/200" \
        -s alice
}

# ------------------------------------------------------------------ SIP over TCP
# (issue 10; the transports of each step: see `transports` above)

# syn_count CAPTURE FILTER: connections opened (SYN without ACK) in the
# capture that match the pcap FILTER.
syn_count() {
    tcpdump -nn -r "$WORK/$1.pcap" "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and ($2)" 2>/dev/null | wc -l
}

# status_counter NAME: the value of counter NAME in the last status sipnat
# logged (sipnat_stop asks for one with SIGUSR1); 0 when absent.
status_counter() {
    awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }' "$WORK/sipnat.log"
}

# 10 TCP phone, TCP provider: the phone REGISTERs sip:198.51.100.2;transport=tcp
# over its connection to sipnat; sipnat opens one to the registrar.
sc_tcp-register() {
    transports t1 t1 uri-tcp || return 1
    register alice 10.77.1.2
}

# 11 TCP phone, UDP provider: register, call out (the phone hangs up), call in
# (the WAN hangs up; sipnat connects to the phone's registered address).
sc_tcp-phone-udp-provider() {
    transports t1 u1 || return 1
    register alice 10.77.1.2 || return 1
    pair w_call "$NS_W" w_answer.xml 198.51.100.2 "UDP far end bob answered the TCP phone's INVITE, got ACK and BYE" \
        p_call "$NS_L" p_call_out.xml 10.77.1.2 "$PHONE_PROXY" \
        "TCP phone called sip:bob@198.51.100.2:5060 (UDP): 180/200, ACK, BYE/200" \
        -key user alice -key registrar 198.51.100.2 -s bob || return 1
    pair p_answer "$NS_L" p_answer.xml 10.77.1.2 "TCP phone got the INVITE at its real contact over TCP, answered, got ACK and BYE" \
        w_caller "$NS_W" w_call_in.xml 198.51.100.2 "$ROUTER_WAN" \
        "UDP caller on the WAN called sip:alice@198.51.100.1:5060: 200, ACK, BYE/200" \
        -s alice
}

# 12 UDP phone, TCP provider: register and call out with ;transport=tcp in the
# Request-URI; calls in from the WAN over TCP: one connection per call (sipp
# -t tn, two calls, the WAN hangs up), then one connection (t1) and the phone
# hangs up (its BYE reaches the caller over the caller's connection).
sc_udp-phone-tcp-provider() {
    transports u1 t1 uri-tcp || return 1
    register alice 10.77.1.2 || return 1
    pair w_call "$NS_W" w_answer.xml 198.51.100.2 "TCP far end bob answered the UDP phone's INVITE, got ACK and BYE" \
        p_call "$NS_L" p_call_out.xml 10.77.1.2 "$PHONE_PROXY" \
        "UDP phone called sip:bob@198.51.100.2:5060;transport=tcp: 180/200, ACK, BYE/200" \
        -key user alice -key registrar 198.51.100.2 -s bob || return 1
    transports u1 tn uri-tcp || return 1
    UAS_ARGS=(-m 2)
    pair p_answer "$NS_L" p_answer.xml 10.77.1.2 "UDP phone answered two calls that came in over TCP, got ACK and BYE" \
        w_caller "$NS_W" w_call_in.xml 198.51.100.2 "$ROUTER_WAN" \
        "TCP caller (a connection per call) called sip:alice@198.51.100.1:5060 twice: 200, ACK, BYE/200" \
        -s alice -m 2 || { UAS_ARGS=(); return 1; }
    UAS_ARGS=()
    transports u1 t1 uri-tcp || return 1
    pair p_hangup "$NS_L" p_answer_hangup.xml 10.77.1.2 "UDP phone answered a call that came in over TCP, hung up, got 200" \
        w_caller2 "$NS_W" w_call_in_wait_bye.xml 198.51.100.2 "$ROUTER_WAN" \
        "TCP caller called sip:alice@198.51.100.1:5060: 200, ACK, got the phone's BYE over its connection" \
        -s alice
}

# 13 TCP phone with a connection per call (sipp -t tn): four calls to a TCP far
# end. Each call's answers go back over its own connection (sipnat never
# connects to the phone), and sipnat carries all four calls over one
# connection to the far end.
sc_tcp-calls-tn() {
    cap_start lan lan rlan || return 1
    transports tn t1 uri-tcp || return 1
    register alice 10.77.1.2 || return 1
    UAS_ARGS=(-m 4)
    pair w_call "$NS_W" w_answer.xml 198.51.100.2 "TCP far end answered four calls, got their ACKs and BYEs" \
        p_call "$NS_L" p_call_out.xml 10.77.1.2 "$PHONE_PROXY" \
        "TCP phone (a connection per call) called bob four times: 180/200, ACK, BYE/200" \
        -key user alice -key registrar 198.51.100.2 -s bob -m 4
    local rc=$?
    UAS_ARGS=()
    POST_CHECK=tn_check
    return $rc
}

tn_check() {
    local wan lan back
    wan=$(syn_count wan "src host 198.51.100.1 and dst host 198.51.100.2 and dst port 5060")
    lan=$(syn_count lan "src host 10.77.1.2 and dst host 10.77.1.1 and dst port 5060")
    back=$(syn_count lan "src host 10.77.1.1")
    log "      TCP connections opened: $lan by the phone, $back by sipnat toward the LAN, $wan by sipnat toward the far end"
    [ "$lan" = 5 ] || fail "the phone (sipp -t tn) opened $lan connections, expected 5 (its REGISTER and four calls)"
    [ "$back" = 0 ] || fail "sipnat opened $back connections toward the LAN: answers must go back over the phone's own connections"
    [ "$wan" = 2 ] || fail "sipnat opened $wan connections to the WAN, expected 2 (one to the registrar, one for all four calls)"
}

# 14 a request too large for UDP (RFC 3261 section 18.1.1): the UDP phone's
# INVITE grows past 1,300 bytes, so sipnat sends it to the WAN over TCP; the
# far end listens on TCP only, so the call completes only if it did.
sc_tcp-large-invite() {
    register alice 10.77.1.2 || return 1
    transports u1 t1 large || return 1
    pair w_call "$NS_W" w_answer.xml 198.51.100.2 "far end (TCP only) got the large INVITE over TCP, answered, got ACK and BYE" \
        p_call "$NS_L" p_call_out.xml 10.77.1.2 "$PHONE_PROXY" \
        "UDP phone sent a 1,600-byte INVITE to sip:bob@198.51.100.2:5060: 180/200, ACK, BYE/200" \
        -key user alice -key registrar 198.51.100.2 -s bob -key padding "$(head -c 1100 /dev/zero | tr '\0' x)"
    local rc=$?
    POST_CHECK=large_check
    return $rc
}

large_check() {
    local n
    n=$(status_counter forward.upgraded-to-tcp)
    log "      sipnat counted forward.upgraded-to-tcp $n"
    [ "$n" -ge 1 ] || fail "sipnat's status shows no forward.upgraded-to-tcp"
}

# 7 unregistered phone gets 403 (nothing on the WAN); unknown user from the WAN gets 404
sc_reject() {
    sipp_start p_unreg "$NS_L" p_unregistered.xml 10.77.1.3 10.77.1.1:5060 -key user carol -key registrar 198.51.100.2 -s bob
    sipp_done p_unreg 20 "unregistered phone carol@10.77.1.3 INVITE bob: sipnat answered 403" || return 1
    canary
    cap_stop wan
    cap_start wan2 sip || return 1
    sipp_start w_unknown "$NS_W" w_unknown_user.xml 198.51.100.2 198.51.100.1:5060 -s nobody
    sipp_done w_unknown 20 "WAN INVITE sip:nobody@198.51.100.1:5060: sipnat answered 404" || return 1
}

# ------------------------------------------------------------------ check-xml
# Load every scenario with sipp in a scratch namespace (nothing leaves it), all
# at once, each on its own port; `timeout` guards against a sipp that hangs.
check_xml() {
    local ns=snx-$ID f rc bad=0 i=0 base
    local -a files=() pids=()
    ip netns add "$ns" || exit 77
    ip -n "$ns" link set lo up
    head -c 8000 /dev/zero | tr '\0' '\377' >"$WORK/silence.ulaw"
    cd "$WORK" || return 1
    for f in "$HERE"/scenarios/*.xml; do
        base=$WORK/x$i
        rm -f "$base.err"
        timeout -s KILL 10 ip netns exec "$ns" sipp -sf "$f" -i 127.0.0.1 -p $((5100 + i)) -m 1 -nostdin \
            -timeout 1s -recv_timeout 500 -key user alice -key registrar 127.0.0.1 -s bob \
            -trace_err -error_file "$base.err" 127.0.0.1:5099 >"$base.out" 2>&1 &
        files+=("$f")
        pids+=($!)
        i=$((i + 1))
    done
    for i in "${!files[@]}"; do
        wait "${pids[$i]}"
        rc=$?
        f=${files[$i]}
        base=$WORK/x$i
        # Runtime events are expected here (nobody answers); anything else in
        # the error file is a load error (Invalid XML, Unsupported keyword,
        # Unknown element, unused variable ...).
        if [ $rc -ge 128 ] || grep -vE "^The following events|receive timeout|aborting call|Unable to send|Connection refused|^\s*$" \
            "$base.err" 2>/dev/null | grep -q .; then
            echo "BAD   $(basename "$f") (sipp exit status $rc)"
            { cat "$base.err" 2>/dev/null; echo; } | sed 's/^/    /'
            bad=1
        else
            echo "ok    $(basename "$f")"
        fi
    done
    ip netns del "$ns"
    return $bad
}

if [ "$MODE" = check-xml ]; then
    check_xml
    exit $?
fi

# ------------------------------------------------------------------ main
START=$(date +%s%N)
log "scenario $SCEN, run $ID, work dir $WORK$([ $STANDIN = 1 ] && echo ', STAND-IN (no sipnat)')"
TOPO_ARGS=(up "$ID")
[ $STANDIN = 1 ] && TOPO_ARGS+=(--standin)
"$HERE/topo.sh" "${TOPO_ARGS[@]}" >"$WORK/topo.log" 2>&1 ||
    { cat "$WORK/topo.log"; TOPO_UP=1; fail "topology setup failed"; exit 1; }
TOPO_UP=1

[ $STANDIN = 1 ] && relax_scenarios

# The first capture expects SIP unless sipnat must answer everything itself.
case $SCEN in register-sipnat|reject) CAP_FIRST=nosip ;; *) CAP_FIRST=sip ;; esac
run_scenario() {
    if [ $STANDIN = 0 ]; then sipnat_start || return 1; fi
    cap_start wan $CAP_FIRST || return 1
    "sc_$SCEN"
}
POST_CHECK=""
cd "$WORK" || exit 1 # sipp finds its media files (rtp_stream) here
run_scenario
for c in wan wan2 lan; do cap_stop $c; done
sipnat_stop
[ -n "$POST_CHECK" ] && [ ${#FAILS[@]} = 0 ] && $POST_CHECK

for c in wan wan2; do
    [ -n "${CAP_EXPECT[$c]:-}" ] && cap_check $c
done

ELAPSED_MS=$((($(date +%s%N) - START) / 1000000))
ELAPSED=$((ELAPSED_MS / 1000)).$(printf %03d $((ELAPSED_MS % 1000)))

if [ $STANDIN = 1 ]; then
    if [ ${#FAILS[@]} = 0 ] && [ $LEAKED = 1 ]; then
        log "PASS (stand-in): the SIP flows of $SCEN work without sipnat and the capture check caught the LAN address"
        exit 0
    fi
    [ $LEAKED = 0 ] && fail "stand-in: the capture check did NOT find the LAN address it must find"
fi

if [ ${#FAILS[@]} = 0 ]; then
    log "PASS $SCEN (${ELAPSED}s)$([ ${#WARNS[@]} -gt 0 ] && echo ", ${#WARNS[@]} warning(s)")"
    exit 0
fi

# ------------------------------------------------------------------ failure report
echo
echo "======== FAIL $SCEN: ${#FAILS[@]} problem(s)"
for f in "${FAILS[@]}"; do echo "  - $f"; done
for n in "${SIPP_FAILED[@]}"; do
    echo
    echo "-------- sipp $n: $(cat "$WORK/$n.cmd" 2>/dev/null)"
    [ -s "$WORK/$n.err" ] && { echo "--- $n.err"; tail -n 30 "$WORK/$n.err"; echo; }
    [ -s "$WORK/$n.msg" ] && { echo "--- $n.msg (messages sent/received)"; head -c 12000 "$WORK/$n.msg"; }
    [ -s "$WORK/$n.msg" ] || { echo "--- $n.out"; tail -n 30 "$WORK/$n.out"; }
done
if [ -s "$WORK/sipnat.log" ]; then
    echo
    echo "-------- sipnat.log (last 80 lines): $(cat "$WORK/sipnat.cmd" 2>/dev/null)"
    tail -n 80 "$WORK/sipnat.log"
fi
for c in wan wan2; do
    [ -s "$WORK/$c.txt" ] || continue
    echo
    echo "-------- what crossed the router's WAN interface ($c.pcap, tcpdump -A, first 150 lines)"
    head -n 150 "$WORK/$c.txt"
done
exit 1
