//! Sealed branches: the LAN Via headers of a request going out, carried
//! inside sipnat's own branch instead of in a table.
//!
//! When a request goes from the LAN to the WAN, sipnat removes every Via the
//! phone (or a LAN proxy) put in it, so no LAN address or LAN topology leaves
//! the router, and sends the request with its own Via alone (RFC 3261 §16.6
//! step 8 adds our Via; removing the others is sipnat's topology hiding). The
//! responses must get those Vias back (§16.7 step 3 removes ours, the ones
//! below it lead to the phone). sipnat keeps them in the request itself: the
//! removed Via values and the address to answer are encrypted and
//! authenticated under the installation's key and written, in base32, as our
//! branch. A response brings its branch back unchanged (§8.2.6.2, §17.1.3),
//! so sipnat opens it and restores the Vias with no per-transaction state:
//! call setup rate and memory no longer depend on a transaction table, and a
//! restart (the key is saved with the registrations) loses no transaction.
//!
//! # Construction
//! Deterministic authenticated encryption in the SIV style (RFC 5297's idea,
//! with SipHash-2-4 as the PRF): `tag = PRF(plaintext)`, keystream block `i`
//! = `PRF(tag, i)`, sealed = `tag ‖ (plaintext ⊕ keystream)`. Deterministic on
//! purpose: a retransmitted request, the CANCEL of an INVITE and the ACK of
//! a non-2xx carry the same Vias from the same phone and so get the same
//! branch, as RFC 3261 §9.1 and §17.1.1.3 require of them. Opening recomputes
//! the tag over the decrypted text; a forged or altered branch fails with
//! probability 1 − 2⁻⁶⁴ and the response is dropped.
//!
//! The plaintext is the answer address (4 + 2 bytes), the side it is on (1
//! byte), its transport (1 byte), flags (1 byte, [`FLAG_CREDENTIALS`]), a
//! 64-bit discriminator, and the Via values as received, one per line.
//!
//! Every request sipnat forwards carries such a branch, so every response
//! goes back to the address the request came from and nowhere a Via names
//! (issue 9: reply reflection). A request going out to the WAN seals its LAN
//! Vias, and its discriminator tells RFC 2543 transactions apart (their Vias
//! carry no unique branch; 0 otherwise). Any other request keeps its Vias
//! in the message and seals none: its discriminator is a keyed hash of the
//! Via it carries below ours and of the side it went to, which the response
//! must bring back unchanged, from that side.
//! The branch is `z9hG4bKsnx` followed by the base32 text (RFC 4648 §6
//! alphabet, lower case, no padding): case-insensitive, so a peer that
//! changes the case of a parameter cannot break it.
//!
//! # What it does not do
//! It does not hide anything that is not a Via (masking does that), it does
//! not give a replay window (a response replayed with an old branch reaches
//! the phone, which matches it to no transaction and drops it, RFC 3261
//! §17.1.3), and it refuses Via stacks longer than [`MAX_SEALED_VIAS`]
//! (the caller masks those instead).

use super::Peer;
use super::keyed::Key;
use crate::side::Side;
use crate::transport::Transport;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Bytes of Via values a sealed branch carries at most. One phone's Via is
/// about 60 bytes; a PBX behind its own proxy adds one more. 320 bytes make a
/// branch of at most 540 characters.
pub const MAX_SEALED_VIAS: usize = 320;

/// Plaintext header: answer address (6), its side (1), its transport (1),
/// flags (1) and discriminator (8).
const HEAD: usize = 6 + 1 + 1 + 1 + 8;

