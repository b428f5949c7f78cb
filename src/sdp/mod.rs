//! SDP bodies (RFC 4566): parse what the media relay needs, and rewrite the
//! addresses and ports so the far side sends its media to sipnat's relay.
//!
//! What it does:
//! * [`Sdp::parse`] reads a session description in one pass over borrowed
//!   bytes: the `o=` address, the session-level `c=` address, and for each
//!   `m=` line (at most [`MAX_MEDIA`]) its port, effective connection
//!   address, `a=rtcp:` port (RFC 3605), direction attribute (RFC 3264 §5.1,
//!   §6.1) and protocol. Addresses are `IN IP4`, and with the `ipv6`
//!   feature `IN IP6` (RFC 4566 §5.2, §5.7; RFC 3605 §2.1), each `m=` of
//!   its own family (RFC 5118 §4.8: audio on IPv4 and video on IPv6 in one
//!   body); the type and the literal must agree, and an IPv4-mapped IPv6
//!   literal is read as the IPv4 address it maps (RFC 5118 §4.9);
//! * [`Sdp::is_hold`] tells whether an offer puts the call on hold
//!   (RFC 3264 §8.4, and the older RFC 2543 `c=0.0.0.0` form);
//! * [`rewrite`](fn@rewrite) copies a body into a bounded
//!   [`Buf`](crate::output::Buf) with every `c=` and the `o=` address
//!   replaced by the relay address, each `m=` port by its relay port,
//!   `a=rtcp:` lines pointed at the relay's RTCP port, and ICE attributes
//!   removed. When the relay address is of the other family the addrtype
//!   token changes with it (`IP4` ↔ `IP6`): that is the whole family
//!   translation. Every other byte, line endings included, is copied
//!   unchanged.
//!
//! What it does NOT do: decide addresses or ports (the caller owns the relay
//! table), fix up `Content-Length` (the SIP writer does), negotiate codecs,
//! understand SRTP keys or DTLS fingerprints (copied verbatim), or relay
//! multicast sessions, or other address types (refused with
//! [`SdpError::Multicast`] / [`SdpError::AddrType`] so the proxy can answer
//! 488; without the `ipv6` feature `IN IP6` is refused too). Host names in
//! `c=` are refused (sipnat needs an address literal to relay to); a host
//! name in `o=` is accepted (the field only identifies the session) and
//! rewritten, and so is a literal of the other family there. Whether sipnat
//! can reach an address of a family is the caller's question
//! ([`SdpError::Family`]).
//!
//! Leniency, on purpose (a proxy meets many phones):
//! * bare LF line ends are accepted (RFC 4566 §5 says parsers SHOULD), and a
//!   missing final line end; empty lines are skipped (and copied);
//! * fields may be separated by several spaces or tabs;
//! * the `o=` user name may contain spaces (the address is the last field);
//! * `m=` lines without a format list are accepted;
//! * a rejected stream (port 0, RFC 3264 §6) needs no `c=` line; its address
//!   is then `0.0.0.0`;
//! * the unspecified address is a hold in either family (`c=IN IP4
//!   0.0.0.0`, `c=IN IP6 ::`, RFC 3264 §8.4).
//!
//! Nothing here panics on input or allocates: lines and fields are `&str`
//! views into the body, the media list is a `heapless::Vec`.
//!
//! Files: `line.rs` splits a body into lines and fields and says what each
//! line means; this file holds the types and [`Sdp::parse`], which keeps
//! the state across lines; `rewrite.rs` writes the lines back
//! ([`rewrite`](fn@rewrite)).

mod line;
mod rewrite;

use line::{Line, classify, lines};
pub use rewrite::{Port, Rewrite, rewrite};
use std::net::{IpAddr, Ipv4Addr};

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
    /// A `c=`, `o=` or `a=rtcp:` address is not `IN IP4` (or `IN IP6`
    /// with the `ipv6` feature), or a `c=` / `a=rtcp:` address is not a
    /// literal of that type (`IN IP4 2001:db8::1`, a host name).
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
    /// [`rewrite`](fn@rewrite) was given an [`Sdp`] that was not parsed
    /// from its body (a caller bug; nothing is written).
    Mismatch,
    /// Well formed, but a stream's address is of a family sipnat has no
    /// address of on its author's side, or cannot send to (an IPv6
    /// link-local address has no scope here), or the media would cross
    /// families where sipnat does not relay it. Never from the parser: the
    /// media layer decides ([`crate::proxy::media`]).
    Family,
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
            SdpError::Family => "sdp-family",
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
    /// Its family is this stream's (RFC 5118 §4.8); IPv4-mapped is IPv4.
    pub addr: IpAddr,
    /// `a=rtcp:<port> [IN IP4|IP6 <addr>]` (RFC 3605 §2.1), else None (RTCP
    /// on port + 1, RFC 3550 §11).
    pub rtcp: Option<(u16, Option<IpAddr>)>,
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
    /// `o=` unicast address when it is an address literal of its type
    /// (None: no `o=` line, or a host name there).
    pub origin_addr: Option<IpAddr>,
    /// Session-level `c=` address.
    pub session_addr: Option<IpAddr>,
}

// ---------------------------------------------------------------------------
// Parsing

/// The address of a rejected stream without `c=`.
const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Per-media state while its description is being read.
struct Pending {
    media: Media,
    c: Option<IpAddr>,
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
                            addr: UNSPECIFIED,
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
    /// old-style connection address `0.0.0.0` (RFC 2543 §B.5), or `::` in
    /// IPv6. A body with no active stream is not a hold.
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
fn set_once(slot: &mut Option<IpAddr>, addr: IpAddr) -> Result<(), SdpError> {
    match slot.replace(addr) {
        Some(_) => Err(SdpError::Syntax),
        None => Ok(()),
    }
}

fn finish(sdp: &mut Sdp, p: Pending, session_dir: Option<Direction>) -> Result<(), SdpError> {
    let mut m = p.media;
    m.addr = match (p.c, sdp.session_addr) {
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) if m.port == 0 => UNSPECIFIED,
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

#[cfg(test)]
mod tests;
