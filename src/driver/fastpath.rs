//! The kernel side of the in-kernel RTP fast path (issue 15): an nftables
//! table that forwards a latched stream with DNAT + masquerade, so the
//! kernel (and OpenWrt's flow offloading) carries it instead of sipnat's
//! relay sockets. This module only talks to the kernel; when to hand a
//! stream over and when to take it back is the core's decision.
//!
//! Two nfnetlink subsystems over one `NETLINK_NETFILTER` socket, the
//! messages written by hand (no libmnl):
//! - nf_tables: one atomic batch makes the table (below), one adds or
//!   removes the two map elements of a channel;
//! - ctnetlink: the conntrack entries the rules made carry [`MARK`]; they
//!   are read back by tuple ([`FastPath::read`]: a batch of GET requests in
//!   one send, never a dump, which would walk the kernel's whole conntrack
//!   table), deleted by tuple, flushed by mark at start and stop. A NAT
//!   binding lives in its conntrack entry, not in the table: deleting an
//!   element alone would leave the flow forwarded until the entry times
//!   out.
//!
//! ```text
//! table ip sipnat {
//!   map streams { type ipv4_addr . inet_service . inet_service : ipv4_addr . inet_service; }
//!   chain prerouting { type nat hook prerouting priority -110; policy accept;
//!     meta l4proto udp fib daddr type local
//!     <ip saddr . udp sport . udp dport looked up in @streams, data into regs>
//!     ct mark set ct mark | 0x20000000 dnat ip to <the address . port found> }
//!   chain postrouting { type nat hook postrouting priority 90; policy accept;
//!     meta l4proto udp ct mark & 0x20000000 == 0x20000000 masquerade to :ct original proto-dst }
//! }
//! ```
//! The lookup comes before the mark (the nft CLI would put the mark first
//! and mark every local UDP conntrack entry): only streams in the map are
//! marked, so only they are masqueraded, each to its relay port. The map
//! holds both directions of a channel: (a, port) → b and (b, port) → a;
//! whichever leg sends first makes the conntrack entry, whose reply
//! direction then carries the other leg.
//!
//! Every request is answered while it is sent (nfnetlink processes it in
//! the `send` call); the answers are read with a short receive timeout,
//! so a kernel that does not answer costs at most [`ANSWER`], never a
//! hang of the loop. One buffer, allocated at [`FastPath::start`], serves
//! every request and answer.

use super::sys;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};

mod write;
use write::{W, start_batch};

/// The ct-mark bit sipnat's rules set on the conntrack entries they make.
pub const MARK: u32 = 0x2000_0000;

/// The longest wait for the kernel's answer.
const ANSWER: u32 = 200_000;
/// Requests and answers: a dump comes in pieces of at most
/// NLMSG_GOODSIZE (≤ 8 KiB) or the largest read buffer offered, this one.
const BUF: usize = 8192;

/// The most conntrack entries one [`FastPath::read`] asks for (the driver
/// reads no more in one pass of its loop). 64 GET requests of
/// [`GET_BYTES`] are 4,608 bytes, one send from the one buffer; their
/// answers (an entry, about 300 bytes, or an error) wait in the socket's
/// receive queue until read, about 1 KiB of it each once the kernel
/// trimmed them: 64 KiB, well within the 208 KiB default (`rmem_default`),
/// so none is lost to an overrun. The kernel's work is 64 hash lookups,
/// whatever the size of its table.
pub const READS: usize = 64;
/// One GET request: nlmsghdr, nfgenmsg and the original tuple.
const GET_BYTES: usize = 72;
const _: () = assert!(READS * GET_BYTES <= BUF && READS <= u8::MAX as usize + 1);

// netlink (linux/netlink.h)
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const F_REQUEST: u16 = 1;
const F_ACK: u16 = 4;
const F_DUMP: u16 = 0x300;
const F_CREATE: u16 = 0x400;
const F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;

// nfnetlink (linux/netfilter/nfnetlink.h): message type = subsystem << 8 | type
const BATCH_BEGIN: u16 = 16;
const BATCH_END: u16 = 17;
const NFTABLES: u16 = 10;
const NFT: u16 = NFTABLES << 8;
const CTNL: u16 = 1 << 8;
const AF_INET: u8 = 2; // NFPROTO_IPV4 too

