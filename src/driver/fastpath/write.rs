//! The writer of the fast path's requests (nf_tables batches, ctnetlink
//! requests): [`W`], const so that the start batch is written at compile
//! time ([`start_batch`]). Apart from `fastpath.rs` to keep each file one
//! job: that one talks to the kernel, this one lays out the bytes.

use super::*;

/// The writer of netlink messages: each gets the next sequence number;
/// every request here is far shorter than the buffer, so no write can
/// overrun it. Const, for [`START`].
pub(super) struct W<'a> {
    b: &'a mut [u8],
    r: Req,
    batch: bool,
}

impl<'a> W<'a> {
    /// Start a request after sequence number `seq`; an nf_tables one is a
    /// batch.
    pub(super) const fn new(b: &'a mut [u8], seq: u32, batch: bool) -> W<'a> {
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
    pub(super) const fn done(mut self) -> Req {
        if self.batch {
            let at = self.header(BATCH_END, 0, 0, NFTABLES);
            self.end_msg(at);
        }
        self.r
    }

    /// Start an nf_tables message (IPv4 table) that asks for an ack.
    pub(super) const fn msg(&mut self, ty: u16, flags: u16) -> usize {
        self.r.acks += 1;
        self.header(ty, flags | F_ACK, AF_INET, 0)
    }

    /// Start a ctnetlink message (IPv4) that asks for an answer: a dump,
    /// or else an ack.
    pub(super) const fn ct_msg(&mut self, ty: u16, dump: bool) -> usize {
        self.r.acks += 1;
        let flags = if dump { F_DUMP } else { F_ACK };
        self.header(ty, flags, AF_INET, 0)
    }

    /// nlmsghdr (its length written by `end_msg`) and nfgenmsg.
    pub(super) const fn header(&mut self, ty: u16, flags: u16, family: u8, res_id: u16) -> usize {
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

    pub(super) const fn end_msg(&mut self, at: usize) {
        let len = (self.r.n - at) as u32;
        self.put(at, &len.to_ne_bytes());
    }

    pub(super) const fn put(&mut self, at: usize, v: &[u8]) {
        let mut i = 0;
        while i < v.len() {
            self.b[at + i] = v[i];
            i += 1;
        }
    }

    /// An attribute, padded to 4 bytes.
    pub(super) const fn attr(&mut self, ty: u16, v: &[u8]) {
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
    pub(super) const fn u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_be_bytes());
    }

    pub(super) const fn nest(&mut self, ty: u16) -> usize {
        let at = self.r.n;
        self.attr(ty | NLA_F_NESTED, &[]);
        at
    }

    pub(super) const fn end(&mut self, at: usize) {
        let len = (self.r.n - at) as u16;
        self.put(at, &len.to_ne_bytes());
    }

    /// A nested NFTA_DATA_VALUE (`ty` { 1: v }).
    pub(super) const fn data(&mut self, ty: u16, v: &[u8]) {
        let d = self.nest(ty);
        self.attr(A1, v);
        self.end(d);
    }

    /// One expression of a rule: NFTA_LIST_ELEM { NAME, DATA { ... } };
    /// `end_expr` closes it.
    pub(super) const fn expr(&mut self, name: &[u8]) -> [usize; 2] {
        let e = self.nest(A1);
        self.attr(1, name); // NFTA_EXPR_NAME
        [e, self.nest(2)] // NFTA_EXPR_DATA
    }

    pub(super) const fn end_expr(&mut self, e: [usize; 2]) {
        self.end(e[1]);
        self.end(e[0]);
    }

    /// cmp eq reg `sreg` `v`.
    pub(super) const fn cmp(&mut self, sreg: u32, v: &[u8]) {
        let e = self.expr(b"cmp\0");
        self.u32(1, sreg); // NFTA_CMP_SREG
        self.u32(2, 0); // NFTA_CMP_OP: NFT_CMP_EQ
        self.data(3, v); // NFTA_CMP_DATA
        self.end_expr(e);
    }

    /// meta l4proto udp.
    pub(super) const fn udp(&mut self) {
        let e = self.expr(b"meta\0");
        self.u32(2, 16); // NFTA_META_KEY: NFT_META_L4PROTO
        self.u32(1, REG_1); // NFTA_META_DREG
        self.end_expr(e);
        self.cmp(REG_1, &[UDP]);
    }

    /// payload load `len` bytes at `base` + `offset` into `dreg`.
    pub(super) const fn payload(&mut self, dreg: u32, base: u32, offset: u32, len: u32) {
        let e = self.expr(b"payload\0");
        self.u32(1, dreg); // NFTA_PAYLOAD_DREG
        self.u32(2, base); // NFTA_PAYLOAD_BASE: 1 network, 2 transport
        self.u32(3, offset); // NFTA_PAYLOAD_OFFSET
        self.u32(4, len); // NFTA_PAYLOAD_LEN
        self.end_expr(e);
    }

    /// ct load `key` into `reg` (original direction, when asked), or, with
    /// `set`, ct set `key` from `reg`.
    pub(super) const fn ct(&mut self, key: u32, reg: u32, set: bool, original: bool) {
        let e = self.expr(b"ct\0");
        self.u32(2, key); // NFTA_CT_KEY
        self.u32(if set { 4 } else { 1 }, reg); // NFTA_CT_SREG, NFTA_CT_DREG
        if original {
            self.attr(3, &[0]); // NFTA_CT_DIRECTION: IP_CT_DIR_ORIGINAL
        }
        self.end_expr(e);
    }

    /// reg = (reg & mask) ^ xor, on the ct mark (a host-order u32).
    pub(super) const fn bitwise(&mut self, reg: u32, mask: u32, xor: u32) {
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
    pub(super) const fn chain(&mut self, name: &[u8], hook: u32, priority: i32) {
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
    pub(super) const fn rule(&mut self, chain: &[u8]) -> [usize; 2] {
        let at = self.msg(NEWRULE, F_CREATE | F_APPEND);
        self.attr(1, TABLE); // NFTA_RULE_TABLE
        self.attr(2, chain); // NFTA_RULE_CHAIN
        [at, self.nest(4)] // NFTA_RULE_EXPRESSIONS
    }

    pub(super) const fn end_rule(&mut self, r: [usize; 2]) {
        self.end(r[1]);
        self.end_msg(r[0]);
    }

    /// Add or delete (`ty`) the map elements of one channel: `which` 1 is
    /// (a, port) → b, 2 is (b, port) → a, 3 both.
    pub(super) fn elements(
        mut self,
        ty: u16,
        port: u16,
        a: SocketAddrV4,
        b: SocketAddrV4,
        which: u8,
    ) -> Req {
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
    pub(super) fn mark_filter(&mut self) {
        self.u32(CTA_MARK, MARK);
        self.u32(CTA_MARK_MASK, MARK);
    }

    /// A dump of the conntrack entries carrying [`MARK`].
    pub(super) fn marked_dump(mut self) -> Req {
        let at = self.ct_msg(CT_GET, true);
        self.mark_filter();
        self.end_msg(at);
        self.done()
    }

    /// Delete the UDP conntrack entry holding the tuple src → dst.
    pub(super) fn ct_delete(mut self, src: SocketAddrV4, dst: SocketAddrV4) -> Req {
        self.ct_tuple(CT_DELETE, F_ACK, src, dst);
        self.done()
    }

    /// Ask for the UDP conntrack entry holding the tuple src → dst (as
    /// `conntrack -G` does, without its NLM_F_ACK): answered by the entry
    /// (an IPCTNL_MSG_CT_NEW message) or by an error (ENOENT: none), one
    /// answer either way. Several go in one request.
    pub(super) fn ct_get(&mut self, src: SocketAddrV4, dst: SocketAddrV4) {
        self.ct_tuple(CT_GET, 0, src, dst);
    }

    /// A ctnetlink message naming the UDP tuple src → dst (CTA_TUPLE_ORIG:
    /// the kernel finds the entry holding it in either direction), which
    /// waits for one answer.
    fn ct_tuple(&mut self, ty: u16, flags: u16, src: SocketAddrV4, dst: SocketAddrV4) {
        self.r.acks += 1;
        let at = self.header(ty, flags, AF_INET, 0);
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
    }
}

/// The batch that replaces whatever table an earlier run left with a
/// fresh one (adding it first makes the delete succeed either way), after
/// sequence number 0.
pub(super) const fn start_batch(b: &mut [u8]) -> Req {
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
pub(super) fn addr_port(a: SocketAddrV4) -> [u8; 8] {
    let [x, y, z, w] = a.ip().octets();
    let [p, q] = a.port().to_be_bytes();
    [x, y, z, w, p, q, 0, 0]
}
