//! Address families of relayed media (issue 14): which streams of an SDP
//! the relay can take, and what an unrelayed SDP may name.
//!
//! A relay stream has two legs, and each leg is of its own family: the
//! family of the address its author's SDP names for it (each `m=` line may
//! have its own, RFC 5118 §4.8). sipnat answers each side in the family of
//! where the SDP goes ([`super::Media::rewrite`]'s `our_addr`), so a v4
//! phone and a v6-only provider share one relay pair: leg A on IPv4, leg B
//! on IPv6, both on the pair's dual-stack sockets (the relay forwards to an
//! [`Addr`](crate::net::Addr) of either family; the kernel path takes only
//! v4/v4 streams, `relay/kernel.rs`).
//!
//! What sipnat needs for that, per stream the SDP names:
//! - an address of the stream's family on its author's side
//!   ([`super::Author::ours`]): the relay's leg of the author sends from and
//!   is reached at it. Without one the SDP is refused
//!   ([`SdpError::Family`](crate::sdp::SdpError::Family), 488): sipnat
//!   cannot carry that media, and relaying the rest would be half a call;
//! - an address it can send to: not IPv6 link-local (fe80::/10, RFC 4291
//!   §2.5.6), which means nothing without an interface, and
//!   [`Addr`](crate::net::Addr) has none (the plan's open question 7).
//!
//! With `rtp_proxy_enable = 0` nothing translates: an SDP whose media is of
//! another family than the hop it goes to could not flow, so the proxy
//! refuses it too ([`crosses_families`]; the plan's open question 6).
//!
//! It does not choose sipnat's addresses (the proxy does, per side and
//! family) nor judge where a WAN leg may be sent before it latches (the
//! relay's rule 7, [`crate::relay`]).

use super::Author;
use crate::net::Family;
use crate::sdp::{Media, Sdp};
use std::net::IpAddr;

/// Can the relay exchange stream `m`'s media with its author (module
/// doc)? For each address the stream names (RTP, and RTCP when `a=rtcp:`
/// names one) sipnat has an address of that family on the author's side,
/// and it is not IPv6 link-local. The unspecified address (a hold, RFC 3264
/// §8.4) and a rejected stream (port 0, RFC 3264 §6) name nothing.
pub(super) fn reachable(m: &Media, author: &Author<'_>) -> bool {
    let ok = |ip: IpAddr| match ip {
        _ if crate::net::is_unspecified(ip) => true,
        IpAddr::V4(_) => author.ours[0].is_some(),
        IpAddr::V6(v6) => author.ours[1].is_some() && !crate::net::is_link_local6(&v6),
    };
    m.port == 0 || (ok(m.addr) && m.rtcp.and_then(|r| r.1).is_none_or(ok))
}

/// Does an SDP that goes unrelayed (`rtp_proxy_enable = 0`) toward a hop of
/// `family` name media of the other family (module doc)? A body that does
/// not parse is not judged here: unrelayed media was never held to
/// sipnat's SDP rules.
pub fn crosses_families(body: &[u8], family: Family) -> bool {
    let other = |ip: IpAddr| !crate::net::is_unspecified(ip) && Family::of(ip) != family;
    Sdp::parse(body).is_ok_and(|sdp| {
        sdp.media
            .iter()
            .any(|m| m.port != 0 && (other(m.addr) || m.rtcp.and_then(|r| r.1).is_some_and(other)))
    })
}