// nf_tables messages (linux/netfilter/nf_tables.h)
const NEWTABLE: u16 = NFT;
const DELTABLE: u16 = NFT | 2;
const NEWCHAIN: u16 = NFT | 3;
const NEWRULE: u16 = NFT | 6;
const NEWSET: u16 = NFT | 9;
const NEWSETELEM: u16 = NFT | 12;
const DELSETELEM: u16 = NFT | 14;
// ctnetlink messages (linux/netfilter/nfnetlink_conntrack.h)
const CT_NEW: u16 = CTNL;
const CT_GET: u16 = CTNL | 1;
const CT_DELETE: u16 = CTNL | 2;

// Attributes used in several messages: NFTA_*_TABLE, NFTA_LIST_ELEM,
// NFTA_DATA_VALUE are all 1.
const A1: u16 = 1;

// ctnetlink attributes
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_STATUS: u16 = 3;
const CTA_MARK: u16 = 8;
const CTA_COUNTERS_ORIG: u16 = 9;
const CTA_COUNTERS_REPLY: u16 = 10;
const CTA_MARK_MASK: u16 = 21;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_COUNTERS_PACKETS: u16 = 1;
// conntrack status bits (linux/netfilter/nf_conntrack_common.h): a
// flowtable carries the flow (IPS_OFFLOAD), in hardware (IPS_HW_OFFLOAD).
const IPS_OFFLOAD: u64 = 1 << 14;
const IPS_HW_OFFLOAD: u64 = 1 << 15;

const TABLE: &[u8] = b"sipnat\0";
const MAP: &[u8] = b"streams\0";
/// NFTA_SET_ID: names the map to the rule in the same batch.
const MAP_ID: u32 = 1;
const UDP: u8 = 17;

// Registers: NFT_REG_1 is the 16-byte register made of the 4-byte
// NFT_REG32_00..03 (8..11): the lookup's key (address, sport, dport) and
// data (address, port) sit there. NFT_REG_2 (= NFT_REG32_04..) holds the
// ct mark meanwhile. The numbers nft uses, so the bytes match its own.
const REG_1: u32 = 1;
const REG_2: u32 = 2;
const REG32_01: u32 = 9;
const REG32_02: u32 = 10;

/// What the start batch's messages make, for the error text (the batch's
/// own header: its commit).
const START_PARTS: [&str; 9] = [
    "batch",
    "table",
    "table",
    "table",
    "prerouting chain",
    "postrouting chain",
    "map",
    "prerouting rule",
    "postrouting rule",
];

/// One conntrack entry the fast path forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// The relay port (the original direction's destination port).
    pub port: u16,
    /// The original direction's source: the leg that sent first.
    pub from: SocketAddrV4,
    /// Packets both ways, when conntrack accounting is on
    /// (`net.netfilter.nf_conntrack_acct`).
    pub packets: Option<u64>,
    /// A flowtable carries the flow (OpenWrt's flow offloading: the entry
    /// shows `[OFFLOAD]` or `[HW_OFFLOAD]`): its packets skip conntrack,
    /// and are counted only if the flowtable has `counter`.
    pub offloaded: bool,
}

/// A flow to read back ([`FastPath::read`]): the tuples its conntrack
/// entry holds, one per direction (a leg's address → the router's address
/// on that leg's side, the relay port: the original direction of the leg
/// that sent first, the reply direction of the other's); None where the
/// router's address on that side is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe(pub [Option<(SocketAddrV4, SocketAddrV4)>; 2]);

impl Probe {
    /// The tuples of the channel on relay port `port` between legs `a`
    /// and `b`, each with the router's address on its side (if known).
    pub fn new(port: u16, legs: [(SocketAddrV4, Option<Ipv4Addr>); 2]) -> Probe {
        Probe(legs.map(|(peer, near)| near.map(|ip| (peer, SocketAddrV4::new(ip, port)))))
    }
}

