use super::*;

fn a(s: &str) -> Addr {
    s.parse().unwrap()
}

/// The quota unit of an address: `10.0.0.2`, or the /64 of an IPv6 one.
fn host(s: &str) -> SourceKey {
    SourceKey::of(s.parse().unwrap())
}

fn peer(s: &str) -> Peer {
    Peer {
        addr: a(s),
        side: Side::Lan,
        transport: Transport::Udp,
    }
}

#[test]
fn upsert_refresh_and_confirm() {
    let t0 = Instant::now();
    let mut r: Box<Registry> = Box::default();
    r.upsert(
        "100@prov.test",
        "sip:100@10.0.0.2:5062",
        peer("10.0.0.2:5062"),
        t0 + Duration::from_secs(32),
        false,
        false,
    )
    .unwrap();
    assert_eq!(r.len(), 1);
    // A retransmission with an earlier provisional expiry does not shorten it.
    r.upsert(
        "100@prov.test",
        "sip:100@10.0.0.2:5062",
        peer("10.0.0.2:5062"),
        t0 + Duration::from_secs(10),
        false,
        false,
    )
    .unwrap();
    assert_eq!(
        r.iter().next().unwrap().expires_at,
        t0 + Duration::from_secs(32)
    );
    assert!(r.confirm(
        "100@prov.test",
        "sip:100@10.0.0.2:5062",
        t0 + Duration::from_secs(3600)
    ));
    let e = r.iter().next().unwrap();
    assert!(e.confirmed);
    assert_eq!(e.expires_at, t0 + Duration::from_secs(3600));
    assert!(!r.confirm("100@prov.test", "sip:other@x", t0));
    assert_eq!(r.by_user("100").map(|e| e.addr), Some(a("10.0.0.2:5062")));
    assert!(r.has_ip(host("10.0.0.2")));
    assert!(!r.has_ip(host("10.0.0.3")));
    assert!(r.by_addr(a("10.0.0.2:5062")).is_some());
}

#[test]
fn full_table_refuses_new_but_refreshes_old() {
    let t0 = Instant::now();
    let mut r: Box<Registry> = Box::default();
    for i in 0..MAX_REGISTRATIONS {
        let aor = format!("{i}@p");
        let c = format!("sip:{i}@10.0.0.2");
        r.upsert(
            &aor,
            &c,
            peer("10.0.0.2:5060"),
            t0 + Duration::from_secs(60),
            true,
            false,
        )
        .unwrap();
    }
    assert!(r.would_overflow("new@p", "sip:new@10.0.0.3"));
    assert_eq!(
        r.upsert(
            "new@p",
            "sip:new@10.0.0.3",
            peer("10.0.0.3:5060"),
            t0,
            false,
            false
        ),
        Err(Full)
    );
    assert!(!r.would_overflow("7@p", "sip:7@10.0.0.2"));
    r.upsert(
        "7@p",
        "sip:7@10.0.0.2",
        peer("10.0.0.2:5060"),
        t0 + Duration::from_secs(900),
        true,
        false,
    )
    .unwrap();
    assert_eq!(r.len(), MAX_REGISTRATIONS);
}

#[test]
fn each_host_has_its_share() {
    let t0 = Instant::now();
    let mut r: Box<Registry> = Box::default();
    let ip = host("10.0.0.2");
    for i in 0..MAX_REGISTRATIONS_PER_HOST {
        assert!(!r.over_host_quota(ip, 1), "{i}");
        r.upsert(
            &format!("{i}@p"),
            &format!("sip:{i}@10.0.0.2"),
            peer("10.0.0.2:5060"),
            t0 + Duration::from_secs(60),
            false,
            false,
        )
        .unwrap();
    }
    assert_eq!(r.count_ip(ip), MAX_REGISTRATIONS_PER_HOST);
    assert!(r.over_host_quota(ip, 1));
    assert!(!r.over_host_quota(ip, 0), "refreshes only");
    // a refresh is not new; the same binding from another host is
    assert!(!r.is_new_for("7@p", "sip:7@10.0.0.2", ip));
    assert!(r.is_new_for("7@p", "sip:7@10.0.0.2", host("10.0.0.3")));
    assert!(r.is_new_for("new@p", "sip:new@10.0.0.2", ip));
    // another host is not affected
    assert!(!r.over_host_quota(host("10.0.0.3"), 1));
    // the port does not make another host
    r.upsert(
        "x@p",
        "sip:x@10.0.0.2:5062",
        peer("10.0.0.2:5062"),
        t0,
        false,
        false,
    )
    .unwrap();
    assert_eq!(r.count_ip(ip), MAX_REGISTRATIONS_PER_HOST + 1);
}

