//! Requests sipnat could not send (RFC 3261 §16.9): when the connection
//! toward a request's next hop cannot be opened (refused, unreachable, the
//! connect timed out, no room in the table), the proxy "MUST behave as
//! though the forwarded request received a 503"; with no other branch that
//! 503 is its best response, and §16.7 step 6 turns a lone 503 into a 500
//! for the client upstream. [`error_response`] writes that response as if
//! the next hop had sent it, so it goes back through the core like any
//! other (sipnat's Via taken off and the hidden ones restored, the relay
//! ports of a failed INVITE freed), and the sender learns at once that its
//! request failed instead of retransmitting into the void until its timers
//! give up (32 s for an INVITE). The same goes for a request that would
//! have overfilled the send backlog of a peer that stopped reading (the
//! connection is cut; none of that request went out).
//!
//! What it does not do: answer an ACK (never answered) or a response; nor
//! a message that went out, whole or in part, on a connection that broke
//! afterwards (nobody can tell whether the peer got it: as after a lost
//! datagram, the sender's retransmissions or timers take over).

use crate::sip::{HeaderName, Message, Method};

/// The status line of the response.
pub const STATUS: &str = "SIP/2.0 500 Server Internal Error (next hop unreachable)";
/// The To tag of the response when the request had none.
const TAG: &str = "sn-unreachable";

/// Write into `out` the response with `status` (a status line, usually
/// [`STATUS`]) the next hop is taken to have given to
/// `request` (whole bytes as sipnat wrote them): its Vias, From, To (with a
/// tag), Call-ID and CSeq, no body. False (and `out` empty) for an ACK, a
/// response, or bytes that do not parse.
pub fn error_response(request: &[u8], status: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    let Ok(msg) = Message::parse(request) else {
        return false;
    };
    match msg.method() {
        None | Some(Method::Ack) => return false,
        Some(_) => {}
    }
    let has_tag = msg.to_tag().is_some();
    out.extend_from_slice(status.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in msg.headers() {
        use HeaderName as H;
        if !matches!(h.name, H::Via | H::From | H::To | H::CallId | H::CSeq) {
            continue;
        }
        out.extend_from_slice(h.raw_name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value.as_bytes());
        if h.name == H::To && !has_tag {
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(TAG.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:100@10.77.1.2:5060;transport=tcp SIP/2.0\r\n\
        Via: SIP/2.0/TCP 10.77.1.1:5060;branch=z9hG4bKsnabc\r\n\
        Via: SIP/2.0/UDP 198.51.100.3:5070;branch=z9hG4bK1;rport=5070\r\n\
        Record-Route: <sip:10.77.1.1:5060;transport=tcp;lr>\r\n\
        Max-Forwards: 69\r\nFrom: <sip:carol@198.51.100.3>;tag=c1\r\n\
        To: <sip:100@198.51.100.2>\r\nCall-ID: x@198.51.100.3\r\nCSeq: 1 INVITE\r\n\
        Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn a_request_gets_the_next_hops_error_with_its_vias_and_a_to_tag() {
        let mut out = Vec::new();
        assert!(error_response(INVITE.as_bytes(), STATUS, &mut out));
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                "{STATUS}\r\n\
                 Via: SIP/2.0/TCP 10.77.1.1:5060;branch=z9hG4bKsnabc\r\n\
                 Via: SIP/2.0/UDP 198.51.100.3:5070;branch=z9hG4bK1;rport=5070\r\n\
                 From: <sip:carol@198.51.100.3>;tag=c1\r\n\
                 To: <sip:100@198.51.100.2>;tag=sn-unreachable\r\n\
                 Call-ID: x@198.51.100.3\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
            )
        );
        // It parses as a response, and a To tag already there is kept.
        assert_eq!(Message::parse(&out).unwrap().status(), Some(500));
        let bye = INVITE
            .replace("INVITE sip", "BYE sip")
            .replace("CSeq: 1 INVITE", "CSeq: 2 BYE")
            .replace(
                "To: <sip:100@198.51.100.2>",
                "To: <sip:100@198.51.100.2>;tag=p",
            );
        assert!(error_response(bye.as_bytes(), STATUS, &mut out));
        assert_eq!(Message::parse(&out).unwrap().to_tag(), Some("p"));
    }

    #[test]
    fn acks_responses_and_garbage_get_nothing() {
        let mut out = b"old".to_vec();
        let ack = INVITE
            .replace("INVITE sip", "ACK sip")
            .replace("CSeq: 1 INVITE", "CSeq: 1 ACK");
        assert!(!error_response(ack.as_bytes(), STATUS, &mut out));
        assert!(out.is_empty());
        assert!(!error_response(
            b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
            STATUS,
            &mut out
        ));
        assert!(!error_response(b"\x00\x01garbage", STATUS, &mut out));
        assert!(!error_response(b"", STATUS, &mut out));
    }
}
