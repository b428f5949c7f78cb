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
//! Each DNS query leaves from a socket of its own ([`dns_sockets`]), opened
//! when the resolver first sends it and closed when it ends.
//!
//! Besides that it re-reads the interface addresses every few seconds (so a
//! PPPoE address change is followed), the nameservers, and saves the
//! registrations atomically when they change.

mod addrs;
pub use addrs::read_addresses;
mod admin;
pub mod client;
mod control;
pub mod dns_sockets;
pub mod fastpath;
mod files;
pub mod if_inet6;
mod ingress;
mod io;
mod kernel;
mod relay_pool;
pub mod sys;
pub mod tcp;
#[cfg(feature = "tls")]
mod tls;

use crate::cli::Options;
use crate::config::Config;
use crate::core::Core;
use crate::dns::QueryHandle;
use crate::limits::{
    MAX_CONTROL_CLIENTS, MAX_DNS_PENDING, MAX_READS_PER_WAKEUP, MAX_SIP_MESSAGE, MAX_STREAMS,
    MAX_TCP_CONNECTIONS,
};
use crate::proxy::Outbox;
use dns_sockets::DnsSockets;
pub use files::{
    MAX_REGISTRATION_FILE, REGISTRATION_FILE_MODE, own_directory, read_passwords,
    read_registration_file, write_atomically, write_pid_file,
};
use files::{hand_over_registration_dir, read_nameservers, start_registrations};
use ingress::Ingress;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// mio tokens, decoded in one place ([`Source::of`]).
const SIP: Token = Token(0);
/// The SIP-over-TCP listening socket.
const LISTEN: Token = Token(1);
/// The socket of the DNS query in resolver slot `i` is `Token(DNS_BASE + i)`.
const DNS_BASE: usize = 2;
/// TCP connection slot `i` is `Token(TCP_BASE + i)`.
const TCP_BASE: usize = DNS_BASE + MAX_DNS_PENDING;
/// The control socket ([`control`]).
const CONTROL: Token = Token(TCP_BASE + MAX_TCP_CONNECTIONS);
/// Control client slot `i` is `Token(CONTROL_BASE + i)`.
const CONTROL_BASE: usize = TCP_BASE + MAX_TCP_CONNECTIONS + 1;
/// Relay socket `i` (the relay's socket index) is `Token(RELAY_BASE + i)`.
const RELAY_BASE: usize = CONTROL_BASE + MAX_CONTROL_CLIENTS;
/// The address watch ([`addrs`]), out of the ranges above.
const NETLINK: Token = Token(usize::MAX - 1);
/// The SIP-over-TLS listening socket (`tls_listen_port`), likewise.
const LISTEN_TLS: Token = Token(usize::MAX - 2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Sip,
    Listen,
    ListenTls,
    /// The socket of the DNS query in this resolver slot.
    Dns(usize),
    /// The TCP connection in this slot.
    Tcp(usize),
    Control,
    /// The control client in this slot.
    ControlClient(usize),
    Relay(usize),
    Netlink,
}

impl Source {
    fn of(t: Token) -> Option<Source> {
        match t {
            NETLINK => Some(Source::Netlink),
            SIP => Some(Source::Sip),
            LISTEN => Some(Source::Listen),
            LISTEN_TLS => Some(Source::ListenTls),
            CONTROL => Some(Source::Control),
            Token(n) if n >= RELAY_BASE => Some(Source::Relay(n - RELAY_BASE)),
            Token(n) if n >= CONTROL_BASE => Some(Source::ControlClient(n - CONTROL_BASE)),
            Token(n) if n >= TCP_BASE => Some(Source::Tcp(n - TCP_BASE)),
            Token(n) if n >= DNS_BASE => Some(Source::Dns(n - DNS_BASE)),
            _ => None,
        }
    }

    fn dns_token(query: QueryHandle) -> Token {
        Token(DNS_BASE + query.slot())
    }
}

