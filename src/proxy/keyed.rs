//! Keyed hashing and the reversible address tokens sipnat shows the WAN.
//!
//! * [`Key::hash`] is SipHash-2-4 (Aumasson & Bernstein) over a list of byte
//!   strings. sipnat uses it for Via branches and To tags, so that they are
//!   deterministic (a retransmitted request gets the same branch, a CANCEL the
//!   branch of its INVITE, RFC 3261 §9.1) yet cannot be forged by an outsider
//!   who does not know the key.
//! * [`Key::seal`]/[`Key::open`] turn a LAN `(IPv4, port)` and 8 bits of
//!   flags into a token of [`TOKEN_LEN`] hex digits and back: a keyed 56-bit
//!   Feistel permutation (14 digits) followed by a 64-bit keyed MAC of those
//!   digits (16 digits; encrypt-then-MAC). Tokens replace LAN addresses in
//!   everything sent to the WAN and are decoded on the way back, so the WAN
//!   never sees a LAN address and the phone gets its own text back
//!   unchanged. A token reveals nothing without the key, and one that sipnat
//!   did not make fails to open (a guess succeeds with probability 2⁻⁶⁴):
//!   a WAN sender cannot make sipnat send to an address of its choosing,
//!   such as the router's loopback.
//!
//! * [`Key::seal6`]/[`Key::open6`] (feature `ipv6`) do the same for an
//!   IPv6 address: the 16-byte address, the port and the flags (19 bytes)
//!   sealed by [`Key::siv_seal`] under the domain `tok6` (the construction of
//!   [`super::branch`]: tag = SipHash over the plaintext, keystream from the
//!   tag) and written as [`TOKEN6_LEN`] base32 characters (RFC 4648 §6
//!   alphabet, lower case, no padding). Deterministic, so a refreshed
//!   registration or a restored Call-ID gets the same token; a forged or
//!   altered one opens with probability 2⁻⁶⁴, as the IPv4 form.
//!   [`Key::open_addr`] opens either form, told apart by length (30 or 44).
//!
//! The key is random per installation and saved with the registrations, so
//! tokens the provider has stored (in a registered Contact) survive a restart.
//! The IPv4 form is pinned byte for byte by a test: the IPv6 form was added
//! beside it, not in its place.

use crate::net::Addr;
#[cfg(feature = "ipv6")]
use std::net::{IpAddr, Ipv6Addr};
use std::net::{Ipv4Addr, SocketAddrV4};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    k0: u64,
    k1: u64,
}

/// Hex digits of the enciphered address and flags (56 bits).
const CIPHER_LEN: usize = 14;
/// Bits of one Feistel half.
const HALF: u32 = 28;
const HALF_MASK: u64 = (1 << HALF) - 1;
/// Length of a token in hex digits: the enciphered address and its MAC.
pub const TOKEN_LEN: usize = CIPHER_LEN + 16;

/// Bytes of the tag of [`Key::siv_seal`]: a 64-bit SipHash.
pub const SIV_TAG: usize = 8;
/// Plaintext of an IPv6 token: address (16), port (2), flags (1).
const TOKEN6_PLAIN: usize = 16 + 2 + 1;
/// An IPv6 token sealed: tag and enciphered plaintext, 27 bytes.
const TOKEN6_SEALED: usize = SIV_TAG + TOKEN6_PLAIN;
/// Length of an IPv6 token in base32 characters: ⌈27 · 8 / 5⌉ = 44. As the
/// host label `sn<token>` of a masked address it is 46 characters, within
/// the 63 a DNS label may have (RFC 1035 §2.3.4).
pub const TOKEN6_LEN: usize = (TOKEN6_SEALED * 8).div_ceil(5);
const _: () = assert!(TOKEN6_LEN == 44 && 2 + TOKEN6_LEN <= 63);
/// The longest token of either form ([`Token`]).
const MAX_TOKEN: usize = if cfg!(feature = "ipv6") {
    TOKEN6_LEN
} else {
    TOKEN_LEN
};

/// A contact token of either form, as [`Key::seal_addr`] writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    text: [u8; MAX_TOKEN],
    len: u8,
}

