//! The catalogue of every siproxd configuration option sipnat recognises.
//!
//! siproxd (0.8.x) reads its options from one table in `siproxd.c` plus one
//! table per plugin; a plugin reads the same file for names that start with
//! `plugin_<name>_`. This module lists all of them, once, with what each one
//! means and what sipnat does with it. The parser ([`super::parse_siproxd_conf`])
//! uses it to tell a recognised-but-not-implemented option (a warning) from a
//! typo (an error), and [`options_markdown`] renders it as the README table, so
//! the documentation cannot drift from the code.
//!
//! This module does NOT parse values; the typed options are applied in
//! `config/builder.rs`.

/// What sipnat does with one siproxd option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Parsed into a typed [`super::Config`] field and used by the signalling core.
    Implemented,
    /// Parsed into a typed field and served outside the binary: on OpenWrt
    /// the init script runs every instance in a procd ujail, which is what
    /// `chrootjail` asked for. In a siproxd.conf file (not run by the init
    /// script) setting it warns, so nobody believes sipnat chroots itself.
    ServedByInit,
    /// Accepted, and a warning says it is not implemented yet.
    NotYet,
    /// Accepted with a warning that it has no meaning in sipnat's design
    /// (one thread, features built in instead of loadable plugins).
    NotApplicable,
}

impl Status {
    /// The wording of the README's status column.
    pub fn describe(self) -> &'static str {
        match self {
            Status::Implemented => "implemented",
            Status::ServedByInit => {
                "OpenWrt: served by the init script, which runs every instance in a procd ujail; warns in a siproxd.conf file (sipnat does not chroot itself)"
            }
            Status::NotYet => "recognised, warns: not implemented yet",
            Status::NotApplicable => "recognised, warns: not applicable to sipnat",
        }
    }
}

/// One siproxd option, as the reader needs it. What it means (for the
/// README) is kept apart, in [`options_markdown`]'s table only, so the
/// binary does not carry the documentation (6 KB of the MIPS package).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionInfo {
    /// The option name exactly as siproxd spells it (case-sensitive).
    pub name: &'static str,
    /// What sipnat does with it.
    pub status: Status,
    /// `true` when siproxd collects repeated lines into a list.
    pub list: bool,
}

const fn opt(name: &'static str, status: Status) -> OptionInfo {
    OptionInfo {
        name,
        status,
        list: false,
    }
}

const fn list(name: &'static str, status: Status) -> OptionInfo {
    OptionInfo {
        name,
        status,
        list: true,
    }
}

/// The option table, written once: each entry `opt(name, status, meaning)`
/// or `list(...)`. It makes [`SIPROXD_OPTIONS`] (what the reader looks up)
/// and `MEANINGS` (one line, our own words: what the option does in
/// siproxd; same order), which only [`options_markdown`] reads.
macro_rules! options_table {
    ($($kind:ident($name:literal, $status:ident, $meaning:literal $(,)?)),* $(,)?) => {
        /// Every option siproxd 0.8 understands (core table and all bundled
        /// plugins), plus the few older names (`log_calls`, `pi_shortdial_*`)
        /// that configs written for siproxd 0.5–0.7 still carry.
        pub const SIPROXD_OPTIONS: &[OptionInfo] = &[$($kind($name, $status)),*];
        const MEANINGS: &[&str] = &[$($meaning),*];
    };
}

use Status::{Implemented, NotApplicable, ServedByInit};

