//! Unit tests of the SDP parser and rewriter, on bodies from real phones.

use super::*;
use crate::output::Buf;

const RELAY: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));

/// LF body text → CRLF bytes.
fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap() // test input: a literal
}

fn rewritten(body: &[u8], ports: &[u16]) -> Result<Vec<u8>, SdpError> {
    rewritten_to(body, ports, RELAY)
}

/// [`rewritten`] with the relay address `ours`.
fn rewritten_to(body: &[u8], ports: &[u16], ours: IpAddr) -> Result<Vec<u8>, SdpError> {
    let sdp = Sdp::parse(body)?;
    let mut mem = [0u8; 4096];
    let mut out = Buf::new(&mut mem);
    let ports: Vec<Port> = ports.iter().map(|&p| Port::relay_or_keep(p)).collect();
    rewrite(
        body,
        &sdp,
        &Rewrite {
            drop_codecs: &[],
            addr: Some(ours),
            ports: &ports,
        },
        &mut out,
    )?;
    Ok(out.as_bytes().to_vec())
}

fn err(body: &[u8]) -> SdpError {
    Sdp::parse(body).expect_err("body must be refused")
}

// sipp's built-in uac scenario SDP, with its template fields filled in.
const SIPP: &str = "v=0
o=user1 53655765 2353687637 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

// A Linphone-style offer: many codecs, session-level ICE credentials,
// candidates, a=rtcp with an address.
const LINPHONE: &str = "v=0
o=alice 1832 3290 IN IP4 192.168.1.33
s=Talk
c=IN IP4 192.168.1.33
t=0 0
a=ice-pwd:31ec21eb38b2ec6d36e8dc7b
a=ice-ufrag:c6c4e8a1
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 SILK/16000
a=rtpmap:98 speex/16000
a=fmtp:98 vbr=on
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp:7079 IN IP4 192.168.1.33
a=candidate:1 1 UDP 2130706303 192.168.1.33 7078 typ host
a=candidate:1 2 UDP 2130706302 192.168.1.33 7079 typ host
a=candidate:2 1 UDP 1694498687 198.51.100.7 41234 typ srflx raddr 192.168.1.33 rport 7078
a=end-of-candidates
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
";

// A baresip-style audio+video offer: media-level c= only, a=rtcp
// without address, rtcp-mux on video, an explicit a=sendrecv.
const BARESIP: &str = "v=0
o=- 1195016281 3712634066 IN IP4 10.0.0.5
s=-
t=0 0
m=audio 10000 RTP/AVP 0 8 101
c=IN IP4 10.0.0.5
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtcp:10001
a=sendrecv
a=label:1
m=video 10002 RTP/AVPF 96
c=IN IP4 10.0.0.6
b=AS:2000
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=0;profile-level-id=42e01f
a=rtcp-mux
a=rtcp-fb:* nack pli
";

// A re-INVITE putting audio and video on hold (RFC 3264 §8.4).
const HOLD: &str = "v=0
o=- 1 3 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
a=sendonly
m=audio 6000 RTP/AVP 0 8
m=video 6002 RTP/AVP 96
a=inactive
";

// RFC 2543 style hold: c=0.0.0.0.
const OLD_HOLD: &str = "v=0
o=- 1 4 IN IP4 192.168.1.20
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 6000 RTP/AVP 0
a=rtcp:6001 IN IP4 0.0.0.0
";

// An answer rejecting video (port 0, RFC 3264 §6); the rejected stream
// has no c= at all.
const REJECT: &str = "v=0
o=bob 7 8 IN IP4 192.168.1.50
s=-
t=0 0
m=audio 4000 RTP/AVP 0
c=IN IP4 192.168.1.50
a=rtcp:4001 IN IP4 192.168.1.50
m=video 0 RTP/AVP 96
a=rtcp:9 IN IP4 192.168.1.50
";

// T.38 fax re-INVITE (RFC 3362 image/t38 over UDPTL).
const T38: &str = "v=0
o=fax 2 3 IN IP4 192.168.1.40
s=-
c=IN IP4 192.168.1.40
t=0 0
m=image 5004 udptl t38
a=T38FaxVersion:0
a=T38MaxBitRate:14400
a=T38FaxRateManagement:transferredTCF
a=T38FaxMaxDatagram:400
a=T38FaxUdpEC:t38UDPRedundancy
";

const SAMPLES: [&str; 7] = [SIPP, LINPHONE, BARESIP, HOLD, OLD_HOLD, REJECT, T38];

#[test]
fn sipp_offer_parses() {
    let s = Sdp::parse(&crlf(SIPP)).unwrap();
    assert_eq!(s.origin_addr, Some(ip("192.168.1.20")));
    assert_eq!(s.session_addr, Some(ip("192.168.1.20")));
    assert_eq!(
        s.media.as_slice(),
        &[Media {
            port: 6000,
            port_count: 1,
            addr: ip("192.168.1.20"),
            rtcp: None,
            rtcp_mux: false,
            direction: Direction::SendRecv,
            is_rtp: true,
            dtls: false,
            udp: true,
            kind: MediaKind::Audio,
        }]
    );
    assert!(!s.is_hold());
}

