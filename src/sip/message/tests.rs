use super::check::bad;
use super::*;

fn parse(s: &str) -> Result<Message<'_>, ParseError> {
    Message::parse(s.as_bytes())
}

const REQ: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
    Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport, SIP/2.0/TCP p.example.com;branch=z9hG4bK0\r\n\
    Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n\
    Max-Forwards: 70\r\n\
    To: <sip:bob@example.com>\r\n\
    f: \"Alice\" <sip:alice@example.com>;tag=1928\r\n\
    i: a84b4c76e66710\r\n\
    CSeq: 314159 INVITE\r\n\
    m: <sip:alice@192.0.2.1>\r\n\
    Content-Type: application/sdp\r\n\
    l: 4\r\n\
    \r\n\
    v=0\r\nEXTRA";

#[test]
fn parses_request() {
    let m = parse(REQ).unwrap();
    assert!(m.is_request());
    assert_eq!(m.method(), Some(Method::Invite));
    let StartLine::Request { uri, uri_span, .. } = &m.start else {
        panic!("request expected");
    };
    assert_eq!(*uri, "sip:bob@example.com");
    assert_eq!(&REQ[uri_span.clone()], "sip:bob@example.com");
    assert_eq!(m.request_uri().unwrap().user, Some("bob"));
    assert_eq!(m.body, b"v=0\r");
    assert_eq!(&REQ.as_bytes()[m.header_end..m.header_end + 3], b"v=0");
    assert_eq!(m.headers().len(), 10);
    assert_eq!(m.call_id(), Some("a84b4c76e66710"));
    assert_eq!(
        m.cseq(),
        Some(CSeq {
            seq: 314159,
            method: Method::Invite
        })
    );
    let via = m.top_via().unwrap();
    assert_eq!(via.branch(), Some("z9hG4bK1"));
    assert_eq!(via.rport(), Some(None));
    assert_eq!(m.values(HeaderName::Via).count(), 3);
    assert_eq!(m.headers_named(HeaderName::Via).count(), 2);
    let from = m.header(HeaderName::From).unwrap();
    assert_eq!(from.raw_name, "f");
    assert_eq!(from.value, "\"Alice\" <sip:alice@example.com>;tag=1928");
    assert_eq!(
        &REQ[from.line.clone()],
        "f: \"Alice\" <sip:alice@example.com>;tag=1928\r\n"
    );
    assert_eq!(m.from().unwrap().tag(), Some("1928"));
    assert_eq!(m.to().unwrap().tag(), None);
    assert_eq!(m.check_request(), Ok(()));
    assert_eq!(m.check_response(), Err(ParseError::StartLine));
}

#[test]
fn parses_response() {
    let r = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:b@h>;tag=2\r\n\
             From: <sip:a@h>;tag=1\r\nCall-ID: x@y\r\nCSeq: 1 INVITE\r\n\r\n";
    let m = parse(r).unwrap();
    assert!(!m.is_request());
    assert_eq!(m.status(), Some(180));
    assert_eq!(
        m.start,
        StartLine::Response {
            code: 180,
            reason: "Ringing"
        }
    );
    assert_eq!(m.body, b"");
    assert_eq!(m.header_end, r.len());
    assert_eq!(m.check_response(), Ok(()));
    assert_eq!(
        m.check_request(),
        Err(Reject {
            code: 400,
            reason: "Not A Request"
        })
    );
    // Lenient: no SP after the code.
    let m = parse("SIP/2.0 200\r\n\r\n").unwrap();
    assert_eq!(
        m.start,
        StartLine::Response {
            code: 200,
            reason: ""
        }
    );
    assert_eq!(m.check_response(), Err(ParseError::MissingHeader));
}

