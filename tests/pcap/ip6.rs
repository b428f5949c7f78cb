//! IPv6 in the WAN capture check (issue 14, the addresses of `topo.sh
//! --ip6`): the IPv6 header and its extension headers, the header quoted by
//! an ICMPv6 error, the addresses NDP and MLD messages carry, and the LAN's
//! IPv6 addresses as text.
//!
//! Malformed IPv6 is an error (the capture cannot be vouched for), never a
//! panic: every read is bounds-checked. What it does not read: IPv6 inside
//! IPv4 or IPv6 tunnels, ESP, jumbograms (an error), and fragments after the
//! first (their bytes are only searched as text).

use std::net::Ipv6Addr;
use std::sync::OnceLock;

use super::{CaptureReport, in_lan, rd16};

/// The LAN's IPv6 networks, both /64: the documentation prefix (RFC 3849)
/// and a ULA (RFC 4193).
const LAN6_NETS: [[u8; 8]; 2] = [
    [0x20, 0x01, 0x0d, 0xb8, 0x00, 0x77, 0x00, 0x01],
    [0xfd, 0x77, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00],
];
/// The WAN link (2001:db8:100::/64): the router's rwan and the provider.
const WAN6_NET: [u8; 8] = [0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0x00, 0x00];
/// The LAN hosts' IPv6 addresses in topo.sh: the phone's, the router's.
const LAN6_HOSTS: [&str; 4] = [
    "2001:db8:77:1::2",
    "fd77:1::2",
    "2001:db8:77:1::1",
    "fd77:1::1",
];

/// The IPv6 analogue of `in_lan`: an address of a LAN /64, or an
/// IPv4-mapped LAN address (`::ffff:10.77.1.x`).
pub(super) fn in_lan6(a: &[u8; 16]) -> bool {
    LAN6_NETS.iter().any(|n| a[..8] == n[..])
        || Ipv6Addr::from(*a)
            .to_ipv4_mapped()
            .is_some_and(|v4| in_lan(&v4.octets()))
}

/// Addresses NDP and MLD may carry on the WAN: unspecified, link-local,
/// multicast, and the WAN link's own.
fn ndp_tolerated(a: &[u8; 16]) -> bool {
    let ip = Ipv6Addr::from(*a);
    ip.is_unspecified()
        || ip.is_multicast()
        || (a[0] == 0xfe && a[1] & 0xc0 == 0x80)
        || a[..8] == WAN6_NET
}

/// An IPv6 packet walked up to its upper-layer header.
struct Packet<'a> {
    src: [u8; 16],
    dst: [u8; 16],
    /// The protocol after the extension headers (also 59 "no next header"
    /// and any protocol this reader does not know).
    proto: u8,
    /// Where the upper layer starts, counted from the IPv6 header.
    l4_at: usize,
    /// The upper-layer bytes, up to the payload length (padding cut).
    l4: &'a [u8],
    /// A fragment other than the first: `l4` holds no header.
    later_fragment: bool,
    /// The addresses of routing headers (types 0, 2 and 4).
    routed: Vec<[u8; 16]>,
}

/// 16 bytes at `at` of `b` as an address.
fn addr(b: &[u8], at: usize, what: &str) -> Result<[u8; 16], String> {
    b.get(at..at + 16)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| format!("{what} truncated"))
}

