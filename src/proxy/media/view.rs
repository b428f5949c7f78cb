//! What `sipnat status` shows of a call: a read-only view of the call
//! table ([`Media::iter`]). It does not show tombstones (calls whose streams
//! an unanswered-call timer freed) and reads the relay for nothing: the
//! caller asks [`crate::relay::Relay`] about each stream.

use super::{Call, Media};
use crate::limits::MAX_STATUS_URI;
use crate::relay::StreamId;
use std::time::Instant;

pub(super) type StatusUri = heapless::String<MAX_STATUS_URI>;

/// The start of `uri` that fits [`MAX_STATUS_URI`], cut at a character
/// boundary.
pub(super) fn status_uri(uri: &str) -> StatusUri {
    let mut end = uri.len().min(MAX_STATUS_URI);
    while !uri.is_char_boundary(end) {
        end -= 1;
    }
    let mut s = StatusUri::new();
    // Cannot fail: `end` bytes fit by construction.
    let _ = s.push_str(&uri[..end]);
    s
}

/// How far a call has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// The INVITE is out; no provisional response beyond 100 yet.
    Trying,
    /// The callee rings (a 101–199 came).
    Ringing,
    /// A 2xx answered it.
    Established,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Trying => "trying",
            CallState::Ringing => "ringing",
            CallState::Established => "established",
        }
    }
}

/// One live call, as `sipnat status` shows it.
#[derive(Debug, Clone, Copy)]
pub struct CallView<'a> {
    /// From URI of the request that created the call (the caller).
    pub from: &'a str,
    /// Its To URI (the callee).
    pub to: &'a str,
    /// The call was started from the WAN side.
    pub incoming: bool,
    pub state: CallState,
    /// When sipnat first saw its SDP.
    pub created: Instant,
    /// Either end put it on hold (RFC 3264 §8.4).
    pub hold: bool,
    /// The relay stream of each `m=` line (`None`: not relayed).
    pub streams: &'a [Option<StreamId>],
}

impl Media {
    /// Every live call (tombstones left out), in table order.
    pub fn iter(&self) -> impl Iterator<Item = CallView<'_>> + '_ {
        self.calls
            .iter()
            .filter(|c| c.expired.is_none())
            .map(Call::view)
    }
}

impl Call {
    fn view(&self) -> CallView<'_> {
        let state = if self.answered.is_some() {
            CallState::Established
        } else if self.ringing.is_some() {
            CallState::Ringing
        } else {
            CallState::Trying
        };
        CallView {
            from: &self.from,
            to: &self.to,
            incoming: self.origin.wan,
            state,
            created: self.created,
            hold: self.hold[0] || self.hold[1],
            streams: &self.streams,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_uri_cuts_at_a_character_boundary() {
        assert_eq!(
            status_uri("sip:alice@example.com").as_str(),
            "sip:alice@example.com"
        );
        let long = format!("sip:{}@example.com", "é".repeat(40));
        let cut = status_uri(&long);
        assert!(cut.len() <= MAX_STATUS_URI && cut.len() >= MAX_STATUS_URI - 1);
        assert!(long.starts_with(cut.as_str()));
    }
}
