//! SIP over IPv6 through the core (issue 14), on a dual-stack router
//! ([`Sim::dual`]): phones of either family registering with and called
//! by providers of either family, the family of each hop chosen by its
//! destination and sipnat's address of that family named in Via,
//! Record-Route and Contact (RFC 5118 §4.1 brackets, RFC 3261 §18.2.1
//! `received` written bare); the LAN's IPv6 addresses hidden from the WAN
//! like its IPv4 ones; 503 for a hop of a family sipnat has no address of;
//! forged IPv6 sources dropped. Media stays out of these tests
//! (`rtp_proxy_enable = 0`): `tests/sim_media_ipv6.rs` has the relay.
#![cfg(feature = "ipv6")]

mod common;
use common::*;
use sipnat::proxy::Side;

const PHONE6: &str = "[2001:db8:77:1::2]:5060";
const REGISTRAR6: &str = "[2001:db8:100::2]:5060";

fn dual() -> Sim {
    Sim::dual(&format!("{}rtp_proxy_enable = 0\n", config_text()))
}

/// A REGISTER from `phone` (`[v6]:port` or `a.b.c.d:port`) for user `user`
/// at `host` (a URI host: `[v6]` or v4).
fn register_from(phone: &str, user: &str, host: &str, call_id: &str) -> String {
    format!(
        "REGISTER sip:{host} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {phone};branch=z9hG4bK{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{host}>;tag=f{call_id}\r\n\
         To: <sip:{user}@{host}>\r\n\
         Call-ID: {call_id}@{phone}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:{user}@{phone}>;expires=3600\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// An INVITE without a body from `from` (`[v6]:port` or v4) to `ruri`.
fn invite_from(from: &str, ruri: &str, call_id: &str) -> String {
    format!(
        "INVITE {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{from}>;tag=t{call_id}\r\n\
         To: <{ruri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:bob@{from}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The URI inside the first Contact of `m`.
fn contact_uri(m: &Sent) -> String {
    let c = m.header("Contact").unwrap();
    c.trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string()
}

/// Register `user` from `phone` at `registrar` (host `host`), answer 200,
/// and return (the REGISTER as the registrar saw it, the 200 the phone
/// got).
fn registered(sim: &mut Sim, phone: &str, user: &str, registrar: &str, host: &str) -> (Sent, Sent) {
    let fwd = sim.one(phone, &register_from(phone, user, host, user));
    assert_eq!(fwd.to, addr(registrar), "{}", fwd.text);
    assert_no_lan_leak(&fwd);
    let contact = fwd.header("Contact").unwrap();
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("reg"),
        &format!("Contact: {contact}\r\n"),
    );
    let back = sim.one(registrar, &ok);
    assert_eq!(back.to, addr(phone), "{}", back.text);
    assert!(
        back.first_line().starts_with("SIP/2.0 200"),
        "{}",
        back.text
    );
    (fwd, back)
}

#[test]
fn an_ipv6_phone_registers_with_an_ipv6_provider_and_is_called() {
    let mut sim = dual();
    let (fwd, back) = registered(&mut sim, PHONE6, "600", REGISTRAR6, "[2001:db8:100::2]");
    // sipnat's IPv6 WAN address in Via (bracketed, RFC 5118 §4.1) and
    // Contact, with a 44-character token of the phone's address.
    let via = fwd.header("Via").unwrap();
    assert!(
        via.starts_with("SIP/2.0/UDP [2001:db8:100::1]:5060;branch="),
        "{via}"
    );
    let c = contact_uri(&fwd);
    let token = c.split(";snc=").nth(1).unwrap();
    assert!(c.starts_with("sip:600@[2001:db8:100::1]:5060"), "{c}");
    assert_eq!(token.len(), 44, "{c}");
    // The phone gets its own Contact back.
    assert_eq!(contact_uri(&back), "sip:600@[2001:db8:77:1::2]:5060");
    assert_eq!(sim.core.stats().get("drop", "ipv6"), 0);

    // The provider calls the masqueraded contact: it reaches the phone,
    // with the provider's Via given `received`/`rport` (RFC 3581 §4) and
    // sipnat's LAN IPv6 address in the phone's network in its own Via (the
    // source the kernel sends from, RFC 6724 rule 8).
    let inv = sim.one(REGISTRAR6, &invite_from(REGISTRAR6, &c, "in6"));
    assert_eq!(inv.to, addr(PHONE6), "{}", inv.text);
    assert!(
        inv.first_line()
            .starts_with("INVITE sip:600@[2001:db8:77:1::2]:5060 "),
        "{}",
        inv.text
    );
    let vias = inv.headers("Via");
    assert!(
        vias[0].starts_with("SIP/2.0/UDP [2001:db8:77:1::1]:5060;branch="),
        "{vias:?}"
    );
    assert!(
        vias[1].contains(";received=2001:db8:100::2;rport=5060"),
        "{vias:?}"
    );
    let rr = inv.header("Record-Route").unwrap();
    assert!(rr.starts_with("<sip:[2001:db8:77:1::1]:5060;lr"), "{rr}");
    // The phone's 180 goes back to the provider with sipnat's WAN entry.
    let ringing = response_to(&inv, 180, "Ringing", Some("ph"), "");
    let up = sim.one(PHONE6, &ringing);
    assert_eq!(up.to, addr(REGISTRAR6), "{}", up.text);
    assert_no_lan_leak(&up);
    let rr = up.header("Record-Route").unwrap();
    assert!(rr.starts_with("<sip:[2001:db8:100::1]:5060;lr"), "{rr}");
}

/// Family translation of signalling: an IPv4 phone and an IPv6-only
/// provider. The hop's family is the destination's; the contact token
/// holds the phone's IPv4 address (30 hex digits) under sipnat's IPv6
/// address.
#[test]
fn an_ipv4_phone_reaches_an_ipv6_provider_and_back() {
    let mut sim = dual();
    let (fwd, back) = registered(&mut sim, PHONE, "100", REGISTRAR6, "[2001:db8:100::2]");
    assert!(
        fwd.header("Via")
            .unwrap()
            .starts_with("SIP/2.0/UDP [2001:db8:100::1]:5060;")
    );
    let c = contact_uri(&fwd);
    assert!(c.starts_with("sip:100@[2001:db8:100::1]:5060;snc="), "{c}");
    assert_eq!(c.split(";snc=").nth(1).unwrap().len(), 30, "{c}");
    assert_eq!(contact_uri(&back), "sip:100@10.77.1.2:5060");

    let inv = sim.one(REGISTRAR6, &invite_from(REGISTRAR6, &c, "x46"));
    assert_eq!(inv.to, addr(PHONE), "{}", inv.text);
    // Toward the IPv4 phone sipnat names its IPv4 LAN address.
    assert!(
        inv.header("Via")
            .unwrap()
            .starts_with("SIP/2.0/UDP 10.77.1.1:5060;")
    );
    assert!(
        inv.header("Record-Route")
            .unwrap()
            .starts_with("<sip:10.77.1.1:5060;lr")
    );
    let ok = sim.one(
        PHONE,
        &response_to(
            &inv,
            200,
            "OK",
            Some("p4"),
            "Contact: <sip:100@10.77.1.2:5060>\r\n",
        ),
    );
    assert_eq!(ok.to, addr(REGISTRAR6), "{}", ok.text);
    assert_no_lan_leak(&ok);
    assert!(
        ok.header("Record-Route")
            .unwrap()
            .starts_with("<sip:[2001:db8:100::1]:5060;lr")
    );
    assert!(contact_uri(&ok).starts_with("sip:100@[2001:db8:100::1]:5060;snc="));
}

/// The reverse: an IPv6 phone and an IPv4 provider.
#[test]
fn an_ipv6_phone_reaches_an_ipv4_provider() {
    let mut sim = dual();
    let (fwd, _) = registered(&mut sim, PHONE6, "601", REGISTRAR, "198.51.100.2");
    assert!(
        fwd.header("Via")
            .unwrap()
            .starts_with("SIP/2.0/UDP 198.51.100.1:5060;")
    );
    let c = contact_uri(&fwd);
    assert!(c.starts_with("sip:601@198.51.100.1:5060;snc="), "{c}");
    let inv = sim.one(REGISTRAR, &invite_from(REGISTRAR, &c, "x64"));
    assert_eq!(inv.to, addr(PHONE6), "{}", inv.text);
}

/// A hop of a family sipnat has no address of cannot be served: 503,
/// and nothing goes out.
#[test]
fn no_address_of_the_hop_family_is_503() {
    let mut sim = Sim::signalling_only();
    let out = sim.sip(
        PHONE,
        &register_from(PHONE, "100", "[2001:db8:100::2]", "n6"),
    );
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].to, addr(PHONE));
    assert_eq!(
        out[0].first_line(),
        "SIP/2.0 503 Service Unavailable (no IPv6 address)"
    );
    assert_eq!(sim.core.stats().get("route", "no-address"), 1);
}

/// A datagram that arrives on the WAN from the LAN's IPv6 prefix, or from
/// one of the router's own IPv6 addresses, is forged: dropped, counted,
/// not answered. Each LAN prefix counts, the ULA too.
#[test]
fn forged_ipv6_sources_from_the_wan_are_dropped() {
    let mut sim = dual();
    for from in [
        PHONE6,
        "[fd77:1::9]:5060",
        "[2001:db8:100::1]:5060",
        "[::1]:5060",
    ] {
        let out = sim.sip_on(
            Side::Wan,
            from,
            &invite_from(from, "sip:100@[2001:db8:100::1]", "f"),
        );
        assert!(out.is_empty(), "{from}: {out:#?}");
    }
    assert_eq!(sim.core.stats().get("drop", "wan-forged-source"), 4);
}

/// A LAN IPv6 address anywhere in the text (here a Call-ID) is masked
/// toward the WAN and comes back exactly as the phone wrote it.
#[test]
fn lan_ipv6_addresses_in_text_are_masked_and_restored() {
    let mut sim = dual();
    let (fwd, _) = registered(&mut sim, PHONE6, "602", REGISTRAR6, "[2001:db8:100::2]");
    let call_id = fwd.header("Call-ID").unwrap();
    // The brackets go with the address (`[sn….invalid]` is no host).
    assert!(
        call_id.starts_with("602@sn") && call_id.ends_with(".invalid:5060"),
        "{call_id}"
    );
    let c = contact_uri(&fwd);
    // An in-dialog request from the provider with that Call-ID gets the
    // phone's text back.
    let mut inv = invite_from(REGISTRAR6, &c, "m6");
    inv = inv.replace("Call-ID: m6", &format!("Call-ID: {call_id}"));
    let to_phone = sim.one(REGISTRAR6, &inv);
    assert_eq!(
        to_phone.header("Call-ID").unwrap(),
        "602@[2001:db8:77:1::2]:5060"
    );
}

/// An RTP packet (RFC 3550 §5.1) from `from` (either family) on relay
/// port `port`.
fn rtp(sim: &mut Sim, port: u16, from: &str) -> sipnat::relay::Decision {
    let src: sipnat::net::Addr = from.parse().unwrap();
    let mut p = vec![0u8; 172];
    p[0] = 0x80;
    p[8..12].copy_from_slice(&[1, 2, 3, from.len() as u8]);
    let i = sim
        .core
        .relay
        .socket_index(port)
        .expect("a bound relay port");
    let now = sim.now;
    let side = side_of(from);
    sim.core
        .relay_mut()
        .unwrap()
        .on_packet(now, i, src, side, &p)
}

/// The `c=` address and the first `m=` port of an SDP body.
fn media_of(body: &str) -> (String, u16) {
    let c = body.lines().find(|l| l.starts_with("c=")).unwrap()[2..].to_string();
    let m = body.lines().find(|l| l.starts_with("m=audio")).unwrap();
    (c, m.split(' ').nth(1).unwrap().parse().unwrap())
}

/// The whole translation: an IPv4 phone calls through an IPv6-only
/// provider. The INVITE leaves over IPv6 with `c=IN IP6 <sipnat's WAN
/// IPv6>`, the provider's `IN IP6` answer reaches the phone as `IN IP4
/// <sipnat's LAN IPv4>`, and RTP flows both ways through one relay pair
/// with one leg of each family (never to the kernel: no NAT46).
#[test]
fn an_ipv4_phone_calls_over_an_ipv6_provider_with_audio_both_ways() {
    use common::media::{sdp, with_body};
    let mut sim = Sim::dual(config_text());
    let far6 = "[2001:db8:100::2]:5000";
    registered(&mut sim, PHONE, "100", REGISTRAR6, "[2001:db8:100::2]");
    let inv = invite_from(PHONE, "sip:bob@[2001:db8:100::2]", "av46");
    let out = sim.one(PHONE, &with_body(&inv, &sdp("10.77.1.2", 4000, "")));
    assert_eq!(out.to, addr(REGISTRAR6), "{}", out.text);
    assert_no_lan_leak(&out);
    let (c, port) = media_of(out.body());
    assert_eq!(c, "IN IP6 2001:db8:100::1", "{}", out.body());
    assert!(
        out.body().contains("o=user 1 1 IN IP6 2001:db8:100::1"),
        "{}",
        out.body()
    );
    let answer = "v=0\r\no=far 2 2 IN IP6 2001:db8:100::2\r\ns=-\r\nc=IN IP6 2001:db8:100::2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
    let ok = with_body(
        &response_to(
            &out,
            200,
            "OK",
            Some("f6"),
            "Contact: <sip:bob@[2001:db8:100::2]>\r\n",
        ),
        answer,
    );
    let back = sim.one(REGISTRAR6, &ok);
    assert_eq!(back.to, addr(PHONE), "{}", back.text);
    let (c, port_lan) = media_of(back.body());
    assert_eq!(c, "IN IP4 10.77.1.1", "{}", back.body());
    assert_eq!(port_lan, port, "one relay pair, a leg of each family");
    // Audio both ways: the far end first, then the phone.
    use sipnat::relay::Decision;
    let d = rtp(&mut sim, port, far6);
    assert!(!matches!(d, Decision::Drop(_)), "{d:?}");
    let d = rtp(&mut sim, port, "10.77.1.2:4000");
    assert_eq!(d, Decision::Forward(far6.parse().unwrap()));
    let d = rtp(&mut sim, port, far6);
    assert_eq!(d, Decision::Forward("10.77.1.2:4000".parse().unwrap()));
    sim.kernel_scan();
    assert!(sim.ports.kernel.is_empty(), "{:?}", sim.ports.kernel);
}

/// IPv6 end to end: an IPv6 phone calls through an IPv6 provider. Each
/// side sees only sipnat's address of its own side (its address in the
/// phone's network toward the phone, the WAN address toward the
/// provider); the phone's GUA never leaves.
#[test]
fn an_ipv6_phone_calls_over_an_ipv6_provider_with_audio_both_ways() {
    use common::media::with_body;
    let mut sim = Sim::dual(config_text());
    registered(&mut sim, PHONE6, "600", REGISTRAR6, "[2001:db8:100::2]");
    let offer = "v=0\r\no=ph 1 1 IN IP6 2001:db8:77:1::2\r\ns=-\r\nc=IN IP6 2001:db8:77:1::2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP6 2001:db8:77:1::2\r\n";
    let inv = invite_from(PHONE6, "sip:bob@[2001:db8:100::2]", "av66");
    let out = sim.one(PHONE6, &with_body(&inv, offer));
    assert_no_lan_leak(&out);
    let (c, port) = media_of(out.body());
    assert_eq!(c, "IN IP6 2001:db8:100::1");
    assert!(
        out.body()
            .contains(&format!("a=rtcp:{} IN IP6 2001:db8:100::1", port + 1)),
        "{}",
        out.body()
    );
    let answer = "v=0\r\no=far 2 2 IN IP6 2001:db8:100::2\r\ns=-\r\nc=IN IP6 2001:db8:100::2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
    let ok = with_body(
        &response_to(
            &out,
            200,
            "OK",
            Some("f6"),
            "Contact: <sip:bob@[2001:db8:100::2]>\r\n",
        ),
        answer,
    );
    let back = sim.one(REGISTRAR6, &ok);
    assert_eq!(back.to, addr(PHONE6));
    assert_eq!(
        media_of(back.body()),
        ("IN IP6 2001:db8:77:1::1".to_string(), port)
    );
    use sipnat::relay::Decision;
    let d = rtp(&mut sim, port, "[2001:db8:77:1::2]:4000");
    assert!(!matches!(d, Decision::Drop(_)), "{d:?}");
    let d = rtp(&mut sim, port, "[2001:db8:100::2]:5000");
    assert_eq!(
        d,
        Decision::Forward("[2001:db8:77:1::2]:4000".parse().unwrap())
    );
    let d = rtp(&mut sim, port, "[2001:db8:77:1::2]:4000");
    assert_eq!(
        d,
        Decision::Forward("[2001:db8:100::2]:5000".parse().unwrap())
    );
}

/// A phone on the LAN's unique local prefix is named sipnat's ULA, one on
/// the delegated prefix its address there: each hears from the address it
/// sees named (the kernel's source toward it, RFC 6724 §5 rule 8).
#[test]
fn each_lan_prefix_is_named_its_own_router_address() {
    let mut sim = dual();
    for (phone, ours) in [
        ("[fd77:1::2]:5060", "[fd77:1::1]"),
        ("[2001:db8:77:1::3]:5062", "[2001:db8:77:1::1]"),
    ] {
        let user = if phone.starts_with("[fd") {
            "700"
        } else {
            "701"
        };
        let (fwd, _) = registered(&mut sim, phone, user, REGISTRAR6, "[2001:db8:100::2]");
        let inv = sim.one(
            REGISTRAR6,
            &invite_from(REGISTRAR6, &contact_uri(&fwd), user),
        );
        assert_eq!(inv.to, addr(phone), "{}", inv.text);
        let via = inv.header("Via").unwrap();
        assert!(
            via.starts_with(&format!("SIP/2.0/UDP {ours}:5060;")),
            "{via}"
        );
    }
}

/// `host_outbound` given as a name (dynamic DNS) on a dual-stack WAN: its
/// A and AAAA records both become the public addresses sipnat names.
#[test]
fn a_host_outbound_name_gives_both_public_addresses() {
    let mut sim = Sim::dual(&format!(
        "{}rtp_proxy_enable = 0\nhost_outbound = home.example\n",
        config_text()
    ));
    let mut sent = sim.advance(std::time::Duration::from_secs(2));
    // (each query may have been sent twice in those 2 s: retransmitted)
    let mut answered = std::collections::BTreeSet::new();
    while let Some(q) = sent
        .iter()
        .position(|s| matches!(s.channel, sipnat::proxy::Channel::Dns(_)))
    {
        let q = sent.remove(q);
        let b = &q.bytes;
        let end = 12 + b[12..].iter().position(|&x| x == 0).unwrap();
        let qtype = u16::from_be_bytes([b[end + 1], b[end + 2]]);
        let rdata = match qtype {
            1 => vec![203, 0, 113, 9],
            28 => "2001:db8:200::9"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
                .to_vec(),
            t => panic!("query type {t}"),
        };
        sent.extend(sim.dns(DNS_SERVER, &dns_reply(b, &[(qtype, rdata)])));
        answered.insert(qtype);
    }
    assert_eq!(answered, [1, 28].into(), "an A and an AAAA query");
    assert_eq!(
        sim.core.proxy.public_address(),
        Some("203.0.113.9".parse().unwrap())
    );
    assert_eq!(
        sim.core.proxy.public_address6(),
        Some("2001:db8:200::9".parse().unwrap())
    );
    // A phone's REGISTER to an IPv6 provider names the AAAA address.
    let (fwd, _) = registered(&mut sim, PHONE, "100", REGISTRAR6, "[2001:db8:100::2]");
    assert!(
        fwd.header("Via")
            .unwrap()
            .starts_with("SIP/2.0/UDP [2001:db8:200::9]:5060;")
    );
}

/// A LAN with a delegated prefix and a ULA (OpenWrt's default) gives each
/// phone an address of both, and a phone sends from its address of the
/// network it sends to (RFC 6724 §5, rule 8). So sipnat names, toward an
/// IPv6 phone, its own address of the phone's network: the ULA to a phone
/// at its ULA, the GUA to a phone at its GUA (above), in Via, Record-Route
/// and SDP. Told the ULA, a phone whose SDP names its GUA sends its RTP
/// from its ULA, which nothing names: the relay dropped it
/// (`unknown-source`) and the far end heard nothing (baresip through a
/// real sipnat: tests/netns_peers_v6.rs).
#[test]
fn an_ipv6_phone_is_told_sipnats_address_of_its_own_network() {
    use common::media::with_body;
    const ULA_PHONE: &str = "[fd77:1::2]:5060";
    let mut sim = Sim::dual(config_text());
    let (fwd, _) = registered(&mut sim, ULA_PHONE, "603", REGISTRAR6, "[2001:db8:100::2]");
    let c = contact_uri(&fwd);
    let offer = "v=0\r\no=far 1 1 IN IP6 2001:db8:100::2\r\ns=-\r\nc=IN IP6 2001:db8:100::2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
    let inv = sim.one(
        REGISTRAR6,
        &with_body(&invite_from(REGISTRAR6, &c, "ula"), offer),
    );
    assert_eq!(inv.to, addr(ULA_PHONE), "{}", inv.text);
    let via = inv.header("Via").unwrap();
    assert!(via.starts_with("SIP/2.0/UDP [fd77:1::1]:5060;"), "{via}");
    let rr = inv.header("Record-Route").unwrap();
    assert!(rr.starts_with("<sip:[fd77:1::1]:5060;lr"), "{rr}");
    let (c_lan, port) = media_of(inv.body());
    assert_eq!(c_lan, "IN IP6 fd77:1::1", "{}", inv.body());
    let answer = "v=0\r\no=ph 2 2 IN IP6 fd77:1::2\r\ns=-\r\nc=IN IP6 fd77:1::2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let ok = with_body(
        &response_to(
            &inv,
            200,
            "OK",
            Some("u6"),
            "Contact: <sip:603@[fd77:1::2]:5060>\r\n",
        ),
        answer,
    );
    let up = sim.one(ULA_PHONE, &ok);
    assert_no_lan_leak(&up);
    assert_eq!(media_of(up.body()).0, "IN IP6 2001:db8:100::1");
    use sipnat::relay::Decision;
    let d = rtp(&mut sim, port, "[fd77:1::2]:4000");
    assert_eq!(
        d,
        Decision::Forward("[2001:db8:100::2]:5000".parse().unwrap())
    );
    let d = rtp(&mut sim, port, "[2001:db8:100::2]:5000");
    assert_eq!(d, Decision::Forward("[fd77:1::2]:4000".parse().unwrap()));
}

