use super::wire::{Malformed, RCODE_NXDOMAIN, TYPE_A, TYPE_CNAME, TYPE_SOA, TYPE_SRV};
use super::*;
use crate::transport::Transport;
use std::net::SocketAddrV6;

const NS1: &str = "192.0.2.53:53";
const NS2: &str = "198.51.100.53:53";
const NS3: &str = "[2001:db8::53]:53";
const LAN: Side = Side::Lan;
const WAN: Side = Side::Wan;
const V4: Families = Families::V4;

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn resolver(ns: &[&str]) -> Resolver {
    let ns: Vec<SocketAddr> = ns.iter().map(|s| sa(s)).collect();
    Resolver::new(&ns, 0x1234_5678_9abc_def0)
}

/// Uncompressed wire form of a dotted name.
fn wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// Every datagram the resolver wants to send now, with its query.
fn drain_q(r: &mut Resolver, now: Instant) -> Vec<(QueryHandle, SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while let Some((query, to, len)) = r.poll_transmit(now, &mut buf) {
        out.push((query, to, buf[..len].to_vec()));
    }
    out
}

/// Every datagram the resolver wants to send now.
fn drain(r: &mut Resolver, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
    drain_q(r, now)
        .into_iter()
        .map(|(_, to, q)| (to, q))
        .collect()
}

/// The handle of the query in flight with the id `data` starts with.
fn handle_of(r: &Resolver, data: &[u8]) -> Option<QueryHandle> {
    let id = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
    r.pending.iter().enumerate().find_map(|(slot, q)| {
        let q = q.as_ref().filter(|q| q.id == id)?;
        Some(QueryHandle {
            slot: slot as u8,
            serial: q.serial,
        })
    })
}

/// `data` from `from`, read on the socket of the query whose id it
/// carries (as the driver would): did a lookup complete?
fn feed(r: &mut Resolver, now: Instant, from: SocketAddr, data: &[u8]) -> bool {
    // No query with that id: a handle no query has, as for a socket
    // whose query is over.
    let query = handle_of(r, data).unwrap_or(QueryHandle {
        slot: 0,
        serial: u32::MAX,
    });
    r.handle_response(now, query, from, data) == Ok(true)
}

/// The single datagram the resolver wants to send now.
fn one(r: &mut Resolver, now: Instant) -> (SocketAddr, Vec<u8>) {
    let mut sent = drain(r, now);
    assert_eq!(sent.len(), 1, "expected exactly one query, got {sent:?}");
    sent.remove(0)
}

fn rr(owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

fn a_rr(owner: &[u8], ttl: u32, ip: [u8; 4]) -> Vec<u8> {
    rr(owner, TYPE_A, ttl, &ip)
}

fn srv_rr(owner: &[u8], ttl: u32, prio: u16, weight: u16, port: u16, target: &str) -> Vec<u8> {
    let mut rdata = Vec::new();
    rdata.extend_from_slice(&prio.to_be_bytes());
    rdata.extend_from_slice(&weight.to_be_bytes());
    rdata.extend_from_slice(&port.to_be_bytes());
    rdata.extend_from_slice(&wire(target));
    rr(owner, TYPE_SRV, ttl, &rdata)
}

fn soa_rr(owner: &str, ttl: u32, minimum: u32) -> Vec<u8> {
    let mut rdata = wire("ns.example.com");
    rdata.extend_from_slice(&wire("hostmaster.example.com"));
    for v in [2024_u32, 3600, 600, 86400, minimum] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    rr(&wire(owner), TYPE_SOA, ttl, &rdata)
}

/// A reply to `query`: its id and question, QR+RD+RA and `rcode`, then
/// the given sections.
fn reply(query: &[u8], rcode: u16, an: &[Vec<u8>], ns: &[Vec<u8>], ar: &[Vec<u8>]) -> Vec<u8> {
    let mut out = query[..2].to_vec();
    out.extend_from_slice(&(0x8180 | rcode).to_be_bytes());
    for n in [1, an.len(), ns.len(), ar.len()] {
        out.extend_from_slice(&(n as u16).to_be_bytes());
    }
    out.extend_from_slice(&query[12..]);
    for r in an.iter().chain(ns).chain(ar) {
        out.extend_from_slice(r);
    }
    out
}

/// Pointer to the question name (offset 12), RFC 1035 §4.1.4.
const QNAME: [u8; 2] = [0xC0, 0x0C];

fn v4(s: &str) -> SocketAddr {
    sa(s)
}

// ---- IP literals, names, configuration ---------------------------------

#[test]
fn ip_literals_are_ready_without_queries() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "10.0.0.7", None, Transport::Udp, LAN, V4),
        Lookup::Ready(v4("10.0.0.7:5060"))
    );
    assert_eq!(
        r.resolve(t0, "10.0.0.7", Some(5080), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("10.0.0.7:5080"))
    );
    assert_eq!(
        r.resolve(t0, "[2001:db8::1]", None, Transport::Udp, LAN, V4),
        Lookup::Ready(sa("[2001:db8::1]:5060"))
    );
    assert_eq!(
        r.resolve(t0, "2001:db8::1", Some(7), Transport::Udp, LAN, V4),
        Lookup::Ready(sa("[2001:db8::1]:7"))
    );
    // Even without nameservers.
    let mut none = Resolver::new(&[], 1);
    assert_eq!(
        none.resolve(t0, "192.0.2.1", None, Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.1:5060"))
    );
    assert!(drain(&mut r, t0).is_empty());
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn no_nameserver_fails_names() {
    let t0 = Instant::now();
    let mut r = Resolver::new(&[], 1);
    assert_eq!(
        r.resolve(t0, "example.com", None, Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoNameserver)
    );
    assert_eq!(
        r.resolve(t0, "example.com", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoNameserver)
    );
    assert!(drain(&mut r, t0).is_empty());
}

#[test]
fn bad_names_fail_at_once() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    let long_label = "a".repeat(64);
    assert_eq!(
        r.resolve(t0, &long_label, Some(1), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NameTooLong)
    );
    // 4 × 63-octet labels = 256 octets on the wire with the root: too long.
    let long_name = ["b".repeat(63).as_str(); 4].join(".");
    assert_eq!(
        r.resolve(t0, &long_name, Some(1), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NameTooLong)
    );
    for bad in [
        "",
        ".",
        "a..b",
        ".a",
        "exa mple.com",
        "ex@mple.com",
        "caf\u{e9}.fr",
    ] {
        assert_eq!(
            r.resolve(t0, bad, Some(1), Transport::Udp, LAN, V4),
            Lookup::Failed(DnsError::NoSuchName),
            "{bad:?}"
        );
    }
    assert!(drain(&mut r, t0).is_empty());
    // A name of exactly 255 octets is fine: 3 × 63 + one 61-octet label.
    let max = format!(
        "{}.{}",
        ["c".repeat(63).as_str(); 3].join("."),
        "d".repeat(61)
    );
    assert_eq!(wire(&max).len(), 255);
    assert_eq!(
        r.resolve(t0, &max, Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    assert_eq!(q.len(), HEADER_LEN + 255 + 4);
    assert!(q.len() <= MAX_QUERY_LEN);
}

#[test]
fn resolv_conf_parsing() {
    let text = "# generated by netifd\n\
                search lan\n\
                nameserver 127.0.0.1\n\
                ; old comment\n\
                nameserver\n\
                nameserver not-an-ip\n\
                \tnameserver   2001:db8::1   # trailing comment\n\
                nameserver 127.0.0.1\n\
                nameserver fe80::1%3\n\
                nameserver fe80::2%eth0\n\
                nameservers 10.0.0.9\n\
                nameserver 10.0.0.4\n";
    let ns = parse_resolv_conf(text);
    let want: [SocketAddr; 3] = [
        sa("127.0.0.1:53"),
        sa("[2001:db8::1]:53"),
        SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 3)),
    ];
    assert_eq!(ns.as_slice(), &want);
    assert!(parse_resolv_conf("").is_empty());
    assert!(parse_resolv_conf("domain lan\noptions ndots:1\n").is_empty());
}

#[test]
fn error_texts() {
    assert_eq!(DnsError::NoSuchName.as_str(), "no-such-name");
    assert_eq!(DnsError::Timeout.to_string(), "timeout");
}

// ---- A lookups ---------------------------------------------------------

#[test]
fn a_lookup_with_port_sends_exact_query_and_uses_answer() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "Pbx.Example.COM", Some(5070), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (to, q) = one(&mut r, t0);
    assert_eq!(to, sa(NS1));
    // RFC 1035 §4.1.1/4.1.2: id, RD, one question, name lower-cased, A, IN.
    let mut want = q[..2].to_vec();
    want.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(b"\x03pbx\x07example\x03com\x00\x00\x01\x00\x01");
    assert_eq!(q, want);
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(1)));

    let resp = reply(&q, 0, &[a_rr(&QNAME, 300, [203, 0, 113, 5])], &[], &[]);
    assert!(feed(&mut r, t0, sa(NS1), &resp));
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(
        r.resolve(t0, "pbx.example.com", Some(5070), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("203.0.113.5:5070"))
    );
    // Same name, other port: same cached address.
    assert_eq!(
        r.resolve(t0, "PBX.example.com.", Some(6000), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("203.0.113.5:6000"))
    );
    assert!(drain(&mut r, t0).is_empty());
    // A duplicate of the reply is now unexpected.
    assert!(!feed(&mut r, t0, sa(NS1), &resp));
}

#[test]
fn first_a_record_of_several_is_used_and_other_types_skipped() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "multi.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let an = [
        rr(
            &QNAME,
            28,
            60,
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ), // AAAA
        rr(&QNAME, TYPE_A, 60, &[1, 2, 3]), // A with bad length: skipped
        a_rr(&wire("other.test"), 60, [9, 9, 9, 9]), // other owner
        a_rr(&QNAME, 60, [192, 0, 2, 10]),
        a_rr(&QNAME, 60, [192, 0, 2, 11]),
    ];
    assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &[])));
    assert_eq!(
        r.resolve(t0, "multi.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.10:5060"))
    );
}

#[test]
fn cname_chain_is_followed_within_the_answer() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "sip.example.com", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    // Question name at 12: \x03sip\x07example\x03com\x00, "example" at 16.
    // Answer records out of order on purpose (the A first), names
    // compressed with pointers to earlier names.
    let an0 = a_rr(&wire("HOST.example.com"), 500, [198, 51, 100, 7]);
    let an1_rdata = [&b"\x04edge"[..], &[0xC0, 16]].concat();
    let an1 = rr(&QNAME, TYPE_CNAME, 600, &an1_rdata); // sip -> edge.example.com
    // an1 starts after the question and an0; its RDATA after 2 + 10 bytes.
    let edge_at = q.len() + an0.len() + 12;
    let an2_rdata = [&b"\x04host"[..], &[0xC0, 16]].concat();
    let an2 = rr(&[0xC0, edge_at as u8], TYPE_CNAME, 100, &an2_rdata); // edge -> host
    let resp = reply(&q, 0, &[an0, an1, an2], &[], &[]);
    assert_eq!(&resp[edge_at..edge_at + 7], b"\x04edge\xC0\x10");
    assert!(feed(&mut r, t0, sa(NS1), &resp));
    assert_eq!(
        r.resolve(t0, "sip.example.com", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("198.51.100.7:5060"))
    );
    // TTL is the smallest along the chain (100 s).
    let t = t0 + Duration::from_secs(99);
    assert_eq!(
        r.resolve(t, "sip.example.com", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("198.51.100.7:5060"))
    );
    let t = t0 + Duration::from_secs(100);
    assert_eq!(
        r.resolve(t, "sip.example.com", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
}

#[test]
fn cname_without_address_is_no_data() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "alias.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let an = [
        rr(&QNAME, TYPE_CNAME, 60, &wire("target.test")),
        // An A record of a name outside the chain is not used.
        a_rr(&wire("elsewhere.test"), 60, [10, 0, 0, 1]),
    ];
    assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &[])));
    assert_eq!(
        r.resolve(t0, "alias.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoAddress)
    );
}

