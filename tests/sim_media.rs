//! Simulations of media through the core: SDP rewriting on offers and
//! answers, the relay's forwarding decisions, latching and hijack attempts,
//! hold, re-INVITE, teardown, timeouts and a full port pool — all with a
//! virtual clock and no sockets.

mod common;
use common::media::*;
use common::*;
use sipnat::relay::Decision;
use std::time::Duration;

#[test]
fn offer_and_answer_point_both_ends_at_the_relay() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let (out, back, port) = call_out(
        &mut sim,
        "m1@10.77.1.2",
        "m1",
        &sdp("198.51.100.3", 5000, ""),
    );
    assert!((7070..7090).contains(&port) && port % 2 == 0, "{port}");
    let body = out.body();
    assert!(body.contains("c=IN IP4 198.51.100.1\r\n"), "{body}");
    assert!(
        body.contains("o=user 1 1 IN IP4 198.51.100.1\r\n"),
        "{body}"
    );
    assert_eq!(
        out.header("Content-Length").unwrap(),
        body.len().to_string()
    );
    let body = back.body();
    assert!(body.contains("c=IN IP4 10.77.1.1\r\n"), "{body}");
    assert!(
        body.contains(&format!("m=audio {port} RTP/AVP 0 8")),
        "{body}"
    );

    // RTP both ways, RTCP both ways.
    assert_eq!(
        packet(&mut sim, port, "10.77.1.2:4000"),
        Decision::Forward(v4("198.51.100.3:5000"))
    );
    assert_eq!(
        packet(&mut sim, port, "198.51.100.3:5000"),
        Decision::Forward(v4("10.77.1.2:4000"))
    );
    assert_eq!(
        packet(&mut sim, port + 1, "10.77.1.2:4001"),
        Decision::Forward(v4("198.51.100.3:5001"))
    );
    assert_eq!(
        packet(&mut sim, port + 1, "198.51.100.3:5001"),
        Decision::Forward(v4("10.77.1.2:4001"))
    );
    assert_eq!(sim.core.proxy.media().unwrap().calls(), 1);
}

#[test]
fn bye_cancel_and_errors_free_the_relay_at_once() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let (out, _, port) = call_out(
        &mut sim,
        "b1@10.77.1.2",
        "b1",
        &sdp("198.51.100.3", 5000, ""),
    );
    assert_eq!(sim.core.relay.in_use(), 1);
    let bye = format!(
        "BYE sip:bob@198.51.100.3 SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKbye;rport\r\nMax-Forwards: 70\r\n\
         From: {}\r\nTo: <sip:bob@198.51.100.3>;tag=b1\r\nCall-ID: b1@10.77.1.2\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        out.header("From").unwrap()
    );
    assert_eq!(sim.one(PHONE, &bye).to, addr(PEER));
    assert_eq!(sim.core.relay.in_use(), 0);
    // its pair is closed (the kernel answers the stray packets)
    assert_eq!(sim.ports.closed, [port]);
    assert!(sim.core.relay.socket_index(port).is_none());

    // A call refused by the far end frees its ports with the final answer.
    let inv = with_body(
        &invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "b2@10.77.1.2",
            "b2",
            "sip:100@10.77.1.2",
        ),
        &sdp("10.77.1.2", 4002, ""),
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(sim.core.relay.in_use(), 1);
    sim.one(PEER, &response_to(&out, 486, "Busy Here", Some("x"), ""));
    assert_eq!(sim.core.relay.in_use(), 0);

    // CANCEL frees too.
    let inv = with_body(
        &invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "b3@10.77.1.2",
            "b3",
            "sip:100@10.77.1.2",
        ),
        &sdp("10.77.1.2", 4004, ""),
    );
    sim.one(PHONE, &inv);
    let cancel = "CANCEL sip:bob@198.51.100.3 SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKb3;rport\r\nMax-Forwards: 70\r\n\
        From: \"Caller\" <sip:100@198.51.100.2>;tag=tagb3\r\nTo: <sip:bob@198.51.100.3>\r\nCall-ID: b3@10.77.1.2\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    sim.one(PHONE, cancel);
    assert_eq!(sim.core.relay.in_use(), 0);
    assert_eq!(sim.core.proxy.media().unwrap().calls(), 0);
}

