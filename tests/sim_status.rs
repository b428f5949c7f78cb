//! The status the control socket serves (`sipnat status [--json]`), made
//! from a simulated core: a registered phone and an established call with
//! RTP both ways must appear in it with the values the signalling and the
//! media set, in schema 1 (tests/status_schema).

mod common;
mod status_schema;
use common::media::*;
use common::*;
use serde_json::Value;
use sipnat::status::{self, Info, Section};
use std::time::Duration;

const INFO: Info<'static> = Info {
    instance: "general",
    pid: 4242,
    unix_now: 1_800_000_100,
    started_unix: 1_800_000_000,
    tcp_connections: 0,
    kernel_off: Some("rtp_kernel_forward is 0"),
};

fn json(sim: &Sim, section: Section) -> Value {
    let mut out = String::new();
    status::write_json(&sim.core, &INFO, sim.now, section, &mut out);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn text(sim: &Sim, section: Section) -> String {
    let mut out = String::new();
    status::write_text(&sim.core, &INFO, sim.now, section, &mut out);
    out
}

/// A phone registered with the provider and in a call with the peer, RTP
/// having gone 3 times phone → peer and twice back; 7 s later.
fn busy_sim() -> (Sim, u16) {
    let mut sim = Sim::new();
    register_phone(&mut sim);
    let (_, _, port) = call_out(
        &mut sim,
        "st1@10.77.1.2",
        "st1",
        &sdp("198.51.100.3", 5000, ""),
    );
    for _ in 0..3 {
        packet(&mut sim, port, "10.77.1.2:4000");
    }
    for _ in 0..2 {
        packet(&mut sim, port, "198.51.100.3:5000");
    }
    sim.advance(Duration::from_secs(7));
    (sim, port)
}

#[test]
fn an_idle_proxy_has_every_key_of_the_schema() {
    let sim = Sim::new();
    let v = json(&sim, Section::All);
    status_schema::check_instance(&v);
    assert_eq!(v["instance"], "general");
    assert_eq!(v["pid"], 4242);
    assert_eq!(v["uptime"], 100);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["registrations"]["count"], 0);
    assert_eq!(v["calls"]["list"], Value::Array(vec![]));
    assert_eq!(v["config"]["sip_listen_port"], 5060);
    assert_eq!(v["config"]["wan_address"], "198.51.100.1");
    assert_eq!(v["config"]["public_address"], "198.51.100.1");
    assert_eq!(v["relay"]["capacity"], 10);
    // idle: only the spare pairs are bound
    assert_eq!(v["relay"]["bound"], 8);
    assert_eq!(v["relay"]["spares"], 8);
}

