//! SIP over TLS toward the provider (issue 17), against a real TLS SIP
//! server: kamailio with its TLS module (`-A WITH_TLS` of
//! `tests/netns/peers/kamailio.cfg`) as the provider on the WAN side of the
//! real-peers topology (`tests/netns/peers/topo.sh`, the lab of `peers/`),
//! listening on `tls:198.51.100.2:5061` besides UDP and TCP 5060, and UDP
//! phones (baresip, or a plain socket) on the LAN:
//!
//! ```text
//!  phone A 10.77.1.2 (100) ─┐  UDP          TLS     ┌─ kamailio 198.51.100.2
//!                           ├─ rlan [sipnat] rwan ──┤   udp/tcp :5060, tls :5061
//!  phone B 10.77.1.3 (101) ─┘ 10.77.1.1  198.51.100.1 └─ phone W 198.51.100.3 (200, UDP)
//! ```
//!
//! (and, for **(f)**, phone A speaking TLS to sipnat's `tls_listen_port`
//! 10.77.1.1:5061, sipnat showing a certificate of the test CA for
//! 10.77.1.1, `tls_cert_file`/`tls_key_file`).
//!
//! sipnat is configured as the issue asks (the names of its TLS options):
//! `outbound_proxy_host` the provider (its address here),
//! `outbound_proxy_port = 5061`, `outbound_tls = 1` (TLS toward the
//! outbound proxy whatever the phone speaks), `tls_ca_file` the test CA,
//! or `tls_fingerprint` the SHA-256 fingerprint of a pinned certificate
//! (colons allowed; then no CA is needed). Refused certificates are
//! counted as `tls.cert-rejected` in `sipnat status --json` (`counters`).
//!
//! The certificates are made for each test with the `openssl` CLI in the
//! test's work directory (none is committed, [`Certs`]; P-256 keys, a few
//! hundred milliseconds): a test CA; the provider's certificate from it
//! for `sip.provider.test` with the provider's address as an IP SAN (by
//! address the IP SAN is the identity checked, by name the DNS name); the
//! same from another CA; the same from the test CA but valid in January
//! 2020 only (`openssl ca -startdate/-enddate`: OpenSSL 3.0's `x509`
//! cannot date one in the past); one from the test CA naming the address
//! only; and a self-signed one, with its fingerprint (`openssl x509
//! -fingerprint -sha256`, `EF:84:…`).
//!
//! kamailio never opens a TLS connection itself (`set_forward_no_connect`,
//! `set_reply_no_connect`): sipnat has no certificate to be a TLS server
//! with, so everything kamailio sends it (the 200 of a REGISTER, a call in,
//! a BYE toward sipnat's Record-Route) must go over the connection sipnat
//! opened, found by the address it comes from (kamailio's
//! `fix_nated_register`, `-A WITH_RECEIVED`) or by the one sipnat names in
//! its Record-Route. [`rig_kamailio_takes_a_registration_over_tls_and_calls_back_over_it`]
//! proves that of the rig without sipnat: a TLS client registers, a call
//! comes back over its connection, and once that connection is closed the
//! next call is refused instead of connecting anew.
//!
//! The tests:
//!
//! * **rig** (no sipnat, passes today): the above, and the rig's capture
//!   shows TLS records only. Each scenario also probes kamailio with a
//!   rustls client before sipnat starts: the right certificate passes the
//!   test CA by name and by address, the other CA's fails as an unknown
//!   issuer, the expired one as expired, the address-only one by name as
//!   not valid for the name, the self-signed one is the certificate whose
//!   fingerprint sipnat is given.
//! * **(a) calls**: A and B register through sipnat over TLS (kamailio's
//!   location table: each binding on its `tls:198.51.100.2:5061` socket, no
//!   LAN address; its log: the REGISTERs came over TLS from the router), A
//!   calls W and W calls B with audio both ways (`peers::call`), every call
//!   ends, and kamailio never lacked a connection of sipnat's for what it
//!   sent (no `tcp_send failed` in its log). **(e)** On the router's WAN
//!   capture: no plain-text SIP (no `SIP/2.0`, `REGISTER `, `INVITE ` in
//!   any UDP or TCP payload to or from the router), one TCP connection,
//!   sipnat's to kamailio's 5061, starting with TLS handshake records both
//!   ways, none from kamailio; and no LAN address (`peers::check_wan_captures`).
//! * **(b) another CA**, **(c) expired**: a plain UDP phone's REGISTER gets
//!   `503` from sipnat, `tls.cert-rejected` is counted, sipnat did try (its
//!   connection to 5061 on the WAN), kamailio registered no one, no plain
//!   SIP on the WAN.
//! * **(d) pinned**: the provider's certificate is self-signed, sipnat has
//!   its fingerprint and no CA file: the REGISTER gets kamailio's 200 (the
//!   binding on the TLS socket) and nothing is counted as rejected; with
//!   another certificate's fingerprint: `503` and counted.
//! * **by name**: `outbound_proxy_host = sip.provider.test`, resolved
//!   through a stand-in DNS server on the provider's address
//!   (`netns_env::dns`, `/etc/netns/<router>/resolv.conf`): with the right
//!   certificate the REGISTER gets 200; with one from the right CA that
//!   names only the provider's address, 503 and counted, since the identity
//!   checked is the name sipnat was given (RFC 5922), not the address it
//!   resolved.
//! * **idle close**: kamailio closes idle connections (`-A TLS_IDLE=1`:
//!   after about 11 s, with a FIN and no close_notify); afterwards the
//!   phone's REGISTER still gets 200 and a call in reaches it (sipnat
//!   reconnects, or keeps its connection alive). The slow one: ~13 s.
//! * **(f) a TLS phone on the LAN**: baresip A registers to sipnat over
//!   TLS (`;outbound="sip:10.77.1.1:5061;transport=tls"`, `sip_cafile` the
//!   test CA; baresip 1.0 with libre 1.1 does not in fact check the server's
//!   certificate, so what its trust proves is only that the handshake
//!   completes), sipnat reaching kamailio over TLS (both hops TLS) or over
//!   UDP; A calls W and W calls A with audio both ways. The LAN capture
//!   holds none of A's SIP in plain text, A's connections (to 5061) begin
//!   with TLS handshake records both ways, and sipnat opens none toward A;
//!   the WAN holds no LAN address (and over TLS no plain SIP, one
//!   connection). A's SIP trace (`baresip -s`): every message with the
//!   router over TLS with its 5061, sipnat's Via and Record-Route in the
//!   INVITE to A `10.77.1.1:5061;transport=tls`, its Record-Route in the
//!   200 of A's INVITE too. A rustls client on the LAN checks sipnat's
//!   certificate against the test CA for 10.77.1.1; one on the WAN gets
//!   no TLS from the router's 5061. The WAN's plain PCMU also checks the
//!   tone meter that (g) relies on: it hears both tones there.
//! * **(g) SRTP**: A (UDP to sipnat) and W, both baresip with SDES-SRTP
//!   (the `srtp` module, `mediaenc=srtp-mand`), call each other through
//!   sipnat and the TLS provider: audio both ways (baresip decrypts what
//!   it plays); on the WAN the RTP payloads carry neither tone (the share
//!   of their energy at the tone's frequency is that of noise), A's
//!   encrypted payloads on the LAN are those sipnat sends W and W's those
//!   A gets; every offer and answer keeps `RTP/SAVP` and its `a=crypto`
//!   lines as written, read for what crossed to kamailio over TLS from
//!   kamailio's log (`-A LOG_SDP`) and for the rest from the LAN capture.
//!
//! Run with `cargo test --features tls --test netns_tls` (the whole file is
//! compiled only with the `tls` feature). What they need: what
//! `tests/netns_peers.rs` needs, plus kamailio's TLS module
//! (`kamailio-tls-modules`) and `openssl` (`tests/setup-deps.sh`). Without
//! them every test FAILS saying so, unless `SIPNAT_SKIP_NETNS=1`. Each test
//! has its own namespaces and work directory, removed also when it fails
//! (then the logs' tails are printed and the work directory is kept).
#![cfg(feature = "tls")]

mod netns_env;
mod pcap;
mod peers;

use netns_env::dns::{DnsServer, ResolvConf, openwrt_resolv_conf};
use netns_env::sh;
use peers::audio::{Audio, pcmu_tone, pcmu_tone_share};
use peers::lab::{connect_in, in_netns};
use peers::wire::{Pkt, parse_pcap, rtp_payloads, sip_by_transport};
use peers::{
    LAN_TEXTS, Lab, MIN_RTP, MIN_TONE_FRAMES, PLAN4, PROVIDER, PhoneSpec, ROUTER_LAN, ROUTER_WAN,
    Tp, WAIT, WAN_PHONE, assert_kamailio_log_clean, bindings, call, check_wan_captures,
    print_calls, skip_allowed, wait_idle, wait_registered,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The provider's SIP domain: the name on its certificate.
const SIP_DOMAIN: &str = "sip.provider.test";
/// The accounts' domain and dialled host: the provider's address (sipnat
/// reaches the provider by address, whose certificate has it as IP SAN).
const DOMAIN: &str = "198.51.100.2";
/// kamailio's TLS socket, as its location table names it.
const TLS_SOCKET: &str = "tls:198.51.100.2:5061";

// ------------------------------------------------------------ certificates

/// The test's certificates, made with the `openssl` CLI in `dir`.
struct Certs {
    dir: PathBuf,
}

/// A provider certificate to present: its PEM file and key.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Presented {
    /// From the test CA, for `sip.provider.test` and 198.51.100.2.
    Good,
    /// The same name and key from another CA.
    OtherCa,
    /// From the test CA, valid January 2020 only.
    Expired,
    /// Self-signed (its own key), for the same name and address.
    SelfSigned,
    /// From the test CA, for the address only (no DNS name).
    AddressOnly,
}

