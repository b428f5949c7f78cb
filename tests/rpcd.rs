//! The rpcd exec plugin (openwrt/files/sipnat.rpcd, installed as
//! /usr/libexec/rpcd/sipnat) run under busybox sh, OpenWrt's shell, the way
//! rpcd runs it: `list`, then `call METHOD` with the arguments as JSON on
//! stdin; its stdout must be one JSON object (rpcd's reply). Behind it the
//! real binary asks two real daemons on loopback through their control
//! sockets (in a directory of the test's own, `SIPNAT_CONTROL_DIR`), and
//! luci-app-sipnat's Status view draws the plugin's real answer (under
//! node, tests/luci/harness.js). Also checks that the package's ACL grants
//! exactly the plugin's methods.

mod binary_env;
mod status_schema;
use binary_env::*;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const PLUGIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openwrt/files/sipnat.rpcd");
const ACL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openwrt/files/sipnat.acl.json");

fn busybox() -> &'static str {
    let ok = Command::new("busybox")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "busybox not found: tests/setup-deps.sh installs it");
    "busybox"
}

/// Run the plugin with `args` and `input` on stdin; its stdout as JSON.
fn plugin(args: &[&str], input: &str, control_dir: &Path, bin: &str) -> Value {
    let mut child = Command::new(busybox())
        .arg("sh")
        .arg(PLUGIN)
        .args(args)
        .env("SIPNAT_BIN", bin)
        .env("SIPNAT_CONTROL_DIR", control_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // rpcd writes the arguments and closes stdin (no newline at the end);
    // a plugin may exit without reading them (an unknown method): a broken
    // pipe is no error, as for rpcd
    match child.stdin.take().unwrap().write_all(input.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("stdin: {e}"),
        _ => {}
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert!(v.is_object(), "rpcd takes an object only: {v}");
    v
}

/// luci-app-sipnat's Status view rendered by tests/luci/harness.js with
/// `answer` as the ubus reply (twice: the page, then one poll).
fn luci_status_page(answer: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let view =
        root.join("openwrt/luci-app-sipnat/htdocs/luci-static/resources/view/sipnat/status.js");
    let out = Command::new("node")
        .arg(root.join("tests/luci/harness.js"))
        .arg("status")
        .arg(view)
        .arg(answer)
        .arg(answer)
        .output()
        .expect("node not found: tests/setup-deps.sh installs nodejs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn list_names_the_methods_the_acl_grants() {
    let dir = tmp("rpcd-list");
    let v = plugin(&["list"], "", &dir, bin());
    let methods: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(methods, ["calls", "registrations", "status"]);
    for (_, args) in v.as_object().unwrap() {
        assert_eq!(args, &serde_json::json!({"instance": "str"}));
    }
    let acl: Value = serde_json::from_str(&std::fs::read_to_string(ACL).unwrap()).unwrap();
    let granted = &acl["sipnat"]["read"]["ubus"]["sipnat"];
    assert_eq!(
        granted,
        &serde_json::json!(["status", "registrations", "calls"])
    );
    assert!(acl["sipnat"]["write"].is_null(), "read-only");
}

#[test]
fn calls_answer_from_the_running_instances() {
    let dir = tmp("rpcd-call");
    let ctl = dir.join("run");
    std::fs::create_dir(&ctl).unwrap();
    let (da, db) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir(&da).unwrap();
    std::fs::create_dir(&db).unwrap();
    let a = Daemon::start_with(
        &loopback_conf(&da, 25210, 28500, ""),
        &da,
        &["--control", ctl.join("general.sock").to_str().unwrap()],
    );
    let b = Daemon::start_with(
        &loopback_conf(&db, 25220, 28600, ""),
        &db,
        &["--control", ctl.join("office.sock").to_str().unwrap()],
    );
    a.wait_log("listening");
    b.wait_log("listening");
    let ans = ask(25210, &register_local(25210, "alice"));
    assert!(ans.starts_with("SIP/2.0 200 OK"), "{ans}");

    // no arguments: every instance, every section
    let v = plugin(&["call", "status"], "{}", &ctl, bin());
    let list = v["instances"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    for i in list {
        status_schema::check_instance(i);
    }
    assert_eq!(list[0]["instance"], "general");
    assert_eq!(list[1]["instance"], "office");
    assert_eq!(
        list[0]["registrations"]["list"][0]["aor"],
        "alice@127.0.0.1"
    );

    // ...and LuCI's Status page (the view under node, tests/luci/harness.js)
    // draws that very answer: the real daemon's JSON, through the plugin
    let answer = dir.join("answer.json");
    std::fs::write(&answer, v.to_string()).unwrap();
    let page = luci_status_page(&answer);
    let row = page
        .lines()
        .find(|l| l.starts_with("row\talice@127.0.0.1\t"))
        .unwrap_or_else(|| panic!("no registration row on the page:\n{page}"));
    assert!(row.contains("sip:alice@127.0.0.1:5999"), "{row}");
    assert!(
        page.contains("office"),
        "the second instance is on the page:\n{page}"
    );
    assert!(!page.contains("alert"), "{page}");

    // one instance, one section
    let v = plugin(
        &["call", "registrations"],
        r#"{"instance":"general"}"#,
        &ctl,
        bin(),
    );
    let list = v["instances"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["registrations"]["count"], 1);
    assert!(list[0].get("calls").is_none(), "{v}");
    let v = plugin(
        &["call", "calls"],
        r#"{ "instance" : "office" }"#,
        &ctl,
        bin(),
    );
    status_schema::check_calls(&v["instances"][0]["calls"]);
    assert!(v["instances"][0].get("registrations").is_none(), "{v}");

    // an instance that is not running: named, with the reason
    let v = plugin(&["call", "status"], r#"{"instance":"gone"}"#, &ctl, bin());
    assert_eq!(v["instances"][0]["instance"], "gone");
    assert!(
        v["instances"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not running"),
        "{v}"
    );

    // a name that could leave the directory never reaches sipnat
    let v = plugin(
        &["call", "status"],
        r#"{"instance":"../../etc/x"}"#,
        &ctl,
        bin(),
    );
    assert_eq!(v["instances"], serde_json::json!([]), "{v}");
    assert!(v["error"].is_string(), "{v}");

    // a method rpcd did not list
    let v = plugin(&["call", "reboot"], "{}", &ctl, bin());
    assert!(v["error"].is_string(), "{v}");

    drop(a);
    drop(b);
    // none running (the sockets' directory is empty): still an object
    for f in std::fs::read_dir(&ctl).unwrap().flatten() {
        let _ = std::fs::remove_file(f.path());
    }
    let v = plugin(&["call", "status"], "", &ctl, bin());
    assert_eq!(v, serde_json::json!({"instances": []}));
    // sipnat itself missing
    let v = plugin(&["call", "status"], "", &ctl, "/nonexistent/sipnat");
    assert!(
        v["error"].as_str().unwrap().contains("not installed"),
        "{v}"
    );
}
