//! IPv6 literals in text: finding them, and writing them back in the
//! spelling they were found in (feature `ipv6`).
//!
//! An IPv6 address has many spellings (RFC 4291 §2.2: upper or lower case,
//! leading zeros or not, `::` or not, a dotted IPv4 tail). A masked address
//! must come back to the phone as the phone wrote it (a Call-ID is compared
//! byte for byte, RFC 3261 §8.1.1.4), so the [`Form`] bits of the token
//! record the spelling: [`BRACKETED`], [`UPPER`], [`UNCOMPRESSED`],
//! [`LEADING_ZEROS`], [`V4_TAIL`]. A spelling these bits cannot reproduce
//! (mixed case, some groups padded and some not, `::` over a shorter run of
//! zeros than the longest) is masked all the same, and restored in the RFC
//! 5952 §4 text (with the §5 dotted tail for an IPv4-mapped address):
//! hiding the address matters more than its spelling. [`Literal::exact`]
//! tells the caller so it can count it.
//!
//! What is a literal: the longest run of hex digits, `:` and `.` with at
//! least two colons that `Ipv6Addr` parses, not glued to a letter or digit
//! on either side (the rule `ipv4_at` has for dotted quads), or such a run
//! in brackets (RFC 3986 §3.2.2 IP-literal, RFC 3261 §25.1 IPv6reference),
//! taken with its brackets: `[sn….invalid]` would not be a host, so the
//! masked form has none and the restored one gets them back. Times
//! (`12:30:45`), MAC addresses and `host:port` do not parse and are left.

use crate::output::Buf;
use std::net::Ipv6Addr;

/// The bits of a spelling, kept in the flags byte of the token.
pub type Form = u8;
/// Written in brackets (`[2001:db8::1]`).
pub const BRACKETED: Form = 1;
/// Hex digits in upper case (`2001:DB8::1`).
pub const UPPER: Form = 2;
/// No `::` (`2001:db8:0:0:0:0:0:1`).
pub const UNCOMPRESSED: Form = 4;
/// Every group four digits (`2001:0db8::0001`).
pub const LEADING_ZEROS: Form = 8;
/// The last 32 bits as a dotted quad (`::ffff:192.0.2.1`, RFC 4291 §2.2
/// form 3).
pub const V4_TAIL: Form = 16;
/// Every bit a [`Form`] may have; a token with others is not a mask's.
pub const ALL: Form = 31;

/// The longest spelling: brackets and eight four-digit groups (41), or six
/// groups and a dotted quad (47).
const MAX_TEXT: usize = 48;

/// An IPv6 literal found by [`literal_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Literal {
    pub ip: Ipv6Addr,
    /// Index just past the literal (past its `]` when bracketed).
    pub end: usize,
    /// The spelling to restore.
    pub form: Form,
    /// Whether `form` restores the text byte for byte; if not, the form is
    /// the RFC 5952 one.
    pub exact: bool,
}

fn in_run(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':' || c == b'.'
}

/// The IPv6 literal that starts at `text[i]`, if one does: a bracketed one
/// when `text[i]` is `[`, else one that starts at a boundary (the byte
/// before is not a letter, a digit, `.` or `:`).
pub fn literal_at(text: &[u8], i: usize) -> Option<Literal> {
    let c = *text.get(i)?;
    if c == b'[' {
        let start = i + 1;
        let end = start + text[start..].iter().take_while(|&&c| in_run(c)).count();
        if text.get(end) != Some(&b']') {
            return None;
        }
        let (ip, form, exact) = parse(&text[start..end])?;
        return Some(Literal {
            ip,
            end: end + 1,
            form: form | BRACKETED,
            exact,
        });
    }
    if !(c.is_ascii_hexdigit() || c == b':') {
        return None;
    }
    if i > 0 && {
        let p = text[i - 1];
        p.is_ascii_alphanumeric() || p == b'.' || p == b':'
    } {
        return None;
    }
    let mut end = i + text[i..].iter().take_while(|&&c| in_run(c)).count();
    // Not part of a longer word (`fd00::1x`, `a::b.example`).
    if text.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    let parsed = match parse(&text[i..end]) {
        Some(p) => p,
        // One `.` or `:` after it is punctuation: `at fd00::1.` or `fd00::1:`.
        None if matches!(text[end - 1], b'.' | b':') => {
            end -= 1;
            parse(&text[i..end])?
        }
        None => return None,
    };
    let (ip, form, exact) = parsed;
    Some(Literal {
        ip,
        end,
        form,
        exact,
    })
}

