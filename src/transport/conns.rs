//! The table of stream connections (SIP over TCP), sans-IO: which peer each
//! connection goes to, on which side, in which phase, its receive buffer
//! ([`Framer`]) and its timers. The driver owns the sockets, one per slot;
//! this table decides who gets a slot, which connection a message to a peer
//! reuses, and when a connection must go.
//!
//! # Admission (a fixed table; the WAN is hostile)
//! At most [`MAX_TCP_CONNECTIONS`]. Connections accepted from the WAN may
//! hold at most [`MAX_TCP_WAN_INBOUND`] of them, at most
//! [`MAX_TCP_PER_WAN_HOST`] per source host (an IPv4 address, or an IPv6
//! /64: [`SourceKey`]); a LAN host at most [`MAX_TCP_PER_LAN_HOST`]. The rest is always there for the LAN and for
//! the connections sipnat opens itself (toward a provider, for its phones).
//! A connection that does not fit is refused (the driver closes it at once)
//! and counted; no connection is ever evicted to make room.
//!
//! The side of a TCP connection is its peer's address (in a LAN network or
//! loopback: the LAN). Unlike a UDP datagram, a TCP connection cannot be
//! opened with a forged source address: the three-way handshake needs the
//! peer to receive sipnat's SYN-ACK at that address.
//!
//! # Timers (siproxd's options, same meanings)
//! * `tcp_timeout` (s): a connection with no traffic either way for that
//!   long is closed.
//! * `tcp_connect_timeout` (ms): a connect that has not completed by then
//!   fails; a TLS connection (either way) has at least [`TLS_CONNECT`] for
//!   its connect and handshake.
//! * A TLS connection sipnat opened keeps itself alive every
//!   [`TLS_KEEPALIVE`] when `tcp_keepalive` is 0: the provider's calls for
//!   the phones come back over it (RFC 5626 §3.5.1 flow), and providers
//!   close idle connections (kamailio after 120 s by default).
//! * A TLS connection sipnat opened that was up and went down (closed by
//!   the provider, broken) is opened again ([`Due::Redial`]) after 1 s,
//!   then 2, 4, … 512 s while it fails, at most [`REDIAL_ATTEMPTS`] times:
//!   the phones' calls come back over it, and it leaves from the same port,
//!   so the provider's bindings name it again. One schedule per provider,
//!   at most [`MAX_REDIAL`]; a connection to it opened meanwhile (a phone's
//!   request) ends the schedule once it is up.
//! * `tcp_keepalive` (s, 0 = off): a CRLF is sent on a connection every that
//!   many seconds (RFC 5626 §4.4.1 style; a CRLF between messages is always
//!   allowed, RFC 3261 §7.5).
//! * A message must arrive whole within [`MESSAGE_DEADLINE`](super::framer::MESSAGE_DEADLINE) of its first byte,
//!   and a connection accepted from the WAN must bring its first message
//!   within [`FIRST_MESSAGE`]: slow senders and silent connections cannot
//!   hold a slot for `tcp_timeout`.
//!
//! # What it does not do
//! No sockets and no clock (every call takes `now`); no SIP beyond framing.

use super::framer::Framer;
use crate::limits::{
    MAX_TCP_CONNECTIONS, MAX_TCP_PER_LAN_HOST, MAX_TCP_PER_WAN_HOST, MAX_TCP_WAN_INBOUND,
};
use crate::net::{Addr, SourceKey};
use crate::side::Side;
use crate::transport::Transport;
use std::time::{Duration, Instant};

/// A connection accepted from the WAN must deliver a whole first message
/// within this long (a SIP peer that connects sends at once).
pub const FIRST_MESSAGE: Duration = Duration::from_secs(10);

/// Providers whose lost TLS connection is being opened again.
pub const MAX_REDIAL: usize = 4;
/// Attempts to open a lost TLS connection again (1 s … 512 s apart).
pub const REDIAL_ATTEMPTS: u8 = 10;

/// What a TLS connection has to come up (connect and handshake) when
/// `tcp_connect_timeout` is shorter: a handshake is two round trips more,
/// and a router's CPU does its key exchange in tens of milliseconds.
pub const TLS_CONNECT: Duration = Duration::from_secs(3);

/// Keep-alive period of a TLS connection sipnat opened, when
/// `tcp_keepalive` sets none (RFC 5626 §4.4.1 suggests 95–120 s for
/// connections; a little less than kamailio's default idle lifetime).
pub const TLS_KEEPALIVE: Duration = Duration::from_secs(90);

