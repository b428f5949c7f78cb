//! Issue 9 item 2, performed against the core with a virtual clock: the WAN
//! must not be able to take every relay port (three INVITEs with four `m=`
//! lines each used to make every later call get `503 (no relay ports)`
//! until `rtp_timeout`), nor ring the phones as fast as it can send.
//!
//! Only SIP goes in and out here (no RTP), with siproxd's default pool
//! 7070–7089: 10 streams, of which WAN calls may hold 8 and one WAN source 4.

mod common;
use common::media::{register_phone, with_body};
use common::*;
use std::time::Duration;

const ATTACKER: &str = "203.0.113.66:5060";
const ATTACKER2: &str = "203.0.113.67:5060";

/// An SDP offer with `n` media lines (audio and video in turn).
fn sdp_n(addr: &str, n: usize, base: u16) -> String {
    let mut s = format!("v=0\r\no=- 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n");
    for i in 0..n {
        let kind = if i % 2 == 0 { "audio" } else { "video" };
        s.push_str(&format!("m={kind} {} RTP/AVP 0\r\n", base + 2 * i as u16));
    }
    s
}

/// A new call from `from` (a WAN host) to phone 100 at sipnat's public
/// address, with `n` media lines (0: no SDP). Returns what sipnat sent.
fn wan_call(sim: &mut Sim, from: &str, call_id: &str, n: usize) -> Sent {
    let ip = from.split(':').next().unwrap();
    let inv = invite(
        "sip:100@198.51.100.1",
        "caller",
        ip,
        from,
        call_id,
        call_id,
        &format!("sip:caller@{from}"),
    );
    let body = if n == 0 {
        String::new()
    } else {
        sdp_n(ip, n, 20000)
    };
    sim.one(from, &with_body(&inv, &body))
}

/// The phone rings (180) for what sipnat gave it.
fn ring(sim: &mut Sim, to_phone: &Sent) {
    let r = response_to(
        to_phone,
        180,
        "Ringing",
        Some("ph"),
        "Contact: <sip:100@10.77.1.2:5060>\r\n",
    );
    sim.one(PHONE, &r);
}

/// Phone 100 calls out with one audio stream; what sipnat sent.
fn lan_call(sim: &mut Sim, call_id: &str) -> Sent {
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        call_id,
        call_id.split('@').next().unwrap(),
        "sip:100@10.77.1.2:5060",
    );
    sim.one(PHONE, &with_body(&inv, &sdp_n("10.77.1.2", 1, 4000)))
}

fn is_503(s: &Sent) -> bool {
    s.first_line().starts_with("SIP/2.0 503")
}

fn relay_ports(s: &Sent) -> Vec<u16> {
    s.body()
        .lines()
        .filter(|l| l.starts_with("m="))
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect()
}

fn in_use(sim: &Sim) -> usize {
    sim.core.relay.in_use()
}

#[test]
fn three_wan_invites_with_four_streams_leave_ports_for_lan_and_wan_calls() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    // The measured attack: three INVITEs with four m= lines each, the phone
    // ringing for each that reaches it.
    let mut rang = 0;
    for i in 0..3 {
        let out = wan_call(&mut sim, ATTACKER, &format!("atk{i}"), 4);
        if out.to == addr(PHONE) {
            ring(&mut sim, &out);
            rang += 1;
        } else {
            assert!(is_503(&out), "{}", out.text);
            assert!(out.text.contains("Retry-After:"), "{}", out.text);
        }
    }
    assert_eq!(rang, 1, "one source holds at most 4 streams: one such call");
    assert_eq!(in_use(&sim), 4);
    // The LAN still calls out …
    let out = lan_call(&mut sim, "lan1@10.77.1.2");
    assert!(!is_503(&out), "LAN call refused: {}", out.first_line());
    assert_eq!(out.to, addr("198.51.100.3:5060"));
    // … and the provider still reaches the phone.
    let out = wan_call(&mut sim, PEER, "prov1", 1);
    assert_eq!(out.to, addr(PHONE), "{}", out.text);
    let ports = relay_ports(&out);
    assert!(
        ports.len() == 1 && (7070..7090).contains(&ports[0]),
        "{ports:?}"
    );
    let m = sim.core.proxy.media().unwrap();
    assert_eq!(
        m.count(sipnat::proxy::media::Limit::SourceCap),
        2 * 4,
        "every stream of the two refused calls"
    );
    let status = sim.core.status_text();
    assert!(status.contains("media.wan-source-cap 8"), "{status}");
}

