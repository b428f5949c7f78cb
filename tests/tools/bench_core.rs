//! The measuring and reporting half of `sipnat-bench` (issue 5): everything
//! the benchmark computes, with no sockets, no clock and no files, so that
//! each piece is unit-tested with plain values.
//!
//! What it does:
//! * The packet stamp shared by the RTP load generator and the receivers
//!   ([`write_packet`], [`set_sent_ns`], [`read_stamp`]): a 12-byte RTP
//!   header (RFC 3550 §5.1: V=2, PT 0, sequence number, timestamp, SSRC)
//!   followed by the magic `SNBN`, the call index, the direction, a 32-bit
//!   packet counter (so loss and reordering are counted without the 16-bit
//!   RTP sequence wrap) and the send time in CLOCK_REALTIME nanoseconds.
//! * [`Histogram`]: one-way latency in nanoseconds, log-linear buckets
//!   (< 0.8 % relative error) from 0 to about 17 s, exact min and max.
//! * [`SeqTracker`]: per (call, direction) receive bookkeeping by packet
//!   counter: unique packets, duplicates, reordered packets.
//! * `/proc` text parsing: CPU ticks from `/proc/PID/stat`
//!   ([`parse_stat_cpu_ticks`]), `kB` lines of `/proc/PID/status`
//!   ([`parse_status_kb`], for VmHWM / VmRSS), and the kernel's memory for
//!   sockets: `inuse` of `/proc/net/sockstat` ([`parse_sockstat_inuse`]) and
//!   the slab objects one socket takes ([`socket_slab_bytes`]); the
//!   per-CPU time of `/proc/stat` ([`parse_proc_stat`], [`cpu_window`]:
//!   softirq time for the system-wide CPU per packet); the samples of
//!   `perf script` split by task and softirq ([`perf_split`]). (The
//!   elements of sipnat's nftables map: `load_core::nft_map_elements`,
//!   which the media tests share.)
//! * SIPp 3.6.1 `-trace_stat` CSV parsing ([`parse_sipp_stats`]).
//! * Which LAN address sends which REGISTER ([`reg_host`], [`reg_hosts`],
//!   [`extra_host_ip`]): [`REGS_PER_HOST`] per address, as from an office
//!   PBX, never all from the phone.
//! * The result records ([`MediaRun`], [`SetupRun`]), the ratio to the null
//!   relay measured in the same run ([`fill_ratios`]), and the three report
//!   forms: JSON ([`report_json`]), markdown tables ([`media_table`],
//!   [`setup_table`]) and an SVG plot of a sweep of call counts
//!   ([`sweep_svg`], with its axis helper [`nice_ticks`]).
//!
//! What it does NOT do: open sockets, read files or the clock, start
//! processes, or decide pass/fail: the tuning targets of issue 5 are
//! reported, never asserted. It does not parse SIP either (that is
//! `load_core.rs`). Only [`Histogram::record`], [`SeqTracker::record`] and
//! the stamp functions run per packet, and they do not allocate; the report
//! functions allocate freely.

#![allow(dead_code)] // included by the bench binary and by tests/bench.rs, each uses a part

use std::fmt::Write as _;

// ------------------------------------------------------------------ stamp

/// Magic after the RTP header that marks a benchmark packet.
pub const STAMP_MAGIC: &[u8; 4] = b"SNBN";
/// Length of the fixed RTP header (RFC 3550 §5.1, no CSRC, no extension).
pub const RTP_HEADER: usize = 12;
/// RTP header + stamp: the shortest packet [`read_stamp`] accepts.
pub const STAMP_LEN: usize = 33;
/// Payload filler: G.711 mu-law silence.
pub const FILL_BYTE: u8 = 0xD5;

/// What a benchmark packet carries besides its RTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Call index, 0-based, as the generator numbers its calls.
    pub call: u32,
    /// 0 = LAN->WAN (phone to far end), 1 = WAN->LAN.
    pub dir: u8,
    /// 0, 1, 2, ... per call and direction.
    pub counter: u32,
    /// CLOCK_REALTIME nanoseconds, written just before the send syscall.
    pub sent_ns: u64,
}

/// Write a whole packet into `buf`: RTP header (V=2, PT 0, seq = counter as
/// u16, timestamp = counter * 160, SSRC = call << 1 | dir), the stamp, then
/// [`FILL_BYTE`] up to `len`. `len` below [`STAMP_LEN`] is raised to it and
/// a `len` beyond `buf` is cut to `buf.len()`; returns the length written,
/// 0 when `buf` cannot hold even [`STAMP_LEN`] bytes.
pub fn write_packet(buf: &mut [u8], st: &Stamp, len: usize) -> usize {
    let len = len.max(STAMP_LEN).min(buf.len());
    if len < STAMP_LEN {
        return 0;
    }
    let Some(p) = buf.get_mut(..len) else {
        return 0;
    };
    p[0] = 0x80; // V=2, no padding, no extension, CC=0 (RFC 3550 §5.1)
    p[1] = 0; // M=0, PT 0 (PCMU)
    p[2..4].copy_from_slice(&(st.counter as u16).to_be_bytes());
    p[4..8].copy_from_slice(&st.counter.wrapping_mul(160).to_be_bytes());
    let ssrc = (st.call << 1) | u32::from(st.dir & 1);
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p[12..16].copy_from_slice(STAMP_MAGIC);
    p[16..20].copy_from_slice(&st.call.to_be_bytes());
    p[20] = st.dir;
    p[21..25].copy_from_slice(&st.counter.to_be_bytes());
    p[25..33].copy_from_slice(&st.sent_ns.to_be_bytes());
    p[STAMP_LEN..].fill(FILL_BYTE);
    len
}

/// Patch only `sent_ns` of a packet written by [`write_packet`]; a packet
/// shorter than [`STAMP_LEN`] is left alone.
pub fn set_sent_ns(packet: &mut [u8], ns: u64) {
    if let Some(f) = packet.get_mut(25..33) {
        f.copy_from_slice(&ns.to_be_bytes());
    }
}

/// Read the stamp of a received packet. `None` when it is shorter than
/// [`STAMP_LEN`], not RTP version 2, lacks the magic, or has a direction
/// other than 0 or 1.
pub fn read_stamp(p: &[u8]) -> Option<Stamp> {
    let p = p.get(..STAMP_LEN)?;
    if p[0] >> 6 != 2 || &p[12..16] != STAMP_MAGIC || p[20] > 1 {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    let mut ns = [0u8; 8];
    ns.copy_from_slice(&p[25..33]);
    Some(Stamp {
        call: u32_at(16),
        dir: p[20],
        counter: u32_at(21),
        sent_ns: u64::from_be_bytes(ns),
    })
}

// ------------------------------------------------------------------ histogram

/// Linear sub-buckets per power of two (2^SUB_BITS).
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Values up to 2^TOP_EXP - 1 ns (about 17.2 s) get their own bucket.
const TOP_EXP: u32 = 34;
const HIST_TOP: u64 = (1 << TOP_EXP) - 1;
/// 128 exact buckets for 0..128, then 128 per power of two from 2^7 to 2^33.
const BUCKETS: usize = SUB * (TOP_EXP - SUB_BITS + 1) as usize;

/// Latency histogram in nanoseconds. Values below 128 have one bucket each;
/// above, each range [2^k, 2^(k+1)) is split into 128 equal buckets, so a
/// bucket is narrower than 1/128 of its values (< 0.8 % relative error).
/// Values above ~17.2 s are counted in the top bucket; `min`, `max` and
/// `mean` stay exact.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of(ns: u64) -> usize {
    let v = ns.min(HIST_TOP);
    if v < SUB as u64 {
        return v as usize;
    }
    let k = 63 - v.leading_zeros(); // SUB_BITS..TOP_EXP
    let shift = k - SUB_BITS;
    let sub = ((v >> shift) as usize) - SUB;
    (shift as usize + 1) * SUB + sub
}

/// Largest value that falls in bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let shift = (i / SUB - 1) as u32;
    let sub = (i % SUB) as u64;
    let lower = (SUB as u64 + sub) << shift;
    lower + (1u64 << shift) - 1
}

impl Histogram {
    /// An empty histogram; its only allocation.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            min: 0,
            max: 0,
        }
    }

    /// Count one sample. Does not allocate.
    pub fn record(&mut self, ns: u64) {
        if let Some(c) = self.counts.get_mut(bucket_of(ns)) {
            *c += 1;
        }
        if self.count == 0 || ns < self.min {
            self.min = ns;
        }
        if ns > self.max {
            self.max = ns;
        }
        self.count += 1;
        self.sum += u128::from(ns);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest sample, exact; 0 when empty.
    pub fn min(&self) -> u64 {
        self.min
    }

    /// Largest sample, exact (also above the top bucket); 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Exact mean; 0.0 when empty.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The smallest bucket bound v such that at least `q` % of the samples
    /// are <= v (`q` clamped to 0..=100), reported as the bucket's upper
    /// bound clamped to [`max`](Self::max); 0 when empty.
    pub fn percentile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q >= 0.0 { q.min(100.0) } else { 0.0 }; // NaN -> 0
        let target = ((q * self.count as f64) / 100.0).ceil() as u64;
        let target = target.clamp(1, self.count);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return bucket_upper(i).min(self.max).max(self.min);
            }
        }
        self.max
    }

    /// Add `other`'s samples, as if they had been recorded here.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        if self.count == 0 || other.min < self.min {
            self.min = other.min;
        }
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum += other.sum;
    }
}

// ------------------------------------------------------------------ sequence

/// What a received packet was, by its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Higher than every counter seen before (or the first).
    New,
    /// Not seen before, but lower than the highest seen.
    Reordered,
    /// Seen before.
    Duplicate,
}

/// Counters behind the highest one that are remembered exactly.
const SEQ_WINDOW: u32 = 1024;

/// Per (call, direction) receive bookkeeping by the stamp's packet counter.
///
/// A 1024-bit ring remembers which of the last 1024 counters up to the
/// highest were received, so duplicates inside that window are exact. A
/// packet more than 1024 counters behind the highest cannot be told apart
/// from a duplicate; it is counted as a new, reordered packet (and in
/// [`beyond_window`](Self::beyond_window)): the generator sends every
/// counter once and a relay does not duplicate, so "very late" is the
/// likely story, and counting it as a duplicate would overstate loss.
/// Counters are assumed not to wrap (2^32 packets per stream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqTracker {
    highest: Option<u32>,
    seen: [u64; (SEQ_WINDOW / 64) as usize],
    unique: u64,
    duplicates: u64,
    reordered: u64,
    beyond: u64,
}

impl SeqTracker {
    fn slot(c: u32) -> (usize, u64) {
        let b = c % SEQ_WINDOW;
        ((b / 64) as usize, 1u64 << (b % 64))
    }

    fn test_and_set(&mut self, c: u32) -> bool {
        let (w, m) = Self::slot(c);
        match self.seen.get_mut(w) {
            Some(word) => {
                let was = *word & m != 0;
                *word |= m;
                was
            }
            None => false, // unreachable: w < SEQ_WINDOW / 64
        }
    }

