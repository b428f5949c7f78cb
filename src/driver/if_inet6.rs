//! The router's IPv6 addresses, read from `/proc/net/if_inet6`, and whether
//! it has an IPv6 default route (`/proc/net/ipv6_route`).
//!
//! Text files, not netlink: `getifaddrs` gives no address flags, and the
//! flags decide which addresses sipnat may name. Each `if_inet6` line is
//! `address(32 hex) ifindex prefix-length scope flags name`, all but the
//! name in hex (the kernel's `if6_seq_show`). Kept as the router's own:
//! - scope global (0x00): global unicast and unique local addresses;
//!   link-local (0x20), host (0x10) and the rest are not SIP addresses
//!   (the core has no scope ids: [`crate::net::Addr`]);
//! - not tentative (`IFA_F_TENTATIVE` 0x40: DAD is still running, the
//!   kernel will not send from it), not failed DAD (`IFA_F_DADFAILED`
//!   0x08), not deprecated (`IFA_F_DEPRECATED` 0x20: its preferred lifetime
//!   is over, RFC 4862 §5.5.4, new flows must not use it);
//! - temporary (privacy, RFC 8981, `IFA_F_TEMPORARY` 0x01) addresses are
//!   listed (they are in the LAN's networks) but never chosen as the
//!   address sipnat names: they change by design.
//!
//! What it does not do: watch for changes (the address watch does,
//! `RTMGRP_IPV6_IFADDR`), or decide which side an address is on.

use crate::net::Net6;
use std::net::Ipv6Addr;

const IFA_F_TEMPORARY: u8 = 0x01;
const IFA_F_DADFAILED: u8 = 0x08;
const IFA_F_DEPRECATED: u8 = 0x20;
const IFA_F_TENTATIVE: u8 = 0x40;
/// The scope value of global addresses (`IPV6_ADDR_SCOPE_GLOBAL`).
const SCOPE_GLOBAL: u8 = 0x00;

/// One usable IPv6 address of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct If6 {
    /// The address with its on-link prefix.
    pub net: Net6,
    /// A privacy address (never named by sipnat).
    pub temporary: bool,
}

impl If6 {
    /// Unique local (fc00::/7, RFC 4193).
    pub fn is_ula(&self) -> bool {
        crate::net::is_ula(&self.net.addr)
    }

    /// A stable address sipnat may name: not temporary.
    pub fn is_stable(&self) -> bool {
        !self.temporary
    }
}

/// The usable addresses of each interface in `names`, in file order, from
/// the text of `/proc/net/if_inet6`. A malformed line is skipped.
pub fn parse<const N: usize>(text: &str, names: [&str; N]) -> [Vec<If6>; N] {
    let mut out: [Vec<If6>; N] = std::array::from_fn(|_| Vec::new());
    for line in text.lines() {
        let Some((name, a)) = parse_line(line) else {
            continue;
        };
        for (n, v) in names.iter().zip(out.iter_mut()) {
            if *n == name {
                v.push(a);
            }
        }
    }
    out
}

/// One line: the interface name and the address, when it is usable.
fn parse_line(line: &str) -> Option<(&str, If6)> {
    let mut f = line.split_ascii_whitespace();
    let hex = f.next()?;
    let _ifindex = f.next()?;
    let prefix = hex_u8(f.next()?)?;
    let scope = hex_u8(f.next()?)?;
    let flags = hex_u8(f.next()?)?;
    let name = f.next()?;
    if f.next().is_some() || hex.len() != 32 || prefix > 128 {
        return None;
    }
    // Two u64 halves: u128 parsing is a lot of code on 32-bit MIPS.
    let half = |h: &str| crate::num::parse_u64(h, 16).filter(|_| !h.starts_with('+'));
    let (hi, lo) = (half(hex.get(..16)?)?, half(hex.get(16..)?)?);
    let addr = Ipv6Addr::from((u128::from(hi) << 64) | u128::from(lo));
    let unusable = IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED;
    if scope != SCOPE_GLOBAL || flags & unusable != 0 {
        return None;
    }
    let temporary = flags & IFA_F_TEMPORARY != 0;
    Some((
        name,
        If6 {
            net: Net6 { addr, prefix },
            temporary,
        },
    ))
}

/// The kernel prints flags as two hex digits; newer flags above 0xff are
/// not in this file (they need netlink), so a byte is all there is.
fn hex_u8(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 2 {
        return None;
    }
    u8::try_from(crate::num::parse_u64(s, 16)?).ok()
}