/// A connection's handle: the slot and the slot's generation, so a handle
/// kept after the connection closed never reaches the slot's next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    slot: u16,
    generation: u16,
}

impl ConnId {
    /// The slot: the driver's index of the connection's socket.
    pub fn slot(self) -> usize {
        usize::from(self.slot)
    }
}

/// Who opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Accepted on sipnat's listening socket.
    Accepted,
    /// Opened by sipnat toward the peer.
    Opened,
}

/// Why a connection was refused or closed (counted, shown in the status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Refused: the table is full.
    TableFull,
    /// Refused: the WAN share of the table is full.
    WanShareFull,
    /// Refused: this host has its quota of connections.
    HostQuota,
    /// No traffic for `tcp_timeout`.
    Idle,
    /// The connect did not complete within `tcp_connect_timeout`.
    ConnectTimeout,
    /// A message took longer than [`MESSAGE_DEADLINE`](super::framer::MESSAGE_DEADLINE) to arrive.
    SlowMessage,
    /// A WAN connection sent no whole message within [`FIRST_MESSAGE`].
    NoFirstMessage,
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::TableFull => "table-full",
            Closed::WanShareFull => "wan-share-full",
            Closed::HostQuota => "host-quota",
            Closed::Idle => "idle",
            Closed::ConnectTimeout => "connect-timeout",
            Closed::SlowMessage => "slow-message",
            Closed::NoFirstMessage => "no-first-message",
        }
    }
}

/// The timers of [`Conns`] (from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    pub idle: Duration,
    pub connect: Duration,
    /// `None`: no keep-alives.
    pub keepalive: Option<Duration>,
}

/// One connection.
pub struct Conn {
    pub peer: Addr,
    pub side: Side,
    pub origin: Origin,
    /// TCP, or TLS over it (the driver adds the record layer).
    pub transport: Transport,
    /// A connect in progress (sipnat opened it and it is not up yet; over
    /// TLS, until the handshake is over: the connect timeout bounds both).
    pub connecting: bool,
    /// The receive buffer.
    pub framer: Framer,
    opened_at: Instant,
    last_traffic: Instant,
    last_sent: Instant,
    /// A whole message has arrived on it.
    proven: bool,
}

struct Slot {
    generation: u16,
    conn: Option<Conn>,
}

/// What [`Conns::poll`] asks of the driver for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Close it (and count why).
    Close(ConnId, Closed),
    /// Send a keep-alive CRLF on it.
    Keepalive(ConnId),
    /// Open again the lost connection to this peer, on this side, over
    /// this transport (TLS).
    #[cfg(feature = "tls")]
    Redial(Addr, Side, Transport),
}

/// A lost connection to open again.
#[cfg(feature = "tls")]
struct Redial {
    peer: Addr,
    side: Side,
    transport: Transport,
    attempts: u8,
    at: Instant,
}

/// The connection table. See the module doc.
pub struct Conns {
    slots: Box<[Slot]>,
    timers: Timers,
    #[cfg(feature = "tls")]
    redial: heapless::Vec<Redial, MAX_REDIAL>,
}

impl Conns {
    pub fn new(timers: Timers) -> Conns {
        let slots = (0..MAX_TCP_CONNECTIONS)
            .map(|_| Slot {
                generation: 0,
                conn: None,
            })
            .collect();
        Conns {
            slots,
            timers,
            #[cfg(feature = "tls")]
            redial: heapless::Vec::new(),
        }
    }

    /// New timers (a reload); connections keep going under them.
    pub fn set_timers(&mut self, timers: Timers) {
        self.timers = timers;
    }

    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.conn.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn id(&self, slot: usize) -> Option<ConnId> {
        let s = self.slots.get(slot)?;
        s.conn.as_ref()?;
        Some(ConnId {
            // Cannot truncate: MAX_TCP_CONNECTIONS fits a u16 (limits.rs).
            slot: slot as u16,
            generation: s.generation,
        })
    }

