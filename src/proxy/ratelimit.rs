//! How many new calls a WAN source may start: a token bucket per source IP
//! (issue 9: a host on the internet must not be able to ring the phones, or
//! take the relay ports, as fast as it can send).
//!
//! What it does: each WAN source IP (an IPv6 one by its /64,
//! [`SourceKey`]) has a bucket of [`INVITE_BURST`]
//! tokens, refilled by one every [`INVITE_REFILL`]. A dialog-creating
//! INVITE (no To tag) from the WAN takes one; with none left it is refused
//! (the proxy answers `503 Service Unavailable` with `Retry-After`, RFC 3261
//! §21.5.4: "temporarily overloaded", which is what it is, and callers
//! back off for `Retry-After`; 486 Busy Here would tell the caller the
//! callee is busy, which is false). A retransmission of an INVITE the bucket
//! already admitted (the same Call-ID, among the last [`RECENT`] it
//! admitted) costs nothing, and in-dialog requests never reach it.
//!
//! The table is fixed ([`MAX_RATE_SOURCES`] buckets, no allocation). When
//! it is full, a new source takes the bucket that has been idle longest
//! (the fullest after refill): a full bucket evicted and made again is the
//! same full bucket, so a source that keeps within its rate loses nothing.
//! A flood from more source IPs than the table holds can cycle buckets and
//! so escape the per-source rate; what it cannot do is take the relay ports
//! the LAN's share keeps ([`super::media`]): that, not this table, is the
//! guarantee. What it does not do: look at the LAN (LAN phones are not
//! limited), at requests other than INVITE, or at TCP.

use crate::limits::MAX_RATE_SOURCES;
use crate::net::SourceKey;
use std::time::{Duration, Instant};

/// New calls a WAN source may start at once.
pub const INVITE_BURST: u32 = 8;
/// One more new call per this much time (30 a minute, sustained).
pub const INVITE_REFILL: Duration = Duration::from_secs(2);
/// Call-IDs per bucket remembered as admitted (retransmissions are free).
pub const RECENT: usize = 4;

/// Tokens are counted in thousandths so refills need no floating point.
const MILLI: u64 = 1000;

struct Bucket {
    ip: SourceKey,
    /// Tokens × [`MILLI`].
    milli: u64,
    at: Instant,
    recent: [u64; RECENT],
    next: usize,
}

impl Bucket {
    /// Tokens × MILLI at `now`, with the refill since `at`.
    fn level(&self, now: Instant) -> u64 {
        let per = INVITE_REFILL.as_millis().max(1);
        let gained = now.saturating_duration_since(self.at).as_millis() * u128::from(MILLI) / per;
        let full = u64::from(INVITE_BURST) * MILLI;
        u64::try_from(gained)
            .unwrap_or(u64::MAX)
            .saturating_add(self.milli)
            .min(full)
    }
}

#[derive(Default)]
pub struct InviteLimiter {
    buckets: heapless::Vec<Bucket, MAX_RATE_SOURCES>,
}

impl InviteLimiter {
    pub fn new() -> InviteLimiter {
        InviteLimiter::default()
    }

    /// May `ip` start the call `call` (a key of its Call-ID) now? Takes a
    /// token when it may and the call is not one it was admitted recently.
    pub fn admit(&mut self, now: Instant, ip: SourceKey, call: u64) -> bool {
        let i = match self.buckets.iter().position(|b| b.ip == ip) {
            Some(i) => i,
            None => {
                if self.buckets.is_full() {
                    // The fullest bucket is the one idle longest.
                    let victim = self
                        .buckets
                        .iter()
                        .enumerate()
                        .max_by_key(|(_, b)| (b.level(now), std::cmp::Reverse(b.at)))
                        .map(|(i, _)| i);
                    if let Some(v) = victim {
                        self.buckets.swap_remove(v);
                    }
                }
                let fresh = Bucket {
                    ip,
                    milli: u64::from(INVITE_BURST) * MILLI,
                    at: now,
                    recent: [0; RECENT],
                    next: 0,
                };
                if self.buckets.push(fresh).is_err() {
                    // Cannot happen: a full table just gave one up. Refuse
                    // rather than admit without a bucket.
                    return false;
                }
                self.buckets.len() - 1
            }
        };
        let Some(b) = self.buckets.get_mut(i) else {
            return false;
        };
        b.milli = b.level(now);
        b.at = now;
        if b.recent.contains(&call) {
            return true;
        }
        if b.milli < MILLI {
            return false;
        }
        b.milli -= MILLI;
        if let Some(slot) = b.recent.get_mut(b.next) {
            *slot = call;
        }
        b.next = (b.next + 1) % RECENT;
        true
    }

    /// Sources followed now.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::{IpAddr, Ipv4Addr};

    fn ip(n: u32) -> SourceKey {
        SourceKey::V4(Ipv4Addr::from(0xc633_6400 + n)) // 198.51.100.n
    }

    fn v6(s: &str) -> SourceKey {
        SourceKey::of(s.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn a_burst_then_one_per_refill() {
        let now = Instant::now();
        let mut l = InviteLimiter::new();
        for call in 0..u64::from(INVITE_BURST) {
            assert!(l.admit(now, ip(9), call + 1), "call {call}");
        }
        assert!(!l.admit(now, ip(9), 100));
        // A retransmission of an admitted call is free.
        assert!(l.admit(now, ip(9), u64::from(INVITE_BURST)));
        // Another source is not affected.
        assert!(l.admit(now, ip(10), 1));
        // One token per refill period.
        let later = now + INVITE_REFILL;
        assert!(l.admit(later, ip(9), 101));
        assert!(!l.admit(later, ip(9), 102));
        // Idle long enough: the whole burst again, never more.
        let much_later = later + INVITE_REFILL * 100;
        for call in 0..u64::from(INVITE_BURST) {
            assert!(l.admit(much_later, ip(9), 200 + call));
        }
        assert!(!l.admit(much_later, ip(9), 300));
    }

    #[test]
    fn a_full_table_gives_up_the_bucket_idle_longest() {
        let now = Instant::now();
        let mut l = InviteLimiter::new();
        // The flooder empties its bucket first.
        for call in 0..u64::from(INVITE_BURST) {
            assert!(l.admit(now, ip(1), call + 1));
        }
        assert!(!l.admit(now, ip(1), 99));
        // Many other sources each start one call, filling the table.
        for n in 2..=(MAX_RATE_SOURCES as u32) {
            assert!(l.admit(now, ip(n), 1));
        }
        assert_eq!(l.len(), MAX_RATE_SOURCES);
        // A new source makes room: the emptied bucket is not the one that
        // goes (the fullest does), so the flooder stays limited.
        assert!(l.admit(now, ip(500), 1));
        assert_eq!(l.len(), MAX_RATE_SOURCES);
        assert!(!l.admit(now, ip(1), 100));
    }

    /// An IPv6 source is its /64: a host rotating its privacy addresses
    /// (RFC 8981) stays in one bucket.
    #[test]
    fn an_ipv6_source_is_its_64() {
        let now = Instant::now();
        let mut l = InviteLimiter::new();
        for call in 0..u64::from(INVITE_BURST) {
            let a = format!("2001:db8:0:1::{:x}", call + 1);
            assert!(l.admit(now, v6(&a), call + 1));
        }
        assert!(!l.admit(now, v6("2001:db8:0:1:abcd::9"), 99));
        assert!(l.admit(now, v6("2001:db8:0:2::1"), 1), "another /64");
    }
}
