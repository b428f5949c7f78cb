//! siproxd's stun plugin, built in (`load_plugin = plugin_stun`): sipnat
//! asks a STUN server (RFC 5389) every `plugin_stun_period` seconds, from
//! its SIP socket, which public address its SIP traffic leaves with, and
//! announces that address toward the WAN (Via, Contact, Record-Route, SDP)
//! as it would `host_outbound` (which, when set, wins). For a router behind
//! another NAT (a provider's CGNAT, a modem in front), without a fixed
//! public address to configure.
//!
//! The request is a Binding request without attributes (§6); the answer is
//! taken only from the address it was sent to, with the same transaction
//! id, and only its XOR-MAPPED-ADDRESS (§15.2; MAPPED-ADDRESS, §15.1, from
//! old servers) counts. The server's name is resolved through the resolver
//! like any other (never blocking). A STUN datagram on the SIP socket is
//! told from SIP by its first byte and magic cookie (RFC 7983 §7); a
//! Binding request from a LAN phone (its keep-alive, RFC 5626 §4.4.2) is
//! answered, plugin or not.

use super::*;

/// RFC 5389 §6: the magic cookie.
const COOKIE: u32 = 0x2112_A442;
/// A request unanswered is asked again after this long (or the period,
/// when shorter).
const RETRY: Duration = Duration::from_secs(30);

/// The client's state (in the proxy while the plugin is on).
#[derive(Debug, Default)]
pub(super) struct Stun {
    next_at: Option<Instant>,
    /// The transaction id and the server of the request in flight.
    txid: [u8; 12],
    sent_to: Option<Addr>,
    serial: u64,
}

/// Is this datagram a STUN message (RFC 7983 §7: first byte 0–3, RFC 5389
/// §6: the magic cookie)?
pub(super) fn is_stun(data: &[u8]) -> bool {
    data.len() >= 20 && data[0] < 4 && data.get(4..8) == Some(&COOKIE.to_be_bytes()[..])
}

/// A Binding request (§6) with transaction id `txid`.
pub(super) fn binding_request(txid: &[u8; 12]) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[0..2].copy_from_slice(&0x0001u16.to_be_bytes());
    m[4..8].copy_from_slice(&COOKIE.to_be_bytes());
    m[8..20].copy_from_slice(txid);
    m
}

/// A Binding success response (§7.3.1) to `txid` telling `to` its address
/// (XOR-MAPPED-ADDRESS, §15.2).
pub(super) fn binding_success(txid: &[u8; 12], to: SocketAddrV4) -> [u8; 32] {
    let mut m = [0u8; 32];
    m[0..2].copy_from_slice(&0x0101u16.to_be_bytes());
    m[2..4].copy_from_slice(&12u16.to_be_bytes());
    m[4..8].copy_from_slice(&COOKIE.to_be_bytes());
    m[8..20].copy_from_slice(txid);
    m[20..24].copy_from_slice(&[0x00, 0x20, 0x00, 0x08]);
    m[25] = 0x01;
    m[26..28].copy_from_slice(&(to.port() ^ (COOKIE >> 16) as u16).to_be_bytes());
    m[28..32].copy_from_slice(&(u32::from(*to.ip()) ^ COOKIE).to_be_bytes());
    m
}

/// The mapped address of a Binding success response (§7.3.1) to `txid`.
pub(super) fn mapped_address(data: &[u8], txid: &[u8; 12]) -> Option<SocketAddrV4> {
    if !is_stun(data) || data[0..2] != 0x0101u16.to_be_bytes() || data.get(8..20)? != txid {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let mut attrs = data.get(20..20 + len)?;
    let mut plain = None;
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let alen = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + alen)?;
        // family 0x01: IPv4 (§15.1)
        if alen == 8 && value[1] == 0x01 {
            let port = u16::from_be_bytes([value[2], value[3]]);
            let ip = u32::from_be_bytes([value[4], value[5], value[6], value[7]]);
            match kind {
                0x0020 => {
                    let port = port ^ (COOKIE >> 16) as u16;
                    return Some(SocketAddrV4::new(Ipv4Addr::from(ip ^ COOKIE), port));
                }
                0x0001 => plain = Some(SocketAddrV4::new(Ipv4Addr::from(ip), port)),
                _ => {}
            }
        }
        // attributes are padded to 4 bytes (§15)
        attrs = attrs.get((4 + alen).div_ceil(4) * 4..).unwrap_or(&[]);
    }
    plain
}

