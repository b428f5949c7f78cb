//! Non-blocking DNS stub resolver for SIP targets (A, AAAA and SRV), sans-IO.
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
//!   by its address records; a host name without a port is looked up as the
//!   SRV name `_sip._udp.<host>` (`_sip._tcp.<host>` for TCP; RFC 3263 §4.2,
//!   RFC 2782), then by the address records of the chosen SRV target with
//!   the SRV port. When the SRV lookup finds nothing (NXDOMAIN or no SRV
//!   records) or the server cannot answer it, the resolver falls back to
//!   the address records of the host itself with port 5060.
//! * Address records of the [`Families`] the caller asks: A, AAAA (RFC 3596
//!   §2.1), or both at once with one preferred, its answer waited for at
//!   most 50 ms once the other family's came (RFC 8305 §3), and a choice of
//!   the other family pinned for its TTL (RFC 3263 §4.4); `lookup.rs` says
//!   how. With [`Families::V4`] it asks exactly the A queries it always did.
//! * SRV choice (RFC 2782): the records of the lowest priority, one picked at
//!   random in proportion to its weight (records of weight 0 are picked only
//!   when every record of that priority has weight 0). The choice is made once
//!   per answer and cached, so one name keeps one destination for the TTL.
//!   An A and an AAAA record for the chosen target found in the same reply
//!   (answer or additional section, "glue") are kept *with that SRV entry*,
//!   one per family, each for its own TTL, which saves the second query.
//! * What a reply may teach (RFC 5452 §6, RFC 2181 §5.4.1): a reply is cached
//!   under its question only. An A (AAAA) answer is the A (AAAA) record of
//!   the question's name or of the end of its CNAME chain (one of the wrong
//!   length, RFC 1035 §3.4.1, RFC 3596 §2.2, is skipped); an SRV answer is
//!   the SRV records of the question's name (or chain end) plus glue for the
//!   chosen target.
//!   Every other record is ignored, whatever the section. Glue ranks below
//!   an answer (RFC 2181 §5.4.1: additional-section data is the least
//!   credible), so it is never cached under the target's own name: an SRV
//!   answer for a domain an attacker controls may name the provider's host
//!   as its target, and its glue must neither replace nor pre-empt the
//!   address a real A or AAAA query for that host returns. When both exist,
//!   the cached answer for the target is used before the glue of its family.
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
//! address). No NAPTR, no TCP, no EDNS0, no DNSSEC, no search domains;
//! only the first address record of an answer is used and only one SRV
//! target is tried (no fail-over to the next SRV target). Queries for one
//! name with different port arguments share the address lookups.
//!
//! Files: this one holds the [`Resolver`] (queries in flight, retries,
//! quotas, cache); `wire.rs` the DNS wire format (names, the query, reading
//! a reply); `reply.rs` what an accepted reply means for its query;
//! `lookup.rs` [`Resolver::resolve`] (RFC 3263 §4.2, the families);
//! `resolv_conf.rs` the [`parse_resolv_conf`] reader; [`watch`] the names
//! kept resolved on their TTL (the access lists' host names).

use core::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::limits::{MAX_DNS_CACHE, MAX_DNS_NAME, MAX_DNS_PENDING, MAX_DNS_PENDING_WAN};
use crate::side::Side;

mod lookup;
mod reply;
mod resolv_conf;
mod view;
pub mod watch;
mod wire;

pub use lookup::Families;
use reply::{Outcome, interpret};
pub use resolv_conf::parse_resolv_conf;
pub use view::CacheView;
pub use watch::Watch;
use wire::{CLASS_IN, FLAG_QR, HEADER_LEN, Header, Name, QType, read_name, read_u16, write_query};

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
        /// Addresses for `target` that came with this SRV answer, one per
        /// family (`[A, AAAA]`). They serve lookups through this SRV name
        /// only: never cached under `target` (RFC 2181 §5.4.1, RFC 5452 §6).
        glue: [Option<Held>; FAMILIES],
    },
    Negative(DnsError),
}

/// Address families the build knows: IPv4, and IPv6 with the `ipv6`
/// feature. SRV glue has a slot for each.
const FAMILIES: usize = if cfg!(feature = "ipv6") { 2 } else { 1 };

/// Glue as a reply gives it: per family, the address and its TTL.
type Glue<T> = [Option<(IpAddr, T)>; FAMILIES];

/// An SRV target's address kept with its SRV entry (glue).
#[derive(Debug, Clone, Copy)]
struct Held {
    ip: IpAddr,
    /// Until when it may be used (its own TTL).
    until: Instant,
    /// A lookup of both families chose it over the preferred one: it stays
    /// the choice while it lives (`lookup.rs`, RFC 3263 §4.4).
    pinned: bool,
}