/// The extensions of every provider certificate (a server's, with the
/// SIP domain and the provider's address).
const SERVER_EXT: &str = "basicConstraints = critical,CA:FALSE\n\
    keyUsage = critical,digitalSignature\n\
    extendedKeyUsage = serverAuth\n\
    subjectAltName = DNS:sip.provider.test,IP:198.51.100.2\n";

/// `openssl ca`'s configuration for the expired certificate: a database in
/// `db/`, any subject, the extensions of the command line only.
const CA_CNF: &str = "[ca]\ndefault_ca = test\n[test]\ndatabase = db/index.txt\n\
    serial = db/serial\nnew_certs_dir = db\ndefault_md = sha256\npolicy = any\n\
    unique_subject = no\ncopy_extensions = none\n[any]\ncommonName = supplied\n";

/// `openssl req`'s configuration: nothing of the system's defaults (no
/// extensions but those given with -addext).
const REQ_CNF: &str = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n";

impl Certs {
    /// Make them all (a few hundred milliseconds: P-256 keys).
    fn make(dir: PathBuf) -> Certs {
        fs::create_dir_all(dir.join("db")).expect("certificate dir");
        fs::write(dir.join("req.cnf"), REQ_CNF).unwrap();
        fs::write(dir.join("ext.cnf"), SERVER_EXT).unwrap();
        fs::write(dir.join("ca.cnf"), CA_CNF).unwrap();
        fs::write(dir.join("db/index.txt"), "").unwrap();
        fs::write(dir.join("db/serial"), "1000\n").unwrap();
        let c = Certs { dir };
        for key in [
            "ca.key",
            "other-ca.key",
            "provider.key",
            "self.key",
            "router.key",
        ] {
            c.openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                key,
            ]);
        }
        for (ca, cn) in [("ca", "sipnat test CA"), ("other-ca", "another CA")] {
            c.openssl(&[
                "req",
                "-new",
                "-x509",
                "-config",
                "req.cnf",
                "-key",
                &format!("{ca}.key"),
                "-subj",
                &format!("/CN={cn}"),
                "-days",
                "30",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-out",
                &format!("{ca}.pem"),
            ]);
        }
        c.openssl(&[
            "req",
            "-new",
            "-config",
            "req.cnf",
            "-key",
            "provider.key",
            "-subj",
            &format!("/CN={SIP_DOMAIN}"),
            "-out",
            "provider.csr",
        ]);
        c.openssl(&[
            "req",
            "-new",
            "-config",
            "req.cnf",
            "-key",
            "router.key",
            "-subj",
            "/CN=router.lan",
            "-out",
            "router.csr",
        ]);
        // The address-only one: the extensions without the DNS name.
        let ip_only = SERVER_EXT.replace("DNS:sip.provider.test,", "");
        fs::write(c.path("ext-ip.cnf"), ip_only).unwrap();
        // sipnat's own toward the LAN phones: the router's LAN address.
        let router = SERVER_EXT.replace(
            "DNS:sip.provider.test,IP:198.51.100.2",
            "DNS:router.lan,IP:10.77.1.1",
        );
        fs::write(c.path("ext-router.cnf"), router).unwrap();
        for (csr, ca, ext, out) in [
            ("provider", "ca", "ext.cnf", "provider.pem"),
            ("provider", "other-ca", "ext.cnf", "other-ca-provider.pem"),
            ("provider", "ca", "ext-ip.cnf", "address-only.pem"),
            ("router", "ca", "ext-router.cnf", "router.pem"),
        ] {
            c.openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{csr}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                ext,
                "-out",
                out,
            ]);
        }
        // OpenSSL 3.0's x509 cannot date a certificate in the past; its
        // `ca` can.
        c.openssl(&[
            "ca",
            "-config",
            "ca.cnf",
            "-batch",
            "-notext",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            "provider.csr",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200201000000Z",
            "-extfile",
            "ext.cnf",
            "-out",
            "expired.pem",
        ]);
        c.openssl(&[
            "req",
            "-new",
            "-x509",
            "-config",
            "req.cnf",
            "-key",
            "self.key",
            "-subj",
            &format!("/CN={SIP_DOMAIN}"),
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-addext",
            "subjectAltName=DNS:sip.provider.test,IP:198.51.100.2",
            "-out",
            "self.pem",
        ]);
        c
    }

    /// `openssl args` in the certificates' directory; its standard output.
    fn openssl(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The test CA (what `tls_ca_file` names).
    fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// sipnat's certificate and key toward the LAN (`tls_cert_file`,
    /// `tls_key_file`): from the test CA, for 10.77.1.1 and `router.lan`.
    fn router(&self) -> (PathBuf, PathBuf) {
        (self.path("router.pem"), self.path("router.key"))
    }

    /// The certificate and key kamailio presents for `p`.
    fn presented(&self, p: Presented) -> (PathBuf, PathBuf) {
        let (cert, key) = match p {
            Presented::Good => ("provider.pem", "provider.key"),
            Presented::OtherCa => ("other-ca-provider.pem", "provider.key"),
            Presented::Expired => ("expired.pem", "provider.key"),
            Presented::SelfSigned => ("self.pem", "self.key"),
            Presented::AddressOnly => ("address-only.pem", "provider.key"),
        };
        (self.path(cert), self.path(key))
    }

    /// The SHA-256 fingerprint of a certificate's DER as `openssl x509
    /// -fingerprint -sha256` prints it: `EF:84:…` (what `tls_fingerprint`
    /// takes).
    fn fingerprint(&self, pem: &Path) -> String {
        let out = self.openssl(&[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            pem.to_str().unwrap(),
        ]);
        let fp = out.trim().rsplit('=').next().unwrap_or("").to_string();
        assert_eq!(fp.len(), 32 * 3 - 1, "a SHA-256 fingerprint: {out}");
        fp
    }

    /// A certificate's DER.
    fn der(pem: &Path) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(pem).unwrap_or_else(|e| panic!("{}: {e}", pem.display()))
    }
}

// ---------------------------------------------------------------- the lab

/// Why this machine cannot run the TLS rig beyond what the real-peers lab
/// needs: `openssl`, kamailio's TLS module.
fn tls_problem() -> Option<String> {
    if !sh("openssl", &["version"]).is_some_and(|o| o.status.success()) {
        return Some("'openssl' not found (tests/setup-deps.sh installs it)".into());
    }
    let mut dirs = vec![PathBuf::from("/usr/lib/kamailio/modules")];
    if let Ok(d) = fs::read_dir("/usr/lib") {
        dirs.extend(d.filter_map(|e| Some(e.ok()?.path().join("kamailio/modules"))));
    }
    if !dirs.iter().any(|d| d.join("tls.so").exists()) {
        return Some(
            "kamailio's TLS module tls.so is missing (kamailio-tls-modules; \
             tests/setup-deps.sh installs it)"
                .into(),
        );
    }
    None
}

/// The real-peers lab with the test's certificates and kamailio as a TLS
/// provider presenting `presented`. `None`: skipped.
fn tls_lab(name: &'static str, presented: Presented) -> Option<(Lab, Certs)> {
    tls_lab_idle(name, presented, None, &[])
}

/// [`tls_lab`] with kamailio closing connections idle for `idle` seconds,
/// and started with the `-A` defines `more` as well (`LOG_SDP`).
fn tls_lab_idle(
    name: &'static str,
    presented: Presented,
    idle: Option<u32>,
    more: &[&str],
) -> Option<(Lab, Certs)> {
    if let Some(why) = tls_problem() {
        if skip_allowed() {
            println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {why}");
            return None;
        }
        panic!(
            "the TLS tests cannot run here: {why}\n\
             Set SIPNAT_SKIP_NETNS=1 to skip them on purpose."
        );
    }
    let mut lab = Lab::new(name, PLAN4)?;
    let certs = Certs::make(lab.path("certs"));
    let (cert, key) = certs.presented(presented);
    lab.start_kamailio_tls(true, &cert, &key, idle, more);
    Some((lab, certs))
}

/// sipnat's configuration lines toward the TLS provider at `host`, and
/// `more`.
fn sipnat_tls(host: &str, more: &str) -> String {
    format!("outbound_proxy_host = {host}\noutbound_proxy_port = 5061\noutbound_tls = 1\n{more}")
}

// ----------------------------------------------- a TLS client of our own

/// A server certificate verifier that takes any certificate (with a valid
/// handshake signature) and keeps what it was shown: the rig's look at a
/// certificate that no CA vouches for.
#[derive(Debug)]
struct Recorder {
    seen: Mutex<Vec<CertificateDer<'static>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.seen
            .lock()
            .unwrap()
            .push(end_entity.clone().into_owned());
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// How the rig's client checks kamailio's certificate.
enum Trust<'a> {
    /// Against this CA, for this name (a DNS name or an address).
    Ca(&'a Path, &'a str),
    /// Not at all: the certificate shown is kept in the recorder.
    Record(Arc<Recorder>),
}

