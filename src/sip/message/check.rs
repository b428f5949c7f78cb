//! The semantic checks a proxy makes on a parsed message before it acts on
//! it (RFC 3261 §16.3, §8.2.2; RFC 4475 §3.1.2, §3.3):
//! [`Message::check_request`] and [`Message::check_response`], the header
//! grammars they need beyond the framing (Call-ID, Date), and [`Reject`],
//! the 400 answer to a request that breaks one.
//!
//! It does not parse the framing (the start line and header index are
//! [`Message::parse`]'s) or decide proxy policy (483, 420, loops: the proxy
//! does).

use super::{HeaderName, Message, ParseError};
use crate::sip::header::{CSeq, ContactValue, NameAddr, Via, parse_u32, split_comma};
use core::ops::Range;

/// What a proxy answers to a request that parses but breaks a rule (RFC 3261 §8.2.2, §16.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    pub code: u16,
    pub reason: &'static str,
}

pub(super) const fn bad(reason: &'static str) -> Reject {
    Reject { code: 400, reason }
}

/// `callid = word [ "@" word ]` (RFC 3261 §25.1).
fn call_id_ok(v: &str) -> bool {
    fn word(w: &str) -> bool {
        !w.is_empty()
            && w.bytes().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        b'-' | b'.'
                            | b'!'
                            | b'%'
                            | b'*'
                            | b'_'
                            | b'+'
                            | b'`'
                            | b'\''
                            | b'~'
                            | b'('
                            | b')'
                            | b'<'
                            | b'>'
                            | b':'
                            | b'\\'
                            | b'"'
                            | b'/'
                            | b'['
                            | b']'
                            | b'?'
                            | b'{'
                            | b'}'
                    )
            })
    }
    match v.split_once('@') {
        Some((a, b)) => word(a) && word(b),
        None => word(v),
    }
}

/// `rfc1123-date = wkday "," SP date1 SP time SP "GMT"` (RFC 3261 §20.17,
/// RFC 2616 §3.3.1), e.g. "Sat, 15 Oct 2005 04:44:56 GMT".
fn date_ok(v: &str) -> bool {
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let b = v.as_bytes();
    if b.len() != 29 {
        return false;
    }
    let num = |r: Range<usize>, max: u32| -> bool {
        b[r].iter()
            .try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
            .is_some_and(|n| n <= max)
    };
    DAYS.contains(&&b[0..3])
        && &b[3..5] == b", "
        && num(5..7, 31)
        && b[7] == b' '
        && MONTHS.contains(&&b[8..11])
        && b[11] == b' '
        && num(12..16, 9999)
        && b[16] == b' '
        && num(17..19, 23)
        && b[19] == b':'
        && num(20..22, 59)
        && b[22] == b':'
        && num(23..25, 60)
        && &b[25..29] == b" GMT"
}

