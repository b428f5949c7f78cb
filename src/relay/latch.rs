//! The latching rules of the [module doc](super) ("Latching and the
//! anti-hijack rules"), applied to one stream: the state of its two legs
//! (expected, latched and destination addresses per channel, the learning
//! window), how a source latched nowhere ranks on each leg
//! ([`LegState::claim`], [`Stream::classify`]), the media check of rule 2
//! ([`inspect`]) and the decision for one packet ([`Stream::on_packet`]);
//! which addresses are the router's own or public (rules 0 and 7: [`Local`],
//! [`crate::net::is_public`]).
//!
//! It does not own the table, the port pool or the hold pool, and does not
//! count totals: [`super::Relay`] looks up the stream, carries out the
//! [`Verdict`] (holding a packet in its pool) and keeps the totals.

use super::{DropReason, Payload, RELATCH_SILENCE, StreamStats};
use crate::limits::HOLD_BYTES;
use crate::net::{Addr, Net};
use crate::side::Side;
use std::net::IpAddr;
use std::time::Instant;

/// How strong a latch is (rule 6): what made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// Any source, after [`LEARNING`](super::LEARNING) (rule 4).
    Learned,
    /// An unnamed source from the SDP's port (rule 4).
    Port,
    /// A named IP (rule 3).
    Named,
    /// The exact address (IP and port) the leg's SDP names (rule 6: it
    /// takes a latch of the named IP from another port at once).
    Exact,
}

/// The address a channel of a leg is latched to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Latch {
    pub(super) addr: Addr,
    class: Class,
    /// Last packet from `addr` (while the kernel forwards it: the last the
    /// kernel reported, [`super::Relay::kernel_seen`]).
    pub(super) last_seen: Instant,
    /// The SSRC of the last media packet from `addr` (rule 6).
    ssrc: Option<u32>,
}

/// One channel (RTP or RTCP) of one leg.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Path {
    pub(super) expected: Option<Addr>,
    /// The expected address is a destination before a latch (rule 7).
    pub(super) reachable: bool,
    /// The SDP rejected the stream (port 0): nothing is held for it.
    pub(super) closed: bool,
    pub(super) latched: Option<Latch>,
}

impl Path {
    /// Where this channel's packets go (rule 7): a reference, so the hot
    /// path copies the address once, from here into its decision.
    pub(super) fn destination(&self) -> Option<&Addr> {
        match &self.latched {
            Some(l) => Some(&l.addr),
            None => self.expected.as_ref().filter(|_| self.reachable),
        }
    }
}

/// The learning window of a leg (rule 4).
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    /// From when any source may latch.
    pub(super) learned_from: Instant,
    /// Until when unnamed sources may latch at all.
    pub(super) until: Instant,
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LegState {
    pub(super) paths: [Path; 2],
    pub(super) signalling_ip: Option<IpAddr>,
    pub(super) wan: bool,
    pub(super) window: Option<Window>,
    /// Until when, after its SDP moved it, a latch of this leg that is not
    /// at the exact address the SDP names is not final: the exact address
    /// may still take it (rule 6), as when the far end keeps sending from
    /// its old address until the answer (RFC 3264 §8.3.1). The kernel does
    /// not get such a latch before ([`super::kernel`]).
    pub(super) unsettled_until: Option<Instant>,
}

/// How well a leg matches an unknown source; lower is better (rule 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Exact,
    Named,
    TakeOver,
    Port,
    Learned,
}

/// A leg's answer to a source latched nowhere: how well it matches, and how
/// strong the latch would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Claim {
    rank: Rank,
    class: Class,
}

impl LegState {
    /// Does the signalling name `ip` for this leg (rule 3)?
    fn names(&self, ip: IpAddr) -> bool {
        self.signalling_ip == Some(ip)
            || self
                .paths
                .iter()
                .any(|p| p.expected.is_some_and(|e| e.ip() == ip))
    }

