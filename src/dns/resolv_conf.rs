//! resolv.conf(5): the nameservers it names. The text comes from the
//! driver, which reads the file; nothing here touches the file system.
//! Only `nameserver` lines are read (no `search`, `options` or `domain`).

use super::{DNS_PORT, MAX_NAMESERVERS};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

/// Reads the `nameserver` lines of a resolv.conf(5) text: IPv4 and IPv6
/// literals (an IPv6 zone is accepted only as a number), port 53, at most
/// [`MAX_NAMESERVERS`]; other lines, comments and bad addresses are skipped.
pub fn parse_resolv_conf(text: &str) -> heapless::Vec<SocketAddr, MAX_NAMESERVERS> {
    let mut out = heapless::Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next().and_then(parse_nameserver) else {
            continue;
        };
        if out.contains(&addr) {
            continue;
        }
        if out.push(addr).is_err() {
            break;
        }
    }
    out
}

fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    if let Ok(ip) = word.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, DNS_PORT));
    }
    // fe80::1%2: link-local with a numeric scope id.
    let (ip, zone) = word.split_once('%')?;
    let ip = ip.parse::<Ipv6Addr>().ok()?;
    let scope = crate::num::parse::<u32>(zone)?;
    Some(SocketAddr::V6(SocketAddrV6::new(ip, DNS_PORT, 0, scope)))
}
