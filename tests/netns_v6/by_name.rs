//! A dual-stack provider by name (issue 14): the phone registers with
//! `sip:provider.example` (no port: SRV, RFC 3263 §4.2); a stand-in DNS
//! server in the provider's namespace answers the SRV query with target
//! `sip.provider.example` port 5070 and no glue, then that target's A
//! (198.51.100.2) and AAAA (2001:db8:100::2). sipnat has a global IPv6
//! address on its WAN, so it asks both families, IPv6 first (`V6First`):
//! the REGISTER must reach the provider over IPv6, from and with a Via of
//! `[2001:db8:100::1]:5060`, and nothing over IPv4. With the AAAA answer
//! withheld, it falls back to IPv4 (RFC 8305 §3) and the REGISTER reaches
//! the IPv4 socket only.
//!
//! Before sipnat chose the families of a name by the side the request came
//! from instead of the side it goes to, a LAN phone's REGISTER on a
//! dual-stack LAN went over IPv4 (IPv4 first, the LAN's order), and on an
//! IPv4-only LAN AAAA was never used (`a_provider_by_name_is_reached_over_
//! ipv6_first` in tests/sim_ipv6.rs).
//!
//! The AAAA answer leaves before the A answer (the A reply is held until
//! then): which family wins when both arrive within the 50 ms resolution
//! delay is the resolver's unit tests' business, not a race to run here.

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::in_netns;
use super::lab::Lab;
use crate::skip_allowed;

const DOMAIN: &str = "provider.example";
const SRV_NAME: &str = "_sip._udp.provider.example";
const TARGET: &str = "sip.provider.example";
const QTYPE_A: u16 = 1;
const QTYPE_SRV: u16 = 33;
const QTYPE_AAAA: u16 = 28;

/// What the stand-in DNS server does with the target's AAAA query.
#[derive(Clone, Copy, PartialEq)]
enum Aaaa {
    /// Answered at once, before the A query's answer.
    Answer,
    /// Never answered (a nameserver that drops AAAA queries).
    Withhold,
}

/// The question of a DNS query: its name, type and where it ends.
fn question(q: &[u8]) -> Option<(String, u16, usize)> {
    let mut labels = Vec::new();
    let mut at = 12;
    while *q.get(at)? != 0 {
        let len = usize::from(q[at]);
        labels.push(String::from_utf8_lossy(q.get(at + 1..at + 1 + len)?).into_owned());
        at += 1 + len;
    }
    let qtype = u16::from_be_bytes([*q.get(at + 1)?, *q.get(at + 2)?]);
    Some((labels.join("."), qtype, at + 5))
}

/// The reply to query `q` (its question ending at `end`) with `rcode` and
/// the answer records `rrs` (each: type, RDATA), owned by the question's
/// name (a pointer to it) with a TTL of 60 s.
fn reply(q: &[u8], end: usize, rcode: u8, rrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut r = q[..end].to_vec();
    r[2] = 0x81; // QR, opcode 0, RD
    r[3] = 0x80 | rcode; // RA
    r[6..8].copy_from_slice(&u16::try_from(rrs.len()).unwrap().to_be_bytes());
    r[8..12].fill(0);
    for (rtype, rdata) in rrs {
        r.extend_from_slice(&[0xC0, 12]);
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        r.extend_from_slice(rdata);
    }
    r
}

/// The SRV RDATA: priority 10, weight 10, port 5070, target `TARGET`.
fn srv_rdata() -> Vec<u8> {
    let mut d = vec![0, 10, 0, 10];
    d.extend_from_slice(&5070u16.to_be_bytes());
    for label in TARGET.split('.') {
        d.push(u8::try_from(label.len()).unwrap());
        d.extend_from_slice(label.as_bytes());
    }
    d.push(0);
    d
}

/// The stand-in DNS server on a thread of its own; stopped and joined
/// when dropped (before the namespaces go: it is declared after the lab).
struct Dns {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(String, u16)>>>,
    thread: Option<JoinHandle<()>>,
}

