//! Simulations of the SIP core with a virtual clock: registrations through
//! and at sipnat, calls out and in, CANCEL, in-dialog requests, the answers
//! for what matches nothing, full tables, DNS parking, persistence.

mod common;
use common::*;
use std::time::Duration;

/// Register user 100 through sipnat at the WAN registrar; return the
/// forwarded REGISTER as the registrar saw it.
/// The URI of a message's Contact (for a REGISTER sipnat passed on: the
/// address the provider will call the phone at).
fn contact_uri(m: &Sent) -> String {
    let c = m.header("Contact").unwrap(); // the messages used here have one
    c.split('>')
        .next()
        .unwrap()
        .trim_start_matches('<')
        .to_string()
}

fn registered(sim: &mut Sim) -> Sent {
    let fwd = sim.one(
        PHONE,
        &register(
            "100",
            "198.51.100.2",
            PHONE,
            "reg1@10.77.1.2",
            1,
            "r1",
            3600,
        ),
    );
    let contact = fwd.header("Contact").unwrap();
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("reg"),
        &format!("Contact: {contact}\r\nExpires: 3600\r\n"),
    );
    let back = sim.one(REGISTRAR, &ok);
    assert_eq!(back.to, addr(PHONE));
    fwd
}

#[test]
fn register_through_sipnat_hides_the_lan_and_restores_it() {
    let mut sim = Sim::signalling_only();
    let fwd = sim.one(
        PHONE,
        &register(
            "100",
            "198.51.100.2",
            PHONE,
            "reg1@10.77.1.2",
            1,
            "r1",
            3600,
        ),
    );
    assert_eq!(fwd.to, addr(REGISTRAR));
    assert_no_lan_leak(&fwd);
    assert_eq!(fwd.first_line(), "REGISTER sip:198.51.100.2 SIP/2.0");
    let vias = fwd.headers("Via");
    assert_eq!(vias.len(), 1, "only sipnat's Via goes out: {vias:?}");
    assert!(
        vias[0].starts_with("SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKsn"),
        "{vias:?}"
    );
    let contact = fwd.header("Contact").unwrap();
    assert!(
        contact.starts_with("<sip:100@198.51.100.1:5060;transport=udp;snc="),
        "{contact}"
    );
    assert!(contact.ends_with(">;expires=3600"), "{contact}");
    assert_eq!(fwd.header("Max-Forwards").unwrap(), "69");
    // The Call-ID's LAN address is masked, not dropped.
    let cid = fwd.header("Call-ID").unwrap();
    assert!(
        cid.starts_with("reg1@sn") && cid.ends_with(".invalid"),
        "{cid}"
    );

    // The registrar's 200 comes back with everything restored.
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("reg"),
        &format!("Contact: {contact}\r\nExpires: 3600\r\n"),
    );
    let back = sim.one(REGISTRAR, &ok);
    assert_eq!(back.to, addr(PHONE));
    assert_eq!(back.first_line(), "SIP/2.0 200 OK");
    assert_eq!(
        back.headers("Via"),
        vec!["SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKr1;received=10.77.1.2;rport=5060"]
    );
    assert_eq!(back.header("Call-ID").unwrap(), "reg1@10.77.1.2");
    assert_eq!(
        back.header("Contact").unwrap(),
        "<sip:100@10.77.1.2:5060;transport=udp>;expires=3600"
    );
    let reg = sim
        .core
        .proxy
        .registrations()
        .iter()
        .next()
        .unwrap()
        .clone();
    assert!(reg.confirmed);
    assert_eq!(reg.aor, "100@198.51.100.2");
    assert_eq!(sim.core.stats().get("registration", "confirmed"), 1);
}

#[test]
fn registration_expires_from_the_registrars_answer() {
    let mut sim = Sim::signalling_only();
    let fwd = sim.one(
        PHONE,
        &register("100", "198.51.100.2", PHONE, "c", 1, "r1", 3600),
    );
    let contact = fwd.header("Contact").unwrap().replace(";expires=3600", "");
    // The registrar grants only 60 s.
    let ok = response_to(
        &fwd,
        200,
        "OK",
        Some("x"),
        &format!("Contact: {contact};expires=60\r\n"),
    );
    sim.one(REGISTRAR, &ok);
    assert_eq!(sim.core.proxy.registrations().len(), 1);
    sim.advance(Duration::from_secs(59));
    assert_eq!(sim.core.proxy.registrations().len(), 1);
    sim.advance(Duration::from_secs(3));
    assert_eq!(sim.core.proxy.registrations().len(), 0);
}

#[test]
fn an_unanswered_register_leaves_no_lasting_binding() {
    let mut sim = Sim::signalling_only();
    let fwd = sim.one(
        PHONE,
        &register("100", "198.51.100.2", PHONE, "c", 1, "r1", 3600),
    );
    // 401 challenge: the binding stays provisional.
    let chal = response_to(
        &fwd,
        401,
        "Unauthorized",
        Some("x"),
        "WWW-Authenticate: Digest realm=\"p\", nonce=\"n\"\r\n",
    );
    let back = sim.one(REGISTRAR, &chal);
    assert_eq!(back.first_line(), "SIP/2.0 401 Unauthorized");
    assert!(back.header("WWW-Authenticate").is_some());
    assert!(
        !sim.core
            .proxy
            .registrations()
            .iter()
            .next()
            .unwrap()
            .confirmed
    );
    sim.advance(Duration::from_secs(40));
    assert_eq!(sim.core.proxy.registrations().len(), 0);
}

#[test]
fn sipnat_as_registrar() {
    let mut sim = Sim::signalling_only();
    let ok = sim.one(
        PHONE2,
        &register("200", "10.77.1.1", PHONE2, "l1", 1, "l1", 600),
    );
    assert_eq!(ok.to, addr(PHONE2));
    assert_eq!(ok.first_line(), "SIP/2.0 200 OK");
    assert_eq!(
        ok.header("Contact").unwrap(),
        "<sip:200@10.77.1.3:5062;transport=udp>;expires=600"
    );
    assert!(ok.header("To").unwrap().contains(";tag=sn"));
    let r = sim
        .core
        .proxy
        .registrations()
        .iter()
        .next()
        .unwrap()
        .clone();
    assert!(r.local && r.confirmed);
    // A call from the WAN to the public address reaches the phone.
    let inv = sim.one(
        PEER,
        &invite(
            "sip:200@198.51.100.1",
            "alice",
            "198.51.100.3",
            "198.51.100.3:5060",
            "wancall",
            "w1",
            "sip:alice@198.51.100.3",
        ),
    );
    assert_eq!(inv.to, addr(PHONE2));
    assert_eq!(
        inv.first_line(),
        "INVITE sip:200@10.77.1.3:5062;transport=udp SIP/2.0"
    );
    // De-registration with expires=0 removes it.
    let ok = sim.one(
        PHONE2,
        &register("200", "10.77.1.1", PHONE2, "l1", 2, "l2", 0),
    );
    assert_eq!(ok.first_line(), "SIP/2.0 200 OK");
    assert!(ok.header("Contact").is_none());
    assert_eq!(sim.core.proxy.registrations().len(), 0);
}

