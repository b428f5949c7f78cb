//! The driver's part of the kernel forwarding (issue 15 goal 3): whether
//! it starts ([`start_fastpath`]: the option, ip_forward, the kernel's
//! answer), carrying out the relay's kernel operations ([`kernel_op`]:
//! `src/driver/fastpath.rs` talks to the kernel), and the periodic work
//! ([`Daemon::kernel_tick`]: the relay's bounded scan, the kernel's counts
//! read back a bounded batch of flows at a time, [`KERNEL_POLL`]). What to
//! hand over and when is the relay's decision (`src/relay/kernel.rs`),
//! which hands over IPv4 streams only: the relay's addresses become
//! `fastpath.rs`'s IPv4 ones here.

use super::Daemon;
use super::fastpath::{self, FastPath, Probe};
use crate::config::Config;
use crate::net::Addr;
use crate::relay::{BindError, KernelCursor, KernelFlow, PortOp};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

/// A slot of the batch before it is filled.
const NO_FLOW: KernelFlow = KernelFlow {
    port: 0,
    a: Addr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
    a_wan: false,
    b: Addr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
    b_wan: false,
};

/// Set up the kernel's forwarding when `rtp_kernel_forward` asks for it
/// and the relay runs; else, or when the kernel cannot, say why (logged
/// once; the userspace relay carries every stream).
pub(super) fn start_fastpath(cfg: &Config) -> (Option<fastpath::FastPath>, Option<String>) {
    let why = match start_fastpath_wanted(cfg) {
        Ok(()) if !ip_forward() => NO_FORWARD.to_string(),
        Ok(()) => match fastpath::FastPath::start() {
            Ok(fp) => {
                log::info!(
                    "kernel forwarding on: latched RTP streams go to nftables table ip sipnat"
                );
                return (Some(fp), None);
            }
            Err(e) => e,
        },
        Err(why) => why.to_string(),
    };
    log::info!("kernel forwarding off: {why}");
    (None, Some(why))
}

pub(super) const NO_FORWARD: &str = "net.ipv4.ip_forward is 0: the kernel forwards nothing";

/// Does the kernel forward IPv4 (`net.ipv4.ip_forward`)? The kernel
/// forwarding needs it; a router has it on.
pub(super) fn ip_forward() -> bool {
    crate::config::read_text(std::path::Path::new("/proc/sys/net/ipv4/ip_forward"))
        .is_ok_and(|v| v.starts_with('1'))
}

/// Does the configuration ask for the kernel forwarding? Else why not.
pub(super) fn start_fastpath_wanted(cfg: &Config) -> Result<(), &'static str> {
    if !cfg.rtp_proxy_enable {
        Err("rtp_proxy_enable is 0")
    } else if !cfg.rtp_kernel_forward {
        Err("rtp_kernel_forward is 0")
    } else {
        Ok(())
    }
}

/// How often the relay looks for streams to hand to the kernel
/// ([`crate::relay::Relay::kernel_scan`]), and how many slots each time:
/// the whole table (2,048 slots) in two seconds, never in one pass.
pub(super) const KERNEL_SCAN: Duration = Duration::from_millis(500);
const KERNEL_SCAN_SLOTS: usize = 512;

/// How often each flow the kernel forwards is read back (its counters
/// keep the stream alive: `rtp_timeout`, and rule 6's silence): every
/// quarter of `rtp_timeout`, at least every second, at most every 10 s.
/// A reading of them all (a cycle, [`Daemon::kernel_read`]) is spread over
/// the passes of that period: each pass reads the conntrack entries of a
/// batch of flows by tuple ([`FastPath::read`]: at most
/// [`fastpath::READS`] GET requests in one send, a hash lookup each in the
/// kernel), as many per pass as make the cycle last the period, one pass
/// per [`KERNEL_SCAN`]; with more flows than that covers, passes come more
/// often, never larger. So the work per pass is bounded by sipnat's own
/// flows, not by the kernel's conntrack table. (It was one ctnetlink dump
/// of the marked entries, for which the kernel walked its whole table:
/// about 9 ms with the 262,144 buckets of the benchmark's machine, one
/// long pass on the loop however few the flows.)
const KERNEL_POLL: Duration = Duration::from_secs(10);

pub(super) fn kernel_poll(rtp_timeout: u32) -> Duration {
    // A quarter of rtp_timeout, in milliseconds: exact, and no call to
    // `Duration`'s division (below).
    Duration::from_millis(u64::from(rtp_timeout) * 250).clamp(Duration::from_secs(1), KERNEL_POLL)
}

