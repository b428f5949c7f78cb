//! Non-blocking DNS stub resolver for SIP targets (A and SRV), sans-IO.
//!
//! # What it does
//! The SIP core asks [`Resolver::resolve`] where a request for `host` (and the
//! port, if the URI named one) should go. The resolver answers at once from an
//! IP literal or from its cache, or it starts a query and answers
//! [`Lookup::Pending`]; the core parks its work and retries it when
//! [`Resolver::handle_response`] returns `Ok(true)` or
//! [`Resolver::handle_timeout`] returns `true`.
//!
//! * RFC 3263 §4.2, simplified for UDP and without NAPTR: a numeric host is
//!   used as is (port 5060 unless given); a host name with a port is looked up
//!   with an A query; a host name without a port is looked up as the SRV name
//!   `_sip._udp.<host>` (`_sip._tcp.<host>` for TCP; RFC 3263 §4.2, RFC
//!   2782), then an A query for the
//!   chosen SRV target with the SRV port. When the SRV lookup finds nothing
//!   (NXDOMAIN or no SRV records) or the server cannot answer it, the resolver
//!   falls back to an A query for the host itself with port 5060.
//! * SRV choice (RFC 2782): the records of the lowest priority, one picked at
//!   random in proportion to its weight (records of weight 0 are picked only
//!   when every record of that priority has weight 0). The choice is made once
//!   per answer and cached, so one name keeps one destination for the TTL.
//!   An A record for the chosen target found in the same reply (answer or
//!   additional section, "glue") is kept *with that SRV entry* for its own
//!   TTL, which saves the second query.
//! * What a reply may teach (RFC 5452 §6, RFC 2181 §5.4.1): a reply is cached
//!   under its question only. An A answer is the A record of the question's
//!   name or of the end of its CNAME chain; an SRV answer is the SRV records
//!   of the question's name (or chain end) plus glue for the chosen target.
//!   Every other record is ignored, whatever the section. Glue ranks below
//!   an answer (RFC 2181 §5.4.1: additional-section data is the least
//!   credible), so it is never cached under the target's own name: an SRV
//!   answer for a domain an attacker controls may name the provider's host
//!   as its target, and its glue must neither replace nor pre-empt the
//!   address a real A query for that host returns. When both exist, the
//!   cached A answer for the target is used before the glue.
//! * CNAME chains inside one answer are followed (RFC 1034 §3.6.2, §5.2.2), up
//!   to [`MAX_CNAME_HOPS`].
//! * A cache of [`MAX_DNS_CACHE`] entries: positive answers for their TTL
//!   clamped to 30 s … 1 h; NXDOMAIN and "no data" for the SOA-derived negative
//!   TTL (RFC 2308 §5) clamped to 10 s … 60 s; a lookup that timed out or that
//!   no server could answer is remembered as failed for 30 s (RFC 2308 §7), so
//!   the caller's retry sees [`Lookup::Failed`] instead of starting over. When
//!   the cache is full, an expired entry is reused first, then the entry
//!   nearest its expiry (a cache may forget; no call is lost by it).
//! * At most [`MAX_DNS_PENDING`] queries in flight, of which at most
//!   [`MAX_DNS_PENDING_WAN`] may work for the WAN (the [`Side`] whose
//!   message needed the lookup; sipnat's own configuration counts as the
//!   LAN): a WAN lookup
//!   beyond that share fails at once with [`DnsError::WanQuota`] (not
//!   cached), so names a WAN sender supplies cannot keep the table full and
//!   starve the phones' own lookups. Callers asking for the same name and
//!   type share one query, whichever side started it. Each query is
//!   retransmitted after 1 s, 2 s and 4 s across the nameservers in turn
//!   (RFC 1035 §4.2.1, the resolv.conf behaviour); it fails 4 s after the
//!   fourth try.
//! * Anti-spoofing (RFC 5452 §9.1, §9.2; RFC 2181 §4): each query has a
//!   random 16-bit id from a xorshift PRNG seeded by the caller, and a
//!   [`QueryHandle`] that asks the driver for a socket of its own (a fresh
//!   random source port per query; its retransmissions keep it). A reply is
//!   accepted only on the socket of its query, from an address the query
//!   was sent to, with the query's id, question name (compared
//!   case-insensitively, RFC 4343) and question type and class; anything
//!   else is refused with its reason ([`Ignored`]) for the caller to count.
//! * SERVFAIL, REFUSED, FORMERR, NOTIMP or a malformed answer move the query
//!   on to the next nameserver not tried yet, if there is one; otherwise the
//!   lookup fails with [`DnsError::ServerFailure`].
//! * A truncated reply (TC bit, RFC 1035 §4.1.1) is a failure for that record
//!   type: no TCP retry. For SRV this means the A fallback.
//! * Names in replies may be compressed (RFC 1035 §4.1.4). A pointer must point
//!   before the start of the label run that contains it, which makes every
//!   decoding terminate (no loops); every read is bounds-checked, so a hostile
//!   reply cannot make the resolver panic.
//! * [`parse_resolv_conf`] reads the `nameserver` lines of a resolv.conf text.
//!
//! # What it does not do
//! No sockets, no clock, no file reading: the driver sends what
//! [`Resolver::poll_transmit`] gives from the socket of its [`QueryHandle`]
//! (opened on port 0 when a handle is new, so the kernel picks a random
//! ephemeral port; closed once [`Resolver::in_flight`] is false, or failed
//! with [`Resolver::socket_failed`] when it cannot be opened), feeds what
//! that socket receives to [`Resolver::handle_response`] with the handle,
//! arms its poll timeout with [`Resolver::poll_timeout`], and reads
//! resolv.conf. The driver must seed the PRNG from an unpredictable source:
//! the id alone is only 16 bits of defence, the port adds about as many.
//! No bailiwick check (a stub does not know zone cuts): glue needs none, as
//! it only ever serves the SRV name it came with. No per-side share of
//! the cache: answers to WAN lookups are cached like any other and can push
//! entries out (a cache may forget; that costs a query, never a wrong
//! address). No AAAA (IPv4 addresses only for now), no NAPTR, no TCP, no
//! EDNS0, no DNSSEC, no search domains; only the first A record of an answer
//! is used and only one SRV target is tried (no fail-over to the next SRV
//! target). Queries for one name with different port arguments share the A
//! lookup.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use crate::limits::{MAX_DNS_CACHE, MAX_DNS_NAME, MAX_DNS_PENDING, MAX_DNS_PENDING_WAN};
use crate::side::Side;
use crate::transport::Transport;

