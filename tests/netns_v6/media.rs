//! Calls with audio both ways through sipnat over IPv6 and across the two
//! families (issue 14, stage 8), on real sockets in `topo.sh --ip6 both`:
//! the project's load generator `sipnat-load` as the phone (LAN) and as the
//! registrar and far end (WAN), one registration and one 3-second call at
//! 50 RTP packets/s each way, RTCP too.
//!
//! * an IPv6 phone (on the delegated prefix, 2001:db8:77:1::2) and an IPv6
//!   provider;
//! * an IPv4 phone and a provider with IPv6 only (its IPv4 addresses are
//!   taken away): sipnat translates SIP, SDP and RTP between the families;
//! * an IPv6 phone (on the ULA, fd77:1::2) and a provider with IPv4 only.
//!
//! Each checks that every RTP packet arrived (none lost mid-call, at most
//! two in flight at the hang-up, as `tests/netns_media.rs` counts them),
//! that each end heard only sipnat's address of its side and family (the
//! phone: the router's address in the phone's own network; the far end:
//! the WAN address), in the packets' sources and in the SIP and SDP the
//! phone received, with captures of both router interfaces; that only the
//! far end's family crossed the WAN; that the WAN capture holds no LAN
//! address of either family (`pcap/`: IPv4, the delegated prefix, the ULA,
//! in headers, text and TCP streams); and that the relay's stream had a leg
//! of each family where it should, and was gone after the BYE.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::lab::{Lab, load_tool};
use super::wait_until;
use crate::pcap::packets::{Packet, packets};
use crate::pcap::scan_pcap;

const PHONE4: &str = "10.77.1.2";
const PHONE_GUA: &str = "2001:db8:77:1::2";
const PHONE_ULA: &str = "fd77:1::2";
const ROUTER_LAN4: &str = "10.77.1.1";
const ROUTER_GUA: &str = "2001:db8:77:1::1";
const ROUTER_ULA: &str = "fd77:1::1";
const ROUTER_WAN4: &str = "198.51.100.1";
const ROUTER_WAN6: &str = "2001:db8:100::1";
const FAR4: &str = "198.51.100.2";
const FAR6: &str = "2001:db8:100::2";

