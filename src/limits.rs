//! Every capacity of sipnat, in one place, with what it costs in memory.
//!
//! Tables are fixed-capacity (`heapless`); when one is full, *new* work is
//! refused (a SIP request gets `503 Service Unavailable` with `Retry-After`)
//! and nothing already in the table is evicted (DESIGN.md, house rule 6).

/// Largest SIP datagram sipnat reads or writes. RFC 3261 §18.1.1 keeps UDP
/// requests under the path MTU unless they are large; 8 KiB fits every message
/// of RFC 4475 (the longest is 3.5 KB) with room for SDP with video.
pub const MAX_SIP_MESSAGE: usize = 8192;

/// Header lines one message may carry (a fixed index of byte ranges kept
/// on the stack while a message is handled, about 64 × 56 bytes).
pub const MAX_HEADERS: usize = 64;

/// Registrations (AOR → phone contact) sipnat keeps. Each entry is 376
/// bytes on x86_64 (the URIs are stored inline), so 512 entries ≈ 188 KB.
pub const MAX_REGISTRATIONS: usize = 512;

/// Bindings one source host (one IPv4 address, or one IPv6 /64:
/// [`crate::net::SourceKey`]) may hold in the registration
/// table, pending ones included: an eighth of it. An honest host needs far
/// fewer (a phone has a few lines; a small office's Asterisk box registers
/// its trunks and maybe a few dozen extensions from one address), while a
/// host that registers without end (a bug, a scanner, a compromised
/// device) used to fill the whole table, after which every new phone got
/// 503. Now it fills its own share and gets the 503 itself; the other
/// hosts still find room. Both registration modes count (forwarded to a
/// provider, and sipnat as the registrar).
pub const MAX_REGISTRATIONS_PER_HOST: usize = MAX_REGISTRATIONS / 8;

/// Longest expiry, in seconds, sipnat grants as a registrar itself
/// (REGISTERs addressed to sipnat; RFC 3261 §10.3 step 7 lets a registrar
/// shorten the expiry asked for). One hour, siproxd's `default_expires`:
/// phones refresh long before, and a binding whose phone is gone (or that
/// was never a phone) holds its slot at most this long, not a day.
pub const MAX_LOCAL_EXPIRES: u32 = 3600;

/// Longest URI or header value sipnat stores in a table entry.
pub const MAX_STORED_URI: usize = 160;

// There is no transaction table: the LAN Vias of a request going out are
// sealed into sipnat's own branch and come back with every response
// (`proxy::branch`, at most `proxy::branch::MAX_SEALED_VIAS` bytes of them),
// so call setups per second cost no memory and have no table to fill.

/// Requests parked while the DNS resolver answers for their destination;
/// each holds a full datagram, so 8 × 8 KiB = 64 KiB of address space,
/// allocated zeroed and resident only as far as requests have been parked
/// (none while sipnat is idle).
pub const MAX_PARKED: usize = 8;
/// Of those, how many work that came from the WAN may hold: the rest is kept
/// for the LAN, so WAN traffic can never keep a phone's own request from
/// being resolved.
pub const MAX_PARKED_WAN: usize = MAX_PARKED / 4;

/// DNS cache entries (name → address, with TTL; at most 640 bytes each,
/// the name stored inline, 30 KB in all) and queries in flight (at most
/// 460 bytes each, 5.5 KB, plus one UDP socket per query in the driver
/// while it waits: RFC 5452 §9.2). Sized for lookups of both address
/// families, which hold two entries per name (A and AAAA) and start two
/// queries at once (RFC 8305 §3). Both tables are boxed apart from the
/// resolver; the cache's pages are touched only as it fills.
pub const MAX_DNS_CACHE: usize = 48;
pub const MAX_DNS_PENDING: usize = 12;
/// Of the [`MAX_DNS_PENDING`] queries in flight, how many may work for the
/// WAN (a name a WAN message supplied): a quarter, at least one. The rest is
/// the LAN's, so WAN traffic cannot starve a phone's lookups (issue 9). No
/// memory of its own: it is a count over the pending table.
pub const MAX_DNS_PENDING_WAN: usize = if MAX_DNS_PENDING / 4 > 1 {
    MAX_DNS_PENDING / 4
} else {
    1
};
/// Longest host name the resolver handles (RFC 1035 §2.3.4: 255 octets).
pub const MAX_DNS_NAME: usize = 255;

