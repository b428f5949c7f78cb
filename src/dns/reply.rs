//! What an accepted reply means for its query (RFC 1034 §5.2.2, RFC 2308,
//! RFC 2782, RFC 5452 §6): an address (A, or AAAA of RFC 3596 §2.1), a
//! chosen SRV target with its glue (one address per family), a negative
//! answer with its TTL, or "ask the next server". Only records of the
//! question's name (or the end of its CNAME chain) and glue for the chosen
//! SRV target are looked at.
//!
//! It does not check that a reply belongs to its query (id, source,
//! question: [`Resolver::handle_response`](super::Resolver::handle_response)
//! does that first), nor cache anything: the resolver stores the
//! [`Outcome`].

#[cfg(feature = "ipv6")]
use super::wire::TYPE_AAAA;
use super::wire::{
    CLASS_IN, FLAG_TC, Header, Malformed, Name, QType, RCODE_NOERROR, RCODE_NXDOMAIN, Rr, Section,
    TYPE_A, TYPE_CNAME, TYPE_SOA, TYPE_SRV, read_name, read_u16, read_u32,
};
use super::{DnsError, FAILURE_TTL, FAMILIES, Glue, MAX_CNAME_HOPS, Rng};
#[cfg(feature = "ipv6")]
use std::net::Ipv6Addr;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Positive answers are cached for their TTL, but at least this long ...
const POSITIVE_TTL_MIN: Duration = Duration::from_secs(30);
/// ... and at most this long.
const POSITIVE_TTL_MAX: Duration = Duration::from_secs(3600);
/// NXDOMAIN / no-data answers: the RFC 2308 §5 TTL clamped to this range
/// (the minimum is also used when the reply carries no SOA record).
const NEGATIVE_TTL_MIN: Duration = Duration::from_secs(10);
const NEGATIVE_TTL_MAX: Duration = Duration::from_secs(60);
/// SRV records of one answer that are considered; the rest are ignored.
const MAX_SRV_RECORDS: usize = 16;

/// What a reply means for its query.
// Lives on the stack for one reply; boxing the name would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Outcome {
    Addr(IpAddr, Duration),
    Srv {
        target: Name,
        port: u16,
        ttl: Duration,
        /// The target's address found in the same reply, per family
        /// (`[A, AAAA]`).
        glue: Glue<Duration>,
    },
    /// Cache this failure for this long.
    Negative(DnsError, Duration),
    /// This server cannot answer: ask the next one, if any.
    TryNext,
}

/// RFC 2181 §8: a TTL with the top bit set counts as 0; then clamped.
fn clamp_ttl(ttl: u32, min: Duration, max: Duration) -> Duration {
    let ttl = if ttl & 0x8000_0000 != 0 { 0 } else { ttl };
    Duration::from_secs(u64::from(ttl)).clamp(min, max)
}

/// Interprets an accepted reply whose question matched; `answers_at` is the
/// offset just after the question.
pub(super) fn interpret(
    msg: &[u8],
    header: &Header,
    answers_at: usize,
    qname: &Name,
    qtype: QType,
    rng: &mut Rng,
) -> Outcome {
    if header.flags & FLAG_TC != 0 {
        // RFC 1035 §4.1.1 TC: no TCP here, so a failure for this type.
        return Outcome::Negative(DnsError::ServerFailure, FAILURE_TTL);
    }
    let answers = Section {
        start: answers_at,
        count: header.ancount,
    };
    match header.flags & 0xF {
        RCODE_NOERROR => {}
        RCODE_NXDOMAIN => {
            // RFC 2308 §2.1, §5.
            return Outcome::Negative(DnsError::NoSuchName, negative_ttl(msg, header, answers));
        }
        // SERVFAIL, REFUSED, FORMERR, NOTIMP and the rest (RFC 1035 §4.1.1).
        _ => return Outcome::TryNext,
    }
    let result = match qtype {
        QType::A => addr_answer(msg, answers, qname, find_a),
        #[cfg(feature = "ipv6")]
        QType::Aaaa => addr_answer(msg, answers, qname, find_aaaa),
        QType::Srv => srv_answer(msg, header, answers, qname, rng),
    };
    match result {
        // RFC 2308 §2.2: NOERROR without the records asked for is "no data".
        Ok(None) => Outcome::Negative(DnsError::NoAddress, negative_ttl(msg, header, answers)),
        Ok(Some(outcome)) => outcome,
        Err(Malformed) => Outcome::TryNext,
    }
}

