//! The router's own addresses, kept current: read at start, again as soon
//! as the kernel says an address changed (an rtnetlink socket subscribed to
//! `RTMGRP_IPV4_IFADDR`, and `RTMGRP_IPV6_IFADDR` with the `ipv6` feature,
//! watched by the loop: a PPPoE reconnect's new WAN address is in force at
//! once; link events are not asked for: an address comes and goes with its
//! own event, and links change more often than addresses), and at the slow
//! refresh as a safety net. resolv.conf is re-read at each refresh.
//!
//! Reading the addresses is a netlink dump of every address
//! (`getifaddrs`, one for both interfaces) and, for IPv6, a read of
//! `/proc/net/if_inet6` and `/proc/net/ipv6_route` ([`super::if_inet6`]:
//! the flags that say which IPv6 addresses are usable are not in
//! `getifaddrs`): 100–200 µs on x86_64, paid on the loop. With the watch it
//! is paid when something changed and once a minute, not every 5 s (issue
//! 15: the loop's longest pass while relaying), and at most once a
//! [`WATCH_GAP`]: every router advertisement that refreshes an address's
//! lifetimes is an `RTM_NEWADDR` too. Where the socket cannot be opened (a
//! sandbox that forbids it), the addresses are read at every refresh, as
//! before.