#[test]
fn outgoing_call_flows_both_ways_with_record_route() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "call1@10.77.1.2",
        "i1",
        "sip:100@10.77.1.2:5060",
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(out.to, addr(PEER));
    assert_no_lan_leak(&out);
    assert_eq!(
        out.header("Record-Route").unwrap(),
        "<sip:198.51.100.1:5060;lr>"
    );
    let contact = out.header("Contact").unwrap();
    assert!(
        contact.starts_with("<sip:100@198.51.100.1:5060;snc="),
        "{contact}"
    );
    assert_eq!(
        out.body(),
        inv.split_once("\r\n\r\n").unwrap().1,
        "SDP carried unchanged"
    );

    // 180 and 200 come back; the Record-Route now names the LAN side.
    let ringing = response_to(
        &out,
        180,
        "Ringing",
        Some("b1"),
        "Contact: <sip:bob@198.51.100.3>\r\n",
    );
    let r = sim.one(PEER, &ringing);
    assert_eq!(r.to, addr(PHONE));
    assert_eq!(r.header("Record-Route").unwrap(), "<sip:10.77.1.1:5060;lr>");
    let ok = response_to(
        &out,
        200,
        "OK",
        Some("b1"),
        "Contact: <sip:bob@198.51.100.3>\r\n",
    );
    let r = sim.one(PEER, &ok);
    assert_eq!(r.first_line(), "SIP/2.0 200 OK");
    assert_eq!(r.header("Call-ID").unwrap(), "call1@10.77.1.2");
    assert_eq!(r.header("Contact").unwrap(), "<sip:bob@198.51.100.3>");

    // ACK from the phone, via the route set.
    let ack = "ACK sip:bob@198.51.100.3 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKack1;rport\r\n\
        Route: <sip:10.77.1.1:5060;lr>\r\n\
        Max-Forwards: 70\r\n\
        From: \"Caller\" <sip:100@198.51.100.2>;tag=tagi1\r\n\
        To: <sip:bob@198.51.100.3>;tag=b1\r\n\
        Call-ID: call1@10.77.1.2\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
    let a = sim.one(PHONE, ack);
    assert_eq!(a.to, addr(PEER));
    assert!(
        a.header("Route").is_none(),
        "our own Route entry is removed"
    );
    assert_no_lan_leak(&a);

    // BYE from the far end to the masqueraded contact, through our route.
    let bye = format!(
        "BYE {} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bKbye1\r\n\
         Route: <sip:198.51.100.1:5060;lr>\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@198.51.100.3>;tag=b1\r\n\
         To: {}\r\n\
         Call-ID: {}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        contact.trim_start_matches('<').trim_end_matches('>'),
        out.header("From").unwrap(),
        out.header("Call-ID").unwrap()
    );
    let b = sim.one(PEER, &bye);
    assert_eq!(b.to, addr(PHONE));
    assert_eq!(b.first_line(), "BYE sip:100@10.77.1.2:5060 SIP/2.0");
    assert_eq!(b.header("Call-ID").unwrap(), "call1@10.77.1.2");
    assert_eq!(b.headers("Via").len(), 2);
    assert!(
        b.header("Via")
            .unwrap()
            .starts_with("SIP/2.0/UDP 10.77.1.1:5060;branch=z9hG4bKsn")
    );
    // The phone's 200 for the BYE goes back to the far end, stateless.
    let ok = response_to(&b, 200, "OK", None, "");
    let back = sim.one(PHONE, &ok);
    assert_eq!(back.to, addr(PEER));
    assert_eq!(
        back.headers("Via"),
        vec!["SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bKbye1"]
    );
    assert_no_lan_leak(&back);
}

#[test]
fn incoming_call_to_a_registered_phone() {
    let mut sim = Sim::signalling_only();
    let reg = registered(&mut sim);
    let masq_uri = contact_uri(&reg);
    let inv = invite(
        &masq_uri,
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "in1",
        "w1",
        "sip:alice@198.51.100.3",
    );
    let to_phone = sim.one(PEER, &inv);
    assert_eq!(to_phone.to, addr(PHONE));
    assert_eq!(
        to_phone.first_line(),
        "INVITE sip:100@10.77.1.2:5060;transport=udp SIP/2.0"
    );
    assert_eq!(
        to_phone.header("Record-Route").unwrap(),
        "<sip:10.77.1.1:5060;lr>"
    );
    // The Vias stay together at the top; our Record-Route follows them.
    let rr_at = to_phone.text.find("\r\nRecord-Route:").unwrap();
    assert!(
        to_phone.text.rfind("\r\nVia:").unwrap() < rr_at,
        "{}",
        to_phone.text
    );
    // The phone rings and answers with its LAN contact.
    for (code, reason) in [(180, "Ringing"), (200, "OK")] {
        let resp = response_to(
            &to_phone,
            code,
            reason,
            Some("p1"),
            "Contact: <sip:100@10.77.1.2:5060>\r\n",
        );
        let out = sim.one(PHONE, &resp);
        assert_eq!(out.to, addr(PEER));
        assert_no_lan_leak(&out);
        assert_eq!(
            out.headers("Via"),
            // RFC 3581 §4: sipnat filled in received and rport on receipt.
            vec!["SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bKw1;received=198.51.100.3;rport=5060"]
        );
        assert_eq!(
            out.header("Record-Route").unwrap(),
            "<sip:198.51.100.1:5060;lr>"
        );
        assert!(
            out.header("Contact")
                .unwrap()
                .starts_with("<sip:100@198.51.100.1:5060;snc=")
        );
    }
    // A request by user name alone also finds the phone.
    let inv2 = invite(
        "sip:100@198.51.100.1",
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "in2",
        "w2",
        "sip:alice@198.51.100.3",
    );
    assert_eq!(sim.one(PEER, &inv2).to, addr(PHONE));
}