/// How often interfaces and resolv.conf are looked at again.
const REFRESH: Duration = Duration::from_secs(5);
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub struct Daemon {
    poll: Poll,
    /// Dual-stack sockets, or AF_INET ones ([`sys::Stack`]), for good.
    stack: sys::Stack,
    sip: UdpSocket,
    /// One socket per DNS query in flight.
    dns: DnsSockets,
    /// Boxed, like the daemon itself: moved by value, their tens of KB
    /// would touch that much more stack, resident for good.
    core: Box<Core>,
    out: Box<Outbox>,
    opts: Options,
    ingress: Ingress,
    next_refresh: Instant,
    addr_watch: Option<addrs::AddrWatch>,
    /// When the addresses are read at the latest ([`addrs::SAFETY_NET`]).
    next_addr_read: Instant,
    /// The watch said they changed; when they were last read.
    addrs_changed: bool,
    addrs_read_at: Instant,
    next_autosave: Option<Instant>,
    sip_backlog: bool,
    /// SIP over TCP: the listening socket and the connections.
    tcp: tcp::Tcp,
    /// TCP connections that may have more to read, and a flag per slot.
    tcp_ready: Vec<usize>,
    tcp_queued: [bool; MAX_TCP_CONNECTIONS],
    /// The relay's sockets by socket index (`None`: the slot's pair is not
    /// bound now, [`relay_pool`]); grows with the slots the pool touches,
    /// within the capacity reserved at start.
    relay_socks: Vec<Option<UdpSocket>>,
    /// Buffers of the relay's batched reads and sends.
    batch: sys::Batch,
    /// Relay sockets that may have more datagrams (read bound reached or
    /// readable event not yet served), and a flag per socket.
    relay_ready: Vec<usize>,
    relay_queued: Vec<bool>,
    /// The relay's pool found no port it could bind (logged once).
    relay_stalled: bool,
    /// The control socket (`sipnat status`, `sipnat reload`).
    control: control::Control,
    /// `plugin_stats`: when its log line and its file are due.
    stats_at: [Option<Instant>; 2],
    /// The instance's name in the status: the control socket's file stem,
    /// else the UCI section, else `sipnat`.
    instance: String,
    started_unix: u64,
    /// The kernel's forwarding of latched streams (`rtp_kernel_forward`),
    /// when it could be set up; else why not (for the status).
    fastpath: Option<fastpath::FastPath>,
    fastpath_off: Option<String>,
    next_kernel: Instant,
    kernel_reads: kernel::Reads,
    /// The resolver files as last read ([`files::resolv_stamp`]).
    resolv_stamp: files::ResolvStamp,
}