#[test]
fn sipp_offer_rewrites_exactly() {
    let out = rewritten(&crlf(SIPP), &[7070]).unwrap();
    let want = crlf(
        "v=0
o=user1 53655765 2353687637 IN IP4 203.0.113.1
s=-
c=IN IP4 203.0.113.1
t=0 0
m=audio 7070 RTP/AVP 0
a=rtpmap:0 PCMU/8000
",
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn linphone_offer_loses_ice_and_points_rtcp_at_relay() {
    let body = crlf(LINPHONE);
    let s = Sdp::parse(&body).unwrap();
    assert_eq!(s.media.len(), 1);
    assert_eq!(s.media[0].port, 7078);
    assert_eq!(s.media[0].rtcp, Some((7079, Some(ip("192.168.1.33")))));
    let out = rewritten(&body, &[7070]).unwrap();
    let text = core::str::from_utf8(&out).unwrap();
    assert!(!text.contains("candidate"), "{text}");
    assert!(!text.contains("a=ice-"), "{text}");
    assert!(!text.contains("192.168.1.33"), "{text}");
    assert!(
        text.contains("\r\na=rtcp:7071 IN IP4 203.0.113.1\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nm=audio 7070 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n"));
    // Unrelated attributes survive byte for byte, in order.
    assert!(
        text.contains(
            "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n"
        )
    );
    assert!(text.ends_with("a=rtcp-fb:* trr-int 1000\r\na=rtcp-fb:* ccm tmmbr\r\n"));
    // Every line of the output is a line of the input.
    let input = core::str::from_utf8(&body).unwrap();
    for l in text.split_inclusive('\n') {
        let kept = input.split_inclusive('\n').any(|i| i == l);
        assert!(
            kept || l.starts_with("o=")
                || l.starts_with("c=")
                || l.starts_with("m=")
                || l.starts_with("a=rtcp:"),
            "{l}"
        );
    }
    let again = Sdp::parse(&out).unwrap();
    assert_eq!(again.media[0].port, 7070);
    assert_eq!(again.media[0].rtcp, Some((7071, Some(RELAY))));
    assert_eq!(again.origin_addr, Some(RELAY));
}

#[test]
fn baresip_audio_video_media_level_connection() {
    let body = BARESIP.as_bytes(); // LF-only line ends
    let s = Sdp::parse(body).unwrap();
    assert_eq!(s.session_addr, None);
    assert_eq!(s.media.len(), 2);
    let (a, v) = (s.media[0], s.media[1]);
    assert_eq!(
        (a.kind, a.port, a.addr, a.rtcp),
        (MediaKind::Audio, 10000, ip("10.0.0.5"), Some((10001, None)))
    );
    assert_eq!(
        (v.kind, v.port, v.addr, v.rtcp, v.rtcp_mux),
        (MediaKind::Video, 10002, ip("10.0.0.6"), None, true)
    );
    assert!(v.is_rtp && v.udp);
    let out = rewritten(body, &[7070, 7072]).unwrap();
    let text = core::str::from_utf8(&out).unwrap();
    assert!(!text.contains('\r'), "LF style kept");
    assert!(text.contains("\nm=audio 7070 RTP/AVP 0 8 101\nc=IN IP4 203.0.113.1\n"));
    assert!(!text.contains("\na=rtcp:10001\n") && text.contains("\na=rtcp:7071\n"));
    assert!(text.contains("\nm=video 7072 RTP/AVPF 96\nc=IN IP4 203.0.113.1\nb=AS:2000\n"));
    let again = Sdp::parse(&out).unwrap();
    let ports: Vec<_> = again.media.iter().map(|m| (m.port, m.addr)).collect();
    assert_eq!(ports, [(7070, RELAY), (7072, RELAY)]);
    assert_eq!(again.media[0].rtcp, Some((7071, None)));
}

#[test]
fn hold_directions_session_and_media_level() {
    let s = Sdp::parse(&crlf(HOLD)).unwrap();
    assert_eq!(s.media[0].direction, Direction::SendOnly); // from session level
    assert_eq!(s.media[1].direction, Direction::Inactive); // media level wins
    assert!(s.is_hold());

    // Media-level recvonly overrides session sendonly: not a hold.
    let s = Sdp::parse(&crlf(&HOLD.replace("a=inactive", "a=recvonly"))).unwrap();
    assert_eq!(s.media[1].direction, Direction::RecvOnly);
    assert!(!s.is_hold());

    // An answer to a hold is recvonly: not a hold itself.
    let s = Sdp::parse(&crlf(&SIPP.replace("a=rtpmap:0 PCMU/8000", "a=recvonly"))).unwrap();
    assert_eq!(s.media[0].direction, Direction::RecvOnly);
    assert!(!s.is_hold());

    // Held audio plus a rejected video is still a hold.
    let held = format!("{SIPP}a=sendonly\nm=video 0 RTP/AVP 96\n");
    assert!(Sdp::parse(held.as_bytes()).unwrap().is_hold());
}

#[test]
fn old_style_hold_keeps_zero_address() {
    let body = crlf(OLD_HOLD);
    let s = Sdp::parse(&body).unwrap();
    assert_eq!(s.session_addr, Some(ip("0.0.0.0")));
    assert_eq!(s.media[0].addr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(s.media[0].direction, Direction::SendRecv);
    assert!(s.is_hold());
    let out = rewritten(&body, &[7070]).unwrap();
    let text = core::str::from_utf8(&out).unwrap();
    assert!(text.contains("\r\nc=IN IP4 0.0.0.0\r\n"), "{text}");
    assert!(
        text.contains("\r\na=rtcp:7071 IN IP4 0.0.0.0\r\n"),
        "{text}"
    );
    assert!(text.contains("o=- 1 4 IN IP4 203.0.113.1\r\n"), "{text}");
    assert!(Sdp::parse(&out).unwrap().is_hold());
}

#[test]
fn rejected_stream_keeps_port_zero() {
    let body = crlf(REJECT);
    let s = Sdp::parse(&body).unwrap();
    assert_eq!(s.media[1].port, 0);
    assert_eq!(s.media[1].addr, Ipv4Addr::UNSPECIFIED);
    assert!(!s.is_hold());
    let out = rewritten(&body, &[7070, 7072]).unwrap();
    let text = core::str::from_utf8(&out).unwrap();
    assert!(text.contains("\r\nm=video 0 RTP/AVP 96\r\n"), "{text}");
    // The rejected stream's rtcp port stays, its address does not leak.
    assert!(
        text.contains("\r\na=rtcp:9 IN IP4 203.0.113.1\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\na=rtcp:7071 IN IP4 203.0.113.1\r\n"),
        "{text}"
    );
    let again = Sdp::parse(&out).unwrap();
    assert_eq!((again.media[0].port, again.media[1].port), (7070, 0));

    // A body with only rejected streams is no hold.
    let none = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 0 RTP/AVP 0\n";
    assert!(!Sdp::parse(none.as_bytes()).unwrap().is_hold());
}

#[test]
fn t38_image_udptl_and_other_protos() {
    let s = Sdp::parse(&crlf(T38)).unwrap();
    let m = s.media[0];
    assert_eq!(
        (m.kind, m.port, m.is_rtp, m.udp),
        (MediaKind::Image, 5004, false, true)
    );
    let out = rewritten(&crlf(T38), &[7074]).unwrap();
    let text = core::str::from_utf8(&out).unwrap();
    assert!(
        text.contains("\r\nm=image 7074 udptl t38\r\na=T38FaxVersion:0\r\n"),
        "{text}"
    );

    let other = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n\
                 m=message 2855 TCP/MSRP *\nm=audio 5000 UDP/TLS/RTP/SAVPF 111\n\
                 m=text 5002 RTP/AVP 98\nm=application 5004 UDP/BFCP *\n";
    let s = Sdp::parse(other.as_bytes()).unwrap();
    let got: Vec<_> = s.media.iter().map(|m| (m.kind, m.is_rtp, m.udp)).collect();
    assert_eq!(
        got,
        [
            (MediaKind::Other, false, false),
            (MediaKind::Audio, true, true),
            (MediaKind::Text, true, true),
            (MediaKind::Application, false, true),
        ]
    );
}

#[test]
fn body_without_media() {
    let body = crlf("v=0\no=- 5 5 IN IP4 192.168.1.9\ns=-\nc=IN IP4 192.168.1.9\nt=0 0\n");
    let s = Sdp::parse(&body).unwrap();
    assert!(s.media.is_empty());
    assert!(!s.is_hold());
    let out = rewritten(&body, &[]).unwrap();
    assert_eq!(
        out,
        crlf("v=0\no=- 5 5 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\n")
    );
}

#[test]
fn line_endings_blank_lines_and_odd_spacing_are_kept() {
    // Mixed CRLF/LF, a blank line, no final line end, double spaces.
    let body = b"v=0\r\no=- 1 2 IN  IP4   10.1.1.1\ns=-\r\n\r\nc=IN IP4 10.1.1.1\nt=0 0\r\nm=audio  6000/2 RTP/AVP 0\r\na=ptime:20";
    let s = Sdp::parse(body).unwrap();
    assert_eq!((s.media[0].port, s.media[0].port_count), (6000, 2));
    let out = rewritten(body, &[7070]).unwrap();
    assert_eq!(
        core::str::from_utf8(&out).unwrap(),
        "v=0\r\no=- 1 2 IN  IP4   203.0.113.1\ns=-\r\n\r\nc=IN IP4 203.0.113.1\nt=0 0\r\nm=audio  7070/2 RTP/AVP 0\r\na=ptime:20"
    );
}

#[test]
fn origin_with_spaces_in_user_and_host_name() {
    let body = b"v=0\no=John Doe 1 2 IN IP4 pc33.example.com\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n";
    let s = Sdp::parse(body).unwrap();
    assert_eq!(s.origin_addr, None);
    let out = rewritten(body, &[]).unwrap();
    assert!(out.starts_with(b"v=0\no=John Doe 1 2 IN IP4 203.0.113.1\n"));
}

#[test]
fn ports_zero_or_missing_keep_the_original() {
    let body = BARESIP.as_bytes();
    let out = rewritten(body, &[0, 7072]).unwrap();
    let s = Sdp::parse(&out).unwrap();
    assert_eq!(
        (s.media[0].port, s.media[0].rtcp),
        (10000, Some((10001, None)))
    );
    assert_eq!(s.media[1].port, 7072);
    let out = rewritten(body, &[7070]).unwrap();
    let s = Sdp::parse(&out).unwrap();
    assert_eq!((s.media[0].port, s.media[1].port), (7070, 10002));
    assert_eq!(
        s.media[1].addr, RELAY,
        "c= is rewritten regardless of the port"
    );
}

#[test]
fn session_level_rtcp_and_ice_lines_are_dropped() {
    let body = b"v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\na=rtcp:5001 IN IP4 10.0.0.1\n\
a=ice-lite\na=ice-options:trickle\nm=audio 5000 RTP/AVP 0\na=ice-mismatch\na=remote-candidates:1 10.0.0.1 5000\n\
a=ice-ufrag:x\na=rtcp:65535\n";
    let s = Sdp::parse(body).unwrap();
    assert_eq!(s.media[0].rtcp, Some((65535, None)));
    let out = rewritten(body, &[7070]).unwrap();
    assert_eq!(
        core::str::from_utf8(&out).unwrap(),
        "v=0\no=- 1 1 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\nm=audio 7070 RTP/AVP 0\na=rtcp:7071\n"
    );
    // A relay port of 65535 leaves no RTCP port: the a=rtcp line goes.
    let out = rewritten(body, &[65535]).unwrap();
    assert!(out.ends_with(b"m=audio 65535 RTP/AVP 0\n"));
}

#[test]
fn eight_media_fit_nine_do_not() {
    let mut body = String::from("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n");
    for i in 0..MAX_MEDIA {
        body.push_str(&format!("m=audio {} RTP/AVP 0\n", 5000 + 2 * i));
    }
    let s = Sdp::parse(body.as_bytes()).unwrap();
    assert_eq!(s.media.len(), MAX_MEDIA);
    let out = rewritten(body.as_bytes(), &[1000, 1002, 1004, 1006]).unwrap();
    let ports: Vec<_> = Sdp::parse(&out)
        .unwrap()
        .media
        .iter()
        .map(|m| m.port)
        .collect();
    // Media without a relay port keep their own.
    assert_eq!(ports, [1000, 1002, 1004, 1006, 5008, 5010, 5012, 5014]);
    body.push_str("m=audio 6000 RTP/AVP 0\n");
    assert_eq!(err(body.as_bytes()), SdpError::TooManyMedia);
}

#[cfg(not(feature = "ipv6"))]
#[test]
fn rfc5118_ipv6_bodies_are_refused() {
    for dat in [
        &include_bytes!("../../tests/data/rfc5118/ipv6-in-sdp.dat")[..],
        &include_bytes!("../../tests/data/rfc5118/mult-ip-in-sdp.dat")[..],
    ] {
        let at = dat
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("message has a body");
        let body = &dat[at + 4..];
        assert!(body.starts_with(b"v=0"));
        assert_eq!(err(body), SdpError::AddrType);
    }
    // mult-ip-in-sdp: its IPv4 half alone parses (o= holds a host name).
    let v4 = b"v=0\r\no=bob 280744730 28977631 IN IP4 host.example.com\r\ns=\r\nt=0 0\r\nm=audio 22334 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\n";
    let s = Sdp::parse(v4).unwrap();
    assert_eq!((s.origin_addr, s.media[0].addr), (None, ip("192.0.2.1")));
}

#[test]
fn every_error_path() {
    let base = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n";
    let with = |extra: &str| format!("{base}{extra}\n");
    let cases: &[(&[u8], SdpError)] = &[
        (b"v=0\ns=\xff\xfe\n", SdpError::NotUtf8),
        (b"", SdpError::NoVersion),
        (b"\r\n\r\n", SdpError::NoVersion),
        (b"o=- 1 1 IN IP4 10.0.0.1\nv=0\n", SdpError::NoVersion),
        (b"v=1\n", SdpError::NoVersion),
        (b"hello world", SdpError::NoVersion),
        (b"o=- 1 1 IN IP6 ::1\n", SdpError::NoVersion),
    ];
    for (body, want) in cases {
        assert_eq!(err(body), *want, "{:?}", String::from_utf8_lossy(body));
    }
    let cases: &[(&str, SdpError)] = &[
        ("garbage", SdpError::Syntax),
        (" s=x", SdpError::Syntax),
        ("s =x", SdpError::Syntax),
        ("=x", SdpError::Syntax),
        ("1=x", SdpError::Syntax),
        ("s", SdpError::Syntax),
        ("\u{e9}=x", SdpError::Syntax),
        ("m=audio", SdpError::Syntax),
        ("m=audio 6000", SdpError::Syntax),
        ("m=audio 6000 RTP/AVP 0\nc=IN IP4", SdpError::Syntax),
        ("m=audio 6000 RTP/AVP 0\nc=IN", SdpError::Syntax),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.2 extra",
            SdpError::Syntax,
        ),
        ("o=- 1 IN IP4 10.0.0.1", SdpError::Syntax),
        ("m=audio 6000 RTP/AVP 0\na=rtcp", SdpError::Syntax),
        ("m=audio 6000 RTP/AVP 0\na=rtcp:", SdpError::Syntax),
        (
            "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP4",
            SdpError::Syntax,
        ),
        (
            "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP4 10.0.0.1 x",
            SdpError::Syntax,
        ),
        ("c=IN IP4 10.0.0.2", SdpError::Syntax), // second session-level c=
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.2\nc=IN IP4 10.0.0.3",
            SdpError::Syntax,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP4 2001:db8::1",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP4 ::ffff:10.0.0.1",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP5 10.0.0.1",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=XX IP4 10.0.0.1",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP4 host.example.com",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=ATM NSAP 47.0005",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.256",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP4 ::1",
            SdpError::AddrType,
        ),
        ("o=x 1 1 IN IP5 10.0.0.1", SdpError::AddrType),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP4 224.2.1.1/127",
            SdpError::Multicast,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP4 233.1.1.1",
            SdpError::Multicast,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.1/2",
            SdpError::Multicast,
        ),
        (
            "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP4 239.0.0.1",
            SdpError::Multicast,
        ),
        ("m=audio 70000 RTP/AVP 0", SdpError::BadPort),
        ("m=audio 65536 RTP/AVP 0", SdpError::BadPort),
        ("m=audio -1 RTP/AVP 0", SdpError::BadPort),
        ("m=audio +5 RTP/AVP 0", SdpError::BadPort),
        ("m=audio 0006000 RTP/AVP 0", SdpError::BadPort),
        ("m=audio x RTP/AVP 0", SdpError::BadPort),
        ("m=audio 6000/0 RTP/AVP 0", SdpError::BadPort),
        ("m=audio 6000/ RTP/AVP 0", SdpError::BadPort),
        ("m=audio /2 RTP/AVP 0", SdpError::BadPort),
        ("m=audio 6000 RTP/AVP 0\na=rtcp:abc", SdpError::BadPort),
        ("m=audio 6000 RTP/AVP 0\na=rtcp:65536", SdpError::BadPort),
    ];
    // IPv6 without the feature is an address type sipnat does not know;
    // with it, the type and the literal must agree (RFC 4566 §5.7).
    #[cfg(not(feature = "ipv6"))]
    let ip6: &[(&str, SdpError)] = &[
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP6 2001:db8::1",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP6 ::1",
            SdpError::AddrType,
        ),
        ("o=x 1 1 IN IP6 2001:db8::1", SdpError::AddrType),
    ];
    #[cfg(feature = "ipv6")]
    let ip6: &[(&str, SdpError)] = &[
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP6 10.0.0.1",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP6 host.example.com",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP6 fe80::1%eth0",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP6 2001:db8::1::2",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP6 10.0.0.1",
            SdpError::AddrType,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP6 ff02::1",
            SdpError::Multicast,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP6 ff0e::101/2",
            SdpError::Multicast,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP6 ::ffff:224.2.1.1",
            SdpError::Multicast,
        ),
        (
            "m=audio 6000 RTP/AVP 0\na=rtcp:6001 IN IP6 ff05::2",
            SdpError::Multicast,
        ),
        (
            "m=audio 6000 RTP/AVP 0\nc=IN IP6 2001:db8::1\nc=IN IP6 2001:db8::2",
            SdpError::Syntax,
        ),
    ];
    for (extra, want) in cases.iter().chain(ip6) {
        assert_eq!(err(with(extra).as_bytes()), *want, "{extra:?}");
    }
    // No c= anywhere for an active stream.
    let no_c = b"v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 6000 RTP/AVP 0\n";
    assert_eq!(err(no_c), SdpError::NoConnection);
    let no_c2 = b"v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.1\nm=video 6002 RTP/AVP 96\n";
    assert_eq!(err(no_c2), SdpError::NoConnection);
    // Names are distinct (they key the stats counters).
    let all = [
        SdpError::NotUtf8,
        SdpError::Syntax,
        SdpError::NoVersion,
        SdpError::NoConnection,
        SdpError::AddrType,
        SdpError::BadPort,
        SdpError::TooManyMedia,
        SdpError::Multicast,
        SdpError::Overflow,
        SdpError::Mismatch,
        SdpError::Family,
    ];
    let mut names: Vec<_> = all.iter().map(|e| e.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len());
    assert_eq!(SdpError::Multicast.to_string(), "sdp-multicast");
}

