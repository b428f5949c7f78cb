//! SIP over TLS through the core with a virtual clock (issue 17): TLS is a
//! third value of the transport, so the plan and the writer carry it like
//! TCP. A UDP phone's requests for the outbound proxy go over TLS when
//! `outbound_tls` says so, with Via `SIP/2.0/TLS` and a Contact and
//! Record-Route that keep the provider's requests on TLS; a `sips:` URI
//! asks for TLS by itself (RFC 3261 §26.2.2) and is looked up as
//! `_sips._tcp` (RFC 3263 §4.1); the name the certificate must match goes
//! with the message to the driver (RFC 5922 §4). A build without the `tls`
//! feature answers a `sips:` request with 503 instead of sending it in the
//! clear.

mod common;
use common::*;
use sipnat::proxy::Channel;
#[cfg(feature = "tls")]
use sipnat::side::Side;
#[cfg(feature = "tls")]
use sipnat::transport::Transport::{Tls, Udp};

/// The phone registered (over UDP, with a UDP registrar): it may call out.
fn registered(sim: &mut Sim) {
    let reg = register("100", "198.51.100.2", PHONE, "reg@udp", 1, "r0", 3600);
    let fwd = sim.one(PHONE, &reg);
    assert_eq!(fwd.channel, Channel::Sip(sipnat::transport::Transport::Udp));
    let contact = fwd.header("Contact").unwrap();
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("reg"),
        &format!("Contact: {contact}\r\n"),
    );
    assert_eq!(sim.one(REGISTRAR, &ok).to, addr(PHONE));
}

#[cfg(feature = "tls")]
const PROVIDER_TLS: &str = "198.51.100.2:5061";

#[cfg(feature = "tls")]
fn tls_sim(host: &str) -> Sim {
    Sim::with_config(&format!(
        "{}outbound_proxy_host = {host}\noutbound_proxy_port = 5061\noutbound_tls = 1\n",
        config_text()
    ))
}

#[cfg(feature = "tls")]
#[test]
fn outbound_tls_takes_a_udp_phones_calls_to_the_provider_over_tls_and_back() {
    let mut sim = tls_sim("198.51.100.2");
    let reg = register("100", "provider.example", PHONE, "reg@tls", 1, "r1", 3600);
    let fwd = sim.one(PHONE, &reg);
    assert_eq!(fwd.channel, Channel::Sip(Tls));
    assert_eq!(fwd.to, addr(PROVIDER_TLS));
    assert_eq!(fwd.name, "", "an address: the driver checks it");
    let via = fwd.header("Via").unwrap();
    assert!(via.starts_with("SIP/2.0/TLS 198.51.100.1:5060;"), "{via}");
    let contact = fwd.header("Contact").unwrap();
    assert!(contact.contains(";transport=tls"), "{contact}");
    assert_no_lan_leak(&fwd);
    // The provider's 200 comes back over the connection, to the phone by UDP.
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("r"),
        &format!("Contact: {contact}\r\n"),
    );
    let back = sim.sip_over(Side::Wan, Tls, PROVIDER_TLS, ok.as_bytes());
    assert_eq!(back.len(), 1, "{back:#?}");
    assert_eq!(
        (back[0].channel, back[0].to),
        (Channel::Sip(Udp), addr(PHONE))
    );
    // A call for the phone arrives over the same connection (its Via is
    // TLS) and goes to the phone over UDP.
    let uri = contact.split('>').next().unwrap().trim_start_matches('<');
    let inv = invite(
        uri,
        "alice",
        "198.51.100.3",
        PROVIDER_TLS,
        "in@tls",
        "i1",
        "sip:alice@198.51.100.3",
    )
    .replace("SIP/2.0/UDP", "SIP/2.0/TLS");
    let to_phone = sim.sip_over(Side::Wan, Tls, PROVIDER_TLS, inv.as_bytes());
    assert_eq!(to_phone.len(), 1, "{to_phone:#?}");
    let to_phone = &to_phone[0];
    assert_eq!(
        (to_phone.channel, to_phone.to),
        (Channel::Sip(Udp), addr(PHONE))
    );
    // The phone's answer goes back over TLS with a Record-Route that keeps
    // the provider's in-dialog requests on TLS.
    let ans = response_to(
        to_phone,
        200,
        "OK",
        Some("p"),
        "Contact: <sip:100@10.77.1.2:5060>\r\n",
    );
    let out = sim.sip(PHONE, &ans);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(
        (out[0].channel, out[0].to),
        (Channel::Sip(Tls), addr(PROVIDER_TLS))
    );
    assert_eq!(
        out[0].header("Record-Route").unwrap(),
        "<sip:198.51.100.1:5060;transport=tls;lr>"
    );
    assert_eq!(
        out[0].header("Via").unwrap(),
        format!("SIP/2.0/TLS {PROVIDER_TLS};branch=z9hG4bKi1;received=198.51.100.2;rport=5061")
    );
    assert_no_lan_leak(&out[0]);
}

/// By name, the name goes with the message: the certificate must match
/// the configured proxy's name, not the address DNS gave (RFC 5922 §4).
#[cfg(feature = "tls")]
#[test]
fn a_proxy_by_name_is_checked_against_its_name() {
    let mut sim = tls_sim("sip.provider.test");
    let reg = register("100", "provider.example", PHONE, "reg@name", 1, "r2", 3600);
    let q = sim.sip(PHONE, &reg);
    assert_eq!(q.len(), 1, "{q:#?}");
    assert_eq!(q[0].to, addr(DNS_SERVER));
    let fwd = sim.dns(
        DNS_SERVER,
        &dns_reply(&q[0].bytes, &[(1, vec![198, 51, 100, 2])]),
    );
    assert_eq!(fwd.len(), 1, "{fwd:#?}");
    assert_eq!(
        (fwd[0].channel, fwd[0].to),
        (Channel::Sip(Tls), addr(PROVIDER_TLS))
    );
    assert_eq!(fwd[0].name, "sip.provider.test");
}