impl Daemon {
    /// Bind the sockets and build the core. Errors are for the user.
    pub fn new(cfg: Config, opts: Options) -> Result<Box<Daemon>, String> {
        let now = Instant::now();
        let addrs = read_addresses(&cfg);
        if addrs.lan_v4().is_none() {
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
        let port = cfg.sip_listen_port;
        let (sip, stack, no_ipv6) = sys::first_udp_socket(sys::make_socket, port)
            .map_err(|e| format!("cannot bind SIP port {port}: {e}"))?;
        if let Some(e) = &no_ipv6 {
            log::warn!("no IPv6 in the kernel ({e}): IPv4 sockets only");
        }
        let mut sip = UdpSocket::from_std(sip);
        if cfg.sip_dscp != 0 {
            if let Err(e) = sys::set_dscp(sip.as_raw_fd(), cfg.sip_dscp) {
                log::warn!("cannot set sip_dscp: {e}");
            }
        }
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        poll.registry()
            .register(&mut sip, SIP, Interest::READABLE)
            .map_err(|e| format!("poll register: {e}"))?;
        let addr_watch = addrs::AddrWatch::open(poll.registry(), NETLINK);
        let mut tcp = tcp::Tcp::new(
            stack,
            port,
            LISTEN,
            TCP_BASE,
            poll.registry(),
            tcp::timers(&cfg),
            cfg.sip_dscp,
        )?;
        tcp.set_tls(&cfg);
        tcp.listen_tls(&cfg, LISTEN_TLS, poll.registry())?;
        let seed_bytes = sys::random_bytes();
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&seed_bytes[..8]);
        let resolv_stamp = files::resolv_stamp();
        let ns = read_nameservers();
        // The core keeps the configuration (a copy is 2 KB of MIPS code).
        let registration_file = cfg.registration_file.clone();
        let user = cfg.user.clone();
        let mut core = Core::new(
            cfg,
            addrs,
            sys::random_bytes(),
            &ns,
            u64::from_le_bytes(seed),
            now,
        );
        if no_ipv6.is_some() {
            core.stats.bump("ipv6", "off-kernel");
        }
        if let Some(p) = read_passwords(core.config())? {
            core.proxy.set_passwords(p);
        }
        let reg_dir_created = registration_file
            .as_deref()
            .is_some_and(|path| start_registrations(&mut core, path, now));
        // Whatever the range, at most MAX_STREAMS pairs are bound at once
        // (the relay's sockets are bound as calls need them, by `run`), a
        // socket per DNS query, the TCP connections, and room for the rest.
        // Raised now, while sipnat may still be root.
        let n_relay = 2 * MAX_STREAMS;
        sys::raise_fd_limit((n_relay + MAX_DNS_PENDING + MAX_TCP_CONNECTIONS) as u64 + 64);
        let cfg = core.config();
        if cfg.rtp_proxy_enable {
            log::info!(
                "RTP relay on ports {}-{} (up to {} streams), bound as calls need them",
                cfg.rtp_port_low,
                cfg.rtp_port_high,
                core.relay.capacity()
            );
        }
        // Without its control socket sipnat still relays every call: a
        // status that cannot be served is logged, never a reason to stop.
        let control = match opts.control.as_deref() {
            Some(path) => control::Control::open(
                path,
                cfg.user.as_deref().and_then(sys::user_ids),
                poll.registry(),
                CONTROL,
                CONTROL_BASE,
            )
            .unwrap_or_else(|e| {
                log::error!("{e}; running without it (no sipnat status/reload)");
                control::Control::none(CONTROL_BASE)
            }),
            None => control::Control::none(CONTROL_BASE),
        };
        let instance = admin::instance_name(&opts);
        // Before the privilege drop: the kernel's tables need CAP_NET_ADMIN,
        // which sipnat keeps (and nothing else of root's) when this worked.
        let (fastpath, fastpath_off) = kernel::start_fastpath(cfg);
        core.relay.set_fastpath(fastpath.is_some());
        // Everything that needs root is done: drop to `user` (siproxd's option).
        if let Some(user) = user.as_deref() {
            if let Some(path) = registration_file.as_deref() {
                hand_over_registration_dir(&mut core, path, user, reg_dir_created);
            }
            let keep = fastpath.is_some();
            let (uid, gid) = sys::drop_privileges(user, &tcp.listener_fds(), keep)
                .map_err(|e| format!("cannot switch to user {user}: {e}"))?;
            log::info!("running as {user} (uid {uid}, gid {gid})");
        }
        let cfg = core.config();
        let next_autosave = (cfg.autosave_registrations > 0)
            .then(|| now + Duration::from_secs(u64::from(cfg.autosave_registrations)));
        let on = if stack == sys::Stack::V4 {
            format!("0.0.0.0:{port}")
        } else {
            format!("[::]:{port} (IPv4 and IPv6)")
        };
        log::info!(
            "sipnat {} listening on {on}, LAN {}, WAN {}",
            env!("CARGO_PKG_VERSION"),
            cfg.if_inbound.as_deref().unwrap_or("-"),
            cfg.if_outbound.as_deref().unwrap_or("-")
        );
        let ingress = Ingress::read(cfg, core.addresses());
        Ok(Box::new(Daemon {
            poll,
            stack,
            sip,
            dns: DnsSockets::new(stack),
            core,
            out: Outbox::new(),
            ingress,
            opts,
            next_refresh: now + REFRESH,
            addr_watch,
            next_addr_read: now + addrs::SAFETY_NET,
            addrs_changed: false,
            addrs_read_at: now,
            next_autosave,
            sip_backlog: false,
            tcp,
            tcp_ready: Vec::with_capacity(MAX_TCP_CONNECTIONS),
            tcp_queued: [false; MAX_TCP_CONNECTIONS],
            relay_socks: Vec::with_capacity(n_relay),
            batch: sys::Batch::new(stack),
            relay_ready: Vec::with_capacity(n_relay),
            relay_queued: Vec::with_capacity(n_relay),
            relay_stalled: false,
            control,
            stats_at: [None; 2],
            instance,
            started_unix: unix_now(),
            fastpath,
            fastpath_off,
            next_kernel: now,
            kernel_reads: kernel::Reads::new(now),
            resolv_stamp,
        }))
        .map(|mut d| {
            d.schedule_stats(now);
            d
        })
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Run until SIGTERM/SIGINT.
    pub fn run(&mut self) -> Result<(), String> {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; MAX_SIP_MESSAGE + 1];
        loop {
            if sys::SIG_TERM.load(Ordering::SeqCst) {
                log::info!("stopping");
                self.save_registrations(Instant::now());
                if let Some(fp) = self.fastpath.as_mut() {
                    fp.stop();
                }
                return Ok(());
            }
            if sys::SIG_HUP.swap(false, Ordering::SeqCst) {
                let _ = self.reload();
            }
            if sys::SIG_USR1.swap(false, Ordering::SeqCst) {
                self.log_status();
                self.dump_stats(Instant::now(), true);
            }
            self.maintain_relay();
            let now = Instant::now();
            let busy = self.core.relay.maintenance_due()
                || self.sip_backlog
                || self.dns.any_ready()
                || !self.relay_ready.is_empty()
                || !self.tcp_ready.is_empty()
                || self.tcp.has_unsent();
            let timeout = if busy {
                Duration::ZERO
            } else {
                let tcp = self.tcp.poll_timeout().unwrap_or(self.next_refresh);
                let control = self.control.poll_timeout().unwrap_or(self.next_refresh);
                let stats = self.stats_at.iter().flatten().min().copied();
                let kernel = self.kernel_deadline().unwrap_or(self.next_refresh);
                let watch = self.watch_deadline().unwrap_or(self.next_refresh);
                self.core
                    .poll_timeout()
                    .min(kernel)
                    .min(watch)
                    .min(self.next_refresh)
                    .min(tcp)
                    .min(control)
                    .min(stats.unwrap_or(self.next_refresh))
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
                    Some(source @ (Source::Listen | Source::ListenTls)) => {
                        let ingress = &self.ingress;
                        self.tcp.accept(
                            Instant::now(),
                            self.poll.registry(),
                            &|peer| ingress.side_of_address(peer.ip()),
                            source == Source::ListenTls,
                            &mut self.core.stats,
                        );
                    }
                    Some(Source::Tcp(slot)) => {
                        if ev.is_writable() {
                            self.tcp.writable(
                                Instant::now(),
                                slot,
                                self.poll.registry(),
                                &mut self.core.stats,
                            );
                        }
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.mark_tcp_ready(slot);
                        }
                    }
                    Some(Source::Dns(slot)) => self.dns.mark_ready(slot),
                    Some(Source::Control) => {
                        let stats = &mut self.core.stats;
                        self.control
                            .accept(Instant::now(), self.poll.registry(), stats);
                    }
                    Some(Source::ControlClient(slot)) => {
                        if ev.is_writable() {
                            self.control.writable(slot, self.poll.registry());
                        }
                        if ev.is_readable() || ev.is_read_closed() {
                            self.serve_control(Instant::now(), slot);
                        }
                    }
                    Some(Source::Relay(i)) => {
                        if let Some(q) = self.relay_queued.get_mut(i) {
                            if !*q {
                                *q = true;
                                self.relay_ready.push(i);
                            }
                        }
                    }
                    Some(Source::Netlink) => {
                        let changed = self.addr_watch.as_ref().is_some_and(|w| w.drain());
                        self.addrs_changed |= changed;
                    }
                    None => {} // spurious: tolerated
                }
            }
            let now = Instant::now();
            self.follow_watch(now);
            // Signalling before media: an answer and the first RTP packets
            // of its far end often arrive in one wakeup, and the RTP must
            // meet the leg the answer sets up (else it is judged against a
            // leg that does not exist yet, and dropped).
            if self.sip_backlog {
                self.sip_backlog = self.read_socket(now, Source::Sip, &mut buf);
            }
            if !self.tcp_ready.is_empty() {
                self.serve_tcp(now);
            }
            for slot in 0..MAX_DNS_PENDING {
                if self.dns.is_ready(slot) {
                    let more = self.read_socket(now, Source::Dns(slot), &mut buf);
                    self.dns.set_ready(slot, more);
                }
            }
            if !self.relay_ready.is_empty() {
                self.serve_relay(now);
            }
            if crate::due(&now, &self.core.poll_timeout()) {
                self.core.handle_timeout(now, &mut self.out);
                self.flush(now);
                self.flush_held(now);
            }
            if self
                .tcp
                .poll_timeout()
                .is_some_and(|t| crate::due(&now, &t))
            {
                self.tcp
                    .handle_timeout(now, self.poll.registry(), &mut self.core.stats);
            }
            if self.tcp.has_unsent() {
                self.answer_unsent(now);
            }
            if self
                .control
                .poll_timeout()
                .is_some_and(|t| crate::due(&now, &t))
            {
                let stats = &mut self.core.stats;
                self.control
                    .handle_timeout(now, self.poll.registry(), stats);
            }
            self.kernel_tick(now);
            if crate::due(&now, &self.next_refresh) {
                self.next_refresh = now + REFRESH;
                self.refresh(now);
                self.core.relay.retry_binds();
            }
            if self.stats_at.iter().flatten().any(|t| crate::due(&now, t)) {
                self.dump_stats(now, false);
            }
            let due = self.next_autosave.is_some_and(|t| crate::due(&now, &t));
            if due {
                self.next_autosave = self.next_autosave.map(|_| {
                    now + Duration::from_secs(u64::from(self.core.config().autosave_registrations))
                });
            }
            if self.core.proxy.take_dirty() || due {
                self.save_registrations(now);
            }
        }
    }

    fn mark_tcp_ready(&mut self, slot: usize) {
        if let Some(q) = self.tcp_queued.get_mut(slot) {
            if !*q {
                *q = true;
                self.tcp_ready.push(slot);
            }
        }
    }

    /// Each TCP connection that may have input: read (a bounded number of
    /// times), hand every whole message to the core one at a time, and send
    /// what the core answers before the next one.
    fn serve_tcp(&mut self, now: Instant) {
        let mut still = 0;
        for k in 0..self.tcp_ready.len() {
            let slot = self.tcp_ready[k];
            let more = loop {
                let frame =
                    self.tcp
                        .next_frame(now, slot, self.poll.registry(), &mut self.core.stats);
                match frame {
                    tcp::Frame::Message {
                        peer,
                        side,
                        transport,
                        data,
                    } => {
                        let len = data.len();
                        self.core.handle_sip(
                            now,
                            peer.to_std(),
                            side,
                            transport,
                            data,
                            &mut self.out,
                        );
                        self.tcp.consume(now, slot, len);
                        self.flush(now);
                        self.flush_held(now);
                    }
                    tcp::Frame::Idle(more) => break more,
                    tcp::Frame::Closed => break false,
                }
            };
            if more {
                self.tcp_ready[still] = slot;
                still += 1;
            } else if let Some(q) = self.tcp_queued.get_mut(slot) {
                *q = false;
            }
        }
        self.tcp_ready.truncate(still);
    }

    /// Requests that could not go out over TCP (their connection never came
    /// up, or its peer stopped reading): each is answered as if its next hop had answered (RFC 3261
    /// §16.9, [`crate::transport::failed`]), through the core like any
    /// response. What that sends and cannot send is handled next pass (only
    /// requests are answered, so this ends).
    fn answer_unsent(&mut self, now: Instant) {
        let mut response = Vec::new();
        for u in self.tcp.take_unsent() {
            for msg in crate::transport::framer::messages(&u.bytes) {
                if !crate::transport::failed::error_response(msg, u.status, &mut response) {
                    continue;
                }
                self.core.stats.bump("tcp", "request-unsent");
                self.core.handle_sip(
                    now,
                    u.peer.to_std(),
                    u.side,
                    u.transport,
                    &mut response,
                    &mut self.out,
                );
                self.flush(now);
                self.flush_held(now);
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
        for (why, n) in self.batch.take_refused() {
            if n > 0 {
                self.core.stats.add("drop", why.as_str(), n);
            }
        }
    }

    /// Relay socket `i`: read batches until the socket is drained (a batch
    /// shorter than [`sys::BATCH`] says so) or the per-pass bound is reached
    /// (then true: come back to it). Each batch's forwards leave with one
    /// `sendmmsg`.
    fn read_relay(&mut self, now: Instant, i: usize) -> bool {
        let Some(Some(sock)) = self.relay_socks.get(i) else {
            return false;
        };
        let fd = sock.as_raw_fd();
        let Some(relay) = self.core.relay_mut() else {
            return false;
        };
        let batch = &mut self.batch;
        let socks = &self.relay_socks;
        let ingress = &self.ingress;
        for _ in 0..MAX_READS_PER_WAKEUP.div_ceil(sys::BATCH) {
            let n = match batch.recv(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // ICMP errors (port unreachable) surface here; the queued
                // datagrams are still there for the next call.
                Err(_) => continue,
            };
            for k in 0..n {
                let Some(d) = batch.get(k) else { continue }; // refused: counted
                if d.truncated {
                    relay.count_oversize(d.data.len());
                    continue;
                }
                // Either family: a stream may have a leg of each (one
                // dual-stack socket serves both).
                let side = ingress.side(d.ifindex, d.from);
                if let crate::relay::Decision::Forward(to) =
                    relay.on_packet(now, i, d.from, side, d.data)
                {
                    batch.forward(k, to);
                }
                if relay.flush_pending() {
                    // A leg just got its destination: the packets held for
                    // it leave now, before the rest of this batch (which
                    // goes with the sendmmsg below), so they stay in order.
                    relay.flush(now, &mut |index, to, bytes| {
                        relay_pool::send_held(socks, index, to, bytes)
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

    /// Packets the relay held for a leg that now has a destination (an
    /// answer made it reachable, or a stream ended): sent from their own
    /// relay socket. One flag to test when there is nothing.
    fn flush_held(&mut self, now: Instant) {
        let socks = &self.relay_socks;
        if let Some(relay) = self.core.relay_mut().filter(|r| r.flush_pending()) {
            relay.flush(now, &mut |index, to, bytes| {
                relay_pool::send_held(socks, index, to, bytes)
            });
        }
    }

    /// Send what the core queued, then close the sockets of DNS queries
    /// that are over.
    fn flush(&mut self, now: Instant) {
        // A query whose socket cannot be opened fails; the core answers the
        // work parked on it, which may queue more. Each round ends at least
        // one query, and what a last round queues goes with the next flush.
        for _ in 0..=MAX_DNS_PENDING {
            let failed = self.send_queued();
            if failed.is_empty() {
                break;
            }
            for query in failed {
                self.core.dns_socket_failed(now, query, &mut self.out);
            }
        }
        let core = &self.core;
        self.dns
            .reap(self.poll.registry(), |q| core.dns_in_flight(q));
        // Spares for the next message, and the pairs of ended streams closed.
        self.maintain_relay();
    }
}

#[cfg(test)]
mod tests;
