//! sipnat between real SIP software over IPv6 and across the families
//! (issue 14): kamailio as the provider and baresip as the phones, in the
//! namespaces of `tests/netns/peers/topo.sh --ip6` (the lab of
//! `tests/netns_peers.rs`, in `peers/`, with IPv6 on the LAN, the WAN or
//! both, set up as `tests/netns/topo.sh --ip6` does it).
//!
//! ```text
//!  phone A (100) ─┐  rlan 10.77.1.1        rwan 198.51.100.1   ┌─ kamailio 2001:db8:100::2
//!                 ├─      2001:db8:77:1::1 [sipnat]            ┤   (and 198.51.100.2)
//!  phone B (101) ─┘       fd77:1::1             2001:db8:100::1 └─ phone W 2001:db8:100::3 (200)
//! ```
//!
//! kamailio's domain, and so every account's and every dialled URI's host,
//! is `[2001:db8:100::2]`: sipnat talks to it over IPv6 whatever the
//! family of the phone, and W registers with it over IPv6. Each test picks
//! the phones' addresses (each phone's family, and for IPv6 the LAN's
//! documentation prefix or its ULA), the families kamailio listens on, and
//! the transports of the phone↔sipnat and sipnat↔kamailio legs. The LAN
//! phones use sipnat's address of their own network as the outbound proxy
//! (`10.77.1.1`, `[2001:db8:77:1::1]` or `[fd77:1::1]`). Then, as in
//! `netns_peers.rs`:
//!
//! * **Registration**: kamailio's location table holds 100 and 101 at
//!   sipnat's IPv6 WAN address, `sip:…@[2001:db8:100::1]:5060` with sipnat's
//!   contact token, on kamailio's IPv6 socket of the provider transport, and
//!   no LAN address (IPv4, GUA or ULA).
//! * **Calls**: A calls W, W answers and hangs up; W calls B, B answers and
//!   hangs up; A calls B (delivered by sipnat on the LAN), B answers, A
//!   hangs up. Each answered, with audio both ways (each phone hears the
//!   other's tone in its recording), RTP counted both ways on the WAN
//!   between sipnat's IPv6 address and W (at least 50 each way). An IPv4
//!   phone's calls with W are translated: SIP and SDP (`IN IP4` on the LAN,
//!   `IN IP6` on the WAN), and one relay stream with a leg of each family.
//! * **Every call ends**, and sipnat holds no call or relay stream after.
//! * **Each leg in its family and transport**: the phones' SIP with sipnat
//!   all on the phone transport (to sipnat's LAN addresses), sipnat's SIP
//!   with kamailio all on the provider transport over IPv6, and no SIP over
//!   IPv4 on the WAN at all. Every SDP sipnat sends an IPv6 phone names
//!   sipnat's address of that phone's own /64 (the GUA to a GUA phone, the
//!   ULA to a ULA phone): a phone sends its RTP from its address of the
//!   network it sends to (RFC 6724), which must be the one its SDP names.
//! * **The firewall**: where the test asks for it, OpenWrt's default WAN
//!   firewall for both families (iptables and ip6tables: the SIP port
//!   closed, conntrack's flows and the RTP range in, ICMPv6 in) rejects
//!   nothing.
//! * **No LAN address leaves the router**: every capture of the WAN goes
//!   through `tests/pcap/`'s check: no LAN IPv4 address, none of the LAN's
//!   `2001:db8:77:1::/64` or `fd77:1::/64` (nor `::ffff:10.77.1.x`) in any
//!   IPv4 or IPv6 header, ICMP(v6) quote, NDP or MLD message, or as text in
//!   any spelling in a frame or a reassembled TCP stream; kamailio's log
//!   names none either.
//!
//! What they need and how they clean up: as `netns_peers.rs` (root, `ip
//! netns`, tcpdump, ss, iptables and ip6tables, kamailio, baresip;
//! `SIPNAT_SKIP_NETNS=1` skips; every namespace and process removed, also
//! on failure, which keeps the work directory). They address no host
//! outside the namespaces.

mod netns_env;
mod pcap;
mod peers;
use peers::wire::{Pkt, parse_pcap, sip_by_transport};
use peers::{
    Inbound, LAN_TEXTS, Lab, Listen, MIN_RTP, PhoneSpec, Plan, ROUTER_LAN, ROUTER_LAN6, ROUTER_ULA,
    ROUTER_WAN, Tp, assert_binding, assert_kamailio_log_clean, bindings, call, check_transports,
    check_wan_captures, print_calls, wait_idle, wait_registered,
};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

