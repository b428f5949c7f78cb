//! Requests: which way a request goes (RFC 3261 §16.3–§16.5), decided
//! once, from the request's view; then [`super::forward`] carries it out.

use super::*;

impl Sip<'_> {
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        src: Peer,
        msg: &Message<'_>,
        out: &mut Outbox,
    ) {
        let req = match Request::parse(self, msg) {
            Ok(r) => r,
            Err(r) => {
                if let Some((group, name)) = r.counter {
                    self.stats.bump(group, name);
                }
                return self.answer(src, msg, r.answer, out);
            }
        };
        let src_side = src.side;
        let method = req.method;
        // A WAN source starts new calls at a bounded rate ([`ratelimit`]).
        if method == Method::Invite && req.to_tag.is_none() && src_side == Side::Wan && {
            let key = self.call_key(msg, Side::Wan, Side::Lan);
            !self.p.invites.admit(now, src.source(), key)
        } {
            self.stats.bump("limit", "wan-invite-rate");
            return self.answer(src, msg, ans(503, "Service Unavailable (call rate)"), out);
        }
        let to_us = req.to_us(self);

        if method == Method::Register {
            if src_side == Side::Wan {
                return self.answer(src, msg, ans(403, "Forbidden (registration from WAN)"), out);
            }
            if !self.access(src.addr.ip()).register {
                self.stats.bump("drop", "acl-register");
                return self.answer(src, msg, ans(403, "Forbidden (hosts_allow_reg)"), out);
            }
            if !self.admit_lan(now, src, &req, to_us, out) {
                return;
            }
            if to_us {
                return self.local_register(now, src, msg, out);
            }
            return self.forward(now, src, &req, Next::Hop, out);
        }

        if !self.admit_lan(now, src, &req, to_us, out) {
            return;
        }
        if to_us {
            let ruri = &req.ruri;
            if ruri.user.is_none() && ruri.param(CONTACT_TOKEN_PARAM).is_none() {
                if method == Method::Options {
                    return self.answer(src, msg, ans(200, "OK"), out);
                }
                return self.answer(src, msg, ans(404, "Not Found"), out);
            }
            return match self.phone_for(ruri, req.to_tag.is_some()) {
                Some((to, ruri)) => self.forward(now, src, &req, Next::Phone { to, ruri }, out),
                None => {
                    self.stats.bump("route", "unknown-user");
                    if let Some(next) = self.trunk_phone(now, src, &req) {
                        return self.forward(now, src, &req, next, out);
                    }
                    if self.redirect_to_default(src, &req, out) {
                        return;
                    }
                    self.answer(src, msg, ans(404, "Not Found"), out)
                }
            };
        }
        // A request for an AOR registered here goes straight to its phone.
        if !req.routes_left {
            if let Some(reg) = self
                .lan_aor(req.ruri.user, req.ruri.host_str)
                .and_then(|aor| self.regs.by_aor(&aor).max_by_key(|r| r.expires_at).cloned())
            {
                let next = Next::Phone {
                    to: self.phone_peer(&reg),
                    ruri: reg.contact,
                };
                return self.forward(now, src, &req, next, out);
            }
        }
        if src_side == Side::Wan {
            if let Some(next) = self.trunk_phone(now, src, &req) {
                return self.forward(now, src, &req, next, out);
            }
            self.stats.bump("route", "relay-denied");
            if self.redirect_to_default(src, &req, out) {
                return;
            }
            return self.answer(src, msg, ans(403, "Forbidden (not a local user)"), out);
        }
        if !self.known_lan_sender(src, msg) {
            self.stats.bump("route", "not-registered");
            return self.answer(src, msg, ans(403, "Forbidden (not registered)"), out);
        }
        self.forward(now, src, &req, Next::Hop, out)
    }
}

impl Proxy {
    /// How many Route values at the top name sipnat (RFC 3261 §16.4).
    pub(super) fn our_leading_routes(&self, msg: &Message<'_>) -> usize {
        msg.values(HeaderName::Route)
            .take_while(|v| {
                NameAddr::parse(v).is_ok_and(|na| self.is_us(&na.uri.host, na.uri.port))
            })
            .count()
    }

    /// The AOR key of `user@host` as the phones registered it: as it is
    /// when bindings hold it, else, for a `masked_host`, the same user at
    /// its `mask_host` when bindings hold that (siproxd's mask feature: a
    /// phone registered at the latter is reached at the former).
    pub(super) fn lan_aor(&self, user: Option<&str>, host: &str) -> Option<UriString> {
        let aor = aor_key(user, host)?;
        if self.regs.by_aor(&aor).next().is_some() {
            return Some(aor);
        }
        let masked = self
            .swap_masked_host(host, TextMode::Unmask)
            .and_then(|h| aor_key(user, h))
            .filter(|a| self.regs.by_aor(a).next().is_some());
        Some(masked.unwrap_or(aor))
    }

    /// A LAN sender may send out when one of its phones is registered here:
    /// by source address or by its From AOR (siproxd's rule).
    pub(super) fn known_lan_sender(&self, src: Peer, msg: &Message<'_>) -> bool {
        if self.regs.has_ip(src.source()) {
            return true;
        }
        msg.header(HeaderName::From)
            .and_then(|h| NameAddr::parse(h.value).ok())
            .and_then(|na| aor_key(na.uri.user, na.uri.host_str))
            .is_some_and(|aor| self.regs.by_aor(&aor).next().is_some())
    }

