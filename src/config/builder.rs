//! The one mechanism both configuration readers (siproxd.conf and UCI) use
//! to turn `name = value` pairs into a [`Config`]: option lookup, the value
//! parsers (siproxd's `%i` integers, 0/1 switches, ports, seconds), the
//! typed application of each option, the warnings and errors about
//! unimplemented, refused and repeated options, and the pairing of the
//! outbound domain lists at the end.
//!
//! It does not split lines or know either file syntax (`siproxd_conf.rs` and
//! [`super::uci`] do), read files, or check the result as a whole
//! ([`Config::check`] does).

use super::options::{self, Status};
use super::{Config, Diagnostic, OutboundDomain, SIP_PORT, rules, uci};
use std::path::PathBuf;

/// Result of applying one typed option.
pub(super) enum Applied {
    /// Value stored (possibly with a warning about it).
    Ok(Option<String>),
    /// Bad value; the message explains it.
    Bad(String),
    /// Not one of the typed options.
    NotTyped,
}

/// siproxd's `%i`: optional sign, then decimal or `0x` hexadecimal.
pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = if let Some(hex) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        crate::num::parse_i64_digits(hex, 16)?
    } else {
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        crate::num::parse_i64_digits(rest, 10)?
    };
    Some(if neg { -v } else { v })
}

fn int_in(key: &str, value: &str, lo: i64, hi: i64) -> Result<i64, String> {
    match parse_int(value) {
        None => Err(format!("{key} = '{value}': expected an integer")),
        Some(v) if v < lo || v > hi => Err(format!("{key} = {v} is out of range {lo}..{hi}")),
        Some(v) => Ok(v),
    }
}

fn port(key: &str, value: &str) -> Result<u16, String> {
    // range-checked to 0..=65535 just above
    int_in(key, value, 0, 65535).map(|v| v as u16)
}

/// siproxd's 0/1 switches are integers (non-zero = on); words are accepted too.
fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => match parse_int(value) {
            Some(v) => Ok(v != 0),
            None => Err(format!("{key} = '{value}': expected 0 or 1")),
        },
    }
}

/// Digest algorithms in order of preference, blank or comma separated.
fn algorithms(key: &str, value: &str) -> Result<heapless::Vec<crate::auth::Algorithm, 2>, String> {
    let mut v = heapless::Vec::new();
    for word in value.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
        let alg = crate::auth::Algorithm::parse(word).ok_or_else(|| {
            format!("{key}: '{word}' is not a digest algorithm sipnat offers (SHA-256, MD5)")
        })?;
        if v.contains(&alg) || v.push(alg).is_err() {
            return Err(format!("{key}: '{word}' is named twice"));
        }
    }
    if v.is_empty() {
        return Err(format!("{key}: name SHA-256, MD5 or both"));
    }
    Ok(v)
}

/// A realm goes into a quoted string of our challenges (RFC 3261 §25.1):
/// printable, no quote or backslash.
fn realm(key: &str, value: &str) -> Result<Option<String>, String> {
    if value.len() > 64
        || value
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(format!(
            "{key} = '{value}': a realm is at most 64 printable characters without \" or \\"
        ));
    }
    Ok(opt_string(value))
}

/// A dialled number or `user@host` that goes into a Request-URI
/// (shortdial, prefix): at most 64 characters, none that a URI cannot hold
/// as they are (spaces, controls, `<>"`).
fn dial_text(key: &str, value: &str) -> Result<Option<String>, String> {
    if value.len() > 64 || !uri_safe(value) {
        return Err(format!(
            "{key} = '{value}': a number or user@host of at most 64 characters, no spaces"
        ));
    }
    Ok(opt_string(value))
}

/// `tls_fingerprint`: a SHA-256 of a certificate, 64 hex digits, with or
/// without colons between the bytes (as `openssl x509 -fingerprint
/// -sha256` prints it); kept as 64 lowercase hex digits.
fn fingerprint(key: &str, value: &str) -> Result<Option<String>, String> {
    let hex: Vec<u8> = value.bytes().filter(|&b| b != b':').collect();
    if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(format!(
            "{key} = '{value}': a SHA-256 fingerprint, 64 hex digits (colons allowed)"
        ));
    }
    Ok(String::from_utf8(hex.to_ascii_lowercase()).ok())
}

