//! `sipnat-bench`: sipnat's benchmark (issue 5). It measures a SIP/RTP proxy
//! in the LAN / router / WAN network namespaces of `tests/netns/topo.sh`
//! against the same load given to a null relay, the floor.
//!
//! Modes:
//! * `media`: for every call count and every proxy under test, a fresh
//!   topology, the proxy in the router namespace with a siproxd.conf-style
//!   configuration, optional REGISTERs (from as many LAN addresses as they
//!   need, `bench_core::REGS_PER_HOST` each, one SIP socket per address; a
//!   run with a failed REGISTER fails), N calls set up over real SIP through
//!   the proxy (this process is both the phone, UAC, and the far end, UAS),
//!   then RTP both ways at `--pps` with `--payload` bytes. Every packet
//!   carries the stamp of `bench_core` (call, direction, counter, send time);
//!   the receiver takes the kernel's receive time (`SO_TIMESTAMPNS`), so the
//!   one-way latency is the path through the proxy. After a warm-up, a
//!   measurement window samples the proxy's CPU time; the result holds the
//!   offered and delivered packet rates, loss, reordering, latency
//!   percentiles, CPU per relayed packet, peak RSS (VmHWM), the kernel's
//!   memory for the proxy's sockets (UDP and TCP sockets of the router
//!   namespace, `/proc/PID/net/sockstat`, times the slab objects one socket
//!   takes, `/proc/slabinfo`: [`kernel_socket_memory`]) with every call up,
//!   and binary size. `--calls 0` measures a SIP proxy idle (after its
//!   REGISTERs), `--range` sets its relay port range. `--kernel-forward`
//!   lets the router namespace forward IP for the SIP proxies' runs, so
//!   sipnat hands the streams to nftables (issue 15); the warm-up then
//!   lasts until they are in the kernel, and the result says how many were
//!   (see [`kernel_state`]). Every run also has the system-wide CPU per
//!   packet: the proxy's CPU plus the softirq time of all CPUs in the
//!   window, from `/proc/stat` (see [`proc_stat`]) and, with `--perf`,
//!   from perf's samples ([`start_perf`], `bench_core::PerfSplit`), and
//!   the machine's exact busy time.
//! * `setup`: call setups per second with sipp (`tests/bench/uac.xml`,
//!   `uas.xml`) through the proxy, and the proxy's CPU per call; over UDP
//!   (the default) or `--transport tcp`: sipp `-t t1` on both sides, so the
//!   phone keeps one connection to the proxy and the proxy one to the far
//!   end, as a home router sees phones and a provider (see [`Transport`]).
//!   `--transport tls`: the phone over UDP, sipnat with `outbound_tls 1`
//!   toward a TLS far end (`bench_tls::Front`, rustls: Debian's sipp has
//!   no TLS) that answers REGISTERs itself and bridges the rest to sipp's
//!   UAS over TCP; one TLS connection for every call.
//! * `tls`: sipnat with `tls_listen_port` and a self-signed P-256
//!   certificate: its VmRSS and VmHWM idle, then with `--phones` TLS phones
//!   (one LAN address each) registered over their own connections and
//!   idle, then its CPU per handshake over `--handshakes` TLS handshakes
//!   one after another (see [`tls_run_in`]). Needs `--features tls`.
//! * `all`: the README set (a media sweep for sipnat and both null relays,
//!   256 calls with 512 registrations, sipnat idle with the relay range
//!   10000-59999, 1,500 and 3,000 setups/s over UDP and over TCP) into one
//!   report.
//! * `null-relay`: the null relay itself (`bench_null`), which the media
//!   mode starts in the router namespace as the floor: the simplest
//!   forwarder with the same socket layout and the same kind of mio loop.
//!
//! The proxy under test is any foreground command (`--proxy NAME=CMD`,
//! `{conf}` and `{dir}` substituted); sipnat is `PATH -f -c {conf}`. Results:
//! `results.json`, `results.md` and, for a sweep, `sweep.svg` in `--out`.
//!
//! CPU time: the proxy's process CPU clock (`clock_getcpuclockid`, the same
//! user + system time `/proc/PID/stat` reports, but in ns instead of clock
//! ticks, which matters for short windows); `/proc/PID/stat` when that clock
//! cannot be read. Softirq time: the `softirq` column of `/proc/stat`, all
//! CPUs. Without `CONFIG_IRQ_TIME_ACCOUNTING` the kernel samples it at the
//! timer tick (the tick that lands in softirq context counts a whole tick),
//! so it is exact only on average: use windows of many seconds. It holds
//! the kernel's forwarding, and also the delivery into the generator's own
//! sockets, the same for every proxy; softirq work the kernel does inside
//! the proxy's own system calls (its sends' delivery on its CPU) is in the
//! proxy's CPU time as well, so the sum counts that part twice
//! (`softirq_proxy_cpu_s` bounds it). The tick is also fooled by this
//! load, which is periodic with a period that divides the tick's: here the
//! tick-sampled busy time of the CPUs was 0.05–1.3 times their exact busy
//! time (wall minus the NO_HZ idle clock, `busy_exact_s`). `--perf`
//! counts softirq from perf's samples instead (`tests/bench/README.md`).
//!
//! What it does NOT do: assert any speed (it only measures), SIP over TCP
//! outside the setup mode (the media mode's own SIP is UDP), calls from
//! TLS phones (sipp has no TLS; the tls mode's phones only register),
//! authentication, IPv6, RTCP, or anything outside the namespaces it made.
//! It needs root. Everything it starts is stopped and every namespace
//! removed when a run ends, fails, or is interrupted (SIGINT/SIGTERM).

#[path = "bench_core.rs"]
mod bench_core;
#[path = "bench_null.rs"]
mod bench_null;
#[cfg(feature = "tls")]
#[path = "bench_tls.rs"]
mod bench_tls;
#[path = "load_core.rs"]
mod load_core;

use bench_core::{Histogram, MediaRun, SeqTracker, SetupRun, Stamp};
use load_core::{Dir, Retx, SipMsg, parse_sdp, sdp_body, uri_of};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
usage:
  sipnat-bench media [--calls N | --sweep 25,50,100,250,500,1000] [--pps 50] [--payload 160]
                     [--warmup-s 3] [--measure-s 10] [--setup-rate 200] [--registrations 0]
                     [--sipnat PATH] [--proxy NAME=CMD]... [--no-null] [--null-mmsg]
                     [--no-sipnat] [--no-pin] [--out DIR] [--keep] [--repo DIR]
                     [--status-rate 0] [--range LOW-HIGH] [--kernel-forward] [--perf]
  sipnat-bench setup [--rate 1500[,3000...]] [--seconds 10] [--transport udp[,tcp,tls]] [--sipnat PATH]
                     [--proxy NAME=CMD]... [--no-sipnat] [--no-pin] [--out DIR] [--keep]
                     [--repo DIR]
  sipnat-bench tls   [--handshakes 200] [--phones 32] [--sipnat PATH] [--proxy NAME=CMD]...
                     [--no-sipnat] [--no-pin] [--out DIR] [--keep] [--repo DIR]
  sipnat-bench all   [--sipnat PATH] [--no-pin] [--out DIR] [--keep] [--repo DIR]
  sipnat-bench null-relay --ports LOW-HIGH --lan IP:PORT --wan IP:PORT [--mmsg] [--bind IP]

  --proxy NAME=CMD  another proxy under test, a foreground command run with sh in the router
                    namespace; {conf} is replaced by the siproxd.conf-style config, {dir} by
                    the run's work directory. sipnat is run as
                    'PATH -f -c {conf} --control {dir}/control.sock'.
  --status-rate N   media mode: ask sipnat 'status json' on its control socket N times a
                    second during the measurement window (counted in the result)
  --kernel-forward  media mode: the router namespace forwards IP (net.ipv4.ip_forward=1) for
                    the SIP proxies' runs, so sipnat hands the calls' streams to the kernel
                    (nftables); the warm-up lasts until they are there (at most 30 s more)
                    and the result counts them. The null relay's runs stay as they are.
  --perf            media mode: sample every CPU with perf (cpu-clock, call chains) during the
                    window, for a system-wide CPU per packet that counts softirq from the
                    samples instead of /proc/stat's tick (which this benchmark's periodic
                    load can fool); needs perf
  --range LOW-HIGH  media mode: the SIP proxies' RTP port range (default 20000 to
                    20000 + 4 N + 99); --calls 0 measures such a proxy idle (after its
                    REGISTERs, no call), the null relay is not run then
  --sipnat PATH     default: the sipnat next to this tool's directory (target/<profile>/sipnat)
  --out DIR         default: <repo>/target/bench/<unix time>, linked as target/bench/latest
  --keep            keep every run's work directory (proxy log, config); failed runs keep theirs
  --rate LIST       setup mode: calls per second, one run per rate (and per transport)
  --transport LIST  setup mode: SIP over udp (default), tcp, tls, or a list (TCP: sipp -t t1 on
                    both sides, one connection from the phone, one from the proxy onward; TLS:
                    the phone over UDP, the proxy with outbound_tls to this tool's TLS far end,
                    which bridges to sipp over TCP; needs --features tls)
  --handshakes N    tls mode: TLS handshakes one after another from the LAN (sipnat's CPU
                    per handshake)
  --phones N        tls mode: TLS phones from as many LAN addresses, each registered over
                    its own connection, left idle (sipnat's RSS with them)
  --registrations N REGISTERs before the calls, 32 per LAN address (the phone 10.77.1.2, then
                    10.77.1.100 upward, added to the LAN namespace); any failure fails the run
  --no-pin          let the scheduler place everything (default with 2+ CPUs: the proxy alone
                    on the last CPU, this tool and sipp on the others)
Needs root (network namespaces). Exit status: 0 all runs done, 1 a run failed, 2 usage,
77 not root, 130 interrupted.";

// ------------------------------------------------------------------ constants

/// Addresses of `tests/netns/topo.sh`.
const PHONE_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
const ROUTER_LAN: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
const ROUTER_WAN: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const FAR_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// The generator's ports: SIP phone, SIP far end, RTP on both sides.
const UAC_PORT: u16 = 5062;
const UAS_PORT: u16 = 5060;
/// SIP over TLS: the far end's port (setup mode) and sipnat's
/// `tls_listen_port` (tls mode).
#[cfg(feature = "tls")]
const TLS_PORT: u16 = 5061;
const RTP_PORT: u16 = 40000;
/// The phone's SIP address (host 0 of the registrations).
const PHONE: SocketAddrV4 = SocketAddrV4::new(PHONE_IP, UAC_PORT);
/// The proxy's relay pool starts here; the null relay uses 20000 + 2 i.
const RELAY_LOW: u16 = 20000;

/// Transactions (REGISTER, BYE) in flight at once.
const MAX_OUTSTANDING: usize = 64;

/// Datagrams per sendmmsg / recvmmsg call.
const BATCH: usize = 64;
/// Largest RTP packet (payload limit 1400 + header).
const MAX_PKT: usize = 1500;
/// A send later than this after its due time counts as late.
const LATE: Duration = Duration::from_millis(5);
/// Socket buffers of the generator's RTP sockets.
const RTP_SOCK_BUF: i32 = 32 << 20;
const SIP_SOCK_BUF: i32 = 4 << 20;
/// Socket buffers of the other registering hosts' SIP sockets.
const REG_SOCK_BUF: i32 = 256 << 10;
/// After the sender stops, how long the receiver keeps reading.
const DRAIN: Duration = Duration::from_millis(300);
/// `--kernel-forward`: the longest wait, after the warm-up, for the calls'
/// streams to be in the kernel, and the pause after they are (sipnat
/// still relays, for a second after the handover, packets that were on
/// their way: `HANDOVER_GRACE` of `src/relay/kernel.rs`).
const HANDOVER_WAIT: Duration = Duration::from_secs(30);
const HANDOVER_SETTLE: Duration = Duration::from_secs(1);
/// `--perf`: the sampling period, in ns of a CPU's time: about 1 kHz, a
/// prime, so the samples do not keep step with the 4 ms timer tick or the
/// 20 ms packet interval.
const PERF_PERIOD_NS: u64 = 999_983;
/// `--perf`: how long perf gets to set up before the window opens.
const PERF_SETUP: Duration = Duration::from_secs(1);

// One LAN address sends no more REGISTERs than sipnat lets one host hold.
const _: () =
    assert!(bench_core::REGS_PER_HOST as usize <= sipnat::limits::MAX_REGISTRATIONS_PER_HOST);

// ------------------------------------------------------------------ signals

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    INTERRUPTED.store(true, Relaxed);
}

fn interrupted() -> bool {
    INTERRUPTED.load(Relaxed)
}

fn install_signal_handlers() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe { libc::signal(sig, handler as libc::sighandler_t) };
    }
}

