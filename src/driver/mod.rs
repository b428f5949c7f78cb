//! The only code that touches mio, sockets, signals, files and the clock.
//!
//! One thread, one `mio::Poll`. Each pass: read `now` once, read each ready
//! socket until `WouldBlock` (at most [`MAX_READS_PER_WAKEUP`] datagrams, then
//! come back to it on the next pass without sleeping) — SIP and DNS before
//! the relay sockets, so media meets the call state its signalling set up —
//! hand every datagram to the core, send what the core put in the outbox and
//! the relay packets it held and may now send, then sleep until the core's
//! next deadline. Signals interrupt the wait (SIGTERM/SIGINT stop,
//! SIGHUP reloads the configuration, SIGUSR1 logs the counters).
//!
//! Besides that it re-reads the interface addresses every few seconds (so a
//! PPPoE address change is followed), the nameservers, and saves the
//! registrations atomically when they change.

pub mod sys;

use crate::cli::Options;
use crate::config::Config;
use crate::dns::parse_resolv_conf;
use crate::limits::{MAX_READS_PER_WAKEUP, MAX_SIP_MESSAGE};
use crate::proxy::{Addresses, Channel, Outbox, Proxy};
use crate::side::Side;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use std::io::{ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// mio tokens, decoded in one place ([`Source::of`]).
const SIP: Token = Token(0);
const DNS: Token = Token(1);
/// Relay socket `i` (the relay's socket index) is `Token(RELAY_BASE + i)`.
const RELAY_BASE: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Sip,
    Dns,
    Relay(usize),
}

impl Source {
    fn of(t: Token) -> Option<Source> {
        match t {
            SIP => Some(Source::Sip),
            DNS => Some(Source::Dns),
            Token(n) if n >= RELAY_BASE => Some(Source::Relay(n - RELAY_BASE)),
            _ => None,
        }
    }
}

/// How often interfaces and resolv.conf are looked at again.
const REFRESH: Duration = Duration::from_secs(5);
/// Where OpenWrt and Debian keep the nameservers, in order of preference.
const RESOLV_CONF: [&str; 3] = [
    "/tmp/resolv.conf.d/resolv.conf.auto",
    "/tmp/resolv.conf.auto",
    "/etc/resolv.conf",
];

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Which interfaces are the LAN side ([`crate::side`]): `if_inbound`, and
/// loopback (programs on the router itself). Anything else is the WAN, and so
/// is a datagram whose arrival interface the kernel did not tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ingress {
    lan: Option<u32>,
    lo: Option<u32>,
}

impl Ingress {
    fn read(cfg: &Config) -> Ingress {
        Ingress {
            lan: cfg.if_inbound.as_deref().and_then(sys::if_index),
            lo: sys::if_index("lo"),
        }
    }

    fn side(&self, ifindex: u32) -> Side {
        if ifindex != 0 && (Some(ifindex) == self.lan || Some(ifindex) == self.lo) {
            Side::Lan
        } else {
            Side::Wan
        }
    }
}

/// Read the interface addresses the configuration names.
pub fn read_addresses(cfg: &Config) -> Addresses {
    let mut a = Addresses::default();
    if let Some(i) = cfg.if_inbound.as_deref() {
        for n in sys::interface_ipv4(i).into_iter().take(4) {
            let _ = a.lan.push(n);
        }
    }
    if let Some(o) = cfg.if_outbound.as_deref() {
        a.wan = sys::interface_ipv4(o).first().map(|n| n.addr);
    }
    a
}

fn read_nameservers() -> Vec<SocketAddr> {
    for p in RESOLV_CONF {
        if let Ok(text) = std::fs::read_to_string(p) {
            let ns = parse_resolv_conf(&text);
            if !ns.is_empty() {
                return ns.into_iter().collect();
            }
        }
    }
    Vec::new()
}