#[test]
fn a_stranger_can_neither_get_media_nor_steal_the_stream() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let (_, _, port) = call_out(
        &mut sim,
        "h1@10.77.1.2",
        "h1",
        &sdp("198.51.100.3", 5000, ""),
    );
    // Before anyone latched: the attacker sprays the port.
    assert!(matches!(
        packet(&mut sim, port, "203.0.113.66:40000"),
        Decision::Drop(_)
    ));
    assert_eq!(
        packet(&mut sim, port, "198.51.100.3:5000"),
        Decision::Forward(v4("10.77.1.2:4000"))
    );
    assert_eq!(
        packet(&mut sim, port, "10.77.1.2:4000"),
        Decision::Forward(v4("198.51.100.3:5000"))
    );
    // After the latch, and after the real far end has gone silent.
    assert!(matches!(
        packet(&mut sim, port, "203.0.113.66:40000"),
        Decision::Drop(_)
    ));
    sim.advance(Duration::from_secs(10));
    assert!(matches!(
        packet(&mut sim, port, "203.0.113.66:40000"),
        Decision::Drop(_)
    ));
    // The phone's audio still goes to the real far end, never the attacker.
    assert_eq!(
        packet(&mut sim, port, "10.77.1.2:4000"),
        Decision::Forward(v4("198.51.100.3:5000"))
    );
}

#[test]
fn a_far_end_behind_its_own_nat_gets_two_way_audio() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    // The far end's SDP names its private address; its NAT sends from 198.51.100.3:61000.
    let (_, _, port) = call_out(
        &mut sim,
        "n1@10.77.1.2",
        "n1",
        &sdp("192.168.0.5", 5000, ""),
    );
    // The phone talks first: nothing is known yet about the far end's real
    // address, and its private SDP address is no destination: held.
    let first = packet_on(&mut sim, port, "10.77.1.2:4000", side_of("10.77.1.2"));
    assert_eq!(first, Decision::Held);
    assert_eq!(
        packet_on(
            &mut sim,
            port,
            "198.51.100.3:61000",
            side_of("198.51.100.3")
        ),
        Decision::Forward(v4("10.77.1.2:4000"))
    );
    assert_eq!(
        flush(&mut sim),
        [(port, v4("198.51.100.3:61000"))],
        "the phone's first packet follows the latch"
    );
    assert_eq!(
        packet(&mut sim, port, "10.77.1.2:4000"),
        Decision::Forward(v4("198.51.100.3:61000"))
    );
}

#[test]
fn hold_keeps_the_call_and_timeout_ends_a_silent_one() {
    let mut sim = Sim::with_config(&format!("{}rtp_timeout = 30\n", config_text()));
    register_phone(&mut sim);
    let (out, _, port) = call_out(
        &mut sim,
        "o1@10.77.1.2",
        "o1",
        &sdp("198.51.100.3", 5000, ""),
    );
    packet(&mut sim, port, "10.77.1.2:4000");
    // The phone puts the call on hold with a re-INVITE (sendonly).
    let re = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "o1@10.77.1.2",
        "o2",
        "sip:100@10.77.1.2:5060",
    )
    .replace(
        "To: <sip:bob@198.51.100.3>",
        "To: <sip:bob@198.51.100.3>;tag=b1",
    )
    .replace("tag=tago2", "tag=tago1")
    .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    let re = with_body(&re, &sdp("10.77.1.2", 4000, "a=sendonly\r\n"));
    let fwd = sim.one(PHONE, &re);
    assert!(
        fwd.body().contains(&format!("m=audio {port} ")),
        "the re-INVITE keeps the relay port"
    );
    assert!(fwd.body().contains("a=sendonly"));
    sim.one(
        PEER,
        &with_body(
            &response_to(&fwd, 200, "OK", None, ""),
            &sdp("198.51.100.3", 5000, "a=recvonly\r\n"),
        ),
    );
    let _ = out;
    // Silent far longer than rtp_timeout: still there while on hold.
    sim.advance(Duration::from_secs(120));
    assert_eq!(sim.core.relay.in_use(), 1);
    // Resume, then silence: the relay times the stream out.
    let resume = re
        .replace("a=sendonly", "a=sendrecv")
        .replace("CSeq: 2 INVITE", "CSeq: 3 INVITE")
        .replace("z9hG4bKo2", "z9hG4bKo3");
    let fwd = sim.one(PHONE, &resume);
    sim.one(
        PEER,
        &with_body(
            &response_to(&fwd, 200, "OK", None, ""),
            &sdp("198.51.100.3", 5000, ""),
        ),
    );
    sim.advance(Duration::from_secs(40));
    assert_eq!(sim.core.relay.in_use(), 0);
    assert_eq!(sim.core.proxy.media().unwrap().calls(), 0);
}

