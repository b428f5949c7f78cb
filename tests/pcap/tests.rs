//! The capture check on pcaps built by hand.

use super::*;

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 262_144, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for f in frames {
        for v in [1u32, 0, f.len() as u32, f.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(f);
    }
    b
}

fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn tcp(src: [u8; 4], dst: [u8; 4], ports: (u16, u16), seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&ports.0.to_be_bytes());
    f.extend_from_slice(&ports.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    // Ethernet pads short frames: the IP total length says what is real.
    f.resize(f.len().max(60), 0);
    f
}

/// A LAN address split across two TCP segments is in no single frame:
/// the stream reassembly finds it (once, however often a segment is
/// retransmitted), and a whole-segment hit is not reported twice.
#[test]
fn tcp_streams_are_searched_whole() {
    let ports = (40000, 5060);
    let b = pcap(&[
        tcp(
            ROUTER,
            PROVIDER,
            ports,
            1000,
            b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP 10.77",
        ),
        tcp(
            ROUTER,
            PROVIDER,
            ports,
            1000,
            b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP 10.77",
        ),
        tcp(ROUTER, PROVIDER, ports, 1046, b".1.2:5060\r\n\r\n"),
        tcp(
            PROVIDER,
            ROUTER,
            (5060, 40000),
            7,
            b"c=IN IP4 10.77.1.9\r\n",
        ),
    ]);
    let r = scan_pcap(&b).unwrap();
    assert_eq!((r.packets, r.sip_packets), (4, 4));
    let kinds: Vec<(usize, LeakKind)> = r.leaks.iter().map(|l| (l.packet, l.kind)).collect();
    assert_eq!(
        kinds,
        [(3, LeakKind::Sdp), (0, LeakKind::SipText)],
        "{:#?}",
        r.leaks
    );
    assert!(
        r.leaks[1]
            .context
            .ends_with("Via: SIP/2.0/TCP 10.77.1.2:5060"),
        "{:?}",
        r.leaks[1]
    );
    let clean = pcap(&[
        tcp(ROUTER, PROVIDER, ports, 1, b"Via: SIP/2.0/TCP 198.51"),
        tcp(ROUTER, PROVIDER, ports, 24, b".100.1:5060\r\n"),
    ]);
    assert!(scan_pcap(&clean).unwrap().leaks.is_empty());
}

const ROUTER: [u8; 4] = [198, 51, 100, 1];
const PROVIDER: [u8; 4] = [198, 51, 100, 2];

#[test]
fn clean_capture_has_no_leak_and_counts_sip() {
    let sip = b"REGISTER sip:198.51.100.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060\r\n\r\n";
    let b = pcap(&[
        udp(ROUTER, PROVIDER, 5060, 5060, sip),
        udp(ROUTER, PROVIDER, 40000, 9, b"canary"),
    ]);
    let r = scan_pcap(&b).unwrap();
    assert_eq!((r.packets, r.sip_packets), (2, 1));
    assert!(r.leaks.is_empty(), "{:?}", r.leaks);
}

#[test]
fn leaks_are_found_and_classified() {
    let sdp = b"INVITE sip:bob@198.51.100.2 SIP/2.0\r\nCall-ID: 1-1@10.77.1.2\r\n\r\nv=0\r\nc=IN IP4 10.77.1.2\r\n";
    let b = pcap(&[
        udp(ROUTER, PROVIDER, 5060, 5060, sdp),
        udp([10, 77, 1, 2], PROVIDER, 5060, 5060, b"x"),
    ]);
    let r = scan_pcap(&b).unwrap();
    let kinds: Vec<(usize, LeakKind)> = r.leaks.iter().map(|l| (l.packet, l.kind)).collect();
    assert_eq!(
        kinds,
        [
            (0, LeakKind::SipText),
            (0, LeakKind::Sdp),
            (1, LeakKind::IpHeader)
        ]
    );
    assert_eq!(r.leaks[0].context, "Call-ID: 1-1@10.77.1.2");
    assert_eq!(r.leaks[1].context, "c=IN IP4 10.77.1.2");
}

