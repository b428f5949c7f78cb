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
//!
//! IPv6 (feature `ipv6`, [`mask_ip`]/[`unmask_ip`]): every IPv6 literal in a
//! LAN network, bare or in brackets, becomes `sn<44 base32>.invalid` (the
//! IPv6 token of [`super::keyed`], port 0, whose flags record the spelling:
//! see [`v6`](self::v6) for what a literal is and which spellings come back
//! byte for byte). The host label is 46 characters, within the 63 of RFC
//! 1035 §2.3.4. [`mask`]/[`unmask`] are the IPv4-only forms (what the
//! writer calls until stage 5b): they leave IPv6 literals as they are and
//! write what they wrote before IPv6.

#[cfg(feature = "ipv6")]
use super::keyed::TOKEN6_LEN;
use super::keyed::{Key, TOKEN_LEN};
use crate::output::Buf;
use std::net::{IpAddr, Ipv4Addr};

#[cfg(feature = "ipv6")]
mod v6;

const PREFIX: &[u8] = b"sn";
const SUFFIX: &[u8] = b".invalid";
/// Length of `sn<30 hex>.invalid`.
pub const MASKED_LEN: usize = 2 + TOKEN_LEN + 8;
/// Length of `sn<44 base32>.invalid`, a masked IPv6 address.
#[cfg(feature = "ipv6")]
pub const MASKED6_LEN: usize = 2 + TOKEN6_LEN + 8;

/// What [`mask_ip`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Masked {
    /// Addresses masked.
    pub count: usize,
    /// Of those, IPv6 literals in a spelling the token cannot record: they
    /// come back in RFC 5952 form (the caller counts them,
    /// `mask.v6-noncanonical`).
    pub noncanonical: usize,
}

/// Write `ip` as its masked form.
pub fn put_masked(w: &mut Buf<'_>, key: &Key, ip: Ipv4Addr) {
    w.put(PREFIX);
    w.put(&key.seal(ip, 0, 0));
    w.put(SUFFIX);
}

/// Write `ip` as its masked form, spelled `form` when restored.
#[cfg(feature = "ipv6")]
fn put_masked6(w: &mut Buf<'_>, key: &Key, ip: std::net::Ipv6Addr, form: v6::Form) {
    w.put(PREFIX);
    w.put(&key.seal6(ip, 0, form));
    w.put(SUFFIX);
}

/// Copy `text` to `w`, masking every canonical IPv4 literal for which
/// `is_lan` holds. Returns how many were masked. IPv6 literals are left.
pub fn mask(w: &mut Buf<'_>, text: &[u8], key: &Key, is_lan: &dyn Fn(Ipv4Addr) -> bool) -> usize {
    scan::<false>(w, text, key, &|ip| v4_only(ip, is_lan)).count
}

fn v4_only(ip: IpAddr, is_lan: &dyn Fn(Ipv4Addr) -> bool) -> bool {
    match ip {
        IpAddr::V4(ip) => is_lan(ip),
        IpAddr::V6(_) => false,
    }
}

/// Copy `text` to `w`, masking every canonical IPv4 literal and (feature
/// `ipv6`) every IPv6 literal for which `is_lan` holds. An IPv4-mapped
/// IPv6 literal is asked about as IPv6 (`crate::net::Net::contains`
/// compares it as the IPv4 address); one that is not masked may still have
/// a LAN dotted quad inside, which is then masked as IPv4.
// Wired in stage 5b (the writer's text masking, with the LAN's networks).
pub fn mask_ip(w: &mut Buf<'_>, text: &[u8], key: &Key, is_lan: &dyn Fn(IpAddr) -> bool) -> Masked {
    scan::<true>(w, text, key, is_lan)
}

