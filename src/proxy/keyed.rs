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
//! The key is random per installation and saved with the registrations, so
//! tokens the provider has stored (in a registered Contact) survive a restart.

use std::net::Ipv4Addr;

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
}
