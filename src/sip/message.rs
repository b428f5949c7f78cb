//! One SIP message in one UDP datagram: start line, header lines, body.
//!
//! What it does:
//! * [`unfold_headers`] turns folded header lines (RFC 3261 §7.3.1) into one
//!   line each, in place;
//! * [`Message::parse`] splits a datagram into its start line (RFC 3261 §7.1,
//!   §7.2, parsed here), header lines (name, trimmed value, byte range) and
//!   body (RFC 3261 §18.3: Content-Length octets), validating the framing;
//! * [`Message::check_request`] / [`Message::check_response`] make the
//!   semantic checks a proxy must make before it acts on a message
//!   (RFC 3261 §16.3, §8.2.2; RFC 4475 §3.1.2, §3.3); they live in
//!   `message/check.rs`, this file parses.
//!
//! What it does NOT do: copy or allocate (every view borrows the datagram;
//! the header index is a fixed `heapless::Vec` of [`MAX_HEADERS`]), decode
//! the body, handle stream framing (TCP) or decide proxy policy (483, 420,
//! loops): the proxy does.
//!
//! Why not `httparse::parse_headers`: it rejects messages RFC 4475 calls valid
//! — whitespace between a header name and its colon (§3.1.1.1 wsinv.dat,
//! §3.1.1.7 longreq.dat, RFC 3261 §7.3.1 HCOLON) and control characters in a
//! quoted-pair (§3.1.1.2 intmeth.dat) — and the header grammar left after
//! unfolding is one loop over CRLF-terminated lines.

mod check;

use super::header::{CSeq, NameAddr, Via, is_token, split_comma, trim_ws};
use super::uri::Uri;
use crate::limits::MAX_HEADERS;
pub use check::Reject;
use core::ops::Range;

/// Why a datagram is not a usable SIP message. One variant per reason;
/// [`ParseError::as_str`] names it for the stats counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but CR/LF (a keep-alive, RFC 5626 §4.4.1) or no bytes at all.
    Empty,
    /// The start line does not have the RFC 3261 §7.1/§7.2 shape.
    StartLine,
    /// A version other than SIP/2.0 (a request may get 505 Version Not Supported,
    /// RFC 3261 §21.5.7).
    Version,
    /// The request method is not a token.
    Method,
    /// The Request-URI does not parse, or carries headers (RFC 3261 §19.1.5).
    RequestUri,
    /// Not a 3-digit status code in 100..=699 (RFC 3261 §7.2, §21).
    StatusCode,
    /// Control characters in the reason phrase.
    ReasonPhrase,
    /// A header line without `name:` or with a bare CR or LF.
    HeaderSyntax,
    /// More header lines than [`MAX_HEADERS`].
    TooManyHeaders,
    /// The start line or a header value is not UTF-8 (RFC 3261 §7.3.1).
    NotUtf8,
    /// No empty line ends the headers (over UDP the datagram is the message).
    NoHeaderEnd,
    /// Content-Length is not 1*DIGIT or does not fit (RFC 3261 §20.14).
    ContentLength,
    /// Fewer body octets than Content-Length (RFC 3261 §18.3).
    BodyTruncated,
    /// A Via value does not parse.
    Via,
    /// A From/To/Contact/Route/Record-Route value does not parse.
    NameAddr,
    /// A URI does not parse.
    Uri,
    /// A host does not parse.
    Host,
    /// CSeq does not parse or is out of range.
    CSeq,
    /// Call-ID is not `word [ "@" word ]` (RFC 3261 §25.1).
    CallId,
    /// A mandatory header is missing.
    MissingHeader,
    /// A single-value header appears more than once or with several values.
    DuplicateHeader,
}