/// Sleep `d`, waking every 50 ms to notice an interruption.
fn sleep_checked(d: Duration) -> Result<(), String> {
    let end = Instant::now() + d;
    loop {
        if interrupted() {
            return Err("interrupted".into());
        }
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

// ------------------------------------------------------------------ options

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Media,
    Setup,
    All,
    /// TLS connections: handshakes one after another and idle TLS phones.
    Tls,
}

/// The SIP transport of a setup run.
///
/// TCP runs use sipp's `-t t1` on both sides, not `-t tn`: a home router
/// sees a few phones and one provider, and each keeps one connection open
/// and sends every call over it (RFC 3261 §18 reuses a connection; a phone
/// registered over TCP keeps its flow, RFC 5626), and sipnat itself opens
/// one connection per peer and side and reuses it. `tn` (a new connection
/// per call from one address) is a load no phone makes, and sipnat refuses
/// it by design beyond 16 connections per LAN host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
    /// The phone over UDP, sipnat to the far end over TLS (`outbound_tls
    /// 1` toward a TLS terminator of this tool, `bench_tls::Front`, which
    /// bridges to sipp's UAS over TCP `-t t1`): the case TLS is for, a
    /// phone that speaks UDP and one TLS connection to the provider.
    Tls,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ProxyKind {
    /// A SIP proxy: the shell command with `{conf}` and `{dir}`.
    Sip(String),
    /// The built-in null relay, optionally with recvmmsg/sendmmsg.
    Null { mmsg: bool },
}

#[derive(Clone, Debug)]
struct Proxy {
    name: String,
    kind: ProxyKind,
}

#[derive(Debug)]
struct Opts {
    mode: Mode,
    calls: Vec<u32>,
    pps: u32,
    payload: u32,
    warmup: Duration,
    measure: Duration,
    setup_rate: u32,
    /// Status queries per second on sipnat's control socket (media mode).
    status_rate: u32,
    /// The SIP proxies' relay port range (media mode); `None`: sized by calls.
    range: Option<(u16, u16)>,
    /// Media mode: the router forwards IP for the SIP proxies' runs.
    kernel_forward: bool,
    /// Media mode: sample the CPUs with perf during the window.
    perf: bool,
    registrations: u32,
    sipnat: PathBuf,
    extra: Vec<(String, String)>,
    no_null: bool,
    null_mmsg: bool,
    no_sipnat: bool,
    no_pin: bool,
    out: Option<PathBuf>,
    keep: bool,
    repo: PathBuf,
    /// Setup mode: every rate over every transport, rate by rate.
    rates: Vec<u32>,
    seconds: u32,
    transports: Vec<Transport>,
    /// TLS mode: handshakes one after another, then idle TLS phones.
    handshakes: u32,
    phones: u32,
}

fn default_sipnat() -> PathBuf {
    // target/<profile>/examples/sipnat-bench -> target/<profile>/sipnat
    std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.join("sipnat")))
        .unwrap_or_else(|| PathBuf::from("sipnat"))
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mode = match args.first().map(String::as_str) {
        Some("media") => Mode::Media,
        Some("setup") => Mode::Setup,
        Some("all") => Mode::All,
        Some("tls") => Mode::Tls,
        Some("-h" | "--help" | "help") => return Err(String::new()),
        other => {
            return Err(format!(
                "first argument must be media, setup, tls, all or null-relay, not {other:?}"
            ));
        }
    };
    let mut g = getopts::Options::new();
    g.optopt("", "calls", "concurrent calls", "N");
    g.optopt("", "sweep", "call counts", "LIST");
    g.optopt("", "pps", "packets/s each way per call", "N");
    g.optopt("", "payload", "RTP payload bytes", "N");
    g.optopt("", "warmup-s", "seconds of media before the window", "S");
    g.optopt("", "measure-s", "seconds of the measurement window", "S");
    g.optopt("", "setup-rate", "INVITEs per second before the media", "N");
    g.optopt("", "registrations", "REGISTERs before the calls", "N");
    g.optopt("", "status-rate", "status queries per second", "N");
    g.optopt("", "range", "the SIP proxies' RTP port range", "LOW-HIGH");
    g.optflag(
        "",
        "kernel-forward",
        "the router forwards IP for the SIP proxies' runs",
    );
    g.optflag("", "perf", "sample the CPUs with perf during the window");
    g.optopt("", "sipnat", "sipnat binary", "PATH");
    g.optmulti("", "proxy", "another proxy under test", "NAME=CMD");
    g.optflag("", "no-null", "no null relay run");
    g.optflag(
        "",
        "null-mmsg",
        "also the null relay with recvmmsg/sendmmsg",
    );
    g.optflag("", "no-sipnat", "do not run sipnat");
    g.optflag(
        "",
        "no-pin",
        "do not pin the proxy and this tool to separate CPUs",
    );
    g.optopt("", "out", "output directory", "DIR");
    g.optflag("", "keep", "keep every run's work directory");
    g.optopt("", "repo", "the sipnat repository", "DIR");
    g.optopt("", "rate", "setup mode: calls per second", "LIST");
    g.optopt("", "seconds", "setup mode: seconds of calls", "N");
    g.optopt(
        "",
        "transport",
        "setup mode: udp (default), tcp, or both",
        "LIST",
    );
    g.optopt(
        "",
        "handshakes",
        "tls mode: TLS handshakes one after another",
        "N",
    );
    g.optopt(
        "",
        "phones",
        "tls mode: idle TLS phones, one connection each",
        "N",
    );
    g.optflag("h", "help", "this text");
    let m = g.parse(&args[1..]).map_err(|e| e.to_string())?;
    if m.opt_present("help") {
        return Err(String::new());
    }
    if let Some(extra) = m.free.first() {
        return Err(format!("unexpected argument {extra}"));
    }
    fn num<T: std::str::FromStr>(m: &getopts::Matches, name: &str, def: T) -> Result<T, String> {
        match m.opt_str(name) {
            None => Ok(def),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name} {v}: not a valid number")),
        }
    }
    let secs = |name: &str, def: f64| -> Result<Duration, String> {
        let f: f64 = num(&m, name, def)?;
        if !(0.0..=3600.0).contains(&f) {
            return Err(format!("--{name} must be 0..=3600"));
        }
        Ok(Duration::from_secs_f64(f))
    };
    let only = |names: &[&str], modes: &[Mode]| -> Result<(), String> {
        for n in names {
            if m.opt_present(n) && !modes.contains(&mode) {
                return Err(format!("--{n} does not apply to this mode"));
            }
        }
        Ok(())
    };
    only(
        &[
            "calls",
            "sweep",
            "pps",
            "payload",
            "warmup-s",
            "measure-s",
            "status-rate",
            "setup-rate",
            "registrations",
            "no-null",
            "null-mmsg",
            "range",
            "kernel-forward",
            "perf",
        ],
        &[Mode::Media],
    )?;
    only(&["rate", "seconds", "transport"], &[Mode::Setup])?;
    only(&["handshakes", "phones"], &[Mode::Tls])?;
    only(
        &["proxy", "no-sipnat"],
        &[Mode::Media, Mode::Setup, Mode::Tls],
    )?;
    let calls = match (m.opt_str("calls"), m.opt_str("sweep")) {
        (Some(_), Some(_)) => return Err("--calls and --sweep exclude each other".into()),
        (Some(c), None) => vec![
            c.parse()
                .map_err(|_| format!("--calls {c}: not a number"))?,
        ],
        (None, Some(s)) => s
            .split(',')
            .map(|c| {
                c.trim()
                    .parse()
                    .map_err(|_| format!("--sweep: '{c}' is not a number"))
            })
            .collect::<Result<Vec<u32>, String>>()?,
        (None, None) => vec![100],
    };
    if calls.iter().any(|&c| c > 10_000) {
        return Err("call counts must be 0..=10000 (0: the proxy idle)".into());
    }
    let range = match m.opt_str("range") {
        None => None,
        Some(r) => {
            let bad = || format!("--range {r}: expected LOW-HIGH, two ports, LOW < HIGH");
            let (lo, hi) = r.split_once('-').ok_or_else(bad)?;
            let (lo, hi): (u16, u16) = (
                lo.trim().parse().map_err(|_| bad())?,
                hi.trim().parse().map_err(|_| bad())?,
            );
            if lo == 0 || lo >= hi {
                return Err(bad());
            }
            Some((lo, hi))
        }
    };
    let rates = match m.opt_str("rate") {
        None => vec![1500],
        Some(list) => list
            .split(',')
            .map(|r| {
                r.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("--rate: '{r}' is not a number"))
            })
            .collect::<Result<Vec<u32>, String>>()?,
    };
    let transports = match m.opt_str("transport") {
        None => vec![Transport::Udp],
        Some(list) => list
            .split(',')
            .map(|t| match t.trim() {
                "udp" => Ok(Transport::Udp),
                "tcp" => Ok(Transport::Tcp),
                "tls" => Ok(Transport::Tls),
                t => Err(format!("--transport: '{t}' is not udp, tcp or tls")),
            })
            .collect::<Result<Vec<Transport>, String>>()?,
    };
    let mut extra = Vec::new();
    for p in m.opt_strs("proxy") {
        let (name, cmd) = p
            .split_once('=')
            .ok_or_else(|| format!("--proxy {p}: expected NAME=CMD"))?;
        let name = name.trim();
        if name.is_empty() || cmd.trim().is_empty() || name.contains(['/', ' ']) {
            return Err(format!(
                "--proxy {p}: NAME (no '/' or spaces) and CMD must not be empty"
            ));
        }
        if ["null", "null-mmsg", "sipnat"].contains(&name) {
            return Err(format!("--proxy {name}: that name is taken"));
        }
        extra.push((name.to_string(), cmd.to_string()));
    }
    let o = Opts {
        mode,
        calls,
        pps: num(&m, "pps", 50)?,
        payload: num(&m, "payload", 160)?,
        warmup: secs("warmup-s", 3.0)?,
        measure: secs("measure-s", 10.0)?,
        setup_rate: num(&m, "setup-rate", 200)?,
        registrations: num(&m, "registrations", 0)?,
        status_rate: num(&m, "status-rate", 0)?,
        range,
        kernel_forward: m.opt_present("kernel-forward"),
        perf: m.opt_present("perf"),
        sipnat: m
            .opt_str("sipnat")
            .map_or_else(default_sipnat, PathBuf::from),
        extra,
        no_null: m.opt_present("no-null"),
        null_mmsg: m.opt_present("null-mmsg"),
        no_sipnat: m.opt_present("no-sipnat"),
        no_pin: m.opt_present("no-pin"),
        out: m.opt_str("out").map(PathBuf::from),
        keep: m.opt_present("keep"),
        repo: m
            .opt_str("repo")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from),
        rates,
        seconds: num(&m, "seconds", 10)?,
        transports,
        handshakes: num(&m, "handshakes", 200)?,
        phones: num(&m, "phones", 32)?,
    };
    if o.handshakes > 100_000 || o.phones > 150 {
        return Err("--handshakes must be at most 100000, --phones at most 150".into());
    }
    if !(1..=10_000).contains(&o.pps) {
        return Err("--pps must be 1..=10000".into());
    }
    if !(21..=1400).contains(&o.payload) {
        return Err("--payload must be 21..=1400 (the stamp needs 21 bytes)".into());
    }
    if o.measure.is_zero() {
        return Err("--measure-s must be positive".into());
    }
    if !(1..=100_000).contains(&o.setup_rate) || o.rates.iter().any(|r| !(1..=100_000).contains(r))
    {
        return Err("--setup-rate and --rate must be 1..=100000".into());
    }
    if o.seconds == 0 || o.seconds > 3600 {
        return Err("--seconds must be 1..=3600".into());
    }
    if o.perf && which("perf").is_none() {
        return Err("--perf: perf is not installed (Debian: linux-perf)".into());
    }
    if o.registrations > bench_core::MAX_BENCH_REGISTRATIONS {
        return Err(format!(
            "--registrations must be at most {} ({} per LAN address, {} addresses)",
            bench_core::MAX_BENCH_REGISTRATIONS,
            bench_core::REGS_PER_HOST,
            bench_core::MAX_REG_HOSTS
        ));
    }
    Ok(o)
}

/// The proxies of a media run, in run order.
fn media_proxies(o: &Opts) -> Vec<Proxy> {
    let mut v = sip_proxies(o);
    // --calls 0 measures a SIP proxy idle: the null relay has nothing to do
    if !o.no_null && !o.calls.contains(&0) {
        v.push(Proxy {
            name: "null".into(),
            kind: ProxyKind::Null { mmsg: false },
        });
        if o.null_mmsg {
            v.push(Proxy {
                name: "null-mmsg".into(),
                kind: ProxyKind::Null { mmsg: true },
            });
        }
    }
    v
}

fn sip_proxies(o: &Opts) -> Vec<Proxy> {
    let mut v = Vec::new();
    if !o.no_sipnat {
        v.push(Proxy {
            name: "sipnat".into(),
            kind: ProxyKind::Sip(format!(
                "{} -f -c {{conf}} --control {{dir}}/control.sock",
                shell_quote(&o.sipnat.display().to_string())
            )),
        });
    }
    for (name, cmd) in &o.extra {
        v.push(Proxy {
            name: name.clone(),
            kind: ProxyKind::Sip(cmd.clone()),
        });
    }
    v
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=,@".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

// ------------------------------------------------------------------ the lab

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// One topology with the proxy under test; `Drop` stops the proxy and
/// removes the namespaces, whatever happened.
struct Lab {
    id: String,
    topo: PathBuf,
    work: PathBuf,
    proxy: Option<Child>,
    pid: u32,
    /// Other processes (sipp) started in the namespaces.
    others: Vec<Child>,
}

impl Lab {
    fn up(topo: &Path, work: &Path) -> Result<Lab, String> {
        let n = NEXT_ID.fetch_add(1, Relaxed);
        let id = format!("b{:x}x{n}", std::process::id());
        let lab = Lab {
            id,
            topo: topo.to_path_buf(),
            work: work.to_path_buf(),
            proxy: None,
            pid: 0,
            others: Vec::new(),
        };
        let out = Command::new("bash")
            .arg(&lab.topo)
            .args(["up", &lab.id])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", lab.topo.display()))?;
        if !out.status.success() {
            // `lab` drops here: topo.sh down removes what was made
            return Err(format!(
                "topo.sh up {} failed:\n{}{}",
                lab.id,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(lab)
    }

    fn ns(&self, role: char) -> String {
        format!("sn{role}-{}", self.id)
    }

    /// Start `argv` in namespace `role`, output to `log` (in the work dir).
    fn spawn(&self, role: char, argv: &[String], log: &str) -> Result<Child, String> {
        let out = File::create(self.work.join(log)).map_err(|e| format!("{log}: {e}"))?;
        let err = out.try_clone().map_err(|e| format!("{log}: {e}"))?;
        let _ = fs::write(
            self.work.join(format!("{log}.cmd")),
            format!(
                "ip netns exec {} {}\n",
                self.ns(role),
                argv.iter()
                    .map(|a| shell_quote(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        );
        Command::new("ip")
            .args(["netns", "exec", &self.ns(role)])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", argv.join(" ")))
    }

    /// Start the proxy in the router namespace and wait until it listens.
    /// The null relay serves `RELAY_LOW..=high`; a SIP proxy's range is in
    /// its configuration.
    fn start_proxy(&mut self, p: &Proxy, high: u16, exe: &Path) -> Result<(), String> {
        let argv: Vec<String> = match &p.kind {
            ProxyKind::Sip(cmd) => {
                let conf = self.work.join("proxy.conf").display().to_string();
                let dir = self.work.display().to_string();
                let cmd = cmd
                    .replace("{conf}", &shell_quote(&conf))
                    .replace("{dir}", &shell_quote(&dir));
                // `exec`: the child's pid is the proxy's (ip netns exec execs too)
                vec!["sh".into(), "-c".into(), format!("exec {cmd}")]
            }
            ProxyKind::Null { mmsg } => {
                let mut v = vec![
                    exe.display().to_string(),
                    "null-relay".into(),
                    "--ports".into(),
                    format!("{RELAY_LOW}-{high}"),
                    "--lan".into(),
                    SocketAddrV4::new(PHONE_IP, RTP_PORT).to_string(),
                    "--wan".into(),
                    SocketAddrV4::new(FAR_IP, RTP_PORT).to_string(),
                ];
                if *mmsg {
                    v.push("--mmsg".into());
                }
                v
            }
        };
        let child = self.spawn('r', &argv, "proxy.log")?;
        self.pid = child.id();
        if let Some(cpu) = PIN.get().copied().flatten() {
            // The proxy gets a CPU of its own (the tool keeps the others).
            pin(child.id() as libc::pid_t, &[cpu]);
        }
        self.proxy = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = match &p.kind {
                ProxyKind::Sip(_) => self.listens('r', Transport::Udp, UAS_PORT),
                ProxyKind::Null { .. } => {
                    fs::read_to_string(self.work.join("proxy.log"))
                        .is_ok_and(|l| l.contains("sockets ready"))
                        || self.listens('r', Transport::Udp, high)
                }
            };
            if ready {
                // A proxy may bind its SIP port and still fail on a later
                // bind (relay ports): give it a moment and look again.
                sleep_checked(Duration::from_millis(300))?;
                if let Some(st) = self
                    .proxy
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                {
                    return Err(format!(
                        "{} exited ({st}) right after it listened; proxy.log:\n{}",
                        p.name,
                        self.log_tail("proxy.log")
                    ));
                }
                return Ok(());
            }
            if let Some(st) = self
                .proxy
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "{} exited ({st}) before it listened; proxy.log:\n{}",
                    p.name,
                    self.log_tail("proxy.log")
                ));
            }
            if Instant::now() >= end {
                return Err(format!(
                    "{} does not listen after 10 s; proxy.log:\n{}",
                    p.name,
                    self.log_tail("proxy.log")
                ));
            }
            sleep_checked(Duration::from_millis(50))?;
        }
    }

    /// Add `addrs` (in the LAN's /24) to the LAN namespace's interface, next
    /// to the phone's 10.77.1.2 and .3 of `tests/netns/topo.sh`.
    fn add_lan_addrs(&self, addrs: &[Ipv4Addr]) -> Result<(), String> {
        if addrs.is_empty() {
            return Ok(());
        }
        let batch = self.work.join("lan-addrs.ip");
        let text: String = addrs
            .iter()
            .map(|a| format!("addr add {a}/24 dev eth0\n"))
            .collect();
        fs::write(&batch, text).map_err(|e| format!("{}: {e}", batch.display()))?;
        let out = Command::new("ip")
            .args(["-n", &self.ns('l'), "-batch"])
            .arg(&batch)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "adding {} LAN addresses failed: {}",
                addrs.len(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// `sysctl -w SETTING` (`name=value`) in namespace `role`.
    fn sysctl(&self, role: char, setting: &str) -> Result<(), String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(role), "sysctl", "-qw", setting])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run sysctl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "sysctl -w {setting} in {} failed: {}",
                self.ns(role),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// Does something listen on `port` (UDP or TCP) in namespace `role`?
    fn listens(&self, role: char, t: Transport, port: u16) -> bool {
        let flags = match t {
            Transport::Udp => "-Hlun",
            Transport::Tcp | Transport::Tls => "-Hltn",
        };
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(role),
                "ss",
                flags,
                &format!("sport = :{port}"),
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| !o.stdout.trim_ascii().is_empty())
    }

    fn log_tail(&self, log: &str) -> String {
        let text = fs::read_to_string(self.work.join(log)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Is the proxy still running?
    fn proxy_alive(&mut self) -> bool {
        self.proxy
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM, up to 3 s, then SIGKILL.
    fn stop_proxy(&mut self) {
        if let Some(mut c) = self.proxy.take() {
            stop_child(&mut c, Duration::from_secs(3));
        }
    }
}

/// SIGTERM `c`, wait up to `grace`, then SIGKILL; always reaped.
fn stop_child(c: &mut Child, grace: Duration) {
    if let Ok(None) = c.try_wait() {
        // SAFETY: plain kill(2) of our own child, which is not reaped yet.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
    }
    let _ = c.wait();
}

impl Drop for Lab {
    fn drop(&mut self) {
        for mut c in self.others.drain(..) {
            stop_child(&mut c, Duration::from_millis(500));
        }
        self.stop_proxy();
        let _ = Command::new("bash")
            .arg(&self.topo)
            .args(["down", &self.id])
            .stdin(Stdio::null())
            .output();
    }
}

/// The siproxd.conf-style configuration every SIP proxy gets.
fn proxy_conf(work: &Path, low: u16, high: u16) -> String {
    format!(
        "# written by sipnat-bench\n\
         if_inbound = rlan\n\
         if_outbound = rwan\n\
         sip_listen_port = 5060\n\
         rtp_proxy_enable = 1\n\
         rtp_port_low = {low}\n\
         rtp_port_high = {high}\n\
         rtp_timeout = 300\n\
         registration_file = {}\n",
        work.join("registrations").display()
    )
}

// ------------------------------------------------------------------ sockets

/// Run `f` with this thread in network namespace `ns`, then come back.
fn in_netns<T>(ns: &str, f: impl FnOnce() -> io::Result<T>) -> Result<T, String> {
    let target =
        File::open(format!("/run/netns/{ns}")).map_err(|e| format!("/run/netns/{ns}: {e}"))?;
    let home = File::open("/proc/thread-self/ns/net").map_err(|e| format!("own netns: {e}"))?;
    // SAFETY: setns(2) with an open namespace fd; affects only this thread.
    if unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns {ns}: {}", io::Error::last_os_error()));
    }
    let r = f();
    // SAFETY: as above, back to the namespace this thread came from.
    if unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        // Carrying on in the wrong namespace would corrupt every later run.
        eprintln!("sipnat-bench: cannot return to the original network namespace");
        std::process::abort();
    }
    r.map_err(|e| format!("in {ns}: {e}"))
}

fn set_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: a c_int option value of the right size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn udp_socket(addr: SocketAddrV4, buf: i32, timestamps: bool) -> io::Result<UdpSocket> {
    let s = UdpSocket::bind(addr)?;
    let fd = s.as_raw_fd();
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, buf)?;
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, buf)?;
    if timestamps {
        set_int_opt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    }
    Ok(s)
}

/// The generator's four sockets, made inside the namespaces.
struct GenSockets {
    uac: UdpSocket,
    uas: UdpSocket,
    rtp_lan: UdpSocket,
    rtp_wan: UdpSocket,
}

fn gen_sockets(lab: &Lab) -> Result<GenSockets, String> {
    let (uac, rtp_lan) = in_netns(&lab.ns('l'), || {
        Ok((
            udp_socket(SocketAddrV4::new(PHONE_IP, UAC_PORT), SIP_SOCK_BUF, false)?,
            udp_socket(SocketAddrV4::new(PHONE_IP, RTP_PORT), RTP_SOCK_BUF, true)?,
        ))
    })?;
    let (uas, rtp_wan) = in_netns(&lab.ns('w'), || {
        Ok((
            udp_socket(SocketAddrV4::new(FAR_IP, UAS_PORT), SIP_SOCK_BUF, false)?,
            udp_socket(SocketAddrV4::new(FAR_IP, RTP_PORT), RTP_SOCK_BUF, true)?,
        ))
    })?;
    for s in [&uac, &uas] {
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
    }
    Ok(GenSockets {
        uac,
        uas,
        rtp_lan,
        rtp_wan,
    })
}

/// The SIP sockets of the LAN hosts other than the phone that send
/// REGISTERs when there are `regs` of them (hosts 1.. of
/// `bench_core::reg_host`): their addresses are added to the LAN namespace
/// and one socket is bound on each, port 5062 like the phone's.
fn reg_host_sockets(lab: &Lab, regs: u32) -> Result<Vec<(SocketAddrV4, UdpSocket)>, String> {
    let addrs: Vec<Ipv4Addr> = (1..bench_core::reg_hosts(regs))
        .map(|h| bench_core::extra_host_ip(h).ok_or("too many registering hosts"))
        .collect::<Result<_, _>>()?;
    lab.add_lan_addrs(&addrs)?;
    let socks = in_netns(&lab.ns('l'), || {
        addrs
            .iter()
            .map(|&ip| {
                let a = SocketAddrV4::new(ip, UAC_PORT);
                let s = udp_socket(a, REG_SOCK_BUF, false)?;
                s.set_nonblocking(true)?;
                Ok((a, s))
            })
            .collect::<io::Result<Vec<_>>>()
    })?;
    Ok(socks)
}

// ------------------------------------------------------------------ /proc

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// CPU seconds (user + system, all threads) process `pid` has used: its
/// process CPU clock, else `/proc/PID/stat` in clock ticks.
fn proc_cpu_s(pid: u32) -> Option<f64> {
    let mut clock: libc::clockid_t = 0;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: out-pointers to valid locals.
    let ok = unsafe {
        libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) == 0
            && libc::clock_gettime(clock, &mut ts) == 0
    };
    if ok {
        return Some(ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9);
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(bench_core::parse_stat_cpu_ticks(&stat)? as f64 / clk_tck())
}

fn peak_rss_kb(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| bench_core::parse_status_kb(&s, "VmHWM"))
        .unwrap_or(0)
}

