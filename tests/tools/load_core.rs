//! The testable core of `sipnat-load` (the project's SIP/RTP load generator):
//! a minimal SIP message reader and writer helpers, SDP offer/answer bodies,
//! RTP/RTCP packets, per-stream receive statistics (loss, duplicates,
//! reordering) and a small JSON writer/reader for the reports.
//!
//! What it does:
//! * [`SipMsg::parse`] reads one UDP datagram: the start line (RFC 3261
//!   §7.1, §7.2), header lines with compact names expanded (§7.3.3), and the
//!   body cut at `Content-Length` (§18.3: over UDP, octets after it are
//!   ignored). Header values that may hold several comma-separated entries
//!   (Via, Record-Route) are split with [`split_list`], which respects
//!   `<...>` and quoted strings (§7.3.1).
//! * [`sdp_body`] writes a one-stream PCMU offer or answer (RFC 4566,
//!   RFC 3264) with its direction attribute, `IN IP4` or `IN IP6` by the
//!   address's family (§5.2, §5.7); [`parse_sdp`] reads back the peer's RTP
//!   and RTCP address of either family (`c=`, `m=`, `a=rtcp:` of RFC 3605,
//!   else port + 1, RFC 3550 §11) and direction. [`host_port`] writes an
//!   address and port as a SIP `hostport` (IPv6 bracketed, RFC 3261 §25.1).
//! * [`build_rtp`] / [`parse_rtp`]: an RFC 3550 §5.1 header (V=2, PT 0, seq,
//!   timestamp, SSRC) followed by a load payload that carries a magic, the
//!   call index, a 32-bit packet counter and the send time, so the receiver
//!   can measure loss, reordering and delay without the 16-bit wrap.
//!   [`build_rtcp_sr`] writes an RFC 3550 §6.4.1 sender report.
//! * [`Retx`] retransmits a request or response on RFC 3261 §17 timers
//!   until stopped (the tools' only use of a socket in here).
//! * [`SeqStats`] counts received packets by the 32-bit counter: unique,
//!   duplicates, lost below the highest seen, reordered packets and the
//!   largest reorder distance.
//! * [`nft_map_elements`] counts the elements of sipnat's nftables map as
//!   `nft list map` prints it: the kernel forwarding that the media tests
//!   and the benchmark both watch.
//!
//! What it does NOT do: SIP authentication, TCP, multipart bodies, header
//! folding (sipnat never folds), SRTP, or any codec. It is a test tool:
//! it allocates freely and favours clarity over speed.

#![allow(dead_code)] // each includer (the tool, the tests) uses a part

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ SIP

/// The first line of a SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// One parsed SIP datagram. Header names are stored lower-case and in their
/// long form; values are trimmed.
#[derive(Debug, Clone)]
pub struct SipMsg {
    pub start: Start,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// RFC 3261 §7.3.3 compact header names.
fn long_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let long = match lower.as_str() {
        "v" => "via",
        "i" => "call-id",
        "m" => "contact",
        "f" => "from",
        "t" => "to",
        "l" => "content-length",
        "c" => "content-type",
        "k" => "supported",
        "s" => "subject",
        "e" => "content-encoding",
        _ => return lower,
    };
    long.to_string()
}

