//! # sipnat — a SIP/RTP NAT-traversal proxy for home routers
//!
//! Phones on the LAN behind the router's NAT register with outside SIP
//! providers and make and receive calls through sipnat. It rewrites SIP so the
//! WAN side only ever sees the router's public address, and (with the media
//! relay) carries the RTP audio through the NAT.
//!
//! ## Architecture map
//! The protocol logic is a *sans-IO* core: it never touches a socket or reads
//! the clock. One thin driver owns `mio`, the sockets, signals and
//! `Instant::now()`; it feeds the core messages together with `now`, and
//! carries out what the core puts in its [`output::Outbox`].
//!
//! ```text
//!  driver (mio: UDP, TCP, DNS and relay sockets)      ── the only IO
//!    │ SIP message + side + transport   ▲ Outbox: (channel, to, bytes)
//!    ▼                                  │
//!  core::Core ── proxy ── inbound (parse and check once)
//!    │             │        → request (decide) → forward (a typed Plan)
//!    │             │        → write (render the plan; responses too)
//!    │             ├ auth (the 407 door, blacklist), register, contact,
//!    │             ├ calls, answer, park, response
//!    ├ relay (RTP: on_packet → forward, hold or drop; the driver asks it
//!    │        directly for every packet)
//!    ├ dns (resolver)
//!    └ stats
//! ```
//!
//! | module | responsibility |
//! |---|---|
//! | [`limits`] | every capacity constant and its memory cost |
//! | [`core`] | the sans-IO core the driver owns: proxy, relay, resolver and counters side by side |
//! | [`config`] | typed, immutable [`config::Config`]; the siproxd.conf and UCI readers; `check()` |
//! | [`sip`] | SIP message parsing (one pass, no allocation), typed header views, URIs |
//! | [`proxy`] | the SIP core: a message in (with its side and transport), the messages to send out |
//! | [`auth`] | digest authentication, sans-IO: MD5, SHA-256, credentials, keyed nonces and their count table, the password file |
//! | [`transport`] | UDP and TCP as data; stream framing and the TCP connection table, sans-IO |
//! | [`output`] | the [`output::Outbox`] and the bounded writer [`output::Buf`], below `sdp` and `proxy` |
//! | [`dns`] | non-blocking stub resolver (A, AAAA, SRV; IPv6 first on a dual-stack WAN, RFC 8305 §3) driven by the core; the access lists' host names kept resolved on their TTL (`dns::watch`) |
//! | [`regex`] | POSIX extended regular expressions for siproxd's regex, regex_body and siptrunk plugins: a Pike VM, linear in the input |
//! | [`sdp`] | SDP parsing and `c=`/`o=`/`m=` rewriting (RFC 4566, RFC 3264) |
//! | [`relay`] | RTP/RTCP relay table, port pool (pairs bound as streams need them: `maintain` asks the driver), latching and held packets: `on_packet(now, …, bytes)` → forward, hold or drop |
//! | [`side`] | LAN or WAN: decided by the arrival interface |
//! | [`stats`] | counters keyed by reason enums |
//! | [`net`] | addresses of both families in the tables' compact forms: `Addr`, `SourceKey` (quota unit), `Net`, `is_public` |
//! | [`num`] | integer parsing: one copy of std's digit loop for every reader |
//! | [`driver`] | the only code that touches mio, sockets, signals and the clock |
//!
//! ## The time rule
//! Every function of the core that depends on time takes `now: Instant` from
//! its caller. Tests drive the core with a virtual clock: no sleeps, no sockets.

pub mod alloc;
pub mod auth;
pub mod cli;
pub mod config;
pub mod core;
pub mod dns;
pub mod driver;
pub mod limits;
pub mod net;
pub mod num;
pub mod output;
pub mod proxy;
pub mod regex;
pub mod relay;
pub mod sdp;
pub mod side;
pub mod sip;
pub mod stats;
pub mod status;
pub mod transport;

/// Whether the time `at` has come at `now` (`now >= at`). Called, not
/// inlined: an `Instant` is 64-bit seconds and 32-bit nanoseconds, and
/// their comparison is a dozen MIPS32 instructions at each of the many
/// places that ask.
#[inline(never)]
pub fn due(now: &std::time::Instant, at: &std::time::Instant) -> bool {
    now >= at
}
