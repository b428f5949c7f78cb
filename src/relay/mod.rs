//! The RTP/RTCP relay table and its port pool: for every datagram that
//! arrives on a relay port, decide where it goes ([`Relay::on_packet`] →
//! [`Decision`]).
//!
//! # What it does
//! - Owns the pool of port pairs (RTP on an even port `p`, RTCP on `p + 1`,
//!   RFC 3550 §11) and hands one pair to each *stream* (one `m=` line of a
//!   call). Capacity is fixed at construction from the port list; when every
//!   pair is taken, [`Relay::allocate`] refuses ([`PoolFull`]) and nothing is
//!   evicted (DESIGN.md rule 6).
//! - Keeps, for each stream, two legs: A (the offerer) and B (the answerer),
//!   each with an *expected* address per channel (from its SDP, RFC 4566 `c=`
//!   and `m=`, RTCP from `a=rtcp` (RFC 3605) or port + 1), the IP its
//!   signalling came from, and the *latched* address: the source sipnat has
//!   actually seen and now sends to (symmetric RTP, RFC 4961; "latching",
//!   RFC 7362 §4).
//! - Forwards a packet from one leg to the other leg's current destination:
//!   its latched address if latched, else its expected address.
//! - Counts every packet forwarded or dropped, per stream and in total, in
//!   plain integers ([`RelayTotals`], [`StreamStats`]).
//! - Frees streams silent for `rtp_timeout` ([`Relay::expire`]), except those
//!   on hold.
//!
//! # What it does not do
//! No sockets, no clock (every time-dependent call takes `now`), no parsing:
//! it never looks inside a packet (it does not check RTP headers, SSRCs or
//! sequence numbers, and it does not touch SRTP). It does not read SDP: the
//! signalling layer ([`crate::proxy`]) passes the addresses in ([`LegSetup`]).
//! IPv4 only. It does not allocate after [`Relay::new`], and logs nothing
//! above `trace`.
//!
//! # Sockets and indices
//! The driver binds one UDP socket per relay port, on 0.0.0.0, so one socket
//! serves both the LAN leg and the WAN leg of a stream. Socket *index* `2k`
//! is the RTP port of pair `k`, index `2k + 1` its RTCP port;
//! [`Relay::socket_ports`] yields the port of each index in that order. The
//! driver passes the index of the receiving socket to [`Relay::on_packet`]
//! and sends the unchanged datagram from the same socket.
//!
//! # Latching and the anti-hijack rule ("RTP Bleed")
//! A relay that sends media to whoever sent to its port leaks a call's audio
//! to anyone who sprays the port range, and lets them inject or steal the
//! stream. sipnat decides, per stream and per channel (RTP and RTCP are
//! latched separately), as follows. A leg's *allowed IPs* are the IPs of its
//! expected RTP and RTCP addresses, the IP its SIP signalling came from, and
//! the IP latched on its other channel (RTCP follows the RTP source's IP and
//! vice versa).
//!
//! 1. **Latched source.** A packet from a leg's latched address is forwarded
//!    to the other leg.
//! 2. **Not yet latched.** A packet latches leg X if its source IP is one of
//!    X's allowed IPs, from any port (a NAT may change the port). If X's SDP
//!    address is not publicly routable (RFC 1918, 100.64/10 shared address
//!    space (RFC 6598), 169.254/16 link-local, 127/8 loopback, 0/8) while X is
//!    on the WAN side, X's own NAT hides its real address: then, within
//!    [`LATCH_WINDOW`] after X's address was set (or after the other leg's
//!    address was set, which is when media starts on an incoming call), the
//!    first packet from *any* source may latch X. The window closes as soon as
//!    either channel of X latches.
//! 3. **Which leg?** For a source that is not latched anywhere, each leg that
//!    would accept it is ranked: the exact expected address (ip:port) first,
//!    then an allowed IP on a leg not latched yet, then a take-over of a
//!    latched leg (rule 4), then the window; within a rank, a leg that trusts
//!    the IP strongly (rule 4) before one that trusts it weakly. The best
//!    wins; on a tie (the hairpin case: both phones on the LAN, or both
//!    behind one NAT) the leg whose expected port equals the source port
//!    wins, else leg A. (Both
//!    legs answering to the same IP are symmetric, so a swapped guess still
//!    relays both directions correctly once both have latched.)
//! 4. **Latched, new source.** It may take over leg X if X's latched source
//!    has been silent for at least [`RELATCH_SILENCE`] and the new source's
//!    IP is one of X's allowed IPs or the IP of the old latched address (a NAT
//!    rebinding on the same IP). A *weak* latch (made through the window of
//!    rule 2, or from the IP of the other channel's weak latch) is taken over
//!    at once by a source from one of X's SDP or signalling IPs, so a
//!    stranger who won the window loses both channels as soon as the real
//!    far end shows up from an address the signalling names.
//! 5. **Everything else is dropped** and counted as
//!    [`DropReason::UnknownSource`]: a stranger spraying the port range never
//!    gets media relayed to it, and never steals a stream; its packets do not
//!    keep a stream alive either.
//!
//! The residual risk is the window of rule 2: a stranger who sends to the
//! right port within those seconds, before a far end whose media comes from
//! an IP no SDP or signalling names, keeps the leg until it falls silent. A source that spoofs an allowed IP can inject
//! packets but never receives any (they go to the real address).
//!
//! # Destinations
//! An expected address with IP 0.0.0.0 or port 0 is no destination; a packet
//! with no destination, or whose destination is its own source (a stream
//! pointed at itself would loop), is dropped and counted.
//!
//! # Memory
//! One slot per port pair, at most [`SLOT_BYTES`] bytes each (344 on a
//! 64-bit host), allocated in [`Relay::new`]: siproxd's default pool
//! 7070–7089 (10 streams) takes about 3 KB; a pool of 1000 pairs about
//! 0.3 MB.

