//! The topology of one IPv6 scenario with its processes: `topo.sh up ID
//! --ip6 both` under a unique ID, sipnat in the router namespace (its
//! status read over its control socket), `sipnat-load` or anything else
//! started in a namespace, and tcpdump on the router's interfaces.
//!
//! Dropping a [`Lab`] kills every process it started (by its own handle),
//! then removes the namespaces, also when the test panics; then it prints
//! the tail of sipnat's log and keeps the work directory (sipnat.log, the
//! load tool's reports, the captures), else removes it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{Capture, TopoGuard, skip_allowed, wait_until};
use crate::netns_env::{build_load_tool, environment_problem, tail};

/// The load tool, built once per run by the first test that needs it.
pub(super) fn load_tool() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build_load_tool(true))
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

static NEXT: AtomicU32 = AtomicU32::new(0);

pub(super) struct Lab {
    pub id: String,
    pub name: &'static str,
    pub work: PathBuf,
    procs: Vec<(String, Child)>,
    captures: Vec<(String, Capture)>,
    sipnat_started: bool,
    /// Dropped after the processes are gone ([`Drop`] kills them first).
    _topo: TopoGuard,
}

impl Lab {
    /// `topo.sh up ID --ip6 IP6` under an ID of its own. `None`: this
    /// machine cannot run it and SIPNAT_SKIP_NETNS=1 says skip.
    pub fn new(name: &'static str, ip6: &str) -> Option<Lab> {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("v6m{:x}{n}", std::process::id());
        if let Some(why) = environment_problem(&id, &["ip", "tcpdump", "ss"]) {
            assert!(
                skip_allowed(),
                "the IPv6 netns tests cannot run here: {why}\n\
                 (tests/setup-deps.sh; SIPNAT_SKIP_NETNS=1 skips them)"
            );
            println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
            return None;
        }
        let work = std::env::temp_dir().join(format!("sipnat-v6-{id}-{name}"));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).expect("work dir");
        let topo = TopoGuard(id.clone());
        let up = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/topo.sh"))
            .args(["up", &id, "--ip6", ip6])
            .output()
            .expect("topo.sh");
        assert!(
            up.status.success(),
            "topo.sh up {id} --ip6 {ip6}: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        Some(Lab {
            id,
            name,
            work,
            procs: Vec::new(),
            captures: Vec::new(),
            sipnat_started: false,
            _topo: topo,
        })
    }

    /// The namespace of `role`: 'l' phone, 'r' router, 'w' provider.
    pub fn ns(&self, role: char) -> String {
        format!("sn{role}-{}", self.id)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.work.join(file)
    }

    /// `ip -n NS ARGS` in `role`'s namespace; panics when it fails.
    pub fn ip(&self, role: char, args: &[&str]) {
        let out = Command::new("ip")
            .args(["-n", &self.ns(role)])
            .args(args)
            .output()
            .expect("ip");
        assert!(
            out.status.success(),
            "ip -n {} {args:?}: {}",
            self.ns(role),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Start `cmd args` in `role`'s namespace, its output to `<name>.out`.
    pub fn spawn(&mut self, name: &str, role: char, cmd: &Path, args: &[String]) {
        let out = fs::File::create(self.path(&format!("{name}.out"))).expect("log file");
        let err = out.try_clone().expect("log file");
        let line = format!(
            "ip netns exec {} {} {}\n",
            self.ns(role),
            cmd.display(),
            args.join(" ")
        );
        fs::write(self.path(&format!("{name}.cmd")), line).expect("cmd file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(role)])
            .arg(cmd)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.procs.push((name.to_string(), child));
    }

    /// Wait up to `limit` for process `name`; one that overstays is
    /// killed and the test fails.
    pub fn wait(&mut self, name: &str, limit: Duration) -> ExitStatus {
        let end = Instant::now() + limit;
        let i = self
            .procs
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no process {name}"));
        loop {
            if let Some(st) = self.procs[i].1.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() >= end {
                let _ = self.procs[i].1.kill();
                let _ = self.procs[i].1.wait();
                panic!("{name} did not finish within {limit:?} (killed)");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Until something listens on UDP `ip`:`port` in `role` (`ss` prints
    /// IPv6 addresses bracketed).
    pub fn wait_udp(&self, role: char, ip: &str, port: u16) {
        let want = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        let ns = self.ns(role);
        wait_until(&format!("UDP {want} bound in {ns}"), 5, || {
            Command::new("ip")
                .args(["netns", "exec", &ns, "ss", "-Hlun"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&want))
        });
    }

    /// sipnat in the router namespace (relay ports 20000–20099), once its
    /// status shows an IPv6 LAN network.
    pub fn start_sipnat(&mut self) {
        let conf = format!(
            "# written by tests/netns_v6/lab.rs\n\
             if_inbound = rlan\nif_outbound = rwan\nsip_listen_port = 5060\n\
             rtp_proxy_enable = 1\nrtp_port_low = 20000\nrtp_port_high = 20099\n\
             registration_file = {}\n",
            self.path("registrations").display()
        );
        fs::write(self.path("sipnat.conf"), conf).expect("sipnat.conf");
        let args: Vec<String> = ["-f", "-d", "2", "-c"]
            .iter()
            .map(|s| s.to_string())
            .chain([
                self.path("sipnat.conf").display().to_string(),
                "--control".into(),
                self.path("sipnat.sock").display().to_string(),
            ])
            .collect();
        self.spawn(
            "sipnat",
            'r',
            Path::new(env!("CARGO_BIN_EXE_sipnat")),
            &args,
        );
        self.sipnat_started = true;
        wait_until("sipnat answers its status", 10, || {
            self.status()["config"]["lan_addresses"]
                .as_array()
                .is_some_and(|a| a.len() > 1)
        });
    }

    /// The status of the one instance (`sipnat status --json`); null
    /// while it does not answer.
    pub fn status(&self) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_sipnat"))
            .args(["status", "--json", "--control"])
            .arg(self.path("sipnat.sock"))
            .stdin(Stdio::null())
            .output();
        let text = out.map(|o| o.stdout).unwrap_or_default();
        serde_json::from_slice::<serde_json::Value>(&text).unwrap_or_default()["instances"][0]
            .clone()
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.status()["counters"][name].as_u64().unwrap_or(0)
    }

    pub fn sipnat_log(&self) -> String {
        fs::read_to_string(self.path("sipnat.out")).unwrap_or_default()
    }

    /// tcpdump on `iface` of the router into `<file>`, started once it
    /// listens.
    pub fn capture(&mut self, iface: &str, file: &str) {
        let log = self.path(&format!("{file}.tcpdump"));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns('r'), "tcpdump", "-i", iface])
            .args(["-nn", "-U", "--immediate-mode", "-s", "0", "-Z", "root"])
            .arg("-w")
            .arg(self.path(file))
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("tcpdump log"))
            .spawn()
            .expect("tcpdump");
        self.captures.push((file.to_string(), Capture(Some(child))));
        wait_until(&format!("tcpdump listening on {iface}"), 5, || {
            fs::read_to_string(&log).is_ok_and(|l| l.contains("listening on"))
        });
    }

    /// Stop capture `file` (after a moment for the last packets) and
    /// return what it holds.
    pub fn stop_capture(&mut self, file: &str) -> Vec<u8> {
        std::thread::sleep(Duration::from_millis(200));
        let i = self
            .captures
            .iter()
            .position(|(f, _)| f == file)
            .unwrap_or_else(|| panic!("no capture {file}"));
        self.captures[i].1.stop();
        fs::read(self.path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    /// A JSON report of the load tool.
    pub fn report(&self, file: &str) -> serde_json::Value {
        let text = fs::read_to_string(self.path(file))
            .unwrap_or_else(|e| panic!("{file}: {e}\n{}", self.context()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}\n{text}"))
    }

    /// What a failure message shows: the tools' output and sipnat's log.
    pub fn context(&self) -> String {
        let mut s = format!("work dir {}\n", self.work.display());
        for f in ["uac.out", "uas.out"] {
            if let Ok(t) = fs::read_to_string(self.path(f)) {
                s.push_str(&format!("---- {f}\n{}\n", tail(&t, 20)));
            }
        }
        s.push_str(&format!(
            "---- sipnat.out (tail)\n{}\n",
            tail(&self.sipnat_log(), 60)
        ));
        s
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, c) in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.captures.clear();
        if std::thread::panicking() {
            if self.sipnat_started {
                eprintln!("[{}] {}", self.name, self.context());
            }
            eprintln!("[{}] work dir kept: {}", self.name, self.work.display());
        } else {
            let _ = fs::remove_dir_all(&self.work);
        }
    }
}