/// Nameservers used, as glibc's `MAXNS` (resolv.conf(5)).
pub const MAX_NAMESERVERS: usize = 3;
/// The DNS server port (RFC 1035 §4.2.1).
pub const DNS_PORT: u16 = 53;
/// The SIP port used when neither the URI nor SRV gives one (RFC 3263 §4.2).
pub const SIP_DEFAULT_PORT: u16 = 5060;
/// Longest query [`Resolver::poll_transmit`] writes: header, name, type, class.
pub const MAX_QUERY_LEN: usize = HEADER_LEN + MAX_DNS_NAME + 4;
/// CNAME records followed inside one answer before giving up.
pub const MAX_CNAME_HOPS: usize = 8;

/// Positive answers are cached for their TTL, but at least this long ...
const POSITIVE_TTL_MIN: Duration = Duration::from_secs(30);
/// ... and at most this long.
const POSITIVE_TTL_MAX: Duration = Duration::from_secs(3600);
/// NXDOMAIN / no-data answers: the RFC 2308 §5 TTL clamped to this range
/// (the minimum is also used when the reply carries no SOA record).
const NEGATIVE_TTL_MIN: Duration = Duration::from_secs(10);
const NEGATIVE_TTL_MAX: Duration = Duration::from_secs(60);
/// A lookup that timed out or that no server could answer (RFC 2308 §7).
const FAILURE_TTL: Duration = Duration::from_secs(30);
/// A lookup that failed here (no socket for its query): remembered just long
/// enough that the work parked on it fails instead of starting it again at
/// once, short enough that a passing shortage of descriptors is soon over.
const LOCAL_FAILURE_TTL: Duration = Duration::from_secs(5);
/// How long each try waits for its reply; one entry per try (RFC 1035 §4.2.1
/// asks for retransmission with back-off across the servers).
const TRY_TIMEOUTS: [Duration; MAX_TRIES] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(4),
];
/// Transmissions of one query before it fails with [`DnsError::Timeout`].
const MAX_TRIES: usize = 4;
/// SRV records of one answer that are considered; the rest are ignored.
const MAX_SRV_RECORDS: usize = 16;
/// Compression pointers followed while decoding one name (belt and braces:
/// the "points before its label run" rule already bounds the decoding).
const MAX_POINTER_HOPS: usize = 128;

// RFC 1035 §4.1.1 header layout and §3.2.2 / RFC 2782 / RFC 3596 type codes.
const HEADER_LEN: usize = 12;
const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const RCODE_NOERROR: u16 = 0;
const RCODE_NXDOMAIN: u16 = 3;
const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;

/// One query in flight, as the driver sees it: the slot it holds in the
/// resolver's table (`0..MAX_DNS_PENDING`, stable while the query lives) and
/// a serial number no other query of this resolver had, so a handle of a
/// query that has ended never matches the next query in the same slot.
///
/// Each query leaves from its own socket (RFC 5452 §9.2: a random source
/// port per query): the driver opens one when it first sees a handle,
/// passes the handle back with every datagram read from it, and closes it
/// when [`Resolver::in_flight`] says the query is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryHandle {
    slot: u8,
    serial: u32,
}

