#!/bin/bash
# sipnat real-world test topology: three network namespaces on this machine.
#
#   snl-ID "phone"  eth0 10.77.1.2/24 (+ 10.77.1.3), default via 10.77.1.1
#        |  veth
#   snr-ID "router" rlan 10.77.1.1/24   rwan 198.51.100.1/24   ip_forward=0
#        |  veth
#   snw-ID "provider" eth0 198.51.100.2/24 (+ 198.51.100.3)
#
# The router does not forward IP (ip_forward=0), so SIP can only cross it through
# sipnat. Interface names live inside the namespaces, so parallel runs never clash;
# only the namespace names carry the run ID. IPv6 is disabled so captures hold only
# what the test sends. No other host is ever addressed.
#
# With --ip6 the named side(s) get IPv6 as well (the other side keeps it disabled):
#
#   lan:  phone eth0 2001:db8:77:1::2/64 + fd77:1::2/64, default via 2001:db8:77:1::1
#         router rlan 2001:db8:77:1::1/64 + fd77:1::1/64
#   wan:  router rwan 2001:db8:100::1/64
#         provider eth0 2001:db8:100::2/64 + 2001:db8:100::3/64
#   both: all of the above
#
# The router keeps net.ipv6.conf.all.forwarding=0 (as ip_forward=0) and the
# provider has no route to the LAN prefixes. No router advertisements, no
# autoconfiguration, no router solicitations and no duplicate address detection
# (set before any link goes up, so the automatic fe80:: address skips DAD too):
# every address is usable at once and the captures hold no DAD probes. What
# still crosses a link by itself is neighbour discovery and MLD reports.
#
# usage: topo.sh up ID [--standin] [--ip6 lan|wan|both] | topo.sh down ID
#   --standin: scratch topology for validating the harness without sipnat: the
#              router forwards IP (IPv6 too, with --ip6 both) and the provider
#              routes the LAN networks back, so the phone can talk to the WAN
#              directly (and the WAN capture then MUST show the LAN addresses).
set -u

die() { echo "topo.sh: $*" >&2; exit 1; }
USAGE="usage: topo.sh up ID [--standin] [--ip6 lan|wan|both] | topo.sh down ID"

[ $# -ge 2 ] || die "$USAGE"
CMD=$1 ID=$2
shift 2
STANDIN=0 IP6=none
while [ $# -gt 0 ]; do
    case $1 in
        --standin) STANDIN=1 ;;
        --ip6)
            case ${2:-} in lan|wan|both) IP6=$2 ;; *) die "--ip6 takes lan, wan or both" ;; esac
            shift ;;
        *) die "$USAGE" ;;
    esac
    shift
done
case $ID in *[!A-Za-z0-9]*|'') die "ID must be alphanumeric: '$ID'" ;; esac
NS_L=snl-$ID NS_R=snr-$ID NS_W=snw-$ID
V6_LAN=0 V6_WAN=0
case $IP6 in lan) V6_LAN=1 ;; wan) V6_WAN=1 ;; both) V6_LAN=1 V6_WAN=1 ;; esac

# Kill whatever still runs inside one of this run's namespaces (all of it was
# started by this run: the names are unique to it), then delete the namespace.
ns_del() {
    local ns=$1 pids
    ip netns list 2>/dev/null | grep -qw -- "$ns" || return 0
    pids=$(ip netns pids "$ns" 2>/dev/null)
    if [ -n "$pids" ]; then
        kill $pids 2>/dev/null
        sleep 0.2
        pids=$(ip netns pids "$ns" 2>/dev/null)
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    fi
    ip netns del "$ns" 2>/dev/null || true
}

ns_sysctl() { ip netns exec "$1" sysctl -qw "$2" >/dev/null; }

# IPv6 on, quiet: no RA, no SLAAC, no RS, no DAD. For "all" and "default"
# (namespace $1 before its veths exist), or for the interfaces $2... of $1
# (after they exist, before they go up).
V6_QUIET="accept_ra=0 autoconf=0 router_solicitations=0 accept_dad=0 dad_transmits=0 disable_ipv6=0"
v6_on() {
    local ns=$1 dev kv args=()
    shift
    for dev in "$@"; do
        for kv in $V6_QUIET; do args+=("net.ipv6.conf.$dev.$kv"); done
    done
    ip netns exec "$ns" sysctl -qw "${args[@]}" >/dev/null || die "$ns: IPv6 sysctls"
}
v6_off() { ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1" >/dev/null || die "$1: $2 IPv6 off"; }
v6_addr() { ip -n "$1" -6 addr add "$2" dev "$3" nodad || die "$1: $2 on $3"; }
# Wait (at most 5 s) until interface $2 of $1 has its link-local address,
# not tentative: the kernel has seen the link come up, so the fe80:: address
# and the MLD reports that come with it are there before topo.sh returns.
v6_ready() {
    local i
    for i in $(seq 100); do
        ip -n "$1" -6 addr show dev "$2" scope link 2>/dev/null | grep "inet6 fe80:" | grep -qv tentative &&
            return 0
        sleep 0.05
    done
    die "$1: $2 has no usable link-local IPv6 address after 5 s"
}

# Does namespace $1 get IPv6?
has_v6() {
    case $1 in
        "$NS_L") [ $V6_LAN = 1 ] ;;
        "$NS_W") [ $V6_WAN = 1 ] ;;
        *) [ $V6_LAN = 1 ] || [ $V6_WAN = 1 ] ;;
    esac
}

