//! SIP over TCP over IPv6 through sipnat (issue 14 with issue 10), with
//! plain sockets in `topo.sh --ip6 both` (sipnat-load speaks UDP only; the
//! messages here are short and checked one by one):
//!
//! * a phone on the delegated prefix connects to the router's address in
//!   its network and REGISTERs over that connection with a UDP registrar
//!   on IPv6: the registrar sees sipnat's IPv6 WAN address in Via and a
//!   masqueraded Contact;
//! * the registrar's OPTIONS to that Contact reaches the phone over the
//!   phone's own connection, with sipnat's TCP Via naming its LAN address;
//! * the phone calls a far end that takes TCP only
//!   (`;transport=tcp`): sipnat connects to it over IPv6, the SDP of each
//!   side names sipnat's address of that side, 50 RTP packets each way all
//!   arrive, from sipnat's addresses only; ACK and BYE follow the route set
//!   over the two connections;
//! * the WAN capture (TCP streams put back together) holds no LAN address.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use super::lab::Lab;
use super::{in_netns, wait_until};
use crate::pcap::{packets, scan_pcap};

const PHONE: &str = "2001:db8:77:1::2";
const ROUTER_LAN: &str = "2001:db8:77:1::1";
const ROUTER_WAN: &str = "2001:db8:100::1";
const FAR: &str = "2001:db8:100::2";
const WAIT: Duration = Duration::from_secs(5);

fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// SIP messages over one TCP connection (RFC 3261 §18.3: Content-Length
/// frames them).
struct Sip {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Sip {
    fn new(s: TcpStream) -> Sip {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Sip { s, buf: Vec::new() }
    }

    fn send(&mut self, msg: &str) {
        self.s.write_all(msg.as_bytes()).expect("TCP send");
    }

    /// The next whole message, within [`WAIT`].
    fn recv(&mut self, what: &str) -> String {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(head) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&self.buf[..head]).into_owned();
                let len: usize = header(&text, "Content-Length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if self.buf.len() >= head + 4 + len {
                    let msg: Vec<u8> = self.buf.drain(..head + 4 + len).collect();
                    return String::from_utf8_lossy(&msg).into_owned();
                }
            }
            assert!(
                Instant::now() < end,
                "{what}: nothing over TCP within {WAIT:?}"
            );
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) => panic!("{what}: connection closed"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    headers(msg, name).into_iter().next()
}

fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    let head = msg.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// The URI of a name-addr (`<sip:...>;params` → `sip:...`).
fn uri(v: &str) -> &str {
    v.split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map_or(v, |(u, _)| u)
}

/// A response to `req` (its Vias, From, Call-ID, CSeq; To with `tag`).
fn response(req: &str, code: &str, tag: &str, extra: &str, body: &str) -> String {
    let mut r = format!("SIP/2.0 {code}\r\n");
    for v in headers(req, "Via") {
        r.push_str(&format!("Via: {v}\r\n"));
    }
    for h in ["From", "Call-ID", "CSeq"] {
        r.push_str(&format!("{h}: {}\r\n", header(req, h).unwrap_or("")));
    }
    let to = header(req, "To").unwrap_or("");
    if to.contains(";tag=") {
        r.push_str(&format!("To: {to}\r\n"));
    } else {
        r.push_str(&format!("To: {to};tag={tag}\r\n"));
    }
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    r.push_str(&format!(
        "{extra}{ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    r
}

fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=t6 1 1 IN IP6 {ip}\r\ns=-\r\nc=IN IP6 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=sendrecv\r\n"
    )
}

/// The `c=` address and the audio port of an SDP body.
fn media(msg: &str) -> (String, u16) {
    let c = msg
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP6 "))
        .unwrap_or_else(|| panic!("no c=IN IP6 in:\n{msg}"));
    let port = msg
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no m=audio in:\n{msg}"));
    (c.to_string(), port)
}

fn udp(ns: &str, at: SocketAddr) -> UdpSocket {
    in_netns(ns, move || {
        let s = UdpSocket::bind(at).unwrap_or_else(|e| panic!("bind {at}: {e}"));
        s.set_read_timeout(Some(WAIT)).unwrap();
        s
    })
}

fn recv_udp(s: &UdpSocket, what: &str) -> (String, SocketAddr) {
    let mut buf = [0u8; 8192];
    let (n, from) = s
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("{what}: nothing over UDP: {e}"));
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

