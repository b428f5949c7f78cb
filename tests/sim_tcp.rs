//! SIP over TCP through the core with a virtual clock (issue 10): the
//! transport is data from the arrival of a message to the plan and the
//! writer. A TCP phone and a UDP provider, a UDP phone and a TCP provider,
//! responses back over the connection a request came on (RFC 3261 §18.2.2),
//! Via, Record-Route and Contact naming the transport of each side, and a
//! request too large for UDP switching to TCP (§18.1.1).

mod common;
use common::*;
use sipnat::proxy::Channel;
use sipnat::transport::Transport::{Tcp, Udp};

const TCP_PHONE: &str = "10.77.1.2:40000";

fn register_tcp_phone(sim: &mut Sim) -> Sent {
    let reg = register(
        "100",
        "198.51.100.2",
        TCP_PHONE,
        "treg@10.77.1.2",
        1,
        "t1",
        3600,
    )
    .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
    .replace(";transport=udp>", ";transport=tcp>");
    let out = sim.tcp(TCP_PHONE, &reg);
    assert_eq!(out.len(), 1, "{out:#?}");
    out.into_iter().next().unwrap()
}

#[test]
fn a_tcp_phone_registers_with_a_udp_provider_and_gets_its_calls_over_tcp() {
    let mut sim = Sim::signalling_only();
    let fwd = register_tcp_phone(&mut sim);
    // To the provider: UDP (no transport asked for), our Via says so.
    assert_eq!(fwd.channel, Channel::Sip(Udp));
    assert_eq!(fwd.to, addr(REGISTRAR));
    assert!(
        fwd.header("Via")
            .unwrap()
            .starts_with("SIP/2.0/UDP 198.51.100.1:5060;")
    );
    // The contact shows the WAN side's transport; no LAN address.
    let contact = fwd.header("Contact").unwrap();
    assert!(
        contact.contains("transport=udp") && !contact.contains("tcp"),
        "{contact}"
    );
    assert_no_lan_leak(&fwd);
    // The registrar's 200 goes back over the phone's connection.
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("r"),
        &format!("Contact: {contact}\r\n"),
    );
    let back = sim.one(REGISTRAR, &ok);
    assert_eq!(back.channel, Channel::Sip(Tcp));
    assert_eq!(back.to, addr(TCP_PHONE));
    assert_eq!(
        back.header("Via").unwrap(),
        "SIP/2.0/TCP 10.77.1.2:40000;branch=z9hG4bKt1;received=10.77.1.2;rport=40000"
    );
    // The binding remembers the transport: an incoming call goes to the
    // phone over TCP, with its own contact (transport=tcp) restored.
    let uri = contact.split('>').next().unwrap().trim_start_matches('<');
    let inv = invite(
        uri,
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "tin",
        "w1",
        "sip:alice@198.51.100.3",
    );
    let to_phone = sim.one(PEER, &inv);
    assert_eq!(to_phone.channel, Channel::Sip(Tcp));
    assert_eq!(to_phone.to, addr(TCP_PHONE));
    assert_eq!(
        to_phone.first_line(),
        "INVITE sip:100@10.77.1.2:40000;transport=tcp SIP/2.0"
    );
    assert!(
        to_phone
            .header("Via")
            .unwrap()
            .starts_with("SIP/2.0/TCP 10.77.1.1:5060;")
    );
    // Record-Route: the LAN side's in-dialog requests come over TCP.
    assert_eq!(
        to_phone.header("Record-Route").unwrap(),
        "<sip:10.77.1.1:5060;transport=tcp;lr>"
    );
    // The phone's answer, over its connection, goes to the caller by UDP
    // with our Record-Route for the WAN side (UDP: no transport).
    let ans = response_to(
        &to_phone,
        200,
        "OK",
        Some("p"),
        "Contact: <sip:100@10.77.1.2:40000;transport=tcp>\r\n",
    );
    let out = sim.tcp(TCP_PHONE, &ans);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].channel, Channel::Sip(Udp));
    assert_eq!(out[0].to, addr(PEER));
    assert_eq!(
        out[0].header("Record-Route").unwrap(),
        "<sip:198.51.100.1:5060;lr>"
    );
    assert_no_lan_leak(&out[0]);
}

