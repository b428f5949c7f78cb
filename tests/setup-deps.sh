#!/bin/bash
# setup-deps.sh: install what sipnat's network-namespace tests (tests/netns.rs,
# tests/netns/) need on a Debian or Ubuntu machine, and print the versions.
#
#   sip-tester  sipp, the SIP phone / registrar / far-end peer
#   iproute2    ip netns, veth, ss
#   iptables    for NAT topologies
#   tcpdump     the WAN capture
#   tshark      optional (--tshark): a second decoder for the captures
#   shellcheck  lints the OpenWrt init and uci-defaults scripts
#   busybox     runs those scripts under the shell OpenWrt has (and is the
#               userland of the chroot the uci-defaults tests run in)
#   make        GNU make, which reads openwrt/Makefile against stub SDK
#               files (tests/openwrt_makefile.rs)
#   qemu-user-static  runs the cross-built MIPS and ARM binaries and their
#               tests (tests/cross-check.sh)
#   kamailio    the SIP provider (registrar + proxy) of tests/netns_peers.rs;
#               its system service is kept from starting (see below)
#   baresip     the phones of tests/netns_peers.rs (baresip-core and its
#               modules; recommends such as the GTK front end are not needed)
#   kamailio-tls-modules  kamailio's TLS module (tls.so): the provider of
#               tests/netns_tls.rs speaks SIP over TLS on 5061
#   openssl     the openssl CLI, which makes tests/netns_tls.rs's test CA
#               and certificates (good, another CA's, expired, self-signed)
#               and fingerprints for each test run
#   nodejs      node, which checks and runs the LuCI app's JavaScript
#               (tests/luci.rs)
#   pigz        zopfli compression of the .ipk packages (openwrt/ipk.sh)
#   coturn      turnserver, the real STUN server that tests/netns_stun.rs
#               runs in a namespace for the stun plugin; its system service
#               is kept from starting, as kamailio's (see below)
#   nftables    nft, which lists the fast path's table and deletes a map
#               element by hand (tests/netns_fastpath.rs)
#   conntrack   the conntrack CLI, which counts the entries carrying the
#               fast path's mark and the kernel's NAT clashes
#               (tests/netns_fastpath.rs)
#
# And, on a kernel without flowtables, what tests/vm/run needs (qemu-system-x86,
# Debian's kernel and busybox-static in its cache; see the end of this script).
#
# Idempotent: runs apt-get update and install only when a package is missing.
# Run as root (CI runs it as root: tests/setup-deps.sh).
set -eu

WANT="sip-tester iproute2 iptables tcpdump shellcheck busybox make qemu-user-static kamailio kamailio-tls-modules openssl baresip nodejs coturn pigz nftables conntrack"
for a in "$@"; do
    case $a in
        --tshark) WANT="$WANT tshark" ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup-deps.sh: unknown argument $a" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "setup-deps.sh: run me as root" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-deps.sh: no apt-get here; install these packages by hand: $WANT" >&2
    exit 1
fi

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

MISSING=""
for p in $WANT; do
    installed "$p" || MISSING="$MISSING $p"
done
if [ -n "$MISSING" ]; then
    echo "installing:$MISSING"
    export DEBIAN_FRONTEND=noninteractive
    # Debian's kamailio package starts its service from the postinst (the
    # systemd unit ignores RUN_KAMAILIO in /etc/default/kamailio), which
    # would hold port 5060 in this machine's own namespace with the example
    # configuration. The tests run their own kamailio inside a namespace;
    # the service must not run. A policy-rc.d that denies every start,
    # honoured by invoke-rc.d and deb-systemd-invoke, keeps the postinst from
    # starting anything; one this machine already has is left alone.
    POLICY=/usr/sbin/policy-rc.d
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\n# tests/setup-deps.sh: no service starts while it installs\nexit 101\n' >"$POLICY"
        chmod 755 "$POLICY"
        trap 'rm -f "$POLICY"' EXIT
    fi
    apt-get update -q
    # shellcheck disable=SC2086 # word splitting of the package list is wanted
    apt-get install -y -q --no-install-recommends $MISSING
    # Installed just now: keep their services from starting at boot too
    # (where systemd runs; without systemd the init scripts do nothing
    # unless RUN_KAMAILIO=yes, TURNSERVER_ENABLED=1). A TURN server of the
    # machine's own would listen on 3478 of every interface.
    for svc in kamailio coturn; do
        case " $MISSING " in
            *" $svc "*)
                if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
                    systemctl disable --now "$svc.service" || true
                fi
                ;;
        esac
    done