    fn clear(&mut self, c: u32) {
        let (w, m) = Self::slot(c);
        if let Some(word) = self.seen.get_mut(w) {
            *word &= !m;
        }
    }

    /// Count one received packet; returns what it was. Does not allocate.
    pub fn record(&mut self, counter: u32) -> Arrival {
        let Some(h) = self.highest else {
            self.highest = Some(counter);
            self.test_and_set(counter);
            self.unique = 1;
            return Arrival::New;
        };
        if counter > h {
            let d = counter - h;
            if d >= SEQ_WINDOW {
                self.seen = [0; (SEQ_WINDOW / 64) as usize];
            } else {
                for i in 1..=d {
                    self.clear(h.wrapping_add(i));
                }
            }
            self.test_and_set(counter);
            self.highest = Some(counter);
            self.unique += 1;
            return Arrival::New;
        }
        if h - counter >= SEQ_WINDOW {
            self.beyond += 1;
            self.unique += 1;
            self.reordered += 1;
            return Arrival::Reordered;
        }
        if self.test_and_set(counter) {
            self.duplicates += 1;
            Arrival::Duplicate
        } else {
            self.unique += 1;
            self.reordered += 1;
            Arrival::Reordered
        }
    }

    /// Distinct counters received (including reordered ones).
    pub fn unique(&self) -> u64 {
        self.unique
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// New counters that arrived after a higher one.
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// Of [`reordered`](Self::reordered), those more than 1024 behind the
    /// highest (whether they were duplicates cannot be told).
    pub fn beyond_window(&self) -> u64 {
        self.beyond
    }

    pub fn highest(&self) -> Option<u32> {
        self.highest
    }

    /// Packets lost of `sent`: `sent - unique`, never below 0.
    pub fn lost_of(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.unique)
    }
}

// ------------------------------------------------------------------ LAN hosts

/// REGISTERs one LAN address sends: a small office's PBX registering its
/// extensions. 512 registrations on a home router come from many phones,
/// and sipnat lets one source host hold at most 64 bindings
/// (`MAX_REGISTRATIONS_PER_HOST`), so the benchmark spreads them out.
pub const REGS_PER_HOST: u32 = 32;

/// The first LAN address after the phone's (10.77.1.2, host 0) that sends
/// REGISTERs: host h >= 1 is 10.77.1.(99 + h), in the /24 of the LAN
/// namespace of `tests/netns/topo.sh` (which itself holds .2 and .3).
pub const FIRST_EXTRA_HOST: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 77, 1, 100);

/// Registering hosts there is room for: the phone and 10.77.1.100 to .254.
pub const MAX_REG_HOSTS: u32 = 1 + (254 - 100 + 1);

/// The most registrations one run can send ([`MAX_REG_HOSTS`] ×
/// [`REGS_PER_HOST`]).
pub const MAX_BENCH_REGISTRATIONS: u32 = MAX_REG_HOSTS * REGS_PER_HOST;

/// The LAN host (0: the phone) that sends registration `j` (user reg`j`):
/// the first [`REGS_PER_HOST`] come from the phone, the next from host 1...
pub fn reg_host(j: u32) -> u32 {
    j / REGS_PER_HOST
}

/// How many LAN hosts `n` registrations come from, the phone included
/// (at least 1: the phone always registers).
pub fn reg_hosts(n: u32) -> u32 {
    n.div_ceil(REGS_PER_HOST).max(1)
}

/// The address of registering host `h` >= 1; `None` for the phone (h = 0)
/// and past 10.77.1.254.
pub fn extra_host_ip(h: u32) -> Option<std::net::Ipv4Addr> {
    if h == 0 || h >= MAX_REG_HOSTS {
        return None;
    }
    let [a, b, c, d] = FIRST_EXTRA_HOST.octets();
    // h - 1 <= 154 here, so d + h - 1 <= 254
    Some(std::net::Ipv4Addr::new(a, b, c, d + (h - 1) as u8))
}

// ------------------------------------------------------------------ /proc

/// utime + stime in clock ticks from the text of `/proc/PID/stat` (fields
/// 14 and 15, see proc(5)). The command name in parentheses may contain
/// spaces and ')', so the fields are counted after the LAST ')'.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let close = stat.rfind(')')?;
    let rest = stat.get(close + 1..)?;
    // After the name, the first field is field 3 (state).
    let mut f = rest.split_ascii_whitespace().skip(14 - 3);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The value of a `Name:   1234 kB` line of `/proc/PID/status`, in kB.
/// `name` may be given with or without the colon.
pub fn parse_status_kb(status: &str, name: &str) -> Option<u64> {
    let name = name.strip_suffix(':').unwrap_or(name);
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let mut it = rest.split_ascii_whitespace();
        let v: u64 = it.next()?.parse().ok()?;
        match it.next() {
            Some(u) if u.eq_ignore_ascii_case("kB") => Some(v),
            _ => None,
        }
    })
}

/// `inuse` of the `PROTO:` line of `/proc/net/sockstat` (`UDP: inuse 17
/// mem 352`): the sockets of that protocol in the reader's network
/// namespace. (`mem` is the whole machine's, in pages, so it is not used.)
pub fn parse_sockstat_inuse(sockstat: &str, proto: &str) -> Option<u64> {
    sockstat.lines().find_map(|line| {
        let rest = line.strip_prefix(proto)?.strip_prefix(':')?;
        let mut it = rest.split_ascii_whitespace();
        (it.next()? == "inuse").then_some(())?;
        it.next()?.parse().ok()
    })
}

/// The object size of slab cache `name` in `/proc/slabinfo` (version 2.1:
/// `name active_objs num_objs objsize …`).
pub fn slab_objsize(slabinfo: &str, name: &str) -> Option<u64> {
    slabinfo.lines().find_map(|line| {
        let mut it = line.split_ascii_whitespace();
        (it.next()? == name).then_some(())?;
        it.nth(2)?.parse().ok()
    })
}

/// Slab caches one socket of `proto` (the cache `UDP` or `TCP`) takes an
/// object of: the protocol's sock, its inode (with the socket), the open
/// file, its dentry, and the epoll entry that watches it.
pub const SOCKET_SLABS: [&str; 4] = ["sock_inode_cache", "filp", "dentry", "eventpoll_epi"];

/// Bytes of slab one socket of `proto` takes on the kernel whose
/// `/proc/slabinfo` this is; `None` when a cache is not listed (a kernel
/// that merges caches names them otherwise).
pub fn socket_slab_bytes(slabinfo: &str, proto: &str) -> Option<u64> {
    let mut total = slab_objsize(slabinfo, proto)?;
    for cache in SOCKET_SLABS {
        total += slab_objsize(slabinfo, cache)?;
    }
    Some(total)
}

/// One `cpuN` line of `/proc/stat` (proc(5)), in USER_HZ units: `busy` is
/// user + nice + system + irq + softirq (guest time is inside user; idle,
/// iowait and steal are not busy), `softirq` the softirq column alone,
/// `idle` idle + iowait. Without `CONFIG_IRQ_TIME_ACCOUNTING` (and
/// `VIRT_CPU_ACCOUNTING`) the busy columns are sampled at the timer tick;
/// idle and iowait are measured (the NO_HZ idle clock) on a kernel with
/// NO_HZ, so wall time minus `idle` is the CPU's exact busy time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    pub busy: u64,
    pub softirq: u64,
    pub idle: u64,
}

/// The per-CPU lines of `/proc/stat`: `(N, ticks)` for every `cpuN` line
/// (the `cpu` total line is skipped). Lines too short to hold the softirq
/// column are skipped.
pub fn parse_proc_stat(stat: &str) -> Vec<(usize, CpuTicks)> {
    stat.lines()
        .filter_map(|line| {
            let mut it = line.split_ascii_whitespace();
            let n: usize = it.next()?.strip_prefix("cpu")?.parse().ok()?;
            let v: Vec<u64> = it.take(7).map(|f| f.parse().ok()).collect::<Option<_>>()?;
            // user nice system idle iowait irq softirq
            let &[user, nice, system, idle, iowait, irq, softirq] = v.as_slice() else {
                return None;
            };
            Some((
                n,
                CpuTicks {
                    busy: user + nice + system + irq + softirq,
                    softirq,
                    idle: idle + iowait,
                },
            ))
        })
        .collect()
}

/// What the CPUs did between two readings of `/proc/stat`, in ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuWindow {
    /// Softirq time of all CPUs.
    pub softirq: u64,
    /// The part of `softirq` on `proxy_cpu` (0 without one).
    pub softirq_proxy_cpu: u64,
    /// Busy time of all CPUs, from the tick-sampled columns.
    pub busy: u64,
    /// Idle time of all CPUs (idle + iowait, measured under NO_HZ).
    pub idle: u64,
    /// CPUs in both readings.
    pub cpus: u64,
}

/// The difference of two [`parse_proc_stat`] readings, CPU by CPU (a CPU
/// missing from either reading counts nothing; a counter that went back,
/// which the kernel does not do, counts 0).
pub fn cpu_window(
    before: &[(usize, CpuTicks)],
    after: &[(usize, CpuTicks)],
    proxy_cpu: Option<usize>,
) -> CpuWindow {
    let mut w = CpuWindow::default();
    for (n, a) in after {
        let Some((_, b)) = before.iter().find(|(m, _)| m == n) else {
            continue;
        };
        let softirq = a.softirq.saturating_sub(b.softirq);
        w.softirq += softirq;
        w.busy += a.busy.saturating_sub(b.busy);
        w.idle += a.idle.saturating_sub(b.idle);
        w.cpus += 1;
        if proxy_cpu == Some(*n) {
            w.softirq_proxy_cpu += softirq;
        }
    }
    w
}

/// Kernel functions that run softirqs: a sample with one of them in its
/// call chain was taken in softirq context (`handle_softirqs` since Linux
/// 6.8, `__do_softirq` before).
pub const SOFTIRQ_FRAMES: [&str; 2] = ["handle_softirqs", "__do_softirq"];

/// Samples of a `perf record -a -g -e cpu-clock` window, as `perf script
/// -F pid,cpu,time,ip,sym` prints them, by whose they are and whether
/// they were taken in softirq context ([`SOFTIRQ_FRAMES`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerfSplit {
    /// Every sample (idle included).
    pub samples: u64,
    /// The proxy's process (softirq run inside it included), and the part
    /// in softirq.
    pub proxy: u64,
    pub proxy_softirq: u64,
    /// The load generator's process, and the part in softirq.
    pub generator: u64,
    pub generator_softirq: u64,
    /// Softirq in any other context: ksoftirqd, other tasks, or an
    /// interrupt that came while the CPU was idle.
    pub other_softirq: u64,
    /// Not softirq, not the proxy, not the generator, not idle.
    pub other: u64,
}

