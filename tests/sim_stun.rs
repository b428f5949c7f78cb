//! siproxd's stun plugin, built in (`load_plugin = plugin_stun.so`): the
//! router behind another NAT asks a STUN server (RFC 5389) for the public
//! address its SIP leaves with, and announces that one toward the WAN;
//! answers from elsewhere or for another request change nothing; an
//! explicit `host_outbound` wins.

mod common;
use common::*;
use std::time::Duration;

const STUN: &str = "198.51.100.200:3478";

/// A Binding success response to `req` mapping to `ip:port`.
fn answer(req: &[u8], ip: [u8; 4], port: u16) -> Vec<u8> {
    let cookie = 0x2112_A442u32.to_be_bytes();
    let mut m = vec![0x01, 0x01, 0x00, 0x0c];
    m.extend_from_slice(&cookie);
    m.extend_from_slice(&req[8..20]);
    m.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
    m.extend_from_slice(&(port ^ 0x2112).to_be_bytes());
    for (b, c) in ip.iter().zip(cookie) {
        m.push(b ^ c);
    }
    m
}

fn stun_request(sent: &[Sent]) -> Vec<u8> {
    let r = sent
        .iter()
        .find(|s| s.to == addr(STUN))
        .unwrap_or_else(|| panic!("no request to the STUN server: {sent:?}"));
    assert_eq!(
        &r.bytes[..8],
        &[0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42],
        "a Binding request"
    );
    r.bytes.clone()
}

fn via_host(sim: &mut Sim) -> String {
    let reg = sim.one(
        PHONE,
        &register("100", "198.51.100.2", PHONE, "st@10.77.1.2", 1, "st1", 3600),
    );
    reg.headers("Via")[0].clone()
}

#[test]
fn the_public_address_comes_from_the_stun_server() {
    let mut sim = Sim::with_config(&format!(
        "{}load_plugin = plugin_stun.so\nplugin_stun_server = 198.51.100.200\nplugin_stun_period = 60\n",
        config_text()
    ));
    let req = stun_request(&sim.advance(Duration::from_secs(1)));
    assert!(
        via_host(&mut sim).contains("198.51.100.1:5060"),
        "the interface's address before"
    );

    // an answer from another address, or to another request: ignored
    let forged = answer(&req, [192, 0, 2, 66], 1);
    assert!(sim.sip_bytes("198.51.100.201:3478", &forged).is_empty());
    let mut other = answer(&req, [192, 0, 2, 66], 1);
    other[19] ^= 1;
    assert!(sim.sip_bytes(STUN, &other).is_empty());
    assert_eq!(sim.core.stats.get("drop", "stun-unexpected"), 2);
    assert!(via_host(&mut sim).contains("198.51.100.1:5060"));

    // the server's answer: the public address from now on
    assert!(
        sim.sip_bytes(STUN, &answer(&req, [203, 0, 113, 50], 40000))
            .is_empty()
    );
    let via = via_host(&mut sim);
    assert!(via.contains("203.0.113.50:5060"), "{via}");
    assert_eq!(sim.core.stats.get("stun", "answer"), 1);
    // and the status says so (the port of the answer is not used: sipnat
    // announces its own SIP port, as siproxd does)
    assert_eq!(
        sim.core.proxy.public_address(),
        Some("203.0.113.50".parse().unwrap())
    );

    // asked again after the period, not before
    assert!(
        sim.advance(Duration::from_secs(50))
            .iter()
            .all(|s| s.to != addr(STUN))
    );
    stun_request(&sim.advance(Duration::from_secs(15)));
}

#[test]
fn host_outbound_wins_and_an_unanswered_request_is_repeated() {
    let mut sim = Sim::with_config(&format!(
        "{}host_outbound = 192.0.2.9\nload_plugin = plugin_stun.so\nplugin_stun_server = 198.51.100.200\n",
        config_text()
    ));
    let req = stun_request(&sim.advance(Duration::from_secs(1)));
    sim.sip_bytes(STUN, &answer(&req, [203, 0, 113, 50], 40000));
    assert!(
        via_host(&mut sim).contains("192.0.2.9:5060"),
        "host_outbound is the user's word"
    );
    // the next request, unanswered, is asked again after 30 s (not the 300 s period)
    let req2 = stun_request(&sim.advance(Duration::from_secs(301)));
    assert_ne!(req2[8..20], req[8..20], "a new transaction id");
    stun_request(&sim.advance(Duration::from_secs(31)));
}

#[test]
fn a_reload_keeps_the_learned_address_and_asks_again() {
    let conf = format!(
        "{}load_plugin = plugin_stun.so\nplugin_stun_server = 198.51.100.200\n",
        config_text()
    );
    let mut sim = Sim::with_config(&conf);
    let req = stun_request(&sim.advance(Duration::from_secs(1)));
    sim.sip_bytes(STUN, &answer(&req, [203, 0, 113, 50], 40000));
    sim.reload(&conf);
    assert!(
        via_host(&mut sim).contains("203.0.113.50:5060"),
        "kept over the reload"
    );
    stun_request(&sim.advance(Duration::from_secs(1)));
}

/// RFC 5626 §4.4.2: a phone keeps its flow alive with STUN Binding
/// requests to its proxy; sipnat answers with the address they came from.
/// From the WAN it answers nothing (no open STUN server on the router).
#[test]
fn phones_stun_keepalives_are_answered() {
    let mut sim = Sim::new();
    let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    req.extend_from_slice(&[7; 12]);
    let out = sim.sip_bytes(PHONE, &req);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].to, addr(PHONE));
    let a = &out[0].bytes;
    assert_eq!(&a[..2], &[0x01, 0x01], "a Binding success response");
    assert_eq!(&a[8..20], &[7; 12], "the same transaction");
    // XOR-MAPPED-ADDRESS of 10.77.1.2:5060 (5060 ^ 0x2112 = 0x32d6)
    assert_eq!(
        &a[20..32],
        &[
            0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0x32, 0xd6, 0x2b, 0x5f, 0xa5, 0x40
        ]
    );
    assert!(sim.sip_bytes("198.51.100.9:3478", &req).is_empty());
}