/// An IPv6 host is its /64: privacy addresses (RFC 8981) of one host
/// share its quota; the next /64 is another host.
#[test]
fn an_ipv6_host_is_its_64() {
    let t0 = Instant::now();
    let mut r: Box<Registry> = Box::default();
    for i in 0..MAX_REGISTRATIONS_PER_HOST {
        r.upsert(
            &format!("{i}@p"),
            &format!("sip:{i}@x"),
            peer(&format!("[2001:db8:0:1::{:x}]:5060", i + 1)),
            t0 + Duration::from_secs(60),
            false,
            false,
        )
        .unwrap();
    }
    let prefix = host("2001:db8:0:1:ffff::1");
    assert_eq!(r.count_ip(prefix), MAX_REGISTRATIONS_PER_HOST);
    assert!(r.over_host_quota(prefix, 1));
    assert!(r.has_ip(prefix));
    assert!(
        !r.is_new_for("3@p", "sip:3@x", prefix),
        "moved within its /64"
    );
    assert!(!r.over_host_quota(host("2001:db8:0:2::1"), 1));
    assert!(!r.has_ip(host("2001:db8:0:2::1")));
}

#[test]
fn expiry_removes_and_reports_confirmed() {
    let t0 = Instant::now();
    let mut r: Box<Registry> = Box::default();
    r.upsert(
        "1@p",
        "sip:1@h",
        peer("10.0.0.2:5060"),
        t0 + Duration::from_secs(5),
        false,
        false,
    )
    .unwrap();
    r.upsert(
        "2@p",
        "sip:2@h",
        peer("10.0.0.2:5060"),
        t0 + Duration::from_secs(50),
        true,
        false,
    )
    .unwrap();
    assert_eq!(r.expire(t0 + Duration::from_secs(6)), (1, false));
    assert_eq!(r.expire(t0 + Duration::from_secs(60)), (1, true));
    assert!(r.is_empty());
}

#[test]
fn text_round_trip_with_wall_clock() {
    let t0 = Instant::now();
    let mut r: Box<Registry> = Box::default();
    r.upsert(
        "100@prov.test",
        "sip:100@10.0.0.2:5062;transport=udp",
        peer("10.0.0.2:5062"),
        t0 + Duration::from_secs(300),
        true,
        false,
    )
    .unwrap();
    r.upsert(
        "200@10.0.0.1",
        "sip:200@10.0.0.3",
        peer("10.0.0.3:5060"),
        t0 + Duration::from_secs(100),
        true,
        true,
    )
    .unwrap();
    // Unconfirmed bindings are not saved.
    r.upsert(
        "300@p",
        "sip:300@10.0.0.4",
        peer("10.0.0.4:5060"),
        t0 + Duration::from_secs(30),
        false,
        false,
    )
    .unwrap();
    let mut text = std::string::String::new();
    r.write_text(t0, 1_000_000, &mut text);
    assert_eq!(
        text,
        "reg 100@prov.test sip:100@10.0.0.2:5062;transport=udp 10.0.0.2:5062 1000300 0\n\
         reg 200@10.0.0.1 sip:200@10.0.0.3 10.0.0.3:5060 1000100 1\n"
    );
    // Restart 200 s later (wall clock) with a new monotonic origin.
    let t1 = t0 + Duration::from_secs(7);
    let mut back: Box<Registry> = Box::default();
    let n = back.read_text(t1, 1_000_200, &text, |_| Ok(())).unwrap();
    assert_eq!(n, 1, "the 100 s binding had expired");
    let e = back.iter().next().unwrap();
    assert_eq!(e.aor, "100@prov.test");
    assert_eq!(e.expires_at, t1 + Duration::from_secs(100));
    assert!(e.confirmed && !e.local);
}