    /// How far this leg trusts `ip` on channel `ch`: a named IP fully, the
    /// IP latched on the other channel as much as that latch.
    fn trust(&self, ch: usize, ip: IpAddr) -> Option<Class> {
        if self.names(ip) {
            return Some(Class::Named);
        }
        self.paths
            .get(ch ^ 1)
            .and_then(|p| p.latched)
            .filter(|l| l.addr.ip() == ip)
            .map(|l| l.class.min(Class::Named))
    }

    /// Is channel `ch`'s latch final (for the kernel, [`super::kernel`])?
    /// Not while the leg is unsettled after a move and the latch is not at
    /// the exact address its SDP names.
    pub(super) fn settled(&self, now: Instant, ch: usize) -> bool {
        self.settled_at(now)
            || self
                .paths
                .get(ch)
                .and_then(|p| p.latched)
                .is_some_and(|l| l.class == Class::Exact)
    }

    /// Past the time after a move of its SDP in which the exact new
    /// address may still take the leg's latch (rule 6).
    fn settled_at(&self, now: Instant) -> bool {
        self.unsettled_until.is_none_or(|t| crate::due(&now, &t))
    }

    /// Needs the learning window of rule 4: on the WAN with an expected RTP
    /// address that is not a destination.
    pub(super) fn hidden(&self) -> bool {
        self.wan && self.paths[0].expected.is_some() && !self.paths[0].reachable
    }

    pub(super) fn unlatched(&self) -> bool {
        self.paths.iter().all(|p| p.latched.is_none())
    }

    /// Whether, and how, this leg may take `from` (latched nowhere, carrying
    /// `ssrc`) on channel `ch`; else why not (rules 3–6).
    fn claim(
        &self,
        now: Instant,
        ch: usize,
        from: &Addr,
        ssrc: Option<u32>,
    ) -> Result<Claim, DropReason> {
        let Some(path) = self.paths.get(ch) else {
            return Err(DropReason::UnknownSource);
        };
        let ip = from.ip();
        let trust = self.trust(ch, ip);
        let exact = path.expected.as_ref() == Some(from);
        // Rule 4 is for RTP only; RTCP follows the RTP latch (rule 3).
        let window = self
            .window
            .filter(|w| ch == 0 && !crate::due(&now, &w.until));
        let port_match = trust.is_none()
            && window.is_some()
            && path.expected.is_some_and(|e| e.port() == from.port());
        let named_rank = if exact { Rank::Exact } else { Rank::TakeOver };
        match path.latched {
            None => {
                if exact {
                    return Ok(Claim {
                        rank: Rank::Exact,
                        class: Class::Exact,
                    });
                }
                if let Some(class) = trust {
                    return Ok(Claim {
                        rank: Rank::Named,
                        class,
                    });
                }
                let Some(w) = window else {
                    return Err(DropReason::UnknownSource);
                };
                if port_match {
                    Ok(Claim {
                        rank: Rank::Port,
                        class: Class::Port,
                    })
                } else if crate::due(&now, &w.learned_from) {
                    Ok(Claim {
                        rank: Rank::Learned,
                        class: Class::Learned,
                    })
                } else {
                    Err(DropReason::Learning)
                }
            }
            Some(l) => {
                // A stronger source takes a weaker latch at once. The
                // exact address counts above a named IP only while the leg
                // is unsettled after its SDP moved: a far end that sent
                // from its old address until the answer (RFC 3264 §8.3.1)
                // and then from the new one. At any other time a spoofer
                // of the SDP's address could pull the latch away from a
                // far end whose NAT changes its port.
                let strength = if exact && !self.settled_at(now) {
                    Some(Class::Exact)
                } else {
                    trust
                };
                if let Some(class) = strength.filter(|c| *c > l.class) {
                    return Ok(Claim {
                        rank: named_rank,
                        class,
                    });
                }
                if port_match && l.class < Class::Port {
                    return Ok(Claim {
                        rank: Rank::Port,
                        class: Class::Port,
                    });
                }
                let silent = now.saturating_duration_since(l.last_seen) >= RELATCH_SILENCE;
                if !silent {
                    return Err(DropReason::UnknownSource);
                }
                if trust == Some(Class::Named) {
                    return Ok(Claim {
                        rank: named_rank,
                        class: strength.unwrap_or(Class::Named),
                    });
                }
                if l.addr.ip() != ip && trust.is_none() {
                    return Err(DropReason::UnknownSource);
                }
                // A NAT rebinding: the same source, by its SSRC.
                if ssrc.is_some() && ssrc == l.ssrc {
                    Ok(Claim {
                        rank: Rank::TakeOver,
                        class: l.class.min(Class::Named),
                    })
                } else {
                    Err(DropReason::SsrcMismatch)
                }
            }
        }
    }
}

