//! Simulations of siproxd's options for broken peers and odd topologies:
//! fix_DTAG (a provider that rewrites the host of sipnat's Via in its
//! responses), mask_host/masked_host (a phone registered with the proxy's
//! own address shown to the outside under a public name), and a call that
//! loops back through sipnat (what obscure_loops was for in siproxd).

mod common;
use common::*;

/// Deutsche Telekom's server in siproxd's example configuration.
const DTAG: &str = "217.0.23.100:5060";
const DTAG_CONF: &str =
    "load_plugin = plugin_fix_DTAG.so\nplugin_fix_DTAG_networks = 217.0.23.100/32\n";

/// Phone 100 (registered) calls `ruri`; the INVITE as it left for the WAN.
fn call_to(sim: &mut Sim, ruri: &str, call_id: &str) -> Sent {
    let inv = invite(
        ruri,
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        call_id,
        call_id.split('@').next().unwrap(),
        "sip:100@10.77.1.2:5060",
    );
    let out = sim.one(PHONE, &inv);
    assert_no_lan_leak(&out);
    out
}

/// `resp` with the host and port of its top Via replaced by `host`, the
/// parameters (the branch among them) kept when `keep_branch`, else a
/// branch of the server's own.
fn mangle_top_via(resp: &str, host: &str, keep_branch: bool) -> String {
    let (before, rest) = resp.split_once("Via: SIP/2.0/UDP ").unwrap();
    let (value, after) = rest.split_once("\r\n").unwrap();
    let params = value.split_once(';').map_or("", |x| x.1);
    let params = if keep_branch {
        params.to_string()
    } else {
        "branch=z9hG4bKdtag1".to_string()
    };
    format!("{before}Via: SIP/2.0/UDP {host};{params}\r\n{after}")
}

fn registered_sim(conf: &str) -> Sim {
    let mut sim = Sim::with_config(&format!("{}rtp_proxy_enable = 0\n{conf}", config_text()));
    common::media::register_phone(&mut sim);
    sim
}

/// siproxd's fix_DTAG: a response from a listed network whose top Via
/// names a host of that network instead of sipnat still reaches the
/// phone when its branch is sipnat's sealed branch (the seal, not the
/// host, proves the Via is sipnat's).
#[test]
fn fix_dtag_takes_a_mangled_via_with_our_sealed_branch() {
    let mut sim = registered_sim(DTAG_CONF);
    let out = call_to(&mut sim, "sip:0301234@217.0.23.100", "dt1@10.77.1.2");
    assert_eq!(out.to, addr(DTAG));
    let ring = response_to(&out, 180, "Ringing", Some("t1"), "");
    let ring = mangle_top_via(&ring, "217.0.23.100:5060", true);
    let back = sim.one(DTAG, &ring);
    assert_eq!(back.to, addr(PHONE));
    assert!(
        back.first_line().starts_with("SIP/2.0 180"),
        "{}",
        back.text
    );
    // The phone gets its own Via back, and only it.
    assert_eq!(back.headers("Via").len(), 1, "{}", back.text);
    assert!(
        back.header("Via")
            .unwrap()
            .starts_with("SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKdt1;"),
        "{}",
        back.text
    );
    assert_eq!(sim.core.stats().get("route", "dtag-via-accepted"), 1);
    // An unmangled response from there is taken as always, not counted.
    let ok = response_to(&out, 200, "OK", Some("t1"), "");
    assert_eq!(sim.one(DTAG, &ok).to, addr(PHONE));
    assert_eq!(sim.core.stats().get("route", "dtag-via-accepted"), 1);
}