impl Sip<'_> {
    /// Ask the STUN server when due (resolving its name first).
    pub(super) fn stun_tick(&mut self, now: Instant, out: &mut Outbox) {
        let cfg = &self.p.cfg;
        if !cfg.stun {
            return;
        }
        let Some(server) = cfg.stun_server.clone() else {
            return;
        };
        let (port, period) = (cfg.stun_port, Duration::from_secs(cfg.stun_period.into()));
        if self.p.stun.next_at.is_some_and(|t| now < t) {
            return;
        }
        let to = match server.parse::<Ipv4Addr>() {
            Ok(ip) => SocketAddrV4::new(ip, port),
            Err(_) => match self.dns.resolve(
                now,
                &server,
                Some(port),
                Transport::Udp,
                Side::Wan,
                crate::dns::Families::V4,
            ) {
                Lookup::Ready(SocketAddr::V4(a)) => a,
                Lookup::Pending => return, // the next tick asks again
                _ => {
                    self.stats.bump("stun", "no-address");
                    self.p.stun.next_at = Some(now + RETRY.min(period));
                    return;
                }
            },
        };
        let st = &mut self.p.stun;
        st.serial += 1;
        let h = self.p.key.hash(&[b"stun", &st.serial.to_le_bytes()]);
        st.txid[..8].copy_from_slice(&h.to_le_bytes());
        st.txid[8..].copy_from_slice(&(st.serial as u32).to_le_bytes());
        st.sent_to = Some(Addr::V4(to));
        // the answer moves this on to the period
        st.next_at = Some(now + RETRY.min(period));
        let req = binding_request(&st.txid);
        if out.push(Channel::Sip(Transport::Udp), SocketAddr::V4(to), &req) {
            self.stats.bump("stun", "request");
        }
    }

    /// A STUN datagram on the SIP socket: a phone's keep-alive (RFC 5626
    /// §4.4.2: a Binding request from the LAN, answered with the address it
    /// came from, §7.3.1), the answer to our own request, or dropped.
    pub(super) fn on_stun(&mut self, now: Instant, src: Peer, data: &[u8], out: &mut Outbox) {
        if data[0..2] == [0x00, 0x01] && src.side == Side::Lan && src.transport == Transport::Udp {
            // An IPv4 address: sipnat takes no other yet (issue 14).
            let Some(from) = src.addr.v4() else { return };
            let mut txid = [0u8; 12];
            txid.copy_from_slice(&data[8..20]);
            let answer = binding_success(&txid, from);
            if out.push(Channel::Sip(Transport::Udp), SocketAddr::V4(from), &answer) {
                self.stats.bump("stun", "keepalive-answered");
            }
            return;
        }
        let st = &mut self.p.stun;
        let ours = st.sent_to == Some(src.addr) && src.side == Side::Wan;
        let Some(mapped) = mapped_address(data, &st.txid).filter(|_| ours) else {
            return self.stats.bump("drop", "stun-unexpected");
        };
        st.sent_to = None;
        st.next_at = Some(now + Duration::from_secs(self.p.cfg.stun_period.into()));
        self.stats.bump("stun", "answer");
        // host_outbound, when set, is the user's word and wins
        if self.p.cfg.host_outbound.is_none() && self.p.public != Some(*mapped.ip()) {
            log::info!("stun: the public address is {}", mapped.ip());
            self.p.public = Some(*mapped.ip());
            self.sync_relay_local();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TX: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    fn response(attrs: &[u8]) -> Vec<u8> {
        let mut m = vec![0x01, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&COOKIE.to_be_bytes());
        m.extend_from_slice(&TX);
        m.extend_from_slice(attrs);
        m
    }

    #[test]
    fn a_request_is_a_bare_binding_request() {
        let r = binding_request(&TX);
        assert_eq!(&r[..8], &[0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42]);
        assert_eq!(&r[8..], &TX);
        assert!(is_stun(&r));
        assert!(!is_stun(b"INVITE sip:a@b SIP/2.0\r\n"));
    }

    #[test]
    fn the_xor_mapped_address_is_read() {
        // 192.0.2.1:32853 (RFC 5769 §2.2's address): x-port 0xA147, x-addr 0xE112A643
        let xor = [
            0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xA1, 0x47, 0xE1, 0x12, 0xA6, 0x43,
        ];
        let got = mapped_address(&response(&xor), &TX);
        assert_eq!(got, Some("192.0.2.1:32853".parse().unwrap()));
        // a SOFTWARE attribute (odd length, padded) before it changes nothing
        let mut with_sw = vec![
            0x80, 0x22, 0x00, 0x05, b'a', b'b', b'c', b'd', b'e', 0, 0, 0,
        ];
        with_sw.extend_from_slice(&xor);
        assert_eq!(mapped_address(&response(&with_sw), &TX), got);
        // the old MAPPED-ADDRESS when there is no XOR form
        let plain = [
            0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x1F, 0x90, 203, 0, 113, 9,
        ];
        assert_eq!(
            mapped_address(&response(&plain), &TX),
            Some("203.0.113.9:8080".parse().unwrap())
        );
    }

    #[test]
    fn our_answer_reads_back_as_the_address_it_names() {
        let to: SocketAddrV4 = "10.77.1.2:5062".parse().unwrap();
        assert_eq!(mapped_address(&binding_success(&TX, to), &TX), Some(to));
    }

    #[test]
    fn anything_else_is_refused() {
        let xor = [
            0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xA1, 0x47, 0xE1, 0x12, 0xA6, 0x43,
        ];
        let mut other_tx = response(&xor);
        other_tx[19] ^= 1;
        assert_eq!(mapped_address(&other_tx, &TX), None, "another transaction");
        let mut error = response(&xor);
        error[1] = 0x11; // a Binding error response
        assert_eq!(mapped_address(&error, &TX), None);
        let mut cut = response(&xor);
        cut.truncate(26);
        assert_eq!(mapped_address(&cut, &TX), None, "shorter than its length");
        assert_eq!(mapped_address(&response(&[]), &TX), None, "no address");
    }
}
