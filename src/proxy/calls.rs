//! The SIP side of media: a call's key and the SDP bodies of its offers
//! and answers ([`super::media`] keeps the calls, [`crate::relay`] the
//! streams).
//!
//! Address families (issue 14): an SDP is rewritten to sipnat's address on
//! the side it goes to *in the family of where it goes* (the hop's: a
//! provider's or the phone's), whatever family its author wrote (RFC 5118
//! §4.8 lets each `m=` have its own): a v4 phone and a v6-only provider
//! talk through one relay pair with an IPv4 leg and an IPv6 leg. What
//! happens when sipnat has no address of a family it needs:
//! - on the side the SDP goes to: the call is refused with 503 (as with no
//!   WAN address at all today); the signalling refuses such a hop before
//!   (stage 5b), so this is a second guard;
//! - on the author's side, for a stream the SDP names: 488
//!   ([`SdpError::Family`](crate::sdp::SdpError::Family)): sipnat cannot
//!   exchange that media, and says so rather than relay half a call;
//! - with `rtp_proxy_enable = 0` nothing translates: an SDP whose media is
//!   of another family than the hop's gets 488 too.

use super::*;
use crate::net::Family;

impl Sip<'_> {
    /// Rewrite the SDP body of `msg` (if it has one and media is relayed)
    /// into `mem`, for `msg` going from `src` to `dest`. `body` is the
    /// message's body as the regex_body rules left it. `Ok(None)`: the
    /// body goes as it is.
    // the message's parts as the caller has them: bundling them would only
    // move the list into a struct built for this one call
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rewrite_sdp(
        &mut self,
        now: Instant,
        src: Peer,
        msg: &Message<'_>,
        body: &[u8],
        call_key: u64,
        dest: Peer,
        mem: &mut [u8],
    ) -> Result<Option<usize>, MediaError> {
        let dest_side = dest.side;
        if body.is_empty() {
            return Ok(None);
        }
        let ctype = msg
            .header(HeaderName::ContentType)
            .map(|h| h.value)
            .unwrap_or("");
        let is_sdp = ctype
            .get(..15)
            .is_some_and(|t| t.eq_ignore_ascii_case("application/sdp"));
        if !is_sdp {
            if ctype.to_ascii_lowercase().starts_with("multipart/")
                && find(body, b"application/sdp").is_some()
            {
                // An SDP inside a multipart body cannot be rewritten yet.
                return Err(MediaError::Sdp(crate::sdp::SdpError::Syntax));
            }
            return Ok(None);
        }
        let family = dest.addr.family();
        if self.media.is_none() {
            return self.unrelayed(body, family, mem);
        }
        let Some(our_addr) = self.our_ip_for(dest_side, dest.addr.ip()) else {
            return Err(MediaError::Full);
        };
        let name_addr = |h: HeaderName| msg.header(h).and_then(|v| NameAddr::parse(v.value).ok());
        let tag_of = |h: HeaderName| name_addr(h).and_then(|na| na.tag()).unwrap_or("");
        let uri_of = |h: HeaderName| name_addr(h).map(|na| na.uri_str).unwrap_or("");
        let from_tag = tag_of(HeaderName::From);
        let author = Author {
            tag: if msg.is_request() {
                from_tag
            } else {
                tag_of(HeaderName::To)
            },
            from_tag,
            from_uri: uri_of(HeaderName::From),
            to_uri: uri_of(HeaderName::To),
            is_request: msg.is_request(),
            signalling_ip: src.addr.ip(),
            wan: src.side == Side::Wan,
            call_id: self.call_id_key(msg),
            ours: [
                self.our_ip(src.side, Family::V4),
                self.our_ip(src.side, Family::V6),
            ],
            // The dialog's creator: a request's source, or where a
            // response goes (the request came from there).
            origin: {
                let o = if msg.is_request() { src } else { dest };
                media::Origin {
                    wan: o.side == Side::Wan,
                    ip: crate::net::SourceKey::of(o.addr.ip()),
                }
            },
        };
        let relay_new = self.p.cfg.rtp_proxy_enable;
        let Some(media) = self.p.media.as_mut() else {
            return Ok(None);
        };
        if !relay_new && !media.has_call(call_key) {
            // rtp_proxy_enable turned off by a reload: only the calls that
            // were relayed before stay relayed.
            return self.unrelayed(body, family, mem);
        }
        let mut w = Buf::new(mem);
        media.rewrite(self.relay, now, call_key, &author, body, our_addr, &mut w)?;
        if w.overflowed() {
            return Err(MediaError::Sdp(crate::sdp::SdpError::Overflow));
        }
        self.stats.bump("media", "sdp-rewritten");
        Ok(Some(w.len()))
    }

    /// An SDP whose media sipnat does not relay, toward a hop of `family`:
    /// refused when its media is of the other family (nothing would
    /// translate it: the module doc), else [`Sip::filter_codecs`].
    fn unrelayed(
        &mut self,
        body: &[u8],
        family: Family,
        mem: &mut [u8],
    ) -> Result<Option<usize>, MediaError> {
        if media::crosses_families(body, family) {
            return Err(MediaError::Sdp(crate::sdp::SdpError::Family));
        }
        Ok(self.filter_codecs(body, mem))
    }

    /// siproxd's codecfilter for an SDP whose media sipnat does not relay
    /// (`rtp_proxy_enable = 0`): the listed codecs still go, every address
    /// stays as the author wrote it. `None`: the body goes as it is (nothing
    /// to filter, or a body that does not parse, counted: unrelayed media
    /// was never held to sipnat's SDP rules).
    fn filter_codecs(&mut self, body: &[u8], mem: &mut [u8]) -> Option<usize> {
        let cfg = &self.p.cfg;
        if !cfg.codecfilter || cfg.codec_blacklist.is_empty() {
            return None;
        }
        let rw = crate::sdp::Rewrite {
            addr: None,
            ports: &[],
            drop_codecs: &cfg.codec_blacklist,
        };
        let mut w = Buf::new(mem);
        let done = crate::sdp::Sdp::parse(body)
            .and_then(|sdp| crate::sdp::rewrite(body, &sdp, &rw, &mut w));
        match done {
            Ok(()) => Some(w.len()),
            Err(e) => {
                self.stats.bump("media", e.as_str());
                None
            }
        }
    }
}

