//! The attacks of issue 9 (a hostile WAN), performed on the core with a
//! virtual clock. Each test sends what an attacker on the WAN would and checks
//! that nothing reaches where the attacker wanted: replies reflected to the
//! router's loopback, the LAN or a third party; a forged LAN source treated
//! as a phone; a forged contact token opening a path to the LAN or to
//! loopback; WAN traffic starving the resolver.

mod common;
use common::*;
use sipnat::proxy::Channel;
use sipnat::proxy::Side;
use sipnat::proxy::keyed::Key;
use std::net::Ipv4Addr;

/// Register phone 100 through sipnat; return its masqueraded contact URI
/// (what the provider stores and sends incoming calls to).
fn registered_contact(sim: &mut Sim) -> String {
    let fwd = sim.one(
        PHONE,
        &register("100", "198.51.100.2", PHONE, "reg@10.77.1.2", 1, "r1", 3600),
    );
    let contact = fwd.header("Contact").unwrap();
    let back = sim.one(
        REGISTRAR,
        &response_to(
            &fwd,
            200,
            "OK",
            Some("reg"),
            &format!("Contact: {contact}\r\n"),
        ),
    );
    assert_eq!(back.to, addr(PHONE));
    contact
        .split('>')
        .next()
        .unwrap()
        .trim_start_matches('<')
        .to_string()
}

/// An INVITE from the WAN whose top Via is `via` (no rport unless it says so).
fn wan_invite(ruri: &str, via: &str, call_id: &str) -> String {
    invite(
        ruri,
        "eve",
        "198.51.100.3",
        "X",
        call_id,
        "atk",
        "sip:eve@198.51.100.3",
    )
    .replace(
        "Via: SIP/2.0/UDP X;branch=z9hG4bKatk;rport",
        &format!("Via: {via}"),
    )
}

/// The phone answers what sipnat gave it with `code`; return what sipnat
/// sent on.
fn phone_answers(sim: &mut Sim, to_phone: &Sent, code: u16) -> Vec<Sent> {
    let resp = response_to(
        to_phone,
        code,
        "Whatever",
        Some("ph"),
        "Contact: <sip:100@10.77.1.2:5060>\r\n",
    );
    sim.sip(PHONE, &resp)
}

// --- item 1: reply reflection ---------------------------------------------

#[test]
fn replies_to_a_wan_request_go_to_its_source_not_where_its_via_points() {
    let mut sim = Sim::signalling_only();
    let contact = registered_contact(&mut sim);
    for (i, via, want) in [
        // The router's own loopback: the attack the issue measured.
        (
            1,
            "SIP/2.0/UDP 127.0.0.1:9999;branch=z9hG4bKa1",
            "198.51.100.3:9999",
        ),
        // A LAN host that never registered.
        (
            2,
            "SIP/2.0/UDP 10.77.1.50:5060;branch=z9hG4bKa2",
            "198.51.100.3:5060",
        ),
        // A third party on the Internet.
        (
            3,
            "SIP/2.0/UDP 203.0.113.9:5070;branch=z9hG4bKa3",
            "198.51.100.3:5070",
        ),
        // A sent-by naming the router's WAN address, with rport: the source port.
        (
            4,
            "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKa4;rport",
            PEER,
        ),
        // A name: nothing may be looked up for a reply (issue 9 item 5).
        (
            5,
            "SIP/2.0/UDP evil.example:5060;branch=z9hG4bKa5",
            "198.51.100.3:5060",
        ),
    ] {
        let inv = wan_invite(&contact, via, &format!("refl{i}"));
        let to_phone = sim.one(PEER, &inv);
        assert_eq!(to_phone.to, addr(PHONE));
        // RFC 3581 §4 / RFC 3261 §18.2.1: received (and rport when asked).
        let top_wan_via = &to_phone.headers("Via")[1];
        assert!(
            top_wan_via.contains("received=198.51.100.3"),
            "{top_wan_via}"
        );
        for code in [180, 200] {
            let out = phone_answers(&mut sim, &to_phone, code);
            assert_eq!(out.len(), 1, "case {i}: {out:#?}");
            assert_eq!(
                out[0].channel,
                Channel::Sip(sipnat::transport::Transport::Udp),
                "case {i}: no DNS for a reply"
            );
            assert_eq!(out[0].to, addr(want), "case {i} ({via})");
        }
    }
    assert_eq!(sim.core.stats().get("dns", "parked"), 0);
}

