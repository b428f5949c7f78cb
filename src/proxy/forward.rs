//! Forwarding a request (RFC 3261 §16.6): the next hop, the branch that
//! seals where responses go, media, and the rewritten message.

use super::*;

impl Sip<'_> {
    /// Resolve where the request goes and send it there, rewritten.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        &mut self,
        now: Instant,
        src: Peer,
        msg: &Message<'_>,
        ruri: &Uri<'_>,
        next: Next,
        routes_skip: usize,
        out: &mut Outbox,
    ) {
        let method = msg.method().unwrap_or(Method::Other(""));
        let src_side = src.side;
        let dest = match &next {
            Next::Phone { addr, .. } => *addr,
            Next::Hop => match self.next_hop(now, msg, ruri, routes_skip, src_side) {
                Ok(Some(a)) => a,
                Ok(None) => return self.park(now, src, msg, out),
                Err(a) => return self.answer(src, msg, a, out),
            },
        };
        if !usable_destination(*dest.ip()) {
            self.stats.bump("route", "bad-destination");
            return self.answer(src, msg, ans(403, "Forbidden (destination)"), out);
        }
        if self.is_our_ip(*dest.ip()) && dest.port() == self.cfg.sip_listen_port {
            return self.answer(src, msg, ans(482, "Loop Detected"), out);
        }
        let dest_side = self.side_of(*dest.ip());
        // What comes from the WAN goes to a phone on the LAN, never to the
        // router itself (loopback) or back out.
        if src_side == Side::Wan && (dest_side != Side::Lan || dest.ip().is_loopback()) {
            self.stats.bump("route", "wan-bad-destination");
            return self.answer(src, msg, ans(403, "Forbidden (destination)"), out);
        }
        let mode = Proxy::mode(src_side, dest_side);
        let Some(top) = msg.top_via() else {
            return self.answer(src, msg, ans(400, "Missing Via"), out);
        };
        let Some(our_ip) = self.our_ip(dest_side) else {
            self.stats.bump("route", "no-address");
            return self.answer(src, msg, ans(503, "Service Unavailable (no address)"), out);
        };
        // Every branch of ours seals where the responses go ([`branch`]):
        // the request's source address as RFC 3261 §18.2.2 and RFC 3581 say
        // (the source IP; the source port with rport, else the sent-by
        // port), and the side it arrived on. Responses go there and nowhere
        // else: never to an address a Via names (a WAN sender's Via could
        // name the router's loopback, a LAN host or a third party), and
        // without a DNS lookup of a name a WAN sender chose.
        // Going out, the LAN Vias are sealed into the branch as well: no LAN
        // address leaves and no table is needed. Via stacks too long for a
        // branch (RFC 4475 longreq.dat has 34) go out masked instead: still
        // no LAN address.
        let reply_to = reply_address(&top, src);
        let mut branch_mem = [0u8; branch::MAX_BRANCH_TEXT];
        let mut branch_len = None;
        let mut hide = src_side == Side::Lan && dest_side == Side::Wan;
        if hide {
            let disc = self.rfc2543_discriminator(msg, &top);
            branch_len = branch::seal(
                &self.key,
                reply_to,
                src_side,
                disc,
                msg.values(HeaderName::Via),
                &mut branch_mem,
            );
            if branch_len.is_none() {
                hide = false;
                self.stats.bump("route", "vias-masked-not-hidden");
            }
        }
        // The topmost Via as it goes on (when not hidden): with `received`
        // and a filled-in `rport` (RFC 3261 §18.2.1, RFC 3581 §4), masked or
        // unmasked for the side it goes to.
        let mut via_mem = [0u8; 1024];
        let mut first_via = Buf::new(&mut via_mem);
        if !hide {
            let mut raw_mem = [0u8; 1024];
            let mut raw = Buf::new(&mut raw_mem);
            put_via_received(
                &mut raw,
                msg.values(HeaderName::Via).next().unwrap_or(""),
                src.addr,
            );
            self.put_text(&mut first_via, mode, raw.as_bytes());
            if raw.overflowed() || first_via.overflowed() {
                return self.answer(src, msg, ans(513, "Message Too Large (Via)"), out);
            }
            // The Via below ours must come back as it went, from the side it
            // went to: the discriminator binds the branch to both.
            let disc = self
                .key
                .hash(&[b"in", dest_side.as_str().as_bytes(), first_via.as_bytes()]);
            branch_len = branch::seal(
                &self.key,
                reply_to,
                src_side,
                disc,
                core::iter::empty(),
                &mut branch_mem,
            );
        }
        let Some(branch_len) = branch_len else {
            // Cannot happen: a branch without Vias always fits.
            return self.answer(src, msg, ans(500, "Server Internal Error"), out);
        };
        let branch_text = &branch_mem[..branch_len];
        // RFC 3261 §16.3 step 4: our own branch already in the request = loop.
        let looped = msg.values(HeaderName::Via).any(|v| {
            Via::parse(v)
                .ok()
                .and_then(|v| v.branch())
                .is_some_and(|b| {
                    b.strip_prefix(OUR_BRANCH_PREFIX)
                        .is_some_and(|h| h.as_bytes().eq_ignore_ascii_case(branch_text))
                })
        });
        if looped {
            return self.answer(src, msg, ans(482, "Loop Detected"), out);
        }

        // Registrations going out are remembered until their 2xx.
        if hide && method == Method::Register {
            if let Err(a) = self.note_outgoing_register(now, src, msg) {
                return self.answer(src, msg, a, out);
            }
        }

        // Media (RFC 3264): point the far side at the relay.
        let call_key = self.call_key(msg);
        let mut sdp_mem = [0u8; MAX_SIP_MESSAGE];
        let mut body: &[u8] = msg.body;
        let to = Peer {
            addr: dest,
            side: dest_side,
        };
        let sdp_len = match self.rewrite_sdp(now, src, msg, call_key, to, &mut sdp_mem) {
            Ok(len) => len,
            Err(e) => {
                self.stats.bump("media", e.as_str());
                return match e {
                    MediaError::Full => self.answer(
                        src,
                        msg,
                        ans(503, "Service Unavailable (no relay ports)"),
                        out,
                    ),
                    MediaError::Expired => self.answer(
                        src,
                        msg,
                        ans(503, "Service Unavailable (call timed out)"),
                        out,
                    ),
                    MediaError::Sdp(_) => {
                        self.answer(src, msg, ans(488, "Not Acceptable Here (SDP)"), out)
                    }
                };
            }
        };
        if let Some(len) = sdp_len {
            body = &sdp_mem[..len];
        }
        if let Some(m) = self.p.media.as_mut() {
            match method {
                Method::Bye | Method::Cancel => {
                    if m.end(self.relay, call_key) {
                        self.stats.bump("media", "call-ended");
                    }
                }
                _ => m.touch(self.relay, now, call_key),
            }
        }
        let new_ruri: &str = match &next {
            Next::Phone { ruri, .. } => ruri.as_str(),
            Next::Hop => match msg.start {
                StartLine::Request { uri, .. } => uri,
                StartLine::Response { .. } => "",
            },
        };
        let in_dialog = msg.to_tag().is_some();
        let add_rr =
            !in_dialog && matches!(method, Method::Invite | Method::Subscribe | Method::Refer);
        let max_forwards = msg
            .header(HeaderName::MaxForwards)
            .and_then(|h| h.value.parse::<u32>().ok());

        let mut w = out.writer();
        w.put_str(method.as_str());
        w.put(b" ");
        self.put_text(&mut w, mode, new_ruri.as_bytes());
        w.put(b" SIP/2.0\r\n");
        w.put_str("Via: SIP/2.0/UDP ");
        mask::put_ip(&mut w, our_ip);
        w.put(b":");
        w.put_u32(u32::from(self.cfg.sip_listen_port));
        w.put_str(";branch=");
        w.put_str(OUR_BRANCH_PREFIX);
        w.put(branch_text);
        if dest_side == Side::Wan {
            // RFC 3581: ask for symmetric responses (sipnat may be behind NAT).
            w.put_str(";rport");
        }
        w.put(b"\r\n");
        // Our Record-Route goes after the Vias (RFC 3261 §7.3.1 keeps them
        // together at the top) and before any other Record-Route (it is the
        // topmost entry, §16.6 step 4).
        let mut rr_pending = add_rr;
        let put_rr = |w: &mut Buf<'_>| {
            w.put_str("Record-Route: <sip:");
            mask::put_ip(w, our_ip);
            w.put(b":");
            w.put_u32(u32::from(self.cfg.sip_listen_port));
            w.put_str(";lr>\r\n");
        };
        let mut seen_mf = false;
        let mut route_index = 0usize;
        let mut via_index = 0usize;
        for h in msg.headers() {
            if rr_pending && h.name != HeaderName::Via {
                put_rr(&mut w);
                rr_pending = false;
            }
            match h.name {
                HeaderName::Via if hide => {}
                HeaderName::Via => {
                    for v in split_comma(h.value) {
                        via_index += 1;
                        w.put_str("Via: ");
                        if via_index == 1 {
                            w.put(first_via.as_bytes());
                        } else {
                            self.put_text(&mut w, mode, v.as_bytes());
                        }
                        w.put(b"\r\n");
                    }
                }
                HeaderName::Route => {
                    for v in split_comma(h.value) {
                        route_index += 1;
                        if route_index > routes_skip {
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
                        max_forwards
                            .unwrap_or(DEFAULT_MAX_FORWARDS + 1)
                            .saturating_sub(1),
                    );
                    w.put(b"\r\n");
                }
                HeaderName::ContentLength => {}
                HeaderName::Contact => self.put_contact(&mut w, h, mode),
                _ => self.put_text(&mut w, mode, &msg.raw[h.line.clone()]),
            }
        }
        if rr_pending {
            put_rr(&mut w);
        }
        if !seen_mf {
            w.put_str("Max-Forwards: ");
            w.put_u32(DEFAULT_MAX_FORWARDS);
            w.put(b"\r\n");
        }
        finish_message(&mut w, body);
        let (len, overflow) = (w.len(), w.overflowed());
        if overflow {
            out.abandon();
            self.stats.bump("drop", "too-large-after-rewrite");
            return self.answer(src, msg, ans(513, "Message Too Large"), out);
        }
        if out.commit(Channel::Sip, SocketAddr::V4(dest), len) {
            self.stats.bump(
                "forward",
                match (src_side, dest_side) {
                    (Side::Lan, Side::Wan) => "request-out",
                    (Side::Wan, Side::Lan) => "request-in",
                    _ => "request-local",
                },
            );
        } else {
            self.stats.bump("drop", "outbox-full");
        }
    }

    /// The next hop of a request going out (RFC 3261 §16.6 steps 6–7, RFC
    /// 3263): the first Route left, else the outbound proxy of the request's
    /// domain, else `outbound_proxy_host`, else the Request-URI.
    /// `Ok(None)`: the resolver is asking; `Err`: the answer to give.
    pub(super) fn next_hop(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        ruri: &Uri<'_>,
        routes_skip: usize,
        side: Side,
    ) -> Result<Option<SocketAddrV4>, Answer> {
        let mut name: heapless::String<{ crate::limits::MAX_DNS_NAME }> = heapless::String::new();
        let target: (Option<Ipv4Addr>, Option<u16>);
        if let Some(v) = msg.values(HeaderName::Route).nth(routes_skip) {
            let na = NameAddr::parse(v).map_err(|_| ans(400, "Bad Route"))?;
            target = host_target(&na.uri.host, na.uri.port, &mut name)?;
        } else if let Some(d) = self
            .cfg
            .outbound_domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(ruri.host_str))
        {
            target = name_target(&d.host, Some(d.port), &mut name)?;
        } else if let Some(h) = self.cfg.outbound_proxy_host.as_deref() {
            target = name_target(h, Some(self.cfg.outbound_proxy_port), &mut name)?;
        } else {
            target = host_target(&ruri.host, ruri.port, &mut name)?;
        }
        match target {
            (Some(ip), port) => Ok(Some(SocketAddrV4::new(ip, port.unwrap_or(5060)))),
            (None, port) => self.lookup(now, &name, port, side),
        }
    }

    pub(super) fn lookup(
        &mut self,
        now: Instant,
        name: &str,
        port: Option<u16>,
        side: Side,
    ) -> Result<Option<SocketAddrV4>, Answer> {
        match self.dns.resolve(now, name, port, side) {
            Lookup::Ready(SocketAddr::V4(a)) => Ok(Some(a)),
            Lookup::Ready(SocketAddr::V6(_)) => {
                Err(ans(503, "Service Unavailable (IPv6 destination)"))
            }
            Lookup::Pending => Ok(None),
            Lookup::Failed(e) => {
                self.stats.bump("dns", e.as_str());
                Err(ans(503, "Service Unavailable (DNS)"))
            }
        }
    }
}

