//! SIP over TCP in the one mio loop: the listening socket, the connections
//! (accepted, or opened by sipnat without blocking), their send backlogs,
//! and the carrying out of what the sans-IO connection table
//! ([`crate::transport::conns`]) decides. Messages are framed by
//! [`crate::transport::framer`] and handed to the core one at a time by the
//! daemon.
//!
//! Bounds (a hostile WAN): the table's admission quotas; a send backlog of
//! at most [`MAX_TCP_BACKLOG`] bytes per connection (a peer that does not
//! read is disconnected, `tcp.backlog-full`); at most [`READ_ROUNDS`] reads
//! per connection per pass, so one busy or hostile connection cannot keep
//! the loop from UDP and RTP. Every refusal and closure is counted
//! (`tcp.<reason>`); nothing a WAN peer does is logged above debug.
//!
//! A connection sipnat opens that never comes up (refused, unreachable,
//! `tcp_connect_timeout`, or no room for it) hands what it was to carry
//! back ([`Tcp::take_unsent`]), and so does a message that would overfill
//! the backlog of a peer that stopped reading (the connection is cut): the
//! daemon answers each request in it as RFC 3261 §16.9 says
//! ([`crate::transport::failed`]).
//!
//! Connections sipnat opens leave from `sip_listen_port` (`SO_REUSEPORT`
//! with the listening socket): the peer's requests toward sipnat's Via,
//! Record-Route or Contact (`<router>:5060;transport=tcp`) find that
//! connection, and a stateful firewall in front of sipnat (OpenWrt's WAN
//! zone) lets them in. A peer with no connection is reached at the
//! address the core gives as `or_else` (a phone's Contact) when the one it
//! named is gone.
//!
//! The listening socket and the connections sipnat opens are dual-stack
//! ([`super::sys::Stack`]): an IPv4 peer's address is canonical IPv4
//! ([`super::sys::accept`]). A link-local peer, and an IPv6 one with an
//! IPv4-mapped address, are closed at accept (`tcp.link-local`,
//! `tcp.mapped-source`); without the `ipv6` feature every IPv6 peer is
//! (`tcp.ipv6`).
//!
//! TLS (the `tls` feature) is the same connections with a record layer in
//! the slot ([`super::tls`]): a connection sipnat opens over TLS counts as
//! connecting until its handshake is over, so its messages wait in the
//! backlog as plaintext and, if the handshake fails, come back as
//! [`Unsent`] (answered with 503, never sent in the clear). Its counters
//! are `tls.<reason>` instead of `tcp.<reason>`. With `tls_listen_port`,
//! connections accepted on the TLS listening socket (from the LAN only)
//! get a server session the same way.
//!
//! What it does not do: TLS on `sip_listen_port` (TLS has its own port), or
//! TLS opened toward a phone.

use super::sys::Stack;
use crate::limits::{MAX_TCP_BACKLOG, MAX_TCP_CONNECTIONS};
use crate::net::{Addr, Family};
use crate::side::Side;
use crate::stats::Stats;
use crate::transport::Transport;
use crate::transport::conns::{ConnId, Conns, Due, Origin, Timers};
use crate::transport::framer::Next;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// Reads of one connection per pass of the loop (each up to the framer's
/// free space): then the others, UDP and RTP get their turn.
pub const READ_ROUNDS: usize = 8;

pub struct Tcp {
    listener: TcpListener,
    conns: Conns,
    socks: Vec<Option<TcpStream>>,
    backlog: Vec<VecDeque<u8>>,
    /// Messages that never went out ([`Unsent`]), for the daemon.
    unsent: Vec<Unsent>,
    dscp: u8,
    token_base: usize,
    /// Where connections sipnat opens come from: the listening port, on
    /// sockets of this stack.
    port: u16,
    stack: Stack,
    #[cfg(feature = "tls")]
    tls: super::tls::Tls,
}

