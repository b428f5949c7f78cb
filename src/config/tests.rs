//! Unit tests of the siproxd.conf reader, `Config::check` and `Config::access`.

use super::builder::{Applied, ListParts, apply_typed};
use super::check::plausible_host;
use super::options::Status;
use super::siproxd_conf::split_line;
use super::*;
use std::net::Ipv4Addr;

const F: &str = "t.conf";

fn parse(text: &str) -> (Config, Vec<Diagnostic>) {
    parse_siproxd_conf(text, F)
}

/// Parse text that must produce no diagnostics at all.
fn clean(text: &str) -> Config {
    let (cfg, d) = parse(text);
    assert!(d.is_empty(), "unexpected diagnostics for {text:?}: {d:#?}");
    cfg
}

fn errors(d: &[Diagnostic]) -> Vec<&Diagnostic> {
    d.iter().filter(|x| x.severity == Severity::Error).collect()
}

fn warnings(d: &[Diagnostic]) -> Vec<&Diagnostic> {
    d.iter()
        .filter(|x| x.severity == Severity::Warning)
        .collect()
}

/// The single error of `text`, which must have exactly one diagnostic.
fn only_error(text: &str) -> Diagnostic {
    let (_, d) = parse(text);
    assert_eq!(d.len(), 1, "{text:?}: {d:#?}");
    assert_eq!(d[0].severity, Severity::Error, "{d:#?}");
    d[0].clone()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap() // test literal, always valid
}

/// A configuration that passes check(): the minimum a user must write.
fn good() -> Config {
    Config {
        if_inbound: Some("br-lan".into()),
        if_outbound: Some("eth1".into()),
        ..Config::default()
    }
}

// ---------------------------------------------------------------- defaults

#[test]
fn empty_and_comment_only_files_give_the_defaults() {
    assert_eq!(clean(""), Config::default());
    assert_eq!(
        clean("\n\n   \n\t\n# only a comment\n   # indented comment\n"),
        Config::default()
    );
    let d = Config::default();
    assert_eq!(d.sip_listen_port, 5060);
    assert_eq!(d.default_expires, 3600);
    assert_eq!(d.silence_log, 1);
    assert!(d.rtp_proxy_enable);
    assert_eq!((d.rtp_port_low, d.rtp_port_high), (7070, 7089));
    assert_eq!(d.outbound_proxy_port, 5060);
    assert!(!d.daemonize);
}

// ---------------------------------------------------------------- option types

#[test]
fn string_options() {
    let c = clean("if_inbound = eth0\nif_outbound=ppp0\nhost_outbound = my.dyndns.example\n");
    assert_eq!(c.if_inbound.as_deref(), Some("eth0"));
    assert_eq!(c.if_outbound.as_deref(), Some("ppp0"));
    assert_eq!(c.host_outbound.as_deref(), Some("my.dyndns.example"));
    // an IPv6 address, bare or in SIP's brackets, is kept bare
    let c = |v: &str| parse(&format!("host_outbound = {v}\n")).0;
    assert_eq!(
        c("[2001:db8::5]").host_outbound.as_deref(),
        Some("2001:db8::5")
    );
    assert_eq!(
        c("2001:db8::5").host_outbound.as_deref(),
        Some("2001:db8::5")
    );
    assert_eq!(
        c("[x]").host_outbound.as_deref(),
        Some("[x]"),
        "check() refuses it"
    );
    // values may contain blanks (siproxd >= 0.8.1); surrounding blanks go
    let c = clean("outbound_proxy_host =   proxy with blanks   \n");
    assert_eq!(c.outbound_proxy_host.as_deref(), Some("proxy with blanks"));
    // an empty value clears the option (siproxd: empty registration_file = do not save)
    assert_eq!(clean("registration_file =\n").registration_file, None);
    let (c, d) = parse("registration_file = /a\nregistration_file =\n");
    assert_eq!(c.registration_file, None, "the later empty value clears it");
    assert_eq!(warnings(&d).len(), 1, "repeat warning");
}

#[test]
fn path_options() {
    let c = clean("registration_file = /var/lib/siproxd/regs\npid_file = /run/sipnat.pid\n");
    assert_eq!(
        c.registration_file,
        Some(PathBuf::from("/var/lib/siproxd/regs"))
    );
    assert_eq!(c.pid_file, Some(PathBuf::from("/run/sipnat.pid")));
    let (c, d) = parse("chrootjail = /var/empty\n");
    assert_eq!(c.chrootjail, Some(PathBuf::from("/var/empty")));
    assert_eq!(warnings(&d).len(), 1, "privilege drop not implemented yet");
}

#[test]
fn integer_options_decimal_and_hex() {
    let c = clean(
        "sip_listen_port = 5070\nautosave_registrations = 0x12C\ndefault_expires = +600\n\
         rtp_timeout = 120\nrtp_port_low = 10000\nrtp_port_high = 10099\nrtp_dscp = 46\nsip_dscp = 0x1a\n\
         outbound_proxy_port = 5080\nsilence_log = 3\n",
    );
    assert_eq!(c.sip_listen_port, 5070);
    assert_eq!(c.autosave_registrations, 300);
    assert_eq!(c.default_expires, 600);
    assert_eq!(c.rtp_timeout, 120);
    assert_eq!((c.rtp_port_low, c.rtp_port_high), (10000, 10099));
    assert_eq!((c.rtp_dscp, c.sip_dscp), (46, 26));
    assert_eq!(c.outbound_proxy_port, 5080);
    assert_eq!(c.silence_log, 3);
}