#[test]
fn early_media_and_incoming_calls_are_relayed() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let inv = with_body(
        &invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "e1@10.77.1.2",
            "e1",
            "sip:100@10.77.1.2",
        ),
        &sdp("10.77.1.2", 4000, ""),
    );
    let out = sim.one(PHONE, &inv);
    let r183 = with_body(
        &response_to(&out, 183, "Session Progress", Some("b"), ""),
        &sdp("198.51.100.3", 6000, ""),
    );
    let back = sim.one(PEER, &r183);
    assert!(
        back.body().contains("c=IN IP4 10.77.1.1"),
        "{}",
        back.body()
    );
    let port: u16 = back
        .body()
        .lines()
        .find(|l| l.starts_with("m="))
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        packet(&mut sim, port, "198.51.100.3:6000"),
        Decision::Forward(v4("10.77.1.2:4000"))
    );

    // Incoming: the far end offers, the phone answers.
    let inv = with_body(
        &invite(
            "sip:100@198.51.100.1",
            "alice",
            "198.51.100.3",
            "198.51.100.3:5060",
            "in1",
            "w1",
            "sip:alice@198.51.100.3",
        ),
        &sdp("198.51.100.3", 7000, ""),
    );
    let to_phone = sim.one(PEER, &inv);
    assert!(to_phone.body().contains("c=IN IP4 10.77.1.1"));
    let ans = with_body(
        &response_to(
            &to_phone,
            200,
            "OK",
            Some("p"),
            "Contact: <sip:100@10.77.1.2>\r\n",
        ),
        &sdp("10.77.1.2", 4010, ""),
    );
    let out = sim.one(PHONE, &ans);
    assert_no_lan_leak(&out);
    assert!(out.body().contains("c=IN IP4 198.51.100.1"));
}

#[test]
fn a_full_pool_refuses_the_new_call_and_keeps_the_others() {
    // 7070–7073: two streams.
    let mut sim = Sim::with_config(&format!(
        "{}rtp_port_low = 7070\nrtp_port_high = 7073\n",
        config_text()
    ));
    register_phone(&mut sim);
    let (_, _, p1) = call_out(
        &mut sim,
        "f1@10.77.1.2",
        "f1",
        &sdp("198.51.100.3", 5000, ""),
    );
    let (_, _, p2) = call_out(
        &mut sim,
        "f2@10.77.1.2",
        "f2",
        &sdp("198.51.100.3", 5002, ""),
    );
    assert_ne!(p1, p2);
    let inv = with_body(
        &invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "f3@10.77.1.2",
            "f3",
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
    assert_eq!(
        packet(&mut sim, p1, "10.77.1.2:4000"),
        Decision::Forward(v4("198.51.100.3:5000"))
    );
    assert_eq!(
        packet(&mut sim, p2, "10.77.1.2:4000"),
        Decision::Forward(v4("198.51.100.3:5002"))
    );
}

#[test]
fn an_sdp_sipnat_cannot_rewrite_is_refused() {
    // Multicast (RFC 4566 §5.7); IPv6 media sipnat cannot carry is
    // sim_media_ipv6's.
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let multicast = "v=0\r\no=- 1 1 IN IP4 10.77.1.2\r\ns=-\r\nc=IN IP4 224.2.1.1/127\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let inv = with_body(
        &invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "mc@10.77.1.2",
            "mc",
            "sip:100@10.77.1.2",
        ),
        multicast,
    );
    let r = sim.one(PHONE, &inv);
    assert!(
        r.first_line().starts_with("SIP/2.0 488"),
        "{}",
        r.first_line()
    );
    assert_eq!(sim.core.relay.in_use(), 0);
}