#[test]
fn a_response_to_a_wan_request_answered_from_the_wan_is_dropped() {
    // Our branch on a WAN-originated request names the LAN as the side its
    // responses come from; the same response arriving from the WAN (someone
    // replaying what a phone said) goes nowhere.
    let mut sim = Sim::signalling_only();
    let contact = registered_contact(&mut sim);
    let inv = wan_invite(
        &contact,
        "SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bKb1",
        "side1",
    );
    let to_phone = sim.one(PEER, &inv);
    let resp = response_to(&to_phone, 200, "OK", Some("x"), "");
    assert!(sim.sip(PEER, &resp).is_empty());
    assert!(sim.core.stats().get("drop", "response-stray") >= 1);
}

// --- item 3: the side is the arrival interface ---------------------------

#[test]
fn a_forged_lan_source_arriving_on_the_wan_is_not_a_phone() {
    let mut sim = Sim::signalling_only();
    let contact = registered_contact(&mut sim);
    // Toll fraud: an outgoing call "from the phone" that came in on the WAN.
    let fraud = invite(
        "sip:0900123456@198.51.100.2",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "fraud1",
        "f1",
        "sip:100@10.77.1.2",
    );
    assert!(sim.sip_on(Side::Wan, PHONE, &fraud).is_empty());
    // Hijacking the binding: Contact * then a new REGISTER "from the phone".
    let unreg = register("100", "198.51.100.2", PHONE, "hij@x", 9, "h1", 0).replace(
        "Contact: <sip:100@10.77.1.2:5060;transport=udp>;expires=0",
        "Contact: *",
    );
    assert!(sim.sip_on(Side::Wan, PHONE, &unreg).is_empty());
    let rereg = register(
        "100",
        "198.51.100.2",
        "10.77.1.66:5060",
        "hij2@x",
        10,
        "h2",
        3600,
    );
    assert!(sim.sip_on(Side::Wan, "10.77.1.66:5060", &rereg).is_empty());
    // Loopback and the router's own addresses as sources are forged too.
    for src in ["127.0.0.1:5060", "198.51.100.1:5060", "10.77.1.1:5060"] {
        assert!(sim.sip_on(Side::Wan, src, &fraud).is_empty());
    }
    assert_eq!(sim.core.stats().get("drop", "wan-forged-source"), 6);
    // The phone's binding is untouched: an incoming call still reaches it.
    let inv = wan_invite(
        &contact,
        "SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bKok",
        "ok1",
    );
    assert_eq!(sim.one(PEER, &inv).to, addr(PHONE));
    // And the real phone, on the LAN, still calls out.
    assert_eq!(sim.sip_on(Side::Lan, PHONE, &fraud).len(), 1);
}

#[test]
fn a_wan_address_arriving_on_the_lan_is_still_the_lan() {
    // The LAN is trusted by interface: a LAN host with an address outside the
    // LAN networks (a routed subnet) is a LAN sender, not a WAN one.
    let mut sim = Sim::signalling_only();
    registered_contact(&mut sim);
    let reg = register(
        "200",
        "198.51.100.2",
        "192.0.2.20:5060",
        "r2@x",
        1,
        "q1",
        3600,
    );
    let out = sim.sip_on(Side::Lan, "192.0.2.20:5060", &reg);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].to, addr(REGISTRAR));
}

// --- item 4: contact tokens are authenticated ----------------------------

