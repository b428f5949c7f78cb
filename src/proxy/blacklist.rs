//! siproxd's `plugin_blacklist`, in memory: a LAN client that fails
//! authentication `hitcount` times is refused for `duration` seconds.
//!
//! What counts as a failure, per client (its source address, an IPv6
//! source by its /64 ([`SourceKey`]), and the user its From names, as
//! siproxd keys it: one phone with a wrong password does not block the
//! other accounts of the same PBX):
//! * sipnat's own digest check failing (wrong password, unknown user) when
//!   `proxy_auth_realm` is set;
//! * a 4xx from the provider to a REGISTER that carried credentials
//!   (`Authorization` or `Proxy-Authorization`), siproxd's rule; a REGISTER
//!   without credentials is the normal first step of a challenge and does
//!   not count. sipnat knows which REGISTER a response answers from its
//!   sealed branch, so it needs no `register_window`.
//!
//! A success (our check passing, or a 2xx to a REGISTER) clears the
//! client's count. A blocked client gets `403 Forbidden (blacklisted)` for
//! every request outside a dialog until `duration` has passed since its
//! last failure (0: until sipnat restarts; siproxd's database survived
//! restarts, this table does not). With `simulate` the block is only
//! logged and counted.
//!
//! The table is fixed ([`MAX_BLACKLIST`] entries, no allocation). One
//! source address holds at most [`MAX_BLACKLIST_PER_HOST`] of them, so a
//! host spraying user names cannot push the others out; when the table is
//! full, the entry with the oldest failure that is not blocking anyone goes
//! first, then the oldest block. Evicting only forgets failures: no
//! client's good standing is stored, so none can be lost.
//!
//! What it does not do: look at the WAN (WAN requests are never
//! authenticated by sipnat) or at in-dialog requests.

use crate::limits::{MAX_BLACKLIST, MAX_BLACKLIST_PER_HOST};
use crate::net::SourceKey;
use std::time::{Duration, Instant};

/// The blacklist's settings (siproxd's `plugin_blacklist_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub hitcount: u32,
    /// `None`: a block lasts until restart (siproxd's `duration = 0`).
    pub duration: Option<Duration>,
    pub simulate: bool,
}

struct Entry {
    ip: SourceKey,
    user: u64,
    failures: u32,
    last: Instant,
}

/// What the table says of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Allowed,
    /// Over the limit: refuse (or, simulating, only log).
    Blocked,
}

pub struct Blacklist {
    policy: Policy,
    entries: heapless::Vec<Entry, MAX_BLACKLIST>,
}

