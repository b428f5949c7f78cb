//! Rewriting text on its way between the sides: masking and unmasking LAN
//! addresses, sipnat's Record-Route per side, Vias with `received`/`rport`,
//! and the end of every message.

use super::*;

/// The parameter of sipnat's Record-Route entry that says which side its
/// request came from, written when a request passes through sipnat a
/// second time ([`Proxy::put_our_route`]).
pub(super) const RR_SIDE_PARAM: &str = "snin";

/// sipnat's own Via of a request being written: the branch text (after
/// [`OUR_BRANCH_PREFIX`]), and the request's first Via as it goes on when
/// its Vias are not sealed in the branch (`None`: sealed, none go on).
pub(super) struct OurVia<'a> {
    pub branch: &'a [u8],
    pub first_via: Option<&'a [u8]>,
}

impl Proxy {
    /// Render a request as its plan says (RFC 3261 §16.6 steps 3–9): the
    /// Request-URI, our Via over the hop's transport, our Record-Route when
    /// the plan records the route, the Routes left, Max-Forwards, the
    /// Contact masqueraded or restored, every other header masked or
    /// unmasked for the side, and `body`. Returns its length, or `None` when
    /// it does not fit the outbox (nothing is queued either way).
    pub(super) fn write_request(
        &self,
        plan: &Plan,
        req: &Request<'_>,
        via: &OurVia<'_>,
        body: &[u8],
        out: &mut Outbox,
    ) -> Option<usize> {
        let (msg, mode) = (req.msg, plan.mode);
        let mut w = out.writer();
        w.put_str(req.method.as_str());
        w.put(b" ");
        let ruri = plan.ruri.as_deref().unwrap_or(req.uri);
        // A phone's own URI going out (an in-dialog request to a phone whose
        // Contact sipnat restored, when the dialog's route leaves through
        // the WAN: a call that loops back through sipnat) is masqueraded as
        // a Contact is, so the request finds its way back to it.
        match Uri::parse(ruri) {
            Ok(u) if mode == TextMode::Mask && self.masqueradable(&u, plan.hop) => {
                self.put_masqueraded_uri(&mut w, &u, plan.hop)
            }
            _ => self.put_text(&mut w, mode, ruri.as_bytes()),
        }
        w.put(b" SIP/2.0\r\n");
        w.put_str("Via: SIP/2.0/");
        w.put_str(plan.hop.transport.via_name());
        w.put(b" ");
        w.put_host(plan.our_ip);
        w.put(b":");
        w.put_u32(u32::from(self.our_port(plan.hop.transport, plan.hop.side)));
        w.put_str(";branch=");
        w.put_str(OUR_BRANCH_PREFIX);
        w.put(via.branch);
        // RFC 3581: ask for symmetric responses. Toward the WAN always
        // (sipnat may be behind another NAT); toward the LAN when
        // `use_rport` has bit 0, as siproxd.
        if plan.hop.side == Side::Wan || self.cfg.use_rport & 1 != 0 {
            w.put_str(";rport");
        }
        w.put(b"\r\n");
        // Our Record-Route goes after the Vias (RFC 3261 §7.3.1 keeps them
        // together at the top) and before any other Record-Route (it is the
        // topmost entry, §16.6 step 4).
        let mut rr_pending = plan.record_route;
        // The request passed through sipnat before (a call looping back):
        // this pass's entry says which side it came from.
        let spiral = (rr_pending
            && msg
                .values(HeaderName::RecordRoute)
                .any(|v| NameAddr::parse(v).is_ok_and(|na| self.is_us(&na.uri.host, na.uri.port))))
        .then_some(plan.from);
        let mut seen_mf = false;
        let ua = self.ua_string(plan.hide);
        let mut ua_done = false;
        let mut route_index = 0usize;
        let mut via_index = 0usize;
        for h in msg.headers() {
            if rr_pending && h.name != HeaderName::Via {
                self.put_our_route(
                    &mut w,
                    plan.our_ip,
                    plan.hop.transport,
                    plan.hop.side,
                    spiral,
                );
                rr_pending = false;
            }
            if self.strip(&mut w, h, mode) {
                continue;
            }
            match h.name {
                HeaderName::Via => {
                    let Some(first) = via.first_via else {
                        continue; // sealed in the branch
                    };
                    for v in split_comma(h.value) {
                        via_index += 1;
                        w.put_str("Via: ");
                        if via_index == 1 {
                            w.put(first);
                        } else {
                            self.put_text(&mut w, mode, v.as_bytes());
                        }
                        w.put(b"\r\n");
                    }
                }
                HeaderName::Route => {
                    for v in split_comma(h.value) {
                        route_index += 1;
                        if route_index > req.routes_skip {
                            w.put_str("Route: ");
                            self.put_text(&mut w, mode, v.as_bytes());
                            w.put(b"\r\n");
                        }
                    }
                }
                HeaderName::MaxForwards => {
                    seen_mf = true;
                    w.put_str("Max-Forwards: ");
                    w.put_u32(
                        req.max_forwards
                            .unwrap_or(DEFAULT_MAX_FORWARDS + 1)
                            .saturating_sub(1),
                    );
                    w.put(b"\r\n");
                }
                HeaderName::ContentLength => {}
                // sipnat's own credentials, checked at the door ([`super::auth`]).
                HeaderName::ProxyAuthorization if self.is_our_credential(h.value) => {}
                HeaderName::Contact => self.put_contact(&mut w, h, mode, plan.hop),
                HeaderName::From | HeaderName::To => {
                    self.put_identity(&mut w, h, &msg.raw[h.line.clone()], mode)
                }
                HeaderName::UserAgent | HeaderName::Server if ua.is_some() => {
                    put_ua(&mut w, h.name, ua);
                    ua_done = true;
                }
                _ => self.put_text(&mut w, mode, &msg.raw[h.line.clone()]),
            }
        }
        if !ua_done {
            put_ua(&mut w, HeaderName::UserAgent, ua);
        }
        if rr_pending {
            self.put_our_route(
                &mut w,
                plan.our_ip,
                plan.hop.transport,
                plan.hop.side,
                spiral,
            );
        }
        if !seen_mf {
            w.put_str("Max-Forwards: ");
            w.put_u32(DEFAULT_MAX_FORWARDS);
            w.put(b"\r\n");
        }
        finish_message(&mut w, body);
        (!w.overflowed()).then_some(w.len())
    }