#[test]
fn cancel_follows_its_invite() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "c1@10.77.1.2",
        "c1",
        "sip:100@10.77.1.2",
    );
    let out = sim.one(PHONE, &inv);
    let cancel = "CANCEL sip:bob@198.51.100.3 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKc1;rport\r\n\
        Max-Forwards: 70\r\n\
        From: \"Caller\" <sip:100@198.51.100.2>;tag=tagc1\r\n\
        To: <sip:bob@198.51.100.3>\r\n\
        Call-ID: c1@10.77.1.2\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    let c = sim.one(PHONE, cancel);
    assert_eq!(c.to, addr(PEER));
    assert_eq!(
        c.header("Via"),
        out.header("Via"),
        "CANCEL carries its INVITE's branch (RFC 3261 §9.1)"
    );
    // 200 for the CANCEL and 487 for the INVITE both reach the phone.
    let r = sim.one(PEER, &response_to(&c, 200, "OK", Some("b"), ""));
    assert_eq!((r.to, r.first_line()), (addr(PHONE), "SIP/2.0 200 OK"));
    let r = sim.one(
        PEER,
        &response_to(&out, 487, "Request Terminated", Some("b"), ""),
    );
    assert_eq!(
        (r.to, r.first_line()),
        (addr(PHONE), "SIP/2.0 487 Request Terminated")
    );
    // A CANCEL sipnat knows nothing of is forwarded statelessly (RFC 3261
    // §16.10); the far end's 481 comes back to the phone.
    let stray = cancel.replace("z9hG4bKc1", "z9hG4bKnothing");
    let fwd = sim.one(PHONE, &stray);
    assert_eq!(fwd.to, addr(PEER));
    assert!(!fwd.text.contains("10.77.1"), "{}", fwd.text);
    let r = sim.one(
        PEER,
        &response_to(&fwd, 481, "Call/Transaction Does Not Exist", Some("b"), ""),
    );
    assert_eq!(
        (r.to, r.first_line()),
        (addr(PHONE), "SIP/2.0 481 Call/Transaction Does Not Exist")
    );
    assert!(r.header("Via").unwrap().contains("z9hG4bKnothing"));
}

#[test]
fn reinvite_in_dialog_goes_both_ways() {
    let mut sim = Sim::signalling_only();
    let reg = registered(&mut sim);
    let masq_uri = contact_uri(&reg);
    // Far end re-INVITEs the phone (in dialog: To has a tag).
    let re = invite(
        &masq_uri,
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "d1",
        "re1",
        "sip:alice@198.51.100.3",
    )
    .replace(
        &format!("To: <{masq_uri}>"),
        &format!("To: <{masq_uri}>;tag=p1"),
    )
    .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    let to_phone = sim.one(PEER, &re);
    assert_eq!(to_phone.to, addr(PHONE));
    assert!(
        to_phone.header("Record-Route").is_none(),
        "no Record-Route in dialog"
    );
    // Phone re-INVITEs the far end.
    let re2 = invite(
        "sip:alice@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "d1",
        "re2",
        "sip:100@10.77.1.2:5060",
    )
    .replace(
        "To: <sip:alice@198.51.100.3>",
        "To: <sip:alice@198.51.100.3>;tag=a1",
    )
    .replace("CSeq: 1 INVITE", "CSeq: 3 INVITE");
    let out = sim.one(PHONE, &re2);
    assert_eq!(out.to, addr(PEER));
    assert_no_lan_leak(&out);
    let r = sim.one(
        PEER,
        &response_to(
            &out,
            200,
            "OK",
            None,
            "Contact: <sip:alice@198.51.100.3>\r\n",
        ),
    );
    assert_eq!(r.to, addr(PHONE));
}

#[test]
fn what_matches_nothing_gets_a_clear_answer() {
    let mut sim = Sim::signalling_only();
    // Unregistered phone calling out.
    let inv = invite(
        "sip:bob@198.51.100.3",
        "300",
        "198.51.100.2",
        "10.77.1.9:5060",
        "u1",
        "u1",
        "sip:300@10.77.1.9",
    );
    let r = sim.one("10.77.1.9:5060", &inv);
    assert_eq!(r.to, addr("10.77.1.9:5060"));
    assert!(
        r.first_line().starts_with("SIP/2.0 403"),
        "{}",
        r.first_line()
    );
    // Unknown user from the WAN.
    let inv = invite(
        "sip:999@198.51.100.1",
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "u2",
        "u2",
        "sip:alice@198.51.100.3",
    );
    let r = sim.one(PEER, &inv);
    assert_eq!(
        (r.to, r.first_line()),
        (addr(PEER), "SIP/2.0 404 Not Found")
    );
    // A WAN host trying to relay through sipnat.
    let inv = invite(
        "sip:bob@203.0.113.9",
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "u3",
        "u3",
        "sip:alice@198.51.100.3",
    );
    assert!(sim.one(PEER, &inv).first_line().starts_with("SIP/2.0 403"));
    // REGISTER from the WAN.
    let r = sim.one(PEER, &register("1", "198.51.100.1", PEER, "w", 1, "w", 60));
    assert!(r.first_line().starts_with("SIP/2.0 403"));
    // An ACK is never answered.
    let ack = "ACK sip:999@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.3;branch=z9hG4bKa\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:999@198.51.100.1>;tag=2\r\nCall-ID: x\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
    assert!(sim.sip(PEER, ack).is_empty());
    assert_eq!(sim.core.stats().get("answer", "404"), 1);
}

#[test]
fn max_forwards_proxy_require_and_loops() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "m1",
        "m1",
        "sip:100@10.77.1.2",
    );
    let r = sim.one(PHONE, &inv.replace("Max-Forwards: 70", "Max-Forwards: 0"));
    assert_eq!(r.first_line(), "SIP/2.0 483 Too Many Hops");
    let r = sim.one(
        PHONE,
        &inv.replace(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nProxy-Require: foo, bar\r\n",
        ),
    );
    assert_eq!(r.first_line(), "SIP/2.0 420 Bad Extension");
    assert_eq!(r.header("Unsupported").unwrap(), "foo, bar");
    // No Max-Forwards: sipnat adds 70.
    let out = sim.one(PHONE, &inv.replace("Max-Forwards: 70\r\n", ""));
    assert_eq!(out.header("Max-Forwards").unwrap(), "70");
    // A request to sipnat's own address with a port that is sipnat: loop.
    let inv = invite(
        "sip:bob@198.51.100.1:5060",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "m2",
        "m2",
        "sip:100@10.77.1.2",
    );
    assert_eq!(sim.one(PHONE, &inv).first_line(), "SIP/2.0 404 Not Found");
}