#[test]
fn cname_loop_in_answer_terminates() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "a.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let an = [
        rr(&QNAME, TYPE_CNAME, 60, &wire("b.test")),
        rr(&wire("b.test"), TYPE_CNAME, 60, &wire("a.test")),
    ];
    assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &[])));
    assert_eq!(
        r.resolve(t0, "a.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoAddress)
    );
}

#[test]
fn nxdomain_is_cached_for_soa_minimum_then_retried() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "nope.example.com", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    // RFC 2308 §5: min(SOA TTL 3600, MINIMUM 20) = 20 s.
    let resp = reply(
        &q,
        RCODE_NXDOMAIN,
        &[],
        &[soa_rr("example.com", 3600, 20)],
        &[],
    );
    assert!(feed(&mut r, t0, sa(NS1), &resp));
    let t = t0 + Duration::from_secs(19);
    assert_eq!(
        r.resolve(t, "nope.example.com", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoSuchName)
    );
    assert!(drain(&mut r, t).is_empty());
    let t = t0 + Duration::from_secs(20);
    assert_eq!(
        r.resolve(t, "nope.example.com", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert_eq!(drain(&mut r, t).len(), 1);
}

#[test]
fn negative_ttl_is_capped_and_floored() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    // SOA minimum of a day: capped at 60 s.
    assert_eq!(
        r.resolve(t0, "big.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let resp = reply(
        &q,
        RCODE_NXDOMAIN,
        &[],
        &[soa_rr("test", 86400, 86400)],
        &[],
    );
    assert!(feed(&mut r, t0, sa(NS1), &resp));
    // No SOA at all (no data): the 10 s floor.
    assert_eq!(
        r.resolve(t0, "nosoa.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &[], &[], &[])));
    let t = t0 + Duration::from_secs(9);
    assert_eq!(
        r.resolve(t, "nosoa.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoAddress)
    );
    let t = t0 + Duration::from_secs(10);
    assert_eq!(
        r.resolve(t, "nosoa.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let t = t0 + Duration::from_secs(59);
    assert_eq!(
        r.resolve(t, "big.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoSuchName)
    );
    let t = t0 + Duration::from_secs(60);
    assert_eq!(
        r.resolve(t, "big.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
}

#[test]
fn positive_ttl_expiry_floor_and_cap() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    for (host, ttl) in [
        ("short.test", 5_u32),
        ("normal.test", 300),
        ("long.test", 86400),
        ("neg.test", 0x8000_0001),
    ] {
        assert_eq!(
            r.resolve(t0, host, Some(5060), Transport::Udp, LAN, V4),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, t0);
        assert!(feed(
            &mut r,
            t0,
            sa(NS1),
            &reply(&q, 0, &[a_rr(&QNAME, ttl, [10, 0, 0, 1])], &[], &[])
        ));
    }
    let ready = Lookup::Ready(v4("10.0.0.1:5060"));
    let at = |s: u64| t0 + Duration::from_secs(s);
    // 5 s and "negative" (top bit, RFC 2181 §8) TTLs are raised to 30 s.
    assert_eq!(
        r.resolve(at(29), "short.test", Some(5060), Transport::Udp, LAN, V4),
        ready
    );
    assert_eq!(
        r.resolve(at(29), "neg.test", Some(5060), Transport::Udp, LAN, V4),
        ready
    );
    assert_eq!(
        r.resolve(at(299), "normal.test", Some(5060), Transport::Udp, LAN, V4),
        ready
    );
    assert_eq!(
        r.resolve(at(3599), "long.test", Some(5060), Transport::Udp, LAN, V4),
        ready
    );
    let _ = drain(&mut r, at(29));
    assert_eq!(
        r.resolve(at(30), "short.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert_eq!(
        r.resolve(at(300), "normal.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    // A day is capped at one hour.
    assert_eq!(
        r.resolve(at(3600), "long.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
}

// ---- SRV -----------------------------------------------------------------

#[test]
fn srv_with_additional_a_needs_one_query() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "Example.com", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (to, q) = one(&mut r, t0);
    assert_eq!(to, sa(NS1));
    // RFC 3263 §4.2: _sip._udp.<host>, type SRV (33).
    assert_eq!(
        &q[12..],
        b"\x04_sip\x04_udp\x07example\x03com\x00\x00\x21\x00\x01"
    );
    let an = [
        srv_rr(&QNAME, 300, 20, 0, 5062, "backup.example.com"),
        srv_rr(&QNAME, 300, 10, 60, 5080, "sip1.example.com"),
    ];
    let ar = [
        a_rr(&wire("backup.example.com"), 300, [192, 0, 2, 2]),
        a_rr(&wire("SIP1.example.com"), 300, [192, 0, 2, 1]),
    ];
    let resp = reply(&q, 0, &an, &[soa_rr("example.com", 60, 60)], &ar);
    assert!(feed(&mut r, t0, sa(NS1), &resp));
    assert_eq!(
        r.resolve(t0, "example.com", None, Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.1:5080"))
    );
    assert!(drain(&mut r, t0).is_empty());
}

#[test]
fn srv_without_glue_then_a_of_target() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "voip.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let an = [srv_rr(&QNAME, 120, 0, 5, 5090, "proxy.voip.test")];
    assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &[])));
    // Second step: A of the target.
    assert_eq!(
        r.resolve(t0, "voip.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q2) = one(&mut r, t0);
    assert_eq!(&q2[12..], b"\x05proxy\x04voip\x04test\x00\x00\x01\x00\x01");
    assert!(feed(
        &mut r,
        t0,
        sa(NS1),
        &reply(&q2, 0, &[a_rr(&QNAME, 120, [203, 0, 113, 9])], &[], &[])
    ));
    assert_eq!(
        r.resolve(t0, "voip.test", None, Transport::Udp, LAN, V4),
        Lookup::Ready(v4("203.0.113.9:5090"))
    );
}

#[test]
fn srv_nxdomain_falls_back_to_a_on_5060() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "plain.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    assert!(feed(
        &mut r,
        t0,
        sa(NS1),
        &reply(&q, RCODE_NXDOMAIN, &[], &[soa_rr("test", 30, 30)], &[])
    ));
    assert_eq!(
        r.resolve(t0, "plain.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q2) = one(&mut r, t0);
    assert_eq!(&q2[12..], b"\x05plain\x04test\x00\x00\x01\x00\x01");
    assert!(feed(
        &mut r,
        t0,
        sa(NS1),
        &reply(&q2, 0, &[a_rr(&QNAME, 60, [192, 0, 2, 77])], &[], &[])
    ));
    assert_eq!(
        r.resolve(t0, "plain.test", None, Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.77:5060"))
    );
}

#[test]
fn srv_no_data_falls_back_to_a() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "nodata.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    // NOERROR with only an unrelated TXT record.
    let an = [rr(&QNAME, 16, 60, b"\x05hello")];
    assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &[])));
    assert_eq!(
        r.resolve(t0, "nodata.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q2) = one(&mut r, t0);
    assert_eq!(&q2[q2.len() - 4..], &[0, 1, 0, 1]);
    // The A is NXDOMAIN too: the lookup fails, visibly to a retry.
    assert!(feed(
        &mut r,
        t0,
        sa(NS1),
        &reply(&q2, RCODE_NXDOMAIN, &[], &[], &[])
    ));
    assert_eq!(
        r.resolve(t0, "nodata.test", None, Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoSuchName)
    );
    assert!(drain(&mut r, t0).is_empty());
}

#[test]
fn srv_dot_target_means_not_available() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "nosip.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let an = [srv_rr(&QNAME, 300, 0, 0, 0, ".")];
    assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &[])));
    assert_eq!(
        r.resolve(t0, "nosip.test", None, Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoAddress)
    );
    assert!(drain(&mut r, t0).is_empty());
}

#[test]
fn srv_choice_respects_priority_and_weight() {
    let t0 = Instant::now();
    let an = [
        srv_rr(&QNAME, 300, 5, 0, 1000, "zero.test"),
        srv_rr(&QNAME, 300, 5, 30, 1001, "light.test"),
        srv_rr(&QNAME, 300, 5, 70, 1002, "heavy.test"),
        srv_rr(&QNAME, 300, 9, 1000, 1003, "low-priority.test"),
    ];
    let mut counts = [0usize; 4];
    for seed in 1..=400u64 {
        let mut r = Resolver::new(&[sa(NS1)], seed);
        assert_eq!(
            r.resolve(t0, "weighted.test", None, Transport::Udp, LAN, V4),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, t0);
        assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &[])));
        assert_eq!(
            r.resolve(t0, "weighted.test", None, Transport::Udp, LAN, V4),
            Lookup::Pending
        );
        let (_, q2) = one(&mut r, t0);
        let port = match &q2[12..q2.len() - 4] {
            n if n == wire("zero.test").as_slice() => 0,
            n if n == wire("light.test").as_slice() => 1,
            n if n == wire("heavy.test").as_slice() => 2,
            _ => 3,
        };
        counts[port] += 1;
    }
    // Weight 0 loses against non-zero weights; priority 9 is never used;
    // 30:70 shows in the draw.
    assert_eq!(counts[0], 0, "{counts:?}");
    assert_eq!(counts[3], 0, "{counts:?}");
    assert!(
        counts[1] > 60 && counts[2] > 200 && counts[2] > counts[1],
        "{counts:?}"
    );
}

#[test]
fn srv_all_zero_weights_pick_any_of_the_top_priority() {
    let t0 = Instant::now();
    let an = [
        srv_rr(&QNAME, 300, 1, 0, 1000, "a.test"),
        srv_rr(&QNAME, 300, 1, 0, 1001, "b.test"),
    ];
    let mut seen = [false; 2];
    for seed in 1..=50u64 {
        let mut r = Resolver::new(&[sa(NS1)], seed);
        assert_eq!(
            r.resolve(t0, "z.test", None, Transport::Udp, LAN, V4),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, t0);
        let ar = [
            a_rr(&wire("a.test"), 60, [10, 0, 0, 1]),
            a_rr(&wire("b.test"), 60, [10, 0, 0, 2]),
        ];
        assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &ar)));
        match r.resolve(t0, "z.test", None, Transport::Udp, LAN, V4) {
            Lookup::Ready(a) if a == v4("10.0.0.1:1000") => seen[0] = true,
            Lookup::Ready(a) if a == v4("10.0.0.2:1001") => seen[1] = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, [true, true]);
}