    /// Render a response on its way to `dest` (RFC 3261 §16.7 steps 3–9):
    /// the status line, the Vias below ours (restored from our branch when
    /// they were sealed in it: `restored`), the Contact masqueraded or
    /// restored, our Record-Route entry for `dest`'s side, every other header
    /// masked or unmasked, and `body`. Returns its length, or `None` when it
    /// does not fit the outbox.
    pub(super) fn write_response(
        &self,
        msg: &Message<'_>,
        dest: Peer,
        mode: TextMode,
        restored: Option<&branch::Opened>,
        body: &[u8],
        out: &mut Outbox,
    ) -> Option<usize> {
        let mut w = out.writer();
        let status_end = msg
            .headers()
            .first()
            .map(|h| h.line.start)
            .unwrap_or(msg.header_end);
        self.put_text(&mut w, mode, msg.raw.get(..status_end).unwrap_or(b""));
        if let Some(sealed) = restored {
            write_restored_vias(&mut w, sealed.values(), dest.addr);
        }
        let mut via_index = 0usize;
        let ua = self.ua_string(mode == TextMode::Mask);
        let mut ua_done = false;
        for h in msg.headers() {
            if self.strip(&mut w, h, mode) {
                continue;
            }
            match h.name {
                HeaderName::Via => {
                    for v in split_comma(h.value) {
                        via_index += 1;
                        if via_index > 1 {
                            w.put_str("Via: ");
                            self.put_text(&mut w, mode, v.as_bytes());
                            w.put(b"\r\n");
                        }
                    }
                }
                HeaderName::ContentLength => {}
                HeaderName::Contact => self.put_contact(&mut w, h, mode, dest),
                HeaderName::RecordRoute => self.put_record_route(&mut w, h, mode, dest),
                HeaderName::From | HeaderName::To => {
                    self.put_identity(&mut w, h, &msg.raw[h.line.clone()], mode)
                }
                HeaderName::UserAgent | HeaderName::Server if ua.is_some() => {
                    put_ua(&mut w, h.name, ua);
                    ua_done = true;
                }
                _ => self.put_text(&mut w, mode, &msg.raw[h.line.clone()]),
            }
        }
        if !ua_done {
            put_ua(&mut w, HeaderName::Server, ua);
        }
        finish_message(&mut w, body);
        (!w.overflowed()).then_some(w.len())
    }

