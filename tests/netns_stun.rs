//! siproxd's stun plugin (`load_plugin = plugin_stun.so`) on the real
//! binary against a real STUN server, coturn (`turnserver`, Debian's
//! `coturn`), with the router behind a second NAT: the LAN / router / WAN
//! namespaces of `tests/netns/topo.sh`, where the WAN namespace becomes a
//! modem that masquerades everything toward a public namespace
//! (`tests/netns/stun/outer_nat.sh`), and coturn and the registrar on that
//! public side:
//!
//! ```text
//! phone 10.77.1.2 ── 10.77.1.1 sipnat 198.51.100.1 ── 198.51.100.2 modem 203.0.113.1 ── 203.0.113.2 coturn :3478, registrar :5060
//!                    (router, ip_forward 0)             (MASQUERADE)                     (public)
//! ```
//!
//! `tests/sim_stun.rs` checks the plugin's logic with a virtual clock and
//! hand-made answers; these tests check that what a real server answers,
//! through a real NAT, is read, and that the address it names is the one
//! that works:
//!
//! * sipnat learns 203.0.113.1 (the modem's public address, not its own WAN
//!   address 198.51.100.1) from coturn: its log says so and its status
//!   counts the request and the answer. A REGISTER from the LAN phone then
//!   reaches the registrar with Via and Contact naming 203.0.113.1 and no
//!   LAN address nor 198.51.100.1 anywhere; a request from the registrar to
//!   that Contact comes back through the modem to the phone; an INVITE's
//!   SDP names 203.0.113.1 too.
//! * The server named by a host name: sipnat resolves it through the
//!   nameserver of its namespace (a DNS server played by this file on the
//!   public side, reached through the modem).
//! * `host_outbound` set: coturn is asked and answers, and `host_outbound`
//!   is what the REGISTER names.
//! * coturn stopped: sipnat goes on asking (its status counts requests and
//!   no more answers), keeps the address it learned, does not exit, and SIP
//!   goes on working both ways.
//!
//! The phone and the registrar are plain UDP sockets inside the namespaces;
//! coturn runs in the foreground with the minimal configuration
//! `tests/netns/stun/turnserver.conf`, its pid file, log and database in the
//! test's work directory. Nothing is sent outside the namespaces.
//!
//! What they need: root, `ip netns`, iptables, ss and coturn
//! (tests/setup-deps.sh). Without them every test FAILS saying so, unless
//! `SIPNAT_SKIP_NETNS=1`: then it prints that it was skipped and passes.
//! Each test has its own namespaces (named after the process and a counter)
//! and work directory, so they run in parallel with each other and with the
//! rest of the suite; sipnat and coturn are killed and the namespaces (and
//! the resolver file of the host-name test) removed even when a test fails,
//! and then the test output shows the tail of sipnat's and coturn's logs and
//! the work directory is kept.

mod netns_env;
use netns_env::dns::DnsServer;
use netns_env::{environment_problem, first_line, header, headers, sh, tail, uri_of};
use serde_json::Value;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The phone's SIP socket (LAN namespace) and sipnat seen from it.
const PHONE: &str = "10.77.1.2:5060";
const ROUTER_LAN: &str = "10.77.1.1:5060";
/// The router's own WAN address: behind the modem, not the one to announce.
const ROUTER_WAN_IP: &str = "198.51.100.1";
/// The modem's public address: what coturn sees, what sipnat must announce.
const PUBLIC_IP: &str = "203.0.113.1";
/// coturn and the registrar (public namespace).
const STUN_IP: &str = "203.0.113.2";
const REGISTRAR: &str = "203.0.113.2:5060";
/// The DNS server of the host-name test (public namespace) and the name.
const DNS: &str = "203.0.113.53:53";
const STUN_NAME: &str = "stun.test";
/// `plugin_stun_period`: its least value.
const PERIOD: u64 = 10;

/// How long to wait for a SIP message that should come.
const WAIT: Duration = Duration::from_secs(3);
/// How long to wait for a state to be reached (sipnat learning the address,
/// a process starting).
const SETTLE: Duration = Duration::from_secs(10);

