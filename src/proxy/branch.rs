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
//! An IPv6 answer address (feature `ipv6`) takes 16 + 2 bytes and the mark
//! [`SEALED_MARK6`] (`y`) instead of [`SEALED_MARK`] (`x`); everything else
//! is the same, and the `x` form is byte-identical to the one before IPv6 (a
//! test pins it). The mark is not sealed, so the two forms are kept apart
//! inside the seal: their tags are hashed under different domains (`siv`,
//! `siv6`), and a branch whose mark was changed fails to open like any other
//! altered one. One IPv6 Via is about 90 bytes; three still fit in
//! [`MAX_SEALED_VIAS`].
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
use super::keyed::{Key, SIV_TAG as TAG, base32_decode, base32_encode};
use crate::net::Addr;
use crate::side::Side;
use crate::transport::Transport;
#[cfg(feature = "ipv6")]
use std::net::{IpAddr, Ipv6Addr};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Bytes of Via values a sealed branch carries at most. One phone's Via is
/// about 60 bytes (an IPv6 one about 90); a PBX behind its own proxy adds one
/// more. 320 bytes make a branch of at most 553 characters (573 with an IPv6
/// answer address).
pub const MAX_SEALED_VIAS: usize = 320;

/// Plaintext header after the answer address: its side (1), its transport
/// (1), flags (1) and discriminator (8).
const META: usize = 1 + 1 + 1 + 8;
/// Plaintext header of the `x` form: IPv4 address and port (6), then [`META`].
const HEAD: usize = 6 + META;
/// Plaintext header of the `y` form: IPv6 address and port (18), then [`META`].
#[cfg(feature = "ipv6")]
const HEAD6: usize = 18 + META;
/// The longest plaintext header this build seals.
#[cfg(feature = "ipv6")]
const MAX_HEAD: usize = HEAD6;
#[cfg(not(feature = "ipv6"))]
const MAX_HEAD: usize = HEAD;

/// A flag of [`seal`]: the request was a REGISTER that carried credentials
/// (`Authorization` or `Proxy-Authorization`); a 4xx to it is a failed
/// authentication for the blacklist ([`super::blacklist`]).
pub const FLAG_CREDENTIALS: u8 = 1;
/// Largest sealed blob (tag + plaintext).
const MAX_SEALED: usize = TAG + MAX_HEAD + MAX_SEALED_VIAS;
/// The marker after our branch prefix that says "sealed", IPv4 answer
/// address (the stateless branches are 16 hex digits, which never contain
/// it).
pub const SEALED_MARK: u8 = b'x';
/// The marker of a sealed branch with an IPv6 answer address.
pub const SEALED_MARK6: u8 = b'y';
/// The [`Key::siv_seal`] domains of the two forms.
const SIV: &[u8] = b"siv";
#[cfg(feature = "ipv6")]
const SIV6: &[u8] = b"siv6";
/// Longest branch text after the prefix: the mark and base32 of the blob
/// (553 characters for IPv4, 573 for IPv6).
pub const MAX_BRANCH_TEXT: usize = 1 + (MAX_SEALED * 8).div_ceil(5);

/// Where responses go, of either family: a [`Peer`] whose address may be
/// IPv6. [`seal_reply`] and [`open_reply`] take and give it; [`seal`] and
/// [`open`] are the IPv4 forms of them until `Peer` holds an
/// [`Addr`] (stage 5b wires this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub addr: Addr,
    pub side: Side,
    pub transport: Transport,
}

impl From<Peer> for Reply {
    fn from(p: Peer) -> Reply {
        Reply {
            addr: p.addr,
            side: p.side,
            transport: p.transport,
        }
    }
}

/// What a sealed branch holds, once opened: `R` is [`Peer`] from [`open`],
/// [`Reply`] (either family) from [`open_reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened<R = Peer> {
    /// Where responses go (RFC 3261 §18.2.2 with RFC 3581 rport): the
    /// address, the side the request arrived on, and its transport (a
    /// response goes back over the connection a request came in on,
    /// §18.2.2).
    pub reply: R,
    /// The discriminator given to [`seal`].
    pub discriminator: u64,
    /// The flags given to [`seal`] ([`FLAG_CREDENTIALS`]).
    pub flags: u8,
    /// The Via values, one per line (separated by `\n`), as received.
    pub vias: heapless::Vec<u8, MAX_SEALED_VIAS>,
}

impl<R> Opened<R> {
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
/// line break, which a parsed header value cannot). An IPv4 answer
/// address gets [`SEALED_MARK`], an IPv6 one [`SEALED_MARK6`] (with the
/// `ipv6` feature; without it, `None`).
pub fn seal<'a>(
    key: &Key,
    reply: Peer,
    discriminator: u64,
    flags: u8,
    vias: impl Iterator<Item = &'a str>,
    out: &mut [u8; MAX_BRANCH_TEXT],
) -> Option<usize> {
    seal_any::<{ cfg!(feature = "ipv6") }, _>(key, reply.into(), discriminator, flags, vias, out)
}

