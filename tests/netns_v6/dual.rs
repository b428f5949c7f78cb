//! sipnat's dual-stack sockets in `topo.sh --ip6 both` (issue 14): one SIP
//! socket carries IPv4 as before and IPv6, answered from the address it
//! was sent to; a link-local source is dropped at the driver's edge
//! (`drop.link-local`), and so is an IPv6 datagram with an IPv4-mapped
//! source, which Linux delivers over UDP (`drop.mapped-source`); `sipnat
//! status` shows the IPv6 networks of the LAN and the router's IPv6 WAN
//! address.

use std::fs;
use std::net::{SocketAddr, SocketAddrV6, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{TopoGuard, in_netns, skip_allowed, wait_until, work_dir};

/// sipnat in the router namespace, killed when the test ends.
struct Sipnat(Child, PathBuf);

impl Drop for Sipnat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            let log = fs::read_to_string(self.1.join("sipnat.log")).unwrap_or_default();
            eprintln!("sipnat's log:\n{log}");
        }
    }
}

fn status(work: &Path, json: bool) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sipnat"));
    c.arg("status");
    if json {
        c.arg("--json");
    }
    c.arg("--control")
        .arg(work.join("sipnat.sock"))
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The status of the one instance (`sipnat status --json` lists them).
fn status_json(work: &Path) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&status(work, true)).unwrap_or_default();
    v["instances"][0].clone()
}

fn counter(work: &Path, name: &str) -> u64 {
    status_json(work)["counters"][name].as_u64().unwrap_or(0)
}

