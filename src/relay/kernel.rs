//! Handing streams to the kernel (issue 15, goal 3): which channels of
//! which streams the kernel forwards, when one is handed over and when it
//! comes back to the userspace relay.
//!
//! # What it does
//! - Decides, per channel (RTP, RTCP) of a stream, when the kernel may
//!   forward it: both legs latched (module doc rules 3–6), both learning
//!   windows closed (rule 4: no stronger source can still take a latch),
//!   no leg whose SDP moved in the last [`LATCH_WINDOW`](super::LATCH_WINDOW)
//!   latched elsewhere than at its exact new address (rule 6: that address
//!   may still take the latch), both latched sources heard within
//!   [`TWO_WAY`] (media flows both ways), both latched sources IPv4 (the
//!   kernel's table is `ip sipnat`, and nftables cannot translate between
//!   families: a stream with an IPv6 leg stays in userspace), the stream
//!   not on hold and not barred. The driver then installs the
//!   forwarding ([`PortOp::Forward`]: packets from `a` to the relay port go
//!   to `b`, and the other way; `src/driver/fastpath.rs` says how) and the
//!   relay remembers it in the slot ([`KernelFlow`]).
//! - Takes a channel back ([`PortOp::Unforward`]) when the kernel's
//!   forwarding no longer matches what the rules say: new SDP moved a leg
//!   (re-INVITE, RFC 3264 §8), the stream went on hold, a packet for it
//!   reached the userspace socket and the rules accepted it (a source
//!   moved: a NAT rebinding, or the kernel's forwarding does not catch the
//!   flow), the stream ended (before its ports close), or the fast path
//!   was switched off. A channel taken back because of a packet is barred
//!   from the kernel for a while ([`BAR_MOVED`], [`BAR_MISSED`]), so a
//!   stream never flaps between the two.
//! - Hands out the channels the kernel forwards a batch at a time, from a
//!   cursor ([`Relay::kernel_flows`]), so the driver reads their conntrack
//!   entries back a bounded number per pass, and keeps the stream's
//!   activity from what the kernel reports ([`Relay::kernel_seen`]):
//!   `rtp_timeout` and rule 6's silence work as they do in userspace, at
//!   the driver's polling granularity.
//!
//! # What it does not do
//! No netlink, no rules: it says what to forward; the driver carries it out
//! and answers success or failure (a failure bars the stream for
//! [`BAR_FAILED`] and is counted). It does not count the packets the
//! kernel forwards (the kernel does; `sipnat status` shows the flows), and
//! checks nothing in them: the kernel forwards only the exact source
//! address and port latched on each leg, to the relay port of the stream.
//! A stranger's packets still reach the userspace socket and the rules
//! above drop them, without taking the stream back.
//!
//! The decisions run from [`Relay::kernel_scan`] (a bounded number of slots
//! per call, from a cursor: never one long pass over the table) and, for
//! take-backs, from [`Relay::maintain`] as soon as they are due.

use super::{Relay, pool::PortOp};
use crate::net::Addr;
use std::time::{Duration, Instant};

/// Both latched sources must have sent within this for a channel to go to
/// the kernel: media flows both ways (a one-way stream stays where the
/// relay sees it).
pub const TWO_WAY: Duration = Duration::from_secs(1);

/// A channel taken back because one of its sources moved (the rules
/// accepted a packet from a new source) stays in userspace this long.
pub const BAR_MOVED: Duration = Duration::from_secs(10);

/// A channel taken back because its latched source's packets still reached
/// the userspace socket (the kernel's forwarding did not catch the flow)
/// stays in userspace this long.
pub const BAR_MISSED: Duration = Duration::from_secs(300);

/// Packets of a channel's latched sources that reach the socket this soon
/// after its handover were on their way then (in the socket's queue, or in
/// the moments before the driver cleared the flow's old conntrack entries):
/// they are relayed as before, and the entry their sending makes is cleared
/// again ([`PortOp::Forget`]) so it does not hold the flow on the socket.
pub const HANDOVER_GRACE: Duration = Duration::from_secs(1);

