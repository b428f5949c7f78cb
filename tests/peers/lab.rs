//! The lab of the real-peers tests: one topology of `peers/topo.sh` with
//! kamailio, sipnat, the baresip phones and tcpdump in it, all stopped and
//! the namespaces removed when it is dropped.

use super::phone::{Phone, PhoneSpec};
use super::{Listen, Plan, Tp, WAIT, environment_problem, manifest, peers_dir, skip_allowed};
use crate::netns_env::{sh, tail};
use std::fs::{self, File};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// A process the lab started, stopped when the lab is dropped.
struct Proc {
    label: String,
    child: Child,
    log: PathBuf,
}

/// One topology with kamailio, sipnat and the phones in it. Dropping it
/// stops every process it started and removes the namespaces (also when
/// the test panics, and then it prints the tails of the logs and keeps the
/// work directory).
pub struct Lab {
    pub id: String,
    name: &'static str,
    pub work: PathBuf,
    procs: Vec<Proc>,
    sipnat_pid: Option<u32>,
    /// The addresses kamailio, W and sipnat's WAN side talk on.
    pub plan: Plan,
}

impl Lab {
    /// The topology of `peers/topo.sh`, with IPv6 where `plan` says.
    /// `None`: skipped (SIPNAT_SKIP_NETNS=1 on a machine that cannot run it).
    pub fn new(name: &'static str, plan: Plan) -> Option<Lab> {
        let n = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let id = format!("p{:x}{n}", std::process::id());
        if let Some(why) = environment_problem(&id, plan.ip6.is_some()) {
            if skip_allowed() {
                println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
                return None;
            }
            panic!(
                "the real-peers tests cannot run here: {why}\n\
                 They need root, `ip netns`, tcpdump, ss, kamailio and baresip \
                 (tests/setup-deps.sh).\nSet SIPNAT_SKIP_NETNS=1 to skip them on purpose."
            );
        }
        let work = std::env::temp_dir().join(format!("sipnat-peers-{id}-{name}"));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).expect("work dir");
        // Made before `topo.sh up` so that a half-made topology is removed too.
        let lab = Lab {
            id,
            name,
            work,
            procs: Vec::new(),
            sipnat_pid: None,
            plan,
        };
        let mut topo = Command::new("bash");
        topo.arg(peers_dir().join("topo.sh")).args(["up", &lab.id]);
        if let Some(sides) = plan.ip6 {
            topo.args(["--ip6", sides]);
        }
        let out = topo.output().expect("bash");
        assert!(
            out.status.success(),
            "peers/topo.sh up {} failed:\n{}{}",
            lab.id,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(lab)
    }

    /// Namespace of `role`: 'l' phone A, 'm' phone B, 'r' router, 'w'
    /// provider, 'x' phone W.
    pub fn ns(&self, role: char) -> String {
        format!("sn{role}-{}", self.id)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.work.join(file)
    }

