//! sipnat follows its interfaces' addresses as the kernel changes them
//! (`src/driver/addrs.rs`: an rtnetlink watch, issue 15): a new WAN address
//! (a PPPoE reconnect) and a LAN address taken away are in force at once,
//! said in the log as found by the watch, and shown by `sipnat status`.
//!
//! One network namespace with two interfaces (`lan0`, `wan0`, veths); the
//! real binary runs in it. Needs root and `ip netns`; the namespace is
//! named after this process and removed even when the test fails.
//!
//! IPv6 (issue 14): `tests/netns/topo.sh up ID --ip6 both` with sipnat in
//! the router namespace; the router's WAN IPv6 address replaced, its LAN
//! IPv6 network renumbered, and an address still in duplicate address
//! detection (tentative) never named on the WAN. The namespaces are named
//! after this process and taken down even when the test fails.

mod netns_env;

use netns_env::{environment_problem, sh, tail};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
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

/// `topo.sh up ID --ip6 both` under this process's ID, sipnat in the
/// router namespace; dropped: sipnat killed (by its handle), then `topo.sh
/// down`, also when the test panics (then the log is printed and the work
/// directory kept).
struct Lab6 {
    id: String,
    work: PathBuf,
    sipnat: Option<Child>,
}

impl Lab6 {
    fn new() -> Option<Lab6> {
        let id = format!("a6{:x}", std::process::id());
        if let Some(why) = environment_problem(&id, &["ip", "sysctl"]) {
            if std::env::var("SIPNAT_SKIP_NETNS").is_ok_and(|v| v == "1") {
                println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
                return None;
            }
            panic!(
                "the IPv6 address-watch test cannot run here: {why} (SIPNAT_SKIP_NETNS=1 skips it)"
            );
        }
        let work = std::env::temp_dir().join(format!("sipnat-addrs6-{id}"));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).expect("work dir");
        // Made first: a half-made topology is taken down too.
        let lab = Lab6 {
            id,
            work,
            sipnat: None,
        };
        let out = Command::new(Self::topo())
            .args(["up", &lab.id, "--ip6", "both"])
            .stdin(Stdio::null())
            .output()
            .expect("topo.sh");
        assert!(
            out.status.success(),
            "topo.sh up {} --ip6 both: {}",
            lab.id,
            String::from_utf8_lossy(&out.stderr)
        );
        Some(lab)
    }

    fn topo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/topo.sh")
    }

    fn router(&self) -> String {
        format!("snr-{}", self.id)
    }

    /// `ip -n ROUTER ARGS`, its output; panics when it fails.
    fn ip(&self, args: &[&str]) -> String {
        let ns = self.router();
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        let out = sh("ip", &all).expect("ip");
        assert!(
            out.status.success(),
            "ip {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn sysctl(&self, setting: &str) {
        let out = sh(
            "ip",
            &["netns", "exec", &self.router(), "sysctl", "-qw", setting],
        )
        .expect("sysctl");
        assert!(
            out.status.success(),
            "sysctl {setting}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn log(&self) -> String {
        fs::read_to_string(self.work.join("sipnat.log")).unwrap_or_default()
    }

    fn start(&mut self) {
        let conf = self.work.join("sipnat.conf");
        fs::write(
            &conf,
            "if_inbound = rlan\nif_outbound = rwan\nsip_listen_port = 5060\n\
             rtp_port_low = 20000\nrtp_port_high = 20019\n",
        )
        .expect("sipnat.conf");
        let log = File::create(self.work.join("sipnat.log")).expect("log");
        self.sipnat = Some(
            Command::new("ip")
                .args(["netns", "exec", &self.router()])
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
        self.wait("sipnat answers with its IPv6 WAN address", SETTLE, || {
            self.config()["wan_address6"] == "2001:db8:100::1"
        });
    }

    /// `config` of the one instance in `sipnat status --json` (null when
    /// it does not answer).
    fn config(&self) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_sipnat"))
            .args(["status", "--json", "--control"])
            .arg(self.work.join("sipnat.sock"))
            .stdin(Stdio::null())
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        v["instances"][0]["config"].clone()
    }

    fn wait(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let end = Instant::now() + limit;
        while !done() {
            assert!(
                Instant::now() < end,
                "{what}: not after {limit:?}\nstatus config: {}\nsipnat's log:\n{}",
                self.config(),
                tail(&self.log(), 30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log line that first shows `what`; it must say the address
    /// watch found it (the refresh comes every 60 s: never in this test).
    fn by_the_watch(&self, what: &str) {
        let log = self.log();
        let line = log
            .lines()
            .find(|l| l.contains(&format!("interface addresses now: {what}")))
            .unwrap_or_else(|| panic!("no log line for {what:?}:\n{log}"));
        assert!(line.ends_with("(address watch)"), "{line}");
    }
}

impl Drop for Lab6 {
    fn drop(&mut self) {
        if let Some(mut c) = self.sipnat.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new(Self::topo())
            .args(["down", &self.id])
            .stdin(Stdio::null())
            .output();
        if std::thread::panicking() {
            eprintln!(
                "sipnat's log ({}):\n{}",
                self.work.display(),
                tail(&self.log(), 40)
            );
        } else {
            let _ = fs::remove_dir_all(&self.work);
        }
    }
}

#[test]
fn netns_ipv6_addresses_follow_the_kernel_at_once() {
    let Some(mut lab) = Lab6::new() else {
        return;
    };
    lab.start();
    let c = lab.config();
    assert_eq!(
        c["lan_addresses"],
        serde_json::json!(["10.77.1.1/24", "2001:db8:77:1::1/64", "fd77:1::1/64"]),
        "{c}"
    );

    // The WAN's IPv6 address replaced (a new prefix after a reconnect).
    lab.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:100::9/64",
        "dev",
        "rwan",
        "nodad",
    ]);
    lab.ip(&["-6", "addr", "del", "2001:db8:100::1/64", "dev", "rwan"]);
    lab.wait("the new IPv6 WAN address is in force", SETTLE, || {
        lab.config()["wan_address6"] == "2001:db8:100::9"
    });
    lab.by_the_watch("WAN 198.51.100.1 2001:db8:100::9,");
    assert_eq!(lab.config()["wan_address"], "198.51.100.1");

    // The LAN renumbered: the new network given, the old one taken away.
    lab.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:78:1::1/64",
        "dev",
        "rlan",
        "nodad",
    ]);
    lab.ip(&["-6", "addr", "del", "2001:db8:77:1::1/64", "dev", "rlan"]);
    let renumbered = serde_json::json!(["10.77.1.1/24", "2001:db8:78:1::1/64", "fd77:1::1/64"]);
    lab.wait("the renumbered LAN is in force", SETTLE, || {
        lab.config()["lan_addresses"] == renumbered
    });
    lab.by_the_watch("WAN 198.51.100.1 2001:db8:100::9, LAN 10.77.1.1/24 2001:db8:78:1::1/64 (");
    assert_eq!(lab.config()["wan_address6"], "2001:db8:100::9");

    // An address in duplicate address detection is not the router's yet
    // (the kernel will not send from it): never named. DAD on rwan, slow
    // enough (up to 1 s delay, then 2 probes 3 s apart) that the reads
    // below see it tentative; the provider does not answer for ::7.
    lab.sysctl("net.ipv6.conf.rwan.accept_dad=1");
    lab.sysctl("net.ipv6.conf.rwan.dad_transmits=2");
    lab.sysctl("net.ipv6.neigh.rwan.retrans_time_ms=3000");
    lab.ip(&["-6", "addr", "add", "2001:db8:100::7/64", "dev", "rwan"]);
    let tentative = || {
        lab.ip(&["-6", "addr", "show", "dev", "rwan"])
            .lines()
            .any(|l| l.contains("2001:db8:100::7/64") && l.contains("tentative"))
    };
    assert!(
        tentative(),
        "{}",
        lab.ip(&["-6", "addr", "show", "dev", "rwan"])
    );
    // The only other global address goes: a read after both changes.
    lab.ip(&["-6", "addr", "del", "2001:db8:100::9/64", "dev", "rwan"]);
    lab.wait("no IPv6 WAN address while ::7 is tentative", SETTLE, || {
        lab.config()["wan_address6"].is_null()
    });
    // Still tentative after that read: it was seen and left alone.
    assert!(
        tentative(),
        "DAD ended before sipnat's read (a very slow machine?): {}",
        lab.ip(&["-6", "addr", "show", "dev", "rwan"])
    );
    lab.by_the_watch("WAN 198.51.100.1, LAN");
    // DAD over: the kernel says so (RTM_NEWADDR), the watch takes it.
    lab.wait(
        "the address is in force once DAD is over",
        SETTLE * 2,
        || lab.config()["wan_address6"] == "2001:db8:100::7",
    );
    lab.by_the_watch("WAN 198.51.100.1 2001:db8:100::7,");
}