#[test]
fn outgoing_transactions_need_no_table() {
    // The LAN Vias travel sealed in our branch: thousands of transactions in
    // flight at once (more than any table sipnat could afford) each get their
    // response home, long after they were sent, with the phone's Via intact.
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let n = 5000;
    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        let inv = invite(
            "sip:bob@198.51.100.3",
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            &format!("f{i}"),
            &format!("f{i}"),
            "sip:100@10.77.1.2",
        );
        let o = sim.one(PHONE, &inv);
        assert_eq!(o.to, addr(PEER), "call {i}");
        assert!(
            !o.text.contains("10.77.1"),
            "LAN address leaked: {}",
            o.text
        );
        sent.push(o);
    }
    sim.advance(Duration::from_secs(200));
    for (i, o) in sent.iter().enumerate().step_by(97) {
        let r = sim.one(PEER, &response_to(o, 180, "Ringing", Some("t"), ""));
        assert_eq!(r.to, addr(PHONE), "call {i}");
        let via = r.header("Via").unwrap();
        assert!(via.contains(&format!("branch=z9hG4bKf{i}")), "{via}");
        assert!(via.starts_with("SIP/2.0/UDP 10.77.1.2:5060"), "{via}");
    }
    // The same INVITE again (a retransmission) gets the same branch; a
    // response whose branch was altered on the way is dropped.
    let first = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "f0",
        "f0",
        "sip:100@10.77.1.2",
    );
    let again = sim.one(PHONE, &first);
    assert_eq!(again.header("Via"), sent[0].header("Via"));
    let forged =
        response_to(&sent[0], 200, "OK", Some("t"), "").replacen("z9hG4bKsnx", "z9hG4bKsnxa", 1);
    assert!(sim.sip(PEER, &forged).is_empty());
    assert_eq!(sim.core.stats().get("drop", "response-stray"), 1);
}

#[test]
fn registrations_survive_a_restart() {
    let mut sim = Sim::signalling_only();
    let reg = registered(&mut sim);
    assert!(sim.core.proxy.take_dirty());
    let text = sim.core.proxy.registrations_text(sim.now, 1_000_000);
    let mut sim2 = Sim::signalling_only();
    // A different random key at start; the file brings the old one back.
    let n = sim2
        .core
        .load_registrations(sim2.now, 1_000_010, &text)
        .unwrap();
    assert_eq!(n, 1);
    let masq_uri = contact_uri(&reg);
    let inv = invite(
        &masq_uri,
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "after",
        "a1",
        "sip:alice@198.51.100.3",
    );
    assert_eq!(sim2.one(PEER, &inv).to, addr(PHONE));
}

#[test]
fn a_bad_registration_file_loads_nothing_and_keeps_the_new_key() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let good = sim.core.proxy.registrations_text(sim.now, 1_000_000);
    let mut sim2 = Sim::signalling_only();
    let key = sim2.core.proxy.key_bytes();
    // The good file with another key and a binding whose expiry is beyond
    // any registrar's (it panicked the daemon at start: "overflow when
    // adding duration to instant"), and with a line cut short.
    for bad in [
        format!(
            "key {}\n{good}reg 9@p sip:9@10.77.1.9 10.77.1.9:5060 18446744073709551615 0\n",
            "ab".repeat(16)
        ),
        format!("{good}reg 9@p sip:9@10.77.1.9 10.77.1.9:50"),
    ] {
        let err = sim2
            .core
            .load_registrations(sim2.now, 1_000_010, &bad)
            .unwrap_err();
        assert!(err.starts_with("line "), "{err}");
        assert_eq!(
            sim2.core.proxy.registrations().len(),
            0,
            "nothing half-loaded"
        );
        assert_eq!(sim2.core.proxy.key_bytes(), key, "the fresh key stays");
    }
    assert_eq!(sim2.core.stats().get("registration-file", "rejected"), 2);
    assert!(
        sim2.core
            .status_text()
            .contains("registration-file.rejected 2")
    );
    // The daemon runs on: the phone registers again.
    registered(&mut sim2);
    assert_eq!(sim2.core.proxy.registrations().len(), 1);
}

/// One LAN host sends 600 REGISTERs with distinct AORs and contacts. It
/// used to take every slot of the table (512), after which every other
/// phone got 503. Now it fills its own share
/// ([`sipnat::limits::MAX_REGISTRATIONS_PER_HOST`]) and gets the 503 itself,
/// with Retry-After, counted by reason; another phone still registers. The
/// same in both registration modes: sipnat as the registrar, and REGISTERs
/// forwarded to a provider that never answers (pending bindings).
#[test]
fn one_lan_host_cannot_fill_the_registration_table() {
    use sipnat::limits::{MAX_REGISTRATIONS, MAX_REGISTRATIONS_PER_HOST};
    const FLOOD: usize = 600;
    const { assert!(FLOOD > MAX_REGISTRATIONS) };
    for (mode, registrar) in [("local", "10.77.1.1"), ("forwarded", "198.51.100.2")] {
        let mut sim = Sim::signalling_only();
        let mut accepted = 0;
        for i in 0..FLOOD {
            let user = format!("flood{i}");
            let v = sim.sip(
                PHONE,
                &register(
                    &user,
                    registrar,
                    PHONE,
                    &format!("f{i}"),
                    1,
                    &format!("f{i}"),
                    600,
                ),
            );
            assert_eq!(v.len(), 1, "{mode} {i}: {v:#?}");
            if v[0].to == addr(PHONE) && v[0].first_line().starts_with("SIP/2.0 503") {
                assert_eq!(
                    v[0].first_line(),
                    "SIP/2.0 503 Service Unavailable (too many registrations from this host)"
                );
                assert!(v[0].header("Retry-After").is_some(), "{mode}");
            } else {
                accepted += 1;
            }
        }
        assert_eq!(accepted, MAX_REGISTRATIONS_PER_HOST, "{mode}");
        assert_eq!(
            sim.core.stats().get("quota", "registrations-per-host"),
            (FLOOD - MAX_REGISTRATIONS_PER_HOST) as u64,
            "{mode}"
        );
        assert!(
            sim.core.status_text().contains(&format!(
                "quota.registrations-per-host {}",
                FLOOD - MAX_REGISTRATIONS_PER_HOST
            )),
            "{mode}"
        );
        assert_eq!(
            sim.core.proxy.registrations().len(),
            MAX_REGISTRATIONS_PER_HOST
        );
        // The flooding host may still refresh what it has.
        let again = sim.one(
            PHONE,
            &register("flood3", registrar, PHONE, "f3", 2, "f3b", 600),
        );
        assert!(
            !again.first_line().starts_with("SIP/2.0 503"),
            "{mode}: {}",
            again.text
        );
        // Another phone registers.
        let other = sim.one(
            PHONE2,
            &register("200", registrar, PHONE2, "p2", 1, "p2", 600),
        );
        match mode {
            "local" => assert_eq!(other.first_line(), "SIP/2.0 200 OK"),
            _ => {
                assert_eq!(other.to, addr(REGISTRAR));
                assert!(
                    other.first_line().starts_with("REGISTER "),
                    "{}",
                    other.text
                );
            }
        }
        assert_eq!(
            sim.core.proxy.registrations().len(),
            MAX_REGISTRATIONS_PER_HOST + 1
        );
    }
}

