//! The DNS wire format (RFC 1035 §3, §4), as far as the resolver needs it:
//! domain names ([`Name`], lower-cased for the comparison of RFC 4343), the
//! query it sends ([`write_query`]), and the reading of a reply: header,
//! names with compression (RFC 1035 §4.1.4), resource records and the
//! records of a section, every read bounds-checked.
//!
//! It does not say what a reply means for a query (`reply.rs` does), keep
//! state, or allocate: a [`Name`] is a fixed 255-byte buffer and a record
//! is a set of offsets into the reply.

use super::DnsError;
use crate::limits::MAX_DNS_NAME;
use crate::transport::Transport;
use core::fmt;

/// Compression pointers followed while decoding one name (belt and braces:
/// the "points before its label run" rule already bounds the decoding).
const MAX_POINTER_HOPS: usize = 128;

// RFC 1035 §4.1.1 header layout and §3.2.2 / RFC 2782 / RFC 3596 type codes.
pub(super) const HEADER_LEN: usize = 12;
pub(super) const FLAG_QR: u16 = 0x8000;
pub(super) const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
pub(super) const RCODE_NOERROR: u16 = 0;
pub(super) const RCODE_NXDOMAIN: u16 = 3;
pub(super) const TYPE_A: u16 = 1;
pub(super) const TYPE_CNAME: u16 = 5;
pub(super) const TYPE_SOA: u16 = 6;
pub(super) const TYPE_SRV: u16 = 33;
#[cfg(feature = "ipv6")]
pub(super) const TYPE_AAAA: u16 = 28;
pub(super) const CLASS_IN: u16 = 1;

/// A domain name in wire format (length-prefixed labels ending with the root
/// label 0), lower-cased so that equality is the case-insensitive comparison
/// of RFC 4343. Invariant: `len <= MAX_DNS_NAME` (255), always true for a u8.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Name {
    len: u8,
    buf: [u8; MAX_DNS_NAME],
}

impl Name {
    /// An empty buffer to which labels are appended (not yet a valid name).
    pub(super) fn empty() -> Name {
        Name {
            len: 0,
            buf: [0; MAX_DNS_NAME],
        }
    }

    /// Wire bytes, root label included.
    pub(super) fn wire(&self) -> &[u8] {
        // `len` is a u8 and `buf` has 255 bytes: the range is always in bounds.
        &self.buf[..usize::from(self.len)]
    }

    pub(super) fn is_root(&self) -> bool {
        self.wire() == [0]
    }

    /// Appends one label (lower-cased), keeping room for the root label.
    fn push_label(&mut self, label: &[u8]) -> Result<(), DnsError> {
        if label.len() > 63 {
            return Err(DnsError::NameTooLong);
        }
        let start = usize::from(self.len);
        let end = start + 1 + label.len();
        // `end + 1`: the root label must still fit (RFC 1035 §2.3.4).
        if end + 1 > MAX_DNS_NAME {
            return Err(DnsError::NameTooLong);
        }
        // Checked above: start < end <= 254 < buf.len().
        let dst = &mut self.buf[start..end];
        if let Some((first, rest)) = dst.split_first_mut() {
            // Fits: label.len() <= 63.
            *first = label.len() as u8;
            for (d, s) in rest.iter_mut().zip(label) {
                *d = s.to_ascii_lowercase();
            }
        }
        // end <= 254, fits in a u8.
        self.len = end as u8;
        Ok(())
    }

    /// Terminates the name with the root label.
    pub(super) fn push_root(&mut self) -> Result<(), DnsError> {
        let at = usize::from(self.len);
        let slot = self.buf.get_mut(at).ok_or(DnsError::NameTooLong)?;
        *slot = 0;
        self.len += 1;
        Ok(())
    }

