//! SIP over TLS (RFC 3261 §26.2.1, RFC 5630): the record layer of the
//! stream connections sipnat opens toward a provider, and of those phones
//! on the LAN open to `tls_listen_port`. The connection table, the
//! framing, the backlogs and the timers are TCP's ([`super::tcp`]); a TLS
//! connection is a TCP one with a rustls session in its slot (a client one
//! toward the provider, a server one for a phone), which
//! turns the socket's bytes into plaintext for the framer and the backlog's
//! plaintext into records for the socket. rustls is sans-IO, so this stays
//! in the one mio loop: nothing blocks, nothing spawns.
//!
//! # The peer's identity (RFC 5922), never downgraded
//! * The certificate must chain to a CA of `tls_ca_file` (default
//!   [`DEFAULT_CA_FILE`], OpenWrt's `ca-bundle`) and be valid now, and it
//!   must name the hop: the SIP domain or the configured proxy's host name
//!   the core found the hop by (RFC 5922 §4; sent as SNI too, RFC 6066 §3),
//!   or, for a hop given as an address, the name verified for that address
//!   before, else the address itself (an IP subjectAltName). webpki
//!   matches DNS-IDs, with a wildcard in the leftmost label as RFC 6125
//!   allows; RFC 5922 §7.2's SIP URI subjectAltNames are not read.
//! * With `tls_fingerprint`s, the certificate must be one of them (the
//!   SHA-256 of its DER): a pin is the whole identity (a self-signed
//!   certificate works), and no CA can stand in for it.
//! * The handshake's signatures are checked either way. A failure closes the
//!   connection, is logged once (warning) and counted (`tls.cert-rejected`,
//!   `tls.handshake-failed`); the requests that were waiting for it get a
//!   503 ([`crate::transport::failed`]). Nothing is ever sent in plain
//!   text instead.
//!
//! # Bounds
//! The connection table's (a fixed number of slots, per-host quotas), plus:
//! the connect timeout runs until the handshake is over (a slow handshake
//! is a connect that did not complete); rustls refuses records over 16 KiB
//! plus 2 KiB, and renegotiation (a TLS 1.2 HelloRequest gets a
//! `no_renegotiation` warning and is otherwise ignored); at most
//! [`BUFFER_LIMIT`] bytes are buffered in a session either way; reads per
//! pass are TCP's [`super::tcp::READ_ROUNDS`].
//!
//! # Toward the phones
//! With `tls_listen_port`, sipnat listens for TLS on every address but takes
//! it from the LAN only (a WAN peer is closed at accept, `tls.wan-refused`):
//! it shows the phones `tls_cert_file` with `tls_key_file` (read at start,
//! as root, and again at a reload; a reload that cannot read them keeps the
//! pair it has). An accepted connection must finish its handshake within
//! the connect allowance of a TLS connection, like one sipnat opens. sipnat
//! never opens TLS toward a phone (it could not check a phone's
//! certificate): a request for a phone whose TLS connection is gone gets
//! 480 until the phone registers again.
//!
//! # What it does not do
//! Client certificates (a phone's is not asked for), session resumption
//! across restarts, OCSP or CRLs.

use crate::config::Config;
use crate::net::Addr;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, Connection, DigitallySignedStruct, Error, ServerConfig,
    ServerConnection, SignatureScheme,
};
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;

/// Where OpenWrt's `ca-bundle` (and Debian's `ca-certificates`) put the CAs.
pub const DEFAULT_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The certificate and key shown to the phones when none is configured
/// (the init script makes a self-signed pair there with px5g, as OpenWrt's
/// uhttpd does for /etc/uhttpd.crt).
pub const DEFAULT_CERT_FILE: &str = "/etc/sipnat.crt";
pub const DEFAULT_KEY_FILE: &str = "/etc/sipnat.key";

/// Bytes a session may buffer, plaintext waiting for the handshake and
/// records waiting for the socket (TCP's backlog bound).
pub const BUFFER_LIMIT: usize = crate::limits::MAX_TCP_BACKLOG;

/// Addresses whose certificate was verified for a name, remembered so a
/// later hop given by address (a Record-Route) is checked against the same
/// name.
const VERIFIED: usize = 8;

/// The largest CA file read (Debian's bundle is about 220 KB).
const MAX_CA_FILE: u64 = 4 << 20;

