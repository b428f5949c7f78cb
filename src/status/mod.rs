//! `sipnat status`: a snapshot of the running proxy, as JSON (a stable,
//! documented schema — README "Status") and as a table for people.
//!
//! Pure: it reads a [`Core`] and the few facts only the driver knows
//! ([`Info`]: the instance name, pid, start time, TCP connections) and
//! appends text to a `String`; the driver's control socket
//! ([`crate::driver`]) serves it. It changes nothing and reads no clock.
//!
//! Schema 1 (every key always present; `null` where a value is unknown):
//! `schema`, `instance`, `version`, `pid`, `started` (Unix seconds),
//! `uptime` (s), `config` (the options in force that say where sipnat
//! listens and relays), `registrations` {count, capacity, list}, `calls`
//! {count, capacity, list of from/to/direction/state/started/duration/hold
//! and streams with each leg's side, expected and latched RTP address,
//! packets and bytes}, `relay`, `tcp`, `blacklist`, `dns`, `counters`. A
//! request for one section (`registrations`, `calls`) gets `schema`,
//! `instance`, `version` and that section only. New keys may be added
//! within schema 1; a key that changes meaning bumps `schema`.

mod json;
mod stats;
mod text;

use crate::core::Core;
use crate::limits::{MAX_BLACKLIST, MAX_CALLS, MAX_REGISTRATIONS, MAX_TCP_CONNECTIONS};
use crate::relay::{DropReason, Leg};
pub use json::Json;
pub use stats::{stats_file, stats_line};
use std::time::Instant;
pub use text::write_text;

/// The schema version of the JSON this module writes.
pub const SCHEMA: u64 = 1;

/// What only the driver knows.
#[derive(Debug, Clone)]
pub struct Info<'a> {
    /// The instance's name (the UCI section, or `sipnat`).
    pub instance: &'a str,
    pub pid: u32,
    /// Unix time now and at start, in seconds.
    pub unix_now: u64,
    pub started_unix: u64,
    /// Open SIP-over-TCP connections.
    pub tcp_connections: usize,
    /// Why the kernel does not forward latched streams (None: it does).
    pub kernel_off: Option<&'a str>,
}

/// Which part of the status a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    All,
    Registrations,
    Calls,
}

impl Section {
    /// The section a request word names (`None`: not one).
    pub fn parse(word: &str) -> Option<Section> {
        match word {
            "all" => Some(Section::All),
            "registrations" => Some(Section::Registrations),
            "calls" => Some(Section::Calls),
            _ => None,
        }
    }

    fn has(self, s: Section) -> bool {
        self == Section::All || self == s
    }
}

/// Append the status of `core` as one JSON object (schema [`SCHEMA`]).
pub fn write_json(core: &Core, info: &Info<'_>, now: Instant, section: Section, out: &mut String) {
    let mut j = Json::new(out);
    j.begin_object();
    j.field_num("schema", SCHEMA);
    j.field_str("instance", info.instance);
    j.field_str("version", env!("CARGO_PKG_VERSION"));
    if section == Section::All {
        j.field_num("pid", u64::from(info.pid));
        j.field_num("started", info.started_unix);
        j.field_num("uptime", info.unix_now.saturating_sub(info.started_unix));
        config(core, &mut j);
    }
    if section.has(Section::Registrations) {
        registrations(core, now, &mut j);
    }
    if section.has(Section::Calls) {
        calls(core, info, now, &mut j);
    }
    if section == Section::All {
        relay(core, info, &mut j);
        j.key("tcp");
        j.begin_object();
        j.field_num("connections", info.tcp_connections as u64);
        j.field_num("capacity", MAX_TCP_CONNECTIONS as u64);
        j.end_object();
        j.key("blacklist");
        match core.proxy.blacklist_len() {
            Some(n) => {
                j.begin_object();
                j.field_num("entries", n as u64);
                j.field_num("capacity", MAX_BLACKLIST as u64);
                j.end_object();
            }
            None => j.null(),
        }
        dns(core, now, &mut j);
        counters(core, &mut j);
    }
    j.end_object();
}