/// Text that can stand in a URI written into a header as it is: no
/// controls, spaces or `<>"`.
fn uri_safe(v: &str) -> bool {
    !v.chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | '"'))
}

/// `plugin_stripheader_remove`: `Header` or `Header:value`. The headers
/// that carry the transaction, the dialog or the body's length cannot go
/// (sipnat could not route what it passes on): refused by name.
fn strip_entry(key: &str, value: &str) -> Result<Option<(String, Option<String>)>, String> {
    use crate::sip::HeaderName as H;
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let (name, val) = match v.split_once(':') {
        Some((n, x)) => (
            n.trim(),
            Some(x.trim().to_string()).filter(|x| !x.is_empty()),
        ),
        None => (v, None),
    };
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b));
    if !token {
        return Err(format!(
            "{key} = '{value}': not a header name (Header or Header:value)"
        ));
    }
    if matches!(
        H::from_name(name),
        H::Via
            | H::From
            | H::To
            | H::CallId
            | H::CSeq
            | H::Contact
            | H::ContentLength
            | H::ContentType
            | H::MaxForwards
            | H::Route
    ) {
        return Err(format!(
            "{key} = '{value}': sipnat cannot pass messages on without {name}"
        ));
    }
    Ok(Some((name.to_string(), val)))
}

/// A SIP URI sipnat writes into a header (`plugin_defaulttarget_target`):
/// `sip:` or `sips:`, parsed as a URI, no `<>"` or spaces.
fn sip_uri(key: &str, value: &str) -> Result<Option<String>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let ok = (v.starts_with("sip:") || v.starts_with("sips:"))
        && v.len() <= 128
        && uri_safe(v)
        && crate::sip::Uri::parse(v).is_ok();
    if ok {
        Ok(Some(v.to_string()))
    } else {
        Err(format!(
            "{key} = '{value}': not a SIP URI (sip:user@host[:port])"
        ))
    }
}

/// `ua_string`: the text of a header sipnat writes, so at most 128
/// printable characters (no control character could split the header).
fn header_text(key: &str, value: &str) -> Result<Option<String>, String> {
    if value.len() > 128 || value.chars().any(char::is_control) {
        return Err(format!(
            "{key} = '{value}': at most 128 printable characters"
        ));
    }
    Ok(opt_string(value))
}

/// `host_outbound`: a name or an address; an IPv6 address may come in
/// brackets, as SIP writes it (RFC 3261 §25.1 `IPv6reference`), and is kept
/// bare. Whether it is a plausible host is `check`'s question.
fn host(_: &str, value: &str) -> Result<Option<String>, String> {
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .filter(|v| v.parse::<std::net::Ipv6Addr>().is_ok());
    Ok(opt_string(bare.unwrap_or(value)))
}

