//! Client transactions whose LAN Via headers sipnat hides from the WAN.
//!
//! When a request goes from the LAN to the WAN, sipnat removes every Via the
//! phone (or a LAN proxy) put in it and sends it with sipnat's Via alone, so
//! no LAN address or LAN topology leaves the router (RFC 3261 §16.6 step 8
//! adds our Via; removing the others is sipnat's topology hiding). The removed
//! lines and the address to answer are kept here, keyed by the 64-bit keyed
//! hash that also forms our branch, and restored on every response (§16.7
//! step 3 removes our Via; the restored ones follow).
//!
//! Lifetimes (RFC 3261 §17.1, §16.8): a non-INVITE entry lives 64·T1 (32 s);
//! an INVITE entry lives Timer C (180 s), renewed by each provisional
//! response, and 32 s after a final response so retransmitted 2xx still find
//! their way. A full table refuses new entries (the caller answers 503) and
//! evicts nothing.

use crate::limits::{MAX_STORED_VIAS, MAX_TRANSACTIONS};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

/// RFC 3261 §17.1.2.2 Timer F / §17.1.1.2 Timer B: 64·T1.
pub const NON_INVITE_LIFETIME: Duration = Duration::from_secs(32);
/// RFC 3261 §16.6 step 11 Timer C: greater than 3 minutes.
pub const TIMER_C: Duration = Duration::from_secs(181);
/// How long a completed INVITE transaction absorbs retransmissions.
pub const AFTER_FINAL: Duration = Duration::from_secs(32);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenTx {
    pub key: u64,
    /// Where responses go (RFC 3261 §18.2.2 with RFC 3581 rport).
    pub reply_to: SocketAddrV4,
    /// The removed Via header lines, each with its CRLF, as they are to be
    /// restored (with received/rport filled in).
    pub vias: heapless::Vec<u8, MAX_STORED_VIAS>,
    pub expires_at: Instant,
    pub invite: bool,
    /// A REGISTER: its 2xx confirms registrations.
    pub register: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxError {
    /// No free entry.
    Full,
    /// The Via lines are longer than an entry holds.
    TooLong,
}

#[derive(Default)]
pub struct TxTable {
    slots: heapless::Vec<HiddenTx, MAX_TRANSACTIONS>,
}

impl TxTable {
    pub fn new() -> TxTable {
        TxTable::default()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn get(&self, key: u64) -> Option<&HiddenTx> {
        self.slots.iter().find(|t| t.key == key)
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut HiddenTx> {
        self.slots.iter_mut().find(|t| t.key == key)
    }

    /// Insert, or refresh the entry with this key (a retransmission).
    pub fn insert(
        &mut self,
        now: Instant,
        key: u64,
        reply_to: SocketAddrV4,
        vias: &[u8],
        invite: bool,
        register: bool,
    ) -> Result<(), TxError> {
        let life = if invite { TIMER_C } else { NON_INVITE_LIFETIME };
        if let Some(t) = self.get_mut(key) {
            t.expires_at = t.expires_at.max(now + life);
            return Ok(());
        }
        let v = heapless::Vec::from_slice(vias).map_err(|_| TxError::TooLong)?;
        self.slots
            .push(HiddenTx {
                key,
                reply_to,
                vias: v,
                expires_at: now + life,
                invite,
                register,
            })
            .map_err(|_| TxError::Full)
    }

    /// A response passed: renew or shorten the entry's life (see module doc).
    pub fn on_response(&mut self, now: Instant, key: u64, code: u16) {
        if let Some(t) = self.get_mut(key) {
            if t.invite {
                t.expires_at = if code < 200 {
                    now + TIMER_C
                } else {
                    now + AFTER_FINAL
                };
            }
        }
    }

    /// Drop expired entries; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.slots.len();
        self.slots.retain(|t| t.expires_at > now);
        before - self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a() -> SocketAddrV4 {
        "10.0.0.2:5060".parse().unwrap()
    }

    #[test]
    fn insert_lookup_refresh() {
        let t0 = Instant::now();
        let mut t: Box<TxTable> = Box::default();
        t.insert(t0, 7, a(), b"Via: SIP/2.0/UDP 10.0.0.2\r\n", true, false)
            .unwrap();
        assert_eq!(
            t.get(7).unwrap().vias.as_slice(),
            b"Via: SIP/2.0/UDP 10.0.0.2\r\n"
        );
        // Retransmission: same entry, no duplicate.
        t.insert(t0 + Duration::from_secs(1), 7, a(), b"x", true, false)
            .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.get(7).unwrap().expires_at,
            t0 + Duration::from_secs(1) + TIMER_C
        );
        assert!(t.get(8).is_none());
    }

    #[test]
    fn lifetimes_follow_responses() {
        let t0 = Instant::now();
        let mut t: Box<TxTable> = Box::default();
        t.insert(t0, 1, a(), b"", true, false).unwrap();
        t.insert(t0, 2, a(), b"", false, true).unwrap();
        assert_eq!(t.expire(t0 + NON_INVITE_LIFETIME), 1);
        assert!(t.get(1).is_some());
        t.on_response(t0 + Duration::from_secs(100), 1, 180);
        assert_eq!(t.expire(t0 + TIMER_C + Duration::from_secs(1)), 0);
        t.on_response(t0 + Duration::from_secs(200), 1, 200);
        assert_eq!(
            t.get(1).unwrap().expires_at,
            t0 + Duration::from_secs(200) + AFTER_FINAL
        );
        assert_eq!(t.expire(t0 + Duration::from_secs(233)), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn full_and_too_long() {
        let t0 = Instant::now();
        let mut t: Box<TxTable> = Box::default();
        for k in 0..MAX_TRANSACTIONS as u64 {
            t.insert(t0, k, a(), b"v", false, false).unwrap();
        }
        assert_eq!(
            t.insert(t0, 9999, a(), b"v", false, false),
            Err(TxError::Full)
        );
        // Existing entries are still refreshed.
        assert_eq!(t.insert(t0, 3, a(), b"v", false, false), Ok(()));
        let mut t: Box<TxTable> = Box::default();
        let long = [b'x'; MAX_STORED_VIAS + 1];
        assert_eq!(
            t.insert(t0, 1, a(), &long, false, false),
            Err(TxError::TooLong)
        );
    }
}