impl Proxy {
    /// What tells the transactions of an RFC 2543 client apart when its Via
    /// carries no RFC 3261 branch (RFC 3261 §17.2.3: Request-URI, From tag,
    /// Call-ID, CSeq number and top Via identify them): a keyed hash of the
    /// Call-ID, CSeq number and From tag, sealed into our branch with the
    /// Vias. 0 for RFC 3261 clients, whose branch already does it. CANCEL
    /// and the ACK of a non-2xx share these fields with their INVITE, hence
    /// its branch.
    pub(super) fn rfc2543_discriminator(&self, msg: &Message<'_>, top: &Via<'_>) -> u64 {
        if top.branch().is_some_and(|b| b.starts_with(MAGIC_COOKIE)) {
            return 0;
        }
        let seq = msg.cseq().map(|c| c.seq).unwrap_or(0).to_le_bytes();
        let from_tag = msg
            .header(HeaderName::From)
            .and_then(|h| NameAddr::parse(h.value).ok())
            .and_then(|na| na.tag())
            .unwrap_or("");
        self.key.hash(&[
            b"out2543",
            msg.call_id().unwrap_or("").as_bytes(),
            &seq,
            from_tag.as_bytes(),
        ])
    }
}

/// An address a datagram may be sent to.
pub(super) fn usable_destination(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.octets()[0] == 0)
}

