//! The control socket of the real binary (`--control PATH`): `sipnat
//! status [--json]` and `sipnat reload` against a daemon on loopback; the
//! socket's mode and owner, its removal at exit, a stale socket file
//! replaced, a second daemon on a live one, and the bound on clients.

mod binary_env;
mod status_schema;
use binary_env::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn client(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// `sipnat status --json --control SOCK [part]`: the one instance object.
fn status_json(sock: &Path, part: &[&str]) -> Value {
    let mut args = vec!["status", "--json", "--control", sock.to_str().unwrap()];
    args.extend_from_slice(part);
    let o = client(&args);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let list = v["instances"].as_array().expect("instances");
    assert_eq!(list.len(), 1, "{v}");
    list[0].clone()
}

/// Wait until `path` exists (the daemon made its socket).
fn wait_for(path: &Path, d: &Daemon) {
    let t0 = Instant::now();
    while !path.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no {}:\n{}",
            path.display(),
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn status_and_reload_through_the_control_socket() {
    let dir = tmp("ctl");
    let conf = loopback_conf(&dir, 25160, 28000, "");
    let sock = dir.join("general.sock");
    let d = Daemon::start_with(&conf, &dir, &["--control", sock.to_str().unwrap()]);
    d.wait_log("listening");
    wait_for(&sock, &d);
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660, "socket mode");

    let ans = ask(25160, &register_local(25160, "alice"));
    assert!(ans.starts_with("SIP/2.0 200 OK"), "{ans}");

    let v = status_json(&sock, &[]);
    status_schema::check_instance(&v);
    assert_eq!(v["instance"], "general", "named after the socket");
    assert_eq!(v["pid"], d.child.id());
    assert_eq!(v["config"]["sip_listen_port"], 25160);
    assert_eq!(v["config"]["rtp_port_low"], 28000);
    let regs = v["registrations"]["list"].as_array().unwrap();
    assert_eq!(regs.len(), 1, "{v}");
    assert_eq!(regs[0]["aor"], "alice@127.0.0.1");
    // where its REGISTER came from (RFC 3581), and its own Contact
    assert!(
        regs[0]["address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{v}"
    );
    assert_eq!(regs[0]["contact"], "sip:alice@127.0.0.1:5999");
    assert_eq!(regs[0]["registrar"], "local");
    assert!(
        v["counters"]["control.request"].as_u64().unwrap() >= 1,
        "{v}"
    );

    let calls = status_json(&sock, &["calls"]);
    status_schema::check_calls(&calls["calls"]);
    assert!(calls.get("registrations").is_none(), "{calls}");

    let o = client(&["status", "--control", sock.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("instance general"), "{t}");
    assert!(
        t.contains("Registrations: 1/512") && t.contains("alice@127.0.0.1"),
        "{t}"
    );

    // reload through the socket, as SIGHUP does
    let o = client(&["reload", "--control", sock.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "general: reloaded\n");
    d.wait_log("configuration reloaded");
    // a broken file: the answer says so, the running configuration stays
    let good = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, "no such option here\n").unwrap();
    let o = client(&["reload", "--control", sock.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not reloaded"), "{}", text(&o));
    std::fs::write(&conf, good).unwrap();

    // a request the daemon does not know is answered, not hung on
    let mut s = UnixStream::connect(&sock).unwrap();
    s.write_all(b"shutdown now\n").unwrap();
    let mut a = String::new();
    s.read_to_string(&mut a).unwrap();
    assert!(
        a.starts_with("error: unknown request 'shutdown now'"),
        "{a}"
    );

    let (code, log) = d.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!sock.exists(), "the socket goes with the daemon");
    // nobody answers now: the client says so and fails
    let o = client(&["status", "--json", "--control", sock.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["instances"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not running"),
        "{v}"
    );
}

#[test]
fn the_socket_belongs_to_user_after_the_privilege_drop() {
    if !is_root() {
        if std::env::var("SIPNAT_SKIP_NETNS").is_ok_and(|v| v == "1") {
            eprintln!("skipped: not root");
            return;
        }
        panic!("this test needs root (CI runs as root); set SIPNAT_SKIP_NETNS=1 to skip");
    }
    let dir = tmp("ctl-user");
    let conf = loopback_conf(&dir, 25170, 28100, "user = nobody\n");
    // as the init script does: the socket's directory is the user's
    let ctl = dir.join("run");
    std::fs::create_dir(&ctl).unwrap();
    let nobody = Command::new("id").args(["-u", "nobody"]).output().unwrap();
    let uid: u32 = String::from_utf8_lossy(&nobody.stdout)
        .trim()
        .parse()
        .unwrap();
    std::os::unix::fs::chown(&ctl, Some(uid), None).unwrap();
    let sock = ctl.join("sipnat.sock");
    let d = Daemon::start_with(&conf, &dir, &["--control", sock.to_str().unwrap()]);
    d.wait_log("running as nobody");
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.uid(), uid, "socket owner");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let v = status_json(&sock, &[]);
    assert_eq!(v["config"]["user"], "nobody");
    let (code, log) = d.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!sock.exists(), "removed by the unprivileged daemon");
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_kept() {
    let dir = tmp("ctl-stale");
    let sock = dir.join("x.sock");
    // a socket file nobody listens on: what a killed sipnat leaves
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let conf = loopback_conf(&dir, 25180, 28200, "");
    let d = Daemon::start_with(&conf, &dir, &["--control", sock.to_str().unwrap()]);
    d.wait_log("listening");
    assert_eq!(status_json(&sock, &[])["pid"], d.child.id());

    // a second sipnat given the same socket runs without one, and says so
    let dir2 = tmp("ctl-stale2");
    let conf2 = loopback_conf(&dir2, 25190, 28300, "");
    let d2 = Daemon::start_with(&conf2, &dir2, &["--control", sock.to_str().unwrap()]);
    let log = d2.wait_log("listening");
    assert!(log.contains("another sipnat answers there"), "{log}");
    let ans = ask(25190, &register_local(25190, "bob"));
    assert!(ans.starts_with("SIP/2.0 200 OK"), "{ans}");
    assert_eq!(
        status_json(&sock, &[])["pid"],
        d.child.id(),
        "the first keeps it"
    );
    let (code, _) = d2.stop();
    assert_eq!(code, Some(0));
    assert!(
        sock.exists(),
        "the second did not remove the first's socket"
    );
    let (code, _) = d.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn idle_clients_cannot_hold_the_socket() {
    let dir = tmp("ctl-busy");
    let conf = loopback_conf(&dir, 25200, 28400, "");
    let sock = dir.join("busy.sock");
    let d = Daemon::start_with(&conf, &dir, &["--control", sock.to_str().unwrap()]);
    d.wait_log("listening");
    wait_for(&sock, &d);
    // every client slot taken by a connection that never asks
    let idle: Vec<UnixStream> = (0..4)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // one more is closed at once, without an answer
    let mut extra = UnixStream::connect(&sock).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let _ = extra.write_all(b"status\n");
    let mut a = Vec::new();
    let n = extra.read_to_end(&mut a).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "a fifth client got an answer: {}",
        String::from_utf8_lossy(&a)
    );
    // SIP goes on meanwhile
    let ans = ask(25200, &register_local(25200, "carol"));
    assert!(ans.starts_with("SIP/2.0 200 OK"), "{ans}");
    // the idle ones are closed after their time (5 s), then status works
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        assert_eq!(
            s.read_to_end(&mut buf).unwrap(),
            0,
            "closed without an answer"
        );
    }
    let v = status_json(&sock, &[]);
    assert_eq!(v["counters"]["control.timeout"], 4, "{}", v["counters"]);
    assert!(
        v["counters"]["control.busy"].as_u64().unwrap() >= 1,
        "{}",
        v["counters"]
    );
    let (code, _) = d.stop();
    assert_eq!(code, Some(0));
}