#[test]
fn without_the_relay_sdp_passes_unchanged() {
    let mut sim = Sim::with_config(&format!("{}rtp_proxy_enable = 0\n", config_text()));
    register_phone(&mut sim);
    let body = sdp("10.77.1.2", 4000, "");
    let inv = with_body(
        &invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "x@10.77.1.2",
            "x",
            "sip:100@10.77.1.2",
        ),
        &body,
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(out.body(), body);
    assert!(sim.core.proxy.media().is_none());
}

#[test]
fn many_streams_timing_out_in_one_second_all_end_their_calls() {
    let mut sim = Sim::with_config(&format!(
        "{}rtp_port_low = 20000\nrtp_port_high = 20299\nrtp_timeout = 30\n",
        config_text()
    ));
    register_phone(&mut sim);
    for i in 0..80 {
        call_out(
            &mut sim,
            &format!("t{i}@10.77.1.2"),
            &format!("t{i}"),
            &sdp("198.51.100.3", 5000, ""),
        );
    }
    assert_eq!(sim.core.proxy.media().unwrap().calls(), 80);
    sim.advance(Duration::from_secs(40));
    assert_eq!(sim.core.relay.in_use(), 0);
    assert_eq!(sim.core.proxy.media().unwrap().calls(), 0);
}

/// The phone answers an incoming call from the provider whose SDP is
/// `offer`; returns the relay port the phone was given.
fn incoming(sim: &mut Sim, call_id: &str, offer: &str) -> u16 {
    let inv = with_body(
        &invite(
            "sip:100@198.51.100.1",
            "alice",
            "198.51.100.3",
            "198.51.100.3:5060",
            call_id,
            call_id,
            "sip:alice@198.51.100.3",
        ),
        offer,
    );
    let to_phone = sim.one(PEER, &inv);
    phone_answers(sim, &to_phone, "p")
}

/// The phone answers `to_phone` (a call sipnat passed it) with To tag `tag`
/// and its SDP; returns the relay port the offer gave the phone.
fn phone_answers(sim: &mut Sim, to_phone: &Sent, tag: &str) -> u16 {
    let port = to_phone
        .body()
        .lines()
        .find(|l| l.starts_with("m="))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap();
    let ans = with_body(
        &response_to(
            to_phone,
            200,
            "OK",
            Some(tag),
            "Contact: <sip:100@10.77.1.2>\r\n",
        ),
        &sdp("10.77.1.2", 4010, ""),
    );
    sim.one(PHONE, &ans);
    port
}

#[test]
fn a_wan_sdp_naming_the_router_or_the_lan_never_gets_the_phones_audio() {
    // Issue 9 item 11: a WAN caller's c=127.0.0.1 made the relay send the
    // phone's audio to the router's loopback.
    for (i, c) in [
        "127.0.0.1",    // the router's loopback
        "10.77.1.1",    // the router's LAN address
        "10.77.1.2",    // the phone itself
        "10.77.1.9",    // another LAN host
        "198.51.100.1", // the router's own WAN address
    ]
    .iter()
    .enumerate()
    {
        let mut sim = Sim::new();
        register_phone(&mut sim);
        let port = incoming(&mut sim, &format!("in{i}"), &sdp(c, 30000, ""));
        for _ in 0..25 {
            sim.advance(Duration::from_millis(20));
            let d = packet_on(&mut sim, port, "10.77.1.2:4010", side_of("10.77.1.2"));
            assert_eq!(d, Decision::Held, "{c}: the phone's audio went {d:?}");
        }
        // Media forged from that address, arriving on the WAN, is refused.
        let forged = packet_on(
            &mut sim,
            port,
            &format!("{c}:30000"),
            sipnat::proxy::Side::Wan,
        );
        assert_eq!(
            forged,
            Decision::Drop(sipnat::relay::DropReason::ForgedSource),
            "{c}"
        );
        // The caller's real media, from its signalling IP: latched, and the
        // freshest held packets go there, and only there.
        assert_eq!(
            packet_on(
                &mut sim,
                port,
                "198.51.100.3:30000",
                side_of("198.51.100.3")
            ),
            Decision::Forward(v4("10.77.1.2:4010"))
        );
        let sent = flush(&mut sim);
        assert_eq!(sent.len(), sipnat::limits::HOLD_PER_STREAM, "{c}");
        assert!(
            sent.iter()
                .all(|(p, to)| *p == port && *to == v4("198.51.100.3:30000"))
        );
        let status = sim.core.status_text();
        assert!(
            status.contains("rtp-dropped.wan-forged-source 1"),
            "{status}"
        );
        assert!(status.contains("rtp-dropped.hold-full 17"), "{status}");
    }
}

