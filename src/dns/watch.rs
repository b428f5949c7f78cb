//! Names kept resolved: the host names of the access lists, looked up
//! through the [`Resolver`] without blocking and refreshed on their TTL.
//!
//! # What it does
//! * [`Watch::set_names`] takes the names to follow (at start, and again on
//!   a reload, which re-resolves every one: the resolver forgets its cached
//!   address for them so the next lookup asks the nameservers).
//! * [`Watch::step`] asks the resolver for each name that is due: an A
//!   query (RFC 1035 §3.4.1), and an AAAA query (RFC 3596 §2.1) as well
//!   when the caller's [`Families`] include IPv6 (only AAAA for
//!   [`Families::V6`]; only A for [`Families::V4`], as before), through
//!   the resolver's own queries, sockets, retransmissions and cache,
//!   counting as the LAN's work (sipnat's own configuration). At most
//!   [`MAX_WATCH_PENDING`] names have queries in flight at once (two each
//!   when both families are asked), so a reload never takes the slots the
//!   phones' lookups need. Both families' addresses are kept, each with no
//!   preference: an access list matches either.
//! * Refresh: a name is asked again when the resolver's cached answer
//!   expires (its TTL, RFC 1035 §3.2.1, as the cache clamps it), but not
//!   sooner than [`REFRESH_FLOOR`] (60 s, siproxd's `DNS_GOOD_AGE`: a name
//!   with a TTL of a few seconds would otherwise cost a query every 30 s
//!   for an answer an access list does not need that fresh) and not later
//!   than [`REFRESH_CEILING`] (1 h, the cache's own ceiling: a provider
//!   that moves is followed within the hour whatever its TTL says).
//! * A failed lookup (NXDOMAIN, no address, timeout, no server) keeps the
//!   last address that resolved: an access list does not lose its
//!   provider because a nameserver is down for a minute. The failure is
//!   counted (`acl-names.failed`) and logged once per failure streak, with
//!   the next success logged too. A name that failed is asked again when
//!   the resolver's negative cache entry expires (RFC 2308 §5 and §7: 10 to
//!   60 s), or after [`RETRY`] when nothing was cached. With both families
//!   asked, each address is taken as its family answers, and the name
//!   counts as resolved once neither is pending and either has an address
//!   (a name with no AAAA record is no failure); the refresh follows the
//!   families that answered, and a family that failed keeps its last
//!   address.
//! * [`Watch`] answers [`Resolved::addrs`] (IPv4) for
//!   [`crate::config::Config::access_with`], and `Watch::addrs6` (IPv6).
//!
//! # What it does not do
//! No sockets and no clock (time comes in as `now`); no queries of its own
//! (the [`Resolver`] sends them, the core flushes them with the proxy's).
//! Only the first record of each family's answer is kept, as the resolver
//! keeps it and as siproxd did (`gethostbyname`'s first address): a name
//! with several A records at once (round robin) matches the one the last
//! answer listed first; write such a provider's network instead.

#[cfg(feature = "ipv6")]
use std::net::Ipv6Addr;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::wire::{Name, QType};
use super::{Answer, DnsError, Families, Lookup, Resolver};
use crate::config::{HostName, Resolved};
use crate::limits::{MAX_WATCH_PENDING, MAX_WATCHED_NAMES};
use crate::side::Side;
use crate::stats::Stats;

/// A name is asked again no sooner than this after an answer.
pub const REFRESH_FLOOR: Duration = Duration::from_secs(60);
/// ... and no later than this.
pub const REFRESH_CEILING: Duration = Duration::from_secs(3600);
/// After a failure the resolver did not cache (no nameserver), ask again
/// this much later.
pub const RETRY: Duration = Duration::from_secs(10);
/// When the resolver had no free query slot, try again this much later.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// One name followed.
#[derive(Debug, Clone)]
struct Watched {
    name: HostName,
    /// The last address it resolved to; kept through failed refreshes.
    addr: Option<Ipv4Addr>,
    /// The same for IPv6 (AAAA), when asked.
    #[cfg(feature = "ipv6")]
    addr6: Option<Ipv6Addr>,
    /// When to ask next (while not pending).
    next: Instant,
    /// A query for it is in flight.
    pending: bool,
    /// The last lookup failed (logged once per streak).
    failing: bool,
}

/// The names followed, in fixed storage ([`MAX_WATCHED_NAMES`]).
#[derive(Debug, Default)]
pub struct Watch {
    names: heapless::Vec<Watched, MAX_WATCHED_NAMES>,
}

/// An address the watch keeps: either family, or IPv4 alone in a build
/// without the `ipv6` feature (which then carries no IPv6 address through
/// the watch's code at all).
#[cfg(feature = "ipv6")]
type Addr = IpAddr;
#[cfg(not(feature = "ipv6"))]
type Addr = Ipv4Addr;

/// What the resolver says about one family's lookup for the watch.
#[derive(Debug, Clone, Copy)]
enum Got {
    /// The address, and until when the cache holds it.
    Ready(Addr, Instant),
    Pending,
    /// The watch's share of the queries is in use: wait for one to end.
    Busy,
    /// The resolver's table of queries is full: try again shortly.
    Full,
    /// The failure, and until when the cache remembers it.
    Failed(DnsError, Option<Instant>),
}