#[test]
fn debug_level_takes_siproxd_masks() {
    assert_eq!(clean("debug_level = 0x00000000\n").debug_level, 0);
    assert_eq!(clean("debug_level = 0x00000100\n").debug_level, 0x100);
    assert_eq!(clean("debug_level = 1024\n").debug_level, 1024);
    assert_eq!(
        clean("debug_level = -1\n").debug_level,
        u32::MAX,
        "-1 enables everything"
    );
    assert_eq!(clean("debug_level = 0xFFFFFFFF\n").debug_level, u32::MAX);
    let e = only_error("debug_level = 0x1FFFFFFFF\n");
    assert!(e.message.contains("out of range"), "{e}");
}

#[test]
fn boolean_options() {
    for (v, want) in [
        ("1", true),
        ("0", false),
        ("yes", true),
        ("No", false),
        ("on", true),
        ("off", false),
        ("true", true),
        ("FALSE", false),
        ("2", true),
    ] {
        assert_eq!(clean(&format!("daemonize = {v}\n")).daemonize, want, "{v}");
    }
    let e = only_error("daemonize = maybe\n");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("daemonize"), "{e}");
}

#[test]
fn rtp_proxy_enable_values() {
    assert!(!clean("rtp_proxy_enable = 0\n").rtp_proxy_enable);
    assert!(clean("rtp_proxy_enable = 1\n").rtp_proxy_enable);
    for v in ["2", "3"] {
        let e = only_error(&format!("rtp_proxy_enable = {v}\n"));
        assert!(e.message.contains("removed"), "{e}");
    }
    let e = only_error("rtp_proxy_enable = relay\n");
    assert!(e.message.contains("0 (off) or 1 (relay)"), "{e}");
}

#[test]
fn odd_rtp_port_low_is_rounded_up_with_a_warning() {
    let (c, d) = parse("rtp_port_low = 7071\n");
    assert_eq!(c.rtp_port_low, 7072);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].severity, d[0].line), (Severity::Warning, 1));
    assert!(d[0].message.contains("7072"), "{}", d[0]);
    // an odd rtp_port_high is fine: it is the last RTCP port
    assert_eq!(clean("rtp_port_high = 7089\n").rtp_port_high, 7089);
}

#[test]
fn bad_values_are_errors_with_their_line() {
    let cases = [
        ("sip_listen_port = 70000", "out of range"),
        ("sip_listen_port = -1", "out of range"),
        ("sip_listen_port = five", "expected an integer"),
        ("sip_listen_port =", "expected an integer"),
        ("rtp_timeout = 1.5", "expected an integer"),
        ("rtp_dscp = 256", "out of range"),
        ("silence_log = 5", "out of range"),
        ("default_expires = 0x", "expected an integer"),
        ("autosave_registrations = 99999999999", "out of range"),
        ("hosts_allow_sip = 10.0.0.0/33", "0 to 32"),
        ("outbound_domain_port = 0x10000", "out of range"),
    ];
    for (text, want) in cases {
        let (_, d) = parse(&format!("# header\n\n{text}\n"));
        assert_eq!(d.len(), 1, "{text}: {d:#?}");
        assert_eq!((d[0].severity, d[0].line), (Severity::Error, 3), "{text}");
        assert!(d[0].message.contains(want), "{text}: {}", d[0]);
    }
}

#[test]
fn outbound_port_zero_means_default_like_siproxd() {
    assert_eq!(clean("outbound_proxy_port = 0\n").outbound_proxy_port, 5060);
}

// ---------------------------------------------------------------- lists

#[test]
fn acl_comma_lists_and_repeated_lines_accumulate() {
    let c = clean(
        "hosts_allow_reg = 192.168.1.0/24\n\
         hosts_allow_sip = 123.45.0.0/16,123.46.0.0/16\n\
         hosts_allow_sip = 8.8.8.8\n\
         hosts_deny_sip  = 10.0.0.0/8 , 11.0.0.0/8\n",
    );
    assert_eq!(
        c.hosts_allow_reg.0,
        vec![crate::net::Net::V4(Net4 {
            addr: ip("192.168.1.0"),
            prefix: 24
        })]
    );
    assert_eq!(c.hosts_allow_sip.0.len(), 3);
    assert!(c.hosts_allow_sip.contains(ip("8.8.8.8")));
    assert!(c.hosts_allow_sip.contains(ip("123.46.1.2")));
    assert_eq!(c.hosts_deny_sip.0.len(), 2);
    assert!(c.hosts_deny_sip.contains(ip("11.1.1.1")));
    // an empty ACL value adds nothing (siproxd: empty list = does not apply)
    assert!(clean("hosts_allow_sip =\n").hosts_allow_sip.is_empty());
}

