use super::super::Severity;
use super::*;

const F: &str = "sipnat.uci";

fn parse(text: &str) -> UciFile {
    let (u, d) = parse_uci(text, F);
    assert!(d.is_empty(), "{text:?}: {d:#?}");
    u
}

/// The single value of option `name` in the first section.
fn value(text: &str, name: &str) -> String {
    let u = parse(text);
    match u
        .sections
        .first()
        .and_then(|s| s.option(name))
        .map(|o| &o.value)
    {
        Some(Value::Single(v)) => v.clone(),
        other => panic!("{text:?}: {name} is {other:?}"),
    }
}

fn list(text: &str, name: &str) -> Vec<String> {
    let u = parse(text);
    match u
        .sections
        .first()
        .and_then(|s| s.option(name))
        .map(|o| &o.value)
    {
        Some(Value::List(v)) => v.iter().map(|x| x.0.clone()).collect(),
        other => panic!("{text:?}: {name} is {other:?}"),
    }
}

/// The errors of `text` as (line, message).
fn errors(text: &str) -> Vec<(usize, String)> {
    let (_, d) = parse_uci(text, F);
    d.into_iter()
        .filter(|x| x.severity == Severity::Error)
        .map(|x| (x.line, x.message))
        .collect()
}

fn one_error(text: &str, line: usize, want: &str) {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{text:?}: {e:#?}");
    assert_eq!(e[0].0, line, "{text:?}: {e:#?}");
    assert!(e[0].1.contains(want), "{want:?} not in {:?}", e[0].1);
}

#[test]
fn quoting_styles() {
    let s = "config sipnat 'general'\n";
    assert_eq!(value(&format!("{s}option a plain"), "a"), "plain");
    assert_eq!(value(&format!("{s}option a 'single q'"), "a"), "single q");
    assert_eq!(value(&format!("{s}option a \"double q\""), "a"), "double q");
    // adjacent parts join, as in uci and the shell
    assert_eq!(value(&format!("{s}option a 'a'\"b\"c"), "a"), "abc");
    // uci export writes a quote inside a value as '\''
    assert_eq!(value(&format!("{s}option a 'it'\\''s'"), "a"), "it's");
    // in single quotes, backslash and # are ordinary characters
    assert_eq!(value(&format!("{s}option a 'x\\ny#z'"), "a"), "x\\ny#z");
    // in double quotes a backslash takes the next character literally
    assert_eq!(
        value(&format!("{s}option a \"q\\\"b\\\\s\""), "a"),
        "q\"b\\s"
    );
    // unquoted too: an escaped blank stays in the word
    assert_eq!(value(&format!("{s}option a one\\ two"), "a"), "one two");
    // tabs separate words; CR LF line ends
    assert_eq!(value(&format!("{s}\toption\ta\t'v'\r\n"), "a"), "v");
    // quoted keyword parts and names work like uci's
    assert_eq!(
        value("config 'sipnat' \"general\"\noption 'a' 'v'", "a"),
        "v"
    );
}

#[test]
fn multi_line_values_and_continuations() {
    let s = "config sipnat general\n";
    assert_eq!(value(&format!("{s}option a 'one\ntwo'"), "a"), "one\ntwo");
    assert_eq!(value(&format!("{s}option a \"one\\\ntwo\""), "a"), "onetwo");
    // a backslash at the end of a line joins the next line
    let u = parse(&format!("{s}option a \\\n  'joined'\noption b 2"));
    let sec = &u.sections[0]; // parsed without errors: one section
    assert_eq!(
        sec.option("a").map(|o| &o.value),
        Some(&Value::Single("joined".into()))
    );
    // lines after a multi-line value keep their true numbers
    assert_eq!(sec.option("b").map(|o| o.line), Some(4));
    let u = parse(&format!("{s}option a 'x\ny\nz'\noption b 2"));
    assert_eq!(u.sections[0].option("b").map(|o| o.line), Some(5)); // one section
}

#[test]
fn comments_and_blank_lines() {
    let text = "# head\n\n   # indented\nconfig sipnat general # trailing\n\toption a 'v#1' # c\n\toption b w#x\n";
    let u = parse(text);
    assert_eq!(u.sections.len(), 1);
    assert_eq!(u.sections[0].name.as_deref(), Some("general"));
    assert_eq!(u.sections[0].line, 4);
    assert_eq!(value(text, "a"), "v#1");
    // uci: an unquoted # ends the line, even inside a word
    assert_eq!(value(text, "b"), "w");
}

#[test]
fn semicolons_separate_commands() {
    let u = parse("config sipnat general; option a 1; list b x;list b 'y;z'");
    let s = &u.sections[0]; // parsed without errors
    assert_eq!(
        s.option("a").map(|o| &o.value),
        Some(&Value::Single("1".into()))
    );
    assert_eq!(
        s.option("b").map(|o| &o.value),
        Some(&Value::List(vec![("x".into(), 1), ("y;z".into(), 1)]))
    );
}

#[test]
fn abbreviated_keywords_and_package() {
    let u = parse("package sipnat\nc sipnat general\no a 1\nl b 2\n");
    assert_eq!(u.sections.len(), 1);
    assert_eq!(u.sections[0].options.len(), 2);
}

#[test]
fn lists_append_and_mix_with_options_as_uci_does() {
    let s = "config sipnat general\n";
    assert_eq!(
        list(&format!("{s}list x a\nlist x 'b c'\nlist x \"d\"\n"), "x"),
        ["a", "b c", "d"]
    );
    // option then list: a list holding both
    assert_eq!(list(&format!("{s}option x a\nlist x b\n"), "x"), ["a", "b"]);
    // list then option: the option replaces the list
    assert_eq!(
        value(&format!("{s}list x a\nlist x b\noption x c\n"), "x"),
        "c"
    );
    // an empty list value adds nothing
    assert_eq!(list(&format!("{s}list x a\nlist x ''\n"), "x"), ["a"]);
}

#[test]
fn repeated_option_replaces_and_empty_unsets() {
    let u = parse("config sipnat general\noption x a\noption y 1\noption x b\n");
    let s = &u.sections[0]; // parsed without errors
    let x = s.option("x").cloned();
    assert_eq!(
        x,
        Some(UciOption {
            name: "x".into(),
            line: 4,
            value: Value::Single("b".into()),
            replaced: Some(2),
        })
    );
    // the replaced option keeps its place
    assert_eq!(s.options[0].name, "x");
    let u = parse("config sipnat general\noption x a\noption x ''\n");
    assert!(
        u.sections[0].option("x").is_none(),
        "'' unsets, as uci set does"
    );
}

#[test]
fn sections_named_anonymous_and_continued() {
    let u = parse(
        "config sipnat\noption a 1\nconfig other 'x'\noption b 2\nconfig sipnat second\noption c 3\nconfig sipnat\nconfig sipnat second\noption d 4\n",
    );
    assert_eq!(
        u.sections.len(),
        4,
        "the second 'second' continues the first"
    );
    assert_eq!(u.label(0), "@sipnat[0]");
    assert_eq!(u.label(1), "'x'");
    assert_eq!(u.label(2), "'second'");
    assert_eq!(u.label(3), "@sipnat[2]");
    assert_eq!(u.sections[2].options.len(), 2);
    // an empty name is anonymous
    assert_eq!(parse("config sipnat ''\n").sections[0].name, None);
}

#[test]
fn section_selection() {
    let u = parse(
        "config siproxd old\nconfig sipnat\nconfig sipnat lan2\nconfig sipnat third\nconfig other o\n",
    );
    assert_eq!(u.select(None), Ok(1), "the first sipnat section");
    assert_eq!(u.select(Some("lan2")), Ok(2));
    assert_eq!(u.select(Some("@sipnat[0]")), Ok(1));
    assert_eq!(u.select(Some("@sipnat[2]")), Ok(3));
    assert_eq!(u.select(Some("@sipnat[-1]")), Ok(3));
    assert_eq!(u.select(Some("@sipnat[-3]")), Ok(1));
    let e = |s: &str| u.select(Some(s)).unwrap_err();
    assert!(
        e("@sipnat[3]").1.contains("there are 3 'sipnat' sections"),
        "{:?}",
        e("@sipnat[3]")
    );
    assert!(e("@sipnat[-4]").1.contains("there are 3"));
    assert!(
        e("@sipnat[x]")
            .1
            .contains("expected a section name or @sipnat[N]")
    );
    assert!(e("@sipnat").1.contains("expected"));
    assert!(e("@[0]").1.contains("expected"));
    let m = e("nope").1;
    assert!(
        m.contains("no section of that name") && m.contains("@sipnat[0], 'lan2', 'third'"),
        "{m}"
    );
    let (line, m) = e("old");
    assert_eq!(line, 1);
    assert!(
        m.contains("type 'siproxd'") && m.contains("config sipnat"),
        "{m}"
    );
    assert!(e("o").1.contains("type 'other'"));
    assert!(e("@other[0]").1.contains("type 'other'"));

    // no sipnat section at all
    let (line, m) = parse("\nconfig siproxd general\n")
        .select(None)
        .unwrap_err();
    assert_eq!(line, 2);
    assert!(m.contains("migration"), "{m}");
    let (line, m) = parse("").select(None).unwrap_err();
    assert_eq!(line, 0);
    assert!(m.contains("config sipnat 'general'"), "{m}");
}

#[test]
fn syntax_errors_carry_their_line() {
    one_error(
        "config sipnat g\noption a 'open\n\n",
        2,
        "unterminated ' quote",
    );
    one_error(
        "config sipnat g\n\noption a \"open\n",
        3,
        "unterminated \" quote",
    );
    one_error(
        "config sipnat g\noption a \"x\\",
        2,
        "unterminated \" quote",
    );
    one_error("# c\noption a b\nconfig sipnat g\n", 2, "outside a section");
    one_error("config sipnat g\noption a\n", 2, "has no value");
    one_error("config sipnat g\nlist a\n", 2, "list 'a' has no value");
    one_error("config sipnat g\noption\n", 2, "needs a name");
    one_error("config sipnat g\nfoo a b\n", 2, "unknown keyword 'foo'");
    one_error(
        "config sipnat g\nOptoin a b\n",
        2,
        "(did you mean 'option'?)",
    );
    one_error(
        "config sipnat g\nif_inbound = eth0\n",
        2,
        "option if_inbound '<value>'",
    );
    one_error("config\n", 1, "needs a section type");
    one_error(
        "config sipnat bad-name\n",
        1,
        "invalid section name 'bad-name'",
    );
    one_error(
        "config sipnat g\noption bad.name 1\n",
        2,
        "invalid option name",
    );
    one_error(
        "config sipnat g\noption ua_string Home Router\n",
        2,
        "quote a value",
    );
    one_error("config sipnat g x\n", 1, "too many words");
    one_error(
        "config sipnat g\nconfig other g\n",
        2,
        "declared with type 'sipnat' on line 1",
    );
    one_error("package\n", 1, "needs a name");
    one_error("package a.b\n", 1, "invalid package name");
    one_error("config 'a b'\n", 1, "invalid section type");
    // every error is reported, not only the first
    let e = errors("option a 1\nconfig sipnat g\nbogus\noption b\n");
    assert_eq!(e.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 3, 4]);
}