impl Blacklist {
    pub fn new(policy: Policy) -> Blacklist {
        Blacklist {
            policy,
            entries: heapless::Vec::new(),
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    fn blocking(&self, e: &Entry, now: Instant) -> bool {
        e.failures >= self.policy.hitcount
            && self
                .policy
                .duration
                .is_none_or(|d| now.saturating_duration_since(e.last) < d)
    }

    /// Is the client (`ip`, `user`: a key of its From user) blocked now?
    /// An entry whose block has run out is forgotten.
    pub fn check(&mut self, now: Instant, ip: SourceKey, user: u64) -> Standing {
        let Some(i) = self
            .entries
            .iter()
            .position(|e| e.ip == ip && e.user == user)
        else {
            return Standing::Allowed;
        };
        let e = &self.entries[i];
        if self.blocking(e, now) {
            return Standing::Blocked;
        }
        if e.failures >= self.policy.hitcount {
            // The block is over: start again from nothing.
            self.entries.swap_remove(i);
        }
        Standing::Allowed
    }

    /// A failed authentication. Returns true when this failure blocks the
    /// client.
    pub fn failed(&mut self, now: Instant, ip: SourceKey, user: u64) -> bool {
        let i = match self
            .entries
            .iter()
            .position(|e| e.ip == ip && e.user == user)
        {
            Some(i) => i,
            None => {
                let Some(i) = self.make_room(now, ip, user) else {
                    return false;
                };
                i
            }
        };
        let hitcount = self.policy.hitcount;
        let e = &mut self.entries[i];
        e.failures = e.failures.saturating_add(1);
        e.last = now;
        e.failures == hitcount
    }

    /// A success: the client's failures are forgotten.
    pub fn succeeded(&mut self, ip: SourceKey, user: u64) {
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.ip == ip && e.user == user)
        {
            self.entries.swap_remove(i);
        }
    }

    /// A slot for a new entry of `ip` (pushed, with no failures yet), or
    /// `None` when `ip` already holds its share and none of its own entries
    /// can go.
    fn make_room(&mut self, now: Instant, ip: SourceKey, user: u64) -> Option<usize> {
        let own = self.entries.iter().filter(|e| e.ip == ip).count();
        let victim = if own >= MAX_BLACKLIST_PER_HOST {
            // The host's own oldest entry that is not blocking (it may
            // not displace its own blocks either).
            self.oldest(now, |e| e.ip == ip, false)
                .or_else(|| self.oldest(now, |e| e.ip == ip, true))
        } else if self.entries.is_full() {
            self.oldest(now, |_| true, false)
                .or_else(|| self.oldest(now, |_| true, true))
        } else {
            None
        };
        if let Some(v) = victim {
            self.entries.swap_remove(v);
        } else if own >= MAX_BLACKLIST_PER_HOST || self.entries.is_full() {
            return None;
        }
        let _ = self.entries.push(Entry {
            ip,
            user,
            failures: 0,
            last: now,
        });
        let i = self.entries.len() - 1;
        Some(i)
    }

    /// The entry with the oldest failure among those `pick` selects, by
    /// whether it is blocking now.
    fn oldest(&self, now: Instant, pick: impl Fn(&Entry) -> bool, blocking: bool) -> Option<usize> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| pick(e) && self.blocking(e, now) == blocking)
            .min_by_key(|(_, e)| e.last)
            .map(|(i, _)| i)
    }

    /// Clients blocked now.
    pub fn blocked(&self, now: Instant) -> usize {
        self.entries
            .iter()
            .filter(|e| self.blocking(e, now))
            .count()
    }

    /// Entries in the table (clients with failures on record).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            hitcount: 3,
            duration: Some(Duration::from_secs(60)),
            simulate: false,
        }
    }

    use std::net::Ipv4Addr;

    const PHONE: SourceKey = SourceKey::V4(Ipv4Addr::new(10, 77, 1, 2));

    #[test]
    fn blocks_after_hitcount_and_forgets_after_duration() {
        let mut b = Blacklist::new(policy());
        let t = Instant::now();
        assert!(!b.failed(t, PHONE, 1));
        assert!(!b.failed(t, PHONE, 1));
        assert_eq!(b.check(t, PHONE, 1), Standing::Allowed);
        assert!(b.failed(t, PHONE, 1), "the third failure blocks");
        assert_eq!(b.check(t, PHONE, 1), Standing::Blocked);
        // Another account of the same host is not blocked.
        assert_eq!(b.check(t, PHONE, 2), Standing::Allowed);
        assert_eq!(b.blocked(t), 1);
        let later = t + Duration::from_secs(61);
        assert_eq!(b.check(later, PHONE, 1), Standing::Allowed);
        assert!(b.is_empty(), "an expired block starts from nothing");
    }

    #[test]
    fn a_success_clears_the_count_and_duration_zero_blocks_for_good() {
        let mut b = Blacklist::new(Policy {
            duration: None,
            ..policy()
        });
        let t = Instant::now();
        b.failed(t, PHONE, 1);
        b.failed(t, PHONE, 1);
        b.succeeded(PHONE, 1);
        assert!(!b.failed(t, PHONE, 1), "counting starts again");
        b.failed(t, PHONE, 1);
        b.failed(t, PHONE, 1);
        let much_later = t + Duration::from_secs(365 * 24 * 3600);
        assert_eq!(b.check(much_later, PHONE, 1), Standing::Blocked);
    }

    /// A host spraying user names fills only its own share; a flood of
    /// hosts fills the table without pushing out a block while entries
    /// that block nobody can go.
    #[test]
    fn the_table_is_bounded_per_host_and_keeps_blocks() {
        let mut b = Blacklist::new(policy());
        let t = Instant::now();
        for _ in 0..3 {
            b.failed(t, PHONE, 7);
        }
        let sprayer = SourceKey::V4(Ipv4Addr::new(10, 77, 1, 66));
        for user in 0..1000 {
            b.failed(t + Duration::from_millis(user), sprayer, user);
        }
        let own = b.entries.iter().filter(|e| e.ip == sprayer).count();
        assert_eq!(own, MAX_BLACKLIST_PER_HOST);
        for host in 0..=255u8 {
            for user in 0..4 {
                b.failed(
                    t + Duration::from_secs(1),
                    SourceKey::V4(Ipv4Addr::new(10, 77, 2, host)),
                    user,
                );
            }
        }
        assert_eq!(b.len(), MAX_BLACKLIST);
        assert_eq!(b.check(t, PHONE, 7), Standing::Blocked, "the block stays");
    }

    /// An IPv6 client is its /64: a new privacy address (RFC 8981) does
    /// not start it afresh.
    #[test]
    fn an_ipv6_client_is_its_64() {
        let mut b = Blacklist::new(policy());
        let t = Instant::now();
        let at = |s: &str| SourceKey::of(s.parse().unwrap());
        for i in 1..=3 {
            b.failed(t, at(&format!("2001:db8:0:1::{i}")), 1);
        }
        assert_eq!(b.check(t, at("2001:db8:0:1:abcd::1"), 1), Standing::Blocked);
        assert_eq!(b.check(t, at("2001:db8:0:2::1"), 1), Standing::Allowed);
    }
}
