//! The RTP/RTCP relay table and its port pool: for every datagram that
//! arrives on a relay port, decide where it goes ([`Relay::on_packet`] →
//! [`Decision`]).
//!
//! # What it does
//! - Owns the pool of port pairs (RTP on an even port `p`, RTCP on `p + 1`,
//!   RFC 3550 §11) and hands one pair to each *stream* (one `m=` line of a
//!   call). Pairs are bound when streams need them and closed when they end
//!   (`pool.rs`: the driver binds, the pool says which port); at most
//!   [`Relay::capacity`] streams run at once, derived from the range and
//!   [`MAX_STREAMS`]; beyond that [`Relay::allocate`] refuses ([`PoolFull`])
//!   and nothing is evicted (DESIGN.md rule 6). Which calls may take how
//!   many streams is the signalling layer's decision
//!   ([`crate::proxy::media`]).
//! - Keeps, for each stream, two legs: A (the offerer) and B (the answerer),
//!   each with an *expected* address per channel (from its SDP, RFC 4566 `c=`
//!   and `m=`, RTCP from `a=rtcp` (RFC 3605) or port + 1), the IP its
//!   signalling came from, and the *latched* address: the source sipnat has
//!   actually seen and now sends to (symmetric RTP, RFC 4961; "latching",
//!   RFC 7362 §4).
//! - Forwards a packet from one leg to the other leg's destination (rule 7),
//!   or holds it while that leg has none yet (rule 8).
//! - Reads the first bytes of a packet that would latch or move a latch: the
//!   RTP/RTCP version, length and SSRC (RFC 3550 §5.1, §6.4). SRTP and SRTCP
//!   keep these in clear (RFC 3711 §3.1, §3.4), so this works for them too.
//! - Counts every packet forwarded, held or dropped, per stream and in total,
//!   in plain integers ([`RelayTotals`], [`StreamStats`]); every drop has a
//!   [`DropReason`].
//! - Frees streams silent for `rtp_timeout` ([`Relay::expire`]), except those
//!   on hold.
//!
//! # What it does not do
//! No sockets, no clock (every time-dependent call takes `now`). No parsing
//! beyond the fixed RTP/RTCP header of a packet from a source that is not
//! latched yet (packets from a latched source are only checked for an SSRC
//! to remember): no sequence numbers, no payload, no SRTP authentication (a
//! stranger who knows a stream's SSRC — only someone on its path can — passes
//! rule 6). It does not read SDP: the signalling layer ([`crate::proxy`])
//! passes the addresses in ([`LegSetup`]); it does not know SSRCs from SDP
//! (`a=ssrc`, RFC 5576). Non-RTP media over UDP (T.38 `udptl`) is latched by
//! the address rules alone. Its addresses are of either family
//! ([`Addr`], compared by value), and the legs of one stream may differ (a
//! v4 phone, a v6 provider: issue 14; it never translates packets, only
//! says where they go; such a stream stays out of the kernel). It
//! does not allocate after [`Relay::new`] (its tables grow within what
//! `new` reserved), and logs nothing above `trace`.
//!
//! # Sockets and indices
//! The driver binds one UDP socket per relay port, on the wildcard address
//! (dual-stack: both families), so one socket serves both legs of a stream. Socket *index* `2k`
//! is the RTP port of slot `k`'s pair, index `2k + 1` its RTCP port, whatever
//! port the pair has ([`Relay::socket_port`]). The driver passes the index
//! of the receiving socket to [`Relay::on_packet`] and sends the unchanged
//! datagram from the same socket; held packets leave through
//! [`Relay::flush`], which names the socket index of each.
//!
//! # Latching and the anti-hijack rules ("RTP Bleed")
//! A relay that sends media to whoever sent to its port leaks a call's audio
//! to anyone who sprays the port range, and lets them inject or steal the
//! stream. sipnat ties latching to what the signalling says, per stream and
//! per channel (RTP and RTCP latch separately). A leg's *named IPs* are the
//! IPs of its expected RTP and RTCP addresses and the IP its SIP signalling
//! came from.
//!
//! 0. **Side.** A packet can only be from a leg on the side it arrived on
//!    (the arrival interface, [`crate::side`]). A packet that arrived on the
//!    WAN from loopback, 0.0.0.0/8 or `::`, a LAN network (of either family)
//!    or one of the router's own addresses ([`Relay::set_local`]) is forged:
//!    dropped ([`DropReason::ForgedSource`]) and never latched.
//! 1. **Latched source.** A packet from a leg's latched address is
//!    forwarded to the other leg (rule 7); the SSRC it carries is remembered.
//! 2. **Media check.** A packet that would latch a leg or move a latch must
//!    look like the stream's media (else [`DropReason::NotMedia`]): for
//!    `RTP/…` profiles an RTP packet — version 2, the 12-byte fixed header
//!    and its CSRC list (RFC 3550 §5.1) — on the RTP port, or an RTCP packet
//!    — version 2, packet type 192–223 as RFC 5761 §4 tells them apart, at
//!    least the header and the sender's SSRC (RFC 3550 §6.4.1) — on either
//!    port; for `UDP/TLS/RTP/…` also a DTLS record (first byte 20–63,
//!    RFC 7983 §7), which has no SSRC; other UDP media is not checked.
//! 3. **Named sources latch at once.** A packet from a named IP latches the
//!    leg, from any port (a NAT may change the port). A packet from the IP
//!    latched on the leg's other channel latches like that latch (RTCP
//!    follows the RTP source's IP, and the other way round).
//! 4. **The learning window.** A WAN leg whose expected RTP address is not a
//!    destination (rule 7: private, loopback, the router's own, …) is behind
//!    a NAT of its own, and its media may come from an IP nothing names (a
//!    far end behind a second NAT: the provider signals, the NAT sends). For
//!    [`LATCH_WINDOW`] after its address was set (or after the other leg's
//!    was, which is when media starts on an incoming call) its RTP channel
//!    may latch an unnamed source, ranked like rtpengine's "heuristic"
//!    endpoint learning: exact expected address > named IP > the expected
//!    *port* > anything. A source whose port equals the SDP's latches at
//!    once (a port-preserving NAT keeps it; a blind sprayer does not know
//!    it). Any other source may latch only from [`LEARNING`] after the
//!    window opened; its packets before are dropped
//!    ([`DropReason::Learning`]), so the real far end — named, or
//!    port-preserving, and sending from the answer on — wins over a stranger
//!    who was merely first. RTCP never latches through the window: it
//!    follows the RTP latch's IP (rule 3).
//! 5. **Which leg?** For a source latched nowhere, each leg that would
//!    accept it is ranked: the exact expected address (ip:port) first, then
//!    a named IP on a leg not latched yet, then a take-over (rule 6), then
//!    the window's port match, then the window's "anything"; within a rank,
//!    the stronger latch class. On a tie (the hairpin case: both phones on
//!    the LAN, or both behind one NAT) the leg whose expected port equals
//!    the source port wins, else leg A.
//! 6. **Moving a latch.** A latch is as strong as what made it: *exact*
//!    (the expected address itself), *named* (rule 3), *port* or *learned*
//!    (rule 4). A stronger source takes a weaker latch at once: a named IP
//!    always, a port match while the window is open, and for
//!    [`LATCH_WINDOW`] after an SDP moved the leg the exact address it
//!    names a latch of a named IP from another port (an end that moved its
//!    media with a re-INVITE and sent from its old address until the
//!    answer: that IP is still named, so it latched again, RFC 3264
//!    §8.3.1; at other times the exact address is only as strong as its
//!    IP, so forging it cannot pull the latch from a far end whose NAT
//!    changes its port). Otherwise a new source may take the leg over only
//!    when the latched source has been silent for [`RELATCH_SILENCE`], and
//!    then only from a named IP, or — from the old latch's IP (a NAT
//!    rebinding) or the IP latched on the other channel — with *SSRC
//!    continuity*: its packet carries the SSRC last seen from the latched
//!    source (RFC 3550 §8: the SSRC, not the transport address, identifies
//!    the source). A mismatch is dropped ([`DropReason::SsrcMismatch`]). A
//!    stream without SSRCs (not RTP) moves only to a named IP.
//! 7. **Destinations.** A leg's destination is its latched address, else
//!    its expected address when that is *reachable*: a LAN leg's as its SDP
//!    says; a WAN leg's only when it is public (not RFC 1918, 100.64/10,
//!    169.254/16, 127/8, 0/8, multicast or reserved; IPv6 only 2000::/3,
//!    [`is_public`]) or the IP its signalling came from (a provider on the
//!    router's private upstream network — RFC 1918 or an IPv6 ULA — such as
//!    an OpenWrt router behind a FritzBox that is the registrar), and
//!    never loopback, a LAN network or one of the router's own addresses.
//!    So relay output toward the WAN only ever goes to a WAN address: a WAN
//!    SDP naming `c=127.0.0.1`, the router or a LAN phone waits for
//!    latching instead, and rule 0 keeps such sources from latching. An
//!    address with IP 0.0.0.0 or port 0 is no destination; a packet whose
//!    destination is its own source (a stream pointed at itself would loop)
//!    is dropped ([`DropReason::Loop`]).
//! 8. **Hold.** A packet for a WAN leg that has its SDP but no destination
//!    yet (it waits to latch, rule 7) is held ([`Decision::Held`]) instead
//!    of dropped, unless it is larger than
//!    [`HOLD_BYTES`](crate::limits::HOLD_BYTES). A packet for a
//!    leg with no SDP yet (a phone that is still ringing: only a WAN caller
//!    sends then), or whose SDP rejected the stream (port 0), is dropped
//!    ([`DropReason::NoDestination`]). At most
//!    [`HOLD_PER_STREAM`](crate::limits::HOLD_PER_STREAM) per stream, in one
//!    pool of [`HOLD_PACKETS`](crate::limits::HOLD_PACKETS) buffers shared by
//!    every stream; when full, the oldest goes ([`DropReason::HoldFull`]).
//!    When the leg gets a destination (it latches, or new SDP makes one
//!    reachable), [`Relay::flush_pending`] turns true and [`Relay::flush`]
//!    hands the held packets to the driver in arrival order, from their own
//!    socket; those older than [`HOLD_MAX_AGE`] are dropped
//!    ([`DropReason::HoldStale`]: late audio is worse than none), and so are
//!    those of a stream that ended. So no packet goes to an address sipnat
//!    merely guessed, and the first words of a call are not lost while the
//!    far end's NAT reveals itself.
//! 9. **Everything else is dropped** ([`DropReason::UnknownSource`]): a
//!    stranger spraying the port range never gets media relayed to it, and
//!    never steals a stream; its packets do not keep a stream alive either.
//!
//! The residual risk is the window of rule 4 for a far end that is neither
//! named nor port-preserving: a stranger whose packet arrives after
//! [`LEARNING`] and before the real far end's first one takes the leg, and
//! the real far end cannot take it back (it has no name, no port, no SSRC
//! continuity). A source that spoofs a named IP can inject packets but never
//! receives any (they go to the real address).
//!
//! # Memory
//! [`MAX_STREAMS`] slots of at most [`SLOT_BYTES`] bytes (plus 4 of pool
//! state and 12 of the pool's queues) are reserved in [`Relay::new`] and
//! touched only as pairs are first bound for them: a slot for each stream
//! and spare at the busiest moment so far, whatever the range (idle: the
//! spares, 8 slots, about 6.5 KB). Fixed besides: the hold pool (about
//! 42 KB, of which the 40 KiB of packet bytes are resident only once
//! packets have been held) and the pool's map of held ports (4 KB). The
//! kernel's memory for the sockets is two sockets per bound pair
//! (`pool.rs`).
//!
//! # Files
//! This one holds the table ([`Relay`]: slots, holding, expiry);
//! `pool.rs` binds and closes the ports; `latch.rs` applies the rules above
//! to one stream; `hold.rs` is the pool of held packets and their flushing;
//! `kernel.rs` decides which streams the kernel forwards (issue 15);
//! `counters.rs` the counters and [`DropReason`]; `leg.rs` the [`Leg`] and
//! [`Channel`] indices.

