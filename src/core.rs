//! The sans-IO core the driver owns: the SIP proxy, the RTP relay, the DNS
//! resolver and the counters, side by side.
//!
//! Input goes in through `handle_*` with `now` (a SIP datagram, a DNS reply,
//! a timer); output comes back in the caller's [`Outbox`]. The driver reaches
//! the relay directly for its per-packet decision ([`Core::relay`]); the
//! proxy reaches it, the resolver and the counters through the context it
//! works in ([`crate::proxy`]'s `Sip`). Nothing here touches a socket or the
//! clock.

use crate::config::Config;
use crate::dns::{QueryHandle, Resolver, Watch};
use crate::output::Outbox;
use crate::proxy::{Addresses, Proxy, Sip};
use crate::relay::{PortRange, Relay};
use crate::side::Side;
use crate::stats::Stats;
use crate::transport::Transport;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The proxy and the resolver (tens of KB each) are boxed: built in place
/// of the core they would be copied through the stack, and every page of
/// stack touched once stays resident.
pub struct Core {
    pub proxy: Box<Proxy>,
    /// The RTP relay (an empty pool when `rtp_proxy_enable = 0`).
    pub relay: Relay,
    pub dns: Box<Resolver>,
    /// The access lists' host names, kept resolved through `dns`.
    pub acl_names: Watch,
    pub stats: Stats,
}

impl Core {
    /// A core for `cfg`. `key` is the installation's secret (saved with the
    /// registrations); `seed` seeds the resolver's query ids.
    ///
    /// Boxed, and its large parts each built in a frame of its own
    /// ([`boxed`]) one after the other, never one inside another: the
    /// deepest stack of the start-up is then the largest part's, not the
    /// sum of them (every stack page touched once stays resident).
    #[inline(never)]
    pub fn new(
        cfg: Config,
        addrs: Addresses,
        key: [u8; 16],
        nameservers: &[SocketAddr],
        seed: u64,
        now: Instant,
    ) -> Box<Core> {
        // The relay's own random sequence (its port search), apart from the
        // resolver's query ids.
        let relay = relay_for(&cfg, seed.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15);
        let names: Vec<String> = cfg.acl_names().map(|(_, h)| h.name.to_string()).collect();
        let dns = boxed(|| Resolver::new(nameservers, seed));
        let proxy = boxed(|| Proxy::new(cfg, addrs, key, now));
        let mut core = boxed(|| Core {
            proxy,
            relay,
            dns,
            acl_names: Watch::new(),
            stats: Stats::new(),
        });
        let Core { acl_names, dns, .. } = &mut *core;
        acl_names.set_names(now, names.iter().map(String::as_str), dns);
        core.sync_relay_local();
        core
    }