/// Rule 2: is `data`, arriving on channel `ch` of a stream carrying
/// `payload`, a media packet, and with which SSRC? `None`: not media;
/// `Some(None)`: media without an SSRC (DTLS, or not RTP at all).
fn inspect(data: &[u8], ch: usize, payload: Payload) -> Option<Option<u32>> {
    if payload == Payload::Other {
        return Some(None);
    }
    let b0 = *data.first()?;
    // RFC 7983 §7: 20..=63 is DTLS.
    if payload == Payload::DtlsSrtp && (20..=63).contains(&b0) {
        return Some(None);
    }
    // RFC 3550 §5.1 / §6.4.1: version 2 in the top two bits.
    if b0 >> 6 != 2 {
        return None;
    }
    let b1 = *data.get(1)?;
    let ssrc_at = if (192..=223).contains(&b1) {
        // RTCP (RFC 5761 §4): header, then the sender's SSRC.
        4
    } else if ch == 0 {
        // RTP: the fixed header and its CSRC list must be there.
        let csrc = usize::from(b0 & 0x0f);
        if data.len() < 12 + 4 * csrc {
            return None;
        }
        8
    } else {
        return None;
    };
    let s: [u8; 4] = data.get(ssrc_at..ssrc_at + 4)?.try_into().ok()?;
    Some(Some(u32::from_be_bytes(s)))
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Stream {
    pub(super) legs: [LegState; 2],
    pub(super) hold: bool,
    pub(super) payload: Payload,
    /// Last accepted packet, allocation, setup or touch.
    pub(super) last_active: Instant,
    pub(super) stats: StreamStats,
    /// Not to be handed to the kernel before this ([`super::kernel`]).
    pub(super) kernel_bar: Option<Instant>,
    /// Why its channel is being taken back from the kernel (counters).
    pub(super) kernel_back: Option<super::kernel::Back>,
    /// When a channel of it last went to the kernel.
    pub(super) kernel_at: Option<Instant>,
}

/// The router's own addresses and LAN networks (rules 0 and 7).
#[derive(Debug, Clone, Default)]
pub(super) struct Local {
    pub(super) lan: heapless::Vec<Net, 8>,
    pub(super) own: heapless::Vec<IpAddr, 8>,
}

impl Local {
    /// Loopback, 0.0.0.0/8 (IPv6: the unspecified address), a LAN network,
    /// or one of the router's addresses.
    pub(super) fn contains(&self, ip: IpAddr) -> bool {
        let special = match ip {
            IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 0,
            IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified(),
        };
        special || self.own.contains(&ip) || self.lan.iter().any(|n| n.contains(ip))
    }
}

/// What one stream decided about one packet.
pub(super) enum Verdict {
    Forward(Addr),
    /// Hold it for this leg.
    Hold(usize),
    Drop(DropReason),
}

impl Stream {
    /// Decide one packet on channel `ch` (0 RTP, 1 RTCP); also says whether
    /// it latched a leg.
    pub(super) fn on_packet(
        &mut self,
        now: Instant,
        ch: usize,
        from: &Addr,
        side: Side,
        data: &[u8],
        local: &Local,
    ) -> (Verdict, bool) {
        let len = data.len();
        // Rule 0: a packet can only come from a leg on the side it arrived on.
        let wan = side == Side::Wan;
        let latched_at = |l: &LegState| {
            l.wan == wan
                && l.paths
                    .get(ch)
                    .and_then(|p| p.latched.as_ref())
                    .is_some_and(|x| x.addr == *from)
        };
        let mut latched = false;
        let src = if latched_at(&self.legs[0]) {
            0
        } else if latched_at(&self.legs[1]) {
            1
        } else {
            let claim = if wan && local.contains(from.ip()) {
                Err(DropReason::ForgedSource)
            } else {
                match inspect(data, ch, self.payload) {
                    None => Err(DropReason::NotMedia),
                    Some(ssrc) => self
                        .classify(now, ch, from, wan, ssrc)
                        .map(|(leg, c)| (leg, c, ssrc)),
                }
            };
            match claim {
                Ok((leg, c, ssrc)) => {
                    if let Some(p) = self.legs[leg].paths.get_mut(ch) {
                        p.latched = Some(Latch {
                            addr: *from,
                            class: c.class,
                            last_seen: now,
                            ssrc,
                        });
                    }
                    latched = true;
                    self.stats.latches = self.stats.latches.wrapping_add(1);
                    leg
                }
                Err(r) => {
                    self.stats.dropped[r.index()].add(len);
                    return (Verdict::Drop(r), false);
                }
            }
        };
        self.last_active = now;
        if let Some(l) = self.legs[src]
            .paths
            .get_mut(ch)
            .and_then(|p| p.latched.as_mut())
        {
            l.last_seen = now;
            if let Some(Some(s)) = inspect(data, ch, self.payload) {
                l.ssrc = Some(s);
            }
        }
        let dest_leg = &self.legs[src ^ 1];
        let Some(dest_path) = dest_leg.paths.get(ch) else {
            return (Verdict::Drop(DropReason::NoDestination), latched);
        };
        // Rule 8: hold only for a WAN leg that has its SDP and waits to
        // latch; a leg with no SDP yet (a phone still ringing) gets nothing,
        // so a WAN caller cannot fill the shared pool.
        let waits = dest_leg.wan && !dest_path.closed && dest_path.expected.is_some();
        let v = match dest_path.destination() {
            None if !waits || len > HOLD_BYTES => Verdict::Drop(DropReason::NoDestination),
            None => return (Verdict::Hold(src ^ 1), latched),
            Some(to) if to == from => Verdict::Drop(DropReason::Loop),
            Some(to) => Verdict::Forward(*to),
        };
        match v {
            Verdict::Forward(_) => self.stats.forwarded[src].add(len),
            Verdict::Drop(r) => self.stats.dropped[r.index()].add(len),
            Verdict::Hold(_) => {}
        }
        (v, latched)
    }

    /// Which leg may a source that is latched nowhere latch (rule 5), or why
    /// none: the more telling refusal of the two legs.
    fn classify(
        &self,
        now: Instant,
        ch: usize,
        from: &Addr,
        wan: bool,
        ssrc: Option<u32>,
    ) -> Result<(usize, Claim), DropReason> {
        let claim = |l: &LegState| {
            if l.wan == wan {
                l.claim(now, ch, from, ssrc)
            } else {
                Err(DropReason::UnknownSource)
            }
        };
        let better = |x: &Claim, y: &Claim| {
            (x.rank, std::cmp::Reverse(x.class)) < (y.rank, std::cmp::Reverse(y.class))
        };
        match (claim(&self.legs[0]), claim(&self.legs[1])) {
            (Err(ra), Err(rb)) => Err(if ra == DropReason::UnknownSource {
                rb
            } else {
                ra
            }),
            (Ok(c), Err(_)) => Ok((0, c)),
            (Err(_), Ok(c)) => Ok((1, c)),
            (Ok(ca), Ok(cb)) if better(&ca, &cb) => Ok((0, ca)),
            (Ok(ca), Ok(cb)) if better(&cb, &ca) => Ok((1, cb)),
            (Ok(ca), Ok(cb)) => {
                let port_of = |leg: usize| {
                    self.legs[leg]
                        .paths
                        .get(ch)
                        .and_then(|p| p.expected)
                        .map(|e| e.port())
                };
                if port_of(0) != Some(from.port()) && port_of(1) == Some(from.port()) {
                    Ok((1, cb))
                } else {
                    Ok((0, ca))
                }
            }
        }
    }
}
