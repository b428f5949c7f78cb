//! The WAN capture check of the network-namespace tests: a small reader of
//! classic pcap files (Ethernet frames, as `tcpdump -i rwan -w` writes them)
//! that looks for the LAN's addresses in every frame: in an IPv4 header (also
//! the one quoted inside an ICMP error), in an ARP packet, in an IPv6 header,
//! routing header, ICMPv6 error quote or NDP/MLD message (`ip6.rs`), as text
//! anywhere in a frame (the IPv4 prefix `10.77.1.`, and the LAN's IPv6
//! addresses in any spelling), and in each TCP stream over IPv4 or IPv6 put
//! back together (an address split across two segments is in no single
//! frame).

use std::net::{IpAddr, Ipv4Addr};

mod ip6;
pub mod packets;

pub use packets::packets;

const LAN_PREFIX: [u8; 3] = [10, 77, 1];
const LAN_TEXT: &[u8] = b"10.77.1.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakKind {
    /// A LAN address in an IPv4 or IPv6 header (or one quoted by an ICMP or
    /// ICMPv6 error, or in an IPv6 routing header), in ARP, or in NDP/MLD;
    /// also any address NDP/MLD may not name on the WAN (see `ip6.rs`).
    IpHeader,
    /// LAN address text outside SDP lines (SIP start line or header, ...).
    SipText,
    /// LAN address text on an SDP line (`x=` at a line start).
    Sdp,
}

#[derive(Debug)]
#[allow(dead_code)] // the fields are read through Debug in failure messages
pub struct Leak {
    pub packet: usize,
    pub kind: LeakKind,
    pub context: String,
}

#[derive(Debug, Default)]
pub struct CaptureReport {
    pub packets: usize,
    /// UDP datagrams from or to port 5060, and TCP segments with payload.
    pub sip_packets: usize,
    /// NDP and MLD messages (ICMPv6 130–137, 143): tolerated, and scanned.
    pub ndp_packets: usize,
    pub leaks: Vec<Leak>,
}

fn in_lan(ip: &[u8]) -> bool {
    ip.get(..3) == Some(&LAN_PREFIX[..])
}

fn rd16(b: &[u8], at: usize, le: bool) -> Option<u16> {
    let x: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(x)
    } else {
        u16::from_be_bytes(x)
    })
}

fn rd32(b: &[u8], at: usize, le: bool) -> Option<u32> {
    let x: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(x)
    } else {
        u32::from_be_bytes(x)
    })
}

/// Read a classic pcap file (either byte order, µs or ns timestamps) with
/// Ethernet frames, as tcpdump -w writes it, and look for the LAN's
/// addresses. A malformed IPv6 packet is an error naming its packet index.
pub fn scan_pcap(b: &[u8]) -> Result<CaptureReport, String> {
    let magic = rd32(b, 0, true).ok_or("shorter than a pcap header")?;
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => return Err(format!("not a pcap file (magic {m:#x})")),
    };
    let linktype = rd32(b, 20, le).ok_or("truncated pcap header")?;
    if linktype != 1 {
        return Err(format!("link type {linktype}, expected 1 (Ethernet)"));
    }
    let mut report = CaptureReport::default();
    let mut streams = Streams::new();
    let mut at = 24;
    while at < b.len() {
        let incl = rd32(b, at + 8, le).ok_or("truncated record header")? as usize;
        let frame = b
            .get(at + 16..at + 16 + incl)
            .ok_or("truncated packet data")?;
        scan_frame(report.packets, frame, &mut report)
            .map_err(|e| format!("packet {}: {e}", report.packets))?;
        if let Some((flow, seq, payload)) = tcp_segment(frame) {
            streams
                .entry(flow)
                .or_default()
                .push((seq, report.packets, payload.to_vec()));
        }
        report.packets += 1;
        at += 16 + incl;
    }
    scan_streams(&streams, &mut report);
    Ok(report)
}

/// A TCP flow: (source address, source port, destination address, port).
type Flow = (IpAddr, u16, IpAddr, u16);
/// Each flow's segments with payload: (sequence number, packet index, payload).
type Streams = std::collections::HashMap<Flow, Vec<(u32, usize, Vec<u8>)>>;

