//! The status as a table for people (`sipnat status` without `--json`):
//! the same facts as the JSON, fewer details (no capacities of every
//! table, totals instead of every relay counter).

use super::{Info, Section};
use crate::core::Core;
use crate::limits::{MAX_CALLS, MAX_REGISTRATIONS, MAX_TCP_CONNECTIONS};
use crate::relay::Leg;
use core::fmt::{self, Write as _};
use std::net::IpAddr;
use std::time::Instant;

/// `1d 02:03:04`, `02:03:04`, or `3:04` for a duration in seconds.
fn duration(s: u64) -> String {
    let (d, h, m, s) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h) {
        (0, 0) => format!("{m}:{s:02}"),
        (0, h) => format!("{h}:{m:02}:{s:02}"),
        (d, h) => format!("{d}d {h:02}:{m:02}:{s:02}"),
    }
}

/// `items` separated by blanks, or `-` when there is none: written in
/// place, not joined from strings made one by one.
fn put_list(out: &mut String, items: &[&dyn fmt::Display]) {
    if items.is_empty() {
        out.push('-');
    }
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{x}");
    }
}

/// Append the status of `core` as text.
pub fn write_text(core: &Core, info: &Info<'_>, now: Instant, section: Section, out: &mut String) {
    let cfg = core.config();
    let addrs = core.addresses();
    if section == Section::All {
        let _ = writeln!(
            out,
            "sipnat {} instance {} pid {} up {}",
            env!("CARGO_PKG_VERSION"),
            info.instance,
            info.pid,
            duration(info.unix_now.saturating_sub(info.started_unix))
        );
        let lan: Vec<&dyn fmt::Display> = addrs.lan.iter().map(|n| n as _).collect();
        let wan = [addrs.wan.map(IpAddr::V4), addrs.wan6.map(IpAddr::V6)];
        let wan: Vec<&dyn fmt::Display> = wan.iter().flatten().map(|a| a as _).collect();
        out.push_str("LAN ");
        put_list(out, &lan);
        let _ = write!(out, " ({})  WAN ", cfg.if_inbound.as_deref().unwrap_or("-"));
        put_list(out, &wan);
        let _ = writeln!(
            out,
            " ({})  SIP port {} (UDP, TCP)",
            cfg.if_outbound.as_deref().unwrap_or("-"),
            cfg.sip_listen_port
        );
        let t = core.relay.totals();
        if cfg.rtp_proxy_enable || core.relay.in_use() > 0 {
            let _ = writeln!(
                out,
                "Relay: {}/{} streams (ports {}-{}, {} pairs bound), {} packets forwarded, {} dropped",
                core.relay.in_use(),
                core.relay.capacity(),
                cfg.rtp_port_low,
                cfg.rtp_port_high,
                core.relay.bound(),
                t.forwarded.packets,
                t.dropped.iter().map(|c| c.packets).sum::<u64>()
            );
            match info.kernel_off {
                None => {
                    let _ = writeln!(
                        out,
                        "Kernel forwarding: on, {} channels now ({} handed over, {} taken back, {} failed)",
                        t.in_kernel,
                        t.kernel_handovers,
                        t.kernel_taken_back + t.kernel_missed,
                        t.kernel_failed
                    );
                }
                Some(why) => {
                    let _ = writeln!(out, "Kernel forwarding: off ({why})");
                }
            }
        } else {
            out.push_str("Relay: off (rtp_proxy_enable 0)\n");
        }
        let _ = writeln!(
            out,
            "TCP: {}/{MAX_TCP_CONNECTIONS} connections",
            info.tcp_connections
        );
    }
    if section.has(Section::Registrations) {
        registrations(core, now, out);
    }
    if section.has(Section::Calls) {
        calls(core, now, out);
    }
    if section == Section::All {
        let cached: Vec<_> = core.dns.cache_view(now).collect();
        let ns: Vec<&dyn fmt::Display> = core.dns.nameservers().iter().map(|a| a as _).collect();
        out.push_str("\nDNS: nameservers ");
        put_list(out, &ns);
        let _ = writeln!(
            out,
            "; {} cached, {} in flight",
            cached.len(),
            core.dns.pending()
        );
        for e in &cached {
            let _ = writeln!(
                out,
                "  {} {} {} (ttl {}s)",
                e.name(),
                e.kind(),
                e.answer(),
                e.ttl()
            );
        }
        out.push_str("\nCounters:\n");
        let _ = write!(out, "{}", core.stats);
        for (limit, n) in core.proxy.media().into_iter().flat_map(|m| m.counts()) {
            if n > 0 {
                let _ = writeln!(out, "media.{} {n}", limit.as_str());
            }
        }
    }
}

fn registrations(core: &Core, now: Instant, out: &mut String) {
    let regs = core.proxy.registrations();
    let _ = writeln!(out, "\nRegistrations: {}/{MAX_REGISTRATIONS}", regs.len());
    if regs.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  {:<32} {:<21} {:<4} {:>8} REGISTRAR",
        "AOR", "PHONE", "VIA", "EXPIRES"
    );
    for r in regs.iter() {
        let _ = writeln!(
            out,
            "  {:<32} {:<21} {:<4} {:>7}s {}{}",
            r.aor.as_str(),
            r.addr.to_string(),
            r.transport.param(),
            r.expires_at.saturating_duration_since(now).as_secs(),
            if r.local { "local" } else { "provider" },
            if r.confirmed { "" } else { " (pending)" }
        );
    }
}

fn calls(core: &Core, now: Instant, out: &mut String) {
    let Some(media) = core.proxy.media() else {
        out.push_str("\nCalls: media not relayed (rtp_proxy_enable 0)\n");
        return;
    };
    let _ = writeln!(out, "\nCalls: {}/{MAX_CALLS}", media.iter().count());
    for c in media.iter() {
        let _ = writeln!(
            out,
            "  {} -> {}  {} {} {}{}",
            c.from,
            c.to,
            if c.incoming { "incoming" } else { "outgoing" },
            c.state.as_str(),
            duration(now.saturating_duration_since(c.created).as_secs()),
            if c.hold { " on hold" } else { "" }
        );
        for id in c.streams.iter().flatten() {
            let Some(port) = core.relay.port_of(*id) else {
                continue;
            };
            let kernel = if core.relay.in_kernel(*id) {
                " (kernel)"
            } else {
                ""
            };
            let _ = write!(out, "    port {port}{kernel}:");
            for leg in [Leg::A, Leg::B] {
                if let Some(v) = core.relay.leg_view(*id, leg) {
                    let _ = write!(
                        out,
                        " {} {} {} packets {} bytes;",
                        if v.wan { "wan" } else { "lan" },
                        v.latched
                            .map_or("(not latched)".to_string(), |a| a.to_string()),
                        v.forwarded.packets,
                        v.forwarded.bytes
                    );
                }
            }
            out.pop();
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists() {
        let mut out = String::new();
        super::put_list(&mut out, &[]);
        out.push('|');
        let (a, b) = ("10.0.0.1/24", std::net::Ipv6Addr::LOCALHOST);
        super::put_list(&mut out, &[&a, &b]);
        assert_eq!(out, "-|10.0.0.1/24 ::1");
    }

    #[test]
    fn durations() {
        assert_eq!(super::duration(0), "0:00");
        assert_eq!(super::duration(62), "1:02");
        assert_eq!(super::duration(3723), "1:02:03");
        assert_eq!(super::duration(90061), "1d 01:01:01");
    }
}