/// A phone that registered over a connection from an ephemeral port and
/// listens on its Contact's port: requests for it go over the connection it
/// registered on and, should that be gone (closed for being idle, say),
/// over a connection to its Contact, never to a new connection to the old
/// ephemeral port (RFC 3261 §18.2.2 step 3: a new connection goes where
/// the URI says).
#[test]
fn a_tcp_phone_is_reached_at_its_contact_when_its_connection_is_gone() {
    let mut sim = Sim::signalling_only();
    let reg = register(
        "100",
        "198.51.100.2",
        TCP_PHONE,
        "treg2@10.77.1.2",
        1,
        "t2",
        3600,
    )
    .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
    .replace(
        "<sip:100@10.77.1.2:40000;transport=udp>",
        "<sip:100@10.77.1.2:5062;transport=tcp>",
    );
    let fwd = sim.tcp(TCP_PHONE, &reg).pop().unwrap();
    // The registration's own answer goes back over its connection only.
    let contact = fwd.header("Contact").unwrap();
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("r"),
        &format!("Contact: {contact}\r\n"),
    );
    let back = sim.one(REGISTRAR, &ok);
    assert_eq!((back.to, back.or_else), (addr(TCP_PHONE), None));
    let uri = contact.split('>').next().unwrap().trim_start_matches('<');
    let inv = invite(
        uri,
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "tin2",
        "w2",
        "sip:alice@198.51.100.3",
    );
    let to_phone = sim.one(PEER, &inv);
    assert_eq!(to_phone.channel, Channel::Sip(Tcp));
    assert_eq!(to_phone.to, addr(TCP_PHONE));
    assert_eq!(to_phone.or_else, Some("10.77.1.2:5062".parse().unwrap()));
    assert_eq!(
        to_phone.first_line(),
        "INVITE sip:100@10.77.1.2:5062;transport=tcp SIP/2.0"
    );
}

#[test]
fn a_udp_phone_reaches_a_tcp_provider_through_a_route() {
    let mut sim = Sim::signalling_only();
    let reg = register(
        "100",
        "198.51.100.2",
        PHONE,
        "ureg@10.77.1.2",
        1,
        "u1",
        3600,
    )
    .replacen(
        "Max-Forwards",
        "Route: <sip:198.51.100.2;transport=tcp;lr>\r\nMax-Forwards",
        1,
    );
    let fwd = sim.one(PHONE, &reg);
    assert_eq!(fwd.channel, Channel::Sip(Tcp));
    assert_eq!(fwd.to, addr(REGISTRAR));
    assert!(
        fwd.header("Via")
            .unwrap()
            .starts_with("SIP/2.0/TCP 198.51.100.1:5060;")
    );
    // The contact asks for TCP; the phone's own (transport=udp) is restored
    // from the token when it comes back.
    let contact = fwd.header("Contact").unwrap();
    assert!(contact.contains(";transport=tcp;snc="), "{contact}");
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("r"),
        &format!("Contact: {contact}\r\n"),
    );
    let back = sim.tcp(REGISTRAR, &ok);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].channel, Channel::Sip(Udp));
    assert_eq!(back[0].to, addr(PHONE));
    assert_eq!(
        back[0].header("Contact").unwrap(),
        "<sip:100@10.77.1.2:5060;transport=udp>;expires=3600",
        "the phone gets its own contact back"
    );
    let regs: Vec<_> = sim.core.proxy.registrations().iter().collect();
    assert!(regs[0].confirmed, "the binding is confirmed: {regs:?}");
    // An incoming call over the provider's connection reaches the phone by
    // UDP; its Record-Route for the WAN side names TCP.
    let uri = contact.split('>').next().unwrap().trim_start_matches('<');
    let inv = invite(
        uri,
        "alice",
        "198.51.100.2",
        "198.51.100.2:5060",
        "uin",
        "w2",
        "sip:alice@198.51.100.2",
    )
    .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let out = sim.tcp(REGISTRAR, &inv);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].channel, Channel::Sip(Udp));
    assert_eq!(out[0].to, addr(PHONE));
    assert_eq!(
        out[0].first_line(),
        "INVITE sip:100@10.77.1.2:5060;transport=udp SIP/2.0"
    );
    let ans = response_to(&out[0], 180, "Ringing", Some("p"), "");
    let up = sim.one(PHONE, &ans);
    assert_eq!(
        up.channel,
        Channel::Sip(Tcp),
        "back over the provider's connection"
    );
    assert_eq!(up.to, addr(REGISTRAR));
}