fn config(core: &Core, j: &mut Json<'_>) {
    let cfg = core.config();
    let addrs = core.addresses();
    j.key("config");
    j.begin_object();
    j.field_num("sip_listen_port", u64::from(cfg.sip_listen_port));
    j.key("if_inbound");
    j.opt_display(cfg.if_inbound.as_deref());
    j.key("if_outbound");
    j.opt_display(cfg.if_outbound.as_deref());
    j.key("host_outbound");
    j.opt_display(cfg.host_outbound.as_deref());
    j.key("lan_addresses");
    j.begin_array();
    for n in &addrs.lan {
        j.display(n);
    }
    j.end_array();
    j.key("wan_address");
    j.opt_display(addrs.wan);
    j.key("public_address");
    j.opt_display(core.proxy.public_address());
    j.key("wan_address6");
    j.opt_display(addrs.wan6);
    j.key("public_address6");
    j.opt_display(core.proxy.public_address6());
    j.field_bool("rtp_proxy_enable", cfg.rtp_proxy_enable);
    j.field_num("rtp_port_low", u64::from(cfg.rtp_port_low));
    j.field_num("rtp_port_high", u64::from(cfg.rtp_port_high));
    j.field_num("rtp_timeout", u64::from(cfg.rtp_timeout));
    j.key("outbound_proxy");
    j.opt_display(
        cfg.outbound_proxy_host
            .as_deref()
            .map(|h| format!("{h}:{}", cfg.outbound_proxy_port)),
    );
    j.key("proxy_auth_realm");
    j.opt_display(cfg.proxy_auth_realm.as_deref());
    j.key("user");
    j.opt_display(cfg.user.as_deref());
    j.field_num("debug_level", u64::from(cfg.debug_level));
    j.end_object();
}

fn registrations(core: &Core, now: Instant, j: &mut Json<'_>) {
    let regs = core.proxy.registrations();
    j.key("registrations");
    j.begin_object();
    j.field_num("count", regs.len() as u64);
    j.field_num("capacity", MAX_REGISTRATIONS as u64);
    j.key("list");
    j.begin_array();
    for r in regs.iter() {
        j.begin_object();
        j.field_str("aor", &r.aor);
        j.field_str("contact", &r.contact);
        j.key("address");
        j.addr(r.addr);
        j.field_str("transport", r.transport.param());
        j.field_num(
            "expires",
            r.expires_at.saturating_duration_since(now).as_secs(),
        );
        j.field_bool("confirmed", r.confirmed);
        j.field_str("registrar", if r.local { "local" } else { "provider" });
        j.end_object();
    }
    j.end_array();
    j.end_object();
}

fn calls(core: &Core, info: &Info<'_>, now: Instant, j: &mut Json<'_>) {
    j.key("calls");
    j.begin_object();
    let media = core.proxy.media();
    j.field_num("count", media.map_or(0, |m| m.iter().count()) as u64);
    j.field_num("capacity", MAX_CALLS as u64);
    j.key("list");
    j.begin_array();
    for c in media.into_iter().flat_map(|m| m.iter()) {
        let age = now.saturating_duration_since(c.created).as_secs();
        j.begin_object();
        j.field_str("from", c.from);
        j.field_str("to", c.to);
        j.field_str(
            "direction",
            if c.incoming { "incoming" } else { "outgoing" },
        );
        j.field_str("state", c.state.as_str());
        j.field_num("started", info.unix_now.saturating_sub(age));
        j.field_num("duration", age);
        j.field_bool("hold", c.hold);
        j.key("streams");
        j.begin_array();
        for id in c.streams.iter().flatten() {
            let Some(port) = core.relay.port_of(*id) else {
                continue;
            };
            j.begin_object();
            j.field_num("port", u64::from(port));
            j.field_bool("kernel", core.relay.in_kernel(*id));
            j.key("legs");
            j.begin_array();
            for leg in [Leg::A, Leg::B] {
                let Some(v) = core.relay.leg_view(*id, leg) else {
                    continue;
                };
                j.begin_object();
                j.field_str("side", if v.wan { "wan" } else { "lan" });
                // `opt_addr` writes IPv4; the relay has no other address yet.
                j.key("expected");
                let expected = v.expected.filter(|a| !crate::net::is_unspecified(a.ip()));
                j.opt_addr(expected);
                j.key("latched");
                j.opt_addr(v.latched);
                j.field_num("packets", v.forwarded.packets);
                j.field_num("bytes", v.forwarded.bytes);
                j.end_object();
            }
            j.end_array();
            j.end_object();
        }
        j.end_array();
        j.end_object();
    }
    j.end_array();
    j.end_object();
}