    /// A host name as written in a SIP URI (`example.com` or `example.com.`).
    pub(super) fn from_host(host: &str) -> Result<Name, DnsError> {
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() {
            return Err(DnsError::NoSuchName);
        }
        let mut name = Name::empty();
        for label in host.split('.') {
            if label.is_empty() {
                return Err(DnsError::NoSuchName);
            }
            // RFC 3261 §25.1 hostname characters, plus `_` seen in the wild.
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(DnsError::NoSuchName);
            }
            name.push_label(label.as_bytes())?;
        }
        name.push_root()?;
        Ok(name)
    }

    /// `_sip._udp.<self>`, `_sip._tcp.<self>` or, for TLS, `_sips._tcp.<self>`:
    /// the SRV name of RFC 3263 §4.2 / RFC 2782 for the transport.
    pub(super) fn sip_srv(&self, transport: Transport) -> Result<Name, DnsError> {
        let mut name = Name::empty();
        let (service, proto): (&[u8], &[u8]) = match transport {
            Transport::Udp => (b"_sip", b"_udp"),
            Transport::Tcp => (b"_sip", b"_tcp"),
            Transport::Tls => (b"_sips", b"_tcp"),
        };
        name.push_label(service)?;
        name.push_label(proto)?;
        let at = usize::from(name.len);
        let end = at + self.wire().len();
        let dst = name.buf.get_mut(at..end).ok_or(DnsError::NameTooLong)?;
        dst.copy_from_slice(self.wire());
        // `get_mut` succeeded, so end <= 255.
        name.len = end as u8;
        Ok(name)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        let mut rest = self.wire();
        let mut first = true;
        while let Some((&len, tail)) = rest.split_first() {
            if len == 0 {
                break;
            }
            let Some((label, tail)) = tail.split_at_checked(usize::from(len)) else {
                break;
            };
            if !first {
                f.write_str(".")?;
            }
            first = false;
            for &b in label {
                if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                    write!(f, "{}", char::from(b))?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
            rest = tail;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The record types the resolver asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QType {
    A,
    /// RFC 3596 §2.1 (only built with the `ipv6` feature).
    #[cfg(feature = "ipv6")]
    Aaaa,
    Srv,
}

impl QType {
    /// `A`, `AAAA` or `SRV`, for status and logs.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            QType::A => "A",
            #[cfg(feature = "ipv6")]
            QType::Aaaa => "AAAA",
            QType::Srv => "SRV",
        }
    }

    pub(super) fn code(self) -> u16 {
        match self {
            QType::A => TYPE_A,
            #[cfg(feature = "ipv6")]
            QType::Aaaa => TYPE_AAAA,
            QType::Srv => TYPE_SRV,
        }
    }
}

/// Writes a recursive query (RFC 1035 §4.1.1-4.1.2) into `buf`.
pub(super) fn write_query(buf: &mut [u8], id: u16, name: &Name, qtype: QType) -> Option<usize> {
    let wire = name.wire();
    let len = HEADER_LEN + wire.len() + 4;
    let out = buf.get_mut(..len)?;
    let (header, rest) = out.split_at_mut(HEADER_LEN);
    let (qname, tail) = rest.split_at_mut(wire.len());
    // header: id, flags (RD), QDCOUNT 1, AN/NS/AR 0
    let mut h = [0u8; HEADER_LEN];
    h[..2].copy_from_slice(&id.to_be_bytes());
    h[2..4].copy_from_slice(&FLAG_RD.to_be_bytes());
    h[4..6].copy_from_slice(&1u16.to_be_bytes());
    header.copy_from_slice(&h);
    qname.copy_from_slice(wire);
    // `tail` is exactly 4 bytes long by construction of `len`.
    let mut q = [0u8; 4];
    q[..2].copy_from_slice(&qtype.code().to_be_bytes());
    q[2..].copy_from_slice(&CLASS_IN.to_be_bytes());
    tail.copy_from_slice(&q);
    Some(len)
}

/// A reply that does not follow RFC 1035's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Malformed;

pub(super) fn read_u16(msg: &[u8], at: usize) -> Result<u16, Malformed> {
    let b = msg
        .get(at..at.checked_add(2).ok_or(Malformed)?)
        .ok_or(Malformed)?;
    Ok(u16::from_be_bytes([b[0], b[1]])) // b has exactly 2 bytes
}

pub(super) fn read_u32(msg: &[u8], at: usize) -> Result<u32, Malformed> {
    let b = msg
        .get(at..at.checked_add(4).ok_or(Malformed)?)
        .ok_or(Malformed)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])) // b has exactly 4 bytes
}

/// RFC 1035 §4.1.1 header.
#[derive(Debug)]
pub(super) struct Header {
    pub(super) id: u16,
    pub(super) flags: u16,
    pub(super) qdcount: u16,
    pub(super) ancount: u16,
    pub(super) nscount: u16,
    pub(super) arcount: u16,
}

impl Header {
    pub(super) fn parse(msg: &[u8]) -> Option<Header> {
        Some(Header {
            id: read_u16(msg, 0).ok()?,
            flags: read_u16(msg, 2).ok()?,
            qdcount: read_u16(msg, 4).ok()?,
            ancount: read_u16(msg, 6).ok()?,
            nscount: read_u16(msg, 8).ok()?,
            arcount: read_u16(msg, 10).ok()?,
        })
    }
}