type Name = heapless::String<{ crate::limits::MAX_DNS_NAME }>;

/// What one read of a session gave.
pub enum Got {
    /// Plaintext bytes, into the caller's buffer.
    Data(usize),
    /// Nothing now (the socket would block).
    Blocked,
    /// The peer closed the connection.
    Eof,
    /// The session failed (the counter's name: `cert-rejected`, …).
    Failed(&'static str),
}

/// The TLS side of the stream connections: the client configuration and a
/// session per TLS slot.
pub struct Tls {
    /// What the configuration says (`tls_ca_file`, `tls_fingerprint`).
    ca_file: Option<std::path::PathBuf>,
    pins: Vec<[u8; 32]>,
    /// Built at the first TLS connection (the CA bundle is read only when
    /// TLS is used); `Some(None)`: it could not be (logged once), and every
    /// TLS connection fails as rejected until the next reload.
    config: Option<Option<Arc<ClientConfig>>>,
    /// The server side for the phones: `None` without `tls_listen_port` or
    /// without a certificate and key that could be read.
    server: Option<Arc<ServerConfig>>,
    /// The TLS listening socket (`tls_listen_port`).
    listener: Option<mio::net::TcpListener>,
    sessions: Vec<Option<Box<Connection>>>,
    /// The name each session is to match, for [`Tls::up`].
    names: Vec<Name>,
    verified: heapless::Deque<(Addr, Name), VERIFIED>,
}

impl Tls {
    /// The client side, for `slots` connections; [`Tls::reconfigure`]
    /// gives it its settings.
    pub fn new(slots: usize) -> Tls {
        Tls {
            ca_file: None,
            pins: Vec::new(),
            config: None,
            server: None,
            listener: None,
            sessions: (0..slots).map(|_| None).collect(),
            names: (0..slots).map(|_| Name::new()).collect(),
            verified: heapless::Deque::new(),
        }
    }

    /// The settings of `cfg` (at start and at a reload): new sessions use
    /// them, open ones keep theirs.
    pub fn reconfigure(&mut self, cfg: &Config) {
        self.ca_file = cfg.tls_ca_file.clone();
        self.pins = cfg
            .tls_fingerprints
            .iter()
            .filter_map(|h| hex32(h))
            .collect();
        self.config = None;
        self.verified.clear();
        if cfg.tls_listen_port != 0 {
            let cert = cfg.tls_cert_file.as_deref();
            let key = cfg.tls_key_file.as_deref();
            match server_config(cert, key) {
                Ok(c) => self.server = Some(Arc::new(c)),
                // The pair sipnat has, if any, stays (logged).
                Err(e) => log::error!("tls: {e}"),
            }
        }
    }

    /// Listen for TLS on `port` (every address of `stack`), shared with the
    /// connections sipnat opens from it; once, at start.
    pub fn listen(
        &mut self,
        stack: super::sys::Stack,
        port: u16,
        token: mio::Token,
        registry: &mio::Registry,
    ) -> Result<(), String> {
        let mut l = super::sys::tcp_listen_shared(stack, port)
            .map(mio::net::TcpListener::from_std)
            .map_err(|e| format!("cannot listen on TLS port {port}: {e}"))?;
        registry
            .register(&mut l, token, mio::Interest::READABLE)
            .map_err(|e| format!("poll register: {e}"))?;
        self.listener = Some(l);
        Ok(())
    }

    /// The port of the TLS listening socket (tests bind port 0).
    #[cfg(test)]
    pub fn port(&self) -> Option<u16> {
        self.listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// The TLS listening socket, if any.
    pub fn listener_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.listener.as_ref().map(|l| l.as_raw_fd())
    }

    /// Start a server session in `slot` for a phone's connection.
    pub fn accept(&mut self, slot: usize) -> Result<(), &'static str> {
        let Some(config) = self.server.clone() else {
            return Err("no-certificate");
        };
        let mut session = ServerConnection::new(config).map_err(|_| "handshake-failed")?;
        session.set_buffer_limit(Some(BUFFER_LIMIT));
        if let Some(s) = self.sessions.get_mut(slot) {
            *s = Some(Box::new(Connection::Server(session)));
        }
        Ok(())
    }