#[cfg(all(test, feature = "ipv6"))]
mod tests {
    use super::*;
    use crate::net::SourceKey;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn author(v4: bool, v6: bool) -> Author<'static> {
        Author {
            tag: "t",
            from_tag: "t",
            from_uri: "",
            to_uri: "",
            is_request: true,
            signalling_ip: ip("10.77.1.2"),
            wan: false,
            call_id: 1,
            ours: [
                v4.then(|| ip("10.77.1.1")),
                v6.then(|| ip("2001:db8:77:1::1")),
            ],
            origin: super::super::Origin {
                wan: false,
                ip: SourceKey::of(ip("10.77.1.2")),
            },
        }
    }

    fn body(media: &str) -> String {
        format!("v=0\r\no=- 1 1 IN IP4 10.77.1.2\r\ns=-\r\nt=0 0\r\n{media}")
    }

    /// Whether every stream of `media` can be relayed for an author on a
    /// side where sipnat has IPv4 (`v4`) and IPv6 (`v6`) addresses.
    fn relayable(media: &str, v4: bool, v6: bool) -> bool {
        let a = author(v4, v6);
        let sdp = Sdp::parse(body(media).as_bytes()).expect("test SDP");
        sdp.media.iter().all(|m| reachable(m, &a))
    }

    #[test]
    fn a_stream_needs_an_address_of_its_family_on_its_authors_side() {
        let v4 = "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.77.1.2\r\n";
        let v6 = "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 2001:db8:77:1::2\r\n";
        let mapped = "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 ::ffff:10.77.1.2\r\n";
        // RFC 5118 §4.8: each m= line of its own family.
        let mixed = format!("{v4}m=video 4002 RTP/AVP 96\r\nc=IN IP6 2001:db8:77:1::2\r\n");
        let rtcp6 = "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.77.1.2\r\na=rtcp:4001 IN IP6 2001:db8:77:1::2\r\n";
        for (media, [only4, only6, both]) in [
            (v4, [true, false, true]),
            (v6, [false, true, true]),
            (mapped, [true, false, true]),
            (&mixed, [false, false, true]),
            (rtcp6, [false, false, true]),
        ] {
            assert_eq!(relayable(media, true, false), only4, "{media}");
            assert_eq!(relayable(media, false, true), only6, "{media}");
            assert_eq!(relayable(media, true, true), both, "{media}");
        }
    }

    #[test]
    fn holds_and_rejected_streams_name_no_family() {
        // RFC 3264 §8.4 hold (`::`) and §6 rejection (port 0).
        for media in [
            "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 ::\r\n",
            "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.77.1.2\r\na=rtcp:4001 IN IP6 ::\r\n",
            "m=audio 0 RTP/AVP 0\r\nc=IN IP6 2001:db8:77:1::2\r\n",
        ] {
            assert!(relayable(media, true, false), "{media}");
        }
        assert!(relayable(
            "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n",
            false,
            true
        ));
    }

    #[test]
    fn link_local_media_is_not_relayed() {
        // RFC 4291 §2.5.6: fe80::/10 means nothing without an interface.
        let ll = "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 fe80::2\r\n";
        assert!(!relayable(ll, true, true));
        let rtcp =
            "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 2001:db8:77:1::2\r\na=rtcp:4001 IN IP6 fe80::2\r\n";
        assert!(!relayable(rtcp, true, true));
        // A unique local address (RFC 4193) is an address like any other.
        assert!(relayable(
            "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 fd77:1::2\r\n",
            false,
            true
        ));
    }

    #[test]
    fn unrelayed_media_may_not_cross_families() {
        let cases = [
            (
                "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.77.1.2\r\n",
                [false, true],
            ),
            (
                "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 2001:db8::2\r\n",
                [true, false],
            ),
            (
                "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 ::ffff:192.0.2.2\r\n",
                [false, true],
            ),
            (
                "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\nm=video 4002 RTP/AVP 96\r\nc=IN IP6 2001:db8::1\r\n",
                [true, true],
            ),
            (
                "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\na=rtcp:4001 IN IP6 2001:db8::1\r\n",
                [true, true],
            ),
            // A hold, a rejected stream, a body that does not parse.
            ("m=audio 4000 RTP/AVP 0\r\nc=IN IP6 ::\r\n", [false, false]),
            (
                "m=audio 0 RTP/AVP 0\r\nc=IN IP6 2001:db8::2\r\n",
                [false, false],
            ),
            (
                "m=audio 4000 RTP/AVP 0\r\nc=IN IP6 ff02::1\r\n",
                [false, false],
            ),
        ];
        for (media, [to4, to6]) in cases {
            let b = body(media);
            assert_eq!(crosses_families(b.as_bytes(), Family::V4), to4, "{media}");
            assert_eq!(crosses_families(b.as_bytes(), Family::V6), to6, "{media}");
        }
    }
}
