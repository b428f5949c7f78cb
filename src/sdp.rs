//! SDP bodies (RFC 4566): parse what the media relay needs, and rewrite the
//! addresses and ports so the far side sends its media to sipnat's relay.
//!
//! What it does:
//! * [`Sdp::parse`] reads a session description in one pass over borrowed
//!   bytes: the `o=` address, the session-level `c=` address, and for each
//!   `m=` line (at most [`MAX_MEDIA`]) its port, effective connection
//!   address, `a=rtcp:` port (RFC 3605), direction attribute (RFC 3264 §5.1,
//!   §6.1) and protocol;
//! * [`Sdp::is_hold`] tells whether an offer puts the call on hold
//!   (RFC 3264 §8.4, and the older RFC 2543 `c=0.0.0.0` form);
//! * [`rewrite`] copies a body into a bounded [`Buf`] with every `c=` and the
//!   `o=` address replaced by the relay address, each `m=` port by its relay
//!   port, `a=rtcp:` lines pointed at the relay's RTCP port, and ICE
//!   attributes removed. Every other byte, line endings included, is copied
//!   unchanged.
//!
//! What it does NOT do: decide addresses or ports (the caller owns the relay
//! table), fix up `Content-Length` (the SIP writer does), negotiate codecs,
//! understand SRTP keys or DTLS fingerprints (copied verbatim), or relay IPv6
//! or multicast sessions (they are refused with [`SdpError::AddrType`] /
//! [`SdpError::Multicast`] so the proxy can answer 488). Host names in `c=`
//! are refused too (sipnat needs an address literal to relay to); a host name
//! in `o=` is accepted (the field only identifies the session) and rewritten.
//!
//! Leniency, on purpose (a proxy meets many phones):
//! * bare LF line ends are accepted (RFC 4566 §5 says parsers SHOULD), and a
//!   missing final line end; empty lines are skipped (and copied);
//! * fields may be separated by several spaces or tabs;
//! * the `o=` user name may contain spaces (the address is the last field);
//! * `m=` lines without a format list are accepted;
//! * a rejected stream (port 0, RFC 3264 §6) needs no `c=` line; its address
//!   is then `0.0.0.0`.
//!
//! Nothing here panics on input or allocates: lines and fields are `&str`
//! views into the body, the media list is a `heapless::Vec`.

use crate::output::Buf;
use std::net::Ipv4Addr;

/// `m=` lines sipnat reads per body; a body with more is refused with
/// [`SdpError::TooManyMedia`]. Of these, a call relays at most
/// [`crate::limits::MAX_STREAMS_PER_CALL`] (one relay port pair each); the
/// others are rejected in the rewritten body (port 0).
pub const MAX_MEDIA: usize = 8;

/// Why an SDP body cannot be relayed. [`SdpError::as_str`] names each reason
/// for the stats counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpError {
    /// The body is not UTF-8 (RFC 4566 §5: the default charset is UTF-8).
    NotUtf8,
    /// A line is not `<letter>=<value>`, or a field is missing from an
    /// `o=`, `c=`, `m=` or `a=rtcp:` line, or a second `c=` line appears at
    /// one level (RFC 4566 §5.7 allows that only for multicast).
    Syntax,
    /// The first line is not `v=0` (RFC 4566 §5.1).
    NoVersion,
    /// An `m=` line with a non-zero port has no `c=` line at media or session
    /// level (RFC 4566 §5.7).
    NoConnection,
    /// A `c=`, `o=` or `a=rtcp:` address is not `IN IP4` with an IPv4
    /// literal (`c=` only): sipnat relays IPv4 only for now.
    AddrType,
    /// An `m=` or `a=rtcp:` port (or `m=` port count) is not a decimal
    /// number in range.
    BadPort,
    /// More than [`MAX_MEDIA`] `m=` lines.
    TooManyMedia,
    /// A `c=` (or `a=rtcp:`) address is multicast or carries a TTL or
    /// address count (RFC 4566 §5.7).
    Multicast,
    /// The output buffer is too small for the rewritten body.
    Overflow,
    /// [`rewrite`] was given an [`Sdp`] that was not parsed from its body
    /// (a caller bug; nothing is written).
    Mismatch,
}

impl SdpError {
    /// Short stable name for stats and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            SdpError::NotUtf8 => "sdp-not-utf8",
            SdpError::Syntax => "sdp-syntax",
            SdpError::NoVersion => "sdp-no-version",
            SdpError::NoConnection => "sdp-no-connection",
            SdpError::AddrType => "sdp-addr-type",
            SdpError::BadPort => "sdp-bad-port",
            SdpError::TooManyMedia => "sdp-too-many-media",
            SdpError::Multicast => "sdp-multicast",
            SdpError::Overflow => "sdp-overflow",
            SdpError::Mismatch => "sdp-mismatch",
        }
    }
}

impl core::fmt::Display for SdpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Media direction attribute (RFC 3264 §5.1, §6.1; RFC 4566 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attr(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// The `<media>` field of an `m=` line (RFC 4566 §5.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
    /// `image` (T.38 fax, RFC 3362).
    Image,
    Text,
    Application,
    /// Anything else (`message`, or a type from a later RFC).
    Other,
}

impl MediaKind {
    fn from_field(s: &str) -> MediaKind {
        match s {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "image" => MediaKind::Image,
            "text" => MediaKind::Text,
            "application" => MediaKind::Application,
            _ => MediaKind::Other,
        }
    }
}

/// One `m=` line with what the relay needs to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Media {
    /// `m=` port (0 = stream rejected/disabled, RFC 3264 §6).
    pub port: u16,
    /// `m=<media> <port>/<count>`: how many consecutive RTP ports the stream
    /// uses (RFC 4566 §5.14); 1 when absent. The relay serves the first one.
    pub port_count: u16,
    /// Effective connection address: media-level `c=`, else session-level
    /// `c=` (RFC 4566 §5.7); `0.0.0.0` for a rejected stream without either.
    pub addr: Ipv4Addr,
    /// `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605 §2.1), else None (RTCP on
    /// port + 1, RFC 3550 §11).
    pub rtcp: Option<(u16, Option<Ipv4Addr>)>,
    /// `a=rtcp-mux` (RFC 5761 §5.1.1): RTCP offered on the RTP port.
    pub rtcp_mux: bool,
    /// Media-level direction attribute, else session-level, else SendRecv
    /// (RFC 3264 §5.1).
    pub direction: Direction,
    /// The protocol is RTP based: it starts with `RTP/` (RTP/AVP, RTP/SAVP,
    /// RTP/AVPF ...) or is `UDP/TLS/RTP/...` (RFC 5764 §8).
    pub is_rtp: bool,
    /// The protocol is DTLS-SRTP, `UDP/TLS/RTP/...` (RFC 5764 §8): the
    /// DTLS handshake shares the media ports.
    pub dtls: bool,
    /// The protocol runs over UDP, so the relay can carry it: RTP/...,
    /// UDP/..., `udptl` (T.38, RFC 3362). False for `TCP/...` and others.
    pub udp: bool,
    /// The `<media>` field.
    pub kind: MediaKind,
}