    /// The phone a request addressed to sipnat is for: by the token of a
    /// masqueraded contact, else by the user part.
    ///
    /// A token opens only if sipnat made it ([`keyed`]), and only to a LAN
    /// address other than loopback. A request outside a dialog (no To tag)
    /// must moreover name a live registration's contact: a token of a phone
    /// that has gone away reaches nobody. In a dialog the token came from the
    /// Contact of a request or response sipnat passed, which a registration
    /// need not list.
    pub(super) fn phone_for(&self, ruri: &Uri<'_>, in_dialog: bool) -> Option<(Peer, UriString)> {
        if let Some(restored) = self.unmasquerade(ruri) {
            let (ip, port, _) = self.open_contact_token(ruri)?;
            let addr = Addr::new(ip, if port == 0 { 5060 } else { port });
            let names_it = |r: &&registry::Registration| {
                r.confirmed
                    && (r.contact == restored
                        || Uri::parse(&r.contact)
                            .is_ok_and(|u| u.host.ip() == Some(ip) && u.port.unwrap_or(0) == port))
            };
            // Prefer the address the phone registered from (NAT-safe).
            return match self.regs.iter().find(names_it) {
                Some(r) => Some((self.phone_peer(r), restored)),
                None if in_dialog => {
                    let transport = Uri::parse(&restored)
                        .ok()
                        .and_then(|u| u.param("transport").flatten())
                        .and_then(Transport::parse)
                        .unwrap_or_default();
                    let to = Peer {
                        addr,
                        side: Side::Lan,
                        transport,
                    };
                    Some((to, restored))
                }
                None => None,
            };
        }
        let user = ruri.user?;
        let reg = self.regs.by_user(user)?;
        Some((self.phone_peer(reg), reg.contact.clone()))
    }

    /// Where a registered phone is reached: the address and transport its
    /// REGISTER came from (RFC 3581 symmetric routing; over TCP, the
    /// connection it registered on, which a NAT in between may leave as the
    /// only way in).
    pub(super) fn phone_peer(&self, reg: &registry::Registration) -> Peer {
        Peer {
            addr: reg.addr,
            side: Side::Lan,
            transport: reg.transport,
        }
    }
}

impl Sip<'_> {
    /// siproxd's defaulttarget plugin: a new call for a user sipnat does
    /// not know is answered `302 Moved Temporarily` to the configured
    /// target (RFC 3261 §21.3.3); its ACK ends at sipnat like any ACK to
    /// sipnat's own answers. False: not for it, answer as usual.
    fn redirect_to_default(&mut self, src: Peer, req: &Request<'_>, out: &mut Outbox) -> bool {
        let cfg = &self.p.cfg;
        if !cfg.defaulttarget || req.method != Method::Invite || req.to_tag.is_some() {
            return false;
        }
        let Some(target) = cfg.defaulttarget_target.as_deref() else {
            return false;
        };
        if cfg.defaulttarget_log {
            log::info!(
                "unknown target {} from {}: redirected to {target}",
                req.uri,
                src.addr
            );
        }
        self.stats.bump("route", "default-target");
        self.answer(src, req.msg, ans(302, "Moved Temporarily"), out);
        true
    }

    /// siproxd's siptrunk plugin: a WAN request for a user no phone
    /// registered, whose Request-URI user (else To user) is one of a
    /// trunk's numbers, goes to the phone registered with the trunk's
    /// account (the first trunk that matches decides, as in siproxd). The
    /// Request-URI keeps the number dialled, on the phone's contact
    /// address: a PBX behind one account routes by the number (DID).
    /// `None`: not for a trunk, or its phone is not registered (then the
    /// request is answered as before).
    fn trunk_phone(&mut self, now: Instant, src: Peer, req: &Request<'_>) -> Option<Next> {
        if !self.p.cfg.siptrunk || src.side != Side::Wan {
            return None;
        }
        let to_user = req
            .msg
            .header(HeaderName::To)
            .and_then(|h| NameAddr::parse(h.value).ok())
            .and_then(|na| na.uri.user);
        let p = &mut *self.p;
        let users = [req.ruri.user, to_user];
        let (trunk, number) = p.cfg.siptrunks.iter().find_map(|t| {
            users
                .iter()
                .flatten()
                .find(|u| t.numbers.is_match(u.as_bytes(), &mut p.regex))
                .map(|u| (t, *u))
        })?;
        let Some(reg) = p
            .regs
            .by_aor(&trunk.account)
            .filter(|r| r.confirmed && r.expires_at > now)
            .max_by_key(|r| r.expires_at)
        else {
            log::debug!(
                "{src}: siptrunk '{}': {number}, but no phone is registered as {}",
                trunk.name,
                trunk.account
            );
            self.stats.bump("route", "siptrunk-unregistered");
            return None;
        };
        let ruri = with_user(&reg.contact, number).unwrap_or_else(|| reg.contact.clone());
        log::debug!(
            "{src}: siptrunk '{}': {number} to {}'s phone, {ruri}",
            trunk.name,
            trunk.account
        );
        let to = p.phone_peer(reg);
        self.stats.bump("route", "siptrunk");
        Some(Next::Phone { to, ruri })
    }
}

/// `contact` (a phone's Contact URI) with `user` as its user part, its
/// host, port and parameters kept; `None` if it does not parse or fit.
fn with_user(contact: &str, user: &str) -> Option<UriString> {
    let u = Uri::parse(contact).ok()?;
    let mut s = UriString::new();
    s.push_str(u.scheme).ok()?;
    s.push(':').ok()?;
    s.push_str(user).ok()?;
    s.push('@').ok()?;
    s.push_str(u.host_str).ok()?;
    if let Some(port) = u.port {
        core::fmt::Write::write_fmt(&mut s, format_args!(":{port}")).ok()?;
    }
    s.push_str(u.params).ok()?;
    Some(s)
}
