//! IPv6 in the network-namespace harness (issue 14, stage 8): `topo.sh up
//! ID --ip6 both` and the WAN capture check of `pcap/` on a real IPv6
//! capture (here), sipnat's dual-stack socket (`dual.rs`), calls with audio
//! both ways over IPv6 and across the families (`media.rs`, with the load
//! tool `sipnat-load`), SIP over TCP over IPv6 (`tcp.rs`), and forged and
//! link-local sources from the WAN (`wan_drops.rs`); `lab.rs` is their
//! topology with its processes. tests/netns/README.md lists what each
//! checks.
//!
//! Plain sockets made inside the namespaces (`in_netns`) talk over IPv6;
//! tcpdump captures the router's WAN interface as run.sh does. Every
//! address is inside the three namespaces of this run.

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{TopoGuard, in_netns, skip_allowed, work_dir};
use crate::pcap::{LeakKind, scan_pcap};

mod by_name;
mod dual;
mod lab;
mod media;
mod tcp;
mod wan_drops;

/// `ip netns exec NS ARGS`, its standard output; panics when it fails.
fn ns_output(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip netns exec {ns} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip netns exec {ns} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The router's count of IPv6 packets dropped for a destination it is not
/// (`Ip6InAddrErrors`: with forwarding off, everything it would forward).
fn in_addr_errors(ns: &str) -> u64 {
    let snmp6 = ns_output(ns, &["cat", "/proc/net/snmp6"]);
    snmp6
        .lines()
        .find_map(|l| l.strip_prefix("Ip6InAddrErrors"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Ip6InAddrErrors in {ns}'s /proc/net/snmp6:\n{snmp6}"))
}

/// Wait (at most `secs` seconds: a bound against hanging, not a check of
/// speed) until `done` holds.
fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed().as_secs() < secs, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// tcpdump on the router's WAN interface; killed if the test fails first.
struct Capture(Option<Child>);

impl Capture {
    /// Stop it (SIGINT: tcpdump flushes and exits) and wait for it.
    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
            // SAFETY: kill() on the pid of our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGINT) };
            let status = child.wait().expect("wait for tcpdump");
            assert!(status.success(), "tcpdump exited with {status}");
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn recv(sock: &UdpSocket, who: &str) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = sock
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("{who}: nothing received: {e}"));
    (buf[..n].to_vec(), from)
}

/// The topology of `topo.sh --ip6 both` on real sockets, and the capture
/// check on a real IPv6 capture of the router's WAN interface:
/// * every address of the plan is there and not tentative, and binds at
///   once (no DAD); the router's IPv6 forwarding is off;
/// * the provider and the router's WAN address talk (SIP over UDP, with the
///   neighbour discovery it takes), and so do the phone and the router's
///   LAN addresses (GUA and ULA);
/// * the phone cannot reach the provider directly: its datagram (default
///   route via the router) is dropped by the router, counted as
///   `Ip6InAddrErrors` and never on the WAN; the provider has no route back;
/// * the capture check finds nothing in that traffic, and finds both
///   planted leaks: a datagram from the router's WAN address whose SIP
///   header and SDP name the phone's address, and one that leaves rwan
///   with the router's LAN address as its source.
#[test]
fn netns_ipv6_topology_and_leak_check() {
    let root = Command::new("id").arg("-u").output().ok();
    if root.is_none_or(|o| o.stdout != b"0\n") {
        assert!(skip_allowed(), "needs root (SIPNAT_SKIP_NETNS=1 skips it)");
        return;
    }
    let tcpdump = Command::new("tcpdump")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !tcpdump.is_ok_and(|s| s.success()) {
        assert!(
            skip_allowed(),
            "needs tcpdump (tests/setup-deps.sh; SIPNAT_SKIP_NETNS=1 skips it)"
        );
        return;
    }
    let id = format!("v6{:x}", std::process::id());
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

    // The addresses, none tentative, and no forwarding on the router.
    for (ns, dev, addrs) in [
        (&phone, "eth0", &["2001:db8:77:1::2", "fd77:1::2"][..]),
        (&router, "rlan", &["2001:db8:77:1::1", "fd77:1::1"][..]),
        (&router, "rwan", &["2001:db8:100::1"][..]),
        (
            &provider,
            "eth0",
            &["2001:db8:100::2", "2001:db8:100::3"][..],
        ),
    ] {
        let shown = ns_output(ns, &["ip", "-6", "-o", "addr", "show", "dev", dev]);
        for a in addrs {
            assert!(
                shown.contains(&format!("inet6 {a}/64 ")),
                "{ns} {dev}: {shown}"
            );
        }
        assert!(shown.contains("inet6 fe80:"), "{ns} {dev}: {shown}");
        assert!(!shown.contains("tentative"), "{ns} {dev}: {shown}");
    }
    let forwarding = ns_output(
        &router,
        &[
            "sysctl",
            "-n",
            "net.ipv6.conf.all.forwarding",
            "net.ipv6.conf.rlan.forwarding",
            "net.ipv6.conf.rwan.forwarding",
            "net.ipv4.ip_forward",
        ],
    );
    assert_eq!(forwarding, "0\n0\n0\n0\n", "the router forwards");

    let work = work_dir("ipv6");
    fs::create_dir_all(&work).unwrap();
    let pcap_path = work.join("wan6.pcap");
    let log_path = work.join("wan6.tcpdump.log");
    let mut capture = Capture(Some(
        Command::new("ip")
            .args([
                "netns", "exec", &router, "tcpdump", "-i", "rwan", "-nn", "-U",
            ])
            .args(["--immediate-mode", "-s", "0", "-Z", "root", "-w"])
            .arg(&pcap_path)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log_path).unwrap())
            .spawn()
            .expect("tcpdump"),
    ));
    wait_until("tcpdump listening on rwan", 5, || {
        fs::read_to_string(&log_path).is_ok_and(|l| l.contains("listening on"))
    });

    // Bound at once, right after topo.sh: a tentative address (DAD still
    // running) would refuse the bind.
    let bind = |ns: &str, addr: &'static str| {
        let sock = in_netns(ns, move || {
            UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"))
        });
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        sock
    };
    let r_wan = bind(&router, "[2001:db8:100::1]:5060");
    let r_lan = bind(&router, "[2001:db8:77:1::1]:5060");
    let r_ula = bind(&router, "[fd77:1::1]:5060");
    let r_lan_src = bind(&router, "[2001:db8:77:1::1]:40000");
    let p_sip = bind(&provider, "[2001:db8:100::2]:5060");
    let l_gua = bind(&phone, "[2001:db8:77:1::2]:5060");
    let l_ula = bind(&phone, "[fd77:1::2]:5060");
    let p_addr: SocketAddr = "[2001:db8:100::2]:5060".parse().unwrap();

    // WAN: SIP both ways between the provider and the router.
    let options = b"OPTIONS sip:[2001:db8:100::1] SIP/2.0\r\n\
        Via: SIP/2.0/UDP [2001:db8:100::2]:5060;branch=z9hG4bKv6topo\r\n\
        Call-ID: v6topo@2001:db8:100::2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    p_sip.send_to(options, "[2001:db8:100::1]:5060").unwrap();
    let (got, from) = recv(&r_wan, "router WAN");
    assert_eq!((got.as_slice(), from), (&options[..], p_addr));
    let ok = b"SIP/2.0 200 OK\r\n\
        Via: SIP/2.0/UDP [2001:db8:100::2]:5060;branch=z9hG4bKv6topo\r\n\
        Call-ID: v6topo@2001:db8:100::2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    r_wan.send_to(ok, p_addr).unwrap();
    assert_eq!(recv(&p_sip, "provider").0, ok);

    // LAN: the phone reaches both of the router's LAN addresses.
    l_gua
        .send_to(b"lan gua", "[2001:db8:77:1::1]:5060")
        .unwrap();
    let (got, from) = recv(&r_lan, "router LAN GUA");
    assert_eq!(
        (got.as_slice(), from.to_string()),
        (&b"lan gua"[..], "[2001:db8:77:1::2]:5060".to_string())
    );
    l_ula.send_to(b"lan ula", "[fd77:1::1]:5060").unwrap();
    let (got, from) = recv(&r_ula, "router LAN ULA");
    assert_eq!(
        (got.as_slice(), from.to_string()),
        (&b"lan ula"[..], "[fd77:1::2]:5060".to_string())
    );

    // The phone's datagram to the provider goes to the router (default
    // route) and no further; the provider cannot even send toward the LAN.
    let direct = b"sipnat-v6-direct-from-the-phone";
    let dropped = in_addr_errors(&router);
    l_gua.send_to(direct, p_addr).unwrap();
    wait_until("the router drops the phone's datagram", 5, || {
        in_addr_errors(&router) > dropped
    });
    p_sip.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let nothing = p_sip.recv_from(&mut buf);
    assert!(
        nothing
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the provider got {nothing:?}"
    );
    p_sip.set_nonblocking(false).unwrap();
    let back = p_sip.send_to(b"toward the LAN", "[2001:db8:77:1::2]:5060");
    assert_eq!(
        back.map_err(|e| e.raw_os_error()),
        Err(Some(libc::ENETUNREACH)),
        "the provider has a route to the LAN"
    );

    // The planted leaks, received by the provider: they crossed rwan.
    let contact = "Contact: <sip:alice@[2001:db8:77:1::2]:5060>";
    let sdp = "c=IN IP6 2001:db8:77:1::2";
    let message = format!(
        "MESSAGE sip:bob@[2001:db8:100::2] SIP/2.0\r\n{contact}\r\n\
         Content-Type: application/sdp\r\n\r\nv=0\r\n{sdp}\r\n"
    );
    r_wan.send_to(message.as_bytes(), p_addr).unwrap();
    assert_eq!(recv(&p_sip, "provider").0, message.as_bytes());
    let lan_source = b"sipnat-v6-planted: sent from the router's LAN address";
    r_lan_src.send_to(lan_source, p_addr).unwrap();
    let (got, from) = recv(&p_sip, "provider");
    assert_eq!(
        (got.as_slice(), from.to_string()),
        (&lan_source[..], "[2001:db8:77:1::1]:40000".to_string())
    );

    // tcpdump writes each packet as it comes (-U): stop once the last ones
    // are in the file.
    wait_until("the planted datagrams in the capture", 5, || {
        let bytes = fs::read(&pcap_path).unwrap_or_default();
        let has = |n: &[u8]| bytes.windows(n.len()).any(|w| w == n);
        has(message.as_bytes()) && has(lan_source) && has(ok)
    });
    capture.stop();

    let bytes = fs::read(&pcap_path).unwrap();
    assert!(
        !bytes.windows(direct.len()).any(|w| w == direct),
        "the phone's datagram crossed the router"
    );
    let r = scan_pcap(&bytes).unwrap_or_else(|e| panic!("{}: {e}", pcap_path.display()));
    println!(
        "wan6.pcap: {} packets, {} SIP, {} NDP/MLD, {} leaks",
        r.packets,
        r.sip_packets,
        r.ndp_packets,
        r.leaks.len()
    );
    // OPTIONS, 200, MESSAGE, and the LAN-sourced datagram to port 5060.
    assert_eq!(r.sip_packets, 4, "{r:#?}");
    // At least the provider's neighbour solicitation for the router's WAN
    // address and the router's advertisement.
    assert!(r.ndp_packets >= 2, "{r:#?}");
    let mut found: Vec<(LeakKind, &str)> = r
        .leaks
        .iter()
        .map(|l| (l.kind, l.context.as_str()))
        .collect();
    found.sort_by_key(|&(k, c)| (format!("{k:?}"), c.to_string()));
    assert_eq!(
        found,
        [
            (LeakKind::IpHeader, "IPv6 source or destination"),
            (LeakKind::Sdp, sdp),
            (LeakKind::SipText, contact),
        ],
        "{r:#?}"
    );
    let packets: std::collections::BTreeSet<usize> = r.leaks.iter().map(|l| l.packet).collect();
    assert_eq!(packets.len(), 2, "two planted packets: {r:#?}");
    let _ = fs::remove_dir_all(&work);
}