/// Decodes the (possibly compressed, RFC 1035 §4.1.4) name at `pos`.
/// Returns it lower-cased and the offset just after it in place.
///
/// Loop protection: a pointer must point before the start of the label run
/// it ends, so each jump goes strictly backwards and decoding terminates; a
/// hop limit and the 255-octet name limit bound it further.
pub(super) fn read_name(msg: &[u8], pos: usize) -> Result<(Name, usize), Malformed> {
    let mut name = Name::empty();
    let mut at = pos;
    let mut run_start = pos;
    let mut end = None;
    let mut hops = 0;
    loop {
        let b = *msg.get(at).ok_or(Malformed)?;
        match b & 0xC0 {
            0x00 if b == 0 => {
                name.push_root().map_err(|_| Malformed)?;
                return Ok((name, end.unwrap_or(at + 1)));
            }
            0x00 => {
                let start = at + 1;
                let stop = start + usize::from(b);
                let label = msg.get(start..stop).ok_or(Malformed)?;
                name.push_label(label).map_err(|_| Malformed)?;
                at = stop;
            }
            0xC0 => {
                let low = *msg.get(at + 1).ok_or(Malformed)?;
                let target = (usize::from(b & 0x3F) << 8) | usize::from(low);
                hops += 1;
                if target >= run_start || hops > MAX_POINTER_HOPS {
                    return Err(Malformed);
                }
                end.get_or_insert(at + 2);
                at = target;
                run_start = target;
            }
            // 0x40 / 0x80: extended or reserved label types.
            _ => return Err(Malformed),
        }
    }
}

/// The offset just after the name at `pos`, without following pointers:
/// linear in the bytes walked, as each step moves forward.
fn skip_name(msg: &[u8], pos: usize) -> Result<usize, Malformed> {
    let mut at = pos;
    loop {
        let b = *msg.get(at).ok_or(Malformed)?;
        match b & 0xC0 {
            0x00 if b == 0 => return Ok(at + 1),
            0x00 => at += 1 + usize::from(b),
            0xC0 if at + 1 < msg.len() => return Ok(at + 2),
            _ => return Err(Malformed),
        }
    }
}

/// A resource record's fixed fields and where its owner and data are.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rr {
    owner: usize,
    pub(super) rtype: u16,
    pub(super) class: u16,
    pub(super) ttl: u32,
    pub(super) rdata: usize,
    pub(super) rdlen: usize,
}

impl Rr {
    pub(super) fn owner_is(&self, msg: &[u8], name: &Name) -> Result<bool, Malformed> {
        Ok(read_name(msg, self.owner)?.0 == *name)
    }

    /// A name inside RDATA at `offset` from its start; its in-place bytes must
    /// end within the RDATA.
    pub(super) fn rdata_name(&self, msg: &[u8], offset: usize) -> Result<Name, Malformed> {
        let (name, end) = read_name(msg, self.rdata + offset)?;
        if end > self.rdata + self.rdlen {
            return Err(Malformed);
        }
        Ok(name)
    }
}

/// RFC 1035 §4.1.3 resource record at `pos`; returns it and the next offset.
/// The owner name is only skipped here; it is decoded (and checked) when it
/// is compared.
fn read_rr(msg: &[u8], pos: usize) -> Result<(Rr, usize), Malformed> {
    let at = skip_name(msg, pos)?;
    let rtype = read_u16(msg, at)?;
    let class = read_u16(msg, at + 2)?;
    let ttl = read_u32(msg, at + 4)?;
    let rdlen = usize::from(read_u16(msg, at + 8)?);
    let rdata = at + 10;
    let next = rdata + rdlen;
    if next > msg.len() {
        return Err(Malformed);
    }
    let rr = Rr {
        owner: pos,
        rtype,
        class,
        ttl,
        rdata,
        rdlen,
    };
    Ok((rr, next))
}

/// The records of one section.
#[derive(Debug, Clone, Copy)]
pub(super) struct Section {
    pub(super) start: usize,
    pub(super) count: u16,
}

impl Section {
    pub(super) fn iter<'a>(&self, msg: &'a [u8]) -> RrIter<'a> {
        RrIter {
            msg,
            pos: self.start,
            left: self.count,
        }
    }

    /// Offset just after the section.
    pub(super) fn end(&self, msg: &[u8]) -> Result<usize, Malformed> {
        let mut it = self.iter(msg);
        for rr in it.by_ref() {
            rr?;
        }
        Ok(it.pos)
    }
}

pub(super) struct RrIter<'a> {
    msg: &'a [u8],
    pos: usize,
    left: u16,
}

impl Iterator for RrIter<'_> {
    type Item = Result<Rr, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match read_rr(self.msg, self.pos) {
            Ok((rr, next)) => {
                self.pos = next;
                Some(Ok(rr))
            }
            Err(e) => {
                self.left = 0;
                Some(Err(e))
            }
        }
    }
}