/// A request URI with a contact token and no user part (a user part alone
/// would find a registered phone by name, token or not).
fn token_uri(tok: &str) -> String {
    format!("sip:198.51.100.1:5060;snc={tok}")
}

#[test]
fn forged_contact_tokens_reach_nobody() {
    let mut sim = Sim::signalling_only();
    registered_contact(&mut sim);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // 3,000 random tokens of the old 48-bit form (about 1 in 256 opened to
    // 127.x.y.z before) and 3,000 of the new length: every one gets 404.
    for i in 0..6000u32 {
        let len = if i < 3000 { 12 } else { 28 };
        let tok: String = (0..len)
            .map(|_| char::from(b"0123456789abcdef"[(next() & 15) as usize]))
            .collect();
        let opt = format!(
            "OPTIONS {} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bKo{i}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:eve@198.51.100.3>;tag=e{i}\r\nTo: <sip:100@198.51.100.1>\r\n\
             Call-ID: opt{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            token_uri(&tok)
        );
        let out = sim.sip(PEER, &opt);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(
            out[0].to,
            addr(PEER),
            "token {tok} opened a path to {}",
            out[0].to
        );
        assert!(
            out[0].first_line().starts_with("SIP/2.0 404"),
            "{}",
            out[0].text
        );
    }
}

#[test]
fn a_genuine_token_opens_only_to_a_live_lan_phone() {
    let mut sim = Sim::signalling_only();
    registered_contact(&mut sim);
    // The simulation's key ([7; 16]): these tokens are ones sipnat could have
    // made. Loopback, the router itself and a LAN address nobody registered
    // are refused outside a dialog; loopback and the router also inside one.
    let key = Key::new([7; 16]);
    let tok = |ip: [u8; 4], port: u16| {
        String::from_utf8(key.seal(Ipv4Addr::from(ip), port, 0).to_vec()).unwrap()
    };
    let req = |tok: &str, to_tag: &str, n: u32| {
        format!(
            "INFO {} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bKg{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:eve@198.51.100.3>;tag=e{n}\r\nTo: <sip:100@198.51.100.1>{to_tag}\r\n\
             Call-ID: gen{n}\r\nCSeq: 1 INFO\r\nContent-Length: 0\r\n\r\n",
            token_uri(tok)
        )
    };
    for (n, t) in [tok([127, 0, 0, 1], 5060), tok([10, 77, 1, 1], 5060)]
        .iter()
        .enumerate()
    {
        for to_tag in ["", ";tag=dlg"] {
            let out = sim.one(PEER, &req(t, to_tag, n as u32));
            assert_eq!(out.to, addr(PEER));
            assert!(out.first_line().starts_with("SIP/2.0 404"), "{}", out.text);
        }
    }
    let stranger = tok([10, 77, 1, 99], 5060);
    let out = sim.one(PEER, &req(&stranger, "", 10));
    assert!(out.first_line().starts_with("SIP/2.0 404"), "{}", out.text);
    // In a dialog, a LAN address sipnat masqueraded is reached.
    let out = sim.one(PEER, &req(&stranger, ";tag=dlg", 11));
    assert_eq!(out.to, addr("10.77.1.99:5060"));
    // The registered phone's own token works outside a dialog.
    let phone = tok([10, 77, 1, 2], 5060);
    assert_eq!(sim.one(PEER, &req(&phone, "", 12)).to, addr(PHONE));
}

// --- item 5: WAN traffic cannot starve DNS -------------------------------