#[test]
fn acl_bad_entry_error_names_it() {
    let e = only_error("hosts_deny_sip = 10.0.0.0/8,evil_example.com/32\n");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("evil_example.com"), "{e}");
}

#[test]
fn outbound_domains_pair_by_position() {
    let c = clean(
        "outbound_domain_name = a.example\noutbound_domain_host = proxy.a.example\noutbound_domain_port = 5061\n\
         outbound_domain_name = b.example\noutbound_domain_host = 192.0.2.7\noutbound_domain_port = 0\n",
    );
    assert_eq!(
        c.outbound_domains,
        vec![
            OutboundDomain {
                name: "a.example".into(),
                host: "proxy.a.example".into(),
                port: 5061
            },
            OutboundDomain {
                name: "b.example".into(),
                host: "192.0.2.7".into(),
                port: 5060
            },
        ]
    );
    // siproxd pairs by index, so names first then hosts works too; ports may be omitted
    let c = clean(
        "outbound_domain_name = a\noutbound_domain_name = b\noutbound_domain_host = ha\noutbound_domain_host = hb\n",
    );
    assert_eq!(c.outbound_domains.len(), 2);
    assert_eq!(
        (
            c.outbound_domains[1].host.as_str(),
            c.outbound_domains[1].port
        ),
        ("hb", 5060)
    );
}

#[test]
fn outbound_domain_count_mismatches_are_errors_at_the_orphan_line() {
    let (c, d) =
        parse("outbound_domain_name = a\noutbound_domain_host = ha\noutbound_domain_name = b\n");
    assert!(c.outbound_domains.is_empty());
    let e = errors(&d);
    assert_eq!(e.len(), 1, "{d:#?}");
    assert_eq!(e[0].line, 3, "the name without a host");
    assert!(e[0].message.contains("outbound_domain_host"), "{}", e[0]);

    let (_, d) = parse("outbound_domain_host = orphan\n");
    assert_eq!(errors(&d)[0].line, 1);

    let (_, d) = parse(
        "outbound_domain_name = a\noutbound_domain_name = b\noutbound_domain_host = ha\noutbound_domain_host = hb\noutbound_domain_port = 5060\n",
    );
    let e = errors(&d);
    assert_eq!(e.len(), 1);
    assert!(e[0].message.contains("outbound_domain_port"), "{}", e[0]);
    assert_eq!(e[0].line, 2, "the name without a port");

    let (_, d) = parse("outbound_domain_name =\noutbound_domain_host = h\n");
    assert_eq!(errors(&d)[0].line, 1);
    let (_, d) = parse("outbound_domain_name = n\noutbound_domain_host =\n");
    assert_eq!(errors(&d)[0].line, 2);
}

#[test]
fn mask_hosts_pair_by_position_and_mismatches_are_errors_at_the_orphan_line() {
    let c = clean(
        "mask_host = 10.0.1.1\nmasked_host = my.public.host\nmask_host = proxy.lan\nmasked_host = 203.0.113.7\n",
    );
    assert_eq!(
        c.mask_hosts,
        [
            ("10.0.1.1".to_string(), "my.public.host".to_string()),
            ("proxy.lan".to_string(), "203.0.113.7".to_string())
        ]
    );
    // siproxd ignored both lists when the counts differed; here it is an
    // error at the first line without a partner.
    let (c, d) = parse("mask_host = 10.0.1.1\nmasked_host = a.example\nmask_host = 10.0.1.2\n");
    assert!(c.mask_hosts.is_empty());
    let e = errors(&d);
    assert_eq!(e.len(), 1, "{d:#?}");
    assert_eq!(e[0].line, 3, "the mask_host without a masked_host");
    assert!(e[0].message.contains("1 masked_host"), "{}", e[0]);
    let (_, d) = parse("masked_host = orphan.example\n");
    assert_eq!(errors(&d)[0].line, 1);
    // neither an address nor a host name: at its line
    let (c, d) = parse("mask_host = 10.0.1.1\nmasked_host = my host\n");
    assert!(c.mask_hosts.is_empty());
    let e = errors(&d);
    assert_eq!((e.len(), e[0].line), (1, 2), "{d:#?}");
    assert!(e[0].message.contains("'my host'"), "{}", e[0]);
    let (_, d) = parse("mask_host =\nmasked_host = a.example\n");
    assert_eq!(errors(&d)[0].line, 1);
}

#[test]
fn list_options_do_not_warn_about_repeats() {
    let (_, d) = parse("masked_host = a\nmasked_host = b\n");
    assert_eq!(
        d.len(),
        1,
        "one not-implemented warning, no repeat warning: {d:#?}"
    );
}

// ---------------------------------------------------------------- comments and blanks

#[test]
fn comments() {
    let c = clean(
        "# whole line\n   # indented\nif_inbound = eth0 # trailing\nrtp_timeout = 300\t# tab then comment\n",
    );
    assert_eq!(c.if_inbound.as_deref(), Some("eth0"));
    assert_eq!(c.rtp_timeout, 300);
    // '#' inside a word is data; '#' right after '=' starts a comment (empty value)
    let c = clean("outbound_proxy_host = a#b\nregistration_file = # nothing\n");
    assert_eq!(c.outbound_proxy_host.as_deref(), Some("a#b"));
    assert_eq!(c.registration_file, None);
}

