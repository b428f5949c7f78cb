//! A stand-in DNS server for the network-namespace tests that name a host
//! (`tests/netns_stun.rs`: the STUN server; `tests/netns_tls.rs`: the TLS
//! provider): it answers the A queries of the names it is given, says
//! every other name does not exist (NXDOMAIN), and records each question
//! and where it came from. It runs on a thread of its own, on a UDP socket
//! the test binds in a namespace; dropping it stops the thread. (The
//! dual-stack one of `tests/netns_v6/by_name.rs`, with SRV and AAAA and
//! answers held back, is its own.)

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The server; see the module's doc.
pub struct DnsServer {
    stop: Arc<AtomicBool>,
    asked: Arc<Mutex<Vec<(SocketAddr, String, u16)>>>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Serve on `sock`: each (name, address) of `a` answers that name's A
    /// query (names matched case-insensitively, TTL 60 s).
    pub fn start(sock: UdpSocket, a: &[(&str, Ipv4Addr)]) -> DnsServer {
        let stop = Arc::new(AtomicBool::new(false));
        let asked = Arc::new(Mutex::new(Vec::new()));
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let a: Vec<(String, Ipv4Addr)> = a.iter().map(|(n, ip)| (n.to_string(), *ip)).collect();
        let (stop2, asked2) = (stop.clone(), asked.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Some((name, qtype, end)) = question(&buf[..n]) else {
                    continue;
                };
                asked2.lock().unwrap().push((from, name.clone(), qtype));
                // The header and the question only (no EDNS record), then
                // the answer.
                let mut r = buf[..end].to_vec();
                r[2] = 0x81; // a response, recursion desired
                r[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
                let known = a
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&name))
                    .map(|(_, ip)| *ip);
                match known {
                    Some(ip) if qtype == 1 => {
                        r[3] = 0x80; // recursion available, no error
                        r[7] = 1; // one answer
                        r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                        r.extend_from_slice(&ip.octets());
                    }
                    // The name exists, without records of that type.
                    Some(_) => r[3] = 0x80,
                    None => r[3] = 0x83, // NXDOMAIN
                }
                let _ = sock.send_to(&r, from);
            }
        });
        DnsServer {
            stop,
            asked,
            thread: Some(thread),
        }
    }

    /// The questions asked so far, in order: who asked, the name, the type.
    pub fn asked(&self) -> Vec<(SocketAddr, String, u16)> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The question of a DNS query: its name, its type and where it ends.
pub fn question(q: &[u8]) -> Option<(String, u16, usize)> {
    if q.len() < 12 || q[2] & 0x80 != 0 || q[4..6] != [0, 1] {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 12;
    while *q.get(at)? != 0 {
        let len = usize::from(q[at]);
        labels.push(String::from_utf8_lossy(q.get(at + 1..at + 1 + len)?).into_owned());
        at += 1 + len;
    }
    let qtype = u16::from_be_bytes([*q.get(at + 1)?, *q.get(at + 2)?]);
    q.get(at + 4)?;
    Some((labels.join("."), qtype, at + 5))
}

/// `/etc/netns/<ns>/resolv.conf` naming `nameserver` (`ip netns exec` puts
/// it over /etc/resolv.conf for what runs in `ns`); the directory is
/// removed when this is dropped.
pub struct ResolvConf(PathBuf);

impl ResolvConf {
    pub fn new(ns: &str, nameserver: &str) -> ResolvConf {
        let etc = PathBuf::from(format!("/etc/netns/{ns}"));
        fs::create_dir_all(&etc).expect("/etc/netns/<ns>");
        let guard = ResolvConf(etc);
        fs::write(
            guard.0.join("resolv.conf"),
            format!("nameserver {nameserver}\n"),
        )
        .expect("resolv.conf");
        guard
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// OpenWrt's resolv.conf files, which sipnat prefers to /etc/resolv.conf
/// and `ip netns exec` cannot replace: a test that needs sipnat to ask its
/// stand-in server cannot run where one exists.
pub fn openwrt_resolv_conf() -> Option<&'static str> {
    [
        "/tmp/resolv.conf.d/resolv.conf.auto",
        "/tmp/resolv.conf.auto",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
}