/// Parse `s` as an unbracketed IPv6 address and find its [`Form`].
fn parse(s: &[u8]) -> Option<(Ipv6Addr, Form, bool)> {
    if s.len() > MAX_TEXT || s.iter().filter(|&&c| c == b':').count() < 2 {
        return None;
    }
    let ip: Ipv6Addr = core::str::from_utf8(s).ok()?.parse().ok()?;
    let mut form = 0;
    if s.iter().any(|c| (b'A'..=b'F').contains(c)) {
        form |= UPPER;
    }
    if s.contains(&b'.') {
        form |= V4_TAIL;
    }
    if !s.windows(2).any(|w| w == b"::") {
        form |= UNCOMPRESSED;
    }
    if s.split(|&c| c == b':')
        .any(|g| g.len() > 1 && g[0] == b'0' && !g.contains(&b'.'))
    {
        form |= LEADING_ZEROS;
    }
    let mut mem = [0u8; MAX_TEXT];
    let mut w = Buf::new(&mut mem);
    put(&mut w, ip, form);
    if w.as_bytes() == s {
        return Some((ip, form, true));
    }
    Some((ip, canonical_form(ip), false))
}

/// The RFC 5952 spelling: §4 (lower case, no leading zeros, `::` over the
/// longest run of two or more zero groups), and §5's dotted tail for an
/// IPv4-mapped address.
fn canonical_form(ip: Ipv6Addr) -> Form {
    if crate::net::mapped(ip).is_some() {
        V4_TAIL
    } else {
        0
    }
}

