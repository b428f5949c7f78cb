//! sipnat's configuration: a typed, immutable [`Config`] read from a file in
//! siproxd.conf syntax or in OpenWrt's UCI syntax, and its cross-field
//! [`Config::check`].
//!
//! # What this module does
//! - Reads siproxd.conf text ([`parse_siproxd_conf`]): `key = value` lines,
//!   `#` comments, blank lines. Every option name siproxd 0.8 knows (core and
//!   bundled plugins, see [`options::SIPROXD_OPTIONS`]) is recognised:
//!   the ones sipnat implements (or the media relay will) become typed fields;
//!   every other one is accepted with a *warning* naming it. An unknown key is
//!   an *error* carrying its line number (with a "did you mean" hint).
//! - Reads UCI files (`/etc/config/sipnat`, [`uci::parse_uci_config`]) whose
//!   option names are the same siproxd names, plus the UCI-only
//!   [`uci::UCI_ONLY_OPTIONS`] (`enabled`, `interface_inbound`,
//!   `interface_outbound`). Both readers feed every `name = value` pair through
//!   one mechanism (the private `Builder`), so a value means the same in both
//!   syntaxes and produces the same diagnostics.
//! - [`load_with_section`] detects the syntax: a file whose first line that is
//!   neither blank nor a comment starts with the word `config` (or `package`)
//!   is UCI, anything else is siproxd.conf.
//! - Builds the configuration in layers (DESIGN.md rule 12): [`Config::default`]
//!   holds siproxd's defaults, the file overrides them, and `cli::apply` puts
//!   the command line on top; [`Config::check`] then validates the result once.
//! - Answers the access-list question the way siproxd does ([`Config::access`]).
//!
//! # What it does NOT do
//! - No I/O except [`load`]/[`load_with_section`] reading the one file; no
//!   DNS (host names stay strings for the resolver, the access lists'
//!   names too: [`Config::acl_names`]), no interface lookups
//!   (names stay names; OpenWrt's logical `interface_inbound 'lan'` is resolved
//!   to a device by the init script, which passes `--if-inbound DEV`).
//! - It never panics on file content.
//!
//! # Syntax rules (siproxd compatible, a little more forgiving)
//! - A line is `key = value`. Blanks around key, `=` and value are ignored.
//!   Keys are matched exactly and case-sensitively (siproxd matched
//!   substrings, so `xif_inbound` worked there; here it is an error).
//! - `#` starts a comment at the beginning of a line, or anywhere in a value
//!   when it follows a blank (`rtp_timeout = 300  # seconds`); a `#` inside a
//!   word (`pass#word`) is kept.
//! - Values may contain blanks (siproxd ≥ 0.8.1). An empty value clears a
//!   string option (`registration_file =` means "do not save").
//! - Integers are decimal or `0x` hexadecimal, optionally signed, as siproxd's
//!   `%i` reads them (leading-zero octal is read as decimal).
//! - Options siproxd keeps as lists (`outbound_domain_*`, `load_plugin`, …)
//!   grow with each line. The access lists (`hosts_*`) take comma-separated
//!   entries and, unlike siproxd (where the last line wins), also grow with
//!   repeated lines. Repeating any other option warns; the last value wins.
//! - CR LF line ends and a UTF-8 byte-order mark are accepted.
//!
//! The UCI syntax and how it maps onto these rules is described in [`uci`].
//!
//! # Files
//! This one holds [`Config`] and the loaders; `check.rs` its
//! [`Config::check`];
//! `builder.rs` applies `name = value` pairs (the private `Builder` and the
//! value parsers); `siproxd_conf.rs` and [`uci`] read the two syntaxes;
//! [`options`] lists siproxd's option names; `acl.rs` the access lists;
//! `rules.rs` the lists of the regex, regex_body and siptrunk plugins.

mod acl;
mod builder;
mod check;
pub mod options;
mod read;
mod rules;
mod siproxd_conf;
pub mod uci;

