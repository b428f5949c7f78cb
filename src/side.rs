//! Which side of the router something is on, LAN or WAN.
//!
//! The side of a datagram is the interface it *arrived on* (the driver reads
//! it with `IP_PKTINFO`): the LAN interface (`if_inbound`) or the loopback
//! interface (a program on the router itself) is the LAN, every other
//! interface the WAN. Never the source address alone: a WAN sender can forge
//! a LAN source address, and routers with `rp_filter` 0 or 2 (common with
//! several uplinks) let such a packet in.

/// LAN or WAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Lan,
    Wan,
}

impl Side {
    /// Name for counters and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Lan => "lan",
            Side::Wan => "wan",
        }
    }
}
