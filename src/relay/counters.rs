//! The relay's counters: why a packet was dropped ([`DropReason`], data
//! that `stats` and `sipnat status` show), and packets and bytes per stream
//! ([`StreamStats`]) and in total ([`RelayTotals`]).
//!
//! Plain integers that only count: nothing here decides a packet's fate
//! (the latching rules of [`super`] do) or reads the clock.

use super::Leg;

/// Why a packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The port has no stream (never allocated, freed, or timed out).
    NotAllocated,
    /// The source is neither leg's latched address and may not latch one
    /// (rule 9).
    UnknownSource,
    /// The other leg has no destination and nothing is held for it: it has
    /// no SDP yet, its SDP rejected the stream (port 0), or the packet is too
    /// large to hold (rule 8).
    NoDestination,
    /// The destination is the packet's own source.
    Loop,
    /// Longer than the driver reads (`driver::sys::RELAY_DATAGRAM`): never
    /// forwarded cut short.
    Oversize,
    /// Not an RTP/RTCP (or DTLS) packet from a source that would latch
    /// (rule 2).
    NotMedia,
    /// An unnamed source before [`LEARNING`](super::LEARNING) ended (rule 4).
    Learning,
    /// A take-over without SSRC continuity (rule 6).
    SsrcMismatch,
    /// Arrived on the WAN from a LAN, loopback or router address (rule 0).
    ForgedSource,
    /// A held packet dropped to make room (rule 8).
    HoldFull,
    /// A held packet older than [`HOLD_MAX_AGE`](super::HOLD_MAX_AGE), or
    /// whose stream ended (rule 8).
    HoldStale,
}

impl DropReason {
    /// Every reason, in [`DropReason::index`] order.
    pub const ALL: [DropReason; 11] = [
        DropReason::NotAllocated,
        DropReason::UnknownSource,
        DropReason::NoDestination,
        DropReason::Loop,
        DropReason::Oversize,
        DropReason::NotMedia,
        DropReason::Learning,
        DropReason::SsrcMismatch,
        DropReason::ForgedSource,
        DropReason::HoldFull,
        DropReason::HoldStale,
    ];

    /// Name for counters and `sipnat status`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotAllocated => "not-allocated",
            DropReason::UnknownSource => "unknown-source",
            DropReason::NoDestination => "no-destination",
            DropReason::Loop => "loop",
            DropReason::Oversize => "oversize",
            DropReason::NotMedia => "not-rtp",
            DropReason::Learning => "learning",
            DropReason::SsrcMismatch => "ssrc-mismatch",
            DropReason::ForgedSource => "wan-forged-source",
            DropReason::HoldFull => "hold-full",
            DropReason::HoldStale => "hold-stale",
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
            DropReason::NotMedia => 5,
            DropReason::Learning => 6,
            DropReason::SsrcMismatch => 7,
            DropReason::ForgedSource => 8,
            DropReason::HoldFull => 9,
            DropReason::HoldStale => 10,
        }
    }
}

/// Packets and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub packets: u64,
    pub bytes: u64,
}

impl Counts {
    /// One packet of `len` bytes. Not inlined: two 64-bit additions with
    /// their carries are about 60 bytes of MIPS32 code, and the relay
    /// counts in 16 places (0.8 KB in all); a call per packet costs
    /// nothing next to the packet's system calls.
    #[inline(never)]
    pub(super) fn add(&mut self, len: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.bytes = self.bytes.wrapping_add(len as u64);
    }
}

/// Counters of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Forwarded packets by the leg they came from (`[A, B]`), held ones
    /// included once they left.
    pub forwarded: [Counts; 2],
    /// Dropped packets by [`DropReason::index`].
    pub dropped: [Counts; DropReason::ALL.len()],
    /// Packets held (rule 8).
    pub held: u32,
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
    /// Forwarded packets, held ones included once they left.
    pub forwarded: Counts,
    /// Dropped packets by [`DropReason::index`].
    pub dropped: [Counts; DropReason::ALL.len()],
    /// Packets held (rule 8), and of those, sent later.
    pub held: u64,
    pub flushed: u64,
    /// Latches made (first latches and take-overs).
    pub latches: u64,
    /// Streams handed out, freed by the signalling layer, timed out.
    pub allocated: u64,
    pub freed: u64,
    pub expired: u64,
    /// Allocations refused because the relay carried its capacity of
    /// streams, and because no spare pair was bound ([`super::pool`]).
    pub pool_full: u64,
    pub no_port: u64,
    /// Port pairs bound and closed by the driver; binds refused because
    /// another program held the port (`EADDRINUSE`, the next pair is tried)
    /// or for another reason.
    pub bound: u64,
    pub closed: u64,
    pub bind_in_use: u64,
    pub bind_failed: u64,
    /// Channels the kernel forwards now; handed over so far; taken back
    /// (stream changed or ended, a source moved); taken back because the
    /// latched source's packets still reached userspace; handovers that
    /// failed ([`super::kernel`]).
    pub in_kernel: u64,
    pub kernel_handovers: u64,
    pub kernel_taken_back: u64,
    pub kernel_missed: u64,
    pub kernel_failed: u64,
}

impl RelayTotals {
    pub fn dropped_by(&self, reason: DropReason) -> Counts {
        self.dropped[reason.index()]
    }
}
