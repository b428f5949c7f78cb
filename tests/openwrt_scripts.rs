//! sipnat's OpenWrt shell scripts under `cargo test`: the procd service
//! `init.d/sipnat` and the siproxd import `openwrt/files/sipnat.uci-defaults`.
//!
//! Each test runs one group of `tests/openwrt/run.sh` (POSIX sh; it can be run
//! by hand, see its header), which executes the scripts against fixture
//! configurations with stubs written for this project in place of OpenWrt's
//! rc.common, functions.sh, network.sh, procd.sh, uci, logger and fw4, and
//! compares the exact log of procd/json/logger calls (and, for the import,
//! `uci show sipnat` after two runs) with `tests/openwrt/cases/*/expected`.
//! The scripts run under `sh` and, when busybox is installed, also under
//! `busybox sh`, OpenWrt's own shell. The import runs as on a router: in a
//! chroot laid out like one (busybox as the userland, /etc/config,
//! /tmp/.uci, the stubs at OpenWrt's paths), with no IPKG_INSTROOT, through
//! the loop OpenWrt's boot and default_postinst run over /etc/uci-defaults.
//!
//! What these tests need: `sh`, `awk`, `diff`, `cmp`, and `shellcheck` for the
//! static check (`tests/setup-deps.sh` installs it); for the import, root
//! (chroot, and mknod for the chroot's /dev/null) and busybox: without them
//! that test FAILS, saying so. Without shellcheck the shellcheck test FAILS
//! unless `SIPNAT_SKIP_SHELLCHECK=1` is set.
//!
//! What they do not do: run procd, netifd or firewall4, or check that the
//! file written by the import is read by sipnat's UCI reader (tests/uci.rs
//! covers a migrated siproxd configuration).

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openwrt/run.sh")
}

/// Runs one group of run.sh and fails the test with its report unless every
/// check in it passed.
fn run_group(group: &str) {
    let out = Command::new("sh")
        .arg(script())
        .arg(group)
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh {}: {e}", script().display()));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(
        out.status.success(),
        "tests/openwrt/run.sh {group} failed ({}):\n{report}",
        out.status
    );
    // The closing line says how many checks ran; an empty group is a failure.
    let summary = report
        .lines()
        .rev()
        .find(|l| l.ends_with(" failed"))
        .unwrap_or_else(|| panic!("no summary line from run.sh {group}:\n{report}"));
    assert!(
        summary.ends_with(" 0 failed") && !summary.starts_with("0 passed"),
        "run.sh {group}: {summary}\n{report}"
    );
}

#[test]
fn init_script_procd_calls() {
    run_group("init");
}

#[test]
fn uci_defaults_siproxd_import() {
    run_group("migrate");
}

#[test]
fn scripts_are_shellcheck_clean() {
    if std::env::var("SIPNAT_SKIP_SHELLCHECK").is_ok_and(|v| v == "1") {
        // run.sh prints that it skipped and passes no check: accept that.
        let out = Command::new("sh")
            .arg(script())
            .arg("shellcheck")
            .output()
            .unwrap_or_else(|e| panic!("cannot run sh {}: {e}", script().display()));
        let report = String::from_utf8_lossy(&out.stdout);
        println!("{report}");
        assert!(
            report.contains("skip shellcheck") || out.status.success(),
            "tests/openwrt/run.sh shellcheck failed:\n{report}"
        );
        return;
    }
    run_group("shellcheck");
}

/// The init script's check of `wan_sip_allow` entries: what it lets into a
/// firewall rule's src_ip must be an IPv4 or IPv6 address or network,
/// exactly the forms sipnat's own check (the access lists' parser) accepts, so a
/// typo never turns into a rule wider than asked. The script only defines
/// functions at the top level, so it can be sourced on its own.
#[test]
fn wan_sip_allow_entries_are_checked_before_they_reach_the_firewall() {
    let init = Path::new(env!("CARGO_MANIFEST_DIR")).join("init.d/sipnat");
    let cases = [
        ("203.0.113.0/24", true),
        ("198.51.100.7", true),
        ("0.0.0.0/0", true),
        ("255.255.255.255/32", true),
        ("10.0.0.0/8", true),
        ("256.1.1.1", false),
        ("1.2.3", false),
        ("1.2.3.4.5", false),
        ("1.2.3.4/33", false),
        ("1.2.3.4/", false),
        ("1.2.3.4/24/8", false),
        ("1.2.3.4/255.255.255.0", false),
        ("1..3.4", false),
        ("1.2.3.4.", false),
        ("-1.2.3.4", false),
        ("1234.1.1.1", false),
        ("sip.provider.example", false),
        ("2001:db8::1", true),
        ("2001:db8::/32", true),
        ("::", true),
        ("::/0", true),
        ("::1", true),
        ("fe80::1/64", true),
        ("1:2:3:4:5:6:7:8", true),
        ("1:2:3:4:5:6:7::", true),
        ("::ffff:192.0.2.1", true),
        ("1:2:3:4:5:6:192.0.2.1", true),
        ("2001:DB8:0000::AbCd/128", true),
        ("2001:db8::/129", false),
        ("2001:db8::/", false),
        ("2001:db8:::1", false),
        ("1::2::3", false),
        ("1:2:3:4:5:6:7:8:9", false),
        ("1:2:3:4:5:6:7:8::", false),
        ("12345::1", false),
        ("2001:db8::g", false),
        ("::ffff:192.0.2", false),
        ("::1.2.3.4:5", false),
        ("1:2:3:4:5:6:7:192.0.2.1", false),
        ("[2001:db8::1]", false),
        ("fe80::1%eth0", false),
        (":1::2", false),
        ("!203.0.113.1", false),
        ("", false),
    ];
    for sh in ["sh", "busybox sh"] {
        let mut words = sh.split(' ');
        let prog = words.next().expect("a shell");
        if Command::new(prog).arg("-c").arg("true").output().is_err() {
            continue; // busybox is optional
        }
        for (entry, ok) in cases {
            let out = Command::new(prog)
                .args(words.clone())
                .arg("-c")
                .arg(". \"$0\"; sipnat_ip_net \"$1\"")
                .arg(&init)
                .arg(entry)
                .output()
                .expect("the shell runs");
            assert_eq!(out.status.success(), ok, "[{sh}] {entry:?}: {out:?}");
            // sipnat's own check agrees, both ways (the init script's rule
            // is never wider, and never refuses what sipnat takes)
            if !entry.is_empty() {
                let mut acl = sipnat::config::Acl::default();
                let took = acl.extend_from_list(entry);
                assert_eq!(
                    took.is_ok(),
                    ok,
                    "sipnat and the script disagree on {entry:?}: {took:?}"
                );
            }
        }
    }
}