impl<'a> Message<'a> {
    /// Lines of `name`, and 400 when there are several or one holds several values.
    fn single(&self, name: HeaderName, what: &'static str) -> Result<Option<&'a str>, Reject> {
        let mut it = self.headers_named(name);
        let first = it.next().map(|h| h.value);
        if it.next().is_some() {
            return Err(bad(what));
        }
        Ok(first)
    }

    /// Semantic checks a proxy makes before forwarding a request (RFC 3261 §16.3 steps 1, §8.2.2):
    /// To, From, Call-ID, CSeq, Via present (else 400 "Missing ..."); single-value headers (To, From,
    /// Call-ID, CSeq, Max-Forwards, Content-Length, Content-Type, Expires) at most once and with one
    /// value (else 400); CSeq parses, its number fits in 31 bits (RFC 3261 §8.1.1.5: < 2**31), its
    /// method equals the request method (else 400); Max-Forwards is 0..=255 decimal; Expires fits in
    /// u32; every Via, From, To, Contact, Route, Record-Route value parses; Date, when present, is an
    /// RFC 1123 date in GMT. Does NOT decide Max-Forwards 0 (483) or Proxy-Require (420): the proxy
    /// does. A response gets `Err` 400 "Not A Request".
    pub fn check_request(&self) -> Result<(), Reject> {
        use HeaderName as H;
        let method = self.method().ok_or(bad("Not A Request"))?;
        let to = self
            .single(H::To, "Multiple To")?
            .ok_or(bad("Missing To"))?;
        let from = self
            .single(H::From, "Multiple From")?
            .ok_or(bad("Missing From"))?;
        let call_id = self
            .single(H::CallId, "Multiple Call-ID")?
            .ok_or(bad("Missing Call-ID"))?;
        let cseq = self
            .single(H::CSeq, "Multiple CSeq")?
            .ok_or(bad("Missing CSeq"))?;
        if self.header(H::Via).is_none() {
            return Err(bad("Missing Via"));
        }
        if !call_id_ok(call_id) {
            return Err(bad("Bad Call-ID"));
        }
        let cseq = CSeq::parse(cseq).map_err(|_| bad("Bad CSeq"))?;
        if cseq.seq >= 1 << 31 {
            return Err(bad("Bad CSeq"));
        }
        if cseq.method != method {
            return Err(bad("CSeq Method Mismatch"));
        }
        for (v, what) in [(to, "Bad To"), (from, "Bad From")] {
            if split_comma(v).count() != 1 {
                return Err(bad(what));
            }
            NameAddr::parse(v).map_err(|_| bad(what))?;
        }
        if let Some(mf) = self.single(H::MaxForwards, "Multiple Max-Forwards")? {
            match parse_u32(mf) {
                Some(n) if n <= 255 => {}
                _ => return Err(bad("Bad Max-Forwards")),
            }
        }
        // Content-Length was validated by parse; a second line is ambiguous framing (mcl01.dat).
        self.single(H::ContentLength, "Multiple Content-Length")?;
        if let Some(ct) = self.single(H::ContentType, "Multiple Content-Type")? {
            if split_comma(ct).count() != 1 {
                return Err(bad("Multiple Content-Type"));
            }
        }
        if let Some(e) = self.single(H::Expires, "Multiple Expires")? {
            parse_u32(e).ok_or(bad("Bad Expires"))?;
        }
        self.check_common().map_err(|(_, reason)| bad(reason))?;
        for h in self.headers_named(H::Date) {
            if !date_ok(h.value) {
                return Err(bad("Bad Date"));
            }
        }
        Ok(())
    }

    /// Every Via, Contact, Route and Record-Route value parses; on failure the
    /// error for a response and the reason phrase of the 400 for a request.
    fn check_common(&self) -> Result<(), (ParseError, &'static str)> {
        use HeaderName as H;
        if self
            .headers_named(H::Via)
            .any(|h| split_comma(h.value).next().is_none())
        {
            return Err((ParseError::Via, "Bad Via"));
        }
        if self.values(H::Via).any(|v| Via::parse(v).is_err()) {
            return Err((ParseError::Via, "Bad Via"));
        }
        let mut contacts = 0usize;
        let mut star = false;
        for v in self.values(H::Contact) {
            contacts += 1;
            match ContactValue::parse(v) {
                Ok(ContactValue::Star) => star = true,
                Ok(ContactValue::Addr(_)) => {}
                Err(_) => return Err((ParseError::NameAddr, "Bad Contact")),
            }
        }
        // RFC 3261 §10.2.2 / §20.10: "*" stands alone.
        if star && contacts > 1 {
            return Err((ParseError::NameAddr, "Bad Contact"));
        }
        for (name, what) in [
            (H::Route, "Bad Route"),
            (H::RecordRoute, "Bad Record-Route"),
        ] {
            for v in self.values(name) {
                // route-param / rec-route = name-addr: the <> are mandatory.
                match NameAddr::parse(v) {
                    Ok(n) if n.angle => {}
                    _ => return Err((ParseError::NameAddr, what)),
                }
            }
        }
        Ok(())
    }

    /// Same spirit for responses: Via, From, To, Call-ID, CSeq present (once)
    /// and parseable; Contact, Route, Record-Route parseable; one
    /// Content-Length. A bad response is dropped by the proxy (no answer to a
    /// response). A request gets `Err(StartLine)`.
    pub fn check_response(&self) -> Result<(), ParseError> {
        use HeaderName as H;
        if self.is_request() {
            return Err(ParseError::StartLine);
        }
        let one = |name| -> Result<&'a str, ParseError> {
            self.single(name, "")
                .map_err(|_| ParseError::DuplicateHeader)?
                .ok_or(ParseError::MissingHeader)
        };
        let to = one(H::To)?;
        let from = one(H::From)?;
        let call_id = one(H::CallId)?;
        let cseq = one(H::CSeq)?;
        if self.header(H::Via).is_none() {
            return Err(ParseError::MissingHeader);
        }
        if self.headers_named(H::ContentLength).nth(1).is_some() {
            return Err(ParseError::DuplicateHeader);
        }
        for v in [to, from] {
            if split_comma(v).count() != 1 {
                return Err(ParseError::DuplicateHeader);
            }
            NameAddr::parse(v)?;
        }
        if !call_id_ok(call_id) {
            return Err(ParseError::CallId);
        }
        let cseq = CSeq::parse(cseq)?;
        if cseq.seq >= 1 << 31 {
            return Err(ParseError::CSeq);
        }
        self.check_common().map_err(|(e, _)| e)
    }
}
