//! SIP over TLS for `sipnat-bench` (issue 17), built with `--features tls`
//! only (rustls is sipnat's optional dependency; `rcgen` makes the test
//! certificate).
//!
//! * [`TestCert`]: a self-signed ECDSA P-256 certificate, the kind the
//!   init script makes with px5g for `tls_listen_port`, and what a TLS far
//!   end shows sipnat (pinned there with `tls_fingerprint`).
//! * [`Front`]: the TLS far end. Debian's sipp has no TLS (`sipp -t l1`:
//!   "you must compile SIPp with OpenSSL"), so a TLS terminator here (rustls
//!   with ring, as sipnat) takes sipnat's TLS connections on the WAN and
//!   bridges each, decrypted, to a plain TCP connection to sipp's UAS; it
//!   counts the handshakes it completed.
//! * [`phone`]: a TLS phone on the LAN (rustls client, any certificate
//!   accepted but the handshake's signatures checked), for the handshake
//!   and idle-connection measurements of the `tls` mode.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ServerConfig, ServerConnection,
    StreamOwned,
};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

/// A self-signed certificate and its key, as PEM (for sipnat's config)
/// and DER (for rustls here).
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
    /// SHA-256 of the DER certificate, `AB:CD:…` (`tls_fingerprint`).
    pub fingerprint: String,
}

/// ECDSA P-256 (rcgen's default), as `px5g selfsigned -newkey ec -pkeyopt
/// ec_paramgen_curve:P-256` in the init script.
pub fn make_cert() -> Result<TestCert, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("rcgen: {e}"))?;
    let params = rcgen::CertificateParams::new(vec!["sipnat".to_string()])
        .map_err(|e| format!("rcgen: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("rcgen: {e}"))?;
    let fp = sipnat::auth::sha256::digest(&[cert.der().as_ref()]);
    Ok(TestCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
        key_der: key.serialize_der(),
        fingerprint: fp
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    })
}

/// ring, as sipnat (`src/driver/tls.rs`); deprecated only for lacking the
/// post-quantum key exchange.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn server_config(c: &TestCert) -> Result<Arc<ServerConfig>, String> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone()));
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(vec![c.der.clone()], key)
        })
        .map(Arc::new)
        .map_err(|e| format!("rustls server config: {e}"))
}

/// Any certificate is taken (the phone does not check sipnat's, as a phone
/// given a self-signed one is told to), but the handshake's signatures are
/// verified: the work of a real handshake on both sides.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    let p = provider();
    ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCert(p)))
                .with_no_client_auth()
        })
        .map(Arc::new)
        .map_err(|e| format!("rustls client config: {e}"))
}

pub type Phone = StreamOwned<ClientConnection, TcpStream>;

/// A TLS client on `sock` (connected): the handshake done.
pub fn phone(cfg: &Arc<ClientConfig>, mut sock: TcpStream) -> io::Result<Phone> {
    let name = ServerName::try_from("sipnat").map_err(io::Error::other)?;
    let mut conn = ClientConnection::new(cfg.clone(), name).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    Ok(StreamOwned::new(conn, sock))
}