use crate::side::Side;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// How long after a WAN leg's (non-public) address is set any source may
/// latch it (rule 2 of the module doc).
pub const LATCH_WINDOW: Duration = Duration::from_secs(3);

/// How long a latched source must be silent before another source may take
/// its leg over (rule 4 of the module doc). At 50 packets/s, 2 s is 100 lost
/// packets: a real source that is still alive never looks silent.
pub const RELATCH_SILENCE: Duration = Duration::from_secs(2);

/// Upper bound of one stream slot's size in bytes (the memory cost of a
/// port pair; a unit test checks the bound).
pub const SLOT_BYTES: usize = 352;

/// A stream's handle: the slot index and the slot's generation, so an id
/// kept after [`Relay::free`] (or expiry) never reaches the slot's next
/// stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId {
    slot: u32,
    generation: u32,
}

/// One side of a stream: A is the offerer, B the answerer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    A,
    B,
}

impl Leg {
    /// The other leg.
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    fn idx(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// RTP or RTCP (the even or odd port of a pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Rtp,
    Rtcp,
}

impl Channel {
    fn idx(self) -> usize {
        match self {
            Channel::Rtp => 0,
            Channel::Rtcp => 1,
        }
    }
}

/// Why a packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The port has no stream (never allocated, freed, or timed out).
    NotAllocated,
    /// The source is neither leg's latched address and may not latch one.
    UnknownSource,
    /// The other leg has no address yet (no answer, or 0.0.0.0).
    NoDestination,
    /// The destination is the packet's own source.
    Loop,
    /// Longer than the driver reads (`driver::sys::RELAY_DATAGRAM`): never
    /// forwarded cut short.
    Oversize,
    /// Arrived on the WAN with a source address of the LAN, loopback or the
    /// router itself: forged (the driver tells, [`crate::side`]).
    ForgedSource,
}

impl DropReason {
    /// Every reason, in [`DropReason::index`] order.
    pub const ALL: [DropReason; 6] = [
        DropReason::NotAllocated,
        DropReason::UnknownSource,
        DropReason::NoDestination,
        DropReason::Loop,
        DropReason::Oversize,
        DropReason::ForgedSource,
    ];

