//! Proxy authentication and the blacklist through the core with a virtual
//! clock (issue 11): the 407 challenge (SHA-256 offered before MD5, RFC
//! 8760 §2.4), credentials that pass and are removed before the request
//! goes on, the provider's credentials passed untouched, and every way a
//! check can fail: wrong password, unknown user, stale nonce, replayed
//! nonce count, missing qop; which requests are asked (out-of-dialog LAN
//! requests) and which are not (ACK, CANCEL, in-dialog, WAN, a keep-alive
//! OPTIONS to sipnat); the password file's HA1 entries; sipnat as the
//! registrar; the blacklist after a burst of wrong passwords.

mod common;
use common::*;
use sipnat::auth::{
    Algorithm,
    digest::{ha1, response},
};
use std::time::Duration;

const REALM: &str = "home";

fn sim(extra: &str) -> Sim {
    Sim::with_config(&format!(
        "{}proxy_auth_realm = {REALM}\nproxy_auth_passwd = secret\n{extra}",
        config_text()
    ))
}

fn reg(branch: &str, cseq: u32) -> String {
    register(
        "100",
        "198.51.100.2",
        PHONE,
        "auth-reg@10.77.1.2",
        cseq,
        branch,
        600,
    )
}

/// The challenges of a 407: (algorithm, nonce, stale) in order.
fn challenges(s: &Sent) -> Vec<(String, String, bool)> {
    assert!(
        s.first_line()
            .starts_with("SIP/2.0 407 Proxy Authentication Required"),
        "{}",
        s.text
    );
    s.headers("Proxy-Authenticate")
        .iter()
        .map(|h| {
            assert!(h.starts_with("Digest "), "{h}");
            assert!(h.contains(&format!("realm=\"{REALM}\"")), "{h}");
            assert!(h.contains("qop=\"auth\""), "{h}");
            let param = |name: &str| {
                h.split([',', ' '])
                    .find_map(|p| p.trim().strip_prefix(&format!("{name}=")))
                    .map(|v| v.trim_matches('"').to_string())
            };
            (
                param("algorithm").unwrap(),
                param("nonce").unwrap(),
                param("stale").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            )
        })
        .collect()
}

/// The request with credentials as a phone would compute them.
#[allow(clippy::too_many_arguments)]
fn with_credentials(
    req: &str,
    user: &str,
    password: &str,
    alg: Algorithm,
    nonce: &str,
    nc: u32,
    qop: bool,
) -> String {
    let first = req.lines().next().unwrap();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap();
    let uri = parts.next().unwrap();
    let h1 = ha1(alg, user, REALM, password);
    let nc_text = format!("{nc:08x}");
    let resp = response(alg, &h1, nonce, &nc_text, "c0ffee", "auth", method, uri);
    let qop_part = if qop {
        format!(", qop=auth, nc={nc_text}, cnonce=\"c0ffee\"")
    } else {
        String::new()
    };
    let header = format!(
        "Proxy-Authorization: Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{resp}\", algorithm={}{qop_part}\r\n",
        alg.name()
    );
    req.replacen("Content-Length:", &format!("{header}Content-Length:"), 1)
}

fn first_nonce(sim: &mut Sim, req: &str) -> String {
    let c = sim.one(PHONE, req);
    assert_eq!(c.to, addr(PHONE));
    let ch = challenges(&c);
    assert_eq!(ch.len(), 2, "{}", c.text);
    ch[0].1.clone()
}

fn status(sim: &Sim) -> String {
    sim.core.status_text()
}