/// The kernel's memory for the proxy's sockets: the UDP and TCP sockets of
/// its network namespace (the router's, where nothing else runs) from
/// `/proc/PID/net/sockstat`, times the slab objects one such socket takes
/// on this kernel (`/proc/slabinfo`, root only). Datagrams queued in the
/// sockets are not counted (sockstat's `mem` is the whole machine's).
fn kernel_socket_memory(pid: u32) -> (Option<u64>, Option<f64>) {
    let sockstat = fs::read_to_string(format!("/proc/{pid}/net/sockstat")).unwrap_or_default();
    let sockstat6 = fs::read_to_string(format!("/proc/{pid}/net/sockstat6")).unwrap_or_default();
    let slabinfo = fs::read_to_string("/proc/slabinfo").unwrap_or_default();
    // IPv4 sockets, and IPv6 ones (sipnat's dual-stack sockets are
    // AF_INET6: counted in sockstat6, allocated from the UDPv6/TCPv6 slabs).
    // The IPv4 counts must be there; the IPv6 ones count when present.
    let kinds = [
        (&sockstat, "UDP", "UDP", true),
        (&sockstat, "TCP", "TCP", true),
        (&sockstat6, "UDP6", "UDPv6", false),
        (&sockstat6, "TCP6", "TCPv6", false),
    ];
    let (mut sockets, mut bytes) = (Some(0u64), Some(0u64));
    for (stat, proto, slab, needed) in kinds {
        match bench_core::parse_sockstat_inuse(stat, proto) {
            Some(0) => {}
            Some(n) => {
                sockets = sockets.map(|s| s + n);
                bytes = bytes
                    .zip(bench_core::socket_slab_bytes(&slabinfo, slab))
                    .map(|(b, sb)| b + n * sb);
            }
            None if needed => return (None, None),
            None => {}
        }
    }
    (sockets, bytes.map(|b| b as f64 / 1024.0))
}

/// The per-CPU lines of `/proc/stat` now (empty when unreadable): the
/// softirq time of the system-wide CPU per packet. On a kernel without
/// `CONFIG_IRQ_TIME_ACCOUNTING` (this benchmark's machine) the columns
/// are sampled at the timer tick, in USER_HZ units ([`clk_tck`]).
fn proc_stat() -> Vec<(usize, bench_core::CpuTicks)> {
    bench_core::parse_proc_stat(&fs::read_to_string("/proc/stat").unwrap_or_default())
}

/// What a kernel-forwarding run reads of the proxy: the channels the
/// kernel carries, and, from sipnat's control socket, its handovers and
/// take-backs so far and the packets it relayed itself.
#[derive(Debug, Default, Clone, Copy)]
struct KernelState {
    channels: Option<u64>,
    handovers: Option<u64>,
    taken_back: Option<u64>,
    missed: Option<u64>,
    failed: Option<u64>,
    relayed: Option<u64>,
}

/// [`KernelState`] now: `status json` on the control socket (sipnat, and a
/// `--proxy` run with `--control {dir}/control.sock`), else the elements
/// of sipnat's nftables map in the router namespace (two per channel), else
/// nothing known.
fn kernel_state(lab: &Lab, control: &Path) -> KernelState {
    use std::io::{Read, Write};
    let status = std::os::unix::net::UnixStream::connect(control)
        .and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"status json\n")?;
            let mut a = String::new();
            s.read_to_string(&mut a)?;
            Ok(a)
        })
        .ok()
        .and_then(|a| load_core::Json::parse(&a).ok());
    if let Some(j) = status {
        let n = |path: &str| j.num(path).map(|v| v as u64);
        if let Some(channels) = n("relay.kernel.channels") {
            return KernelState {
                channels: Some(channels),
                handovers: n("relay.kernel.handovers"),
                taken_back: n("relay.kernel.taken_back"),
                missed: n("relay.kernel.missed"),
                failed: n("relay.kernel.failed"),
                relayed: n("relay.forwarded_packets"),
            };
        }
    }
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns('r'),
            "nft",
            "list",
            "map",
            "ip",
            "sipnat",
            "streams",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    KernelState {
        channels: out
            .ok()
            .and_then(|o| load_core::nft_map_elements(&String::from_utf8_lossy(&o.stdout)))
            .map(|e| e / 2),
        ..KernelState::default()
    }
}

/// After the warm-up of a kernel-forwarding run: wait until the kernel
/// carries `want` channels (sipnat hands a stream over within about a
/// second of two-way media, scanning its table in 2 s), then
/// [`HANDOVER_SETTLE`] more, so that packets relayed while the rules went
/// in are outside the window. Gives up after [`HANDOVER_WAIT`] (the result
/// then shows how many made it). Returns the time waited.
fn wait_for_handover(lab: &Lab, control: &Path, want: u64) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut last = KernelState::default();
    while t0.elapsed() < HANDOVER_WAIT {
        last = kernel_state(lab, control);
        if last.channels.is_some_and(|c| c >= want) {
            sleep_checked(HANDOVER_SETTLE)?;
            return Ok(t0.elapsed());
        }
        sleep_checked(Duration::from_millis(100))?;
    }
    eprintln!(
        "sipnat-bench: only {} of {want} channels in the kernel after {} s more warm-up; measuring anyway",
        last.channels.map_or("?".to_string(), |c| c.to_string()),
        HANDOVER_WAIT.as_secs()
    );
    Ok(t0.elapsed())
}

/// CLOCK_MONOTONIC in seconds: the clock of `perf record -k CLOCK_MONOTONIC`.
fn monotonic_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: out-pointer to a valid local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// `--perf`: sample every CPU (`-a`) with the `cpu-clock` software event
/// every [`PERF_PERIOD_NS`], with kernel call chains (enough to tell
/// softirq from the rest) and CLOCK_MONOTONIC time stamps, into `data`.
fn start_perf(data: &Path, log: &Path) -> Result<Child, String> {
    let log = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    Command::new("perf")
        .args([
            "record",
            "-a",
            "-g",
            "--kernel-callchains",
            "-k",
            "CLOCK_MONOTONIC",
        ])
        .args(["-e", "cpu-clock", "-c", &PERF_PERIOD_NS.to_string(), "-o"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start perf: {e}"))
}

/// Stop `perf record` (SIGINT: it writes its file and exits).
fn stop_perf(mut perf: Child) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    // SAFETY: kill(2) of our own child, not reaped yet.
    unsafe { libc::kill(perf.id() as libc::pid_t, libc::SIGINT) };
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        match perf.try_wait() {
            // perf writes its file, then dies of the SIGINT it was sent
            Ok(Some(st)) if st.success() || st.signal() == Some(libc::SIGINT) => return Ok(()),
            Ok(Some(st)) => return Err(format!("perf record failed ({st})")),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                stop_child(&mut perf, Duration::ZERO);
                return Err("perf record did not stop".into());
            }
        }
    }
}

/// The samples of `data` between `from` and `to` (CLOCK_MONOTONIC s),
/// split by [`bench_core::perf_split`].
fn perf_samples(
    data: &Path,
    (from, to): (f64, f64),
    proxy: u32,
    generator: u32,
) -> Result<bench_core::PerfSplit, String> {
    let out = Command::new("perf")
        .args(["script", "-F", "pid,cpu,time,ip,sym", "--ns", "--time"])
        .arg(format!("{from:.9},{to:.9}"))
        .arg("-i")
        .arg(data)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run perf script: {e}"))?;
    if !out.status.success() {
        return Err(format!("perf script failed ({})", out.status));
    }
    Ok(bench_core::perf_split(
        &String::from_utf8_lossy(&out.stdout),
        proxy,
        generator,
    ))
}

fn binary_bytes(pid: u32) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/exe"))
        .ok()
        .map(|m| m.len())
}

// ------------------------------------------------------------------ SIP

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Inviting,
    Confirmed,
    Byeing,
    Done,
    Failed,
}

struct Call {
    idx: u32,
    call_id: String,
    from_tag: String,
    phase: Phase,
    retx: Option<Retx>,
    to_hdr: String,
    target: String,
    route: Vec<String>,
    ack: Option<Vec<u8>>,
    /// Where the phone sends RTP (the answer's c=/m=, e.g. 10.77.1.1:R).
    lan_relay: Option<SocketAddrV4>,
    /// Where the far end sends RTP (the offer the UAS saw, 198.51.100.1:R).
    wan_relay: Option<SocketAddrV4>,
    /// UAS side: its To tag, its last response, 2xx retransmission until ACK.
    uas_tag: String,
    uas_last: Option<Vec<u8>>,
    uas_retx: Option<Retx>,
    uas_acked: bool,
    why: String,
}

struct Reg {
    call_id: String,
    /// The LAN host that sends it (0: the phone), `bench_core::reg_host`.
    host: usize,
    retx: Option<Retx>,
    done: bool,
    ok: bool,
    /// Why it failed: the final response, or the timeout.
    why: String,
}

/// The in-process SIP phone (UAC on the LAN socket) and far end (UAS on the
/// WAN socket), talking through the proxy at 10.77.1.1:5060; for
/// registrations also the other LAN hosts, one socket each.
struct Sip<'a> {
    uac: &'a UdpSocket,
    uas: &'a UdpSocket,
    /// LAN hosts 1.. of the registrations (host 0 is the phone, `uac`).
    hosts: &'a [(SocketAddrV4, UdpSocket)],
    proxy: SocketAddr,
    tag: String,
    calls: Vec<Call>,
    regs: Vec<Reg>,
    by_id: HashMap<String, usize>,
    reg_by_id: HashMap<String, usize>,
    branches: u64,
    buf: Vec<u8>,
    log: String,
}

