//! The null relay: the floor that sipnat's media relay is measured against
//! (`sipnat-bench null-relay ...`).
//!
//! What it is: the simplest possible UDP forwarder with the same socket
//! layout and the same kind of event loop as sipnat's relay (src/driver):
//! one non-blocking socket per port of an inclusive range, bound on one
//! address (0.0.0.0 by default, like sipnat), kernel default buffer sizes
//! (sipnat sets no SO_RCVBUF/SO_SNDBUF either), one `mio::Poll`, every ready
//! socket read until `WouldBlock` (mio is edge-triggered), each datagram
//! sent on unchanged from the socket it arrived on: a datagram from the
//! fixed LAN peer goes to the fixed WAN peer, anything else to the LAN peer.
//! With `--mmsg` it reads up to 32 datagrams per `recvmmsg` call and sends
//! them with one `sendmmsg`, to show what batching the syscalls gives.
//!
//! What it omits, on purpose: SIP, the relay table and its lookup, address
//! latching, timers and expiry, statistics, and any per-packet logging. What
//! sipnat costs above this floor is the price of those.

#![allow(dead_code)] // included by the bench binary, which may use a part

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Datagrams per `recvmmsg` / `sendmmsg` call in `--mmsg` mode.
pub const MMSG_BATCH: usize = 32;
/// Largest datagram forwarded whole (larger ones are truncated by the
/// kernel, as sipnat's relay buffer would).
const BUF_LEN: usize = 2048;

/// What the null relay forwards, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NullConfig {
    /// Inclusive port range, one socket per port.
    pub ports: (u16, u16),
    /// The fixed LAN peer: what it sends goes to `wan`.
    pub lan: SocketAddrV4,
    /// The fixed WAN peer: everything not from `lan` goes to `lan`.
    pub wan: SocketAddrV4,
    /// Batch with recvmmsg/sendmmsg.
    pub mmsg: bool,
    /// Address the sockets bind to (0.0.0.0 by default).
    pub bind_ip: Ipv4Addr,
}

fn parse_ports(v: &str) -> Result<(u16, u16), String> {
    let (a, b) = v
        .split_once('-')
        .ok_or_else(|| format!("--ports {v:?}: want LOW-HIGH"))?;
    let lo: u16 = a
        .trim()
        .parse()
        .map_err(|_| format!("--ports {v:?}: bad low port"))?;
    let hi: u16 = b
        .trim()
        .parse()
        .map_err(|_| format!("--ports {v:?}: bad high port"))?;
    if lo == 0 || hi < lo {
        return Err(format!("--ports {v:?}: want 1 <= LOW <= HIGH"));
    }
    Ok((lo, hi))
}

