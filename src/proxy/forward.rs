//! Forwarding a request (RFC 3261 §16.6): the next hop, the branch that
//! seals where responses go, media, and the rewritten message.

use super::*;

/// Above this size a request toward a hop that takes TCP goes over TCP
/// (RFC 3261 §18.1.1: larger than 1300 bytes with the path MTU unknown).
pub(super) const UDP_LIMIT: usize = 1300;

/// The routing decision for a request (RFC 3261 §16.6), made once; the
/// writer renders it ([`super::write`]).
pub(super) struct Plan {
    /// Where it goes: address, side and transport.
    pub hop: Peer,
    /// The Request-URI it goes with: the phone's own contact, or `None` to
    /// keep the request's.
    pub ruri: Option<UriString>,
    /// From the LAN to the WAN with its Vias sealed in our branch.
    pub hide: bool,
    /// sipnat records its route (a dialog-creating request).
    pub record_route: bool,
    /// How header text is treated on its way.
    pub mode: TextMode,
    /// The side the request came from.
    pub from: Side,
    /// sipnat's address on the hop's side (Via, Record-Route).
    pub our_ip: IpAddr,
    /// The hop may take TCP when the request is too large for UDP.
    pub may_upgrade: bool,
    /// A phone's own Contact address: over TCP, where a connection is
    /// opened when the one `hop` names (the phone's, which it registered
    /// or called on) is gone (RFC 3261 §18.1.1, §18.2.2 step 3: a new
    /// connection goes to the address the URI names).
    pub or_else: Option<Addr>,
    /// Over TLS: the name the hop was found by, which its certificate must
    /// match (RFC 5922 §4: the SIP domain, or the configured proxy's
    /// name); empty for an address literal (the driver then matches the
    /// name it verified for that address before, else the address).
    pub tls_name: DnsName,
}

type DnsName = heapless::String<{ crate::limits::MAX_DNS_NAME }>;

