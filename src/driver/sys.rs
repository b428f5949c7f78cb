//! The few operating-system calls std lacks, through `libc`: interface
//! addresses, signals, randomness, DSCP, daemonizing. Each wrapper keeps its
//! `unsafe` small and states why it is sound.

use crate::config::Net4;
use std::ffi::CStr;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};

/// IPv4 networks of the interface `name` (address + prefix), in kernel order.
pub fn interface_ipv4(name: &str) -> Vec<Net4> {
    let [nets] = interfaces_ipv4([name]);
    nets
}

/// IPv4 networks of each interface in `names`, from one `getifaddrs`
/// (a netlink dump of every address: about 100 µs here, paid once for all
/// the names instead of once per name on the loop's refresh).
pub fn interfaces_ipv4<const N: usize>(names: [&str; N]) -> [Vec<Net4>; N] {
    let mut out: [Vec<Net4>; N] = std::array::from_fn(|_| Vec::new());
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `ifap` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return out;
    }
    let mut cur = ifap;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned; it stays
        // valid until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let ifname = unsafe { CStr::from_ptr(ifa.ifa_name) };
        if !names.iter().any(|n| ifname.to_bytes() == n.as_bytes()) {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points to a sockaddr.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: the family is AF_INET, so the sockaddr is a sockaddr_in.
        let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        let addr = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
        let prefix = if ifa.ifa_netmask.is_null() {
            32
        } else {
            // SAFETY: the netmask of an AF_INET address is a sockaddr_in.
            let m = unsafe { &*(ifa.ifa_netmask as *const libc::sockaddr_in) };
            u32::from_be(m.sin_addr.s_addr).count_ones() as u8
        };
        // Every name it answers (LAN and WAN may be one interface).
        for (n, nets) in names.iter().zip(out.iter_mut()) {
            if ifname.to_bytes() == n.as_bytes() {
                nets.push(Net4 { addr, prefix });
            }
        }
    }
    // SAFETY: `ifap` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(ifap) };
    out
}

/// Raise the soft limit of open files to at least `need` (up to the hard
/// limit, which root may raise too). siproxd crashed past descriptor 1023
/// (select); sipnat uses epoll and asks for what its relay pool needs.
pub fn raise_fd_limit(need: u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return;
    }
    let need = need as libc::rlim_t;
    if rl.rlim_cur >= need {
        return;
    }
    let want = libc::rlimit {
        rlim_cur: need,
        rlim_max: rl.rlim_max.max(need),
    };
    // SAFETY: a valid rlimit; failure is reported, not fatal.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
        let capped = libc::rlimit {
            rlim_cur: rl.rlim_max,
            rlim_max: rl.rlim_max,
        };
        // SAFETY: as above.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) };
        log::warn!(
            "could raise the open-file limit only to {}, {} wanted",
            rl.rlim_max,
            need
        );
    }
}

