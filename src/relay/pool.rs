//! The relay's port pairs: bound when a stream needs them, closed when it
//! ends, so the sockets (and the kernel's memory for them) follow the
//! calls, not the configured range (siproxd binds per call too).
//!
//! The core cannot bind, and an SDP is rewritten while its message is
//! handled, so the port must be open before: the pool keeps up to
//! [`SPARE_PAIRS`] pairs bound and free (*spares*), and
//! [`Relay::allocate`] hands out only a spare. The driver carries out what
//! the pool asks after every message ([`Relay::maintain`]): it binds a new
//! spare where the pool names a port, and closes the pair of every stream
//! that ended. A freed pair is closed, never handed on as it is, so the
//! kernel answers the stray packets of the ended call; a later spare may
//! bind its ports again (on a small range it will), as a fresh socket.
//!
//! # Which port
//! Any free pair of the range (RTP on the even port, RTCP on the next,
//! RFC 3550 §11): each new spare's search starts at a random pair and goes
//! up (wrapping), skipping the pairs sipnat holds itself; a port another
//! program holds answers `EADDRINUSE` ([`BindError::InUse`]) and the search
//! goes on with the next pair. When the whole range was tried without
//! success, or a bind fails for another reason (the open-file limit, a port
//! that needs root), the pool stops trying until one of its pairs closes,
//! the range changes, or the driver asks again ([`Relay::retry_binds`],
//! every few seconds).
//!
//! # Capacity (streams, not ports)
//! The relay carries at most `min(MAX_STREAMS, pairs in the range)` streams
//! at once ([`Relay::capacity`]); the signalling layer's quotas are shares
//! of that number. The stream table has [`MAX_STREAMS`] slots, reserved at
//! start and touched only as pairs are bound for them; slot `k`'s sockets
//! are the driver's socket indexes `2k` and `2k + 1`, whatever port they
//! hold, so the packet path stays one array index.
//!
//! # A new range (reload)
//! [`Relay::set_range`]: spares outside the new range are closed and new
//! ones bound inside it; a stream keeps its pair to its end (then it is
//! closed like any other). With `rtp_proxy_enable = 0` the range is empty:
//! no spare, no new stream, the running ones go on. One mechanism serves
//! the start (an empty pool given its range), every reload and every call.

use super::{PoolFull, Relay, Slot};
use crate::limits::{MAX_STREAMS, SPARE_PAIRS};
use crate::net::Addr;
use std::collections::VecDeque;

/// The RTP/RTCP port pairs of a configured range: RTP on the even ports
/// `p` with `low <= p` and `p + 1 <= high`, RTCP on `p + 1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    pairs: u16,
}

impl PortRange {
    /// No port at all (`rtp_proxy_enable = 0`).
    pub const EMPTY: PortRange = PortRange { first: 0, pairs: 0 };

    /// The pairs of `low..=high` (an odd `low` starts at the next even port).
    pub fn new(low: u16, high: u16) -> PortRange {
        let first = u32::from(low) + u32::from(low & 1);
        let high = u32::from(high);
        let pairs = if first < high {
            (high - first).div_ceil(2)
        } else {
            0
        };
        PortRange {
            // Both fit: first <= 65535 whenever pairs > 0, pairs <= 32768.
            first: u16::try_from(first).unwrap_or(0),
            pairs: u16::try_from(pairs).unwrap_or(0),
        }
    }

    /// Port pairs in the range.
    pub fn pairs(self) -> usize {
        usize::from(self.pairs)
    }

    /// Is `port` the RTP port of one of the range's pairs?
    pub fn contains(self, port: u16) -> bool {
        port >= self.first && port & 1 == 0 && (port - self.first) / 2 < self.pairs
    }

    /// The RTP port of pair `j` (`j < pairs`).
    fn port(self, j: u32) -> u16 {
        // Cannot overflow: j < pairs, and the last pair's RTP port is < 65535.
        (u32::from(self.first) + 2 * j) as u16
    }
}