/// Split the samples of `perf script -F pid,cpu,time,ip,sym` output (a
/// header line `PID [CPU] TIME:`, then one tab-indented line per frame of
/// its call chain, `ADDR SYMBOL`; a blank line ends a sample) by process
/// (`proxy`, `generator`, pid 0 the idle task) and softirq context.
pub fn perf_split(script: &str, proxy: u32, generator: u32) -> PerfSplit {
    let mut s = PerfSplit::default();
    let mut cur: Option<(u32, bool)> = None;
    let mut close = |cur: &mut Option<(u32, bool)>| {
        let Some((pid, softirq)) = cur.take() else {
            return;
        };
        s.samples += 1;
        match (pid, softirq) {
            (p, si) if p == proxy && p != 0 => {
                s.proxy += 1;
                s.proxy_softirq += u64::from(si);
            }
            (p, si) if p == generator && p != 0 => {
                s.generator += 1;
                s.generator_softirq += u64::from(si);
            }
            (_, true) => s.other_softirq += 1,
            (0, false) => {}
            (_, false) => s.other += 1,
        }
    };
    for line in script.lines() {
        if line.trim().is_empty() {
            close(&mut cur);
        } else if !line.starts_with('\t') {
            // a header: "  1234 [001] 60017.113501534: " (pid, or pid/tid)
            close(&mut cur);
            cur = line
                .split_ascii_whitespace()
                .next()
                .and_then(|p| p.split('/').next()?.parse().ok())
                .map(|pid| (pid, false));
        } else if let Some((_, softirq)) = cur.as_mut() {
            let sym = line.split_ascii_whitespace().nth(1).unwrap_or("");
            *softirq |= SOFTIRQ_FRAMES.contains(&sym);
        }
    }
    close(&mut cur);
    s
}

// ------------------------------------------------------------------ sipp

/// Cumulative counters of a SIPp run, from its `-trace_stat` file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SippStats {
    pub successful: u64,
    pub failed: u64,
    pub retransmissions: u64,
    pub created: u64,
    pub elapsed_s: f64,
}

/// `HH:MM:SS` or `HH:MM:SS:uuuuuu` (SIPp's duration format) in seconds.
fn parse_sipp_duration(s: &str) -> Option<f64> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let (h, m, sec, us) = match parts.as_slice() {
        [h, m, s] => (*h, *m, *s, "0"),
        [h, m, s, us] => (*h, *m, *s, *us),
        _ => return None,
    };
    let h: f64 = h.parse().ok()?;
    let m: f64 = m.parse().ok()?;
    let sec: f64 = sec.parse().ok()?;
    let us: f64 = us.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + sec + us / 1e6)
}

/// SIPp's time stamp `YYYY-MM-DD<TAB>HH:MM:SS.ffffff<TAB>EPOCH.ffffff`:
/// the epoch seconds.
fn parse_sipp_epoch(s: &str) -> Option<f64> {
    s.split('\t').next_back()?.trim().parse().ok()
}

/// From the whole `-trace_stat` CSV text (SIPp 3.6.1: `;`-separated, the
/// first line names the columns, every line ends with `;`): the LAST data
/// row's cumulative counters `SuccessfulCall(C)`, `FailedCall(C)`,
/// `Retransmissions(C)` and `TotalCallCreated`. The elapsed time is
/// `CurrentTime - StartTime` (microsecond resolution) when both parse,
/// else `ElapsedTime(C)` (whole seconds). `None` when a column is missing
/// or there is no data row.
pub fn parse_sipp_stats(csv: &str) -> Option<SippStats> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (i_ok, i_fail, i_retr, i_created) = (
        col("SuccessfulCall(C)")?,
        col("FailedCall(C)")?,
        col("Retransmissions(C)")?,
        col("TotalCallCreated")?,
    );
    let i_elapsed = col("ElapsedTime(C)");
    let i_start = col("StartTime");
    let i_now = col("CurrentTime");
    let row = lines.next_back()?;
    let f: Vec<&str> = row.split(';').collect();
    let num = |i: usize| -> Option<u64> { f.get(i)?.trim().parse().ok() };
    let epoch_elapsed = match (i_start, i_now) {
        (Some(s), Some(n)) => match (
            f.get(s).and_then(|v| parse_sipp_epoch(v)),
            f.get(n).and_then(|v| parse_sipp_epoch(v)),
        ) {
            (Some(a), Some(b)) if b >= a => Some(b - a),
            _ => None,
        },
        _ => None,
    };
    let elapsed_s = match epoch_elapsed {
        Some(e) => e,
        None => i_elapsed
            .and_then(|i| f.get(i))
            .and_then(|v| parse_sipp_duration(v))?,
    };
    Some(SippStats {
        successful: num(i_ok)?,
        failed: num(i_fail)?,
        retransmissions: num(i_retr)?,
        created: num(i_created)?,
        elapsed_s,
    })
}

// ------------------------------------------------------------------ results

/// One media run: one proxy, one call count, one packet rate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaRun {
    /// "sipnat", "null", or the --proxy NAME.
    pub proxy: String,
    pub calls: u32,
    pub pps: u32,
    pub payload: u32,
    pub registrations: u32,
    pub measure_s: f64,
    /// In the measurement window, both directions.
    pub offered_pps: f64,
    pub delivered_pps: f64,
    /// Whole media phase.
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub loss_pct: f64,
    pub reordered: u64,
    pub duplicates: u64,
    pub wrong_source: u64,
    pub late_sends: u64,
    pub lat_p50_us: f64,
    pub lat_p99_us: f64,
    pub lat_p999_us: f64,
    pub lat_max_us: f64,
    /// Proxy utime+stime in the window.
    pub cpu_s: f64,
    /// cpu_s / packets delivered in the window.
    pub cpu_ns_per_pkt: f64,
    pub ratio_to_null: Option<f64>,
    pub peak_rss_kb: u64,
    /// The proxy's UDP and TCP sockets (its namespace's `/proc/net/sockstat`)
    /// at the end of the window, and the kernel memory they take (that
    /// count times [`socket_slab_bytes`]); `None` where not readable.
    pub kernel_sockets: Option<u64>,
    pub kernel_kb: Option<f64>,
    pub binary_bytes: Option<u64>,
    /// The generator's own CPU in the window (context).
    pub gen_cpu_s: f64,
    /// Calls that could not be set up / torn down.
    pub setup_failed: u32,
    /// `--status-rate`: status answers received in the window, queries
    /// that failed, and the slowest answer.
    pub status_queries: u64,
    pub status_failed: u64,
    pub status_max_ms: f64,
    /// Softirq time of all CPUs in the window (`/proc/stat`, sampled at
    /// the timer tick: see [`cpu_window`]), and the part of it on the
    /// proxy's CPU (`None` when the proxy was not pinned).
    pub softirq_s: f64,
    pub softirq_proxy_cpu_s: Option<f64>,
    /// Busy time of all CPUs in the window, the whole machine, the load
    /// generator included (context): from the tick-sampled columns of
    /// `/proc/stat`, and exact (the CPUs' time in the window minus their
    /// idle and iowait, which NO_HZ measures). `busy_s / busy_exact_s`
    /// says how much of the machine's work the tick saw.
    pub busy_s: f64,
    pub busy_exact_s: f64,
    /// System-wide CPU: `cpu_s + softirq_s`, and that per packet delivered
    /// in the window, and divided by the null relay's (as `ratio_to_null`).
    pub sys_cpu_s: f64,
    pub sys_cpu_ns_per_pkt: f64,
    pub sys_ratio_to_null: Option<f64>,
    /// `--kernel-forward`: the router namespace forwarded IP in this run,
    /// so a proxy could hand its streams to the kernel.
    pub kernel_forward: bool,
    /// Kernel-forwarding runs: the channels the kernel carried when the
    /// window opened and when it closed (sipnat's `status json`
    /// `relay.kernel.channels`, else its nftables map), the seconds waited
    /// for them after the warm-up, sipnat's counters at the end of the
    /// window (`relay.kernel.*`: handovers; take-backs for a reason of the
    /// rules, `taken_back`; because the latched source's packets still
    /// reached its socket after the handover, `missed`; handovers that
    /// failed), and the packets sipnat relayed itself in the window
    /// (`relay.forwarded_packets`); `None` where not readable.
    pub kernel_channels_start: Option<u64>,
    pub kernel_channels: Option<u64>,
    pub kernel_wait_s: f64,
    pub kernel_handovers: Option<u64>,
    pub kernel_taken_back: Option<u64>,
    pub kernel_missed: Option<u64>,
    pub kernel_failed: Option<u64>,
    pub relayed_in_window: Option<u64>,
    /// `--perf`: the samples of `perf record -a -g -e cpu-clock` in the
    /// window ([`perf_split`]), one per `perf_period_ns` of a CPU's time;
    /// `None` without.
    pub perf: Option<PerfSplit>,
    pub perf_period_ns: u64,
    /// System-wide CPU with perf: the proxy's CPU clock (softirq run inside
    /// it included) plus the softirq of every other context (the
    /// generator's system calls, ksoftirqd, an interrupt of the idle CPU),
    /// which is the generator's CPU clock times the share of its samples
    /// in softirq, plus the other softirq samples scaled alike
    /// ([`PerfSplit::softirq_outside_s`]); in s, per packet delivered in
    /// the window, and divided by the null relay's. The generator's own
    /// work (its CPU clock minus that softirq) per packet is the check:
    /// the same load costs it the same whatever the proxy, so it must be
    /// about equal for every proxy of one invocation.
    pub softirq_perf_s: Option<f64>,
    pub gen_own_ns_per_pkt: Option<f64>,
    pub sys_perf_s: Option<f64>,
    pub sys_perf_ns_per_pkt: Option<f64>,
    pub sys_perf_ratio_to_null: Option<f64>,
}

impl PerfSplit {
    /// The softirq time outside the proxy, in s, for a generator whose CPU
    /// clock said `gen_cpu_s`: that clock times the generator's samples in
    /// softirq, plus the other contexts' softirq samples, over all the
    /// generator's samples. Scaling the shares by the clock, not the
    /// samples by their period, keeps the figure right where perf misses
    /// samples (here: a third of a busy CPU's, on this virtual machine),
    /// as long as it misses softirq and the rest alike. `None` without
    /// generator samples.
    pub fn softirq_outside_s(&self, gen_cpu_s: f64) -> Option<f64> {
        (self.generator > 0).then(|| {
            gen_cpu_s * (self.generator_softirq + self.other_softirq) as f64 / self.generator as f64
        })
    }
}

/// One call-setup-rate run (sipp).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetupRun {
    pub proxy: String,
    /// "udp" or "tcp" (the SIP transport on both sides of the proxy).
    pub transport: String,
    pub rate: u32,
    pub seconds: u32,
    pub attempted: u64,
    pub successful: u64,
    pub failed: u64,
    pub retransmissions: u64,
    pub elapsed_s: f64,
    pub achieved_cps: f64,
    pub cpu_s: f64,
    pub cpu_us_per_call: f64,
    pub peak_rss_kb: u64,
    pub binary_bytes: Option<u64>,
    /// sipnat's `tcp.*` counters after a TCP run, as it logs them on
    /// SIGUSR1 ("tcp.accepted 1 tcp.opened 1 …"); empty otherwise.
    pub proxy_tcp: String,
}