options_table! {
    // --- network interfaces and addresses
    opt(
        "if_inbound",
        Implemented,
        "Name of the LAN-side interface, where the phones are.",
    ),
    opt(
        "if_outbound",
        Implemented,
        "Name of the WAN-side interface, towards the providers.",
    ),
    opt(
        "host_outbound",
        Implemented,
        "Public address or host name to announce instead of the WAN interface address (router behind another NAT).",
    ),
    opt(
        "sip_listen_port",
        Implemented,
        "UDP/TCP port siproxd listens on for SIP (default 5060).",
    ),
    // --- access control
    opt(
        "hosts_allow_reg",
        Implemented,
        "Networks or host names allowed to REGISTER (and thereby to send SIP); empty means everyone. A name is resolved without blocking, refreshed on its TTL (60 s to 1 h) and keeps its last address if DNS fails; until it first resolves it admits nobody.",
    ),
    opt(
        "hosts_allow_sip",
        Implemented,
        "Networks or host names allowed to send SIP; empty means everyone. Names as for `hosts_allow_reg`.",
    ),
    opt(
        "hosts_deny_sip",
        Implemented,
        "Networks or host names whose SIP is always dropped; wins over both allow lists. A name that has not resolved yet denies nobody (the other entries still apply) and is asked again every 10 to 60 s.",
    ),
    // --- registrations
    opt(
        "registration_file",
        Implemented,
        "File where the registration table is saved so a restart keeps it.",
    ),
    opt(
        "autosave_registrations",
        Implemented,
        "Save the registration table every N seconds (0: only at exit/on change).",
    ),
    opt(
        "default_expires",
        Implemented,
        "Expiry in seconds used when a REGISTER carries no Expires (siproxd default 3600).",
    ),
    // --- outbound proxies
    opt(
        "outbound_proxy_host",
        Implemented,
        "Send all outgoing SIP through this proxy (chaining).",
    ),
    opt(
        "outbound_proxy_port",
        Implemented,
        "Port of the outbound proxy (default 5060).",
    ),
    list(
        "outbound_domain_name",
        Implemented,
        "Caller's domain (From host) that gets its own outbound proxy (n-th name pairs with n-th host/port).",
    ),
    list(
        "outbound_domain_host",
        Implemented,
        "Outbound proxy host for the n-th outbound_domain_name.",
    ),
    list(
        "outbound_domain_port",
        Implemented,
        "Outbound proxy port for the n-th outbound_domain_name.",
    ),
    // --- process
    opt(
        "daemonize",
        Implemented,
        "Detach into the background at start (1) or stay in the foreground (0).",
    ),
    opt(
        "pid_file",
        Implemented,
        "Write the process id to this file.",
    ),
    opt(
        "debug_level",
        Implemented,
        "Bit mask of debug message classes (DBCLASS_*); -1 enables all.",
    ),
    opt(
        "silence_log",
        Implemented,
        "How little goes to syslog: 0 everything … 3 errors only, 4 nothing.",
    ),
    opt(
        "user",
        Implemented,
        "Switch to this user (and its group) after binding the sockets.",
    ),
    opt(
        "chrootjail",
        ServedByInit,
        "chroot() into this directory after start.",
    ),
    // --- media (RTP relay)
    opt(
        "rtp_proxy_enable",
        Implemented,
        "0: leave RTP alone, 1: relay RTP through siproxd (2/3, firewall masquerading, were removed in siproxd).",
    ),
    opt(
        "rtp_port_low",
        Implemented,
        "Lowest UDP port of the RTP relay pool (should be even).",
    ),
    opt(
        "rtp_port_high",
        Implemented,
        "Highest UDP port of the RTP relay pool.",
    ),
    opt(
        "rtp_timeout",
        Implemented,
        "Seconds without packets after which a relayed RTP stream is torn down (also on hold).",
    ),
    opt(
        "rtp_dscp",
        Implemented,
        "DSCP value set on relayed RTP packets (46 = expedited forwarding; 0 = leave unset).",
    ),
    opt(
        "rtp_kernel_forward",
        Implemented,
        "sipnat's own (siproxd has none): 1 (the default) hands each RTP/RTCP stream to the kernel once both ends are latched — nftables rules in sipnat's own table `ip sipnat` forward it, so sipnat spends nothing per packet and OpenWrt's flow offloading can apply; 0 relays every packet in sipnat. Without nftables NAT support, or without CAP_NET_ADMIN, sipnat relays itself and says why.",
    ),
    opt(
        "sip_dscp",
        Implemented,
        "DSCP value set on SIP packets siproxd sends (0 = leave unset).",
    ),
    opt(
        "rtp_input_dejitter",
        NotApplicable,
        "Delay (µs) to smooth jitter of incoming RTP before relaying. sipnat relays each packet as it comes: a delay would be added to every packet, while the relay itself adds under 1.2 ms of jitter to 99.9 % of packets (Benchmark); the phones' own jitter buffers smooth the network's.",
    ),
    opt(
        "rtp_output_dejitter",
        NotApplicable,
        "Delay (µs) to smooth jitter of outgoing RTP before relaying. Not applicable, as rtp_input_dejitter.",
    ),
    // --- debugging
    opt(
        "debug_port",
        NotApplicable,
        "TCP port where a remote client can read the debug log (0: off). sipnat opens no such port: `sipnat status` (the control socket, ubus, LuCI) shows what it is doing, and its log goes to the system log (`logread -e sipnat`).",
    ),
    // --- authentication
    opt(
        "proxy_auth_realm",
        Implemented,
        "Realm for digest authentication that local clients must pass to register (sipnat: and to start calls and other requests going out).",
    ),
    opt(
        "proxy_auth_passwd",
        Implemented,
        "Single shared password for that authentication.",
    ),
    opt(
        "proxy_auth_pwfile",
        Implemented,
        "File with per-user passwords for that authentication (wins over proxy_auth_passwd).",
    ),
    // --- rewriting quirks
    list(
        "mask_host",
        Implemented,
        "Host part a phone registers with and cannot be told to change (typically sipnat's own LAN address); pairs with masked_host by position.",
    ),
    list(
        "masked_host",
        Implemented,
        "What that host is shown as toward the WAN, in From and To; a request for user@masked_host reaches the phone registered as user@mask_host.",
    ),
    opt(
        "ua_string",
        Implemented,
        "Replace the User-Agent header of outgoing messages with this text.",
    ),
    opt(
        "use_rport",
        Implemented,
        "Bit mask: add ;rport (RFC 3581) to the Via put on requests toward the LAN (1) and/or the WAN (2). sipnat always asks for it toward the WAN, whatever bit 2 says.",
    ),
    opt(
        "obscure_loops",
        NotApplicable,
        "Alter the Call-ID so a call looping through siproxd twice is not taken for one call. Not needed in sipnat: a call is keyed by its Call-ID, its caller's side and From tag, so the two passes are two calls.",
    ),
    // --- TCP transport
    opt(
        "tcp_timeout",
        Implemented,
        "Seconds an idle SIP TCP connection is kept open (default 300).",
    ),
    opt(
        "tcp_connect_timeout",
        Implemented,
        "Milliseconds to wait for an outgoing TCP connect (default 500; sipnat never blocks while it waits).",
    ),
    opt(
        "tcp_keepalive",
        Implemented,
        "Seconds between keep-alive CRLFs on SIP TCP connections (0: off, the default).",
    ),
    // --- TLS transport (sipnat's own)
    opt(
        "outbound_tls",
        Implemented,
        "sipnat's own (siproxd has no TLS), in the sipnat-tls package only: 1 sends every request for the outbound proxy (`outbound_proxy_host`, port `outbound_proxy_port`: set it to the provider's TLS port, usually 5061) and for the `outbound_domain_host`s over TLS, whatever transport the phone uses; the provider's certificate is checked, and a failure is a 503 to the phone, never a fallback to plain SIP. 0 (the default): TLS only where a URI asks for it (`sips:`, `;transport=tls`).",
    ),
    opt(
        "tls_ca_file",
        Implemented,
        "sipnat's own, sipnat-tls only: a PEM file of the CA certificates a provider's certificate must chain to (default /etc/ssl/certs/ca-certificates.crt, OpenWrt's ca-bundle package), for a provider with a private CA.",
    ),
    list(
        "tls_fingerprint",
        Implemented,
        "sipnat's own, sipnat-tls only: the SHA-256 fingerprint of a provider's certificate (64 hex digits, colons allowed, as `openssl x509 -noout -fingerprint -sha256` prints it); when any is set, only a certificate with one of these fingerprints is accepted (pinning; a self-signed certificate works), whatever CA signed it.",
    ),
    opt(
        "tls_listen_port",
        Implemented,
        "sipnat's own, sipnat-tls only: the port phones on the LAN reach sipnat on over SIP over TLS (usually 5061; 0, the default: none). TLS is taken from the LAN only; a phone that registered over TLS gets its calls over its own connection.",
    ),
    opt(
        "tls_cert_file",
        Implemented,
        "sipnat's own, sipnat-tls only: the PEM certificate chain sipnat shows the phones on `tls_listen_port` (default /etc/sipnat.crt; the init script makes a self-signed one with px5g when there is none).",
    ),
    opt(
        "tls_key_file",
        Implemented,
        "sipnat's own, sipnat-tls only: the PEM private key of `tls_cert_file` (default /etc/sipnat.key, made with it).",
    ),
    // --- plugins and threads
    opt(
        "plugindir",
        NotApplicable,
        "Directory the plugin shared objects are loaded from.",
    ),
    list(
        "load_plugin",
        Implemented,
        "Load this plugin. Every plugin siproxd ships is built into sipnat and switched on by this line: plugin_blacklist, plugin_codecfilter, plugin_defaulttarget, plugin_fix_bogus_via, plugin_fix_DTAG, plugin_fix_fbox_anoncall (not needed), plugin_logcall, plugin_prefix, plugin_regex, plugin_regex_body, plugin_shortdial, plugin_siptrunk, plugin_stats, plugin_stripheader, plugin_stun; plugin_demo (siproxd's example for plugin writers) and any other name warn and do nothing.",
    ),
    opt(
        "thread_stack_size",
        NotApplicable,
        "Stack size of siproxd's RTP thread (sipnat has one thread).",
    ),
    // --- legacy names (siproxd 0.5–0.7)
    opt(
        "log_calls",
        Implemented,
        "Old switch to log call setup to syslog (now plugin_logcall).",
    ),
    opt(
        "pi_shortdial_enable",
        Implemented,
        "Old switch for short dials (now plugin_shortdial).",
    ),
    opt(
        "pi_shortdial_akey",
        Implemented,
        "Old short dial access key (now plugin_shortdial_akey).",
    ),
    list(
        "pi_shortdial_entry",
        Implemented,
        "Old short dial target (now plugin_shortdial_entry).",
    ),
    // --- plugin_demo
    opt(
        "plugin_demo_string",
        NotApplicable,
        "Text the demo plugin logs (siproxd's example for plugin writers; not built into sipnat).",
    ),
    // --- plugin_shortdial
    opt(
        "plugin_shortdial_akey",
        Implemented,
        "Key plus digit count that marks a short dial (e.g. *00).",
    ),
    list(
        "plugin_shortdial_entry",
        Implemented,
        "Number dialled for short dial 1, 2, … (one line each).",
    ),
    // --- plugin_defaulttarget
    opt(
        "plugin_defaulttarget_log",
        Implemented,
        "Log calls redirected to the default target.",
    ),
    opt(
        "plugin_defaulttarget_target",
        Implemented,
        "SIP URI that receives calls to unknown local targets.",
    ),
    // --- plugin_fix_bogus_via
    opt(
        "plugin_fix_bogus_via_networks",
        Implemented,
        "Networks (comma-separated) whose requests are answered at their source address and port, whatever their top Via says (as if it had rport).",
    ),
    // --- plugin_fix_DTAG
    opt(
        "plugin_fix_DTAG_networks",
        Implemented,
        "Networks (comma-separated) of a provider that answers with the host of sipnat's Via replaced by one of theirs (Deutsche Telekom: 217.0.23.100/32). Such a response is taken when its branch is sipnat's sealed branch (the seal proves the Via is sipnat's); one that lost the branch too cannot be routed: dropped, counted, logged.",
    ),
    // --- plugin_fix_fbox_anoncall
    opt(
        "plugin_fix_fbox_anoncall_networks",
        NotApplicable,
        "Networks of Fritz!Box phones whose Contact on anonymous calls is fixed. Not needed in sipnat: its Contacts name the phone's address, not its user, so an anonymous Contact reaches the phone as it is.",
    ),
    // --- plugin_stun
    opt(
        "plugin_stun_server",
        Implemented,
        "STUN server used to learn the public address.",
    ),
    opt(
        "plugin_stun_port",
        Implemented,
        "Port of that STUN server (default 3478).",
    ),
    opt(
        "plugin_stun_period",
        Implemented,
        "Seconds between STUN queries (default 300; at least 10).",
    ),
    // --- plugin_prefix
    opt(
        "plugin_prefix_akey",
        Implemented,
        "Prefix added to every outgoing dialled number.",
    ),
    // --- plugin_regex
    list(
        "plugin_regex_desc",
        Implemented,
        "Name of the n-th rule, logged when it is applied (desc, pattern and replace lines pair up by position; the counts must match).",
    ),
    list(
        "plugin_regex_pattern",
        Implemented,
        "POSIX extended regular expression, case ignored, of the n-th rule. A LAN phone's new call (INVITE) goes to what the first matching rule makes of its Request-URI (after shortdial and prefix); siproxd matched the To URI, which for a new call is the same target, and answered 302.",
    ),
    list(
        "plugin_regex_replace",
        Implemented,
        "Replacement of the n-th rule, for every match (siproxd: only the first when the pattern has a group); `\\1` … `\\9` insert a group. A result that is not a SIP URI is logged and counted, and the call goes on unchanged.",
    ),
    // --- plugin_regex_body
    list(
        "plugin_regex_body_desc",
        Implemented,
        "Name of the n-th body rule (desc, pattern and replace lines pair up by position; the counts must match).",
    ),
    list(
        "plugin_regex_body_pattern",
        Implemented,
        "POSIX extended regular expression, case ignored, of the n-th body rule: applied to every message body sipnat passes on, each rule in turn, before the SDP is masqueraded; Content-Length follows.",
    ),
    list(
        "plugin_regex_body_replace",
        Implemented,
        "Replacement of every non-overlapping match of the n-th body rule, once (siproxd ran its replacement up to ten times over the body, again over what it had put in); `\\1` … `\\9` insert a group. A body that would outgrow a message (8 KB) goes on unchanged, logged and counted.",
    ),
    // --- plugin_stripheader
    list(
        "plugin_stripheader_remove",
        Implemented,
        "Header (or header:value) to remove from messages. Via, From, To, Call-ID, CSeq, Contact, Content-Length, Content-Type, Max-Forwards and Route cannot be removed (refused).",
    ),
    // --- plugin_codecfilter
    list(
        "plugin_codecfilter_blacklist",
        Implemented,
        "Codec name to remove from SDP offers and answers.",
    ),
    // --- plugin_siptrunk
    list(
        "plugin_siptrunk_name",
        Implemented,
        "Name of the n-th SIP trunk, for the log (name, account and numbers_regex lines pair up by position; the counts must match).",
    ),
    list(
        "plugin_siptrunk_account",
        Implemented,
        "Account (sip:user@host, as its phone registers it) whose phone receives the n-th trunk's calls; the Request-URI keeps the number dialled, on the phone's contact address.",
    ),
    list(
        "plugin_siptrunk_numbers_regex",
        Implemented,
        "POSIX extended regular expression, case ignored, of the n-th trunk's numbers: a WAN request for a user no phone registered, whose Request-URI user (else To user) matches, goes to the account's phone; none registered: answered as before.",
    ),
    // --- plugin_stats
    opt(
        "plugin_stats_to_syslog",
        Implemented,
        "Log call statistics every N seconds (-1: only on SIGUSR1, 0: off).",
    ),
    opt(
        "plugin_stats_to_file",
        Implemented,
        "Write call statistics to a file every N seconds (-1: on SIGUSR1, 0: off).",
    ),
    opt(
        "plugin_stats_filename",
        Implemented,
        "File the statistics are written to.",
    ),
    // --- plugin_blacklist
    opt(
        "plugin_blacklist_dbpath",
        NotApplicable,
        "SQLite database of blocked clients (sipnat keeps its fixed-size table in memory: a restart forgets it).",
    ),
    opt(
        "plugin_blacklist_db_sync_mode",
        NotApplicable,
        "SQLite synchronous mode of that database (FULL, NORMAL, OFF); no database in sipnat.",
    ),
    opt(
        "plugin_blacklist_simulate",
        Implemented,
        "Only log who would be blocked.",
    ),
    opt(
        "plugin_blacklist_duration",
        Implemented,
        "Seconds a client stays blocked (0: forever).",
    ),
    opt(
        "plugin_blacklist_hitcount",
        Implemented,
        "Failed authentications before a client is blocked.",
    ),
    opt(
        "plugin_blacklist_register_window",
        NotApplicable,
        "Seconds within which a REGISTER answer must arrive to count (sipnat matches each answer to its request by its sealed branch: no window needed).",
    ),
}