// Slots are numbered with a u8.
const _: () = assert!(MAX_DNS_PENDING <= 256);

impl QueryHandle {
    /// The slot, `0..MAX_DNS_PENDING`: the driver's index for the socket.
    pub fn slot(self) -> usize {
        usize::from(self.slot)
    }
}

/// Why a datagram was not taken as the reply to its query (counted by the
/// caller; RFC 5452 §9.1 lists what a reply must match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Shorter than a DNS header.
    Runt,
    /// The query this socket was opened for is over (answered, failed or
    /// timed out): a late or duplicate reply.
    Stale,
    /// Not the id of the query this socket was opened for.
    WrongId,
    /// Not from a nameserver the query was sent to.
    WrongSource,
    /// Not a standard reply (QR clear, another opcode) or not exactly one
    /// question, or another question than the one asked.
    WrongQuestion,
}

impl Ignored {
    /// A short, stable text for status counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::Runt => "dns-runt",
            Ignored::Stale => "dns-stale",
            Ignored::WrongId => "dns-wrong-id",
            Ignored::WrongSource => "dns-wrong-source",
            Ignored::WrongQuestion => "dns-wrong-question",
        }
    }
}

/// The answer to [`Resolver::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Send it here.
    Ready(SocketAddr),
    /// A query is in flight: park the work and retry it when
    /// `handle_response` or `handle_timeout` return `true`.
    Pending,
    /// The name cannot be resolved now (cached for a short while).
    Failed(DnsError),
}

/// Why a lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// NXDOMAIN (RFC 1035 §4.1.1 RCODE 3), or a host name that cannot exist
    /// (empty label, characters outside letters, digits, `-` and `_`).
    NoSuchName,
    /// The name exists but has no A record, or its SRV record says the
    /// service is not available (target ".", RFC 2782).
    NoAddress,
    /// No reply after every retransmission.
    Timeout,
    /// Already [`MAX_DNS_PENDING`] queries in flight (not cached).
    TooManyPending,
    /// A lookup for the WAN while WAN work already holds its share
    /// ([`MAX_DNS_PENDING_WAN`]) of the queries in flight (not cached).
    WanQuota,
    /// A label longer than 63 octets or a name longer than 255 (RFC 1035 §2.3.4).
    NameTooLong,
    /// No nameserver configured.
    NoNameserver,
    /// SERVFAIL / REFUSED / malformed or truncated replies from every server.
    ServerFailure,
    /// The driver could not open a socket for the query (cached briefly).
    NoSocket,
}