/// The name of the floor's runs.
pub const NULL_PROXY: &str = "null";

/// For every run whose proxy is not "null": `ratio_to_null` = its
/// `cpu_ns_per_pkt` / the `cpu_ns_per_pkt` of the first "null" run with the
/// same calls, pps and payload, and `sys_ratio_to_null` and
/// `sys_perf_ratio_to_null` the same of `sys_cpu_ns_per_pkt` and
/// `sys_perf_ns_per_pkt`; `None` when there is no such run or its value is
/// not a positive finite number. "null" runs are left untouched.
pub fn fill_ratios(runs: &mut [MediaRun]) {
    type Floor = (u32, u32, u32, f64, f64, Option<f64>);
    let floors: Vec<Floor> = runs
        .iter()
        .filter(|r| r.proxy == NULL_PROXY)
        .map(|r| {
            (
                r.calls,
                r.pps,
                r.payload,
                r.cpu_ns_per_pkt,
                r.sys_cpu_ns_per_pkt,
                r.sys_perf_ns_per_pkt,
            )
        })
        .collect();
    let ratio = |v: f64, floor: Option<f64>| match floor {
        Some(f) if f > 0.0 && f.is_finite() && v.is_finite() => Some(v / f),
        _ => None,
    };
    for r in runs.iter_mut().filter(|r| r.proxy != NULL_PROXY) {
        let floor = floors
            .iter()
            .find(|f| (f.0, f.1, f.2) == (r.calls, r.pps, r.payload));
        r.ratio_to_null = ratio(r.cpu_ns_per_pkt, floor.map(|f| f.3));
        r.sys_ratio_to_null = ratio(r.sys_cpu_ns_per_pkt, floor.map(|f| f.4));
        r.sys_perf_ratio_to_null = r
            .sys_perf_ns_per_pkt
            .and_then(|v| ratio(v, floor.and_then(|f| f.5)));
    }
}

// ------------------------------------------------------------------ JSON

/// A JSON string literal (RFC 8259 §7): the load tool's, which every
/// includer of this module also includes.
use super::load_core::json_str;

/// A JSON number; NaN and infinities (not representable) become `null`.
fn json_f64(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".to_string()
    }
}

fn json_opt_f64(v: Option<f64>) -> String {
    v.map_or_else(|| "null".to_string(), json_f64)
}

fn json_opt_u64(v: Option<u64>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

fn json_object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {}", json_str(k), v))
        .collect();
    format!("{{{}}}", body.join(", "))
}

fn media_json(r: &MediaRun) -> String {
    json_object(&[
        ("proxy", json_str(&r.proxy)),
        ("calls", r.calls.to_string()),
        ("pps", r.pps.to_string()),
        ("payload", r.payload.to_string()),
        ("registrations", r.registrations.to_string()),
        ("measure_s", json_f64(r.measure_s)),
        ("offered_pps", json_f64(r.offered_pps)),
        ("delivered_pps", json_f64(r.delivered_pps)),
        ("sent", r.sent.to_string()),
        ("received", r.received.to_string()),
        ("lost", r.lost.to_string()),
        ("loss_pct", json_f64(r.loss_pct)),
        ("reordered", r.reordered.to_string()),
        ("duplicates", r.duplicates.to_string()),
        ("wrong_source", r.wrong_source.to_string()),
        ("late_sends", r.late_sends.to_string()),
        ("lat_p50_us", json_f64(r.lat_p50_us)),
        ("lat_p99_us", json_f64(r.lat_p99_us)),
        ("lat_p999_us", json_f64(r.lat_p999_us)),
        ("lat_max_us", json_f64(r.lat_max_us)),
        ("cpu_s", json_f64(r.cpu_s)),
        ("cpu_ns_per_pkt", json_f64(r.cpu_ns_per_pkt)),
        ("ratio_to_null", json_opt_f64(r.ratio_to_null)),
        ("peak_rss_kb", r.peak_rss_kb.to_string()),
        ("kernel_sockets", json_opt_u64(r.kernel_sockets)),
        ("kernel_kb", json_opt_f64(r.kernel_kb)),
        ("binary_bytes", json_opt_u64(r.binary_bytes)),
        ("gen_cpu_s", json_f64(r.gen_cpu_s)),
        ("setup_failed", r.setup_failed.to_string()),
        ("status_queries", r.status_queries.to_string()),
        ("status_failed", r.status_failed.to_string()),
        ("status_max_ms", json_f64(r.status_max_ms)),
        ("softirq_s", json_f64(r.softirq_s)),
        ("softirq_proxy_cpu_s", json_opt_f64(r.softirq_proxy_cpu_s)),
        ("busy_s", json_f64(r.busy_s)),
        ("busy_exact_s", json_f64(r.busy_exact_s)),
        ("sys_cpu_s", json_f64(r.sys_cpu_s)),
        ("sys_cpu_ns_per_pkt", json_f64(r.sys_cpu_ns_per_pkt)),
        ("sys_ratio_to_null", json_opt_f64(r.sys_ratio_to_null)),
        ("kernel_forward", r.kernel_forward.to_string()),
        (
            "kernel_channels_start",
            json_opt_u64(r.kernel_channels_start),
        ),
        ("kernel_channels", json_opt_u64(r.kernel_channels)),
        ("kernel_wait_s", json_f64(r.kernel_wait_s)),
        ("kernel_handovers", json_opt_u64(r.kernel_handovers)),
        ("kernel_taken_back", json_opt_u64(r.kernel_taken_back)),
        ("kernel_missed", json_opt_u64(r.kernel_missed)),
        ("kernel_failed", json_opt_u64(r.kernel_failed)),
        ("relayed_in_window", json_opt_u64(r.relayed_in_window)),
        ("perf_period_ns", r.perf_period_ns.to_string()),
        ("perf_samples", json_opt_u64(r.perf.map(|p| p.samples))),
        ("perf_proxy", json_opt_u64(r.perf.map(|p| p.proxy))),
        (
            "perf_proxy_softirq",
            json_opt_u64(r.perf.map(|p| p.proxy_softirq)),
        ),
        ("perf_gen", json_opt_u64(r.perf.map(|p| p.generator))),
        (
            "perf_gen_softirq",
            json_opt_u64(r.perf.map(|p| p.generator_softirq)),
        ),
        (
            "perf_other_softirq",
            json_opt_u64(r.perf.map(|p| p.other_softirq)),
        ),
        ("perf_other", json_opt_u64(r.perf.map(|p| p.other))),
        ("softirq_perf_s", json_opt_f64(r.softirq_perf_s)),
        ("gen_own_ns_per_pkt", json_opt_f64(r.gen_own_ns_per_pkt)),
        ("sys_perf_s", json_opt_f64(r.sys_perf_s)),
        ("sys_perf_ns_per_pkt", json_opt_f64(r.sys_perf_ns_per_pkt)),
        (
            "sys_perf_ratio_to_null",
            json_opt_f64(r.sys_perf_ratio_to_null),
        ),
    ])
}

fn setup_json(r: &SetupRun) -> String {
    json_object(&[
        ("proxy", json_str(&r.proxy)),
        ("transport", json_str(&r.transport)),
        ("rate", r.rate.to_string()),
        ("seconds", r.seconds.to_string()),
        ("attempted", r.attempted.to_string()),
        ("successful", r.successful.to_string()),
        ("failed", r.failed.to_string()),
        ("retransmissions", r.retransmissions.to_string()),
        ("elapsed_s", json_f64(r.elapsed_s)),
        ("achieved_cps", json_f64(r.achieved_cps)),
        ("cpu_s", json_f64(r.cpu_s)),
        ("cpu_us_per_call", json_f64(r.cpu_us_per_call)),
        ("peak_rss_kb", r.peak_rss_kb.to_string()),
        ("binary_bytes", json_opt_u64(r.binary_bytes)),
        ("proxy_tcp", json_str(&r.proxy_tcp)),
    ])
}

/// The whole report as one JSON object:
/// `{"meta": {k: v, ...}, "media": [...], "setup": [...]}`, every field of
/// the structs under its Rust name, `null` for `None` and for NaN/infinite
/// numbers; meta values are strings. One run per line for diffability.
pub fn report_json(meta: &[(&str, String)], media: &[MediaRun], setup: &[SetupRun]) -> String {
    let meta: Vec<(&str, String)> = meta.iter().map(|(k, v)| (*k, json_str(v))).collect();
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "[]".to_string()
        } else {
            format!("[\n    {}\n  ]", items.join(",\n    "))
        }
    };
    format!(
        "{{\n  \"meta\": {},\n  \"media\": {},\n  \"setup\": {}\n}}\n",
        json_object(&meta),
        list(media.iter().map(media_json).collect()),
        list(setup.iter().map(setup_json).collect()),
    )
}

// ------------------------------------------------------------------ markdown

/// A table cell: '|' escaped, newlines flattened.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn fmt_f(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "—".to_string()
    }
}

fn md_row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

/// A markdown table: the first `text_cols` columns left-aligned, the
/// numbers after them right-aligned.
fn md_table(header: &[&str], text_cols: usize, rows: Vec<Vec<String>>) -> String {
    let mut out = md_row(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    let rule: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i < text_cols {
                "---".into()
            } else {
                "---:".into()
            }
        })
        .collect();
    out.push_str(&md_row(&rule));
    for r in rows {
        out.push_str(&md_row(&r));
    }
    out
}

/// The media runs as a markdown table, one row per run, in the given order.
pub fn media_table(runs: &[MediaRun]) -> String {
    let header = [
        "proxy",
        "calls",
        "regs",
        "pps/call/dir",
        "offered pps",
        "delivered pps",
        "loss %",
        "reord",
        "dup",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "CPU ns/pkt",
        "× null",
        "peak RSS kB",
        "sockets",
        "kernel kB",
        "binary B",
        "failed calls",
    ];
    let rows = runs
        .iter()
        .map(|r| {
            vec![
                md_cell(&r.proxy),
                r.calls.to_string(),
                r.registrations.to_string(),
                r.pps.to_string(),
                fmt_f(r.offered_pps, 0),
                fmt_f(r.delivered_pps, 0),
                fmt_f(r.loss_pct, 3),
                r.reordered.to_string(),
                r.duplicates.to_string(),
                fmt_f(r.lat_p50_us, 1),
                fmt_f(r.lat_p99_us, 1),
                fmt_f(r.lat_p999_us, 1),
                fmt_f(r.lat_max_us, 1),
                fmt_f(r.cpu_ns_per_pkt, 0),
                r.ratio_to_null.map_or("—".into(), |v| fmt_f(v, 2)),
                r.peak_rss_kb.to_string(),
                r.kernel_sockets.map_or("—".into(), |v| v.to_string()),
                r.kernel_kb.map_or("—".into(), |v| fmt_f(v, 0)),
                r.binary_bytes.map_or("—".into(), |v| v.to_string()),
                r.setup_failed.to_string(),
            ]
        })
        .collect();
    md_table(&header, 1, rows)
}

