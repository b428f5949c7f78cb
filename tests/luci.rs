//! Tests of luci-app-sipnat (`openwrt/luci-app-sipnat/`), the LuCI web
//! interface, and of its package (`openwrt/mkipk-luci.sh`).
//!
//! The views are run under node by `tests/luci/harness.js`, which loads
//! them as LuCI's loader does, with small strict stand-ins for LuCI's
//! classes (a property LuCI's form options do not have is an error):
//! - Settings: every option of the shipped `/etc/config/sipnat` (the
//!   commented-out examples too) is declared, with the widget its kind
//!   needs, a LuCI datatype made of LuCI's validator names or a validate
//!   function; every option it declares is one sipnat knows; and its own
//!   validate functions take and refuse the same values sipnat's reader
//!   does (each case is asked of both).
//! - Status: rendered from a sample answer of `ubus call sipnat status`
//!   (`tests/luci/status-sample.json`, schema 1), then refreshed by its
//!   poll function with a second answer, in place.
//!
//! Also: `node --check` of every JavaScript file, every JSON file parses,
//! the menu and ACL grant what the pages use, the translation template is
//! what `gen-pot.js` makes, and the package has the right files, modes and
//! control fields and is reproducible.
//!
//! They need `node` (Debian's `nodejs`; tests/setup-deps.sh installs it)
//! and fail, saying so, without it. What they do not do: run the pages in
//! a browser against real LuCI (the stand-ins only record what a view
//! declares and renders), or install the package with opkg.

use sipnat::config::{options, uci};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn app() -> PathBuf {
    root().join("openwrt/luci-app-sipnat")
}

fn view(name: &str) -> PathBuf {
    app().join(format!(
        "htdocs/luci-static/resources/view/sipnat/{name}.js"
    ))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sipnat-luci-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap(); // the temp directory is writable
    dir
}

/// Runs node with `args`; fails the test, saying how to get node, when
/// there is none.
fn node(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new("node");
    for a in args {
        c.arg(a);
    }
    match c.output() {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run node ({e}): the LuCI tests need it; on Debian: apt-get install nodejs \
             (tests/setup-deps.sh installs it)"
        ),
    }
}