#[test]
fn config_from_a_section_with_lines() {
    let text = "config sipnat general\n\toption if_inbound 'br-lan'\n\toption if_outbound eth1\n\tlist hosts_allow_reg '192.168.1.0/24'\n\tlist hosts_allow_reg '10.0.0.0/8'\n\toption rtp_timeout 'x'\n\toption rtp_prt_low 7000\n\toption interface_inbound lan\n\toption enabled 1\n";
    let (cfg, d) = parse_uci_config(text, F, None).expect("a sipnat section exists");
    assert_eq!(cfg.if_inbound.as_deref(), Some("br-lan"));
    assert_eq!(cfg.hosts_allow_reg.0.len(), 2);
    assert_eq!(cfg.interface_inbound.as_deref(), Some("lan"));
    assert!(cfg.enabled);
    let e: Vec<_> = d.iter().filter(|x| x.is_error()).collect();
    assert_eq!(e.len(), 2, "{d:#?}");
    assert_eq!(e[0].line, 6);
    assert!(e[0].message.contains("rtp_timeout = 'x'"));
    assert_eq!(e[1].line, 7);
    assert!(
        e[1].message.contains("did you mean 'rtp_port_low'"),
        "{}",
        e[1]
    );
    assert_eq!(e[1].to_string(), format!("{F}:7: error: {}", e[1].message));
}

