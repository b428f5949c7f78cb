//! Unit tests of the relay table, driven by a virtual clock.
//!
//! The usual cast: phone A on the LAN at 10.0.0.2 (signalling from the same
//! IP), a far end B on the WAN at 198.51.100.3 whose calls come through a
//! provider proxy at 203.0.113.10, and a stranger at 192.0.2.66.

use super::*;

const RTP_TIMEOUT: Duration = Duration::from_secs(30);
const PHONE: &str = "10.0.0.2:4000";
const PHONE_RTCP: &str = "10.0.0.2:4001";
const FAR: &str = "198.51.100.3:5000";
const FAR_RTCP: &str = "198.51.100.3:5001";
const PROXY_IP: &str = "203.0.113.10";
const STRANGER: &str = "192.0.2.66:40000";

fn a(s: &str) -> SocketAddrV4 {
    s.parse().expect("test address")
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test ip")
}

/// The side a test packet arrives on: the cast's LAN is 10.0.0.0/8.
fn side(from: SocketAddrV4) -> Side {
    if from.ip().octets()[0] == 10 {
        Side::Lan
    } else {
        Side::Wan
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn fwd(to: &str) -> Decision {
    Decision::Forward(a(to))
}

const UNKNOWN: Decision = Decision::Drop(DropReason::UnknownSource);

/// A leg whose RTCP is on RTP port + 1.
fn setup(rtp: &str, signalling: &str, wan: bool) -> LegSetup {
    let rtp = a(rtp);
    LegSetup {
        rtp,
        rtcp: SocketAddrV4::new(*rtp.ip(), rtp.port().wrapping_add(1)),
        signalling_ip: Some(ip(signalling)),
        wan,
    }
}

fn phone_leg() -> LegSetup {
    setup(PHONE, "10.0.0.2", false)
}

fn far_leg() -> LegSetup {
    setup(FAR, PROXY_IP, true)
}

struct T {
    relay: Relay,
    now: Instant,
}

impl T {
    /// A pool 7070–7079: five streams.
    fn new() -> T {
        let now = Instant::now();
        T {
            relay: Relay::new(&[7070, 7072, 7074, 7076, 7078], RTP_TIMEOUT),
            now,
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    fn alloc(&mut self) -> (StreamId, u16) {
        self.relay.allocate(self.now).expect("pool has room")
    }

    /// A stream with both legs set: A the LAN phone, B the given far end.
    fn call(&mut self, b: &LegSetup) -> (StreamId, usize) {
        let (id, port) = self.alloc();
        self.relay.set_leg(self.now, id, Leg::A, &phone_leg());
        self.relay.set_leg(self.now, id, Leg::B, b);
        (id, self.index(port))
    }

    fn index(&self, port: u16) -> usize {
        self.relay
            .socket_ports()
            .position(|p| p == port)
            .expect("a pool port")
    }

    fn rtp(&mut self, index: usize, from: &str) -> Decision {
        self.relay
            .on_packet(self.now, index, a(from), side(a(from)), 172)
    }

    fn rtcp(&mut self, index: usize, from: &str) -> Decision {
        self.relay
            .on_packet(self.now, index + 1, a(from), side(a(from)), 80)
    }

    fn expire(&mut self) -> Vec<StreamId> {
        let mut v = Vec::new();
        self.relay.expire(self.now, &mut |id| v.push(id));
        v
    }
}

// --- pool --------------------------------------------------------------

#[test]
fn socket_indices_map_to_rtp_and_rtcp_ports() {
    let t = T::new();
    let ports: Vec<u16> = t.relay.socket_ports().collect();
    assert_eq!(
        ports,
        [7070, 7071, 7072, 7073, 7074, 7075, 7076, 7077, 7078, 7079]
    );
    assert_eq!(t.relay.capacity(), 5);
    assert_eq!(t.relay.in_use(), 0);
    // A pair whose RTCP port would not exist is skipped.
    let r = Relay::new(&[65532, 65534, 65535], RTP_TIMEOUT);
    assert_eq!(
        r.socket_ports().collect::<Vec<_>>(),
        [65532, 65533, 65534, 65535]
    );
    assert_eq!(r.capacity(), 2);
    // So is a duplicate (a port cannot be bound twice).
    let r = Relay::new(&[7070, 7070, 7072], RTP_TIMEOUT);
    assert_eq!(
        r.socket_ports().collect::<Vec<_>>(),
        [7070, 7071, 7072, 7073]
    );
}

#[test]
fn allocation_is_round_robin_and_free_makes_a_pair_reusable() {
    let mut t = T::new();
    let (s1, p1) = t.alloc();
    let (s2, p2) = t.alloc();
    assert_eq!((p1, p2), (7070, 7072));
    assert_eq!(t.relay.in_use(), 2);
    t.relay.free(s1);
    assert_eq!(t.relay.in_use(), 1);
    assert_eq!(t.relay.port_of(s1), None);
    assert_eq!(t.relay.port_of(s2), Some(7072));
    // The next allocation does not reuse 7070 while later pairs are free.
    let ports: Vec<u16> = (0..3).map(|_| t.alloc().1).collect();
    assert_eq!(ports, [7074, 7076, 7078]);
    // Now only 7070 is free: it is taken.
    let (s1b, p) = t.alloc();
    assert_eq!(p, 7070);
    assert_ne!(s1b, s1, "a new generation");
    assert_eq!(t.relay.totals().allocated, 6);
    assert_eq!(t.relay.totals().freed, 1);
}

#[test]
fn stale_ids_never_reach_the_next_stream_of_their_slot() {
    let mut t = T::new();
    let only = Relay::new(&[7070], RTP_TIMEOUT);
    t.relay = only;
    let (old, _) = t.alloc();
    t.relay.free(old);
    let (new, idx) = t.call(&far_leg());
    assert_eq!(t.relay.port_of(new), Some(7070));
    // Everything done with the stale id is ignored.
    t.relay.set_leg(
        t.now,
        old,
        Leg::B,
        &setup("192.0.2.66:9", "192.0.2.66", true),
    );
    t.relay.set_hold(old, true);
    t.relay.free(old);
    assert_eq!(t.relay.port_of(old), None);
    assert_eq!(t.relay.stream_stats(old), None);
    assert_eq!(t.relay.in_use(), 1);
    assert_eq!(t.relay.destination(new, Leg::B, Channel::Rtp), Some(a(FAR)));
    assert_eq!(t.rtp(idx, PHONE), fwd(FAR));
    // Free twice: the second is a no-op.
    t.relay.free(new);
    t.relay.free(new);
    assert_eq!(t.relay.in_use(), 0);
    assert_eq!(t.relay.totals().freed, 2);
}

#[test]
fn a_full_pool_refuses_and_keeps_every_stream() {
    let mut t = T::new();
    let calls: Vec<(StreamId, usize)> = (0..5).map(|_| t.call(&far_leg())).collect();
    assert_eq!(t.relay.allocate(t.now), Err(PoolFull));
    assert_eq!(t.relay.totals().pool_full, 1);
    assert_eq!(t.relay.in_use(), 5);
    for (id, idx) in calls {
        assert!(t.relay.port_of(id).is_some());
        assert_eq!(t.rtp(idx, PHONE), fwd(FAR));
    }
    // An empty pool is always full.
    let mut empty = Relay::new(&[], RTP_TIMEOUT);
    assert_eq!(empty.allocate(t.now), Err(PoolFull));
    assert_eq!(
        empty.on_packet(t.now, 0, a(PHONE), Side::Lan, 10),
        Decision::Drop(DropReason::NotAllocated)
    );
}

#[test]
fn packets_on_a_free_or_unknown_port_are_not_allocated() {
    let mut t = T::new();
    let d = Decision::Drop(DropReason::NotAllocated);
    assert_eq!(t.rtp(0, PHONE), d);
    assert_eq!(t.rtcp(0, PHONE_RTCP), d);
    assert_eq!(t.rtp(999, PHONE), d, "an index beyond the pool");
    assert_eq!(
        t.relay.totals().dropped_by(DropReason::NotAllocated),
        Counts {
            packets: 3,
            bytes: 172 + 80 + 172
        }
    );
}

// --- forwarding -----------------------------------------------------------

#[test]
fn rtp_and_rtcp_are_forwarded_both_ways() {
    let mut t = T::new();
    let (id, idx) = t.call(&far_leg());
    assert_eq!(t.rtp(idx, PHONE), fwd(FAR));
    assert_eq!(t.rtp(idx, FAR), fwd(PHONE));
    assert_eq!(t.rtcp(idx, PHONE_RTCP), fwd(FAR_RTCP));
    assert_eq!(t.rtcp(idx, FAR_RTCP), fwd(PHONE_RTCP));
    assert_eq!(t.relay.latched(id, Leg::A, Channel::Rtp), Some(a(PHONE)));
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtcp),
        Some(a(FAR_RTCP))
    );
    let s = t.relay.stream_stats(id).expect("live");
    assert_eq!(
        s.forwarded_from(Leg::A),
        Counts {
            packets: 2,
            bytes: 172 + 80
        }
    );
    assert_eq!(
        s.forwarded_from(Leg::B),
        Counts {
            packets: 2,
            bytes: 172 + 80
        }
    );
    assert_eq!(s.latches, 4);
    let tot = t.relay.totals();
    assert_eq!(
        tot.forwarded,
        Counts {
            packets: 4,
            bytes: 2 * (172 + 80)
        }
    );
    assert_eq!(tot.latches, 4);
}

#[test]
fn an_explicit_rtcp_address_is_used() {
    let mut t = T::new();
    let mut b = far_leg();
    b.rtcp = a("198.51.100.4:7000"); // a=rtcp:7000 IN IP4 198.51.100.4
    let (_, idx) = t.call(&b);
    assert_eq!(t.rtcp(idx, PHONE_RTCP), fwd("198.51.100.4:7000"));
    // Its IP is allowed for the leg.
    assert_eq!(t.rtcp(idx, "198.51.100.4:7000"), fwd(PHONE_RTCP));
}

#[test]
fn a_nat_changed_port_is_latched_and_used() {
    let mut t = T::new();
    let (id, idx) = t.call(&far_leg());
    // The phone talks first: to the address the SDP gave.
    assert_eq!(t.rtp(idx, PHONE), fwd(FAR));
    // The far end's NAT sends from another port: it latches (allowed IP).
    assert_eq!(t.rtp(idx, "198.51.100.3:61000"), fwd(PHONE));
    assert_eq!(t.rtp(idx, PHONE), fwd("198.51.100.3:61000"));
    assert_eq!(
        t.relay.destination(id, Leg::B, Channel::Rtp),
        Some(a("198.51.100.3:61000"))
    );
    // RTCP latches separately.
    assert_eq!(t.rtcp(idx, PHONE_RTCP), fwd(FAR_RTCP));
    assert_eq!(t.rtcp(idx, "198.51.100.3:61001"), fwd(PHONE_RTCP));
    assert_eq!(t.rtcp(idx, PHONE_RTCP), fwd("198.51.100.3:61001"));
    // Media from the signalling IP (the provider anchors media) latches too.
    let (_, idx2) = t.call(&far_leg());
    assert_eq!(t.rtp(idx2, "203.0.113.10:30000"), fwd(PHONE));
    assert_eq!(t.rtp(idx2, PHONE), fwd("203.0.113.10:30000"));
}

#[test]
fn no_destination_until_the_other_leg_is_known() {
    let mut t = T::new();
    let (id, port) = t.alloc();
    let idx = t.index(port);
    t.relay.set_leg(t.now, id, Leg::A, &phone_leg());
    // Early packets from the phone: dropped, but the phone is latched.
    assert_eq!(t.rtp(idx, PHONE), Decision::Drop(DropReason::NoDestination));
    assert_eq!(t.relay.latched(id, Leg::A, Channel::Rtp), Some(a(PHONE)));
    // The far end is not known: its packets latch nothing.
    assert_eq!(t.rtp(idx, FAR), UNKNOWN);
    // The answer arrives.
    t.relay.set_leg(t.now, id, Leg::B, &far_leg());
    assert_eq!(t.rtp(idx, PHONE), fwd(FAR));
    assert_eq!(t.rtp(idx, FAR), fwd(PHONE));
    // A rejected stream (port 0) is no destination either.
    let (id2, idx2) = t.call(&setup("198.51.100.3:0", PROXY_IP, true));
    assert_eq!(
        t.rtp(idx2, PHONE),
        Decision::Drop(DropReason::NoDestination)
    );
    let s = t.relay.stream_stats(id2).expect("live");
    assert_eq!(s.dropped_by(DropReason::NoDestination).packets, 1);
    assert_eq!(
        t.relay
            .totals()
            .dropped_by(DropReason::NoDestination)
            .packets,
        2
    );
}

#[test]
fn a_stream_pointed_at_itself_does_not_loop() {
    let mut t = T::new();
    // The far end's SDP names the phone's own address.
    let (_, idx) = t.call(&setup(PHONE, PROXY_IP, true));
    assert_eq!(t.rtp(idx, PHONE), Decision::Drop(DropReason::Loop));
    assert_eq!(t.relay.totals().dropped_by(DropReason::Loop).packets, 1);
}

// --- the private-SDP window ------------------------------------------------

/// The far end is behind its own NAT: its SDP names 192.168.0.5, the call
/// comes through the provider, and its media arrives from its NAT's public
/// address 198.51.100.77, which nothing in the signalling names.
fn hidden_far_end() -> LegSetup {
    setup("192.168.0.5:5000", PROXY_IP, true)
}

#[test]
fn a_far_end_behind_a_second_nat_latches_within_the_window() {
    let mut t = T::new();
    let (id, idx) = t.call(&hidden_far_end());
    t.advance(ms(400));
    assert_eq!(
        t.rtp(idx, PHONE),
        fwd("192.168.0.5:5000"),
        "the SDP address until latched"
    );
    t.advance(ms(600));
    assert_eq!(t.rtp(idx, "198.51.100.77:40000"), fwd(PHONE));
    assert_eq!(t.rtp(idx, PHONE), fwd("198.51.100.77:40000"));
    // Its RTCP arrives after the window, from the IP RTP latched.
    t.advance(Duration::from_secs(5));
    assert_eq!(t.rtcp(idx, "198.51.100.77:40001"), fwd(PHONE_RTCP));
    assert_eq!(t.rtcp(idx, PHONE_RTCP), fwd("198.51.100.77:40001"));
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtcp),
        Some(a("198.51.100.77:40001"))
    );
}

