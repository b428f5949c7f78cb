//! The connection table with a virtual clock.

use super::*;
use crate::transport::Transport;
use crate::transport::framer::MESSAGE_DEADLINE;

const TIMERS: Timers = Timers {
    idle: Duration::from_secs(300),
    connect: Duration::from_millis(500),
    keepalive: None,
};

fn a(s: &str) -> Addr {
    s.parse().expect("test address")
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn poll(t: &mut Conns, now: Instant) -> Vec<Due> {
    let mut out = heapless::Vec::new();
    t.poll(now, &mut out);
    out.to_vec()
}

#[test]
fn connections_are_found_again_and_stale_ids_reach_nothing() {
    let now = Instant::now();
    let mut t = Conns::new(TIMERS);
    let p = a("198.51.100.2:5060");
    let id = t.admit(now, p, Side::Wan, Origin::Opened).unwrap();
    assert_eq!(t.find(p, Side::Wan, Transport::Tcp), Some(id));
    assert_eq!(
        t.find(p, Side::Wan, Transport::Tls),
        None,
        "one per transport"
    );
    assert_eq!(
        t.find(p, Side::Lan, Transport::Tcp),
        None,
        "one per (peer, side)"
    );
    assert!(t.get(id).unwrap().connecting);
    t.connected(now, id);
    assert!(!t.get(id).unwrap().connecting);
    assert_eq!(t.at(id.slot()), Some(id));
    t.remove(id);
    assert_eq!(t.find(p, Side::Wan, Transport::Tcp), None);
    let again = t.admit(now, p, Side::Wan, Origin::Opened).unwrap();
    assert_eq!(again.slot(), id.slot());
    assert_ne!(again, id, "a new generation");
    assert!(t.get(id).is_none());
    t.remove(id); // stale: ignored
    assert_eq!(t.len(), 1);
}

#[test]
fn the_wan_cannot_fill_the_table() {
    let now = Instant::now();
    let mut t = Conns::new(TIMERS);
    // One WAN host: its quota.
    for i in 0..MAX_TCP_PER_WAN_HOST {
        let p = a(&format!("203.0.113.9:{}", 40000 + i));
        t.admit(now, p, Side::Wan, Origin::Accepted).unwrap();
    }
    assert_eq!(
        t.admit(now, a("203.0.113.9:50000"), Side::Wan, Origin::Accepted),
        Err(Closed::HostQuota)
    );
    // Many WAN hosts: the WAN share, then nothing more from the WAN.
    let mut n = MAX_TCP_PER_WAN_HOST;
    let mut host = 1u8;
    while n < MAX_TCP_WAN_INBOUND {
        t.admit(
            now,
            a(&format!("192.0.2.{host}:40000")),
            Side::Wan,
            Origin::Accepted,
        )
        .unwrap();
        host += 1;
        n += 1;
    }
    assert_eq!(
        t.admit(now, a("192.0.2.250:40000"), Side::Wan, Origin::Accepted),
        Err(Closed::WanShareFull)
    );
    // The LAN and sipnat's own connections still get in, up to the table.
    for i in 0..(MAX_TCP_CONNECTIONS - MAX_TCP_WAN_INBOUND) {
        let (ip, origin) = if i % 2 == 0 {
            (
                format!("10.77.1.{}", 2 + i / MAX_TCP_PER_LAN_HOST),
                Origin::Accepted,
            )
        } else {
            ("198.51.100.2".to_string(), Origin::Opened)
        };
        let side = if origin == Origin::Accepted {
            Side::Lan
        } else {
            Side::Wan
        };
        t.admit(now, a(&format!("{ip}:{}", 30000 + i)), side, origin)
            .unwrap_or_else(|e| panic!("{i}: {e:?}"));
    }
    assert_eq!(t.len(), MAX_TCP_CONNECTIONS);
    assert_eq!(
        t.admit(now, a("10.77.1.99:1"), Side::Lan, Origin::Accepted),
        Err(Closed::TableFull)
    );
}

#[test]
fn a_lan_host_has_a_quota_too() {
    let now = Instant::now();
    let mut t = Conns::new(TIMERS);
    for i in 0..MAX_TCP_PER_LAN_HOST {
        t.admit(
            now,
            a(&format!("10.77.1.2:{}", 1000 + i)),
            Side::Lan,
            Origin::Accepted,
        )
        .unwrap();
    }
    assert_eq!(
        t.admit(now, a("10.77.1.2:9999"), Side::Lan, Origin::Accepted),
        Err(Closed::HostQuota)
    );
    assert!(
        t.admit(now, a("10.77.1.3:1000"), Side::Lan, Origin::Accepted)
            .is_ok()
    );
}

/// An IPv6 host is its /64 (RFC 8981 privacy addresses rotate within it).
#[test]
fn an_ipv6_host_is_its_64() {
    let now = Instant::now();
    let mut t = Conns::new(TIMERS);
    for i in 0..MAX_TCP_PER_WAN_HOST {
        let p = a(&format!("[2001:db8:0:9::{:x}]:40000", i + 1));
        t.admit(now, p, Side::Wan, Origin::Accepted).unwrap();
    }
    assert_eq!(
        t.admit(
            now,
            a("[2001:db8:0:9:ff::1]:1"),
            Side::Wan,
            Origin::Accepted
        ),
        Err(Closed::HostQuota)
    );
    let other = a("[2001:db8:0:a::1]:1");
    let id = t.admit(now, other, Side::Wan, Origin::Accepted).unwrap();
    assert_eq!(t.find(other, Side::Wan, Transport::Tcp), Some(id));
}

#[test]
fn idle_connect_and_keepalive_timers() {
    let t0 = Instant::now();
    let mut t = Conns::new(Timers {
        keepalive: Some(s(20)),
        ..TIMERS
    });
    let out = t
        .admit(t0, a("198.51.100.2:5060"), Side::Wan, Origin::Opened)
        .unwrap();
    let lan = t
        .admit(t0, a("10.77.1.2:40000"), Side::Lan, Origin::Accepted)
        .unwrap();
    assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    // The connect does not complete in time.
    assert_eq!(
        poll(&mut t, t0 + Duration::from_millis(500)),
        [Due::Close(out, Closed::ConnectTimeout)]
    );
    t.remove(out);
    // Keep-alives every 20 s while nothing else is sent.
    assert_eq!(t.poll_timeout(), Some(t0 + s(20)));
    assert_eq!(poll(&mut t, t0 + s(20)), [Due::Keepalive(lan)]);
    assert!(poll(&mut t, t0 + s(21)).is_empty());
    t.sent(t0 + s(30), lan);
    assert_eq!(t.poll_timeout(), Some(t0 + s(50)));
    // sipnat's own sends count as traffic (siproxd's meaning of
    // tcp_timeout: no traffic either way). Without keep-alives, the peer's
    // last packet starts the idle clock:
    let mut t = Conns::new(TIMERS);
    let lan = t
        .admit(t0, a("10.77.1.2:40000"), Side::Lan, Origin::Accepted)
        .unwrap();
    t.received(t0 + s(100), lan);
    assert!(poll(&mut t, t0 + s(399)).is_empty());
    assert_eq!(poll(&mut t, t0 + s(400)), [Due::Close(lan, Closed::Idle)]);
}

#[test]
fn silent_and_slow_wan_connections_are_cut_off() {
    let t0 = Instant::now();
    let mut t = Conns::new(TIMERS);
    let silent = t
        .admit(t0, a("203.0.113.9:40000"), Side::Wan, Origin::Accepted)
        .unwrap();
    let slow = t
        .admit(t0, a("203.0.113.10:40000"), Side::Wan, Origin::Accepted)
        .unwrap();
    let good = t
        .admit(t0, a("203.0.113.11:40000"), Side::Wan, Origin::Accepted)
        .unwrap();
    // The slow one sent a message, then trickles one that never completes.
    t.proven(slow);
    let c = t.get_mut(slow).unwrap();
    c.framer.spare()[..3].copy_from_slice(b"INV");
    c.framer.filled(3, t0 + s(1));
    t.received(t0 + s(1), slow);
    t.proven(good);
    let due = poll(&mut t, t0 + FIRST_MESSAGE);
    assert_eq!(due, [Due::Close(silent, Closed::NoFirstMessage)]);
    t.remove(silent);
    let due = poll(&mut t, t0 + s(1) + MESSAGE_DEADLINE);
    assert_eq!(due, [Due::Close(slow, Closed::SlowMessage)]);
    t.remove(slow);
    // A proven connection lives until idle.
    assert!(poll(&mut t, t0 + s(299)).is_empty());
    assert_eq!(t.len(), 1);
}

#[test]
fn poll_reports_at_most_what_fits_and_the_rest_next_time() {
    let t0 = Instant::now();
    let mut t = Conns::new(Timers {
        keepalive: Some(s(1)),
        ..TIMERS
    });
    for i in 0..20 {
        t.admit(
            t0,
            a(&format!("10.77.1.{}:5060", 2 + i)),
            Side::Lan,
            Origin::Accepted,
        )
        .unwrap();
    }
    let first = poll(&mut t, t0 + s(1));
    assert_eq!(first.len(), 16);
    let second = poll(&mut t, t0 + s(1));
    assert_eq!(second.len(), 4, "the rest, none twice");
    assert!(poll(&mut t, t0 + s(1)).is_empty());
}

/// A TLS connection sipnat opened keeps itself alive with `tcp_keepalive`
/// off (the provider's calls come back over it); TCP ones and accepted
/// ones do not, and `tcp_keepalive` rules when it is set.
#[cfg(feature = "tls")]
#[test]
fn a_tls_connection_to_the_provider_is_kept_alive_by_default() {
    let t0 = Instant::now();
    let mut t = Conns::new(TIMERS);
    let tls = t
        .admit(t0, a("198.51.100.2:5061"), Side::Wan, Origin::Opened)
        .unwrap();
    t.get_mut(tls).unwrap().transport = Transport::Tls;
    let tcp = t
        .admit(t0, a("198.51.100.2:5060"), Side::Wan, Origin::Opened)
        .unwrap();
    t.connected(t0, tls);
    t.connected(t0, tcp);
    assert_eq!(t.poll_timeout(), Some(t0 + TLS_KEEPALIVE));
    assert_eq!(poll(&mut t, t0 + TLS_KEEPALIVE), [Due::Keepalive(tls)]);
    // With tcp_keepalive set, it is every connection's period.
    t.set_timers(Timers {
        keepalive: Some(s(20)),
        ..TIMERS
    });
    let due = poll(&mut t, t0 + TLS_KEEPALIVE + s(20));
    assert!(
        due.contains(&Due::Keepalive(tls)) && due.contains(&Due::Keepalive(tcp)),
        "{due:?}"
    );
}

/// A TLS connection sipnat opened that was up and went down is opened
/// again after 1 s, then further apart while it fails, at most
/// REDIAL_ATTEMPTS times; TCP ones, accepted ones and ones that never came
/// up are not; an attempt that comes up ends the schedule.
#[cfg(feature = "tls")]
#[test]
fn a_lost_tls_connection_is_redialled_with_backoff() {
    let t0 = Instant::now();
    let mut t = Conns::new(TIMERS);
    let peer = a("198.51.100.2:5061");
    let open = |t: &mut Conns, now, transport| {
        let id = t.admit(now, peer, Side::Wan, Origin::Opened).unwrap();
        t.get_mut(id).unwrap().transport = transport;
        id
    };
    // Never up: nothing to do again. TCP: not either.
    let id = open(&mut t, t0, Transport::Tls);
    assert!(t.lost(t0, id));
    t.remove(id);
    let id = open(&mut t, t0, Transport::Tcp);
    t.connected(t0, id);
    assert!(t.lost(t0, id));
    t.remove(id);
    assert_eq!(t.poll_timeout(), None);
    // Up over TLS, then lost.
    let id = open(&mut t, t0, Transport::Tls);
    t.connected(t0, id);
    assert!(t.lost(t0, id));
    t.remove(id);
    assert_eq!(t.poll_timeout(), Some(t0 + s(1)));
    let redial = Due::Redial(peer, Side::Wan, Transport::Tls);
    let mut now = t0 + s(1);
    let mut when = Vec::new();
    while let Some(at) = t.poll_timeout() {
        now = now.max(at);
        assert_eq!(poll(&mut t, now), [redial]);
        when.push((now - t0).as_secs());
    }
    assert_eq!(usize::from(REDIAL_ATTEMPTS), when.len(), "{when:?}");
    assert_eq!(&when[..4], [1, 2, 4, 8], "doubling");
    // An attempt that comes up ends the schedule.
    let id = open(&mut t, now, Transport::Tls);
    t.connected(now, id);
    assert!(t.lost(now, id));
    t.remove(id);
    assert_eq!(poll(&mut t, now + s(1)), [redial]);
    let id = open(&mut t, now + s(1), Transport::Tls);
    t.connected(now + s(1), id);
    let later = poll(&mut t, now + s(3600));
    assert!(!later.contains(&redial), "{later:?}");
}