/// A SIP connection over TLS from the router's namespace to kamailio's
/// 5061 (rustls, as sipnat), with what it has read and not yet taken.
struct TlsSip {
    s: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

/// rustls's ring provider, the one sipnat's `tls` feature brings (rustls
/// 0.23.48 deprecated it for its want of post-quantum key exchange, which
/// does not matter to this rig).
#[allow(deprecated)]
fn provider_ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsSip {
    /// Connect and complete the handshake; the handshake's error as text.
    fn connect(lab: &Lab, trust: Trust) -> Result<TlsSip, String> {
        TlsSip::connect_at(&lab.ns('r'), SocketAddr::new(PROVIDER, 5061), trust)
    }

    /// The same from namespace `ns` to `to` (sipnat's `tls_listen_port`
    /// from the LAN or the WAN).
    fn connect_at(ns: &str, to: SocketAddr, trust: Trust) -> Result<TlsSip, String> {
        let builder = ClientConfig::builder_with_provider(provider_ring())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let (config, name) = match trust {
            Trust::Ca(ca, name) => {
                let mut roots = RootCertStore::empty();
                roots.add(Certs::der(ca)).expect("the test CA");
                let config = builder.with_root_certificates(roots).with_no_client_auth();
                (config, name.to_string())
            }
            Trust::Record(r) => {
                let config = builder
                    .dangerous()
                    .with_custom_certificate_verifier(r)
                    .with_no_client_auth();
                (config, SIP_DOMAIN.to_string())
            }
        };
        let name = ServerName::try_from(name).expect("a server name");
        let conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let tcp = connect_in(ns, to, WAIT).map_err(|e| format!("TCP connection to {to}: {e}"))?;
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let mut s = StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| format!("{e:?}"))?;
        }
        Ok(TlsSip { s, buf: Vec::new() })
    }

    fn local_port(&self) -> u16 {
        self.s.sock.local_addr().unwrap().port()
    }

    fn send(&mut self, msg: &str) {
        self.s.write_all(msg.as_bytes()).expect("TLS write");
        self.s.flush().expect("TLS flush");
    }

    /// The next SIP message (head and body by Content-Length) within
    /// `wait`, if one comes.
    fn recv(&mut self, wait: Duration) -> Option<String> {
        let end = Instant::now() + wait;
        loop {
            if let Some(head) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&self.buf[..head]).into_owned();
                let len: usize = header(&text, "content-length").parse().unwrap_or(0);
                if self.buf.len() >= head + 4 + len {
                    let msg: Vec<u8> = self.buf.drain(..head + 4 + len).collect();
                    return Some(String::from_utf8_lossy(&msg).into_owned());
                }
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.s
                .sock
                .set_read_timeout(Some(left.max(Duration::from_millis(10))))
                .unwrap();
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                // kamailio closes an idle connection without close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return None,
                Err(e) => panic!("TLS read: {e}"),
            }
        }
    }

    /// Say goodbye (close_notify) and close the connection.
    fn close(mut self) {
        self.s.conn.send_close_notify();
        let _ = self.s.flush();
        let _ = self.s.sock.shutdown(std::net::Shutdown::Both);
    }
}

/// The value of header `name` (lower case, full form) in `msg`; "" when
/// absent.
fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or("")
}

/// Every line of header `name` in `msg`, whole.
fn header_lines<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
        .collect()
}

/// The answer `code reason` to request `req`: its Vias, From, To (with a
/// tag), Call-ID and CSeq.
fn answer(req: &str, code: &str) -> String {
    let mut r = format!("SIP/2.0 {code}\r\n");
    for line in req.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if ["via:", "from:", "call-id:", "cseq:"]
            .iter()
            .any(|h| lower.starts_with(h))
        {
            r.push_str(line);
            r.push_str("\r\n");
        } else if lower.starts_with("to:") {
            r.push_str(line);
            r.push_str(";tag=rig\r\n");
        }
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r
}

/// The status code of a response ("" for a request).
fn status_code(msg: &str) -> &str {
    msg.strip_prefix("SIP/2.0 ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or("")
}

/// Before sipnat starts: what a rustls client in the router's namespace
/// makes of the certificate kamailio presents.
fn probe(lab: &Lab, certs: &Certs, presented: Presented) {
    let ca = certs.ca();
    let by_ca = |name: &str| TlsSip::connect(lab, Trust::Ca(&ca, name)).map(TlsSip::close);
    match presented {
        Presented::Good => {
            for name in [SIP_DOMAIN, DOMAIN] {
                by_ca(name).unwrap_or_else(|e| {
                    panic!(
                        "rig: the provider's certificate does not pass the test CA for {name}: \
                         {e}\n{}",
                        lab.context()
                    )
                });
            }
        }
        Presented::OtherCa | Presented::Expired => {
            let want = match presented {
                Presented::OtherCa => "UnknownIssuer",
                _ => "Expired",
            };
            let got = by_ca(DOMAIN);
            assert!(
                matches!(&got, Err(e) if e.contains(want)),
                "rig: the {presented:?} certificate against the test CA: {want} expected, \
                 got {got:?}\n{}",
                lab.context()
            );
        }
        Presented::AddressOnly => {
            by_ca(DOMAIN).unwrap_or_else(|e| {
                panic!(
                    "rig: the address-only certificate by address: {e}\n{}",
                    lab.context()
                )
            });
            let got = by_ca(SIP_DOMAIN);
            assert!(
                matches!(&got, Err(e) if e.contains("NotValidForName")),
                "rig: the address-only certificate by name: NotValidForName expected, \
                 got {got:?}\n{}",
                lab.context()
            );
        }
        Presented::SelfSigned => {
            let r = Arc::new(Recorder {
                seen: Mutex::new(Vec::new()),
                provider: provider_ring(),
            });
            TlsSip::connect(lab, Trust::Record(r.clone()))
                .unwrap_or_else(|e| panic!("rig: {e}\n{}", lab.context()))
                .close();
            let (pem, _) = certs.presented(presented);
            assert_eq!(
                r.seen.lock().unwrap().as_slice(),
                [Certs::der(&pem)],
                "rig: kamailio presented another certificate than self.pem"
            );
            let got = by_ca(DOMAIN);
            assert!(
                matches!(&got, Err(e) if e.contains("UnknownIssuer")),
                "rig: the self-signed certificate passed the test CA: {got:?}"
            );
        }
    }
}

// ------------------------------------------------------------ the captures

/// SIP in plain text on the WAN: packets to or from the router whose UDP
/// or TCP payload holds `SIP/2.0`, `REGISTER ` or `INVITE `; a line each.
fn plain_sip(pkts: &[Pkt]) -> Vec<String> {
    plain_sip_at(pkts, ROUTER_WAN)
}

/// SIP in plain text to or from `at` (the router's WAN address, a TLS
/// phone's), as [`plain_sip`].
fn plain_sip_at(pkts: &[Pkt], at: IpAddr) -> Vec<String> {
    let needles: [&[u8]; 3] = [b"SIP/2.0", b"REGISTER ", b"INVITE "];
    pkts.iter()
        .filter(|p| (p.src == at || p.dst == at) && matches!(p.proto, 6 | 17))
        .filter(|p| {
            needles
                .iter()
                .any(|n| p.payload.windows(n.len()).any(|w| w == *n))
        })
        .map(|p| {
            let text = String::from_utf8_lossy(&p.payload);
            format!(
                "{} {}:{} -> {}:{}: {}",
                if p.proto == 6 { "TCP" } else { "UDP" },
                p.src,
                p.sport,
                p.dst,
                p.dport,
                text.lines().next().unwrap_or("")
            )
        })
        .collect()
}

/// The TCP connections `from` opened to `to`: (source port, port).
fn opened(pkts: &[Pkt], from: IpAddr, to: IpAddr) -> Vec<(u16, u16)> {
    pkts.iter()
        .filter(|p| p.proto == 6 && p.syn && !p.ack && p.src == from && p.dst == to)
        .map(|p| (p.sport, p.dport))
        .collect()
}

/// The first data of the TCP connection of router port `port` each way:
/// both must be TLS handshake records (content type 22, version 3.x).
fn assert_tls_records(pkts: &[Pkt], port: u16) {
    assert_tls_between(pkts, (ROUTER_WAN, port), (PROVIDER, 5061));
}

/// The first data of the TCP connection between `client` and `server`
/// (address, port) each way: both must be TLS handshake records.
fn assert_tls_between(pkts: &[Pkt], client: (IpAddr, u16), server: (IpAddr, u16)) {
    for (src, sport) in [client, server] {
        let first = pkts
            .iter()
            .find(|p| p.proto == 6 && p.src == src && p.sport == sport && !p.payload.is_empty())
            .unwrap_or_else(|| panic!("no data from {src}:{sport} on the TLS connection"));
        assert!(
            first.payload.len() >= 5 && first.payload[0] == 22 && first.payload[1] == 3,
            "the connection's first data from {src}:{sport} is no TLS handshake record: {:02x?}",
            &first.payload[..first.payload.len().min(16)]
        );
    }
}

// -------------------------------------------------- a phone's REGISTER

/// A plain UDP phone in A's namespace, 10.77.1.2:5090, user 100.
struct UdpPhone(UdpSocket);

impl UdpPhone {
    fn new(lab: &Lab) -> UdpPhone {
        UdpPhone(in_netns(&lab.ns('l'), || {
            UdpSocket::bind("10.77.1.2:5090").expect("bind in A's namespace")
        }))
    }

    /// The next message within `wait`, if one comes.
    fn recv(&self, wait: Duration) -> Option<String> {
        self.0.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 8192];
        let (n, _) = self.0.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn send(&self, msg: &str) {
        self.0
            .send_to(msg.as_bytes(), "10.77.1.1:5060")
            .expect("send to sipnat");
    }

    /// REGISTER (CSeq `cseq`, a branch of its own) at `domain` through
    /// sipnat; the final response (1xx skipped), or a panic after `wait`.
    fn register(&self, lab: &Lab, domain: &str, cseq: u32, wait: Duration) -> String {
        self.send(&format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.77.1.2:5090;branch=z9hG4bKtls{cseq};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:100@{domain}>;tag=tls1\r\nTo: <sip:100@{domain}>\r\n\
             Call-ID: tls-register@10.77.1.2\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:100@10.77.1.2:5090>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
        ));
        let end = Instant::now() + wait;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the phone got no final response to its REGISTER within {wait:?}\n{}",
                lab.context()
            );
            if let Some(msg) = self.recv(left) {
                if !status_code(&msg).starts_with('1') {
                    return msg;
                }
            }
        }
    }
}

