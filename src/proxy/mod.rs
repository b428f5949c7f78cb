//! The SIP core: every SIP message goes in through
//! [`crate::core::Core::handle_sip`] with the side it arrived on and its
//! transport, every message to send comes out through the caller's
//! [`Outbox`].
//!
//! The flow, one file a step: `inbound` checks and parses a request once
//! (RFC 3261 §16.3); `request` decides where it goes; `forward` makes
//! the typed plan (hop = address, side, transport; Request-URI; what to
//! hide; Record-Route) and carries it out; `write` renders requests and
//! responses; `response` sends a response where its branch says. Beside
//! them: `register` (registrations), `contact` (masquerading),
//! `calls` (SDP bodies), `answer` (sipnat's own answers), `park`
//! (waiting for DNS).
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
//!   (§16.4, loose routing). A request that names sipnat in its
//!   Record-Route already (a call that loops back through it) gets an entry
//!   marked with the side it came from (`snin`), and a response rewrites
//!   only the entry of its own pass: the other is reached from the other
//!   side.
//! * **Max-Forwards** decremented, or set to 70 (§16.6 step 3); 0 gets 483
//!   (§16.3 step 3). Loops get 482 (§16.3 step 4). Proxy-Require gets 420
//!   with Unsupported (§16.3 step 5): sipnat supports no proxy extensions.
//! * **No LAN address leaves the router.** Contacts are masqueraded to the
//!   public address with a keyed, authenticated token of the phone's address
//!   (`;snc=<token>`, [`keyed`]), and so is a phone's URI as the
//!   Request-URI of a request going out (in a call that loops back); every
//!   other LAN address in the headers is
//!   replaced by a reversible token ([`mask`]); both are restored on the way
//!   back. A token opens only if sipnat made it, never to loopback or the
//!   router, and outside a dialog only to a live registration's contact.
//! * **Transports** are data (RFC 3261 §18): a request goes to its next hop
//!   over the transport the hop's URI names (`transport=`, else UDP), and
//!   over TCP when it is larger than 1,300 bytes and the hop takes TCP
//!   (§18.1.1: a WAN hop, or a phone that registered over TCP); a phone
//!   that registered over TCP gets its requests over that connection;
//!   responses go back over the connection the request came on (§18.2.2).
//!   sipnat's Via, its Record-Route per side and a masqueraded Contact name
//!   the transport of the side they are shown to.
//! * **DNS** is asked without blocking ([`crate::dns`]): a request whose next
//!   hop is not yet resolved is parked (bounded) and processed again when the
//!   answer comes.
//!
//! * **Media.** SDP offers and answers are rewritten so both ends send RTP
//!   to the relay ([`media`], [`crate::sdp`], [`crate::relay`]).
//!
//! What it does not do (yet): TLS, IPv6, authentication, and it never answers as a user agent except as a
//! registrar, to OPTIONS addressed to itself, and with error responses.
//!
//! Capacity: every table is fixed ([`crate::limits`]); a request that needs
//! a new entry in a full table gets 503 with Retry-After, and nothing already
//! there is evicted.

pub mod blacklist;
pub mod branch;
pub mod keyed;
pub mod mask;
pub mod media;
pub mod ratelimit;
pub mod registry;

mod answer;
mod auth;
mod calls;
mod contact;
mod dialplan;
mod forward;
mod inbound;
mod park;
mod register;
mod request;
mod response;
mod rewrite;
mod stun;
mod write;

use answer::*;
use forward::*;
use inbound::Request;
use rewrite::*;
use write::*;

pub use crate::output::{Buf, Channel, Outbox, Transmit};

use crate::config::{Access, Acl, Config};
use crate::dns::{Lookup, QueryHandle, Resolver, Watch};
use crate::limits::{
    MAX_LOCAL_EXPIRES, MAX_PARKED, MAX_PARKED_WAN, MAX_SIP_MESSAGE, MAX_STORED_URI,
};
use crate::net::{Addr, Family, Net, SourceKey};
use crate::relay::Relay;
use crate::sip::{
    ContactValue, Header, HeaderName, Host, Message, Method, NameAddr, StartLine, Uri, Via,
    param_get, split_comma, unfold_headers,
};
use crate::stats::Stats;
use crate::transport::Transport;
use keyed::Key;
use media::{Author, Media, MediaError};
use registry::{Registry, UriString, aor_key};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
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
    pub addr: Addr,
    pub side: Side,
    pub transport: Transport,
}

