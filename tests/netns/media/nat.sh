#!/bin/bash
# A far end behind a second NAT, added to a topology made by ../topo.sh:
#
#   snw-ID "provider" eth0 198.51.100.2/24   fnat 192.168.50.1/24   ip_forward=1
#        |  veth                              MASQUERADE out of eth0 for 192.168.50.0/24
#   snf-ID "far end"  eth0 192.168.50.2/24, default via 192.168.50.1
#
# The provider namespace becomes a NAT router: what the far end sends to the
# WAN leaves with source 198.51.100.2 (MASQUERADE; UDP also from another port,
# 41000-41999), and SIP to
# 198.51.100.2:5060 is forwarded to 192.168.50.2:5060 (DNAT, a port forward).
# The far end's SDP names its private 192.168.50.2, which sipnat cannot reach:
# media only flows once sipnat latches the NAT's public source (symmetric RTP).
# Nothing is addressed outside the namespaces.
#
# usage: nat.sh up ID | nat.sh down ID   (run topo.sh up ID first, topo.sh down ID after)
set -u

die() { echo "nat.sh: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: nat.sh up|down ID"
CMD=$1 ID=$2
case $ID in *[!A-Za-z0-9]*|'') die "ID must be alphanumeric: '$ID'" ;; esac
NS_W=snw-$ID NS_F=snf-$ID

up() {
    ip netns list | grep -qw -- "$NS_W" || die "namespace $NS_W missing (run topo.sh up $ID first)"
    ip netns add "$NS_F" || die "cannot create namespace $NS_F"
    ip -n "$NS_F" link set lo up
    ip netns exec "$NS_F" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$NS_F" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip -n "$NS_W" link add fnat type veth peer name eth0 netns "$NS_F" || die "veth"
    ip -n "$NS_W" addr add 192.168.50.1/24 dev fnat
    ip -n "$NS_W" link set fnat up
    ip -n "$NS_F" addr add 192.168.50.2/24 dev eth0
    ip -n "$NS_F" link set eth0 up
    ip -n "$NS_F" route add default via 192.168.50.1
    ip netns exec "$NS_W" sysctl -qw net.ipv4.ip_forward=1
    # UDP leaves from other ports than the far end's own (41000-41999), as
    # many home NATs do: sipnat cannot rely on the SDP port, only on latching.
    ip netns exec "$NS_W" iptables -t nat -A POSTROUTING -o eth0 -s 192.168.50.0/24 -p udp \
        -j MASQUERADE --to-ports 41000-41999 || die "iptables MASQUERADE failed"
    ip netns exec "$NS_W" iptables -t nat -A POSTROUTING -o eth0 -s 192.168.50.0/24 -j MASQUERADE ||
        die "iptables MASQUERADE failed"
    ip netns exec "$NS_W" iptables -t nat -A PREROUTING -i eth0 -p udp --dport 5060 \
        -j DNAT --to-destination 192.168.50.2:5060 || die "iptables DNAT failed"
}

down() {
    local pids
    ip netns list 2>/dev/null | grep -qw -- "$NS_F" || return 0
    # every process in this run's own namespace was started by this run
    pids=$(ip netns pids "$NS_F" 2>/dev/null)
    # shellcheck disable=SC2086 # one word per pid
    [ -n "$pids" ] && kill $pids 2>/dev/null && sleep 0.2
    pids=$(ip netns pids "$NS_F" 2>/dev/null)
    # shellcheck disable=SC2086 # one word per pid
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    ip netns del "$NS_F" 2>/dev/null || true
}

case $CMD in
    up) up ;;
    down) down ;;
    *) die "usage: nat.sh up|down ID" ;;
esac
