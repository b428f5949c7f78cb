//! Writing a rewritten SDP body: every `c=` and the `o=` address replaced
//! by the relay address, each `m=` port by its relay port, `a=rtcp:` lines
//! pointed at the relay's RTCP port, ICE attributes removed, every other
//! byte copied (see [`rewrite`]).
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