#[test]
fn read_text_reports_bad_lines() {
    let t0 = Instant::now();
    let mut r: Box<Registry> = Box::default();
    let err = r
        .read_text(t0, 0, "reg a b notanaddr 5 0\n", |_| Ok(()))
        .unwrap_err();
    assert!(err.contains("line 1"), "{err}");
    let err = r
        .read_text(t0, 0, "# c\nbogus line\n", |l| Err(format!("unknown: {l}")))
        .unwrap_err();
    assert_eq!(err, "line 2: unknown: bogus line");
    assert!(
        r.read_text(t0, 0, "reg a b 1.2.3.4:5 9 2\n", |_| Ok(()))
            .is_err()
    );
}

#[test]
fn any_expiry_loads_or_is_refused_without_panicking() {
    let t0 = Instant::now();
    let line = |exp: &str| format!("reg 1@p sip:1@10.0.0.2 10.0.0.2:5060 {exp} 0\n");
    for (exp, unix_now, want) in [
        // u64::MAX: far beyond any expiry a registrar can grant
        (
            "18446744073709551615",
            1_000,
            Err("line 1: expiry out of range"),
        ),
        (
            "18446744073709551615",
            0,
            Err("line 1: expiry out of range"),
        ),
        // one past the largest delta-seconds
        ("4294968296", 1_000, Err("line 1: expiry out of range")),
        // the largest delta-seconds: fine
        ("4294968295", 1_000, Ok(1)),
        // 0, and times in the past: expired, skipped
        ("0", 1_000, Ok(0)),
        ("999", 1_000, Ok(0)),
        ("1000", 1_000, Ok(0)),
        ("0", 0, Ok(0)),
        ("1001", 1_000, Ok(1)),
        // not a number at all
        ("-1", 1_000, Err("line 1: malformed registration")),
        (
            "18446744073709551616",
            1_000,
            Err("line 1: malformed registration"),
        ),
    ] {
        let mut r: Box<Registry> = Box::default();
        let got = r.read_text(t0, unix_now, &line(exp), |_| Ok(()));
        assert_eq!(
            got,
            want.map_err(str::to_string),
            "expiry {exp} at {unix_now}"
        );
        assert_eq!(r.len(), *got.as_ref().unwrap_or(&0), "{exp}");
    }
}

#[test]
fn a_bad_line_loads_nothing_and_leaves_the_table_alone() {
    let t0 = Instant::now();
    let mut r: Box<Registry> = Box::default();
    r.upsert(
        "old@p",
        "sip:old@10.0.0.9",
        peer("10.0.0.9:5060"),
        t0 + Duration::from_secs(60),
        true,
        true,
    )
    .unwrap();
    let good = "reg 1@p sip:1@10.0.0.2 10.0.0.2:5060 2000 0\n\
                reg 2@p sip:2@10.0.0.3 10.0.0.3:5060 2000 1\n";
    for (bad, why) in [
        // truncated in the middle of a line (a crash while writing)
        (
            "reg 3@p sip:3@10.0.0.4 10.0.0.4:50",
            "line 3: malformed registration",
        ),
        ("reg 3@p sip:3@10.0.0.4", "line 3: malformed registration"),
        (
            "reg 3@p sip:3@10.0.0.4 10.0.0.4:5060 2000 0 extra",
            "line 3: malformed registration",
        ),
        (
            "reg  sip:3@10.0.0.4 10.0.0.4:5060 2000 0",
            "line 3: malformed registration (empty field)",
        ),
        (
            "reg 3@p sip:3@10.0.0.4\rX 10.0.0.4:5060 2000 0",
            "line 3: malformed registration (control character)",
        ),
        ("\u{0}\u{1}garbage", "line 3: unknown"),
    ] {
        let text = format!("{good}{bad}\n");
        let err = r
            .read_text(t0, 1_000, &text, |l| Err(format!("unknown {}", l.len())))
            .unwrap_err();
        assert!(err.starts_with(why), "{bad:?}: {err}");
        assert_eq!(r.len(), 1, "{bad:?}: nothing of the file was loaded");
        assert_eq!(r.iter().next().unwrap().aor, "old@p");
    }
    let long = "x".repeat(MAX_STORED_URI + 1);
    let text = format!("{good}reg {long}@p sip:3@h 10.0.0.4:5060 2000 0\n");
    let err = r.read_text(t0, 1_000, &text, |_| Ok(())).unwrap_err();
    assert_eq!(err, "line 3: malformed registration (field too long)");
    assert_eq!(r.len(), 1);
    // and the good part alone loads beside what is there
    assert_eq!(r.read_text(t0, 1_000, good, |_| Ok(())), Ok(2));
    assert_eq!(r.len(), 3);
}

