//! A request as the proxy reads it: checked and parsed once (RFC 3261
//! §16.3), then read by every later step (routing, the plan, the writer)
//! without parsing it again.

use super::*;

/// A request, validated, with what routing needs parsed once.
#[derive(Clone)]
pub(super) struct Request<'m> {
    pub msg: &'m Message<'m>,
    pub method: Method<'m>,
    /// The Request-URI as written, and parsed.
    pub uri: &'m str,
    pub ruri: Uri<'m>,
    /// The topmost Via.
    pub top: Via<'m>,
    /// The To tag: present in a dialog (RFC 3261 §12).
    pub to_tag: Option<&'m str>,
    /// Max-Forwards, when present and a number.
    pub max_forwards: Option<u32>,
    /// How many Route values at the top name sipnat (RFC 3261 §16.4), and
    /// whether any other Route follows them.
    pub routes_skip: usize,
    pub routes_left: bool,
}

/// Why a request is refused before any routing: the answer, and the
/// counter to bump (if any).
pub(super) struct Refusal {
    pub answer: Answer,
    pub counter: Option<(&'static str, &'static str)>,
}

fn refuse(code: u16, reason: &'static str) -> Refusal {
    Refusal {
        answer: ans(code, reason),
        counter: None,
    }
}

impl<'m> Request<'m> {
    /// RFC 3261 §16.3: reasonable syntax (step 1), URI scheme (step 2),
    /// Max-Forwards (step 3), Proxy-Require (step 5). Loops (step 4) are
    /// found when the branch is known ([`super::forward`]).
    pub(super) fn parse(p: &Proxy, msg: &'m Message<'m>) -> Result<Request<'m>, Refusal> {
        let StartLine::Request { method, uri, .. } = msg.start else {
            return Err(refuse(400, "Bad Request"));
        };
        if let Err(rej) = msg.check_request() {
            return Err(Refusal {
                answer: ans(rej.code, rej.reason),
                counter: Some(("parse", "semantic")),
            });
        }
        let max_forwards = msg
            .header(HeaderName::MaxForwards)
            .and_then(|h| crate::num::parse::<u32>(h.value));
        if max_forwards == Some(0) {
            return Err(refuse(483, "Too Many Hops"));
        }
        // No proxy extension is supported.
        if msg.header(HeaderName::ProxyRequire).is_some() {
            return Err(refuse(420, "Bad Extension"));
        }
        let Ok(ruri) = Uri::parse(uri) else {
            return Err(refuse(400, "Bad Request-URI"));
        };
        if !ruri.is_sip() {
            // §8.2.2.1.
            return Err(refuse(416, "Unsupported URI Scheme"));
        }
        let Some(top) = msg.top_via() else {
            return Err(refuse(400, "Missing Via"));
        };
        let routes_skip = p.our_leading_routes(msg);
        let routes_left = msg.values(HeaderName::Route).count() > routes_skip;
        Ok(Request {
            msg,
            method,
            uri,
            ruri,
            top,
            to_tag: msg.to_tag(),
            max_forwards,
            routes_skip,
            routes_left,
        })
    }

    /// Addressed to sipnat itself: its Request-URI names sipnat and no
    /// Route is left to follow.
    pub(super) fn to_us(&self, p: &Proxy) -> bool {
        p.is_us(&self.ruri.host, self.ruri.port) && !self.routes_left
    }

    /// Creates a dialog sipnat records its route in (RFC 3261 §16.6 step 4).
    pub(super) fn creates_dialog(&self) -> bool {
        self.to_tag.is_none()
            && matches!(
                self.method,
                Method::Invite | Method::Subscribe | Method::Refer
            )
    }
}
