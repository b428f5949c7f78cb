//! One line of an SDP body at a time: splitting the body into lines
//! (CRLF or bare LF) and whitespace-separated fields, and classifying each
//! line into what sipnat needs from it ([`Line`]), with the byte spans of
//! the fields a rewrite replaces.
//!
//! It does not keep state across lines (which `c=` applies to which `m=`,
//! session or media level): [`Sdp::parse`](super::Sdp::parse) does that, and
//! [`rewrite`](super::rewrite()) writes the lines back.

use super::{Direction, MediaKind, SdpError};
use crate::net::Family;
use std::net::IpAddr;

/// One line of the body: `text` without its line end, `raw` with it. Both
/// start at the same byte, so spans into `text` index `raw` too.
pub(super) struct RawLine<'a> {
    pub(super) text: &'a str,
    pub(super) raw: &'a str,
}

/// Splits a body into lines at LF, stripping one CR before it (RFC 4566 §5:
/// CRLF, but parsers SHOULD accept LF). The last line may lack a line end.
pub(super) struct Lines<'a> {
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

pub(super) fn lines(body: &str) -> Lines<'_> {
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
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
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
    crate::num::parse::<u16>(s).ok_or(SdpError::BadPort)
}

/// Where a line names an address: `<nettype> <addrtype> <address>`
/// (`o=`, RFC 4566 §5.2; `c=`, §5.7; `a=rtcp:`, RFC 3605 §2.1). The
/// rewrite replaces the address, and the addrtype token with it when the
/// family changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Named {
    /// The family the addrtype token says (`IP4`, `IP6`). The literal
    /// agrees with it, but an IPv4-mapped IPv6 literal is taken as the IPv4
    /// address it maps: the family of the address may differ.
    pub(super) family: Family,
    /// The addrtype token.
    pub(super) typ: Span,
    /// The address field.
    pub(super) at: Span,
}

/// What one line means to sipnat. Spans are byte ranges into the line text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// Empty line (tolerated, copied).
    Blank,
    Version(&'a str),
    /// `o=`: the unicast-address field (RFC 4566 §5.2).
    /// `addr` is None for a host name.
    Origin {
        addr: Option<IpAddr>,
        named: Named,
    },
    /// `c=IN IP4 <addr>`, `c=IN IP6 <addr>` (RFC 4566 §5.7).
    Connection {
        addr: IpAddr,
        named: Named,
    },
    /// `m=` (RFC 4566 §5.14).
    Media {
        kind: MediaKind,
        port: u16,
        count: u16,
        port_at: Span,
        proto: &'a str,
        /// The format list after the protocol (payload types for RTP).
        fmts: &'a str,
        fmts_at: Span,
    },
    /// `a=rtpmap:`, `a=fmtp:` or `a=rtcp-fb:` of one payload type (RFC
    /// 4566 §6, RFC 4585 §4.2); `encoding` is rtpmap's name (`PCMU`).
    Payload {
        pt: u8,
        encoding: Option<&'a str>,
    },
    /// `a=rtcp:` (RFC 3605 §2.1).
    Rtcp {
        port: u16,
        port_at: Span,
        addr: Option<(IpAddr, Named)>,
    },
    Direction(Direction),
    RtcpMux,
    /// ICE attributes (RFC 8839 §5): dropped by [`rewrite`](super::rewrite()).
    Ice,
    /// Any other well-formed line: copied.
    Other,
}

/// The family of `<nettype> <addrtype>`: `IN IP4`, and with the `ipv6`
/// feature `IN IP6` (RFC 4566 §5.7, case-insensitive as sipnat has always
/// read it); anything else is refused.
fn addr_type(nettype: &str, addrtype: &str) -> Result<Family, SdpError> {
    if !nettype.eq_ignore_ascii_case("IN") {
        return Err(SdpError::AddrType);
    }
    if addrtype.eq_ignore_ascii_case("IP4") {
        return Ok(Family::V4);
    }
    #[cfg(feature = "ipv6")]
    if addrtype.eq_ignore_ascii_case("IP6") {
        return Ok(Family::V6);
    }
    Err(SdpError::AddrType)
}

