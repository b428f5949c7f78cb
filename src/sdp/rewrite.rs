//! Writing a rewritten SDP body: every `c=` and the `o=` address replaced
//! by the relay address, each `m=` port by its relay port, `a=rtcp:` lines
//! pointed at the relay's RTCP port, ICE attributes removed, the codecs of
//! `plugin_codecfilter_blacklist` taken out, every other byte copied (see
//! [`rewrite`]). For media sipnat does not relay only the codecs are taken
//! out ([`Rewrite::addr`] `None`).
//!
//! It does not decide the addresses or ports ([`Rewrite`] brings them) and
//! reads the body only through the same line classifier as the parser
//! ([`super::line`]), so it never accepts what [`Sdp::parse`] refuses.

use super::line::{Line, Span, classify, lines};
use super::{Sdp, SdpError};
use crate::output::Buf;
use std::net::Ipv4Addr;

/// What to write instead, per body.
#[derive(Debug, Clone, Copy)]
pub struct Rewrite<'p> {
    /// sipnat's relay address on the side the body goes to; `None` when
    /// the media is not relayed: every address (and the ICE attributes)
    /// stays as the author wrote it, only the codecs are filtered.
    pub addr: Option<Ipv4Addr>,
    /// What happens to the port of media `i` (same order as
    /// [`Sdp::media`]); no entry (a shorter slice) keeps it. A stream the
    /// author rejected (port 0) stays 0 whatever is given here.
    pub ports: &'p [Port],
    /// siproxd's codecfilter: codecs whose name contains one of these
    /// (case-insensitively) are taken out of every `m=` line.
    pub drop_codecs: &'p [String],
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

