//! What `sipnat status` shows of the resolver: the unexpired cache entries
//! and how many queries are in flight. Read-only.

use super::{Answer, CacheEntry, Resolver};
use core::fmt;
use std::time::Instant;

/// One unexpired cache entry ([`Resolver::cache_view`]).
pub struct CacheView<'a> {
    entry: &'a CacheEntry,
    ttl: u64,
}

impl CacheView<'_> {
    /// The name looked up (for SRV, the `_sip._udp.` name).
    pub fn name(&self) -> impl fmt::Display + '_ {
        &self.entry.name
    }

    /// `A` or `SRV`.
    pub fn kind(&self) -> &'static str {
        self.entry.qtype.as_str()
    }

    /// The answer sipnat uses: an address, `target:port` for SRV, or the
    /// error it remembers (a negative entry).
    pub fn answer(&self) -> impl fmt::Display + '_ {
        AnswerText(&self.entry.answer)
    }

    /// Whole seconds until the entry expires.
    pub fn ttl(&self) -> u64 {
        self.ttl
    }
}

struct AnswerText<'a>(&'a Answer);

impl fmt::Display for AnswerText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Answer::Addr(ip) => write!(f, "{ip}"),
            Answer::Srv { target, port, .. } if target.is_root() => {
                write!(f, "no service ({port})")
            }
            Answer::Srv { target, port, .. } => write!(f, "{target}:{port}"),
            Answer::Negative(e) => write!(f, "error: {e}"),
        }
    }
}

impl Resolver {
    /// The cache entries that have not expired at `now`, in table order.
    pub fn cache_view(&self, now: Instant) -> impl Iterator<Item = CacheView<'_>> + '_ {
        self.cache
            .iter()
            .filter(move |e| !crate::due(&now, &e.expires_at))
            .map(move |entry| CacheView {
                entry,
                ttl: entry.expires_at.duration_since(now).as_secs(),
            })
    }

    /// Queries in flight.
    pub fn pending(&self) -> usize {
        self.pending.iter().flatten().count()
    }
}
