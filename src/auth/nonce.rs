//! Stateless keyed nonces, and the table of nonce-counts that stops replays.
//!
//! A nonce is `hex(issued) hex(counter) hex(mac)`: the issue time in seconds,
//! a counter that makes every nonce of one run unique, and the first 128 bits
//! of HMAC-SHA-256 over both under a key the driver draws at start (RFC 7616
//! §3.3 suggests a time stamp and a private key in the nonce; §5.5 and
//! RFC 2617 §4.3 explain why a server must be able to tell its own nonces and
//! their age). Checking one needs no table: the MAC says it is ours, the time
//! says whether it is still fresh. A nonce of an earlier run (another key)
//! fails its MAC, and the client is simply challenged anew.
//!
//! The nonce-count (RFC 7616 §3.4.5, RFC 2617 §3.2.2 `nc`) must grow with
//! every request a client signs with one nonce, so that a recorded request
//! cannot be played again: [`NonceCounts`] remembers the highest count seen
//! for each nonce used, in a fixed table. When the table is full the entry
//! issued longest ago goes, and a watermark rises to its issue time: from then
//! on every nonce issued at or before the watermark that is not in the table
//! answers "stale", so forgetting an entry never reopens a replay.
//!
//! Times are seconds on the caller's clock (seconds since the daemon started
//! are enough: nonces do not outlive a run); the module never reads a clock.

use core::cell::Cell;

use heapless::{String, Vec};

use super::digest::{ct_eq, to_hex};
use super::sha256::hmac;

/// Hex digits of a nonce: 8 (issue time) + 8 (counter) + 32 (MAC).
pub const NONCE_LEN: usize = 48;
/// Bytes of the MAC kept in a nonce (128 bits of HMAC-SHA-256).
const MAC_LEN: usize = 16;
/// Separates the nonce MAC from any other use of the same key.
const DOMAIN: &[u8] = b"sipnat digest nonce 1";

/// The text of a nonce, as it goes into `nonce="..."`.
pub type NonceText = String<NONCE_LEN>;

/// Issues and checks nonces under one key.
pub struct Nonces {
    key: [u8; 32],
    /// The next counter value; a `Cell` so that issuing needs only `&self`
    /// (the core is single-threaded).
    counter: Cell<u32>,
}

impl core::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Nonces").finish_non_exhaustive()
    }
}

/// What a nonce presented by a client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours, and within its lifetime; `id` names it in [`NonceCounts`].
    Fresh { issued: u32, id: u64 },
    /// Ours, but older than the lifetime, or issued "after" now (the clock
    /// went back): the client gets a new challenge with `stale=true`
    /// (RFC 7616 §3.3).
    Stale,
    /// Not ours: the wrong length or digits, or a MAC that does not match
    /// (a nonce of an earlier run, or made up).
    Invalid,
}

