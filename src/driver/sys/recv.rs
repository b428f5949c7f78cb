//! Reading and sending datagrams with what std lacks: the arrival
//! interface of each datagram read (SIP and DNS: [`recv_with_ifindex`]),
//! and the relay's batched reads and sends ([`Batch`]). Every source
//! becomes an [`Addr`] through [`sockaddr_to_addr`] ([`source`]), every
//! destination a socket address through [`addr_to_sockaddr`].
//!
//! Refused at this edge, for the caller to count ([`Refused`]): a
//! link-local source (no scope in the core), and an IPv6 datagram whose
//! source is IPv4-mapped. A dual-stack socket reports both an IPv4
//! datagram and such an IPv6 one with a mapped source: Linux delivers the
//! latter to a UDP socket (6.18 does, `tests/netns_v6/dual.rs`), where it
//! would pass for IPv4 from any address its sender likes (an access list's
//! provider, say) and past the IPv4 network's source filtering. The
//! `IPV6_PKTINFO` of each datagram tells them apart: its destination is
//! mapped for an IPv4 datagram only (TCP: [`super::accept`] asks the
//! connection's local address).

use super::Stack;
use super::sockaddr::{RAW_ADDR_LEN, RawAddr, addr_to_sockaddr, sockaddr_to_addr};
use crate::net::Addr;

/// Room for the control messages of one datagram: one `IPV6_PKTINFO` (a
/// header and a 20-byte `in6_pktinfo`) or `IP_PKTINFO` (a 12-byte
/// `in_pktinfo`), padded; u64s for the alignment `cmsghdr` needs.
const CONTROL_WORDS: usize = 8;

// The larger of the two must fit: 40 bytes on 64-bit targets, 32 on 32-bit.
const _: () = assert!(
    // SAFETY: CMSG_SPACE only computes a size.
    unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::in6_pktinfo>() as u32) } as usize
        <= CONTROL_WORDS * 8
);

/// Why a datagram's source has no [`Addr`]: it is dropped and counted
/// (`drop.<reason>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// An IPv6 source with a scope id (link-local).
    LinkLocal,
    /// An IPv6 datagram from an IPv4-mapped source.
    MappedSource,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::LinkLocal => "link-local",
            Refused::MappedSource => "mapped-source",
        }
    }
}

/// What the control messages of one datagram say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Arrival {
    /// The interface it arrived on (0: unknown).
    ifindex: u32,
    /// It was an IPv6 packet: its `IPV6_PKTINFO` destination is not
    /// IPv4-mapped.
    ipv6: bool,
}