mod counters;
mod hold;
mod kernel;
mod latch;
mod leg;
mod pool;
mod view;
pub use leg::{Channel, Leg};

use crate::limits::MAX_STREAMS;
pub use crate::net::is_public;
use crate::net::{Addr, Net};
use crate::side::Side;
pub use counters::{Counts, DropReason, RelayTotals, StreamStats};
use hold::{HoldPool, Target};
pub use kernel::{
    BAR_FAILED, BAR_MISSED, BAR_MOVED, HANDOVER_GRACE, KernelCursor, KernelFlow, TWO_WAY,
};
use latch::{LegState, Local, Path, Stream, Verdict, Window};
pub use pool::{BindError, PortOp, PortRange};
use std::net::IpAddr;
use std::time::{Duration, Instant};
pub use view::LegView;

#[cfg(test)]
mod tests;

/// How long after a WAN leg's unreachable address is set an unnamed source
/// may latch it (rule 4 of the module doc).
pub const LATCH_WINDOW: Duration = Duration::from_secs(3);

/// From how long after the window opened a source that is neither named nor
/// on the SDP's port may latch (rule 4). A far end starts sending with its
/// answer: by then a named or port-preserving one has shown up.
pub const LEARNING: Duration = Duration::from_millis(500);

/// How long a latched source must be silent before another source may take
/// its leg over (rule 6 of the module doc). At 50 packets/s, 2 s is 100 lost
/// packets: a real source that is still alive never looks silent.
pub const RELATCH_SILENCE: Duration = Duration::from_secs(2);

