//! IPv4 networks and access lists, written the way siproxd's `hosts_*`
//! options write them.
//!
//! siproxd's list syntax (accessctl.c): entries `address/prefix` separated by
//! commas. sipnat accepts the same, and also:
//! - a bare address, meaning a single host (`/32`);
//! - blanks around entries and commas (siproxd forbids them);
//!
//! It does NOT accept:
//! - the dotted netmask form `a.b.c.d/255.255.255.0` (siproxd does not either:
//!   it reads the part after `/` as a bit count);
//! - host names (siproxd resolves them on every packet; sipnat's core does no
//!   DNS for access checks, so a name is reported as an error rather than
//!   silently matching nothing);
//! - IPv6 networks (siproxd is IPv4 only; IPv6 comes later).
//!
//! An address with host bits set (`192.168.1.8/24`, as siproxd's own example
//! writes it) is kept as written; matching masks both sides.

use std::net::Ipv4Addr;

/// An IPv4 network: `addr/prefix`. `prefix` is 0..=32 ([`Net4::parse`] enforces
/// it; a larger value built by hand is treated as 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net4 {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Net4 {
    /// The netmask as a host-order integer (`/0` → 0, `/32` → all ones).
    fn mask(&self) -> u32 {
        match self.prefix {
            0 => 0,
            p if p >= 32 => u32::MAX,
            p => u32::MAX << (32 - u32::from(p)),
        }
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = self.mask();
        (u32::from(self.addr) & m) == (u32::from(ip) & m)
    }

    /// Parse `a.b.c.d/nn` (nn in 0..=32) or `a.b.c.d` (= /32). Blanks around
    /// the entry are ignored. `None` for anything else.
    pub fn parse(s: &str) -> Option<Net4> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                let p = p.trim();
                // Only plain decimal digits: rejects "+8", "0x18", "255.255.255.0".
                if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let p: u8 = p.parse().ok()?;
                if p > 32 {
                    return None;
                }
                (a.trim(), p)
            }
            None => (s, 32),
        };
        let addr: Ipv4Addr = addr.parse().ok()?;
        Some(Net4 { addr, prefix })
    }
}

impl std::fmt::Display for Net4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A list of networks. What an empty list means depends on the option
/// (siproxd semantics, see [`super::Config::access`]): for `hosts_allow_reg`
/// and `hosts_allow_sip` it means "no restriction", for `hosts_deny_sip` it
/// means "deny nobody".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl(pub Vec<Net4>);

impl Acl {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any network of the list contains `ip` (false for an empty list).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// Append the comma-separated entries of one option value. On the first bad
    /// entry nothing is appended and the error names that entry.
    pub fn extend_from_list(&mut self, value: &str) -> Result<(), String> {
        let mut parsed = Vec::new();
        if value.trim().is_empty() {
            return Ok(());
        }
        for entry in value.split(',') {
            let e = entry.trim();
            if e.is_empty() {
                return Err("empty entry in the comma-separated list".to_string());
            }
            match Net4::parse(e) {
                Some(n) => parsed.push(n),
                None => return Err(explain_bad_entry(e)),
            }
        }
        self.0.extend(parsed);
        Ok(())
    }
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
    }
    if addr.contains(':') {
        return format!("'{e}': IPv6 networks are not supported yet");
    }
    if addr.bytes().any(|b| b.is_ascii_alphabetic()) {
        return format!(
            "'{e}': host names are not supported in access lists, write an IPv4 address"
        );
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
        let e = a.extend_from_list("fe80::1/64").unwrap_err();
        assert!(e.contains("IPv6"), "{e}");
    }
}