#[test]
fn the_window_closes_after_three_seconds() {
    let mut t = T::new();
    let (id, idx) = t.call(&hidden_far_end());
    t.advance(LATCH_WINDOW);
    assert_eq!(t.rtp(idx, "198.51.100.77:40000"), UNKNOWN);
    assert_eq!(t.relay.latched(id, Leg::B, Channel::Rtp), None);
    // A LAN leg never has a window, nor does a WAN leg with a public SDP.
    let (_, idx2) = t.call(&far_leg());
    assert_eq!(t.rtp(idx2, "198.51.100.77:40000"), UNKNOWN);
    let (id3, port3) = t.alloc();
    let idx3 = t.index(port3);
    t.relay.set_leg(
        t.now,
        id3,
        Leg::A,
        &setup("192.168.0.5:4000", "192.168.0.5", false),
    );
    t.relay.set_leg(t.now, id3, Leg::B, &far_leg());
    assert_eq!(t.rtp(idx3, "10.9.9.9:4000"), UNKNOWN);
}

#[test]
fn an_incoming_call_opens_the_window_when_the_phone_answers() {
    let mut t = T::new();
    let (id, port) = t.alloc();
    let idx = t.index(port);
    // The INVITE from the WAN (leg A, hidden behind its NAT), then 20 s of ringing.
    t.relay.set_leg(t.now, id, Leg::A, &hidden_far_end());
    t.advance(Duration::from_secs(20));
    assert_eq!(
        t.rtp(idx, "198.51.100.77:40000"),
        UNKNOWN,
        "ringing: the window is closed"
    );
    // The phone answers: media starts now, and so does A's window.
    t.relay.set_leg(t.now, id, Leg::B, &phone_leg());
    t.advance(ms(200));
    assert_eq!(t.rtp(idx, "198.51.100.77:40000"), fwd(PHONE));
    assert_eq!(t.rtp(idx, PHONE), fwd("198.51.100.77:40000"));
}