fn node_ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let o = node(args);
    assert!(
        o.status.success(),
        "node {:?} failed:\n{}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Files under `dir` whose name ends in `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p, ext));
        } else if p.to_str().unwrap().ends_with(ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// LuCI's validator names (luci-base's validation.js, `types`): what a
/// datatype expression may call.
const LUCI_DATATYPES: &[&str] = &[
    "integer",
    "uinteger",
    "float",
    "ufloat",
    "ipaddr",
    "ip4addr",
    "ip6addr",
    "ip4prefix",
    "ip6prefix",
    "cidr",
    "cidr4",
    "cidr6",
    "ipnet4",
    "ipnet6",
    "ip6hostid",
    "ipmask",
    "ipmask4",
    "ipmask6",
    "iprange",
    "iprange4",
    "iprange6",
    "port",
    "portrange",
    "macaddr",
    "host",
    "hostname",
    "network",
    "hostport",
    "ip4addrport",
    "ipaddrport",
    "wpakey",
    "wepkey",
    "uciname",
    "netdevname",
    "range",
    "min",
    "max",
    "length",
    "rangelength",
    "minlength",
    "maxlength",
    "or",
    "and",
    "neg",
    "list",
    "phonedigit",
    "timehhmmss",
    "dateyyyymmdd",
    "unique",
    "hexstring",
    "string",
    "directory",
    "file",
    "device",
];

#[test]
fn every_javascript_file_passes_node_check() {
    let mut js = files(&app(), ".js");
    let names: Vec<String> = js
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    for want in ["settings.js", "status.js", "gen-pot.js"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    js.push(root().join("tests/luci/harness.js"));
    for f in &js {
        node_ok(&[&"--check", f]);
    }
}

/// (option name, `list`?) of every option the shipped configuration names,
/// set or as a commented-out example.
fn shipped_options() -> Vec<(String, bool)> {
    let text = fs::read_to_string(root().join("uci-config/sipnat")).unwrap();
    let mut out: Vec<(String, bool)> = Vec::new();
    for l in text.lines() {
        let l = l.trim_start_matches('#').trim_start();
        let mut w = l.split_whitespace();
        let (Some(kind @ ("option" | "list")), Some(name)) = (w.next(), w.next()) else {
            continue;
        };
        if !out.iter().any(|(n, _)| n == name) {
            out.push((name.to_owned(), kind == "list"));
        }
    }
    assert!(out.len() >= 40, "only {} options found", out.len());
    out
}

/// One `option` line of the harness: name, class, tab, datatype,
/// validate, password, depends, values, title, description, rmempty false.
struct Declared {
    name: String,
    class: String,
    tab: String,
    datatype: Option<String>,
    validate: bool,
    password: bool,
    depends: String,
    title: String,
    keep: bool,
}

fn settings_declared() -> (String, Vec<Declared>) {
    let out = node_ok(&[
        &root().join("tests/luci/harness.js"),
        &"settings",
        &view("settings"),
    ]);
    let mut opts = Vec::new();
    for l in out.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        if f[0] == "option" {
            assert_eq!(f.len(), 12, "{l}");
            opts.push(Declared {
                name: f[1].into(),
                class: f[2].into(),
                tab: f[3].into(),
                datatype: (f[4] != "-").then(|| f[4].to_owned()),
                validate: f[5] == "validate",
                password: f[6] == "password",
                depends: f[7].into(),
                title: f[9].into(),
                keep: f[11] == "keep",
            });
        }
    }
    (out, opts)
}

#[test]
fn settings_declare_every_shipped_option_with_a_fitting_widget() {
    let (out, opts) = settings_declared();
    assert!(out.starts_with("map\tsipnat\n"), "{out}");
    assert!(
        out.contains("section\tGridSection\tsipnat\taddremove=true\tanonymous=false\n"),
        "{out}"
    );
    let tabs: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("tab\t"))
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    for t in [
        "general",
        "interfaces",
        "sip",
        "rtp",
        "registrations",
        "access",
        "auth",
        "plugins",
        "logging",
    ] {
        assert!(tabs.contains(t), "tab {t} missing: {tabs:?}");
        assert!(opts.iter().any(|o| o.tab == t), "tab {t} is empty");
    }

    // The same options, no more and no fewer, each once.
    let shipped = shipped_options();
    let declared: Vec<&str> = opts.iter().map(|o| o.name.as_str()).collect();
    let unique: BTreeSet<&str> = declared.iter().copied().collect();
    assert_eq!(unique.len(), declared.len(), "declared twice: {declared:?}");
    let want: BTreeSet<&str> = shipped.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(unique, want, "settings.js vs uci-config/sipnat");

    for (name, list) in &shipped {
        let o = opts.iter().find(|o| &o.name == name).unwrap();
        // sipnat knows it (a siproxd option or a UCI-only one)
        assert!(
            options::lookup(name).is_some() || uci::lookup(name).is_some(),
            "{name} is not an option sipnat knows"
        );
        assert_eq!(
            o.class == "DynamicList",
            *list,
            "{name}: a `list` needs a DynamicList, an `option` must not be one ({})",
            o.class
        );
        assert!(!o.title.is_empty(), "{name} has no title");
        let expected_class = match name.as_str() {
            "enabled"
            | "daemonize"
            | "rtp_proxy_enable"
            | "rtp_kernel_forward"
            | "outbound_tls"
            | "wan_sip_open"
            | "log_calls"
            | "plugin_defaulttarget_log"
            | "plugin_blacklist_simulate" => Some("Flag"),
            "interface_inbound" | "interface_outbound" => Some("NetworkSelect"),
            "if_inbound" | "if_outbound" => Some("DeviceSelect"),
            "silence_log" | "proxy_auth_algorithms" | "use_rport" => Some("ListValue"),
            _ => None,
        };
        match expected_class {
            Some(c) => assert_eq!(o.class, c, "{name}"),
            // free text: LuCI must check it
            None => assert!(
                (o.class == "Value" || o.class == "DynamicList")
                    && (o.datatype.is_some() || o.validate),
                "{name}: {} without a datatype or validate()",
                o.class
            ),
        }
        assert_eq!(o.password, name == "proxy_auth_passwd", "{name}: password");
    }

    // Every datatype is LuCI grammar made of LuCI's validator names.
    for o in opts.iter().filter(|o| o.datatype.is_some()) {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("datatype\t{}\t", o.name)))
            .unwrap_or_else(|| panic!("no datatype line for {}", o.name));
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f[2], "ok", "{}: {:?}: {line}", o.name, o.datatype);
        for n in f[3].split(',') {
            assert!(
                LUCI_DATATYPES.contains(&n),
                "{}: '{n}' is no LuCI datatype",
                o.name
            );
        }
    }
    // A flag the shipped file sets stays in the file when it is unchecked
    // (LuCI removes a flag at its default unless rmempty is false): saving
    // any other change must not rewrite `option daemonize '0'` away.
    let text = fs::read_to_string(root().join("uci-config/sipnat")).unwrap();
    for o in opts.iter().filter(|o| o.class == "Flag") {
        let set = text.contains(&format!("\n\toption {} '", o.name));
        assert_eq!(
            o.keep, set,
            "{}: rmempty false exactly when the shipped file sets it",
            o.name
        );
    }
    // Each row is named as the init script names its instance (and the
    // Status page shows it): an unnamed section is sipnatN, N counting
    // every sipnat section from 0.
    let titles: Vec<&str> = out.lines().filter(|l| l.starts_with("title\t")).collect();
    assert_eq!(
        titles,
        [
            "title\tgeneral\tgeneral",
            "title\tcfg0a1b2c\tsipnat1 (unnamed)",
            "title\toffice\toffice",
            "title\tcfg0d4e5f\tsipnat3 (unnamed)",
        ]
    );
    // The grid's port columns show sipnat's default when a section leaves
    // the option unset (LuCI would say "none").
    let grid: Vec<&str> = out.lines().filter(|l| l.starts_with("grid\t")).collect();
    assert_eq!(
        grid,
        [
            "grid\tsip_listen_port\t5060 (default)\t7000",
            "grid\trtp_port_low\t7070 (default)\t7000",
            "grid\trtp_port_high\t7089 (default)\t7000",
        ]
    );
    let allow = opts.iter().find(|o| o.name == "wan_sip_allow").unwrap();
    assert_eq!(allow.depends, r#"[{"wan_sip_open":"1"}]"#);
}

