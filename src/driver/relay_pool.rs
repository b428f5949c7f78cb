//! The relay's sockets: two per bound pair, RTP and RTCP, at the relay's
//! socket indexes `2k` and `2k + 1` (`Token(RELAY_BASE + index)`), in
//! `Daemon::relay_socks`. Nothing is bound at start: after every message
//! (and every pass of the loop) the driver carries out what the relay's
//! pool asks ([`crate::relay::Relay::maintain`]): it binds a spare pair
//! where the pool names a port and closes the pair of every stream that
//! ended, so the sockets follow the calls. A port another program holds
//! (`EADDRINUSE`) is reported and the pool tries the next pair.

use super::kernel::kernel_op;
use super::{Daemon, RELAY_BASE, sys};
use crate::limits::MAX_PORT_OPS;
use crate::relay::{BindError, PortOp};
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;

/// One relay socket on `port`, dual-stack or AF_INET as `stack` says, with
/// its arrival interface asked for (its side) and the DSCP mark; not
/// registered yet.
fn bind_relay(port: u16, dscp: u8, stack: sys::Stack) -> std::io::Result<UdpSocket> {
    let s = UdpSocket::from_std(sys::udp_socket(stack, port, true)?);
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
    (dscp, stack): (u8, sys::Stack),
    registry: &Registry,
) -> std::io::Result<(UdpSocket, UdpSocket)> {
    // `port` is even, so +1 cannot overflow.
    let (mut rtp, mut rtcp) = (
        bind_relay(port, dscp, stack)?,
        bind_relay(port + 1, dscp, stack)?,
    );
    let token = |i| Token(RELAY_BASE + 2 * slot + i);
    registry.register(&mut rtp, token(0), Interest::READABLE)?;
    if let Err(e) = registry.register(&mut rtcp, token(1), Interest::READABLE) {
        let _ = registry.deregister(&mut rtp);
        return Err(e);
    }
    Ok((rtp, rtcp))
}

impl Daemon {
    /// Bind and close what the relay's pool asks, at most
    /// [`MAX_PORT_OPS`] operations (the rest next pass: the loop does not
    /// sleep while [`crate::relay::Relay::maintenance_due`]). One compare
    /// when there is nothing to do.
    pub(super) fn maintain_relay(&mut self) {
        if !self.core.relay.maintenance_due() {
            return;
        }
        let socket = (self.core.config().rtp_dscp, self.stack);
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
                match bind_pair(port, slot, socket, registry) {
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

/// Send one held relay packet from relay socket `index` (the relay's socket
/// index); a full buffer drops it, as the network would.
pub(super) fn send_held(
    socks: &[Option<UdpSocket>],
    index: usize,
    to: crate::net::Addr,
    bytes: &[u8],
) {
    if let Some(Some(sock)) = socks.get(index) {
        let _ = sock.send_to(bytes, to.to_std());
    }
}