// --- hairpin ----------------------------------------------------------------

#[test]
fn two_phones_on_the_lan_talk_through_the_relay() {
    let mut t = T::new();
    let (id, port) = t.alloc();
    let idx = t.index(port);
    t.relay.set_leg(t.now, id, Leg::A, &phone_leg());
    t.relay.set_leg(
        t.now,
        id,
        Leg::B,
        &setup("10.0.0.3:4010", "10.0.0.3", false),
    );
    assert_eq!(t.rtp(idx, "10.0.0.3:4010"), fwd(PHONE));
    assert_eq!(t.rtp(idx, PHONE), fwd("10.0.0.3:4010"));
    assert_eq!(t.rtcp(idx, PHONE_RTCP), fwd("10.0.0.3:4011"));
}

#[test]
fn two_legs_behind_one_nat_are_told_apart_by_their_ports() {
    let mut t = T::new();
    let (id, port) = t.alloc();
    let idx = t.index(port);
    // Both far ends share the public IP 198.51.100.9 (one office NAT) and
    // signal from it; both SDPs name the public address with their ports.
    t.relay.set_leg(
        t.now,
        id,
        Leg::A,
        &setup("198.51.100.9:4000", "198.51.100.9", true),
    );
    t.relay.set_leg(
        t.now,
        id,
        Leg::B,
        &setup("198.51.100.9:4010", "198.51.100.9", true),
    );
    // B speaks first, from its exact address: it latches B, not A.
    assert_eq!(t.rtp(idx, "198.51.100.9:4010"), fwd("198.51.100.9:4000"));
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtp),
        Some(a("198.51.100.9:4010"))
    );
    assert_eq!(t.rtp(idx, "198.51.100.9:4000"), fwd("198.51.100.9:4010"));
    assert_eq!(
        t.relay.latched(id, Leg::A, Channel::Rtp),
        Some(a("198.51.100.9:4000"))
    );
}