impl Sip<'_> {
    /// Decide where the request goes (the plan) and send it there, rewritten.
    pub(super) fn forward(
        &mut self,
        now: Instant,
        src: Peer,
        req: &Request<'_>,
        next: Next,
        out: &mut Outbox,
    ) {
        self.with_bodies(|s, bodies| s.forward_with(now, src, req, next, bodies, out));
    }

    fn forward_with(
        &mut self,
        now: Instant,
        src: Peer,
        req: &Request<'_>,
        next: Next,
        bodies: Bodies<'_>,
        out: &mut Outbox,
    ) {
        let msg = req.msg;
        // shortdial / prefix, then regex: a new call from the LAN to
        // another number
        let dialled = self.dial_plan(src, req, &next);
        if let Some(uri) = &dialled {
            log::debug!("{src}: dial plan: {} -> {uri}", req.uri);
            self.stats.bump("forward", "dial-plan");
        }
        let mut uri_mem: [u8; MAX_REWRITTEN_URI];
        let rewritten = if self.cfg.regex {
            uri_mem = [0u8; MAX_REWRITTEN_URI];
            let base = dialled.as_deref().unwrap_or(req.uri);
            self.regex_uri(src, req, &next, base, &mut uri_mem)
        } else {
            None
        }
        .or(dialled.as_deref());
        let retargeted;
        let req = match rewritten.and_then(|u| Uri::parse(u).ok().map(|p| (u, p))) {
            Some((uri, ruri)) => {
                let mut r = req.clone();
                r.uri = uri;
                r.ruri = ruri;
                retargeted = r;
                &retargeted
            }
            None => req,
        };
        let mut plan = match self.plan(now, src, req, next) {
            Ok(Some(p)) => p,
            Ok(None) => return self.park(now, src, msg, out),
            Err(a) => return self.answer(src, msg, a, out),
        };
        let (dest, dest_side) = (plan.hop.addr, plan.hop.side);
        // Every branch of ours seals where the responses go ([`branch`]):
        // the request's source address as RFC 3261 §18.2.2 and RFC 3581 say
        // (the source IP; the source port with rport, else the sent-by
        // port; over TCP the connection it came on), its side and its
        // transport. Responses go there and nowhere else: never to an
        // address a Via names (a WAN sender's Via could name the router's
        // loopback, a LAN host or a third party), and without a DNS lookup
        // of a name a WAN sender chose.
        // Going out, the LAN Vias are sealed into the branch as well: no LAN
        // address leaves and no table is needed. Via stacks too long for a
        // branch (RFC 4475 longreq.dat has 34) go out masked instead: still
        // no LAN address.
        // siproxd's fix_bogus_via: for the listed networks the Via's port
        // is not believed either.
        let bogus =
            self.cfg.fix_bogus_via && acl_has(&self.cfg.fix_bogus_via_networks, src.addr.ip());
        let reply = reply_peer(&req.top, src, bogus);
        // A REGISTER with credentials: its 4xx counts for the blacklist.
        let flags = if req.method == Method::Register
            && msg.headers().iter().any(|h| {
                h.name == HeaderName::Authorization
                    || (h.name == HeaderName::ProxyAuthorization
                        && !self.is_our_credential(h.value))
            }) {
            branch::FLAG_CREDENTIALS
        } else {
            0
        };
        let mut branch_mem = [0u8; branch::MAX_BRANCH_TEXT];
        let mut branch_len = None;
        if plan.hide {
            let disc = self.rfc2543_discriminator(msg, &req.top);
            branch_len = branch::seal(
                &self.key,
                reply,
                disc,
                flags,
                msg.values(HeaderName::Via),
                &mut branch_mem,
            );
            if branch_len.is_none() {
                plan.hide = false;
                self.stats.bump("route", "vias-masked-not-hidden");
            }
        }
        // The topmost Via as it goes on (when not hidden): with `received`
        // and a filled-in `rport` (RFC 3261 §18.2.1, RFC 3581 §4), masked or
        // unmasked for the side it goes to.
        let mut via_mem = [0u8; 1024];
        let mut first_via = Buf::new(&mut via_mem);
        if !plan.hide {
            let mut raw_mem = [0u8; 1024];
            let mut raw = Buf::new(&mut raw_mem);
            put_via_received(
                &mut raw,
                msg.values(HeaderName::Via).next().unwrap_or(""),
                src.addr,
            );
            self.put_text(&mut first_via, plan.mode, raw.as_bytes());
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
                reply,
                disc,
                flags,
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
        if plan.hide && req.method == Method::Register {
            if let Err(a) = self.note_outgoing_register(now, src, msg) {
                return self.answer(src, msg, a, out);
            }
        }

        // Media (RFC 3264): point the far side at the relay.
        let call_key = self.call_key(msg, src.side, dest_side);
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
        let sdp_len = match self.rewrite_sdp(now, src, msg, body, call_key, plan.hop, sdp_mem) {
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
        if self.p.cfg.logcall
            && !self.p.cfg.rtp_proxy_enable
            && !self.p.media.as_ref().is_some_and(|m| m.has_call(call_key))
        {
            log_request(req, msg, src);
        }
        if let Some(m) = self.p.media.as_mut() {
            match req.method {
                Method::Bye | Method::Cancel => {
                    let how = if req.method == Method::Bye {
                        "BYE"
                    } else {
                        "CANCEL"
                    };
                    if m.end(self.relay, now, call_key, how) {
                        self.stats.bump("media", "call-ended");
                    }
                }
                _ => m.touch(self.relay, now, call_key),
            }
        }
        let via = OurVia {
            branch: branch_text,
            first_via: (!plan.hide).then(|| first_via.as_bytes()),
        };
        let mut len = self.write_request(&plan, req, &via, body, out);
        // RFC 3261 §18.1.1: too large for UDP toward a hop that takes TCP.
        if len.is_some_and(|n| n > UDP_LIMIT)
            && plan.hop.transport == Transport::Udp
            && plan.may_upgrade
        {
            out.abandon();
            plan.hop.transport = Transport::Tcp;
            self.stats.bump("forward", "upgraded-to-tcp");
            len = self.write_request(&plan, req, &via, body, out);
        }
        let Some(len) = len else {
            out.abandon();
            self.stats.bump("drop", "too-large-after-rewrite");
            return self.answer(src, msg, ans(513, "Message Too Large"), out);
        };
        let or_else = plan.or_else.filter(|_| plan.hop.transport.is_stream());
        if out.commit_or(
            Channel::Sip(plan.hop.transport),
            dest.to_std(),
            or_else,
            &plan.tls_name,
            len,
        ) {
            self.stats.bump(
                "forward",
                match (src.side, dest_side) {
                    (Side::Lan, Side::Wan) => "request-out",
                    (Side::Wan, Side::Lan) => "request-in",
                    _ => "request-local",
                },
            );
        } else {
            self.stats.bump("drop", "outbox-full");
        }
    }

    /// The plan for a request (RFC 3261 §16.6 steps 6–7): its hop, resolved
    /// (`Ok(None)`: the resolver is asking; `Err`: the answer to give), and
    /// what the writer does to it on the way.
    fn plan(
        &mut self,
        now: Instant,
        src: Peer,
        req: &Request<'_>,
        next: Next,
    ) -> Result<Option<Plan>, Answer> {
        let mut tls_name = DnsName::new();
        let (hop, ruri, may_upgrade) = match next {
            Next::Phone { to, ruri } => (to, Some(ruri), to.transport == Transport::Tcp),
            Next::Hop => {
                let Some((addr, transport)) = self.next_hop(now, req, src.side, &mut tls_name)?
                else {
                    return Ok(None);
                };
                if transport != Transport::Tls {
                    tls_name.clear();
                }
                let side = self.side_of(addr.ip());
                // Every SIP element takes TCP (RFC 3261 §18); a phone on the
                // LAN is only trusted to when it uses TCP itself.
                let hop = Peer {
                    addr,
                    side,
                    transport,
                };
                (hop, None, side == Side::Wan)
            }
        };
        let dest = hop.addr;
        if !usable_destination(dest.ip()) {
            self.stats.bump("route", "bad-destination");
            return Err(ans(403, "Forbidden (destination)"));
        }
        if self.is_our_ip(dest.ip()) && dest.port() == self.cfg.sip_listen_port {
            return Err(ans(482, "Loop Detected"));
        }
        // What comes from the WAN goes to a phone on the LAN, never to the
        // router itself (loopback) or back out.
        if src.side == Side::Wan && (hop.side != Side::Lan || crate::net::is_loopback(dest.ip())) {
            self.stats.bump("route", "wan-bad-destination");
            return Err(ans(403, "Forbidden (destination)"));
        }
        // sipnat's address on the hop's side in the hop's family: a v4
        // phone's request to an IPv6 provider goes out over IPv6 with
        // sipnat's IPv6 address in Via and Record-Route (RFC 6157 §3.1: the
        // proxy between the networks stays on the path).
        let Some(our_ip) = self.our_ip_to(hop.side, dest.ip()) else {
            self.stats.bump("route", "no-address");
            return Err(match dest.family() {
                Family::V4 => ans(503, "Service Unavailable (no address)"),
                Family::V6 => ans(503, "Service Unavailable (no IPv6 address)"),
            });
        };
        // A phone's Contact, when it is another address on the LAN.
        let or_else = ruri
            .as_deref()
            .and_then(|r| Uri::parse(r).ok())
            .and_then(|u| match u.host {
                Host::Ipv4(ip) => Some(Addr::new(ip.into(), u.port.unwrap_or(5060))),
                Host::Ipv6(ip) => Some(Addr::new(ip.into(), u.port.unwrap_or(5060))),
                Host::Name(_) => None,
            })
            .filter(|a| {
                *a != dest
                    && usable_destination(a.ip())
                    && !crate::net::is_loopback(a.ip())
                    && !self.is_our_ip(a.ip())
                    && self.side_of(a.ip()) == Side::Lan
            });
        Ok(Some(Plan {
            hop,
            ruri,
            or_else,
            hide: src.side == Side::Lan && hop.side == Side::Wan,
            record_route: req.creates_dialog(),
            mode: Proxy::mode(src.side, hop.side),
            from: src.side,
            our_ip,
            may_upgrade,
            tls_name,
        }))
    }

    /// The next hop of a request going out (RFC 3261 §16.6 steps 6–7, RFC
    /// 3263): the first Route left, else the outbound proxy of the caller's
    /// domain (the From host, as siproxd), else `outbound_proxy_host`, else
    /// the Request-URI; over the
    /// transport its URI names (`transport=`, `sips:`), else UDP; toward
    /// the configured proxies over TLS when `outbound_tls` says so.
    /// `name` gets the host name the hop was found by (empty for an
    /// address). `Ok(None)`: the resolver is asking; `Err`: the answer to
    /// give.
    pub(super) fn next_hop(
        &mut self,
        now: Instant,
        req: &Request<'_>,
        side: Side,
        name: &mut DnsName,
    ) -> Result<Option<(Addr, Transport)>, Answer> {
        name.clear();
        let target: (Option<IpAddr>, Option<u16>);
        let configured = if cfg!(feature = "tls") && self.cfg.outbound_tls {
            Transport::Tls
        } else {
            Transport::Udp
        };
        let transport;
        let ruri = &req.ruri;
        if let Some(v) = req.msg.values(HeaderName::Route).nth(req.routes_skip) {
            let na = NameAddr::parse(v).map_err(|_| ans(400, "Bad Route"))?;
            transport = uri_transport(&na.uri)?;
            target = host_target(&na.uri.host, na.uri.port, name)?;
        } else if let Some(d) = from_host(req.msg).and_then(|host| {
            // siproxd matches the caller's domain (the From host), first
            // match wins, case-insensitively (sip_find_outbound_proxy).
            self.cfg
                .outbound_domains
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(host))
        }) {
            transport = configured;
            target = name_target(&d.host, Some(d.port), name)?;
        } else if let Some(h) = self.cfg.outbound_proxy_host.as_deref() {
            transport = configured;
            target = name_target(h, Some(self.cfg.outbound_proxy_port), name)?;
        } else {
            transport = uri_transport(ruri)?;
            target = host_target(&ruri.host, ruri.port, name)?;
        }
        let addr = match target {
            (Some(ip), port) => Addr::new(ip, port.unwrap_or(transport.default_port())),
            (None, port) => match self.lookup(now, name, port, transport, side)? {
                Some(a) => a,
                None => return Ok(None),
            },
        };
        Ok(Some((addr, transport)))
    }

    /// Which address families a name on `side` may resolve to, in order:
    /// those sipnat has an address of there. On the WAN IPv6 first when
    /// sipnat has a global IPv6 address there (RFC 8305 §3's order, RFC 6724
    /// prefers IPv6), falling back to IPv4; on the LAN IPv4 first (the
    /// phones' usual family).
    fn families(&self, side: Side) -> crate::dns::Families {
        use crate::dns::Families;
        let v4 = self.our_ip(side, Family::V4).is_some();
        let v6 = cfg!(feature = "ipv6") && self.our_ip(side, Family::V6).is_some();
        match (v4, v6, side) {
            (true, true, Side::Wan) => Families::V6First,
            (true, true, Side::Lan) => Families::V4First,
            (false, true, _) => Families::V6,
            _ => Families::V4,
        }
    }

    pub(super) fn lookup(
        &mut self,
        now: Instant,
        name: &str,
        port: Option<u16>,
        transport: Transport,
        side: Side,
    ) -> Result<Option<Addr>, Answer> {
        // The families of the side the request goes to: a LAN phone's to the WAN.
        let families = self.families(if side == Side::Lan {
            Side::Wan
        } else {
            Side::Lan
        });
        match self.dns.resolve(now, name, port, transport, side, families) {
            Lookup::Ready(a) => match Addr::from_std(a) {
                Some(a) if cfg!(feature = "ipv6") || a.family() == Family::V4 => Ok(Some(a)),
                _ => Err(ans(503, "Service Unavailable (IPv6 destination)")),
            },
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

/// An address a datagram may be sent to: not unspecified, broadcast,
/// multicast or in 0.0.0.0/8 (RFC 1122 §3.2.1.3). IPv6: not unspecified
/// or multicast (RFC 4291 §2.5.2, §2.7).
pub(super) fn usable_destination(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.octets()[0] == 0)
        }
        IpAddr::V6(ip) => !(ip.is_unspecified() || crate::net::is_multicast6(&ip)),
    }
}