/// What sipnat needs from one SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// The `m=` lines in body order.
    pub media: heapless::Vec<Media, MAX_MEDIA>,
    /// `o=` unicast address when it is an IPv4 literal (None: no `o=` line,
    /// or a host name there).
    pub origin_addr: Option<Ipv4Addr>,
    /// Session-level `c=` address.
    pub session_addr: Option<Ipv4Addr>,
}

/// What to write instead, per body.
#[derive(Debug, Clone, Copy)]
pub struct Rewrite<'p> {
    /// sipnat's relay address on the side the body goes to.
    pub addr: Ipv4Addr,
    /// What happens to the port of media `i` (same order as
    /// [`Sdp::media`]); no entry (a shorter slice) keeps it. A stream the
    /// author rejected (port 0) stays 0 whatever is given here.
    pub ports: &'p [Port],
}

/// The new port of one `m=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Leave the line's own port.
    Keep,
    /// The relay's RTP port (RTCP: the next one).
    Relay(u16),
    /// Reject the stream: port 0 (RFC 3264 §6), e.g. when the relay has no
    /// room for it.
    Reject,
}

impl Port {
    /// `Relay(p)` for a port, `Keep` for 0 — the form the tests use.
    pub fn relay_or_keep(p: u16) -> Port {
        if p == 0 { Port::Keep } else { Port::Relay(p) }
    }
}

// ---------------------------------------------------------------------------
// Lines and fields

/// One line of the body: `text` without its line end, `raw` with it. Both
/// start at the same byte, so spans into `text` index `raw` too.
struct RawLine<'a> {
    text: &'a str,
    raw: &'a str,
}

/// Splits a body into lines at LF, stripping one CR before it (RFC 4566 §5:
/// CRLF, but parsers SHOULD accept LF). The last line may lack a line end.
struct Lines<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Lines<'a> {
    type Item = RawLine<'a>;

    fn next(&mut self) -> Option<RawLine<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (raw, rest) = match self.rest.find('\n') {
            // `i` is the index of an ASCII byte, so i + 1 is a char boundary.
            Some(i) => self.rest.split_at(i + 1),
            None => (self.rest, ""),
        };
        self.rest = rest;
        let text = raw.strip_suffix('\n').unwrap_or(raw);
        let text = text.strip_suffix('\r').unwrap_or(text);
        Some(RawLine { text, raw })
    }
}

fn lines(body: &str) -> Lines<'_> {
    Lines { rest: body }
}

fn is_sep(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Whitespace-separated fields of `s` with their byte offset in `s`.
struct Fields<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let rest = self.s.get(self.pos..)?;
        let skip = rest.len() - rest.trim_start_matches(is_sep).len();
        let start = self.pos + skip;
        let tail = self.s.get(start..)?;
        if tail.is_empty() {
            self.pos = self.s.len();
            return None;
        }
        let len = tail.find(is_sep).unwrap_or(tail.len());
        self.pos = start + len;
        tail.get(..len).map(|f| (start, f))
    }
}

fn fields(s: &str) -> Fields<'_> {
    Fields { s, pos: 0 }
}

/// A byte range within a line's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

fn span(offset: usize, field_start: usize, field: &str) -> Span {
    let start = offset + field_start;
    Span {
        start,
        end: start + field.len(),
    }
}

/// `1*DIGIT` that fits a u16 (RFC 4566 §9 `port`).
fn parse_port(s: &str) -> Result<u16, SdpError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SdpError::BadPort);
    }
    s.parse::<u16>().map_err(|_| SdpError::BadPort)
}

/// What one line means to sipnat. Spans are byte ranges into the line text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line<'a> {
    /// Empty line (tolerated, copied).
    Blank,
    Version(&'a str),
    /// `o=`: the unicast-address field (RFC 4566 §5.2).
    Origin {
        addr: Option<Ipv4Addr>,
        at: Span,
    },
    /// `c=IN IP4 <addr>` (RFC 4566 §5.7).
    Connection {
        addr: Ipv4Addr,
        at: Span,
    },
    /// `m=` (RFC 4566 §5.14).
    Media {
        kind: MediaKind,
        port: u16,
        count: u16,
        port_at: Span,
        proto: &'a str,
    },
    /// `a=rtcp:` (RFC 3605 §2.1).
    Rtcp {
        port: u16,
        port_at: Span,
        addr: Option<(Ipv4Addr, Span)>,
    },
    Direction(Direction),
    RtcpMux,
    /// ICE attributes (RFC 8839 §5): dropped by [`rewrite`].
    Ice,
    /// Any other well-formed line: copied.
    Other,
}

/// `<nettype> <addrtype>` must be `IN IP4` (RFC 4566 §5.7; IP6 is refused).
fn check_in_ip4(nettype: &str, addrtype: &str) -> Result<(), SdpError> {
    if nettype.eq_ignore_ascii_case("IN") && addrtype.eq_ignore_ascii_case("IP4") {
        Ok(())
    } else {
        Err(SdpError::AddrType)
    }
}

/// A unicast IPv4 literal as `c=` and `a=rtcp:` need it.
fn parse_unicast(s: &str) -> Result<Ipv4Addr, SdpError> {
    if s.contains('/') {
        // <addr>/<ttl>[/<count>]: multicast only (RFC 4566 §5.7).
        return Err(SdpError::Multicast);
    }
    let a: Ipv4Addr = s.parse().map_err(|_| SdpError::AddrType)?;
    if a.is_multicast() {
        return Err(SdpError::Multicast);
    }
    Ok(a)
}

/// Names of ICE attributes (RFC 8839 §5, RFC 8840 §4.1): they carry LAN
/// candidates that a relaying proxy cannot honour, so they are removed.
fn is_ice_attr(name: &str) -> bool {
    matches!(
        name,
        "candidate" | "remote-candidates" | "end-of-candidates"
    ) || name.starts_with("ice-")
}