#[test]
fn many_wan_sources_cannot_take_the_lans_share() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    // Five sources, three m= lines each (within one source's share of 4).
    let mut forwarded = Vec::new();
    for i in 0..5 {
        let from = format!("203.0.113.{}:5060", 66 + i);
        let out = wan_call(&mut sim, &from, &format!("many{i}"), 3);
        if out.to == addr(PHONE) {
            ring(&mut sim, &out);
            forwarded.push(relay_ports(&out));
        } else {
            assert!(is_503(&out), "{}", out.text);
        }
    }
    // WAN calls share 8 of the 10 streams: 3 + 3 + 2, the third call's last
    // m= line rejected, the other two calls refused.
    assert_eq!(in_use(&sim), 8);
    assert_eq!(forwarded.len(), 3);
    assert_eq!(forwarded[2][2], 0, "{:?}", forwarded[2]);
    // The LAN's two streams: two calls out still work.
    for i in 0..2 {
        let out = lan_call(&mut sim, &format!("lan{i}@10.77.1.2"));
        assert!(!is_503(&out), "LAN call {i} refused");
    }
    assert_eq!(in_use(&sim), 10);
    let status = sim.core.status_text();
    assert!(status.contains("media.lan-reserve 7"), "{status}");
}

#[test]
fn media_beyond_the_call_cap_are_rejected_and_stay_rejected_in_the_answer() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let to_phone = wan_call(&mut sim, PEER, "cap1", 6);
    let ports = relay_ports(&to_phone);
    assert_eq!(ports.len(), 6);
    assert!(
        ports[..4].iter().all(|p| (7070..7090).contains(p)),
        "{ports:?}"
    );
    assert_eq!(
        &ports[4..],
        [0, 0],
        "m= lines 5 and 6 rejected (RFC 3264 §6)"
    );
    assert_eq!(in_use(&sim), 4);
    // The phone (wrongly) accepts all six, and rejects the video of line 2.
    let mut answer = sdp_n("10.77.1.2", 6, 4000);
    answer = answer.replace("m=video 4002 ", "m=video 0 ");
    let ok = response_to(
        &to_phone,
        200,
        "OK",
        Some("ph"),
        "Contact: <sip:100@10.77.1.2:5060>\r\n",
    );
    let out = sim.one(PHONE, &with_body(&ok, &answer));
    assert_eq!(out.to, addr(PEER));
    assert_no_lan_leak(&out);
    let back = relay_ports(&out);
    assert_eq!(back[1], 0, "the phone's own rejection stays");
    assert_eq!(
        &back[4..],
        [0, 0],
        "what sipnat rejected in the offer stays rejected"
    );
    assert!(back[0] != 0 && back[2] != 0 && back[3] != 0);
    // The stream the phone rejected went back to the pool (RFC 3264 §8.2).
    assert_eq!(in_use(&sim), 3);
}

#[test]
fn an_unanswered_wan_offer_gives_its_streams_back_and_a_late_answer_fails_cleanly() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    // Nobody answers at all: Timer B.
    let to_phone = wan_call(&mut sim, PEER, "quiet1", 2);
    assert_eq!(in_use(&sim), 2);
    sim.advance(Duration::from_secs(31));
    assert_eq!(in_use(&sim), 2);
    sim.advance(Duration::from_secs(2));
    assert_eq!(
        in_use(&sim),
        0,
        "back in the pool after 32 s, not rtp_timeout"
    );
    // The phone answers after all: refused cleanly (nothing to the WAN, no
    // new streams), and the call is not taken for a new one.
    let ok = with_body(
        &response_to(
            &to_phone,
            200,
            "OK",
            Some("ph"),
            "Contact: <sip:100@10.77.1.2:5060>\r\n",
        ),
        &sdp_n("10.77.1.2", 2, 4000),
    );
    assert!(sim.sip(PHONE, &ok).is_empty());
    assert_eq!(in_use(&sim), 0);
    assert_eq!(sim.core.stats().get("drop", "answer-after-timeout"), 1);
    // Getting no ACK, the phone hangs up: the BYE goes on and the call ends.
    let bye = format!(
        "BYE sip:caller@{PEER} SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKqb;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:100@198.51.100.1>;tag=ph\r\nTo: {}\r\nCall-ID: quiet1\r\n\
         CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        to_phone.header("From").unwrap()
    );
    let out = sim.sip(PHONE, &bye);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(sim.core.proxy.media().unwrap().calls(), 0);

    // A ringing phone keeps its call: Timer C, restarted by each 180.
    let to_phone = wan_call(&mut sim, PEER, "ring1", 1);
    ring(&mut sim, &to_phone);
    sim.advance(Duration::from_secs(100));
    ring(&mut sim, &to_phone);
    sim.advance(Duration::from_secs(170));
    assert_eq!(in_use(&sim), 1, "still ringing: kept");
    sim.advance(Duration::from_secs(12));
    assert_eq!(in_use(&sim), 0, "no provisional for over 3 minutes");
    let status = sim.core.status_text();
    assert!(
        status.contains("media.unanswered-no-response 1"),
        "{status}"
    );
    assert!(status.contains("media.unanswered-ringing 1"), "{status}");
    assert!(status.contains("drop.answer-after-timeout 1"), "{status}");
}

