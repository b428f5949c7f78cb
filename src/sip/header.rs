//! Typed views of the SIP header values a proxy reads: Via, the name-addr
//! family (From, To, Contact, Route, Record-Route), CSeq, and the generic
//! tools under them (`;param` lists, top-level comma splitting).
//!
//! What it does: parses one header *value* (already unfolded, trimmed) into
//! borrowed views, validating the grammar of RFC 3261 §25.1 for the parts a
//! proxy relies on, with the linear whitespace the grammar allows around
//! `/ : ; =` (SWS, RFC 3261 §25.1; RFC 4475 §3.1.1.1 wsinv.dat).
//!
//! What it does NOT do: unquote or unescape (values are as written, a quoted
//! display name keeps its quotes), interpret parameters beyond `rport`
//! (RFC 3581 §3) and the presence of `branch`/`received` values, or allocate.

use super::message::{Method, ParseError};
use super::uri::{Host, Uri, parse_port};

/// `token` characters (RFC 3261 §25.1).
pub(crate) fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Trims SP and HTAB (the only whitespace left after unfolding).
pub(crate) fn trim_ws(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// From `b[start] == b'"'`, the index just past the closing quote of a
/// `quoted-string` (RFC 3261 §25.1: qdtext / quoted-pair), or None when it is
/// unterminated or holds a bare control character.
pub(crate) fn skip_quoted(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Some(i + 1),
            // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
            b'\\' => match b.get(i + 1) {
                Some(&c) if c <= 0x7f && c != b'\r' && c != b'\n' => i += 2,
                _ => return None,
            },
            c if (c < 0x20 && c != b'\t') || c == 0x7f => return None,
            _ => i += 1,
        }
    }
    None
}

/// Iterator over the top-level comma-separated elements of a header value.
#[derive(Debug, Clone)]
pub struct SplitComma<'a> {
    rest: &'a str,
}

impl<'a> Iterator for SplitComma<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while !self.rest.is_empty() {
            let b = self.rest.as_bytes();
            let mut i = 0;
            let mut in_quote = false;
            let mut in_angle = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if in_quote => i += 1,
                    b'"' if !in_angle => in_quote = !in_quote,
                    b'<' if !in_quote => in_angle = true,
                    b'>' if !in_quote => in_angle = false,
                    b',' if !in_quote && !in_angle => break,
                    _ => {}
                }
                i += 1;
            }
            // `i` may pass the end by one after a trailing backslash.
            let end = i.min(b.len());
            let piece = trim_ws(&self.rest[..end]);
            self.rest = if end < b.len() {
                &self.rest[end + 1..]
            } else {
                ""
            };
            if !piece.is_empty() {
                return Some(piece);
            }
        }
        None
    }
}

/// Split a header value at top-level commas (not inside "quoted strings" or
/// <...>), trimmed, empties skipped (RFC 3261 §7.3.1: a header with several
/// comma-separated values is equivalent to several header lines). Only
/// meaningful for headers whose grammar is a `#` list (Via, Contact, Route,
/// Record-Route, Allow, Supported, Require, ...): not for Date or the
/// authentication headers, whose values contain commas of their own.
pub fn split_comma(value: &str) -> SplitComma<'_> {
    SplitComma { rest: value }
}

/// Iterator over the `;`-separated pieces of a parameter list, raw (not
/// trimmed), honouring quoted strings. A leading `;` (after whitespace) is
/// skipped, so ";a;b" and "a;b" give the same pieces.
#[derive(Debug, Clone)]
struct Pieces<'a> {
    rest: Option<&'a str>,
}

fn pieces(params: &str) -> Pieces<'_> {
    let t = trim_ws(params);
    let rest = if t.is_empty() {
        None
    } else {
        Some(t.strip_prefix(';').unwrap_or(t))
    };
    Pieces { rest }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'"' => match skip_quoted(b, i) {
                    Some(e) => i = e,
                    // Unterminated quote: the rest is one (invalid) piece.
                    None => i = b.len(),
                },
                b';' => {
                    self.rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => i += 1,
            }
        }
        self.rest = None;
        Some(s)
    }
}