#[test]
fn rewrite_refuses_bad_body_and_foreign_sdp_without_writing() {
    let mut mem = [0u8; 512];
    let mut out = Buf::new(&mut mem);
    out.put(b"HDR");
    let sipp = Sdp::parse(SIPP.as_bytes()).unwrap();
    let rw = Rewrite {
        drop_codecs: &[],
        addr: Some(RELAY),
        ports: &[Port::Relay(7070)],
    };
    assert_eq!(
        rewrite(b"not sdp", &sipp, &rw, &mut out),
        Err(SdpError::NoVersion)
    );
    assert_eq!(
        rewrite(T38.as_bytes(), &sipp, &rw, &mut out),
        Err(SdpError::Mismatch)
    );
    assert_eq!(out.as_bytes(), b"HDR");
    assert!(!out.overflowed());
}

#[test]
fn a_stream_the_relay_cannot_take_is_rejected_with_port_0() {
    let body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\na=rtcp:4003\r\n";
    let sdp = Sdp::parse(body).unwrap();
    let mut mem = [0u8; 512];
    let mut out = Buf::new(&mut mem);
    let ports = [Port::Relay(7070), Port::Reject];
    rewrite(
        body,
        &sdp,
        &Rewrite {
            drop_codecs: &[],
            addr: Some(RELAY),
            ports: &ports,
        },
        &mut out,
    )
    .unwrap();
    let again = Sdp::parse(out.as_bytes()).unwrap();
    assert_eq!(again.media[0].port, 7070);
    assert_eq!(again.media[1].port, 0);
    let text = core::str::from_utf8(out.as_bytes()).unwrap();
    assert!(text.contains("m=video 0 RTP/AVP 96\r\n"), "{text}");
    assert!(!text.contains("10.0.0.2"), "{text}");
}