/// What the pool asks the driver to do ([`Relay::maintain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortOp {
    /// Bind `port` (RTP) and `port + 1` (RTCP) as the sockets of `slot`
    /// (socket indexes `2 slot` and `2 slot + 1`).
    Bind { slot: usize, port: u16 },
    /// Close the sockets of `slot`: its stream ended, or it is a spare
    /// outside the range.
    Close { slot: usize },
    /// Have the kernel forward this channel of a stream
    /// ([`super::kernel`]); an error leaves it in userspace.
    Forward(super::KernelFlow),
    /// Take it back (always succeeds: what the kernel cannot find is gone).
    Unforward(super::KernelFlow),
    /// Clear the conntrack entry of the relay's own packet to `to` (on the
    /// WAN side when `wan`) from relay port `port`: sent in a handover's
    /// grace, it must not hold the flow on the socket.
    Forget { to: Addr, wan: bool, port: u16 },
}

/// Why a bind failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindError {
    /// `EADDRINUSE`: another program holds the port; the next pair is tried.
    InUse,
    /// Anything else (no file descriptor left, a port that needs root): not
    /// about this port, so the pool waits before it tries again.
    Other,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum PairState {
    /// No sockets (a slot never bound, or closed).
    #[default]
    Unbound,
    /// Bound and free, in the spares queue.
    Spare,
    /// Bound, carrying a stream.
    InUse,
    /// Its stream ended: the driver closes its sockets next.
    Closing,
}

#[derive(Debug, Clone, Copy, Default)]
struct Pair {
    /// RTP port of the sockets (meaningful unless unbound).
    port: u16,
    state: PairState,
}

/// Port state of the relay's slots (the streams are in [`Relay`]'s).
pub(super) struct Pool {
    range: PortRange,
    /// One per slot, parallel to the relay's slots.
    pairs: Vec<Pair>,
    /// Pairs sipnat holds (bound), one bit per pair of the whole port space.
    held: Box<[u64]>,
    /// Bound free pairs, handed out oldest first.
    spares: VecDeque<u32>,
    /// Slots without sockets, reused before a new slot is touched.
    unbound: Vec<u32>,
    /// Slots whose sockets the driver must close.
    closing: Vec<u32>,
    /// Streams on a port of the current range (those of an older range do
    /// not take from its capacity).
    in_range: usize,
    /// Pairs with sockets (spares, in use, closing).
    bound: usize,
    /// The search for a spare under way: the next pair to try and how many
    /// of the range were tried.
    scan: Option<(u32, u32)>,
    /// No pair could be bound; nothing is tried until a pair closes, the
    /// range changes or [`Relay::retry_binds`].
    stalled: bool,
    rng: u64,
}

impl Pool {
    pub(super) fn new(seed: u64) -> Pool {
        Pool {
            range: PortRange::EMPTY,
            pairs: Vec::with_capacity(MAX_STREAMS),
            held: vec![0u64; 65536 / 2 / 64].into_boxed_slice(),
            spares: VecDeque::with_capacity(SPARE_PAIRS),
            unbound: Vec::with_capacity(MAX_STREAMS),
            closing: Vec::with_capacity(MAX_STREAMS),
            in_range: 0,
            bound: 0,
            scan: None,
            stalled: false,
            rng: seed,
        }
    }

    fn capacity(&self) -> usize {
        self.range.pairs().min(MAX_STREAMS)
    }

    /// Spares wanted now: never more than the capacity left.
    fn want(&self) -> usize {
        SPARE_PAIRS.min(self.capacity().saturating_sub(self.in_range))
    }

    fn hold(&mut self, port: u16, on: bool) {
        let (w, b) = (usize::from(port >> 1) / 64, u32::from(port >> 1) % 64);
        if let Some(word) = self.held.get_mut(w) {
            if on {
                *word |= 1 << b;
            } else {
                *word &= !(1 << b);
            }
        }
    }