impl Proxy {
    /// A call's key in the media table ([`media`]).
    ///
    /// RFC 3261 §12 names a dialog by its Call-ID and both tags. A call that
    /// loops back through sipnat (a phone calls out, the provider sends the
    /// call back in for another phone: a spiral, RFC 3261 §16.3 step 4) has
    /// the same Call-ID and From tag on both passes, but its caller is on
    /// the LAN on the first and on the WAN on the second. So a call is keyed
    /// by a keyed hash of its Call-ID, the side its caller is on and the
    /// caller's tag; the Call-ID and tags in WAN form (LAN addresses masked),
    /// so the key is the same from either side.
    ///
    /// `near` is the side of the request's sender (for a request its
    /// source, for a response where it goes) and `far` the other end's
    /// (both the LAN for a call between two phones). Sent by the caller the
    /// key is (Call-ID, `near`, From tag); sent by the callee (its BYE or
    /// re-INVITE, and the responses to them) (Call-ID, `far`, To tag). The
    /// second is taken when the media table holds that call and not the
    /// first, else the first (a new call has no To tag).
    pub(super) fn call_key(&self, msg: &Message<'_>, near: Side, far: Side) -> u64 {
        let mut mem = [0u8; 512];
        let mut cid = Buf::new(&mut mem);
        self.put_text(
            &mut cid,
            TextMode::Mask,
            msg.call_id().unwrap_or("").as_bytes(),
        );
        let cid = cid.as_bytes();
        let caller = self.dialog_key(cid, near, msg.from_tag().unwrap_or(""));
        let (Some(media), Some(to_tag)) = (self.media.as_ref(), msg.to_tag()) else {
            return caller;
        };
        let callee = self.dialog_key(cid, far, to_tag);
        if media.has_call(callee) && !media.has_call(caller) {
            callee
        } else {
            caller
        }
    }

    /// [`Proxy::call_key`] of a call whose caller is on `side` with `tag`
    /// (`cid`: the Call-ID in WAN form).
    fn dialog_key(&self, cid: &[u8], side: Side, tag: &str) -> u64 {
        let mut mem = [0u8; 256];
        let mut t = Buf::new(&mut mem);
        self.put_text(&mut t, TextMode::Mask, tag.as_bytes());
        self.key
            .hash(&[b"call", cid, side.as_str().as_bytes(), t.as_bytes()])
    }

    /// The keyed hash of a message's Call-ID alone, in WAN form: what the
    /// two passes of a call that loops back through sipnat share
    /// ([`media::Author::call_id`]).
    pub(super) fn call_id_key(&self, msg: &Message<'_>) -> u64 {
        let mut mem = [0u8; 512];
        let mut cid = Buf::new(&mut mem);
        self.put_text(
            &mut cid,
            TextMode::Mask,
            msg.call_id().unwrap_or("").as_bytes(),
        );
        self.key.hash(&[b"call-id", cid.as_bytes()])
    }
}
