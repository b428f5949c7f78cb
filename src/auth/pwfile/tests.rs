use super::*;

const REALM: &str = "sipnat";

fn err(text: &str) -> PwError {
    match parse(text, REALM) {
        Ok(p) => panic!("{text:?} parsed: {p:?}"),
        Err(e) => e,
    }
}

#[test]
fn siproxds_format() {
    let text = "# sipnat users\n\n   # indented comment\nalice secret\n\
        \tbob  \t pass word-ignored \r\n\x0bcarol\x0bc#1\n";
    let p = parse(text, REALM).unwrap();
    assert_eq!(p.len(), 3);
    for (user, pw) in [("alice", "secret"), ("bob", "pass"), ("carol", "c#1")] {
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            assert_eq!(
                p.secret(user, alg),
                Some(ha1(alg, user, REALM, pw)),
                "{user} {}",
                alg.name()
            );
        }
    }
    assert_eq!(p.secret("dave", Algorithm::Md5), None);
    assert_eq!(p.secret("Alice", Algorithm::Md5), None, "names are exact");
    assert!(parse("", REALM).unwrap().is_empty());
}

#[test]
fn precomputed_ha1_lines() {
    let md5 = ha1(Algorithm::Md5, "alice", REALM, "pw");
    let sha = ha1(Algorithm::Sha256, "alice", REALM, "pw");
    let text = format!(
        "alice md5:{}\nalice SHA-256:{}\nbob md5:{md5}\n",
        md5.to_ascii_uppercase(),
        sha
    );
    let p = parse(&text, REALM).unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p.secret("alice", Algorithm::Md5), Some(md5.clone()));
    assert_eq!(p.secret("alice", Algorithm::Sha256), Some(sha));
    // bob has MD5 only.
    assert_eq!(p.secret("bob", Algorithm::Md5), Some(md5));
    assert_eq!(p.secret("bob", Algorithm::Sha256), None);
}

#[test]
fn problems_name_their_line_and_not_the_password() {
    let long = "x".repeat(MAX_AUTH_WORD + 1);
    let fits = "x".repeat(MAX_AUTH_WORD);
    let cases: [(std::string::String, usize, PwProblem); 9] = [
        ("a b\nlonely\n".into(), 2, PwProblem::NoPassword),
        (format!("\n{long} pw\n"), 2, PwProblem::UserTooLong),
        (format!("a b\n\nc {long}\n"), 3, PwProblem::PasswordTooLong),
        ("a md5:1234\n".into(), 1, PwProblem::BadHa1),
        (format!("a md5:{}\n", "g".repeat(32)), 1, PwProblem::BadHa1),
        (
            format!("a sha-256:{}\n", "0".repeat(32)),
            1,
            PwProblem::BadHa1,
        ),
        ("a one\na two\n".into(), 2, PwProblem::Duplicate),
        (
            format!("a one\na md5:{}\n", "0".repeat(32)),
            2,
            PwProblem::Duplicate,
        ),
        (
            format!("a sha-256:{}\na one\n", "0".repeat(64)),
            2,
            PwProblem::Duplicate,
        ),
    ];
    for (text, line, what) in cases {
        let e = err(&text);
        assert_eq!(e, PwError { line, what }, "{text:?}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("line {line}: ")), "{shown}");
        for secret in ["one", "two", &long] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
    // 127 characters are fine, as in siproxd.
    assert!(parse(&format!("{fits} {fits}\n"), REALM).is_ok());
}

#[test]
fn too_many_users() {
    let mut text = format!("user0 md5:{}\n", "0".repeat(32));
    for i in 1..MAX_AUTH_USERS {
        text.push_str(&format!("user{i} pw{i}\n"));
    }
    // Another line for a user already there takes no new slot.
    text.push_str(&format!("user0 sha-256:{}\n", "0".repeat(64)));
    let p = parse(&text, REALM).unwrap();
    assert_eq!(p.len(), MAX_AUTH_USERS);
    text.push_str("# a comment does not count\none-more pw\n");
    assert_eq!(
        err(&text),
        PwError {
            line: MAX_AUTH_USERS + 3,
            what: PwProblem::TooManyUsers
        }
    );
}

#[test]
fn single_password_serves_every_user() {
    let p = Passwords::single("Circle Of Life", "testrealm@host.com").unwrap();
    assert_eq!(
        p.secret("Mufasa", Algorithm::Md5).unwrap().as_str(),
        "939e7578ed9e3c518a452acee763bce9"
    );
    assert_eq!(
        p.secret("anyone", Algorithm::Sha256),
        Some(ha1(
            Algorithm::Sha256,
            "anyone",
            "testrealm@host.com",
            "Circle Of Life"
        ))
    );
    let long = "x".repeat(MAX_AUTH_WORD + 1);
    assert_eq!(
        Passwords::single(&long, REALM).unwrap_err(),
        PwProblem::PasswordTooLong
    );
    let realm = "r".repeat(MAX_AUTH_VALUE + 1);
    assert_eq!(
        Passwords::single("pw", &realm).unwrap_err(),
        PwProblem::RealmTooLong
    );
}

#[test]
fn debug_shows_no_secret() {
    let p = parse("alice secret\n", REALM).unwrap();
    let shown = format!("{p:?}");
    assert_eq!(shown, "Passwords(1 users)");
    let s = Passwords::single("secret", REALM).unwrap();
    assert!(!format!("{s:?}").contains("secret"));
}

#[test]
fn wipe_zeroes() {
    let mut buf = *b"alice secret\n";
    wipe(&mut buf);
    assert!(buf.iter().all(|&b| b == 0));
}
