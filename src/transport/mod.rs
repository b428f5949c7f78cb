//! Transports: how SIP travels between sipnat and a peer.
//!
//! A transport is data, never a literal in the proxy: the routing decision
//! names one ([`Transport`]), the writer renders it (`SIP/2.0/TCP` in a Via,
//! `;transport=tcp` in a URI), and the driver carries it out. UDP is a
//! datagram transport; TCP is a stream transport, which needs a connection
//! table (in the driver) and framing ([`framer`]).

pub mod conns;
pub mod failed;
pub mod framer;

/// A SIP transport (RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}

impl Transport {
    /// As in a Via's sent-protocol (RFC 3261 §20.42): `UDP`, `TCP`.
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// As in a URI's `transport` parameter (RFC 3261 §19.1.1): `udp`, `tcp`.
    pub fn param(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }

    /// The transport a Via's sent-protocol or a `transport=` value names
    /// (case-insensitive); `None` for one sipnat does not speak.
    pub fn parse(name: &str) -> Option<Transport> {
        if name.eq_ignore_ascii_case("udp") {
            Some(Transport::Udp)
        } else if name.eq_ignore_ascii_case("tcp") {
            Some(Transport::Tcp)
        } else {
            None
        }
    }

    /// A stream transport: messages are framed by Content-Length and a
    /// connection carries them.
    pub fn is_stream(self) -> bool {
        matches!(self, Transport::Tcp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [Transport::Udp, Transport::Tcp] {
            assert_eq!(Transport::parse(t.via_name()), Some(t));
            assert_eq!(Transport::parse(t.param()), Some(t));
        }
        assert_eq!(Transport::parse("TLS"), None);
        assert_eq!(Transport::parse("sctp"), None);
        assert!(Transport::Tcp.is_stream() && !Transport::Udp.is_stream());
    }
}
