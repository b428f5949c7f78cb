//! Calls with relayed media: which relay streams belong to which call, and
//! the SDP rewriting that points both ends at the relay (RFC 3264 offer /
//! answer, RFC 4566).
//!
//! A call is keyed by a keyed hash of its Call-ID in the WAN form (LAN
//! addresses masked), so a message finds its call whichever side it comes
//! from. Leg A of each stream is the caller (the From tag of the INVITE that
//! created the call), leg B the callee; an SDP body describes its author's
//! leg: for a request the From tag, for a response the To tag.
//!
//! Lifecycle: any SDP of a call not yet known creates it (an INVITE offer, or
//! a late offer in a 2xx); each `m=` line gets a relay stream, allocated once
//! and kept across re-INVITEs and UPDATEs. BYE and CANCEL free the call at
//! once; a final error answer to an INVITE frees it unless the call was
//! established (a failed re-INVITE keeps the call). Streams silent for
//! `rtp_timeout` are freed by the relay, except on hold, where the call
//! lives as long as its dialog shows SIP activity within [`HOLD_LIMIT`].
//!
//! Capacity: the call table ([`MAX_CALLS`]) and the relay's port pool. A new
//! call that does not fit is refused (503 for a request offer); a stream an
//! answer adds beyond the pool is rejected in the answer (port 0, RFC 3264
//! §6) — no existing call loses anything.

use crate::limits::{MAX_CALLS, MAX_TAG};
use crate::proxy::Buf;
use crate::relay::{Leg, LegSetup, Payload, Relay, StreamId};
use crate::sdp::{MAX_MEDIA, Port, Rewrite, Sdp, SdpError};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

/// A call on hold survives without RTP as long as SIP shows its dialog is
/// alive at least this often (re-INVITE, UPDATE, OPTIONS, session refresh).
pub const HOLD_LIMIT: Duration = Duration::from_secs(2 * 3600);

struct Call {
    key: u64,
    caller_tag: heapless::String<MAX_TAG>,
    streams: [Option<StreamId>; MAX_MEDIA],
    established: bool,
    /// The latest SDP of each leg (A, B) puts its side on hold. The call is
    /// on hold while either is: the answer to a `sendonly` offer is a
    /// `recvonly` that does not undo it (RFC 3264 §8.4).
    hold: [bool; 2],
    last_sip: Instant,
}

/// Why a body could not be relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaError {
    /// The SDP does not parse or cannot be rewritten (IPv6, multicast, …).
    Sdp(SdpError),
    /// No room for a new call or its streams.
    Full,
}

impl MediaError {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaError::Sdp(e) => e.as_str(),
            MediaError::Full => "full",
        }
    }
}

/// Who wrote an SDP body, and from where.
pub struct Author<'a> {
    /// From tag (request) or To tag (response) of the message.
    pub tag: &'a str,
    /// From tag of the message: the caller's tag when it creates the call.
    pub from_tag: &'a str,
    pub is_request: bool,
    /// Source address of the SIP message (the author's signalling IP).
    pub signalling_ip: Ipv4Addr,
    /// The author is on the WAN side.
    pub wan: bool,
}

pub struct Media {
    relay: Relay,
    calls: Box<heapless::Vec<Call, MAX_CALLS>>,
}

impl Media {
    pub fn new(ports: &[u16], rtp_timeout: Duration) -> Media {
        Media {
            relay: Relay::new(ports, rtp_timeout),
            calls: Box::default(),
        }
    }

    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    pub fn relay_mut(&mut self) -> &mut Relay {
        &mut self.relay
    }

    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    fn find(&self, key: u64) -> Option<usize> {
        self.calls.iter().position(|c| c.key == key)
    }