#[test]
fn small_output_buffer_overflows_cleanly() {
    let body = crlf(LINPHONE);
    let sdp = Sdp::parse(&body).unwrap();
    let rw = Rewrite {
        drop_codecs: &[],
        addr: Some(RELAY),
        ports: &[Port::Relay(7070)],
    };
    let full = rewritten(&body, &[7070]).unwrap();
    for cap in [0, 1, 10, full.len() - 1] {
        let mut mem = vec![0u8; cap];
        let mut out = Buf::new(&mut mem);
        assert_eq!(
            rewrite(&body, &sdp, &rw, &mut out),
            Err(SdpError::Overflow),
            "cap {cap}"
        );
        assert_eq!(out.len(), 0, "nothing half-written");
    }
    let mut mem = vec![0u8; full.len()];
    let mut out = Buf::new(&mut mem);
    assert_eq!(rewrite(&body, &sdp, &rw, &mut out), Ok(()));
    assert_eq!(out.as_bytes(), &full[..]);
}

/// xorshift64 (Marsaglia): deterministic, no dev-dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutations_never_panic_and_rewrites_reparse() {
    mutations(&SAMPLES.map(String::from), RELAY, 0x9e37_79b9_7f4a_7c15);
}

/// The samples in IPv6 (the hold's `0.0.0.0` as `::`), rewritten toward
/// both families.
#[cfg(feature = "ipv6")]
#[test]
fn ipv6_mutations_never_panic_and_rewrites_reparse() {
    let six = SAMPLES.map(|s| {
        s.replace("IN IP4 192.168.1.", "IN IP6 2001:db8:77:1::")
            .replace("IN IP4 10.0.0.", "IN IP6 fd00::")
            .replace("IN IP4 0.0.0.0", "IN IP6 ::")
    });
    assert!(six.iter().all(|s| !s.contains("IP4")));
    mutations(&six, RELAY6, 0x2545_f491_4f6c_dd1d);
    mutations(&six, RELAY, 0x1234_5678_9abc_def1);
    mutations(&SAMPLES.map(String::from), RELAY6, 0x0f0f_1234_5555_aaaa);
}

