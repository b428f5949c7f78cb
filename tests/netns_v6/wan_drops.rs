//! SIP from the WAN with a source sipnat must not believe, over IPv6
//! (issue 14): a LAN address (the delegated prefix, the ULA) or the
//! router's own WAN address arriving on the WAN is forged and dropped
//! (`drop.wan-forged-source`); a link-local source is dropped at the
//! driver's edge, as sipnat keeps no scope (`drop.link-local`). None of
//! them is answered, on either side (an answer to a forged LAN source
//! would be a reflection into the LAN), while the provider's real address
//! is answered before and after.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use super::dual::{connected, link_local, options, send_raw6, udp6_packet};
use super::lab::Lab;
use super::wait_until;
use crate::pcap::{packets, scan_pcap};

const ROUTER_WAN6: &str = "2001:db8:100::1";
const FAR6: &str = "2001:db8:100::2";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn netns_v6_forged_and_link_local_sources_from_the_wan_are_dropped() {
    let Some(mut lab) = Lab::new("drops", "both") else {
        return;
    };
    lab.capture("rwan", "wan.pcap");
    lab.capture("rlan", "lan.pcap");
    lab.start_sipnat();
    let provider = lab.ns('w');
    let sipnat: SocketAddr = format!("[{ROUTER_WAN6}]:5060").parse().unwrap();

    // The provider's own address: answered.
    let real = connected(&provider, format!("[{FAR6}]:5060").parse().unwrap(), sipnat);
    let ask = |n: u32| {
        let msg = options(&format!("[{ROUTER_WAN6}]"), &format!("[{FAR6}]:5060"), n);
        real.send(msg.as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let got = real
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no answer to OPTIONS {n}: {e}\n{}", lab.context()));
        let text = String::from_utf8_lossy(&buf[..got]).into_owned();
        assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
    };
    ask(1);

    // Forged: the phone's address, another host of the ULA, the router's
    // own WAN address, each as the source of an INVITE-like OPTIONS to
    // sipnat's WAN address (raw packets: the provider owns none of them).
    let forged = ["2001:db8:77:1::2", "fd77:1::9", ROUTER_WAN6];
    for (n, src) in (10..).zip(forged) {
        let body = options(&format!("[{ROUTER_WAN6}]"), &format!("[{src}]:5060"), n);
        let p = udp6_packet(
            v6(src).octets(),
            v6(ROUTER_WAN6).octets(),
            5060,
            body.as_bytes(),
        );
        send_raw6(&provider, v6(ROUTER_WAN6), p);
    }
    wait_until("the forged sources counted", 5, || {
        lab.counter("drop.wan-forged-source") == forged.len() as u64
    });

    // Link-local: the provider's fe80:: address to the router's fe80::
    // address on rwan, and to its global WAN address.
    let ll = link_local(&provider, "eth0", 0);
    // The router's link-local address, scoped to the provider's interface.
    let router_ll = *link_local(&lab.ns('r'), "rwan", 5060).ip();
    let to_ll = SocketAddr::V6(SocketAddrV6::new(router_ll, 5060, 0, ll.scope_id()));
    let via = format!("[{}]:5060", ll.ip());
    let mut silent = Vec::new();
    for (n, to) in [(20, to_ll), (21, sipnat)] {
        let s = connected(&provider, SocketAddr::V6(ll), to);
        s.send(options("[fe80::1]", &via, n).as_bytes()).unwrap();
        silent.push(s);
    }
    wait_until("the link-local sources counted", 5, || {
        lab.counter("drop.link-local") == 2
    });
    for s in &silent {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let got = s.recv(&mut buf);
        assert!(got.is_err(), "a link-local source got {got:?}");
    }
    // Still answering the real provider, and nothing else was counted.
    ask(2);
    let st = lab.status();
    assert_eq!(st["counters"]["drop.wan-forged-source"], 3, "{st}");
    assert_eq!(st["counters"]["drop.link-local"], 2, "{st}");

    // Nothing went to the LAN; on the WAN sipnat sent the two answers
    // and nothing else, and no LAN address crossed (the forged packets
    // came from the provider's side: the capture check ignores nothing, so
    // they are left out by their sources).
    let lan = packets(&lab.stop_capture("lan.pcap")).unwrap();
    let l4: Vec<_> = lan.iter().filter(|p| p.sport != 0).collect();
    assert!(l4.is_empty(), "on the LAN: {l4:#?}");
    let wan_bytes = lab.stop_capture("wan.pcap");
    let wan = packets(&wan_bytes).unwrap();
    let from_sipnat: Vec<String> = wan
        .iter()
        // (the forged packet from the router's own address is to it)
        .filter(|p| p.sport == 5060 && p.src == v6(ROUTER_WAN6) && p.dst != p.src)
        .map(|p| format!("→ {}: {}", p.dst, p.text().lines().next().unwrap_or("")))
        .collect();
    assert_eq!(
        from_sipnat,
        [
            format!("→ {FAR6}: SIP/2.0 200 OK"),
            format!("→ {FAR6}: SIP/2.0 200 OK"),
        ],
        "sipnat's packets on the WAN"
    );
    let r = scan_pcap(&wan_bytes).unwrap();
    let forged_packets: Vec<usize> = wan
        .iter()
        .filter(|p| forged[..2].iter().any(|f| p.src == v6(f)))
        .map(|p| p.index)
        .collect();
    assert_eq!(forged_packets.len(), 2, "{wan:#?}");
    let other: Vec<_> = r
        .leaks
        .iter()
        .filter(|l| !forged_packets.contains(&l.packet))
        .collect();
    assert!(other.is_empty(), "LAN addresses on the WAN: {other:#?}");
}