impl Peer {
    /// The unit the per-source quotas count it in: its IPv4 address, or
    /// its IPv6 /64 ([`SourceKey`]).
    pub fn source(&self) -> SourceKey {
        SourceKey::of(self.addr.ip())
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {})",
            self.addr,
            self.side.as_str(),
            self.transport.param()
        )
    }
}

/// The router's addresses as the kernel reports them (the driver re-reads
/// them, so a new PPPoE address is followed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    /// Networks of the LAN interface; the address of the first IPv4 one is
    /// sipnat's LAN address ([`Addresses::lan_v4`]). IPv4 only until the
    /// driver reads IPv6 addresses (issue 14).
    pub lan: heapless::Vec<Net, 8>,
    /// Address of the WAN interface.
    pub wan: Option<Ipv4Addr>,
    /// The WAN interface's global IPv6 address (none until the driver
    /// reads IPv6 addresses, issue 14).
    pub wan6: Option<Ipv6Addr>,
}

impl Addresses {
    /// sipnat's IPv4 address on the LAN: the first IPv4 network's.
    pub fn lan_v4(&self) -> Option<Ipv4Addr> {
        self.lan.iter().find_map(|n| match n {
            Net::V4(n) => Some(n.addr),
            Net::V6(_) => None,
        })
    }
}

/// The address of a network as it was written (the router's own address
/// in it, for the networks of an interface).
fn net_ip(n: &Net) -> IpAddr {
    match n {
        Net::V4(n) => IpAddr::V4(n.addr),
        Net::V6(n) => IpAddr::V6(n.addr),
    }
}

/// Does access list `acl` name `ip`? An entry matches senders of its own
/// family.
fn acl_has(acl: &Acl, ip: IpAddr) -> bool {
    acl.contains(ip)
}

/// `host_outbound` when it is an IPv6 literal (the configuration keeps it
/// bare); `None` without the `ipv6` feature.
fn literal6(cfg: &Config) -> Option<Ipv6Addr> {
    let h = cfg
        .host_outbound
        .as_deref()
        .filter(|_| cfg!(feature = "ipv6"))?;
    h.parse().ok()
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
    Phone { to: Peer, ruri: UriString },
    /// To the next hop; the Request-URI is kept.
    Hop,
}

/// A datagram waiting for DNS (its bytes: [`Proxy::parked_data`]).
struct Parked {
    used: bool,
    pass: u32,
    from: Peer,
    since: Instant,
    len: usize,
}

pub struct Proxy {
    cfg: Config,
    addrs: Addresses,
    /// `host_outbound` when it is an address literal or has been resolved,
    /// else what the STUN server said ([`stun`]).
    public: Option<Ipv4Addr>,
    /// `host_outbound` when it is an IPv6 literal.
    public6: Option<Ipv6Addr>,
    /// IPv6 literals masked non-canonically since the core last counted
    /// them ([`write`]'s `put_text`).
    pub(crate) noncanonical: std::cell::Cell<u64>,
    stun: stun::Stun,
    key: Key,
    regs: Box<Registry>,
    parked: [Parked; MAX_PARKED],
    /// The bytes of parked datagram `i`: `MAX_SIP_MESSAGE` from
    /// `i * MAX_SIP_MESSAGE`. Allocated zeroed (64 KiB of the kernel's
    /// untouched pages), resident only as far as requests have been parked.
    parked_data: Box<[u8]>,
    pass: u32,
    /// When the request being retried from the parking area was first
    /// parked: parking it again keeps that time, so it cannot wait forever.
    retrying_since: Option<Instant>,
    next_tick: Instant,
    dirty: bool,
    /// Calls with relayed media; `None` when `rtp_proxy_enable = 0`.
    media: Option<Media>,
    /// New calls per WAN source ([`ratelimit`]).
    invites: ratelimit::InviteLimiter,
    /// Proxy authentication (`proxy_auth_realm`), [`auth`]. Boxed: its
    /// password table and nonce counts (about 16 KB) cost nothing when
    /// authentication is off, and are never copied with the proxy.
    auth: Option<Box<auth::AuthState>>,
    /// siproxd's `plugin_blacklist`, [`blacklist`].
    blacklist: Option<blacklist::Blacklist>,
    /// Where the regex, regex_body and siptrunk plugins' patterns match
    /// ([`rewrite`]): empty until one runs, then the size of the largest.
    regex: crate::regex::Scratch,
    /// Where a message's body is rewritten on its way (its SDP, its
    /// regex_body rules): two of [`MAX_SIP_MESSAGE`], [`Sip::with_bodies`].
    /// Allocated zeroed, so resident only once a body has been rewritten;
    /// on the stack they would be probed, and so resident, with every
    /// message handled.
    bodies: Box<[u8]>,
}