impl<'a> Sip<'a> {
    fn new(
        uac: &'a UdpSocket,
        uas: &'a UdpSocket,
        hosts: &'a [(SocketAddrV4, UdpSocket)],
    ) -> Sip<'a> {
        Sip {
            uac,
            uas,
            hosts,
            proxy: SocketAddr::V4(SocketAddrV4::new(ROUTER_LAN, 5060)),
            tag: format!("{:x}{:x}", std::process::id(), now_ns() & 0xff_ffff),
            calls: Vec::new(),
            regs: Vec::new(),
            by_id: HashMap::new(),
            reg_by_id: HashMap::new(),
            branches: 0,
            buf: vec![0; 65536],
            log: String::new(),
        }
    }

    /// LAN host `h`'s address and socket (0: the phone).
    fn lan(&self, h: usize) -> (SocketAddrV4, &'a UdpSocket) {
        lan_host(self.uac, self.hosts, h)
    }

    fn branch(&mut self) -> String {
        self.branches += 1;
        format!("z9hG4bK-bn{}-{}", self.tag, self.branches)
    }

    /// A UAC request from `local` (RFC 3261 §8.1.1): Via with rport (RFC
    /// 3581 §3).
    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        local: SocketAddrV4,
        method: &str,
        uri: &str,
        branch: &str,
        route: &[String],
        from: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
        contact: Option<&str>,
        extra: &str,
        body: &[u8],
    ) -> Vec<u8> {
        let mut s = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n"
        );
        for r in route {
            let _ = write!(s, "Route: {r}\r\n");
        }
        let _ = write!(
            s,
            "From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
        );
        if let Some(c) = contact {
            let _ = write!(s, "Contact: {c}\r\n");
        }
        s.push_str(extra);
        if !body.is_empty() {
            s.push_str("Content-Type: application/sdp\r\n");
        }
        let _ = write!(
            s,
            "User-Agent: sipnat-bench\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut b = s.into_bytes();
        b.extend_from_slice(body);
        b
    }

    fn send_uac(&self, bytes: &[u8]) {
        let _ = self.uac.send_to(bytes, self.proxy);
    }

    // ---- the event loop

    /// Wait up to `timeout` for datagrams, then handle every one queued.
    fn pump(&mut self, timeout: Duration) {
        let mut fds: Vec<libc::pollfd> = std::iter::once(self.uas)
            .chain((0..=self.hosts.len()).map(|h| self.lan(h).1))
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = timeout.as_millis().min(100) as libc::c_int;
        // SAFETY: `fds.len()` valid pollfd entries.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        let now = Instant::now();
        for h in 0..=self.hosts.len() {
            let sock = self.lan(h).1;
            for _ in 0..256 {
                match sock.recv_from(&mut self.buf) {
                    Ok((n, src)) => {
                        if let Some(m) = SipMsg::parse(&self.buf[..n]) {
                            self.on_uac(&m, src, sock);
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        for _ in 0..256 {
            match self.uas.recv_from(&mut self.buf) {
                Ok((n, src)) => {
                    if let Some(m) = SipMsg::parse(&self.buf[..n]) {
                        self.on_uas(&m, src, now);
                    }
                }
                Err(_) => break,
            }
        }
    }

    /// Retransmissions and timeouts; returns the earliest next timer.
    fn timers(&mut self, now: Instant) -> Instant {
        let mut next = now + Duration::from_millis(100);
        for i in 0..self.calls.len() {
            let c = &mut self.calls[i];
            if let Some(r) = c.retx.as_mut() {
                if r.poll(now, self.uac) {
                    next = next.min(r.due());
                } else {
                    let what = if c.phase == Phase::Byeing {
                        "BYE"
                    } else {
                        "INVITE"
                    };
                    c.retx = None;
                    fail(c, format!("{what}: no final response within 32 s"));
                }
            }
            if let Some(r) = c.uas_retx.as_mut() {
                if r.poll(now, self.uas) {
                    next = next.min(r.due());
                } else {
                    c.uas_retx = None;
                    fail(c, "far end: no ACK for its 200 within 32 s".into());
                }
            }
        }
        let (uac, hosts) = (self.uac, self.hosts);
        for r in &mut self.regs {
            if let Some(x) = r.retx.as_mut() {
                if x.poll(now, lan_host(uac, hosts, r.host).1) {
                    next = next.min(x.due());
                } else {
                    r.retx = None;
                    r.done = true;
                    r.why = "no final response within 32 s".into();
                }
            }
        }
        next
    }

    /// Messages on a LAN host's socket `sock` (the phone's, or another
    /// registering host's): responses to its requests, or a request from
    /// the far end (answered 200).
    fn on_uac(&mut self, m: &SipMsg, src: SocketAddr, sock: &UdpSocket) {
        let Some(id) = m.call_id() else { return };
        if m.method().is_some() {
            if m.method() != Some("ACK") {
                let r = m.response(200, "OK", "", &[], b"");
                let _ = sock.send_to(&r, src);
            }
            return;
        }
        let (Some(code), Some((_, method))) = (m.code(), m.cseq()) else {
            return;
        };
        if let Some(&j) = self.reg_by_id.get(id) {
            let r = &mut self.regs[j];
            if code >= 200 && !r.done {
                r.done = true;
                r.ok = code < 300;
                r.retx = None;
                if !r.ok {
                    r.why = format!("answered {code}");
                }
            }
            return;
        }
        let Some(&i) = self.by_id.get(id) else { return };
        match (method.as_str(), code) {
            ("INVITE", 100..=199) => {
                if let Some(r) = self.calls[i].retx.as_mut() {
                    r.on_provisional();
                }
            }
            ("INVITE", 200..=299) => {
                if let Some(ack) = &self.calls[i].ack {
                    self.send_uac(ack); // a retransmitted 2xx: ACK again (§13.2.2.4)
                    return;
                }
                if self.calls[i].phase != Phase::Inviting {
                    return;
                }
                let c = &mut self.calls[i];
                c.retx = None;
                c.to_hdr = m.header("to").unwrap_or("").to_string();
                let contact = m.header("contact").map(uri_of).unwrap_or("").to_string();
                if !contact.is_empty() {
                    c.target = contact;
                }
                // the UAC's route set: Record-Route reversed (§12.1.2)
                c.route = m.header_list("record-route").into_iter().rev().collect();
                c.lan_relay = parse_sdp(&m.body).and_then(|s| s.rtp_v4());
                let branch = self.branch();
                let c = &self.calls[i];
                let from = format!("<sip:alice{}@{PHONE_IP}>;tag={}", c.idx, c.from_tag);
                let ack = self.request(
                    PHONE, "ACK", &c.target, &branch, &c.route, &from, &c.to_hdr, &c.call_id, 1,
                    None, "", b"",
                );
                self.send_uac(&ack);
                let c = &mut self.calls[i];
                c.ack = Some(ack);
                if c.lan_relay.is_some() {
                    c.phase = Phase::Confirmed;
                } else {
                    fail(c, "200 to INVITE without a usable SDP answer".into());
                }
            }
            ("INVITE", _) => {
                // ACK of a non-2xx final response: same branch (§17.1.1.3)
                if self.calls[i].phase != Phase::Inviting {
                    return;
                }
                let c = &self.calls[i];
                let branch = self.branch_of_invite(i);
                let from = format!("<sip:alice{}@{PHONE_IP}>;tag={}", c.idx, c.from_tag);
                let to = m.header("to").unwrap_or("").to_string();
                let uri = format!("sip:bob{}@{FAR_IP}", c.idx);
                let ack = self.request(
                    PHONE,
                    "ACK",
                    &uri,
                    &branch,
                    &[],
                    &from,
                    &to,
                    &c.call_id,
                    1,
                    None,
                    "",
                    b"",
                );
                self.send_uac(&ack);
                let c = &mut self.calls[i];
                c.retx = None;
                fail(c, format!("INVITE answered {code}"));
            }
            ("BYE", 100..=199) => {}
            ("BYE", _) => {
                let c = &mut self.calls[i];
                if c.phase == Phase::Byeing {
                    c.retx = None;
                    if code < 300 {
                        c.phase = Phase::Done;
                    } else {
                        fail(c, format!("BYE answered {code}"));
                    }
                }
            }
            _ => {}
        }
    }

    /// The INVITE's branch is kept in its retransmission bytes; rebuild it
    /// from there (the only place it is stored).
    fn branch_of_invite(&self, i: usize) -> String {
        let c = &self.calls[i];
        c.retx
            .as_ref()
            .and_then(|r| SipMsg::parse(r.bytes()))
            .and_then(|m| {
                m.header("via")
                    .and_then(|v| load_core::param(v, "branch"))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| format!("z9hG4bK-bn{}-inv{}", self.tag, c.idx))
    }

    /// Requests on the far end's socket (responses there are strays).
    fn on_uas(&mut self, m: &SipMsg, src: SocketAddr, now: Instant) {
        let Some(method) = m.method() else { return };
        // The proxy may rewrite the Call-ID (sipnat hides the LAN address
        // in it): the far end knows a call by its To user, bob<index>.
        let id = m.call_id().unwrap_or("").to_string();
        let call = m
            .header("to")
            .map(uri_of)
            .and_then(|u| u.strip_prefix("sip:bob"))
            .and_then(|u| u.split('@').next())
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&i| i < self.calls.len());
        match method {
            "REGISTER" => {
                let contact = m.header("contact").unwrap_or("*").to_string();
                let extra = [
                    format!("Contact: {contact};expires=3600"),
                    "Expires: 3600".to_string(),
                ];
                let r = m.response(200, "OK", &format!("r{}", self.tag), &extra, b"");
                let _ = self.uas.send_to(&r, src);
            }
            "INVITE" => {
                let Some(i) = call else {
                    let _ = writeln!(self.log, "far end: INVITE of an unknown call {id:?}");
                    let r = m.response(404, "Not Found", &format!("n{}", self.tag), &[], b"");
                    let _ = self.uas.send_to(&r, src);
                    return;
                };
                if let Some(last) = &self.calls[i].uas_last {
                    let _ = self.uas.send_to(last, src); // retransmission
                    return;
                }
                let c = &mut self.calls[i];
                c.wan_relay = parse_sdp(&m.body).and_then(|s| s.rtp_v4());
                let contact = format!("Contact: <sip:bob{}@{FAR_IP}:{UAS_PORT}>", c.idx);
                let ringing = m.response(
                    180,
                    "Ringing",
                    &c.uas_tag,
                    std::slice::from_ref(&contact),
                    b"",
                );
                let _ = self.uas.send_to(&ringing, src);
                let body = sdp_body(FAR_IP, RTP_PORT, 2000 + u64::from(c.idx), 1, Dir::SendRecv);
                let ok = m.response(200, "OK", &c.uas_tag, &[contact], body.as_bytes());
                let _ = self.uas.send_to(&ok, src);
                c.uas_retx = Some(Retx::new(ok.clone(), src, now, false));
                c.uas_last = Some(ok);
            }
            "ACK" => {
                if let Some(i) = call {
                    let c = &mut self.calls[i];
                    c.uas_acked = true;
                    c.uas_retx = None;
                }
            }
            _ => {
                let r = m.response(200, "OK", &format!("o{}", self.tag), &[], b"");
                let _ = self.uas.send_to(&r, src);
            }
        }
    }

    // ---- phases

    /// `n` REGISTERs (users reg0..), at most [`MAX_OUTSTANDING`] at once,
    /// each from the LAN host `bench_core::reg_host` gives it (reg0 to reg31
    /// from the phone, then 32 from each of `hosts`): Via, Contact and
    /// Call-ID carry that host's address and it is sent from its socket, so
    /// the answer comes back there. Returns how many failed.
    fn register(&mut self, n: u32) -> Result<u32, String> {
        let need = bench_core::reg_hosts(n) as usize;
        if need > self.hosts.len() + 1 {
            return Err(format!(
                "{n} REGISTERs need {need} LAN hosts, this run has {}",
                self.hosts.len() + 1
            ));
        }
        let mut sent = 0u32;
        loop {
            if interrupted() {
                return Err("interrupted".into());
            }
            let now = Instant::now();
            let outstanding = self.regs.iter().filter(|r| !r.done).count();
            let mut room = MAX_OUTSTANDING.saturating_sub(outstanding);
            while room > 0 && sent < n {
                let j = sent;
                let host = bench_core::reg_host(j) as usize;
                let (local, sock) = self.lan(host);
                let call_id = format!("reg{j}-{}@{}", self.tag, local.ip());
                let branch = self.branch();
                let from = format!("<sip:reg{j}@{FAR_IP}>;tag=r{j}{}", self.tag);
                let to = format!("<sip:reg{j}@{FAR_IP}>");
                let contact = format!("<sip:reg{j}@{local}>");
                let req = self.request(
                    local,
                    "REGISTER",
                    &format!("sip:{FAR_IP}"),
                    &branch,
                    &[],
                    &from,
                    &to,
                    &call_id,
                    1,
                    Some(&contact),
                    "Expires: 3600\r\n",
                    b"",
                );
                let _ = sock.send_to(&req, self.proxy);
                self.reg_by_id.insert(call_id.clone(), self.regs.len());
                self.regs.push(Reg {
                    call_id,
                    host,
                    retx: Some(Retx::new(req, self.proxy, now, false)),
                    done: false,
                    ok: false,
                    why: String::new(),
                });
                sent += 1;
                room -= 1;
            }
            if sent == n && self.regs.iter().all(|r| r.done) {
                break;
            }
            let next = self.timers(now);
            self.pump(next.saturating_duration_since(Instant::now()));
        }
        let failed = self.regs.iter().filter(|r| !r.ok).count() as u32;
        if failed > 0 {
            let _ = writeln!(self.log, "{failed} of {n} REGISTERs failed; the first:");
            for r in self.regs.iter().filter(|r| !r.ok).take(5) {
                let _ = writeln!(self.log, "  REGISTER {}: {}", r.call_id, r.why);
            }
        }
        Ok(failed)
    }

    /// Place `n` calls at `rate` per second; returns when every call is
    /// confirmed on both sides or failed.
    fn invite(&mut self, n: u32, rate: u32) -> Result<(), String> {
        let t0 = Instant::now();
        let spacing = Duration::from_secs_f64(1.0 / f64::from(rate));
        loop {
            if interrupted() {
                return Err("interrupted".into());
            }
            let now = Instant::now();
            while (self.calls.len() as u32) < n && now >= t0 + spacing * self.calls.len() as u32 {
                self.place(self.calls.len() as u32, now);
            }
            let placed = self.calls.len() as u32 == n;
            let settled = self.calls.iter().all(|c| match c.phase {
                Phase::Confirmed => c.uas_acked,
                Phase::Failed => true,
                _ => false,
            });
            if placed && settled {
                return Ok(());
            }
            let mut next = self.timers(now);
            if !placed {
                next = next.min(t0 + spacing * self.calls.len() as u32);
            }
            self.pump(next.saturating_duration_since(Instant::now()));
        }
    }

    fn place(&mut self, idx: u32, now: Instant) {
        let call_id = format!("c{idx}-{}@{PHONE_IP}", self.tag);
        let from_tag = format!("f{idx}{}", self.tag);
        let branch = self.branch();
        let target = format!("sip:bob{idx}@{FAR_IP}");
        let to = format!("<{target}>");
        let from = format!("<sip:alice{idx}@{PHONE_IP}>;tag={from_tag}");
        let contact = format!("<sip:alice{idx}@{PHONE_IP}:{UAC_PORT}>");
        let body = sdp_body(PHONE_IP, RTP_PORT, 1000 + u64::from(idx), 1, Dir::SendRecv);
        let req = self.request(
            PHONE,
            "INVITE",
            &target,
            &branch,
            &[],
            &from,
            &to,
            &call_id,
            1,
            Some(&contact),
            "",
            body.as_bytes(),
        );
        self.send_uac(&req);
        self.by_id.insert(call_id.clone(), self.calls.len());
        self.calls.push(Call {
            idx,
            call_id,
            from_tag,
            phase: Phase::Inviting,
            retx: Some(Retx::new(req, self.proxy, now, true)),
            to_hdr: to,
            target,
            route: Vec::new(),
            ack: None,
            lan_relay: None,
            wan_relay: None,
            uas_tag: format!("u{idx}{}", self.tag),
            uas_last: None,
            uas_retx: None,
            uas_acked: false,
            why: String::new(),
        });
    }

    /// BYE every confirmed call (at most [`MAX_OUTSTANDING`] at once) and
    /// wait for the answers; returns how many calls failed in all (setup or
    /// teardown).
    fn bye(&mut self) -> Result<u32, String> {
        let mut queue: Vec<usize> = (0..self.calls.len())
            .filter(|&i| self.calls[i].phase == Phase::Confirmed)
            .rev()
            .collect();
        loop {
            if interrupted() {
                return Err("interrupted".into());
            }
            let now = Instant::now();
            let outstanding = self
                .calls
                .iter()
                .filter(|c| c.phase == Phase::Byeing)
                .count();
            for _ in outstanding..MAX_OUTSTANDING {
                let Some(i) = queue.pop() else { break };
                let branch = self.branch();
                let c = &self.calls[i];
                let from = format!("<sip:alice{}@{PHONE_IP}>;tag={}", c.idx, c.from_tag);
                let req = self.request(
                    PHONE, "BYE", &c.target, &branch, &c.route, &from, &c.to_hdr, &c.call_id, 2,
                    None, "", b"",
                );
                self.send_uac(&req);
                let c = &mut self.calls[i];
                c.phase = Phase::Byeing;
                c.retx = Some(Retx::new(req, self.proxy, now, false));
            }
            if queue.is_empty()
                && self
                    .calls
                    .iter()
                    .all(|c| matches!(c.phase, Phase::Done | Phase::Failed))
            {
                break;
            }
            let next = self.timers(now);
            self.pump(next.saturating_duration_since(Instant::now()));
        }
        Ok(self.failed())
    }

    fn failed(&self) -> u32 {
        self.calls
            .iter()
            .filter(|c| c.phase == Phase::Failed)
            .count() as u32
    }

    /// Why calls failed (the first few), for the log.
    fn failures(&self) -> String {
        let mut s = String::new();
        for c in self
            .calls
            .iter()
            .filter(|c| c.phase == Phase::Failed)
            .take(5)
        {
            let _ = writeln!(s, "  call {} ({}): {}", c.idx, c.call_id, c.why);
        }
        s
    }
}

/// LAN host `h`'s SIP address and socket: 0 is the phone (`uac`), h >= 1
/// is `hosts[h - 1]`.
fn lan_host<'a>(
    uac: &'a UdpSocket,
    hosts: &'a [(SocketAddrV4, UdpSocket)],
    h: usize,
) -> (SocketAddrV4, &'a UdpSocket) {
    match h.checked_sub(1) {
        None => (PHONE, uac),
        Some(i) => (hosts[i].0, &hosts[i].1), // i < hosts.len(): register() checks
    }
}

fn fail(c: &mut Call, why: String) {
    if c.phase != Phase::Failed {
        c.phase = Phase::Failed;
        c.why = why;
        c.uas_retx = None;
    }
}

// ------------------------------------------------------------------ media

/// One call's media: where each leg sends (the relay addresses).
#[derive(Clone, Copy, Debug)]
struct Flow {
    call: u32,
    /// The phone sends here (LAN side of the relay).
    lan_dst: SocketAddrV4,
    /// The far end sends here (WAN side of the relay).
    wan_dst: SocketAddrV4,
}

/// The measurement window in CLOCK_REALTIME ns; `u64::MAX` = not yet.
struct Window {
    start: AtomicU64,
    end: AtomicU64,
}

impl Window {
    fn new() -> Window {
        Window {
            start: AtomicU64::new(u64::MAX),
            end: AtomicU64::new(u64::MAX),
        }
    }

    fn contains(&self, ns: u64) -> bool {
        ns >= self.start.load(Relaxed) && ns < self.end.load(Relaxed)
    }
}

fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn from_sockaddr_in(s: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
        u16::from_be(s.sin_port),
    )
}

#[derive(Default)]
struct SendStats {
    /// Packets sent per (call, direction): index call * 2 + dir.
    sent: Vec<u64>,
    offered_in_window: u64,
    late: u64,
    errors: u64,
}

/// Packets queued for one sendmmsg on one socket.
struct TxBatch {
    bufs: Vec<[u8; MAX_PKT]>,
    dst: Vec<libc::sockaddr_in>,
    who: Vec<usize>,
    n: usize,
    len: usize,
}

impl TxBatch {
    fn new(len: usize) -> TxBatch {
        TxBatch {
            bufs: vec![[0; MAX_PKT]; BATCH],
            dst: vec![sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); BATCH],
            who: vec![0; BATCH],
            n: 0,
            len,
        }
    }

    fn push(&mut self, st: &Stamp, dst: SocketAddrV4) {
        let j = self.n;
        bench_core::write_packet(&mut self.bufs[j], st, self.len);
        self.dst[j] = sockaddr_in(dst);
        self.who[j] = st.call as usize * 2 + usize::from(st.dir);
        self.n += 1;
    }

    /// Stamp the send time into every queued packet and send them all.
    fn flush(&mut self, fd: RawFd, win: &Window, stats: &mut SendStats) {
        if self.n == 0 {
            return;
        }
        // SAFETY: all-zero is a valid iovec / mmsghdr (null pointers, zero lengths).
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut hdr: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        let now = now_ns();
        for j in 0..self.n {
            bench_core::set_sent_ns(&mut self.bufs[j][..self.len], now);
            iov[j] = libc::iovec {
                iov_base: self.bufs[j].as_mut_ptr().cast(),
                iov_len: self.len,
            };
            hdr[j].msg_hdr.msg_name = (&mut self.dst[j] as *mut libc::sockaddr_in).cast();
            hdr[j].msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdr[j].msg_hdr.msg_iov = &mut iov[j];
            hdr[j].msg_hdr.msg_iovlen = 1;
        }
        let in_window = win.contains(now);
        let mut off = 0;
        while off < self.n {
            // SAFETY: hdr[off..n] point at live buffers, addresses and iovecs.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    hdr.as_mut_ptr().add(off),
                    (self.n - off) as libc::c_uint,
                    0,
                )
            };
            if r < 0 {
                if io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                    continue;
                }
                stats.errors += 1;
                off += 1; // this datagram is not sent; try the rest
                continue;
            }
            for j in off..off + r as usize {
                if let Some(s) = stats.sent.get_mut(self.who[j]) {
                    *s += 1;
                }
                if in_window {
                    stats.offered_in_window += 1;
                }
            }
            off += (r as usize).max(1);
        }
        self.n = 0;
    }
}

