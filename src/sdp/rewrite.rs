//! Writing a rewritten SDP body: every `c=` and the `o=` address replaced
//! by the relay address (and its addrtype token by the relay address's,
//! `IP4` or `IP6`), each `m=` port by its relay port, `a=rtcp:` lines
//! pointed at the relay's RTCP port, ICE attributes removed, the codecs of
//! `plugin_codecfilter_blacklist` taken out, every other byte copied (see
//! [`rewrite`]). For media sipnat does not relay only the codecs are taken
//! out ([`Rewrite::addr`] `None`).
//!
//! It does not decide the addresses or ports ([`Rewrite`] brings them) and
//! reads the body only through the same line classifier as the parser
//! ([`super::line`]), so it never accepts what [`Sdp::parse`] refuses.

use super::line::{Line, Named, Span, classify, lines};
use super::{Sdp, SdpError};
use crate::net::Family;
use crate::output::Buf;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What to write instead, per body.
#[derive(Debug, Clone, Copy)]
pub struct Rewrite<'p> {
    /// sipnat's relay address on the side the body goes to, in the family
    /// of where it goes; `None` when the media is not relayed: every address
    /// (and the ICE attributes) stays as the author wrote it, only the
    /// codecs are filtered.
    pub addr: Option<IpAddr>,
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
    Addr(IpAddr),
    Text(&'a str),
}

/// At most the port, the addrtype token and the address of one line.
type Repl<'a> = heapless::Vec<(Span, Tok<'a>), 3>;

/// Point the address of a `c=`, `o=` or `a=rtcp:` line (`addr` as parsed,
/// `None` for an `o=` host name) at `ours`: the address becomes `ours`, and
/// the addrtype token `ours`' type when the line's is the other one (the
/// family translation, RFC 4566 §5.7). The unspecified address of a hold
/// (RFC 3264 §8.4) stays — or, across families, becomes the unspecified
/// address of `ours`' family, so the far end sees a hold it can read;
/// `hold_stays` false (the `o=` line, which names no media) replaces it
/// like any other address.
fn point_at(repl: &mut Repl<'_>, addr: Option<IpAddr>, n: &Named, ours: IpAddr, hold_stays: bool) {
    let family = Family::of(ours);
    let hold = hold_stays && addr.is_some_and(|a| a.is_unspecified());
    let to = match ours {
        _ if !hold => ours,
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    if n.family != family {
        let typ = match family {
            Family::V4 => "IP4",
            Family::V6 => "IP6",
        };
        // Capacity 3: the port, this and the address.
        let _ = repl.push((n.typ, Tok::Text(typ)));
    } else if hold {
        return; // kept byte for byte
    }
    let _ = repl.push((n.at, Tok::Addr(to)));
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
            Tok::Addr(a) => out.put_ip(a),
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
///   RFC 3264 §8.4); `IN IP6` alike, with `::`;
/// - in `o=`, `c=` and `a=rtcp:`, the addrtype token becomes `IP4` or
///   `IP6` as `rw.addr` is, when it is the other (the family translation:
///   a stream of either family, RFC 5118 §4.8, comes out in `rw.addr`'s;
///   a hold's unspecified address becomes that family's);
/// - `m=<media> <port>[/<count>] <proto> <fmt...>`: the port is replaced by
///   `rw.ports[i]` if that is non-zero and the original port is non-zero;
///   "/count" is kept;
/// - `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605 §2.1): the port becomes
///   `ports[i] + 1` when the `m=` port was replaced, the address (if any)
///   becomes `addr` as in `c=`; a session-level `a=rtcp:` (which
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
            Ok(Line::Origin { addr, named }) => match rw.addr {
                Some(ours) => {
                    let mut repl = Repl::new();
                    point_at(&mut repl, addr, &named, ours, false);
                    put_replaced(out, l.raw, &repl);
                }
                None => out.put(l.raw.as_bytes()),
            },
            Ok(Line::Connection { addr, named }) => match rw.addr {
                Some(ours) => {
                    let mut repl = Repl::new();
                    point_at(&mut repl, Some(addr), &named, ours, true);
                    put_replaced(out, l.raw, &repl);
                }
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
                let mut repl = Repl::new();
                if let Some(p) = port {
                    // Capacity 3: at most the port, the type and the address.
                    let _ = repl.push((port_at, Tok::Port(p)));
                }
                if let (Some((a, named)), Some(ours)) = (addr, rw.addr) {
                    point_at(&mut repl, Some(a), &named, ours, true);
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