/// A flag of [`seal`]: the request was a REGISTER that carried credentials
/// (`Authorization` or `Proxy-Authorization`); a 4xx to it is a failed
/// authentication for the blacklist ([`super::blacklist`]).
pub const FLAG_CREDENTIALS: u8 = 1;
const TAG: usize = 8;
/// Largest sealed blob (tag + plaintext).
const MAX_SEALED: usize = TAG + HEAD + MAX_SEALED_VIAS;
/// The marker after our branch prefix that says "sealed" (the stateless
/// branches are 16 hex digits, which never contain it).
pub const SEALED_MARK: u8 = b'x';
/// Longest branch text after the prefix: the mark and base32 of the blob.
pub const MAX_BRANCH_TEXT: usize = 1 + (MAX_SEALED * 8).div_ceil(5);

const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// What a sealed branch holds, once opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Where responses go (RFC 3261 §18.2.2 with RFC 3581 rport): the
    /// address, the side the request arrived on, and its transport (a
    /// response goes back over the connection a request came in on,
    /// §18.2.2).
    pub reply: Peer,
    /// The discriminator given to [`seal`].
    pub discriminator: u64,
    /// The flags given to [`seal`] ([`FLAG_CREDENTIALS`]).
    pub flags: u8,
    /// The Via values, one per line (separated by `\n`), as received.
    pub vias: heapless::Vec<u8, MAX_SEALED_VIAS>,
}

impl Opened {
    /// The Via values, in order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        core::str::from_utf8(&self.vias)
            .unwrap_or("")
            .split('\n')
            .filter(|v| !v.is_empty())
    }
}

/// Seal `vias` (each a Via value) and the answer address into branch text
/// (without the `z9hG4bKsn` prefix, starting with [`SEALED_MARK`]) in `out`;
/// returns its length, or `None` when the values are too long (or contain a
/// line break, which a parsed header value cannot), or the answer address
/// is not IPv4 (the only family this format holds).
pub fn seal<'a>(
    key: &Key,
    reply: Peer,
    discriminator: u64,
    flags: u8,
    vias: impl Iterator<Item = &'a str>,
    out: &mut [u8; MAX_BRANCH_TEXT],
) -> Option<usize> {
    let mut blob = [0u8; MAX_SEALED];
    let mut n = TAG;
    let mut put = |bytes: &[u8], n: &mut usize| -> Option<()> {
        let end = n.checked_add(bytes.len())?;
        blob.get_mut(*n..end)?.copy_from_slice(bytes);
        *n = end;
        Some(())
    };
    put(&reply.addr.v4()?.ip().octets(), &mut n)?;
    put(&reply.addr.port().to_be_bytes(), &mut n)?;
    put(
        &[
            side_byte(reply.side),
            transport_byte(reply.transport),
            flags,
        ],
        &mut n,
    )?;
    put(&discriminator.to_be_bytes(), &mut n)?;
    for (i, v) in vias.enumerate() {
        let v = v.trim();
        if v.bytes().any(|b| b == b'\n' || b == b'\r') {
            return None;
        }
        if i > 0 {
            put(b"\n", &mut n)?;
        }
        put(v.as_bytes(), &mut n)?;
    }
    let (tag_part, rest) = blob.split_at_mut(TAG);
    let plain = &mut rest[..n - TAG];
    let tag = key.hash(&[b"siv", plain]).to_be_bytes();
    tag_part.copy_from_slice(&tag);
    keystream_xor(key, &tag, plain);
    out[0] = SEALED_MARK;
    Some(1 + base32_encode(&blob[..n], &mut out[1..]))
}