/// Follows the CNAME chain from `qname` within the answer section (RFC 1034
/// §5.2.2). Returns the final name and the smallest TTL along the chain.
fn follow_cnames(msg: &[u8], answers: Section, qname: &Name) -> Result<(Name, u32), Malformed> {
    let mut current = qname.clone();
    let mut ttl = u32::MAX;
    for _ in 0..MAX_CNAME_HOPS {
        let mut next = None;
        for rr in answers.iter(msg) {
            let rr = rr?;
            if rr.rtype == TYPE_CNAME && rr.class == CLASS_IN && rr.owner_is(msg, &current)? {
                next = Some((rr.rdata_name(msg, 0)?, rr.ttl));
                break;
            }
        }
        match next {
            Some((target, rr_ttl)) => {
                current = target;
                ttl = ttl.min(rr_ttl);
            }
            None => break,
        }
    }
    Ok((current, ttl))
}

/// An address record (and its TTL) found, or none.
type Found<T> = Result<Option<(T, u32)>, Malformed>;
/// A search for the address records of one family ([`find_a`], [`find_aaaa`]).
type Find<T> = fn(&[u8], Section, &Name) -> Found<T>;

/// The first A record of `name` in `section`, with its TTL. One of
/// another length than 4 octets (RFC 1035 §3.4.1) is skipped, as is any
/// record of another owner (RFC 5452 §6).
fn find_a(msg: &[u8], section: Section, name: &Name) -> Found<Ipv4Addr> {
    for rr in section.iter(msg) {
        let rr = rr?;
        if rr.rtype == TYPE_A && rr.class == CLASS_IN && rr.rdlen == 4 && rr.owner_is(msg, name)? {
            let b = msg.get(rr.rdata..rr.rdata + 4).ok_or(Malformed)?;
            // b has 4 bytes.
            return Ok(Some((Ipv4Addr::new(b[0], b[1], b[2], b[3]), rr.ttl)));
        }
    }
    Ok(None)
}

/// The first AAAA record of `name` in `section`, with its TTL: as
/// [`find_a`], with the 16 octets of RFC 3596 §2.2.
#[cfg(feature = "ipv6")]
fn find_aaaa(msg: &[u8], section: Section, name: &Name) -> Found<Ipv6Addr> {
    for rr in section.iter(msg) {
        let rr = rr?;
        if rr.rtype == TYPE_AAAA
            && rr.class == CLASS_IN
            && rr.rdlen == 16
            && rr.owner_is(msg, name)?
        {
            let b: Option<[u8; 16]> = msg
                .get(rr.rdata..rr.rdata + 16)
                .and_then(|b| b.try_into().ok());
            return Ok(Some((Ipv6Addr::from(b.ok_or(Malformed)?), rr.ttl)));
        }
    }
    Ok(None)
}

/// An A or AAAA answer: the record `find` looks for, of the question's
/// name or of the end of its CNAME chain; the TTL is the smallest along
/// the chain.
fn addr_answer<T: Into<IpAddr>>(
    msg: &[u8],
    answers: Section,
    qname: &Name,
    find: Find<T>,
) -> Result<Option<Outcome>, Malformed> {
    let (owner, chain_ttl) = follow_cnames(msg, answers, qname)?;
    Ok(find(msg, answers, &owner)?.map(|(ip, ttl)| {
        let ttl = clamp_ttl(ttl.min(chain_ttl), POSITIVE_TTL_MIN, POSITIVE_TTL_MAX);
        Outcome::Addr(ip.into(), ttl)
    }))
}

/// One SRV record (RFC 2782): where its target name is, not the name itself.
#[derive(Debug, Clone, Copy)]
struct SrvRecord {
    priority: u16,
    weight: u16,
    port: u16,
    ttl: u32,
    rr: Rr,
    is_root: bool,
}