/// Mutate the samples at random; whatever still parses must rewrite
/// toward `ours` into a body that parses to the same streams.
fn mutations(samples: &[String], ours: IpAddr, seed: u64) {
    const INTERESTING: &[u8] = b" \t\r\n=/:.0159mcoav-\xff\xc3";
    let mut rng = Rng(seed);
    let ports = [7070, 7072, 7074, 7076];
    let mut parsed_ok = 0;
    for round in 0..6000 {
        let base = samples[round % samples.len()].as_str();
        let mut body = if round % 2 == 0 {
            crlf(base)
        } else {
            base.as_bytes().to_vec()
        };
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(body.len() + 1);
            match rng.below(5) {
                0 if at < body.len() => body[at] ^= 1 << rng.below(8),
                1 => body.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
                2 if at < body.len() => {
                    body.remove(at);
                }
                3 => body.truncate(at),
                _ => {
                    let end = (at + rng.below(40)).min(body.len());
                    let chunk = body[at..end].to_vec();
                    let to = rng.below(body.len() + 1);
                    body.splice(to..to, chunk);
                }
            }
        }
        let Ok(sdp) = Sdp::parse(&body) else { continue };
        parsed_ok += 1;
        let _ = sdp.is_hold();
        let mut mem = [0u8; 4096];
        let mut out = Buf::new(&mut mem);
        let relay_ports = ports.map(Port::Relay);
        let rw = Rewrite {
            drop_codecs: &[],
            addr: Some(ours),
            ports: &relay_ports,
        };
        rewrite(&body, &sdp, &rw, &mut out).unwrap(); // 4 KiB holds any rewrite of these bodies
        let again = Sdp::parse(out.as_bytes()).unwrap_or_else(|e| {
            panic!(
                "{e:?}: {:?} -> {:?}",
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(out.as_bytes())
            )
        });
        assert_eq!(again.media.len(), sdp.media.len());
        for (i, (a, m)) in again.media.iter().zip(&sdp.media).enumerate() {
            let want = if m.port == 0 { 0 } else { ports[i] };
            assert_eq!(a.port, want);
            assert!(a.addr == ours || a.addr.is_unspecified(), "{a:?}");
            // Every stream comes out in the family of `ours`, holds too
            // (a mapped hold `::ffff:0.0.0.0` stays when no family changes).
            let mapped = m.addr.is_unspecified() && m.addr.is_ipv4() && ours.is_ipv6();
            assert!(a.addr.is_ipv4() == ours.is_ipv4() || mapped, "{a:?}");
            assert_eq!(a.addr.is_unspecified(), m.addr.is_unspecified());
            assert_eq!(
                (a.direction, a.kind, a.is_rtp, a.udp),
                (m.direction, m.kind, m.is_rtp, m.udp)
            );
        }
        assert_eq!(again.is_hold(), sdp.is_hold());
        // A tight buffer overflows without panicking.
        let mut small = [0u8; 40];
        let mut out = Buf::new(&mut small);
        let r = rewrite(&body, &sdp, &rw, &mut out);
        assert!(matches!(r, Ok(()) | Err(SdpError::Overflow)));
    }
    assert!(parsed_ok > 500, "mutations too destructive: {parsed_ok}");
}