/// Whether sipnat's own reader and check take `value` for `name` (with
/// the `others` options beside it), in a section like the shipped one.
fn sipnat_accepts(name: &str, value: &str, others: &str, list: bool) -> bool {
    let mut text = String::from(
        "config sipnat 't'\n\toption if_inbound 'br-lan'\n\toption if_outbound 'eth1'\n",
    );
    for kv in others.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap();
        text.push_str(&format!("\toption {k} '{v}'\n"));
    }
    let kind = if list { "list" } else { "option" };
    text.push_str(&format!("\t{kind} {name} '{value}'\n"));
    match uci::parse_uci_config(&text, "t", None) {
        Err(_) => false,
        Ok((cfg, d)) => {
            !d.iter().any(|x| x.is_error()) && !cfg.check("t").iter().any(|x| x.is_error())
        }
    }
}

#[test]
fn settings_validators_take_what_sipnat_takes() {
    // (option, value, other fields, LuCI's verdict is sipnat's?)
    let cases: &[(&str, &str, &str, bool)] = &[
        ("hosts_allow_reg", "192.168.1.0/24", "", true),
        ("hosts_allow_reg", "10.0.0.1", "", true),
        ("hosts_allow_reg", "192.168.1.0/24, 10.0.0.0/8", "", true),
        ("hosts_allow_sip", "sip.example-provider.net/32", "", true),
        ("hosts_allow_sip", "pbx.example.org", "", true),
        ("hosts_allow_sip", "provider.example./24", "", true),
        ("hosts_deny_sip", "192.168.1.0/255.255.255.0", "", true),
        ("hosts_deny_sip", "sip.example/255.255.255.0", "", true),
        ("hosts_deny_sip", "192.168.1.0/33", "", true),
        ("hosts_deny_sip", "300.1.1.1", "", true),
        ("hosts_deny_sip", "fe80::1/64", "", true),
        ("hosts_deny_sip", "2001:db8::/32, 10.0.0.0/8", "", true),
        ("hosts_deny_sip", "::ffff:192.0.2.1", "", true),
        ("hosts_deny_sip", "2001:db8::/129", "", true),
        ("hosts_deny_sip", "2001:db8:::1", "", true),
        ("hosts_deny_sip", "1::2::3", "", true),
        ("hosts_deny_sip", "[2001:db8::1]", "", true),
        ("hosts_deny_sip", "2001:db8::1:5060:1:2:3:4", "", true),
        ("plugin_fix_DTAG_networks", "2001:db8:abcd::/48", "", true),
        ("hosts_deny_sip", "bad_name.example", "", true),
        ("hosts_deny_sip", "-bad.example", "", true),
        ("hosts_deny_sip", "10.0.0.0/8,", "", true),
        ("plugin_fix_DTAG_networks", "217.0.23.100/32", "", true),
        (
            "plugin_fix_DTAG_networks",
            "217.0.23.0/24, 217.0.24.1",
            "",
            true,
        ),
        (
            "plugin_fix_DTAG_networks",
            "reg.sip-trunk.example",
            "",
            true,
        ),
        ("debug_level", "0", "", true),
        ("debug_level", "-1", "", true),
        ("debug_level", "0x100", "", true),
        ("debug_level", "4294967295", "", true),
        ("debug_level", "4294967296", "", true),
        ("debug_level", "0x", "", true),
        ("debug_level", "lots", "", true),
        // (a realm alone is half an authentication setup: sipnat wants a password too)
        ("proxy_auth_realm", "home", "proxy_auth_passwd=secret", true),
        (
            "proxy_auth_realm",
            "my \"home\"",
            "proxy_auth_passwd=secret",
            true,
        ),
        (
            "proxy_auth_realm",
            "back\\slash",
            "proxy_auth_passwd=secret",
            true,
        ),
        (
            "tls_fingerprint",
            "5F:0E:2B:B4:8A:19:C4:9B:1F:1D:F1:5A:4C:63:EC:B6:09:0A:4E:38:E6:C0:1D:03:25:0B:3B:6C:41:E6:2A:4D",
            "",
            true,
        ),
        (
            "tls_fingerprint",
            "5f0e2bb48a19c49b1f1df15a4c63ecb6090a4e38e6c01d03250b3b6c41e62a4d",
            "",
            true,
        ),
        ("tls_fingerprint", "5F:0E:2B", "", true),
        (
            "tls_fingerprint",
            "zz0e2bb48a19c49b1f1df15a4c63ecb6090a4e38e6c01d03250b3b6c41e62a4d",
            "",
            true,
        ),
        ("rtp_port_low", "7070", "rtp_port_high=7089", true),
        ("rtp_port_low", "7090", "rtp_port_high=7089", true),
        ("rtp_port_low", "5000", "rtp_port_high=5100", true),
        (
            "rtp_port_low",
            "5000",
            "rtp_port_high=5100,sip_listen_port=5200",
            true,
        ),
        ("rtp_port_high", "7089", "rtp_port_low=7070", true),
        ("rtp_port_high", "7070", "rtp_port_low=7070", true),
        ("rtp_port_high", "7000", "rtp_port_low=7070", true),
        ("rtp_port_high", "5100", "rtp_port_low=5000", true),
        // Stricter than sipnat on purpose: sipnat rounds an odd low port
        // up with a warning; the form asks for the even port instead.
        ("rtp_port_low", "7071", "rtp_port_high=7089", false),
    ];
    let dir = scratch("validators");
    let tsv: String = cases
        .iter()
        .map(|(n, v, o, _)| format!("{n}\t{v}\t{o}\n"))
        .collect();
    fs::write(dir.join("cases.tsv"), tsv).unwrap();
    let out = node_ok(&[
        &root().join("tests/luci/harness.js"),
        &"settings",
        &view("settings"),
        &dir.join("cases.tsv"),
    ]);
    let verdicts: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("case\t"))
        .collect();
    assert_eq!(verdicts.len(), cases.len(), "{out}");
    let shipped = shipped_options();
    let mut refused = 0;
    for ((name, value, others, same), v) in cases.iter().zip(&verdicts) {
        let luci = v.split('\t').nth(1).unwrap();
        let list = shipped.iter().any(|(n, l)| n == name && *l);
        let sipnat = sipnat_accepts(name, value, others, list);
        if luci != "ok" {
            refused += 1;
            assert!(luci.len() > 10, "{name}={value}: no useful message: {luci}");
        }
        if *same {
            assert_eq!(
                luci == "ok",
                sipnat,
                "{name} = '{value}' ({others}): LuCI says {luci}, sipnat accepts: {sipnat}"
            );
        } else {
            assert!(
                luci != "ok" && sipnat,
                "{name} = '{value}': meant to be refused by LuCI only ({luci}, {sipnat})"
            );
        }
    }
    assert!(refused >= 15, "only {refused} values refused");
    let _ = fs::remove_dir_all(&dir);
}