fn srv_answer(
    msg: &[u8],
    header: &Header,
    answers: Section,
    qname: &Name,
    rng: &mut Rng,
) -> Result<Option<Outcome>, Malformed> {
    let (owner, chain_ttl) = follow_cnames(msg, answers, qname)?;
    let mut records: heapless::Vec<SrvRecord, MAX_SRV_RECORDS> = heapless::Vec::new();
    for rr in answers.iter(msg) {
        let rr = rr?;
        if rr.rtype != TYPE_SRV || rr.class != CLASS_IN || !rr.owner_is(msg, &owner)? {
            continue;
        }
        if rr.rdlen < 7 {
            return Err(Malformed);
        }
        let record = SrvRecord {
            priority: read_u16(msg, rr.rdata)?,
            weight: read_u16(msg, rr.rdata + 2)?,
            port: read_u16(msg, rr.rdata + 4)?,
            ttl: rr.ttl,
            rr,
            is_root: rr.rdata_name(msg, 6)?.is_root(),
        };
        // Records beyond MAX_SRV_RECORDS are ignored.
        let _ = records.push(record);
    }
    if records.is_empty() {
        return Ok(None);
    }
    let Some(chosen) = choose_srv(&records, rng) else {
        // Only "." targets: the service is not available (RFC 2782).
        let mut root = Name::empty();
        // An empty name always has room for the root label.
        let _ = root.push_root();
        let ttl = records.iter().map(|r| r.ttl).min().unwrap_or(0);
        return Ok(Some(Outcome::Srv {
            target: root,
            port: 0,
            ttl: clamp_ttl(ttl.min(chain_ttl), POSITIVE_TTL_MIN, POSITIVE_TTL_MAX),
            glue: [None; FAMILIES],
        }));
    };
    let target = chosen.rr.rdata_name(msg, 6)?;
    let ttl = clamp_ttl(
        chosen.ttl.min(chain_ttl),
        POSITIVE_TTL_MIN,
        POSITIVE_TTL_MAX,
    );
    // Glue: an address record of the chosen target in the answer or
    // additional section, one per family. Only that owner name is looked
    // at (RFC 5452 §6: records the question did not make relevant are
    // ignored), and the caller keeps it with this SRV answer alone (RFC
    // 2181 §5.4.1: additional data ranks below an answer, so it must not
    // stand in for one).
    // A broken A record in the answer section fails the reply as it always
    // did; AAAA glue is best effort (a broken one only costs a query).
    let glue = [
        glue(msg, header, answers, &target, find_a)?,
        #[cfg(feature = "ipv6")]
        glue(msg, header, answers, &target, find_aaaa).unwrap_or(None),
    ];
    Ok(Some(Outcome::Srv {
        target,
        port: chosen.port,
        ttl,
        glue,
    }))
}

/// The glue `find` finds for `target`: in the answer section, else in the
/// additional section, with its TTL clamped like an answer's.
fn glue<T: Into<IpAddr>>(
    msg: &[u8],
    header: &Header,
    answers: Section,
    target: &Name,
    find: Find<T>,
) -> Result<Option<(IpAddr, Duration)>, Malformed> {
    let mut glue = find(msg, answers, target)?;
    if glue.is_none() {
        if let Some(additional) = additional_section(msg, header, answers) {
            // Best effort: a broken additional section only costs a query.
            glue = find(msg, additional, target).unwrap_or(None);
        }
    }
    Ok(glue.map(|(ip, t)| {
        let ttl = clamp_ttl(t, POSITIVE_TTL_MIN, POSITIVE_TTL_MAX);
        (ip.into(), ttl)
    }))
}

/// RFC 2782 selection: lowest priority, then a weighted random pick.
fn choose_srv(records: &[SrvRecord], rng: &mut Rng) -> Option<SrvRecord> {
    let usable = || records.iter().filter(|r| !r.is_root);
    let priority = usable().map(|r| r.priority).min()?;
    let candidates = || usable().filter(move |r| r.priority == priority);
    let total: u64 = candidates().map(|r| u64::from(r.weight)).sum();
    if total == 0 {
        let count = candidates().count() as u64;
        let pick = rng.next_u64().checked_rem(count)?;
        return candidates().nth(pick as usize).copied();
    }
    let mut draw = rng.next_u64() % total; // total > 0
    for r in candidates() {
        let w = u64::from(r.weight);
        if draw < w {
            return Some(*r);
        }
        draw -= w;
    }
    None // unreachable: the weights sum to `total`
}

/// The additional section, if the sections before it parse.
fn additional_section(msg: &[u8], header: &Header, answers: Section) -> Option<Section> {
    let authority = Section {
        start: answers.end(msg).ok()?,
        count: header.nscount,
    };
    Some(Section {
        start: authority.end(msg).ok()?,
        count: header.arcount,
    })
}

/// RFC 2308 §5: the negative TTL is the smaller of the SOA record's TTL and
/// its MINIMUM field, clamped; without an SOA the shortest time is used.
fn negative_ttl(msg: &[u8], header: &Header, answers: Section) -> Duration {
    let soa_ttl = || -> Result<Option<u32>, Malformed> {
        let authority = Section {
            start: answers.end(msg)?,
            count: header.nscount,
        };
        for rr in authority.iter(msg) {
            let rr = rr?;
            if rr.rtype != TYPE_SOA || rr.class != CLASS_IN {
                continue;
            }
            // RDATA: MNAME, RNAME, SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM.
            let (_, after_mname) = read_name(msg, rr.rdata)?;
            let (_, after_rname) = read_name(msg, after_mname)?;
            if after_rname + 20 > rr.rdata + rr.rdlen {
                return Err(Malformed);
            }
            let minimum = read_u32(msg, after_rname + 16)?;
            return Ok(Some(rr.ttl.min(minimum)));
        }
        Ok(None)
    };
    match soa_ttl() {
        Ok(Some(ttl)) => clamp_ttl(ttl, NEGATIVE_TTL_MIN, NEGATIVE_TTL_MAX),
        _ => NEGATIVE_TTL_MIN,
    }
}
