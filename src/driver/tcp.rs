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
//! What it does not do: TLS (a later transport on the same table).

use super::sys::Stack;
use crate::limits::{MAX_TCP_BACKLOG, MAX_TCP_CONNECTIONS};
use crate::net::{Addr, Family};
use crate::side::Side;
use crate::stats::Stats;
use crate::transport::conns::{ConnId, Conns, Due, Origin, Timers};
use crate::transport::framer::Next;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// Reads of one connection per pass of the loop (each up to the framer's
/// free space): then the others, UDP and RTP get their turn.
pub const READ_ROUNDS: usize = 8;

/// What the daemon takes out of a connection.
pub enum Frame<'a> {
    /// A whole SIP message, to parse in place; then [`Tcp::consume`] it.
    Message {
        peer: Addr,
        side: Side,
        data: &'a mut [u8],
    },
    /// Nothing (more) whole; `true`: the socket may have more to read.
    Idle(bool),
    /// The connection is gone (and counted).
    Closed,
}

/// Whole messages that never went out: what a connection that never came
/// up was to carry, or one that would have overfilled a backlog.
pub struct Unsent {
    pub peer: Addr,
    pub side: Side,
    pub bytes: Vec<u8>,
}

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
            token_base,
            port,
            stack,
        })
    }

    /// The listening socket, to hand to the unprivileged user with the
    /// port it shares (see [`super::sys::drop_privileges`]).
    pub fn listener_fd(&self) -> std::os::fd::RawFd {
        self.listener.as_raw_fd()
    }

    pub fn set_timers(&mut self, timers: Timers) {
        self.conns.set_timers(timers);
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

    /// Accept every waiting connection; the table admits it or it is
    /// closed at once (counted). `side_of` tells a peer's side (its address:
    /// a TCP peer cannot forge it, see the table's doc).
    pub fn accept(
        &mut self,
        now: Instant,
        registry: &Registry,
        side_of: &dyn Fn(Addr) -> Side,
        stats: &mut Stats,
    ) {
        loop {
            let (stream, peer) = match super::sys::accept(self.listener.as_raw_fd()) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: try again on the next event.
                    log::debug!("tcp accept: {e}");
                    stats.bump("tcp", "accept-failed");
                    return;
                }
            };
            let mut stream = TcpStream::from_std(stream);
            let peer = match peer {
                Ok(peer) => peer,
                Err(why) => {
                    stats.bump("tcp", why.as_str());
                    continue;
                }
            };
            if !cfg!(feature = "ipv6") && peer.family() == Family::V6 {
                stats.bump("tcp", "ipv6");
                continue;
            }
            let side = side_of(peer);
            match self.conns.admit(now, peer, side, Origin::Accepted) {
                Ok(id) => {
                    if registry
                        .register(
                            &mut stream,
                            self.token(id),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_err()
                    {
                        self.conns.remove(id);
                        stats.bump("tcp", "register-failed");
                        continue;
                    }
                    self.setup(&stream);
                    stats.bump("tcp", "accepted");
                    self.socks[id.slot()] = Some(stream);
                }
                Err(why) => {
                    stats.bump("tcp", why.as_str());
                    drop(stream);
                }
            }
        }
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
            match sock.read(spare) {
                Ok(0) => {
                    self.close(registry, id, "peer-closed", stats);
                    return Frame::Closed;
                }
                Ok(n) => {
                    conn.framer.filled(n, now);
                    self.conns.received(now, id);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Frame::Idle(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("tcp read from {}: {e}", conn.peer);
                    self.close(registry, id, "read-error", stats);
                    return Frame::Closed;
                }
            }
        }
        let Some(conn) = self.conns.get_mut(id) else {
            return Frame::Closed;
        };
        match conn.framer.next(now) {
            Ok(Next::Message(n)) => {
                let (peer, side) = (conn.peer, conn.side);
                Frame::Message {
                    peer,
                    side,
                    data: conn.framer.message(n),
                }
            }
            _ => Frame::Idle(more),
        }
    }

    /// The message [`Tcp::next_frame`] gave, `len` bytes, was handled.
    pub fn consume(&mut self, now: Instant, slot: usize, len: usize) {
        if let Some(id) = self.conns.at(slot) {
            if let Some(c) = self.conns.get_mut(id) {
                c.framer.consume(len, now);
            }
            self.conns.proven(id);
        }
    }

    /// Send `bytes` to `to` over the connection to it on `side`; when there
    /// is none, over the one to `or_else` (a phone's Contact), opening it
    /// (without blocking) if need be. False when it could not be queued
    /// (counted).
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        now: Instant,
        registry: &Registry,
        to: Addr,
        or_else: Option<Addr>,
        side: Side,
        bytes: &[u8],
        stats: &mut Stats,
    ) -> bool {
        let existing = self
            .conns
            .find(to, side)
            .or_else(|| or_else.and_then(|a| self.conns.find(a, side)));
        let id = match existing {
            Some(id) => id,
            None => {
                let to = or_else.unwrap_or(to);
                match self.open(now, registry, to, side, stats) {
                    Some(id) => id,
                    None => {
                        self.unsent.push(Unsent {
                            peer: to,
                            side,
                            bytes: bytes.to_vec(),
                        });
                        return false;
                    }
                }
            }
        };
        if !self.queue(now, id, bytes) {
            // Nothing of this message went out: it is handed back like
            // those of a connection that never came up.
            self.unsent.push(Unsent {
                peer: to,
                side,
                bytes: bytes.to_vec(),
            });
            self.close(registry, id, "backlog-full", stats);
            return false;
        }
        true
    }

    fn open(
        &mut self,
        now: Instant,
        registry: &Registry,
        to: Addr,
        side: Side,
        stats: &mut Stats,
    ) -> Option<ConnId> {
        let id = match self.conns.admit(now, to, side, Origin::Opened) {
            Ok(id) => id,
            Err(why) => {
                stats.bump("tcp", why.as_str());
                return None;
            }
        };
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
                self.conns.remove(id);
                stats.bump("tcp", "connect-failed");
                return None;
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
            self.conns.remove(id);
            stats.bump("tcp", "register-failed");
            return None;
        }
        self.setup(&stream);
        stats.bump("tcp", "opened");
        self.socks[id.slot()] = Some(stream);
        Some(id)
    }

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

    /// Close connection `id` (counted as `tcp.<why>`); what it still had to
    /// send is lost.
    fn close(&mut self, registry: &Registry, id: ConnId, why: &'static str, stats: &mut Stats) {
        let slot = id.slot();
        if let Some(mut s) = self.socks.get_mut(slot).and_then(Option::take) {
            let _ = registry.deregister(&mut s);
        }
        let never_up = self.conns.get(id).filter(|c| c.connecting);
        let (peer, side) = never_up.map_or((None, Side::Wan), |c| (Some(c.peer), c.side));
        if let Some(q) = self.backlog.get_mut(slot) {
            if !q.is_empty() {
                stats.bump("tcp", "closed-with-backlog");
            }
            let q = std::mem::take(q);
            // Nothing of it was written: whole messages, for the daemon.
            if let Some(peer) = peer.filter(|_| !q.is_empty()) {
                self.unsent.push(Unsent {
                    peer,
                    side,
                    bytes: Vec::from(q),
                });
            }
        }
        self.conns.remove(id);
        stats.bump("tcp", why);
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

#[cfg(test)]
mod tests {
    use super::*;
    use mio::Poll;
    use std::time::Duration;

    fn timers() -> Timers {
        Timers {
            idle: Duration::from_secs(300),
            connect: Duration::from_millis(500),
            keepalive: None,
        }
    }

    /// A table listening on a free port of every address (dual-stack with
    /// the `ipv6` feature), and that port.
    fn listening(poll: &Poll) -> (Tcp, u16) {
        let stack = Stack::wanted();
        let tcp = Tcp::new(stack, 0, Token(0), 10, poll.registry(), timers(), 0).unwrap();
        let port = tcp.listener.local_addr().unwrap().port();
        (tcp, port)
    }

    fn v4(s: std::net::SocketAddr) -> Addr {
        let std::net::SocketAddr::V4(a) = s else {
            panic!("IPv4 loopback");
        };
        Addr::V4(a)
    }

    /// A peer that never reads: sipnat writes until the socket takes no
    /// more, queues up to [`MAX_TCP_BACKLOG`], then closes the connection
    /// and counts it once (it was counted twice: by the queue and by the
    /// close).
    #[test]
    fn a_peer_that_never_reads_is_closed_and_counted_once() {
        let poll = Poll::new().unwrap();
        let (mut tcp, port) = listening(&poll);
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        // The peer as the table knows it: IPv4, not the dual-stack socket's
        // mapped form (the send below finds the connection by it).
        let peer = v4(client.local_addr().unwrap());
        let mut stats = Stats::new();
        let now = Instant::now();
        tcp.accept(now, poll.registry(), &|_| Side::Lan, &mut stats);
        assert_eq!((tcp.len(), stats.get("tcp", "accepted")), (1, 1));
        let msg = [b'x'; 1000];
        let mut sent = 0u64;
        while tcp.send(
            now,
            poll.registry(),
            peer,
            None,
            Side::Lan,
            &msg,
            &mut stats,
        ) {
            sent += 1;
            assert!(sent < 1_000_000, "the backlog never filled");
        }
        assert!(tcp.is_empty());
        assert_eq!(stats.get("tcp", "backlog-full"), 1);
        assert_eq!(stats.get("tcp", "closed-with-backlog"), 1);
        // What was queued went out in part: lost like a datagram. The
        // message that did not fit is handed back whole, to be answered.
        let unsent = tcp.take_unsent();
        assert_eq!(unsent.len(), 1);
        assert_eq!((unsent[0].peer, &unsent[0].bytes[..]), (peer, &msg[..]));
        drop(client);
    }

    /// A connection sipnat opens that is refused hands back, whole, what
    /// it was to carry; one that came up and then broke does not.
    #[test]
    fn a_refused_connection_hands_back_its_messages() {
        let mut poll = Poll::new().unwrap();
        let (mut tcp, _) = listening(&poll);
        // A port nobody listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to = v4(closed.local_addr().unwrap());
        drop(closed);
        let mut stats = Stats::new();
        let now = Instant::now();
        for msg in [&b"OPTIONS one"[..], b"OPTIONS two"] {
            // The connect is in progress: both are queued, or it already
            // failed: each is handed back at once.
            let _ = tcp.send(now, poll.registry(), to, None, Side::Wan, msg, &mut stats);
        }
        let mut events = mio::Events::with_capacity(8);
        let end = Instant::now() + Duration::from_secs(5);
        while !tcp.is_empty() && Instant::now() < end {
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            for ev in events.iter() {
                if let Some(slot) = ev.token().0.checked_sub(10) {
                    tcp.writable(Instant::now(), slot, poll.registry(), &mut stats);
                }
            }
        }
        assert!(tcp.is_empty(), "the connect did not fail");
        let unsent: Vec<u8> = tcp
            .take_unsent()
            .into_iter()
            .inspect(|u| assert_eq!((u.peer, u.side), (to, Side::Wan)))
            .flat_map(|u| u.bytes)
            .collect();
        assert_eq!(unsent, b"OPTIONS oneOPTIONS two");
        assert!(!tcp.has_unsent());
    }

    /// A connection sipnat opens leaves from its listening port (so the
    /// peer's requests to sipnat's Via/Record-Route address find it, and a
    /// stateful firewall lets them in), and a message for a peer with no
    /// connection goes to its `or_else` address (a phone's Contact).
    #[test]
    fn connections_leave_from_the_listening_port_and_fall_back_to_or_else() {
        let poll = Poll::new().unwrap();
        let (mut tcp, port) = listening(&poll);
        let phone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let contact = v4(phone.local_addr().unwrap());
        // The address the phone registered from: nothing is connected there.
        let gone: Addr = "127.0.0.1:9".parse().unwrap();
        let mut stats = Stats::new();
        let sent = tcp.send(
            Instant::now(),
            poll.registry(),
            gone,
            Some(contact),
            Side::Lan,
            b"INVITE",
            &mut stats,
        );
        assert!(sent);
        let (_conn, from) = phone.accept().unwrap();
        assert_eq!(from.port(), port, "not from the listening port");
        assert_eq!(stats.get("tcp", "connect-ephemeral"), 0);
        // The next message for the same phone reuses that connection.
        assert!(tcp.send(
            Instant::now(),
            poll.registry(),
            gone,
            Some(contact),
            Side::Lan,
            b"BYE",
            &mut stats,
        ));
        assert_eq!((tcp.len(), stats.get("tcp", "opened")), (1, 1));
    }

    /// IPv4 and IPv6 reach the one dual-stack listener, each with its
    /// canonical address.
    #[cfg(feature = "ipv6")]
    #[test]
    fn the_dual_stack_listener_takes_ipv4_and_ipv6() {
        let poll = Poll::new().unwrap();
        let (mut tcp, port) = listening(&poll);
        let mut stats = Stats::new();
        let sides = std::cell::RefCell::new(Vec::new());
        let six = std::net::TcpStream::connect(("::1", port)).unwrap();
        let four = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let end = Instant::now() + Duration::from_secs(5);
        while stats.get("tcp", "accepted") < 2 {
            assert!(Instant::now() < end, "not both accepted");
            tcp.accept(
                Instant::now(),
                poll.registry(),
                &|peer| {
                    sides.borrow_mut().push(peer);
                    Side::Lan
                },
                &mut stats,
            );
        }
        assert_eq!(stats.get("tcp", "ipv6"), 0);
        let mut got = sides.borrow().clone();
        got.sort_by_key(|a| a.family() == Family::V6);
        let six_addr = crate::net::Addr::from_std(six.local_addr().unwrap()).unwrap();
        assert_eq!(got, [v4(four.local_addr().unwrap()), six_addr]);
    }
}