#[test]
fn fix_dtag_refuses_what_it_cannot_prove() {
    // The same mangled response without the plugin, from an unlisted
    // source, or naming an unlisted host: dropped as before.
    for (conf, from, via_host) in [
        ("", DTAG, "217.0.23.100:5060"),
        (DTAG_CONF, "217.0.23.101:5060", "217.0.23.100:5060"),
        (DTAG_CONF, DTAG, "217.0.23.101:5060"),
    ] {
        let mut sim = registered_sim(conf);
        let out = call_to(&mut sim, "sip:0301234@217.0.23.100", "dt2@10.77.1.2");
        let ring = response_to(&out, 180, "Ringing", Some("t1"), "");
        let ring = mangle_top_via(&ring, via_host, true);
        assert!(sim.sip(from, &ring).is_empty(), "{conf} {from} {via_host}");
        assert_eq!(
            sim.core.stats().get("drop", "response-not-ours"),
            1,
            "{conf} {from} {via_host}"
        );
    }
    // A forged branch of ours (it does not open under sipnat's key).
    let mut sim = registered_sim(DTAG_CONF);
    let out = call_to(&mut sim, "sip:0301234@217.0.23.100", "dt3@10.77.1.2");
    let ring = response_to(&out, 180, "Ringing", Some("t1"), "");
    let forged = mangle_top_via(&ring, "217.0.23.100:5060", false).replace(
        "branch=z9hG4bKdtag1",
        "branch=z9hG4bKsnxaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    );
    assert!(sim.sip(DTAG, &forged).is_empty());
    assert_eq!(sim.core.stats().get("drop", "response-stray"), 1);
    // The branch is gone as well: nothing says where the response goes.
    let gone = mangle_top_via(&ring, "217.0.23.100:5060", false);
    assert!(sim.sip(DTAG, &gone).is_empty());
    assert_eq!(sim.core.stats().get("drop", "response-dtag-no-branch"), 1);
    assert_eq!(sim.core.stats().get("route", "dtag-via-accepted"), 0);
}

/// siproxd's example values, with this world's addresses: sipnat's LAN
/// address is the phones' domain, shown to the WAN as a public name.
const MASK_CONF: &str = "mask_host = 10.77.1.1\nmasked_host = my.public.host\n";

/// The URI inside a From or To value.
fn uri_of(v: &str) -> &str {
    v.split('<').nth(1).unwrap().split('>').next().unwrap()
}

/// siproxd's mask_host/masked_host: phone 100 registered at sipnat with
/// sipnat's own LAN address as its domain (as the phones siproxd's mask
/// feature is for must) is user 100 at my.public.host to the outside, both
/// ways: its calls out show that host and no LAN address, the answers
/// come back with its own view, and a call for 100@my.public.host reaches
/// it.
#[test]
fn mask_host_shows_a_phone_registered_at_sipnat_under_the_masked_host() {
    let mut sim = Sim::with_config(&format!(
        "{}rtp_proxy_enable = 0\n{MASK_CONF}",
        config_text()
    ));
    let ok = sim.one(
        PHONE,
        &register("100", "10.77.1.1", PHONE, "mreg@10.77.1.2", 1, "mr1", 3600),
    );
    assert!(ok.first_line().starts_with("SIP/2.0 200"), "{}", ok.text);
    assert_eq!(sim.core.stats().get("registration", "local"), 1);

    // A call out, from the phone's own domain: the From shows the masked
    // host, and no LAN address leaves.
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "10.77.1.1",
        "10.77.1.2:5060",
        "mo2@10.77.1.2",
        "mo2",
        "sip:100@10.77.1.2:5060",
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(out.to, addr(PEER));
    assert_no_lan_leak(&out);
    assert_eq!(
        uri_of(&out.header("From").unwrap()),
        "sip:100@my.public.host"
    );
    assert_eq!(uri_of(&out.header("To").unwrap()), "sip:bob@198.51.100.3");
    // The answer reaches the phone with its own From back.
    let answer = response_to(
        &out,
        200,
        "OK",
        Some("b9"),
        "Contact: <sip:bob@198.51.100.3>\r\n",
    );
    let back = sim.one(PEER, &answer);
    assert_eq!(back.to, addr(PHONE));
    assert_eq!(uri_of(&back.header("From").unwrap()), "sip:100@10.77.1.1");
    assert!(back.header("From").unwrap().ends_with(";tag=tagmo2"));

    // A call in for 100@my.public.host reaches the phone, which sees its
    // own AOR in the To; its answer shows the masked host again.
    let inv = invite(
        "sip:100@my.public.host",
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "mi1@198.51.100.3",
        "mi1",
        "sip:alice@198.51.100.3",
    );
    let to_phone = sim.one(PEER, &inv);
    assert_eq!(to_phone.to, addr(PHONE));
    assert!(
        to_phone
            .first_line()
            .starts_with("INVITE sip:100@10.77.1.2:5060;transport=udp SIP/2.0"),
        "{}",
        to_phone.first_line()
    );
    assert_eq!(uri_of(&to_phone.header("To").unwrap()), "sip:100@10.77.1.1");
    let ringing = response_to(
        &to_phone,
        180,
        "Ringing",
        Some("p1"),
        "Contact: <sip:100@10.77.1.2:5060>\r\n",
    );
    let out = sim.one(PHONE, &ringing);
    assert_eq!(out.to, addr(PEER));
    assert_no_lan_leak(&out);
    assert_eq!(uri_of(&out.header("To").unwrap()), "sip:100@my.public.host");
    assert!(out.header("To").unwrap().ends_with(";tag=p1"));

    // Another user at the masked host is nobody here.
    let inv = invite(
        "sip:101@my.public.host",
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "mi2@198.51.100.3",
        "mi2",
        "sip:alice@198.51.100.3",
    );
    assert!(sim.one(PEER, &inv).first_line().starts_with("SIP/2.0 403"));
}

/// A REGISTER passed on to a provider with the masked domain in its To
/// and From: the registrar sees the masked host, its 2xx (naming the
/// masked host) confirms the phone's binding, and the phone gets its own
/// view back.
#[test]
fn mask_host_in_a_register_passed_to_the_provider() {
    let mut sim = Sim::with_config(&format!(
        "{}rtp_proxy_enable = 0\n{MASK_CONF}",
        config_text()
    ));
    let reg = register(
        "200",
        "10.77.1.1",
        PHONE2,
        "mreg2@10.77.1.3",
        1,
        "mr2",
        3600,
    )
    .replacen("REGISTER sip:10.77.1.1 ", "REGISTER sip:198.51.100.2 ", 1);
    let fwd = sim.one(PHONE2, &reg);
    assert_eq!(fwd.to, addr(REGISTRAR));
    assert_no_lan_leak(&fwd);
    assert_eq!(uri_of(&fwd.header("To").unwrap()), "sip:200@my.public.host");
    assert_eq!(
        uri_of(&fwd.header("From").unwrap()),
        "sip:200@my.public.host"
    );
    let contact = fwd.header("Contact").unwrap();
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("r"),
        &format!("Contact: {contact}\r\n"),
    );
    let back = sim.one(REGISTRAR, &ok);
    assert_eq!(back.to, addr(PHONE2));
    assert_eq!(uri_of(&back.header("To").unwrap()), "sip:200@10.77.1.1");
    assert_eq!(sim.core.stats().get("registration", "confirmed"), 1);
    let reg = sim
        .core
        .proxy
        .registrations()
        .iter()
        .next()
        .unwrap()
        .clone();
    assert!(reg.confirmed, "{reg:?}");
    assert_eq!(reg.aor.as_str(), "200@10.77.1.1");
}

