//! Networks and access lists, written the way siproxd's `hosts_*` options
//! write them, with IPv6 networks as well (RFC 4291 §2.3 prefix notation).
//!
//! siproxd's list syntax (accessctl.c): entries `address/prefix` separated by
//! commas, where the address may also be a host name. sipnat accepts the
//! same, and also:
//! - a bare address or name, meaning a single host (`/32`, `/128`);
//! - IPv6 networks and addresses (`2001:db8::/32`, `2001:db8::7`), when
//!   built with the `ipv6` feature: an IPv6 entry matches IPv6 senders only,
//!   an IPv4 entry IPv4 senders (an IPv4-mapped sender is its IPv4 address);
//! - blanks around entries and commas (siproxd forbids them);
//!
//! Host names (`sip.example-provider.net/32`, `pbx.example.org`,
//! `provider.example/24`) are accepted in `hosts_allow_reg`,
//! `hosts_allow_sip` and `hosts_deny_sip` ([`Acl::with_names`]), at most
//! [`MAX_ACL_NAMES`] per list, each at most [`MAX_ACL_NAME_LEN`] characters
//! (siproxd's `HOSTNAME_SIZE`), written as RFC 1123 §2.1 host names
//! (letters, digits and `-`, in dot-separated labels of 1 to 63
//! characters; a final `.` is allowed); anything else is an error naming
//! the entry. A name is kept as written (lowercased, DNS names are
//! case-insensitive: RFC 4343) with its prefix; this module does no DNS.
//! The core resolves the names without blocking and keeps them fresh
//! (`crate::dns::watch`), and asks [`Acl::contains_with`] with what they
//! resolve to ([`Resolved`]): the prefix then applies to each address. A
//! name that has not resolved matches nothing, in an allow list and in the
//! deny list alike (see [`super::Config::access_with`] for why that is the
//! safe reading of each list).
//!
//! It does NOT accept:
//! - the dotted netmask form `a.b.c.d/255.255.255.0` (siproxd does not either:
//!   it reads the part after `/` as a bit count);
//! - host names in `wan_sip_allow` (the firewall rule the init script writes
//!   from it takes addresses);
//! - IPv6 addresses of host names: a name's prefix applies to the IPv4
//!   addresses it resolves to.
//!
//! An address with host bits set (`192.168.1.8/24`, as siproxd's own example
//! writes it) is kept as written; matching masks both sides.

use crate::limits::{MAX_ACL_NAME_LEN, MAX_ACL_NAMES};
use crate::net::Net;
pub use crate::net::Net4;
use std::net::{IpAddr, Ipv4Addr};

/// A host name of an access list, lowercased (RFC 4343).
pub type HostName = heapless::String<MAX_ACL_NAME_LEN>;

/// A host-name entry: `name/prefix`; the prefix applies to each address
/// the name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNet {
    pub name: HostName,
    pub prefix: u8,
}

impl HostNet {
    /// Parse `name/nn` (nn in 0..=32) or `name` (= /32). `Ok(None)`: the
    /// entry is not written as a name (no letter, or an IPv6 colon), so it
    /// is not one; `Err`: written as a name, but not a valid one.
    fn parse(s: &str) -> Result<Option<HostNet>, String> {
        let s = s.trim();
        let (host, prefix) = match s.split_once('/') {
            Some((h, p)) => (h.trim(), Some(p.trim())),
            None => (s, None),
        };
        if host.contains(':') || !host.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Ok(None);
        }
        let prefix = match prefix {
            None => 32,
            Some(p) => match prefix_len(p) {
                Some(p) => p,
                None if p.contains('.') => {
                    return Err(format!(
                        "'{s}': write the mask as a prefix length (e.g. /24), not as a dotted netmask"
                    ));
                }
                None => {
                    return Err(format!(
                        "'{s}': the prefix length must be a number from 0 to 32"
                    ));
                }
            },
        };
        let bare = host.strip_suffix('.').unwrap_or(host);
        if bare.len() > MAX_ACL_NAME_LEN {
            return Err(format!(
                "'{s}': host name longer than {MAX_ACL_NAME_LEN} characters"
            ));
        }
        // RFC 1123 §2.1 (RFC 952 as amended): letters, digits and hyphens,
        // labels of 1 to 63, no hyphen at either end of a label.
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !bare.split('.').all(label_ok) {
            return Err(format!(
                "'{s}' is neither an IPv4 network nor a host name (a host name is letters, digits and '-' in dot-separated labels of 1 to 63 characters)"
            ));
        }
        let mut name = HostName::new();
        for c in bare.chars() {
            // Cannot fail: `bare` is ASCII and at most MAX_ACL_NAME_LEN long.
            let _ = name.push(c.to_ascii_lowercase());
        }
        Ok(Some(HostNet { name, prefix }))
    }

    /// Whether `ip` lies in `addr/prefix` for one of `addrs` (what the name
    /// resolves to; none: no match). An IPv6 `ip` matches no IPv4 address.
    pub fn contains(&self, addrs: &[Ipv4Addr], ip: IpAddr) -> bool {
        let IpAddr::V4(ip) = crate::net::canonical(ip) else {
            return false;
        };
        addrs.iter().any(|&addr| {
            Net4 {
                addr,
                prefix: self.prefix,
            }
            .contains(ip)
        })
    }
}

