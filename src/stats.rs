//! Counters for `sipnat status` and the logs.
//!
//! One mechanism for every count: a counter is named by a class and a
//! reason, both `&'static str` (`("drop", "acl")`, `("parse", "bad-via")`,
//! `("answer", "403")`), shown as `class.reason`, and bumped by the layer that
//! decides. The names are data, so a new reason needs no new field. This is
//! *not* used on the RTP hot path (the relay keeps plain integer counters).

use heapless::LinearMap;

/// How many distinct counters one [`Stats`] holds. When full, further new
/// names are summed under [`Stats::OVERFLOW`] so nothing is lost silently.
pub const MAX_COUNTERS: usize = 128;

type Name = (&'static str, &'static str);

#[derive(Debug, Default)]
pub struct Stats {
    counters: LinearMap<Name, u64, MAX_COUNTERS>,
}

impl Stats {
    /// Where counts go when the table of names is full.
    pub const OVERFLOW: Name = ("stats", "overflow");

    pub fn new() -> Stats {
        let mut s = Stats::default();
        // Reserve the overflow slot first so it always exists.
        let _ = s.counters.insert(Self::OVERFLOW, 0);
        s
    }

    /// Add one to the counter `class.reason`.
    pub fn bump(&mut self, class: &'static str, reason: &'static str) {
        self.add(class, reason, 1);
    }

    /// Add `n` to the counter `class.reason`.
    pub fn add(&mut self, class: &'static str, reason: &'static str, n: u64) {
        let name = (class, reason);
        if let Some(v) = self.counters.get_mut(&name) {
            *v += n;
            return;
        }
        if self.counters.insert(name, n).is_err() {
            if let Some(v) = self.counters.get_mut(&Self::OVERFLOW) {
                *v += n;
            }
        }
    }

    /// Current value of `class.reason` (0 if never bumped).
    pub fn get(&self, class: &str, reason: &str) -> u64 {
        self.counters
            .iter()
            .find(|((c, r), _)| *c == class && *r == reason)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    }

    /// Sum of every counter of `class`.
    pub fn class_total(&self, class: &str) -> u64 {
        self.iter()
            .filter(|(c, _, _)| *c == class)
            .map(|(_, _, v)| v)
            .sum()
    }

    /// Every non-zero counter as (class, reason, value), in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        self.counters
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|((c, r), v)| (*c, *r, *v))
    }
}

impl core::fmt::Display for Stats {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (c, r, v) in self.iter() {
            writeln!(f, "{c}.{r} {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_name_and_class() {
        let mut s = Stats::new();
        s.bump("parse", "bad-via");
        s.bump("parse", "bad-via");
        s.add("drop", "acl", 3);
        s.bump("sip", "rx");
        assert_eq!(s.get("parse", "bad-via"), 2);
        assert_eq!(s.get("drop", "acl"), 3);
        assert_eq!(s.get("drop", "nothing"), 0);
        assert_eq!(s.class_total("parse"), 2);
        assert_eq!(s.to_string(), "parse.bad-via 2\ndrop.acl 3\nsip.rx 1\n");
    }

    #[test]
    fn full_table_counts_under_overflow() {
        const CLASSES: [&str; 16] = [
            "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "ca", "cb", "cc", "cd",
            "ce", "cf",
        ];
        const REASONS: [&str; 8] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];
        let mut s = Stats::new();
        for c in CLASSES {
            for r in REASONS {
                s.bump(c, r);
            }
        }
        // 1 reserved + 127 distinct fit; one of the 128 bumps overflowed.
        assert_eq!(s.get(Stats::OVERFLOW.0, Stats::OVERFLOW.1), 1);
        s.bump("one", "more");
        assert_eq!(s.get("one", "more"), 0);
        assert_eq!(s.get(Stats::OVERFLOW.0, Stats::OVERFLOW.1), 2);
        // Existing counters still count.
        s.bump("c0", "r0");
        assert_eq!(s.get("c0", "r0"), 2);
    }
}