fn opt_string(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

fn opt_path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

/// The lists paired by position at the end, with their lines: the
/// `outbound_domain_*` and `mask_host`/`masked_host` values here, the
/// regex, regex_body and siptrunk plugins' in [`rules`].
#[derive(Default)]
pub(super) struct ListParts {
    names: Vec<(String, usize)>,
    hosts: Vec<(String, usize)>,
    ports: Vec<(u16, usize)>,
    rules: rules::RuleParts,
    mask: Vec<(String, usize)>,
    masked: Vec<(String, usize)>,
}

/// Where a typed option's value goes: its field of [`Config`].
type Field<T> = fn(&mut Config) -> &mut T;

/// A value check that also turns the text into what is stored (empty:
/// `None`); its error message names the option.
type Check = fn(&str, &str) -> Result<Option<String>, String>;

/// How one typed option is read and where it goes. One table row per
/// option ([`TYPED`]) and one loop ([`apply_typed`]) instead of one
/// compiled branch per option: the MIPS binary carries each option as a
/// few bytes of table, not as its own copy of the parse-and-store code.
#[derive(Clone, Copy)]
enum Kind {
    /// Any text; empty for none.
    Text(Field<Option<String>>),
    /// A file name; empty for none.
    Path(Field<Option<PathBuf>>),
    /// Text that `Check` accepts; empty for none.
    Checked(Check, Field<Option<String>>),
    /// The same, one entry a line.
    CheckedList(Check, Field<Vec<String>>),
    /// siproxd's 0/1 switch ([`boolean`]).
    Bool(fn(&mut Config, bool)),
    /// An integer in `lo..=hi` ([`int_in`]; a port is 0..=65535,
    /// seconds the u32 range).
    Int(i64, i64, fn(&mut Config, i64)),
    /// Access-list entries, comma separated; each line adds to the list.
    Acl(Field<super::Acl>),
    /// One entry of a list paired by position at the end.
    Part(fn(&mut ListParts) -> &mut Vec<(String, usize)>),
    /// An option with a rule of its own.
    Own(fn(&mut Config, &mut ListParts, &str, &str, usize) -> Applied),
}

const PORT: i64 = 65535;
const SECS: i64 = u32::MAX as i64;

/// Every typed option (the regex, regex_body and siptrunk plugins' are in
/// [`rules`]), by its exact name.
#[rustfmt::skip]
static TYPED: &[(&str, Kind)] = {
    use Kind::*;
    &[
        ("if_inbound", Text(|c| &mut c.if_inbound)),
        ("if_outbound", Text(|c| &mut c.if_outbound)),
        ("host_outbound", Checked(host, |c| &mut c.host_outbound)),
        ("ua_string", Checked(header_text, |c| &mut c.ua_string)),
        ("use_rport", Int(0, 3, |c, v| c.use_rport = v as u8)),
        ("sip_listen_port", Int(0, PORT, |c, v| c.sip_listen_port = v as u16)),
        ("hosts_allow_reg", Acl(|c| &mut c.hosts_allow_reg)),
        ("hosts_allow_sip", Acl(|c| &mut c.hosts_allow_sip)),
        ("hosts_deny_sip", Acl(|c| &mut c.hosts_deny_sip)),
        ("registration_file", Path(|c| &mut c.registration_file)),
        ("autosave_registrations", Int(0, SECS, |c, v| c.autosave_registrations = v as u32)),
        ("default_expires", Int(0, SECS, |c, v| c.default_expires = v as u32)),
        ("outbound_proxy_host", Text(|c| &mut c.outbound_proxy_host)),
        // siproxd: port 0 means the default SIP port
        ("outbound_proxy_port", Int(0, PORT, |c, v| c.outbound_proxy_port = or_default(v, SIP_PORT))),
        ("outbound_domain_name", Part(|p| &mut p.names)),
        ("outbound_domain_host", Part(|p| &mut p.hosts)),
        ("outbound_domain_port", Own(outbound_domain_port)),
        ("mask_host", Part(|p| &mut p.mask)),
        ("masked_host", Part(|p| &mut p.masked)),
        ("daemonize", Bool(|c, v| c.daemonize = v)),
        ("pid_file", Path(|c| &mut c.pid_file)),
        // -1 (all classes) and other negatives wrap like siproxd's int → unsigned
        ("debug_level", Int(i32::MIN as i64, SECS, |c, v| c.debug_level = v as u32)),
        ("silence_log", Int(0, 4, |c, v| c.silence_log = v as u32)),
        ("rtp_proxy_enable", Own(rtp_proxy_enable)),
        ("rtp_port_low", Own(rtp_port_low)),
        ("rtp_port_high", Int(0, PORT, |c, v| c.rtp_port_high = v as u16)),
        ("rtp_timeout", Int(0, SECS, |c, v| c.rtp_timeout = v as u32)),
        ("tcp_timeout", Int(0, SECS, |c, v| c.tcp_timeout = v as u32)),
        ("tcp_connect_timeout", Int(0, SECS, |c, v| c.tcp_connect_timeout = v as u32)),
        ("tcp_keepalive", Int(0, SECS, |c, v| c.tcp_keepalive = v as u32)),
        ("outbound_tls", Bool(|c, v| c.outbound_tls = v)),
        ("tls_ca_file", Path(|c| &mut c.tls_ca_file)),
        ("tls_fingerprint", CheckedList(fingerprint, |c| &mut c.tls_fingerprints)),
        ("tls_listen_port", Int(0, PORT, |c, v| c.tls_listen_port = v as u16)),
        ("tls_cert_file", Path(|c| &mut c.tls_cert_file)),
        ("tls_key_file", Path(|c| &mut c.tls_key_file)),
        ("rtp_dscp", Int(0, 255, |c, v| c.rtp_dscp = v as u8)),
        ("rtp_kernel_forward", Bool(|c, v| c.rtp_kernel_forward = v)),
        ("sip_dscp", Int(0, 255, |c, v| c.sip_dscp = v as u8)),
        ("user", Text(|c| &mut c.user)),
        ("proxy_auth_realm", Checked(realm, |c| &mut c.proxy_auth_realm)),
        ("proxy_auth_passwd", Own(|c, _, _, value, _| {
            c.proxy_auth_passwd = opt_string(value).map(super::Secret);
            Applied::Ok(None)
        })),
        ("proxy_auth_pwfile", Path(|c| &mut c.proxy_auth_pwfile)),
        ("plugin_blacklist_simulate", Bool(|c, v| c.blacklist_simulate = v)),
        ("plugin_blacklist_duration", Int(0, SECS, |c, v| c.blacklist_duration = v as u32)),
        ("plugin_blacklist_hitcount", Int(1, 1000, |c, v| c.blacklist_hitcount = v as u32)),
        ("log_calls", Bool(|c, v| c.logcall |= v)),
        ("plugin_shortdial_akey", Checked(dial_text, |c| &mut c.shortdial_akey)),
        ("pi_shortdial_akey", Checked(dial_text, |c| &mut c.shortdial_akey)),
        ("plugin_shortdial_entry", CheckedList(dial_text, |c| &mut c.shortdial_entries)),
        ("pi_shortdial_entry", CheckedList(dial_text, |c| &mut c.shortdial_entries)),
        ("pi_shortdial_enable", Bool(|c, v| c.shortdial |= v)),
        ("plugin_prefix_akey", Checked(dial_text, |c| &mut c.prefix_akey)),
        ("plugin_stun_server", Text(|c| &mut c.stun_server)),
        ("plugin_stun_port", Int(0, PORT, |c, v| c.stun_port = or_default(v, 3478))),
        ("plugin_stun_period", Int(10, 86400, |c, v| c.stun_period = v as u32)),
        ("plugin_stripheader_remove", Own(|c, _, key, value, _| {
            applied(strip_entry(key, value).map(|v| c.strip_headers.extend(v)))
        })),
        ("plugin_defaulttarget_log", Bool(|c, v| c.defaulttarget_log = v)),
        ("plugin_defaulttarget_target", Checked(sip_uri, |c| &mut c.defaulttarget_target)),
        ("plugin_fix_bogus_via_networks", Acl(|c| &mut c.fix_bogus_via_networks)),
        ("plugin_fix_DTAG_networks", Acl(|c| &mut c.fix_dtag_networks)),
        ("plugin_codecfilter_blacklist", CheckedList(header_text, |c| &mut c.codec_blacklist)),
        ("plugin_stats_to_syslog", Int(-1, 86400, |c, v| c.stats_to_syslog = v as i32)),
        ("plugin_stats_to_file", Int(-1, 86400, |c, v| c.stats_to_file = v as i32)),
        ("plugin_stats_filename", Path(|c| &mut c.stats_filename)),
        ("chrootjail", Path(|c| &mut c.chrootjail)),
        // UCI-only options (uci::UCI_ONLY_OPTIONS); the siproxd.conf reader
        // never gets here with them, its lookup does not know them.
        ("enabled", Own(|c, _, _, value, _| {
            applied(uci::boolean(value).map(|v| c.enabled = v).ok_or_else(|| {
                format!("enabled = '{value}': expected 1 (start this section) or 0 (do not)")
            }))
        })),
        ("interface_inbound", Text(|c| &mut c.interface_inbound)),
        ("interface_outbound", Text(|c| &mut c.interface_outbound)),
        ("wan_sip_open", Own(|c, _, _, value, _| {
            applied(uci::boolean(value).map(|v| c.wan_sip_open = v).ok_or_else(|| {
                format!(
                    "wan_sip_open = '{value}': expected 1 (open the SIP port to the WAN) or 0 (do not)"
                )
            }))
        })),
        ("proxy_auth_algorithms", Own(|c, _, key, value, _| {
            applied(algorithms(key, value).map(|v| c.proxy_auth_algorithms = v))
        })),
        ("wan_sip_allow", Acl(|c| &mut c.wan_sip_allow)),
    ]
};

/// A port where 0 stands for `default` (siproxd's reading); `v` is
/// range-checked to a port already.
fn or_default(v: i64, default: u16) -> u16 {
    if v == 0 { default } else { v as u16 }
}

fn applied(r: Result<(), String>) -> Applied {
    match r {
        Ok(()) => Applied::Ok(None),
        Err(e) => Applied::Bad(e),
    }
}

fn outbound_domain_port(
    _: &mut Config,
    parts: &mut ListParts,
    key: &str,
    value: &str,
    line: usize,
) -> Applied {
    applied(port(key, value).map(|v| parts.ports.push((if v == 0 { SIP_PORT } else { v }, line))))
}

fn rtp_proxy_enable(
    cfg: &mut Config,
    _: &mut ListParts,
    _: &str,
    value: &str,
    _: usize,
) -> Applied {
    match parse_int(value) {
        Some(0) => {
            cfg.rtp_proxy_enable = false;
            Applied::Ok(None)
        }
        Some(1) => {
            cfg.rtp_proxy_enable = true;
            Applied::Ok(None)
        }
        Some(2 | 3) => Applied::Bad(format!(
            "rtp_proxy_enable = {value}: the firewall masquerading modes were removed from siproxd; use 1 (relay) or 0 (off)"
        )),
        _ => Applied::Bad(format!(
            "rtp_proxy_enable = '{value}': expected 0 (off) or 1 (relay)"
        )),
    }
}

fn rtp_port_low(cfg: &mut Config, _: &mut ListParts, key: &str, value: &str, _: usize) -> Applied {
    match port(key, value) {
        Ok(v) if v % 2 == 1 && v < u16::MAX => {
            // siproxd rounds an odd low port up (readconf.c) and warns.
            cfg.rtp_port_low = v + 1;
            Applied::Ok(Some(format!(
                "rtp_port_low = {v} is odd; rounded up to {} (RTP uses even ports)",
                v + 1
            )))
        }
        Ok(v) => {
            cfg.rtp_port_low = v;
            Applied::Ok(None)
        }
        Err(e) => Applied::Bad(e),
    }
}

/// Apply one typed option to `cfg`. `parts` collects the lists paired by
/// position.
pub(super) fn apply_typed(
    cfg: &mut Config,
    parts: &mut ListParts,
    key: &str,
    value: &str,
    line: usize,
) -> Applied {
    if let Some(r) = rules::apply(&mut parts.rules, key, value, line) {
        return applied(r);
    }
    let Some(&(_, kind)) = TYPED.iter().find(|(name, _)| *name == key) else {
        return Applied::NotTyped;
    };
    applied(match kind {
        Kind::Text(f) => {
            *f(cfg) = opt_string(value);
            Ok(())
        }
        Kind::Path(f) => {
            *f(cfg) = opt_path(value);
            Ok(())
        }
        Kind::Checked(check, f) => check(key, value).map(|v| *f(cfg) = v),
        Kind::CheckedList(check, f) => check(key, value).map(|v| f(cfg).extend(v)),
        Kind::Bool(set) => boolean(key, value).map(|v| set(cfg, v)),
        Kind::Int(lo, hi, set) => int_in(key, value, lo, hi).map(|v| set(cfg, v)),
        Kind::Acl(f) => f(cfg)
            .extend_from_list(value)
            .map_err(|e| format!("{key}: {e}")),
        Kind::Part(f) => {
            f(parts).push((value.to_string(), line));
            Ok(())
        }
        Kind::Own(f) => return f(cfg, parts, key, value, line),
    })
}

/// The warning for a recognised option sipnat does not act on.
fn not_implemented_message(info: &options::OptionInfo) -> String {
    let name = info.name;
    match info.status {
        Status::ServedByInit => format!(
            "option '{name}' is recognised, but sipnat does not chroot itself: on OpenWrt /etc/init.d/sipnat runs it in a procd ujail instead (a private root holding only its configuration, /etc/passwd, /etc/group, resolv.conf and its registration directory); elsewhere use your service manager's sandboxing; ignored here ('user' drops root)"
        ),
        Status::NotApplicable if name == "debug_port" => format!(
            "option '{name}' is recognised, but sipnat opens no debug port: `sipnat status` shows what it is doing, and it logs to the system log (logread -e sipnat); ignored"
        ),
        Status::NotApplicable if name.ends_with("_dejitter") => format!(
            "option '{name}' is recognised, but sipnat relays each RTP packet as it comes: a dejitter delay would be added to every packet, while the relay itself adds under 1.2 ms of jitter to 99.9 % of packets (README, Benchmark) and the phones' jitter buffers smooth the network's; ignored"
        ),
        Status::NotApplicable if name == "obscure_loops" => format!(
            "option '{name}' is recognised but not needed: sipnat keys a call by its Call-ID, its caller's side and tag, so a call looping back through it is two calls; ignored"
        ),
        Status::NotApplicable if name == "plugin_fix_fbox_anoncall_networks" => format!(
            "option '{name}' is recognised but not needed: sipnat's Contacts name the phone's address, not its user, so a Fritz!Box's anonymous Contact reaches it as it is; ignored"
        ),
        Status::NotApplicable if name == "plugin_demo_string" => format!(
            "option '{name}' is recognised, but plugin_demo is siproxd's example for plugin writers (it logs this text) and is not built into sipnat; ignored"
        ),
        Status::NotApplicable => format!(
            "option '{name}' is recognised but has no meaning in sipnat (one thread, features built in); ignored"
        ),
        _ if name.starts_with("plugin_") => format!(
            "option '{name}' is recognised but not implemented yet: its siproxd plugin is not built into sipnat yet; ignored"
        ),
        _ => format!("option '{name}' is recognised but not implemented yet; ignored"),
    }
}

/// The plugin a `load_plugin` value names (`plugin_stats.so`, `.la`, or
/// the bare name, with or without a directory), lower-case.
fn plugin_name(value: &str) -> String {
    let file = value.rsplit('/').next().unwrap_or(value);
    file.split('.').next().unwrap_or(file).to_ascii_lowercase()
}

/// Which reader is feeding a [`Builder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Syntax {
    /// siproxd.conf: only siproxd's option names.
    SiproxdConf,
    /// UCI: siproxd's names plus [`uci::UCI_ONLY_OPTIONS`].
    Uci,
}

