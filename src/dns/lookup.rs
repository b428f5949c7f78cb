//! Where a SIP request goes: RFC 3263 §4.2 over the resolver's cache and
//! queries, for one address family or both ([`Resolver::resolve`]).
//!
//! # What it does
//! * A numeric host is used as is (port 5060 unless given; 5061 for TLS,
//!   RFC 3261 §19.1.2). A host name
//!   with a port is looked up by its address records; without a port by
//!   the SRV name `_sip._udp.<host>` (`_sip._tcp.` for TCP, `_sips._tcp.`
//!   for TLS), then the
//!   address records of the chosen target with the SRV port; when the SRV
//!   lookup finds nothing usable, by the address records of the host
//!   itself with the transport's default port (RFC 3263 §4.2).
//! * Which address records is the caller's [`Families`]: `V4` asks A only
//!   and `V6` AAAA only (RFC 3596 §2.1), each exactly as one query type
//!   always was; `V6First` and `V4First` ask both.
//! * The address of one family for a name: the cached answer to its own
//!   query, else (for an SRV target) the glue of that family kept with the
//!   SRV entry (RFC 2181 §5.4.1: an answer ranks above glue), else the
//!   family's cached failure, else a query.
//! * Both families (RFC 8305 §3, without the connection racing of §5):
//!   - an address pinned by an earlier lookup is used (below);
//!   - else the preferred family's address, when known, is used at once
//!     (the other family is then not asked);
//!   - else both queries start together (or join those in flight);
//!   - when the preferred family fails (NXDOMAIN, no data, timeout, server
//!     failure, no room for its query), the other family's address is
//!     used; when both fail, the lookup fails with the preferred family's
//!     error, or the other's when the preferred one merely has no record;
//!   - when the other family's address is known while the preferred query
//!     is still in flight, the lookup waits for it until
//!     [`RESOLUTION_DELAY`] (50 ms, RFC 8305 §3) after the later of that
//!     address's arrival and the preferred query's start, then takes the
//!     other family's address. [`Resolver::poll_timeout`] names that
//!     moment and [`Resolver::handle_timeout`] then says "retry", so the
//!     wait runs on the caller's clock, virtual or not.
//! * Pinning (RFC 3263 §4.4: a retransmission goes where the request went):
//!   an address of the non-preferred family that a lookup returns is
//!   pinned in the entry that holds it (its cache entry, or the glue slot
//!   of its SRV entry). While that entry lives, every lookup of both
//!   families for the name returns it, even after the preferred family's
//!   answer came in; it ends with the entry's TTL. The preferred family's
//!   address needs no pin: a later lookup takes it first anyway.
//!
//! # What it does not do
//! No racing of connections and no sorting of addresses (RFC 6724): sipnat
//! sends a datagram to one address, the first record of the answer of the
//! family chosen. One preference per name at a time: a lookup with
//! another order for a name being looked up shares its queries and pins.
//! Only one SRV target is tried. With the cargo feature `ipv6` off, every
//! [`Families`] value asks A only (as `V4`).

use super::wire::{Name, QType};
use super::{Answer, CacheEntry, DnsError, Lookup, Resolver};
use crate::side::Side;
use crate::transport::Transport;
use std::net::{IpAddr, SocketAddr};
#[cfg(feature = "ipv6")]
use std::time::Duration;
use std::time::Instant;

/// How long a lookup of both families waits for the preferred family once
/// the other family's address is known (RFC 8305 §3 "Resolution Delay",
/// its recommended 50 ms).
#[cfg(feature = "ipv6")]
pub const RESOLUTION_DELAY: Duration = Duration::from_millis(50);

/// The address families a lookup asks for, and which one it prefers
/// (RFC 8305 §3). Chosen by the core for each lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Families {
    /// IPv4 only: A records.
    V4,
    /// IPv6 only: AAAA records.
    V6,
    /// Both at once, IPv6 preferred.
    V6First,
    /// Both at once, IPv4 preferred.
    V4First,
}

/// One address family: the type of its records and its slot in an SRV
/// entry's glue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    #[cfg(feature = "ipv6")]
    V6,
}

impl Fam {
    fn qtype(self) -> QType {
        match self {
            Fam::V4 => QType::A,
            #[cfg(feature = "ipv6")]
            Fam::V6 => QType::Aaaa,
        }
    }

    fn glue_slot(self) -> usize {
        self as usize
    }
}

#[cfg(feature = "ipv6")]
impl Families {
    /// The preferred family, and the other one when both are asked.
    fn order(self) -> (Fam, Option<Fam>) {
        match self {
            Families::V4 => (Fam::V4, None),
            Families::V6 => (Fam::V6, None),
            Families::V6First => (Fam::V6, Some(Fam::V4)),
            Families::V4First => (Fam::V4, Some(Fam::V6)),
        }
    }
}