// --------------------------------------------------------------- the tests

/// The rig without sipnat: a TLS client (rustls) in the router's namespace
/// registers user 100 with kamailio over TLS and kamailio takes the binding
/// on its TLS socket; a call from W (a UDP socket, 198.51.100.3:5062) to 100
/// comes over that very connection (kamailio opens none); the client
/// answers 486 and W gets it. Then the client closes its connection; W's
/// next call is refused by kamailio, which does not try to connect
/// (`set_forward_no_connect`: no SYN from it on the router's WAN).
#[test]
fn rig_kamailio_takes_a_registration_over_tls_and_calls_back_over_it() {
    let Some((mut lab, certs)) = tls_lab("rig", Presented::Good) else {
        return;
    };
    // The router's WAN: TLS on the wire, and a SYN from kamailio would say
    // it tried to connect.
    let wan = lab.capture("rwan", "wan.pcap", "");
    probe(&lab, &certs, Presented::Good);
    let mut c = TlsSip::connect(&lab, Trust::Ca(&certs.ca(), DOMAIN))
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.context()));
    let port = c.local_port();
    c.send(&format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/TLS 198.51.100.1:{port};branch=z9hG4bKrig1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:100@{DOMAIN}>;tag=rig1\r\nTo: <sip:100@{DOMAIN}>\r\n\
         Call-ID: rig1@198.51.100.1\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:100@198.51.100.1:{port};transport=tls>\r\nExpires: 600\r\n\
         Content-Length: 0\r\n\r\n"
    ));
    let ok = c
        .recv(WAIT)
        .unwrap_or_else(|| panic!("no answer\n{}", lab.context()));
    assert_eq!(status_code(&ok), "200", "{ok}");
    let table = wait_registered(&lab, &["100"]);
    let b = bindings(&table, "100");
    assert_eq!(b.len(), 1, "{table}");
    assert_eq!(b[0].1, TLS_SOCKET, "the binding's socket:\n{table}");
    assert!(
        lab.log("kamailio").contains(&format!(
            "peers: REGISTER sip:{DOMAIN} from tls:198.51.100.1:{port}"
        )),
        "kamailio's log does not show the REGISTER over TLS\n{}",
        lab.context()
    );

    // A call in comes over the client's connection.
    let w = in_netns(&lab.ns('x'), || {
        UdpSocket::bind("198.51.100.3:5062").expect("bind in W's namespace")
    });
    w.set_read_timeout(Some(WAIT)).unwrap();
    let invite = |n: u32| {
        format!(
            "INVITE sip:100@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 198.51.100.3:5062;branch=z9hG4bKrigw{n};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:200@{DOMAIN}>;tag=w{n}\r\nTo: <sip:100@{DOMAIN}>\r\n\
             Call-ID: rig-call{n}@198.51.100.3\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:200@198.51.100.3:5062>\r\nContent-Length: 0\r\n\r\n"
        )
    };
    // W's final answer to its INVITE (the ACK of an error goes to kamailio).
    let final_at_w = |what: &str| -> String {
        let mut buf = [0u8; 8192];
        loop {
            let (n, _) = w
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("{what}: nothing at W: {e}\n{}", lab.context()));
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !status_code(&msg).starts_with('1') {
                return msg;
            }
        }
    };
    w.send_to(invite(1).as_bytes(), "198.51.100.2:5060")
        .unwrap();
    let inv = c.recv(WAIT).unwrap_or_else(|| {
        panic!(
            "the call did not come over the TLS connection\n{}",
            lab.context()
        )
    });
    assert!(
        inv.starts_with(&format!(
            "INVITE sip:100@198.51.100.1:{port};transport=tls SIP/2.0\r\n"
        )),
        "{inv}"
    );
    let rr = header_lines(&inv, "record-route");
    let vias = header_lines(&inv, "via");
    c.send(&answer(&inv, "486 Busy Here"));
    let busy = final_at_w("the first call");
    assert_eq!(status_code(&busy), "486", "{busy}");
    // kamailio's ACK of the 486 comes over the connection too.
    let ack = c.recv(WAIT).unwrap_or_default();
    assert!(ack.starts_with("ACK "), "no ACK over TLS: {ack}");

    // The connection closed, kamailio must not open one of its own for
    // the next call.
    c.close();
    std::thread::sleep(Duration::from_millis(300));
    w.send_to(invite(2).as_bytes(), "198.51.100.2:5060")
        .unwrap();
    let refused = final_at_w("the second call");
    let code: u16 = status_code(&refused).parse().unwrap_or(0);
    assert!(code >= 400, "the call without a connection: {refused}");
    let pkts = parse_pcap(&wan.stop()).expect("wan.pcap");
    let theirs = opened(&pkts, PROVIDER, ROUTER_WAN);
    assert!(
        theirs.is_empty(),
        "kamailio opened a connection to the router: {theirs:?}"
    );
    // The registration and the call went as TLS records, nothing in clear.
    assert!(opened(&pkts, ROUTER_WAN, PROVIDER).contains(&(port, 5061)));
    assert_tls_records(&pkts, port);
    let plain = plain_sip(&pkts);
    assert!(
        plain.is_empty(),
        "plain-text SIP on the WAN:\n{}",
        plain.join("\n")
    );
    assert_kamailio_log_clean(&lab);
    println!(
        "rig: REGISTER over TLS from port {port}: binding on {}",
        b[0].1
    );
    println!(
        "rig: kamailio's INVITE over it:\n  {}\n  {}",
        vias.join("\n  "),
        rr.join("\n  ")
    );
    println!(
        "rig: without the connection kamailio answered W: {}",
        refused.lines().next().unwrap_or("")
    );
}

/// (a) and (e): A and B (baresip, UDP to sipnat) register through sipnat
/// to kamailio over TLS; A calls W, W calls B, with audio both ways; the
/// WAN carries TLS only, over one connection sipnat opened.
#[test]
fn tls_provider_registration_and_calls_both_ways() {
    let started = Instant::now();
    let Some((mut lab, certs)) = tls_lab("calls", Presented::Good) else {
        return;
    };
    probe(&lab, &certs, Presented::Good);
    let wan = lab.capture("rwan", "wan.pcap", "");
    lab.start_sipnat(&sipnat_tls(DOMAIN, &ca_file(&certs)));
    let mut w =
        lab.phone(PhoneSpec::new("W", 'x', "200", "198.51.100.3", 1000).direct(DOMAIN, Tp::Udp));
    let lan_phone = |name, role, user, addr, tone| {
        PhoneSpec::new(name, role, user, addr, tone).via_sipnat(DOMAIN, Tp::Udp, Tp::Udp)
    };
    let mut a = lab.phone(lan_phone("A", 'l', "100", "10.77.1.2", 440));
    let mut b = lab.phone(lan_phone("B", 'm', "101", "10.77.1.3", 700));

    let table = wait_registered(&lab, &["200", "100", "101"]);
    for user in ["100", "101"] {
        let b = bindings(&table, user);
        assert_eq!(b.len(), 1, "user {user}: {b:?}\n{table}");
        assert_eq!(
            b[0].1, TLS_SOCKET,
            "user {user}: kamailio took the binding on another socket than its TLS one:\n{table}"
        );
    }
    assert!(
        !LAN_TEXTS.iter().any(|t| table.contains(t)),
        "a LAN address in kamailio's location table:\n{table}"
    );
    let log = lab.log("kamailio");
    let over_tls = log
        .lines()
        // baresip's Request-URI is `sip:198.51.100.2;transport=udp`.
        .filter(|l| {
            l.contains(&format!("peers: REGISTER sip:{DOMAIN}"))
                && l.contains(&format!(" from tls:{ROUTER_WAN}:"))
        })
        .count();
    assert!(
        over_tls >= 2,
        "kamailio's log shows {over_tls} REGISTERs over TLS from the router\n{}",
        lab.context()
    );

    let calls = [
        call(&mut lab, "out", &mut a, &mut w, false),
        call(&mut lab, "in", &mut w, &mut b, false),
    ];
    for c in &calls {
        assert!(
            c.wan_rtp.0 >= MIN_RTP && c.wan_rtp.1 >= MIN_RTP,
            "{}: RTP on the WAN between sipnat's relay and W: {} to W, {} from W",
            c.what,
            c.wan_rtp.0,
            c.wan_rtp.1
        );
    }
    let status = wait_idle(&lab);

    // (e) The WAN: TLS only, one connection, sipnat's.
    let pkts = parse_pcap(&wan.stop()).expect("wan.pcap");
    let plain = plain_sip(&pkts);
    assert!(
        plain.is_empty(),
        "plain-text SIP on the WAN ({} packets):\n{}",
        plain.len(),
        plain
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let ours = opened(&pkts, ROUTER_WAN, PROVIDER);
    assert!(
        ours.len() == 1 && ours[0].1 == 5061,
        "sipnat should open one connection to kamailio's 5061 and keep it: {ours:?}"
    );
    let theirs = opened(&pkts, PROVIDER, ROUTER_WAN);
    assert!(theirs.is_empty(), "kamailio opened connections: {theirs:?}");
    assert_tls_records(&pkts, ours[0].0);
    let lines = check_wan_captures(&lab);
    assert_kamailio_log_clean(&lab);
    assert!(
        !lab.log("kamailio").contains("tcp_send failed"),
        "kamailio had something for sipnat and no connection of sipnat's to send it over \
         (it opens none)\n{}",
        lab.context()
    );
    assert_eq!(lab.counter("tls.cert-rejected"), 0);

    println!(
        "calls over TLS: sipnat's connection from port {}",
        ours[0].0
    );
    for u in ["100", "101", "200"] {
        println!("  binding {u}: {:?}", bindings(&table, u));
    }
    print_calls(&calls);
    for l in &lines {
        println!("  {l}");
    }
    println!("  sipnat: {status}");
    println!("  {:.1} s", started.elapsed().as_secs_f64());
}

/// How sipnat is told where the provider is (`outbound_proxy_host`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reach {
    /// 198.51.100.2: the certificate's IP SAN is the identity checked.
    Address,
    /// `sip.provider.test`, resolved through the stand-in DNS server
    /// ([`NameService`]): the name is the identity checked (RFC 5922).
    Name,
}

