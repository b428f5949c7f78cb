//! Access lists with host names, in the virtual world: the names are
//! resolved through the core's own resolver (the DNS replies are fed in),
//! refreshed on their TTL, kept through failed refreshes and re-resolved
//! on a reload; requests are let in or kept out by what they resolve to.

mod common;
use common::*;
use sipnat::config::parse_siproxd_conf;
use sipnat::proxy::Channel;
use std::time::Duration;

/// A WAN peer and a second WAN host.
const OTHER: &str = "198.51.100.4:5060";
const MOVED: &str = "198.51.100.5:5060";

fn sim_with(lists: &str) -> Sim {
    Sim::with_config(&format!("{}rtp_proxy_enable = 0\n{lists}", config_text()))
}

/// The DNS queries among `sent`, as (question name, bytes).
fn queries(sent: &[Sent]) -> Vec<(String, Vec<u8>)> {
    sent.iter()
        .filter(|s| matches!(s.channel, Channel::Dns(_)))
        .map(|s| (qname(&s.bytes), s.bytes.clone()))
        .collect()
}

/// The question name of a query (uncompressed labels after the header).
fn qname(q: &[u8]) -> String {
    let mut at = 12;
    let mut labels = Vec::new();
    while let Some(&len) = q.get(at) {
        if len == 0 {
            break;
        }
        let l = &q[at + 1..at + 1 + usize::from(len)];
        labels.push(String::from_utf8_lossy(l).into_owned());
        at += 1 + usize::from(len);
    }
    labels.join(".")
}

/// A reply to `query` with rcode `rcode` and, if given, one A record.
fn reply(query: &[u8], rcode: u8, a: Option<([u8; 4], u32)>) -> Vec<u8> {
    let mut r = query.to_vec();
    r[2] = 0x81; // QR, RD
    r[3] = 0x80 | rcode; // RA
    r[6] = 0;
    r[7] = u8::from(a.is_some());
    if let Some((addr, ttl)) = a {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        r.extend_from_slice(&ttl.to_be_bytes());
        r.extend_from_slice(&[0, 4]);
        r.extend_from_slice(&addr);
    }
    r
}

fn answer(sim: &mut Sim, query: &[u8], addr: [u8; 4], ttl: u32) -> Vec<Sent> {
    sim.dns(DNS_SERVER, &reply(query, 0, Some((addr, ttl))))
}