impl SipMsg {
    /// Parse one datagram; `None` when it is not a SIP message.
    pub fn parse(data: &[u8]) -> Option<SipMsg> {
        let split = find(data, b"\r\n\r\n")
            .map(|p| (p, p + 4))
            .or_else(|| find(data, b"\n\n").map(|p| (p, p + 2)))?;
        let head = std::str::from_utf8(data.get(..split.0)?).ok()?;
        let mut lines = head.lines();
        let first = lines.next()?.trim_end();
        let start = if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
            let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            let code: u16 = code.parse().ok()?;
            if !(100..=699).contains(&code) {
                return None;
            }
            Start::Response {
                code,
                reason: reason.to_string(),
            }
        } else {
            let mut parts = first.split(' ');
            let method = parts.next()?.to_string();
            let uri = parts.next()?.to_string();
            if parts.next()? != "SIP/2.0" || method.is_empty() {
                return None;
            }
            Start::Request { method, uri }
        };
        let mut headers = Vec::new();
        for line in lines {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            let (name, value) = line.split_once(':')?;
            headers.push((long_name(name.trim()), value.trim().to_string()));
        }
        let rest = data.get(split.1..).unwrap_or(&[]);
        let mut msg = SipMsg {
            start,
            headers,
            body: Vec::new(),
        };
        let len = match msg.header("content-length") {
            Some(v) => v.parse::<usize>().ok()?.min(rest.len()),
            None => rest.len(),
        };
        msg.body = rest.get(..len).unwrap_or(&[]).to_vec();
        Some(msg)
    }

    /// The first value of header `name` (long form, any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order, each line split at commas.
    pub fn header_list(&self, name: &str) -> Vec<String> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .flat_map(|(_, v)| split_list(v))
            .collect()
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            Start::Request { method, .. } => Some(method),
            Start::Response { .. } => None,
        }
    }

    pub fn code(&self) -> Option<u16> {
        match self.start {
            Start::Response { code, .. } => Some(code),
            Start::Request { .. } => None,
        }
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("call-id")
    }

    /// CSeq number and method (RFC 3261 §8.1.1.5).
    pub fn cseq(&self) -> Option<(u32, String)> {
        let v = self.header("cseq")?;
        let (n, m) = v.split_once(char::is_whitespace)?;
        Some((n.trim().parse().ok()?, m.trim().to_string()))
    }

    /// Build a response to this request (RFC 3261 §8.2.6.2): Via lines,
    /// From, Call-ID and CSeq copied; To gets `to_tag` unless it has one;
    /// 18x/2xx of a dialog-creating request copy Record-Route (§12.1.1).
    /// `extra` holds complete header lines (without CRLF).
    pub fn response(
        &self,
        code: u16,
        reason: &str,
        to_tag: &str,
        extra: &[String],
        body: &[u8],
    ) -> Vec<u8> {
        let mut s = format!("SIP/2.0 {code} {reason}\r\n");
        for (n, v) in &self.headers {
            if n == "via" {
                let _ = write!(s, "Via: {v}\r\n");
            }
        }
        if (101..300).contains(&code) {
            for (n, v) in &self.headers {
                if n == "record-route" {
                    let _ = write!(s, "Record-Route: {v}\r\n");
                }
            }
        }
        let to = self.header("to").unwrap_or("");
        let to = if param(to, "tag").is_some() || code == 100 || to_tag.is_empty() {
            to.to_string()
        } else {
            format!("{to};tag={to_tag}")
        };
        let _ = write!(
            s,
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n",
            self.header("from").unwrap_or(""),
            self.call_id().unwrap_or(""),
            self.header("cseq").unwrap_or("")
        );
        for line in extra {
            let _ = write!(s, "{line}\r\n");
        }
        if !body.is_empty() {
            s.push_str("Content-Type: application/sdp\r\n");
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", body.len());
        let mut out = s.into_bytes();
        out.extend_from_slice(body);
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Split a header value at top-level commas (not inside `<>` or quotes).
pub fn split_list(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    let mut cur = String::new();
    for c in v.chars() {
        if quoted {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => {
                let t = cur.trim();
                if !t.is_empty() {
                    out.push(t.to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
    out
}

/// A header parameter (`;name=value`) outside the `<...>` of a name-addr,
/// e.g. the tag of From/To (RFC 3261 §19.3).
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let after = match value.rfind('>') {
        Some(p) => &value[p + 1..],
        None => value,
    };
    after.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The URI of a name-addr or addr-spec (`"x" <sip:a@b>;p` → `sip:a@b`).
pub fn uri_of(value: &str) -> &str {
    if let (Some(a), Some(b)) = (value.find('<'), value.find('>'))
        && a < b
    {
        return &value[a + 1..b];
    }
    value.split(';').next().unwrap_or(value).trim()
}

// ------------------------------------------------------------------ SDP

/// Media direction (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Dir {
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::SendRecv => "sendrecv",
            Dir::SendOnly => "sendonly",
            Dir::RecvOnly => "recvonly",
            Dir::Inactive => "inactive",
        }
    }

    /// The answer's direction for an offer with this one (RFC 3264 §6.1).
    pub fn answer(self) -> Dir {
        match self {
            Dir::SendRecv => Dir::SendRecv,
            Dir::SendOnly => Dir::RecvOnly,
            Dir::RecvOnly => Dir::SendOnly,
            Dir::Inactive => Dir::Inactive,
        }
    }

    /// May the author of an SDP with this direction send media?
    pub fn sends(self) -> bool {
        matches!(self, Dir::SendRecv | Dir::SendOnly)
    }
}

/// What the load tool needs from a peer's SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpInfo {
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
    pub dir: Dir,
}

impl SdpInfo {
    /// The RTP address when it is IPv4 (the benchmark's sockets are).
    pub fn rtp_v4(&self) -> Option<SocketAddrV4> {
        match self.rtp {
            SocketAddr::V4(a) => Some(a),
            SocketAddr::V6(_) => None,
        }
    }
}

/// `ip:port`, or `[ip]:port` for IPv6: a SIP `hostport` (RFC 3261 §25.1,
/// RFC 5118 §4.1).
pub fn host_port(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// The SDP address type of `ip` (RFC 4566 §5.7).
fn addrtype(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IP4" } else { "IP6" }
}

/// A one-stream G.711 µ-law session (RFC 4566 §5; PT 0 per RFC 3551).
pub fn sdp_body(ip: impl Into<IpAddr>, port: u16, sess_id: u64, version: u64, dir: Dir) -> String {
    let ip = ip.into();
    let t = addrtype(ip);
    format!(
        "v=0\r\n\
         o=load {sess_id} {version} IN {t} {ip}\r\n\
         s=sipnat-load\r\n\
         c=IN {t} {ip}\r\n\
         t=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=ptime:20\r\n\
         a={}\r\n",
        dir.as_str()
    )
}

/// The address of a `c=` or `a=rtcp:` line's `IN IP4 a.b.c.d` / `IN IP6
/// x:y::z` tail (network type, address type, address); the type must match
/// the address.
fn sdp_addr<'a>(mut f: impl Iterator<Item = &'a str>) -> Option<IpAddr> {
    let (net, t, a) = (f.next()?, f.next()?, f.next()?);
    let ip: IpAddr = a.split('/').next()?.parse().ok()?;
    (net == "IN" && t == addrtype(ip)).then_some(ip)
}

/// The first audio stream of an SDP body: address (media-level `c=` over
/// session-level), RTP port, RTCP address and direction.
pub fn parse_sdp(body: &[u8]) -> Option<SdpInfo> {
    let text = std::str::from_utf8(body).ok()?;
    let (mut session_c, mut media_c) = (None, None);
    let (mut port, mut rtcp) = (None::<u16>, None::<(u16, Option<IpAddr>)>);
    let (mut session_dir, mut media_dir) = (None, None);
    let mut in_media = false;
    for line in text.lines() {
        let line = line.trim_end();
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "m" => {
                if in_media {
                    break; // only the first stream
                }
                in_media = true;
                port = v.split_whitespace().nth(1)?.parse().ok();
            }
            "c" => {
                let ip = sdp_addr(v.split_whitespace())?;
                if in_media {
                    media_c = Some(ip);
                } else {
                    session_c = Some(ip);
                }
            }
            "a" => {
                let dir = match v {
                    "sendrecv" => Some(Dir::SendRecv),
                    "sendonly" => Some(Dir::SendOnly),
                    "recvonly" => Some(Dir::RecvOnly),
                    "inactive" => Some(Dir::Inactive),
                    _ => None,
                };
                if let Some(d) = dir {
                    if in_media {
                        media_dir = Some(d);
                    } else {
                        session_dir = Some(d);
                    }
                } else if let Some(r) = v.strip_prefix("rtcp:")
                    && in_media
                {
                    let mut f = r.split_whitespace();
                    let p: u16 = f.next()?.parse().ok()?;
                    rtcp = Some((p, sdp_addr(f)));
                }
            }
            _ => {}
        }
    }
    let ip = media_c.or(session_c)?;
    let port = port?;
    let rtcp = match rtcp {
        Some((p, a)) => SocketAddr::new(a.unwrap_or(ip), p),
        None => SocketAddr::new(ip, port.wrapping_add(1)),
    };
    Some(SdpInfo {
        rtp: SocketAddr::new(ip, port),
        rtcp,
        dir: media_dir.or(session_dir).unwrap_or(Dir::SendRecv),
    })
}

// ------------------------------------------------------------------ RTP

/// RTP header (12) + load payload header (magic, call, counter, send time).
pub const RTP_HEADER: usize = 12;
pub const LOAD_MAGIC: &[u8; 4] = b"SNLD";
pub const LOAD_HEADER: usize = 4 + 4 + 4 + 8;

/// What the receiver reads back from one of our RTP packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpInfo {
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub call: u32,
    pub counter: u32,
    pub sent_ns: u64,
}

/// Write an RTP packet (RFC 3550 §5.1: V=2, no padding/extension/CSRC,
/// marker on the first packet, PT 0) with a payload of `payload` bytes
/// (at least [`LOAD_HEADER`]) into `buf`; returns its length.
pub fn build_rtp(buf: &mut Vec<u8>, info: &RtpInfo, payload: usize) -> usize {
    buf.clear();
    let marker = if info.counter == 0 { 0x80 } else { 0 };
    buf.push(0x80);
    buf.push(marker);
    buf.extend_from_slice(&info.seq.to_be_bytes());
    buf.extend_from_slice(&info.timestamp.to_be_bytes());
    buf.extend_from_slice(&info.ssrc.to_be_bytes());
    buf.extend_from_slice(LOAD_MAGIC);
    buf.extend_from_slice(&info.call.to_be_bytes());
    buf.extend_from_slice(&info.counter.to_be_bytes());
    buf.extend_from_slice(&info.sent_ns.to_be_bytes());
    buf.resize(RTP_HEADER + payload.max(LOAD_HEADER), 0xff); // µ-law silence
    buf.len()
}

/// Read one of our RTP packets; `None` for anything else (RTCP, foreign
/// RTP, garbage).
pub fn parse_rtp(p: &[u8]) -> Option<RtpInfo> {
    let b = |i: usize| p.get(i).copied();
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(p.get(at..at + 4)?.try_into().ok()?))
    };
    if b(0)? >> 6 != 2 || b(1)? & 0x7f != 0 || p.get(12..16)? != LOAD_MAGIC {
        return None;
    }
    Some(RtpInfo {
        seq: u16::from_be_bytes([b(2)?, b(3)?]),
        timestamp: be32(4)?,
        ssrc: be32(8)?,
        call: be32(16)?,
        counter: be32(20)?,
        sent_ns: u64::from_be_bytes(p.get(24..32)?.try_into().ok()?),
    })
}