    /// Whether `slot` carries TLS.
    pub fn is_tls(&self, slot: usize) -> bool {
        self.sessions.get(slot).is_some_and(Option::is_some)
    }

    /// Start a client session in `slot` toward `peer`, whose certificate
    /// must match `name` (empty: see the module doc). The ClientHello
    /// waits in the session until [`Tls::flush`].
    pub fn start(&mut self, slot: usize, peer: Addr, name: &str) -> Result<(), &'static str> {
        let built = match &self.config {
            Some(built) => built.clone(),
            None => {
                let built = client_config(self.ca_file.as_deref(), &self.pins).map(Arc::new);
                self.config = Some(built.clone());
                built
            }
        };
        let Some(config) = built else {
            log::debug!("tls: no connection to {peer}: no CA certificates to check it with");
            return Err("cert-rejected");
        };
        let name = if name.is_empty() {
            self.verified
                .iter()
                .find(|(a, _)| *a == peer)
                .map_or("", |(_, n)| n.as_str())
        } else {
            name
        };
        let server = if name.is_empty() {
            ServerName::IpAddress(peer.ip().into())
        } else {
            ServerName::try_from(name.to_string()).map_err(|_| "bad-name")?
        };
        let mut session = ClientConnection::new(config, server).map_err(|e| {
            log::warn!("tls: no connection to {peer}: {e}");
            "handshake-failed"
        })?;
        session.set_buffer_limit(Some(BUFFER_LIMIT));
        let kept = Name::try_from(name).unwrap_or_default();
        if let (Some(s), Some(n)) = (self.sessions.get_mut(slot), self.names.get_mut(slot)) {
            *s = Some(Box::new(Connection::Client(session)));
            *n = kept;
        }
        Ok(())
    }

    /// The session in `slot` is gone (the connection closed); a clean close
    /// sends close_notify first, as far as the socket takes it.
    pub fn end(&mut self, slot: usize, sock: Option<&mut mio::net::TcpStream>) {
        let Some(mut s) = self.sessions.get_mut(slot).and_then(Option::take) else {
            return;
        };
        if let Some(sock) = sock {
            if !s.is_handshaking() {
                s.send_close_notify();
                let _ = flush_session(&mut s, sock);
            }
        }
    }

    /// Whether the handshake in `slot` is still going on.
    pub fn handshaking(&self, slot: usize) -> bool {
        self.session(slot).is_some_and(|s| s.is_handshaking())
    }

    /// The handshake in `slot` is over: remember the name its peer proved
    /// (for later hops to that address given without a name).
    pub fn up(&mut self, slot: usize, peer: Addr) {
        let Some(name) = self.names.get(slot).filter(|n| !n.is_empty()) else {
            return;
        };
        self.verified.retain(|(a, _)| *a != peer);
        if self.verified.is_full() {
            self.verified.pop_front();
        }
        let _ = self.verified.push_back((peer, name.clone()));
    }

    /// Read from the socket through the session in `slot`: plaintext into
    /// `buf`, whatever was decrypted before first. Handshake messages and
    /// alerts the session owes the peer are written at once.
    pub fn read(&mut self, slot: usize, sock: &mut mio::net::TcpStream, buf: &mut [u8]) -> Got {
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_deref_mut) else {
            return Got::Failed("no-session");
        };
        loop {
            match s.reader().read(buf) {
                Ok(0) => return Got::Eof,
                Ok(n) => return Got::Data(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return Got::Eof,
            }
            match s.read_tls(sock) {
                Ok(0) => return Got::Eof,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Got::Blocked,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Got::Failed("read-error"),
            }
            let failed = s.process_new_packets().err();
            // What the session owes the peer (the next handshake flight,
            // or the alert that says why it failed).
            let _ = flush_session(s, sock);
            if let Some(e) = failed {
                return Got::Failed(classify(&e, sock));
            }
        }
    }

    /// Hand plaintext to the session in `slot`; how much it took (it
    /// buffers at most [`BUFFER_LIMIT`]).
    pub fn write(&mut self, slot: usize, bytes: &[u8]) -> usize {
        match self.sessions.get_mut(slot).and_then(Option::as_deref_mut) {
            Some(s) => s.writer().write(bytes).unwrap_or(0),
            None => 0,
        }
    }

    /// Write the records the session in `slot` has ready; true when some
    /// went out.
    pub fn flush(&mut self, slot: usize, sock: &mut mio::net::TcpStream) -> bool {
        match self.sessions.get_mut(slot).and_then(Option::as_deref_mut) {
            Some(s) => flush_session(s, sock),
            None => false,
        }
    }

    fn session(&self, slot: usize) -> Option<&Connection> {
        self.sessions.get(slot).and_then(Option::as_deref)
    }
}