// ---------------------------------------------------------- codecfilter

fn filtered(body: &str, ports: &[u16], drop: &[&str]) -> String {
    let body = crlf(body);
    let sdp = Sdp::parse(&body).unwrap();
    let mut mem = [0u8; 4096];
    let mut out = Buf::new(&mut mem);
    let ports: Vec<Port> = ports.iter().map(|&p| Port::relay_or_keep(p)).collect();
    let drop: Vec<String> = drop.iter().map(|s| s.to_string()).collect();
    let rw = Rewrite {
        drop_codecs: &drop,
        addr: Some(RELAY),
        ports: &ports,
    };
    rewrite(&body, &sdp, &rw, &mut out).unwrap();
    String::from_utf8(out.as_bytes().to_vec())
        .unwrap()
        .replace("\r\n", "\n")
}

const CODECS: &str = "v=0
o=- 1 1 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 4000 RTP/AVP 0 8 18 2 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:2 G726-32/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtcp-fb:18 nack
a=sendrecv
";

#[test]
fn codecfilter_takes_listed_codecs_out_with_their_attributes() {
    // siproxd's match: case-insensitive substring ("726" takes G726-32)
    let out = filtered(CODECS, &[7070], &["g729", "726"]);
    assert!(out.contains("m=audio 7070 RTP/AVP 0 8 101\n"), "{out}");
    for gone in ["rtpmap:18", "fmtp:18", "rtcp-fb:18", "rtpmap:2 "] {
        assert!(!out.contains(gone), "{gone}: {out}");
    }
    for kept in [
        "a=rtpmap:0 PCMU",
        "a=rtpmap:101",
        "a=fmtp:101 0-15",
        "a=sendrecv",
    ] {
        assert!(out.contains(kept), "{kept}: {out}");
    }
    // the result parses, and an empty list changes nothing else
    assert!(Sdp::parse(out.replace('\n', "\r\n").as_bytes()).is_ok());
    let same = filtered(CODECS, &[7070], &[]);
    assert!(
        same.contains("m=audio 7070 RTP/AVP 0 8 18 2 101\n"),
        "{same}"
    );
}

#[test]
fn codecfilter_knows_static_payload_types_without_rtpmap() {
    let body = "v=0\no=- 1 1 IN IP4 192.168.1.20\ns=-\nc=IN IP4 192.168.1.20\nt=0 0\nm=audio 4000 RTP/AVP 3 0 18\n";
    let out = filtered(body, &[7070], &["GSM", "G729"]);
    assert!(out.contains("m=audio 7070 RTP/AVP 0\n"), "{out}");
}

#[test]
fn codecfilter_rejects_a_stream_left_without_codecs() {
    let body = "v=0\no=- 1 1 IN IP4 192.168.1.20\ns=-\nc=IN IP4 192.168.1.20\nt=0 0\nm=audio 4000 RTP/AVP 18\na=rtpmap:18 G729/8000\n";
    let out = filtered(body, &[7070], &["G729"]);
    // RFC 3264 §6: port 0; the format list stays (an m= line needs one)
    assert!(out.contains("m=audio 0 RTP/AVP 18\n"), "{out}");
}