/// [`mask_ip`], looking for IPv6 literals only when `V6`: the IPv4
/// functions are instances without the IPv6 scanner (not in the binary
/// until something calls [`mask_ip`]).
fn scan<const V6: bool>(
    w: &mut Buf<'_>,
    text: &[u8],
    key: &Key,
    is_lan: &dyn Fn(IpAddr) -> bool,
) -> Masked {
    let mut n = Masked::default();
    let mut i = 0;
    let mut copied = 0;
    while i < text.len() {
        let c = text[i];
        #[cfg(feature = "ipv6")]
        if let Some(l) = V6.then(|| v6::literal_at(text, i)).flatten() {
            if is_lan(IpAddr::V6(l.ip)) {
                w.put(&text[copied..i]);
                put_masked6(w, key, l.ip, l.form);
                n.count += 1;
                n.noncanonical += usize::from(!l.exact);
                i = l.end;
                copied = i;
                continue;
            }
        }
        let boundary = i == 0 || !(text[i - 1].is_ascii_alphanumeric() || text[i - 1] == b'.');
        if c.is_ascii_digit() && boundary {
            if let Some((ip, len)) = ipv4_at(&text[i..]) {
                if is_lan(IpAddr::V4(ip)) {
                    w.put(&text[copied..i]);
                    put_masked(w, key, ip);
                    n.count += 1;
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
/// Masked IPv6 addresses are left.
pub fn unmask(w: &mut Buf<'_>, text: &[u8], key: &Key, is_lan: &dyn Fn(Ipv4Addr) -> bool) -> usize {
    restore::<false>(w, text, key, &|ip| v4_only(ip, is_lan))
}

/// [`unmask`] for both families: a masked IPv6 address (feature `ipv6`)
/// comes back in the spelling its token records, brackets included.
// Wired in stage 5b (the writer's text unmasking).
pub fn unmask_ip(
    w: &mut Buf<'_>,
    text: &[u8],
    key: &Key,
    is_lan: &dyn Fn(IpAddr) -> bool,
) -> usize {
    restore::<true>(w, text, key, is_lan)
}

/// [`unmask_ip`], restoring IPv6 addresses only when `V6` (as [`scan`]).
fn restore<const V6: bool>(
    w: &mut Buf<'_>,
    text: &[u8],
    key: &Key,
    is_lan: &dyn Fn(IpAddr) -> bool,
) -> usize {
    let mut n = 0;
    let mut i = 0;
    let mut copied = 0;
    while i + MASKED_LEN <= text.len() {
        let boundary = i == 0 || !(text[i - 1].is_ascii_alphanumeric() || text[i - 1] == b'-');
        if boundary {
            if let Some((found, len)) = masked_at::<V6>(&text[i..], key, is_lan) {
                w.put(&text[copied..i]);
                match found {
                    Found::V4(ip) => put_ip(w, ip),
                    #[cfg(feature = "ipv6")]
                    Found::V6(ip, form) => v6::put(w, ip, form),
                }
                n += 1;
                i += len;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    w.put(&text[copied..]);
    n
}

/// A LAN address masked by [`mask_ip`], with the spelling to restore.
enum Found {
    V4(Ipv4Addr),
    #[cfg(feature = "ipv6")]
    V6(std::net::Ipv6Addr, v6::Form),
}

/// The masked LAN address `s` starts with (`sn<token>.invalid`, a token
/// that opens with port 0 to an address `is_lan` accepts, and for IPv6
/// only form bits [`mask_ip`] writes), and the length of its masked text.
fn masked_at<const V6: bool>(
    s: &[u8],
    key: &Key,
    is_lan: &dyn Fn(IpAddr) -> bool,
) -> Option<(Found, usize)> {
    if !s.get(..2)?.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let suffix_at = |len: usize| {
        s.get(2 + len..2 + len + SUFFIX.len())
            .is_some_and(|x| x.eq_ignore_ascii_case(SUFFIX))
    };
    if suffix_at(TOKEN_LEN) {
        if let Some((ip, 0, 0)) = key.open(&s[2..2 + TOKEN_LEN]) {
            if is_lan(IpAddr::V4(ip)) {
                return Some((Found::V4(ip), MASKED_LEN));
            }
        }
    }
    #[cfg(feature = "ipv6")]
    if V6 && suffix_at(TOKEN6_LEN) {
        if let Some((ip, 0, form)) = key.open6(&s[2..2 + TOKEN6_LEN]) {
            if form & !v6::ALL == 0 && is_lan(IpAddr::V6(ip)) {
                return Some((Found::V6(ip, form), MASKED6_LEN));
            }
        }
    }
    None
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

    #[cfg(feature = "ipv6")]
    mod ipv6 {
        use super::*;
        use crate::net::Net;

        fn nets() -> Vec<Net> {
            ["10.77.1.0/24", "2001:db8:77:1::/64", "fd77:1::/64"]
                .iter()
                .map(|n| Net::parse(n).unwrap())
                .collect()
        }

        fn run_with(s: &str, is_lan: &dyn Fn(IpAddr) -> bool) -> (String, Masked) {
            let mut mem = [0u8; 2048];
            let mut w = Buf::new(&mut mem);
            let n = mask_ip(&mut w, s.as_bytes(), &key(), is_lan);
            assert!(!w.overflowed());
            (String::from_utf8(w.as_bytes().to_vec()).unwrap(), n)
        }

        fn masked(s: &str) -> (String, Masked) {
            let nets = nets();
            run_with(s, &|ip| nets.iter().any(|n| n.contains(ip)))
        }

        fn unmasked(s: &str) -> (String, usize) {
            let nets = nets();
            let mut mem = [0u8; 2048];
            let mut w = Buf::new(&mut mem);
            let n = unmask_ip(&mut w, s.as_bytes(), &key(), &|ip| {
                nets.iter().any(|n| n.contains(ip))
            });
            (String::from_utf8(w.as_bytes().to_vec()).unwrap(), n)
        }

        /// Every spelling of the LAN's addresses that must not leave.
        fn assert_hidden(m: &str) {
            let l = m.to_ascii_lowercase();
            for lan in [
                "2001:db8:77:1:",
                "2001:0db8:0077:0001",
                "fd77:1:",
                "10.77.1.",
            ] {
                assert!(!l.contains(lan), "{lan} in {m}");
            }
        }

        #[test]
        fn sip_header_text_round_trips() {
            let text = "Via: SIP/2.0/UDP [2001:db8:77:1::2]:5060;branch=z9hG4bK776;rport\r\n\
                Call-ID: a84b4c76e66710@2001:db8:77:1::2\r\n\
                From: <sip:100@[fd77:1::2]>;tag=1928\r\n\
                Contact: <sip:100@[2001:db8:77:1::2]:5062;transport=udp>\r\n\
                Route: <sip:[2001:db8:100::1];lr>\r\n\
                Warning: 399 [2001:DB8:77:1::9] \"at 12:30:45 from 00:11:22:33:44:55\"\r\n\
                P-Hint: ::ffff:10.77.1.2, 10.77.1.3, 2001:db8:77:1:0:0:0:5.\r\n";
            let (m, n) = masked(text);
            assert_eq!(
                n,
                Masked {
                    count: 8,
                    noncanonical: 0
                },
                "{m}"
            );
            assert_hidden(&m);
            // WAN addresses, times and MACs are left; brackets go with the address.
            assert!(m.contains("<sip:[2001:db8:100::1];lr>"));
            assert!(m.contains("at 12:30:45 from 00:11:22:33:44:55"));
            assert!(m.contains("SIP/2.0/UDP sn") && m.contains(".invalid:5060;branch"));
            assert!(!m.contains("[sn"));
            let (back, k) = unmasked(&m);
            assert_eq!(k, 8);
            assert_eq!(back, text);
        }

        #[test]
        fn sdp_text_round_trips() {
            let sdp = "v=0\r\n\
                o=- 3344 3344 IN IP6 2001:db8:77:1::2\r\n\
                s=-\r\n\
                c=IN IP6 fd77:1::2\r\n\
                t=0 0\r\n\
                m=audio 7078 RTP/AVP 0 101\r\n\
                a=rtcp:7079 IN IP6 2001:db8:77:1::2\r\n\
                a=rtpmap:101 telephone-event/8000\r\n\
                a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB\r\n";
            let (m, n) = masked(sdp);
            assert_eq!(n.count, 3);
            assert_hidden(&m);
            assert!(m.contains("4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB"));
            let (back, k) = unmasked(&m);
            assert_eq!((back.as_str(), k), (sdp, 3));
        }

        #[test]
        fn each_spelling_comes_back_exactly() {
            for lit in [
                "2001:db8:77:1::2",
                "[2001:db8:77:1::2]",
                "2001:DB8:77:1::AB",
                "2001:db8:77:1:0:0:0:2",
                "2001:0db8:0077:0001::0002",
                "[2001:0DB8:0077:0001:0000:0000:0000:0002]",
                "fd77:1::10.77.1.2",
                "::ffff:10.77.1.2",
                "[::FFFF:10.77.1.2]",
                "fd77:1:0:0:0:0:0:1",
            ] {
                for text in [
                    format!("Call-ID: 8823@{lit}\r\n"),
                    lit.to_string(),
                    format!("x;maddr={lit};y"),
                ] {
                    let (m, n) = masked(&text);
                    assert_eq!(
                        n,
                        Masked {
                            count: 1,
                            noncanonical: 0
                        },
                        "{text} → {m}"
                    );
                    assert_hidden(&m);
                    let (back, _) = unmasked(&m);
                    assert_eq!(back, text);
                }
            }
        }

        #[test]
        fn other_spellings_are_hidden_and_come_back_canonical() {
            for (lit, back) in [
                ("2001:Db8:77:1::2", "2001:db8:77:1::2"),
                ("2001:db8:77:1:0::2", "2001:db8:77:1::2"),
                ("[2001:db8:077:1::2]", "[2001:db8:77:1::2]"),
                ("fd77:1::0:1", "fd77:1::1"),
            ] {
                let (m, n) = masked(&format!("@{lit}>"));
                assert_eq!(
                    n,
                    Masked {
                        count: 1,
                        noncanonical: 1
                    },
                    "{lit}"
                );
                assert_hidden(&m);
                assert_eq!(unmasked(&m).0, format!("@{back}>"));
            }
        }

        #[test]
        fn look_alikes_are_not_matched() {
            // Every IPv6 address counts as LAN here: only the scanner decides.
            let all = |ip: IpAddr| ip.is_ipv6();
            for text in [
                "Date: Sat, 13 Nov 2010 23:29:00 GMT",
                "a=x-time:12:30:45",
                "mac=00:11:22:33:44:55;",
                "<sip:100@10.77.1.2:5060>",
                "<sip:alice@example.com:5060;transport=tcp>",
                "sips:cafe:5061",
                "std::vector xa::b a::bx a::b.example Foo::bar",
                "a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB",
            ] {
                let (m, n) = run_with(text, &all);
                assert_eq!((m.as_str(), n.count), (text, 0), "{text}");
            }
            // The same scanner finds a real one on its own.
            assert_eq!(run_with("x a::b y", &all).1.count, 1);
        }

        #[test]
        fn only_lan_addresses_are_masked() {
            let text = "2001:db8:77:2::1 2001:db8:100::2 [fd77:2::1] ::1 fe80::1 2001:db8:77:1::7";
            let (m, n) = masked(text);
            assert_eq!(n.count, 1);
            assert!(m.starts_with("2001:db8:77:2::1 2001:db8:100::2 [fd77:2::1] ::1 fe80::1 sn"));
            // A mapped address outside the LAN may still hold a LAN dotted
            // quad (NAT64's 64:ff9b::/96): that is masked as IPv4.
            let (m, n) = masked("64:ff9b::10.77.1.2");
            assert_eq!(n.count, 1);
            assert!(
                m.starts_with("64:ff9b::sn") && m.len() == 9 + MASKED_LEN,
                "{m}"
            );
        }

        #[test]
        fn masked_ipv6_keeps_its_form_across_versions() {
            let (m, _) = masked("[2001:db8:77:1::2]");
            assert_eq!(m, "snbuub3ipfko2f5smoltfttstljkzt7nnfcnz4og4owe4a.invalid");
            // One DNS label of at most 63 characters (RFC 1035 §2.3.4).
            let label = m.split('.').next().unwrap();
            assert_eq!(label.len(), 46);
            assert_eq!(m.len(), MASKED6_LEN);
            // Case changes on the way (a host name is case-insensitive).
            assert_eq!(unmasked(&m.to_ascii_uppercase()).0, "[2001:db8:77:1::2]");
        }

        #[test]
        fn unmask_ignores_foreign_or_altered_ipv6_tokens() {
            let k = key();
            let wan = format!(
                "sn{}.invalid",
                String::from_utf8(k.seal6("2001:db8:100::2".parse().unwrap(), 0, 0).to_vec())
                    .unwrap()
            );
            let port = format!(
                "sn{}.invalid",
                String::from_utf8(
                    k.seal6("2001:db8:77:1::2".parse().unwrap(), 5060, 0)
                        .to_vec()
                )
                .unwrap()
            );
            let bits = format!(
                "sn{}.invalid",
                String::from_utf8(
                    k.seal6("2001:db8:77:1::2".parse().unwrap(), 0, 0x20)
                        .to_vec()
                )
                .unwrap()
            );
            let other = format!(
                "sn{}.invalid",
                String::from_utf8(
                    Key::new([4; 16])
                        .seal6("2001:db8:77:1::2".parse().unwrap(), 0, 0)
                        .to_vec()
                )
                .unwrap()
            );
            let (good, _) = masked("2001:db8:77:1::2");
            let mut altered = good.clone().into_bytes();
            altered[10] = if altered[10] == b'a' { b'b' } else { b'a' };
            let altered = String::from_utf8(altered).unwrap();
            for t in [
                &wan,
                &port,
                &bits,
                &other,
                &altered,
                &good[..good.len() - 1],
            ] {
                assert_eq!(unmasked(t), (t.to_string(), 0), "{t}");
            }
            assert_eq!(unmasked(&good).1, 1);
        }

        #[test]
        fn the_ipv4_functions_leave_ipv6_as_before() {
            // What the writer does until stage 5b: IPv6 literals untouched,
            // the dotted quad inside a mapped one masked as before IPv6.
            let text = "[2001:db8:77:1::2] ::ffff:10.77.1.2";
            let (m, n) = run(mask, text);
            assert_eq!(n, 1);
            assert!(m.starts_with("[2001:db8:77:1::2] ::ffff:sn"), "{m}");
            assert_eq!(run(unmask, &m).0, text);
            let (m6, _) = masked("2001:db8:77:1::2");
            assert_eq!(run(unmask, &m6), (m6.clone(), 0));
        }
    }

    #[cfg(not(feature = "ipv6"))]
    #[test]
    fn without_ipv6_only_dotted_quads_are_masked() {
        let text = "[2001:db8:77:1::2] fd77:1::2 10.77.1.2";
        let mut mem = [0u8; 256];
        let mut w = Buf::new(&mut mem);
        let n = mask_ip(&mut w, text.as_bytes(), &key(), &|_| true);
        assert_eq!(
            n,
            Masked {
                count: 1,
                noncanonical: 0
            }
        );
        let m = String::from_utf8(w.as_bytes().to_vec()).unwrap();
        assert!(m.starts_with("[2001:db8:77:1::2] fd77:1::2 sn"), "{m}");
    }
}
