use super::*;
use crate::net::Addr;
use std::os::fd::AsRawFd;

#[test]
fn loopback_has_127_0_0_1() {
    let nets = interface_ipv4("lo");
    assert!(
        nets.iter()
            .any(|n| n.addr == Ipv4Addr::LOCALHOST && n.prefix == 8),
        "{nets:?}"
    );
    assert!(interface_ipv4("no-such-if0").is_empty());
    // one dump for several names, a name twice answered twice
    let [a, b, c] = interfaces_ipv4(["lo", "no-such-if0", "lo"]);
    assert_eq!(a, nets);
    assert!(b.is_empty());
    assert_eq!(c, nets);
}

/// `got` is the interface index `want`. On big-endian targets the tests
/// run under qemu-user, which copies an `IP_PKTINFO` control message to
/// the guest without swapping its bytes (it translates only the control
/// messages it knows: linux-user's host_to_target_cmsg), so the index
/// arrives byte-swapped there; a real big-endian kernel writes it in
/// native order, which is how sys.rs reads it.
fn is_index(got: u32, want: u32) -> bool {
    got == want || (cfg!(target_endian = "big") && got == want.swap_bytes())
}

#[test]
fn recv_tells_the_arrival_interface_and_truncation() {
    use std::net::UdpSocket;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let fd = sock.as_raw_fd();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 8];
    // Without the option the interface is unknown (0).
    peer.send_to(b"abc", sock.local_addr().unwrap()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let d = recv_with_ifindex(fd, &mut buf).unwrap();
    assert_eq!((d.len, d.ifindex, d.truncated), (3, 0, false));
    assert_eq!(d.from.ok(), Addr::from_std(peer.local_addr().unwrap()));
    set_pktinfo(fd, Stack::V4).unwrap();
    peer.send_to(b"0123456789", sock.local_addr().unwrap())
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let d = recv_with_ifindex(fd, &mut buf).unwrap();
    assert_eq!((d.len, d.truncated), (8, true));
    assert!(
        is_index(d.ifindex, if_index("lo").unwrap()),
        "{}",
        d.ifindex
    );
    // Nothing left: WouldBlock, not a hang.
    let e = recv_with_ifindex(fd, &mut buf).err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(if_index("no-such-if0"), None);
}

#[test]
fn random_bytes_differ() {
    assert_ne!(random_bytes(), random_bytes());
}

#[test]
fn batch_reads_drains_and_forwards_unchanged() {
    use std::net::UdpSocket;
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    relay.set_nonblocking(true).unwrap();
    set_pktinfo(relay.as_raw_fd(), Stack::V4).unwrap();
    let lo = if_index("lo").expect("loopback has an index");
    let peer_a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_b = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer_b
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let to = relay.local_addr().unwrap();
    let mut batch = Batch::new(Stack::V4);
    // Nothing waiting: 0, no error.
    assert_eq!(batch.recv(relay.as_raw_fd()).unwrap(), 0);
    for p in [&b"one"[..], b"two", b"three"] {
        peer_a.send_to(p, to).unwrap();
    }
    let big = vec![7u8; RELAY_DATAGRAM + 100];
    peer_a.send_to(&big, to).unwrap();
    // A short batch: everything queued was read.
    let n = batch.recv(relay.as_raw_fd()).unwrap();
    assert_eq!(n, 4);
    let a = Addr::from_std(peer_a.local_addr().unwrap()).unwrap();
    let d = batch.get(0).unwrap();
    assert_eq!((d.from, d.data, d.truncated), (a, &b"one"[..], false));
    assert!(is_index(d.ifindex, lo), "arrival interface {}", d.ifindex);
    let d = batch.get(3).unwrap();
    assert!(d.truncated && d.data.len() == RELAY_DATAGRAM);
    assert!(batch.get(4).is_none() || n == BATCH);
    // Forward the first and third to B, from the relay socket.
    let b = Addr::from_std(peer_b.local_addr().unwrap()).unwrap();
    batch.forward(0, b);
    batch.forward(2, b);
    assert_eq!(batch.send(relay.as_raw_fd()), 2);
    let mut buf = [0u8; 64];
    for want in [&b"one"[..], b"three"] {
        let (len, from) = peer_b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], want);
        assert_eq!(from, to);
    }
    assert_eq!(batch.recv(relay.as_raw_fd()).unwrap(), 0);
}