/// The buffers of [`Proxy::bodies`], zeroed.
fn new_bodies() -> Box<[u8]> {
    vec![0; 2 * MAX_SIP_MESSAGE].into_boxed_slice()
}

/// The two body buffers of [`Sip::with_bodies`]: where an SDP is
/// rewritten, and where the regex_body rules write.
pub(super) struct Bodies<'a> {
    pub sdp: &'a mut [u8],
    pub regex: &'a mut [u8],
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

/// The proxy at work on one input: the [`Proxy`] and the parts of the
/// [`crate::core::Core`] beside it that handling a message needs (the relay,
/// the resolver, the counters). It dereferences to the Proxy, so a handler
/// reads the proxy's own state as `self.cfg`, `self.regs`, … and the parts
/// beside it as `self.relay`, `self.dns`, `self.stats`.
pub(crate) struct Sip<'a> {
    pub(crate) p: &'a mut Proxy,
    pub(crate) relay: &'a mut Relay,
    pub(crate) dns: &'a mut Resolver,
    pub(crate) stats: &'a mut Stats,
    /// What the access lists' host names resolve to ([`Sip::access`]).
    pub(crate) acl_names: &'a Watch,
}

impl Sip<'_> {
    /// Run `f` with the proxy's body buffers ([`Proxy::bodies`]), taken
    /// out of it meanwhile; should `f` come back here (it does not), it
    /// gets buffers of its own.
    pub(super) fn with_bodies<R>(&mut self, f: impl FnOnce(&mut Self, Bodies<'_>) -> R) -> R {
        let mut mem = std::mem::take(&mut self.p.bodies);
        if mem.len() < 2 * MAX_SIP_MESSAGE {
            mem = new_bodies();
        }
        let (sdp, regex) = mem.split_at_mut(MAX_SIP_MESSAGE);
        let r = f(self, Bodies { sdp, regex });
        self.p.bodies = mem;
        r
    }
}

impl std::ops::Deref for Sip<'_> {
    type Target = Proxy;
    fn deref(&self) -> &Proxy {
        self.p
    }
}

impl std::ops::DerefMut for Sip<'_> {
    fn deref_mut(&mut self) -> &mut Proxy {
        self.p
    }
}

