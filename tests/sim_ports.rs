//! Issue 15: relay ports follow the calls, not the configured range. The
//! sim binds and closes what the relay's pool asks after every message, as
//! the driver does (`Sim::pool`), and plays another program holding ports
//! of the range (`EADDRINUSE`). The real sockets: tests/binary.rs and
//! tests/netns_media.rs.

mod common;
use common::media::*;
use common::*;
use sipnat::limits::{MAX_STREAMS, SPARE_PAIRS};
use sipnat::relay::Decision;
use std::collections::BTreeSet;

fn with_range(low: u16, high: u16) -> Sim {
    Sim::with_config(&format!(
        "{}rtp_port_low = {low}\nrtp_port_high = {high}\n",
        config_text()
    ))
}

#[test]
fn a_thousand_calls_on_a_50000_port_range_bind_only_what_they_use() {
    let mut sim = with_range(10000, 59999);
    assert_eq!(sim.core.relay.capacity(), MAX_STREAMS);
    assert_eq!(sim.ports.bound.len(), SPARE_PAIRS, "idle: the spares only");
    register_phone(&mut sim);
    let peer = sdp("198.51.100.3", 5000, "");
    let mut ports = BTreeSet::new();
    for i in 0..1000 {
        let (out, _, port) = call_out(
            &mut sim,
            &format!("k{i}@10.77.1.2"),
            &format!("k{i}"),
            &peer,
        );
        assert!(out.body().contains(&format!("m=audio {port} ")));
        assert!((10000..59999).contains(&port) && port % 2 == 0, "{port}");
        assert!(ports.insert(port), "port {port} handed out twice");
    }
    assert_eq!(sim.core.relay.in_use(), 1000);
    assert_eq!(sim.ports.bound.len(), 1000 + SPARE_PAIRS);
    assert_eq!(sim.core.relay.bound(), 1000 + SPARE_PAIRS);
    // not one range scan from the bottom: the ports are spread over it
    assert!(
        ports.iter().filter(|p| **p < 20000).count() < 500,
        "{ports:?}"
    );
    let some = *ports.iter().next().unwrap_or(&0);
    assert!(matches!(
        packet(&mut sim, some, "10.77.1.2:4000"),
        Decision::Forward(_)
    ));
    for i in 0..1000 {
        sim.sip(PHONE, &bye(&format!("k{i}@10.77.1.2"), &format!("k{i}")));
    }
    assert_eq!(sim.core.relay.in_use(), 0);
    assert_eq!(sim.ports.bound.len(), SPARE_PAIRS, "back to the spares");
    let closed: BTreeSet<u16> = sim.ports.closed.iter().copied().collect();
    assert_eq!(closed, ports, "every call's pair closed");
    let status = sim.core.status_text();
    assert!(
        status.contains(&format!(
            "streams 0/{MAX_STREAMS} ports-bound {}",
            2 * SPARE_PAIRS
        )),
        "{status}"
    );
}

#[test]
fn a_port_another_program_holds_is_never_given_to_a_call() {
    // Another program holds 7070-7079 before sipnat starts: only the pairs
    // 7080-7088 can be bound.
    let mut sim = Sim::signalling_only();
    assert!(sim.ports.bound.is_empty());
    sim.ports.foreign = (7070..7080).collect();
    sim.reload(config_text());
    assert_eq!(sim.core.relay.capacity(), 10);
    let bound = sim.ports.bound_ports();
    assert!(bound.iter().all(|p| *p >= 7080), "{bound:?}");
    register_phone(&mut sim);
    let peer = sdp("198.51.100.3", 5000, "");
    let mut got = Vec::new();
    for i in 0..5 {
        let (_, _, port) = call_out(
            &mut sim,
            &format!("u{i}@10.77.1.2"),
            &format!("u{i}"),
            &peer,
        );
        got.push(port);
    }
    got.sort_unstable();
    assert_eq!(got, [7080, 7082, 7084, 7086, 7088]);
    assert!(
        sim.core.relay.stalled(),
        "every pair of the range was tried"
    );
    // the sixth call: the range has room for 10 streams, but no pair can
    // be bound: refused, and counted
    let inv = with_body(
        &invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "u5@10.77.1.2",
            "u5",
            "sip:100@10.77.1.2",
        ),
        &sdp("10.77.1.2", 4100, ""),
    );
    let r = sim.one(PHONE, &inv);
    assert!(
        r.first_line().starts_with("SIP/2.0 503"),
        "{}",
        r.first_line()
    );
    assert_eq!(sim.core.relay.totals().no_port, 1);
    assert!(sim.core.relay.totals().bind_in_use >= 5);
    assert!(sim.core.status_text().contains(" relay.no-port 1"));
    // the other program lets its ports go; the driver asks again (every
    // few seconds) and the next call gets one
    sim.ports.foreign.clear();
    sim.core.relay.retry_binds();
    sim.pool();
    assert_eq!(sim.core.relay.spares(), 5);
    let (_, _, port) = call_out(&mut sim, "u6@10.77.1.2", "u6", &peer);
    assert!((7070..7080).contains(&port), "{port}");
}

#[test]
fn a_four_stream_call_takes_its_pairs_from_the_spares_at_once() {
    let mut sim = with_range(30000, 59999);
    register_phone(&mut sim);
    let mut body = sdp("10.77.1.2", 4000, "");
    for (i, kind) in ["video", "audio", "video"].iter().enumerate() {
        body.push_str(&format!("m={kind} {} RTP/AVP 0\r\n", 4002 + 2 * i));
    }
    let inv = with_body(
        &invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "m4@10.77.1.2",
            "m4",
            "sip:100@10.77.1.2",
        ),
        &body,
    );
    let out = sim.one(PHONE, &inv);
    let ports: BTreeSet<u16> = out
        .body()
        .lines()
        .filter_map(|l| l.strip_prefix("m="))
        .filter_map(|l| l.split(' ').nth(1)?.parse().ok())
        .collect();
    assert_eq!(ports.len(), 4, "{}", out.body());
    assert!(ports.iter().all(|p| *p >= 30000 && *p != 0));
    assert_eq!(sim.core.relay.in_use(), 4);
    assert_eq!(
        sim.ports.bound.len(),
        4 + SPARE_PAIRS,
        "topped up after the message"
    );
}