/// The RTP sender: call position p of n, direction d, packet k is due at
/// t0 + (k + p/n) / pps; both directions at once, sent in sendmmsg batches
/// (LAN leg from the phone's socket, WAN leg from the far end's).
fn sender(
    socks: &GenSockets,
    flows: &[Flow],
    ncalls: usize,
    pps: u32,
    len: usize,
    win: &Window,
    stop: &AtomicBool,
) -> SendStats {
    let mut stats = SendStats {
        sent: vec![0; ncalls * 2],
        ..SendStats::default()
    };
    let n = flows.len() as u64;
    if n == 0 {
        return stats;
    }
    let (lan, wan) = (socks.rtp_lan.as_raw_fd(), socks.rtp_wan.as_raw_fd());
    let per_s = n as f64 * f64::from(pps);
    let (mut bl, mut bw) = (TxBatch::new(len), TxBatch::new(len));
    let t0 = Instant::now();
    let mut e: u64 = 0; // next event: packet k = e / n of flow e % n
    let due = |e: u64| t0 + Duration::from_secs_f64(e as f64 / per_s);
    while !stop.load(Relaxed) {
        let now = Instant::now();
        let upto = ((now - t0).as_secs_f64() * per_s) as u64 + 1;
        while e < upto && !stop.load(Relaxed) {
            let f = &flows[(e % n) as usize];
            let counter = (e / n) as u32;
            if now.saturating_duration_since(due(e)) > LATE {
                stats.late += 2;
            }
            for (dir, dst, batch) in [(0u8, f.lan_dst, &mut bl), (1u8, f.wan_dst, &mut bw)] {
                let st = Stamp {
                    call: f.call,
                    dir,
                    counter,
                    sent_ns: 0,
                };
                batch.push(&st, dst);
            }
            e += 1;
            if bl.n == BATCH {
                bl.flush(lan, win, &mut stats);
                bw.flush(wan, win, &mut stats);
            }
        }
        bl.flush(lan, win, &mut stats);
        bw.flush(wan, win, &mut stats);
        let next = due(e);
        let now = Instant::now();
        if next > now {
            std::thread::sleep((next - now).min(Duration::from_millis(20)));
        }
    }
    stats
}

struct RecvStats {
    trackers: Vec<SeqTracker>,
    hist: Histogram,
    delivered_in_window: u64,
    wrong_source: u64,
    foreign: u64,
}

/// The RTP receiver: both sockets, recvmmsg batches, kernel receive times.
/// `expect[call]` = the relay address each direction must come from
/// (direction 0 arrives at the far end's socket from the WAN side, 1 at the
/// phone's from the LAN side).
fn receiver(
    lan: &UdpSocket,
    wan: &UdpSocket,
    expect: &[Option<[SocketAddrV4; 2]>],
    win: &Window,
    stop: &AtomicBool,
) -> RecvStats {
    let mut st = RecvStats {
        trackers: (0..expect.len() * 2)
            .map(|_| SeqTracker::default())
            .collect(),
        hist: Histogram::new(),
        delivered_in_window: 0,
        wrong_source: 0,
        foreign: 0,
    };
    let mut bufs = vec![[0u8; 2048]; BATCH];
    // SAFETY: all-zero is a valid sockaddr_in / iovec / mmsghdr.
    let mut names: Vec<libc::sockaddr_in> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut ctrl = vec![[0u64; 16]; BATCH];
    let mut iov: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut hdr: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    for j in 0..BATCH {
        iov[j] = libc::iovec {
            iov_base: bufs[j].as_mut_ptr().cast(),
            iov_len: 2048,
        };
    }
    let socks = [(wan.as_raw_fd(), 0u8), (lan.as_raw_fd(), 1u8)];
    let mut stopping = false;
    loop {
        if stop.load(Relaxed) {
            stopping = true; // one last non-blocking drain below
        }
        let mut fds = socks.map(|(fd, _)| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: two valid pollfd entries.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, if stopping { 0 } else { 20 }) };
        for &(fd, want_dir) in &socks {
            loop {
                for j in 0..BATCH {
                    let h = &mut hdr[j].msg_hdr;
                    h.msg_name = (&mut names[j] as *mut libc::sockaddr_in).cast();
                    h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                    h.msg_iov = &mut iov[j];
                    h.msg_iovlen = 1;
                    h.msg_control = ctrl[j].as_mut_ptr().cast();
                    h.msg_controllen = size_of::<[u64; 16]>() as _;
                    h.msg_flags = 0;
                    hdr[j].msg_len = 0;
                }
                // SAFETY: every header points at live buffers of the stated sizes.
                let r = unsafe {
                    libc::recvmmsg(
                        fd,
                        hdr.as_mut_ptr(),
                        BATCH as libc::c_uint,
                        libc::MSG_DONTWAIT,
                        std::ptr::null_mut(),
                    )
                };
                if r <= 0 {
                    break;
                }
                let fallback = now_ns();
                for j in 0..r as usize {
                    let len = (hdr[j].msg_len as usize).min(2048);
                    let rx_ns = rx_timestamp(&hdr[j].msg_hdr).unwrap_or(fallback);
                    let src = from_sockaddr_in(&names[j]);
                    let Some(s) = bench_core::read_stamp(&bufs[j][..len]) else {
                        st.foreign += 1;
                        continue;
                    };
                    let (call, dir) = (s.call as usize, usize::from(s.dir));
                    let Some(Some(exp)) = expect.get(call) else {
                        st.foreign += 1;
                        continue;
                    };
                    if dir > 1 {
                        st.foreign += 1;
                        continue;
                    }
                    if s.dir != want_dir || exp[dir] != src {
                        st.wrong_source += 1;
                    }
                    let arrival = st.trackers[call * 2 + dir].record(s.counter);
                    if arrival != bench_core::Arrival::Duplicate && win.contains(s.sent_ns) {
                        st.delivered_in_window += 1;
                        st.hist.record(rx_ns.saturating_sub(s.sent_ns));
                    }
                }
                if (r as usize) < BATCH {
                    break;
                }
            }
        }
        if stopping {
            return st;
        }
    }
}

/// The SCM_TIMESTAMPNS time of a received datagram, in ns.
fn rx_timestamp(h: &libc::msghdr) -> Option<u64> {
    // SAFETY: `h` was filled by recvmmsg; the CMSG macros stay inside
    // msg_control/msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

// ------------------------------------------------------------------ runs

/// What every run needs.
struct Ctx {
    opts: Opts,
    topo: PathBuf,
    exe: PathBuf,
    out: PathBuf,
}

/// A run's work directory under OUT/runs; removed after success unless --keep.
fn work_dir(ctx: &Ctx, name: &str) -> Result<PathBuf, String> {
    let w = ctx.out.join("runs").join(name);
    let _ = fs::remove_dir_all(&w);
    fs::create_dir_all(&w).map_err(|e| format!("{}: {e}", w.display()))?;
    Ok(w)
}

fn finish_work_dir(ctx: &Ctx, work: &Path, ok: bool) {
    if ok && !ctx.opts.keep {
        let _ = fs::remove_dir_all(work);
        let _ = fs::remove_dir(ctx.out.join("runs")); // only when empty
    } else if !ok {
        eprintln!("sipnat-bench: work directory kept: {}", work.display());
    }
}

fn relay_high(calls: u32) -> u16 {
    (u32::from(RELAY_LOW) + 4 * calls + 99).min(65535) as u16
}

/// `--status-rate`: ask the proxy `status json` on its control socket
/// `rate` times a second while the measurement window is open, as the rpcd
/// plugin and LuCI do (far more often). Returns the answers that were a
/// status object, the failures (no socket, no answer, something else),
/// and the slowest answer.
fn ask_status(control: &Path, rate: u32, win: &Window, stop: &AtomicBool) -> (u64, u64, Duration) {
    use std::io::{Read, Write};
    let (mut ok, mut failed, mut slowest) = (0, 0, Duration::ZERO);
    let period = Duration::from_secs(1) / rate;
    let mut next = Instant::now();
    while !stop.load(Relaxed) {
        let (start, end) = (win.start.load(Relaxed), win.end.load(Relaxed));
        if start != u64::MAX && end == u64::MAX {
            let t0 = Instant::now();
            let answer = std::os::unix::net::UnixStream::connect(control).and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(b"status json\n")?;
                let mut a = String::new();
                s.read_to_string(&mut a)?;
                Ok(a)
            });
            slowest = slowest.max(t0.elapsed());
            match answer {
                Ok(a) if a.starts_with("{\"schema\":1,") && a.ends_with("}\n") => ok += 1,
                _ => failed += 1,
            }
        }
        next += period;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    (ok, failed, slowest)
}

/// A SIP proxy's relay port range: `range`, else 20000 to 20000 + 4 calls + 99.
type Range = Option<(u16, u16)>;

fn media_run(
    ctx: &Ctx,
    p: &Proxy,
    calls: u32,
    regs: u32,
    range: Range,
) -> Result<MediaRun, String> {
    let name = if regs > 0 {
        format!("media-{}-{calls}c-{regs}r", p.name)
    } else {
        format!("media-{}-{calls}c", p.name)
    };
    let work = work_dir(ctx, &name)?;
    eprintln!("sipnat-bench: {name}: starting");
    let r = media_run_in(ctx, p, calls, regs, range, &work);
    finish_work_dir(ctx, &work, r.is_ok());
    let r = r.map_err(|e| format!("{name}: {e}"));
    if let Ok(run) = &r {
        let kernel = match (run.kernel_forward, run.kernel_channels) {
            (false, _) => String::new(),
            (true, c) => format!(
                ", {} of {} channels in the kernel (handovers {}, missed {}, failed {})",
                c.map_or("?".into(), |c| c.to_string()),
                calls,
                run.kernel_handovers.map_or("?".into(), |c| c.to_string()),
                run.kernel_missed.map_or("?".into(), |c| c.to_string()),
                run.kernel_failed.map_or("?".into(), |c| c.to_string()),
            ),
        };
        eprintln!(
            "sipnat-bench: {name}: {:.0} pps delivered, loss {:.3} %, p99 {:.0} µs, {:.0} ns CPU/packet, {:.0} system-wide{kernel}",
            run.delivered_pps,
            run.loss_pct,
            run.lat_p99_us,
            run.cpu_ns_per_pkt,
            run.sys_cpu_ns_per_pkt
        );
    }
    r
}