/// The arrival of a datagram, from its `IPV6_PKTINFO` or `IP_PKTINFO`
/// control message; nothing known if there is none (the option is off).
///
/// # Safety
/// `h` must be a header the kernel just filled by `recvmsg`/`recvmmsg`, whose
/// `msg_control` points at a live buffer of `msg_controllen` bytes.
unsafe fn arrival(h: &libc::msghdr) -> Arrival {
    // SAFETY: the caller guarantees the header and its control buffer; the
    // CMSG_* macros stay within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            #[cfg(feature = "ipv6")]
            if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_PKTINFO {
                let info = libc::CMSG_DATA(c)
                    .cast::<libc::in6_pktinfo>()
                    .read_unaligned();
                let to = info.ipi6_addr.s6_addr;
                return Arrival {
                    ifindex: info.ipi6_ifindex,
                    ipv6: to[..12] != [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
                };
            }
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let info = libc::CMSG_DATA(c)
                    .cast::<libc::in_pktinfo>()
                    .read_unaligned();
                return Arrival {
                    ifindex: u32::try_from(info.ipi_ifindex).unwrap_or(0),
                    ipv6: false,
                };
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    Arrival::default()
}

/// The source of a datagram that arrived as `arrival` says, from the
/// address the kernel wrote ([`sockaddr_to_addr`]).
#[inline]
fn source(from: &RawAddr, arrival: Arrival) -> Result<Addr, Refused> {
    match sockaddr_to_addr(from) {
        None => Err(Refused::LinkLocal),
        Some(Addr::V4(_)) if arrival.ipv6 => Err(Refused::MappedSource),
        Some(a) => Ok(a),
    }
}

/// One datagram read by [`recv_with_ifindex`].
pub struct Datagram {
    pub len: usize,
    /// Its source, or why it has none (the caller drops and counts it).
    pub from: Result<Addr, Refused>,
    /// The interface it arrived on (0: unknown).
    pub ifindex: u32,
    /// Longer than the buffer: only `len` bytes were kept.
    pub truncated: bool,
}

/// `recvfrom` that also says on which interface the datagram arrived (see
/// [`super::set_pktinfo`]), from a socket of either family.
pub fn recv_with_ifindex(fd: std::os::fd::RawFd, buf: &mut [u8]) -> std::io::Result<Datagram> {
    let mut from = RawAddr::zeroed();
    let mut ctrl = [0u64; CONTROL_WORDS];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: plain old data; all-zero is a valid (empty) value.
    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
    h.msg_name = from.as_mut_ptr().cast();
    h.msg_namelen = RAW_ADDR_LEN;
    h.msg_iov = &mut iov;
    h.msg_iovlen = 1;
    h.msg_control = ctrl.as_mut_ptr().cast();
    h.msg_controllen = std::mem::size_of_val(&ctrl) as _;
    // SAFETY: every pointer in `h` refers to a live buffer of the size given,
    // all outliving the call.
    let n = unsafe { libc::recvmsg(fd, &mut h, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `h` was just filled by recvmsg with `ctrl` as its buffer.
    let arrival = unsafe { arrival(&h) };
    Ok(Datagram {
        len: (n as usize).min(buf.len()),
        from: source(&from, arrival),
        ifindex: arrival.ifindex,
        truncated: h.msg_flags & libc::MSG_TRUNC != 0,
    })
}

/// Datagrams the relay reads (and sends) with one system call.
pub const BATCH: usize = 8;
/// Largest relayed datagram. RTP and RTCP travel in single packets below the
/// path MTU (RFC 3550 §11 leaves fragmentation to the network, and real
/// endpoints stay under ~1500 bytes); a larger datagram is dropped and
/// counted as truncated, never forwarded cut short.
pub const RELAY_DATAGRAM: usize = 4096;

/// Batched datagram I/O for the relay (`recvmmsg`/`sendmmsg`, Linux 2.6.33+,
/// musl and glibc): one call reads up to [`BATCH`] datagrams from a socket,
/// and a read that returns fewer than asked also says the socket is drained,
/// which saves the `EAGAIN` read an edge-triggered loop otherwise ends with.
/// The forwards of one batch leave with one `sendmmsg`, each datagram with
/// its own destination, unchanged, from the socket it arrived on.
///
/// The relay's sockets are all of one [`Stack`], given at [`Batch::new`]:
/// destinations are written in its form (mapped on a dual-stack socket).
pub struct Batch {
    bufs: Box<[[u8; RELAY_DATAGRAM]; BATCH]>,
    from: [RawAddr; BATCH],
    /// The sources of the datagrams read (`None`: refused, counted).
    src: [Option<Addr>; BATCH],
    lens: [usize; BATCH],
    truncated: [bool; BATCH],
    /// Control-message buffers (`IPV6_PKTINFO`, `IP_PKTINFO`) and the
    /// arrival interface of each datagram read (0: unknown).
    ctrl: [[u64; CONTROL_WORDS]; BATCH],
    ifindex: [u32; BATCH],
    /// Forwards queued for the next [`Batch::send`]: (datagram index, to).
    sends: [(usize, RawAddr, libc::socklen_t); BATCH],
    n_sends: usize,
    stack: Stack,
    /// Datagrams refused since [`Batch::take_refused`]: link-local, mapped.
    refused: [u64; 2],
}

/// What one datagram of a batch is.
pub struct Received<'a> {
    pub from: Addr,
    pub data: &'a [u8],
    /// Longer than [`RELAY_DATAGRAM`]: `data` is cut short.
    pub truncated: bool,
    /// The interface it arrived on (0: unknown; see [`super::set_pktinfo`]).
    pub ifindex: u32,
}

impl Batch {
    pub fn new(stack: Stack) -> Batch {
        Batch {
            bufs: vec![[0u8; RELAY_DATAGRAM]; BATCH]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("BATCH elements")),
            from: [RawAddr::zeroed(); BATCH],
            src: [None; BATCH],
            lens: [0; BATCH],
            truncated: [false; BATCH],
            ctrl: [[0; CONTROL_WORDS]; BATCH],
            ifindex: [0; BATCH],
            sends: [(0, RawAddr::zeroed(), 0); BATCH],
            n_sends: 0,
            stack,
            refused: [0; 2],
        }
    }

    /// Read up to [`BATCH`] datagrams without blocking; `Ok(0)` when none
    /// was waiting. Forwards queued and not sent are discarded.
    pub fn recv(&mut self, fd: std::os::fd::RawFd) -> std::io::Result<usize> {
        self.n_sends = 0;
        // SAFETY: iovec, msghdr and mmsghdr are plain old data (zero = empty).
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for k in 0..BATCH {
            iov[k].iov_base = self.bufs[k].as_mut_ptr().cast();
            iov[k].iov_len = RELAY_DATAGRAM;
            let h = &mut hdrs[k].msg_hdr;
            h.msg_name = self.from[k].as_mut_ptr().cast();
            h.msg_namelen = RAW_ADDR_LEN;
            h.msg_iov = &mut iov[k];
            h.msg_iovlen = 1;
            h.msg_control = self.ctrl[k].as_mut_ptr().cast();
            h.msg_controllen = std::mem::size_of_val(&self.ctrl[k]) as _;
        }
        // SAFETY: every header points at a live buffer of RELAY_DATAGRAM bytes,
        // a live address buffer and a live control buffer of the sizes given,
        // all of which outlive the call; the kernel writes at most that much
        // into each.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as _,
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        let n = (n as usize).min(BATCH);
        for (k, h) in hdrs.iter().enumerate().take(n) {
            self.truncated[k] = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.lens[k] = (h.msg_len as usize).min(RELAY_DATAGRAM);
            // SAFETY: the kernel just filled this header and its control
            // buffer (`self.ctrl[k]`, still live).
            let arrival = unsafe { arrival(&h.msg_hdr) };
            self.ifindex[k] = arrival.ifindex;
            self.src[k] = match source(&self.from[k], arrival) {
                Ok(a) => Some(a),
                Err(why) => {
                    self.refused[why as usize] += 1;
                    None
                }
            };
        }
        Ok(n)
    }

    /// Datagram `k` of the last [`Batch::recv`] (`None`: its source was
    /// refused, counted for [`Batch::take_refused`]; or no such).
    #[inline]
    pub fn get(&self, k: usize) -> Option<Received<'_>> {
        Some(Received {
            from: (*self.src.get(k)?)?,
            data: self.bufs.get(k)?.get(..*self.lens.get(k)?)?,
            truncated: *self.truncated.get(k)?,
            ifindex: *self.ifindex.get(k)?,
        })
    }

    /// How many datagrams were refused, and why, since the last call (for
    /// the counters; the relay never saw them).
    pub fn take_refused(&mut self) -> [(Refused, u64); 2] {
        let [link_local, mapped] = std::mem::take(&mut self.refused);
        [
            (Refused::LinkLocal, link_local),
            (Refused::MappedSource, mapped),
        ]
    }

    /// Queue datagram `k` to go to `to` with the next [`Batch::send`].
    #[inline]
    pub fn forward(&mut self, k: usize, to: Addr) {
        if k < BATCH && self.n_sends < BATCH {
            let (raw, len) = addr_to_sockaddr(to, self.stack);
            self.sends[self.n_sends] = (k, raw, len);
            self.n_sends += 1;
        }
    }

    /// Send the queued forwards from `fd`; returns how many the kernel took.
    /// A full send buffer drops the rest, as the network would.
    pub fn send(&mut self, fd: std::os::fd::RawFd) -> usize {
        let n = std::mem::take(&mut self.n_sends);
        if n == 0 {
            return 0;
        }
        // SAFETY: plain old data, zero = empty.
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for j in 0..n {
            let (k, ref mut to, len) = self.sends[j];
            iov[j].iov_base = self.bufs[k].as_mut_ptr().cast();
            iov[j].iov_len = self.lens[k];
            let h = &mut hdrs[j].msg_hdr;
            h.msg_name = to.as_mut_ptr().cast();
            h.msg_namelen = len;
            h.msg_iov = &mut iov[j];
            h.msg_iovlen = 1;
        }
        let (mut done, mut sent) = (0, 0);
        while done < n {
            // SAFETY: headers `done..n` point at live buffers of the lengths
            // given and live destination addresses; the kernel only reads them.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    hdrs[done..].as_mut_ptr(),
                    (n - done) as _,
                    libc::MSG_DONTWAIT as _,
                )
            };
            if r > 0 {
                done += r as usize;
                sent += r as usize;
                continue;
            }
            if r == 0 {
                break;
            }
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                // This datagram failed (a full buffer, or an ICMP error
                // reported on the socket): skip it, send the others.
                done += 1;
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_sources() {
        let a: Addr = "10.77.1.2:5060".parse().unwrap();
        let (v4, _) = addr_to_sockaddr(a, Stack::V4);
        let v4_wire = Arrival {
            ifindex: 3,
            ipv6: false,
        };
        let v6_wire = Arrival {
            ifindex: 3,
            ipv6: true,
        };
        assert_eq!(source(&v4, v4_wire), Ok(a));
        // Whatever the form: an IPv4 source of an IPv6 packet is refused.
        assert_eq!(source(&v4, v6_wire), Err(Refused::MappedSource));
        assert_eq!(source(&RawAddr::zeroed(), v4_wire), Err(Refused::LinkLocal));
        #[cfg(feature = "ipv6")]
        {
            // An IPv4 datagram on a dual-stack socket: mapped source, mapped
            // destination.
            let (mapped, _) = addr_to_sockaddr(a, Stack::Dual);
            assert_eq!(source(&mapped, v4_wire), Ok(a));
            // An IPv6 datagram with a mapped source: refused.
            assert_eq!(source(&mapped, v6_wire), Err(Refused::MappedSource));
            let six: Addr = "[2001:db8:77:1::2]:5060".parse().unwrap();
            let (raw, _) = addr_to_sockaddr(six, Stack::Dual);
            assert_eq!(source(&raw, v6_wire), Ok(six));
        }
        assert_eq!(Refused::MappedSource.as_str(), "mapped-source");
    }
}
