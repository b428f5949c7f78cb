//! Read-only accessors of the relay table for `sipnat status`, the logs
//! and tests: counters, and where each leg of a stream stands. Nothing here
//! changes the table.

use super::{Channel, Counts, Leg, Relay, RelayTotals, StreamId, StreamStats};
use crate::net::Addr;

/// One leg of a stream for `sipnat status` ([`Relay::leg_view`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegView {
    pub wan: bool,
    /// RTP address from the leg's SDP (none: not known yet).
    pub expected: Option<Addr>,
    /// RTP source the leg is latched to.
    pub latched: Option<Addr>,
    /// Packets and bytes that came from this leg and were forwarded.
    pub forwarded: Counts,
}

impl Relay {
    /// Counters of the whole relay.
    pub fn totals(&self) -> RelayTotals {
        self.totals
    }

    /// Counters of one live stream.
    pub fn stream_stats(&self, id: StreamId) -> Option<StreamStats> {
        self.stream(id).map(|st| st.stats)
    }

    /// What `sipnat status` shows of one leg of a live stream: its side,
    /// the RTP address its SDP gave, the one it is latched to, and what
    /// came from it and was forwarded.
    pub fn leg_view(&self, id: StreamId, leg: Leg) -> Option<LegView> {
        let st = self.stream(id)?;
        let l = &st.legs[leg.idx()];
        let rtp = &l.paths[Channel::Rtp.idx()];
        Some(LegView {
            wan: l.wan,
            expected: rtp.expected,
            latched: rtp.latched.map(|x| x.addr),
            forwarded: st.stats.forwarded_from(leg),
        })
    }

    /// The address a leg's channel is latched to, if any.
    pub fn latched(&self, id: StreamId, leg: Leg, ch: Channel) -> Option<Addr> {
        self.stream(id)?.legs[leg.idx()].paths[ch.idx()]
            .latched
            .map(|l| l.addr)
    }

    /// Where packets for a leg's channel go now (latched, else expected if
    /// reachable: rule 7).
    pub fn destination(&self, id: StreamId, leg: Leg, ch: Channel) -> Option<Addr> {
        self.stream(id)?.legs[leg.idx()].paths[ch.idx()]
            .destination()
            .copied()
    }
}