impl Resolver {
    /// A lookup of `name`'s `qtype` (A or AAAA) for the watch: from the
    /// cache with its expiry, or joining or (when `may_start`) starting a
    /// query.
    fn lookup_watched(&mut self, now: Instant, name: &Name, qtype: QType, may_start: bool) -> Got {
        if let Some(e) = self.cache_entry(now, name, qtype) {
            return match e.answer {
                #[cfg(feature = "ipv6")]
                Answer::Addr(ip) => Got::Ready(ip, e.expires_at),
                #[cfg(not(feature = "ipv6"))]
                Answer::Addr(IpAddr::V4(ip)) => Got::Ready(ip, e.expires_at),
                Answer::Negative(err) => Got::Failed(err, Some(e.expires_at)),
                // Never stored under an address type (nor, without IPv6,
                // an IPv6 address).
                _ => Got::Failed(DnsError::NoAddress, Some(e.expires_at)),
            };
        }
        let joins = self.queries().any(|q| q.qtype == qtype && q.name == *name);
        if !may_start && !joins {
            return Got::Busy;
        }
        match self.start(now, name.clone(), qtype, Side::Lan) {
            Lookup::Failed(DnsError::TooManyPending) => Got::Full,
            Lookup::Failed(e) => Got::Failed(e, None),
            Lookup::Pending | Lookup::Ready(_) => Got::Pending,
        }
    }

    /// Forget the cached addresses (A, AAAA) of `name`, so the next lookup
    /// asks.
    fn forget_addrs(&mut self, name: &Name) {
        self.cache
            .retain(|e| !(e.qtype != QType::Srv && e.name == *name));
    }
}

impl Watch {
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Follow `names` from now on (duplicates are followed once; beyond
    /// [`MAX_WATCHED_NAMES`] the rest is ignored, which the configuration's
    /// own limits rule out). A name already followed keeps its address
    /// until its new answer; every name is asked again at once (a reload
    /// re-resolves), bypassing the resolver's cache.
    pub fn set_names<'a>(
        &mut self,
        now: Instant,
        names: impl IntoIterator<Item = &'a str>,
        dns: &mut Resolver,
    ) {
        let old = core::mem::take(&mut self.names);
        for n in names {
            if self.names.iter().any(|w| w.name.eq_ignore_ascii_case(n)) {
                continue;
            }
            let Ok(name) = HostName::try_from(n) else {
                continue;
            };
            if let Ok(wire) = Name::from_host(&name) {
                dns.forget_addrs(&wire);
            }
            let before = old.iter().find(|w| w.name == name);
            let w = Watched {
                addr: before.and_then(|w| w.addr),
                #[cfg(feature = "ipv6")]
                addr6: before.and_then(|w| w.addr6),
                failing: before.is_some_and(|w| w.failing),
                name,
                next: now,
                pending: false,
            };
            if self.names.push(w).is_err() {
                log::warn!("acl: more than {MAX_WATCHED_NAMES} host names, ignoring {n}");
            }
        }
    }

    /// Whether any name is followed.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// When [`Watch::step`] must run next: when a name is due. Names whose
    /// query is in flight, and names waiting for the watch's share of
    /// queries while it is in use, are stepped when the resolver answers or
    /// times out instead.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.names.iter().filter(|w| w.pending).count() >= MAX_WATCH_PENDING {
            // Nothing could start before one of those queries ends, and its
            // end (reply or time-out) steps the watch.
            return None;
        }
        self.names
            .iter()
            .filter(|w| !w.pending)
            .map(|w| w.next)
            .min()
    }

    /// Ask for every name that is due, for the address records of
    /// `families` (today's core: [`Families::V4`]), and take the answers
    /// that came. Call it after the resolver took a reply or timed a query
    /// out, and when [`Watch::poll_timeout`] has passed; then send what the
    /// resolver's `poll_transmit` gives.
    pub fn step(
        &mut self,
        now: Instant,
        dns: &mut Resolver,
        stats: &mut Stats,
        families: Families,
    ) {
        let mut in_flight = self.names.iter().filter(|w| w.pending).count();
        for w in self.names.iter_mut() {
            if !w.pending && !crate::due(&now, &w.next) {
                continue;
            }
            let Ok(name) = Name::from_host(&w.name) else {
                // The configuration only keeps valid host names.
                w.next = now + REFRESH_CEILING;
                continue;
            };
            let may_start = in_flight < MAX_WATCH_PENDING;
            let was_pending = w.pending;
            w.pending = false;
            match w.ask(now, &name, dns, stats, families, may_start) {
                Got::Pending => w.pending = true,
                // Still due: started when one of the watch's queries ends.
                Got::Busy => w.next = now,
                Got::Full => w.next = now + BUSY_RETRY,
                Got::Ready(ip, until) => {
                    stats.bump("acl-names", "resolved");
                    w.resolved(ip, stats);
                    w.next = until.clamp(now + REFRESH_FLOOR, now + REFRESH_CEILING);
                }
                Got::Failed(e, until) => {
                    stats.bump("acl-names", "failed");
                    w.failed(e);
                    w.next = until.unwrap_or(now + RETRY).max(now + BUSY_RETRY);
                }
            }
            match (was_pending, w.pending) {
                (false, true) => in_flight += 1,
                (true, false) => in_flight = in_flight.saturating_sub(1),
                _ => {}
            }
        }
    }

    /// The IPv6 addresses `name` resolves to (AAAA, when a step asked for
    /// it); empty while unknown.
    #[cfg(feature = "ipv6")]
    pub fn addrs6(&self, name: &str) -> &[Ipv6Addr] {
        self.names
            .iter()
            .find(|w| w.name == name)
            .map(|w| w.addr6.as_slice())
            .unwrap_or(&[])
    }
}

