//! The hold pool: packets for a leg that has no destination yet, kept until
//! it gets one (module doc of [`super`], "Hold").
//!
//! A fixed array of [`HOLD_PACKETS`] buffers of [`HOLD_BYTES`], allocated
//! once and shared by every stream. Each entry remembers which stream (slot
//! and generation), which leg and which channel it is for, when it arrived
//! and an arrival number, so packets leave in the order they came. The
//! entries and the bytes are apart: the bytes (40 KiB) are allocated
//! zeroed, the kernel's untouched pages, resident only once packets have
//! been held (searching the entries never reads them). Nothing here
//! allocates after [`HoldPool::new`], reads the clock or logs.

use super::latch::Path;
use super::{DropReason, HOLD_MAX_AGE};
use crate::limits::{HOLD_BYTES, HOLD_PACKETS, HOLD_PER_STREAM};
use crate::net::Addr;
use std::time::Instant;

/// What a held packet is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Target {
    pub slot: u32,
    pub generation: u32,
    /// The leg it goes to (0 = A, 1 = B).
    pub to: usize,
    /// 0 RTP, 1 RTCP.
    pub ch: usize,
}

impl Target {
    /// The leg it came from.
    pub fn from(&self) -> usize {
        self.to ^ 1
    }
}

struct Entry {
    /// When it arrived; `None`: the entry is free.
    at: Option<Instant>,
    target: Target,
    order: u64,
    len: usize,
}

/// A packet that left the pool without being sent: its target and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dropped {
    pub target: Target,
    pub len: usize,
}

pub(super) struct HoldPool {
    entries: Box<[Entry]>,
    /// The bytes of entry `i`: `HOLD_BYTES` from `i * HOLD_BYTES`.
    data: Box<[u8]>,
    next_order: u64,
    used: usize,
    /// A leg got a destination while packets were held: the driver should
    /// call `Relay::flush`.
    pub pending: bool,
}