impl ParseError {
    /// Short stable name for stats and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::StartLine => "bad-start-line",
            ParseError::Version => "bad-version",
            ParseError::Method => "bad-method",
            ParseError::RequestUri => "bad-request-uri",
            ParseError::StatusCode => "bad-status-code",
            ParseError::ReasonPhrase => "bad-reason-phrase",
            ParseError::HeaderSyntax => "bad-header",
            ParseError::TooManyHeaders => "too-many-headers",
            ParseError::NotUtf8 => "not-utf8",
            ParseError::NoHeaderEnd => "no-header-end",
            ParseError::ContentLength => "bad-content-length",
            ParseError::BodyTruncated => "body-truncated",
            ParseError::Via => "bad-via",
            ParseError::NameAddr => "bad-name-addr",
            ParseError::Uri => "bad-uri",
            ParseError::Host => "bad-host",
            ParseError::CSeq => "bad-cseq",
            ParseError::CallId => "bad-call-id",
            ParseError::MissingHeader => "missing-header",
            ParseError::DuplicateHeader => "duplicate-header",
        }
    }
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RFC 3261 §7.3.1: header folding (CRLF followed by SP/HTAB) is equivalent to one SP. Rewrites the
/// header section of `buf` in place (the CR and LF of each fold become SP) so the header parser
/// sees one line per header. Only touches bytes before the first CRLFCRLF, and not the start line
/// (a start line cannot be folded). Safe on any bytes.
pub fn unfold_headers(buf: &mut [u8]) {
    // Skip the start line: folding applies to header fields only.
    let Some(first_lf) = buf.iter().position(|&c| c == b'\n') else {
        return;
    };
    let mut i = first_lf + 1;
    let mut at_line_start = true;
    while i + 1 < buf.len() {
        if buf[i] == b'\r' && buf[i + 1] == b'\n' {
            if at_line_start {
                // The empty line: the end of the header section.
                return;
            }
            if matches!(buf.get(i + 2), Some(b' ' | b'\t')) {
                buf[i] = b' ';
                buf[i + 1] = b' ';
                at_line_start = false;
            } else {
                at_line_start = true;
            }
            i += 2;
        } else {
            at_line_start = false;
            i += 1;
        }
    }
}

/// A request method (RFC 3261 §7.1; methods are case-sensitive, §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method<'a> {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Prack,
    Update,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    Other(&'a str),
}

impl<'a> Method<'a> {
    /// Known methods by exact (case-sensitive) name; anything else is `Other`.
    /// Does not check that `token` is a token.
    pub fn parse(token: &'a str) -> Method<'a> {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other),
        }
    }

    pub fn as_str(&self) -> &'a str {
        match *self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

/// The headers sipnat looks at by name; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    ContentLength,
    ContentType,
    Route,
    RecordRoute,
    Expires,
    MinExpires,
    ProxyRequire,
    Require,
    Supported,
    Unsupported,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    Allow,
    Event,
    ReferTo,
    ReferredBy,
    Date,
    RetryAfter,
    UserAgent,
    Server,
    Other,
}

impl HeaderName {
    /// Case-insensitive (RFC 3261 §7.3.1), with the compact forms of RFC 3261
    /// §7.3.3 / §20 (v f t i m l c k), RFC 6665 §8.2.1 (o = Event), RFC 3515
    /// §2.1 (r = Refer-To) and RFC 3892 §2 (b = Referred-By). Other compact
    /// forms (s e u x a j d y n) name headers sipnat does not look at.
    pub fn from_name(name: &str) -> HeaderName {
        use HeaderName as H;
        let b = name.as_bytes();
        if b.len() == 1 {
            return match b[0].to_ascii_lowercase() {
                b'v' => H::Via,
                b'f' => H::From,
                b't' => H::To,
                b'i' => H::CallId,
                b'm' => H::Contact,
                b'l' => H::ContentLength,
                b'c' => H::ContentType,
                b'k' => H::Supported,
                b'o' => H::Event,
                b'r' => H::ReferTo,
                b'b' => H::ReferredBy,
                _ => H::Other,
            };
        }
        // Candidates by length, then a case-insensitive compare.
        let candidates: &[(&str, HeaderName)] = match b.len() {
            2 => &[("To", H::To)],
            3 => &[("Via", H::Via)],
            4 => &[("From", H::From), ("CSeq", H::CSeq), ("Date", H::Date)],
            5 => &[
                ("Route", H::Route),
                ("Allow", H::Allow),
                ("Event", H::Event),
            ],
            6 => &[("Server", H::Server)],
            7 => &[
                ("Call-ID", H::CallId),
                ("Contact", H::Contact),
                ("Expires", H::Expires),
                ("Require", H::Require),
            ],
            8 => &[("Refer-To", H::ReferTo)],
            9 => &[("Supported", H::Supported)],
            10 => &[("User-Agent", H::UserAgent)],
            11 => &[
                ("Min-Expires", H::MinExpires),
                ("Unsupported", H::Unsupported),
                ("Referred-By", H::ReferredBy),
                ("Retry-After", H::RetryAfter),
            ],
            12 => &[
                ("Max-Forwards", H::MaxForwards),
                ("Record-Route", H::RecordRoute),
                ("Content-Type", H::ContentType),
            ],
            13 => &[
                ("Authorization", H::Authorization),
                ("Proxy-Require", H::ProxyRequire),
            ],
            14 => &[("Content-Length", H::ContentLength)],
            16 => &[("WWW-Authenticate", H::WwwAuthenticate)],
            18 => &[("Proxy-Authenticate", H::ProxyAuthenticate)],
            19 => &[("Proxy-Authorization", H::ProxyAuthorization)],
            _ => &[],
        };
        candidates
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(H::Other, |&(_, h)| h)
    }