#[test]
fn a_register_is_challenged_sha256_first_and_passes_without_our_credentials() {
    let mut sim = sim("");
    let c = sim.one(PHONE, &reg("a1", 1));
    let ch = challenges(&c);
    assert_eq!(ch.len(), 2);
    assert_eq!((ch[0].0.as_str(), ch[1].0.as_str()), ("SHA-256", "MD5"));
    assert_eq!(ch[0].1, ch[1].1, "one nonce for both");
    assert!(!ch[0].2, "not stale");
    for alg in [Algorithm::Sha256, Algorithm::Md5] {
        let nonce = first_nonce(&mut sim, &reg("a2", 2));
        let out = sim.one(
            PHONE,
            &with_credentials(&reg("a3", 3), "100", "secret", alg, &nonce, 1, true),
        );
        assert_eq!(out.to, addr(REGISTRAR), "{:?}: {}", alg, out.text);
        assert!(
            !out.text.contains("Proxy-Authorization"),
            "our credentials went on: {}",
            out.text
        );
    }
    assert!(
        sim.core.stats().get("auth", "passed") == 2,
        "{}",
        status(&sim)
    );
}

#[test]
fn wrong_password_unknown_user_and_missing_qop_are_challenged_again() {
    let mut sim = sim("");
    for (user, pw, qop, counter) in [
        ("100", "wrong", true, "wrong-password"),
        ("999", "wrong", true, "wrong-password"),
        ("100", "secret", false, "malformed"),
    ] {
        let nonce = first_nonce(&mut sim, &reg("w1", 1));
        let again = sim.one(
            PHONE,
            &with_credentials(&reg("w2", 2), user, pw, Algorithm::Md5, &nonce, 1, qop),
        );
        let ch = challenges(&again);
        assert!(!ch[0].2, "{user}: not stale");
        let n = sim.core.stats().get("auth", counter)
            + if counter == "wrong-password" {
                sim.core.stats().get("auth", "unknown-user")
            } else {
                0
            };
        assert!(n >= 1, "{counter}: {}", status(&sim));
    }
    // With a single proxy_auth_passwd every user name shares the password
    // (siproxd's meaning). The password file tells unknown users apart
    // (below).
}

#[test]
fn stale_and_replayed_nonces_get_stale_true_and_counts_must_grow() {
    let mut sim = sim("");
    let nonce = first_nonce(&mut sim, &reg("s1", 1));
    let ok = with_credentials(
        &reg("s2", 2),
        "100",
        "secret",
        Algorithm::Sha256,
        &nonce,
        1,
        true,
    );
    assert_eq!(sim.one(PHONE, &ok).to, addr(REGISTRAR));
    // The same request again, nc 1 again: a replay.
    let replay = sim.one(PHONE, &ok);
    assert!(challenges(&replay)[0].2, "stale=true for a replay");
    assert_eq!(sim.core.stats().get("auth", "replay"), 1);
    // The next count on the same nonce passes.
    let next = with_credentials(
        &reg("s3", 3),
        "100",
        "secret",
        Algorithm::Sha256,
        &nonce,
        2,
        true,
    );
    assert_eq!(sim.one(PHONE, &next).to, addr(REGISTRAR));
    // After the nonce's lifetime: stale.
    sim.advance(Duration::from_secs(301));
    let late = with_credentials(
        &reg("s4", 4),
        "100",
        "secret",
        Algorithm::Sha256,
        &nonce,
        3,
        true,
    );
    let c = sim.one(PHONE, &late);
    assert!(challenges(&c)[0].2, "stale=true after the lifetime");
    // Credentials computed for another Request-URI do not move to this one.
    let moved = with_credentials(
        &reg("s6", 6),
        "100",
        "secret",
        Algorithm::Sha256,
        &nonce,
        4,
        true,
    )
    .replacen(
        "REGISTER sip:198.51.100.2 ",
        "REGISTER sip:198.51.100.9 ",
        1,
    );
    let c = sim.one(PHONE, &moved);
    assert!(!challenges(&c)[0].2);
    assert_eq!(sim.core.stats().get("auth", "malformed"), 1);
    // A nonce sipnat never issued (another run's): challenged as stale.
    let forged = with_credentials(
        &reg("s5", 5),
        "100",
        "secret",
        Algorithm::Sha256,
        "00000000deadbeefdeadbeefdeadbeef",
        1,
        true,
    );
    assert!(challenges(&sim.one(PHONE, &forged))[0].2);
}