/// Walk the header and the extension headers (hop-by-hop 0, routing 43,
/// fragment 44, destination options 60, and AH 51, which only changes the
/// length unit) of the IPv6 packet `ip`.
fn parse(ip: &[u8]) -> Result<Packet<'_>, String> {
    let fixed = ip.get(..40).ok_or("IPv6 header truncated")?;
    if fixed[0] >> 4 != 6 {
        return Err(format!(
            "IP version {} in an IPv6 frame (ethertype 0x86dd)",
            fixed[0] >> 4
        ));
    }
    let plen = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
    let ip = ip.get(..40 + plen).ok_or_else(|| {
        format!(
            "IPv6 payload length {plen} beyond the frame ({} bytes)",
            ip.len() - 40
        )
    })?;
    let (src, dst) = (addr(ip, 8, "source")?, addr(ip, 24, "destination")?);
    let mut next = fixed[6];
    let mut at = 40;
    let mut routed = Vec::new();
    let mut later_fragment = false;
    loop {
        match next {
            0 | 43 | 51 | 60 => {
                let h = ip
                    .get(at..at + 2)
                    .ok_or_else(|| format!("extension header {next} beyond the payload"))?;
                let len = if next == 51 {
                    (usize::from(h[1]) + 2) * 4
                } else {
                    (usize::from(h[1]) + 1) * 8
                };
                let body = ip
                    .get(at..at + len)
                    .ok_or_else(|| format!("extension header {next} beyond the payload"))?;
                if next == 43 && matches!(body[2], 0 | 2 | 4) {
                    // Type 4 (segment routing) lists last entry + 1
                    // segments, then TLVs; types 0 and 2 only addresses.
                    let n = if body[2] == 4 {
                        usize::from(body[4]) + 1
                    } else {
                        (len - 8) / 16
                    };
                    let list = body.get(8..8 + 16 * n).ok_or("routing header truncated")?;
                    for a in list.chunks_exact(16) {
                        routed.push(addr(a, 0, "routing header address")?);
                    }
                }
                next = h[0];
                at += len;
            }
            44 => {
                let h = ip
                    .get(at..at + 8)
                    .ok_or("fragment header beyond the payload")?;
                next = h[0];
                at += 8;
                if u16::from_be_bytes([h[2], h[3]]) >> 3 != 0 {
                    later_fragment = true;
                    break;
                }
            }
            _ => break,
        }
    }
    Ok(Packet {
        src,
        dst,
        proto: next,
        l4_at: at,
        l4: &ip[at..],
        later_fragment,
        routed,
    })
}