/// `s` as an address literal of `family`, or None when it is no literal of
/// either family (a host name, or garbage). A literal of the other family
/// is refused: the address type and the address must agree (RFC 4566
/// §5.7: `IP4` takes the dotted-decimal form, `IP6` the RFC 4291 §2.2
/// forms). An IPv4-mapped IPv6 literal (`::ffff:192.0.2.2`, RFC 5118 §4.9)
/// is the IPv4 address it maps: the core never keeps the mapped form.
#[cfg(feature = "ipv6")]
fn literal(s: &str, family: Family) -> Result<Option<IpAddr>, SdpError> {
    let Ok(ip) = s.parse::<IpAddr>() else {
        return Ok(None);
    };
    if Family::of(ip) != family {
        return Err(SdpError::AddrType);
    }
    Ok(Some(crate::net::canonical(ip)))
}

/// Without IPv6 only `IP4` gets here ([`addr_type`]): an IPv4 literal, or
/// None (an IPv6 literal is no address of the type either).
#[cfg(not(feature = "ipv6"))]
fn literal(s: &str, _family: Family) -> Result<Option<IpAddr>, SdpError> {
    Ok(s.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4))
}

/// `<nettype> <addrtype> <address>` as `c=` and `a=rtcp:` need it: a
/// unicast literal of the type named.
fn parse_unicast(
    (_, net): (usize, &str),
    (t_start, typ): (usize, &str),
    (a_start, a): (usize, &str),
    off: usize,
) -> Result<(IpAddr, Named), SdpError> {
    let family = addr_type(net, typ)?;
    if a.contains('/') {
        // <addr>/<ttl>[/<count>] (IP4) or <addr>/<count> (IP6): multicast
        // only (RFC 4566 §5.7).
        return Err(SdpError::Multicast);
    }
    let ip = literal(a, family)?.ok_or(SdpError::AddrType)?;
    // IPv4 224.0.0.0/4, IPv6 ff00::/8 (RFC 4291 §2.7).
    if crate::net::is_multicast(ip) {
        return Err(SdpError::Multicast);
    }
    let named = Named {
        family,
        typ: span(off, t_start, typ),
        at: span(off, a_start, a),
    };
    Ok((ip, named))
}

/// Names of ICE attributes (RFC 8839 §5, RFC 8840 §4.1): they carry LAN
/// candidates that a relaying proxy cannot honour, so they are removed.
fn is_ice_attr(name: &str) -> bool {
    matches!(
        name,
        "candidate" | "remote-candidates" | "end-of-candidates"
    ) || name.starts_with("ice-")
}

pub(super) fn classify(text: &str) -> Result<Line<'_>, SdpError> {
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
            let [(_, net), (t_start, typ), (a_start, a)] = last;
            let family = addr_type(net, typ)?;
            Ok(Line::Origin {
                // The field only identifies the session (RFC 4566 §5.2): a
                // literal of the other family is kept like a host name.
                addr: literal(a, family).ok().flatten(),
                named: Named {
                    family,
                    typ: span(off, t_start, typ),
                    at: span(off, a_start, a),
                },
            })
        }
        Some(b'c') => {
            let mut f = fields(value);
            let (Some(net), Some(typ), Some(a), None) = (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(SdpError::Syntax);
            };
            let (addr, named) = parse_unicast(net, typ, a, off)?;
            Ok(Line::Connection { addr, named })
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
            let rest = f.s.get(f.pos..).unwrap_or("");
            let fmts = rest.trim_matches(is_sep);
            let fmts_start = f.pos + (rest.len() - rest.trim_start_matches(is_sep).len());
            Ok(Line::Media {
                kind: MediaKind::from_field(media),
                port: parse_port(port_s)?,
                count,
                port_at: span(off, p_start, port_s),
                proto,
                fmts,
                fmts_at: span(off, fmts_start, fmts),
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
            if matches!(name, "rtpmap" | "fmtp" | "rtcp-fb") {
                // <payload type> <rest>; `*` (rtcp-fb for all) is Other
                let mut f = fields(aval.unwrap_or(""));
                if let Some(pt) = f.next().and_then(|(_, p)| crate::num::parse::<u8>(p)) {
                    let encoding = f
                        .next()
                        .filter(|_| name == "rtpmap")
                        .map(|(_, e)| e.split('/').next().unwrap_or(e));
                    return Ok(Line::Payload { pt, encoding });
                }
                return Ok(Line::Other);
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
                (Some(net), Some(typ), Some(a), None) => Some(parse_unicast(net, typ, a, aoff)?),
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