#[test]
fn srv_truncated_falls_back_to_a_but_a_truncated_fails() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1, NS2]);
    assert_eq!(
        r.resolve(t0, "big.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let mut resp = reply(&q, 0, &[], &[], &[]);
    resp[2] |= 0x02; // TC
    assert!(feed(&mut r, t0, sa(NS1), &resp));
    // SRV failed: fall back to A (no TCP, no second server for TC).
    assert_eq!(
        r.resolve(t0, "big.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (to, q2) = one(&mut r, t0);
    assert_eq!(to, sa(NS1));
    assert_eq!(&q2[q2.len() - 4..], &[0, 1, 0, 1]);
    let mut resp = reply(&q2, 0, &[a_rr(&QNAME, 60, [1, 2, 3, 4])], &[], &[]);
    resp[2] |= 0x02;
    assert!(feed(&mut r, t0, sa(NS1), &resp));
    assert_eq!(
        r.resolve(t0, "big.test", None, Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::ServerFailure)
    );
}

// ---- Compression and hostile replies -----------------------------------

#[test]
fn compressed_question_and_owner_names_are_understood() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "www.example.org", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    // Answer owner: "WWW" + pointer to "example.org" inside the question
    // (offset 12 + 4 = 16), mixed case on purpose.
    let owner = [3, b'W', b'W', b'W', 0xC0, 16];
    let resp = reply(&q, 0, &[a_rr(&owner, 60, [192, 0, 2, 99])], &[], &[]);
    assert!(feed(&mut r, t0, sa(NS1), &resp));
    assert_eq!(
        r.resolve(t0, "www.example.org", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.99:5060"))
    );
}

#[test]
fn read_name_rejects_pointer_loops_and_forward_pointers() {
    // Pointer to itself.
    let msg = [0u8; 12]
        .iter()
        .copied()
        .chain([0xC0, 12])
        .collect::<Vec<u8>>();
    assert_eq!(read_name(&msg, 12).map(|_| ()), Err(Malformed));
    // Label then a pointer back to that same label: a loop.
    let msg: Vec<u8> = [0u8; 12]
        .iter()
        .copied()
        .chain([1, b'a', 0xC0, 12])
        .collect();
    assert_eq!(read_name(&msg, 12).map(|_| ()), Err(Malformed));
    // Two pointers pointing at each other.
    let msg: Vec<u8> = [0u8; 12]
        .iter()
        .copied()
        .chain([0xC0, 14, 0xC0, 12])
        .collect();
    assert_eq!(read_name(&msg, 12).map(|_| ()), Err(Malformed));
    assert_eq!(read_name(&msg, 14).map(|_| ()), Err(Malformed));
    // Forward pointer, pointer past the end, truncated label, reserved label type.
    let msg: Vec<u8> = [0u8; 12].iter().copied().chain([0xC0, 14, 0]).collect();
    assert_eq!(read_name(&msg, 12).map(|_| ()), Err(Malformed));
    assert_eq!(read_name(&[0xC0], 0).map(|_| ()), Err(Malformed));
    assert_eq!(read_name(&[5, b'a', b'b'], 0).map(|_| ()), Err(Malformed));
    assert_eq!(read_name(&[0x41, 0], 0).map(|_| ()), Err(Malformed));
    // A name longer than 255 octets built from pointers: rejected.
    let mut msg = Vec::new();
    let mut prev = None;
    for _ in 0..5 {
        let at = msg.len();
        msg.push(63);
        msg.extend_from_slice(&[b'x'; 63]);
        match prev {
            Some(p) => msg.extend_from_slice(&[0xC0 | (p >> 8) as u8, p as u8]),
            None => msg.push(0),
        }
        prev = Some(at);
    }
    assert_eq!(read_name(&msg, prev.unwrap()).map(|_| ()), Err(Malformed));
    // A good chain: "b" -> "a" -> root, ends after the first pointer.
    let msg = [1, b'A', 0, 1, b'b', 0xC0, 0];
    let (name, end) = read_name(&msg, 3).expect("valid name");
    assert_eq!(name.wire(), b"\x01b\x01a\x00");
    assert_eq!(end, 7);
    assert_eq!(name.to_string(), "b.a");
}

#[test]
fn answer_with_pointer_loop_moves_on_and_never_panics() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "loop.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let owner_at = q.len(); // the answer's owner points at itself
    let resp = reply(
        &q,
        0,
        &[a_rr(&[0xC0, owner_at as u8], 60, [6, 6, 6, 6])],
        &[],
        &[],
    );
    assert_eq!(&resp[owner_at..owner_at + 2], &[0xC0, owner_at as u8]);
    // The question matched, the answer is malformed: with a single server
    // that is a server failure.
    assert!(feed(&mut r, t0, sa(NS1), &resp));
    assert_eq!(
        r.resolve(t0, "loop.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::ServerFailure)
    );
}

#[test]
fn garbage_and_truncated_replies_never_panic() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "sip.example.net", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let an = [srv_rr(&QNAME, 300, 1, 1, 5060, "x.example.net")];
    let ar = [a_rr(&[0xC0, 0xFF], 60, [1, 1, 1, 1])];
    let good = reply(&q, 0, &an, &[soa_rr("example.net", 1, 1)], &ar);
    // Every prefix: the ones that cut the question are ignored, the
    // others complete the lookup; none panics.
    for cut in 0..good.len() {
        let mut fresh = resolver(&[NS1]);
        let _ = fresh.resolve(t0, "sip.example.net", None, Transport::Udp, LAN, V4);
        let sent = drain_q(&mut fresh, t0);
        let (fh, _, fq) = &sent[0];
        let mut msg = good[..cut].to_vec();
        if msg.len() >= 2 {
            msg[..2].copy_from_slice(&fq[..2]);
        }
        let done = fresh.handle_response(t0, *fh, sa(NS1), &msg);
        assert_eq!(done == Ok(true), cut >= q.len(), "cut at {cut}");
        if cut < HEADER_LEN {
            assert_eq!(done, Err(Ignored::Runt), "cut at {cut}");
        }
    }
    // Pseudo-random garbage, with the right id so that parsing goes deep.
    let mut rng = Rng::new(99);
    for _ in 0..2000 {
        let len = (rng.next_u64() % 120) as usize;
        let mut msg: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 2 {
            msg[..2].copy_from_slice(&q[..2]);
        }
        if len > 12 && rng.next_u64() % 2 == 0 {
            // Keep the real question so the answer parser is reached.
            msg.splice(2..12, reply(&q, 0, &[], &[], &[])[2..12].iter().copied());
            msg[7] = (rng.next_u64() % 4) as u8;
            msg[11] = (rng.next_u64() % 4) as u8;
            msg.splice(12..12.min(msg.len()), q[12..].iter().copied());
        }
        let _ = feed(&mut r, t0, sa(NS1), &msg);
        let _ = r.resolve(t0, "sip.example.net", None, Transport::Udp, LAN, V4);
        let _ = drain(&mut r, t0);
    }
    // The full good reply, on a fresh resolver, is understood.
    let mut r = resolver(&[NS1]);
    let _ = r.resolve(t0, "sip.example.net", None, Transport::Udp, LAN, V4);
    let (_, q) = one(&mut r, t0);
    let mut good = good.clone();
    good[..2].copy_from_slice(&q[..2]);
    assert!(feed(&mut r, t0, sa(NS1), &good));
    assert_eq!(
        r.resolve(t0, "sip.example.net", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    ); // A of x.example.net
}

// ---- Anti-spoofing ---------------------------------------------------------

#[test]
fn replies_from_wrong_source_id_or_question_are_ignored() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "target.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let sent = drain_q(&mut r, t0);
    let (h, _, q) = &sent[0];
    let (h, q) = (*h, q.clone());
    let mut take = |from: &str, data: &[u8]| r.handle_response(t0, h, sa(from), data);
    let good = reply(&q, 0, &[a_rr(&QNAME, 60, [192, 0, 2, 1])], &[], &[]);
    // Wrong source address, then the right address with another port.
    assert_eq!(take(NS2, &good), Err(Ignored::WrongSource));
    assert_eq!(take("192.0.2.53:5353", &good), Err(Ignored::WrongSource));
    // Wrong id.
    let mut bad = good.clone();
    bad[1] ^= 0x5A;
    assert_eq!(take(NS1, &bad), Err(Ignored::WrongId));
    // A query (QR clear) with the right id.
    let mut bad = good.clone();
    bad[2] &= 0x7F;
    assert_eq!(take(NS1, &bad), Err(Ignored::WrongQuestion));
    // Another question name.
    let mut other = q.clone();
    other[13] = b'x'; // "xarget.test"
    let bad = reply(&other, 0, &[a_rr(&QNAME, 60, [6, 6, 6, 6])], &[], &[]);
    assert_eq!(take(NS1, &bad), Err(Ignored::WrongQuestion));
    // Another question type (AAAA) and class (CH).
    let mut bad = good.clone();
    let qt = q.len() - 4;
    bad[qt + 1] = 28;
    assert_eq!(take(NS1, &bad), Err(Ignored::WrongQuestion));
    let mut bad = good.clone();
    bad[qt + 3] = 3;
    assert_eq!(take(NS1, &bad), Err(Ignored::WrongQuestion));
    // Two questions.
    let mut bad = good.clone();
    bad[5] = 2;
    assert_eq!(take(NS1, &bad), Err(Ignored::WrongQuestion));
    // A runt.
    assert_eq!(take(NS1, &good[..11]), Err(Ignored::Runt));
    // The question in upper case is the same question (RFC 4343).
    let mut upper = good.clone();
    upper[12..q.len() - 4].make_ascii_uppercase();
    assert_eq!(take(NS1, &upper), Ok(true));
    // Once answered, the query is over: a duplicate is stale.
    assert_eq!(take(NS1, &good), Err(Ignored::Stale));
    assert_eq!(
        r.resolve(t0, "target.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.1:5060"))
    );
}

// ---- One socket per query: handles ----------------------------------------

#[test]
fn each_query_has_its_own_handle_kept_by_its_retransmissions() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1, NS2]);
    assert_eq!(
        r.resolve(t0, "a.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert_eq!(
        r.resolve(t0, "b.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let sent = drain_q(&mut r, t0);
    assert_eq!(sent.len(), 2);
    let (ha, hb) = (sent[0].0, sent[1].0);
    assert_ne!(ha, hb);
    assert_ne!(ha.slot(), hb.slot());
    assert!(ha.slot() < MAX_DNS_PENDING && hb.slot() < MAX_DNS_PENDING);
    assert!(r.in_flight(ha) && r.in_flight(hb));
    // A retransmission (timeout) and a resend to new servers keep the
    // query's handle: they may leave from the same socket.
    let t1 = t0 + Duration::from_secs(1);
    assert!(!r.handle_timeout(t1));
    let again = drain_q(&mut r, t1);
    assert_eq!(again.len(), 2);
    assert_eq!((again[0].0, again[1].0), (ha, hb));
    assert_eq!(again[0].1, sa(NS2));
    r.set_nameservers(&[sa(NS3)]);
    let moved = drain_q(&mut r, t1);
    assert_eq!((moved[0].0, moved[0].1), (ha, sa(NS3)));
    // Once a query is over, its handle is not in flight, and the next
    // query in its slot has another handle.
    let ans = reply(&sent[0].2, 0, &[a_rr(&QNAME, 60, [192, 0, 2, 1])], &[], &[]);
    assert_eq!(r.handle_response(t1, ha, sa(NS1), &ans), Ok(true));
    assert!(!r.in_flight(ha));
    assert!(r.in_flight(hb));
    assert_eq!(
        r.resolve(t1, "c.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let hc = drain_q(&mut r, t1)[0].0;
    assert_eq!(hc.slot(), ha.slot());
    assert_ne!(hc, ha);
    assert!(r.in_flight(hc));
    assert!(!r.in_flight(ha));
}

#[test]
fn a_reply_is_taken_only_on_the_socket_of_its_query() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "a.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert_eq!(
        r.resolve(t0, "b.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let sent = drain_q(&mut r, t0);
    let (ha, hb) = (sent[0].0, sent[1].0);
    let ans_a = reply(&sent[0].2, 0, &[a_rr(&QNAME, 60, [192, 0, 2, 1])], &[], &[]);
    // a.test's reply, perfect in every other way, read on b.test's
    // socket: refused, and b.test is still waiting.
    assert_eq!(
        r.handle_response(t0, hb, sa(NS1), &ans_a),
        Err(Ignored::WrongId)
    );
    assert!(r.in_flight(ha) && r.in_flight(hb));
    assert_eq!(
        r.resolve(t0, "a.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    // On its own socket it is taken.
    assert_eq!(r.handle_response(t0, ha, sa(NS1), &ans_a), Ok(true));
    // A socket of a query that is over takes nothing, even when a new
    // query now holds that slot.
    assert_eq!(
        r.resolve(t0, "c.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let sent_c = drain_q(&mut r, t0);
    let (hc, _, qc) = &sent_c[0];
    assert_eq!(hc.slot(), ha.slot());
    let ans_c = reply(qc, 0, &[a_rr(&QNAME, 60, [192, 0, 2, 3])], &[], &[]);
    assert_eq!(
        r.handle_response(t0, ha, sa(NS1), &ans_c),
        Err(Ignored::Stale)
    );
    assert_eq!(r.handle_response(t0, *hc, sa(NS1), &ans_c), Ok(true));
}

#[test]
fn no_socket_fails_the_lookup_for_a_moment() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "a.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let h = drain_q(&mut r, t0)[0].0;
    assert!(r.socket_failed(t0, h));
    assert!(!r.in_flight(h));
    assert_eq!(r.poll_timeout(), None);
    // Twice is harmless.
    assert!(!r.socket_failed(t0, h));
    // The retry of the parked work fails instead of starting over ...
    assert_eq!(
        r.resolve(t0, "a.test", None, Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoSocket)
    );
    assert!(drain(&mut r, t0).is_empty());
    // ... for a few seconds only.
    let later = t0 + LOCAL_FAILURE_TTL;
    assert_eq!(
        r.resolve(later, "a.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert_eq!(DnsError::NoSocket.as_str(), "no-socket");
}

// ---- Retransmission, timeouts, servers -------------------------------------

#[test]
fn retransmission_schedule_rotates_servers_then_fails() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut r = resolver(&[NS1, NS2]);
    assert_eq!(
        r.resolve(t0, "slow.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (to, q1) = one(&mut r, t0);
    assert_eq!(to, sa(NS1));
    // Tries at 0, 1, 3, 7 s, alternating servers, same query; failure at 11 s.
    let schedule = [(1000, NS2), (3000, NS1), (7000, NS2)];
    let mut now = 0;
    for (due, server) in schedule {
        assert_eq!(r.poll_timeout(), Some(at(due)));
        assert!(!r.handle_timeout(at(due - 1)));
        assert!(drain(&mut r, at(due - 1)).is_empty());
        assert!(!r.handle_timeout(at(due)));
        let (to, q) = one(&mut r, at(due));
        assert_eq!(to, sa(server));
        assert_eq!(q, q1);
        assert_eq!(
            r.resolve(at(due), "slow.test", Some(5060), Transport::Udp, LAN, V4),
            Lookup::Pending
        );
        now = due;
    }
    assert_eq!(now, 7000);
    assert_eq!(r.poll_timeout(), Some(at(11000)));
    assert!(!r.handle_timeout(at(10999)));
    assert!(r.handle_timeout(at(11000)));
    assert_eq!(r.poll_timeout(), None);
    assert!(drain(&mut r, at(11000)).is_empty());
    // The failure is visible to the retry, and cached for 30 s.
    assert_eq!(
        r.resolve(at(11000), "slow.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::Timeout)
    );
    assert_eq!(
        r.resolve(at(40999), "slow.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::Timeout)
    );
    assert_eq!(
        r.resolve(at(41000), "slow.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    // A late reply is ignored now (the query is gone).
    let late = reply(&q1, 0, &[a_rr(&QNAME, 60, [1, 2, 3, 4])], &[], &[]);
    assert!(!feed(&mut r, at(41000), sa(NS1), &late));
}

#[test]
fn srv_timeout_fails_without_a_fallback() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "dead.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let mut now = t0;
    let mut sends = drain(&mut r, now).len();
    while let Some(t) = r.poll_timeout() {
        now = t;
        if r.handle_timeout(now) {
            break;
        }
        sends += drain(&mut r, now).len();
    }
    assert_eq!(sends, 4);
    assert_eq!(now, t0 + Duration::from_secs(11));
    assert_eq!(
        r.resolve(now, "dead.test", None, Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::Timeout)
    );
    assert!(drain(&mut r, now).is_empty());
}

#[test]
fn late_reply_from_an_earlier_server_is_accepted() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1, NS2]);
    assert_eq!(
        r.resolve(t0, "late.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let t1 = t0 + Duration::from_secs(1);
    assert!(!r.handle_timeout(t1));
    assert_eq!(one(&mut r, t1).0, sa(NS2));
    // NS1 answers the first try after the retransmission to NS2.
    let resp = reply(&q, 0, &[a_rr(&QNAME, 60, [192, 0, 2, 8])], &[], &[]);
    assert!(!feed(&mut r, t1, sa(NS3), &resp));
    assert!(feed(&mut r, t1, sa(NS1), &resp));
    assert_eq!(
        r.resolve(t1, "late.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.8:5060"))
    );
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn servfail_moves_to_next_server_then_fails() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1, NS2]);
    assert_eq!(
        r.resolve(t0, "broken.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (to, q) = one(&mut r, t0);
    assert_eq!(to, sa(NS1));
    assert!(!feed(&mut r, t0, sa(NS1), &reply(&q, 2, &[], &[], &[])));
    let (to, q2) = one(&mut r, t0);
    assert_eq!((to, &q2), (sa(NS2), &q));
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    // REFUSED from the last server: failure, cached.
    assert!(feed(&mut r, t0, sa(NS2), &reply(&q, 5, &[], &[], &[])));
    assert_eq!(
        r.resolve(t0, "broken.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::ServerFailure)
    );
    assert_eq!(
        r.resolve(
            t0 + Duration::from_secs(30),
            "broken.test",
            Some(5060),
            Transport::Udp,
            LAN,
            V4
        ),
        Lookup::Pending
    );
}

#[test]
fn set_nameservers_resends_to_the_new_server() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "moved.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    // Same list: nothing to do.
    r.set_nameservers(&[sa(NS1)]);
    assert!(drain(&mut r, t0).is_empty());
    // New list (more than three given: the first three are used).
    r.set_nameservers(&[sa(NS2), sa(NS3), sa(NS1), sa("192.0.2.99:53")]);
    assert_eq!(r.nameservers(), &[sa(NS2), sa(NS3), sa(NS1)]);
    let (to, again) = one(&mut r, t0);
    assert_eq!((to, &again), (sa(NS2), &q));
    let resp = reply(&q, 0, &[a_rr(&QNAME, 60, [192, 0, 2, 3])], &[], &[]);
    assert!(feed(&mut r, t0, sa(NS2), &resp));
    assert_eq!(
        r.resolve(t0, "moved.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.3:5060"))
    );
}

#[test]
fn small_buffer_keeps_the_query() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "buf.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let mut tiny = [0u8; 10];
    assert_eq!(r.poll_transmit(t0, &mut tiny), None);
    assert_eq!(one(&mut r, t0).0, sa(NS1));
}

// ---- Sharing, limits, cache ----------------------------------------------

#[test]
fn same_name_shares_one_query() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "shared.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert_eq!(
        r.resolve(t0, "SHARED.test", Some(5080), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    assert_eq!(
        r.resolve(t0, "shared.test.", Some(5090), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert!(drain(&mut r, t0).is_empty());
    assert!(feed(
        &mut r,
        t0,
        sa(NS1),
        &reply(&q, 0, &[a_rr(&QNAME, 60, [10, 1, 1, 1])], &[], &[])
    ));
    assert_eq!(
        r.resolve(t0, "shared.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("10.1.1.1:5060"))
    );
    assert_eq!(
        r.resolve(t0, "shared.test", Some(5080), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("10.1.1.1:5080"))
    );
    // SRV lookups of one name share too, and are distinct from the A lookup.
    assert_eq!(
        r.resolve(t0, "srv.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert_eq!(
        r.resolve(t0, "srv.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert_eq!(
        r.resolve(t0, "srv.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert_eq!(drain(&mut r, t0).len(), 2);
}

#[test]
fn too_many_pending_is_refused_and_ids_are_distinct() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    for i in 0..MAX_DNS_PENDING {
        assert_eq!(
            r.resolve(t0, &format!("h{i}.test"), Some(1), Transport::Udp, LAN, V4),
            Lookup::Pending
        );
    }
    assert_eq!(
        r.resolve(t0, "one-more.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::TooManyPending)
    );
    // A name already in flight is still shared.
    assert_eq!(
        r.resolve(t0, "h0.test", Some(2), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let sent = drain(&mut r, t0);
    assert_eq!(sent.len(), MAX_DNS_PENDING);
    let mut ids: Vec<u16> = sent
        .iter()
        .map(|(_, q)| u16::from_be_bytes([q[0], q[1]]))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), MAX_DNS_PENDING);
    // TooManyPending is not cached: once a slot frees, the name goes out.
    let (_, q0) = &sent[0];
    assert!(feed(
        &mut r,
        t0,
        sa(NS1),
        &reply(q0, 0, &[a_rr(&QNAME, 60, [1, 1, 1, 1])], &[], &[])
    ));
    assert_eq!(
        r.resolve(t0, "one-more.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
}

/// Resolves `host` to `ip` with `ttl` through a full query/reply.
fn learn(r: &mut Resolver, now: Instant, host: &str, ttl: u32, ip: [u8; 4]) {
    assert_eq!(
        r.resolve(now, host, Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(r, now);
    assert!(feed(
        r,
        now,
        sa(NS1),
        &reply(&q, 0, &[a_rr(&QNAME, ttl, ip)], &[], &[])
    ));
}

fn is_cached(r: &mut Resolver, now: Instant, host: &str) -> bool {
    match r.resolve(now, host, Some(5060), Transport::Udp, LAN, V4) {
        Lookup::Ready(_) => true,
        Lookup::Pending => {
            // Forget the query so the next probe is not "shared".
            *r.pending = [const { None }; MAX_DNS_PENDING];
            false
        }
        Lookup::Failed(e) => panic!("{host}: {e}"),
    }
}

#[test]
fn full_cache_evicts_nearest_expiry() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    // Fill the cache; entry i lives 100 + i s, except entry 7 (40 s).
    for i in 0..MAX_DNS_CACHE {
        let ttl = if i == 7 { 40 } else { 100 + i as u32 };
        learn(&mut r, t0, &format!("n{i}.test"), ttl, [10, 0, 0, i as u8]);
    }
    assert_eq!(r.cache.len(), MAX_DNS_CACHE);
    // One more at t0 + 1 s: n7 (nearest expiry) is evicted, nothing else.
    let t1 = t0 + Duration::from_secs(1);
    learn(&mut r, t1, "new.test", 300, [10, 0, 1, 0]);
    assert_eq!(r.cache.len(), MAX_DNS_CACHE);
    assert!(!is_cached(&mut r, t1, "n7.test"));
    for i in (0..MAX_DNS_CACHE).filter(|&i| i != 7) {
        assert!(is_cached(&mut r, t1, &format!("n{i}.test")), "n{i}");
    }
    assert!(is_cached(&mut r, t1, "new.test"));
    // At t0 + 102 s n0 and n1 have expired: they are reused first even
    // though n2 expires sooner than the rest.
    let t2 = t0 + Duration::from_millis(101_500);
    learn(&mut r, t2, "late1.test", 300, [10, 0, 2, 1]);
    learn(&mut r, t2, "late2.test", 300, [10, 0, 2, 2]);
    assert!(is_cached(&mut r, t2, "n2.test"));
    assert!(is_cached(&mut r, t2, "late1.test"));
    assert!(is_cached(&mut r, t2, "late2.test"));
    assert_eq!(r.cache.len(), MAX_DNS_CACHE);
}

#[test]
fn fresh_failure_survives_a_full_cache_for_the_retry() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    for i in 0..MAX_DNS_CACHE {
        learn(&mut r, t0, &format!("n{i}.test"), 3600, [10, 0, 0, i as u8]);
    }
    // Two lookups end in the same instant (one pass of the driver): the
    // second answer must not evict the first one's short-lived failure
    // before the work parked on it is retried.
    let t1 = t0 + Duration::from_secs(5);
    assert_eq!(
        r.resolve(t1, "gone.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    assert_eq!(
        r.resolve(t1, "here.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let sent = drain(&mut r, t1);
    assert_eq!(sent.len(), 2);
    assert!(feed(
        &mut r,
        t1,
        sa(NS1),
        &reply(&sent[0].1, 3, &[], &[], &[])
    ));
    let an = [a_rr(&QNAME, 1, [192, 0, 2, 50])];
    assert!(feed(
        &mut r,
        t1,
        sa(NS1),
        &reply(&sent[1].1, 0, &an, &[], &[])
    ));
    assert_eq!(
        r.resolve(t1, "gone.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::NoSuchName)
    );
    assert_eq!(
        r.resolve(t1, "here.test", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.50:5060"))
    );
}

#[test]
fn seed_zero_still_gives_random_ids() {
    let t0 = Instant::now();
    let mut r = Resolver::new(&[sa(NS1)], 0);
    let _ = r.resolve(t0, "a.test", Some(1), Transport::Udp, LAN, V4);
    let _ = r.resolve(t0, "b.test", Some(1), Transport::Udp, LAN, V4);
    let sent = drain(&mut r, t0);
    let ids: Vec<u16> = sent
        .iter()
        .map(|(_, q)| u16::from_be_bytes([q[0], q[1]]))
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    // Different seeds, different first ids.
    let id = |seed| {
        let mut r = Resolver::new(&[sa(NS1)], seed);
        let _ = r.resolve(t0, "a.test", Some(1), Transport::Udp, LAN, V4);
        let (_, q) = one(&mut r, t0);
        u16::from_be_bytes([q[0], q[1]])
    };
    assert_ne!(id(1), id(2));
}

// ---- Poisoning: records this answer did not make relevant -------------------

/// The provider's name, learnt from a real answer to an A query.
const PROVIDER: &str = "sip.provider.example";
const PROVIDER_IP: [u8; 4] = [203, 0, 113, 10];
const EVIL_IP: [u8; 4] = [6, 6, 6, 6];

/// An SRV answer for evil.example naming the provider's host as target,
/// with an A record for it (in `section`: 0 answer, 2 additional) and one
/// for a name nobody asked about.
fn evil_srv_reply(q: &[u8], glue_in_answer: bool) -> Vec<u8> {
    let srv = srv_rr(&QNAME, 3600, 0, 0, 5060, PROVIDER);
    let glue = a_rr(&wire(PROVIDER), 3600, EVIL_IP);
    let other = a_rr(&wire("bank.example"), 3600, EVIL_IP);
    if glue_in_answer {
        reply(q, 0, &[srv, glue, other], &[], &[])
    } else {
        reply(q, 0, &[srv], &[], &[glue, other])
    }
}

#[test]
fn srv_glue_never_overwrites_the_targets_cached_address() {
    for glue_in_answer in [false, true] {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        learn(&mut r, t0, PROVIDER, 3600, PROVIDER_IP);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            r.resolve(t1, "evil.example", None, Transport::Udp, LAN, V4),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, t1);
        assert!(feed(
            &mut r,
            t1,
            sa(NS1),
            &evil_srv_reply(&q, glue_in_answer)
        ));
        // The provider's own answer still stands.
        assert_eq!(
            r.resolve(t1, PROVIDER, Some(5060), Transport::Udp, LAN, V4),
            Lookup::Ready(v4("203.0.113.10:5060")),
            "glue in answer section: {glue_in_answer}"
        );
        // A name the answer was not about is not cached at all.
        assert!(!is_cached(&mut r, t1, "bank.example"));
        // RFC 2181 §5.4.1: the answer to an A query ranks above glue,
        // so even evil.example's SRV leads to the provider's real address.
        assert_eq!(
            r.resolve(t1, "evil.example", None, Transport::Udp, LAN, V4),
            Lookup::Ready(v4("203.0.113.10:5060"))
        );
    }
}

#[test]
fn srv_glue_is_never_cached_under_the_target_name() {
    for glue_in_answer in [false, true] {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(
            r.resolve(t0, "evil.example", None, Transport::Udp, LAN, V4),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, t0);
        assert!(feed(
            &mut r,
            t0,
            sa(NS1),
            &evil_srv_reply(&q, glue_in_answer)
        ));
        // The glue serves the lookup it came with: whoever controls
        // evil.example chooses where evil.example goes anyway.
        assert_eq!(
            r.resolve(t0, "evil.example", None, Transport::Udp, LAN, V4),
            Lookup::Ready(v4("6.6.6.6:5060"))
        );
        // The provider's name is asked for, not taken from that glue.
        assert_eq!(
            r.resolve(t0, PROVIDER, Some(5060), Transport::Udp, LAN, V4),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, t0);
        assert_eq!(&q[12..q.len() - 4], &wire(PROVIDER)[..]);
        assert!(feed(
            &mut r,
            t0,
            sa(NS1),
            &reply(&q, 0, &[a_rr(&QNAME, 3600, PROVIDER_IP)], &[], &[])
        ));
        assert_eq!(
            r.resolve(t0, PROVIDER, Some(5060), Transport::Udp, LAN, V4),
            Lookup::Ready(v4("203.0.113.10:5060"))
        );
        assert!(!is_cached(&mut r, t0, "bank.example"));
    }
}

#[test]
fn a_answer_with_records_for_other_names_caches_only_its_question() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    learn(&mut r, t0, PROVIDER, 3600, PROVIDER_IP);
    assert_eq!(
        r.resolve(t0, "evil.example", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let an = [
        a_rr(&wire(PROVIDER), 3600, EVIL_IP),
        a_rr(&QNAME, 3600, [198, 51, 100, 66]),
        a_rr(&wire("bank.example"), 3600, EVIL_IP),
    ];
    let ar = [
        a_rr(&wire(PROVIDER), 3600, EVIL_IP),
        a_rr(&wire("mail.example"), 3600, EVIL_IP),
    ];
    assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &ar)));
    assert_eq!(
        r.resolve(t0, "evil.example", Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("198.51.100.66:5060"))
    );
    assert_eq!(
        r.resolve(t0, PROVIDER, Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("203.0.113.10:5060"))
    );
    assert!(!is_cached(&mut r, t0, "bank.example"));
    assert!(!is_cached(&mut r, t0, "mail.example"));
}

#[test]
fn cname_to_an_unrelated_name_caches_only_its_question() {
    for provider_cached in [true, false] {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        if provider_cached {
            learn(&mut r, t0, PROVIDER, 3600, PROVIDER_IP);
        }
        assert_eq!(
            r.resolve(t0, "evil.example", Some(5060), Transport::Udp, LAN, V4),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, t0);
        // evil.example -> sip.provider.example, "whose" address is 6.6.6.6,
        // in the answer and again in the additional section.
        let an = [
            rr(&QNAME, TYPE_CNAME, 3600, &wire(PROVIDER)),
            a_rr(&wire(PROVIDER), 3600, EVIL_IP),
        ];
        let ar = [a_rr(&wire(PROVIDER), 3600, EVIL_IP)];
        assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &ar)));
        // The chain answers the question asked, and only that.
        assert_eq!(
            r.resolve(t0, "evil.example", Some(5060), Transport::Udp, LAN, V4),
            Lookup::Ready(v4("6.6.6.6:5060"))
        );
        if provider_cached {
            assert_eq!(
                r.resolve(t0, PROVIDER, Some(5060), Transport::Udp, LAN, V4),
                Lookup::Ready(v4("203.0.113.10:5060"))
            );
        } else {
            assert!(!is_cached(&mut r, t0, PROVIDER));
        }
    }
}

#[test]
fn srv_through_a_cname_caches_only_its_question() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    learn(&mut r, t0, PROVIDER, 3600, PROVIDER_IP);
    assert_eq!(
        r.resolve(t0, "evil.example", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    // _sip._udp.evil.example -> _sip._udp.provider.example, whose SRV
    // names the provider's host, glued to 6.6.6.6.
    let alias = "_sip._udp.provider.example";
    let an = [
        rr(&QNAME, TYPE_CNAME, 3600, &wire(alias)),
        srv_rr(&wire(alias), 3600, 0, 0, 5060, PROVIDER),
    ];
    let ar = [a_rr(&wire(PROVIDER), 3600, EVIL_IP)];
    assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &ar)));
    assert_eq!(
        r.resolve(t0, PROVIDER, Some(5060), Transport::Udp, LAN, V4),
        Lookup::Ready(v4("203.0.113.10:5060"))
    );
    // The provider's SRV name was not learnt from evil.example's answer.
    assert_eq!(
        r.resolve(t0, "provider.example", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
}

#[test]
fn srv_glue_expires_with_its_own_ttl() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    assert_eq!(
        r.resolve(t0, "voip.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, t0);
    let an = [srv_rr(&QNAME, 600, 0, 0, 5070, "edge.voip.test")];
    let ar = [a_rr(&wire("edge.voip.test"), 60, [192, 0, 2, 70])];
    assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &ar)));
    let at = |s: u64| t0 + Duration::from_secs(s);
    assert_eq!(
        r.resolve(at(59), "voip.test", None, Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.70:5070"))
    );
    // The glue is gone after 60 s; the SRV choice (600 s) is not: the
    // target is asked for, with the SRV port.
    assert_eq!(
        r.resolve(at(60), "voip.test", None, Transport::Udp, LAN, V4),
        Lookup::Pending
    );
    let (_, q) = one(&mut r, at(60));
    assert_eq!(&q[12..q.len() - 4], &wire("edge.voip.test")[..]);
    assert!(feed(
        &mut r,
        at(60),
        sa(NS1),
        &reply(&q, 0, &[a_rr(&QNAME, 60, [192, 0, 2, 71])], &[], &[])
    ));
    assert_eq!(
        r.resolve(at(60), "voip.test", None, Transport::Udp, LAN, V4),
        Lookup::Ready(v4("192.0.2.71:5070"))
    );
}

// ---- Quotas: the WAN's share of the queries in flight -------------------------

#[test]
fn wan_lookups_hold_at_most_their_share_of_the_table() {
    const { assert!(MAX_DNS_PENDING_WAN >= 1 && MAX_DNS_PENDING_WAN < MAX_DNS_PENDING) };
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    for i in 0..MAX_DNS_PENDING_WAN {
        let name = format!("w{i}.evil.test");
        assert_eq!(
            r.resolve(t0, &name, Some(1), Transport::Udp, WAN, V4),
            Lookup::Pending
        );
    }
    // The WAN's next name is refused at once: no query, nothing cached.
    assert_eq!(
        r.resolve(t0, "more.evil.test", Some(1), Transport::Udp, WAN, V4),
        Lookup::Failed(DnsError::WanQuota)
    );
    // A WAN lookup of a name already in flight shares its query.
    assert_eq!(
        r.resolve(t0, "w0.evil.test", Some(2), Transport::Udp, WAN, V4),
        Lookup::Pending
    );
    // Every other slot is the LAN's.
    for i in 0..MAX_DNS_PENDING - MAX_DNS_PENDING_WAN {
        let name = format!("l{i}.test");
        assert_eq!(
            r.resolve(t0, &name, Some(1), Transport::Udp, LAN, V4),
            Lookup::Pending
        );
    }
    assert_eq!(
        r.resolve(t0, "l-more.test", Some(1), Transport::Udp, LAN, V4),
        Lookup::Failed(DnsError::TooManyPending)
    );
    // The WAN joining a LAN query takes no slot either.
    assert_eq!(
        r.resolve(t0, "l0.test", Some(1), Transport::Udp, WAN, V4),
        Lookup::Pending
    );
    let sent = drain(&mut r, t0);
    assert_eq!(sent.len(), MAX_DNS_PENDING);
    // Once a WAN query ends, the WAN may start another one.
    let (_, q0) = &sent[0];
    assert_eq!(&q0[12..q0.len() - 4], &wire("w0.evil.test")[..]);
    assert!(feed(
        &mut r,
        t0,
        sa(NS1),
        &reply(q0, 0, &[a_rr(&QNAME, 60, [192, 0, 2, 1])], &[], &[])
    ));
    assert_eq!(
        r.resolve(t0, "more.evil.test", Some(1), Transport::Udp, WAN, V4),
        Lookup::Pending
    );
    assert_eq!(
        r.resolve(t0, "again.evil.test", Some(1), Transport::Udp, WAN, V4),
        Lookup::Failed(DnsError::WanQuota)
    );
}

#[test]
fn the_lan_may_use_the_whole_table_and_the_wan_then_waits() {
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    for i in 0..MAX_DNS_PENDING {
        let name = format!("l{i}.test");
        assert_eq!(
            r.resolve(t0, &name, Some(1), Transport::Udp, LAN, V4),
            Lookup::Pending
        );
    }
    assert_eq!(
        r.resolve(t0, "w.evil.test", Some(1), Transport::Udp, WAN, V4),
        Lookup::Failed(DnsError::TooManyPending)
    );
}

#[test]
fn wan_noise_that_never_answers_leaves_the_lan_its_slots() {
    // The attack of issue 9 item 5: names that never resolve, started
    // again as fast as the WAN likes, every 11 s (the give-up time).
    let t0 = Instant::now();
    let mut r = resolver(&[NS1]);
    let mut now = t0;
    let mut refused = 0;
    for round in 0..3 {
        for i in 0..4 * MAX_DNS_PENDING {
            let name = format!("n{round}-{i}.evil.test");
            match r.resolve(now, &name, Some(5060), Transport::Udp, WAN, V4) {
                Lookup::Pending => {}
                Lookup::Failed(DnsError::WanQuota) => refused += 1,
                other => panic!("{name}: {other:?}"),
            }
        }
        let _ = drain(&mut r, now);
        // The phone's REGISTER to its provider still gets a query out.
        let provider = format!("provider{round}.example");
        assert_eq!(
            r.resolve(now, &provider, None, Transport::Udp, LAN, V4),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, now);
        assert_eq!(&q[q.len() - 4..q.len() - 2], &TYPE_SRV.to_be_bytes());
        let end = now + Duration::from_secs(11);
        while let Some(t) = r.poll_timeout().filter(|t| *t <= end) {
            now = t;
            let _ = r.handle_timeout(now);
            let _ = drain(&mut r, now);
        }
        now = end;
        assert_eq!(r.poll_timeout(), None, "every query has given up");
    }
    assert_eq!(refused, 3 * (4 * MAX_DNS_PENDING - MAX_DNS_PENDING_WAN));
}

#[test]
fn zz_sizes() {
    eprintln!(
        "CacheEntry {} Query {} Option<Query> {} Resolver {}",
        size_of::<CacheEntry>(),
        size_of::<Query>(),
        size_of::<Option<Query>>(),
        size_of::<Resolver>()
    );
}

// ---- Memory: what limits.rs says ---------------------------------------------

#[test]
fn entries_cost_what_limits_says() {
    // limits.rs: a cache entry at most 640 bytes, a query at most 460.
    assert!(
        size_of::<CacheEntry>() <= 640,
        "{}",
        size_of::<CacheEntry>()
    );
    assert!(
        size_of::<Option<Query>>() <= 460,
        "{}",
        size_of::<Option<Query>>()
    );
}

// ---- IPv6: AAAA, glue per family, both families (RFC 3596, RFC 8305 §3) ------

/// The question type of a query datagram (its last four bytes: type, class).
fn qtype_of(q: &[u8]) -> u16 {
    u16::from_be_bytes([q[q.len() - 4], q[q.len() - 3]])
}

#[cfg(not(feature = "ipv6"))]
#[test]
fn without_the_ipv6_feature_every_family_asks_a_only() {
    let t0 = Instant::now();
    for fams in [
        Families::V4,
        Families::V6,
        Families::V6First,
        Families::V4First,
    ] {
        let mut r = resolver(&[NS1]);
        let got = r.resolve(t0, "pbx.test", Some(5060), Transport::Udp, LAN, fams);
        assert_eq!(got, Lookup::Pending);
        let (_, q) = one(&mut r, t0);
        assert_eq!(qtype_of(&q), TYPE_A, "{fams:?}");
        let resp = reply(&q, 0, &[a_rr(&QNAME, 300, [192, 0, 2, 9])], &[], &[]);
        assert!(feed(&mut r, t0, sa(NS1), &resp));
        let got = r.resolve(t0, "pbx.test", Some(5060), Transport::Udp, LAN, fams);
        assert_eq!(got, Lookup::Ready(v4("192.0.2.9:5060")));
    }
}

#[cfg(feature = "ipv6")]
mod families {
    use super::super::lookup::RESOLUTION_DELAY;
    use super::super::watch::Watch;
    use super::*;
    use crate::config::Resolved;
    use crate::dns::wire::TYPE_AAAA;
    use crate::stats::Stats;

    const V6: Families = Families::V6;
    const V6F: Families = Families::V6First;
    const V4F: Families = Families::V4First;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn aaaa_rr(owner: &[u8], ttl: u32, ip: &str) -> Vec<u8> {
        let ip: std::net::Ipv6Addr = ip.parse().expect("test address");
        rr(owner, TYPE_AAAA, ttl, &ip.octets())
    }

    fn look(r: &mut Resolver, now: Instant, host: &str, port: Option<u16>, f: Families) -> Lookup {
        r.resolve(now, host, port, Transport::Udp, LAN, f)
    }

    /// The two queries a lookup of both families sends at once: (AAAA, A).
    fn both(r: &mut Resolver, now: Instant) -> (Vec<u8>, Vec<u8>) {
        let sent = drain(r, now);
        assert_eq!(sent.len(), 2, "expected A and AAAA, got {sent:?}");
        let find = |t| {
            sent.iter()
                .find(|(_, q)| qtype_of(q) == t)
                .map(|(_, q)| q.clone())
                .expect("query of that type")
        };
        (find(TYPE_AAAA), find(TYPE_A))
    }

    fn answer_aaaa(r: &mut Resolver, now: Instant, q: &[u8], ttl: u32, ip: &str) -> bool {
        feed(
            r,
            now,
            sa(NS1),
            &reply(q, 0, &[aaaa_rr(&QNAME, ttl, ip)], &[], &[]),
        )
    }

    fn answer_a(r: &mut Resolver, now: Instant, q: &[u8], ttl: u32, ip: [u8; 4]) -> bool {
        feed(
            r,
            now,
            sa(NS1),
            &reply(q, 0, &[a_rr(&QNAME, ttl, ip)], &[], &[]),
        )
    }

    // -- AAAA parsing --------------------------------------------------------

    #[test]
    fn aaaa_query_is_exact_and_its_answer_used() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(
            look(&mut r, t0, "Pbx.Example.com", Some(5070), V6),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, t0);
        // RFC 3596 §2.1: type AAAA = 28, class IN.
        assert_eq!(&q[12..], b"\x03pbx\x07example\x03com\x00\x00\x1c\x00\x01");
        assert!(answer_aaaa(&mut r, t0, &q, 300, "2001:db8::5"));
        assert_eq!(
            look(&mut r, t0, "pbx.example.com", Some(5070), V6),
            Lookup::Ready(sa("[2001:db8::5]:5070"))
        );
        // The cache shows it as AAAA.
        let kinds: Vec<_> = r.cache_view(t0).map(|v| v.kind()).collect();
        assert_eq!(kinds, ["AAAA"]);
        assert!(drain(&mut r, t0).is_empty());
    }

    /// One V6 lookup of `host` answered with `an`: what resolve says then.
    fn v6_answer(host: &str, an: &[Vec<u8>]) -> Lookup {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(look(&mut r, t0, host, Some(5060), V6), Lookup::Pending);
        let (_, q) = one(&mut r, t0);
        assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, an, &[], &[])));
        look(&mut r, t0, host, Some(5060), V6)
    }

    #[test]
    fn aaaa_of_the_wrong_length_is_skipped() {
        // 4 octets in an AAAA record (RFC 3596 §2.2 wants 16): skipped,
        // then a good one is taken.
        let short = rr(&QNAME, TYPE_AAAA, 300, &[192, 0, 2, 1]);
        let long = rr(&QNAME, TYPE_AAAA, 300, &[1; 17]);
        assert_eq!(
            v6_answer("h.test", &[short.clone(), long.clone()]),
            Lookup::Failed(DnsError::NoAddress)
        );
        let good = aaaa_rr(&QNAME, 300, "2001:db8::7");
        assert_eq!(
            v6_answer("h.test", &[short, long, good]),
            Lookup::Ready(sa("[2001:db8::7]:5060"))
        );
    }

    #[test]
    fn aaaa_follows_the_cname_chain_and_ignores_other_owners() {
        // A CNAME chain inside the answer (RFC 1034 §5.2.2).
        let an = [
            rr(&QNAME, TYPE_CNAME, 300, &wire("edge.cdn.test")),
            aaaa_rr(&wire("other.test"), 300, "2001:db8::66"),
            aaaa_rr(&wire("EDGE.cdn.test"), 300, "2001:db8::e"),
        ];
        assert_eq!(
            v6_answer("sip.test", &an),
            Lookup::Ready(sa("[2001:db8::e]:5060"))
        );
        // An AAAA record of another owner (RFC 5452 §6) or an A record
        // answer nothing.
        let an = [
            aaaa_rr(&wire("other.test"), 300, "2001:db8::66"),
            a_rr(&QNAME, 300, [192, 0, 2, 1]),
        ];
        assert_eq!(
            v6_answer("sip.test", &an),
            Lookup::Failed(DnsError::NoAddress)
        );
    }

    #[test]
    fn malformed_aaaa_replies_never_panic_and_fall_back_to_a() {
        let t0 = Instant::now();
        let mut rng = Rng::new(7);
        for round in 0..300 {
            let mut r = resolver(&[NS1]);
            assert_eq!(look(&mut r, t0, "m.test", Some(5060), V6F), Lookup::Pending);
            let (q6, q4) = both(&mut r, t0);
            // A reply to the AAAA query, cut and garbled.
            let good = reply(
                &q6,
                0,
                &[aaaa_rr(&[0xC0, 0x0C], 300, "2001:db8::1")],
                &[],
                &[],
            );
            let mut bad = good.clone();
            let cut = q6.len() + (rng.next_u64() as usize % (good.len() - q6.len()));
            bad.truncate(cut);
            for _ in 0..(round % 4) {
                let at = q6.len() + rng.next_u64() as usize % (good.len() - q6.len());
                if let Some(b) = bad.get_mut(at) {
                    *b = rng.next_u64() as u8;
                }
            }
            bad[7] = 1; // ANCOUNT 1 whatever the garbling did
            let _ = feed(&mut r, t0, sa(NS1), &bad);
            assert!(answer_a(&mut r, t0, &q4, 300, [192, 0, 2, 4]));
            let got = look(&mut r, t0, "m.test", Some(5060), V6F);
            match got {
                // The garbled reply still made sense, or the AAAA query
                // failed (one server: server failure) and A was taken.
                Lookup::Ready(a) => assert!(
                    a == sa("[2001:db8::1]:5060") || a == v4("192.0.2.4:5060") || a.is_ipv6(),
                    "{a}"
                ),
                // The AAAA query still in flight (the garbling hit the
                // question): the A address waits 50 ms.
                Lookup::Pending => {
                    assert!(r.handle_timeout(t0 + RESOLUTION_DELAY));
                    let got = look(&mut r, t0 + RESOLUTION_DELAY, "m.test", Some(5060), V6F);
                    assert_eq!(got, Lookup::Ready(v4("192.0.2.4:5060")));
                }
                Lookup::Failed(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_malformed_aaaa_answer_counts_as_a_failure_of_that_family() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(look(&mut r, t0, "m.test", Some(5060), V6F), Lookup::Pending);
        let (q6, q4) = both(&mut r, t0);
        // A compression pointer forward (RFC 1035 §4.1.4 loop guard).
        let bad = reply(
            &q6,
            0,
            &[aaaa_rr(&[0xC0, 0xFF], 300, "2001:db8::1")],
            &[],
            &[],
        );
        assert!(feed(&mut r, t0, sa(NS1), &bad));
        let failed: Vec<_> = r.cache_view(t0).map(|v| v.answer().to_string()).collect();
        assert_eq!(failed, ["error: server-failure"]);
        // No waiting for a family that failed: A is used when it comes.
        assert_eq!(look(&mut r, t0, "m.test", Some(5060), V6F), Lookup::Pending);
        assert!(answer_a(&mut r, t0 + ms(5), &q4, 300, [192, 0, 2, 4]));
        assert_eq!(
            look(&mut r, t0 + ms(5), "m.test", Some(5060), V6F),
            Lookup::Ready(v4("192.0.2.4:5060"))
        );
    }

    // -- SRV glue per family -------------------------------------------------

    /// A V4 lookup of `voip.test` without a port answered with an SRV
    /// record for `edge.voip.test:5070` and `glue` in the additional
    /// section (or the answer section).
    fn srv_with_glue(r: &mut Resolver, now: Instant, glue: &[Vec<u8>], in_answer: bool) {
        assert_eq!(look(r, now, "voip.test", None, V4), Lookup::Pending);
        let (_, q) = one(r, now);
        let mut an = vec![srv_rr(&QNAME, 600, 0, 0, 5070, "edge.voip.test")];
        let resp = if in_answer {
            an.extend_from_slice(glue);
            reply(&q, 0, &an, &[], &[])
        } else {
            reply(&q, 0, &an, &[], glue)
        };
        assert!(feed(r, now, sa(NS1), &resp));
    }

    #[test]
    fn srv_glue_is_kept_per_family() {
        let t0 = Instant::now();
        let target = wire("edge.voip.test");
        for in_answer in [false, true] {
            let glue = [
                aaaa_rr(&wire("other.test"), 300, "2001:db8::66"),
                a_rr(&target, 300, [192, 0, 2, 70]),
                aaaa_rr(&target, 300, "2001:db8::70"),
            ];
            let mut r = resolver(&[NS1]);
            srv_with_glue(&mut r, t0, &glue, in_answer);
            let v4_glue = Lookup::Ready(v4("192.0.2.70:5070"));
            let v6_glue = Lookup::Ready(sa("[2001:db8::70]:5070"));
            assert_eq!(look(&mut r, t0, "voip.test", None, V4), v4_glue);
            assert_eq!(look(&mut r, t0, "voip.test", None, V6), v6_glue);
            assert_eq!(look(&mut r, t0, "voip.test", None, V6F), v6_glue);
            assert_eq!(look(&mut r, t0, "voip.test", None, V4F), v4_glue);
            // Glue saved every address query.
            assert!(drain(&mut r, t0).is_empty(), "in answer: {in_answer}");
            // And it is never cached under the target's name (RFC 2181
            // §5.4.1): a lookup of the target itself asks.
            assert_eq!(
                look(&mut r, t0, "edge.voip.test", Some(5070), V6),
                Lookup::Pending
            );
        }
    }

    #[test]
    fn the_targets_own_aaaa_answer_ranks_above_aaaa_glue() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        // The target's own AAAA answer first.
        assert_eq!(
            look(&mut r, t0, "edge.voip.test", Some(1), V6),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, t0);
        assert!(answer_aaaa(&mut r, t0, &q, 300, "2001:db8::1"));
        // Then an SRV answer whose AAAA glue says otherwise.
        let glue = [aaaa_rr(&wire("edge.voip.test"), 300, "2001:db8::bad")];
        srv_with_glue(&mut r, t0, &glue, false);
        assert_eq!(
            look(&mut r, t0, "voip.test", None, V6),
            Lookup::Ready(sa("[2001:db8::1]:5070"))
        );
    }

    #[test]
    fn v4_ignores_aaaa_glue_and_asks_a_as_always() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        let glue = [aaaa_rr(&wire("edge.voip.test"), 300, "2001:db8::70")];
        srv_with_glue(&mut r, t0, &glue, false);
        assert_eq!(look(&mut r, t0, "voip.test", None, V4), Lookup::Pending);
        let (_, q) = one(&mut r, t0);
        assert_eq!(&q[12..], b"\x04edge\x04voip\x04test\x00\x00\x01\x00\x01");
    }

    // -- V4 is today's resolver ----------------------------------------------

    #[test]
    fn v4_sends_exactly_todays_queries() {
        // SRV, then A of the target; no SRV, then A of the host; a name
        // with a port: A. Never an AAAA, and a V4 lookup never waits.
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        let mut seen = Vec::new();
        assert_eq!(look(&mut r, t0, "voip.test", None, V4), Lookup::Pending);
        let (_, q) = one(&mut r, t0);
        seen.push(qtype_of(&q));
        let an = [srv_rr(&QNAME, 600, 0, 0, 5070, "edge.voip.test")];
        let ar = [aaaa_rr(&wire("edge.voip.test"), 300, "2001:db8::70")];
        assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &ar)));
        assert_eq!(look(&mut r, t0, "voip.test", None, V4), Lookup::Pending);
        let (_, q) = one(&mut r, t0);
        seen.push(qtype_of(&q));
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(1)));
        assert!(answer_a(&mut r, t0, &q, 300, [192, 0, 2, 70]));
        assert_eq!(
            look(&mut r, t0, "voip.test", None, V4),
            Lookup::Ready(v4("192.0.2.70:5070"))
        );

        assert_eq!(look(&mut r, t0, "plain.test", None, V4), Lookup::Pending);
        let (_, q) = one(&mut r, t0);
        seen.push(qtype_of(&q));
        assert!(feed(
            &mut r,
            t0,
            sa(NS1),
            &reply(&q, RCODE_NXDOMAIN, &[], &[], &[])
        ));
        assert_eq!(look(&mut r, t0, "plain.test", None, V4), Lookup::Pending);
        let (_, q) = one(&mut r, t0);
        assert_eq!(&q[12..], b"\x05plain\x04test\x00\x00\x01\x00\x01");
        seen.push(qtype_of(&q));
        assert_eq!(
            look(&mut r, t0, "port.test", Some(5080), V4),
            Lookup::Pending
        );
        let (_, q) = one(&mut r, t0);
        seen.push(qtype_of(&q));
        assert_eq!(seen, [TYPE_SRV, TYPE_A, TYPE_SRV, TYPE_A, TYPE_A]);
        // No resolution delay ever: only retransmissions wake the caller.
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(1)));
        assert!(r.queries().all(|q| q.delay.is_none()));
    }

    // -- Both families ---------------------------------------------------------

    #[test]
    fn v6_first_sends_both_queries_at_once_and_picks_aaaa() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(
            look(&mut r, t0, "pbx.test", Some(5060), V6F),
            Lookup::Pending
        );
        let (q6, q4) = both(&mut r, t0);
        assert_eq!(&q6[12..], b"\x03pbx\x04test\x00\x00\x1c\x00\x01");
        assert_eq!(&q4[12..], b"\x03pbx\x04test\x00\x00\x01\x00\x01");
        // A lookup again while both are in flight joins them.
        assert_eq!(
            look(&mut r, t0, "pbx.test", Some(5060), V6F),
            Lookup::Pending
        );
        assert!(drain(&mut r, t0).is_empty());
        // AAAA first: used at once, without waiting for A.
        assert!(answer_aaaa(&mut r, t0 + ms(20), &q6, 300, "2001:db8::5"));
        assert_eq!(
            look(&mut r, t0 + ms(20), "pbx.test", Some(5060), V6F),
            Lookup::Ready(sa("[2001:db8::5]:5060"))
        );
        // A comes later and changes nothing for V6First; V4First takes it.
        assert!(answer_a(&mut r, t0 + ms(25), &q4, 300, [192, 0, 2, 5]));
        assert_eq!(
            look(&mut r, t0 + ms(30), "pbx.test", Some(5060), V6F),
            Lookup::Ready(sa("[2001:db8::5]:5060"))
        );
        assert_eq!(
            look(&mut r, t0 + ms(30), "pbx.test", Some(5060), V4F),
            Lookup::Ready(v4("192.0.2.5:5060"))
        );
    }

    #[test]
    fn a_first_then_aaaa_within_the_resolution_delay_gives_aaaa() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(
            look(&mut r, t0, "pbx.test", Some(5060), V6F),
            Lookup::Pending
        );
        let (q6, q4) = both(&mut r, t0);
        // A at 10 ms: the lookup waits for AAAA until 60 ms.
        let ta = t0 + ms(10);
        assert!(answer_a(&mut r, ta, &q4, 300, [192, 0, 2, 5]));
        assert_eq!(
            look(&mut r, ta, "pbx.test", Some(5060), V6F),
            Lookup::Pending
        );
        assert_eq!(r.poll_timeout(), Some(ta + RESOLUTION_DELAY));
        assert!(!r.handle_timeout(ta + ms(29)));
        // AAAA 30 ms after A: it wins.
        assert!(answer_aaaa(&mut r, ta + ms(30), &q6, 300, "2001:db8::5"));
        assert_eq!(
            look(&mut r, ta + ms(30), "pbx.test", Some(5060), V6F),
            Lookup::Ready(sa("[2001:db8::5]:5060"))
        );
        assert_eq!(r.poll_timeout(), None);
        // A single-family lookup is not affected by any of it.
        assert_eq!(
            look(&mut r, ta + ms(30), "pbx.test", Some(5060), V4),
            Lookup::Ready(v4("192.0.2.5:5060"))
        );
    }

    #[test]
    fn a_first_and_no_aaaa_for_50_ms_gives_a_pinned_for_its_ttl() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(
            look(&mut r, t0, "pbx.test", Some(5060), V6F),
            Lookup::Pending
        );
        let (q6, q4) = both(&mut r, t0);
        let ta = t0 + ms(10);
        // A with a TTL of 60 s.
        assert!(answer_a(&mut r, ta, &q4, 60, [192, 0, 2, 5]));
        assert_eq!(
            look(&mut r, ta, "pbx.test", Some(5060), V6F),
            Lookup::Pending
        );
        // The virtual clock reaches the end of the delay: the resolver
        // says "retry" once, and the retry gets A.
        let end = ta + RESOLUTION_DELAY;
        assert_eq!(r.poll_timeout(), Some(end));
        assert!(!r.handle_timeout(end - ms(1)));
        assert!(r.handle_timeout(end));
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(1)));
        let a = Lookup::Ready(v4("192.0.2.5:5060"));
        assert_eq!(look(&mut r, end, "pbx.test", Some(5060), V6F), a);
        // AAAA comes at 100 ms, with a longer TTL: a retransmission still
        // goes where the request went (RFC 3263 §4.4) ...
        assert!(answer_aaaa(&mut r, t0 + ms(100), &q6, 3600, "2001:db8::5"));
        assert_eq!(look(&mut r, t0 + ms(100), "pbx.test", Some(5060), V6F), a);
        let before_expiry = ta + Duration::from_secs(60) - ms(1);
        assert_eq!(look(&mut r, before_expiry, "pbx.test", Some(5060), V6F), a);
        // ... until the A entry expires; then the preferred family.
        let after = ta + Duration::from_secs(60);
        assert_eq!(
            look(&mut r, after, "pbx.test", Some(5060), V6F),
            Lookup::Ready(sa("[2001:db8::5]:5060"))
        );
        assert!(drain(&mut r, after).is_empty());
    }

    #[test]
    fn the_delay_also_ends_when_the_caller_comes_back_late() {
        // Nothing parked on the lookup: the next lookup after the delay
        // takes A at once (and pins it).
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(
            look(&mut r, t0, "pbx.test", Some(5060), V6F),
            Lookup::Pending
        );
        let (q6, q4) = both(&mut r, t0);
        assert!(answer_a(&mut r, t0 + ms(10), &q4, 300, [192, 0, 2, 5]));
        let late = t0 + ms(500);
        let a = Lookup::Ready(v4("192.0.2.5:5060"));
        assert_eq!(look(&mut r, late, "pbx.test", Some(5060), V6F), a);
        assert!(answer_aaaa(&mut r, late, &q6, 300, "2001:db8::5"));
        assert_eq!(look(&mut r, late, "pbx.test", Some(5060), V6F), a);
    }

    #[test]
    fn the_delay_counts_from_the_preferred_query_when_a_was_cached_before() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        learn(&mut r, t0, "pbx.test", 300, [192, 0, 2, 5]);
        // Ten seconds later a lookup of both families: AAAA is asked (A is
        // cached) and given its 50 ms from now.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(
            look(&mut r, t1, "pbx.test", Some(5060), V6F),
            Lookup::Pending
        );
        let (_, q6) = one(&mut r, t1);
        assert_eq!(qtype_of(&q6), TYPE_AAAA);
        assert_eq!(r.poll_timeout(), Some(t1 + RESOLUTION_DELAY));
        assert!(answer_aaaa(&mut r, t1 + ms(40), &q6, 300, "2001:db8::5"));
        assert_eq!(
            look(&mut r, t1 + ms(40), "pbx.test", Some(5060), V6F),
            Lookup::Ready(sa("[2001:db8::5]:5060"))
        );
    }

    #[test]
    fn v4_first_waits_for_a_the_same_way() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(
            look(&mut r, t0, "pbx.test", Some(5060), V4F),
            Lookup::Pending
        );
        let (q6, _) = both(&mut r, t0);
        assert!(answer_aaaa(&mut r, t0, &q6, 300, "2001:db8::5"));
        assert_eq!(
            look(&mut r, t0, "pbx.test", Some(5060), V4F),
            Lookup::Pending
        );
        assert!(r.handle_timeout(t0 + RESOLUTION_DELAY));
        assert_eq!(
            look(&mut r, t0 + RESOLUTION_DELAY, "pbx.test", Some(5060), V4F),
            Lookup::Ready(sa("[2001:db8::5]:5060"))
        );
    }

    #[test]
    fn a_family_that_has_nothing_falls_back_to_the_other_at_once() {
        let t0 = Instant::now();
        for rcode in [0, RCODE_NXDOMAIN] {
            // AAAA: no data (NOERROR, empty) or NXDOMAIN, before A.
            let mut r = resolver(&[NS1]);
            assert_eq!(
                look(&mut r, t0, "v4only.test", Some(5060), V6F),
                Lookup::Pending
            );
            let (q6, q4) = both(&mut r, t0);
            assert!(feed(&mut r, t0, sa(NS1), &reply(&q6, rcode, &[], &[], &[])));
            assert_eq!(
                look(&mut r, t0, "v4only.test", Some(5060), V6F),
                Lookup::Pending
            );
            assert!(answer_a(&mut r, t0 + ms(5), &q4, 300, [192, 0, 2, 8]));
            let a = Lookup::Ready(v4("192.0.2.8:5060"));
            assert_eq!(look(&mut r, t0 + ms(5), "v4only.test", Some(5060), V6F), a);
            // After A: AAAA's failure ends the wait at once.
            let mut r = resolver(&[NS1]);
            assert_eq!(
                look(&mut r, t0, "v4only.test", Some(5060), V6F),
                Lookup::Pending
            );
            let (q6, q4) = both(&mut r, t0);
            assert!(answer_a(&mut r, t0, &q4, 300, [192, 0, 2, 8]));
            assert_eq!(
                look(&mut r, t0, "v4only.test", Some(5060), V6F),
                Lookup::Pending
            );
            assert!(feed(
                &mut r,
                t0 + ms(5),
                sa(NS1),
                &reply(&q6, rcode, &[], &[], &[])
            ));
            assert_eq!(look(&mut r, t0 + ms(5), "v4only.test", Some(5060), V6F), a);
        }
        // The other way round: A empty, AAAA used.
        let mut r = resolver(&[NS1]);
        assert_eq!(
            look(&mut r, t0, "v6only.test", Some(5060), V4F),
            Lookup::Pending
        );
        let (q6, q4) = both(&mut r, t0);
        assert!(feed(&mut r, t0, sa(NS1), &reply(&q4, 0, &[], &[], &[])));
        assert!(answer_aaaa(&mut r, t0, &q6, 300, "2001:db8::6"));
        assert_eq!(
            look(&mut r, t0, "v6only.test", Some(5060), V4F),
            Lookup::Ready(sa("[2001:db8::6]:5060"))
        );
    }

    #[test]
    fn a_family_that_times_out_falls_back_to_the_other() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        // Every slot but one in use: the AAAA query starts, A cannot.
        for i in 0..MAX_DNS_PENDING - 1 {
            let name = format!("busy{i}.test");
            assert_eq!(look(&mut r, t0, &name, Some(1), V4), Lookup::Pending);
        }
        assert_eq!(
            look(&mut r, t0, "pbx.test", Some(5060), V6F),
            Lookup::Pending
        );
        let sent = drain(&mut r, t0);
        assert_eq!(
            sent.iter()
                .filter(|(_, q)| qtype_of(q) == TYPE_AAAA)
                .count(),
            1
        );
        // Nobody answers: after the last try everything times out.
        let mut now = t0;
        let mut failed = false;
        while let Some(t) = r.poll_timeout() {
            now = t;
            failed |= r.handle_timeout(now);
            let _ = drain(&mut r, now);
        }
        assert!(failed);
        assert_eq!(now, t0 + Duration::from_secs(11));
        // AAAA timed out (remembered 30 s): A is asked, and used.
        assert_eq!(
            look(&mut r, now, "pbx.test", Some(5060), V6F),
            Lookup::Pending
        );
        let (_, q4) = one(&mut r, now);
        assert_eq!(qtype_of(&q4), TYPE_A);
        assert!(answer_a(&mut r, now, &q4, 300, [192, 0, 2, 5]));
        let a = Lookup::Ready(v4("192.0.2.5:5060"));
        assert_eq!(look(&mut r, now, "pbx.test", Some(5060), V6F), a);
        // Pinned: when AAAA's failure is forgotten and it answers, the
        // destination stays (RFC 3263 §4.4).
        let later = now + Duration::from_secs(31);
        assert_eq!(look(&mut r, later, "pbx.test", Some(5060), V6F), a);
    }

    #[test]
    fn both_families_failing_fail_the_lookup() {
        let t0 = Instant::now();
        // No data in either: NoAddress.
        let mut r = resolver(&[NS1]);
        assert_eq!(
            look(&mut r, t0, "none.test", Some(5060), V6F),
            Lookup::Pending
        );
        let (q6, q4) = both(&mut r, t0);
        assert!(feed(&mut r, t0, sa(NS1), &reply(&q6, 0, &[], &[], &[])));
        assert!(feed(
            &mut r,
            t0,
            sa(NS1),
            &reply(&q4, RCODE_NXDOMAIN, &[], &[], &[])
        ));
        // AAAA only said "no record": A's error is the one told.
        assert_eq!(
            look(&mut r, t0, "none.test", Some(5060), V6F),
            Lookup::Failed(DnsError::NoSuchName)
        );
        // Nobody answers at all: Timeout, once for both.
        let mut r = resolver(&[NS1]);
        assert_eq!(
            look(&mut r, t0, "dead.test", Some(5060), V6F),
            Lookup::Pending
        );
        let _ = both(&mut r, t0);
        let mut now = t0;
        while let Some(t) = r.poll_timeout() {
            now = t;
            let _ = r.handle_timeout(now);
        }
        assert_eq!(
            look(&mut r, now, "dead.test", Some(5060), V6F),
            Lookup::Failed(DnsError::Timeout)
        );
    }

    #[test]
    fn srv_then_both_families_of_the_target_with_the_srv_port() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(look(&mut r, t0, "voip.test", None, V6F), Lookup::Pending);
        let (_, q) = one(&mut r, t0);
        assert_eq!(qtype_of(&q), TYPE_SRV);
        let an = [srv_rr(&QNAME, 600, 0, 0, 5070, "edge.voip.test")];
        assert!(feed(&mut r, t0, sa(NS1), &reply(&q, 0, &an, &[], &[])));
        assert_eq!(look(&mut r, t0, "voip.test", None, V6F), Lookup::Pending);
        let (q6, q4) = both(&mut r, t0);
        assert_eq!(&q6[12..q6.len() - 4], &wire("edge.voip.test")[..]);
        assert_eq!(&q4[12..q4.len() - 4], &wire("edge.voip.test")[..]);
        assert!(answer_aaaa(&mut r, t0, &q6, 300, "2001:db8::70"));
        assert_eq!(
            look(&mut r, t0, "voip.test", None, V6F),
            Lookup::Ready(sa("[2001:db8::70]:5070"))
        );
    }

    #[test]
    fn no_srv_falls_back_to_both_families_of_the_host_on_5060() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        assert_eq!(look(&mut r, t0, "plain.test", None, V6F), Lookup::Pending);
        let (_, q) = one(&mut r, t0);
        assert!(feed(
            &mut r,
            t0,
            sa(NS1),
            &reply(&q, RCODE_NXDOMAIN, &[], &[], &[])
        ));
        assert_eq!(look(&mut r, t0, "plain.test", None, V6F), Lookup::Pending);
        let (q6, _) = both(&mut r, t0);
        assert_eq!(&q6[12..], b"\x05plain\x04test\x00\x00\x1c\x00\x01");
        assert!(answer_aaaa(&mut r, t0, &q6, 300, "2001:db8::9"));
        assert_eq!(
            look(&mut r, t0, "plain.test", None, V6F),
            Lookup::Ready(sa("[2001:db8::9]:5060"))
        );
    }

    #[test]
    fn a_glue_waits_50_ms_for_the_targets_aaaa_then_stays_pinned() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        // The SRV answer carries A glue only (TTL 120 s).
        let glue = [a_rr(&wire("edge.voip.test"), 120, [192, 0, 2, 70])];
        srv_with_glue(&mut r, t0, &glue, false);
        // Both families wanted: only AAAA of the target is asked (A is
        // glue), and it has 50 ms from its start.
        let t1 = t0 + ms(3);
        assert_eq!(look(&mut r, t1, "voip.test", None, V6F), Lookup::Pending);
        let (_, q6) = one(&mut r, t1);
        assert_eq!(qtype_of(&q6), TYPE_AAAA);
        assert_eq!(r.poll_timeout(), Some(t1 + RESOLUTION_DELAY));
        assert!(r.handle_timeout(t1 + RESOLUTION_DELAY));
        let a = Lookup::Ready(v4("192.0.2.70:5070"));
        assert_eq!(
            look(&mut r, t1 + RESOLUTION_DELAY, "voip.test", None, V6F),
            a
        );
        // AAAA of the target comes late: the glue stays the choice for its
        // TTL, then the target's AAAA is used.
        assert!(answer_aaaa(&mut r, t1 + ms(80), &q6, 3600, "2001:db8::70"));
        assert_eq!(look(&mut r, t1 + ms(80), "voip.test", None, V6F), a);
        let after = t0 + Duration::from_secs(120);
        assert_eq!(
            look(&mut r, after, "voip.test", None, V6F),
            Lookup::Ready(sa("[2001:db8::70]:5070"))
        );
    }

    #[test]
    fn a_wan_lookup_of_both_families_keeps_to_the_wan_share() {
        let t0 = Instant::now();
        let mut r = resolver(&[NS1]);
        let mut started = 0;
        for i in 0..MAX_DNS_PENDING {
            let name = format!("w{i}.evil.test");
            let _ = r.resolve(t0, &name, Some(1), Transport::Udp, WAN, V6F);
            started = r.queries().count();
        }
        assert_eq!(started, MAX_DNS_PENDING_WAN);
        assert!(r.queries().all(|q| q.side == WAN));
    }

    // -- The watch with both families ----------------------------------------

    #[test]
    fn the_watch_asks_aaaa_only_when_asked_for_ipv6() {
        let t0 = Instant::now();
        let mut stats = Stats::new();
        // V4 (today's core): A only.
        let mut r = resolver(&[NS1]);
        let mut w = Watch::new();
        w.set_names(t0, ["prov.test"], &mut r);
        w.step(t0, &mut r, &mut stats, V4);
        let (_, q) = one(&mut r, t0);
        assert_eq!(qtype_of(&q), TYPE_A);
        // Both: A and AAAA, both addresses kept.
        let mut r = resolver(&[NS1]);
        let mut w = Watch::new();
        w.set_names(t0, ["prov.test"], &mut r);
        w.step(t0, &mut r, &mut stats, V6F);
        let (q6, q4) = both(&mut r, t0);
        assert!(answer_a(&mut r, t0, &q4, 300, [192, 0, 2, 1]));
        w.step(t0, &mut r, &mut stats, V6F);
        // A is taken as it comes; the name waits for AAAA to count as
        // resolved.
        assert_eq!(w.addrs("prov.test").len(), 1);
        assert_eq!(stats.get("acl-names", "resolved"), 0);
        assert!(answer_aaaa(&mut r, t0, &q6, 300, "2001:db8::1"));
        w.step(t0, &mut r, &mut stats, V6F);
        assert_eq!(
            w.addrs("prov.test"),
            ["192.0.2.1".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        assert_eq!(
            w.addrs6("prov.test"),
            ["2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap()]
        );
        assert_eq!(stats.get("acl-names", "resolved"), 1);
        // Refreshed on the TTL of what answered.
        assert_eq!(w.poll_timeout(), Some(t0 + Duration::from_secs(300)));
    }

    #[test]
    fn the_watch_takes_a_name_without_aaaa_as_resolved() {
        let t0 = Instant::now();
        let mut stats = Stats::new();
        let mut r = resolver(&[NS1]);
        let mut w = Watch::new();
        w.set_names(t0, ["prov.test"], &mut r);
        w.step(t0, &mut r, &mut stats, V4F);
        let (q6, q4) = both(&mut r, t0);
        assert!(feed(&mut r, t0, sa(NS1), &reply(&q6, 0, &[], &[], &[])));
        assert!(answer_a(&mut r, t0, &q4, 600, [192, 0, 2, 1]));
        w.step(t0, &mut r, &mut stats, V4F);
        assert_eq!(w.addrs("prov.test").len(), 1);
        assert!(w.addrs6("prov.test").is_empty());
        assert_eq!(stats.get("acl-names", "resolved"), 1);
        assert_eq!(stats.get("acl-names", "failed"), 0);
        assert_eq!(w.poll_timeout(), Some(t0 + Duration::from_secs(600)));
    }
}
