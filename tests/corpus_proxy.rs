//! The RFC 4475 and RFC 5118 messages through the whole SIP core, sent by a
//! registered LAN phone with an outbound proxy configured (so no DNS is
//! involved), on a dual-stack LAN (sipnat has an IPv6 address there too, so
//! the IPv6 media of RFC 5118's SDP examples can be relayed). Each message
//! must get the reaction its MANIFEST class calls for, and the README's
//! table of reactions must be the one this test computes (so the
//! documentation cannot drift from the code).

mod common;
use common::*;

struct Row {
    file: String,
    class: String,
    reaction: String,
}

fn reaction(sim: &mut Sim, msg: &[u8]) -> String {
    let before: Vec<(String, u64)> = sim
        .core
        .stats()
        .iter()
        .map(|(c, r, v)| (format!("{c}.{r}"), v))
        .collect();
    let out = sim.sip_bytes(PHONE, msg);
    if let Some(s) = out.first() {
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_no_lan_leak_if_wan(s);
        if s.to == addr(REGISTRAR) {
            return "forwarded".into();
        }
        if matches!(s.channel, sipnat::proxy::Channel::Dns(_)) {
            // The next hop is a name (a Route header): the resolver is asked.
            return "forwarded (next hop looked up in DNS)".into();
        }
        if s.to != addr(PHONE) {
            return format!("forwarded (to its Route, {})", s.to);
        }
        let line = s.first_line();
        return format!("answered {}", line.trim_start_matches("SIP/2.0 "));
    }
    // Nothing sent: name the counter that moved.
    let after = sim.core.stats();
    for (c, r, v) in after.iter() {
        let name = format!("{c}.{r}");
        let old = before
            .iter()
            .find(|(n, _)| *n == name)
            .map(|x| x.1)
            .unwrap_or(0);
        if v > old && name != "sip.rx" && !name.starts_with("parse.semantic") {
            return format!("dropped ({name})");
        }
    }
    "dropped (uncounted)".into()
}

fn assert_no_lan_leak_if_wan(s: &Sent) {
    let lan = match s.to {
        std::net::SocketAddr::V4(a) => a.ip().is_loopback() || a.ip().octets()[..3] == [10, 77, 1],
        _ => false,
    };
    if !lan {
        assert_no_lan_leak(s);
    }
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for dir in ["rfc4475", "rfc5118"] {
        let manifest = std::fs::read_to_string(format!("tests/data/{dir}/MANIFEST.tsv")).unwrap();
        for line in manifest.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            let (file, class) = (f[0], f[3]);
            let msg = std::fs::read(format!("tests/data/{dir}/{file}")).unwrap();
            // A fresh proxy per message, with the phone registered.
            let mut sim = dual_stack_lan(&format!(
                "{}outbound_proxy_host = 198.51.100.2\n",
                config_text()
            ));
            let reg = register("100", "example.com", PHONE, "r", 1, "r", 3600);
            let fwd = sim.one(PHONE, &reg);
            let c = fwd.header("Contact").unwrap();
            sim.one(
                REGISTRAR,
                &response_to(&fwd, 200, "OK", Some("t"), &format!("Contact: {c}\r\n")),
            );
            rows.push(Row {
                file: format!("{dir}/{file}"),
                class: class.to_string(),
                reaction: reaction(&mut sim, &msg),
            });
        }
    }
    rows
}

/// The virtual world of `common` with an IPv6 network on the LAN besides
/// 10.77.1.0/24: sipnat at 2001:db8:77:1::1/64 (none of the corpus's
/// addresses is in it).
fn dual_stack_lan(text: &str) -> Sim {
    let mut sim = Sim::with_config(text);
    let mut addrs = addresses();
    // (The IPv4-only build reads no IPv6 network: its LAN stays IPv4.)
    if let Some(lan6) = sipnat::net::Net::parse("2001:db8:77:1::1/64") {
        addrs.lan.push(lan6).unwrap();
    }
    sim.core.set_addresses(addrs);
    sim
}

/// What each class allows.
fn acceptable(file: &str, class: &str, reaction: &str) -> bool {
    let is_response = reaction.starts_with("dropped (drop.response");
    if !cfg!(feature = "ipv6")
        && matches!(
            file,
            "rfc5118/ipv6-in-sdp.dat" | "rfc5118/mult-ip-in-sdp.dat"
        )
    {
        // Valid SIP, but IPv6 media, which the IPv4-only build cannot read:
        // refused rather than forwarded half-rewritten.
        return reaction.starts_with("answered 488");
    }
    if class.starts_with("VALID") || class.starts_with("BACKCOMPAT") {
        // A valid request is proxied; a valid response that is not for a
        // transaction of ours is dropped as such (RFC 3261 §16.7).
        return reaction.starts_with("forwarded") || is_response;
    }
    if class.starts_with("INVALID") {
        return reaction.starts_with("answered 400")
            || reaction.starts_with("answered 505")
            || reaction.starts_with("dropped (parse.");
    }
    // SEMANTIC(...): the RFC reaction.
    match file {
        "rfc4475/insuf.dat" | "rfc4475/multi01.dat" | "rfc4475/mcl01.dat" => {
            reaction.starts_with("answered 400")
        }
        "rfc4475/bext01.dat" => reaction.starts_with("answered 420"),
        "rfc4475/zeromf.dat" => reaction.starts_with("answered 483"),
        "rfc4475/unkscm.dat" | "rfc4475/novelsc.dat" => reaction.starts_with("answered 416"),
        "rfc4475/bcast.dat" => is_response,
        _ => reaction.starts_with("forwarded"),
    }
}

#[test]
fn every_corpus_message_gets_its_reaction_and_the_readme_says_so() {
    let rows = rows();
    assert_eq!(rows.len(), 61);
    let mut table = String::from("| message | class | what sipnat does |\n|---|---|---|\n");
    let mut bad = Vec::new();
    for r in &rows {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            r.file, r.class, r.reaction
        ));
        if !acceptable(&r.file, &r.class, &r.reaction) {
            bad.push(format!("{}: {} -> {}", r.file, r.class, r.reaction));
        }
    }
    assert!(
        bad.is_empty(),
        "wrong reactions:\n{}\n\nfull table:\n{table}",
        bad.join("\n")
    );
    let readme = std::fs::read_to_string("README.md").unwrap_or_default();
    assert!(
        readme.contains(&table),
        "README.md must contain this table exactly (between the corpus markers):\n{table}"
    );
}