    fn holds(&self, port: u16) -> bool {
        let (w, b) = (usize::from(port >> 1) / 64, u32::from(port >> 1) % 64);
        self.held.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    fn random(&mut self) -> u32 {
        // splitmix64 (Steele, Lea, Flood): well mixed from any seed, 0 too.
        // A random start, not a secret.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 32) as u32
    }

    /// The next pair to try for a spare: from the search under way, else
    /// from a random pair; the pairs sipnat holds are skipped. `None`: every
    /// pair of the range was tried.
    fn candidate(&mut self) -> Option<u16> {
        let n = u32::from(self.range.pairs);
        if n == 0 {
            return None;
        }
        let (mut j, mut tried) = match self.scan {
            Some(s) => s,
            None => (self.random() % n, 0),
        };
        while tried < n {
            let port = self.range.port(j);
            if !self.holds(port) {
                self.scan = Some((j, tried));
                return Some(port);
            }
            j = (j + 1) % n;
            tried += 1;
        }
        self.scan = None;
        None
    }

    /// A slot for a new pair: an unbound one, else a new one while the
    /// table has room.
    fn free_slot(&mut self) -> Option<u32> {
        if let Some(k) = self.unbound.pop() {
            return Some(k);
        }
        if self.pairs.len() < MAX_STREAMS {
            self.pairs.push(Pair::default());
            // Cannot truncate: at most MAX_STREAMS slots.
            return Some((self.pairs.len() - 1) as u32);
        }
        None
    }

    /// Slot `k`'s stream ended (or its spare left the range): close it.
    fn retire(&mut self, k: usize) {
        let range = self.range;
        if let Some(p) = self.pairs.get_mut(k) {
            if p.state == PairState::InUse && range.contains(p.port) {
                self.in_range -= 1;
            }
            if matches!(p.state, PairState::InUse | PairState::Spare) {
                p.state = PairState::Closing;
                // Cannot truncate: at most MAX_STREAMS slots.
                self.closing.push(k as u32);
            }
        }
    }
}

impl Relay {
    /// Make the pool's range `range` (start, reload): spares outside it
    /// close, new ones are bound inside it; streams keep their pairs.
    pub fn set_range(&mut self, range: PortRange) {
        let p = &mut self.pool;
        p.range = range;
        p.scan = None;
        p.stalled = false;
        p.in_range = p
            .pairs
            .iter()
            .filter(|x| x.state == PairState::InUse && range.contains(x.port))
            .count();
        let want = p.want();
        let mut kept = 0;
        for _ in 0..p.spares.len() {
            let Some(k) = p.spares.pop_front() else { break };
            let port = p.pairs.get(k as usize).map_or(0, |x| x.port);
            if range.contains(port) && kept < want {
                p.spares.push_back(k);
                kept += 1;
            } else {
                p.retire(k as usize);
            }
        }
    }

    /// The range new streams get their ports from.
    pub fn range(&self) -> PortRange {
        self.pool.range
    }

    /// Streams the relay may carry at once: `min(MAX_STREAMS, pairs in the
    /// range)`.
    pub fn capacity(&self) -> usize {
        self.pool.capacity()
    }

    /// Port pairs bound now (spares, streams, and pairs about to close).
    pub fn bound(&self) -> usize {
        self.pool.bound
    }

    /// Pairs bound and ready for the next streams.
    pub fn spares(&self) -> usize {
        self.pool.spares.len()
    }

    /// The pool found no pair it could bind and waits ([`Relay::retry_binds`]).
    pub fn stalled(&self) -> bool {
        self.pool.stalled
    }

    /// Take a spare for a new stream: its slot and RTP port.
    pub(super) fn take_spare(&mut self) -> Result<(usize, u16), PoolFull> {
        let p = &mut self.pool;
        if p.in_range >= p.capacity() {
            self.totals.pool_full += 1;
            return Err(PoolFull);
        }
        // A spare's slot always has its pair (`maintain` made both).
        let spare = p.spares.pop_front();
        let Some((k, pair)) = spare.and_then(|k| Some((k, p.pairs.get_mut(k as usize)?))) else {
            // Capacity is left, but no pair is bound: the range is held by
            // others, or one step asked for more than the spares.
            self.totals.no_port += 1;
            return Err(PoolFull);
        };
        pair.state = PairState::InUse;
        p.in_range += 1;
        Ok((k as usize, pair.port))
    }

