//! The few operating-system calls std lacks, through `libc`: interface
//! addresses, signals, randomness, DSCP, daemonizing. Each wrapper keeps its
//! `unsafe` small and states why it is sound.

use crate::config::Net4;
use std::ffi::CStr;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};

/// IPv4 networks of the interface `name` (address + prefix), in kernel order.
pub fn interface_ipv4(name: &str) -> Vec<Net4> {
    let mut out = Vec::new();
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
        if ifname.to_bytes() != name.as_bytes() {
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
        out.push(Net4 { addr, prefix });
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
/// below 1024 needs root to bind).
pub fn drop_privileges(user: &str) -> Result<(u32, u32), String> {
    let name = std::ffi::CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
    // SAFETY: getpwnam returns a pointer to static storage or null; we copy
    // the two ids out before any other call that could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(format!("no such user {user:?}"));
    }
    // SAFETY: pw is non-null and points to a passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    // SAFETY: plain system calls with valid arguments; each result is checked.
    unsafe {
        if libc::setgroups(1, &gid) != 0 {
            return Err(format!("setgroups: {}", std::io::Error::last_os_error()));
        }
        if libc::setgid(gid) != 0 {
            return Err(format!("setgid: {}", std::io::Error::last_os_error()));
        }
        if libc::setuid(uid) != 0 {
            return Err(format!("setuid: {}", std::io::Error::last_os_error()));
        }
        // Must not be able to get root back.
        if uid != 0 && libc::setuid(0) == 0 {
            return Err("could regain root after setuid".into());
        }
    }
    Ok((uid, gid))
}

/// Give `path` to `uid:gid` (the registration file's directory, before the
/// privilege drop, so the unprivileged daemon can still save).
pub fn chown(path: &std::path::Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

/// Look up a user's ids without switching.
pub fn user_ids(user: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(user).ok()?;
    // SAFETY: as in drop_privileges.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: non-null passwd record.
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
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

/// Mark the socket's traffic with a DSCP (RFC 2474: the upper six bits of
/// the IPv4 TOS byte).
pub fn set_dscp(fd: std::os::fd::RawFd, dscp: u8) -> std::io::Result<()> {
    let tos: libc::c_int = libc::c_int::from(dscp) << 2;
    // SAFETY: fd is an open socket; the option value is a c_int.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_TOS,
            (&tos as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
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
mod tests {
    use super::*;

    #[test]
    fn loopback_has_127_0_0_1() {
        let nets = interface_ipv4("lo");
        assert!(
            nets.iter()
                .any(|n| n.addr == Ipv4Addr::LOCALHOST && n.prefix == 8),
            "{nets:?}"
        );
        assert!(interface_ipv4("no-such-if0").is_empty());
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes(), random_bytes());
    }
}