#[test]
fn icmp_quoting_a_lan_header_is_a_leak() {
    let mut quoted = vec![
        3u8, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0,
    ];
    quoted.extend_from_slice(&[10, 77, 1, 2]);
    quoted.extend_from_slice(&PROVIDER);
    let mut f = udp(PROVIDER, ROUTER, 0, 0, &[]);
    f.truncate(14 + 20);
    f[14 + 9] = 1; // protocol ICMP
    f.extend_from_slice(&quoted);
    let r = scan_pcap(&pcap(&[f])).unwrap();
    assert_eq!(r.leaks.len(), 1);
    assert_eq!(r.leaks[0].kind, LeakKind::IpHeader);
}

#[test]
fn broken_files_are_errors_not_panics() {
    assert!(scan_pcap(b"").is_err());
    assert!(scan_pcap(&[0u8; 24]).is_err());
    let mut b = pcap(&[udp(ROUTER, PROVIDER, 5060, 5060, b"hello")]);
    b.truncate(b.len() - 2);
    assert_eq!(scan_pcap(&b).unwrap_err(), "truncated packet data");
    let mut cooked = pcap(&[]);
    cooked[20] = 113;
    assert!(scan_pcap(&cooked).is_err());
}

// ------------------------------------------------------------ IPv6

use std::net::Ipv6Addr;

const R6: &str = "2001:db8:100::1";
const P6: &str = "2001:db8:100::2";
const PHONE6: &str = "2001:db8:77:1::2";
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn v6(a: &str) -> [u8; 16] {
    a.parse::<Ipv6Addr>().unwrap().octets()
}

/// An Ethernet frame holding an IPv6 packet; `payload` starts with the
/// header `next` names (extension headers included).
fn ip6(src: &str, dst: &str, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x86, 0xDD, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[next, 64]);
    f.extend_from_slice(&v6(src));
    f.extend_from_slice(&v6(dst));
    f.extend_from_slice(payload);
    f
}

/// An extension header: `next`, the length byte, `body` padded to 8n.
fn ext(next: u8, body: &[u8]) -> Vec<u8> {
    let len = (2 + body.len()).div_ceil(8) * 8;
    let mut h = vec![next, (len / 8 - 1) as u8];
    h.extend_from_slice(body);
    h.resize(len, 0);
    h
}

fn udp_header(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn udp6(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    ip6(src, dst, 17, &udp_header(sport, dport, payload))
}

fn tcp6(src: &str, dst: &str, ports: (u16, u16), seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&ports.0.to_be_bytes());
    t.extend_from_slice(&ports.1.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let mut f = ip6(src, dst, 6, &t);
    // Ethernet pads short frames: the payload length says what is real.
    f.resize(f.len().max(60), 0);
    f
}

/// An ICMPv6 message of type `ty` (code and checksum zero) and `body`.
fn icmp6(src: &str, dst: &str, ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0];
    m.extend_from_slice(body);
    ip6(src, dst, 58, &m)
}

/// NS (135) or NA (136) for `target` with a link-layer address option.
fn ndp(src: &str, dst: &str, ty: u8, target: &str) -> Vec<u8> {
    let mut b = vec![0x60, 0, 0, 0];
    b.extend_from_slice(&v6(target));
    b.extend_from_slice(&[ty - 134, 1]);
    b.extend_from_slice(&MAC);
    icmp6(src, dst, ty, &b)
}

/// A router advertisement with a prefix information option for `prefix`.
fn ra(prefix: &str) -> Vec<u8> {
    let mut b = vec![64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&[
        3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08, 0, 0, 0, 0,
    ]);
    b.extend_from_slice(&v6(prefix));
    icmp6("fe80::1", "ff02::1", 134, &b)
}

/// An MLDv2 report (behind a hop-by-hop header with a router alert, as
/// the kernel sends it): one record per (group, sources).
fn mld_report(records: &[(&str, &[&str])]) -> Vec<u8> {
    let mut m = vec![143, 0, 0, 0, 0, 0];
    m.extend_from_slice(&(records.len() as u16).to_be_bytes());
    for (group, sources) in records {
        m.extend_from_slice(&[4, 0]);
        m.extend_from_slice(&(sources.len() as u16).to_be_bytes());
        m.extend_from_slice(&v6(group));
        for s in *sources {
            m.extend_from_slice(&v6(s));
        }
    }
    let mut p = ext(58, &[5, 2, 0, 0, 1, 0]);
    p.extend_from_slice(&m);
    ip6("fe80::1", "ff02::16", 0, &p)
}

