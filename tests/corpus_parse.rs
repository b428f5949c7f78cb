//! The RFC 4475 SIP torture messages and the RFC 5118 IPv6 messages through
//! the parser: `unfold_headers` + `Message::parse` + `check_request` /
//! `check_response`.
//!
//! Two layers of assertions:
//! * by manifest class (tests/data/*/MANIFEST.tsv): VALID / BACKCOMPAT /
//!   VALID-SYNTAX / SEMANTIC(syntax-valid…) are accepted; INVALID is rejected
//!   (by the parser or by the check; for trws.dat, which RFC 4475 §3.1.2.10
//!   lets a parser accept or reject, sipnat rejects); SEMANTIC(reject 400) is a
//!   400 from `check_request`; bext01 (420), zeromf (483) and bcast (drop) are
//!   the proxy's decisions, so here they only parse and pass the checks;
//! * by file: the exact reason each message is rejected for (so a message
//!   is not rejected by accident), and field-level facts about the valid ones.
//!
//! Every file of each manifest must exist with the listed size, every .dat
//! must be listed, and every listed file must have its exact expectation here.

use sipnat::sip::{
    ContactValue, HeaderName, Host, Message, Method, NameAddr, ParseError, StartLine, Uri, Via,
    unfold_headers,
};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn data_dir(corpus: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(corpus)
}

/// The message bytes, unfolded as the proxy does before parsing.
fn load(corpus: &str, file: &str) -> Vec<u8> {
    let path = data_dir(corpus).join(file);
    let mut buf = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    unfold_headers(&mut buf);
    buf
}

struct Entry {
    corpus: &'static str,
    file: String,
    class: String,
    bytes: usize,
}

fn manifest(corpus: &'static str) -> Vec<Entry> {
    let path = data_dir(corpus).join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("manifest header").split('\t').collect();
    let col = |name: &str| {
        head.iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("{corpus} manifest has no {name} column"))
    };
    let (f, c, b) = (col("file"), col("class"), col("bytes"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Entry {
                corpus,
                file: cols[f].to_string(),
                class: cols[c].to_string(),
                bytes: cols[b].parse().expect("bytes column"),
            }
        })
        .collect()
}

fn all_entries() -> Vec<Entry> {
    let mut v = manifest("rfc4475");
    v.extend(manifest("rfc5118"));
    v
}

/// What the parsing layer makes of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Parsed, and the request/response check passed.
    Accepted,
    /// `Message::parse` failed.
    Parse(ParseError),
    /// `check_request` answered 400 with this reason phrase.
    Reject400(&'static str),
    /// `check_response` failed.
    BadResponse(ParseError),
}

fn outcome(buf: &[u8]) -> Outcome {
    match Message::parse(buf) {
        Err(e) => Outcome::Parse(e),
        Ok(m) if m.is_request() => match m.check_request() {
            Ok(()) => Outcome::Accepted,
            Err(r) => {
                assert_eq!(r.code, 400, "check_request only answers 400");
                Outcome::Reject400(r.reason)
            }
        },
        Ok(m) => match m.check_response() {
            Ok(()) => Outcome::Accepted,
            Err(e) => Outcome::BadResponse(e),
        },
    }
}

/// What the class column demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Demand {
    Accept,
    Reject,
    Reject400,
}

fn demand(class: &str) -> Demand {
    if class.starts_with("INVALID") {
        // Includes "INVALID(RFC: may be accepted or rejected)" (trws.dat): rejected.
        Demand::Reject
    } else if class == "SEMANTIC(reject 400)" {
        Demand::Reject400
    } else if class.starts_with("VALID")
        || class.starts_with("BACKCOMPAT")
        || class.starts_with("SEMANTIC(")
    {
        // SEMANTIC(syntax-valid…), and the proxy-decided 420 / 483 / drop.
        Demand::Accept
    } else {
        panic!("unknown manifest class {class:?}: decide what it means here");
    }
}