#[test]
fn a_stranger_spraying_the_relay_in_the_window_gets_none_of_the_phones_audio() {
    // Issue 9 item 10, the measured attack: the far end's SDP names its
    // private address, the provider signals, and its media comes from its
    // NAT's public IP 198.51.100.77 — with the SDP's port, as a
    // port-preserving NAT sends. A stranger sprays the relay port. Before,
    // the stranger captured all 248 of the phone's packets.
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let (_, _, port) = call_out(
        &mut sim,
        "bleed@10.77.1.2",
        "bleed",
        &sdp("192.168.0.5", 5000, ""),
    );
    let far = "198.51.100.77:5000";
    let (mut to_far, mut to_stranger) = (0, 0);
    for tick in 0..300u32 {
        sim.advance(Duration::from_millis(20));
        if tick % 2 == 0 {
            let from = format!("203.0.113.66:{}", 41000 + tick);
            let d = packet_on(&mut sim, port, &from, side_of("203.0.113.66"));
            assert!(matches!(d, Decision::Drop(_)), "stranger: {d:?}");
        }
        if (5..5 + 248).contains(&tick) {
            match packet_on(&mut sim, port, "10.77.1.2:4000", side_of("10.77.1.2")) {
                Decision::Forward(to) if to == v4(far) => to_far += 1,
                Decision::Forward(_) => to_stranger += 1,
                Decision::Held => {}
                Decision::Drop(r) => panic!("phone's packet dropped: {r:?}"),
            }
        }
        if tick >= 8 {
            assert_eq!(
                packet_on(&mut sim, port, far, side_of("198.51.100.77")),
                Decision::Forward(v4("10.77.1.2:4000"))
            );
        }
        for (_, to) in flush(&mut sim) {
            if to == v4(far) {
                to_far += 1;
            } else {
                to_stranger += 1;
            }
        }
    }
    assert_eq!((to_far, to_stranger), (248, 0));
}

/// siproxd's codecfilter plugin (`load_plugin = plugin_codecfilter.so`,
/// `plugin_codecfilter_blacklist`): the codecs are gone from the offer
/// that leaves and from the answer that comes back.
#[test]
fn codecfilter_takes_codecs_out_both_ways() {
    let mut sim = Sim::with_config(&format!(
        "{}load_plugin = plugin_codecfilter.so\nplugin_codecfilter_blacklist = pcma\n",
        config_text()
    ));
    register_phone(&mut sim);
    let (out, back, port) = call_out(
        &mut sim,
        "cf1@10.77.1.2",
        "cf1",
        &sdp("198.51.100.3", 5000, ""),
    );
    assert!(
        out.body()
            .contains(&format!("m=audio {port} RTP/AVP 0\r\n")),
        "{}",
        out.body()
    );
    assert!(back.body().contains("RTP/AVP 0\r\n"), "{}", back.body());
    // without the plugin line the list does nothing (as in siproxd)
    let mut sim = Sim::with_config(&format!(
        "{}plugin_codecfilter_blacklist = pcma\n",
        config_text()
    ));
    register_phone(&mut sim);
    let (out, _, _) = call_out(
        &mut sim,
        "cf2@10.77.1.2",
        "cf2",
        &sdp("198.51.100.3", 5000, ""),
    );
    assert!(out.body().contains("RTP/AVP 0 8\r\n"), "{}", out.body());
}