    fn sip(&mut self) -> Sip<'_> {
        Sip {
            p: &mut self.proxy,
            relay: &mut self.relay,
            dns: &mut self.dns,
            stats: &mut self.stats,
            acl_names: &self.acl_names,
        }
    }

    /// Ask for the access-list names that are due, take the answers that
    /// came, and send the queries that started ([`Watch::step`]).
    fn step_acl_names(&mut self, now: Instant, out: &mut Outbox) {
        if self.acl_names.is_empty() {
            return;
        }
        self.acl_names.step(
            now,
            &mut self.dns,
            &mut self.stats,
            crate::dns::Families::V4,
        );
        self.sip().flush_dns(now, out);
    }

    /// Feed a SIP message from `from`, that arrived on `side` (its arrival
    /// interface: [`crate::side`]) over `transport` (a UDP datagram, or one
    /// message framed from a TCP connection). `data` is modified in place
    /// (header unfolding).
    pub fn handle_sip(
        &mut self,
        now: Instant,
        from: SocketAddr,
        side: Side,
        transport: Transport,
        data: &mut [u8],
        out: &mut Outbox,
    ) {
        let mut sip = self.sip();
        sip.handle_sip(now, from, side, transport, data, out);
        // IPv6 literals masked in a spelling their token cannot record
        // (restored RFC 5952-canonical): counted here, the writer has
        // only a shared view of the proxy.
        let n = sip.p.noncanonical.take();
        if n > 0 {
            sip.stats.add("mask", "v6-noncanonical", n);
        }
    }

    /// Feed a datagram received on the socket of DNS query `query`.
    pub fn handle_dns(
        &mut self,
        now: Instant,
        query: QueryHandle,
        from: SocketAddr,
        data: &[u8],
        out: &mut Outbox,
    ) {
        self.sip().handle_dns(now, query, from, data, out);
        self.step_acl_names(now, out);
    }

    /// Timers: DNS retransmissions, expiry of registrations, calls and
    /// parked requests, re-resolving `host_outbound` and the access lists'
    /// host names.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Outbox) {
        self.sip().handle_timeout(now, out);
        self.step_acl_names(now, out);
    }

    /// When [`Core::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Instant {
        [self.dns.poll_timeout(), self.acl_names.poll_timeout()]
            .into_iter()
            .flatten()
            .fold(self.proxy.next_tick(), Instant::min)
    }

    /// Is DNS query `query` still waiting for its reply? Once it is not, the
    /// driver closes the query's socket.
    pub fn dns_in_flight(&self, query: QueryHandle) -> bool {
        self.dns.in_flight(query)
    }

    /// The driver could not open a socket for `query`: that lookup fails,
    /// and the work parked on it is answered.
    pub fn dns_socket_failed(&mut self, now: Instant, query: QueryHandle, out: &mut Outbox) {
        self.sip().dns_socket_failed(now, query, out);
        self.step_acl_names(now, out);
    }

    pub fn set_nameservers(&mut self, ns: &[SocketAddr]) {
        self.dns.set_nameservers(ns);
    }

    pub fn config(&self) -> &Config {
        self.proxy.config()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// For the driver's own counts (a registration file that could not be
    /// saved or read), so they show in [`Core::status_text`] with the rest.
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// The relay, for the driver's per-packet decision; `None` when media
    /// is not relayed (`rtp_proxy_enable = 0`).
    pub fn relay_mut(&mut self) -> Option<&mut Relay> {
        self.proxy.media().is_some().then_some(&mut self.relay)
    }

    /// New interface addresses (the driver polls the kernel).
    pub fn set_addresses(&mut self, addrs: Addresses) {
        if self.proxy.set_addresses(addrs) {
            self.sync_relay_local();
        }
    }

    pub fn addresses(&self) -> &Addresses {
        self.proxy.addresses()
    }

    /// Swap in a new, checked configuration (SIGHUP). Registrations,
    /// transactions and calls in progress are kept. The access lists' host
    /// names are resolved again (their last addresses serve until then).
    /// Everything in the new configuration takes effect: new streams get
    /// their ports from the new range (none with `rtp_proxy_enable = 0`;
    /// streams keep their pairs to their end: [`Relay::set_range`]; the
    /// driver binds and closes what [`Relay::maintain`] asks) and its new
    /// `rtp_timeout`.
    pub fn reconfigure(&mut self, now: Instant, cfg: Config) {
        let names = cfg.acl_names().map(|(_, h)| h.name.as_str());
        self.acl_names.set_names(now, names, &mut self.dns);
        self.relay
            .set_rtp_timeout(Duration::from_secs(u64::from(cfg.rtp_timeout)));
        self.relay.set_range(port_range(&cfg));
        self.proxy.reconfigure(now, cfg);
        self.sync_relay_local();
    }

    /// Tell the relay the LAN networks and the router's own addresses (its
    /// rules 0 and 7: never send WAN media to them, never latch them from
    /// the WAN).
    fn sync_relay_local(&mut self) {
        self.sip().sync_relay_local();
    }

    /// Restore a registration file written by
    /// [`Proxy::registrations_text`] (its key too, so tokens the provider
    /// stored stay valid). All or nothing
    /// ([`crate::proxy::registry::Registry::read_text`]): on an error nothing
    /// of the file is taken, the key generated at start stays, and
    /// `registration-file.rejected` counts it.
    pub fn load_registrations(
        &mut self,
        now: Instant,
        unix_now: u64,
        text: &str,
    ) -> Result<usize, String> {
        let r = self.proxy.read_registrations(now, unix_now, text);
        if r.is_err() {
            self.stats.bump("registration-file", "rejected");
        }
        r
    }

    /// A human-readable snapshot: table occupancy and every counter
    /// (logged on SIGUSR1; `sipnat status` will show it).
    pub fn status_text(&self) -> String {
        let mut s = format!(
            "status: registrations {}/{}",
            self.proxy.registrations().len(),
            crate::limits::MAX_REGISTRATIONS,
        );
        if let Some(m) = self.proxy.media() {
            let r = &self.relay;
            let t = r.totals();
            s.push_str(&format!(
                " calls {}/{} streams {}/{} ports-bound {} rtp-forwarded {} rtp-dropped {}",
                m.calls(),
                crate::limits::MAX_CALLS,
                r.in_use(),
                r.capacity(),
                2 * r.bound(),
                t.forwarded.packets,
                t.dropped.iter().map(|c| c.packets).sum::<u64>()
            ));
            for reason in crate::relay::DropReason::ALL {
                let n = t.dropped_by(reason).packets;
                if n > 0 {
                    s.push_str(&format!(" rtp-dropped.{} {n}", reason.as_str()));
                }
            }
            s.push_str(&format!(
                " latches {} pool-full {} streams-timed-out {} rtp-held {} rtp-flushed {}",
                t.latches, t.pool_full, t.expired, t.held, t.flushed
            ));
            for (name, n) in [
                ("no-port", t.no_port),
                ("bind-in-use", t.bind_in_use),
                ("bind-failed", t.bind_failed),
                ("kernel-channels", t.in_kernel),
                ("kernel-handovers", t.kernel_handovers),
                ("kernel-taken-back", t.kernel_taken_back),
                ("kernel-missed", t.kernel_missed),
                ("kernel-failed", t.kernel_failed),
            ] {
                if n > 0 {
                    s.push_str(&format!(" relay.{name} {n}"));
                }
            }
            for (limit, n) in m.counts() {
                if n > 0 {
                    s.push_str(&format!(" media.{} {n}", limit.as_str()));
                }
            }
        }
        if let Some(n) = self.proxy.blacklist_len() {
            s.push_str(&format!(" blacklist {n}/{}", crate::limits::MAX_BLACKLIST));
        }
        s.push('\n');
        s.push_str(&self.stats.to_string());
        s
    }
}

/// `make()` boxed in a stack frame of its own: the tens of KB a large part
/// passes through are then the largest part's, not the sum of all of them
/// in one frame (each stack page touched once stays resident).
#[inline(never)]
pub fn boxed<T>(make: impl FnOnce() -> T) -> Box<T> {
    Box::new(make())
}

/// The relay for a configuration (its ports bound later, by the driver).
fn relay_for(cfg: &Config, seed: u64) -> Relay {
    Relay::new(
        port_range(cfg),
        Duration::from_secs(u64::from(cfg.rtp_timeout)),
        seed,
    )
}

/// The ports new streams get: the configured range, none when media is
/// not relayed.
fn port_range(cfg: &Config) -> PortRange {
    if cfg.rtp_proxy_enable {
        PortRange::new(cfg.rtp_port_low, cfg.rtp_port_high)
    } else {
        PortRange::EMPTY
    }
}