fn classify(text: &str) -> Result<Line<'_>, SdpError> {
    if text.is_empty() {
        return Ok(Line::Blank);
    }
    let b = text.as_bytes();
    // RFC 4566 §5: `<type>=<value>`, type one letter, no space around '='.
    match b {
        [t, b'=', ..] if t.is_ascii_alphabetic() => {}
        _ => return Err(SdpError::Syntax),
    }
    // Bytes 0 and 1 are ASCII, so 2 is a char boundary.
    let value = text.get(2..).ok_or(SdpError::Syntax)?;
    let off = 2;
    match b.first() {
        Some(b'v') => Ok(Line::Version(value.trim_matches(is_sep))),
        Some(b'o') => {
            // <username> <sess-id> <sess-version> <nettype> <addrtype> <addr>;
            // the last three are read from the end so a user name with spaces
            // (seen in the wild) still parses.
            let mut last: [(usize, &str); 3] = [(0, ""); 3];
            let mut n = 0usize;
            for f in fields(value) {
                last = [last[1], last[2], f];
                n += 1;
            }
            if n < 6 {
                return Err(SdpError::Syntax);
            }
            let [(_, net), (_, at), (a_start, a)] = last;
            check_in_ip4(net, at)?;
            Ok(Line::Origin {
                addr: a.parse().ok(),
                at: span(off, a_start, a),
            })
        }
        Some(b'c') => {
            let mut f = fields(value);
            let (Some((_, net)), Some((_, at)), Some((a_start, a)), None) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(SdpError::Syntax);
            };
            check_in_ip4(net, at)?;
            Ok(Line::Connection {
                addr: parse_unicast(a)?,
                at: span(off, a_start, a),
            })
        }
        Some(b'm') => {
            // <media> <port>[/<number of ports>] <proto> 1*(SP <fmt>)
            let mut f = fields(value);
            let (Some((_, media)), Some((p_start, p)), Some((_, proto))) =
                (f.next(), f.next(), f.next())
            else {
                return Err(SdpError::Syntax);
            };
            let (port_s, count) = match p.split_once('/') {
                Some((ps, cs)) => {
                    let c = parse_port(cs)?;
                    if c == 0 {
                        return Err(SdpError::BadPort);
                    }
                    (ps, c)
                }
                None => (p, 1),
            };
            Ok(Line::Media {
                kind: MediaKind::from_field(media),
                port: parse_port(port_s)?,
                count,
                port_at: span(off, p_start, port_s),
                proto,
            })
        }
        Some(b'a') => {
            let (name, aval) = match value.split_once(':') {
                Some((n, v)) => (n, Some(v)),
                None => (value.trim_end_matches(is_sep), None),
            };
            if is_ice_attr(name) {
                return Ok(Line::Ice);
            }
            if name == "rtcp-mux" {
                return Ok(Line::RtcpMux);
            }
            if let Some(d) = Direction::from_attr(name) {
                return Ok(Line::Direction(d));
            }
            if name != "rtcp" {
                return Ok(Line::Other);
            }
            // a=rtcp:<port> [<nettype> <addrtype> <connection-address>]
            let Some(aval) = aval else {
                return Err(SdpError::Syntax);
            };
            let aoff = off + name.len() + 1;
            let mut f = fields(aval);
            let Some((p_start, p)) = f.next() else {
                return Err(SdpError::Syntax);
            };
            let port = parse_port(p)?;
            let addr = match (f.next(), f.next(), f.next(), f.next()) {
                (None, _, _, _) => None,
                (Some((_, net)), Some((_, at)), Some((a_start, a)), None) => {
                    check_in_ip4(net, at)?;
                    Some((parse_unicast(a)?, span(aoff, a_start, a)))
                }
                _ => return Err(SdpError::Syntax),
            };
            Ok(Line::Rtcp {
                port,
                port_at: span(aoff, p_start, p),
                addr,
            })
        }
        _ => Ok(Line::Other),
    }
}

// ---------------------------------------------------------------------------
// Parsing

/// Per-media state while its description is being read.
struct Pending {
    media: Media,
    c: Option<Ipv4Addr>,
    dir: Option<Direction>,
}

impl Sdp {
    /// Parse an SDP body. Accepts CRLF or bare LF line ends (RFC 4566 §5:
    /// parsers SHOULD accept LF). Never panics, never allocates.
    pub fn parse(body: &[u8]) -> Result<Sdp, SdpError> {
        let text = core::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
        let mut sdp = Sdp {
            media: heapless::Vec::new(),
            origin_addr: None,
            session_addr: None,
        };
        let mut seen_version = false;
        let mut session_dir: Option<Direction> = None;
        let mut cur: Option<Pending> = None;
        for l in lines(text) {
            let line = classify(l.text);
            if !seen_version {
                // RFC 4566 §5.1: the description starts with `v=0`.
                match line {
                    Ok(Line::Blank) => continue,
                    Ok(Line::Version("0")) => {
                        seen_version = true;
                        continue;
                    }
                    _ => return Err(SdpError::NoVersion),
                }
            }
            match (line?, cur.as_mut()) {
                (Line::Origin { addr, .. }, None) if sdp.origin_addr.is_none() => {
                    sdp.origin_addr = addr
                }
                (Line::Connection { addr, .. }, None) => set_once(&mut sdp.session_addr, addr)?,
                (Line::Connection { addr, .. }, Some(p)) => set_once(&mut p.c, addr)?,
                (Line::Direction(d), None) => session_dir = Some(d),
                (Line::Direction(d), Some(p)) => p.dir = Some(d),
                (Line::Rtcp { port, addr, .. }, Some(p)) => {
                    p.media.rtcp = Some((port, addr.map(|(a, _)| a)))
                }
                (Line::RtcpMux, Some(p)) => p.media.rtcp_mux = true,
                (
                    Line::Media {
                        kind,
                        port,
                        count,
                        proto,
                        ..
                    },
                    _,
                ) => {
                    if let Some(p) = cur.take() {
                        finish(&mut sdp, p, session_dir)?;
                    }
                    if sdp.media.is_full() {
                        return Err(SdpError::TooManyMedia);
                    }
                    cur = Some(Pending {
                        media: Media {
                            port,
                            port_count: count,
                            addr: Ipv4Addr::UNSPECIFIED,
                            rtcp: None,
                            rtcp_mux: false,
                            direction: Direction::SendRecv,
                            is_rtp: is_rtp(proto),
                            dtls: has_prefix_ci(proto, "UDP/TLS/"),
                            udp: is_udp(proto),
                            kind,
                        },
                        c: None,
                        dir: None,
                    });
                }
                // Session-level a=rtcp / a=rtcp-mux mean nothing (RFC 3605
                // §2.1, RFC 5761 §5.1.1 are media-level); a second o= or a
                // later v= is left alone.
                _ => {}
            }
        }
        if !seen_version {
            return Err(SdpError::NoVersion);
        }
        if let Some(p) = cur.take() {
            finish(&mut sdp, p, session_dir)?;
        }
        Ok(sdp)
    }

    /// True if the body puts the call on hold: every active stream (port
    /// not 0) is `sendonly` or `inactive` (RFC 3264 §8.4), or has the
    /// old-style connection address `0.0.0.0` (RFC 2543 §B.5). A body with
    /// no active stream is not a hold.
    pub fn is_hold(&self) -> bool {
        let mut active = self.media.iter().filter(|m| m.port != 0).peekable();
        active.peek().is_some()
            && active.all(|m| {
                matches!(m.direction, Direction::SendOnly | Direction::Inactive)
                    || m.addr.is_unspecified()
            })
    }
}

/// One `c=` per level (RFC 4566 §5.7: several only for multicast).
fn set_once(slot: &mut Option<Ipv4Addr>, addr: Ipv4Addr) -> Result<(), SdpError> {
    match slot.replace(addr) {
        Some(_) => Err(SdpError::Syntax),
        None => Ok(()),
    }
}

fn finish(sdp: &mut Sdp, p: Pending, session_dir: Option<Direction>) -> Result<(), SdpError> {
    let mut m = p.media;
    m.addr = match (p.c, sdp.session_addr) {
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) if m.port == 0 => Ipv4Addr::UNSPECIFIED,
        (None, None) => return Err(SdpError::NoConnection),
    };
    m.direction = p.dir.or(session_dir).unwrap_or(Direction::SendRecv);
    sdp.media.push(m).map_err(|_| SdpError::TooManyMedia)
}