/// Write `text` to `path` atomically: a temporary file in the same
/// directory, fsync, rename over the old one, fsync the directory.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub struct Daemon {
    poll: Poll,
    sip: UdpSocket,
    dns: UdpSocket,
    proxy: Proxy,
    out: Box<Outbox>,
    opts: Options,
    ingress: Ingress,
    next_refresh: Instant,
    next_autosave: Option<Instant>,
    sip_backlog: bool,
    dns_backlog: bool,
    /// One socket per relay port, in the relay's socket-index order.
    relay_socks: Vec<UdpSocket>,
    /// Buffers of the relay's batched reads and sends.
    batch: sys::Batch,
    /// Relay sockets that may have more datagrams (read bound reached or
    /// readable event not yet served), and a flag per socket.
    relay_ready: Vec<usize>,
    relay_queued: Vec<bool>,
}

impl Daemon {
    /// Bind the sockets and build the core. Errors are for the user.
    pub fn new(cfg: Config, opts: Options) -> Result<Daemon, String> {
        let now = Instant::now();
        let addrs = read_addresses(&cfg);
        if addrs.lan.is_empty() {
            log::warn!(
                "inbound interface {} has no IPv4 address yet; will look again",
                cfg.if_inbound.as_deref().unwrap_or("-")
            );
        }
        if addrs.wan.is_none() && cfg.host_outbound.is_none() {
            log::warn!(
                "outbound interface {} has no IPv4 address yet; will look again",
                cfg.if_outbound.as_deref().unwrap_or("-")
            );
        }
        let bind: SocketAddr = (Ipv4Addr::UNSPECIFIED, cfg.sip_listen_port).into();
        let mut sip =
            UdpSocket::bind(bind).map_err(|e| format!("cannot bind SIP port {bind}: {e}"))?;
        sys::set_pktinfo(sip.as_raw_fd()).map_err(|e| format!("IP_PKTINFO: {e}"))?;
        if cfg.sip_dscp != 0 {
            if let Err(e) = sys::set_dscp(sip.as_raw_fd(), cfg.sip_dscp) {
                log::warn!("cannot set sip_dscp: {e}");
            }
        }
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        poll.registry()
            .register(&mut sip, SIP, Interest::READABLE)
            .map_err(|e| format!("poll register: {e}"))?;
        let seed_bytes = sys::random_bytes();
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&seed_bytes[..8]);
        let ns = read_nameservers();
        let mut proxy = Proxy::new(
            cfg.clone(),
            addrs,
            sys::random_bytes(),
            &ns,
            u64::from_le_bytes(seed),
            now,
        );
        if let Some(path) = cfg.registration_file.as_deref() {
            match std::fs::read_to_string(path) {
                Ok(text) => match proxy.load_registrations(now, unix_now(), &text) {
                    Ok(n) => log::info!("restored {n} registrations from {}", path.display()),
                    Err(e) => log::warn!("{}: {e}; starting with no registrations", path.display()),
                },
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => log::warn!("cannot read {}: {e}", path.display()),
            }
        }
        let relay_ports: Vec<u16> = proxy
            .media()
            .map(|m| m.relay().socket_ports().collect())
            .unwrap_or_default();
        sys::raise_fd_limit(relay_ports.len() as u64 + 64);
        let mut relay_socks = Vec::with_capacity(relay_ports.len());
        for (i, port) in relay_ports.iter().enumerate() {
            let mut s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, *port).into()).map_err(|e| {
                format!("cannot bind RTP relay port {port}: {e} (check rtp_port_low/rtp_port_high)")
            })?;
            sys::set_pktinfo(s.as_raw_fd()).map_err(|e| format!("IP_PKTINFO: {e}"))?;
            if cfg.rtp_dscp != 0 {
                if let Err(e) = sys::set_dscp(s.as_raw_fd(), cfg.rtp_dscp) {
                    log::warn!("cannot set rtp_dscp on port {port}: {e}");
                }
            }
            poll.registry()
                .register(&mut s, Token(RELAY_BASE + i), Interest::READABLE)
                .map_err(|e| format!("poll register: {e}"))?;
            relay_socks.push(s);
        }
        // The DNS socket takes an ephemeral port, so it is opened after the
        // relay has its configured ports: a relay range that overlaps the
        // kernel's ephemeral range (32768-60999 on Linux) must not lose a
        // port to our own resolver.
        let mut dns = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0).into())
            .map_err(|e| format!("cannot open the DNS socket: {e}"))?;
        poll.registry()
            .register(&mut dns, DNS, Interest::READABLE)
            .map_err(|e| format!("poll register: {e}"))?;
        if !relay_ports.is_empty() {
            log::info!(
                "RTP relay on ports {}-{} ({} streams)",
                relay_ports.first().copied().unwrap_or(0),
                relay_ports.last().copied().unwrap_or(0),
                relay_ports.len() / 2
            );
        }
        let n_relay = relay_socks.len();
        // Everything that needs root is done: drop to `user` (siproxd's option).
        if let Some(user) = cfg.user.as_deref() {
            if let (Some((uid, gid)), Some(dir)) = (
                sys::user_ids(user),
                cfg.registration_file.as_deref().and_then(Path::parent),
            ) {
                if std::fs::create_dir_all(dir).is_ok() {
                    if let Err(e) = sys::chown(dir, uid, gid) {
                        log::warn!("cannot give {} to {user}: {e}", dir.display());
                    }
                }
                if let Some(f) = cfg.registration_file.as_deref().filter(|f| f.exists()) {
                    let _ = sys::chown(f, uid, gid);
                }
            }
            let (uid, gid) = sys::drop_privileges(user)
                .map_err(|e| format!("cannot switch to user {user}: {e}"))?;
            log::info!("running as {user} (uid {uid}, gid {gid})");
        }
        let next_autosave = (cfg.autosave_registrations > 0)
            .then(|| now + Duration::from_secs(u64::from(cfg.autosave_registrations)));
        log::info!(
            "sipnat {} listening on {bind}, LAN {}, WAN {}",
            env!("CARGO_PKG_VERSION"),
            cfg.if_inbound.as_deref().unwrap_or("-"),
            cfg.if_outbound.as_deref().unwrap_or("-")
        );
        Ok(Daemon {
            poll,
            sip,
            dns,
            proxy,
            out: Outbox::new(),
            ingress: Ingress::read(&cfg),
            opts,
            next_refresh: now + REFRESH,
            next_autosave,
            sip_backlog: false,
            dns_backlog: false,
            relay_socks,
            batch: sys::Batch::new(),
            relay_ready: Vec::with_capacity(n_relay),
            relay_queued: vec![false; n_relay],
        })
    }

    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// Run until SIGTERM/SIGINT.
    pub fn run(&mut self) -> Result<(), String> {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; MAX_SIP_MESSAGE + 1];
        loop {
            if sys::SIG_TERM.load(Ordering::SeqCst) {
                log::info!("stopping");
                self.save_registrations(Instant::now());
                return Ok(());
            }
            if sys::SIG_HUP.swap(false, Ordering::SeqCst) {
                self.reload();
            }
            if sys::SIG_USR1.swap(false, Ordering::SeqCst) {
                log::info!("{}", self.proxy.status_text());
            }
            let now = Instant::now();
            let timeout = if self.sip_backlog || self.dns_backlog || !self.relay_ready.is_empty() {
                Duration::ZERO
            } else {
                self.proxy
                    .poll_timeout()
                    .min(self.next_refresh)
                    .saturating_duration_since(now)
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
            for ev in events.iter() {
                match Source::of(ev.token()) {
                    Some(Source::Sip) => self.sip_backlog = true,
                    Some(Source::Dns) => self.dns_backlog = true,
                    Some(Source::Relay(i)) => {
                        if let Some(q) = self.relay_queued.get_mut(i) {
                            if !*q {
                                *q = true;
                                self.relay_ready.push(i);
                            }
                        }
                    }
                    None => {} // spurious: tolerated
                }
            }
            let now = Instant::now();
            // Signalling before media: an answer and the first RTP packets
            // of its far end often arrive in one wakeup, and the RTP must
            // meet the leg the answer sets up (else it is judged against a
            // leg that does not exist yet, and dropped).
            if self.sip_backlog {
                self.sip_backlog = self.read_socket(now, Source::Sip, &mut buf);
            }
            if self.dns_backlog {
                self.dns_backlog = self.read_socket(now, Source::Dns, &mut buf);
            }
            if !self.relay_ready.is_empty() {
                self.serve_relay(now);
            }
            if now >= self.proxy.poll_timeout() {
                self.proxy.handle_timeout(now, &mut self.out);
                self.flush();
                self.flush_held(now);
            }
            if now >= self.next_refresh {
                self.next_refresh = now + REFRESH;
                self.refresh();
            }
            let due = self.next_autosave.is_some_and(|t| now >= t);
            if due {
                self.next_autosave = self.next_autosave.map(|_| {
                    now + Duration::from_secs(u64::from(self.proxy.config().autosave_registrations))
                });
            }
            if self.proxy.take_dirty() || due {
                self.save_registrations(now);
            }
        }
    }

    /// The RTP hot path: for each ready relay socket, read datagrams and
    /// send each on from the same socket where the relay table says (the
    /// relay reads at most the RTP header). No allocation, no logging.
    fn serve_relay(&mut self, now: Instant) {
        let mut still = 0;
        for k in 0..self.relay_ready.len() {
            let i = self.relay_ready[k];
            let more = self.read_relay(now, i);
            if more {
                self.relay_ready[still] = i;
                still += 1;
            } else if let Some(q) = self.relay_queued.get_mut(i) {
                *q = false;
            }
        }
        self.relay_ready.truncate(still);
    }

    /// Relay socket `i`: read batches until the socket is drained (a batch
    /// shorter than [`sys::BATCH`] says so) or the per-pass bound is reached
    /// (then true: come back to it). Each batch's forwards leave with one
    /// `sendmmsg`.
    fn read_relay(&mut self, now: Instant, i: usize) -> bool {
        let Some(sock) = self.relay_socks.get(i) else {
            return false;
        };
        let fd = sock.as_raw_fd();
        let Some(relay) = self.proxy.relay_mut() else {
            return false;
        };
        let batch = &mut self.batch;
        let socks = &self.relay_socks;
        let ingress = self.ingress;
        for _ in 0..MAX_READS_PER_WAKEUP.div_ceil(sys::BATCH) {
            let n = match batch.recv(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // ICMP errors (port unreachable) surface here; the queued
                // datagrams are still there for the next call.
                Err(_) => continue,
            };
            for k in 0..n {
                let Some(d) = batch.get(k) else { continue }; // IPv6: IPv4 only
                if d.truncated {
                    relay.count_oversize(d.data.len());
                    continue;
                }
                let (from, side) = (d.from, ingress.side(d.ifindex));
                if let crate::relay::Decision::Forward(to) =
                    relay.on_packet(now, i, from, side, d.data)
                {
                    batch.forward(k, to);
                }
                if relay.flush_pending() {
                    // A leg just got its destination: the packets held for
                    // it leave now, before the rest of this batch (which
                    // goes with the sendmmsg below), so they stay in order.
                    relay.flush(now, &mut |index, to, bytes| {
                        send_held(socks, index, to, bytes)
                    });
                }
            }
            batch.send(fd);
            if n < sys::BATCH {
                return false;
            }
        }
        true
    }

    /// Read up to the per-pass bound; true if the socket may have more.
    fn read_socket(&mut self, now: Instant, src: Source, buf: &mut [u8]) -> bool {
        for _ in 0..MAX_READS_PER_WAKEUP {
            let got = match src {
                Source::Sip => sys::recv_with_ifindex(self.sip.as_raw_fd(), buf),
                Source::Dns => self.dns.recv_from(buf).map(|(len, from)| sys::Datagram {
                    len,
                    from,
                    ifindex: 0,
                    truncated: false,
                }),
                Source::Relay(_) => return false,
            };
            match got {
                Ok(d) => {
                    match src {
                        Source::Sip => {
                            let side = self.ingress.side(d.ifindex);
                            // A datagram longer than the buffer could not be
                            // read whole: the core sees its full buffer and
                            // counts it as too large.
                            let n = if d.truncated { buf.len() } else { d.len };
                            self.proxy
                                .handle_sip(now, d.from, side, &mut buf[..n], &mut self.out);
                        }
                        Source::Dns => {
                            self.proxy
                                .handle_dns(now, d.from, &buf[..d.len], &mut self.out)
                        }
                        Source::Relay(_) => {}
                    }
                    self.flush();
                    self.flush_held(now);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors (port unreachable) surface here on Linux.
                    log::debug!("recv: {e}");
                    continue;
                }
            }
        }
        true
    }

    /// Packets the relay held for a leg that now has a destination (an
    /// answer made it reachable, or a stream ended): sent from their own
    /// relay socket. One flag to test when there is nothing.
    fn flush_held(&mut self, now: Instant) {
        let socks = &self.relay_socks;
        if let Some(relay) = self.proxy.relay_mut().filter(|r| r.flush_pending()) {
            relay.flush(now, &mut |index, to, bytes| {
                send_held(socks, index, to, bytes)
            });
        }
    }

    fn flush(&mut self) {
        for (t, bytes) in self.out.iter() {
            let sock = match t.channel {
                Channel::Sip => &self.sip,
                Channel::Dns => &self.dns,
            };
            if log::log_enabled!(log::Level::Trace) {
                log::trace!(
                    "send {} bytes to {}:\n{}",
                    bytes.len(),
                    t.to,
                    String::from_utf8_lossy(bytes)
                );
            }
            if let Err(e) = sock.send_to(bytes, t.to) {
                log::debug!("send to {}: {e}", t.to);
            }
        }
        self.out.clear();
    }

    fn refresh(&mut self) {
        let addrs = read_addresses(self.proxy.config());
        self.proxy.set_addresses(addrs);
        self.ingress = Ingress::read(self.proxy.config());
        let ns = read_nameservers();
        self.proxy.set_nameservers(&ns);
    }

    fn reload(&mut self) {
        // The same layers as at start: file (and UCI section), then the
        // command line, then check().
        match crate::cli::load_config(&self.opts) {
            Ok((mut cfg, warnings)) => {
                for w in &warnings {
                    log::warn!("{w}");
                }
                crate::cli::apply(&self.opts, &mut cfg);
                let old = self.proxy.config();
                if cfg.sip_listen_port != old.sip_listen_port {
                    log::warn!(
                        "sip_listen_port changes need a restart; keeping {}",
                        old.sip_listen_port
                    );
                    cfg.sip_listen_port = old.sip_listen_port;
                }
                self.proxy.reconfigure(cfg);
                self.refresh();
                log::info!("configuration reloaded; calls and registrations kept");
            }
            Err(diags) => {
                for d in &diags {
                    log::error!("{d}");
                }
                log::error!("configuration not reloaded: the running one stays");
            }
        }
    }

    fn save_registrations(&mut self, now: Instant) {
        let Some(path) = self.proxy.config().registration_file.clone() else {
            return;
        };
        let text = self.proxy.registrations_text(now, unix_now());
        if let Err(e) = write_atomically(&path, &text) {
            log::warn!("cannot save registrations to {}: {e}", path.display());
        }
    }
}

/// Send one held relay packet from relay socket `index` (the relay's socket
/// index); a full buffer drops it, as the network would.
fn send_held(socks: &[UdpSocket], index: usize, to: std::net::SocketAddrV4, bytes: &[u8]) {
    if let Some(sock) = socks.get(index) {
        let _ = sock.send_to(bytes, SocketAddr::V4(to));
    }
}

/// Write the pid file (siproxd's `-p`/`pid_file`).
pub fn write_pid_file(path: &Path) -> std::io::Result<()> {
    write_atomically(path, &format!("{}\n", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = std::env::temp_dir().join(format!("sipnat-aw-{}", std::process::id()));
        let p = dir.join("sub/regs");
        write_atomically(&p, "one\n").unwrap();
        write_atomically(&p, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two\n");
        assert!(!dir.join("sub/regs.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tokens_decode() {
        assert_eq!(Source::of(SIP), Some(Source::Sip));
        assert_eq!(Source::of(DNS), Some(Source::Dns));
        assert_eq!(Source::of(Token(99)), Some(Source::Relay(97)));
    }
}