    /// The full name as RFC 3261 §20 spells it; None for `Other`.
    pub fn canonical(self) -> Option<&'static str> {
        use HeaderName as H;
        Some(match self {
            H::Via => "Via",
            H::From => "From",
            H::To => "To",
            H::CallId => "Call-ID",
            H::CSeq => "CSeq",
            H::Contact => "Contact",
            H::MaxForwards => "Max-Forwards",
            H::ContentLength => "Content-Length",
            H::ContentType => "Content-Type",
            H::Route => "Route",
            H::RecordRoute => "Record-Route",
            H::Expires => "Expires",
            H::MinExpires => "Min-Expires",
            H::ProxyRequire => "Proxy-Require",
            H::Require => "Require",
            H::Supported => "Supported",
            H::Unsupported => "Unsupported",
            H::Authorization => "Authorization",
            H::ProxyAuthorization => "Proxy-Authorization",
            H::WwwAuthenticate => "WWW-Authenticate",
            H::ProxyAuthenticate => "Proxy-Authenticate",
            H::Allow => "Allow",
            H::Event => "Event",
            H::ReferTo => "Refer-To",
            H::ReferredBy => "Referred-By",
            H::Date => "Date",
            H::RetryAfter => "Retry-After",
            H::UserAgent => "User-Agent",
            H::Server => "Server",
            H::Other => return None,
        })
    }
}

/// One header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: HeaderName,
    /// As written.
    pub raw_name: &'a str,
    /// Trimmed of surrounding whitespace.
    pub value: &'a str,
    /// The whole header line in `raw`, including its CRLF.
    pub line: Range<usize>,
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request {
        method: Method<'a>,
        uri: &'a str,
        /// Where `uri` is in `raw`.
        uri_span: Range<usize>,
    },
    Response {
        code: u16,
        reason: &'a str,
    },
}

/// A parsed datagram. Parse once; the accessors cannot fail on the framing.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub start: StartLine<'a>,
    /// RFC 3261 §18.3: exactly Content-Length bytes; octets after it in a UDP
    /// datagram are ignored (RFC 4475 dblreq.dat). No Content-Length: the rest
    /// of the datagram.
    pub body: &'a [u8],
    /// Offset in `raw` of the first body byte (just after CRLFCRLF).
    pub header_end: usize,
    /// The whole datagram.
    pub raw: &'a [u8],
    headers: heapless::Vec<Header<'a>, MAX_HEADERS>,
}

/// Offset of the CR of the CRLF that ends the line starting at `from`:
/// `NoHeaderEnd` when there is no LF left, `HeaderSyntax` for a bare LF.
fn line_end(b: &[u8], from: usize) -> Result<usize, ParseError> {
    let rest = b.get(from..).ok_or(ParseError::NoHeaderEnd)?;
    let lf = rest
        .iter()
        .position(|&c| c == b'\n')
        .ok_or(ParseError::NoHeaderEnd)?;
    if lf > 0 && rest[lf - 1] == b'\r' {
        Ok(from + lf - 1)
    } else {
        Err(ParseError::HeaderSyntax)
    }
}

