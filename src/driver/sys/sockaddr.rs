//! Socket addresses between the kernel's form and [`Addr`], in one place:
//! what `recvmsg`, `recvmmsg` and `accept4` report becomes an [`Addr`]
//! through [`sockaddr_to_addr`] only (SIP, DNS, TCP and the relay alike),
//! and an [`Addr`] to send to becomes the kernel's form through
//! [`addr_to_sockaddr`] only.
//!
//! A dual-stack socket ([`Stack::Dual`](super::Stack)) reports an IPv4 peer
//! as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2):
//! that becomes [`Addr::V4`] here, and an [`Addr::V4`] is sent to as the
//! mapped address. A mapped source is always taken as IPv4: the socket
//! cannot tell an IPv6 packet with a mapped source apart, and Linux drops
//! those on input (`ip6_rcv_core`). An IPv6 address with a scope id (a
//! link-local peer) has no [`Addr`]: the core has no interface to send it
//! on, so the caller drops such a datagram and counts it.
//!
//! What it does not do: name resolution, or anything with the port's
//! socket beyond the address.

use super::Stack;
use crate::net::Addr;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Room for a socket address of either family, as the kernel reads and
/// writes it (`sockaddr_in` or `sockaddr_in6`, told apart by the family
/// field both begin with).
#[repr(C)]
#[derive(Clone, Copy)]
pub union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

/// The length to give the kernel for a [`RawAddr`] it fills.
pub const RAW_ADDR_LEN: libc::socklen_t = std::mem::size_of::<RawAddr>() as libc::socklen_t;

impl RawAddr {
    pub fn zeroed() -> RawAddr {
        // SAFETY: both variants are plain old data; all-zero is a valid
        // (empty, family 0) value of each.
        unsafe { std::mem::zeroed() }
    }

    /// For the kernel to fill or read.
    pub fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (self as *mut RawAddr).cast()
    }

    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (self as *const RawAddr).cast()
    }

    pub fn family(&self) -> libc::c_int {
        // SAFETY: both variants begin with the family (`sa_family_t` at
        // offset 0 on Linux), an integer for which every value is valid.
        libc::c_int::from(unsafe { self.v4.sin_family })
    }
}

/// The address the kernel wrote into `a`: IPv4 and IPv4-mapped as
/// [`Addr::V4`], other IPv6 as [`Addr::V6`]. `None` for an IPv6 address
/// with a scope id (link-local: dropped and counted by the caller) and for
/// any other family.
#[inline]
pub fn sockaddr_to_addr(a: &RawAddr) -> Option<Addr> {
    match a.family() {
        libc::AF_INET => {
            // SAFETY: the family says the kernel wrote a sockaddr_in.
            let s = unsafe { a.v4 };
            Some(Addr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
                u16::from_be(s.sin_port),
            )))
        }
        #[cfg(feature = "ipv6")]
        libc::AF_INET6 => {
            // SAFETY: the family says the kernel wrote a sockaddr_in6.
            let s = unsafe { a.v6 };
            let b = s.sin6_addr.s6_addr;
            let port = u16::from_be(s.sin6_port);
            if b[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
                let ip = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
                return Some(Addr::V4(SocketAddrV4::new(ip, port)));
            }
            if s.sin6_scope_id != 0 {
                return None;
            }
            Some(Addr::V6(b.into(), port))
        }
        _ => None,
    }
}

/// `to` as a socket of `stack` takes it, and its length: on a dual-stack
/// socket every address as IPv6 (IPv4 mapped, no flow label, no scope); on
/// an AF_INET socket IPv4 as `sockaddr_in` (an IPv6 address there is
/// written as IPv6 all the same, and the kernel refuses it: the fallback
/// has no IPv6).
#[inline]
pub fn addr_to_sockaddr(to: Addr, stack: Stack) -> (RawAddr, libc::socklen_t) {
    let mut raw = RawAddr::zeroed();
    let v6 = match (to, stack) {
        (Addr::V4(s), Stack::V4) => {
            // SAFETY: sockaddr_in is plain old data; all-zero is valid.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = s.port().to_be();
            sin.sin_addr.s_addr = u32::from(*s.ip()).to_be();
            raw.v4 = sin;
            return (raw, std::mem::size_of::<libc::sockaddr_in>() as _);
        }
        #[cfg(feature = "ipv6")]
        (Addr::V4(s), Stack::Dual) => (s.ip().to_ipv6_mapped(), s.port()),
        (Addr::V6(ip, port), _) => (ip, port),
    };
    // SAFETY: sockaddr_in6 is plain old data; all-zero is valid.
    let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_port = v6.1.to_be();
    sin6.sin6_addr.s6_addr = v6.0.octets();
    raw.v6 = sin6;
    (raw, std::mem::size_of::<libc::sockaddr_in6>() as _)
}

