//! The SIP core: every SIP datagram goes in through [`Proxy::handle_sip`],
//! every datagram to send comes out through the caller's [`Outbox`].
//!
//! What it does (RFC 3261 §16, RFC 3581), the way siproxd does it and past it:
//! * **Direction.** A datagram's side is the interface it arrived on, which
//!   the driver passes in ([`crate::side`]); never its source address alone.
//!   A datagram from the WAN with a LAN, loopback or router source address is
//!   forged: dropped and counted (`drop.wan-forged-source`).
//!   A request addressed to sipnat (its Request-URI names one of sipnat's
//!   addresses) goes to the registered phone it names (incoming); a request
//!   from a LAN phone to anywhere else goes out (outgoing); a request for a
//!   registered AOR goes to that phone. What matches none of these gets a
//!   clear answer: 404 for an unknown user, 403 for an unregistered phone or a
//!   WAN host trying to relay.
//! * **Registrations** in both of siproxd's modes ([`registry`]): forwarded
//!   to the provider's registrar with every Contact masqueraded, or answered
//!   by sipnat itself when the REGISTER is addressed to it.
//! * **Via.** sipnat adds its Via with an RFC 3261 branch (§16.6 step 8) and
//!   removes it from responses (§16.7 step 3). The branch seals, under the
//!   installation's key, where the responses go: the request's source as
//!   §18.2.2 and RFC 3581 say (source IP; source port with `rport`, else the
//!   sent-by port), and the side it arrived on ([`branch`]). Responses go
//!   there and only there, never to an address a Via names: a WAN sender
//!   cannot reflect a phone's answer to the router's loopback, a LAN host or
//!   a third party, and no name a WAN sender chose is ever looked up.
//!   The top Via gets `received`/`rport` filled in (§18.2.1, RFC 3581 §4).
//!   Going out, every LAN Via is sealed into the branch too and restored on
//!   the responses.
//! * **Record-Route/Route.** Dialog-creating requests get sipnat's
//!   Record-Route with the address of the side they go to; responses get it
//!   rewritten to the address of the side *they* go to (§16.7 step 4 allows a
//!   proxy to change its own entry), so each side routes in-dialog requests
//!   to the address it can reach. sipnat's own Route entries are removed
//!   (§16.4, loose routing).
//! * **Max-Forwards** decremented, or set to 70 (§16.6 step 3); 0 gets 483
//!   (§16.3 step 3). Loops get 482 (§16.3 step 4). Proxy-Require gets 420
//!   with Unsupported (§16.3 step 5): sipnat supports no proxy extensions.
//! * **No LAN address leaves the router.** Contacts are masqueraded to the
//!   public address with a keyed, authenticated token of the phone's address
//!   (`;snc=<token>`, [`keyed`]); every other LAN address in the headers is
//!   replaced by a reversible token ([`mask`]); both are restored on the way
//!   back. A token opens only if sipnat made it, never to loopback or the
//!   router, and outside a dialog only to a live registration's contact.
//! * **DNS** is asked without blocking ([`crate::dns`]): a request whose next
//!   hop is not yet resolved is parked (bounded) and processed again when the
//!   answer comes.
//!
//! * **Media.** SDP offers and answers are rewritten so both ends send RTP
//!   to the relay ([`media`], [`crate::sdp`], [`crate::relay`]).
//!
//! What it does not do (yet): TCP/TLS, IPv6,
//! authentication, and it never answers as a user agent except as a
//! registrar, to OPTIONS addressed to itself, and with error responses.
//!
//! Capacity: every table is fixed ([`crate::limits`]); a request that needs
//! a new entry in a full table gets 503 with Retry-After, and nothing already
//! there is evicted.

pub mod branch;
pub mod keyed;
pub mod mask;
pub mod media;
pub mod output;
pub mod ratelimit;
pub mod registry;

pub use output::{Buf, Channel, Outbox, Transmit};

use crate::config::{Config, Net4};
use crate::dns::{Lookup, QueryHandle, Resolver};
use crate::limits::{
    MAX_LOCAL_EXPIRES, MAX_PARKED, MAX_PARKED_WAN, MAX_SIP_MESSAGE, MAX_STORED_URI,
};
use crate::sip::{
    ContactValue, Header, HeaderName, Host, Message, Method, NameAddr, StartLine, Uri, Via,
    param_get, split_comma, unfold_headers,
};
use crate::stats::Stats;
use keyed::Key;
use media::{Author, Media, MediaError};
use registry::{Registry, UriString, aor_key};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

/// RFC 3261 §8.1.1.7: the branch of every RFC 3261 request starts with this.
pub const MAGIC_COOKIE: &str = "z9hG4bK";
/// Our branches: the cookie, `sn`, then 16 hex digits of a keyed hash.
const OUR_BRANCH_PREFIX: &str = "z9hG4bKsn";
/// The URI parameter that carries a masqueraded contact's token.
const CONTACT_TOKEN_PARAM: &str = "snc";
/// Seconds a client should wait before retrying after a 503 for a full table.
const RETRY_AFTER: &str = "10";
/// How long a REGISTER sent out waits for its 2xx before the pending entry
/// goes (RFC 3261 §17.1.2.2 Timer F, 64·T1).
const PENDING_REGISTRATION: Duration = Duration::from_secs(32);
/// How often registrations and calls are expired.
const TICK: Duration = Duration::from_secs(1);
/// A parked request gives up after this long (the resolver fails sooner).
const PARK_LIMIT: Duration = Duration::from_secs(40);
/// Default Max-Forwards (RFC 3261 §16.6 step 3).
const DEFAULT_MAX_FORWARDS: u32 = 70;
const SERVER: &str = concat!("Server: sipnat/", env!("CARGO_PKG_VERSION"), "\r\n");

pub use crate::side::Side;

/// Where a SIP message came from: its source address and the side it
/// arrived on (the arrival interface, never the address: [`crate::side`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddrV4,
    pub side: Side,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.addr, self.side.as_str())
    }
}

/// The router's addresses as the kernel reports them (the driver re-reads
/// them, so a new PPPoE address is followed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    /// Networks of the LAN interface; the first address is sipnat's LAN address.
    pub lan: heapless::Vec<Net4, 4>,
    /// Address of the WAN interface.
    pub wan: Option<Ipv4Addr>,
}

/// How header text is treated on its way through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextMode {
    /// LAN → WAN: hide LAN addresses.
    Mask,
    /// WAN → LAN: restore hidden LAN addresses.
    Unmask,
    /// Within one side: unchanged.
    Plain,
}