fn media_run_in(
    ctx: &Ctx,
    p: &Proxy,
    calls: u32,
    regs: u32,
    range: Range,
    work: &Path,
) -> Result<MediaRun, String> {
    let o = &ctx.opts;
    let high = relay_high(calls);
    let mut lab = Lab::up(&ctx.topo, work)?;
    // --kernel-forward: the router forwards IP, so sipnat may hand the
    // streams to the kernel; the null relay stays the userspace floor
    let kernel_forward = o.kernel_forward && matches!(p.kind, ProxyKind::Sip(_));
    if kernel_forward {
        lab.sysctl('r', "net.ipv4.ip_forward=1")?;
    }
    if matches!(p.kind, ProxyKind::Sip(_)) {
        let (low, high) = range.unwrap_or((RELAY_LOW, high));
        fs::write(work.join("proxy.conf"), proxy_conf(work, low, high))
            .map_err(|e| format!("proxy.conf: {e}"))?;
    }
    lab.start_proxy(p, high, &ctx.exe)?;
    let pid = lab.pid;
    let socks = gen_sockets(&lab)?;
    // the other LAN hosts that register (none for the null relay)
    let hosts = match p.kind {
        ProxyKind::Sip(_) => reg_host_sockets(&lab, regs)?,
        ProxyKind::Null { .. } => Vec::new(),
    };
    let mut run = MediaRun {
        proxy: p.name.clone(),
        calls,
        pps: o.pps,
        payload: o.payload,
        registrations: regs,
        kernel_forward,
        ..MediaRun::default()
    };

    // 1. signalling (none for the null relay)
    let mut sip = None;
    let flows: Vec<Flow> = match p.kind {
        ProxyKind::Null { .. } => (0..calls)
            .map(|i| {
                let port = RELAY_LOW + 2 * i as u16;
                Flow {
                    call: i,
                    lan_dst: SocketAddrV4::new(ROUTER_LAN, port),
                    wan_dst: SocketAddrV4::new(ROUTER_WAN, port),
                }
            })
            .collect(),
        ProxyKind::Sip(_) => {
            let mut s = Sip::new(&socks.uac, &socks.uas, &hosts);
            // siproxd-style proxies refuse calls from a phone that has not
            // registered: at least one REGISTER (reg0, from the phone's IP;
            // more come from other LAN hosts too, see `Sip::register`)
            let reg_failed = s.register(regs.max(1))?;
            if reg_failed > 0 {
                // Never a result: a peak RSS or a CPU figure "with N
                // registrations" measured with fewer would be a false one.
                let first = s.regs.iter().find(|r| !r.ok).map_or("", |r| r.why.as_str());
                return Err(format!(
                    "{reg_failed} of {} REGISTERs failed (first: {first}): no result\n{}proxy.log:\n{}",
                    regs.max(1),
                    s.log,
                    lab.log_tail("proxy.log")
                ));
            }
            s.invite(calls, o.setup_rate)?;
            run.setup_failed = s.failed();
            if run.setup_failed > 0 {
                eprintln!(
                    "sipnat-bench: {}: {} setups failed\n{}{}",
                    p.name,
                    run.setup_failed,
                    s.log,
                    s.failures()
                );
            }
            let f = s
                .calls
                .iter()
                .filter(|c| c.phase == Phase::Confirmed)
                .filter_map(|c| {
                    Some(Flow {
                        call: c.idx,
                        lan_dst: c.lan_relay?,
                        wan_dst: c.wan_relay?,
                    })
                })
                .collect();
            sip = Some(s);
            f
        }
    };
    if calls == 0 {
        // idle: the proxy with its registrations and no call, as long as a
        // media run's warm-up and window
        sleep_checked(o.warmup + o.measure)?;
        if !lab.proxy_alive() {
            return Err(format!(
                "{} died; proxy.log:\n{}",
                p.name,
                lab.log_tail("proxy.log")
            ));
        }
        run.measure_s = o.measure.as_secs_f64();
        (run.kernel_sockets, run.kernel_kb) = kernel_socket_memory(pid);
        run.peak_rss_kb = peak_rss_kb(pid);
        run.binary_bytes = binary_bytes(pid);
        lab.stop_proxy();
        return Ok(run);
    }
    if flows.is_empty() {
        return Err(format!(
            "no call could be set up; proxy.log:\n{}",
            lab.log_tail("proxy.log")
        ));
    }
    if !lab.proxy_alive() {
        return Err(format!(
            "{} died; proxy.log:\n{}",
            p.name,
            lab.log_tail("proxy.log")
        ));
    }
    let mut expect = vec![None; calls as usize];
    for f in &flows {
        // direction 0 (phone -> far end) comes out of the WAN side, where
        // the far end sends; direction 1 out of the LAN side
        expect[f.call as usize] = Some([f.wan_dst, f.lan_dst]);
    }

    // 2. media
    let win = Window::new();
    let (stop_tx, stop_rx) = (AtomicBool::new(false), AtomicBool::new(false));
    let len = bench_core::RTP_HEADER + o.payload as usize;
    let mut window = (0.0, 0.0, 0.0, 0.0, Duration::ZERO); // cpu0, cpu1, gen0, gen1, length
    let mut stats = (Vec::new(), Vec::new()); // /proc/stat at both ends
    let mut stats_wall = 0.0; // seconds between the two readings
    let mut kernel = (KernelState::default(), KernelState::default());
    let mut perf_span = (0.0, 0.0); // the window in CLOCK_MONOTONIC s
    let perf_data = work.join("perf.data");
    let control = work.join("control.sock");
    let want = flows.len() as u64;
    let (tx, rx, res) = std::thread::scope(|sc| {
        let tx = sc.spawn(|| sender(&socks, &flows, calls as usize, o.pps, len, &win, &stop_tx));
        let rx = sc.spawn(|| receiver(&socks.rtp_lan, &socks.rtp_wan, &expect, &win, &stop_rx));
        let asker = (o.status_rate > 0).then(|| {
            let (control, win, stop) = (&control, &win, &stop_tx);
            sc.spawn(move || ask_status(control, o.status_rate, win, stop))
        });
        let res = (|| -> Result<(), String> {
            sleep_checked(o.warmup)?;
            if kernel_forward {
                run.kernel_wait_s = wait_for_handover(&lab, &control, want)?.as_secs_f64();
                kernel.0 = kernel_state(&lab, &control);
            }
            let perf = if o.perf {
                let p = start_perf(&perf_data, &work.join("perf.log"))?;
                sleep_checked(PERF_SETUP)?;
                Some(p)
            } else {
                None
            };
            let cpu0 = proc_cpu_s(pid).ok_or("cannot read the proxy's CPU time")?;
            stats.0 = proc_stat();
            let t_stat = Instant::now();
            let gen0 = proc_cpu_s(std::process::id()).unwrap_or(0.0);
            let t_open = Instant::now();
            let mono_open = monotonic_s();
            win.start.store(now_ns(), Relaxed);
            sleep_checked(o.measure)?;
            win.end.store(now_ns(), Relaxed);
            let length = t_open.elapsed();
            perf_span = (mono_open, monotonic_s());
            // every call up: the most sockets the run needs
            (run.kernel_sockets, run.kernel_kb) = kernel_socket_memory(pid);
            let cpu1 = proc_cpu_s(pid).ok_or("cannot read the proxy's CPU time (did it die?)")?;
            stats.1 = proc_stat();
            stats_wall = t_stat.elapsed().as_secs_f64();
            let gen1 = proc_cpu_s(std::process::id()).unwrap_or(0.0);
            window = (cpu0, cpu1, gen0, gen1, length);
            if kernel_forward {
                kernel.1 = kernel_state(&lab, &control);
            }
            if let Some(p) = perf {
                stop_perf(p)?;
            }
            Ok(())
        })();
        stop_tx.store(true, Relaxed);
        let tx = tx.join();
        if let Some(Ok((ok, failed, max))) = asker.map(|a| a.join()) {
            run.status_queries = ok;
            run.status_failed = failed;
            run.status_max_ms = max.as_secs_f64() * 1000.0;
        }
        if res.is_ok() {
            std::thread::sleep(DRAIN);
        }
        stop_rx.store(true, Relaxed);
        (tx, rx.join(), res)
    });
    res?;
    let (tx, rx) = match (tx, rx) {
        (Ok(t), Ok(r)) => (t, r),
        _ => return Err("a media thread panicked".into()),
    };

    // 3. results
    let (cpu0, cpu1, gen0, gen1, length) = window;
    let secs = length.as_secs_f64().max(1e-9);
    run.measure_s = secs;
    run.offered_pps = tx.offered_in_window as f64 / secs;
    run.delivered_pps = rx.delivered_in_window as f64 / secs;
    run.late_sends = tx.late;
    for (i, t) in rx.trackers.iter().enumerate() {
        let sent = tx.sent.get(i).copied().unwrap_or(0);
        run.sent += sent;
        run.received += t.unique();
        run.lost += t.lost_of(sent);
        run.reordered += t.reordered();
        run.duplicates += t.duplicates();
    }
    run.loss_pct = if run.sent > 0 {
        run.lost as f64 * 100.0 / run.sent as f64
    } else {
        0.0
    };
    run.wrong_source = rx.wrong_source + rx.foreign;
    let h = &rx.hist;
    let us = |ns: u64| ns as f64 / 1000.0;
    run.lat_p50_us = us(h.percentile(50.0));
    run.lat_p99_us = us(h.percentile(99.0));
    run.lat_p999_us = us(h.percentile(99.9));
    run.lat_max_us = us(h.max());
    run.cpu_s = (cpu1 - cpu0).max(0.0);
    run.cpu_ns_per_pkt = if rx.delivered_in_window > 0 {
        run.cpu_s * 1e9 / rx.delivered_in_window as f64
    } else {
        0.0
    };
    run.gen_cpu_s = (gen1 - gen0).max(0.0);
    // system-wide: the proxy plus the softirq time of every CPU
    let proxy_cpu = PIN.get().copied().flatten();
    let cw = bench_core::cpu_window(&stats.0, &stats.1, proxy_cpu);
    let tick = 1.0 / clk_tck();
    run.softirq_s = cw.softirq as f64 * tick;
    run.softirq_proxy_cpu_s = proxy_cpu.map(|_| cw.softirq_proxy_cpu as f64 * tick);
    run.busy_s = cw.busy as f64 * tick;
    run.busy_exact_s = (cw.cpus as f64 * stats_wall - cw.idle as f64 * tick).max(0.0);
    run.sys_cpu_s = run.cpu_s + run.softirq_s;
    run.sys_cpu_ns_per_pkt = if rx.delivered_in_window > 0 {
        run.sys_cpu_s * 1e9 / rx.delivered_in_window as f64
    } else {
        0.0
    };
    if o.perf {
        let split = perf_samples(&perf_data, perf_span, pid, std::process::id())?;
        run.perf = Some(split);
        run.perf_period_ns = PERF_PERIOD_NS;
        run.softirq_perf_s = split.softirq_outside_s(run.gen_cpu_s);
        run.sys_perf_s = run.softirq_perf_s.map(|s| run.cpu_s + s);
        let pkts = rx.delivered_in_window as f64;
        if pkts > 0.0 {
            run.sys_perf_ns_per_pkt = run.sys_perf_s.map(|s| s * 1e9 / pkts);
            run.gen_own_ns_per_pkt = (split.generator > 0).then(|| {
                let own = 1.0 - split.generator_softirq as f64 / split.generator as f64;
                run.gen_cpu_s * own * 1e9 / pkts
            });
        }
        let _ = fs::remove_file(&perf_data);
    }
    if kernel_forward {
        let (k0, k1) = kernel;
        run.kernel_channels_start = k0.channels;
        run.kernel_channels = k1.channels;
        run.kernel_handovers = k1.handovers;
        run.kernel_taken_back = k1.taken_back;
        run.kernel_missed = k1.missed;
        run.kernel_failed = k1.failed;
        run.relayed_in_window = k0.relayed.zip(k1.relayed).map(|(a, b)| b.saturating_sub(a));
    }
    run.peak_rss_kb = peak_rss_kb(pid);
    run.binary_bytes = match p.kind {
        ProxyKind::Sip(_) => binary_bytes(pid),
        ProxyKind::Null { .. } => None, // the bench tool itself: not a proxy's size
    };
    if tx.errors > 0 || rx.foreign > 0 {
        eprintln!(
            "sipnat-bench: {}: {} send errors, {} foreign datagrams",
            p.name, tx.errors, rx.foreign
        );
    }

    // 4. teardown
    if let Some(mut s) = sip {
        let before = s.failed();
        let total = s.bye()?;
        if total > before {
            eprintln!(
                "sipnat-bench: {}: {} BYEs failed\n{}",
                p.name,
                total - before,
                s.failures()
            );
        }
        run.setup_failed += total - before;
    }
    lab.stop_proxy();
    Ok(run)
}

fn setup_run(
    ctx: &Ctx,
    p: &Proxy,
    transport: Transport,
    rate: u32,
    seconds: u32,
) -> Result<SetupRun, String> {
    let name = match transport {
        Transport::Udp => format!("setup-{}-{rate}cps", p.name),
        Transport::Tcp => format!("setup-{}-tcp-{rate}cps", p.name),
        Transport::Tls => format!("setup-{}-tls-{rate}cps", p.name),
    };
    let work = work_dir(ctx, &name)?;
    eprintln!("sipnat-bench: {name}: starting");
    let r = setup_run_in(ctx, p, transport, rate, seconds, &work);
    // A run with failed calls has a result, and keeps its logs too.
    let clean = matches!(&r, Ok((_, true)));
    finish_work_dir(ctx, &work, clean);
    let r = r.map(|(run, _)| run).map_err(|e| format!("{name}: {e}"));
    if let Ok(run) = &r {
        eprintln!(
            "sipnat-bench: {name}: {}/{} calls, {:.0} calls/s, {:.1} µs CPU/call{}",
            run.successful,
            run.attempted,
            run.achieved_cps,
            run.cpu_us_per_call,
            if run.proxy_tcp.is_empty() {
                String::new()
            } else {
                format!("; {}", run.proxy_tcp)
            }
        );
    }
    r
}

/// sipnat's `tcp.*` counters, from the status it logs on SIGUSR1, as
/// "tcp.accepted 1 tcp.opened 1 …" (empty when it logged none in time).
/// Only for the proxy named sipnat: SIGUSR1 may end another proxy.
fn sipnat_tcp_counters(lab: &mut Lab) -> String {
    if !lab.proxy_alive() {
        return String::new();
    }
    let log = lab.work.join("proxy.log");
    let before = fs::read_to_string(&log).map_or(0, |t| t.len());
    // SAFETY: plain kill(2) of our own child, running (not reaped) above.
    unsafe { libc::kill(lab.pid as libc::pid_t, libc::SIGUSR1) };
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        let text = fs::read_to_string(&log).unwrap_or_default();
        let Some(new) = text.get(before..) else {
            continue;
        };
        // The status is a "status: …" line, then one counter per line.
        let Some(at) = new.find("status:") else {
            continue;
        };
        let counters: Vec<&str> = new[at..]
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| l.starts_with("tcp.") || l.starts_with("tls."))
            .collect();
        return counters.join(" ");
    }
    String::new()
}