pub use acl::{Acl, HostName, HostNet, Net4, Resolved, Unresolved};
pub use builder::parse_int;
use builder::{Builder, Syntax};
pub use read::{not_utf8, read_all, read_text};
pub use rules::{RegexRule, Trunk};
pub use siproxd_conf::parse_siproxd_conf;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The configuration cannot be used.
    Error,
    /// The configuration is usable, but something is ignored or doubtful.
    Warning,
}

/// One problem found in a configuration, tied to a file line when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based line number; 0 when the problem is not tied to a line
    /// (cross-field checks, an unreadable file).
    pub line: usize,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    /// An error diagnostic (`line` 0: not tied to a line).
    pub fn error(file: &str, line: usize, message: String) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            line,
            severity: Severity::Error,
            message,
        }
    }

    /// A warning diagnostic (`line` 0: not tied to a line).
    pub fn warning(file: &str, line: usize, message: String) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            line,
            severity: Severity::Warning,
            message,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Diagnostic {
    /// `FILE:LINE: error: message`, or `FILE: error: message` for line 0.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line == 0 {
            write!(f, "{}: {}: {}", self.file, sev, self.message)
        } else {
            write!(f, "{}:{}: {}: {}", self.file, self.line, sev, self.message)
        }
    }
}

/// One provider domain with its own outbound proxy (siproxd's
/// `outbound_domain_name/_host/_port`, paired by position: the n-th name goes
/// with the n-th host and the n-th port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundDomain {
    /// The SIP domain, compared case-insensitively with the request's domain.
    pub name: String,
    /// Proxy host name or address literal (resolved later, by the resolver).
    pub host: String,
    /// Proxy port; 5060 when no `outbound_domain_port` lines are given.
    pub port: u16,
}

