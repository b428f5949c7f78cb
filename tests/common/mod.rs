//! A virtual world for the SIP core: one [`Proxy`] between a LAN
//! (10.77.1.0/24, sipnat at 10.77.1.1) and a WAN (sipnat at 198.51.100.1),
//! driven with byte vectors and a clock that only moves when a test says so.
#![allow(dead_code)]

pub mod media;

use sipnat::config::{Net4, parse_siproxd_conf};
use sipnat::core::Core;
use sipnat::dns::QueryHandle;
use sipnat::proxy::{Addresses, Channel, Outbox, Side};
use sipnat::relay::{BindError, PortOp};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

pub const PHONE: &str = "10.77.1.2:5060";
pub const PHONE2: &str = "10.77.1.3:5062";
pub const REGISTRAR: &str = "198.51.100.2:5060";
pub const PEER: &str = "198.51.100.3:5060";
pub const DNS_SERVER: &str = "198.51.100.53:53";

pub struct Sim {
    pub core: Box<Core>,
    pub now: Instant,
    pub out: Box<Outbox>,
    /// Every DNS query sent (its id and handle), for [`Sim::dns`].
    pub queries: Vec<(u16, QueryHandle)>,
    /// The driver's part of the relay's ports ([`Sim::ports`]).
    pub ports: Ports,
}

/// What the driver holds of the relay's ports: after every input the sim
/// binds and closes what the relay's pool asks, as the driver does.
#[derive(Debug, Default)]
pub struct Ports {
    /// Bound pairs: slot → RTP port.
    pub bound: BTreeMap<usize, u16>,
    /// Ports another program holds: a bind there fails with `EADDRINUSE`.
    pub foreign: BTreeSet<u16>,
    /// Every RTP port the pool asked to bind, and every one closed.
    pub asked: Vec<u16>,
    pub closed: Vec<u16>,
    /// The kernel forwarding asked for and taken back, in order
    /// ([`Sim::kernel_scan`]; the relay's fast path is on only when a test
    /// switches it on).
    pub kernel: Vec<PortOp>,
}

impl Ports {
    /// The RTP ports bound now, lowest first.
    pub fn bound_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.bound.values().copied().collect();
        v.sort_unstable();
        v
    }
}

#[derive(Debug, Clone)]
pub struct Sent {
    pub channel: Channel,
    pub to: SocketAddr,
    /// Over TCP, where it goes when no connection to `to` is open.
    pub or_else: Option<sipnat::net::Addr>,
    /// Over TLS, the name the peer's certificate must match ("": none).
    pub name: String,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Sent {
    /// The first value of header `name` (full name, case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }
    pub fn headers(&self, name: &str) -> Vec<String> {
        let head = self.text.split("\r\n\r\n").next().unwrap_or("");
        head.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
    pub fn first_line(&self) -> &str {
        self.text.split("\r\n").next().unwrap_or("")
    }
    pub fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("")
    }
}

pub fn config_text() -> &'static str {
    "if_inbound = lan0\nif_outbound = wan0\nsip_listen_port = 5060\n"
}

pub fn addresses() -> Addresses {
    let mut a = Addresses::default();
    a.lan
        .push(
            Net4 {
                addr: Ipv4Addr::new(10, 77, 1, 1),
                prefix: 24,
            }
            .into(),
        )
        .unwrap();
    a.wan = Some(Ipv4Addr::new(198, 51, 100, 1));
    a
}

/// The dual-stack world of [`Sim::dual`]: [`addresses`] and the LAN's
/// IPv6 networks (sipnat at 2001:db8:77:1::1/64 and fd77:1::1/64) and the
/// WAN's (sipnat at 2001:db8:100::1).
pub fn addresses_dual() -> Addresses {
    let mut a = addresses();
    for n in ["fd77:1::1/64", "2001:db8:77:1::1/64"] {
        a.lan.push(sipnat::net::Net::parse(n).unwrap()).unwrap();
    }
    a.wan6 = Some("2001:db8:100::1".parse().unwrap());
    a
}

/// The LAN's IPv6 prefixes, as text starts them.
pub const LAN6_PREFIXES: [&str; 2] = ["2001:db8:77:1:", "fd77:1:"];