/// Phone 200 at PHONE2 registered at the provider; its Contact as the
/// provider knows it.
fn register_phone2(sim: &mut Sim) -> String {
    let fwd = sim.one(
        PHONE2,
        &register(
            "200",
            "198.51.100.2",
            PHONE2,
            "reg2@10.77.1.3",
            1,
            "r2",
            3600,
        ),
    );
    let c = fwd.header("Contact").unwrap();
    sim.one(
        REGISTRAR,
        &response_to(&fwd, 200, "OK", Some("reg2"), &format!("Contact: {c}\r\n")),
    );
    uri_of(&c).to_string()
}

/// The relay port an SDP names.
fn sdp_port(m: &Sent) -> u16 {
    m.body()
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// A call that loops back through sipnat, up to RTP both ways: phone 100
/// calls a number at the provider (a hunt group, a forwarded number) that
/// the provider sends (same Call-ID, same From tag) back through sipnat to
/// phone 200 on the same LAN, which answers. (A call to 200's own address
/// goes to it directly: sipnat knows where it is registered.) With
/// `record_route` the provider stays in the dialog's route. Returns the
/// INVITE as 200 got it, 200's answer, and the answer as 100 got it.
fn looped_call(sim: &mut Sim, record_route: bool) -> (Sent, String, Sent) {
    use common::media::*;
    use sipnat::relay::Decision;
    register_phone(sim);
    let contact_200 = register_phone2(sim);

    // Pass 1: phone 100 calls the number at the provider.
    let inv = with_body(
        &invite(
            "sip:4930555@198.51.100.2",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            "loop1@10.77.1.2",
            "loop1",
            "sip:100@10.77.1.2:5060",
        ),
        &sdp("10.77.1.2", 4000, ""),
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(out.to, addr(REGISTRAR));
    assert_no_lan_leak(&out);
    let port = sdp_port(&out);
    assert!(
        out.body().contains("c=IN IP4 198.51.100.1\r\n"),
        "{}",
        out.text
    );

    // The provider proxies it to 200's contact: back to sipnat, same
    // Call-ID and tags, its own Via on top, the SDP as it came.
    let rr = if record_route {
        "Record-Route: <sip:198.51.100.2;lr>\r\n"
    } else {
        ""
    };
    let again = out
        .text
        .replacen(
            "INVITE sip:4930555@198.51.100.2 SIP/2.0\r\n",
            &format!(
                "INVITE {contact_200} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bKprov1;rport\r\n{rr}"
            ),
            1,
        )
        .replacen("Max-Forwards: 69", "Max-Forwards: 68", 1);
    let to_200 = sim.one(REGISTRAR, &again);
    assert_eq!(to_200.to, addr(PHONE2));
    assert_eq!(to_200.header("Call-ID").unwrap(), "loop1@10.77.1.2");
    // the first pass's relay port, on sipnat's LAN address: one stream
    assert_eq!(sdp_port(&to_200), port, "{}", to_200.text);
    assert!(to_200.body().contains("c=IN IP4 10.77.1.1\r\n"));
    assert_eq!(
        sim.core.proxy.media().unwrap().calls(),
        2,
        "two passes, two calls"
    );
    assert_eq!(sim.core.relay_mut().unwrap().in_use(), 1);

    // 200 answers; the provider passes the answer back to the first pass.
    let ok = with_body(
        &response_to(
            &to_200,
            200,
            "OK",
            Some("b200"),
            "Contact: <sip:200@10.77.1.3:5062>\r\n",
        ),
        &sdp("10.77.1.3", 5000, ""),
    );
    let ok_out = sim.one(PHONE2, &ok);
    assert_eq!(ok_out.to, addr(REGISTRAR));
    assert_no_lan_leak(&ok_out);
    assert_eq!(sdp_port(&ok_out), port);
    // (the provider takes its own Via off the top)
    let top = ok_out.text.split("\r\n").nth(1).unwrap().to_string();
    assert!(top.contains("branch=z9hG4bKprov1"), "{top}");
    let ok_back = ok_out.text.replacen(&format!("{top}\r\n"), "", 1);
    let to_100 = sim.one(REGISTRAR, &ok_back);
    assert_eq!(to_100.to, addr(PHONE));
    assert!(to_100.first_line().starts_with("SIP/2.0 200"));
    assert_eq!(sdp_port(&to_100), port);
    assert!(to_100.body().contains("c=IN IP4 10.77.1.1\r\n"));
    assert_eq!(sim.core.proxy.media().unwrap().calls(), 2);
    assert_eq!(sim.core.relay_mut().unwrap().in_use(), 1);

    // RTP and RTCP both ways, phone to phone through the one stream.
    for _ in 0..5 {
        sim.advance(std::time::Duration::from_millis(20));
        assert_eq!(
            packet(sim, port, "10.77.1.2:4000"),
            Decision::Forward(v4("10.77.1.3:5000"))
        );
        assert_eq!(
            packet(sim, port, "10.77.1.3:5000"),
            Decision::Forward(v4("10.77.1.2:4000"))
        );
    }
    assert_eq!(
        packet(sim, port + 1, "10.77.1.2:4001"),
        Decision::Forward(v4("10.77.1.3:5001"))
    );
    assert_eq!(
        packet(sim, port + 1, "10.77.1.3:5001"),
        Decision::Forward(v4("10.77.1.2:4001"))
    );
    (to_200, ok, to_100)
}

/// A BYE from a phone in a dialog: to the URI of the Contact it was
/// given, along the Record-Route it was given (`reverse` for the caller,
/// RFC 3261 §12.1.2), with the tags of its side.
fn bye(via: &str, contact_of: &Sent, rr_of: &Sent, reverse: bool, from: &str, to: &str) -> String {
    let mut b = format!(
        "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bKbye{};rport\r\nMax-Forwards: 70\r\n",
        uri_of(&contact_of.header("Contact").unwrap()),
        via.len()
    );
    let mut routes = rr_of.headers("Record-Route");
    if reverse {
        routes.reverse();
    }
    for r in routes {
        b.push_str(&format!("Route: {r}\r\n"));
    }
    b.push_str(&format!(
        "From: {from}\r\nTo: {to}\r\nCall-ID: loop1@10.77.1.2\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    ));
    b
}

/// What obscure_loops was for in siproxd: a call that loops back through
/// sipnat is two calls here without any Call-ID rewritten, and its second
/// pass joins the first's relay stream, so the phones hear each other
/// (`looped_call`). The provider leaves the dialog's route to sipnat: 200's
/// BYE goes straight to 100, and both passes end.
#[test]
fn a_call_that_loops_back_through_sipnat_gets_audio_both_ways() {
    let mut sim = Sim::new();
    let (to_200, ok, _) = looped_call(&mut sim, false);
    let from = ok.split("\r\n").find(|l| l.starts_with("To: ")).unwrap();
    let b = bye(
        "10.77.1.3:5062",
        &to_200,
        &to_200,
        false,
        &from[4..],
        &to_200.header("From").unwrap(),
    );
    let to_100 = sim.one(PHONE2, &b);
    assert_eq!(to_100.to, addr(PHONE));
    assert!(
        to_100
            .first_line()
            .starts_with("BYE sip:100@10.77.1.2:5060"),
        "{}",
        to_100.text
    );
    assert_eq!(
        sim.core.relay_mut().unwrap().in_use(),
        0,
        "the stream is free"
    );
    sim.advance(std::time::Duration::from_secs(2));
    assert_eq!(
        sim.core.proxy.media().unwrap().calls(),
        0,
        "both passes ended"
    );
}

/// The same loop through a provider that stays in the route: each pass's
/// Record-Route entry is sipnat's address on the side its own neighbour
/// reaches it from, and a phone's URI going out is masqueraded as its
/// Contact is, so either phone's BYE goes through the provider and back to
/// the other, and ends both passes at once.
#[test]
fn a_looping_call_through_a_record_routing_provider_keeps_its_route() {
    for caller_hangs_up in [true, false] {
        let mut sim = Sim::new();
        let (to_200, ok, to_100) = looped_call(&mut sim, true);
        // 200 reaches the second pass from the LAN, the provider the first
        // pass from the WAN.
        assert_eq!(
            to_200.headers("Record-Route"),
            [
                "<sip:10.77.1.1:5060;lr;snin=wan>",
                "<sip:198.51.100.2;lr>",
                "<sip:198.51.100.1:5060;lr>"
            ]
        );
        // 100 reaches the first pass from the LAN, the provider the second
        // from the WAN.
        assert_eq!(
            to_100.headers("Record-Route"),
            [
                "<sip:198.51.100.1:5060;lr;snin=wan>",
                "<sip:198.51.100.2;lr>",
                "<sip:10.77.1.1:5060;lr>"
            ]
        );
        let (phone, b, other, other_uri, last_route) = if caller_hangs_up {
            let b = bye(
                "10.77.1.2:5060",
                &to_100,
                &to_100,
                true,
                &to_100.header("From").unwrap(),
                &to_100.header("To").unwrap(),
            );
            (
                PHONE,
                b,
                PHONE2,
                "sip:200@10.77.1.3:5062",
                "<sip:198.51.100.1:5060;lr;snin=wan>",
            )
        } else {
            let from = ok.split("\r\n").find(|l| l.starts_with("To: ")).unwrap();
            let b = bye(
                "10.77.1.3:5062",
                &to_200,
                &to_200,
                false,
                &from[4..],
                &to_200.header("From").unwrap(),
            );
            (
                PHONE2,
                b,
                PHONE,
                "sip:100@10.77.1.2:5060",
                "<sip:198.51.100.1:5060;lr>",
            )
        };
        let out = sim.one(phone, &b);
        assert_eq!(out.to, addr(REGISTRAR), "{}", out.text);
        assert_no_lan_leak(&out);
        assert_eq!(out.headers("Route"), ["<sip:198.51.100.2;lr>", last_route]);
        assert!(
            out.first_line().starts_with("BYE sip:")
                && out.first_line().contains("@198.51.100.1:5060;")
                && out.first_line().contains(";snc="),
            "{}",
            out.first_line()
        );
        // The provider takes its Route off and passes the BYE on.
        let again = out
            .text
            .replacen("Route: <sip:198.51.100.2;lr>\r\n", "", 1)
            .replacen(
                "Via: ",
                "Via: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bKprovbye;rport\r\nVia: ",
                1,
            );
        let there = sim.one(REGISTRAR, &again);
        assert_eq!(there.to, addr(other));
        assert!(
            there.first_line().starts_with(&format!("BYE {other_uri}")),
            "{}",
            there.first_line()
        );
        assert_eq!(
            sim.core.relay_mut().unwrap().in_use(),
            0,
            "the stream is free"
        );
        assert_eq!(
            sim.core.proxy.media().unwrap().calls(),
            0,
            "both passes ended"
        );
    }
}
