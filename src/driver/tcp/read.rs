//! What goes into a stream connection ([`Stream`]) and comes out of one
//! ([`Frame`], [`Unsent`]); what a read of it gave ([`Got`]: the socket's
//! own, or a TLS session's); and the status line the messages of a
//! connection that never came up are answered with.

use crate::net::Addr;
use crate::side::Side;
use crate::transport::Transport;
use mio::net::TcpStream;
use std::io::{ErrorKind, Read};

/// How a message goes on a stream: the transport, and over TLS the name the
/// peer's certificate must match (empty: [`super::tls`] says which).
#[derive(Debug, Clone, Copy)]
pub struct Stream<'a> {
    pub transport: Transport,
    pub name: &'a str,
}

/// What the daemon takes out of a connection.
pub enum Frame<'a> {
    /// A whole SIP message, to parse in place; then [`Tcp::consume`] it.
    Message {
        peer: Addr,
        side: Side,
        transport: Transport,
        data: &'a mut [u8],
    },
    /// Nothing (more) whole; `true`: the socket may have more to read.
    Idle(bool),
    /// The connection is gone (and counted).
    Closed,
}

/// Whole messages that never went out: what a connection that never came
/// up was to carry, or one that would have overfilled a backlog.
pub struct Unsent {
    pub peer: Addr,
    pub side: Side,
    pub transport: Transport,
    /// The status line to answer them with ([`crate::transport::failed`]).
    pub status: &'static str,
    pub bytes: Vec<u8>,
}

/// A socket read, as a TLS session's reads are reported.
#[cfg(feature = "tls")]
pub(super) use crate::driver::tls::Got;

/// What one read gave (without TLS: the socket's own).
#[cfg(not(feature = "tls"))]
pub(super) enum Got {
    Data(usize),
    Blocked,
    Eof,
    Failed(&'static str),
}

pub(super) fn read_plain(sock: &mut TcpStream, buf: &mut [u8]) -> Got {
    loop {
        return match sock.read(buf) {
            Ok(0) => Got::Eof,
            Ok(n) => Got::Data(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Got::Blocked,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => Got::Failed("read-error"),
        };
    }
}

/// The status line the messages of a connection that never came up are
/// answered with: a TLS peer whose identity could not be checked makes
/// sipnat unable to serve the request (503, RFC 3261 §21.5.4; the issue's
/// "never a fallback to plain text"); any other failure is the next hop's
/// ([`crate::transport::failed::STATUS`]).
pub(super) fn unsent_status(transport: Transport, why: &str) -> &'static str {
    if !cfg!(feature = "tls") {
        return crate::transport::failed::STATUS;
    }
    match (transport, why) {
        (Transport::Tls, "cert-rejected") => {
            "SIP/2.0 503 Service Unavailable (TLS: certificate rejected)"
        }
        (Transport::Tls, "no-connection-to-phone") => {
            "SIP/2.0 480 Temporarily Unavailable (the phone's TLS connection is gone)"
        }
        (Transport::Tls, "handshake-failed" | "alert-received" | "bad-record" | "bad-name") => {
            "SIP/2.0 503 Service Unavailable (TLS handshake failed)"
        }
        _ => crate::transport::failed::STATUS,
    }
}
