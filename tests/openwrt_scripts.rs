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
//! `busybox sh`, OpenWrt's own shell.
//!
//! What these tests need: `sh`, `awk`, `diff`, `cmp`, and `shellcheck` for the
//! static check (`tests/setup-deps.sh` installs it). Without shellcheck the
//! shellcheck test FAILS unless `SIPNAT_SKIP_SHELLCHECK=1` is set.
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