fn mac(key: &[u8; 32], issued: u32, counter: u32) -> [u8; MAC_LEN] {
    let full = hmac(
        key,
        &[DOMAIN, &issued.to_be_bytes(), &counter.to_be_bytes()],
    );
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

/// The value of lowercase hex digits (our nonces never hold uppercase).
fn unhex(text: &[u8], out: &mut [u8]) -> Option<()> {
    if text.len() != out.len() * 2 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *o = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(())
}

/// True when a nonce issued at `issued` is past its lifetime at `now`, or
/// from the future.
fn expired(issued: u32, now: u32, lifetime: u32) -> bool {
    issued > now || now - issued > lifetime
}

impl Nonces {
    /// `key` must be secret and should be drawn at random at every start
    /// (the driver reads it from the system's random source).
    pub fn new(key: [u8; 32]) -> Self {
        Nonces {
            key,
            counter: Cell::new(0),
        }
    }

    /// A new nonce, unique for this key (the counter goes up at every call).
    pub fn issue(&self, now_secs: u32) -> NonceText {
        let counter = self.counter.get();
        self.counter.set(counter.wrapping_add(1));
        let mut text = NonceText::new();
        // 4 + 4 + 16 bytes make 48 hex digits: NONCE_LEN, the capacity.
        let _ = text.push_str(&to_hex(&now_secs.to_be_bytes()));
        let _ = text.push_str(&to_hex(&counter.to_be_bytes()));
        let _ = text.push_str(&to_hex(&mac(&self.key, now_secs, counter)));
        text
    }

    /// Whether `nonce` is one of ours and still fresh: its MAC compared in
    /// constant time, then its age against `lifetime_secs`.
    pub fn check(&self, nonce: &str, now_secs: u32, lifetime_secs: u32) -> NonceCheck {
        let text = nonce.as_bytes();
        if text.len() != NONCE_LEN {
            return NonceCheck::Invalid;
        }
        let (mut issued, mut counter, mut got) = ([0u8; 4], [0u8; 4], [0u8; MAC_LEN]);
        let parsed = unhex(&text[..8], &mut issued)
            .and_then(|()| unhex(&text[8..16], &mut counter))
            .and_then(|()| unhex(&text[16..], &mut got));
        if parsed.is_none() {
            return NonceCheck::Invalid;
        }
        let (issued, counter) = (u32::from_be_bytes(issued), u32::from_be_bytes(counter));
        if !ct_eq(&got, &mac(&self.key, issued, counter)) {
            return NonceCheck::Invalid;
        }
        if expired(issued, now_secs, lifetime_secs) {
            return NonceCheck::Stale;
        }
        NonceCheck::Fresh {
            issued,
            id: (u64::from(issued) << 32) | u64::from(counter),
        }
    }
}

/// Whether a request's nonce-count may be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NcVerdict {
    /// Higher than any count seen with this nonce: recorded.
    Ok,
    /// Not higher than a count already seen: a replayed (or reordered)
    /// request (RFC 7616 §3.4.5: "detect request replays").
    Replay,
    /// The nonce cannot be vouched for: expired, forgotten (at or below the
    /// watermark), or first seen with a count other than 1. The client gets
    /// a fresh nonce with `stale=true`.
    Stale,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    id: u64,
    issued: u32,
    highest: u32,
}

/// The highest nonce-count seen for each nonce in use, in `N` fixed slots.
///
/// Only requests whose response was right reach this table, so only holders
/// of a password can fill it. Full table: the entry issued longest ago
/// (expired ones first, since they are the oldest) makes room, and the
/// watermark rises to its issue time (module doc).
#[derive(Debug)]
pub struct NonceCounts<const N: usize> {
    entries: Vec<Entry, N>,
    /// The latest issue time of an evicted entry; `None` until one goes.
    watermark: Option<u32>,
}

impl<const N: usize> Default for NonceCounts<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> NonceCounts<N> {
    pub const fn new() -> Self {
        NonceCounts {
            entries: Vec::new(),
            watermark: None,
        }
    }

    /// Nonces remembered now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records `nc` for the nonce `id` (issued at `issued`) if it is higher
    /// than any count seen with it (RFC 7616 §3.4.5, RFC 2617 §3.2.2).
    pub fn accept(
        &mut self,
        id: u64,
        issued: u32,
        nc: u32,
        now_secs: u32,
        lifetime_secs: u32,
    ) -> NcVerdict {
        if expired(issued, now_secs, lifetime_secs) {
            return NcVerdict::Stale;
        }
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
            if nc > e.highest {
                e.highest = nc;
                return NcVerdict::Ok;
            }
            return NcVerdict::Replay;
        }
        if self.watermark.is_some_and(|w| issued <= w) || nc != 1 {
            return NcVerdict::Stale;
        }
        if self.entries.is_full() {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.issued)
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                let gone = self.entries.swap_remove(i);
                self.watermark = Some(self.watermark.map_or(gone.issued, |w| w.max(gone.issued)));
            }
        }
        let entry = Entry {
            id,
            issued,
            highest: nc,
        };
        match self.entries.push(entry) {
            // Safe even when this nonce is older than the watermark just
            // raised: it is in the table now, and leaves it only through an
            // eviction that lifts the watermark to its issue time or later.
            Ok(()) => NcVerdict::Ok,
            // No slot at all (N == 0): nothing could stop a replay.
            Err(_) => NcVerdict::Stale,
        }
    }
}

#[cfg(test)]
mod tests;
