//! Names kept resolved: the host names of the access lists, looked up
//! through the [`Resolver`] without blocking and refreshed on their TTL.
//!
//! # What it does
//! * [`Watch::set_names`] takes the names to follow (at start, and again on
//!   a reload, which re-resolves every one: the resolver forgets its cached
//!   address for them so the next lookup asks the nameservers).
//! * [`Watch::step`] asks the resolver for each name that is due: an A
//!   query (RFC 1035 §3.4.1) through the resolver's own queries, sockets,
//!   retransmissions and cache, counting as the LAN's work (sipnat's own
//!   configuration). At most [`MAX_WATCH_PENDING`] of these queries are
//!   in flight at once, so a reload never takes the slots the phones'
//!   lookups need.
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
//!   60 s), or after [`RETRY`] when nothing was cached.
//! * [`Watch`] answers [`Resolved::addrs`] for [`crate::config::Config::access_with`].
//!
//! # What it does not do
//! No sockets and no clock (time comes in as `now`); no queries of its own
//! (the [`Resolver`] sends them, the core flushes them with the proxy's);
//! no AAAA. Only the first A record of an answer is kept, as the resolver
//! keeps it and as siproxd did (`gethostbyname`'s first address): a name
//! with several A records at once (round robin) matches the one the last
//! answer listed first; write such a provider's network instead.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::wire::{Name, QType};
use super::{Answer, DnsError, Lookup, Resolver};
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

/// What the resolver says about an A lookup for the watch.
enum V4 {
    /// The address, and until when the cache holds it.
    Ready(Ipv4Addr, Instant),
    Pending,
    /// The watch's share of the queries is in use: wait for one to end.
    Busy,
    /// The resolver's table of queries is full: try again shortly.
    Full,
    /// The failure, and until when the cache remembers it.
    Failed(DnsError, Option<Instant>),
}

impl Resolver {
    /// An A lookup of `name` for the watch: from the cache with its expiry,
    /// or joining or (when `may_start`) starting a query.
    fn lookup_v4(&mut self, now: Instant, name: &Name, may_start: bool) -> V4 {
        let hit = self
            .cache
            .iter()
            .find(|e| e.qtype == QType::A && e.expires_at > now && e.name == *name);
        if let Some(e) = hit {
            return match e.answer {
                Answer::Addr(IpAddr::V4(ip)) => V4::Ready(ip, e.expires_at),
                Answer::Negative(err) => V4::Failed(err, Some(e.expires_at)),
                // Never stored under type A (and no AAAA is asked).
                _ => V4::Failed(DnsError::NoAddress, Some(e.expires_at)),
            };
        }
        let joins = self
            .queries()
            .any(|q| q.qtype == QType::A && q.name == *name);
        if !may_start && !joins {
            return V4::Busy;
        }
        match self.start(now, name.clone(), QType::A, Side::Lan) {
            Lookup::Failed(DnsError::TooManyPending) => V4::Full,
            Lookup::Failed(e) => V4::Failed(e, None),
            Lookup::Pending | Lookup::Ready(_) => V4::Pending,
        }
    }

    /// Forget the cached A answer for `name`, so the next lookup asks.
    fn forget_a(&mut self, name: &Name) {
        self.cache
            .retain(|e| !(e.qtype == QType::A && e.name == *name));
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
                dns.forget_a(&wire);
            }
            let before = old.iter().find(|w| w.name == name);
            let w = Watched {
                addr: before.and_then(|w| w.addr),
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

    /// Ask for every name that is due and take the answers that came. Call
    /// it after the resolver took a reply or timed a query out, and when
    /// [`Watch::poll_timeout`] has passed; then send what the resolver's
    /// `poll_transmit` gives.
    pub fn step(&mut self, now: Instant, dns: &mut Resolver, stats: &mut Stats) {
        let mut in_flight = self.names.iter().filter(|w| w.pending).count();
        for w in self.names.iter_mut() {
            if !w.pending && w.next > now {
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
            match dns.lookup_v4(now, &name, may_start) {
                V4::Pending => w.pending = true,
                // Still due: started when one of the watch's queries ends.
                V4::Busy => w.next = now,
                V4::Full => w.next = now + BUSY_RETRY,
                V4::Ready(ip, until) => {
                    stats.bump("acl-names", "resolved");
                    w.resolved(ip, stats);
                    w.next = until.clamp(now + REFRESH_FLOOR, now + REFRESH_CEILING);
                }
                V4::Failed(e, until) => {
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
}

impl Watched {
    fn resolved(&mut self, ip: Ipv4Addr, stats: &mut Stats) {
        if self.failing {
            log::info!("acl: host name {} resolves again: {ip}", self.name);
            self.failing = false;
        }
        match self.addr {
            Some(old) if old == ip => {}
            Some(old) => {
                stats.bump("acl-names", "changed");
                log::info!("acl: host name {} is now {ip} (was {old})", self.name);
            }
            None => log::info!("acl: host name {} is {ip}", self.name),
        }
        self.addr = Some(ip);
    }

    fn failed(&mut self, e: DnsError) {
        if self.failing {
            return;
        }
        self.failing = true;
        match self.addr {
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

impl Resolved for Watch {
    fn addrs(&self, name: &str) -> &[Ipv4Addr] {
        self.names
            .iter()
            .find(|w| w.name == name)
            .map(|w| w.addr.as_slice())
            .unwrap_or(&[])
    }
}
