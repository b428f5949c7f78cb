//! IPv6 media through the core (issue 14, stage 6): SDP `IN IP6` from a
//! phone whose SIP is IPv4, IPv6 media offered or answered by a provider
//! whose SIP is IPv4, streams with one leg of each family, holds with `::`,
//! and the refusals when sipnat has no address of a stream's family or does
//! not relay. Every SDP leaves in the family of the hop it goes to.
//!
//! The signalling is IPv4 throughout: SIP over IPv6 (a v6 phone, a v6-only
//! provider) needs stage 5b, and those cases are left to it.
#![cfg(feature = "ipv6")]

mod common;
use common::media::*;
use common::*;
use sipnat::net::{Addr, Net};
use sipnat::proxy::Side;
use sipnat::relay::Decision;
use std::net::IpAddr;

/// The phone's IPv6 media address, in the LAN's 2001:db8:77:1::/64.
const PHONE6: &str = "[2001:db8:77:1::2]:4000";
const PHONE6_RTCP: &str = "[2001:db8:77:1::2]:4001";
/// The provider's IPv6 media address (its SIP is IPv4, from `PEER`).
const FAR6: &str = "[2001:db8:99::3]:5000";

/// The virtual world of `common`, with an IPv6 address of sipnat on the LAN
/// (2001:db8:77:1::1/64) and on the WAN (2001:db8:100::1) as asked.
fn sim_with(lan6: bool, wan6: bool, config: &str) -> Sim {
    let mut sim = Sim::with_config(config);
    let mut addrs = addresses();
    if lan6 {
        let net = Net::parse("2001:db8:77:1::1/64").expect("an IPv6 network");
        addrs.lan.push(net).unwrap();
    }
    if wan6 {
        addrs.wan6 = Some("2001:db8:100::1".parse().unwrap());
    }
    sim.core.set_addresses(addrs);
    sim
}

fn dual_stack(lan6: bool, wan6: bool) -> Sim {
    sim_with(lan6, wan6, config_text())
}

fn a(s: &str) -> Addr {
    s.parse().expect("test address")
}

/// An RTP packet (RTCP on an odd port) from `from` of either family, on
/// the side its address is on (the LAN: 10.77.1.0/24, 2001:db8:77:1::/64);
/// held packets that may leave go with it, and are ignored.
fn rtp(sim: &mut Sim, port: u16, from: &str) -> Decision {
    let src = a(from);
    let (ssrc, side) = match src.ip() {
        IpAddr::V4(v4) => (u32::from(v4), side_of(from)),
        IpAddr::V6(v6) => {
            let lan = v6.segments()[..4] == [0x2001, 0xdb8, 0x77, 1];
            let side = if lan { Side::Lan } else { Side::Wan };
            (u128::from(v6) as u32, side)
        }
    };
    let mut p = vec![0u8; 172];
    p[0] = 0x80;
    if port % 2 == 1 {
        p[1] = 200; // an RTCP sender report
        p[4..8].copy_from_slice(&(ssrc ^ 0x5eed_0000).to_be_bytes());
        p.truncate(80);
    } else {
        p[8..12].copy_from_slice(&(ssrc ^ 0x5eed_0000).to_be_bytes());
    }
    let now = sim.now;
    let i = idx(sim, port);
    let d = sim
        .core
        .relay_mut()
        .unwrap()
        .on_packet(now, i, src, side, &p);
    flush(sim);
    d
}

fn fwd(to: &str) -> Decision {
    Decision::Forward(a(to))
}

/// An SDP in IPv6 (o= and c=), audio on `port`.
fn sdp6(addr: &str, port: u16, extra: &str) -> String {
    format!(
        "v=0\r\no=user 1 1 IN IP6 {addr}\r\ns=-\r\nc=IN IP6 {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n{extra}"
    )
}