/// Parse `--ports LOW-HIGH --lan IP:PORT --wan IP:PORT [--mmsg] [--bind IP]`
/// (also `--opt=value`). `args` are the words after `null-relay`; a leading
/// `null-relay` word is skipped too.
pub fn parse_args(args: &[String]) -> Result<NullConfig, String> {
    let mut ports = None;
    let mut lan = None;
    let mut wan = None;
    let mut mmsg = false;
    let mut bind_ip = Ipv4Addr::UNSPECIFIED;
    let mut it = args.iter().map(String::as_str).peekable();
    if it.peek() == Some(&"null-relay") {
        it.next();
    }
    while let Some(word) = it.next() {
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (word, None),
        };
        if name == "--mmsg" {
            if inline.is_some() {
                return Err("--mmsg takes no value".into());
            }
            mmsg = true;
            continue;
        }
        let mut value = || -> Result<&str, String> {
            match inline {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match name {
            "--ports" => ports = Some(parse_ports(value()?)?),
            "--lan" => {
                let v = value()?;
                lan = Some(
                    v.parse()
                        .map_err(|_| format!("--lan {v:?}: want IP:PORT"))?,
                );
            }
            "--wan" => {
                let v = value()?;
                wan = Some(
                    v.parse()
                        .map_err(|_| format!("--wan {v:?}: want IP:PORT"))?,
                );
            }
            "--bind" => {
                let v = value()?;
                bind_ip = v
                    .parse()
                    .map_err(|_| format!("--bind {v:?}: want an IPv4 address"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(NullConfig {
        ports: ports.ok_or("--ports LOW-HIGH is required")?,
        lan: lan.ok_or("--lan IP:PORT is required")?,
        wan: wan.ok_or("--wan IP:PORT is required")?,
        mmsg,
        bind_ip,
    })
}

/// Raise the soft open-file limit to the hard limit (thousands of sockets).
fn raise_nofile() {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 && rl.rlim_cur < rl.rlim_max {
        rl.rlim_cur = rl.rlim_max;
        // SAFETY: a valid rlimit; failure only limits the port count.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) };
    }
}

fn sockaddr_of(a: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    s
}

fn same_addr(s: &libc::sockaddr_in, a: &libc::sockaddr_in) -> bool {
    s.sin_family == a.sin_family
        && s.sin_port == a.sin_port
        && s.sin_addr.s_addr == a.sin_addr.s_addr
}

/// Buffers of the batched path, allocated once and reused for every batch.
struct Batch {
    bufs: Vec<[u8; BUF_LEN]>,
    names: Vec<libc::sockaddr_in>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    lan: libc::sockaddr_in,
    wan: libc::sockaddr_in,
}

impl Batch {
    fn new(lan: SocketAddrV4, wan: SocketAddrV4) -> Box<Batch> {
        // SAFETY (zeroed): sockaddr_in, iovec and mmsghdr are plain C data.
        let mut b = Box::new(Batch {
            bufs: vec![[0u8; BUF_LEN]; MMSG_BATCH],
            names: vec![unsafe { std::mem::zeroed() }; MMSG_BATCH],
            iovs: Vec::with_capacity(MMSG_BATCH),
            hdrs: vec![unsafe { std::mem::zeroed() }; MMSG_BATCH],
            lan: sockaddr_of(lan),
            wan: sockaddr_of(wan),
        });
        for i in 0..MMSG_BATCH {
            let base = b.bufs[i].as_mut_ptr(); // i < MMSG_BATCH = bufs.len()
            b.iovs.push(libc::iovec {
                iov_base: base.cast(),
                iov_len: BUF_LEN,
            });
        }
        b
    }

    /// Point every header at its buffer and name, ready for recvmmsg.
    fn arm_for_recv(&mut self) {
        for i in 0..MMSG_BATCH {
            // Indexes below MMSG_BATCH, the length of every vector here.
            self.iovs[i].iov_len = BUF_LEN;
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_in).cast();
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
    }

    /// Drain one socket in batches; returns datagrams sent.
    fn drain(&mut self, fd: libc::c_int) -> u64 {
        let mut sent = 0u64;
        loop {
            self.arm_for_recv();
            // SAFETY: hdrs holds MMSG_BATCH headers, each pointing at a live
            // buffer of iov_len bytes and a sockaddr_in of msg_namelen bytes,
            // all owned by self (boxed, not moved while in use).
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    MMSG_BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT as _,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                    continue;
                }
                return sent; // EAGAIN (drained) or an ICMP error: nothing to send
            }
            let n = (n as usize).min(MMSG_BATCH);
            if n == 0 {
                return sent;
            }
            for i in 0..n {
                // i < n <= MMSG_BATCH.
                let len = (self.hdrs[i].msg_len as usize).min(BUF_LEN);
                let to = if same_addr(&self.names[i], &self.lan) {
                    self.wan
                } else {
                    self.lan
                };
                self.names[i] = to;
                self.iovs[i].iov_len = len;
                let h = &mut self.hdrs[i].msg_hdr;
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                h.msg_flags = 0;
            }
            let mut off = 0usize;
            while off < n {
                // SAFETY: headers off..n are armed with valid names and
                // buffers of iov_len bytes (set above).
                let r = unsafe {
                    libc::sendmmsg(
                        fd,
                        self.hdrs[off..n].as_mut_ptr(),
                        (n - off) as libc::c_uint,
                        libc::MSG_DONTWAIT as _,
                    )
                };
                if r > 0 {
                    off += r as usize;
                    sent += r as u64;
                } else if r < 0 && std::io::Error::last_os_error().kind() == ErrorKind::Interrupted
                {
                    continue;
                } else {
                    // Full send buffer or an error on one datagram: drop it,
                    // as the network (and sipnat) would, and go on.
                    off += 1;
                }
            }
            if n < MMSG_BATCH {
                return sent;
            }
        }
    }
}

/// Read one socket until `WouldBlock`, one datagram per syscall, as
/// sipnat's relay does; returns datagrams sent.
fn drain_plain(sock: &UdpSocket, buf: &mut [u8], lan: SocketAddr, wan: SocketAddr) -> u64 {
    let mut sent = 0u64;
    loop {
        match sock.recv_from(buf) {
            Ok((n, from)) => {
                let to = if from == lan { wan } else { lan };
                // A full send buffer drops this packet, as the network would.
                if let Some(p) = buf.get(..n)
                    && sock.send_to(p, to).is_ok()
                {
                    sent += 1;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return sent,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {} // ICMP errors surface here; nothing to do
        }
    }
}

/// Bind every port (one mio `UdpSocket` each, on `bind_ip`), print
/// "null-relay: N sockets ready" on stderr, then forward until `stop` is
/// true (checked at least every 100 ms). Returns the datagrams forwarded.
pub fn serve(cfg: &NullConfig, stop: &AtomicBool) -> Result<u64, String> {
    serve_with(cfg, stop, &mut |n| {
        eprintln!("null-relay: {n} sockets ready");
    })
}

/// [`serve`] with the "ready" notice as a callback (the tests wait on it).
pub fn serve_with(
    cfg: &NullConfig,
    stop: &AtomicBool,
    ready: &mut dyn FnMut(usize),
) -> Result<u64, String> {
    raise_nofile();
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let (lo, hi) = cfg.ports;
    let mut socks = Vec::with_capacity(usize::from(hi.saturating_sub(lo)) + 1);
    for (i, port) in (lo..=hi).enumerate() {
        let addr = SocketAddr::V4(SocketAddrV4::new(cfg.bind_ip, port));
        let mut s = UdpSocket::bind(addr).map_err(|e| format!("cannot bind port {port}: {e}"))?;
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)
            .map_err(|e| format!("poll register port {port}: {e}"))?;
        socks.push(s);
    }
    ready(socks.len());
    let lan = SocketAddr::V4(cfg.lan);
    let wan = SocketAddr::V4(cfg.wan);
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; BUF_LEN];
    let mut batch = if cfg.mmsg {
        Some(Batch::new(cfg.lan, cfg.wan))
    } else {
        None
    };
    let mut forwarded = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(100))) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        for ev in events.iter() {
            let Some(sock) = socks.get(ev.token().0) else {
                continue; // spurious token
            };
            forwarded += match batch.as_mut() {
                Some(b) => b.drain(sock.as_raw_fd()),
                None => drain_plain(sock, &mut buf, lan, wan),
            };
        }
    }
    Ok(forwarded)
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Entry for `sipnat-bench null-relay ARGS`: parse, stop on SIGTERM/SIGINT,
/// serve, print "null-relay: forwarded N" on exit. Exit code 0, or 2 on a
/// usage or bind error.
pub fn main(args: &[String]) -> i32 {
    let cfg = match parse_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("null-relay: {e}");
            eprintln!(
                "usage: sipnat-bench null-relay --ports LOW-HIGH --lan IP:PORT --wan IP:PORT \
                 [--mmsg] [--bind IP]"
            );
            return 2;
        }
    };
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
    match serve(&cfg, &STOP) {
        Ok(n) => {
            eprintln!("null-relay: forwarded {n}");
            0
        }
        Err(e) => {
            eprintln!("null-relay: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket as StdUdp;
    use std::sync::Arc;
    use std::sync::mpsc;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parse_full_and_defaults() {
        let c = parse_args(&words(
            "null-relay --ports 7070-7089 --lan 10.77.1.2:4000 --wan=198.51.100.2:5000 --mmsg",
        ))
        .expect("valid");
        assert_eq!(c.ports, (7070, 7089));
        assert_eq!(c.lan, "10.77.1.2:4000".parse().expect("addr"));
        assert_eq!(c.wan, "198.51.100.2:5000".parse().expect("addr"));
        assert!(c.mmsg);
        assert_eq!(c.bind_ip, Ipv4Addr::UNSPECIFIED);
        let c = parse_args(&words(
            "--ports 9000-9000 --lan 1.2.3.4:1 --wan 5.6.7.8:2 --bind 127.0.0.1",
        ))
        .expect("valid");
        assert!(!c.mmsg);
        assert_eq!(c.bind_ip, Ipv4Addr::LOCALHOST);
        assert_eq!(c.ports, (9000, 9000));
    }

    #[test]
    fn parse_errors() {
        let base = "--lan 1.2.3.4:1 --wan 5.6.7.8:2";
        for bad in [
            base.to_string(),
            format!("{base} --ports 10-5"),
            format!("{base} --ports 0-5"),
            format!("{base} --ports 7070"),
            format!("{base} --ports 7070-x"),
            format!("{base} --ports 1-2 --bogus"),
            format!("{base} --ports 1-2 --bind ::1"),
            format!("{base} --ports"),
            "--ports 1-2 --lan 1.2.3.4 --wan 5.6.7.8:2".to_string(),
            "--ports 1-2 --wan 5.6.7.8:2".to_string(),
        ] {
            assert!(parse_args(&words(&bad)).is_err(), "{bad}");
        }
        assert_eq!(main(&words("--nope")), 2);
    }

    /// A free range of `n` consecutive loopback ports: bind them all once.
    fn free_range(n: u16, seed: u16) -> u16 {
        let start = 20_000 + (std::process::id() as u16 % 200) * 100 + seed * 37;
        for base in (start..60_000).step_by(usize::from(n) + 3) {
            let held: Vec<_> = (base..base + n)
                .map_while(|p| StdUdp::bind((Ipv4Addr::LOCALHOST, p)).ok())
                .collect();
            if held.len() == usize::from(n) {
                return base;
            }
        }
        panic!("no free port range"); // test-only: the machine has free ports
    }

    fn exchange(mmsg: bool, seed: u16) {
        let lan = StdUdp::bind((Ipv4Addr::LOCALHOST, 0)).expect("lan socket");
        let wan = StdUdp::bind((Ipv4Addr::LOCALHOST, 0)).expect("wan socket");
        for s in [&lan, &wan] {
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
        }
        let as_v4 = |s: &StdUdp| match s.local_addr().expect("addr") {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!("bound on 127.0.0.1"),
        };
        let base = free_range(4, seed);
        let cfg = NullConfig {
            ports: (base, base + 3),
            lan: as_v4(&lan),
            wan: as_v4(&wan),
            mmsg,
            bind_ip: Ipv4Addr::LOCALHOST,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let th = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                serve_with(&cfg, &stop, &mut |n| {
                    let _ = tx.send(n);
                })
            })
        };
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(4));
        let per_dir = 100u32;
        let mut buf = [0u8; 2048];
        // LAN -> relay port (bursts larger than one batch) -> WAN.
        for port_off in [0u16, 2] {
            let relay = SocketAddr::from((Ipv4Addr::LOCALHOST, base + port_off));
            for k in 0..per_dir / 2 {
                let pkt = format!("lan->{port_off}:{k:05}").into_bytes();
                lan.send_to(&pkt, relay).expect("send");
            }
            for k in 0..per_dir / 2 {
                let (n, from) = wan.recv_from(&mut buf).expect("wan receives");
                assert_eq!(from, relay, "sent from the socket it arrived on");
                assert_eq!(&buf[..n], format!("lan->{port_off}:{k:05}").as_bytes());
            }
        }
        // WAN (and any other source) -> relay port -> LAN.
        let stranger = StdUdp::bind((Ipv4Addr::LOCALHOST, 0)).expect("socket");
        for port_off in [1u16, 3] {
            let relay = SocketAddr::from((Ipv4Addr::LOCALHOST, base + port_off));
            for k in 0..per_dir / 2 {
                let from = if k % 10 == 9 { &stranger } else { &wan };
                let pkt = format!("wan->{port_off}:{k:05}").into_bytes();
                from.send_to(&pkt, relay).expect("send");
            }
            let mut got = Vec::new();
            for _ in 0..per_dir / 2 {
                let (n, from) = lan.recv_from(&mut buf).expect("lan receives");
                assert_eq!(from, relay);
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            got.sort();
            let want: Vec<String> = (0..per_dir / 2)
                .map(|k| format!("wan->{port_off}:{k:05}"))
                .collect();
            assert_eq!(got, want);
        }
        stop.store(true, Ordering::SeqCst);
        let forwarded = th.join().expect("no panic").expect("serve ok");
        assert_eq!(forwarded, u64::from(2 * per_dir));
    }

    #[test]
    fn forwards_both_ways_plain() {
        exchange(false, 0);
    }

    #[test]
    fn forwards_both_ways_mmsg() {
        exchange(true, 1);
    }

    #[test]
    fn bind_error_names_the_port() {
        let held = StdUdp::bind((Ipv4Addr::LOCALHOST, 0)).expect("socket");
        let port = held.local_addr().expect("addr").port();
        let cfg = NullConfig {
            ports: (port, port),
            lan: "127.0.0.1:1".parse().expect("addr"),
            wan: "127.0.0.1:2".parse().expect("addr"),
            mmsg: false,
            bind_ip: Ipv4Addr::LOCALHOST,
        };
        let err = serve(&cfg, &AtomicBool::new(true)).expect_err("port in use");
        assert!(err.contains(&port.to_string()), "{err}");
    }
}
