//! Registrations (RFC 3261 §10): sipnat as the registrar, and the bindings
//! it keeps for REGISTERs it forwards to a provider.

use super::*;

impl Sip<'_> {
    /// sipnat as the registrar (RFC 3261 §10.3), for REGISTERs addressed to it.
    pub(super) fn local_register(
        &mut self,
        now: Instant,
        src: Peer,
        msg: &Message<'_>,
        out: &mut Outbox,
    ) {
        let Some(aor) = msg
            .header(HeaderName::To)
            .and_then(|h| NameAddr::parse(h.value).ok())
            .and_then(|na| aor_key(na.uri.user, na.uri.host_str))
        else {
            return self.answer(src, msg, ans(400, "Bad To"), out);
        };
        let header_expires = msg
            .header(HeaderName::Expires)
            .and_then(|h| crate::num::parse::<u32>(h.value));
        let default = header_expires.unwrap_or(self.cfg.default_expires);
        // Step 6: "*" only with Expires: 0, alone.
        let mut star = false;
        let mut count = 0;
        for v in msg.values(HeaderName::Contact) {
            count += 1;
            if matches!(ContactValue::parse(v), Ok(ContactValue::Star)) {
                star = true;
            }
        }
        if star {
            if count != 1 || header_expires != Some(0) {
                return self.answer(src, msg, ans(400, "Bad Contact *"), out);
            }
            let (_, c) = self.regs.remove_where(|r| r.aor == aor);
            self.dirty |= c;
            return self.answer_register(src, msg, &aor, now, out);
        }
        // First pass: refuse the whole request if a new binding does not fit,
        // in the host's share or in the table.
        let new = self.new_bindings(msg, &aor, src.source(), Some(default));
        if self.regs.over_host_quota(src.source(), new) {
            return self.refuse_host_quota(src, msg, out);
        }
        for v in msg.values(HeaderName::Contact) {
            if let Ok(ContactValue::Addr(na)) = ContactValue::parse(v) {
                if self.regs.would_overflow(&aor, na.uri_str) && contact_expires(&na, default) > 0 {
                    self.stats.bump("full", "registrations");
                    return self.answer(
                        src,
                        msg,
                        ans(503, "Service Unavailable (registration table full)"),
                        out,
                    );
                }
            }
        }
        for v in msg.values(HeaderName::Contact) {
            let Ok(ContactValue::Addr(na)) = ContactValue::parse(v) else {
                continue;
            };
            let exp = contact_expires(&na, default).min(MAX_LOCAL_EXPIRES);
            if exp == 0 {
                let (_, c) = self
                    .regs
                    .remove_where(|r| r.aor == aor && r.contact == na.uri_str);
                self.dirty |= c;
                continue;
            }
            let at = now + Duration::from_secs(u64::from(exp));
            if self
                .regs
                .upsert(&aor, na.uri_str, src, at, true, true)
                .is_err()
            {
                // Cannot happen after the first pass; refuse rather than lose.
                self.stats.bump("full", "registrations");
                return self.answer(src, msg, ans(503, "Service Unavailable"), out);
            }
            self.dirty = true;
        }
        self.stats.bump("registration", "local");
        self.answer_register(src, msg, &aor, now, out)
    }

    /// How many of a REGISTER's Contacts would be bindings its source host
    /// (`host`: its address, or its IPv6 /64) does not hold yet. With `default` (sipnat as the registrar) a Contact
    /// that removes its binding (expires 0) is not counted.
    pub(super) fn new_bindings(
        &self,
        msg: &Message<'_>,
        aor: &str,
        host: SourceKey,
        default: Option<u32>,
    ) -> usize {
        msg.values(HeaderName::Contact)
            .filter_map(|v| match ContactValue::parse(v) {
                Ok(ContactValue::Addr(na)) => Some(na),
                _ => None,
            })
            .filter(|na| default.is_none_or(|d| contact_expires(na, d) > 0))
            .filter(|na| self.regs.is_new_for(aor, na.uri_str, host))
            .count()
    }

    /// A host at its share of the registration table
    /// ([`crate::limits::MAX_REGISTRATIONS_PER_HOST`]): 503 with
    /// Retry-After (RFC 3261 §21.5.4), as for a full table. Its bindings
    /// expire or are removed, and then it has room again; the other hosts
    /// have room all along.
    pub(super) fn refuse_host_quota(&mut self, src: Peer, msg: &Message<'_>, out: &mut Outbox) {
        self.stats.bump("quota", "registrations-per-host");
        self.answer(src, msg, HOST_QUOTA_ANSWER, out)
    }

    pub(super) fn answer_register(
        &mut self,
        src: Peer,
        msg: &Message<'_>,
        aor: &str,
        now: Instant,
        out: &mut Outbox,
    ) {
        let regs = &self.regs;
        let extra = |w: &mut Buf<'_>| {
            for r in regs.by_aor(aor) {
                w.put_str("Contact: <");
                w.put_str(&r.contact);
                w.put_str(">;expires=");
                let left = r.expires_at.saturating_duration_since(now).as_secs();
                w.put_u32(u32::try_from(left).unwrap_or(u32::MAX));
                w.put_str("\r\n");
            }
        };
        let ok = write_answer(out, &self.key, src, msg, 200, "OK", &extra);
        self.count_answer(200, ok);
    }

    /// A forwarded REGISTER: record a provisional binding per Contact (the
    /// registrar's 2xx confirms it), refusing if a new one does not fit.
    pub(super) fn note_outgoing_register(
        &mut self,
        now: Instant,
        src: Peer,
        msg: &Message<'_>,
    ) -> Result<(), Answer> {
        let aor = msg
            .header(HeaderName::To)
            .and_then(|h| NameAddr::parse(h.value).ok())
            .and_then(|na| aor_key(na.uri.user, na.uri.host_str))
            .ok_or(ans(400, "Bad To"))?;
        let new = self.new_bindings(msg, &aor, src.source(), None);
        if self.regs.over_host_quota(src.source(), new) {
            self.stats.bump("quota", "registrations-per-host");
            return Err(HOST_QUOTA_ANSWER);
        }
        for v in msg.values(HeaderName::Contact) {
            if let Ok(ContactValue::Addr(na)) = ContactValue::parse(v) {
                if self.regs.would_overflow(&aor, na.uri_str) {
                    self.stats.bump("full", "registrations");
                    return Err(ans(503, "Service Unavailable (registration table full)"));
                }
            }
        }
        for v in msg.values(HeaderName::Contact) {
            if let Ok(ContactValue::Addr(na)) = ContactValue::parse(v) {
                let at = now + PENDING_REGISTRATION;
                self.regs
                    .upsert(&aor, na.uri_str, src, at, false, false)
                    .map_err(|_| ans(503, "Service Unavailable"))?;
            }
        }
        Ok(())
    }

    /// A 2xx to a REGISTER we forwarded: confirm the bindings the registrar
    /// lists with its expiry; drop this phone's bindings it no longer lists.
    pub(super) fn confirm_registration(&mut self, now: Instant, msg: &Message<'_>, phone: Addr) {
        // The registrar's To is the WAN's view (masked_host for mask_host).
        let Some(aor) = msg
            .header(HeaderName::To)
            .and_then(|h| NameAddr::parse(h.value).ok())
            .and_then(|na| self.lan_aor(na.uri.user, na.uri.host_str))
        else {
            return;
        };
        let header_expires = msg
            .header(HeaderName::Expires)
            .and_then(|h| crate::num::parse::<u32>(h.value));
        let default = header_expires.unwrap_or(self.cfg.default_expires);
        let mut listed: heapless::Vec<UriString, 8> = heapless::Vec::new();
        for v in msg.values(HeaderName::Contact) {
            let Ok(ContactValue::Addr(na)) = ContactValue::parse(v) else {
                continue;
            };
            let Some(mine) = self.unmasquerade(&na.uri) else {
                continue;
            };
            let exp = contact_expires(&na, default);
            if exp > 0 {
                self.regs
                    .confirm(&aor, &mine, now + Duration::from_secs(u64::from(exp)));
                let _ = listed.push(mine);
            }
        }
        if listed.is_empty() && msg.values(HeaderName::Contact).next().is_some() {
            // The registrar lists contacts but none we recognise (it dropped
            // our token): keep this phone's bindings, with the header expiry.
            if default > 0 {
                let at = now + Duration::from_secs(u64::from(default));
                let contacts: heapless::Vec<UriString, 8> = self
                    .regs
                    .by_aor(&aor)
                    .filter(|r| r.addr == phone)
                    .map(|r| r.contact.clone())
                    .take(8)
                    .collect();
                for c in contacts {
                    self.regs.confirm(&aor, &c, at);
                }
            }
        } else {
            self.regs
                .remove_where(|r| r.aor == aor && r.addr == phone && !listed.contains(&r.contact));
        }
        self.stats.bump("registration", "confirmed");
        self.dirty = true;
    }
}

/// The expiry a Contact asks for: its `expires` parameter, else the default
/// (the Expires header, else `default_expires`). RFC 3261 §10.2.1.1.
pub(super) fn contact_expires(na: &NameAddr<'_>, default: u32) -> u32 {
    na.param("expires")
        .flatten()
        .and_then(crate::num::parse::<u32>)
        .unwrap_or(default)
}