/// codecfilter when sipnat does not relay the media (`rtp_proxy_enable =
/// 0`), as siproxd filters: the codecs go, the addresses stay.
#[test]
fn codecfilter_filters_media_it_does_not_relay() {
    let mut sim = Sim::with_config(&format!(
        "{}rtp_proxy_enable = 0\nload_plugin = plugin_codecfilter.so\n\
         plugin_codecfilter_blacklist = pcma\n",
        config_text()
    ));
    register_phone(&mut sim);
    let body = sdp("10.77.1.2", 4000, "");
    let inv = with_body(
        &invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "cf3@10.77.1.2",
            "cf3",
            "sip:100@10.77.1.2",
        ),
        &body,
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(
        out.body(),
        body.replace("RTP/AVP 0 8\r\n", "RTP/AVP 0\r\n"),
        "only the codec changed"
    );
    assert!(
        out.text
            .contains(&format!("Content-Length: {}\r\n", out.body().len())),
        "{}",
        out.text
    );
    assert!(out.body().contains("c=IN IP4 10.77.1.2\r\n"));
    let answer = sdp("198.51.100.3", 5000, "");
    let ok = with_body(
        &response_to(
            &out,
            200,
            "OK",
            Some("b1"),
            "Contact: <sip:bob@198.51.100.3>\r\n",
        ),
        &answer,
    );
    let back = sim.one(PEER, &ok);
    assert!(
        back.body().contains("m=audio 5000 RTP/AVP 0\r\n"),
        "{}",
        back.body()
    );
    assert!(back.body().contains("c=IN IP4 198.51.100.3\r\n"));
    assert!(!back.body().contains("PCMA"), "{}", back.body());
    assert!(sim.core.proxy.media().is_none());
}

/// A call from the WAN for phone 100 with Call-ID `call_id` and From tag
/// `tag` whose SDP names sipnat's own public address and `named` (a relay
/// port); the phone answers. Returns the relay port the phone was given.
fn wan_call_naming_our_port(sim: &mut Sim, call_id: &str, tag: &str, named: u16) -> u16 {
    let inv = format!(
        "INVITE sip:100@198.51.100.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bKn{named};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@198.51.100.3>;tag={tag}\r\n\
         To: <sip:100@198.51.100.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:alice@198.51.100.3>\r\nContent-Length: 0\r\n\r\n"
    );
    let inv = with_body(&inv, &sdp("198.51.100.1", named, ""));
    let to_phone = sim.one(PEER, &inv);
    assert_eq!(to_phone.to, addr(PHONE));
    phone_answers(sim, &to_phone, "ph")
}

/// A WAN SDP naming the router is taken as the other pass of a call that
/// loops back through sipnat only when it is exactly that: the relay port
/// of a call with the same Call-ID, on its way out and not yet answered.
/// A call naming another call's port, or the port of a call already
/// answered, gets its own stream, whose audio waits for its far end's real
/// media as any WAN SDP naming the router does, and the call named keeps
/// its audio.
#[test]
fn a_wan_sdp_naming_another_calls_relay_port_is_still_refused() {
    // (the call named is answered, the WAN call reuses its Call-ID and tag)
    for (answered, same_call) in [(false, false), (true, true), (false, true)] {
        let mut sim = Sim::new();
        register_phone(&mut sim);
        // Call X: phone 100 calls out, and Y, another call of it.
        let x = with_body(
            &invite(
                "sip:bob@198.51.100.3",
                "100",
                "198.51.100.2",
                "10.77.1.2:5060",
                "x@10.77.1.2",
                "x",
                "sip:100@10.77.1.2:5060",
            ),
            &sdp("10.77.1.2", 4000, ""),
        );
        let x_out = sim.one(PHONE, &x);
        let x_port: u16 = x_out
            .body()
            .lines()
            .find(|l| l.starts_with("m="))
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        if answered {
            let ok = with_body(
                &response_to(
                    &x_out,
                    200,
                    "OK",
                    Some("b1"),
                    "Contact: <sip:bob@198.51.100.3>\r\n",
                ),
                &sdp("198.51.100.3", 5000, ""),
            );
            sim.one(PEER, &ok);
        }
        let (_, _, y_port) = call_out(&mut sim, "y@10.77.1.2", "y", &sdp("198.51.100.3", 5002, ""));
        let calls = sim.core.proxy.media().unwrap().calls();
        // The WAN call: X's Call-ID and tag as they left, or another's;
        // it names X's port, or (X's Call-ID) Y's.
        let x_id = x_out.header("Call-ID").unwrap();
        let x_tag = x_out
            .header("From")
            .unwrap()
            .split("tag=")
            .nth(1)
            .unwrap()
            .to_string();
        let (call_id, tag, named) = match (answered, same_call) {
            (_, false) => ("other@198.51.100.3".to_string(), "o1".to_string(), x_port),
            (true, true) => (x_id, x_tag, x_port),
            (false, true) => (x_id, x_tag, y_port),
        };
        let port = wan_call_naming_our_port(&mut sim, &call_id, &tag, named);
        let case = format!("answered {answered}, same call {same_call}, named {named}");
        assert!(port != x_port && port != y_port, "{case}: joined {port}");
        assert_eq!(sim.core.proxy.media().unwrap().calls(), calls + 1, "{case}");
        // The phone's audio on the new call goes nowhere: held for the
        // caller's real media, never to the router or to X or Y.
        for _ in 0..3 {
            sim.advance(Duration::from_millis(20));
            let d = packet_on(&mut sim, port, "10.77.1.2:4010", side_of("10.77.1.2"));
            assert_eq!(d, Decision::Held, "{case}");
        }
        // X and Y keep their audio.
        if answered {
            assert_eq!(
                packet(&mut sim, x_port, "10.77.1.2:4000"),
                Decision::Forward(v4("198.51.100.3:5000")),
                "{case}"
            );
        }
        assert_eq!(
            packet(&mut sim, y_port, "10.77.1.2:4000"),
            Decision::Forward(v4("198.51.100.3:5002")),
            "{case}"
        );
    }
}