/// One call's setting: who is where, and what each end must hear.
struct Call {
    name: &'static str,
    /// The phone's address and the router's LAN address it sends SIP to.
    phone: &'static str,
    proxy: &'static str,
    /// sipnat's address toward the phone (Via, Record-Route, SDP, sources).
    phone_hears: &'static str,
    /// The far end (registrar too); it keeps only its addresses of this
    /// family.
    far: &'static str,
    /// sipnat's WAN address of the far end's family.
    far_hears: &'static str,
    /// Length of the masqueraded Contact's token (RFC 3261 §10.2.1): 30
    /// for an IPv4 phone, 44 for an IPv6 one.
    token_len: usize,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A URI host: IPv6 bracketed (RFC 3261 §25.1).
fn host(s: &str) -> String {
    if s.contains(':') {
        format!("[{s}]")
    } else {
        s.to_string()
    }
}

/// The values of header `name` (long form, any case) in the SIP message
/// `msg`.
fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    let head = msg.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// What a run left: both reports, both captures, the relay's stream as
/// the status showed it mid-call.
struct Outcome {
    uac: serde_json::Value,
    uas: serde_json::Value,
    wan: Vec<u8>,
    lan: Vec<u8>,
    legs: serde_json::Value,
}

fn run(lab: &mut Lab, c: &Call) -> Outcome {
    // The far end has one family only (and the other is not routed).
    let other = if ip(c.far).is_ipv4() { "-6" } else { "-4" };
    lab.ip(
        'w',
        &[other, "addr", "flush", "dev", "eth0", "scope", "global"],
    );
    lab.capture("rwan", "wan.pcap");
    lab.capture("rlan", "lan.pcap");
    lab.start_sipnat();
    let s = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    let far_sip = SocketAddr::new(ip(c.far), 5060).to_string();
    let uas_report = lab.path("uas.json").display().to_string();
    lab.spawn(
        "uas",
        'w',
        &load_tool(),
        &s(&[
            "uas",
            "--sip",
            &far_sip,
            "--media-ip",
            c.far,
            "--calls",
            "1",
            "--duration-s",
            "30",
            "--expect-source",
            c.far_hears,
            "--report",
            &uas_report,
        ]),
    );
    lab.wait_udp('w', c.far, 5060);
    let proxy = SocketAddr::new(ip(c.proxy), 5060).to_string();
    let far_uri = format!("sip:{}", host(c.far));
    let target = format!("sip:bob@{}", host(c.far));
    let uac_report = lab.path("uac.json").display().to_string();
    lab.spawn(
        "uac",
        'l',
        &load_tool(),
        &s(&[
            "uac",
            "--proxy",
            &proxy,
            "--local",
            c.phone,
            "--target",
            &target,
            "--register-to",
            &far_uri,
            "--calls",
            "1",
            "--duration-s",
            "3",
            "--expect-source",
            c.phone_hears,
            "--report",
            &uac_report,
        ]),
    );
    // Mid-call: the stream with both legs latched.
    let mut legs = serde_json::Value::Null;
    wait_until("the call's stream latched both ways", 10, || {
        let st = lab.status();
        let l = &st["calls"]["list"][0]["streams"][0]["legs"];
        let latched = l
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|g| g["latched"].is_string()));
        if latched {
            legs = l.clone();
        }
        latched
    });
    let uac_st = lab.wait("uac", Duration::from_secs(40));
    let uas_st = lab.wait("uas", Duration::from_secs(15));
    assert!(
        uac_st.success() && uas_st.success(),
        "[{}] sipnat-load failed (phone {uac_st}, far end {uas_st})\n{}",
        c.name,
        lab.context()
    );
    // The BYE freed the call and its stream.
    wait_until("no call and no stream left", 5, || {
        let st = lab.status();
        st["calls"]["count"] == 0 && st["relay"]["streams"] == 0
    });
    Outcome {
        uac: lab.report("uac.json"),
        uas: lab.report("uas.json"),
        wan: lab.stop_capture("wan.pcap"),
        lan: lab.stop_capture("lan.pcap"),
        legs,
    }
}

/// Every packet of both directions arrived: none lost below the highest
/// received, at most two sent after the receiver's last one (in flight at
/// the hang-up: sipnat frees the stream when it relays the BYE), none
/// twice; RTCP crossed both ways; each end heard only `hears`.
fn check_audio(c: &Call, o: &Outcome) {
    for (r, who) in [(&o.uac, "phone"), (&o.uas, "far end")] {
        assert_eq!(r["calls"]["established"], 1, "[{}] {who}: {r}", c.name);
        assert_eq!(r["calls"]["ended"], 1, "[{}] {who}: {r}", c.name);
    }
    let (phone, far) = (&o.uac["per_call"][0], &o.uas["per_call"][0]);
    for (what, tx, rx) in [
        ("phone → far end", phone, far),
        ("far end → phone", far, phone),
    ] {
        let n = |v: &serde_json::Value, k: &str| v[k].as_i64().unwrap_or(-1);
        let sent = n(tx, "sent");
        let tail = sent - (n(rx, "highest") + 1);
        println!(
            "[{}] {what}: sent {sent}, received {}, lost mid-call {}, after hang-up {tail}",
            c.name,
            n(rx, "unique"),
            n(rx, "lost")
        );
        assert!(sent >= 140, "[{}] {what}: only {sent} sent", c.name);
        assert_eq!(n(rx, "lost"), 0, "[{}] {what}: {rx}", c.name);
        assert_eq!(n(rx, "duplicates"), 0, "[{}] {what}: {rx}", c.name);
        assert!((0..=2).contains(&tail), "[{}] {what}: {rx}", c.name);
        assert_eq!(n(rx, "unique"), sent - tail, "[{}] {what}", c.name);
        assert!(n(rx, "rtcp_received") >= 1, "[{}] {what}: {rx}", c.name);
    }
    for (r, hears, who) in [
        (&o.uac, c.phone_hears, "phone"),
        (&o.uas, c.far_hears, "far end"),
    ] {
        let srcs = r["media_sources"].as_array().cloned().unwrap_or_default();
        assert!(!srcs.is_empty(), "[{}] {who}: no media", c.name);
        for s in srcs {
            let a: SocketAddr = s.as_str().unwrap_or("").parse().unwrap();
            assert_eq!(a.ip(), ip(hears), "[{}] {who} heard {a}", c.name);
        }
    }
}