/// Switch to `user` (and its primary group, with no supplementary groups)
/// for good. Called once the sockets are bound and the open-file limit is
/// raised (root may raise the hard limit; a `sip_listen_port` or RTP range
/// below 1024 needs root to bind). The sockets in `shared` are given to
/// `user` first: a port shared by `SO_REUSEPORT` ([`tcp_listen_shared`])
/// takes new sockets of its owner only (socket(7)), and the owner of a
/// socket follows its `fchown`. With `keep_net_admin` the process keeps
/// CAP_NET_ADMIN, and no other of root's capabilities (capabilities(7):
/// `PR_SET_KEEPCAPS`, then `capset`): the kernel forwarding's tables
/// (`fastpath.rs`) are changed for as long as sipnat runs.
pub fn drop_privileges(
    user: &str,
    shared: &[std::os::fd::RawFd],
    keep_net_admin: bool,
) -> Result<(u32, u32), String> {
    if user.contains('\0') {
        return Err(format!("bad user name '{user}'"));
    }
    let (uid, gid) = user_ids(user).ok_or_else(|| format!("no such user '{user}'"))?;
    // SAFETY: plain system calls with valid arguments; each result is checked.
    unsafe {
        for &fd in shared {
            if libc::fchown(fd, uid, gid) != 0 {
                return Err(format!(
                    "fchown socket: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        if libc::setgroups(1, &gid) != 0 {
            return Err(format!("setgroups: {}", std::io::Error::last_os_error()));
        }
        if libc::setgid(gid) != 0 {
            return Err(format!("setgid: {}", std::io::Error::last_os_error()));
        }
        if keep_net_admin && libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            return Err(format!(
                "PR_SET_KEEPCAPS: {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::setuid(uid) != 0 {
            return Err(format!("setuid: {}", std::io::Error::last_os_error()));
        }
        if keep_net_admin {
            keep_only_net_admin()?;
        }
        // Must not be able to get root back.
        if uid != 0 && libc::setuid(0) == 0 {
            return Err("could regain root after setuid".into());
        }
    }
    Ok((uid, gid))
}

/// After `setuid` with `PR_SET_KEEPCAPS`: CAP_NET_ADMIN effective and
/// permitted, nothing else, and the keep flag off again.
fn keep_only_net_admin() -> Result<(), String> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    // _LINUX_CAPABILITY_VERSION_3: two 32-bit words of each set.
    let header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let bit = 1u32 << 12; // CAP_NET_ADMIN
    let data = [
        Data {
            effective: bit,
            permitted: bit,
            inheritable: 0,
        },
        Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads the header and two data words, all valid here.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    if r != 0 {
        return Err(format!("capset: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: plain prctl call.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    Ok(())
}

/// Give the directory `dir` to `uid:gid` (the registration directory,
/// before the privilege drop, so the unprivileged daemon can still save).
/// The directory is opened with `O_DIRECTORY | O_NOFOLLOW` and changed
/// through that descriptor, so a symbolic link put in its place is never
/// followed to another directory.
pub fn chown_directory(dir: &std::path::Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)?;
    std::os::unix::fs::fchown(&d, Some(uid), Some(gid))
}

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// Look up a user's ids (in `/etc/passwd`, [`passwd_ids`]) without
/// switching.
pub fn user_ids(user: &str) -> Option<(u32, u32)> {
    let text = crate::config::read_text(std::path::Path::new("/etc/passwd")).ok()?;
    passwd_ids(&text, user)
}

/// A user's uid and gid from the text of a passwd file (passwd(5): one
/// `name:password:uid:gid:gecos:home:shell` a line; the first well-formed
/// line naming `user` counts, as musl's getpwnam(3) reads it). The router
/// has no other user database (musl has no NSS), and getpwnam brought
/// about 4 KB of stdio and nscd client code into the MIPS binary.
pub fn passwd_ids(text: &str, user: &str) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != user {
            return None;
        }
        let _password = f.next()?;
        Some((crate::num::parse(f.next()?)?, crate::num::parse(f.next()?)?))
    })
}

/// 16 random bytes from the kernel (getrandom, falling back to /dev/urandom).
pub fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    // SAFETY: the buffer is valid for 16 bytes.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != 16 {
        use std::io::Read;
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = f.read_exact(&mut b);
        }
    }
    b
}

pub static SIG_TERM: AtomicBool = AtomicBool::new(false);
pub static SIG_HUP: AtomicBool = AtomicBool::new(false);
pub static SIG_USR1: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work: set a flag; the loop acts on it.
    match sig {
        libc::SIGHUP => SIG_HUP.store(true, Ordering::SeqCst),
        libc::SIGUSR1 => SIG_USR1.store(true, Ordering::SeqCst),
        _ => SIG_TERM.store(true, Ordering::SeqCst),
    }
}

/// Install the handlers for SIGTERM, SIGINT (stop), SIGHUP (reload),
/// SIGUSR1 (log counters); ignore SIGPIPE. Without SA_RESTART, so a signal
/// interrupts epoll_wait and the loop sees it at once.
pub fn install_signal_handlers() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
        // SAFETY: a zeroed sigaction with a valid handler and empty mask is a
        // valid argument; the handler only touches atomics.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    // SAFETY: setting SIGPIPE to SIG_IGN is always valid.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Set an integer socket option.
fn set_int_option(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
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
        Err(std::io::Error::last_os_error())
    }
}