/// The exact outcome of every message of both manifests.
fn expected(file: &str) -> Option<Outcome> {
    use Outcome::*;
    use ParseError as E;
    Some(match file {
        // RFC 4475 §3.1.1: valid messages.
        "wsinv.dat" | "intmeth.dat" | "esc01.dat" | "escnull.dat" | "esc02.dat" | "lwsdisp.dat"
        | "longreq.dat" | "dblreq.dat" | "semiuri.dat" | "transports.dat" | "mpart01.dat"
        | "unreason.dat" | "noreason.dat" => Accepted,
        // §3.1.2: invalid messages.
        "badinv01.dat" => Reject400("Bad Via"),
        "clerr.dat" => Parse(E::BodyTruncated),
        "ncl.dat" => Parse(E::ContentLength),
        "scalar02.dat" => Reject400("Bad CSeq"),
        "scalarlg.dat" => BadResponse(E::CSeq),
        "quotbal.dat" => Reject400("Bad To"),
        "ltgtruri.dat" => Parse(E::RequestUri),
        "lwsruri.dat" => Parse(E::StartLine),
        "lwsstart.dat" => Parse(E::StartLine),
        "trws.dat" => Parse(E::StartLine),
        "escruri.dat" => Parse(E::RequestUri),
        "baddate.dat" => Reject400("Bad Date"),
        "regbadct.dat" => Reject400("Bad Contact"),
        "badaspec.dat" => Reject400("Bad To"),
        // Both From and To have non-token display names; To is checked first.
        "baddn.dat" => Reject400("Bad To"),
        "badvers.dat" => Parse(E::Version),
        "mismatch01.dat" | "mismatch02.dat" => Reject400("CSeq Method Mismatch"),
        "bigcode.dat" => Parse(E::StatusCode),
        // §3.2, §3.3: semantically odd but syntactically valid, or 400.
        "badbranch.dat" | "unkscm.dat" | "novelsc.dat" | "unksm2.dat" | "bext01.dat"
        | "invut.dat" | "regaut01.dat" | "bcast.dat" | "zeromf.dat" | "cparam01.dat"
        | "cparam02.dat" | "regescrt.dat" | "sdp01.dat" => Accepted,
        "insuf.dat" => Reject400("Missing To"),
        // To comes first among the duplicated single-value headers.
        "multi01.dat" => Reject400("Multiple To"),
        "mcl01.dat" => Reject400("Multiple Content-Length"),
        // §3.4
        "inv2543.dat" => Accepted,
        // RFC 5118
        "ipv6-good.dat"
        | "port-ambiguous.dat"
        | "port-unambiguous.dat"
        | "via-received-param-with-delim.dat"
        | "via-received-param-no-delim.dat"
        | "ipv6-in-sdp.dat"
        | "mult-ip-in-header.dat"
        | "mult-ip-in-sdp.dat"
        | "ipv4-mapped-ipv6.dat"
        | "ipv6-correct-abnf-2-colons.dat" => Accepted,
        "ipv6-bad.dat" => Parse(E::RequestUri),
        "ipv6-bug-abnf-3-colons.dat" => Parse(E::RequestUri),
        _ => return None,
    })
}