/// The relay's stream mid-call: its LAN leg latched the phone, its WAN leg
/// the far end, each in its own family.
fn check_legs(c: &Call, o: &Outcome) {
    let legs = o.legs.as_array().expect("two legs");
    let of = |side: &str| -> IpAddr {
        let leg = legs
            .iter()
            .find(|l| l["side"] == side)
            .unwrap_or_else(|| panic!("[{}] no {side} leg: {}", c.name, o.legs));
        let a: SocketAddr = leg["latched"].as_str().unwrap().parse().unwrap();
        a.ip()
    };
    assert_eq!(of("lan"), ip(c.phone), "[{}] {}", c.name, o.legs);
    assert_eq!(of("wan"), ip(c.far), "[{}] {}", c.name, o.legs);
}

/// The LAN side: every UDP and TCP packet went between the phone and
/// sipnat's address toward it, and the SIP the phone received names
/// sipnat only by that address (Record-Route, SDP), never by a WAN one.
fn check_lan(c: &Call, o: &Outcome) {
    let ps = packets(&o.lan).unwrap_or_else(|e| panic!("[{}] lan.pcap: {e}", c.name));
    let (phone, hears) = (ip(c.phone), ip(c.phone_hears));
    let l4: Vec<&Packet> = ps.iter().filter(|p| p.sport != 0).collect();
    assert!(
        l4.len() > 300,
        "[{}] lan.pcap: {} packets",
        c.name,
        l4.len()
    );
    for p in &l4 {
        assert!(
            (p.src, p.dst) == (phone, hears) || (p.src, p.dst) == (hears, phone),
            "[{}] on the LAN: {} → {} (packet {})",
            c.name,
            p.src,
            p.dst,
            p.index
        );
    }
    let to_phone: Vec<String> = l4
        .iter()
        .filter(|p| p.dst == phone && p.dport == 5060)
        .map(|p| p.text())
        .collect();
    let family = if hears.is_ipv4() { "IP4" } else { "IP6" };
    let mut answers = 0;
    for m in &to_phone {
        for wan in [ROUTER_WAN4, ROUTER_WAN6] {
            assert!(!m.contains(wan), "[{}] the phone got {wan}:\n{m}", c.name);
        }
        if m.starts_with("SIP/2.0 200 OK") && header(m, "CSeq") == ["1 INVITE"] {
            answers += 1;
            let rr = format!("<sip:{}:5060;lr", host(c.phone_hears));
            let rrs = header(m, "Record-Route");
            assert!(
                rrs.len() == 1 && rrs[0].starts_with(&rr),
                "[{}] Record-Route {rrs:?}, expected {rr}…",
                c.name
            );
            let want = format!("c=IN {family} {}\r\n", c.phone_hears);
            assert!(m.contains(&want), "[{}] no {want:?} in:\n{m}", c.name);
            let o_line = format!(" IN {family} {}\r\n", c.phone_hears);
            assert!(m.contains(&o_line), "[{}] o= in:\n{m}", c.name);
        }
    }
    assert!(
        answers >= 1,
        "[{}] no 200 OK to the INVITE on the LAN",
        c.name
    );
}

