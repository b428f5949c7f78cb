//! Requests waiting for DNS: the parking area (bounded, with a share kept
//! for the LAN), their retry when an answer comes, and the resolver's
//! queries going out.

use super::*;

impl Sip<'_> {
    pub(super) fn park(&mut self, now: Instant, src: Peer, msg: &Message<'_>, out: &mut Outbox) {
        let raw = msg.raw;
        let pass = self.pass;
        // WAN work may hold only its share of the parking area, so the LAN's
        // own requests always find a place (issue 9: WAN must not starve DNS).
        let wan_parked = self
            .parked
            .iter()
            .filter(|p| p.used && p.from.side == Side::Wan)
            .count();
        if src.side == Side::Wan && wan_parked >= MAX_PARKED_WAN {
            self.stats.bump("full", "parked-wan");
            if msg.is_request() {
                self.answer(src, msg, ans(503, "Service Unavailable (DNS busy)"), out);
            }
            return;
        }
        let since = self.retrying_since.unwrap_or(now);
        match self.p.parked.iter().position(|p| !p.used) {
            Some(i) if raw.len() <= MAX_SIP_MESSAGE => {
                let at = i * MAX_SIP_MESSAGE;
                self.p.parked_data[at..at + raw.len()].copy_from_slice(raw);
                let p = &mut self.p.parked[i];
                p.len = raw.len();
                p.from = src;
                p.used = true;
                p.pass = pass;
                p.since = since;
                self.stats.bump("dns", "parked");
            }
            _ => {
                self.stats.bump("full", "parked");
                if msg.is_request() {
                    self.answer(src, msg, ans(503, "Service Unavailable (DNS busy)"), out);
                }
            }
        }
    }

    pub(super) fn retry_parked(&mut self, now: Instant, out: &mut Outbox) {
        self.pass = self.pass.wrapping_add(1);
        let pass = self.pass;
        let mut buf = [0u8; MAX_SIP_MESSAGE];
        for i in 0..self.parked.len() {
            let p = &mut self.parked[i];
            if !p.used || p.pass == pass {
                continue;
            }
            p.used = false;
            let (from, len, since) = (p.from, p.len, p.since);
            let at = i * MAX_SIP_MESSAGE;
            buf[..len].copy_from_slice(&self.parked_data[at..at + len]);
            self.retrying_since = Some(since);
            self.process(now, from, &buf[..len], out);
            self.retrying_since = None;
        }
    }

    pub(crate) fn flush_dns(&mut self, now: Instant, out: &mut Outbox) {
        let mut buf = [0u8; 512];
        while let Some((query, to, n)) = self.dns.poll_transmit(now, &mut buf) {
            if !out.push(Channel::Dns(query), to, &buf[..n.min(buf.len())]) {
                self.stats.bump("drop", "outbox-full");
                break;
            }
        }
    }

    /// Follow a `host_outbound` given as a name (dynamic DNS).
    pub(super) fn refresh_public(&mut self, now: Instant) {
        let Some(h) = self.cfg.host_outbound.clone() else {
            return;
        };
        if h.parse::<IpAddr>().is_ok() {
            return;
        }
        // Its A record, and its AAAA too when the router speaks IPv6 on the
        // WAN: the public addresses a dynamic DNS name tracks.
        let v6 = cfg!(feature = "ipv6") && self.addrs.wan6.is_some();
        for families in [crate::dns::Families::V4, crate::dns::Families::V6] {
            if families == crate::dns::Families::V6 && !v6 {
                continue;
            }
            let port = Some(self.cfg.sip_listen_port);
            let Lookup::Ready(a) =
                self.dns
                    .resolve(now, &h, port, Transport::Udp, Side::Lan, families)
            else {
                continue;
            };
            let changed = match a.ip() {
                IpAddr::V4(ip) => self.public.replace(ip) != Some(ip),
                IpAddr::V6(ip) => self.public6.replace(ip) != Some(ip),
            };
            if changed {
                log::info!("host_outbound {h} is {}", a.ip());
                self.sync_relay_local();
            }
        }
    }
}