impl Reach {
    fn host(self) -> &'static str {
        match self {
            Reach::Address => DOMAIN,
            Reach::Name => SIP_DOMAIN,
        }
    }
}

/// For a provider by name: the router's namespace asks the stand-in DNS
/// server on the provider's address (198.51.100.2:53), which knows
/// `sip.provider.test` A 198.51.100.2 and nothing else. Declared after the
/// lab, so dropped before it.
struct NameService {
    dns: DnsServer,
    _resolv: ResolvConf,
}

impl NameService {
    fn start(lab: &Lab) -> NameService {
        let resolv = ResolvConf::new(&lab.ns('r'), "198.51.100.2");
        let sock = in_netns(&lab.ns('w'), || {
            UdpSocket::bind("198.51.100.2:53").expect("bind the DNS port")
        });
        let provider = (SIP_DOMAIN, std::net::Ipv4Addr::new(198, 51, 100, 2));
        NameService {
            dns: DnsServer::start(sock, &[provider]),
            _resolv: resolv,
        }
    }
}

/// A UDP phone's REGISTER through sipnat to the TLS provider presenting
/// `presented`, sipnat reaching it as `reach` with the TLS options of
/// `config` (`tls_ca_file`, `tls_fingerprint`). `accept`: the phone gets
/// kamailio's 200, the binding is on kamailio's TLS socket and nothing is
/// counted as rejected; else the phone gets 503 from sipnat,
/// `tls.cert-rejected` is counted, sipnat did try (a connection to 5061 on
/// the WAN) and kamailio registered no one. Either way no plain SIP on the
/// WAN, no LAN address; by name, sipnat asked the stand-in DNS server.
fn register_case(
    name: &'static str,
    presented: Presented,
    reach: Reach,
    config: impl Fn(&Certs) -> String,
    accept: bool,
) {
    if reach == Reach::Name {
        if let Some(f) = openwrt_resolv_conf() {
            assert!(skip_allowed(), "{f} exists here (sipnat would read it)");
            println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {f} exists here");
            return;
        }
    }
    let Some((mut lab, certs)) = tls_lab(name, presented) else {
        return;
    };
    probe(&lab, &certs, presented);
    let names = (reach == Reach::Name).then(|| NameService::start(&lab));
    let wan = lab.capture("rwan", "wan.pcap", "");
    lab.start_sipnat(&sipnat_tls(reach.host(), &config(&certs)));
    let answer = UdpPhone::new(&lab).register(&lab, reach.host(), 1, WAIT);
    let want = if accept { "200" } else { "503" };
    assert_eq!(
        status_code(&answer),
        want,
        "{presented:?} by {reach:?}: the REGISTER's answer: {answer}\n{}",
        lab.context()
    );
    let rejected = lab.counter("tls.cert-rejected");
    let table = lab.location_table();
    if accept {
        assert_eq!(
            rejected,
            0,
            "tls.cert-rejected: {}",
            lab.status_json()["counters"]
        );
        let b = bindings(&table, "100");
        assert!(
            b.len() == 1 && b[0].1 == TLS_SOCKET,
            "the binding is not on kamailio's TLS socket:\n{table}"
        );
    } else {
        assert!(
            rejected >= 1,
            "{presented:?} by {reach:?}: tls.cert-rejected {rejected}: {}",
            lab.status_json()["counters"]
        );
        assert!(
            bindings(&table, "100").is_empty(),
            "registered anyway:\n{table}"
        );
    }
    let pkts = parse_pcap(&wan.stop()).expect("wan.pcap");
    let ours = opened(&pkts, ROUTER_WAN, PROVIDER);
    assert!(
        ours.iter().any(|&(_, p)| p == 5061),
        "sipnat did not connect to kamailio's 5061: {ours:?}"
    );
    let plain = plain_sip(&pkts);
    assert!(
        plain.is_empty(),
        "plain-text SIP on the WAN:\n{}",
        plain.join("\n")
    );
    check_wan_captures(&lab);
    if let Some(n) = &names {
        let asked = n.dns.asked();
        assert!(
            asked.iter().any(|(from, q, t)| from.ip() == ROUTER_WAN
                && q.eq_ignore_ascii_case(SIP_DOMAIN)
                && *t == 1),
            "sipnat did not ask the stand-in DNS server for {SIP_DOMAIN} A: {asked:?}"
        );
    }
    println!(
        "{name}: {presented:?} by {reach:?}: {}; tls.cert-rejected {rejected}",
        answer.lines().next().unwrap_or("")
    );
}

/// (b) kamailio presents a certificate of another CA (same name, address
/// and key): refused.
#[test]
fn tls_provider_certificate_of_another_ca_is_refused() {
    register_case(
        "otherca",
        Presented::OtherCa,
        Reach::Address,
        ca_file,
        false,
    );
}

/// (c) kamailio presents an expired certificate of the right CA: refused.
#[test]
fn tls_provider_expired_certificate_is_refused() {
    register_case(
        "expired",
        Presented::Expired,
        Reach::Address,
        ca_file,
        false,
    );
}

/// (d) kamailio presents a self-signed certificate; sipnat has its
/// fingerprint (`EF:84:…` as `openssl x509 -fingerprint -sha256` prints
/// it) and no CA file: accepted.
#[test]
fn tls_provider_pinned_self_signed_certificate_is_accepted() {
    register_case(
        "pinned",
        Presented::SelfSigned,
        Reach::Address,
        |c| format!("tls_fingerprint = {}\n", c.fingerprint(&c.path("self.pem"))),
        true,
    );
}

/// (d) the other way: a self-signed certificate whose fingerprint is not
/// the pinned one (the test CA's provider certificate's is): refused.
#[test]
fn tls_provider_self_signed_certificate_not_pinned_is_refused() {
    register_case(
        "pinwrong",
        Presented::SelfSigned,
        Reach::Address,
        |c| {
            let (other, _) = c.presented(Presented::Good);
            format!("tls_fingerprint = {}\n", c.fingerprint(&other))
        },
        false,
    );
}

/// The provider by name (`outbound_proxy_host = sip.provider.test`,
/// resolved through the stand-in DNS server): its certificate names
/// `sip.provider.test`, accepted.
#[test]
fn tls_provider_by_name_is_checked_by_name_and_accepted() {
    register_case("byname", Presented::Good, Reach::Name, ca_file, true);
}

/// The provider by name, its certificate (from the test CA) naming only
/// its address (IP SAN 198.51.100.2, no DNS name): refused, since the
/// identity checked is the name sipnat was told (RFC 5922 §7.2), not the
/// address it resolved.
#[test]
fn tls_provider_by_name_with_an_address_only_certificate_is_refused() {
    register_case(
        "byname-ip",
        Presented::AddressOnly,
        Reach::Name,
        ca_file,
        false,
    );
}

/// `tls_ca_file` the test CA.
fn ca_file(c: &Certs) -> String {
    format!("tls_ca_file = {}\n", c.ca().display())
}

