//! [`Config::check`]: the cross-field checks, once all layers are applied.

use super::{Config, Diagnostic, MAX_IFNAME};

impl Config {
    /// Cross-field checks after all layers are applied. Returns every
    /// problem found (line 0); an empty list or only warnings means usable.
    pub fn check(&self, file: &str) -> Vec<Diagnostic> {
        let mut d = Vec::new();
        let mut err = |m: String| d.push(Diagnostic::error(file, 0, m));

        // Interfaces: both required, valid names; the same name only with
        // host_outbound (siproxd's "in front of the router" setup).
        // (the key's words as literals: no string searching code for them)
        for (key, dir, side, v, logical) in [
            (
                "if_inbound",
                "inbound",
                "LAN",
                &self.if_inbound,
                &self.interface_inbound,
            ),
            (
                "if_outbound",
                "outbound",
                "WAN",
                &self.if_outbound,
                &self.interface_outbound,
            ),
        ] {
            match v {
                None => match logical {
                    // UCI: the logical name is the init script's to resolve
                    Some(net) => err(format!(
                        "{key} is not set: interface_{dir} '{net}' is an OpenWrt network name, which /etc/init.d/sipnat resolves to a device and passes as --if-{dir}; set {key}, or give --if-{dir} DEVICE"
                    )),
                    None => err(format!("{key} is not set: name the {side} interface")),
                },
                Some(name) => {
                    if let Some(why) = bad_ifname(name) {
                        err(format!("{key} = '{name}': {why}"));
                    }
                }
            }
        }
        if let (Some(i), Some(o)) = (&self.if_inbound, &self.if_outbound) {
            if i == o && self.host_outbound.is_none() {
                err(format!(
                    "if_inbound and if_outbound are both '{i}': with one interface, set host_outbound to the public address"
                ));
            }
        }
        if let Some(h) = &self.host_outbound {
            if !cfg!(feature = "ipv6") && h.parse::<std::net::Ipv6Addr>().is_ok() {
                err(format!(
                    "host_outbound = '{h}': this build of sipnat has no IPv6"
                ));
            } else if !plausible_host(h) {
                err(format!(
                    "host_outbound = '{h}' is not an address or host name"
                ));
            }
        }

        if self.sip_listen_port == 0 {
            err("sip_listen_port must not be 0".to_string());
        }
        // Authentication: a realm needs passwords and passwords a realm;
        // half of it would run open while the user believes it checks.
        let has_pw = self.proxy_auth_passwd.is_some() || self.proxy_auth_pwfile.is_some();
        match (&self.proxy_auth_realm, has_pw) {
            (Some(r), false) => err(format!(
                "proxy_auth_realm = '{r}' but no passwords: set proxy_auth_pwfile (or proxy_auth_passwd)"
            )),
            (_, true)
                if self
                    .proxy_auth_passwd
                    .as_ref()
                    .is_some_and(|p| p.0.len() > crate::limits::MAX_AUTH_WORD) =>
            {
                err(format!(
                    "proxy_auth_passwd is longer than {} characters",
                    crate::limits::MAX_AUTH_WORD
                ))
            }
            (None, true) => err(
                "proxy_auth_passwd / proxy_auth_pwfile set without proxy_auth_realm: nothing would be checked; set the realm"
                    .to_string(),
            ),
            _ => {}
        }
        if let Some(h) = &self.outbound_proxy_host {
            if !plausible_host(h) {
                err(format!(
                    "outbound_proxy_host = '{h}' is not an address or host name"
                ));
            }
            if self.outbound_proxy_port == 0 {
                err("outbound_proxy_port must not be 0".to_string());
            }
        }
        // Never plain text where TLS was asked for: without TLS in the
        // build, `outbound_tls` stops the start (the CA file and the pins
        // only say how TLS would check, so they can stay in a config).
        if self.outbound_tls && !cfg!(feature = "tls") {
            err("outbound_tls = 1: this build of sipnat has no SIP over TLS (install the sipnat-tls package)".to_string());
        }
        if self.tls_listen_port != 0 && !cfg!(feature = "tls") {
            err("tls_listen_port: this build of sipnat has no SIP over TLS (install the sipnat-tls package)".to_string());
        }
        if self.tls_listen_port != 0 && self.tls_listen_port == self.sip_listen_port {
            err(format!(
                "tls_listen_port {} is sip_listen_port too: TLS needs a port of its own (usually 5061)",
                self.tls_listen_port
            ));
        }
        if self.outbound_tls
            && self.outbound_proxy_host.is_none()
            && self.outbound_domains.is_empty()
        {
            err("outbound_tls = 1 needs outbound_proxy_host or outbound_domain_host: there is nothing to reach over TLS".to_string());
        }
        for od in &self.outbound_domains {
            if od.name.is_empty() || od.host.is_empty() {
                err(format!(
                    "outbound domain '{}' → '{}': name and host must both be set",
                    od.name, od.host
                ));
            } else if !plausible_host(&od.host) {
                err(format!(
                    "outbound_domain_host '{}' is not an address or host name",
                    od.host
                ));
            }
            if od.port == 0 {
                err(format!(
                    "outbound_domain_port for '{}' must not be 0",
                    od.name
                ));
            }
        }
        if self.default_expires == 0 {
            err("default_expires must be at least 1 second".to_string());
        }
        if self.silence_log > 4 {
            err(format!(
                "silence_log = {} is out of range 0..4",
                self.silence_log
            ));
        }

        // Media: checked whenever the relay is enabled.
        if self.rtp_proxy_enable {
            let (lo, hi) = (self.rtp_port_low, self.rtp_port_high);
            if lo == 0 || hi == 0 {
                err("rtp_port_low and rtp_port_high must be set (non-zero) when rtp_proxy_enable = 1".to_string());
            } else if lo % 2 != 0 {
                err(format!(
                    "rtp_port_low = {lo} must be even (RTP on even ports, RTCP on the next odd one)"
                ));
            } else if lo > hi {
                err(format!("rtp_port_low = {lo} is above rtp_port_high = {hi}"));
            } else if lo == hi {
                err(format!(
                    "the RTP port range {lo}-{hi} holds no RTP/RTCP port pair; make rtp_port_high at least {}",
                    u32::from(lo) + 1
                ));
            } else if (lo..=hi).contains(&self.sip_listen_port) {
                err(format!(
                    "the RTP port range {lo}-{hi} contains sip_listen_port {}",
                    self.sip_listen_port
                ));
            }
            if self.rtp_timeout == 0 {
                err("rtp_timeout must be at least 1 second".to_string());
            }
        }
        if self.tcp_timeout == 0 {
            err("tcp_timeout must be at least 1 second".to_string());
        }
        if self.tcp_connect_timeout == 0 {
            err("tcp_connect_timeout must be at least 1 millisecond".to_string());
        }
        for (key, v) in [("rtp_dscp", self.rtp_dscp), ("sip_dscp", self.sip_dscp)] {
            if v > 63 {
                err(format!("{key} = {v} is out of range: a DSCP is 0..63"));
            }
        }
        if !self.wan_sip_allow.is_empty() && !self.wan_sip_open {
            d.push(Diagnostic::warning(
                file,
                0,
                "wan_sip_allow has no effect while wan_sip_open is 0: the SIP port is not opened to the WAN at all".to_string(),
            ));
        }
        d
    }
}

/// Why `name` cannot be a Linux interface name, if it cannot.
fn bad_ifname(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty interface name")
    } else if name.len() > MAX_IFNAME {
        Some("interface names are at most 15 characters")
    } else if name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b.is_ascii_control())
    {
        Some("not a valid interface name")
    } else {
        None
    }
}

/// An IPv4/IPv6 literal or a syntactically plausible DNS name
/// (RFC 1035 §2.3.1 letters, digits, hyphens and dots; RFC 1035 §2.3.4 ≤ 255).
pub(super) fn plausible_host(h: &str) -> bool {
    if h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    // a single trailing dot (fully qualified name) is fine
    let name = h.strip_suffix('.').unwrap_or(h);
    !name.is_empty()
        && h.len() <= 255
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