#[test]
fn registrations_and_calls_show_what_happened() {
    let (sim, port) = busy_sim();
    let v = json(&sim, Section::All);
    status_schema::check_instance(&v);

    let regs = v["registrations"]["list"].as_array().unwrap();
    assert_eq!(regs.len(), 1, "{v}");
    let r = &regs[0];
    assert_eq!(r["aor"], "100@198.51.100.2");
    assert_eq!(r["address"], "10.77.1.2:5060");
    assert_eq!(r["transport"], "udp");
    assert_eq!(r["registrar"], "provider");
    assert_eq!(r["confirmed"], true);
    assert!(r["contact"].as_str().unwrap().contains("10.77.1.2"), "{r}");
    let left = r["expires"].as_u64().unwrap();
    assert!((3500..=3600).contains(&left), "{r}");

    let calls = v["calls"]["list"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{v}");
    let c = &calls[0];
    assert_eq!(c["from"], "sip:100@198.51.100.2");
    assert_eq!(c["to"], "sip:bob@198.51.100.3");
    assert_eq!(c["direction"], "outgoing");
    assert_eq!(c["state"], "established");
    assert_eq!(c["hold"], false);
    assert_eq!(c["duration"], 7);
    assert_eq!(c["started"], 1_800_000_100 - 7);
    let s = &c["streams"][0];
    assert_eq!(s["port"], port);
    let legs = s["legs"].as_array().unwrap();
    let lan = legs.iter().find(|l| l["side"] == "lan").unwrap();
    let wan = legs.iter().find(|l| l["side"] == "wan").unwrap();
    assert_eq!(lan["expected"], "10.77.1.2:4000");
    assert_eq!(lan["latched"], "10.77.1.2:4000");
    assert_eq!(lan["packets"], 3);
    assert_eq!(lan["bytes"], 3 * 172);
    assert_eq!(wan["latched"], "198.51.100.3:5000");
    assert_eq!(wan["packets"], 2);

    assert_eq!(v["relay"]["streams"], 1);
    assert_eq!(v["relay"]["bound"], 9, "the stream's pair and 8 spares");
    assert_eq!(v["relay"]["no_port"], 0);
    assert_eq!(v["relay"]["forwarded_packets"], 5);
    assert!(v["counters"].as_object().unwrap().len() > 1, "{v}");
}

#[test]
fn one_section_alone() {
    let (sim, _) = busy_sim();
    let v = json(&sim, Section::Calls);
    // serde_json keeps keys sorted.
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["calls", "instance", "schema", "version"]);
    status_schema::check_calls(&v["calls"]);
    assert_eq!(v["calls"]["count"], 1);
    let v = json(&sim, Section::Registrations);
    // serde_json keeps keys sorted.
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["instance", "registrations", "schema", "version"]);
    status_schema::check_registrations(&v["registrations"]);
}

#[test]
fn a_hung_up_call_leaves_the_status() {
    let (mut sim, _) = busy_sim();
    let bye = "BYE sip:bob@198.51.100.3 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.77.1.2:5060;branch=z9hG4bKbye1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:100@198.51.100.2>;tag=tagst1\r\n\
         To: <sip:bob@198.51.100.3>;tag=b1\r\n\
         Call-ID: st1@10.77.1.2\r\n\
         CSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n";
    sim.sip(PHONE, bye);
    let v = json(&sim, Section::Calls);
    assert_eq!(v["calls"]["count"], 0, "{v}");
}

#[test]
fn the_table_for_people_says_the_same() {
    let (sim, port) = busy_sim();
    let t = text(&sim, Section::All);
    for want in [
        "instance general pid 4242 up 1:40",
        "\nLAN 10.77.1.1/24 (lan0)  WAN 198.51.100.1 (wan0)  SIP port 5060 (UDP, TCP)\n",
        "\nDNS: nameservers 198.51.100.53:53; 0 cached, 0 in flight\n",
        "Registrations: 1/512",
        "100@198.51.100.2",
        "10.77.1.2:5060",
        "Calls: 1/1024",
        "sip:100@198.51.100.2 -> sip:bob@198.51.100.3  outgoing established 0:07",
        &format!(
            "port {port}: lan 10.77.1.2:4000 3 packets 516 bytes; wan 198.51.100.3:5000 2 packets"
        ),
        // the stream's pair and 8 spares: pairs are bound as calls need them
        "Relay: 1/10 streams (ports 7070-7089, 9 pairs bound)",
        "Counters:",
    ] {
        assert!(t.contains(want), "no '{want}' in:\n{t}");
    }
}

#[test]
fn the_stats_plugin_line_counts_like_siproxd() {
    let (sim, _) = busy_sim();
    assert_eq!(
        status::stats_line(&sim.core),
        "STATS: 1 active Streams, 1 active Calls, 1 active Clients, 1 registered Clients"
    );
    let file = status::stats_file(&sim.core, &INFO, sim.now);
    assert!(
        file.starts_with("Date: 2027-01-15 08:01:40 UTC\nPID:  4242\n\nSTATS: 1 active"),
        "{file}"
    );
    assert!(file.contains("Calls: 1/1024"), "{file}");
}