#[test]
fn status_codes() {
    for (line, err) in [
        (
            "SIP/2.0 4294967301 better not break the receiver",
            ParseError::StatusCode,
        ),
        ("SIP/2.0 099 Low", ParseError::StatusCode),
        ("SIP/2.0 700 High", ParseError::StatusCode),
        ("SIP/2.0 20 Short", ParseError::StatusCode),
        ("SIP/2.0 2000 Long", ParseError::StatusCode),
        ("SIP/2.0 20x Hex", ParseError::StatusCode),
        ("SIP/2.0  200 Two spaces", ParseError::StatusCode),
        ("SIP/2.0 200 Bell\x07", ParseError::ReasonPhrase),
        ("SIP/3.0 200 OK", ParseError::Version),
        ("SIP/2.0", ParseError::StartLine),
    ] {
        let msg = format!("{line}\r\n\r\n");
        assert_eq!(parse(&msg).err(), Some(err), "{line:?}");
    }
    assert!(parse("sip/2.0 699 x\r\n\r\n").is_ok());
    assert!(parse("SIP/2.0 100 \r\n\r\n").is_ok());
}

#[test]
fn request_lines() {
    for (line, err) in [
        ("INVITE  sip:a@b SIP/2.0", ParseError::StartLine),
        ("INVITE sip:a@b  SIP/2.0", ParseError::StartLine),
        ("INVITE sip:a@b SIP/2.0 ", ParseError::StartLine),
        ("INVITE sip:a@b SIP/2.0  ", ParseError::StartLine),
        ("INVITE sip:a@b; lr SIP/2.0", ParseError::StartLine),
        ("INVITE sip:a@b", ParseError::StartLine),
        (" INVITE sip:a@b SIP/2.0", ParseError::StartLine),
        ("INVITE sip:a@b HTTP/1.1", ParseError::StartLine),
        ("OPTIONS sip:a@b SIP/7.0", ParseError::Version),
        ("INV,ITE sip:a@b SIP/2.0", ParseError::Method),
        ("INVITE <sip:a@b> SIP/2.0", ParseError::RequestUri),
        (
            "INVITE sip:a@b?Route=%3Csip:x%3E SIP/2.0",
            ParseError::RequestUri,
        ),
        ("REGISTER sip:2001:db8::10 SIP/2.0", ParseError::RequestUri),
        ("INVITE\tsip:a@b SIP/2.0", ParseError::StartLine),
    ] {
        let msg = format!("{line}\r\n\r\n");
        assert_eq!(parse(&msg).err(), Some(err), "{line:?}");
    }
    let m = parse("RE%47IST%45R sip:registrar.example.com sip/2.0\r\n\r\n").unwrap();
    assert_eq!(m.method(), Some(Method::Other("RE%47IST%45R")));
    let m = parse("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r\n\r\n").unwrap();
    assert!(!m.request_uri().unwrap().is_sip());
    // Methods are case-sensitive.
    assert_eq!(
        parse("invite sip:a@b SIP/2.0\r\n\r\n").unwrap().method(),
        Some(Method::Other("invite"))
    );
}

