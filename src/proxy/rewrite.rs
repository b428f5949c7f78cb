//! siproxd's regex and regex_body plugins, built in ([`crate::regex`]
//! matches; the rules are [`crate::config::RegexRule`]s).
//!
//! - regex (`load_plugin = plugin_regex`): a LAN phone's new call (the
//!   calls the dial plan sees, [`super::dialplan`], after it) goes to what
//!   the first rule whose pattern matches its Request-URI makes of it,
//!   every match replaced. siproxd matches the To URI (for a new call the
//!   same target) and answers 302; sipnat retargets the request itself
//!   (RFC 3261 §16.5), the To header stays what the phone dialled. A
//!   result that is not a SIP URI (or too long) is logged and counted,
//!   and the call goes on unchanged.
//! - regex_body (`load_plugin = plugin_regex_body`): every body passed
//!   on, request or response, goes through every rule in turn, each
//!   replacing all its matches, before the SDP is masqueraded (so the
//!   rules see the addresses the sender wrote); the writer sets
//!   Content-Length from the result. A result that would not fit a
//!   message, or a search that overran its work bound, leaves the body as
//!   it came, logged and counted: never cut short.

use super::*;
use crate::regex::ReplaceError;

/// The longest Request-URI a regex rule may make.
pub(super) const MAX_REWRITTEN_URI: usize = 512;

impl Sip<'_> {
    /// The Request-URI (`uri`: the request's, or what the dial plan made
    /// of it) a regex rule makes for a LAN phone's new call, written into
    /// `mem`; `None`: no rule applies, or its result is unusable.
    pub(super) fn regex_uri<'b>(
        &mut self,
        src: Peer,
        req: &Request<'_>,
        next: &Next,
        uri: &str,
        mem: &'b mut [u8],
    ) -> Option<&'b str> {
        if !self.p.cfg.regex || !new_call_out(src, req, next) {
            return None;
        }
        let p = &mut *self.p;
        let rule = p
            .cfg
            .regex_rules
            .iter()
            .find(|r| r.re.is_match(uri.as_bytes(), &mut p.regex))?;
        let mut w = Buf::new(&mut *mem);
        let done = rule
            .re
            .replace_all(&rule.replace, uri.as_bytes(), &mut w, &mut p.regex);
        let len = w.len();
        let mem: &'b [u8] = mem;
        let made = mem.get(..len).unwrap_or_default();
        let why = match done {
            Err(ReplaceError::TooLong) => "too-long",
            Err(ReplaceError::TooMuchWork) => "too-much-work",
            Ok(_) => match std::str::from_utf8(made) {
                Ok(new) if is_sip_uri(new) => {
                    log::info!("{src}: regex rule '{}': {uri} -> {new}", rule.desc);
                    self.stats.bump("regex", "retargeted");
                    return Some(new);
                }
                _ => "not-a-sip-uri",
            },
        };
        log::warn!(
            "{src}: regex rule '{}' makes '{}' of {uri} ({why}): the call goes on unchanged",
            rule.desc,
            String::from_utf8_lossy(made)
        );
        self.stats.bump("regex", why);
        None
    }

    /// `msg`'s body rewritten by the regex_body rules into `mem`: its
    /// length, or `None` when no rule matched or the result is unusable
    /// (the body goes on as it came).
    pub(super) fn regex_body(
        &mut self,
        src: Peer,
        msg: &Message<'_>,
        mem: &mut [u8],
    ) -> Option<usize> {
        if !self.p.cfg.regex_body || msg.body.is_empty() {
            return None;
        }
        // the message with the new body must still fit
        let limit = MAX_SIP_MESSAGE
            .saturating_sub(msg.header_end)
            .min(mem.len());
        let mut tmp = [0u8; MAX_SIP_MESSAGE];
        let p = &mut *self.p;
        let mut len = None;
        for rule in &p.cfg.regex_body_rules {
            let input = match len {
                Some(n) => mem.get(..n).unwrap_or_default(),
                None => msg.body,
            };
            let mut w = Buf::new(&mut tmp[..limit]);
            let why = match rule
                .re
                .replace_all(&rule.replace, input, &mut w, &mut p.regex)
            {
                Ok(0) => continue,
                Ok(n) => {
                    let l = w.len();
                    log::debug!("{src}: regex_body rule '{}': {n} replaced", rule.desc);
                    mem[..l].copy_from_slice(&tmp[..l]);
                    len = Some(l);
                    continue;
                }
                Err(ReplaceError::TooLong) => "too-long",
                Err(ReplaceError::TooMuchWork) => "too-much-work",
            };
            log::info!(
                "{src}: regex_body rule '{}' gives up ({why}): the body goes on unchanged",
                rule.desc
            );
            self.stats.bump("regex-body", why);
            return None;
        }
        if len.is_some() {
            self.stats.bump("regex-body", "rewritten");
        }
        len
    }
}

/// A LAN phone's new call going on to the next hop: what the dial plan
/// and the regex rules change.
pub(super) fn new_call_out(src: Peer, req: &Request<'_>, next: &Next) -> bool {
    src.side == Side::Lan
        && req.method == Method::Invite
        && req.to_tag.is_none()
        && matches!(next, Next::Hop)
}

/// A `sip:` or `sips:` URI that can stand as a Request-URI as it is.
fn is_sip_uri(s: &str) -> bool {
    !s.bytes()
        .any(|b| b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"'))
        && Uri::parse(s).is_ok_and(|u| {
            (u.scheme.eq_ignore_ascii_case("sip") || u.scheme.eq_ignore_ascii_case("sips"))
                && !u.host_str.is_empty()
        })
}
