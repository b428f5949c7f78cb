#!/bin/bash
# The topology of the real-peers tests (tests/netns_peers.rs,
# tests/netns_peers_v6.rs): the one of tests/netns/topo.sh, plus a host of
# its own for the second LAN phone and one for the WAN phone.
#
#   snl-ID  phone A      br0 10.77.1.2/24 (ports: eth0, the veth to the router, and p1)
#   snm-ID  phone B      eth0 10.77.1.3/24 (veth to snl's br0), default via 10.77.1.1
#   snr-ID  the router   as in topo.sh: rlan 10.77.1.1, rwan 198.51.100.1, ip_forward=0
#   snw-ID  the provider br0 198.51.100.2/24 (ports: eth0, the veth to the router, and p1)
#   snx-ID  WAN phone W  eth0 198.51.100.3/24 (veth to snw's br0)
#
# With --ip6 lan|wan|both (passed on to topo.sh) the named side gets IPv6 as
# well, set up as topo.sh does it (no RA, no autoconfiguration, no DAD,
# every address nodad, the router's IPv6 forwarding off), and its hosts
# these addresses (the router's are topo.sh's):
#
#   lan:  phone A br0 2001:db8:77:1::2/64 + fd77:1::2/64
#         phone B eth0 2001:db8:77:1::3/64 + fd77:1::3/64
#         both default via 2001:db8:77:1::1
#   wan:  provider br0 2001:db8:100::2/64
#         phone W eth0 2001:db8:100::3/64 (no route to the LAN)
#
# Why a host per phone: baresip binds its RTP sockets to 0.0.0.0, so two
# phones sharing a namespace would both send their audio from its primary
# address (10.77.1.2), whatever their SDP says; a real phone sends from the
# address it announces. The bridges leave the router's view unchanged: one
# LAN segment on rlan, one WAN segment on rwan.
#
# usage: topo.sh up ID [--ip6 lan|wan|both] | topo.sh down ID
#        (run as root; ID alphanumeric)
set -u

die() { echo "peers/topo.sh: $*" >&2; exit 1; }
USAGE="usage: topo.sh up ID [--ip6 lan|wan|both] | topo.sh down ID"

[ $# -ge 2 ] || die "$USAGE"
CMD=$1 ID=$2
shift 2
IP6=none
while [ $# -gt 0 ]; do
    case $1 in
        --ip6)
            case ${2:-} in lan|wan|both) IP6=$2 ;; *) die "--ip6 takes lan, wan or both" ;; esac
            shift ;;
        *) die "$USAGE" ;;
    esac
    shift
done
case $ID in *[!A-Za-z0-9]*|'') die "ID must be alphanumeric: '$ID'" ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=$HERE/../topo.sh
NS_L=snl-$ID NS_M=snm-$ID NS_W=snw-$ID NS_X=snx-$ID
V6_LAN=0 V6_WAN=0
case $IP6 in lan) V6_LAN=1 ;; wan) V6_WAN=1 ;; both) V6_LAN=1 V6_WAN=1 ;; esac

# Kill what runs in one of this run's extra namespaces, then delete it.
ns_del() {
    local ns=$1 pids
    ip netns list 2>/dev/null | grep -qw -- "$ns" || return 0
    pids=$(ip netns pids "$ns" 2>/dev/null)
    # shellcheck disable=SC2086 # one pid per word, split on purpose
    if [ -n "$pids" ]; then
        kill $pids 2>/dev/null
        sleep 0.2
        pids=$(ip netns pids "$ns" 2>/dev/null)
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    fi
    ip netns del "$ns" 2>/dev/null || true
}

# IPv6 on and quiet (as topo.sh): for "all" and "default" of namespace $1
# before its interfaces exist, or for its interfaces $2... before they go up.
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
# Wait (at most 5 s) for the link-local address of $2 in $1, not tentative.
v6_ready() {
    for _ in $(seq 100); do
        ip -n "$1" -6 addr show dev "$2" scope link 2>/dev/null | grep "inet6 fe80:" | grep -qv tentative &&
            return 0
        sleep 0.05
    done
    die "$1: $2 has no usable link-local IPv6 address after 5 s"
}