#[test]
fn codecfilter_alone_keeps_every_address_when_media_is_not_relayed() {
    // rtp_proxy_enable = 0: no relay address; only the codecs change.
    let body = crlf(&format!(
        "{CODECS}a=rtcp:4001 IN IP4 192.168.1.20\na=candidate:1 1 UDP 2130706431 192.168.1.20 4000 typ host\n"
    ));
    let sdp = Sdp::parse(&body).unwrap();
    let drop = vec!["G729".to_string()];
    let rw = Rewrite {
        drop_codecs: &drop,
        addr: None,
        ports: &[],
    };
    let mut mem = [0u8; 4096];
    let mut out = Buf::new(&mut mem);
    rewrite(&body, &sdp, &rw, &mut out).unwrap();
    let out = String::from_utf8(out.as_bytes().to_vec()).unwrap();
    assert!(out.contains("m=audio 4000 RTP/AVP 0 8 2 101\r\n"), "{out}");
    assert!(!out.contains("G729") && !out.contains("fmtp:18"), "{out}");
    let unchanged = [
        "o=- 1 1 IN IP4 192.168.1.20\r\n",
        "c=IN IP4 192.168.1.20\r\n",
        "a=rtcp:4001 IN IP4 192.168.1.20\r\n",
        "a=candidate:1 1 UDP 2130706431 192.168.1.20 4000 typ host\r\n",
    ];
    for line in unchanged {
        assert!(out.contains(line), "{line}: {out}");
    }
    // Nothing to drop: the body comes out byte for byte.
    let rw = Rewrite {
        drop_codecs: &[],
        ..rw
    };
    let mut mem = [0u8; 4096];
    let mut same = Buf::new(&mut mem);
    rewrite(&body, &sdp, &rw, &mut same).unwrap();
    assert_eq!(same.as_bytes(), &body[..]);
}

// ------------------------------------------------------------------ IPv6

/// sipnat's relay address on an IPv6 side (documentation prefix).
#[cfg(feature = "ipv6")]
const RELAY6: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1));

/// The SDP body of an RFC 5118 message.
#[cfg(feature = "ipv6")]
fn rfc5118_body(dat: &[u8]) -> &[u8] {
    let at = dat
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("message has a body");
    &dat[at + 4..]
}

#[cfg(feature = "ipv6")]
#[test]
fn rfc5118_ipv6_bodies_parse() {
    // §4.6: every address IPv6.
    let s = Sdp::parse(rfc5118_body(include_bytes!(
        "../../tests/data/rfc5118/ipv6-in-sdp.dat"
    )))
    .unwrap();
    assert_eq!(s.origin_addr, Some(ip("2001:db8::20")));
    assert_eq!(s.session_addr, Some(ip("2001:db8::20")));
    let m: Vec<_> = s.media.iter().map(|m| (m.port, m.addr)).collect();
    assert_eq!(m, [(6000, ip("2001:db8::20")), (6024, ip("2001:db8::20"))]);
    // §4.8: one family per m= line; the o= host name is no address.
    let s = Sdp::parse(rfc5118_body(include_bytes!(
        "../../tests/data/rfc5118/mult-ip-in-sdp.dat"
    )))
    .unwrap();
    assert_eq!((s.origin_addr, s.session_addr), (None, None));
    let m: Vec<_> = s.media.iter().map(|m| (m.kind, m.addr)).collect();
    assert_eq!(
        m,
        [
            (MediaKind::Audio, ip("192.0.2.1")),
            (MediaKind::Video, ip("2001:db8::1"))
        ]
    );
    // §4.9: an IPv4-mapped IPv6 address is the IPv4 address it maps.
    let s = Sdp::parse(rfc5118_body(include_bytes!(
        "../../tests/data/rfc5118/ipv4-mapped-ipv6.dat"
    )))
    .unwrap();
    assert_eq!(s.origin_addr, Some(ip("192.0.2.2")));
    assert!(s.media.iter().all(|m| m.addr == ip("192.0.2.2")));
}

#[cfg(feature = "ipv6")]
#[test]
fn ipv6_rtcp_attribute_and_any_case_type() {
    let body = "v=0\no=- 1 1 in ip6 2001:DB8:77:1::33\ns=-\nt=0 0\nm=audio 7078 RTP/AVP 0\nc=IN Ip6 2001:db8:77:1:0:0:0:33\na=rtcp:7079 IN IP6 2001:db8:77:1::34\n";
    let s = Sdp::parse(body.as_bytes()).unwrap();
    assert_eq!(s.origin_addr, Some(ip("2001:db8:77:1::33")));
    assert_eq!(s.media[0].addr, ip("2001:db8:77:1::33"));
    assert_eq!(s.media[0].rtcp, Some((7079, Some(ip("2001:db8:77:1::34")))));
    // Same family: only the address changes, the tokens stay as written.
    let out = rewritten_to(body.as_bytes(), &[7070], RELAY6).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "v=0\no=- 1 1 in ip6 2001:db8:100::1\ns=-\nt=0 0\nm=audio 7070 RTP/AVP 0\nc=IN Ip6 2001:db8:100::1\na=rtcp:7071 IN IP6 2001:db8:100::1\n"
    );
    // Across: the tokens become IP4.
    let out = rewritten_to(body.as_bytes(), &[7070], RELAY).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "v=0\no=- 1 1 in IP4 203.0.113.1\ns=-\nt=0 0\nm=audio 7070 RTP/AVP 0\nc=IN IP4 203.0.113.1\na=rtcp:7071 IN IP4 203.0.113.1\n"
    );
}

