//! URIs as they appear in SIP: the Request-URI and the URIs inside From, To,
//! Contact, Route and Record-Route.
//!
//! What it does:
//! * splits a `sip:`/`sips:` URI (RFC 3261 §19.1.1, §25.1) into user,
//!   password, host, port, URI parameters and headers, as borrowed views of the
//!   input, and checks every part against its character class, including the
//!   `%` HEXDIG HEXDIG escapes (RFC 3261 §19.1.2, §25.1 `escaped`);
//! * parses hosts into [`Host`]: IPv4, IPv6 references in `[...]` (RFC 5118
//!   §4.1, §4.10: `std` rejects the 3-colon form), or a host name;
//! * accepts any other scheme as an opaque `absoluteURI` (RFC 3261 §25.1,
//!   RFC 4475 §3.3.2–3.3.4): only the scheme and the absence of whitespace and
//!   `<>"` are checked.
//!
//! What it does NOT do: unescape anything (the views are as written), compare
//! URIs (RFC 3261 §19.1.4), parse `tel:` URIs (RFC 3966) beyond the opaque
//! part, or resolve hosts. No allocation: every field borrows the input.
//!
//! Deliberate leniency: `#` is accepted unescaped in the user part, because
//! phones put it in dial strings (`*21#`); RFC 3261 wants `%23`.