    /// Name for counters and `sipnat status`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotAllocated => "not-allocated",
            DropReason::UnknownSource => "unknown-source",
            DropReason::NoDestination => "no-destination",
            DropReason::Loop => "loop",
            DropReason::Oversize => "oversize",
            DropReason::ForgedSource => "forged-source",
        }
    }

    /// Position in [`DropReason::ALL`] and in the `dropped` arrays.
    pub fn index(self) -> usize {
        match self {
            DropReason::NotAllocated => 0,
            DropReason::UnknownSource => 1,
            DropReason::NoDestination => 2,
            DropReason::Loop => 3,
            DropReason::Oversize => 4,
            DropReason::ForgedSource => 5,
        }
    }
}

/// What the driver does with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send the same bytes from the same socket to this address.
    Forward(SocketAddrV4),
    Drop(DropReason),
}

/// Every port pair is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolFull;

/// A leg's addresses as its SDP and signalling tell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegSetup {
    /// Expected RTP address (`c=` and `m=`); IP 0.0.0.0 = unknown / hold.
    pub rtp: SocketAddrV4,
    /// Expected RTCP address (`a=rtcp`, else RTP port + 1).
    pub rtcp: SocketAddrV4,
    /// Source IP of the SIP message that carried the SDP.
    pub signalling_ip: Option<Ipv4Addr>,
    /// The leg is on the WAN side.
    pub wan: bool,
}

/// Packets and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub packets: u64,
    pub bytes: u64,
}

impl Counts {
    fn add(&mut self, len: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.bytes = self.bytes.wrapping_add(len as u64);
    }
}

/// Counters of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Forwarded packets by the leg they came from (`[A, B]`).
    pub forwarded: [Counts; 2],
    /// Dropped packets by [`DropReason::index`].
    pub dropped: [Counts; DropReason::ALL.len()],
    /// Latches made on this stream (first latches and take-overs).
    pub latches: u32,
}

impl StreamStats {
    pub fn forwarded_from(&self, leg: Leg) -> Counts {
        self.forwarded[leg.idx()]
    }

    pub fn dropped_by(&self, reason: DropReason) -> Counts {
        self.dropped[reason.index()]
    }
}

/// Counters of the whole relay since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayTotals {
    pub forwarded: Counts,
    /// Dropped packets by [`DropReason::index`].
    pub dropped: [Counts; DropReason::ALL.len()],
    /// Latches made (first latches and take-overs).
    pub latches: u64,
    /// Streams handed out, freed by the signalling layer, timed out.
    pub allocated: u64,
    pub freed: u64,
    pub expired: u64,
    /// Allocations refused because the pool was full.
    pub pool_full: u64,
}

impl RelayTotals {
    pub fn dropped_by(&self, reason: DropReason) -> Counts {
        self.dropped[reason.index()]
    }
}

/// The address a channel of a leg is latched to.
#[derive(Debug, Clone, Copy)]
struct Latch {
    addr: SocketAddrV4,
    /// Latched through the window (rule 2), or by the IP of the other
    /// channel's window latch: an allowed IP takes it over at once.
    weak: bool,
    /// Last packet from `addr`.
    last_seen: Instant,
}

/// One channel (RTP or RTCP) of one leg.
#[derive(Debug, Clone, Copy, Default)]
struct Path {
    expected: Option<SocketAddrV4>,
    latched: Option<Latch>,
}

impl Path {
    fn destination(&self) -> Option<SocketAddrV4> {
        self.latched.map(|l| l.addr).or(self.expected)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct LegState {
    paths: [Path; 2],
    signalling_ip: Option<Ipv4Addr>,
    wan: bool,
    /// Until when any source may latch this leg (rule 2).
    window_until: Option<Instant>,
}

/// How far a source IP is allowed for a leg (rule 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    None,
    /// Only as the IP of the other channel's weak latch.
    Weak,
    Strong,
}

/// How well a leg matches an unknown source; lower is better (rule 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Exact,
    AllowedIp,
    TakeOver,
    Window,
}

