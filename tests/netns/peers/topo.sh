#!/bin/bash
# The topology of the real-peers test (tests/netns_peers.rs): the one of
# tests/netns/topo.sh, plus a host of its own for the second LAN phone and
# one for the WAN phone.
#
#   snl-ID  phone A      br0 10.77.1.2/24 (ports: eth0, the veth to the router, and p1)
#   snm-ID  phone B      eth0 10.77.1.3/24 (veth to snl's br0), default via 10.77.1.1
#   snr-ID  the router   as in topo.sh: rlan 10.77.1.1, rwan 198.51.100.1, ip_forward=0
#   snw-ID  the provider br0 198.51.100.2/24 (ports: eth0, the veth to the router, and p1)
#   snx-ID  WAN phone W  eth0 198.51.100.3/24 (veth to snw's br0)
#
# Why a host per phone: baresip binds its RTP sockets to 0.0.0.0, so two
# phones sharing a namespace would both send their audio from its primary
# address (10.77.1.2), whatever their SDP says; a real phone sends from the
# address it announces. The bridges leave the router's view unchanged: one
# LAN segment on rlan, one WAN segment on rwan.
#
# usage: topo.sh up ID | topo.sh down ID   (run as root; ID alphanumeric)
set -u

die() { echo "peers/topo.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: topo.sh up|down ID"
CMD=$1 ID=$2
case $ID in *[!A-Za-z0-9]*|'') die "ID must be alphanumeric: '$ID'" ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=$HERE/../topo.sh
NS_L=snl-$ID NS_M=snm-$ID NS_W=snw-$ID NS_X=snx-$ID

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

# Turn eth0 of namespace $1 (address $2, primary; $3: secondary address to
# drop) into a port of a bridge br0 that carries the address, and hang a
# new host, namespace $4 with address $5, on that bridge.
split_host() {
    local ns=$1 addr=$2 drop=$3 new=$4 newaddr=$5
    ip -n "$ns" addr del "$drop/24" dev eth0 || die "$ns: del $drop"
    ip -n "$ns" addr del "$addr/24" dev eth0 || die "$ns: del $addr"
    ip -n "$ns" link add br0 type bridge || die "$ns: bridge"
    ip -n "$ns" link set eth0 master br0
    ip -n "$ns" addr add "$addr/24" dev br0
    ip -n "$ns" link set br0 up

    ip netns add "$new" || die "cannot create namespace $new"
    ip -n "$new" link set lo up
    ip netns exec "$new" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$new" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link add p1 type veth peer name eth0 netns "$new" || die "$new: veth"
    ip -n "$ns" link set p1 master br0
    ip -n "$ns" link set p1 up
    ip -n "$new" addr add "$newaddr/24" dev eth0
    ip -n "$new" link set eth0 up
}

case $CMD in
    up)
        bash "$BASE" up "$ID" || exit 1
        split_host "$NS_L" 10.77.1.2 10.77.1.3 "$NS_M" 10.77.1.3
        ip -n "$NS_L" route add default via 10.77.1.1 || die "$NS_L: route"
        ip -n "$NS_M" route add default via 10.77.1.1 || die "$NS_M: route"
        split_host "$NS_W" 198.51.100.2 198.51.100.3 "$NS_X" 198.51.100.3
        # The WAN hosts have no route to the LAN, as in topo.sh.
        ;;
    down)
        ns_del "$NS_M"; ns_del "$NS_X"
        bash "$BASE" down "$ID"
        ;;
    *) die "usage: topo.sh up|down ID" ;;
esac