#[test]
fn wan_requests_with_named_vias_cause_no_lookups_and_the_phone_still_resolves() {
    let mut sim = Sim::signalling_only();
    let contact = registered_contact(&mut sim);
    // The measured attack: requests whose Vias name hosts, answered by the
    // phone, used to fill every pending-lookup slot.
    for i in 0..24 {
        // Within the per-source call rate (proxy::ratelimit): this is
        // about DNS, not about how fast calls come.
        sim.advance(sipnat::proxy::ratelimit::INVITE_REFILL);
        let inv = wan_invite(
            &contact,
            &format!("SIP/2.0/UDP starve{i}.example:5060;branch=z9hG4bKs{i}"),
            &format!("starve{i}"),
        );
        let to_phone = sim.one(PEER, &inv);
        let out = phone_answers(&mut sim, &to_phone, 486);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].channel,
            Channel::Sip(sipnat::transport::Transport::Udp)
        );
        assert_eq!(out[0].to, addr(PEER));
    }
    assert_eq!(sim.core.stats().get("dns", "parked"), 0);
    // The phone's own REGISTER to its provider by name gets its query out.
    let reg = register(
        "100",
        "sip.provider.example",
        PHONE,
        "byname@x",
        2,
        "n1",
        3600,
    );
    let out = sim.sip(PHONE, &reg);
    assert!(
        out.iter().any(|s| matches!(s.channel, Channel::Dns(_))),
        "no DNS query for the phone's REGISTER: {out:#?}"
    );
}

/// Without the `ipv6` feature a datagram from an IPv6 source is dropped
/// and counted, on either side, and answers nothing; with it, it is
/// handled (answered at its source). An IPv4-mapped source is the IPv4
/// address it maps (as the driver's dual-stack socket reports IPv4 peers).
#[test]
fn ipv6_sources_and_mapped_ones() {
    let mut sim = Sim::signalling_only();
    let options = |via: &str| {
        format!(
            "OPTIONS sip:10.77.1.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {via};branch=z9hG4bKo1\r\n\
             From: <sip:a@x>;tag=1\r\nTo: <sip:10.77.1.1>\r\n\
             Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let v6 = "[2001:db8::2]:5060";
    let sent = sim.sip_on(Side::Lan, v6, &options(v6));
    if cfg!(feature = "ipv6") {
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(sent[0].to, addr(v6));
        assert!(
            sent[0].first_line().starts_with("SIP/2.0 200"),
            "{}",
            sent[0].text
        );
        assert_eq!(sim.core.stats().get("drop", "ipv6"), 0);
    } else {
        assert!(sent.is_empty());
        assert_eq!(sim.core.stats().get("drop", "ipv6"), 1);
    }
    let dropped = sim.core.stats().get("drop", "ipv6");
    let mapped = "[::ffff:10.77.1.2]:5060";
    let sent = sim.sip_on(Side::Lan, mapped, &options(PHONE));
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let ok = &sent[0];
    assert_eq!(ok.to, addr(PHONE));
    assert!(ok.first_line().starts_with("SIP/2.0 200"), "{}", ok.text);
    assert_eq!(sim.core.stats().get("drop", "ipv6"), dropped);
}

/// A binding with an IPv6 address, read from the registration file, on a
/// router without an IPv6 LAN address: a call for it gets 503 (sipnat
/// cannot reach an IPv6 phone without an address of that family).
#[test]
fn an_ipv6_binding_from_the_file_is_not_sent_to() {
    if !cfg!(feature = "ipv6") {
        return;
    }
    let mut sim = Sim::signalling_only();
    let key = sim.core.proxy.key_bytes();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let text = format!(
        "key {hex}\nreg 200@198.51.100.1 sip:200@[2001:db8::2] [2001:db8::2]:5060 1003600 1\n"
    );
    let n = sim
        .core
        .load_registrations(sim.now, 1_000_000, &text)
        .unwrap();
    assert_eq!(n, 1);
    let inv = invite(
        "sip:200@198.51.100.1",
        "bob",
        "198.51.100.3",
        PEER,
        "v6call",
        "b1",
        "sip:bob@198.51.100.3",
    );
    let sent = sim.sip(PEER, &inv);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].to, addr(PEER));
    assert_eq!(
        sent[0].first_line(),
        "SIP/2.0 503 Service Unavailable (no IPv6 address)"
    );
}