impl HoldPool {
    pub fn new() -> HoldPool {
        let entries = (0..HOLD_PACKETS)
            .map(|_| Entry {
                at: None,
                target: Target {
                    slot: 0,
                    generation: 0,
                    to: 0,
                    ch: 0,
                },
                order: 0,
                len: 0,
            })
            .collect();
        HoldPool {
            entries,
            data: vec![0; HOLD_PACKETS * HOLD_BYTES].into_boxed_slice(),
            next_order: 0,
            used: 0,
            pending: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Packets held now.
    pub fn len(&self) -> usize {
        self.used
    }

    /// Hold `data` for `target`. `Err(())`: too large to hold. `Ok(Some)`:
    /// the packet that had to go to make room (the stream's oldest when it
    /// holds [`HOLD_PER_STREAM`] already, else the pool's oldest).
    pub fn hold(
        &mut self,
        now: Instant,
        target: Target,
        data: &[u8],
    ) -> Result<Option<Dropped>, ()> {
        if data.len() > HOLD_BYTES {
            return Err(());
        }
        let same_stream = |e: &Entry| {
            e.at.is_some()
                && e.target.slot == target.slot
                && e.target.generation == target.generation
        };
        let mut mine = 0;
        let mut mine_oldest: Option<usize> = None;
        let mut oldest: Option<usize> = None;
        let mut free: Option<usize> = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.at.is_none() {
                free = free.or(Some(i));
                continue;
            }
            let older = |o: Option<usize>| {
                o.and_then(|j| self.entries.get(j))
                    .is_none_or(|x| e.order < x.order)
            };
            if same_stream(e) {
                mine += 1;
                if older(mine_oldest) {
                    mine_oldest = Some(i);
                }
            }
            if older(oldest) {
                oldest = Some(i);
            }
        }
        let (slot, evicted) = if mine >= HOLD_PER_STREAM {
            (mine_oldest, true)
        } else if free.is_some() {
            (free, false)
        } else {
            (oldest, true)
        };
        // An empty pool has a free entry, a full one has an oldest: `slot`
        // is None only for a pool of zero entries.
        let Some((i, e)) = slot.and_then(|i| Some((i, self.entries.get_mut(i)?))) else {
            return Err(());
        };
        let dropped = (evicted && e.at.is_some()).then_some(Dropped {
            target: e.target,
            len: e.len,
        });
        if e.at.is_none() {
            self.used += 1;
        }
        e.target = target;
        e.at = Some(now);
        e.order = self.next_order;
        self.next_order = self.next_order.wrapping_add(1);
        e.len = data.len();
        // `data.len() <= HOLD_BYTES` was checked above.
        let at = i * HOLD_BYTES;
        if let Some(buf) = self.data.get_mut(at..at + data.len()) {
            buf.copy_from_slice(data);
        }
        Ok(dropped)
    }

    /// Visit the held packets in arrival order. `decide` says, for each,
    /// whether it leaves the pool (`true`: it was sent or dropped by the
    /// caller) or stays.
    pub fn drain(&mut self, decide: &mut dyn FnMut(Target, Instant, &[u8]) -> bool) {
        // Arrival order: sort the indices of the used entries by `order`
        // (at most HOLD_PACKETS of them, an insertion sort on the stack).
        let mut idx = [0usize; HOLD_PACKETS];
        let mut n = 0;
        for (i, e) in self.entries.iter().enumerate() {
            if e.at.is_some() && n < idx.len() {
                idx[n] = i;
                n += 1;
            }
        }
        let order = |i: usize| self.entries.get(i).map_or(u64::MAX, |e| e.order);
        for k in 1..n {
            let mut j = k;
            while j > 0 && order(idx[j - 1]) > order(idx[j]) {
                idx.swap(j - 1, j);
                j -= 1;
            }
        }
        for &i in idx.iter().take(n) {
            let Some(e) = self.entries.get_mut(i) else {
                continue;
            };
            let Some(at) = e.at else {
                continue;
            };
            let start = i * HOLD_BYTES;
            let data = self.data.get(start..start + e.len).unwrap_or_default();
            if decide(e.target, at, data) {
                e.at = None;
                self.used -= 1;
            }
        }
    }
}

/// Flushing held packets: the table's side of rule 8 (module doc).
impl super::Relay {
    /// Hand every held packet whose leg now has a destination to `send`
    /// (socket index, destination, bytes), in arrival order; drop those
    /// older than [`HOLD_MAX_AGE`] and those whose stream ended (rule 8).
    /// The rest stay held.
    pub fn flush(&mut self, now: Instant, send: &mut dyn FnMut(usize, Addr, &[u8])) {
        self.held.pending = false;
        let slots = &mut self.slots;
        let totals = &mut self.totals;
        self.held.drain(&mut |t, at, data| {
            let len = data.len();
            let st = slots
                .get_mut(t.slot as usize)
                .filter(|s| s.generation == t.generation)
                .and_then(|s| s.stream.as_mut());
            let Some(st) = st else {
                totals.dropped[DropReason::HoldStale.index()].add(len);
                return true;
            };
            if !crate::due(&(at + HOLD_MAX_AGE), &now) {
                totals.dropped[DropReason::HoldStale.index()].add(len);
                st.stats.dropped[DropReason::HoldStale.index()].add(len);
                return true;
            }
            let Some(to) = st
                .legs
                .get(t.to)
                .and_then(|l| l.paths.get(t.ch))
                .and_then(Path::destination)
            else {
                return false;
            };
            // Socket index of the stream's channel: cannot overflow, slots
            // number at most 65535.
            send(t.slot as usize * 2 + t.ch, *to, data);
            totals.forwarded.add(len);
            totals.flushed += 1;
            if let Some(c) = st.stats.forwarded.get_mut(t.from()) {
                c.add(len);
            }
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(slot: u32) -> Target {
        Target {
            slot,
            generation: 0,
            to: 1,
            ch: 0,
        }
    }

    fn contents(p: &mut HoldPool) -> Vec<(u32, Vec<u8>)> {
        let mut v = Vec::new();
        p.drain(&mut |tg, _, d| {
            v.push((tg.slot, d.to_vec()));
            false
        });
        v
    }

    #[test]
    fn holds_in_order_caps_per_stream_and_shares_the_pool() {
        let now = Instant::now();
        let mut p = HoldPool::new();
        assert!(p.is_empty());
        for k in 0..HOLD_PER_STREAM as u8 {
            assert_eq!(p.hold(now, t(1), &[k]), Ok(None));
        }
        // The stream's cap: its oldest goes.
        assert_eq!(
            p.hold(now, t(1), &[99]),
            Ok(Some(Dropped {
                target: t(1),
                len: 1
            }))
        );
        let got = contents(&mut p);
        assert_eq!(got.len(), HOLD_PER_STREAM);
        assert_eq!(got[0].1, [1]);
        assert_eq!(got.last().map(|x| x.1.clone()), Some(vec![99]));
        // Other streams fill the pool; then the pool's oldest goes.
        let mut slot = 2;
        while p.len() < HOLD_PACKETS {
            assert_eq!(p.hold(now, t(slot), &[7]), Ok(None));
            slot += 1;
        }
        let d = p.hold(now + Duration::from_millis(1), t(500), &[8]);
        assert_eq!(
            d,
            Ok(Some(Dropped {
                target: t(1),
                len: 1
            })),
            "stream 1's oldest packet (1) was the pool's oldest"
        );
        assert_eq!(p.len(), HOLD_PACKETS);
        assert_eq!(p.hold(now, t(1), &[0; HOLD_BYTES + 1]), Err(()));
        // Drain stream 1 only; the others stay, in order.
        let mut sent = Vec::new();
        p.drain(&mut |tg, _, d| {
            if tg.slot == 1 {
                sent.push(d[0]);
                true
            } else {
                false
            }
        });
        assert_eq!(sent, [2, 3, 4, 5, 6, 7, 99]);
        assert_eq!(p.len(), HOLD_PACKETS - 7);
    }
}