#[test]
fn the_providers_credentials_pass_untouched() {
    let mut sim = sim("");
    let nonce = first_nonce(&mut sim, &reg("p1", 1));
    let provider = "Authorization: Digest username=\"100\", realm=\"provider\", nonce=\"pn\", \
                    uri=\"sip:198.51.100.2\", response=\"00112233445566778899aabbccddeeff\"\r\n\
                    Proxy-Authorization: Digest username=\"100\", realm=\"provider-proxy\", \
                    nonce=\"pn2\", uri=\"sip:198.51.100.2\", response=\"ffeeddccbbaa99887766554433221100\"\r\n";
    let req = reg("p2", 2).replacen("Content-Length:", &format!("{provider}Content-Length:"), 1);
    let out = sim.one(
        PHONE,
        &with_credentials(&req, "100", "secret", Algorithm::Md5, &nonce, 1, true),
    );
    assert_eq!(out.to, addr(REGISTRAR));
    assert!(
        out.header("Authorization")
            .unwrap()
            .contains("realm=\"provider\"")
    );
    let pa = out.headers("Proxy-Authorization");
    assert_eq!(pa.len(), 1, "{}", out.text);
    assert!(pa[0].contains("realm=\"provider-proxy\""));
}

#[test]
fn which_requests_are_asked() {
    let mut sim = sim("");
    // An INVITE outside a dialog is asked.
    let inv = invite(
        "sip:bob@198.51.100.3",
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        "ask1@10.77.1.2",
        "ask1",
        "sip:100@10.77.1.2:5060",
    );
    let c = sim.one(PHONE, &inv);
    assert_eq!(challenges(&c).len(), 2);
    // A keep-alive OPTIONS to sipnat itself is answered, not asked.
    let ping = "OPTIONS sip:10.77.1.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKping\r\n\
                Max-Forwards: 70\r\nFrom: <sip:100@198.51.100.2>;tag=p\r\nTo: <sip:10.77.1.1>\r\n\
                Call-ID: ping@10.77.1.2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    assert!(sim.one(PHONE, ping).first_line().starts_with("SIP/2.0 200"));
    // A request from the WAN is never asked for sipnat's credentials.
    let from_wan = invite(
        "sip:100@198.51.100.1",
        "bob",
        "198.51.100.3",
        "198.51.100.3:5060",
        "wan1",
        "wan1",
        "sip:bob@198.51.100.3",
    );
    for s in sim.sip(PEER, &from_wan) {
        assert!(!s.first_line().contains(" 407 "), "{}", s.text);
    }
    // ACK and CANCEL are never challenged (RFC 3261 §22.1).
    let cancel = inv
        .replace("INVITE sip:bob", "CANCEL sip:bob")
        .replace("1 INVITE", "1 CANCEL");
    for s in sim.sip(PHONE, &cancel) {
        assert!(!s.first_line().contains(" 407 "), "{}", s.text);
    }
    assert_eq!(
        sim.core.stats().get("auth", "challenged"),
        1,
        "{}",
        status(&sim)
    );
}