/// [`seal`] for an answer address of either family: [`SEALED_MARK`] and
/// the IPv4 form for IPv4 (the same text as [`seal`]), [`SEALED_MARK6`] and
/// the IPv6 form for IPv6 (`None` without the `ipv6` feature). The Vias
/// are limited to [`MAX_SEALED_VIAS`] bytes in both.
// Wired in stage 5b (forwarding with an IPv6 phone or peer).
pub fn seal_reply<'a>(
    key: &Key,
    reply: Reply,
    discriminator: u64,
    flags: u8,
    vias: impl Iterator<Item = &'a str>,
    out: &mut [u8; MAX_BRANCH_TEXT],
) -> Option<usize> {
    seal_any::<true, _>(key, reply, discriminator, flags, vias, out)
}

/// [`seal_reply`], with the IPv6 form only when `V6`: [`seal`] and
/// [`open`] are instances without it (as small as before IPv6 until
/// stage 5b calls the `_reply` forms).
fn seal_any<'a, const V6: bool, I: Iterator<Item = &'a str>>(
    key: &Key,
    reply: Reply,
    discriminator: u64,
    flags: u8,
    vias: I,
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
    let (mark, domain) = match reply.addr {
        Addr::V4(a) => {
            put(&a.ip().octets(), &mut n)?;
            (SEALED_MARK, SIV)
        }
        #[cfg(feature = "ipv6")]
        Addr::V6(ip, _) if V6 => {
            put(&ip.octets(), &mut n)?;
            (SEALED_MARK6, SIV6)
        }
        Addr::V6(..) => return None,
    };
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
    let vias_start = n;
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
    // The same limit for both forms (the IPv6 header's 12 more bytes are
    // room of their own in the blob).
    if n - vias_start > MAX_SEALED_VIAS {
        return None;
    }
    key.siv_seal(domain, &mut blob[..n]);
    out[0] = mark;
    Some(1 + base32_encode(&blob[..n], &mut out[1..]))
}

/// Open branch text (without the prefix, starting with [`SEALED_MARK`],
/// or with the `ipv6` feature [`SEALED_MARK6`]). `None`: not a sealed
/// branch, not ours, or altered.
pub fn open(key: &Key, text: &[u8]) -> Option<Opened> {
    let o = open_any::<{ cfg!(feature = "ipv6") }>(key, text)?;
    Some(Opened {
        reply: Peer {
            addr: o.reply.addr,
            side: o.reply.side,
            transport: o.reply.transport,
        },
        discriminator: o.discriminator,
        flags: o.flags,
        vias: o.vias,
    })
}

/// [`open`] for branches of either form ([`SEALED_MARK`] or, with the
/// `ipv6` feature, [`SEALED_MARK6`]). An IPv4-mapped address in a `y`
/// branch (never sealed by sipnat) comes back as IPv4 ([`Addr::new`]).
// Wired in stage 5b (responses to an IPv6 phone or peer).
pub fn open_reply(key: &Key, text: &[u8]) -> Option<Opened<Reply>> {
    open_any::<true>(key, text)
}

