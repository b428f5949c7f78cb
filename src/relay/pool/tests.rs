//! The pool against a simulated driver: which ports it asks for, what it
//! does with `EADDRINUSE` and other failures, when it closes, and a range
//! that changes under running streams.

use super::super::PoolFull;
use super::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A driver: the sockets it holds (slot → RTP port), the ports other
/// programs hold, and every bind it was asked for.
#[derive(Default)]
struct Driver {
    bound: BTreeMap<usize, u16>,
    foreign: BTreeSet<u16>,
    /// Fail every bind with something other than `EADDRINUSE`.
    broken: bool,
    asked: Vec<u16>,
}

impl Driver {
    /// Run the pool's work to its end; returns the ops carried out.
    fn run(&mut self, r: &mut Relay) -> usize {
        let mut ops = 0;
        loop {
            let more = r.maintain(16, &mut |op| {
                ops += 1;
                match op {
                    PortOp::Bind { slot, port } => {
                        self.asked.push(port);
                        assert!(!self.bound.values().any(|p| *p == port), "{port} twice");
                        assert!(!self.bound.contains_key(&slot), "slot {slot} bound twice");
                        if self.broken {
                            return Err(BindError::Other);
                        }
                        if self.foreign.contains(&port) || self.foreign.contains(&(port + 1)) {
                            return Err(BindError::InUse);
                        }
                        self.bound.insert(slot, port);
                        Ok(())
                    }
                    PortOp::Close { slot } => {
                        assert!(self.bound.remove(&slot).is_some(), "slot {slot} not bound");
                        Ok(())
                    }
                    PortOp::Forward(_) | PortOp::Unforward(_) | PortOp::Forget { .. } => {
                        panic!("the fast path is off: {op:?}")
                    }
                }
            });
            if !more {
                return ops;
            }
        }
    }
}

fn relay(low: u16, high: u16, seed: u64) -> Relay {
    Relay::new(PortRange::new(low, high), Duration::from_secs(30), seed)
}

fn alloc(r: &mut Relay, d: &mut Driver) -> (crate::relay::StreamId, u16) {
    let got = r.allocate(Instant::now()).expect("room");
    d.run(r);
    got
}

#[test]
fn a_range_is_its_even_ports_with_the_next_odd_one() {
    let r = PortRange::new(7070, 7089);
    assert_eq!(r.pairs(), 10);
    assert!(r.contains(7070) && r.contains(7088));
    assert!(!r.contains(7071) && !r.contains(7090) && !r.contains(7068));
    // an odd low port starts at the next even one; a last port without its
    // RTCP port is no pair
    assert_eq!(PortRange::new(7071, 7074).pairs(), 1);
    assert_eq!(PortRange::new(65534, 65535).pairs(), 1);
    assert!(PortRange::new(65534, 65535).contains(65534));
    assert_eq!(PortRange::new(65535, 65535).pairs(), 0);
    assert_eq!(PortRange::new(8000, 7000).pairs(), 0);
    assert_eq!(PortRange::new(1, 65535).pairs(), 32767);
    assert_eq!(PortRange::EMPTY.pairs(), 0);
}

#[test]
fn capacity_is_in_streams_and_does_not_follow_a_large_range() {
    assert_eq!(relay(7070, 7089, 1).capacity(), 10);
    assert_eq!(relay(10000, 59999, 1).capacity(), MAX_STREAMS);
    assert_eq!(relay(65534, 65535, 1).capacity(), 1);
    assert_eq!(relay(0, 0, 1).capacity(), 0);
}

#[test]
fn idle_binds_only_the_spares_at_a_random_start_and_distinct_pairs() {
    let mut firsts = BTreeSet::new();
    for seed in 1..=4 {
        let mut r = relay(10000, 59999, seed);
        let mut d = Driver::default();
        assert_eq!(r.bound(), 0, "nothing before the driver binds");
        d.run(&mut r);
        assert_eq!(r.bound(), SPARE_PAIRS);
        assert_eq!(r.spares(), SPARE_PAIRS);
        assert_eq!(d.bound.len(), SPARE_PAIRS);
        let ports: BTreeSet<u16> = d.bound.values().copied().collect();
        assert_eq!(ports.len(), SPARE_PAIRS, "distinct pairs");
        assert!(
            ports
                .iter()
                .all(|p| (10000..59999).contains(p) && p % 2 == 0)
        );
        assert!(!ports.contains(&10000), "not from the bottom: {ports:?}");
        firsts.insert(d.asked[0]);
        // nothing more to do: no busy loop
        assert!(!r.maintenance_due());
        assert_eq!(d.run(&mut r), 0);
    }
    assert_eq!(firsts.len(), 4, "each seed its own start: {firsts:?}");
}