/// The flow, sequence number and payload of an Ethernet frame holding an
/// IPv4 or IPv6 TCP segment with payload.
fn tcp_segment(f: &[u8]) -> Option<(Flow, u32, &[u8])> {
    match rd16(f, 12, false)? {
        0x0800 => {}
        0x86DD => return ip6::tcp_segment(f.get(14..)?),
        _ => return None,
    }
    let ip = f.get(14..)?;
    if *ip.get(9)? != 6 {
        return None;
    }
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(rd16(ip, 2, false)?).min(ip.len());
    let tcp = ip.get(ihl..total)?;
    let offset = usize::from(tcp.get(12)? >> 4) * 4;
    let payload = tcp.get(offset..)?;
    if payload.is_empty() {
        return None;
    }
    let addr = |at: usize| -> Option<IpAddr> {
        let a: [u8; 4] = ip.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(a).into())
    };
    let flow = (
        addr(12)?,
        rd16(tcp, 0, false)?,
        addr(16)?,
        rd16(tcp, 2, false)?,
    );
    Some((flow, rd32(tcp, 4, false)?, payload))
}

/// Each TCP stream put back together (by sequence number, retransmissions
/// once) and searched whole for the LAN prefix: the per-frame search above
/// misses an address split across two segments. Only such split hits are
/// added here (the others were found in their frame), and SIP over TCP
/// counts as SIP.
fn scan_streams(streams: &Streams, r: &mut CaptureReport) {
    for (flow, segs) in streams {
        if flow.1 == 5060 || flow.3 == 5060 {
            r.sip_packets += segs.len();
        }
        let Some(&(base, _, _)) = segs.first() else {
            continue;
        };
        // (offset in the stream, packet index, bytes), in stream order;
        // segments before the first one seen (wrapped offsets) are left out.
        let mut placed: Vec<(usize, usize, &[u8])> = segs
            .iter()
            .map(|(seq, i, p)| (seq.wrapping_sub(base) as usize, *i, p.as_slice()))
            .filter(|(off, _, _)| *off < 1 << 30)
            .collect();
        placed.sort_by_key(|&(off, i, _)| (off, i));
        let mut stream: Vec<u8> = Vec::new();
        // Where each packet's new bytes start in `stream`.
        let mut starts: Vec<(usize, usize)> = Vec::new();
        for (off, i, p) in placed {
            let end = off + p.len();
            if end <= stream.len() {
                continue; // a retransmission of bytes already placed
            }
            if off > stream.len() {
                // A gap (bytes the capture missed): keep the offsets apart.
                stream.resize(off, 0);
            }
            let skip = stream.len() - off;
            starts.push((stream.len(), i));
            stream.extend_from_slice(&p[skip..]);
        }
        let packet_at = |pos: usize| -> usize {
            let k = starts.partition_point(|&(s, _)| s <= pos);
            starts.get(k.saturating_sub(1)).map_or(0, |&(_, i)| i)
        };
        let mut from = 0;
        while let Some((hit, len)) = lan_text(&stream, from) {
            from = hit + len;
            let (first, last) = (packet_at(hit), packet_at(hit + len - 1));
            if first == last {
                continue; // within one segment: scan_frame reported it
            }
            let (kind, line) = classify(&stream, 0, hit);
            r.leaks.push(Leak {
                packet: first,
                kind,
                context: format!("split across TCP segments (packets {first} and {last}): {line}"),
            });
        }
    }
}

/// The kind of a LAN-prefix hit at `hit` in `text`, and its line (which
/// starts at `floor` at the earliest).
fn classify(text: &[u8], floor: usize, hit: usize) -> (LeakKind, String) {
    let start = text[floor..hit]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(floor, |p| floor + p + 1);
    let end = text[hit..]
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .map_or(text.len(), |p| hit + p);
    let line = &text[start..end];
    let sdp = line.len() >= 2 && line[0].is_ascii_lowercase() && line[1] == b'=';
    let kind = if sdp {
        LeakKind::Sdp
    } else {
        LeakKind::SipText
    };
    (kind, String::from_utf8_lossy(line).into_owned())
}