/// Where a request goes.
enum Next {
    /// To a phone on the LAN, with this Request-URI.
    Phone { addr: SocketAddrV4, ruri: UriString },
    /// To the next hop; the Request-URI is kept.
    Hop,
}

/// A datagram waiting for DNS.
struct Parked {
    used: bool,
    pass: u32,
    from: Peer,
    since: Instant,
    len: usize,
    data: [u8; MAX_SIP_MESSAGE],
}

pub struct Proxy {
    cfg: Config,
    addrs: Addresses,
    /// `host_outbound` when it is an address literal or has been resolved.
    public: Option<Ipv4Addr>,
    key: Key,
    regs: Box<Registry>,
    dns: Resolver,
    parked: Box<[Parked]>,
    pass: u32,
    /// When the request being retried from the parking area was first
    /// parked: parking it again keeps that time, so it cannot wait forever.
    retrying_since: Option<Instant>,
    next_tick: Instant,
    dirty: bool,
    stats: Stats,
    /// Calls and the RTP relay; `None` when `rtp_proxy_enable = 0`.
    media: Option<Media>,
    /// New calls per WAN source ([`ratelimit`]).
    invites: ratelimit::InviteLimiter,
}

/// The reaction to a request, when it is an answer from sipnat itself.
struct Answer {
    code: u16,
    reason: &'static str,
}

const fn ans(code: u16, reason: &'static str) -> Answer {
    Answer { code, reason }
}

/// The answer to a REGISTER beyond its host's share of the table.
const HOST_QUOTA_ANSWER: Answer = ans(
    503,
    "Service Unavailable (too many registrations from this host)",
);

impl Proxy {
    /// A proxy for `cfg`. `key` is the installation's secret (saved with the
    /// registrations); `seed` seeds the resolver's query ids.
    pub fn new(
        cfg: Config,
        addrs: Addresses,
        key: [u8; 16],
        nameservers: &[SocketAddr],
        seed: u64,
        now: Instant,
    ) -> Proxy {
        let public = cfg
            .host_outbound
            .as_deref()
            .and_then(|h| h.parse::<Ipv4Addr>().ok());
        let media = cfg_media(&cfg);
        let parked = (0..MAX_PARKED)
            .map(|_| Parked {
                used: false,
                pass: 0,
                from: Peer {
                    addr: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
                    side: Side::Lan,
                },
                since: now,
                len: 0,
                data: [0; MAX_SIP_MESSAGE],
            })
            .collect();
        let mut proxy = Proxy {
            cfg,
            addrs,
            public,
            key: Key::new(key),
            regs: Box::default(),
            dns: Resolver::new(nameservers, seed),
            parked,
            pass: 0,
            retrying_since: None,
            next_tick: now + TICK,
            dirty: false,
            stats: Stats::new(),
            media,
            invites: ratelimit::InviteLimiter::new(),
        };
        proxy.sync_relay_local();
        proxy
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// For the driver's own counts (a registration file that could not be
    /// saved or read), so they show in [`Proxy::status_text`] with the rest.
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn registrations(&self) -> &Registry {
        &self.regs
    }

    /// The calls and the RTP relay (`None` when `rtp_proxy_enable = 0`).
    pub fn media(&self) -> Option<&Media> {
        self.media.as_ref()
    }

    /// A human-readable snapshot: table occupancy and every counter
    /// (logged on SIGUSR1; `sipnat status` will show it).
    pub fn status_text(&self) -> String {
        let mut s = format!(
            "status: registrations {}/{}",
            self.regs.len(),
            crate::limits::MAX_REGISTRATIONS,
        );
        if let Some(m) = self.media.as_ref() {
            let r = m.relay();
            let t = r.totals();
            s.push_str(&format!(
                " calls {}/{} streams {}/{} rtp-forwarded {} rtp-dropped {}",
                m.calls(),
                crate::limits::MAX_CALLS,
                r.in_use(),
                r.capacity(),
                t.forwarded.packets,
                t.dropped.iter().map(|c| c.packets).sum::<u64>()
            ));
            for reason in crate::relay::DropReason::ALL {
                let n = t.dropped_by(reason).packets;
                if n > 0 {
                    s.push_str(&format!(" rtp-dropped.{} {n}", reason.as_str()));
                }
            }
            s.push_str(&format!(
                " latches {} pool-full {} streams-timed-out {} rtp-held {} rtp-flushed {}",
                t.latches, t.pool_full, t.expired, t.held, t.flushed
            ));
            for (limit, n) in m.counts() {
                if n > 0 {
                    s.push_str(&format!(" media.{} {n}", limit.as_str()));
                }
            }
        }
        s.push('\n');
        s.push_str(&self.stats.to_string());
        s
    }

    /// The relay, for the driver's per-packet decision.
    pub fn relay_mut(&mut self) -> Option<&mut crate::relay::Relay> {
        self.media.as_mut().map(Media::relay_mut)
    }

    pub fn key_bytes(&self) -> [u8; 16] {
        self.key.to_bytes()
    }

    /// New interface addresses (the driver polls the kernel).
    pub fn set_addresses(&mut self, addrs: Addresses) {
        if addrs != self.addrs {
            let lan: Vec<String> = addrs.lan.iter().map(ToString::to_string).collect();
            let wan = addrs.wan.map_or_else(|| "-".to_string(), |a| a.to_string());
            log::info!("addresses now LAN {} WAN {wan}", lan.join(" "));
            self.addrs = addrs;
            self.sync_relay_local();
        }
    }

    /// Tell the relay the LAN networks and the router's own addresses
    /// (its rules 0 and 7: never send WAN media to them, never latch them
    /// from the WAN).
    fn sync_relay_local(&mut self) {
        let own: heapless::Vec<Ipv4Addr, 2> = [self.addrs.wan, self.public]
            .into_iter()
            .flatten()
            .collect();
        if let Some(m) = self.media.as_mut() {
            m.relay_mut().set_local(&self.addrs.lan, &own);
        }
    }

    pub fn addresses(&self) -> &Addresses {
        &self.addrs
    }

    pub fn set_nameservers(&mut self, ns: &[SocketAddr]) {
        self.dns.set_nameservers(ns);
    }

    /// Swap in a new, checked configuration (SIGHUP). Registrations,
    /// transactions and calls in progress are kept.
    pub fn reconfigure(&mut self, cfg: Config) {
        self.public = cfg
            .host_outbound
            .as_deref()
            .and_then(|h| h.parse::<Ipv4Addr>().ok());
        self.cfg = cfg;
        self.sync_relay_local();
    }

    /// Did the saved registrations change since the last call?
    pub fn take_dirty(&mut self) -> bool {
        core::mem::replace(&mut self.dirty, false)
    }

    /// The text of the registration file: the key, then the bindings.
    pub fn registrations_text(&self, now: Instant, unix_now: u64) -> String {
        let mut s = String::from("# sipnat registrations\n");
        s.push_str("key ");
        for b in self.key.to_bytes() {
            s.push_str(&format!("{b:02x}"));
        }
        s.push('\n');
        self.regs.write_text(now, unix_now, &mut s);
        s
    }

    /// Restore a registration file written by [`Proxy::registrations_text`]
    /// (its key too, so tokens the provider stored stay valid). All or
    /// nothing ([`Registry::read_text`]): on an error nothing of the file is
    /// taken, the key generated at start stays, and
    /// `registration-file.rejected` counts it.
    pub fn load_registrations(
        &mut self,
        now: Instant,
        unix_now: u64,
        text: &str,
    ) -> Result<usize, String> {
        let r = self.read_registrations(now, unix_now, text);
        if r.is_err() {
            self.stats.bump("registration-file", "rejected");
        }
        r
    }

    fn read_registrations(
        &mut self,
        now: Instant,
        unix_now: u64,
        text: &str,
    ) -> Result<usize, String> {
        let mut key = None;
        let n = self.regs.read_text(now, unix_now, text, |line| {
            let hex = line.strip_prefix("key ").ok_or("unknown line")?;
            let mut b = [0u8; 16];
            if hex.len() != 32 {
                return Err("bad key".into());
            }
            for (i, byte) in b.iter_mut().enumerate() {
                *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or("bad key")?, 16)
                    .map_err(|_| "bad key")?;
            }
            key = Some(b);
            Ok(())
        })?;
        if let Some(k) = key {
            self.key = Key::new(k);
        }
        Ok(n)
    }