impl LegState {
    /// Is `ip` one of the allowed IPs of this leg for channel `ch`? An IP
    /// known only from a weak latch of the other channel is weakly allowed.
    fn allows(&self, ch: usize, ip: Ipv4Addr) -> Trust {
        if self.signalling_ip == Some(ip)
            || self
                .paths
                .iter()
                .any(|p| p.expected.is_some_and(|e| *e.ip() == ip))
        {
            return Trust::Strong;
        }
        match self.paths.get(ch ^ 1).and_then(|p| p.latched) {
            Some(l) if *l.addr.ip() == ip && !l.weak => Trust::Strong,
            Some(l) if *l.addr.ip() == ip => Trust::Weak,
            _ => Trust::None,
        }
    }

    /// Needs the window of rule 2: on the WAN with a non-public SDP address.
    fn hidden(&self) -> bool {
        self.wan && self.paths[0].expected.is_some_and(|e| !is_public(*e.ip()))
    }

    fn unlatched(&self) -> bool {
        self.paths.iter().all(|p| p.latched.is_none())
    }

    /// Whether, and how well, this leg may take `from` on channel `ch`
    /// (`from` is not this channel's latched address), and whether the
    /// latch would be weak.
    fn rank(&self, now: Instant, ch: usize, from: SocketAddrV4) -> Option<(Rank, bool)> {
        let path = self.paths.get(ch)?;
        let trust = self.allows(ch, *from.ip());
        let weak = trust == Trust::Weak;
        let exact = path.expected == Some(from);
        match path.latched {
            None if exact => Some((Rank::Exact, false)),
            None if trust != Trust::None => Some((Rank::AllowedIp, weak)),
            None => self
                .window_until
                .filter(|t| now < *t)
                .map(|_| (Rank::Window, true)),
            Some(l) => {
                let silent = now.saturating_duration_since(l.last_seen) >= RELATCH_SILENCE;
                let take = (l.weak && trust == Trust::Strong)
                    || (silent && (trust != Trust::None || l.addr.ip() == from.ip()));
                match (take, exact) {
                    (false, _) => None,
                    (true, true) => Some((Rank::Exact, false)),
                    // Same IP as a weak latch: still weak.
                    (true, false) => {
                        Some((Rank::TakeOver, weak || (l.weak && trust == Trust::None)))
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Stream {
    legs: [LegState; 2],
    hold: bool,
    /// Last accepted packet, allocation, setup or touch.
    last_active: Instant,
    stats: StreamStats,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    generation: u32,
    stream: Option<Stream>,
}

/// The relay table. See the module doc.
pub struct Relay {
    /// RTP port of each pair (RTCP is + 1), as given.
    ports: Box<[u16]>,
    slots: Box<[Slot]>,
    in_use: usize,
    /// Where the next allocation starts looking (round-robin).
    cursor: usize,
    rtp_timeout: Duration,
    totals: RelayTotals,
}

impl Relay {
    /// `ports`: the pool's RTP ports (even), ascending. Allocates its fixed
    /// storage once. A port of 65535 (its RTCP port would not exist) and a
    /// port not above the one before it (a duplicate) are skipped, so the
    /// pool has at most 65535 pairs and every socket port is distinct.
    pub fn new(ports: &[u16], rtp_timeout: Duration) -> Relay {
        let mut last: Option<u16> = None;
        let ports: Box<[u16]> = ports
            .iter()
            .copied()
            .filter(|&p| {
                let keep = p.checked_add(1).is_some() && last.is_none_or(|l| p > l);
                if keep {
                    last = Some(p);
                }
                keep
            })
            .collect();
        let slots = vec![Slot::default(); ports.len()].into_boxed_slice();
        Relay {
            ports,
            slots,
            in_use: 0,
            cursor: 0,
            rtp_timeout,
            totals: RelayTotals::default(),
        }
    }

    /// Streams the pool holds (= port pairs).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Streams allocated now.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// The port of each socket index: RTP of pair 0, RTCP of pair 0, RTP of
    /// pair 1, … (index `2k` and `2k + 1`, see the module doc).
    pub fn socket_ports(&self) -> impl Iterator<Item = u16> + '_ {
        // +1 cannot overflow: `new` skipped 65535.
        self.ports.iter().flat_map(|&p| [p, p.wrapping_add(1)])
    }

    /// Allocate a stream. Round-robin: the search starts after the pair
    /// handed out last, so a freed pair is reused as late as possible and
    /// stray packets of an ended call (still in flight, or a far end that
    /// has not noticed the BYE) do not land in the next call on the same
    /// port. A freed pair is still taken when it is the only free one.
    /// `Err(PoolFull)` when every pair is taken: the caller refuses the call;
    /// nothing is evicted.
    pub fn allocate(&mut self, now: Instant) -> Result<(StreamId, u16), PoolFull> {
        let n = self.slots.len();
        for step in 0..n {
            let i = (self.cursor + step) % n;
            let (Some(slot), Some(&port)) = (self.slots.get_mut(i), self.ports.get(i)) else {
                continue;
            };
            if slot.stream.is_some() {
                continue;
            }
            slot.stream = Some(Stream {
                legs: [LegState::default(); 2],
                hold: false,
                last_active: now,
                stats: StreamStats::default(),
            });
            self.cursor = (i + 1) % n;
            self.in_use += 1;
            self.totals.allocated += 1;
            let id = StreamId {
                // Cannot truncate: slots come from a port list of at most 65535 entries.
                slot: i as u32,
                generation: slot.generation,
            };
            log::trace!("relay: stream {i} on port {port}");
            return Ok((id, port));
        }
        self.totals.pool_full += 1;
        Err(PoolFull)
    }

    fn stream(&self, id: StreamId) -> Option<&Stream> {
        let slot = self.slots.get(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.stream.as_ref()
    }

    fn stream_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        let slot = self.slots.get_mut(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.stream.as_mut()
    }

    /// Set (or update, on re-INVITE / answer) a leg's expected addresses.
    /// An IP of 0.0.0.0 (hold, RFC 3264 §8.4) keeps the previous expected
    /// address and latch. A changed expected address (the far end moved, or
    /// restarted its media on another port: re-INVITE) resets that leg's
    /// latches. Setting a leg opens its window (rule 2) when it needs one,
    /// and reopens the other leg's if that one is still unlatched. Stale ids
    /// are ignored.
    pub fn set_leg(&mut self, now: Instant, id: StreamId, leg: Leg, setup: &LegSetup) {
        let Some(st) = self.stream_mut(id) else {
            return;
        };
        st.last_active = now;
        let window = now.checked_add(LATCH_WINDOW);
        let l = &mut st.legs[leg.idx()];
        l.wan = setup.wan;
        if let Some(ip) = setup.signalling_ip.filter(|ip| !ip.is_unspecified()) {
            l.signalling_ip = Some(ip);
        }
        let mut moved = false;
        let mut set = false;
        for (path, addr) in l.paths.iter_mut().zip([setup.rtp, setup.rtcp]) {
            if addr.ip().is_unspecified() {
                continue; // hold: keep address and latch
            }
            set = true;
            let new = (addr.port() != 0).then_some(addr);
            if path.expected != new {
                moved |= path.expected.is_some() || path.latched.is_some();
                path.expected = new;
            }
        }
        if moved {
            for p in l.paths.iter_mut() {
                p.latched = None;
            }
        }
        if set && l.hidden() && l.unlatched() {
            l.window_until = window;
        }
        let o = &mut st.legs[leg.other().idx()];
        if set && o.hidden() && o.unlatched() {
            o.window_until = window;
        }
    }

    /// Hold: a stream on hold is not timed out by `rtp_timeout` (the
    /// signalling layer frees it at BYE, or calls `touch` while the dialog
    /// lives). Stale ids are ignored.
    pub fn set_hold(&mut self, id: StreamId, hold: bool) {
        if let Some(st) = self.stream_mut(id) {
            st.hold = hold;
        }
    }

    /// Signalling activity on the call: the stream counts as active now.
    pub fn touch(&mut self, now: Instant, id: StreamId) {
        if let Some(st) = self.stream_mut(id) {
            st.last_active = now;
        }
    }

    /// BYE/CANCEL/error: the pair is free at once; stale ids are ignored.
    pub fn free(&mut self, id: StreamId) {
        if self.stream(id).is_some() {
            self.release(id.slot as usize);
            self.totals.freed += 1;
        }
    }

    fn release(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i) {
            if slot.stream.take().is_some() {
                slot.generation = slot.generation.wrapping_add(1);
                self.in_use -= 1;
            }
        }
    }

    /// The RTP port of a live stream (RTCP is + 1); `None` for a stale id.
    pub fn port_of(&self, id: StreamId) -> Option<u16> {
        self.stream(id)?;
        self.ports.get(id.slot as usize).copied()
    }

    /// THE HOT PATH: where does a packet that arrived on socket `index`
    /// (`2k` = RTP of pair `k`, `2k + 1` = its RTCP; see
    /// [`Relay::socket_ports`]) from `from`, through an interface of `side`,
    /// `len` bytes long, go? A few array lookups and compares; the latching
    /// rules of the module doc.
    pub fn on_packet(
        &mut self,
        now: Instant,
        index: usize,
        from: SocketAddrV4,
        side: Side,
        len: usize,
    ) -> Decision {
        let ch = index & 1;
        let decision = match self
            .slots
            .get_mut(index >> 1)
            .and_then(|s| s.stream.as_mut())
        {
            None => Decision::Drop(DropReason::NotAllocated),
            Some(st) => {
                let (d, latched) = st.on_packet(now, ch, from, side, len);
                if latched {
                    self.totals.latches += 1;
                    log::trace!("relay: socket {index} latched {from}");
                }
                d
            }
        };
        match decision {
            Decision::Forward(_) => self.totals.forwarded.add(len),
            Decision::Drop(r) => self.totals.dropped[r.index()].add(len),
        }
        decision
    }

    /// A datagram the driver drops before asking (one it could not read
    /// whole, or a forged source): counted.
    pub fn count_drop(&mut self, reason: DropReason, len: usize) {
        self.totals.dropped[reason.index()].add(len);
    }

    /// Streams silent (no accepted packet either way, no touch) for
    /// `rtp_timeout` and not on hold are freed; `freed` is called with each
    /// id.
    pub fn expire(&mut self, now: Instant, freed: &mut dyn FnMut(StreamId)) {
        for i in 0..self.slots.len() {
            let Some(slot) = self.slots.get(i) else {
                continue;
            };
            let Some(st) = slot.stream.as_ref() else {
                continue;
            };
            if st.hold || now.saturating_duration_since(st.last_active) < self.rtp_timeout {
                continue;
            }
            let id = StreamId {
                // Cannot truncate: see `allocate`.
                slot: i as u32,
                generation: slot.generation,
            };
            self.release(i);
            self.totals.expired += 1;
            log::trace!("relay: stream {i} timed out");
            freed(id);
        }
    }

    /// The earliest moment a stream may time out (`None`: none can).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.stream.as_ref())
            .filter(|st| !st.hold)
            .filter_map(|st| st.last_active.checked_add(self.rtp_timeout))
            .min()
    }

    /// Counters of the whole relay.
    pub fn totals(&self) -> RelayTotals {
        self.totals
    }

    /// Counters of one live stream.
    pub fn stream_stats(&self, id: StreamId) -> Option<StreamStats> {
        self.stream(id).map(|st| st.stats)
    }

    /// The address a leg's channel is latched to, if any.
    pub fn latched(&self, id: StreamId, leg: Leg, ch: Channel) -> Option<SocketAddrV4> {
        self.stream(id)?.legs[leg.idx()].paths[ch.idx()]
            .latched
            .map(|l| l.addr)
    }

    /// Where packets for a leg's channel go now (latched, else expected).
    pub fn destination(&self, id: StreamId, leg: Leg, ch: Channel) -> Option<SocketAddrV4> {
        self.stream(id)?.legs[leg.idx()].paths[ch.idx()].destination()
    }
}

impl Stream {
    /// Decide one packet on channel `ch` (0 RTP, 1 RTCP); also says whether
    /// it latched a leg.
    fn on_packet(
        &mut self,
        now: Instant,
        ch: usize,
        from: SocketAddrV4,
        side: Side,
        len: usize,
    ) -> (Decision, bool) {
        // Rule 0: a packet can only come from a leg on the side it arrived on.
        let wan = side == Side::Wan;
        let latched_at = |l: &LegState| {
            l.wan == wan
                && l.paths
                    .get(ch)
                    .and_then(|p| p.latched)
                    .is_some_and(|x| x.addr == from)
        };
        let mut latched = false;
        let src = if latched_at(&self.legs[0]) {
            Some(0)
        } else if latched_at(&self.legs[1]) {
            Some(1)
        } else {
            match self.classify(now, ch, from, wan) {
                Some((leg, (_, weak))) => {
                    let l = &mut self.legs[leg];
                    if let Some(p) = l.paths.get_mut(ch) {
                        p.latched = Some(Latch {
                            addr: from,
                            weak,
                            last_seen: now,
                        });
                    }
                    l.window_until = None;
                    latched = true;
                    self.stats.latches = self.stats.latches.wrapping_add(1);
                    Some(leg)
                }
                None => None,
            }
        };
        let Some(src) = src else {
            self.stats.dropped[DropReason::UnknownSource.index()].add(len);
            return (Decision::Drop(DropReason::UnknownSource), latched);
        };
        self.last_active = now;
        if let Some(l) = self.legs[src]
            .paths
            .get_mut(ch)
            .and_then(|p| p.latched.as_mut())
        {
            l.last_seen = now;
        }
        let dest = self.legs[src ^ 1].paths.get(ch).and_then(Path::destination);
        let d = match dest {
            None => Decision::Drop(DropReason::NoDestination),
            Some(to) if to == from => Decision::Drop(DropReason::Loop),
            Some(to) => Decision::Forward(to),
        };
        match d {
            Decision::Forward(_) => self.stats.forwarded[src].add(len),
            Decision::Drop(r) => self.stats.dropped[r.index()].add(len),
        }
        (d, latched)
    }

    /// Which leg may a source that is latched nowhere latch (rule 3)? On
    /// equal rank a strong latch beats a weak one.
    fn classify(
        &self,
        now: Instant,
        ch: usize,
        from: SocketAddrV4,
        wan: bool,
    ) -> Option<(usize, (Rank, bool))> {
        let rank = |l: &LegState| {
            if l.wan == wan {
                l.rank(now, ch, from)
            } else {
                None
            }
        };
        let a = rank(&self.legs[0]);
        let b = rank(&self.legs[1]);
        match (a, b) {
            (None, None) => None,
            (Some(r), None) => Some((0, r)),
            (None, Some(r)) => Some((1, r)),
            (Some(ra), Some(rb)) if ra < rb => Some((0, ra)),
            (Some(ra), Some(rb)) if rb < ra => Some((1, rb)),
            (Some(r), Some(_)) => {
                let port_of = |leg: usize| {
                    self.legs[leg]
                        .paths
                        .get(ch)
                        .and_then(|p| p.expected)
                        .map(|e| e.port())
                };
                let leg = if port_of(0) != Some(from.port()) && port_of(1) == Some(from.port()) {
                    1
                } else {
                    0
                };
                Some((leg, r))
            }
        }
    }
}

/// Is `ip` routable on the public Internet as far as latching cares? Not
/// for RFC 1918 private space, 100.64.0.0/10 (RFC 6598 shared address space,
/// carrier-grade NAT), 169.254.0.0/16 link-local (RFC 3927), 127.0.0.0/8
/// loopback and 0.0.0.0/8 (RFC 1122 §3.2.1.3).
pub fn is_public(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let cgnat = a == 100 && (64..128).contains(&b);
    !(ip.is_private() || cgnat || ip.is_link_local() || ip.is_loopback() || a == 0)
}

/// Name of a leg for logs.
impl std::fmt::Display for Leg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Leg::A => "A",
            Leg::B => "B",
        })
    }
}