/// The provider closes idle connections: kamailio with `-A TLS_IDLE=1`
/// closes one idle for a second, in fact after about 11 s (its timer; with
/// a FIN and no TLS close_notify, which rustls reports as an unexpected
/// EOF), as providers do after minutes. Once kamailio holds no connection
/// of sipnat's (`kamcmd tls.list`; or after 15 s, should sipnat keep it
/// alive) the phone registers again and gets kamailio's 200 (sipnat
/// reconnects, or kept its connection: either will do), and then a call
/// from W to 100 reaches the phone, whose 486 reaches W.
#[test]
fn tls_provider_closing_an_idle_connection_is_survived() {
    let Some((mut lab, certs)) = tls_lab_idle("idle", Presented::Good, Some(1), &[]) else {
        return;
    };
    probe(&lab, &certs, Presented::Good);
    let wan = lab.capture("rwan", "wan.pcap", "");
    lab.start_sipnat(&sipnat_tls(DOMAIN, &ca_file(&certs)));
    let phone = UdpPhone::new(&lab);
    let first = phone.register(&lab, DOMAIN, 1, WAIT);
    assert_eq!(status_code(&first), "200", "{first}\n{}", lab.context());
    let t = Instant::now();
    let closed = wait_tls_closed(&lab, Duration::from_secs(15));
    let again = phone.register(&lab, DOMAIN, 2, WAIT);
    assert_eq!(
        status_code(&again),
        "200",
        "the REGISTER after kamailio closed the idle connection: {again}\n{}",
        lab.context()
    );

    // A call in over whichever connection sipnat has now.
    let w = in_netns(&lab.ns('x'), || {
        UdpSocket::bind("198.51.100.3:5062").expect("bind in W's namespace")
    });
    w.set_read_timeout(Some(WAIT)).unwrap();
    w.send_to(
        format!(
            "INVITE sip:100@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 198.51.100.3:5062;branch=z9hG4bKidle1;rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:200@{DOMAIN}>;tag=w1\r\nTo: <sip:100@{DOMAIN}>\r\n\
             Call-ID: idle-call@198.51.100.3\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:200@198.51.100.3:5062>\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
        "198.51.100.2:5060",
    )
    .unwrap();
    let end = Instant::now() + WAIT;
    let invite = loop {
        let left = end.saturating_duration_since(Instant::now());
        let msg = phone.recv(left).unwrap_or_else(|| {
            panic!(
                "the call in did not reach the phone after the reconnection\n{}",
                lab.context()
            )
        });
        if msg.starts_with("INVITE ") {
            break msg;
        }
    };
    phone.send(&answer(&invite, "486 Busy Here"));
    let mut buf = [0u8; 8192];
    let busy = loop {
        let (n, _) = w
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no answer at W: {e}\n{}", lab.context()));
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !status_code(&msg).starts_with('1') {
            break msg;
        }
    };
    assert_eq!(status_code(&busy), "486", "{busy}");
    let pkts = parse_pcap(&wan.stop()).expect("wan.pcap");
    let plain = plain_sip(&pkts);
    assert!(
        plain.is_empty(),
        "plain-text SIP on the WAN:\n{}",
        plain.join("\n")
    );
    println!(
        "idle: kamailio closed sipnat's idle connection: {closed} (after {:.1} s); \
         sipnat opened {:?}",
        t.elapsed().as_secs_f64(),
        opened(&pkts, ROUTER_WAN, PROVIDER)
    );
}

/// Wait (at most `wait`) until kamailio holds no TLS connection
/// (`kamcmd tls.list`); whether it came to that.
fn wait_tls_closed(lab: &Lab, wait: Duration) -> bool {
    let end = Instant::now() + wait;
    while Instant::now() < end {
        let out = sh("kamcmd", &["-s", &lab.ctl_socket(), "tls.list"]).expect("kamcmd");
        if !String::from_utf8_lossy(&out.stdout).contains("state:") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

// ------------------------------------------------ TLS phones on the LAN

/// Phone A's address on the LAN.
const PHONE_A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 77, 1, 2));

/// sipnat's lines toward TLS phones on the LAN: `tls_listen_port 5061`,
/// showing the router's certificate from the test CA.
fn lan_tls(certs: &Certs) -> String {
    let (cert, key) = certs.router();
    format!(
        "tls_listen_port = 5061\ntls_cert_file = {}\ntls_key_file = {}\n",
        cert.display(),
        key.display()
    )
}

/// The tone meter on RTP payloads as PCMU: the loud frames, their
/// zero-crossing frequency, and the share of their energy at `tone` Hz.
fn meter(payloads: &[Vec<u8>], tone: u32) -> (Audio, f64) {
    (
        pcmu_tone(payloads),
        pcmu_tone_share(payloads, f64::from(tone)),
    )
}

/// Do the payloads hold `tone` Hz: as many frames as a call recording
/// must, at that frequency (within 10 %), most of their energy at it?
fn hears((a, share): &(Audio, f64), tone: u32) -> bool {
    let want = f64::from(tone);
    a.tone_frames >= MIN_TONE_FRAMES && (a.freq - want).abs() <= want * 0.1 && *share > 0.5
}

/// Is most of the payloads' energy at `tone` Hz (a tenth: noise has about
/// 1 %, the plain tone over 90 %)?
fn tone_in((_, share): &(Audio, f64)) -> bool {
    *share > 0.1
}

/// One SIP message of baresip's trace (`baresip -s`): its transport, from,
/// to (`TLS 10.77.1.1:5061 -> 10.77.1.2:36726`) and text (lines joined
/// with CRLF, the colour codes gone).
struct Traced {
    tp: String,
    from: String,
    to: String,
    msg: String,
}

/// The messages of baresip's SIP trace in its log: each is a line
/// `TP FROM -> TO` after a `#` line, then the message up to the colour
/// reset (`ESC[;m`).
fn baresip_trace(log: &str) -> Vec<Traced> {
    let mut out: Vec<Traced> = Vec::new();
    let mut open = false;
    for line in log.lines() {
        let line = line.trim_end_matches('\r');
        if line.contains("\x1b[;m") {
            open = false;
            continue;
        }
        let words: Vec<&str> = line.split(' ').collect();
        if let [tp @ ("UDP" | "TCP" | "TLS"), from, "->", to] = words[..] {
            out.push(Traced {
                tp: tp.to_string(),
                from: from.to_string(),
                to: to.to_string(),
                msg: String::new(),
            });
            open = true;
        } else if open {
            if let Some(t) = out.last_mut() {
                t.msg.push_str(line);
                t.msg.push_str("\r\n");
            }
        }
    }
    out
}

/// A TLS phone on the LAN: baresip A (user 100, 440 Hz) with
/// `outbound="sip:10.77.1.1:5061;transport=tls"` and `sip_cafile` the test
/// CA registers to sipnat over TLS, sipnat reaching kamailio over
/// `provider` (TLS: `outbound_tls` to 5061; UDP: no outbound proxy, the
/// Request-URI's 5060); A calls W and W calls A, audio both ways. The LAN
/// capture: nothing of A's SIP in plain text, every TCP connection A's to
/// the router's 5061 beginning with TLS handshake records both ways, none
/// opened by the router toward A, A's RTP plain. The WAN: no LAN address;
/// over a TLS provider TLS only, over one connection of sipnat's.
fn tls_phone_case(name: &'static str, provider: Tp) {
    let started = Instant::now();
    let Some((mut lab, certs)) = tls_lab(name, Presented::Good) else {
        return;
    };
    let wan = lab.capture("rwan", "wan.pcap", "");
    let lan = lab.capture("rlan", "lan.pcap", "");
    let mut config = lan_tls(&certs);
    if provider == Tp::Tls {
        config.push_str(&sipnat_tls(DOMAIN, &ca_file(&certs)));
    }
    lab.start_sipnat(&config);
    lab.wait_listening("sipnat", 'r', Tp::Tls, 5061);
    // baresip 1.0 (libre 1.1) takes any certificate whatever its
    // `sip_cafile`: a rustls client in B's namespace checks the one sipnat
    // shows against the test CA for the router's LAN address; from W's
    // namespace on the WAN sipnat's 5061 gives no TLS (refused at accept).
    let lan_tls = SocketAddr::new(ROUTER_LAN, 5061);
    TlsSip::connect_at(&lab.ns('m'), lan_tls, Trust::Ca(&certs.ca(), "10.77.1.1"))
        .unwrap_or_else(|e| {
            panic!(
                "sipnat's certificate on {lan_tls} does not pass the test CA for 10.77.1.1: {e}\n{}",
                lab.context()
            )
        })
        .close();
    let wan_tls = SocketAddr::new(ROUTER_WAN, 5061);
    let from_wan = TlsSip::connect_at(&lab.ns('x'), wan_tls, Trust::Ca(&certs.ca(), "10.77.1.1"));
    assert!(
        from_wan.is_err(),
        "a TLS handshake with sipnat from the WAN ({wan_tls}) succeeded"
    );
    let from_wan = from_wan.err().unwrap_or_default();
    let mut w =
        lab.phone(PhoneSpec::new("W", 'x', "200", "198.51.100.3", 1000).direct(DOMAIN, Tp::Udp));
    let mut a = lab.phone(
        PhoneSpec::new("A", 'l', "100", "10.77.1.2", 440)
            .via_sipnat(DOMAIN, Tp::Tls, provider)
            .config_line(&format!("sip_cafile\t\t{}", certs.ca().display()))
            .sip_trace(),
    );

    let table = wait_registered(&lab, &["200", "100"]);
    let socket = match provider {
        Tp::Tls => TLS_SOCKET.to_string(),
        tp => format!("{}:{DOMAIN}:5060", tp.name()),
    };
    let binding = bindings(&table, "100");
    assert!(
        binding.len() == 1 && binding[0].1 == socket,
        "user 100: not one binding on kamailio's {socket}:\n{table}"
    );
    assert!(
        !LAN_TEXTS.iter().any(|t| table.contains(t)),
        "a LAN address in kamailio's location table:\n{table}"
    );
    let from = format!(" from {}:{ROUTER_WAN}:", provider.name());
    assert!(
        lab.log("kamailio")
            .lines()
            .any(|l| l.contains(&format!("peers: REGISTER sip:{DOMAIN}")) && l.contains(&from)),
        "kamailio's log shows no REGISTER{from}…\n{}",
        lab.context()
    );

    let calls = [
        call(&mut lab, "out", &mut a, &mut w, false),
        call(&mut lab, "in", &mut w, &mut a, true),
    ];
    for c in &calls {
        assert!(
            c.wan_rtp.0 >= MIN_RTP && c.wan_rtp.1 >= MIN_RTP,
            "{}: RTP on the WAN between sipnat's relay and W: {} to W, {} from W",
            c.what,
            c.wan_rtp.0,
            c.wan_rtp.1
        );
    }
    // The meter of the SRTP test on plain PCMU: it hears both tones in
    // the payloads of the WAN capture.
    let out = parse_pcap(&fs::read(lab.path("wan-out.pcap")).expect("wan-out.pcap")).unwrap();
    let metered = [
        (ROUTER_WAN, WAN_PHONE, a.tone),
        (WAN_PHONE, ROUTER_WAN, w.tone),
    ]
    .map(|(src, dst, tone)| {
        let m = meter(&rtp_payloads(&out, src, dst), tone);
        assert!(
            hears(&m, tone),
            "the tone meter does not hear {tone} Hz in the plain RTP {src} -> {dst}: {m:?}"
        );
        m
    });
    let status = wait_idle(&lab);

    // The LAN: A's SIP is TLS only, over connections A opened to 5061.
    let lpk = parse_pcap(&lan.stop()).expect("lan.pcap");
    let plain = plain_sip_at(&lpk, PHONE_A);
    assert!(
        plain.is_empty(),
        "plain-text SIP to or from the TLS phone on the LAN:\n{}",
        plain.join("\n")
    );
    let from_a = opened(&lpk, PHONE_A, ROUTER_LAN);
    assert!(
        !from_a.is_empty() && from_a.iter().all(|&(_, p)| p == 5061),
        "A's connections to the router should all be to its TLS port 5061: {from_a:?}"
    );
    let to_a = opened(&lpk, ROUTER_LAN, PHONE_A);
    assert!(
        to_a.is_empty(),
        "sipnat opened connections toward the phone: {to_a:?}"
    );
    for &(port, _) in &from_a {
        assert_tls_between(&lpk, (PHONE_A, port), (ROUTER_LAN, 5061));
    }
    // What A sent and got, as its SIP trace shows it: all over TLS with
    // sipnat's 5061; sipnat's Via and Record-Route toward A name its TLS
    // port (the INVITE of the call in), and so does its Record-Route in
    // the answer to A's INVITE (the call out).
    let trace = baresip_trace(&lab.log("baresip-A"));
    let lan = format!("{ROUTER_LAN}:");
    let with_router: Vec<&Traced> = trace
        .iter()
        .filter(|t| t.from.starts_with(&lan) || t.to.starts_with(&lan))
        .collect();
    let astray: Vec<String> = trace
        .iter()
        .filter(|t| t.tp != "TLS" || !(t.from.ends_with(":5061") || t.to.ends_with(":5061")))
        .map(|t| format!("{} {} -> {}", t.tp, t.from, t.to))
        .collect();
    assert!(
        with_router.len() >= 10 && astray.is_empty() && with_router.len() == trace.len(),
        "A's SIP trace: {} messages, {} with the router, not over TLS with its 5061: {astray:?}",
        trace.len(),
        with_router.len()
    );
    let got = |start: &str| -> &Traced {
        trace
            .iter()
            .find(|t| t.to.starts_with("10.77.1.2:") && t.msg.starts_with(start))
            .unwrap_or_else(|| panic!("A's trace: no '{start}' received"))
    };
    let invite = got("INVITE ");
    let vias = header_lines(&invite.msg, "via");
    let rrs = header_lines(&invite.msg, "record-route");
    let ours = "<sip:10.77.1.1:5061;transport=tls;lr>";
    assert!(
        vias.first()
            .is_some_and(|v| v.contains("SIP/2.0/TLS 10.77.1.1:5061;"))
            && rrs.first().is_some_and(|r| r.contains(ours)),
        "the INVITE sipnat sent A: its Via and Record-Route do not name its TLS port:\n{}",
        invite.msg
    );
    let answer = trace
        .iter()
        .find(|t| {
            t.to.starts_with("10.77.1.2:")
                && t.msg.starts_with("SIP/2.0 200")
                && header(&t.msg, "cseq").ends_with("INVITE")
        })
        .expect("A's trace: the 200 of its INVITE");
    let answer_rrs = header_lines(&answer.msg, "record-route");
    assert!(
        answer_rrs.last().is_some_and(|r| r.contains(ours)),
        "the 200 of A's INVITE: sipnat's Record-Route toward A does not name its TLS port:\n{}",
        answer.msg
    );
    let udp_sip = lpk
        .iter()
        .filter(|p| p.proto == 17 && (p.src == PHONE_A || p.dst == PHONE_A))
        .filter(|p| p.sport == 5060 || p.dport == 5060)
        .count();
    assert_eq!(udp_sip, 0, "UDP to or from port 5060 with the TLS phone");
    let lan_rtp = (
        rtp_payloads(&lpk, PHONE_A, ROUTER_LAN).len(),
        rtp_payloads(&lpk, ROUTER_LAN, PHONE_A).len(),
    );
    assert!(
        lan_rtp.0 >= 2 * MIN_RTP && lan_rtp.1 >= 2 * MIN_RTP,
        "RTP between A and the router on the LAN: {lan_rtp:?}"
    );

    // The WAN.
    let wpk = parse_pcap(&wan.stop()).expect("wan.pcap");
    let ours = opened(&wpk, ROUTER_WAN, PROVIDER);
    match provider {
        Tp::Tls => {
            let plain = plain_sip(&wpk);
            assert!(
                plain.is_empty(),
                "plain-text SIP on the WAN:\n{}",
                plain.join("\n")
            );
            assert!(
                ours.len() == 1 && ours[0].1 == 5061,
                "sipnat should open one connection to kamailio's 5061 and keep it: {ours:?}"
            );
            assert_tls_records(&wpk, ours[0].0);
        }
        _ => {
            let (udp, tcp) = sip_by_transport(&wpk, ROUTER_WAN, Some(PROVIDER));
            assert!(
                udp > 0 && tcp == 0 && ours.is_empty(),
                "sipnat's SIP with kamailio should be all UDP: {udp} datagrams, {tcp} TCP \
                 segments, connections {ours:?}"
            );
        }
    }
    let theirs = opened(&wpk, PROVIDER, ROUTER_WAN);
    assert!(theirs.is_empty(), "kamailio opened connections: {theirs:?}");
    let lines = check_wan_captures(&lab);
    assert_kamailio_log_clean(&lab);
    assert!(
        !lab.log("kamailio").contains("tcp_send failed"),
        "kamailio had something for sipnat and no connection to send it over\n{}",
        lab.context()
    );
    assert_eq!(lab.counter("tls.cert-rejected"), 0);

    println!(
        "{name}: TLS phone A, provider over {}: binding {:?}",
        provider.name(),
        binding[0]
    );
    println!(
        "  LAN: A's connections to the router {from_a:?}, TLS only; RTP A->router {}, \
         router->A {}",
        lan_rtp.0, lan_rtp.1
    );
    println!("  TLS to {wan_tls} from the WAN: {from_wan}");
    println!(
        "  A's trace: {} messages, all TLS with the router's 5061; the INVITE to A: {} / {}",
        trace.len(),
        vias[0],
        rrs[0]
    );
    println!(
        "  the meter on the plain WAN RTP of call out: to W {:.0} Hz ({} frames, {:.0} % at \
         {} Hz), from W {:.0} Hz ({} frames, {:.0} % at {} Hz)",
        metered[0].0.freq,
        metered[0].0.tone_frames,
        metered[0].1 * 100.0,
        a.tone,
        metered[1].0.freq,
        metered[1].0.tone_frames,
        metered[1].1 * 100.0,
        w.tone
    );
    print_calls(&calls);
    for l in &lines {
        println!("  {l}");
    }
    println!("  sipnat: {status}");
    println!("  {:.1} s", started.elapsed().as_secs_f64());
}

/// A TLS phone on the LAN, sipnat reaching the provider over TLS too
/// (TLS both hops): registration and calls both ways with audio; TLS only
/// on both sides of the router.
#[test]
fn tls_phone_on_the_lan_through_a_tls_provider() {
    tls_phone_case("lantls", Tp::Tls);
}

/// A TLS phone on the LAN, the provider over UDP.
#[test]
fn tls_phone_on_the_lan_through_a_udp_provider() {
    tls_phone_case("lantls-udp", Tp::Udp);
}

// ------------------------------------------------------- SRTP through it

/// baresip's SDES-SRTP module (Debian's baresip-core ships it).
const SRTP_MODULE: &str = "/usr/lib/baresip/modules/srtp.so";

/// The SDP bodies kamailio logged with `-A LOG_SDP`: (the line naming the
/// message, `INVITE sip:200@… from tls:198.51.100.1:…` or `200 OK (INVITE)
/// from udp:198.51.100.3:5060`, and its body).
fn kamailio_sdps(log: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = log;
    while let Some(at) = rest.find("peers: sdp of ") {
        let after = &rest[at + "peers: sdp of ".len()..];
        let (head, body) = after.split_once('\n').unwrap_or((after, ""));
        let end = body.find("peers: sdp end").unwrap_or(body.len());
        out.push((head.trim().to_string(), body[..end].to_string()));
        rest = &body[end..];
    }
    out
}

/// The SDP of the first SIP message over UDP from `src` to `dst` in a
/// capture whose start line begins with `start` (`INVITE sip:200@`,
/// `SIP/2.0 200`) and that has a body.
fn captured_sdp(pkts: &[Pkt], src: IpAddr, dst: IpAddr, start: &str) -> Option<String> {
    pkts.iter()
        .filter(|p| p.proto == 17 && p.src == src && p.dst == dst)
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .filter(|m| m.starts_with(start) && header(m, "cseq").ends_with("INVITE"))
        .find_map(|m| {
            let (_, body) = m.split_once("\r\n\r\n")?;
            (!body.is_empty()).then(|| body.to_string())
        })
}

/// An SDP's `m=audio` line and its `a=crypto:` lines, trimmed.
fn srtp_lines(sdp: &str) -> (String, Vec<String>) {
    let m = sdp
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("m=audio "))
        .unwrap_or("")
        .to_string();
    let crypto = sdp
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("a=crypto:"))
        .map(str::to_string)
        .collect();
    (m, crypto)
}