/// An ICMPv6 error of type `ty` quoting a UDP packet from `src` to `dst`.
fn icmp6_error(ty: u8, src: &str, dst: &str) -> Vec<u8> {
    let quoted = udp6(src, dst, 5060, 5060, b"quoted");
    let mut b = vec![0u8; 4];
    b.extend_from_slice(&quoted[14..]);
    icmp6(R6, P6, ty, &b)
}

fn leaks_of(frames: &[Vec<u8>]) -> Vec<(usize, LeakKind, String)> {
    let r = scan_pcap(&pcap(frames)).unwrap();
    r.leaks
        .into_iter()
        .map(|l| (l.packet, l.kind, l.context))
        .collect()
}

/// IPv6 SIP over UDP and TCP, neighbour discovery, MLD, an ICMPv6 error,
/// extension headers and fragments between the router's WAN address and
/// the provider: no leak, SIP and NDP counted. IPv6 text that is not the
/// LAN's (the WAN, a neighbouring /64, times, MAC addresses) is no hit.
#[test]
fn clean_ipv6_capture_has_no_leak_and_counts_sip() {
    let sip = b"REGISTER sip:[2001:db8:100::2] SIP/2.0\r\n\
        Via: SIP/2.0/UDP [2001:db8:100::1]:5060;branch=z9hG4bK1\r\n\
        Contact: <sip:alice@[2001:DB8:100::1]:5060;snc=x>\r\n\
        X-Not-Ours: 2001:db8:77:2::1 fd77:2::1 fd77:10::1 12:30:45 02:42:ac:11:00:02\r\n\r\n";
    let mut routed = ext(17, &[2, 1, 0, 0, 0, 0]); // routing type 2, 1 address
    routed.truncate(8);
    routed[1] = 2;
    routed.extend_from_slice(&v6(P6));
    routed.extend_from_slice(&udp_header(5060, 5060, b"OPTIONS"));
    let mut dest_opts = ext(17, &[1, 4, 0, 0, 0, 0]);
    dest_opts.extend_from_slice(&udp_header(40000, 9, b"canary"));
    let mut first = vec![17, 0, 0, 1, 0, 0, 0x12, 0x34]; // offset 0, more
    first.extend_from_slice(&udp_header(5060, 5060, b"INVITE sip:b"));
    let mut later = vec![17, 0, 0, 0xb8, 0, 0, 0x12, 0x34]; // offset 184
    later.extend_from_slice(b"ob@[2001:db8:100::2] SIP/2.0\r\n");
    let b = pcap(&[
        ndp(P6, "ff02::1:ff00:1", 135, R6),
        ndp(R6, P6, 136, R6),
        udp6(R6, P6, 5060, 5060, sip),
        udp6(P6, R6, 5060, 5060, b"SIP/2.0 200 OK\r\n\r\n"),
        tcp6(
            R6,
            P6,
            (40000, 5060),
            1,
            b"OPTIONS sip:[2001:db8:100::2] SIP/2.0\r\n",
        ),
        tcp6(P6, R6, (5060, 40000), 9, b"SIP/2.0 200 OK\r\n"),
        mld_report(&[("ff02::1:ff00:1", &[]), ("ff02::1:ff6d:2a41", &[R6])]),
        ra(P6),
        icmp6_error(1, P6, R6),
        ip6(R6, P6, 43, &routed),
        ip6(R6, P6, 60, &dest_opts),
        ip6(R6, P6, 44, &first),
        ip6(R6, P6, 44, &later),
        icmp6(
            "fe80::1",
            "ff02::2",
            133,
            &[0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 1],
        ),
    ]);
    let r = scan_pcap(&b).unwrap();
    assert!(r.leaks.is_empty(), "{:#?}", r.leaks);
    // UDP: REGISTER, 200, OPTIONS (routing header), the first fragment;
    // TCP: two segments on 5060.
    assert_eq!((r.packets, r.sip_packets, r.ndp_packets), (14, 6, 5));
}