/// The whole configuration. Built once, checked once, then shared immutably.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// LAN interface name (`if_inbound`), where the phones are. Required.
    pub if_inbound: Option<String>,
    /// WAN interface name (`if_outbound`). Required; may equal `if_inbound`
    /// only together with `host_outbound` (sipnat inside the LAN, in front
    /// of the real NAT router, as siproxd allows).
    pub if_outbound: Option<String>,
    /// Public address or host name to masquerade as (`host_outbound`), for a
    /// router that sits behind another NAT.
    pub host_outbound: Option<String>,
    /// SIP port on both sides (`sip_listen_port`, default 5060).
    pub sip_listen_port: u16,
    /// Networks (and host names, [`Acl`]) allowed to REGISTER; allowed
    /// REGISTER implies allowed SIP. Empty: everyone may register.
    pub hosts_allow_reg: Acl,
    /// Networks allowed to send SIP. Empty: everyone.
    pub hosts_allow_sip: Acl,
    /// Networks whose SIP is dropped, before any allow list. Empty: nobody.
    pub hosts_deny_sip: Acl,
    /// Where the registration table is saved (`registration_file`); `None`:
    /// not saved.
    pub registration_file: Option<PathBuf>,
    /// Save the registrations every this many seconds; 0 = only when they
    /// change and at exit.
    pub autosave_registrations: u32,
    /// Expiry (seconds) for a REGISTER without Expires (siproxd: 3600).
    pub default_expires: u32,
    /// Proxy all outgoing SIP goes through, if set.
    pub outbound_proxy_host: Option<String>,
    /// Port of that proxy (siproxd reads 0 as 5060; so does sipnat).
    pub outbound_proxy_port: u16,
    /// Per-domain outbound proxies, in file order.
    pub outbound_domains: Vec<OutboundDomain>,
    /// Detach into the background (siproxd default: no).
    pub daemonize: bool,
    /// File to write the process id to.
    pub pid_file: Option<PathBuf>,
    /// siproxd's debug class bit mask (`DBCLASS_*`); see `cli::log_level`.
    pub debug_level: u32,
    /// siproxd's syslog silence level 0..=4 (default 1); see `cli::log_level`.
    pub silence_log: u32,
    /// Relay RTP (`rtp_proxy_enable = 1`, the default) or leave media alone.
    pub rtp_proxy_enable: bool,
    /// RTP relay port pool. The relay uses the even ports `p` with
    /// `rtp_port_low <= p` and `p + 1 <= rtp_port_high` for RTP and `p + 1`
    /// for RTCP, so every port it opens lies inside the range. (siproxd
    /// rounds an odd low port up, which the parser does too, with a warning.)
    pub rtp_port_low: u16,
    pub rtp_port_high: u16,
    /// Seconds of silence after which a relayed stream is torn down.
    pub rtp_timeout: u32,
    /// DSCP (0..=63) for relayed RTP, 0 = leave the socket default.
    pub rtp_dscp: u8,
    /// Hand latched streams to the kernel (nftables; sipnat's own option,
    /// default on; falls back to the userspace relay where it cannot).
    pub rtp_kernel_forward: bool,
    /// DSCP (0..=63) for SIP sent by sipnat, 0 = leave the socket default.
    pub sip_dscp: u8,
    /// SIP over TCP, siproxd's meanings: seconds without traffic after
    /// which a connection is closed (siproxd's default 300)...
    pub tcp_timeout: u32,
    /// ...milliseconds an outgoing connect may take (default 500)...
    pub tcp_connect_timeout: u32,
    /// ...and seconds between keep-alive CRLFs on a connection (0: none).
    pub tcp_keepalive: u32,
    /// SIP over TLS (sipnat's own options, the `tls` feature): requests to
    /// the outbound proxy and the `outbound_domain_host`s go over TLS
    /// whatever transport the phone uses (`outbound_tls`)...
    pub outbound_tls: bool,
    /// ...the CA certificates a provider's certificate is checked against
    /// (`tls_ca_file`; none: /etc/ssl/certs/ca-certificates.crt)...
    pub tls_ca_file: Option<PathBuf>,
    /// ...and pinned certificates, by the SHA-256 of their DER, 64
    /// lowercase hex digits (`tls_fingerprint`): when any is given, only a
    /// certificate with one of these is accepted.
    pub tls_fingerprints: Vec<String>,
    /// TLS toward the phones: the port sipnat takes TLS on from the LAN
    /// (`tls_listen_port`, 0: none), with this certificate chain and key
    /// (`tls_cert_file`, `tls_key_file`; none: /etc/sipnat.crt and
    /// /etc/sipnat.key, which the init script makes with px5g).
    pub tls_listen_port: u16,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// User to switch to once the sockets are bound (siproxd's `user`);
    /// the registration directory is handed to it only when it is
    /// sipnat's own (`driver::own_directory`).
    pub user: Option<String>,
    /// Proxy authentication (siproxd's `proxy_auth_realm`): when set, the
    /// phones must pass digest authentication for this realm to register
    /// and to start anything going out ([`crate::auth`]).
    pub proxy_auth_realm: Option<String>,
    /// One password for every user (siproxd's `proxy_auth_passwd`).
    pub proxy_auth_passwd: Option<Secret>,
    /// Per-user passwords, `user password` a line (siproxd's
    /// `proxy_auth_pwfile`; wins over `proxy_auth_passwd`). Read by the
    /// driver at start and on reload.
    pub proxy_auth_pwfile: Option<PathBuf>,
    /// UCI only: the digest algorithms offered, in order (RFC 8760 §2.4;
    /// default SHA-256, then MD5).
    pub proxy_auth_algorithms: heapless::Vec<crate::auth::Algorithm, 2>,
    /// `load_plugin = plugin_blacklist`: sources that fail authentication
    /// `blacklist_hitcount` times are refused for `blacklist_duration`
    /// seconds (0: until restart), only logged with `blacklist_simulate`.
    pub blacklist: bool,
    pub blacklist_simulate: bool,
    pub blacklist_duration: u32,
    pub blacklist_hitcount: u32,
    /// siproxd's `mask_host`/`masked_host`, paired by position: a From or
    /// To URI whose host is the first (a phone's domain, typically
    /// sipnat's own LAN address) shows the second on the WAN side, and a
    /// request from the WAN for a user at the second reaches the phone
    /// registered at the first.
    pub mask_hosts: Vec<(String, String)>,
    /// `use_rport`, siproxd's bit mask: bit 0 (1) asks for `;rport` in the
    /// Via sipnat adds to what goes to the LAN; bit 1 (2), toward the WAN,
    /// is always on in sipnat (RFC 3581: the provider's responses must
    /// reach it behind any NAT).
    pub use_rport: u8,
    /// `ua_string`: the User-Agent (in responses also the Server) of what
    /// goes from the LAN to the WAN is replaced by this text, or added.
    pub ua_string: Option<String>,
    /// `load_plugin = plugin_logcall` (or the old `log_calls = 1`): a log
    /// line as each call starts and ends.
    pub logcall: bool,
    /// `load_plugin = plugin_shortdial` (or the old `pi_shortdial_enable`):
    /// a LAN phone's new call to a number as long as `shortdial_akey` that
    /// starts with its first character (`*00`: `*01` … `*99`) goes to
    /// entry N of `shortdial_entries` (a number, or `user@host`).
    pub shortdial: bool,
    pub shortdial_akey: Option<String>,
    pub shortdial_entries: Vec<String>,
    /// `load_plugin = plugin_prefix`: `prefix_akey` goes before the number
    /// of every new call a LAN phone makes.
    pub prefix: bool,
    pub prefix_akey: Option<String>,
    /// `load_plugin = plugin_defaulttarget`: a new call for a user sipnat
    /// does not know is answered `302 Moved Temporarily` to
    /// `defaulttarget_target` (a SIP URI) instead of 404/403, logged with
    /// `defaulttarget_log`.
    pub defaulttarget: bool,
    pub defaulttarget_target: Option<String>,
    pub defaulttarget_log: bool,
    /// `load_plugin = plugin_fix_bogus_via`: requests from these networks
    /// (`plugin_fix_bogus_via_networks`) are answered at their source port
    /// as if their Via had `rport`, whatever port it names.
    pub fix_bogus_via: bool,
    pub fix_bogus_via_networks: Acl,
    /// `load_plugin = plugin_fix_DTAG`: a response from these networks
    /// (`plugin_fix_DTAG_networks`) whose top Via host is in them too is
    /// taken as answering sipnat's Via when its branch is a sealed branch
    /// of sipnat's, whatever host and port the Via names.
    pub fix_dtag: bool,
    pub fix_dtag_networks: Acl,
    /// `load_plugin = plugin_stun`: the public address is asked of
    /// `stun_server`:`stun_port` every `stun_period` seconds (RFC 5389).
    pub stun: bool,
    pub stun_server: Option<String>,
    pub stun_port: u16,
    pub stun_period: u32,
    /// `load_plugin = plugin_stripheader`: headers (`name`) or single
    /// values of a header (`name:value`) taken out of every message sipnat
    /// passes on (`plugin_stripheader_remove`).
    pub stripheader: bool,
    pub strip_headers: Vec<(String, Option<String>)>,
    /// `load_plugin = plugin_regex`: a LAN phone's new call goes to the
    /// Request-URI the first of `regex_rules` that matches it makes
    /// (after shortdial and prefix).
    pub regex: bool,
    pub regex_rules: Vec<RegexRule>,
    /// `load_plugin = plugin_regex_body`: every body passed on is
    /// rewritten by each of `regex_body_rules` in turn, before the SDP
    /// is masqueraded.
    pub regex_body: bool,
    pub regex_body_rules: Vec<RegexRule>,
    /// `load_plugin = plugin_siptrunk`: a WAN request for a number no
    /// phone registered goes to the phone registered with the account of
    /// the first of `siptrunks` whose numbers match it.
    pub siptrunk: bool,
    pub siptrunks: Vec<Trunk>,
    /// `load_plugin = plugin_codecfilter`: codecs whose name contains one of
    /// `codec_blacklist` (`plugin_codecfilter_blacklist`) are taken out of
    /// every SDP, both ways (relayed or not).
    pub codecfilter: bool,
    pub codec_blacklist: Vec<String>,
    /// `load_plugin = plugin_stats`: a statistics line to the log and the
    /// status to `stats_filename`, every `stats_to_syslog` /
    /// `stats_to_file` seconds (-1: only on SIGUSR1; 0: never).
    pub stats: bool,
    pub stats_to_syslog: i32,
    pub stats_to_file: i32,
    pub stats_filename: Option<PathBuf>,
    /// siproxd's chroot directory. sipnat does not chroot itself: on
    /// OpenWrt the init script runs every instance in a procd ujail
    /// ([`options::Status::ServedByInit`]).
    pub chrootjail: Option<PathBuf>,
    /// UCI only (`option enabled`): `false` means the section is switched
    /// off; `main` then exits successfully without starting, and the init
    /// script does not start it. Always `true` for siproxd.conf files.
    pub enabled: bool,
    /// UCI only: OpenWrt's logical LAN network name (`interface_inbound
    /// 'lan'`). sipnat does not resolve it: the init script turns it into a
    /// device (`network_get_device`) and passes `--if-inbound DEV`, which
    /// sets [`Config::if_inbound`]. Kept for messages.
    pub interface_inbound: Option<String>,
    /// UCI only: OpenWrt's logical WAN network name (`interface_outbound
    /// 'wan'`), resolved by the init script into `--if-outbound DEV`.
    pub interface_outbound: Option<String>,
    /// UCI only (`option wan_sip_open`): the init script publishes a
    /// firewall rule that opens the SIP port to unsolicited packets from the
    /// WAN zone. Default off: replies to what sipnat sent pass anyway. sipnat
    /// itself only checks it.
    pub wan_sip_open: bool,
    /// UCI only (`list wan_sip_allow`): with `wan_sip_open`, the WAN sources
    /// that rule admits (empty: all). Read by the init script; sipnat checks
    /// the entries, so a typo is reported with its line.
    pub wan_sip_allow: Acl,
}

