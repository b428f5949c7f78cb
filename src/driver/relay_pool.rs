//! The relay's sockets: two per bound pair, RTP and RTCP, at the relay's
//! socket indexes `2k` and `2k + 1` (`Token(RELAY_BASE + index)`), in
//! `Daemon::relay_socks`. Nothing is bound at start: after every message
//! (and every pass of the loop) the driver carries out what the relay's
//! pool asks ([`crate::relay::Relay::maintain`]): it binds a spare pair
//! where the pool names a port and closes the pair of every stream that
//! ended, so the sockets follow the calls. A port another program holds
//! (`EADDRINUSE`) is reported and the pool tries the next pair.

use super::fastpath::FastPath;
use super::{Daemon, RELAY_BASE, sys};
use crate::limits::MAX_PORT_OPS;
use crate::relay::{BindError, PortOp};
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

/// How often the relay looks for streams to hand to the kernel
/// ([`crate::relay::Relay::kernel_scan`]), and how many slots each time:
/// the whole table (2,048 slots) in two seconds, never in one pass.
pub(super) const KERNEL_SCAN: Duration = Duration::from_millis(500);
const KERNEL_SCAN_SLOTS: usize = 512;

/// How often, at most, the kernel's flows are read back (their counters
/// keep the streams alive: `rtp_timeout`): every quarter of `rtp_timeout`,
/// at least every second, at most every 10 s. Each reading is one ctnetlink
/// dump filtered by sipnat's mark, for which the kernel walks its whole
/// conntrack table (about 9 ms with the 262,144 buckets of the benchmark's
/// machine, far less with a router's table): it was every 2 s, which was
/// most of sipnat's own CPU with every stream in the kernel.
const KERNEL_POLL: Duration = Duration::from_secs(10);

fn kernel_poll(rtp_timeout: u32) -> Duration {
    (Duration::from_secs(u64::from(rtp_timeout)) / 4).clamp(Duration::from_secs(1), KERNEL_POLL)
}

/// The router's address on each side (LAN, WAN), for the conntrack entries
/// the userspace relay's packets made.
type Local = (Option<Ipv4Addr>, Option<Ipv4Addr>);

/// Carry out one kernel operation of the relay ([`PortOp::Forward`],
/// [`PortOp::Unforward`]); the others are not for it.
fn kernel_op(fp: &mut Option<FastPath>, local: Local, op: PortOp) -> Result<(), BindError> {
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
    let r = match op {
        PortOp::Forward(k) => fp.add(k.port, k.a, k.b).map(|()| {
            forget(fp, k.a, k.a_wan, k.port);
            forget(fp, k.b, k.b_wan, k.port);
        }),
        PortOp::Forget { to, wan, port } => {
            forget(fp, to, wan, port);
            Ok(())
        }
        PortOp::Unforward(k) => {
            let near = |wan| if wan { local.1 } else { local.0 };
            fp.remove(k.port, k.a, k.b, [near(k.a_wan), near(k.b_wan)])
        }
        _ => Ok(()),
    };
    r.map_err(|e| {
        log::warn!("kernel forwarding: {e}");
        BindError::Other
    })
}
use std::os::fd::AsRawFd;

/// One relay socket on `port`, with IP_PKTINFO (its side) and the DSCP
/// mark; not registered yet.
fn bind_relay(port: u16, dscp: u8) -> std::io::Result<UdpSocket> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port).into())?;
    sys::set_pktinfo(s.as_raw_fd())?;
    if dscp != 0 {
        if let Err(e) = sys::set_dscp(s.as_raw_fd(), dscp) {
            log::debug!("cannot set rtp_dscp on port {port}: {e}");
        }
    }
    Ok(s)
}

/// The pair of slot `slot`: RTP on `port`, RTCP on `port + 1`, both
/// registered for reading; nothing stays open when either fails.
fn bind_pair(
    port: u16,
    slot: usize,
    dscp: u8,
    registry: &Registry,
) -> std::io::Result<(UdpSocket, UdpSocket)> {
    // `port` is even, so +1 cannot overflow.
    let (mut rtp, mut rtcp) = (bind_relay(port, dscp)?, bind_relay(port + 1, dscp)?);
    let token = |i| Token(RELAY_BASE + 2 * slot + i);
    registry.register(&mut rtp, token(0), Interest::READABLE)?;
    if let Err(e) = registry.register(&mut rtcp, token(1), Interest::READABLE) {
        let _ = registry.deregister(&mut rtp);
        return Err(e);
    }
    Ok((rtp, rtcp))
}

