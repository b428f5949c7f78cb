//! siproxd's logcall plugin, built in (`load_plugin = plugin_logcall.so`,
//! or the old `log_calls = 1`): one line as a call starts, one as it ends
//! with how and how long, for each call once (a retransmitted INVITE adds
//! nothing); per request for calls whose media is not relayed.

mod common;
use common::media::*;
use common::*;
use std::sync::Mutex;
use std::time::Duration;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            LINES.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

/// The call lines logged so far that mention `needle`.
fn lines(needle: &str) -> Vec<String> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("call") && l.contains(needle))
        .cloned()
        .collect()
}

fn answer(sim: &mut Sim, inv: &Sent, code: u16, reason: &str, peer_sdp: Option<&str>) -> Sent {
    let r = response_to(
        inv,
        code,
        reason,
        Some("b1"),
        "Contact: <sip:bob@198.51.100.3>\r\n",
    );
    let r = match peer_sdp {
        Some(b) => with_body(&r, b),
        None => r,
    };
    sim.one(PEER, &r)
}

fn invite_to(sim: &mut Sim, callee: &str, call: &str, branch: &str) -> (String, Sent) {
    let inv = invite(
        &format!("sip:{callee}@198.51.100.3"),
        "100",
        "198.51.100.2",
        "10.77.1.2:5060",
        call,
        branch,
        "sip:100@10.77.1.2:5060",
    );
    let inv = with_body(&inv, &sdp("10.77.1.2", 4000, ""));
    let out = sim.one(PHONE, &inv);
    (inv, out)
}

fn bye(callee: &str, call: &str, branch: &str) -> String {
    format!(
        "BYE sip:{callee}@198.51.100.3 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKbye{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:100@198.51.100.2>;tag=tag{branch}\r\n\
         To: <sip:{callee}@198.51.100.3>;tag=b1\r\n\
         Call-ID: {call}\r\n\
         CSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn each_call_is_logged_once_as_it_starts_and_ends() {
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Info);
    let peer = sdp("198.51.100.3", 5000, "");

    // on: an answered call, its INVITE retransmitted, hung up after 7 s
    let mut sim = Sim::with_config(&format!(
        "{}load_plugin = plugin_logcall.so\n",
        config_text()
    ));
    register_phone(&mut sim);
    let (inv, out) = invite_to(&mut sim, "alba", "l1@10.77.1.2", "l1");
    sim.sip(PHONE, &inv);
    answer(&mut sim, &out, 200, "OK", Some(&peer));
    sim.advance(Duration::from_secs(7));
    sim.sip(PHONE, &bye("alba", "l1@10.77.1.2", "l1"));
    assert_eq!(
        lines("alba"),
        [
            "call: outgoing sip:100@198.51.100.2 -> sip:alba@198.51.100.3",
            "call ended (BYE): sip:100@198.51.100.2 -> sip:alba@198.51.100.3, 0:00:07"
        ]
    );

    // a busy callee
    let (_, out) = invite_to(&mut sim, "bea", "l2@10.77.1.2", "l2");
    answer(&mut sim, &out, 486, "Busy Here", None);
    assert_eq!(
        lines("bea")[1],
        "call ended (failed 486): sip:100@198.51.100.2 -> sip:bea@198.51.100.3, not answered"
    );

    // the old switch does the same; an unanswered call freed by its timer
    let mut sim = Sim::with_config(&format!("{}log_calls = 1\n", config_text()));
    register_phone(&mut sim);
    invite_to(&mut sim, "cira", "l3@10.77.1.2", "l3");
    sim.advance(Duration::from_secs(40));
    let l = lines("cira");
    assert_eq!(l.len(), 2, "{l:?}");
    assert!(
        l[1].starts_with("call ended (unanswered-no-response)"),
        "{l:?}"
    );

    // media not relayed: per request, as siproxd
    let mut sim = Sim::with_config(&format!(
        "{}rtp_proxy_enable = 0\nload_plugin = plugin_logcall.so\n",
        config_text()
    ));
    register_phone(&mut sim);
    let (_, out) = invite_to(&mut sim, "dora", "l4@10.77.1.2", "l4");
    answer(&mut sim, &out, 200, "OK", Some(&peer));
    sim.sip(PHONE, &bye("dora", "l4@10.77.1.2", "l4"));
    assert_eq!(
        lines("dora"),
        [
            "call: INVITE sip:100@198.51.100.2 -> sip:dora@198.51.100.3 from 10.77.1.2:5060 (media not relayed)",
            "call: BYE sip:100@198.51.100.2 -> sip:dora@198.51.100.3 from 10.77.1.2:5060 (media not relayed)"
        ]
    );

    // off (the default): nothing
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let (_, out) = invite_to(&mut sim, "eve", "l5@10.77.1.2", "l5");
    answer(&mut sim, &out, 200, "OK", Some(&peer));
    sim.sip(PHONE, &bye("eve", "l5@10.77.1.2", "l5"));
    assert!(lines("eve").is_empty(), "{:?}", lines("eve"));
}