#[test]
fn a_request_too_large_for_udp_goes_over_tcp_to_the_wan() {
    let mut sim = Sim::signalling_only();
    let fwd = sim.one(
        PHONE,
        &register("100", "198.51.100.2", PHONE, "big@10.77.1.2", 1, "b0", 3600),
    );
    let c = fwd.header("Contact").unwrap();
    sim.one(
        REGISTRAR,
        &response_to(&fwd, 200, "OK", Some("r"), &format!("Contact: {c}\r\n")),
    );
    let pad: String = (0..20)
        .map(|i| format!("X-Pad-{i}: {}\r\n", "p".repeat(60)))
        .collect();
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        PHONE,
        "big1@10.77.1.2",
        "b1",
        "sip:100@10.77.1.2:5060",
    )
    .replacen("Max-Forwards", &format!("{pad}Max-Forwards"), 1);
    let out = sim.one(PHONE, &inv);
    assert!(out.bytes.len() > 1300);
    assert_eq!(out.channel, Channel::Sip(Tcp));
    assert!(out.header("Via").unwrap().starts_with("SIP/2.0/TCP "));
    assert_eq!(
        out.header("Record-Route").unwrap(),
        "<sip:198.51.100.1:5060;transport=tcp;lr>"
    );
    assert_eq!(sim.core.stats().get("forward", "upgraded-to-tcp"), 1);
    // A small one stays on UDP.
    let small = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        PHONE,
        "small@10.77.1.2",
        "b2",
        "sip:100@10.77.1.2:5060",
    );
    assert_eq!(sim.one(PHONE, &small).channel, Channel::Sip(Udp));
}

#[test]
fn sipnats_answers_go_back_over_the_connection_and_unknown_transports_get_503() {
    let mut sim = Sim::signalling_only();
    // An OPTIONS to sipnat over TCP is answered over TCP.
    let opt = "OPTIONS sip:10.77.1.1 SIP/2.0\r\nVia: SIP/2.0/TCP 10.77.1.2:40000;branch=z9hG4bKo1\r\n\
               Max-Forwards: 70\r\nFrom: <sip:x@10.77.1.2>;tag=1\r\nTo: <sip:10.77.1.1>\r\n\
               Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let out = sim.tcp(TCP_PHONE, opt);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].channel, out[0].to),
        (Channel::Sip(Tcp), addr(TCP_PHONE))
    );
    assert!(out[0].first_line().starts_with("SIP/2.0 200"));
    // A hop over a transport sipnat does not speak.
    register_tcp_phone(&mut sim);
    let inv = invite(
        "sip:bob@198.51.100.3;transport=sctp",
        "100",
        "198.51.100.2",
        TCP_PHONE,
        "sctp@10.77.1.2",
        "s1",
        "sip:100@10.77.1.2:40000;transport=tcp",
    )
    .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let out = sim.tcp(TCP_PHONE, &inv);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].first_line().starts_with("SIP/2.0 503"),
        "{}",
        out[0].text
    );
    assert_eq!(out[0].channel, Channel::Sip(Tcp));
}