#[test]
fn whitespace_crlf_and_bom() {
    let c = clean(
        "\u{feff}if_inbound\t=\teth0\r\nif_outbound=ppp0\r\n  sip_listen_port   =   5060  \r\n",
    );
    assert_eq!(c.if_inbound.as_deref(), Some("eth0"));
    assert_eq!(c.if_outbound.as_deref(), Some("ppp0"));
    assert_eq!(c.sip_listen_port, 5060);
}

// ---------------------------------------------------------------- syntax errors

#[test]
fn missing_equals_sign() {
    let e = only_error("\nsip_listen_port 5060\n");
    assert_eq!(e.line, 2);
    assert!(
        e.message.contains("has no value") && e.message.contains("sip_listen_port"),
        "{e}"
    );
    let e = only_error("this is not an option line\n");
    assert!(e.message.contains("expected 'key = value'"), "{e}");
    let e = only_error("= 5\n");
    assert!(e.message.contains("missing option name"), "{e}");
    let e = only_error("if inbound = eth0\n");
    assert!(e.message.contains("blanks"), "{e}");
}

#[test]
fn unknown_keys_are_errors_with_hints() {
    let e = only_error("if_inbound = eth0\nif_inbund = eth0\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("unknown option 'if_inbund'"), "{e}");
    assert!(e.message.contains("did you mean 'if_inbound'"), "{e}");
    let e = only_error("frobnicate_everything = 1\n");
    assert!(!e.message.contains("did you mean"), "{e}");
    // exact, case-sensitive names (siproxd matched substrings)
    let e = only_error("IF_INBOUND = eth0\n");
    assert!(e.message.contains("'if_inbound'"), "{e}");
    let e = only_error("xif_inbound = eth0\n");
    assert!(e.message.contains("unknown option"), "{e}");
}

#[test]
fn every_bad_line_is_reported_not_just_the_first() {
    let (_, d) = parse("a = 1\nsip_listen_port = x\nb = 2\nif_inbound = eth0\n");
    let lines: Vec<usize> = d.iter().map(|x| x.line).collect();
    assert_eq!(lines, vec![1, 2, 3]);
    assert!(d.iter().all(Diagnostic::is_error));
}

// ---------------------------------------------------------------- warnings

#[test]
fn unimplemented_options_warn_once_by_name() {
    let (c, d) = parse(
        "obscure_loops = 1\nobscure_loops = 0\nthread_stack_size = 512\nplugindir = /usr/lib/siproxd\n\
         plugin_fix_fbox_anoncall_networks = 10.0.0.0/8\nplugin_fix_fbox_anoncall_networks = 10.0.0.0/8\n",
    );
    assert_eq!(c, Config::default(), "unimplemented options change nothing");
    assert!(errors(&d).is_empty(), "{d:#?}");
    let w = warnings(&d);
    let named = |n: &str| {
        w.iter()
            .filter(|x| x.message.contains(&format!("'{n}'")))
            .count()
    };
    assert_eq!(named("obscure_loops"), 1, "{w:#?}");
    assert_eq!(named("thread_stack_size"), 1);
    assert_eq!(named("plugindir"), 1);
    assert_eq!(named("plugin_fix_fbox_anoncall_networks"), 1);
    assert_eq!(w.len(), 4, "{w:#?}");
    assert!(
        w[0].message.contains("not needed") && w[0].line == 1,
        "{}",
        w[0]
    );
    let plugindir = w.iter().find(|x| x.message.contains("plugindir")).unwrap(); // counted above
    assert!(plugindir.message.contains("no meaning"), "{plugindir}");
    let fbox = w
        .iter()
        .find(|x| x.message.contains("plugin_fix_fbox_anoncall_networks"))
        .unwrap(); // counted above
    assert!(fbox.message.contains("not needed"), "{fbox}");
}

#[test]
fn authentication_options_are_parsed_and_checked() {
    let (cfg, d) = parse("proxy_auth_realm = Home\nproxy_auth_passwd = secret\n");
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(cfg.proxy_auth_realm.as_deref(), Some("Home"));
    assert_eq!(
        cfg.proxy_auth_passwd.as_ref().map(|s| s.0.as_str()),
        Some("secret")
    );
    // the password never shows in a debug print of the configuration
    assert!(!format!("{cfg:?}").contains("secret"));
    let (cfg, d) = parse("proxy_auth_realm = Home\nproxy_auth_pwfile = /etc/siproxd_passwd.cfg\n");
    assert!(d.is_empty(), "{d:#?}");
    assert!(cfg.proxy_auth_pwfile.is_some());
    // a realm that cannot be quoted in a challenge is an error at its line
    let (_, d) = parse("\nproxy_auth_realm = a\"b\n");
    let e = errors(&d);
    assert_eq!((e.len(), e[0].line), (1, 2), "{d:#?}");
    // asking for authentication without saying the passwords, or passwords
    // without a realm (siproxd would then check nothing): refused by check()
    for text in [
        "proxy_auth_realm = Home\n",
        "proxy_auth_passwd = secret\n",
        "proxy_auth_pwfile = /etc/p\n",
    ] {
        let (cfg, _) = parse(text);
        let c = cfg.check("f");
        assert!(
            c.iter().any(|x| x.message.contains("proxy_auth")),
            "{text}: {c:#?}"
        );
    }
    for n in ["proxy_auth_realm", "proxy_auth_passwd", "proxy_auth_pwfile"] {
        assert_eq!(
            options::lookup(n).map(|o| o.status),
            Some(Status::Implemented)
        );
    }
}

#[test]
fn the_blacklist_plugin_and_its_options_load() {
    for v in [
        "plugin_blacklist.so",
        "plugin_blacklist.la",
        "plugin_blacklist",
        "/usr/lib/siproxd/plugin_blacklist.so",
    ] {
        let (cfg, d) = parse(&format!(
            "load_plugin = plugin_demo.so\nload_plugin = {v}\n"
        ));
        assert!(errors(&d).is_empty(), "{v}: {d:#?}");
        assert!(cfg.blacklist, "{v}");
        assert_eq!(warnings(&d).len(), 1, "{v}: plugin_demo only warns");
    }
    let (cfg, d) = parse(
        "plugin_blacklist_hitcount = 5\nplugin_blacklist_duration = 60\nplugin_blacklist_simulate = 1\n",
    );
    assert!(d.is_empty(), "{d:#?}");
    assert!(
        !cfg.blacklist,
        "its options alone load nothing (as in siproxd)"
    );
    assert_eq!(
        (
            cfg.blacklist_hitcount,
            cfg.blacklist_duration,
            cfg.blacklist_simulate
        ),
        (5, 60, true)
    );
    let (_, d) = parse("plugin_blacklist_hitcount = 0\n");
    assert_eq!(errors(&d).len(), 1, "{d:#?}");
}

#[test]
fn load_plugin_warns_per_plugin() {
    let (cfg, d) = parse(
        "load_plugin = plugin_demo.so\nload_plugin = plugin_custom.so\n\
         load_plugin = plugin_logcall.so\nload_plugin = /usr/lib/siproxd/plugin_stats.la\n",
    );
    assert_eq!(d.len(), 2, "the plugins built in do not warn: {d:#?}");
    assert!(d[0].message.contains("plugin_demo.so") && d[0].line == 1);
    assert!(d[1].message.contains("plugin_custom.so") && d[1].line == 2);
    assert!(cfg.logcall && cfg.stats);
    let (cfg, d) = parse("log_calls = 1\n");
    assert!(d.is_empty() && cfg.logcall, "{d:#?}");
}

#[test]
fn privilege_drop_options() {
    // `user` is implemented: parsed, no warning.
    let c = clean("user = nobody\n");
    assert_eq!(c.user.as_deref(), Some("nobody"));
    // `chrootjail` is parsed but warns: chroot is not implemented.
    let (c, d) = parse("chrootjail = /var/empty\n");
    assert_eq!(
        c.chrootjail.as_deref(),
        Some(std::path::Path::new("/var/empty"))
    );
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Warning);
    assert!(
        d[0].message.contains("'chrootjail'") && d[0].message.contains("chroot"),
        "{}",
        d[0]
    );
    // commented out or empty: nothing to warn about
    assert!(clean("#user = nobody\nuser =\n").user.is_none());
}

