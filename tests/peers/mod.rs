//! What the real-peers tests share (`tests/netns_peers.rs` over IPv4,
//! `tests/netns_peers_v6.rs` over IPv6 and across families): the lab
//! (`peers/topo.sh` with kamailio, sipnat, baresip phones and tcpdump in
//! it), the phones and a call between two of them with audio both ways,
//! kamailio's location table, the WAV tone meter, a capture reader that
//! counts RTP and SIP by address and transport (IPv4 and IPv6), and the
//! WAN capture check of `tests/pcap/` over every `wan*.pcap` of a test.
//!
//! The test file declares `mod netns_env; mod pcap; mod peers;`.
#![allow(dead_code)]

pub mod audio;
pub mod lab;
pub mod phone;
pub mod wire;

pub use lab::Lab;
pub use phone::{CallReport, PhoneSpec, call};

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const ROUTER_LAN: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 1, 1));
pub const ROUTER_WAN: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
pub const PROVIDER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
pub const WAN_PHONE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 3));
/// The IPv6 addresses of `peers/topo.sh --ip6`: the router's LAN GUA and
/// ULA, its WAN address, the provider, the WAN phone.
pub const ROUTER_LAN6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x77, 1, 0, 0, 0, 1));
pub const ROUTER_ULA: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 1));
pub const ROUTER_WAN6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1));
pub const PROVIDER6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 2));
pub const WAN_PHONE6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 3));
/// The LAN's addresses as text: the IPv4 prefix, the IPv6 GUA and ULA
/// prefixes (what must never be in kamailio's log or location table).
pub const LAN_TEXTS: [&str; 3] = ["10.77.1.", "2001:db8:77:1:", "fd77:1:"];

/// How long to wait for something that should come.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long each answered call carries audio before it is hung up.
pub const TALK: Duration = Duration::from_secs(2);
/// Frames (20 ms) of the other phone's tone each recording must hold.
pub const MIN_TONE_FRAMES: usize = 50;
/// RTP packets each way on the WAN for a call that crosses the router.
pub const MIN_RTP: usize = 50;

/// The baresip modules the phones load (Debian's baresip-core ships them).
const BARESIP_MODULES: &str = "/usr/lib/baresip/modules";
const MODULES: [&str; 7] = [
    "g711", "ausine", "aubridge", "sndfile", "account", "menu", "ctrl_tcp",
];

pub fn skip_allowed() -> bool {
    std::env::var("SIPNAT_SKIP_NETNS").is_ok_and(|v| v == "1")
}

pub fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn peers_dir() -> PathBuf {
    manifest().join("tests/netns/peers")
}

/// Why this machine cannot run these tests, if it cannot (`ip6`: with
/// IPv6, whose firewall takes ip6tables).
pub fn environment_problem(id: &str, ip6: bool) -> Option<String> {
    let mut tools = vec![
        "ip", "tcpdump", "ss", "iptables", "kamailio", "kamcmd", "baresip",
    ];
    if ip6 {
        tools.push("ip6tables");
    }
    if let Some(why) = crate::netns_env::environment_problem(id, &tools) {
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

/// An address as the host of a SIP URI: IPv6 in brackets.
pub fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// A transport of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tp {
    Udp,
    Tcp,
    /// SIP over TLS (`tests/netns_tls.rs`): sipnat's `tls_listen_port`
    /// 5061 toward the phones, kamailio's `tls:…:5061` toward the provider.
    Tls,
}

impl Tp {
    pub fn name(self) -> &'static str {
        match self {
            Tp::Udp => "udp",
            Tp::Tcp => "tcp",
            Tp::Tls => "tls",
        }
    }

    /// The SIP port of this transport at the router and at kamailio.
    pub fn port(self) -> u16 {
        match self {
            Tp::Udp | Tp::Tcp => 5060,
            Tp::Tls => 5061,
        }
    }
}

/// The addresses kamailio listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// 198.51.100.2 only.
    V4,
    /// 2001:db8:100::2 only.
    V6,
    /// Both.
    Both,
}

/// Which family each side of a lab talks: the topology's IPv6 (the
/// `--ip6` of `peers/topo.sh`) and the WAN's addresses in the family
/// kamailio and W use (the provider's is the accounts' domain).
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub ip6: Option<&'static str>,
    pub router_wan: IpAddr,
    pub provider: IpAddr,
    pub wan_phone: IpAddr,
}

/// IPv4 only, as the real-peers tests always ran.
pub const PLAN4: Plan = Plan {
    ip6: None,
    router_wan: ROUTER_WAN,
    provider: PROVIDER,
    wan_phone: WAN_PHONE,
};

impl Plan {
    /// IPv6 on the sides `ip6` names, the WAN talked over IPv6.
    pub const fn wan_v6(ip6: &'static str) -> Plan {
        Plan {
            ip6: Some(ip6),
            router_wan: ROUTER_WAN6,
            provider: PROVIDER6,
            wan_phone: WAN_PHONE6,
        }
    }

    /// The provider's domain: every account's and every dialled URI's host.
    pub fn domain(&self) -> String {
        host(self.provider)
    }

    /// Has the WAN IPv6?
    pub fn wan6(&self) -> bool {
        matches!(self.ip6, Some("wan" | "both"))
    }
}

// ------------------------------------------------------------- kamailio

/// A LAN phone's binding in kamailio's location table: at the router's
/// public address (`plan.router_wan`) with sipnat's token, over the
/// provider transport, on kamailio's socket of that transport and family.
pub fn assert_binding(table: &str, user: &str, provider: Tp, plan: &Plan) {
    let b = bindings(table, user);
    assert_eq!(b.len(), 1, "user {user}: bindings {b:?} in\n{table}");
    let (addr, socket) = &b[0];
    assert!(
        addr.starts_with(&format!("sip:{user}"))
            && addr.contains(&format!("@{}:5060", host(plan.router_wan)))
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
        &format!("{}:{}:5060", provider.name(), plan.domain()),
        "user {user}: kamailio took the binding on the wrong socket"
    );
}