/// Default SIP port (RFC 3261 §19.1.2).
pub const SIP_PORT: u16 = 5060;

impl Default for Config {
    /// siproxd's built-in defaults (the table in siproxd.c and siproxd.h),
    /// except where siproxd's built-in value is unusable and every shipped
    /// configuration overrides it: the RTP pool 7070–7089 and `rtp_timeout`
    /// 300 s come from the OpenWrt siproxd package (siproxd's own are 0).
    fn default() -> Config {
        Config {
            if_inbound: None,
            if_outbound: None,
            host_outbound: None,
            sip_listen_port: SIP_PORT,
            hosts_allow_reg: Acl::with_names(),
            hosts_allow_sip: Acl::with_names(),
            hosts_deny_sip: Acl::with_names(),
            registration_file: None,
            autosave_registrations: 0,
            default_expires: 3600,
            outbound_proxy_host: None,
            outbound_proxy_port: SIP_PORT,
            outbound_domains: Vec::new(),
            daemonize: false,
            pid_file: None,
            debug_level: 0,
            silence_log: 1,
            rtp_proxy_enable: true,
            rtp_port_low: 7070,
            rtp_port_high: 7089,
            rtp_timeout: 300,
            rtp_dscp: 0,
            rtp_kernel_forward: true,
            sip_dscp: 0,
            tcp_timeout: 300,
            tcp_connect_timeout: 500,
            tcp_keepalive: 0,
            outbound_tls: false,
            tls_ca_file: None,
            tls_fingerprints: Vec::new(),
            tls_listen_port: 0,
            tls_cert_file: None,
            tls_key_file: None,
            user: None,
            proxy_auth_realm: None,
            proxy_auth_passwd: None,
            proxy_auth_pwfile: None,
            proxy_auth_algorithms: heapless::Vec::from_slice(&[
                crate::auth::Algorithm::Sha256,
                crate::auth::Algorithm::Md5,
            ])
            .unwrap_or_default(),
            blacklist: false,
            blacklist_simulate: false,
            blacklist_duration: 3600,
            blacklist_hitcount: 10,
            use_rport: 0,
            ua_string: None,
            logcall: false,
            shortdial: false,
            shortdial_akey: None,
            shortdial_entries: Vec::new(),
            prefix: false,
            prefix_akey: None,
            stun: false,
            stun_server: None,
            stun_port: 3478,
            stun_period: 300,
            stripheader: false,
            strip_headers: Vec::new(),
            regex: false,
            regex_rules: Vec::new(),
            regex_body: false,
            regex_body_rules: Vec::new(),
            siptrunk: false,
            siptrunks: Vec::new(),
            defaulttarget: false,
            defaulttarget_target: None,
            defaulttarget_log: false,
            fix_bogus_via: false,
            fix_bogus_via_networks: Acl::default(),
            mask_hosts: Vec::new(),
            fix_dtag: false,
            fix_dtag_networks: Acl::default(),
            codecfilter: false,
            codec_blacklist: Vec::new(),
            stats: false,
            stats_to_syslog: 0,
            stats_to_file: 0,
            stats_filename: None,
            chrootjail: None,
            enabled: true,
            interface_inbound: None,
            interface_outbound: None,
            wan_sip_open: false,
            wan_sip_allow: Acl::default(),
        }
    }
}