#[test]
fn manifests_match_the_files() {
    for corpus in ["rfc4475", "rfc5118"] {
        let entries = manifest(corpus);
        assert!(!entries.is_empty(), "{corpus}: empty manifest");
        let listed: BTreeSet<String> = entries.iter().map(|e| e.file.clone()).collect();
        assert_eq!(
            listed.len(),
            entries.len(),
            "{corpus}: a file is listed twice"
        );
        let on_disk: BTreeSet<String> = std::fs::read_dir(data_dir(corpus))
            .expect("corpus dir")
            .map(|d| {
                d.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| n.ends_with(".dat"))
            .collect();
        assert_eq!(listed, on_disk, "{corpus}: manifest and .dat files differ");
        for e in &entries {
            let len = std::fs::metadata(data_dir(corpus).join(&e.file))
                .expect("listed file exists")
                .len();
            assert_eq!(
                len as usize, e.bytes,
                "{}: size differs from the manifest",
                e.file
            );
        }
    }
    assert_eq!(manifest("rfc4475").len(), 49);
    assert_eq!(manifest("rfc5118").len(), 12);
}

#[test]
fn every_message_meets_its_class_and_exact_outcome() {
    let mut failures = Vec::new();
    let mut tested = 0;
    for e in all_entries() {
        let buf = load(e.corpus, &e.file);
        let got = outcome(&buf);
        let by_class = match demand(&e.class) {
            Demand::Accept => got == Outcome::Accepted,
            Demand::Reject => got != Outcome::Accepted,
            Demand::Reject400 => matches!(got, Outcome::Reject400(_)),
        };
        if !by_class {
            failures.push(format!(
                "{} [{}]: class not met, got {got:?}",
                e.file, e.class
            ));
        }
        match expected(&e.file) {
            None => failures.push(format!("{}: no exact expectation in this test", e.file)),
            Some(want) if want != got => {
                failures.push(format!("{}: expected {want:?}, got {got:?}", e.file))
            }
            Some(_) => {}
        }
        tested += 1;
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(tested, 61);
}

#[test]
fn folded_messages_need_unfolding() {
    // wsinv.dat folds headers: without unfolding the continuation lines are
    // not header lines at all.
    let raw = std::fs::read(data_dir("rfc4475").join("wsinv.dat")).expect("wsinv.dat");
    assert_eq!(Message::parse(&raw).err(), Some(ParseError::HeaderSyntax));
    // Unfolding twice changes nothing more.
    let mut once = raw.clone();
    unfold_headers(&mut once);
    let mut twice = once.clone();
    unfold_headers(&mut twice);
    assert_eq!(once, twice);
    assert_eq!(once.len(), raw.len());
    // The body is untouched.
    let m = Message::parse(&once).expect("wsinv parses");
    assert_eq!(m.body, &raw[m.header_end..m.header_end + 150]);
}

/// Parses a corpus message that must be accepted.
fn with_msg(corpus: &str, file: &str, f: impl FnOnce(&Message<'_>)) {
    let buf = load(corpus, file);
    let m = Message::parse(&buf).unwrap_or_else(|e| panic!("{file}: {e}"));
    f(&m);
}

fn name_addr<'a>(m: &Message<'a>, h: HeaderName) -> NameAddr<'a> {
    NameAddr::parse(m.header(h).expect("header present").value).expect("parses")
}

fn contacts<'a>(m: &Message<'a>) -> Vec<NameAddr<'a>> {
    m.values(HeaderName::Contact)
        .map(|v| match ContactValue::parse(v).expect("contact parses") {
            ContactValue::Addr(a) => a,
            ContactValue::Star => panic!("unexpected *"),
        })
        .collect()
}

fn vias<'a>(m: &Message<'a>) -> Vec<Via<'a>> {
    m.values(HeaderName::Via)
        .map(|v| Via::parse(v).expect("via parses"))
        .collect()
}