impl Tcp {
    /// Listen on `port` (every address of `stack`); connection `slot` gets
    /// `Token(token_base + slot)`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stack: Stack,
        port: u16,
        listen: Token,
        token_base: usize,
        registry: &Registry,
        timers: Timers,
        dscp: u8,
    ) -> Result<Tcp, String> {
        let mut listener = super::sys::tcp_listen_shared(stack, port)
            .map(TcpListener::from_std)
            .map_err(|e| format!("cannot listen on TCP port {port}: {e}"))?;
        let port = listener_port(&listener)?;
        registry
            .register(&mut listener, listen, Interest::READABLE)
            .map_err(|e| format!("poll register: {e}"))?;
        Ok(Tcp {
            listener,
            conns: Conns::new(timers),
            socks: (0..MAX_TCP_CONNECTIONS).map(|_| None).collect(),
            backlog: (0..MAX_TCP_CONNECTIONS).map(|_| VecDeque::new()).collect(),
            unsent: Vec::new(),
            dscp,
            #[cfg(feature = "tls")]
            tls: super::tls::Tls::new(MAX_TCP_CONNECTIONS),
            token_base,
            port,
            stack,
        })
    }

    /// The listening sockets (SIP over TCP, over TLS), to hand to the
    /// unprivileged user with the ports they share (see
    /// [`super::sys::drop_privileges`]).
    pub fn listener_fds(&self) -> Vec<std::os::fd::RawFd> {
        let fds = vec![self.listener.as_raw_fd()];
        #[cfg(feature = "tls")]
        let fds = fds.into_iter().chain(self.tls.listener_fd()).collect();
        fds
    }

    /// The port TLS is taken on (tests bind port 0).
    #[cfg(all(test, feature = "tls"))]
    pub fn tls_port(&self) -> Option<u16> {
        self.tls.port()
    }

    /// Listen for TLS from the phones on `tls_listen_port` (none: nothing
    /// to do), on `token`; at start.
    pub fn listen_tls(
        &mut self,
        cfg: &crate::config::Config,
        token: Token,
        registry: &Registry,
    ) -> Result<(), String> {
        #[cfg(feature = "tls")]
        if cfg.tls_listen_port != 0 {
            return self
                .tls
                .listen(self.stack, cfg.tls_listen_port, token, registry);
        }
        let _ = (cfg, token, registry);
        Ok(())
    }

    pub fn set_timers(&mut self, timers: Timers) {
        self.conns.set_timers(timers);
    }

    /// The TLS settings of `cfg` (at start and at a reload); a build
    /// without TLS has none.
    pub fn set_tls(&mut self, cfg: &crate::config::Config) {
        #[cfg(feature = "tls")]
        self.tls.reconfigure(cfg);
        let _ = cfg;
    }

    /// The counters' group of connection `id`: `tcp` or `tls`.
    fn group(&self, id: ConnId) -> &'static str {
        match self.conns.get(id).map(|c| c.transport) {
            Some(Transport::Tls) => "tls",
            _ => "tcp",
        }
    }

    /// A new `sip_dscp` (reload): the listener, every open connection and
    /// the ones to come.
    pub fn set_dscp(&mut self, dscp: u8) {
        self.dscp = dscp;
        let fds = std::iter::once(self.listener.as_raw_fd())
            .chain(self.socks.iter().flatten().map(|s| s.as_raw_fd()));
        for fd in fds {
            let _ = super::sys::set_dscp(fd, dscp);
        }
    }

    /// Connections open (or opening) now.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    fn token(&self, id: ConnId) -> Token {
        Token(self.token_base + id.slot())
    }

    /// Accept every waiting connection (on the TLS listening socket with
    /// `tls`); the table admits it or it is
    /// closed at once (counted). `side_of` tells a peer's side (its address:
    /// a TCP peer cannot forge it, see the table's doc).
    pub fn accept(
        &mut self,
        now: Instant,
        registry: &Registry,
        side_of: &dyn Fn(Addr) -> Side,
        tls: bool,
        stats: &mut Stats,
    ) {
        #[cfg(feature = "tls")]
        let fd = match tls {
            true => match self.tls.listener_fd() {
                Some(fd) => fd,
                None => return,
            },
            false => self.listener.as_raw_fd(),
        };
        #[cfg(not(feature = "tls"))]
        let fd = self.listener.as_raw_fd();
        let tls = cfg!(feature = "tls") && tls;
        let group = if tls { "tls" } else { "tcp" };
        loop {
            let (stream, peer) = match super::sys::accept(fd) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: try again on the next event.
                    log::debug!("tcp accept: {e}");
                    stats.bump(group, "accept-failed");
                    return;
                }
            };
            let mut stream = TcpStream::from_std(stream);
            let peer = match peer {
                Ok(peer) => peer,
                Err(why) => {
                    stats.bump(group, why.as_str());
                    continue;
                }
            };
            if !cfg!(feature = "ipv6") && peer.family() == Family::V6 {
                stats.bump("tcp", "ipv6");
                continue;
            }
            let side = side_of(peer);
            if tls && side == Side::Wan {
                // TLS is for the phones (see super::tls).
                stats.bump("tls", "wan-refused");
                continue;
            }
            match self.conns.admit(now, peer, side, Origin::Accepted) {
                Ok(id) if tls && !self.start_server_session(id, stats) => {}
                Ok(id) => {
                    if registry
                        .register(
                            &mut stream,
                            self.token(id),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_err()
                    {
                        self.drop_session(id, None);
                        self.conns.remove(id);
                        stats.bump(group, "register-failed");
                        continue;
                    }
                    self.setup(&stream);
                    stats.bump(group, "accepted");
                    self.socks[id.slot()] = Some(stream);
                }
                Err(why) => {
                    stats.bump(group, why.as_str());
                    drop(stream);
                }
            }
        }
    }

    /// A phone's TLS connection `id` gets a server session (it counts as
    /// connecting until its handshake is over); false (the connection
    /// removed, counted) when there is no certificate to show.
    #[cfg(feature = "tls")]
    fn start_server_session(&mut self, id: ConnId, stats: &mut Stats) -> bool {
        if let Some(c) = self.conns.get_mut(id) {
            c.transport = Transport::Tls;
            c.connecting = true;
        }
        if let Err(why) = self.tls.accept(id.slot()) {
            self.conns.remove(id);
            stats.bump("tls", why);
            return false;
        }
        true
    }

    #[cfg(not(feature = "tls"))]
    fn start_server_session(&mut self, id: ConnId, _: &mut Stats) -> bool {
        self.conns.remove(id);
        false
    }

    fn setup(&self, stream: &TcpStream) {
        let _ = stream.set_nodelay(true);
        if self.dscp != 0 {
            let _ = super::sys::set_dscp(stream.as_raw_fd(), self.dscp);
        }
    }

    /// Read from connection `slot` into its framer and say what is whole.
    /// Call again after [`Tcp::consume`] until it says `Idle`.
    pub fn next_frame(
        &mut self,
        now: Instant,
        slot: usize,
        registry: &Registry,
        stats: &mut Stats,
    ) -> Frame<'_> {
        let Some(id) = self.conns.at(slot) else {
            return Frame::Idle(false);
        };
        let mut more = false;
        for round in 0..=READ_ROUNDS {
            let Some(conn) = self.conns.get_mut(id) else {
                return Frame::Closed;
            };
            match conn.framer.next(now) {
                Ok(Next::Message(_)) => break,
                Ok(Next::Ping) => {
                    // RFC 5626 §4.4.1: a CRLF answers a double-CRLF ping.
                    stats.bump("tcp", "keepalive-ping");
                    if !self.queue(now, id, b"\r\n") {
                        self.close(registry, id, "backlog-full", stats);
                        return Frame::Closed;
                    }
                    continue;
                }
                Ok(Next::Incomplete) => {}
                Err(e) => {
                    self.close(registry, id, e.as_str(), stats);
                    return Frame::Closed;
                }
            }
            if round == READ_ROUNDS {
                more = true;
                break;
            }
            let Some(Some(sock)) = self.socks.get_mut(slot) else {
                return Frame::Idle(false);
            };
            let Some(conn) = self.conns.get_mut(id) else {
                return Frame::Closed;
            };
            let spare = conn.framer.spare();
            if spare.is_empty() {
                // next() reports the error on the next round.
                continue;
            }
            #[cfg(feature = "tls")]
            let got = if conn.transport == Transport::Tls {
                self.tls.read(slot, sock, spare)
            } else {
                read_plain(sock, spare)
            };
            #[cfg(not(feature = "tls"))]
            let got = read_plain(sock, spare);
            let peer = conn.peer;
            if let Got::Data(n) = got {
                conn.framer.filled(n, now);
                self.conns.received(now, id);
            }
            // A handshake that just ended counts as up even when the
            // peer hangs up in the same read.
            self.handshake_over(now, id, stats);
            match got {
                Got::Data(_) => {}
                Got::Blocked => return Frame::Idle(false),
                Got::Eof => {
                    self.close(registry, id, "peer-closed", stats);
                    return Frame::Closed;
                }
                Got::Failed(why) => {
                    log::debug!("{} read from {peer}: {why}", self.group(id));
                    self.close(registry, id, why, stats);
                    return Frame::Closed;
                }
            }
        }
        let Some(conn) = self.conns.get_mut(id) else {
            return Frame::Closed;
        };
        match conn.framer.next(now) {
            Ok(Next::Message(n)) => {
                let (peer, side, transport) = (conn.peer, conn.side, conn.transport);
                Frame::Message {
                    peer,
                    side,
                    transport,
                    data: conn.framer.message(n),
                }
            }
            _ => Frame::Idle(more),
        }
    }

    /// A TLS connection whose handshake just ended is up: counted, its
    /// verified name remembered, and the messages waiting for it sent.
    #[cfg(feature = "tls")]
    fn handshake_over(&mut self, now: Instant, id: ConnId, stats: &mut Stats) {
        let Some(c) = self.conns.get(id) else { return };
        let slot = id.slot();
        if !c.connecting || c.transport != Transport::Tls || self.tls.handshaking(slot) {
            return;
        }
        let peer = c.peer;
        self.conns.connected(now, id);
        self.tls.up(slot, peer);
        stats.bump("tls", "handshake-ok");
        self.write_out(now, id);
    }

    #[cfg(not(feature = "tls"))]
    fn handshake_over(&mut self, _: Instant, _: ConnId, _: &mut Stats) {}

    /// The message [`Tcp::next_frame`] gave, `len` bytes, was handled.
    pub fn consume(&mut self, now: Instant, slot: usize, len: usize) {
        if let Some(id) = self.conns.at(slot) {
            if let Some(c) = self.conns.get_mut(id) {
                c.framer.consume(len, now);
            }
            self.conns.proven(id);
        }
    }

    /// Send `bytes` to `to` over the connection to it on `side` (over
    /// `how.transport`); when there is none, over the one to `or_else` (a
    /// phone's Contact), opening it (without blocking) if need be. False
    /// when it could not be queued (counted).
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        now: Instant,
        registry: &Registry,
        to: Addr,
        or_else: Option<Addr>,
        side: Side,
        how: Stream<'_>,
        bytes: &[u8],
        stats: &mut Stats,
    ) -> bool {
        let transport = how.transport;
        let existing = self
            .conns
            .find(to, side, transport)
            .or_else(|| or_else.and_then(|a| self.conns.find(a, side, transport)));
        let unsent = |peer, status| Unsent {
            peer,
            side,
            transport,
            status,
            bytes: bytes.to_vec(),
        };
        let id = match existing {
            Some(id) => id,
            None => {
                let to = or_else.unwrap_or(to);
                match self.open(now, registry, to, side, how, stats) {
                    Ok(id) => id,
                    Err(status) => {
                        self.unsent.push(unsent(to, status));
                        return false;
                    }
                }
            }
        };
        if !self.queue(now, id, bytes) {
            // Nothing of this message went out: it is handed back like
            // those of a connection that never came up.
            self.unsent
                .push(unsent(to, crate::transport::failed::STATUS));
            self.close(registry, id, "backlog-full", stats);
            return false;
        }
        true
    }

    /// Open a connection to `to`; `Err`: the status line its messages are
    /// answered with.
    fn open(
        &mut self,
        now: Instant,
        registry: &Registry,
        to: Addr,
        side: Side,
        how: Stream<'_>,
        stats: &mut Stats,
    ) -> Result<ConnId, &'static str> {
        let unreachable = crate::transport::failed::STATUS;
        let id = match self.conns.admit(now, to, side, Origin::Opened) {
            Ok(id) => id,
            Err(why) => {
                stats.bump("tcp", why.as_str());
                return Err(unreachable);
            }
        };
        if let Some(c) = self.conns.get_mut(id) {
            c.transport = how.transport;
        }
        let tls = cfg!(feature = "tls") && how.transport == Transport::Tls;
        if tls && side == Side::Lan {
            // sipnat cannot check a phone's certificate: a phone is reached
            // over the connection it opened, or not at all.
            self.conns.remove(id);
            stats.bump("tls", "no-connection-to-phone");
            return Err(unsent_status(Transport::Tls, "no-connection-to-phone"));
        }
        if tls {
            #[cfg(feature = "tls")]
            let started = self.tls.start(id.slot(), to, how.name);
            #[cfg(not(feature = "tls"))]
            let started: Result<(), &str> = Err("not-built");
            if let Err(why) = started {
                self.conns.remove(id);
                stats.bump("tls", why);
                return Err(unsent_status(Transport::Tls, why));
            }
        }
        // From the listening port, so the peer's requests toward our
        // Via/Record-Route (`<our address>:sip_listen_port;transport=tcp`)
        // find this connection, at the peer (which looks connections up by
        // address, RFC 5923 §1) and at a stateful firewall in front of the
        // router alike. Its four-tuple may still be in TIME_WAIT from the
        // last connection: then from an ephemeral port.
        let stream = match super::sys::tcp_connect_from(self.stack, self.port, to) {
            Ok(s) => Ok(TcpStream::from_std(s)),
            Err(e) => {
                log::debug!("tcp connect to {to} from port {}: {e}", self.port);
                stats.bump("tcp", "connect-ephemeral");
                // A socket of the address's own family (AF_INET for IPv4,
                // whatever `bindv6only` says).
                TcpStream::connect(to.to_std())
            }
        };
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log::debug!("tcp connect to {to}: {e}");
                self.drop_session(id, None);
                self.conns.remove(id);
                stats.bump("tcp", "connect-failed");
                return Err(unreachable);
            }
        };
        if registry
            .register(
                &mut stream,
                self.token(id),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            self.drop_session(id, None);
            self.conns.remove(id);
            stats.bump("tcp", "register-failed");
            return Err(unreachable);
        }
        self.setup(&stream);
        stats.bump(self.group(id), "opened");
        self.socks[id.slot()] = Some(stream);
        Ok(id)
    }

    /// The TLS session of connection `id` ends (with a close_notify on
    /// `sock` when it was up).
    #[cfg(feature = "tls")]
    fn drop_session(&mut self, id: ConnId, sock: Option<&mut TcpStream>) {
        self.tls.end(id.slot(), sock);
    }

    #[cfg(not(feature = "tls"))]
    fn drop_session(&mut self, _: ConnId, _: Option<&mut TcpStream>) {}

    /// Append to the connection's backlog and write what the socket takes.
    /// False when the backlog would pass [`MAX_TCP_BACKLOG`] (the caller
    /// closes the connection, which counts it).
    fn queue(&mut self, now: Instant, id: ConnId, bytes: &[u8]) -> bool {
        let q = &mut self.backlog[id.slot()];
        if q.len() + bytes.len() > MAX_TCP_BACKLOG {
            return false;
        }
        q.extend(bytes);
        self.write_out(now, id);
        true
    }

    /// Write as much of the backlog as the socket takes now (nothing while
    /// a connect is in progress).
    fn write_out(&mut self, now: Instant, id: ConnId) {
        if self.conns.get(id).is_none_or(|c| c.connecting) {
            return;
        }
        let slot = id.slot();
        let (Some(Some(sock)), Some(q)) = (self.socks.get_mut(slot), self.backlog.get_mut(slot))
        else {
            return;
        };
        let mut wrote = false;
        #[cfg(feature = "tls")]
        if self.tls.is_tls(slot) {
            // Records left from before, then the plaintext as records.
            wrote |= self.tls.flush(slot, sock);
            while !q.is_empty() {
                let (front, _) = q.as_slices();
                match self.tls.write(slot, front) {
                    0 => break,
                    n => drop(q.drain(..n)),
                }
            }
            wrote |= self.tls.flush(slot, sock);
            if wrote {
                self.conns.sent(now, id);
            }
            return;
        }
        while !q.is_empty() {
            let (front, _) = q.as_slices();
            match sock.write(front) {
                Ok(0) => break,
                Ok(n) => {
                    q.drain(..n);
                    wrote = true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // WouldBlock: a writable event comes; an error: the next
                // read sees it and closes the connection.
                Err(_) => break,
            }
        }
        if wrote {
            self.conns.sent(now, id);
        }
    }

    /// A writable event on `slot`: a connect completed (or failed), or the
    /// socket takes more of the backlog.
    pub fn writable(&mut self, now: Instant, slot: usize, registry: &Registry, stats: &mut Stats) {
        let Some(id) = self.conns.at(slot) else {
            return;
        };
        if self.conns.get(id).is_some_and(|c| c.connecting) {
            let Some(Some(sock)) = self.socks.get(slot) else {
                return;
            };
            match (sock.take_error(), sock.peer_addr()) {
                #[cfg(feature = "tls")]
                (Ok(None), Ok(_)) if self.tls.handshaking(slot) => {
                    // TCP is up: the handshake's first flight goes out;
                    // the connection is up when the handshake is over.
                    if let Some(Some(sock)) = self.socks.get_mut(slot) {
                        self.tls.flush(slot, sock);
                    }
                    return;
                }
                (Ok(None), Ok(_)) => {
                    self.conns.connected(now, id);
                    stats.bump("tcp", "connected");
                }
                (Ok(None), Err(e)) if e.kind() == ErrorKind::NotConnected => return,
                _ => {
                    self.close(registry, id, "connect-failed", stats);
                    return;
                }
            }
        }
        self.write_out(now, id);
    }

    /// Close connection `id` (counted as `tcp.<why>`, or `tls.<why>`);
    /// what it still had to send is lost.
    fn close(&mut self, registry: &Registry, id: ConnId, why: &'static str, stats: &mut Stats) {
        let slot = id.slot();
        let group = self.group(id);
        let mut sock = self.socks.get_mut(slot).and_then(Option::take);
        self.drop_session(id, sock.as_mut());
        if let Some(s) = sock.as_mut() {
            let _ = registry.deregister(s);
        }
        let never_up = self.conns.get(id).filter(|c| c.connecting);
        let (peer, side, transport) = never_up.map_or((None, Side::Wan, Transport::Tcp), |c| {
            (Some(c.peer), c.side, c.transport)
        });
        if let Some(q) = self.backlog.get_mut(slot) {
            if !q.is_empty() {
                stats.bump(group, "closed-with-backlog");
            }
            let q = std::mem::take(q);
            // Nothing of it was written: whole messages, for the daemon.
            if let Some(peer) = peer.filter(|_| !q.is_empty()) {
                self.unsent.push(Unsent {
                    peer,
                    side,
                    transport,
                    status: unsent_status(transport, why),
                    bytes: Vec::from(q),
                });
            }
        }
        // Not by our own idle timer: a lost connection to a provider.
        #[cfg(feature = "tls")]
        if why != "idle" && !self.conns.lost(Instant::now(), id) {
            stats.bump(group, "redial-table-full");
        }
        self.conns.remove(id);
        stats.bump(group, why);
    }

    /// The messages that never went out, since the last call (see the
    /// module doc).
    pub fn take_unsent(&mut self) -> Vec<Unsent> {
        std::mem::take(&mut self.unsent)
    }

    /// Whether [`Tcp::take_unsent`] has something.
    pub fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// When [`Tcp::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns.poll_timeout()
    }

    /// Close what the timers say (idle, connect timeout, slow or silent
    /// peers) and send the keep-alives that are due.
    pub fn handle_timeout(&mut self, now: Instant, registry: &Registry, stats: &mut Stats) {
        let mut due = heapless::Vec::new();
        loop {
            self.conns.poll(now, &mut due);
            if due.is_empty() {
                return;
            }
            for d in due.iter() {
                match *d {
                    Due::Close(id, why) => self.close(registry, id, why.as_str(), stats),
                    #[cfg(feature = "tls")]
                    Due::Redial(peer, side, transport) => {
                        stats.bump("tls", "redial");
                        let how = Stream {
                            transport,
                            name: "",
                        };
                        let _ = self.open(now, registry, peer, side, how, stats);
                    }
                    Due::Keepalive(id) => {
                        stats.bump("tcp", "keepalive-sent");
                        if !self.queue(now, id, b"\r\n") {
                            self.close(registry, id, "backlog-full", stats);
                        }
                    }
                }
            }
            if due.len() < due.capacity() {
                return;
            }
        }
    }
}

fn listener_port(l: &TcpListener) -> Result<u16, String> {
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("TCP listener: {e}"))
}

/// The connection timers a configuration asks for (siproxd's `tcp_*`).
pub fn timers(cfg: &crate::config::Config) -> Timers {
    Timers {
        idle: std::time::Duration::from_secs(u64::from(cfg.tcp_timeout)),
        connect: std::time::Duration::from_millis(u64::from(cfg.tcp_connect_timeout)),
        keepalive: (cfg.tcp_keepalive > 0)
            .then(|| std::time::Duration::from_secs(u64::from(cfg.tcp_keepalive))),
    }
}

mod read;
pub use read::{Frame, Stream, Unsent};
use read::{Got, read_plain, unsent_status};

#[cfg(test)]
mod tests;