/// How many flows each pass of a cycle reads, and the time between
/// passes, for `n` flows read once per `period`: one pass per
/// [`KERNEL_SCAN`], each reading its share of `n`; when that share is more
/// than [`fastpath::READS`], READS a pass and passes closer together (for
/// the whole table, 4,096 channels, read every second: 64 passes of 64,
/// 15.6 ms apart).
pub(super) fn pace(n: usize, period: Duration) -> (usize, Duration) {
    // In u64 milliseconds and nanoseconds: `Duration::as_millis` is a
    // u128, and a 128-bit division is a 2 KB library routine on MIPS32;
    // `Duration / u32` is another 370 bytes there. Exact for any period
    // below 584 years (the period is at most KERNEL_POLL).
    const SCAN_MS: u64 = KERNEL_SCAN.as_millis() as u64;
    let ms = period
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(period.subsec_millis()));
    let passes = (ms / SCAN_MS).max(1) as usize;
    let batch = n.div_ceil(passes).max(1);
    if batch <= fastpath::READS {
        (batch, KERNEL_SCAN)
    } else {
        // Cannot truncate: n is at most 2 * MAX_STREAMS channels.
        let ns = period
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(period.subsec_nanos()));
        (
            fastpath::READS,
            Duration::from_nanos(ns / n.div_ceil(fastpath::READS) as u64),
        )
    }
}

/// Where the reading of the kernel's flows stands ([`Daemon::kernel_read`]).
pub(super) struct Reads {
    /// Where the cycle under way goes on (None: none under way).
    cursor: Option<KernelCursor>,
    /// When the next cycle may start: one per period.
    cycle_at: Instant,
    /// When the next pass reads.
    next: Instant,
}

impl Reads {
    pub(super) fn new(now: Instant) -> Reads {
        Reads {
            cursor: None,
            cycle_at: now,
            next: now,
        }
    }
}

/// The router's address on each side (LAN, WAN), for the conntrack entries
/// the userspace relay's packets made.
pub(super) type Local = (Option<Ipv4Addr>, Option<Ipv4Addr>);

/// Carry out one kernel operation of the relay ([`PortOp::Forward`],
/// [`PortOp::Unforward`]); the others are not for it.
pub(super) fn kernel_op(
    fp: &mut Option<FastPath>,
    local: Local,
    op: PortOp,
) -> Result<(), BindError> {
    let Some(fp) = fp.as_mut() else {
        return Err(BindError::Other);
    };
    // The entry of the relay's own packets to `peer` (on the WAN when
    // `wan`) from `port`: it would keep the flow on the socket, as the
    // kernel's NAT applies to new entries only.
    let forget = |fp: &mut FastPath, peer, wan, port| {
        if let Some(ip) = if wan { local.1 } else { local.0 } {
            let _ = fp.forget(peer, SocketAddrV4::new(ip, port));
        }
    };
    // The relay hands over IPv4 streams only (`src/relay/kernel.rs`).
    let v4 = |k: &KernelFlow| k.a.v4().zip(k.b.v4());
    let r = match op {
        PortOp::Forward(k) => {
            let Some((a, b)) = v4(&k) else {
                return Err(BindError::Other);
            };
            fp.add(k.port, a, b).map(|()| {
                forget(fp, a, k.a_wan, k.port);
                forget(fp, b, k.b_wan, k.port);
            })
        }
        // The entry a packet relayed in a handover's grace made, by its
        // original tuple (router:port → to): once the kernel forwards the
        // flow, the tuple to → router:port is the forwarding entry's (the
        // kernel then gave the relay's entry another port for its reply),
        // so asking by it would delete the forwarding entry and leave the
        // relay's, whose tuple then clashes with the first new entry after
        // a take-back for up to 30 s (its port changed, a source latched at
        // a port it never sent from).
        PortOp::Forget { to, wan, port } => {
            if let (Some(ip), Some(to)) = (if wan { local.1 } else { local.0 }, to.v4()) {
                let _ = fp.forget(SocketAddrV4::new(ip, port), to);
            }
            Ok(())
        }
        PortOp::Unforward(k) => match v4(&k) {
            Some((a, b)) => {
                let near = |wan| if wan { local.1 } else { local.0 };
                fp.remove(k.port, a, b, [near(k.a_wan), near(k.b_wan)])
            }
            None => Ok(()),
        },
        _ => Ok(()),
    };
    r.map_err(|e| {
        log::warn!("kernel forwarding: {e}");
        BindError::Other
    })
}

impl Daemon {
    /// The router's LAN and WAN addresses now.
    pub(super) fn local_ips(&self) -> Local {
        let a = self.core.addresses();
        (a.lan_v4(), a.wan)
    }