#[test]
fn repeated_single_value_option_warns_and_last_wins() {
    let (c, d) = parse("sip_listen_port = 5060\n\nsip_listen_port = 5070\n");
    assert_eq!(c.sip_listen_port, 5070);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].severity, d[0].line), (Severity::Warning, 3));
    assert!(d[0].message.contains("first on line 1"), "{}", d[0]);
}

#[test]
fn every_typed_option_is_handled_and_no_other() {
    for o in options::SIPROXD_OPTIONS {
        let mut cfg = Config::default();
        let mut parts = ListParts::default();
        let typed = !matches!(
            apply_typed(&mut cfg, &mut parts, o.name, "\u{1}bogus", 1),
            Applied::NotTyped
        );
        // load_plugin is the builder's own: each line switches a plugin on.
        let should = matches!(o.status, Status::Implemented | Status::ServedByInit)
            && o.name != "load_plugin";
        assert_eq!(typed, should, "{} ({:?})", o.name, o.status);
    }
}

// ---------------------------------------------------------------- Display

#[test]
fn diagnostic_display() {
    let e = Diagnostic::error("/etc/sipnat.conf", 12, "unknown option 'x'".into());
    assert_eq!(
        e.to_string(),
        "/etc/sipnat.conf:12: error: unknown option 'x'"
    );
    let w = Diagnostic::warning("a.conf", 3, "careful".into());
    assert_eq!(w.to_string(), "a.conf:3: warning: careful");
    let z = Diagnostic::error("a.conf", 0, "no interfaces".into());
    assert_eq!(z.to_string(), "a.conf: error: no interfaces");
}

// ---------------------------------------------------------------- check()

