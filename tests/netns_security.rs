//! The attacks of issue 9 (a hostile WAN), performed from the WAN against the
//! real sipnat binary on real sockets: the LAN / router / WAN namespaces of
//! `tests/netns/topo.sh`, sipnat in the router namespace (`if_inbound = rlan`,
//! `if_outbound = rwan`), and the phone, the provider and the attacker played
//! by this file with plain UDP sockets created inside the namespaces.
//! `tests/sim_security.rs` performs the same attacks on the core with a
//! virtual clock; these tests prove that the binary, its sockets and the
//! kernel around it (arrival interface, rp_filter, loopback) hold too.
//!
//! * **Reply reflection** (issue 9 item 1): WAN INVITEs to the phone's
//!   masqueraded contact whose top Via names the router's loopback
//!   (127.0.0.1:9999), a LAN host (10.77.1.50:5060) or a third party
//!   (198.51.100.2:5099), without `rport`. The phone answers 180 and 200;
//!   listeners at those three places get nothing, the attacker gets both
//!   answers at its own address on the sent-by port.
//! * **Spoofed LAN source** (item 3): rp_filter 0 on the router, and the
//!   attacker on the WAN sends from the phone's address 10.77.1.2. A call
//!   "from the phone" to a premium number never reaches the provider (toll
//!   fraud); `Contact: *` and a new binding never reach the registrar and do
//!   not touch sipnat's table (calls to the phone, by its masqueraded contact
//!   and by its user name, still reach it); `drop.wan-forged-source` counts
//!   every datagram, which proves the attack reached sipnat at all. In a call,
//!   RTP from 10.77.1.2:40000 (the phone's media address) arriving on the WAN
//!   at the relay port is not relayed to the far end nor to the phone, and is
//!   counted as dropped by the relay.
//! * **Forged contact tokens** (item 4): 3,000 OPTIONS to
//!   `sip:198.51.100.1:5060;snc=` with random tokens of the old length (12 hex
//!   digits, ~1 in 256 of which opened to 127.x.y.z before) and 3,000 of the
//!   new length (28). Every one is answered 404 to the attacker, once; a
//!   capture of the router's `lo` holds no UDP, one of `rlan` no UDP and no
//!   ARP for a LAN host other than the phone (canaries prove both captures
//!   work), and the phone's socket gets nothing.
//! * **Forged LAN source through the latch window** (item 3, relay): within
//!   the relay's latch window (a far end with a private SDP address), a WAN
//!   packet forging a LAN host's source latched the far end's leg on
//!   631460d, and the router then sent the phone's audio to that LAN host.
//!   Now the relay drops such a packet as forged (counted as
//!   `rtp-dropped.wan-forged-source`).
//!
//! A check that nothing came is made after a *barrier* (an OPTIONS to sipnat
//! itself, answered after everything sent before it was handled), so it
//! cannot pass merely because sipnat was slow.
//!
//! What they need: root, `ip netns`, tcpdump, `ss` (tests/setup-deps.sh).
//! Without them every test FAILS saying so, unless `SIPNAT_SKIP_NETNS=1`:
//! then it prints that it was skipped and passes. Every test has its own
//! namespaces (named after the process and a counter) and work directory, so
//! they run in parallel with each other and with the rest of the suite; the
//! namespaces are removed, and sipnat and tcpdump killed, even when a test
//! fails (then the test output shows the tail of sipnat's log, and the work
//! directory with the log and the captures is kept).
//!
//! What they do not do: test TCP, TLS or IPv6, an attacker on the LAN, flood
//! or resource-exhaustion attacks (issue 9's quotas), DNS (no name is ever
//! resolved here), nor spoofed sources with rp_filter 1, or of loopback or
//! the router's own addresses (the kernel drops those on `rwan` before any
//! socket sees them; `tests/sim_security.rs` covers them in the core); and
//! they address no host outside the namespaces.

mod netns_env;
use netns_env::{body, environment_problem, first_line, header, headers, sh, tail, uri_of};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The phone's SIP socket (LAN namespace).
const PHONE: &str = "10.77.1.2:5060";
/// sipnat seen from the LAN and from the WAN.
const ROUTER_LAN: &str = "10.77.1.1:5060";
const ROUTER_WAN: &str = "198.51.100.1:5060";
/// The provider: registrar and far end of calls (WAN namespace).
const PROVIDER: &str = "198.51.100.2:5060";
/// The attacker's address on the WAN, and the port it sends SIP from.
const ATTACKER_IP: &str = "198.51.100.3";
const ATTACKER: &str = "198.51.100.3:5070";

/// How long to wait for something that should come.
const WAIT: Duration = Duration::from_secs(2);
/// How long a socket must stay silent for "nothing came".
const QUIET: Duration = Duration::from_millis(300);