/// An OPTIONS for sipnat itself from `from`: answered 200 when let in.
fn options(from: &str, n: u32) -> String {
    let (ip, port) = from.split_once(':').unwrap();
    format!(
        "OPTIONS sip:198.51.100.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bKopt{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{ip}>;tag=o{n}\r\n\
         To: <sip:198.51.100.1>\r\n\
         Call-ID: opt{n}@{ip}\r\n\
         CSeq: {n} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Whether `from` is let in: its OPTIONS is answered 200, or dropped.
fn let_in(sim: &mut Sim, from: &str) -> bool {
    let before = sim.core.stats().get("drop", "acl");
    let n = before as u32 + 1000 * sim.core.stats().get("sip", "rx") as u32;
    let out = sim.sip(from, &options(from, n));
    let dropped = sim.core.stats().get("drop", "acl") > before;
    assert_eq!(out.is_empty(), dropped, "{out:#?}");
    if let Some(o) = out.first() {
        assert_eq!(o.first_line(), "SIP/2.0 200 OK");
    }
    !dropped
}

#[test]
fn an_allow_name_lets_in_its_address_only_once_resolved() {
    let mut sim = sim_with("hosts_allow_sip = peer.example/32\n");
    // The query leaves at start, without blocking anything.
    let q = queries(&sim.advance(Duration::ZERO));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, "peer.example");
    // Before the answer: the allow list names nobody yet (fail closed).
    assert!(!let_in(&mut sim, PEER));
    assert!(!let_in(&mut sim, OTHER));
    assert!(answer(&mut sim, &q[0].1, [198, 51, 100, 3], 300).is_empty());
    assert!(let_in(&mut sim, PEER));
    assert!(!let_in(&mut sim, OTHER));
    assert_eq!(sim.core.stats().get("acl-names", "resolved"), 1);
}

#[test]
fn a_name_with_a_prefix_admits_its_network() {
    let mut sim = sim_with("hosts_allow_sip = provider.example/30\n");
    let q = queries(&sim.advance(Duration::ZERO));
    answer(&mut sim, &q[0].1, [198, 51, 100, 2], 300);
    assert!(let_in(&mut sim, PEER)); // .3 is in .0/30
    assert!(!let_in(&mut sim, OTHER)); // .4 is not
}

#[test]
fn the_name_is_asked_again_when_its_ttl_runs_out_and_follows_a_move() {
    let mut sim = sim_with("hosts_allow_sip = peer.example\n");
    let q = queries(&sim.advance(Duration::ZERO));
    answer(&mut sim, &q[0].1, [198, 51, 100, 3], 300);
    // Nothing is asked while the answer is fresh.
    assert!(queries(&sim.advance(Duration::from_secs(299))).is_empty());
    let q = queries(&sim.advance(Duration::from_secs(1)));
    assert_eq!(q.len(), 1, "asked again at the TTL");
    // Until the new answer, the old address stays good.
    assert!(let_in(&mut sim, PEER));
    answer(&mut sim, &q[0].1, [198, 51, 100, 5], 300);
    assert!(!let_in(&mut sim, PEER));
    assert!(let_in(&mut sim, MOVED));
    assert_eq!(sim.core.stats().get("acl-names", "changed"), 1);
}

#[test]
fn a_short_ttl_is_asked_again_after_the_floor_not_sooner() {
    let mut sim = sim_with("hosts_allow_sip = peer.example\n");
    let q = queries(&sim.advance(Duration::ZERO));
    answer(&mut sim, &q[0].1, [198, 51, 100, 3], 5);
    assert!(queries(&sim.advance(Duration::from_secs(59))).is_empty());
    assert_eq!(queries(&sim.advance(Duration::from_secs(1))).len(), 1);
    // A TTL of a day is asked again after the ceiling, an hour.
    let mut sim = sim_with("hosts_allow_sip = peer.example\n");
    let q = queries(&sim.advance(Duration::ZERO));
    answer(&mut sim, &q[0].1, [198, 51, 100, 3], 86_400);
    assert!(queries(&sim.advance(Duration::from_secs(3599))).is_empty());
    assert_eq!(queries(&sim.advance(Duration::from_secs(1))).len(), 1);
}

#[test]
fn a_failed_refresh_keeps_the_last_address_and_is_retried() {
    let mut sim = sim_with("hosts_allow_sip = peer.example\n");
    let q = queries(&sim.advance(Duration::ZERO));
    answer(&mut sim, &q[0].1, [198, 51, 100, 3], 60);
    let q = queries(&sim.advance(Duration::from_secs(60)));
    assert_eq!(q.len(), 1);
    // The server fails (SERVFAIL, and no other server to ask).
    sim.dns(DNS_SERVER, &reply(&q[0].1, 2, None));
    assert_eq!(sim.core.stats().get("acl-names", "failed"), 1);
    assert!(let_in(&mut sim, PEER), "the last good address stays");
    assert!(!let_in(&mut sim, OTHER));
    // Asked again when the resolver lets go of the failure (30 s); this
    // time nobody answers at all: still the old address.
    assert!(queries(&sim.advance(Duration::from_millis(29_500))).is_empty());
    let sent = sim.advance(Duration::from_secs(1));
    assert_eq!(queries(&sent).len(), 1);
    let _ = sim.advance(Duration::from_secs(12)); // 1 + 2 + 4 + 4 s of tries
    assert_eq!(sim.core.stats().get("acl-names", "failed"), 2);
    assert!(let_in(&mut sim, PEER));
    // Asked again 30 s after the time-out; the next answer is taken.
    let q = queries(&sim.advance(Duration::from_secs(29)));
    assert_eq!(q.len(), 1, "{q:?}");
    answer(&mut sim, &q[0].1, [198, 51, 100, 5], 300);
    assert!(let_in(&mut sim, MOVED) && !let_in(&mut sim, PEER));
}

#[test]
fn an_unresolved_deny_name_denies_nobody_and_is_retried_soon() {
    let mut sim = sim_with("hosts_deny_sip = bad.example, 198.51.100.4\n");
    let q = queries(&sim.advance(Duration::ZERO));
    assert_eq!(q.len(), 1);
    // Not resolved: the name denies nobody, the address entry still does.
    assert!(let_in(&mut sim, PEER));
    assert!(!let_in(&mut sim, OTHER));
    // NXDOMAIN without SOA: the resolver's shortest negative TTL, 10 s.
    sim.dns(DNS_SERVER, &reply(&q[0].1, 3, None));
    assert!(let_in(&mut sim, PEER));
    assert!(queries(&sim.advance(Duration::from_secs(9))).is_empty());
    let q = queries(&sim.advance(Duration::from_secs(1)));
    assert_eq!(q.len(), 1, "retried after 10 s");
    answer(&mut sim, &q[0].1, [198, 51, 100, 3], 300);
    assert!(!let_in(&mut sim, PEER), "denied once resolved");
    assert!(!let_in(&mut sim, OTHER));
    assert!(let_in(&mut sim, MOVED));
}

#[test]
fn a_reload_resolves_every_name_again() {
    let text = format!(
        "{}rtp_proxy_enable = 0\nhosts_allow_sip = peer.example\n",
        config_text()
    );
    let mut sim = Sim::with_config(&text);
    let q = queries(&sim.advance(Duration::ZERO));
    answer(&mut sim, &q[0].1, [198, 51, 100, 3], 3000);
    let more = format!("{text}hosts_allow_sip = other.example/32\n");
    let (cfg, d) = parse_siproxd_conf(&more, "sim.conf");
    assert!(d.is_empty(), "{d:?}");
    sim.core.reconfigure(sim.now, cfg);
    let mut q = queries(&sim.advance(Duration::ZERO));
    q.sort();
    let names: Vec<&str> = q.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["other.example", "peer.example"],
        "asked again at once"
    );
    // The old address serves until the new answer.
    assert!(let_in(&mut sim, PEER));
    assert!(!let_in(&mut sim, OTHER));
    answer(&mut sim, &q[0].1, [198, 51, 100, 4], 300);
    answer(&mut sim, &q[1].1, [198, 51, 100, 3], 300);
    assert!(let_in(&mut sim, PEER) && let_in(&mut sim, OTHER));
    assert!(!let_in(&mut sim, MOVED));
}

