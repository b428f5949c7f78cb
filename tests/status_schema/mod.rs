//! The status JSON's schema 1 (README "Status", src/status/mod.rs), checked
//! key by key and type by type: shared by the simulation (tests/sim_status.rs)
//! and the real binary's tests (tests/binary_status.rs).

#![allow(dead_code)]

use serde_json::Value;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `obj[key]` exists and has one of the kinds `want` ("string|null").
fn has(obj: &Value, key: &str, want: &str) {
    let v = obj
        .get(key)
        .unwrap_or_else(|| panic!("missing key '{key}' in {obj}"));
    assert!(
        want.split('|').any(|k| k == kind(v)),
        "'{key}' is {} ({v}), want {want}",
        kind(v)
    );
}

/// Exactly these keys, no others (a new key must be added to the README
/// and here).
fn keys(obj: &Value, want: &[&str]) {
    let got: Vec<&String> = obj.as_object().expect("object").keys().collect();
    for k in &got {
        assert!(
            want.contains(&k.as_str()),
            "undocumented key '{k}' in {obj}"
        );
    }
    for k in want {
        assert!(obj.get(*k).is_some(), "missing key '{k}' in {obj}");
    }
}

/// An instance object answered for `status json` (every section).
pub fn check_instance(v: &Value) {
    keys(
        v,
        &[
            "schema",
            "instance",
            "version",
            "pid",
            "started",
            "uptime",
            "config",
            "registrations",
            "calls",
            "relay",
            "tcp",
            "blacklist",
            "dns",
            "counters",
        ],
    );
    assert_eq!(v["schema"], 1);
    has(v, "instance", "string");
    has(v, "version", "string");
    for k in ["pid", "started", "uptime"] {
        has(v, k, "number");
    }
    let c = &v["config"];
    keys(
        c,
        &[
            "sip_listen_port",
            "if_inbound",
            "if_outbound",
            "host_outbound",
            "lan_addresses",
            "wan_address",
            "wan_address6",
            "public_address",
            "rtp_proxy_enable",
            "rtp_port_low",
            "rtp_port_high",
            "rtp_timeout",
            "outbound_proxy",
            "proxy_auth_realm",
            "user",
            "debug_level",
        ],
    );
    for k in [
        "sip_listen_port",
        "rtp_port_low",
        "rtp_port_high",
        "rtp_timeout",
        "debug_level",
    ] {
        has(c, k, "number");
    }
    for k in [
        "if_inbound",
        "if_outbound",
        "host_outbound",
        "wan_address",
        "wan_address6",
        "public_address",
        "outbound_proxy",
        "proxy_auth_realm",
        "user",
    ] {
        has(c, k, "string|null");
    }
    has(c, "lan_addresses", "array");
    has(c, "rtp_proxy_enable", "bool");
    check_registrations(&v["registrations"]);
    check_calls(&v["calls"]);
    let r = &v["relay"];
    keys(
        r,
        &[
            "enabled",
            "streams",
            "capacity",
            "bound",
            "spares",
            "forwarded_packets",
            "forwarded_bytes",
            "latches",
            "held",
            "flushed",
            "pool_full",
            "no_port",
            "bind_in_use",
            "bind_failed",
            "timed_out",
            "kernel",
            "dropped",
        ],
    );
    has(r, "enabled", "bool");
    let k = &r["kernel"];
    keys(
        k,
        &[
            "on",
            "off_because",
            "channels",
            "handovers",
            "taken_back",
            "missed",
            "failed",
        ],
    );
    has(k, "on", "bool");
    has(k, "off_because", "string|null");
    assert_eq!(k["on"].as_bool(), Some(k["off_because"].is_null()), "{k}");
    has(r, "dropped", "object");
    for (_, n) in r["dropped"].as_object().unwrap() {
        assert!(n.is_u64(), "{r}");
    }
    keys(&v["tcp"], &["connections", "capacity"]);
    has(v, "blacklist", "object|null");
    if v["blacklist"].is_object() {
        keys(&v["blacklist"], &["entries", "capacity"]);
    }
    let d = &v["dns"];
    keys(d, &["nameservers", "pending", "cache"]);
    for e in d["cache"].as_array().expect("dns.cache") {
        keys(e, &["name", "type", "answers", "ttl"]);
        assert!(e["type"] == "A" || e["type"] == "SRV", "{e}");
        has(e, "answers", "array");
        has(e, "ttl", "number");
    }
    has(v, "counters", "object");
    for (k, n) in v["counters"].as_object().unwrap() {
        assert!(
            k.contains('.') && n.as_u64().is_some_and(|n| n > 0),
            "{k}: {n}"
        );
    }
}

pub fn check_registrations(r: &Value) {
    keys(r, &["count", "capacity", "list"]);
    let list = r["list"].as_array().expect("registrations.list");
    assert_eq!(r["count"].as_u64(), Some(list.len() as u64));
    for e in list {
        keys(
            e,
            &[
                "aor",
                "contact",
                "address",
                "transport",
                "expires",
                "confirmed",
                "registrar",
            ],
        );
        for k in ["aor", "contact", "address"] {
            has(e, k, "string");
        }
        assert!(e["transport"] == "udp" || e["transport"] == "tcp", "{e}");
        assert!(
            e["registrar"] == "provider" || e["registrar"] == "local",
            "{e}"
        );
        has(e, "expires", "number");
        has(e, "confirmed", "bool");
    }
}

pub fn check_calls(c: &Value) {
    keys(c, &["count", "capacity", "list"]);
    let list = c["list"].as_array().expect("calls.list");
    assert_eq!(c["count"].as_u64(), Some(list.len() as u64));
    for call in list {
        keys(
            call,
            &[
                "from",
                "to",
                "direction",
                "state",
                "started",
                "duration",
                "hold",
                "streams",
            ],
        );
        assert!(call["direction"] == "outgoing" || call["direction"] == "incoming");
        assert!(["trying", "ringing", "established"].contains(&call["state"].as_str().unwrap()));
        has(call, "hold", "bool");
        for s in call["streams"].as_array().expect("streams") {
            keys(s, &["port", "kernel", "legs"]);
            has(s, "kernel", "bool");
            for leg in s["legs"].as_array().expect("legs") {
                keys(leg, &["side", "expected", "latched", "packets", "bytes"]);
                assert!(leg["side"] == "lan" || leg["side"] == "wan");
                has(leg, "expected", "string|null");
                has(leg, "latched", "string|null");
                has(leg, "packets", "number");
                has(leg, "bytes", "number");
            }
        }
    }
}
