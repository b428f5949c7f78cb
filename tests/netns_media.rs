//! sipnat relaying real RTP between real processes: the LAN / router / WAN
//! namespaces of `tests/netns/topo.sh`, sipnat (the binary cargo built) in
//! the router namespace with `ip_forward=0`, and the project's load generator
//! `sipnat-load` (`tests/tools/sipnat_load.rs`, a cargo example) as phone
//! (UAC, LAN) and far end (UAS, WAN). `tests/netns/media/README.md` explains
//! the setup and how loss is counted.
//!
//! The tests:
//! 1. two-way audio of one call from a registered phone, no loss, each end
//!    hearing only sipnat (LAN end from 10.77.1.1, WAN end from 198.51.100.1);
//! 2. the far end behind a second NAT (`tests/netns/media/nat.sh`) that
//!    advertises its private 192.168.50.2 in SDP: audio flows both ways once
//!    sipnat latches the NAT's public source;
//! 3. hold (re-INVITE `sendonly`) and resume (`sendrecv`): the call survives
//!    and the far end's audio comes back;
//! 4. early media: 183 with SDP and RTP before the 200 reach the phone;
//! 5. 300 concurrent calls at 50 packets/s each way (30,000 packets/s through
//!    sipnat), then sipnat's SIGUSR1 status shows no call and no stream left;
//! 6. a capture of the router's WAN interface during a call with early media
//!    and hold/resume (every kind of SDP crosses it): no LAN address, in any
//!    header or body; RTP seen only between the relay and the far end;
//! 7. CANCEL of a call ringing with early media: sipnat frees its relay
//!    stream at once;
//! 8. sipnat frozen across the far end's answer (its 200 OK and first RTP
//!    read in one wakeup): nothing lost;
//! 9. a far end whose SDP names the router's loopback or a LAN host: not one
//!    packet of the phone's audio goes there (captures on `lo` and `rlan`);
//! 10. a 50,000-port range (10000–59999, issue 15): only the spare pairs
//!     are bound at idle, 1,000 calls get audio both ways on ports from all
//!     over the range, and their sockets are closed again after;
//! 11. the kernel forwarding (issue 15), on a router that forwards IP: the
//!     call goes to the kernel once its audio flows both ways, comes back
//!     for hold and goes again after the resume, with no loss and sipnat
//!     relaying only a part; nothing is left in the kernel after;
//! 12. sipnat killed with `kill -9` while the kernel forwards a call: its
//!     rules and conntrack entries stay; the next start removes them, and
//!     SIGTERM removes the table;
//! 13. the kernel forwarding switched off, then on, by reloads during a
//!     call: back to the relay and the table gone at once, then handed over
//!     again, the audio whole throughout;
//! 14. sipnat without CAP_NET_ADMIN on a forwarding router: it says why the
//!     kernel forwarding is off and relays the whole call itself;
//! 15. the far end, then the phone, moving their media to a new address and
//!     port (re-INVITE) while the kernel forwards the call: taken back at
//!     once, the new address latched and handed over again, nothing sent to
//!     an old address once the new one spoke (captures on both sides), no
//!     loss.
//! 16. a call the kernel forwards for three times `rtp_timeout`: the
//!     kernel's counts, read back by tuple, keep its stream alive; it stays
//!     in the kernel to the hang-up, its audio whole.
//! 17. test 16 behind a firewall4-like forward chain with software flow
//!     offloading: the handed-over stream is offloaded (`[OFFLOAD]`), the
//!     flowtable's `counter` keeps its counts growing and so the stream
//!     alive, with or without the flowtable's `counter`; nothing is dropped
//!     or lost, nothing is left after. On a
//!     kernel without flowtables the test runs itself inside the VM of
//!     `tests/vm/run` (Debian 12's kernel under QEMU).
//!
//! The router does not forward IP (`ip_forward=0`) except in 11 to 17, so
//! everywhere else sipnat's kernel forwarding is off (the log says why).
//!
//! Every test makes its own namespaces (IDs unique per process and test) and
//! removes them in a `Drop` guard, also when the test fails; the processes
//! it started are killed by their own handles. The work directory (sipnat.log,
//! reports, captures) is kept when a test fails and its path printed.
//!
//! Needs root, `ip netns`, tcpdump, iptables, and the example binary, which
//! the tests build themselves with cargo when it is missing or stale (see
//! [`load_tool`]). Without root or the tools the tests FAIL saying so, unless
//! `SIPNAT_SKIP_NETNS=1`, which skips them.
//!
//! The `load_core` unit tests (SIP/SDP/RTP/statistics/JSON of the load tool)
//! run here too: they need nothing of the above.
//!
//! What these tests do not do: IPv6, TCP, SRTP, codecs, or any host outside
//! the namespaces.

#[path = "tools/load_core.rs"]
mod load_core;

