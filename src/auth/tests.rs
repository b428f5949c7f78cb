//! End to end: a phone answers our challenge by hand, and `verify` goes
//! through every branch.

use super::*;
use crate::auth::digest::{ha1, response};

const REALM: &str = "sipnat.lan";
const LIFE: u32 = 300;
const URI: &str = "sip:bob@example.com";

/// What a phone would send: HA1 from its password, the response over our
/// nonce, its cnonce and count, as a `Proxy-Authorization` value.
struct Phone<'a> {
    user: &'a str,
    password: &'a str,
    realm: &'a str,
    alg: Algorithm,
    qop: Option<&'a str>,
}

impl Phone<'_> {
    fn new<'a>(user: &'a str, password: &'a str, alg: Algorithm) -> Phone<'a> {
        Phone {
            user,
            password,
            realm: REALM,
            alg,
            qop: Some("auth"),
        }
    }

    fn answer(&self, method: &str, nonce: &str, nc: u32) -> String {
        let nc = format!("{nc:08x}");
        let cnonce = "0a4f113b";
        let h = ha1(self.alg, self.user, self.realm, self.password);
        let qop = self.qop.unwrap_or("");
        let r = response(self.alg, &h, nonce, &nc, cnonce, qop, method, URI);
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{nonce}\", uri=\"{URI}\", \
             response=\"{r}\", algorithm={}",
            self.user,
            self.realm,
            self.alg.name()
        );
        if let Some(q) = self.qop {
            v.push_str(&format!(", qop={q}, nc={nc}, cnonce=\"{cnonce}\""));
        }
        v
    }
}

/// The proxy's side: passwords, nonces, the nonce-count table.
struct Proxy {
    pw: Passwords,
    nonces: Nonces,
    counts: NonceCounts<8>,
}

impl Proxy {
    fn new(pw: Passwords) -> Proxy {
        Proxy {
            pw,
            nonces: Nonces::new([0x5a; 32]),
            counts: NonceCounts::new(),
        }
    }

    fn check(&mut self, value: &str, method: &str, now: u32) -> Verdict {
        let creds = parse_credentials(value).expect("the phone's value parses");
        verify(
            &creds,
            method,
            REALM,
            &self.pw,
            &self.nonces,
            &mut self.counts,
            now,
            LIFE,
        )
    }
}

fn file_proxy() -> Proxy {
    let alice_md5 = ha1(Algorithm::Md5, "alice", REALM, "wonder land");
    let text = format!(
        "# users\nbob secret\nalice md5:{alice_md5}\ncarol sha-256:{}\n",
        ha1(Algorithm::Sha256, "carol", REALM, "c4r0l")
    );
    Proxy::new(pwfile::parse(&text, REALM).unwrap())
}

#[test]
fn right_password_md5_and_sha256() {
    let mut p = file_proxy();
    let nonce = p.nonces.issue(1000);
    for alg in [Algorithm::Sha256, Algorithm::Md5] {
        let nonce = p.nonces.issue(1000);
        let phone = Phone::new("bob", "secret", alg);
        let v = phone.answer("INVITE", &nonce, 1);
        assert_eq!(p.check(&v, "INVITE", 1001), Verdict::Ok, "{}", alg.name());
        let v = phone.answer("BYE", &nonce, 2);
        assert_eq!(p.check(&v, "BYE", 1002), Verdict::Ok, "{}", alg.name());
    }
    // One nonce serves both algorithms (RFC 8760 §2.4); its count is shared.
    let sha = Phone::new("bob", "secret", Algorithm::Sha256);
    let md5 = Phone::new("bob", "secret", Algorithm::Md5);
    assert_eq!(
        p.check(&sha.answer("INVITE", &nonce, 1), "INVITE", 1003),
        Verdict::Ok
    );
    assert_eq!(
        p.check(&md5.answer("INVITE", &nonce, 2), "INVITE", 1003),
        Verdict::Ok
    );
}