/// The nfnetlink socket and its buffer.
pub struct FastPath {
    fd: OwnedFd,
    /// Requests and answers ([`BUF`] bytes).
    buf: Box<[u8]>,
    /// The last sequence number used.
    seq: u32,
    /// The message of the last request (counted from its first) that an
    /// error answered.
    failed: u32,
}

impl FastPath {
    /// Open the netlink socket, remove what an earlier run left (the table,
    /// and every conntrack entry carrying [`MARK`]), create the table
    /// afresh. Err(text) says why the kernel cannot (no nf_tables, no
    /// nat/fib/masq expression, no CAP_NET_ADMIN ...).
    pub fn start() -> Result<FastPath, String> {
        let mut fp = Self::open().map_err(|e| format!("no nfnetlink socket: {e}"))?;
        // The batch was written at compile time, numbered from 1 on.
        fp.buf[..START.len()].copy_from_slice(&START);
        let (what, r) = match fp.exchange(START_REQ, None) {
            Ok(()) => ("conntrack flush", fp.flush()),
            Err(e) => (START_PARTS[fp.failed as usize % START_PARTS.len()], Err(e)),
        };
        let Err(e) = r else {
            return Ok(fp);
        };
        let hint = match e.raw_os_error() {
            Some(libc::EPERM) => " (needs CAP_NET_ADMIN)",
            // An expression or subsystem the kernel lacks (OpenWrt's names).
            Some(libc::ENOENT | libc::EOPNOTSUPP) => {
                " (kmod-nft-nat, kmod-nft-fib or kmod-nf-conntrack-netlink missing?)"
            }
            _ => "",
        };
        Err(format!("the kernel refused the {what}: {e}{hint}"))
    }