#[cfg(feature = "ipv6")]
#[test]
fn origin_literal_of_the_other_family_is_taken_like_a_host_name() {
    // o= only names the session (RFC 4566 §5.2): sipnat has always taken
    // what it could not read there, and rewrites it all the same.
    for o in ["IN IP4 2001:db8::1", "IN IP6 192.0.2.1"] {
        let body =
            format!("v=0\no=- 1 1 {o}\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n");
        assert_eq!(Sdp::parse(body.as_bytes()).unwrap().origin_addr, None);
        let out = rewritten(body.as_bytes(), &[7070]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("v=0\no=- 1 1 IN IP4 203.0.113.1\n"),
            "{text}"
        );
    }
}

#[cfg(feature = "ipv6")]
#[test]
fn ipv6_hold_keeps_the_unspecified_address_in_the_family_it_goes_to() {
    // RFC 3264 §8.4: `c=IN IP6 ::` is the IPv6 form of 0.0.0.0.
    let held = "v=0\r\no=- 1 4 IN IP6 2001:db8:77:1::20\r\ns=-\r\nc=IN IP6 ::\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtcp:6001 IN IP6 ::\r\n";
    let s = Sdp::parse(held.as_bytes()).unwrap();
    assert_eq!(s.media[0].addr, ip("::"));
    assert!(s.is_hold());
    // To an IPv6 side: kept byte for byte (o= names no media: rewritten).
    let out = rewritten_to(held.as_bytes(), &[7070], RELAY6).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        held.replace("2001:db8:77:1::20", "2001:db8:100::1")
            .replace("6000", "7070")
            .replace("6001", "7071")
    );
    // To an IPv4 side: the IPv4 hold, 0.0.0.0; the tokens follow.
    let out = rewritten(held.as_bytes(), &[7070]).unwrap();
    let want = "v=0\r\no=- 1 4 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 7070 RTP/AVP 0\r\na=rtcp:7071 IN IP4 0.0.0.0\r\n";
    assert_eq!(String::from_utf8(out).unwrap(), want);
    assert!(Sdp::parse(want.as_bytes()).unwrap().is_hold());
    // And the IPv4 hold toward an IPv6 side becomes `::`.
    let out = rewritten_to(&crlf(OLD_HOLD), &[7070], RELAY6).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\r\nc=IN IP6 ::\r\n"), "{text}");
    assert!(text.contains("\r\na=rtcp:7071 IN IP6 ::\r\n"), "{text}");
    assert!(Sdp::parse(text.as_bytes()).unwrap().is_hold());
}

#[cfg(feature = "ipv6")]
#[test]
fn mixed_families_come_out_in_the_family_of_the_relay_address() {
    // RFC 5118 §4.8: audio on IPv4, video on IPv6, in one body.
    let body = rfc5118_body(include_bytes!(
        "../../tests/data/rfc5118/mult-ip-in-sdp.dat"
    ));
    for ours in [RELAY, RELAY6] {
        let out = rewritten_to(body, &[7070, 7072], ours).unwrap();
        let s = Sdp::parse(&out).unwrap();
        let m: Vec<_> = s.media.iter().map(|m| (m.port, m.addr)).collect();
        assert_eq!(m, [(7070, ours), (7072, ours)]);
        let text = String::from_utf8(out).unwrap();
        let (typ, other) = if ours.is_ipv4() {
            ("IN IP4 ", "IP6")
        } else {
            ("IN IP6 ", "IP4")
        };
        assert!(!text.contains(other), "{text}");
        assert_eq!(text.matches(typ).count(), 3, "{text}");
    }
}

/// A body in IPv6: LINPHONE with its LAN address moved to 2001:db8:77:1::33.
#[cfg(feature = "ipv6")]
fn linphone6() -> Vec<u8> {
    crlf(&LINPHONE.replace("IN IP4 192.168.1.33", "IN IP6 2001:db8:77:1::33"))
}

#[cfg(feature = "ipv6")]
#[test]
fn rewrite_v4_to_v6_changes_the_type_with_the_address_and_nothing_else() {
    // The same rewrite as toward an IPv4 side, but for each address the
    // token and the literal: no other byte differs.
    let v4 = String::from_utf8(rewritten(&crlf(LINPHONE), &[7070]).unwrap()).unwrap();
    let v6 = String::from_utf8(rewritten_to(&crlf(LINPHONE), &[7070], RELAY6).unwrap()).unwrap();
    assert_eq!(v4.matches("IN IP4 203.0.113.1").count(), 3, "{v4}");
    assert_eq!(
        v6,
        v4.replace("IN IP4 203.0.113.1", "IN IP6 2001:db8:100::1")
    );
}

#[cfg(feature = "ipv6")]
#[test]
fn rewrite_v6_to_v4_is_the_rewrite_of_the_v4_body() {
    let body = linphone6();
    let s = Sdp::parse(&body).unwrap();
    assert_eq!(s.media[0].addr, ip("2001:db8:77:1::33"));
    let from6 = rewritten(&body, &[7070]).unwrap();
    let from4 = rewritten(&crlf(LINPHONE), &[7070]).unwrap();
    assert_eq!(
        String::from_utf8(from6).unwrap(),
        String::from_utf8(from4).unwrap()
    );
    // And v6 to v6 is the v4-to-v6 rewrite.
    let six = rewritten_to(&body, &[7070], RELAY6).unwrap();
    let four_to_six = rewritten_to(&crlf(LINPHONE), &[7070], RELAY6).unwrap();
    assert_eq!(six, four_to_six);
}

#[cfg(feature = "ipv6")]
#[test]
fn unrelayed_ipv6_media_is_copied_as_written() {
    // `Rewrite::addr` None (rtp_proxy_enable = 0): only the codecs go.
    let body = linphone6();
    let sdp = Sdp::parse(&body).unwrap();
    let mut mem = [0u8; 4096];
    let mut out = Buf::new(&mut mem);
    let rw = Rewrite {
        addr: None,
        ports: &[],
        drop_codecs: &[],
    };
    rewrite(&body, &sdp, &rw, &mut out).unwrap();
    assert_eq!(out.as_bytes(), &body[..]);
}