#[test]
fn wsinv_whitespace_everywhere() {
    with_msg("rfc4475", "wsinv.dat", |m| {
        assert_eq!(m.method(), Some(Method::Invite));
        assert_eq!(m.request_uri().unwrap().param("unknownparam"), Some(None));
        let to = name_addr(m, HeaderName::To);
        assert!(!to.angle);
        assert_eq!(to.uri_str, "sip:vivekg@chair-dnrc.example.com");
        assert_eq!(to.tag(), Some("1918181833n"));
        let from = name_addr(m, HeaderName::From);
        assert_eq!(from.display, Some(r#""J Rosenberg \\\"""#));
        assert_eq!(from.tag(), Some("98asjd8"));
        assert_eq!(m.header(HeaderName::MaxForwards).unwrap().value, "0068");
        assert_eq!(
            m.header(HeaderName::ContentLength).unwrap().raw_name,
            "Content-Length"
        );
        assert_eq!(m.cseq().unwrap().seq, 9);
        let v = vias(m);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].transport, "UDP");
        assert_eq!(v[0].host_str, "192.0.2.2");
        assert_eq!(v[0].branch(), Some("390skdjuw"));
        assert_eq!(v[1].transport, "TCP");
        assert_eq!(v[1].host_str, "spindle.example.com");
        assert_eq!(v[1].branch(), Some("z9hG4bK9ikj8"));
        assert_eq!(v[2].host, Host::Ipv4([192, 168, 255, 111].into()));
        assert_eq!(v[2].branch(), Some("z9hG4bK30239"));
        assert_eq!(m.top_via().unwrap(), v[0]);
        let c = contacts(m);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].display, Some(r#""Quoted string \"\"""#));
        assert_eq!(c[0].param("newparam"), Some(Some("newvalue")));
        assert_eq!(c[0].param("secondparam"), Some(None));
        assert_eq!(c[0].param("q"), Some(Some("0.33")));
        let route = name_addr(m, HeaderName::Route);
        assert_eq!(route.uri.param("lr"), Some(None));
        assert_eq!(route.uri.param("unknownwith"), Some(Some("value")));
        // "s :" is an empty Subject; the unknown headers are kept as Other.
        assert!(
            m.headers()
                .iter()
                .any(|h| h.raw_name == "s" && h.value.is_empty())
        );
        let nf = m
            .headers()
            .iter()
            .find(|h| h.raw_name == "NewFangledHeader")
            .unwrap();
        assert_eq!(nf.name, HeaderName::Other);
        assert!(
            nf.value.starts_with("newfangled value")
                && nf.value.ends_with("continued newfangled value")
        );
        assert!(m.body.starts_with(b"v=0\r\n"));
        assert_eq!(m.body.len(), 150);
    });
}