#[test]
fn framing_errors() {
    assert_eq!(parse("").err(), Some(ParseError::Empty));
    assert_eq!(parse("\r\n\r\n").err(), Some(ParseError::Empty));
    assert_eq!(parse("\n\nX").err(), Some(ParseError::StartLine));
    // No blank line.
    assert_eq!(
        parse("OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n").err(),
        Some(ParseError::NoHeaderEnd)
    );
    assert_eq!(
        parse("OPTIONS sip:a@b SIP/2.0").err(),
        Some(ParseError::NoHeaderEnd)
    );
    // Bare LF line endings.
    assert_eq!(
        parse("OPTIONS sip:a@b SIP/2.0\nVia: x\n\n").err(),
        Some(ParseError::StartLine)
    );
    assert_eq!(
        parse("OPTIONS sip:a@b SIP/2.0\r\nVia: x\nTo: y\r\n\r\n").err(),
        Some(ParseError::HeaderSyntax)
    );
    assert_eq!(
        parse("OPTIONS sip:a@b SIP/2.0\r\nVia: x\ry\r\n\r\n").err(),
        Some(ParseError::HeaderSyntax)
    );
    // Header lines without a name or colon; a folded line not unfolded.
    for h in [": x", "Via x", "Vi a: x", " Via: x", "Via"] {
        let msg = format!("OPTIONS sip:a@b SIP/2.0\r\n{h}\r\n\r\n");
        assert_eq!(parse(&msg).err(), Some(ParseError::HeaderSyntax), "{h:?}");
    }
    // Control characters are left to the value grammars (intmeth.dat has NUL in a quoted-pair).
    let m = parse("OPTIONS sip:a@b SIP/2.0\r\nX: \u{0}ok\r\n\r\n").unwrap();
    assert_eq!(m.headers()[0].value, "\u{0}ok");
    // Not UTF-8.
    let mut bytes = b"OPTIONS sip:a@b SIP/2.0\r\nX: \xff\r\n\r\n".to_vec();
    assert_eq!(Message::parse(&bytes).err(), Some(ParseError::NotUtf8));
    bytes[10] = 0xff;
    assert_eq!(Message::parse(&bytes).err(), Some(ParseError::NotUtf8));
    let reason = b"SIP/2.0 200 \xc3\x28\r\n\r\n";
    assert_eq!(Message::parse(reason).err(), Some(ParseError::NotUtf8));
}

#[test]
fn leading_crlf_is_skipped() {
    let m = parse("\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\n\r\n").unwrap();
    let StartLine::Request { uri_span, .. } = &m.start else {
        panic!("request expected");
    };
    assert_eq!(*uri_span, 12..19);
    assert_eq!(m.header_end, 4 + 25 + 2);
}

#[test]
fn content_length() {
    let msg = |cl: &str, body: &str| {
        format!("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: {cl}\r\n\r\n{body}")
    };
    assert_eq!(parse(&msg("3", "abcdef")).unwrap().body, b"abc");
    assert_eq!(parse(&msg("0", "abc")).unwrap().body, b"");
    assert_eq!(parse(&msg("006", "abcdef")).unwrap().body, b"abcdef");
    assert_eq!(
        parse(&msg("0000000000000000000003", "abc")).unwrap().body,
        b"abc"
    );
    assert_eq!(
        parse(&msg("7", "abcdef")).err(),
        Some(ParseError::BodyTruncated)
    );
    assert_eq!(
        parse(&msg("9999", "")).err(),
        Some(ParseError::BodyTruncated)
    );
    assert_eq!(
        parse(&msg("-999", "abc")).err(),
        Some(ParseError::ContentLength)
    );
    assert_eq!(
        parse(&msg("+3", "abc")).err(),
        Some(ParseError::ContentLength)
    );
    assert_eq!(
        parse(&msg("", "abc")).err(),
        Some(ParseError::ContentLength)
    );
    assert_eq!(
        parse(&msg("3 3", "abc")).err(),
        Some(ParseError::ContentLength)
    );
    assert_eq!(
        parse(&msg("1, 2", "abc")).err(),
        Some(ParseError::ContentLength)
    );
    assert_eq!(
        parse(&msg("99999999999999999999999999", "abc")).err(),
        Some(ParseError::ContentLength)
    );
    assert_eq!(
        parse(&msg("18446744073709551616", "abc")).err(),
        Some(ParseError::ContentLength)
    );
    // No Content-Length: the rest of the datagram.
    assert_eq!(
        parse("OPTIONS sip:a@b SIP/2.0\r\n\r\nxyz").unwrap().body,
        b"xyz"
    );
}

#[test]
fn too_many_headers() {
    let mut s = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
    for _ in 0..MAX_HEADERS {
        s.push_str("X: y\r\n");
    }
    assert_eq!(
        parse(&format!("{s}\r\n")).unwrap().headers().len(),
        MAX_HEADERS
    );
    s.push_str("X: y\r\n\r\n");
    assert_eq!(parse(&s).err(), Some(ParseError::TooManyHeaders));
}