/// Check the IPv6 packet `ip` (a frame after its Ethernet header) for LAN
/// addresses in its headers, in an ICMPv6 error's quote and in NDP/MLD
/// messages (each hit described in `leaks`), and count SIP and NDP. Returns
/// where a UDP or TCP payload starts in `ip`.
pub(super) fn scan(
    ip: &[u8],
    r: &mut CaptureReport,
    leaks: &mut Vec<String>,
) -> Result<Option<usize>, String> {
    let p = parse(ip)?;
    if in_lan6(&p.src) || in_lan6(&p.dst) {
        leaks.push("IPv6 source or destination".to_string());
    }
    if p.routed.iter().any(in_lan6) {
        leaks.push("address in an IPv6 routing header".to_string());
    }
    if p.later_fragment {
        return Ok(None);
    }
    let l4 = p.l4;
    match p.proto {
        17 => {
            if l4.len() < 8 {
                return Err("UDP header truncated (IPv6)".to_string());
            }
            let (sp, dp) = (rd16(l4, 0, false), rd16(l4, 2, false));
            if sp == Some(5060) || dp == Some(5060) {
                r.sip_packets += 1;
            }
            Ok(Some(p.l4_at + 8))
        }
        6 => {
            let off = usize::from(l4.get(12).ok_or("TCP header truncated (IPv6)")? >> 4) * 4;
            if off < 20 || off > l4.len() {
                return Err(format!(
                    "TCP data offset {off} in a {}-byte segment (IPv6)",
                    l4.len()
                ));
            }
            Ok(Some(p.l4_at + off))
        }
        58 => {
            icmp6(&p, r, leaks)?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// The addresses, upper-layer protocol and upper-layer bytes of the IPv6
/// packet `ip`; `None` when it is malformed or a fragment after the first.
pub(super) fn header(ip: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr, u8, &[u8])> {
    let p = parse(ip).ok().filter(|p| !p.later_fragment)?;
    Some((p.src.into(), p.dst.into(), p.proto, p.l4))
}

/// The flow, sequence number and payload of an IPv6 TCP segment with
/// payload (not a fragment). `scan` has vouched for the packet.
pub(super) fn tcp_segment(ip: &[u8]) -> Option<(super::Flow, u32, &[u8])> {
    let p = parse(ip).ok()?;
    if p.proto != 6 || p.later_fragment {
        return None;
    }
    let tcp = p.l4;
    let payload = tcp.get(usize::from(tcp.get(12)? >> 4) * 4..)?;
    if payload.is_empty() {
        return None;
    }
    let flow = (
        Ipv6Addr::from(p.src).into(),
        rd16(tcp, 0, false)?,
        Ipv6Addr::from(p.dst).into(),
        rd16(tcp, 2, false)?,
    );
    Some((flow, super::rd32(tcp, 4, false)?, payload))
}

/// ICMPv6 (RFC 4443): an error (types 1–4) quotes the packet that caused
/// it, whose header must not be a LAN one. NDP (RFC 4861, 133–137) and MLD
/// (RFC 2710 130–132, RFC 3810 143) are tolerated on the WAN when every
/// address they name, in the header, the body or an option, is unspecified,
/// link-local, multicast or on the WAN link; they are counted.
fn icmp6(p: &Packet, r: &mut CaptureReport, leaks: &mut Vec<String>) -> Result<(), String> {
    let m = p.l4;
    if m.len() < 4 {
        return Err("ICMPv6 message truncated".to_string());
    }
    let ty = m[0];
    if (1..=4).contains(&ty) {
        let q = m
            .get(8..48)
            .ok_or("ICMPv6 error quotes less than an IPv6 header")?;
        if in_lan6(&addr(q, 8, "quoted source")?) || in_lan6(&addr(q, 24, "quoted destination")?) {
            leaks.push("IPv6 header quoted in an ICMPv6 error".to_string());
        }
        return Ok(());
    }
    if !matches!(ty, 130..=137 | 143) {
        return Ok(());
    }
    r.ndp_packets += 1;
    let what = if (133..=137).contains(&ty) {
        "NDP"
    } else {
        "MLD"
    };
    let mut carried: Vec<[u8; 16]> = Vec::new();
    let options_at = match ty {
        130..=132 => {
            carried.push(addr(m, 8, "MLD multicast address")?);
            // An MLDv2 query (28 bytes and more) lists sources.
            if ty == 130 && m.len() >= 28 {
                let n = usize::from(rd16(m, 26, false).unwrap_or(0));
                for k in 0..n {
                    carried.push(addr(m, 28 + 16 * k, "MLDv2 query source")?);
                }
            }
            None
        }
        133 => Some(8),
        134 => Some(16),
        135 | 136 => {
            carried.push(addr(m, 8, "NDP target")?);
            Some(24)
        }
        137 => {
            carried.push(addr(m, 8, "redirect target")?);
            carried.push(addr(m, 24, "redirect destination")?);
            Some(40)
        }
        _ => {
            // MLDv2 report: records of (type, aux words, sources, group,
            // sources, aux data).
            let n = rd16(m, 6, false).ok_or("MLDv2 report truncated")?;
            let mut at = 8;
            for _ in 0..n {
                let rec = m.get(at..at + 4).ok_or("MLDv2 record truncated")?;
                let aux = usize::from(rec[1]) * 4;
                let sources = usize::from(u16::from_be_bytes([rec[2], rec[3]]));
                carried.push(addr(m, at + 4, "MLDv2 record")?);
                for k in 0..sources {
                    carried.push(addr(m, at + 20 + 16 * k, "MLDv2 record source")?);
                }
                at += 20 + 16 * sources + aux;
                if at > m.len() {
                    return Err("MLDv2 record beyond the message".to_string());
                }
            }
            None
        }
    };
    if let Some(at) = options_at {
        ndp_options(m, at, &mut carried)?;
    }
    for a in &carried {
        if in_lan6(a) {
            leaks.push(format!("{what} message names {}", Ipv6Addr::from(*a)));
        }
    }
    for a in [p.src, p.dst].iter().chain(&carried) {
        if !in_lan6(a) && !ndp_tolerated(a) {
            leaks.push(format!(
                "{what} message names {}: not link-local, multicast or on the WAN link",
                Ipv6Addr::from(*a)
            ));
        }
    }
    Ok(())
}

/// The addresses in the NDP options from `at` on (RFC 4861 §4.6; route
/// information RFC 4191 §2.3, RDNSS RFC 8106 §5.1).
fn ndp_options(m: &[u8], mut at: usize, carried: &mut Vec<[u8; 16]>) -> Result<(), String> {
    while at < m.len() {
        let h = m.get(at..at + 2).ok_or("NDP option truncated")?;
        if h[1] == 0 {
            return Err("NDP option of length 0".to_string());
        }
        let len = usize::from(h[1]) * 8;
        let o = m.get(at..at + len).ok_or("NDP option beyond the message")?;
        match o[0] {
            3 => carried.push(addr(o, 16, "prefix information option")?),
            24 => {
                let mut prefix = [0u8; 16];
                let bytes = &o[8..len.min(24)];
                prefix[..bytes.len()].copy_from_slice(bytes);
                carried.push(prefix);
            }
            25 => {
                for a in o[8..].chunks_exact(16) {
                    carried.push(addr(a, 0, "RDNSS address")?);
                }
            }
            _ => {}
        }
        at += len;
    }
    Ok(())
}

/// The spellings of the LAN's IPv6 addresses searched for in every frame
/// and TCP stream, ASCII case ignored (so upper and mixed case too): each
/// LAN host's canonical (RFC 5952 §4), bracketed and fully expanded form,
/// the leading groups of the LAN prefixes (any host of the /64s, privacy
/// addresses included), and the IPv4-mapped LAN. `literal_at` finds the
/// other spellings.
pub(super) fn needles() -> &'static [Vec<u8>] {
    static NEEDLES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    NEEDLES.get_or_init(|| {
        let mut n: Vec<String> = Vec::new();
        for host in LAN6_HOSTS {
            let a: Ipv6Addr = host.parse().expect("LAN6_HOSTS are literals");
            let expanded: Vec<String> = a.segments().iter().map(|g| format!("{g:04x}")).collect();
            n.push(a.to_string());
            n.push(format!("[{a}]"));
            n.push(expanded.join(":"));
        }
        for text in ["2001:db8:77:1:", "fd77:1:", "::ffff:10.77.1."] {
            n.push(text.to_string());
        }
        n.into_iter().map(String::into_bytes).collect()
    })
}

/// The length of an IPv6 literal that starts at `at` in `text` (a maximal
/// run of hex digits, colons and dots, with two colons at least) and names
/// a LAN address (`in_lan6`): leading zeros, partial compression, the
/// hexadecimal mapped form `::ffff:a4d:102` and the like.
pub(super) fn literal_at(text: &[u8], at: usize) -> Option<usize> {
    let lit = |c: &u8| c.is_ascii_hexdigit() || *c == b':' || *c == b'.';
    if at > 0 && text.get(at - 1).is_some_and(lit) {
        return None;
    }
    let run = text.get(at..)?.iter().take_while(|c| lit(c)).count();
    let word = &text[at..at + run];
    if word.iter().filter(|&&c| c == b':').count() < 2 {
        return None;
    }
    let s = std::str::from_utf8(word).ok()?;
    let a: Ipv6Addr = s
        .parse()
        .ok()
        .or_else(|| s.trim_end_matches('.').parse().ok())?;
    in_lan6(&a.octets()).then_some(run)
}