use super::{Daemon, Ingress, read_nameservers, sys};
use crate::config::Config;
use crate::net::Net;
use crate::proxy::Addresses;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How often the addresses are read with a working watch (a missed
/// notification costs at most this long).
pub(super) const SAFETY_NET: Duration = Duration::from_secs(60);

/// The least time between two reads the watch asks for (its events in
/// between are taken together by the second read).
pub(super) const WATCH_GAP: Duration = Duration::from_secs(1);

/// The networks of `if_inbound`: at most 4 IPv4 ones (the first is
/// sipnat's LAN address), then its usable IPv6 ones ([`super::if_inet6`],
/// in a fixed order) up to the table's capacity; the first IPv4
/// address of `if_outbound` and the IPv6 address sipnat names on the WAN
/// ([`super::if_inet6::wan_address`]).
pub fn read_addresses(cfg: &Config) -> Addresses {
    let mut a = Addresses::default();
    let (lan_if, wan_if) = (cfg.if_inbound.as_deref(), cfg.if_outbound.as_deref());
    // An absent name matches no interface.
    let [lan, wan] = sys::interfaces_ipv4([lan_if.unwrap_or(""), wan_if.unwrap_or("")]);
    if lan_if.is_some() {
        for n in lan.into_iter().take(4) {
            let _ = a.lan.push(n.into());
        }
    }
    if wan_if.is_some() {
        a.wan = wan.first().map(|n| n.addr);
    }
    #[cfg(feature = "ipv6")]
    {
        let ([lan6, wan6], default_route) =
            super::if_inet6::read([lan_if.unwrap_or(""), wan_if.unwrap_or("")]);
        add_ipv6(&mut a, &lan6, wan_if.map(|_| &wan6[..]), default_route);
    }
    a
}

/// The IPv6 part of [`read_addresses`]: the LAN's networks after the IPv4
/// ones, as many as fit: stable before temporary, global before unique
/// local, then by address; `wan6` when there is an outbound interface
/// (`wan`).
#[cfg(feature = "ipv6")]
fn add_ipv6(
    a: &mut Addresses,
    lan: &[super::if_inet6::If6],
    wan: Option<&[super::if_inet6::If6]>,
    default_route: bool,
) {
    // `if_inet6` lists an interface's addresses in hash order: sorted, a
    // read gives the same list as long as the addresses are the same. A
    // handful of addresses: the smallest left, again and again (less code
    // than a general sort).
    let mut left: Vec<&super::if_inet6::If6> = lan.iter().collect();
    let key = |x: &super::if_inet6::If6| (x.temporary, x.is_ula(), x.net.addr, x.net.prefix);
    while let Some(i) = (0..left.len()).min_by_key(|&i| key(left[i])) {
        if a.lan.push(Net::V6(left.swap_remove(i).net)).is_err() {
            break;
        }
    }
    a.wan6 = wan.and_then(|wan| super::if_inet6::wan_address(wan, lan, default_route));
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
        let mut groups = libc::RTMGRP_IPV4_IFADDR as u32;
        if cfg!(feature = "ipv6") {
            groups |= libc::RTMGRP_IPV6_IFADDR as u32;
        }
        let fd = sys::netlink_socket(libc::NETLINK_ROUTE, groups, true)?;
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
        if self.addr_watch.is_none() || crate::due(&now, &self.next_addr_read) {
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

    /// Read the addresses the watch said changed, unless the last read was
    /// less than [`WATCH_GAP`] ago (then at [`Daemon::watch_deadline`]).
    pub(super) fn follow_watch(&mut self, now: Instant) {
        if self.addrs_changed && crate::due(&now, &(self.addrs_read_at + WATCH_GAP)) {
            self.addrs_changed = false;
            self.read_own_addresses(now, "address watch");
        }
    }

    /// When the loop must wake for a read the watch asked for.
    pub(super) fn watch_deadline(&self) -> Option<Instant> {
        self.addrs_changed.then(|| self.addrs_read_at + WATCH_GAP)
    }

    /// Read the interfaces' addresses now (`why`: the watch said they
    /// changed, or the refresh asks); a change is logged.
    pub(super) fn read_own_addresses(&mut self, now: Instant, why: &str) {
        self.next_addr_read = now + SAFETY_NET;
        self.addrs_read_at = now;
        let addrs = read_addresses(self.core.config());
        let old = self.core.addresses();
        if addrs != *old {
            let first = |v6: bool| addrs.lan.iter().find(|n| matches!(n, Net::V6(_)) == v6);
            log::info!(
                "interface addresses now: WAN {}{}, LAN {}{} ({why})",
                OrNone(addrs.wan.as_ref()),
                Also(addrs.wan6.as_ref()),
                OrNone(first(false)),
                Also(first(true)),
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

/// ` x` (after the IPv4 one), or nothing.
struct Also<'a, T>(Option<&'a T>);

impl<T: std::fmt::Display> std::fmt::Display for Also<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(x) => write!(f, " {x}"),
            None => Ok(()),
        }
    }
}

#[cfg(all(test, feature = "ipv6"))]
mod tests {
    use super::*;
    use crate::driver::if_inet6::parse;

    /// A LAN with a delegated prefix, its ULA and a privacy address; a
    /// WAN with a global address.
    const IF_INET6: &str = "\
20010db8770100000000000000001111 02 40 00 01   br-lan
20010db8770100000000000000000001 02 40 00 80   br-lan
fd770001000000000000000000000001 02 40 00 80   br-lan
fe800000000000000000000000000001 02 40 20 80   br-lan
20010db8010000000000000000000001 03 40 00 80     wan0
";

    #[test]
    fn ipv6_networks_follow_the_ipv4_ones_stable_first() {
        let [lan, wan] = parse(IF_INET6, ["br-lan", "wan0"]);
        let mut a = Addresses::default();
        for i in 0..3u8 {
            a.lan
                .push(Net::parse(&format!("10.77.{i}.1/24")).unwrap())
                .unwrap();
        }
        add_ipv6(&mut a, &lan, Some(&wan), false);
        let shown: Vec<String> = a.lan.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "10.77.0.1/24",
                "10.77.1.1/24",
                "10.77.2.1/24",
                "2001:db8:7701::1/64",
                "fd77:1::1/64",
                "2001:db8:7701::1111/64"
            ]
        );
        assert_eq!(a.lan_v4(), Some(std::net::Ipv4Addr::new(10, 77, 0, 1)));
        assert_eq!(a.wan6, Some("2001:db8:100::1".parse().unwrap()));
        // No outbound interface: no IPv6 WAN address either.
        let mut b = Addresses::default();
        add_ipv6(&mut b, &lan, None, true);
        assert_eq!(b.wan6, None);
        // The table full: the IPv6 networks that do not fit are left out.
        let mut c = Addresses::default();
        for i in 0..6u8 {
            c.lan
                .push(Net::parse(&format!("10.{i}.0.1/16")).unwrap())
                .unwrap();
        }
        add_ipv6(&mut c, &lan, Some(&[]), true);
        assert_eq!(c.lan.len(), c.lan.capacity());
        assert_eq!(c.lan[6].to_string(), "2001:db8:7701::1/64");
        assert_eq!(c.lan[7].to_string(), "fd77:1::1/64");
        // With a default route and no WAN address: the delegated prefix's.
        assert_eq!(c.wan6, Some("2001:db8:7701::1".parse().unwrap()));
    }
}