/// One test's setting.
#[derive(Debug, Clone, Copy)]
struct Setup {
    /// `peers/topo.sh --ip6`: `both`, or `wan` for a LAN without IPv6.
    ip6: &'static str,
    /// Phone A's and phone B's addresses.
    phones: [&'static str; 2],
    /// The families kamailio listens on.
    listen: Listen,
    /// The phones' leg (phone ↔ sipnat).
    phone: Tp,
    /// sipnat's leg to kamailio.
    provider: Tp,
    /// How kamailio reaches the LAN phones.
    inbound: Inbound,
    /// OpenWrt's default WAN firewall, for both families.
    firewall: bool,
}

/// The SDP connection addresses (`c=IN IP6 …`) of the datagrams and
/// segments in `pkts` from `from` to `to`.
fn sdp_addresses(pkts: &[Pkt], from: IpAddr, to: IpAddr) -> Vec<String> {
    let mut out = Vec::new();
    for p in pkts.iter().filter(|p| p.src == from && p.dst == to) {
        let text = String::from_utf8_lossy(&p.payload);
        for line in text.lines() {
            if let Some(a) = line.trim_end().strip_prefix("c=IN IP6 ") {
                out.push(a.to_string());
            }
        }
    }
    out
}

/// sipnat's address in the /64 of the IPv6 address `phone`.
fn router_of(phone: Ipv6Addr) -> IpAddr {
    let s = phone.segments();
    Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 1).into()
}

/// The whole scenario in `setup`.
fn scenario(name: &'static str, setup: Setup) {
    let Setup {
        ip6,
        phones,
        listen,
        phone,
        provider,
        inbound,
        firewall,
    } = setup;
    let started = Instant::now();
    let plan = Plan::wan_v6(ip6);
    let Some(mut lab) = Lab::new(name, plan) else {
        return;
    };
    if firewall {
        lab.firewall();
    }
    let wan = lab.capture("rwan", "wan.pcap", "");
    let lan = lab.capture("rlan", "lan.pcap", "");
    lab.start_kamailio_on(inbound == Inbound::Source, listen);
    lab.start_sipnat("");
    let domain = plan.domain();
    let mut w = lab
        .phone(PhoneSpec::new("W", 'x', "200", "2001:db8:100::3", 1000).direct(&domain, Tp::Udp));
    let mut a = lab.phone(
        PhoneSpec::new("A", 'l', "100", phones[0], 440).via_sipnat(&domain, phone, provider),
    );
    let mut b = lab.phone(
        PhoneSpec::new("B", 'm', "101", phones[1], 700).via_sipnat(&domain, phone, provider),
    );

    // Registration through sipnat: the registrar's own table.
    let table = wait_registered(&lab, &["200", "100", "101"]);
    assert_binding(&table, "100", provider, &plan);
    assert_binding(&table, "101", provider, &plan);
    for t in LAN_TEXTS {
        assert!(
            !table.contains(t),
            "a LAN address ({t}) in kamailio's location table:\n{table}"
        );
    }

    let calls = [
        call(&mut lab, "out", &mut a, &mut w, false),
        call(&mut lab, "in", &mut w, &mut b, false),
        call(&mut lab, "local", &mut a, &mut b, true),
    ];
    for c in &calls[..2] {
        assert!(
            c.wan_rtp.0 >= MIN_RTP && c.wan_rtp.1 >= MIN_RTP,
            "{}: RTP on the WAN between sipnat's relay and W: {} to W, {} from W \
             (want at least {MIN_RTP} each way)",
            c.what,
            c.wan_rtp.0,
            c.wan_rtp.1
        );
    }
    let status = wait_idle(&lab);

    // What crossed the router's interfaces.
    let lan_pkts = parse_pcap(&lan.stop()).expect("lan.pcap");
    let wan_pkts = parse_pcap(&wan.stop()).expect("wan.pcap");
    let router_lan = [ROUTER_LAN, ROUTER_LAN6, ROUTER_ULA];
    let (out_conns, in_conns) = check_transports(
        &lan_pkts,
        &wan_pkts,
        &router_lan,
        &plan,
        (phone, provider),
        inbound,
    );
    let wan_sip4 = sip_by_transport(&wan_pkts, ROUTER_WAN, None);
    assert_eq!(wan_sip4, (0, 0), "SIP over IPv4 on the WAN (UDP, TCP)");
    // Each IPv6 phone is told sipnat's address of its own network.
    let mut sdp_lines = Vec::new();
    for addr in phones {
        let Ok(IpAddr::V6(p)) = addr.parse::<IpAddr>() else {
            continue;
        };
        let ours = router_of(p);
        let named: Vec<String> = router_lan
            .iter()
            .flat_map(|r| sdp_addresses(&lan_pkts, *r, p.into()))
            .collect();
        assert!(
            !named.is_empty() && named.iter().all(|n| *n == ours.to_string()),
            "the SDPs sipnat sent to {p} should all name {ours}: {named:?}"
        );
        sdp_lines.push(format!("to {p}: {} SDPs naming {ours}", named.len()));
    }
    let lines = check_wan_captures(&lab);
    let rejected = if firewall { lab.firewall_rejects() } else { 0 };
    assert_eq!(
        rejected, 0,
        "the router's firewall rejected {rejected} packets from the WAN"
    );
    assert_kamailio_log_clean(&lab);

    println!("{name}: {setup:?}");
    if firewall {
        println!("  OpenWrt's WAN firewall (IPv4 and IPv6) on the router: nothing rejected");
    }
    println!("  TCP connections opened on the WAN: {out_conns} by sipnat, {in_conns} by kamailio");
    for u in ["100", "101", "200"] {
        println!("  binding {u}: {:?}", bindings(&table, u));
    }
    print_calls(&calls);
    println!("  SDPs to the IPv6 phones: {sdp_lines:?}");
    for l in &lines {
        println!("  {l}");
    }
    println!("  sipnat: {status}");
    println!("  {name}: {:.1} s", started.elapsed().as_secs_f64());
}