/// What the resolver knows of one family's address for a name.
#[derive(Debug, Clone, Copy)]
enum Known {
    /// An address; whether a lookup of both families pinned it, and since
    /// when it is known (the arrival of its answer).
    #[cfg_attr(not(feature = "ipv6"), allow(dead_code))]
    Addr {
        ip: IpAddr,
        pinned: bool,
        since: Instant,
    },
    /// A failure (cached, or a query that could not start).
    Failed(DnsError),
    /// Nothing cached.
    Unknown,
    /// A query is in flight.
    #[cfg(feature = "ipv6")]
    Asked,
}

impl Resolver {
    /// Where should a SIP request for `host` (`port` if the URI named one)
    /// go over `transport`, with addresses of `families`? Never blocks
    /// (RFC 3263 §4.2, see the module docs). `side` is the side whose
    /// message needs the answer (sipnat's own work: the LAN); it decides
    /// the quota a new query counts in.
    pub fn resolve(
        &mut self,
        now: Instant,
        host: &str,
        port: Option<u16>,
        transport: Transport,
        side: Side,
        families: Families,
    ) -> Lookup {
        // A numeric host needs no lookup (RFC 3263 §4.2); IPv6 references
        // come bracketed from SIP URIs (RFC 3261 §25.1).
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Lookup::Ready(SocketAddr::new(
                ip,
                port.unwrap_or(transport.default_port()),
            ));
        }
        let name = match Name::from_host(host) {
            Ok(name) => name,
            Err(e) => return Lookup::Failed(e),
        };
        if let Some(port) = port {
            return self.lookup_addr(now, &name, None, port, side, families);
        }
        let Ok(srv_name) = name.sip_srv(transport) else {
            // No SRV name can be formed (too long): only the host is left.
            return self.lookup_addr(now, &name, None, transport.default_port(), side, families);
        };
        match self.cached(now, &srv_name, QType::Srv) {
            Some(Answer::Srv { target, port, .. }) => {
                if target.is_root() {
                    // RFC 2782: target "." = service decidedly not available.
                    return Lookup::Failed(DnsError::NoAddress);
                }
                let (target, port) = (target.clone(), *port);
                self.lookup_addr(now, &target, Some(&srv_name), port, side, families)
            }
            // A dead nameserver: an address query would only wait as long
            // again; no socket here: an address query would need one too.
            Some(Answer::Negative(e @ (DnsError::Timeout | DnsError::NoSocket))) => {
                Lookup::Failed(*e)
            }
            // No SRV records or no usable SRV answer: the host, port 5060
            // (5061 for TLS).
            Some(Answer::Negative(_)) | Some(Answer::Addr(_)) => {
                self.lookup_addr(now, &name, None, transport.default_port(), side, families)
            }
            None => self.start(now, srv_name, QType::Srv, side),
        }
    }

    /// The unexpired cache entry for (name, type).
    pub(super) fn cache_entry(
        &self,
        now: Instant,
        name: &Name,
        qtype: QType,
    ) -> Option<&CacheEntry> {
        self.cache
            .iter()
            .find(|e| e.qtype == qtype && !crate::due(&now, &e.expires_at) && e.name == *name)
    }

    /// The unexpired cached answer for (name, type).
    pub(super) fn cached(&self, now: Instant, name: &Name, qtype: QType) -> Option<&Answer> {
        self.cache_entry(now, name, qtype).map(|e| &e.answer)
    }

    /// A lookup of `name`'s address (the target of the SRV entry `srv`, whose
    /// glue may serve), to be used with `port`.
    fn lookup_addr(
        &mut self,
        now: Instant,
        name: &Name,
        srv: Option<&Name>,
        port: u16,
        side: Side,
        families: Families,
    ) -> Lookup {
        #[cfg(feature = "ipv6")]
        let fam = match families.order() {
            (preferred, Some(other)) => {
                return self.lookup_both(now, name, srv, port, side, preferred, other);
            }
            (only, None) => only,
        };
        // Without IPv6 every choice is IPv4.
        #[cfg(not(feature = "ipv6"))]
        let (fam, _) = (Fam::V4, families);
        match self.known(now, name, srv, fam) {
            Known::Addr { ip, .. } => Lookup::Ready(SocketAddr::new(ip, port)),
            Known::Failed(e) => Lookup::Failed(e),
            #[cfg(feature = "ipv6")]
            Known::Asked => Lookup::Pending,
            Known::Unknown => self.start(now, name.clone(), fam.qtype(), side),
        }
    }

    /// What the cache says of `fam`'s address for `name` (with the glue of
    /// the SRV entry `srv` below the name's own answer, RFC 2181 §5.4.1).
    fn known(&self, now: Instant, name: &Name, srv: Option<&Name>, fam: Fam) -> Known {
        let entry = self.cache_entry(now, name, fam.qtype());
        if let Some(
            e @ CacheEntry {
                answer: Answer::Addr(ip),
                ..
            },
        ) = entry
        {
            let (ip, pinned, since) = (*ip, e.pinned, e.stored_at);
            return Known::Addr { ip, pinned, since };
        }
        let srv_entry = srv.and_then(|s| self.cache_entry(now, s, QType::Srv));
        if let Some(
            e @ CacheEntry {
                answer: Answer::Srv { glue, .. },
                ..
            },
        ) = srv_entry
        {
            let held = glue.get(fam.glue_slot()).copied().flatten();
            if let Some(g) = held.filter(|g| !crate::due(&now, &g.until)) {
                let (ip, pinned, since) = (g.ip, g.pinned, e.stored_at);
                return Known::Addr { ip, pinned, since };
            }
        }
        match entry.map(|e| &e.answer) {
            Some(Answer::Negative(e)) => Known::Failed(*e),
            // Never stored under an address type.
            Some(_) => Known::Failed(DnsError::NoAddress),
            None => Known::Unknown,
        }
    }
}

