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