    pub fn get(&self, id: ConnId) -> Option<&Conn> {
        let s = self.slots.get(id.slot())?;
        (s.generation == id.generation).then_some(())?;
        s.conn.as_ref()
    }

    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let s = self.slots.get_mut(id.slot())?;
        (s.generation == id.generation).then_some(())?;
        s.conn.as_mut()
    }

    /// The live connection in `slot` (the driver's socket index).
    pub fn at(&self, slot: usize) -> Option<ConnId> {
        self.id(slot)
    }

    /// Take a new connection to or from `peer` on `side`, if it fits.
    pub fn admit(
        &mut self,
        now: Instant,
        peer: Addr,
        side: Side,
        origin: Origin,
    ) -> Result<ConnId, Closed> {
        let live = || self.slots.iter().filter_map(|s| s.conn.as_ref());
        let host = SourceKey::of(peer.ip());
        let same_host = live()
            .filter(|c| SourceKey::of(c.peer.ip()) == host)
            .count();
        let quota = match side {
            Side::Lan => MAX_TCP_PER_LAN_HOST,
            Side::Wan => MAX_TCP_PER_WAN_HOST,
        };
        if origin == Origin::Accepted {
            if same_host >= quota {
                return Err(Closed::HostQuota);
            }
            if side == Side::Wan {
                let wan_in = live()
                    .filter(|c| c.side == Side::Wan && c.origin == Origin::Accepted)
                    .count();
                if wan_in >= MAX_TCP_WAN_INBOUND {
                    return Err(Closed::WanShareFull);
                }
            }
        }
        let Some(slot) = self.slots.iter().position(|s| s.conn.is_none()) else {
            return Err(Closed::TableFull);
        };
        let s = &mut self.slots[slot];
        s.conn = Some(Conn {
            peer,
            side,
            origin,
            transport: Transport::Tcp,
            connecting: origin == Origin::Opened,
            framer: Framer::new(),
            opened_at: now,
            last_traffic: now,
            last_sent: now,
            proven: false,
        });
        Ok(ConnId {
            // Cannot truncate: see `id`.
            slot: slot as u16,
            generation: s.generation,
        })
    }

    /// The open (or opening) connection to `peer` on `side` over
    /// `transport`, to reuse.
    pub fn find(&self, peer: Addr, side: Side, transport: Transport) -> Option<ConnId> {
        let slot = self.slots.iter().position(|s| {
            s.conn
                .as_ref()
                .is_some_and(|c| c.peer == peer && c.side == side && c.transport == transport)
        })?;
        self.id(slot)
    }

    /// The connection is gone (closed by either end, or refused); stale ids
    /// are ignored.
    pub fn remove(&mut self, id: ConnId) {
        if let Some(s) = self.slots.get_mut(id.slot()) {
            if s.generation == id.generation && s.conn.take().is_some() {
                s.generation = s.generation.wrapping_add(1);
            }
        }
    }

    /// A connect completed (over TLS: the handshake too); a schedule to
    /// open the connection to the peer again is over.
    pub fn connected(&mut self, now: Instant, id: ConnId) {
        if let Some(c) = self.get_mut(id) {
            c.connecting = false;
            c.last_traffic = now;
            #[cfg(feature = "tls")]
            {
                let (peer, transport) = (c.peer, c.transport);
                self.redial
                    .retain(|r| r.peer != peer || r.transport != transport);
            }
        }
    }

    /// Connection `id`, still in the table, went down (not by sipnat's own
    /// timers): a TLS connection sipnat opened toward the WAN that was up
    /// is to be opened again (see the module doc). False when no room is
    /// left for that (counted by the caller).
    #[cfg(feature = "tls")]
    pub fn lost(&mut self, now: Instant, id: ConnId) -> bool {
        let Some(c) = self.get(id) else { return true };
        let wanted = c.origin == Origin::Opened
            && c.side == Side::Wan
            && c.transport == Transport::Tls
            && !c.connecting;
        if !wanted || self.redial.iter().any(|r| r.peer == c.peer) {
            return true;
        }
        let r = Redial {
            peer: c.peer,
            side: c.side,
            transport: c.transport,
            attempts: 0,
            at: now + Duration::from_secs(1),
        };
        self.redial.push(r).is_ok()
    }

    /// Bytes arrived (they are in the framer).
    pub fn received(&mut self, now: Instant, id: ConnId) {
        if let Some(c) = self.get_mut(id) {
            c.last_traffic = now;
        }
    }

    /// A whole message arrived: the connection is a SIP peer.
    pub fn proven(&mut self, id: ConnId) {
        if let Some(c) = self.get_mut(id) {
            c.proven = true;
        }
    }

    /// Bytes were sent.
    pub fn sent(&mut self, now: Instant, id: ConnId) {
        if let Some(c) = self.get_mut(id) {
            c.last_traffic = now;
            c.last_sent = now;
        }
    }

    /// When [`Conns::poll`] has something to do next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let due = self
            .slots
            .iter()
            .filter_map(|s| s.conn.as_ref())
            .filter_map(|c| self.next_due(c))
            .min();
        #[cfg(feature = "tls")]
        let due = due
            .into_iter()
            .chain(self.redial.iter().map(|r| r.at))
            .min();
        due
    }

    fn next_due(&self, c: &Conn) -> Option<Instant> {
        let t = &self.timers;
        let mut due = c.last_traffic.checked_add(t.idle);
        let mut at = |x: Option<Instant>| {
            if let Some(x) = x {
                due = Some(due.map_or(x, |d| d.min(x)));
            }
        };
        if c.connecting {
            at(c.opened_at.checked_add(connect_allowance(t, c)));
        }
        at(c.framer.deadline());
        if c.origin == Origin::Accepted && c.side == Side::Wan && !c.proven {
            at(c.opened_at.checked_add(FIRST_MESSAGE));
        }
        if let Some(k) = keepalive(t, c).filter(|_| !c.connecting) {
            at(c.last_sent.checked_add(k));
        }
        due
    }

    /// Everything due at `now`, at most `out.len()` items (call again while
    /// it fills `out`). A keep-alive counts as sent once reported.
    pub fn poll(&mut self, now: Instant, out: &mut heapless::Vec<Due, 16>) {
        out.clear();
        #[cfg(feature = "tls")]
        self.poll_redial(now, out);
        let t = self.timers;
        for slot in 0..self.slots.len() {
            let Some(id) = self.id(slot) else { continue };
            let Some(c) = self.slots[slot].conn.as_mut() else {
                continue;
            };
            let past = |x: Option<Instant>| x.is_some_and(|x| now >= x);
            let close = if c.connecting && past(c.opened_at.checked_add(connect_allowance(&t, c))) {
                Some(Closed::ConnectTimeout)
            } else if past(c.framer.deadline()) {
                Some(Closed::SlowMessage)
            } else if c.origin == Origin::Accepted
                && c.side == Side::Wan
                && !c.proven
                && past(c.opened_at.checked_add(FIRST_MESSAGE))
            {
                Some(Closed::NoFirstMessage)
            } else if past(c.last_traffic.checked_add(t.idle)) {
                Some(Closed::Idle)
            } else {
                None
            };
            let item = match close {
                Some(why) => Due::Close(id, why),
                None => match keepalive(&t, c) {
                    Some(k) if !c.connecting && past(c.last_sent.checked_add(k)) => {
                        Due::Keepalive(id)
                    }
                    _ => continue,
                },
            };
            if out.push(item).is_err() {
                return;
            }
            if item == Due::Keepalive(id) {
                c.last_sent = now;
            }
        }
    }
}

