//! The record layer through the driver's stream table, against a rustls
//! server on loopback: a message reaches the server decrypted only when
//! the server's certificate is the one asked for; otherwise the message
//! comes back unsent with a 503, and the refusal is counted.

use crate::config::Config;
use crate::driver::sys::Stack;
use crate::driver::tcp::{Frame, Stream, Tcp, Unsent};
use crate::net::Addr;
use crate::side::Side;
use crate::stats::Stats;
use crate::transport::Transport;
use crate::transport::conns::Timers;
use mio::{Poll, Token};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

const OPTIONS: &[u8] = b"OPTIONS sip:sip.example.test SIP/2.0\r\nContent-Length: 0\r\n\r\n";

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    Ca {
        cert: params.self_signed(&key).unwrap(),
        key,
    }
}

/// A server certificate for `names`, signed by `ca` (self-signed: `None`).
fn server_cert(
    names: &[&str],
    ca: Option<&Ca>,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = match ca {
        Some(ca) => params.signed_by(&key, &ca.cert, &ca.key).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.der().clone(), der)
}

/// A TLS server on loopback for one connection: what it read, decrypted,
/// until the client went away or 5 s passed.
fn serve(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (Addr, std::thread::JoinHandle<Vec<u8>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let std::net::SocketAddr::V4(at) = l.local_addr().unwrap() else {
        unreachable!()
    };
    let server = std::thread::spawn(move || {
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let (mut sock, _) = l.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < OPTIONS.len() {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    });
    (Addr::V4(at), server)
}

fn config(ca: Option<&Ca>, pin: Option<&CertificateDer<'_>>, dir: &std::path::Path) -> Config {
    let mut cfg = Config::default();
    if let Some(ca) = ca {
        let path = dir.join("ca.pem");
        std::fs::write(&path, ca.cert.pem()).unwrap();
        cfg.tls_ca_file = Some(path);
    }
    if let Some(cert) = pin {
        let fp = crate::auth::sha256::digest(&[cert.as_ref()]);
        cfg.tls_fingerprints = vec![fp.iter().map(|b| format!("{b:02x}")).collect()];
    }
    cfg
}

/// Send one message over TLS to `to` as `name`, drive the table until the
/// connection is up and idle or gone; the stats and what came back unsent.
fn send_over_tls(cfg: &Config, to: Addr, name: &str) -> (Stats, Vec<Unsent>) {
    let mut poll = Poll::new().unwrap();
    let timers = Timers {
        idle: Duration::from_secs(300),
        connect: Duration::from_secs(5),
        keepalive: None,
    };
    let mut tcp = Tcp::new(Stack::wanted(), 0, Token(0), 10, poll.registry(), timers, 0).unwrap();
    tcp.set_tls(cfg);
    let mut stats = Stats::new();
    let how = Stream {
        transport: Transport::Tls,
        name,
    };
    let now = Instant::now();
    tcp.send(
        now,
        poll.registry(),
        to,
        None,
        Side::Wan,
        how,
        OPTIONS,
        &mut stats,
    );
    drive(&mut poll, &mut tcp, &mut stats, |tcp, stats| {
        tcp.is_empty() || stats.get("tls", "handshake-ok") > 0
    });
    (stats, tcp.take_unsent())
}

/// Run the table's events and timers until `done` or 5 s have passed.
fn drive(poll: &mut Poll, tcp: &mut Tcp, stats: &mut Stats, done: impl Fn(&Tcp, &Stats) -> bool) {
    let mut events = mio::Events::with_capacity(8);
    let end = Instant::now() + Duration::from_secs(5);
    while !done(tcp, stats) && Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        for ev in events.iter() {
            let Some(slot) = ev.token().0.checked_sub(10) else {
                continue;
            };
            let now = Instant::now();
            if ev.is_writable() {
                tcp.writable(now, slot, poll.registry(), stats);
            }
            let frame = tcp.next_frame(now, slot, poll.registry(), stats);
            assert!(
                !matches!(frame, Frame::Message { .. }),
                "the server sends nothing"
            );
        }
        tcp.handle_timeout(Instant::now(), poll.registry(), stats);
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sipnat-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_message_goes_encrypted_to_a_server_with_a_certificate_of_the_ca_for_the_name() {
    let dir = temp_dir("good");
    let ca = ca();
    let (cert, key) = server_cert(&["sip.example.test"], Some(&ca));
    let (at, server) = serve(cert, key);
    let (stats, unsent) = send_over_tls(&config(Some(&ca), None, &dir), at, "sip.example.test");
    assert_eq!(stats.get("tls", "handshake-ok"), 1);
    assert!(unsent.is_empty());
    assert_eq!(
        server.join().unwrap(),
        OPTIONS,
        "the server read the message"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_certificate_of_another_ca_another_name_or_an_unpinned_one_is_refused_with_a_503() {
    let dir = temp_dir("bad");
    let ca = ca();
    let other_ca = self::ca();
    let (pinned, _) = server_cert(&["sip.example.test"], None);
    let cases = [
        (
            "another CA",
            server_cert(&["sip.example.test"], Some(&other_ca)),
            config(Some(&ca), None, &dir),
        ),
        (
            "another name",
            server_cert(&["other.example.test"], Some(&ca)),
            config(Some(&ca), None, &dir),
        ),
        (
            "not the pinned one",
            server_cert(&["sip.example.test"], Some(&ca)),
            config(None, Some(&pinned), &dir),
        ),
    ];
    for (what, (cert, key), cfg) in cases {
        let (at, server) = serve(cert, key);
        let (stats, unsent) = send_over_tls(&cfg, at, "sip.example.test");
        assert_eq!(stats.get("tls", "cert-rejected"), 1, "{what}");
        assert_eq!(stats.get("tls", "handshake-ok"), 0, "{what}");
        assert_eq!(unsent.len(), 1, "{what}: the message comes back");
        assert_eq!(unsent[0].bytes, OPTIONS, "{what}");
        assert_eq!(unsent[0].transport, Transport::Tls, "{what}");
        assert!(
            unsent[0].status.starts_with("SIP/2.0 503 "),
            "{what}: {}",
            unsent[0].status
        );
        assert!(
            server.join().unwrap().is_empty(),
            "{what}: nothing reached the server"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_pinned_self_signed_certificate_is_accepted_without_a_ca() {
    let dir = temp_dir("pin");
    let (cert, key) = server_cert(&["whatever.invalid"], None);
    let cfg = config(None, Some(&cert), &dir);
    let (at, server) = serve(cert, key);
    let (stats, unsent) = send_over_tls(&cfg, at, "sip.example.test");
    assert_eq!(stats.get("tls", "handshake-ok"), 1);
    assert!(unsent.is_empty());
    assert_eq!(server.join().unwrap(), OPTIONS);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn no_ca_file_refuses_every_connection() {
    let dir = temp_dir("noca");
    let ca = ca();
    let (cert, key) = server_cert(&["sip.example.test"], Some(&ca));
    let cfg = Config {
        tls_ca_file: Some(dir.join("missing.pem")),
        ..Config::default()
    };
    // No server is reached: the connection is refused before it opens.
    let (at, _server) = serve(cert, key);
    let (stats, unsent) = send_over_tls(&cfg, at, "sip.example.test");
    assert_eq!(stats.get("tls", "cert-rejected"), 1);
    assert_eq!(unsent.len(), 1);
    assert!(unsent[0].status.starts_with("SIP/2.0 503 "));
    // Unblock the server thread's accept.
    drop(std::net::TcpStream::connect(at.to_std()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fingerprints_are_read_as_bytes() {
    let h = "00".repeat(31) + "ff";
    let mut want = [0u8; 32];
    want[31] = 0xff;
    assert_eq!(super::hex32(&h), Some(want));
    assert_eq!(super::hex32("00"), None);
    assert_eq!(super::hex32(&"zz".repeat(32)), None);
}

/// A provider that closes the connection once it is up: sipnat opens it
/// again by itself (1 s later), so the provider's calls for the phones
/// still have a way in.
#[test]
fn a_lost_connection_to_the_provider_is_opened_again() {
    let dir = temp_dir("redial");
    let ca = ca();
    let (cert, key) = server_cert(&["sip.example.test"], Some(&ca));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let std::net::SocketAddr::V4(at) = l.local_addr().unwrap() else {
        unreachable!()
    };
    let server = std::thread::spawn(move || {
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .unwrap(),
        );
        let mut got = Vec::new();
        for _ in 0..2 {
            let (mut sock, _) = l.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut sock).is_err() {
                    break;
                }
            }
            let mut tls = rustls::Stream::new(&mut conn, &mut sock);
            let mut buf = [0u8; 4096];
            // The first connection: the message, then the provider hangs
            // up. The second: kept until sipnat goes.
            if got.is_empty() {
                while got.len() < OPTIONS.len() {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            } else {
                while let Ok(1..) = tls.read(&mut buf) {}
            }
        }
        got
    });
    let cfg = config(Some(&ca), None, &dir);
    let mut poll = Poll::new().unwrap();
    let timers = Timers {
        idle: Duration::from_secs(300),
        connect: Duration::from_secs(5),
        keepalive: None,
    };
    let mut tcp = Tcp::new(Stack::wanted(), 0, Token(0), 10, poll.registry(), timers, 0).unwrap();
    tcp.set_tls(&cfg);
    let mut stats = Stats::new();
    let how = Stream {
        transport: Transport::Tls,
        name: "sip.example.test",
    };
    tcp.send(
        Instant::now(),
        poll.registry(),
        Addr::V4(at),
        None,
        Side::Wan,
        how,
        OPTIONS,
        &mut stats,
    );
    drive(&mut poll, &mut tcp, &mut stats, |_, stats| {
        stats.get("tls", "handshake-ok") >= 2
    });
    drop(tcp);
    assert_eq!(server.join().unwrap(), OPTIONS);
    assert_eq!(
        stats.get("tls", "handshake-ok"),
        2,
        "opened again: {stats:?}"
    );
    assert_eq!(stats.get("tls", "redial"), 1);
    assert_eq!(stats.get("tls", "peer-closed"), 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// A table with a TLS listening socket showing `cert`/`key` (written to
/// `dir`) on a free port, and that port.
fn listening_tls(
    poll: &Poll,
    dir: &std::path::Path,
    cert: &rcgen::Certificate,
    key: &KeyPair,
) -> (Tcp, u16) {
    let (crt, k) = (dir.join("sipnat.crt"), dir.join("sipnat.key"));
    std::fs::write(&crt, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let cfg = Config {
        tls_listen_port: port,
        tls_cert_file: Some(crt),
        tls_key_file: Some(k),
        ..Config::default()
    };
    let timers = Timers {
        idle: Duration::from_secs(300),
        connect: Duration::from_millis(500),
        keepalive: None,
    };
    let mut tcp = Tcp::new(Stack::wanted(), 0, Token(0), 10, poll.registry(), timers, 0).unwrap();
    tcp.set_tls(&cfg);
    tcp.listen_tls(&cfg, Token(1), poll.registry()).unwrap();
    assert_eq!(tcp.tls_port(), Some(port));
    (tcp, port)
}

/// A phone on the LAN speaks TLS to `tls_listen_port`: its REGISTER comes
/// out of the table whole, marked TLS, and the answer goes back over its
/// connection, encrypted; a WAN peer is closed at accept; a request for a
/// phone with no TLS connection is not sent anywhere (480).
#[test]
fn a_phone_on_the_lan_speaks_tls_to_sipnat() {
    const REGISTER: &[u8] = b"REGISTER sip:198.51.100.2 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    const OK: &[u8] = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    let dir = temp_dir("lan");
    let ca = ca();
    let key = KeyPair::generate().unwrap();
    let ours = CertificateParams::new(vec!["router.lan".to_string()])
        .unwrap()
        .signed_by(&key, &ca.cert, &ca.key)
        .unwrap();
    let mut poll = Poll::new().unwrap();
    let (mut tcp, port) = listening_tls(&poll, &dir, &ours, &key);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let phone = std::thread::spawn(move || {
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("router.lan").unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        use std::io::Write as _;
        tls.write_all(REGISTER).unwrap();
        let mut got = vec![0u8; OK.len()];
        tls.read_exact(&mut got).map(|_| got).unwrap_or_default()
    });
    let mut stats = Stats::new();
    let mut events = mio::Events::with_capacity(8);
    let end = Instant::now() + Duration::from_secs(5);
    let mut from = None;
    while from.is_none() && Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        for ev in events.iter() {
            let now = Instant::now();
            match ev.token().0 {
                1 => tcp.accept(now, poll.registry(), &|_| Side::Lan, true, &mut stats),
                t if t >= 10 => {
                    let slot = t - 10;
                    if ev.is_writable() {
                        tcp.writable(now, slot, poll.registry(), &mut stats);
                    }
                    if let Frame::Message {
                        peer,
                        side,
                        transport,
                        data,
                    } = tcp.next_frame(now, slot, poll.registry(), &mut stats)
                    {
                        assert_eq!(
                            (side, transport, &data[..]),
                            (Side::Lan, Transport::Tls, REGISTER)
                        );
                        let len = data.len();
                        from = Some(peer);
                        tcp.consume(now, slot, len);
                    }
                }
                _ => {}
            }
        }
    }
    let phone_addr = from.expect("the REGISTER came");
    assert_eq!(
        (
            stats.get("tls", "accepted"),
            stats.get("tls", "handshake-ok")
        ),
        (1, 1)
    );
    // The answer goes back over the phone's connection.
    let how = Stream {
        transport: Transport::Tls,
        name: "",
    };
    assert!(tcp.send(
        Instant::now(),
        poll.registry(),
        phone_addr,
        None,
        Side::Lan,
        how,
        OK,
        &mut stats
    ));
    assert_eq!(phone.join().unwrap(), OK);
    // No connection to a phone is ever opened over TLS: 480.
    let gone: Addr = "127.0.0.1:9".parse().unwrap();
    assert!(!tcp.send(
        Instant::now(),
        poll.registry(),
        gone,
        None,
        Side::Lan,
        how,
        OK,
        &mut stats
    ));
    let unsent = tcp.take_unsent();
    assert!(
        unsent[0].status.starts_with("SIP/2.0 480 "),
        "{}",
        unsent[0].status
    );
    assert_eq!(stats.get("tls", "no-connection-to-phone"), 1);
    // TLS from the WAN is refused at accept.
    let _wan = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while stats.get("tls", "wan-refused") == 0 && Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        tcp.accept(
            Instant::now(),
            poll.registry(),
            &|_| Side::Wan,
            true,
            &mut stats,
        );
    }
    assert_eq!(stats.get("tls", "wan-refused"), 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// Attacks on the TLS port, each bounded and counted: a connection that
/// never starts its handshake is closed when its allowance is over
/// (`tls.connect-timeout`, at least 3 s), one that sends a record longer
/// than TLS allows is closed at once (`tls.bad-record`).
#[test]
fn silent_and_oversized_handshakes_are_cut_and_counted() {
    let dir = temp_dir("attacks");
    let ca = ca();
    let key = KeyPair::generate().unwrap();
    let ours = CertificateParams::new(vec!["router.lan".to_string()])
        .unwrap()
        .signed_by(&key, &ca.cert, &ca.key)
        .unwrap();
    let mut poll = Poll::new().unwrap();
    let (mut tcp, port) = listening_tls(&poll, &dir, &ours, &key);
    let mut stats = Stats::new();
    let silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut big = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A handshake record header announcing 65,535 bytes (TLS allows
    // 2^14 + 2048), then some of them.
    use std::io::Write as _;
    big.write_all(&[22, 3, 3, 0xff, 0xff]).unwrap();
    big.write_all(&[0u8; 1024]).unwrap();
    let start = Instant::now();
    let mut events = mio::Events::with_capacity(8);
    while stats.get("tls", "connect-timeout") == 0 && start.elapsed() < Duration::from_secs(8) {
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        let now = Instant::now();
        for ev in events.iter() {
            match ev.token().0 {
                1 => tcp.accept(now, poll.registry(), &|_| Side::Lan, true, &mut stats),
                t if t >= 10 => {
                    let frame = tcp.next_frame(now, t - 10, poll.registry(), &mut stats);
                    assert!(!matches!(frame, Frame::Message { .. }));
                }
                _ => {}
            }
        }
        tcp.handle_timeout(now, poll.registry(), &mut stats);
    }
    assert_eq!(stats.get("tls", "accepted"), 2);
    assert_eq!(stats.get("tls", "bad-record"), 1, "{stats:?}");
    assert_eq!(stats.get("tls", "connect-timeout"), 1, "{stats:?}");
    assert!(start.elapsed() >= crate::transport::conns::TLS_CONNECT);
    assert!(tcp.is_empty());
    drop((silent, big));
    let _ = std::fs::remove_dir_all(dir);
}
