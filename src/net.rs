//! Addresses of both families, in the compact forms the tables store.
//!
//! - [`Addr`]: an IP address and a port, IPv4 or IPv6. Not std's
//!   `SocketAddr`: its IPv6 form carries `flowinfo` and `scope_id`, which take
//!   part in `==` and `Hash`, so a latch compare or a table lookup would
//!   depend on fields the kernel fills as it likes; and it is 32 bytes where
//!   [`Addr`] is 20. Without a scope there is no link-local address in the
//!   core: [`Addr::from_std`] refuses one, and the driver drops and counts
//!   such a datagram at its edge.
//! - [`SourceKey`]: what a per-source quota counts: an IPv4 address, or the
//!   /64 of an IPv6 one (one SLAAC host rotates its privacy addresses within
//!   its /64, RFC 8981 §3, so a /128 quota would not bind it).
//! - [`Net`]: a network of either family, for the LAN's networks and the
//!   access lists ([`Net4`], [`Net6`]).
//! - [`is_public`]: may the relay send media to this address before it has
//!   latched it (the relay's rule 7).
//!
//! An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), as a
//! dual-stack socket reports an IPv4 peer, becomes the IPv4 address here and
//! nowhere else: the core never sees the mapped form.
//!
//! What this module does not do: name resolution, text scanning of SIP
//! messages (the proxy's job), or anything with sockets.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// An IP address and port of either family; equality is (address, port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addr {
    V4(SocketAddrV4),
    V6(Ipv6Addr, u16),
}

impl Addr {
    /// `ip:port` of either family; an IPv4-mapped IPv6 address becomes IPv4.
    pub fn new(ip: IpAddr, port: u16) -> Addr {
        match canonical(ip) {
            IpAddr::V4(v4) => Addr::V4(SocketAddrV4::new(v4, port)),
            IpAddr::V6(v6) => Addr::V6(v6, port),
        }
    }

    /// From what a socket reports. IPv4-mapped → IPv4; `None` for an IPv6
    /// address with a scope id (link-local: the core has no interface to
    /// send it on).
    pub fn from_std(a: SocketAddr) -> Option<Addr> {
        match a {
            SocketAddr::V6(s) if s.scope_id() != 0 => None,
            _ => Some(Addr::new(a.ip(), a.port())),
        }
    }

    /// The address as std writes sockets (no flow label, no scope). Not
    /// inlined, like [`Addr::ip`].
    #[inline(never)]
    pub fn to_std(self) -> SocketAddr {
        match self {
            Addr::V4(s) => SocketAddr::V4(s),
            Addr::V6(ip, port) => SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0)),
        }
    }

    /// The address without the port. Not inlined: the match and the copy
    /// of either family's address were repeated at every use (about 1 KB of
    /// MIPS code in all).
    #[inline(never)]
    pub fn ip(&self) -> IpAddr {
        match *self {
            Addr::V4(s) => IpAddr::V4(*s.ip()),
            Addr::V6(ip, _) => IpAddr::V6(ip),
        }
    }

    pub fn port(&self) -> u16 {
        match *self {
            Addr::V4(s) => s.port(),
            Addr::V6(_, port) => port,
        }
    }

    /// The IPv4 form, if this is one.
    pub fn v4(&self) -> Option<SocketAddrV4> {
        match *self {
            Addr::V4(s) => Some(s),
            Addr::V6(..) => None,
        }
    }

    pub fn family(&self) -> Family {
        match self {
            Addr::V4(_) => Family::V4,
            Addr::V6(..) => Family::V6,
        }
    }

    /// The same address with another port.
    pub fn with_port(self, port: u16) -> Addr {
        Addr::new(self.ip(), port)
    }
}

impl From<SocketAddrV4> for Addr {
    fn from(s: SocketAddrV4) -> Addr {
        Addr::V4(s)
    }
}

/// `a.b.c.d:port` or `[v6]:port` (RFC 5952 §6).
impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::V4(s) => s.fmt(f),
            Addr::V6(ip, port) => write!(f, "[{ip}]:{port}"),
        }
    }
}

/// Parses what [`Display`](fmt::Display) writes; a mapped address is IPv4,
/// a scoped one an error.
impl std::str::FromStr for Addr {
    type Err = ();
    fn from_str(s: &str) -> Result<Addr, ()> {
        Addr::from_std(s.parse().map_err(|_| ())?).ok_or(())
    }
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// The unit of a per-source quota: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKey {
    V4(Ipv4Addr),
    V6([u8; 8]),
}

impl SourceKey {
    pub fn of(ip: IpAddr) -> SourceKey {
        match canonical(ip) {
            IpAddr::V4(v4) => SourceKey::V4(v4),
            IpAddr::V6(v6) => {
                let mut p = [0; 8];
                p.copy_from_slice(&v6.octets()[..8]);
                SourceKey::V6(p)
            }
        }
    }
}