    /// siproxd's stripheader: true when header `h` is taken out whole, or
    /// written here without the values `plugin_stripheader_remove` names.
    fn strip(&self, w: &mut Buf<'_>, h: &Header<'_>, mode: TextMode) -> bool {
        if !self.cfg.stripheader {
            return false;
        }
        let rules = self
            .cfg
            .strip_headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(h.raw_name));
        let mut values: heapless::Vec<&str, 8> = heapless::Vec::new();
        for (_, v) in rules {
            match v {
                None => return true,
                Some(v) => {
                    let _ = values.push(v.as_str());
                }
            }
        }
        if values.is_empty() {
            return false;
        }
        let kept = split_comma(h.value)
            .map(str::trim)
            .filter(|x| !values.iter().any(|v| v.eq_ignore_ascii_case(x)));
        let mut first = true;
        for x in kept {
            if first {
                w.put_str(h.raw_name);
                w.put(b": ");
            } else {
                w.put(b", ");
            }
            self.put_text(w, mode, x.as_bytes());
            first = false;
        }
        if !first {
            w.put(b"\r\n");
        }
        true
    }

    /// `ua_string` for a message from the LAN to the WAN (`outward`).
    fn ua_string(&self, outward: bool) -> Option<&str> {
        self.cfg.ua_string.as_deref().filter(|_| outward)
    }

    /// sipnat's Record-Route entry for one side (RFC 3261 §16.6 step 4):
    /// its address there, loose routing, and the transport that side uses
    /// when it is not UDP, so the side's in-dialog requests come back over
    /// it. `came_in` marks it with the side the request came from
    /// ([`RR_SIDE_PARAM`]): only when the request already names sipnat in
    /// its Record-Route, a call passing through it twice.
    pub(super) fn put_our_route(
        &self,
        w: &mut Buf<'_>,
        ip: IpAddr,
        transport: Transport,
        side: Side,
        came_in: Option<Side>,
    ) {
        w.put_str("Record-Route: ");
        self.put_our_uri(w, ip, transport, side, came_in.map(Side::as_str));
        w.put_str("\r\n");
    }

    /// `<sip:IP:PORT;transport=tcp;lr>`: sipnat as a route entry on
    /// `toward`'s side, with its [`RR_SIDE_PARAM`] when it has one.
    fn put_our_uri(
        &self,
        w: &mut Buf<'_>,
        ip: IpAddr,
        transport: Transport,
        toward: Side,
        side: Option<&str>,
    ) {
        w.put_str("<sip:");
        w.put_host(ip);
        w.put(b":");
        w.put_u32(u32::from(self.our_port(transport, toward)));
        if transport != Transport::Udp {
            w.put_str(";transport=");
            w.put_str(transport.param());
        }
        w.put_str(";lr");
        if let Some(side) = side {
            w.put(b";");
            w.put_str(RR_SIDE_PARAM);
            w.put(b"=");
            w.put_str(side);
        }
        w.put_str(">");
    }
}