fn is_sip_version(v: &str) -> bool {
    v.eq_ignore_ascii_case("SIP/2.0")
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT` (case-insensitive, RFC 3261 §7.1).
fn looks_like_version(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 7 || !b[..4].eq_ignore_ascii_case(b"SIP/") {
        return false;
    }
    let rest = &v[4..];
    match rest.split_once('.') {
        Some((maj, min)) => {
            !maj.is_empty()
                && !min.is_empty()
                && maj.bytes().all(|c| c.is_ascii_digit())
                && min.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

fn check_version(v: &str) -> Result<(), ParseError> {
    if is_sip_version(v) {
        Ok(())
    } else if looks_like_version(v) {
        Err(ParseError::Version)
    } else {
        Err(ParseError::StartLine)
    }
}

/// Parses the start line `line` found at offset `at` of the datagram.
fn parse_start_line(line: &str, at: usize) -> Result<StartLine<'_>, ParseError> {
    let b = line.as_bytes();
    if b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = line.split_once(' ').ok_or(ParseError::StartLine)?;
        check_version(version)?;
        let rb = rest.as_bytes();
        let digits = rb.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits != 3 {
            return Err(ParseError::StatusCode);
        }
        // Leniency: "SIP/2.0 200" without the SP and empty reason is accepted.
        let reason = match rb.get(3) {
            None => "",
            Some(b' ') => &rest[4..],
            Some(_) => return Err(ParseError::StatusCode),
        };
        let code = rb[..3]
            .iter()
            .fold(0u16, |acc, &c| acc * 10 + u16::from(c - b'0'));
        if !(100..=699).contains(&code) {
            return Err(ParseError::StatusCode);
        }
        // Reason-Phrase: text, UTF-8, SP and HTAB; no other control characters.
        if reason
            .bytes()
            .any(|c| (c < 0x20 && c != b'\t') || c == 0x7f)
        {
            return Err(ParseError::ReasonPhrase);
        }
        return Ok(StartLine::Response { code, reason });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (single SPs, RFC 3261
    // §7.1; RFC 4475 lwsstart.dat, trws.dat, lwsruri.dat).
    let (method, rest) = line.split_once(' ').ok_or(ParseError::StartLine)?;
    let (uri, version) = rest.split_once(' ').ok_or(ParseError::StartLine)?;
    if method.is_empty() || uri.is_empty() || version.contains(' ') {
        return Err(ParseError::StartLine);
    }
    if !is_token(method) {
        return Err(ParseError::Method);
    }
    check_version(version)?;
    // RFC 3261 §19.1.5 forbids headers in a SIP Request-URI (escruri.dat);
    // `<>` (ltgtruri.dat) and whitespace fail Uri::parse.
    let u = Uri::parse(uri).map_err(|_| ParseError::RequestUri)?;
    if u.is_sip() && u.headers.is_some() {
        return Err(ParseError::RequestUri);
    }
    let start = at + method.len() + 1;
    Ok(StartLine::Request {
        method: Method::parse(method),
        uri,
        uri_span: start..start + uri.len(),
    })
}

/// `Content-Length = 1*DIGIT` (RFC 3261 §20.14). Leading zeros are fine;
/// more than 9 significant digits cannot describe a datagram (and could
/// overflow a 32-bit usize).
fn parse_content_length(v: &str) -> Result<usize, ParseError> {
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ParseError::ContentLength);
    }
    let t = v.trim_start_matches('0');
    if t.len() > 9 {
        return Err(ParseError::ContentLength);
    }
    Ok(t.bytes()
        .fold(0usize, |acc, c| acc * 10 + usize::from(c - b'0')))
}

impl<'a> Message<'a> {
    /// `buf` must already be unfolded ([`unfold_headers`]). Parses the start
    /// line (RFC 3261 §7.1/§7.2: single SP separators, SIP/2.0 only, 3-digit
    /// status code 100..=699, Request-URI grammar incl. no LWS, no <>, no
    /// escaped headers in a SIP Request-URI), then every header line up to the
    /// empty line (none = malformed over UDP), then Content-Length (one value,
    /// non-negative, fits, body not truncated; with several Content-Length
    /// lines the first frames the body and `check_request` answers 400).
    /// Header values must be UTF-8. Leading CRLFs are skipped (RFC 3261 §7.5).
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, ParseError> {
        let lead = buf
            .iter()
            .position(|&c| c != b'\r' && c != b'\n')
            .ok_or(ParseError::Empty)?;
        // Only whole CRLFs may precede the start line.
        if lead % 2 != 0 || buf[..lead].chunks(2).any(|p| p != b"\r\n") {
            return Err(ParseError::StartLine);
        }
        let sl_end = line_end(buf, lead).map_err(|e| match e {
            ParseError::HeaderSyntax => ParseError::StartLine,
            e => e,
        })?;
        let sl = core::str::from_utf8(&buf[lead..sl_end]).map_err(|_| ParseError::NotUtf8)?;
        let start = parse_start_line(sl, lead)?;

        let mut headers: heapless::Vec<Header<'a>, MAX_HEADERS> = heapless::Vec::new();
        let mut pos = sl_end + 2;
        let header_end = loop {
            let eol = line_end(buf, pos)?;
            if eol == pos {
                break pos + 2;
            }
            let line = &buf[pos..eol];
            let name_end = line
                .iter()
                .position(|&c| !super::header::is_token_char(c))
                .unwrap_or(line.len());
            let mut colon = name_end;
            while colon < line.len() && (line[colon] == b' ' || line[colon] == b'\t') {
                colon += 1;
            }
            if name_end == 0 || line.get(colon) != Some(&b':') {
                return Err(ParseError::HeaderSyntax);
            }
            let value_bytes = &line[colon + 1..];
            if value_bytes.contains(&b'\r') {
                return Err(ParseError::HeaderSyntax);
            }
            let raw_name =
                core::str::from_utf8(&line[..name_end]).map_err(|_| ParseError::HeaderSyntax)?;
            let value = core::str::from_utf8(value_bytes).map_err(|_| ParseError::NotUtf8)?;
            headers
                .push(Header {
                    name: HeaderName::from_name(raw_name),
                    raw_name,
                    value: trim_ws(value),
                    line: pos..eol + 2,
                })
                .map_err(|_| ParseError::TooManyHeaders)?;
            pos = eol + 2;
        };

        let available = buf.len() - header_end;
        let body_len = match headers.iter().find(|h| h.name == HeaderName::ContentLength) {
            Some(h) => {
                let n = parse_content_length(h.value)?;
                if n > available {
                    return Err(ParseError::BodyTruncated);
                }
                n
            }
            None => available,
        };
        Ok(Message {
            start,
            body: &buf[header_end..header_end + body_len],
            header_end,
            raw: buf,
            headers,
        })
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method; None for a response.
    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code; None for a request.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI, parsed (it was validated by `parse`); None for a response.
    pub fn request_uri(&self) -> Option<Uri<'a>> {
        match self.start {
            StartLine::Request { uri, .. } => Uri::parse(uri).ok(),
            StartLine::Response { .. } => None,
        }
    }

    /// Every header line, in order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// The first line with that name.
    pub fn header(&self, name: HeaderName) -> Option<&Header<'a>> {
        self.headers.iter().find(|h| h.name == name)
    }

    /// Every line with that name, in order.
    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = &Header<'a>> {
        self.headers.iter().filter(move |h| h.name == name)
    }

    /// Every comma-separated value across all lines of that header
    /// ([`split_comma`]; only meaningful for list headers).
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &'a str> {
        self.headers_named(name).flat_map(|h| split_comma(h.value))
    }

    pub fn call_id(&self) -> Option<&'a str> {
        self.header(HeaderName::CallId).map(|h| h.value)
    }

    /// The tag of the To header: present in a dialog (RFC 3261 §12).
    pub fn to_tag(&self) -> Option<&'a str> {
        self.tag_of(HeaderName::To)
    }

    /// The tag of the From header.
    pub fn from_tag(&self) -> Option<&'a str> {
        self.tag_of(HeaderName::From)
    }

    fn tag_of(&self, name: HeaderName) -> Option<&'a str> {
        self.header(name)
            .and_then(|h| NameAddr::parse(h.value).ok())
            .and_then(|na| na.tag())
    }

    pub fn cseq(&self) -> Option<CSeq<'a>> {
        self.header(HeaderName::CSeq)
            .and_then(|h| CSeq::parse(h.value).ok())
    }

    /// First value of the first Via.
    pub fn top_via(&self) -> Option<Via<'a>> {
        self.values(HeaderName::Via)
            .next()
            .and_then(|v| Via::parse(v).ok())
    }

    /// From, parsed.
    pub fn from(&self) -> Option<NameAddr<'a>> {
        self.header(HeaderName::From)
            .and_then(|h| NameAddr::parse(h.value).ok())
    }

    /// To, parsed.
    pub fn to(&self) -> Option<NameAddr<'a>> {
        self.header(HeaderName::To)
            .and_then(|h| NameAddr::parse(h.value).ok())
    }
}

#[cfg(test)]
mod tests;
