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

/// Where the value of CTA_STATUS (type 3, 4 bytes) starts in `msg`.
fn status_at(msg: &[u8]) -> usize {
    let mut at = 4;
    while at + 4 <= msg.len() {
        let len = usize::from(u16::from_ne_bytes([msg[at], msg[at + 1]]));
        let ty = u16::from_ne_bytes([msg[at + 2], msg[at + 3]]) & 0x3fff;
        if ty == 3 {
            return at + 4;
        }
        at += len.div_ceil(4) * 4;
    }
    panic!("no CTA_STATUS");
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
            packets: Some(2),
            offloaded: false,
        }
    );
    // A flowtable carries it (IPS_OFFLOAD, or IPS_HW_OFFLOAD, in CTA_STATUS).
    for bit in [14, 15] {
        let mut m = msg.clone();
        let at = status_at(&m);
        let status = u32::from_be_bytes(m[at..at + 4].try_into().unwrap()) | 1 << bit;
        m[at..at + 4].copy_from_slice(&status.to_be_bytes());
        assert!(flow(&m[4..]).unwrap().offloaded, "bit {bit}");
    }
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

#[test]
fn gets_are_what_conntrack_get_sends_without_its_ack() {
    // `strace -e trace=sendto -xx conntrack -G -p udp -s 10.77.1.2
    // -d 10.77.1.1 --sport 4000 --dport 20000` (conntrack-tools 1.4.7,
    // x86_64): one message of 72 bytes, type 0x101, NLM_F_REQUEST |
    // NLM_F_ACK, nfgenmsg AF_INET, then this original tuple.
    #[rustfmt::skip]
    const CAPTURED: [u8; 52] = [
        0x34, 0x00, 0x01, 0x80,
        0x14, 0x00, 0x01, 0x80, 0x08, 0x00, 0x01, 0x00, 0x0a, 0x4d, 0x01, 0x02,
        0x08, 0x00, 0x02, 0x00, 0x0a, 0x4d, 0x01, 0x01,
        0x1c, 0x00, 0x02, 0x80, 0x05, 0x00, 0x01, 0x00, 0x11, 0x00, 0x00, 0x00,
        0x06, 0x00, 0x02, 0x00, 0x0f, 0xa0, 0x00, 0x00,
        0x06, 0x00, 0x03, 0x00, 0x4e, 0x20, 0x00, 0x00,
    ];
    let tuple = |src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16| {
        n(
            1,
            vec![
                n(1, vec![a(1, &src), a(2, &dst)]),
                n(
                    2,
                    vec![
                        a(1, &[17]),
                        a(2, &sp.to_be_bytes()),
                        a(3, &dp.to_be_bytes()),
                    ],
                ),
            ],
        )
    };
    let mut buf = [0; BUF];
    let mut w = W::new(&mut buf, 4, false);
    w.ct_get(
        "10.77.1.2:4000".parse().unwrap(),
        "10.77.1.1:20000".parse().unwrap(),
    );
    w.ct_get(
        "203.0.113.2:5000".parse().unwrap(),
        "203.0.113.1:20000".parse().unwrap(),
    );
    let r = w.done();
    let first = tuple([10, 77, 1, 2], [10, 77, 1, 1], 4000, 20000);
    if cfg!(target_endian = "little") {
        assert_eq!(first, CAPTURED);
    }
    // No NLM_F_ACK: an entry or an error answers each, never both.
    assert_eq!(
        messages(&buf[..r.n]),
        [
            (0x101, F_REQUEST, INET, first),
            (
                0x101,
                F_REQUEST,
                INET,
                tuple([203, 0, 113, 2], [203, 0, 113, 1], 5000, 20000)
            ),
        ]
    );
    assert_eq!(r.n, 2 * GET_BYTES);
    // Each its own sequence number, one answer each.
    assert_eq!((r.first, r.last, r.acks), (5, 6, 2));
    let seqs: Vec<u32> = Messages(&buf[..r.n]).map(|m| m.1).collect();
    assert_eq!(seqs, [5, 6]);
    // A whole reading's worth fits the buffer.
    let mut w = W::new(&mut buf, 0, false);
    for _ in 0..READS {
        w.ct_get(
            "10.77.1.2:4000".parse().unwrap(),
            "10.77.1.1:20000".parse().unwrap(),
        );
    }
    let r = w.done();
    assert_eq!((r.n, r.acks), (READS * GET_BYTES, READS as u32));
}

/// A FastPath whose socket is one end of a datagram socket pair; the
/// other end (returned) plays the kernel: the answers written to it
/// before a request are what the request reads.
fn fake_kernel() -> (FastPath, OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: socketpair(2) writes two new descriptors into `fds`.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, fds.as_mut_ptr()) };
    assert_eq!(r, 0, "socketpair: {}", io::Error::last_os_error());
    // SAFETY: both are open descriptors nothing else owns.
    let (mine, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl(2) on an open descriptor: no answer never blocks.
    assert_eq!(
        unsafe { libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK) },
        0
    );
    let fp = FastPath {
        fd: mine,
        buf: vec![0; BUF].into_boxed_slice(),
        seq: 0,
        failed: 0,
    };
    (fp, theirs)
}

