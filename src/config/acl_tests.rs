//! Unit tests of host names in the access lists: what the readers keep,
//! what they refuse (with the line), and how [`Config::access_with`] reads
//! a name that has resolved or not.

use super::uci::parse_uci_config;
use super::*;
use crate::limits::{MAX_ACL_NAME_LEN, MAX_ACL_NAMES};
use std::net::Ipv4Addr;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap() // test literal, always valid
}

/// Parse siproxd.conf text; return the config and the error diagnostics.
fn parse(text: &str) -> (Config, Vec<Diagnostic>) {
    let (cfg, d) = parse_siproxd_conf(text, "t.conf");
    (cfg, d.into_iter().filter(|d| d.is_error()).collect())
}

fn names(acl: &Acl) -> Vec<String> {
    acl.names().iter().map(|h| h.to_string()).collect()
}

/// A fixed answer for every name, as the core's watch gives it.
struct Fixed<'a>(&'a [(&'a str, Ipv4Addr)]);

impl Resolved for Fixed<'_> {
    fn addrs(&self, name: &str) -> &[Ipv4Addr] {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| std::slice::from_ref(a))
            .unwrap_or(&[])
    }
}

#[test]
fn names_are_kept_with_their_prefix_beside_the_networks() {
    let (c, errs) = parse(
        "hosts_allow_sip = sip.example-provider.net/32, 10.0.0.0/8\n\
         hosts_allow_sip = PBX.Example.org.\n\
         hosts_allow_reg = provider.example / 24\n\
         hosts_deny_sip = bad.example.net\n",
    );
    assert!(errs.is_empty(), "{errs:#?}");
    assert_eq!(
        names(&c.hosts_allow_sip),
        ["sip.example-provider.net/32", "pbx.example.org/32"]
    );
    assert_eq!(c.hosts_allow_sip.0.len(), 1);
    assert_eq!(names(&c.hosts_allow_reg), ["provider.example/24"]);
    assert_eq!(names(&c.hosts_deny_sip), ["bad.example.net/32"]);
    let all: Vec<_> = c
        .acl_names()
        .map(|(o, h)| format!("{o} {}", h.name))
        .collect();
    assert_eq!(
        all,
        [
            "hosts_allow_reg provider.example",
            "hosts_allow_sip sip.example-provider.net",
            "hosts_allow_sip pbx.example.org",
            "hosts_deny_sip bad.example.net",
        ]
    );
    // The same name twice in one list is kept once.
    let (c, errs) = parse("hosts_allow_sip = a.example, A.example/32\n");
    assert!(errs.is_empty(), "{errs:#?}");
    assert_eq!(names(&c.hosts_allow_sip), ["a.example/32"]);
}

#[test]
fn uci_lists_take_names_too() {
    let text = "config sipnat 'general'\n\
                \toption interface_inbound 'lan'\n\
                \tlist hosts_allow_sip 'sip.example-provider.net/32'\n\
                \tlist hosts_allow_sip '192.0.2.0/24'\n\
                \tlist hosts_deny_sip 'bad..example'\n";
    let (c, d) = parse_uci_config(text, "sipnat", None).unwrap(); // a section exists
    assert_eq!(names(&c.hosts_allow_sip), ["sip.example-provider.net/32"]);
    let errs: Vec<_> = d.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errs.len(), 1, "{d:#?}");
    assert_eq!(errs[0].line, 5);
    assert!(errs[0].message.contains("bad..example"), "{}", errs[0]);
}