impl From<Ipv4Addr> for SourceKey {
    fn from(ip: Ipv4Addr) -> SourceKey {
        SourceKey::V4(ip)
    }
}

/// Writes the IPv4 address, or the /64 as `2001:db8:1:2::/64`.
impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceKey::V4(ip) => ip.fmt(f),
            SourceKey::V6(p) => {
                let mut o = [0; 16];
                o[..8].copy_from_slice(p);
                write!(f, "{}/64", Ipv6Addr::from(o))
            }
        }
    }
}

/// The netmask of a `prefix`-bit network as a host-order u32 (`/0` → 0; a
/// prefix past 32 is 32). 32-bit arithmetic: on the MIPS32 routers a u128
/// mask is several times the code.
fn mask32(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

/// An IPv4 network: `addr/prefix`. `prefix` is 0..=32 ([`Net4::parse`]
/// enforces it; a larger value built by hand is treated as 32). An address
/// with host bits set (`192.168.1.8/24`, as siproxd's own example writes it)
/// is kept as written; matching masks both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net4 {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Net4 {
    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = mask32(self.prefix);
        (u32::from(self.addr) & m) == (u32::from(ip) & m)
    }

    /// Parse `a.b.c.d/nn` (nn in 0..=32) or `a.b.c.d` (= /32). Blanks around
    /// the entry are ignored. `None` for anything else.
    pub fn parse(s: &str) -> Option<Net4> {
        let (addr, prefix) = split_prefix(s, 32)?;
        Some(Net4 {
            addr: addr.parse().ok()?,
            prefix,
        })
    }
}

impl fmt::Display for Net4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv6 network: `addr/prefix`, prefix 0..=128 (larger is 128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net6 {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

impl Net6 {
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        // Four 32-bit words, each under its part of the prefix.
        let (a, b) = (self.addr.octets(), ip.octets());
        (0..4).all(|i| {
            let w = |o: &[u8; 16]| {
                u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
            };
            let m = mask32(self.prefix.saturating_sub(32 * i as u8));
            (w(&a) ^ w(&b)) & m == 0
        })
    }
}

impl fmt::Display for Net6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A network of either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    V4(Net4),
    V6(Net6),
}

impl Net {
    /// Whether `ip` lies in this network; an address never lies in a
    /// network of the other family (a mapped IPv6 address is compared as
    /// the IPv4 address it maps).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, canonical(ip)) {
            (Net::V4(n), IpAddr::V4(ip)) => n.contains(ip),
            (Net::V6(n), IpAddr::V6(ip)) => n.contains(ip),
            _ => false,
        }
    }

    /// Parse `a.b.c.d[/nn]` or, with the `ipv6` feature, `v6[/nnn]`
    /// (RFC 4291 §2.3 prefix notation; a bare address is one host). Blanks
    /// around the entry are ignored; `None` for anything else.
    pub fn parse(s: &str) -> Option<Net> {
        if let Some(n) = Net4::parse(s) {
            return Some(Net::V4(n));
        }
        #[cfg(feature = "ipv6")]
        {
            let (addr, prefix) = split_prefix(s, 128)?;
            let addr: Ipv6Addr = addr.parse().ok()?;
            Some(Net::V6(Net6 { addr, prefix }))
        }
        #[cfg(not(feature = "ipv6"))]
        None
    }
}

impl From<Net4> for Net {
    fn from(n: Net4) -> Net {
        Net::V4(n)
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Net::V4(n) => n.fmt(f),
            Net::V6(n) => n.fmt(f),
        }
    }
}

/// `addr/nn` → (addr, nn) with nn ≤ `max`; `addr` → (addr, `max`). Blanks
/// around either part are ignored; the prefix is plain decimal digits.
fn split_prefix(s: &str, max: u8) -> Option<(&str, u8)> {
    let s = s.trim();
    match s.split_once('/') {
        Some((a, p)) => Some((a.trim(), prefix_len(p.trim(), max)?)),
        None => Some((s, max)),
    }
}

/// A prefix length: plain decimal digits, at most `max` (rejects "+8",
/// "0x18", "255.255.255.0").
pub fn prefix_len(p: &str, max: u8) -> Option<u8> {
    if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    crate::num::parse::<u8>(p).filter(|p| *p <= max)
}