/// The one mechanism both readers use to turn `name = value` pairs into a
/// [`Config`]: option lookup, typed application, the warnings about
/// unimplemented and repeated options, and the pairing of the outbound
/// domain lists at the end.
pub(super) struct Builder<'f> {
    file: &'f str,
    syntax: Syntax,
    cfg: Config,
    diags: Vec<Diagnostic>,
    parts: ListParts,
    /// first line each option was seen on (repeat detection, warn-once)
    /// (a few dozen options at most: a list, not a hash map, which would
    /// cost the MIPS binary its hasher and random seeding)
    seen: Vec<(&'static str, usize)>,
}

impl<'f> Builder<'f> {
    pub(super) fn new(file: &'f str, syntax: Syntax) -> Builder<'f> {
        Builder {
            file,
            syntax,
            cfg: Config::default(),
            diags: Vec::new(),
            parts: ListParts::default(),
            seen: Vec::new(),
        }
    }

    pub(super) fn error(&mut self, line: usize, message: String) {
        self.diags.push(Diagnostic::error(self.file, line, message));
    }

    pub(super) fn warning(&mut self, line: usize, message: String) {
        self.diags
            .push(Diagnostic::warning(self.file, line, message));
    }

    fn lookup(&self, key: &str) -> Option<&'static options::OptionInfo> {
        options::lookup(key).or_else(|| match self.syntax {
            Syntax::Uci => uci::lookup(key),
            Syntax::SiproxdConf => None,
        })
    }

