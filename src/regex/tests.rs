use super::*;

/// The leftmost-longest match of `pat` in `hay`, as text; `None`: none.
fn find(pat: &str, hay: &str) -> Option<String> {
    let re = Regex::new(pat).unwrap_or_else(|e| panic!("{pat}: {e}"));
    let mut caps = Captures::new();
    let mut s = Scratch::new();
    re.find_at(hay.as_bytes(), 0, &mut caps, &mut s)
        .then(|| hay[caps.get(0).unwrap()].to_string()) // a match has group 0
}

fn groups(pat: &str, hay: &str) -> Vec<Option<String>> {
    let re = Regex::new(pat).unwrap();
    let mut caps = Captures::new();
    let mut s = Scratch::new();
    assert!(
        re.find_at(hay.as_bytes(), 0, &mut caps, &mut s),
        "{pat} in {hay}"
    );
    (0..=re.groups())
        .map(|i| caps.get(i).map(|r| hay[r].to_string()))
        .collect()
}

fn replace(pat: &str, rep: &str, hay: &str) -> (String, usize) {
    let re = Regex::new(pat).unwrap();
    let rep = Replacement::new(rep, &re).unwrap();
    let mut mem = [0u8; 4096];
    let mut out = Buf::new(&mut mem);
    let n = re
        .replace_all(&rep, hay.as_bytes(), &mut out, &mut Scratch::new())
        .unwrap();
    (String::from_utf8(out.as_bytes().to_vec()).unwrap(), n)
}

fn error(pat: &str) -> ErrorKind {
    match Regex::new(pat) {
        Ok(r) => panic!("{pat} compiled: {r:?}"),
        Err(e) => e.kind,
    }
}

#[test]
fn a_table_of_patterns() {
    #[rustfmt::skip]
    let table: &[(&str, &str, Option<&str>)] = &[
        // literals, case ignored (REG_ICASE)
        ("abc", "xxabcxx", Some("abc")),
        ("abc", "xxABCxx", Some("ABC")),
        ("ABC", "xxabcxx", Some("abc")),
        ("abc", "ab", None),
        ("a.c", "a-c", Some("a-c")),
        ("a.c", "a\nc", Some("a\nc")),
        ("1.2.3.4", "c=IN IP4 1.2.3.4", Some("1.2.3.4")),
        ("1\\.2", "102 1.2", Some("1.2")),
        // anchors: the text's start and end only
        ("^sip:", "sip:00@h", Some("sip:")),
        ("^sip:", "xsip:", None),
        ("^b", "a\nb", None),
        ("a$", "a\nb", None),
        ("b$", "a\nb", Some("b")),
        ("^$", "", Some("")),
        ("^$", "x", None),
        ("x^", "x", None),
        // brackets
        ("[0-9]+", "ab1234c", Some("1234")),
        ("[^0-9]+", "12ab34", Some("ab")),
        ("[^a]", "aA b", Some(" ")),
        ("[]a]+", "x]a]y", Some("]a]")),
        ("[^]a]", "]ab", Some("b")),
        ("[a-]+", "x-a-y", Some("-a-")),
        ("[[:digit:]]+", "tel:+4930123", Some("4930123")),
        ("[[:alpha:]]+", "12abC3", Some("abC")),
        ("[[:upper:]]+", "12abC3", Some("abC")),
        ("[[:space:]]", "a\tb", Some("\t")),
        ("[[:xdigit:]]+", "zz0aF9g", Some("0aF9")),
        ("[[:punct:]]", "ab+", Some("+")),
        ("[[:alnum:]_]+", "-a_1-", Some("a_1")),
        ("[.]", "a.b", Some(".")),
        ("[\\]+", "a\\\\b", Some("\\\\")),
        // groups and alternation: leftmost, then longest
        ("(sips?:)00", "sips:0049@h", Some("sips:00")),
        ("sip|sips", "sips:", Some("sips")),
        ("a|ab|abc", "xabcd", Some("abc")),
        ("(a|ab)(c|bcd)", "abcd", Some("abcd")),
        ("b|abc", "abc", Some("abc")),
        ("x*", "aaa", Some("")),
        ("a*", "aaa", Some("aaa")),
        ("(ab)+", "xababab", Some("ababab")),
        ("()", "a", Some("")),
        ("a(|b)", "ab", Some("ab")),
        // counted repetitions
        ("a{3}", "aaaa", Some("aaa")),
        ("a{2,}", "a aaaa", Some("aaaa")),
        ("a{2,3}", "aaaa", Some("aaa")),
        ("a{,2}", "aaa", Some("aa")),
        ("a{0}b", "ab", Some("b")),
        ("^[0-9]{3}$", "123", Some("123")),
        ("^[0-9]{3}$", "1234", None),
        // non-ASCII, as bytes
        ("é+", "ééé", Some("ééé")),
        // siproxd's example values
        ("^(sips?:)00", "sip:0049301234@sip.example.org", Some("sip:00")),
        ("^(sips?:)01", "sip:0049301234@sip.example.org", None),
        ("^555123(10[0-9]|11[012])$", "555123105", Some("555123105")),
        ("^555123(10[0-9]|11[012])$", "555123112", Some("555123112")),
        ("^555123(10[0-9]|11[012])$", "555123113", None),
        ("^555123(10[0-9]|11[012])$", "5551231050", None),
        ("^555123(10[0-9]|11[012])$", "x555123105", None),
    ];
    for (pat, hay, want) in table {
        assert_eq!(find(pat, hay).as_deref(), *want, "{pat} in {hay:?}");
    }
}