/// Phone 100 (SIP from 10.77.1.2) calls bob at the peer with `body`.
fn invite_out(sim: &mut Sim, call_id: &str, body: &str) -> Sent {
    // the branch and From tag: the Call-ID's local part
    let branch = call_id.split('@').next().unwrap();
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        call_id,
        branch,
        "sip:100@10.77.1.2:5060",
    );
    sim.one(PHONE, &with_body(&inv, body))
}

/// The relay ports an SDP names, in `m=` order.
fn ports_of(body: &str) -> Vec<u16> {
    body.lines()
        .filter(|l| l.starts_with("m="))
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect()
}

/// Nothing IPv6 in an SDP: every address is `IN IP4` (the family
/// translation), and no address of the LAN's IPv6 network left.
fn all_ipv4(body: &str) {
    assert!(!body.contains("IP6"), "{body}");
    assert!(!body.contains("2001:db8:77:"), "{body}");
}

/// The peer's 200 with `body` for the INVITE `out`; returns what the phone
/// got.
fn peer_answers(sim: &mut Sim, out: &Sent, body: &str) -> Sent {
    let ok = response_to(
        out,
        200,
        "OK",
        Some("b1"),
        "Contact: <sip:bob@198.51.100.3>\r\n",
    );
    sim.one(PEER, &with_body(&ok, body))
}

#[test]
fn a_v4_phone_with_ipv6_media_is_relayed_to_an_ipv4_provider() {
    // RFC 5118 §4.6's kind of offer, from a phone whose SIP is IPv4.
    let mut sim = dual_stack(true, false);
    register_phone(&mut sim);
    let out = invite_out(
        &mut sim,
        "v6a@10.77.1.2",
        &sdp6("2001:db8:77:1::2", 4000, ""),
    );
    assert!(out.first_line().starts_with("INVITE"), "{}", out.text);
    assert_no_lan_leak(&out);
    all_ipv4(out.body());
    assert!(
        out.body().starts_with(
            "v=0\r\no=user 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\n"
        ),
        "{}",
        out.body()
    );
    let port = ports_of(out.body())[0];
    // The answer goes to the phone in the family of its SIP: IPv4.
    let back = peer_answers(&mut sim, &out, &sdp("198.51.100.3", 5000, ""));
    assert!(
        back.body().contains("c=IN IP4 10.77.1.1\r\n"),
        "{}",
        back.body()
    );
    assert_eq!(ports_of(back.body()), [port]);
    // One stream, a leg of each family: RTP and RTCP both ways.
    assert_eq!(rtp(&mut sim, port, PHONE6), fwd("198.51.100.3:5000"));
    assert_eq!(rtp(&mut sim, port, "198.51.100.3:5000"), fwd(PHONE6));
    assert_eq!(
        rtp(&mut sim, port + 1, PHONE6_RTCP),
        fwd("198.51.100.3:5001")
    );
    assert_eq!(
        rtp(&mut sim, port + 1, "198.51.100.3:5001"),
        fwd(PHONE6_RTCP)
    );
    assert_eq!(sim.core.stats().get("media", "sdp-rewritten"), 2);
}

#[test]
fn without_an_ipv6_address_on_the_lan_ipv6_media_is_refused() {
    // sipnat could not send the phone its audio: 488, no port taken.
    let mut sim = dual_stack(false, true);
    register_phone(&mut sim);
    let r = invite_out(
        &mut sim,
        "v6b@10.77.1.2",
        &sdp6("2001:db8:77:1::2", 4000, ""),
    );
    assert!(
        r.first_line().starts_with("SIP/2.0 488"),
        "{}",
        r.first_line()
    );
    assert_eq!(r.to, addr(PHONE));
    assert_eq!(sim.core.relay.in_use(), 0);
    assert_eq!(sim.core.proxy.media().unwrap().calls(), 0);
    assert_eq!(sim.core.stats().get("media", "sdp-family"), 1);
    // An IPv6 RTCP address alone is refused alike (RFC 3605 §2.1).
    let body = sdp("10.77.1.2", 4000, "a=rtcp:4001 IN IP6 2001:db8:77:1::2\r\n");
    let r = invite_out(&mut sim, "v6c@10.77.1.2", &body);
    assert!(
        r.first_line().starts_with("SIP/2.0 488"),
        "{}",
        r.first_line()
    );
    // And a link-local address, which carries no interface, even with one.
    let mut sim = dual_stack(true, false);
    register_phone(&mut sim);
    let r = invite_out(&mut sim, "v6d@10.77.1.2", &sdp6("fe80::2", 4000, ""));
    assert!(
        r.first_line().starts_with("SIP/2.0 488"),
        "{}",
        r.first_line()
    );
    assert_eq!(sim.core.relay.in_use(), 0);
}