/// The fast path (issue 15 goal 3) through the whole core: a call whose
/// audio flows both ways goes to the kernel; hold takes it back, resuming
/// hands it over again, a far end that moves (re-INVITE with new SDP)
/// takes it back, and its end takes the kernel's flow out before its ports
/// close.
#[test]
fn a_flowing_call_goes_to_the_kernel_and_comes_back_when_it_changes() {
    use sipnat::relay::{KernelFlow, PortOp};
    let mut sim = Sim::new();
    sim.core.relay.set_fastpath(true);
    register_phone(&mut sim);
    let (out, _, port) = call_out(
        &mut sim,
        "k1@10.77.1.2",
        "k1",
        &sdp("198.51.100.3", 5000, ""),
    );
    let flowing = |sim: &mut Sim, far: &str| {
        assert_eq!(
            packet(sim, port, "10.77.1.2:4000"),
            Decision::Forward(v4(far))
        );
        assert_eq!(
            packet(sim, port, far),
            Decision::Forward(v4("10.77.1.2:4000"))
        );
    };
    sim.kernel_scan();
    assert!(
        sim.ports.kernel.is_empty(),
        "not before audio flows both ways"
    );
    assert_eq!(
        packet(&mut sim, port, "10.77.1.2:4000"),
        Decision::Forward(v4("198.51.100.3:5000"))
    );
    sim.kernel_scan();
    assert!(sim.ports.kernel.is_empty(), "not one way");
    // Both ends named by the SDP: no learning window to wait for.
    flowing(&mut sim, "198.51.100.3:5000");
    sim.kernel_scan();
    let flow = KernelFlow {
        port,
        a: v4("10.77.1.2:4000"),
        a_wan: false,
        b: v4("198.51.100.3:5000"),
        b_wan: true,
    };
    assert_eq!(sim.ports.kernel, [PortOp::Forward(flow)]);
    sim.ports.kernel.clear();

    // Hold (re-INVITE, sendonly): back to the relay at once.
    let reinvite = |sim: &mut Sim, cseq: u32, attr: &str, far_ip: &str, far_port: u16| {
        let re = invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "k1@10.77.1.2",
            &format!("k{cseq}"),
            "sip:100@10.77.1.2:5060",
        )
        .replace(
            "To: <sip:bob@198.51.100.3>",
            "To: <sip:bob@198.51.100.3>;tag=b1",
        )
        .replace(&format!("tag=tagk{cseq}"), "tag=tagk1")
        .replace("CSeq: 1 INVITE", &format!("CSeq: {cseq} INVITE"));
        let re = with_body(&re, &sdp("10.77.1.2", 4000, attr));
        let fwd = sim.one(PHONE, &re);
        sim.one(
            PEER,
            &with_body(
                &response_to(&fwd, 200, "OK", None, ""),
                &sdp(far_ip, far_port, ""),
            ),
        );
    };
    reinvite(&mut sim, 2, "a=sendonly\r\n", "198.51.100.3", 5000);
    assert_eq!(sim.ports.kernel, [PortOp::Unforward(flow)]);
    sim.ports.kernel.clear();
    sim.advance(Duration::from_secs(4));
    sim.kernel_scan();
    assert!(sim.ports.kernel.is_empty(), "on hold");

    // Resumed, flowing again: handed over again.
    reinvite(&mut sim, 3, "", "198.51.100.3", 5000);
    sim.advance(Duration::from_secs(4));
    flowing(&mut sim, "198.51.100.3:5000");
    sim.kernel_scan();
    assert_eq!(sim.ports.kernel, [PortOp::Forward(flow)]);
    sim.ports.kernel.clear();

    // The far end moves its media (its answer names a new address).
    reinvite(&mut sim, 4, "", "198.51.100.7", 6000);
    assert_eq!(sim.ports.kernel, [PortOp::Unforward(flow)]);
    sim.ports.kernel.clear();
    sim.advance(Duration::from_secs(4));
    flowing(&mut sim, "198.51.100.7:6000");
    sim.kernel_scan();
    let moved = KernelFlow {
        b: v4("198.51.100.7:6000"),
        ..flow
    };
    assert_eq!(sim.ports.kernel, [PortOp::Forward(moved)]);
    sim.ports.kernel.clear();

    // BYE: the kernel's flow goes, then the ports close.
    let bye = format!(
        "BYE sip:bob@198.51.100.3 SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKbyek;rport\r\nMax-Forwards: 70\r\n\
         From: {}\r\nTo: <sip:bob@198.51.100.3>;tag=b1\r\nCall-ID: k1@10.77.1.2\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n",
        out.header("From").unwrap()
    );
    sim.one(PHONE, &bye);
    assert_eq!(sim.ports.kernel, [PortOp::Unforward(moved)]);
    assert_eq!(sim.ports.closed, [port]);
    assert_eq!(sim.core.relay.totals().in_kernel, 0);
    assert_eq!(sim.core.relay.totals().kernel_handovers, 3);
    assert_eq!(sim.core.relay.totals().kernel_taken_back, 3);
}