fn check_errors(c: &Config) -> Vec<String> {
    c.check(F)
        .into_iter()
        .inspect(|d| assert_eq!((d.line, d.file.as_str()), (0, F)))
        .filter(Diagnostic::is_error)
        .map(|d| d.message)
        .collect()
}

fn assert_one_error(c: &Config, want: &str) {
    let e = check_errors(c);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].contains(want), "{want:?} not in {:?}", e[0]);
}

#[test]
fn check_accepts_a_minimal_and_a_full_config() {
    assert!(good().check(F).is_empty(), "{:#?}", good().check(F));
    let full = Config {
        host_outbound: Some("203.0.113.5".into()),
        outbound_proxy_host: Some("proxy.example".into()),
        outbound_domains: vec![OutboundDomain {
            name: "d.example".into(),
            host: "p.d.example.".into(),
            port: 5060,
        }],
        rtp_dscp: 46,
        sip_dscp: 63,
        ..good()
    };
    assert!(full.check(F).is_empty(), "{:#?}", full.check(F));
}

#[test]
fn check_interfaces() {
    let c = Config::default();
    let e = check_errors(&c);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].contains("if_inbound") && e[1].contains("if_outbound"));

    let same = Config {
        if_outbound: Some("br-lan".into()),
        ..good()
    };
    assert_one_error(&same, "host_outbound");
    let same_ok = Config {
        host_outbound: Some("home.dyndns.example".into()),
        ..same
    };
    assert!(
        check_errors(&same_ok).is_empty(),
        "one interface + host_outbound is siproxd's in-LAN setup"
    );

    assert_one_error(
        &Config {
            if_inbound: Some("a-very-long-ifname0".into()),
            ..good()
        },
        "15 characters",
    );
    assert_one_error(
        &Config {
            if_inbound: Some("eth 0".into()),
            ..good()
        },
        "not a valid interface name",
    );
    assert_one_error(
        &Config {
            if_outbound: Some("../x".into()),
            ..good()
        },
        "not a valid interface name",
    );
    assert_one_error(
        &Config {
            host_outbound: Some("bad host!".into()),
            ..good()
        },
        "host_outbound",
    );
}

#[test]
fn check_ports_and_hosts() {
    assert_one_error(
        &Config {
            sip_listen_port: 0,
            ..good()
        },
        "sip_listen_port",
    );
    let op = Config {
        outbound_proxy_host: Some("proxy.example".into()),
        outbound_proxy_port: 0,
        ..good()
    };
    assert_one_error(&op, "outbound_proxy_port");
    assert_one_error(
        &Config {
            outbound_proxy_host: Some("-bad-.example".into()),
            ..good()
        },
        "outbound_proxy_host",
    );
    let od = |name: &str, host: &str, port| Config {
        outbound_domains: vec![OutboundDomain {
            name: name.into(),
            host: host.into(),
            port,
        }],
        ..good()
    };
    assert_one_error(&od("d", "", 5060), "must both be set");
    assert_one_error(&od("d", "p.example", 0), "outbound_domain_port");
    assert_one_error(&od("d", "p..example", 5060), "outbound_domain_host");
    for bad in [
        "a..b.",
        ".",
        "..",
        "-a.example",
        "a-.example",
        "a b",
        "x".repeat(64).as_str(),
    ] {
        assert!(!plausible_host(bad), "{bad:?}");
    }
    for good_host in [
        "a.example.",
        "localhost",
        "192.0.2.1",
        "2001:db8::1",
        "_sip._udp.example",
        "x1-2.example",
    ] {
        assert!(plausible_host(good_host), "{good_host:?}");
    }
    assert_one_error(
        &Config {
            default_expires: 0,
            ..good()
        },
        "default_expires",
    );
    assert_one_error(
        &Config {
            silence_log: 7,
            ..good()
        },
        "silence_log",
    );
}

#[test]
fn check_rtp_range() {
    let r = |lo, hi| Config {
        rtp_port_low: lo,
        rtp_port_high: hi,
        ..good()
    };
    assert!(
        check_errors(&r(7070, 7071)).is_empty(),
        "one pair is enough"
    );
    assert_one_error(&r(7071, 7089), "must be even");
    assert_one_error(&r(7090, 7070), "above");
    assert_one_error(&r(7070, 7070), "no RTP/RTCP port pair");
    assert_one_error(&r(0, 7089), "non-zero");
    assert_one_error(&r(5000, 5100), "sip_listen_port");
    assert_one_error(
        &Config {
            rtp_timeout: 0,
            ..good()
        },
        "rtp_timeout",
    );
    // relay disabled: the range does not matter
    let off = Config {
        rtp_proxy_enable: false,
        rtp_timeout: 0,
        ..r(0, 0)
    };
    assert!(check_errors(&off).is_empty());
}

#[test]
fn check_dscp() {
    assert_one_error(
        &Config {
            rtp_dscp: 64,
            ..good()
        },
        "rtp_dscp",
    );
    assert_one_error(
        &Config {
            sip_dscp: 255,
            ..good()
        },
        "sip_dscp",
    );
}