    /// The socket, with its receive timeout.
    fn open() -> io::Result<FastPath> {
        let fd = sys::netlink_socket(libc::NETLINK_NETFILTER, 0, false)?;
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: ANSWER as _,
        };
        // SAFETY: fd is an open socket; `tv` is a timeval that lives
        // across the call.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FastPath {
            fd,
            buf: vec![0; BUF].into_boxed_slice(),
            seq: 0,
            failed: 0,
        })
    }

    /// A writer of the next request.
    fn w(&mut self, batch: bool) -> W<'_> {
        W::new(&mut self.buf, self.seq, batch)
    }

    /// Add both directions of one channel of a stream, atomically:
    /// (a, port) → b and (b, port) → a. A key already there with other
    /// data is refused (EEXIST): remove it first.
    pub fn add(&mut self, port: u16, a: SocketAddrV4, b: SocketAddrV4) -> io::Result<()> {
        let r = self.w(true).elements(NEWSETELEM, port, a, b, 3);
        self.exchange(r, None)
    }

    /// Remove both elements (missing ones are not an error), then delete
    /// the conntrack entry the kernel forwards the flow with. `near` is the
    /// router's address on a's side and on b's, when known: the entry then
    /// holds the tuple a → near[0]:port (its original direction when a sent
    /// first, its reply direction when b did) and is deleted by that tuple,
    /// one request whatever the size of the table. Otherwise (or when that
    /// finds none) the marked entries are dumped and those whose original
    /// direction came from a or b to `port` deleted: a walk of the whole
    /// conntrack table in the kernel.
    pub fn remove(
        &mut self,
        port: u16,
        a: SocketAddrV4,
        b: SocketAddrV4,
        near: [Option<Ipv4Addr>; 2],
    ) -> io::Result<()> {
        // One element missing aborts the batch: one at a time then.
        for which in [3, 1, 2] {
            let r = self.w(true).elements(DELSETELEM, port, a, b, which);
            match self.exchange(r, None) {
                Err(e) if !is_enoent(&e) => return Err(e),
                Ok(()) if which == 3 => break,
                _ => {}
            }
        }
        for (peer, ip) in [a, b].into_iter().zip(near) {
            if let Some(ip) = ip {
                if self.forget(peer, SocketAddrV4::new(ip, port))? {
                    return Ok(());
                }
            }
        }
        // At most a few entries (one per leg that sent first, normally one).
        let mut doomed = [None; 4];
        let mut n = 0;
        let r = self.w(false).marked_dump();
        self.exchange(
            r,
            Some(&mut |msg: &[u8]| {
                let Some((src, dst)) = attr(msg, CTA_TUPLE_ORIG).and_then(tuple) else {
                    return;
                };
                if (src == a || src == b) && dst.port() == port && n < doomed.len() {
                    doomed[n] = Some((src, dst));
                    n += 1;
                }
            }),
        )?;
        for (src, dst) in doomed.into_iter().flatten() {
            self.forget(src, dst)?;
        }
        Ok(())
    }

    /// Delete the conntrack entry holding the tuple src→dst (either
    /// direction): Ok(false) when there is none. A userspace relay's entry
    /// keeps the NAT off its flow (the kernel sees an established flow),
    /// and the WAN leg's entry (router:port → provider) clashes with the
    /// NAT'd entry's reply tuple (its packet is dropped): both legs' entries
    /// must go, and the relay socket must send nothing more to either leg,
    /// or it makes its entry again.
    pub fn forget(&mut self, src: SocketAddrV4, dst: SocketAddrV4) -> io::Result<bool> {
        let r = self.w(false).ct_delete(src, dst);
        match self.exchange(r, None) {
            Ok(()) => Ok(true),
            Err(e) if is_enoent(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Read back the conntrack entries of (up to [`READS`]) flows by
    /// tuple: `each(i, flow)` for each `probes[i]` whose entry is there and
    /// carries [`MARK`]; one not there (ENOENT: it expired, or no packet
    /// made it yet) is not handed on, as a dump would not list it. One
    /// request of GETs by each probe's first tuple, then one by the second
    /// tuple for those not found (the router's address on a side may not
    /// be the one the kernel's NAT chose: a LAN with several networks);
    /// the kernel's work is a hash lookup each, whatever the size of its
    /// conntrack table. Returns how many were found; an error other than
    /// ENOENT ends the reading (what was found is handed on).
    pub fn read(
        &mut self,
        probes: &[Probe],
        each: &mut dyn FnMut(usize, Flow),
    ) -> io::Result<usize> {
        let probes = probes.get(..READS).unwrap_or(probes);
        let mut found = [false; READS];
        let mut n = 0;
        for round in 0..2 {
            // Which probe each GET is for (READS fits a u8).
            let mut asked = [0u8; READS];
            let mut k = 0;
            let mut w = self.w(false);
            for (i, p) in probes.iter().enumerate() {
                let t = match (round, p.0) {
                    (0, [first, second]) => first.or(second),
                    (_, [Some(_), second]) if !found[i] => second,
                    _ => None,
                };
                if let Some((src, dst)) = t {
                    w.ct_get(src, dst);
                    asked[k] = i as u8;
                    k += 1;
                }
            }
            let r = w.done();
            if k == 0 {
                continue;
            }
            self.ask(r, &mut |j, msg| {
                let Some(&i) = asked.get(j as usize) else {
                    return;
                };
                let i = usize::from(i);
                let marked = attr(msg, CTA_MARK).is_some_and(|m| be(m) as u32 & MARK != 0);
                if let (false, true, Some(f)) = (found[i], marked, flow(msg)) {
                    found[i] = true;
                    n += 1;
                    each(i, f);
                }
            })?;
        }
        Ok(n)
    }

    /// Remove the table and every conntrack entry carrying [`MARK`] (at
    /// exit). Failures are logged.
    pub fn stop(&mut self) {
        let mut w = self.w(true);
        let at = w.msg(DELTABLE, 0);
        w.attr(A1, TABLE);
        w.end_msg(at);
        let r = w.done();
        let r = match self.exchange(r, None) {
            Err(e) if !is_enoent(&e) => Err(e),
            _ => self.flush(),
        };
        if let Err(e) = r {
            log::warn!("fast path: cleaning up at exit: {e}");
        }
    }

    /// Delete every conntrack entry carrying [`MARK`].
    fn flush(&mut self) -> io::Result<()> {
        let mut w = self.w(false);
        let at = w.ct_msg(CT_DELETE, false);
        w.mark_filter();
        w.end_msg(at);
        let r = w.done();
        self.exchange(r, None)
    }

    /// Send a request of GETs written in the buffer and read one answer
    /// to each: an entry, handed to `each` (its payload after the nfgenmsg
    /// header), or an error; ENOENT is no error here (no such entry), and
    /// the first other error is returned once every answer is in.
    fn ask(&mut self, r: Req, each: Each<'_>) -> io::Result<()> {
        let mut failed = None;
        self.talk(r, &mut |k, ty, payload| match ty {
            NLMSG_ERROR => {
                let code = error_code(payload);
                if code != 0 && code != -libc::ENOENT && failed.is_none() {
                    failed = Some(io::Error::from_raw_os_error(-code));
                }
                Step::Answered
            }
            CT_NEW => {
                if let Some(p) = payload.get(4..) {
                    each(k, p);
                }
                Step::Answered
            }
            _ => Step::Skip,
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Send the request written in the buffer and read the answers: one
    /// ack (or error) per message that asked for one, or, for a dump,
    /// every message up to NLMSG_DONE, each handed to `dump` (its payload
    /// after the nfgenmsg header). The first error ends it; the message it
    /// answers is noted in `failed`.
    fn exchange(&mut self, r: Req, mut dump: Dump<'_>) -> io::Result<()> {
        let mut failed_at = None;
        let r = self.talk(r, &mut |k, ty, payload| match ty {
            NLMSG_ERROR => match error_code(payload) {
                0 => Step::Answered,
                code => {
                    // The rest (if any) is skipped as late answers: a
                    // batch refused as a whole answers only once.
                    failed_at = Some(k);
                    Step::Fail(io::Error::from_raw_os_error(-code))
                }
            },
            NLMSG_DONE => Step::Answered,
            _ => {
                if let (Some(f), Some(p)) = (dump.as_mut(), payload.get(4..)) {
                    f(p);
                }
                Step::Skip
            }
        });
        if let Some(k) = failed_at {
            self.failed = k;
        }
        r
    }

    /// Send the request written in the buffer and hand each answer to it
    /// (late answers to an earlier request are skipped) to `on`, with its
    /// message's number in the request, its type and its payload, until
    /// `r.acks` answers are in or `on` fails.
    fn talk(&mut self, r: Req, on: Talk<'_>) -> io::Result<()> {
        self.seq = r.last;
        let fd = self.fd.as_raw_fd();
        let b = &mut self.buf;
        // SAFETY: the buffer holds the request's `r.n` bytes.
        let sent = unsafe { libc::send(fd, b.as_ptr().cast(), r.n, 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut left = r.acks;
        while left > 0 {
            let answer = recv(fd, b)?;
            for (ty, seq, payload) in Messages(answer) {
                let k = seq.wrapping_sub(r.first);
                if k > r.last.wrapping_sub(r.first) {
                    continue; // a late answer to an earlier request
                }
                match on(k, ty, payload) {
                    Step::Skip => {}
                    Step::Answered => left = left.saturating_sub(1),
                    Step::Fail(e) => return Err(e),
                }
                if left == 0 {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// What one answer does to the exchange under way ([`FastPath::talk`]).
enum Step {
    /// Not an answer that counts (a dump's entry, another type).
    Skip,
    /// One of the answers waited for.
    Answered,
    /// The end: an error.
    Fail(io::Error),
}

/// What [`FastPath::talk`] hands each answer to.
type Talk<'a> = &'a mut dyn FnMut(u32, u16, &[u8]) -> Step;

/// The error code of an NLMSG_ERROR payload (0: an ack).
fn error_code(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .map_or(0, |c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
}

/// What the answers to a request of GETs are handed to: the message's
/// number in the request (from 0) and the entry's attributes.
type Each<'a> = &'a mut dyn FnMut(u32, &[u8]);

/// The next datagram of answers on `fd`, read into `b` (the whole
/// buffer); TimedOut after [`ANSWER`] without one.
fn recv(fd: libc::c_int, b: &mut [u8]) -> io::Result<&[u8]> {
    loop {
        // SAFETY: the buffer is writable for its length. MSG_TRUNC makes
        // the call return the real length of a longer message.
        let got = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), b.len(), libc::MSG_TRUNC) };
        if got < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                // No answer within ANSWER.
                io::ErrorKind::WouldBlock => return Err(io::ErrorKind::TimedOut.into()),
                _ => return Err(e),
            }
        }
        // Longer than the buffer: cut short.
        return b
            .get(..got as usize)
            .ok_or(io::ErrorKind::InvalidData.into());
    }
}

/// What a dump's messages are handed to (none for a request acked).
type Dump<'a> = Option<&'a mut dyn FnMut(&[u8])>;

fn is_enoent(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}

/// A request written into a buffer: its length, the sequence numbers of
/// its first and last messages, and how many answers to wait for.
#[derive(Clone, Copy)]
struct Req {
    n: usize,
    first: u32,
    last: u32,
    acks: u32,
}

/// The start batch, written at compile time: its bytes are data in the
/// binary, and none of the code writing them is (`W` is const).
const START_REQ: Req = start_batch(&mut [0; BUF]);
const START: [u8; START_REQ.n] = {
    let mut b = [0; START_REQ.n];
    start_batch(&mut b);
    b
};

/// The messages in a netlink answer: (type, sequence number, payload).
struct Messages<'a>(&'a [u8]);

impl<'a> Iterator for Messages<'a> {
    type Item = (u16, u32, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.0;
        let len = b
            .get(..4)
            .map(|l| u32::from_ne_bytes([l[0], l[1], l[2], l[3]]) as usize)?;
        if len < 16 || len > b.len() {
            self.0 = &[];
            return None;
        }
        self.0 = b.get((len + 3) & !3..).unwrap_or(&[]);
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
        Some((ty, seq, &b[16..len]))
    }
}

/// The attributes in `b`: (type without its flag bits, value).
struct Attrs<'a>(&'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.0;
        let len = b
            .get(..2)
            .map(|l| u16::from_ne_bytes([l[0], l[1]]) as usize)?;
        if len < 4 || len > b.len() {
            self.0 = &[];
            return None;
        }
        self.0 = b.get((len + 3) & !3..).unwrap_or(&[]);
        Some((u16::from_ne_bytes([b[2], b[3]]) & 0x3fff, &b[4..len]))
    }
}

/// The value of attribute `ty` in `b`.
fn attr(b: &[u8], ty: u16) -> Option<&[u8]> {
    Attrs(b).find(|a| a.0 == ty).map(|a| a.1)
}

/// A big-endian number of up to 8 bytes.
fn be(v: &[u8]) -> u64 {
    v.iter().take(8).fold(0, |n, &x| n << 8 | u64::from(x))
}

/// (source, destination) of a CTA_TUPLE_* value; ports 0 when it has none.
fn tuple(t: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4)> {
    let ip = attr(t, CTA_TUPLE_IP)?;
    let v4 = |ty| {
        let a: [u8; 4] = attr(ip, ty)?.try_into().ok()?;
        Some(Ipv4Addr::from(a))
    };
    let proto = attr(t, CTA_TUPLE_PROTO).unwrap_or(&[]);
    let port = |ty| attr(proto, ty).map_or(0, be) as u16;
    Some((
        SocketAddrV4::new(v4(1)?, port(2)),
        SocketAddrV4::new(v4(2)?, port(3)),
    ))
}

/// A conntrack entry (its attributes) as a [`Flow`].
fn flow(msg: &[u8]) -> Option<Flow> {
    let (from, to) = attr(msg, CTA_TUPLE_ORIG).and_then(tuple)?;
    let count = |ty| attr(attr(msg, ty)?, CTA_COUNTERS_PACKETS).map(be);
    let packets = match (count(CTA_COUNTERS_ORIG), count(CTA_COUNTERS_REPLY)) {
        (None, None) => None,
        (o, r) => Some(o.unwrap_or(0) + r.unwrap_or(0)),
    };
    let offloaded =
        attr(msg, CTA_STATUS).is_some_and(|s| be(s) & (IPS_OFFLOAD | IPS_HW_OFFLOAD) != 0);
    Some(Flow {
        port: to.port(),
        from,
        packets,
        offloaded,
    })
}

#[cfg(test)]
mod tests;