impl std::fmt::Display for HostNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.prefix)
    }
}

/// What the access-list names resolve to now, as the core knows it.
pub trait Resolved {
    /// The addresses `name` (lowercase) resolves to; empty while unknown.
    fn addrs(&self, name: &str) -> &[Ipv4Addr];
}

/// No name resolved: every name entry matches nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unresolved;

impl Resolved for Unresolved {
    fn addrs(&self, _: &str) -> &[Ipv4Addr] {
        &[]
    }
}

/// A list of networks (`.0`) and host names ([`Acl::names`]). What an
/// empty list means depends on the option (siproxd semantics, see
/// [`super::Config::access`]): for `hosts_allow_reg` and `hosts_allow_sip`
/// it means "no restriction", for `hosts_deny_sip` it means "deny nobody".
/// A list with a name in it is not empty, resolved or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl(pub Vec<Net>, Names);

/// The host-name entries of an [`Acl`], and whether the list takes any.
/// At most [`MAX_ACL_NAMES`], on the heap: most lists have none, and the
/// configuration (five lists) stays small enough to pass by value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Names {
    allowed: bool,
    list: Vec<HostNet>,
}

impl Acl {
    /// An empty list that takes host names as well as networks (the
    /// `hosts_*` lists; [`Acl::default`] takes networks only).
    pub fn with_names() -> Acl {
        Acl(
            Vec::new(),
            Names {
                allowed: true,
                list: Vec::new(),
            },
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.list.is_empty()
    }

    /// The host-name entries, in file order.
    pub fn names(&self) -> &[HostNet] {
        &self.1.list
    }

    /// Whether any network of the list contains `ip` (false for an empty
    /// list); name entries match nothing here ([`Acl::contains_with`]).
    pub fn contains(&self, ip: impl Into<IpAddr>) -> bool {
        self.contains_with(ip.into(), &Unresolved)
    }

    /// Whether any network, or any name entry by what `names` says it
    /// resolves to, contains `ip`.
    pub fn contains_with(&self, ip: IpAddr, names: &dyn Resolved) -> bool {
        self.0.iter().any(|n| n.contains(ip))
            || self
                .1
                .list
                .iter()
                .any(|h| h.contains(names.addrs(&h.name), ip))
    }

    /// Append the comma-separated entries of one option value. On the first bad
    /// entry nothing is appended and the error names that entry.
    pub fn extend_from_list(&mut self, value: &str) -> Result<(), String> {
        let mut parsed = Vec::new();
        let mut names = self.1.list.clone();
        if value.trim().is_empty() {
            return Ok(());
        }
        for entry in value.split(',') {
            let e = entry.trim();
            if e.is_empty() {
                return Err("empty entry in the comma-separated list".to_string());
            }
            if let Some(n) = Net::parse(e) {
                parsed.push(n);
                continue;
            }
            let host = match HostNet::parse(e) {
                Ok(None) => return Err(explain_bad_entry(e)),
                _ if !self.1.allowed => {
                    return Err(format!(
                        "'{e}': host names are not supported in this list, write an IPv4 address"
                    ));
                }
                Ok(Some(h)) => h,
                Err(why) => return Err(why),
            };
            if names.contains(&host) {
                continue;
            }
            if names.len() >= MAX_ACL_NAMES {
                return Err(format!(
                    "'{e}': at most {MAX_ACL_NAMES} host names per list (write the others as networks)"
                ));
            }
            names.push(host);
        }
        self.0.extend(parsed);
        self.1.list = names;
        Ok(())
    }
}

/// A prefix length: plain decimal digits, 0..=32 (rejects "+8", "0x18",
/// "255.255.255.0").
fn prefix_len(p: &str) -> Option<u8> {
    crate::net::prefix_len(p, 32)
}

fn explain_bad_entry(e: &str) -> String {
    let (addr, mask) = match e.split_once('/') {
        Some((a, m)) => (a.trim(), Some(m.trim())),
        None => (e, None),
    };
    if let Some(m) = mask {
        if m.contains('.') {
            return format!(
                "'{e}': write the mask as a prefix length (e.g. /24), not as a dotted netmask"
            );
        }
        if addr.parse::<Ipv4Addr>().is_ok() {
            return format!("'{e}': the prefix length must be a number from 0 to 32");
        }
        if cfg!(feature = "ipv6") && addr.parse::<std::net::Ipv6Addr>().is_ok() {
            return format!("'{e}': the prefix length must be a number from 0 to 128");
        }
    }
    if addr.starts_with('[') {
        return format!("'{e}': write an IPv6 address without brackets and without a port");
    }
    // One colon and digits after it: an address or name with a port.
    if let Some((host, port)) = addr.rsplit_once(':') {
        if !host.contains(':') && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            return format!(
                "'{e}': an access list takes addresses, networks or host names, without a port"
            );
        }
    }
    if addr.contains(':') {
        return match cfg!(feature = "ipv6") {
            true => format!("'{e}' is not an IPv6 network (expected 2001:db8::/32 or 2001:db8::7)"),
            false => format!("'{e}': this build of sipnat has no IPv6"),
        };
    }
    format!("'{e}' is not an IPv4 network (expected a.b.c.d/nn or a.b.c.d)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap() // test input, always valid
    }

