//! The UCI reader against real files: the shipped `uci-config/sipnat`, a
//! migrated OpenWrt siproxd configuration, several sections and `-s`,
//! quoting, and mistakes reported by `sipnat --check-config` with their lines.

use sipnat::cli::{self, Command, Options};
use sipnat::config::options::{SIPROXD_OPTIONS, Status};
use sipnat::config::uci::{self, UCI_ONLY_OPTIONS};
use sipnat::config::{
    Config, Diagnostic, OutboundDomain, Severity, load, load_layered, load_with_section,
    looks_like_uci, parse_siproxd_conf,
};
use std::path::{Path, PathBuf};
use std::process::Command as Process;

fn root(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn data(name: &str) -> PathBuf {
    root("tests/data/uci").join(name)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The options the init script would pass, parsed like the real command line.
fn opts(args: &[&str]) -> Options {
    let argv: Vec<String> = std::iter::once("sipnat")
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    match cli::parse_args(&argv) {
        Ok(Command::Run(o)) => o,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn errors(d: &[Diagnostic]) -> Vec<&Diagnostic> {
    d.iter().filter(|x| x.is_error()).collect()
}

/// A scratch file under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, text: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("sipnat-uci-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ------------------------------------------------------------ shipped file

#[test]
fn shipped_config_loads_with_the_documented_defaults() {
    let path = root("uci-config/sipnat");
    let o = opts(&[
        "-c",
        path.to_str().expect("utf-8 path"),
        "--if-inbound",
        "br-lan",
        "--if-outbound",
        "eth1",
    ]);
    let (cfg, warnings) = cli::load_config(&o).unwrap_or_else(|d| panic!("{d:#?}"));
    assert!(warnings.is_empty(), "{warnings:#?}");
    let want = Config {
        if_inbound: Some("br-lan".into()),
        if_outbound: Some("eth1".into()),
        enabled: true,
        interface_inbound: Some("lan".into()),
        interface_outbound: Some("wan".into()),
        sip_listen_port: 5060,
        sip_dscp: 24,
        registration_file: Some("/var/lib/sipnat/registrations".into()),
        autosave_registrations: 300,
        default_expires: 3600,
        rtp_proxy_enable: true,
        rtp_port_low: 7070,
        rtp_port_high: 7089,
        rtp_timeout: 300,
        rtp_dscp: 46,
        daemonize: false,
        debug_level: 0,
        silence_log: 1,
        user: Some("sipnat".into()),
        ..Config::default()
    };
    assert_eq!(cfg, want);
    assert_eq!(cfg.rtp_ports().count(), 10, "10 RTP/RTCP pairs");

    // without the devices the init script resolves, the check says what to do
    let d = load(&path).unwrap_err();
    assert_eq!(errors(&d).len(), 2, "{d:#?}");
    assert!(
        d[0].message.contains("interface_inbound 'lan'") && d[0].message.contains("--if-inbound"),
        "{}",
        d[0]
    );
}

#[test]
fn shipped_config_names_every_implemented_option_with_a_comment() {
    let text = read(&root("uci-config/sipnat"));
    let lines: Vec<&str> = text.lines().collect();
    // siproxd 0.5-0.7's old names (pi_shortdial_*) are read, not shown
    let wanted = SIPROXD_OPTIONS
        .iter()
        .filter(|o| matches!(o.status, Status::Implemented | Status::ServedByInit))
        .filter(|o| !o.name.starts_with("pi_"))
        .chain(UCI_ONLY_OPTIONS);
    for o in wanted {
        // siproxd's lists are UCI lists; the access lists may be either
        let kws: &[&str] = if o.list {
            &["list"]
        } else {
            &["option", "list"]
        };
        let at = lines.iter().position(|l| {
            let l = l.trim_start_matches('#').trim_start();
            kws.iter().any(|kw| {
                l.strip_prefix(kw)
                    .and_then(|r| r.trim_start().strip_prefix(o.name))
                    .is_some_and(|r| r.starts_with([' ', '\t']))
            })
        });
        let Some(at) = at else {
            panic!("uci-config/sipnat lacks '{} {}'", kws[0], o.name)
        };
        // the line above is its one-line comment (not another example)
        let above = at
            .checked_sub(1)
            .and_then(|i| lines.get(i))
            .map(|l| l.trim());
        assert!(
            above.is_some_and(|l| l.starts_with("# ") && l.len() > 10),
            "'{}' on line {} has no comment above it",
            o.name,
            at + 1
        );
    }
    // the ACLs, repeatable in sipnat, are shown as UCI lists
    for acl in ["hosts_allow_reg", "hosts_allow_sip", "hosts_deny_sip"] {
        assert!(text.contains(&format!("#\tlist {acl} '")), "{acl}");
    }
}

#[test]
fn every_commented_example_in_the_shipped_config_is_valid() {
    let text = read(&root("uci-config/sipnat"));
    let mut n = 0;
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("#\t") {
            Some(r) if r.starts_with("option ") || r.starts_with("list ") => {
                n += 1;
                format!("\t{r}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    assert!(n >= 13, "only {n} examples");
    let (cfg, d) = uci::parse_uci_config(&uncommented, "sipnat", None).expect("section");
    // no error, and no warning: chrootjail is served by the init script
    assert!(d.is_empty(), "{d:#?}");
    // the allow list example beside the shipped wan_sip_open '0' is the one
    // thing the check mentions: it has no effect until the port is opened
    let mut c = cfg.check("sipnat");
    // the TLS example stops a build without TLS: never plain SIP where
    // TLS was asked for
    let no_tls = |d: &sipnat::config::Diagnostic| {
        d.is_error()
            && d.message
                .contains("this build of sipnat has no SIP over TLS")
    };
    let n = c.iter().filter(|d| no_tls(d)).count();
    assert_eq!(n, if cfg!(feature = "tls") { 0 } else { 2 }, "{c:#?}");
    c.retain(|d| !no_tls(d));
    assert_eq!(c.len(), 1, "{c:#?}");
    assert!(!c[0].is_error() && c[0].message.contains("wan_sip_allow has no effect"));
    assert_eq!(cfg.if_inbound.as_deref(), Some("br-lan"));
    assert_eq!(cfg.hosts_allow_reg.0.len(), 1);
    assert_eq!(cfg.outbound_domains.len(), 1);
}

/// The firewall switches exist only in UCI (the init script reads them);
/// sipnat checks them, so a typo in an address is reported at its line.
#[test]
fn firewall_options_are_checked_at_their_line() {
    let parse = |t: &str| {
        uci::parse_uci_config(
            &format!("config sipnat g\n\toption if_inbound br-lan\n\toption if_outbound eth1\n{t}"),
            "f",
            None,
        )
        .expect("section")
    };
    let (c, d) = parse(
        "\toption wan_sip_open '1'\n\tlist wan_sip_allow '203.0.113.0/24'\n\tlist wan_sip_allow 198.51.100.7\n",
    );
    assert!(d.is_empty(), "{d:#?}");
    assert!(c.wan_sip_open);
    assert_eq!(c.wan_sip_allow.0.len(), 2);
    assert!(c.check("f").is_empty());
    // default: closed
    let (c, _) = parse("");
    assert!(!c.wan_sip_open && c.wan_sip_allow.is_empty());
    // a host name, a dotted mask, a bad switch: errors at their lines
    for (t, line, what) in [
        (
            "\tlist wan_sip_allow 'sip.provider.example'\n",
            4,
            "wan_sip_allow",
        ),
        (
            "\tlist wan_sip_allow '203.0.113.0/255.255.255.0'\n",
            4,
            "prefix length",
        ),
        (
            "\toption wan_sip_open '1'\n\toption wan_sip_open 'maybe'\n",
            5,
            "wan_sip_open",
        ),
    ] {
        let (_, d) = parse(t);
        let e = errors(&d);
        assert_eq!(e.len(), 1, "{t}: {d:#?}");
        assert_eq!(e[0].line, line, "{t}");
        assert!(e[0].message.contains(what), "{}", e[0]);
    }
    // an allow list while the port stays closed: a warning
    let (c, _) = parse("\tlist wan_sip_allow '203.0.113.0/24'\n");
    let w = c.check("f");
    assert_eq!(w.len(), 1);
    assert!(!w[0].is_error() && w[0].message.contains("wan_sip_open is 0"));
    // not siproxd options: unknown in a siproxd.conf file
    let (_, d) = parse_siproxd_conf("wan_sip_open = 1\n", "s.conf");
    assert!(
        d[0].is_error() && d[0].message.contains("unknown option"),
        "{d:#?}"
    );
}

// ------------------------------------------------------------ migration

#[test]
fn migrated_siproxd_config_equals_the_siproxd_conf() {
    let original = read(&data("siproxd"));

    // not migrated yet: a clear hint, at the section's line
    let unmigrated = Scratch::new("unmigrated", &original);
    let d = load(&unmigrated.0).unwrap_err();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].line, 9);
    assert!(
        d[0].message
            .contains("change 'config siproxd' to 'config sipnat'"),
        "{}",
        d[0]
    );
    let d = load_with_section(&unmigrated.0, Some("general")).unwrap_err();
    assert!(d[0].message.contains("type 'siproxd'"), "{}", d[0]);

    // the migration changes the section type and nothing else
    let migrated_text = original.replace("config siproxd ", "config sipnat ");
    assert_eq!(migrated_text.lines().count(), original.lines().count());
    let migrated = Scratch::new("migrated", &migrated_text);
    let o = opts(&[
        "-c",
        migrated.0.to_str().expect("utf-8 path"),
        "--if-inbound",
        "br-lan",
        "--if-outbound",
        "pppoe-wan",
    ]);
    let (mut from_uci, uci_warn) = cli::load_config(&o).unwrap_or_else(|d| panic!("{d:#?}"));
    let (from_conf, conf_warn) = load(&data("siproxd.conf")).unwrap_or_else(|d| panic!("{d:#?}"));

    // the UCI-only logical names are the one difference
    assert_eq!(from_uci.interface_inbound.take().as_deref(), Some("lan"));
    assert_eq!(from_uci.interface_outbound.take().as_deref(), Some("wan"));
    assert_eq!(from_uci, from_conf);

    // spot checks that the comparison compares something
    assert_eq!(
        from_uci.outbound_domains,
        vec![
            OutboundDomain {
                name: "sip.provider-a.example".into(),
                host: "outbound.provider-a.example".into(),
                port: 5060
            },
            OutboundDomain {
                name: "sip.provider-b.example".into(),
                host: "proxy.provider-b.example".into(),
                port: 5080
            },
        ]
    );
    assert_eq!(from_uci.hosts_allow_sip.0.len(), 2);
    assert_eq!(from_uci.hosts_deny_sip.0.len(), 2);
    assert_eq!(from_uci.user.as_deref(), Some("nobody"));
    assert_eq!(from_uci.default_expires, 600);

    // the same warnings, word for word (each at its own file's line)
    let msgs = |w: &[Diagnostic]| {
        let mut m: Vec<String> = w.iter().map(|d| d.message.clone()).collect();
        m.sort();
        m
    };
    assert_eq!(msgs(&uci_warn), msgs(&conf_warn));
    assert!(uci_warn.len() >= 2, "{uci_warn:#?}");
    let port = uci_warn
        .iter()
        .find(|w| w.message.contains("'debug_port'"))
        .expect("debug_port warns");
    assert_eq!(port.line, 30, "the UCI line, not the siproxd.conf one");
}

/// A migrated siproxd section with authentication loads as it is
/// (`--check-config` reads the password file too); half of it (a realm
/// without passwords) or a password file that cannot be read is an error,
/// never a silently open proxy.
#[test]
fn a_migrated_section_with_authentication_is_checked() {
    let original = read(&data("siproxd")).replace("config siproxd ", "config sipnat ");
    let lines: Vec<&str> = original.lines().collect();
    let pw = Scratch::new("pw", "# users\n100 secret\n");
    let pw_line = format!("\toption proxy_auth_pwfile '{}'", pw.0.display());
    let realm = "\toption proxy_auth_realm 'Home Router'";
    for (opts, ok, says) in [
        (vec![realm, "\toption proxy_auth_passwd 'secret'"], true, ""),
        (vec![realm, pw_line.as_str()], true, ""),
        (vec!["\tlist load_plugin 'plugin_blacklist.so'"], true, ""),
        (vec![realm], false, "no passwords"),
        (
            vec![
                realm,
                "\toption proxy_auth_pwfile '/nonexistent/sipnat.passwd'",
            ],
            false,
            "/nonexistent/sipnat.passwd",
        ),
    ] {
        let mut text: Vec<&str> = lines.clone();
        for o in opts.iter().rev() {
            text.insert(30, o);
        }
        let f = Scratch::new("auth", &(text.join("\n") + "\n"));
        let name = f.0.to_str().expect("utf-8 path");
        let out = Process::new(env!("CARGO_BIN_EXE_sipnat"))
            .args(["--check-config", "-c", name])
            .args(["--if-inbound", "br-lan", "--if-outbound", "pppoe-wan"])
            .output()
            .expect("sipnat runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(if ok { 0 } else { 1 }),
            "{opts:?}: {err}"
        );
        assert!(err.contains(says), "{opts:?}: {err}");
        assert!(!err.contains("secret"), "a password in a message: {err}");
    }
}

// ------------------------------------------------------------ sections, -s

#[test]
fn several_sections_and_section_choice() {
    let p = data("sections");
    let pick = |s: Option<&str>| load_with_section(&p, s);

    let (home, w) = pick(None).unwrap_or_else(|d| panic!("{d:#?}"));
    assert!(w.is_empty(), "{w:#?}");
    assert_eq!(home.if_inbound.as_deref(), Some("br-lan"));
    assert_eq!(pick(Some("home")).map(|x| x.0), Ok(home.clone()));
    assert_eq!(pick(Some("@sipnat[0]")).map(|x| x.0), Ok(home));

    let (guest, w) = pick(Some("@sipnat[1]")).unwrap_or_else(|d| panic!("{d:#?}"));
    assert!(!guest.enabled);
    assert_eq!((guest.sip_listen_port, guest.rtp_port_low), (5070, 7100));
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!((w[0].line, w[0].severity), (12, Severity::Warning));
    assert!(w[0].message.contains("@sipnat[1] is disabled"), "{}", w[0]);

    for sel in ["office", "@sipnat[2]", "@sipnat[-1]"] {
        let (office, _) = pick(Some(sel)).unwrap_or_else(|d| panic!("{sel}: {d:#?}"));
        assert_eq!(office.if_inbound.as_deref(), Some("br-office"), "{sel}");
        assert_eq!(office.sip_listen_port, 5080);
    }

    let err = |sel: &str| {
        let d = pick(Some(sel)).unwrap_err();
        assert_eq!(d.len(), 1, "{sel}: {d:#?}");
        d[0].to_string()
    };
    let file = p.display().to_string();
    assert_eq!(
        err("nope"),
        format!(
            "{file}: error: -s 'nope': no section of that name; the 'sipnat' sections here are: 'home', @sipnat[1], 'office'"
        )
    );
    assert!(err("unrelated").starts_with(&format!(
        "{file}:7: error: -s 'unrelated': section 'unrelated' is of type 'other'"
    )));
    assert!(err("@sipnat[3]").contains("there are 3 'sipnat' sections"));
    assert!(err("@sipnat[one]").contains("expected a section name or @sipnat[N]"));

    // -s for a siproxd.conf file is a mistake, said once
    let d = load_with_section(&data("siproxd.conf"), Some("general")).unwrap_err();
    assert_eq!(errors(&d).len(), 1, "{d:#?}");
    assert!(d.iter().any(|x| x.message.contains("siproxd.conf syntax")));
}

#[test]
fn quoting_escapes_comments_and_lists() {
    let (cfg, w) = load(&data("quoting")).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(cfg.if_inbound.as_deref(), Some("br-lan"));
    assert_eq!(cfg.if_outbound.as_deref(), Some("eth1"));
    assert_eq!(
        cfg.registration_file,
        Some("/var/lib/sipnat/reg \"1\"".into())
    );
    assert_eq!(cfg.pid_file, Some("/var/run/it's.pid".into()));
    assert_eq!(cfg.user.as_deref(), Some("no body"));
    assert_eq!(cfg.chrootjail, Some("/var/lib/a\\b#c".into()));
    assert_eq!(cfg.hosts_allow_reg.0.len(), 3);
    assert_eq!((cfg.silence_log, cfg.debug_level), (2, 0x100));
    assert_eq!(cfg.host_outbound.as_deref(), Some("public.example"));
    assert_eq!(cfg.outbound_proxy_host.as_deref(), Some("proxy.example"));
    // warnings: the replaced option (at the replacing line) only;
    // chrootjail is served by the init script's ujail for UCI files
    let replaced: Vec<_> = w
        .iter()
        .filter(|x| x.message.contains("set again"))
        .collect();
    assert_eq!(replaced.len(), 1, "{w:#?}");
    assert_eq!(replaced[0].line, 17);
    assert!(replaced[0].message.contains("first on line 16"));
    assert_eq!(w.len(), 1, "{w:#?}");
}

#[test]
fn syntax_is_detected_from_the_first_statement() {
    assert!(looks_like_uci(&read(&root("uci-config/sipnat"))));
    assert!(looks_like_uci(&read(&data("quoting"))), "package first");
    assert!(looks_like_uci("\u{feff}\n  # c\n\n\tconfig sipnat\n"));
    assert!(looks_like_uci("config\tsipnat"));
    assert!(!looks_like_uci(&read(&data("siproxd.conf"))));
    assert!(!looks_like_uci(&read(&root("tests/data/siproxd.conf"))));
    assert!(!looks_like_uci(""));
    assert!(!looks_like_uci("configx = 1\nconfig sipnat\n"));
    assert!(!looks_like_uci("if_inbound = eth0\nconfig sipnat\n"));

    // the same option text means the same in both syntaxes
    let (a, _) = parse_siproxd_conf("rtp_port_low = 7071\n", "a");
    let (b, _) = uci::parse_uci_config("config sipnat g\noption rtp_port_low 7071\n", "b", None)
        .expect("section");
    assert_eq!((a.rtp_port_low, b.rtp_port_low), (7072, 7072));
}

#[test]
fn the_command_line_is_applied_before_the_check() {
    let f = Scratch::new(
        "logical",
        "config sipnat general\n\toption interface_inbound lan\n\toption interface_outbound wan\n",
    );
    assert!(load(&f.0).is_err());
    let (cfg, _) = load_layered(&f.0, None, |c| {
        c.if_inbound = Some("br-lan".into());
        c.if_outbound = Some("eth0.2".into());
    })
    .unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(cfg.if_outbound.as_deref(), Some("eth0.2"));
}

// ------------------------------------------------------------ the binary

#[test]
fn check_config_reports_each_mistake_at_its_line() {
    let p = data("errors");
    let out = Process::new(env!("CARGO_BIN_EXE_sipnat"))
        .args(["--check-config", "-c"])
        .arg(&p)
        .output()
        .expect("run sipnat");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = p.display().to_string();
    let expected = [
        (2, "'option' outside a section"),
        (7, "rtp_timeout = 'five minutes': expected an integer"),
        (
            8,
            "unknown option 'rtp_port_hihg' (did you mean 'rtp_port_high'?)",
        ),
        (9, "too many words in this 'option' line (from 'Router' on)"),
        (10, "option 'default_expires' has no value"),
        (
            11,
            "unknown keyword 'opton': expected config, option, list or package (did you mean 'option'?)",
        ),
        (12, "enabled = 'maybe'"),
        (13, "hosts_allow_reg"),
        (14, "unterminated ' quote"),
    ];
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for ((line, want), got) in expected.iter().zip(&lines) {
        let prefix = format!("{file}:{line}: error: ");
        assert!(
            got.starts_with(&prefix),
            "{got:?} should start with {prefix:?}"
        );
        assert!(got.contains(want), "{got:?} should contain {want:?}");
    }
}

#[test]
fn check_config_of_the_shipped_file_with_the_init_scripts_devices() {
    let p = root("uci-config/sipnat");
    let run = |extra: &[&str]| {
        Process::new(env!("CARGO_BIN_EXE_sipnat"))
            .args(["--check-config", "-c"])
            .arg(&p)
            .args(extra)
            .output()
            .expect("run sipnat")
    };
    let ok = run(&[
        "-s",
        "general",
        "--if-inbound",
        "br-lan",
        "--if-outbound",
        "eth1",
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK (0 warnings)"));
    let bad = run(&[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--if-outbound DEVICE"));
    let missing = run(&[
        "-s",
        "@sipnat[1]",
        "--if-inbound",
        "a",
        "--if-outbound",
        "b",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("there is 1 'sipnat' section"));
}

#[test]
fn proxy_auth_algorithms_are_uci_only_and_checked() {
    use sipnat::auth::Algorithm;
    let parse = |t: &str| {
        uci::parse_uci_config(
            &format!("config sipnat g\n\toption if_inbound br-lan\n\toption if_outbound eth1\n{t}"),
            "f",
            None,
        )
        .expect("section")
    };
    let (c, d) = parse("");
    assert!(d.is_empty());
    assert_eq!(
        &c.proxy_auth_algorithms[..],
        &[Algorithm::Sha256, Algorithm::Md5],
        "RFC 8760: SHA-256 first by default"
    );
    let (c, d) = parse("\toption proxy_auth_algorithms 'md5'\n");
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(&c.proxy_auth_algorithms[..], &[Algorithm::Md5]);
    let (c, d) = parse("\toption proxy_auth_algorithms 'MD5, SHA-256'\n");
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(
        &c.proxy_auth_algorithms[..],
        &[Algorithm::Md5, Algorithm::Sha256]
    );
    for bad in ["SHA-512", "'MD5 MD5'"] {
        let (_, d) = parse(&format!("\toption proxy_auth_algorithms {bad}\n"));
        let e = errors(&d);
        assert_eq!(e.len(), 1, "{bad}: {d:#?}");
        assert_eq!(e[0].line, 4);
    }
}