/// Read from `p` until `want` appears (in what was read); the text read.
pub fn read_until(p: &mut Phone, want: &str) -> io::Result<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(want) {
        match p.read(&mut buf) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

/// The TLS far end: a listener whose connections are decrypted and
/// bridged to a plain TCP connection each, made by `backend`.
pub struct Front {
    stop: Arc<AtomicBool>,
    /// Handshakes completed so far.
    pub handshakes: Arc<AtomicU64>,
    /// When set, a connection is closed (close_notify, FIN) right after
    /// the 200 to a REGISTER: the next message makes sipnat dial again.
    pub close_after_register: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

type Connect = Arc<dyn Fn() -> io::Result<TcpStream> + Send + Sync>;

impl Front {
    pub fn start(listener: TcpListener, cfg: Arc<ServerConfig>, backend: Connect) -> Front {
        let stop = Arc::new(AtomicBool::new(false));
        let handshakes = Arc::new(AtomicU64::new(0));
        let close_after_register = Arc::new(AtomicBool::new(false));
        let (st, hs, car) = (
            stop.clone(),
            handshakes.clone(),
            close_after_register.clone(),
        );
        let thread = std::thread::spawn(move || {
            let _ = listener.set_nonblocking(true);
            let mut conns = Vec::new();
            while !st.load(Relaxed) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        let (st, hs, car, cfg, backend) = (
                            st.clone(),
                            hs.clone(),
                            car.clone(),
                            cfg.clone(),
                            backend.clone(),
                        );
                        conns.push(std::thread::spawn(move || {
                            let _ = sock.set_nonblocking(false);
                            let _ = bridge(sock, &*backend, cfg, &st, &hs, &car);
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Front {
            stop,
            handshakes,
            close_after_register,
            thread: Some(thread),
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The first complete SIP message of `pending` (after any CRLF
/// keep-alives, which are dropped), taken out of it.
fn next_message(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let skip = pending
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    pending.drain(..skip);
    let end = pending.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            matches!(n.trim(), "content-length" | "l").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    (pending.len() >= end + len).then(|| pending.drain(..end + len).collect())
}

/// One TLS connection until either side closes or `stop`: REGISTERs are
/// answered here (200, as a registrar: sipp's UAS scenario takes calls
/// only), every other message goes to the plain far end, connected with
/// `backend` at the first one, and what it sends comes back over TLS.
/// Counts the handshake when it completes.
fn bridge(
    mut tls: TcpStream,
    backend: &(dyn Fn() -> io::Result<TcpStream> + Send + Sync),
    cfg: Arc<ServerConfig>,
    stop: &AtomicBool,
    handshakes: &AtomicU64,
    close_after_register: &AtomicBool,
) -> io::Result<()> {
    let mut conn = ServerConnection::new(cfg).map_err(io::Error::other)?;
    let _ = tls.set_nodelay(true);
    let mut plain: Option<TcpStream> = None;
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut counted = false;
    while !stop.load(Relaxed) {
        let mut fds = [
            libc::pollfd {
                fd: tls.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                // poll(2) ignores a negative fd
                fd: plain.as_ref().map_or(-1, |p| p.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfd structures, their count.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 100) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[0].revents != 0 {
            if conn.read_tls(&mut tls)? == 0 {
                return Ok(());
            }
            conn.process_new_packets().map_err(io::Error::other)?;
            // counted here: a REGISTER that came with the client's
            // Finished may close the connection below
            if !counted && !conn.is_handshaking() {
                counted = true;
                handshakes.fetch_add(1, Relaxed);
            }
            loop {
                match conn.reader().read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        while let Some(msg) = next_message(&mut pending) {
            if msg.starts_with(b"REGISTER ") {
                if let Some(m) = crate::load_core::SipMsg::parse(&msg) {
                    let contact = m.header("contact").unwrap_or("*").to_string();
                    let extra = [
                        format!("Contact: {contact};expires=3600"),
                        "Expires: 3600".to_string(),
                    ];
                    conn.writer()
                        .write_all(&m.response(200, "OK", "reg", &extra, b""))?;
                    if close_after_register.load(Relaxed) {
                        conn.send_close_notify();
                        while conn.wants_write() {
                            conn.write_tls(&mut tls)?;
                        }
                        return Ok(());
                    }
                }
                continue;
            }
            if plain.is_none() {
                let p = backend()?;
                let _ = p.set_nodelay(true);
                plain = Some(p);
            }
            if let Some(p) = plain.as_mut() {
                p.write_all(&msg)?;
            }
        }
        if let (Some(p), true) = (plain.as_mut(), fds[1].revents != 0) {
            let n = p.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            conn.writer().write_all(&buf[..n])?;
        }
        if !counted && !conn.is_handshaking() {
            counted = true;
            handshakes.fetch_add(1, Relaxed);
        }
        while conn.wants_write() {
            conn.write_tls(&mut tls)?;
        }
    }
    Ok(())
}

/// How the front reaches the plain far end (a closure, so it can enter
/// the far end's network namespace).
pub fn connect_fn(f: impl Fn() -> io::Result<TcpStream> + Send + Sync + 'static) -> Connect {
    Arc::new(f)
}