/// A password from the configuration: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a sender may do, by the access lists ([`Config::access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// May send SIP requests and responses.
    pub sip: bool,
    /// May REGISTER.
    pub register: bool,
}

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

impl Config {
    /// siproxd's access decision (accessctl.c) for a datagram from `ip`,
    /// with no host name resolved ([`Config::access_with`]).
    pub fn access(&self, ip: impl Into<IpAddr>) -> Access {
        self.access_with(ip, &Unresolved)
    }

    /// siproxd's access decision (accessctl.c) for a datagram from `ip`:
    /// a match in a non-empty `hosts_deny_sip` denies everything; otherwise
    /// SIP is allowed when `hosts_allow_sip` is empty or matches, or when a
    /// non-empty `hosts_allow_reg` matches (register implies SIP); REGISTER is
    /// allowed when `hosts_allow_reg` is empty or matches.
    ///
    /// Host-name entries match the addresses `names` knows for them, with
    /// their prefix. A name not resolved (yet, or ever) matches nothing:
    /// - in an allow list that fails closed: the list is not empty, so a
    ///   sender no other entry names is refused until the name resolves;
    /// - in `hosts_deny_sip` it denies nobody yet, while the list's other
    ///   entries still apply (siproxd stopped reading the list at a name it
    ///   could not resolve, so the entries after it denied nobody either).
    ///   Denying everyone instead would let one name whose DNS is down
    ///   stop every phone; a deny list is a filter for known bad hosts, the
    ///   allow lists are the fence. The core retries such a name as soon
    ///   as the resolver's negative cache allows (10 to 60 s).
    pub fn access_with(&self, ip: impl Into<IpAddr>, names: &dyn Resolved) -> Access {
        self.access_ip(ip.into(), names)
    }