/// A LAN IPv6 address as source or destination, IPv4-mapped, in a routing
/// header, or in a TCP stream split across two segments is found.
#[test]
fn ipv6_header_leaks_are_found() {
    let mut routed = ext(17, &[0, 1, 0, 0, 0, 0]);
    routed.truncate(8);
    routed[1] = 4; // type 0, two addresses
    routed.extend_from_slice(&v6(P6));
    routed.extend_from_slice(&v6("fd77:1::2"));
    routed.extend_from_slice(&udp_header(5060, 5060, b"x"));
    let leaks = leaks_of(&[
        udp6(PHONE6, P6, 5060, 5060, b"x"),
        udp6(P6, "fd77:1::2", 5060, 5060, b"x"),
        udp6("::ffff:10.77.1.2", P6, 5060, 5060, b"x"),
        ip6(R6, P6, 43, &routed),
        udp6(R6, P6, 5060, 5060, b"x"),
    ]);
    let header = |p: usize, what: &str| (p, LeakKind::IpHeader, what.to_string());
    assert_eq!(
        leaks,
        [
            header(0, "IPv6 source or destination"),
            header(1, "IPv6 source or destination"),
            header(2, "IPv6 source or destination"),
            header(3, "address in an IPv6 routing header"),
        ]
    );

    let ports = (40000, 5060);
    let split = leaks_of(&[
        tcp6(
            R6,
            P6,
            ports,
            100,
            b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP [fd77:",
        ),
        tcp6(R6, P6, ports, 147, b"1::2]:5060\r\n\r\n"),
    ]);
    assert_eq!(split.len(), 1, "{split:#?}");
    assert_eq!(split[0].1, LeakKind::SipText);
    assert!(
        split[0]
            .2
            .ends_with("(packets 0 and 1): Via: SIP/2.0/TCP [fd77:1::2]:5060"),
        "{split:?}"
    );
}

/// The LAN's IPv6 addresses as text in every spelling: canonical, upper
/// case, fully expanded, bracketed, IPv4-mapped (dotted and hexadecimal),
/// with leading zeros; each hit once, classified by its line.
#[test]
fn ipv6_payload_leaks_in_every_spelling() {
    let lines = [
        ("Contact: <sip:alice@2001:db8:77:1::2>", LeakKind::SipText),
        (
            "Via: SIP/2.0/UDP [2001:DB8:77:1::2]:5060",
            LeakKind::SipText,
        ),
        (
            "Call-ID: 1@2001:0db8:0077:0001:0000:0000:0000:0002",
            LeakKind::SipText,
        ),
        (
            "c=IN IP6 FD77:0001:0000:0000:0000:0000:0000:0002",
            LeakKind::Sdp,
        ),
        ("c=IN IP6 fd77:1::2", LeakKind::Sdp),
        ("o=- 1 1 IN IP6 FD77:1::2", LeakKind::Sdp),
        ("Contact: <sip:a@[fd77:1::2]>", LeakKind::SipText),
        ("Route: <sip:[2001:db8:77:1::1];lr>", LeakKind::SipText),
        ("a=rtcp:4001 IN IP6 fd77:1::1", LeakKind::Sdp),
        ("c=IN IP6 ::ffff:10.77.1.3", LeakKind::Sdp),
        ("Contact: <sip:a@[::FFFF:a4d:102]>", LeakKind::SipText),
        ("X-Hop: 2001:db8:77:01::02.", LeakKind::SipText),
    ];
    for (line, kind) in lines {
        let payload = format!("INVITE sip:bob@[2001:db8:100::2] SIP/2.0\r\n{line}\r\n\r\n");
        let leaks = leaks_of(&[udp6(R6, P6, 5060, 5060, payload.as_bytes())]);
        assert_eq!(leaks, [(0, kind, line.to_string())], "{line}");
    }
}

/// Any host of the LAN /64s (a privacy address), and the prefixes' leading
/// groups alone, are leaks too.
#[test]
fn ipv6_prefix_only_leaks_are_found() {
    let lines = [
        (
            "a=candidate:1 1 UDP 1 2001:db8:77:1:3c1e:8ff:fe6d:2a41 4000 typ host",
            LeakKind::Sdp,
        ),
        ("X-Net: fd77:1:", LeakKind::SipText),
        ("X-Net: 2001:DB8:77:1::/64", LeakKind::SipText),
        ("X-Net: fd77:1:0:0:a::", LeakKind::SipText),
    ];
    for (line, kind) in lines {
        let payload = format!("OPTIONS sip:[2001:db8:100::2] SIP/2.0\r\n{line}\r\n");
        let leaks = leaks_of(&[udp6(R6, P6, 5060, 5060, payload.as_bytes())]);
        assert_eq!(leaks, [(0, kind, line.to_string())], "{line}");
    }
}

/// ICMPv6 errors (types 1–4) quote the packet that caused them: a LAN
/// header there is a leak, as in ICMP over IPv4.
#[test]
fn icmpv6_quoting_a_lan_header_is_a_leak() {
    let leaks = leaks_of(&[
        icmp6_error(1, PHONE6, P6),
        icmp6_error(3, P6, "fd77:1::2"),
        icmp6_error(4, P6, R6),
    ]);
    let quoted = |p: usize| {
        (
            p,
            LeakKind::IpHeader,
            "IPv6 header quoted in an ICMPv6 error".to_string(),
        )
    };
    assert_eq!(leaks, [quoted(0), quoted(1)]);
}

/// NDP and MLD are tolerated with link-local, multicast, unspecified and
/// WAN-link addresses (`clean_ipv6_capture_has_no_leak_and_counts_sip`);
/// a LAN address they carry (NA target, RA prefix, RDNSS, MLD source) is
/// a leak, and any other address they name is reported.
#[test]
fn ndp_and_mld_are_scanned() {
    let mut rdnss = vec![64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
    rdnss.extend_from_slice(&[25, 3, 0, 0, 0, 0, 0x0e, 0x10]);
    rdnss.extend_from_slice(&v6("fd77:1::1"));
    let tolerated = pcap(&[
        ndp("::", "ff02::1:ff00:1", 135, R6),
        ndp("fe80::2", "fe80::1", 136, "fe80::2"),
        mld_report(&[("ff02::1:ff00:2", &["fe80::2"])]),
    ]);
    let r = scan_pcap(&tolerated).unwrap();
    assert!(r.leaks.is_empty(), "{:#?}", r.leaks);
    assert_eq!(r.ndp_packets, 3);

    let leaks = leaks_of(&[
        ndp(R6, P6, 136, "2001:db8:77:1::1"),
        ra("2001:db8:77:1::"),
        icmp6("fe80::1", "ff02::1", 134, &rdnss),
        mld_report(&[("ff02::1:ff00:2", &["fd77:1::2"])]),
        ndp(P6, "ff02::1:ff00:5", 135, "2001:db8:5::1"),
    ]);
    let h = |p: usize, what: &str| (p, LeakKind::IpHeader, what.to_string());
    assert_eq!(
        leaks,
        [
            h(0, "NDP message names 2001:db8:77:1::1"),
            h(1, "NDP message names 2001:db8:77:1::"),
            h(2, "NDP message names fd77:1::1"),
            h(3, "MLD message names fd77:1::2"),
            h(
                4,
                "NDP message names 2001:db8:5::1: not link-local, multicast or on the WAN link"
            ),
        ]
    );
}

/// Malformed IPv6 is an error naming the packet, never a panic: each case
/// below, every truncation of a well-formed frame, and every byte of those
/// frames overwritten with a few values.
#[test]
fn broken_ipv6_frames_are_errors_not_panics() {
    let hdr = |next: u8, plen: u16, rest: &[u8]| {
        let mut f = ip6(R6, P6, next, rest);
        f[18..20].copy_from_slice(&plen.to_be_bytes());
        f
    };
    let mut v4_in_v6 = udp6(R6, P6, 5060, 5060, b"x");
    v4_in_v6[14] = 0x45;
    let cases: [(Vec<u8>, &str); 12] = [
        (ip6(R6, P6, 59, &[])[..50].to_vec(), "IPv6 header truncated"),
        (v4_in_v6, "IP version 4 in an IPv6 frame"),
        (
            hdr(59, 100, &[0; 20]),
            "payload length 100 beyond the frame",
        ),
        (hdr(0, 8, &[17, 3, 0, 0, 0, 0, 0, 0]), "extension header 0"),
        (hdr(44, 4, &[17, 0, 0, 0]), "fragment header beyond"),
        (hdr(17, 6, &[0; 6]), "UDP header truncated"),
        (
            ip6(
                R6,
                P6,
                6,
                &[
                    0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0,
                ],
            ),
            "TCP data offset 8",
        ),
        (
            icmp6(R6, P6, 1, &[0; 20]),
            "quotes less than an IPv6 header",
        ),
        (icmp6(P6, R6, 135, &[0; 10]), "NDP target truncated"),
        (
            {
                let mut b = vec![0u8; 20];
                b.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
                icmp6(P6, R6, 135, &b)
            },
            "NDP option of length 0",
        ),
        (
            icmp6("fe80::1", "ff02::16", 143, &[0, 0, 0, 1, 4, 0, 0, 0]),
            "MLDv2 record truncated",
        ),
        (
            {
                let mut r = vec![17, 2, 4, 1, 3, 0, 0, 0]; // SRH: last entry 3
                r.extend_from_slice(&[0; 16]);
                ip6(R6, P6, 43, &r)
            },
            "routing header truncated",
        ),
    ];
    for (frame, want) in &cases {
        let err = scan_pcap(&pcap(std::slice::from_ref(frame))).unwrap_err();
        assert!(
            err.starts_with("packet 0: ") && err.contains(want),
            "{err} / {want}"
        );
    }

    let good = [
        mld_report(&[("ff02::1:ff00:1", &[R6])]),
        ra(P6),
        icmp6_error(1, P6, R6),
        tcp6(R6, P6, (40000, 5060), 1, b"OPTIONS sip:x SIP/2.0\r\n"),
        udp6(R6, P6, 5060, 5060, b"x"),
    ];
    let (mut errors, mut fine) = (0, 0);
    for f in &good {
        assert!(scan_pcap(&pcap(std::slice::from_ref(f))).is_ok());
        let real = 14 + 40 + usize::from(u16::from_be_bytes([f[18], f[19]]));
        for cut in 14..real {
            let err = scan_pcap(&pcap(&[f[..cut].to_vec()]));
            assert!(err.is_err(), "cut at {cut} of {f:?}");
        }
        for at in 14..f.len() {
            for v in [0x00, 0x01, 0x2c, 0x80, 0xff] {
                let mut g = f.clone();
                g[at] = v;
                match scan_pcap(&pcap(&[g])) {
                    Ok(_) => fine += 1,
                    Err(_) => errors += 1,
                }
            }
        }
    }
    assert!(errors > 0 && fine > 0, "{errors} errors, {fine} fine");
}

/// `packets` lists each IP packet of either family with its ports and
/// payload, an extension header skipped; ARP and NDP without ports.
#[test]
fn packets_of_either_family() {
    let frames = [
        udp([198, 51, 100, 1], [198, 51, 100, 2], 20000, 30000, b"rtp4"),
        ip6(
            "2001:db8:100::1",
            "2001:db8:100::2",
            60,
            &[ext(17, &[]), udp_header(5060, 5060, b"SIP6")].concat(),
        ),
        tcp6(
            "2001:db8:100::2",
            "2001:db8:100::1",
            (5070, 40000),
            7,
            b"SIP/2.0 200 OK\r\n",
        ),
        ndp("fe80::1", "ff02::1", 136, "fe80::1"),
    ];
    let ps = packets(&pcap(&frames)).unwrap();
    let got: Vec<(usize, String, String, u8, u16, u16, String)> = ps
        .iter()
        .map(|p| {
            let (s, d) = (p.src.to_string(), p.dst.to_string());
            (p.index, s, d, p.proto, p.sport, p.dport, p.text())
        })
        .collect();
    let row = |i, s: &str, d: &str, proto, sp, dp, t: &str| {
        (
            i,
            s.to_string(),
            d.to_string(),
            proto,
            sp,
            dp,
            t.to_string(),
        )
    };
    assert_eq!(
        got,
        [
            row(0, "198.51.100.1", "198.51.100.2", 17, 20000, 30000, "rtp4"),
            row(
                1,
                "2001:db8:100::1",
                "2001:db8:100::2",
                17,
                5060,
                5060,
                "SIP6"
            ),
            row(
                2,
                "2001:db8:100::2",
                "2001:db8:100::1",
                6,
                5070,
                40000,
                "SIP/2.0 200 OK\r\n"
            ),
            row(3, "fe80::1", "ff02::1", 58, 0, 0, ""),
        ]
    );
    assert!(packets(b"not a pcap").is_err());
}