/// Host-name entries one access list (`hosts_allow_reg`, `hosts_allow_sip`,
/// `hosts_deny_sip`) may hold; one more is a configuration error with its
/// line. About 140 bytes each, on the heap, for a list that has names.
pub const MAX_ACL_NAMES: usize = 8;
/// Longest host name an access list takes: siproxd's `HOSTNAME_SIZE` (128);
/// a longer one is a configuration error with its line.
pub const MAX_ACL_NAME_LEN: usize = 128;
/// Distinct access-list names the core keeps resolved ([`crate::dns::watch`]):
/// every name of the three lists fits, so the table is never full. About
/// 160 bytes each (the name inline), 3.8 KB in all.
pub const MAX_WATCHED_NAMES: usize = 3 * MAX_ACL_NAMES;
/// How many access-list names may have queries in flight at once to keep
/// them fresh (one query each, two when both address families are asked:
/// at most 4 of the [`MAX_DNS_PENDING`]), so a reload with many names
/// never takes the table the phones' lookups need.
pub const MAX_WATCH_PENDING: usize = 2;

/// Datagrams the core may emit for one input (a forward plus answers, or the
/// parked requests released by one DNS answer) and the bytes they may use.
/// The outbox's 64 KiB are allocated zeroed and written from the start for
/// each input, so only as much is resident as the largest output has used
/// (a page or two for a REGISTER).
pub const MAX_TRANSMITS: usize = 16;
pub const OUTBOX_BYTES: usize = 64 * 1024;

/// Datagrams the driver reads from one socket before it serves the others
/// (DESIGN.md rule 9: bound the work per socket per pass).
pub const MAX_READS_PER_WAKEUP: usize = 64;

/// Calls with relayed media sipnat tracks at once (each holds up to
/// [`MAX_STREAMS_PER_CALL`] relay streams, indexed by `m=` line); about 390
/// bytes each (100 of them the two [`MAX_STATUS_URI`] URIs `sipnat status`
/// shows), so 1024 take about 400 KB, touched only as calls fill them.
pub const MAX_CALLS: usize = 1024;

/// Longest dialog tag sipnat stores (From tag of the caller).
pub const MAX_TAG: usize = 64;

/// How much of a call's From and To URIs sipnat keeps for `sipnat status`
/// (a longer URI is shown cut, at a character boundary).
pub const MAX_STATUS_URI: usize = 48;

/// SIP-over-TCP connections at once (siproxd keeps 64 too). Each holds a
/// receive buffer of [`MAX_SIP_MESSAGE`] bytes, allocated when the
/// connection opens and touched only as far as messages fill it, and a
/// send backlog in the driver of at most [`MAX_TCP_BACKLOG`] bytes.
pub const MAX_TCP_CONNECTIONS: usize = 64;
/// Of those, how many connections accepted from the WAN may hold: the rest
/// stays for the LAN's phones and for the connections sipnat opens itself.
pub const MAX_TCP_WAN_INBOUND: usize = MAX_TCP_CONNECTIONS / 4;
/// Connections one WAN host may have open to sipnat.
pub const MAX_TCP_PER_WAN_HOST: usize = 4;
/// Connections one LAN host may have open to sipnat (a PBX with several
/// accounts may use one each).
pub const MAX_TCP_PER_LAN_HOST: usize = 16;
/// Bytes waiting to be written on one connection whose peer does not read:
/// beyond that the connection is closed (a peer that never reads cannot
/// hold sipnat's memory).
pub const MAX_TCP_BACKLOG: usize = 32 * 1024;

const _: () = assert!(MAX_TCP_CONNECTIONS <= u16::MAX as usize);

/// Relay streams one call may hold: audio and video, plus two more for the
/// rare third and fourth `m=` line (T.38 `image` beside audio, RFC 3362;
/// real-time `text`, RFC 4103; a second camera). Further `m=` lines are
/// rejected in the rewritten SDP (port 0, RFC 3264 §6) instead of relayed.
pub const MAX_STREAMS_PER_CALL: usize = 4;

/// Relay streams at once, whatever the port range (siproxd has no such
/// option, so it is derived): the relay's capacity is
/// `min(MAX_STREAMS, pairs in rtp_port_low..rtp_port_high)`, two for each
/// call of [`MAX_CALLS`] (audio and video). Each stream slot is at most
/// [`crate::relay::SLOT_BYTES`] bytes plus 4 of pool state, reserved at
/// start (about 1.7 MB of address space) and touched only when a port pair
/// is first bound for it, so memory follows the most pairs ever bound at
/// once, never the range. The sockets of a pair exist only while it is a
/// spare or carries a stream ([`crate::relay`], "Ports").
pub const MAX_STREAMS: usize = 2 * MAX_CALLS;