#[test]
fn hairpin_with_rewritten_ports_latches_the_leg_not_yet_latched() {
    let mut t = T::new();
    let (id, port) = t.alloc();
    let idx = t.index(port);
    // Both behind one NAT that rewrites ports; SDPs name private addresses.
    t.relay.set_leg(
        t.now,
        id,
        Leg::A,
        &setup("192.168.1.10:4000", "198.51.100.9", true),
    );
    t.relay.set_leg(
        t.now,
        id,
        Leg::B,
        &setup("192.168.1.11:4000", "198.51.100.9", true),
    );
    assert_eq!(t.rtp(idx, "198.51.100.9:31000"), fwd("192.168.1.11:4000"));
    assert_eq!(
        t.relay.latched(id, Leg::A, Channel::Rtp),
        Some(a("198.51.100.9:31000"))
    );
    // The second source goes to the leg that is not latched yet.
    assert_eq!(t.rtp(idx, "198.51.100.9:31002"), fwd("198.51.100.9:31000"));
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtp),
        Some(a("198.51.100.9:31002"))
    );
    assert_eq!(t.rtp(idx, "198.51.100.9:31000"), fwd("198.51.100.9:31002"));
    // A third source from the same IP steals neither leg while both talk.
    assert_eq!(t.rtp(idx, "198.51.100.9:31004"), UNKNOWN);
}