/// A netlink socket of `protocol` (close-on-exec, non-blocking when
/// asked), bound to the multicast `groups` (0: none; the kernel picks the
/// port id). The address watch and the fast path's nfnetlink socket.
pub fn netlink_socket(
    protocol: libc::c_int,
    groups: u32,
    nonblock: bool,
) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let flags = if nonblock { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain socket(2); the result is checked.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | flags,
            protocol,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a socket we own from here.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_nl is plain data; zeroed is a valid start.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = groups;
    // SAFETY: `sa` is a sockaddr_nl of the size given.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if bound != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// Mark the socket's traffic with a DSCP (RFC 2474: the upper six bits of
/// the IPv4 TOS byte).
pub fn set_dscp(fd: std::os::fd::RawFd, dscp: u8) -> std::io::Result<()> {
    set_int_option(
        fd,
        libc::IPPROTO_IP,
        libc::IP_TOS,
        libc::c_int::from(dscp) << 2,
    )
}

/// Ask the kernel to tell, with every datagram read from `fd`, the
/// interface it arrived on (`IP_PKTINFO`, Linux ip(7)). sipnat decides a
/// datagram's side by that interface, never by its source address, which a
/// WAN sender can forge.
pub fn set_pktinfo(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    set_int_option(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
}

/// A non-blocking TCP socket bound to `local` with `SO_REUSEADDR` and
/// `SO_REUSEPORT`, so that the listening socket and the connections sipnat
/// opens share `sip_listen_port` (Linux socket(7): every socket on the
/// port sets both, under the same user).
fn tcp_socket_on(local: SocketAddrV4) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a new socket that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    let sin = sockaddr_in(local);
    // SAFETY: sin is a valid sockaddr_in of the length given.
    let r = unsafe {
        libc::bind(
            owned.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(owned)
}

/// The TCP listening socket on `local`, sharing its port with the
/// connections [`tcp_connect_from`] opens.
pub fn tcp_listen_shared(local: SocketAddrV4) -> std::io::Result<std::net::TcpListener> {
    use std::os::fd::AsRawFd;
    let fd = tcp_socket_on(local)?;
    // SAFETY: fd is a bound socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 128) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(std::net::TcpListener::from(fd))
}

/// Start a non-blocking connect to `to` from `local` (the listening port:
/// a peer that answers over "the connection to our Via/Record-Route
/// address" then finds this one, and a stateful firewall in front of the
/// router lets its packets in). `EADDRNOTAVAIL`: that four-tuple is still
/// in TIME_WAIT; the caller connects from an ephemeral port instead.
pub fn tcp_connect_from(
    local: SocketAddrV4,
    to: SocketAddrV4,
) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::AsRawFd;
    let fd = tcp_socket_on(local)?;
    let sin = sockaddr_in(to);
    // SAFETY: sin is a valid sockaddr_in of the length given.
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(std::net::TcpStream::from(fd))
}

/// The kernel's index of the interface `name` (`None`: no such interface).
pub fn if_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: a NUL-terminated string; the call only reads it.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// Room for the control messages of one datagram: an `IP_PKTINFO` (a
/// 16-byte header and a 12-byte `in_pktinfo`, padded), with margin; u64s
/// for the alignment `cmsghdr` needs.
const CONTROL_WORDS: usize = 8;

/// The arrival interface an `IP_PKTINFO` control message names, 0 if there
/// is none (the socket option is off, or not IPv4).
///
/// # Safety
/// `h` must be a header the kernel just filled by `recvmsg`/`recvmmsg`, whose
/// `msg_control` points at a live buffer of `msg_controllen` bytes.
unsafe fn arrival_ifindex(h: &libc::msghdr) -> u32 {
    // SAFETY: the caller guarantees the header and its control buffer; the
    // CMSG_* macros stay within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let info = libc::CMSG_DATA(c)
                    .cast::<libc::in_pktinfo>()
                    .read_unaligned();
                return u32::try_from(info.ipi_ifindex).unwrap_or(0);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    0
}

/// One datagram read by [`recv_with_ifindex`].
pub struct Datagram {
    pub len: usize,
    pub from: std::net::SocketAddr,
    /// The interface it arrived on (0: unknown).
    pub ifindex: u32,
    /// Longer than the buffer: only `len` bytes were kept.
    pub truncated: bool,
}

/// `recvfrom` that also says on which interface the datagram arrived (see
/// [`set_pktinfo`]). IPv4 only: a datagram from another family comes back
/// with source 0.0.0.0:0.
pub fn recv_with_ifindex(fd: std::os::fd::RawFd, buf: &mut [u8]) -> std::io::Result<Datagram> {
    // SAFETY: plain old data; all-zero is a valid (empty) value.
    let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut ctrl = [0u64; CONTROL_WORDS];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
    h.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
    h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
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
    let from = sockaddr_v4(&from).unwrap_or(std::net::SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    Ok(Datagram {
        len: (n as usize).min(buf.len()),
        from: std::net::SocketAddr::V4(from),
        // SAFETY: `h` was just filled by recvmsg with `ctrl` as its buffer.
        ifindex: unsafe { arrival_ifindex(&h) },
        truncated: h.msg_flags & libc::MSG_TRUNC != 0,
    })
}

/// Detach from the terminal (fork, setsid, stdin/stdout to /dev/null). The
/// parent exits 0. Called before any socket or thread exists.
pub fn daemonize() -> std::io::Result<()> {
    // SAFETY: single-threaded at this point; fork is safe to call.
    match unsafe { libc::fork() } {
        -1 => return Err(std::io::Error::last_os_error()),
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: plain system calls on the child's own process.
    unsafe {
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    Ok(())
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
pub struct Batch {
    bufs: Box<[[u8; RELAY_DATAGRAM]; BATCH]>,
    from: [libc::sockaddr_in; BATCH],
    lens: [usize; BATCH],
    truncated: [bool; BATCH],
    /// Control-message buffers (`IP_PKTINFO`) and the arrival interface of
    /// each datagram read (0: unknown).
    ctrl: [[u64; CONTROL_WORDS]; BATCH],
    ifindex: [u32; BATCH],
    /// Forwards queued for the next [`Batch::send`]: (datagram index, to).
    sends: [(usize, libc::sockaddr_in); BATCH],
    n_sends: usize,
}

/// What one datagram of a batch is.
pub struct Received<'a> {
    pub from: std::net::SocketAddrV4,
    pub data: &'a [u8],
    /// Longer than [`RELAY_DATAGRAM`]: `data` is cut short.
    pub truncated: bool,
    /// The interface it arrived on (0: unknown; see [`set_pktinfo`]).
    pub ifindex: u32,
}

fn sockaddr_v4(a: &libc::sockaddr_in) -> Option<std::net::SocketAddrV4> {
    if i32::from(a.sin_family) != libc::AF_INET {
        return None;
    }
    Some(std::net::SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
        u16::from_be(a.sin_port),
    ))
}

fn sockaddr_in(a: std::net::SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
    s
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    pub fn new() -> Batch {
        // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
        let zero: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        Batch {
            bufs: vec![[0u8; RELAY_DATAGRAM]; BATCH]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("BATCH elements")),
            from: [zero; BATCH],
            lens: [0; BATCH],
            truncated: [false; BATCH],
            ctrl: [[0; CONTROL_WORDS]; BATCH],
            ifindex: [0; BATCH],
            sends: [(0, zero); BATCH],
            n_sends: 0,
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
            h.msg_name = (&mut self.from[k] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &mut iov[k];
            h.msg_iovlen = 1;
            h.msg_control = self.ctrl[k].as_mut_ptr().cast();
            h.msg_controllen = std::mem::size_of_val(&self.ctrl[k]) as _;
        }
        // SAFETY: every header points at a live buffer of RELAY_DATAGRAM bytes,
        // a live sockaddr_in and a live control buffer of the sizes given, all
        // of which outlive the call; the kernel writes at most that much into
        // each.
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
            self.ifindex[k] = unsafe { arrival_ifindex(&h.msg_hdr) };
        }
        Ok(n)
    }

    /// Datagram `k` of the last [`Batch::recv`] (`None`: not IPv4, or no such).
    pub fn get(&self, k: usize) -> Option<Received<'_>> {
        let from = sockaddr_v4(self.from.get(k)?)?;
        Some(Received {
            from,
            data: self.bufs.get(k)?.get(..*self.lens.get(k)?)?,
            truncated: *self.truncated.get(k)?,
            ifindex: *self.ifindex.get(k)?,
        })
    }

    /// Queue datagram `k` to go to `to` with the next [`Batch::send`].
    pub fn forward(&mut self, k: usize, to: std::net::SocketAddrV4) {
        if k < BATCH && self.n_sends < BATCH {
            self.sends[self.n_sends] = (k, sockaddr_in(to));
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
            let (k, ref mut to) = self.sends[j];
            iov[j].iov_base = self.bufs[k].as_mut_ptr().cast();
            iov[j].iov_len = self.lens[k];
            let h = &mut hdrs[j].msg_hdr;
            h.msg_name = (to as *mut libc::sockaddr_in).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
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
mod tests;
