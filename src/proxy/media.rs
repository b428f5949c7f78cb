//! Calls with relayed media: which relay streams belong to which call, and
//! the SDP rewriting that points both ends at the relay (RFC 3264 offer /
//! answer, RFC 4566).
//!
//! A call is keyed by a keyed hash of its Call-ID and its caller's From
//! tag in the WAN form (LAN addresses masked), and of the side its caller
//! is on (`Proxy::call_key`), so a message finds its call whichever side it
//! comes from, and the two passes of a call that loops back through sipnat
//! are two calls (`spiral.rs`). Leg A of each stream is the caller (the
//! From tag of the INVITE that created the call), leg B the callee; an SDP
//! body describes its author's leg: for a request the From tag, for a
//! response the To tag.
//!
//! Lifecycle: any SDP with a stream to relay of a call not yet known creates
//! it (an INVITE offer, or a late offer in a 2xx); the call's *origin* is the
//! side and source of the request that created the dialog (for a request, its
//! source; for a response, where it goes). Each `m=` line gets a relay
//! stream, allocated once and kept across re-INVITEs and UPDATEs; an `m=`
//! line with port 0 gives its stream back (RFC 3264 §8.2). BYE and CANCEL
//! free the call at once; a final error answer to an INVITE frees it unless
//! the call was established (a failed re-INVITE keeps the call). Streams
//! silent for `rtp_timeout` are freed by the relay, except on hold, where the
//! call lives as long as its dialog shows SIP activity within
//! [`HOLD_LIMIT`].
//!
//! # Limits (issue 9: the WAN must not be able to take every relay port)
//! - **Per call**: at most [`MAX_STREAMS_PER_CALL`] streams; further `m=`
//!   lines are rejected in the rewritten SDP (port 0, RFC 3264 §6) instead
//!   of relayed.
//! - **A share kept for the LAN**: calls that came from the WAN may never
//!   hold more than the pool less `max(LAN_RESERVE_MIN, pool /
//!   LAN_RESERVE_DIVISOR)` streams ([`lan_reserve`]), so a phone can always
//!   call out, whatever the WAN does. With siproxd's default 10 streams: WAN
//!   calls share 8, 2 stay for the LAN.
//! - **Per WAN source**: the calls one WAN source originated hold at most
//!   [`wan_source_cap`] streams together (4 with the default pool), so one
//!   host cannot take the whole WAN share.
//! - **Unanswered WAN calls** are freed on short timers, not `rtp_timeout`:
//!   when the phone sent no provisional response (101–199) within
//!   [`NO_ANSWER`] (RFC 3261 Timer B, 64·T1: nobody is there), or when it
//!   rang but sent nothing for [`RINGING_LIMIT`] since its last provisional
//!   (Timer C, "greater than 3 minutes", RFC 3261 §16.6 step 11, reset by
//!   each provisional, §16.7 step 2): a ringing phone keeps its call that
//!   long. The call stays as a *tombstone* without streams until its final
//!   answer, BYE or CANCEL: an answer that comes after all is refused
//!   cleanly ([`MediaError::Expired`]; the proxy drops the response and the
//!   phone, getting no ACK, hangs up with BYE, RFC 3261 §13.3.1.4) instead
//!   of being taken for a new call.
//! - **Calls the LAN originated** are freed after [`NO_ANSWER`] only when
//!   no response at all came (the phone's own Timer B has ended the
//!   transaction by then: a provider that drops INVITEs cannot fill the
//!   call table for `rtp_timeout`); once any response came they are never
//!   timed this way: a hotline may play early media for many minutes.
//!
//! A stream refused by a limit is rejected in the SDP (port 0); a new call
//! that gets no stream at all is refused (503 for a request offer). Every
//! refusal is counted ([`Limit`], [`Media::counts`]). An `m=` line sipnat
//! rejected in one leg's SDP stays rejected in every SDP of the other leg
//! until the first leg's next SDP (an offer rejected toward the phone stays
//! rejected in its answer, whatever the phone says). No existing call loses
//! anything to make room (DESIGN.md rule 6); only tombstones are evicted
//! when the call table is full.
//!
//! Address families (issue 14) are `family.rs`'s: which streams of an SDP
//! sipnat can relay, and the rule for media it does not relay.