/// SRTP passes through untouched (issue 17): the RTP/SAVP and RTP/SAVPF
/// profiles and the `a=crypto` lines (RFC 4568 SDES keys) are kept as
/// written both ways, only the address and port are the relay's, and the
/// relay forwards an encrypted packet by its RTP header alone (it never
/// reads the payload, which is all SRTP encrypts).
#[test]
fn srtp_profiles_and_crypto_lines_pass_through_untouched() {
    let crypto_lan = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n";
    let crypto_wan =
        "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n";
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "srtp@10.77.1.2",
        "sr1",
        "sip:100@10.77.1.2:5060",
    );
    let offer = sdp("10.77.1.2", 4000, crypto_lan).replace("RTP/AVP", "RTP/SAVP");
    let out = sim.one(PHONE, &with_body(&inv, &offer));
    let body = out.body();
    let m = body.lines().find(|l| l.starts_with("m=audio")).unwrap();
    let port: u16 = m.split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(m, format!("m=audio {port} RTP/SAVP 0 8"), "{body}");
    assert!(
        body.ends_with(crypto_lan),
        "the key as the phone wrote it: {body}"
    );
    assert!(body.contains("c=IN IP4 198.51.100.1\r\n"), "{body}");
    let answer = sdp("198.51.100.3", 5000, crypto_wan).replace("RTP/AVP", "RTP/SAVPF");
    let ok = with_body(
        &response_to(
            &out,
            200,
            "OK",
            Some("b1"),
            "Contact: <sip:bob@198.51.100.3>\r\n",
        ),
        &answer,
    );
    let back = sim.one(PEER, &ok);
    let body = back.body();
    assert!(
        body.contains(&format!("m=audio {port} RTP/SAVPF 0 8")),
        "{body}"
    );
    assert!(body.ends_with(crypto_wan), "{body}");
    // An SRTP packet: an RTP header, then bytes that parse as nothing.
    let now = sim.now;
    let i = idx(&sim, port);
    for (from, to) in [
        ("10.77.1.2:4000", "198.51.100.3:5000"),
        ("198.51.100.3:5000", "10.77.1.2:4000"),
    ] {
        let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0x5e, 0xed, 0, 1];
        p.extend((0..160u32).map(|k| (k.wrapping_mul(2_654_435_761) >> 24) as u8));
        let src = v4(from);
        let d = sim
            .core
            .relay_mut()
            .unwrap()
            .on_packet(now, i, src, side_of(from), &p);
        assert_eq!(d, Decision::Forward(v4(to)), "{from}");
    }
}