impl Token {
    /// The token's text: [`TOKEN_LEN`] hex digits or [`TOKEN6_LEN`] base32
    /// characters.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text[..usize::from(self.len)]
    }
}

impl Key {
    pub fn new(bytes: [u8; 16]) -> Key {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&bytes[..8]);
        b.copy_from_slice(&bytes[8..]);
        Key {
            k0: u64::from_le_bytes(a),
            k1: u64::from_le_bytes(b),
        }
    }

    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.k0.to_le_bytes());
        out[8..].copy_from_slice(&self.k1.to_le_bytes());
        out
    }

    /// SipHash-2-4 of the concatenation of `parts`, each followed by a 0xff
    /// separator so that ("ab","c") and ("a","bc") differ.
    pub fn hash(&self, parts: &[&[u8]]) -> u64 {
        let mut h = SipHasher::new(self.k0, self.k1);
        for p in parts {
            h.write(p);
            h.write(&[0xff]);
        }
        h.finish()
    }

    fn round(&self, round: u8, half: u64) -> u64 {
        self.hash(&[&[round], &half.to_le_bytes()]) & HALF_MASK
    }

    /// Encode `(ip, port, flags)` as [`TOKEN_LEN`] lowercase hex digits: a
    /// keyed permutation of the 56 bits (four Feistel rounds over 28-bit
    /// halves), then a MAC of that text.
    pub fn seal(&self, ip: Ipv4Addr, port: u16, flags: u8) -> [u8; TOKEN_LEN] {
        let v = (u64::from(u32::from(ip)) << 24) | (u64::from(port) << 8) | u64::from(flags);
        let mut l = (v >> HALF) & HALF_MASK;
        let mut r = v & HALF_MASK;
        for round in 0..4u8 {
            let nl = r;
            r = l ^ self.round(round, r);
            l = nl;
        }
        let x = (l << HALF) | r;
        let mut out = [0u8; TOKEN_LEN];
        for (i, o) in out[..CIPHER_LEN].iter_mut().enumerate() {
            let nib = (x >> (4 * (CIPHER_LEN - 1 - i))) & 0xf;
            *o = HEX[nib as usize];
        }
        let mac = hex64(self.token_mac(x));
        out[CIPHER_LEN..].copy_from_slice(&mac);
        out
    }

    fn token_mac(&self, cipher: u64) -> u64 {
        self.hash(&[b"token-mac", &cipher.to_le_bytes()])
    }

    /// Decode a token made by [`Key::seal`]. `None` unless `s` is exactly
    /// [`TOKEN_LEN`] hex digits (either case) whose MAC is right: only tokens
    /// this key made open.
    pub fn open(&self, s: &[u8]) -> Option<(Ipv4Addr, u16, u8)> {
        if s.len() != TOKEN_LEN {
            return None;
        }
        let mut x: u64 = 0;
        for &c in &s[..CIPHER_LEN] {
            x = (x << 4) | u64::from(hex_val(c)?);
        }
        let mac = parse_hex64(&s[CIPHER_LEN..])?;
        // Constant time is not needed: a wrong guess teaches the sender
        // nothing it can see (sipnat answers 404 either way).
        if mac != self.token_mac(x) {
            return None;
        }
        let mut l = (x >> HALF) & HALF_MASK;
        let mut r = x & HALF_MASK;
        for round in (0..4u8).rev() {
            let pr = l;
            l = r ^ self.round(round, l);
            r = pr;
        }
        let v = (l << HALF) | r;
        let ip = Ipv4Addr::from((v >> 24) as u32);
        Some((ip, ((v >> 8) & 0xffff) as u16, (v & 0xff) as u8))
    }

    /// The token of `addr` and `flags` in the form of its family: [`Key::seal`]
    /// for IPv4 (byte-identical), [`Key::seal6`] for IPv6. `None` for IPv6
    /// when the `ipv6` feature is off.
    // Wired in stage 5b (the contact writer).
    pub fn seal_addr(&self, addr: Addr, flags: u8) -> Option<Token> {
        let mut t = Token {
            text: [0; MAX_TOKEN],
            len: 0,
        };
        match addr {
            Addr::V4(s) => {
                t.text[..TOKEN_LEN].copy_from_slice(&self.seal(*s.ip(), s.port(), flags));
                t.len = TOKEN_LEN as u8;
            }
            #[cfg(feature = "ipv6")]
            Addr::V6(ip, port) => {
                t.text[..TOKEN6_LEN].copy_from_slice(&self.seal6(ip, port, flags));
                t.len = TOKEN6_LEN as u8;
            }
            #[cfg(not(feature = "ipv6"))]
            Addr::V6(..) => return None,
        }
        Some(t)
    }

    /// Open a token of either form, told apart by its length: [`TOKEN_LEN`]
    /// → [`Key::open`] (the same answer as before IPv6), [`TOKEN6_LEN`] →
    /// [`Key::open6`] (feature `ipv6`; without it such a token does not
    /// open). An IPv4-mapped IPv6 address comes back as IPv4 ([`Addr::new`]).
    // Wired in stage 5b (contact and Request-URI restoration).
    pub fn open_addr(&self, s: &[u8]) -> Option<(Addr, u8)> {
        match s.len() {
            TOKEN_LEN => {
                let (ip, port, flags) = self.open(s)?;
                Some((Addr::V4(SocketAddrV4::new(ip, port)), flags))
            }
            #[cfg(feature = "ipv6")]
            TOKEN6_LEN => {
                let (ip, port, flags) = self.open6(s)?;
                Some((Addr::new(IpAddr::V6(ip), port), flags))
            }
            _ => None,
        }
    }

    /// Encode `(ip, port, flags)` as [`TOKEN6_LEN`] lower-case base32
    /// characters: the 19-byte plaintext sealed by [`Key::siv_seal`] under
    /// the domain `tok6`.
    #[cfg(feature = "ipv6")]
    pub fn seal6(&self, ip: Ipv6Addr, port: u16, flags: u8) -> [u8; TOKEN6_LEN] {
        let mut blob = [0u8; TOKEN6_SEALED];
        let plain = &mut blob[SIV_TAG..];
        plain[..16].copy_from_slice(&ip.octets());
        plain[16..18].copy_from_slice(&port.to_be_bytes());
        plain[18] = flags;
        self.siv_seal(TOK6, &mut blob);
        let mut out = [0u8; TOKEN6_LEN];
        base32_encode(&blob, &mut out);
        out
    }

    /// Decode a token made by [`Key::seal6`]: `None` unless `s` is exactly
    /// [`TOKEN6_LEN`] base32 characters (either case, zero padding bits)
    /// whose tag is right. The address is as sealed (a mapped address
    /// stays IPv6: masked text needs its spelling back).
    #[cfg(feature = "ipv6")]
    pub fn open6(&self, s: &[u8]) -> Option<(Ipv6Addr, u16, u8)> {
        if s.len() != TOKEN6_LEN {
            return None;
        }
        let mut blob = [0u8; TOKEN6_SEALED];
        if base32_decode(s, &mut blob)? != TOKEN6_SEALED || !self.siv_open(TOK6, &mut blob) {
            return None;
        }
        let p = &blob[SIV_TAG..];
        let mut a = [0u8; 16];
        a.copy_from_slice(&p[..16]);
        Some((Ipv6Addr::from(a), u16::from_be_bytes([p[16], p[17]]), p[18]))
    }

    /// Seal `blob[SIV_TAG..]` in place, deterministically and
    /// authenticated (the SIV idea of RFC 5297 with SipHash-2-4 as the PRF):
    /// `tag = hash(domain, plaintext)` goes to `blob[..SIV_TAG]`, and the
    /// plaintext is XORed with the keystream `hash("ks", tag, i)` (block
    /// `i`, 8 bytes each). The domain keeps the uses of the key apart: a
    /// sealed text of one kind never opens as another.
    pub fn siv_seal(&self, domain: &[u8], blob: &mut [u8]) {
        let (tag_part, plain) = blob.split_at_mut(SIV_TAG);
        let tag = self.hash(&[domain, plain]).to_be_bytes();
        tag_part.copy_from_slice(&tag);
        self.keystream_xor(&tag, plain);
    }

    /// The inverse of [`Key::siv_seal`], in place: `true` when the tag is
    /// right (the plaintext is then in `blob[SIV_TAG..]`). A blob shorter
    /// than a tag is refused.
    pub fn siv_open(&self, domain: &[u8], blob: &mut [u8]) -> bool {
        if blob.len() < SIV_TAG {
            return false;
        }
        let (tag_part, data) = blob.split_at_mut(SIV_TAG);
        let mut tag = [0u8; SIV_TAG];
        tag.copy_from_slice(tag_part);
        self.keystream_xor(&tag, data);
        // Constant time is not needed, as for the IPv4 token's MAC.
        self.hash(&[domain, data]).to_be_bytes() == tag
    }

    fn keystream_xor(&self, tag: &[u8; SIV_TAG], data: &mut [u8]) {
        for (i, chunk) in data.chunks_mut(8).enumerate() {
            let ks = self
                .hash(&[b"ks", tag, &(i as u32).to_le_bytes()])
                .to_le_bytes();
            for (d, k) in chunk.iter_mut().zip(ks) {
                *d ^= k;
            }
        }
    }
}