/// One piece "name [= value]", trimmed.
fn split_piece(piece: &str) -> (&str, Option<&str>) {
    match piece.find('=') {
        Some(e) => (trim_ws(&piece[..e]), Some(trim_ws(&piece[e + 1..]))),
        None => (trim_ws(piece), None),
    }
}

/// `;a=b;c` lists; names case-insensitive; Some(None) for a flag.
/// Whitespace around `;` and `=` is allowed (RFC 3261 §25.1 SEMI, EQUAL);
/// the value is returned as written (a quoted-string keeps its quotes).
pub fn param_get<'a>(params: &'a str, name: &str) -> Option<Option<&'a str>> {
    pieces(params)
        .map(split_piece)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Validates a header parameter list `*( SEMI generic-param )` (RFC 3261
/// §25.1): empty, or starting with ';'; every name a token; every value a
/// token, a host (IPv6 allowed, RFC 5118 §4.5) or a quoted-string. Empty
/// parameters (";;", RFC 4475 §3.1.2.1 badinv01.dat) are rejected.
pub(crate) fn params_ok(params: &str) -> bool {
    let t = trim_ws(params);
    if t.is_empty() {
        return true;
    }
    if !t.starts_with(';') {
        return false;
    }
    pieces(t).all(|p| {
        let (name, value) = split_piece(p);
        is_token(name)
            && match value {
                None => true,
                Some(v) => gen_value_ok(v),
            }
    })
}

/// `gen-value = token / host / quoted-string`.
fn gen_value_ok(v: &str) -> bool {
    let b = v.as_bytes();
    if b.first() == Some(&b'"') {
        return skip_quoted(b, 0) == Some(b.len());
    }
    !b.is_empty()
        && b.iter()
            .all(|&c| is_token_char(c) || matches!(c, b':' | b'[' | b']'))
}

/// One `via-parm` (RFC 3261 §20.42, §25.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// "UDP", "TCP", "TLS", "SCTP", or any token (RFC 4475 transports.dat).
    pub transport: &'a str,
    pub host: Host<'a>,
    /// As written, an IPv6 reference with its `[ ]`.
    pub host_str: &'a str,
    pub port: Option<u16>,
    /// Raw, starting at the first ';' or "".
    pub params: &'a str,
}

/// Index of the first byte at or after `i` that is not SP/HTAB.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// Index just past the token starting at `i` (== i when there is none).
fn token_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_token_char(b[i]) {
        i += 1;
    }
    i
}

impl<'a> Via<'a> {
    /// One via-parm: `protocol-name SLASH version SLASH transport LWS sent-by
    /// *( SEMI via-params )`, where SLASH, COLON and SEMI may carry whitespace
    /// (RFC 3261 §25.1, RFC 4475 wsinv.dat). The protocol name and version are
    /// tokens (not checked to be "SIP/2.0"); `rport` must be a flag or a port
    /// (RFC 3581 §3); `branch` and `received` must have values.
    pub fn parse(value: &'a str) -> Result<Via<'a>, ParseError> {
        let s = trim_ws(value);
        let b = s.as_bytes();
        let err = ParseError::Via;
        let mut i = 0;
        // protocol-name / version / transport
        let mut transport = "";
        for part in 0..3 {
            if part > 0 {
                i = skip_ws(b, i);
                if b.get(i) != Some(&b'/') {
                    return Err(err);
                }
                i = skip_ws(b, i + 1);
            }
            let e = token_end(b, i);
            if e == i {
                return Err(err);
            }
            transport = &s[i..e];
            i = e;
        }
        // LWS, then sent-by = host [ COLON port ]
        let ws_end = skip_ws(b, i);
        if ws_end == i {
            return Err(err);
        }
        i = ws_end;
        let host_start = i;
        if b.get(i) == Some(&b'[') {
            i = s[i..].find(']').ok_or(err)? + i + 1;
        } else {
            while i < b.len() && !matches!(b[i], b':' | b';' | b' ' | b'\t') {
                i += 1;
            }
        }
        let host_str = &s[host_start..i];
        let host = Host::parse(host_str).map_err(|_| err)?;
        i = skip_ws(b, i);
        let mut port = None;
        if b.get(i) == Some(&b':') {
            let ps = skip_ws(b, i + 1);
            let mut pe = ps;
            while pe < b.len() && b[pe].is_ascii_digit() {
                pe += 1;
            }
            port = Some(parse_port(&s[ps..pe]).ok_or(err)?);
            i = skip_ws(b, pe);
        }
        let params = &s[i..];
        if !params_ok(params) {
            return Err(err);
        }
        if let Some(Some(v)) = param_get(params, "rport") {
            parse_port(v).ok_or(err)?;
        }
        for needs_value in ["branch", "received"] {
            if param_get(params, needs_value) == Some(None) {
                return Err(err);
            }
        }
        Ok(Via {
            transport,
            host,
            host_str,
            port,
            params,
        })
    }

    /// A via-param: Some(None) = flag param present.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        param_get(self.params, name)
    }

