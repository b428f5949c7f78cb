//! The IP packets of a capture one by one, either family: addresses,
//! protocol, ports and payload, for the checks a scenario makes beyond
//! leaks (which family crossed the WAN, what sipnat sent the phone and
//! from which address). The same pcap and header reading as the leak
//! check; what it cannot read (ARP, a fragment after the first) it leaves
//! out.

use std::net::{IpAddr, Ipv4Addr};

use super::{ip6, rd16, rd32};

/// One IPv4 or IPv6 packet of a capture.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Its index in the capture (as [`super::Leak::packet`] counts).
    pub index: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// 17 UDP, 6 TCP, 58 ICMPv6, ...
    pub proto: u8,
    /// UDP or TCP ports; 0 for other protocols.
    pub sport: u16,
    pub dport: u16,
    /// The UDP or TCP payload (empty for other protocols).
    pub payload: Vec<u8>,
}

impl Packet {
    /// UDP or TCP payload as text (lossy), for SIP.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// Every IPv4 and IPv6 packet of the pcap file `b` (Ethernet frames), in
/// order. A file the leak check refuses is an error here too.
pub fn packets(b: &[u8]) -> Result<Vec<Packet>, String> {
    super::scan_pcap(b)?;
    let le = matches!(rd32(b, 0, true), Some(0xa1b2_c3d4 | 0xa1b2_3c4d));
    let mut out = Vec::new();
    let (mut at, mut index) = (24, 0);
    while at < b.len() {
        let incl = rd32(b, at + 8, le).ok_or("truncated record header")? as usize;
        let frame = b.get(at + 16..at + 16 + incl).ok_or("truncated packet")?;
        if let Some(p) = packet(index, frame) {
            out.push(p);
        }
        index += 1;
        at += 16 + incl;
    }
    Ok(out)
}

fn packet(index: usize, f: &[u8]) -> Option<Packet> {
    let (src, dst, proto, l4): (IpAddr, IpAddr, u8, &[u8]) = match rd16(f, 12, false)? {
        0x0800 => {
            let ip = f.get(14..)?;
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(rd16(ip, 2, false)?).min(ip.len());
            let a = |at: usize| -> Option<IpAddr> {
                let o: [u8; 4] = ip.get(at..at + 4)?.try_into().ok()?;
                Some(Ipv4Addr::from(o).into())
            };
            (a(12)?, a(16)?, *ip.get(9)?, ip.get(ihl..total)?)
        }
        0x86DD => {
            let (s, d, proto, l4) = ip6::header(f.get(14..)?)?;
            (s.into(), d.into(), proto, l4)
        }
        _ => return None,
    };
    let (sport, dport, payload) = match proto {
        17 => (rd16(l4, 0, false)?, rd16(l4, 2, false)?, l4.get(8..)?),
        6 => {
            let off = usize::from(l4.get(12)? >> 4) * 4;
            (rd16(l4, 0, false)?, rd16(l4, 2, false)?, l4.get(off..)?)
        }
        _ => (0, 0, &[][..]),
    };
    Some(Packet {
        index,
        src,
        dst,
        proto,
        sport,
        dport,
        payload: payload.to_vec(),
    })
}