#[test]
fn intmeth_unusual_characters() {
    with_msg("rfc4475", "intmeth.dat", |m| {
        let method = "!interesting-Method0123456789_*+`.%indeed'~";
        assert_eq!(m.method(), Some(Method::Other(method)));
        assert_eq!(m.cseq().unwrap().method, Method::Other(method));
        let u = m.request_uri().unwrap();
        assert_eq!(
            u.user,
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password,
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert_eq!(u.host_str, "example.com");
        assert_eq!(
            m.call_id(),
            Some(r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#)
        );
        let to = name_addr(m, HeaderName::To);
        assert!(to.display.unwrap().contains('\0'));
        assert_eq!(
            to.uri.user,
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        let from = name_addr(m, HeaderName::From);
        assert_eq!(from.display, Some("token1~` token2'+_ token3*%!.-"));
        assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
        assert!(
            from.param("fromParam''~+*_!.-%")
                .unwrap()
                .unwrap()
                .starts_with("\"\u{440}\u{430}\u{431}")
        );
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
        let ext = m
            .headers()
            .iter()
            .find(|h| h.raw_name == "extensionHeader-!.%*+_`'~")
            .unwrap();
        assert_eq!(ext.value, "\u{feff}\u{5927}\u{505c}\u{96fb}");
    });
}

#[test]
fn escapes_are_kept_as_written() {
    with_msg("rfc4475", "esc01.dat", |m| {
        let u = m.request_uri().unwrap();
        assert_eq!(u.user, Some("sips%3Auser%40example.com"));
        assert_eq!(u.host_str, "example.net");
        assert_eq!(name_addr(m, HeaderName::To).uri.user, Some("%75se%72"));
        assert_eq!(
            name_addr(m, HeaderName::From).uri.user,
            Some("I%20have%20spaces")
        );
        assert_eq!(m.header(HeaderName::CallId).unwrap().raw_name, "i");
        assert_eq!(m.header(HeaderName::ContentType).unwrap().raw_name, "C");
        let c = contacts(m);
        assert_eq!(c[0].uri.params, ";%6C%72;n%61me=v%61lue%25%34%31");
        assert_eq!(c[0].uri.param("n%61me"), Some(Some("v%61lue%25%34%31")));
    });
    with_msg("rfc4475", "escnull.dat", |m| {
        let c = contacts(m);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].uri.user, Some("%00"));
        assert_eq!(c[1].uri.user, Some("%00%00"));
        assert_eq!(m.header(HeaderName::ContentLength).unwrap().raw_name, "L");
    });
    with_msg("rfc4475", "esc02.dat", |m| {
        assert_eq!(m.method(), Some(Method::Other("RE%47IST%45R")));
        // "C%6Fntact" is not Contact: two Contact values, one unknown header.
        assert_eq!(contacts(m).len(), 2);
        let odd = m
            .headers()
            .iter()
            .find(|h| h.raw_name == "C%6Fntact")
            .unwrap();
        assert_eq!(odd.name, HeaderName::Other);
        assert_eq!(name_addr(m, HeaderName::To).display, Some("\"%Z%45\""));
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK209%fzsnel234"));
    });
}

#[test]
fn display_names_and_addr_specs() {
    with_msg("rfc4475", "lwsdisp.dat", |m| {
        let from = name_addr(m, HeaderName::From);
        assert_eq!(from.display, Some("caller"));
        assert_eq!(from.tag(), Some("323"));
    });
    with_msg("rfc4475", "cparam01.dat", |m| {
        let c = contacts(m);
        assert!(!c[0].angle);
        assert_eq!(c[0].param("unknownparam"), Some(None));
        assert_eq!(c[0].uri.param("unknownparam"), None);
        assert_eq!(c[0].uri.user, Some("+19725552222"));
    });
    with_msg("rfc4475", "cparam02.dat", |m| {
        let c = contacts(m);
        assert!(c[0].angle);
        assert_eq!(c[0].param("unknownparam"), None);
        assert_eq!(c[0].uri.param("unknownparam"), Some(None));
    });
    with_msg("rfc4475", "regescrt.dat", |m| {
        let c = contacts(m);
        assert_eq!(m.header(HeaderName::Contact).unwrap().raw_name, "M");
        assert_eq!(c[0].uri.headers, Some("Route=%3Csip:sip.example.com%3E"));
    });
    with_msg("rfc4475", "unksm2.dat", |m| {
        let to = name_addr(m, HeaderName::To);
        assert_eq!((to.uri.scheme, to.uri.opaque), ("isbn", Some("2983792873")));
        let from = name_addr(m, HeaderName::From);
        assert_eq!(from.uri.scheme, "http");
        assert_eq!(from.tag(), Some("3234233"));
        assert_eq!(contacts(m)[0].uri.scheme, "name");
    });
}

#[test]
fn long_values_and_many_vias() {
    with_msg("rfc4475", "longreq.dat", |m| {
        let v = vias(m);
        assert_eq!(v.len(), 34);
        assert_eq!(v[0].host_str, "sip33.example.com");
        assert_eq!(v[33].host_str, "host.example.com");
        assert_eq!(v[33].received(), Some("192.0.2.5"));
        assert!(v[33].branch().unwrap().ends_with("longbranchvalue"));
        let to = name_addr(m, HeaderName::To);
        assert!(to.display.unwrap().ends_with("proportion\""));
        assert_eq!(to.uri.port, Some(6000));
        assert_eq!(to.tag(), None);
        assert!(
            to.uri
                .param("unknownparam1")
                .unwrap()
                .unwrap()
                .ends_with("longvalue")
        );
        let from = name_addr(m, HeaderName::From);
        assert!(from.tag().unwrap().starts_with("1298298298"));
        assert_eq!(m.header(HeaderName::From).unwrap().raw_name, "F");
        assert_eq!(m.body.len(), 150);
    });
}

#[test]
fn datagram_framing() {
    with_msg("rfc4475", "dblreq.dat", |m| {
        // Content-Length: 0 — the INVITE after it in the datagram is ignored.
        assert_eq!(m.method(), Some(Method::Register));
        assert!(m.body.is_empty());
        assert!(m.raw.len() > m.header_end + 100);
        assert_eq!(m.values(HeaderName::Via).count(), 1);
    });
    with_msg("rfc4475", "mpart01.dat", |m| {
        assert_eq!(m.method(), Some(Method::Message));
        assert_eq!(m.body.len(), 553);
        assert!(m.body.starts_with(b"--7a9cbec02ceef655\r\n"));
        assert!(m.body.ends_with(b"\r\n--7a9cbec02ceef655--\r\n"));
        let via = m.top_via().unwrap();
        assert_eq!(via.port, Some(5070));
        assert_eq!(via.rport(), Some(None));
        assert_eq!(
            name_addr(m, HeaderName::Route).uri.host,
            Host::Ipv4([127, 0, 0, 1].into())
        );
    });
    with_msg("rfc4475", "inv2543.dat", |m| {
        // No Content-Length: the body is the rest of the datagram.
        assert!(m.header(HeaderName::ContentLength).is_none());
        assert_eq!(m.body, &m.raw[m.header_end..]);
        assert!(m.header(HeaderName::MaxForwards).is_none());
        assert_eq!(m.top_via().unwrap().branch(), None);
        assert_eq!(name_addr(m, HeaderName::From).tag(), None);
        assert_eq!(
            name_addr(m, HeaderName::RecordRoute).uri.param("maddr"),
            Some(Some("ss1.example.com"))
        );
    });
    with_msg("rfc4475", "mcl01.dat", |m| {
        // Two Content-Length lines: the first frames the body, the check answers 400.
        assert_eq!(m.headers_named(HeaderName::ContentLength).count(), 2);
        assert_eq!(m.body.len(), 13);
    });
}

#[test]
fn uris_and_transports() {
    with_msg("rfc4475", "semiuri.dat", |m| {
        let u = m.request_uri().unwrap();
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host_str, "example.com");
        assert_eq!(u.params, "");
    });
    with_msg("rfc4475", "transports.dat", |m| {
        let t: Vec<&str> = vias(m).iter().map(|v| v.transport).collect();
        assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
        assert!(m.top_via().unwrap().is_udp());
    });
    with_msg("rfc4475", "unkscm.dat", |m| {
        let u = m.request_uri().unwrap();
        assert!(!u.is_sip());
        assert_eq!(u.opaque, Some("totallyopaquecontent"));
    });
    with_msg("rfc4475", "novelsc.dat", |m| {
        let u = m.request_uri().unwrap();
        assert_eq!(u.scheme, "soap.beep");
        assert_eq!(u.opaque, Some("//192.0.2.103:3002"));
    });
    with_msg("rfc4475", "badbranch.dat", |m| {
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK"));
    });
}