/// A `sips:` Request-URI asks for TLS whatever the phone used, at port 5061
/// by default; by name, the SRV name is `_sips._tcp` (RFC 3263 §4.1).
#[cfg(feature = "tls")]
#[test]
fn a_sips_uri_goes_over_tls_and_is_looked_up_as_sips() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let inv = invite(
        "sips:bob@198.51.100.3",
        "100",
        "provider.example",
        PHONE,
        "sips@1",
        "s1",
        "sip:100@10.77.1.2:5060",
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(
        (out.channel, out.to),
        (Channel::Sip(Tls), addr("198.51.100.3:5061"))
    );
    assert!(out.header("Via").unwrap().starts_with("SIP/2.0/TLS "));
    let inv = invite(
        "sips:bob@provider.example",
        "100",
        "provider.example",
        PHONE,
        "sips@2",
        "s2",
        "sip:100@10.77.1.2:5060",
    );
    let q = sim.sip(PHONE, &inv);
    assert_eq!(q.len(), 1, "{q:#?}");
    assert!(
        q[0].bytes
            .windows(20)
            .any(|w| w == b"\x05_sips\x04_tcp\x08provider"),
        "{:?}",
        q[0].bytes
    );
}

/// Without TLS in the build, a `sips:` request is refused (503), never
/// sent in plain text, and `outbound_tls` does not load.
#[cfg(not(feature = "tls"))]
#[test]
fn without_tls_a_sips_request_gets_503_and_outbound_tls_is_refused() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let inv = invite(
        "sips:bob@198.51.100.3",
        "100",
        "provider.example",
        PHONE,
        "sips@3",
        "s3",
        "sip:100@10.77.1.2:5060",
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(out.to, addr(PHONE));
    assert!(out.first_line().starts_with("SIP/2.0 503 "), "{}", out.text);
    let text = format!(
        "{}outbound_proxy_host = 198.51.100.2\noutbound_tls = 1\n",
        config_text()
    );
    let (cfg, _) = sipnat::config::parse_siproxd_conf(&text, "t");
    assert!(
        cfg.check("t")
            .iter()
            .any(|d| d.is_error() && d.message.contains("outbound_tls"))
    );
}

/// A phone on the LAN that speaks TLS to `tls_listen_port`: its calls come
/// to it over TLS with sipnat's TLS port in Via and Record-Route (RFC 3261
/// §26.2.1), while the provider side stays UDP.
#[cfg(feature = "tls")]
#[test]
fn a_tls_phone_gets_its_calls_over_tls_with_the_tls_port() {
    const TLS_PHONE: &str = "10.77.1.2:40001";
    let mut sim = Sim::with_config(&format!("{}tls_listen_port = 5061\n", config_text()));
    let reg = register(
        "100",
        "198.51.100.2",
        TLS_PHONE,
        "reg@tlsphone",
        1,
        "t1",
        3600,
    )
    .replace("SIP/2.0/UDP", "SIP/2.0/TLS")
    .replace(";transport=udp>", ";transport=tls>");
    let fwd = sim.sip_over(Side::Lan, Tls, TLS_PHONE, reg.as_bytes());
    assert_eq!(fwd.len(), 1, "{fwd:#?}");
    let fwd = &fwd[0];
    assert_eq!((fwd.channel, fwd.to), (Channel::Sip(Udp), addr(REGISTRAR)));
    assert_no_lan_leak(fwd);
    let contact = fwd.header("Contact").unwrap();
    let ok = response_to(
        fwd,
        200,
        "OK",
        Some("r"),
        &format!("Contact: {contact}\r\n"),
    );
    let back = sim.one(REGISTRAR, &ok);
    assert_eq!(
        (back.channel, back.to),
        (Channel::Sip(Tls), addr(TLS_PHONE))
    );
    let uri = contact.split('>').next().unwrap().trim_start_matches('<');
    let inv = invite(
        uri,
        "alice",
        "198.51.100.3",
        PEER,
        "in@tlsphone",
        "w1",
        "sip:alice@198.51.100.3",
    );
    let to_phone = sim.one(PEER, &inv);
    assert_eq!(
        (to_phone.channel, to_phone.to),
        (Channel::Sip(Tls), addr(TLS_PHONE))
    );
    assert_eq!(
        to_phone.first_line(),
        "INVITE sip:100@10.77.1.2:40001;transport=tls SIP/2.0"
    );
    assert!(
        to_phone
            .header("Via")
            .unwrap()
            .starts_with("SIP/2.0/TLS 10.77.1.1:5061;"),
        "{}",
        to_phone.text
    );
    assert_eq!(
        to_phone.header("Record-Route").unwrap(),
        "<sip:10.77.1.1:5061;transport=tls;lr>"
    );
    // The phone's answer over TLS goes to the caller by UDP with our
    // Record-Route for the WAN side: sip_listen_port, no transport.
    let ans = response_to(
        &to_phone,
        200,
        "OK",
        Some("p"),
        "Contact: <sip:100@10.77.1.2:40001;transport=tls>\r\n",
    );
    let out = sim.sip_over(Side::Lan, Tls, TLS_PHONE, ans.as_bytes());
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].channel, out[0].to), (Channel::Sip(Udp), addr(PEER)));
    assert_eq!(
        out[0].header("Record-Route").unwrap(),
        "<sip:198.51.100.1:5060;lr>"
    );
    assert_no_lan_leak(&out[0]);
}