/// An IPv4-mapped IPv6 address as the IPv4 address; anything else as is.
/// The one place that tests for the mapped form (one copy of the code: the
/// constructors above come here).
#[inline(never)]
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => mapped(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The IPv4 address of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC
/// 4291 §2.5.5.2), as std's `to_ipv4_mapped`: as one 128-bit number, the
/// top 96 bits are 0xffff (std compares byte by byte, twice the code on
/// MIPS32).
pub fn mapped(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let x = u128::from(ip);
    (x >> 32 == 0xffff).then_some(Ipv4Addr::from(x as u32))
}

/// A unique local address, fc00::/7 (RFC 4193). By the first octet: std's
/// `segments()` is a 16-bit swap of all eight groups.
pub fn is_ula(ip: &Ipv6Addr) -> bool {
    ip.octets()[0] & 0xfe == 0xfc
}

/// A multicast address, ff00::/8 (RFC 4291 §2.7), as std's `is_multicast`
/// (which goes through `segments()`).
pub fn is_multicast6(ip: &Ipv6Addr) -> bool {
    ip.octets()[0] == 0xff
}

/// A multicast address of either family (224.0.0.0/4, ff00::/8), as std's
/// `IpAddr::is_multicast`.
pub fn is_multicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_multicast(),
        IpAddr::V6(v6) => is_multicast6(&v6),
    }
}

/// A link-local unicast address, fe80::/10 (RFC 4291 §2.5.6), as std's
/// `is_unicast_link_local` (which goes through `segments()`).
pub fn is_link_local6(ip: &Ipv6Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 0xfe && b & 0xc0 == 0x80
}

/// `ip.is_loopback()` (127.0.0.0/8, ::1), not inlined: std's test of
/// either family was repeated at each use.
#[inline(never)]
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// `ip.is_unspecified()` (0.0.0.0, ::), not inlined (as [`is_loopback`]).
#[inline(never)]
pub fn is_unspecified(ip: IpAddr) -> bool {
    ip.is_unspecified()
}