use crate::limits::{
    LAN_RESERVE_DIVISOR, LAN_RESERVE_MIN, MAX_CALLS, MAX_STREAMS_PER_CALL, MAX_TAG,
    WAN_SOURCE_DIVISOR, WAN_SOURCE_MIN,
};
use crate::net::{Addr, SourceKey};
use crate::output::Buf;
use crate::relay::{Leg, LegSetup, Payload, Relay, StreamId};
use crate::sdp::{MAX_MEDIA, Port, Rewrite, Sdp, SdpError};
pub use family::crosses_families;
use std::net::IpAddr;
use std::time::{Duration, Instant};
pub use view::{CallState, CallView};
use view::{StatusUri, status_uri};

mod family;
mod logcall;
mod spiral;
mod view;

/// A call on hold survives without RTP as long as SIP shows its dialog is
/// alive at least this often (re-INVITE, UPDATE, OPTIONS, session refresh).
pub const HOLD_LIMIT: Duration = Duration::from_secs(2 * 3600);

/// A WAN call the phone has not answered with any provisional response is
/// freed after this long: RFC 3261 Timer B, 64·T1 = 32 s (§17.1.1.2).
pub const NO_ANSWER: Duration = Duration::from_secs(32);

/// A WAN call that rings is freed this long after the phone's last
/// provisional response: Timer C, which RFC 3261 §16.6 step 11 wants
/// "greater than 3 minutes".
pub const RINGING_LIMIT: Duration = Duration::from_secs(181);

/// Streams kept for LAN-originated calls in a pool of `capacity` streams.
pub fn lan_reserve(capacity: usize) -> usize {
    (capacity / LAN_RESERVE_DIVISOR)
        .max(LAN_RESERVE_MIN)
        .min(capacity)
}

/// Streams the calls of one WAN source may hold in a pool of `capacity`.
pub fn wan_source_cap(capacity: usize) -> usize {
    let share = capacity - lan_reserve(capacity);
    (share / WAN_SOURCE_DIVISOR).max(WAN_SOURCE_MIN)
}

/// The side and source of the request that created a call's dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub wan: bool,
    /// Its source host, as the per-source cap counts it: the IPv4 address,
    /// or the /64 of an IPv6 one ([`SourceKey`]).
    pub ip: SourceKey,
}

struct Call {
    key: u64,
    /// [`Author::call_id`] of the message that created it (32 bits of the
    /// keyed hash: the call costs no more, and a match only proposes a
    /// stream that the rules of `spiral.rs` still check).
    call_id: u32,
    caller_tag: heapless::String<MAX_TAG>,
    /// From and To URIs of the request that created the call (the start of
    /// them when longer), for `sipnat status`.
    from: StatusUri,
    to: StatusUri,
    streams: [Option<StreamId>; MAX_MEDIA],
    /// Streams (bit i = index i) this call shares with the other pass of
    /// a call that loops back through sipnat, which owns them (`spiral.rs`):
    /// not counted, nor freed, here.
    joined: u8,
    /// `m=` lines (bit i = index i) sipnat rejected in the latest SDP of
    /// leg A and of leg B.
    rejected: [u8; 2],
    origin: Origin,
    created: Instant,
    /// When the first 2xx came: the call is established (its duration
    /// counts from here).
    answered: Option<Instant>,
    /// When the callee last sent a provisional response (101–199).
    ringing: Option<Instant>,
    /// Any response (100 included) came back for the INVITE.
    heard: bool,
    /// Freed by an unanswered-call timer: a tombstone, since then.
    expired: Option<Instant>,
    /// The latest SDP of each leg (A, B) puts its side on hold. The call is
    /// on hold while either is: the answer to a `sendonly` offer is a
    /// `recvonly` that does not undo it (RFC 3264 §8.4).
    hold: [bool; 2],
    last_sip: Instant,
}