#[test]
fn passwd_lines_give_the_first_well_formed_entry_of_the_user() {
    let text = "root:x:0:0:root:/root:/bin/ash\n\
                sipnat:x:not-a-number:5060::/var:/bin/false\n\
                sipnat:x:5060:5061:SIP NAT proxy:/var:/bin/false\n\
                sipnat:x:1:1::/:/bin/false\n\
                nobody:*:65534:65534:nobody:/var:/bin/false\n\
                short:x:7\n";
    assert_eq!(passwd_ids(text, "root"), Some((0, 0)));
    assert_eq!(passwd_ids(text, "sipnat"), Some((5060, 5061)));
    assert_eq!(passwd_ids(text, "nobody"), Some((65534, 65534)));
    assert_eq!(passwd_ids(text, "short"), None);
    assert_eq!(passwd_ids(text, "sip"), None);
    assert_eq!(passwd_ids(text, ""), None);
    assert_eq!(passwd_ids("", "root"), None);
}

#[test]
fn the_users_of_this_machine_are_found() {
    // Every machine that runs the tests has root in /etc/passwd.
    assert_eq!(user_ids("root"), Some((0, 0)));
    assert_eq!(user_ids("no-such-user-sipnat-test"), None);
}

/// `n` datagrams read from `fd` (non-blocking), waiting up to 2 s.
fn read_some(fd: std::os::fd::RawFd, n: usize) -> Vec<(Vec<u8>, Option<Addr>, u32)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while out.len() < n {
        match recv_with_ifindex(fd, &mut buf) {
            Ok(d) => out.push((buf[..d.len].to_vec(), d.from.ok(), d.ifindex)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(std::time::Instant::now() < end, "only {out:?}");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("{e}"),
        }
    }
    out
}

/// One dual-stack socket takes IPv4 and IPv6: the IPv4 datagram arrives as
/// an IPv4 address (not `::ffff:127.0.0.1`) with loopback's index from
/// `IPV6_PKTINFO`, the IPv6 one as IPv6; the relay's batch reads them the
/// same way and sends to both families from that socket.
#[cfg(feature = "ipv6")]
#[test]
fn a_dual_stack_socket_reads_ipv4_as_ipv4_and_ipv6_as_ipv6() {
    use std::net::UdpSocket;
    let lo = if_index("lo").expect("loopback has an index");
    let sock = udp_socket(Stack::Dual, 0, true).unwrap();
    let port = sock.local_addr().unwrap().port();
    assert_eq!(
        sock.local_addr().unwrap(),
        format!("[::]:{port}").parse().unwrap()
    );
    let fd = sock.as_raw_fd();
    let p4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let p6 = UdpSocket::bind("[::1]:0").unwrap();
    let (a4, a6) = (
        Addr::from_std(p4.local_addr().unwrap()).unwrap(),
        Addr::from_std(p6.local_addr().unwrap()).unwrap(),
    );
    assert!(matches!(a6, Addr::V6(..)));
    p4.send_to(b"four", ("127.0.0.1", port)).unwrap();
    p6.send_to(b"six", ("::1", port)).unwrap();
    let got = read_some(fd, 2);
    for (data, from, ifindex) in &got {
        let want = if data == b"four" { a4 } else { a6 };
        assert_eq!(*from, Some(want), "{}", String::from_utf8_lossy(data));
        assert!(is_index(*ifindex, lo), "arrival interface {ifindex}");
    }
    assert!(matches!(got[0].1, Some(Addr::V4(_))) || matches!(got[1].1, Some(Addr::V4(_))));

    // The relay's path: recvmmsg, then sendmmsg to either family.
    let mut batch = Batch::new(Stack::Dual);
    p4.send_to(b"rtp4", ("127.0.0.1", port)).unwrap();
    p6.send_to(b"rtp6", ("::1", port)).unwrap();
    let mut seen = Vec::new();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while seen.len() < 2 && std::time::Instant::now() < end {
        let n = batch.recv(fd).unwrap();
        for k in 0..n {
            let d = batch.get(k).unwrap();
            assert!(is_index(d.ifindex, lo), "arrival interface {}", d.ifindex);
            seen.push((d.data.to_vec(), d.from));
            // Back to where it came from.
            batch.forward(k, d.from);
        }
        assert_eq!(batch.send(fd), n);
    }
    seen.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(seen, [(b"rtp4".to_vec(), a4), (b"rtp6".to_vec(), a6)]);
    for (peer, want) in [(&p4, &b"rtp4"[..]), (&p6, b"rtp6")] {
        peer.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from.port()), (want, port));
    }
    assert_eq!(
        batch.take_refused(),
        [(Refused::LinkLocal, 0), (Refused::MappedSource, 0)]
    );
}

