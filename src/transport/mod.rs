//! Transports: how SIP travels between sipnat and a peer.
//!
//! A transport is data, never a literal in the proxy: the routing decision
//! names one ([`Transport`]), the writer renders it (`SIP/2.0/TCP` in a Via,
//! `;transport=tcp` in a URI), and the driver carries it out. UDP is a
//! datagram transport; TCP is a stream transport, which needs a connection
//! table (in the driver) and framing ([`framer`]). TLS is TCP with a record
//! layer (RFC 3261 §26.2.1, RFC 5630): the same table, framing and plan; the
//! driver adds the record layer (`driver/tls.rs`, the `tls` cargo feature).
//! A build without the feature never names it: [`Transport::parse`] does
//! not know `tls`, so a hop that asks for it gets 503 as any transport
//! sipnat does not speak.

pub mod conns;
pub mod failed;
pub mod framer;

/// A SIP transport (RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
    /// SIP over TLS over TCP (RFC 3261 §26.2.1): only with the `tls`
    /// feature.
    Tls,
}

impl Transport {
    /// As in a Via's sent-protocol (RFC 3261 §20.42): `UDP`, `TCP`, `TLS`.
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// As in a URI's `transport` parameter (RFC 3261 §19.1.1): `udp`,
    /// `tcp`, `tls`.
    pub fn param(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// The port a URI without one means (RFC 3261 §19.1.2: 5061 for TLS).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            _ => 5060,
        }
    }

    /// The transport a Via's sent-protocol or a `transport=` value names
    /// (case-insensitive); `None` for one sipnat does not speak.
    pub fn parse(name: &str) -> Option<Transport> {
        if name.eq_ignore_ascii_case("udp") {
            Some(Transport::Udp)
        } else if name.eq_ignore_ascii_case("tcp") {
            Some(Transport::Tcp)
        } else if cfg!(feature = "tls") && name.eq_ignore_ascii_case("tls") {
            Some(Transport::Tls)
        } else {
            None
        }
    }

    /// A stream transport: messages are framed by Content-Length and a
    /// connection carries them.
    pub fn is_stream(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [Transport::Udp, Transport::Tcp, Transport::Tls] {
            let known = cfg!(feature = "tls") || t != Transport::Tls;
            assert_eq!(Transport::parse(t.via_name()), known.then_some(t));
            assert_eq!(Transport::parse(t.param()), known.then_some(t));
        }
        assert_eq!(Transport::Tls.default_port(), 5061);
        assert_eq!(Transport::Tcp.default_port(), 5060);
        assert!(Transport::Tls.is_stream());
        assert_eq!(Transport::parse("sctp"), None);
        assert!(Transport::Tcp.is_stream() && !Transport::Udp.is_stream());
    }
}