/// A host of a URI as (literal address, port) or a name copied into `name`.
pub(super) fn host_target(
    host: &Host<'_>,
    port: Option<u16>,
    name: &mut heapless::String<{ crate::limits::MAX_DNS_NAME }>,
) -> Result<(Option<Ipv4Addr>, Option<u16>), Answer> {
    match host {
        Host::Ipv4(ip) => Ok((Some(*ip), port)),
        Host::Ipv6(_) => Err(ans(503, "Service Unavailable (IPv6 destination)")),
        Host::Name(n) => name_target(n, port, name),
    }
}

pub(super) fn name_target(
    host: &str,
    port: Option<u16>,
    name: &mut heapless::String<{ crate::limits::MAX_DNS_NAME }>,
) -> Result<(Option<Ipv4Addr>, Option<u16>), Answer> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok((Some(ip), port));
    }
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return Err(ans(503, "Service Unavailable (IPv6 destination)"));
    }
    name.clear();
    name.push_str(host)
        .map_err(|_| ans(400, "Host Name Too Long"))?;
    Ok((None, port))
}

/// Where responses to a request go: RFC 3261 §18.2.2 (the source address
/// as `received`, the sent-by port) and RFC 3581 (the source port when
/// `rport` was asked for).
pub(super) fn reply_address(top: &Via<'_>, src: Peer) -> SocketAddrV4 {
    match top.rport() {
        Some(_) => src.addr,
        None => SocketAddrV4::new(*src.addr.ip(), top.port.unwrap_or(5060)),
    }
}