#[test]
fn audio_on_ipv4_and_video_on_ipv6_in_one_offer() {
    // RFC 5118 §4.8: each m= line of its own family.
    let mut sim = dual_stack(true, false);
    register_phone(&mut sim);
    let body = "v=0\r\no=bob 1 1 IN IP4 10.77.1.2\r\ns=-\r\nt=0 0\r\n\
                m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.77.1.2\r\n\
                m=video 4002 RTP/AVP 96\r\nc=IN IP6 2001:db8:77:1::2\r\na=rtpmap:96 H264/90000\r\n";
    let out = invite_out(&mut sim, "mix@10.77.1.2", body);
    all_ipv4(out.body());
    assert_eq!(out.body().matches("c=IN IP4 198.51.100.1\r\n").count(), 2);
    let ports = ports_of(out.body());
    assert_eq!(ports.len(), 2);
    let answer = "v=0\r\no=- 1 1 IN IP4 198.51.100.3\r\ns=-\r\nc=IN IP4 198.51.100.3\r\nt=0 0\r\n\
                  m=audio 5000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 96\r\n";
    let back = peer_answers(&mut sim, &out, answer);
    assert_eq!(back.body().matches("c=IN IP4 10.77.1.1\r\n").count(), 1);
    assert_eq!(
        rtp(&mut sim, ports[0], "10.77.1.2:4000"),
        fwd("198.51.100.3:5000")
    );
    assert_eq!(
        rtp(&mut sim, ports[1], "[2001:db8:77:1::2]:4002"),
        fwd("198.51.100.3:5002")
    );
    assert_eq!(
        rtp(&mut sim, ports[1], "198.51.100.3:5002"),
        fwd("[2001:db8:77:1::2]:4002")
    );
    assert_eq!(
        rtp(&mut sim, ports[0], "198.51.100.3:5000"),
        fwd("10.77.1.2:4000")
    );
}

#[test]
fn an_ipv6_answer_from_the_provider_reaches_the_phone_in_ipv4() {
    let mut sim = dual_stack(false, true);
    register_phone(&mut sim);
    let out = invite_out(&mut sim, "ans6@10.77.1.2", &sdp("10.77.1.2", 4000, ""));
    let port = ports_of(out.body())[0];
    let back = peer_answers(&mut sim, &out, &sdp6("2001:db8:99::3", 5000, ""));
    all_ipv4(back.body());
    assert!(
        back.body().contains("c=IN IP4 10.77.1.1\r\n"),
        "{}",
        back.body()
    );
    assert!(
        back.body().contains("o=user 1 1 IN IP4 10.77.1.1\r\n"),
        "{}",
        back.body()
    );
    // The provider's global IPv6 address is a destination (rule 7).
    assert_eq!(rtp(&mut sim, port, "10.77.1.2:4000"), fwd(FAR6));
    assert_eq!(rtp(&mut sim, port, FAR6), fwd("10.77.1.2:4000"));
    // A stranger on IPv6 gets nothing.
    assert!(matches!(
        rtp(&mut sim, port, "[2001:db8:66::6]:5000"),
        Decision::Drop(_)
    ));
}