/// The (Address, Socket) pairs of `user`'s bindings in `kamcmd ul.dump`.
pub fn bindings(table: &str, user: &str) -> Vec<(String, String)> {
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
pub fn wait_registered(lab: &Lab, users: &[&str]) -> String {
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
pub fn status_value<'a>(status: &'a str, name: &str) -> &'a str {
    let words: Vec<&str> = status.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == name)
        .map_or("", |w| w[1].split('/').next().unwrap_or(""))
}

/// Wait until sipnat holds no call and no relay stream (every call ended);
/// its status line then.
pub fn wait_idle(lab: &Lab) -> String {
    let end = Instant::now() + WAIT;
    loop {
        let s = lab.sipnat_status();
        if status_value(&s, "calls") == "0" && status_value(&s, "streams") == "0" {
            return s;
        }
        assert!(
            Instant::now() < end,
            "sipnat still holds calls or relay streams after every call ended: {s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What each call proved, a line each.
pub fn print_calls(calls: &[CallReport]) {
    for c in calls {
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
}

/// How kamailio reaches a LAN phone for a call to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// At the registered Contact (sipnat's masqueraded one): over TCP a new
    /// connection to the router's SIP port.
    Contact,
    /// Where the REGISTER came from (kamailio's `fix_nated_register`): over
    /// TCP the connection sipnat opened.
    Source,
}

/// The transports are the ones asked for (`phone`, `provider`): on the LAN
/// capture the phones' SIP with sipnat (at any of `router_lan`) is all on
/// the phone transport, on the WAN capture sipnat's SIP with kamailio all
/// on the provider one. Over a TCP provider sipnat opens one connection to
/// kamailio for everything it sends, and the INVITE to B (user 101) comes
/// in as `inbound` says. Returns the TCP connections opened on the WAN by
/// sipnat and by kamailio.
pub fn check_transports(
    lan: &[wire::Pkt],
    wan: &[wire::Pkt],
    router_lan: &[IpAddr],
    plan: &Plan,
    (phone, provider): (Tp, Tp),
    inbound: Inbound,
) -> (usize, usize) {
    let want = |tp: Tp, (udp, tcp): (usize, usize)| match tp {
        Tp::Udp => udp > 0 && tcp == 0,
        Tp::Tcp => tcp > 0 && udp == 0,
        // What is counted here is SIP on port 5060; tests/netns_tls.rs
        // checks its TLS legs itself.
        Tp::Tls => panic!("check_transports does not check TLS legs"),
    };
    let lan_sip = router_lan.iter().fold((0, 0), |n, r| {
        let m = wire::sip_by_transport(lan, *r, None);
        (n.0 + m.0, n.1 + m.1)
    });
    assert!(
        want(phone, lan_sip),
        "the phones' SIP with sipnat should be all {}: {} UDP datagrams, {} TCP segments",
        phone.name(),
        lan_sip.0,
        lan_sip.1
    );
    let (router, kamailio) = (plan.router_wan, plan.provider);
    let wan_sip = wire::sip_by_transport(wan, router, Some(kamailio));
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
    let ours = wire::connections(wan, router, kamailio);
    let theirs = wire::connections(wan, kamailio, router);
    if provider == Tp::Tcp {
        assert_eq!(
            ours.len(),
            1,
            "sipnat should open one connection to kamailio and keep it: {ours:?}"
        );
        // The router's end of the connection the call to B came in on.
        let invite_port = wan
            .iter()
            .find(|p| p.proto == 6 && p.src == kamailio && p.payload.starts_with(b"INVITE sip:101"))
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
    (ours.len(), theirs.len())
}

// ------------------------------------------------- the WAN capture check

/// Every `wan*.pcap` of the lab through the WAN capture check of
/// `tests/pcap/` (no LAN IPv4, GUA or ULA address in any header, payload
/// or reassembled TCP stream); panics naming the leaks, else returns a
/// line per capture saying what was in it.
pub fn check_wan_captures(lab: &Lab) -> Vec<String> {
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
        let r = crate::pcap::scan_pcap(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            r.leaks.is_empty(),
            "LAN address on the WAN in {}:\n{:#?}",
            f.display(),
            r.leaks
        );
        let pkts = wire::parse_pcap(&bytes).expect("capture");
        let count = |v6: bool, proto: u8| {
            pkts.iter()
                .filter(|p| p.proto == proto && p.src.is_ipv6() == v6)
                .filter(|p| proto != 6 || !p.payload.is_empty())
                .count()
        };
        lines.push(format!(
            "{}: {} packets (IPv4: {} UDP, {} TCP segments with data; IPv6: {} UDP, \
             {} TCP segments with data; {} NDP/MLD), {} SIP, no LAN address",
            f.file_name().unwrap_or_default().to_string_lossy(),
            r.packets,
            count(false, 17),
            count(false, 6),
            count(true, 17),
            count(true, 6),
            r.ndp_packets,
            r.sip_packets,
        ));
    }
    lines
}

/// Panic if kamailio's log names a LAN address.
pub fn assert_kamailio_log_clean(lab: &Lab) {
    let log = lab.log("kamailio");
    let leaks: Vec<&str> = log
        .lines()
        .filter(|l| LAN_TEXTS.iter().any(|t| l.contains(t)))
        .collect();
    assert!(
        leaks.is_empty(),
        "a LAN address in kamailio's log:\n{}",
        leaks.join("\n")
    );
}