/// Held packets older than this are dropped, not sent (rule 8).
pub const HOLD_MAX_AGE: Duration = Duration::from_secs(1);

/// Upper bound of one stream slot's size in bytes (the memory cost of a
/// port pair; a unit test checks the bound): its addresses are [`Addr`]s
/// of either family, 20 bytes each (632 when they were IPv4 only).
pub const SLOT_BYTES: usize = 816;

/// A stream's handle: the slot index and the slot's generation, so an id
/// kept after [`Relay::free`] (or expiry) never reaches the slot's next
/// stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId {
    slot: u32,
    generation: u32,
}

/// What a stream carries, from its `m=` protocol: how rule 2 checks a
/// packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Payload {
    /// `RTP/AVP`, `RTP/SAVP`, `RTP/AVPF`, `RTP/SAVPF`: RTP and RTCP.
    #[default]
    Rtp,
    /// `UDP/TLS/RTP/…` (RFC 5764): SRTP, SRTCP and the DTLS handshake.
    DtlsSrtp,
    /// Anything else over UDP (`udptl`, `UDP/…`): not checked.
    Other,
}

/// What the driver does with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send the same bytes from the same socket to this address.
    Forward(Addr),
    /// The relay kept a copy to send later ([`Relay::flush`]); nothing to
    /// do now.
    Held,
    Drop(DropReason),
}