#[test]
fn a_wan_ipv6_sdp_naming_a_unique_local_address_waits_for_latching() {
    // RFC 4193 addresses are the RFC 1918 of IPv6: not a destination
    // before latching unless the provider signals from it (rule 7).
    let mut sim = dual_stack(false, true);
    register_phone(&mut sim);
    let out = invite_out(&mut sim, "ula@10.77.1.2", &sdp("10.77.1.2", 4000, ""));
    let port = ports_of(out.body())[0];
    peer_answers(&mut sim, &out, &sdp6("fd00:99::3", 5000, ""));
    assert_eq!(rtp(&mut sim, port, "10.77.1.2:4000"), Decision::Held);
    // The provider's SIP address latches at once (rule 3), from IPv4.
    assert_eq!(
        rtp(&mut sim, port, "198.51.100.3:5000"),
        fwd("10.77.1.2:4000")
    );
    assert_eq!(
        rtp(&mut sim, port, "10.77.1.2:4000"),
        fwd("198.51.100.3:5000")
    );
}

#[test]
fn an_incoming_call_with_ipv6_media_rings_the_phone_in_ipv4() {
    let mut sim = dual_stack(false, true);
    register_phone(&mut sim);
    let inv = with_body(
        &invite(
            "sip:100@198.51.100.1",
            "alice",
            "198.51.100.3",
            "198.51.100.3:5060",
            "in6@198.51.100.3",
            "in6",
            "sip:alice@198.51.100.3",
        ),
        &sdp6("2001:db8:99::3", 5000, ""),
    );
    let to_phone = sim.one(PEER, &inv);
    assert_eq!(to_phone.to, addr(PHONE));
    all_ipv4(to_phone.body());
    assert!(
        to_phone.body().contains("c=IN IP4 10.77.1.1\r\n"),
        "{}",
        to_phone.body()
    );
    let port = ports_of(to_phone.body())[0];
    // The phone answers; the answer leaves in the family of the provider's
    // SIP (IPv4), as every SDP toward a hop does.
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
    let to_wan = sim.one(PHONE, &ans);
    assert!(
        to_wan.body().contains("c=IN IP4 198.51.100.1\r\n"),
        "{}",
        to_wan.body()
    );
    assert_eq!(ports_of(to_wan.body()), [port]);
    assert_eq!(rtp(&mut sim, port, FAR6), fwd("10.77.1.2:4010"));
    assert_eq!(rtp(&mut sim, port, "10.77.1.2:4010"), fwd(FAR6));
    // Without a WAN IPv6 address sipnat cannot carry that media: 488.
    let mut sim = dual_stack(true, false);
    register_phone(&mut sim);
    let r = sim.one(PEER, &inv);
    assert!(
        r.first_line().starts_with("SIP/2.0 488"),
        "{}",
        r.first_line()
    );
    assert_eq!(r.to, addr(PEER));
    assert_eq!(sim.core.relay.in_use(), 0);
}