impl Daemon {
    /// The router's LAN and WAN addresses now.
    fn local_ips(&self) -> Local {
        let a = self.core.addresses();
        (a.lan.first().map(|n| n.addr), a.wan)
    }

    /// The kernel's part, every [`KERNEL_SCAN`]: hand streams over and
    /// take them back ([`crate::relay::Relay::kernel_scan`]), and every
    /// [`kernel_poll`] read the kernel's flows back.
    pub(super) fn kernel_tick(&mut self, now: Instant) {
        if now < self.next_kernel {
            return;
        }
        self.next_kernel = now + KERNEL_SCAN;
        let local = self.local_ips();
        let poll = kernel_poll(self.core.config().rtp_timeout);
        let fp = &mut self.fastpath;
        let relay = &mut self.core.relay;
        relay.kernel_scan(now, KERNEL_SCAN_SLOTS, &mut |op| kernel_op(fp, local, op));
        if relay.totals().in_kernel == 0 || now < self.next_kernel_poll {
            return;
        }
        self.next_kernel_poll = now + poll;
        if let Some(fp) = self.fastpath.as_mut() {
            let r = fp.flows(&mut |f| relay.kernel_seen(now, f.port, f.packets));
            if let Err(e) = r {
                log::debug!("kernel flows not read: {e}");
            }
        }
    }

    /// When [`Daemon::kernel_tick`] wants to run next (None: nothing for
    /// it to do).
    pub(super) fn kernel_deadline(&self) -> Option<Instant> {
        (self.fastpath.is_some() || self.core.relay.totals().in_kernel > 0)
            .then_some(self.next_kernel)
    }

    /// Bind and close what the relay's pool asks, at most
    /// [`MAX_PORT_OPS`] operations (the rest next pass: the loop does not
    /// sleep while [`crate::relay::Relay::maintenance_due`]). One compare
    /// when there is nothing to do.
    pub(super) fn maintain_relay(&mut self) {
        if !self.core.relay.maintenance_due() {
            return;
        }
        let dscp = self.core.config().rtp_dscp;
        let local = self.local_ips();
        let fp = &mut self.fastpath;
        let (socks, queued) = (&mut self.relay_socks, &mut self.relay_queued);
        let registry = self.poll.registry();
        let mut failure: Option<(u16, std::io::Error)> = None;
        self.core.relay.maintain(MAX_PORT_OPS, &mut |op| match op {
            PortOp::Bind { slot, port } => {
                if socks.len() < 2 * slot + 2 {
                    socks.resize_with(2 * slot + 2, || None);
                    queued.resize(2 * slot + 2, false);
                }
                match bind_pair(port, slot, dscp, registry) {
                    Ok((rtp, rtcp)) => {
                        socks[2 * slot] = Some(rtp);
                        socks[2 * slot + 1] = Some(rtcp);
                        Ok(())
                    }
                    Err(e) if e.kind() == ErrorKind::AddrInUse => {
                        log::debug!("RTP relay: port {port} or {} in use", port + 1);
                        Err(BindError::InUse)
                    }
                    Err(e) => {
                        failure = Some((port, e));
                        Err(BindError::Other)
                    }
                }
            }
            PortOp::Close { slot } => {
                for i in [2 * slot, 2 * slot + 1] {
                    if let Some(mut s) = socks.get_mut(i).and_then(Option::take) {
                        let _ = registry.deregister(&mut s);
                    }
                }
                Ok(())
            }
            op => kernel_op(fp, local, op),
        });
        let stalled = self.core.relay.stalled();
        if stalled && !self.relay_stalled {
            let cfg = self.core.config();
            let why = match failure {
                Some((port, e)) => format!("port {port}: {e}"),
                None => "every pair is in use".to_string(),
            };
            log::warn!(
                "RTP relay: no port pair of {}-{} could be bound ({why}); new streams get none \
                 until one is free (tried again every few seconds)",
                cfg.rtp_port_low,
                cfg.rtp_port_high
            );
        }
        // Said again only after the pool had every spare it wanted.
        if stalled {
            self.relay_stalled = true;
        } else if !self.core.relay.maintenance_due() {
            self.relay_stalled = false;
        }
    }
}
