#!/bin/bash
# A second NAT in front of the router (siproxd's "in-front-of-NAT-router": a
# modem or a provider's CGNAT) and a public side behind it, added to a
# topology made by ../topo.sh:
#
#   snl-ID "phone"   eth0 10.77.1.2/24, default via 10.77.1.1
#        |  veth
#   snr-ID "router"  rlan 10.77.1.1/24   rwan 198.51.100.1/24, default via 198.51.100.2
#        |  veth     ip_forward=0: only sipnat crosses it
#   snw-ID "modem"   eth0 198.51.100.2/24   pub 203.0.113.1/24   ip_forward=1
#        |  veth     MASQUERADE out of pub
#   sns-ID "public"  eth0 203.0.113.2/24 (coturn on 3478, the registrar on 5060)
#                         203.0.113.53/24 (a DNS server the test plays)
#
# The public namespace has no route to 198.51.100.0/24: what the router sends
# reaches it only from the modem's public address 203.0.113.1 (MASQUERADE
# keeps the source port where it is free, as home modems do), and only
# answers to that, through the modem's connection tracking, get back. So the
# router's own WAN address (198.51.100.1) is not the one to announce; a STUN
# server on the public side tells which one is. Nothing is addressed outside
# the namespaces.
#
# usage: outer_nat.sh up ID | outer_nat.sh down ID
#        (run topo.sh up ID first, topo.sh down ID after)
set -u

die() { echo "outer_nat.sh: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: outer_nat.sh up|down ID"
CMD=$1 ID=$2
case $ID in *[!A-Za-z0-9]*|'') die "ID must be alphanumeric: '$ID'" ;; esac
NS_R=snr-$ID NS_W=snw-$ID NS_S=sns-$ID

up() {
    ip netns list | grep -qw -- "$NS_W" || die "namespace $NS_W missing (run topo.sh up $ID first)"
    ip netns add "$NS_S" || die "cannot create namespace $NS_S"
    ip -n "$NS_S" link set lo up
    ip netns exec "$NS_S" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$NS_S" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip -n "$NS_W" link add pub type veth peer name eth0 netns "$NS_S" || die "veth"
    ip -n "$NS_W" addr add 203.0.113.1/24 dev pub
    ip -n "$NS_W" link set pub up
    ip -n "$NS_S" addr add 203.0.113.2/24 dev eth0
    ip -n "$NS_S" addr add 203.0.113.53/24 dev eth0
    ip -n "$NS_S" link set eth0 up
    ip -n "$NS_R" route add default via 198.51.100.2 || die "router's default route"
    ip netns exec "$NS_W" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$NS_W" iptables -t nat -A POSTROUTING -o pub -j MASQUERADE ||
        die "iptables MASQUERADE failed"
}

down() {
    local pids
    ip netns list 2>/dev/null | grep -qw -- "$NS_S" || return 0
    # every process in this run's own namespace was started by this run
    pids=$(ip netns pids "$NS_S" 2>/dev/null)
    # shellcheck disable=SC2086 # one word per pid
    [ -n "$pids" ] && kill $pids 2>/dev/null && sleep 0.2
    pids=$(ip netns pids "$NS_S" 2>/dev/null)
    # shellcheck disable=SC2086 # one word per pid
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    ip netns del "$NS_S" 2>/dev/null || true
}

case $CMD in
    up) up ;;
    down) down ;;
    *) die "usage: outer_nat.sh up|down ID" ;;
esac