#[test]
fn a_file_with_more_bindings_than_the_table_loads_nothing() {
    let t0 = Instant::now();
    let mut text = std::string::String::new();
    for i in 0..=MAX_REGISTRATIONS {
        text.push_str(&format!(
            "reg {i}@p sip:{i}@10.0.0.2 10.0.0.2:5060 2000 0\n"
        ));
    }
    let mut r: Box<Registry> = Box::default();
    let err = r.read_text(t0, 1_000, &text, |_| Ok(())).unwrap_err();
    assert!(err.contains("more than the table holds"), "{err}");
    assert!(r.is_empty());
    // the same binding twice counts once
    let twice = "reg 1@p sip:1@h 10.0.0.2:5060 2000 0\nreg 1@p sip:1@h 10.0.0.2:5060 3000 0\n";
    assert_eq!(r.read_text(t0, 1_000, twice, |_| Ok(())), Ok(2));
    assert_eq!(r.len(), 1);
}

#[test]
fn aor_keys() {
    assert_eq!(
        aor_key(Some("Bob"), "Example.COM").unwrap(),
        "Bob@example.com"
    );
    assert_eq!(aor_key(None, "h").unwrap(), "h");
    assert_eq!(aor_user("a@b"), Some("a"));
    assert_eq!(contact_user("sip:u:pw@h:1"), Some("u"));
    assert_eq!(contact_user("sip:h"), None);
}

/// A file written by a release with IPv6 may hold `[v6]:port` bindings.
/// A build without the `ipv6` feature skips them and keeps the rest, the
/// key line included: a downgrade must not lose the key (and every token
/// providers hold). A build with it reads them.
#[test]
fn an_ipv6_binding_is_read_or_skipped_and_the_rest_kept() {
    let t0 = Instant::now();
    let mut r: Box<Registry> = Box::default();
    let text = "key 00112233\n\
                reg 1@p sip:1@[2001:db8::2] [2001:db8::2]:5060 500 0\n\
                reg 2@p sip:2@10.0.0.2 10.0.0.2:5060 500 0 tcp\n";
    let mut others = Vec::new();
    let n = r
        .read_text(t0, 100, text, |l| {
            others.push(l.to_string());
            Ok(())
        })
        .unwrap();
    assert_eq!(others, ["key 00112233"]);
    let e = r.iter().find(|e| e.aor == "2@p").unwrap();
    assert_eq!(e.addr, a("10.0.0.2:5060"));
    if cfg!(feature = "ipv6") {
        assert_eq!(n, 2);
        let v6 = r.iter().find(|e| e.aor == "1@p").unwrap();
        assert_eq!(v6.addr, "[2001:db8::2]:5060".parse().unwrap());
        // Written back as it was read.
        let mut out = std::string::String::new();
        r.write_text(t0, 100, &mut out);
        assert!(out.contains(" [2001:db8::2]:5060 500 0\n"), "{out}");
        // A scoped (link-local) address has no place in the table.
        assert!(
            r.read_text(t0, 100, "reg 3@p sip:3@x [fe80::1%2]:5060 500 0\n", |_| Ok(
                ()
            ))
            .is_err()
        );
    } else {
        assert_eq!(n, 1);
        assert_eq!(r.len(), 1);
    }
    // Still an error: a bracket that is not an IPv6 address.
    assert!(
        r.read_text(t0, 100, "reg 1@p sip:1@x [x]:5060 500 0\n", |_| Ok(()))
            .is_err()
    );
}