/// A host of a URI as (literal address, port) or a name copied into `name`.
/// An IPv6 reference (RFC 3261 §25.1, RFC 5118 §4.1) without the `ipv6`
/// feature gets 503.
pub(super) fn host_target(
    host: &Host<'_>,
    port: Option<u16>,
    name: &mut heapless::String<{ crate::limits::MAX_DNS_NAME }>,
) -> Result<(Option<IpAddr>, Option<u16>), Answer> {
    match host {
        Host::Ipv4(ip) => Ok((Some(IpAddr::V4(*ip)), port)),
        Host::Ipv6(ip) if cfg!(feature = "ipv6") => Ok((Some(IpAddr::V6(*ip)), port)),
        Host::Ipv6(_) => Err(ans(503, "Service Unavailable (IPv6 destination)")),
        Host::Name(n) => name_target(n, port, name),
    }
}

/// A configured host (`outbound_proxy_host`, an outbound domain's proxy):
/// an address literal (IPv6 bare or in brackets) or a name.
pub(super) fn name_target(
    host: &str,
    port: Option<u16>,
    name: &mut heapless::String<{ crate::limits::MAX_DNS_NAME }>,
) -> Result<(Option<IpAddr>, Option<u16>), Answer> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) | Err(_) if !cfg!(feature = "ipv6") && bare.contains(':') => {
            return Err(ans(503, "Service Unavailable (IPv6 destination)"));
        }
        Ok(ip) => return Ok((Some(ip), port)),
        Err(_) if host.starts_with('[') => {
            return Err(ans(503, "Service Unavailable (bad IPv6 destination)"));
        }
        Err(_) => {}
    }
    name.clear();
    name.push_str(host)
        .map_err(|_| ans(400, "Host Name Too Long"))?;
    Ok((None, port))
}