impl Call {
    /// The streams this call holds itself (not those it shares with the
    /// other pass of a looping call).
    fn own_streams(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.streams
            .iter()
            .enumerate()
            .filter(|(i, _)| self.joined & (1 << i) == 0)
            .filter_map(|(_, s)| *s)
    }

    /// The stream of `m=` line `i` leaves this call: freed when the call
    /// holds it, only forgotten when it shares it with the other pass of a
    /// looping call (that pass frees it).
    fn release(&mut self, relay: &mut Relay, i: usize) {
        let bit = 1u8 << i;
        if let Some(id) = self.streams.get_mut(i).and_then(Option::take) {
            if self.joined & bit == 0 {
                relay.free(id);
            }
        }
        self.joined &= !bit;
    }
}

/// Why a body could not be relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaError {
    /// The SDP does not parse or cannot be rewritten (multicast, a family
    /// sipnat has no address of, …).
    Sdp(SdpError),
    /// No room for a new call or its streams.
    Full,
    /// The call's streams were freed because it went unanswered; an answer
    /// now is refused.
    Expired,
}

impl MediaError {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaError::Sdp(e) => e.as_str(),
            MediaError::Full => "full",
            MediaError::Expired => "expired",
        }
    }
}

/// Refusals and timeouts of the limits (module doc), counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// An `m=` line beyond [`MAX_STREAMS_PER_CALL`] was rejected.
    CallCap,
    /// A stream was refused: the relay carries its capacity of streams, or
    /// no port pair could be bound ([`crate::relay`]'s pool).
    Pool,
    /// A WAN call's stream was refused: only the LAN's share was left.
    LanReserve,
    /// A WAN call's stream was refused: its source holds its share.
    SourceCap,
    /// A new call was refused: the call table is full.
    CallTable,
    /// An unanswered call was freed after [`NO_ANSWER`].
    NoAnswer,
    /// A ringing WAN call was freed after [`RINGING_LIMIT`].
    RingingTimeout,
    /// An answer (or offer) came for a call freed by those timers.
    LateAnswer,
}

impl Limit {
    pub const ALL: [Limit; 8] = [
        Limit::CallCap,
        Limit::Pool,
        Limit::LanReserve,
        Limit::SourceCap,
        Limit::CallTable,
        Limit::NoAnswer,
        Limit::RingingTimeout,
        Limit::LateAnswer,
    ];

    /// Name for `sipnat status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::CallCap => "call-stream-cap",
            Limit::Pool => "pool-full",
            Limit::LanReserve => "lan-reserve",
            Limit::SourceCap => "wan-source-cap",
            Limit::CallTable => "call-table-full",
            Limit::NoAnswer => "unanswered-no-response",
            Limit::RingingTimeout => "unanswered-ringing",
            Limit::LateAnswer => "answer-after-timeout",
        }
    }

    fn index(self) -> usize {
        match self {
            Limit::CallCap => 0,
            Limit::Pool => 1,
            Limit::LanReserve => 2,
            Limit::SourceCap => 3,
            Limit::CallTable => 4,
            Limit::NoAnswer => 5,
            Limit::RingingTimeout => 6,
            Limit::LateAnswer => 7,
        }
    }
}

/// Who wrote an SDP body, and from where.
pub struct Author<'a> {
    /// From tag (request) or To tag (response) of the message.
    pub tag: &'a str,
    /// From tag of the message: the caller's tag when it creates the call.
    pub from_tag: &'a str,
    /// From and To URIs of the message (the caller's and the callee's: a
    /// response carries its request's), kept for `sipnat status`.
    pub from_uri: &'a str,
    pub to_uri: &'a str,
    pub is_request: bool,
    /// Source address of the SIP message (the author's signalling IP).
    pub signalling_ip: IpAddr,
    /// The author is on the WAN side.
    pub wan: bool,
    /// A keyed hash of the Call-ID alone: both passes of a call that loops
    /// back through sipnat have it (`spiral.rs`).
    pub call_id: u64,
    /// sipnat's own address on the author's side in each family (IPv4,
    /// IPv6), `None` where it has none: the relay's leg of the author is
    /// reached there. For a WAN author these are sipnat's public addresses,
    /// which its SDPs toward the WAN name (`spiral.rs`).
    pub ours: [Option<IpAddr>; 2],
    /// Where the request that created the dialog came from: for a request
    /// its source, for a response where it goes (used when it creates a
    /// call).
    pub origin: Origin,
}

