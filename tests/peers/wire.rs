//! What the real-peers tests count in a capture: RTP between two addresses
//! each way, SIP by transport, TCP connections opened. A small reader of
//! classic pcap files of Ethernet frames (as `tcpdump -w` writes them) that
//! takes each IPv4 or IPv6 packet apart down to its UDP or TCP payload. The
//! LAN-address check is `tests/pcap/`'s ([`super::check_wan_captures`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One IPv4 or IPv6 packet of a capture.
#[derive(Debug)]
pub struct Pkt {
    /// 17 UDP, 6 TCP, 1 ICMP, 58 ICMPv6, ...; 0 for a frame that is
    /// neither IPv4 nor IPv6 (ARP), or a fragment after the first.
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// TCP sequence number of the payload's first byte.
    pub seq: u32,
    /// TCP SYN flag (the SYN takes one sequence number).
    pub syn: bool,
    /// TCP ACK flag (a SYN without it opens a connection).
    pub ack: bool,
    /// TCP FIN flag (the sender closes its side).
    pub fin: bool,
    /// The UDP or TCP payload (bounded by the IP length, so no padding).
    pub payload: Vec<u8>,
}

impl Default for Pkt {
    fn default() -> Pkt {
        Pkt {
            proto: 0,
            src: Ipv4Addr::UNSPECIFIED.into(),
            dst: Ipv4Addr::UNSPECIFIED.into(),
            sport: 0,
            dport: 0,
            seq: 0,
            syn: false,
            ack: false,
            fin: false,
            payload: Vec::new(),
        }
    }
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

/// Read a classic pcap file (either byte order, µs or ns timestamps) of
/// Ethernet frames, as tcpdump -w writes it.
pub fn parse_pcap(b: &[u8]) -> Result<Vec<Pkt>, String> {
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
    let mut pkts = Vec::new();
    let mut at = 24;
    while at < b.len() {
        let incl = rd32(b, at + 8, le).ok_or("truncated record header")? as usize;
        let frame = b
            .get(at + 16..at + 16 + incl)
            .ok_or("truncated packet data")?;
        pkts.push(parse_frame(frame));
        at += 16 + incl;
    }
    Ok(pkts)
}

fn parse_frame(f: &[u8]) -> Pkt {
    let mut p = Pkt::default();
    let ip = f.get(14..).unwrap_or(&[]);
    let l4 = match rd16(f, 12, false) {
        Some(0x0800) => {
            let ihl = usize::from(ip.first().map_or(0, |v| v & 0x0f)) * 4;
            let total = usize::from(rd16(ip, 2, false).unwrap_or(0)).min(ip.len());
            let a = |at: usize| -> IpAddr {
                let o: [u8; 4] = ip
                    .get(at..at + 4)
                    .and_then(|s| s.try_into().ok())
                    .unwrap_or([0; 4]);
                Ipv4Addr::from(o).into()
            };
            p.src = a(12);
            p.dst = a(16);
            p.proto = ip.get(9).copied().unwrap_or(0);
            ip.get(ihl..total.max(ihl)).unwrap_or(&[])
        }
        Some(0x86DD) => {
            let a = |at: usize| -> IpAddr {
                let o: [u8; 16] = ip
                    .get(at..at + 16)
                    .and_then(|s| s.try_into().ok())
                    .unwrap_or([0; 16]);
                Ipv6Addr::from(o).into()
            };
            p.src = a(8);
            p.dst = a(24);
            let end = (40 + usize::from(rd16(ip, 4, false).unwrap_or(0))).min(ip.len());
            // Past the extension headers that may come before UDP or TCP:
            // hop-by-hop, routing, destination options (8-byte units after
            // the first 8), and a first fragment.
            let mut next = ip.get(6).copied().unwrap_or(0);
            let mut at = 40;
            loop {
                match next {
                    0 | 43 | 60 => {
                        next = ip.get(at).copied().unwrap_or(59);
                        at += 8 + 8 * usize::from(ip.get(at + 1).copied().unwrap_or(0));
                    }
                    44 => {
                        let offset = rd16(ip, at + 2, false).unwrap_or(0) >> 3;
                        next = if offset == 0 {
                            ip.get(at).copied().unwrap_or(59)
                        } else {
                            0
                        };
                        at += 8;
                    }
                    _ => break,
                }
            }
            p.proto = next;
            ip.get(at..end.max(at)).unwrap_or(&[])
        }
        _ => {
            p.payload = f.to_vec();
            return p;
        }
    };
    match p.proto {
        17 => {
            p.sport = rd16(l4, 0, false).unwrap_or(0);
            p.dport = rd16(l4, 2, false).unwrap_or(0);
            p.payload = l4.get(8..).unwrap_or(&[]).to_vec();
        }
        6 => {
            p.sport = rd16(l4, 0, false).unwrap_or(0);
            p.dport = rd16(l4, 2, false).unwrap_or(0);
            p.seq = rd32(l4, 4, false).unwrap_or(0);
            p.syn = l4.get(13).is_some_and(|f| f & 0x02 != 0);
            p.ack = l4.get(13).is_some_and(|f| f & 0x10 != 0);
            p.fin = l4.get(13).is_some_and(|f| f & 0x01 != 0);
            let off = usize::from(l4.get(12).map_or(0, |v| v >> 4)) * 4;
            p.payload = l4.get(off..).unwrap_or(&[]).to_vec();
        }
        _ => p.payload = l4.to_vec(),
    }
    p
}

/// RTP packets (version 2, payload type 0: G.711 µ-law) from `a` to `b`
/// and from `b` to `a`.
pub fn rtp_counts(pcap: &[u8], a: IpAddr, b: IpAddr) -> Result<(usize, usize), String> {
    let mut n = (0, 0);
    for p in parse_pcap(pcap)? {
        let rtp = p.proto == 17
            && p.payload.len() >= 12
            && p.payload[0] & 0xc0 == 0x80
            && p.payload[1] & 0x7f == 0;
        if rtp && p.src == a && p.dst == b {
            n.0 += 1;
        } else if rtp && p.src == b && p.dst == a {
            n.1 += 1;
        }
    }
    Ok(n)
}

/// The payloads (past the header, its CSRCs and extension) of the RTP
/// packets (version 2, payload type 0) from `a` to `b`, in capture order.
/// Of SRTP the encrypted payload and its authentication tag.
pub fn rtp_payloads(pkts: &[Pkt], a: IpAddr, b: IpAddr) -> Vec<Vec<u8>> {
    pkts.iter()
        .filter(|p| p.proto == 17 && p.src == a && p.dst == b)
        .filter(|p| p.payload.len() >= 12 && p.payload[0] & 0xc0 == 0x80)
        .filter(|p| p.payload[1] & 0x7f == 0)
        .filter_map(|p| {
            let r = &p.payload;
            let mut at = 12 + 4 * usize::from(r[0] & 0x0f);
            if r[0] & 0x10 != 0 {
                let words = rd16(r, at + 2, false)?;
                at += 4 + 4 * usize::from(words);
            }
            r.get(at..).map(<[u8]>::to_vec)
        })
        .collect()
}

/// SIP (port 5060 at either end) to or from `router` (with `peer` only, if
/// given), as (UDP datagrams, TCP segments with data). A connection sipnat
/// opens has an ephemeral port at the router's end.
pub fn sip_by_transport(pkts: &[Pkt], router: IpAddr, peer: Option<IpAddr>) -> (usize, usize) {
    let mut n = (0, 0);
    for p in pkts {
        let ours = (p.src == router || p.dst == router) && (p.sport == 5060 || p.dport == 5060);
        let with_peer = peer.is_none_or(|w| p.src == w || p.dst == w);
        if !ours || !with_peer || p.payload.is_empty() {
            continue;
        }
        match p.proto {
            17 => n.0 += 1,
            6 => n.1 += 1,
            _ => {}
        }
    }
    n
}

/// The source ports of the TCP connections `from` opened to `to` (SYN
/// without ACK).
pub fn connections(pkts: &[Pkt], from: IpAddr, to: IpAddr) -> Vec<u16> {
    pkts.iter()
        .filter(|p| p.proto == 6 && p.syn && !p.ack && p.src == from && p.dst == to)
        .map(|p| p.sport)
        .collect()
}

#[cfg(test)]
mod tests {
    //! The reader on made-up frames: it must count what the tests rely on
    //! it to count, over IPv4 and IPv6.
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