/// A kernel without IPv6 refuses AF_INET6 sockets (`EAFNOSUPPORT`): the
/// first socket is then AF_INET, says why, and still tells the arrival
/// interface (`IP_PKTINFO`); another error is not taken for that.
#[cfg(feature = "ipv6")]
#[test]
fn without_ipv6_in_the_kernel_the_sockets_are_ipv4() {
    fn no_inet6(domain: libc::c_int, ty: libc::c_int) -> std::io::Result<std::os::fd::OwnedFd> {
        if domain == libc::AF_INET6 {
            return Err(std::io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
        }
        make_socket(domain, ty)
    }
    fn no_files(_: libc::c_int, _: libc::c_int) -> std::io::Result<std::os::fd::OwnedFd> {
        Err(std::io::Error::from_raw_os_error(libc::EMFILE))
    }
    let (sock, stack, why) = first_udp_socket(no_inet6, 0).unwrap();
    assert_eq!(stack, Stack::V4);
    assert_eq!(why.unwrap().raw_os_error(), Some(libc::EAFNOSUPPORT));
    let local = sock.local_addr().unwrap();
    assert!(local.is_ipv4() && local.ip().is_unspecified(), "{local}");
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.send_to(b"x", ("127.0.0.1", local.port())).unwrap();
    let got = read_some(sock.as_raw_fd(), 1);
    assert_eq!(got[0].1, Addr::from_std(peer.local_addr().unwrap()));
    assert!(is_index(got[0].2, if_index("lo").unwrap()), "{}", got[0].2);
    // Not a missing IPv6: the error is the caller's.
    let e = first_udp_socket(no_files, 0).err().unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
    // With IPv6, the dual-stack socket.
    let (sock, stack, why) = first_udp_socket(make_socket, 0).unwrap();
    assert_eq!((stack, why.is_none()), (Stack::Dual, true));
    assert!(sock.local_addr().unwrap().is_ipv6());
}

/// An integer socket option's value.
fn int_option(fd: std::os::fd::RawFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
    let mut v: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` has room for the c_int the kernel writes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    v
}

/// The TOS byte (`IP_TOS`) or traffic class (`IPV6_TCLASS`) of the next
/// datagram on `fd`, from its control message (`IP_RECVTOS` /
/// `IPV6_RECVTCLASS` must be on).
fn received_class(fd: std::os::fd::RawFd) -> Option<u8> {
    let mut buf = [0u8; 64];
    let mut ctrl = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: plain old data; all-zero is a valid (empty) value.
    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
    h.msg_iov = &mut iov;
    h.msg_iovlen = 1;
    h.msg_control = ctrl.as_mut_ptr().cast();
    h.msg_controllen = std::mem::size_of_val(&ctrl) as _;
    // SAFETY: every pointer in `h` refers to a live buffer of the size given.
    assert!(unsafe { libc::recvmsg(fd, &mut h, 0) } >= 0);
    // SAFETY: `h` was just filled by recvmsg; the CMSG_* macros stay in it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&h);
        while !c.is_null() {
            let (level, ty) = ((*c).cmsg_level, (*c).cmsg_type);
            if level == libc::IPPROTO_IP && ty == libc::IP_TOS {
                return Some(*libc::CMSG_DATA(c));
            }
            if level == libc::IPPROTO_IPV6 && ty == libc::IPV6_TCLASS {
                let v = libc::CMSG_DATA(c).cast::<libc::c_int>().read_unaligned();
                return u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(&h, c);
        }
    }
    None
}

/// DSCP on a dual-stack socket marks both families: `IP_TOS` for the IPv4
/// datagrams (seen on the wire by the receiver), `IPV6_TCLASS` for the
/// IPv6 ones; an AF_INET socket takes it too.
#[cfg(feature = "ipv6")]
#[test]
fn dscp_marks_ipv4_and_ipv6_datagrams_of_a_dual_stack_socket() {
    use std::net::UdpSocket;
    let ef = 46u8; // Expedited Forwarding, RFC 3246
    let sock = udp_socket(Stack::Dual, 0, false).unwrap();
    set_dscp(sock.as_raw_fd(), ef).unwrap();
    assert_eq!(
        int_option(sock.as_raw_fd(), libc::IPPROTO_IP, libc::IP_TOS),
        i32::from(ef) << 2
    );
    assert_eq!(
        int_option(sock.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
        i32::from(ef) << 2
    );
    let r4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r6 = UdpSocket::bind("[::1]:0").unwrap();
    for (r, level, name) in [
        (&r4, libc::IPPROTO_IP, libc::IP_RECVTOS),
        (&r6, libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS),
    ] {
        socket::set_int_option(r.as_raw_fd(), level, name, 1).unwrap();
        r.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        sock.send_to(b"x", std_target(r.local_addr().unwrap(), Stack::Dual))
            .unwrap();
        let got = received_class(r.as_raw_fd());
        // qemu-user (the cross-check runs this test for MIPS and ARM under
        // it) passes no IPV6_TCLASS control message up; the option values
        // above are checked there, the wire here on the native target.
        if got.is_none() && level == libc::IPPROTO_IPV6 && cfg!(not(target_arch = "x86_64")) {
            continue;
        }
        assert_eq!(got, Some(ef << 2), "{r:?}");
    }
    // An AF_INET socket: IP_TOS only, no error for the missing IPv6.
    let v4 = udp_socket(Stack::V4, 0, false).unwrap();
    set_dscp(v4.as_raw_fd(), ef).unwrap();
    assert_eq!(
        int_option(v4.as_raw_fd(), libc::IPPROTO_IP, libc::IP_TOS),
        i32::from(ef) << 2
    );
    // And a dual-stack TCP listener (the connections it accepts inherit it).
    let l = tcp_listen_shared(Stack::Dual, 0).unwrap();
    set_dscp(l.as_raw_fd(), ef).unwrap();
    assert_eq!(
        int_option(l.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
        i32::from(ef) << 2
    );
    assert_eq!(
        int_option(l.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
        0
    );
}

/// `IPV6_V6ONLY` is off on every dual-stack socket, whatever
/// `net.ipv6.bindv6only` says, and a connection opened from the listening
/// port reaches an IPv4 peer through its mapped address.
#[cfg(feature = "ipv6")]
#[test]
fn dual_stack_sockets_set_v6only_off_and_connect_to_ipv4() {
    let udp = udp_socket(Stack::Dual, 0, true).unwrap();
    assert_eq!(
        int_option(udp.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
        0
    );
    let listener = tcp_listen_shared(Stack::Dual, 0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let to = Addr::from_std(peer.local_addr().unwrap()).unwrap();
    let _c = tcp_connect_from(Stack::Dual, port, to).unwrap();
    let (_s, from) = peer.accept().unwrap();
    assert_eq!(from, format!("127.0.0.1:{port}").parse().unwrap());
    // And accept() names an IPv4 client as IPv4.
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let got = loop {
        match accept(listener.as_raw_fd()) {
            Ok((_, got)) => break got,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(std::time::Instant::now() < end);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(got.ok(), Addr::from_std(client.local_addr().unwrap()));
}

/// AF_INET sockets (the fallback, and every socket without the `ipv6`
/// feature): the arrival interface from `IP_PKTINFO`, DSCP from `IP_TOS`.
#[test]
fn ipv4_sockets_tell_the_interface_and_take_dscp() {
    use std::net::UdpSocket;
    #[cfg(not(feature = "ipv6"))]
    {
        let (s, stack, why) = first_udp_socket(make_socket, 0).unwrap();
        assert_eq!((stack, why.is_none()), (Stack::V4, true));
        assert!(s.local_addr().unwrap().is_ipv4());
    }
    let af = 34u8; // AF41, RFC 2597
    let sock = udp_socket(Stack::V4, 0, true).unwrap();
    set_dscp(sock.as_raw_fd(), af).unwrap();
    assert_eq!(
        int_option(sock.as_raw_fd(), libc::IPPROTO_IP, libc::IP_TOS),
        i32::from(af) << 2
    );
    let port = sock.local_addr().unwrap().port();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket::set_int_option(peer.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVTOS, 1).unwrap();
    peer.send_to(b"x", ("127.0.0.1", port)).unwrap();
    let got = read_some(sock.as_raw_fd(), 1);
    assert_eq!(got[0].1, Addr::from_std(peer.local_addr().unwrap()));
    assert!(is_index(got[0].2, if_index("lo").unwrap()), "{}", got[0].2);
    let to = std_target(peer.local_addr().unwrap(), Stack::V4);
    sock.send_to(b"y", to).unwrap();
    peer.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    assert_eq!(received_class(peer.as_raw_fd()), Some(af << 2));
}