impl Proxy {
    /// A proxy for `cfg`. `key` is the installation's secret (saved with the
    /// registrations).
    pub fn new(cfg: Config, addrs: Addresses, key: [u8; 16], now: Instant) -> Proxy {
        let public = cfg
            .host_outbound
            .as_deref()
            .and_then(|h| h.parse::<Ipv4Addr>().ok());
        let public6 = literal6(&cfg);
        let media = cfg.rtp_proxy_enable.then(|| {
            let mut m = Media::new();
            m.configure(&cfg);
            m
        });
        let parked = std::array::from_fn(|_| Parked {
            used: false,
            pass: 0,
            from: Peer {
                addr: Addr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
                side: Side::Lan,
                transport: Transport::Udp,
            },
            since: now,
            len: 0,
        });
        let mut p = Proxy {
            cfg,
            addrs,
            public,
            public6,
            noncanonical: std::cell::Cell::new(0),
            stun: stun::Stun::default(),
            key: Key::new(key),
            regs: Box::default(),
            parked,
            parked_data: vec![0; MAX_PARKED * MAX_SIP_MESSAGE].into_boxed_slice(),
            bodies: new_bodies(),
            pass: 0,
            retrying_since: None,
            next_tick: now + TICK,
            dirty: false,
            media,
            invites: ratelimit::InviteLimiter::new(),
            auth: None,
            blacklist: None,
            regex: crate::regex::Scratch::new(),
        };
        p.configure_auth(now);
        p
    }

    /// New interface addresses; true when they changed.
    pub fn set_addresses(&mut self, addrs: Addresses) -> bool {
        if addrs == self.addrs {
            return false;
        }
        let lan: Vec<String> = addrs.lan.iter().map(ToString::to_string).collect();
        let wan = addrs.wan.map_or_else(|| "-".to_string(), |a| a.to_string());
        log::info!("addresses now LAN {} WAN {wan}", lan.join(" "));
        self.addrs = addrs;
        true
    }

