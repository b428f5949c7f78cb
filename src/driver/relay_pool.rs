//! The relay's sockets: two per port pair, RTP and RTCP, at the relay's
//! socket indexes `2k` and `2k + 1` (`Token(RELAY_BASE + index)`), in
//! `Daemon::relay_socks`. Bound at start for the whole pool; a reload that
//! changes the pool ([`crate::relay::Relay::set_ports`]) opens the pairs
//! that joined it and, once their last stream has ended, closes the ones
//! that left it ([`Daemon::close_relay_pairs`]): a call in progress keeps
//! its ports whatever the new range says.

use super::{Daemon, RELAY_BASE, sys};
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

/// Bind relay socket `index` on `port`, with IP_PKTINFO (its side) and
/// the DSCP mark, registered for reading.
pub(super) fn bind_relay(
    port: u16,
    index: usize,
    dscp: u8,
    registry: &Registry,
) -> Result<UdpSocket, String> {
    let mut s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port).into()).map_err(|e| {
        format!("cannot bind RTP relay port {port}: {e} (check rtp_port_low/rtp_port_high)")
    })?;
    sys::set_pktinfo(s.as_raw_fd()).map_err(|e| format!("IP_PKTINFO: {e}"))?;
    if dscp != 0 {
        if let Err(e) = sys::set_dscp(s.as_raw_fd(), dscp) {
            log::warn!("cannot set rtp_dscp on port {port}: {e}");
        }
    }
    registry
        .register(&mut s, Token(RELAY_BASE + index), Interest::READABLE)
        .map_err(|e| format!("poll register: {e}"))?;
    Ok(s)
}

impl Daemon {
    /// Open the sockets of the relay's pairs `slots` (new in the pool, or
    /// back in it). A pair that cannot be bound (a port another program
    /// holds) stays out of the pool, and says so in the log.
    pub(super) fn open_relay_pairs(&mut self, slots: &[usize]) {
        let dscp = self.core.config().rtp_dscp;
        let need = slots.iter().map(|k| 2 * k + 2).max().unwrap_or(0);
        if need > self.relay_socks.len() {
            self.relay_socks.resize_with(need, || None);
            self.relay_queued.resize(need, false);
            sys::raise_fd_limit(need as u64 + crate::limits::MAX_DNS_PENDING as u64 + 64);
        }
        for &k in slots {
            let Some(port) = self.core.relay.pair_port(k) else {
                continue;
            };
            let registry = self.poll.registry();
            let pair = bind_relay(port, 2 * k, dscp, registry).and_then(|rtp| {
                bind_relay(port + 1, 2 * k + 1, dscp, registry).map(|rtcp| (rtp, rtcp))
            });
            match pair {
                Ok((rtp, rtcp)) => {
                    self.relay_socks[2 * k] = Some(rtp);
                    self.relay_socks[2 * k + 1] = Some(rtcp);
                }
                Err(e) => {
                    log::error!("{e}; the pool goes on without this pair");
                    self.core.relay.close_slot(k);
                }
            }
        }
    }

    /// Close the sockets of the pairs that left the pool and are free.
    pub(super) fn close_relay_pairs(&mut self) {
        let (socks, registry) = (&mut self.relay_socks, self.poll.registry());
        let mut closed = 0;
        self.core.relay.take_closed(&mut |k| {
            for i in [2 * k, 2 * k + 1] {
                if let Some(mut s) = socks.get_mut(i).and_then(Option::take) {
                    let _ = registry.deregister(&mut s);
                    closed += 1;
                }
            }
        });
        if closed > 0 {
            log::info!(
                "RTP relay: {} ports closed (out of the pool, their calls ended)",
                closed
            );
        }
    }
}