#[test]
fn responses() {
    with_msg("rfc4475", "unreason.dat", |m| {
        let StartLine::Response { code, reason } = m.start else {
            panic!("response expected")
        };
        assert_eq!(code, 200);
        assert!(reason.starts_with("= 2**3 * 5**2 \u{43d}\u{43e} "));
        assert!(!reason.ends_with(' '));
        assert_eq!(m.body.len(), 154);
    });
    with_msg("rfc4475", "noreason.dat", |m| {
        assert_eq!(
            m.start,
            StartLine::Response {
                code: 100,
                reason: ""
            }
        );
    });
}

#[test]
fn facts_the_proxy_decides_on() {
    // bext01: 420 Bad Extension is the proxy's answer to Proxy-Require.
    with_msg("rfc4475", "bext01.dat", |m| {
        let pr: Vec<&str> = m.values(HeaderName::ProxyRequire).collect();
        assert_eq!(pr, ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]);
        let rq: Vec<&str> = m.values(HeaderName::Require).collect();
        assert_eq!(rq, ["nothingSupportsThis", "nothingSupportsThisEither"]);
    });
    // zeromf: Max-Forwards 0 -> 483 from the proxy.
    with_msg("rfc4475", "zeromf.dat", |m| {
        assert_eq!(m.header(HeaderName::MaxForwards).unwrap().value, "0");
    });
    // bcast: the proxy drops a response whose next Via is a broadcast address.
    with_msg("rfc4475", "bcast.dat", |m| {
        let v = vias(m);
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].host, Host::Ipv4(std::net::Ipv4Addr::BROADCAST));
    });
}