    /// An Ethernet frame with an IPv4 or IPv6 packet (`ext`: IPv6 extension
    /// headers to put first, as (type, body of 6 bytes)).
    fn ip(proto: u8, src: IpAddr, dst: IpAddr, ext: &[u8], l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend_from_slice(&[0x08, 0x00]);
                let total = (20 + l4.len()) as u16;
                f.extend_from_slice(&[0x45, 0]);
                f.extend_from_slice(&total.to_be_bytes());
                f.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
                let len = (ext.len() + l4.len()) as u16;
                f.extend_from_slice(&len.to_be_bytes());
                f.push(if ext.is_empty() { proto } else { 0 });
                f.push(64);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
                f.extend_from_slice(ext);
            }
            _ => unreachable!("one family per packet"),
        }
        f.extend_from_slice(l4);
        // Ethernet padding past the IP length is not payload.
        f.extend_from_slice(&[0xee; 4]);
        f
    }

    fn udp(src: IpAddr, dst: IpAddr, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
        let mut l4 = Vec::new();
        l4.extend_from_slice(&ports.0.to_be_bytes());
        l4.extend_from_slice(&ports.1.to_be_bytes());
        l4.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend_from_slice(payload);
        ip(17, src, dst, &[], &l4)
    }

    fn tcp(src: IpAddr, dst: IpAddr, sport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut l4 = Vec::new();
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&5060u16.to_be_bytes());
        l4.extend_from_slice(&7u32.to_be_bytes());
        l4.extend_from_slice(&[0, 0, 0, 0, 0x50, flags]);
        l4.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        l4.extend_from_slice(payload);
        ip(6, src, dst, &[], &l4)
    }

    const RTP: [u8; 13] = [0x80, 0x00, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xff];
    const RTCP: [u8; 12] = [0x80, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0];

    #[test]
    fn rtp_and_sip_are_counted_by_direction_and_transport() {
        let (r, w, k) = (
            super::super::ROUTER_WAN,
            super::super::WAN_PHONE,
            super::super::PROVIDER,
        );
        let b = pcap(&[
            udp(r, w, (20000, 10000), &RTP),
            udp(r, w, (20000, 10000), &RTP),
            udp(w, r, (10000, 20000), &RTP),
            udp(w, r, (10001, 20001), &RTCP),
            udp(r, k, (5060, 5060), b"OPTIONS"),
            tcp(k, r, 40000, 0x18, b"SIP/2.0 200 OK"),
        ]);
        assert_eq!(rtp_counts(&b, r, w).unwrap(), (2, 1));
        let pkts = parse_pcap(&b).unwrap();
        assert_eq!(pkts[0].payload, RTP, "no Ethernet padding in the payload");
        assert_eq!(sip_by_transport(&pkts, r, Some(k)), (1, 1));
        assert_eq!(sip_by_transport(&pkts, r, Some(w)), (0, 0));
    }

    /// IPv6: the same counts, also past a hop-by-hop header; a TCP SYN
    /// counts as a connection, its SYN-ACK does not.
    #[test]
    fn ipv6_packets_are_counted_too() {
        let (r, w, k) = (
            super::super::ROUTER_WAN6,
            super::super::WAN_PHONE6,
            super::super::PROVIDER6,
        );
        let mut l4 = Vec::new();
        l4.extend_from_slice(&20000u16.to_be_bytes());
        l4.extend_from_slice(&10000u16.to_be_bytes());
        l4.extend_from_slice(&(8 + RTP.len() as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend_from_slice(&RTP);
        let hop_by_hop = [17u8, 0, 1, 4, 0, 0, 0, 0];
        let b = pcap(&[
            udp(r, w, (20000, 10000), &RTP),
            ip(17, r, w, &hop_by_hop, &l4),
            udp(w, r, (10000, 20000), &RTP),
            udp(
                super::super::ROUTER_WAN,
                super::super::WAN_PHONE,
                (20000, 10000),
                &RTP,
            ),
            tcp(r, k, 40000, 0x02, b""),
            tcp(k, r, 5060, 0x12, b""),
            tcp(r, k, 40000, 0x18, b"REGISTER sip:x SIP/2.0"),
        ]);
        assert_eq!(rtp_counts(&b, r, w).unwrap(), (2, 1));
        let pkts = parse_pcap(&b).unwrap();
        assert_eq!(pkts[1].payload, RTP);
        assert_eq!(sip_by_transport(&pkts, r, Some(k)), (0, 1));
        assert_eq!(connections(&pkts, r, k), [40000]);
        assert!(connections(&pkts, k, r).is_empty());
    }
}