/// The `in kernel` cell: the channels the kernel carried at the end of
/// the window, and sipnat's missed and failed handovers when there were
/// any; `—` for a run without `--kernel-forward`, `?` when unreadable.
fn kernel_cell(r: &MediaRun) -> String {
    let Some(n) = r.kernel_channels.filter(|_| r.kernel_forward) else {
        return if r.kernel_forward { "?" } else { "—" }.into();
    };
    let mut cell = n.to_string();
    let (missed, failed) = (r.kernel_missed.unwrap_or(0), r.kernel_failed.unwrap_or(0));
    if missed > 0 || failed > 0 {
        let _ = write!(cell, " ({missed} missed, {failed} failed)");
    }
    cell
}

/// System-wide CPU per packet of the media runs, one row per run: the
/// proxy's own (its CPU clock); the softirq time of all CPUs from
/// `/proc/stat` and proxy + softirq; with `--perf` the same from perf's
/// samples scaled to the CPU clocks (nothing counted twice) and the
/// generator's own work, the check ([`MediaRun::sys_perf_s`]); the whole
/// machine's exact busy time, and how much of it the tick saw; `in kernel`
/// and `relayed` for `--kernel-forward`.
pub fn system_table(runs: &[MediaRun]) -> String {
    let header = [
        "proxy",
        "calls",
        "in kernel",
        "relayed in window",
        "CPU ns/pkt",
        "softirq ns/pkt (stat)",
        "system ns/pkt (stat)",
        "× null",
        "softirq ns/pkt (perf)",
        "system ns/pkt (perf)",
        "× null (perf)",
        "generator ns/pkt (perf)",
        "machine ns/pkt",
        "tick / exact",
    ];
    let rows = runs
        .iter()
        .map(|r| {
            let pkts = r.delivered_pps * r.measure_s;
            let per_pkt = |s: f64| if pkts > 0.0 { s * 1e9 / pkts } else { f64::NAN };
            let opt = |v: Option<f64>, d: usize| v.map_or("—".into(), |v| fmt_f(v, d));
            vec![
                md_cell(&r.proxy),
                r.calls.to_string(),
                kernel_cell(r),
                r.relayed_in_window.map_or("—".into(), |v| v.to_string()),
                fmt_f(r.cpu_ns_per_pkt, 0),
                fmt_f(per_pkt(r.softirq_s), 0),
                fmt_f(r.sys_cpu_ns_per_pkt, 0),
                opt(r.sys_ratio_to_null, 2),
                opt(r.softirq_perf_s.map(per_pkt), 0),
                opt(r.sys_perf_ns_per_pkt, 0),
                opt(r.sys_perf_ratio_to_null, 2),
                opt(r.gen_own_ns_per_pkt, 0),
                fmt_f(per_pkt(r.busy_exact_s), 0),
                if r.busy_exact_s > 0.0 {
                    fmt_f(r.busy_s / r.busy_exact_s, 2)
                } else {
                    "—".into()
                },
            ]
        })
        .collect();
    md_table(&header, 1, rows)
}

/// The call-setup runs as a markdown table, one row per run.
pub fn setup_table(runs: &[SetupRun]) -> String {
    let header = [
        "proxy",
        "transport",
        "rate cps",
        "seconds",
        "attempted",
        "successful",
        "failed",
        "retrans",
        "achieved cps",
        "CPU s",
        "CPU µs/call",
        "peak RSS kB",
        "binary B",
    ];
    let rows = runs
        .iter()
        .map(|r| {
            vec![
                md_cell(&r.proxy),
                md_cell(&r.transport),
                r.rate.to_string(),
                r.seconds.to_string(),
                r.attempted.to_string(),
                r.successful.to_string(),
                r.failed.to_string(),
                r.retransmissions.to_string(),
                fmt_f(r.achieved_cps, 1),
                fmt_f(r.cpu_s, 3),
                fmt_f(r.cpu_us_per_call, 1),
                r.peak_rss_kb.to_string(),
                r.binary_bytes.map_or("—".into(), |v| v.to_string()),
            ]
        })
        .collect();
    md_table(&header, 2, rows)
}

// ------------------------------------------------------------------ SVG

/// "Nice" axis ticks (1, 2, 5 × 10^k steps) covering `min..=max` with
/// about `n` ticks: the first tick is <= min, the last >= max, equally
/// spaced. A degenerate range (max <= min) is widened around the value;
/// non-finite input gives `[0, 1]`.
pub fn nice_ticks(min: f64, max: f64, n: usize) -> Vec<f64> {
    if !min.is_finite() || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let (mut lo, mut hi) = if min <= max { (min, max) } else { (max, min) };
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.5 };
        lo = if lo >= 0.0 && lo - pad < 0.0 {
            0.0
        } else {
            lo - pad
        };
        hi += pad;
    }
    let n = n.max(2);
    let raw = (hi - lo) / (n - 1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let step = mag
        * if f <= 1.0 {
            1.0
        } else if f <= 2.0 {
            2.0
        } else if f <= 5.0 {
            5.0
        } else {
            10.0
        };
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    // Round away float noise (0.30000000000000004) to the step's precision.
    let digits = (-step.log10().floor()).max(0.0) as i32 + 1;
    let scale = 10f64.powi(digits);
    (first..=last)
        .map(|i| ((i as f64 * step) * scale).round() / scale)
        .collect()
}

fn svg_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// Tick label without needless decimals.
fn tick_label(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

const SVG_W: f64 = 800.0;
const SVG_H: f64 = 600.0;
const PLOT_LEFT: f64 = 80.0;
const PLOT_RIGHT: f64 = 640.0;
const PALETTE: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// The plot area of panel 0 (top) or 1 (bottom): (top, bottom) in pixels.
fn panel_y(panel: usize) -> (f64, f64) {
    if panel == 0 {
        (60.0, 270.0)
    } else {
        (330.0, 540.0)
    }
}

/// An SVG (800x600, self-contained, no scripts) of a sweep of call counts:
/// top panel CPU ns per relayed packet, bottom panel p99 one-way latency in
/// µs, both over concurrent calls on a linear x axis. One polyline with
/// circle markers per proxy (in order of first appearance, runs sorted by
/// calls), a legend, round ticks from [`nice_ticks`], and `title` on top.
/// Non-finite values are drawn at 0. Works for zero or one run too.
pub fn sweep_svg(runs: &[MediaRun], title: &str) -> String {
    let fin = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
    let mut proxies: Vec<&str> = Vec::new();
    for r in runs {
        if !proxies.contains(&r.proxy.as_str()) {
            proxies.push(&r.proxy);
        }
    }
    let (xmin, xmax) = runs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, r| {
            (a.0.min(f64::from(r.calls)), a.1.max(f64::from(r.calls)))
        });
    let (xmin, xmax) = if runs.is_empty() {
        (0.0, 1.0)
    } else {
        (xmin, xmax)
    };
    let xt = nice_ticks(xmin, xmax, 6);
    let (x0, x1) = (xt[0], xt[xt.len() - 1]); // nice_ticks returns >= 2 ticks
    let xpix = |v: f64| PLOT_LEFT + (v - x0) / (x1 - x0) * (PLOT_RIGHT - PLOT_LEFT);

    type Metric = fn(&MediaRun) -> f64;
    let panels: [(&str, Metric); 2] = [
        ("CPU ns per relayed packet", |r| r.cpu_ns_per_pkt),
        ("p99 one-way latency (µs)", |r| r.lat_p99_us),
    ];

    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{SVG_W}\" height=\"{SVG_H}\" \
         viewBox=\"0 0 {SVG_W} {SVG_H}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{SVG_W}\" height=\"{SVG_H}\" fill=\"white\"/>"
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">{}</text>",
        SVG_W / 2.0,
        svg_escape(title)
    );

    for (pi, (label, metric)) in panels.iter().enumerate() {
        let (top, bottom) = panel_y(pi);
        let ymax = runs.iter().map(|r| fin(metric(r))).fold(0.0, f64::max);
        let yt = nice_ticks(0.0, if ymax > 0.0 { ymax } else { 1.0 }, 5);
        let (y0, y1) = (yt[0], yt[yt.len() - 1]); // >= 2 ticks
        let ypix = |v: f64| bottom - (v - y0) / (y1 - y0) * (bottom - top);
        let _ = writeln!(s, "<g class=\"panel\" id=\"panel{pi}\">");
        let _ = writeln!(
            s,
            "<rect x=\"{PLOT_LEFT}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>",
            PLOT_RIGHT - PLOT_LEFT,
            bottom - top
        );
        for &t in &yt {
            let y = ypix(t);
            let _ = writeln!(
                s,
                "<line x1=\"{PLOT_LEFT}\" y1=\"{y:.1}\" x2=\"{PLOT_RIGHT}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                PLOT_LEFT - 6.0,
                y + 4.0,
                tick_label(t)
            );
        }
        for &t in &xt {
            let x = xpix(t);
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#eee\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 16.0,
                tick_label(t)
            );
        }
        let _ = writeln!(
            s,
            "<text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            (top + bottom) / 2.0,
            svg_escape(label)
        );
        for (k, p) in proxies.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let mut pts: Vec<(f64, f64)> = runs
                .iter()
                .filter(|r| r.proxy == *p)
                .map(|r| (f64::from(r.calls), fin(metric(r))))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let list: Vec<String> = pts
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", xpix(x), ypix(y)))
                .collect();
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
                list.join(" ")
            );
            for &(x, y) in &pts {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"/>",
                    xpix(x),
                    ypix(y)
                );
            }
        }
        let _ = writeln!(s, "</g>");
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">concurrent calls (linear scale)</text>",
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        SVG_H - 22.0
    );
    for (k, p) in proxies.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let y = 70.0 + 20.0 * k as f64;
        let _ = writeln!(
            s,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-width=\"2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            PLOT_RIGHT + 16.0,
            PLOT_RIGHT + 40.0,
            PLOT_RIGHT + 46.0,
            y + 4.0,
            svg_escape(p)
        );
    }
    s.push_str("</svg>\n");
    s
}