mod netns_env;
use load_core::Json;
use netns_env::{environment_problem, sh, tail};
use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{OnceLock, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

const LAN_TEXT: &[u8] = b"10.77.1.";
const ROUTER_LAN: &str = "10.77.1.1";
const ROUTER_WAN: &str = "198.51.100.1";

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Inside the VM of `tests/vm/run`, which sets this.
fn in_vm() -> bool {
    std::env::var("SIPNAT_IN_VM").is_ok_and(|v| v == "1")
}

/// How many times longer the labs' own waits (a port bound, a reload, a
/// status line) may take: emulated (tests/vm/run, TCG, on a machine other
/// work may share), everything is slower.
fn patience() -> u32 {
    if in_vm() { 4 } else { 1 }
}

fn skip_allowed() -> bool {
    std::env::var("SIPNAT_SKIP_NETNS").is_ok_and(|v| v == "1")
}

/// The load tool next to this test, built once per run by the first test
/// that needs it ([`netns_env::build_load_tool`]).
fn load_tool() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(build_load_tool)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn build_load_tool() -> Result<PathBuf, String> {
    // Inside tests/vm/run the target directory is read-only: the run that
    // started the VM built the tool (see media_kernel_forwarding_under_flow_offloading).
    netns_env::build_load_tool(!in_vm())
}

/// The VM of test 17 ([`run_in_vm`]: QEMU, emulating) takes the CPUs of a
/// small machine: while it runs, no other test of this file does, so that
/// their timing (zero loss at 30,000 packets/s) does not suffer. Each
/// [`Lab`] holds this shared; the VM run, alone.
static CPUS: RwLock<()> = RwLock::new(());

/// A topology with its processes; everything is undone on drop.
struct Lab {
    id: String,
    name: &'static str,
    work: PathBuf,
    nat: bool,
    procs: Vec<(String, Child)>,
    sipnat_pid: Option<u32>,
    /// Released last (fields drop after [`Drop::drop`]), once the
    /// namespaces are gone.
    _cpus: RwLockReadGuard<'static, ()>,
}

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

impl Lab {
    /// `None`: skipped (SIPNAT_SKIP_NETNS=1 on a machine that cannot run it).
    fn new(name: &'static str, nat: bool) -> Option<Lab> {
        let n = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let id = format!("g{:x}{n}", std::process::id());
        if let Some(why) = environment_problem(&id, &["ip", "tcpdump", "iptables", "ss"]) {
            if skip_allowed() {
                println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
                return None;
            }
            panic!(
                "the network-namespace media tests cannot run here: {why}\n\
                 They need root, `ip netns`, tcpdump and iptables (tests/setup-deps.sh).\n\
                 Set SIPNAT_SKIP_NETNS=1 to skip them on purpose."
            );
        }
        let cpus = CPUS.read().unwrap_or_else(PoisonError::into_inner);
        let work = std::env::temp_dir().join(format!("sipnat-media-{id}-{name}"));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).expect("work dir");
        let mut lab = Lab {
            id,
            name,
            work,
            nat: false,
            procs: Vec::new(),
            sipnat_pid: None,
            _cpus: cpus,
        };
        lab.script("tests/netns/topo.sh", "up");
        if nat {
            lab.nat = true;
            lab.script("tests/netns/media/nat.sh", "up");
        }
        Some(lab)
    }

    fn script(&self, path: &str, cmd: &str) {
        let out = Command::new("bash")
            .arg(manifest().join(path))
            .args([cmd, &self.id])
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{path} {cmd} {} failed:\n{}{}",
            self.id,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ns(&self, role: char) -> String {
        format!("sn{role}-{}", self.id)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.work.join(file)
    }

    /// Start `cmd args` in namespace `role`, stdout+stderr to `<name>.out`.
    fn spawn(&mut self, name: &str, role: char, cmd: &Path, args: &[String]) -> u32 {
        let out = fs::File::create(self.path(&format!("{name}.out"))).expect("log file");
        let err = out.try_clone().expect("log file");
        fs::write(
            self.path(&format!("{name}.cmd")),
            format!(
                "ip netns exec {} {} {}\n",
                self.ns(role),
                cmd.display(),
                args.join(" ")
            ),
        )
        .expect("cmd file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(role)])
            .arg(cmd)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let pid = child.id();
        self.procs.push((name.to_string(), child));
        pid
    }

    /// Wait up to `limit` for process `name`; a process that overstays is
    /// killed and the test fails.
    fn wait(&mut self, name: &str, limit: Duration) -> ExitStatus {
        match self.wait_or_kill(name, limit) {
            Some(st) => st,
            None => panic!(
                "{name} did not finish within {limit:?} (killed)\n{}",
                self.context()
            ),
        }
    }

    /// Wait up to `limit` for process `name`; `None`: it overstayed and was
    /// killed.
    fn wait_or_kill(&mut self, name: &str, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        // The latest of that name (sipnat may have been started again).
        let i = self
            .procs
            .iter()
            .rposition(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no process {name}"));
        loop {
            if let Some(st) = self.procs[i].1.try_wait().expect("try_wait") {
                return Some(st);
            }
            if Instant::now() >= end {
                let _ = self.procs[i].1.kill();
                let _ = self.procs[i].1.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Until something listens on UDP `port` (at `ip`, if given) in `role`.
    fn wait_udp(&self, role: char, port: u16, ip: &str) {
        let end = Instant::now() + Duration::from_secs(5) * patience();
        while Instant::now() < end {
            let filter = format!("sport = :{port}");
            if let Some(o) = sh(
                "ip",
                &["netns", "exec", &self.ns(role), "ss", "-Hlun", &filter],
            ) && String::from_utf8_lossy(&o.stdout).contains(ip)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "nothing listens on UDP {ip}:{port} in {} after 5 s",
            self.ns(role)
        );
    }

    /// The router forwards IP (as a real router does), which the kernel
    /// forwarding needs; the provider still has no route to the LAN.
    fn router_forwards(&self) {
        let ok = sh(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns('r'),
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        )
        .is_some_and(|o| o.status.success());
        assert!(ok, "cannot switch on ip_forward in the router namespace");
    }

    /// The elements of the kernel forwarding's map (one per direction of
    /// each channel handed over), None when sipnat's table is not there.
    fn kernel_elements(&self) -> Option<u64> {
        load_core::nft_map_elements(&self.kernel_map()?)
    }

    /// The kernel forwarding's map as `nft list map` prints it, None when
    /// sipnat's table is not there.
    fn kernel_map(&self) -> Option<String> {
        let o = sh(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns('r'),
                "nft",
                "list",
                "map",
                "ip",
                "sipnat",
                "streams",
            ],
        )?;
        if !o.status.success() {
            return None;
        }
        Some(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Conntrack entries in the router namespace carrying the kernel
    /// forwarding's mark.
    fn marked_conntrack(&self) -> usize {
        let o = sh(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns('r'),
                "conntrack",
                "-L",
                "-m",
                "0x20000000/0x20000000",
            ],
        )
        .expect("conntrack");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("udp"))
            .count()
    }

    /// The marked conntrack entries (as [`Lab::marked_conntrack`] counts
    /// them): how many the flowtable carries (`[OFFLOAD]`), and their
    /// packets, both directions, as the kernel counted them (accounting on).
    fn offloaded_conntrack(&self) -> (usize, u64) {
        let o = sh(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns('r'),
                "conntrack",
                "-L",
                "-m",
                "0x20000000/0x20000000",
            ],
        )
        .expect("conntrack");
        let text = String::from_utf8_lossy(&o.stdout);
        let entries: Vec<&str> = text.lines().filter(|l| l.starts_with("udp")).collect();
        let offloaded = entries.iter().filter(|l| l.contains("[OFFLOAD]")).count();
        let packets = entries
            .iter()
            .flat_map(|l| l.split_whitespace())
            .filter_map(|w| w.strip_prefix("packets="))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum();
        (offloaded, packets)
    }

    /// Packets the router's conntrack dropped because their new entry
    /// clashed with one inserted meanwhile (`conntrack -S`: insert_failed).
    fn conntrack_insert_failed(&self) -> u64 {
        let o =
            sh("ip", &["netns", "exec", &self.ns('r'), "conntrack", "-S"]).expect("conntrack -S");
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("insert_failed="))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    }

    /// A forward chain and flowtable like firewall4's with software flow
    /// offloading (`flow_offloading '1'`): the flowtable on the router's two
    /// interfaces, declared with `counter` as fw4 does (`counter` false:
    /// without, as a flowtable made by hand may be); the chain's first
    /// rule offloads every TCP and UDP flow (fw4 puts it before the
    /// chain-pre includes), then the package's include
    /// (`openwrt/files/sipnat.nft`), then established traffic and the LAN
    /// accepted, the rest dropped and counted. The offload rule counts the
    /// packets that still take the slow path.
    fn flow_offloading(&self, counter: bool) {
        let include = fs::read_to_string(manifest().join("openwrt/files/sipnat.nft"))
            .expect("openwrt/files/sipnat.nft");
        let rules: Vec<&str> = include
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .collect();
        let script = format!(
            "table inet fw4lab {{\n flowtable ft {{\n  hook ingress priority filter; devices = {{ rlan, rwan }};{}\n }}\n \
             chain forward {{\n  type filter hook forward priority filter; policy accept;\n  \
             meta l4proto {{ tcp, udp }} counter flow offload @ft\n  {}\n  \
             ct state established,related accept\n  iifname \"rlan\" accept\n  counter drop\n }}\n}}\n",
            if counter { " counter;" } else { "" },
            rules.join("\n  ")
        );
        let path = self.path("fw4lab.nft");
        fs::write(&path, script).expect("fw4lab.nft");
        let out = sh(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns('r'),
                "nft",
                "-f",
                path.to_str().expect("utf-8 path"),
            ],
        )
        .expect("nft");
        assert!(
            out.status.success(),
            "nft -f fw4lab.nft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The fw4-like forward chain's counters: (packets through the offload
    /// rule, i.e. the slow path; packets dropped).
    fn forward_counts(&self) -> (u64, u64) {
        let o = sh(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns('r'),
                "nft",
                "list",
                "chain",
                "inet",
                "fw4lab",
                "forward",
            ],
        )
        .expect("nft");
        let text = String::from_utf8_lossy(&o.stdout);
        let packets = |needle: &str| {
            text.lines()
                .find(|l| l.contains(needle))
                .and_then(|l| {
                    l.split_once("packets ")?
                        .1
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                })
                .unwrap_or_else(|| panic!("no counter with {needle:?} in:\n{text}"))
        };
        (packets("@ft"), packets("drop"))
    }

    /// Poll `f` every 100 ms until it holds or `limit` passes.
    fn wait_for(&self, limit: Duration, f: impl Fn(&Lab) -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if f(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        f(self)
    }

    /// sipnat in the router namespace with the relay pool 20000–21199.
    fn start_sipnat(&mut self, debug: &str) {
        self.start_sipnat_range(debug, 20000, 21199);
    }

    /// sipnat in the router namespace with the relay pool `low`–`high`.
    fn start_sipnat_range(&mut self, debug: &str, low: u16, high: u16) {
        self.start_sipnat_as(debug, low, high, &[]);
    }

    /// [`Lab::start_sipnat_range`], started through `wrapper` (a command
    /// that runs the rest of its arguments, e.g. setpriv).
    fn start_sipnat_as(&mut self, debug: &str, low: u16, high: u16, wrapper: &[&str]) {
        let conf = format!(
            "# written by tests/netns_media.rs\n\
             if_inbound = rlan\nif_outbound = rwan\nsip_listen_port = 5060\n\
             rtp_proxy_enable = 1\nrtp_port_low = {low}\nrtp_port_high = {high}\n\
             registration_file = {}\n",
            self.path("registrations").display()
        );
        fs::write(self.path("sipnat.conf"), conf).expect("sipnat.conf");
        let mut args = vec![
            "-f".to_string(),
            "-c".into(),
            self.path("sipnat.conf").display().to_string(),
        ];
        if !debug.is_empty() {
            args.push("-d".into());
            args.push(debug.into());
        }
        let sipnat = Path::new(env!("CARGO_BIN_EXE_sipnat"));
        let pid = match wrapper.split_first() {
            None => self.spawn("sipnat", 'r', sipnat, &args),
            Some((cmd, rest)) => {
                let mut all: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
                all.push(sipnat.display().to_string());
                all.extend(args);
                self.spawn("sipnat", 'r', Path::new(cmd), &all)
            }
        };
        self.sipnat_pid = Some(pid);
        self.wait_udp('r', 5060, "");
    }

    fn sipnat_log(&self) -> String {
        fs::read_to_string(self.path("sipnat.out")).unwrap_or_default()
    }

    /// Append `line` to sipnat's configuration and have it reload (SIGHUP);
    /// wait until the log says the reload was done.
    fn reload_with(&self, line: &str) {
        let path = self.path("sipnat.conf");
        let mut conf = fs::read_to_string(&path).expect("sipnat.conf");
        conf.push_str(line);
        conf.push('\n');
        fs::write(&path, conf).expect("sipnat.conf");
        let before = self.sipnat_log().matches("configuration reloaded").count();
        let pid = self.sipnat_pid.expect("sipnat runs").to_string();
        assert!(sh("kill", &["-HUP", &pid]).is_some_and(|o| o.status.success()));
        assert!(
            self.wait_for(Duration::from_secs(5) * patience(), |l| l
                .sipnat_log()
                .matches("configuration reloaded")
                .count()
                > before),
            "no reload: {}",
            self.sipnat_log()
        );
    }

    /// CPU time sipnat has used so far (user + system, from /proc).
    fn sipnat_cpu(&self) -> Option<Duration> {
        let pid = self.sipnat_pid?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // fields after the ")" that ends the command name: state is field 3,
        // utime field 14, stime field 15 (proc(5)), in clock ticks
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        let hz: u64 = sh("getconf", &["CLK_TCK"])
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100);
        Some(Duration::from_millis(ticks * 1000 / hz))
    }

    /// The sockets sipnat has open now (its `/proc/PID/fd` links to
    /// `socket:`): SIP over UDP and TCP, the address watch, the relay's, DNS
    /// queries in flight.
    fn sipnat_sockets(&self) -> usize {
        let pid = self.sipnat_pid.expect("sipnat runs");
        fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| fs::read_link(e.path()).ok())
                    .filter(|l| l.to_string_lossy().starts_with("socket:"))
                    .count()
            })
            .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}\n{}", self.context()))
    }

    /// The router namespace's `/proc/net/sockstat` line `UDP: inuse N mem
    /// M` (M in pages): the kernel's count of UDP sockets there.
    fn udp_sockstat(&self) -> String {
        sh(
            "ip",
            &["netns", "exec", &self.ns('r'), "cat", "/proc/net/sockstat"],
        )
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("UDP:"))
                .map(str::to_string)
        })
        .unwrap_or_default()
    }

    /// SIGUSR1 to sipnat, then its new `status:` line.
    fn sipnat_status(&self) -> String {
        let pid = self.sipnat_pid.expect("sipnat runs").to_string();
        let before = self.sipnat_log().matches("status: ").count();
        let _ = sh("kill", &["-USR1", &pid]);
        let end = Instant::now() + Duration::from_secs(3) * patience();
        while Instant::now() < end {
            let log = self.sipnat_log();
            if log.matches("status: ").count() > before
                && let Some(line) = log.lines().rev().find(|l| l.contains("status: "))
            {
                return line.to_string();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sipnat logged no status line after SIGUSR1");
    }

    /// The far end, `sipnat-load uas`, in `role` ('w', or 'f' behind the NAT).
    fn start_uas(&mut self, role: char, ip: &str, extra: &[&str]) {
        let mut args: Vec<String> = ["uas", "--sip", &format!("{ip}:5060"), "--media-ip", ip]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend([
            "--report".to_string(),
            self.path("uas.json").display().to_string(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        self.spawn("uas", role, &load_tool(), &args);
        self.wait_udp(role, 5060, ip);
    }

    /// The far end at 198.51.100.2 for one call of up to `secs` seconds,
    /// expecting its media from the router's WAN address.
    fn start_far_end(&mut self, secs: u32) {
        let secs = secs.to_string();
        let args = [
            "--calls",
            "1",
            "--duration-s",
            &secs,
            "--expect-source",
            ROUTER_WAN,
        ];
        self.start_uas('w', "198.51.100.2", &args);
    }

    /// The phone, `sipnat-load uac`, registered, calling bob through sipnat.
    fn run_uac(&mut self, extra: &[&str], limit: Duration) -> ExitStatus {
        self.spawn_uac(extra);
        self.wait("uac", limit)
    }

    /// [`Lab::run_uac`] without waiting for it.
    fn spawn_uac(&mut self, extra: &[&str]) {
        let mut args: Vec<String> = [
            "uac",
            "--proxy",
            "10.77.1.1:5060",
            "--local",
            "10.77.1.2",
            "--target",
            "sip:bob@198.51.100.2",
            "--user",
            "100",
            "--register-to",
            "sip:198.51.100.2",
            "--expect-source",
            ROUTER_LAN,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend([
            "--report".to_string(),
            self.path("uac.json").display().to_string(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        self.spawn("uac", 'l', &load_tool(), &args);
    }

    /// tcpdump on interface `iface` of the router namespace into `file`
    /// (every frame, written at once), started when it says it listens;
    /// [`Lab::stop_capture`] ends it and returns the capture.
    fn start_capture(&mut self, iface: &str, file: &str) {
        let args: Vec<String> = [
            "-i",
            iface,
            "-nn",
            "-U",
            "--immediate-mode",
            "-s",
            "0",
            "-Z",
            "root",
            "-w",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([self.path(file).display().to_string()])
        .collect();
        let name = format!("tcpdump-{file}");
        self.spawn(&name, 'r', Path::new("tcpdump"), &args);
        let end = Instant::now() + Duration::from_secs(5);
        while !fs::read_to_string(self.path(&format!("{name}.out")))
            .unwrap_or_default()
            .contains("listening on")
        {
            assert!(Instant::now() < end, "tcpdump did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// End the capture into `file` (SIGINT: tcpdump writes what it has)
    /// and read it.
    fn stop_capture(&mut self, file: &str) -> Vec<u8> {
        let name = format!("tcpdump-{file}");
        let pid = self
            .procs
            .iter()
            .rfind(|(n, _)| *n == name)
            .map(|(_, c)| c.id())
            .unwrap_or_else(|| panic!("no capture {file}"));
        let _ = sh("kill", &["-INT", &pid.to_string()]);
        let _ = self.wait(&name, Duration::from_secs(3));
        fs::read(self.path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    /// Is process `name` still running?
    fn running(&mut self, name: &str) -> bool {
        self.procs
            .iter_mut()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, c)| matches!(c.try_wait(), Ok(None)))
    }

    fn report(&self, file: &str) -> Json {
        let text = fs::read_to_string(self.path(file))
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", file, self.context()));
        Json::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    /// What to print when a test fails.
    fn context(&self) -> String {
        let mut s = format!("work dir kept: {}\n", self.work.display());
        for f in ["uac.out", "uas.out"] {
            if let Ok(t) = fs::read_to_string(self.path(f))
                && !t.trim().is_empty()
            {
                s.push_str(&format!("---- {f}\n{}\n", tail(&t, 40)));
            }
        }
        s.push_str(&format!(
            "---- sipnat.out (tail)\n{}\n",
            tail(&self.sipnat_log(), 60)
        ));
        // The router's conntrack statistics (insert_failed, drop: a clash
        // between the two legs' first packets).
        if let Some(o) = sh("ip", &["netns", "exec", &self.ns('r'), "conntrack", "-L"]) {
            s.push_str(&format!(
                "---- conntrack -L (router)\n{}",
                String::from_utf8_lossy(&o.stdout)
            ));
        }
        if let Some(o) = sh("ip", &["netns", "exec", &self.ns('r'), "conntrack", "-S"]) {
            s.push_str(&format!(
                "---- conntrack -S (router)\n{}",
                String::from_utf8_lossy(&o.stdout)
            ));
        }
        s
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, c) in &mut self.procs {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
        if self.nat {
            let _ = Command::new("bash")
                .arg(manifest().join("tests/netns/media/nat.sh"))
                .args(["down", &self.id])
                .output();
        }
        let _ = Command::new("bash")
            .arg(manifest().join("tests/netns/topo.sh"))
            .args(["down", &self.id])
            .output();
        if std::thread::panicking() {
            eprintln!("[{}] work dir kept: {}", self.name, self.work.display());
        } else {
            let _ = fs::remove_dir_all(&self.work);
        }
    }
}

/// Both ends finished cleanly, reports OK; returns (uac, uas).
fn finish(lab: &mut Lab, uac_status: ExitStatus) -> (Json, Json) {
    if !uac_status.success() {
        // The far end may wait for calls that never come: do not wait long.
        let uas = lab.wait_or_kill("uas", Duration::from_secs(2));
        let problems = fs::read_to_string(lab.path("uac.json"))
            .ok()
            .and_then(|t| Json::parse(&t).ok())
            .and_then(|j| j.get("problems").cloned());
        panic!(
            "the phone (sipnat-load uac) failed ({uac_status}; far end: {uas:?}): {problems:?}\n{}",
            lab.context()
        );
    }
    let uas_status = lab.wait("uas", Duration::from_secs(15));
    let uac = lab.report("uac.json");
    let uas = lab.report("uas.json");
    for (who, r) in [("phone (uac)", &uac), ("far end (uas)", &uas)] {
        let srcs = r.arr("media_sources");
        println!(
            "[{}] {who}: calls {:?}\n    rtp {:?}\n    {} media sources, first {:?}",
            lab.name,
            r.get("calls"),
            r.get("rtp"),
            srcs.len(),
            srcs.first()
        );
    }
    assert!(
        uac_status.success() && uas_status.success(),
        "load tool failed (uac {uac_status}, uas {uas_status}): uac problems {:?}, uas problems {:?}\n{}",
        uac.get("problems"),
        uas.get("problems"),
        lab.context()
    );
    (uac, uas)
}

/// Every media source of a report has IP `ip` (and there is one).
fn assert_sources(r: &Json, ip: &str, who: &str) {
    let srcs: Vec<&str> = r
        .arr("media_sources")
        .iter()
        .filter_map(Json::as_str)
        .collect();
    assert!(!srcs.is_empty(), "{who} saw no media source");
    for s in &srcs {
        assert!(
            s.starts_with(&format!("{ip}:")),
            "{who} received media from {s}, expected only sipnat's {ip}: {srcs:?}"
        );
    }
}

/// RTP accounting of one direction (phone → far end or back), over every
/// call, the two reports' calls matched by Call-ID (the part before `@`,
/// which sipnat leaves alone).
#[derive(Debug, Default, Clone, Copy)]
struct Flow {
    sent: u64,
    received: u64,
    /// Missing below the highest packet the receiver got: lost mid-call.
    gaps: u64,
    /// Sent after the last packet the receiver got: the packets in flight
    /// when the call ended. sipnat frees a stream when it relays the BYE, so
    /// the far end's packets sent before the BYE reaches it are dropped by
    /// design (and the phone's last ones when sipnat reads the BYE before
    /// them); this is not lost audio.
    tail: u64,
    max_tail: u64,
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent {} received {} lost mid-call {} after hang-up {} (max {} in one call)",
            self.sent, self.received, self.gaps, self.tail, self.max_tail
        )
    }
}

fn call_key(call: &Json) -> String {
    let id = call.str_of("call_id").unwrap_or("");
    id.split('@').next().unwrap_or(id).to_string()
}

/// (phone → far end, far end → phone).
fn flows(uac: &Json, uas: &Json) -> (Flow, Flow) {
    let far: std::collections::HashMap<String, &Json> = uas
        .arr("per_call")
        .iter()
        .map(|c| (call_key(c), c))
        .collect();
    let (mut up, mut down) = (Flow::default(), Flow::default());
    for c in uac.arr("per_call") {
        let Some(f) = far.get(&call_key(c)) else {
            panic!("call {} reached no far end", call_key(c));
        };
        for (flow, tx, rx) in [(&mut up, c, *f), (&mut down, *f, c)] {
            let sent = tx.count("sent");
            let highest = rx.num("highest").expect("per-call 'highest' in the report");
            let next = (highest + 1.0).max(0.0) as u64;
            let tail = sent.saturating_sub(next);
            flow.sent += sent;
            flow.received += rx.count("unique");
            flow.gaps += rx.count("lost");
            flow.tail += tail;
            flow.max_tail = flow.max_tail.max(tail);
        }
    }
    (up, down)
}

/// Every packet of both directions arrived, except at most `tail` per call
/// in flight at the hang-up.
fn assert_audio(lab: &Lab, uac: &Json, uas: &Json, tail: u64) -> (Flow, Flow) {
    let (up, down) = flows(uac, uas);
    println!(
        "[{}] phone → far end: {up}\n[{}] far end → phone: {down}",
        lab.name, lab.name
    );
    assert!(
        up.gaps == 0 && down.gaps == 0 && up.max_tail <= tail && down.max_tail <= tail,
        "RTP lost: phone → far end {up}; far end → phone {down}\n{}",
        lab.context()
    );
    assert_eq!(uac.count("rtp.duplicates") + uas.count("rtp.duplicates"), 0);
    (up, down)
}

// ------------------------------------------------------------------ tests

/// 1: one call, ~3 s at 50 packets/s each way: nothing lost, each end hears
/// only sipnat's relay address on its side.
#[test]
fn media_two_way_audio() {
    let Some(mut lab) = Lab::new("twoway", false) else {
        return;
    };
    lab.start_sipnat("2");
    lab.start_uas(
        'w',
        "198.51.100.2",
        &[
            "--calls",
            "1",
            "--duration-s",
            "20",
            "--expect-source",
            ROUTER_WAN,
        ],
    );
    let st = lab.run_uac(
        &["--calls", "1", "--duration-s", "3"],
        Duration::from_secs(20),
    );
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(uac.count("calls.established"), 1);
    assert_eq!(uas.count("calls.ended"), 1);
    let sent_up = uac.count("rtp.sent");
    let sent_down = uas.count("rtp.sent");
    assert!(
        sent_up >= 140 && sent_down >= 140,
        "about 150 packets each way: {sent_up}/{sent_down}"
    );
    assert_audio(&lab, &uac, &uas, 2);
    assert_eq!(uac.count("rtp.duplicates") + uas.count("rtp.duplicates"), 0);
    assert_sources(&uac, ROUTER_LAN, "phone");
    assert_sources(&uas, ROUTER_WAN, "far end");
    // RTCP (one SR at the start of each stream) crossed the relay too
    assert!(uac.count("rtcp.received") >= 1 && uas.count("rtcp.received") >= 1);
    let status = lab.sipnat_status();
    assert!(
        status.contains(" calls 0/") && status.contains(" streams 0/"),
        "{status}"
    );
    // A router that does not forward IP: no kernel forwarding, said once.
    assert!(
        lab.sipnat_log()
            .contains("kernel forwarding off: net.ipv4.ip_forward is 0"),
        "{}",
        lab.sipnat_log()
    );
}

/// 2: the far end sits behind a second NAT and advertises its private
/// address in SDP; sipnat must latch the NAT's public source.
#[test]
fn media_far_end_behind_second_nat() {
    let Some(mut lab) = Lab::new("nat", true) else {
        return;
    };
    lab.start_sipnat("2");
    lab.start_uas(
        'f',
        "192.168.50.2",
        &[
            "--contact",
            "198.51.100.2:5060",
            "--calls",
            "1",
            "--duration-s",
            "20",
            "--expect-source",
            ROUTER_WAN,
        ],
    );
    let st = lab.run_uac(
        &["--calls", "1", "--duration-s", "3"],
        Duration::from_secs(20),
    );
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(uac.count("calls.established"), 1);
    // The far end's SDP named 192.168.50.2; its audio must reach the phone.
    let far_sends_to = uas.str_of("per_call.0.remote").unwrap_or("");
    assert!(
        far_sends_to.starts_with("198.51.100.1:"),
        "the far end sends to sipnat's WAN relay address, not {far_sends_to}"
    );
    let (up, down) = flows(&uac, &uas);
    println!("[nat] phone → far end: {up}\n[nat] far end → phone: {down}");
    // Nothing is lost either way. The far end's first packets may reach
    // sipnat in the same wakeup as its 200 OK: sipnat reads signalling
    // first, so they meet the leg the answer set up. The phone's first
    // packets may come before sipnat saw the NAT's address: they are held,
    // never sent to the private SDP address, and follow the latch.
    assert!(
        down.gaps == 0 && down.tail <= 2,
        "far end → phone: {down}\n{}",
        lab.context()
    );
    let gaps = uas.str_of("per_call.0.gaps").unwrap_or("");
    assert!(
        up.gaps == 0 && up.tail <= 2,
        "phone → far end: {up}, missing {gaps}\n{}",
        lab.context()
    );
    assert_sources(&uac, ROUTER_LAN, "phone");
    assert_sources(&uas, ROUTER_WAN, "far end");
}

/// 2b: sipnat is frozen (SIGSTOP) from before the far end answers until
/// after: the 200 OK and the far end's first second of RTP wait in their
/// sockets and are read in one wakeup. Signalling is read first, so not one
/// packet of the far end is lost (before, the relay judged them against a
/// leg the unread answer had not set up yet, and dropped them all).
#[test]
fn media_answer_and_first_rtp_in_one_wakeup_lose_nothing() {
    let Some(mut lab) = Lab::new("freeze", false) else {
        return;
    };
    lab.start_sipnat("2");
    lab.start_uas(
        'w',
        "198.51.100.2",
        &[
            "--calls",
            "1",
            "--duration-s",
            "20",
            "--ring-ms",
            "3000",
            "--expect-source",
            ROUTER_WAN,
        ],
    );
    let pid = lab.sipnat_pid.expect("sipnat runs").to_string();
    let mut args: Vec<String> = [
        "uac",
        "--proxy",
        "10.77.1.1:5060",
        "--local",
        "10.77.1.2",
        "--target",
        "sip:bob@198.51.100.2",
        "--user",
        "100",
        "--register-to",
        "sip:198.51.100.2",
        "--expect-source",
        ROUTER_LAN,
        "--calls",
        "1",
        "--duration-s",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend([
        "--report".into(),
        lab.path("uac.json").display().to_string(),
    ]);
    lab.spawn("uac", 'l', &load_tool(), &args);
    // The INVITE crosses within ~0.2 s; the far end answers 3 s after it.
    std::thread::sleep(Duration::from_millis(1500));
    let _ = sh("kill", &["-STOP", &pid]);
    std::thread::sleep(Duration::from_millis(2500));
    let _ = sh("kill", &["-CONT", &pid]);
    let st = lab.wait("uac", Duration::from_secs(20));
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(uac.count("calls.established"), 1);
    let delay = uac.num("rtp.max_delay_ms").unwrap_or(0.0);
    assert!(
        delay >= 200.0,
        "the freeze did not cover the answer (max delay {delay} ms): the test proved nothing\n{}",
        lab.context()
    );
    let (up, down) = flows(&uac, &uas);
    println!("[freeze] phone → far end: {up}\n[freeze] far end → phone: {down}");
    let got = uac.str_of("per_call.0.gaps").unwrap_or("");
    assert!(
        down.gaps == 0 && down.tail <= 2,
        "far end → phone: {down}, missing {got}\n{}",
        lab.context()
    );
    assert_audio(&lab, &uac, &uas, 2);
}

/// A far end whose SDP names `sdp_ip` — the router's loopback, or a phone
/// on the LAN — and that starts its own RTP only a second after answering:
/// sipnat must never send the phone's audio to `sdp_ip` (a capture on
/// `iface` in the router namespace, filtered by `filter`, sees nothing). It
/// holds the phone's first packets and sends the freshest of them to the
/// far end once its media shows where it is.
fn wan_sdp_pointing_inward(name: &'static str, sdp_ip: &str, iface: &str, filter: &str) {
    let Some(mut lab) = Lab::new(name, false) else {
        return;
    };
    lab.start_sipnat("2");
    let pcap = lab.path("inward.pcap");
    let args: Vec<String> = [
        "-i",
        iface,
        "-nn",
        "-U",
        "--immediate-mode",
        "-Z",
        "root",
        "-w",
        &pcap.display().to_string(),
        filter,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let tcpdump_pid = lab.spawn("tcpdump", 'r', Path::new("tcpdump"), &args);
    let end = Instant::now() + Duration::from_secs(5);
    while !fs::read_to_string(lab.path("tcpdump.out"))
        .unwrap_or_default()
        .contains("listening on")
    {
        assert!(Instant::now() < end, "tcpdump did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    lab.start_uas(
        'w',
        "198.51.100.2",
        &[
            "--sdp-ip",
            sdp_ip,
            "--send-after-ms",
            "1000",
            // The phone's first second is mostly lost (asserted below).
            "--max-loss-pct",
            "40",
            "--calls",
            "1",
            "--duration-s",
            "20",
            "--expect-source",
            ROUTER_WAN,
        ],
    );
    let st = lab.run_uac(
        &["--calls", "1", "--duration-s", "3"],
        Duration::from_secs(20),
    );
    let (uac, uas) = finish(&mut lab, st);
    let status = lab.sipnat_status();
    std::thread::sleep(Duration::from_millis(200));
    let _ = sh("kill", &["-INT", &tcpdump_pid.to_string()]);
    let _ = lab.wait("tcpdump", Duration::from_secs(3));
    let bytes = fs::read(&pcap).expect("pcap");
    let r = scan_pcap(&bytes).unwrap_or_else(|e| panic!("pcap: {e}"));
    println!(
        "[{name}] {} frames to {sdp_ip} on {iface}\n{status}",
        r.frames
    );
    assert_eq!(
        r.frames,
        0,
        "sipnat sent the phone's audio to {sdp_ip}\n{}",
        lab.context()
    );
    assert_eq!(uac.count("calls.established"), 1);
    let (up, down) = flows(&uac, &uas);
    println!("[{name}] phone → far end: {up}\n[{name}] far end → phone: {down}");
    assert!(down.gaps == 0, "far end → phone: {down}\n{}", lab.context());
    // The phone's first second went nowhere but the hold: its oldest
    // packets are lost (the hold keeps a few), never later ones.
    let gaps = uas.str_of("per_call.0.gaps").unwrap_or("");
    assert!(
        up.received >= 80 && (up.gaps == 0 || (gaps.starts_with("0-") && !gaps.contains(','))),
        "phone → far end: {up}, missing {gaps}\n{}",
        lab.context()
    );
    assert!(status.contains(" rtp-held "), "{status}");
    assert!(
        !status.contains(" rtp-flushed 0"),
        "nothing flushed: {status}"
    );
}

/// 8: a WAN SDP with `c=127.0.0.1` (a caller pointing the phone's audio at
/// the router itself).
#[test]
fn media_wan_sdp_naming_loopback_gets_nothing() {
    wan_sdp_pointing_inward(
        "inlo",
        "127.0.0.1",
        "lo",
        "udp and (dst port 30000 or dst port 30001)",
    );
}

/// 9: a WAN SDP naming another phone on the LAN (10.77.1.3).
#[test]
fn media_wan_sdp_naming_a_lan_host_gets_nothing() {
    wan_sdp_pointing_inward("inlan", "10.77.1.3", "rlan", "udp and dst host 10.77.1.3");
}

/// 3: hold (re-INVITE sendonly → recvonly) and resume (sendrecv): the call
/// is kept and the far end's audio resumes.
#[test]
fn media_hold_and_resume() {
    let Some(mut lab) = Lab::new("hold", false) else {
        return;
    };
    lab.start_sipnat("2");
    lab.start_uas(
        'w',
        "198.51.100.2",
        &[
            "--calls",
            "1",
            "--duration-s",
            "20",
            "--expect-source",
            ROUTER_WAN,
        ],
    );
    let st = lab.run_uac(
        &[
            "--calls",
            "1",
            "--duration-s",
            "4",
            "--hold-at-s",
            "1",
            "--resume-at-s",
            "2.5",
        ],
        Duration::from_secs(20),
    );
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(uac.count("calls.ended"), 1, "the call ended with BYE/200");
    assert_eq!(uac.str_of("per_call.0.status"), Some("Done"));
    // The far end stopped for ~1.5 s: it sent ~125 instead of ~200 packets.
    let down = uas.count("rtp.sent");
    assert!(
        (90..=160).contains(&down),
        "far end sent {down} packets (paused on hold)"
    );
    let resumed = uac.count("rtp.rx_resumed");
    assert!(
        resumed >= 60,
        "phone heard {resumed} packets after the resume (expect ~75)"
    );
    assert!(
        uac.count("rtp.rx_hold") <= 5,
        "far end kept sending on hold"
    );
    assert_audio(&lab, &uac, &uas, 2);
    assert_sources(&uac, ROUTER_LAN, "phone");
    assert_sources(&uas, ROUTER_WAN, "far end");
}

/// 4: early media: the far end answers 183 with SDP and sends RTP for a
/// second before its 200; the phone hears it before the answer.
#[test]
fn media_early_media_before_answer() {
    let Some(mut lab) = Lab::new("early", false) else {
        return;
    };
    lab.start_sipnat("2");
    lab.start_uas(
        'w',
        "198.51.100.2",
        &[
            "--calls",
            "1",
            "--duration-s",
            "20",
            "--early-media",
            "--ring-ms",
            "1000",
            "--expect-source",
            ROUTER_WAN,
        ],
    );
    let st = lab.run_uac(
        &["--calls", "1", "--duration-s", "2"],
        Duration::from_secs(20),
    );
    let (uac, uas) = finish(&mut lab, st);
    let early = uac.count("rtp.rx_early");
    assert!(
        early >= 35,
        "phone heard {early} early packets (expect ~50)"
    );
    assert_audio(&lab, &uac, &uas, 2);
    assert_sources(&uac, ROUTER_LAN, "phone");
    assert_sources(&uas, ROUTER_WAN, "far end");
}

/// 5: 300 concurrent calls at ~100 calls/s, 5 s of RTP each at 50 packets/s
/// each way; everything delivered; afterwards sipnat's tables are empty.
#[test]
fn media_300_concurrent_calls() {
    let Some(mut lab) = Lab::new("load", false) else {
        return;
    };
    lab.start_sipnat("");
    lab.start_uas(
        'w',
        "198.51.100.2",
        &[
            "--calls",
            "300",
            "--duration-s",
            "40",
            "--expect-source",
            ROUTER_WAN,
            "--max-loss-pct",
            "0.1",
        ],
    );
    let st = lab.run_uac(
        &[
            "--calls",
            "300",
            "--rate",
            "100",
            "--duration-s",
            "5",
            "--max-loss-pct",
            "0.1",
        ],
        Duration::from_secs(45),
    );
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(uac.count("calls.established"), 300);
    assert_eq!(uac.count("calls.ended"), 300);
    assert_eq!(uas.count("calls.ended"), 300);
    let (up, down) = flows(&uac, &uas);
    let total = up.sent + down.sent;
    let pct = (up.gaps + down.gaps) as f64 * 100.0 / total as f64;
    println!(
        "300 calls: {total} RTP packets sent, lost mid-call {pct:.4} %\n  phone → far end: {up}\n  \
         far end → phone: {down}\n  max one-way delay {:?}/{:?} ms, reordered {}/{}",
        uac.num("rtp.max_delay_ms"),
        uas.num("rtp.max_delay_ms"),
        uac.count("rtp.reordered"),
        uas.count("rtp.reordered")
    );
    assert!(
        total >= 2 * 300 * 240,
        "about 75,000 packets each way: {total}"
    );
    assert!(
        pct < 0.1,
        "RTP loss {pct:.4} % (≥ 0.1 %)\n{}",
        lab.context()
    );
    // The far end hears the BYE a little after sipnat freed the stream; on
    // a loaded machine that takes a while, but not half a second.
    assert!(
        up.max_tail <= 25 && down.max_tail <= 25,
        "too many packets lost at the hang-up: {up} / {down}"
    );
    assert_sources(&uac, ROUTER_LAN, "phones");
    assert_sources(&uas, ROUTER_WAN, "far end");
    println!(
        "sipnat (debug build) used {:?} of CPU for the whole run",
        lab.sipnat_cpu()
    );
    let status = lab.sipnat_status();
    println!("{status}");
    assert!(
        status.contains(" calls 0/") && status.contains(" streams 0/"),
        "sipnat still holds calls or streams after every call ended: {status}"
    );
}

/// 10 (issue 15): siproxd users' range 10000–59999 (25,000 pairs) starts,
/// and sipnat binds only its spare pairs at idle; 1,000 calls (100 a
/// second, 15 s each, 10 packets/s each way) get audio both ways on ports
/// from all over the range; once they ended every call's sockets are
/// closed again.
#[test]
fn media_1000_calls_on_a_50000_port_range() {
    use sipnat::limits::SPARE_PAIRS;
    let Some(mut lab) = Lab::new("lazy", false) else {
        return;
    };
    lab.start_sipnat_range("", 10000, 59999);
    // SIP over UDP and TCP, the address watch (rtnetlink), and the spares,
    // bound in sipnat's first pass
    let idle = 3 + 2 * SPARE_PAIRS;
    let end = Instant::now() + Duration::from_secs(5);
    while lab.sipnat_sockets() < idle && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = lab.udp_sockstat();
    assert_eq!(
        lab.sipnat_sockets(),
        idle,
        "idle sockets\n{}",
        lab.context()
    );
    lab.start_uas(
        'w',
        "198.51.100.2",
        &[
            "--calls",
            "1000",
            "--duration-s",
            "150",
            "--pps",
            "10",
            "--expect-source",
            ROUTER_WAN,
            "--max-loss-pct",
            "0.1",
        ],
    );
    lab.spawn_uac(&[
        "--calls",
        "1000",
        "--rate",
        "100",
        "--duration-s",
        "15",
        "--pps",
        "10",
        "--max-loss-pct",
        "0.1",
    ]);
    let (mut peak, mut peak_stat) = (0, String::new());
    let end = Instant::now() + Duration::from_secs(140);
    while lab.running("uac") && Instant::now() < end {
        let n = lab.sipnat_sockets();
        if n > peak {
            (peak, peak_stat) = (n, lab.udp_sockstat());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = lab.wait("uac", Duration::from_secs(10));
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(uac.count("calls.established"), 1000);
    assert_eq!(uac.count("calls.ended"), 1000);
    assert_eq!(uas.count("calls.ended"), 1000);
    let (up, down) = flows(&uac, &uas);
    let total = up.sent + down.sent;
    let pct = (up.gaps + down.gaps) as f64 * 100.0 / total as f64;
    println!(
        "1000 calls on 10000-59999: {total} RTP packets, lost mid-call {pct:.4} %\n  \
         phone → far end: {up}\n  far end → phone: {down}\n  \
         sipnat's sockets: {idle} idle ({before}), at most {peak} during the calls ({peak_stat})"
    );
    assert!(
        up.received > 0 && down.received > 0,
        "audio both ways: {up} / {down}"
    );
    assert!(
        pct < 0.1,
        "RTP loss {pct:.4} % (≥ 0.1 %)\n{}",
        lab.context()
    );
    assert!(
        up.max_tail <= 5 && down.max_tail <= 5,
        "too many packets lost at the hang-up: {up} / {down}"
    );
    assert_sources(&uac, ROUTER_LAN, "phones");
    assert_sources(&uas, ROUTER_WAN, "far end");
    // every call's relay port (where the phone sent) is of the range, and
    // they are spread over it: random starts, not the bottom pairs
    let ports: Vec<u16> = uac
        .arr("per_call")
        .iter()
        .filter_map(|c| c.str_of("remote"))
        .filter_map(|r| r.rsplit_once(':')?.1.parse().ok())
        .collect();
    assert_eq!(ports.len(), 1000);
    assert!(
        ports
            .iter()
            .all(|p| (10000..59999).contains(p) && p % 2 == 0)
    );
    let distinct: std::collections::BTreeSet<&u16> = ports.iter().collect();
    assert!(distinct.len() >= 900, "{} distinct ports", distinct.len());
    assert!(ports.iter().any(|p| *p >= 35000), "{ports:?}");
    // never more than a pair per call plus the spares (and DNS sockets)
    assert!(
        peak <= idle + 2 * 1000 + 8,
        "{peak} sockets for 1,000 calls"
    );
    // the calls ended: their sockets are closed (at the BYE, before the
    // phone got its answer)
    let end = Instant::now() + Duration::from_secs(5);
    while lab.sipnat_sockets() > idle && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(lab.sipnat_sockets(), idle, "{}", lab.context());
    let status = lab.sipnat_status();
    println!("{status}\n  after: {}", lab.udp_sockstat());
    assert!(
        status.contains(" calls 0/")
            && status.contains(" streams 0/2048 ")
            && status.contains(&format!(" ports-bound {} ", 2 * SPARE_PAIRS)),
        "{status}"
    );
}

/// 6: the router's WAN interface during a call with early media, hold and
/// resume (183, 200, two re-INVITEs and their answers all carry SDP): no LAN
/// address anywhere, and the RTP on the wire runs between the relay and the
/// far end only.
#[test]
fn media_wan_capture_has_no_lan_address() {
    let Some(mut lab) = Lab::new("pcap", false) else {
        return;
    };
    lab.start_sipnat("2");
    lab.start_capture("rwan", "wan.pcap");
    lab.start_uas(
        'w',
        "198.51.100.2",
        &[
            "--calls",
            "1",
            "--duration-s",
            "20",
            "--early-media",
            "--ring-ms",
            "500",
        ],
    );
    let st = lab.run_uac(
        &[
            "--calls",
            "1",
            "--duration-s",
            "3",
            "--hold-at-s",
            "1",
            "--resume-at-s",
            "2",
        ],
        Duration::from_secs(20),
    );
    let _ = finish(&mut lab, st);
    std::thread::sleep(Duration::from_millis(200));
    let bytes = lab.stop_capture("wan.pcap");
    let r = scan_pcap(&bytes).unwrap_or_else(|e| panic!("wan.pcap: {e}"));
    println!(
        "wan.pcap: {} frames, {} SIP, {} SIP with SDP, {} RTP/RTCP",
        r.frames, r.sip, r.sdp, r.media
    );
    assert!(
        r.leaks.is_empty(),
        "LAN address on the WAN:\n{:#?}\n{}",
        r.leaks,
        lab.context()
    );
    assert!(r.sip >= 10, "SIP crossed the WAN: {}", r.sip);
    assert!(
        r.sdp >= 5,
        "INVITE, 183, 200 and two re-INVITEs + answers carry SDP: {}",
        r.sdp
    );
    assert!(r.media >= 200, "RTP crossed the WAN: {}", r.media);
    assert!(
        r.media_strangers.is_empty(),
        "media between other hosts: {:?}",
        r.media_strangers
    );
}

/// 7: the phone cancels a call that rings with early media: the early RTP
/// reached it, the far end answered 487, and sipnat freed the call and its
/// relay stream at once (nothing waits for `rtp_timeout`).
#[test]
fn media_cancel_during_early_media_frees_the_relay() {
    let Some(mut lab) = Lab::new("cancel", false) else {
        return;
    };
    lab.start_sipnat("2");
    lab.start_uas(
        'w',
        "198.51.100.2",
        &[
            "--calls",
            "1",
            "--duration-s",
            "20",
            "--early-media",
            "--ring-ms",
            "5000",
            "--expect-source",
            ROUTER_WAN,
        ],
    );
    let st = lab.run_uac(
        &["--calls", "1", "--cancel-after-ms", "1000"],
        Duration::from_secs(20),
    );
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(
        uac.count("calls.cancelled"),
        1,
        "phone got 487 after CANCEL"
    );
    assert_eq!(uas.count("calls.cancelled"), 1, "far end saw the CANCEL");
    assert_eq!(
        uas.str_of("per_call.0.status"),
        Some("Ended"),
        "487 was ACKed"
    );
    let early = uac.count("rtp.rx_early");
    assert!(
        early >= 35,
        "phone heard {early} early packets (expect ~50)"
    );
    assert_sources(&uac, ROUTER_LAN, "phone");
    let status = lab.sipnat_status();
    assert!(
        status.contains(" calls 0/") && status.contains(" streams 0/"),
        "sipnat still holds the cancelled call: {status}"
    );
}

// ------------------------------------------------------------ pcap reader

#[derive(Debug, Default)]
struct Capture {
    frames: usize,
    sip: usize,
    sdp: usize,
    media: usize,
    /// UDP non-SIP flows not between the relay (198.51.100.1:20000-21199)
    /// and the far end (198.51.100.2).
    media_strangers: Vec<String>,
    leaks: Vec<String>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The frames of a classic pcap (µs or ns, either byte order) of
/// Ethernet frames; a truncated last record (tcpdump stopped mid-write)
/// ends the file.
fn pcap_frames(b: &[u8]) -> Result<Vec<&[u8]>, String> {
    let magic: [u8; 4] = b
        .get(..4)
        .ok_or("no pcap header")?
        .try_into()
        .map_err(|_| "no pcap header")?;
    let le = match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => return Err(format!("not a pcap file (magic {m:#x})")),
    };
    let rd32 = |at: usize| -> Option<u32> {
        let x: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(x)
        } else {
            u32::from_be_bytes(x)
        })
    };
    if rd32(20) != Some(1) {
        return Err("link type is not Ethernet".into());
    }
    let mut frames = Vec::new();
    let mut at = 24;
    while let Some(len) = rd32(at + 8) {
        let Some(frame) = b.get(at + 16..at + 16 + len as usize) else {
            break;
        };
        frames.push(frame);
        at += 16 + len as usize;
    }
    Ok(frames)
}

/// Every frame of a capture scanned ([`scan_frame`]).
fn scan_pcap(b: &[u8]) -> Result<Capture, String> {
    let mut c = Capture::default();
    for frame in pcap_frames(b)? {
        scan_frame(c.frames, frame, &mut c);
        c.frames += 1;
    }
    Ok(c)
}

/// The UDP datagram in an Ethernet frame: source, destination, payload.
fn udp_of(f: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4, &[u8])> {
    if be16(f, 12)? != 0x0800 {
        return None;
    }
    let ip = f.get(14..)?;
    if *ip.get(9)? != 17 {
        return None;
    }
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let o: [u8; 4] = ip.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(o))
    };
    let udp = ip.get(usize::from(ip[0] & 0x0f) * 4..)?;
    let src = SocketAddrV4::new(addr(12)?, be16(udp, 0)?);
    let dst = SocketAddrV4::new(addr(16)?, be16(udp, 2)?);
    Some((src, dst, udp.get(8..)?))
}

fn scan_frame(index: usize, f: &[u8], c: &mut Capture) {
    if let Some(p) = f.windows(LAN_TEXT.len()).position(|w| w == LAN_TEXT) {
        let start = f[..p]
            .iter()
            .rposition(|&x| x == b'\n')
            .map_or(0, |s| s + 1);
        let end = f[p..]
            .iter()
            .position(|&x| x == b'\r' || x == b'\n')
            .map_or(f.len(), |e| p + e);
        c.leaks.push(format!(
            "frame {index}: text {:?}",
            String::from_utf8_lossy(&f[start..end])
        ));
    }
    match be16(f, 12) {
        Some(0x0800) => {}
        Some(0x0806) => {
            let arp = f.get(14..).unwrap_or(&[]);
            for ip in [arp.get(14..18), arp.get(24..28)].into_iter().flatten() {
                if ip.starts_with(&[10, 77, 1]) {
                    c.leaks
                        .push(format!("frame {index}: ARP for a LAN address"));
                }
            }
            return;
        }
        _ => return,
    }
    let ip = f.get(14..).unwrap_or(&[]);
    let (Some(src), Some(dst)) = (ip.get(12..16), ip.get(16..20)) else {
        return;
    };
    if src.starts_with(&[10, 77, 1]) || dst.starts_with(&[10, 77, 1]) {
        c.leaks
            .push(format!("frame {index}: LAN address in the IPv4 header"));
    }
    if ip.get(9) != Some(&17) {
        return;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let udp = ip.get(ihl..).unwrap_or(&[]);
    let (Some(sp), Some(dp)) = (be16(udp, 0), be16(udp, 2)) else {
        return;
    };
    if sp == 5060 || dp == 5060 {
        c.sip += 1;
        if udp.windows(5).any(|w| w == b"\nv=0\r") {
            c.sdp += 1;
        }
        return;
    }
    c.media += 1;
    let relay = |a: &[u8], p: u16| a == [198, 51, 100, 1] && (20000..=21199).contains(&p);
    let far = |a: &[u8]| a == [198, 51, 100, 2];
    if !((relay(src, sp) && far(dst)) || (far(src) && relay(dst, dp))) {
        c.media_strangers.push(format!(
            "frame {index}: {}:{sp} -> {}:{dp}",
            Ipv4Addr::new(src[0], src[1], src[2], src[3]),
            Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3])
        ));
    }
}

#[test]
fn pcap_reader_finds_leaks_and_classifies_media() {
    fn udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        f.extend_from_slice(&((28 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sp.to_be_bytes());
        f.extend_from_slice(&dp.to_be_bytes());
        f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        f
    }
    let mut b = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    let (r, w) = ([198, 51, 100, 1], [198, 51, 100, 2]);
    let frames = [
        udp(
            r,
            w,
            5060,
            5060,
            b"INVITE x SIP/2.0\r\n\r\nv=0\r\nc=IN IP4 198.51.100.1\r\n",
        ),
        udp(r, w, 20000, 30000, b"rtp"),
        udp(w, r, 30000, 20000, b"rtp"),
        udp(
            r,
            w,
            5060,
            5060,
            b"BYE x SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.1.2\r\n\r\n",
        ),
        udp([10, 77, 1, 2], w, 4000, 30000, b"x"),
        udp(r, w, 9999, 30000, b"y"),
    ];
    for f in &frames {
        for v in [0u32, 0, f.len() as u32, f.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(f);
    }
    b.extend_from_slice(&[1, 2, 3]); // truncated record: ignored
    let c = scan_pcap(&b).unwrap();
    assert_eq!((c.frames, c.sip, c.sdp, c.media), (6, 2, 1, 4));
    assert_eq!(c.leaks.len(), 2, "{:?}", c.leaks);
    assert!(c.leaks[0].contains("Via: SIP/2.0/UDP 10.77.1.2"));
    assert!(c.leaks[1].contains("IPv4 header"));
    assert_eq!(c.media_strangers.len(), 2, "{:?}", c.media_strangers);
    assert!(scan_pcap(b"garbage").is_err());
}

/// A number from sipnat's status line: `name N`.
fn status_num(status: &str, name: &str) -> u64 {
    status
        .split_once(&format!(" {name} "))
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// 11: the kernel forwarding (issue 15): with the router forwarding IP, a
/// call whose audio flows both ways is handed to the kernel (nftables,
/// `table ip sipnat`), which then carries its RTP: sipnat relays only the
/// first packets. Hold takes it back, the resumed call goes again, and the
/// hang-up leaves nothing in the kernel. Audio both ways with no loss, each
/// end hearing only the router's address on its side, as with the relay.
#[test]
fn media_kernel_forwarding_hold_and_resume() {
    let Some(mut lab) = Lab::new("kernel", false) else {
        return;
    };
    lab.router_forwards();
    lab.start_sipnat("2");
    // Said once the table is made (after the SIP port is bound).
    assert!(
        lab.wait_for(Duration::from_secs(5), |l| l
            .sipnat_log()
            .contains("kernel forwarding on")),
        "{}",
        lab.sipnat_log()
    );
    assert_eq!(lab.kernel_elements(), Some(0), "a fresh table");
    lab.start_far_end(30);
    lab.spawn_uac(&[
        "--calls",
        "1",
        "--duration-s",
        "8",
        "--hold-at-s",
        "4",
        "--resume-at-s",
        "5.5",
    ]);
    // Before the hold: both directions of the RTP channel in the kernel.
    assert!(
        lab.wait_for(Duration::from_secs(4), |l| l.kernel_elements() >= Some(2)),
        "the call never went to the kernel: {:?}\n{}",
        lab.kernel_elements(),
        lab.context()
    );
    let mid = lab.sipnat_status();
    assert!(status_num(&mid, "relay.kernel-channels") >= 1, "{mid}");
    let st = lab.wait("uac", Duration::from_secs(30));
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(uac.count("calls.ended"), 1, "the call ended with BYE/200");
    assert_eq!(uac.str_of("per_call.0.status"), Some("Done"));
    let (up, down) = assert_audio(&lab, &uac, &uas, 2);
    assert!(
        uac.count("rtp.rx_resumed") >= 60,
        "phone heard {} packets after the resume",
        uac.count("rtp.rx_resumed")
    );
    assert_sources(&uac, ROUTER_LAN, "phone");
    assert_sources(&uas, ROUTER_WAN, "far end");
    // Handed over before the hold and after the resume; taken back for the
    // hold and at the hang-up. At most RTP and RTCP each time: no flapping
    // in between. sipnat itself relayed under half of the audio.
    assert_kernel_call(&lab, "kernel", 2..=4, up.sent + down.sent, 2);
    assert_eq!(lab.marked_conntrack(), 0, "no marked conntrack entry left");
}

/// 12: sipnat killed (kill -9) while the kernel forwards a call leaves its
/// table and the call's conntrack entries behind; the next start removes
/// both, so nothing is forwarded that no running sipnat knows of. SIGTERM
/// removes the table.
#[test]
fn media_kernel_forwarding_cleared_after_kill_9() {
    let Some(mut lab) = Lab::new("kill9", false) else {
        return;
    };
    lab.router_forwards();
    lab.start_sipnat("2");
    lab.start_far_end(30);
    lab.spawn_uac(&["--calls", "1", "--duration-s", "6"]);
    assert!(
        lab.wait_for(Duration::from_secs(4), |l| l.kernel_elements() >= Some(2)),
        "the call never went to the kernel\n{}",
        lab.context()
    );
    assert!(
        lab.wait_for(Duration::from_secs(2), |l| l.marked_conntrack() >= 1),
        "no marked conntrack entry while the kernel forwards"
    );
    let pid = lab.sipnat_pid.expect("sipnat runs").to_string();
    assert!(sh("kill", &["-9", &pid]).is_some_and(|o| o.status.success()));
    let _ = lab.wait_or_kill("sipnat", Duration::from_secs(5));
    // What a crash leaves: the rules, and the flows they made.
    assert!(
        lab.kernel_elements() >= Some(2),
        "{:?}",
        lab.kernel_elements()
    );
    lab.start_sipnat("2");
    assert_eq!(
        lab.kernel_elements(),
        Some(0),
        "stale rules after a restart"
    );
    assert_eq!(
        lab.marked_conntrack(),
        0,
        "stale conntrack entries after a restart"
    );
    let pid = lab.sipnat_pid.expect("sipnat runs").to_string();
    assert!(sh("kill", &["-TERM", &pid]).is_some_and(|o| o.status.success()));
    let _ = lab.wait_or_kill("sipnat", Duration::from_secs(5));
    assert_eq!(lab.kernel_elements(), None, "the table outlived sipnat");
    let _ = lab.wait_or_kill("uac", Duration::from_secs(10));
}

/// 13: the kernel forwarding switched off and on again by reloads while a
/// call runs (`rtp_kernel_forward`, issue 15): off takes the call back to
/// sipnat's relay and removes the table at once, on hands it over again;
/// the call's audio flows both ways throughout with no loss.
#[test]
fn media_kernel_forwarding_switched_off_and_on_by_reload() {
    let Some(mut lab) = Lab::new("kreload", false) else {
        return;
    };
    lab.router_forwards();
    lab.start_sipnat("2");
    lab.start_far_end(30);
    lab.spawn_uac(&["--calls", "1", "--duration-s", "8"]);
    let in_kernel = |lab: &Lab| lab.kernel_elements() >= Some(2);
    assert!(
        lab.wait_for(Duration::from_secs(4), in_kernel),
        "the call never went to the kernel\n{}",
        lab.context()
    );
    lab.reload_with("rtp_kernel_forward = 0");
    assert_eq!(lab.kernel_elements(), None, "the table outlived the switch");
    assert_eq!(lab.marked_conntrack(), 0);
    assert!(
        lab.sipnat_log()
            .contains("kernel forwarding off: rtp_kernel_forward is 0")
    );
    std::thread::sleep(Duration::from_secs(1));
    lab.reload_with("rtp_kernel_forward = 1");
    assert!(
        lab.wait_for(Duration::from_secs(4), in_kernel),
        "the call did not go back to the kernel\n{}",
        lab.context()
    );
    let st = lab.wait("uac", Duration::from_secs(30));
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(uac.str_of("per_call.0.status"), Some("Done"));
    assert_audio(&lab, &uac, &uas, 2);
    assert_sources(&uac, ROUTER_LAN, "phone");
    assert_sources(&uas, ROUTER_WAN, "far end");
    let status = lab.sipnat_status();
    assert_eq!(status_num(&status, "relay.kernel-missed"), 0, "{status}");
    assert_eq!(lab.kernel_elements(), Some(0));
}

/// 14: where the kernel cannot take the streams (here: sipnat started
/// without CAP_NET_ADMIN, as on a system that denies it; a kernel without
/// nftables NAT fails the same way), sipnat says why once and relays every
/// packet itself: the call's audio is whole.
#[test]
fn media_kernel_forwarding_falls_back_without_cap_net_admin() {
    let Some(mut lab) = Lab::new("nocap", false) else {
        return;
    };
    lab.router_forwards();
    lab.start_sipnat_as(
        "2",
        20000,
        21199,
        &[
            "setpriv",
            "--bounding-set=-net_admin",
            "--inh-caps=-net_admin",
        ],
    );
    lab.start_far_end(20);
    let st = lab.run_uac(
        &["--calls", "1", "--duration-s", "3"],
        Duration::from_secs(20),
    );
    let (uac, uas) = finish(&mut lab, st);
    let (up, down) = assert_audio(&lab, &uac, &uas, 2);
    assert_sources(&uac, ROUTER_LAN, "phone");
    assert_sources(&uas, ROUTER_WAN, "far end");
    let log = lab.sipnat_log();
    assert!(
        log.contains("kernel forwarding off:") && log.contains("CAP_NET_ADMIN"),
        "{log}"
    );
    assert_eq!(
        lab.kernel_elements(),
        None,
        "a table without the capability"
    );
    let status = lab.sipnat_status();
    assert_eq!(status_num(&status, "relay.kernel-handovers"), 0, "{status}");
    // Every packet relayed by sipnat itself.
    assert!(
        status_num(&status, "rtp-forwarded") >= up.received + down.received,
        "{status}"
    );
}

/// What a capture on one side of the router shows of an end that moved its
/// media from `old` to `new` with a re-INVITE.
#[derive(Debug, Default)]
struct MoveSeen {
    /// The frame of the re-INVITE's 200 OK (sipnat to `sip`, CSeq `n
    /// INVITE`), if it crossed.
    answer: Option<usize>,
    /// Media (RTP or RTCP) from sipnat to the old pair, before and after
    /// the answer.
    to_old_before: usize,
    to_old_after: usize,
    /// Media from the old pair after the answer.
    from_old_after: usize,
    /// Media from sipnat to the new pair, and from the new pair.
    to_new: usize,
    from_new: usize,
    /// Media from sipnat to the old pair after the first from the new.
    to_old_after_new: usize,
}

/// [`MoveSeen`] of the frames of a capture: the end's SIP at `sip`, its
/// media moved from `old` to `new` (RTP ports; RTCP is + 1) by a re-INVITE
/// with CSeq `cseq`; sipnat at `router`.
fn move_seen(
    frames: &[&[u8]],
    router: Ipv4Addr,
    sip: SocketAddrV4,
    cseq: u32,
    old: SocketAddrV4,
    new: SocketAddrV4,
) -> MoveSeen {
    let pair = |a: SocketAddrV4, p: SocketAddrV4| {
        a.ip() == p.ip() && (a.port() == p.port() || a.port() == p.port() + 1)
    };
    let ok = format!("CSeq: {cseq} INVITE");
    let mut m = MoveSeen::default();
    for (i, f) in frames.iter().enumerate() {
        let Some((src, dst, payload)) = udp_of(f) else {
            continue;
        };
        if *src.ip() == router && src.port() == 5060 && dst == sip {
            let text = String::from_utf8_lossy(payload);
            if m.answer.is_none() && text.starts_with("SIP/2.0 200") && text.contains(&ok) {
                m.answer = Some(i);
            }
            continue;
        }
        let after = m.answer.is_some();
        match (*src.ip() == router, pair(dst, old), pair(src, old)) {
            (true, true, _) if after => m.to_old_after += 1,
            (true, true, _) => m.to_old_before += 1,
            (false, _, true) if after => m.from_old_after += 1,
            _ => {}
        }
        if *src.ip() == router && pair(dst, new) {
            m.to_new += 1;
        }
        if pair(src, new) {
            m.from_new += 1;
        }
        if *src.ip() == router && pair(dst, old) && m.from_new > 0 {
            m.to_old_after_new += 1;
        }
    }
    m
}

/// 15: an end that moves its media while the kernel forwards the call
/// (issue 15): the far end, then the phone, each offers a new address and
/// port in a re-INVITE (RFC 3264 §8.3.1). The far end sends from its new
/// address from the offer on; the phone goes on sending from its old one
/// for [`MOVE_LATE_MS`] (as RFC 3264 allows; its SIP's IP still names the
/// old address, so the relay latches it again meanwhile). Each move takes
/// the channel back from the kernel at once, the relay latches the new
/// source as soon as it speaks, and the call goes back to the kernel with
/// the new address in the map. Captures on both sides of the router show
/// nothing sent to the far end's old address after the re-INVITE's answer,
/// and to the phone's old one only while the phone still sent from there
/// (at most one packet in flight once its new address spoke).
///
/// Loss: a packet from the new address that reaches sipnat before the
/// offer does is dropped (not named yet); the far end's first one follows
/// its offer by under a packet interval (20 ms), so at most one per move
/// and direction: [`MOVE_LOSS`] = 2 for the two moves. None in practice.
/// (Before the relay let the exact new address take the latch from the old
/// one at once, the phone's new address waited 2 s for the old one's
/// silence: about 100 packets lost.)
#[test]
fn media_kernel_forwarding_follows_a_moved_end() {
    let Some(mut lab) = Lab::new("kmove", false) else {
        return;
    };
    lab.router_forwards();
    lab.start_sipnat("2");
    lab.start_capture("rwan", "wan.pcap");
    lab.start_capture("rlan", "lan.pcap");
    lab.start_uas(
        'w',
        "198.51.100.2",
        &[
            "--calls",
            "1",
            "--duration-s",
            "30",
            "--expect-source",
            ROUTER_WAN,
            "--move-at-s",
            "3",
            "--move-ip",
            "198.51.100.3",
        ],
    );
    lab.spawn_uac(&[
        "--calls",
        "1",
        "--duration-s",
        "9",
        "--move-at-s",
        "6",
        "--move-ip",
        "10.77.1.3",
        "--move-late-ms",
        &MOVE_LATE_MS.to_string(),
    ]);
    let map_has = |lab: &Lab, text: &str| {
        lab.kernel_map().is_some_and(|m| {
            m.contains(text) && load_core::nft_map_elements(&m).is_some_and(|n| n >= 2)
        })
    };
    // In the kernel before the first move, with the far end's first address.
    assert!(
        lab.wait_for(Duration::from_secs(4), |l| map_has(
            l,
            "198.51.100.2 . 30000"
        )),
        "the call never went to the kernel: {:?}\n{}",
        lab.kernel_map(),
        lab.context()
    );
    let before = lab.sipnat_status();
    // The far end moves (3 s after the answer): back to the relay, then
    // into the kernel again with its new address.
    assert!(
        lab.wait_for(Duration::from_secs(5), |l| map_has(
            l,
            "198.51.100.3 . 30002"
        )),
        "the far end's new address never went to the kernel: {:?}\n{}",
        lab.kernel_map(),
        lab.context()
    );
    let map = lab.kernel_map().unwrap_or_default();
    assert!(
        !map.contains("198.51.100.2 . 30000"),
        "old address kept: {map}"
    );
    let mid = lab.sipnat_status();
    for (name, at_least) in [
        ("relay.kernel-taken-back", 1),
        ("relay.kernel-handovers", 1),
    ] {
        assert!(
            status_num(&mid, name) >= status_num(&before, name) + at_least,
            "{name}: {before}\n{mid}"
        );
    }
    // The phone moves (6 s): the same on the LAN side.
    assert!(
        lab.wait_for(Duration::from_secs(5), |l| map_has(l, "10.77.1.3 . 40002")),
        "the phone's new address never went to the kernel: {:?}\n{}",
        lab.kernel_map(),
        lab.context()
    );
    let map = lab.kernel_map().unwrap_or_default();
    assert!(
        !map.contains("10.77.1.2 . 40000"),
        "old address kept: {map}"
    );
    let after = lab.sipnat_status();
    for name in ["relay.kernel-taken-back", "relay.kernel-handovers"] {
        assert!(
            status_num(&after, name) > status_num(&mid, name),
            "{name}: {mid}\n{after}"
        );
    }
    let st = lab.wait("uac", Duration::from_secs(30));
    let (uac, uas) = finish(&mut lab, st);
    std::thread::sleep(Duration::from_millis(200));
    let wan = lab.stop_capture("wan.pcap");
    let lan = lab.stop_capture("lan.pcap");
    assert_eq!(uac.str_of("per_call.0.status"), Some("Done"));
    assert_eq!(
        uas.str_of("per_call.0.moved_to"),
        Some("198.51.100.3:30002")
    );
    assert_eq!(uac.str_of("per_call.0.moved_to"), Some("10.77.1.3:40002"));
    let (up, down) = flows(&uac, &uas);
    println!("[kmove] phone → far end: {up}\n[kmove] far end → phone: {down}");
    // Each direction loses at most what was on its way at a move (see the
    // test's doc): none in practice.
    assert!(
        up.gaps <= MOVE_LOSS && down.gaps <= MOVE_LOSS && up.max_tail <= 2 && down.max_tail <= 2,
        "RTP lost: phone → far end {up}; far end → phone {down}\n{}",
        lab.context()
    );
    // Each end heard the other at its new pair for the rest of the call:
    // the far end from 3 s, the phone from 6 s, of 9 s at 50 packets/s.
    let (far_new, phone_new) = (
        uas.count("per_call.0.rx_moved"),
        uac.count("per_call.0.rx_moved"),
    );
    assert!(
        far_new >= 250,
        "far end heard {far_new} packets at its new pair"
    );
    assert!(
        phone_new >= 100,
        "phone heard {phone_new} packets at its new pair"
    );
    assert_sources(&uac, ROUTER_LAN, "phone");
    assert_sources(&uas, ROUTER_WAN, "far end");
    let frames =
        |b: &[u8]| pcap_frames(b).map(|f| f.iter().map(|x| x.to_vec()).collect::<Vec<_>>());
    let v4 = |s: &str| s.parse::<SocketAddrV4>().expect("address");
    for (side, bytes, router, sip, cseq, old, new) in [
        (
            "WAN",
            &wan,
            ROUTER_WAN,
            "198.51.100.2:5060",
            101,
            "198.51.100.2:30000",
            "198.51.100.3:30002",
        ),
        (
            "LAN",
            &lan,
            ROUTER_LAN,
            "10.77.1.2:5060",
            2,
            "10.77.1.2:40000",
            "10.77.1.3:40002",
        ),
    ] {
        let f = frames(bytes).unwrap_or_else(|e| panic!("{side} capture: {e}"));
        let f: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
        let m = move_seen(
            &f,
            router.parse().expect("ip"),
            v4(sip),
            cseq,
            v4(old),
            v4(new),
        );
        println!("[kmove] {side} capture: {m:?}");
        assert!(m.answer.is_some(), "{side}: the move's 200 OK not captured");
        assert!(
            m.to_old_before > 0 && m.to_new > 0 && m.from_new > 0,
            "{side}: {m:?}"
        );
        if side == "WAN" {
            assert_eq!(
                (m.to_old_after, m.from_old_after),
                (0, 0),
                "{side}: media at the old address after the answer: {m:?}"
            );
        } else {
            // The old address spoke until the phone switched; once the new
            // one did, at most a packet already on its way went to the old.
            let late = (MOVE_LATE_MS / 20 + 2) as usize;
            assert!(
                m.to_old_after_new <= 1 && m.to_old_after <= late && m.from_old_after <= late,
                "{side}: media at the old address after the answer: {m:?}"
            );
        }
    }
    let status = lab.sipnat_status();
    assert_eq!(status_num(&status, "relay.kernel-missed"), 0, "{status}");
    assert_eq!(status_num(&status, "relay.kernel-channels"), 0, "{status}");
    assert_eq!(lab.kernel_elements(), Some(0), "nothing left in the kernel");
}

/// Packets one direction may lose to the two moves of
/// [`media_kernel_forwarding_follows_a_moved_end`] (see there).
const MOVE_LOSS: u64 = 2;

/// How long the phone of [`media_kernel_forwarding_follows_a_moved_end`]
/// sends from its old address after offering the new one.
const MOVE_LATE_MS: u64 = 300;
/// 16: a call the kernel forwards outlives `rtp_timeout` (3 s here): the
/// relay hears none of its packets, but sipnat reads the kernel's flows
/// back (their conntrack entries by tuple, each once a second at this
/// timeout) and the counts that grew keep the stream alive, as packets
/// through the relay would. It stays in the kernel from its handover to
/// the hang-up (never timed out, taken back or missed), its audio whole.
#[test]
fn media_kernel_forwarding_keeps_a_call_longer_than_rtp_timeout() {
    let Some(mut lab) = Lab::new("klive", false) else {
        return;
    };
    lab.router_forwards();
    // With the kernel's per-flow counters (a router may have them off:
    // then an entry being there is all a reading says).
    let acct = sh(
        "ip",
        &[
            "netns",
            "exec",
            &lab.ns('r'),
            "sysctl",
            "-qw",
            "net.netfilter.nf_conntrack_acct=1",
        ],
    );
    assert!(
        acct.is_some_and(|o| o.status.success()),
        "nf_conntrack_acct"
    );
    lab.start_sipnat("2");
    lab.reload_with("rtp_timeout = 3");
    lab.start_far_end(30);
    lab.spawn_uac(&["--calls", "1", "--duration-s", "10"]);
    assert!(
        lab.wait_for(Duration::from_secs(4), |l| l.kernel_elements() >= Some(2)),
        "the call never went to the kernel\n{}",
        lab.context()
    );
    // Three times rtp_timeout in the kernel.
    std::thread::sleep(Duration::from_secs(9));
    let mid = lab.sipnat_status();
    assert!(status_num(&mid, "relay.kernel-channels") >= 1, "{mid}");
    assert_eq!(status_num(&mid, "relay.kernel-taken-back"), 0, "{mid}");
    let st = lab.wait("uac", Duration::from_secs(30));
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(uac.str_of("per_call.0.status"), Some("Done"));
    let (up, down) = assert_audio(&lab, &uac, &uas, 2);
    // RTP and RTCP handed over once each at most, taken back at the end;
    // sipnat itself relayed under a quarter of the audio.
    assert_kernel_call(&lab, "klive", 1..=2, up.sent + down.sent, 4);
}

/// The end of a call the kernel forwarded (tests 11 and 16): `handovers`
/// channels handed over, each taken back, none missed, none left (in the
/// relay or the kernel's map), and sipnat itself relayed under
/// `1/share` of the `total` packets sent.
fn assert_kernel_call(
    lab: &Lab,
    tag: &str,
    handovers: std::ops::RangeInclusive<u64>,
    total: u64,
    share: u64,
) {
    let status = lab.sipnat_status();
    let n = status_num(&status, "relay.kernel-handovers");
    assert!(handovers.contains(&n), "{status}");
    assert_eq!(
        status_num(&status, "relay.kernel-taken-back"),
        n,
        "{status}"
    );
    assert_eq!(status_num(&status, "relay.kernel-missed"), 0, "{status}");
    assert_eq!(status_num(&status, "relay.kernel-channels"), 0, "{status}");
    let by_sipnat = status_num(&status, "rtp-forwarded");
    println!("[{tag}] packets sent {total}, relayed by sipnat {by_sipnat}");
    assert!(
        by_sipnat * share < total,
        "sipnat relayed {by_sipnat} of {total}: {status}"
    );
    assert_eq!(lab.kernel_elements(), Some(0), "nothing left in the kernel");
}

/// Can this machine's kernel make a flowtable? Probed in a namespace of
/// its own (named after `id`), which is deleted after.
fn kernel_has_flowtables(id: &str) -> Result<(), String> {
    let ns = format!("snft-{id}");
    let _ = sh("ip", &["netns", "add", &ns]);
    let nft = |cmd: &str| sh("ip", &["netns", "exec", &ns, "nft", cmd]);
    let out = nft("add table inet probe").and_then(|_| {
        nft("add flowtable inet probe ft { hook ingress priority filter; devices = { lo }; counter; }")
    });
    let _ = sh("ip", &["netns", "del", &ns]);
    match out {
        Some(o) if o.status.success() => Ok(()),
        Some(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        None => Err("cannot run ip netns exec … nft".into()),
    }
}

/// Run test `name` of this binary again inside the VM of `tests/vm/run`
/// (its kernel has flowtables) and fail if it fails there. The VM sees this
/// machine's files read-only, so the load tool is built here first.
fn run_in_vm(name: &str, why: &str) {
    assert!(
        !in_vm(),
        "inside tests/vm/run and still no flowtables ({why}): the VM's kernel lacks nf_flow_table"
    );
    println!("[{name}] this kernel cannot make a flowtable ({why}): running in tests/vm/run");
    let _ = load_tool();
    let _alone = CPUS.write().unwrap_or_else(PoisonError::into_inner);
    let exe = std::env::current_exe().expect("current_exe");
    let started = Instant::now();
    let out = Command::new(manifest().join("tests/vm/run"))
        .arg("--")
        .arg(&exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .current_dir(manifest())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start tests/vm/run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "[{name}] tests/vm/run: {} in {:.1} s\n{stdout}{stderr}",
        out.status,
        started.elapsed().as_secs_f64()
    );
    if out.status.code() == Some(125) && skip_allowed() {
        println!(
            "SKIPPED (SIPNAT_SKIP_NETNS=1): no VM here either: {}",
            tail(&stderr, 5)
        );
        return;
    }
    assert!(
        out.status.code() != Some(125),
        "{name} needs a kernel with flowtables (nf_flow_table), and tests/vm/run, which \
         would boot one, cannot run here:\n{}\nSee tests/vm/README.md; \
         SIPNAT_SKIP_NETNS=1 skips this test on purpose.",
        tail(&stderr, 20)
    );
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} failed inside tests/vm/run ({}): see its output above",
        out.status
    );
}

/// 17: test 16 on a router with OpenWrt's software flow offloading: a
/// firewall4-like forward chain whose first rule offloads every UDP flow
/// into a flowtable (with `counter`, as fw4 declares it), then the
/// package's include. The flowtable takes over the stream sipnat handed to
/// the kernel (its conntrack entries show `[OFFLOAD]`, and the packets
/// skip the forward chain); the flowtable's counter keeps the entries'
/// counts growing, which is what sipnat reads back, so the stream stays in
/// the kernel well past three times `rtp_timeout` (3 s) with no take-back,
/// no missed packet and no timeout. Audio both ways whole, nothing dropped
/// by the firewall, nothing left in the kernel after the hang-up. The same
/// behind a flowtable without `counter`.
///
/// Not here: hold and resume (a take-back of the offloaded stream in the
/// middle of the call). In the VM it broke now and then (about 1 run in 4):
/// after the take-back, the new conntrack entries of the relay's own
/// packets found their tuples taken and had their ports changed, so the
/// relay latched the phone at a port it does not use and packets were lost
/// for seconds; see tests/vm/README.md, "Open".
///
/// Needs a kernel with flowtables (nf_flow_table, nft_flow_offload); on
/// one without, the test runs itself again inside `tests/vm/run`.
#[test]
fn media_kernel_forwarding_under_flow_offloading() {
    const NAME: &str = "media_kernel_forwarding_under_flow_offloading";
    if let Some(why) = environment_problem(
        &format!("o{:x}", std::process::id()),
        &["ip", "nft", "conntrack"],
    ) {
        if skip_allowed() {
            println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
            return;
        }
        panic!("{NAME} cannot run here: {why}\nSet SIPNAT_SKIP_NETNS=1 to skip it on purpose.");
    }
    if let Err(why) = kernel_has_flowtables(&format!("{:x}", std::process::id())) {
        run_in_vm(NAME, &why);
        return;
    }
    offloaded_call("offload", true);
    offloaded_call("offload-nocounter", false);
}

/// The call of [`media_kernel_forwarding_under_flow_offloading`] behind a
/// flowtable with `counter` (firewall4's), or without: then the offloaded
/// packets are not counted, and sipnat keeps the stream alive because the
/// flowtable carries it.
fn offloaded_call(name: &'static str, counter: bool) {
    // Emulated (tests/vm/run, TCG) everything is slower: wait longer there.
    let slack = if in_vm() { 3 } else { 1 };
    let Some(mut lab) = Lab::new(name, false) else {
        return;
    };
    lab.router_forwards();
    let acct = sh(
        "ip",
        &[
            "netns",
            "exec",
            &lab.ns('r'),
            "sysctl",
            "-qw",
            "net.netfilter.nf_conntrack_acct=1",
        ],
    );
    assert!(
        acct.is_some_and(|o| o.status.success()),
        "nf_conntrack_acct"
    );
    lab.flow_offloading(counter);
    lab.start_sipnat("2");
    lab.reload_with("rtp_timeout = 3");
    // The load tools accept a loss here: it is counted below, where only
    // the packets of a handover clash may be missing (see there).
    let loss = ["--max-loss-pct", "0.5"];
    let mut far = vec![
        "--calls",
        "1",
        "--duration-s",
        "40",
        "--expect-source",
        ROUTER_WAN,
    ];
    far.extend(loss);
    lab.start_uas('w', "198.51.100.2", &far);
    let mut phone = vec!["--calls", "1", "--duration-s", "16"];
    phone.extend(loss);
    lab.spawn_uac(&phone);
    assert!(
        lab.wait_for(Duration::from_secs(4 * slack), |l| l.kernel_elements()
            >= Some(2)),
        "the call never went to the kernel\n{}",
        lab.context()
    );
    let handed_over = Instant::now();
    // The flowtable takes the stream's conntrack entry over after its
    // first packets through the forward chain.
    assert!(
        lab.wait_for(Duration::from_secs(2 * slack), |l| l
            .offloaded_conntrack()
            .0
            >= 1),
        "the stream sipnat handed over was never offloaded: {:?}\n{}",
        lab.offloaded_conntrack(),
        lab.context()
    );
    // The offloaded entries keep counting with the flowtable's `counter`:
    // at 50 packets/s each way, at least 100 packets in 2 s (half, to allow
    // for a slow machine). Without it, they stand (nearly) still.
    let (_, before) = lab.offloaded_conntrack();
    std::thread::sleep(Duration::from_secs(2));
    let (_, after) = lab.offloaded_conntrack();
    if counter {
        assert!(
            after >= before + 100,
            "the offloaded entries' counts did not grow: {before} then {after} packets 2 s later"
        );
    } else {
        assert!(
            after < before + 20,
            "the counts grew without the flowtable's counter: {before} then {after} 2 s later"
        );
    }
    // Three times rtp_timeout (and more) in the kernel, offloaded.
    std::thread::sleep(Duration::from_secs(10).saturating_sub(handed_over.elapsed()));
    let mid = lab.sipnat_status();
    let (offloaded, counted) = lab.offloaded_conntrack();
    let (slow_path, _) = lab.forward_counts();
    println!(
        "[{name}] {:.1} s after the handover: {offloaded} entries offloaded, {counted} packets \
         counted by the kernel, {slow_path} through the forward chain\n{mid}",
        handed_over.elapsed().as_secs_f64()
    );
    assert!(offloaded >= 1, "no longer offloaded\n{}", lab.context());
    assert!(status_num(&mid, "relay.kernel-channels") >= 1, "{mid}");
    assert_eq!(status_num(&mid, "relay.kernel-taken-back"), 0, "{mid}");
    assert_eq!(status_num(&mid, "relay.kernel-missed"), 0, "{mid}");
    assert_eq!(status_num(&mid, "streams-timed-out"), 0, "{mid}");
    let st = lab.wait("uac", Duration::from_secs(30 * slack));
    let (uac, uas) = finish(&mut lab, st);
    assert_eq!(uac.str_of("per_call.0.status"), Some("Done"));
    // Audio both ways whole, but for the packets the kernel dropped as a
    // conntrack clash at the handover (at most one per channel): the two
    // legs' first packets after the rules went in each made a new entry,
    // and the one confirmed second is dropped. A race of every handover
    // (not of the offloading), which only a slow machine (this VM, or a
    // router's CPU) loses now and then; see tests/vm/README.md.
    let (up, down) = flows(&uac, &uas);
    let clashes = lab.conntrack_insert_failed();
    println!(
        "[{name}] phone → far end: {up}\n[{name}] far end → phone: {down}\n\
         [{name}] conntrack clashes (insert_failed) in the router: {clashes}"
    );
    assert!(
        up.gaps + down.gaps <= clashes.min(2) && up.max_tail <= 2 && down.max_tail <= 2,
        "RTP lost beyond the {clashes} handover clashes: phone → far end {up}; \
         far end → phone {down}\n{}",
        lab.context()
    );
    assert_eq!(uac.count("rtp.duplicates") + uas.count("rtp.duplicates"), 0);
    let status = lab.sipnat_status();
    // RTP and RTCP handed over once each at most, taken back at the end.
    let handovers = status_num(&status, "relay.kernel-handovers");
    assert!((1..=2).contains(&handovers), "{status}");
    assert_eq!(
        status_num(&status, "relay.kernel-taken-back"),
        handovers,
        "{status}"
    );
    assert_eq!(status_num(&status, "relay.kernel-missed"), 0, "{status}");
    assert_eq!(status_num(&status, "relay.kernel-failed"), 0, "{status}");
    assert_eq!(status_num(&status, "streams-timed-out"), 0, "{status}");
    let total = up.sent + down.sent;
    let by_sipnat = status_num(&status, "rtp-forwarded");
    let (slow_path, dropped) = lab.forward_counts();
    println!(
        "[{name}] packets sent {total}, relayed by sipnat {by_sipnat}, through the forward \
         chain {slow_path}, dropped there {dropped}"
    );
    assert!(
        by_sipnat * 4 < total,
        "sipnat relayed {by_sipnat} of {total}: {status}"
    );
    // The flowtable, not the forward chain, carried the stream.
    assert!(
        slow_path * 4 < total,
        "{slow_path} of {total} packets took the forward chain: the flowtable did not carry them"
    );
    assert_eq!(dropped, 0, "the firewall dropped packets");
    assert_eq!(lab.kernel_elements(), Some(0), "nothing left in the kernel");
    assert!(
        lab.wait_for(Duration::from_secs(2 * slack), |l| l.marked_conntrack()
            == 0),
        "marked conntrack entries left after the hang-up: {:?}",
        lab.offloaded_conntrack()
    );
}