/// A stream whose handing over failed stays in userspace this long.
pub const BAR_FAILED: Duration = Duration::from_secs(60);

/// One channel of a stream as the kernel forwards it: a datagram from `a`
/// to the relay port `port` goes to `b` from `port`, and one from `b` to
/// `port` goes to `a`. `a_wan` and `b_wan` say which side each is on (the
/// driver needs the router's address on that side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelFlow {
    pub port: u16,
    pub a: Addr,
    pub a_wan: bool,
    pub b: Addr,
    pub b_wan: bool,
}

/// Where [`Relay::kernel_flows`] goes on: the socket index it looks at
/// next (the default: the start of the table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCursor(usize);

/// Why a channel left the kernel (for the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Back {
    /// A source moved, or the stream changed (SDP, hold, end, switch).
    Moved,
    /// The latched source's packets reached userspace anyway.
    Missed,
}

impl Relay {
    /// Switch the fast path on (the driver could install its rules) or off
    /// (every channel comes back, through [`Relay::maintain`]).
    pub fn set_fastpath(&mut self, on: bool) {
        self.fastpath = on;
        if !on && self.totals.in_kernel > 0 {
            self.krescan = true;
        }
    }

    /// Is the fast path on?
    pub fn fastpath(&self) -> bool {
        self.fastpath
    }

    /// Ask for slot `i` to be checked at the next [`Relay::maintain`]
    /// (take-backs are not left for the scan).
    pub(super) fn kernel_recheck(&mut self, i: usize) {
        // Cannot truncate: at most MAX_STREAMS slots.
        if self.kqueue.contains(&(i as u32)) {
            return;
        }
        if self.kqueue.push(i as u32).is_err() {
            self.krescan = true;
        }
    }

    /// Is there a take-back to carry out?
    pub(super) fn kernel_due(&self) -> bool {
        !self.kqueue.is_empty() || self.krescan
    }

    /// Carry out the take-backs asked for (from [`Relay::maintain`]).
    pub(super) fn kernel_takebacks(
        &mut self,
        io: &mut dyn FnMut(PortOp) -> Result<(), super::BindError>,
    ) {
        while let Some(i) = self.kqueue.pop() {
            self.kernel_forget_stale(i as usize, io);
            self.kernel_check(None, i as usize, io);
        }
        if self.krescan {
            self.krescan = false;
            for i in 0..self.slots.len() {
                self.kernel_forget_stale(i, io);
                self.kernel_check(None, i, io);
            }
        }
    }

    /// The conntrack entries of both legs of each channel of slot `i` the
    /// relay sent a packet of during its handover's grace go again
    /// ([`PortOp::Forget`]): the relay's sending made them, and they would
    /// keep the flow on the socket.
    fn kernel_forget_stale(
        &mut self,
        i: usize,
        io: &mut dyn FnMut(PortOp) -> Result<(), super::BindError>,
    ) {
        let Some(s) = self.slots.get_mut(i) else {
            return;
        };
        let stale = std::mem::take(&mut s.kstale);
        for ch in 0..2 {
            if let Some(k) = s.kernel[ch].filter(|_| stale & (1 << ch) != 0) {
                let _ = io(PortOp::Forget {
                    to: k.a,
                    wan: k.a_wan,
                    port: k.port,
                });
                let _ = io(PortOp::Forget {
                    to: k.b,
                    wan: k.b_wan,
                    port: k.port,
                });
            }
        }
    }