/// Every port pair is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolFull;

/// A leg's addresses as its SDP and signalling tell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegSetup {
    /// Expected RTP address (`c=` and `m=`); IP 0.0.0.0 = unknown / hold,
    /// port 0 = the stream is rejected (RFC 3264 §6).
    pub rtp: Addr,
    /// Expected RTCP address (`a=rtcp`, else RTP port + 1).
    pub rtcp: Addr,
    /// Source IP of the SIP message that carried the SDP.
    pub signalling_ip: Option<IpAddr>,
    /// The leg is on the WAN side.
    pub wan: bool,
    /// What the stream carries (its `m=` protocol).
    pub payload: Payload,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    generation: u32,
    stream: Option<Stream>,
    /// The channels (RTP, RTCP) the kernel forwards now ([`kernel`]); kept
    /// past the stream's end until the driver took them out.
    kernel: [Option<KernelFlow>; 2],
    /// The packets the kernel last reported for each of them.
    kpackets: [u64; 2],
    /// Channels (bit 0 RTP, bit 1 RTCP) the relay sent a packet of during
    /// a handover's grace: the conntrack entries of their legs are deleted
    /// again at the next `maintain` ([`kernel`]). A flag per slot, so no
    /// number of handovers at once can lose one.
    kstale: u8,
    /// Per channel ch: bit ch, a flowtable carried its flow at the last
    /// reading; bit 4 + ch, at the one before; bit 2 + ch, its counts grew
    /// between two such readings after a third (the flowtable counts:
    /// `counter`). See [`Relay::kernel_seen`].
    koffload: u8,
}