// ------------------------------------------------------------------ tests

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trip_and_layout() {
        let st = Stamp {
            call: 7,
            dir: 1,
            counter: 0x0001_0203,
            sent_ns: 0x1122_3344_5566_7788,
        };
        let mut buf = [0u8; 256];
        let n = write_packet(&mut buf, &st, 172);
        assert_eq!(n, 172);
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 0);
        assert_eq!(&buf[2..4], &[0x02, 0x03]); // seq = counter as u16
        assert_eq!(
            u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            0x0001_0203u32.wrapping_mul(160)
        );
        assert_eq!(&buf[8..12], &15u32.to_be_bytes()); // 7 << 1 | 1
        assert_eq!(&buf[12..16], b"SNBN");
        assert!(buf[STAMP_LEN..172].iter().all(|&b| b == 0xD5));
        assert!(buf[172..].iter().all(|&b| b == 0)); // nothing past len
        assert_eq!(read_stamp(&buf[..n]), Some(st));
        set_sent_ns(&mut buf[..n], 42);
        assert_eq!(read_stamp(&buf[..n]).map(|s| s.sent_ns), Some(42));
        assert_eq!(read_stamp(&buf[..n]).map(|s| s.counter), Some(st.counter));
    }

    #[test]
    fn stamp_length_is_clamped() {
        let st = Stamp {
            call: 1,
            dir: 0,
            counter: 1,
            sent_ns: 1,
        };
        let mut buf = [0u8; 64];
        assert_eq!(write_packet(&mut buf, &st, 3), STAMP_LEN);
        assert_eq!(write_packet(&mut buf, &st, 1000), 64);
        let mut small = [0u8; 20];
        assert_eq!(write_packet(&mut small, &st, 172), 0);
        set_sent_ns(&mut small, 5); // too short: no panic, untouched
        assert!(small.iter().all(|&b| b == 0));
    }

    #[test]
    fn stamp_rejects_garbage() {
        let st = Stamp {
            call: 3,
            dir: 0,
            counter: 9,
            sent_ns: 99,
        };
        let mut buf = [0u8; 64];
        let n = write_packet(&mut buf, &st, 40);
        assert!(read_stamp(&buf[..STAMP_LEN - 1]).is_none()); // short
        assert!(read_stamp(&[]).is_none());
        let mut v1 = buf;
        v1[0] = 0x40; // RTP version 1
        assert!(read_stamp(&v1[..n]).is_none());
        let mut magic = buf;
        magic[15] = b'X';
        assert!(read_stamp(&magic[..n]).is_none());
        let mut dir = buf;
        dir[20] = 2;
        assert!(read_stamp(&dir[..n]).is_none());
        assert!(read_stamp(&[0xAA; 64]).is_none());
        assert!(read_stamp(&buf[..n]).is_some());
    }

    #[test]
    fn histogram_uniform_percentiles() {
        let mut h = Histogram::new();
        for us in 1..=100_000u64 {
            h.record(us * 1000);
        }
        assert_eq!(h.count(), 100_000);
        assert_eq!(h.min(), 1000);
        assert_eq!(h.max(), 100_000_000);
        assert!((h.mean() - 50_000_500.0).abs() < 1.0);
        let near = |got: u64, want: f64| (got as f64 - want).abs() / want < 0.01;
        assert!(near(h.percentile(50.0), 50e6), "{}", h.percentile(50.0));
        assert!(near(h.percentile(99.0), 99e6), "{}", h.percentile(99.0));
        assert!(near(h.percentile(99.9), 99.9e6), "{}", h.percentile(99.9));
        // The reported bound is never below the true quantile.
        assert!(h.percentile(50.0) >= 50_000_000);
        assert_eq!(h.percentile(100.0), 100_000_000);
        // Lowest bucket's upper bound: within 1 % above the exact min.
        assert!((1000..=1010).contains(&h.percentile(0.0)));
        assert!(h.percentile(50.0) <= h.percentile(99.0));
    }

    #[test]
    fn histogram_small_values_exact() {
        let mut h = Histogram::new();
        for v in [5u64, 5, 7, 100] {
            h.record(v);
        }
        assert_eq!(h.percentile(50.0), 5);
        assert_eq!(h.percentile(75.0), 7);
        assert_eq!(h.percentile(99.0), 100);
    }

    #[test]
    fn histogram_empty() {
        let h = Histogram::new();
        assert_eq!(h.count(), 0);
        assert_eq!(h.min(), 0);
        assert_eq!(h.max(), 0);
        assert_eq!(h.mean(), 0.0);
        assert_eq!(h.percentile(50.0), 0);
        assert_eq!(h.percentile(f64::NAN), 0);
    }

    #[test]
    fn histogram_huge_values_clamp_but_max_exact() {
        let mut h = Histogram::new();
        h.record(1_000);
        h.record(u64::MAX);
        h.record(60_000_000_000); // 60 s
        assert_eq!(h.max(), u64::MAX);
        assert_eq!(h.count(), 3);
        // Both huge samples are in the top bucket (~17.2 s).
        let p = h.percentile(50.0);
        assert!((HIST_TOP - (HIST_TOP >> 8)..=HIST_TOP).contains(&p), "{p}");
        assert_eq!(h.percentile(100.0), HIST_TOP);
        assert!((1_000..=1_010).contains(&h.percentile(1.0)));
    }

    #[test]
    fn histogram_buckets_monotonic_and_tight() {
        let mut prev = 0;
        for i in 1..BUCKETS {
            let u = bucket_upper(i);
            assert!(u > prev);
            assert_eq!(bucket_of(u), i);
            assert_eq!(bucket_of(prev + 1), i);
            // width / lower bound < 1 %
            let lower = prev + 1;
            assert!((u - lower) as f64 / lower as f64 <= 1.0 / 128.0);
            prev = u;
        }
        assert_eq!(prev, HIST_TOP);
    }

    #[test]
    fn histogram_merge_equals_recording_both() {
        let (mut a, mut b, mut both) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in (0..5000u64).map(|i| i * 7919 % 3_000_000) {
            a.record(v);
            both.record(v);
        }
        for v in (0..3000u64).map(|i| 10_000 + i * 104_729) {
            b.record(v);
            both.record(v);
        }
        a.merge(&b);
        assert_eq!(a, both);
        let mut e = Histogram::new();
        e.merge(&b);
        assert_eq!(e, b);
        e.merge(&Histogram::new());
        assert_eq!(e, b);
    }

    #[test]
    fn seq_in_order_and_loss() {
        let mut t = SeqTracker::default();
        assert_eq!(t.highest(), None);
        for c in 0..100 {
            if c % 10 == 3 {
                continue; // lost
            }
            assert_eq!(t.record(c), Arrival::New);
        }
        assert_eq!(t.unique(), 90);
        assert_eq!(t.lost_of(100), 10);
        assert_eq!(t.lost_of(50), 0);
        assert_eq!(t.reordered(), 0);
        assert_eq!(t.duplicates(), 0);
        assert_eq!(t.highest(), Some(99));
    }

    #[test]
    fn seq_reorder_and_duplicates() {
        let mut t = SeqTracker::default();
        assert_eq!(t.record(0), Arrival::New);
        assert_eq!(t.record(2), Arrival::New);
        assert_eq!(t.record(1), Arrival::Reordered);
        assert_eq!(t.record(1), Arrival::Duplicate);
        assert_eq!(t.record(2), Arrival::Duplicate);
        assert_eq!(t.record(3), Arrival::New);
        assert_eq!(t.unique(), 4);
        assert_eq!(t.reordered(), 1);
        assert_eq!(t.duplicates(), 2);
        assert_eq!(t.lost_of(4), 0);
        // First packet not 0: earlier counters are reordered, not duplicates.
        let mut u = SeqTracker::default();
        assert_eq!(u.record(10), Arrival::New);
        assert_eq!(u.record(5), Arrival::Reordered);
        assert_eq!(u.record(5), Arrival::Duplicate);
    }

    #[test]
    fn seq_window_wraps() {
        let mut t = SeqTracker::default();
        for c in 0..5000 {
            t.record(c);
        }
        // The ring slot of 3000 (= 3000 % 1024) was reused: still a duplicate.
        assert_eq!(t.record(4999 - 1023), Arrival::Duplicate);
        // Beyond the window: counted as late (reordered new).
        assert_eq!(t.record(100), Arrival::Reordered);
        assert_eq!(t.beyond_window(), 1);
        // A jump clears the ring: the skipped counters are not duplicates.
        assert_eq!(t.record(5500), Arrival::New);
        assert_eq!(t.record(5000 + 24), Arrival::Reordered);
        assert_eq!(t.record(5000 + 24), Arrival::Duplicate);
        // A jump of more than the window clears everything.
        assert_eq!(t.record(20_000), Arrival::New);
        assert_eq!(t.record(20_000 - 1024 + 1), Arrival::Reordered);
        assert_eq!(t.record(20_000 - 1), Arrival::Reordered);
        assert_eq!(t.duplicates(), 2);
        assert_eq!(t.unique(), 5000 + 1 + 1 + 1 + 1 + 1 + 1);
    }

    #[test]
    fn proc_stat_with_hostile_name() {
        // Fields 14 and 15 are 1234 and 567.
        let stat = "4242 (a) (b c) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 \
                    20 0 1 0 12345 1000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1\n";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(1801));
        let plain = "1 (sipnat) R 0 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat_cpu_ticks(plain), Some(10));
        assert_eq!(parse_stat_cpu_ticks("1 (x) R 0 1"), None);
        assert_eq!(parse_stat_cpu_ticks("no paren at all"), None);
        assert_eq!(parse_stat_cpu_ticks(""), None);
    }

    #[test]
    fn proc_status_kb() {
        let status = "Name:\tsipnat\nVmPeak:\t    9000 kB\nVmHWM:\t    1536 kB\nVmRSS:\t  1200 kB\n\
                      Threads:\t1\n";
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(1536));
        assert_eq!(parse_status_kb(status, "VmRSS:"), Some(1200));
        assert_eq!(parse_status_kb(status, "VmPeak"), Some(9000));
        assert_eq!(parse_status_kb(status, "Threads"), None); // no kB unit
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
        assert_eq!(parse_status_kb(status, "Vm"), None); // prefix only
    }

    /// Header and last row of a real SIPp v3.6.1 `-trace_stat` file (built-in
    /// uac against uas on loopback, 20 calls at 10 cps).
    const SIPP_CSV: &str = "StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);CallRate(C);IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedCannotSendMessage(P);FailedCannotSendMessage(C);FailedMaxUDPRetrans(P);FailedMaxUDPRetrans(C);FailedTcpConnect(P);FailedTcpConnect(C);FailedTcpClosed(P);FailedTcpClosed(C);FailedUnexpectedMessage(P);FailedUnexpectedMessage(C);FailedCallRejected(P);FailedCallRejected(C);FailedCmdNotSent(P);FailedCmdNotSent(C);FailedRegexpDoesntMatch(P);FailedRegexpDoesntMatch(C);FailedRegexpShouldntMatch(P);FailedRegexpShouldntMatch(C);FailedRegexpHdrNotFound(P);FailedRegexpHdrNotFound(C);FailedOutboundCongestion(P);FailedOutboundCongestion(C);FailedTimeoutOnRecv(P);FailedTimeoutOnRecv(C);FailedTimeoutOnSend(P);FailedTimeoutOnSend(C);FailedTestDoesntMatch(P);FailedTestDoesntMatch(C);FailedTestShouldntMatch(P);FailedTestShouldntMatch(C);FailedStrcmpDoesntMatch(P);FailedStrcmpDoesntMatch(C);FailedStrcmpShouldntMatch(P);FailedStrcmpShouldntMatch(C);OutOfCallMsgs(P);OutOfCallMsgs(C);DeadCallMsgs(P);DeadCallMsgs(C);Retransmissions(P);Retransmissions(C);AutoAnswered(P);AutoAnswered(C);Warnings(P);Warnings(C);FatalErrors(P);FatalErrors(C);WatchdogMajor(P);WatchdogMajor(C);WatchdogMinor(P);WatchdogMinor(C);ResponseTime1(P);ResponseTime1(C);ResponseTime1StDev(P);ResponseTime1StDev(C);CallLength(P);CallLength(C);CallLengthStDev(P);CallLengthStDev(C);ResponseTimeRepartition1;ResponseTimeRepartition1_<10;ResponseTimeRepartition1_<20;ResponseTimeRepartition1_<30;ResponseTimeRepartition1_<40;ResponseTimeRepartition1_<50;ResponseTimeRepartition1_<100;ResponseTimeRepartition1_<150;ResponseTimeRepartition1_<200;ResponseTimeRepartition1_>=200;CallLengthRepartition;CallLengthRepartition_<10;CallLengthRepartition_<50;CallLengthRepartition_<100;CallLengthRepartition_<500;CallLengthRepartition_<1000;CallLengthRepartition_<5000;CallLengthRepartition_<10000;CallLengthRepartition_>=10000;