    /// Apply one option `key` with `value`, found on `line`. Every problem
    /// becomes a diagnostic; nothing here can fail or panic.
    pub(super) fn apply_option(&mut self, key: &str, value: &str, line: usize) {
        let Some(info) = self.lookup(key) else {
            let near = match self.syntax {
                Syntax::Uci => uci::suggest(key).or_else(|| options::suggest(key)),
                Syntax::SiproxdConf => options::suggest(key),
            };
            let hint = near
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            self.error(line, format!("unknown option '{key}'{hint}"));
            return;
        };
        let first = self
            .seen
            .iter()
            .find(|(n, _)| *n == info.name)
            .map(|&(_, l)| l);
        if first.is_none() {
            self.seen.push((info.name, line));
        }
        let is_acl = info.name.starts_with("hosts_");
        match apply_typed(&mut self.cfg, &mut self.parts, info.name, value, line) {
            Applied::Ok(note) => {
                if let Some(n) = note {
                    self.warning(line, n);
                }
                if let (Some(f), false, false) = (first, info.list, is_acl) {
                    self.warning(
                        line,
                        format!(
                            "option '{key}' is set again (first on line {f}); the last value wins"
                        ),
                    );
                }
                // UCI files are run by the init script, which jails every
                // instance: chrootjail is served there.
                if info.status == Status::ServedByInit
                    && self.syntax == Syntax::SiproxdConf
                    && first.is_none()
                    && !value.is_empty()
                {
                    self.warning(line, not_implemented_message(info));
                }
            }
            Applied::Bad(m) => self.error(line, m),
            Applied::NotTyped if info.name == "load_plugin" => match plugin_name(value).as_str() {
                // The plugins built in: the line switches one on.
                "plugin_blacklist" => self.cfg.blacklist = true,
                "plugin_stats" => self.cfg.stats = true,
                "plugin_logcall" => self.cfg.logcall = true,
                "plugin_codecfilter" => self.cfg.codecfilter = true,
                "plugin_shortdial" => self.cfg.shortdial = true,
                "plugin_prefix" => self.cfg.prefix = true,
                "plugin_fix_bogus_via" => self.cfg.fix_bogus_via = true,
                "plugin_fix_dtag" => self.cfg.fix_dtag = true,
                "plugin_defaulttarget" => self.cfg.defaulttarget = true,
                "plugin_stripheader" => self.cfg.stripheader = true,
                "plugin_stun" => self.cfg.stun = true,
                "plugin_regex" => self.cfg.regex = true,
                "plugin_regex_body" => self.cfg.regex_body = true,
                "plugin_siptrunk" => self.cfg.siptrunk = true,
                // what it repairs cannot happen in sipnat (its option says why)
                "plugin_fix_fbox_anoncall" => {}
                "plugin_demo" => self.warning(
                    line,
                    format!("load_plugin = '{value}': plugin_demo is siproxd's example for plugin writers; sipnat has nothing to load; ignored"),
                ),
                _ => self.plugin_not_built_in(value, line),
            },
            Applied::NotTyped => {
                if first.is_none() {
                    self.warning(line, not_implemented_message(info));
                }
            }
        }
    }