    /// The router's own addresses on the WAN side (the interface's and
    /// `host_outbound`'s, and the interface's IPv6 one).
    pub fn own_wan_addresses(&self) -> heapless::Vec<IpAddr, 4> {
        // At most four: the four sources below.
        [
            self.addrs.wan.map(IpAddr::V4),
            self.public.map(IpAddr::V4),
            self.addrs.wan6.map(IpAddr::V6),
            self.public6.map(IpAddr::V6),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Swap in a new, checked configuration (SIGHUP). Registrations,
    /// transactions and calls in progress are kept.
    pub fn reconfigure(&mut self, now: Instant, cfg: Config) {
        let literal = cfg
            .host_outbound
            .as_deref()
            .and_then(|h| h.parse::<Ipv4Addr>().ok());
        // With the stun plugin, the address it learned serves until the
        // server, asked again at once, says otherwise.
        let learned = self
            .public
            .filter(|_| cfg.stun && cfg.host_outbound.is_none());
        self.public = literal.or(learned);
        self.public6 = literal6(&cfg);
        self.stun = stun::Stun::default();
        // Relaying turned on: calls from now on are relayed. Turned off:
        // the calls in progress keep their streams to the end; new ones are
        // not relayed (`calls.rs`).
        if cfg.rtp_proxy_enable && self.media.is_none() {
            self.media = Some(Media::new());
        }
        if let Some(m) = self.media.as_mut() {
            m.configure(&cfg);
        }
        self.cfg = cfg;
        self.configure_auth(now);
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// When the proxy's own timers (expiry of registrations, calls and
    /// parked requests) want [`crate::core::Core::handle_timeout`] next.
    pub fn next_tick(&self) -> Instant {
        self.next_tick
    }

    pub fn registrations(&self) -> &Registry {
        &self.regs
    }

    /// The calls with relayed media (`None` when `rtp_proxy_enable = 0`).
    pub fn media(&self) -> Option<&Media> {
        self.media.as_ref()
    }

    pub fn key_bytes(&self) -> [u8; 16] {
        self.key.to_bytes()
    }

    pub fn addresses(&self) -> &Addresses {
        &self.addrs
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

    pub(crate) fn read_registrations(
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

    fn is_lan(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.addrs.lan.iter().any(|n| n.contains(ip))
    }

    fn side_of(&self, ip: IpAddr) -> Side {
        if self.is_lan(ip) {
            Side::Lan
        } else {
            Side::Wan
        }
    }

    /// sipnat's LAN address of `family`: the first IPv4 network's address;
    /// for IPv6 the first unique local one (RFC 4193: it survives the
    /// renumbering of a delegated prefix, which phones would otherwise
    /// have to follow), else the first other. Toward a phone in one of the
    /// LAN's IPv6 networks sipnat names its address of that network
    /// instead ([`Proxy::lan_ip_for`]).
    fn lan_ip(&self, family: Family) -> Option<IpAddr> {
        let v6 = |ula: bool| {
            self.addrs.lan.iter().find_map(|n| match n {
                Net::V6(n) if (n.addr.segments()[0] & 0xfe00 == 0xfc00) == ula => {
                    Some(IpAddr::V6(n.addr))
                }
                _ => None,
            })
        };
        match family {
            Family::V4 => self.addrs.lan_v4().map(IpAddr::V4),
            Family::V6 => v6(true).or_else(|| v6(false)),
        }
    }

    /// sipnat's LAN address toward a peer at `peer`: for IPv6 its address
    /// in the LAN network `peer` is in, else [`Proxy::lan_ip`]. A LAN with
    /// a delegated prefix and a ULA gives every host an address of each,
    /// and a host picks its source by the destination (RFC 6724 §5, rule 8:
    /// the longest matching prefix): a phone that signals and describes
    /// its media from its GUA, told to send its RTP to sipnat's ULA, sends
    /// it from its own ULA, which no signalling names (the relay drops it).
    /// The address of the phone's own network is also the one the kernel
    /// sends from toward it.
    fn lan_ip_for(&self, peer: IpAddr) -> Option<IpAddr> {
        let own_net = self.addrs.lan.iter().find_map(|n| match n {
            Net::V6(_) if n.contains(peer) => Some(net_ip(n)),
            _ => None,
        });
        own_net.or_else(|| self.lan_ip(Family::of(peer)))
    }

    /// sipnat's WAN address of `family`: `host_outbound` (resolved), else
    /// what the STUN server said (IPv4), else the WAN interface's.
    fn public_of(&self, family: Family) -> Option<IpAddr> {
        match family {
            Family::V4 => self.public.or(self.addrs.wan).map(IpAddr::V4),
            Family::V6 => self.public6.or(self.addrs.wan6).map(IpAddr::V6),
        }
    }

    fn public_ip(&self) -> Option<IpAddr> {
        self.public_of(Family::V4)
    }

    /// The address sipnat names on the WAN side: `host_outbound` (resolved),
    /// else what the STUN server said, else the WAN interface's.
    pub fn public_address(&self) -> Option<IpAddr> {
        self.public_ip()
    }

    /// sipnat's IPv6 address on the WAN side, when it has one.
    pub fn public_address6(&self) -> Option<IpAddr> {
        self.public_of(Family::V6)
    }

    /// sipnat's address of `family` as seen from `side`: what it names
    /// in Via, Record-Route, Contact and SDP toward that side. A hop of a
    /// family sipnat has no address of cannot be served (503).
    fn our_ip(&self, side: Side, family: Family) -> Option<IpAddr> {
        match side {
            Side::Lan => self.lan_ip(family),
            Side::Wan => self.public_of(family),
        }
    }

    /// [`Proxy::our_ip`] toward a peer at `peer` (of `peer`'s family): on
    /// the LAN [`Proxy::lan_ip_for`].
    fn our_ip_for(&self, side: Side, peer: IpAddr) -> Option<IpAddr> {
        match side {
            Side::Lan => self.lan_ip_for(peer),
            Side::Wan => self.public_of(Family::of(peer)),
        }
    }

    fn is_our_ip(&self, ip: IpAddr) -> bool {
        ip.is_loopback()
            || self.addrs.lan.iter().any(|n| net_ip(n) == ip)
            || self.own_wan_addresses().contains(&ip)
    }

    /// Does this host[:port] name sipnat?
    fn is_us(&self, host: &Host<'_>, port: Option<u16>) -> bool {
        if port.unwrap_or(5060) != self.cfg.sip_listen_port {
            return false;
        }
        match host {
            Host::Ipv4(ip) => self.is_our_ip(IpAddr::V4(*ip)),
            // RFC 5954 §4: IPv6 references compare as addresses.
            Host::Ipv6(ip) => self.is_our_ip(IpAddr::V6(*ip)),
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
}

impl Sip<'_> {
    /// What the access lists let `ip` do, with their host names as far as
    /// they have resolved ([`Config::access_with`]); an entry matches
    /// senders of its own family.
    pub(crate) fn access(&self, ip: IpAddr) -> Access {
        self.cfg.access_with(ip, self.acl_names)
    }

    /// Tell the relay the LAN networks and the router's own addresses (its
    /// rules 0 and 7: never send WAN media to them, never latch them from
    /// the WAN).
    pub(crate) fn sync_relay_local(&mut self) {
        let own = self.p.own_wan_addresses();
        let lan = self.p.addrs.lan.clone();
        self.relay.set_local(&lan, &own);
    }

    /// Feed a datagram received on the SIP socket, from `from`, that arrived
    /// on `side` (its arrival interface: [`crate::side`]). `data` is modified
    /// in place (header unfolding).
    pub(crate) fn handle_sip(
        &mut self,
        now: Instant,
        from: SocketAddr,
        side: Side,
        transport: Transport,
        data: &mut [u8],
        out: &mut Outbox,
    ) {
        self.stats.bump("sip", "rx");
        // A mapped IPv4 address is IPv4 (`Addr::from_std`); the driver
        // drops link-local sources (no scope in the core). Without the
        // `ipv6` feature IPv6 is refused.
        let Some(addr) =
            Addr::from_std(from).filter(|a| cfg!(feature = "ipv6") || a.family() == Family::V4)
        else {
            self.stats.bump("drop", "ipv6");
            return;
        };
        let src = Peer {
            addr,
            side,
            transport,
        };
        // A datagram that arrived on the WAN with a source address of the
        // LAN, of loopback or of the router itself is forged (a router with
        // rp_filter 0 or 2 lets it in): anything sent back would reach the
        // LAN or the router. Dropped, counted, not answered.
        if side == Side::Wan && (self.is_lan(addr.ip()) || self.is_our_ip(addr.ip())) {
            self.stats.bump("drop", "wan-forged-source");
            return;
        }
        if data.len() > MAX_SIP_MESSAGE {
            self.stats.bump("drop", "too-large");
            return;
        }
        // The STUN server's answer (RFC 7983 §7 tells it from SIP).
        if stun::is_stun(data) {
            return self.on_stun(now, src, data, out);
        }
        // RFC 5626 §4.4.1 CRLF keep-alives and the NUL/blank pings phones send.
        if data.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | 0)) {
            self.stats.bump("sip", "keepalive");
            return;
        }
        if !self.access(src.addr.ip()).sip {
            self.stats.bump("drop", "acl");
            return;
        }
        unfold_headers(data);
        self.process(now, src, data, out);
        self.flush_dns(now, out);
    }

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

    /// Timers: DNS retransmissions, expiry of registrations, transactions
    /// and parked requests, re-resolving `host_outbound`.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Outbox) {
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
            if let Some(m) = self.p.media.as_mut() {
                let n = m.tick(self.relay, now);
                if n > 0 {
                    self.stats.add("media", "call-timeout", n as u64);
                }
            }
            for p in self.p.parked.iter_mut() {
                if p.used && now.duration_since(p.since) > PARK_LIMIT {
                    p.used = false;
                    self.stats.bump("drop", "dns-too-slow");
                }
            }
            self.refresh_public(now);
            self.stun_tick(now, out);
        }
        self.flush_dns(now, out);
    }

    /// Feed a datagram received on the socket of DNS query `query`.
    pub(crate) fn handle_dns(
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

    /// The driver could not open a socket for `query`: that lookup fails,
    /// and the work parked on it is answered.
    pub(crate) fn dns_socket_failed(&mut self, now: Instant, query: QueryHandle, out: &mut Outbox) {
        if self.dns.socket_failed(now, query) {
            self.stats.bump("dns", "socket-failed");
            self.retry_parked(now, out);
        }
        self.flush_dns(now, out);
    }
}

/// The value of a `;name=value` parameter in a raw parameter list.
pub fn param_value<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    param_get(params, name).flatten()
}