/// Whether `/proc/net/ipv6_route`'s text holds a default route (`::/0`)
/// that is not a rejection: a line whose destination is 32 zeros with
/// prefix length 00, and whose flags lack `RTF_REJECT` (0x0200; the
/// kernel's `unreachable default` entries on the loopback device).
pub fn has_default_route(text: &str) -> bool {
    const RTF_REJECT: u32 = 0x0200;
    text.lines().any(|l| {
        let f: Vec<&str> = l.split_ascii_whitespace().collect();
        // dest plen src splen nexthop metric refcnt use flags dev
        f.len() == 10
            && f[0].bytes().all(|b| b == b'0')
            && f[0].len() == 32
            && f[1] == "00"
            && crate::num::parse_u64(f[8], 16).is_some_and(|fl| fl as u32 & RTF_REJECT == 0)
    })
}

/// The address sipnat names on the WAN for IPv6, from the usable addresses
/// of `if_outbound` (`wan`) and `if_inbound` (`lan`):
/// - the first stable global unicast address of the WAN interface;
/// - else, when the router has an IPv6 default route, the first stable
///   global unicast address of the LAN interface. Many ISPs only delegate
///   a prefix (DHCPv6-PD) and leave the WAN link with a link-local address:
///   the router's own address from that prefix is then how it is reached
///   (it is the router's, not a phone's, so naming it hides no LAN host);
/// - else none: sipnat has no IPv6 on the WAN.
///
/// A unique local address is never named on the WAN (it is not routable
/// there, RFC 4193 §4.1).
pub fn wan_address(wan: &[If6], lan: &[If6], default_route: bool) -> Option<Ipv6Addr> {
    let pick = |v: &[If6]| {
        v.iter()
            .find(|a| a.is_stable() && !a.is_ula() && crate::net::is_public(a.net.addr.into()))
            .map(|a| a.net.addr)
    };
    pick(wan).or_else(|| if default_route { pick(lan) } else { None })
}

/// Reads both files for `names` (absent files: no addresses, no route).
pub fn read<const N: usize>(names: [&str; N]) -> ([Vec<If6>; N], bool) {
    let read = |p: &str| crate::config::read_text(std::path::Path::new(p)).unwrap_or_default();
    (
        parse(&read("/proc/net/if_inet6"), names),
        has_default_route(&read("/proc/net/ipv6_route")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as Linux 6.x prints them (a router with a delegated prefix on
    /// its LAN, a WAN with a global address and its privacy twin).
    const IF_INET6: &str = "\
00000000000000000000000000000001 01 80 10 80       lo
fe800000000000000000000000000001 03 40 20 80     wan0
20010db8010000000000000000000001 03 40 00 80     wan0
20010db8010000001111222233334444 03 40 00 01     wan0
20010db8770100000000000000000001 02 40 00 80   br-lan
fd770001000000000000000000000001 02 40 00 80   br-lan
20010db8770100000000000000000099 02 40 00 c0   br-lan
20010db8770100000000000000000098 02 40 00 20   br-lan
20010db8770100000000000000000097 02 40 00 88   br-lan
2001 02 40 00 80 br-lan
zz010db8770100000000000000000001 02 40 00 80   br-lan
20010db8770100000000000000000001 02 ff1 00 80   br-lan
";

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn usable_addresses_per_interface() {
        let [wan, lan, none] = parse(IF_INET6, ["wan0", "br-lan", "eth9"]);
        assert_eq!(
            wan.iter()
                .map(|a| (a.net.addr, a.temporary))
                .collect::<Vec<_>>(),
            [
                (ip("2001:db8:100::1"), false),
                (ip("2001:db8:100:0:1111:2222:3333:4444"), true)
            ],
            "link-local skipped, the privacy address marked"
        );
        assert_eq!(
            lan.iter().map(|a| a.net.addr).collect::<Vec<_>>(),
            [ip("2001:db8:7701::1"), ip("fd77:1::1")],
            "tentative, deprecated, DAD-failed and malformed lines skipped"
        );
        assert_eq!(lan[0].net.prefix, 64);
        assert!(lan[1].is_ula() && !lan[0].is_ula());
        assert!(none.is_empty());
    }

    #[test]
    fn the_wan_address_prefers_the_wan_then_the_delegated_prefix() {
        let [wan, lan, lo] = parse(IF_INET6, ["wan0", "br-lan", "lo"]);
        assert_eq!(wan_address(&wan, &lan, true), Some(ip("2001:db8:100::1")));
        // A WAN with only a link-local address: the router's own address
        // from the delegated prefix, only with a default route.
        assert_eq!(wan_address(&[], &lan, true), Some(ip("2001:db8:7701::1")));
        assert_eq!(wan_address(&[], &lan, false), None);
        // Never a ULA, never loopback, never a privacy address.
        assert_eq!(wan_address(&lo, &lan[1..], true), None);
        assert_eq!(wan_address(&wan[1..], &[], true), None);
    }

    #[test]
    fn default_route() {
        let with = "\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     wan0
20010db8770100000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001   br-lan
";
        assert!(has_default_route(with));
        let unreachable = "\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
20010db8770100000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001   br-lan
";
        assert!(!has_default_route(unreachable));
        assert!(!has_default_route(""));
        assert!(!has_default_route("garbage\n0 00\n"));
    }
}