    /// Start `cmd args` in the namespace of `role`, output to `label.log`.
    pub fn spawn(&mut self, label: &str, role: char, cmd: &str, args: &[&str]) -> u32 {
        let log = self.path(&format!("{label}.log"));
        let f = File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(role), cmd])
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("log"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd}: {e}"));
        let pid = child.id();
        self.procs.push(Proc {
            label: label.to_string(),
            child,
            log,
        });
        pid
    }

    /// Panic if the process `label` has exited.
    pub fn assert_running(&mut self, label: &str) {
        let p = self
            .procs
            .iter_mut()
            .find(|p| p.label == label)
            .expect("a process of this lab");
        if let Ok(Some(st)) = p.child.try_wait() {
            panic!(
                "{label} exited ({st}):\n{}",
                tail(&fs::read_to_string(&p.log).unwrap_or_default(), 40)
            );
        }
    }

    /// Wait until something in the namespace of `role` listens on `port`
    /// over `tp` (`ss -l`), while the process `label` runs.
    pub fn wait_listening(&mut self, label: &str, role: char, tp: Tp, port: u16) {
        let ns = self.ns(role);
        let flags = match tp {
            Tp::Udp => "-Hlun",
            Tp::Tcp | Tp::Tls => "-Hltn",
        };
        let end = Instant::now() + WAIT;
        loop {
            self.assert_running(label);
            let listening = sh(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns,
                    "ss",
                    flags,
                    &format!("sport = :{port}"),
                ],
            )
            .is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(":{port}")));
            if listening {
                return;
            }
            assert!(
                Instant::now() < end,
                "{label} does not listen on {} {port} after {WAIT:?}",
                tp.name()
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    pub fn ctl_socket(&self) -> String {
        format!("unix:{}", self.path("kamailio.ctl").display())
    }

    /// kamailio in the provider's namespace with `tests/netns/peers/kamailio.cfg`,
    /// listening on 198.51.100.2; `received`: with `-A WITH_RECEIVED`
    /// (calls go where the REGISTER came from, not to the Contact).
    pub fn start_kamailio(&mut self, received: bool) {
        self.start_kamailio_on(received, Listen::V4);
    }

    /// kamailio listening on the provider's addresses of `listen`
    /// (198.51.100.2, 2001:db8:100::2): `-A WITH_IPV6`, `-A WITHOUT_IPV4`.
    pub fn start_kamailio_on(&mut self, received: bool, listen: Listen) {
        self.run_kamailio(received, listen, &[]);
    }

    /// kamailio as a TLS provider as well (`-A WITH_TLS`, IPv4):
    /// `tls:198.51.100.2:5061` presenting `cert` (PEM, with its key `key`),
    /// TLS 1.2 and 1.3, no client certificate asked for; toward a TLS
    /// destination it only uses connections already open (the other side's).
    /// `received` as for [`Lab::start_kamailio`]; `idle`: it closes a
    /// connection idle for that many seconds (`-A TLS_IDLE=…`); `more`:
    /// further `-A` defines of the configuration (`LOG_SDP`).
    pub fn start_kamailio_tls(
        &mut self,
        received: bool,
        cert: &Path,
        key: &Path,
        idle: Option<u32>,
        more: &[&str],
    ) {
        let mut defines = vec![
            "WITH_TLS".to_string(),
            format!("TLS_CERT=\"{}\"", cert.display()),
            format!("TLS_KEY=\"{}\"", key.display()),
        ];
        if let Some(s) = idle {
            defines.push(format!("TLS_IDLE={s}"));
        }
        defines.extend(more.iter().map(|d| d.to_string()));
        self.run_kamailio(received, Listen::V4, &defines);
        self.wait_listening("kamailio", 'w', Tp::Tcp, 5061);
    }

    /// kamailio with `tests/netns/peers/kamailio.cfg` and `-A` of each of
    /// `defines` besides those of `received` and `listen`; returns once it
    /// listens on UDP and TCP 5060 and has made its RPC socket.
    fn run_kamailio(&mut self, received: bool, listen: Listen, defines: &[String]) {
        let run = self.path("kamailio-run");
        fs::create_dir_all(&run).expect("kamailio run dir");
        let cfg = peers_dir().join("kamailio.cfg");
        let define = format!("CTL_SOCKET=\"{}\"", self.ctl_socket());
        let (cfg, run, pid) = (
            cfg.display().to_string(),
            run.display().to_string(),
            self.path("kamailio.pid").display().to_string(),
        );
        let mut args = vec![
            "-DD", "-E", "-f", &cfg, "-Y", &run, "-P", &pid, "-m", "32", "-M", "4", "-A", &define,
        ];
        if received {
            args.extend(["-A", "WITH_RECEIVED"]);
        }
        if listen != Listen::V4 {
            args.extend(["-A", "WITH_IPV6"]);
        }
        if listen == Listen::V6 {
            args.extend(["-A", "WITHOUT_IPV4"]);
        }
        for d in defines {
            args.extend(["-A", d]);
        }
        self.spawn("kamailio", 'w', "kamailio", &args);
        self.wait_listening("kamailio", 'w', Tp::Udp, 5060);
        self.wait_listening("kamailio", 'w', Tp::Tcp, 5060);
        let end = Instant::now() + WAIT;
        while !self.path("kamailio.ctl").exists() {
            assert!(Instant::now() < end, "kamailio made no RPC socket");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// kamailio's location table (`kamcmd ul.dump`).
    pub fn location_table(&self) -> String {
        let out = sh("kamcmd", &["-s", &self.ctl_socket(), "ul.dump"]).expect("kamcmd");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// sipnat in the router's namespace, trace logging on (every SIP
    /// message it sends over UDP is in its log), its control socket
    /// `sipnat.sock` in the work directory ([`Lab::status_json`]); `extra`: more
    /// `name = value` lines for its configuration. The configuration is
    /// written in UCI, as on OpenWrt (`load_plugin` and `hosts_*` as lists).
    pub fn start_sipnat(&mut self, extra: &str) {
        let conf = self.path("sipnat.uci");
        let lines = format!(
            "if_inbound = rlan\nif_outbound = rwan\nsip_listen_port = 5060\n\
             rtp_proxy_enable = 1\nrtp_port_low = 20000\nrtp_port_high = 20019\n\
             registration_file = {}\n{extra}",
            self.path("registrations").display()
        );
        let mut uci = String::from("# written by tests/netns_peers.rs\nconfig sipnat 'general'\n");
        for line in lines.lines() {
            let (name, value) = line.split_once(" = ").expect("name = value");
            let kind = if name == "load_plugin" || name.starts_with("hosts_") {
                "list"
            } else {
                "option"
            };
            uci.push_str(&format!("\t{kind} {name} '{value}'\n"));
        }
        fs::write(&conf, uci).expect("sipnat.uci");
        let bin = env!("CARGO_BIN_EXE_sipnat");
        let conf = conf.display().to_string();
        let control = self.path("sipnat.sock").display().to_string();
        let args = ["-f", "-d", "0x80", "-c", &conf, "--control", &control];
        let pid = self.spawn("sipnat", 'r', bin, &args);
        self.sipnat_pid = Some(pid);
        self.wait_listening("sipnat", 'r', Tp::Udp, 5060);
        self.wait_listening("sipnat", 'r', Tp::Tcp, 5060);
    }

    /// OpenWrt's default firewall for the WAN zone, with the rules sipnat's
    /// init script publishes when the SIP port stays closed
    /// (`wan_sip_open '0'`): in from the WAN only what belongs to a
    /// connection the router made (conntrack) and the RTP range; the rest
    /// is rejected. With IPv6 on the WAN the same for IPv6 (ip6tables),
    /// where OpenWrt also lets ICMPv6 in (neighbour discovery among it).
    pub fn firewall(&self) {
        let ns = self.ns('r');
        let mut tables = vec!["iptables"];
        if self.plan.wan6() {
            tables.push("ip6tables");
        }
        for table in tables {
            let icmp6 = "-A INPUT -i rwan -p ipv6-icmp -j ACCEPT";
            for rule in [
                "-A INPUT -i rwan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                "-A INPUT -i rwan -p udp --dport 20000:20019 -j ACCEPT",
                if table == "ip6tables" { icmp6 } else { "" },
                "-A INPUT -i rwan -j REJECT",
            ] {
                if rule.is_empty() {
                    continue;
                }
                let mut args = vec!["netns", "exec", &ns, table];
                args.extend(rule.split(' '));
                let out = sh("ip", &args).expect(table);
                assert!(
                    out.status.success(),
                    "{table} {rule}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    /// The router forwards IP, so sipnat hands the calls' streams to the
    /// kernel (`rtp_kernel_forward`, on by default), behind a forward
    /// chain like firewall4's for a router without port forwards: WAN → LAN
    /// is dropped unless established, except what the package's fw4
    /// include (`openwrt/files/sipnat.nft`, its rules put at the top as fw4
    /// does with chain-pre files) accepts. Its last rule counts the drops.
    pub fn kernel_forwarding(&self) {
        let ns = self.ns('r');
        let ok = sh(
            "ip",
            &[
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        )
        .is_some_and(|o| o.status.success());
        assert!(ok, "ip_forward in the router namespace");
        let include = fs::read_to_string(manifest().join("openwrt/files/sipnat.nft"))
            .expect("openwrt/files/sipnat.nft");
        let rules: Vec<&str> = include
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .collect();
        let script = format!(
            "table inet fw4lab {{\n chain forward {{\n  type filter hook forward priority filter; policy accept;\n  {}\n  ct state established,related accept\n  iifname \"rlan\" accept\n  counter drop\n }}\n}}\n",
            rules.join("\n  ")
        );
        let path = self.path("fw4lab.nft");
        fs::write(&path, script).expect("fw4lab.nft");
        let out = sh(
            "ip",
            &["netns", "exec", &ns, "nft", "-f", path.to_str().unwrap()],
        )
        .expect("nft");
        assert!(
            out.status.success(),
            "nft -f fw4lab.nft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Packets the fw4-like forward chain dropped.
    pub fn forward_drops(&self) -> u64 {
        let ns = self.ns('r');
        let out = sh(
            "ip",
            &[
                "netns", "exec", &ns, "nft", "list", "chain", "inet", "fw4lab", "forward",
            ],
        )
        .expect("nft");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains("drop"))
            .and_then(|l| {
                l.split_once("packets ")?
                    .1
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(u64::MAX)
    }

    /// Packets the firewall's last rule rejected (IPv4 and IPv6).
    pub fn firewall_rejects(&self) -> u64 {
        let ns = self.ns('r');
        let mut n = 0;
        let mut tables = vec!["iptables"];
        if self.plan.wan6() {
            tables.push("ip6tables");
        }
        for table in tables {
            let out = sh(
                "ip",
                &["netns", "exec", &ns, table, "-L", "INPUT", "-v", "-n", "-x"],
            )
            .expect(table);
            n += String::from_utf8_lossy(&out.stdout)
                .lines()
                .find(|l| l.contains("REJECT"))
                .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
        }
        n
    }

    pub fn log(&self, label: &str) -> String {
        fs::read_to_string(self.path(&format!("{label}.log"))).unwrap_or_default()
    }

    /// SIGUSR1 to sipnat; the status line it then logs.
    pub fn sipnat_status(&self) -> String {
        let pid = self.sipnat_pid.expect("sipnat runs");
        let before = self.log("sipnat").matches("status: ").count();
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR1) };
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            let log = self.log("sipnat");
            if log.matches("status: ").count() > before {
                // The status line and the counter lines after it
                // (`auth.passed 4`), joined into one line of words.
                let at = log.rfind("status: ").unwrap_or(0);
                let mut lines = log[at..].lines();
                let mut status = lines.next().unwrap_or("").to_string();
                for l in lines.take_while(|l| !l.contains(" [sipnat")) {
                    status.push(' ');
                    status.push_str(l.trim());
                }
                return status;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        panic!("sipnat logged no status after SIGUSR1");
    }

    /// `sipnat status --json` through its control socket: the object of
    /// the one instance (README, Status).
    pub fn status_json(&self) -> serde_json::Value {
        let sock = self.path("sipnat.sock").display().to_string();
        let bin = env!("CARGO_BIN_EXE_sipnat");
        let out = sh(bin, &["status", "--json", "--control", &sock]).expect("sipnat status");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "sipnat status --json: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("sipnat status --json: {e}: {text}"));
        v["instances"][0].clone()
    }

    /// One counter of `sipnat status --json` (`tls.cert-rejected`); 0 when
    /// absent (the status lists the non-zero ones).
    pub fn counter(&self, name: &str) -> u64 {
        self.status_json()["counters"][name].as_u64().unwrap_or(0)
    }

    /// tcpdump on `iface` in the router's namespace writing `file`; returns
    /// once it captures.
    pub fn capture(&mut self, iface: &str, file: &str, filter: &str) -> Capture {
        let pcap = self.path(file);
        let err_path = self.path(&format!("{file}.tcpdump"));
        let err = File::create(&err_path).expect("tcpdump log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns('r'), "tcpdump", "-i", iface])
            .args([
                "-n",
                "-U",
                "--immediate-mode",
                "-s",
                "0",
                "-Z",
                "root",
                "-w",
            ])
            .arg(&pcap);
        if !filter.is_empty() {
            cmd.arg(filter);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("cannot start tcpdump");
        let cap = Capture {
            child: Some(child),
            pcap,
        };
        let end = Instant::now() + WAIT;
        while !fs::read_to_string(&err_path)
            .unwrap_or_default()
            .contains("listening on")
        {
            assert!(
                Instant::now() < end,
                "tcpdump on {iface} did not start: {}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        cap
    }

    /// Start a phone: baresip in the namespace of `role`, with its own
    /// directory (config, accounts, recordings), driven over ctrl_tcp.
    pub fn phone(&mut self, spec: PhoneSpec) -> Phone {
        let dir = self.path(&format!("phone-{}", spec.name));
        let snd = dir.join("snd");
        fs::create_dir_all(&snd).expect("phone dir");
        let template =
            fs::read_to_string(peers_dir().join("baresip.config")).expect("baresip.config");
        // sip_listen wants an IPv6 address in brackets.
        let listen = match spec.addr.contains(':') {
            true => format!("[{}]:5060", spec.addr),
            false => format!("{}:5060", spec.addr),
        };
        let config = template
            .replace("@LISTEN@", &listen)
            .replace("@ADDR@", spec.addr)
            .replace("@TONE@", &spec.tone.to_string())
            .replace("@SND@", &snd.display().to_string());
        assert!(
            config
                .lines()
                .all(|l| l.trim_start().starts_with('#') || !l.contains('@')),
            "a placeholder left in baresip.config:\n{config}"
        );
        // The phone's own lines (`sip_cafile`, `module srtp.so`) after the
        // template's.
        let config = config + &spec.config;
        fs::write(dir.join("config"), config).expect("config");
        fs::write(dir.join("accounts"), format!("{}\n", spec.account)).expect("accounts");
        let label = format!("baresip-{}", spec.name);
        let dir_arg = dir.display().to_string();
        let mut args = vec!["-f", dir_arg.as_str()];
        if spec.trace {
            args.push("-s");
        }
        self.spawn(&label, spec.role, "baresip", &args);
        let ctrl = connect_in(&self.ns(spec.role), "127.0.0.1:4444".parse().unwrap(), WAIT)
            .unwrap_or_else(|e| {
                self.assert_running(&label);
                panic!("cannot reach {label}'s ctrl_tcp: {e}")
            });
        ctrl.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        Phone::new(spec, snd, ctrl)
    }

    /// What a failure message ends with.
    pub fn context(&self) -> String {
        let mut s = format!("work dir (kept): {}\n", self.work.display());
        for p in &self.procs {
            if p.label.starts_with("tcpdump") {
                continue;
            }
            let text = fs::read_to_string(&p.log).unwrap_or_default();
            let n = if p.label == "sipnat" { 120 } else { 40 };
            s.push_str(&format!(
                "---- {} (last {n} lines) ----\n{}\n",
                p.label,
                tail(&text, n)
            ));
        }
        s
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // SIGTERM first: kamailio stops its worker processes itself, baresip
        // closes its recordings.
        for p in &self.procs {
            // SAFETY: kill(2) on the pid of our own child process.
            unsafe { libc::kill(p.child.id() as libc::pid_t, libc::SIGTERM) };
        }
        let end = Instant::now() + Duration::from_secs(2);
        for p in &mut self.procs {
            while Instant::now() < end && matches!(p.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        // Whatever is left in the namespaces (kamailio's workers, should its
        // main process have died first) is killed by topo.sh down.
        let _ = Command::new("bash")
            .arg(peers_dir().join("topo.sh"))
            .args(["down", &self.id])
            .output();
        if std::thread::panicking() {
            eprintln!("[{}] {}", self.name, self.context());
        } else if std::env::var_os("SIPNAT_PEERS_KEEP").is_some() {
            println!("[{}] work dir kept: {}", self.name, self.work.display());
        } else {
            let _ = fs::remove_dir_all(&self.work);
        }
    }
}

/// A running tcpdump; stopped (and its file complete) by [`Capture::stop`]
/// or when dropped.
pub struct Capture {
    child: Option<Child>,
    pcap: PathBuf,
}

impl Capture {
    /// Stop tcpdump (SIGINT: it writes what it has) and read the capture.
    pub fn stop(mut self) -> Vec<u8> {
        self.end();
        fs::read(&self.pcap).unwrap_or_else(|e| panic!("{}: {e}", self.pcap.display()))
    }

    fn end(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own child process.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGINT) };
            let end = Instant::now() + Duration::from_secs(2);
            while Instant::now() < end && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.end();
    }
}

/// `f` run on a short-lived thread inside network namespace `ns`: what it
/// makes there (a socket) stays in that namespace, whichever thread uses
/// it later.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let ns = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns(2) with an open namespace fd; it moves only this
        // thread, which ends right after `f`.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread")
}

/// A TCP connection to `addr` made from inside network namespace `ns`
/// ([`in_netns`]), retrying until `wait` is over.
pub fn connect_in(ns: &str, addr: SocketAddr, wait: Duration) -> io::Result<TcpStream> {
    in_netns(ns, move || {
        let end = Instant::now() + wait;
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(s) => return Ok(s),
                Err(e) if Instant::now() >= end => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    })
}