#[test]
fn rfc5118_ipv6() {
    let v6 = |s: &str| -> std::net::Ipv6Addr { s.parse().expect("test address") };
    with_msg("rfc5118", "ipv6-good.dat", |m| {
        let u = m.request_uri().unwrap();
        assert_eq!(u.host, Host::Ipv6(v6("2001:db8::10")));
        assert_eq!(u.host_str, "[2001:db8::10]");
        let via = m.top_via().unwrap();
        assert_eq!(via.host, Host::Ipv6(v6("2001:db8::9:1")));
        assert_eq!(via.port, None);
        assert_eq!(contacts(m)[0].uri.host, Host::Ipv6(v6("2001:db8::1")));
    });
    with_msg("rfc5118", "port-ambiguous.dat", |m| {
        let u = m.request_uri().unwrap();
        assert_eq!(u.host, Host::Ipv6(v6("2001:db8::10:5070")));
        assert_eq!(u.port, None);
    });
    with_msg("rfc5118", "port-unambiguous.dat", |m| {
        let u = m.request_uri().unwrap();
        assert_eq!(u.host, Host::Ipv6(v6("2001:db8::10")));
        assert_eq!(u.port, Some(5070));
    });
    for file in [
        "via-received-param-with-delim.dat",
        "via-received-param-no-delim.dat",
    ] {
        with_msg("rfc5118", file, |m| {
            let via = m.top_via().unwrap();
            assert_eq!(
                via.received_ip(),
                Some(v6("2001:db8::9:255").into()),
                "{file}"
            );
            assert!(via.branch().unwrap().starts_with("z9hG4bKas3"));
        });
    }
    with_msg("rfc5118", "mult-ip-in-header.dat", |m| {
        let v = vias(m);
        assert_eq!(v[0].host, Host::Ipv6(v6("2001:db8::9:1")));
        assert_eq!(v[0].port, Some(6050));
        assert_eq!(v[1].host, Host::Ipv4([192, 0, 2, 1].into()));
        assert_eq!(v[2].host_str, "[2001:db8::9:255]");
        assert_eq!(v[2].received(), Some("192.0.2.200"));
    });
    with_msg("rfc5118", "ipv4-mapped-ipv6.dat", |m| {
        let v = vias(m);
        assert_eq!(v[0].host, Host::Ipv6(v6("::ffff:192.0.2.10")));
        assert_eq!(v[0].port, Some(19823));
        assert_eq!(contacts(m)[0].display, Some("\"T. desk phone\""));
        assert_eq!(m.body.len(), 236);
    });
    with_msg("rfc5118", "ipv6-correct-abnf-2-colons.dat", |m| {
        let to = name_addr(m, HeaderName::To);
        assert_eq!(to.uri.host, Host::Ipv6(v6("2001:db8::192.0.2.1")));
    });
    for file in ["ipv6-in-sdp.dat", "mult-ip-in-sdp.dat"] {
        with_msg("rfc5118", file, |m| {
            assert!(m.body.starts_with(b"v=0\r\n"), "{file}");
            assert_eq!(
                m.request_uri().unwrap().host,
                Host::Ipv6(v6("2001:db8::10"))
            );
        });
    }
    // Their SDP (§4.6, §4.8, §4.9): IPv6 with the `ipv6` feature, one family
    // per m= line, a mapped address read as IPv4; without it, refused.
    for (file, media) in [
        ("ipv6-in-sdp.dat", ["2001:db8::20", "2001:db8::20"]),
        ("mult-ip-in-sdp.dat", ["192.0.2.1", "2001:db8::1"]),
        ("ipv4-mapped-ipv6.dat", ["192.0.2.2", "192.0.2.2"]),
    ] {
        with_msg("rfc5118", file, |m| {
            let sdp = sipnat::sdp::Sdp::parse(m.body);
            if cfg!(feature = "ipv6") {
                let addrs: Vec<String> = sdp
                    .unwrap_or_else(|e| panic!("{file}: {e}"))
                    .media
                    .iter()
                    .map(|m| m.addr.to_string())
                    .collect();
                assert_eq!(addrs, media, "{file}");
            } else {
                assert_eq!(sdp, Err(sipnat::sdp::SdpError::AddrType), "{file}");
            }
        });
    }
    // The three-colon form of §4.10 is rejected wherever it appears.
    assert!(Uri::parse("sip:user@[2001:db8:::192.0.2.1]").is_err());
}