up() {
    local ns
    for ns in $NS_L $NS_R $NS_W; do
        ip netns add "$ns" || die "cannot create namespace $ns (are you root?)"
        ip -n "$ns" link set lo up
        if has_v6 "$ns"; then
            v6_on "$ns" all default
            # The router forwards IPv6 no more than IPv4 (stand-in: both).
            [ "$ns" = "$NS_R" ] && ns_sysctl "$ns" net.ipv6.conf.all.forwarding=$STANDIN
        else
            ns_sysctl "$ns" net.ipv6.conf.all.disable_ipv6=1
            ns_sysctl "$ns" net.ipv6.conf.default.disable_ipv6=1
        fi
    done
    ip -n "$NS_R" link add rlan type veth peer name eth0 netns "$NS_L" || die "veth LAN"
    ip -n "$NS_R" link add rwan type veth peer name eth0 netns "$NS_W" || die "veth WAN"
    # Each new interface took the namespace's defaults; set them again on the
    # interface itself (before it goes up), and turn IPv6 off on the side of
    # the router that has none.
    if [ $V6_LAN = 1 ]; then
        v6_on "$NS_L" eth0
        v6_on "$NS_R" rlan
    elif [ $V6_WAN = 1 ]; then
        v6_off "$NS_R" rlan
    fi
    if [ $V6_WAN = 1 ]; then
        v6_on "$NS_W" eth0
        v6_on "$NS_R" rwan
    elif [ $V6_LAN = 1 ]; then
        v6_off "$NS_R" rwan
    fi

    ip -n "$NS_L" addr add 10.77.1.2/24 dev eth0
    ip -n "$NS_L" addr add 10.77.1.3/24 dev eth0
    if [ $V6_LAN = 1 ]; then
        v6_addr "$NS_L" 2001:db8:77:1::2/64 eth0
        v6_addr "$NS_L" fd77:1::2/64 eth0
    fi
    ip -n "$NS_L" link set eth0 up
    ip -n "$NS_L" route add default via 10.77.1.1
    if [ $V6_LAN = 1 ]; then
        ip -n "$NS_L" -6 route add default via 2001:db8:77:1::1 || die "$NS_L: IPv6 default route"
    fi

    ip -n "$NS_R" addr add 10.77.1.1/24 dev rlan
    ip -n "$NS_R" addr add 198.51.100.1/24 dev rwan
    if [ $V6_LAN = 1 ]; then
        v6_addr "$NS_R" 2001:db8:77:1::1/64 rlan
        v6_addr "$NS_R" fd77:1::1/64 rlan
    fi
    if [ $V6_WAN = 1 ]; then
        v6_addr "$NS_R" 2001:db8:100::1/64 rwan
    fi
    ip -n "$NS_R" link set rlan up
    ip -n "$NS_R" link set rwan up
    ns_sysctl "$NS_R" net.ipv4.ip_forward=$STANDIN

    ip -n "$NS_W" addr add 198.51.100.2/24 dev eth0
    ip -n "$NS_W" addr add 198.51.100.3/24 dev eth0
    if [ $V6_WAN = 1 ]; then
        v6_addr "$NS_W" 2001:db8:100::2/64 eth0
        v6_addr "$NS_W" 2001:db8:100::3/64 eth0
    fi
    ip -n "$NS_W" link set eth0 up
    if [ $STANDIN = 1 ]; then
        ip -n "$NS_W" route add 10.77.1.0/24 via 198.51.100.1
        if [ $V6_LAN = 1 ] && [ $V6_WAN = 1 ]; then
            ip -n "$NS_W" -6 route add 2001:db8:77:1::/64 via 2001:db8:100::1
            ip -n "$NS_W" -6 route add fd77:1::/64 via 2001:db8:100::1
        fi
    fi
    # The provider has no route to the LAN: anything that reaches it with a LAN
    # source address could not even be answered.
    if [ $V6_LAN = 1 ]; then v6_ready "$NS_L" eth0; v6_ready "$NS_R" rlan; fi
    if [ $V6_WAN = 1 ]; then v6_ready "$NS_W" eth0; v6_ready "$NS_R" rwan; fi
}

case $CMD in
    up) up ;;
    down) ns_del "$NS_L"; ns_del "$NS_R"; ns_del "$NS_W" ;;
    *) die "$USAGE" ;;
esac
