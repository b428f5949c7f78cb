//! A reload (SIGHUP, `sipnat reload`) puts every option in force while
//! calls run (issue 12): a new RTP port range (the call in progress keeps
//! its ports to its end, new calls get the new range, the old pairs close
//! after), relaying turned off and on again (calls in progress stay
//! relayed, new ones follow the new setting), and a new `rtp_timeout`.
//! The sim binds and closes the relay's ports as the driver does (issue
//! 15: only spares and the pairs of running streams are bound); the real
//! sockets are tests/binary.rs.

mod common;
use common::media::*;
use common::*;
use sipnat::limits::SPARE_PAIRS;
use sipnat::relay::Decision;
use std::time::Duration;

/// An RTP packet from `from` into relay port `port`: where it goes.
fn rtp(sim: &mut Sim, port: u16, from: &str) -> Decision {
    let i = idx(sim, port);
    let src: std::net::SocketAddrV4 = from.parse().unwrap();
    let mut p = vec![0u8; 172];
    p[0] = 0x80;
    p[8..12].copy_from_slice(&(u32::from(*src.ip()) ^ 0x5eed).to_be_bytes());
    let now = sim.now;
    let side = side_of(from);
    sim.core
        .relay_mut()
        .unwrap()
        .on_packet(now, i, src.into(), side, &p)
}

fn both_ways(sim: &mut Sim, port: u16) {
    for _ in 0..2 {
        assert!(matches!(
            rtp(sim, port, "10.77.1.2:4000"),
            Decision::Forward(_)
        ));
        assert!(matches!(
            rtp(sim, port, "198.51.100.3:5000"),
            Decision::Forward(_)
        ));
    }
}

fn with(extra: &str) -> String {
    format!("{}{extra}", config_text())
}

#[test]
fn a_new_port_range_keeps_the_call_in_progress() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    // 7070-7089: ten pairs, eight of them bound as spares
    assert_eq!(sim.ports.bound.len(), SPARE_PAIRS);
    let peer = sdp("198.51.100.3", 5000, "");
    let (_, _, first) = call_out(&mut sim, "r1@10.77.1.2", "r1", &peer);
    assert!((7070..7090).contains(&first));
    both_ways(&mut sim, first);

    sim.reload(&with("rtp_port_low = 8000\nrtp_port_high = 8009\n"));
    assert_eq!(sim.core.relay.capacity(), 5);
    // the old spares closed; five in the new range; the call's pair stays
    let bound = sim.ports.bound_ports();
    assert_eq!(bound.len(), 6, "{bound:?}");
    assert!(bound.contains(&first));
    assert!(
        bound
            .iter()
            .all(|p| *p == first || (8000..8010).contains(p)),
        "{bound:?}"
    );
    both_ways(&mut sim, first);

    let (out, _, second) = call_out(&mut sim, "r2@10.77.1.2", "r2", &peer);
    assert!((8000..8010).contains(&second), "{second}");
    assert!(
        out.body().contains(&format!("m=audio {second} ")),
        "{}",
        out.body()
    );
    both_ways(&mut sim, second);

    // the first call ends: its pair closes, none comes back in 7070-7089
    sim.sip(PHONE, &bye("r1@10.77.1.2", "r1"));
    assert!(sim.ports.closed.contains(&first));
    assert!(sim.core.relay.socket_index(first).is_none());
    let bound = sim.ports.bound_ports();
    assert!(bound.iter().all(|p| (8000..8010).contains(p)), "{bound:?}");
    assert_eq!(bound.len(), 5, "one stream and four spares: {bound:?}");
    both_ways(&mut sim, second);
}

#[test]
fn relaying_turned_off_and_on_by_reload() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let peer = sdp("198.51.100.3", 5000, "");
    let (_, _, first) = call_out(&mut sim, "o1@10.77.1.2", "o1", &peer);

    sim.reload(&with("rtp_proxy_enable = 0\n"));
    assert_eq!(sim.core.relay.capacity(), 0);
    assert_eq!(
        sim.ports.bound_ports(),
        [first],
        "no spare; the call keeps its pair"
    );
    both_ways(&mut sim, first);
    // a new call is left alone: its SDP goes as the phone wrote it
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "o2@10.77.1.2",
        "o2",
        "sip:100@10.77.1.2:5060",
    );
    let inv = with_body(&inv, &sdp("10.77.1.2", 4002, ""));
    let out = sim.one(PHONE, &inv);
    assert!(
        out.body().contains("c=IN IP4 10.77.1.2\r\n"),
        "{}",
        out.body()
    );
    assert!(out.body().contains("m=audio 4002 "), "{}", out.body());
    // the first call's media still goes through its port
    both_ways(&mut sim, first);

    // on again: spares are bound again, new calls are relayed on them
    sim.reload(config_text());
    assert_eq!(sim.ports.bound.len(), 1 + SPARE_PAIRS);
    let (out, _, third) = call_out(&mut sim, "o3@10.77.1.2", "o3", &peer);
    assert!((7070..7090).contains(&third) && third != first, "{third}");
    assert!(
        out.body().contains("c=IN IP4 198.51.100.1\r\n"),
        "{}",
        out.body()
    );
    both_ways(&mut sim, third);
    both_ways(&mut sim, first);
}

#[test]
fn a_new_rtp_timeout_applies_to_the_streams_running() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let (_, _, port) = call_out(
        &mut sim,
        "t1@10.77.1.2",
        "t1",
        &sdp("198.51.100.3", 5000, ""),
    );
    both_ways(&mut sim, port);
    sim.advance(Duration::from_secs(20));
    assert_eq!(
        sim.core.relay.in_use(),
        1,
        "300 s (the default) not reached"
    );
    sim.reload(&with("rtp_timeout = 10\n"));
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.core.relay.in_use(), 0, "silent for 22 s > the new 10 s");
}