/// Is `ip` routable on the public Internet as far as the relay cares?
///
/// IPv4: not RFC 1918 private space, 100.64.0.0/10 (RFC 6598 shared address
/// space, carrier-grade NAT), 169.254.0.0/16 link-local (RFC 3927),
/// 127.0.0.0/8 loopback, 0.0.0.0/8 (RFC 1122 §3.2.1.3), multicast
/// 224.0.0.0/4 and the reserved 240.0.0.0/4 with the limited broadcast
/// (RFC 1112 §4).
///
/// IPv6: only global unicast, 2000::/3 (RFC 4291 §2.4); not the unspecified
/// address and loopback (§2.5.2, §2.5.3), link-local fe80::/10 (§2.5.6),
/// unique local fc00::/7 (RFC 4193, the IPv6 counterpart of RFC 1918),
/// multicast ff00::/8 (§2.7). An IPv4-mapped address is judged as the IPv4
/// address it maps. The documentation prefix 2001:db8::/32 (RFC 3849) counts
/// as public, as TEST-NET addresses do for IPv4, so test networks work.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            let cgnat = a == 100 && (64..128).contains(&b);
            !(ip.is_private()
                || cgnat
                || ip.is_link_local()
                || ip.is_loopback()
                || a == 0
                || a >= 224)
        }
        IpAddr::V6(ip) => ip.octets()[0] & 0xe0 == 0x20,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Addr {
        s.parse().unwrap()
    }

    #[test]
    fn addr_is_compact() {
        assert_eq!(std::mem::size_of::<Addr>(), 20);
        assert_eq!(std::mem::size_of::<Option<Addr>>(), 20);
        assert_eq!(std::mem::size_of::<SourceKey>(), 9);
    }

    #[test]
    fn mapped_and_scoped_addresses_at_the_edge() {
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:5060".parse().unwrap();
        assert_eq!(Addr::from_std(mapped), Some(a("192.0.2.7:5060")));
        let scoped = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 5060, 0, 3));
        assert_eq!(Addr::from_std(scoped), None);
        // The flow label is not part of the address.
        let flow = SocketAddr::V6(SocketAddrV6::new("2001:db8::1".parse().unwrap(), 9, 77, 0));
        assert_eq!(Addr::from_std(flow), Some(a("[2001:db8::1]:9")));
        assert_eq!(
            a("[2001:db8::1]:9").to_std(),
            "[2001:db8::1]:9".parse().unwrap()
        );
        assert!("[fe80::1%3]:9".parse::<Addr>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["192.0.2.7:5060", "[2001:db8::1]:5061", "[::]:0"] {
            assert_eq!(a(s).to_string(), s);
        }
        assert_eq!(a("[2001:DB8:0:0::1]:9").to_string(), "[2001:db8::1]:9");
        assert_eq!(a("192.0.2.7:5060").with_port(7).to_string(), "192.0.2.7:7");
        assert_eq!(a("[2001:db8::1]:9").family(), Family::V6);
        assert_eq!(a("[2001:db8::1]:9").v4(), None);
    }

    #[test]
    fn source_key_is_the_v4_address_or_the_v6_64() {
        let k = |s: &str| SourceKey::of(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:192.0.2.1"), k("192.0.2.1"));
        assert_ne!(k("192.0.2.1"), k("192.0.2.2"));
        assert_eq!(k("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_eq!(k("192.0.2.1").to_string(), "192.0.2.1");
    }

    #[test]
    fn networks_of_both_families() {
        let n = |s: &str| Net::parse(s).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(n("192.168.1.8/24").contains(ip("192.168.1.200")));
        assert!(!n("192.168.1.0/24").contains(ip("192.168.2.1")));
        assert!(n("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(n(" 10.0.0.1 ").contains(ip("10.0.0.1")));
        assert!(!n("10.0.0.1").contains(ip("10.0.0.2")));
        assert!(n("10.0.0.0/31").contains(ip("10.0.0.1")));
        assert!(!n("10.0.0.0/31").contains(ip("10.0.0.2")));
        let wide = Net::V4(Net4 {
            addr: Ipv4Addr::new(10, 0, 0, 1),
            prefix: 40,
        });
        assert!(wide.contains(ip("10.0.0.1")) && !wide.contains(ip("10.0.0.3")));
        assert!(n("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/8",
            "x",
            "",
        ] {
            assert_eq!(Net::parse(bad), None, "{bad}");
        }
        if cfg!(feature = "ipv6") {
            assert!(n("2001:db8:77::/48").contains(ip("2001:db8:77:1::2")));
            assert!(!n("2001:db8:77::/48").contains(ip("2001:db8:78::2")));
            assert!(n("fd00::/8").contains(ip("fd77:1::1")));
            assert!(n("::/0").contains(ip("2001:db8::1")));
            assert!(!n("::/0").contains(ip("10.0.0.1")), "no cross-family match");
            assert!(n("2001:db8::1").contains(ip("2001:db8::1")));
            assert!(!n("2001:db8::1").contains(ip("2001:db8::2")));
            assert_eq!(n("2001:db8::/32").to_string(), "2001:db8::/32");
            assert_eq!(Net::parse("2001:db8::/129"), None);
            // Prefixes that end inside a 32-bit word, on a boundary, past it.
            assert!(n("2001:db8:0:2::/63").contains(ip("2001:db8:0:3::1")));
            assert!(!n("2001:db8:0:2::/64").contains(ip("2001:db8:0:3::1")));
            assert!(n("2001:db8::8000:0/97").contains(ip("2001:db8::ffff:1")));
            assert!(!n("2001:db8::8000:0/97").contains(ip("2001:db8::7fff:1")));
            assert!(n("2001:db8::1/127").contains(ip("2001:db8::0")));
            assert!(!n("2001:db8::1/128").contains(ip("2001:db8::0")));
            let wide = Net::V6(Net6 {
                addr: "2001:db8::1".parse().unwrap(),
                prefix: 200,
            });
            assert!(wide.contains(ip("2001:db8::1")) && !wide.contains(ip("2001:db8::3")));
        } else {
            assert_eq!(Net::parse("2001:db8::/32"), None);
        }
    }

    #[test]
    fn prefix_tests_as_std() {
        for s in [
            "::ffff:192.0.2.1",
            "::ffff:0:0",
            "::fffe:192.0.2.1",
            "1::ffff:192.0.2.1",
            "::192.0.2.1",
            "fc00::1",
            "fd77:1::2",
            "fe00::1",
            "fe80::1",
            "febf:ffff::1",
            "fec0::1",
            "fe7f::1",
            "fbff::1",
            "ff02::1",
            "feff::1",
            "2001:db8::1",
            "::",
        ] {
            let ip: Ipv6Addr = s.parse().unwrap();
            assert_eq!(mapped(ip), ip.to_ipv4_mapped(), "{s}");
            assert_eq!(is_ula(&ip), ip.segments()[0] & 0xfe00 == 0xfc00, "{s}");
            assert_eq!(is_multicast6(&ip), ip.is_multicast(), "{s}");
            assert_eq!(is_multicast(ip.into()), ip.is_multicast(), "{s}");
            assert_eq!(is_link_local6(&ip), ip.is_unicast_link_local(), "{s}");
        }
    }

    #[test]
    fn public_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for s in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "127.0.0.1",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fd77:1::2",
            "fc00::1",
            "ff02::1",
            "::ffff:192.168.1.1",
        ] {
            assert!(!is_public(ip(s)), "{s}");
        }
        for s in [
            "8.8.8.8",
            "100.128.0.1",
            "192.0.2.1",
            "2001:db8::1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(s)), "{s}");
        }
    }
}