/// The relay table. See the module doc.
pub struct Relay {
    /// One per slot the pool has touched; slot `k`'s sockets are socket
    /// indexes `2k` and `2k + 1` ([`pool`]).
    slots: Vec<Slot>,
    /// The ports of the slots, bound and closed as streams need them.
    pool: pool::Pool,
    in_use: usize,
    rtp_timeout: Duration,
    local: Local,
    held: HoldPool,
    totals: RelayTotals,
    /// The driver can hand streams to the kernel ([`kernel`]).
    fastpath: bool,
    /// Slots to check for a take-back at the next `maintain`; when full,
    /// `krescan` checks them all.
    kqueue: heapless::Vec<u32, 32>,
    krescan: bool,
    /// Where [`Relay::kernel_scan`] goes on.
    kcursor: usize,
}

impl Relay {
    /// A relay whose streams get their ports from `range`; `seed` makes
    /// the random start of each port search ([`pool`]). Reserves its fixed
    /// storage once (touched only as pairs are bound); binds nothing itself:
    /// the driver does ([`Relay::maintain`]).
    pub fn new(range: PortRange, rtp_timeout: Duration, seed: u64) -> Relay {
        let mut r = Relay {
            slots: Vec::with_capacity(MAX_STREAMS),
            pool: pool::Pool::new(seed),
            in_use: 0,
            rtp_timeout,
            local: Local::default(),
            held: HoldPool::new(),
            totals: RelayTotals::default(),
            fastpath: false,
            kqueue: heapless::Vec::new(),
            krescan: false,
            kcursor: 0,
        };
        r.set_range(range);
        r
    }

    /// The router's LAN networks and own addresses (at most 8 of each are
    /// kept), for rules 0 and 7. The signalling layer calls it whenever they
    /// change; legs set up before keep what they were given.
    pub fn set_local(&mut self, lan: &[Net], own: &[IpAddr]) {
        self.local.lan = lan.iter().copied().take(8).collect();
        self.local.own = own.iter().copied().take(8).collect();
    }

    /// A new `rtp_timeout` (reload): from now on, for every stream.
    pub fn set_rtp_timeout(&mut self, rtp_timeout: Duration) {
        self.rtp_timeout = rtp_timeout;
    }

    /// Streams allocated now.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Packets held now (rule 8).
    pub fn held_now(&self) -> usize {
        self.held.len()
    }