/// The side an address of the virtual world is on: 10.77.1.0/24,
/// 2001:db8:77:1::/64, fd77:1::/64 (and loopback) are the LAN, the rest
/// the WAN.
pub fn side_of(addr: &str) -> Side {
    let ip: std::net::IpAddr = match addr.parse::<SocketAddr>() {
        Ok(a) => a.ip(),
        _ => addr.parse().unwrap_or(Ipv4Addr::UNSPECIFIED.into()),
    };
    let lan = match ip {
        std::net::IpAddr::V4(ip) => ip.octets()[..3] == [10, 77, 1],
        std::net::IpAddr::V6(ip) => {
            let s = ip.segments();
            s[..4] == [0x2001, 0xdb8, 0x77, 1] || s[..4] == [0xfd77, 1, 0, 0]
        }
    };
    if ip.is_loopback() || lan {
        Side::Lan
    } else {
        Side::Wan
    }
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with_config(config_text())
    }

    /// A proxy that leaves media alone (`rtp_proxy_enable = 0`), for tests
    /// of the signalling only.
    pub fn signalling_only() -> Sim {
        Sim::with_config(&format!("{}rtp_proxy_enable = 0\n", config_text()))
    }

    pub fn with_config(text: &str) -> Sim {
        Sim::with_addresses(text, addresses())
    }

    /// A dual-stack router ([`addresses_dual`]) with configuration `text`.
    pub fn dual(text: &str) -> Sim {
        Sim::with_addresses(text, addresses_dual())
    }

    pub fn with_addresses(text: &str, addrs: Addresses) -> Sim {
        let (cfg, diags) = parse_siproxd_conf(text, "sim.conf");
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let now = Instant::now();
        let ns: SocketAddr = DNS_SERVER.parse().unwrap();
        let mut sim = Sim {
            core: Core::new(cfg, addrs, [7; 16], &[ns], 42, now),
            now,
            out: Outbox::new(),
            queries: Vec::new(),
            ports: Ports::default(),
        };
        sim.pool();
        sim
    }

    /// A reload (SIGHUP) with the configuration `text`, and the relay's
    /// ports bound and closed as the driver does after it.
    pub fn reload(&mut self, text: &str) {
        let (cfg, diags) = parse_siproxd_conf(text, "sim.conf");
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        self.core.reconfigure(self.now, cfg);
        self.pool();
    }

    /// The driver's part of the relay's ports: bind where the pool asks
    /// (`EADDRINUSE` for a port in `ports.foreign`), close what it closes,
    /// until it asks nothing more.
    pub fn pool(&mut self) {
        let p = &mut self.ports;
        while self.core.relay.maintain(64, &mut |op| match op {
            PortOp::Bind { slot, port } => {
                p.asked.push(port);
                assert!(!p.bound.contains_key(&slot), "slot {slot} bound twice");
                if p.foreign.contains(&port) || p.foreign.contains(&(port + 1)) {
                    return Err(BindError::InUse);
                }
                p.bound.insert(slot, port);
                Ok(())
            }
            PortOp::Close { slot } => {
                let port = p.bound.remove(&slot).expect("close of a bound slot");
                p.closed.push(port);
                Ok(())
            }
            op => {
                p.kernel.push(op);
                Ok(())
            }
        }) {}
    }

    /// The driver's periodic look for streams to hand to the kernel (every
    /// Forward succeeds), then its pool work.
    pub fn kernel_scan(&mut self) {
        let k = &mut self.ports.kernel;
        self.core.relay.kernel_scan(self.now, 4096, &mut |op| {
            k.push(op);
            Ok(())
        });
        self.pool();
    }

    fn drain(&mut self) -> Vec<Sent> {
        for (t, b) in self.out.iter() {
            if let (Channel::Dns(q), [hi, lo, ..]) = (t.channel, b) {
                self.queries.push((u16::from_be_bytes([*hi, *lo]), q));
            }
        }
        let v = self
            .out
            .iter()
            .map(|(t, b)| Sent {
                channel: t.channel,
                to: t.to,
                or_else: t.or_else,
                name: self.out.name_of(t).to_string(),
                text: String::from_utf8_lossy(b).into_owned(),
                bytes: b.to_vec(),
            })
            .collect();
        self.out.clear();
        v
    }

    /// Deliver a SIP datagram from `from`; return what the proxy sent.
    pub fn sip(&mut self, from: &str, msg: &str) -> Vec<Sent> {
        self.sip_bytes(from, msg.as_bytes())
    }

    /// Deliver a datagram from `from` on the side its address is on (the
    /// LAN is 10.77.1.0/24).
    pub fn sip_bytes(&mut self, from: &str, msg: &[u8]) -> Vec<Sent> {
        self.sip_bytes_on(side_of(from), from, msg)
    }

    /// Deliver a SIP datagram that arrived on `side`, whatever its source
    /// address says (a forged source).
    pub fn sip_on(&mut self, side: Side, from: &str, msg: &str) -> Vec<Sent> {
        self.sip_bytes_on(side, from, msg.as_bytes())
    }

    pub fn sip_bytes_on(&mut self, side: Side, from: &str, msg: &[u8]) -> Vec<Sent> {
        self.sip_over(side, sipnat::transport::Transport::Udp, from, msg)
    }

    /// Deliver a SIP message over `transport` (for TCP: one message framed
    /// from the connection with peer `from`).
    pub fn sip_over(
        &mut self,
        side: Side,
        transport: sipnat::transport::Transport,
        from: &str,
        msg: &[u8],
    ) -> Vec<Sent> {
        let mut data = msg.to_vec();
        let from: SocketAddr = from.parse().unwrap();
        self.core
            .handle_sip(self.now, from, side, transport, &mut data, &mut self.out);
        self.pool();
        self.drain()
    }

    /// Deliver a SIP message that came over TCP from `from` (its side by
    /// its address, as the driver decides it for TCP).
    pub fn tcp(&mut self, from: &str, msg: &str) -> Vec<Sent> {
        self.sip_over(
            side_of(from),
            sipnat::transport::Transport::Tcp,
            from,
            msg.as_bytes(),
        )
    }

    /// Exactly one datagram must come out; return it.
    pub fn one(&mut self, from: &str, msg: &str) -> Sent {
        let mut v = self.sip(from, msg);
        assert_eq!(v.len(), 1, "expected one datagram, got {v:#?}");
        v.pop().unwrap()
    }

    /// Deliver a DNS reply on the socket of the query whose id it carries
    /// (the latest one sent with that id).
    pub fn dns(&mut self, from: &str, data: &[u8]) -> Vec<Sent> {
        let id = u16::from_be_bytes([data[0], data[1]]);
        let query = self
            .queries
            .iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|(_, q)| *q)
            .expect("a reply to a query that was sent");
        self.dns_on(query, from, data)
    }

    /// Deliver a DNS datagram on the socket of `query`.
    pub fn dns_on(&mut self, query: QueryHandle, from: &str, data: &[u8]) -> Vec<Sent> {
        let from: SocketAddr = from.parse().unwrap();
        self.core
            .handle_dns(self.now, query, from, data, &mut self.out);
        self.pool();
        self.drain()
    }

    pub fn advance(&mut self, d: Duration) -> Vec<Sent> {
        let end = self.now + d;
        let mut all = Vec::new();
        loop {
            let t = self.core.poll_timeout();
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.core.handle_timeout(self.now, &mut self.out);
            self.pool();
            all.extend(self.drain());
        }
        self.now = end;
        all
    }
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Fail if any LAN address appears in what went to the WAN: the IPv4
/// LAN, or any host of the LAN's IPv6 prefixes in any letter case.
pub fn assert_no_lan_leak(s: &Sent) {
    let lower = s.text.to_ascii_lowercase();
    for p in ["10.77.1."].iter().chain(LAN6_PREFIXES.iter()) {
        assert!(
            !lower.contains(p),
            "LAN address {p} leaked to {}:\n{}",
            s.to,
            s.text
        );
    }
}