    /// Slot `k`'s stream ended: its pair closes.
    pub(super) fn retire_pair(&mut self, k: usize) {
        self.pool.retire(k);
    }

    /// Is there anything for [`Relay::maintain`] to do? One compare when
    /// there is not.
    pub fn maintenance_due(&self) -> bool {
        let p = &self.pool;
        !p.closing.is_empty()
            || self.kernel_due()
            || (!p.stalled
                && p.spares.len() < p.want()
                && (!p.unbound.is_empty() || p.pairs.len() < MAX_STREAMS))
    }

    /// Carry out up to `budget` port operations through `io` (the driver):
    /// close the pairs of ended streams first, then bind spares until there
    /// are enough. `io` answers a [`PortOp::Bind`] with the bind's outcome
    /// (a close always succeeds). Returns whether work is left.
    pub fn maintain(
        &mut self,
        budget: usize,
        io: &mut dyn FnMut(PortOp) -> Result<(), BindError>,
    ) -> bool {
        self.kernel_takebacks(io);
        for _ in 0..budget {
            if let Some(&k) = self.pool.closing.last() {
                self.kernel_close(k as usize, io);
            }
            let p = &mut self.pool;
            if let Some(k) = p.closing.pop() {
                let _ = io(PortOp::Close { slot: k as usize });
                if let Some(pair) = p.pairs.get_mut(k as usize) {
                    pair.state = PairState::Unbound;
                    let port = pair.port;
                    p.hold(port, false);
                }
                p.unbound.push(k);
                p.bound -= 1;
                p.stalled = false;
                self.totals.closed += 1;
                continue;
            }
            if !self.maintenance_due() {
                break;
            }
            let p = &mut self.pool;
            let Some(k) = p.free_slot() else { break };
            let Some(port) = p.candidate() else {
                p.unbound.push(k);
                p.stalled = true;
                break;
            };
            match io(PortOp::Bind {
                slot: k as usize,
                port,
            }) {
                Ok(()) => {
                    p.hold(port, true);
                    if let Some(pair) = p.pairs.get_mut(k as usize) {
                        // Always there: `free_slot` handed out k.
                        *pair = Pair {
                            port,
                            state: PairState::Spare,
                        };
                    }
                    p.spares.push_back(k);
                    p.bound += 1;
                    p.scan = None;
                    self.totals.bound += 1;
                }
                Err(e) => {
                    p.unbound.push(k);
                    let n = u32::from(p.range.pairs);
                    if let Some((j, tried)) = p.scan {
                        p.scan = Some(((j + 1) % n, tried + 1));
                    }
                    match e {
                        BindError::InUse => self.totals.bind_in_use += 1,
                        BindError::Other => {
                            self.totals.bind_failed += 1;
                            p.scan = None;
                            p.stalled = true;
                        }
                    }
                }
            }
        }
        if self.slots.len() < self.pool.pairs.len() {
            self.slots.resize(self.pool.pairs.len(), Slot::default());
        }
        self.maintenance_due()
    }

    /// Try binding again after the pool stalled (the driver calls it every
    /// few seconds: another program may have let ports go).
    pub fn retry_binds(&mut self) {
        self.pool.stalled = false;
    }

    /// The port of socket index `index` (`2k`: RTP of slot `k`, `2k + 1`
    /// its RTCP), while slot `k` has sockets.
    pub fn socket_port(&self, index: usize) -> Option<u16> {
        let pair = self.pool.pairs.get(index >> 1)?;
        // +1 cannot overflow: RTP ports are even.
        (pair.state != PairState::Unbound).then_some(pair.port + (index & 1) as u16)
    }

    /// The socket index of a bound port (a linear search: for tests and
    /// logs, never the packet path).
    pub fn socket_index(&self, port: u16) -> Option<usize> {
        let k = self
            .pool
            .pairs
            .iter()
            .position(|p| p.state != PairState::Unbound && p.port == port & !1)?;
        Some(2 * k + usize::from(port & 1))
    }
}

#[cfg(test)]
mod tests;