    /// Allocate a stream on a spare pair ([`pool`]): a pair bound for it
    /// before, never one a stream had (that one was closed), so the stray
    /// packets of an ended call do not land in the next one.
    /// `Err(PoolFull)` when the relay carries [`Relay::capacity`] streams,
    /// or no spare is bound (counted apart, `no_port`): the caller refuses
    /// the stream; nothing is evicted.
    pub fn allocate(&mut self, now: Instant) -> Result<(StreamId, u16), PoolFull> {
        let (i, port) = self.take_spare()?;
        let Some(slot) = self.slots.get_mut(i) else {
            // Cannot happen: `maintain` gives every pair a slot.
            self.retire_pair(i);
            self.totals.pool_full += 1;
            return Err(PoolFull);
        };
        slot.stream = Some(Stream {
            legs: [LegState::default(); 2],
            hold: false,
            payload: Payload::default(),
            last_active: now,
            stats: StreamStats::default(),
            kernel_bar: None,
            kernel_back: None,
            kernel_at: None,
        });
        self.in_use += 1;
        self.totals.allocated += 1;
        let id = StreamId {
            // Cannot truncate: at most MAX_STREAMS slots.
            slot: i as u32,
            generation: slot.generation,
        };
        log::trace!("relay: stream {i} on port {port}");
        Ok((id, port))
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

    /// Is `ip` a destination for a leg before it latches (rule 7)?
    fn reachable(&self, wan: bool, ip: IpAddr, signalling_ip: Option<IpAddr>) -> bool {
        if !wan {
            return true;
        }
        !self.local.contains(ip) && (is_public(ip) || signalling_ip == Some(ip))
    }

    /// Set (or update, on re-INVITE / answer) a leg's expected addresses.
    /// An IP of 0.0.0.0 (hold, RFC 3264 §8.4) keeps the previous expected
    /// address and latch. A changed expected address (the far end moved, or
    /// restarted its media on another port: re-INVITE) resets that leg's
    /// latches. Setting a leg opens its window (rule 4) when it needs one,
    /// and reopens the other leg's if that one is still unlatched. Stale ids
    /// are ignored.
    pub fn set_leg(&mut self, now: Instant, id: StreamId, leg: Leg, setup: &LegSetup) {
        let signalling_ip = setup
            .signalling_ip
            .filter(|ip| !crate::net::is_unspecified(*ip));
        let reach = [setup.rtp, setup.rtcp].map(|a| {
            let sig = signalling_ip.or(self
                .stream(id)
                .and_then(|s| s.legs[leg.idx()].signalling_ip));
            self.reachable(setup.wan, a.ip(), sig)
        });
        let had_held = !self.held.is_empty();
        let Some(st) = self.stream_mut(id) else {
            return;
        };
        st.last_active = now;
        st.payload = setup.payload;
        let window = now.checked_add(LATCH_WINDOW).map(|until| Window {
            learned_from: now.checked_add(LEARNING).unwrap_or(until),
            until,
        });
        let l = &mut st.legs[leg.idx()];
        l.wan = setup.wan;
        if signalling_ip.is_some() {
            l.signalling_ip = signalling_ip;
        }
        let mut moved = false;
        let mut set = false;
        let mut opened = false;
        for ((path, addr), reachable) in l.paths.iter_mut().zip([setup.rtp, setup.rtcp]).zip(reach)
        {
            if crate::net::is_unspecified(addr.ip()) {
                continue; // hold: keep address and latch
            }
            set = true;
            let new = (addr.port() != 0).then_some(addr);
            path.closed = new.is_none();
            let was = path.destination().is_some();
            if path.expected != new {
                moved |= path.expected.is_some() || path.latched.is_some();
                path.expected = new;
            }
            path.reachable = reachable;
            opened |= !was && path.destination().is_some();
        }
        if moved {
            for p in l.paths.iter_mut() {
                p.latched = None;
            }
            l.unsettled_until = now.checked_add(LATCH_WINDOW);
        }
        if set && l.hidden() && l.unlatched() {
            l.window = window;
        }
        let o = &mut st.legs[leg.other().idx()];
        if set && o.hidden() && o.unlatched() {
            o.window = window;
        }
        if opened && had_held {
            self.held.pending = true;
        }
        if moved {
            self.kernel_moved(id);
        }
    }

    /// Hold: a stream on hold is not timed out by `rtp_timeout` (the
    /// signalling layer frees it at BYE, or calls `touch` while the dialog
    /// lives). Stale ids are ignored.
    pub fn set_hold(&mut self, id: StreamId, hold: bool) {
        if let Some(st) = self.stream_mut(id) {
            st.hold = hold;
            if hold {
                self.kernel_moved(id);
            }
        }
    }

    /// Signalling activity on the call: the stream counts as active now.
    pub fn touch(&mut self, now: Instant, id: StreamId) {
        if let Some(st) = self.stream_mut(id) {
            st.last_active = now;
        }
    }

    /// BYE/CANCEL/error: the stream ends at once and its pair closes
    /// ([`pool`]); stale ids are ignored.
    pub fn free(&mut self, id: StreamId) {
        if self.stream(id).is_some() {
            self.release(id.slot as usize);
            self.totals.freed += 1;
        }
    }

    fn release(&mut self, i: usize) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if slot.stream.take().is_none() {
            return;
        }
        slot.generation = slot.generation.wrapping_add(1);
        self.in_use -= 1;
        self.retire_pair(i);
        if !self.held.is_empty() {
            // Its held packets go at the next flush or expiry.
            self.held.pending = true;
        }
    }

