//! The router's own addresses, kept current: read at start, again as soon
//! as the kernel says an IPv4 address changed (an rtnetlink socket
//! subscribed to `RTMGRP_IPV4_IFADDR`, watched by the loop: a PPPoE
//! reconnect's new WAN address is in force at once; link events are not
//! asked for: an address comes and goes with its own event, and links
//! change more often than addresses), and at
//! the slow refresh as a safety net. resolv.conf is re-read at each refresh.
//!
//! Reading the addresses is a netlink dump of every address
//! (`getifaddrs`, one for both interfaces): 100–200 µs on x86_64, paid on
//! the loop. With the watch it is paid when something changed and once a
//! minute, not every 5 s (issue 15: the loop's longest pass while
//! relaying). Where the socket cannot be opened (a sandbox that forbids
//! it), the addresses are read at every refresh, as before.

use super::{Daemon, Ingress, read_nameservers, sys};
use crate::config::Config;
use crate::proxy::Addresses;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How often the addresses are read with a working watch (a missed
/// notification costs at most this long).
pub(super) const SAFETY_NET: Duration = Duration::from_secs(60);

/// The IPv4 networks of `if_inbound` (at most 4) and the first address of
/// `if_outbound`, from one `getifaddrs`.
pub fn read_addresses(cfg: &Config) -> Addresses {
    let mut a = Addresses::default();
    // An absent name matches no interface.
    let [lan, wan] = sys::interfaces_ipv4([
        cfg.if_inbound.as_deref().unwrap_or(""),
        cfg.if_outbound.as_deref().unwrap_or(""),
    ]);
    if cfg.if_inbound.is_some() {
        for n in lan.into_iter().take(4) {
            let _ = a.lan.push(n.into());
        }
    }
    if cfg.if_outbound.is_some() {
        a.wan = wan.first().map(|n| n.addr);
    }
    a
}

/// The rtnetlink socket that tells the loop an address or link changed.
pub(super) struct AddrWatch {
    fd: OwnedFd,
}

impl AddrWatch {
    /// Open and register the watch; `None` (logged) where it cannot be.
    pub(super) fn open(registry: &Registry, token: Token) -> Option<AddrWatch> {
        match Self::try_open(registry, token) {
            Ok(w) => Some(w),
            Err(e) => {
                log::info!("no address watch ({e}): interface addresses are read every refresh");
                None
            }
        }
    }

    fn try_open(registry: &Registry, token: Token) -> std::io::Result<AddrWatch> {
        let fd = sys::netlink_socket(libc::NETLINK_ROUTE, libc::RTMGRP_IPV4_IFADDR as u32, true)?;
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(AddrWatch { fd })
    }

    /// Read every pending notification (their content does not matter:
    /// any of them means "read the addresses again"); at most 64 reads a
    /// pass. True when something came (or the socket overflowed: then
    /// something was lost, which needs a read all the same).
    pub(super) fn drain(&self) -> bool {
        let mut buf = [0u8; 4096];
        let mut changed = false;
        for _ in 0..64 {
            // SAFETY: `buf` is writable for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                changed = true;
                continue;
            }
            let e = std::io::Error::last_os_error();
            if n < 0 && e.raw_os_error() == Some(libc::ENOBUFS) {
                changed = true; // notifications were lost
                continue;
            }
            if n < 0 && e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        changed
    }
}

impl Daemon {
    /// The slow refresh: resolv.conf when it changed; the addresses when
    /// there is no watch or the safety net is due.
    pub(super) fn refresh(&mut self, now: Instant) {
        if self.addr_watch.is_none() || now >= self.next_addr_read {
            self.read_own_addresses(now, "refresh");
        }
        let stamp = super::files::resolv_stamp();
        if stamp != self.resolv_stamp {
            self.resolv_stamp = stamp;
            let ns = read_nameservers();
            self.core.set_nameservers(&ns);
        }
        self.check_ip_forward();
    }

    /// Read the interfaces' addresses now (`why`: the watch said they
    /// changed, or the refresh asks); a change is logged.
    pub(super) fn read_own_addresses(&mut self, now: Instant, why: &str) {
        self.next_addr_read = now + SAFETY_NET;
        let addrs = read_addresses(self.core.config());
        let old = self.core.addresses();
        if addrs.wan != old.wan || addrs.lan != old.lan {
            log::info!(
                "interface addresses now: WAN {}, LAN {} ({why})",
                OrNone(addrs.wan.as_ref()),
                OrNone(addrs.lan.first())
            );
        }
        self.core.set_addresses(addrs);
        self.ingress = Ingress::read(self.core.config(), self.core.addresses());
    }
}

/// `x`, or `none`.
struct OrNone<'a, T>(Option<&'a T>);

impl<T: std::fmt::Display> std::fmt::Display for OrNone<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(x) => x.fmt(f),
            None => f.write_str("none"),
        }
    }
}
