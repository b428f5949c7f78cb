//! siproxd's `plugin_stats`, built in: the statistics line it logs and the
//! file it writes (`plugin_stats_to_syslog`, `plugin_stats_to_file`,
//! `plugin_stats_filename`; the driver keeps the timers and SIGUSR1). The
//! line keeps siproxd's wording, so what reads siproxd's logs reads
//! sipnat's; the file holds sipnat's status table (`sipnat status`) under
//! siproxd's `Date:` and `PID:` header, not siproxd's layout.

use super::{Info, Section, write_text};
use crate::core::Core;
use crate::relay::Leg;
use std::time::Instant;

/// `STATS: N active Streams, N active Calls, N active Clients, N
/// registered Clients`: relay streams in use, calls with relayed media,
/// distinct LAN phones in them, registrations.
pub fn stats_line(core: &Core) -> String {
    let mut clients: Vec<std::net::IpAddr> = Vec::new();
    let mut calls = 0;
    for c in core.proxy.media().into_iter().flat_map(|m| m.iter()) {
        calls += 1;
        for id in c.streams.iter().flatten() {
            for leg in [Leg::A, Leg::B] {
                let Some(v) = core.relay.leg_view(*id, leg).filter(|v| !v.wan) else {
                    continue;
                };
                if let Some(a) = v.latched.or(v.expected) {
                    if !crate::net::is_unspecified(a.ip()) && !clients.contains(&a.ip()) {
                        clients.push(a.ip());
                    }
                }
            }
        }
    }
    format!(
        "STATS: {} active Streams, {calls} active Calls, {} active Clients, {} registered Clients",
        core.relay.in_use(),
        clients.len(),
        core.proxy.registrations().len()
    )
}

/// The statistics file: `Date:` (UTC) and `PID:` lines, then the status
/// table.
pub fn stats_file(core: &Core, info: &Info<'_>, now: Instant) -> String {
    let mut out = format!(
        "Date: {} UTC\nPID:  {}\n\n{}\n\n",
        utc(info.unix_now),
        info.pid,
        stats_line(core)
    );
    write_text(core, info, now, Section::All, &mut out);
    out
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC; the proleptic Gregorian
/// calendar, days to civil date after H. Hinnant's algorithm).
fn utc(t: u64) -> String {
    // Only the era (400 years) needs 64 bits; within it everything fits 32
    // (64-bit division is a library call on 32-bit MIPS).
    let (days, secs) = (t / 86_400 + 719_468, (t % 86_400) as u32);
    let era = days / 146_097;
    // below 146_097: the remainder
    let doe = (days - era * 146_097) as u32;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = u64::from(yoe) + era * 400 + u64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(super::utc(1_796_394_720), "2026-12-04 14:32:00");
        assert_eq!(super::utc(4_107_542_399), "2100-02-28 23:59:59");
        assert_eq!(super::utc(253_402_300_799), "9999-12-31 23:59:59");
        assert_eq!(super::utc(u64::MAX), "584554051223-11-09 07:00:15");
    }
}