#[test]
fn unfolding() {
    let mut b = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP\r\n  h;branch=x\r\nSubject: a\r\n\tb\r\n\r\nbody\r\n continues".to_vec();
    unfold_headers(&mut b);
    assert_eq!(
        &b[..],
        &b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP    h;branch=x\r\nSubject: a  \tb\r\n\r\nbody\r\n continues"[..]
    );
    let m = Message::parse(&b).unwrap();
    assert_eq!(
        m.header(HeaderName::Via).unwrap().value,
        "SIP/2.0/UDP    h;branch=x"
    );
    assert_eq!(m.top_via().unwrap().host_str, "h");
    assert_eq!(m.header(HeaderName::Other).unwrap().value, "a  \tb");
    // The start line is not unfolded.
    let mut s = b"INVITE sip:a@b SIP/2.0\r\n Via: x\r\n\r\n".to_vec();
    unfold_headers(&mut s);
    assert_eq!(&s[..], b"INVITE sip:a@b SIP/2.0\r\n Via: x\r\n\r\n");
    // Empty header section: the CRLF right after the start line is the blank line.
    let mut e = b"OPTIONS sip:a@b SIP/2.0\r\n\r\n body".to_vec();
    unfold_headers(&mut e);
    assert_eq!(&e[..], b"OPTIONS sip:a@b SIP/2.0\r\n\r\n body");
    // Safe on any bytes.
    for junk in [
        &b""[..],
        b"\r",
        b"\r\n",
        b"\n\r\n ",
        b"x\n\r\n\t\r\n\r\n ",
        b"\r\n\r\n\r\n ",
    ] {
        let mut v = junk.to_vec();
        unfold_headers(&mut v);
        assert_eq!(v.len(), junk.len());
    }
}

#[test]
fn header_names() {
    use HeaderName as H;
    for (n, h) in [
        ("v", H::Via),
        ("V", H::Via),
        ("vIa", H::Via),
        ("f", H::From),
        ("t", H::To),
        ("I", H::CallId),
        ("call-id", H::CallId),
        ("m", H::Contact),
        ("L", H::ContentLength),
        ("c", H::ContentType),
        ("k", H::Supported),
        ("o", H::Event),
        ("r", H::ReferTo),
        ("b", H::ReferredBy),
        ("s", H::Other),
        ("x", H::Other),
        ("cseq", H::CSeq),
        ("MAX-FORWARDS", H::MaxForwards),
        ("www-authenticate", H::WwwAuthenticate),
        ("proxy-authorization", H::ProxyAuthorization),
        ("C%6Fntact", H::Other),
        ("", H::Other),
        ("Contacts", H::Other),
    ] {
        assert_eq!(H::from_name(n), h, "{n:?}");
    }
    // Every canonical name maps back to itself.
    for h in [
        H::Via,
        H::From,
        H::To,
        H::CallId,
        H::CSeq,
        H::Contact,
        H::MaxForwards,
        H::ContentLength,
        H::ContentType,
        H::Route,
        H::RecordRoute,
        H::Expires,
        H::MinExpires,
        H::ProxyRequire,
        H::Require,
        H::Supported,
        H::Unsupported,
        H::Authorization,
        H::ProxyAuthorization,
        H::WwwAuthenticate,
        H::ProxyAuthenticate,
        H::Allow,
        H::Event,
        H::ReferTo,
        H::ReferredBy,
        H::Date,
        H::RetryAfter,
        H::UserAgent,
        H::Server,
    ] {
        let c = h.canonical().unwrap();
        assert_eq!(H::from_name(c), h, "{c}");
        assert_eq!(H::from_name(&c.to_ascii_uppercase()), h, "{c}");
    }
    assert_eq!(H::Other.canonical(), None);
}

#[test]
fn methods_round_trip() {
    for m in [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "REGISTER",
        "OPTIONS",
        "INFO",
        "PRACK",
        "UPDATE",
        "SUBSCRIBE",
        "NOTIFY",
        "REFER",
        "MESSAGE",
        "PUBLISH",
        "FOO",
    ] {
        let p = Method::parse(m);
        assert_eq!(p.as_str(), m);
        assert_eq!(matches!(p, Method::Other(_)), m == "FOO");
    }
}