/// An RTCP sender report with no report blocks (RFC 3550 §6.4.1): 28 bytes.
pub fn build_rtcp_sr(ssrc: u32, ntp: u64, rtp_ts: u32, packets: u32, octets: u32) -> [u8; 28] {
    let mut b = [0u8; 28];
    b[0] = 0x80; // V=2, P=0, RC=0
    b[1] = 200; // SR
    b[2..4].copy_from_slice(&6u16.to_be_bytes()); // length in words - 1
    b[4..8].copy_from_slice(&ssrc.to_be_bytes());
    b[8..16].copy_from_slice(&ntp.to_be_bytes());
    b[16..20].copy_from_slice(&rtp_ts.to_be_bytes());
    b[20..24].copy_from_slice(&packets.to_be_bytes());
    b[24..28].copy_from_slice(&octets.to_be_bytes());
    b
}

/// Is this an RTCP packet (RFC 3550 §6.1: V=2, PT 200..=204; RFC 5761 §4)?
pub fn is_rtcp(p: &[u8]) -> bool {
    p.len() >= 8 && p[0] >> 6 == 2 && (200..=204).contains(&p[1])
}

// ------------------------------------------------------------------ stats

/// Receive statistics of one stream, by the load payload's 32-bit counter
/// (which the sender starts at 0).
#[derive(Debug, Clone, Default)]
pub struct SeqStats {
    seen: Vec<u64>,
    /// Packets received, duplicates included.
    pub received: u64,
    pub unique: u64,
    pub duplicates: u64,
    /// Highest counter seen.
    pub highest: Option<u32>,
    /// Packets that arrived after one with a higher counter.
    pub reordered: u64,
    /// Largest distance by which a packet arrived late (highest - counter).
    pub max_reorder: u32,
}