#[test]
fn a_call_that_leaves_and_reenters_the_relay_is_not_confused() {
    // A LAN phone calls a LAN phone through the provider: stream 1 (port
    // 7070) sends to the router's public address on stream 2's port 7072.
    let mut t = T::new();
    let (s1, p1) = t.alloc();
    let (s2, p2) = t.alloc();
    let (i1, i2) = (t.index(p1), t.index(p2));
    let public = "198.51.100.1";
    t.relay.set_leg(t.now, s1, Leg::A, &phone_leg());
    t.relay.set_leg(
        t.now,
        s1,
        Leg::B,
        &setup("198.51.100.1:7072", PROXY_IP, true),
    );
    t.relay.set_leg(
        t.now,
        s2,
        Leg::A,
        &setup("198.51.100.1:7070", PROXY_IP, true),
    );
    t.relay.set_leg(
        t.now,
        s2,
        Leg::B,
        &setup("10.0.0.3:4010", "10.0.0.3", false),
    );
    assert_eq!(t.rtp(i1, PHONE), fwd("198.51.100.1:7072"));
    // It comes back in on 7072 from the public address and port 7070.
    assert_eq!(t.rtp(i2, &format!("{public}:7070")), fwd("10.0.0.3:4010"));
    assert_eq!(t.rtp(i2, "10.0.0.3:4010"), fwd("198.51.100.1:7070"));
    assert_eq!(t.rtp(i1, &format!("{public}:7072")), fwd(PHONE));
}

// --- re-INVITE and hold -------------------------------------------------------

#[test]
fn a_reinvite_moving_the_far_end_resets_its_latch() {
    let mut t = T::new();
    let (id, idx) = t.call(&far_leg());
    assert_eq!(t.rtp(idx, "198.51.100.3:61000"), fwd(PHONE));
    assert_eq!(t.rtp(idx, PHONE), fwd("198.51.100.3:61000"));
    // The call is transferred: the far end is now 198.51.100.50:6000.
    t.advance(ms(100));
    t.relay.set_leg(
        t.now,
        id,
        Leg::B,
        &setup("198.51.100.50:6000", PROXY_IP, true),
    );
    assert_eq!(t.relay.latched(id, Leg::B, Channel::Rtp), None);
    assert_eq!(t.rtp(idx, PHONE), fwd("198.51.100.50:6000"));
    // The old far end, still sending, is no longer allowed.
    assert_eq!(t.rtp(idx, "198.51.100.3:61000"), UNKNOWN);
    assert_eq!(t.rtp(idx, "198.51.100.50:6000"), fwd(PHONE));
    // The phone's own latch is untouched.
    assert_eq!(t.relay.latched(id, Leg::A, Channel::Rtp), Some(a(PHONE)));
    // A re-INVITE repeating the same SDP (session refresh) keeps the latch.
    t.relay.set_leg(
        t.now,
        id,
        Leg::B,
        &setup("198.51.100.50:6000", PROXY_IP, true),
    );
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtp),
        Some(a("198.51.100.50:6000"))
    );
}

