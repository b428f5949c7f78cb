//! A call that loops back through sipnat: a phone calls out, and the
//! provider (or a proxy behind it) sends the same call back in for another
//! phone on the LAN, with the same Call-ID and From tag (a spiral, RFC 3261
//! §16.3 step 4, which is no loop: the Request-URI changed). siproxd's
//! `obscure_loops` rewrote the Call-ID so its RTP table would not take the
//! two passes for one call; sipnat's calls are keyed by the side their
//! caller is on as well (`Proxy::call_key`), so the passes are two calls
//! here without any rewriting.
//!
//! What remains is the media. The first pass's SDP left for the WAN naming
//! sipnat's public address and the relay port that pass was given; the
//! second pass brings that same SDP back from the WAN. A WAN SDP naming the
//! router is never a destination (the relay's rule 7: the router's own
//! addresses are no WAN address), so each pass's relay stream would wait
//! for the other forever. Instead the second pass *joins* the first pass's
//! stream: the two phones then talk through that one stream, both of its
//! legs on the LAN, and no packet is sent to the router itself.
//!
//! Exactly this case and nothing else: a WAN SDP's `m=` line naming
//! sipnat's public address joins a stream when it is the relay port of the
//! same `m=` line of a live call with the same Call-ID, and that stream's
//! leg of the SDP's author was set from the LAN while its other leg (the
//! one facing the WAN, which the loop would fill) is still unset. A stream
//! already joined is recognised when the passes' later SDPs name it again
//! (the other pass's answer, re-INVITEs), and left as it is. Any other SDP
//! naming the router is treated as before: not a destination.
//!
//! Why it is safe: joining needs the Call-ID, the caller's tag and the
//! relay port of a call on its way out that nobody answered yet, which only
//! a party on that call's path sees (who can already answer or re-INVITE
//! it); and what it does is connect two LAN phones to each other, so
//! nothing is ever sent to the party that asked for it. The stream stays the
//! first pass's: the joining call neither counts it in its limits nor frees
//! it.

use super::{Call, Media};
use crate::relay::{Leg, Relay, StreamId};

impl Media {
    /// The stream of `m=` line `i` of call `idx`, whose SDP from the WAN
    /// (written by its leg `leg`) names sipnat's public address and `port`,
    /// when that is a stream of the other pass of the same call looping
    /// back through sipnat (module doc). `None`: not such a stream.
    pub(super) fn looped(
        &mut self,
        relay: &Relay,
        idx: usize,
        i: usize,
        leg: Leg,
        port: u16,
    ) -> Option<StreamId> {
        let call_id = self.calls.get(idx)?.call_id;
        let at_port = |id: &StreamId| relay.port_of(*id) == Some(port);
        let other_pass = |c: &&Call| c.call_id == call_id && c.expired.is_none();
        let mine = self.calls.get(idx)?.streams.get(i).copied().flatten();
        if let Some(id) = mine.filter(|id| relay.port_of(*id).is_some()) {
            // This call has its stream: it is the one named when the two
            // passes share it already.
            let shared = self
                .calls
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != idx)
                .any(|(_, c)| other_pass(&c) && c.streams.get(i) == Some(&Some(id)));
            return (shared && at_port(&id)).then_some(id);
        }
        let id = self
            .calls
            .iter()
            .enumerate()
            .filter(|(j, c)| *j != idx && other_pass(c))
            .find_map(|(_, c)| c.streams.get(i).copied().flatten().filter(at_port))?;
        let set = relay.leg_view(id, leg)?;
        let facing_wan = relay.leg_view(id, leg.other())?;
        if set.expected.is_none() || set.wan || facing_wan.expected.is_some() {
            return None;
        }
        let c = self.calls.get_mut(idx)?;
        *c.streams.get_mut(i)? = Some(id);
        c.joined |= 1 << i;
        Some(id)
    }
}