#[test]
fn a_port_in_use_elsewhere_is_skipped_and_counted() {
    let mut r = relay(7070, 7089, 7);
    // another program holds every RTP port but those of 7080's and 7084's
    // pairs, and 7085 (an RTCP port, so 7084's pair is out too)
    let mut d = Driver {
        foreign: (7070..7090)
            .step_by(2)
            .filter(|p| *p != 7080 && *p != 7084)
            .chain([7085])
            .collect(),
        ..Driver::default()
    };
    d.run(&mut r);
    assert_eq!(d.bound.values().copied().collect::<Vec<_>>(), [7080]);
    assert!(r.stalled(), "the rest of the range was tried");
    // every pair was asked for, each failure counted; the search for the
    // second spare went once round the range (9 pairs, 7080 skipped) and
    // stopped, the first stopped at 7080
    let asked: BTreeSet<u16> = d.asked.iter().copied().collect();
    assert_eq!(asked.len(), 10);
    assert_eq!(r.totals().bind_in_use as usize, d.asked.len() - 1);
    assert!(d.asked.len() <= 19, "{:?}", d.asked);
    // one stream gets 7080; the next finds no bound pair although the
    // range has room: refused, counted apart from a full pool
    let (_, port) = alloc(&mut r, &mut d);
    assert_eq!(port, 7080);
    assert_eq!(r.allocate(Instant::now()), Err(PoolFull));
    assert_eq!((r.totals().no_port, r.totals().pool_full), (1, 0));
    // the other program lets 7072 go; the driver asks again later
    d.foreign.remove(&7072);
    d.asked.clear();
    assert_eq!(d.run(&mut r), 0, "stalled: nothing tried until asked");
    r.retry_binds();
    d.run(&mut r);
    assert!(d.bound.values().any(|p| *p == 7072), "{:?}", d.bound);
    assert!(!d.asked.contains(&7080), "its own pair is never tried");
}

#[test]
fn another_failure_stops_the_search_until_asked_again() {
    let mut r = relay(10000, 59999, 3);
    let mut d = Driver {
        broken: true,
        ..Driver::default()
    };
    d.run(&mut r);
    assert_eq!(
        d.asked.len(),
        1,
        "no sweep of 25,000 pairs: {}",
        d.asked.len()
    );
    assert!(r.stalled());
    assert_eq!(r.totals().bind_failed, 1);
    assert_eq!(r.bound(), 0);
    d.broken = false;
    r.retry_binds();
    d.run(&mut r);
    assert_eq!(r.bound(), SPARE_PAIRS);
    assert!(!r.stalled());
}

#[test]
fn ended_streams_close_their_pairs_and_the_spares_stay_topped_up() {
    let mut r = relay(10000, 59999, 11);
    let mut d = Driver::default();
    d.run(&mut r);
    let streams: Vec<_> = (0..100).map(|_| alloc(&mut r, &mut d)).collect();
    assert_eq!(r.in_use(), 100);
    assert_eq!(r.bound(), 100 + SPARE_PAIRS);
    assert_eq!(d.bound.len(), 100 + SPARE_PAIRS);
    let used: BTreeSet<u16> = streams.iter().map(|(_, p)| *p).collect();
    assert_eq!(used.len(), 100);
    for (id, _) in &streams {
        r.free(*id);
    }
    assert_eq!(r.in_use(), 0);
    d.run(&mut r);
    assert_eq!(r.bound(), SPARE_PAIRS, "back to the spares");
    assert_eq!(d.bound.len(), SPARE_PAIRS);
    let t = r.totals();
    assert_eq!(t.closed, 100);
    assert_eq!(t.bound, 100 + SPARE_PAIRS as u64);
    // the slots are reused, not new ones touched
    let (_, _) = alloc(&mut r, &mut d);
    assert!(d.bound.keys().all(|k| *k < 100 + SPARE_PAIRS));
}