#[test]
fn groups_capture_the_match_they_were_part_of() {
    assert_eq!(
        groups("^(sips?:)00", "sips:0049@h"),
        [Some("sips:00".into()), Some("sips:".into())]
    );
    // a group that took no part
    assert_eq!(
        groups("(a)|(b)", "b"),
        [Some("b".into()), None, Some("b".into())]
    );
    // the last iteration of a repeated group
    assert_eq!(
        groups("(a|b)+", "abba"),
        [Some("abba".into()), Some("a".into())]
    );
    // groups past the ninth group but keep no text
    let ten = "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)";
    let g = groups(ten, "abcdefghij");
    assert_eq!(g.len(), 10, "{g:?}");
    assert_eq!(g[0].as_deref(), Some("abcdefghij"));
    assert_eq!(g[9].as_deref(), Some("i"));
    assert_eq!(Regex::new(ten).unwrap().groups(), 9);
    // nested
    assert_eq!(
        groups("^((sips?):)([0-9]+)@", "sip:123@h"),
        [
            Some("sip:123@".into()),
            Some("sip:".into()),
            Some("sip".into()),
            Some("123".into())
        ]
    );
}

#[test]
fn find_at_starts_later_but_anchors_stay_at_the_start() {
    let re = Regex::new("^a|b").unwrap();
    let (mut caps, mut s) = (Captures::new(), Scratch::new());
    assert!(re.find_at(b"aab", 1, &mut caps, &mut s));
    assert_eq!(caps.get(0), Some(2..3), "not the second a: ^ is offset 0");
    assert!(!re.find_at(b"aab", 3, &mut caps, &mut s));
    assert!(!re.find_at(b"aab", 4, &mut caps, &mut s), "past the end");
    assert_eq!(caps.get(0), None);
}