fn req_with(extra: &str) -> String {
    format!(
        "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
         To: <sip:a@example.com>\r\nFrom: <sip:b@example.com>;tag=1\r\nCall-ID: c1\r\n\
         CSeq: 1 OPTIONS\r\n{extra}\r\n"
    )
}

fn check(s: &str) -> Result<(), Reject> {
    let mut b = s.as_bytes().to_vec();
    unfold_headers(&mut b);
    Message::parse(&b).unwrap().check_request()
}

#[test]
fn check_request_rules() {
    assert_eq!(check(&req_with("")), Ok(()));
    let r400 = |reason| Err(Reject { code: 400, reason });
    for (extra, want) in [
        ("To: <sip:x@y>\r\n", r400("Multiple To")),
        ("t: <sip:x@y>\r\n", r400("Multiple To")),
        ("i: c2\r\n", r400("Multiple Call-ID")),
        ("CSeq: 2 OPTIONS\r\n", r400("Multiple CSeq")),
        ("Max-Forwards: 256\r\n", r400("Bad Max-Forwards")),
        ("Max-Forwards: -1\r\n", r400("Bad Max-Forwards")),
        (
            "Max-Forwards: 70\r\nMax-Forwards: 70\r\n",
            r400("Multiple Max-Forwards"),
        ),
        ("Max-Forwards: 0\r\n", Ok(())),
        ("Max-Forwards: 0255\r\n", Ok(())),
        ("Expires: 4294967295\r\n", Ok(())),
        ("Expires: 4294967296\r\n", r400("Bad Expires")),
        (
            "Content-Length: 0\r\nl: 0\r\n",
            r400("Multiple Content-Length"),
        ),
        ("Content-Type: a/b, c/d\r\n", r400("Multiple Content-Type")),
        ("Content-Type: multipart/mixed;boundary=\"a,b\"\r\n", Ok(())),
        ("Via: SIP/2.0/UDP h;;\r\n", r400("Bad Via")),
        ("Via: ,\r\n", r400("Bad Via")),
        ("Contact: *\r\n", Ok(())),
        ("Contact: *, <sip:a@b>\r\n", r400("Bad Contact")),
        ("Contact: <sip:a@b>;;\r\n", r400("Bad Contact")),
        ("Contact: <sip:a@b>, sip:c@d;expires=0\r\n", Ok(())),
        (
            "Route: <sip:p.example.com;lr>, <sip:q.example.com;lr>\r\n",
            Ok(()),
        ),
        ("Route: sip:p.example.com\r\n", r400("Bad Route")),
        (
            "Record-Route: <sip:p.example.com;lr\r\n",
            r400("Bad Record-Route"),
        ),
        ("Date: Sat, 15 Oct 2005 04:44:56 GMT\r\n", Ok(())),
        ("Date: Fri, 01 Jan 2010 16:00:00 EST\r\n", r400("Bad Date")),
        ("Date: Fri, 01 Jan 2010 24:00:00 GMT\r\n", r400("Bad Date")),
        ("Date: Fri 01 Jan 2010 16:00:00 GMT \r\n", r400("Bad Date")),
    ] {
        assert_eq!(check(&req_with(extra)), want, "{extra:?}");
    }
}