/// Both families: RFC 8305 §3 for a datagram protocol (module docs).
#[cfg(feature = "ipv6")]
impl Resolver {
    #[allow(clippy::too_many_arguments)]
    fn lookup_both(
        &mut self,
        now: Instant,
        name: &Name,
        srv: Option<&Name>,
        port: u16,
        side: Side,
        preferred: Fam,
        other: Fam,
    ) -> Lookup {
        let ready = |ip| Lookup::Ready(SocketAddr::new(ip, port));
        let first = self.known(now, name, srv, preferred);
        let second = self.known(now, name, srv, other);
        match (first, second) {
            // RFC 3263 §4.4: a choice made stays while its address lives.
            (
                Known::Addr {
                    ip, pinned: true, ..
                },
                _,
            )
            | (
                _,
                Known::Addr {
                    ip, pinned: true, ..
                },
            )
            | (Known::Addr { ip, .. }, _) => return ready(ip),
            _ => {}
        }
        // RFC 8305 §3: the queries of both families go out at once.
        let first = self.ask(now, name, preferred, first, side);
        let second = self.ask(now, name, other, second, side);
        match (first, second) {
            (Known::Failed(_), Known::Addr { ip, .. }) => {
                self.pin(now, name, srv, other);
                ready(ip)
            }
            (Known::Asked, Known::Addr { ip, since, .. }) => {
                if self.resolution_delay(now, name, preferred, since) {
                    return Lookup::Pending;
                }
                self.pin(now, name, srv, other);
                ready(ip)
            }
            (Known::Failed(DnsError::NoAddress), Known::Failed(e))
            | (Known::Failed(e), Known::Failed(_)) => Lookup::Failed(e),
            _ => Lookup::Pending,
        }
    }

    /// Starts (or joins) the query of `fam` when nothing is known of it.
    fn ask(&mut self, now: Instant, name: &Name, fam: Fam, known: Known, side: Side) -> Known {
        match known {
            Known::Unknown => match self.start(now, name.clone(), fam.qtype(), side) {
                Lookup::Failed(e) => Known::Failed(e),
                _ => Known::Asked,
            },
            other => other,
        }
    }

    /// Does the lookup still wait for the `preferred` query of `name`, the
    /// other family's address having come at `since`? While it does, the
    /// query's `delay` makes [`Resolver::poll_timeout`] wake the caller
    /// when the wait is over (RFC 8305 §3).
    fn resolution_delay(
        &mut self,
        now: Instant,
        name: &Name,
        preferred: Fam,
        since: Instant,
    ) -> bool {
        let qtype = preferred.qtype();
        let Some(q) = self
            .pending
            .iter_mut()
            .flatten()
            .find(|q| q.qtype == qtype && q.name == *name)
        else {
            return false;
        };
        let until = since.max(q.started) + RESOLUTION_DELAY;
        if crate::due(&now, &until) {
            return false;
        }
        q.delay = Some(q.delay.map_or(until, |d| d.min(until)));
        true
    }

    /// Pins `fam`'s address for `name` where [`Resolver::known`] found it:
    /// the name's cache entry, else the glue of the SRV entry `srv`.
    fn pin(&mut self, now: Instant, name: &Name, srv: Option<&Name>, fam: Fam) {
        let qtype = fam.qtype();
        let live = |e: &&mut CacheEntry, n: &Name, t: QType| {
            e.qtype == t && !crate::due(&now, &e.expires_at) && e.name == *n
        };
        if let Some(e) = self
            .cache
            .iter_mut()
            .find(|e| live(e, name, qtype) && matches!(e.answer, Answer::Addr(_)))
        {
            log::debug!("dns: {name} {}: pinned for its TTL", qtype.as_str());
            e.pinned = true;
            return;
        }
        let Some(srv) = srv else { return };
        let Some(e) = self.cache.iter_mut().find(|e| live(e, srv, QType::Srv)) else {
            return;
        };
        if let Answer::Srv { glue, .. } = &mut e.answer {
            let held = glue.get_mut(fam.glue_slot()).and_then(Option::as_mut);
            if let Some(g) = held.filter(|g| !crate::due(&now, &g.until)) {
                log::debug!("dns: {srv} {} glue: pinned for its TTL", qtype.as_str());
                g.pinned = true;
            }
        }
    }
}