/// Check one Ethernet frame. IPv4 and ARP are read leniently (a short
/// packet reads as zeros), as they always were; malformed IPv6 is an error.
fn scan_frame(index: usize, f: &[u8], r: &mut CaptureReport) -> Result<(), String> {
    let mut header_leaks: Vec<String> = Vec::new();
    // Where the UDP or TCP payload starts: a line of text starts there at
    // the earliest (a TCP segment may start with an SDP line).
    let mut payload_at = 0;
    match rd16(f, 12, false) {
        Some(0x0800) => {
            let ip = f.get(14..).unwrap_or(&[]);
            if in_lan(ip.get(12..16).unwrap_or(&[])) || in_lan(ip.get(16..20).unwrap_or(&[])) {
                header_leaks.push("IPv4 source or destination".to_string());
            }
            let ihl = usize::from(ip.first().map_or(0, |v| v & 0x0f)) * 4;
            let proto = ip.get(9).copied();
            let l4 = ip.get(ihl..).unwrap_or(&[]);
            if proto == Some(17) {
                let (sp, dp) = (rd16(l4, 0, false), rd16(l4, 2, false));
                if sp == Some(5060) || dp == Some(5060) {
                    r.sip_packets += 1;
                }
                payload_at = 14 + ihl + 8;
            }
            if proto == Some(6) {
                payload_at = 14 + ihl + usize::from(l4.get(12).map_or(0, |v| v >> 4)) * 4;
            }
            // ICMP errors quote the offending packet's IPv4 header.
            if proto == Some(1) && matches!(l4.first(), Some(3) | Some(11)) {
                let q = l4.get(8..).unwrap_or(&[]);
                if in_lan(q.get(12..16).unwrap_or(&[])) || in_lan(q.get(16..20).unwrap_or(&[])) {
                    header_leaks.push("IPv4 header quoted in an ICMP error".to_string());
                }
            }
        }
        Some(0x0806) => {
            let arp = f.get(14..).unwrap_or(&[]);
            if in_lan(arp.get(14..18).unwrap_or(&[])) || in_lan(arp.get(24..28).unwrap_or(&[])) {
                header_leaks.push("ARP sender or target".to_string());
            }
        }
        Some(0x86DD) => {
            let ip = f.get(14..).unwrap_or(&[]);
            if let Some(at) = ip6::scan(ip, r, &mut header_leaks)? {
                payload_at = 14 + at;
            }
        }
        _ => {}
    }
    for context in header_leaks {
        r.leaks.push(Leak {
            packet: index,
            kind: LeakKind::IpHeader,
            context,
        });
    }
    // Text anywhere in the frame; each hit is classified by its line.
    let mut from = 0;
    while let Some((hit, _)) = lan_text(f, from) {
        let floor = if hit >= payload_at { payload_at } else { 0 };
        let (kind, context) = classify(f, floor, hit);
        let end = f[hit..]
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .map_or(f.len(), |p| hit + p);
        r.leaks.push(Leak {
            packet: index,
            kind,
            context,
        });
        from = end.max(hit + 1);
    }
    Ok(())
}

/// The first LAN address written as text in `text` at or after `from`:
/// where it starts and how many bytes it takes. The IPv4 prefix
/// (`10.77.1.`) as it always was; the IPv6 spellings of `ip6::needles`
/// (ASCII case ignored) and any IPv6 literal naming a LAN address
/// (`ip6::literal_at`). The longest match wins at one position.
fn lan_text(text: &[u8], from: usize) -> Option<(usize, usize)> {
    let needles = ip6::needles();
    let mut at = from;
    while at < text.len() {
        // Every match starts with a hex digit, a colon or a bracket: skip
        // the rest quickly (a TCP stream with a gap holds megabytes of
        // zeros).
        at += text[at..]
            .iter()
            .position(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'[')?;
        let rest = &text[at..];
        let v4 = rest.starts_with(LAN_TEXT).then_some(LAN_TEXT.len());
        let v6 = needles
            .iter()
            .filter(|n| {
                rest.get(..n.len())
                    .is_some_and(|r| r.eq_ignore_ascii_case(n))
            })
            .map(|n| n.len())
            .max();
        let literal = ip6::literal_at(text, at);
        if let Some(len) = v4.max(v6).max(literal) {
            return Some((at, len));
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests;