#[test]
fn check_reports_every_problem() {
    let bad = Config {
        sip_listen_port: 0,
        rtp_dscp: 99,
        default_expires: 0,
        ..Config::default()
    };
    assert_eq!(check_errors(&bad).len(), 5, "{:#?}", check_errors(&bad));
}

// ---------------------------------------------------------------- access and RTP pool

#[test]
fn access_follows_siproxd() {
    let open = good();
    let a = open.access(ip("1.2.3.4"));
    assert!(a.sip && a.register, "empty lists restrict nobody");

    let c = clean(
        "hosts_allow_reg = 192.168.1.0/24\nhosts_allow_sip = 212.227.0.0/16\nhosts_deny_sip = 192.168.1.66\n",
    );
    let lan = c.access(ip("192.168.1.10"));
    assert!(lan.sip && lan.register, "allow_reg implies SIP");
    let provider = c.access(ip("212.227.1.1"));
    assert!(provider.sip && !provider.register);
    let stranger = c.access(ip("8.8.8.8"));
    assert!(!stranger.sip && !stranger.register);
    let denied = c.access(ip("192.168.1.66"));
    assert!(!denied.sip && !denied.register, "deny wins");

    let reg_only = clean("hosts_allow_reg = 192.168.1.0/24\n");
    let out = reg_only.access(ip("8.8.8.8"));
    assert!(
        out.sip && !out.register,
        "empty allow_sip lets everyone send SIP"
    );
    let sip_only = clean("hosts_allow_sip = 10.0.0.0/8\n");
    let any = sip_only.access(ip("8.8.8.8"));
    assert!(
        !any.sip && any.register,
        "empty allow_reg: register check passes, SIP denied"
    );
}

#[test]
fn rtp_pool_stays_inside_the_range() {
    let ports: Vec<u16> = Config::default().rtp_ports().collect();
    assert_eq!(ports.first(), Some(&7070));
    assert_eq!(ports.last(), Some(&7088));
    assert_eq!(ports.len(), 10);
    assert!(ports.iter().all(|p| p % 2 == 0));
    let c = Config {
        rtp_port_low: 7070,
        rtp_port_high: 7080,
        ..good()
    };
    assert_eq!(
        c.rtp_ports().last(),
        Some(7078),
        "RTCP 7079 is the last port used"
    );
    let c = Config {
        rtp_port_low: 65534,
        rtp_port_high: 65535,
        ..good()
    };
    assert_eq!(c.rtp_ports().collect::<Vec<_>>(), vec![65534]);
    let c = Config {
        rtp_port_low: 7071,
        rtp_port_high: 7074,
        ..good()
    };
    assert_eq!(c.rtp_ports().collect::<Vec<_>>(), vec![7072]);
    let c = Config {
        rtp_port_low: 7080,
        rtp_port_high: 7070,
        ..good()
    };
    assert_eq!(c.rtp_ports().count(), 0);
}

// ---------------------------------------------------------------- robustness

#[test]
fn never_panics_on_odd_input() {
    let odd = [
        "=",
        "==",
        "= =",
        "#",
        "a=",
        "=b",
        "\u{0}",
        "k\u{0} = v",
        "if_inbound = \u{feff}",
        "sip_listen_port = -",
        "sip_listen_port = +",
        "sip_listen_port = 0x",
        "sip_listen_port = -0x",
        "debug_level = -9223372036854775808",
        "debug_level = 99999999999999999999999",
        "hosts_allow_sip = ,",
        "hosts_allow_sip = /",
        "hosts_allow_sip = 1.2.3.4/",
        "rtp_port_low = 65535",
        "rtp_port_low = 65534",
        "outbound_domain_port = ",
        "é = ü",
        "if_inbound = ünïcödé",
        "\r",
        "\r\r\n",
        "a\u{2028}b = c",
    ];
    for text in odd {
        let _ = parse(text);
        let _ = parse(&format!("{text}\n{text}\n"));
    }
    // a deterministic pseudo-random line generator over the interesting bytes
    let alphabet: Vec<char> =
        "=#,/ \t0x1-.9_aAzé\r\nsip_listen_porthosts_allow_sipoutbound_domain_name"
            .chars()
            .collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3000 {
        let mut s = String::new();
        let len = (state >> 59) as usize + 1;
        for _ in 0..len * 3 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.push(alphabet[(state >> 33) as usize % alphabet.len()]);
        }
        let (cfg, d) = parse(&s);
        let _ = cfg.check(F);
        for x in &d {
            assert!(x.line >= 1, "parse diagnostics carry a line: {x}");
        }
    }
}

#[test]
fn rtp_port_low_at_the_top_is_not_rounded_past_u16() {
    let (c, d) = parse("rtp_port_low = 65535\n");
    assert_eq!(c.rtp_port_low, 65535);
    assert!(d.is_empty());
}

