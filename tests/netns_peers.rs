//! sipnat between real SIP software: kamailio as the provider and baresip
//! as the phones, over UDP and TCP, in the network namespaces of
//! `tests/netns/peers/topo.sh` (the LAN / router / WAN of
//! `tests/netns/topo.sh`, with a host of its own for each phone).
//!
//! ```text
//!  phone A 10.77.1.2 (100) ─┐                          ┌─ kamailio 198.51.100.2
//!                           ├─ rlan [sipnat] rwan ─────┤   (registrar + proxy)
//!  phone B 10.77.1.3 (101) ─┘ 10.77.1.1  198.51.100.1  └─ phone W 198.51.100.3 (200)
//! ```
//!
//! The LAN phones use sipnat as their outbound proxy
//! (`;outbound="sip:10.77.1.1:5060;transport=…"`) and register with
//! kamailio through it; W registers with kamailio directly. The router
//! does not forward IP: SIP and RTP cross it only through sipnat (except in
//! the kernel-forwarding test, where it forwards and sipnat hands the
//! calls' RTP to the kernel: see [`Lab::kernel_forwarding`]). Each test
//! picks the transport of the phone↔sipnat leg and of the sipnat↔kamailio
//! leg (the phones' account names the provider's transport, the outbound
//! proxy the phone's), and then:
//!
//! * **Registration**: kamailio's location table (`kamcmd ul.dump`) holds
//!   100 and 101 at the router's public address, `sip:…@198.51.100.1:5060`
//!   with sipnat's contact token, over the provider transport (the binding's
//!   socket is kamailio's UDP or TCP one, and a TCP contact says
//!   `transport=tcp`), and no LAN address anywhere in the table.
//! * **A calls W** (LAN → WAN, through kamailio), W answers, W hangs up;
//!   **W calls B** (WAN → LAN: kamailio looks the user up and sends the
//!   INVITE to sipnat's masqueraded contact), B answers, B hangs up; **A
//!   calls B**, B answers, A hangs up (sipnat delivers this call on the LAN
//!   itself, as siproxd does, since B is registered through it; the test
//!   prints what of it crossed the WAN).
//! * **Audio both ways in every call**: each phone's microphone is a sine
//!   tone of its own (A 440 Hz, B 700 Hz, W 1000 Hz) and baresip's sndfile
//!   module records what each phone decoded: the callee's recording must
//!   hold at least a second of the caller's tone and the caller's one the
//!   callee's tone (the frequency measured within 10 %). For the calls that
//!   cross the router, a capture of its WAN interface counts the RTP packets
//!   (G.711, payload type 0) both ways between sipnat's relay and W: at
//!   least 50 each way.
//! * **Every call ends**: both phones see the call closed (the BYE crossed
//!   sipnat and kamailio), and afterwards sipnat's status (SIGUSR1) shows
//!   no call and no relay stream left.
//! * **The transports are the ones asked for**: on the LAN capture the
//!   phones' SIP to and from sipnat is all on the phone transport, on the
//!   WAN capture sipnat's SIP to and from kamailio all on the provider one.
//!   Over TCP sipnat opens one connection to kamailio and keeps it for all
//!   it sends. Kamailio reaches a LAN phone in one of two ways, one per TCP
//!   test: at the registered Contact (tcp-tcp: a connection of its own to
//!   the router's SIP port), or where the REGISTER came from (udp-tcp,
//!   `fix_nated_register`, as providers treat phones behind NAT: the INVITE
//!   comes over sipnat's own connection, which sipnat must accept requests
//!   on). In both, requests inside a dialog (ACK, BYE) follow sipnat's
//!   Record-Route, `sip:198.51.100.1:5060;transport=tcp`, so kamailio opens a
//!   connection to the router's SIP port for them: with the router's SIP
//!   port closed to the WAN (OpenWrt's default, `wan_sip_open '0'`) those
//!   requests are refused, so the TCP-provider tests run without a firewall.
//! * **The firewall lets a UDP provider in**: the two UDP-provider tests run
//!   behind OpenWrt's default WAN firewall as sipnat's init script leaves it
//!   with the SIP port closed (in from the WAN: conntrack's established
//!   flows and the RTP range; the rest rejected), and it must have rejected
//!   nothing: kamailio's requests come in on the flow sipnat's REGISTER
//!   made, as the README's Firewall section says.
//! * **Known issues**, reproduced by two ignored tests (`cargo test --test
//!   netns_peers -- --ignored`; their docs say what fails and why): a TCP
//!   provider behind that firewall, and a TCP phone after sipnat closed its
//!   idle connection.
//! * **No LAN address leaves the router**: every capture of the router's WAN
//!   interface is read by the pcap reader at the end of this file: no
//!   address of 10.77.1.0/24 in an IPv4 header (nor in one quoted by ICMP),
//!   in ARP, or as text in a UDP payload; for TCP, in each segment's payload
//!   *and* in each connection's byte stream put back together in sequence
//!   order, so that an address split over two segments is found too. What
//!   this misses: an address written otherwise than dotted-decimal text
//!   (hex, raw bytes inside a payload, an encoding of it), text across a
//!   hole in a stream the capture did not see (the reader marks the hole),
//!   and anything not on the WAN wire (kamailio's own log is also read, and
//!   its location table is checked above).
//!
//! Why a host per phone: baresip binds its RTP sockets to 0.0.0.0, so
//! phones sharing a namespace would all send from its primary address,
//! whatever their SDP says; `tests/netns/peers/topo.sh` gives each phone its
//! own namespace on a bridge.
//!
//! What they need: root, `ip netns`, tcpdump, ss, kamailio (with kamcmd),
//! baresip with its Debian modules (`tests/setup-deps.sh` installs them all).
//! Without them every test FAILS saying so, unless `SIPNAT_SKIP_NETNS=1`:
//! then it prints that it was skipped and passes. Each test has its own
//! namespaces (named after the process and a counter) and work directory,
//! so they run in parallel with each other and the rest of the suite; the
//! namespaces are removed and every process the test started is stopped,
//! also when a test fails (then the output shows the tails of the sipnat,
//! kamailio and baresip logs, and the work directory with the logs, the
//! phones' recordings and the captures is kept).
//!
//! What they do not do: TLS, IPv6, authentication (sipnat refuses to run
//! with it), CANCEL, re-INVITE or hold with real phones (the sipp and
//! sipnat-load tests cover those), or judge audio beyond its frequency; and
//! they address no host outside the namespaces.

mod netns_env;
use netns_env::{sh, tail};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const LAN_PREFIX: [u8; 3] = [10, 77, 1];
const LAN_TEXT: &[u8] = b"10.77.1.";
const ROUTER_LAN: [u8; 4] = [10, 77, 1, 1];
const ROUTER_WAN: [u8; 4] = [198, 51, 100, 1];
const PROVIDER: [u8; 4] = [198, 51, 100, 2];
const WAN_PHONE: [u8; 4] = [198, 51, 100, 3];
/// The provider's domain: every account's and every dialled URI's host.
const DOMAIN: &str = "198.51.100.2";

/// How long to wait for something that should come.
const WAIT: Duration = Duration::from_secs(5);
/// How long each answered call carries audio before it is hung up.
const TALK: Duration = Duration::from_secs(2);
/// Frames (20 ms) of the other phone's tone each recording must hold.
const MIN_TONE_FRAMES: usize = 50;
/// RTP packets each way on the WAN for a call that crosses the router.
const MIN_RTP: usize = 50;

/// The baresip modules the phones load (Debian's baresip-core ships them).
const BARESIP_MODULES: &str = "/usr/lib/baresip/modules";
const MODULES: [&str; 7] = [
    "g711", "ausine", "aubridge", "sndfile", "account", "menu", "ctrl_tcp",
];

fn skip_allowed() -> bool {
    std::env::var("SIPNAT_SKIP_NETNS").is_ok_and(|v| v == "1")
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn peers_dir() -> PathBuf {
    manifest().join("tests/netns/peers")
}

/// Why this machine cannot run these tests, if it cannot.
fn environment_problem(id: &str) -> Option<String> {
    let tools = [
        "ip", "tcpdump", "ss", "iptables", "kamailio", "kamcmd", "baresip",
    ];
    if let Some(why) = netns_env::environment_problem(id, &tools) {
        return Some(why);
    }
    for m in MODULES {
        let so = Path::new(BARESIP_MODULES).join(format!("{m}.so"));
        if !so.exists() {
            return Some(format!("baresip module {} is missing", so.display()));
        }
    }
    None
}

fn ip_text(ip: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

/// A transport of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tp {
    Udp,
    Tcp,
}

impl Tp {
    fn name(self) -> &'static str {
        match self {
            Tp::Udp => "udp",
            Tp::Tcp => "tcp",
        }
    }
}