/// Write `ip` in the spelling `form` describes.
pub fn put(w: &mut Buf<'_>, ip: Ipv6Addr, form: Form) {
    let seg = ip.segments();
    let groups = if form & V4_TAIL != 0 { 6 } else { 8 };
    // The run of zero groups `::` stands for: the longest, the first of
    // equals, and never a single group (RFC 5952 §4.2.2, §4.2.3).
    let (mut run_at, mut run_len) = (0, 0);
    if form & UNCOMPRESSED == 0 {
        let mut k = 0;
        while k < groups {
            let n = seg[k..groups].iter().take_while(|&&g| g == 0).count();
            if n > run_len {
                (run_at, run_len) = (k, n);
            }
            k += n.max(1);
        }
        if run_len < 2 {
            run_len = 0;
        }
    }
    if form & BRACKETED != 0 {
        w.put(b"[");
    }
    let digits: &[u8; 16] = if form & UPPER != 0 {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    for (k, &g) in seg[..groups].iter().enumerate() {
        if run_len > 0 && (run_at..run_at + run_len).contains(&k) {
            if k == run_at {
                w.put(b"::");
            }
            continue;
        }
        if k > 0 && !(run_len > 0 && k == run_at + run_len) {
            w.put(b":");
        }
        let mut d = [0u8; 4];
        for (j, c) in d.iter_mut().enumerate() {
            *c = digits[usize::from((g >> (12 - 4 * j)) & 0xf)];
        }
        let skip = if form & LEADING_ZEROS != 0 {
            0
        } else {
            d[..3].iter().take_while(|&&c| c == b'0').count()
        };
        w.put(&d[skip..]);
    }
    if groups == 6 {
        if !(run_len > 0 && run_at + run_len == 6) {
            w.put(b":");
        }
        let o = ip.octets();
        super::put_ip(w, std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if form & BRACKETED != 0 {
        w.put(b"]");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<Literal> {
        literal_at(s.as_bytes(), 0)
    }

    fn render(ip: &str, form: Form) -> String {
        let mut mem = [0u8; MAX_TEXT];
        let mut w = Buf::new(&mut mem);
        put(&mut w, ip.parse().unwrap(), form);
        String::from_utf8(w.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn canonical_text_is_rfc_5952() {
        for (s, want) in [
            ("2001:db8:0:0:0:0:2:1", "2001:db8::2:1"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("0:0:0:0:0:0:0:0", "::"),
            ("0:0:0:0:0:0:0:1", "::1"),
            ("1:0:0:0:0:0:0:0", "1::"),
            ("2001:DB8::A", "2001:db8::a"),
            ("fe80::0:1", "fe80::1"),
        ] {
            assert_eq!(render(s, 0), want, "{s}");
            // The same text as std's Display (which follows RFC 5952 too).
            assert_eq!(want, s.parse::<Ipv6Addr>().unwrap().to_string());
        }
        assert_eq!(
            render(
                "::ffff:10.77.1.2",
                canonical_form("::ffff:a4d:102".parse().unwrap())
            ),
            "::ffff:10.77.1.2"
        );
    }

    #[test]
    fn every_form_is_found_and_written_back() {
        for (s, form) in [
            ("2001:db8:77:1::2", 0),
            ("2001:DB8:77:1::A", UPPER),
            ("2001:db8:77:1:0:0:0:2", UNCOMPRESSED),
            ("2001:0db8:0077:0001::0002", LEADING_ZEROS),
            (
                "2001:0DB8:0077:0001:0000:0000:0000:000A",
                UPPER | UNCOMPRESSED | LEADING_ZEROS,
            ),
            ("::ffff:10.77.1.2", V4_TAIL),
            ("fd77:1::10.0.0.1", V4_TAIL),
            ("0:0:0:0:0:FFFF:10.77.1.2", V4_TAIL | UNCOMPRESSED | UPPER),
            (
                "0000:0000:0000:0000:0000:ffff:10.77.1.2",
                V4_TAIL | UNCOMPRESSED | LEADING_ZEROS,
            ),
            ("::1.2.3.4", V4_TAIL),
            ("::", 0),
        ] {
            let l = at(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!((l.form, l.exact, l.end), (form, true, s.len()), "{s}");
            assert_eq!(render(s, form), s);
            let b = format!("[{s}]:5060");
            let l = at(&b).unwrap();
            assert_eq!(
                (l.form, l.exact, l.end),
                (form | BRACKETED, true, s.len() + 2),
                "{b}"
            );
            assert_eq!(render(s, form | BRACKETED), format!("[{s}]"));
        }
    }

    #[test]
    fn other_spellings_come_back_canonical() {
        for (s, back) in [
            ("2001:Db8:77:1::2", "2001:db8:77:1::2"),
            ("2001:db8:077:1::2", "2001:db8:77:1::2"),
            ("2001:db8:77:1:0::2", "2001:db8:77:1::2"),
            ("1::2:0:0:0:3", "1:0:0:2::3"),
            ("2001:db8::1:2:3:4:5", "2001:db8:0:1:2:3:4:5"),
            ("::FFff:a4d:102", "::ffff:10.77.1.2"),
        ] {
            let l = at(s).unwrap();
            assert!(!l.exact, "{s}");
            let mut mem = [0u8; MAX_TEXT];
            let mut w = Buf::new(&mut mem);
            put(&mut w, l.ip, l.form);
            assert_eq!(w.as_bytes(), back.as_bytes(), "{s}");
        }
        let l = at("[2001:db8:77:1:0::2]").unwrap();
        assert_eq!((l.form, l.exact), (BRACKETED, false));
        // A mapped address without its dotted tail is one of the forms.
        let l = at("::ffff:a4d:102").unwrap();
        assert_eq!((l.form, l.exact), (0, true));
    }

    #[test]
    fn what_is_not_a_literal() {
        for s in [
            "12:30:45",
            "23:29:00 GMT",
            "00:11:22:33:44:55",
            "10.77.1.2:5060",
            "example.com:5060",
            "a::bx",
            "a::b.c",
            "a::b.example",
            "fd77:1::2g",
            "fd77:1::2.1",
            "1:2:3:4:5:6:7:8:9",
            "4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB",
            "::ffff:1.2.3.04",
            "[fd77:1::2",
            "[fd77:1::2%25eth0]",
            ":",
            "",
        ] {
            assert_eq!(at(s), None, "{s}");
        }
        // Glued to a word on the left: not at a boundary.
        for (s, i) in [
            ("xa::b", 1),
            ("std::abc", 2),
            ("Foo::bar", 2),
            ("1.a::b", 2),
            ("x:a::b", 2),
        ] {
            assert_eq!(literal_at(s.as_bytes(), i), None, "{s}");
        }
        // Punctuation around it is fine; the zone of a bracketed link-local
        // address leaves the address itself to the unbracketed rule.
        assert_eq!(at("fd77:1::2.").unwrap().end, 9);
        assert_eq!(at("fd77:1::2: busy").unwrap().end, 9);
        assert_eq!(at("fd77:1::2;x").unwrap().end, 9);
        assert_eq!(literal_at(b"[fe80::1%25eth0]", 1).unwrap().end, 8);
        assert_eq!(literal_at(b"<sip:[fd77::2]:5060>", 5).unwrap().end, 14);
        assert_eq!(literal_at(b"@fd77::2>", 1).unwrap().end, 8);
    }
}
