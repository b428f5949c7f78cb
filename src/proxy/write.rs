//! Rewriting text on its way between the sides: masking and unmasking LAN
//! addresses, sipnat's Record-Route per side, Vias with `received`/`rport`,
//! and the end of every message.

use super::*;

impl Proxy {
    pub(super) fn put_text(&self, w: &mut Buf<'_>, mode: TextMode, text: &[u8]) {
        let is_lan = |ip: Ipv4Addr| self.is_lan(ip) && !ip.is_loopback();
        match mode {
            TextMode::Mask => {
                mask::mask(w, text, &self.key, &is_lan);
            }
            TextMode::Unmask => {
                mask::unmask(w, text, &self.key, &is_lan);
            }
            TextMode::Plain => w.put(text),
        }
    }

    /// Record-Route in a response: sipnat's own entry gets the address of
    /// the side the response goes to (RFC 3261 §16.7 step 4).
    pub(super) fn put_record_route(
        &self,
        w: &mut Buf<'_>,
        h: &Header<'_>,
        mode: TextMode,
        dest_side: Side,
    ) {
        w.put_str("Record-Route: ");
        for (i, v) in split_comma(h.value).enumerate() {
            if i > 0 {
                w.put(b", ");
            }
            let ours = NameAddr::parse(v).is_ok_and(|na| self.is_us(&na.uri.host, na.uri.port));
            match (ours, self.our_ip(dest_side)) {
                (true, Some(ip)) => {
                    w.put_str("<sip:");
                    mask::put_ip(w, ip);
                    w.put(b":");
                    w.put_u32(u32::from(self.cfg.sip_listen_port));
                    w.put_str(";lr>");
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
    reply_to: SocketAddrV4,
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
pub(super) fn put_via_received(w: &mut Buf<'_>, v: &str, src: SocketAddrV4) {
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
    if top.host != Host::Ipv4(*src.ip()) || has_rport {
        w.put_str(";received=");
        mask::put_ip(w, *src.ip());
    }
    if has_rport {
        w.put_str(";rport=");
        w.put_u32(u32::from(src.port()));
    }
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