// ------------------------------------------------------------------ the lab

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
struct Lab {
    id: String,
    name: &'static str,
    work: PathBuf,
    procs: Vec<Proc>,
    sipnat_pid: Option<u32>,
}

impl Lab {
    /// `None`: skipped (SIPNAT_SKIP_NETNS=1 on a machine that cannot run it).
    fn new(name: &'static str) -> Option<Lab> {
        let n = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let id = format!("p{:x}{n}", std::process::id());
        if let Some(why) = environment_problem(&id) {
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
        };
        let out = Command::new("bash")
            .arg(peers_dir().join("topo.sh"))
            .args(["up", &lab.id])
            .output()
            .expect("bash");
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
    fn ns(&self, role: char) -> String {
        format!("sn{role}-{}", self.id)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.work.join(file)
    }

    /// Start `cmd args` in the namespace of `role`, output to `label.log`.
    fn spawn(&mut self, label: &str, role: char, cmd: &str, args: &[&str]) -> u32 {
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
    fn assert_running(&mut self, label: &str) {
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
    fn wait_listening(&mut self, label: &str, role: char, tp: Tp, port: u16) {
        let ns = self.ns(role);
        let flags = match tp {
            Tp::Udp => "-Hlun",
            Tp::Tcp => "-Hltn",
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

    fn ctl_socket(&self) -> String {
        format!("unix:{}", self.path("kamailio.ctl").display())
    }

    /// kamailio in the provider's namespace with `tests/netns/peers/kamailio.cfg`;
    /// `received`: with `-A WITH_RECEIVED` (calls go where the REGISTER came
    /// from, not to the Contact).
    fn start_kamailio(&mut self, received: bool) {
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
    fn location_table(&self) -> String {
        let out = sh("kamcmd", &["-s", &self.ctl_socket(), "ul.dump"]).expect("kamcmd");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// sipnat in the router's namespace, trace logging on (every SIP
    /// message it sends over UDP is in its log); `extra`: more
    /// `name = value` lines for its configuration. The configuration is
    /// written in UCI, as on OpenWrt (`load_plugin` and `hosts_*` as lists).
    fn start_sipnat(&mut self, extra: &str) {
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
        let pid = self.spawn("sipnat", 'r', bin, &["-f", "-d", "0x80", "-c", &conf]);
        self.sipnat_pid = Some(pid);
        self.wait_listening("sipnat", 'r', Tp::Udp, 5060);
        self.wait_listening("sipnat", 'r', Tp::Tcp, 5060);
    }

    /// OpenWrt's default firewall for the WAN zone, with the rules sipnat's
    /// init script publishes when the SIP port stays closed
    /// (`wan_sip_open '0'`): in from the WAN only what belongs to a
    /// connection the router made (conntrack) and the RTP range; the rest
    /// is rejected.
    fn firewall(&self) {
        let ns = self.ns('r');
        for rule in [
            "-A INPUT -i rwan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-A INPUT -i rwan -p udp --dport 20000:20019 -j ACCEPT",
            "-A INPUT -i rwan -j REJECT",
        ] {
            let mut args = vec!["netns", "exec", &ns, "iptables"];
            args.extend(rule.split(' '));
            let out = sh("ip", &args).expect("iptables");
            assert!(
                out.status.success(),
                "iptables {rule}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The router forwards IP, so sipnat hands the calls' streams to the
    /// kernel (`rtp_kernel_forward`, on by default), behind a forward
    /// chain like firewall4's for a router without port forwards: WAN → LAN
    /// is dropped unless established, except what the package's fw4
    /// include (`openwrt/files/sipnat.nft`, its rules put at the top as fw4
    /// does with chain-pre files) accepts. Its last rule counts the drops.
    fn kernel_forwarding(&self) {
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
    fn forward_drops(&self) -> u64 {
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

    /// Packets the firewall's last rule rejected.
    fn firewall_rejects(&self) -> u64 {
        let ns = self.ns('r');
        let out = sh(
            "ip",
            &[
                "netns", "exec", &ns, "iptables", "-L", "INPUT", "-v", "-n", "-x",
            ],
        )
        .expect("iptables");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains("REJECT"))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn log(&self, label: &str) -> String {
        fs::read_to_string(self.path(&format!("{label}.log"))).unwrap_or_default()
    }

    /// SIGUSR1 to sipnat; the status line it then logs.
    fn sipnat_status(&self) -> String {
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

    /// tcpdump on `iface` in the router's namespace writing `file`; returns
    /// once it captures.
    fn capture(&mut self, iface: &str, file: &str, filter: &str) -> Capture {
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
    fn phone(&mut self, spec: PhoneSpec) -> Phone {
        let dir = self.path(&format!("phone-{}", spec.name));
        let snd = dir.join("snd");
        fs::create_dir_all(&snd).expect("phone dir");
        let template =
            fs::read_to_string(peers_dir().join("baresip.config")).expect("baresip.config");
        let config = template
            .replace("@ADDR@", spec.addr)
            .replace("@TONE@", &spec.tone.to_string())
            .replace("@SND@", &snd.display().to_string());
        assert!(
            config
                .lines()
                .all(|l| l.trim_start().starts_with('#') || !l.contains('@')),
            "a placeholder left in baresip.config:\n{config}"
        );
        fs::write(dir.join("config"), config).expect("config");
        fs::write(dir.join("accounts"), format!("{}\n", spec.account)).expect("accounts");
        let label = format!("baresip-{}", spec.name);
        let dir_arg = dir.display().to_string();
        self.spawn(&label, spec.role, "baresip", &["-f", &dir_arg]);
        let ctrl = connect_in(&self.ns(spec.role), "127.0.0.1:4444".parse().unwrap(), WAIT)
            .unwrap_or_else(|e| {
                self.assert_running(&label);
                panic!("cannot reach {label}'s ctrl_tcp: {e}")
            });
        ctrl.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        Phone {
            name: spec.name,
            user: spec.user,
            tone: spec.tone,
            snd,
            ctrl,
            buf: Vec::new(),
            msgs: VecDeque::new(),
            token: 0,
        }
    }

    /// What a failure message ends with.
    fn context(&self) -> String {
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
struct Capture {
    child: Option<Child>,
    pcap: PathBuf,
}

impl Capture {
    /// Stop tcpdump (SIGINT: it writes what it has) and read the capture.
    fn stop(mut self) -> Vec<u8> {
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

/// A TCP connection to `addr` made from inside network namespace `ns`: a
/// short-lived thread enters the namespace, connects (retrying until
/// `wait` is over) and ends. The socket stays in the namespace it was made
/// in, whichever thread uses it later.
fn connect_in(ns: &str, addr: SocketAddr, wait: Duration) -> io::Result<TcpStream> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || -> io::Result<TcpStream> {
        let f = File::open(&path)?;
        // SAFETY: setns(2) with an open namespace fd; it moves only this
        // thread, which ends right after connecting.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let end = Instant::now() + wait;
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(s) => return Ok(s),
                Err(e) if Instant::now() >= end => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    })
    .join()
    .expect("connect thread")
}

// ---------------------------------------------------------------- the phones

struct PhoneSpec {
    name: &'static str,
    role: char,
    user: &'static str,
    addr: &'static str,
    tone: u32,
    account: String,
}

/// A LAN phone: an account at the provider over `provider`, sipnat as the
/// outbound proxy over `phone`.
fn lan_phone(
    name: &'static str,
    role: char,
    user: &'static str,
    addr: &'static str,
    tone: u32,
    phone: Tp,
    provider: Tp,
) -> PhoneSpec {
    PhoneSpec {
        name,
        role,
        user,
        addr,
        tone,
        account: format!(
            "<sip:{user}@{DOMAIN};transport={}>;regint=600;mwi=no;answermode=manual;\
             audio_codecs=pcmu;outbound=\"sip:{}:5060;transport={}\"",
            provider.name(),
            ip_text(ROUTER_LAN),
            phone.name()
        ),
    }
}

/// One message from baresip's ctrl_tcp: a JSON object, kept as text.
#[derive(Debug, Clone)]
struct Msg(String);

impl Msg {
    fn field(&self, key: &str) -> Option<String> {
        json_field(&self.0, key)
    }
    fn is_event(&self, kind: &str) -> bool {
        self.field("event").as_deref() == Some("true")
            && self.field("type").as_deref() == Some(kind)
    }
}

/// A baresip phone, driven over its ctrl_tcp socket.
struct Phone {
    name: &'static str,
    user: &'static str,
    tone: u32,
    snd: PathBuf,
    ctrl: TcpStream,
    buf: Vec<u8>,
    msgs: VecDeque<Msg>,
    token: u32,
}

impl Phone {
    /// Read what baresip sent within `wait` into the message queue.
    fn pump(&mut self, wait: Duration) {
        let end = Instant::now() + wait;
        let mut chunk = [0u8; 8192];
        loop {
            match self.ctrl.read(&mut chunk) {
                Ok(0) => panic!("phone {}: baresip closed its ctrl_tcp socket", self.name),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => panic!("phone {}: ctrl_tcp: {e}", self.name),
            }
            while let Some((msg, used)) = netstring(&self.buf) {
                self.msgs.push_back(Msg(msg));
                self.buf.drain(..used);
            }
            if Instant::now() >= end {
                return;
            }
        }
    }

    /// Forget every message received so far.
    fn clear(&mut self) {
        self.pump(Duration::ZERO);
        self.msgs.clear();
    }

    /// Send a command; return its response once it comes (it must be ok).
    fn command(&mut self, command: &str, params: &str) -> Msg {
        self.token += 1;
        let token = format!("{}{}", self.name, self.token);
        let json =
            format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"{token}\"}}");
        let frame = format!("{}:{json},", json.len());
        self.ctrl
            .write_all(frame.as_bytes())
            .unwrap_or_else(|e| panic!("phone {}: ctrl_tcp write: {e}", self.name));
        let end = Instant::now() + WAIT;
        loop {
            let at = self.msgs.iter().position(|m| {
                m.field("response").as_deref() == Some("true")
                    && m.field("token").as_deref() == Some(&token)
            });
            if let Some(at) = at {
                let r = self.msgs.remove(at).expect("position in range");
                assert_eq!(
                    r.field("ok").as_deref(),
                    Some("true"),
                    "phone {}: command {command} {params} failed: {}",
                    self.name,
                    r.0
                );
                return r;
            }
            assert!(
                Instant::now() < end,
                "phone {}: no response to {command} {params}",
                self.name
            );
            self.pump(Duration::from_millis(50));
        }
    }

    /// Wait for the event `kind` (the first one not yet taken). A call that
    /// closes instead fails the test with the reason baresip gives.
    fn event(&mut self, kind: &str, what: &str) -> Msg {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(at) = self.msgs.iter().position(|m| m.is_event(kind)) {
                return self.msgs.remove(at).expect("position in range");
            }
            if kind != "CALL_CLOSED" {
                if let Some(m) = self.msgs.iter().find(|m| m.is_event("CALL_CLOSED")) {
                    panic!(
                        "{what}: phone {} saw the call closed while waiting for {kind}: {}",
                        self.name,
                        m.field("param").unwrap_or_default()
                    );
                }
            }
            assert!(
                Instant::now() < end,
                "{what}: phone {} saw no {kind} within {WAIT:?} (events: {:?})",
                self.name,
                self.msgs
                    .iter()
                    .filter_map(|m| m.field("type"))
                    .collect::<Vec<_>>()
            );
            self.pump(Duration::from_millis(50));
        }
    }

    /// The recordings of received audio now in the phone's directory.
    fn recordings(&self) -> BTreeSet<PathBuf> {
        fs::read_dir(&self.snd)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One netstring (`LEN:DATA,`) from the start of `b`: its text and the
/// bytes it took; `None` while incomplete.
fn netstring(b: &[u8]) -> Option<(String, usize)> {
    let colon = b.iter().position(|&c| c == b':')?;
    let len: usize = std::str::from_utf8(&b[..colon]).ok()?.trim().parse().ok()?;
    let data = b.get(colon + 1..colon + 1 + len)?;
    if *b.get(colon + 1 + len)? != b',' {
        panic!(
            "ctrl_tcp: not a netstring: {:?}",
            String::from_utf8_lossy(b)
        );
    }
    Some((String::from_utf8_lossy(data).into_owned(), colon + len + 2))
}

/// The value of `key` in a flat JSON object, as text (strings unescaped;
/// `true`, numbers as written). Enough for baresip's ctrl_tcp messages.
fn json_field(obj: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\"");
    let mut from = 0;
    while let Some(i) = obj[from..].find(&pat) {
        let after = from + i + pat.len();
        from = after;
        let Some(rest) = obj[after..].trim_start().strip_prefix(':') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(s) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = s.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => return Some(out),
                    '\\' => match chars.next()? {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        c => out.push(c),
                    },
                    c => out.push(c),
                }
            }
            return None;
        }
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        return Some(rest[..end].trim().to_string());
    }
    None
}

// ------------------------------------------------------------------- calls

/// What one call proved.
struct CallReport {
    what: String,
    /// Seconds of the other phone's tone each side recorded, and its
    /// measured frequency: (caller, callee).
    heard: [(f64, f64); 2],
    /// RTP packets on the WAN: relay → W and W → relay.
    wan_rtp: (usize, usize),
}

/// `caller` dials `callee`'s user at the provider; the callee answers; both
/// phones must see the call established and RTP arriving; after [`TALK`]
/// `hangs_up` (the caller if true) hangs up and both must see it closed.
/// Then each phone's recording must hold the other's tone. A capture of the
/// router's WAN interface, `wan-<label>.pcap`, counts the RTP that crossed
/// it to and from W.
fn call(
    lab: &mut Lab,
    label: &str,
    caller: &mut Phone,
    callee: &mut Phone,
    caller_hangs_up: bool,
) -> CallReport {
    let what = format!("call {label} ({} -> {})", caller.name, callee.name);
    let rtp_cap = lab.capture(
        "rwan",
        &format!("wan-{label}.pcap"),
        &format!("udp and host {} and not port 5060", ip_text(WAN_PHONE)),
    );
    caller.clear();
    callee.clear();
    let before = [caller.recordings(), callee.recordings()];
    caller.command("dial", &format!("sip:{}@{DOMAIN}", callee.user));
    callee.event("CALL_INCOMING", &what);
    callee.command("accept", "");
    for p in [&mut *caller, &mut *callee] {
        p.event("CALL_ESTABLISHED", &what);
        // baresip's "incoming RTP established": the other side's audio
        // reaches this phone.
        p.event("CALL_RTPESTAB", &what);
    }
    std::thread::sleep(TALK);
    if caller_hangs_up {
        caller.command("hangup", "");
    } else {
        callee.command("hangup", "");
    }
    for p in [&mut *caller, &mut *callee] {
        p.event("CALL_CLOSED", &what);
    }
    // baresip closes the recordings as the call ends.
    std::thread::sleep(Duration::from_millis(300));
    let pcap = rtp_cap.stop();
    let wan_rtp = rtp_counts(&pcap, ROUTER_WAN, WAN_PHONE)
        .unwrap_or_else(|e| panic!("{what}: wan-{label}.pcap: {e}"));
    let mut heard = [(0.0, 0.0); 2];
    for (i, (p, other)) in [(&*caller, &*callee), (&*callee, &*caller)]
        .into_iter()
        .enumerate()
    {
        let new: Vec<PathBuf> = p.recordings().difference(&before[i]).cloned().collect();
        assert_eq!(
            new.len(),
            1,
            "{what}: phone {} should have made one recording of received audio, made {new:?}",
            p.name
        );
        let audio = fs::read(&new[0])
            .map_err(|e| e.to_string())
            .and_then(|b| analyse_wav(&b))
            .unwrap_or_else(|e| panic!("{what}: {}: {e}", new[0].display()));
        let want = f64::from(other.tone);
        assert!(
            audio.tone_frames >= MIN_TONE_FRAMES && (audio.freq - want).abs() <= want * 0.1,
            "{what}: phone {} did not hear phone {}'s {want} Hz tone: {} frames of tone at \
             {:.0} Hz, {} frames recorded ({})",
            p.name,
            other.name,
            audio.tone_frames,
            audio.freq,
            audio.frames,
            new[0].display()
        );
        heard[i] = (audio.tone_frames as f64 * 0.02, audio.freq);
    }
    CallReport {
        what,
        heard,
        wan_rtp,
    }
}

/// A LAN phone's binding in kamailio's location table: at the router's
/// public address with sipnat's token, over the provider transport.
fn assert_binding(table: &str, user: &str, provider: Tp) {
    let b = bindings(table, user);
    assert_eq!(b.len(), 1, "user {user}: bindings {b:?} in\n{table}");
    let (addr, socket) = &b[0];
    assert!(
        addr.starts_with(&format!("sip:{user}"))
            && addr.contains(&format!("@{}:5060", ip_text(ROUTER_WAN)))
            && addr.contains(";snc="),
        "user {user}: the binding {addr} is not sipnat's masqueraded contact"
    );
    assert_eq!(
        addr.contains("transport=tcp"),
        provider == Tp::Tcp,
        "user {user}: the binding {addr} names the wrong transport"
    );
    assert_eq!(
        socket,
        &format!("{}:{DOMAIN}:5060", provider.name()),
        "user {user}: kamailio took the binding on the wrong socket"
    );
}

/// The (Address, Socket) pairs of `user`'s bindings in `kamcmd ul.dump`.
fn bindings(table: &str, user: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut aor = "";
    for line in table.lines().map(str::trim) {
        if let Some(a) = line.strip_prefix("AoR: ") {
            aor = a;
        } else if let Some(a) = line.strip_prefix("Address: ") {
            if aor == user {
                out.push((a.to_string(), String::new()));
            }
        } else if let Some(s) = line.strip_prefix("Socket: ") {
            if aor == user {
                if let Some(last) = out.last_mut() {
                    last.1 = s.to_string();
                }
            }
        }
    }
    out
}

/// Wait until `users` all have a binding at kamailio.
fn wait_registered(lab: &Lab, users: &[&str]) -> String {
    let end = Instant::now() + WAIT;
    loop {
        let table = lab.location_table();
        if users.iter().all(|u| !bindings(&table, u).is_empty()) {
            return table;
        }
        assert!(
            Instant::now() < end,
            "not every one of {users:?} registered with kamailio within {WAIT:?}:\n{table}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value after `name` in sipnat's status line (`calls 0/1024`: "0").
fn status_value<'a>(status: &'a str, name: &str) -> &'a str {
    let words: Vec<&str> = status.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == name)
        .map_or("", |w| w[1].split('/').next().unwrap_or(""))
}

/// How kamailio reaches a LAN phone for a call to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inbound {
    /// At the registered Contact (sipnat's masqueraded one): over TCP a new
    /// connection to the router's SIP port.
    Contact,
    /// Where the REGISTER came from (kamailio's `fix_nated_register`): over
    /// TCP the connection sipnat opened.
    Source,
}

/// One test's setting.
#[derive(Debug, Clone, Copy)]
struct Setup {
    /// The phones' leg (phone ↔ sipnat).
    phone: Tp,
    /// sipnat's leg to kamailio.
    provider: Tp,
    /// How kamailio reaches the LAN phones.
    inbound: Inbound,
    /// OpenWrt's default WAN firewall on the router ([`Lab::firewall`]);
    /// then it must reject nothing.
    firewall: bool,
    /// sipnat closes idle TCP connections after 2 s (`tcp_timeout`), and
    /// the calls begin once the phones' connections have been idle for 3 s.
    idle_close: bool,
    /// sipnat asks the LAN phones for passwords ([`AUTH_REALM`], a password
    /// file with a plaintext entry for 100 and HA1 entries for 101), with
    /// the blacklist loaded; baresip answers the 407s with `auth_pass`.
    auth: bool,
    /// The router forwards IP, so the calls' audio goes through the kernel
    /// forwarding ([`Lab::kernel_forwarding`]); then the forward chain must
    /// drop nothing and sipnat must have handed the streams over.
    kernel: bool,
}

/// The realm of sipnat's own authentication in the auth scenario.
const AUTH_REALM: &str = "sipnat-lab";

/// sipnat's configuration lines for the auth scenario, its password file
/// written into the lab.
fn auth_config(lab: &Lab) -> String {
    use sipnat::auth::{Algorithm, digest::ha1};
    let pwfile = lab.path("passwd");
    let md5 = ha1(Algorithm::Md5, "101", AUTH_REALM, "secret101");
    let sha = ha1(Algorithm::Sha256, "101", AUTH_REALM, "secret101");
    fs::write(
        &pwfile,
        format!("# the lab's phones\n100 secret100\n101 md5:{md5}\n101 sha-256:{sha}\n"),
    )
    .expect("password file");
    // Debian's baresip (1.0, libre) gives up on a SHA-256 challenge instead
    // of taking the MD5 one below it (RFC 8760 §2.4): offer MD5 only.
    format!(
        "proxy_auth_realm = {AUTH_REALM}\nproxy_auth_pwfile = {}\n\
         load_plugin = plugin_blacklist.so\nproxy_auth_algorithms = MD5\n",
        pwfile.display()
    )
}

/// The whole scenario in `setup`.
fn scenario(name: &'static str, setup: Setup) {
    let Setup {
        phone,
        provider,
        inbound,
        firewall,
        idle_close,
        auth,
        kernel,
    } = setup;
    let started = Instant::now();
    let Some(mut lab) = Lab::new(name) else {
        return;
    };
    if firewall {
        lab.firewall();
    }
    if kernel {
        lab.kernel_forwarding();
    }
    let wan = lab.capture("rwan", "wan.pcap", "");
    let lan = lab.capture("rlan", "lan.pcap", "");
    lab.start_kamailio(inbound == Inbound::Source);
    let mut extra = String::new();
    if idle_close {
        extra.push_str("tcp_timeout = 2\n");
    }
    if auth {
        extra.push_str(&auth_config(&lab));
    }
    lab.start_sipnat(&extra);
    let with_password = |mut spec: PhoneSpec| {
        if auth {
            spec.account
                .push_str(&format!(";auth_pass=secret{}", spec.user));
        }
        spec
    };
    let mut w = lab.phone(PhoneSpec {
        name: "W",
        role: 'x',
        user: "200",
        addr: "198.51.100.3",
        tone: 1000,
        account: format!(
            "<sip:200@{DOMAIN};transport=udp>;regint=600;mwi=no;answermode=manual;\
             audio_codecs=pcmu"
        ),
    });
    let mut a = lab.phone(with_password(lan_phone(
        "A",
        'l',
        "100",
        "10.77.1.2",
        440,
        phone,
        provider,
    )));
    let mut b = lab.phone(with_password(lan_phone(
        "B",
        'm',
        "101",
        "10.77.1.3",
        700,
        phone,
        provider,
    )));

    // Registration through sipnat: the registrar's own table.
    let table = wait_registered(&lab, &["200", "100", "101"]);
    assert_binding(&table, "100", provider);
    assert_binding(&table, "101", provider);
    assert!(
        !table.contains("10.77.1."),
        "a LAN address in kamailio's location table:\n{table}"
    );

    if idle_close {
        std::thread::sleep(Duration::from_secs(3));
    }
    let calls = [
        call(&mut lab, "out", &mut a, &mut w, false),
        call(&mut lab, "in", &mut w, &mut b, false),
        call(&mut lab, "local", &mut a, &mut b, true),
    ];
    for c in &calls[..2] {
        assert!(
            c.wan_rtp.0 >= MIN_RTP && c.wan_rtp.1 >= MIN_RTP,
            "{}: RTP on the WAN between sipnat's relay and W: {} to W, {} from W \
             (want at least {MIN_RTP} each way)",
            c.what,
            c.wan_rtp.0,
            c.wan_rtp.1
        );
    }

    // Every call and relay stream is gone.
    let end = Instant::now() + WAIT;
    let status = loop {
        let s = lab.sipnat_status();
        if status_value(&s, "calls") == "0" && status_value(&s, "streams") == "0" {
            break s;
        }
        assert!(
            Instant::now() < end,
            "sipnat still holds calls or relay streams after every call ended: {s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    // What crossed the router's interfaces.
    let lan_bytes = lan.stop();
    let wan_bytes = wan.stop();
    let lan_pkts = parse_pcap(&lan_bytes).expect("lan.pcap");
    let wan_pkts = parse_pcap(&wan_bytes).expect("wan.pcap");
    let lan_sip = sip_by_transport(&lan_pkts, ROUTER_LAN, None);
    if auth {
        // Each phone was asked (407) and passed: its REGISTER and its calls.
        let challenged = lan_pkts
            .iter()
            .filter(|p| p.src == ROUTER_LAN && p.payload.starts_with(b"SIP/2.0 407 "))
            .count();
        let passed: u32 = status_value(&status, "auth.passed").parse().unwrap_or(0);
        assert!(
            challenged >= 2 && passed >= 4,
            "sipnat's 407s on the LAN: {challenged}, auth.passed {passed}: {status}"
        );
        for bad in [
            "auth.wrong-password",
            "auth.unknown-user",
            "blacklist.refused",
        ] {
            assert_eq!(status_value(&status, bad), "", "{bad}: {status}");
        }
        // sipnat's credentials and challenges never reach the provider.
        let realm = AUTH_REALM.as_bytes();
        let leaked = wan_pkts
            .iter()
            .filter(|p| p.payload.windows(realm.len()).any(|w| w == realm))
            .count();
        assert_eq!(leaked, 0, "sipnat's realm in {leaked} WAN packets");
    }
    let wan_sip = sip_by_transport(&wan_pkts, ROUTER_WAN, Some(PROVIDER));
    let want = |tp: Tp, (udp, tcp): (usize, usize)| match tp {
        Tp::Udp => udp > 0 && tcp == 0,
        Tp::Tcp => tcp > 0 && udp == 0,
    };
    assert!(
        want(phone, lan_sip),
        "the phones' SIP with sipnat should be all {}: {} UDP datagrams, {} TCP segments",
        phone.name(),
        lan_sip.0,
        lan_sip.1
    );
    assert!(
        want(provider, wan_sip),
        "sipnat's SIP with kamailio should be all {}: {} UDP datagrams, {} TCP segments",
        provider.name(),
        wan_sip.0,
        wan_sip.1
    );
    // Who opened the TCP connections on the WAN: sipnat one to kamailio for
    // everything it sends; kamailio one to the router's SIP port only when
    // it calls the Contact.
    let syns = |from: [u8; 4], to: [u8; 4]| {
        wan_pkts
            .iter()
            .filter(|p| p.proto == 6 && p.syn && !p.ack && p.src == from && p.dst == to)
            .count()
    };
    let (out_conns, in_conns) = (syns(ROUTER_WAN, PROVIDER), syns(PROVIDER, ROUTER_WAN));
    if provider == Tp::Tcp {
        let ours: Vec<u16> = wan_pkts
            .iter()
            .filter(|p| p.proto == 6 && p.syn && !p.ack && p.src == ROUTER_WAN)
            .map(|p| p.sport)
            .collect();
        assert_eq!(
            ours.len(),
            1,
            "sipnat should open one connection to kamailio and keep it: {ours:?}"
        );
        // The router's end of the connection the call to B came in on.
        let invite_port = wan_pkts
            .iter()
            .find(|p| p.proto == 6 && p.src == PROVIDER && p.payload.starts_with(b"INVITE sip:101"))
            .map(|p| p.dport)
            .expect("the INVITE to B on the WAN");
        match inbound {
            Inbound::Contact => assert_eq!(
                invite_port, 5060,
                "kamailio should have called B's contact, the router's SIP port"
            ),
            Inbound::Source => assert_eq!(
                invite_port, ours[0],
                "kamailio should have sent the INVITE to B over sipnat's own connection"
            ),
        }
    }

    let mut files: Vec<PathBuf> = fs::read_dir(&lab.work)
        .expect("work dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("wan") && n.ends_with(".pcap")
        })
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for f in &files {
        let bytes = fs::read(f).expect("capture");
        let r = scan_pcap(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            r.leaks.is_empty(),
            "LAN address on the WAN in {}:\n{:#?}",
            f.display(),
            r.leaks
        );
        lines.push(format!(
            "{}: {} packets ({} UDP, {} TCP segments with data in {} one-way \
             streams of {} bytes), no LAN address",
            f.file_name().unwrap_or_default().to_string_lossy(),
            r.packets,
            r.udp,
            r.tcp_segments,
            r.tcp_streams,
            r.tcp_stream_bytes
        ));
    }
    if kernel {
        // The call out, the call in and the local call: each handed over.
        let handovers: u32 = status_value(&status, "relay.kernel-handovers")
            .parse()
            .unwrap_or(0);
        assert!(handovers >= 3, "streams handed to the kernel: {status}");
        assert_eq!(status_value(&status, "relay.kernel-missed"), "", "{status}");
        assert_eq!(lab.forward_drops(), 0, "the forward chain dropped packets");
    }
    let rejected = if firewall { lab.firewall_rejects() } else { 0 };
    assert_eq!(
        rejected, 0,
        "the router's firewall rejected {rejected} packets from the WAN"
    );
    let kam_log = lab.log("kamailio");
    assert!(
        !kam_log.contains("10.77.1."),
        "a LAN address in kamailio's log:\n{}",
        kam_log
            .lines()
            .filter(|l| l.contains("10.77.1."))
            .collect::<Vec<_>>()
            .join("\n")
    );

    println!("{name}: {setup:?}");
    if firewall {
        println!("  OpenWrt's WAN firewall on the router: nothing rejected");
    }
    println!("  TCP connections opened on the WAN: {out_conns} by sipnat, {in_conns} by kamailio");
    for u in ["100", "101", "200"] {
        println!("  binding {u}: {:?}", bindings(&table, u));
    }
    for c in &calls {
        println!(
            "  {}: caller heard {:.1} s at {:.0} Hz, callee heard {:.1} s at {:.0} Hz; \
             RTP on the WAN: {} to W, {} from W",
            c.what,
            c.heard[0].0,
            c.heard[0].1,
            c.heard[1].0,
            c.heard[1].1,
            c.wan_rtp.0,
            c.wan_rtp.1
        );
    }
    println!("  SIP on rlan (UDP, TCP): {lan_sip:?}; SIP with kamailio on rwan: {wan_sip:?}");
    for l in &lines {
        println!("  {l}");
    }
    println!("  sipnat: {status}");
    println!("  {name}: {:.1} s", started.elapsed().as_secs_f64());
}

// --------------------------------------------------------------- the tests

const PLAIN: Setup = Setup {
    phone: Tp::Udp,
    provider: Tp::Udp,
    inbound: Inbound::Contact,
    firewall: false,
    idle_close: false,
    auth: false,
    kernel: false,
};

/// Phones to sipnat over UDP, sipnat to kamailio over UDP, behind OpenWrt's
/// default WAN firewall, on a router that forwards IP: every call's audio
/// goes through the kernel forwarding once it flows both ways, baresip
/// hears its peer's tone as before, and the forward chain (firewall4's
/// rules with the package's include) drops nothing.
#[test]
fn peers_udp_udp_kernel_forwarding() {
    scenario(
        "kernel",
        Setup {
            firewall: true,
            kernel: true,
            ..PLAIN
        },
    );
}

/// Phones to sipnat over UDP, sipnat to kamailio over UDP, behind OpenWrt's
/// default WAN firewall (the SIP port closed: conntrack lets kamailio's
/// requests in, as the README's Firewall section says).
#[test]
fn peers_udp_phones_udp_provider() {
    scenario(
        "udp-udp",
        Setup {
            firewall: true,
            ..PLAIN
        },
    );
}

/// Phones to sipnat over TCP, sipnat to kamailio over TCP, behind OpenWrt's
/// default WAN firewall; kamailio sends a call in to sipnat's masqueraded
/// contact, which finds the connection sipnat opened from its SIP port.
#[test]
fn peers_tcp_phones_tcp_provider() {
    scenario(
        "tcp-tcp",
        Setup {
            phone: Tp::Tcp,
            provider: Tp::Tcp,
            firewall: true,
            ..PLAIN
        },
    );
}

/// Phones to sipnat over UDP, sipnat to kamailio over TCP; kamailio sends
/// a call in over the connection sipnat opened. No firewall.
#[test]
fn peers_udp_phones_tcp_provider() {
    scenario(
        "udp-tcp",
        Setup {
            provider: Tp::Tcp,
            inbound: Inbound::Source,
            ..PLAIN
        },
    );
}

/// Phones to sipnat over TCP, sipnat to kamailio over UDP, behind OpenWrt's
/// default WAN firewall.
#[test]
fn peers_tcp_phones_udp_provider() {
    scenario(
        "tcp-udp",
        Setup {
            phone: Tp::Tcp,
            firewall: true,
            ..PLAIN
        },
    );
}

/// Phones to sipnat over UDP, sipnat to kamailio over TCP, behind OpenWrt's
/// default WAN firewall (the SIP port closed). sipnat opens its connection
/// to kamailio from its SIP port, so kamailio's requests toward sipnat's
/// Record-Route (`sip:198.51.100.1:5060;transport=tcp;lr`) and Contact come
/// back over that connection: the firewall rejects nothing, W's BYE reaches
/// A and the ACK of a call in reaches B. (Before the fix kamailio opened a
/// new connection to the router's SIP port, which the firewall rejected.)
#[test]
fn peers_udp_phones_tcp_provider_behind_firewall() {
    scenario(
        "tcp-fw",
        Setup {
            provider: Tp::Tcp,
            inbound: Inbound::Source,
            firewall: true,
            ..PLAIN
        },
    );
}

/// A TCP phone is reached after sipnat closed its idle connections
/// (`tcp_timeout`, 2 s here; the calls begin after 3 s of silence): a
/// request for the phone goes over the connection it registered or called
/// on while that is open, else over a new connection to its Contact
/// (`10.77.1.2:5060`, where baresip listens), not to the closed
/// connection's ephemeral source port (which the phone answers with a
/// reset). The first call checks the middle case too: A's INVITE came on a
/// connection that goes idle during the call and is closed, and W's BYE
/// must still reach A.
#[test]
fn peers_tcp_phone_reached_after_idle_close() {
    scenario(
        "tcp-idle",
        Setup {
            phone: Tp::Tcp,
            idle_close: true,
            ..PLAIN
        },
    );
}

/// Proxy authentication with real phones: sipnat asks A and B (baresip,
/// `auth_pass`) for passwords from a password file (a plaintext entry and
/// HA1 entries), they pass, register with kamailio and make every call as
/// without authentication; sipnat's realm never reaches the WAN (its
/// credentials are removed before the requests go on). Behind the default
/// firewall.
#[test]
fn peers_phones_authenticate_to_sipnat() {
    scenario(
        "auth",
        Setup {
            firewall: true,
            auth: true,
            ..PLAIN
        },
    );
}

/// The blacklist with a burst of wrong passwords from A's address (a plain
/// UDP socket in A's namespace answering sipnat's 407s with digest
/// responses for a wrong password): after `plugin_blacklist_hitcount` (5)
/// failures the client gets `403 Forbidden (blacklisted)`, also with the
/// right password, while phone B (baresip, right password) registers.
#[test]
fn peers_blacklist_after_a_burst_of_wrong_passwords() {
    use sipnat::auth::{
        Algorithm,
        digest::{ha1, response},
    };
    let Some(mut lab) = Lab::new("blacklist") else {
        return;
    };
    lab.start_kamailio(false);
    let mut extra = auth_config(&lab);
    extra.push_str("plugin_blacklist_hitcount = 5\nplugin_blacklist_duration = 600\n");
    lab.start_sipnat(&extra);
    let ns = lab.ns('l');
    let sock = std::thread::spawn(move || {
        let f = File::open(format!("/var/run/netns/{ns}")).expect("netns");
        // SAFETY: setns(2) with an open namespace fd; it moves only this
        // thread, which ends right after binding.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        std::net::UdpSocket::bind("10.77.1.2:5090").expect("bind in A's namespace")
    })
    .join()
    .expect("socket thread");
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let router = SocketAddr::from(([10, 77, 1, 1], 5060));
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.1.2:5090;branch=z9hG4bKbl{cseq};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:100@{DOMAIN}>;tag=bl\r\nTo: <sip:100@{DOMAIN}>\r\n\
             Call-ID: blacklist@10.77.1.2\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:100@10.77.1.2:5090>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    let ask = |msg: &str| -> String {
        sock.send_to(msg.as_bytes(), router).expect("send");
        let mut buf = [0u8; 4096];
        let (n, _) = sock.recv_from(&mut buf).expect("sipnat answers");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let nonce_of = |answer: &str| -> String {
        assert!(answer.starts_with("SIP/2.0 407 "), "{answer}");
        let at = answer.find("nonce=\"").expect("a nonce") + 7;
        answer[at..].split('"').next().unwrap().to_string()
    };
    let mut cseq = 1;
    for _ in 0..5 {
        let nonce = nonce_of(&ask(&register(cseq, "")));
        cseq += 1;
        let h1 = ha1(Algorithm::Md5, "100", AUTH_REALM, "not-the-password");
        let uri = format!("sip:{DOMAIN}");
        let r = response(
            Algorithm::Md5,
            &h1,
            &nonce,
            "00000001",
            "abc",
            "auth",
            "REGISTER",
            &uri,
        );
        let creds = format!(
            "Proxy-Authorization: Digest username=\"100\", realm=\"{AUTH_REALM}\", \
             nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\", algorithm=MD5, qop=auth, \
             nc=00000001, cnonce=\"abc\"\r\n"
        );
        let again = ask(&register(cseq, &creds));
        cseq += 1;
        assert!(
            again.starts_with("SIP/2.0 407 "),
            "a wrong password: {again}"
        );
    }
    let blocked = ask(&register(cseq, ""));
    assert!(
        blocked.starts_with("SIP/2.0 403 Forbidden (blacklisted)"),
        "after 5 wrong passwords: {blocked}"
    );
    // Phone B, another address with the right password, is not affected.
    let _b = lab.phone(PhoneSpec {
        account: format!(
            "{};auth_pass=secret101",
            lan_phone("B", 'm', "101", "10.77.1.3", 700, Tp::Udp, Tp::Udp).account
        ),
        ..lan_phone("B", 'm', "101", "10.77.1.3", 700, Tp::Udp, Tp::Udp)
    });
    wait_registered(&lab, &["101"]);
    let status = lab.sipnat_status();
    assert_eq!(
        status_value(&status, "auth.wrong-password"),
        "5",
        "{status}"
    );
    assert_eq!(status_value(&status, "blacklist.blocked"), "1", "{status}");
    assert_eq!(status_value(&status, "blacklist.refused"), "1", "{status}");
    println!("blacklist: {status}");
}

// ------------------------------------------------------------ WAV analysis

/// What a recording holds.
#[derive(Debug)]
struct Audio {
    /// 20 ms frames recorded.
    frames: usize,
    /// Frames loud enough to be the tone (RMS above a tenth of full scale).
    tone_frames: usize,
    /// The frequency of the loud frames, from their zero crossings.
    freq: f64,
}

/// Read a 16-bit PCM mono WAV file (what baresip's sndfile writes for
/// G.711: 8 kHz) and measure its tone. The data chunk is read to the end of
/// the file whatever its header says (a file still being written says 0).
fn analyse_wav(b: &[u8]) -> Result<Audio, String> {
    if b.get(..4) != Some(b"RIFF") || b.get(8..12) != Some(b"WAVE") {
        return Err("not a WAV file".into());
    }
    let mut at = 12;
    let mut rate = 0u32;
    let mut data: Option<&[u8]> = None;
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let size = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &b[at + 8..];
        if id == b"fmt " {
            let f = body.get(..16).ok_or("short fmt chunk")?;
            let format = u16::from_le_bytes([f[0], f[1]]);
            let channels = u16::from_le_bytes([f[2], f[3]]);
            rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            let bits = u16::from_le_bytes([f[14], f[15]]);
            if (format, channels, bits) != (1, 1, 16) {
                return Err(format!(
                    "format {format}, {channels} channels, {bits} bits: want 16-bit PCM mono"
                ));
            }
        } else if id == b"data" {
            data = Some(if size == 0 || size > body.len() {
                body
            } else {
                &body[..size]
            });
            break;
        }
        at += 8 + size + (size & 1);
    }
    let data = data.ok_or("no data chunk")?;
    if rate == 0 {
        return Err("no fmt chunk".into());
    }
    let samples: Vec<i32> = data
        .chunks_exact(2)
        .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])))
        .collect();
    Ok(measure_tone(&samples, rate))
}

fn measure_tone(samples: &[i32], rate: u32) -> Audio {
    let frame = (rate / 50) as usize;
    let loud = 3277.0; // a tenth of full scale, RMS
    let hysteresis = 2000;
    let mut tone_frames = 0;
    let mut cycles = 0usize;
    // Rising crossings with hysteresis (noise near zero cannot count twice),
    // through runs of loud frames.
    let mut low = false;
    for f in samples.chunks_exact(frame) {
        let rms = (f.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / frame as f64).sqrt();
        if rms < loud {
            low = false;
            continue;
        }
        tone_frames += 1;
        for &x in f {
            if x < -hysteresis {
                low = true;
            } else if x > hysteresis && low {
                low = false;
                cycles += 1;
            }
        }
    }
    let seconds = tone_frames as f64 * frame as f64 / f64::from(rate);
    Audio {
        frames: samples.len() / frame.max(1),
        tone_frames,
        freq: if seconds > 0.0 {
            cycles as f64 / seconds
        } else {
            0.0
        },
    }
}

// ------------------------------------------------------------ pcap reader

/// One IPv4 packet of a capture, or the whole frame when it is not IPv4.
#[derive(Debug, Default)]
struct Pkt {
    /// 17 UDP, 6 TCP, 1 ICMP, ...; 0 for a frame that is not IPv4.
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    /// TCP sequence number of the payload's first byte.
    seq: u32,
    /// TCP SYN flag (the SYN takes one sequence number).
    syn: bool,
    /// TCP ACK flag (a SYN without it opens a connection).
    ack: bool,
    /// The UDP or TCP payload (bounded by the IP length, so no padding).
    payload: Vec<u8>,
    /// Header-level LAN addresses found in this frame.
    header_leaks: Vec<&'static str>,
}

fn in_lan(ip: &[u8]) -> bool {
    ip.get(..3) == Some(&LAN_PREFIX[..])
}

fn rd16(b: &[u8], at: usize, le: bool) -> Option<u16> {
    let x: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(x)
    } else {
        u16::from_be_bytes(x)
    })
}

fn rd32(b: &[u8], at: usize, le: bool) -> Option<u32> {
    let x: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(x)
    } else {
        u32::from_be_bytes(x)
    })
}

/// Read a classic pcap file (either byte order, µs or ns timestamps) of
/// Ethernet frames, as tcpdump -w writes it.
fn parse_pcap(b: &[u8]) -> Result<Vec<Pkt>, String> {
    let magic = rd32(b, 0, true).ok_or("shorter than a pcap header")?;
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => return Err(format!("not a pcap file (magic {m:#x})")),
    };
    let linktype = rd32(b, 20, le).ok_or("truncated pcap header")?;
    if linktype != 1 {
        return Err(format!("link type {linktype}, expected 1 (Ethernet)"));
    }
    let mut pkts = Vec::new();
    let mut at = 24;
    while at < b.len() {
        let incl = rd32(b, at + 8, le).ok_or("truncated record header")? as usize;
        let frame = b
            .get(at + 16..at + 16 + incl)
            .ok_or("truncated packet data")?;
        pkts.push(parse_frame(frame));
        at += 16 + incl;
    }
    Ok(pkts)
}

fn parse_frame(f: &[u8]) -> Pkt {
    let mut p = Pkt::default();
    match rd16(f, 12, false) {
        Some(0x0800) => {
            let ip = f.get(14..).unwrap_or(&[]);
            let ihl = usize::from(ip.first().map_or(0, |v| v & 0x0f)) * 4;
            let total = usize::from(rd16(ip, 2, false).unwrap_or(0)).min(ip.len());
            p.proto = ip.get(9).copied().unwrap_or(0);
            p.src.copy_from_slice(ip.get(12..16).unwrap_or(&[0; 4]));
            p.dst.copy_from_slice(ip.get(16..20).unwrap_or(&[0; 4]));
            if in_lan(&p.src) || in_lan(&p.dst) {
                p.header_leaks.push("IPv4 source or destination");
            }
            let l4 = ip.get(ihl..total.max(ihl)).unwrap_or(&[]);
            match p.proto {
                17 => {
                    p.sport = rd16(l4, 0, false).unwrap_or(0);
                    p.dport = rd16(l4, 2, false).unwrap_or(0);
                    p.payload = l4.get(8..).unwrap_or(&[]).to_vec();
                }
                6 => {
                    p.sport = rd16(l4, 0, false).unwrap_or(0);
                    p.dport = rd16(l4, 2, false).unwrap_or(0);
                    p.seq = rd32(l4, 4, false).unwrap_or(0);
                    p.syn = l4.get(13).is_some_and(|f| f & 0x02 != 0);
                    p.ack = l4.get(13).is_some_and(|f| f & 0x10 != 0);
                    let off = usize::from(l4.get(12).map_or(0, |v| v >> 4)) * 4;
                    p.payload = l4.get(off..).unwrap_or(&[]).to_vec();
                }
                1 => {
                    // ICMP errors quote the offending packet's IPv4 header.
                    if matches!(l4.first(), Some(3) | Some(11)) {
                        let q = l4.get(8..).unwrap_or(&[]);
                        if in_lan(q.get(12..16).unwrap_or(&[]))
                            || in_lan(q.get(16..20).unwrap_or(&[]))
                        {
                            p.header_leaks.push("IPv4 header quoted in an ICMP error");
                        }
                    }
                    p.payload = l4.to_vec();
                }
                _ => p.payload = l4.to_vec(),
            }
        }
        Some(0x0806) => {
            let arp = f.get(14..).unwrap_or(&[]);
            if in_lan(arp.get(14..18).unwrap_or(&[])) || in_lan(arp.get(24..28).unwrap_or(&[])) {
                p.header_leaks.push("ARP sender or target");
            }
            p.payload = arp.to_vec();
        }
        _ => p.payload = f.to_vec(),
    }
    p
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeakKind {
    /// In an IPv4 header (or one quoted by ICMP), or in ARP.
    Header,
    /// As text in one packet's payload (UDP, one TCP segment, other).
    Payload,
    /// As text in a TCP connection's byte stream, split over segments (no
    /// single segment holds it).
    Stream,
}

#[derive(Debug)]
#[allow(dead_code)] // the fields are read through Debug in failure messages
struct Leak {
    kind: LeakKind,
    /// The packet's index, or for [`LeakKind::Stream`] the connection.
    at: String,
    context: String,
}

#[derive(Debug, Default)]
struct Scan {
    packets: usize,
    udp: usize,
    tcp_segments: usize,
    tcp_streams: usize,
    tcp_stream_bytes: usize,
    leaks: Vec<Leak>,
}

/// Every LAN address text in `b`, with its line as context.
fn lan_text(b: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(b.get(from..).unwrap_or(&[]), LAN_TEXT) {
        let hit = from + pos;
        let start = b[..hit]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        let end = b[hit..]
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .map_or(b.len(), |p| hit + p);
        out.push(String::from_utf8_lossy(&b[start..end]).into_owned());
        from = hit + 1;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Look for the LAN in a capture: headers, each packet's payload, and each
/// TCP connection's byte stream (its segments in sequence order, each byte
/// once; a hole the capture did not see becomes a NUL, so no text is matched
/// across it).
fn scan_pcap(b: &[u8]) -> Result<Scan, String> {
    let pkts = parse_pcap(b)?;
    let mut s = Scan {
        packets: pkts.len(),
        ..Scan::default()
    };
    type Flow = ([u8; 4], u16, [u8; 4], u16);
    let mut flows: BTreeMap<Flow, Vec<(u32, &[u8])>> = BTreeMap::new();
    let mut isn: BTreeMap<Flow, u32> = BTreeMap::new();
    for (i, p) in pkts.iter().enumerate() {
        for h in &p.header_leaks {
            s.leaks.push(Leak {
                kind: LeakKind::Header,
                at: format!("packet {i}"),
                context: h.to_string(),
            });
        }
        for line in lan_text(&p.payload) {
            s.leaks.push(Leak {
                kind: LeakKind::Payload,
                at: format!("packet {i}"),
                context: line,
            });
        }
        match p.proto {
            17 => s.udp += 1,
            6 => {
                let flow = (p.src, p.sport, p.dst, p.dport);
                if p.syn {
                    isn.insert(flow, p.seq.wrapping_add(1));
                }
                if !p.payload.is_empty() {
                    s.tcp_segments += 1;
                    flows.entry(flow).or_default().push((p.seq, &p.payload));
                }
            }
            _ => {}
        }
    }
    for (flow, mut segs) in flows {
        // Offsets from the first byte after the SYN, or from the lowest
        // sequence number seen when the capture began mid-connection.
        let base = isn.get(&flow).copied().unwrap_or_else(|| {
            let first = segs[0].0;
            segs.iter()
                .map(|(q, _)| *q)
                .min_by_key(|q| q.wrapping_sub(first) as i32)
                .unwrap_or(first)
        });
        segs.sort_by_key(|(q, _)| q.wrapping_sub(base));
        let mut stream: Vec<u8> = Vec::new();
        let mut next = 0usize;
        for (q, data) in segs {
            let off = q.wrapping_sub(base) as usize;
            if off > next {
                stream.push(0);
                next = off;
            }
            let skip = next - off;
            if skip < data.len() {
                stream.extend_from_slice(&data[skip..]);
                next = off + data.len();
            }
        }
        s.tcp_streams += 1;
        s.tcp_stream_bytes += stream.len();
        let name = format!(
            "{}:{} -> {}:{}",
            ip_text(flow.0),
            flow.1,
            ip_text(flow.2),
            flow.3
        );
        for line in lan_text(&stream) {
            // Found whole in one segment already: not a second leak.
            if !s.leaks.iter().any(|l| l.context == line) {
                s.leaks.push(Leak {
                    kind: LeakKind::Stream,
                    at: name.clone(),
                    context: line,
                });
            }
        }
    }
    Ok(s)
}

/// RTP packets (version 2, payload type 0: G.711 µ-law) from `a` to `b`
/// and from `b` to `a`.
fn rtp_counts(pcap: &[u8], a: [u8; 4], b: [u8; 4]) -> Result<(usize, usize), String> {
    let mut n = (0, 0);
    for p in parse_pcap(pcap)? {
        let rtp = p.proto == 17
            && p.payload.len() >= 12
            && p.payload[0] & 0xc0 == 0x80
            && p.payload[1] & 0x7f == 0;
        if rtp && p.src == a && p.dst == b {
            n.0 += 1;
        } else if rtp && p.src == b && p.dst == a {
            n.1 += 1;
        }
    }
    Ok(n)
}

/// SIP (port 5060 at either end) to or from `router` (with `peer` only, if
/// given), as (UDP datagrams, TCP segments with data). A connection sipnat
/// opens has an ephemeral port at the router's end.
fn sip_by_transport(pkts: &[Pkt], router: [u8; 4], peer: Option<[u8; 4]>) -> (usize, usize) {
    let mut n = (0, 0);
    for p in pkts {
        let ours = (p.src == router || p.dst == router) && (p.sport == 5060 || p.dport == 5060);
        let with_peer = peer.is_none_or(|w| p.src == w || p.dst == w);
        if !ours || !with_peer || p.payload.is_empty() {
            continue;
        }
        match p.proto {
            17 => n.0 += 1,
            6 => n.1 += 1,
            _ => {}
        }
    }
    n
}

mod reader {
    //! The pcap reader and the tone meter on made-up input: they must find
    //! what the tests rely on them to find.
    use super::*;

    fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        for v in [0u32, 0, 262_144, 1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for f in frames {
            for v in [1u32, 0, f.len() as u32, f.len() as u32] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(f);
        }
        b
    }

    fn ip(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(l4);
        f
    }

    fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut l4 = Vec::new();
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        l4.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend_from_slice(payload);
        ip(17, src, dst, &l4)
    }

    fn tcp(src: [u8; 4], dst: [u8; 4], seq: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
        let mut l4 = Vec::new();
        l4.extend_from_slice(&40000u16.to_be_bytes());
        l4.extend_from_slice(&5060u16.to_be_bytes());
        l4.extend_from_slice(&seq.to_be_bytes());
        l4.extend_from_slice(&[0, 0, 0, 0, 0x50, if syn { 0x02 } else { 0x18 }]);
        l4.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        l4.extend_from_slice(payload);
        ip(6, src, dst, &l4)
    }

    #[test]
    fn clean_capture_has_no_leak() {
        let sip =
            b"REGISTER sip:198.51.100.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060\r\n\r\n";
        let b = pcap(&[
            udp(ROUTER_WAN, PROVIDER, 5060, 5060, sip),
            tcp(ROUTER_WAN, PROVIDER, 7, true, b""),
            tcp(ROUTER_WAN, PROVIDER, 8, false, sip),
        ]);
        let s = scan_pcap(&b).unwrap();
        assert_eq!(
            (s.packets, s.udp, s.tcp_segments, s.tcp_streams),
            (3, 1, 1, 1)
        );
        assert!(s.leaks.is_empty(), "{:?}", s.leaks);
    }

    #[test]
    fn header_and_payload_leaks_are_found() {
        let b = pcap(&[
            udp(ROUTER_WAN, PROVIDER, 5060, 5060, b"c=IN IP4 10.77.1.2\r\n"),
            udp([10, 77, 1, 2], PROVIDER, 5060, 5060, b"x"),
            tcp(
                ROUTER_WAN,
                PROVIDER,
                1,
                false,
                b"Via: SIP/2.0/TCP 10.77.1.2:5060\r\n",
            ),
        ]);
        let kinds: Vec<LeakKind> = scan_pcap(&b)
            .unwrap()
            .leaks
            .iter()
            .map(|l| l.kind)
            .collect();
        assert_eq!(
            kinds,
            [LeakKind::Payload, LeakKind::Header, LeakKind::Payload]
        );
    }

    /// An address cut in two by the segment boundary is in no segment but
    /// in the stream; segments out of order and a retransmission do not
    /// hide it, and a hole in the capture does not make one up.
    #[test]
    fn an_address_split_over_tcp_segments_is_found_in_the_stream() {
        let first = b"Contact: <sip:100@10.77";
        let second = b".1.2:5060>\r\n";
        let b = pcap(&[
            tcp(ROUTER_WAN, PROVIDER, 999, true, b""),
            tcp(
                ROUTER_WAN,
                PROVIDER,
                1000 + first.len() as u32,
                false,
                second,
            ),
            tcp(ROUTER_WAN, PROVIDER, 1000, false, first),
            tcp(ROUTER_WAN, PROVIDER, 1000, false, first),
        ]);
        let s = scan_pcap(&b).unwrap();
        assert_eq!(s.leaks.len(), 1, "{:?}", s.leaks);
        assert_eq!(s.leaks[0].kind, LeakKind::Stream);
        assert_eq!(s.leaks[0].context, "Contact: <sip:100@10.77.1.2:5060>");

        let holed = pcap(&[
            tcp(ROUTER_WAN, PROVIDER, 999, true, b""),
            tcp(ROUTER_WAN, PROVIDER, 1000, false, b"x 10.77"),
            tcp(ROUTER_WAN, PROVIDER, 1100, false, b".1.2"),
        ]);
        assert!(scan_pcap(&holed).unwrap().leaks.is_empty());
    }

    #[test]
    fn rtp_and_sip_are_counted_by_direction_and_transport() {
        let rtp = [0x80u8, 0x00, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xff];
        let rtcp = [0x80u8, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0];
        let b = pcap(&[
            udp(ROUTER_WAN, WAN_PHONE, 20000, 10000, &rtp),
            udp(ROUTER_WAN, WAN_PHONE, 20000, 10000, &rtp),
            udp(WAN_PHONE, ROUTER_WAN, 10000, 20000, &rtp),
            udp(WAN_PHONE, ROUTER_WAN, 10001, 20001, &rtcp),
            udp(ROUTER_WAN, PROVIDER, 5060, 5060, b"OPTIONS"),
            tcp(PROVIDER, ROUTER_WAN, 5, false, b"SIP/2.0 200 OK"),
        ]);
        assert_eq!(rtp_counts(&b, ROUTER_WAN, WAN_PHONE).unwrap(), (2, 1));
        let pkts = parse_pcap(&b).unwrap();
        assert_eq!(sip_by_transport(&pkts, ROUTER_WAN, Some(PROVIDER)), (1, 1));
        assert_eq!(sip_by_transport(&pkts, ROUTER_WAN, Some(WAN_PHONE)), (0, 0));
    }

    #[test]
    fn the_tone_meter_measures_a_sine_and_ignores_silence() {
        let rate = 8000;
        let mut s: Vec<i32> = (0..rate * 2)
            .map(|i| {
                (10000.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 8000.0).sin()) as i32
            })
            .collect();
        s.extend(std::iter::repeat_n(0, 8000));
        let a = measure_tone(&s, rate as u32);
        assert_eq!((a.frames, a.tone_frames), (150, 100));
        assert!((a.freq - 440.0).abs() < 5.0, "{a:?}");
    }

    #[test]
    fn json_fields_and_netstrings() {
        let m = r#"{"event":true, "type": "CALL_CLOSED","param":"a \"b\"","n":3}"#;
        assert_eq!(json_field(m, "event").as_deref(), Some("true"));
        assert_eq!(json_field(m, "type").as_deref(), Some("CALL_CLOSED"));
        assert_eq!(json_field(m, "param").as_deref(), Some("a \"b\""));
        assert_eq!(json_field(m, "n").as_deref(), Some("3"));
        assert_eq!(json_field(m, "token"), None);
        assert_eq!(netstring(b"5:hello,6:"), Some(("hello".to_string(), 8)));
        assert_eq!(netstring(b"5:hel"), None);
    }
}
