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