    /// Look at up to `budget` slots from the cursor: hand over the channels
    /// that may go to the kernel (module doc), take back those that may
    /// not. The driver calls it every few hundred milliseconds.
    pub fn kernel_scan(
        &mut self,
        now: Instant,
        budget: usize,
        io: &mut dyn FnMut(PortOp) -> Result<(), super::BindError>,
    ) {
        self.kernel_takebacks(io);
        let n = self.slots.len();
        if n == 0 || (!self.fastpath && self.totals.in_kernel == 0) {
            return;
        }
        for _ in 0..budget.min(n) {
            self.kcursor = (self.kcursor + 1) % n;
            self.kernel_check(Some(now), self.kcursor, io);
        }
    }

    /// The channels the kernel forwards, in the table's order (socket
    /// index) from `from` on: up to `out.len()` of them written to `out`,
    /// for the driver to read their conntrack entries back (each holds the
    /// tuple `a` → the router's address on `a`'s side, port `port`, one way
    /// or the other). Returns how many, and where the next call goes on:
    /// None when it reached the end of the table (a cycle is complete; the
    /// next one starts from [`KernelCursor::default`]). A channel handed
    /// over ahead of the cursor during a cycle is in it, one behind it in
    /// the next; one taken back is simply not there. The walk skips empty
    /// slots without a bound on their number: a few microseconds for the
    /// whole table ([`MAX_STREAMS`](crate::limits::MAX_STREAMS) slots, an
    /// `Option` each), the relay's own memory, not the kernel's table.
    pub fn kernel_flows(
        &self,
        from: KernelCursor,
        out: &mut [KernelFlow],
    ) -> (usize, Option<KernelCursor>) {
        let mut n = 0;
        for index in from.0..self.slots.len() * 2 {
            let Some(k) = self.slots.get(index >> 1).and_then(|s| s.kernel[index & 1]) else {
                continue;
            };
            let Some(o) = out.get_mut(n) else {
                return (n, Some(KernelCursor(index)));
            };
            *o = k;
            n += 1;
        }
        (n, None)
    }

    /// The kernel reports the flow on relay port `port`: `packets` it
    /// counted both ways (None: the kernel's conntrack accounting is off,
    /// `net.netfilter.nf_conntrack_acct`; the flow's being there is all it
    /// says), and whether a flowtable carries it (`offloaded`: OpenWrt's
    /// flow offloading). Counts that grew, or a flow without counts, mean
    /// the stream and the channel's latches were active `now`:
    /// `rtp_timeout` and rule 6's silence see the kernel's packets this way.
    ///
    /// The packets of an offloaded flow skip conntrack; only a flowtable
    /// declared with `counter` (firewall4's is, today) adds them to the
    /// entry's counts. So an offloaded flow whose counts have not been seen
    /// to grow between two offloaded readings (after a third: the packets on
    /// their way as the flowtable took over are counted in the slow path)
    /// counts as a flow without counts: its being there is activity (the flowtable lets go of a flow
    /// idle for its timeout, 30 s, and the counts then decide again), else
    /// such a flowtable would time out every offloaded call after
    /// `rtp_timeout`. Once they grew, the flowtable counts, and they decide.
    pub fn kernel_seen(&mut self, now: Instant, port: u16, packets: Option<u64>, offloaded: bool) {
        let Some(index) = self.socket_index(port) else {
            return;
        };
        let (i, ch) = (index >> 1, index & 1);
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if slot.kernel.get(ch).is_none_or(Option::is_none) {
            return;
        }
        let k = slot.koffload;
        let bit = |at: usize| k >> (at + ch) & 1 != 0;
        let (was, was2, counts) = (bit(0), bit(4), bit(2));
        slot.koffload &= !(0b1_0001 << ch);
        slot.koffload |= u8::from(was) << (4 + ch) | u8::from(offloaded) << ch;
        if let Some(n) = packets {
            let grew = slot.kpackets[ch] != n;
            slot.kpackets[ch] = n;
            // Growth since a reading that was itself offloaded after an
            // offloaded one: the packets on their way when the flowtable
            // took over (the slow path counts them) are counted by then.
            if grew && offloaded && was && was2 {
                slot.koffload |= 1 << (2 + ch);
            }
            let uncounted = offloaded && !counts;
            if !grew && !uncounted {
                return;
            }
        }
        let Some(st) = slot.stream.as_mut() else {
            return;
        };
        st.last_active = st.last_active.max(now);
        for l in st.legs.iter_mut() {
            if let Some(x) = l.paths.get_mut(ch).and_then(|p| p.latched.as_mut()) {
                x.last_seen = x.last_seen.max(now);
            }
        }
    }