/// A std address to send to from a socket of `stack` (the SIP and DNS
/// sockets, which send through std): an IPv4 address as the mapped IPv6
/// one on a dual-stack socket, anything else as it is.
pub fn std_target(to: std::net::SocketAddr, stack: Stack) -> std::net::SocketAddr {
    match (to, stack) {
        #[cfg(feature = "ipv6")]
        (std::net::SocketAddr::V4(s), Stack::Dual) => std::net::SocketAddr::V6(
            std::net::SocketAddrV6::new(s.ip().to_ipv6_mapped(), s.port(), 0, 0),
        ),
        _ => to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "ipv6")]
    use std::net::Ipv6Addr;

    #[cfg(feature = "ipv6")]
    fn v6(ip: &str, port: u16, scope: u32) -> RawAddr {
        let mut raw = RawAddr::zeroed();
        // SAFETY: plain old data.
        let mut s: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        s.sin6_family = libc::AF_INET6 as _;
        s.sin6_port = port.to_be();
        s.sin6_addr.s6_addr = ip.parse::<Ipv6Addr>().unwrap().octets();
        s.sin6_scope_id = scope;
        s.sin6_flowinfo = 0x1234_5678u32.to_be();
        raw.v6 = s;
        raw
    }

    fn a(s: &str) -> Addr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_round_trips_on_an_ipv4_socket() {
        let (raw, len) = addr_to_sockaddr(a("192.0.2.7:5060"), Stack::V4);
        assert_eq!(len as usize, std::mem::size_of::<libc::sockaddr_in>());
        assert_eq!(sockaddr_to_addr(&raw), Some(a("192.0.2.7:5060")));
    }

    #[test]
    fn unknown_families_have_no_address() {
        let mut raw = RawAddr::zeroed();
        assert_eq!(sockaddr_to_addr(&raw), None, "family 0");
        raw.v4.sin_family = libc::AF_UNIX as _;
        assert_eq!(sockaddr_to_addr(&raw), None);
    }

    #[cfg(feature = "ipv6")]
    #[test]
    fn mapped_is_ipv4_scoped_is_refused_flow_labels_ignored() {
        assert_eq!(
            sockaddr_to_addr(&v6("::ffff:10.77.1.2", 5060, 0)),
            Some(a("10.77.1.2:5060"))
        );
        assert_eq!(
            sockaddr_to_addr(&v6("2001:db8::1", 7078, 0)),
            Some(Addr::V6("2001:db8::1".parse().unwrap(), 7078)),
            "the flow label is not part of the address"
        );
        assert_eq!(sockaddr_to_addr(&v6("fe80::1", 5060, 3)), None);
        // Not mapped: IPv4-compatible (deprecated) and NAT64 stay IPv6.
        for ip in ["::10.77.1.2", "64:ff9b::a4d:102", "::1", "::"] {
            assert_eq!(
                sockaddr_to_addr(&v6(ip, 9, 0)),
                Some(Addr::V6(ip.parse().unwrap(), 9)),
                "{ip}"
            );
        }
    }

    #[cfg(feature = "ipv6")]
    #[test]
    fn a_dual_stack_socket_sends_to_ipv4_as_mapped() {
        let (raw, len) = addr_to_sockaddr(a("198.51.100.2:5060"), Stack::Dual);
        assert_eq!(len as usize, std::mem::size_of::<libc::sockaddr_in6>());
        // SAFETY: written as sockaddr_in6 just above.
        let s = unsafe { raw.v6 };
        assert_eq!(i32::from(s.sin6_family), libc::AF_INET6);
        assert_eq!(
            Ipv6Addr::from(s.sin6_addr.s6_addr),
            "::ffff:198.51.100.2".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!((s.sin6_flowinfo, s.sin6_scope_id), (0, 0));
        assert_eq!(sockaddr_to_addr(&raw), Some(a("198.51.100.2:5060")));
        let six = a("[2001:db8:100::2]:5060");
        assert_eq!(
            sockaddr_to_addr(&addr_to_sockaddr(six, Stack::Dual).0),
            Some(six)
        );
        assert_eq!(
            std_target("198.51.100.2:5060".parse().unwrap(), Stack::Dual),
            "[::ffff:198.51.100.2]:5060".parse().unwrap()
        );
        assert_eq!(
            std_target("198.51.100.2:5060".parse().unwrap(), Stack::V4),
            "198.51.100.2:5060".parse().unwrap()
        );
    }
}