    fn access_ip(&self, ip: IpAddr, names: &dyn Resolved) -> Access {
        if self.hosts_deny_sip.contains_with(ip, names) {
            return Access {
                sip: false,
                register: false,
            };
        }
        let reg_match = self.hosts_allow_reg.contains_with(ip, names);
        Access {
            sip: self.hosts_allow_sip.is_empty()
                || self.hosts_allow_sip.contains_with(ip, names)
                || reg_match,
            register: self.hosts_allow_reg.is_empty() || reg_match,
        }
    }

    /// The host-name entries of the access lists, with the option each is
    /// in: the names the core keeps resolved (`crate::dns::watch`).
    pub fn acl_names(&self) -> impl Iterator<Item = (&'static str, &HostNet)> {
        let lists = [
            ("hosts_allow_reg", &self.hosts_allow_reg),
            ("hosts_allow_sip", &self.hosts_allow_sip),
            ("hosts_deny_sip", &self.hosts_deny_sip),
        ];
        lists
            .into_iter()
            .flat_map(|(opt, acl)| acl.names().iter().map(move |h| (opt, h)))
    }

    /// The RTP ports of the relay pool (even, with their RTCP port + 1 still
    /// inside `rtp_port_low..=rtp_port_high`), lowest first.
    pub fn rtp_ports(&self) -> impl Iterator<Item = u16> + use<> {
        let low = self.rtp_port_low.saturating_add(self.rtp_port_low & 1);
        let high = self.rtp_port_high;
        (u32::from(low)..u32::from(high))
            .step_by(2)
            // in range: the iterator stays below `high`, a u16
            .filter_map(|p| u16::try_from(p).ok())
    }
}