impl DnsError {
    /// A short, stable text for logs and status counters.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsError::NoSuchName => "no-such-name",
            DnsError::NoAddress => "no-address",
            DnsError::Timeout => "timeout",
            DnsError::TooManyPending => "too-many-pending",
            DnsError::WanQuota => "wan-quota",
            DnsError::NameTooLong => "name-too-long",
            DnsError::NoNameserver => "no-nameserver",
            DnsError::ServerFailure => "server-failure",
            DnsError::NoSocket => "no-socket",
        }
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A domain name in wire format (length-prefixed labels ending with the root
/// label 0), lower-cased so that equality is the case-insensitive comparison
/// of RFC 4343. Invariant: `len <= MAX_DNS_NAME` (255), always true for a u8.
#[derive(Clone, PartialEq, Eq)]
struct Name {
    len: u8,
    buf: [u8; MAX_DNS_NAME],
}

impl Name {
    /// An empty buffer to which labels are appended (not yet a valid name).
    fn empty() -> Name {
        Name {
            len: 0,
            buf: [0; MAX_DNS_NAME],
        }
    }

    /// Wire bytes, root label included.
    fn wire(&self) -> &[u8] {
        // `len` is a u8 and `buf` has 255 bytes: the range is always in bounds.
        &self.buf[..usize::from(self.len)]
    }

    fn is_root(&self) -> bool {
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
    fn push_root(&mut self) -> Result<(), DnsError> {
        let at = usize::from(self.len);
        let slot = self.buf.get_mut(at).ok_or(DnsError::NameTooLong)?;
        *slot = 0;
        self.len += 1;
        Ok(())
    }

    /// A host name as written in a SIP URI (`example.com` or `example.com.`).
    fn from_host(host: &str) -> Result<Name, DnsError> {
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

    /// `_sip._udp.<self>` or `_sip._tcp.<self>`, the SRV name of RFC 3263
    /// §4.2 / RFC 2782 for the transport.
    fn sip_srv(&self, transport: Transport) -> Result<Name, DnsError> {
        let mut name = Name::empty();
        name.push_label(b"_sip")?;
        name.push_label(match transport {
            Transport::Udp => b"_udp",
            Transport::Tcp => b"_tcp",
        })?;
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
enum QType {
    A,
    Srv,
}

impl QType {
    fn code(self) -> u16 {
        match self {
            QType::A => TYPE_A,
            QType::Srv => TYPE_SRV,
        }
    }
}

/// What the cache remembers for one (name, type).
// Entries are fixed-size table slots by design (no heap): the size difference
// between variants is the price of not boxing the SRV target.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Answer {
    Addr(IpAddr),
    /// The chosen SRV target; the root name means "service not available".
    Srv {
        target: Name,
        port: u16,
        /// An address for `target` that came with this SRV answer, and until
        /// when it may be used. It serves lookups through this SRV name only:
        /// it is never cached under `target` (RFC 2181 §5.4.1, RFC 5452 §6).
        glue: Option<(IpAddr, Instant)>,
    },
    Negative(DnsError),
}

#[derive(Debug, Clone)]
struct CacheEntry {
    name: Name,
    qtype: QType,
    answer: Answer,
    stored_at: Instant,
    expires_at: Instant,
}

/// A query in flight.
#[derive(Debug)]
struct Query {
    name: Name,
    qtype: QType,
    id: u16,
    /// Tells this query from every other one that used its slot.
    serial: u32,
    /// Tries scheduled so far, 1..=MAX_TRIES; try `k` goes to nameserver
    /// `(k - 1) % n`.
    tries: u8,
    /// The current try still has to be handed to the driver.
    need_send: bool,
    /// When the current try times out.
    deadline: Instant,
    /// Addresses this query was sent to: the only accepted reply sources.
    sent_to: heapless::Vec<SocketAddr, MAX_TRIES>,
    /// Whom the query works for (the side that started it; a lookup of the
    /// same name from the other side shares it).
    side: Side,
}

/// xorshift64* (Vigna, 2016): small, fast, good enough for query ids and the
/// SRV weight draw when the caller seeds it unpredictably.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // xorshift must not start at 0.
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn next_u16(&mut self) -> u16 {
        // The high bits are the best ones of xorshift64*.
        (self.next_u64() >> 48) as u16
    }
}

/// The non-blocking stub resolver: nameservers, queries in flight, cache and
/// PRNG, all in fixed-capacity storage (about 23 KB).
pub struct Resolver {
    nameservers: heapless::Vec<SocketAddr, MAX_NAMESERVERS>,
    /// Queries in flight; the index is the slot of their [`QueryHandle`].
    pending: [Option<Query>; MAX_DNS_PENDING],
    cache: heapless::Vec<CacheEntry, MAX_DNS_CACHE>,
    rng: Rng,
    /// The serial number of the next query.
    next_serial: u32,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("nameservers", &self.nameservers)
            .field("pending", &self.queries().count())
            .field("cache", &self.cache.len())
            .finish()
    }
}

impl Resolver {
    /// A resolver asking `nameservers` (the first [`MAX_NAMESERVERS`]), with
    /// its PRNG seeded by `seed` (give it something unpredictable).
    pub fn new(nameservers: &[SocketAddr], seed: u64) -> Resolver {
        let mut r = Resolver {
            nameservers: heapless::Vec::new(),
            pending: [const { None }; MAX_DNS_PENDING],
            cache: heapless::Vec::new(),
            rng: Rng::new(seed),
            next_serial: 0,
        };
        r.set_nameservers(nameservers);
        r
    }

    /// Replaces the nameservers (e.g. after resolv.conf changed). Queries in
    /// flight are sent again to the new servers if the list changed; their
    /// replies are still accepted from the servers already asked.
    pub fn set_nameservers(&mut self, ns: &[SocketAddr]) {
        let ns = ns.get(..MAX_NAMESERVERS).unwrap_or(ns);
        if self.nameservers.as_slice() == ns {
            return;
        }
        self.nameservers.clear();
        for &addr in ns {
            // Cannot fail: `ns` has at most MAX_NAMESERVERS entries.
            let _ = self.nameservers.push(addr);
        }
        for q in self.pending.iter_mut().flatten() {
            q.need_send = true;
        }
    }

    /// The nameservers in use.
    pub fn nameservers(&self) -> &[SocketAddr] {
        &self.nameservers
    }

    /// Where should a SIP request for `host` (`port` if the URI named one)
    /// go over `transport`? Never blocks (RFC 3263 §4.2, see the module
    /// docs). `side` is the side whose message needs the answer (sipnat's
    /// own work: the LAN); it decides the quota a new query counts in.
    pub fn resolve(
        &mut self,
        now: Instant,
        host: &str,
        port: Option<u16>,
        transport: Transport,
        side: Side,
    ) -> Lookup {
        // A numeric host needs no lookup (RFC 3263 §4.2); IPv6 references
        // come bracketed from SIP URIs (RFC 3261 §25.1).
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Lookup::Ready(SocketAddr::new(ip, port.unwrap_or(SIP_DEFAULT_PORT)));
        }
        let name = match Name::from_host(host) {
            Ok(name) => name,
            Err(e) => return Lookup::Failed(e),
        };
        if let Some(port) = port {
            return self.lookup_addr(now, &name, port, side);
        }
        let Ok(srv_name) = name.sip_srv(transport) else {
            // No SRV name can be formed (too long): only the A fallback is left.
            return self.lookup_addr(now, &name, SIP_DEFAULT_PORT, side);
        };
        match self.cached(now, &srv_name, QType::Srv) {
            Some(Answer::Srv { target, port, glue }) => {
                if target.is_root() {
                    // RFC 2782: target "." = service decidedly not available.
                    return Lookup::Failed(DnsError::NoAddress);
                }
                let (target, port, glue) = (target.clone(), *port, *glue);
                // RFC 2181 §5.4.1: the answer to our own A query for the
                // target ranks above glue that came with the SRV answer.
                if let Some(Answer::Addr(ip)) = self.cached(now, &target, QType::A) {
                    return Lookup::Ready(SocketAddr::new(*ip, port));
                }
                if let Some((ip, _)) = glue.filter(|(_, until)| *until > now) {
                    return Lookup::Ready(SocketAddr::new(ip, port));
                }
                self.lookup_addr(now, &target, port, side)
            }
            // A dead nameserver: an A query would only wait as long again;
            // no socket here: an A query would need one too.
            Some(Answer::Negative(e @ (DnsError::Timeout | DnsError::NoSocket))) => {
                Lookup::Failed(*e)
            }
            // No SRV records or no usable SRV answer: A of the host, port 5060.
            Some(Answer::Negative(_)) | Some(Answer::Addr(_)) => {
                self.lookup_addr(now, &name, SIP_DEFAULT_PORT, side)
            }
            None => self.start(now, srv_name, QType::Srv, side),
        }
    }

    /// Feeds a datagram received on the socket of `query`. `Ok(true)`: a
    /// lookup completed (answer or failure), so the caller retries the work
    /// it parked; `Ok(false)`: the reply was taken but the query goes on (to
    /// the next server); `Err`: not a reply to that query, and why.
    pub fn handle_response(
        &mut self,
        now: Instant,
        query: QueryHandle,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<bool, Ignored> {
        let header = Header::parse(data).ok_or(Ignored::Runt)?;
        let slot = query.slot();
        let q = self
            .pending
            .get(slot)
            .and_then(Option::as_ref)
            .filter(|q| q.serial == query.serial)
            .ok_or(Ignored::Stale)?;
        // RFC 5452 §9.1: the id, the server asked, and the question asked.
        if q.id != header.id {
            log::trace!("dns: unexpected reply id {} from {from}", header.id);
            return Err(Ignored::WrongId);
        }
        if !q.sent_to.contains(&from) {
            log::trace!("dns: reply from {from}, which was not asked");
            return Err(Ignored::WrongSource);
        }
        let opcode = (header.flags >> 11) & 0xF;
        if header.flags & FLAG_QR == 0 || opcode != 0 || header.qdcount != 1 {
            return Err(Ignored::WrongQuestion);
        }
        let (qname, after) = read_name(data, HEADER_LEN).map_err(|_| Ignored::WrongQuestion)?;
        let (Ok(qtype), Ok(qclass)) = (read_u16(data, after), read_u16(data, after + 2)) else {
            return Err(Ignored::WrongQuestion);
        };
        if qname != q.name || qtype != q.qtype.code() || qclass != CLASS_IN {
            log::trace!("dns: reply from {from} answers another question");
            return Err(Ignored::WrongQuestion);
        }
        let outcome = interpret(data, &header, after + 4, &q.name, q.qtype, &mut self.rng);
        let outcome = match outcome {
            Outcome::TryNext => {
                let tries = usize::from(q.tries);
                if tries < self.nameservers.len() && tries < MAX_TRIES {
                    if let Some(q) = self.pending.get_mut(slot).and_then(Option::as_mut) {
                        log::debug!("dns: {} failed at {from}, asking the next server", q.name);
                        q.tries += 1;
                        q.need_send = true;
                        q.deadline = now + try_timeout(q.tries);
                    }
                    return Ok(false);
                }
                Outcome::Negative(DnsError::ServerFailure, FAILURE_TTL)
            }
            other => other,
        };
        // Found above: the slot holds this query.
        let Some(q) = self.pending.get_mut(slot).and_then(Option::take) else {
            return Err(Ignored::Stale);
        };
        match outcome {
            Outcome::Addr(ip, ttl) => {
                log::debug!("dns: {} A {ip}", q.name);
                self.store(now, q.name, q.qtype, Answer::Addr(ip), ttl);
            }
            Outcome::Srv {
                target,
                port,
                ttl,
                glue,
            } => {
                log::debug!("dns: {} SRV {target}:{port}", q.name);
                // The glue stays with this SRV entry: an A record the
                // answer carries for its target is believed for this
                // lookup only, never cached under the target's own name,
                // where it could replace (or pre-empt) the address of a
                // name someone else's SRV answer happens to point at.
                let glue = glue.map(|(ip, glue_ttl)| (ip, now + glue_ttl));
                let answer = Answer::Srv { target, port, glue };
                self.store(now, q.name, q.qtype, answer, ttl);
            }
            Outcome::Negative(e, ttl) => {
                log::debug!("dns: {} {:?}: {e}", q.name, q.qtype);
                self.store(now, q.name, q.qtype, Answer::Negative(e), ttl);
            }
            // Turned into Negative above.
            Outcome::TryNext => {}
        }
        Ok(true)
    }

    /// Next query datagram to send: writes it into `buf` (at least
    /// [`MAX_QUERY_LEN`] bytes is always enough) and returns the query it
    /// belongs to (send it from that query's socket), the nameserver and the
    /// length. Call until `None`.
    pub fn poll_transmit(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
    ) -> Option<(QueryHandle, SocketAddr, usize)> {
        let n = self.nameservers.len();
        for (slot, q) in self.pending.iter_mut().enumerate() {
            let Some(q) = q.as_mut().filter(|q| q.need_send) else {
                continue;
            };
            let Some(index) = usize::from(q.tries)
                .checked_sub(1)
                .and_then(|k| k.checked_rem(n))
            else {
                // No nameserver: the query will time out.
                q.need_send = false;
                continue;
            };
            let server = *self.nameservers.get(index)?;
            let len = write_query(buf, q.id, &q.name, q.qtype)?;
            q.need_send = false;
            if !q.sent_to.contains(&server) {
                // Full only if the nameservers changed several times while in
                // flight: late replies from that server are then ignored.
                let _ = q.sent_to.push(server);
            }
            // `slot < MAX_DNS_PENDING <= 256` (asserted at QueryHandle).
            let handle = QueryHandle {
                slot: slot as u8,
                serial: q.serial,
            };
            return Some((handle, server, len));
        }
        None
    }

    /// Is `query` still in flight? Once it is not, its socket can be closed:
    /// no reply to it will be taken any more.
    pub fn in_flight(&self, query: QueryHandle) -> bool {
        self.pending
            .get(query.slot())
            .and_then(Option::as_ref)
            .is_some_and(|q| q.serial == query.serial)
    }

    /// The driver could not open a socket for `query`: the lookup fails with
    /// [`DnsError::NoSocket`], remembered for a few seconds so the work
    /// parked on it fails too rather than starting it again at once. Returns
    /// true if the query was in flight (retry the parked work).
    pub fn socket_failed(&mut self, now: Instant, query: QueryHandle) -> bool {
        if !self.in_flight(query) {
            return false;
        }
        let Some(q) = self.pending.get_mut(query.slot()).and_then(Option::take) else {
            return false;
        };
        log::debug!("dns: {} {:?}: no socket", q.name, q.qtype);
        let failed = Answer::Negative(DnsError::NoSocket);
        self.store(now, q.name, q.qtype, failed, LOCAL_FAILURE_TTL);
        true
    }

    /// Earliest time [`Resolver::handle_timeout`] must be called
    /// (retransmission or give-up), if any query is in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queries().map(|q| q.deadline).min()
    }

    /// Retransmits or fails overdue queries. Returns true if a lookup failed
    /// (the caller retries its parked work, which then sees `Failed`).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        let mut failed = false;
        for slot in 0..self.pending.len() {
            let Some(q) = self.pending.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if q.deadline > now {
                continue;
            }
            if usize::from(q.tries) < MAX_TRIES {
                // Retransmitted with the same id, from the same socket.
                q.tries += 1;
                q.need_send = true;
                q.deadline = now + try_timeout(q.tries);
                continue;
            }
            let Some(q) = self.pending.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            log::debug!("dns: {} {:?}: timeout", q.name, q.qtype);
            self.store(
                now,
                q.name,
                q.qtype,
                Answer::Negative(DnsError::Timeout),
                FAILURE_TTL,
            );
            failed = true;
        }
        failed
    }

    /// The queries in flight.
    fn queries(&self) -> impl Iterator<Item = &Query> {
        self.pending.iter().flatten()
    }

    /// The unexpired cache entry for (name, type).
    fn cached(&self, now: Instant, name: &Name, qtype: QType) -> Option<&Answer> {
        self.cache
            .iter()
            .find(|e| e.qtype == qtype && e.expires_at > now && e.name == *name)
            .map(|e| &e.answer)
    }

    /// A lookup of `name` for the address, to be used with `port`.
    fn lookup_addr(&mut self, now: Instant, name: &Name, port: u16, side: Side) -> Lookup {
        match self.cached(now, name, QType::A) {
            Some(Answer::Addr(ip)) => Lookup::Ready(SocketAddr::new(*ip, port)),
            Some(Answer::Negative(e)) => Lookup::Failed(*e),
            // Never stored under type A.
            Some(Answer::Srv { .. }) => Lookup::Failed(DnsError::NoAddress),
            None => self.start(now, name.clone(), QType::A, side),
        }
    }

    /// Joins the query for (name, type) in flight, or starts one for
    /// `side` if its quota allows.
    fn start(&mut self, now: Instant, name: Name, qtype: QType, side: Side) -> Lookup {
        if self.queries().any(|q| q.qtype == qtype && q.name == name) {
            return Lookup::Pending;
        }
        if self.nameservers.is_empty() {
            return Lookup::Failed(DnsError::NoNameserver);
        }
        // The WAN's share is checked first: a WAN lookup refused while the
        // table is also full is counted as what it is, WAN work over quota.
        if side == Side::Wan
            && self.queries().filter(|q| q.side == Side::Wan).count() >= MAX_DNS_PENDING_WAN
        {
            return Lookup::Failed(DnsError::WanQuota);
        }
        let Some(slot) = self.pending.iter().position(Option::is_none) else {
            return Lookup::Failed(DnsError::TooManyPending);
        };
        let id = self.fresh_id();
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        let query = Query {
            name,
            qtype,
            id,
            serial,
            tries: 1,
            need_send: true,
            deadline: now + try_timeout(1),
            sent_to: heapless::Vec::new(),
            side,
        };
        if let Some(free) = self.pending.get_mut(slot) {
            // A new query: the driver gives it a new socket (RFC 5452 §9.2).
            *free = Some(query);
        }
        Lookup::Pending
    }

    /// A random id not used by another query in flight.
    fn fresh_id(&mut self) -> u16 {
        loop {
            let id = self.rng.next_u16();
            // At most MAX_DNS_PENDING - 1 ids are taken: this ends quickly.
            if !self.queries().any(|q| q.id == id) {
                return id;
            }
        }
    }

    /// Caches an answer; when full, reuses an expired entry, else the one
    /// nearest its expiry, preferring entries not stored just now.
    fn store(&mut self, now: Instant, name: Name, qtype: QType, answer: Answer, ttl: Duration) {
        let entry = CacheEntry {
            name,
            qtype,
            answer,
            stored_at: now,
            expires_at: now + ttl,
        };
        if let Some(e) = self
            .cache
            .iter_mut()
            .find(|e| e.qtype == entry.qtype && e.name == entry.name)
        {
            *e = entry;
            return;
        }
        let Err(entry) = self.cache.push(entry) else {
            return;
        };
        let victim = self
            .cache
            .iter()
            .position(|e| e.expires_at <= now)
            .or_else(|| {
                self.cache
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.stored_at != now)
                    .min_by_key(|(_, e)| e.expires_at)
                    .map(|(i, _)| i)
            })
            .or_else(|| {
                self.cache
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| e.expires_at)
                    .map(|(i, _)| i)
            });
        if let Some(slot) = victim.and_then(|i| self.cache.get_mut(i)) {
            *slot = entry;
        }
    }
}