/// Where responses to a request go (RFC 3261 §18.2.2): over a stream, back
/// on the connection it came on (its source address); over UDP, the source
/// address as `received` with the sent-by port, or the source port when
/// `rport` was asked for (RFC 3581) or the source is one whose Via is not
/// believed (`bogus_via`: siproxd's fix_bogus_via). The side and transport
/// are the request's.
pub(super) fn reply_peer(top: &Via<'_>, src: Peer, bogus_via: bool) -> Peer {
    let addr = match top.rport() {
        _ if src.transport.is_stream() || bogus_via => src.addr,
        Some(_) => src.addr,
        None => src.addr.with_port(top.port.unwrap_or(5060)),
    };
    Peer { addr, ..src }
}

/// The transport a URI asks for (RFC 3261 §19.1.1 `transport`; none: UDP,
/// RFC 3263 §4.1 for a `sip:` URI with a numeric host or a port; a `sips:`
/// URI: TLS, RFC 3261 §26.2.2, whatever its `transport`, RFC 5630 §3.1.1).
/// One sipnat does not speak gets 503 (§16.6 step 7 finds no usable
/// destination).
pub(super) fn uri_transport(uri: &Uri<'_>) -> Result<Transport, Answer> {
    if uri.scheme.eq_ignore_ascii_case("sips") {
        return Transport::parse("tls")
            .ok_or(ans(503, "Service Unavailable (transport not supported)"));
    }
    match uri.param("transport") {
        None | Some(None) => Ok(Transport::Udp),
        Some(Some(t)) => {
            Transport::parse(t).ok_or(ans(503, "Service Unavailable (transport not supported)"))
        }
    }
}

/// siproxd's logcall for calls sipnat does not relay (their media is not
/// in the call table): a line per initial INVITE, BYE and CANCEL, as
/// siproxd writes them.
fn log_request(req: &super::inbound::Request<'_>, msg: &Message<'_>, src: Peer) {
    let what = match req.method {
        Method::Invite if req.to_tag.is_none() => "INVITE",
        Method::Bye => "BYE",
        Method::Cancel => "CANCEL",
        _ => return,
    };
    let uri = |h: HeaderName| {
        msg.header(h)
            .and_then(|v| NameAddr::parse(v.value).ok())
            .map_or("-", |na| na.uri_str)
    };
    log::info!(
        "call: {what} {} -> {} from {} (media not relayed)",
        uri(HeaderName::From),
        uri(HeaderName::To),
        src.addr
    );
}

/// The host of a message's From URI (the caller's domain).
fn from_host<'m>(msg: &Message<'m>) -> Option<&'m str> {
    let v = msg.header(HeaderName::From)?;
    NameAddr::parse(v.value).ok().map(|na| na.uri.host_str)
}
