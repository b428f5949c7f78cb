//! Contacts on their way: masqueraded toward the WAN with an authenticated
//! token of the phone's address, restored toward the LAN ([`super::keyed`]).

use super::*;

/// What a contact token's flags say about the phone's own `transport`
/// parameter. A masqueraded contact names the transport of the side it is
/// shown to (a UDP phone behind a TCP hop is reached over TCP there), and
/// the token keeps what the phone wrote, so the contact is restored as the
/// phone wrote it:
/// * `VERBATIM`: the masqueraded contact carries the phone's parameters as
///   they were (its transport is the hop's already, or one sipnat does not
///   know);
/// * `ADDED`: the phone had none; sipnat added one;
/// * `NAMED + code`: the phone had `transport=<name>` ([`TRANSPORT_NAMES`]).
const VERBATIM: u8 = 0;
const ADDED: u8 = 1;
const NAMED: u8 = 2;
const TRANSPORT_NAMES: [&str; 4] = ["udp", "tcp", "tls", "sctp"];

/// `params` with the value of `transport` replaced by `new` in place, or
/// the parameter removed (`new` = `None`).
fn put_params_with_transport(w: &mut Buf<'_>, params: &str, new: Option<&str>) {
    for p in params.split(';').filter(|p| !p.is_empty()) {
        let name = p.split('=').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case(CONTACT_TOKEN_PARAM) {
            continue;
        }
        if name.eq_ignore_ascii_case("transport") {
            if let Some(t) = new {
                w.put_str(";transport=");
                w.put_str(t);
            }
            continue;
        }
        w.put(b";");
        w.put_str(p);
    }
}

impl Proxy {
    /// The LAN address, port and flags a masqueraded contact's token holds:
    /// only a token sipnat made, and never loopback or the router.
    pub(super) fn open_contact_token(&self, uri: &Uri<'_>) -> Option<(IpAddr, u16, u8)> {
        let tok = uri.param(CONTACT_TOKEN_PARAM)??;
        // 30 hex digits: an IPv4 phone; 44 base32 characters: IPv6.
        let (addr, flags) = self.key.open_addr(tok.as_bytes())?;
        let (ip, port) = (addr.ip(), addr.port());
        (self.is_lan(ip) && !crate::net::is_loopback(ip) && !self.is_our_ip(ip))
            .then_some((ip, port, flags))
    }

    /// The phone's own contact URI behind a masqueraded one, if `uri` is one
    /// of ours.
    pub(super) fn unmasquerade(&self, uri: &Uri<'_>) -> Option<UriString> {
        let (ip, port, flags) = self.open_contact_token(uri)?;
        let mut s = UriString::new();
        let mut mem = [0u8; MAX_STORED_URI];
        let mut w = Buf::new(&mut mem);
        w.put_str(uri.scheme);
        w.put(b":");
        if let Some(u) = uri.user {
            w.put_str(u);
            if let Some(p) = uri.password {
                w.put(b":");
                w.put_str(p);
            }
            w.put(b"@");
        }
        w.put_host(ip);
        if port != 0 {
            w.put(b":");
            w.put_u32(u32::from(port));
        }
        match flags {
            VERBATIM => put_params_without(&mut w, uri.params, CONTACT_TOKEN_PARAM),
            ADDED => put_params_with_transport(&mut w, uri.params, None),
            f => {
                let name = TRANSPORT_NAMES.get(usize::from(f - NAMED))?;
                put_params_with_transport(&mut w, uri.params, Some(name));
            }
        }
        if let Some(h) = uri.headers {
            w.put(b"?");
            w.put_str(h);
        }
        if w.overflowed() {
            return None;
        }
        s.push_str(core::str::from_utf8(w.as_bytes()).ok()?).ok()?;
        Some(s)
    }

    /// A Contact header on its way: LAN → WAN, each LAN contact becomes
    /// `<scheme:user@PUBLIC:PORT;params;snc=TOKEN>` with the `transport`
    /// of the hop it goes over (`toward`); WAN → LAN, each of our
    /// masqueraded contacts becomes the phone's own again. `toward` is the
    /// hop: its transport, and its family, which the public address named
    /// has (a phone of either family is shown by the address of the hop's).
    pub(super) fn put_contact(
        &self,
        w: &mut Buf<'_>,
        h: &Header<'_>,
        mode: TextMode,
        toward: Peer,
    ) {
        if mode == TextMode::Plain {
            w.put_str(h.raw_name);
            w.put(b": ");
            w.put_str(h.value);
            w.put(b"\r\n");
            return;
        }
        w.put_str("Contact: ");
        for (i, v) in split_comma(h.value).enumerate() {
            if i > 0 {
                w.put(b", ");
            }
            let parsed = match ContactValue::parse(v) {
                Ok(ContactValue::Addr(na)) => Some(na),
                _ => None,
            };
            match (mode, parsed) {
                (TextMode::Mask, Some(na)) => self.put_masqueraded(w, &na, v, toward),
                (TextMode::Unmask, Some(na)) => match self.unmasquerade(&na.uri) {
                    Some(own) => {
                        if let Some(d) = na.display {
                            w.put_str(d);
                            w.put(b" ");
                        }
                        w.put(b"<");
                        w.put_str(&own);
                        w.put(b">");
                        self.put_text(w, mode, na.params.as_bytes());
                    }
                    None => self.put_text(w, mode, v.as_bytes()),
                },
                _ => self.put_text(w, mode, v.as_bytes()),
            }
        }
        w.put(b"\r\n");
    }