#[test]
fn wrong_password_and_wrong_method() {
    let mut p = file_proxy();
    let nonce = p.nonces.issue(1000);
    let bad = Phone::new("bob", "Secret", Algorithm::Sha256);
    assert_eq!(
        p.check(&bad.answer("INVITE", &nonce, 1), "INVITE", 1000),
        Verdict::WrongPassword
    );
    // A response signed for another method does not fit this request.
    let good = Phone::new("bob", "secret", Algorithm::Md5);
    assert_eq!(
        p.check(&good.answer("REGISTER", &nonce, 1), "INVITE", 1000),
        Verdict::WrongPassword
    );
    // Wrong guesses consumed no count: nc=1 still works.
    assert_eq!(
        p.check(&good.answer("INVITE", &nonce, 1), "INVITE", 1000),
        Verdict::Ok
    );
}

#[test]
fn response_in_uppercase_hex_is_accepted() {
    let mut p = file_proxy();
    let nonce = p.nonces.issue(1000);
    let v = Phone::new("bob", "secret", Algorithm::Md5).answer("INVITE", &nonce, 1);
    let start = v.find("response=\"").unwrap() + 10;
    let mut upper = v.clone();
    upper.replace_range(
        start..start + 32,
        &v[start..start + 32].to_ascii_uppercase(),
    );
    assert_eq!(p.check(&upper, "INVITE", 1000), Verdict::Ok);
}

#[test]
fn unknown_user() {
    let mut p = file_proxy();
    let nonce = p.nonces.issue(1000);
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let v = Phone::new("mallory", "secret", alg).answer("INVITE", &nonce, 1);
        assert_eq!(p.check(&v, "INVITE", 1000), Verdict::UnknownUser);
    }
    // alice has an MD5 HA1 only: with SHA-256 she has no secret.
    let v = Phone::new("alice", "wonder land", Algorithm::Sha256).answer("INVITE", &nonce, 1);
    assert_eq!(p.check(&v, "INVITE", 1000), Verdict::UnknownUser);
}

#[test]
fn ha1_entries_from_the_password_file() {
    let mut p = file_proxy();
    let nonce = p.nonces.issue(1000);
    let alice = Phone::new("alice", "wonder land", Algorithm::Md5);
    assert_eq!(
        p.check(&alice.answer("INVITE", &nonce, 1), "INVITE", 1000),
        Verdict::Ok
    );
    let carol = Phone::new("carol", "c4r0l", Algorithm::Sha256);
    assert_eq!(
        p.check(&carol.answer("INVITE", &nonce, 2), "INVITE", 1000),
        Verdict::Ok
    );
    let wrong = Phone::new("carol", "carol", Algorithm::Sha256);
    assert_eq!(
        p.check(&wrong.answer("INVITE", &nonce, 3), "INVITE", 1000),
        Verdict::WrongPassword
    );
}

#[test]
fn single_password_for_everyone() {
    let mut p = Proxy::new(Passwords::single("shared", REALM).unwrap());
    let nonce = p.nonces.issue(1000);
    let a = Phone::new("anyone", "shared", Algorithm::Sha256);
    assert_eq!(
        p.check(&a.answer("INVITE", &nonce, 1), "INVITE", 1000),
        Verdict::Ok
    );
    let b = Phone::new("other", "guess", Algorithm::Md5);
    assert_eq!(
        p.check(&b.answer("INVITE", &nonce, 2), "INVITE", 1000),
        Verdict::WrongPassword
    );
}

#[test]
fn stale_and_foreign_nonces() {
    let mut p = file_proxy();
    let phone = Phone::new("bob", "secret", Algorithm::Md5);
    let nonce = p.nonces.issue(1000);
    assert_eq!(
        p.check(
            &phone.answer("INVITE", &nonce, 1),
            "INVITE",
            1000 + LIFE + 1
        ),
        Verdict::Stale
    );
    // A nonce of an earlier run (another key), and one made up.
    let earlier = Nonces::new([1; 32]).issue(1000);
    assert_eq!(
        p.check(&phone.answer("INVITE", &earlier, 1), "INVITE", 1000),
        Verdict::Stale
    );
    assert_eq!(
        p.check(&phone.answer("INVITE", "abc", 1), "INVITE", 1000),
        Verdict::Stale
    );
}