#[test]
fn check_request_required_and_cseq() {
    let base = "OPTIONS sip:a@b SIP/2.0\r\n";
    let via = "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n";
    let to = "To: <sip:a@b>\r\n";
    let from = "From: <sip:b@c>;tag=1\r\n";
    let cid = "Call-ID: x\r\n";
    let cseq = "CSeq: 1 OPTIONS\r\n";
    let all = [via, to, from, cid, cseq];
    let reasons = [
        "Missing Via",
        "Missing To",
        "Missing From",
        "Missing Call-ID",
        "Missing CSeq",
    ];
    for (skip, &reason) in reasons.iter().enumerate() {
        let mut s = String::from(base);
        for (i, h) in all.iter().enumerate() {
            if i != skip {
                s.push_str(h);
            }
        }
        s.push_str("\r\n");
        assert_eq!(check(&s), Err(Reject { code: 400, reason }), "{reason}");
    }
    let with_cseq = |c: &str| format!("{base}{via}{to}{from}{cid}CSeq: {c}\r\n\r\n");
    assert_eq!(check(&with_cseq("2147483647 OPTIONS")), Ok(()));
    assert_eq!(
        check(&with_cseq("2147483648 OPTIONS")),
        Err(bad("Bad CSeq"))
    );
    assert_eq!(
        check(&with_cseq("1 INVITE")),
        Err(bad("CSeq Method Mismatch"))
    );
    assert_eq!(
        check(&with_cseq("1 options")),
        Err(bad("CSeq Method Mismatch"))
    );
    assert_eq!(check(&with_cseq("x OPTIONS")), Err(bad("Bad CSeq")));
    let with_cid = |c: &str| format!("{base}{via}{to}{from}Call-ID: {c}\r\n{cseq}\r\n");
    assert_eq!(check(&with_cid("a@b")), Ok(()));
    assert_eq!(check(&with_cid("a b")), Err(bad("Bad Call-ID")));
    assert_eq!(check(&with_cid("a@")), Err(bad("Bad Call-ID")));
    assert_eq!(check(&with_cid("a, b")), Err(bad("Bad Call-ID")));
    let with_to = |t: &str| format!("{base}{via}To: {t}\r\n{from}{cid}{cseq}\r\n");
    assert_eq!(check(&with_to("sip:a@b, sip:c@d")), Err(bad("Bad To")));
    assert_eq!(
        check(&with_to("Watson, Thomas <sip:t@b>")),
        Err(bad("Bad To"))
    );
}

#[test]
fn check_response_rules() {
    let resp = |extra: &str| {
        format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>;tag=2\r\n\
             From: <sip:b@c>;tag=1\r\nCall-ID: x\r\n{extra}\r\n"
        )
    };
    let chk = |s: &str| Message::parse(s.as_bytes()).unwrap().check_response();
    assert_eq!(chk(&resp("CSeq: 1 INVITE\r\n")), Ok(()));
    assert_eq!(chk(&resp("")), Err(ParseError::MissingHeader));
    assert_eq!(
        chk(&resp("CSeq: 9292394834772304023312 OPTIONS\r\n")),
        Err(ParseError::CSeq)
    );
    assert_eq!(
        chk(&resp("CSeq: 1 INVITE\r\nCSeq: 1 INVITE\r\n")),
        Err(ParseError::DuplicateHeader)
    );
    assert_eq!(
        chk(&resp("CSeq: 1 INVITE\r\nVia: bad\r\n")),
        Err(ParseError::Via)
    );
    assert_eq!(
        chk(&resp("CSeq: 1 INVITE\r\nContact: <sip:a@b\r\n")),
        Err(ParseError::NameAddr)
    );
    assert_eq!(
        chk(&resp("CSeq: 1 INVITE\r\nl: 0\r\nContent-Length: 0\r\n")),
        Err(ParseError::DuplicateHeader)
    );
}

#[test]
fn error_names_are_distinct() {
    use ParseError as E;
    let all = [
        E::Empty,
        E::StartLine,
        E::Version,
        E::Method,
        E::RequestUri,
        E::StatusCode,
        E::ReasonPhrase,
        E::HeaderSyntax,
        E::TooManyHeaders,
        E::NotUtf8,
        E::NoHeaderEnd,
        E::ContentLength,
        E::BodyTruncated,
        E::Via,
        E::NameAddr,
        E::Uri,
        E::Host,
        E::CSeq,
        E::CallId,
        E::MissingHeader,
        E::DuplicateHeader,
    ];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a.as_str(), b.as_str());
        }
    }
}