/// Port pairs kept bound and free, ready for the next streams: the relay
/// rewrites an SDP while it handles a message, so the port must be open
/// before. The driver tops them up after every message; 8 covers one call
/// with [`MAX_STREAMS_PER_CALL`] streams twice over, or the audio of every
/// request [`MAX_PARKED`] releases at once. Each pair is two UDP sockets
/// of the kernel's (about 2 KB each, not sipnat's memory).
pub const SPARE_PAIRS: usize = 8;

/// Port operations (binds tried, pairs closed) the driver does per pass of
/// its loop before it serves the sockets again (DESIGN.md rule 9).
pub const MAX_PORT_OPS: usize = 64;

const _: () = assert!(MAX_STREAMS <= u16::MAX as usize && SPARE_PAIRS <= MAX_STREAMS);

/// Of the relay pool, WAN-originated calls may never take the last
/// `max(LAN_RESERVE_MIN, pool / LAN_RESERVE_DIVISOR)` streams: they are kept
/// for calls the LAN's own phones make or answer first (with siproxd's
/// default 7070–7089, 10 streams: 2 are kept, WAN calls share 8).
pub const LAN_RESERVE_DIVISOR: usize = 4;
pub const LAN_RESERVE_MIN: usize = 2;

/// Streams the calls one WAN source originated may hold together:
/// `max(WAN_SOURCE_MIN, wan_share / WAN_SOURCE_DIVISOR)` (4 with the default
/// pool: one call with every stream it may have, or four audio calls).
pub const WAN_SOURCE_DIVISOR: usize = 4;
pub const WAN_SOURCE_MIN: usize = 4;

/// WAN sources whose INVITE rate sipnat follows (a token bucket each, 80
/// bytes on x86_64; 64 entries ≈ 5 KB). When full, the entry idle longest makes
/// room.
pub const MAX_RATE_SOURCES: usize = 64;

/// Packets the relay holds for legs it cannot send to yet (module doc of
/// [`crate::relay`], "Hold"), shared by every stream: each buffer is
/// [`HOLD_BYTES`] plus about 40 bytes, so 32 take about 42 KB of address
/// space; the 40 KiB of bytes are allocated zeroed, resident only once
/// packets have been held.
pub const HOLD_PACKETS: usize = 32;
/// Of those, how many one stream may hold (8 packets = 160 ms of 20 ms
/// audio); the oldest goes first.
pub const HOLD_PER_STREAM: usize = 8;
/// Largest packet held (RTP audio is ~200 bytes; video packetizers stay
/// below ~1200 bytes); a larger one toward a leg with no destination is
/// dropped.
pub const HOLD_BYTES: usize = 1280;

/// Users the digest password file ([`crate::auth::pwfile`]) may name. Each
/// entry keeps the user name inline and its HA1 for MD5 and SHA-256 (about
/// 180 bytes), so 64 users ≈ 12 KB, on the heap and only with
/// authentication on. A file naming more is refused at load, with the line
/// that overflowed.
pub const MAX_AUTH_USERS: usize = 64;
/// Longest user name and longest password in the password file: siproxd
/// reads each line with `sscanf("%127s %127s")`. sipnat refuses a longer
/// word (naming the line) rather than cutting it short.
pub const MAX_AUTH_WORD: usize = 127;
/// Longest value of one parameter of a `Proxy-Authorization` header (RFC
/// 3261 §22.4) and longest realm: a digest URI, a nonce or a user name far
/// longer than this is not from an honest phone, and the credentials are
/// refused.
pub const MAX_AUTH_VALUE: usize = 256;
/// Parameters one `Proxy-Authorization` value may carry (the ten of RFC 7616
/// §3.4 plus room for extensions); a longer list is refused.
pub const MAX_AUTH_PARAMS: usize = 24;
/// Nonces whose highest nonce-count (RFC 7616 §3.4.5) sipnat remembers, about
/// 16 bytes each (256 ≈ 4 KB). When full, the entry issued longest ago goes
/// and a watermark makes every nonce issued up to then answer "stale", so an
/// eviction never reopens a replay ([`crate::auth::nonce::NonceCounts`]).
pub const MAX_AUTH_NONCES: usize = 256;
/// Clients (source address, user) with failed authentications on record
/// for the blacklist (siproxd's `plugin_blacklist`, [`crate::proxy::blacklist`]);
/// 40 bytes each on x86_64.
pub const MAX_BLACKLIST: usize = 128;
/// Of those, how many one source host (an IPv4 address, or an IPv6 /64)
/// may hold.
pub const MAX_BLACKLIST_PER_HOST: usize = 8;

/// Clients of the control socket at once (`sipnat status`, the rpcd
/// plugin): each holds its answer (a few KB, at most about 0.5 MB with
/// every table full) only while it reads it.
pub const MAX_CONTROL_CLIENTS: usize = 4;