/// [`open_reply`], with the `y` form only when `V6` (as [`seal_any`]).
fn open_any<const V6: bool>(key: &Key, text: &[u8]) -> Option<Opened<Reply>> {
    let (&mark, b32) = text.split_first()?;
    let (domain, head) = match mark.to_ascii_lowercase() {
        SEALED_MARK => (SIV, HEAD),
        #[cfg(feature = "ipv6")]
        SEALED_MARK6 if V6 => (SIV6, HEAD6),
        _ => return None,
    };
    let mut blob = [0u8; MAX_SEALED];
    let n = base32_decode(b32, &mut blob)?;
    if n < TAG + head || !key.siv_open(domain, &mut blob[..n]) {
        return None;
    }
    let plain = &blob[TAG..n];
    // The address and port, then the same fields in both forms.
    let (addr, meta) = plain.split_at(head - META);
    let (ip, port) = addr.split_at(addr.len() - 2);
    let port = u16::from_be_bytes([port[0], port[1]]);
    let addr = match *ip {
        [a, b, c, d] => Addr::V4(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port)),
        #[cfg(feature = "ipv6")]
        _ if V6 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(ip);
            Addr::new(IpAddr::V6(Ipv6Addr::from(o)), port)
        }
        _ => return None,
    };
    let side = match meta[0] {
        b'l' => Side::Lan,
        b'w' => Side::Wan,
        _ => return None,
    };
    let transport = match meta[1] {
        b'u' => Transport::Udp,
        b't' => Transport::Tcp,
        b's' => Transport::Tls,
        _ => return None,
    };
    let flags = meta[2];
    let mut disc = [0u8; 8];
    disc.copy_from_slice(&meta[3..META]);
    let vias = heapless::Vec::from_slice(&plain[head..]).ok()?;
    core::str::from_utf8(&vias).ok()?;
    Some(Opened {
        reply: Reply {
            addr,
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
        Transport::Tls => b's',
    }
}

fn side_byte(side: Side) -> u8 {
    match side {
        Side::Lan => b'l',
        Side::Wan => b'w',
    }
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
        // The IPv4 form is 20 characters shorter than the IPv6 one, for
        // which the buffer is sized when the feature is on.
        let v4_max = 1 + ((TAG + HEAD + MAX_SEALED_VIAS) * 8).div_ceil(5);
        assert_eq!(n, v4_max);
        assert_eq!(v4_max, 553);
        assert!(n <= MAX_BRANCH_TEXT);
        assert_eq!(open(&key(), &out[..n]).unwrap().vias.len(), MAX_SEALED_VIAS);
    }

    #[test]
    fn the_reply_forms_agree_with_the_ipv4_functions() {
        // seal_reply/open_reply with an IPv4 address are seal/open.
        let peer = lan("10.77.1.2:5062".parse().unwrap());
        let mut out = [0u8; MAX_BRANCH_TEXT];
        let n = seal_reply(&key(), peer.into(), 7, 1, [VIA].into_iter(), &mut out).unwrap();
        assert_eq!(
            &out[..n],
            &sealed_with_flags(&[VIA], "10.77.1.2:5062", 7, 1)[..]
        );
        let o = open_reply(&key(), &out[..n]).unwrap();
        assert_eq!(o.reply, Reply::from(peer));
        assert_eq!((o.discriminator, o.flags), (7, 1));
        assert_eq!(o.values().collect::<Vec<_>>(), [VIA]);
    }

    fn sealed_with_flags(vias: &[&str], reply: &str, disc: u64, flags: u8) -> Vec<u8> {
        let mut out = [0u8; MAX_BRANCH_TEXT];
        let n = seal(
            &key(),
            lan(reply.parse().unwrap()),
            disc,
            flags,
            vias.iter().copied(),
            &mut out,
        )
        .unwrap();
        out[..n].to_vec()
    }

    #[cfg(feature = "ipv6")]
    mod ipv6 {
        use super::*;

        const VIA6: &str = "SIP/2.0/UDP [2001:db8:77:1::2]:5060;branch=z9hG4bK776asdhds;rport";

        fn reply6(s: &str, transport: Transport) -> Reply {
            Reply {
                addr: s.parse().unwrap(),
                side: Side::Lan,
                transport,
            }
        }

        fn sealed6(vias: &[&str], reply: Reply, disc: u64) -> Vec<u8> {
            let mut out = [0u8; MAX_BRANCH_TEXT];
            let n =
                seal_reply(&key(), reply, disc, 0, vias.iter().copied(), &mut out).expect("fits");
            out[..n].to_vec()
        }

        #[test]
        fn y_branches_round_trip() {
            let r = reply6("[2001:db8:77:1::2]:5062", Transport::Tcp);
            let b = sealed6(&[VIA6, VIA], r, 9);
            assert_eq!(b[0], SEALED_MARK6);
            assert!(
                b[1..]
                    .iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            );
            let s = core::str::from_utf8(&b).unwrap();
            assert!(!s.contains("2001") && !s.contains("db8"));
            let o = open_reply(&key(), &b).expect("opens");
            assert_eq!(o.reply, r);
            assert_eq!(o.discriminator, 9);
            assert_eq!(o.values().collect::<Vec<_>>(), [VIA6, VIA]);
            // Case-insensitive like the `x` form; deterministic.
            let upper: Vec<u8> = b.iter().map(u8::to_ascii_uppercase).collect();
            assert_eq!(open_reply(&key(), &upper), Some(o));
            assert_eq!(sealed6(&[VIA6, VIA], r, 9), b);
            // `open`, which the proxy calls, opens both forms.
            assert_eq!(open(&key(), &b).map(|o| o.reply.addr), Some(r.addr));
            // 12 more bytes of plaintext: about 20 more characters.
            let x = sealed(&[VIA6, VIA], "10.77.1.2:5062", 9);
            assert_eq!(b.len() - x.len(), 19);
        }

        #[test]
        fn y_branches_without_vias_and_of_the_wan_side() {
            let mut r = reply6("[2001:db8:100::2]:5060", Transport::Udp);
            r.side = Side::Wan;
            let b = sealed6(&[], r, u64::MAX);
            let o = open_reply(&key(), &b).expect("opens");
            assert_eq!((o.reply, o.discriminator), (r, u64::MAX));
            assert_eq!(o.values().count(), 0);
        }

        #[test]
        fn forged_or_altered_y_branches_fail() {
            let b = sealed6(
                &[VIA6],
                reply6("[2001:db8:77:1::2]:5060", Transport::Udp),
                0,
            );
            assert!(open_reply(&Key::new(*b"fedcba9876543210"), &b).is_none());
            for i in 1..b.len() {
                for c in b"abcdefghijklmnopqrstuvwxyz234567" {
                    if c.eq_ignore_ascii_case(&b[i]) {
                        continue;
                    }
                    let mut t = b.clone();
                    t[i] = *c;
                    assert!(open_reply(&key(), &t).is_none(), "altered at {i}");
                }
            }
            assert!(open_reply(&key(), &b[..b.len() - 1]).is_none());
            // The mark is bound by the tag's domain: `y` relabelled `x` and
            // `x` relabelled `y` do not open.
            let mut relabelled = b.clone();
            relabelled[0] = SEALED_MARK;
            assert!(open_reply(&key(), &relabelled).is_none());
            assert!(open(&key(), &relabelled).is_none());
            let mut x = sealed(&[VIA], "10.77.1.2:5060", 0);
            x[0] = SEALED_MARK6;
            assert!(open_reply(&key(), &x).is_none());
        }

        #[test]
        fn three_ipv6_vias_fit() {
            // A phone, a LAN proxy and a PBX, each with a long address.
            let vias = [
                "SIP/2.0/UDP [2001:db8:77:1:aaaa:bbbb:cccc:dddd]:5060;branch=z9hG4bK-524287-1---7d5a2f4b;rport",
                "SIP/2.0/UDP [2001:db8:77:1:1111:2222:3333:4444]:5062;branch=z9hG4bK-11aa22bb33cc;received=2001:db8:77:1::9",
                "SIP/2.0/TCP [fd77:1:2:3:4:5:6:7]:5060;branch=z9hG4bKpbx-0123456789abcdef;rport=5060",
            ];
            let bytes: usize = vias.iter().map(|v| v.len() + 1).sum();
            assert!((270..=MAX_SEALED_VIAS).contains(&bytes), "{bytes}");
            let r = reply6("[2001:db8:77:1:aaaa:bbbb:cccc:dddd]:5060", Transport::Udp);
            let b = sealed6(&vias, r, 0);
            assert!(b.len() <= MAX_BRANCH_TEXT);
            let o = open_reply(&key(), &b).expect("opens");
            assert_eq!(o.values().collect::<Vec<_>>(), vias);
            // The Via limit is the same for both forms; the buffer holds the
            // longest IPv6 branch exactly.
            let fits = "v".repeat(MAX_SEALED_VIAS);
            let b = sealed6(&[&fits], r, 0);
            assert_eq!(b.len(), MAX_BRANCH_TEXT);
            assert_eq!(MAX_BRANCH_TEXT, 573);
            let long = "v".repeat(MAX_SEALED_VIAS + 1);
            let mut out = [0u8; MAX_BRANCH_TEXT];
            assert!(seal_reply(&key(), r, 0, 0, [long.as_str()].into_iter(), &mut out).is_none());
        }

        #[test]
        fn a_y_branch_keeps_its_form() {
            // Pinned like the `x` golden: a response to a request sent
            // before an upgrade must still open after it.
            const BRANCH: &str = "ykigazvraxyba2r6hj6fw7gqruhz522gq4sox4amqqqt244q3jmlz4l2z4u3e6xcdg33y6rzj5lmxhmc3axxkmp5s4krq3cdsth5ngyipzmi7komtbyscqq33j3twxo2uhbymiqdswtwmy64zgcy6ane7so64x4242hhq";
            let b = sealed6(
                &[VIA6],
                reply6("[2001:db8:77:1::2]:5062", Transport::Udp),
                7,
            );
            assert_eq!(core::str::from_utf8(&b).unwrap(), BRANCH);
            let o = open_reply(&key(), BRANCH.as_bytes()).expect("opens");
            assert_eq!(o.values().collect::<Vec<_>>(), [VIA6]);
        }
    }

    #[cfg(not(feature = "ipv6"))]
    #[test]
    fn without_ipv6_there_is_no_y_form() {
        let r = Reply {
            addr: "[2001:db8::1]:5060".parse().unwrap(),
            side: Side::Lan,
            transport: Transport::Udp,
        };
        let mut out = [0u8; MAX_BRANCH_TEXT];
        assert!(seal_reply(&key(), r, 0, 0, core::iter::empty(), &mut out).is_none());
        let mut x = sealed(&[VIA], "10.77.1.2:5060", 0);
        x[0] = SEALED_MARK6;
        assert!(open_reply(&key(), &x).is_none());
        assert_eq!(MAX_BRANCH_TEXT, 553);
    }
}