    pub(super) fn put_masqueraded(
        &self,
        w: &mut Buf<'_>,
        na: &NameAddr<'_>,
        raw: &str,
        toward: Peer,
    ) {
        if !self.masqueradable(&na.uri, toward) {
            return self.put_text(w, TextMode::Mask, raw.as_bytes());
        }
        if let Some(d) = na.display {
            self.put_text(w, TextMode::Mask, d.as_bytes());
            w.put(b" ");
        }
        w.put(b"<");
        self.put_masqueraded_uri(w, &na.uri, toward);
        w.put(b">");
        self.put_text(w, TextMode::Mask, na.params.as_bytes());
    }

    /// A `sip:` URI naming a LAN host, which [`Proxy::put_masqueraded_uri`]
    /// can write toward `toward` (sipnat's public address of the hop's
    /// family known).
    pub(super) fn masqueradable(&self, uri: &Uri<'_>, toward: Peer) -> bool {
        lan_host(uri).is_some_and(|ip| self.is_lan(ip))
            && uri.is_sip()
            && self.public_of(toward.addr.family()).is_some()
    }

    /// The URI of a phone on the LAN as the WAN is shown it:
    /// `scheme:user@PUBLIC:PORT;params;snc=TOKEN` with the `transport` of
    /// the hop it goes over (`toward`), the token holding the phone's
    /// address. Only for a URI [`Proxy::masqueradable`] says yes to.
    pub(super) fn put_masqueraded_uri(&self, w: &mut Buf<'_>, uri: &Uri<'_>, hop: Peer) {
        let (Some(ip), Some(public)) = (lan_host(uri), self.public_of(hop.addr.family())) else {
            return;
        };
        let toward = hop.transport;
        w.put_str(uri.scheme);
        w.put(b":");
        if let Some(u) = uri.user {
            self.put_text(w, TextMode::Mask, u.as_bytes());
            if let Some(p) = uri.password {
                w.put(b":");
                w.put_str(p);
            }
            w.put(b"@");
        }
        w.put_host(public);
        w.put(b":");
        w.put_u32(u32::from(self.cfg.sip_listen_port));
        // The transport the phone wrote, and the one the hop uses.
        let own = uri.param("transport").map(|t| t.unwrap_or(""));
        let flags = match own {
            None if toward == Transport::Udp => VERBATIM,
            None => ADDED,
            Some(t) if t.eq_ignore_ascii_case(toward.param()) => VERBATIM,
            Some(t) => TRANSPORT_NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(t))
                // Cannot truncate: four names.
                .map_or(VERBATIM, |i| NAMED + i as u8),
        };
        let mut mem = [0u8; MAX_STORED_URI];
        let mut p = Buf::new(&mut mem);
        if flags == VERBATIM {
            put_params_without(&mut p, uri.params, CONTACT_TOKEN_PARAM);
        } else {
            put_params_with_transport(&mut p, uri.params, Some(toward.param()));
            if own.is_none() {
                p.put_str(";transport=");
                p.put_str(toward.param());
            }
        }
        self.put_text(w, TextMode::Mask, p.as_bytes());
        w.put(b";");
        w.put_str(CONTACT_TOKEN_PARAM);
        w.put(b"=");
        // Cannot fail: an IPv6 host parsed only with the `ipv6` feature.
        if let Some(t) = self
            .key
            .seal_addr(Addr::new(ip, uri.port.unwrap_or(0)), flags)
        {
            w.put(t.as_bytes());
        }
        if let Some(hd) = uri.headers {
            w.put(b"?");
            self.put_text(w, TextMode::Mask, hd.as_bytes());
        }
    }
}

/// The address literal a URI names as its host, of either family.
fn lan_host(uri: &Uri<'_>) -> Option<IpAddr> {
    match uri.host {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) if cfg!(feature = "ipv6") => Some(IpAddr::V6(ip)),
        _ => None,
    }
}