use super::message::ParseError;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host part of a URI or of a Via sent-by (RFC 3261 §25.1 `host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// A host name as written (case preserved; compare case-insensitively).
    Name(&'a str),
}

impl<'a> Host<'a> {
    /// Parses `hostname / IPv4address / IPv6reference`. An IPv6 address must be
    /// enclosed in `[ ]` (RFC 3261 §25.1, RFC 5118 §4.2); an all-digit dotted
    /// string must be a valid IPv4 address; a name is made of letters, digits,
    /// `-`, `.` (and `_`, leniently) and starts with a letter or digit.
    pub fn parse(s: &'a str) -> Result<Host<'a>, ParseError> {
        let b = s.as_bytes();
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(ParseError::Host)?;
            return inner
                .parse::<Ipv6Addr>()
                .map(Host::Ipv6)
                .map_err(|_| ParseError::Host);
        }
        let first = *b.first().ok_or(ParseError::Host)?;
        if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
            return s
                .parse::<Ipv4Addr>()
                .map(Host::Ipv4)
                .map_err(|_| ParseError::Host);
        }
        if !first.is_ascii_alphanumeric() || b.windows(2).any(|w| w == b"..") {
            return Err(ParseError::Host);
        }
        if b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
        {
            Ok(Host::Name(s))
        } else {
            Err(ParseError::Host)
        }
    }

    /// The address, for the two literal forms.
    pub fn ip(&self) -> Option<IpAddr> {
        match *self {
            Host::Ipv4(a) => Some(IpAddr::V4(a)),
            Host::Ipv6(a) => Some(IpAddr::V6(a)),
            Host::Name(_) => None,
        }
    }
}

/// A parsed URI. All string fields borrow the input, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    /// "sip", "sips", "tel", anything (RFC 3261 §19.1; absoluteURI for others).
    pub scheme: &'a str,
    /// userinfo user part (may contain ';' params, RFC 4475 semiuri.dat), no password.
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    /// For non-sip schemes: `Host::Name("")`.
    pub host: Host<'a>,
    /// As written, IPv6 with its `[ ]` (RFC 5118).
    pub host_str: &'a str,
    pub port: Option<u16>,
    /// Raw, from the first ';' after `host[:port]`, or "".
    pub params: &'a str,
    /// After '?' (without the '?').
    pub headers: Option<&'a str>,
    /// For non-sip/sips schemes: everything after "scheme:".
    pub opaque: Option<&'a str>,
}

impl<'a> Uri<'a> {
    /// Parses a URI with no surrounding whitespace and no `< >`.
    pub fn parse(s: &'a str) -> Result<Uri<'a>, ParseError> {
        let colon = s.find(':').ok_or(ParseError::Uri)?;
        let scheme = &s[..colon];
        let rest = &s[colon + 1..];
        if !is_scheme(scheme) || rest.is_empty() {
            return Err(ParseError::Uri);
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            parse_sip(scheme, rest)
        } else {
            // RFC 3261 §25.1 absoluteURI: hier-part / opaque-part, both made of
            // visible ASCII minus the delimiters that would end a header value.
            if !rest
                .bytes()
                .all(|c| c.is_ascii_graphic() && !matches!(c, b'<' | b'>' | b'"'))
            {
                return Err(ParseError::Uri);
            }
            Ok(Uri {
                scheme,
                user: None,
                password: None,
                host: Host::Name(""),
                host_str: "",
                port: None,
                params: "",
                headers: None,
                opaque: Some(rest),
            })
        }
    }

    /// `sip` or `sips` (case-insensitive, RFC 3261 §19.1.4).
    pub fn is_sip(&self) -> bool {
        self.opaque.is_none()
    }

    /// `sips` (RFC 3261 §19.1).
    pub fn is_sips(&self) -> bool {
        self.is_sip() && self.scheme.eq_ignore_ascii_case("sips")
    }

    /// A URI parameter (`;lr`, `;transport=udp`, `;maddr=...`): Some(None) for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        super::header::param_get(self.params, name)
    }
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3261 §25.1).
fn is_scheme(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(b.first(), Some(c) if c.is_ascii_alphabetic())
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

fn parse_sip<'a>(scheme: &'a str, rest: &'a str) -> Result<Uri<'a>, ParseError> {
    // '@' is in none of the character classes after the userinfo (host,
    // params, headers), so the first '@' ends the userinfo. ';', '?', ',' and
    // '/' are user-unreserved (RFC 3261 §25.1), which is why we look for '@'
    // before looking for params or headers; the first ':' starts the password.
    let (user, password, hostpart) = match rest.find('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match userinfo.find(':') {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if user.is_empty() || !check_escaped(user, is_user_char) {
                return Err(ParseError::Uri);
            }
            if let Some(p) = password {
                if !check_escaped(p, is_password_char) {
                    return Err(ParseError::Uri);
                }
            }
            (Some(user), password, &rest[at + 1..])
        }
        None => (None, None, rest),
    };
    let hb = hostpart.as_bytes();
    // host: an IPv6 reference runs to its ']'; anything else to ':' ';' '?'.
    let host_end = if hb.first() == Some(&b'[') {
        hostpart.find(']').ok_or(ParseError::Uri)? + 1
    } else {
        hb.iter()
            .position(|c| matches!(c, b':' | b';' | b'?'))
            .unwrap_or(hb.len())
    };
    let host_str = &hostpart[..host_end];
    let host = Host::parse(host_str).map_err(|_| ParseError::Uri)?;
    let mut pos = host_end;
    let mut port = None;
    if hb.get(pos) == Some(&b':') {
        let start = pos + 1;
        let end = hb[start..]
            .iter()
            .position(|c| matches!(c, b';' | b'?'))
            .map_or(hb.len(), |p| start + p);
        port = Some(parse_port(&hostpart[start..end]).ok_or(ParseError::Uri)?);
        pos = end;
    }
    let after = &hostpart[pos..];
    if !(after.is_empty() || after.starts_with(';') || after.starts_with('?')) {
        return Err(ParseError::Uri);
    }
    let (params, headers) = match after.find('?') {
        Some(q) => (&after[..q], Some(&after[q + 1..])),
        None => (after, None),
    };
    if !params.is_empty() {
        // `params` starts with ';' here (the host/port scan stops only at ';' or '?').
        for p in params[1..].split(';') {
            let (name, value) = match p.find('=') {
                Some(e) => (&p[..e], Some(&p[e + 1..])),
                None => (p, None),
            };
            if name.is_empty() || !check_escaped(name, is_param_char) {
                return Err(ParseError::Uri);
            }
            if let Some(v) = value {
                if v.is_empty() || !check_escaped(v, is_param_char) {
                    return Err(ParseError::Uri);
                }
            }
        }
    }
    if let Some(h) = headers {
        // headers = header *( "&" header ); header = hname "=" hvalue (hvalue may be empty).
        for hdr in h.split('&') {
            let eq = hdr.find('=').ok_or(ParseError::Uri)?;
            let (name, value) = (&hdr[..eq], &hdr[eq + 1..]);
            if name.is_empty()
                || !check_escaped(name, is_header_char)
                || !check_escaped(value, is_header_char)
            {
                return Err(ParseError::Uri);
            }
        }
    }
    Ok(Uri {
        scheme,
        user,
        password,
        host,
        host_str,
        port,
        params,
        headers,
        opaque: None,
    })
}

/// `port = 1*DIGIT`, and it must fit 16 bits.
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    crate::num::parse(s)
}

/// Every byte is in `class`, or is the start of a `%` HEXDIG HEXDIG escape.
fn check_escaped(s: &str, class: fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else if class(c) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// `unreserved = alphanum / mark` (RFC 3261 §25.1).
pub(crate) fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// `user = 1*( unreserved / escaped / user-unreserved )`, plus `#` (see module doc).
fn is_user_char(c: u8) -> bool {
    is_unreserved(c)
        || matches!(
            c,
            b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/' | b'#'
        )
}

/// `password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )`.
fn is_password_char(c: u8) -> bool {
    is_unreserved(c) || matches!(c, b'&' | b'=' | b'+' | b'$' | b',')
}

/// `paramchar = param-unreserved / unreserved / escaped`.
fn is_param_char(c: u8) -> bool {
    is_unreserved(c) || matches!(c, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

/// `hname` / `hvalue` characters: `hnv-unreserved / unreserved / escaped`.
fn is_header_char(c: u8) -> bool {
    is_unreserved(c) || matches!(c, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_sip_uri() {
        let u =
            Uri::parse("sip:alice:secret@example.com:5070;transport=udp;lr?subject=hi").unwrap();
        assert_eq!(u.scheme, "sip");
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, Host::Name("example.com"));
        assert_eq!(u.host_str, "example.com");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params, ";transport=udp;lr");
        assert_eq!(u.param("TRANSPORT"), Some(Some("udp")));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.param("maddr"), None);
        assert_eq!(u.headers, Some("subject=hi"));
        assert!(u.is_sip());
        assert!(!u.is_sips());
    }

    #[test]
    fn host_only_and_ipv4() {
        let u = Uri::parse("SIPS:192.0.2.1").unwrap();
        assert!(u.is_sips());
        assert_eq!(u.user, None);
        assert_eq!(u.host, Host::Ipv4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(u.host.ip(), Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
        assert_eq!(u.port, None);
        assert_eq!(u.params, "");
        assert_eq!(u.headers, None);
    }

    #[test]
    fn ipv6_references() {
        // RFC 5118 §4.1, §4.4: the port goes after the ']'.
        let u = Uri::parse("sip:[2001:db8::10]:5070").unwrap();
        assert_eq!(u.host_str, "[2001:db8::10]");
        assert_eq!(u.host, Host::Ipv6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5070));
        // §4.3: inside the brackets ":5070" is part of the address.
        let u = Uri::parse("sip:[2001:db8::10:5070]").unwrap();
        assert_eq!(u.port, None);
        assert_eq!(u.host, Host::Ipv6("2001:db8::10:5070".parse().unwrap()));
        // §4.9: IPv4-mapped.
        let u = Uri::parse("sip:ted@[::ffff:192.0.2.2]").unwrap();
        assert_eq!(u.host.ip(), Some("::ffff:192.0.2.2".parse().unwrap()));
        // §4.2: no brackets: "db8::10" is not a port.
        assert_eq!(Uri::parse("sip:2001:db8::10"), Err(ParseError::Uri));
        // §4.10: three colons are not an IPv6 address.
        assert_eq!(
            Uri::parse("sip:user@[2001:db8:::192.0.2.1]"),
            Err(ParseError::Uri)
        );
        // Unterminated reference.
        assert_eq!(Uri::parse("sip:[2001:db8::1"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:[2001:db8::1]x"), Err(ParseError::Uri));
    }

    #[test]
    fn ports() {
        assert_eq!(Uri::parse("sip:h:65535").unwrap().port, Some(65535));
        assert_eq!(Uri::parse("sip:h:65536"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:h:"), Err(ParseError::Uri));
        assert_eq!(
            Uri::parse("sip:h:99999999999999999999"),
            Err(ParseError::Uri)
        );
        assert_eq!(Uri::parse("sip:h:5x"), Err(ParseError::Uri));
    }

    #[test]
    fn escapes_and_odd_user_parts() {
        // RFC 4475 esc01 / escnull: valid escapes, kept as written.
        let u = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert_eq!(u.user, Some("sips%3Auser%40example.com"));
        assert_eq!(u.host_str, "example.net");
        assert!(Uri::parse("sip:null-%00-null@example.com").is_ok());
        assert!(
            Uri::parse("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31").is_ok()
        );
        // Broken escapes.
        assert_eq!(Uri::parse("sip:a%4@h"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:a%zz@h"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:a@h;p=%"), Err(ParseError::Uri));
        // RFC 4475 semiuri: ';' belongs to the user part before '@'.
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.params, "");
        // RFC 4475 intmeth: '?', ',' and ':' in the userinfo.
        let u = Uri::parse(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        )
        .unwrap();
        assert_eq!(
            u.user,
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password,
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert_eq!(u.headers, None);
        // Dial strings.
        assert_eq!(
            Uri::parse("sip:*21#@example.com").unwrap().user,
            Some("*21#")
        );
    }

    #[test]
    fn rejects_whitespace_and_delimiters() {
        assert_eq!(Uri::parse("sip:user@example.com; lr"), Err(ParseError::Uri));
        assert_eq!(Uri::parse(" sip:user@example.com"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:user@example.com "), Err(ParseError::Uri));
        assert_eq!(Uri::parse("<sip:user@example.com>"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:@example.com"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:u@"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:u@h;;x"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:u@h;x="), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:u@h?noequals"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:u@ex ample.com"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:u@-bad.com"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:u@a..b"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:u@1.2.3"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("sip:u@256.1.1.1"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("nocolon"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("1x:abc"), Err(ParseError::Uri));
    }

    #[test]
    fn escaped_headers() {
        // RFC 4475 regescrt: legal in a Contact (inside <>), kept raw.
        let u = Uri::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").unwrap();
        assert_eq!(u.headers, Some("Route=%3Csip:sip.example.com%3E"));
        assert_eq!(u.host_str, "example.com");
    }

    #[test]
    fn other_schemes_are_opaque() {
        for s in [
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "soap.beep://192.0.2.103:3002",
            "isbn:2983792873",
            "http://www.example.com",
            "tel:+1-201-555-0123;phone-context=example.com",
        ] {
            let u = Uri::parse(s).unwrap();
            assert!(!u.is_sip());
            assert_eq!(u.host, Host::Name(""));
            assert_eq!(Some(&s[u.scheme.len() + 1..]), u.opaque);
        }
        assert_eq!(Uri::parse("name:"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("name:a b"), Err(ParseError::Uri));
        assert_eq!(Uri::parse("name:a>"), Err(ParseError::Uri));
    }

    #[test]
    fn hosts() {
        assert_eq!(Host::parse("example.com."), Ok(Host::Name("example.com.")));
        assert_eq!(Host::parse("my_pc"), Ok(Host::Name("my_pc")));
        assert_eq!(Host::parse(""), Err(ParseError::Host));
        assert_eq!(Host::parse("[]"), Err(ParseError::Host));
        assert_eq!(Host::parse("[::1"), Err(ParseError::Host));
        assert_eq!(Host::parse("::1"), Err(ParseError::Host));
        assert_eq!(
            Host::parse("255.255.255.255"),
            Ok(Host::Ipv4(Ipv4Addr::BROADCAST))
        );
        assert_eq!(Host::Name("x").ip(), None);
    }
}