    /// A packet that arrived on socket `index` (channel `index & 1` of slot
    /// `index >> 1`) from `from` reached the
    /// userspace socket while the kernel forwards that channel (`k`, handed
    /// over at `at`), and the rules took it (`verdict`; `latched`: it made
    /// a new latch). One from a forwarded source within
    /// [`HANDOVER_GRACE`] was on its way at the handover; any other means
    /// the kernel's flow is wrong now: take the channel back.
    pub(super) fn kernel_packet(
        &mut self,
        now: Instant,
        index: usize,
        from: Addr,
        latched: bool,
        (k, at): (KernelFlow, Option<Instant>),
        verdict: &super::latch::Verdict,
    ) {
        let (i, ch) = (index >> 1, index & 1);
        let from_latched = !latched && (from == k.a || from == k.b);
        let in_grace = at.is_some_and(|t| !crate::due(&now, &(t + HANDOVER_GRACE)));
        if from_latched && in_grace {
            if matches!(verdict, super::latch::Verdict::Forward(_)) {
                if let Some(s) = self.slots.get_mut(i) {
                    s.kstale |= 1 << ch;
                }
                self.kernel_recheck(i);
            }
            return;
        }
        self.kernel_missed(now, i, from_latched);
    }

    /// Take slot `i`'s channels back and bar them (`from_latched`: the
    /// forwarded source's packets reached the socket after the grace).
    fn kernel_missed(&mut self, now: Instant, i: usize, from_latched: bool) {
        let bar = if from_latched { BAR_MISSED } else { BAR_MOVED };
        if let Some(st) = self.slots.get_mut(i).and_then(|s| s.stream.as_mut()) {
            st.kernel_bar = now.checked_add(bar);
            st.kernel_back = Some(if from_latched {
                Back::Missed
            } else {
                Back::Moved
            });
        }
        self.kernel_recheck(i);
    }

    /// The flow slot `i`'s channel `ch` should have in the kernel now, if
    /// any (`now` None: take-backs only, nothing new is handed over).
    fn kernel_wanted(&mut self, now: Option<Instant>, i: usize, ch: usize) -> Option<KernelFlow> {
        let port = self.socket_port(i * 2 + ch)?;
        let on = self.fastpath;
        let st = self.slots.get_mut(i)?.stream.as_mut()?;
        if !on || st.hold {
            return None;
        }
        if let Some(bar) = st.kernel_bar {
            match now {
                Some(now) if crate::due(&now, &bar) => st.kernel_bar = None,
                _ => return None,
            }
        }
        let [la, lb] = &st.legs;
        let (a, b) = (la.paths[ch].latched?, lb.paths[ch].latched?);
        if a.addr.v4().is_none() || b.addr.v4().is_none() {
            return None; // IPv4 only (module doc)
        }
        let flow = KernelFlow {
            port,
            a: a.addr,
            a_wan: la.wan,
            b: b.addr,
            b_wan: lb.wan,
        };
        let Some(now) = now else {
            // A take-back check: the flow stands as long as it matches.
            return Some(flow);
        };
        let settled =
            |w: Option<super::latch::Window>| w.is_none_or(|w| crate::due(&now, &w.until));
        let heard = |t: Instant| now.saturating_duration_since(t) <= TWO_WAY;
        (a.addr != b.addr
            && settled(la.window)
            && settled(lb.window)
            && la.settled(now, ch)
            && lb.settled(now, ch)
            && heard(a.last_seen)
            && heard(b.last_seen))
        .then_some(flow)
    }