/// The WAN side: no LAN address in any header, text or TCP stream; only
/// sipnat's WAN address of the far end's family and the far end talk;
/// the other family is absent (its ICMPv6 neighbour discovery aside);
/// the REGISTER names sipnat in Contact with a token of the phone's
/// family.
fn check_wan(c: &Call, o: &Outcome) {
    let r = scan_pcap(&o.wan).unwrap_or_else(|e| panic!("[{}] wan.pcap: {e}", c.name));
    println!(
        "[{}] wan.pcap: {} packets, {} SIP, {} NDP/MLD, {} leaks",
        c.name,
        r.packets,
        r.sip_packets,
        r.ndp_packets,
        r.leaks.len()
    );
    assert!(
        r.leaks.is_empty(),
        "[{}] LAN address on the WAN: {:#?}",
        c.name,
        r.leaks
    );
    assert!(r.sip_packets >= 8, "[{}] {r:#?}", c.name);
    let ps = packets(&o.wan).unwrap();
    let (far, hears) = (ip(c.far), ip(c.far_hears));
    let mut rtp = [0usize; 2];
    for p in &ps {
        if p.src.is_ipv4() != far.is_ipv4() {
            assert_eq!(
                p.proto, 58,
                "[{}] {} → {} on the WAN (packet {})",
                c.name, p.src, p.dst, p.index
            );
            continue;
        }
        if p.sport == 0 {
            continue; // ICMP(v6) of the far end's family: no payload to check
        }
        assert!(
            (p.src, p.dst) == (far, hears) || (p.src, p.dst) == (hears, far),
            "[{}] on the WAN: {} → {} (packet {})",
            c.name,
            p.src,
            p.dst,
            p.index
        );
        if p.sport != 5060 && p.dport != 5060 {
            rtp[usize::from(p.src == far)] += 1;
        }
    }
    assert!(rtp[0] >= 140 && rtp[1] >= 140, "[{}] RTP {rtp:?}", c.name);
    let register = ps
        .iter()
        .map(Packet::text)
        .find(|t| t.starts_with("REGISTER "))
        .unwrap_or_else(|| panic!("[{}] no REGISTER on the WAN", c.name));
    let contact = header(&register, "Contact");
    let prefix = format!("<sip:100@{}:5060;", host(c.far_hears));
    let token = contact
        .first()
        .filter(|v| v.starts_with(&prefix))
        .and_then(|v| v.split("snc=").nth(1))
        .map(|t| t.split(['>', ';']).next().unwrap_or(""))
        .unwrap_or_else(|| panic!("[{}] Contact {contact:?}, expected {prefix}…", c.name));
    assert_eq!(token.len(), c.token_len, "[{}] {contact:?}", c.name);
}

fn scenario(c: &Call) {
    let Some(mut lab) = Lab::new(c.name, "both") else {
        return;
    };
    let o = run(&mut lab, c);
    check_audio(c, &o);
    check_legs(c, &o);
    check_lan(c, &o);
    check_wan(c, &o);
}

/// IPv6 end to end: a phone on the delegated prefix hears the router's
/// address in that prefix (what the kernel sends from), the provider the
/// router's WAN address; the phone's address never leaves.
#[test]
fn netns_v6_phone_calls_v6_provider_with_audio_both_ways() {
    scenario(&Call {
        name: "v6-v6",
        phone: PHONE_GUA,
        proxy: ROUTER_GUA,
        phone_hears: ROUTER_GUA,
        far: FAR6,
        far_hears: ROUTER_WAN6,
        token_len: 44,
    });
}

/// Translation: an IPv4 phone, a provider with IPv6 only. SIP and SDP
/// leave in IPv6 (`IN IP6`), come back in IPv4; one relay pair carries a
/// leg of each family.
#[test]
fn netns_v4_phone_calls_v6_only_provider_with_audio_both_ways() {
    scenario(&Call {
        name: "v4-v6",
        phone: PHONE4,
        proxy: ROUTER_LAN4,
        phone_hears: ROUTER_LAN4,
        far: FAR6,
        far_hears: ROUTER_WAN6,
        token_len: 30,
    });
}

/// Translation the other way: a phone on the ULA, a provider with IPv4
/// only; the phone hears the router's ULA.
#[test]
fn netns_v6_phone_calls_v4_only_provider_with_audio_both_ways() {
    scenario(&Call {
        name: "v6-v4",
        phone: PHONE_ULA,
        proxy: ROUTER_ULA,
        phone_hears: ROUTER_ULA,
        far: FAR4,
        far_hears: ROUTER_WAN4,
        token_len: 44,
    });
}