    /// When [`Proxy::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Instant {
        match self.dns.poll_timeout() {
            Some(t) if t < self.next_tick => t,
            _ => self.next_tick,
        }
    }

    /// Timers: DNS retransmissions, expiry of registrations, transactions
    /// and parked requests, re-resolving `host_outbound`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Outbox) {
        if self.dns.handle_timeout(now) {
            self.retry_parked(now, out);
        }
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            let (n, confirmed) = self.regs.expire(now);
            if n > 0 {
                self.stats.add("registration", "expired", n as u64);
                self.dirty |= confirmed;
            }
            if let Some(m) = self.media.as_mut() {
                let n = m.tick(now);
                if n > 0 {
                    self.stats.add("media", "call-timeout", n as u64);
                }
            }
            for p in self.parked.iter_mut() {
                if p.used && now.duration_since(p.since) > PARK_LIMIT {
                    p.used = false;
                    self.stats.bump("drop", "dns-too-slow");
                }
            }
            self.refresh_public(now);
        }
        self.flush_dns(now, out);
    }

    /// Feed a datagram received on the socket of DNS query `query`.
    pub fn handle_dns(
        &mut self,
        now: Instant,
        query: QueryHandle,
        from: SocketAddr,
        data: &[u8],
        out: &mut Outbox,
    ) {
        match self.dns.handle_response(now, query, from, data) {
            Ok(true) => {
                self.refresh_public(now);
                self.retry_parked(now, out);
            }
            Ok(false) => {}
            Err(why) => self.stats.bump("drop", why.as_str()),
        }
        self.flush_dns(now, out);
    }

    /// Is DNS query `query` still waiting for its reply? Once it is not, the
    /// driver closes the query's socket.
    pub fn dns_in_flight(&self, query: QueryHandle) -> bool {
        self.dns.in_flight(query)
    }

    /// The driver could not open a socket for `query`: that lookup fails,
    /// and the work parked on it is answered.
    pub fn dns_socket_failed(&mut self, now: Instant, query: QueryHandle, out: &mut Outbox) {
        if self.dns.socket_failed(now, query) {
            self.stats.bump("dns", "socket-failed");
            self.retry_parked(now, out);
        }
        self.flush_dns(now, out);
    }

    /// Feed a datagram received on the SIP socket, from `from`, that arrived
    /// on `side` (its arrival interface: [`crate::side`]). `data` is modified
    /// in place (header unfolding).
    pub fn handle_sip(
        &mut self,
        now: Instant,
        from: SocketAddr,
        side: Side,
        data: &mut [u8],
        out: &mut Outbox,
    ) {
        self.stats.bump("sip", "rx");
        let SocketAddr::V4(addr) = from else {
            self.stats.bump("drop", "ipv6");
            return;
        };
        let src = Peer { addr, side };
        // A datagram that arrived on the WAN with a source address of the
        // LAN, of loopback or of the router itself is forged (a router with
        // rp_filter 0 or 2 lets it in): anything sent back would reach the
        // LAN or the router. Dropped, counted, not answered.
        if side == Side::Wan && (self.is_lan(*addr.ip()) || self.is_our_ip(*addr.ip())) {
            self.stats.bump("drop", "wan-forged-source");
            return;
        }
        if data.len() > MAX_SIP_MESSAGE {
            self.stats.bump("drop", "too-large");
            return;
        }
        // RFC 5626 §4.4.1 CRLF keep-alives and the NUL/blank pings phones send.
        if data.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | 0)) {
            self.stats.bump("sip", "keepalive");
            return;
        }
        if !self.cfg.access(*src.addr.ip()).sip {
            self.stats.bump("drop", "acl");
            return;
        }
        unfold_headers(data);
        self.process(now, src, data, out);
        self.flush_dns(now, out);
    }

    // ---------------------------------------------------------------- sides

    fn is_lan(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback() || self.addrs.lan.iter().any(|n| n.contains(ip))
    }

    fn side_of(&self, ip: Ipv4Addr) -> Side {
        if self.is_lan(ip) {
            Side::Lan
        } else {
            Side::Wan
        }
    }

    fn lan_ip(&self) -> Option<Ipv4Addr> {
        self.addrs.lan.first().map(|n| n.addr)
    }

    fn public_ip(&self) -> Option<Ipv4Addr> {
        self.public.or(self.addrs.wan)
    }

    /// sipnat's address as seen from `side`.
    fn our_ip(&self, side: Side) -> Option<Ipv4Addr> {
        match side {
            Side::Lan => self.lan_ip(),
            Side::Wan => self.public_ip(),
        }
    }

    fn is_our_ip(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback()
            || self.addrs.lan.iter().any(|n| n.addr == ip)
            || Some(ip) == self.addrs.wan
            || Some(ip) == self.public
    }

    /// Does this host[:port] name sipnat?
    fn is_us(&self, host: &Host<'_>, port: Option<u16>) -> bool {
        if port.unwrap_or(5060) != self.cfg.sip_listen_port {
            return false;
        }
        match host {
            Host::Ipv4(ip) => self.is_our_ip(*ip),
            Host::Ipv6(_) => false,
            Host::Name(n) => self
                .cfg
                .host_outbound
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(n)),
        }
    }

    fn mode(src: Side, dst: Side) -> TextMode {
        match (src, dst) {
            (Side::Lan, Side::Wan) => TextMode::Mask,
            (Side::Wan, Side::Lan) => TextMode::Unmask,
            _ => TextMode::Plain,
        }
    }

    // ------------------------------------------------------------ dispatch

    fn process(&mut self, now: Instant, src: Peer, data: &[u8], out: &mut Outbox) {
        let msg = match Message::parse(data) {
            Ok(m) => m,
            Err(e) => {
                self.stats.bump("parse", e.as_str());
                log::debug!("{src}: unparsable SIP ({})", e.as_str());
                self.answer_unparsable(src, data, e, out);
                return;
            }
        };
        if msg.is_request() {
            self.on_request(now, src, &msg, out);
        } else {
            self.on_response(now, src, &msg, out);
        }
    }

    // ------------------------------------------------------------ requests

    fn on_request(&mut self, now: Instant, src: Peer, msg: &Message<'_>, out: &mut Outbox) {
        let StartLine::Request { method, uri, .. } = msg.start else {
            return;
        };
        let src_side = src.side;
        if let Err(rej) = msg.check_request() {
            self.stats.bump("parse", "semantic");
            return self.answer(src, msg, ans(rej.code, rej.reason), out);
        }
        // RFC 3261 §16.3 step 3.
        let max_forwards = msg
            .header(HeaderName::MaxForwards)
            .and_then(|h| h.value.parse::<u32>().ok());
        if max_forwards == Some(0) {
            return self.answer(src, msg, ans(483, "Too Many Hops"), out);
        }
        // RFC 3261 §16.3 step 5: no proxy extension is supported.
        if msg.header(HeaderName::ProxyRequire).is_some() {
            return self.answer(src, msg, ans(420, "Bad Extension"), out);
        }
        // A WAN source starts new calls at a bounded rate ([`ratelimit`]).
        if method == Method::Invite
            && src_side == Side::Wan
            && msg.to_tag().is_none()
            && !self.invites.admit(now, *src.addr.ip(), self.call_key(msg))
        {
            self.stats.bump("limit", "wan-invite-rate");
            return self.answer(src, msg, ans(503, "Service Unavailable (call rate)"), out);
        }
        let Ok(ruri) = Uri::parse(uri) else {
            return self.answer(src, msg, ans(400, "Bad Request-URI"), out);
        };
        if !ruri.is_sip() {
            // RFC 3261 §16.3 step 2 / §8.2.2.1.
            return self.answer(src, msg, ans(416, "Unsupported URI Scheme"), out);
        }
        let routes_skip = self.our_leading_routes(msg);
        let routes_left = msg.values(HeaderName::Route).count() > routes_skip;
        let to_us = self.is_us(&ruri.host, ruri.port) && !routes_left;

        if method == Method::Register {
            if src_side == Side::Wan {
                return self.answer(src, msg, ans(403, "Forbidden (registration from WAN)"), out);
            }
            if !self.cfg.access(*src.addr.ip()).register {
                self.stats.bump("drop", "acl-register");
                return self.answer(src, msg, ans(403, "Forbidden (hosts_allow_reg)"), out);
            }
            if to_us {
                return self.local_register(now, src, msg, out);
            }
            return self.forward(now, src, msg, &ruri, Next::Hop, routes_skip, out);
        }

        if to_us {
            if ruri.user.is_none() && ruri.param(CONTACT_TOKEN_PARAM).is_none() {
                if method == Method::Options {
                    return self.answer(src, msg, ans(200, "OK"), out);
                }
                return self.answer(src, msg, ans(404, "Not Found"), out);
            }
            return match self.phone_for(&ruri, msg.to_tag().is_some()) {
                Some((addr, r)) => self.forward(
                    now,
                    src,
                    msg,
                    &ruri,
                    Next::Phone { addr, ruri: r },
                    routes_skip,
                    out,
                ),
                None => {
                    self.stats.bump("route", "unknown-user");
                    self.answer(src, msg, ans(404, "Not Found"), out)
                }
            };
        }
        // A request for an AOR registered here goes straight to its phone.
        if !routes_left {
            if let Some(reg) = aor_key(ruri.user, ruri.host_str)
                .and_then(|aor| self.regs.by_aor(&aor).max_by_key(|r| r.expires_at).cloned())
            {
                let next = Next::Phone {
                    addr: reg.addr,
                    ruri: reg.contact,
                };
                return self.forward(now, src, msg, &ruri, next, routes_skip, out);
            }
        }
        if src_side == Side::Wan {
            self.stats.bump("route", "relay-denied");
            return self.answer(src, msg, ans(403, "Forbidden (not a local user)"), out);
        }
        if !self.known_lan_sender(src, msg) {
            self.stats.bump("route", "not-registered");
            return self.answer(src, msg, ans(403, "Forbidden (not registered)"), out);
        }
        self.forward(now, src, msg, &ruri, Next::Hop, routes_skip, out)
    }

    /// How many Route values at the top name sipnat (RFC 3261 §16.4).
    fn our_leading_routes(&self, msg: &Message<'_>) -> usize {
        msg.values(HeaderName::Route)
            .take_while(|v| {
                NameAddr::parse(v).is_ok_and(|na| self.is_us(&na.uri.host, na.uri.port))
            })
            .count()
    }

    /// A LAN sender may send out when one of its phones is registered here:
    /// by source address or by its From AOR (siproxd's rule).
    fn known_lan_sender(&self, src: Peer, msg: &Message<'_>) -> bool {
        if self.regs.has_ip(*src.addr.ip()) {
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
    fn phone_for(&self, ruri: &Uri<'_>, in_dialog: bool) -> Option<(SocketAddrV4, UriString)> {
        if let Some(restored) = self.unmasquerade(ruri) {
            let (ip, port) = self.open_contact_token(ruri)?;
            let addr = SocketAddrV4::new(ip, if port == 0 { 5060 } else { port });
            let names_it = |r: &&registry::Registration| {
                r.confirmed
                    && (r.contact == restored
                        || Uri::parse(&r.contact)
                            .is_ok_and(|u| u.host == Host::Ipv4(ip) && u.port.unwrap_or(0) == port))
            };
            // Prefer the address the phone registered from (NAT-safe).
            return match self.regs.iter().find(names_it) {
                Some(r) => Some((r.addr, restored)),
                None if in_dialog => Some((addr, restored)),
                None => None,
            };
        }
        let user = ruri.user?;
        let reg = self.regs.by_user(user)?;
        Some((reg.addr, reg.contact.clone()))
    }

    fn open_contact_token(&self, uri: &Uri<'_>) -> Option<(Ipv4Addr, u16)> {
        let tok = uri.param(CONTACT_TOKEN_PARAM)??;
        let (ip, port) = self.key.open(tok.as_bytes())?;
        (self.is_lan(ip) && !ip.is_loopback() && !self.is_our_ip(ip)).then_some((ip, port))
    }

    /// The phone's own contact URI behind a masqueraded one, if `uri` is one
    /// of ours.
    fn unmasquerade(&self, uri: &Uri<'_>) -> Option<UriString> {
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

    /// sipnat as the registrar (RFC 3261 §10.3), for REGISTERs addressed to it.
    fn local_register(&mut self, now: Instant, src: Peer, msg: &Message<'_>, out: &mut Outbox) {
        let Some(aor) = msg
            .header(HeaderName::To)
            .and_then(|h| NameAddr::parse(h.value).ok())
            .and_then(|na| aor_key(na.uri.user, na.uri.host_str))
        else {
            return self.answer(src, msg, ans(400, "Bad To"), out);
        };
        let header_expires = msg
            .header(HeaderName::Expires)
            .and_then(|h| h.value.parse::<u32>().ok());
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
        let new = self.new_bindings(msg, &aor, *src.addr.ip(), Some(default));
        if self.regs.over_host_quota(*src.addr.ip(), new) {
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
                .upsert(&aor, na.uri_str, src.addr, at, true, true)
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
    /// does not hold yet. With `default` (sipnat as the registrar) a Contact
    /// that removes its binding (expires 0) is not counted.
    fn new_bindings(
        &self,
        msg: &Message<'_>,
        aor: &str,
        ip: Ipv4Addr,
        default: Option<u32>,
    ) -> usize {
        msg.values(HeaderName::Contact)
            .filter_map(|v| match ContactValue::parse(v) {
                Ok(ContactValue::Addr(na)) => Some(na),
                _ => None,
            })
            .filter(|na| default.is_none_or(|d| contact_expires(na, d) > 0))
            .filter(|na| self.regs.is_new_for(aor, na.uri_str, ip))
            .count()
    }

    /// A host at its share of the registration table
    /// ([`crate::limits::MAX_REGISTRATIONS_PER_HOST`]): 503 with
    /// Retry-After (RFC 3261 §21.5.4), as for a full table. Its bindings
    /// expire or are removed, and then it has room again; the other hosts
    /// have room all along.
    fn refuse_host_quota(&mut self, src: Peer, msg: &Message<'_>, out: &mut Outbox) {
        self.stats.bump("quota", "registrations-per-host");
        self.answer(src, msg, HOST_QUOTA_ANSWER, out)
    }

    fn answer_register(
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

    // ------------------------------------------------------------ forwarding

    /// Resolve where the request goes and send it there, rewritten.
    #[allow(clippy::too_many_arguments)]
    fn forward(
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
        let mode = Self::mode(src_side, dest_side);
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
        if let Some(m) = self.media.as_mut() {
            match method {
                Method::Bye | Method::Cancel => {
                    if m.end(call_key) {
                        self.stats.bump("media", "call-ended");
                    }
                }
                _ => m.touch(now, call_key),
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

    /// A forwarded REGISTER: record a provisional binding per Contact (the
    /// registrar's 2xx confirms it), refusing if a new one does not fit.
    fn note_outgoing_register(
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
        let new = self.new_bindings(msg, &aor, *src.addr.ip(), None);
        if self.regs.over_host_quota(*src.addr.ip(), new) {
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
                    .upsert(&aor, na.uri_str, src.addr, at, false, false)
                    .map_err(|_| ans(503, "Service Unavailable"))?;
            }
        }
        Ok(())
    }

    /// What tells the transactions of an RFC 2543 client apart when its Via
    /// carries no RFC 3261 branch (RFC 3261 §17.2.3: Request-URI, From tag,
    /// Call-ID, CSeq number and top Via identify them): a keyed hash of the
    /// Call-ID, CSeq number and From tag, sealed into our branch with the
    /// Vias. 0 for RFC 3261 clients, whose branch already does it. CANCEL
    /// and the ACK of a non-2xx share these fields with their INVITE, hence
    /// its branch.
    fn rfc2543_discriminator(&self, msg: &Message<'_>, top: &Via<'_>) -> u64 {
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

    /// The next hop of a request going out (RFC 3261 §16.6 steps 6–7, RFC
    /// 3263): the first Route left, else the outbound proxy of the request's
    /// domain, else `outbound_proxy_host`, else the Request-URI.
    /// `Ok(None)`: the resolver is asking; `Err`: the answer to give.
    fn next_hop(
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

    fn lookup(
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

    // ----------------------------------------------------------- responses

    fn on_response(&mut self, now: Instant, src: Peer, msg: &Message<'_>, out: &mut Outbox) {
        let StartLine::Response { code, .. } = msg.start else {
            return;
        };
        if let Err(e) = msg.check_response() {
            self.stats.bump("parse", e.as_str());
            return;
        }
        let Some(top) = msg.top_via() else {
            return self.stats.bump("drop", "response-no-via");
        };
        let Some(text) = top
            .branch()
            .and_then(|b| b.strip_prefix(OUR_BRANCH_PREFIX))
            .filter(|_| self.is_us(&top.host, top.port))
        else {
            // Not through us (RFC 3261 §16.7 step 1 / §18.1.2): includes the
            // RFC 4475 broadcast Via (bcast.dat).
            return self.stats.bump("drop", "response-not-ours");
        };
        let src_side = src.side;
        // Every branch of ours is sealed ([`branch`]): it says where the
        // response goes. A branch that holds Vias went out to the WAN and
        // only the WAN answers it; one without went on with its Vias, and
        // the Via below ours must be the one we sent, answered from the side
        // we sent it to.
        let Some(sealed) = branch::open(&self.key, text.as_bytes()) else {
            return self.stats.bump("drop", "response-stray");
        };
        let hidden = sealed.values().next().is_some();
        if hidden {
            if src_side != Side::Wan {
                return self.stats.bump("drop", "response-stray");
            }
        } else {
            let Some(next) = msg.values(HeaderName::Via).nth(1) else {
                return self.stats.bump("drop", "response-stray");
            };
            let disc = self
                .key
                .hash(&[b"in", src_side.as_str().as_bytes(), next.as_bytes()]);
            if disc != sealed.discriminator {
                return self.stats.bump("drop", "response-stray");
            }
        }
        let dest = sealed.reply_to;
        let dest_side = sealed.reply_side;
        if !usable_destination(*dest.ip()) {
            return self.stats.bump("drop", "response-bad-destination");
        }
        let mode = Self::mode(src_side, dest_side);

        let cseq_method = msg.cseq().map(|c| c.method);
        if hidden && (200..300).contains(&code) && cseq_method == Some(Method::Register) {
            self.confirm_registration(now, msg, dest);
        }

        // Media: a 1xx/2xx answer (or late offer) to INVITE, PRACK or UPDATE.
        let call_key = self.call_key(msg);
        let mut sdp_mem = [0u8; MAX_SIP_MESSAGE];
        let mut body: &[u8] = msg.body;
        let answers = code > 100
            && code < 300
            && matches!(
                cseq_method,
                Some(Method::Invite | Method::Prack | Method::Update)
            );
        if answers && self.media.as_ref().is_some_and(|m| m.is_expired(call_key)) {
            // The call went unanswered too long and its relay ports are
            // gone ([`media`]): a late answer is refused cleanly, never
            // taken for a new call. The UAS, getting no ACK, hangs up.
            return self.stats.bump("drop", "answer-after-timeout");
        }
        if answers {
            let to = Peer {
                addr: dest,
                side: dest_side,
            };
            match self.rewrite_sdp(now, src, msg, call_key, to, &mut sdp_mem) {
                Ok(Some(len)) => body = &sdp_mem[..len],
                Ok(None) => {}
                Err(e) => {
                    self.stats.bump("media", e.as_str());
                    if src_side == Side::Lan && dest_side == Side::Wan {
                        // Never forward a LAN SDP unrewritten to the WAN.
                        return self.stats.bump("drop", "response-sdp-unrewritable");
                    }
                }
            }
        }
        if cseq_method == Some(Method::Invite) {
            if let Some(m) = self.media.as_mut() {
                if (200..300).contains(&code) {
                    m.established(call_key);
                } else if code > 100 && code < 200 {
                    m.provisional(now, call_key);
                } else if code >= 300 && m.failed(call_key) {
                    self.stats.bump("media", "call-failed");
                }
            }
        }
        let mut w = out.writer();
        let status_end = msg
            .headers()
            .first()
            .map(|h| h.line.start)
            .unwrap_or(msg.header_end);
        self.put_text(&mut w, mode, msg.raw.get(..status_end).unwrap_or(b""));
        if hidden {
            write_restored_vias(&mut w, sealed.values(), sealed.reply_to);
        }
        let mut via_index = 0usize;
        for h in msg.headers() {
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
                HeaderName::Contact => self.put_contact(&mut w, h, mode),
                HeaderName::RecordRoute => self.put_record_route(&mut w, h, mode, dest_side),
                _ => self.put_text(&mut w, mode, &msg.raw[h.line.clone()]),
            }
        }
        finish_message(&mut w, body);
        let (len, overflow) = (w.len(), w.overflowed());
        if overflow {
            out.abandon();
            return self.stats.bump("drop", "too-large-after-rewrite");
        }
        if out.commit(Channel::Sip, SocketAddr::V4(dest), len) {
            self.stats.bump("forward", "response");
        } else {
            self.stats.bump("drop", "outbox-full");
        }
    }

    /// A 2xx to a REGISTER we forwarded: confirm the bindings the registrar
    /// lists with its expiry; drop this phone's bindings it no longer lists.
    fn confirm_registration(&mut self, now: Instant, msg: &Message<'_>, phone: SocketAddrV4) {
        let Some(aor) = msg
            .header(HeaderName::To)
            .and_then(|h| NameAddr::parse(h.value).ok())
            .and_then(|na| aor_key(na.uri.user, na.uri.host_str))
        else {
            return;
        };
        let header_expires = msg
            .header(HeaderName::Expires)
            .and_then(|h| h.value.parse::<u32>().ok());
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

    // ---------------------------------------------------------------- media

    /// A call's key: the keyed hash of its Call-ID in WAN form (LAN
    /// addresses masked), the same from either side.
    fn call_key(&self, msg: &Message<'_>) -> u64 {
        let mut mem = [0u8; 512];
        let mut b = Buf::new(&mut mem);
        self.put_text(
            &mut b,
            TextMode::Mask,
            msg.call_id().unwrap_or("").as_bytes(),
        );
        self.key.hash(&[b"call", b.as_bytes()])
    }

    /// Rewrite the SDP body of `msg` (if it has one and media is relayed)
    /// into `mem`, for `msg` going from `src` to `dest`. `Ok(None)`: the body
    /// goes as it is.
    fn rewrite_sdp(
        &mut self,
        now: Instant,
        src: Peer,
        msg: &Message<'_>,
        call_key: u64,
        dest: Peer,
        mem: &mut [u8],
    ) -> Result<Option<usize>, MediaError> {
        let dest_side = dest.side;
        if self.media.is_none() || msg.body.is_empty() {
            return Ok(None);
        }
        let ctype = msg
            .header(HeaderName::ContentType)
            .map(|h| h.value)
            .unwrap_or("");
        let is_sdp = ctype
            .get(..15)
            .is_some_and(|t| t.eq_ignore_ascii_case("application/sdp"));
        if !is_sdp {
            if ctype.to_ascii_lowercase().starts_with("multipart/")
                && find(msg.body, b"application/sdp").is_some()
            {
                // An SDP inside a multipart body cannot be rewritten yet.
                return Err(MediaError::Sdp(crate::sdp::SdpError::Syntax));
            }
            return Ok(None);
        }
        let Some(our_addr) = self.our_ip(dest_side) else {
            return Err(MediaError::Full);
        };
        let tag_of = |h: HeaderName| {
            msg.header(h)
                .and_then(|v| NameAddr::parse(v.value).ok())
                .and_then(|na| na.tag())
                .unwrap_or("")
        };
        let from_tag = tag_of(HeaderName::From);
        let author = Author {
            tag: if msg.is_request() {
                from_tag
            } else {
                tag_of(HeaderName::To)
            },
            from_tag,
            is_request: msg.is_request(),
            signalling_ip: *src.addr.ip(),
            wan: src.side == Side::Wan,
            // The dialog's creator: a request's source, or where a
            // response goes (the request came from there).
            origin: {
                let o = if msg.is_request() { src } else { dest };
                media::Origin {
                    wan: o.side == Side::Wan,
                    ip: *o.addr.ip(),
                }
            },
        };
        let Some(media) = self.media.as_mut() else {
            return Ok(None);
        };
        let mut w = Buf::new(mem);
        media.rewrite(now, call_key, &author, msg.body, our_addr, &mut w)?;
        if w.overflowed() {
            return Err(MediaError::Sdp(crate::sdp::SdpError::Overflow));
        }
        self.stats.bump("media", "sdp-rewritten");
        Ok(Some(w.len()))
    }

    // ----------------------------------------------------------- rewriting

    fn put_text(&self, w: &mut Buf<'_>, mode: TextMode, text: &[u8]) {
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

    /// A Contact header on its way: LAN → WAN, each LAN contact becomes
    /// `<scheme:user@PUBLIC:PORT;params;snc=TOKEN>`; WAN → LAN, each of our
    /// masqueraded contacts becomes the phone's own again.
    fn put_contact(&self, w: &mut Buf<'_>, h: &Header<'_>, mode: TextMode) {
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

    fn put_masqueraded(&self, w: &mut Buf<'_>, na: &NameAddr<'_>, raw: &str) {
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

    /// Record-Route in a response: sipnat's own entry gets the address of
    /// the side the response goes to (RFC 3261 §16.7 step 4).
    fn put_record_route(&self, w: &mut Buf<'_>, h: &Header<'_>, mode: TextMode, dest_side: Side) {
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

    // -------------------------------------------------------------- answers

    /// Answer a request with a final response of our own (never an ACK).
    fn answer(&mut self, src: Peer, msg: &Message<'_>, a: Answer, out: &mut Outbox) {
        if msg.method() == Some(Method::Ack) {
            self.stats.bump("drop", "ack-not-answered");
            return;
        }
        log::debug!("{src}: answering {} {}", a.code, a.reason);
        let extra = |w: &mut Buf<'_>| {
            match a.code {
            420 => {
                w.put_str("Unsupported: ");
                let mut first = true;
                for v in msg.values(HeaderName::ProxyRequire) {
                    if !first {
                        w.put(b", ");
                    }
                    first = false;
                    w.put_str(v);
                }
                w.put(b"\r\n");
            }
            503 => {
                w.put_str("Retry-After: ");
                w.put_str(RETRY_AFTER);
                w.put(b"\r\n");
            }
            405 | 200 => w.put_str("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, PRACK, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE\r\n"),
            _ => {}
        }
        };
        let ok = write_answer(out, &self.key, src, msg, a.code, a.reason, &extra);
        self.count_answer(a.code, ok);
    }

    fn count_answer(&mut self, code: u16, ok: bool) {
        if !ok {
            return self.stats.bump("drop", "outbox-full");
        }
        self.stats.bump(
            "answer",
            match code {
                200 => "200",
                400 => "400",
                403 => "403",
                404 => "404",
                416 => "416",
                420 => "420",
                481 => "481",
                482 => "482",
                483 => "483",
                488 => "488",
                500 => "500",
                505 => "505",
                503 => "503",
                513 => "513",
                _ => "other",
            },
        );
    }

    /// A request too broken to parse still gets a 400 when the headers a
    /// response needs can be found (RFC 3261 §8.2, RFC 4475 §3.1.2); a
    /// response or an ACK is only counted.
    fn answer_unparsable(
        &mut self,
        src: Peer,
        data: &[u8],
        err: crate::sip::ParseError,
        out: &mut Outbox,
    ) {
        if data.starts_with(b"SIP/") || data.starts_with(b"ACK ") {
            return;
        }
        let end = find(data, b"\r\n\r\n").map(|e| e + 2).unwrap_or(data.len());
        let head = &data[..end];
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let Some(first) = lines.next() else { return };
        if !first.first().is_some_and(|c| c.is_ascii_alphabetic()) {
            return;
        }
        let mut found: [Option<&[u8]>; 5] = [None; 5];
        let mut vias: heapless::Vec<&[u8], 8> = heapless::Vec::new();
        for l in lines {
            let Some(colon) = l.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = trim(&l[..colon]);
            let idx = match name.to_ascii_lowercase().as_slice() {
                b"via" | b"v" => {
                    let _ = vias.push(l);
                    continue;
                }
                b"from" | b"f" => 0,
                b"to" | b"t" => 1,
                b"call-id" | b"i" => 2,
                b"cseq" => 3,
                _ => continue,
            };
            if found[idx].is_none() {
                found[idx] = Some(l);
            }
        }
        let [Some(from), Some(to), Some(cid), Some(cseq), _] = found else {
            return self.stats.bump("drop", "unanswerable");
        };
        if vias.is_empty() {
            return self.stats.bump("drop", "unanswerable");
        }
        let mut w = out.writer();
        // RFC 3261 §21.5.7: another protocol version gets 505.
        let code = if err == crate::sip::ParseError::Version {
            505
        } else {
            400
        };
        w.put_str(if code == 505 {
            "SIP/2.0 505 Version Not Supported\r\n"
        } else {
            "SIP/2.0 400 Bad Request\r\n"
        });
        for v in &vias {
            w.put(v);
            w.put(b"\r\n");
        }
        for l in [from, to, cid, cseq] {
            w.put(l);
            w.put(b"\r\n");
        }
        w.put_str(SERVER);
        w.put_str("Content-Length: 0\r\n\r\n");
        let (len, overflow) = (w.len(), w.overflowed());
        if overflow {
            out.abandon();
            return;
        }
        let ok = out.commit(Channel::Sip, SocketAddr::V4(src.addr), len);
        self.count_answer(code, ok);
    }

    // ------------------------------------------------------------------ DNS

    fn park(&mut self, now: Instant, src: Peer, msg: &Message<'_>, out: &mut Outbox) {
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
        match self.parked.iter_mut().find(|p| !p.used) {
            Some(p) if raw.len() <= p.data.len() => {
                p.data[..raw.len()].copy_from_slice(raw);
                p.len = raw.len();
                p.from = src;
                p.used = true;
                p.pass = pass;
                p.since = self.retrying_since.unwrap_or(now);
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

    fn retry_parked(&mut self, now: Instant, out: &mut Outbox) {
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
            buf[..len].copy_from_slice(&p.data[..len]);
            self.retrying_since = Some(since);
            self.process(now, from, &buf[..len], out);
            self.retrying_since = None;
        }
    }

    fn flush_dns(&mut self, now: Instant, out: &mut Outbox) {
        let mut buf = [0u8; 512];
        while let Some((query, to, n)) = self.dns.poll_transmit(now, &mut buf) {
            if !out.push(Channel::Dns(query), to, &buf[..n.min(buf.len())]) {
                self.stats.bump("drop", "outbox-full");
                break;
            }
        }
    }

    /// Follow a `host_outbound` given as a name (dynamic DNS).
    fn refresh_public(&mut self, now: Instant) {
        let Some(h) = self.cfg.host_outbound.clone() else {
            return;
        };
        if h.parse::<Ipv4Addr>().is_ok() {
            return;
        }
        if let Lookup::Ready(SocketAddr::V4(a)) =
            self.dns
                .resolve(now, &h, Some(self.cfg.sip_listen_port), Side::Lan)
        {
            if self.public != Some(*a.ip()) {
                log::info!("host_outbound {h} is {}", a.ip());
                self.public = Some(*a.ip());
                self.sync_relay_local();
            }
        }
    }
}

// ------------------------------------------------------------------ helpers

/// The media relay for a configuration, if it relays RTP.
fn cfg_media(cfg: &Config) -> Option<Media> {
    if !cfg.rtp_proxy_enable {
        return None;
    }
    let ports: Vec<u16> = cfg.rtp_ports().collect();
    Some(Media::new(
        &ports,
        Duration::from_secs(u64::from(cfg.rtp_timeout)),
    ))
}

/// An address a datagram may be sent to.
fn usable_destination(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.octets()[0] == 0)
}

/// A host of a URI as (literal address, port) or a name copied into `name`.
fn host_target(
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

fn name_target(
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

/// The expiry a Contact asks for: its `expires` parameter, else the default
/// (the Expires header, else `default_expires`). RFC 3261 §10.2.1.1.
fn contact_expires(na: &NameAddr<'_>, default: u32) -> u32 {
    na.param("expires")
        .flatten()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(default)
}

/// Where responses to a request go: RFC 3261 §18.2.2 (the source address
/// as `received`, the sent-by port) and RFC 3581 (the source port when
/// `rport` was asked for).
fn reply_address(top: &Via<'_>, src: Peer) -> SocketAddrV4 {
    match top.rport() {
        Some(_) => src.addr,
        None => SocketAddrV4::new(*src.addr.ip(), top.port.unwrap_or(5060)),
    }
}

/// The Via lines sipnat sealed into its branch, restored on a response: every
/// value on a line of its own, the top one with `received` and `rport` filled
/// in ([`put_via_received`]). `reply_to` is the phone's source address (its
/// port only matters with rport, and then it is the source port: see
/// [`reply_address`]).
fn write_restored_vias<'a>(
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
fn put_via_received(w: &mut Buf<'_>, v: &str, src: SocketAddrV4) {
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
fn put_params_without(w: &mut Buf<'_>, params: &str, skip: &str) {
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
fn finish_message(w: &mut Buf<'_>, body: &[u8]) {
    w.put_str("Content-Length: ");
    w.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
    w.put(b"\r\n\r\n");
    w.put(body);
}

/// A response of sipnat's own to `msg` (RFC 3261 §8.2.6): its Via, From,
/// To (with a tag when it has none), Call-ID and CSeq, then `extra` lines.
/// It goes to the request's source address (RFC 3581 symmetric response).
fn write_answer(
    out: &mut Outbox,
    key: &Key,
    src: Peer,
    msg: &Message<'_>,
    code: u16,
    reason: &str,
    extra: &dyn Fn(&mut Buf<'_>),
) -> bool {
    let mut w = out.writer();
    w.put_str("SIP/2.0 ");
    w.put_u32(u32::from(code));
    w.put(b" ");
    w.put_str(reason);
    w.put(b"\r\n");
    for h in msg.headers() {
        match h.name {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                w.put(&msg.raw[h.line.clone()]);
            }
            HeaderName::To => {
                let line = &msg.raw[h.line.clone()];
                let line = line.strip_suffix(b"\r\n").unwrap_or(line);
                w.put(line);
                let tagged = NameAddr::parse(h.value).is_ok_and(|na| na.tag().is_some());
                if !tagged && code > 100 {
                    // RFC 3261 §8.2.6.2: a deterministic tag, so a retransmitted
                    // request gets the same answer.
                    let from_tag = msg
                        .header(HeaderName::From)
                        .and_then(|f| NameAddr::parse(f.value).ok())
                        .and_then(|na| na.tag())
                        .unwrap_or("");
                    let t = key.hash(&[
                        b"tag",
                        msg.call_id().unwrap_or("").as_bytes(),
                        from_tag.as_bytes(),
                    ]);
                    w.put_str(";tag=sn");
                    w.put(&keyed::hex64(t)[..8]);
                }
                w.put(b"\r\n");
            }
            _ => {}
        }
    }
    extra(&mut w);
    w.put_str(SERVER);
    w.put_str("Content-Length: 0\r\n\r\n");
    let (len, overflow) = (w.len(), w.overflowed());
    if overflow {
        out.abandon();
        return false;
    }
    out.commit(Channel::Sip, SocketAddr::V4(src.addr), len)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map(|e| e + 1)
        .unwrap_or(start);
    s.get(start..end).unwrap_or(b"")
}

/// The value of a `;name=value` parameter in a raw parameter list.
pub fn param_value<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    param_get(params, name).flatten()
}