/// SDES-SRTP through sipnat and the TLS provider: A (LAN, UDP to sipnat)
/// and W (UDP to kamailio), both baresip with `mediaenc=srtp-mand` (the
/// `srtp` module), call each other both ways with audio both ways (baresip
/// decrypts what it plays: the SRTP went through intact). What each offer
/// and answer became on the other side of sipnat keeps its `RTP/SAVP`
/// profile and its `a=crypto` lines as written: A's as kamailio logged them
/// after they crossed sipnat over TLS (`-A LOG_SDP`: a capture cannot read
/// TLS) against A's on the LAN capture; W's as kamailio logged them from W
/// against what sipnat sent A on the LAN. On the WAN the tone meter hears
/// neither tone in the RTP payloads either way (the same meter hears them
/// in plain PCMU: [`tls_phone_case`]), and A's encrypted payloads on the
/// LAN are the very ones sipnat's relay sends W (and W's those A gets).
#[test]
fn srtp_passes_through_sipnat_and_the_tls_provider() {
    let started = Instant::now();
    if !Path::new(SRTP_MODULE).exists() {
        assert!(
            skip_allowed(),
            "baresip's SRTP module {SRTP_MODULE} is missing (baresip-core)"
        );
        println!("SKIPPED (SIPNAT_SKIP_NETNS=1): {SRTP_MODULE} is missing");
        return;
    }
    let Some((mut lab, certs)) = tls_lab_idle("srtp", Presented::Good, None, &["LOG_SDP"]) else {
        return;
    };
    let wan = lab.capture("rwan", "wan.pcap", "");
    let lan = lab.capture("rlan", "lan.pcap", "");
    lab.start_sipnat(&sipnat_tls(DOMAIN, &ca_file(&certs)));
    let srtp = |spec: PhoneSpec| {
        spec.account_param("mediaenc=srtp-mand")
            .config_line("module\t\t\tsrtp.so")
    };
    let mut w = lab.phone(srtp(
        PhoneSpec::new("W", 'x', "200", "198.51.100.3", 1000).direct(DOMAIN, Tp::Udp),
    ));
    let mut a = lab.phone(srtp(
        PhoneSpec::new("A", 'l', "100", "10.77.1.2", 440).via_sipnat(DOMAIN, Tp::Udp, Tp::Udp),
    ));
    let table = wait_registered(&lab, &["200", "100"]);
    let binding = bindings(&table, "100");
    assert!(
        binding.len() == 1 && binding[0].1 == TLS_SOCKET,
        "user 100: not one binding on kamailio's TLS socket:\n{table}"
    );

    let calls = [
        call(&mut lab, "out", &mut a, &mut w, false),
        call(&mut lab, "in", &mut w, &mut a, true),
    ];
    let status = wait_idle(&lab);
    let lpk = parse_pcap(&lan.stop()).expect("lan.pcap");

    // The media: encrypted on the wire, the same bytes on both sides.
    let mut wan_to_w = std::collections::HashSet::new();
    let mut wan_from_w = std::collections::HashSet::new();
    let mut metered = Vec::new();
    for c in &calls {
        assert!(
            c.wan_rtp.0 >= MIN_RTP && c.wan_rtp.1 >= MIN_RTP,
            "{}: RTP on the WAN between sipnat's relay and W: {} to W, {} from W",
            c.what,
            c.wan_rtp.0,
            c.wan_rtp.1
        );
    }
    for label in ["out", "in"] {
        let file = format!("wan-{label}.pcap");
        let pkts = parse_pcap(&fs::read(lab.path(&file)).expect("capture")).unwrap();
        for (src, dst, tone, seen) in [
            (ROUTER_WAN, WAN_PHONE, a.tone, &mut wan_to_w),
            (WAN_PHONE, ROUTER_WAN, w.tone, &mut wan_from_w),
        ] {
            let payloads = rtp_payloads(&pkts, src, dst);
            let m = meter(&payloads, tone);
            assert!(
                !hears(&m, tone) && !tone_in(&m),
                "{file}: the meter hears the {tone} Hz tone in the RTP {src} -> {dst}: \
                 not encrypted: {m:?}"
            );
            metered.push(format!(
                "{label} {src}->{dst}: {} packets, {} loud frames crossing at {:.0} Hz, \
                 {:.1} % of their energy at {tone} Hz",
                payloads.len(),
                m.0.tone_frames,
                m.0.freq,
                m.1 * 100.0
            ));
            seen.extend(payloads);
        }
    }
    let lan_from_a = rtp_payloads(&lpk, PHONE_A, ROUTER_LAN);
    let lan_to_a = rtp_payloads(&lpk, ROUTER_LAN, PHONE_A);
    let same = |lan: &[Vec<u8>], wan: &std::collections::HashSet<Vec<u8>>| {
        lan.iter().filter(|p| wan.contains(*p)).count()
    };
    let (out_same, in_same) = (same(&lan_from_a, &wan_to_w), same(&lan_to_a, &wan_from_w));
    assert!(
        out_same >= 2 * MIN_RTP && in_same >= 2 * MIN_RTP,
        "encrypted payloads found on both sides of sipnat: A's {out_same} of {} (WAN {}), \
         W's {in_same} of {} (WAN {})",
        lan_from_a.len(),
        wan_to_w.len(),
        lan_to_a.len(),
        wan_from_w.len()
    );

    // The SDP: each side's profile and crypto lines as written.
    let logged = kamailio_sdps(&lab.log("kamailio"));
    let at_kamailio = |start: &str, from: &str| -> String {
        logged
            .iter()
            .find(|(h, _)| h.starts_with(start) && h.contains(from))
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| {
                panic!(
                    "kamailio logged no SDP of '{start}…{from}': {:?}\n{}",
                    logged.iter().map(|(h, _)| h).collect::<Vec<_>>(),
                    lab.context()
                )
            })
    };
    let on_lan = |src, dst, start: &str| -> String {
        captured_sdp(&lpk, src, dst, start)
            .unwrap_or_else(|| panic!("no '{start}' with SDP from {src} to {dst} on the LAN"))
    };
    let from_router = format!(" from tls:{ROUTER_WAN}:");
    let from_w = format!(" from udp:{WAN_PHONE}:");
    // (what, as written, as it came out of sipnat)
    let pairs = [
        (
            "A's offer",
            on_lan(PHONE_A, ROUTER_LAN, "INVITE sip:200@"),
            at_kamailio("INVITE sip:200@", &from_router),
        ),
        (
            "A's answer",
            on_lan(PHONE_A, ROUTER_LAN, "SIP/2.0 200"),
            at_kamailio("200 ", &from_router),
        ),
        (
            "W's answer",
            at_kamailio("200 ", &from_w),
            on_lan(ROUTER_LAN, PHONE_A, "SIP/2.0 200"),
        ),
        (
            "W's offer",
            at_kamailio("INVITE sip:100@", &from_w),
            // To A's contact, `sip:100-0x…@10.77.1.2:5060`.
            on_lan(ROUTER_LAN, PHONE_A, "INVITE sip:100"),
        ),
    ];
    let mut shown = Vec::new();
    for (what, written, passed) in &pairs {
        let (m0, c0) = srtp_lines(written);
        let (m1, c1) = srtp_lines(passed);
        assert!(
            m0.contains(" RTP/SAVP ") && !c0.is_empty(),
            "{what} as written is not SDES-SRTP: {m0} {c0:?}\n{written}"
        );
        assert!(
            m1.contains(" RTP/SAVP "),
            "{what}: the profile did not survive sipnat: {m0} became {m1}\n{passed}"
        );
        assert_eq!(c0, c1, "{what}: the crypto lines did not survive sipnat");
        assert!(
            // W's pass toward the LAN, where the router's LAN address belongs.
            !what.starts_with("A's") || !LAN_TEXTS.iter().any(|t| passed.contains(t)),
            "{what}: a LAN address in the SDP sipnat sent the provider:\n{passed}"
        );
        shown.push(format!("{what}: {m0} -> {m1}; {}", c1.join(" ")));
    }
    let plain = plain_sip(&parse_pcap(&wan.stop()).expect("wan.pcap"));
    assert!(
        plain.is_empty(),
        "plain-text SIP on the WAN:\n{}",
        plain.join("\n")
    );
    let lines = check_wan_captures(&lab);
    assert_kamailio_log_clean(&lab);

    println!("srtp: A and W with mediaenc=srtp-mand through sipnat and the TLS provider");
    print_calls(&calls);
    for l in metered.iter().chain(&shown).chain(&lines) {
        println!("  {l}");
    }
    println!(
        "  the same encrypted payloads on both sides: A's {out_same} of {}, W's {in_same} of {}",
        lan_from_a.len(),
        lan_to_a.len()
    );
    println!("  sipnat: {status}");
    println!("  {:.1} s", started.elapsed().as_secs_f64());
}
