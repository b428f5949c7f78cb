use super::*;

/// RFC 2617 §3.5: the MD5 example (qop=auth).
#[test]
fn rfc_2617_example() {
    let h = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert_eq!(h.as_str(), "939e7578ed9e3c518a452acee763bce9");
    let r = response(
        Algorithm::Md5,
        &h,
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "00000001",
        "0a4f113b",
        "auth",
        "GET",
        "/dir/index.html",
    );
    assert_eq!(r.as_str(), "6629fae49393a05397450978507c4ef1");
}

/// RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5
/// (qop=auth; the password is "Circle of Life", lowercase "of", erratum
/// 4495).
#[test]
fn rfc_7616_examples() {
    let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    let cases = [
        (
            Algorithm::Sha256,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
        (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
    ];
    for (alg, want) in cases {
        let h = ha1(alg, "Mufasa", "http-auth@example.org", "Circle of Life");
        let r = response(
            alg,
            &h,
            nonce,
            "00000001",
            cnonce,
            "auth",
            "GET",
            "/dir/index.html",
        );
        assert_eq!(r.as_str(), want, "{}", alg.name());
    }
}

#[test]
fn parses_the_rfc_7616_sha256_credentials() {
    let value = "Digest username=\"Mufasa\",\r\n     realm=\"http-auth@example.org\",\r\n     \
        uri=\"/dir/index.html\",\r\n     algorithm=SHA-256,\r\n     \
        nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n     nc=00000001,\r\n     \
        cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n     qop=auth,\r\n     \
        response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\",\r\n     \
        opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    let c = parse_credentials(value).unwrap();
    assert_eq!(c.username, "Mufasa");
    assert_eq!(c.realm, "http-auth@example.org");
    assert_eq!(c.uri, "/dir/index.html");
    assert_eq!(c.algorithm, Algorithm::Sha256);
    assert_eq!(c.nonce, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v");
    assert_eq!(c.nc, Some("00000001"));
    assert_eq!(c.nc_value(), Some(1));
    assert_eq!(
        c.cnonce,
        Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    );
    assert_eq!(c.qop, Some("auth"));
    assert_eq!(
        c.response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert_eq!(
        c.opaque,
        Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
    );
}

/// A SIP phone's usual shape (RFC 3261 §22.4 example): lowercase scheme,
/// no algorithm (MD5), quoted qop, a sip: URI, an unknown parameter.
#[test]
fn parses_a_phones_credentials() {
    let value = "digest  username = \"bob\" ,realm=\"biloxi.com\",nonce=\"dcd98b71\",\
        uri=\"sip:bob@biloxi.com;transport=udp\",qop=\"auth\",nc=0000000A,\
        cnonce=\"x y\",response=\"245f23415f11432b3434341c022\",x-extra=\"1,2\",other=tok";
    let c = parse_credentials(value).unwrap();
    assert_eq!(c.username, "bob");
    assert_eq!(c.algorithm, Algorithm::Md5);
    assert_eq!(c.uri, "sip:bob@biloxi.com;transport=udp");
    assert_eq!(c.qop, Some("auth"));
    assert_eq!(c.nc_value(), Some(10));
    assert_eq!(c.cnonce, Some("x y"));
    assert_eq!(c.opaque, None);
}

#[test]
fn algorithm_names_any_case() {
    assert_eq!(Algorithm::parse("md5"), Some(Algorithm::Md5));
    assert_eq!(Algorithm::parse("sha-256"), Some(Algorithm::Sha256));
    assert_eq!(Algorithm::parse("MD5-sess"), None);
    assert_eq!(Algorithm::parse("SHA-512-256"), None);
    assert_eq!(Algorithm::Md5.name(), "MD5");
    assert_eq!(Algorithm::Sha256.name(), "SHA-256");
    let base = "Digest username=\"a\",realm=\"r\",nonce=\"n\",uri=\"u\",response=\"x\"";
    let quoted = format!("{base},algorithm=\"sha-256\"");
    assert_eq!(
        parse_credentials(&quoted).unwrap().algorithm,
        Algorithm::Sha256
    );
    let sess = format!("{base},algorithm=MD5-sess");
    assert_eq!(parse_credentials(&sess), Err(CredError::Algorithm));
}

#[test]
fn refusals() {
    let base = "username=\"a\",realm=\"r\",nonce=\"n\",uri=\"u\",response=\"x\"";
    let long = "v".repeat(MAX_AUTH_VALUE + 1);
    let cases: Vec<(std::string::String, CredError)> = vec![
        (format!("Basic {base}"), CredError::NotDigest),
        (std::string::String::new(), CredError::NotDigest),
        ("Digest".into(), CredError::NotDigest),
        (format!("Digest{base}"), CredError::NotDigest),
        (format!("Digest {base},"), CredError::Syntax(61)),
        (format!("Digest {base},,nc=00000001"), CredError::Syntax(61)),
        ("Digest username".into(), CredError::Syntax(15)),
        ("Digest username=".into(), CredError::Syntax(16)),
        ("Digest username=\"abc".into(), CredError::Syntax(20)),
        ("Digest username=\"a\"b".into(), CredError::Syntax(19)),
        ("Digest username=\"a\\\"b\"".into(), CredError::Escape),
        ("Digest username=\"a\u{1}\"".into(), CredError::Syntax(18)),
        (
            format!("Digest {base},Realm=\"again\""),
            CredError::Duplicate("realm"),
        ),
        (
            "Digest realm=\"r\",nonce=\"n\",uri=\"u\",response=\"x\"".into(),
            CredError::Missing("username"),
        ),
        (
            "Digest username=\"a\",realm=\"r\",nonce=\"n\",uri=\"u\"".into(),
            CredError::Missing("response"),
        ),
        (format!("Digest {base},nc=1"), CredError::BadNc),
        (format!("Digest {base},nc=0000000g"), CredError::BadNc),
        (format!("Digest {base},nc=000000001"), CredError::BadNc),
        (
            format!("Digest {base},cnonce=\"{long}\""),
            CredError::TooLong,
        ),
        (format!("Digest {base},x={long}"), CredError::TooLong),
        (
            format!("Digest {base}{}", ",x=1".repeat(MAX_AUTH_PARAMS)),
            CredError::TooLong,
        ),
    ];
    for (value, want) in cases {
        assert_eq!(parse_credentials(&value), Err(want), "{value:?}");
    }
    // Exactly at the limits is fine.
    let at_limit = "v".repeat(MAX_AUTH_VALUE);
    let value = format!("Digest {base},cnonce=\"{at_limit}\",x={at_limit}");
    assert!(parse_credentials(&value).is_ok());
}

#[test]
fn ct_eq_compares_whole_strings() {
    assert!(ct_eq(b"", b""));
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"xbc"));
    assert!(!ct_eq(b"abc", b"abcd"));
}

#[test]
fn hex_is_lowercase_and_bounded() {
    assert_eq!(to_hex(&[0x00, 0xab, 0xff]).as_str(), "00abff");
    assert_eq!(to_hex(&[0x11; 40]).len(), 64);
}

/// Mutations of valid values (every byte replaced, removed or duplicated,
/// and every prefix) must give an answer, never a panic; what parses must
/// borrow from the input.
#[test]
fn mutated_values_never_panic() {
    let seeds = [
        "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
         algorithm=SHA-256, nonce=\"7ypf\", nc=00000001, cnonce=\"f2/w\", qop=auth, \
         response=\"7539\", opaque=\"FQhe\"",
        "digest username=\"bö\",realm=\"€\",nonce=\"n\",uri=\"sip:a@b\",response=\"r\",x=\"\"",
    ];
    let alphabet = [
        b'"', b',', b'=', b'\\', b' ', b'\t', b'\r', b'\n', 0, 0x7f, b'a', b'0', 0xc3, 0xff,
    ];
    let mut accepted = 0;
    for seed in seeds {
        let bytes = seed.as_bytes();
        let mut variants: Vec<Vec<u8>> = Vec::new();
        for i in 0..=bytes.len() {
            variants.push(bytes[..i].to_vec());
            if i < bytes.len() {
                let mut removed = bytes.to_vec();
                removed.remove(i);
                variants.push(removed);
                let mut doubled = bytes.to_vec();
                doubled.insert(i, bytes[i]);
                variants.push(doubled);
                for &b in &alphabet {
                    let mut replaced = bytes.to_vec();
                    replaced[i] = b;
                    variants.push(replaced);
                }
            }
        }
        for v in variants {
            let Ok(text) = core::str::from_utf8(&v) else {
                continue;
            };
            if let Ok(c) = parse_credentials(text) {
                accepted += 1;
                let range = text.as_bytes().as_ptr_range();
                for part in [c.username, c.realm, c.nonce, c.uri, c.response] {
                    assert!(range.contains(&part.as_ptr()) || part.is_empty());
                }
            }
        }
    }
    assert!(accepted > 100, "{accepted}");
}