/// Look an option up by its exact (case-sensitive) name.
pub fn lookup(name: &str) -> Option<&'static OptionInfo> {
    SIPROXD_OPTIONS.iter().find(|o| o.name == name)
}

/// The known option closest to a misspelt `name` (edit distance ≤ 3, or one
/// that differs only in letter case), for "did you mean" hints.
pub fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let mut best: Option<(usize, &'static str)> = None;
    for o in SIPROXD_OPTIONS {
        let d = if o.name.eq_ignore_ascii_case(name) {
            0
        } else {
            edit_distance(&lower, &o.name.to_ascii_lowercase())
        };
        if d <= 3 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, o.name));
        }
    }
    best.map(|(_, n)| n)
}

/// Levenshtein distance over bytes (option names are ASCII); the UCI
/// reader's hints use it too.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The README table: every option, its siproxd meaning and sipnat's status.
pub fn options_markdown() -> String {
    let mut s = String::from("| option | siproxd meaning | sipnat status |\n|---|---|---|\n");
    for (o, meaning) in SIPROXD_OPTIONS.iter().zip(MEANINGS) {
        let name = if o.list {
            format!("`{}` (list)", o.name)
        } else {
            format!("`{}`", o.name)
        };
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            name,
            meaning.replace('|', "\\|"),
            o.status.describe()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lookup_finds_them() {
        for (i, o) in SIPROXD_OPTIONS.iter().enumerate() {
            assert!(
                SIPROXD_OPTIONS[i + 1..].iter().all(|p| p.name != o.name),
                "duplicate option {}",
                o.name
            );
            assert_eq!(lookup(o.name).map(|x| x.name), Some(o.name));
        }
        assert!(lookup("IF_INBOUND").is_none(), "lookup is case-sensitive");
        assert!(lookup("no_such_option").is_none());
    }

    #[test]
    fn suggestions_for_typos() {
        assert_eq!(suggest("if_inbund"), Some("if_inbound"));
        assert_eq!(suggest("SIP_LISTEN_PORT"), Some("sip_listen_port"));
        assert_eq!(suggest("rtp_port_hihg"), Some("rtp_port_high"));
        assert_eq!(suggest("completely_different_thing"), None);
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "abd"), 1);
        assert_eq!(edit_distance("abc", "ab"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn markdown_lists_every_option_once() {
        let md = options_markdown();
        for o in SIPROXD_OPTIONS {
            let needle = format!("| `{}`", o.name);
            assert_eq!(md.matches(&needle).count(), 1, "{}", o.name);
        }
        assert_eq!(md.lines().count(), SIPROXD_OPTIONS.len() + 2);
    }
}