#[test]
fn hold_is_not_timed_out_and_zero_address_keeps_the_latch() {
    let mut t = T::new();
    let (id, idx) = t.call(&far_leg());
    assert_eq!(t.rtp(idx, "198.51.100.3:61000"), fwd(PHONE));
    // Old-style hold: c=IN IP4 0.0.0.0.
    t.relay
        .set_leg(t.now, id, Leg::B, &setup("0.0.0.0:5000", PROXY_IP, true));
    t.relay.set_hold(id, true);
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtp),
        Some(a("198.51.100.3:61000"))
    );
    assert_eq!(
        t.relay.destination(id, Leg::B, Channel::Rtp),
        Some(a("198.51.100.3:61000"))
    );
    assert_eq!(t.relay.next_expiry(), None);
    t.advance(RTP_TIMEOUT * 4);
    assert!(t.expire().is_empty());
    assert_eq!(t.relay.port_of(id), Some(7070));
    // Resume: the same address as before, the latch still holds.
    t.relay.set_leg(t.now, id, Leg::B, &far_leg());
    t.relay.set_hold(id, false);
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtp),
        Some(a("198.51.100.3:61000"))
    );
    assert_eq!(t.rtp(idx, PHONE), fwd("198.51.100.3:61000"));
    // Then silence: it times out like any stream.
    t.advance(RTP_TIMEOUT);
    assert_eq!(t.expire(), [id]);
}

// --- timeout ----------------------------------------------------------------

#[test]
fn silent_streams_time_out_and_packets_keep_them_alive() {
    let mut t = T::new();
    let (quiet, _) = t.call(&far_leg());
    let (busy, idx) = t.call(&far_leg());
    assert_eq!(t.relay.next_expiry(), Some(t.now + RTP_TIMEOUT));
    for _ in 0..10 {
        t.advance(Duration::from_secs(5));
        assert_eq!(t.rtp(idx, PHONE), fwd(FAR));
        // A stranger's packets do not keep the quiet stream alive.
        assert_eq!(t.rtp(0, STRANGER), UNKNOWN);
    }
    assert_eq!(t.expire(), [quiet]);
    assert_eq!(t.relay.port_of(quiet), None);
    assert_eq!(t.relay.in_use(), 1);
    assert_eq!(t.relay.totals().expired, 1);
    assert_eq!(t.rtp(0, PHONE), Decision::Drop(DropReason::NotAllocated));
    // Signalling activity counts too.
    t.advance(Duration::from_secs(29));
    t.relay.touch(t.now, busy);
    t.advance(Duration::from_secs(29));
    assert!(t.expire().is_empty());
    assert_eq!(t.relay.next_expiry(), Some(t.now + Duration::from_secs(1)));
    t.advance(Duration::from_secs(1));
    assert_eq!(t.expire(), [busy]);
    assert_eq!(t.relay.in_use(), 0);
    assert_eq!(t.relay.next_expiry(), None);
}

// --- attacks ------------------------------------------------------------------

#[test]
fn a_stranger_before_the_latch_gets_nothing_and_steals_nothing() {
    let mut t = T::new();
    let (id, idx) = t.call(&far_leg());
    for port in [idx, idx + 1] {
        assert_eq!(
            t.relay.on_packet(t.now, port, a(STRANGER), Side::Wan, 172),
            UNKNOWN
        );
    }
    assert_eq!(t.relay.latched(id, Leg::A, Channel::Rtp), None);
    assert_eq!(t.relay.latched(id, Leg::B, Channel::Rtp), None);
    // The real parties still latch and talk, and nothing goes to the stranger.
    assert_eq!(t.rtp(idx, PHONE), fwd(FAR));
    assert_eq!(t.rtp(idx, FAR), fwd(PHONE));
    let s = t.relay.stream_stats(id).expect("live");
    assert_eq!(
        s.dropped_by(DropReason::UnknownSource),
        Counts {
            packets: 2,
            bytes: 2 * 172
        }
    );
    assert_eq!(
        t.relay
            .totals()
            .dropped_by(DropReason::UnknownSource)
            .packets,
        2
    );
}

#[test]
fn a_stranger_after_the_latch_is_dropped_even_when_the_source_is_silent() {
    let mut t = T::new();
    let (id, idx) = t.call(&far_leg());
    assert_eq!(t.rtp(idx, PHONE), fwd(FAR));
    assert_eq!(t.rtp(idx, FAR), fwd(PHONE));
    assert_eq!(t.rtp(idx, STRANGER), UNKNOWN);
    // The real far end falls silent for a long time.
    t.advance(Duration::from_secs(10));
    assert_eq!(t.rtp(idx, STRANGER), UNKNOWN);
    assert_eq!(t.rtcp(idx, "192.0.2.66:40001"), UNKNOWN);
    assert_eq!(
        t.rtp(idx, PHONE),
        fwd(FAR),
        "the phone's audio still goes to the far end"
    );
    assert_eq!(t.relay.latched(id, Leg::B, Channel::Rtp), Some(a(FAR)));
    assert_eq!(
        t.relay
            .stream_stats(id)
            .map(|s| s.dropped_by(DropReason::UnknownSource).packets),
        Some(3)
    );
}