impl Proxy {
    /// siproxd's `mask_host`/`masked_host`: the host `host` shows as on
    /// the other side. Toward the WAN (`Mask`) a `mask_host` becomes its
    /// `masked_host`, toward the LAN (`Unmask`) the other way round.
    pub(super) fn swap_masked_host(&self, host: &str, mode: TextMode) -> Option<&str> {
        let unmask = match mode {
            TextMode::Mask => false,
            TextMode::Unmask => true,
            TextMode::Plain => return None,
        };
        for (lan, wan) in &self.cfg.mask_hosts {
            let (from, to) = if unmask { (wan, lan) } else { (lan, wan) };
            if from.eq_ignore_ascii_case(host) {
                return Some(to);
            }
        }
        None
    }

    /// A From or To header (RFC 3261 §20.20, §20.39) on its way: its URI's
    /// host swapped by `mask_host`/`masked_host` when it is one of them,
    /// the rest masked or unmasked as any text (`raw_line` is the header
    /// line as received). The tags are left alone: dialogs match on them
    /// and the Call-ID, never on these URIs (§12.1), and a UAC takes the
    /// To URI of a response as it comes.
    fn put_identity(&self, w: &mut Buf<'_>, h: &Header<'_>, raw_line: &[u8], mode: TextMode) {
        let swap = (!self.cfg.mask_hosts.is_empty())
            .then(|| NameAddr::parse(h.value).ok())
            .flatten()
            .and_then(|na| {
                let to = self.swap_masked_host(na.uri.host_str, mode)?;
                let start = offset_in(h.value, na.uri.host_str)?;
                let end = start + na.uri.host_str.len();
                Some((h.value.get(..start)?, to, h.value.get(end..)?))
            });
        let Some((before, to, after)) = swap else {
            return self.put_text(w, mode, raw_line);
        };
        w.put_str(h.raw_name);
        w.put(b": ");
        self.put_text(w, mode, before.as_bytes());
        w.put_str(to);
        self.put_text(w, mode, after.as_bytes());
        w.put(b"\r\n");
    }

    pub(super) fn put_text(&self, w: &mut Buf<'_>, mode: TextMode, text: &[u8]) {
        // Every LAN address of either family is masked (RFC 5952 spellings
        // restored exactly, others canonical: `mask.v6-noncanonical`).
        let is_lan = |ip: IpAddr| self.is_lan(ip) && !crate::net::is_loopback(ip);
        match mode {
            #[cfg(feature = "ipv6")]
            TextMode::Mask => {
                let m = mask::mask_ip(w, text, &self.key, &is_lan);
                if m.noncanonical > 0 {
                    self.noncanonical
                        .set(self.noncanonical.get() + m.noncanonical as u64);
                }
            }
            #[cfg(feature = "ipv6")]
            TextMode::Unmask => {
                mask::unmask_ip(w, text, &self.key, &is_lan);
            }
            #[cfg(not(feature = "ipv6"))]
            TextMode::Mask => {
                mask::mask(w, text, &self.key, &|ip| is_lan(IpAddr::V4(ip)));
            }
            #[cfg(not(feature = "ipv6"))]
            TextMode::Unmask => {
                mask::unmask(w, text, &self.key, &|ip| is_lan(IpAddr::V4(ip)));
            }
            TextMode::Plain => w.put(text),
        }
    }

    /// A Record-Route header of a response on its way to `dest`: sipnat's
    /// own entry becomes its address and transport on `dest`'s side (RFC
    /// 3261 §16.7 step 4 lets a proxy change its own entry), the others are
    /// masked or unmasked. A call that passed through sipnat twice has two
    /// entries of sipnat's: the second is marked with the side its request
    /// came from ([`RR_SIDE_PARAM`]), and an entry so marked is this
    /// response's only when that is where the response goes; the other is
    /// left as the other pass wrote it (the element beside it in the route
    /// reaches it there).
    pub(super) fn put_record_route(
        &self,
        w: &mut Buf<'_>,
        h: &Header<'_>,
        mode: TextMode,
        dest: Peer,
    ) {
        w.put_str("Record-Route: ");
        for (i, v) in split_comma(h.value).enumerate() {
            if i > 0 {
                w.put(b", ");
            }
            let na = NameAddr::parse(v).ok();
            let ours = na
                .as_ref()
                .is_some_and(|na| self.is_us(&na.uri.host, na.uri.port));
            let marked = na.as_ref().and_then(|na| na.uri.param(RR_SIDE_PARAM));
            let this_pass = match marked {
                None => true,
                Some(side) => side.is_some_and(|s| s.eq_ignore_ascii_case(dest.side.as_str())),
            };
            match (ours && this_pass, self.our_ip_to(dest.side, dest.addr.ip())) {
                (true, Some(ip)) => {
                    self.put_our_uri(w, ip, dest.transport, dest.side, marked.flatten())
                }
                _ => self.put_text(w, mode, v.as_bytes()),
            }
        }
        w.put(b"\r\n");
    }
}