fn status_page(first: &str, second: &str) -> String {
    let d = root().join("tests/luci");
    node_ok(&[
        &root().join("tests/luci/harness.js"),
        &"status",
        &view("status"),
        &d.join(first),
        &d.join(second),
    ])
}

/// The rows of the page before the poll (`before`) or after it.
fn rows(out: &str, before: bool) -> Vec<Vec<String>> {
    let (a, b) = out.split_once("\nafter-poll\n").expect("a poll ran");
    let part = if before { a } else { b };
    part.lines()
        .filter_map(|l| l.strip_prefix("row\t"))
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn has_row(rows: &[Vec<String>], cells: &[&str]) -> bool {
    rows.iter()
        .any(|r| r.len() == cells.len() && r.iter().zip(cells).all(|(a, b)| a == b))
}

#[test]
fn status_renders_every_table_of_a_sample_answer_and_refreshes_in_place() {
    let out = status_page("status-sample.json", "status-none.json");
    assert!(
        out.starts_with("rpc\tsipnat\tstatus\treject=true\npoll\t5\npage\n"),
        "{out}"
    );
    let before = rows(&out, true);
    for r in [
        &["Version", "0.1.0"][..],
        &["Process id", "1234"],
        &["Running for", "1h 02m 03s"],
        &["LAN", "br-lan: 192.168.1.1/24"],
        &["WAN", "eth1: 203.0.113.5, 2001:db8:100::1"],
        &["Public address announced", "203.0.113.5, 2001:db8:100::1"],
        &["SIP port", "5060"],
        &["Outbound proxy", "proxy.provider.example:5060"],
        &["Authentication realm", "home"],
        &["Registrations", "2 / 512"],
        &["Calls", "1 / 1024"],
        &[
            "RTP relay",
            "ports 7070-7089, 1 / 10 streams in use, 9 port pairs bound",
        ],
        &["TCP connections", "1 / 64"],
        &["Blocked clients", "1 / 128"],
        &["Runs as", "sipnat"],
        // registrations
        &[
            "alice@sip.example",
            "sip:alice@192.168.1.10:5060",
            "192.168.1.10:5060",
            "UDP",
            "provider",
            "59m 50s",
            "yes",
        ],
        &[
            "bob@home",
            "sip:bob@192.168.1.11:5062;transport=tcp",
            "192.168.1.11:5062",
            "TCP",
            "sipnat",
            "1m 15s",
            "no",
        ],
        // counters
        &["Relayed packets", "2100"],
        &["Relayed bytes", "352.7 KiB"],
        &["Streams timed out", "4"],
        &["Streams refused: no port could be bound", "0"],
        &["RTP dropped: stranger", "17"],
        &["drop.acl", "3"],
        &["answer.403", "1"],
        // DNS cache
        &[
            "_sip._udp.sip.example",
            "SRV",
            "sip1.sip.example:5060",
            "2m 00s",
        ],
        &["sip1.sip.example", "A", "198.51.100.7", "1h 00m 00s"],
    ] {
        assert!(has_row(&before, r), "no row {r:?} in:\n{out}");
    }
    // The call: parties, direction, state, duration, hold, and each leg of
    // its stream with address, packets, bytes and whether it latched.
    let call = before
        .iter()
        .find(|r| r[0] == "sip:alice@sip.example")
        .expect("the call's row");
    assert_eq!(
        call[..6],
        [
            "sip:alice@sip.example",
            "sip:+4930123456@sip.example",
            "outgoing",
            "established",
            "42s",
            "yes"
        ]
    );
    assert_eq!(
        call[6],
        "RTP port 7070 from LAN 192.168.1.10:4000: 2100 packets, 352.7 KiB (latched) \
         from WAN (expected 198.51.100.7:31000, not latched): 0 packets, 0 B"
    );
    assert!(out.contains("\nh3\tInstance general\n"), "{out}");
    assert!(out.contains("\nh3\tInstance office\nalert\tNot answering: no answer on /var/run/sipnat/office.sock: connection refused\n"), "{out}");
    assert!(out.contains("\np\tName servers: 192.168.1.1:53; queries pending: 0\n"));

    // The poll redrew the same page: the instances are gone, the message is there.
    let after = out.split_once("\nafter-poll\n").unwrap().1;
    assert!(rows(&out, false).is_empty(), "{after}");
    assert!(
        after.contains("alert\tsipnat is not running: no instance answered."),
        "{after}"
    );
    assert!(after.starts_with("h2\tSIP NAT proxy status\n"), "{after}");
    // A status page has nothing to save.
    for k in ["handleSave", "handleSaveApply", "handleReset"] {
        assert!(out.contains(&format!("\n{k}\tnull")), "{k}");
    }
}

#[test]
fn status_says_when_ubus_fails_and_recovers_on_the_next_poll() {
    let out = status_page("status-reject.json", "status-sample.json");
    let (before, after) = out.split_once("\nafter-poll\n").unwrap();
    // The first line of LuCI's error (not its stack trace), and what to do.
    assert!(
        before.ends_with(
            "\nalert\tCould not ask sipnat for its status: RPC call to sipnat/status failed with \
             error -32000: Object not found The ubus object \"sipnat\" is missing: check that the \
             sipnat package is installed, then run /etc/init.d/rpcd reload."
        ),
        "{before}"
    );
    assert!(!before.contains("not running"), "{before}");
    assert!(after.contains("\nh3\tInstance general\n"), "{after}");
    assert!(has_row(&rows(&out, false), &["Version", "0.1.0"]));
}

/// Prints `key<TAB>value` facts of a JSON file through node's JSON.parse.
fn json_facts(file: &Path, expr: &str) -> String {
    node_ok(&[
        &"-e",
        &format!(
            "const j = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')); {expr}"
        ),
        &file,
    ])
}

#[test]
fn json_files_parse_and_menu_and_acl_grant_what_the_pages_use() {
    let json = files(&app(), ".json");
    assert_eq!(json.len(), 2, "{json:?}");
    for f in &json {
        json_facts(f, "");
    }
    let menu = json_facts(
        &app().join("root/usr/share/luci/menu.d/luci-app-sipnat.json"),
        "for (const k of Object.keys(j).sort()) console.log([k, j[k].action.type, j[k].action.path || '-', \
         JSON.stringify(j[k].depends || null)].join('\\t'));",
    );
    assert_eq!(
        menu,
        "admin/services/sipnat\tfirstchild\t-\t{\"acl\":[\"luci-app-sipnat\"],\"uci\":{\"sipnat\":true}}\n\
         admin/services/sipnat/settings\tview\tsipnat/settings\tnull\n\
         admin/services/sipnat/status\tview\tsipnat/status\tnull\n"
    );
    for p in ["settings", "status"] {
        assert!(view(p).is_file(), "the menu's view sipnat/{p} is missing");
    }
    let acl = json_facts(
        &app().join("root/usr/share/rpcd/acl.d/luci-app-sipnat.json"),
        "console.log(Object.keys(j).join(',')); const a = j['luci-app-sipnat']; \
         console.log(JSON.stringify(a.read)); console.log(JSON.stringify(a.write));",
    );
    assert_eq!(
        acl,
        "luci-app-sipnat\n\
         {\"ubus\":{\"sipnat\":[\"status\",\"registrations\",\"calls\"]},\"uci\":[\"sipnat\"]}\n\
         {\"uci\":[\"sipnat\"]}\n"
    );
    // The status page calls only what the ACL grants.
    let status = fs::read_to_string(view("status")).unwrap();
    assert!(status.contains("object: 'sipnat'") && status.contains("method: 'status'"));
}

#[test]
fn translation_template_is_up_to_date_and_complete() {
    let script = app().join("gen-pot.js");
    let said = node_ok(&[&script, &"--check"]);
    assert!(said.contains("is up to date"), "{said}");
    let pot = fs::read_to_string(app().join("po/templates/sipnat.pot")).unwrap();
    // strings of both views and of the menu
    for s in [
        "msgid \"Relay audio\"",
        "msgid \"No call in progress.\"",
        "msgid \"SIP NAT proxy\"",
        "msgid \"Status\"",
    ] {
        assert!(pot.contains(s), "{s} missing");
    }
    // A _() whose argument is not a literal cannot be translated: refused.
    let dir = scratch("pot");
    let views = dir.join("htdocs/luci-static/resources/view/x");
    fs::create_dir_all(&views).unwrap();
    fs::copy(&script, dir.join("gen-pot.js")).unwrap();
    fs::write(views.join("x.js"), "'use strict';\nconst a = _(name);\n").unwrap();
    let o = node(&[&dir.join("gen-pot.js"), &"--stdout"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("x.js:2: the argument of _() is not a string literal"),
        "{err}"
    );
    let _ = fs::remove_dir_all(&dir);
}

mod package;
