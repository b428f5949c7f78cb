//! The few operating-system calls std lacks, through `libc`: interface
//! addresses, signals, randomness, daemonizing; the sockets of either
//! family (`socket.rs`: dual-stack or AF_INET, DSCP, TCP), their addresses
//! (`sockaddr.rs`) and datagrams with their arrival interface (`recv.rs`).
//! Each wrapper keeps its `unsafe` small and states why it is sound.

use crate::config::Net4;
use std::ffi::CStr;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};

mod recv;
mod sockaddr;
pub(super) mod socket;
pub use recv::{BATCH, Batch, Datagram, RELAY_DATAGRAM, Received, Refused, recv_with_ifindex};
pub use sockaddr::{addr_to_sockaddr, sockaddr_to_addr, std_target};
pub use socket::{
    MakeSocket, Stack, accept, first_udp_socket, make_socket, set_dscp, set_pktinfo,
    tcp_connect_from, tcp_listen_shared, udp_socket,
};

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

/// The kernel's index of the interface `name` (`None`: no such interface).
pub fn if_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: a NUL-terminated string; the call only reads it.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
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

#[cfg(test)]
mod tests;