fn skip_allowed() -> bool {
    std::env::var("SIPNAT_SKIP_NETNS").is_ok_and(|v| v == "1")
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ------------------------------------------------------------------ the lab

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// One topology with sipnat in its router namespace. Dropping it kills
/// sipnat and removes the namespaces (also when the test panics, and then it
/// prints sipnat's log).
struct Lab {
    id: String,
    name: &'static str,
    work: PathBuf,
    sipnat: Option<Child>,
}

impl Lab {
    /// `None`: skipped (SIPNAT_SKIP_NETNS=1 on a machine that cannot run it).
    fn new(name: &'static str) -> Option<Lab> {
        let n = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let id = format!("k{:x}{n}", std::process::id());
        if let Some(why) = environment_problem(&id, &["ip", "tcpdump", "ss", "sysctl"]) {
            if skip_allowed() {
                println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
                return None;
            }
            panic!(
                "the network-namespace security tests cannot run here: {why}\n\
                 They need root, `ip netns`, tcpdump and ss (tests/setup-deps.sh).\n\
                 Set SIPNAT_SKIP_NETNS=1 to skip them on purpose."
            );
        }
        let work = std::env::temp_dir().join(format!("sipnat-netsec-{id}-{name}"));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).expect("work dir");
        // Built before `topo.sh up` so that a half-made topology is removed too.
        let lab = Lab {
            id,
            name,
            work,
            sipnat: None,
        };
        let out = Command::new("bash")
            .arg(manifest().join("tests/netns/topo.sh"))
            .args(["up", &lab.id])
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "topo.sh up {} failed:\n{}{}",
            lab.id,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(lab)
    }

    /// Namespace of `role`: 'l' LAN (phone), 'r' router, 'w' WAN.
    fn ns(&self, role: char) -> String {
        format!("sn{role}-{}", self.id)
    }

    /// `ip -n NS args...`, which must succeed.
    fn ip(&self, role: char, args: &[&str]) {
        let ns = self.ns(role);
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        let out = sh("ip", &all).expect("ip");
        assert!(
            out.status.success(),
            "ip {}: {}",
            all.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn sysctl(&self, role: char, setting: &str) {
        let ns = self.ns(role);
        let out = sh("ip", &["netns", "exec", &ns, "sysctl", "-qw", setting]).expect("sysctl");
        assert!(
            out.status.success(),
            "sysctl {setting} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A UDP socket bound to `addr` inside the namespace of `role`.
    fn udp(&self, role: char, addr: &str) -> UdpSocket {
        bind_in(&self.ns(role), addr)
    }

    fn log_path(&self) -> PathBuf {
        self.work.join("sipnat.log")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// What a failure message ends with.
    fn context(&self) -> String {
        format!(
            "work dir: {}\n---- sipnat log (tail) ----\n{}",
            self.work.display(),
            tail(&self.log(), 80)
        )
    }

    /// sipnat in the router namespace, debug logging on; `media`: with the
    /// RTP relay on ports 20000-20019.
    fn start_sipnat(&mut self, media: bool) {
        let conf = self.work.join("sipnat.conf");
        fs::write(
            &conf,
            format!(
                "# written by tests/netns_security.rs\n\
                 if_inbound = rlan\nif_outbound = rwan\nsip_listen_port = 5060\n\
                 rtp_proxy_enable = {}\nrtp_port_low = 20000\nrtp_port_high = 20019\n\
                 registration_file = {}\n",
                u8::from(media),
                self.work.join("registrations").display()
            ),
        )
        .expect("sipnat.conf");
        let log = File::create(self.log_path()).expect("sipnat.log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns('r')])
            .arg(sipnat_bin())
            .args(["-f", "-d", "4", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("cannot start sipnat");
        self.sipnat = Some(child);
        // Ready when its SIP socket is bound.
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(st) = self
                .sipnat
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("sipnat exited at start-up ({st})");
            }
            let ns = self.ns('r');
            let listening = sh(
                "ip",
                &["netns", "exec", &ns, "ss", "-Hlun", "sport = :5060"],
            )
            .is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains(":5060"));
            if listening {
                return;
            }
            assert!(
                Instant::now() < end,
                "sipnat does not listen on 5060 after 5 s"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// SIGUSR1 to sipnat; the status it then logs (the `status:` line and
    /// the counter lines after it).
    fn status(&self) -> String {
        let pid = self.sipnat.as_ref().expect("sipnat runs").id();
        let before = self.log().matches("status: ").count();
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR1) };
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            if self.log().matches("status: ").count() > before {
                // The counter lines follow the status line in one message.
                std::thread::sleep(Duration::from_millis(100));
                let log = self.log();
                let at = log.rfind("status: ").unwrap_or(0);
                return log[at..].to_string();
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        panic!("sipnat logged no status after SIGUSR1");
    }

    /// tcpdump on `iface` in the router namespace, writing a pcap; returns
    /// once it is capturing.
    fn capture(&self, iface: &str, filter: &str) -> Capture {
        let pcap = self.work.join(format!("{iface}.pcap"));
        let err_path = self.work.join(format!("{iface}.tcpdump"));
        let err = File::create(&err_path).expect("tcpdump log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns('r'), "tcpdump", "-i", iface])
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
            .arg(&pcap)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("cannot start tcpdump");
        let cap = Capture {
            child,
            pcap,
            iface: iface.to_string(),
        };
        let end = Instant::now() + Duration::from_secs(5);
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
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(c) = self.sipnat.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("bash")
            .arg(manifest().join("tests/netns/topo.sh"))
            .args(["down", &self.id])
            .output();
        if std::thread::panicking() {
            eprintln!("[{}] {}", self.name, self.context());
        } else {
            let _ = fs::remove_dir_all(&self.work);
        }
    }
}

/// The sipnat binary cargo built for this test.
fn sipnat_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sipnat"))
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

fn send(s: &UdpSocket, to: &str, data: &[u8]) {
    s.send_to(data, to)
        .unwrap_or_else(|e| panic!("send to {to}: {e}"));
}

/// One datagram, if one comes within `wait`.
fn recv(s: &UdpSocket, wait: Duration) -> Option<(SocketAddr, String)> {
    let end = std::time::Instant::now() + wait;
    let mut buf = [0u8; 8192];
    loop {
        // A signal (the test harness's children exiting) interrupts the
        // wait: wait again for what is left of it.
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.recv_from(&mut buf) {
            Ok((n, from)) => {
                return Some((from, String::from_utf8_lossy(&buf[..n]).into_owned()));
            }
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

/// Everything that arrives until the socket has been silent for `quiet`.
fn drain(s: &UdpSocket, quiet: Duration) -> Vec<(SocketAddr, String)> {
    let mut all = Vec::new();
    while let Some(d) = recv(s, quiet) {
        all.push(d);
    }
    all
}

/// The first datagram within `wait` for which `want` holds (others are
/// returned in `skipped`).
fn recv_where(
    s: &UdpSocket,
    wait: Duration,
    skipped: &mut Vec<(SocketAddr, String)>,
    want: impl Fn(&str) -> bool,
) -> Option<(SocketAddr, String)> {
    let end = Instant::now() + wait;
    loop {
        let left = end.checked_duration_since(Instant::now())?;
        let d = recv(s, left.max(Duration::from_millis(1)))?;
        if want(&d.1) {
            return Some(d);
        }
        skipped.push(d);
    }
}

// ------------------------------------------------------------ SIP messages

fn status_code(msg: &str) -> Option<u16> {
    first_line(msg)
        .strip_prefix("SIP/2.0 ")?
        .get(..3)?
        .parse()
        .ok()
}

/// A response to `req` the way a UAS builds it: its Vias, From, To (with
/// `to_tag` if it has none), Call-ID and CSeq, then `extra` header lines and
/// `sdp` as the body.
fn response(req: &str, code: u16, reason: &str, to_tag: &str, extra: &str, sdp: &str) -> String {
    let mut r = format!("SIP/2.0 {code} {reason}\r\n");
    for v in headers(req, "Via") {
        r.push_str(&format!("Via: {v}\r\n"));
    }
    let to = header(req, "To");
    let to = if to.contains(";tag=") {
        to.to_string()
    } else {
        format!("{to};tag={to_tag}")
    };
    r.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}",
        header(req, "From"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
    ));
    if !sdp.is_empty() {
        r.push_str("Content-Type: application/sdp\r\n");
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n{sdp}", sdp.len()));
    r
}

/// A request; `via` is the whole top Via value, `extra` more header lines.
#[allow(clippy::too_many_arguments)]
fn request(
    method: &str,
    ruri: &str,
    via: &str,
    from: &str,
    to: &str,
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
        "{method} {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\n\
         To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{extra}{ctype}\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The phone's REGISTER for AOR 100@198.51.100.2.
fn phone_register(call_id: &str, cseq: u32, contact: &str, expires: u32) -> String {
    request(
        "REGISTER",
        "sip:198.51.100.2",
        &format!(
            "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKreg{}{cseq};rport",
            call_id.split('@').next().unwrap_or("")
        ),
        "<sip:100@198.51.100.2>;tag=reg1",
        "<sip:100@198.51.100.2>",
        call_id,
        cseq,
        &format!("Contact: {contact}\r\nExpires: {expires}\r\n"),
        "",
    )
}

/// An INVITE from the WAN (the attacker's address) to `ruri` whose top Via
/// is `via`.
fn wan_invite(ruri: &str, via: &str, call_id: &str) -> String {
    request(
        "INVITE",
        ruri,
        via,
        "<sip:eve@198.51.100.3>;tag=eve1",
        "<sip:100@198.51.100.1>",
        call_id,
        1,
        "Contact: <sip:eve@198.51.100.3:5070>\r\n",
        "",
    )
}

/// The honest registrar: answer a REGISTER 200, listing what it asked for.
fn registrar_ok(registrar: &UdpSocket, from: SocketAddr, reg: &str) {
    let contacts: String = headers(reg, "Contact")
        .iter()
        .filter(|c| **c != "*")
        .map(|c| format!("Contact: <{}>;expires=3600\r\n", uri_of(c)))
        .collect();
    let ok = response(reg, 200, "OK", "regsrv", &contacts, "");
    send(registrar, &from.to_string(), ok.as_bytes());
}

/// Register the phone with the provider through sipnat; return the
/// masqueraded contact URI the provider stored (`sip:100@198.51.100.1:5060;snc=…`).
fn register_phone(phone: &UdpSocket, registrar: &UdpSocket) -> String {
    let reg = phone_register("reg1@10.77.1.2", 1, "<sip:100@10.77.1.2:5060>", 3600);
    send(phone, ROUTER_LAN, reg.as_bytes());
    let Some((from, got)) = recv(registrar, WAIT) else {
        panic!("the phone's REGISTER did not reach the registrar");
    };
    assert!(got.starts_with("REGISTER "), "{got}");
    let contact = uri_of(header(&got, "Contact")).to_string();
    assert!(
        contact.starts_with("sip:100@198.51.100.1") && contact.contains(";snc="),
        "not a masqueraded contact: {contact}"
    );
    registrar_ok(registrar, from, &got);
    let ok = recv(phone, WAIT).map(|d| d.1).unwrap_or_default();
    assert_eq!(
        status_code(&ok),
        Some(200),
        "the phone got no 200 for its REGISTER: {ok:?}"
    );
    contact
}

static NEXT_BARRIER: AtomicU32 = AtomicU32::new(0);

/// Send sipnat an OPTIONS for itself from `sock` (to `router`, its address
/// on the socket's side) and wait for the answer. sipnat reads its SIP socket
/// in order, so once the answer is back every datagram sent to it before has
/// been handled and whatever it sent for them is on the wire: a check for
/// "nothing came" after a barrier cannot pass just because sipnat was slow.
fn barrier(sock: &UdpSocket, router: &str) {
    let n = NEXT_BARRIER.fetch_add(1, Ordering::SeqCst);
    let me = sock.local_addr().expect("local addr");
    let call_id = format!("barrier{n}@{}", me.ip());
    let opt = request(
        "OPTIONS",
        &format!("sip:{router}"),
        &format!("SIP/2.0/UDP {me};branch=z9hG4bKbarrier{n};rport"),
        &format!("<sip:barrier@{}>;tag=b{n}", me.ip()),
        &format!("<sip:{router}>"),
        &call_id,
        1,
        "",
        "",
    );
    send(sock, router, opt.as_bytes());
    let mut skipped = Vec::new();
    let got = recv_where(sock, WAIT, &mut skipped, |d| {
        header(d, "Call-ID") == call_id
    });
    assert!(
        got.is_some(),
        "sipnat did not answer an OPTIONS for itself from {me}"
    );
}

/// The value after `name` in sipnat's status text (`drop.wan-forged-source
/// 3`, `rtp-dropped.unknown-source 5`); 0 if absent.
fn counter(status: &str, name: &str) -> u64 {
    let words: Vec<&str> = status.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(0)
}

fn fail_with(what: &str, failures: &[String]) {
    if !failures.is_empty() {
        panic!(
            "{what}: {} failure(s):\n  - {}",
            failures.len(),
            failures.join("\n  - ")
        );
    }
}

// ------------------------------------------------------------ the attacks

/// Issue 9 item 1: a WAN request's Via cannot steer the phone's answers to
/// the router's loopback, a LAN host or a third party; they go to the
/// request's source IP on the sent-by port (RFC 3261 §18.2.2, no rport).
#[test]
fn netns_reply_reflection_goes_only_to_the_request_source() {
    let Some(mut lab) = Lab::new("reflection") else {
        return;
    };
    lab.ip('l', &["addr", "add", "10.77.1.50/24", "dev", "eth0"]);
    lab.start_sipnat(false);
    let phone = lab.udp('l', PHONE);
    let provider = lab.udp('w', PROVIDER);
    let contact = register_phone(&phone, &provider);
    let attacker = lab.udp('w', ATTACKER);

    // (what, namespace of the victim, Via sent-by, port)
    let cases = [
        ("the router's loopback", 'r', "127.0.0.1:9999", 9999),
        ("a LAN host", 'l', "10.77.1.50:5060", 5060),
        ("a third party", 'w', "198.51.100.2:5099", 5099),
    ];
    let victims: Vec<UdpSocket> = cases.iter().map(|c| lab.udp(c.1, c.2)).collect();
    let at_attacker: Vec<UdpSocket> = cases
        .iter()
        .map(|c| lab.udp('w', &format!("{ATTACKER_IP}:{}", c.3)))
        .collect();
    let mut failures = Vec::new();
    for (i, (what, _, sent_by, port)) in cases.iter().enumerate() {
        let call_id = format!("refl{i}@198.51.100.3");
        let inv = wan_invite(
            &contact,
            &format!("SIP/2.0/UDP {sent_by};branch=z9hG4bKrefl{i}"),
            &call_id,
        );
        send(&attacker, ROUTER_WAN, inv.as_bytes());
        let Some((from, got)) = recv(&phone, WAIT) else {
            failures.push(format!("{what}: the INVITE did not reach the phone"));
            continue;
        };
        assert_eq!(header(&got, "Call-ID"), call_id, "{got}");
        for (code, reason) in [(180, "Ringing"), (200, "OK")] {
            let r = response(
                &got,
                code,
                reason,
                &format!("ph{i}"),
                "Contact: <sip:100@10.77.1.2:5060>\r\n",
                "",
            );
            send(&phone, &from.to_string(), r.as_bytes());
        }
        // The attacker itself gets both, at its own IP on the sent-by port.
        let mut codes = Vec::new();
        while codes.len() < 2 {
            let Some((src, r)) = recv(&at_attacker[i], WAIT) else {
                break;
            };
            if header(&r, "Call-ID") != call_id || src.to_string() != ROUTER_WAN {
                failures.push(format!(
                    "{what}: {ATTACKER_IP}:{port} got an unexpected datagram from {src}: {}",
                    first_line(&r)
                ));
                continue;
            }
            codes.extend(status_code(&r));
        }
        if codes != [180, 200] {
            failures.push(format!(
                "{what}: the attacker got {codes:?} at {ATTACKER_IP}:{port} (the request's \
                 source IP, the Via's port), expected [180, 200]"
            ));
        }
    }
    // Nothing reached the places the Vias named.
    barrier(&phone, ROUTER_LAN);
    for ((what, ns, sent_by, _), sock) in cases.iter().zip(&victims) {
        for (src, d) in drain(sock, QUIET) {
            failures.push(format!(
                "{what}: {sent_by} (namespace {}) received from {src}: {}",
                lab.ns(*ns),
                first_line(&d)
            ));
        }
    }
    for (sock, (_, _, _, port)) in at_attacker.iter().zip(&cases) {
        for (src, d) in drain(sock, Duration::from_millis(50)) {
            failures.push(format!(
                "{ATTACKER_IP}:{port} received one more from {src}: {}",
                first_line(&d)
            ));
        }
    }
    fail_with("reply reflection", &failures);
}

/// Set up the router to let a forged LAN source in from the WAN (rp_filter 0,
/// as on many multi-WAN routers) and give the WAN namespace the phone's
/// address, so a socket there can send "from the phone".
fn allow_spoofing(lab: &Lab) {
    lab.sysctl('r', "net.ipv4.conf.all.rp_filter=0");
    lab.sysctl('r', "net.ipv4.conf.rwan.rp_filter=0");
    lab.ip('w', &["addr", "add", "10.77.1.2/32", "dev", "eth0"]);
}

/// Issue 9 item 3, signalling: a WAN datagram with the phone's source
/// address is not the phone: no toll fraud, no binding hijack.
#[test]
fn netns_spoofed_lan_source_from_the_wan_is_not_the_phone() {
    let Some(mut lab) = Lab::new("spoof-sip") else {
        return;
    };
    allow_spoofing(&lab);
    lab.start_sipnat(false);
    let phone = lab.udp('l', PHONE);
    let provider = lab.udp('w', PROVIDER);
    let contact = register_phone(&phone, &provider);
    let spoof = lab.udp('w', PHONE);
    let spoof2 = lab.udp('w', "10.77.1.2:5070");
    let attacker = lab.udp('w', ATTACKER);
    let mut failures = Vec::new();

    // (a) Toll fraud: a call "from the phone" to a premium number.
    let fraud = request(
        "INVITE",
        "sip:0900123456@198.51.100.2",
        "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKfraud1;rport",
        "<sip:100@198.51.100.2>;tag=fr1",
        "<sip:0900123456@198.51.100.2>",
        "fraud1@10.77.1.2",
        1,
        "Contact: <sip:100@10.77.1.2:5060>\r\n",
        "",
    );
    send(&spoof, ROUTER_WAN, fraud.as_bytes());
    barrier(&attacker, ROUTER_WAN);
    for (src, d) in drain(&provider, QUIET) {
        failures.push(format!(
            "toll fraud: the provider received from {src}: {}",
            first_line(&d)
        ));
    }
    // (b) Hijack the binding: remove every contact, then register a new one
    // (the attacker's own address, from another port of the phone's IP). An
    // honest registrar accepts what reaches it, so this one answers 200.
    let unreg = phone_register("hij1@10.77.1.2", 2, "*", 0);
    let rereg = phone_register("hij2@10.77.1.2", 3, "<sip:100@198.51.100.3:5060>", 3600)
        .replace("10.77.1.2:5060;branch", "10.77.1.2:5070;branch");
    for (sock, msg, what) in [
        (&spoof, &unreg, "Contact: * (un-REGISTER)"),
        (&spoof2, &rereg, "a new Contact"),
    ] {
        send(sock, ROUTER_WAN, msg.as_bytes());
        barrier(&attacker, ROUTER_WAN);
        for (src, d) in drain(&provider, QUIET) {
            failures.push(format!(
                "binding hijack: the registrar received {what} from {src}: {}",
                first_line(&d)
            ));
            if d.starts_with("REGISTER ") {
                registrar_ok(&provider, src, &d);
            }
        }
    }
    // Whatever came back to the phone (answers meant for the forger).
    let stray = drain(&phone, QUIET);
    // The attack reached sipnat: each forged datagram was counted.
    let status = lab.status();
    let forged = counter(&status, "drop.wan-forged-source");
    if forged != 3 {
        failures.push(format!(
            "drop.wan-forged-source is {forged}, expected 3 (one per forged datagram); \
             sipnat's {status}"
        ));
    }
    // The real phone still gets its calls: by its masqueraded contact, and
    // by its user name.
    for (n, ruri) in [contact.as_str(), "sip:100@198.51.100.1:5060"]
        .iter()
        .enumerate()
    {
        let call_id = format!("legit{n}@198.51.100.3");
        let inv = wan_invite(
            ruri,
            &format!("SIP/2.0/UDP {ATTACKER};branch=z9hG4bKlegit{n};rport"),
            &call_id,
        );
        send(&attacker, ROUTER_WAN, inv.as_bytes());
        let mut skipped = Vec::new();
        match recv_where(&phone, WAIT, &mut skipped, |d| {
            header(d, "Call-ID") == call_id
        }) {
            Some((_, got)) => {
                let want = "INVITE sip:100@10.77.1.2:5060 SIP/2.0";
                if first_line(&got) != want {
                    failures.push(format!(
                        "INVITE to {ruri}: the phone got {:?}, expected {want:?}",
                        first_line(&got)
                    ));
                }
            }
            None => failures.push(format!(
                "a legitimate INVITE to {ruri} did not reach the phone (it got {:?}; \
                 earlier it got {:?})",
                skipped.iter().map(|d| first_line(&d.1)).collect::<Vec<_>>(),
                stray.iter().map(|d| first_line(&d.1)).collect::<Vec<_>>()
            )),
        }
    }
    fail_with("spoofed LAN source (SIP)", &failures);
}

/// Issue 9 item 3, media: RTP with the phone's media address as its source,
/// arriving on the WAN at the call's relay port, goes nowhere.
#[test]
fn netns_spoofed_lan_source_rtp_is_not_relayed() {
    let Some(mut lab) = Lab::new("spoof-rtp") else {
        return;
    };
    allow_spoofing(&lab);
    lab.start_sipnat(true);
    let phone = lab.udp('l', PHONE);
    let provider = lab.udp('w', PROVIDER);
    register_phone(&phone, &provider);
    let phone_rtp = lab.udp('l', "10.77.1.2:40000");
    let far_rtp = lab.udp('w', "198.51.100.3:40002");
    let spoof_rtp = lab.udp('w', "10.77.1.2:40000");

    let (lan_port, wan_port) = media_call(&phone, &provider, "198.51.100.3");
    let relay_lan = format!("10.77.1.1:{lan_port}");
    let relay_wan = format!("198.51.100.1:{wan_port}");
    // The relay works both ways (and latches both ends).
    send(&phone_rtp, &relay_lan, &rtp(1, b"phone-1"));
    let got = recv(&far_rtp, WAIT);
    assert!(
        got.as_ref().is_some_and(|d| rtp_tag(&d.1) == "phone-1"),
        "phone -> far end not relayed: {:?}",
        tags(got.as_slice())
    );
    send(&far_rtp, &relay_wan, &rtp(1, b"far-1"));
    let got = recv(&phone_rtp, WAIT);
    assert!(
        got.as_ref().is_some_and(|d| rtp_tag(&d.1) == "far-1"),
        "far end -> phone not relayed: {:?}",
        tags(got.as_slice())
    );
    let dropped_before = counter(&lab.status(), "rtp-dropped");

    // The attack: the phone's media address, from the WAN, to the port the
    // phone sends to (and to the WAN-facing one, if they differ).
    const SPOOFS: u64 = 5;
    let mut targets = vec![relay_wan.clone()];
    if lan_port != wan_port {
        targets.push(format!("198.51.100.1:{lan_port}"));
    }
    for t in &targets {
        for k in 0..SPOOFS {
            send(&spoof_rtp, t, &rtp(10 + k as u16, b"x-SPOOFED"));
        }
    }
    // The real phone goes on; its packet arrives after the forged ones.
    send(&phone_rtp, &relay_lan, &rtp(2, b"phone-2"));
    let mut failures = Vec::new();
    let mut far = Vec::new();
    let after = recv_where(&far_rtp, WAIT, &mut far, |d| d.ends_with("phone-2"));
    if after.is_none() {
        failures.push("the phone's packet after the attack did not reach the far end".into());
    }
    far.extend(drain(&far_rtp, QUIET));
    for (src, _) in far.iter().filter(|d| d.1.ends_with("-SPOOFED")) {
        failures.push(format!("the far end received a forged packet from {src}"));
    }
    for (src, d) in drain(&phone_rtp, QUIET) {
        failures.push(format!("the phone received {:?} from {src}", rtp_tag(&d)));
    }
    // The attack reached the relay: every forged packet was dropped there.
    let status = lab.status();
    let dropped = counter(&status, "rtp-dropped") - dropped_before;
    let sent = SPOOFS * targets.len() as u64;
    if dropped != sent {
        failures.push(format!(
            "the relay dropped {dropped} packets during the attack, expected {sent} \
             (one per forged packet); sipnat's {status}"
        ));
    }
    fail_with("spoofed LAN source (RTP)", &failures);
}

/// Issue 9 item 3, media, through the latch window: a far end behind its
/// own NAT (a private address in its SDP) opens the relay's window (module
/// doc of `relay`, rule 2), in which any source may latch its leg. A WAN
/// packet with a forged LAN source must not be that source: the router would
/// then send the phone's audio to a LAN host and port the attacker chose,
/// and the real far end could not take its leg back.
///
/// Failed on 631460d: the relay checked the arrival side but not the
/// source address, so the forged LAN source latched the far end's leg.
#[test]
fn netns_spoofed_lan_source_cannot_latch_through_the_window() {
    let Some(mut lab) = Lab::new("spoof-window") else {
        return;
    };
    allow_spoofing(&lab);
    // A LAN host the attacker aims at, and its forged address on the WAN.
    lab.ip('l', &["addr", "add", "10.77.1.50/24", "dev", "eth0"]);
    lab.ip('w', &["addr", "add", "10.77.1.50/32", "dev", "eth0"]);
    lab.start_sipnat(true);
    let phone = lab.udp('l', PHONE);
    let provider = lab.udp('w', PROVIDER);
    register_phone(&phone, &provider);
    let phone_rtp = lab.udp('l', "10.77.1.2:40000");
    let far_rtp = lab.udp('w', "198.51.100.3:40002");
    let lan_host = lab.udp('l', "10.77.1.50:7000");
    let spoof_rtp = lab.udp('w', "10.77.1.50:7000");
    let (lan_port, wan_port) = media_call(&phone, &provider, "192.168.7.7");
    let relay_lan = format!("10.77.1.1:{lan_port}");
    let relay_wan = format!("198.51.100.1:{wan_port}");
    // Within the window: first the forged source, then the real far end
    // (from its NAT's public address, which no SDP names), then the phone.
    send(&spoof_rtp, &relay_wan, &rtp(1, b"x-SPOOFED"));
    std::thread::sleep(Duration::from_millis(50));
    send(&far_rtp, &relay_wan, &rtp(1, b"far-1"));
    std::thread::sleep(Duration::from_millis(50));
    send(&phone_rtp, &relay_lan, &rtp(1, b"phone-1"));
    let mut failures = Vec::new();
    for (src, d) in drain(&lan_host, QUIET) {
        failures.push(format!(
            "the LAN host 10.77.1.50:7000 received {:?} from {src}",
            rtp_tag(&d)
        ));
    }
    let to_phone = drain(&phone_rtp, Duration::from_millis(50));
    if to_phone.iter().any(|d| d.1.ends_with("-SPOOFED")) {
        failures.push("the phone received the forged packet".into());
    }
    if !to_phone.iter().any(|d| d.1.ends_with("far-1")) {
        failures.push(format!(
            "the far end's packet did not reach the phone (it got {:?})",
            tags(&to_phone)
        ));
    }
    let to_far = drain(&far_rtp, Duration::from_millis(50));
    if !to_far.iter().any(|d| d.1.ends_with("phone-1")) {
        failures.push(format!(
            "the phone's packet did not reach the far end (it got {:?})",
            tags(&to_far)
        ));
    }
    if !failures.is_empty() {
        failures.push(format!("sipnat's {}", lab.status()));
    }
    fail_with("forged LAN source in the latch window", &failures);
}

/// Issue 9 item 4: random `snc` tokens, of the old length and of the new,
/// open a path to nowhere: each gets 404, nothing reaches the router's
/// loopback or the LAN.
#[test]
fn netns_forged_contact_tokens_reach_nobody() {
    let Some(mut lab) = Lab::new("tokens") else {
        return;
    };
    lab.start_sipnat(false);
    let phone = lab.udp('l', PHONE);
    let provider = lab.udp('w', PROVIDER);
    register_phone(&phone, &provider);
    let lo = lab.capture("lo", "udp");
    let lan = lab.capture("rlan", "udp or arp");
    let attacker = lab.udp('w', ATTACKER);

    const PER_LENGTH: usize = 3000;
    const BATCH: usize = 50;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let tokens: Vec<String> = (0..2 * PER_LENGTH)
        .map(|i| {
            let len = if i < PER_LENGTH { 12 } else { 28 };
            (0..len)
                .map(|_| char::from(b"0123456789abcdef"[(next() & 15) as usize]))
                .collect()
        })
        .collect();
    // Sent in batches, each answered before the next goes (no socket buffer
    // overflows, so no loss is tolerated).
    let mut answers: HashMap<usize, Vec<String>> = HashMap::new();
    let mut strays = Vec::new();
    for start in (0..tokens.len()).step_by(BATCH) {
        let end = (start + BATCH).min(tokens.len());
        for (i, tok) in tokens.iter().enumerate().take(end).skip(start) {
            let opt = request(
                "OPTIONS",
                &format!("sip:198.51.100.1:5060;snc={tok}"),
                &format!("SIP/2.0/UDP {ATTACKER};branch=z9hG4bKtok{i};rport"),
                &format!("<sip:eve@198.51.100.3>;tag=t{i}"),
                "<sip:100@198.51.100.1>",
                &format!("tok{i}@198.51.100.3"),
                1,
                "",
                "",
            );
            send(&attacker, ROUTER_WAN, opt.as_bytes());
        }
        let mut got = 0;
        while got < end - start {
            let Some((src, d)) = recv(&attacker, Duration::from_secs(1)) else {
                break;
            };
            let i = header(&d, "Call-ID")
                .strip_suffix("@198.51.100.3")
                .and_then(|c| c.strip_prefix("tok"))
                .and_then(|n| n.parse::<usize>().ok());
            match i {
                Some(i) if src.to_string() == ROUTER_WAN => {
                    answers
                        .entry(i)
                        .or_default()
                        .push(first_line(&d).to_string());
                    if (start..end).contains(&i) {
                        got += 1;
                    }
                }
                _ => strays.push(format!("from {src}: {}", first_line(&d))),
            }
        }
    }
    let mut failures = Vec::new();
    let unanswered: Vec<&String> = (0..tokens.len())
        .filter(|i| !answers.contains_key(i))
        .map(|i| &tokens[i])
        .collect();
    if !unanswered.is_empty() {
        failures.push(format!(
            "{} OPTIONS got no answer (12 hex: {}, 28 hex: {}); their tokens (first 20): {:?}",
            unanswered.len(),
            unanswered.iter().filter(|t| t.len() == 12).count(),
            unanswered.iter().filter(|t| t.len() == 28).count(),
            &unanswered[..unanswered.len().min(20)]
        ));
    }
    let mut wrong: Vec<String> = answers
        .iter()
        .filter(|(_, a)| a.len() != 1 || !a[0].starts_with("SIP/2.0 404"))
        .map(|(i, a)| format!("token {}: {a:?}", tokens[*i]))
        .collect();
    wrong.sort();
    if !wrong.is_empty() {
        failures.push(format!(
            "{} OPTIONS were not answered exactly once with 404 (first 20): {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(20)]
        ));
    }
    if !strays.is_empty() {
        failures.push(format!("the attacker got other datagrams: {strays:?}"));
    }
    for (src, d) in drain(&phone, QUIET) {
        failures.push(format!("the phone received from {src}: {}", first_line(&d)));
    }
    // Canaries: each capture must see what is sent where it listens.
    let c_rx = lab.udp('r', "127.0.0.1:0");
    let c_tx = lab.udp('r', "127.0.0.1:0");
    let lo_canary = c_rx.local_addr().expect("addr").to_string();
    send(&c_tx, &lo_canary, b"sipnat-canary-lo");
    send(&phone, "10.77.1.1:9", b"sipnat-canary-lan");
    std::thread::sleep(Duration::from_millis(200));
    for (cap, canary) in [(lo, "sipnat-canary-lo"), (lan, "sipnat-canary-lan")] {
        let iface = cap.iface.clone();
        let frames = cap.finish();
        let mut seen = false;
        for f in &frames {
            match f {
                Frame::Udp { payload, .. } if payload.ends_with(canary.as_bytes()) => seen = true,
                Frame::Udp { src, dst, payload } => failures.push(format!(
                    "on the router's {iface}: UDP {src} -> {dst}: {}",
                    first_line(&String::from_utf8_lossy(payload))
                )),
                Frame::Arp { target, .. }
                    if *target == Ipv4Addr::new(10, 77, 1, 1)
                        || *target == Ipv4Addr::new(10, 77, 1, 2) => {}
                Frame::Arp { sender, target } => failures.push(format!(
                    "on the router's {iface}: ARP from {sender} for {target}"
                )),
                Frame::Other => {}
            }
        }
        if !seen {
            failures.push(format!(
                "the capture on the router's {iface} missed its canary: it proves nothing \
                 ({} frames)",
                frames.len()
            ));
        }
    }
    fail_with("forged contact tokens", &failures);
}

/// The phone calls bob at the provider, offering media at 10.77.1.2:40000;
/// the far end answers with media at `far_ip`:40002. Returns the relay
/// ports sipnat put in the SDP: (the one the phone sends to, the one the
/// far end sends to).
fn media_call(phone: &UdpSocket, provider: &UdpSocket, far_ip: &str) -> (u16, u16) {
    let offer = "v=0\r\no=100 1 1 IN IP4 10.77.1.2\r\ns=-\r\nc=IN IP4 10.77.1.2\r\nt=0 0\r\n\
                 m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let inv = request(
        "INVITE",
        "sip:bob@198.51.100.2",
        "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKcall1;rport",
        "<sip:100@198.51.100.2>;tag=c1",
        "<sip:bob@198.51.100.2>",
        "call1@10.77.1.2",
        1,
        "Contact: <sip:100@10.77.1.2:5060>\r\n",
        offer,
    );
    send(phone, ROUTER_LAN, inv.as_bytes());
    let Some((from, got)) = recv(provider, WAIT) else {
        panic!("the call did not reach the far end");
    };
    let wan_port = media_port(&got, "198.51.100.1")
        .unwrap_or_else(|| panic!("the far end's offer has no relay address: {}", body(&got)));
    let answer = format!(
        "v=0\r\no=bob 1 1 IN IP4 {far_ip}\r\ns=-\r\nc=IN IP4 {far_ip}\r\nt=0 0\r\n\
         m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    let ok = response(
        &got,
        200,
        "OK",
        "bob1",
        "Contact: <sip:bob@198.51.100.2:5060>\r\n",
        &answer,
    );
    send(provider, &from.to_string(), ok.as_bytes());
    let Some((_, got)) = recv(phone, WAIT) else {
        panic!("the phone got no 200 for its call");
    };
    let lan_port = media_port(&got, "10.77.1.1")
        .unwrap_or_else(|| panic!("the phone's answer has no relay address: {}", body(&got)));
    (lan_port, wan_port)
}

/// The port of the `m=audio` line of `msg`'s SDP if its `c=` line is `ip`.
fn media_port(msg: &str, ip: &str) -> Option<u16> {
    let sdp = body(msg);
    let c = sdp.lines().find_map(|l| l.strip_prefix("c=IN IP4 "))?;
    if c.trim() != ip {
        return None;
    }
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The tag at the end of a packet made by [`rtp`] (as received text).
fn rtp_tag(d: &str) -> &str {
    let start = d
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .map_or(0, |i| i + d[i..].chars().next().map_or(1, char::len_utf8));
    &d[start..]
}

fn tags(got: &[(SocketAddr, String)]) -> Vec<String> {
    got.iter()
        .map(|(src, d)| format!("{} from {src}", rtp_tag(d)))
        .collect()
}

/// An RTP packet (RFC 3550 §5.1: version 2, PCMU) carrying `tag` as payload.
fn rtp(seq: u16, tag: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    p.extend_from_slice(tag);
    p
}

// ------------------------------------------------------------ captures

/// A running tcpdump; killed when dropped.
struct Capture {
    child: Child,
    pcap: PathBuf,
    iface: String,
}

impl Capture {
    /// Stop tcpdump (SIGTERM: it flushes its file) and read the capture.
    fn finish(mut self) -> Vec<Frame> {
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(3);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        let bytes = fs::read(&self.pcap).unwrap_or_default();
        read_pcap(&bytes).unwrap_or_else(|e| panic!("{}: {e}", self.pcap.display()))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
enum Frame {
    Udp {
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: Vec<u8>,
    },
    Arp {
        sender: Ipv4Addr,
        target: Ipv4Addr,
    },
    Other,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn ip4(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

/// A classic pcap file of Ethernet frames (tcpdump -w on Linux, `lo`
/// included), either byte order.
fn read_pcap(b: &[u8]) -> Result<Vec<Frame>, String> {
    let magic: [u8; 4] = b.get(..4).ok_or("no pcap header")?.try_into().unwrap();
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
        return Err(format!("link type {:?}, expected 1 (Ethernet)", rd32(20)));
    }
    let mut frames = Vec::new();
    let mut at = 24;
    while at < b.len() {
        let len = rd32(at + 8).ok_or("truncated record")? as usize;
        let f = b.get(at + 16..at + 16 + len).ok_or("truncated frame")?;
        frames.push(parse_frame(f).unwrap_or(Frame::Other));
        at += 16 + len;
    }
    Ok(frames)
}

fn parse_frame(f: &[u8]) -> Option<Frame> {
    match be16(f, 12)? {
        0x0800 => {
            let ip = f.get(14..)?;
            if ip.get(9) != Some(&17) {
                return Some(Frame::Other);
            }
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let udp = ip.get(ihl..)?;
            let ulen = usize::from(be16(udp, 4)?);
            Some(Frame::Udp {
                src: SocketAddrV4::new(ip4(ip, 12)?, be16(udp, 0)?),
                dst: SocketAddrV4::new(ip4(ip, 16)?, be16(udp, 2)?),
                payload: udp.get(8..ulen.max(8))?.to_vec(),
            })
        }
        0x0806 => {
            let arp = f.get(14..)?;
            Some(Frame::Arp {
                sender: ip4(arp, 14)?,
                target: ip4(arp, 24)?,
            })
        }
        _ => Some(Frame::Other),
    }
}