/// The wait after try number `tries` (1-based).
fn try_timeout(tries: u8) -> Duration {
    let k = usize::from(tries).saturating_sub(1);
    TRY_TIMEOUTS
        .get(k)
        .copied()
        .unwrap_or(TRY_TIMEOUTS[MAX_TRIES - 1])
}

/// Writes a recursive query (RFC 1035 §4.1.1-4.1.2) into `buf`.
fn write_query(buf: &mut [u8], id: u16, name: &Name, qtype: QType) -> Option<usize> {
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
struct Malformed;

fn read_u16(msg: &[u8], at: usize) -> Result<u16, Malformed> {
    let b = msg
        .get(at..at.checked_add(2).ok_or(Malformed)?)
        .ok_or(Malformed)?;
    Ok(u16::from_be_bytes([b[0], b[1]])) // b has exactly 2 bytes
}

fn read_u32(msg: &[u8], at: usize) -> Result<u32, Malformed> {
    let b = msg
        .get(at..at.checked_add(4).ok_or(Malformed)?)
        .ok_or(Malformed)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])) // b has exactly 4 bytes
}

/// RFC 1035 §4.1.1 header.
#[derive(Debug)]
struct Header {
    id: u16,
    flags: u16,
    qdcount: u16,
    ancount: u16,
    nscount: u16,
    arcount: u16,
}