    #[test]
    fn parse_forms() {
        assert_eq!(
            Net4::parse("10.0.0.0/8"),
            Some(Net4 {
                addr: ip("10.0.0.0"),
                prefix: 8
            })
        );
        assert_eq!(
            Net4::parse(" 192.168.1.8 / 24 "),
            Some(Net4 {
                addr: ip("192.168.1.8"),
                prefix: 24
            })
        );
        assert_eq!(
            Net4::parse("1.2.3.4"),
            Some(Net4 {
                addr: ip("1.2.3.4"),
                prefix: 32
            })
        );
        assert_eq!(Net4::parse("0.0.0.0/0").map(|n| n.prefix), Some(0));
        for bad in [
            "",
            "/",
            "1.2.3.4/",
            "1.2.3.4/33",
            "1.2.3.4/-1",
            "1.2.3.4/+8",
            "1.2.3.4/0x8",
            "1.2.3.4/255.255.255.0",
            "1.2.3/8",
            "1.2.3.4.5",
            "256.1.1.1",
            "host.example/8",
            "::1/128",
            "1.2.3.4/8/8",
            "1.2.3.4/100",
        ] {
            assert_eq!(Net4::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn contains_masks_both_sides() {
        let n = Net4::parse("192.168.1.8/24").unwrap(); // literal, valid
        assert!(n.contains(ip("192.168.1.1")));
        assert!(n.contains(ip("192.168.1.255")));
        assert!(!n.contains(ip("192.168.2.1")));
        let all = Net4::parse("0.0.0.0/0").unwrap(); // literal, valid
        assert!(all.contains(ip("8.8.8.8")));
        let host = Net4::parse("10.1.2.3").unwrap(); // literal, valid
        assert!(host.contains(ip("10.1.2.3")));
        assert!(!host.contains(ip("10.1.2.4")));
        let odd = Net4 {
            addr: ip("10.0.0.0"),
            prefix: 200,
        };
        assert!(odd.contains(ip("10.0.0.0")) && !odd.contains(ip("10.0.0.1")));
        assert_eq!(n.to_string(), "192.168.1.8/24");
    }

    #[test]
    fn acl_lists() {
        let mut a = Acl::default();
        assert!(a.is_empty());
        assert!(!a.contains(ip("1.1.1.1")));
        a.extend_from_list("123.45.0.0/16,123.46.0.0/16").unwrap(); // valid list
        a.extend_from_list(" 10.0.0.1 , 11.0.0.0/8 ").unwrap(); // valid list
        a.extend_from_list("").unwrap(); // empty value adds nothing
        assert_eq!(a.0.len(), 4);
        assert!(a.contains(ip("123.46.9.9")));
        assert!(a.contains(ip("10.0.0.1")));
        assert!(!a.contains(ip("10.0.0.2")));
        assert!(a.contains(ip("11.200.0.1")));
    }

    /// IPv6 entries beside IPv4 ones; each family matches its own senders.
    #[cfg(feature = "ipv6")]
    #[test]
    fn acl_lists_with_ipv6() {
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut a = Acl::with_names();
        a.extend_from_list("2001:db8:77::/48, 10.0.0.0/8, fd00::7, ::ffff:0:0/96")
            .unwrap();
        assert_eq!(a.0.len(), 4);
        assert!(a.contains(v6("2001:db8:77:1::2")));
        assert!(!a.contains(v6("2001:db8:78::2")));
        assert!(a.contains(v6("fd00::7")) && !a.contains(v6("fd00::8")));
        assert!(a.contains(ip("10.1.2.3")));
        assert!(a.contains(v6("::ffff:10.1.2.3")), "a mapped sender is IPv4");
        assert!(!a.contains(ip("11.0.0.1")));
        // A name's prefix applies to its IPv4 addresses only.
        a.extend_from_list("pbx.example/24").unwrap();
        struct One;
        impl Resolved for One {
            fn addrs(&self, _: &str) -> &[Ipv4Addr] {
                const PBX: [Ipv4Addr; 1] = [Ipv4Addr::new(192, 0, 2, 9)];
                &PBX
            }
        }
        assert!(a.contains_with(ip("192.0.2.200").into(), &One));
        assert!(!a.contains_with(v6("2001:db8::1"), &One));
    }

    #[test]
    fn acl_errors_leave_the_list_unchanged_and_explain() {
        let mut a = Acl::default();
        let e = a.extend_from_list("10.0.0.0/8,bad").unwrap_err();
        assert!(e.contains("'bad'"), "{e}");
        assert!(a.is_empty());
        let e = a.extend_from_list("10.0.0.0/8,").unwrap_err();
        assert!(e.contains("empty entry"), "{e}");
        let e = a.extend_from_list("10.0.0.0/255.0.0.0").unwrap_err();
        assert!(e.contains("prefix length"), "{e}");
        let e = a.extend_from_list("10.0.0.0/40").unwrap_err();
        assert!(e.contains("0 to 32"), "{e}");
        let e = a.extend_from_list("sip.example.com/32").unwrap_err();
        assert!(e.contains("host names"), "{e}");
        if cfg!(feature = "ipv6") {
            let e = a.extend_from_list("2001:db8::/129").unwrap_err();
            assert!(e.contains("0 to 128"), "{e}");
            let e = a.extend_from_list("2001:db8:::1").unwrap_err();
            assert!(e.contains("not an IPv6 network"), "{e}");
            let e = a.extend_from_list("[2001:db8::1]:5060").unwrap_err();
            assert!(e.contains("without brackets"), "{e}");
        } else {
            let e = a.extend_from_list("fe80::1/64").unwrap_err();
            assert!(e.contains("no IPv6"), "{e}");
        }
        assert!(a.is_empty());
        for with_port in [
            "sip.example.com:5060",
            "192.0.2.1:5060",
            "192.0.2.1:5060/32",
        ] {
            let e = a.extend_from_list(with_port).unwrap_err();
            assert!(e.contains("without a port"), "{with_port}: {e}");
        }
    }
}
