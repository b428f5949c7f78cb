//! What every network-namespace test file needs from the machine: running
//! a command, telling why this machine cannot run the tests (not root, a
//! tool missing, `ip netns` refused), the tail of a log for a failure
//! message, and reading the SIP text a plain socket received. Each file
//! keeps its own topology (`Lab`). (netns_tcp.rs still carries its own
//! copies of the SIP readers.)
#![allow(dead_code)]

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