/// A response to `req` built the way a UAS does: the request's Via, From,
/// To (+tag), Call-ID and CSeq, then `extra` header lines.
pub fn response_to(
    req: &Sent,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &str,
) -> String {
    let mut r = format!("SIP/2.0 {code} {reason}\r\n");
    for v in req.headers("Via") {
        r.push_str(&format!("Via: {v}\r\n"));
    }
    for rr in req.headers("Record-Route") {
        r.push_str(&format!("Record-Route: {rr}\r\n"));
    }
    r.push_str(&format!("From: {}\r\n", req.header("From").unwrap()));
    let to = req.header("To").unwrap();
    match to_tag {
        Some(t) if !to.contains("tag=") => r.push_str(&format!("To: {to};tag={t}\r\n")),
        _ => r.push_str(&format!("To: {to}\r\n")),
    }
    r.push_str(&format!("Call-ID: {}\r\n", req.header("Call-ID").unwrap()));
    r.push_str(&format!("CSeq: {}\r\n", req.header("CSeq").unwrap()));
    r.push_str(extra);
    r.push_str("Content-Length: 0\r\n\r\n");
    r
}

pub fn register(
    user: &str,
    host: &str,
    phone: &str,
    call_id: &str,
    cseq: u32,
    branch: &str,
    expires: u32,
) -> String {
    let (ip, port) = phone.split_once(':').unwrap();
    format!(
        "REGISTER sip:{host} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{host}>;tag=f{branch}\r\n\
         To: <sip:{user}@{host}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{user}@{ip}:{port};transport=udp>;expires={expires}\r\n\
         User-Agent: simphone\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

pub fn invite(
    ruri: &str,
    from_user: &str,
    from_host: &str,
    via_hostport: &str,
    call_id: &str,
    branch: &str,
    contact: &str,
) -> String {
    let body = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    format!(
        "INVITE {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {via_hostport};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:{from_user}@{from_host}>;tag=tag{branch}\r\n\
         To: <{ruri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <{contact}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A DNS answer for `name` type A (1) or SRV (33) with the given records.
pub fn dns_reply(query: &[u8], answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut r = query.to_vec();
    r[2] = 0x81; // QR, RD
    r[3] = 0x80; // RA, NOERROR
    r[6] = 0;
    r[7] = answers.len() as u8;
    for (ty, rdata) in answers {
        r.extend_from_slice(&[0xc0, 12]);
        r.extend_from_slice(&ty.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
    }
    r
}