/// The [`Key::siv_seal`] domain of IPv6 tokens.
#[cfg(feature = "ipv6")]
const TOK6: &[u8] = b"tok6";

/// The base32 alphabet of RFC 4648 §6, lower case.
const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// RFC 4648 §6 base32, lower case, no padding (§3.2 lets a specification
/// leave the `=` out). `out` must hold `ceil(8·len/5)` bytes; returns how
/// many were written.
pub fn base32_encode(data: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out[n] = B32[((acc >> bits) & 31) as usize];
            n += 1;
        }
    }
    if bits > 0 {
        out[n] = B32[((acc << (5 - bits)) & 31) as usize];
        n += 1;
    }
    n
}

/// The inverse of [`base32_encode`] (either case). `None` on a character
/// outside the alphabet, non-zero padding bits (RFC 4648 §3.5: one
/// spelling per blob), or more data than `out` holds.
pub fn base32_decode(text: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in text {
        let v = match c.to_ascii_lowercase() {
            c @ b'a'..=b'z' => c - b'a',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = ((acc << 5) | u32::from(v)) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(n)? = (acc >> bits) as u8;
            n += 1;
        }
    }
    // Leftover bits are padding: fewer than one character's worth, and zero
    // (so every blob has exactly one spelling).
    if bits >= 5 || acc & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(n)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Write `v` as 16 lowercase hex digits.
pub fn hex64(v: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = HEX[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// Parse 16 hex digits written by [`hex64`].
pub fn parse_hex64(s: &[u8]) -> Option<u64> {
    if s.len() != 16 {
        return None;
    }
    let mut x = 0u64;
    for &c in s {
        x = (x << 4) | u64::from(hex_val(c)?);
    }
    Some(x)
}

/// SipHash-2-4, streaming. Small and dependency-free; see the paper
/// "SipHash: a fast short-input PRF" for the algorithm.
struct SipHasher {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
    tail: u64,
    ntail: usize,
    length: usize,
}

impl SipHasher {
    fn new(k0: u64, k1: u64) -> Self {
        SipHasher {
            v0: k0 ^ 0x736f_6d65_7073_6575,
            v1: k1 ^ 0x646f_7261_6e64_6f6d,
            v2: k0 ^ 0x6c79_6765_6e65_7261,
            v3: k1 ^ 0x7465_6462_7974_6573,
            tail: 0,
            ntail: 0,
            length: 0,
        }
    }

    #[inline]
    fn sipround(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13);
        self.v1 ^= self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16);
        self.v3 ^= self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21);
        self.v3 ^= self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17);
        self.v1 ^= self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    fn compress(&mut self, m: u64) {
        self.v3 ^= m;
        self.sipround();
        self.sipround();
        self.v0 ^= m;
    }

    fn write(&mut self, bytes: &[u8]) {
        self.length += bytes.len();
        for &b in bytes {
            self.tail |= u64::from(b) << (8 * self.ntail);
            self.ntail += 1;
            if self.ntail == 8 {
                let m = self.tail;
                self.compress(m);
                self.tail = 0;
                self.ntail = 0;
            }
        }
    }

    fn finish(mut self) -> u64 {
        let b = ((self.length as u64 & 0xff) << 56) | self.tail;
        self.compress(b);
        self.v2 ^= 0xff;
        for _ in 0..4 {
            self.sipround();
        }
        self.v0 ^ self.v1 ^ self.v2 ^ self.v3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        let mut b = [0u8; 16];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8;
        }
        Key::new(b)
    }

    #[test]
    fn siphash_reference_vectors() {
        // The paper's test vector: key 00..0f, message 00..0e (15 bytes).
        let k = key();
        let msg: Vec<u8> = (0u8..15).collect();
        let mut h = SipHasher::new(k.k0, k.k1);
        h.write(&msg);
        assert_eq!(h.finish(), 0xa129_ca61_49be_45e5);
        // Empty message (first line of the reference vectors.h, little-endian 310e0edd47db6f72).
        let h = SipHasher::new(k.k0, k.k1);
        assert_eq!(h.finish(), 0x726f_db47_dd0e_0e31);
    }

    #[test]
    fn hash_separates_parts() {
        let k = key();
        assert_ne!(k.hash(&[b"ab", b"c"]), k.hash(&[b"a", b"bc"]));
        assert_eq!(k.hash(&[b"x"]), k.hash(&[b"x"]));
        let other = Key::new([9; 16]);
        assert_ne!(k.hash(&[b"x"]), other.hash(&[b"x"]));
    }

    #[test]
    fn tokens_round_trip_and_hide_the_address() {
        let k = key();
        for (ip, port) in [
            (Ipv4Addr::new(192, 168, 1, 10), 5060),
            (Ipv4Addr::new(10, 77, 1, 2), 0),
            (Ipv4Addr::new(0, 0, 0, 0), 0),
            (Ipv4Addr::new(255, 255, 255, 255), 65535),
        ] {
            for flags in [0u8, 1, 0xff] {
                let t = k.seal(ip, port, flags);
                assert!(t.iter().all(|c| c.is_ascii_hexdigit()));
                assert_eq!(k.open(&t), Some((ip, port, flags)));
            }
        }
        // Neighbouring addresses give unrelated tokens.
        let a = k.seal(Ipv4Addr::new(10, 0, 0, 1), 0, 0);
        let b = k.seal(Ipv4Addr::new(10, 0, 0, 2), 0, 0);
        let same = a.iter().zip(b.iter()).filter(|(x, y)| x == y).count();
        assert!(same < 8, "tokens too similar: {a:?} {b:?}");
        // A different key does not open it to the same address.
        let other = Key::new([7; 16]);
        assert_ne!(other.open(&a), Some((Ipv4Addr::new(10, 0, 0, 1), 0, 0)));
    }

    #[test]
    fn tokens_keep_their_form_across_versions() {
        // Providers store tokens (in a registered Contact) and the key is
        // saved with the registrations: a token made by an earlier version
        // must open, and come out the same, in every later one (the IPv6
        // work must leave the IPv4 form as it is).
        let k = key();
        let contact = k.seal(Ipv4Addr::new(10, 77, 1, 2), 5060, 1);
        let masked = k.seal(Ipv4Addr::new(192, 168, 1, 10), 0, 0);
        assert_eq!(&contact[..], b"9de56e0776d2eeecc21c92c687e57f");
        assert_eq!(&masked[..], b"14f55e3e464adec6e230e51f3101f1");
        assert_eq!(
            k.open(b"9de56e0776d2eeecc21c92c687e57f"),
            Some((Ipv4Addr::new(10, 77, 1, 2), 5060, 1))
        );
    }

    #[test]
    fn open_rejects_non_tokens() {
        let k = key();
        assert_eq!(k.open(b"12345"), None);
        assert_eq!(k.open(&[b'z'; TOKEN_LEN]), None);
        let t = k.seal(Ipv4Addr::new(10, 0, 0, 1), 5060, 2);
        let upper: Vec<u8> = t.iter().map(u8::to_ascii_uppercase).collect();
        assert_eq!(k.open(&upper), Some((Ipv4Addr::new(10, 0, 0, 1), 5060, 2)));
    }

    #[test]
    fn forged_tokens_do_not_open() {
        // The attack of issue 9 item 4: with the old 48-bit tokens about one
        // random token in 256 opened to 127.x.y.z. Now none of 100,000
        // random ones opens at all, and no altered digit of a real one does.
        let k = key();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut t = [0u8; TOKEN_LEN];
            let a = hex64(x);
            let b = hex64(x.rotate_left(23) ^ 0x5555);
            t[..16].copy_from_slice(&a);
            t[16..].copy_from_slice(&b[..TOKEN_LEN - 16]);
            assert_eq!(k.open(&t), None);
        }
        let real = k.seal(Ipv4Addr::new(192, 168, 1, 10), 5060, 0);
        for i in 0..TOKEN_LEN {
            let mut t = real;
            t[i] = if t[i] == b'0' { b'1' } else { b'0' };
            assert_eq!(k.open(&t), None, "altered at {i}");
        }
    }

    #[test]
    fn hex64_round_trip() {
        for v in [0u64, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(parse_hex64(&hex64(v)), Some(v));
        }
        assert_eq!(parse_hex64(b"xyz"), None);
    }

    #[test]
    fn base32_known_vectors() {
        // RFC 4648 §10 test vectors (lower case, padding removed).
        for (plain, enc) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            let mut out = [0u8; 16];
            let n = base32_encode(plain.as_bytes(), &mut out);
            assert_eq!(&out[..n], enc.as_bytes());
            let mut back = [0u8; 16];
            let m = base32_decode(enc.as_bytes(), &mut back).unwrap();
            assert_eq!(&back[..m], plain.as_bytes());
        }
        // Non-zero padding bits: a second spelling of "f" is refused.
        assert!(base32_decode(b"mz", &mut [0u8; 4]).is_none());
    }

    #[test]
    fn siv_domains_are_apart() {
        let k = key();
        let mut a = *b"tagtag..plaintext";
        k.siv_seal(b"one", &mut a);
        let mut b = a;
        assert!(k.siv_open(b"one", &mut b));
        assert_eq!(&b[SIV_TAG..], b"plaintext");
        let mut c = a;
        assert!(!k.siv_open(b"two", &mut c));
        assert!(!k.siv_open(b"one", &mut [0u8; 7]));
    }

    #[test]
    fn open_addr_gives_the_ipv4_answer_of_open() {
        let k = key();
        let a: Addr = "10.77.1.2:5060".parse().unwrap();
        let t = k.seal_addr(a, 1).unwrap();
        assert_eq!(t.as_bytes(), b"9de56e0776d2eeecc21c92c687e57f");
        assert_eq!(k.open_addr(t.as_bytes()), Some((a, 1)));
        assert_eq!(k.open_addr(b"9DE56E0776D2EEECC21C92C687E57F"), Some((a, 1)));
        // Any other length opens nothing.
        for n in [
            0,
            1,
            TOKEN_LEN - 1,
            TOKEN_LEN + 1,
            TOKEN6_LEN - 1,
            TOKEN6_LEN + 1,
        ] {
            assert_eq!(k.open_addr(&vec![b'a'; n]), None, "{n}");
        }
        // A 44-character hex text is no token of either form.
        assert_eq!(k.open_addr(&[b'0'; TOKEN6_LEN]), None);
    }

    #[cfg(not(feature = "ipv6"))]
    #[test]
    fn without_ipv6_no_ipv6_token() {
        let k = key();
        assert_eq!(k.seal_addr("[2001:db8::1]:5060".parse().unwrap(), 0), None);
        // The token of the golden below does not open in this build.
        assert_eq!(
            k.open_addr(b"o74he5sej4vsicv4znrzj2vxwapwsxilc3amnv5zshma"),
            None
        );
    }

    #[cfg(feature = "ipv6")]
    mod ipv6 {
        use super::*;

        fn v6(s: &str) -> Ipv6Addr {
            s.parse().unwrap()
        }

        #[test]
        fn ipv6_tokens_round_trip() {
            let k = key();
            for (ip, port) in [
                (v6("2001:db8:77:1::2"), 5060),
                (v6("fd77:1::1"), 0),
                (v6("::"), 0),
                (v6("::ffff:10.77.1.2"), 1),
                (v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 65535),
            ] {
                for flags in [0u8, 1, 0x1f, 0xff] {
                    let t = k.seal6(ip, port, flags);
                    assert_eq!(t.len(), 44);
                    assert!(t.iter().all(|c| B32.contains(c)), "{t:?}");
                    assert_eq!(k.open6(&t), Some((ip, port, flags)));
                    assert_eq!(k.seal6(ip, port, flags), t, "deterministic");
                }
            }
            // Neighbouring addresses give unrelated tokens.
            let a = k.seal6(v6("2001:db8::1"), 0, 0);
            let b = k.seal6(v6("2001:db8::2"), 0, 0);
            let same = a.iter().zip(b.iter()).filter(|(x, y)| x == y).count();
            assert!(same < 10, "tokens too similar");
        }

        #[test]
        fn ipv6_tokens_of_another_key_do_not_open() {
            let t = key().seal6(v6("2001:db8:77:1::2"), 5060, 0);
            assert_eq!(Key::new([7; 16]).open6(&t), None);
            assert_eq!(Key::new([7; 16]).open_addr(&t), None);
        }

        #[test]
        fn any_altered_character_fails() {
            let k = key();
            let t = k.seal6(v6("2001:db8:77:1::2"), 5060, 2);
            for i in 0..TOKEN6_LEN {
                for &c in B32 {
                    if c == t[i] {
                        continue;
                    }
                    let mut f = t;
                    f[i] = c;
                    assert_eq!(k.open6(&f), None, "altered at {i} to {}", c as char);
                }
                // Outside the alphabet.
                for c in [b'0', b'1', b'8', b'=', b'.'] {
                    let mut f = t;
                    f[i] = c;
                    assert_eq!(k.open6(&f), None);
                }
            }
        }

        #[test]
        fn case_does_not_matter() {
            // As the IPv4 form, which opens in either case (a peer may
            // change the case of a parameter or a host name).
            let k = key();
            let ip = v6("2001:db8:77:1::2");
            let t = k.seal6(ip, 5060, 2);
            let upper: Vec<u8> = t.iter().map(u8::to_ascii_uppercase).collect();
            assert_eq!(k.open6(&upper), Some((ip, 5060, 2)));
            let mut mixed = t;
            for c in mixed.iter_mut().step_by(3) {
                c.make_ascii_uppercase();
            }
            assert_eq!(k.open6(&mixed), Some((ip, 5060, 2)));
        }

        #[test]
        fn forged_ipv6_tokens_do_not_open() {
            let k = key();
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for _ in 0..20_000 {
                let mut t = [0u8; TOKEN6_LEN];
                for c in t.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *c = B32[(x & 31) as usize];
                }
                assert_eq!(k.open_addr(&t), None);
            }
        }

        #[test]
        fn open_addr_dispatches_on_length() {
            let k = key();
            let a6: Addr = "[2001:db8:77:1::2]:5060".parse().unwrap();
            let t = k.seal_addr(a6, 3).unwrap();
            assert_eq!(t.as_bytes().len(), TOKEN6_LEN);
            assert_eq!(k.open_addr(t.as_bytes()), Some((a6, 3)));
            let a4: Addr = "10.77.1.2:5060".parse().unwrap();
            let t4 = k.seal_addr(a4, 3).unwrap();
            assert_eq!(t4.as_bytes().len(), TOKEN_LEN);
            assert_eq!(k.open_addr(t4.as_bytes()), Some((a4, 3)));
            // A mapped address (never sealed by sipnat) opens as IPv4.
            let m = k.seal6(v6("::ffff:10.77.1.2"), 5060, 0);
            assert_eq!(k.open_addr(&m), Some((a4, 0)));
        }

        #[test]
        fn ipv6_tokens_keep_their_form_across_versions() {
            // Pinned like the IPv4 goldens above: providers store these.
            let k = key();
            let t = k.seal6(v6("2001:db8:77:1::2"), 5060, 1);
            assert_eq!(&t[..], b"o74he5sej4vsicv4znrzj2vxwapwsxilc3amnv5zshma");
            assert_eq!(
                k.open_addr(b"o74he5sej4vsicv4znrzj2vxwapwsxilc3amnv5zshma"),
                Some(("[2001:db8:77:1::2]:5060".parse().unwrap(), 1))
            );
        }
    }
}