#[test]
fn a_stranger_in_the_window_after_the_real_latch_is_dropped() {
    let mut t = T::new();
    let (id, idx) = t.call(&hidden_far_end());
    t.advance(ms(300));
    assert_eq!(t.rtp(idx, "198.51.100.77:40000"), fwd(PHONE));
    // Still within LATCH_WINDOW of the setup: the window closed with the latch.
    t.advance(ms(500));
    assert_eq!(t.rtp(idx, STRANGER), UNKNOWN);
    assert_eq!(
        t.rtcp(idx, "192.0.2.66:40001"),
        UNKNOWN,
        "nor can it take the RTCP channel"
    );
    // Even when the real source falls silent, a foreign IP may not take over.
    t.advance(RELATCH_SILENCE * 2);
    assert_eq!(t.rtp(idx, STRANGER), UNKNOWN);
    assert_eq!(t.rtp(idx, PHONE), fwd("198.51.100.77:40000"));
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtp),
        Some(a("198.51.100.77:40000"))
    );
}

#[test]
fn a_stranger_who_won_the_window_loses_it_to_an_allowed_ip() {
    let mut t = T::new();
    let (id, idx) = t.call(&hidden_far_end());
    assert_eq!(
        t.rtp(idx, STRANGER),
        fwd(PHONE),
        "the residual risk of the window"
    );
    // Media from the signalling IP takes the leg over at once.
    assert_eq!(t.rtp(idx, "203.0.113.10:30000"), fwd(PHONE));
    assert_eq!(t.rtp(idx, STRANGER), UNKNOWN);
    assert_eq!(t.rtp(idx, PHONE), fwd("203.0.113.10:30000"));
    assert_eq!(t.relay.stream_stats(id).map(|s| s.latches), Some(3));
}

#[test]
fn a_silent_source_is_replaced_only_from_an_allowed_or_the_same_ip() {
    let mut t = T::new();
    let (id, idx) = t.call(&far_leg());
    assert_eq!(t.rtp(idx, "198.51.100.3:61000"), fwd(PHONE));
    // The NAT rebinds to a new port while the old one is still talking: no.
    t.advance(ms(20));
    assert_eq!(t.rtp(idx, "198.51.100.3:62000"), UNKNOWN);
    assert_eq!(t.rtp(idx, "198.51.100.3:61000"), fwd(PHONE));
    // After RELATCH_SILENCE of the old binding: the new port takes over.
    t.advance(RELATCH_SILENCE - ms(1));
    assert_eq!(t.rtp(idx, "198.51.100.3:62000"), UNKNOWN);
    t.advance(ms(1));
    assert_eq!(t.rtp(idx, "198.51.100.3:62000"), fwd(PHONE));
    assert_eq!(t.rtp(idx, PHONE), fwd("198.51.100.3:62000"));
    // The same IP as the latched one counts even when it is not in the SDP
    // (a window-latched far end whose NAT rebinds).
    let (id2, idx2) = t.call(&hidden_far_end());
    assert_eq!(t.rtp(idx2, "198.51.100.77:40000"), fwd(PHONE));
    t.advance(RELATCH_SILENCE);
    assert_eq!(t.rtp(idx2, "198.51.100.77:41000"), fwd(PHONE));
    assert_eq!(
        t.relay.latched(id2, Leg::B, Channel::Rtp),
        Some(a("198.51.100.77:41000"))
    );
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtp),
        Some(a("198.51.100.3:62000"))
    );
}

#[test]
fn a_stranger_spraying_the_pool_gets_nothing_from_any_stream() {
    let mut t = T::new();
    let calls: Vec<(StreamId, usize)> = (0..3).map(|_| t.call(&far_leg())).collect();
    for (_, idx) in &calls {
        assert_eq!(t.rtp(*idx, PHONE), fwd(FAR));
    }
    // Spray every port of the pool, over time.
    for step in 0..20u64 {
        t.advance(ms(500));
        let ports: Vec<usize> = (0..t.relay.socket_ports().count()).collect();
        for i in ports {
            let from = SocketAddrV4::new(ip("192.0.2.66"), 40000 + step as u16);
            let d = t.relay.on_packet(t.now, i, from, side(from), 100);
            assert!(matches!(d, Decision::Drop(_)), "{i}: {d:?}");
        }
    }
    for (id, idx) in &calls {
        assert_eq!(t.rtp(*idx, PHONE), fwd(FAR));
        let s = t.relay.stream_stats(*id).expect("live");
        assert_eq!(s.dropped_by(DropReason::UnknownSource).packets, 40);
    }
    assert_eq!(
        t.relay
            .totals()
            .dropped_by(DropReason::NotAllocated)
            .packets,
        80
    );
}