/// Open branch text (without the prefix, starting with [`SEALED_MARK`]).
/// `None`: not a sealed branch, not ours, or altered.
pub fn open(key: &Key, text: &[u8]) -> Option<Opened> {
    let (&mark, b32) = text.split_first()?;
    if mark.to_ascii_lowercase() != SEALED_MARK {
        return None;
    }
    let mut blob = [0u8; MAX_SEALED];
    let n = base32_decode(b32, &mut blob)?;
    if n < TAG + HEAD {
        return None;
    }
    let (tag_part, rest) = blob.split_at_mut(TAG);
    let plain = &mut rest[..n - TAG];
    let mut tag = [0u8; TAG];
    tag.copy_from_slice(tag_part);
    keystream_xor(key, &tag, plain);
    if key.hash(&[b"siv", plain]).to_be_bytes() != tag {
        return None;
    }
    let ip = Ipv4Addr::new(plain[0], plain[1], plain[2], plain[3]);
    let port = u16::from_be_bytes([plain[4], plain[5]]);
    let side = match plain[6] {
        b'l' => Side::Lan,
        b'w' => Side::Wan,
        _ => return None,
    };
    let transport = match plain[7] {
        b'u' => Transport::Udp,
        b't' => Transport::Tcp,
        _ => return None,
    };
    let flags = plain[8];
    let mut disc = [0u8; 8];
    disc.copy_from_slice(&plain[9..HEAD]);
    let vias = heapless::Vec::from_slice(&plain[HEAD..]).ok()?;
    core::str::from_utf8(&vias).ok()?;
    Some(Opened {
        reply: Peer {
            addr: SocketAddrV4::new(ip, port).into(),
            side,
            transport,
        },
        discriminator: u64::from_be_bytes(disc),
        flags,
        vias,
    })
}

fn transport_byte(t: Transport) -> u8 {
    match t {
        Transport::Udp => b'u',
        Transport::Tcp => b't',
    }
}

fn side_byte(side: Side) -> u8 {
    match side {
        Side::Lan => b'l',
        Side::Wan => b'w',
    }
}

fn keystream_xor(key: &Key, tag: &[u8; TAG], data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(8).enumerate() {
        let ks = key
            .hash(&[b"ks", tag, &(i as u32).to_le_bytes()])
            .to_le_bytes();
        for (d, k) in chunk.iter_mut().zip(ks) {
            *d ^= k;
        }
    }
}