/// Read the file, parse it, then [`Config::check`] it: [`load_with_section`]
/// with no section (for a UCI file: its first `sipnat` section).
pub fn load(path: &Path) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    load_with_section(path, None)
}

/// `true` when `text` is in UCI syntax: its first line that is neither blank
/// nor a comment starts with the word `config` (or `package`, as `uci
/// export` writes; or `option`/`list`, a UCI file missing its `config`
/// line, which the UCI reader then reports at its line). siproxd.conf has no
/// option of any of these names, so the test is unambiguous.
pub fn looks_like_uci(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().next())
        .is_some_and(|w| matches!(w, "config" | "package" | "option" | "list"))
}

/// Read the file, detect its syntax ([`looks_like_uci`]), parse it, then
/// [`Config::check`] it: [`load_layered`] with no command-line layer.
pub fn load_with_section(
    path: &Path,
    section: Option<&str>,
) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    load_layered(path, section, |_| ())
}

/// Read the file, detect its syntax ([`looks_like_uci`]), parse it, put
/// `overrides` (the command-line layer, `cli::apply`) on top, then
/// [`Config::check`] the result once (DESIGN.md rule 12). `section` is the
/// UCI section to read (`-s`: a section name or `@sipnat[N]`; `None`: the
/// first `sipnat` section); naming a section for a siproxd.conf file is an
/// error. `Err` (with every diagnostic) when any diagnostic is an error;
/// `Ok` with the warnings otherwise. The file name in the diagnostics is
/// `path` as given.
///
/// The overrides must come before the check: a UCI section usually names
/// its interfaces only logically (`interface_inbound 'lan'`), and the
/// devices arrive as `--if-inbound`/`--if-outbound`.
pub fn load_layered(
    path: &Path,
    section: Option<&str>,
    overrides: impl FnOnce(&mut Config),
) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    let file = path.display().to_string();
    let bytes = match std::fs::File::open(path).and_then(|f| read_all(f, u64::MAX)) {
        Ok(b) => b,
        Err(e) => {
            return Err(vec![Diagnostic::error(
                &file,
                0,
                format!("cannot read the configuration: {e}"),
            )]);
        }
    };
    let mut diags = Vec::new();
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::warning(
                &file,
                0,
                "the file is not valid UTF-8; invalid bytes were replaced".to_string(),
            ));
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    let (cfg, parse_diags) = if looks_like_uci(&text) {
        match uci::parse_uci_config(&text, &file, section) {
            Ok(x) => x,
            // no section to read: checking the defaults would only add noise
            Err(d) => {
                diags.extend(d);
                return Err(diags);
            }
        }
    } else {
        if let Some(s) = section {
            diags.push(Diagnostic::error(
                &file,
                0,
                format!(
                    "-s '{s}' names a UCI section, but this file is in siproxd.conf syntax (key = value), which has no sections"
                ),
            ));
        }
        parse_siproxd_conf(&text, &file)
    };
    diags.extend(parse_diags);
    let mut cfg = cfg;
    overrides(&mut cfg);
    diags.extend(cfg.check(&file));
    if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok((cfg, diags))
    }
}

#[cfg(test)]
mod acl_tests;
#[cfg(test)]
mod tests;