    /// The `branch` value (RFC 3261 §8.1.1.7), if any.
    pub fn branch(&self) -> Option<&'a str> {
        self.param("branch").flatten()
    }

    /// The `received` value as written: with or without `[ ]` for IPv6
    /// (RFC 5118 §4.5 allows both).
    pub fn received(&self) -> Option<&'a str> {
        self.param("received").flatten()
    }

    /// `received` as an address, accepting both IPv6 spellings.
    pub fn received_ip(&self) -> Option<core::net::IpAddr> {
        let r = self.received()?;
        let r = r
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(r);
        r.parse().ok()
    }

    /// RFC 3581: Some(None) = ";rport" without value, Some(Some(p)) = ";rport=p".
    pub fn rport(&self) -> Option<Option<u16>> {
        // Via::parse checked that a present value is a port.
        self.param("rport").map(|v| v.and_then(parse_port))
    }

    /// The UDP transport, case-insensitively (RFC 3261 §18.2.1).
    pub fn is_udp(&self) -> bool {
        self.transport.eq_ignore_ascii_case("UDP")
    }
}

/// `name-addr / addr-spec` followed by header parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// As written: a quoted-string keeps its quotes; tokens are trimmed.
    pub display: Option<&'a str>,
    pub uri: Uri<'a>,
    /// The URI text (inside the `< >` when `angle`).
    pub uri_str: &'a str,
    /// The URI was enclosed in `< >`.
    pub angle: bool,
    /// Header params after the addr, raw, from ';' (or "").
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    /// name-addr or addr-spec (RFC 3261 §20.10, §25.1). Without <>, params after the URI are header
    /// params, and the URI must not contain ',' ';' '?' (regbadct.dat). Quoted display names must be
    /// balanced (quotbal.dat); unquoted display names are tokens (baddn.dat; leniently, UTF-8 is
    /// accepted in them too); no spaces in addr-spec
    /// (badaspec.dat).
    pub fn parse(value: &'a str) -> Result<NameAddr<'a>, ParseError> {
        let s = trim_ws(value);
        let b = s.as_bytes();
        let err = ParseError::NameAddr;
        // Find where the addr starts: after a quoted display name, or after
        // display tokens when a '<' follows them; otherwise an addr-spec.
        let (display, lt) = if b.first() == Some(&b'"') {
            let e = skip_quoted(b, 0).ok_or(err)?;
            let lt = skip_ws(b, e);
            if b.get(lt) != Some(&b'<') {
                return Err(err);
            }
            (Some(&s[..e]), Some(lt))
        } else {
            let stop = b
                .iter()
                // Leniency: UTF-8 (bytes >= 0x80) is accepted in unquoted display
                // names, which some phones send for local-language names.
                .position(|&c| !(is_token_char(c) || is_ws(c) || c >= 0x80))
                .unwrap_or(b.len());
            if b.get(stop) == Some(&b'<') {
                let d = trim_ws(&s[..stop]);
                (if d.is_empty() { None } else { Some(d) }, Some(stop))
            } else {
                (None, None)
            }
        };
        let (uri_str, rest, angle) = match lt {
            Some(lt) => {
                let gt = s[lt..].find('>').ok_or(err)? + lt;
                (&s[lt + 1..gt], trim_ws(&s[gt + 1..]), true)
            }
            None => {
                let semi = s.find(';').unwrap_or(s.len());
                let u = trim_ws(&s[..semi]);
                if u.bytes().any(|c| matches!(c, b',' | b'?')) {
                    return Err(err);
                }
                (u, &s[semi..], false)
            }
        };
        let uri = Uri::parse(uri_str).map_err(|_| err)?;
        if !params_ok(rest) {
            return Err(err);
        }
        Ok(NameAddr {
            display,
            uri,
            uri_str,
            angle,
            params: rest,
        })
    }

    /// A header parameter (`tag`, `expires`, `q`, ...): Some(None) for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        param_get(self.params, name)
    }

    /// The `tag` (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&'a str> {
        self.param("tag").flatten()
    }
}

