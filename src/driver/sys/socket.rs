//! The driver's IP sockets: one socket per port for both families (issue
//! 14). With the `ipv6` feature each is AF_INET6 with `IPV6_V6ONLY` off,
//! set on every socket, never left to `net.ipv6.bindv6only`: it carries
//! IPv4 (peers as mapped addresses, [`super::sockaddr`]) and IPv6 alike,
//! and one bind reserves the port for both. A kernel without IPv6 (built
//! without it, `ipv6.disable=1`) refuses AF_INET6 sockets
//! (`EAFNOSUPPORT`): then every socket is AF_INET, as before IPv6
//! ([`Stack::V4`]). The first socket sipnat binds, SIP over UDP
//! ([`first_udp_socket`]), decides that for all the others.
//!
//! An interface with IPv6 turned off (`disable_ipv6=1`) is no reason to
//! fall back: the dual-stack socket still binds `::` and carries IPv4.
//!
//! What it does not do: choose a source address for IPv6 sends (a later
//! stage names it with an `IPV6_PKTINFO` control message; the relay's and
//! SIP's sends leave from the address the kernel's routing picks).

use super::Refused;
use super::sockaddr::{RAW_ADDR_LEN, RawAddr, addr_to_sockaddr, sockaddr_to_addr};
use crate::net::Addr;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Which sockets the driver opens, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// AF_INET6, `IPV6_V6ONLY` off: IPv4 and IPv6 on one socket.
    #[cfg(feature = "ipv6")]
    Dual,
    /// AF_INET: no `ipv6` feature, or a kernel without IPv6.
    V4,
}

impl Stack {
    /// What this build asks for: dual-stack sockets with the `ipv6` feature.
    #[cfg(feature = "ipv6")]
    pub const fn wanted() -> Stack {
        Stack::Dual
    }

    /// What this build asks for: AF_INET sockets without the `ipv6` feature.
    #[cfg(not(feature = "ipv6"))]
    pub const fn wanted() -> Stack {
        Stack::V4
    }

    fn domain(self) -> libc::c_int {
        match self {
            #[cfg(feature = "ipv6")]
            Stack::Dual => libc::AF_INET6,
            Stack::V4 => libc::AF_INET,
        }
    }

    /// The wildcard address on `port`: `[::]:port` or `0.0.0.0:port`.
    fn any(self, port: u16) -> Addr {
        match self {
            #[cfg(feature = "ipv6")]
            Stack::Dual => Addr::V6(std::net::Ipv6Addr::UNSPECIFIED, port),
            Stack::V4 => Addr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)),
        }
    }
}

/// Opens a socket: `socket(2)` with a domain and a type (close-on-exec
/// added). A parameter where the choice of stack is made, so a test can
/// play a kernel without IPv6.
pub type MakeSocket = fn(libc::c_int, libc::c_int) -> io::Result<OwnedFd>;

/// The real [`MakeSocket`].
pub fn make_socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new socket that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Does this error say the kernel has no IPv6 (rather than that this one
/// socket could not be had)?
#[cfg(feature = "ipv6")]
fn no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT)
    )
}

/// Set an integer socket option.
pub(super) fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: fd is an open socket; the option value is a c_int that lives
    // across the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A new socket of `stack`: on a dual-stack one, `IPV6_V6ONLY` off.
fn stack_socket(make: MakeSocket, stack: Stack, ty: libc::c_int) -> io::Result<OwnedFd> {
    let fd = make(stack.domain(), ty)?;
    #[cfg(feature = "ipv6")]
    if stack == Stack::Dual {
        set_int_option(fd.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0)?;
    }
    Ok(fd)
}