/// One setup run; the bool is false when sipp failed or a call did.
fn setup_run_in(
    ctx: &Ctx,
    p: &Proxy,
    transport: Transport,
    rate: u32,
    seconds: u32,
    work: &Path,
) -> Result<(SetupRun, bool), String> {
    let bench = ctx.opts.repo.join("tests/bench");
    for f in ["uac.xml", "uas.xml"] {
        if !bench.join(f).is_file() {
            return Err(format!("{} is missing", bench.join(f).display()));
        }
    }
    let sipp = which("sipp").ok_or("sipp not found (tests/setup-deps.sh installs sip-tester)")?;
    let high = relay_high(rate.saturating_mul(2).min(4000));
    let mut lab = Lab::up(&ctx.topo, work)?;
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    let mut conf = proxy_conf(work, RELAY_LOW, high);
    #[cfg(feature = "tls")]
    let cert = match transport {
        Transport::Tls => {
            let cert = bench_tls::make_cert()?;
            // Everything toward the far end goes to the TLS front, whose
            // self-signed certificate is pinned.
            let _ = write!(
                conf,
                "outbound_proxy_host = {FAR_IP}\noutbound_proxy_port = {TLS_PORT}\n\
                 outbound_tls = 1\ntls_fingerprint = {}\n",
                cert.fingerprint
            );
            Some(cert)
        }
        _ => None,
    };
    #[cfg(not(feature = "tls"))]
    if transport == Transport::Tls {
        return Err("TLS runs need sipnat-bench built with --features tls".into());
    }
    fs::write(work.join("proxy.conf"), conf).map_err(|e| format!("proxy.conf: {e}"))?;
    // The TLS far end is up before sipnat: the phone's REGISTER goes there
    // too (outbound_tls), and is answered by the front itself.
    #[cfg(feature = "tls")]
    let front = match &cert {
        Some(cert) => Some(tls_front(&lab, cert)?),
        None => None,
    };
    lab.start_proxy(p, high, &ctx.exe)?;
    if transport == Transport::Tcp {
        // start_proxy waited for its UDP port; a proxy with SIP over TCP
        // listens on the same port number.
        let end = Instant::now() + Duration::from_secs(2);
        while !lab.listens('r', Transport::Tcp, UAS_PORT) {
            if Instant::now() >= end {
                return Err(format!(
                    "{} does not listen on TCP port {UAS_PORT} (no SIP over TCP?); proxy.log:\n{}",
                    p.name,
                    lab.log_tail("proxy.log")
                ));
            }
            sleep_checked(Duration::from_millis(50))?;
        }
    }
    let pid = lab.pid;
    {
        // The phone's IP registers first (siproxd-style proxies refuse calls
        // from unregistered phones); sipp's scenarios only call. The
        // sockets close before sipp binds the same ports. Over UDP in both
        // modes: the registration only admits the phone, the calls do not
        // go to its contact.
        let socks = gen_sockets(&lab)?;
        let mut sip = Sip::new(&socks.uac, &socks.uas, &[]);
        if sip.register(1)? > 0 {
            return Err(format!("the phone's REGISTER failed: {}", sip.log.trim()));
        }
    }
    let sipp = sipp.display().to_string();
    let s = |v: &str| v.to_string();
    // TCP: one connection per side, kept for every call (see Transport).
    // TLS: the phone over UDP, the far end's sipp over TCP behind the front.
    let t1 = [s("-t"), s("t1")];
    let (uac_transport, uas_transport): (&[String], &[String]) = match transport {
        Transport::Udp => (&[], &[]),
        Transport::Tcp => (&t1, &t1),
        Transport::Tls => (&[], &t1),
    };
    let mut uas_argv = vec![
        sipp.clone(),
        s("-sf"),
        bench.join("uas.xml").display().to_string(),
        s("-i"),
        FAR_IP.to_string(),
        s("-p"),
        UAS_PORT.to_string(),
    ];
    uas_argv.extend_from_slice(uas_transport);
    uas_argv.extend([
        s("-nostdin"),
        s("-trace_err"),
        s("-error_file"),
        work.join("uas-errors.log").display().to_string(),
    ]);
    let uas = lab.spawn('w', &uas_argv, "sipp-uas.log")?;
    lab.others.push(uas);
    let end = Instant::now() + Duration::from_secs(10);
    while !lab.listens('w', transport, UAS_PORT) {
        if Instant::now() >= end {
            return Err(format!(
                "sipp UAS does not listen; sipp-uas.log:\n{}",
                lab.log_tail("sipp-uas.log")
            ));
        }
        sleep_checked(Duration::from_millis(50))?;
    }
    let total = u64::from(rate) * u64::from(seconds);
    let stat_file = work.join("uac-stat.csv");
    let timeout = seconds + 40;
    let mut uac_argv = vec![
        sipp,
        s("-sf"),
        bench.join("uac.xml").display().to_string(),
        format!("{FAR_IP}:{UAS_PORT}"),
        s("-i"),
        PHONE_IP.to_string(),
        s("-p"),
        UAC_PORT.to_string(),
        s("-rsa"),
        format!("{ROUTER_LAN}:5060"),
    ];
    uac_argv.extend_from_slice(uac_transport);
    uac_argv.extend([
        // The Request-URI's parameters (uac.xml): the far end is an IP
        // literal, which a proxy reaches over UDP unless the URI names the
        // transport (RFC 3263 §4.1).
        s("-key"),
        s("ruri_params"),
        s(match transport {
            // TLS: outbound_tls sends everything to the outbound proxy
            Transport::Udp | Transport::Tls => "",
            Transport::Tcp => ";transport=tcp",
        }),
    ]);
    if transport == Transport::Tcp {
        // SIPp does not retransmit over TCP: a message the proxy loses
        // fails its call after 10 s instead of holding it to the end.
        uac_argv.extend([s("-recv_timeout"), s("10000")]);
    }
    uac_argv.extend([
        s("-r"),
        rate.to_string(),
        s("-m"),
        total.to_string(),
        s("-trace_stat"),
        s("-stf"),
        stat_file.display().to_string(),
        s("-fd"),
        s("1"),
        s("-timeout"),
        format!("{timeout}s"),
        s("-timeout_error"),
        s("-nostdin"),
        s("-trace_err"),
        s("-error_file"),
        work.join("uac-errors.log").display().to_string(),
    ]);
    let cpu0 = proc_cpu_s(pid).ok_or("cannot read the proxy's CPU time")?;
    let t0 = Instant::now();
    let mut uac = lab.spawn('l', &uac_argv, "sipp-uac.log")?;
    let limit = Duration::from_secs(u64::from(timeout) + 10);
    let status = loop {
        if let Ok(Some(st)) = uac.try_wait() {
            break st;
        }
        if interrupted() || t0.elapsed() > limit {
            stop_child(&mut uac, Duration::from_millis(500));
            return Err(if interrupted() {
                "interrupted".into()
            } else {
                "sipp UAC overstayed its timeout".into()
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = proc_cpu_s(pid).ok_or("cannot read the proxy's CPU time (did it die?)")?;
    let csv = fs::read_to_string(&stat_file).map_err(|e| {
        format!(
            "{}: {e} (sipp exit {status}); sipp-uac.log:\n{}",
            stat_file.display(),
            lab.log_tail("sipp-uac.log")
        )
    })?;
    let st = bench_core::parse_sipp_stats(&csv)
        .ok_or_else(|| format!("cannot parse {} (sipp exit {status})", stat_file.display()))?;
    let mut run = SetupRun {
        proxy: p.name.clone(),
        transport: transport.as_str().into(),
        rate,
        seconds,
        attempted: st.created,
        successful: st.successful,
        failed: st.failed,
        retransmissions: st.retransmissions,
        elapsed_s: if st.elapsed_s > 0.0 {
            st.elapsed_s
        } else {
            elapsed
        },
        ..SetupRun::default()
    };
    run.achieved_cps = if run.elapsed_s > 0.0 {
        run.successful as f64 / run.elapsed_s
    } else {
        0.0
    };
    run.cpu_s = (cpu1 - cpu0).max(0.0);
    run.cpu_us_per_call = if run.successful > 0 {
        run.cpu_s * 1e6 / run.successful as f64
    } else {
        0.0
    };
    run.peak_rss_kb = peak_rss_kb(pid);
    run.binary_bytes = binary_bytes(pid);
    if transport != Transport::Udp && p.name == "sipnat" {
        run.proxy_tcp = sipnat_tcp_counters(&mut lab);
    }
    #[cfg(feature = "tls")]
    if let Some(f) = &front {
        // what the far end saw: sipnat's handshakes (1: one connection)
        let hs = f.handshakes.load(Relaxed);
        run.proxy_tcp = format!("{} front.handshakes {hs}", run.proxy_tcp)
            .trim()
            .to_string();
    }
    let clean = status.success() && run.failed == 0;
    if !clean {
        eprintln!(
            "sipnat-bench: {}: sipp exit {status}, {} failed calls (logs in {})",
            p.name,
            run.failed,
            work.display()
        );
    }
    lab.stop_proxy();
    Ok((run, clean))
}

/// The TLS far end on 198.51.100.2:5061 (WAN namespace), bridging each
/// connection to sipp's UAS on TCP port 5060.
#[cfg(feature = "tls")]
fn tls_front(lab: &Lab, cert: &bench_tls::TestCert) -> Result<bench_tls::Front, String> {
    let ns = lab.ns('w');
    let listener = in_netns(&ns, || {
        std::net::TcpListener::bind(SocketAddrV4::new(FAR_IP, TLS_PORT))
    })?;
    let backend = bench_tls::connect_fn(move || {
        in_netns(&ns, || {
            std::net::TcpStream::connect(SocketAddrV4::new(FAR_IP, UAS_PORT))
        })
        .map_err(io::Error::other)
    });
    Ok(bench_tls::Front::start(
        listener,
        bench_tls::server_config(cert)?,
        backend,
    ))
}

/// The result of a `tls` run (see [`tls_run_in`]).
#[derive(Clone, Debug, Default)]
struct TlsRun {
    proxy: String,
    /// VmRSS / VmHWM with `tls_listen_port` on and no connection.
    idle_rss_kb: u64,
    idle_hwm_kb: u64,
    /// Phones registered, each over its own TLS connection, left idle.
    phones: u32,
    phones_rss_kb: u64,
    phones_hwm_kb: u64,
    /// Handshakes one after another (connect, handshake, close_notify).
    handshakes: u32,
    handshake_cpu_s: f64,
    cpu_us_per_handshake: f64,
    wall_us_per_handshake: f64,
    /// Provider side: REGISTERs from a UDP phone one after another, over
    /// one kept TLS connection, then with the far end closing it after
    /// each 200 (so sipnat dials and shakes hands again for the next).
    registers: u32,
    cpu_us_per_register_kept: f64,
    cpu_us_per_register_redial: f64,
    /// Handshakes the far end completed in the redial phase.
    redial_handshakes: u64,
    /// (redial CPU − kept CPU per REGISTER × REGISTERs) / handshakes:
    /// sipnat's cost of a client handshake, connect and close included.
    cpu_us_per_client_handshake: f64,
    /// VmHWM at the end.
    end_hwm_kb: u64,
    binary_bytes: Option<u64>,
    /// sipnat's tls.* counters at the end.
    counters: String,
}

#[cfg(feature = "tls")]
fn status_kb(pid: u32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| bench_core::parse_status_kb(&s, field))
        .unwrap_or(0)
}

fn tls_json(r: &TlsRun) -> String {
    let f = |v: f64| {
        if v.is_finite() {
            format!("{v}")
        } else {
            "null".into()
        }
    };
    format!(
        "{{\"proxy\": {}, \"idle_rss_kb\": {}, \"idle_hwm_kb\": {}, \"phones\": {}, \
         \"phones_rss_kb\": {}, \"phones_hwm_kb\": {}, \"handshakes\": {}, \
         \"handshake_cpu_s\": {}, \"cpu_us_per_handshake\": {}, \
         \"wall_us_per_handshake\": {}, \"registers\": {}, \
         \"cpu_us_per_register_kept\": {}, \"cpu_us_per_register_redial\": {}, \
         \"redial_handshakes\": {}, \"cpu_us_per_client_handshake\": {}, \
         \"end_hwm_kb\": {}, \"binary_bytes\": {}, \"counters\": {}}}",
        load_core::json_str(&r.proxy),
        r.idle_rss_kb,
        r.idle_hwm_kb,
        r.phones,
        r.phones_rss_kb,
        r.phones_hwm_kb,
        r.handshakes,
        f(r.handshake_cpu_s),
        f(r.cpu_us_per_handshake),
        f(r.wall_us_per_handshake),
        r.registers,
        f(r.cpu_us_per_register_kept),
        f(r.cpu_us_per_register_redial),
        r.redial_handshakes,
        f(r.cpu_us_per_client_handshake),
        r.end_hwm_kb,
        r.binary_bytes.map_or("null".into(), |b| b.to_string()),
        load_core::json_str(&r.counters),
    )
}

fn tls_table(runs: &[TlsRun]) -> String {
    let mut md = String::from(
        "| proxy | idle RSS kB | idle HWM kB | TLS phones | RSS kB | HWM kB | handshakes | \
         CPU µs/handshake | wall µs/handshake | REGISTERs | CPU µs/REGISTER kept | \
         CPU µs/REGISTER redial | redials | CPU µs/client handshake | end HWM kB | binary B |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in runs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {} | {:.1} | {} | {} |",
            r.proxy,
            r.idle_rss_kb,
            r.idle_hwm_kb,
            r.phones,
            r.phones_rss_kb,
            r.phones_hwm_kb,
            r.handshakes,
            r.cpu_us_per_handshake,
            r.wall_us_per_handshake,
            r.registers,
            r.cpu_us_per_register_kept,
            r.cpu_us_per_register_redial,
            r.redial_handshakes,
            r.cpu_us_per_client_handshake,
            r.end_hwm_kb,
            r.binary_bytes.map_or("—".into(), |b| b.to_string()),
        );
    }
    md
}

fn tls_run(ctx: &Ctx, p: &Proxy) -> Result<TlsRun, String> {
    let name = format!("tls-{}", p.name);
    let work = work_dir(ctx, &name)?;
    eprintln!("sipnat-bench: {name}: starting");
    let r = tls_run_in(ctx, p, &work);
    finish_work_dir(ctx, &work, r.is_ok());
    let r = r.map_err(|e| format!("{name}: {e}"));
    if let Ok(t) = &r {
        eprintln!(
            "sipnat-bench: {name}: idle RSS {} kB (HWM {}), {} TLS phones RSS {} kB (HWM {}), \
             {} handshakes {:.1} µs CPU each; {}",
            t.idle_rss_kb,
            t.idle_hwm_kb,
            t.phones,
            t.phones_rss_kb,
            t.phones_hwm_kb,
            t.handshakes,
            t.cpu_us_per_handshake,
            t.counters
        );
    }
    r
}

#[cfg(not(feature = "tls"))]
fn tls_run_in(_ctx: &Ctx, _p: &Proxy, _work: &Path) -> Result<TlsRun, String> {
    Err("the tls mode needs sipnat-bench built with --features tls".into())
}

/// A TCP connection from `src` (port chosen by the kernel) to `dst`.
#[cfg(feature = "tls")]
fn tcp_from(src: SocketAddrV4, dst: SocketAddrV4) -> io::Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    // SAFETY: socket(2); the fd is owned by the TcpStream made from it
    // right away, which closes it on every path.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nobody else owns.
    let sock = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let a = sockaddr_in(src);
    // SAFETY: a valid sockaddr_in and its length.
    if unsafe { libc::bind(fd, (&a as *const libc::sockaddr_in).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let d = sockaddr_in(dst);
    // SAFETY: as above.
    if unsafe { libc::connect(fd, (&d as *const libc::sockaddr_in).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

/// One tls run: sipnat with `tls_listen_port` and a self-signed P-256
/// certificate (what the init script makes with px5g); its memory idle;
/// `--phones` TLS phones from as many LAN addresses (a phone per address,
/// as in an office) each REGISTERing over its own connection, left idle,
/// and the memory again; then `--handshakes` TLS handshakes one after
/// another from those addresses in turn (connect, handshake, close_notify,
/// close), and sipnat's CPU time over them per handshake.
#[cfg(feature = "tls")]
fn tls_run_in(ctx: &Ctx, p: &Proxy, work: &Path) -> Result<TlsRun, String> {
    let o = &ctx.opts;
    let cert = bench_tls::make_cert()?;
    let (crt, key) = (work.join("sipnat.crt"), work.join("sipnat.key"));
    fs::write(&crt, &cert.cert_pem).map_err(|e| format!("{}: {e}", crt.display()))?;
    fs::write(&key, &cert.key_pem).map_err(|e| format!("{}: {e}", key.display()))?;
    let high = relay_high(16);
    let mut lab = Lab::up(&ctx.topo, work)?;
    let mut conf = proxy_conf(work, RELAY_LOW, high);
    // The provider: the TLS front (it answers REGISTERs), its certificate
    // pinned; sipnat's own for the phones.
    let far = bench_tls::make_cert()?;
    let _ = write!(
        conf,
        "tls_listen_port = {TLS_PORT}\ntls_cert_file = {}\ntls_key_file = {}\n\
         outbound_proxy_host = {FAR_IP}\noutbound_proxy_port = {TLS_PORT}\n\
         outbound_tls = 1\ntls_fingerprint = {}\n",
        crt.display(),
        key.display(),
        far.fingerprint
    );
    fs::write(work.join("proxy.conf"), conf).map_err(|e| format!("proxy.conf: {e}"))?;
    let front = tls_front(&lab, &far)?;
    lab.start_proxy(p, high, &ctx.exe)?;
    let end = Instant::now() + Duration::from_secs(3);
    while !lab.listens('r', Transport::Tls, TLS_PORT) {
        if Instant::now() >= end {
            return Err(format!(
                "{} does not listen on TCP port {TLS_PORT} (no tls_listen_port?); proxy.log:\n{}",
                p.name,
                lab.log_tail("proxy.log")
            ));
        }
        sleep_checked(Duration::from_millis(50))?;
    }
    let pid = lab.pid;
    sleep_checked(Duration::from_secs(1))?;
    let mut run = TlsRun {
        proxy: p.name.clone(),
        idle_rss_kb: status_kb(pid, "VmRSS"),
        idle_hwm_kb: status_kb(pid, "VmHWM"),
        phones: o.phones,
        handshakes: o.handshakes,
        binary_bytes: binary_bytes(pid),
        ..TlsRun::default()
    };
    tls_phases(&lab, o, &mut run)?;
    tls_redials(&lab, o, &front, &mut run)?;
    run.end_hwm_kb = status_kb(pid, "VmHWM");
    if p.name == "sipnat" {
        run.counters = sipnat_tcp_counters(&mut lab);
    }
    lab.stop_proxy();
    Ok(run)
}

/// Provider side: `--handshakes` REGISTERs from the phone over UDP, one
/// after another (each waits for its 200), first over the one TLS
/// connection sipnat keeps to the far end, then with the far end closing
/// it after every 200, so that each REGISTER makes sipnat connect and
/// shake hands again (as a client: X25519, the far end's ECDSA P-256
/// signature checked, its certificate pinned). The difference of sipnat's
/// CPU time between the two phases, per handshake the far end completed,
/// is what a router pays for a reconnect.
#[cfg(feature = "tls")]
fn tls_redials(
    lab: &Lab,
    o: &Opts,
    front: &bench_tls::Front,
    run: &mut TlsRun,
) -> Result<(), String> {
    let n = o.handshakes;
    run.registers = n;
    if n == 0 {
        return Ok(());
    }
    let pid = lab.pid;
    let phone = in_netns(&lab.ns('l'), || {
        udp_socket(SocketAddrV4::new(PHONE_IP, UAC_PORT), SIP_SOCK_BUF, false)
    })?;
    phone
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let proxy = SocketAddrV4::new(ROUTER_LAN, UAS_PORT);
    let mut seq = 0u32;
    let mut phase = |close: bool| -> Result<(f64, u64), String> {
        front.close_after_register.store(close, Relaxed);
        let hs0 = front.handshakes.load(Relaxed);
        let cpu0 = proc_cpu_s(pid).ok_or("cannot read the proxy's CPU time")?;
        let mut buf = vec![0u8; 65536];
        for _ in 0..n {
            if interrupted() {
                return Err("interrupted".into());
            }
            seq += 1;
            let reg = format!(
                "REGISTER sip:{FAR_IP} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {PHONE_IP}:{UAC_PORT};branch=z9hG4bK-rd{seq};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:redial@{FAR_IP}>;tag=rd\r\n\
                 To: <sip:redial@{FAR_IP}>\r\nCall-ID: redial@{PHONE_IP}\r\n\
                 CSeq: {seq} REGISTER\r\nContact: <sip:redial@{PHONE_IP}:{UAC_PORT}>\r\n\
                 Expires: 3600\r\nUser-Agent: sipnat-bench\r\nContent-Length: 0\r\n\r\n"
            );
            phone
                .send_to(reg.as_bytes(), proxy)
                .map_err(|e| e.to_string())?;
            // its final answer (a 100 may come first)
            loop {
                let (len, _) = phone
                    .recv_from(&mut buf)
                    .map_err(|e| format!("REGISTER {seq} (close {close}): no answer: {e}"))?;
                let m = SipMsg::parse(&buf[..len]);
                let Some(code) = m.as_ref().and_then(SipMsg::code) else {
                    continue;
                };
                let ours = m
                    .as_ref()
                    .and_then(SipMsg::cseq)
                    .is_some_and(|(c, _)| c == seq);
                if code >= 200 && ours {
                    if code != 200 {
                        return Err(format!("REGISTER {seq} (close {close}): {code}"));
                    }
                    break;
                }
            }
        }
        // the last close reaches sipnat
        sleep_checked(Duration::from_millis(300))?;
        let cpu1 = proc_cpu_s(pid).ok_or("cannot read the proxy's CPU time (did it die?)")?;
        Ok(((cpu1 - cpu0).max(0.0), front.handshakes.load(Relaxed) - hs0))
    };
    // the connection is up: the phones' REGISTERs went over it
    let (kept, _) = phase(false)?;
    let (redial, hs) = phase(true)?;
    run.cpu_us_per_register_kept = kept * 1e6 / f64::from(n);
    run.cpu_us_per_register_redial = redial * 1e6 / f64::from(n);
    run.redial_handshakes = hs;
    if hs > 0 {
        run.cpu_us_per_client_handshake = (redial - kept) * 1e6 / hs as f64;
    }
    Ok(())
}

#[cfg(feature = "tls")]
fn tls_phases(lab: &Lab, o: &Opts, run: &mut TlsRun) -> Result<(), String> {
    let pid = lab.pid;
    let cfg = bench_tls::client_config()?;
    let addrs: Vec<Ipv4Addr> = (1..=o.phones.max(1))
        .map(|h| bench_core::extra_host_ip(h).ok_or("too many phones"))
        .collect::<Result<_, _>>()?;
    lab.add_lan_addrs(&addrs)?;
    let sipnat = SocketAddrV4::new(ROUTER_LAN, TLS_PORT);
    let lan = lab.ns('l');
    let mut phones = Vec::new();
    for (i, &ip) in addrs.iter().take(o.phones as usize).enumerate() {
        let sock = in_netns(&lan, || tcp_from(SocketAddrV4::new(ip, 0), sipnat))?;
        let port = sock.local_addr().map_err(|e| e.to_string())?.port();
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut ph =
            bench_tls::phone(&cfg, sock).map_err(|e| format!("TLS phone {ip}: handshake: {e}"))?;
        let reg = format!(
            "REGISTER sip:{FAR_IP} SIP/2.0\r\n\
             Via: SIP/2.0/TLS {ip}:{port};branch=z9hG4bK-tls{i};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:tls{i}@{FAR_IP}>;tag=t{i}\r\n\
             To: <sip:tls{i}@{FAR_IP}>\r\nCall-ID: tls{i}@{ip}\r\nCSeq: 1 REGISTER\r\n\
             Contact: <sip:tls{i}@{ip}:{port};transport=tls>\r\nExpires: 3600\r\n\
             User-Agent: sipnat-bench\r\nContent-Length: 0\r\n\r\n"
        );
        use std::io::Write as _;
        ph.write_all(reg.as_bytes())
            .and_then(|()| ph.flush())
            .map_err(|e| format!("TLS phone {ip}: {e}"))?;
        let got = bench_tls::read_until(&mut ph, "\r\n\r\n")
            .map_err(|e| format!("TLS phone {ip}: no answer to its REGISTER: {e}"))?;
        if !got.starts_with("SIP/2.0 200") {
            return Err(format!(
                "TLS phone {ip}: REGISTER answered {}",
                got.lines().next().unwrap_or("")
            ));
        }
        phones.push(ph);
    }
    sleep_checked(Duration::from_secs(2))?;
    run.phones_rss_kb = status_kb(pid, "VmRSS");
    run.phones_hwm_kb = status_kb(pid, "VmHWM");
    drop(phones);
    sleep_checked(Duration::from_millis(500))?;
    let cpu0 = proc_cpu_s(pid).ok_or("cannot read the proxy's CPU time")?;
    let t0 = Instant::now();
    for i in 0..o.handshakes {
        if interrupted() {
            return Err("interrupted".into());
        }
        let ip = addrs[i as usize % addrs.len()];
        let sock = in_netns(&lan, || tcp_from(SocketAddrV4::new(ip, 0), sipnat))?;
        let mut ph = bench_tls::phone(&cfg, sock).map_err(|e| format!("handshake {i}: {e}"))?;
        ph.conn.send_close_notify();
        let _ = ph.conn.complete_io(&mut ph.sock);
    }
    let wall = t0.elapsed().as_secs_f64();
    // the last close_notify and FIN reach sipnat
    sleep_checked(Duration::from_millis(300))?;
    let cpu1 = proc_cpu_s(pid).ok_or("cannot read the proxy's CPU time (did it die?)")?;
    run.handshake_cpu_s = (cpu1 - cpu0).max(0.0);
    if o.handshakes > 0 {
        run.cpu_us_per_handshake = run.handshake_cpu_s * 1e6 / f64::from(o.handshakes);
        run.wall_us_per_handshake = wall * 1e6 / f64::from(o.handshakes);
    }
    Ok(())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

// ------------------------------------------------------------------ report

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn meta(ctx: &Ctx, cmdline: &str) -> Vec<(&'static str, String)> {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let sipnat = if ctx.opts.no_sipnat {
        String::new()
    } else {
        command_output(&ctx.opts.sipnat.display().to_string(), &["-V"])
    };
    vec![
        (
            "date",
            command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        ),
        ("kernel", command_output("uname", &["-r"])),
        ("cpu", cpu),
        // Every online CPU (this process is pinned to some of them).
        // SAFETY: sysconf has no preconditions.
        (
            "nproc",
            unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.to_string(),
        ),
        ("command", cmdline.to_string()),
        ("sipnat_version", sipnat),
        ("sipnat_path", ctx.opts.sipnat.display().to_string()),
        (
            "pinning",
            match PIN.get().copied().flatten() {
                Some(c) => format!("proxy on CPU {c}, this tool and sipp on the others"),
                None => "none".into(),
            },
        ),
        (
            "cpu_clock",
            "process CPU clock (clock_getcpuclockid), /proc/PID/stat fallback".into(),
        ),
        (
            "latency",
            "kernel receive time (SO_TIMESTAMPNS) minus send time, CLOCK_REALTIME".into(),
        ),
        ("softirq_clock", softirq_clock()),
    ]
}

/// How this kernel accounts softirq time in `/proc/stat`: precisely with
/// `CONFIG_IRQ_TIME_ACCOUNTING`, else by sampling at the timer tick.
fn softirq_clock() -> String {
    let release = command_output("uname", &["-r"]);
    let config = fs::read_to_string(format!("/boot/config-{release}"))
        .ok()
        .or_else(|| {
            Command::new("zcat")
                .arg("/proc/config.gz")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        })
        .unwrap_or_default();
    let hz = config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_HZ="))
        .unwrap_or("?");
    let how = if config.contains("CONFIG_IRQ_TIME_ACCOUNTING=y") {
        format!(
            "exact (CONFIG_IRQ_TIME_ACCOUNTING), shown in USER_HZ={}",
            clk_tck()
        )
    } else if config.contains("# CONFIG_IRQ_TIME_ACCOUNTING is not set") {
        format!(
            "sampled at the timer tick (no CONFIG_IRQ_TIME_ACCOUNTING, CONFIG_HZ={hz}), shown in USER_HZ={}",
            clk_tck()
        )
    } else {
        "unknown (no kernel config found)".to_string()
    };
    format!("/proc/stat softirq column, all CPUs: {how}")
}

/// Write results.json, results.md and sweep.svg. `errors` are the runs that
/// failed and so have no result: both reports name them (meta
/// `failed_runs`, and a "Failed runs" section), so a table missing a row
/// cannot pass for a complete one.
fn write_report(
    ctx: &Ctx,
    cmdline: &str,
    media: &mut [MediaRun],
    setup: &[SetupRun],
    tls: &[TlsRun],
    errors: &[String],
) -> Result<(), String> {
    bench_core::fill_ratios(media);
    let mut meta = meta(ctx, cmdline);
    let first_lines: Vec<&str> = errors
        .iter()
        .map(|e| e.lines().next().unwrap_or(""))
        .collect();
    meta.push(("failed_runs", first_lines.join("\n")));
    let mut json = bench_core::report_json(&meta, media, setup);
    if !tls.is_empty() {
        // the tls mode's runs as one more member of the object
        let items: Vec<String> = tls.iter().map(tls_json).collect();
        let body = json.trim_end().trim_end_matches('}').trim_end().to_string();
        json = format!(
            "{body},\n  \"tls\": [\n    {}\n  ]\n}}\n",
            items.join(",\n    ")
        );
    }
    let w = |f: &str, text: &str| fs::write(ctx.out.join(f), text).map_err(|e| format!("{f}: {e}"));
    w("results.json", &json)?;
    let mut md = format!("# sipnat benchmark\n\n`{cmdline}`\n\n");
    for (k, v) in &meta {
        if !["command", "failed_runs"].contains(k) {
            let _ = writeln!(md, "- {k}: {v}");
        }
    }
    md.push('\n');
    if !errors.is_empty() {
        md.push_str("## Failed runs\n\nThese runs FAILED and have no result below:\n\n");
        for l in &first_lines {
            let _ = writeln!(md, "- {l}");
        }
        md.push('\n');
    }
    if !media.is_empty() {
        md.push_str("## Media relay\n\n");
        md.push_str(&bench_core::media_table(media));
        md.push('\n');
        if media.iter().any(|r| r.calls > 0) {
            md.push_str(
                "## System-wide CPU per packet\n\n\
                 The proxy's CPU plus the softirq time of every CPU in the window, per packet \
                 delivered. `stat`: the softirq column of `/proc/stat`, tick-sampled here (see \
                 softirq_clock; softirq the kernel runs inside the proxy is counted twice). \
                 `perf` (`--perf`): the softirq outside the proxy from perf's samples, scaled to \
                 the generator's CPU clock; `generator` is the generator's own work, which must \
                 come out about equal for every proxy. `machine`: all CPUs' exact busy time \
                 (wall minus idle), the generator included; `tick / exact`: how much of it the \
                 tick-sampled columns saw.\n\n",
            );
            md.push_str(&bench_core::system_table(media));
            md.push('\n');
        }
    }
    if !setup.is_empty() {
        md.push_str("## Call setup\n\n");
        md.push_str(&bench_core::setup_table(setup));
        md.push('\n');
    }
    if !tls.is_empty() {
        md.push_str("## TLS connections\n\n");
        md.push_str(&tls_table(tls));
        md.push('\n');
    }
    w("results.md", &md)?;
    // the sweep: runs without registrations, when a proxy has >= 2 call counts
    let sweep: Vec<MediaRun> = media
        .iter()
        .filter(|r| r.registrations == 0)
        .cloned()
        .collect();
    let multi = sweep.iter().any(|r| {
        let mut c: Vec<u32> = sweep
            .iter()
            .filter(|x| x.proxy == r.proxy)
            .map(|x| x.calls)
            .collect();
        c.sort_unstable();
        c.dedup();
        c.len() >= 2
    });
    if multi {
        let title = format!(
            "sipnat-bench media sweep: {} pps each way per call, {} B payload",
            ctx.opts.pps, ctx.opts.payload
        );
        w("sweep.svg", &bench_core::sweep_svg(&sweep, &title))?;
    }
    println!("{md}");
    println!("results in {}", ctx.out.display());
    Ok(())
}

// ------------------------------------------------------------------ main

fn out_dir(o: &Opts) -> Result<PathBuf, String> {
    if let Some(d) = &o.out {
        fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        return fs::canonicalize(d).map_err(|e| format!("{}: {e}", d.display()));
    }
    let base = o.repo.join("target").join("bench");
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let dir = base.join(stamp.to_string());
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let latest = base.join("latest");
    let _ = fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(stamp.to_string(), &latest);
    Ok(dir)
}

fn run(ctx: &Ctx, cmdline: &str) -> i32 {
    let o = &ctx.opts;
    let mut media = Vec::new();
    let mut setup = Vec::new();
    let mut tls = Vec::new();
    let mut errors = Vec::new();
    let mut record = |r: Result<(), String>| {
        if let Err(e) = r {
            eprintln!("sipnat-bench: FAILED: {e}");
            errors.push(e);
        }
    };
    match o.mode {
        Mode::Media => {
            let proxies = media_proxies(o);
            for &calls in &o.calls {
                for p in &proxies {
                    if interrupted() {
                        break;
                    }
                    record(
                        media_run(ctx, p, calls, o.registrations, o.range).map(|r| media.push(r)),
                    );
                }
            }
        }
        Mode::Setup => {
            for p in sip_proxies(o) {
                for &rate in &o.rates {
                    for &transport in &o.transports {
                        if !interrupted() {
                            record(
                                setup_run(ctx, &p, transport, rate, o.seconds)
                                    .map(|r| setup.push(r)),
                            );
                        }
                    }
                }
            }
        }
        Mode::Tls => {
            for p in sip_proxies(o) {
                if !interrupted() {
                    record(tls_run(ctx, &p).map(|r| tls.push(r)));
                }
            }
        }
        Mode::All => {
            let sipnat = sip_proxies(o);
            let mut proxies = sipnat.clone();
            proxies.push(Proxy {
                name: "null".into(),
                kind: ProxyKind::Null { mmsg: false },
            });
            proxies.push(Proxy {
                name: "null-mmsg".into(),
                kind: ProxyKind::Null { mmsg: true },
            });
            for calls in [25, 50, 100, 250, 500, 1000] {
                for p in &proxies {
                    if !interrupted() {
                        record(media_run(ctx, p, calls, 0, None).map(|r| media.push(r)));
                    }
                }
            }
            for p in &sipnat {
                if !interrupted() {
                    record(media_run(ctx, p, 256, 512, None).map(|r| media.push(r)));
                }
                // idle with a siproxd user's 50,000-port range (issue 15)
                if !interrupted() {
                    let wide = Some((10000, 59999));
                    record(media_run(ctx, p, 0, 0, wide).map(|r| media.push(r)));
                }
                // The target rate, and twice it to show the headroom; each
                // over UDP, then over TCP.
                for rate in [1500, 3000] {
                    for transport in [Transport::Udp, Transport::Tcp] {
                        if !interrupted() {
                            record(setup_run(ctx, p, transport, rate, 10).map(|r| setup.push(r)));
                        }
                    }
                }
            }
        }
    }
    if let Err(e) = write_report(ctx, cmdline, &mut media, &setup, &tls, &errors) {
        eprintln!("sipnat-bench: cannot write the report: {e}");
        return 1;
    }
    if interrupted() {
        eprintln!("sipnat-bench: interrupted");
        return 130;
    }
    if !errors.is_empty() {
        eprintln!("sipnat-bench: {} run(s) failed:", errors.len());
        for e in &errors {
            eprintln!("  {}", e.lines().next().unwrap_or(""));
        }
        return 1;
    }
    0
}

/// The CPU the proxy under test is pinned to (`None`: no pinning).
static PIN: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();

/// Restrict `pid` (0: this process, before it starts threads) to `cpus`.
/// Best effort: a failure leaves the scheduler free and is reported.
fn pin(pid: libc::pid_t, cpus: &[usize]) {
    // SAFETY: cpu_set_t is plain old data; CPU_SET only writes inside it.
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    };
    if !ok {
        eprintln!(
            "sipnat-bench: cannot pin pid {pid} to CPUs {cpus:?}: {}",
            io::Error::last_os_error()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("null-relay") {
        std::process::exit(bench_null::main(&args[1..]));
    }
    let opts = match parse_opts(&args) {
        Ok(o) => o,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                std::process::exit(0);
            }
            eprintln!("sipnat-bench: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("sipnat-bench: must run as root (network namespaces)");
        std::process::exit(77);
    }
    let topo = opts.repo.join("tests/netns/topo.sh");
    if !topo.is_file() {
        eprintln!(
            "sipnat-bench: {} not found (use --repo DIR)",
            topo.display()
        );
        std::process::exit(2);
    }
    if !opts.no_sipnat && !opts.sipnat.is_file() {
        eprintln!(
            "sipnat-bench: no sipnat at {} (cargo build --release --bin sipnat, or --sipnat PATH)",
            opts.sipnat.display()
        );
        std::process::exit(2);
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("sipnat-bench: cannot find my own executable: {e}");
            std::process::exit(2);
        }
    };
    let out = match out_dir(&opts) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sipnat-bench: {e}");
            std::process::exit(2);
        }
    };
    install_signal_handlers();
    // With 2+ CPUs the proxy runs alone on the last one and everything else
    // (this tool's threads, sipp, the scripts) on the others, so the proxy
    // never waits for the load generator's CPU: its latency and CPU time are
    // its own. Children inherit this process's affinity; the proxy's is set
    // right after it starts.
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let proxy_cpu = (!opts.no_pin && ncpu >= 2).then(|| ncpu - 1);
    if let Some(c) = proxy_cpu {
        let others: Vec<usize> = (0..c).collect();
        pin(0, &others);
    }
    let _ = PIN.set(proxy_cpu);
    let cmdline = std::iter::once("sipnat-bench".to_string())
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let ctx = Ctx {
        opts,
        topo,
        exe,
        out,
    };
    std::process::exit(run(&ctx, &cmdline));
}