    /// The kernel's part: every [`KERNEL_SCAN`] hand streams over and
    /// take them back ([`crate::relay::Relay::kernel_scan`]); and read a
    /// batch of the kernel's flows back when one is due
    /// ([`Daemon::kernel_read`]).
    pub(super) fn kernel_tick(&mut self, now: Instant) {
        if crate::due(&now, &self.next_kernel) {
            self.next_kernel = now + KERNEL_SCAN;
            let local = self.local_ips();
            let fp = &mut self.fastpath;
            let relay = &mut self.core.relay;
            relay.kernel_scan(now, KERNEL_SCAN_SLOTS, &mut |op| kernel_op(fp, local, op));
        }
        self.kernel_read(now);
    }

    /// One pass of the reading of the kernel's flows ([`KERNEL_POLL`]):
    /// the next batch from the relay's cursor
    /// ([`crate::relay::Relay::kernel_flows`]), each flow's conntrack entry
    /// read by tuple ([`FastPath::read`]), its count handed to
    /// [`crate::relay::Relay::kernel_seen`]. A flow whose entry is not
    /// there is not reported, as the dump did not list it.
    fn kernel_read(&mut self, now: Instant) {
        // Cannot truncate: at most 2 * MAX_STREAMS channels.
        let n = self.core.relay.totals().in_kernel as usize;
        if n == 0 || self.fastpath.is_none() {
            self.kernel_reads.cursor = None;
            return;
        }
        if !crate::due(&now, &self.kernel_reads.next) {
            return;
        }
        let period = kernel_poll(self.core.config().rtp_timeout);
        let local = self.local_ips();
        let r = &mut self.kernel_reads;
        let cursor = match r.cursor {
            Some(c) => c,
            None if crate::due(&now, &r.cycle_at) => {
                r.cycle_at = now + period;
                KernelCursor::default()
            }
            None => {
                r.next = r.cycle_at;
                return;
            }
        };
        let (batch, gap) = pace(n, period);
        let mut flows = [NO_FLOW; fastpath::READS];
        let relay = &mut self.core.relay;
        let (k, next) = relay.kernel_flows(cursor, &mut flows[..batch]);
        r.cursor = next;
        r.next = if next.is_some() {
            now + gap
        } else {
            r.cycle_at
        };
        let near = |wan| if wan { local.1 } else { local.0 };
        let mut probes = [Probe([None; 2]); fastpath::READS];
        for (p, f) in probes.iter_mut().zip(&flows[..k]) {
            if let (Some(a), Some(b)) = (f.a.v4(), f.b.v4()) {
                *p = Probe::new(f.port, [(a, near(f.a_wan)), (b, near(f.b_wan))]);
            }
        }
        let Some(fp) = self.fastpath.as_mut() else {
            return;
        };
        let got = fp.read(&probes[..k], &mut |i, f| {
            if let Some(flow) = flows.get(i) {
                relay.kernel_seen(now, flow.port, f.packets, f.offloaded);
            }
        });
        if let Err(e) = got {
            log::debug!("kernel flows not all read: {e}");
        }
    }

    /// When [`Daemon::kernel_tick`] wants to run next (None: nothing for
    /// it to do).
    pub(super) fn kernel_deadline(&self) -> Option<Instant> {
        let reading = self.fastpath.is_some() && self.core.relay.totals().in_kernel > 0;
        let next = if reading {
            self.next_kernel.min(self.kernel_reads.next)
        } else {
            self.next_kernel
        };
        (self.fastpath.is_some() || self.core.relay.totals().in_kernel > 0).then_some(next)
    }

    /// IP forwarding switched off (or on again) while the kernel forwarding
    /// runs: its streams come back to the relay (or may go again).
    pub(super) fn check_ip_forward(&mut self) {
        if self.fastpath.is_none() {
            return;
        }
        let on = ip_forward();
        if on != self.core.relay.fastpath() {
            self.core.relay.set_fastpath(on);
            self.fastpath_off = (!on).then(|| NO_FORWARD.to_string());
            log::info!(
                "kernel forwarding {}",
                if on {
                    "on again: ip_forward is 1"
                } else {
                    "paused: ip_forward is 0"
                }
            );
        }
    }

    /// `rtp_kernel_forward` (or `rtp_proxy_enable`) changed at a reload:
    /// off takes every stream back and removes sipnat's table; on sets it
    /// up (which needs CAP_NET_ADMIN: sipnat keeps it only when the kernel
    /// forwarding was on at start, else the log says it was refused).
    pub(super) fn reload_fastpath(&mut self) {
        if self.fastpath.is_some() && start_fastpath_wanted(self.core.config()).is_err() {
            self.core.relay.set_fastpath(false);
            self.maintain_relay();
            if let Some(mut fp) = self.fastpath.take() {
                fp.stop();
            }
        }
        if self.fastpath.is_none() {
            let (fp, off) = start_fastpath(self.core.config());
            self.core.relay.set_fastpath(fp.is_some());
            self.fastpath = fp;
            self.fastpath_off = off;
        }
    }
}