#[derive(Debug, Clone)]
struct CacheEntry {
    name: Name,
    qtype: QType,
    answer: Answer,
    stored_at: Instant,
    expires_at: Instant,
    /// An address a lookup of both families chose over the preferred
    /// family: that choice stays until the entry expires (`lookup.rs`).
    pinned: bool,
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
    /// When the query was started.
    #[cfg(feature = "ipv6")]
    started: Instant,
    /// A lookup of both families waits for this query, the preferred
    /// family's, until then, when it takes the other family's address
    /// (RFC 8305 §3 resolution delay; `lookup.rs`). Cleared when it passes.
    #[cfg(feature = "ipv6")]
    delay: Option<Instant>,
    /// Addresses this query was sent to: the only accepted reply sources.
    sent_to: heapless::Vec<SocketAddr, MAX_TRIES>,
    /// Whom the query works for (the side that started it; a lookup of the
    /// same name from the other side shares it).
    side: Side,
}

impl Query {
    /// When the resolver must look at this query next: the end of its try,
    /// or of a resolution delay before that.
    fn wake_at(&self) -> Instant {
        #[cfg(feature = "ipv6")]
        if let Some(d) = self.delay {
            return d.min(self.deadline);
        }
        self.deadline
    }
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
/// PRNG, all in fixed-capacity storage (about 36 KB).
pub struct Resolver {
    nameservers: heapless::Vec<SocketAddr, MAX_NAMESERVERS>,
    /// Queries in flight; the index is the slot of their [`QueryHandle`].
    /// Boxed tables (about 36 KB): never copied through the stack, and the
    /// cache's pages touched only as it fills.
    pending: Box<[Option<Query>; MAX_DNS_PENDING]>,
    cache: Box<heapless::Vec<CacheEntry, MAX_DNS_CACHE>>,
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
            pending: Box::new([const { None }; MAX_DNS_PENDING]),
            cache: Box::default(),
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
                log::debug!("dns: {} {} {ip}", q.name, q.qtype.as_str());
                self.store(now, q.name, q.qtype, Answer::Addr(ip), ttl);
            }
            Outcome::Srv {
                target,
                port,
                ttl,
                glue,
            } => {
                log::debug!("dns: {} SRV {target}:{port}", q.name);
                // The glue stays with this SRV entry: an address record
                // the answer carries for its target is believed for this
                // lookup only, never cached under the target's own name,
                // where it could replace (or pre-empt) the address of a
                // name someone else's SRV answer happens to point at.
                let glue = glue.map(|g| {
                    g.map(|(ip, glue_ttl)| Held {
                        ip,
                        until: now + glue_ttl,
                        pinned: false,
                    })
                });
                let answer = Answer::Srv { target, port, glue };
                self.store(now, q.name, q.qtype, answer, ttl);
            }
            Outcome::Negative(e, ttl) => {
                log::debug!("dns: {} {}: {e}", q.name, q.qtype.as_str());
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
        log::debug!("dns: {} {}: no socket", q.name, q.qtype.as_str());
        let failed = Answer::Negative(DnsError::NoSocket);
        self.store(now, q.name, q.qtype, failed, LOCAL_FAILURE_TTL);
        true
    }

    /// Earliest time [`Resolver::handle_timeout`] must be called
    /// (retransmission, give-up, or the end of a resolution delay), if any
    /// query is in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queries().map(Query::wake_at).min()
    }

    /// Retransmits or fails overdue queries, and ends resolution delays
    /// that are over. Returns true if a lookup failed or may now use the
    /// address it waited with (the caller retries its parked work, which
    /// then sees `Failed` or `Ready`).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        let mut done = false;
        for slot in 0..self.pending.len() {
            let Some(q) = self.pending.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            #[cfg(feature = "ipv6")]
            if q.delay.is_some_and(|d| crate::due(&now, &d)) {
                q.delay = None;
                done = true;
            }
            if !crate::due(&now, &q.deadline) {
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
            log::debug!("dns: {} {}: timeout", q.name, q.qtype.as_str());
            self.store(
                now,
                q.name,
                q.qtype,
                Answer::Negative(DnsError::Timeout),
                FAILURE_TTL,
            );
            done = true;
        }
        done
    }

    /// The queries in flight.
    fn queries(&self) -> impl Iterator<Item = &Query> {
        self.pending.iter().flatten()
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
            #[cfg(feature = "ipv6")]
            started: now,
            #[cfg(feature = "ipv6")]
            delay: None,
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
            pinned: false,
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
            .position(|e| crate::due(&now, &e.expires_at))
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

#[cfg(test)]
mod tests;
