//! Calls with media for the simulations: SDP bodies, a registered phone,
//! an outgoing call answered by the peer, and RTP packets into the relay.

use super::*;
use sipnat::net::Addr;
use sipnat::relay::Decision;

/// The relay's socket index of a bound relay port.
pub fn idx(sim: &Sim, port: u16) -> usize {
    sim.core
        .relay
        .socket_index(port)
        .unwrap_or_else(|| panic!("relay port {port} is not bound"))
}

/// An `a.b.c.d:port` as the relay's [`Addr`].
pub fn v4(s: &str) -> Addr {
    let a: Addr = s.parse().unwrap();
    assert!(a.v4().is_some(), "{s} is not IPv4");
    a
}

/// An RTP packet (RFC 3550 §5.1) from `from` on relay port `port` (RTCP
/// on an odd port), with an SSRC of its sender's IP; held packets that may
/// leave go with it, and are ignored.
pub fn packet(sim: &mut Sim, port: u16, from: &str) -> Decision {
    let d = packet_on(sim, port, from, side_of(from));
    flush(sim);
    d
}

pub fn packet_on(sim: &mut Sim, port: u16, from: &str, side: sipnat::proxy::Side) -> Decision {
    let now = sim.now;
    let src = v4(from);
    let ssrc = u32::from(*src.v4().expect("an IPv4 source").ip()) ^ 0x5eed_0000;
    let mut p = vec![0u8; 172];
    p[0] = 0x80;
    if port % 2 == 1 {
        p[1] = 200; // an RTCP sender report
        p[4..8].copy_from_slice(&ssrc.to_be_bytes());
        p.truncate(80);
    } else {
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }
    let i = idx(sim, port);
    sim.core
        .relay_mut()
        .unwrap()
        .on_packet(now, i, src, side, &p)
}

/// What the relay's held packets would be sent to now: (port, to).
pub fn flush(sim: &mut Sim) -> Vec<(u16, Addr)> {
    let now = sim.now;
    let mut v = Vec::new();
    let relay = sim.core.relay_mut().unwrap();
    if relay.flush_pending() {
        let mut sent = Vec::new();
        relay.flush(now, &mut |i, to, _| sent.push((i, to)));
        for (i, to) in sent {
            v.push((relay.socket_port(i).expect("a bound socket"), to));
        }
    }
    v
}

pub fn sdp(addr: &str, port: u16, extra: &str) -> String {
    format!(
        "v=0\r\no=user 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n{extra}"
    )
}

pub fn with_body(msg: &str, body: &str) -> String {
    let (head, _) = msg.split_once("\r\n\r\n").unwrap();
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.starts_with("Content-Length") && !l.starts_with("Content-Type"))
        .collect();
    format!(
        "{}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        head.join("\r\n"),
        body.len()
    )
}

pub fn register_phone(sim: &mut Sim) {
    let fwd = sim.one(
        PHONE,
        &register("100", "198.51.100.2", PHONE, "reg@10.77.1.2", 1, "r1", 3600),
    );
    let c = fwd.header("Contact").unwrap();
    sim.one(
        REGISTRAR,
        &response_to(&fwd, 200, "OK", Some("reg"), &format!("Contact: {c}\r\n")),
    );
}

/// Phone 100 calls bob at the peer; returns (INVITE as the WAN saw it,
/// 200 as the phone saw it, relay port).
pub fn call_out(sim: &mut Sim, call_id: &str, branch: &str, peer_sdp: &str) -> (Sent, Sent, u16) {
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        call_id,
        branch,
        "sip:100@10.77.1.2:5060",
    );
    let inv = with_body(&inv, &sdp("10.77.1.2", 4000, ""));
    let out = sim.one(PHONE, &inv);
    assert_no_lan_leak(&out);
    let m = out
        .body()
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .unwrap()
        .to_string();
    let port: u16 = m.split(' ').nth(1).unwrap().parse().unwrap();
    let ok = with_body(
        &response_to(
            &out,
            200,
            "OK",
            Some("b1"),
            "Contact: <sip:bob@198.51.100.3>\r\n",
        ),
        peer_sdp,
    );
    let back = sim.one(PEER, &ok);
    (out, back, port)
}

/// The phone's BYE for a call [`call_out`] made (its Call-ID and branch),
/// answered with tag `b1`.
pub fn bye(call_id: &str, branch: &str) -> String {
    format!(
        "BYE sip:bob@198.51.100.3 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKbye{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:100@198.51.100.2>;tag=tag{branch}\r\n\
         To: <sip:bob@198.51.100.3>;tag=b1\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    )
}