/// The Via lines sipnat sealed into its branch, restored on a response: every
/// value on a line of its own, the top one with `received` and `rport` filled
/// in ([`put_via_received`]). `reply_to` is the phone's source address (its
/// port only matters with rport, and then it is the source port: see
/// [`reply_address`]).
pub(super) fn write_restored_vias<'a>(
    w: &mut Buf<'_>,
    values: impl Iterator<Item = &'a str>,
    reply_to: Addr,
) {
    for (i, v) in values.enumerate() {
        w.put_str("Via: ");
        if i == 0 {
            put_via_received(w, v, reply_to);
        } else {
            w.put_str(v);
        }
        w.put(b"\r\n");
    }
}

/// The topmost Via value of a request as a server that received it from
/// `src` passes it on: `received` when the sent-by host is not the source
/// IP or `rport` was asked for (RFC 3261 §18.2.1; RFC 3581 §4 wants it even
/// when equal), and `rport` filled in with the source port when asked for.
/// A value that does not parse as a Via is copied unchanged.
pub(super) fn put_via_received(w: &mut Buf<'_>, v: &str, src: Addr) {
    let Ok(top) = Via::parse(v) else {
        w.put_str(v);
        return;
    };
    let (head, params) = match v.find(';') {
        Some(p) => v.split_at(p),
        None => (v, ""),
    };
    w.put_str(head.trim_end());
    let mut has_rport = false;
    for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let name = p.split('=').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("received") {
            continue;
        }
        if name.eq_ignore_ascii_case("rport") {
            has_rport = true;
            continue;
        }
        w.put(b";");
        w.put_str(p);
    }
    if top.host.ip() != Some(src.ip()) || has_rport {
        w.put_str(";received=");
        w.put_ip(src.ip());
    }
    if has_rport {
        w.put_str(";rport=");
        w.put_u32(u32::from(src.port()));
    }
}

/// Where `inner`, a slice of `outer`, starts in it (`None`: not a slice
/// of it).
fn offset_in(outer: &str, inner: &str) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start.checked_add(inner.len())? <= outer.len()).then_some(start)
}

/// `;a=b;c` without the parameter `skip`.
pub(super) fn put_params_without(w: &mut Buf<'_>, params: &str, skip: &str) {
    for p in params.split(';').filter(|p| !p.is_empty()) {
        let name = p.split('=').next().unwrap_or("");
        if name.trim().eq_ignore_ascii_case(skip) {
            continue;
        }
        w.put(b";");
        w.put_str(p);
    }
}

/// Content-Length (always recomputed), the blank line and the body.
pub(super) fn finish_message(w: &mut Buf<'_>, body: &[u8]) {
    w.put_str("Content-Length: ");
    w.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
    w.put(b"\r\n\r\n");
    w.put(body);
}

/// `ua_string` in place of the phone's User-Agent or Server header (the
/// name kept), or as one of `name` when the message had neither.
fn put_ua(w: &mut Buf<'_>, name: HeaderName, ua: Option<&str>) {
    if let (Some(ua), Some(n)) = (ua, name.canonical()) {
        w.put_str(n);
        w.put(b": ");
        w.put_str(ua);
        w.put(b"\r\n");
    }
}
