//! The SIP side of media: a call's key and the SDP bodies of its offers
//! and answers ([`super::media`] keeps the calls, [`crate::relay`] the
//! streams).

use super::*;

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
        if self.media.is_none() {
            return Ok(self.filter_codecs(body, mem));
        }
        let Some(our_addr) = self.our_ip(dest_side) else {
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
            signalling_ip: *src.addr.ip(),
            wan: src.side == Side::Wan,
            // The dialog's creator: a request's source, or where a
            // response goes (the request came from there).
            origin: {
                let o = if msg.is_request() { src } else { dest };
                media::Origin {
                    wan: o.side == Side::Wan,
                    ip: *o.addr.ip(),
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
            return Ok(self.filter_codecs(body, mem));
        }
        let mut w = Buf::new(mem);
        media.rewrite(self.relay, now, call_key, &author, body, our_addr, &mut w)?;
        if w.overflowed() {
            return Err(MediaError::Sdp(crate::sdp::SdpError::Overflow));
        }
        self.stats.bump("media", "sdp-rewritten");
        Ok(Some(w.len()))
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
    /// A call's key: the keyed hash of its Call-ID in WAN form (LAN
    /// addresses masked), the same from either side.
    pub(super) fn call_key(&self, msg: &Message<'_>) -> u64 {
        let mut mem = [0u8; 512];
        let mut b = Buf::new(&mut mem);
        self.put_text(
            &mut b,
            TextMode::Mask,
            msg.call_id().unwrap_or("").as_bytes(),
        );
        self.key.hash(&[b"call", b.as_bytes()])
    }
}