/// One answer of the fake kernel: a message of type `ty` for `seq`.
fn answer(kernel: &OwnedFd, ty: u16, seq: u32, payload: &[u8]) {
    let mut m = Vec::new();
    m.extend_from_slice(&(16 + payload.len() as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(payload);
    // SAFETY: `m` is readable for its length.
    let sent = unsafe { libc::send(kernel.as_raw_fd(), m.as_ptr().cast(), m.len(), 0) };
    assert_eq!(sent, m.len() as isize);
}

fn error(kernel: &OwnedFd, seq: u32, code: i32) {
    // The error, then the request's header (its first 16 bytes).
    answer(
        kernel,
        NLMSG_ERROR,
        seq,
        &[&code.to_ne_bytes()[..], &[0; 16]].concat(),
    );
}

#[test]
fn a_reading_asks_again_by_the_other_tuple_and_keeps_only_marked_entries() {
    let (mut fp, kernel) = fake_kernel();
    let t = |s: &str, d: &str| Some((s.parse().unwrap(), d.parse().unwrap()));
    let lan = t("10.77.1.2:4000", "10.77.1.1:20002");
    let wan = t("203.0.113.2:5000", "203.0.113.1:20002");
    let probes = [
        Probe([lan, wan]),   // 0: found by its first tuple
        Probe([lan, wan]),   // 1: not by its first, by its second
        Probe([lan, wan]),   // 2: an unmarked entry, then none
        Probe([None, wan]),  // 3: only its second known: found by it
        Probe([None, None]), // 4: nothing known: not asked
        Probe([lan, None]),  // 5: none, no second to ask
    ];
    let entry = dumped();
    let mut unmarked = entry.clone();
    // The CTA_MARK attribute as `dumped` writes it (its header in the
    // host's byte order: the cross-check runs this on big-endian MIPS).
    let mark = a(8, &[0x20, 0, 0, 0]);
    let at = unmarked
        .windows(mark.len())
        .position(|w| w == mark)
        .expect("the mark");
    unmarked[at + 4] = 0;
    // A late answer to an earlier request first (skipped), then round 1:
    // GETs 1..=5 for probes 0, 1, 2, 3, 5; round 2: 6, 7 for 1 and 2.
    answer(&kernel, CT_NEW, 0, &entry);
    answer(&kernel, CT_NEW, 1, &entry);
    error(&kernel, 2, -libc::ENOENT);
    answer(&kernel, CT_NEW, 3, &unmarked);
    answer(&kernel, CT_NEW, 4, &entry);
    error(&kernel, 5, -libc::ENOENT);
    answer(&kernel, CT_NEW, 6, &entry);
    error(&kernel, 7, -libc::ENOENT);
    let mut seen = Vec::new();
    let n = fp
        .read(&probes, &mut |i, f| seen.push((i, f.port, f.packets)))
        .expect("read");
    assert_eq!(n, 3);
    assert_eq!(
        seen,
        [
            (0, 20002, Some(2)),
            (3, 20002, Some(2)),
            (1, 20002, Some(2))
        ]
    );
    assert_eq!(fp.seq, 7);
    // What was asked: 5 GETs, then 2 (the first tuple of 0, the second
    // of 1 ...), as the fake kernel received them.
    let mut got = [0u8; BUF];
    let mut sent = Vec::new();
    // SAFETY: `got` is writable for its length.
    while let n @ 1.. = unsafe {
        libc::recv(
            kernel.as_raw_fd(),
            got.as_mut_ptr().cast(),
            BUF,
            libc::MSG_DONTWAIT,
        )
    } {
        sent.push(
            Messages(&got[..n as usize])
                .map(|m| m.1)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(sent, [vec![1, 2, 3, 4, 5], vec![6, 7]]);

    // Nothing known of any: nothing sent, nothing found.
    assert_eq!(fp.read(&[Probe([None, None])], &mut |_, _| ()).unwrap(), 0);
    assert_eq!(fp.seq, 7);
    // An error other than ENOENT is returned, after what was found.
    answer(&kernel, CT_NEW, 8, &entry);
    error(&kernel, 9, -libc::EPERM);
    let mut seen = 0;
    let r = fp.read(&[Probe([lan, None]); 2], &mut |_, _| seen += 1);
    assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EPERM));
    assert_eq!(seen, 1);
    // No answer: timed out, never a hang.
    let r = fp.read(&[Probe([lan, None])], &mut |_, _| ());
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
}