#[test]
fn bad_names_are_refused_with_their_line() {
    let long = format!("{}.example", "a.".repeat(MAX_ACL_NAME_LEN / 2));
    for (value, why) in [
        (
            "under_score.example",
            "neither an IPv4 network nor a host name",
        ),
        ("-lead.example", "host name"),
        ("trail-.example/32", "host name"),
        ("a..b.example", "host name"),
        (&format!("{}.example", "a".repeat(64)), "host name"),
        (long.as_str(), "longer than 128"),
        ("sip.example/33", "0 to 32"),
        ("sip.example/", "0 to 32"),
        ("sip.example/255.255.255.0", "prefix length"),
        ("sip.example/24/8", "0 to 32"),
        ("sip.example:5060", "without a port"),
    ] {
        let text = format!("if_inbound = lan0\nhosts_deny_sip = 10.0.0.0/8, {value}\n");
        let (c, errs) = parse(&text);
        assert_eq!(errs.len(), 1, "{value}: {errs:#?}");
        assert_eq!(errs[0].line, 2, "{value}");
        assert!(errs[0].message.contains(why), "{value}: {}", errs[0]);
        assert!(
            c.hosts_deny_sip.is_empty(),
            "{value}: nothing of the line is kept"
        );
    }
    // Numbers that are not addresses stay address errors.
    let (_, errs) = parse("hosts_allow_sip = 1.2.3/8\n");
    assert!(
        errs[0].message.contains("not an IPv4 network"),
        "{}",
        errs[0]
    );
}

#[test]
fn a_list_holds_a_bounded_number_of_names() {
    let list: Vec<String> = (0..MAX_ACL_NAMES)
        .map(|i| format!("h{i}.example"))
        .collect();
    let (c, errs) = parse(&format!("hosts_allow_reg = {}\n", list.join(",")));
    assert!(errs.is_empty(), "{errs:#?}");
    assert_eq!(c.hosts_allow_reg.names().len(), MAX_ACL_NAMES);
    let (c, errs) = parse(&format!(
        "hosts_allow_reg = {}\nhosts_allow_reg = one-more.example\n",
        list.join(",")
    ));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].line, 2);
    assert!(
        errs[0].message.contains("at most 8 host names"),
        "{}",
        errs[0]
    );
    assert_eq!(c.hosts_allow_reg.names().len(), MAX_ACL_NAMES);
}

#[test]
fn wan_sip_allow_takes_addresses_only() {
    let text = "config sipnat 'general'\n\
                \toption interface_inbound 'lan'\n\
                \tlist wan_sip_allow 'sip.example-provider.net'\n";
    let (_, d) = parse_uci_config(text, "sipnat", None).unwrap(); // a section exists
    let errs: Vec<_> = d.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errs.len(), 1, "{d:#?}");
    assert!(
        errs[0].message.contains("not supported in this list"),
        "{}",
        errs[0]
    );
}

#[test]
fn an_allow_name_admits_what_it_resolves_to_and_fails_closed() {
    let (c, _) = parse("hosts_allow_sip = sip.example/32\n");
    let resolved = Fixed(&[("sip.example", Ipv4Addr::new(192, 0, 2, 10))]);
    assert!(c.access_with(ip("192.0.2.10"), &resolved).sip);
    assert!(!c.access_with(ip("192.0.2.11"), &resolved).sip);
    // Not resolved: the list is not empty, so nobody is let in by it.
    assert!(!c.access_with(ip("192.0.2.10"), &Unresolved).sip);
    assert!(!c.access(ip("192.0.2.10")).sip);
    // REGISTER is not restricted by hosts_allow_sip (siproxd).
    assert!(c.access_with(ip("192.0.2.11"), &resolved).register);

    // The prefix applies to the address.
    let (c, _) = parse("hosts_allow_reg = provider.example/24\n");
    let resolved = Fixed(&[("provider.example", Ipv4Addr::new(198, 51, 100, 7))]);
    let a = c.access_with(ip("198.51.100.200"), &resolved);
    assert!(a.sip && a.register);
    let a = c.access_with(ip("198.51.101.1"), &resolved);
    assert!(a.sip && !a.register);
    assert!(!c.access_with(ip("198.51.100.200"), &Unresolved).register);
}

#[test]
fn an_unresolved_deny_name_denies_nobody_but_the_other_entries_apply() {
    let (c, _) = parse("hosts_deny_sip = bad.example, 10.9.0.0/16\n");
    assert!(c.access_with(ip("203.0.113.5"), &Unresolved).sip);
    assert!(!c.access_with(ip("10.9.1.1"), &Unresolved).sip);
    let resolved = Fixed(&[("bad.example", Ipv4Addr::new(203, 0, 113, 5))]);
    let a = c.access_with(ip("203.0.113.5"), &resolved);
    assert!(!a.sip && !a.register);
    assert!(c.access_with(ip("203.0.113.6"), &resolved).sip);
}