fn has_prefix_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

fn is_rtp(proto: &str) -> bool {
    has_prefix_ci(proto, "RTP/") || has_prefix_ci(proto, "UDP/TLS/RTP/")
}

fn is_udp(proto: &str) -> bool {
    is_rtp(proto)
        || proto.eq_ignore_ascii_case("udp")
        || has_prefix_ci(proto, "UDP/")
        || proto.eq_ignore_ascii_case("udptl")
}

// ---------------------------------------------------------------------------
// Rewriting

enum Tok {
    Port(u32),
    Addr(Ipv4Addr),
}

fn put_addr(out: &mut Buf<'_>, a: Ipv4Addr) {
    let [a0, a1, a2, a3] = a.octets();
    out.put_u32(a0.into());
    out.put(b".");
    out.put_u32(a1.into());
    out.put(b".");
    out.put_u32(a2.into());
    out.put(b".");
    out.put_u32(a3.into());
}

/// Copy `raw` with the spans in `repl` (ascending, not overlapping, within
/// the line text) replaced.
fn put_replaced(out: &mut Buf<'_>, raw: &str, repl: &[(Span, Tok)]) {
    let raw = raw.as_bytes();
    let mut at = 0usize;
    for (s, tok) in repl {
        // Spans come from the line's own fields, so they lie in `raw`;
        // `get` keeps a mistake from panicking.
        out.put(raw.get(at..s.start).unwrap_or_default());
        match *tok {
            Tok::Port(p) => out.put_u32(p),
            Tok::Addr(a) => put_addr(out, a),
        }
        at = s.end;
    }
    out.put(raw.get(at..).unwrap_or_default());
}