    /// Bring slot `i`'s channels in line with [`Relay::kernel_wanted`].
    fn kernel_check(
        &mut self,
        now: Option<Instant>,
        i: usize,
        io: &mut dyn FnMut(PortOp) -> Result<(), super::BindError>,
    ) {
        for ch in 0..2 {
            let have = self.slots.get(i).and_then(|s| s.kernel[ch]);
            // A channel in the kernel stays while it matches: its sources
            // are no longer heard by the relay, and its windows closed.
            let want = self.kernel_wanted(if have.is_some() { None } else { now }, i, ch);
            match (have, want) {
                (Some(h), Some(w)) if h == w => {}
                (Some(h), _) => {
                    let _ = io(PortOp::Unforward(h));
                    self.kernel_gone(i, ch, now);
                }
                (None, Some(w)) if now.is_some() => match io(PortOp::Forward(w)) {
                    Ok(()) => {
                        if let Some(s) = self.slots.get_mut(i) {
                            s.kernel[ch] = Some(w);
                            s.kpackets[ch] = 0;
                            s.koffload &= !(0b1_0101 << ch);
                            if let Some(st) = s.stream.as_mut() {
                                st.kernel_at = now;
                            }
                        }
                        self.totals.in_kernel += 1;
                        self.totals.kernel_handovers += 1;
                        log::debug!("relay: port {} to the kernel: {} <-> {}", w.port, w.a, w.b);
                    }
                    Err(_) => {
                        self.totals.kernel_failed += 1;
                        let now = now.unwrap_or_else(Instant::now);
                        if let Some(st) = self.slots.get_mut(i).and_then(|s| s.stream.as_mut()) {
                            st.kernel_bar = now.checked_add(BAR_FAILED);
                        }
                    }
                },
                _ => {}
            }
        }
    }

    /// Slot `i`'s channel `ch` left the kernel: forget it, count why.
    fn kernel_gone(&mut self, i: usize, ch: usize, _now: Option<Instant>) {
        let Some(s) = self.slots.get_mut(i) else {
            return;
        };
        let Some(h) = s.kernel[ch].take() else {
            return;
        };
        self.totals.in_kernel -= 1;
        let back = s.stream.as_mut().and_then(|st| st.kernel_back.take());
        match back {
            Some(Back::Missed) => self.totals.kernel_missed += 1,
            _ => self.totals.kernel_taken_back += 1,
        }
        log::debug!("relay: port {} back from the kernel", h.port);
    }

    /// Slot `k`'s pair is about to close: the kernel's flows of it go
    /// first (from [`Relay::maintain`]).
    pub(super) fn kernel_close(
        &mut self,
        k: usize,
        io: &mut dyn FnMut(PortOp) -> Result<(), super::BindError>,
    ) {
        for ch in 0..2 {
            if let Some(h) = self.slots.get(k).and_then(|s| s.kernel[ch]) {
                let _ = io(PortOp::Unforward(h));
                self.kernel_gone(k, ch, None);
            }
        }
    }

    /// Is a channel of this stream forwarded by the kernel now?
    pub fn in_kernel(&self, id: super::StreamId) -> bool {
        self.stream(id).is_some()
            && self
                .slots
                .get(id.slot as usize)
                .is_some_and(|s| s.kernel.iter().any(Option::is_some))
    }

    /// A stream's latches were reset or it went on hold: the kernel's
    /// forwarding of it (if any) must go ([`kernel`]).
    pub(super) fn kernel_moved(&mut self, id: super::StreamId) {
        let i = id.slot as usize;
        if self
            .slots
            .get(i)
            .is_some_and(|s| s.kernel.iter().any(Option::is_some))
        {
            self.kernel_recheck(i);
        }
    }
}