enum Tok<'a> {
    Port(u32),
    Addr(Ipv4Addr),
    Text(&'a str),
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
fn put_replaced(out: &mut Buf<'_>, raw: &str, repl: &[(Span, Tok<'_>)]) {
    let raw = raw.as_bytes();
    let mut at = 0usize;
    for (s, tok) in repl {
        // Spans come from the line's own fields, so they lie in `raw`;
        // `get` keeps a mistake from panicking.
        out.put(raw.get(at..s.start).unwrap_or_default());
        match *tok {
            Tok::Port(p) => out.put_u32(p),
            Tok::Addr(a) => put_addr(out, a),
            Tok::Text(t) => out.put_str(t),
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
    let dropped = codecs_to_drop(text, rw.drop_codecs);
    // The relay port of the current media (None: keep its port), or the
    // session level (outer None).
    let mut media: Option<Option<u16>> = None;
    let mut index = 0usize;
    for l in lines(text) {
        match classify(l.text) {
            Ok(Line::Origin { at, .. }) => match rw.addr {
                Some(ours) => put_replaced(out, l.raw, &[(at, Tok::Addr(ours))]),
                None => out.put(l.raw.as_bytes()),
            },
            Ok(Line::Connection { addr, at }) if !addr.is_unspecified() => match rw.addr {
                Some(ours) => put_replaced(out, l.raw, &[(at, Tok::Addr(ours))]),
                None => out.put(l.raw.as_bytes()),
            },
            Ok(Line::Media {
                port,
                port_at,
                fmts,
                fmts_at,
                ..
            }) => {
                let mut action = if port == 0 {
                    Port::Keep
                } else {
                    rw.ports.get(index).copied().unwrap_or(Port::Keep)
                };
                let drop = dropped.get(index).filter(|d| !d.is_empty() && port != 0);
                index += 1;
                // The formats left; none left rejects the stream (RFC 3264
                // §6: port 0, the list kept as it was).
                let mut kept: heapless::String<256> = heapless::String::new();
                if let Some(d) = drop {
                    for f in fmts.split_ascii_whitespace() {
                        if crate::num::parse::<u8>(f).is_some_and(|pt| d.contains(&pt)) {
                            continue;
                        }
                        let sep = if kept.is_empty() { "" } else { " " };
                        // a longer list than the original cannot come out
                        let _ = kept.push_str(sep);
                        let _ = kept.push_str(f);
                    }
                    if kept.is_empty() {
                        action = Port::Reject;
                    }
                }
                let fmts_tok = (drop.is_some() && !kept.is_empty())
                    .then(|| (fmts_at, Tok::Text(kept.as_str())));
                let port_tok = match action {
                    Port::Relay(p) if p != 0 => {
                        media = Some(Some(p));
                        Some((port_at, Tok::Port(p.into())))
                    }
                    Port::Reject => {
                        media = Some(None);
                        Some((port_at, Tok::Port(0)))
                    }
                    _ => {
                        media = Some(None);
                        None
                    }
                };
                let repl: heapless::Vec<(Span, Tok<'_>), 2> =
                    port_tok.into_iter().chain(fmts_tok).collect();
                put_replaced(out, l.raw, &repl);
            }
            Ok(Line::Payload { pt, .. })
                if index > 0 && dropped.get(index - 1).is_some_and(|d| d.contains(&pt)) => {}
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
                let mut repl: heapless::Vec<(Span, Tok<'_>), 2> = heapless::Vec::new();
                if let Some(p) = port {
                    // Capacity 2, at most two pushes.
                    let _ = repl.push((port_at, Tok::Port(p)));
                }
                if let (Some((_, at)), Some(ours)) =
                    (addr.filter(|(a, _)| !a.is_unspecified()), rw.addr)
                {
                    let _ = repl.push((at, Tok::Addr(ours)));
                }
                put_replaced(out, l.raw, &repl);
            }
            Ok(Line::Ice) if rw.addr.is_some() => {}
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

/// RFC 3551 §6: the encodings of the static payload types, for an `m=`
/// line that names one without `a=rtpmap`.
fn static_encoding(pt: u8) -> Option<&'static str> {
    Some(match pt {
        0 => "PCMU",
        3 => "GSM",
        4 => "G723",
        5 | 6 | 16 | 17 => "DVI4",
        7 => "LPC",
        8 => "PCMA",
        9 => "G722",
        10 | 11 => "L16",
        12 => "QCELP",
        13 => "CN",
        14 => "MPA",
        15 => "G728",
        18 => "G729",
        _ => return None,
    })
}

type Dropped = heapless::Vec<heapless::Vec<u8, 32>, { super::MAX_MEDIA }>;

/// The payload types to take out of each `m=` line: those whose encoding
/// (`a=rtpmap`, else the static table) contains a name of `list`,
/// case-insensitively (siproxd's substring match: "726" takes "G726-32").
fn codecs_to_drop(text: &str, list: &[String]) -> Dropped {
    let mut out = Dropped::new();
    if list.is_empty() {
        return out;
    }
    let blocked = |name: &str| {
        let name = name.to_ascii_lowercase();
        list.iter().any(|b| name.contains(&b.to_ascii_lowercase()))
    };
    // (fmts of each media, rtpmap names of each media)
    let mut fmts: heapless::Vec<&str, { super::MAX_MEDIA }> = heapless::Vec::new();
    let mut maps: heapless::Vec<heapless::Vec<(u8, &str), 32>, { super::MAX_MEDIA }> =
        heapless::Vec::new();
    for l in lines(text) {
        match classify(l.text) {
            Ok(Line::Media { fmts: f, .. }) => {
                // parse() allowed at most MAX_MEDIA m= lines
                let _ = fmts.push(f);
                let _ = maps.push(heapless::Vec::new());
            }
            Ok(Line::Payload {
                pt,
                encoding: Some(e),
            }) => {
                if let Some(m) = maps.last_mut() {
                    let _ = m.push((pt, e));
                }
            }
            _ => {}
        }
    }
    for (f, m) in fmts.iter().zip(maps.iter()) {
        let mut d = heapless::Vec::new();
        for pt in f
            .split_ascii_whitespace()
            .filter_map(crate::num::parse::<u8>)
        {
            let name = m
                .iter()
                .find(|(p, _)| *p == pt)
                .map(|(_, e)| *e)
                .or_else(|| static_encoding(pt));
            if name.is_some_and(blocked) {
                let _ = d.push(pt);
            }
        }
        let _ = out.push(d);
    }
    out
}