    /// One warning per `load_plugin` line naming a plugin sipnat lacks.
    fn plugin_not_built_in(&mut self, value: &str, line: usize) {
        self.warning(
            line,
            format!(
                "load_plugin = '{value}': this siproxd plugin is not built into sipnat yet; ignored"
            ),
        );
    }

    /// Pair the outbound domains and hand back the result.
    pub(super) fn finish(mut self) -> (Config, Vec<Diagnostic>) {
        let mut parts = std::mem::take(&mut self.parts);
        let rule_parts = std::mem::take(&mut parts.rules);
        let mask = std::mem::take(&mut parts.mask);
        let masked = std::mem::take(&mut parts.masked);
        pair_outbound_domains(&mut self.cfg, parts, self.file, &mut self.diags);
        pair_mask_hosts(&mut self.cfg, mask, masked, self.file, &mut self.diags);
        let [(regex, _), (body, _), (_, trunks)] =
            rules::pair(rule_parts, self.file, &mut self.diags);
        self.cfg.regex_rules = regex;
        self.cfg.regex_body_rules = body;
        self.cfg.siptrunks = trunks;
        (self.cfg, self.diags)
    }
}

/// Pair `outbound_domain_name/_host/_port` by position, as siproxd does.
/// Ports may be left out altogether (all 5060); otherwise counts must match.
fn pair_outbound_domains(cfg: &mut Config, p: ListParts, file: &str, diags: &mut Vec<Diagnostic>) {
    let n = p.names.len();
    let mut ok = true;
    if p.hosts.len() != n {
        ok = false;
        let line = p
            .names
            .get(p.hosts.len())
            .or(p.hosts.get(n))
            .map_or(0, |x| x.1);
        diags.push(Diagnostic::error(
            file,
            line,
            format!(
                "{} outbound_domain_name but {} outbound_domain_host lines: they pair up by position, give one host per name",
                n,
                p.hosts.len()
            ),
        ));
    }
    if !p.ports.is_empty() && p.ports.len() != n {
        ok = false;
        let line = p
            .names
            .get(p.ports.len())
            .map(|x| x.1)
            .or(p.ports.get(n).map(|x| x.1))
            .unwrap_or(0);
        diags.push(Diagnostic::error(
            file,
            line,
            format!(
                "{} outbound_domain_name but {} outbound_domain_port lines: give one port per name, or none (all 5060)",
                n,
                p.ports.len()
            ),
        ));
    }
    if !ok {
        return;
    }
    for (i, ((name, name_line), (host, host_line))) in p.names.into_iter().zip(p.hosts).enumerate()
    {
        if name.is_empty() {
            diags.push(Diagnostic::error(
                file,
                name_line,
                "outbound_domain_name is empty".to_string(),
            ));
            continue;
        }
        if host.is_empty() {
            diags.push(Diagnostic::error(
                file,
                host_line,
                format!("outbound_domain_host for '{name}' is empty"),
            ));
            continue;
        }
        let port = p.ports.get(i).map_or(SIP_PORT, |x| x.0);
        cfg.outbound_domains
            .push(OutboundDomain { name, host, port });
    }
}

/// Pair `mask_host` with `masked_host` by position, as siproxd does (it
/// ignored both lists when their counts differed; here that is an error at
/// the first line left without a partner). Each must be an address or a
/// host name.
fn pair_mask_hosts(
    cfg: &mut Config,
    mask: Vec<(String, usize)>,
    masked: Vec<(String, usize)>,
    file: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let (n, m) = (mask.len(), masked.len());
    if n != m {
        let line = mask.get(m).or(masked.get(n)).map_or(0, |x| x.1);
        let msg = format!(
            "{n} mask_host but {m} masked_host lines: they pair up by position, give one masked_host per mask_host"
        );
        diags.push(Diagnostic::error(file, line, msg));
        return;
    }
    for (lan, wan) in mask.into_iter().zip(masked) {
        let bad = [&lan, &wan]
            .into_iter()
            .find(|(v, _)| !super::check::plausible_host(v))
            .map(|(v, line)| {
                (
                    format!("mask_host/masked_host '{v}': expected an address or a host name"),
                    *line,
                )
            });
        match bad {
            Some((msg, line)) => diags.push(Diagnostic::error(file, line, msg)),
            None => cfg.mask_hosts.push((lan.0, wan.0)),
        }
    }
}