/// sipnat as the registrar grants at most an hour (RFC 3261 §10.3 step 7
/// lets a registrar shorten the expiry asked for): a binding whose phone is
/// gone holds its slot an hour, not a day.
#[test]
fn sipnat_as_registrar_grants_at_most_an_hour() {
    let mut sim = Sim::signalling_only();
    let ok = sim.one(
        PHONE2,
        &register("200", "10.77.1.1", PHONE2, "l1", 1, "l1", 86_400),
    );
    assert_eq!(ok.first_line(), "SIP/2.0 200 OK");
    assert_eq!(
        ok.header("Contact").unwrap(),
        "<sip:200@10.77.1.3:5062;transport=udp>;expires=3600"
    );
    sim.advance(Duration::from_secs(3601));
    assert_eq!(sim.core.proxy.registrations().len(), 0);
}

#[test]
fn a_name_is_resolved_without_blocking() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let inv = invite(
        "sip:bob@provider.test",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "dns1",
        "d1",
        "sip:100@10.77.1.2",
    );
    // Parked: the only datagram out is an SRV query to the nameserver.
    let q = sim.sip(PHONE, &inv);
    assert_eq!(q.len(), 1, "{q:#?}");
    assert_eq!(q[0].to, addr(DNS_SERVER));
    assert!(matches!(q[0].channel, sipnat::proxy::Channel::Dns(_)));
    assert!(q[0].bytes.windows(4).any(|w| w == b"_sip"));
    // No SRV: NXDOMAIN, then an A query.
    let mut nx = q[0].bytes.clone();
    nx[2] = 0x81;
    nx[3] = 0x83;
    let q2 = sim.dns(DNS_SERVER, &nx);
    assert_eq!(q2.len(), 1, "{q2:#?}");
    assert!(matches!(q2[0].channel, sipnat::proxy::Channel::Dns(_)));
    let ans = dns_reply(&q2[0].bytes, &[(1, vec![198, 51, 100, 3])]);
    let fwd = sim.dns(DNS_SERVER, &ans);
    assert_eq!(fwd.len(), 1, "{fwd:#?}");
    assert_eq!(fwd[0].to, addr(PEER));
    assert_eq!(fwd[0].first_line(), "INVITE sip:bob@provider.test SIP/2.0");
    // Cached: the next request goes at once.
    let inv2 = inv
        .replace("dns1", "dns2")
        .replace("z9hG4bKd1", "z9hG4bKd2");
    assert_eq!(sim.one(PHONE, &inv2).to, addr(PEER));
}

#[test]
fn a_name_that_does_not_resolve_gets_503() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let inv = invite(
        "sip:bob@nowhere.test:5060",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "dns3",
        "d3",
        "sip:100@10.77.1.2",
    );
    let q = sim.sip(PHONE, &inv);
    assert_eq!(q.len(), 1);
    let mut nx = q[0].bytes.clone();
    nx[2] = 0x81;
    nx[3] = 0x83;
    let r = sim.dns(DNS_SERVER, &nx);
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].to, addr(PHONE));
    assert!(r[0].first_line().starts_with("SIP/2.0 503"));
}

#[test]
fn keepalives_and_garbage_are_counted_not_answered() {
    let mut sim = Sim::signalling_only();
    assert!(sim.sip(PHONE, "\r\n\r\n").is_empty());
    assert!(sim.sip_bytes(PHONE, &[0, 0, 0, 0]).is_empty());
    assert!(sim.sip_bytes(PHONE, &[0xff; 100]).is_empty());
    assert_eq!(sim.core.stats().get("sip", "keepalive"), 2);
    assert!(sim.core.stats().class_total("parse") >= 1);
}

#[test]
fn a_via_stack_too_long_to_hide_goes_out_masked_and_comes_back() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "long@10.77.1.2",
        "top",
        "sip:100@10.77.1.2",
    );
    let extra: String = (0..12)
        .map(|i| {
            format!(
                "Via: SIP/2.0/UDP 10.77.1.{}:5060;branch=z9hG4bKlower{i}\r\n",
                10 + i
            )
        })
        .collect();
    let inv = inv.replacen("Max-Forwards", &format!("{extra}Max-Forwards"), 1);
    let out = sim.one(PHONE, &inv);
    assert_eq!(out.to, addr(PEER));
    assert_no_lan_leak(&out);
    assert_eq!(out.headers("Via").len(), 14);
    assert_eq!(sim.core.stats().get("route", "vias-masked-not-hidden"), 1);
    let back = sim.one(PEER, &response_to(&out, 180, "Ringing", Some("b"), ""));
    assert_eq!(back.to, addr(PHONE));
    let vias = back.headers("Via");
    assert_eq!(vias.len(), 13);
    assert_eq!(
        vias[0],
        "SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKtop;received=10.77.1.2;rport=5060"
    );
    assert_eq!(
        vias[12],
        "SIP/2.0/UDP 10.77.1.21:5060;branch=z9hG4bKlower11"
    );
}

/// Issue 9 item 5, the attack: WAN requests whose Via names a host, one
/// never-resolving name per request, answered by the phone. sipnat used to
/// look each name up to route the answer, which filled every pending-lookup
/// slot, and the phone's own REGISTER to its provider (by name) got
/// `503 (DNS)`. Now an answer goes to where its request came from (no name
/// a WAN message supplies is resolved), and WAN work could hold only its
/// share of the resolver's table anyway (`dns.rs`, unit tests of the quota).
#[test]
fn wan_noise_cannot_starve_a_phones_register() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    for i in 0..12 {
        let inv = invite(
            "sip:100@198.51.100.1",
            "mallory",
            "198.51.100.66",
            &format!("h{i}.attacker.test:5060"),
            &format!("atk{i}"),
            &format!("a{i}"),
            "sip:mallory@198.51.100.66",
        );
        // Spaced by the per-source INVITE rate (this test is about DNS).
        sim.advance(sipnat::proxy::ratelimit::INVITE_REFILL);
        let to_phone = sim.one(PEER, &inv);
        assert_eq!(to_phone.to, addr(PHONE));
        let busy = response_to(&to_phone, 486, "Busy Here", Some("p"), "");
        for s in sim.sip(PHONE, &busy) {
            assert_eq!(s.to, addr(PEER), "the answer goes to the request's source");
        }
    }
    // The nameserver would never have answered those. The phone registers
    // with its provider by name: the SRV query goes out at once.
    let reg = register(
        "100",
        "provider.test",
        PHONE,
        "reg2@10.77.1.2",
        2,
        "r2",
        3600,
    );
    let q = sim.sip(PHONE, &reg);
    assert_eq!(q.len(), 1, "the REGISTER's query must go out: {q:#?}");
    assert_eq!(q[0].to, addr(DNS_SERVER));
    assert!(q[0].bytes.windows(4).any(|w| w == b"_sip"));
    let mut nx = q[0].bytes.clone();
    nx[2] = 0x81;
    nx[3] = 0x83;
    let q2 = sim.dns(DNS_SERVER, &nx);
    assert_eq!(q2.len(), 1, "{q2:#?}");
    let ans = dns_reply(&q2[0].bytes, &[(1, vec![198, 51, 100, 2])]);
    let fwd = sim.dns(DNS_SERVER, &ans);
    assert_eq!(fwd.len(), 1, "{fwd:#?}");
    assert_eq!(fwd[0].to, addr(REGISTRAR));
    assert_eq!(fwd[0].first_line(), "REGISTER sip:provider.test SIP/2.0");
    // No lookup failed or was refused: the only DNS counter is the parking.
    let dns = sim.core.stats().class_total("dns");
    assert_eq!(dns, sim.core.stats().get("dns", "parked"));
}