# Turn eth0 of namespace $1 (address $2, primary; $3: secondary address to
# drop) into a port of a bridge br0 that carries the address, and hang a
# new host, namespace $4 with address $5, on that bridge. $6: 1 when this
# side has IPv6; then the IPv6 addresses $7 (space-separated, with their
# prefix length) move from eth0 to br0, those of $8 are dropped, and the new
# host gets $9.
split_host() {
    local ns=$1 addr=$2 drop=$3 new=$4 newaddr=$5 v6=$6 keep6=$7 drop6=$8 new6=$9 a
    ip -n "$ns" addr del "$drop/24" dev eth0 || die "$ns: del $drop"
    ip -n "$ns" addr del "$addr/24" dev eth0 || die "$ns: del $addr"
    if [ "$v6" = 1 ]; then
        for a in $keep6 $drop6; do ip -n "$ns" -6 addr del "$a" dev eth0 || die "$ns: del $a"; done
    fi
    ip -n "$ns" link add br0 type bridge || die "$ns: bridge"
    # No MLD snooping: neighbour solicitations reach every port at once.
    ip -n "$ns" link set br0 type bridge mcast_snooping 0
    [ "$v6" = 1 ] && v6_on "$ns" br0
    ip -n "$ns" link set eth0 master br0
    # A bridge port carries no address of its own (nor a link-local one).
    [ "$v6" = 1 ] && v6_off "$ns" eth0
    ip -n "$ns" addr add "$addr/24" dev br0
    if [ "$v6" = 1 ]; then
        for a in $keep6; do v6_addr "$ns" "$a" br0; done
    fi
    ip -n "$ns" link set br0 up

    ip netns add "$new" || die "cannot create namespace $new"
    ip -n "$new" link set lo up
    if [ "$v6" = 1 ]; then
        v6_on "$new" all default
    else
        ip netns exec "$new" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip netns exec "$new" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    fi
    ip -n "$ns" link add p1 type veth peer name eth0 netns "$new" || die "$new: veth"
    if [ "$v6" = 1 ]; then
        v6_off "$ns" p1
        v6_on "$new" eth0
    fi
    ip -n "$ns" link set p1 master br0
    ip -n "$ns" link set p1 up
    ip -n "$new" addr add "$newaddr/24" dev eth0
    if [ "$v6" = 1 ]; then
        for a in $new6; do v6_addr "$new" "$a" eth0; done
    fi
    ip -n "$new" link set eth0 up
}

case $CMD in
    up)
        if [ "$IP6" = none ]; then
            bash "$BASE" up "$ID" || exit 1
        else
            bash "$BASE" up "$ID" --ip6 "$IP6" || exit 1
        fi
        split_host "$NS_L" 10.77.1.2 10.77.1.3 "$NS_M" 10.77.1.3 $V6_LAN \
            "2001:db8:77:1::2/64 fd77:1::2/64" "" "2001:db8:77:1::3/64 fd77:1::3/64"
        ip -n "$NS_L" route add default via 10.77.1.1 || die "$NS_L: route"
        ip -n "$NS_M" route add default via 10.77.1.1 || die "$NS_M: route"
        if [ $V6_LAN = 1 ]; then
            ip -n "$NS_L" -6 route replace default via 2001:db8:77:1::1 || die "$NS_L: IPv6 route"
            ip -n "$NS_M" -6 route add default via 2001:db8:77:1::1 || die "$NS_M: IPv6 route"
        fi
        split_host "$NS_W" 198.51.100.2 198.51.100.3 "$NS_X" 198.51.100.3 $V6_WAN \
            "2001:db8:100::2/64" "2001:db8:100::3/64" "2001:db8:100::3/64"
        # The WAN hosts have no route to the LAN, as in topo.sh.
        if [ $V6_LAN = 1 ]; then
            v6_ready "$NS_L" br0; v6_ready "$NS_M" eth0
        fi
        if [ $V6_WAN = 1 ]; then
            v6_ready "$NS_W" br0; v6_ready "$NS_X" eth0
        fi
        ;;
    down)
        ns_del "$NS_M"; ns_del "$NS_X"
        bash "$BASE" down "$ID"
        ;;
    *) die "$USAGE" ;;
esac
