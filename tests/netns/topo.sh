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
# usage: topo.sh up ID [--standin] | topo.sh down ID
#   --standin: scratch topology for validating the harness without sipnat: the
#              router forwards IP and the provider routes 10.77.1.0/24 back, so the
#              phone can talk to the WAN directly (and the WAN capture then MUST show
#              the LAN addresses).
set -u

die() { echo "topo.sh: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: topo.sh up|down ID [--standin]"
CMD=$1 ID=$2
STANDIN=0
[ "${3:-}" = "--standin" ] && STANDIN=1
case $ID in *[!A-Za-z0-9]*|'') die "ID must be alphanumeric: '$ID'" ;; esac
NS_L=snl-$ID NS_R=snr-$ID NS_W=snw-$ID

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

up() {
    local ns
    for ns in $NS_L $NS_R $NS_W; do
        ip netns add "$ns" || die "cannot create namespace $ns (are you root?)"
        ip -n "$ns" link set lo up
        ns_sysctl "$ns" net.ipv6.conf.all.disable_ipv6=1
        ns_sysctl "$ns" net.ipv6.conf.default.disable_ipv6=1
    done
    ip -n "$NS_R" link add rlan type veth peer name eth0 netns "$NS_L" || die "veth LAN"
    ip -n "$NS_R" link add rwan type veth peer name eth0 netns "$NS_W" || die "veth WAN"

    ip -n "$NS_L" addr add 10.77.1.2/24 dev eth0
    ip -n "$NS_L" addr add 10.77.1.3/24 dev eth0
    ip -n "$NS_L" link set eth0 up
    ip -n "$NS_L" route add default via 10.77.1.1

    ip -n "$NS_R" addr add 10.77.1.1/24 dev rlan
    ip -n "$NS_R" addr add 198.51.100.1/24 dev rwan
    ip -n "$NS_R" link set rlan up
    ip -n "$NS_R" link set rwan up
    ns_sysctl "$NS_R" net.ipv4.ip_forward=$STANDIN

    ip -n "$NS_W" addr add 198.51.100.2/24 dev eth0
    ip -n "$NS_W" addr add 198.51.100.3/24 dev eth0
    ip -n "$NS_W" link set eth0 up
    if [ $STANDIN = 1 ]; then
        ip -n "$NS_W" route add 10.77.1.0/24 via 198.51.100.1
    fi
    # The provider has no route to the LAN: anything that reaches it with a LAN
    # source address could not even be answered.
}

case $CMD in
    up) up ;;
    down) ns_del "$NS_L"; ns_del "$NS_R"; ns_del "$NS_W" ;;
    *) die "usage: topo.sh up|down ID [--standin]" ;;
esac