impl Conns {
    /// The lost connections due to be opened again (one attempt each; the
    /// next one 2^attempts s later, the last one ends the schedule). One
    /// that is being opened already waits for its outcome.
    #[cfg(feature = "tls")]
    fn poll_redial(&mut self, now: Instant, out: &mut heapless::Vec<Due, 16>) {
        let mut k = 0;
        while k < self.redial.len() {
            let r = &self.redial[k];
            let (peer, transport) = (r.peer, r.transport);
            if r.at > now {
                k += 1;
                continue;
            }
            let open = self.slots.iter().filter_map(|s| s.conn.as_ref());
            let busy = open
                .into_iter()
                .any(|c| c.peer == peer && c.transport == transport);
            let r = &mut self.redial[k];
            r.at = now + Duration::from_secs(1 << r.attempts.min(9));
            if busy {
                k += 1;
                continue;
            }
            if out.push(Due::Redial(peer, r.side, transport)).is_err() {
                return;
            }
            r.attempts += 1;
            if r.attempts >= REDIAL_ATTEMPTS {
                self.redial.swap_remove(k);
            } else {
                k += 1;
            }
        }
    }
}

/// How long `c` has to come up: `tcp_connect_timeout`, at least
/// [`TLS_CONNECT`] over TLS (either way: a phone's handshake too).
fn connect_allowance(t: &Timers, c: &Conn) -> Duration {
    match c.transport {
        Transport::Tls if cfg!(feature = "tls") => t.connect.max(TLS_CONNECT),
        _ => t.connect,
    }
}

/// The keep-alive period of `c`: `tcp_keepalive`, else [`TLS_KEEPALIVE`]
/// for a TLS connection sipnat opened.
fn keepalive(t: &Timers, c: &Conn) -> Option<Duration> {
    let tls_out =
        cfg!(feature = "tls") && c.transport == Transport::Tls && c.origin == Origin::Opened;
    t.keepalive.or(tls_out.then_some(TLS_KEEPALIVE))
}

#[cfg(test)]
mod tests;