/// 50 RTP packets each way, 20 ms apart; each end gets all of them, in
/// order, from sipnat's address on its side.
fn audio(phone: &UdpSocket, far: &UdpSocket, to_lan: SocketAddr, to_wan: SocketAddr) {
    let rtp = |seq: u16, ssrc: u8| -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ssrc];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.resize(172, 0xd5);
        p
    };
    for seq in 0..50u16 {
        phone.send_to(&rtp(seq, 1), to_lan).unwrap();
        far.send_to(&rtp(seq, 2), to_wan).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    for (s, from, ssrc, who) in [(phone, to_lan, 2, "phone"), (far, to_wan, 1, "far end")] {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < 50 {
            let (n, src) = s
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("{who}: RTP {} of 50: {e}", got.len()));
            assert_eq!(src, from, "{who}: RTP from {src}");
            assert_eq!((n, buf[11]), (172, ssrc), "{who}: not the other end's RTP");
            got.push(u16::from_be_bytes([buf[2], buf[3]]));
        }
        assert_eq!(got, (0..50).collect::<Vec<u16>>(), "{who}: every packet");
    }
}

#[test]
fn netns_v6_sip_over_tcp_phone_and_far_end() {
    let Some(mut lab) = Lab::new("tcp6", "both") else {
        return;
    };
    lab.capture("rwan", "wan.pcap");
    lab.start_sipnat();
    let (l, w) = (lab.ns('l'), lab.ns('w'));
    let registrar = udp(&w, sa(FAR, 5060));
    let far_rtp = udp(&w, sa(FAR, 30000));
    let phone_rtp = udp(&l, sa(PHONE, 40000));
    let listener = in_netns(&w, || TcpListener::bind(sa(FAR, 5070)).expect("listen"));
    let conn = in_netns(&l, || {
        TcpStream::connect_timeout(&sa(ROUTER_LAN, 5060), WAIT).expect("connect")
    });
    let me = conn.local_addr().unwrap();
    assert_eq!(me.ip().to_string(), PHONE);
    let mut phone = Sip::new(conn);

    // REGISTER over the phone's connection to the UDP registrar.
    let contact = format!("<sip:alice@{me};transport=tcp>");
    phone.send(&format!(
        "REGISTER sip:[{FAR}] SIP/2.0\r\n\
         Via: SIP/2.0/TCP {me};branch=z9hG4bK-t6reg;rport\r\nMax-Forwards: 70\r\n\
         From: <sip:alice@[{FAR}]>;tag=r1\r\nTo: <sip:alice@[{FAR}]>\r\n\
         Call-ID: t6reg@{me}\r\nCSeq: 1 REGISTER\r\n\
         Contact: {contact}\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
    ));
    let (reg, from) = recv_udp(&registrar, "registrar");
    assert_eq!(from, sa(ROUTER_WAN, 5060), "{reg}");
    assert!(
        header(&reg, "Via")
            .is_some_and(|v| v.starts_with(&format!("SIP/2.0/UDP [{ROUTER_WAN}]:5060;"))),
        "{reg}"
    );
    let masq = header(&reg, "Contact").unwrap_or("").to_string();
    assert!(
        masq.starts_with(&format!("<sip:alice@[{ROUTER_WAN}]:5060;")) && masq.contains("snc="),
        "{reg}"
    );
    registrar
        .send_to(
            response(
                &reg,
                "200 OK",
                "reg",
                &format!("Contact: {masq};expires=600\r\n"),
                "",
            )
            .as_bytes(),
            from,
        )
        .unwrap();
    let ok = phone.recv("the REGISTER's 200");
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    assert_eq!(header(&ok, "Contact").map(uri), Some(uri(&contact)), "{ok}");

    // The registrar's OPTIONS to the masqueraded Contact: over the phone's
    // own connection, sipnat's TCP Via naming its LAN address.
    registrar
        .send_to(
            format!(
                "OPTIONS {} SIP/2.0\r\nVia: SIP/2.0/UDP [{FAR}]:5060;branch=z9hG4bK-t6opt;rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:prov@[{FAR}]>;tag=o1\r\nTo: <sip:alice@[{FAR}]>\r\n\
                 Call-ID: t6opt@{FAR}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                uri(&masq)
            )
            .as_bytes(),
            sa(ROUTER_WAN, 5060),
        )
        .unwrap();
    let opt = phone.recv("the registrar's OPTIONS");
    assert!(
        opt.starts_with(&format!("OPTIONS sip:alice@{me};transport=tcp SIP/2.0\r\n")),
        "{opt}"
    );
    let via = format!("SIP/2.0/TCP [{ROUTER_LAN}]:5060;");
    assert!(
        header(&opt, "Via").is_some_and(|v| v.starts_with(&via)),
        "{opt}"
    );
    phone.send(&response(&opt, "200 OK", "p1", "", ""));
    let (back, _) = recv_udp(&registrar, "the OPTIONS' 200");
    assert!(back.starts_with("SIP/2.0 200 OK\r\n"), "{back}");

    // A call to the TCP-only far end.
    let target = format!("sip:bob@[{FAR}]:5070;transport=tcp");
    let invite = |cseq: &str, method: &str, ruri: &str, route: &str, to: &str, body: &str| {
        let ctype = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/TCP {me};branch=z9hG4bK-t6{method}{cseq};rport\r\n\
             Max-Forwards: 70\r\n{route}From: <sip:alice@[{FAR}]>;tag=c1\r\nTo: {to}\r\n\
             Call-ID: t6call@{me}\r\nCSeq: {cseq} {method}\r\nContact: {contact}\r\n\
             {ctype}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    phone.send(&invite(
        "1",
        "INVITE",
        &target,
        "",
        &format!("<{target}>"),
        &sdp(PHONE, 40000),
    ));
    listener.set_nonblocking(true).unwrap();
    let end = Instant::now() + WAIT;
    let (conn, peer) = loop {
        match listener.accept() {
            Ok(c) => break c,
            Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!(
                "sipnat did not connect to the far end: {e}\n{}",
                lab.context()
            ),
        }
    };
    conn.set_nonblocking(false).unwrap();
    assert_eq!(peer.ip().to_string(), ROUTER_WAN);
    let mut far = Sip::new(conn);
    let inv = far.recv("the INVITE at the far end");
    assert!(
        inv.starts_with(&format!("INVITE {target} SIP/2.0\r\n")),
        "{inv}"
    );
    assert!(
        header(&inv, "Via").is_some_and(|v| v.starts_with(&format!("SIP/2.0/TCP [{ROUTER_WAN}]:"))),
        "{inv}"
    );
    let (c, wan_port) = media(&inv);
    assert_eq!(c, ROUTER_WAN, "{inv}");
    let far_contact = format!("Contact: <sip:bob@[{FAR}]:5070;transport=tcp>\r\n");
    let mut rr = String::new();
    for r in headers(&inv, "Record-Route") {
        rr.push_str(&format!("Record-Route: {r}\r\n"));
    }
    far.send(&response(
        &inv,
        "200 OK",
        "f1",
        &format!("{rr}{far_contact}"),
        &sdp(FAR, 30000),
    ));
    let ok = phone.recv("the INVITE's 200");
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    let (c, lan_port) = media(&ok);
    assert_eq!(c, ROUTER_LAN, "{ok}");
    let rrs = headers(&ok, "Record-Route");
    assert!(
        !rrs.is_empty() && rrs.iter().all(|r| r.contains(&format!("[{ROUTER_LAN}]"))),
        "{ok}"
    );
    let route: String = rrs
        .iter()
        .rev()
        .map(|r| format!("Route: {r}\r\n"))
        .collect();
    let to = header(&ok, "To").unwrap().to_string();
    let remote = uri(header(&ok, "Contact").unwrap()).to_string();
    phone.send(&invite("1", "ACK", &remote, &route, &to, ""));
    let ack = far.recv("the ACK at the far end");
    assert!(ack.starts_with("ACK "), "{ack}");

    audio(
        &phone_rtp,
        &far_rtp,
        sa(ROUTER_LAN, lan_port),
        sa(ROUTER_WAN, wan_port),
    );

    phone.send(&invite("2", "BYE", &remote, &route, &to, ""));
    let bye = far.recv("the BYE at the far end");
    assert!(bye.starts_with("BYE "), "{bye}");
    far.send(&response(&bye, "200 OK", "f1", "", ""));
    let ok = phone.recv("the BYE's 200");
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    wait_until("no call and no stream left", 5, || {
        let st = lab.status();
        st["calls"]["count"] == 0 && st["relay"]["streams"] == 0
    });

    // The WAN: IPv6 only between sipnat and the far end, SIP over TCP on
    // it, no LAN address in any packet or TCP stream.
    let bytes = lab.stop_capture("wan.pcap");
    let r = scan_pcap(&bytes).unwrap();
    assert!(
        r.leaks.is_empty(),
        "LAN addresses on the WAN: {:#?}",
        r.leaks
    );
    let ps = packets(&bytes).unwrap();
    let (router, far_ip) = (ROUTER_WAN.parse().unwrap(), FAR.parse().unwrap());
    let mut tcp = 0;
    for p in ps.iter().filter(|p| p.sport != 0) {
        assert!(
            (p.src, p.dst) == (router, far_ip) || (p.src, p.dst) == (far_ip, router),
            "on the WAN: {} → {} (packet {})",
            p.src,
            p.dst,
            p.index
        );
        tcp += usize::from(p.proto == 6 && !p.payload.is_empty());
    }
    assert!(tcp >= 4, "SIP over TCP on the WAN: {tcp} segments");
}