fn skip_allowed() -> bool {
    std::env::var("SIPNAT_SKIP_NETNS").is_ok_and(|v| v == "1")
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Poll `done` until it holds or `limit` has passed; then panic saying
/// `what` and `context()`.
fn wait_until(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let end = Instant::now() + limit;
    while !done() {
        if Instant::now() > end {
            panic!("{what}: not after {limit:?}\n{}", context());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ------------------------------------------------------------------ the lab

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// One topology: sipnat in the router namespace, coturn in the public one.
/// Dropping it kills both, stops the DNS server, removes the namespaces and
/// the resolver file (also when the test panics, and then it prints the
/// logs).
struct Lab {
    id: String,
    name: &'static str,
    work: PathBuf,
    sipnat: Option<Child>,
    coturn: Option<Child>,
    dns: Option<DnsServer>,
    /// `/etc/netns/<router namespace>`, when this lab made it.
    etc: Option<PathBuf>,
}

impl Lab {
    /// `None`: skipped (SIPNAT_SKIP_NETNS=1 on a machine that cannot run it).
    fn new(name: &'static str) -> Option<Lab> {
        let n = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let id = format!("s{:x}{n}", std::process::id());
        let tools = ["ip", "ss", "sysctl", "iptables", "turnserver"];
        if let Some(why) = environment_problem(&id, &tools) {
            if skip_allowed() {
                println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
                return None;
            }
            panic!(
                "the network-namespace STUN tests cannot run here: {why}\n\
                 They need root, `ip netns`, iptables, ss and coturn (tests/setup-deps.sh).\n\
                 Set SIPNAT_SKIP_NETNS=1 to skip them on purpose."
            );
        }
        let work = std::env::temp_dir().join(format!("sipnat-stun-{id}-{name}"));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).expect("work dir");
        // Made before the scripts run, so that a half-made topology is removed too.
        let lab = Lab {
            id,
            name,
            work,
            sipnat: None,
            coturn: None,
            dns: None,
            etc: None,
        };
        lab.script("tests/netns/topo.sh", "up");
        lab.script("tests/netns/stun/outer_nat.sh", "up");
        Some(lab)
    }

    fn script(&self, path: &str, cmd: &str) {
        let out = Command::new("bash")
            .arg(manifest().join(path))
            .args([cmd, &self.id])
            .stdin(Stdio::null())
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

    /// Namespace of `role`: 'l' LAN (phone), 'r' router, 'w' modem,
    /// 's' public side (coturn, registrar, DNS).
    fn ns(&self, role: char) -> String {
        format!("sn{role}-{}", self.id)
    }

    /// A UDP socket bound to `addr` inside the namespace of `role`.
    fn udp(&self, role: char, addr: &str) -> UdpSocket {
        bind_in(&self.ns(role), addr)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.work.join(file)
    }

    fn read(&self, file: &str) -> String {
        fs::read_to_string(self.path(file)).unwrap_or_default()
    }

    fn log(&self) -> String {
        self.read("sipnat.log")
    }

    /// What a failure message ends with.
    fn context(&self) -> String {
        format!(
            "work dir: {}\n---- sipnat log (tail) ----\n{}\n---- coturn log (tail) ----\n{}",
            self.work.display(),
            tail(&self.log(), 40),
            tail(&self.read("turnserver.log"), 15)
        )
    }

    /// Is a UDP socket bound to `port` in the namespace of `role`?
    fn listening(&self, role: char, port: u16) -> bool {
        let ns = self.ns(role);
        let filter = format!("sport = :{port}");
        sh("ip", &["netns", "exec", &ns, "ss", "-Hlun", &filter])
            .is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(":{port}")))
    }

    /// coturn on 203.0.113.2:3478 in the public namespace, in the
    /// foreground; returns once its UDP socket is bound.
    fn start_coturn(&mut self) {
        let log = File::create(self.path("turnserver.log")).expect("turnserver.log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns('s'), "turnserver", "-c"])
            .arg(manifest().join("tests/netns/stun/turnserver.conf"))
            .args(["--listening-ip", STUN_IP, "--log-file", "stdout"])
            .arg("--pidfile")
            .arg(self.path("turnserver.pid"))
            .arg("--userdb")
            .arg(self.path("turndb"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("cannot start turnserver");
        self.coturn = Some(child);
        let end = Instant::now() + SETTLE;
        while !self.listening('s', 3478) {
            if let Some(st) = self
                .coturn
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("turnserver exited at start-up ({st})\n{}", self.context());
            }
            assert!(
                Instant::now() < end,
                "coturn does not listen on 3478 after {SETTLE:?}\n{}",
                self.context()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop coturn as its service would (SIGTERM), and wait for its end.
    fn stop_coturn(&mut self) {
        let mut child = self.coturn.take().expect("coturn runs");
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let end = Instant::now() + SETTLE;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > end {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
        assert!(!self.listening('s', 3478), "coturn still listens");
    }

    /// sipnat in the router namespace with the stun plugin asking `server`
    /// every 10 s, the relay on ports 20000-20019, `extra` configuration
    /// lines, and a control socket; returns once it listens.
    fn start_sipnat(&mut self, server: &str, extra: &str) {
        let conf = self.path("sipnat.conf");
        fs::write(
            &conf,
            format!(
                "# written by tests/netns_stun.rs\n\
                 if_inbound = rlan\nif_outbound = rwan\nsip_listen_port = 5060\n\
                 rtp_proxy_enable = 1\nrtp_port_low = 20000\nrtp_port_high = 20019\n\
                 registration_file = {}\n\
                 load_plugin = plugin_stun.so\nplugin_stun_server = {server}\n\
                 plugin_stun_port = 3478\nplugin_stun_period = {PERIOD}\n{extra}",
                self.path("registrations").display()
            ),
        )
        .expect("sipnat.conf");
        let log = File::create(self.path("sipnat.log")).expect("sipnat.log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns('r')])
            .arg(env!("CARGO_BIN_EXE_sipnat"))
            .args(["-f", "-c"])
            .arg(&conf)
            .arg("--control")
            .arg(self.path("sipnat.sock"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("cannot start sipnat");
        self.sipnat = Some(child);
        wait_until(
            "sipnat listens on 5060 and on its control socket",
            SETTLE,
            || {
                self.assert_sipnat_runs();
                self.path("sipnat.sock").exists() && self.listening('r', 5060)
            },
            || self.context(),
        );
    }

    fn assert_sipnat_runs(&self) {
        // try_wait needs &mut; the pid is enough to ask whether it lives.
        let pid = self.sipnat.as_ref().expect("sipnat started").id();
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
        assert!(
            matches!(state, Some(s) if s != 'Z' && s != 'X'),
            "sipnat is not running (state {state:?})\n{}",
            self.context()
        );
    }

    /// `sipnat status --json` through the control socket: the instance.
    fn status(&self) -> Value {
        let sock = self.path("sipnat.sock");
        let out = Command::new(env!("CARGO_BIN_EXE_sipnat"))
            .args(["status", "--json", "--control"])
            .arg(&sock)
            .stdin(Stdio::null())
            .output()
            .expect("sipnat status");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "sipnat status: {text}\n{}",
            self.context()
        );
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("sipnat status --json: {e}: {text}"));
        v["instances"][0].clone()
    }

    /// One of the status's counters (`stun.request`); 0 when absent.
    fn counter(&self, name: &str) -> u64 {
        self.status()["counters"][name].as_u64().unwrap_or(0)
    }

    /// Wait until sipnat says it learned `ip` as its public address.
    fn wait_learned(&self, ip: &str) {
        let line = format!("stun: the public address is {ip}\n");
        wait_until(
            &format!("sipnat learns {ip} from coturn"),
            SETTLE,
            || self.log().contains(&line),
            || self.context(),
        );
    }

    /// `nameserver 203.0.113.53` for the router namespace (`ip netns exec`
    /// puts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf) and a DNS
    /// server there that knows `stun.test`.
    fn start_dns(&mut self) {
        let etc = PathBuf::from(format!("/etc/netns/{}", self.ns('r')));
        fs::create_dir_all(&etc).expect("/etc/netns/<ns>");
        self.etc = Some(etc.clone());
        fs::write(etc.join("resolv.conf"), "nameserver 203.0.113.53\n").expect("resolv.conf");
        let stun = (STUN_NAME, Ipv4Addr::new(203, 0, 113, 2));
        self.dns = Some(DnsServer::start(self.udp('s', DNS), &[stun]));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in [self.sipnat.as_mut(), self.coturn.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.dns = None;
        for script in ["tests/netns/stun/outer_nat.sh", "tests/netns/topo.sh"] {
            let _ = Command::new("bash")
                .arg(manifest().join(script))
                .args(["down", &self.id])
                .stdin(Stdio::null())
                .output();
        }
        if let Some(etc) = &self.etc {
            let _ = fs::remove_dir_all(etc);
        }
        if std::thread::panicking() {
            eprintln!("[{}] {}", self.name, self.context());
        } else {
            let _ = fs::remove_dir_all(&self.work);
        }
    }
}

/// A UDP socket bound to `addr` in network namespace `ns`: a short-lived
/// thread enters the namespace, binds and ends. The socket stays in the
/// namespace it was made in, whichever thread uses it later.
fn bind_in(ns: &str, addr: &str) -> UdpSocket {
    let path = format!("/var/run/netns/{ns}");
    let sa: SocketAddr = addr.parse().expect("socket address");
    let made = std::thread::spawn(move || -> io::Result<UdpSocket> {
        let f = File::open(&path)?;
        // SAFETY: setns(2) with an open namespace fd; it moves only this
        // thread, which ends right after binding.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        UdpSocket::bind(sa)
    })
    .join()
    .expect("bind thread");
    made.unwrap_or_else(|e| panic!("cannot bind {addr} in {ns}: {e}"))
}

// ------------------------------------------------------------ SIP messages

fn send(s: &UdpSocket, to: &str, data: &str) {
    s.send_to(data.as_bytes(), to)
        .unwrap_or_else(|e| panic!("send to {to}: {e}"));
}

/// One datagram, if one comes within `wait`.
fn recv(s: &UdpSocket, wait: Duration) -> Option<(SocketAddr, String)> {
    let end = Instant::now() + wait;
    let mut buf = [0u8; 8192];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.recv_from(&mut buf) {
            Ok((n, from)) => return Some((from, String::from_utf8_lossy(&buf[..n]).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// The first datagram within `wait` whose first line starts with `start`
/// (others, such as retransmissions of earlier messages, are passed over).
fn recv_starting(s: &UdpSocket, start: &str, lab: &Lab) -> (SocketAddr, String) {
    let end = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match recv(s, left) {
            Some((from, msg)) if msg.starts_with(start) => return (from, msg),
            Some((_, msg)) => seen.push(first_line(&msg).to_string()),
            None => break,
        }
    }
    panic!(
        "no '{start}…' at {:?} within {WAIT:?} (got {seen:?})\n{}",
        s.local_addr(),
        lab.context()
    );
}

/// `host:port` of a SIP URI (`sip:100@203.0.113.1:5060;snc=…`).
fn uri_hostport(uri: &str) -> &str {
    let rest = uri.strip_prefix("sip:").unwrap_or(uri);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    rest.split([';', '?', '>']).next().unwrap_or(rest)
}

/// The sent-by (`host:port`) of a Via value.
fn via_sent_by(via: &str) -> &str {
    via.split_whitespace()
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap_or("")
}

/// A response to `req` as a UAS builds it: its Vias, From, To (tagged),
/// Call-ID and CSeq, then `extra` header lines.
fn response(req: &str, code: u16, reason: &str, extra: &str) -> String {
    let mut r = format!("SIP/2.0 {code} {reason}\r\n");
    for v in headers(req, "Via") {
        r.push_str(&format!("Via: {v}\r\n"));
    }
    let to = header(req, "To");
    let to = if to.contains(";tag=") {
        to.to_string()
    } else {
        format!("{to};tag=uas{code}")
    };
    r.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
        header(req, "From"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
    ));
    r
}

/// A request from the phone (its top Via 10.77.1.2:5060 with rport).
fn phone_request(
    method: &str,
    ruri: &str,
    call_id: &str,
    cseq: u32,
    extra: &str,
    sdp: &str,
) -> String {
    let ctype = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bK{method}{cseq}{};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:100@203.0.113.2>;tag=ph{cseq}\r\n\
         To: <{ruri}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:100@10.77.1.2:5060>\r\n{extra}{ctype}Content-Length: {}\r\n\r\n{sdp}",
        call_id.split('@').next().unwrap_or(""),
        sdp.len()
    )
}

/// What no message on the public side may contain: a LAN address, the
/// router's own WAN address.
fn hidden_addresses(msg: &str) -> Vec<&'static str> {
    ["10.77.1.", ROUTER_WAN_IP]
        .into_iter()
        .filter(|a| msg.contains(a))
        .collect()
}

/// The phone registers (CSeq `cseq`) through sipnat; the registrar checks
/// that the REGISTER came from the modem and that its Via and Contact name
/// `announced`, answers 200, and the phone gets the 200. Returns the
/// Contact the registrar stored.
fn register(
    lab: &Lab,
    phone: &UdpSocket,
    registrar: &UdpSocket,
    cseq: u32,
    announced: &str,
) -> String {
    let reg = phone_request(
        "REGISTER",
        "sip:203.0.113.2",
        "reg@10.77.1.2",
        cseq,
        "Expires: 600\r\n",
        "",
    );
    send(phone, ROUTER_LAN, &reg);
    let (from, got) = recv_starting(registrar, "REGISTER ", lab);
    assert_eq!(
        from.ip().to_string(),
        PUBLIC_IP,
        "the REGISTER did not come through the modem"
    );
    let vias = headers(&got, "Via");
    assert!(!vias.is_empty(), "{got}");
    for via in &vias {
        assert_eq!(
            via_sent_by(via),
            format!("{announced}:5060"),
            "a Via:\n{got}"
        );
    }
    let contact = uri_of(header(&got, "Contact")).to_string();
    assert_eq!(
        uri_hostport(&contact),
        format!("{announced}:5060"),
        "the Contact:\n{got}"
    );
    let hidden = hidden_addresses(&got);
    assert!(hidden.is_empty(), "the REGISTER names {hidden:?}:\n{got}");

    let ok = response(
        &got,
        200,
        "OK",
        &format!("Contact: <{contact}>;expires=600\r\n"),
    );
    send(registrar, &from.to_string(), &ok);
    let (_, answer) = recv_starting(phone, "SIP/2.0 ", lab);
    assert!(
        answer.starts_with("SIP/2.0 200 "),
        "the phone's REGISTER: {answer}"
    );
    contact
}

/// The registrar sends an OPTIONS to `contact` (the address sipnat
/// announced): it crosses the modem back to sipnat and reaches the phone,
/// whose 200 comes back to the registrar.
fn options_to_phone(lab: &Lab, phone: &UdpSocket, registrar: &UdpSocket, contact: &str, n: u32) {
    let call_id = format!("opt{n}@203.0.113.2");
    let opt = format!(
        "OPTIONS {contact} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 203.0.113.2:5060;branch=z9hG4bKopt{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:registrar@203.0.113.2>;tag=r{n}\r\n\
         To: <{contact}>\r\nCall-ID: {call_id}\r\nCSeq: {n} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    send(registrar, uri_hostport(contact), &opt);
    let (from, got) = recv_starting(phone, "OPTIONS ", lab);
    assert_eq!(header(&got, "Call-ID"), call_id, "{got}");
    send(phone, &from.to_string(), &response(&got, 200, "OK", ""));
    let (_, answer) = recv_starting(registrar, "SIP/2.0 ", lab);
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    assert_eq!(header(&answer, "Call-ID"), call_id, "{answer}");
}

// ------------------------------------------------------------------ tests

/// sipnat learns the modem's public address from coturn, and a REGISTER, a
/// request back to the phone and an INVITE's SDP all use it.
#[test]
fn netns_stun_the_public_address_comes_from_coturn_through_the_modem() {
    let Some(mut lab) = Lab::new("learned") else {
        return;
    };
    lab.start_coturn();
    lab.start_sipnat(STUN_IP, "");
    lab.wait_learned(PUBLIC_IP);
    let st = lab.status();
    assert_eq!(st["config"]["wan_address"], ROUTER_WAN_IP, "{st}");
    assert_eq!(st["config"]["public_address"], PUBLIC_IP, "{st}");
    assert!(st["config"]["host_outbound"].is_null(), "{st}");
    assert!(st["counters"]["stun.request"].as_u64() >= Some(1), "{st}");
    assert!(st["counters"]["stun.answer"].as_u64() >= Some(1), "{st}");

    let phone = lab.udp('l', PHONE);
    let registrar = lab.udp('s', REGISTRAR);
    let contact = register(&lab, &phone, &registrar, 1, PUBLIC_IP);
    options_to_phone(&lab, &phone, &registrar, &contact, 1);

    // An INVITE's SDP names the public address too (the relay's port).
    let sdp = "v=0\r\no=100 1 1 IN IP4 10.77.1.2\r\ns=-\r\nc=IN IP4 10.77.1.2\r\n\
               t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let inv = phone_request("INVITE", "sip:200@203.0.113.2", "inv@10.77.1.2", 1, "", sdp);
    send(&phone, ROUTER_LAN, &inv);
    let (from, got) = recv_starting(&registrar, "INVITE ", &lab);
    assert_eq!(from.ip().to_string(), PUBLIC_IP);
    assert!(
        got.contains(&format!("\r\nc=IN IP4 {PUBLIC_IP}\r\n")),
        "{got}"
    );
    assert_eq!(
        uri_hostport(uri_of(header(&got, "Contact"))),
        format!("{PUBLIC_IP}:5060"),
        "{got}"
    );
    let hidden = hidden_addresses(&got);
    assert!(hidden.is_empty(), "the INVITE names {hidden:?}:\n{got}");
}

/// `plugin_stun_server` a host name: resolved through the router's
/// nameserver (on the public side, reached through the modem), then asked.
#[test]
fn netns_stun_the_server_by_host_name() {
    // sipnat prefers OpenWrt's resolv.conf files in /tmp, which `ip netns
    // exec` cannot replace.
    let openwrt = [
        "/tmp/resolv.conf.d/resolv.conf.auto",
        "/tmp/resolv.conf.auto",
    ];
    if openwrt.iter().any(|p| Path::new(p).exists()) {
        assert!(skip_allowed(), "/tmp/resolv.conf*.auto exists here");
        return;
    }
    let Some(mut lab) = Lab::new("hostname") else {
        return;
    };
    lab.start_coturn();
    lab.start_dns();
    lab.start_sipnat(STUN_NAME, "");
    lab.wait_learned(PUBLIC_IP);
    let asked = lab.dns.as_ref().expect("dns").asked();
    let a = asked
        .iter()
        .find(|(_, name, qtype)| name == STUN_NAME && *qtype == 1)
        .unwrap_or_else(|| panic!("no A query for {STUN_NAME}: {asked:?}"));
    assert_eq!(
        a.0.ip().to_string(),
        PUBLIC_IP,
        "through the modem: {asked:?}"
    );
    let st = lab.status();
    assert!(st["counters"]["stun.answer"].as_u64() >= Some(1), "{st}");

    let phone = lab.udp('l', PHONE);
    let registrar = lab.udp('s', REGISTRAR);
    register(&lab, &phone, &registrar, 1, PUBLIC_IP);
}

/// `host_outbound` set: coturn is asked and answers, and the address set
/// by hand is what sipnat announces.
#[test]
fn netns_stun_host_outbound_wins_over_coturn() {
    let Some(mut lab) = Lab::new("hostout") else {
        return;
    };
    lab.start_coturn();
    lab.start_sipnat(STUN_IP, "host_outbound = 192.0.2.9\n");
    wait_until(
        "coturn answers sipnat",
        SETTLE,
        || lab.counter("stun.answer") >= 1,
        || lab.context(),
    );
    assert!(
        !lab.log().contains("stun: the public address is"),
        "{}",
        lab.context()
    );
    assert_eq!(lab.status()["config"]["host_outbound"], "192.0.2.9");

    let phone = lab.udp('l', PHONE);
    let registrar = lab.udp('s', REGISTRAR);
    register(&lab, &phone, &registrar, 1, "192.0.2.9");
}

/// coturn stopped: sipnat goes on asking, unanswered (counted), keeps the
/// address it learned, and SIP goes on both ways.
#[test]
fn netns_stun_coturn_stopped_the_last_address_stays() {
    let Some(mut lab) = Lab::new("stopped") else {
        return;
    };
    lab.start_coturn();
    lab.start_sipnat(STUN_IP, "");
    lab.wait_learned(PUBLIC_IP);
    let phone = lab.udp('l', PHONE);
    let registrar = lab.udp('s', REGISTRAR);
    register(&lab, &phone, &registrar, 1, PUBLIC_IP);

    lab.stop_coturn();
    let (requests, answers) = (lab.counter("stun.request"), lab.counter("stun.answer"));
    // The next request is due a period after the last answer.
    wait_until(
        "sipnat asks the stopped server again",
        Duration::from_secs(3 * PERIOD),
        || lab.counter("stun.request") > requests,
        || lab.context(),
    );
    assert_eq!(
        lab.counter("stun.answer"),
        answers,
        "an answer from a stopped server?"
    );
    lab.assert_sipnat_runs();
    let log = lab.log();
    assert!(!log.contains("panicked"), "{}", lab.context());
    assert_eq!(
        log.matches("stun: the public address is").count(),
        1,
        "{}",
        lab.context()
    );

    let contact = register(&lab, &phone, &registrar, 2, PUBLIC_IP);
    options_to_phone(&lab, &phone, &registrar, &contact, 2);
    lab.assert_sipnat_runs();
}