/// Each query has its own socket (RFC 5452 §9.2); a reply read on another
/// query's socket is dropped and counted, however right it looks otherwise.
#[test]
fn a_dns_reply_counts_only_on_the_socket_of_its_query() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let mut queries = Vec::new();
    for (i, host) in ["one.test", "two.test"].iter().enumerate() {
        let inv = invite(
            &format!("sip:bob@{host}:5060"),
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            &format!("sock{i}"),
            &format!("s{i}"),
            "sip:100@10.77.1.2",
        );
        let q = sim.sip(PHONE, &inv);
        assert_eq!(q.len(), 1, "{q:#?}");
        let sipnat::proxy::Channel::Dns(h) = q[0].channel else {
            panic!("a DNS query: {q:#?}");
        };
        queries.push((h, q[0].bytes.clone()));
    }
    let (h1, q1) = &queries[0];
    let (h2, _) = &queries[1];
    assert_ne!(h1, h2);
    let ans1 = dns_reply(q1, &[(1, vec![198, 51, 100, 3])]);
    // one.test's answer on two.test's socket: nothing moves.
    assert!(sim.dns_on(*h2, DNS_SERVER, &ans1).is_empty());
    assert_eq!(sim.core.stats().get("drop", "dns-wrong-id"), 1);
    assert!(sim.core.dns_in_flight(*h1) && sim.core.dns_in_flight(*h2));
    // On its own socket it is taken and the INVITE goes on.
    let fwd = sim.dns_on(*h1, DNS_SERVER, &ans1);
    assert_eq!(fwd.len(), 1, "{fwd:#?}");
    assert_eq!(fwd[0].to, addr(PEER));
    assert!(!sim.core.dns_in_flight(*h1));
    // Again, now that its query is over: stale.
    assert!(sim.dns_on(*h1, DNS_SERVER, &ans1).is_empty());
    assert_eq!(sim.core.stats().get("drop", "dns-stale"), 1);
}

/// When the driver cannot open a socket for a query, that lookup fails
/// cleanly: the request waiting for it is answered 503 and it is counted.
#[test]
fn no_socket_for_a_query_answers_the_waiting_request() {
    let mut sim = Sim::signalling_only();
    registered(&mut sim);
    let inv = invite(
        "sip:bob@nosock.test:5060",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "nosock",
        "n1",
        "sip:100@10.77.1.2",
    );
    let q = sim.sip(PHONE, &inv);
    let sipnat::proxy::Channel::Dns(h) = q[0].channel else {
        panic!("a DNS query: {q:#?}");
    };
    let now = sim.now;
    sim.core.dns_socket_failed(now, h, &mut sim.out);
    let out: Vec<_> = sim.out.iter().map(|(t, b)| (t.to, b.to_vec())).collect();
    sim.out.clear();
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].0, addr(PHONE));
    assert!(out[0].1.starts_with(b"SIP/2.0 503"));
    assert!(!sim.core.dns_in_flight(h));
    assert_eq!(sim.core.stats().get("dns", "socket-failed"), 1);
    assert_eq!(sim.core.stats().get("dns", "no-socket"), 1);
}