#[test]
fn a_full_range_refuses_and_a_freed_pair_is_reused() {
    let mut r = relay(7070, 7073, 5); // two pairs
    let mut d = Driver::default();
    d.run(&mut r);
    assert_eq!(r.bound(), 2, "spares never exceed the capacity");
    let (a, pa) = alloc(&mut r, &mut d);
    let (_, pb) = alloc(&mut r, &mut d);
    assert_ne!(pa, pb);
    assert_eq!(r.allocate(Instant::now()), Err(PoolFull));
    assert_eq!(r.totals().pool_full, 1);
    assert!(!r.maintenance_due(), "nothing to bind at capacity");
    r.free(a);
    d.run(&mut r);
    let (_, again) = alloc(&mut r, &mut d);
    assert_eq!(again, pa, "the only free pair, closed and bound again");
    assert_eq!(r.totals().closed, 1);
}

#[test]
fn budget_bounds_the_work_of_one_pass() {
    let mut r = relay(10000, 59999, 9);
    let mut n = 0;
    assert!(r.maintain(3, &mut |_| {
        n += 1;
        Ok(())
    }));
    assert_eq!(n, 3);
    assert!(r.maintenance_due());
}

#[test]
fn the_table_holds_max_streams_whatever_the_range() {
    let mut r = relay(1024, 65535, 13);
    let mut d = Driver::default();
    d.run(&mut r);
    for _ in 0..MAX_STREAMS {
        alloc(&mut r, &mut d);
    }
    assert_eq!(r.in_use(), MAX_STREAMS);
    assert_eq!(r.spares(), 0);
    assert_eq!(r.allocate(Instant::now()), Err(PoolFull));
    assert_eq!(r.totals().pool_full, 1);
    assert_eq!(d.bound.len(), MAX_STREAMS);
}

#[test]
fn a_new_range_moves_the_spares_and_running_streams_keep_their_pairs() {
    let mut r = relay(7070, 7089, 17);
    let mut d = Driver::default();
    d.run(&mut r);
    assert_eq!(r.bound(), SPARE_PAIRS);
    let (id, old) = alloc(&mut r, &mut d);
    assert!((7070..7090).contains(&old));
    r.set_range(PortRange::new(8000, 8009));
    assert_eq!(r.capacity(), 5);
    d.run(&mut r);
    // the old spares closed, five new in the new range; the stream stays
    assert_eq!(r.port_of(id), Some(old));
    assert!(d.bound.values().any(|p| *p == old));
    let spares: Vec<u16> = d.bound.values().copied().filter(|p| *p != old).collect();
    assert_eq!(spares.len(), 5);
    assert!(
        spares.iter().all(|p| (8000..8010).contains(p)),
        "{spares:?}"
    );
    let (_, new) = alloc(&mut r, &mut d);
    assert!((8000..8010).contains(&new));
    // the old range's stream ends: its pair closes, no spare comes back
    // in the old range
    r.free(id);
    d.run(&mut r);
    assert!(
        d.bound.values().all(|p| (8000..8010).contains(p)),
        "{:?}",
        d.bound
    );
    assert_eq!(r.bound(), 5);

    // relaying off: no spare at all, the running stream goes on
    r.set_range(PortRange::EMPTY);
    d.run(&mut r);
    assert_eq!(r.capacity(), 0);
    assert_eq!(r.bound(), 1);
    assert_eq!(d.bound.values().copied().collect::<Vec<_>>(), [new]);
    assert_eq!(r.allocate(Instant::now()), Err(PoolFull));
    // on again
    r.set_range(PortRange::new(7070, 7089));
    d.run(&mut r);
    assert_eq!(r.bound(), 1 + SPARE_PAIRS);
}

#[test]
fn a_smaller_range_that_overlaps_keeps_what_fits() {
    let mut r = relay(7070, 7089, 19);
    let mut d = Driver::default();
    d.run(&mut r);
    let streams: Vec<_> = (0..3).map(|_| alloc(&mut r, &mut d)).collect();
    // a range of four pairs that holds at least the streams' own ports
    let low = streams.iter().map(|(_, p)| *p).min().unwrap_or(7070);
    r.set_range(PortRange::new(low, low + 7));
    d.run(&mut r);
    let inside = streams
        .iter()
        .filter(|(_, p)| PortRange::new(low, low + 7).contains(*p))
        .count();
    assert_eq!(r.capacity(), 4);
    assert_eq!(r.spares(), 4 - inside, "spares only where capacity is left");
    assert!(r.spares() + inside <= r.capacity());
}
