//! The kernel side of the RTP fast path (`src/driver/fastpath.rs`, issue
//! 15): the nftables table it makes over netlink forwards a stream in the
//! kernel (DNAT + masquerade), both directions whichever leg sends first;
//! its conntrack entries are read back by tuple (either direction's, only
//! those carrying sipnat's mark) and deleted; a userspace relay's entry
//! blocks the NAT until `forget`; a crashed run's table and entries are
//! gone after the next `start`, and `stop` leaves nothing.
//!
//! Three namespaces: `phone` (10.77.1.2) — `router` (10.77.1.1 on the LAN,
//! 203.0.113.1 on the WAN, forwarding) — `prov` (203.0.113.2). The module
//! runs inside the router namespace: this thread enters a namespace with
//! setns(2) to open a socket there (a socket stays in the namespace it was
//! made in), so the test holds the phone's, the provider's and the
//! router's sockets and the module's netlink socket at once, in one
//! process. Needs root, `ip`, `nft` and `conntrack`; the namespaces are
//! named after this process and removed even when the test fails.

mod netns_env;

use netns_env::{environment_problem, sh};
use sipnat::driver::fastpath::{FastPath, Flow, Probe};
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Output;
use std::time::Duration;

const PHONE: &str = "10.77.1.2:4000";
const PROV: &str = "203.0.113.2:5000";
const LAN: &str = "10.77.1.1";
const WAN: &str = "203.0.113.1";
/// The conntrack CLI's filter for sipnat's mark.
const MARKED: &str = "0x20000000/0x20000000";
/// A datagram that is expected arrives well within this.
const ARRIVES: Duration = Duration::from_secs(2);
/// How long a datagram that must not arrive is waited for.
const NOT: Duration = Duration::from_millis(300);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn a(s: &str) -> SocketAddrV4 {
    s.parse().expect("address")
}

struct Lab {
    phone: String,
    router: String,
    prov: String,
}