#[test]
fn replayed_and_non_increasing_nonce_counts() {
    let mut p = file_proxy();
    let phone = Phone::new("bob", "secret", Algorithm::Sha256);
    let nonce = p.nonces.issue(1000);
    let first = phone.answer("INVITE", &nonce, 1);
    assert_eq!(p.check(&first, "INVITE", 1000), Verdict::Ok);
    // The very same request again.
    assert_eq!(p.check(&first, "INVITE", 1001), Verdict::Replay);
    assert_eq!(
        p.check(&phone.answer("BYE", &nonce, 3), "BYE", 1002),
        Verdict::Ok
    );
    // Counts that do not go up.
    assert_eq!(
        p.check(&phone.answer("BYE", &nonce, 3), "BYE", 1003),
        Verdict::Replay
    );
    assert_eq!(
        p.check(&phone.answer("BYE", &nonce, 2), "BYE", 1003),
        Verdict::Replay
    );
    // A fresh nonce must start at 1.
    let next = p.nonces.issue(1004);
    assert_eq!(
        p.check(&phone.answer("BYE", &next, 4), "BYE", 1004),
        Verdict::Stale
    );
}

#[test]
fn other_realm_is_left_alone() {
    let mut p = file_proxy();
    let nonce = p.nonces.issue(1000);
    let mut phone = Phone::new("bob", "secret", Algorithm::Md5);
    phone.realm = "provider.example";
    assert_eq!(
        p.check(&phone.answer("INVITE", &nonce, 1), "INVITE", 1000),
        Verdict::OtherRealm
    );
    // Checked first: even a nonce that is not ours does not matter.
    assert_eq!(
        p.check(&phone.answer("INVITE", "theirs", 1), "INVITE", 1000),
        Verdict::OtherRealm
    );
}

#[test]
fn qop_auth_is_required() {
    let mut p = file_proxy();
    let nonce = p.nonces.issue(1000);
    let mut phone = Phone::new("bob", "secret", Algorithm::Md5);
    phone.qop = None;
    assert_eq!(
        p.check(&phone.answer("INVITE", &nonce, 1), "INVITE", 1000),
        Verdict::Malformed
    );
    phone.qop = Some("auth-int");
    assert_eq!(
        p.check(&phone.answer("INVITE", &nonce, 1), "INVITE", 1000),
        Verdict::Malformed
    );
    phone.qop = Some("AUTH");
    assert_eq!(
        p.check(&phone.answer("INVITE", &nonce, 1), "INVITE", 1000),
        Verdict::Ok
    );
    // nc=0 is no count.
    phone.qop = Some("auth");
    assert_eq!(
        p.check(&phone.answer("INVITE", &nonce, 0), "INVITE", 1000),
        Verdict::Malformed
    );
}

#[test]
fn challenges_as_written() {
    let mut out = String::new();
    write_challenge(&mut out, REALM, "abc123", Algorithm::Sha256, false).unwrap();
    assert_eq!(
        out,
        "Digest realm=\"sipnat.lan\", nonce=\"abc123\", algorithm=SHA-256, qop=\"auth\""
    );
    let mut out = String::new();
    write_challenge(&mut out, "my \"home\" \\ net", "n", Algorithm::Md5, true).unwrap();
    assert_eq!(
        out,
        "Digest realm=\"my \\\"home\\\" \\\\ net\", nonce=\"n\", algorithm=MD5, qop=\"auth\", stale=true"
    );
    // A bounded buffer that is too small reports the overflow.
    let mut small = heapless::String::<16>::new();
    assert!(write_challenge(&mut small, REALM, "n", Algorithm::Md5, false).is_err());
}

/// The whole round: our challenge, the phone reads realm and nonce from it
/// (with this crate's own parser, which takes any `name=value` list after
/// the scheme), answers, and is let in.
#[test]
fn challenge_answer_verify() {
    let mut p = file_proxy();
    let nonce = p.nonces.issue(2000);
    let mut challenge = String::new();
    write_challenge(&mut challenge, REALM, &nonce, Algorithm::Sha256, false).unwrap();
    // Reuse the credentials reader for the challenge's parameters: add the
    // ones a challenge lacks.
    let as_creds = format!("{challenge}, username=\"x\", uri=\"u\", response=\"r\"");
    let offered = parse_credentials(&as_creds).unwrap();
    assert_eq!(offered.realm, REALM);
    assert_eq!(offered.algorithm, Algorithm::Sha256);
    let phone = Phone::new("bob", "secret", offered.algorithm);
    let v = phone.answer("REGISTER", offered.nonce, 1);
    assert_eq!(p.check(&v, "REGISTER", 2001), Verdict::Ok);
}