    /// The RTP port of a live stream (RTCP is + 1); `None` for a stale id.
    pub fn port_of(&self, id: StreamId) -> Option<u16> {
        self.stream(id)?;
        self.socket_port(id.slot as usize * 2)
    }

    /// THE HOT PATH: where does the packet `data` that arrived on socket
    /// `index` (`2k` = RTP of pair `k`, `2k + 1` = its RTCP; see
    /// [`Relay::socket_ports`]) from `from`, through an interface of
    /// `side`, go? A few array lookups and compares (the rules of the module
    /// doc); a packet held for later is copied into the hold pool, and then
    /// [`Relay::flush_pending`] may say there is something to flush.
    pub fn on_packet(
        &mut self,
        now: Instant,
        index: usize,
        from: Addr,
        side: Side,
        data: &[u8],
    ) -> Decision {
        let ch = index & 1;
        let slot_index = index >> 1;
        let len = data.len();
        let local = &self.local;
        let (verdict, latched, generation, kernel) = match self.slots.get_mut(slot_index) {
            Some(Slot {
                generation,
                stream: Some(st),
                kernel,
                ..
            }) => {
                let (v, latched) = st.on_packet(now, ch, &from, side, data, local);
                if let (Verdict::Forward(to), false, None) = (&v, latched, kernel[ch]) {
                    // The common case (a latched source, no kernel flow):
                    // the address goes from the slot straight to the driver.
                    self.totals.forwarded.add(len);
                    return Decision::Forward(*to);
                }
                (
                    v,
                    latched,
                    *generation,
                    kernel[ch].map(|k| (k, st.kernel_at)),
                )
            }
            _ => (Verdict::Drop(DropReason::NotAllocated), false, 0, None),
        };
        if let Some((k, at)) = kernel {
            // The kernel forwards this channel, yet the packet reached the
            // socket: if the rules take it, the kernel's flow is wrong now,
            // unless it was on its way at the handover ([`kernel`]).
            if latched || !matches!(verdict, Verdict::Drop(_)) {
                self.kernel_packet(now, index, from, latched, (k, at), &verdict);
            }
        }
        if latched {
            self.totals.latches += 1;
            log::trace!("relay: socket {index} latched {from}");
            if !self.held.is_empty() {
                self.held.pending = true;
            }
        }
        let decision = match verdict {
            Verdict::Forward(to) => Decision::Forward(to),
            Verdict::Drop(r) => Decision::Drop(r),
            Verdict::Hold(to) => {
                let target = Target {
                    // Cannot truncate: see `allocate`.
                    slot: slot_index as u32,
                    generation,
                    to,
                    ch,
                };
                match self.held.hold(now, target, data) {
                    Ok(evicted) => {
                        self.totals.held += 1;
                        if let Some(st) = self.stream_at(slot_index, generation) {
                            st.stats.held = st.stats.held.wrapping_add(1);
                        }
                        if let Some(e) = evicted {
                            self.count_held_drop(e.target, e.len, DropReason::HoldFull);
                        }
                        Decision::Held
                    }
                    Err(()) => {
                        if let Some(st) = self.stream_at(slot_index, generation) {
                            st.stats.dropped[DropReason::NoDestination.index()].add(len);
                        }
                        Decision::Drop(DropReason::NoDestination)
                    }
                }
            }
        };
        match decision {
            Decision::Forward(_) => self.totals.forwarded.add(len),
            Decision::Drop(r) => self.totals.dropped[r.index()].add(len),
            Decision::Held => {}
        }
        decision
    }

