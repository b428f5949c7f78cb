use super::*;

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
    use std::os::fd::AsRawFd;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let fd = sock.as_raw_fd();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 8];
    // Without the option the interface is unknown (0).
    peer.send_to(b"abc", sock.local_addr().unwrap()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let d = recv_with_ifindex(fd, &mut buf).unwrap();
    assert_eq!((d.len, d.ifindex, d.truncated), (3, 0, false));
    assert_eq!(d.from, peer.local_addr().unwrap());
    set_pktinfo(fd).unwrap();
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
    use std::os::fd::AsRawFd;
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    relay.set_nonblocking(true).unwrap();
    set_pktinfo(relay.as_raw_fd()).unwrap();
    let lo = if_index("lo").expect("loopback has an index");
    let peer_a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_b = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer_b
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let to = relay.local_addr().unwrap();
    let mut batch = Batch::new();
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
    let a = match peer_a.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        _ => unreachable!(),
    };
    let d = batch.get(0).unwrap();
    assert_eq!((d.from, d.data, d.truncated), (a, &b"one"[..], false));
    assert!(is_index(d.ifindex, lo), "arrival interface {}", d.ifindex);
    let d = batch.get(3).unwrap();
    assert!(d.truncated && d.data.len() == RELAY_DATAGRAM);
    assert!(batch.get(4).is_none() || n == BATCH);
    // Forward the first and third to B, from the relay socket.
    let b = match peer_b.local_addr().unwrap() {
        std::net::SocketAddr::V4(b) => b,
        _ => unreachable!(),
    };
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