/// Every typed accessor on a message that parsed: none may panic, whatever
/// the bytes were.
fn exercise(buf: &[u8]) {
    let _ = outcome(buf);
    let Ok(m) = Message::parse(buf) else {
        return;
    };
    let _ = (m.call_id(), m.cseq(), m.method(), m.request_uri());
    if let Some(v) = m.top_via() {
        let _ = (
            v.branch(),
            v.received(),
            v.received_ip(),
            v.rport(),
            v.param("x"),
        );
    }
    for h in m.headers() {
        let _ = h.name.canonical();
        for v in sipnat::sip::split_comma(h.value) {
            let _ = Via::parse(v).map(|v| (v.rport(), v.received_ip()));
            let _ = ContactValue::parse(v);
            if let Ok(n) = NameAddr::parse(v) {
                let _ = (n.tag(), n.uri.param("lr"), n.uri.host.ip());
            }
            let _ = Uri::parse(v);
            let _ = sipnat::sip::CSeq::parse(v);
        }
    }
}

#[test]
fn prefixes_and_corruptions_do_not_panic() {
    sweep(7, 29, 40);
}

/// The exhaustive version (about 10 s in a debug build):
/// `cargo test --test corpus_parse -- --ignored`.
#[test]
#[ignore]
fn every_prefix_and_corruption_is_handled_without_panic() {
    sweep(1, 3, 1000);
}

/// Robustness sweep: truncations, single-byte corruptions and pseudo-random
/// multi-byte mutations of every corpus message must give Ok or Err, never a
/// panic, in the parser and in every accessor.
fn sweep(cut_step: usize, corrupt_step: usize, rounds: usize) {
    let specials = [
        0u8, b'\r', b'\n', b' ', b'\t', b'"', b'\\', b'<', b'>', b',', b';', b':', b'=', b'[',
        b']', b'@', b'?', b'%', b'/', 0x80, 0xff,
    ];
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift64
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for e in all_entries() {
        let buf = load(e.corpus, &e.file);
        for cut in (0..=buf.len()).step_by(cut_step) {
            exercise(&buf[..cut]);
        }
        let mut b = buf.clone();
        for i in (0..b.len()).step_by(corrupt_step) {
            for &x in &specials {
                let old = b[i];
                b[i] = x;
                let mut u = b.clone();
                unfold_headers(&mut u);
                exercise(&u);
                b[i] = old;
            }
        }
        for _ in 0..rounds {
            let mut u = buf.clone();
            for _ in 0..1 + next() % 8 {
                let i = (next() % u.len() as u64) as usize;
                u[i] = specials[(next() % specials.len() as u64) as usize];
            }
            unfold_headers(&mut u);
            exercise(&u);
        }
    }
}