2026-11-24\t22:43:23.150147\t1795560203.150147;2026-11-24\t22:43:25.159138\t1795560205.159138;2026-11-24\t22:43:25.159200\t1795560205.159200;00:00:00;00:00:02;10;0;9.9552;0;0;0;20;20;0;0;20;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:004000;00:00:00:005000;00:00:00:000000;00:00:00:002000;;20;0;0;0;0;0;0;0;0;;20;0;0;0;0;0;0;0;0;
";

    #[test]
    fn sipp_stats_from_real_csv() {
        let s = parse_sipp_stats(SIPP_CSV).expect("parses");
        assert_eq!(s.successful, 20);
        assert_eq!(s.failed, 0);
        assert_eq!(s.retransmissions, 0);
        assert_eq!(s.created, 20);
        // CurrentTime - StartTime of the last row, not the whole-second field.
        assert!((s.elapsed_s - 2.009053).abs() < 1e-4, "{}", s.elapsed_s);
    }

    #[test]
    fn registrations_spread_over_lan_hosts() {
        use std::net::Ipv4Addr;
        // The README's 512: the phone and 15 more hosts, 32 each.
        assert_eq!(reg_hosts(512), 16);
        assert_eq!(reg_hosts(0), 1);
        assert_eq!(reg_hosts(1), 1);
        assert_eq!(reg_hosts(32), 1);
        assert_eq!(reg_hosts(33), 2);
        assert_eq!(reg_host(0), 0);
        assert_eq!(reg_host(31), 0);
        assert_eq!(reg_host(32), 1);
        assert_eq!(reg_host(511), 15);
        for n in [1, 31, 32, 33, 64, 511, 512, 513, MAX_BENCH_REGISTRATIONS] {
            let hosts = reg_hosts(n);
            // every registration has a host, and no host sends more than its share
            assert_eq!(reg_host(n - 1), hosts - 1, "n {n}");
            let mut per = vec![0u32; hosts as usize];
            for j in 0..n {
                per[reg_host(j) as usize] += 1;
            }
            assert!(
                per.iter().all(|&c| (1..=REGS_PER_HOST).contains(&c)),
                "n {n}"
            );
        }
        assert_eq!(extra_host_ip(0), None, "host 0 is the phone");
        assert_eq!(extra_host_ip(1), Some(Ipv4Addr::new(10, 77, 1, 100)));
        assert_eq!(extra_host_ip(15), Some(Ipv4Addr::new(10, 77, 1, 114)));
        assert_eq!(
            extra_host_ip(MAX_REG_HOSTS - 1),
            Some(Ipv4Addr::new(10, 77, 1, 254))
        );
        assert_eq!(extra_host_ip(MAX_REG_HOSTS), None);
        assert_eq!(reg_hosts(MAX_BENCH_REGISTRATIONS), MAX_REG_HOSTS);
    }

    #[test]
    fn sipp_stats_uses_last_row_and_fallbacks() {
        let csv = "ElapsedTime(C);TotalCallCreated;SuccessfulCall(C);FailedCall(C);Retransmissions(C);\n\
                   00:00:01;10;9;0;0;\n\
                   01:02:03;1500;1490;3;7;\n";
        let s = parse_sipp_stats(csv).expect("parses");
        assert_eq!(
            s,
            SippStats {
                successful: 1490,
                failed: 3,
                retransmissions: 7,
                created: 1500,
                elapsed_s: 3723.0
            }
        );
        assert!(parse_sipp_stats("").is_none());
        assert!(
            parse_sipp_stats("TotalCallCreated;SuccessfulCall(C);\n1;1;\n").is_none(),
            "missing columns"
        );
        let header_only = SIPP_CSV.lines().next().unwrap_or_default();
        assert!(parse_sipp_stats(header_only).is_none());
    }

    #[test]
    fn socket_memory_from_sockstat_and_slabinfo() {
        let sockstat = "sockets: used 412\nTCP: inuse 1 orphan 0 tw 0 alloc 3 mem 1\n\
                        UDP: inuse 17 mem 352\nUDPLITE: inuse 0\nRAW: inuse 0\n";
        assert_eq!(parse_sockstat_inuse(sockstat, "UDP"), Some(17));
        assert_eq!(parse_sockstat_inuse(sockstat, "TCP"), Some(1));
        assert_eq!(parse_sockstat_inuse(sockstat, "UDPLITE"), Some(0));
        assert_eq!(parse_sockstat_inuse(sockstat, "FRAG"), None);
        let slabinfo = "slabinfo - version: 2.1\n\
            # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables\n\
            UDPv6                  0      0   1472   22    8 : tunables    0    0    0\n\
            UDP                   52     96   1344   12    4 : tunables    0    0    0\n\
            TCP                   10     24   2560   12    8 : tunables    0    0    0\n\
            eventpoll_epi        299    448    128   32    1 : tunables    0    0    0\n\
            sock_inode_cache     287    399    832   19    4 : tunables    0    0    0\n\
            filp                 829    861    192   21    1 : tunables    0    0    0\n\
            dentry            546209 551166    192   21    1 : tunables    0    0    0\n";
        assert_eq!(slab_objsize(slabinfo, "UDP"), Some(1344));
        assert_eq!(slab_objsize(slabinfo, "UDPv6"), Some(1472));
        assert_eq!(
            socket_slab_bytes(slabinfo, "UDP"),
            Some(1344 + 832 + 192 + 192 + 128)
        );
        assert_eq!(
            socket_slab_bytes(slabinfo, "TCP"),
            Some(2560 + 832 + 192 + 192 + 128)
        );
        assert_eq!(socket_slab_bytes("UDP 1 1 1344 1 1\n", "UDP"), None);
    }

    fn run(proxy: &str, calls: u32, cpu: f64, p99: f64) -> MediaRun {
        MediaRun {
            proxy: proxy.to_string(),
            calls,
            pps: 50,
            payload: 160,
            cpu_ns_per_pkt: cpu,
            lat_p99_us: p99,
            ..MediaRun::default()
        }
    }

    #[test]
    fn ratios_match_same_load_only() {
        let mut runs = vec![
            run("null", 100, 2000.0, 50.0),
            run("sipnat", 100, 2600.0, 60.0),
            run("sipnat", 250, 2500.0, 70.0), // no floor at 250
            run("null", 500, 0.0, 50.0),      // zero floor
            run("other", 500, 3000.0, 90.0),
        ];
        runs[1].pps = 50;
        let mut other_pps = run("sipnat", 100, 1000.0, 1.0);
        other_pps.pps = 25; // different rate: no floor
        runs.push(other_pps);
        fill_ratios(&mut runs);
        assert_eq!(runs[1].ratio_to_null, Some(1.3));
        assert_eq!(runs[1].sys_ratio_to_null, None); // the floor's is 0
        assert_eq!(runs[2].ratio_to_null, None);
        assert_eq!(runs[4].ratio_to_null, None);
        assert_eq!(runs[5].ratio_to_null, None);
        assert_eq!(runs[0].ratio_to_null, None); // null itself untouched
    }

    #[test]
    fn system_wide_ratio_uses_the_floors_system_wide_figure() {
        let mut null = run("null", 250, 10_000.0, 50.0);
        null.sys_cpu_ns_per_pkt = 16_000.0;
        let mut kernel = run("sipnat", 250, 40.0, 30.0);
        kernel.sys_cpu_ns_per_pkt = 4_000.0;
        kernel.sys_perf_ns_per_pkt = Some(2_000.0);
        let mut runs = vec![kernel, null.clone()];
        fill_ratios(&mut runs);
        assert_eq!(runs[0].ratio_to_null, Some(0.004));
        assert_eq!(runs[0].sys_ratio_to_null, Some(0.25));
        assert_eq!(runs[0].sys_perf_ratio_to_null, None); // the floor has none
        assert_eq!(runs[1].sys_ratio_to_null, None);
        runs[1].sys_perf_ns_per_pkt = Some(8_000.0);
        fill_ratios(&mut runs);
        assert_eq!(runs[0].sys_perf_ratio_to_null, Some(0.25));
        assert_eq!(runs[1].sys_perf_ratio_to_null, None);
    }

    /// `perf script -F pid,cpu,time,ip,sym` of four samples: the proxy
    /// (pid 300) in softirq, the generator (pid 200) sending, with the
    /// softirq the send ran, the idle CPU, and ksoftirqd (pid 15).
    const PERF_SCRIPT: &str = "   300 [001] 60019.1: 
\tffffffff81eba50d net_rx_action
\tffffffff813697dd handle_softirqs
\tffffffff813691eb do_softirq.part.0
\tffffffff81e81c88 __sys_sendmmsg

   200 [000] 60019.2: 
\tffffffff81eba50d ip_rcv
\tffffffff813697dd handle_softirqs
\tffffffff81e81c88 __sys_sendmmsg

   200 [000] 60019.3: 
\t           156bd build_packet

     0 [000] 60019.4: 
\tffffffff8225295b pv_native_safe_halt
\tffffffff82254475 default_idle

    15 [001] 60019.5: 
\tffffffff813697dd __do_softirq
\tffffffff813697dd run_ksoftirqd

  4242/4243 [001] 60019.6: 