impl SeqStats {
    pub fn record(&mut self, counter: u32) {
        self.received += 1;
        let (word, bit) = ((counter / 64) as usize, counter % 64);
        if word >= self.seen.len() {
            if word > 1 << 20 {
                return; // absurd counter: count it, do not grow
            }
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= 1 << bit;
        self.unique += 1;
        match self.highest {
            Some(h) if counter < h => {
                self.reordered += 1;
                self.max_reorder = self.max_reorder.max(h - counter);
            }
            _ => self.highest = Some(counter),
        }
    }

    /// Packets missing below the highest counter seen (tail losses are
    /// invisible here: compare with the sender's count for those).
    pub fn lost(&self) -> u64 {
        self.highest.map_or(0, |h| u64::from(h) + 1 - self.unique)
    }

    /// Lost against what the sender says it sent.
    pub fn lost_of(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.unique)
    }

    /// Counters missing below the highest seen, as ranges `(first, last)`.
    pub fn gaps(&self) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = Vec::new();
        let Some(h) = self.highest else {
            return out;
        };
        for c in 0..=h {
            let present = self.seen[(c / 64) as usize] & (1 << (c % 64)) != 0;
            if present {
                continue;
            }
            match out.last_mut() {
                Some(r) if r.1 + 1 == c => r.1 = c,
                _ => out.push((c, c)),
            }
        }
        out
    }
}

/// Distinct source addresses, in order.
pub type Sources = BTreeSet<SocketAddr>;

// ------------------------------------------------------------ retransmission

/// RFC 3261 §17.1.1.1 timers.
pub const T1: Duration = Duration::from_millis(500);
pub const T2: Duration = Duration::from_secs(4);
pub const TIMER_B: Duration = Duration::from_secs(32);

/// A request or response retransmitted until stopped (RFC 3261 §17.1.1.2
/// Timer A doubling for INVITE, §17.1.2.2 capped at T2 otherwise; a 2xx to
/// INVITE is retransmitted like a non-INVITE request, §13.3.1.4).
pub struct Retx {
    bytes: Vec<u8>,
    dest: SocketAddr,
    next: Instant,
    interval: Duration,
    deadline: Instant,
    /// INVITE: the interval keeps doubling (Timer A), else it caps at T2.
    invite: bool,
}

impl Retx {
    pub fn new(bytes: Vec<u8>, dest: SocketAddr, now: Instant, invite: bool) -> Retx {
        Retx {
            bytes,
            dest,
            next: now + T1,
            interval: T1,
            deadline: now + TIMER_B,
            invite,
        }
    }

