//! `sipnat-load`: sipnat's own SIP/RTP load generator, for the namespace
//! media tests (`tests/netns_media.rs`) and the benchmark.
//!
//! Two roles, each one process:
//! * `uas`: a far end. Answers REGISTER (200, Contact echoed), INVITE (100,
//!   optionally 183 with SDP and early RTP, 180, then 200 with SDP after
//!   `--ring-ms`), ACK, re-INVITE (200 with SDP; a `sendonly` offer gets a
//!   `recvonly` answer and the UAS stops sending, RFC 3264 §8.4), BYE (200),
//!   CANCEL (200, then 487 for the INVITE, RFC 3261 §9.2), OPTIONS (200).
//!   With `--move-at-s` it sends a re-INVITE of its own that moves its media
//!   (below) and ACKs its 2xx.
//! * `uac`: a phone. Optionally REGISTERs first, then places `--calls` calls
//!   at `--rate` calls/s through its outbound proxy, ACKs the 2xx, sends RTP
//!   to the address in the answer, optionally puts the call on hold and
//!   resumes it with re-INVITEs, and hangs up with BYE after `--duration-s`.
//!   It answers the far end's re-INVITE with its SDP (200, RFC 3264 §8).
//!   In-dialog requests go to the proxy with the Record-Route set as Route
//!   and the remote Contact as Request-URI (loose routing, RFC 3261
//!   §12.2.1.1).
//!
//! Each call has its own RTP port (even) and RTCP port (+1). RTP (RFC 3550,
//! PT 0) goes out at `--pps` with `--payload` bytes that carry the call
//! index, a 32-bit packet counter and the send time; an RTCP sender report
//! goes to the peer's RTCP port every 5 s. Every packet received is counted
//! per call: unique/duplicate/lost (by counter), reordering, one-way delay,
//! source addresses, packets that belong to another stream ("mixed").
//!
//! A media move (`--move-at-s`, either role) binds a second port pair (on
//! `--move-ip`), offers it in a re-INVITE (RFC 3264 §8.3.1) and from that
//! moment (`--move-late-ms N`: N ms later, the old pair sending until then,
//! as RFC 3264 allows) sends RTP and RTCP only from it (same SSRC, the counter goes on: one stream whose
//! source moved); both pairs keep receiving, and what arrives on the new
//! one is counted apart (`rx_moved`).
//!
//! A JSON report (`--report FILE`, else stdout) holds the call counts, SIP
//! failure codes, per-direction packet counts and the distinct media source
//! addresses; the process exits 1 when anything failed: a call not
//! established or not ended cleanly, a loss above `--max-loss-pct`, a media
//! source outside `--expect-source`, mixed streams. Exit 2: usage error.
//!
//! Either IP family: `--sip`, `--proxy` as `a.b.c.d:port` or `[v6]:port`,
//! `--local`, `--media-ip` and the rest as bare addresses. An IPv6 address
//! is bracketed in Via, Contact and URIs (RFC 3261 §25.1, RFC 5118 §4.1),
//! SDP says `IN IP6` (RFC 4566 §5.7), RTP goes over IPv6 sockets. IPv4
//! messages are what they always were, byte for byte.
//!
//! What it does NOT do: authentication, TCP, DNS (addresses only),
//! forking, PRACK, or anything a sipnat test does not need. Threads: one
//! SIP thread (the main one), one RTP sender, one receiver per call; plain
//! std, no dependencies.

#[path = "load_core.rs"]
mod load_core;

use load_core::*;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
usage (IP: a.b.c.d or an IPv6 address; IP:PORT: a.b.c.d:PORT or [IPv6]:PORT):
  sipnat-load uas --sip IP:PORT --media-ip IP [--contact HOST:PORT] [--ring-ms N]
                  [--early-media] [--calls N] [--sdp-ip IP] [--send-after-ms N]
                  [common options]
  sipnat-load uac --proxy IP:PORT --local IP [--local-port P] --target SIP-URI
                  [--user U] [--register-to SIP-URI] [--calls N] [--rate CPS]
                  [--hold-at-s X --resume-at-s Y] [--cancel-after-ms N] [common options]
common: [--pps 50] [--payload 160] [--duration-s S] [--report FILE]
        [--rtp-port P] [--expect-source IP] [--max-loss-pct F] [--linger-ms N]
        [--move-at-s X [--move-ip IP] [--move-late-ms N]]
  --move-at-s X: X s after the call was set up, move its media to a new port pair
       (on --move-ip, else the same address) with a re-INVITE: from then on it
       sends only from the new pair (--move-late-ms: from N ms after the
       re-INVITE on; before, from the old one) and listens on both.
  uas: --duration-s is its whole lifetime; with --calls it stops once N calls ended;
       --sdp-ip names another address in its SDP than the one it sends from (a
       far end behind NAT, or one that lies); --send-after-ms starts its RTP
       N ms after its 200 OK instead of at once.
  uac: --duration-s is each call's length from the 200 OK to the BYE;
       --cancel-after-ms N cancels each call still ringing N ms after its INVITE.";

/// RTCP sender report interval (RFC 3550 §6.2 minimum is 5 s).
const RTCP_EVERY: Duration = Duration::from_secs(5);

// ------------------------------------------------------------------ options

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Uas,
    Uac,
}