pub(super) fn options(to: &str, via: &str, n: u32) -> String {
    format!(
        "OPTIONS sip:{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {via};branch=z9hG4bKdual{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{to}>;tag=d{n}\r\n\
         To: <sip:{to}>\r\n\
         Call-ID: dual{n}@sipnat.test\r\n\
         CSeq: {n} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A UDP socket made in `ns`, bound to `bind` and connected to `to`
/// (an ICMP error for what it sends then shows on its next read).
pub(super) fn connected(ns: &str, bind: SocketAddr, to: SocketAddr) -> UdpSocket {
    in_netns(ns, move || {
        let s = UdpSocket::bind(bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        s.connect(to)
            .unwrap_or_else(|e| panic!("connect {to}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s
    })
}

/// The first link-local address of `dev` in `ns`, with that interface's
/// index as its scope.
pub(super) fn link_local(ns: &str, dev: &'static str, port: u16) -> SocketAddrV6 {
    let out = Command::new("ip")
        .args([
            "-n", ns, "-6", "-o", "addr", "show", "dev", dev, "scope", "link",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let ip = text
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no link-local address on {dev} in {ns}: {text}"));
    let index = in_netns(ns, move || {
        let name = std::ffi::CString::new(dev).unwrap();
        // SAFETY: a NUL-terminated name; the call only reads it.
        unsafe { libc::if_nametoindex(name.as_ptr()) }
    });
    assert_ne!(index, 0, "{dev} in {ns}");
    SocketAddrV6::new(ip, port, 0, index)
}

/// A port of the relay's range (20000-20019) bound in `ns` now.
fn relay_port(ns: &str) -> u16 {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ss", "-Hlun"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
        .find(|p| (20000..20020).contains(p))
        .unwrap_or_else(|| panic!("no relay port bound in {ns}:\n{text}"))
}

/// An IPv6/UDP packet from `src` to `dst` (port 5060 to `port`), for a raw socket
/// with `IPPROTO_RAW` (the header is ours), its UDP checksum computed
/// (RFC 8200 §8.1: mandatory over IPv6).
pub(super) fn udp6_packet(src: [u8; 16], dst: [u8; 16], port: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).unwrap();
    let mut udp = Vec::new();
    udp.extend_from_slice(&5060u16.to_be_bytes());
    udp.extend_from_slice(&port.to_be_bytes());
    udp.extend_from_slice(&len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&u32::from(len).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 17]);
    pseudo.extend_from_slice(&udp);
    if pseudo.len() % 2 == 1 {
        pseudo.push(0);
    }
    let mut sum: u32 = pseudo
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let check = match !(sum as u16) {
        0 => 0xffff,
        c => c,
    };
    udp[6..8].copy_from_slice(&check.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[17, 64]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&udp);
    p
}

/// Send `packet` (a whole IPv6 packet) to `dst` from a raw socket made in
/// `ns`.
pub(super) fn send_raw6(ns: &str, dst: std::net::Ipv6Addr, packet: Vec<u8>) {
    in_netns(ns, move || {
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        // SAFETY: sockaddr_in6 is plain old data; all-zero is valid.
        let mut to: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        to.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        to.sin6_addr.s6_addr = dst.octets();
        // SAFETY: `packet` and `to` are live buffers of the lengths given.
        let n = unsafe {
            libc::sendto(
                fd,
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&to as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        let e = std::io::Error::last_os_error();
        // SAFETY: `fd` is ours, closed once.
        unsafe { libc::close(fd) };
        assert_eq!(n, packet.len() as isize, "raw send: {e}");
    });
}

#[test]
fn netns_dual_stack_socket_answers_ipv6_sip_and_carries_ipv4() {
    let root = Command::new("id").arg("-u").output().ok();
    if root.is_none_or(|o| o.stdout != b"0\n") {
        assert!(skip_allowed(), "needs root (SIPNAT_SKIP_NETNS=1 skips it)");
        return;
    }
    let id = format!("v6d{:x}", std::process::id());
    let topo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/topo.sh");
    let _guard = TopoGuard(id.clone());
    let up = Command::new(&topo)
        .args(["up", &id, "--ip6", "both"])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "topo.sh up {id} --ip6 both: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let (phone, router, provider) = (
        format!("snl-{id}"),
        format!("snr-{id}"),
        format!("snw-{id}"),
    );

    let work = work_dir("dual");
    fs::create_dir_all(&work).unwrap();
    let conf = work.join("sipnat.conf");
    fs::write(
        &conf,
        format!(
            "if_inbound = rlan\nif_outbound = rwan\nrtp_port_low = 20000\n\
             rtp_port_high = 20019\nregistration_file = {}\n",
            work.join("registrations").display()
        ),
    )
    .unwrap();
    let log = fs::File::create(work.join("sipnat.log")).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &router, env!("CARGO_BIN_EXE_sipnat")])
        .args(["-f", "-c"])
        .arg(&conf)
        .arg("--control")
        .arg(work.join("sipnat.sock"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("cannot start sipnat");
    let _sipnat = Sipnat(child, work.clone());
    wait_until("sipnat answers its status", 10, || {
        status(&work, true).contains("\"wan_address6\"")
    });
    let log = || fs::read_to_string(work.join("sipnat.log")).unwrap_or_default();
    assert!(
        log().contains("listening on [::]:5060 (IPv4 and IPv6)"),
        "{}",
        log()
    );

    // The addresses, both families; the IPv4 LAN network first (sipnat's
    // LAN address). No IPv6 route is needed for the WAN's own address.
    let st = status_json(&work);
    let c = &st["config"];
    assert_eq!(
        c["lan_addresses"],
        serde_json::json!(["10.77.1.1/24", "2001:db8:77:1::1/64", "fd77:1::1/64"]),
        "{st}"
    );
    assert_eq!(c["wan_address"], "198.51.100.1", "{st}");
    assert_eq!(c["wan_address6"], "2001:db8:100::1", "{st}");
    let text = status(&work, false);
    assert!(
        text.contains("WAN 198.51.100.1 2001:db8:100::1 (rwan)"),
        "{text}"
    );
    assert!(st["counters"].get("ipv6.off-kernel").is_none(), "{st}");

    // IPv6 SIP to each of sipnat's IPv6 addresses: received by the one
    // socket and answered from the address it was sent to (the sockets
    // are connected: an answer from another address would not arrive).
    let sip6 = |a: &str| -> SocketAddr { format!("[{a}]:5060").parse().unwrap() };
    let any6 = |a: &str| -> SocketAddr { format!("[{a}]:0").parse().unwrap() };
    let senders = [
        connected(&phone, any6("2001:db8:77:1::2"), sip6("2001:db8:77:1::1")),
        connected(&phone, any6("fd77:1::2"), sip6("fd77:1::1")),
        connected(&provider, any6("2001:db8:100::2"), sip6("2001:db8:100::1")),
    ];
    for (n, s) in (1..).zip(&senders) {
        let to = s.peer_addr().unwrap();
        let via = s.local_addr().unwrap();
        let msg = options(&format!("[{}]", to.ip()), &via.to_string(), n);
        s.send(msg.as_bytes()).unwrap();
    }
    for s in &senders {
        let mut buf = [0u8; 4096];
        let n = s
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no answer to {:?}: {e}\n{}", s.local_addr(), log()));
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
    }
    assert_eq!(counter(&work, "drop.ipv6"), 0);

    // A link-local source: dropped at the driver's edge, counted.
    let router_ll = link_local(&router, "rlan", 5060);
    let phone_ll = link_local(&phone, "eth0", 0);
    let ll = connected(&phone, phone_ll.into(), router_ll.into());
    ll.send(options("[fe80::1]", "[fe80::2]:5060", 9).as_bytes())
        .unwrap();
    wait_until("the link-local datagram counted", 5, || {
        counter(&work, "drop.link-local") == 1
    });

    // An IPv6 datagram from an IPv4-mapped source: Linux delivers it to the
    // dual-stack socket (it drops such packets for TCP only), which reports
    // it as from IPv4 10.77.1.2; its IPv6 destination gives it away, and
    // sipnat drops it before the core (which would take it for a forged
    // LAN source, or for any IPv4 address its sender chose). A plain IPv6
    // datagram after it shows sipnat was reading.
    let rx = counter(&work, "sip.rx");
    let dst: std::net::Ipv6Addr = "2001:db8:100::1".parse().unwrap();
    let mapped = "::ffff:10.77.1.2".parse::<std::net::Ipv6Addr>().unwrap();
    let body = options("198.51.100.1", "10.77.1.2:5060", 10);
    send_raw6(
        &provider,
        dst,
        udp6_packet(mapped.octets(), dst.octets(), 5060, body.as_bytes()),
    );
    let canary = "2001:db8:100::3".parse::<std::net::Ipv6Addr>().unwrap();
    send_raw6(
        &provider,
        dst,
        udp6_packet(canary.octets(), dst.octets(), 5060, body.as_bytes()),
    );
    wait_until("the canary read", 5, || counter(&work, "sip.rx") == rx + 1);
    let st = status_json(&work);
    assert_eq!(st["counters"]["drop.mapped-source"], 1, "{st}");
    assert_eq!(st["counters"]["sip.rx"], rx + 1, "{st}");
    assert!(
        st["counters"].get("drop.wan-forged-source").is_none(),
        "{st}"
    );

    // The relay's sockets (its spare pairs, bound at start from a random
    // pair on) refuse both the same way, on their batched path.
    let relay = relay_port(&router);
    send_raw6(
        &provider,
        dst,
        udp6_packet(mapped.octets(), dst.octets(), relay, b"rtp"),
    );
    let mut to_relay = router_ll;
    to_relay.set_port(relay);
    ll.send_to(b"rtp", to_relay).unwrap();
    wait_until("both refused by the relay's sockets", 5, || {
        let c = &status_json(&work)["counters"];
        c["drop.mapped-source"] == 2 && c["drop.link-local"] == 2
    });

    // IPv4 on the same socket, both sides: answered from the address it
    // was sent to.
    for (ns, from, to) in [
        (&phone, "10.77.1.2:0", "10.77.1.1:5060"),
        (&provider, "198.51.100.2:0", "198.51.100.1:5060"),
    ] {
        let s = connected(ns, from.parse().unwrap(), to.parse().unwrap());
        let via = s.local_addr().unwrap().to_string();
        let host = to.trim_end_matches(":5060");
        s.send(options(host, &via, 20).as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let n = s
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no answer from {to}: {e}\n{}", log()));
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
    }
    assert_eq!(counter(&work, "drop.ipv6"), 0);
    let _ = fs::remove_dir_all(&work);
}