    /// Retransmit when due; `false` once the deadline has passed.
    pub fn poll(&mut self, now: Instant, sock: &UdpSocket) -> bool {
        if now >= self.deadline {
            return false;
        }
        if now >= self.next {
            let _ = sock.send_to(&self.bytes, self.dest);
            self.interval = if self.invite {
                self.interval * 2
            } else {
                (self.interval * 2).min(T2)
            };
            self.next = now + self.interval;
        }
        true
    }

    /// A provisional response arrived: an INVITE's Timer A stops and only
    /// Timer B is left (RFC 3261 §17.1.1.2); others go on (Timer E).
    pub fn on_provisional(&mut self) {
        if self.invite {
            self.next = self.deadline;
        }
    }

    /// The datagram being retransmitted.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// When [`Retx::poll`] next has something to do.
    pub fn due(&self) -> Instant {
        self.next.min(self.deadline)
    }
}

// ------------------------------------------------------------------ JSON

/// Quote a string as JSON.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A parsed JSON value (enough for the reports).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn parse(text: &str) -> Result<Json, String> {
        let b = text.as_bytes();
        let mut at = 0;
        let v = json_value(b, &mut at)?;
        skip_ws(b, &mut at);
        if at != b.len() {
            return Err(format!("trailing data at byte {at}"));
        }
        Ok(v)
    }

    /// Member `key` of an object, or a path `a.b.c`.
    pub fn get(&self, path: &str) -> Option<&Json> {
        let mut cur = self;
        for key in path.split('.') {
            cur = match cur {
                Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v)?,
                Json::Arr(a) => a.get(key.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    pub fn num(&self, path: &str) -> Option<f64> {
        match self.get(path)? {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }

    /// An unsigned count; missing or not a number → panics with the path
    /// (for tests: a malformed report is a test failure).
    pub fn count(&self, path: &str) -> u64 {
        match self.num(path) {
            Some(n) if n >= 0.0 => n as u64,
            _ => panic!("report has no count at '{path}'"),
        }
    }

    pub fn str_of(&self, path: &str) -> Option<&str> {
        match self.get(path)? {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn arr(&self, path: &str) -> &[Json] {
        match self.get(path) {
            Some(Json::Arr(a)) => a,
            _ => &[],
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

fn skip_ws(b: &[u8], at: &mut usize) {
    while b.get(*at).is_some_and(|c| c.is_ascii_whitespace()) {
        *at += 1;
    }
}

fn json_value(b: &[u8], at: &mut usize) -> Result<Json, String> {
    skip_ws(b, at);
    let err = |at: usize, what: &str| format!("JSON: {what} at byte {at}");
    match b.get(*at) {
        None => Err(err(*at, "unexpected end")),
        Some(b'{') => {
            *at += 1;
            let mut m = Vec::new();
            skip_ws(b, at);
            if b.get(*at) == Some(&b'}') {
                *at += 1;
                return Ok(Json::Obj(m));
            }
            loop {
                skip_ws(b, at);
                let Json::Str(k) = json_value(b, at)? else {
                    return Err(err(*at, "object key is not a string"));
                };
                skip_ws(b, at);
                if b.get(*at) != Some(&b':') {
                    return Err(err(*at, "expected ':'"));
                }
                *at += 1;
                m.push((k, json_value(b, at)?));
                skip_ws(b, at);
                match b.get(*at) {
                    Some(b',') => *at += 1,
                    Some(b'}') => {
                        *at += 1;
                        return Ok(Json::Obj(m));
                    }
                    _ => return Err(err(*at, "expected ',' or '}'")),
                }
            }
        }
        Some(b'[') => {
            *at += 1;
            let mut a = Vec::new();
            skip_ws(b, at);
            if b.get(*at) == Some(&b']') {
                *at += 1;
                return Ok(Json::Arr(a));
            }
            loop {
                a.push(json_value(b, at)?);
                skip_ws(b, at);
                match b.get(*at) {
                    Some(b',') => *at += 1,
                    Some(b']') => {
                        *at += 1;
                        return Ok(Json::Arr(a));
                    }
                    _ => return Err(err(*at, "expected ',' or ']'")),
                }
            }
        }
        Some(b'"') => {
            *at += 1;
            let mut s = String::new();
            loop {
                let start = *at;
                while b.get(*at).is_some_and(|&c| c != b'"' && c != b'\\') {
                    *at += 1;
                }
                s.push_str(
                    std::str::from_utf8(&b[start..*at]).map_err(|_| err(start, "bad UTF-8"))?,
                );
                match b.get(*at) {
                    Some(b'"') => {
                        *at += 1;
                        return Ok(Json::Str(s));
                    }
                    Some(b'\\') => {
                        let c = *b.get(*at + 1).ok_or_else(|| err(*at, "bad escape"))?;
                        *at += 2;
                        match c {
                            b'n' => s.push('\n'),
                            b'r' => s.push('\r'),
                            b't' => s.push('\t'),
                            b'u' => {
                                let hex = b.get(*at..*at + 4).ok_or_else(|| err(*at, "bad \\u"))?;
                                let hex =
                                    std::str::from_utf8(hex).map_err(|_| err(*at, "bad \\u"))?;
                                let v = u32::from_str_radix(hex, 16)
                                    .map_err(|_| err(*at, "bad \\u"))?;
                                s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                                *at += 4;
                            }
                            c => s.push(c as char),
                        }
                    }
                    _ => return Err(err(*at, "unterminated string")),
                }
            }
        }
        Some(b't') if b[*at..].starts_with(b"true") => {
            *at += 4;
            Ok(Json::Bool(true))
        }
        Some(b'f') if b[*at..].starts_with(b"false") => {
            *at += 5;
            Ok(Json::Bool(false))
        }
        Some(b'n') if b[*at..].starts_with(b"null") => {
            *at += 4;
            Ok(Json::Null)
        }
        Some(_) => {
            let start = *at;
            while b
                .get(*at)
                .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
            {
                *at += 1;
            }
            std::str::from_utf8(&b[start..*at])
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .map(Json::Num)
                .ok_or_else(|| err(start, "bad value"))
        }
    }
}

// ------------------------------------------------------------------ nftables

/// The number of elements of an nftables map as `nft list map` prints it
/// (`elements = { k : v, k : v }`, possibly over several lines); `None`
/// when the text holds no map; 0 for a map without an `elements` line.
/// sipnat's map `ip sipnat streams` holds two elements per channel in the
/// kernel (one per direction, `src/driver/fastpath.rs`).
pub fn nft_map_elements(text: &str) -> Option<u64> {
    if !text.contains("map ") {
        return None;
    }
    let Some(start) = text.find("elements = {") else {
        return Some(0);
    };
    let rest = &text[start + "elements = {".len()..];
    let body = &rest[..rest.find('}').unwrap_or(rest.len())];
    Some(body.matches(" : ").count() as u64)
}

// ------------------------------------------------------------------ tests

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@198.51.100.2 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKsn1,SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK2\r\n\
v: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK3\r\n\
Record-Route: <sip:198.51.100.1;lr>, <sip:p2.example;lr>\r\n\
f: \"A, B\" <sip:100@198.51.100.2>;tag=abc\r\n\
t: <sip:bob@198.51.100.2>\r\n\
i: 7@x\r\n\
CSeq: 1 INVITE\r\n\
m: <sip:100@198.51.100.1:5060;snc=X>\r\n\
l: 4\r\n\r\nv=0\r\nEXTRA";

    #[test]
    fn sip_parse_compact_lists_and_body() {
        let m = SipMsg::parse(INVITE).unwrap();
        assert_eq!(
            m.start,
            Start::Request {
                method: "INVITE".into(),
                uri: "sip:bob@198.51.100.2".into()
            }
        );
        assert_eq!(m.header_list("via").len(), 3);
        assert_eq!(
            m.header_list("record-route"),
            ["<sip:198.51.100.1;lr>", "<sip:p2.example;lr>"]
        );
        assert_eq!(param(m.header("from").unwrap(), "tag"), Some("abc"));
        assert_eq!(param(m.header("to").unwrap(), "tag"), None);
        assert_eq!(
            uri_of(m.header("contact").unwrap()),
            "sip:100@198.51.100.1:5060;snc=X"
        );
        assert_eq!(m.call_id(), Some("7@x"));
        assert_eq!(m.cseq(), Some((1, "INVITE".to_string())));
        // Content-Length 4: "v=0\r" (UDP: octets after it are ignored)
        assert_eq!(m.body, b"v=0\r");
    }

    #[test]
    fn sip_parse_rejects_garbage() {
        assert!(SipMsg::parse(b"hello").is_none());
        assert!(SipMsg::parse(b"SIP/2.0 9999 X\r\n\r\n").is_none());
        assert!(SipMsg::parse(b"INVITE sip:x HTTP/1.1\r\n\r\n").is_none());
        assert!(SipMsg::parse(b"INVITE sip:x SIP/2.0\r\nno colon\r\n\r\n").is_none());
        let r = SipMsg::parse(b"SIP/2.0 180 Ringing\r\nCall-ID: a\r\n\r\n").unwrap();
        assert_eq!(r.code(), Some(180));
    }

    #[test]
    fn response_copies_vias_record_route_and_adds_tag() {
        let m = SipMsg::parse(INVITE).unwrap();
        let r = m.response(
            200,
            "OK",
            "xyz",
            &["Contact: <sip:bob@1.2.3.4>".into()],
            b"v=0\r\n",
        );
        let p = SipMsg::parse(&r).unwrap();
        assert_eq!(p.code(), Some(200));
        assert_eq!(p.header_list("via").len(), 3);
        assert_eq!(p.header_list("record-route").len(), 2);
        assert_eq!(param(p.header("to").unwrap(), "tag"), Some("xyz"));
        assert_eq!(p.header("from"), m.header("from"));
        assert_eq!(p.header("content-length"), Some("5"));
        assert_eq!(p.body, b"v=0\r\n");
        // 100 Trying: no tag, no Record-Route
        let t = SipMsg::parse(&m.response(100, "Trying", "xyz", &[], b"")).unwrap();
        assert_eq!(param(t.header("to").unwrap(), "tag"), None);
        assert!(t.header("record-route").is_none());
    }

    #[test]
    fn split_list_respects_quotes_and_brackets() {
        assert_eq!(
            split_list("\"a,b\" <sip:x,y>;p=1 , <sip:z>"),
            ["\"a,b\" <sip:x,y>;p=1", "<sip:z>"]
        );
        assert_eq!(split_list(" , "), Vec::<String>::new());
    }

    #[test]
    fn sdp_round_trip_and_directions() {
        let ip = std::net::Ipv4Addr::new(10, 77, 1, 2);
        let body = sdp_body(ip, 40000, 7, 2, Dir::SendOnly);
        let i = parse_sdp(body.as_bytes()).unwrap();
        assert_eq!(i.rtp, SocketAddr::from((ip, 40000)));
        assert_eq!(i.rtcp, SocketAddr::from((ip, 40001)));
        assert_eq!(i.rtp_v4(), Some(SocketAddrV4::new(ip, 40000)));
        assert_eq!(i.dir, Dir::SendOnly);
        assert_eq!(i.dir.answer(), Dir::RecvOnly);
        assert!(!Dir::RecvOnly.sends() && Dir::SendOnly.sends());
        assert!(body.contains("o=load 7 2 IN IP4 10.77.1.2\r\n"));
    }

    /// The IPv4 body byte for byte as the tool always wrote it (the
    /// benchmark compares runs), and the same session over IPv6.
    #[test]
    fn sdp_body_of_either_family() {
        let v4 = sdp_body(
            std::net::Ipv4Addr::new(198, 51, 100, 2),
            30000,
            1000,
            1,
            Dir::SendRecv,
        );
        assert_eq!(
            v4,
            "v=0\r\no=load 1000 1 IN IP4 198.51.100.2\r\ns=sipnat-load\r\n\
             c=IN IP4 198.51.100.2\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n\
             a=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let ip: IpAddr = "2001:db8:77:1::2".parse().unwrap();
        let v6 = sdp_body(ip, 40000, 7, 2, Dir::RecvOnly);
        assert_eq!(
            v6,
            v4.replace("1000 1 IN IP4 198.51.100.2", "7 2 IN IP6 2001:db8:77:1::2")
                .replace("IN IP4 198.51.100.2", "IN IP6 2001:db8:77:1::2")
                .replace("30000", "40000")
                .replace("sendrecv", "recvonly")
        );
        let i = parse_sdp(v6.as_bytes()).unwrap();
        assert_eq!(i.rtp, SocketAddr::new(ip, 40000));
        assert_eq!(i.rtcp, SocketAddr::new(ip, 40001));
        assert_eq!(i.rtp_v4(), None);
        assert_eq!(host_port(ip, 5060), "[2001:db8:77:1::2]:5060");
        assert_eq!(
            host_port(IpAddr::from([10, 77, 1, 2]), 5060),
            "10.77.1.2:5060"
        );
    }

    /// sipnat's IPv6 SDP (`a=rtcp:` with an address, RFC 3605); an address
    /// whose type disagrees with it is not read.
    #[test]
    fn sdp_ipv6_rtcp_attribute_and_mismatched_type() {
        let body = b"v=0\r\no=- 1 1 IN IP6 fd77:1::1\r\ns=-\r\nc=IN IP6 fd77:1::1\r\nt=0 0\r\n\
m=audio 20000 RTP/AVP 0\r\na=rtcp:20001 IN IP6 fd77:1::1\r\n";
        let i = parse_sdp(body).unwrap();
        assert_eq!(i.rtp, "[fd77:1::1]:20000".parse().unwrap());
        assert_eq!(i.rtcp, "[fd77:1::1]:20001".parse().unwrap());
        let mixed = b"v=0\r\nc=IN IP4 2001:db8::1\r\nm=audio 1 RTP/AVP 0\r\n";
        assert!(parse_sdp(mixed).is_none());
        let mixed = b"v=0\r\nc=IN IP6 10.0.0.1\r\nm=audio 1 RTP/AVP 0\r\n";
        assert!(parse_sdp(mixed).is_none());
    }

    #[test]
    fn sdp_media_level_c_and_rtcp_attribute() {
        let body =
            b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\na=sendonly\r\nt=0 0\r\n\
m=audio 20000 RTP/AVP 0\r\nc=IN IP4 198.51.100.1\r\na=rtcp:20003 IN IP4 198.51.100.9\r\n\
m=video 20004 RTP/AVP 96\r\nc=IN IP4 9.9.9.9\r\n";
        let i = parse_sdp(body).unwrap();
        assert_eq!(i.rtp, "198.51.100.1:20000".parse().unwrap());
        assert_eq!(i.rtcp, "198.51.100.9:20003".parse().unwrap());
        assert_eq!(i.dir, Dir::SendOnly, "session-level direction applies");
        assert!(
            parse_sdp(b"v=0\r\nm=audio 1 RTP/AVP 0\r\n").is_none(),
            "no c="
        );
    }

    #[test]
    fn rtp_round_trip_and_rejects() {
        let info = RtpInfo {
            seq: 65535,
            timestamp: 160,
            ssrc: 0xdead_beef,
            call: 299,
            counter: 70_000,
            sent_ns: 1_234_567_890_123,
        };
        let mut buf = Vec::new();
        assert_eq!(build_rtp(&mut buf, &info, 160), 172);
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 0, "PT 0, no marker after the first packet");
        assert_eq!(parse_rtp(&buf), Some(info));
        assert!(!is_rtcp(&buf));
        let first = RtpInfo { counter: 0, ..info };
        build_rtp(&mut buf, &first, 4);
        assert_eq!(
            buf.len(),
            RTP_HEADER + LOAD_HEADER,
            "payload holds the load header"
        );
        assert_eq!(buf[1], 0x80, "marker on the first packet");
        assert_eq!(
            parse_rtp(&buf),
            Some(first),
            "the marker bit is not part of the PT"
        );
        buf[1] = 8; // PT 8 (PCMA): not ours
        assert_eq!(parse_rtp(&buf), None);
        let sr = build_rtcp_sr(1, 2, 3, 4, 5);
        assert!(is_rtcp(&sr));
        assert_eq!(parse_rtp(&sr), None);
        assert_eq!(parse_rtp(&buf[..20]), None);
        assert_eq!(parse_rtp(b""), None);
    }

    #[test]
    fn seq_stats_loss_duplicates_reorder() {
        let mut s = SeqStats::default();
        for c in [0, 1, 2, 5, 4, 4, 6, 9, 3] {
            s.record(c);
        }
        assert_eq!(s.received, 9);
        assert_eq!(s.duplicates, 1);
        assert_eq!(s.unique, 8);
        assert_eq!(s.highest, Some(9));
        // 4 arrived after 5 (1 late), 3 after 9 (6 late)
        assert_eq!((s.reordered, s.max_reorder), (2, 6));
        assert_eq!(s.lost(), 2, "7 and 8 missing");
        assert_eq!(s.gaps(), [(7, 8)]);
        assert_eq!(s.lost_of(12), 4, "two more lost at the tail");
        assert_eq!(SeqStats::default().lost(), 0);
    }

    #[test]
    fn json_round_trip() {
        let text = format!(
            "{{\"a\": {{\"b\": [1, 2.5, {}]}}, \"ok\": true, \"n\": null, \"e\": \"x\\u0041\\n\"}}",
            json_str("q\"\\\u{1}")
        );
        let j = Json::parse(&text).unwrap();
        assert_eq!(j.num("a.b.1"), Some(2.5));
        assert_eq!(j.count("a.b.0"), 1);
        assert_eq!(j.get("a.b.2").and_then(Json::as_str), Some("q\"\\\u{1}"));
        assert_eq!(j.get("ok"), Some(&Json::Bool(true)));
        assert_eq!(j.str_of("e"), Some("xA\n"));
        assert_eq!(j.arr("a.b").len(), 3);
        assert!(j.get("a.c").is_none());
        assert!(Json::parse("{\"a\":1} x").is_err());
        assert!(Json::parse("[1,").is_err());
    }

    #[test]
    fn nft_map_elements_counted() {
        let two = "table ip sipnat {
\tmap streams {
\t\ttype ipv4_addr . inet_service . inet_service : ipv4_addr . inet_service
\t\telements = { 10.77.1.2 . 40000 . 20000 : 198.51.100.2 . 40000,
\t\t\t     198.51.100.2 . 40000 . 20000 : 10.77.1.2 . 40000 }
\t}
}
";
        assert_eq!(nft_map_elements(two), Some(2));
        let empty = "table ip sipnat {
\tmap streams {
\t\ttype ipv4_addr . inet_service . inet_service : ipv4_addr . inet_service
\t}
}
";
        assert_eq!(nft_map_elements(empty), Some(0));
        assert_eq!(nft_map_elements(""), None);
    }
}
