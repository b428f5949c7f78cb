//! sipnat follows its interfaces' addresses as the kernel changes them
//! (`src/driver/addrs.rs`: an rtnetlink watch, issue 15): a new WAN address
//! (a PPPoE reconnect) and a LAN address taken away are in force at once,
//! said in the log as found by the watch, and shown by `sipnat status`.
//!
//! One network namespace with two interfaces (`lan0`, `wan0`, veths); the
//! real binary runs in it. Needs root and `ip netns`; the namespace is
//! named after this process and removed even when the test fails.

mod netns_env;

use netns_env::{environment_problem, sh, tail};
use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Long enough for a state to be reached on a busy machine; never a
/// measure of speed (the log says which mechanism saw the change).
const SETTLE: Duration = Duration::from_secs(10);

struct Lab {
    ns: String,
    work: PathBuf,
    sipnat: Option<Child>,
}

impl Lab {
    fn new() -> Option<Lab> {
        let id = format!("{:x}", std::process::id());
        if let Some(why) = environment_problem(&format!("a{id}"), &["ip"]) {
            if std::env::var("SIPNAT_SKIP_NETNS").is_ok_and(|v| v == "1") {
                println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
                return None;
            }
            panic!("the address-watch test cannot run here: {why} (SIPNAT_SKIP_NETNS=1 skips it)");
        }
        let work = std::env::temp_dir().join(format!("sipnat-addrs-{id}"));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).expect("work dir");
        let lab = Lab {
            ns: format!("sna-{id}"),
            work,
            sipnat: None,
        };
        lab.ip(&["netns", "add", &lab.ns]);
        for args in [
            &["link", "set", "lo", "up"][..],
            // veth pairs whose far ends stay unused (this kernel may have
            // no dummy interfaces)
            &[
                "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p",
            ],
            &[
                "link", "add", "wan0", "type", "veth", "peer", "name", "wan0p",
            ],
            &["link", "set", "lan0", "up"],
            &["link", "set", "wan0", "up"],
            &["link", "set", "lan0p", "up"],
            &["link", "set", "wan0p", "up"],
            &["addr", "add", "10.99.1.1/24", "dev", "lan0"],
            &["addr", "add", "198.51.100.7/24", "dev", "wan0"],
        ] {
            lab.ip_ns(args);
        }
        Some(lab)
    }

    fn ip(&self, args: &[&str]) {
        let out = sh("ip", args).expect("ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ip_ns(&self, args: &[&str]) {
        let mut all = vec!["-n", self.ns.as_str()];
        all.extend_from_slice(args);
        self.ip(&all);
    }

    fn log(&self) -> String {
        fs::read_to_string(self.work.join("sipnat.log")).unwrap_or_default()
    }

    fn start(&mut self) {
        let conf = self.work.join("sipnat.conf");
        fs::write(
            &conf,
            "if_inbound = lan0\nif_outbound = wan0\nsip_listen_port = 5060\n\
             rtp_port_low = 20000\nrtp_port_high = 20019\n",
        )
        .expect("sipnat.conf");
        let log = File::create(self.work.join("sipnat.log")).expect("log");
        self.sipnat = Some(
            Command::new("ip")
                .args(["netns", "exec", &self.ns])
                .arg(env!("CARGO_BIN_EXE_sipnat"))
                .args(["-f", "-c"])
                .arg(&conf)
                .arg("--control")
                .arg(self.work.join("sipnat.sock"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("cannot start sipnat"),
        );
        self.wait("sipnat answers on its control socket", || {
            self.status().contains("\"wan_address\":\"198.51.100.7\"")
        });
    }

    fn status(&self) -> String {
        Command::new(env!("CARGO_BIN_EXE_sipnat"))
            .args(["status", "--json", "--control"])
            .arg(self.work.join("sipnat.sock"))
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    fn wait(&self, what: &str, mut done: impl FnMut() -> bool) {
        let end = Instant::now() + SETTLE;
        while !done() {
            assert!(
                Instant::now() < end,
                "{what}: not after {SETTLE:?}\nsipnat's log:\n{}",
                tail(&self.log(), 30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.sipnat.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = sh("ip", &["netns", "del", &self.ns]);
        if std::thread::panicking() {
            eprintln!("sipnat's log:\n{}", tail(&self.log(), 40));
        } else {
            let _ = fs::remove_dir_all(&self.work);
        }
    }
}

#[test]
fn netns_addresses_follow_the_kernel_at_once() {
    let Some(mut lab) = Lab::new() else {
        return;
    };
    lab.start();

    // The WAN address changes, as a PPPoE reconnect changes it.
    lab.ip_ns(&["addr", "del", "198.51.100.7/24", "dev", "wan0"]);
    lab.ip_ns(&["addr", "add", "198.51.100.8/24", "dev", "wan0"]);
    lab.wait("the new WAN address is in force", || {
        lab.status().contains("\"wan_address\":\"198.51.100.8\"")
    });
    let log = lab.log();
    let line = log
        .lines()
        .find(|l| l.contains("interface addresses now: WAN 198.51.100.8"))
        .unwrap_or_else(|| panic!("no log line for the change:\n{log}"));
    // Found by the watch, not by the refresh a few seconds later.
    assert!(line.contains("(address watch)"), "{line}");

    // The LAN address taken away, then another given.
    lab.ip_ns(&["addr", "del", "10.99.1.1/24", "dev", "lan0"]);
    lab.wait("no LAN network left", || {
        lab.status().contains("\"lan_addresses\":[]")
    });
    lab.ip_ns(&["addr", "add", "10.99.2.1/24", "dev", "lan0"]);
    lab.wait("the new LAN network is in force", || {
        lab.status()
            .contains("\"lan_addresses\":[\"10.99.2.1/24\"]")
    });
    assert!(
        lab.log().contains("LAN 10.99.2.1/24 (address watch)"),
        "{}",
        lab.log()
    );
}