pub struct Media {
    calls: Box<heapless::Vec<Call, MAX_CALLS>>,
    counts: [u64; Limit::ALL.len()],
    /// siproxd's logcall plugin: a log line as each call starts and ends.
    log_calls: bool,
    /// siproxd's codecfilter plugin: codec names taken out of every SDP.
    drop_codecs: Vec<String>,
}

impl Default for Media {
    fn default() -> Self {
        Media::new()
    }
}

impl Media {
    pub fn new() -> Media {
        Media {
            calls: Box::default(),
            counts: [0; Limit::ALL.len()],
            log_calls: false,
            drop_codecs: Vec::new(),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// How often each limit refused or timed something out.
    pub fn counts(&self) -> impl Iterator<Item = (Limit, u64)> + '_ {
        Limit::ALL.iter().map(|l| (*l, self.counts[l.index()]))
    }

    /// One limit's count.
    pub fn count(&self, l: Limit) -> u64 {
        self.counts[l.index()]
    }

    fn bump(&mut self, l: Limit) {
        self.counts[l.index()] += 1;
    }

    fn find(&self, key: u64) -> Option<usize> {
        self.calls.iter().position(|c| c.key == key)
    }

    /// Does the table hold the call (live, or a tombstone)?
    pub fn has_call(&self, key: u64) -> bool {
        self.find(key).is_some()
    }

    /// Was the call freed by an unanswered-call timer (a tombstone)?
    pub fn is_expired(&self, key: u64) -> bool {
        self.find(key)
            .is_some_and(|i| self.calls[i].expired.is_some())
    }

    /// Live relay streams call `c` holds (not those it shares with the
    /// other pass of a looping call, which that pass holds).
    fn live_streams(relay: &Relay, c: &Call) -> usize {
        c.own_streams()
            .filter(|id| relay.port_of(*id).is_some())
            .count()
    }

    /// May call `i` take one more stream (module doc, "Limits")?
    fn admit(&self, relay: &Relay, i: usize) -> Result<(), Limit> {
        let c = &self.calls[i];
        if Self::live_streams(relay, c) >= MAX_STREAMS_PER_CALL {
            return Err(Limit::CallCap);
        }
        if !c.origin.wan {
            return Ok(());
        }
        let capacity = relay.capacity();
        let share = capacity - lan_reserve(capacity);
        let (mut wan, mut source) = (0, 0);
        for o in self.calls.iter().filter(|o| o.origin.wan) {
            let n = Self::live_streams(relay, o);
            wan += n;
            if o.origin.ip == c.origin.ip {
                source += n;
            }
        }
        if wan >= share {
            return Err(Limit::LanReserve);
        }
        if source >= wan_source_cap(capacity) {
            return Err(Limit::SourceCap);
        }
        Ok(())
    }

    /// A new call entry; when the table is full a tombstone makes room.
    fn create(&mut self, now: Instant, key: u64, author: &Author<'_>) -> Result<usize, MediaError> {
        if self.calls.is_full() {
            match self.calls.iter().position(|c| c.expired.is_some()) {
                Some(t) => {
                    self.calls.swap_remove(t);
                }
                None => {
                    self.bump(Limit::CallTable);
                    return Err(MediaError::Full);
                }
            }
        }
        let mut tag = heapless::String::new();
        // Cannot fail: short_tag() fits MAX_TAG.
        let _ = tag.push_str(short_tag(author.from_tag));
        self.calls
            .push(Call {
                key,
                // the low half of the keyed hash (module doc of `spiral`)
                call_id: author.call_id as u32,
                caller_tag: tag,
                from: status_uri(author.from_uri),
                to: status_uri(author.to_uri),
                streams: [None; MAX_MEDIA],
                joined: 0,
                rejected: [0; 2],
                origin: author.origin,
                created: now,
                answered: None,
                ringing: None,
                heard: false,
                expired: None,
                hold: [false; 2],
                last_sip: now,
            })
            .map_err(|_| MediaError::Full)?;
        let i = self.calls.len() - 1;
        if self.log_calls {
            self.calls[i].log_start();
        }
        Ok(i)
    }

    /// Rewrite `body` (an SDP) into `out` for the side whose relay address is
    /// `our_addr` (sipnat's address on the side the body goes to, in the
    /// family of where it goes), creating the call and its streams as needed
    /// (module doc). An SDP naming a stream sipnat cannot exchange media
    /// with on its author's side is refused ([`SdpError::Family`], `family.rs`)
    /// before anything is allocated.
    #[allow(clippy::too_many_arguments)]
    pub fn rewrite(
        &mut self,
        relay: &mut Relay,
        now: Instant,
        key: u64,
        author: &Author<'_>,
        body: &[u8],
        our_addr: IpAddr,
        out: &mut Buf<'_>,
    ) -> Result<(), MediaError> {
        let sdp = Sdp::parse(body).map_err(MediaError::Sdp)?;
        if !sdp.media.iter().all(|m| family::reachable(m, author)) {
            return Err(MediaError::Sdp(SdpError::Family));
        }
        let mut ports = [Port::Keep; MAX_MEDIA];
        let (idx, created) = match self.find(key) {
            Some(i) if self.calls[i].expired.is_some() => {
                self.bump(Limit::LateAnswer);
                return Err(MediaError::Expired);
            }
            Some(i) => (i, false),
            None if sdp.media.iter().all(|m| m.port == 0) => {
                // Nothing to relay: no call to keep, only the addresses to
                // rewrite (a LAN address must not leave).
                let rw = Rewrite {
                    drop_codecs: &self.drop_codecs,
                    addr: Some(our_addr),
                    ports: &ports[..sdp.media.len()],
                };
                return crate::sdp::rewrite(body, &sdp, &rw, out).map_err(MediaError::Sdp);
            }
            None => (self.create(now, key, author)?, true),
        };
        let leg = if self.calls[idx].caller_tag == short_tag(author.tag) {
            Leg::A
        } else {
            Leg::B
        };
        let forced = self.calls[idx].rejected[leg.other() as usize];
        let mut rejected = 0u8;
        let mut relayed = 0;
        for (i, m) in sdp.media.iter().enumerate() {
            let bit = 1u8 << i;
            if m.port == 0 {
                // RFC 3264 §8.2: the stream is gone; so is its relay pair.
                self.calls[idx].release(relay, i);
                continue;
            }
            if author.wan && author.ours.contains(&Some(m.addr)) {
                // sipnat's own public address: the other pass of a call
                // that loops back through sipnat names the relay port it
                // was given (`spiral.rs`); that pass's leg is this one.
                if let Some(id) = self.looped(relay, idx, i, leg, m.port) {
                    relay.touch(now, id);
                    ports[i] = Port::Relay(m.port);
                    relayed += 1;
                    continue;
                }
            }
            let live = self.calls[idx].streams[i].filter(|id| relay.port_of(*id).is_some());
            let id = match live {
                Some(id) => id,
                None if forced & bit != 0 => {
                    ports[i] = Port::Reject;
                    continue;
                }
                None => {
                    let got = self
                        .admit(relay, idx)
                        .and_then(|()| relay.allocate(now).map_err(|_| Limit::Pool));
                    match got {
                        Ok((id, _)) => {
                            self.calls[idx].streams[i] = Some(id);
                            self.calls[idx].joined &= !bit;
                            id
                        }
                        Err(l) => {
                            self.bump(l);
                            ports[i] = Port::Reject;
                            rejected |= bit;
                            continue;
                        }
                    }
                }
            };
            let rtcp = match m.rtcp {
                Some((p, a)) => Addr::new(a.unwrap_or(m.addr), p),
                None => Addr::new(m.addr, m.port.wrapping_add(1)),
            };
            let rtp = Addr::new(m.addr, m.port);
            let payload = if !m.is_rtp {
                Payload::Other
            } else if m.dtls {
                Payload::DtlsSrtp
            } else {
                Payload::Rtp
            };
            let setup = LegSetup {
                rtp,
                rtcp,
                signalling_ip: Some(author.signalling_ip),
                wan: author.wan,
                payload,
            };
            relay.set_leg(now, id, leg, &setup);
            relay.touch(now, id);
            ports[i] = relay.port_of(id).map_or(Port::Reject, Port::Relay);
            relayed += 1;
        }
        if created && relayed == 0 && author.is_request {
            // A new call that gets no stream at all is refused.
            self.drop_call(relay, now, idx, "refused: no relay port");
            return Err(MediaError::Full);
        }
        let c = &mut self.calls[idx];
        c.rejected[leg as usize] = rejected;
        c.hold[leg as usize] = sdp.is_hold();
        let hold = c.hold[0] || c.hold[1];
        c.last_sip = now;
        for id in c.streams.iter().flatten() {
            relay.set_hold(*id, hold);
        }
        let rw = Rewrite {
            drop_codecs: &self.drop_codecs,
            addr: Some(our_addr),
            ports: &ports[..sdp.media.len()],
        };
        crate::sdp::rewrite(body, &sdp, &rw, out).map_err(MediaError::Sdp)
    }

    /// Signalling activity on a call (keeps a held call alive).
    pub fn touch(&mut self, relay: &mut Relay, now: Instant, key: u64) {
        if let Some(i) = self.find(key) {
            self.calls[i].last_sip = now;
            for id in self.calls[i].streams.iter().flatten() {
                relay.touch(now, *id);
            }
        }
    }

    /// A provisional response (100–199) to an INVITE: someone is there
    /// (Timer B stops, RFC 3261 §17.1.1.2); from 101 the callee is ringing
    /// and Timer C restarts (§16.7 step 2).
    pub fn provisional(&mut self, now: Instant, key: u64, code: u16) {
        if let Some(i) = self.find(key) {
            let c = &mut self.calls[i];
            c.heard = true;
            if c.expired.is_none() && code > 100 {
                c.ringing = Some(now);
            }
        }
    }

    /// A 2xx to an INVITE: the call is established.
    pub fn established(&mut self, now: Instant, key: u64) {
        if let Some(i) = self.find(key) {
            self.calls[i].answered.get_or_insert(now);
        }
    }

    /// What the configuration asks of the calls: siproxd's logcall plugin
    /// (`load_plugin = plugin_logcall`) and codecfilter plugin (its
    /// `plugin_codecfilter_blacklist`).
    pub fn configure(&mut self, cfg: &crate::config::Config) {
        self.log_calls = cfg.logcall;
        self.drop_codecs = if cfg.codecfilter {
            cfg.codec_blacklist.clone()
        } else {
            Vec::new()
        };
    }

    /// BYE or CANCEL (`how`): the call ends now.
    pub fn end(&mut self, relay: &mut Relay, now: Instant, key: u64, how: &str) -> bool {
        match self.find(key) {
            Some(i) => {
                self.drop_call(relay, now, i, how);
                true
            }
            None => false,
        }
    }

    /// A final error answer (`code`) to an INVITE: ends a call that never
    /// got up.
    pub fn failed(&mut self, relay: &mut Relay, now: Instant, key: u64, code: u16) -> bool {
        match self.find(key) {
            Some(i) if self.calls[i].answered.is_none() => {
                let how = format!("failed {code}");
                self.drop_call(relay, now, i, &how);
                true
            }
            _ => false,
        }
    }

    fn drop_call(&mut self, relay: &mut Relay, now: Instant, i: usize, how: &str) {
        let mut c = self.calls.swap_remove(i);
        for s in 0..MAX_MEDIA {
            c.release(relay, s);
        }
        // A tombstone's end was logged when its timer freed it.
        if self.log_calls && c.expired.is_none() {
            c.log_end(now, how);
        }
    }

    /// Once a second: silent streams end (RFC 3550 has no end of stream;
    /// `rtp_timeout` decides), unanswered WAN calls give their streams back
    /// ([`NO_ANSWER`], [`RINGING_LIMIT`]), held calls end when their dialog
    /// has been silent for [`HOLD_LIMIT`]; calls left without streams are
    /// removed, tombstones after [`HOLD_LIMIT`]. Returns how many calls
    /// ended.
    pub fn tick(&mut self, relay: &mut Relay, now: Instant) -> usize {
        // Which streams the relay freed is derived from the relay itself (a
        // stale id has no port), so any number may expire in one tick.
        relay.expire(now, &mut |_| {});
        let mut ended = 0;
        let mut i = 0;
        while i < self.calls.len() {
            let c = &mut self.calls[i];
            for (n, s) in c.streams.iter_mut().enumerate() {
                if s.is_some_and(|id| relay.port_of(id).is_none()) {
                    *s = None;
                    c.joined &= !(1 << n);
                }
            }
            if c.answered.is_none() && c.expired.is_none() {
                // WAN calls: Timer B, then Timer C. LAN calls: Timer B only
                // (no response at all: the phone gives up by then too).
                let timer = match (c.origin.wan, c.ringing) {
                    (true, None) => (c.created.checked_add(NO_ANSWER), Limit::NoAnswer),
                    (true, Some(t)) => (t.checked_add(RINGING_LIMIT), Limit::RingingTimeout),
                    (false, _) if !c.heard => (c.created.checked_add(NO_ANSWER), Limit::NoAnswer),
                    (false, _) => (None, Limit::NoAnswer),
                };
                if let (Some(at), limit) = timer {
                    if now >= at {
                        for i in 0..MAX_MEDIA {
                            c.release(relay, i);
                        }
                        c.expired = Some(now);
                        self.counts[limit.index()] += 1;
                        log::debug!("media: unanswered call freed ({})", limit.as_str());
                        if self.log_calls {
                            c.log_end(now, limit.as_str());
                        }
                    }
                }
            }
            let empty = c.streams.iter().all(Option::is_none);
            let stale =
                (c.hold[0] || c.hold[1]) && now.saturating_duration_since(c.last_sip) > HOLD_LIMIT;
            // A call that has had streams and lost them all has ended; one
            // that never had any (a late offer pending) waits for its SDP,
            // but not forever; nor does a tombstone.
            let never = empty && now.saturating_duration_since(c.last_sip) > HOLD_LIMIT;
            let buried = c
                .expired
                .is_some_and(|t| now.saturating_duration_since(t) > HOLD_LIMIT);
            if (empty && c.answered.is_some()) || stale || never || buried {
                let how = if stale {
                    "on hold too long"
                } else if never {
                    "no media"
                } else {
                    "rtp timeout"
                };
                self.drop_call(relay, now, i, how);
                ended += 1;
            } else {
                i += 1;
            }
        }
        ended
    }
}

/// A tag as stored: longer tags are cut (at a character boundary) to
/// [`MAX_TAG`] bytes, and compared cut the same way.
fn short_tag(tag: &str) -> &str {
    if tag.len() <= MAX_TAG {
        return tag;
    }
    let mut end = MAX_TAG;
    while !tag.is_char_boundary(end) {
        end -= 1;
    }
    &tag[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_costs_what_limits_says() {
        // crate::limits::MAX_CALLS: "about 390 bytes each".
        let size = std::mem::size_of::<Call>();
        assert!(size <= 392, "{size}");
    }

    #[test]
    fn reserve_and_source_cap_follow_the_pool() {
        // siproxd's default pool: 10 streams.
        assert_eq!(lan_reserve(10), 2);
        assert_eq!(wan_source_cap(10), 4);
        assert_eq!(lan_reserve(600), 150);
        assert_eq!(wan_source_cap(600), 112);
        // Tiny pools: the reserve never exceeds the pool.
        assert_eq!(lan_reserve(1), 1);
        assert_eq!(lan_reserve(0), 0);
        assert_eq!(wan_source_cap(0), WAN_SOURCE_MIN);
    }
}