#[test]
fn the_password_file_takes_plaintext_and_ha1_and_tells_unknown_users() {
    let mut sim = Sim::with_config(&format!(
        "{}proxy_auth_realm = {REALM}\nproxy_auth_pwfile = /nonexistent/by/the/sim\n",
        config_text()
    ));
    let md5 = ha1(Algorithm::Md5, "101", REALM, "pw101");
    let sha = ha1(Algorithm::Sha256, "101", REALM, "pw101");
    let text = format!("# users\n100 secret\n101 md5:{md5}\n101 sha-256:{sha}\n");
    let pw = sipnat::auth::pwfile::parse(&text, REALM).unwrap();
    sim.core.proxy.set_passwords(pw);
    for (user, pw, alg) in [
        ("100", "secret", Algorithm::Sha256),
        ("101", "pw101", Algorithm::Md5),
        ("101", "pw101", Algorithm::Sha256),
    ] {
        let r = register(
            user,
            "198.51.100.2",
            PHONE,
            &format!("{user}{}@x", alg.name()),
            1,
            "f1",
            600,
        );
        let nonce = first_nonce(&mut sim, &r);
        let r2 = register(
            user,
            "198.51.100.2",
            PHONE,
            &format!("{user}{}@x", alg.name()),
            2,
            "f2",
            600,
        );
        let out = sim.one(
            PHONE,
            &with_credentials(&r2, user, pw, alg, &nonce, 1, true),
        );
        assert_eq!(
            out.to,
            addr(REGISTRAR),
            "{user} {}: {}",
            alg.name(),
            out.text
        );
    }
    let r = register("555", "198.51.100.2", PHONE, "u@x", 1, "u1", 600);
    let nonce = first_nonce(&mut sim, &r);
    let r2 = register("555", "198.51.100.2", PHONE, "u@x", 2, "u2", 600);
    let c = sim.one(
        PHONE,
        &with_credentials(&r2, "555", "x", Algorithm::Md5, &nonce, 1, true),
    );
    assert_eq!(challenges(&c).len(), 2);
    assert_eq!(sim.core.stats().get("auth", "unknown-user"), 1);
}

#[test]
fn sipnat_as_the_registrar_asks_too() {
    let mut sim = sim("");
    let local = "REGISTER sip:10.77.1.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKloc1\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:100@10.77.1.1>;tag=l\r\nTo: <sip:100@10.77.1.1>\r\n\
                 Call-ID: loc@10.77.1.2\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@10.77.1.2:5060>\r\n\
                 Expires: 600\r\nContent-Length: 0\r\n\r\n";
    let nonce = first_nonce(&mut sim, local);
    let ok = sim.one(
        PHONE,
        &with_credentials(
            &local
                .replace("z9hG4bKloc1", "z9hG4bKloc2")
                .replace("1 REGISTER", "2 REGISTER"),
            "100",
            "secret",
            Algorithm::Sha256,
            &nonce,
            1,
            true,
        ),
    );
    assert!(ok.first_line().starts_with("SIP/2.0 200"), "{}", ok.text);
    assert_eq!(sim.core.proxy.registrations().len(), 1);
}

#[test]
fn a_burst_of_wrong_passwords_blacklists_the_client_not_its_neighbours() {
    let mut sim = sim(
        "load_plugin = plugin_blacklist.so\nplugin_blacklist_hitcount = 3\n\
         plugin_blacklist_duration = 60\n",
    );
    for i in 0..3 {
        let nonce = first_nonce(&mut sim, &reg(&format!("b{i}"), 1));
        let c = sim.one(
            PHONE,
            &with_credentials(
                &reg(&format!("c{i}"), 2),
                "100",
                "wrong",
                Algorithm::Md5,
                &nonce,
                1,
                true,
            ),
        );
        assert!(c.first_line().contains(" 407 "), "{}", c.text);
    }
    assert_eq!(sim.core.stats().get("blacklist", "blocked"), 1);
    // Blocked: even the right password gets 403 now, with no challenge.
    let blocked = sim.one(PHONE, &reg("d1", 3));
    assert!(
        blocked
            .first_line()
            .starts_with("SIP/2.0 403 Forbidden (blacklisted)"),
        "{}",
        blocked.text
    );
    // Another account from the same address is not blocked.
    let other = register("101", "198.51.100.2", PHONE, "o@x", 1, "o1", 600);
    assert!(sim.one(PHONE, &other).first_line().contains(" 407 "));
    // After the duration the client may try again.
    sim.advance(Duration::from_secs(61));
    assert!(sim.one(PHONE, &reg("e1", 4)).first_line().contains(" 407 "));
    let st = status(&sim);
    assert!(st.contains("blacklist.refused 1"), "{st}");
}