impl Lab {
    fn new() -> Option<Lab> {
        let id = format!("{:x}", std::process::id());
        if let Some(why) = environment_problem(&format!("f{id}"), &["ip", "nft", "conntrack"]) {
            if std::env::var("SIPNAT_SKIP_NETNS").is_ok_and(|v| v == "1") {
                println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
                return None;
            }
            panic!("the fast-path test cannot run here: {why} (SIPNAT_SKIP_NETNS=1 skips it)");
        }
        let lab = Lab {
            phone: format!("snfp-{id}"),
            router: format!("snfr-{id}"),
            prov: format!("snfv-{id}"),
        };
        for ns in [&lab.phone, &lab.router, &lab.prov] {
            run("ip", &["netns", "add", ns]);
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        let r = lab.router.as_str();
        for (dev, peer_ns, mine, theirs) in [
            ("lan0", &lab.phone, "10.77.1.1/24", "10.77.1.2/24"),
            ("wan0", &lab.prov, "203.0.113.1/24", "203.0.113.2/24"),
        ] {
            run(
                "ip",
                &[
                    "-n", r, "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns",
                    peer_ns,
                ],
            );
            run("ip", &["-n", r, "addr", "add", mine, "dev", dev]);
            run("ip", &["-n", r, "link", "set", dev, "up"]);
            run("ip", &["-n", peer_ns, "addr", "add", theirs, "dev", "eth0"]);
            run("ip", &["-n", peer_ns, "link", "set", "eth0", "up"]);
        }
        lab.sysctl("net.ipv4.ip_forward=1");
        lab.sysctl("net.netfilter.nf_conntrack_acct=0");
        Some(lab)
    }

    /// `cmd args` inside the router namespace.
    fn router(&self, cmd: &str, args: &[&str]) -> Output {
        let mut all = vec!["netns", "exec", &self.router, cmd];
        all.extend_from_slice(args);
        sh("ip", &all).expect("ip netns exec")
    }

    fn sysctl(&self, setting: &str) {
        let out = self.router("sysctl", &["-w", setting]);
        assert!(
            out.status.success(),
            "sysctl {setting}: {}",
            text(&out.stderr)
        );
    }

    /// `nft args` in the router namespace: (success, stdout).
    fn nft(&self, args: &[&str]) -> (bool, String) {
        let out = self.router("nft", args);
        (out.status.success(), text(&out.stdout) + &text(&out.stderr))
    }

    /// The router's conntrack entries carrying sipnat's mark, as the
    /// conntrack CLI lists them.
    fn marked(&self) -> Vec<String> {
        let out = self.router("conntrack", &["-L", "-m", MARKED]);
        assert!(out.status.success(), "conntrack -L: {}", text(&out.stderr));
        text(&out.stdout).lines().map(str::to_string).collect()
    }

    /// The router's conntrack `insert_failed` count (entries that could
    /// not be added, as a NAT clash: their packet is dropped).
    fn insert_failed(&self) -> u64 {
        let out = self.router("conntrack", &["-S"]);
        text(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("insert_failed="))
            .map(|n| n.parse::<u64>().expect("count"))
            .sum()
    }

    /// A UDP socket bound to `addr` inside namespace `ns`.
    fn udp(&self, ns: &str, addr: &str) -> UdpSocket {
        let s = inside(ns, || UdpSocket::bind(addr)).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        s.set_read_timeout(Some(ARRIVES)).expect("timeout");
        s
    }

    fn start(&self) -> FastPath {
        inside(&self.router, FastPath::start).unwrap_or_else(|e| panic!("start: {e}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.phone, &self.router, &self.prov] {
            let _ = sh("ip", &["netns", "del", ns]);
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(cmd: &str, args: &[&str]) {
    let out = sh(cmd, args).unwrap_or_else(|| panic!("cannot run {cmd}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        text(&out.stderr)
    );
}

/// Puts this thread back in the namespace it came from, even on a panic.
struct Home(File);

impl Drop for Home {
    fn drop(&mut self) {
        // SAFETY: setns(2) on a namespace file we hold open.
        let r = unsafe { libc::setns(self.0.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns back: {}", std::io::Error::last_os_error());
    }
}

/// Run `f` with this thread in network namespace `ns`: the sockets it
/// opens belong to `ns` for good.
fn inside<T>(ns: &str, f: impl FnOnce() -> T) -> T {
    let home = Home(File::open("/proc/thread-self/ns/net").expect("own namespace"));
    let there = File::open(format!("/run/netns/{ns}")).expect("namespace file");
    // SAFETY: setns(2) on a namespace file we hold open; a network
    // namespace may be changed by one thread of a threaded process.
    let r = unsafe { libc::setns(there.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
    let out = f();
    drop(home);
    out
}

/// The next datagram on `s`: (text, source); panics after [`ARRIVES`].
fn recv(s: &UdpSocket, what: &str) -> (String, SocketAddrV4) {
    let mut buf = [0u8; 256];
    match s.recv_from(&mut buf) {
        Ok((n, std::net::SocketAddr::V4(from))) => (text(&buf[..n]), from),
        Ok((_, from)) => panic!("{what}: from {from}"),
        Err(e) => panic!("{what}: nothing came ({e})"),
    }
}

/// Nothing arrives on `s` for [`NOT`].
fn silent(s: &UdpSocket, what: &str) {
    s.set_read_timeout(Some(NOT)).expect("timeout");
    let mut buf = [0u8; 256];
    if let Ok((n, from)) = s.recv_from(&mut buf) {
        panic!("{what}: {:?} came from {from}", text(&buf[..n]));
    }
    s.set_read_timeout(Some(ARRIVES)).expect("timeout");
}

fn send(s: &UdpSocket, to: &str, msg: &str) {
    s.send_to(msg.as_bytes(), to).expect("send");
}

/// The entries of the channel phone ↔ provider on relay port `port`, read
/// back by tuple as sipnat reads them (`FastPath::read`), with the
/// router's addresses on the LAN and the WAN as given.
fn read_with(fp: &mut FastPath, port: u16, lan: Option<&str>, wan: Option<&str>) -> Vec<Flow> {
    let probe = Probe::new(port, [(a(PHONE), lan.map(ip)), (a(PROV), wan.map(ip))]);
    let mut all = Vec::new();
    let n = fp
        .read(&[probe], &mut |i, f| {
            assert_eq!(i, 0);
            all.push(f)
        })
        .expect("read");
    assert_eq!(n, all.len());
    all
}

/// [`read_with`] the router's real addresses.
fn flows(fp: &mut FastPath, port: u16) -> Vec<Flow> {
    read_with(fp, port, Some(LAN), Some(WAN))
}

/// The prerouting rule's expressions as the kernel holds them (nft's
/// netlink debug notation; reg 1 and 2 are the 16-byte registers NFT_REG_1
/// and NFT_REG_2; reg 9 and 10 the 4-byte words after reg 1's first).
const PREROUTING: &str = "\
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000011 ]
  [ fib daddr type => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ payload load 4b @ network header + 12 => reg 1 ]
  [ payload load 2b @ transport header + 0 => reg 9 ]
  [ payload load 2b @ transport header + 2 => reg 10 ]
  [ lookup reg 1 set streams dreg 1 0x0 ]
  [ ct load mark => reg 2 ]
  [ bitwise reg 2 = ( reg 2 & 0xdfffffff ) ^ 0x20000000 ]
  [ ct set mark with reg 2 ]
  [ nat dnat ip addr_min reg 1 addr_max reg 1 proto_min reg 9 proto_max reg 9 flags 0x3 ]
";

const POSTROUTING: &str = "\
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000011 ]
  [ ct load mark => reg 1 ]
  [ bitwise reg 1 = ( reg 1 & 0x20000000 ) ^ 0x00000000 ]
  [ cmp eq reg 1 0x20000000 ]
  [ ct load proto_dst => reg 1 , dir original ]
  [ masq proto_min reg 1 proto_max reg 1 flags 0x2 ]
";

#[test]
fn netns_fast_path_forwards_in_the_kernel_and_cleans_up() {
    let Some(lab) = Lab::new() else {
        return;
    };
    let phone = lab.udp(&lab.phone, PHONE);
    let prov = lab.udp(&lab.prov, PROV);
    let (phone_a, prov_a) = (a(PHONE), a(PROV));

    // (1) start makes the table: the map and both chains, readable by nft,
    // with the expressions in the order written (lookup before the mark).
    let mut fp = lab.start();
    let (ok, table) = lab.nft(&["-a", "list", "ruleset"]);
    assert!(ok, "{table}");
    println!("{table}");
    for want in [
        "table ip sipnat",
        "map streams",
        "type ipv4_addr . inet_service . inet_service : ipv4_addr . inet_service",
        "type nat hook prerouting priority dstnat - 10; policy accept;",
        // The rule decoded whole (nft shows the mark before the dnat,
        // whatever the order of the expressions: see PREROUTING).
        "meta l4proto udp fib daddr type local ct mark set ct mark | 0x20000000 \
         dnat ip to ip saddr . udp sport . udp dport map @streams",
        "type nat hook postrouting priority srcnat - 10; policy accept;",
        "masquerade to :ct original proto-dst",
    ] {
        assert!(table.contains(want), "no {want:?} in\n{table}");
    }
    let (ok, debug) = lab.nft(&["--debug=netlink", "list", "table", "ip", "sipnat"]);
    assert!(ok, "{debug}");
    assert!(debug.contains(PREROUTING), "{debug}");
    assert!(debug.contains(POSTROUTING), "{debug}");

    // (2a) The phone sends first: forwarded by the kernel to the provider
    // from the router's WAN address and the relay port; the answer comes
    // back to the phone from the LAN address and the relay port.
    let p = 20000;
    fp.add(p, phone_a, prov_a).expect("add");
    send(&phone, &format!("{LAN}:{p}"), "a1");
    assert_eq!(
        recv(&prov, "a1 at the provider"),
        ("a1".into(), a(&format!("{WAN}:{p}")))
    );
    send(&prov, &format!("{WAN}:{p}"), "a2");
    assert_eq!(
        recv(&phone, "a2 at the phone"),
        ("a2".into(), a(&format!("{LAN}:{p}")))
    );
    // (3) read back: the entry, from the phone; no counters (accounting
    // off). Found by the phone's tuple (its original direction), by the
    // provider's alone (its reply direction), or by the provider's after
    // the phone's named a LAN address the entry does not hold.
    let entry = [Flow {
        port: p,
        from: phone_a,
        packets: None,
        offloaded: false,
    }];
    assert_eq!(flows(&mut fp, p), entry);
    assert_eq!(read_with(&mut fp, p, None, Some(WAN)), entry);
    assert_eq!(read_with(&mut fp, p, Some("10.77.1.9"), Some(WAN)), entry);
    assert_eq!(read_with(&mut fp, p, Some(LAN), None), entry);
    // Nothing known, or nothing there: nothing.
    assert_eq!(read_with(&mut fp, p, None, None), []);
    assert_eq!(read_with(&mut fp, p, Some("10.77.1.9"), None), []);
    assert_eq!(flows(&mut fp, p + 2), []);
    assert_eq!(lab.marked().len(), 1, "{:?}", lab.marked());

    // (4) The map's elements alone do not end the forwarding: the NAT
    // binding lives in the conntrack entry (one element deleted by hand,
    // the phone's next datagram still reaches the provider).
    let (ok, out) = lab.nft(&[
        "delete",
        "element",
        "ip",
        "sipnat",
        "streams",
        &format!("{{ 10.77.1.2 . 4000 . {p} }}"),
    ]);
    assert!(ok, "{out}");
    send(&phone, &format!("{LAN}:{p}"), "a3");
    assert_eq!(
        recv(&prov, "a3 at the provider"),
        ("a3".into(), a(&format!("{WAN}:{p}")))
    );
    // remove (one element already gone: not an error) ends it: a socket on
    // the relay port gets the phone's next datagram, the provider nothing;
    // no marked entry left, the map empty.
    // The router's addresses given: the entry deleted by its tuple.
    fp.remove(p, phone_a, prov_a, [Some(ip(LAN)), Some(ip(WAN))])
        .expect("remove");
    assert_eq!(flows(&mut fp, p), []);
    assert_eq!(lab.marked(), Vec::<String>::new());
    let relay = lab.udp(&lab.router, &format!("0.0.0.0:{p}"));
    send(&phone, &format!("{LAN}:{p}"), "a4");
    assert_eq!(
        recv(&relay, "a4 at the relay socket"),
        ("a4".into(), phone_a)
    );
    silent(&prov, "a4 at the provider");
    let (_, map) = lab.nft(&["list", "map", "ip", "sipnat", "streams"]);
    assert!(!map.contains("elements"), "{map}");
    // Removing again: nothing there, not an error.
    fp.remove(p, phone_a, prov_a, [None, None])
        .expect("remove again");
    drop(relay);

    // (2b) The provider sends first, with accounting on.
    lab.sysctl("net.netfilter.nf_conntrack_acct=1");
    let p = 20002;
    fp.add(p, phone_a, prov_a).expect("add");
    send(&prov, &format!("{WAN}:{p}"), "b1");
    assert_eq!(
        recv(&phone, "b1 at the phone"),
        ("b1".into(), a(&format!("{LAN}:{p}")))
    );
    send(&phone, &format!("{LAN}:{p}"), "b2");
    assert_eq!(
        recv(&prov, "b2 at the provider"),
        ("b2".into(), a(&format!("{WAN}:{p}")))
    );
    let entry = [Flow {
        port: p,
        from: prov_a,
        packets: Some(2),
        offloaded: false,
    }];
    assert_eq!(flows(&mut fp, p), entry);
    assert_eq!(read_with(&mut fp, p, Some(LAN), None), entry);
    assert_eq!(read_with(&mut fp, p, None, Some(WAN)), entry);
    // Without the router's addresses remove finds the entry by a dump of
    // the marked ones.
    fp.remove(p, phone_a, prov_a, [None, None])
        .expect("remove by the dump");
    assert_eq!(flows(&mut fp, p), []);
    assert_eq!(lab.marked(), Vec::<String>::new());

    // (5) The userspace relay's own conntrack entries keep the NAT off
    // that flow until `forget` deletes them: the relay socket exchanged a
    // datagram each way with the phone (entry phone → LAN:p) and with the
    // provider (entry WAN:p → provider). Neither is marked (the lookup
    // comes before the mark).
    let p = 20004;
    let (lan_p, wan_p) = (a(&format!("{LAN}:{p}")), a(&format!("{WAN}:{p}")));
    let relay = lab.udp(&lab.router, &format!("0.0.0.0:{p}"));
    send(&phone, &format!("{LAN}:{p}"), "c1");
    assert_eq!(
        recv(&relay, "c1 at the relay socket"),
        ("c1".into(), phone_a)
    );
    relay.send_to(b"c2", phone_a).expect("send");
    assert_eq!(recv(&phone, "c2 at the phone"), ("c2".into(), lan_p));
    relay.send_to(b"c3", prov_a).expect("send");
    assert_eq!(recv(&prov, "c3 at the provider"), ("c3".into(), wan_p));
    send(&prov, &format!("{WAN}:{p}"), "c4");
    assert_eq!(
        recv(&relay, "c4 at the relay socket"),
        ("c4".into(), prov_a)
    );
    fp.add(p, phone_a, prov_a).expect("add");
    send(&phone, &format!("{LAN}:{p}"), "c5");
    assert_eq!(
        recv(&relay, "c5 still at the relay socket"),
        ("c5".into(), phone_a)
    );
    send(&prov, &format!("{WAN}:{p}"), "c6");
    assert_eq!(
        recv(&relay, "c6 still at the relay socket"),
        ("c6".into(), prov_a)
    );
    silent(&prov, "c5 at the provider");
    silent(&phone, "c6 at the phone");
    // Both tuples name the relay's own entries: not marked, not read.
    assert_eq!(flows(&mut fp, p), []);
    // The phone's leg forgotten: its next datagram makes a new entry, NATed
    // to the provider from WAN:p, whose reply tuple is the WAN leg's entry's:
    // the kernel drops it (a clash) while that entry lives.
    assert!(
        fp.forget(phone_a, lan_p).expect("forget"),
        "no entry to forget"
    );
    assert!(
        !fp.forget(a("10.77.1.9:9"), lan_p).expect("forget"),
        "forgot a stranger"
    );
    let failed = lab.insert_failed();
    send(&phone, &format!("{LAN}:{p}"), "c7");
    silent(&prov, "c7 at the provider");
    silent(&relay, "c7 at the relay socket");
    assert_eq!(lab.insert_failed(), failed + 1, "c7 not dropped as a clash");
    // The WAN leg forgotten too (named by its reply direction): forwarded.
    assert!(
        fp.forget(prov_a, wan_p).expect("forget"),
        "no WAN entry to forget"
    );
    send(&phone, &format!("{LAN}:{p}"), "c8");
    assert_eq!(recv(&prov, "c8 at the provider"), ("c8".into(), wan_p));
    send(&prov, &format!("{WAN}:{p}"), "c9");
    assert_eq!(recv(&phone, "c9 at the phone"), ("c9".into(), lan_p));
    silent(&relay, "c8 or c9 at the relay socket");
    assert_eq!(flows(&mut fp, p).len(), 1);

    // (6) A crash: the run ends without stop (its netlink socket closes, as
    // at a process's exit); the table, its elements and the marked entries
    // stay. The next start removes them all; stop removes the table.
    drop(fp);
    let (_, map) = lab.nft(&["list", "map", "ip", "sipnat", "streams"]);
    assert!(map.contains("elements = {"), "{map}");
    assert_eq!(lab.marked().len(), 1, "{:?}", lab.marked());
    let mut fp = lab.start();
    let (ok, map) = lab.nft(&["list", "map", "ip", "sipnat", "streams"]);
    assert!(ok && !map.contains("elements"), "{map}");
    assert_eq!(lab.marked(), Vec::<String>::new());
    assert_eq!(flows(&mut fp, p), []);
    fp.stop();
    let (ok, gone) = lab.nft(&["list", "table", "ip", "sipnat"]);
    assert!(!ok, "the table is still there: {gone}");
    assert_eq!(lab.marked(), Vec::<String>::new());
}