#[test]
fn replacements_with_back_references() {
    // siproxd's plugin_regex examples
    assert_eq!(
        replace("^(sips?:)00", "\\1+", "sip:0049301234@sip.example.org"),
        ("sip:+49301234@sip.example.org".into(), 1)
    );
    assert_eq!(
        replace("^(sips?:)01", "\\1+a", "sips:01234@h"),
        ("sips:+a234@h".into(), 1)
    );
    // plugin_regex_body's: every match
    let sdp = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\n";
    assert_eq!(
        replace("1.2.3.4", "host.domain.com", sdp),
        (sdp.replace("1.2.3.4", "host.domain.com"), 2)
    );
    assert_eq!(replace("x", "y", "abc"), ("abc".into(), 0));
    // groups swapped, a group that took no part is empty, \0 and \\ are text
    assert_eq!(
        replace("([a-z]+)@([a-z]+)", "\\2@\\1", "bob@home"),
        ("home@bob".into(), 1)
    );
    assert_eq!(replace("(a)|b", "[\\1]", "ab"), ("[a][]".into(), 2));
    assert_eq!(replace("a", "\\0\\\\", "a"), ("\\0\\\\".into(), 1));
    // empty matches: once between characters, not right after a match
    assert_eq!(replace("x*", "-", "abc"), ("-a-b-c-".into(), 4));
    assert_eq!(replace("b*", "-", "abc"), ("-a-c-".into(), 3));
    assert_eq!(replace("$", "!", "ab"), ("ab!".into(), 1));
    assert_eq!(replace("^", "> ", "ab"), ("> ab".into(), 1));
}

#[test]
fn a_replacement_naming_a_missing_group_is_refused() {
    let re = Regex::new("^(sips?:)00").unwrap();
    assert!(Replacement::new("\\1+", &re).is_ok());
    let e = Replacement::new("x\\2", &re).unwrap_err();
    assert_eq!((e.kind, e.at), (ErrorKind::NoSuchGroup, 1));
    assert!(e.to_string().contains("character 2"), "{e}");
    assert!(Replacement::new("\\0 and \\x", &re).is_ok());
}

#[test]
fn results_that_do_not_fit_are_errors() {
    let re = Regex::new("a").unwrap();
    let rep = Replacement::new("bbbb", &re).unwrap();
    let mut mem = [0u8; 8];
    let mut out = Buf::new(&mut mem);
    assert_eq!(
        re.replace_all(&rep, b"aaa", &mut out, &mut Scratch::new()),
        Err(ReplaceError::TooLong)
    );
}

#[test]
fn pathological_patterns_finish_with_the_right_answer() {
    let long = "a".repeat(8000);
    // exponential for a backtracking engine, linear here
    assert_eq!(find("(a*)*b", &long), None);
    assert_eq!(find("(a|aa)+$", &long).map(|m| m.len()), Some(8000));
    assert_eq!(find("(a+)+b", &long), None);
    assert_eq!(
        find("^(a?){30}a{30}$", &"a".repeat(30)).map(|m| m.len()),
        Some(30)
    );
    let with_b = format!("{long}b");
    assert_eq!(find("(a*)*b", &with_b).map(|m| m.len()), Some(8001));
    assert_eq!(find("(x+x+)+y", &"x".repeat(5000)), None);
}

#[test]
fn replacing_everything_stops_at_its_work_budget() {
    // each match of `x` first tries `x.*y` to the end: quadratic unbounded
    let re = Regex::new("x|x.*y").unwrap();
    let rep = Replacement::new("z", &re).unwrap();
    let hay = vec![b'x'; 4000];
    let mut mem = vec![0u8; 8192];
    let mut out = Buf::new(&mut mem);
    assert_eq!(
        re.replace_all(&rep, &hay, &mut out, &mut Scratch::new()),
        Err(ReplaceError::TooMuchWork)
    );
    // the same pattern on short text is fine
    let (got, n) = replace("x|x.*y", "z", "xxa");
    assert_eq!((got.as_str(), n), ("zza", 2));
}

#[test]
fn one_scratch_serves_programs_of_any_size() {
    let mut s = Scratch::new();
    let big = Regex::new("^(a|b|c|d|e|f|g|h)+[0-9]{20}$").unwrap();
    let small = Regex::new("(x)").unwrap();
    let mut caps = Captures::new();
    assert!(big.find_at(b"abc01234567890123456789", 0, &mut caps, &mut s));
    assert!(small.find_at(b"yx", 0, &mut caps, &mut s));
    assert_eq!(caps.get(1), Some(1..2));
    assert!(big.is_match(b"h11111111112222222222", &mut s));
}

