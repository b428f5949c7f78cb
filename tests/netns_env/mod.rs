//! What every network-namespace test file needs from the machine: running
//! a command, telling why this machine cannot run the tests (not root, a
//! tool missing, `ip netns` refused), the tail of a log for a failure
//! message, reading the SIP text a plain socket received, and building
//! the load tool `sipnat-load` the media tests run, and a stand-in DNS
//! server (`dns`). Each file keeps its own topology (`Lab`). (netns_tcp.rs still carries its own
//! copies of the SIP readers.)
#![allow(dead_code)]

pub mod dns;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Run `cmd args` with no input; `None` when it cannot be started.
pub fn sh(cmd: &str, args: &[&str]) -> Option<Output> {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
}

/// Why this machine cannot run the tests, if it cannot: they need root,
/// every program in `tools` (tests/setup-deps.sh installs them) and a
/// working `ip netns add` (probed with a namespace named after `id`).
pub fn environment_problem(id: &str, tools: &[&str]) -> Option<String> {
    let uid = sh("id", &["-u"]).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        return Some(format!(
            "must run as root (network namespaces, {})",
            tools.join(", ")
        ));
    }
    for tool in tools {
        let found =
            sh("sh", &["-c", &format!("command -v {tool}")]).is_some_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "'{tool}' not found (tests/setup-deps.sh installs it)"
            ));
        }
    }
    let probe = format!("snp-{id}");
    let ok = sh("ip", &["netns", "add", &probe]).is_some_and(|o| o.status.success());
    let _ = sh("ip", &["netns", "del", &probe]);
    if !ok {
        return Some("'ip netns add' does not work here".into());
    }
    None
}

/// The load tool `sipnat-load` (a cargo example) next to the running
/// test: <target>/<profile>/deps/<test> → <target>/<profile>/examples/.
///
/// Plain `cargo test` builds examples, but `cargo test --all-targets` (CI)
/// builds them only as test harnesses and `cargo test --test X` not at
/// all; so with `build` this runs `cargo build --example sipnat-load` into
/// the test's own target directory and profile (cargo releases its lock
/// while tests run; a fresh tool makes it a no-op). Either way a tool older
/// than its source is refused.
pub fn build_load_tool(build: bool) -> Result<PathBuf, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the test binary does not live in <target>/<profile>/deps")?;
    let tool = profile_dir.join("examples").join("sipnat-load");
    let target_dir = profile_dir
        .parent()
        .filter(|t| t.join("CACHEDIR.TAG").is_file());
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let how = "build it with `cargo build --example sipnat-load` (same profile and target)";
    if let Some(target_dir) = target_dir.filter(|_| build) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "--example",
            "sipnat-load",
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(manifest);
        match profile {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            p => {
                cmd.args(["--profile", p]);
            }
        }
        match cmd.output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Err(format!(
                    "building sipnat-load failed:\n{}",
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
            // no cargo here (binaries copied elsewhere): use what exists
            Err(e) => eprintln!("cannot run cargo ({e}); using {}", tool.display()),
        }
    }
    if !tool.is_file() {
        return Err(format!("{} not found: {how}", tool.display()));
    }
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    for src in ["tests/tools/sipnat_load.rs", "tests/tools/load_core.rs"] {
        if modified(&tool) < modified(&manifest.join(src)) {
            return Err(format!("{} is older than {src}: {how}", tool.display()));
        }
    }
    Ok(tool)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---- reading SIP text (what a test's plain sockets received)

/// The start line of a SIP message.
pub fn first_line(msg: &str) -> &str {
    msg.split("\r\n").next().unwrap_or("")
}

/// Every value of header `name` (full name, or its compact form), in order.
pub fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    let compact = match name.to_ascii_lowercase().as_str() {
        "via" => "v",
        "from" => "f",
        "to" => "t",
        "call-id" => "i",
        "contact" => "m",
        "content-type" => "c",
        "content-length" => "l",
        _ => "",
    };
    let head = msg.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| {
            let n = n.trim();
            n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(compact)
        })
        .map(|(_, v)| v.trim())
        .collect()
}

pub fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    headers(msg, name).first().copied().unwrap_or("")
}

/// The URI inside `<...>` of a name-addr value.
pub fn uri_of(name_addr: &str) -> &str {
    name_addr
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map_or(name_addr, |(u, _)| u)
}

/// The body of a SIP message.
pub fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |x| x.1)
}
