//! sipnat's own addresses as the proxy sees them: which side an address
//! is on, the address sipnat names toward each side in each family (LAN:
//! the interface's; WAN: `host_outbound`, STUN's answer or the
//! interface's), and whether a host names sipnat.
//!
//! What it does not do: read the interfaces (the driver does, and gives
//! the core [`Addresses`]).

use super::*;

impl Proxy {
    pub(super) fn is_lan(&self, ip: IpAddr) -> bool {
        crate::net::is_loopback(ip) || self.addrs.lan.iter().any(|n| n.contains(ip))
    }

    pub(super) fn side_of(&self, ip: IpAddr) -> Side {
        if self.is_lan(ip) {
            Side::Lan
        } else {
            Side::Wan
        }
    }

    /// sipnat's LAN address of `family`: the first IPv4 network's address;
    /// for IPv6 the first unique local one (RFC 4193: it survives the
    /// renumbering of a delegated prefix, which phones would otherwise
    /// have to follow), else the first other.
    pub(super) fn lan_ip(&self, family: Family) -> Option<IpAddr> {
        let v6 = |ula: bool| {
            self.addrs.lan.iter().find_map(|n| match n {
                Net::V6(n) if crate::net::is_ula(&n.addr) == ula => Some(IpAddr::V6(n.addr)),
                _ => None,
            })
        };
        match family {
            Family::V4 => self.addrs.lan_v4().map(IpAddr::V4),
            Family::V6 => v6(true).or_else(|| v6(false)),
        }
    }

    /// sipnat's WAN address of `family`: `host_outbound` (resolved), else
    /// what the STUN server said (IPv4), else the WAN interface's.
    pub(super) fn public_of(&self, family: Family) -> Option<IpAddr> {
        match family {
            Family::V4 => self.public.or(self.addrs.wan).map(IpAddr::V4),
            Family::V6 => self.public6.or(self.addrs.wan6).map(IpAddr::V6),
        }
    }

    pub(super) fn public_ip(&self) -> Option<IpAddr> {
        self.public_of(Family::V4)
    }

    /// The address sipnat names on the WAN side: `host_outbound` (resolved),
    /// else what the STUN server said, else the WAN interface's.
    pub fn public_address(&self) -> Option<IpAddr> {
        self.public_ip()
    }

    /// sipnat's IPv6 address on the WAN side, when it has one.
    pub fn public_address6(&self) -> Option<IpAddr> {
        self.public_of(Family::V6)
    }

    /// sipnat's address of `family` as seen from `side`: what it names
    /// in Via, Record-Route, Contact and SDP toward that side. A hop of a
    /// family sipnat has no address of cannot be served (503).
    pub(super) fn our_ip(&self, side: Side, family: Family) -> Option<IpAddr> {
        match side {
            Side::Lan => self.lan_ip(family),
            Side::Wan => self.public_of(family),
        }
    }

    /// sipnat's address toward `peer` on `side`: [`Proxy::our_ip`] of the
    /// peer's family, except that on the LAN an IPv6 peer in one of the
    /// LAN's IPv6 networks is named the router's address in that network:
    /// the source the kernel gives the packets sipnat sends it (RFC 6724
    /// §5 rule 8, longest matching prefix), so a phone on the delegated
    /// prefix hears and sees the same address, and one on the ULA the ULA.
    pub(super) fn our_ip_to(&self, side: Side, peer: IpAddr) -> Option<IpAddr> {
        let same_net = match (side, peer) {
            (Side::Lan, IpAddr::V6(p)) => self.addrs.lan.iter().find_map(|n| match n {
                Net::V6(n) if n.contains(p) => Some(IpAddr::V6(n.addr)),
                _ => None,
            }),
            _ => None,
        };
        same_net.or_else(|| self.our_ip(side, Family::of(peer)))
    }

    pub(super) fn is_our_ip(&self, ip: IpAddr) -> bool {
        crate::net::is_loopback(ip)
            || self.addrs.lan.iter().any(|n| net_ip(n) == ip)
            || self.own_wan_addresses().contains(&ip)
    }

    /// The port sipnat names for `transport` on `side`: `tls_listen_port`
    /// for TLS on the LAN (the phones' TLS comes there), else
    /// `sip_listen_port` (TLS toward the provider leaves from it, and the
    /// provider's requests come back over that connection).
    pub(super) fn our_port(&self, transport: Transport, side: Side) -> u16 {
        match (transport, side, self.cfg.tls_listen_port) {
            (Transport::Tls, Side::Lan, p) if cfg!(feature = "tls") && p != 0 => p,
            _ => self.cfg.sip_listen_port,
        }
    }

    /// Does this host[:port] name sipnat?
    pub(super) fn is_us(&self, host: &Host<'_>, port: Option<u16>) -> bool {
        let port = port.unwrap_or(5060);
        let tls = self.cfg.tls_listen_port;
        let tls = cfg!(feature = "tls") && tls != 0 && port == tls;
        if port != self.cfg.sip_listen_port && !tls {
            return false;
        }
        match host {
            Host::Ipv4(ip) => self.is_our_ip(IpAddr::V4(*ip)),
            // RFC 5954 §4: IPv6 references compare as addresses.
            Host::Ipv6(ip) => self.is_our_ip(IpAddr::V6(*ip)),
            Host::Name(n) => self
                .cfg
                .host_outbound
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(n)),
        }
    }
}