// ---------------------------------------------------------------- load()

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn load_the_sample_siproxd_conf() {
    let path = data("siproxd.conf");
    let (cfg, warns) = match load(&path) {
        Ok(x) => x,
        Err(d) => panic!("sample config must load: {d:#?}"),
    };
    assert!(warns.iter().all(|w| w.severity == Severity::Warning));
    assert!(warns.iter().all(|w| w.file == path.display().to_string()));

    // typed values arrived
    assert_eq!(cfg.if_inbound.as_deref(), Some("br-lan"));
    assert_eq!(cfg.if_outbound.as_deref(), Some("pppoe-wan"));
    assert!(cfg.daemonize);
    assert_eq!(cfg.default_expires, 600);
    assert_eq!(cfg.autosave_registrations, 300);
    assert_eq!(cfg.rtp_timeout, 300);
    assert_eq!((cfg.rtp_dscp, cfg.sip_dscp), (46, 46));
    assert_eq!(cfg.user.as_deref(), Some("nobody"));
    assert_eq!(cfg.hosts_allow_sip.0.len(), 2);
    assert_eq!(cfg.hosts_deny_sip.0.len(), 2);
    assert_eq!(
        cfg.outbound_domains,
        vec![OutboundDomain {
            name: "sip.provider-a.example".into(),
            host: "outbound.provider-a.example".into(),
            port: 5060
        }]
    );
    assert!(!cfg.access(ip("10.1.1.1")).sip);
    assert!(cfg.access(ip("192.168.1.20")).register);

    // every unimplemented option is named by a warning
    let text = std::fs::read_to_string(&path).unwrap(); // loaded just above
    let mut expected = Vec::new();
    for line in text.lines() {
        let Ok(Some((key, _))) = split_line(line) else {
            continue;
        };
        let info = options::lookup(key).unwrap(); // the sample loaded without errors
        if matches!(
            info.status,
            Status::NotYet | Status::NotApplicable | Status::ServedByInit
        ) && !expected.contains(&key)
        {
            expected.push(key);
        }
    }
    for want in ["rtp_input_dejitter", "debug_port", "plugindir"] {
        assert!(expected.contains(&want), "sample lacks {want}");
    }
    for key in &expected {
        if *key == "load_plugin" {
            continue;
        }
        let n = warns
            .iter()
            .filter(|w| w.message.contains(&format!("'{key}'")))
            .count();
        assert_eq!(
            n, 1,
            "option {key} must be named by exactly one warning: {warns:#?}"
        );
    }
    // its plugins are all built in now
    assert!(
        !warns.iter().any(|w| w.message.contains("load_plugin")),
        "{warns:#?}"
    );
    assert!(cfg.logcall && cfg.codecfilter && cfg.shortdial);
    assert_eq!(cfg.codec_blacklist, ["G729", "GSM"]);
    assert_eq!(cfg.shortdial_akey.as_deref(), Some("*00"));
    assert_eq!(cfg.shortdial_entries, ["0123456789", "0987654321"]);
    // and nothing implemented is warned about
    for quiet in [
        "if_inbound",
        "hosts_allow_reg",
        "rtp_port_low",
        "debug_level",
        "outbound_domain_name",
    ] {
        assert!(
            !warns
                .iter()
                .any(|w| w.message.contains(&format!("'{quiet}'"))),
            "{quiet}"
        );
    }
}

#[test]
fn load_reports_a_missing_file() {
    let d = load(Path::new("/nonexistent/sipnat-test.conf")).unwrap_err();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].line, d[0].severity), (0, Severity::Error));
    assert!(
        d[0].to_string()
            .starts_with("/nonexistent/sipnat-test.conf: error: cannot read"),
        "{}",
        d[0]
    );
}

#[test]
fn load_collects_parse_and_check_diagnostics() {
    let dir = std::env::temp_dir().join(format!("sipnat-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap(); // temp dir is writable in tests
    // parse error + check error + warning: all returned in Err
    let p = dir.join("bad.conf");
    std::fs::write(
        &p,
        "if_inbound = eth0\nbogus_key = 1\nchrootjail = /var/empty\n",
    )
    .unwrap(); // as above
    let d = load(&p).unwrap_err();
    assert!(
        d.iter()
            .any(|x| x.line == 2 && x.message.contains("bogus_key")),
        "{d:#?}"
    );
    assert!(
        d.iter()
            .any(|x| x.line == 0 && x.message.contains("if_outbound")),
        "{d:#?}"
    );
    assert!(
        d.iter()
            .any(|x| x.severity == Severity::Warning && x.message.contains("'chrootjail'")),
        "{d:#?}"
    );
    // invalid UTF-8 is replaced, with a warning, and otherwise loads
    let p = dir.join("latin1.conf");
    std::fs::write(&p, b"if_inbound = eth0\nif_outbound = eth1\n# caf\xe9\n").unwrap(); // as above
    let (cfg, w) = load(&p).unwrap(); // valid apart from the comment's byte
    assert_eq!(cfg.if_outbound.as_deref(), Some("eth1"));
    assert_eq!(w.len(), 1);
    assert!(w[0].message.contains("UTF-8"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plugin_demo_is_explained_not_promised() {
    let (_, d) = parse("load_plugin = plugin_demo.la\nplugin_demo_string = hi\n");
    assert_eq!(warnings(&d).len(), 2, "{d:#?}");
    for w in warnings(&d) {
        assert!(w.message.contains("example for plugin writers"), "{w:?}");
        assert!(!w.message.contains("yet"), "nothing is promised: {w:?}");
    }
}
