//! Which side a datagram or a TCP peer is on ([`crate::side`]): decided by
//! the interface it arrived on, or by its address where one interface
//! serves both sides, from the interface indexes and networks the driver
//! reads.
//!
//! It does not read interfaces itself beyond their indexes (the driver
//! passes the networks in, [`super::read_addresses`]) and keeps no state
//! between refreshes.

use super::sys;
use crate::config::Config;
use crate::net::Addr;
use crate::proxy::Addresses;
use crate::side::Side;
use std::net::IpAddr;

/// Which interfaces are the LAN side ([`crate::side`]): `if_inbound`, and
/// loopback (programs on the router itself). Anything else is the WAN, and so
/// is a datagram whose arrival interface the kernel did not tell.
///
/// When `if_inbound` and `if_outbound` are one interface (sipnat on a host
/// inside the LAN, in front of the NAT router: `host_outbound` names the
/// public address), the interface cannot tell the sides apart; there the
/// source address decides, as siproxd does: an address in a network of that
/// interface is the LAN. The NAT router in front is then what keeps forged
/// LAN sources out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Ingress {
    pub(super) lan: Option<u32>,
    pub(super) lo: Option<u32>,
    /// `if_inbound` is `if_outbound`: decide by address.
    pub(super) shared: bool,
    /// The networks of `if_inbound`, IPv4 and IPv6.
    pub(super) nets: heapless::Vec<crate::net::Net, 8>,
}

impl Ingress {
    pub(super) fn read(cfg: &Config, addrs: &Addresses) -> Ingress {
        Ingress {
            lan: cfg.if_inbound.as_deref().and_then(sys::if_index),
            lo: sys::if_index("lo"),
            shared: cfg.if_inbound.is_some() && cfg.if_inbound == cfg.if_outbound,
            nets: addrs.lan.clone(),
        }
    }

    /// The side of a datagram that arrived on interface `ifindex` from `from`.
    #[inline]
    pub(super) fn side(&self, ifindex: u32, from: Addr) -> Side {
        let lan_if = ifindex != 0 && (Some(ifindex) == self.lan || Some(ifindex) == self.lo);
        if !lan_if {
            Side::Wan
        } else if self.shared {
            self.side_of_address(from.ip())
        } else {
            Side::Lan
        }
    }

    /// The side of a TCP peer: its address (loopback or a LAN network, of
    /// either family, is the LAN). A TCP peer cannot forge its address: the
    /// handshake needs it to receive sipnat's SYN-ACK there
    /// (`transport::conns`).
    pub(super) fn side_of_address(&self, ip: IpAddr) -> Side {
        if ip.is_loopback() || self.nets.iter().any(|n| n.contains(ip)) {
            Side::Lan
        } else {
            Side::Wan
        }
    }
}