#[derive(Debug)]
struct Opts {
    mode: Mode,
    sip: SocketAddr,
    media_ip: IpAddr,
    sdp_ip: Option<IpAddr>,
    send_after: Duration,
    contact: Option<String>,
    ring_ms: u64,
    early_media: bool,
    proxy: SocketAddr,
    local: IpAddr,
    local_port: u16,
    target: String,
    user: String,
    register_to: Option<String>,
    calls: usize,
    rate: f64,
    duration: Duration,
    pps: u32,
    payload: usize,
    hold_at: Option<Duration>,
    cancel_after: Option<Duration>,
    resume_at: Option<Duration>,
    move_at: Option<Duration>,
    move_ip: Option<IpAddr>,
    /// Keep sending from the old pair this long after the move's offer.
    move_late: Duration,
    report: Option<PathBuf>,
    rtp_port: u16,
    expect_source: Vec<IpAddr>,
    max_loss_pct: f64,
    linger: Duration,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mode = match args.first().map(String::as_str) {
        Some("uas") => Mode::Uas,
        Some("uac") => Mode::Uac,
        Some("-h" | "--help") => return Err(String::new()),
        other => return Err(format!("first argument must be uas or uac, not {other:?}")),
    };
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut o = Opts {
        mode,
        sip: SocketAddr::new(any, 5060),
        media_ip: any,
        sdp_ip: None,
        send_after: Duration::ZERO,
        contact: None,
        ring_ms: 0,
        early_media: false,
        proxy: SocketAddr::new(any, 5060),
        local: any,
        local_port: 5060,
        target: String::new(),
        user: "100".into(),
        register_to: None,
        calls: if mode == Mode::Uac { 1 } else { 0 },
        rate: 10.0,
        duration: Duration::from_secs(if mode == Mode::Uac { 3 } else { 60 }),
        pps: 50,
        payload: 160,
        hold_at: None,
        cancel_after: None,
        resume_at: None,
        move_at: None,
        move_ip: None,
        move_late: Duration::ZERO,
        report: None,
        rtp_port: if mode == Mode::Uac { 40000 } else { 30000 },
        expect_source: Vec::new(),
        max_loss_pct: 0.0,
        linger: Duration::from_millis(500),
    };
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        if a == "--early-media" {
            o.early_media = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{a} {v}: {e}");
        let secs = |v: &str| -> Result<Duration, String> {
            let f: f64 = v.parse().map_err(|e| bad(&e))?;
            if !(0.0..1e6).contains(&f) {
                return Err(bad(&"out of range"));
            }
            Ok(Duration::from_secs_f64(f))
        };
        match a.as_str() {
            "--sip" => o.sip = v.parse().map_err(|e| bad(&e))?,
            "--media-ip" => o.media_ip = v.parse().map_err(|e| bad(&e))?,
            "--sdp-ip" => o.sdp_ip = Some(v.parse().map_err(|e| bad(&e))?),
            "--send-after-ms" => {
                o.send_after = Duration::from_millis(v.parse().map_err(|e| bad(&e))?)
            }
            "--contact" => o.contact = Some(v.clone()),
            "--ring-ms" => o.ring_ms = v.parse().map_err(|e| bad(&e))?,
            "--proxy" => o.proxy = v.parse().map_err(|e| bad(&e))?,
            "--local" => o.local = v.parse().map_err(|e| bad(&e))?,
            "--local-port" => o.local_port = v.parse().map_err(|e| bad(&e))?,
            "--target" => o.target = v.clone(),
            "--user" => o.user = v.clone(),
            "--register-to" => o.register_to = Some(v.clone()),
            "--calls" => o.calls = v.parse().map_err(|e| bad(&e))?,
            "--rate" => o.rate = v.parse().map_err(|e| bad(&e))?,
            "--duration-s" => o.duration = secs(v)?,
            "--pps" => o.pps = v.parse().map_err(|e| bad(&e))?,
            "--payload" => o.payload = v.parse().map_err(|e| bad(&e))?,
            "--hold-at-s" => o.hold_at = Some(secs(v)?),
            "--cancel-after-ms" => {
                o.cancel_after = Some(Duration::from_millis(v.parse().map_err(|e| bad(&e))?))
            }
            "--resume-at-s" => o.resume_at = Some(secs(v)?),
            "--move-at-s" => o.move_at = Some(secs(v)?),
            "--move-ip" => o.move_ip = Some(v.parse().map_err(|e| bad(&e))?),
            "--move-late-ms" => {
                o.move_late = Duration::from_millis(v.parse().map_err(|e| bad(&e))?)
            }
            "--report" => o.report = Some(PathBuf::from(v)),
            "--rtp-port" => o.rtp_port = v.parse().map_err(|e| bad(&e))?,
            "--expect-source" => o.expect_source.push(v.parse().map_err(|e| bad(&e))?),
            "--max-loss-pct" => o.max_loss_pct = v.parse().map_err(|e| bad(&e))?,
            "--linger-ms" => o.linger = Duration::from_millis(v.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {a}")),
        }
    }
    if !(1..=1000).contains(&o.pps) {
        return Err("--pps must be 1..=1000".into());
    }
    if o.payload > 1400 {
        return Err("--payload must be at most 1400".into());
    }
    if o.move_ip.is_some() && o.move_at.is_none() {
        return Err("--move-ip needs --move-at-s".into());
    }
    match mode {
        Mode::Uas => {
            if o.sip.ip().is_unspecified() || o.media_ip.is_unspecified() {
                return Err("uas needs --sip IP:PORT and --media-ip IP".into());
            }
        }
        Mode::Uac => {
            if o.proxy.ip().is_unspecified() || o.local.is_unspecified() || o.target.is_empty() {
                return Err("uac needs --proxy, --local and --target".into());
            }
            if o.proxy.is_ipv4() != o.local.is_ipv4() {
                return Err("--proxy and --local must be of one IP family".into());
            }
            if o.rate.is_nan() || o.rate <= 0.0 {
                return Err("--rate must be positive".into());
            }
            if o.resume_at.is_some() && o.hold_at.is_none() {
                return Err("--resume-at-s needs --hold-at-s".into());
            }
            if let (Some(h), Some(r)) = (o.hold_at, o.resume_at)
                && r <= h
            {
                return Err("--resume-at-s must come after --hold-at-s".into());
            }
        }
    }
    Ok(o)
}

// ------------------------------------------------------------------ media

/// Where a call is, for classifying what its receiver counts.
const PH_EARLY: u8 = 0;
const PH_CONFIRMED: u8 = 1;
const PH_HOLD: u8 = 2;
const PH_RESUMED: u8 = 3;
const PH_ENDED: u8 = 4;

#[derive(Default)]
struct Rx {
    seq: SeqStats,
    sources: Sources,
    rtcp_sources: Sources,
    rtcp: u64,
    /// RTP received per phase (PH_*).
    by_phase: [u64; 5],
    /// Datagrams on the RTP port that are not our RTP.
    foreign: u64,
    /// RTP received on the moved pair's port (`--move-at-s`).
    on_moved: u64,
    /// Our RTP, but from another stream than the first one seen here.
    mixed: u64,
    peer: Option<(u32, u32)>,
    max_delay_ns: u64,
    sum_delay_ns: u128,
}

/// One call's media: its sockets, the peer's address, counters.
struct Media {
    index: u32,
    ssrc: u32,
    ip: IpAddr,
    local_port: u16,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// The second pair of a media move (`--move-at-s`), once bound.
    moved: OnceLock<Pair>,
    /// Send from `moved` (set with the offer that moves the media).
    from_moved: AtomicBool,
    remote: Mutex<Option<SdpInfo>>,
    sending: AtomicBool,
    phase: AtomicU8,
    sent: AtomicU64,
    send_errors: AtomicU64,
    rtcp_sent: AtomicU64,
    rx: Mutex<Rx>,
}

/// A bound port pair: RTP on `port`, RTCP on `port + 1`.
struct Pair {
    ip: IpAddr,
    port: u16,
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl Media {
    /// The address this call's SDP names: the moved pair's once bound.
    fn local(&self) -> (IpAddr, u16) {
        self.moved
            .get()
            .map_or((self.ip, self.local_port), |p| (p.ip, p.port))
    }

    /// The (RTP, RTCP) sockets the sender uses now.
    fn tx(&self) -> (&UdpSocket, &UdpSocket) {
        match self.moved.get() {
            Some(p) if self.from_moved.load(Relaxed) => (&p.rtp, &p.rtcp),
            _ => (&self.rtp, &self.rtcp),
        }
    }

    /// Send from the moved pair from now on; the old one goes quiet. Under
    /// the sender's lock, as [`Media::set_sending`]: once this returns, the
    /// old pair sends nothing more.
    fn send_from_moved(&self) {
        let _guard = lock(&self.remote);
        self.from_moved.store(true, Relaxed);
    }

    /// Start or stop sending. The sender checks the flag and sends while it
    /// holds `remote`, so once this returns no packet of this call is in
    /// flight from us: a BYE sent next follows the last RTP packet.
    fn set_sending(&self, on: bool) {
        let _guard = lock(&self.remote);
        self.sending.store(on, Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking thread fails the whole run anyway; keep counting.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Every call's media, shared by the SIP thread, the sender and receivers.
struct Hub {
    calls: Mutex<Vec<Arc<Media>>>,
    generation: AtomicU64,
    stop: AtomicBool,
    next_port: Mutex<u16>,
    ip: IpAddr,
}

impl Hub {
    fn new(ip: IpAddr, first_port: u16) -> Arc<Hub> {
        Arc::new(Hub {
            calls: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            next_port: Mutex::new(first_port & !1),
            ip,
        })
    }

    /// Bind an even RTP port on `ip` and the RTCP port above it.
    fn bind_pair(&self, ip: IpAddr) -> Result<Pair, String> {
        let mut port = lock(&self.next_port);
        for _ in 0..2000 {
            let p = *port;
            *port = if p >= 65532 { 10000 } else { p + 2 };
            let Ok(rtp) = UdpSocket::bind((ip, p)) else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind((ip, p + 1)) else {
                continue;
            };
            rtcp.set_nonblocking(true).map_err(|e| e.to_string())?;
            rtp.set_read_timeout(Some(Duration::from_millis(100)))
                .map_err(|e| e.to_string())?;
            return Ok(Pair {
                ip,
                port: p,
                rtp,
                rtcp,
            });
        }
        Err(format!("no free RTP port pair on {ip}"))
    }

    /// Start the receiver thread of call `m`'s first pair, or of its moved
    /// pair.
    fn receive(self: &Arc<Hub>, m: &Arc<Media>, moved: bool) -> Result<(), String> {
        let (m2, hub) = (Arc::clone(m), Arc::clone(self));
        std::thread::Builder::new()
            .name(format!("rx{}{}", m.index, if moved { "m" } else { "" }))
            .stack_size(128 * 1024)
            .spawn(move || receiver(&m2, &hub, moved))
            .map(drop)
            .map_err(|e| format!("cannot start a receiver thread: {e}"))
    }

    /// A new call's media: its pair, its receiver thread.
    fn open(self: &Arc<Hub>, index: u32) -> Result<Arc<Media>, String> {
        let Pair {
            port: p, rtp, rtcp, ..
        } = self.bind_pair(self.ip)?;
        let m = Arc::new(Media {
            index,
            ssrc: 0x5000_0000 ^ (index.wrapping_mul(2_654_435_761)) ^ u32::from(p),
            ip: self.ip,
            local_port: p,
            rtp,
            rtcp,
            moved: OnceLock::new(),
            from_moved: AtomicBool::new(false),
            remote: Mutex::new(None),
            sending: AtomicBool::new(false),
            phase: AtomicU8::new(PH_EARLY),
            sent: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            rtcp_sent: AtomicU64::new(0),
            rx: Mutex::new(Rx::default()),
        });
        self.receive(&m, false)?;
        lock(&self.calls).push(Arc::clone(&m));
        self.generation.fetch_add(1, Relaxed);
        Ok(m)
    }

    /// Bind call `m`'s second pair on `ip` (a media move) and receive on it;
    /// the sender keeps the first pair until [`Media::send_from_moved`].
    fn open_moved(self: &Arc<Hub>, m: &Arc<Media>, ip: IpAddr) -> Result<(), String> {
        let pair = self.bind_pair(ip)?;
        m.moved
            .set(pair)
            .map_err(|_| "the media moved once already".to_string())?;
        self.receive(m, true)
    }
}

/// The receiver of one of call `m`'s RTP sockets (`moved`: the second
/// pair's).
fn receiver(m: &Media, hub: &Hub, moved: bool) {
    let sock = match m.moved.get() {
        Some(p) if moved => &p.rtp,
        _ => &m.rtp,
    };
    let mut buf = [0u8; 2048];
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, src)) => {
                let now = unix_ns();
                let phase = m.phase.load(Relaxed);
                let p = &buf[..n];
                let mut rx = lock(&m.rx);
                match parse_rtp(p) {
                    Some(info) => {
                        let me = (info.call, info.ssrc);
                        if *rx.peer.get_or_insert(me) != me {
                            rx.mixed += 1;
                            continue;
                        }
                        rx.seq.record(info.counter);
                        rx.sources.insert(src);
                        rx.on_moved += u64::from(moved);
                        rx.by_phase[usize::from(phase.min(PH_ENDED))] += 1;
                        let d = now.saturating_sub(info.sent_ns);
                        rx.max_delay_ns = rx.max_delay_ns.max(d);
                        rx.sum_delay_ns += u128::from(d);
                    }
                    None if is_rtcp(p) => {
                        // RTCP on the RTP port (RFC 5761 mux): count it too
                        rx.rtcp += 1;
                        rx.rtcp_sources.insert(src);
                    }
                    None => rx.foreign += 1,
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if hub.stop.load(Relaxed) {
                    return;
                }
            }
            Err(_) => {
                if hub.stop.load(Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Drain the (non-blocking) RTCP sockets of a call.
fn drain_rtcp(m: &Media) {
    let mut buf = [0u8; 1500];
    let moved = m.moved.get().map(|p| &p.rtcp);
    for sock in std::iter::once(&m.rtcp).chain(moved) {
        while let Ok((n, src)) = sock.recv_from(&mut buf) {
            let mut rx = lock(&m.rx);
            if is_rtcp(&buf[..n]) {
                rx.rtcp += 1;
                rx.rtcp_sources.insert(src);
            } else {
                rx.foreign += 1;
            }
        }
    }
}

/// The RTP sender: every 1/pps s one packet for each call that is sending;
/// an RTCP SR every [`RTCP_EVERY`] packets' worth; RTCP sockets drained
/// every 100 ms.
fn sender(hub: &Hub, pps: u32, payload: usize) {
    let interval = Duration::from_secs(1) / pps;
    let sr_every = u64::from(pps) * RTCP_EVERY.as_secs();
    let drain_every = (u64::from(pps) / 10).max(1);
    let mut calls: Vec<Arc<Media>> = Vec::new();
    let mut seen_gen = u64::MAX;
    let mut buf = Vec::with_capacity(payload + 64);
    let mut next = Instant::now();
    let mut tick = 0u64;
    while !hub.stop.load(Relaxed) {
        let g = hub.generation.load(Relaxed);
        if g != seen_gen {
            calls = lock(&hub.calls).clone();
            seen_gen = g;
        }
        for m in &calls {
            let guard = lock(&m.remote);
            if !m.sending.load(Relaxed) {
                continue;
            }
            let Some(remote) = *guard else {
                continue;
            };
            let counter = m.sent.load(Relaxed);
            let info = RtpInfo {
                seq: counter as u16,
                timestamp: (counter as u32).wrapping_mul(payload as u32),
                ssrc: m.ssrc,
                call: m.index,
                counter: counter as u32,
                sent_ns: unix_ns(),
            };
            build_rtp(&mut buf, &info, payload);
            let (rtp, rtcp) = m.tx();
            if rtp.send_to(&buf, remote.rtp).is_ok() {
                m.sent.fetch_add(1, Relaxed);
                if counter % sr_every == 0 {
                    let ntp = unix_ns() / 1_000_000_000 + 2_208_988_800;
                    let sr = build_rtcp_sr(
                        m.ssrc,
                        ntp << 32,
                        info.timestamp,
                        counter as u32,
                        (counter * payload as u64) as u32,
                    );
                    if rtcp.send_to(&sr, remote.rtcp).is_ok() {
                        m.rtcp_sent.fetch_add(1, Relaxed);
                    }
                }
            } else {
                m.send_errors.fetch_add(1, Relaxed);
            }
        }
        tick += 1;
        if tick % drain_every == 0 {
            for m in &calls {
                drain_rtcp(m);
            }
        }
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_secs(1) {
            next = now; // hopelessly behind: do not burst to catch up
        }
    }
    for m in &calls {
        drain_rtcp(m);
    }
}

// ------------------------------------------------------------------ SIP plumbing

fn send(sock: &UdpSocket, bytes: &[u8], dest: SocketAddr) {
    if let Err(e) = sock.send_to(bytes, dest) {
        eprintln!("sipnat-load: send to {dest}: {e}");
    }
}

/// A short random-ish token (no external crates): time, pid and a counter.
fn token(n: u64) -> String {
    let t = unix_ns() ^ (u64::from(std::process::id()) << 40);
    format!("{:x}{:x}", t.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 24, n)
}

fn host_of(uri: &str) -> &str {
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    rest.split([';', '?', '>']).next().unwrap_or(rest)
}

// ------------------------------------------------------------------ report

#[derive(Default)]
struct Totals {
    attempted: u64,
    established: u64,
    /// Calls the UAC cancelled (487) or the UAS saw cancelled.
    cancelled: u64,
    ended: u64,
    failed: u64,
    codes: BTreeMap<String, u64>,
    problems: Vec<String>,
}

/// One call's line in the report.
struct CallReport {
    call_id: String,
    status: String,
    code: u16,
    established: bool,
    ended: bool,
}

fn media_json(m: &Media, o: &mut String) -> (u64, u64, u64) {
    let rx = lock(&m.rx);
    let remote = lock(&m.remote).map_or("null".to_string(), |r| json_str(&r.rtp.to_string()));
    let avg_ms = if rx.seq.received > 0 {
        rx.sum_delay_ns as f64 / rx.seq.received as f64 / 1e6
    } else {
        0.0
    };
    let srcs: Vec<String> = rx
        .sources
        .iter()
        .map(|s| json_str(&s.to_string()))
        .collect();
    let rsrcs: Vec<String> = rx
        .rtcp_sources
        .iter()
        .map(|s| json_str(&s.to_string()))
        .collect();
    let sent = m.sent.load(Relaxed);
    let moved = m
        .moved
        .get()
        .map_or("null".to_string(), |p| json_str(&host_port(p.ip, p.port)));
    let _ = write!(
        o,
        "\"local_port\": {}, \"moved_to\": {moved}, \"rx_moved\": {}, \"remote\": {remote}, \"sent\": {sent}, \"send_errors\": {}, \
         \"highest\": {}, \"received\": {}, \"unique\": {}, \"duplicates\": {}, \"lost\": {}, \"gaps\": {}, \
         \"reordered\": {}, \"max_reorder\": {}, \"mixed\": {}, \"foreign\": {}, \
         \"rx_early\": {}, \"rx_confirmed\": {}, \"rx_hold\": {}, \"rx_resumed\": {}, \"rx_after_end\": {}, \
         \"max_delay_ms\": {:.3}, \"avg_delay_ms\": {avg_ms:.3}, \"rtcp_sent\": {}, \"rtcp_received\": {}, \
         \"sources\": [{}], \"rtcp_sources\": [{}]",
        m.local_port,
        rx.on_moved,
        m.send_errors.load(Relaxed),
        rx.seq.highest.map_or(-1, i64::from),
        rx.seq.received,
        rx.seq.unique,
        rx.seq.duplicates,
        rx.seq.lost(),
        json_str(
            &rx.seq
                .gaps()
                .iter()
                .take(20)
                .map(|(a, b)| format!("{a}-{b}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
        rx.seq.reordered,
        rx.seq.max_reorder,
        rx.mixed,
        rx.foreign,
        rx.by_phase[PH_EARLY as usize],
        rx.by_phase[PH_CONFIRMED as usize],
        rx.by_phase[PH_HOLD as usize],
        rx.by_phase[PH_RESUMED as usize],
        rx.by_phase[PH_ENDED as usize],
        rx.max_delay_ns as f64 / 1e6,
        m.rtcp_sent.load(Relaxed),
        rx.rtcp,
        srcs.join(", "),
        rsrcs.join(", "),
    );
    (sent, rx.seq.unique, rx.seq.lost())
}

/// Check the media of every call, build the JSON report, write it; returns
/// whether everything passed.
fn finish(
    opts: &Opts,
    mut t: Totals,
    calls: &[(CallReport, Option<Arc<Media>>)],
    elapsed: Duration,
) -> bool {
    let mut per_call = String::new();
    let (mut sent, mut recvd, mut lost, mut dups, mut reord, mut max_reorder) = (0, 0, 0, 0, 0, 0);
    let (mut rtcp_sent, mut rtcp_recvd, mut mixed, mut early, mut resumed, mut hold) =
        (0, 0, 0, 0, 0, 0);
    let mut max_delay = 0u64;
    let mut sources = Sources::new();
    for (i, (c, m)) in calls.iter().enumerate() {
        if i > 0 {
            per_call.push_str(",\n    ");
        }
        let _ = write!(
            per_call,
            "{{\"index\": {i}, \"call_id\": {}, \"status\": {}, \"code\": {}, \"established\": {}, \"ended\": {}",
            json_str(&c.call_id),
            json_str(&c.status),
            c.code,
            c.established,
            c.ended
        );
        if let Some(m) = m {
            per_call.push_str(", ");
            let (s, r, l) = media_json(m, &mut per_call);
            sent += s;
            recvd += r;
            lost += l;
            let rx = lock(&m.rx);
            dups += rx.seq.duplicates;
            reord += rx.seq.reordered;
            max_reorder = max_reorder.max(rx.seq.max_reorder);
            rtcp_sent += m.rtcp_sent.load(Relaxed);
            rtcp_recvd += rx.rtcp;
            mixed += rx.mixed;
            early += rx.by_phase[PH_EARLY as usize];
            hold += rx.by_phase[PH_HOLD as usize];
            resumed += rx.by_phase[PH_RESUMED as usize];
            max_delay = max_delay.max(rx.max_delay_ns);
            sources.extend(rx.sources.iter().copied());
            sources.extend(rx.rtcp_sources.iter().copied());
            if c.established && rx.seq.unique == 0 {
                t.problems
                    .push(format!("call {i} ({}): no RTP received", c.call_id));
            }
            if rx.mixed > 0 {
                t.problems.push(format!(
                    "call {i}: {} RTP packets of another stream arrived on its port",
                    rx.mixed
                ));
            }
        }
        per_call.push('}');
    }
    let pct = if recvd + lost > 0 {
        lost as f64 * 100.0 / (recvd + lost) as f64
    } else {
        0.0
    };
    if pct > opts.max_loss_pct {
        t.problems.push(format!(
            "RTP loss {lost} of {} ({pct:.4} %) above --max-loss-pct {}",
            recvd + lost,
            opts.max_loss_pct
        ));
    }
    if !opts.expect_source.is_empty() {
        for s in &sources {
            let ok = opts.expect_source.contains(&s.ip());
            if !ok {
                t.problems
                    .push(format!("media from {s}, not from {:?}", opts.expect_source));
            }
        }
    }
    let ok = t.problems.is_empty();
    let codes: Vec<String> = t
        .codes
        .iter()
        .map(|(k, v)| format!("{}: {v}", json_str(k)))
        .collect();
    let problems: Vec<String> = t.problems.iter().map(|p| json_str(p)).collect();
    let srcs: Vec<String> = sources.iter().map(|s| json_str(&s.to_string())).collect();
    let report = format!(
        "{{\n  \"mode\": {},\n  \"ok\": {ok},\n  \"elapsed_s\": {:.3},\n  \"problems\": [{}],\n  \
         \"calls\": {{\"attempted\": {}, \"established\": {}, \"cancelled\": {}, \"ended\": {}, \"failed\": {}, \"codes\": {{{}}}}},\n  \
         \"rtp\": {{\"sent\": {sent}, \"received\": {recvd}, \"lost\": {lost}, \"loss_pct\": {pct:.5}, \
         \"duplicates\": {dups}, \"reordered\": {reord}, \"max_reorder\": {max_reorder}, \"mixed\": {mixed}, \
         \"rx_early\": {early}, \"rx_hold\": {hold}, \"rx_resumed\": {resumed}, \"max_delay_ms\": {:.3}}},\n  \
         \"rtcp\": {{\"sent\": {rtcp_sent}, \"received\": {rtcp_recvd}}},\n  \
         \"media_sources\": [{}],\n  \"per_call\": [\n    {per_call}\n  ]\n}}\n",
        json_str(if opts.mode == Mode::Uas { "uas" } else { "uac" }),
        elapsed.as_secs_f64(),
        problems.join(", "),
        t.attempted,
        t.established,
        t.cancelled,
        t.ended,
        t.failed,
        codes.join(", "),
        max_delay as f64 / 1e6,
        srcs.join(", "),
    );
    match &opts.report {
        Some(p) => {
            if let Err(e) = std::fs::write(p, &report) {
                eprintln!("sipnat-load: cannot write {}: {e}", p.display());
                return false;
            }
        }
        None => print!("{report}"),
    }
    for p in &t.problems {
        eprintln!("sipnat-load: PROBLEM: {p}");
    }
    ok
}

// ------------------------------------------------------------------ UAC

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum UacState {
    Inviting,
    Confirmed,
    Reinviting,
    Byeing,
    Done,
    Failed,
}

struct UacCall {
    idx: usize,
    call_id: String,
    from_tag: String,
    cseq: u32,
    invite_branch: String,
    state: UacState,
    code: u16,
    why: String,
    to_hdr: String,
    remote_target: String,
    route: Vec<String>,
    retx: Option<Retx>,
    /// CSeq and method of the client transaction in progress.
    pending: Option<(u32, &'static str)>,
    /// The ACK for each INVITE's 2xx, by CSeq (resent on 2xx retransmits).
    acks: Vec<(u32, Vec<u8>)>,
    media: Option<Arc<Media>>,
    confirmed_at: Option<Instant>,
    hold_sent: bool,
    invited_at: Instant,
    /// CANCEL sent (RFC 3261 §9.1), retransmitted until its 200.
    cancelled: bool,
    cancel_retx: Option<Retx>,
    resume_sent: bool,
    /// The direction of our latest offer.
    offered: Dir,
    sdp_version: u64,
    /// The media move (`--move-at-s`) was offered; its re-INVITE is the
    /// one in progress while `moving`.
    move_sent: bool,
    moving: bool,
    /// When it sends from the moved pair (`--move-late-ms`).
    move_switch_at: Option<Instant>,
    /// Our answer to the far end's latest re-INVITE, by its CSeq (repeated
    /// when the re-INVITE is).
    answered: Option<(u32, Vec<u8>)>,
}

struct Uac {
    o: Opts,
    sock: UdpSocket,
    hub: Arc<Hub>,
    proxy: SocketAddr,
    domain: String,
    calls: Vec<UacCall>,
    by_id: HashMap<String, usize>,
    branches: u64,
    t: Totals,
}

impl Uac {
    fn branch(&mut self) -> String {
        self.branches += 1;
        format!("z9hG4bK-ld{}", token(self.branches))
    }

    fn contact(&self) -> String {
        format!(
            "<sip:{}@{}>",
            self.o.user,
            host_port(self.o.local, self.o.local_port)
        )
    }

    /// A request of call `c` (or a REGISTER when `c` is None).
    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        method: &str,
        uri: &str,
        branch: &str,
        route: &[String],
        from_tag: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
        extra: &str,
        body: &[u8],
    ) -> Vec<u8> {
        let mut s = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={branch};rport\r\nMax-Forwards: 70\r\n",
            host_port(self.o.local, self.o.local_port)
        );
        for r in route {
            let _ = write!(s, "Route: {r}\r\n");
        }
        let _ = write!(
            s,
            "From: <sip:{}@{}>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n",
            self.o.user, self.domain
        );
        if !matches!(method, "ACK" | "BYE" | "CANCEL") {
            let _ = write!(s, "Contact: {}\r\n", self.contact());
        }
        s.push_str("User-Agent: sipnat-load\r\n");
        s.push_str(extra);
        if !body.is_empty() {
            s.push_str("Content-Type: application/sdp\r\n");
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", body.len());
        let mut b = s.into_bytes();
        b.extend_from_slice(body);
        b
    }

    fn register(&mut self) -> Result<(), String> {
        let Some(reg) = self.o.register_to.clone() else {
            return Ok(());
        };
        let call_id = format!("reg-{}@{}", token(0), self.o.local);
        let tag = token(1);
        let to = format!("<sip:{}@{}>", self.o.user, self.domain);
        let branch = self.branch();
        let req = self.request(
            "REGISTER",
            &reg,
            &branch,
            &[],
            &tag,
            &to,
            &call_id,
            1,
            "Expires: 3600\r\n",
            b"",
        );
        send(&self.sock, &req, self.proxy);
        let now = Instant::now();
        let mut retx = Retx::new(req, self.proxy, now, false);
        let mut buf = vec![0u8; 65536];
        loop {
            if !retx.poll(Instant::now(), &self.sock) {
                return Err("REGISTER: no final response within 32 s".into());
            }
            let n = match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(_) => continue,
            };
            let Some(m) = SipMsg::parse(&buf[..n]) else {
                continue;
            };
            if m.call_id() != Some(call_id.as_str()) {
                continue;
            }
            match m.code() {
                Some(c) if c < 200 => {}
                Some(c) if c < 300 => return Ok(()),
                Some(c) => return Err(format!("REGISTER answered {c}")),
                None => {}
            }
        }
    }

    fn place(&mut self, idx: usize, now: Instant) {
        let call_id = format!("{}-{}@{}", idx, token(idx as u64), self.o.local);
        let from_tag = token(idx as u64 + 7);
        let branch = self.branch();
        let to = format!("<{}>", self.o.target);
        let mut c = UacCall {
            idx,
            call_id: call_id.clone(),
            from_tag,
            cseq: 1,
            invite_branch: branch.clone(),
            state: UacState::Inviting,
            code: 0,
            why: String::new(),
            to_hdr: to.clone(),
            remote_target: self.o.target.clone(),
            route: Vec::new(),
            retx: None,
            pending: Some((1, "INVITE")),
            acks: Vec::new(),
            media: None,
            confirmed_at: None,
            hold_sent: false,
            invited_at: now,
            cancelled: false,
            cancel_retx: None,
            resume_sent: false,
            offered: Dir::SendRecv,
            sdp_version: 1,
            move_sent: false,
            moving: false,
            move_switch_at: None,
            answered: None,
        };
        self.t.attempted += 1;
        match self.hub.open(idx as u32) {
            Ok(m) => {
                let body = sdp_body(self.o.local, m.local_port, idx as u64 + 1, 1, Dir::SendRecv);
                c.media = Some(m);
                let target = self.o.target.clone();
                let req = self.request(
                    "INVITE",
                    &target,
                    &branch,
                    &[],
                    &c.from_tag,
                    &to,
                    &call_id,
                    1,
                    "",
                    body.as_bytes(),
                );
                send(&self.sock, &req, self.proxy);
                c.retx = Some(Retx::new(req, self.proxy, now, true));
            }
            Err(e) => {
                c.state = UacState::Failed;
                c.why = e;
                self.t.failed += 1;
            }
        }
        self.by_id.insert(call_id, idx);
        self.calls.push(c);
    }

    fn fail(&mut self, i: usize, code: u16, why: String) {
        let c = &mut self.calls[i];
        if matches!(c.state, UacState::Done | UacState::Failed) {
            return;
        }
        c.state = UacState::Failed;
        c.code = code;
        c.why = why;
        c.retx = None;
        c.pending = None;
        if let Some(m) = &c.media {
            m.set_sending(false);
            m.phase.store(PH_ENDED, Relaxed);
        }
        self.t.failed += 1;
        *self.t.codes.entry(code.to_string()).or_default() += 1;
    }

    /// Send an in-dialog request (re-INVITE or BYE) for call `i`.
    fn in_dialog(&mut self, i: usize, method: &'static str, body: &[u8], now: Instant) {
        let branch = self.branch();
        let c = &mut self.calls[i];
        c.cseq += 1;
        let cseq = c.cseq;
        c.pending = Some((cseq, method));
        let c = &self.calls[i];
        let req = self.request(
            method,
            &c.remote_target,
            &branch,
            &c.route,
            &c.from_tag,
            &c.to_hdr,
            &c.call_id,
            cseq,
            "",
            body,
        );
        send(&self.sock, &req, self.proxy);
        self.calls[i].retx = Some(Retx::new(req, self.proxy, now, method == "INVITE"));
    }

    fn reinvite(&mut self, i: usize, dir: Dir, now: Instant) {
        let c = &mut self.calls[i];
        let Some(m) = c.media.clone() else { return };
        c.sdp_version += 1;
        c.offered = dir;
        c.state = UacState::Reinviting;
        let (ip, port) = m.local();
        let body = sdp_body(ip, port, c.idx as u64 + 1, c.sdp_version, dir);
        self.in_dialog(i, "INVITE", body.as_bytes(), now);
    }

    /// CANCEL a ringing call: the INVITE's Request-URI, Call-ID, From, To,
    /// CSeq number and Via branch (RFC 3261 §9.1).
    fn cancel(&mut self, i: usize, now: Instant) {
        let c = &self.calls[i];
        let to = format!("<{}>", self.o.target);
        let req = self.request(
            "CANCEL",
            &self.o.target,
            &c.invite_branch,
            &[],
            &c.from_tag,
            &to,
            &c.call_id,
            1,
            "",
            b"",
        );
        send(&self.sock, &req, self.proxy);
        let c = &mut self.calls[i];
        c.cancelled = true;
        c.cancel_retx = Some(Retx::new(req, self.proxy, now, false));
    }

    fn timers(&mut self, now: Instant) {
        for i in 0..self.calls.len() {
            let c = &mut self.calls[i];
            if let Some(r) = c.retx.as_mut()
                && !r.poll(now, &self.sock)
            {
                let what = c.pending.map_or("request", |p| p.1);
                let why = format!("{what}: no final response within 32 s");
                self.fail(i, 408, why);
                continue;
            }
            if let Some(r) = self.calls[i].cancel_retx.as_mut()
                && !r.poll(now, &self.sock)
            {
                self.calls[i].cancel_retx = None;
            }
            let c = &mut self.calls[i];
            if c.move_switch_at.is_some_and(|t| now >= t) {
                c.move_switch_at = None;
                if let Some(m) = &c.media {
                    m.send_from_moved();
                }
            }
            let c = &self.calls[i];
            if let Some(after) = self.o.cancel_after
                && c.state == UacState::Inviting
                && !c.cancelled
                && now >= c.invited_at + after
            {
                self.cancel(i, now);
                continue;
            }
            let Some(t0) = c.confirmed_at else { continue };
            if c.state != UacState::Confirmed {
                continue;
            }
            if let Some(h) = self.o.hold_at
                && !c.hold_sent
                && now >= t0 + h
                && h < self.o.duration
            {
                self.calls[i].hold_sent = true;
                self.reinvite(i, Dir::SendOnly, now);
            } else if let Some(r) = self.o.resume_at
                && c.hold_sent
                && !c.resume_sent
                && now >= t0 + r
                && r < self.o.duration
            {
                self.calls[i].resume_sent = true;
                self.reinvite(i, Dir::SendRecv, now);
            } else if let Some(mv) = self.o.move_at
                && !c.move_sent
                && now >= t0 + mv
                && mv < self.o.duration
            {
                self.move_media(i, now);
            } else if now >= t0 + self.o.duration {
                if let Some(m) = &c.media {
                    m.set_sending(false);
                }
                self.calls[i].state = UacState::Byeing;
                self.in_dialog(i, "BYE", b"", now);
            }
        }
    }

    /// `--move-at-s`: bind the new pair, send from it alone from now on,
    /// and offer it (re-INVITE, RFC 3264 §8.3.1).
    fn move_media(&mut self, i: usize, now: Instant) {
        let c = &mut self.calls[i];
        c.move_sent = true;
        let Some(m) = c.media.clone() else { return };
        let ip = self.o.move_ip.unwrap_or(self.o.local);
        if let Err(e) = self.hub.open_moved(&m, ip) {
            self.t.problems.push(format!("call {i}: move: {e}"));
            return;
        }
        if self.o.move_late.is_zero() {
            m.send_from_moved();
        } else {
            self.calls[i].move_switch_at = Some(now + self.o.move_late);
        }
        self.calls[i].moving = true;
        self.reinvite(i, Dir::SendRecv, now);
    }

    /// The far end's re-INVITE: its SDP is the new offer (it may have moved
    /// its media); answer with ours (RFC 3264 §6, §8). A retransmission
    /// gets the same answer.
    fn answer_reinvite(&mut self, i: usize, m: &SipMsg, src: SocketAddr) {
        let cseq = m.cseq().map_or(0, |c| c.0);
        if let Some((n, r)) = &self.calls[i].answered
            && *n >= cseq
        {
            send(&self.sock, r, src);
            return;
        }
        let contact = format!("Contact: {}", self.contact());
        let c = &mut self.calls[i];
        let (Some(offer), Some(md)) = (parse_sdp(&m.body), c.media.clone()) else {
            let r = m.response(488, "Not Acceptable Here", "", &[], b"");
            send(&self.sock, &r, src);
            self.t
                .problems
                .push(format!("call {i}: far end's re-INVITE without SDP"));
            return;
        };
        *lock(&md.remote) = Some(offer);
        let answer = offer.dir.answer();
        if c.state == UacState::Confirmed {
            md.set_sending(answer.sends() && c.offered.sends());
        }
        let (ip, port) = md.local();
        let body = sdp_body(ip, port, c.idx as u64 + 1, c.sdp_version, answer);
        let r = m.response(200, "OK", "", &[contact], body.as_bytes());
        send(&self.sock, &r, src);
        c.answered = Some((cseq, r));
    }

    fn on_message(&mut self, m: &SipMsg, src: SocketAddr, now: Instant) {
        let Some(&i) = m.call_id().and_then(|id| self.by_id.get(id)) else {
            return;
        };
        if let Some(method) = m.method() {
            match method {
                // It ends a transaction of ours: nothing to answer.
                "ACK" => return,
                "INVITE" => return self.answer_reinvite(i, m, src),
                _ => {}
            }
            // A request from the far end: BYE ends the call; others get 200.
            let resp = m.response(200, "OK", "", &[], b"");
            send(&self.sock, &resp, src);
            if method == "BYE" {
                let c = &mut self.calls[i];
                if let Some(md) = &c.media {
                    md.set_sending(false);
                    md.phase.store(PH_ENDED, Relaxed);
                }
                if !matches!(c.state, UacState::Done | UacState::Failed) {
                    c.state = UacState::Done;
                    c.retx = None;
                    c.pending = None;
                    self.t.ended += 1;
                }
            }
            return;
        }
        let (Some(code), Some((cseq, method))) = (m.code(), m.cseq()) else {
            return;
        };
        // A 2xx to an INVITE we already ACKed (retransmission): ACK again.
        if method == "INVITE" && (200..300).contains(&code) {
            if let Some((_, ack)) = self.calls[i].acks.iter().find(|(n, _)| *n == cseq) {
                let ack = ack.clone();
                send(&self.sock, &ack, self.proxy);
                return;
            }
        }
        if method == "CANCEL" {
            self.calls[i].cancel_retx = None; // 200 (or 481: too late)
            return;
        }
        let c = &self.calls[i];
        if c.pending != Some((cseq, if method == "INVITE" { "INVITE" } else { "BYE" }))
            || (method != "INVITE" && method != "BYE")
        {
            return; // stray or late response
        }
        if code < 200 {
            if let Some(r) = self.calls[i].retx.as_mut() {
                r.on_provisional();
            }
            if method == "INVITE"
                && let Some(info) = parse_sdp(&m.body)
                && let Some(md) = &self.calls[i].media
            {
                *lock(&md.remote) = Some(info); // early media (183)
            }
            return;
        }
        let c = &mut self.calls[i];
        c.retx = None;
        c.pending = None;
        if method == "BYE" {
            if code < 300 {
                c.state = UacState::Done;
                c.code = if c.code == 0 { code } else { c.code };
                if let Some(md) = &c.media {
                    md.phase.store(PH_ENDED, Relaxed);
                }
                self.t.ended += 1;
            } else {
                self.fail(i, code, format!("BYE answered {code}"));
            }
            return;
        }
        // INVITE or re-INVITE final response
        let initial = cseq == 1;
        if code >= 300 {
            // ACK for a non-2xx: same branch as the INVITE, hop by hop (§17.1.1.3)
            let to = m.header("to").unwrap_or("").to_string();
            let branch = if initial {
                c.invite_branch.clone()
            } else {
                self.branch()
            };
            let c = &self.calls[i];
            let (uri, route) = if initial {
                (self.o.target.clone(), Vec::new())
            } else {
                (c.remote_target.clone(), c.route.clone())
            };
            let ack = self.request(
                "ACK",
                &uri,
                &branch,
                &route,
                &c.from_tag,
                &to,
                &c.call_id,
                cseq,
                "",
                b"",
            );
            send(&self.sock, &ack, self.proxy);
            if initial && code == 487 && self.calls[i].cancelled {
                let c = &mut self.calls[i];
                c.state = UacState::Done;
                c.code = code;
                if let Some(md) = &c.media {
                    md.phase.store(PH_ENDED, Relaxed);
                }
                self.t.cancelled += 1;
                *self.t.codes.entry(code.to_string()).or_default() += 1;
            } else if initial {
                self.fail(i, code, format!("INVITE answered {code}"));
            } else {
                // A failed re-INVITE keeps the call (RFC 3261 §14.1).
                self.calls[i].state = UacState::Confirmed;
                self.calls[i].moving = false;
                self.t
                    .problems
                    .push(format!("call {i}: re-INVITE answered {code}"));
            }
            return;
        }
        // 2xx
        if initial {
            c.code = code;
            c.to_hdr = m.header("to").unwrap_or("").to_string();
            c.remote_target = m.header("contact").map(uri_of).unwrap_or("").to_string();
            // UAC route set: Record-Route in reverse order (§12.1.2)
            c.route = m.header_list("record-route").into_iter().rev().collect();
            if c.remote_target.is_empty() {
                c.remote_target = self.o.target.clone();
            }
        }
        let info = parse_sdp(&m.body);
        let branch = self.branch();
        let c = &self.calls[i];
        let ack = self.request(
            "ACK",
            &c.remote_target,
            &branch,
            &c.route,
            &c.from_tag,
            &c.to_hdr,
            &c.call_id,
            cseq,
            "",
            b"",
        );
        send(&self.sock, &ack, self.proxy);
        let c = &mut self.calls[i];
        c.acks.push((cseq, ack));
        let Some(md) = c.media.clone() else { return };
        match info {
            Some(info) => *lock(&md.remote) = Some(info),
            None => {
                self.t
                    .problems
                    .push(format!("call {i}: 2xx to INVITE CSeq {cseq} without SDP"));
            }
        }
        c.state = UacState::Confirmed;
        if initial {
            c.confirmed_at = Some(now);
            self.t.established += 1;
            *self.t.codes.entry(code.to_string()).or_default() += 1;
            md.phase.store(PH_CONFIRMED, Relaxed);
            md.set_sending(true);
        } else if c.moving {
            c.moving = false; // the call goes on in its phase
        } else if c.offered == Dir::SendOnly {
            md.phase.store(PH_HOLD, Relaxed);
        } else {
            md.phase.store(PH_RESUMED, Relaxed);
        }
        // We send unless our own offer said we would not.
        md.set_sending(c.offered.sends());
    }

    fn run(mut self) -> bool {
        let start = Instant::now();
        if let Err(e) = self.register() {
            self.t.problems.push(e);
            return finish(&self.o, self.t, &[], start.elapsed());
        }
        let t0 = Instant::now();
        let n = self.o.calls;
        let spacing = Duration::from_secs_f64(1.0 / self.o.rate);
        let hard_end = t0 + spacing * n as u32 + self.o.duration + Duration::from_secs(40);
        let mut buf = vec![0u8; 65536];
        let mut all_done_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            while self.calls.len() < n && now >= t0 + spacing * self.calls.len() as u32 {
                let idx = self.calls.len();
                self.place(idx, now);
            }
            self.timers(now);
            let done = self.calls.len() == n
                && self
                    .calls
                    .iter()
                    .all(|c| matches!(c.state, UacState::Done | UacState::Failed));
            if done {
                let at = *all_done_at.get_or_insert(now);
                if now >= at + self.o.linger {
                    break;
                }
            }
            if now >= hard_end {
                for i in 0..self.calls.len() {
                    self.fail(i, 0, "still in progress at the run's end".into());
                }
                break;
            }
            if let Ok((len, src)) = self.sock.recv_from(&mut buf)
                && let Some(m) = SipMsg::parse(&buf[..len])
            {
                self.on_message(&m, src, Instant::now());
            }
        }
        self.hub.stop.store(true, Relaxed);
        std::thread::sleep(Duration::from_millis(150));
        let mut t = std::mem::take(&mut self.t);
        let mut rows = Vec::new();
        for c in &self.calls {
            if c.state == UacState::Failed {
                t.problems
                    .push(format!("call {} ({}): {}", c.idx, c.call_id, c.why));
            }
            rows.push((
                CallReport {
                    call_id: c.call_id.clone(),
                    status: format!("{:?}", c.state),
                    code: c.code,
                    established: c.confirmed_at.is_some(),
                    ended: c.state == UacState::Done,
                },
                c.media.clone(),
            ));
        }
        if ((t.established + t.cancelled) as usize) < n {
            t.problems.push(format!(
                "{} of {n} calls established, {} cancelled",
                t.established, t.cancelled
            ));
        }
        finish(&self.o, t, &rows, start.elapsed())
    }
}

// ------------------------------------------------------------------ UAS

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum UasState {
    Ringing,
    Answered,
    Confirmed,
    Cancelled,
    Ended,
    Failed,
}

struct UasCall {
    idx: usize,
    call_id: String,
    tag: String,
    invite: SipMsg,
    src: SocketAddr,
    state: UasState,
    code: u16,
    why: String,
    last_response: Vec<u8>,
    /// 2xx or error response retransmitted until its ACK, with its CSeq.
    retx: Option<(u32, Retx)>,
    answer_at: Option<Instant>,
    /// When its RTP starts (`--send-after-ms` after the 200 OK).
    send_at: Option<Instant>,
    media: Option<Arc<Media>>,
    sdp_version: u64,
    last_cseq: u32,
    established: bool,
    /// When its ACK came (the media move counts from then).
    confirmed_at: Option<Instant>,
    /// The media move's re-INVITE (`--move-at-s`): sent, its Via branch,
    /// retransmitted until a final response, and its ACK once answered.
    move_sent: bool,
    move_branch: String,
    move_retx: Option<Retx>,
    move_ack: Option<Vec<u8>>,
    /// When it sends from the moved pair (`--move-late-ms`).
    move_switch_at: Option<Instant>,
}

/// The CSeq of the far end's own re-INVITE (its first request in the
/// dialog; any number will do, RFC 3261 §12.2.1.1).
const MOVE_CSEQ: u32 = 101;

struct Uas {
    o: Opts,
    sock: UdpSocket,
    hub: Arc<Hub>,
    contact: String,
    calls: Vec<UasCall>,
    by_id: HashMap<String, usize>,
    t: Totals,
    ended: usize,
}

impl Uas {
    fn contact_line(&self) -> String {
        format!("Contact: <sip:uas@{}>", self.contact)
    }

    fn sdp(&self, c: &UasCall, dir: Dir) -> Vec<u8> {
        let (ip, port) = match &c.media {
            Some(m) if m.moved.get().is_some() => m.local(),
            Some(m) => (self.o.sdp_ip.unwrap_or(self.o.media_ip), m.local_port),
            None => (self.o.sdp_ip.unwrap_or(self.o.media_ip), 0),
        };
        sdp_body(ip, port, 1000 + c.idx as u64, c.sdp_version, dir).into_bytes()
    }

    fn respond(&mut self, i: usize, code: u16, reason: &str, body: &[u8]) {
        let extra = if code > 100 && code < 300 {
            vec![self.contact_line()]
        } else {
            Vec::new()
        };
        let c = &self.calls[i];
        let r = c.invite.response(code, reason, &c.tag, &extra, body);
        send(&self.sock, &r, c.src);
        self.calls[i].last_response = r;
    }

    fn on_request(&mut self, m: SipMsg, src: SocketAddr, now: Instant) {
        let method = m.method().unwrap_or("").to_string();
        let call = m.call_id().and_then(|id| self.by_id.get(id)).copied();
        match (method.as_str(), call) {
            ("REGISTER", _) => {
                let contact = m.header("contact").unwrap_or("*").to_string();
                let r = m.response(
                    200,
                    "OK",
                    &token(1),
                    &[
                        format!("Contact: {contact};expires=3600"),
                        "Expires: 3600".into(),
                    ],
                    b"",
                );
                send(&self.sock, &r, src);
            }
            ("INVITE", None) => self.new_call(m, src, now),
            ("INVITE", Some(i)) => {
                let cseq = m.cseq().map_or(0, |c| c.0);
                if cseq <= self.calls[i].last_cseq {
                    // retransmission: repeat the latest response
                    let r = self.calls[i].last_response.clone();
                    send(&self.sock, &r, src);
                    return;
                }
                self.reinvite(i, m, src, now);
            }
            ("ACK", Some(i)) => {
                let cseq = m.cseq().map_or(0, |c| c.0);
                let c = &mut self.calls[i];
                if c.retx.as_ref().is_some_and(|(n, _)| *n == cseq) {
                    c.retx = None;
                }
                match c.state {
                    UasState::Answered => {
                        c.state = UasState::Confirmed;
                        c.confirmed_at = Some(now);
                        c.established = true;
                        self.t.established += 1;
                        if let Some(md) = &c.media {
                            md.phase.store(PH_CONFIRMED, Relaxed);
                        }
                    }
                    UasState::Cancelled => {
                        c.state = UasState::Ended;
                        self.ended += 1;
                    }
                    _ => {}
                }
            }
            ("BYE", Some(i)) => {
                let r = m.response(200, "OK", "", &[], b"");
                send(&self.sock, &r, src);
                let c = &mut self.calls[i];
                c.send_at = None;
                if let Some(md) = &c.media {
                    md.set_sending(false);
                    md.phase.store(PH_ENDED, Relaxed);
                }
                if !matches!(c.state, UasState::Ended | UasState::Failed) {
                    if c.state == UasState::Answered {
                        // BYE before the ACK: accept it, the call existed
                        c.established = true;
                        self.t.established += 1;
                    }
                    c.state = UasState::Ended;
                    c.retx = None;
                    self.t.ended += 1;
                    self.ended += 1;
                }
            }
            ("CANCEL", Some(i)) => {
                let r = m.response(200, "OK", &self.calls[i].tag.clone(), &[], b"");
                send(&self.sock, &r, src);
                if self.calls[i].state == UasState::Ringing {
                    let c = &mut self.calls[i];
                    c.state = UasState::Cancelled;
                    c.code = 487;
                    c.answer_at = None;
                    if let Some(md) = &c.media {
                        md.set_sending(false);
                        md.phase.store(PH_ENDED, Relaxed);
                    }
                    self.respond(i, 487, "Request Terminated", b"");
                    let c = &mut self.calls[i];
                    let cseq = c.invite.cseq().map_or(1, |x| x.0);
                    c.retx = Some((cseq, Retx::new(c.last_response.clone(), c.src, now, false)));
                    *self.t.codes.entry("487".into()).or_default() += 1;
                    self.t.cancelled += 1;
                }
            }
            ("CANCEL", None) | ("BYE", None) => {
                let r = m.response(481, "Call/Transaction Does Not Exist", &token(2), &[], b"");
                send(&self.sock, &r, src);
            }
            ("ACK", None) => {}
            _ => {
                let r = m.response(200, "OK", &token(3), &[], b"");
                send(&self.sock, &r, src);
            }
        }
    }

    fn new_call(&mut self, m: SipMsg, src: SocketAddr, now: Instant) {
        let idx = self.calls.len();
        let call_id = m.call_id().unwrap_or("").to_string();
        let cseq = m.cseq().map_or(1, |c| c.0);
        let offer = parse_sdp(&m.body);
        self.t.attempted += 1;
        let mut c = UasCall {
            idx,
            call_id: call_id.clone(),
            tag: token(idx as u64 + 11),
            invite: m,
            src,
            state: UasState::Ringing,
            code: 0,
            why: String::new(),
            last_response: Vec::new(),
            retx: None,
            answer_at: Some(now + Duration::from_millis(self.o.ring_ms)),
            send_at: None,
            media: None,
            sdp_version: 1,
            last_cseq: cseq,
            established: false,
            confirmed_at: None,
            move_sent: false,
            move_branch: String::new(),
            move_retx: None,
            move_ack: None,
            move_switch_at: None,
        };
        let media = match offer {
            None => Err("INVITE without a usable SDP offer".to_string()),
            Some(info) => self.hub.open(idx as u32).inspect(|md| {
                *lock(&md.remote) = Some(info);
            }),
        };
        let ok = media.is_ok();
        match media {
            Ok(md) => c.media = Some(md),
            Err(e) => {
                c.why = e;
                c.state = UasState::Failed;
                c.answer_at = None;
            }
        }
        self.by_id.insert(call_id, idx);
        self.calls.push(c);
        if !ok {
            self.respond(idx, 488, "Not Acceptable Here", b"");
            self.t.failed += 1;
            *self.t.codes.entry("488".into()).or_default() += 1;
            return;
        }
        self.respond(idx, 100, "Trying", b"");
        if self.o.early_media {
            let body = self.sdp(&self.calls[idx], Dir::SendRecv);
            self.respond(idx, 183, "Session Progress", &body);
            if let Some(md) = &self.calls[idx].media {
                md.set_sending(true);
            }
        }
        self.respond(idx, 180, "Ringing", b"");
        if self.o.ring_ms == 0 {
            self.answer(idx, now);
        }
    }

    fn answer(&mut self, i: usize, now: Instant) {
        self.calls[i].answer_at = None;
        let body = self.sdp(&self.calls[i], Dir::SendRecv);
        self.respond(i, 200, "OK", &body);
        let c = &mut self.calls[i];
        c.state = UasState::Answered;
        c.code = 200;
        let cseq = c.invite.cseq().map_or(1, |x| x.0);
        c.retx = Some((cseq, Retx::new(c.last_response.clone(), c.src, now, false)));
        *self.t.codes.entry("200".into()).or_default() += 1;
        if self.o.send_after > Duration::ZERO {
            c.send_at = Some(now + self.o.send_after);
        } else if let Some(md) = &c.media {
            md.set_sending(true);
        }
    }

    fn reinvite(&mut self, i: usize, m: SipMsg, src: SocketAddr, now: Instant) {
        let cseq = m.cseq().map_or(0, |c| c.0);
        let Some(offer) = parse_sdp(&m.body) else {
            let r = m.response(488, "Not Acceptable Here", "", &[], b"");
            send(&self.sock, &r, src);
            self.t
                .problems
                .push(format!("call {i}: re-INVITE without SDP"));
            return;
        };
        let answer = offer.dir.answer();
        let c = &mut self.calls[i];
        c.last_cseq = cseq;
        c.sdp_version += 1;
        if let Some(md) = &c.media {
            *lock(&md.remote) = Some(offer);
            md.set_sending(answer.sends());
            let was = md.phase.load(Relaxed);
            let phase = if !offer.dir.sends() || !answer.sends() {
                PH_HOLD
            } else if was == PH_HOLD {
                PH_RESUMED
            } else {
                was
            };
            md.phase.store(phase, Relaxed);
        }
        let body = self.sdp(&self.calls[i], answer);
        let c = &self.calls[i];
        let extra = vec![self.contact_line()];
        let r = m.response(200, "OK", &c.tag, &extra, &body);
        send(&self.sock, &r, src);
        let c = &mut self.calls[i];
        c.last_response = r.clone();
        c.retx = Some((cseq, Retx::new(r, src, now, false)));
    }

    /// A request of ours in call `i`'s dialog (RFC 3261 §12.2.1.1): the
    /// phone's Contact as Request-URI, the Record-Route set in order as
    /// Route (§12.1.1), From and To swapped; sent where the INVITE came
    /// from (sipnat, the first Route).
    fn in_dialog(&self, i: usize, method: &str, branch: &str, to: &str, body: &[u8]) -> Vec<u8> {
        let c = &self.calls[i];
        let inv = &c.invite;
        let target = inv.header("contact").map_or("", uri_of);
        let mut s = format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={branch};rport\r\nMax-Forwards: 70\r\n",
            self.o.sip
        );
        for r in inv.header_list("record-route") {
            let _ = write!(s, "Route: {r}\r\n");
        }
        let _ = write!(
            s,
            "From: {};tag={}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {MOVE_CSEQ} {method}\r\n",
            inv.header("to").unwrap_or(""),
            c.tag,
            c.call_id
        );
        if method == "INVITE" {
            let _ = write!(s, "{}\r\n", self.contact_line());
        }
        s.push_str("User-Agent: sipnat-load\r\n");
        if !body.is_empty() {
            s.push_str("Content-Type: application/sdp\r\n");
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", body.len());
        let mut b = s.into_bytes();
        b.extend_from_slice(body);
        b
    }

    /// `--move-at-s`: bind the new pair, send from it alone from now on,
    /// and offer it in a re-INVITE (RFC 3264 §8.3.1).
    fn move_media(&mut self, i: usize, now: Instant) {
        self.calls[i].move_sent = true;
        let Some(md) = self.calls[i].media.clone() else {
            return;
        };
        let ip = self.o.move_ip.unwrap_or(self.o.media_ip);
        if let Err(e) = self.hub.open_moved(&md, ip) {
            self.t.problems.push(format!("call {i}: move: {e}"));
            return;
        }
        if self.o.move_late.is_zero() {
            md.send_from_moved();
        } else {
            self.calls[i].move_switch_at = Some(now + self.o.move_late);
        }
        self.calls[i].sdp_version += 1;
        let body = self.sdp(&self.calls[i], Dir::SendRecv);
        let branch = format!("z9hG4bK-ldm{}", token(i as u64));
        let to = self.calls[i]
            .invite
            .header("from")
            .unwrap_or("")
            .to_string();
        let req = self.in_dialog(i, "INVITE", &branch, &to, &body);
        let c = &mut self.calls[i];
        send(&self.sock, &req, c.src);
        c.move_branch = branch;
        c.move_retx = Some(Retx::new(req, c.src, now, true));
    }

    /// A response: only the move's re-INVITE expects one. 2xx: the phone's
    /// SDP, then ACK (a retransmitted 2xx gets the same ACK); an error
    /// keeps the call (RFC 3261 §14.1) and is a problem.
    fn on_response(&mut self, m: &SipMsg) {
        let Some(&i) = m.call_id().and_then(|id| self.by_id.get(id)) else {
            return;
        };
        let (Some(code), Some((cseq, method))) = (m.code(), m.cseq()) else {
            return;
        };
        if method != "INVITE" || cseq != MOVE_CSEQ || !self.calls[i].move_sent {
            return;
        }
        let src = self.calls[i].src;
        if code < 200 {
            if let Some(r) = self.calls[i].move_retx.as_mut() {
                r.on_provisional();
            }
            return;
        }
        if let Some(ack) = &self.calls[i].move_ack {
            send(&self.sock, ack, src);
            return;
        }
        self.calls[i].move_retx = None;
        let to = m.header("to").unwrap_or("").to_string();
        // ACK of a 2xx: a new transaction; of an error: the INVITE's branch.
        let branch = if code < 300 {
            format!("z9hG4bK-lda{}", token(i as u64))
        } else {
            self.calls[i].move_branch.clone()
        };
        let ack = self.in_dialog(i, "ACK", &branch, &to, b"");
        send(&self.sock, &ack, src);
        self.calls[i].move_ack = Some(ack);
        if code >= 300 {
            self.t
                .problems
                .push(format!("call {i}: the move's re-INVITE answered {code}"));
            return;
        }
        match (parse_sdp(&m.body), &self.calls[i].media) {
            (Some(info), Some(md)) => *lock(&md.remote) = Some(info),
            _ => self
                .t
                .problems
                .push(format!("call {i}: 2xx to the move's re-INVITE without SDP")),
        }
    }

    fn run(mut self) -> bool {
        let start = Instant::now();
        let end = start + self.o.duration;
        let mut buf = vec![0u8; 65536];
        let mut done_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            for i in 0..self.calls.len() {
                if self.calls[i].answer_at.is_some_and(|t| now >= t) {
                    self.answer(i, now);
                }
                if self.calls[i].send_at.is_some_and(|t| now >= t) {
                    self.calls[i].send_at = None;
                    if let Some(md) = &self.calls[i].media {
                        md.set_sending(true);
                    }
                }
                let c = &mut self.calls[i];
                if let Some((_, r)) = c.retx.as_mut()
                    && !r.poll(now, &self.sock)
                {
                    c.retx = None;
                    c.why = "no ACK for the final response within 32 s".into();
                    c.state = UasState::Failed;
                    self.t.failed += 1;
                }
                if let Some(r) = c.move_retx.as_mut()
                    && !r.poll(now, &self.sock)
                {
                    c.move_retx = None;
                    self.t.problems.push(format!(
                        "call {i}: the move's re-INVITE got no final response within 32 s"
                    ));
                }
                if c.move_switch_at.is_some_and(|t| now >= t) {
                    c.move_switch_at = None;
                    if let Some(md) = &c.media {
                        md.send_from_moved();
                    }
                }
                if let (Some(mv), Some(t0)) = (self.o.move_at, c.confirmed_at)
                    && c.state == UasState::Confirmed
                    && !c.move_sent
                    && now >= t0 + mv
                {
                    self.move_media(i, now);
                }
            }
            if self.o.calls > 0 && self.ended >= self.o.calls {
                let at = *done_at.get_or_insert(now);
                if now >= at + self.o.linger {
                    break;
                }
            }
            if now >= end {
                if self.o.calls > 0 && self.ended < self.o.calls {
                    self.t.problems.push(format!(
                        "only {} of the {} expected calls ended within --duration-s",
                        self.ended, self.o.calls
                    ));
                }
                break;
            }
            if let Ok((len, src)) = self.sock.recv_from(&mut buf)
                && let Some(m) = SipMsg::parse(&buf[..len])
            {
                if m.method().is_some() {
                    self.on_request(m, src, Instant::now());
                } else {
                    self.on_response(&m);
                }
            }
        }
        self.hub.stop.store(true, Relaxed);
        std::thread::sleep(Duration::from_millis(150));
        let mut t = std::mem::take(&mut self.t);
        let mut rows = Vec::new();
        for c in &self.calls {
            let bad = match c.state {
                UasState::Failed => Some(c.why.clone()),
                UasState::Ringing | UasState::Answered | UasState::Confirmed => {
                    Some(format!("still {:?} at the end", c.state))
                }
                UasState::Cancelled | UasState::Ended => None,
            };
            if let Some(why) = bad {
                t.problems
                    .push(format!("call {} ({}): {why}", c.idx, c.call_id));
            }
            rows.push((
                CallReport {
                    call_id: c.call_id.clone(),
                    status: format!("{:?}", c.state),
                    code: c.code,
                    established: c.established,
                    ended: c.state == UasState::Ended,
                },
                c.media.clone(),
            ));
        }
        if self.o.calls > 0 && (t.attempted as usize) < self.o.calls {
            t.problems.push(format!(
                "{} INVITEs received, {} expected",
                t.attempted, self.o.calls
            ));
        }
        finish(&self.o, t, &rows, start.elapsed())
    }
}

// ------------------------------------------------------------------ main

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_opts(&args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("sipnat-load: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(if e.is_empty() { 0 } else { 2 });
        }
    };
    let (bind, media_ip) = match o.mode {
        Mode::Uas => (o.sip, o.media_ip),
        Mode::Uac => (SocketAddr::new(o.local, o.local_port), o.local),
    };
    let sock = match UdpSocket::bind(bind) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sipnat-load: cannot bind SIP socket {bind}: {e}");
            std::process::exit(2);
        }
    };
    // Short reads keep the timers (call placement, retransmissions) on time.
    let _ = sock.set_read_timeout(Some(Duration::from_millis(2)));
    let hub = Hub::new(media_ip, o.rtp_port);
    let sender_hub = Arc::clone(&hub);
    let (pps, payload) = (o.pps, o.payload);
    let sender_thread = std::thread::Builder::new()
        .name("rtp-tx".into())
        .spawn(move || sender(&sender_hub, pps, payload));
    if let Err(e) = sender_thread {
        eprintln!("sipnat-load: cannot start the sender thread: {e}");
        std::process::exit(2);
    }
    let ok = match o.mode {
        Mode::Uas => {
            let contact = o.contact.clone().unwrap_or_else(|| o.sip.to_string());
            Uas {
                o,
                sock,
                hub,
                contact,
                calls: Vec::new(),
                by_id: HashMap::new(),
                t: Totals::default(),
                ended: 0,
            }
            .run()
        }
        Mode::Uac => {
            let domain = host_of(o.register_to.as_deref().unwrap_or(&o.target)).to_string();
            let proxy = o.proxy;
            Uac {
                o,
                sock,
                hub,
                proxy,
                domain,
                calls: Vec::new(),
                by_id: HashMap::new(),
                branches: 0,
                t: Totals::default(),
            }
            .run()
        }
    };
    std::process::exit(if ok { 0 } else { 1 });
}