    /// Rewrite `body` (an SDP) into `out` for the side whose relay address is
    /// `our_addr`, creating the call and its streams as needed.
    pub fn rewrite(
        &mut self,
        now: Instant,
        key: u64,
        author: &Author<'_>,
        body: &[u8],
        our_addr: Ipv4Addr,
        out: &mut Buf<'_>,
    ) -> Result<(), MediaError> {
        let sdp = Sdp::parse(body).map_err(MediaError::Sdp)?;
        let idx = match self.find(key) {
            Some(i) => i,
            None => {
                let mut tag = heapless::String::new();
                // Cannot fail: short_tag() fits MAX_TAG.
                let _ = tag.push_str(short_tag(author.from_tag));
                self.calls
                    .push(Call {
                        key,
                        caller_tag: tag,
                        streams: [None; MAX_MEDIA],
                        established: false,
                        hold: [false; 2],
                        last_sip: now,
                    })
                    .map_err(|_| MediaError::Full)?;
                self.calls.len() - 1
            }
        };
        let leg = if self.calls[idx].caller_tag == short_tag(author.tag) {
            Leg::A
        } else {
            Leg::B
        };
        let new_call = self.calls[idx].streams.iter().all(Option::is_none);
        let mut ports = [Port::Keep; MAX_MEDIA];
        for (i, m) in sdp.media.iter().enumerate() {
            if m.port == 0 {
                continue;
            }
            let id = match self.calls[idx].streams[i].filter(|id| self.relay.port_of(*id).is_some())
            {
                Some(id) => id,
                None => match self.relay.allocate(now) {
                    Ok((id, _)) => {
                        self.calls[idx].streams[i] = Some(id);
                        id
                    }
                    Err(_) => {
                        if author.is_request && new_call {
                            // Refuse the whole new call; free what it took.
                            self.drop_call(idx);
                            return Err(MediaError::Full);
                        }
                        // An answer or re-offer: reject just this stream.
                        ports[i] = Port::Reject;
                        continue;
                    }
                },
            };
            let rtcp = match m.rtcp {
                Some((p, a)) => SocketAddrV4::new(a.unwrap_or(m.addr), p),
                None => SocketAddrV4::new(m.addr, m.port.wrapping_add(1)),
            };
            let payload = if !m.is_rtp {
                Payload::Other
            } else if m.dtls {
                Payload::DtlsSrtp
            } else {
                Payload::Rtp
            };
            let setup = LegSetup {
                rtp: SocketAddrV4::new(m.addr, m.port),
                rtcp,
                signalling_ip: Some(author.signalling_ip),
                wan: author.wan,
                payload,
            };
            self.relay.set_leg(now, id, leg, &setup);
            self.relay.touch(now, id);
            ports[i] = self.relay.port_of(id).map_or(Port::Reject, Port::Relay);
        }
        let c = &mut self.calls[idx];
        c.hold[if leg == Leg::A { 0 } else { 1 }] = sdp.is_hold();
        let hold = c.hold[0] || c.hold[1];
        c.last_sip = now;
        for id in c.streams.iter().flatten() {
            self.relay.set_hold(*id, hold);
        }
        let rw = Rewrite {
            addr: our_addr,
            ports: &ports[..sdp.media.len()],
        };
        crate::sdp::rewrite(body, &sdp, &rw, out).map_err(MediaError::Sdp)
    }

    /// Signalling activity on a call (keeps a held call alive).
    pub fn touch(&mut self, now: Instant, key: u64) {
        if let Some(i) = self.find(key) {
            self.calls[i].last_sip = now;
            for id in self.calls[i].streams.iter().flatten() {
                self.relay.touch(now, *id);
            }
        }
    }

    /// A 2xx to an INVITE: the call is established.
    pub fn established(&mut self, key: u64) {
        if let Some(i) = self.find(key) {
            self.calls[i].established = true;
        }
    }

    /// BYE or CANCEL: the call ends now.
    pub fn end(&mut self, key: u64) -> bool {
        match self.find(key) {
            Some(i) => {
                self.drop_call(i);
                true
            }
            None => false,
        }
    }

    /// A final error answer to an INVITE: ends a call that never got up.
    pub fn failed(&mut self, key: u64) -> bool {
        match self.find(key) {
            Some(i) if !self.calls[i].established => {
                self.drop_call(i);
                true
            }
            _ => false,
        }
    }

    fn drop_call(&mut self, i: usize) {
        let c = self.calls.swap_remove(i);
        for id in c.streams.iter().flatten() {
            self.relay.free(*id);
        }
    }

    /// Once a second: silent streams end (RFC 3550 has no end of stream;
    /// `rtp_timeout` decides), held calls end when their dialog has been
    /// silent for [`HOLD_LIMIT`]; calls left without streams are removed.
    /// Returns how many calls ended.
    pub fn tick(&mut self, now: Instant) -> usize {
        // Which streams the relay freed is derived from the relay itself (a
        // stale id has no port), so any number may expire in one tick.
        self.relay.expire(now, &mut |_| {});
        let mut ended = 0;
        let mut i = 0;
        while i < self.calls.len() {
            let c = &mut self.calls[i];
            for s in c.streams.iter_mut() {
                if s.is_some_and(|id| self.relay.port_of(id).is_none()) {
                    *s = None;
                }
            }
            let empty = c.streams.iter().all(Option::is_none);
            let stale =
                (c.hold[0] || c.hold[1]) && now.saturating_duration_since(c.last_sip) > HOLD_LIMIT;
            // A call that has had streams and lost them all has ended; one
            // that never had any (a late offer pending) waits for its SDP,
            // but not forever.
            let never = empty && now.saturating_duration_since(c.last_sip) > HOLD_LIMIT;
            if (empty && c.established) || stale || never {
                self.drop_call(i);
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
