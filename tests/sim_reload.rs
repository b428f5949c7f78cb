//! A reload (SIGHUP, `sipnat reload`) puts every option in force while
//! calls run (issue 12): a new RTP port range (the call in progress keeps
//! its ports to its end, new calls get the new range, the old pairs close
//! after), relaying turned off and on again (calls in progress stay
//! relayed, new ones follow the new setting), and a new `rtp_timeout`.
//! The driver's side (binding and closing the sockets) is in
//! tests/binary.rs.

mod common;
use common::media::*;
use common::*;
use sipnat::relay::{Decision, PortState};
use std::time::Duration;

/// The relay's socket index of RTP port `port` (slot k: 2k).
fn index_of(sim: &Sim, port: u16) -> usize {
    (0..)
        .take_while(|k| sim.core.relay.pair_port(*k).is_some())
        .find(|k| sim.core.relay.pair_port(*k) == Some(port))
        .map(|k| 2 * k)
        .unwrap_or_else(|| panic!("no pair for port {port}"))
}

/// An RTP packet from `from` into relay port `port`: where it goes.
fn rtp(sim: &mut Sim, port: u16, from: &str) -> Decision {
    let i = index_of(sim, port);
    let src: std::net::SocketAddrV4 = from.parse().unwrap();
    let mut p = vec![0u8; 172];
    p[0] = 0x80;
    p[8..12].copy_from_slice(&(u32::from(*src.ip()) ^ 0x5eed).to_be_bytes());
    let now = sim.now;
    let side = side_of(from);
    sim.core
        .relay_mut()
        .unwrap()
        .on_packet(now, i, src, side, &p)
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

fn bye(call: &str, branch: &str) -> String {
    format!(
        "BYE sip:bob@198.51.100.3 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKbye{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:100@198.51.100.2>;tag=tag{branch}\r\n\
         To: <sip:bob@198.51.100.3>;tag=b1\r\n\
         Call-ID: {call}\r\n\
         CSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn with(extra: &str) -> String {
    format!("{}{extra}", config_text())
}

#[test]
fn a_new_port_range_keeps_the_call_in_progress() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let peer = sdp("198.51.100.3", 5000, "");
    let (_, _, first) = call_out(&mut sim, "r1@10.77.1.2", "r1", &peer);
    assert!((7070..7090).contains(&first));
    both_ways(&mut sim, first);

    let opened = sim.reload(&with("rtp_port_low = 8000\nrtp_port_high = 8009\n"));
    assert_eq!(opened.len(), 5, "8000-8009: five new pairs to bind");
    assert_eq!(sim.core.relay.capacity(), 5);
    both_ways(&mut sim, first);

    let (out, _, second) = call_out(&mut sim, "r2@10.77.1.2", "r2", &peer);
    assert!((8000..8010).contains(&second), "{second}");
    assert!(
        out.body().contains(&format!("m=audio {second} ")),
        "{}",
        out.body()
    );
    both_ways(&mut sim, second);

    // the old pairs close: the free ones at once, the first call's after it
    let mut closed = Vec::new();
    sim.core.relay.take_closed(&mut |k| closed.push(k));
    assert_eq!(closed.len(), 9, "{closed:?}");
    let k = index_of(&sim, first) / 2;
    assert_eq!(sim.core.relay.port_state(k), Some(PortState::Draining));
    sim.sip(PHONE, &bye("r1@10.77.1.2", "r1"));
    closed.clear();
    sim.core.relay.take_closed(&mut |k| closed.push(k));
    assert_eq!(closed.len(), 10);
    assert_eq!(sim.core.relay.port_state(k), Some(PortState::Closed));
    both_ways(&mut sim, second);
}

#[test]
fn relaying_turned_off_and_on_by_reload() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let peer = sdp("198.51.100.3", 5000, "");
    let (_, _, first) = call_out(&mut sim, "o1@10.77.1.2", "o1", &peer);

    assert!(sim.reload(&with("rtp_proxy_enable = 0\n")).is_empty());
    assert_eq!(sim.core.relay.capacity(), 0);
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

    // on again: new calls are relayed, on the ports given back
    let opened = sim.reload(config_text());
    assert_eq!(
        opened.len(),
        9,
        "the nine free pairs reopen; the first call's never closed"
    );
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
