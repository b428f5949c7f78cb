//! sipnat's own answers to requests (RFC 3261 §8.2.6), also to requests too
//! broken to parse (RFC 4475 §3.1.2).

use super::*;

impl Sip<'_> {
    /// Answer a request with a final response of our own (never an ACK).
    pub(super) fn answer(&mut self, src: Peer, msg: &Message<'_>, a: Answer, out: &mut Outbox) {
        if msg.method() == Some(Method::Ack) {
            self.stats.bump("drop", "ack-not-answered");
            return;
        }
        log::debug!("{src}: answering {} {}", a.code, a.reason);
        let default_target = self.p.cfg.defaulttarget_target.as_deref();
        let extra = |w: &mut Buf<'_>| {
            match a.code {
            420 => {
                w.put_str("Unsupported: ");
                let mut first = true;
                for v in msg.values(HeaderName::ProxyRequire) {
                    if !first {
                        w.put(b", ");
                    }
                    first = false;
                    w.put_str(v);
                }
                w.put(b"\r\n");
            }
            503 => {
                w.put_str("Retry-After: ");
                w.put_str(RETRY_AFTER);
                w.put(b"\r\n");
            }
            405 | 200 => w.put_str("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, PRACK, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE\r\n"),
            // siproxd's defaulttarget: where the call goes instead
            302 => {
                if let Some(t) = default_target {
                    w.put_str("Contact: <");
                    w.put_str(t);
                    w.put(b">\r\n");
                }
            }
            _ => {}
        }
        };
        let ok = write_answer(out, &self.key, src, msg, a.code, a.reason, &extra);
        self.count_answer(a.code, ok);
    }

    pub(super) fn count_answer(&mut self, code: u16, ok: bool) {
        if !ok {
            return self.stats.bump("drop", "outbox-full");
        }
        self.stats.bump(
            "answer",
            match code {
                200 => "200",
                302 => "302",
                400 => "400",
                403 => "403",
                404 => "404",
                407 => "407",
                416 => "416",
                420 => "420",
                481 => "481",
                482 => "482",
                483 => "483",
                488 => "488",
                500 => "500",
                505 => "505",
                503 => "503",
                513 => "513",
                _ => "other",
            },
        );
    }

    /// A request too broken to parse still gets a 400 when the headers a
    /// response needs can be found (RFC 3261 §8.2, RFC 4475 §3.1.2); a
    /// response or an ACK is only counted.
    pub(super) fn answer_unparsable(
        &mut self,
        src: Peer,
        data: &[u8],
        err: crate::sip::ParseError,
        out: &mut Outbox,
    ) {
        if data.starts_with(b"SIP/") || data.starts_with(b"ACK ") {
            return;
        }
        let end = find(data, b"\r\n\r\n").map(|e| e + 2).unwrap_or(data.len());
        let head = &data[..end];
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let Some(first) = lines.next() else { return };
        if !first.first().is_some_and(|c| c.is_ascii_alphabetic()) {
            return;
        }
        let mut found: [Option<&[u8]>; 5] = [None; 5];
        let mut vias: heapless::Vec<&[u8], 8> = heapless::Vec::new();
        for l in lines {
            let Some(colon) = l.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = trim(&l[..colon]);
            let idx = match name.to_ascii_lowercase().as_slice() {
                b"via" | b"v" => {
                    let _ = vias.push(l);
                    continue;
                }
                b"from" | b"f" => 0,
                b"to" | b"t" => 1,
                b"call-id" | b"i" => 2,
                b"cseq" => 3,
                _ => continue,
            };
            if found[idx].is_none() {
                found[idx] = Some(l);
            }
        }
        let [Some(from), Some(to), Some(cid), Some(cseq), _] = found else {
            return self.stats.bump("drop", "unanswerable");
        };
        if vias.is_empty() {
            return self.stats.bump("drop", "unanswerable");
        }
        let mut w = out.writer();
        // RFC 3261 §21.5.7: another protocol version gets 505.
        let code = if err == crate::sip::ParseError::Version {
            505
        } else {
            400
        };
        w.put_str(if code == 505 {
            "SIP/2.0 505 Version Not Supported\r\n"
        } else {
            "SIP/2.0 400 Bad Request\r\n"
        });
        for v in &vias {
            w.put(v);
            w.put(b"\r\n");
        }
        for l in [from, to, cid, cseq] {
            w.put(l);
            w.put(b"\r\n");
        }
        w.put_str(SERVER);
        w.put_str("Content-Length: 0\r\n\r\n");
        let (len, overflow) = (w.len(), w.overflowed());
        if overflow {
            out.abandon();
            return;
        }
        let ok = out.commit(Channel::Sip(src.transport), src.addr.to_std(), len);
        self.count_answer(code, ok);
    }
}

/// A response of sipnat's own to `msg` (RFC 3261 §8.2.6): its Via, From,
/// To (with a tag when it has none), Call-ID and CSeq, then `extra` lines.
/// It goes to the request's source address (RFC 3581 symmetric response).
pub(super) fn write_answer(
    out: &mut Outbox,
    key: &Key,
    src: Peer,
    msg: &Message<'_>,
    code: u16,
    reason: &str,
    extra: &dyn Fn(&mut Buf<'_>),
) -> bool {
    let mut w = out.writer();
    w.put_str("SIP/2.0 ");
    w.put_u32(u32::from(code));
    w.put(b" ");
    w.put_str(reason);
    w.put(b"\r\n");
    for h in msg.headers() {
        match h.name {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                w.put(&msg.raw[h.line.clone()]);
            }
            HeaderName::To => {
                let line = &msg.raw[h.line.clone()];
                let line = line.strip_suffix(b"\r\n").unwrap_or(line);
                w.put(line);
                let tagged = NameAddr::parse(h.value).is_ok_and(|na| na.tag().is_some());
                if !tagged && code > 100 {
                    // RFC 3261 §8.2.6.2: a deterministic tag, so a retransmitted
                    // request gets the same answer.
                    let from_tag = msg
                        .header(HeaderName::From)
                        .and_then(|f| NameAddr::parse(f.value).ok())
                        .and_then(|na| na.tag())
                        .unwrap_or("");
                    let t = key.hash(&[
                        b"tag",
                        msg.call_id().unwrap_or("").as_bytes(),
                        from_tag.as_bytes(),
                    ]);
                    w.put_str(";tag=sn");
                    w.put(&keyed::hex64(t)[..8]);
                }
                w.put(b"\r\n");
            }
            _ => {}
        }
    }
    extra(&mut w);
    w.put_str(SERVER);
    w.put_str("Content-Length: 0\r\n\r\n");
    let (len, overflow) = (w.len(), w.overflowed());
    if overflow {
        out.abandon();
        return false;
    }
    out.commit(Channel::Sip(src.transport), src.addr.to_std(), len)
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(super) fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map(|e| e + 1)
        .unwrap_or(start);
    s.get(start..end).unwrap_or(b"")
}