#[test]
fn an_ipv6_hold_reaches_the_ipv4_provider_as_an_ipv4_hold() {
    let mut sim = dual_stack(true, false);
    register_phone(&mut sim);
    let out = invite_out(
        &mut sim,
        "hold6@10.77.1.2",
        &sdp6("2001:db8:77:1::2", 4000, ""),
    );
    let port = ports_of(out.body())[0];
    peer_answers(&mut sim, &out, &sdp("198.51.100.3", 5000, ""));
    assert_eq!(rtp(&mut sim, port, PHONE6), fwd("198.51.100.3:5000"));
    // Re-INVITE with `c=IN IP6 ::` (RFC 3264 §8.4).
    let held = "v=0\r\no=user 1 2 IN IP6 2001:db8:77:1::2\r\ns=-\r\nc=IN IP6 ::\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n";
    let reinvite = format!(
        "INVITE sip:bob@198.51.100.3 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKre6;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:100@198.51.100.2>;tag=taghold6\r\n\
         To: <sip:bob@198.51.100.3>;tag=b1\r\n\
         Call-ID: hold6@10.77.1.2\r\n\
         CSeq: 2 INVITE\r\n\
         Contact: <sip:100@10.77.1.2:5060>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{held}",
        held.len()
    );
    let out = sim.one(PHONE, &reinvite);
    assert!(out.first_line().starts_with("INVITE"), "{}", out.text);
    assert_eq!(
        out.body(),
        format!(
            "v=0\r\no=user 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8\r\n"
        )
    );
    // The same stream, and the phone's address kept through the hold.
    assert_eq!(sim.core.relay.in_use(), 1);
    assert_eq!(rtp(&mut sim, port, "198.51.100.3:5000"), fwd(PHONE6));
}

#[test]
fn without_the_relay_media_may_not_cross_families() {
    // rtp_proxy_enable = 0: nothing translates, so an SDP whose media is
    // of another family than the hop it goes to is refused.
    let mut sim = sim_with(
        true,
        false,
        &format!("{}rtp_proxy_enable = 0\n", config_text()),
    );
    register_phone(&mut sim);
    let r = invite_out(
        &mut sim,
        "nr6@10.77.1.2",
        &sdp6("2001:db8:77:1::2", 4000, ""),
    );
    assert!(
        r.first_line().starts_with("SIP/2.0 488"),
        "{}",
        r.first_line()
    );
    assert_eq!(sim.core.stats().get("media", "sdp-family"), 1);
    // IPv4 media (the mapped form included, RFC 5118 §4.9) goes as written.
    for body in [
        sdp("10.77.1.2", 4000, ""),
        sdp6("::ffff:10.77.1.2", 4000, ""),
    ] {
        let out = invite_out(&mut sim, "nr4@10.77.1.2", &body);
        assert!(out.first_line().starts_with("INVITE"), "{}", out.text);
        assert_eq!(out.body(), body);
    }
}

#[test]
fn a_stream_across_families_stays_out_of_the_kernel() {
    // nftables cannot translate between families: the relay forwards it.
    let mut sim = dual_stack(true, false);
    sim.core.relay.set_fastpath(true);
    register_phone(&mut sim);
    let out = invite_out(
        &mut sim,
        "k6@10.77.1.2",
        &sdp6("2001:db8:77:1::2", 4000, ""),
    );
    let port = ports_of(out.body())[0];
    peer_answers(&mut sim, &out, &sdp("198.51.100.3", 5000, ""));
    for _ in 0..3 {
        assert_eq!(rtp(&mut sim, port, PHONE6), fwd("198.51.100.3:5000"));
        assert_eq!(rtp(&mut sim, port, "198.51.100.3:5000"), fwd(PHONE6));
        sim.kernel_scan();
    }
    assert!(sim.ports.kernel.is_empty(), "{:?}", sim.ports.kernel);
    // While a call of one family, flowing the same way, goes.
    let out = invite_out(&mut sim, "k4@10.77.1.2", &sdp("10.77.1.2", 4002, ""));
    let port = ports_of(out.body())[0];
    peer_answers(&mut sim, &out, &sdp("198.51.100.3", 5002, ""));
    for _ in 0..3 {
        assert_eq!(
            rtp(&mut sim, port, "10.77.1.2:4002"),
            fwd("198.51.100.3:5002")
        );
        assert_eq!(
            rtp(&mut sim, port, "198.51.100.3:5002"),
            fwd("10.77.1.2:4002")
        );
        sim.kernel_scan();
    }
    assert!(
        matches!(
            sim.ports.kernel.first(),
            Some(sipnat::relay::PortOp::Forward(f)) if f.port == port
        ),
        "{:?}",
        sim.ports.kernel
    );
}