fn relay(core: &Core, info: &Info<'_>, j: &mut Json<'_>) {
    let r = &core.relay;
    let t = r.totals();
    j.key("relay");
    j.begin_object();
    j.field_bool("enabled", core.config().rtp_proxy_enable);
    j.field_num("streams", r.in_use() as u64);
    j.field_num("capacity", r.capacity() as u64);
    j.field_num("bound", r.bound() as u64);
    j.field_num("spares", r.spares() as u64);
    j.field_num("forwarded_packets", t.forwarded.packets);
    j.field_num("forwarded_bytes", t.forwarded.bytes);
    j.field_num("latches", t.latches);
    j.field_num("held", t.held);
    j.field_num("flushed", t.flushed);
    j.field_num("pool_full", t.pool_full);
    j.field_num("no_port", t.no_port);
    j.field_num("bind_in_use", t.bind_in_use);
    j.field_num("bind_failed", t.bind_failed);
    j.field_num("timed_out", t.expired);
    j.key("kernel");
    j.begin_object();
    j.field_bool("on", info.kernel_off.is_none());
    j.key("off_because");
    j.opt_display(info.kernel_off);
    j.field_num("channels", t.in_kernel);
    j.field_num("handovers", t.kernel_handovers);
    j.field_num("taken_back", t.kernel_taken_back);
    j.field_num("missed", t.kernel_missed);
    j.field_num("failed", t.kernel_failed);
    j.end_object();
    j.key("dropped");
    j.begin_object();
    for reason in DropReason::ALL {
        let n = t.dropped_by(reason).packets;
        if n > 0 {
            j.field_num(reason.as_str(), n);
        }
    }
    j.end_object();
    j.end_object();
}

fn dns(core: &Core, now: Instant, j: &mut Json<'_>) {
    j.key("dns");
    j.begin_object();
    j.key("nameservers");
    j.begin_array();
    for ns in core.dns.nameservers() {
        j.display(ns);
    }
    j.end_array();
    j.field_num("pending", core.dns.pending() as u64);
    j.key("cache");
    j.begin_array();
    for e in core.dns.cache_view(now) {
        j.begin_object();
        j.key("name");
        j.display(e.name());
        j.field_str("type", e.kind());
        j.key("answers");
        j.begin_array();
        j.display(e.answer());
        j.end_array();
        j.field_num("ttl", e.ttl());
        j.end_object();
    }
    j.end_array();
    j.end_object();
}

/// Every non-zero counter by `class.reason`: the core's, and the media
/// limits' as `media.<limit>`.
fn counters(core: &Core, j: &mut Json<'_>) {
    j.key("counters");
    j.begin_object();
    for (class, reason, n) in core.stats.iter() {
        j.field_num(&format!("{class}.{reason}"), n);
    }
    for (limit, n) in core.proxy.media().into_iter().flat_map(|m| m.counts()) {
        if n > 0 {
            j.field_num(&format!("media.{}", limit.as_str()), n);
        }
    }
    j.end_object();
}