impl Watched {
    /// What the resolver says of this name for `families`: A alone for
    /// [`Families::V4`] (and whatever the build lacks IPv6 for), AAAA
    /// alone for [`Families::V6`], else both taken together ([`Watched::both`]).
    fn ask(
        &mut self,
        now: Instant,
        name: &Name,
        dns: &mut Resolver,
        stats: &mut Stats,
        families: Families,
        may_start: bool,
    ) -> Got {
        #[cfg(feature = "ipv6")]
        return match families {
            Families::V4 => dns.lookup_watched(now, name, QType::A, may_start),
            Families::V6 => dns.lookup_watched(now, name, QType::Aaaa, may_start),
            Families::V6First | Families::V4First => {
                let a = dns.lookup_watched(now, name, QType::A, may_start);
                let aaaa = dns.lookup_watched(now, name, QType::Aaaa, may_start);
                self.both(a, aaaa, stats)
            }
        };
        #[cfg(not(feature = "ipv6"))]
        {
            let _ = (families, stats, &self);
            dns.lookup_watched(now, name, QType::A, may_start)
        }
    }

    /// Both families' answers as one: an address is taken as it comes;
    /// the name waits while either family is pending or waiting for room,
    /// resolves when either has an address (refreshed when the first of
    /// them expires), and fails when both fail.
    #[cfg(feature = "ipv6")]
    fn both(&mut self, a: Got, b: Got, stats: &mut Stats) -> Got {
        match (a, b) {
            (Got::Pending, other) | (other, Got::Pending) => {
                if let Got::Ready(ip, _) = other {
                    self.resolved(ip, stats);
                }
                Got::Pending
            }
            (Got::Busy, _) | (_, Got::Busy) => Got::Busy,
            (Got::Full, _) | (_, Got::Full) => Got::Full,
            (Got::Ready(ip, until), Got::Ready(ip2, until2)) => {
                self.resolved(ip, stats);
                Got::Ready(ip2, until.min(until2))
            }
            (Got::Ready(ip, until), Got::Failed(..)) | (Got::Failed(..), Got::Ready(ip, until)) => {
                Got::Ready(ip, until)
            }
            // Not cached (None) is retried soonest.
            (Got::Failed(e, until), Got::Failed(_, until2)) => Got::Failed(e, until.min(until2)),
        }
    }

    fn resolved(&mut self, ip: Addr, stats: &mut Stats) {
        if self.failing {
            log::info!("acl: host name {} resolves again: {ip}", self.name);
            self.failing = false;
        }
        #[cfg(feature = "ipv6")]
        match ip {
            IpAddr::V4(ip) => note(&self.name, &mut self.addr, ip, stats),
            IpAddr::V6(ip) => note(&self.name, &mut self.addr6, ip, stats),
        }
        #[cfg(not(feature = "ipv6"))]
        note(&self.name, &mut self.addr, ip, stats);
    }

    fn failed(&mut self, e: DnsError) {
        if self.failing {
            return;
        }
        self.failing = true;
        #[cfg(feature = "ipv6")]
        let kept = self.addr.map(IpAddr::V4).or(self.addr6.map(IpAddr::V6));
        #[cfg(not(feature = "ipv6"))]
        let kept = self.addr;
        match kept {
            Some(ip) => log::warn!(
                "acl: host name {} does not resolve ({e}); keeping {ip} until it does",
                self.name
            ),
            None => log::warn!(
                "acl: host name {} does not resolve ({e}); its entries match nobody until it does",
                self.name
            ),
        }
    }
}

/// A name's new address of one family: logged when it is new or changed
/// (`acl-names.changed` counts a change).
fn note<T: PartialEq + Copy + core::fmt::Display>(
    name: &HostName,
    slot: &mut Option<T>,
    ip: T,
    stats: &mut Stats,
) {
    match *slot {
        Some(old) if old == ip => {}
        Some(old) => {
            stats.bump("acl-names", "changed");
            log::info!("acl: host name {name} is now {ip} (was {old})");
        }
        None => log::info!("acl: host name {name} is {ip}"),
    }
    *slot = Some(ip);
}

impl Resolved for Watch {
    fn addrs(&self, name: &str) -> &[Ipv4Addr] {
        self.names
            .iter()
            .find(|w| w.name == name)
            .map(|w| w.addr.as_slice())
            .unwrap_or(&[])
    }
}