/// Bind `fd` to the wildcard address of `stack` on `port`.
fn bind_any(fd: &OwnedFd, stack: Stack, port: u16) -> io::Result<()> {
    let (raw, len) = addr_to_sockaddr(stack.any(port), stack);
    // SAFETY: `raw` holds a socket address of `len` bytes.
    if unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A non-blocking UDP socket of `stack` bound to `port` (0: the kernel
/// picks), with the arrival interface asked for when `pktinfo`
/// ([`set_pktinfo`]).
pub fn udp_socket(stack: Stack, port: u16, pktinfo: bool) -> io::Result<std::net::UdpSocket> {
    udp_socket_with(make_socket, stack, port, pktinfo)
}

fn udp_socket_with(
    make: MakeSocket,
    stack: Stack,
    port: u16,
    pktinfo: bool,
) -> io::Result<std::net::UdpSocket> {
    let fd = stack_socket(make, stack, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK)?;
    if pktinfo {
        set_pktinfo(fd.as_raw_fd(), stack)?;
    }
    bind_any(&fd, stack, port)?;
    Ok(std::net::UdpSocket::from(fd))
}

/// The first socket sipnat binds (SIP over UDP on `port`), which decides
/// the [`Stack`] of every other: dual-stack with the `ipv6` feature,
/// unless the kernel has no IPv6; then AF_INET, and the error that said so
/// (for the log). Any other error is the caller's.
#[cfg(feature = "ipv6")]
pub fn first_udp_socket(
    make: MakeSocket,
    port: u16,
) -> io::Result<(std::net::UdpSocket, Stack, Option<io::Error>)> {
    match udp_socket_with(make, Stack::Dual, port, true) {
        Ok(s) => Ok((s, Stack::Dual, None)),
        Err(e) if no_ipv6(&e) => {
            let s = udp_socket_with(make, Stack::V4, port, true)?;
            Ok((s, Stack::V4, Some(e)))
        }
        Err(e) => Err(e),
    }
}

/// The first socket sipnat binds (SIP over UDP on `port`): AF_INET, as
/// every other without the `ipv6` feature.
#[cfg(not(feature = "ipv6"))]
pub fn first_udp_socket(
    make: MakeSocket,
    port: u16,
) -> io::Result<(std::net::UdpSocket, Stack, Option<io::Error>)> {
    Ok((
        udp_socket_with(make, Stack::V4, port, true)?,
        Stack::V4,
        None,
    ))
}

/// Mark the socket's traffic with a DSCP (RFC 2474: the upper six bits of
/// the IPv4 TOS byte, RFC 8200 §7: of the IPv6 traffic class). On a
/// dual-stack socket `IP_TOS` marks its IPv4 packets and `IPV6_TCLASS`
/// its IPv6 ones; an AF_INET socket has only the first.
pub fn set_dscp(fd: RawFd, dscp: u8) -> io::Result<()> {
    let tos = libc::c_int::from(dscp) << 2;
    set_int_option(fd, libc::IPPROTO_IP, libc::IP_TOS, tos)?;
    #[cfg(feature = "ipv6")]
    match set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, tos) {
        // An AF_INET socket: no IPv6 packets to mark.
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {}
        r => r?,
    }
    Ok(())
}

/// Ask the kernel to tell, with every datagram read from `fd`, the
/// interface it arrived on. sipnat decides a datagram's side by that
/// interface, never by its source address, which a WAN sender can forge.
/// A dual-stack socket asks with `IPV6_RECVPKTINFO` (ipv6(7)): Linux
/// answers with an `IPV6_PKTINFO` for its IPv4 datagrams too (the mapped
/// destination and the interface); an AF_INET socket with `IP_PKTINFO`
/// (ip(7)).
pub fn set_pktinfo(fd: RawFd, stack: Stack) -> io::Result<()> {
    match stack {
        #[cfg(feature = "ipv6")]
        Stack::Dual => set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1),
        Stack::V4 => set_int_option(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1),
    }
}

/// A non-blocking TCP socket of `stack` bound to `port` with
/// `SO_REUSEADDR` and `SO_REUSEPORT`, so that the listening socket and the
/// connections sipnat opens share `sip_listen_port` (Linux socket(7):
/// every socket on the port sets both, under the same user).
fn tcp_socket_on(stack: Stack, port: u16) -> io::Result<OwnedFd> {
    let fd = stack_socket(make_socket, stack, libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    set_int_option(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_int_option(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    bind_any(&fd, stack, port)?;
    Ok(fd)
}

/// The TCP listening socket on `port` (`[::]` or `0.0.0.0`), sharing its
/// port with the connections [`tcp_connect_from`] opens.
pub fn tcp_listen_shared(stack: Stack, port: u16) -> io::Result<std::net::TcpListener> {
    let fd = tcp_socket_on(stack, port)?;
    // SAFETY: fd is a bound socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 128) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::net::TcpListener::from(fd))
}

/// Start a non-blocking connect to `to` from `port` (the listening port:
/// a peer that answers over "the connection to our Via/Record-Route
/// address" then finds this one, and a stateful firewall in front of the
/// router lets its packets in). `EADDRNOTAVAIL`: that four-tuple is still
/// in TIME_WAIT; the caller connects from an ephemeral port instead.
pub fn tcp_connect_from(stack: Stack, port: u16, to: Addr) -> io::Result<std::net::TcpStream> {
    let fd = tcp_socket_on(stack, port)?;
    let (raw, len) = addr_to_sockaddr(to, stack);
    // SAFETY: `raw` holds a socket address of `len` bytes.
    let r = unsafe { libc::connect(fd.as_raw_fd(), raw.as_ptr(), len) };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(std::net::TcpStream::from(fd))
}

/// Accept a connection on the listening socket `fd` (non-blocking,
/// close-on-exec) and say who it is from ([`sockaddr_to_addr`]), or why
/// it is refused (the caller closes and counts it): a link-local peer, or
/// an IPv4-mapped peer of an IPv6 connection (its local address is not
/// mapped; see [`Refused`]).
pub fn accept(fd: RawFd) -> io::Result<(std::net::TcpStream, Result<Addr, Refused>)> {
    let mut raw = RawAddr::zeroed();
    let mut len = RAW_ADDR_LEN;
    // SAFETY: `raw` has room for `len` bytes; the kernel writes at most that.
    let c = unsafe {
        libc::accept4(
            fd,
            raw.as_mut_ptr(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if c < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `c` is a new connected socket that nothing else owns.
    let stream = std::net::TcpStream::from(unsafe { OwnedFd::from_raw_fd(c) });
    let peer = match sockaddr_to_addr(&raw) {
        None => Err(Refused::LinkLocal),
        Some(Addr::V4(_)) if raw.family() != libc::AF_INET && local_is_ipv6(c) => {
            Err(Refused::MappedSource)
        }
        Some(a) => Ok(a),
    };
    Ok((stream, peer))
}

/// Is the local address of the connected socket `fd` IPv6 (not mapped)?
fn local_is_ipv6(fd: RawFd) -> bool {
    let mut raw = RawAddr::zeroed();
    let mut len = RAW_ADDR_LEN;
    // SAFETY: `raw` has room for `len` bytes; the kernel writes at most that.
    if unsafe { libc::getsockname(fd, raw.as_mut_ptr(), &mut len) } != 0 {
        return false;
    }
    matches!(sockaddr_to_addr(&raw), Some(Addr::V6(..)))
}