// --- helpers ------------------------------------------------------------------

#[test]
fn public_and_non_public_addresses() {
    for s in [
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.5",
        "100.64.0.1",
        "100.127.255.254",
        "169.254.1.1",
        "127.0.0.1",
        "0.0.0.0",
    ] {
        assert!(!is_public(ip(s)), "{s}");
    }
    for s in [
        "8.8.8.8",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "198.51.100.3",
        "203.0.113.10",
    ] {
        assert!(is_public(ip(s)), "{s}");
    }
}

#[test]
fn drop_reasons_have_names_and_indices() {
    for (i, r) in DropReason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
        assert!(!r.as_str().is_empty());
    }
    assert_eq!(DropReason::UnknownSource.as_str(), "unknown-source");
}

#[test]
fn a_slot_costs_what_the_docs_say() {
    assert!(
        std::mem::size_of::<Slot>() <= SLOT_BYTES,
        "{}",
        std::mem::size_of::<Slot>()
    );
}

#[test]
fn the_exact_expected_address_beats_an_allowed_ip() {
    let mut t = T::new();
    let (id, port) = t.alloc();
    let idx = t.index(port);
    // Each leg's media host is the other's signalling host (a provider whose
    // proxy and media server trade places): the source's IP is allowed for
    // both legs, and both expect port 4000; only B expects it exactly.
    t.relay.set_leg(
        t.now,
        id,
        Leg::A,
        &setup("198.51.100.9:4000", "198.51.100.20", true),
    );
    t.relay.set_leg(
        t.now,
        id,
        Leg::B,
        &setup("198.51.100.20:4000", "198.51.100.9", true),
    );
    assert_eq!(t.rtp(idx, "198.51.100.20:4000"), fwd("198.51.100.9:4000"));
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtp),
        Some(a("198.51.100.20:4000"))
    );
    assert_eq!(t.relay.latched(id, Leg::A, Channel::Rtp), None);
}

#[test]
fn a_window_winner_loses_rtcp_too_once_the_real_source_shows_up() {
    let mut t = T::new();
    let (id, idx) = t.call(&hidden_far_end());
    // The stranger wins the window on RTP, then takes RTCP from the same IP.
    assert_eq!(t.rtp(idx, STRANGER), fwd(PHONE));
    assert_eq!(t.rtcp(idx, "192.0.2.66:40001"), fwd(PHONE_RTCP));
    // The real far end, from the signalling IP, takes both at once.
    assert_eq!(t.rtp(idx, "203.0.113.10:30000"), fwd(PHONE));
    assert_eq!(t.rtcp(idx, "203.0.113.10:30001"), fwd(PHONE_RTCP));
    assert_eq!(t.rtcp(idx, "192.0.2.66:40001"), UNKNOWN);
    assert_eq!(t.rtcp(idx, PHONE_RTCP), fwd("203.0.113.10:30001"));
    // And the stranger's IP is no longer allowed through the RTCP latch.
    assert_eq!(t.rtp(idx, "192.0.2.66:40002"), UNKNOWN);
    assert_eq!(
        t.relay.latched(id, Leg::B, Channel::Rtp),
        Some(a("203.0.113.10:30000"))
    );
}

#[test]
fn a_forged_phone_source_arriving_on_the_wan_is_not_the_phone() {
    // Issue 9 item 3: the side is the arrival interface. A WAN sender that
    // forges the phone's address neither latches the phone's leg nor gets
    // the far end's audio, before or after the real phone latched.
    let mut t = T::new();
    let (_, idx) = t.call(&far_leg());
    let forged = |t: &mut T| t.relay.on_packet(t.now, idx, a(PHONE), Side::Wan, 172);
    assert_eq!(forged(&mut t), UNKNOWN);
    assert_eq!(t.rtp(idx, FAR), fwd(PHONE));
    assert_eq!(t.rtp(idx, PHONE), fwd(FAR));
    assert_eq!(forged(&mut t), UNKNOWN);
    // The far end's address arriving on the LAN is no more the far end.
    let lan_far = t.relay.on_packet(t.now, idx, a(FAR), Side::Lan, 172);
    assert_eq!(lan_far, UNKNOWN);
    assert_eq!(t.rtp(idx, FAR), fwd(PHONE));
}
