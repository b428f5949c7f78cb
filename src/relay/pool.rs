//! The port pool changing under running calls (a reload with a new
//! `rtp_port_low`/`rtp_port_high`, or `rtp_proxy_enable` turned off or on).
//!
//! One mechanism serves the start and every reload: [`Relay::set_ports`]
//! makes the pool the given pairs. A pair new to the table gets a slot at
//! the end (its socket indexes `2k`, `2k + 1` follow the ones in use, so no
//! running stream's index moves); a pair that leaves the pool while a
//! stream holds it is *draining*: it relays that stream to its end but is
//! never allocated again, and once free it is *closed*, its sockets given
//! back ([`Relay::take_closed`]). A pair that comes back is reopened. Slots
//! are never removed, so the table holds at most every pair ever
//! configured (at most 32,768).
//!
//! The driver owns the sockets: it binds the pairs `set_ports` names, and
//! tells [`Relay::close_slot`] about one it could not bind.

use super::{Relay, Slot};

/// Whether a pair is in the pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PortState {
    /// In the pool: allocated to new streams.
    #[default]
    Open,
    /// Out of the pool, its stream still running: relays it, allocates none.
    Draining,
    /// Out of the pool and free: its sockets are closed.
    Closed,
}

impl Relay {
    /// Make the pool the pairs `ports` (RTP ports, even; a port of 65535,
    /// whose RTCP port cannot exist, and repeats are skipped). Returns the
    /// slots whose sockets the driver must open now (pairs new to the table
    /// or reopened after they were closed).
    pub fn set_ports(&mut self, ports: &[u16]) -> Vec<usize> {
        let mut want: Vec<u16> = ports.iter().copied().filter(|p| *p != u16::MAX).collect();
        want.sort_unstable();
        want.dedup();
        let mut to_open = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let wanted = want.binary_search(&self.ports[i]).is_ok();
            slot.state = match (slot.state, wanted) {
                (PortState::Closed, true) => {
                    to_open.push(i);
                    PortState::Open
                }
                (_, true) => PortState::Open,
                (PortState::Closed, false) => PortState::Closed,
                (_, false) if slot.stream.is_some() => PortState::Draining,
                (_, false) => {
                    // Free and leaving: closed now (the caller closes its sockets).
                    PortState::Closed
                }
            };
        }
        for p in want {
            if !self.ports.contains(&p) {
                to_open.push(self.slots.len());
                self.ports.push(p);
                self.slots.push(Slot::default());
            }
        }
        self.count_open();
        to_open
    }

    /// The driver could not bind slot `i`'s sockets: it leaves the pool.
    pub fn close_slot(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i) {
            if slot.stream.is_none() {
                slot.state = PortState::Closed;
            }
        }
        self.count_open();
    }

    fn count_open(&mut self) {
        self.open = self
            .slots
            .iter()
            .filter(|s| s.state == PortState::Open)
            .count();
        if self.cursor >= self.slots.len() {
            self.cursor = 0;
        }
    }

    /// Draining pairs whose stream has ended become closed; then `closed`
    /// is called with every closed slot (the driver drops its sockets if it
    /// still holds them).
    pub fn take_closed(&mut self, closed: &mut dyn FnMut(usize)) {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.state == PortState::Draining && slot.stream.is_none() {
                slot.state = PortState::Closed;
            }
            if slot.state == PortState::Closed {
                closed(i);
            }
        }
    }

    /// The RTP port of slot `i` (RTCP is + 1).
    pub fn pair_port(&self, i: usize) -> Option<u16> {
        self.ports.get(i).copied()
    }

    /// The state of slot `i` (its sockets are `2i` and `2i + 1`).
    pub fn port_state(&self, i: usize) -> Option<PortState> {
        self.slots.get(i).map(|s| s.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn relay(ports: &[u16]) -> Relay {
        Relay::new(ports, Duration::from_secs(30))
    }

    #[test]
    fn a_new_range_keeps_the_running_stream_and_closes_its_pair_after() {
        let now = Instant::now();
        let mut r = relay(&[7070, 7072]);
        assert_eq!(r.capacity(), 2);
        let (id, port) = r.allocate(now).unwrap();
        assert_eq!(port, 7070);
        // 8000 and 8002 join (slots 2 and 3); 7072 is free: closed at once;
        // 7070 carries a stream: draining.
        assert_eq!(r.set_ports(&[8000, 8002]), vec![2, 3]);
        assert_eq!(r.capacity(), 2);
        assert_eq!(r.port_state(0), Some(PortState::Draining));
        assert_eq!(r.port_state(1), Some(PortState::Closed));
        assert_eq!(r.port_of(id), Some(7070), "the call keeps its port");
        // new streams come from the new range only
        let (_, a) = r.allocate(now).unwrap();
        let (_, b) = r.allocate(now).unwrap();
        assert_eq!((a, b), (8000, 8002));
        assert!(r.allocate(now).is_err());
        let mut closed = Vec::new();
        r.take_closed(&mut |k| closed.push(k));
        assert_eq!(closed, [1], "7070 still carries its call");
        r.free(id);
        closed.clear();
        r.take_closed(&mut |k| closed.push(k));
        assert_eq!(closed, [0, 1]);
        assert_eq!(r.port_state(0), Some(PortState::Closed));
    }

    #[test]
    fn a_pair_that_comes_back_is_reopened_and_repeats_are_skipped() {
        let mut r = relay(&[7070, 7072]);
        assert!(r.set_ports(&[]).is_empty());
        assert_eq!(r.capacity(), 0);
        assert_eq!(r.set_ports(&[7072, 7072, 7074, u16::MAX]), vec![1, 2]);
        assert_eq!(r.capacity(), 2);
        assert_eq!(r.port_state(0), Some(PortState::Closed));
        assert_eq!(r.pair_port(2), Some(7074));
        // the driver could not bind 7074
        r.close_slot(2);
        assert_eq!(r.capacity(), 1);
        let (_, p) = r.allocate(Instant::now()).unwrap();
        assert_eq!(p, 7072);
    }

    #[test]
    fn a_draining_pair_that_comes_back_is_open_again() {
        let now = Instant::now();
        let mut r = relay(&[7070]);
        let (id, _) = r.allocate(now).unwrap();
        r.set_ports(&[]);
        assert_eq!(r.port_state(0), Some(PortState::Draining));
        assert!(
            r.set_ports(&[7070]).is_empty(),
            "its sockets are still open"
        );
        assert_eq!(r.port_state(0), Some(PortState::Open));
        r.free(id);
        assert!(r.allocate(now).is_ok());
    }
}