impl Dns {
    fn start(sock: UdpSocket, aaaa: Aaaa) -> Dns {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            // A replies held until the AAAA reply has gone out.
            let mut held: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
            let mut buf = [0u8; 512];
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let q = &buf[..n];
                let Some((name, qtype, end)) = question(q) else {
                    continue;
                };
                seen2.lock().unwrap().push((name.clone(), qtype));
                let name = name.to_ascii_lowercase();
                let (a, aaaa_rdata) = (
                    vec![198, 51, 100, 2],
                    "2001:db8:100::2"
                        .parse::<std::net::Ipv6Addr>()
                        .unwrap()
                        .octets()
                        .to_vec(),
                );
                match (name.as_str(), qtype) {
                    (SRV_NAME, QTYPE_SRV) => {
                        let r = reply(q, end, 0, &[(QTYPE_SRV, srv_rdata())]);
                        let _ = sock.send_to(&r, from);
                    }
                    (TARGET, QTYPE_A) => {
                        let r = reply(q, end, 0, &[(QTYPE_A, a)]);
                        if aaaa == Aaaa::Answer {
                            held.push((r, from));
                        } else {
                            let _ = sock.send_to(&r, from);
                        }
                    }
                    (TARGET, QTYPE_AAAA) => {
                        if aaaa == Aaaa::Answer {
                            let r = reply(q, end, 0, &[(QTYPE_AAAA, aaaa_rdata)]);
                            let _ = sock.send_to(&r, from);
                            for (r, to) in held.drain(..) {
                                let _ = sock.send_to(&r, to);
                            }
                        }
                    }
                    // Anything else does not exist.
                    _ => {
                        let r = reply(q, end, 3, &[]);
                        let _ = sock.send_to(&r, from);
                    }
                }
            }
        });
        Dns {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// The questions asked so far, in order.
    fn seen(&self) -> Vec<(String, u16)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `/etc/netns/<ns>`, removed when dropped.
struct EtcNetns(PathBuf);

impl Drop for EtcNetns {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn register() -> String {
    format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKbyname1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{DOMAIN}>;tag=bn1\r\n\
         To: <sip:alice@{DOMAIN}>\r\n\
         Call-ID: byname1@10.77.1.2\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:alice@10.77.1.2:5060>;expires=600\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The registrar's 200 to `req`: its Vias, From, Call-ID, CSeq and
/// Contact, a To tag.
fn ok_for(req: &str) -> String {
    let mut resp = String::from("SIP/2.0 200 OK\r\n");
    for line in req.split("\r\n").skip(1) {
        let lower = line.to_ascii_lowercase();
        if ["via:", "from:", "call-id:", "cseq:", "contact:"]
            .iter()
            .any(|h| lower.starts_with(h))
        {
            resp.push_str(line);
            resp.push_str("\r\n");
        } else if lower.starts_with("to:") {
            resp.push_str(line);
            resp.push_str(";tag=reg1\r\n");
        }
    }
    resp.push_str("Content-Length: 0\r\n\r\n");
    resp
}

fn recv_text(sock: &UdpSocket) -> std::io::Result<(String, SocketAddr)> {
    let mut buf = [0u8; 4096];
    let (n, from) = sock.recv_from(&mut buf)?;
    Ok((String::from_utf8_lossy(&buf[..n]).into_owned(), from))
}

/// The phone registers by name; the REGISTER must reach the registrar
/// socket of the family expected (`[2001:db8:100::2]:5070` when the AAAA
/// query is answered, `198.51.100.2:5070` when it is not) and that one
/// only; the registrar's 200 reaches the phone.
fn registers_by_name(name: &'static str, aaaa: Aaaa) {
    // sipnat prefers OpenWrt's resolv.conf files in /tmp, which `ip netns
    // exec` cannot replace.
    if [
        "/tmp/resolv.conf.d/resolv.conf.auto",
        "/tmp/resolv.conf.auto",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
    {
        assert!(skip_allowed(), "/tmp/resolv.conf*.auto exists here");
        return;
    }
    let Some(mut lab) = Lab::new(name, "both") else {
        return;
    };
    let (phone_ns, router, provider) = (lab.ns('l'), lab.ns('r'), lab.ns('w'));

    // `ip netns exec` puts /etc/netns/<ns>/resolv.conf over
    // /etc/resolv.conf: sipnat asks the stand-in server.
    let etc = PathBuf::from(format!("/etc/netns/{router}"));
    fs::create_dir_all(&etc).unwrap();
    let _etc = EtcNetns(etc.clone());
    fs::write(etc.join("resolv.conf"), "nameserver 198.51.100.2\n").unwrap();

    let (dns, reg6, reg4) = in_netns(&provider, || {
        (
            UdpSocket::bind("198.51.100.2:53").expect("bind the DNS port"),
            UdpSocket::bind("[2001:db8:100::2]:5070").expect("bind the IPv6 registrar"),
            UdpSocket::bind("198.51.100.2:5070").expect("bind the IPv4 registrar"),
        )
    });
    let dns = Dns::start(dns, aaaa);
    let phone = in_netns(&phone_ns, || {
        UdpSocket::bind("10.77.1.2:5060").expect("bind the phone")
    });
    for s in [&reg6, &reg4, &phone] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }

    lab.start_sipnat();
    assert_eq!(
        lab.status()["config"]["wan_address6"],
        "2001:db8:100::1",
        "{}",
        lab.context()
    );

    phone
        .send_to(register().as_bytes(), "10.77.1.1:5060")
        .unwrap();
    let (got, other, sipnat_wan) = match aaaa {
        Aaaa::Answer => (&reg6, &reg4, "[2001:db8:100::1]:5060"),
        Aaaa::Withhold => (&reg4, &reg6, "198.51.100.1:5060"),
    };
    let (req, from) = recv_text(got).unwrap_or_else(|e| {
        other.set_nonblocking(true).unwrap();
        panic!(
            "no REGISTER at {:?}: {e}\nat {:?}: {:?}\nDNS questions: {:?}\ncounters {}\n{}",
            got.local_addr(),
            other.local_addr(),
            recv_text(other),
            dns.seen(),
            lab.status()["counters"],
            lab.context()
        )
    });
    assert_eq!(from.to_string(), sipnat_wan, "{req}");
    assert!(
        req.starts_with(&format!("REGISTER sip:{DOMAIN} SIP/2.0\r\n")),
        "{req}"
    );
    let top_via = req
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with("via:"))
        .unwrap_or_else(|| panic!("no Via: {req}"));
    assert!(
        top_via.starts_with(&format!("Via: SIP/2.0/UDP {sipnat_wan};branch=z9hG4bK")),
        "{req}"
    );
    assert!(!req.contains("10.77.1."), "a LAN address on the WAN: {req}");

    // The registrar answers where the REGISTER came from; the phone gets
    // the 200 with its own Via back.
    got.send_to(ok_for(&req).as_bytes(), from).unwrap();
    let (resp, resp_from) =
        recv_text(&phone).unwrap_or_else(|e| panic!("no 200 at the phone: {e}\n{}", lab.context()));
    assert_eq!(resp_from.to_string(), "10.77.1.1:5060", "{resp}");
    assert!(resp.starts_with("SIP/2.0 200 OK\r\n"), "{resp}");
    assert!(
        resp.contains("Via: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKbyname1"),
        "{resp}"
    );
    assert!(!resp.contains("2001:db8:100::"), "{resp}");

    // Nothing at the other family's socket (the REGISTER went one way,
    // and by then any copy of it would have been sent).
    other
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let stray = recv_text(other);
    assert!(
        stray.is_err(),
        "the other family's registrar {:?} got {stray:?}",
        other.local_addr()
    );

    // SRV first, then both address families of its target; the name
    // itself never asked (the SRV answer was used).
    let seen = dns.seen();
    assert_eq!(
        seen.first(),
        Some(&(SRV_NAME.to_string(), QTYPE_SRV)),
        "{seen:?}"
    );
    let mut kinds: Vec<(String, u16)> = seen.clone();
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            (SRV_NAME.to_string(), QTYPE_SRV),
            (TARGET.to_string(), QTYPE_A),
            (TARGET.to_string(), QTYPE_AAAA),
        ],
        "{seen:?}"
    );
    // Without the AAAA answer, IPv4 was taken once the resolution delay
    // ran out, and pinned (RFC 3263 §4.4: retransmissions go there too).
    if aaaa == Aaaa::Withhold {
        assert!(
            lab.sipnat_log()
                .contains(&format!("dns: {TARGET} A: pinned for its TTL")),
            "{}",
            lab.context()
        );
    }
    assert_eq!(lab.counter("drop.ipv6"), 0, "{}", lab.context());
}

#[test]
fn netns_v6_provider_by_name_srv_then_aaaa_is_reached_over_ipv6() {
    registers_by_name("byname6", Aaaa::Answer);
}

#[test]
fn netns_v6_provider_by_name_without_aaaa_answer_falls_back_to_ipv4() {
    registers_by_name("byname4", Aaaa::Withhold);
}