else
    echo "all present: $WANT"
fi

echo "versions:"
echo "  sipp:     $(sipp -v 2>&1 | grep -m1 -o 'SIPp v[^ ]*' || echo '?')"
echo "  ip:       $(ip -V 2>&1 | head -n1)"
echo "  iptables: $(iptables --version 2>&1 | head -n1)"
echo "  tcpdump:  $(tcpdump --version 2>&1 | head -n1)"
echo "  kamailio: $(kamailio -v 2>&1 | head -n1)"
echo "  baresip:  $(baresip -h 2>&1 | head -n1)"
echo "  openssl:  $(openssl version 2>&1 | head -n1)"
echo "  coturn:   $(turnserver --version 2>/dev/null | head -n1 || echo '?')"
echo "  nft:      $(nft --version 2>&1 | head -n1)"
echo "  conntrack: $(conntrack --version 2>&1 | head -n1)"
if command -v ss >/dev/null 2>&1 && ss -Hlntup 'sport = :5060' 2>/dev/null | grep -q kamailio; then
    echo "warning: a kamailio listens on port 5060 of this machine (not the tests' own)" >&2
fi
if command -v tshark >/dev/null 2>&1; then
    echo "  tshark:   $(tshark --version 2>/dev/null | head -n1)"
fi

# Can this machine make network namespaces at all (containers may forbid it)?
probe=sndeps-$$
if ip netns add "$probe" 2>/dev/null; then
    ip netns del "$probe"
    echo "network namespaces: usable"
else
    echo "network namespaces: NOT usable here (the netns tests will fail; SIPNAT_SKIP_NETNS=1 skips them)" >&2
fi

# --- the VM of tests/vm/run --------------------------------------------------
# netns_media's flow-offloading test needs a kernel that can make a flowtable
# (nf_flow_table); on one that cannot, it runs inside tests/vm/run (QEMU with
# Debian 12's kernel, tests/vm/README.md). Fetch what that needs now (QEMU,
# the kernel package, busybox-static: about 165 MB of downloads the first time), not in
# the middle of a test; a machine whose kernel has flowtables needs nothing.
probe=sndeps-ft-$$
if ip netns add "$probe" 2>/dev/null; then
    if ip netns exec "$probe" nft add table inet probe 2>/dev/null &&
        ip netns exec "$probe" nft 'add flowtable inet probe ft { hook ingress priority filter; devices = { lo }; counter; }' 2>/dev/null; then
        echo "flowtables: in this kernel (no VM needed)"
    elif "$(dirname "$0")/vm/run" --prepare; then
        echo "flowtables: not in this kernel; tests/vm/run ready ($(qemu-system-x86_64 --version | head -n1))"
    else
        echo "flowtables: not in this kernel, and tests/vm/run cannot be prepared (netns_media's flow-offloading test will fail)" >&2
    fi
    ip netns del "$probe"
fi

# --- cross-building (tests/cross-check.sh) ----------------------------------
# qemu-user-static (in WANT above) runs the MIPS and ARM binaries; the Rust
# cross tools (targets, rust-src, zig, cargo-zigbuild) are installed by
# cross/build-all.sh itself.
echo "qemu-user: $(qemu-mips-static --version 2>&1 | head -n1)"