/// RFC 4648 §6 base32, lower case, no padding. `out` must hold
/// `ceil(8·len/5)` bytes.
fn base32_encode(data: &[u8], out: &mut [u8]) -> usize {
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
/// outside the alphabet, non-zero padding bits, or too much data.
fn base32_decode(text: &[u8], out: &mut [u8]) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::new(*b"0123456789abcdef")
    }

    fn lan(addr: SocketAddrV4) -> Peer {
        Peer {
            addr: addr.into(),
            side: Side::Lan,
            transport: Transport::Udp,
        }
    }

    fn sealed(vias: &[&str], reply: &str, disc: u64) -> Vec<u8> {
        let mut out = [0u8; MAX_BRANCH_TEXT];
        let n = seal(
            &key(),
            lan(reply.parse().unwrap()),
            disc,
            0,
            vias.iter().copied(),
            &mut out,
        )
        .expect("fits");
        out[..n].to_vec()
    }

    const VIA: &str = "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bK776asdhds;rport";

    #[test]
    fn sealed_branches_keep_their_form_across_versions() {
        // A branch sealed before an upgrade must open after it (a response
        // to a request sent before a restart), and the IPv4 form must not
        // change with the IPv6 work.
        const BRANCH: &str = "xjvpezyjmwyzwdsvd4f5buyhwo6yneovcn2tll5p7roigemj3rjg6sddq2drr2uq5m4rjwnei7e57nkr6tm6ff4x3owq6z4uhnn6tvpp5y5ti3ut6he4vsvjlt26xsk5hqu";
        let b = sealed(&[VIA], "10.77.1.2:5062", 7);
        assert_eq!(core::str::from_utf8(&b).unwrap(), BRANCH);
        let o = open(&key(), BRANCH.as_bytes()).expect("opens");
        assert_eq!(o.reply, lan("10.77.1.2:5062".parse().unwrap()));
        assert_eq!(o.discriminator, 7);
        assert_eq!(o.values().collect::<Vec<_>>(), [VIA]);
    }

    #[test]
    fn round_trip_keeps_address_and_every_value() {
        let b = sealed(
            &[VIA, "SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKx"],
            "10.77.1.2:5062",
            0,
        );
        assert_eq!(b[0], SEALED_MARK);
        let o = open(&key(), &b).expect("opens");
        assert_eq!(o.reply, lan("10.77.1.2:5062".parse().unwrap()));
        assert_eq!(o.discriminator, 0);
        let v: Vec<&str> = o.values().collect();
        assert_eq!(v, [VIA, "SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKx"]);
    }

    #[test]
    fn branch_is_a_token_without_the_lan_address() {
        let b = sealed(&[VIA], "10.77.1.2:5060", 0);
        let s = core::str::from_utf8(&b).unwrap();
        assert!(
            s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert!(!s.contains("10.77") && !s.contains("z9hG4bK776"));
        // One typical phone Via: a branch of about 130 characters (the
        // flags byte of issue 11 added two).
        assert!(s.len() < 135, "{}", s.len());
    }

    #[test]
    fn deterministic_but_distinct_per_transaction() {
        // Same Vias, same phone: same branch (retransmission, CANCEL, RFC 3261 §9.1).
        assert_eq!(
            sealed(&[VIA], "10.77.1.2:5060", 0),
            sealed(&[VIA], "10.77.1.2:5060", 0)
        );
        // Another branch, another phone port or another RFC 2543 discriminator differ.
        let other = VIA.replace("776", "777");
        assert_ne!(
            sealed(&[VIA], "10.77.1.2:5060", 0),
            sealed(&[&other], "10.77.1.2:5060", 0)
        );
        assert_ne!(
            sealed(&[VIA], "10.77.1.2:5060", 0),
            sealed(&[VIA], "10.77.1.2:5061", 0)
        );
        assert_ne!(
            sealed(&[VIA], "10.77.1.2:5060", 1),
            sealed(&[VIA], "10.77.1.2:5060", 2)
        );
    }

    #[test]
    fn another_key_or_any_altered_character_fails() {
        let b = sealed(&[VIA], "10.77.1.2:5060", 0);
        assert!(open(&Key::new(*b"fedcba9876543210"), &b).is_none());
        for i in 1..b.len() {
            let mut t = b.clone();
            t[i] = if t[i] == b'a' { b'b' } else { b'a' };
            assert!(open(&key(), &t).is_none(), "altered at {i}");
        }
        // Truncated, extended, empty, wrong mark, characters outside base32.
        assert!(open(&key(), &b[..b.len() - 1]).is_none());
        let mut ext = b.clone();
        ext.push(b'a');
        assert!(open(&key(), &ext).is_none());
        assert!(open(&key(), b"").is_none());
        assert!(open(&key(), b"x").is_none());
        assert!(open(&key(), &b[1..]).is_none());
        assert!(open(&key(), b"x0189!!").is_none());
    }

    #[test]
    fn case_changes_do_not_break_it() {
        let b = sealed(&[VIA], "10.77.1.2:5060", 0);
        let upper: Vec<u8> = b.iter().map(u8::to_ascii_uppercase).collect();
        assert_eq!(open(&key(), &upper), open(&key(), &b));
        assert!(open(&key(), &b).is_some());
    }

    #[test]
    fn too_long_or_line_breaks_refused() {
        let long = "v".repeat(MAX_SEALED_VIAS + 1);
        let mut out = [0u8; MAX_BRANCH_TEXT];
        let r: SocketAddrV4 = "10.77.1.2:5060".parse().unwrap();
        assert!(seal(&key(), lan(r), 0, 0, [long.as_str()].into_iter(), &mut out).is_none());
        assert!(seal(&key(), lan(r), 0, 0, ["a\nb"].into_iter(), &mut out).is_none());
        let fits = "v".repeat(MAX_SEALED_VIAS);
        let n = seal(&key(), lan(r), 0, 0, [fits.as_str()].into_iter(), &mut out).unwrap();
        assert_eq!(n, MAX_BRANCH_TEXT);
        assert_eq!(open(&key(), &out[..n]).unwrap().vias.len(), MAX_SEALED_VIAS);
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
}