/// Write the rewritten body into `out` (RFC 3264 §5, §8 as a relaying
/// middlebox would):
/// - `o=`: the unicast-address field becomes `rw.addr` (user name, session
///   id and version are kept);
/// - every `c=IN IP4 x` (session and media level) becomes `c=IN IP4
///   <addr>`, except `0.0.0.0`, which stays (old-style hold must survive,
///   RFC 3264 §8.4);
/// - `m=<media> <port>[/<count>] <proto> <fmt...>`: the port is replaced by
///   `rw.ports[i]` if that is non-zero and the original port is non-zero;
///   "/count" is kept;
/// - `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605): the port becomes
///   `ports[i] + 1` when the `m=` port was replaced, the address (if any)
///   becomes `addr` unless it is `0.0.0.0`; a session-level `a=rtcp:` (which
///   RFC 3605 does not define) is dropped, as it could only leak a LAN
///   address;
/// - ICE attributes (`a=candidate`, `a=remote-candidates`,
///   `a=end-of-candidates`, `a=ice-*`) are dropped: they carry LAN addresses,
///   and ICE cannot work through a relay that rewrites `c=`/`m=` (the far end
///   falls back to `c=`/`m=`, RFC 8445 §5.4 / RFC 8839 §4.2);
/// - every other line is copied byte for byte, its line end included.
///
/// Returns Err if the body does not parse, or if `sdp` is not what it parses
/// to ([`SdpError::Mismatch`]): nothing is written then. On
/// [`SdpError::Overflow`] `out` is truncated back to where it started (its
/// overflow flag stays set); the caller abandons it.
pub fn rewrite(
    body: &[u8],
    sdp: &Sdp,
    rw: &Rewrite<'_>,
    out: &mut Buf<'_>,
) -> Result<(), SdpError> {
    let parsed = Sdp::parse(body)?;
    if parsed != *sdp {
        return Err(SdpError::Mismatch);
    }
    // Parse succeeded, so the body is UTF-8.
    let text = core::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
    let start = out.len();
    // The relay port of the current media (None: keep its port), or the
    // session level (outer None).
    let mut media: Option<Option<u16>> = None;
    let mut index = 0usize;
    for l in lines(text) {
        match classify(l.text) {
            Ok(Line::Origin { at, .. }) => put_replaced(out, l.raw, &[(at, Tok::Addr(rw.addr))]),
            Ok(Line::Connection { addr, at }) if !addr.is_unspecified() => {
                put_replaced(out, l.raw, &[(at, Tok::Addr(rw.addr))])
            }
            Ok(Line::Media { port, port_at, .. }) => {
                let action = if port == 0 {
                    Port::Keep
                } else {
                    rw.ports.get(index).copied().unwrap_or(Port::Keep)
                };
                index += 1;
                match action {
                    Port::Relay(p) if p != 0 => {
                        media = Some(Some(p));
                        put_replaced(out, l.raw, &[(port_at, Tok::Port(p.into()))])
                    }
                    Port::Reject => {
                        media = Some(None);
                        put_replaced(out, l.raw, &[(port_at, Tok::Port(0))])
                    }
                    _ => {
                        media = Some(None);
                        out.put(l.raw.as_bytes())
                    }
                }
            }
            Ok(Line::Rtcp { port_at, addr, .. }) => {
                let Some(new) = media else {
                    continue; // session level: dropped
                };
                let port = new.map(|p| u32::from(p) + 1);
                if port.is_some_and(|p| p > u32::from(u16::MAX)) {
                    // RTP on 65535 leaves no RTCP port to name (relay
                    // ports are even, RFC 3550 §11, so this never happens).
                    continue;
                }
                let mut repl: heapless::Vec<(Span, Tok), 2> = heapless::Vec::new();
                if let Some(p) = port {
                    // Capacity 2, at most two pushes.
                    let _ = repl.push((port_at, Tok::Port(p)));
                }
                if let Some((_, at)) = addr.filter(|(a, _)| !a.is_unspecified()) {
                    let _ = repl.push((at, Tok::Addr(rw.addr)));
                }
                put_replaced(out, l.raw, &repl);
            }
            Ok(Line::Ice) => {}
            Ok(_) => out.put(l.raw.as_bytes()),
            Err(e) => {
                // Cannot happen: the same lines parsed above.
                out.truncate(start);
                return Err(e);
            }
        }
    }
    if out.overflowed() {
        out.truncate(start);
        return Err(SdpError::Overflow);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

    /// LF body text → CRLF bytes.
    fn crlf(s: &str) -> Vec<u8> {
        s.replace('\n', "\r\n").into_bytes()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap() // test input: a literal
    }

    fn rewritten(body: &[u8], ports: &[u16]) -> Result<Vec<u8>, SdpError> {
        let sdp = Sdp::parse(body)?;
        let mut mem = [0u8; 4096];
        let mut out = Buf::new(&mut mem);
        let ports: Vec<Port> = ports.iter().map(|&p| Port::relay_or_keep(p)).collect();
        rewrite(
            body,
            &sdp,
            &Rewrite {
                addr: RELAY,
                ports: &ports,
            },
            &mut out,
        )?;
        Ok(out.as_bytes().to_vec())
    }

    fn err(body: &[u8]) -> SdpError {
        Sdp::parse(body).expect_err("body must be refused")
    }

    // sipp's built-in uac scenario SDP, with its template fields filled in.
    const SIPP: &str = "v=0
o=user1 53655765 2353687637 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

    // A Linphone-style offer: many codecs, session-level ICE credentials,
    // candidates, a=rtcp with an address.
    const LINPHONE: &str = "v=0
o=alice 1832 3290 IN IP4 192.168.1.33
s=Talk
c=IN IP4 192.168.1.33
t=0 0
a=ice-pwd:31ec21eb38b2ec6d36e8dc7b
a=ice-ufrag:c6c4e8a1
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 SILK/16000
a=rtpmap:98 speex/16000
a=fmtp:98 vbr=on
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp:7079 IN IP4 192.168.1.33
a=candidate:1 1 UDP 2130706303 192.168.1.33 7078 typ host
a=candidate:1 2 UDP 2130706302 192.168.1.33 7079 typ host
a=candidate:2 1 UDP 1694498687 198.51.100.7 41234 typ srflx raddr 192.168.1.33 rport 7078
a=end-of-candidates
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
";

    // A baresip-style audio+video offer: media-level c= only, a=rtcp
    // without address, rtcp-mux on video, an explicit a=sendrecv.
    const BARESIP: &str = "v=0
o=- 1195016281 3712634066 IN IP4 10.0.0.5
s=-
t=0 0
m=audio 10000 RTP/AVP 0 8 101
c=IN IP4 10.0.0.5
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtcp:10001
a=sendrecv
a=label:1
m=video 10002 RTP/AVPF 96
c=IN IP4 10.0.0.6
b=AS:2000
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=0;profile-level-id=42e01f
a=rtcp-mux
a=rtcp-fb:* nack pli
";

    // A re-INVITE putting audio and video on hold (RFC 3264 §8.4).
    const HOLD: &str = "v=0
o=- 1 3 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
a=sendonly
m=audio 6000 RTP/AVP 0 8
m=video 6002 RTP/AVP 96
a=inactive
";

    // RFC 2543 style hold: c=0.0.0.0.
    const OLD_HOLD: &str = "v=0
o=- 1 4 IN IP4 192.168.1.20
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 6000 RTP/AVP 0
a=rtcp:6001 IN IP4 0.0.0.0
";

    // An answer rejecting video (port 0, RFC 3264 §6); the rejected stream
    // has no c= at all.
    const REJECT: &str = "v=0
o=bob 7 8 IN IP4 192.168.1.50
s=-
t=0 0
m=audio 4000 RTP/AVP 0
c=IN IP4 192.168.1.50
a=rtcp:4001 IN IP4 192.168.1.50
m=video 0 RTP/AVP 96
a=rtcp:9 IN IP4 192.168.1.50
";

    // T.38 fax re-INVITE (RFC 3362 image/t38 over UDPTL).
    const T38: &str = "v=0
o=fax 2 3 IN IP4 192.168.1.40
s=-
c=IN IP4 192.168.1.40
t=0 0
m=image 5004 udptl t38
a=T38FaxVersion:0
a=T38MaxBitRate:14400
a=T38FaxRateManagement:transferredTCF
a=T38FaxMaxDatagram:400
a=T38FaxUdpEC:t38UDPRedundancy
";

    const SAMPLES: [&str; 7] = [SIPP, LINPHONE, BARESIP, HOLD, OLD_HOLD, REJECT, T38];

    #[test]
    fn sipp_offer_parses() {
        let s = Sdp::parse(&crlf(SIPP)).unwrap();
        assert_eq!(s.origin_addr, Some(ip("192.168.1.20")));
        assert_eq!(s.session_addr, Some(ip("192.168.1.20")));
        assert_eq!(
            s.media.as_slice(),
            &[Media {
                port: 6000,
                port_count: 1,
                addr: ip("192.168.1.20"),
                rtcp: None,
                rtcp_mux: false,
                direction: Direction::SendRecv,
                is_rtp: true,
                dtls: false,
                udp: true,
                kind: MediaKind::Audio,
            }]
        );
        assert!(!s.is_hold());
    }

    #[test]
    fn sipp_offer_rewrites_exactly() {
        let out = rewritten(&crlf(SIPP), &[7070]).unwrap();
        let want = crlf(
            "v=0
o=user1 53655765 2353687637 IN IP4 203.0.113.1
s=-
c=IN IP4 203.0.113.1
t=0 0
m=audio 7070 RTP/AVP 0
a=rtpmap:0 PCMU/8000
",
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want)
        );
    }

    #[test]
    fn linphone_offer_loses_ice_and_points_rtcp_at_relay() {
        let body = crlf(LINPHONE);
        let s = Sdp::parse(&body).unwrap();
        assert_eq!(s.media.len(), 1);
        assert_eq!(s.media[0].port, 7078);
        assert_eq!(s.media[0].rtcp, Some((7079, Some(ip("192.168.1.33")))));
        let out = rewritten(&body, &[7070]).unwrap();
        let text = core::str::from_utf8(&out).unwrap();
        assert!(!text.contains("candidate"), "{text}");
        assert!(!text.contains("a=ice-"), "{text}");
        assert!(!text.contains("192.168.1.33"), "{text}");
        assert!(
            text.contains("\r\na=rtcp:7071 IN IP4 203.0.113.1\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nm=audio 7070 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n"));
        // Unrelated attributes survive byte for byte, in order.
        assert!(text.contains(
            "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n"
        ));
        assert!(text.ends_with("a=rtcp-fb:* trr-int 1000\r\na=rtcp-fb:* ccm tmmbr\r\n"));
        // Every line of the output is a line of the input.
        let input = core::str::from_utf8(&body).unwrap();
        for l in text.split_inclusive('\n') {
            let kept = input.split_inclusive('\n').any(|i| i == l);
            assert!(
                kept || l.starts_with("o=")
                    || l.starts_with("c=")
                    || l.starts_with("m=")
                    || l.starts_with("a=rtcp:"),
                "{l}"
            );
        }
        let again = Sdp::parse(&out).unwrap();
        assert_eq!(again.media[0].port, 7070);
        assert_eq!(again.media[0].rtcp, Some((7071, Some(RELAY))));
        assert_eq!(again.origin_addr, Some(RELAY));
    }

    #[test]
    fn baresip_audio_video_media_level_connection() {
        let body = BARESIP.as_bytes(); // LF-only line ends
        let s = Sdp::parse(body).unwrap();
        assert_eq!(s.session_addr, None);
        assert_eq!(s.media.len(), 2);
        let (a, v) = (s.media[0], s.media[1]);
        assert_eq!(
            (a.kind, a.port, a.addr, a.rtcp),
            (MediaKind::Audio, 10000, ip("10.0.0.5"), Some((10001, None)))
        );
        assert_eq!(
            (v.kind, v.port, v.addr, v.rtcp, v.rtcp_mux),
            (MediaKind::Video, 10002, ip("10.0.0.6"), None, true)
        );
        assert!(v.is_rtp && v.udp);
        let out = rewritten(body, &[7070, 7072]).unwrap();
        let text = core::str::from_utf8(&out).unwrap();
        assert!(!text.contains('\r'), "LF style kept");
        assert!(text.contains("\nm=audio 7070 RTP/AVP 0 8 101\nc=IN IP4 203.0.113.1\n"));
        assert!(!text.contains("\na=rtcp:10001\n") && text.contains("\na=rtcp:7071\n"));
        assert!(text.contains("\nm=video 7072 RTP/AVPF 96\nc=IN IP4 203.0.113.1\nb=AS:2000\n"));
        let again = Sdp::parse(&out).unwrap();
        let ports: Vec<_> = again.media.iter().map(|m| (m.port, m.addr)).collect();
        assert_eq!(ports, [(7070, RELAY), (7072, RELAY)]);
        assert_eq!(again.media[0].rtcp, Some((7071, None)));
    }

    #[test]
    fn hold_directions_session_and_media_level() {
        let s = Sdp::parse(&crlf(HOLD)).unwrap();
        assert_eq!(s.media[0].direction, Direction::SendOnly); // from session level
        assert_eq!(s.media[1].direction, Direction::Inactive); // media level wins
        assert!(s.is_hold());

        // Media-level recvonly overrides session sendonly: not a hold.
        let s = Sdp::parse(&crlf(&HOLD.replace("a=inactive", "a=recvonly"))).unwrap();
        assert_eq!(s.media[1].direction, Direction::RecvOnly);
        assert!(!s.is_hold());

        // An answer to a hold is recvonly: not a hold itself.
        let s = Sdp::parse(&crlf(&SIPP.replace("a=rtpmap:0 PCMU/8000", "a=recvonly"))).unwrap();
        assert_eq!(s.media[0].direction, Direction::RecvOnly);
        assert!(!s.is_hold());

        // Held audio plus a rejected video is still a hold.
        let held = format!("{SIPP}a=sendonly\nm=video 0 RTP/AVP 96\n");
        assert!(Sdp::parse(held.as_bytes()).unwrap().is_hold());
    }

    #[test]
    fn old_style_hold_keeps_zero_address() {
        let body = crlf(OLD_HOLD);
        let s = Sdp::parse(&body).unwrap();
        assert_eq!(s.session_addr, Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(s.media[0].addr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(s.media[0].direction, Direction::SendRecv);
        assert!(s.is_hold());
        let out = rewritten(&body, &[7070]).unwrap();
        let text = core::str::from_utf8(&out).unwrap();
        assert!(text.contains("\r\nc=IN IP4 0.0.0.0\r\n"), "{text}");
        assert!(
            text.contains("\r\na=rtcp:7071 IN IP4 0.0.0.0\r\n"),
            "{text}"
        );
        assert!(text.contains("o=- 1 4 IN IP4 203.0.113.1\r\n"), "{text}");
        assert!(Sdp::parse(&out).unwrap().is_hold());
    }

    #[test]
    fn rejected_stream_keeps_port_zero() {
        let body = crlf(REJECT);
        let s = Sdp::parse(&body).unwrap();
        assert_eq!(s.media[1].port, 0);
        assert_eq!(s.media[1].addr, Ipv4Addr::UNSPECIFIED);
        assert!(!s.is_hold());
        let out = rewritten(&body, &[7070, 7072]).unwrap();
        let text = core::str::from_utf8(&out).unwrap();
        assert!(text.contains("\r\nm=video 0 RTP/AVP 96\r\n"), "{text}");
        // The rejected stream's rtcp port stays, its address does not leak.
        assert!(
            text.contains("\r\na=rtcp:9 IN IP4 203.0.113.1\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\na=rtcp:7071 IN IP4 203.0.113.1\r\n"),
            "{text}"
        );
        let again = Sdp::parse(&out).unwrap();
        assert_eq!((again.media[0].port, again.media[1].port), (7070, 0));

        // A body with only rejected streams is no hold.
        let none = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 0 RTP/AVP 0\n";
        assert!(!Sdp::parse(none.as_bytes()).unwrap().is_hold());
    }

    #[test]
    fn t38_image_udptl_and_other_protos() {
        let s = Sdp::parse(&crlf(T38)).unwrap();
        let m = s.media[0];
        assert_eq!(
            (m.kind, m.port, m.is_rtp, m.udp),
            (MediaKind::Image, 5004, false, true)
        );
        let out = rewritten(&crlf(T38), &[7074]).unwrap();
        let text = core::str::from_utf8(&out).unwrap();
        assert!(
            text.contains("\r\nm=image 7074 udptl t38\r\na=T38FaxVersion:0\r\n"),
            "{text}"
        );

        let other = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n\
                     m=message 2855 TCP/MSRP *\nm=audio 5000 UDP/TLS/RTP/SAVPF 111\n\
                     m=text 5002 RTP/AVP 98\nm=application 5004 UDP/BFCP *\n";
        let s = Sdp::parse(other.as_bytes()).unwrap();
        let got: Vec<_> = s.media.iter().map(|m| (m.kind, m.is_rtp, m.udp)).collect();
        assert_eq!(
            got,
            [
                (MediaKind::Other, false, false),
                (MediaKind::Audio, true, true),
                (MediaKind::Text, true, true),
                (MediaKind::Application, false, true),
            ]
        );
    }

    #[test]
    fn body_without_media() {
        let body = crlf("v=0\no=- 5 5 IN IP4 192.168.1.9\ns=-\nc=IN IP4 192.168.1.9\nt=0 0\n");
        let s = Sdp::parse(&body).unwrap();
        assert!(s.media.is_empty());
        assert!(!s.is_hold());
        let out = rewritten(&body, &[]).unwrap();
        assert_eq!(
            out,
            crlf("v=0\no=- 5 5 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\n")
        );
    }

    #[test]
    fn line_endings_blank_lines_and_odd_spacing_are_kept() {
        // Mixed CRLF/LF, a blank line, no final line end, double spaces.
        let body = b"v=0\r\no=- 1 2 IN  IP4   10.1.1.1\ns=-\r\n\r\nc=IN IP4 10.1.1.1\nt=0 0\r\nm=audio  6000/2 RTP/AVP 0\r\na=ptime:20";
        let s = Sdp::parse(body).unwrap();
        assert_eq!((s.media[0].port, s.media[0].port_count), (6000, 2));
        let out = rewritten(body, &[7070]).unwrap();
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "v=0\r\no=- 1 2 IN  IP4   203.0.113.1\ns=-\r\n\r\nc=IN IP4 203.0.113.1\nt=0 0\r\nm=audio  7070/2 RTP/AVP 0\r\na=ptime:20"
        );
    }

    #[test]
    fn origin_with_spaces_in_user_and_host_name() {
        let body = b"v=0\no=John Doe 1 2 IN IP4 pc33.example.com\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n";
        let s = Sdp::parse(body).unwrap();
        assert_eq!(s.origin_addr, None);
        let out = rewritten(body, &[]).unwrap();
        assert!(out.starts_with(b"v=0\no=John Doe 1 2 IN IP4 203.0.113.1\n"));
    }

    #[test]
    fn ports_zero_or_missing_keep_the_original() {
        let body = BARESIP.as_bytes();
        let out = rewritten(body, &[0, 7072]).unwrap();
        let s = Sdp::parse(&out).unwrap();
        assert_eq!(
            (s.media[0].port, s.media[0].rtcp),
            (10000, Some((10001, None)))
        );
        assert_eq!(s.media[1].port, 7072);
        let out = rewritten(body, &[7070]).unwrap();
        let s = Sdp::parse(&out).unwrap();
        assert_eq!((s.media[0].port, s.media[1].port), (7070, 10002));
        assert_eq!(
            s.media[1].addr, RELAY,
            "c= is rewritten regardless of the port"
        );
    }

    #[test]
    fn session_level_rtcp_and_ice_lines_are_dropped() {
        let body = b"v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\na=rtcp:5001 IN IP4 10.0.0.1\n\
a=ice-lite\na=ice-options:trickle\nm=audio 5000 RTP/AVP 0\na=ice-mismatch\na=remote-candidates:1 10.0.0.1 5000\n\
a=ice-ufrag:x\na=rtcp:65535\n";
        let s = Sdp::parse(body).unwrap();
        assert_eq!(s.media[0].rtcp, Some((65535, None)));
        let out = rewritten(body, &[7070]).unwrap();
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "v=0\no=- 1 1 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\nm=audio 7070 RTP/AVP 0\na=rtcp:7071\n"
        );
        // A relay port of 65535 leaves no RTCP port: the a=rtcp line goes.
        let out = rewritten(body, &[65535]).unwrap();
        assert!(out.ends_with(b"m=audio 65535 RTP/AVP 0\n"));
    }

    #[test]
    fn eight_media_fit_nine_do_not() {
        let mut body =
            String::from("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n");
        for i in 0..MAX_MEDIA {
            body.push_str(&format!("m=audio {} RTP/AVP 0\n", 5000 + 2 * i));
        }
        let s = Sdp::parse(body.as_bytes()).unwrap();
        assert_eq!(s.media.len(), MAX_MEDIA);
        let out = rewritten(body.as_bytes(), &[1000, 1002, 1004, 1006]).unwrap();
        let ports: Vec<_> = Sdp::parse(&out)
            .unwrap()
            .media
            .iter()
            .map(|m| m.port)
            .collect();
        // Media without a relay port keep their own.
        assert_eq!(ports, [1000, 1002, 1004, 1006, 5008, 5010, 5012, 5014]);
        body.push_str("m=audio 6000 RTP/AVP 0\n");
        assert_eq!(err(body.as_bytes()), SdpError::TooManyMedia);
    }

    #[test]
    fn rfc5118_ipv6_bodies_are_refused() {
        for dat in [
            &include_bytes!("../tests/data/rfc5118/ipv6-in-sdp.dat")[..],
            &include_bytes!("../tests/data/rfc5118/mult-ip-in-sdp.dat")[..],
        ] {
            let at = dat
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("message has a body");
            let body = &dat[at + 4..];
            assert!(body.starts_with(b"v=0"));
            assert_eq!(err(body), SdpError::AddrType);
        }
        // mult-ip-in-sdp: its IPv4 half alone parses (o= holds a host name).
        let v4 = b"v=0\r\no=bob 280744730 28977631 IN IP4 host.example.com\r\ns=\r\nt=0 0\r\nm=audio 22334 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\n";
        let s = Sdp::parse(v4).unwrap();
        assert_eq!((s.origin_addr, s.media[0].addr), (None, ip("192.0.2.1")));
    }

    #[test]
    fn every_error_path() {
        let base = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n";
        let with = |extra: &str| format!("{base}{extra}\n");
        let cases: &[(&[u8], SdpError)] = &[
            (b"v=0\ns=\xff\xfe\n", SdpError::NotUtf8),
            (b"", SdpError::NoVersion),
            (b"\r\n\r\n", SdpError::NoVersion),
            (b"o=- 1 1 IN IP4 10.0.0.1\nv=0\n", SdpError::NoVersion),
            (b"v=1\n", SdpError::NoVersion),
            (b"hello world", SdpError::NoVersion),
            (b"o=- 1 1 IN IP6 ::1\n", SdpError::NoVersion),
        ];
        for (body, want) in cases {
            assert_eq!(err(body), *want, "{:?}", String::from_utf8_lossy(body));
        }
        let cases: &[(&str, SdpError)] = &[
            ("garbage", SdpError::Syntax),
            (" s=x", SdpError::Syntax),
            ("s =x", SdpError::Syntax),
            ("=x", SdpError::Syntax),
            ("1=x", SdpError::Syntax),
            ("s", SdpError::Syntax),
            ("\u{e9}=x", SdpError::Syntax),
            ("m=audio", SdpError::Syntax),
            ("m=audio 6000", SdpError::Syntax),
            ("m=audio 6000 RTP/AVP 0\nc=IN IP4", SdpError::Syntax),
            ("m=audio 6000 RTP/AVP 0\nc=IN", SdpError::Syntax),
            (
                "m=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.2 extra",
                SdpError::Syntax,
            ),
            ("o=- 1 IN IP4 10.0.0.1", SdpError::Syntax),
            ("m=audio 6000 RTP/AVP 0\na=rtcp", SdpError::Syntax),
            ("m=audio 6000 RTP/AVP 0\na=rtcp:", SdpError::Syntax),
            (
                "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP4",
                SdpError::Syntax,
            ),
            (
                "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP4 10.0.0.1 x",
                SdpError::Syntax,
            ),
            ("c=IN IP4 10.0.0.2", SdpError::Syntax), // second session-level c=
            (
                "m=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.2\nc=IN IP4 10.0.0.3",
                SdpError::Syntax,
            ),
            (
                "m=audio 6000 RTP/AVP 0\nc=IN IP6 2001:db8::1",
                SdpError::AddrType,
            ),
            (
                "m=audio 6000 RTP/AVP 0\nc=IN IP4 host.example.com",
                SdpError::AddrType,
            ),
            (
                "m=audio 6000 RTP/AVP 0\nc=ATM NSAP 47.0005",
                SdpError::AddrType,
            ),
            (
                "m=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.256",
                SdpError::AddrType,
            ),
            (
                "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP6 ::1",
                SdpError::AddrType,
            ),
            ("o=x 1 1 IN IP6 2001:db8::1", SdpError::AddrType),
            (
                "m=audio 6000 RTP/AVP 0\nc=IN IP4 224.2.1.1/127",
                SdpError::Multicast,
            ),
            (
                "m=audio 6000 RTP/AVP 0\nc=IN IP4 233.1.1.1",
                SdpError::Multicast,
            ),
            (
                "m=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.1/2",
                SdpError::Multicast,
            ),
            (
                "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP4 239.0.0.1",
                SdpError::Multicast,
            ),
            ("m=audio 70000 RTP/AVP 0", SdpError::BadPort),
            ("m=audio 65536 RTP/AVP 0", SdpError::BadPort),
            ("m=audio -1 RTP/AVP 0", SdpError::BadPort),
            ("m=audio +5 RTP/AVP 0", SdpError::BadPort),
            ("m=audio 0006000 RTP/AVP 0", SdpError::BadPort),
            ("m=audio x RTP/AVP 0", SdpError::BadPort),
            ("m=audio 6000/0 RTP/AVP 0", SdpError::BadPort),
            ("m=audio 6000/ RTP/AVP 0", SdpError::BadPort),
            ("m=audio /2 RTP/AVP 0", SdpError::BadPort),
            ("m=audio 6000 RTP/AVP 0\na=rtcp:abc", SdpError::BadPort),
            ("m=audio 6000 RTP/AVP 0\na=rtcp:65536", SdpError::BadPort),
        ];
        for (extra, want) in cases {
            assert_eq!(err(with(extra).as_bytes()), *want, "{extra:?}");
        }
        // No c= anywhere for an active stream.
        let no_c = b"v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 6000 RTP/AVP 0\n";
        assert_eq!(err(no_c), SdpError::NoConnection);
        let no_c2 = b"v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.1\nm=video 6002 RTP/AVP 96\n";
        assert_eq!(err(no_c2), SdpError::NoConnection);
        // Names are distinct (they key the stats counters).
        let all = [
            SdpError::NotUtf8,
            SdpError::Syntax,
            SdpError::NoVersion,
            SdpError::NoConnection,
            SdpError::AddrType,
            SdpError::BadPort,
            SdpError::TooManyMedia,
            SdpError::Multicast,
            SdpError::Overflow,
            SdpError::Mismatch,
        ];
        let mut names: Vec<_> = all.iter().map(|e| e.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(SdpError::Multicast.to_string(), "sdp-multicast");
    }

    #[test]
    fn rewrite_refuses_bad_body_and_foreign_sdp_without_writing() {
        let mut mem = [0u8; 512];
        let mut out = Buf::new(&mut mem);
        out.put(b"HDR");
        let sipp = Sdp::parse(SIPP.as_bytes()).unwrap();
        let rw = Rewrite {
            addr: RELAY,
            ports: &[Port::Relay(7070)],
        };
        assert_eq!(
            rewrite(b"not sdp", &sipp, &rw, &mut out),
            Err(SdpError::NoVersion)
        );
        assert_eq!(
            rewrite(T38.as_bytes(), &sipp, &rw, &mut out),
            Err(SdpError::Mismatch)
        );
        assert_eq!(out.as_bytes(), b"HDR");
        assert!(!out.overflowed());
    }

    #[test]
    fn a_stream_the_relay_cannot_take_is_rejected_with_port_0() {
        let body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\na=rtcp:4003\r\n";
        let sdp = Sdp::parse(body).unwrap();
        let mut mem = [0u8; 512];
        let mut out = Buf::new(&mut mem);
        let ports = [Port::Relay(7070), Port::Reject];
        rewrite(
            body,
            &sdp,
            &Rewrite {
                addr: RELAY,
                ports: &ports,
            },
            &mut out,
        )
        .unwrap();
        let again = Sdp::parse(out.as_bytes()).unwrap();
        assert_eq!(again.media[0].port, 7070);
        assert_eq!(again.media[1].port, 0);
        let text = core::str::from_utf8(out.as_bytes()).unwrap();
        assert!(text.contains("m=video 0 RTP/AVP 96\r\n"), "{text}");
        assert!(!text.contains("10.0.0.2"), "{text}");
    }

    #[test]
    fn small_output_buffer_overflows_cleanly() {
        let body = crlf(LINPHONE);
        let sdp = Sdp::parse(&body).unwrap();
        let rw = Rewrite {
            addr: RELAY,
            ports: &[Port::Relay(7070)],
        };
        let full = rewritten(&body, &[7070]).unwrap();
        for cap in [0, 1, 10, full.len() - 1] {
            let mut mem = vec![0u8; cap];
            let mut out = Buf::new(&mut mem);
            assert_eq!(
                rewrite(&body, &sdp, &rw, &mut out),
                Err(SdpError::Overflow),
                "cap {cap}"
            );
            assert_eq!(out.len(), 0, "nothing half-written");
        }
        let mut mem = vec![0u8; full.len()];
        let mut out = Buf::new(&mut mem);
        assert_eq!(rewrite(&body, &sdp, &rw, &mut out), Ok(()));
        assert_eq!(out.as_bytes(), &full[..]);
    }

    /// xorshift64 (Marsaglia): deterministic, no dev-dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn mutations_never_panic_and_rewrites_reparse() {
        const INTERESTING: &[u8] = b" \t\r\n=/:.0159mcoav-\xff\xc3";
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let ports = [7070, 7072, 7074, 7076];
        let mut parsed_ok = 0;
        for round in 0..6000 {
            let base = SAMPLES[round % SAMPLES.len()];
            let mut body = if round % 2 == 0 {
                crlf(base)
            } else {
                base.as_bytes().to_vec()
            };
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(body.len() + 1);
                match rng.below(5) {
                    0 if at < body.len() => body[at] ^= 1 << rng.below(8),
                    1 => body.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
                    2 if at < body.len() => {
                        body.remove(at);
                    }
                    3 => body.truncate(at),
                    _ => {
                        let end = (at + rng.below(40)).min(body.len());
                        let chunk = body[at..end].to_vec();
                        let to = rng.below(body.len() + 1);
                        body.splice(to..to, chunk);
                    }
                }
            }
            let Ok(sdp) = Sdp::parse(&body) else { continue };
            parsed_ok += 1;
            let _ = sdp.is_hold();
            let mut mem = [0u8; 4096];
            let mut out = Buf::new(&mut mem);
            let relay_ports = ports.map(Port::Relay);
            let rw = Rewrite {
                addr: RELAY,
                ports: &relay_ports,
            };
            rewrite(&body, &sdp, &rw, &mut out).unwrap(); // 4 KiB holds any rewrite of these bodies
            let again = Sdp::parse(out.as_bytes()).unwrap_or_else(|e| {
                panic!(
                    "{e:?}: {:?} -> {:?}",
                    String::from_utf8_lossy(&body),
                    String::from_utf8_lossy(out.as_bytes())
                )
            });
            assert_eq!(again.media.len(), sdp.media.len());
            for (i, (a, m)) in again.media.iter().zip(&sdp.media).enumerate() {
                let want = if m.port == 0 { 0 } else { ports[i] };
                assert_eq!(a.port, want);
                assert!(a.addr == RELAY || a.addr.is_unspecified(), "{a:?}");
                assert_eq!(a.addr.is_unspecified(), m.addr.is_unspecified());
                assert_eq!(
                    (a.direction, a.kind, a.is_rtp, a.udp),
                    (m.direction, m.kind, m.is_rtp, m.udp)
                );
            }
            assert_eq!(again.is_hold(), sdp.is_hold());
            // A tight buffer overflows without panicking.
            let mut small = [0u8; 40];
            let mut out = Buf::new(&mut small);
            let r = rewrite(&body, &sdp, &rw, &mut out);
            assert!(matches!(r, Ok(()) | Err(SdpError::Overflow)));
        }
        assert!(parsed_ok > 500, "mutations too destructive: {parsed_ok}");
    }
}