    fn stream_at(&mut self, slot: usize, generation: u32) -> Option<&mut Stream> {
        self.stream_mut(StreamId {
            // Cannot truncate: see `allocate`.
            slot: slot as u32,
            generation,
        })
    }

    /// A held packet left without being sent: count it for its stream (if
    /// it still lives) and in total.
    fn count_held_drop(&mut self, t: Target, len: usize, reason: DropReason) {
        self.totals.dropped[reason.index()].add(len);
        if let Some(st) = self.stream_at(t.slot as usize, t.generation) {
            st.stats.dropped[reason.index()].add(len);
        }
    }

    /// Are there held packets that may now leave (a leg got a destination,
    /// or a stream with held packets ended)? One flag: cheap to ask after
    /// every packet.
    pub fn flush_pending(&self) -> bool {
        self.held.pending
    }

    /// A datagram the driver could not read whole: dropped and counted.
    pub fn count_oversize(&mut self, len: usize) {
        self.totals.dropped[DropReason::Oversize.index()].add(len);
    }

    /// Streams silent (no accepted packet either way, no touch) for
    /// `rtp_timeout` and not on hold are freed; `freed` is called with each
    /// id. Held packets that went stale are dropped.
    pub fn expire(&mut self, now: Instant, freed: &mut dyn FnMut(StreamId)) {
        for i in 0..self.slots.len() {
            let Some(slot) = self.slots.get(i) else {
                continue;
            };
            let Some(st) = slot.stream.as_ref() else {
                continue;
            };
            if st.hold || !crate::due(&now, &(st.last_active + self.rtp_timeout)) {
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
        if !self.held.is_empty() {
            // Drops what is stale; anything sendable goes with the driver's
            // next flush (the flag stays set for it).
            let pending = self.held.pending;
            let slots = &mut self.slots;
            let totals = &mut self.totals;
            let mut sendable = false;
            self.held.drain(&mut |t, at, data| {
                let st = slots
                    .get_mut(t.slot as usize)
                    .filter(|s| s.generation == t.generation)
                    .and_then(|s| s.stream.as_mut());
                let stale = !crate::due(&(at + HOLD_MAX_AGE), &now);
                match st {
                    Some(st) if !stale => {
                        sendable |= st
                            .legs
                            .get(t.to)
                            .and_then(|l| l.paths.get(t.ch))
                            .and_then(Path::destination)
                            .is_some();
                        false
                    }
                    Some(st) => {
                        st.stats.dropped[DropReason::HoldStale.index()].add(data.len());
                        totals.dropped[DropReason::HoldStale.index()].add(data.len());
                        true
                    }
                    None => {
                        totals.dropped[DropReason::HoldStale.index()].add(data.len());
                        true
                    }
                }
            });
            self.held.pending = pending || sendable;
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
}