/// One Contact value (RFC 3261 §20.10): `*` or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactValue<'a> {
    Star,
    Addr(NameAddr<'a>),
}

impl<'a> ContactValue<'a> {
    pub fn parse(value: &'a str) -> Result<ContactValue<'a>, ParseError> {
        if trim_ws(value) == "*" {
            Ok(ContactValue::Star)
        } else {
            NameAddr::parse(value).map(ContactValue::Addr)
        }
    }
}

/// `CSeq = 1*DIGIT LWS Method` (RFC 3261 §20.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: Method<'a>,
}

impl<'a> CSeq<'a> {
    /// The number must fit 32 bits (RFC 3261 §8.1.1.5; the stricter
    /// "< 2**31" rule for requests is in `Message::check_request`).
    pub fn parse(value: &'a str) -> Result<CSeq<'a>, ParseError> {
        let s = trim_ws(value);
        let b = s.as_bytes();
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let ws = skip_ws(b, digits);
        let method = &s[ws..];
        if digits == 0 || ws == digits || !is_token(method) {
            return Err(ParseError::CSeq);
        }
        let seq = parse_u32(&s[..digits]).ok_or(ParseError::CSeq)?;
        Ok(CSeq {
            seq,
            method: Method::parse(method),
        })
    }
}

/// `1*DIGIT` into a u32 (leading zeros allowed, RFC 4475 wsinv.dat "0009").
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u32, |acc, c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u32::from(c - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn split_comma_respects_quotes_and_angles() {
        let v: Vec<&str> = split_comma(
            r#""Bell, Alexander" <sip:a@b;x=1,2>;q=0.5 ,  <sip:c@d> ,, "q\"," <sip:e@f>"#,
        )
        .collect();
        assert_eq!(
            v,
            [
                r#""Bell, Alexander" <sip:a@b;x=1,2>;q=0.5"#,
                "<sip:c@d>",
                r#""q\"," <sip:e@f>"#
            ]
        );
        assert_eq!(split_comma(" , ,\t").count(), 0);
        assert_eq!(split_comma("a").collect::<Vec<_>>(), ["a"]);
        // A trailing backslash inside an open quote must not read past the end.
        assert_eq!(split_comma("\"a\\").collect::<Vec<_>>(), ["\"a\\"]);
        // RFC 4475 wsinv.dat: two via-parms on one (unfolded) line.
        let v: Vec<&str> = split_comma(
            "SIP  / 2.0  / TCP     spindle.example.com   ;   branch  =   z9hG4bK9ikj8  ,  SIP  /    2.0   / UDP  192.168.255.111   ; branch=  z9hG4bK30239",
        )
        .collect();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn params() {
        let p = " ;  tag = abc ;lr; Q=0.5;x=\"a;b\"";
        assert_eq!(param_get(p, "TAG"), Some(Some("abc")));
        assert_eq!(param_get(p, "lr"), Some(None));
        assert_eq!(param_get(p, "q"), Some(Some("0.5")));
        assert_eq!(param_get(p, "x"), Some(Some("\"a;b\"")));
        assert_eq!(param_get(p, "b\""), None);
        assert_eq!(param_get(p, "t"), None);
        assert_eq!(param_get("", "t"), None);
        assert!(params_ok(p));
        assert!(params_ok(""));
        assert!(params_ok(";received=[2001:db8::9:255]"));
        assert!(params_ok(";received=2001:db8::9:255"));
        assert!(!params_ok(";;"));
        assert!(!params_ok(";a;"));
        assert!(!params_ok("a"));
        assert!(!params_ok(";a="));
        assert!(!params_ok(";a=b c"));
        assert!(!params_ok(";a=\"open"));
        assert!(!params_ok(";a b"));
    }

    #[test]
    fn via_basic() {
        let v = Via::parse("SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK776;rport;received=10.0.0.1")
            .unwrap();
        assert_eq!(v.transport, "UDP");
        assert!(v.is_udp());
        assert_eq!(v.host, Host::Ipv4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(v.host_str, "192.0.2.1");
        assert_eq!(v.port, Some(5062));
        assert_eq!(v.params, ";branch=z9hG4bK776;rport;received=10.0.0.1");
        assert_eq!(v.branch(), Some("z9hG4bK776"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("10.0.0.1"));
        assert_eq!(v.received_ip(), Some("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn via_rport_flag_vs_value() {
        let v = Via::parse("SIP/2.0/UDP h;rport=5070;branch=z9hG4bKx").unwrap();
        assert_eq!(v.rport(), Some(Some(5070)));
        let v = Via::parse("SIP/2.0/UDP h;branch=z9hG4bKx").unwrap();
        assert_eq!(v.rport(), None);
        assert_eq!(v.port, None);
        assert_eq!(
            Via::parse("SIP/2.0/UDP h;rport=70000"),
            Err(ParseError::Via)
        );
        assert_eq!(Via::parse("SIP/2.0/UDP h;rport=x"), Err(ParseError::Via));
        assert_eq!(Via::parse("SIP/2.0/UDP h;branch"), Err(ParseError::Via));
        assert_eq!(Via::parse("SIP/2.0/UDP h;received"), Err(ParseError::Via));
    }

    #[test]
    fn via_whitespace_and_ipv6() {
        // RFC 4475 wsinv.dat after unfolding.
        let v = Via::parse("SIP  /   2.0   /UDP     192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host_str, "192.0.2.2");
        assert_eq!(v.branch(), Some("390skdjuw"));
        let v =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ;   branch  =   z9hG4bK9ikj8")
                .unwrap();
        assert_eq!(v.host, Host::Name("spindle.example.com"));
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
        let v = Via::parse("SIP/2.0/UDP host : 5060 ;branch=z9hG4bKx").unwrap();
        assert_eq!(v.port, Some(5060));
        // RFC 5118 §4.5.
        let v = Via::parse(
            "SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255;branch=z9hG4bKas3",
        )
        .unwrap();
        assert_eq!(v.host_str, "[2001:db8::9:1]");
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.received_ip(), Some("2001:db8::9:255".parse().unwrap()));
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255]").unwrap();
        assert_eq!(v.received_ip(), Some("2001:db8::9:255".parse().unwrap()));
    }

    #[test]
    fn via_rejects() {
        for bad in [
            "",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP ",
            "SIP/2.0 UDP host",
            "SIP/2.0/UDPhost",
            "SIP/2.0/UDP 192.0.2.15;;",
            ";",
            "SIP/2.0/UDP host:",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP [2001:db8::1",
            "SIP/2.0/UDP 2001:db8::1",
            "SIP/2.0/UDP host junk",
            "SIP/2.0/UDP ho st",
        ] {
            assert_eq!(Via::parse(bad), Err(ParseError::Via), "{bad:?}");
        }
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com>    ;    tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(n.display, Some(r#""J Rosenberg \\\"""#));
        assert_eq!(n.uri_str, "sip:jdrosen@example.com");
        assert!(n.angle);
        assert_eq!(n.tag(), Some("98asjd8"));
        // No LWS before '<' (lwsdisp.dat).
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display, Some("caller"));
        assert_eq!(n.tag(), Some("323"));
        // Multi-token display name (intmeth.dat).
        let n =
            NameAddr::parse("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>").unwrap();
        assert_eq!(n.display, Some("token1~` token2'+_ token3*%!.-"));
        // addr-spec: params belong to the header (wsinv.dat spacing).
        let n =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert!(!n.angle);
        assert_eq!(n.display, None);
        assert_eq!(n.uri_str, "sip:vivekg@chair-dnrc.example.com");
        assert_eq!(n.uri.params, "");
        assert_eq!(n.tag(), Some("1918181833n"));
        // Inside <> the ';' belongs to the URI.
        let n = NameAddr::parse("<sip:+19725552222@gw1.example.net;unknownparam>").unwrap();
        assert_eq!(n.uri.param("unknownparam"), Some(None));
        assert_eq!(n.param("unknownparam"), None);
        let n = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert_eq!(n.uri.param("unknownparam"), None);
        assert_eq!(n.param("unknownparam"), Some(None));
        // Non-SIP schemes (unksm2.dat).
        assert!(!NameAddr::parse("isbn:2983792873").unwrap().uri.is_sip());
        assert!(
            !NameAddr::parse("<http://www.example.com>;tag=3234233")
                .unwrap()
                .uri
                .is_sip()
        );
        // Quoted pairs with control characters (intmeth.dat).
        let n =
            NameAddr::parse("\"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:a@example.com>").unwrap();
        assert_eq!(n.uri_str, "sip:a@example.com");
        // Lenient: an unquoted UTF-8 display name.
        let n = NameAddr::parse("J\u{f6}rg M\u{fc}ller <sip:j@example.com>").unwrap();
        assert_eq!(n.display, Some("J\u{f6}rg M\u{fc}ller"));
        // A quoted comma is fine.
        assert!(
            NameAddr::parse(r#""Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423"#).is_ok()
        );
    }

    #[test]
    fn name_addr_rejects() {
        for bad in [
            // quotbal.dat
            r#""Mr. J. User <sip:j.user@example.com>"#,
            // badaspec.dat
            r#""Watson, Thomas" < sip:t.watson@example.org >"#,
            "<sip:a@b >",
            // baddn.dat
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            // regbadct.dat
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "sip:a@b,sip:c@d",
            // badinv01.dat
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "<sip:a@b",
            "<sip:a@b> junk",
            r#""x" sip:a@b"#,
            "",
            "\"bare \x07 bell\" <sip:a@b>",
            "<>",
        ] {
            assert_eq!(NameAddr::parse(bad), Err(ParseError::NameAddr), "{bad:?}");
        }
    }

    #[test]
    fn contact_star() {
        assert_eq!(ContactValue::parse(" * "), Ok(ContactValue::Star));
        assert!(matches!(
            ContactValue::parse("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>"),
            Ok(ContactValue::Addr(n)) if n.uri.headers.is_some()
        ));
        assert!(ContactValue::parse("**").is_err());
    }

    #[test]
    fn cseq() {
        assert_eq!(
            CSeq::parse("0009    INVITE"),
            Ok(CSeq {
                seq: 9,
                method: Method::Invite
            })
        );
        assert_eq!(
            CSeq::parse("4294967295 FOO"),
            Ok(CSeq {
                seq: u32::MAX,
                method: Method::Other("FOO")
            })
        );
        for bad in [
            "36893488147419103232 REGISTER",
            "4294967296 INVITE",
            "INVITE",
            "1",
            "1INVITE",
            "-1 INVITE",
            "1 INVITE x",
            "1 INV/TE",
            "",
        ] {
            assert_eq!(CSeq::parse(bad), Err(ParseError::CSeq), "{bad:?}");
        }
    }

    #[test]
    fn u32_scalars() {
        assert_eq!(parse_u32("0068"), Some(68));
        assert_eq!(parse_u32("4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32("4294967296"), None);
        assert_eq!(parse_u32("10000000000000000000000000000000000000000"), None);
        assert_eq!(parse_u32(""), None);
        assert_eq!(parse_u32("+1"), None);
    }
}