#[test]
fn uci_only_options() {
    let cfg = |t: &str| parse_uci_config(&format!("config sipnat g\n{t}"), F, None);
    let (c, d) = cfg("option enabled 0\noption interface_outbound wan\n").expect("section");
    assert!(!c.enabled);
    assert_eq!(c.interface_outbound.as_deref(), Some("wan"));
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!((d[0].line, d[0].severity), (2, Severity::Warning));
    assert!(d[0].message.contains("disabled"));
    for (v, want) in [
        ("yes", true),
        ("off", false),
        ("Enabled", true),
        ("false", false),
    ] {
        assert_eq!(
            cfg(&format!("option enabled {v}"))
                .expect("section")
                .0
                .enabled,
            want,
            "{v}"
        );
    }
    let (_, d) = cfg("option enabled maybe\n").expect("section");
    assert!(
        d[0].is_error() && d[0].line == 2 && d[0].message.contains("enabled"),
        "{d:#?}"
    );
    let (_, d) = cfg("option interface_inbund lan\n").expect("section");
    assert!(
        d[0].message.contains("did you mean 'interface_inbound'"),
        "{d:#?}"
    );
    // the UCI-only names are unknown to the siproxd.conf reader
    let (_, d) = super::super::parse_siproxd_conf("enabled = 1\n", F);
    assert!(d[0].is_error() && d[0].message.contains("unknown option 'enabled'"));
}