#[test]
fn many_names_take_only_a_share_of_the_resolver() {
    let mut sim = sim_with("hosts_allow_sip = a.example, b.example, c.example\n");
    let q = queries(&sim.advance(Duration::ZERO));
    assert_eq!(q.len(), 2, "two at a time");
    let next = answer(&mut sim, &q[0].1, [198, 51, 100, 3], 300);
    let q2 = queries(&next);
    assert_eq!(q2.len(), 1, "the third once one is answered");
    answer(&mut sim, &q[1].1, [198, 51, 100, 4], 300);
    answer(&mut sim, &q2[0].1, [198, 51, 100, 5], 300);
    assert!(let_in(&mut sim, PEER) && let_in(&mut sim, OTHER) && let_in(&mut sim, MOVED));
}

#[test]
fn a_registration_list_name_admits_the_phone_it_names() {
    let mut sim = sim_with("hosts_allow_reg = phone.lan.example\n");
    let q = queries(&sim.advance(Duration::ZERO));
    let reg = register("100", "198.51.100.2", PHONE, "reg1", 1, "r1", 600);
    let out = sim.sip(PHONE, &reg);
    assert_eq!(out.len(), 1);
    assert!(out[0].first_line().starts_with("SIP/2.0 403"), "{out:#?}");
    answer(&mut sim, &q[0].1, [10, 77, 1, 2], 300);
    let reg = register("100", "198.51.100.2", PHONE, "reg1", 2, "r2", 600);
    let out = sim.sip(PHONE, &reg);
    assert_eq!(out.len(), 1);
    assert!(out[0].first_line().starts_with("REGISTER"), "{out:#?}");
}
