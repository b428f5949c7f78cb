//! Contacts on their way: masqueraded toward the WAN with an authenticated
//! token of the phone's address, restored toward the LAN ([`super::keyed`]).

use super::*;

impl Proxy {
    pub(super) fn open_contact_token(&self, uri: &Uri<'_>) -> Option<(Ipv4Addr, u16)> {
        let tok = uri.param(CONTACT_TOKEN_PARAM)??;
        let (ip, port) = self.key.open(tok.as_bytes())?;
        (self.is_lan(ip) && !ip.is_loopback() && !self.is_our_ip(ip)).then_some((ip, port))
    }

    /// The phone's own contact URI behind a masqueraded one, if `uri` is one
    /// of ours.
    pub(super) fn unmasquerade(&self, uri: &Uri<'_>) -> Option<UriString> {
        let (ip, port) = self.open_contact_token(uri)?;
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
        mask::put_ip(&mut w, ip);
        if port != 0 {
            w.put(b":");
            w.put_u32(u32::from(port));
        }
        put_params_without(&mut w, uri.params, CONTACT_TOKEN_PARAM);
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
    /// `<scheme:user@PUBLIC:PORT;params;snc=TOKEN>`; WAN → LAN, each of our
    /// masqueraded contacts becomes the phone's own again.
    pub(super) fn put_contact(&self, w: &mut Buf<'_>, h: &Header<'_>, mode: TextMode) {
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
                (TextMode::Mask, Some(na)) => self.put_masqueraded(w, &na, v),
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

    pub(super) fn put_masqueraded(&self, w: &mut Buf<'_>, na: &NameAddr<'_>, raw: &str) {
        let (Host::Ipv4(ip), Some(public)) = (na.uri.host, self.public_ip()) else {
            return self.put_text(w, TextMode::Mask, raw.as_bytes());
        };
        if !na.uri.is_sip() || !self.is_lan(ip) {
            return self.put_text(w, TextMode::Mask, raw.as_bytes());
        }
        if let Some(d) = na.display {
            self.put_text(w, TextMode::Mask, d.as_bytes());
            w.put(b" ");
        }
        w.put(b"<");
        w.put_str(na.uri.scheme);
        w.put(b":");
        if let Some(u) = na.uri.user {
            self.put_text(w, TextMode::Mask, u.as_bytes());
            if let Some(p) = na.uri.password {
                w.put(b":");
                w.put_str(p);
            }
            w.put(b"@");
        }
        mask::put_ip(w, public);
        w.put(b":");
        w.put_u32(u32::from(self.cfg.sip_listen_port));
        let mut mem = [0u8; MAX_STORED_URI];
        let mut p = Buf::new(&mut mem);
        put_params_without(&mut p, na.uri.params, CONTACT_TOKEN_PARAM);
        self.put_text(w, TextMode::Mask, p.as_bytes());
        w.put(b";");
        w.put_str(CONTACT_TOKEN_PARAM);
        w.put(b"=");
        w.put(&self.key.seal(ip, na.uri.port.unwrap_or(0)));
        if let Some(hd) = na.uri.headers {
            w.put(b"?");
            self.put_text(w, TextMode::Mask, hd.as_bytes());
        }
        w.put(b">");
        self.put_text(w, TextMode::Mask, na.params.as_bytes());
    }
}