impl Header {
    fn parse(msg: &[u8]) -> Option<Header> {
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
fn read_name(msg: &[u8], pos: usize) -> Result<(Name, usize), Malformed> {
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
struct Rr {
    owner: usize,
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: usize,
    rdlen: usize,
}

impl Rr {
    fn owner_is(&self, msg: &[u8], name: &Name) -> Result<bool, Malformed> {
        Ok(read_name(msg, self.owner)?.0 == *name)
    }

    /// A name inside RDATA at `offset` from its start; its in-place bytes must
    /// end within the RDATA.
    fn rdata_name(&self, msg: &[u8], offset: usize) -> Result<Name, Malformed> {
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
struct Section {
    start: usize,
    count: u16,
}

impl Section {
    fn iter<'a>(&self, msg: &'a [u8]) -> RrIter<'a> {
        RrIter {
            msg,
            pos: self.start,
            left: self.count,
        }
    }

    /// Offset just after the section.
    fn end(&self, msg: &[u8]) -> Result<usize, Malformed> {
        let mut it = self.iter(msg);
        for rr in it.by_ref() {
            rr?;
        }
        Ok(it.pos)
    }
}

struct RrIter<'a> {
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

/// What a reply means for its query.
// Lives on the stack for one reply; boxing the name would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Outcome {
    Addr(IpAddr, Duration),
    Srv {
        target: Name,
        port: u16,
        ttl: Duration,
        /// An A record for the target found in the same reply.
        glue: Option<(IpAddr, Duration)>,
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
fn interpret(
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
        QType::A => a_answer(msg, answers, qname),
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

/// The first A record of `name` in `section`, with its TTL.
fn find_a(msg: &[u8], section: Section, name: &Name) -> Result<Option<(Ipv4Addr, u32)>, Malformed> {
    for rr in section.iter(msg) {
        let rr = rr?;
        if rr.rtype == TYPE_A && rr.class == CLASS_IN && rr.rdlen == 4 && rr.owner_is(msg, name)? {
            let b = msg.get(rr.rdata..rr.rdata + 4).ok_or(Malformed)?;
            return Ok(Some((Ipv4Addr::new(b[0], b[1], b[2], b[3]), rr.ttl))); // b has 4 bytes
        }
    }
    Ok(None)
}

fn a_answer(msg: &[u8], answers: Section, qname: &Name) -> Result<Option<Outcome>, Malformed> {
    let (owner, chain_ttl) = follow_cnames(msg, answers, qname)?;
    Ok(find_a(msg, answers, &owner)?.map(|(ip, ttl)| {
        let ttl = clamp_ttl(ttl.min(chain_ttl), POSITIVE_TTL_MIN, POSITIVE_TTL_MAX);
        Outcome::Addr(IpAddr::V4(ip), ttl)
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
            glue: None,
        }));
    };
    let target = chosen.rr.rdata_name(msg, 6)?;
    let ttl = clamp_ttl(
        chosen.ttl.min(chain_ttl),
        POSITIVE_TTL_MIN,
        POSITIVE_TTL_MAX,
    );
    // Glue: an A record of the chosen target in the answer or additional
    // section. Only that owner name is looked at (RFC 5452 §6: records the
    // question did not make relevant are ignored), and the caller keeps it
    // with this SRV answer alone (RFC 2181 §5.4.1: additional data ranks
    // below an answer, so it must not stand in for one).
    let mut glue = find_a(msg, answers, &target)?;
    if glue.is_none() {
        if let Some(additional) = additional_section(msg, header, answers) {
            // Best effort: a broken additional section only costs a query.
            glue = find_a(msg, additional, &target).unwrap_or(None);
        }
    }
    let glue = glue.map(|(ip, t)| {
        (
            IpAddr::V4(ip),
            clamp_ttl(t, POSITIVE_TTL_MIN, POSITIVE_TTL_MAX),
        )
    });
    Ok(Some(Outcome::Srv {
        target,
        port: chosen.port,
        ttl,
        glue,
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

/// Reads the `nameserver` lines of a resolv.conf(5) text: IPv4 and IPv6
/// literals (an IPv6 zone is accepted only as a number), port 53, at most
/// [`MAX_NAMESERVERS`]; other lines, comments and bad addresses are skipped.
pub fn parse_resolv_conf(text: &str) -> heapless::Vec<SocketAddr, MAX_NAMESERVERS> {
    let mut out = heapless::Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next().and_then(parse_nameserver) else {
            continue;
        };
        if out.contains(&addr) {
            continue;
        }
        if out.push(addr).is_err() {
            break;
        }
    }
    out
}

fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    if let Ok(ip) = word.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, DNS_PORT));
    }
    // fe80::1%2: link-local with a numeric scope id.
    let (ip, zone) = word.split_once('%')?;
    let ip = ip.parse::<Ipv6Addr>().ok()?;
    let scope = zone.parse::<u32>().ok()?;
    Some(SocketAddr::V6(SocketAddrV6::new(ip, DNS_PORT, 0, scope)))
}

#[cfg(test)]
mod tests;