/// A provider by name on a dual-stack WAN (RFC 3263 §4.2, RFC 8305 §3): a
/// phone's REGISTER to `sip:provider.example` asks SRV, then both address
/// families of the target, IPv6 preferred because the request goes to the
/// WAN (the LAN being dual-stack too must not make it IPv4 first). The A
/// answer comes first, the AAAA one in the same instant: the AAAA address
/// is used. tests/netns_v6/by_name.rs runs this through a real sipnat.
#[test]
fn a_provider_by_name_is_reached_over_ipv6_first() {
    let mut sim = dual();
    let mut sent = sim.sip(
        PHONE,
        &register_from(PHONE, "100", "provider.example", "byname"),
    );
    let question = |s: &Sent| {
        let b = &s.bytes;
        let end = 12 + b[12..].iter().position(|&x| x == 0).unwrap();
        u16::from_be_bytes([b[end + 1], b[end + 2]])
    };
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(question(&sent[0]), 33, "SRV first");
    let mut srv = vec![0, 10, 0, 10, 0x13, 0xCE]; // priority, weight, port 5070
    for label in ["sip", "provider", "example"] {
        srv.push(label.len() as u8);
        srv.extend_from_slice(label.as_bytes());
    }
    srv.push(0);
    let queries = sim.dns(DNS_SERVER, &dns_reply(&sent.remove(0).bytes, &[(33, srv)]));
    let mut types: Vec<u16> = queries.iter().map(question).collect();
    types.sort_unstable();
    assert_eq!(types, [1, 28], "A and AAAA of the target: {queries:#?}");
    let a = queries.iter().find(|q| question(q) == 1).unwrap();
    let aaaa = queries.iter().find(|q| question(q) == 28).unwrap();
    let after_a = sim.dns(
        DNS_SERVER,
        &dns_reply(&a.bytes, &[(1, vec![198, 51, 100, 2])]),
    );
    assert!(after_a.is_empty(), "IPv4 taken at once: {after_a:#?}");
    let v6 = "2001:db8:100::2".parse::<std::net::Ipv6Addr>().unwrap();
    let mut fwd = sim.dns(
        DNS_SERVER,
        &dns_reply(&aaaa.bytes, &[(28, v6.octets().to_vec())]),
    );
    assert_eq!(fwd.len(), 1, "{fwd:#?}");
    let fwd = fwd.pop().unwrap();
    assert_eq!(fwd.to, addr("[2001:db8:100::2]:5070"), "{}", fwd.text);
    let via = fwd.header("Via").unwrap();
    assert!(
        via.starts_with("SIP/2.0/UDP [2001:db8:100::1]:5060;"),
        "{via}"
    );
    assert_no_lan_leak(&fwd);
}
