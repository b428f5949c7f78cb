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
//!   are listed with a dump filtered by mark, deleted by tuple, flushed by
//!   mark at start and stop. A NAT binding lives in its conntrack entry,
//!   not in the table: deleting an element alone would leave the flow
//!   forwarded until the entry times out.
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

/// The ct-mark bit sipnat's rules set on the conntrack entries they make.
pub const MARK: u32 = 0x2000_0000;

/// The longest wait for the kernel's answer.
const ANSWER: u32 = 200_000;
/// Requests and answers: a dump comes in pieces of at most
/// NLMSG_GOODSIZE (≤ 8 KiB) or the largest read buffer offered, this one.
const BUF: usize = 8192;

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
const CT_GET: u16 = CTNL | 1;
const CT_DELETE: u16 = CTNL | 2;

// Attributes used in several messages: NFTA_*_TABLE, NFTA_LIST_ELEM,
// NFTA_DATA_VALUE are all 1.
const A1: u16 = 1;

// ctnetlink attributes
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_MARK: u16 = 8;
const CTA_COUNTERS_ORIG: u16 = 9;
const CTA_COUNTERS_REPLY: u16 = 10;
const CTA_MARK_MASK: u16 = 21;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_COUNTERS_PACKETS: u16 = 1;

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

    /// Every conntrack entry carrying [`MARK`], handed to `each`.
    pub fn flows(&mut self, each: &mut dyn FnMut(Flow)) -> io::Result<()> {
        let r = self.w(false).marked_dump();
        self.exchange(
            r,
            Some(&mut |msg: &[u8]| {
                if let Some(f) = flow(msg) {
                    each(f);
                }
            }),
        )
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

    /// Send the request written in the buffer and read the answers: one
    /// ack (or error) per message that asked for one, or, for a dump,
    /// every message up to NLMSG_DONE, each handed to `dump` (its payload
    /// after the nfgenmsg header). The first error ends it; the message it
    /// answers is noted in `failed`.
    fn exchange(&mut self, r: Req, mut dump: Dump<'_>) -> io::Result<()> {
        self.seq = r.last;
        let fd = self.fd.as_raw_fd();
        let b = &mut self.buf;
        // SAFETY: the buffer holds the request's `r.n` bytes.
        let sent = unsafe { libc::send(fd, b.as_ptr().cast(), r.n, 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut acks = r.acks;
        while acks > 0 {
            // SAFETY: the buffer is writable for its length. MSG_TRUNC
            // makes the call return the real length of a longer message.
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
            let Some(answer) = b.get(..got as usize) else {
                return Err(io::ErrorKind::InvalidData.into()); // cut short
            };
            for (ty, seq, payload) in Messages(answer) {
                let k = seq.wrapping_sub(r.first);
                if k > r.last.wrapping_sub(r.first) {
                    continue; // a late answer to an earlier request
                }
                match ty {
                    NLMSG_ERROR => {
                        acks -= 1;
                        let code = payload
                            .get(..4)
                            .map_or(0, |c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
                        if code != 0 {
                            // The rest (if any) is skipped as late answers:
                            // a batch refused as a whole answers only once.
                            self.failed = k;
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                    }
                    NLMSG_DONE => acks -= 1,
                    _ => {
                        if let (Some(f), Some(p)) = (dump.as_mut(), payload.get(4..)) {
                            f(p);
                        }
                    }
                }
                if acks == 0 {
                    break;
                }
            }
        }
        Ok(())
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

/// The writer of netlink messages: each gets the next sequence number;
/// every request here is far shorter than the buffer, so no write can
/// overrun it. Const, for [`START`].
struct W<'a> {
    b: &'a mut [u8],
    r: Req,
    batch: bool,
}

impl<'a> W<'a> {
    /// Start a request after sequence number `seq`; an nf_tables one is a
    /// batch.
    const fn new(b: &'a mut [u8], seq: u32, batch: bool) -> W<'a> {
        let first = seq.wrapping_add(1);
        let mut w = W {
            b,
            r: Req {
                n: 0,
                first,
                last: seq,
                acks: 0,
            },
            batch,
        };
        if batch {
            let at = w.header(BATCH_BEGIN, 0, 0, NFTABLES);
            w.end_msg(at);
        }
        w
    }

    /// The request written (a batch closed).
    const fn done(mut self) -> Req {
        if self.batch {
            let at = self.header(BATCH_END, 0, 0, NFTABLES);
            self.end_msg(at);
        }
        self.r
    }

    /// Start an nf_tables message (IPv4 table) that asks for an ack.
    const fn msg(&mut self, ty: u16, flags: u16) -> usize {
        self.r.acks += 1;
        self.header(ty, flags | F_ACK, AF_INET, 0)
    }

    /// Start a ctnetlink message (IPv4) that asks for an answer: a dump,
    /// or else an ack.
    const fn ct_msg(&mut self, ty: u16, dump: bool) -> usize {
        self.r.acks += 1;
        let flags = if dump { F_DUMP } else { F_ACK };
        self.header(ty, flags, AF_INET, 0)
    }

    /// nlmsghdr (its length written by `end_msg`) and nfgenmsg.
    const fn header(&mut self, ty: u16, flags: u16, family: u8, res_id: u16) -> usize {
        let at = self.r.n;
        self.r.last = self.r.last.wrapping_add(1);
        let [t0, t1] = ty.to_ne_bytes();
        let [f0, f1] = (flags | F_REQUEST).to_ne_bytes();
        let [s0, s1, s2, s3] = self.r.last.to_ne_bytes();
        let [r0, r1] = res_id.to_be_bytes();
        #[rustfmt::skip]
        self.put(at, &[
            0, 0, 0, 0, t0, t1, f0, f1, s0, s1, s2, s3, 0, 0, 0, 0, // nlmsghdr
            family, 0, r0, r1, // nfgenmsg: version 0
        ]);
        self.r.n = at + 20;
        at
    }

    const fn end_msg(&mut self, at: usize) {
        let len = (self.r.n - at) as u32;
        self.put(at, &len.to_ne_bytes());
    }

    const fn put(&mut self, at: usize, v: &[u8]) {
        let mut i = 0;
        while i < v.len() {
            self.b[at + i] = v[i];
            i += 1;
        }
    }

    /// An attribute, padded to 4 bytes.
    const fn attr(&mut self, ty: u16, v: &[u8]) {
        let at = self.r.n;
        let len = 4 + v.len();
        let [l0, l1] = (len as u16).to_ne_bytes();
        let [t0, t1] = ty.to_ne_bytes();
        self.put(at, &[l0, l1, t0, t1]);
        self.put(at + 4, v);
        let mut end = at + len;
        while end % 4 != 0 {
            self.b[end] = 0;
            end += 1;
        }
        self.r.n = end;
    }

    /// A big-endian u32 attribute (nf_tables' NLA_U32 are network order).
    const fn u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_be_bytes());
    }

    const fn nest(&mut self, ty: u16) -> usize {
        let at = self.r.n;
        self.attr(ty | NLA_F_NESTED, &[]);
        at
    }

    const fn end(&mut self, at: usize) {
        let len = (self.r.n - at) as u16;
        self.put(at, &len.to_ne_bytes());
    }

    /// A nested NFTA_DATA_VALUE (`ty` { 1: v }).
    const fn data(&mut self, ty: u16, v: &[u8]) {
        let d = self.nest(ty);
        self.attr(A1, v);
        self.end(d);
    }

    /// One expression of a rule: NFTA_LIST_ELEM { NAME, DATA { ... } };
    /// `end_expr` closes it.
    const fn expr(&mut self, name: &[u8]) -> [usize; 2] {
        let e = self.nest(A1);
        self.attr(1, name); // NFTA_EXPR_NAME
        [e, self.nest(2)] // NFTA_EXPR_DATA
    }

    const fn end_expr(&mut self, e: [usize; 2]) {
        self.end(e[1]);
        self.end(e[0]);
    }

    /// cmp eq reg `sreg` `v`.
    const fn cmp(&mut self, sreg: u32, v: &[u8]) {
        let e = self.expr(b"cmp\0");
        self.u32(1, sreg); // NFTA_CMP_SREG
        self.u32(2, 0); // NFTA_CMP_OP: NFT_CMP_EQ
        self.data(3, v); // NFTA_CMP_DATA
        self.end_expr(e);
    }

    /// meta l4proto udp.
    const fn udp(&mut self) {
        let e = self.expr(b"meta\0");
        self.u32(2, 16); // NFTA_META_KEY: NFT_META_L4PROTO
        self.u32(1, REG_1); // NFTA_META_DREG
        self.end_expr(e);
        self.cmp(REG_1, &[UDP]);
    }

    /// payload load `len` bytes at `base` + `offset` into `dreg`.
    const fn payload(&mut self, dreg: u32, base: u32, offset: u32, len: u32) {
        let e = self.expr(b"payload\0");
        self.u32(1, dreg); // NFTA_PAYLOAD_DREG
        self.u32(2, base); // NFTA_PAYLOAD_BASE: 1 network, 2 transport
        self.u32(3, offset); // NFTA_PAYLOAD_OFFSET
        self.u32(4, len); // NFTA_PAYLOAD_LEN
        self.end_expr(e);
    }

    /// ct load `key` into `reg` (original direction, when asked), or, with
    /// `set`, ct set `key` from `reg`.
    const fn ct(&mut self, key: u32, reg: u32, set: bool, original: bool) {
        let e = self.expr(b"ct\0");
        self.u32(2, key); // NFTA_CT_KEY
        self.u32(if set { 4 } else { 1 }, reg); // NFTA_CT_SREG, NFTA_CT_DREG
        if original {
            self.attr(3, &[0]); // NFTA_CT_DIRECTION: IP_CT_DIR_ORIGINAL
        }
        self.end_expr(e);
    }

    /// reg = (reg & mask) ^ xor, on the ct mark (a host-order u32).
    const fn bitwise(&mut self, reg: u32, mask: u32, xor: u32) {
        let e = self.expr(b"bitwise\0");
        self.u32(1, reg); // NFTA_BITWISE_SREG
        self.u32(2, reg); // NFTA_BITWISE_DREG
        self.u32(6, 0); // NFTA_BITWISE_OP: NFT_BITWISE_BOOL
        self.u32(3, 4); // NFTA_BITWISE_LEN
        self.data(4, &mask.to_ne_bytes()); // NFTA_BITWISE_MASK
        self.data(5, &xor.to_ne_bytes()); // NFTA_BITWISE_XOR
        self.end_expr(e);
    }

    /// A base chain of type nat, policy accept.
    const fn chain(&mut self, name: &[u8], hook: u32, priority: i32) {
        let at = self.msg(NEWCHAIN, F_CREATE);
        self.attr(1, TABLE); // NFTA_CHAIN_TABLE
        self.attr(3, name); // NFTA_CHAIN_NAME
        self.attr(7, b"nat\0"); // NFTA_CHAIN_TYPE
        self.u32(5, 1); // NFTA_CHAIN_POLICY: NF_ACCEPT
        let h = self.nest(4); // NFTA_CHAIN_HOOK
        self.u32(1, hook); // NFTA_HOOK_HOOKNUM
        self.u32(2, priority as u32); // NFTA_HOOK_PRIORITY
        self.end(h);
        self.end_msg(at);
    }

    /// A rule appended to `chain`: returns the message and the list to
    /// close with `end_rule`.
    const fn rule(&mut self, chain: &[u8]) -> [usize; 2] {
        let at = self.msg(NEWRULE, F_CREATE | F_APPEND);
        self.attr(1, TABLE); // NFTA_RULE_TABLE
        self.attr(2, chain); // NFTA_RULE_CHAIN
        [at, self.nest(4)] // NFTA_RULE_EXPRESSIONS
    }

    const fn end_rule(&mut self, r: [usize; 2]) {
        self.end(r[1]);
        self.end_msg(r[0]);
    }

    /// Add or delete (`ty`) the map elements of one channel: `which` 1 is
    /// (a, port) → b, 2 is (b, port) → a, 3 both.
    fn elements(mut self, ty: u16, port: u16, a: SocketAddrV4, b: SocketAddrV4, which: u8) -> Req {
        let at = self.msg(ty, if ty == NEWSETELEM { F_CREATE } else { 0 });
        self.attr(1, TABLE); // NFTA_SET_ELEM_LIST_TABLE
        self.attr(2, MAP); // NFTA_SET_ELEM_LIST_SET
        let list = self.nest(3); // NFTA_SET_ELEM_LIST_ELEMENTS
        for (bit, from, to) in [(1, a, b), (2, b, a)] {
            if which & bit == 0 {
                continue;
            }
            let e = self.nest(A1);
            // Ports are padded to 4 bytes, as in the registers.
            let mut key = [0; 12];
            key[..8].copy_from_slice(&addr_port(from));
            key[8..10].copy_from_slice(&port.to_be_bytes());
            self.data(1, &key); // NFTA_SET_ELEM_KEY
            if ty == NEWSETELEM {
                self.data(2, &addr_port(to)); // NFTA_SET_ELEM_DATA
            }
            self.end(e);
        }
        self.end(list);
        self.end_msg(at);
        self.done()
    }

    /// CTA_MARK and CTA_MARK_MASK: the entries carrying [`MARK`].
    fn mark_filter(&mut self) {
        self.u32(CTA_MARK, MARK);
        self.u32(CTA_MARK_MASK, MARK);
    }

    /// A dump of the conntrack entries carrying [`MARK`].
    fn marked_dump(mut self) -> Req {
        let at = self.ct_msg(CT_GET, true);
        self.mark_filter();
        self.end_msg(at);
        self.done()
    }

    /// Delete the UDP conntrack entry holding the tuple src → dst.
    fn ct_delete(mut self, src: SocketAddrV4, dst: SocketAddrV4) -> Req {
        let at = self.ct_msg(CT_DELETE, false);
        let t = self.nest(CTA_TUPLE_ORIG);
        let ip = self.nest(CTA_TUPLE_IP);
        self.attr(1, &src.ip().octets()); // CTA_IP_V4_SRC
        self.attr(2, &dst.ip().octets()); // CTA_IP_V4_DST
        self.end(ip);
        let p = self.nest(CTA_TUPLE_PROTO);
        self.attr(1, &[UDP]); // CTA_PROTO_NUM
        self.attr(2, &src.port().to_be_bytes()); // CTA_PROTO_SRC_PORT
        self.attr(3, &dst.port().to_be_bytes()); // CTA_PROTO_DST_PORT
        self.end(p);
        self.end(t);
        self.end_msg(at);
        self.done()
    }
}

/// The batch that replaces whatever table an earlier run left with a
/// fresh one (adding it first makes the delete succeed either way), after
/// sequence number 0.
const fn start_batch(b: &mut [u8]) -> Req {
    let mut w = W::new(b, 0, true);
    let tables = [NEWTABLE, DELTABLE, NEWTABLE];
    let mut i = 0;
    while i < tables.len() {
        let at = w.msg(tables[i], 0);
        w.attr(1, TABLE); // NFTA_TABLE_NAME
        w.u32(2, 0); // NFTA_TABLE_FLAGS
        w.end_msg(at);
        i += 1;
    }
    w.chain(b"prerouting\0", 0, -110); // NF_INET_PRE_ROUTING
    w.chain(b"postrouting\0", 4, 90); // NF_INET_POST_ROUTING

    let at = w.msg(NEWSET, F_CREATE);
    w.attr(1, TABLE); // NFTA_SET_TABLE
    w.attr(2, MAP); // NFTA_SET_NAME
    w.u32(3, 8); // NFTA_SET_FLAGS: NFT_SET_MAP
    // nft's concatenated types: each type shifted in by 6 bits;
    // ipv4_addr 7, inet_service 13.
    w.u32(4, (7 << 12) | (13 << 6) | 13); // NFTA_SET_KEY_TYPE
    w.u32(5, 12); // NFTA_SET_KEY_LEN: 4 + 4 + 4 (ports padded)
    w.u32(6, (7 << 6) | 13); // NFTA_SET_DATA_TYPE
    w.u32(7, 8); // NFTA_SET_DATA_LEN
    w.u32(10, MAP_ID); // NFTA_SET_ID
    w.end_msg(at);

    // prerouting: a local UDP destination whose saddr . sport . dport is
    // in the map: mark the conntrack entry, DNAT to the map's data.
    let r = w.rule(b"prerouting\0");
    w.udp();
    let e = w.expr(b"fib\0");
    w.u32(3, 2); // NFTA_FIB_FLAGS: NFTA_FIB_F_DADDR
    w.u32(2, 3); // NFTA_FIB_RESULT: NFT_FIB_RESULT_ADDRTYPE
    w.u32(1, REG_1); // NFTA_FIB_DREG
    w.end_expr(e);
    w.cmp(REG_1, &2u32.to_ne_bytes()); // RTN_LOCAL
    w.payload(REG_1, 1, 12, 4); // ip saddr
    w.payload(REG32_01, 2, 0, 2); // udp sport
    w.payload(REG32_02, 2, 2, 2); // udp dport
    let e = w.expr(b"lookup\0");
    w.u32(2, REG_1); // NFTA_LOOKUP_SREG
    w.u32(3, REG_1); // NFTA_LOOKUP_DREG
    w.attr(1, MAP); // NFTA_LOOKUP_SET
    w.u32(4, MAP_ID); // NFTA_LOOKUP_SET_ID
    w.end_expr(e);
    w.ct(3, REG_2, false, false); // NFT_CT_MARK
    w.bitwise(REG_2, !MARK, MARK);
    w.ct(3, REG_2, true, false);
    let e = w.expr(b"nat\0");
    w.u32(1, 1); // NFTA_NAT_TYPE: NFT_NAT_DNAT
    w.u32(2, AF_INET as u32); // NFTA_NAT_FAMILY
    w.u32(3, REG_1); // NFTA_NAT_REG_ADDR_MIN
    w.u32(5, REG32_01); // NFTA_NAT_REG_PROTO_MIN
    w.end_expr(e);
    w.end_rule(r);

    // postrouting: a marked entry's first packet leaves from the router's
    // address on the way out, port = the relay port.
    let r = w.rule(b"postrouting\0");
    w.udp();
    w.ct(3, REG_1, false, false);
    w.bitwise(REG_1, MARK, 0);
    w.cmp(REG_1, &MARK.to_ne_bytes());
    w.ct(12, REG_1, false, true); // NFT_CT_PROTO_DST
    let e = w.expr(b"masq\0");
    w.u32(1, 2); // NFTA_MASQ_FLAGS: NF_NAT_RANGE_PROTO_SPECIFIED
    w.u32(2, REG_1); // NFTA_MASQ_REG_PROTO_MIN
    w.end_expr(e);
    w.end_rule(r);
    w.done()
}

/// An address and port as the map holds them: 4 bytes, 2, 2 of padding.
fn addr_port(a: SocketAddrV4) -> [u8; 8] {
    let [x, y, z, w] = a.ip().octets();
    let [p, q] = a.port().to_be_bytes();
    [x, y, z, w, p, q, 0, 0]
}

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

/// A conntrack entry of a dump (its attributes) as a [`Flow`].
fn flow(msg: &[u8]) -> Option<Flow> {
    let (from, to) = attr(msg, CTA_TUPLE_ORIG).and_then(tuple)?;
    let count = |ty| attr(attr(msg, ty)?, CTA_COUNTERS_PACKETS).map(be);
    let packets = match (count(CTA_COUNTERS_ORIG), count(CTA_COUNTERS_REPLY)) {
        (None, None) => None,
        (o, r) => Some(o.unwrap_or(0) + r.unwrap_or(0)),
    };
    Some(Flow {
        port: to.port(),
        from,
        packets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // An independent writer of the expected bytes, one call per line of
    // what `nft --debug=mnl` prints (its transcripts below: nftables 1.0.6,
    // captured on x86_64; attribute headers and the host-order values
    // (`ne`) are written in this machine's order, so the tests hold on
    // big-endian MIPS too).
    fn a(ty: u16, v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(4 + v.len() as u16).to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(v);
        out.resize((out.len() + 3) & !3, 0);
        out
    }
    fn u(ty: u16, v: u32) -> Vec<u8> {
        a(ty, &v.to_be_bytes())
    }
    fn s(ty: u16, v: &str) -> Vec<u8> {
        a(ty, &[v.as_bytes(), &[0]].concat())
    }
    fn n(ty: u16, kids: Vec<Vec<u8>>) -> Vec<u8> {
        a(ty | NLA_F_NESTED, &kids.concat())
    }
    fn ne(v: u32) -> [u8; 4] {
        v.to_ne_bytes()
    }
    fn expr(name: &str, kids: Vec<Vec<u8>>) -> Vec<u8> {
        n(1, vec![s(1, name), n(2, kids)])
    }

    /// The messages of a request: (type, flags, nfgenmsg, attributes).
    fn messages(mut b: &[u8]) -> Vec<(u16, u16, [u8; 4], Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let len = u32::from_ne_bytes(b[..4].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes([b[4], b[5]]);
            let flags = u16::from_ne_bytes([b[6], b[7]]);
            out.push((
                ty,
                flags,
                b[16..20].try_into().unwrap(),
                b[20..len].to_vec(),
            ));
            b = &b[len..];
        }
        out
    }

    const INET: [u8; 4] = [2, 0, 0, 0];
    const BATCH: [u8; 4] = [0, 0, 0, 10];

    fn meta_udp() -> [Vec<u8>; 2] {
        [
            expr("meta", vec![u(2, 16), u(1, 1)]),
            expr("cmp", vec![u(1, 1), u(2, 0), n(3, vec![a(1, &[0x11])])]),
        ]
    }

    #[test]
    fn start_batch_is_what_nft_sends_for_the_same_ruleset() {
        let got = messages(&START);
        let table = [s(1, "sipnat"), u(2, 0)].concat();
        let chain = |name, hook, prio: i32| {
            [
                s(1, "sipnat"),
                s(3, name),
                s(7, "nat"),
                u(5, 1),
                n(4, vec![u(1, hook), u(2, prio as u32)]),
            ]
            .concat()
        };
        // nft's NFTA_SET_USERDATA (13: how nft prints the types) left out:
        // `nft list` shows the map the same without it.
        let set = [
            s(1, "sipnat"),
            s(2, "streams"),
            u(3, 8),
            u(4, 29517),
            u(5, 12),
            u(6, 461),
            u(7, 8),
            u(10, 1),
        ]
        .concat();
        let [meta, cmp] = meta_udp();
        // nft's prerouting rule for `meta l4proto udp fib daddr type local
        // ct mark set ct mark | 0x20000000 dnat ip to ip saddr . udp sport .
        // udp dport map @streams`: its three ct expressions (mark first, in
        // reg 1) come here after the lookup, in reg 2.
        let ct_mark = [
            expr("ct", vec![u(2, 3), u(1, 2)]),
            expr(
                "bitwise",
                vec![
                    u(1, 2),
                    u(2, 2),
                    u(6, 0),
                    u(3, 4),
                    n(4, vec![a(1, &ne(0xdfff_ffff))]),
                    n(5, vec![a(1, &ne(0x2000_0000))]),
                ],
            ),
            expr("ct", vec![u(2, 3), u(4, 2)]),
        ];
        let prerouting = [
            s(1, "sipnat"),
            s(2, "prerouting"),
            n(
                4,
                [
                    vec![
                        meta.clone(),
                        cmp.clone(),
                        expr("fib", vec![u(3, 2), u(2, 3), u(1, 1)]),
                        expr("cmp", vec![u(1, 1), u(2, 0), n(3, vec![a(1, &ne(2))])]),
                        expr("payload", vec![u(1, 1), u(2, 1), u(3, 12), u(4, 4)]),
                        expr("payload", vec![u(1, 9), u(2, 2), u(3, 0), u(4, 2)]),
                        expr("payload", vec![u(1, 10), u(2, 2), u(3, 2), u(4, 2)]),
                        expr("lookup", vec![u(2, 1), u(3, 1), s(1, "streams"), u(4, 1)]),
                    ],
                    ct_mark.to_vec(),
                    vec![expr("nat", vec![u(1, 1), u(2, 2), u(3, 1), u(5, 9)])],
                ]
                .concat(),
            ),
        ]
        .concat();
        // Exactly nft's.
        let postrouting = [
            s(1, "sipnat"),
            s(2, "postrouting"),
            n(
                4,
                vec![
                    meta,
                    cmp,
                    expr("ct", vec![u(2, 3), u(1, 1)]),
                    expr(
                        "bitwise",
                        vec![
                            u(1, 1),
                            u(2, 1),
                            u(6, 0),
                            u(3, 4),
                            n(4, vec![a(1, &ne(0x2000_0000))]),
                            n(5, vec![a(1, &ne(0))]),
                        ],
                    ),
                    expr(
                        "cmp",
                        vec![u(1, 1), u(2, 0), n(3, vec![a(1, &ne(0x2000_0000))])],
                    ),
                    expr("ct", vec![u(2, 12), u(1, 1), a(3, &[0])]),
                    expr("masq", vec![u(1, 2), u(2, 1)]),
                ],
            ),
        ]
        .concat();
        // nft's flags, and an ack asked for each message.
        let (r, ack, cr, ap) = (F_REQUEST, F_ACK, F_CREATE, F_APPEND);
        let want = [
            (0x10, r, BATCH, vec![]),
            (0xa00, r | ack, INET, table.clone()),
            (0xa02, r | ack, INET, table.clone()),
            (0xa00, r | ack, INET, table),
            (0xa03, r | cr | ack, INET, chain("prerouting", 0, -110)),
            (0xa03, r | cr | ack, INET, chain("postrouting", 4, 90)),
            (0xa09, r | cr | ack, INET, set),
            (0xa06, r | cr | ap | ack, INET, prerouting),
            (0xa06, r | cr | ap | ack, INET, postrouting),
            (0x11, r, BATCH, vec![]),
        ];
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "message {i}");
        }
        // Numbered 1 (the batch's header) to 10, eight acks asked for;
        // each message's error names its part.
        let r = START_REQ;
        assert_eq!((r.n, r.first, r.last, r.acks), (START.len(), 1, 10, 8));
        assert_eq!(START_PARTS.len(), 9);
        assert_eq!(
            (START_PARTS[0], START_PARTS[8]),
            ("batch", "postrouting rule")
        );
    }

    #[test]
    fn elements_are_what_nft_sends_for_add_element() {
        let (phone, prov) = (
            "10.77.1.2:4000".parse().unwrap(),
            "203.0.113.2:5000".parse().unwrap(),
        );
        let mut buf = [0; BUF];
        // nft add element ip sipnat streams
        //   { 10.77.1.2 . 4000 . 20000 : 203.0.113.2 . 5000 }
        // (nft adds NFTA_SET_ELEM_LIST_SET_ID, not needed for a map that
        // exists)
        let key = [0x0a, 0x4d, 0x01, 0x02, 0x0f, 0xa0, 0, 0, 0x4e, 0x20, 0, 0];
        let data = [0xcb, 0x00, 0x71, 0x02, 0x13, 0x88, 0, 0];
        let one = n(1, vec![n(1, vec![a(1, &key)]), n(2, vec![a(1, &data)])]);
        let list = |elems: Vec<Vec<u8>>| [s(1, "sipnat"), s(2, "streams"), n(3, elems)].concat();
        let r = W::new(&mut buf, 0, true).elements(NEWSETELEM, 20000, phone, prov, 1);
        let got = messages(&buf[..r.n]);
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].0, got[2].0), (0x10, 0x11));
        assert_eq!(
            got[1],
            (
                0xa0c,
                F_REQUEST | F_CREATE | F_ACK,
                INET,
                list(vec![one.clone()])
            )
        );

        // Both directions in one message; the other one's key and data
        // swapped.
        let r = W::new(&mut buf, 0, true).elements(NEWSETELEM, 20000, phone, prov, 3);
        let key2 = [0xcb, 0x00, 0x71, 0x02, 0x13, 0x88, 0, 0, 0x4e, 0x20, 0, 0];
        let data2 = [0x0a, 0x4d, 0x01, 0x02, 0x0f, 0xa0, 0, 0];
        let two = n(1, vec![n(1, vec![a(1, &key2)]), n(2, vec![a(1, &data2)])]);
        assert_eq!(messages(&buf[..r.n])[1].3, list(vec![one, two]));

        // Deleting: the keys alone.
        let r = W::new(&mut buf, 6, true).elements(DELSETELEM, 20000, phone, prov, 2);
        let got = messages(&buf[..r.n]);
        assert_eq!(
            got[1],
            (
                0xa0e,
                F_REQUEST | F_ACK,
                INET,
                list(vec![n(1, vec![n(1, vec![a(1, &key2)])])])
            )
        );
        assert_eq!((r.first, r.last, r.acks), (7, 9, 1));
    }

    #[test]
    fn conntrack_requests_are_ctnetlinks() {
        let mut buf = [0; BUF];
        // What `conntrack -L -m 0x20000000/0x20000000` sends (for every
        // family; this one asks for IPv4).
        let r = W::new(&mut buf, 0, false).marked_dump();
        let mark = [u(8, MARK), u(21, MARK)].concat();
        assert_eq!(
            messages(&buf[..r.n]),
            [(0x101, F_REQUEST | F_DUMP, INET, mark.clone())]
        );
        // The flush (FastPath::flush).
        let mut w = W::new(&mut buf, 0, false);
        let at = w.ct_msg(CT_DELETE, false);
        w.mark_filter();
        w.end_msg(at);
        let r = w.done();
        assert_eq!(
            messages(&buf[..r.n]),
            [(0x102, F_REQUEST | F_ACK, INET, mark)]
        );
        // The original tuple as `conntrack -D` sends it.
        let r = W::new(&mut buf, 2, false).ct_delete(
            "10.77.1.2:4000".parse().unwrap(),
            "10.77.1.1:20000".parse().unwrap(),
        );
        let tuple = n(
            1,
            vec![
                n(1, vec![a(1, &[10, 77, 1, 2]), a(2, &[10, 77, 1, 1])]),
                n(
                    2,
                    vec![a(1, &[17]), a(2, &[0x0f, 0xa0]), a(3, &[0x4e, 0x20])],
                ),
            ],
        );
        assert_eq!(
            messages(&buf[..r.n]),
            [(0x102, F_REQUEST | F_ACK, INET, tuple)]
        );
        // Sequence numbers go on from the one given.
        assert_eq!((r.first, r.last, r.acks), (3, 3, 1));
    }

    /// A conntrack entry as the kernel dumped it (the provider sent first
    /// to relay port 20002; accounting on: one packet each way).
    fn dumped() -> Vec<u8> {
        let t = |src: [u8; 4], dst: [u8; 4], sp: [u8; 2], dp: [u8; 2]| {
            vec![
                n(1, vec![a(1, &src), a(2, &dst)]),
                n(2, vec![a(1, &[17]), a(2, &sp), a(3, &dp)]),
            ]
        };
        let count = |p: u8, b: u8| {
            n(
                9,
                vec![
                    a(1, &[0, 0, 0, 0, 0, 0, 0, p]),
                    a(2, &[0, 0, 0, 0, 0, 0, 0, b]),
                ],
            )
        };
        [
            INET.to_vec(),
            n(
                1,
                t(
                    [203, 0, 113, 2],
                    [203, 0, 113, 1],
                    [0x13, 0x88],
                    [0x4e, 0x22],
                ),
            ),
            n(
                2,
                t([10, 77, 1, 2], [10, 77, 1, 1], [0x0f, 0xa0], [0x4e, 0x22]),
            ),
            u(3, 442),
            a(8, &[0x20, 0, 0, 0]),
            a(12, &[0xf9, 0xba, 0x15, 0x80]),
            u(11, 1),
            u(7, 30),
            count(1, 30),
            {
                let mut r = count(1, 30);
                r[2..4].copy_from_slice(&(NLA_F_NESTED | 10).to_ne_bytes());
                r
            },
        ]
        .concat()
    }

    #[test]
    fn a_dumped_entry_is_read_as_a_flow() {
        let msg = dumped();
        let f = flow(&msg[4..]).expect("a flow");
        assert_eq!(
            f,
            Flow {
                port: 20002,
                from: "203.0.113.2:5000".parse().unwrap(),
                packets: Some(2)
            }
        );
        // Without accounting: no counters.
        let cut = msg.len() - 2 * 28;
        assert_eq!(flow(&msg[4..cut]).unwrap().packets, None);
        // Cut short anywhere: never a panic; no flow without a whole
        // original tuple.
        for end in 4..msg.len() {
            let _ = flow(&msg[4..end]);
        }
        assert_eq!(flow(&msg[4..40]), None);
        assert_eq!(flow(&[]), None);
    }

    #[test]
    fn answers_are_split_into_messages() {
        // An ack (error 0), an error (-ENOENT) and NLMSG_DONE, as one read
        // may hold them.
        let header = |len: u32, ty: u16, seq: u32| {
            [
                &len.to_ne_bytes()[..],
                &ty.to_ne_bytes(),
                &[0, 0],
                &seq.to_ne_bytes(),
                &[0; 4],
            ]
            .concat()
        };
        let b = [
            header(36, NLMSG_ERROR, 7),
            0i32.to_ne_bytes().to_vec(),
            header(16, 0, 7),
            header(20, NLMSG_ERROR, 8),
            (-libc::ENOENT).to_ne_bytes().to_vec(),
            header(20, NLMSG_DONE, 9),
            vec![0; 4],
        ]
        .concat();
        let got: Vec<(u16, u32, usize)> = Messages(&b).map(|(t, s, p)| (t, s, p.len())).collect();
        assert_eq!(
            got,
            [
                (NLMSG_ERROR, 7, 20),
                (NLMSG_ERROR, 8, 4),
                (NLMSG_DONE, 9, 4)
            ]
        );
        // A length past the end, or shorter than a header: the rest is
        // dropped, never read out of bounds.
        let mut bad = b.clone();
        bad[36..40].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(Messages(&bad).count(), 1);
        bad[36..40].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(Messages(&bad).count(), 1);
        assert_eq!(Attrs(&[5, 0, 1]).count(), 0);
        assert_eq!(Attrs(&a(1, &[7])).collect::<Vec<_>>(), [(1, &[7u8][..])]);
    }
}