#[test]
fn a_lan_call_is_never_timed_out_while_it_rings() {
    // A hotline may play early media for many minutes before it answers.
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let out = lan_call(&mut sim, "hot@10.77.1.2");
    let r183 = with_body(
        &response_to(&out, 183, "Session Progress", Some("q"), ""),
        &sdp_n("198.51.100.3", 1, 6000),
    );
    sim.one(PEER, &r183);
    sim.advance(Duration::from_secs(250));
    assert_eq!(in_use(&sim), 1);
}

/// A LAN call whose INVITE gets no response at all (a provider dropping
/// INVITEs under load) gives its streams back after Timer B, not after
/// `rtp_timeout`; one that got a 100 Trying is kept.
#[test]
fn a_lan_call_that_hears_nothing_gives_its_streams_back_after_timer_b() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    lan_call(&mut sim, "void@10.77.1.2");
    let tried = lan_call(&mut sim, "tried@10.77.1.2");
    sim.sip(PEER, &response_to(&tried, 100, "Trying", Some("t"), ""));
    assert_eq!(in_use(&sim), 2);
    sim.advance(Duration::from_secs(31));
    assert_eq!(in_use(&sim), 2);
    sim.advance(Duration::from_secs(2));
    assert_eq!(in_use(&sim), 1, "the silent call's stream is back");
    let status = sim.core.status_text();
    assert!(
        status.contains("media.unanswered-no-response 1"),
        "{status}"
    );
    sim.advance(Duration::from_secs(200));
    assert_eq!(in_use(&sim), 1, "a call that heard 100 Trying is kept");
}

#[test]
fn a_flood_of_wan_invites_from_one_source_is_rate_limited() {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let burst = sipnat::proxy::ratelimit::INVITE_BURST as usize;
    let mut admitted = Vec::new();
    let mut refused = 0;
    for i in 0..30 {
        let out = wan_call(&mut sim, ATTACKER, &format!("flood{i}"), 0);
        if out.to == addr(PHONE) {
            admitted.push(i);
        } else {
            assert!(
                is_503(&out) && out.text.contains("Retry-After:"),
                "{}",
                out.text
            );
            assert_eq!(out.to, addr(ATTACKER));
            refused += 1;
        }
    }
    assert_eq!(admitted.len(), burst);
    assert_eq!(refused, 30 - burst);
    assert_eq!(
        sim.core.stats().get("limit", "wan-invite-rate"),
        (30 - burst) as u64
    );
    // A retransmission of an admitted INVITE still goes through: it is no
    // new call.
    let again = wan_call(&mut sim, ATTACKER, &format!("flood{}", burst - 1), 0);
    assert_eq!(again.to, addr(PHONE));
    // Another source is not affected.
    let other = wan_call(&mut sim, ATTACKER2, "other1", 0);
    assert_eq!(other.to, addr(PHONE));
    let prov = wan_call(&mut sim, PEER, "prov1", 1);
    assert_eq!(prov.to, addr(PHONE));
    // The flooder gets one call per refill period.
    sim.advance(sipnat::proxy::ratelimit::INVITE_REFILL);
    assert_eq!(wan_call(&mut sim, ATTACKER, "late1", 0).to, addr(PHONE));
    assert!(is_503(&wan_call(&mut sim, ATTACKER, "late2", 0)));
    // The phone's own calls are never limited.
    for i in 0..20 {
        let out = lan_call(&mut sim, &format!("own{i}@10.77.1.2"));
        assert!(
            !out.first_line()
                .starts_with("SIP/2.0 503 Service Unavailable (call rate)"),
            "{}",
            out.first_line()
        );
    }
    assert!(
        sim.core
            .status_text()
            .contains(&format!("limit.wan-invite-rate {}", 30 - burst + 1))
    );
}
