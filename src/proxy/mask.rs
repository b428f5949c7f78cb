//! Hiding LAN addresses in SIP text, and restoring them.
//!
//! Whatever sipnat does not rewrite structurally (Call-ID, From/To hosts,
//! Warning, P-headers, a LAN proxy's Record-Route, …) may still carry a LAN
//! address: sipp's and many phones' Call-IDs end in `@<local IP>`. On the way
//! to the WAN every dotted-quad IPv4 literal that lies in a LAN network is
//! replaced by `sn<token>.invalid` (a reversible keyed token, see
//! [`super::keyed`]; `.invalid` is reserved by RFC 2606 so nobody resolves
//! it). On the way back every such token that opens to a LAN address is
//! replaced by the address again, so the phone sees exactly its own text (the
//! Call-ID of its dialog, its From URI).
//!
//! Only canonical dotted quads (no leading zeros) are tokenised, because only
//! they can be restored byte-exactly. This module knows nothing of SIP
//! grammar: it works on any text.

use super::keyed::{Key, TOKEN_LEN};
use crate::output::Buf;
use std::net::Ipv4Addr;

const PREFIX: &[u8] = b"sn";
const SUFFIX: &[u8] = b".invalid";
/// Length of `sn<12 hex>.invalid`.
pub const MASKED_LEN: usize = 2 + TOKEN_LEN + 8;

/// Write `ip` as its masked form.
pub fn put_masked(w: &mut Buf<'_>, key: &Key, ip: Ipv4Addr) {
    w.put(PREFIX);
    w.put(&key.seal(ip, 0, 0));
    w.put(SUFFIX);
}

/// Copy `text` to `w`, masking every canonical IPv4 literal for which
/// `is_lan` holds. Returns how many were masked.
pub fn mask(w: &mut Buf<'_>, text: &[u8], key: &Key, is_lan: &dyn Fn(Ipv4Addr) -> bool) -> usize {
    let mut n = 0;
    let mut i = 0;
    let mut copied = 0;
    while i < text.len() {
        let c = text[i];
        let boundary = i == 0 || !(text[i - 1].is_ascii_alphanumeric() || text[i - 1] == b'.');
        if c.is_ascii_digit() && boundary {
            if let Some((ip, len)) = ipv4_at(&text[i..]) {
                if is_lan(ip) {
                    w.put(&text[copied..i]);
                    put_masked(w, key, ip);
                    n += 1;
                    i += len;
                    copied = i;
                    continue;
                }
                i += len;
                continue;
            }
        }
        i += 1;
    }
    w.put(&text[copied..]);
    n
}