\tffffffff8225295b memcpy
";

    #[test]
    fn perf_samples_split_by_task_and_softirq() {
        let s = perf_split(PERF_SCRIPT, 300, 200);
        assert_eq!(
            s,
            PerfSplit {
                samples: 6,
                proxy: 1,
                proxy_softirq: 1,
                generator: 2,
                generator_softirq: 1,
                other_softirq: 1,
                other: 1,
            }
        );
        // softirq in the proxy is the proxy's (not outside it); the
        // generator's 2 samples stand for its 3 s of CPU clock
        assert_eq!(s.softirq_outside_s(3.0), Some(3.0 * (1 + 1) as f64 / 2.0));
        assert_eq!(PerfSplit::default().softirq_outside_s(3.0), None);
        assert_eq!(perf_split("", 1, 2), PerfSplit::default());
    }

    /// /proc/stat of a 2-CPU machine (Linux 6.18: ten columns).
    const PROC_STAT: &str = "cpu  2269531 109278 582712 8670074 22946 0 48302 8857 0 0
cpu0 996078 51199 274836 4493983 6579 0 22573 4590 0 0
cpu1 1273453 58078 307876 4176090 16366 3 25729 4267 0 0
intr 123 0 0
ctxt 456
softirq 1 2 3 4 5 6 7 8 9 10 11
";

    #[test]
    fn proc_stat_per_cpu_busy_and_softirq() {
        let v = parse_proc_stat(PROC_STAT);
        assert_eq!(
            v,
            vec![
                (
                    0,
                    CpuTicks {
                        busy: 996078 + 51199 + 274836 + 22573,
                        softirq: 22573,
                        idle: 4493983 + 6579
                    }
                ),
                (
                    1,
                    CpuTicks {
                        busy: 1273453 + 58078 + 307876 + 3 + 25729,
                        softirq: 25729,
                        idle: 4176090 + 16366
                    }
                ),
            ]
        );
        // an old kernel's short line, garbage, and the total line: skipped
        assert!(
            parse_proc_stat("cpu0 1 2 3 4\ncpuX 1 2 3 4 5 6 7\ncpu 1 2 3 4 5 6 7\n").is_empty()
        );
    }

    #[test]
    fn cpu_window_sums_cpus_and_splits_the_proxys() {
        let t = |busy, softirq, idle| CpuTicks {
            busy,
            softirq,
            idle,
        };
        let before = [(0, t(100, 10, 1000)), (1, t(200, 20, 2000))];
        let after = [
            (0, t(150, 40, 1100)),
            (1, t(260, 25, 2010)),
            (2, t(5, 5, 5)),
        ];
        let w = cpu_window(&before, &after, Some(1));
        assert_eq!(
            w,
            CpuWindow {
                softirq: 30 + 5,
                softirq_proxy_cpu: 5,
                busy: 50 + 60,
                idle: 100 + 10,
                cpus: 2,
            }
        );
        assert_eq!(cpu_window(&before, &after, None).softirq_proxy_cpu, 0);
        // a counter going back counts nothing (the two CPUs still count)
        assert_eq!(
            cpu_window(&after, &before, Some(0)),
            CpuWindow {
                cpus: 2,
                ..CpuWindow::default()
            }
        );
    }

    #[test]
    fn json_has_every_run_and_escapes() {
        let mut a = run("we\"ird\\name", 10, 1500.0, 40.0);
        a.binary_bytes = Some(123_456);
        a.lat_max_us = f64::NAN;
        let b = run("null", 10, 1000.0, f64::INFINITY);
        let setup = SetupRun {
            proxy: "sipnat".into(),
            transport: "tcp".into(),
            proxy_tcp: "tcp.accepted 1 tcp.opened 1".into(),
            rate: 1500,
            successful: 15000,
            achieved_cps: 1499.5,
            ..SetupRun::default()
        };
        let j = report_json(
            &[("host", "box \"1\"".to_string()), ("kernel", "6.1".into())],
            &[a, b],
            &[setup],
        );
        assert!(j.contains("\"meta\": {\"host\": \"box \\\"1\\\"\", \"kernel\": \"6.1\"}"));
        assert!(j.contains("\"proxy\": \"we\\\"ird\\\\name\""));
        assert!(j.contains("\"proxy\": \"null\""));
        assert!(j.contains("\"binary_bytes\": 123456"));
        assert!(j.contains("\"lat_max_us\": null"));
        assert!(j.contains("\"lat_p99_us\": null"));
        assert!(j.contains("\"achieved_cps\": 1499.5"));
        assert!(j.contains("\"successful\": 15000"));
        assert!(j.contains("\"transport\": \"tcp\""));
        assert!(j.contains("\"proxy_tcp\": \"tcp.accepted 1 tcp.opened 1\""));
        assert!(!j.contains("NaN") && !j.contains("inf"));
        assert_eq!(j.matches("\"cpu_ns_per_pkt\"").count(), 2);
        assert_eq!(j.matches("\"sys_cpu_ns_per_pkt\"").count(), 2);
        assert!(j.contains("\"kernel_forward\": false") && j.contains("\"kernel_channels\": null"));
        assert_eq!(j.matches("\"cpu_us_per_call\"").count(), 1);
        // Balanced braces and brackets (no string here contains them).
        assert_eq!(j.matches('{').count(), j.matches('}').count());
        assert_eq!(j.matches('[').count(), j.matches(']').count());
        let empty = report_json(&[], &[], &[]);
        assert!(empty.contains("\"media\": []") && empty.contains("\"setup\": []"));
        assert!(json_str("a\u{1}b\n").contains("\\u0001") && json_str("\n") == "\"\\n\"");
    }

    #[test]
    fn tables_one_row_per_run() {
        let mut runs = vec![
            run("null", 10, 1000.0, 40.0),
            run("sip|nat", 10, 1300.0, 45.0),
            run("sipnat", 100, 1250.0, 80.0),
        ];
        fill_ratios(&mut runs);
        let t = media_table(&runs);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2 + 3);
        assert!(lines[0].contains("CPU ns/pkt") && lines[0].contains("p99 µs"));
        assert!(lines[1].starts_with("| --- |"));
        let cols = lines[0].matches(" | ").count();
        for l in &lines[2..] {
            assert_eq!(l.matches(" | ").count(), cols, "{l}");
        }
        assert!(lines[3].contains("sip\\|nat") && lines[3].contains("| 1.30 |"));
        runs[1].kernel_forward = true;
        runs[1].kernel_channels = Some(249);
        runs[1].kernel_missed = Some(1);
        runs[1].kernel_failed = Some(3);
        runs[2].kernel_forward = true;
        let sys = system_table(&runs);
        assert!(sys.contains("| 249 (1 missed, 3 failed) |"), "{sys}");
        assert!(
            sys.lines()
                .nth(4)
                .unwrap_or_default()
                .contains("| 100 | ? |"),
            "{sys}"
        );
        assert_eq!(sys.lines().count(), 2 + 3);
        assert!(
            sys.lines()
                .next()
                .unwrap_or_default()
                .contains("| system ns/pkt (perf) |")
        );
        let s = setup_table(&[SetupRun::default(), SetupRun::default()]);
        assert_eq!(s.lines().count(), 4);
        assert!(s.lines().next().unwrap_or_default().contains("CPU µs/call"));
        assert!(
            s.lines()
                .next()
                .unwrap_or_default()
                .contains("| transport |")
        );
        assert!(
            s.lines()
                .nth(1)
                .unwrap_or_default()
                .starts_with("| --- | --- | ---: |")
        );
    }

    #[test]
    fn nice_ticks_are_round_and_cover() {
        assert_eq!(
            nice_ticks(0.0, 1000.0, 6),
            vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
        );
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.5, 1.0]);
        let t = nice_ticks(13.0, 987.0, 5);
        assert!(t[0] <= 13.0 && *t.last().unwrap_or(&0.0) >= 987.0);
        let step = t[1] - t[0];
        assert!([100.0, 200.0, 250.0, 500.0].contains(&step), "{step}");
        for w in t.windows(2) {
            assert!((w[1] - w[0] - step).abs() < 1e-9);
        }
        let small = nice_ticks(0.0, 0.3, 4);
        assert_eq!(small, vec![0.0, 0.1, 0.2, 0.3]);
        let one = nice_ticks(100.0, 100.0, 5);
        assert!(one.len() >= 2 && one[0] <= 100.0 && *one.last().unwrap_or(&0.0) >= 100.0);
        assert_eq!(nice_ticks(0.0, 0.0, 5).first(), Some(&0.0));
        assert_eq!(nice_ticks(f64::NAN, 1.0, 5), vec![0.0, 1.0]);
    }

    /// (points of each polyline, in document order) within panel `id`.
    fn polylines(svg: &str, panel: usize) -> Vec<Vec<(f64, f64)>> {
        let start = svg.find(&format!("id=\"panel{panel}\"")).expect("panel");
        let end = start + svg[start..].find("</g>").expect("end of panel");
        svg[start..end]
            .split("<polyline")
            .skip(1)
            .map(|p| {
                let a = p.find("points=\"").expect("points") + 8;
                let b = a + p[a..].find('"').expect("quote");
                p[a..b]
                    .split_whitespace()
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').expect("x,y");
                        (x.parse().expect("x"), y.parse().expect("y"))
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn svg_one_polyline_per_proxy_inside_plot() {
        let runs = vec![
            run("sipnat", 250, 1400.0, 300.0),
            run("null", 10, 900.0, 30.0),
            run("sipnat", 10, 1200.0, 40.0),
            run("null", 250, 1000.0, 200.0),
            run("sipnat", 100, 1300.0, 90.0),
            run("null", 100, 950.0, 80.0),
            run("<siproxd>", 100, 5000.0, 900.0),
        ];
        let svg = sweep_svg(&runs, "50 pps & 160 B");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("<script"));
        assert!(svg.contains("50 pps &amp; 160 B") && svg.contains("&lt;siproxd&gt;"));
        assert!(svg.contains("linear scale"));
        for panel in 0..2 {
            let lines = polylines(&svg, panel);
            assert_eq!(lines.len(), 3);
            assert_eq!(
                lines.iter().map(Vec::len).collect::<Vec<_>>(),
                vec![3, 3, 1]
            );
            let (top, bottom) = panel_y(panel);
            for pts in &lines {
                for &(x, y) in pts {
                    assert!((PLOT_LEFT..=PLOT_RIGHT).contains(&x), "x {x}");
                    assert!((top..=bottom).contains(&y), "y {y}");
                }
                for w in pts.windows(2) {
                    assert!(w[1].0 > w[0].0, "x increasing");
                }
            }
        }
        // Higher CPU is higher on the page (smaller y) in the top panel.
        let top = polylines(&svg, 0);
        assert!(top[2][0].1 < top[0][1].1);
        assert_eq!(svg.matches("<circle").count(), 2 * runs.len());
    }

    #[test]
    fn svg_single_point_and_empty() {
        let svg = sweep_svg(&[run("sipnat", 100, 0.0, f64::NAN)], "one");
        let lines = polylines(&svg, 0);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), 1);
        let (x, y) = lines[0][0];
        assert!((PLOT_LEFT..=PLOT_RIGHT).contains(&x));
        assert!((panel_y(0).0..=panel_y(0).1).contains(&y));
        let empty = sweep_svg(&[], "none");
        assert!(empty.contains("</svg>") && !empty.contains("<polyline"));
    }
}