/// Write what the session has for the socket, until it would block.
fn flush_session(s: &mut Connection, sock: &mut mio::net::TcpStream) -> bool {
    let mut wrote = false;
    while s.wants_write() {
        match s.write_tls(sock) {
            Ok(0) => break,
            Ok(_) => wrote = true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = sock.flush();
    wrote
}

/// The counter for a failed session, and the one log line an operator
/// needs for a certificate refused.
fn classify(e: &Error, sock: &mio::net::TcpStream) -> &'static str {
    let peer = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    match e {
        Error::InvalidCertificate(why) => {
            log::warn!("tls: the certificate of {peer} is rejected: {why:?}");
            "cert-rejected"
        }
        Error::AlertReceived(alert) => {
            log::warn!("tls: {peer} ended the handshake: {alert:?}");
            "alert-received"
        }
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
            log::debug!("tls: {peer}: {e}");
            "bad-record"
        }
        _ => {
            log::warn!("tls: with {peer}: {e}");
            "handshake-failed"
        }
    }
}

/// The client configuration: certificates checked against `pins` when there
/// are any, else against the CAs of `ca_file`; `None` (logged) when there
/// is nothing to check a certificate with.
fn client_config(ca_file: Option<&std::path::Path>, pins: &[[u8; 32]]) -> Option<ClientConfig> {
    // ring: it cross-builds for every target here with the C compiler
    // sipnat is linked with (rustls's post-quantum key exchange needs
    // aws-lc-rs, which needs cmake and a C toolchain per target).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pins = pins.to_vec();
    let webpki = if pins.is_empty() {
        let path = ca_file.unwrap_or(std::path::Path::new(DEFAULT_CA_FILE));
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::File::open(path).and_then(|f| crate::config::read_all(f, MAX_CA_FILE));
        let pem = match pem {
            Ok(pem) => pem,
            Err(e) => {
                log::error!(
                    "tls: cannot read the CA certificates in {}: {e}",
                    path.display()
                );
                return None;
            }
        };
        for der in CertificateDer::pem_slice_iter(&pem).flatten() {
            let _ = roots.add(der);
        }
        match WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()
        {
            Ok(v) => Some(v),
            Err(e) => {
                log::error!("tls: no CA certificate in {}: {e}", path.display());
                return None;
            }
        }
    } else {
        None
    };
    let verifier = Arc::new(Verifier {
        webpki,
        pins,
        provider: provider.clone(),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Some(config)
}

/// The server side's configuration: the certificate chain and key of the
/// files given (else [`DEFAULT_CERT_FILE`], [`DEFAULT_KEY_FILE`]).
fn server_config(
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
) -> Result<ServerConfig, String> {
    use rustls::pki_types::PrivateKeyDer;
    let cert = cert.unwrap_or(std::path::Path::new(DEFAULT_CERT_FILE));
    let key = key.unwrap_or(std::path::Path::new(DEFAULT_KEY_FILE));
    let read = |p: &std::path::Path| {
        std::fs::File::open(p)
            .and_then(|f| crate::config::read_all(f, MAX_CA_FILE))
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let pem = read(key)?;
    let der = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?;
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, der)
        .map_err(|e| format!("{} with {}: {e}", cert.display(), key.display()))
}

/// 64 hex digits (as `config` keeps a fingerprint) as bytes.
fn hex32(h: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    for (i, pair) in h.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        *out.get_mut(i)? = u8::from_str_radix(s, 16).ok()?;
    }
    (h.len() == 64).then_some(out)
}

/// The certificate check of the module doc: the pins when there are any,
/// else webpki against the CA file.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if !self.pins.is_empty() {
            let fingerprint = crate::auth::sha256::digest(&[end_entity.as_ref()]);
            return if self.pins.contains(&fingerprint) {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ))
            };
        }
        match &self.webpki {
            Some(w) => w.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Err(Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests;