/// Copy `text` to `w`, replacing every `sn<token>.invalid` that opens to a
/// LAN address (port 0) by that address. Returns how many were restored.
pub fn unmask(w: &mut Buf<'_>, text: &[u8], key: &Key, is_lan: &dyn Fn(Ipv4Addr) -> bool) -> usize {
    let mut n = 0;
    let mut i = 0;
    let mut copied = 0;
    while i + MASKED_LEN <= text.len() {
        let boundary = i == 0 || !(text[i - 1].is_ascii_alphanumeric() || text[i - 1] == b'-');
        if boundary
            && text[i..i + 2].eq_ignore_ascii_case(PREFIX)
            && text[i + 2 + TOKEN_LEN..i + MASKED_LEN].eq_ignore_ascii_case(SUFFIX)
        {
            if let Some((ip, 0, 0)) = key.open(&text[i + 2..i + 2 + TOKEN_LEN]) {
                if is_lan(ip) {
                    w.put(&text[copied..i]);
                    put_ip(w, ip);
                    n += 1;
                    i += MASKED_LEN;
                    copied = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    w.put(&text[copied..]);
    n
}

/// Does `text` contain anything [`unmask`] would restore?
pub fn has_masked(text: &[u8]) -> bool {
    text.windows(SUFFIX.len())
        .any(|w| w.eq_ignore_ascii_case(SUFFIX))
}

/// Write an IPv4 address in dotted-quad form without allocating.
pub fn put_ip(w: &mut Buf<'_>, ip: Ipv4Addr) {
    let o = ip.octets();
    for (i, b) in o.iter().enumerate() {
        if i > 0 {
            w.put(b".");
        }
        w.put_u32(u32::from(*b));
    }
}

/// A canonical dotted-quad IPv4 literal at the start of `s`, not followed by
/// more address-like characters. Returns it and its length.
pub fn ipv4_at(s: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, o) in octets.iter_mut().enumerate() {
        if k > 0 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v: u32 = 0;
        while i < s.len() && s[i].is_ascii_digit() && i - start < 3 {
            v = v * 10 + u32::from(s[i] - b'0');
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || v > 255 || (digits > 1 && s[start] == b'0') {
            return None;
        }
        *o = v as u8;
    }
    // Not part of a longer token (1.2.3.4.5, 1.2.3.45x, 1.2.3.4a).
    if let Some(&c) = s.get(i) {
        if c.is_ascii_alphanumeric()
            || (c == b'.' && s.get(i + 1).is_some_and(|d| d.is_ascii_alphanumeric()))
        {
            return None;
        }
    }
    Some((Ipv4Addr::from(octets), i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::new([3; 16])
    }

    fn lan(ip: Ipv4Addr) -> bool {
        ip.octets()[..3] == [10, 77, 1]
    }

    type Rewrite = fn(&mut Buf<'_>, &[u8], &Key, &dyn Fn(Ipv4Addr) -> bool) -> usize;

    fn run(f: Rewrite, s: &str) -> (String, usize) {
        let mut mem = [0u8; 512];
        let mut w = Buf::new(&mut mem);
        let n = f(&mut w, s.as_bytes(), &key(), &lan);
        (String::from_utf8(w.as_bytes().to_vec()).unwrap(), n)
    }

    #[test]
    fn masks_lan_addresses_only_and_restores_them() {
        let text = "1-4242@10.77.1.2, <sip:100@10.77.1.2:5060>;x=198.51.100.1 10.77.1.200";
        let (m, n) = run(mask, text);
        assert_eq!(n, 3);
        assert!(!m.contains("10.77.1."), "{m}");
        assert!(m.contains("198.51.100.1"));
        assert!(m.contains(".invalid:5060>"));
        let (back, k) = run(unmask, &m);
        assert_eq!(k, 3);
        assert_eq!(back, text);
    }

    #[test]
    fn leaves_non_canonical_and_embedded_numbers() {
        for t in [
            "10.77.1.02",
            "10.77.1.2.5",
            "v10.77.1.2",
            "10.77.1.2a",
            "1.10.77.1.2",
            "10.77.1",
        ] {
            let (m, n) = run(mask, t);
            assert_eq!((m.as_str(), n), (t, 0), "{t}");
        }
        // Followed by punctuation is fine.
        let (_, n) = run(mask, "x@10.77.1.2;y");
        assert_eq!(n, 1);
        let (_, n) = run(mask, "10.77.1.2.");
        assert_eq!(n, 1);
    }

    #[test]
    fn unmask_ignores_foreign_or_forged_tokens() {
        // A token of a WAN address, and garbage of the right shape.
        let mut mem = [0u8; 64];
        let mut w = Buf::new(&mut mem);
        put_masked(&mut w, &key(), Ipv4Addr::new(8, 8, 8, 8));
        let wan_tok = String::from_utf8(w.as_bytes().to_vec()).unwrap();
        for t in [wan_tok.as_str(), "snzzzzzzzzzzzz.invalid", "snabc.invalid"] {
            let (u, n) = run(unmask, t);
            assert_eq!((u.as_str(), n), (t, 0));
        }
        // Another key's token does not open to a LAN address.
        let mut mem = [0u8; 64];
        let mut w = Buf::new(&mut mem);
        put_masked(&mut w, &Key::new([4; 16]), Ipv4Addr::new(10, 77, 1, 2));
        let other = String::from_utf8(w.as_bytes().to_vec()).unwrap();
        let (u, _) = run(unmask, &other);
        assert!(!u.contains("10.77.1.2"));
        assert!(has_masked(other.as_bytes()));
        assert!(!has_masked(b"sip:a@b"));
    }

    #[test]
    fn ipv4_parsing() {
        assert_eq!(ipv4_at(b"1.2.3.4:5"), Some((Ipv4Addr::new(1, 2, 3, 4), 7)));
        assert_eq!(ipv4_at(b"255.255.255.255"), Some((Ipv4Addr::BROADCAST, 15)));
        assert_eq!(ipv4_at(b"256.1.1.1"), None);
        assert_eq!(ipv4_at(b"1.2.3"), None);
        assert_eq!(ipv4_at(b"1.2.3.1234"), None);
    }
}
