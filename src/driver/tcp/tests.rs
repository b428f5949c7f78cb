use super::*;
use mio::Poll;
use std::time::Duration;

const PLAIN: Stream = Stream {
    transport: Transport::Tcp,
    name: "",
};

fn timers() -> Timers {
    Timers {
        idle: Duration::from_secs(300),
        connect: Duration::from_millis(500),
        keepalive: None,
    }
}

/// A table listening on a free port of every address (dual-stack with
/// the `ipv6` feature), and that port.
fn listening(poll: &Poll) -> (Tcp, u16) {
    let stack = Stack::wanted();
    let tcp = Tcp::new(stack, 0, Token(0), 10, poll.registry(), timers(), 0).unwrap();
    let port = tcp.listener.local_addr().unwrap().port();
    (tcp, port)
}

fn v4(s: std::net::SocketAddr) -> Addr {
    let std::net::SocketAddr::V4(a) = s else {
        panic!("IPv4 loopback");
    };
    Addr::V4(a)
}

/// A peer that never reads: sipnat writes until the socket takes no
/// more, queues up to [`MAX_TCP_BACKLOG`], then closes the connection
/// and counts it once (it was counted twice: by the queue and by the
/// close).
#[test]
fn a_peer_that_never_reads_is_closed_and_counted_once() {
    let poll = Poll::new().unwrap();
    let (mut tcp, port) = listening(&poll);
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // The peer as the table knows it: IPv4, not the dual-stack socket's
    // mapped form (the send below finds the connection by it).
    let peer = v4(client.local_addr().unwrap());
    let mut stats = Stats::new();
    let now = Instant::now();
    tcp.accept(now, poll.registry(), &|_| Side::Lan, false, &mut stats);
    assert_eq!((tcp.len(), stats.get("tcp", "accepted")), (1, 1));
    let msg = [b'x'; 1000];
    let mut sent = 0u64;
    while tcp.send(
        now,
        poll.registry(),
        peer,
        None,
        Side::Lan,
        PLAIN,
        &msg,
        &mut stats,
    ) {
        sent += 1;
        assert!(sent < 1_000_000, "the backlog never filled");
    }
    assert!(tcp.is_empty());
    assert_eq!(stats.get("tcp", "backlog-full"), 1);
    assert_eq!(stats.get("tcp", "closed-with-backlog"), 1);
    // What was queued went out in part: lost like a datagram. The
    // message that did not fit is handed back whole, to be answered.
    let unsent = tcp.take_unsent();
    assert_eq!(unsent.len(), 1);
    assert_eq!((unsent[0].peer, &unsent[0].bytes[..]), (peer, &msg[..]));
    drop(client);
}

/// A connection sipnat opens that is refused hands back, whole, what
/// it was to carry; one that came up and then broke does not.
#[test]
fn a_refused_connection_hands_back_its_messages() {
    let mut poll = Poll::new().unwrap();
    let (mut tcp, _) = listening(&poll);
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let to = v4(closed.local_addr().unwrap());
    drop(closed);
    let mut stats = Stats::new();
    let now = Instant::now();
    for msg in [&b"OPTIONS one"[..], b"OPTIONS two"] {
        // The connect is in progress: both are queued, or it already
        // failed: each is handed back at once.
        let _ = tcp.send(
            now,
            poll.registry(),
            to,
            None,
            Side::Wan,
            PLAIN,
            msg,
            &mut stats,
        );
    }
    let mut events = mio::Events::with_capacity(8);
    let end = Instant::now() + Duration::from_secs(5);
    while !tcp.is_empty() && Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        for ev in events.iter() {
            if let Some(slot) = ev.token().0.checked_sub(10) {
                tcp.writable(Instant::now(), slot, poll.registry(), &mut stats);
            }
        }
    }
    assert!(tcp.is_empty(), "the connect did not fail");
    let unsent: Vec<u8> = tcp
        .take_unsent()
        .into_iter()
        .inspect(|u| assert_eq!((u.peer, u.side), (to, Side::Wan)))
        .flat_map(|u| u.bytes)
        .collect();
    assert_eq!(unsent, b"OPTIONS oneOPTIONS two");
    assert!(!tcp.has_unsent());
}

/// A connection sipnat opens leaves from its listening port (so the
/// peer's requests to sipnat's Via/Record-Route address find it, and a
/// stateful firewall lets them in), and a message for a peer with no
/// connection goes to its `or_else` address (a phone's Contact).
#[test]
fn connections_leave_from_the_listening_port_and_fall_back_to_or_else() {
    let poll = Poll::new().unwrap();
    let (mut tcp, port) = listening(&poll);
    let phone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let contact = v4(phone.local_addr().unwrap());
    // The address the phone registered from: nothing is connected there.
    let gone: Addr = "127.0.0.1:9".parse().unwrap();
    let mut stats = Stats::new();
    let sent = tcp.send(
        Instant::now(),
        poll.registry(),
        gone,
        Some(contact),
        Side::Lan,
        PLAIN,
        b"INVITE",
        &mut stats,
    );
    assert!(sent);
    let (_conn, from) = phone.accept().unwrap();
    assert_eq!(from.port(), port, "not from the listening port");
    assert_eq!(stats.get("tcp", "connect-ephemeral"), 0);
    // The next message for the same phone reuses that connection.
    assert!(tcp.send(
        Instant::now(),
        poll.registry(),
        gone,
        Some(contact),
        Side::Lan,
        PLAIN,
        b"BYE",
        &mut stats,
    ));
    assert_eq!((tcp.len(), stats.get("tcp", "opened")), (1, 1));
}

/// IPv4 and IPv6 reach the one dual-stack listener, each with its
/// canonical address.
#[cfg(feature = "ipv6")]
#[test]
fn the_dual_stack_listener_takes_ipv4_and_ipv6() {
    let poll = Poll::new().unwrap();
    let (mut tcp, port) = listening(&poll);
    let mut stats = Stats::new();
    let sides = std::cell::RefCell::new(Vec::new());
    let six = std::net::TcpStream::connect(("::1", port)).unwrap();
    let four = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while stats.get("tcp", "accepted") < 2 {
        assert!(Instant::now() < end, "not both accepted");
        tcp.accept(
            Instant::now(),
            poll.registry(),
            &|peer| {
                sides.borrow_mut().push(peer);
                Side::Lan
            },
            false,
            &mut stats,
        );
    }
    assert_eq!(stats.get("tcp", "ipv6"), 0);
    let mut got = sides.borrow().clone();
    got.sort_by_key(|a| a.family() == Family::V6);
    let six_addr = crate::net::Addr::from_std(six.local_addr().unwrap()).unwrap();
    assert_eq!(got, [v4(four.local_addr().unwrap()), six_addr]);
}