#[test]
fn repeats_warn_where_they_are() {
    let (c, d) = parse_uci_config(
        "config sipnat g\noption rtp_timeout 100\noption rtp_timeout 200\nlist sip_dscp 10\nlist sip_dscp 24\n",
        F,
        None,
    )
    .expect("section");
    assert_eq!((c.rtp_timeout, c.sip_dscp), (200, 24));
    let w: Vec<_> = d.iter().map(|x| (x.line, x.severity)).collect();
    assert_eq!(
        w,
        [(3, Severity::Warning), (5, Severity::Warning)],
        "{d:#?}"
    );
    assert!(d[0].message.contains("first on line 2"));
    assert!(d[1].message.contains("first on line 4"));
}

#[test]
fn no_section_is_an_error() {
    let d = parse_uci_config("config siproxd general\n", F, None).unwrap_err();
    assert_eq!(d.len(), 1);
    assert!(d[0].is_error());
    let d = parse_uci_config("config sipnat a\n", F, Some("b")).unwrap_err();
    assert!(d[0].message.contains("'b'"));
}

#[test]
fn booleans_and_suggestions() {
    assert_eq!(boolean("1"), Some(true));
    assert_eq!(boolean("DISABLED"), Some(false));
    assert_eq!(boolean("2"), None);
    assert_eq!(boolean(""), None);
    assert_eq!(suggest("Enabled"), Some("enabled"));
    assert_eq!(suggest("interface_outbund"), Some("interface_outbound"));
    assert_eq!(suggest("rtp_port_low"), None);
    assert_eq!(edit_distance("", "ab"), 2);
    assert_eq!(edit_distance("ab", ""), 2);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}

/// Deterministic mutations of a realistic file: the reader must never
/// panic, and every diagnostic must point inside the file.
#[test]
fn never_panics_on_mutated_input() {
    let base = "package sipnat\n# comment\nconfig sipnat 'general'\n\toption enabled '1'\n\toption interface_inbound 'lan'\n\tlist hosts_allow_reg \"192.168.1.0/24\"\n\toption ua_string 'it'\\''s \"x\"'\n\toption a b\\\n c; option d 'e'\nconfig sipnat\n\tlist outbound_domain_name a.example\n\tlist outbound_domain_host b.example\n";
    let alphabet: &[char] = &[
        '\'', '"', '\\', '#', ';', '\n', '\r', ' ', '\t', '@', '[', ']', '-', 'c', 'o', 'l', '\0',
        'é', '\u{feff}',
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let chars: Vec<char> = base.chars().collect();
    for round in 0..4000 {
        let mut m = chars.clone();
        for _ in 0..1 + rnd(4) {
            let at = rnd(m.len() + 1);
            match rnd(3) {
                0 if at < m.len() => {
                    m.remove(at);
                }
                1 => m.insert(at, alphabet[rnd(alphabet.len())]),
                _ if at < m.len() => m[at] = alphabet[rnd(alphabet.len())],
                _ => m.push(alphabet[rnd(alphabet.len())]),
            }
        }
        let text: String = m.iter().collect();
        let lines = text.lines().count().max(1);
        for sel in [
            None,
            Some("general"),
            Some("@sipnat[1]"),
            Some("@sipnat[-9]"),
            Some("@["),
        ] {
            let d = match parse_uci_config(&text, F, sel) {
                Ok((cfg, d)) => {
                    let _ = cfg.check(F);
                    d
                }
                Err(d) => d,
            };
            for x in &d {
                assert!(x.line <= lines + 1, "round {round}: {x} in {text:?}");
            }
        }
    }
    // and every prefix of the base text
    for cut in 0..=chars.len() {
        let text: String = chars[..cut].iter().collect();
        let _ = parse_uci_config(&text, F, None);
    }
}
