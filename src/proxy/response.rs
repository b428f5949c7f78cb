//! Responses (RFC 3261 §16.7): back to where their request came from, as
//! sipnat's branch says. With siproxd's fix_DTAG, a listed provider's
//! response whose top Via host it replaced (against §18.1.2: the sent-by
//! must come back as sent) is still taken when the branch is sipnat's.

use super::*;

impl Sip<'_> {
    pub(super) fn on_response(
        &mut self,
        now: Instant,
        src: Peer,
        msg: &Message<'_>,
        out: &mut Outbox,
    ) {
        self.with_bodies(|s, bodies| s.response_with(now, src, msg, bodies, out));
    }

    fn response_with(
        &mut self,
        now: Instant,
        src: Peer,
        msg: &Message<'_>,
        bodies: Bodies<'_>,
        out: &mut Outbox,
    ) {
        let StartLine::Response { code, .. } = msg.start else {
            return;
        };
        if let Err(e) = msg.check_response() {
            self.stats.bump("parse", e.as_str());
            return;
        }
        let Some(top) = msg.top_via() else {
            return self.stats.bump("drop", "response-no-via");
        };
        // siproxd's fix_DTAG: a listed network that answers with the host
        // of our Via replaced by its own. Our sealed branch, opened below,
        // is the proof the Via is ours; its host is not needed.
        let dtag = self.dtag_via(src, &top);
        let branch = top.branch().and_then(|b| b.strip_prefix(OUR_BRANCH_PREFIX));
        let Some(text) = branch.filter(|_| dtag || self.is_us(&top.host, top.port)) else {
            if dtag {
                // The branch is gone too: nothing says where it goes.
                log::warn!(
                    "fix_DTAG: response from {} lost sipnat's branch in its Via; dropped",
                    src.addr
                );
                return self.stats.bump("drop", "response-dtag-no-branch");
            }
            // Not through us (RFC 3261 §16.7 step 1 / §18.1.2): includes the
            // RFC 4475 broadcast Via (bcast.dat).
            return self.stats.bump("drop", "response-not-ours");
        };
        let src_side = src.side;
        // Every branch of ours is sealed ([`branch`]): it says where the
        // response goes. A branch that holds Vias went out to the WAN and
        // only the WAN answers it; one without went on with its Vias, and
        // the Via below ours must be the one we sent, answered from the side
        // we sent it to.
        let Some(sealed) = branch::open(&self.key, text.as_bytes()) else {
            return self.stats.bump("drop", "response-stray");
        };
        let hidden = sealed.values().next().is_some();
        if hidden {
            if src_side != Side::Wan {
                return self.stats.bump("drop", "response-stray");
            }
        } else {
            let Some(next) = msg.values(HeaderName::Via).nth(1) else {
                return self.stats.bump("drop", "response-stray");
            };
            let disc = self
                .key
                .hash(&[b"in", src_side.as_str().as_bytes(), next.as_bytes()]);
            if disc != sealed.discriminator {
                return self.stats.bump("drop", "response-stray");
            }
        }
        if dtag && !self.is_us(&top.host, top.port) {
            self.stats.bump("route", "dtag-via-accepted");
        }
        let dest = sealed.reply;
        let dest_side = dest.side;
        if !usable_destination(dest.addr.ip()) {
            return self.stats.bump("drop", "response-bad-destination");
        }
        let mode = Proxy::mode(src_side, dest_side);

        let cseq_method = msg.cseq().map(|c| c.method);
        if hidden && (200..300).contains(&code) && cseq_method == Some(Method::Register) {
            self.confirm_registration(now, msg, dest.addr);
        }
        if cseq_method == Some(Method::Register) && dest_side == Side::Lan {
            self.register_outcome(now, dest.addr.ip(), msg, code, sealed.flags);
        }

        // Media: a 1xx/2xx answer (or late offer) to INVITE, PRACK or UPDATE.
        // The request went from `dest` to `src`.
        let call_key = self.call_key(msg, dest_side, src_side);
        let Bodies {
            sdp: sdp_mem,
            regex: body_mem,
        } = bodies;
        let mut body: &[u8] = msg.body;
        // regex_body first: its rules see the body as the sender wrote it
        if self.cfg.regex_body {
            if let Some(n) = self.regex_body(src, msg, body_mem) {
                body = &body_mem[..n];
            }
        }
        let answers = code > 100
            && code < 300
            && matches!(
                cseq_method,
                Some(Method::Invite | Method::Prack | Method::Update)
            );
        if answers && self.media.as_ref().is_some_and(|m| m.is_expired(call_key)) {
            // The call went unanswered too long and its relay ports are
            // gone ([`media`]): a late answer is refused cleanly, never
            // taken for a new call. The UAS, getting no ACK, hangs up.
            return self.stats.bump("drop", "answer-after-timeout");
        }
        if answers {
            match self.rewrite_sdp(now, src, msg, body, call_key, dest, sdp_mem) {
                Ok(Some(len)) => body = &sdp_mem[..len],
                Ok(None) => {}
                Err(e) => {
                    self.stats.bump("media", e.as_str());
                    if src_side == Side::Lan && dest_side == Side::Wan {
                        // Never forward a LAN SDP unrewritten to the WAN.
                        return self.stats.bump("drop", "response-sdp-unrewritable");
                    }
                }
            }
        }
        if cseq_method == Some(Method::Invite) {
            if let Some(m) = self.p.media.as_mut() {
                if (200..300).contains(&code) {
                    m.established(now, call_key);
                } else if code < 200 {
                    m.provisional(now, call_key, code);
                } else if code >= 300 && m.failed(self.relay, now, call_key, code) {
                    self.stats.bump("media", "call-failed");
                }
            }
        }
        let restored = hidden.then_some(&sealed);
        let Some(len) = self.write_response(msg, dest, mode, restored, body, out) else {
            out.abandon();
            return self.stats.bump("drop", "too-large-after-rewrite");
        };
        if out.commit(Channel::Sip(dest.transport), dest.addr.to_std(), len) {
            self.stats.bump("forward", "response");
        } else {
            self.stats.bump("drop", "outbox-full");
        }
    }
}

impl Proxy {
    /// siproxd's fix_DTAG: the response comes from one of
    /// `plugin_fix_DTAG_networks` and its top Via names a host in them too
    /// (an address literal: no name a WAN sender wrote is looked up).
    fn dtag_via(&self, src: Peer, top: &Via<'_>) -> bool {
        let nets = &self.cfg.fix_dtag_networks;
        self.cfg.fix_dtag
            && src.side == Side::Wan
            && acl_has(nets, src.addr.ip())
            && matches!(top.host, Host::Ipv4(ip) if nets.contains(ip))
    }
}
