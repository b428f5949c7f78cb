//! The two legs of a stream (A the offerer, B the answerer) and its two
//! channels (RTP on the even port, RTCP on the odd one), as table indices.

/// One side of a stream: A is the offerer, B the answerer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    A,
    B,
}

impl Leg {
    /// The other leg.
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    pub(super) fn idx(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// RTP or RTCP (the even or odd port of a pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Rtp,
    Rtcp,
}

impl Channel {
    pub(super) fn idx(self) -> usize {
        match self {
            Channel::Rtp => 0,
            Channel::Rtcp => 1,
        }
    }
}

/// Name of a leg for logs.
impl std::fmt::Display for Leg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Leg::A => "A",
            Leg::B => "B",
        })
    }
}