#[test]
fn compile_errors_say_what_and_where() {
    #[rustfmt::skip]
    let table: &[(&str, ErrorKind)] = &[
        ("", ErrorKind::Empty),
        ("*a", ErrorKind::NothingToRepeat),
        ("a|*", ErrorKind::NothingToRepeat),
        ("(+)", ErrorKind::NothingToRepeat),
        ("^*a", ErrorKind::NothingToRepeat),
        ("a$?", ErrorKind::NothingToRepeat),
        ("(ab", ErrorKind::UnmatchedOpen),
        ("ab)", ErrorKind::UnmatchedClose),
        ("[ab", ErrorKind::UnmatchedBracket),
        ("[]", ErrorKind::UnmatchedBracket),
        ("[[:digit:]", ErrorKind::UnmatchedBracket),
        ("a{", ErrorKind::BadInterval),
        ("a{x}", ErrorKind::BadInterval),
        ("a{3,2}", ErrorKind::BadInterval),
        ("a{1", ErrorKind::BadInterval),
        ("a{256}", ErrorKind::RepeatTooLarge),
        ("a{1,99999999999}", ErrorKind::RepeatTooLarge),
        ("[z-a]", ErrorKind::BadRange),
        ("[[:digits:]]", ErrorKind::UnknownClass),
        ("[[=a=]]", ErrorKind::UnsupportedBracket),
        ("[[.a.]]", ErrorKind::UnsupportedBracket),
        ("[é]", ErrorKind::NonAsciiInBracket),
        ("ab\\", ErrorKind::TrailingBackslash),
        ("(a)\\1", ErrorKind::BackReference),
        ("\\d+", ErrorKind::UnknownEscape),
        ("((((((((((((((((((a))))))))))))))))))", ErrorKind::TooDeep),
        ("a*****************", ErrorKind::TooDeep),
        ("[0-9]{200}[0-9]{200}[0-9]{200}", ErrorKind::TooLarge),
        ("((a{100}){100}){100}", ErrorKind::TooLarge),
    ];
    for (pat, kind) in table {
        assert_eq!(error(pat), *kind, "{pat}");
    }
    assert_eq!(
        error(&"a".repeat(MAX_PATTERN + 1)),
        ErrorKind::PatternTooLong
    );
    let e = Regex::new("^(sips?:00").unwrap_err();
    assert_eq!(e.to_string(), "'(' without its ')' (at character 2)");
    let e = Regex::new("x{2,1}").unwrap_err();
    assert!(e.to_string().contains("character 2"), "{e}");
    // escaped specials are literals
    assert_eq!(find("\\(\\*\\{\\)", "(*{)").as_deref(), Some("(*{)"));
    assert_eq!(find("a]}", "a]}").as_deref(), Some("a]}"));
}

#[test]
fn arbitrary_patterns_never_panic() {
    // every short pattern over the characters that mean something
    let alphabet = b"a(|)*+?{}[]^$.\\-:1,";
    let mut s = Scratch::new();
    let mut caps = Captures::new();
    let mut compiled = 0;
    let mut pat = Vec::new();
    for n in 0..alphabet.len().pow(4) {
        pat.clear();
        let mut k = n;
        for _ in 0..4 {
            pat.push(alphabet[k % alphabet.len()]);
            k /= alphabet.len();
        }
        let text = std::str::from_utf8(&pat).unwrap(); // ASCII
        if let Ok(re) = Regex::new(text) {
            compiled += 1;
            re.find_at(b"a(|)*+?{}[]^$.\\-:1,aa", 0, &mut caps, &mut s);
        }
    }
    assert!(compiled > 1000, "{compiled}");
}