/// siproxd picks a domain's outbound proxy by the caller's domain, the
/// From host (`sip_find_outbound_proxy`), not by where the request goes.
#[test]
fn outbound_domain_matches_the_from_host_as_in_siproxd() {
    let conf = format!(
        "{}outbound_domain_name = 198.51.100.2\noutbound_domain_host = 198.51.100.9\n\
         outbound_domain_port = 5062\noutbound_domain_name = 198.51.100.3\n\
         outbound_domain_host = 198.51.100.8\noutbound_domain_port = 5064\n",
        config_text()
    );
    let mut sim = Sim::with_config(&conf);
    let reg = sim.one(
        PHONE,
        &register(
            "100",
            "198.51.100.2",
            PHONE,
            "odr@10.77.1.2",
            1,
            "odr",
            3600,
        ),
    );
    assert_eq!(reg.to, addr("198.51.100.9:5062"), "the REGISTER too");
    let c = reg.header("Contact").unwrap();
    sim.one(
        "198.51.100.9:5062",
        &response_to(&reg, 200, "OK", Some("reg"), &format!("Contact: {c}\r\n")),
    );
    // From 100@198.51.100.2 to bob@192.0.2.44: the From domain's proxy
    let inv = invite(
        "sip:bob@192.0.2.44",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "od1@10.77.1.2",
        "od1",
        "sip:100@10.77.1.2:5060",
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(out.to, addr("198.51.100.9:5062"), "{}", out.text);
    // From another domain, to a host that is a listed domain: not its
    // proxy (siproxd does not look at the Request-URI), straight there
    let inv = invite(
        "sip:carol@198.51.100.3",
        "100",
        "192.0.2.1",
        "10.77.1.2:5060",
        "od2@10.77.1.2",
        "od2",
        "sip:100@10.77.1.2:5060",
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(out.to, addr("198.51.100.3:5060"), "{}", out.text);
}

/// `ua_string`: what leaves for the WAN names the router's text, not the
/// phone (siproxd's proxy_rewrite_useragent); what comes in is left alone.
#[test]
fn ua_string_replaces_the_phones_user_agent_toward_the_wan() {
    let mut sim = Sim::with_config(&format!("{}ua_string = HomeRouter/1.0\n", config_text()));
    let reg = sim.one(
        PHONE,
        &register(
            "100",
            "198.51.100.2",
            PHONE,
            "ua1@10.77.1.2",
            1,
            "ua1",
            3600,
        ),
    );
    assert_eq!(
        reg.headers("User-Agent"),
        ["HomeRouter/1.0"],
        "{}",
        reg.text
    );
    assert!(!reg.text.contains("simphone"), "{}", reg.text);
    // a response from the WAN keeps its Server header
    let c = reg.header("Contact").unwrap();
    let ok = response_to(
        &reg,
        200,
        "OK",
        Some("reg"),
        &format!("Contact: {c}\r\nServer: provider-sbc\r\n"),
    );
    let back = sim.one(REGISTRAR, &ok);
    assert_eq!(back.headers("Server"), ["provider-sbc"], "{}", back.text);
    // a request without one gets it
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "ua2@10.77.1.2",
        "ua2",
        "sip:100@10.77.1.2:5060",
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(
        out.headers("User-Agent"),
        ["HomeRouter/1.0"],
        "{}",
        out.text
    );
    // the phone's answer to a call from the WAN: Server and User-Agent
    let masq_uri = contact_uri(&reg);
    let inv = invite(
        &masq_uri,
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "ua3",
        "ua3",
        "sip:alice@198.51.100.3",
    );
    let to_phone = sim.one(PEER, &inv);
    let resp = response_to(
        &to_phone,
        180,
        "Ringing",
        Some("p1"),
        "Contact: <sip:100@10.77.1.2:5060>\r\nServer: phone-fw-1.2\r\nUser-Agent: simphone\r\n",
    );
    let out = sim.one(PHONE, &resp);
    assert_eq!(out.headers("Server"), ["HomeRouter/1.0"], "{}", out.text);
    assert_eq!(
        out.headers("User-Agent"),
        ["HomeRouter/1.0"],
        "{}",
        out.text
    );
    // a line break could split the header: refused when read
    let (_, diags) = sipnat::config::parse_siproxd_conf("ua_string = a\u{7}b\n", "x.conf");
    assert!(diags.iter().any(|d| d.is_error()), "{diags:?}");
}

/// `use_rport` (siproxd's bits): 1 asks for rport in sipnat's Via toward
/// the LAN; toward the WAN sipnat always asks (RFC 3581).
#[test]
fn use_rport_adds_rport_toward_the_lan() {
    for (conf, lan_rport) in [
        ("", false),
        ("use_rport = 1\n", true),
        ("use_rport = 2\n", false),
    ] {
        let mut sim = Sim::with_config(&format!("{}rtp_proxy_enable = 0\n{conf}", config_text()));
        let reg = registered(&mut sim);
        let top = reg.headers("Via")[0].clone();
        assert!(top.ends_with(";rport"), "toward the WAN always: {top}");
        let masq_uri = contact_uri(&reg);
        let inv = invite(
            &masq_uri,
            "alice",
            "198.51.100.3",
            "198.51.100.3:5060",
            "rp1",
            "rp1",
            "sip:alice@198.51.100.3",
        );
        let to_phone = sim.one(PEER, &inv);
        let ours = to_phone.headers("Via")[0].clone();
        assert_eq!(ours.ends_with(";rport"), lan_rport, "{conf}: {ours}");
    }
    let (_, d) = sipnat::config::parse_siproxd_conf("use_rport = 4\n", "x.conf");
    assert!(d.iter().any(|d| d.is_error()), "{d:?}");
}

/// siproxd's shortdial and prefix plugins: a LAN phone's new call goes to
/// the number the dial plan makes of what it dialled (retargeted in
/// place: siproxd answers 302 and the phone calls again).
#[test]
fn shortdial_and_prefix_retarget_new_calls_from_the_lan() {
    let conf = format!(
        "{}rtp_proxy_enable = 0\nload_plugin = plugin_shortdial.so\nplugin_shortdial_akey = *00\n\
         plugin_shortdial_entry = 17474743246\nplugin_shortdial_entry = bob@198.51.100.9\n\
         load_plugin = plugin_prefix.so\nplugin_prefix_akey = 0\n",
        config_text()
    );
    let mut sim = Sim::with_config(&conf);
    let reg = registered(&mut sim);
    let call = |sim: &mut Sim, ruri: &str, id: &str| {
        let inv = invite(
            ruri,
            "100",
            "198.51.100.2",
            "10.77.1.2:5060",
            id,
            id,
            "sip:100@10.77.1.2:5060",
        );
        sim.one(PHONE, &inv)
    };
    let out = call(&mut sim, "sip:*01@198.51.100.2", "sd1");
    assert_eq!(
        out.first_line(),
        "INVITE sip:17474743246@198.51.100.2 SIP/2.0"
    );
    assert_eq!(out.to, addr("198.51.100.2:5060"));
    assert_eq!(
        out.header("To").unwrap(),
        "<sip:*01@198.51.100.2>",
        "To stays"
    );
    let out = call(&mut sim, "sip:*02@198.51.100.2", "sd2");
    assert_eq!(out.first_line(), "INVITE sip:bob@198.51.100.9 SIP/2.0");
    assert_eq!(out.to, addr("198.51.100.9:5060"), "to the entry's host");
    // not a short dial: prefixed
    let out = call(&mut sim, "sip:4930123456@198.51.100.2;user=phone", "px1");
    assert_eq!(
        out.first_line(),
        "INVITE sip:04930123456@198.51.100.2;user=phone SIP/2.0"
    );
    // *03 has no entry: an ordinary number, prefixed
    let out = call(&mut sim, "sip:*03@198.51.100.2", "sd3");
    assert_eq!(out.first_line(), "INVITE sip:0*03@198.51.100.2 SIP/2.0");
    // a call from the WAN is left alone (it goes to the phone's Contact)
    let masq_uri = contact_uri(&reg);
    let inv = invite(
        &masq_uri,
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "sd4",
        "sd4",
        "sip:alice@198.51.100.3",
    );
    let to_phone = sim.one(PEER, &inv);
    assert_eq!(
        to_phone.first_line(),
        "INVITE sip:100@10.77.1.2:5060;transport=udp SIP/2.0"
    );
}

/// siproxd's fix_bogus_via: a request from a listed network whose Via
/// names a port it does not send from (a NAT in front of it, no rport) is
/// answered at its real source port. (sipnat's own answers always go to
/// the source; this is about the responses it forwards.)
#[test]
fn fix_bogus_via_answers_the_real_source_port() {
    for (conf, want) in [
        ("", "198.51.100.3:5060"),
        (
            "load_plugin = plugin_fix_bogus_via.so\nplugin_fix_bogus_via_networks = 198.51.100.0/24\n",
            "198.51.100.3:40000",
        ),
        (
            "load_plugin = plugin_fix_bogus_via.so\nplugin_fix_bogus_via_networks = 192.0.2.0/24\n",
            "198.51.100.3:5060",
        ),
    ] {
        let mut sim = Sim::with_config(&format!("{}rtp_proxy_enable = 0\n{conf}", config_text()));
        let reg = registered(&mut sim);
        let masq_uri = contact_uri(&reg);
        // the peer's Via names 5060 without rport; it sends from 40000
        let inv = invite(
            &masq_uri,
            "alice",
            "198.51.100.3",
            "198.51.100.3:5060",
            "fbv",
            "fbv",
            "sip:alice@198.51.100.3",
        )
        .replacen(";rport", "", 1);
        let to_phone = sim.one("198.51.100.3:40000", &inv);
        let ring = response_to(
            &to_phone,
            180,
            "Ringing",
            Some("p1"),
            "Contact: <sip:100@10.77.1.2:5060>\r\n",
        );
        let out = sim.one(PHONE, &ring);
        assert_eq!(out.to, addr(want), "{conf}");
    }
}

/// siproxd's defaulttarget plugin: a new call for a user sipnat does not
/// know gets 302 to the default target instead of 404 / 403.
#[test]
fn defaulttarget_redirects_calls_for_unknown_users() {
    let conf = format!(
        "{}rtp_proxy_enable = 0\nload_plugin = plugin_defaulttarget.so\n\
         plugin_defaulttarget_target = sip:100@198.51.100.1\nplugin_defaulttarget_log = 1\n",
        config_text()
    );
    let mut sim = Sim::with_config(&conf);
    registered(&mut sim);
    // from the WAN, to a user sipnat does not know
    let inv = invite(
        "sip:nobody@198.51.100.1",
        "alice",
        "198.51.100.3",
        "198.51.100.3:5060",
        "dt1",
        "dt1",
        "sip:alice@198.51.100.3",
    );
    let ans = sim.one(PEER, &inv);
    assert_eq!(
        ans.first_line(),
        "SIP/2.0 302 Moved Temporarily",
        "{}",
        ans.text
    );
    assert_eq!(ans.header("Contact").unwrap(), "<sip:100@198.51.100.1>");
    // its ACK ends at sipnat
    let ack = inv
        .replacen("INVITE sip:nobody", "ACK sip:nobody", 1)
        .replacen("CSeq: 1 INVITE", "CSeq: 1 ACK", 1);
    assert!(sim.sip(PEER, &ack).is_empty());
    // anything but a new call is answered as before
    let opt = inv
        .replacen("INVITE sip:nobody", "OPTIONS sip:nobody", 1)
        .replacen("CSeq: 1 INVITE", "CSeq: 1 OPTIONS", 1);
    assert_eq!(sim.one(PEER, &opt).first_line(), "SIP/2.0 404 Not Found");
    // without the plugin line: 404
    let mut sim = Sim::with_config(&format!(
        "{}rtp_proxy_enable = 0\nplugin_defaulttarget_target = sip:100@198.51.100.1\n",
        config_text()
    ));
    registered(&mut sim);
    assert_eq!(sim.one(PEER, &inv).first_line(), "SIP/2.0 404 Not Found");
    let (_, d) = sipnat::config::parse_siproxd_conf(
        "plugin_defaulttarget_target = internal@pbx\n",
        "x.conf",
    );
    assert!(d.iter().any(|d| d.is_error()), "not a SIP URI: {d:?}");
}

/// What siproxd's fix_fbox_anoncall plugin repairs cannot happen in
/// sipnat: a Fritz!Box calling anonymously writes a Contact whose user is
/// not the one it registered (`anonymous`), which siproxd could not map
/// back to the phone; sipnat's Contact names the phone's address, not its
/// user, so the far end's BYE still reaches it.
#[test]
fn an_anonymous_contact_still_reaches_the_phone() {
    let mut sim = Sim::with_config(&format!("{}rtp_proxy_enable = 0\n", config_text()));
    registered(&mut sim);
    let inv = invite(
        "sip:bob@198.51.100.3",
        "anonymous",
        "anonymous.invalid",
        "10.77.1.2:5060",
        "fb1@10.77.1.2",
        "fb1",
        "sip:anonymous@10.77.1.2:5060;uniq=3F2A",
    );
    let out = sim.one(PHONE, &inv);
    assert_eq!(out.to, addr(PEER));
    let contact = out.header("Contact").unwrap();
    assert!(!contact.contains("10.77.1.2"), "{contact}");
    let uri = contact.split('>').next().unwrap().trim_start_matches('<');
    // the callee answers, then hangs up toward the Contact it was given
    let ok = response_to(
        &out,
        200,
        "OK",
        Some("b1"),
        "Contact: <sip:bob@198.51.100.3>\r\n",
    );
    sim.one(PEER, &ok);
    let bye = format!(
        "BYE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.3:5060;branch=z9hG4bKfbbye;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:bob@198.51.100.3>;tag=b1\r\n\
         To: \"Caller\" <sip:anonymous@anonymous.invalid>;tag=tagfb1\r\n\
         Call-ID: {}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        out.header("Call-ID").unwrap()
    );
    let to_phone = sim.one(PEER, &bye);
    assert_eq!(to_phone.to, addr(PHONE), "{}", to_phone.text);
    assert!(
        to_phone
            .first_line()
            .starts_with("BYE sip:anonymous@10.77.1.2:5060"),
        "{}",
        to_phone.first_line()
    );
}

/// siproxd's stripheader plugin: whole headers, or single values of one,
/// taken out of what sipnat passes on; the headers it needs are refused.
#[test]
fn stripheader_takes_headers_and_values_out() {
    let conf = format!(
        "{}rtp_proxy_enable = 0\nload_plugin = plugin_stripheader.so\n\
         plugin_stripheader_remove = User-Agent\nplugin_stripheader_remove = Supported:100rel\n",
        config_text()
    );
    let mut sim = Sim::with_config(&conf);
    registered(&mut sim);
    let inv = invite("sip:bob@198.51.100.3", "100", "198.51.100.2", "10.77.1.2:5060", "sh1", "sh1", "sip:100@10.77.1.2:5060")
        .replacen(
            "Content-Type:",
            "User-Agent: phone/1\r\nSupported: replaces, 100rel, timer\r\nSupported: 100rel\r\nContent-Type:",
            1,
        );
    let out = sim.one(PHONE, &inv);
    assert!(out.headers("User-Agent").is_empty(), "{}", out.text);
    assert_eq!(
        out.headers("Supported"),
        ["replaces, timer"],
        "{}",
        out.text
    );
    // without the plugin line nothing is taken out
    let mut sim = Sim::with_config(&format!(
        "{}rtp_proxy_enable = 0\nplugin_stripheader_remove = User-Agent\n",
        config_text()
    ));
    registered(&mut sim);
    assert_eq!(sim.one(PHONE, &inv).headers("User-Agent"), ["phone/1"]);
    for bad in ["Via", "call-id", "Contact:x", "Bad Header"] {
        let (_, d) = sipnat::config::parse_siproxd_conf(
            &format!("plugin_stripheader_remove = {bad}\n"),
            "x.conf",
        );
        assert!(d.iter().any(|d| d.is_error()), "{bad}: {d:?}");
    }
}