#[test]
fn simulate_only_counts() {
    let mut sim = sim(
        "load_plugin = plugin_blacklist\nplugin_blacklist_hitcount = 1\nplugin_blacklist_simulate = 1\n",
    );
    let nonce = first_nonce(&mut sim, &reg("m1", 1));
    sim.one(
        PHONE,
        &with_credentials(
            &reg("m2", 2),
            "100",
            "wrong",
            Algorithm::Md5,
            &nonce,
            1,
            true,
        ),
    );
    assert!(sim.one(PHONE, &reg("m3", 3)).first_line().contains(" 407 "));
    assert_eq!(sim.core.stats().get("blacklist", "would-refuse"), 1);
}

/// siproxd's own rule, with or without `proxy_auth_realm`: the provider's
/// 4xx to a REGISTER that carried credentials counts; its 401 to one
/// without (the first step of every registration) does not.
#[test]
fn the_providers_refusals_of_credentials_blacklist_the_client() {
    let mut sim = Sim::with_config(&format!(
        "{}load_plugin = plugin_blacklist.so\nplugin_blacklist_hitcount = 2\n",
        config_text()
    ));
    let out = sim.one(PHONE, &reg("q0", 1));
    assert_eq!(out.to, addr(REGISTRAR));
    let challenge = "WWW-Authenticate: Digest realm=\"provider\", nonce=\"n\"\r\n";
    sim.one(
        REGISTRAR,
        &response_to(&out, 401, "Unauthorized", Some("r"), challenge),
    );
    let creds = "Authorization: Digest username=\"100\", realm=\"provider\", nonce=\"n\", \
                 uri=\"sip:198.51.100.2\", response=\"00112233445566778899aabbccddeeff\"\r\n";
    for i in 1..=2u32 {
        let r = reg(&format!("q{i}"), i + 1).replacen(
            "Content-Length:",
            &format!("{creds}Content-Length:"),
            1,
        );
        let out = sim.one(PHONE, &r);
        assert_eq!(out.to, addr(REGISTRAR));
        let back = sim.one(
            REGISTRAR,
            &response_to(&out, 403, "Forbidden", Some("r"), ""),
        );
        assert_eq!(back.to, addr(PHONE));
    }
    assert_eq!(sim.core.stats().get("blacklist", "provider-refused"), 2);
    let blocked = sim.one(PHONE, &reg("q9", 9));
    assert!(
        blocked
            .first_line()
            .starts_with("SIP/2.0 403 Forbidden (blacklisted)"),
        "{}",
        blocked.text
    );
}

/// A request that passed the door and then waited for DNS is not asked
/// again when it is retried (its nonce count would look replayed).
#[test]
fn a_request_that_waited_for_dns_is_not_asked_twice() {
    let mut sim = sim("");
    let to_name = |branch: &str, cseq: u32| {
        reg(branch, cseq).replace("REGISTER sip:198.51.100.2 ", "REGISTER sip:provider.test ")
    };
    let nonce = first_nonce(&mut sim, &to_name("n1", 1));
    let q = sim.sip(
        PHONE,
        &with_credentials(
            &to_name("n2", 2),
            "100",
            "secret",
            Algorithm::Md5,
            &nonce,
            1,
            true,
        ),
    );
    assert_eq!(q.len(), 1, "{q:#?}");
    assert_eq!(q[0].to, addr(DNS_SERVER), "parked for DNS");
    let mut nx = q[0].bytes.clone();
    nx[2] = 0x81;
    nx[3] = 0x83;
    let q2 = sim.dns(DNS_SERVER, &nx);
    let fwd = sim.dns(
        DNS_SERVER,
        &dns_reply(&q2[0].bytes, &[(1, vec![198, 51, 100, 2])]),
    );
    assert_eq!(fwd.len(), 1, "{fwd:#?}");
    assert_eq!(fwd[0].to, addr(REGISTRAR), "{}", fwd[0].text);
    assert_eq!(sim.core.stats().get("auth", "replay"), 0);
}