// --------------------------------------------------------------- the tests

/// IPv6 end to end over UDP: phone A on the LAN's documentation prefix
/// (2001:db8:77:1::2), phone B on its ULA (fd77:1::3), kamailio on both
/// families (the phones' domain is its IPv6 address), behind OpenWrt's
/// default WAN firewall for both families.
#[test]
fn peers6_v6_phones_udp_provider() {
    scenario(
        "v6-udp",
        Setup {
            ip6: "both",
            phones: ["2001:db8:77:1::2", "fd77:1::3"],
            listen: Listen::Both,
            phone: Tp::Udp,
            provider: Tp::Udp,
            inbound: Inbound::Contact,
            firewall: true,
        },
    );
}

/// IPv6 end to end over TCP on both legs, kamailio on IPv6 only: the
/// phones' connections to sipnat's LAN GUA, sipnat's one connection to
/// kamailio; kamailio calls B at sipnat's masqueraded contact. Behind the
/// firewall (kamailio's in-dialog requests come back over sipnat's
/// connection).
#[test]
fn peers6_v6_phones_tcp_provider() {
    scenario(
        "v6-tcp",
        Setup {
            ip6: "both",
            phones: ["2001:db8:77:1::2", "2001:db8:77:1::3"],
            listen: Listen::V6,
            phone: Tp::Tcp,
            provider: Tp::Tcp,
            inbound: Inbound::Contact,
            firewall: true,
        },
    );
}

/// Family translation: IPv4 phones on a LAN without IPv6, kamailio on
/// IPv6 only. sipnat registers them over IPv6 (Via, Record-Route and
/// Contact with its IPv6 WAN address), translates each SDP (`IN IP4` on
/// the LAN, `IN IP6` on the WAN) and relays each call's audio between an
/// IPv4 leg and an IPv6 leg. UDP on both legs, behind the firewall.
#[test]
fn peers6_v4_phones_v6_only_provider() {
    scenario(
        "v4-v6only",
        Setup {
            ip6: "wan",
            phones: ["10.77.1.2", "10.77.1.3"],
            listen: Listen::V6,
            phone: Tp::Udp,
            provider: Tp::Udp,
            inbound: Inbound::Contact,
            firewall: true,
        },
    );
}

/// Family translation over TCP to the provider: IPv4 phones over UDP,
/// sipnat's one TCP connection to kamailio over IPv6 (kamailio on IPv6
/// only, calling the phones over that connection: `fix_nated_register`).
#[test]
fn peers6_v4_phones_tcp_v6_only_provider() {
    scenario(
        "v4-v6tcp",
        Setup {
            ip6: "wan",
            phones: ["10.77.1.2", "10.77.1.3"],
            listen: Listen::V6,
            phone: Tp::Udp,
            provider: Tp::Tcp,
            inbound: Inbound::Source,
            firewall: true,
        },
    );
}

/// Both families on one LAN: phone A on IPv4, phone B on IPv6 (the GUA),
/// kamailio on both families. A's call to W is translated; W's call to B
/// is IPv6 end to end; A's call to B crosses the families on the LAN
/// (one relay stream, an IPv4 leg and an IPv6 leg, both on the LAN).
#[test]
fn peers6_mixed_lan_dual_provider() {
    scenario(
        "mixed",
        Setup {
            ip6: "both",
            phones: ["10.77.1.2", "2001:db8:77:1::3"],
            listen: Listen::Both,
            phone: Tp::Udp,
            provider: Tp::Udp,
            inbound: Inbound::Contact,
            firewall: true,
        },
    );
}
